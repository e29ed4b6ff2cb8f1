/* SPDX-License-Identifier: MIT */
/*
 * ui - the widget layer over ncurses, its core: start and end, keys,
 * the frame, drawing text, dialogs.  See ui.h; the form, the menu and
 * list, and the pager are ui_form.c, ui_list.c and ui_pager.c.
 *
 * Everything is drawn on stdscr but the dialogs, which are windows over
 * it: closing one leaves the screen below to be redrawn by its owner at
 * the next turn of its loop.  Text is drawn through ui_put only, which
 * makes it printable, so a log line or a sender address can never send
 * control sequences to the terminal.
 */
#include "facteur-config.h"

#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#include "lib/mem.h"
#include "ui.h"
#include "ui_int.h"

static volatile sig_atomic_t ui_active;
static int colors;
chtype ui_attrs[UI_NATTR];
static char status_msg[512];
static char status_rightmsg[128];
static char hostname[64];
/*
 * Boxes in ASCII: a terminal without line drawing, or a VT100-like one
 * (a serial line), whose emulators often ignore the switch to the line
 * drawing set in UTF-8 and show "lqqk".
 */
static int ascii_lines;

/* ---- start and end ---- */

void
ui_end(void)
{
	if (ui_active) {
		ui_active = 0;
		curs_set(1);
		endwin();
	}
}

/*
 * A signal that ends the process: give the terminal back, then die of the
 * same signal (SA_RESETHAND restored its default).  endwin is not
 * async-signal-safe; a garbled exit is still better than a terminal left
 * without echo, and the console does nothing else at that moment.
 */
static void
on_fatal_signal(int sig)
{
	if (ui_active) {
		ui_active = 0;
		endwin();
	}
	raise(sig);
}

void
ui_init(void)
{
	static const int fatal_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS,
		SIGABRT, SIGFPE, SIGILL };
	struct sigaction sa;

	setlocale(LC_ALL, "");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	/* Before initscr: ncurses then leaves these signals to us. */
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		sigaction(fatal_signals[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(ui_end);
	if (gethostname(hostname, sizeof(hostname) - 1) < 0)
		hostname[0] = '\0';

	/*
	 * A serial console may say TERM=vt220, or a name this system has no
	 * description of: then vt100, which every terminal of a serial line
	 * understands, rather than no console at all.  Without a size from
	 * the line (0x0), ncurses takes the description's (80x24).
	 */
	if (newterm(NULL, stdout, stdin) == NULL) {
		setenv("TERM", "vt100", 1);
		if (newterm(NULL, stdout, stdin) == NULL) {
			fprintf(stderr, "facteur-console: cannot use the terminal (TERM=%s)\n",
			    getenv("TERM") != NULL ? getenv("TERM") : "");
			exit(1);
		}
	}
	ui_active = 1;
	{
		const char *term = getenv("TERM");
		ascii_lines = term == NULL || strncmp(term, "vt", 2) == 0 ||
		    (ACS_HLINE & A_ALTCHARSET) == 0;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(50);
	curs_set(0);
	for (int i = 0; i < UI_NATTR; i++)
		ui_attrs[i] = A_NORMAL;
	ui_attrs[UI_TITLE] = A_REVERSE;
	ui_attrs[UI_SELECTED] = A_REVERSE;
	ui_attrs[UI_BAD] = A_BOLD;
	ui_attrs[UI_WARN] = A_BOLD;
	ui_attrs[UI_MATCH] = A_STANDOUT | A_UNDERLINE;
	ui_attrs[UI_HEADING] = A_BOLD;
	if (has_colors() && start_color() == OK) {
		colors = 1;
		use_default_colors();
		init_pair(1, COLOR_WHITE, COLOR_BLUE);
		init_pair(2, COLOR_BLACK, COLOR_CYAN);
		init_pair(3, COLOR_GREEN, -1);
		init_pair(4, COLOR_RED, -1);
		init_pair(5, COLOR_YELLOW, -1);
		init_pair(6, COLOR_BLACK, COLOR_YELLOW);
		ui_attrs[UI_TITLE] = COLOR_PAIR(1) | A_BOLD;
		ui_attrs[UI_SELECTED] = COLOR_PAIR(2);
		ui_attrs[UI_GOOD] = COLOR_PAIR(3) | A_BOLD;
		ui_attrs[UI_BAD] = COLOR_PAIR(4) | A_BOLD;
		ui_attrs[UI_WARN] = COLOR_PAIR(5) | A_BOLD;
		ui_attrs[UI_MATCH] = COLOR_PAIR(6);
	}
}

int
ui_has_colors(void)
{
	return colors;
}

/* ---- the idle lock ---- */

static int idle_seconds;
static void (*idle_fn)(void *);
static void *idle_ctx;
static int idle_running;
static struct timespec idle_last;

void
ui_idle_lock(int seconds, void (*fn)(void *ctx), void *ctx)
{
	idle_seconds = seconds;
	idle_fn = fn;
	idle_ctx = ctx;
	clock_gettime(CLOCK_MONOTONIC, &idle_last);
}

/* Milliseconds left before the lock, -1 if there is none. */
static long
idle_left(void)
{
	struct timespec now;
	long elapsed, left;

	if (idle_seconds <= 0 || idle_fn == NULL || idle_running)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (now.tv_sec - idle_last.tv_sec) * 1000 + (now.tv_nsec - idle_last.tv_nsec) / 1000000;
	left = (long)idle_seconds * 1000 - elapsed;
	return left > 0 ? left : 0;
}

static void
idle_run(void)
{
	idle_running = 1;
	idle_fn(idle_ctx);
	idle_running = 0;
	clock_gettime(CLOCK_MONOTONIC, &idle_last);
	/* What was under the lock screen is drawn again by its owner. */
	clearok(curscr, TRUE);
	erase();
}

int
ui_wgetch(WINDOW *w, int timeout_ms)
{
	for (;;) {
		long left = idle_left();
		int wait = timeout_ms, ch;

		if (left == 0) {
			idle_run();
			return KEY_RESIZE;
		}
		if (left > 0 && (wait < 0 || left < wait))
			wait = left > 0x7fffffffL ? 0x7fffffff : (int)left;
		wtimeout(w, wait);
		ch = wgetch(w);
		if (ch != ERR) {
			if (ch != KEY_RESIZE)
				clock_gettime(CLOCK_MONOTONIC, &idle_last);
			if (ch == ('L' & 0x1f)) {
				/* ^L: the whole screen drawn again (a serial line's new terminal). */
				clearok(curscr, TRUE);
				return KEY_RESIZE;
			}
			return ch;
		}
		if (idle_left() == 0) {
			idle_run();
			return KEY_RESIZE;
		}
		if (timeout_ms >= 0)
			return ERR;
	}
}

void
ui_flush_input(void)
{
	flushinp();
}

/* ---- keys ---- */

int
ui_getkey(int timeout_ms, int raw)
{
	int ch;

	ch = ui_wgetch(stdscr, timeout_ms);
	if (ch == ERR)
		return UI_KEY_TIMEOUT;
	if (ch == KEY_RESIZE)
		return UI_KEY_RESIZE;
	status_msg[0] = '\0';
	if (ch == 27)
		return UI_KEY_BACK;
	if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
		return UI_KEY_ENTER;
	if (ch == KEY_F(1))
		return UI_KEY_HELP;
	if (!raw && ch == '?')
		return UI_KEY_HELP;
	if (!raw && (ch == 'q' || ch == 'Q'))
		return UI_KEY_BACK;
	return ch;
}

/* ---- geometry, frame ---- */

int
ui_cols(void)
{
	return COLS;
}

int
ui_body_top(void)
{
	return 1;
}

int
ui_body_lines(void)
{
	return LINES > 4 ? LINES - 3 : 1;
}

int
ui_small(void)
{
	return COLS < 80 || LINES < 24;
}

void
ui_status(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(status_msg, sizeof(status_msg), fmt, ap);
	va_end(ap);
	/* Newlines in a command's message would break the line. */
	for (char *p = status_msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

void
ui_status_right(const char *s)
{
	str_copy(status_rightmsg, s, sizeof(status_rightmsg));
}

static void
draw_status(void)
{
	int right = ui_width(status_rightmsg);

	ui_fill(LINES - 2, 0, COLS, UI_NORMAL);
	if (right > 0 && right < COLS)
		ui_put(LINES - 2, COLS - right - 1, right, UI_NORMAL, status_rightmsg);
	if (status_msg[0] != '\0')
		ui_put(LINES - 2, 1, COLS - right - 3, UI_WARN, status_msg);
	else if (ui_small())
		ui_putf(LINES - 2, 1, COLS - right - 3, UI_WARN, "terminal %dx%d: 80x24 at least",
		    COLS, LINES);
}

void
ui_frame(const char *title, const char *keys)
{
	char clock[32];
	time_t now = time(NULL);
	struct tm tm;
	int right;

	erase();
	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M", &tm);
	ui_fill(0, 0, COLS, UI_TITLE);
	ui_putf(0, 1, COLS - 2, UI_TITLE, "facteur console | %s", title);
	right = (int)strlen(hostname) + (int)strlen(clock) + 3;
	if (COLS - right > ui_width(title) + 22)
		ui_putf(0, COLS - right, right, UI_TITLE, "%s  %s", hostname, clock);
	draw_status();
	ui_fill(LINES - 1, 0, COLS, UI_TITLE);
	ui_put(LINES - 1, 1, COLS - 2, UI_TITLE, keys);
	status_rightmsg[0] = '\0';
}

void
ui_refresh(void)
{
	draw_status();
	refresh();
}

/* ---- drawing text ---- */

int
ui_wput(WINDOW *w, int y, int x, int width, enum ui_attr attr, const char *s)
{
	mbstate_t st;
	size_t len = strlen(s);
	int used = 0, maxy, maxx;

	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx)
		return 0;
	if (width > maxx - x)
		width = maxx - x;
	if (width <= 0)
		return 0;
	memset(&st, 0, sizeof(st));
	wattrset(w, ui_attrs[attr]);
	wmove(w, y, x);
	while (len > 0) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, len, &st);
		int cw, printable = 1;

		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			n = 1;
			cw = 1;
			printable = 0;
		} else if (n == 0) {
			break;
		} else if (wc == L'\t') {
			cw = 1;
			printable = 0;
			if (used + 1 > width)
				break;
			waddch(w, ' ');
			used++;
			s += n;
			len -= n;
			continue;
		} else if (!iswprint((wint_t)wc) || (cw = wcwidth(wc)) < 0) {
			cw = 1;
			printable = 0;
		}
		if (used + cw > width)
			break;
		if (printable)
			waddnstr(w, s, (int)n);
		else
			waddch(w, '?');
		used += cw;
		s += n;
		len -= n;
	}
	wattrset(w, A_NORMAL);
	return used;
}

int
ui_put(int y, int x, int width, enum ui_attr attr, const char *s)
{
	return ui_wput(stdscr, y, x, width, attr, s);
}

int
ui_putf(int y, int x, int width, enum ui_attr attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ui_put(y, x, width, attr, buf);
}

void
ui_wfill(WINDOW *w, int y, int x, int width, enum ui_attr attr)
{
	int maxy, maxx;

	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx)
		return;
	if (width > maxx - x)
		width = maxx - x;
	if (width > 0)
		mvwhline(w, y, x, ' ' | ui_attrs[attr], width);
}

void
ui_fill(int y, int x, int width, enum ui_attr attr)
{
	ui_wfill(stdscr, y, x, width, attr);
}

int
ui_width(const char *s)
{
	mbstate_t st;
	size_t len = strlen(s);
	int w = 0;

	memset(&st, 0, sizeof(st));
	while (len > 0) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, len, &st);
		int cw;

		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			n = 1;
			cw = 1;
		} else if (n == 0) {
			break;
		} else if ((cw = wcwidth(wc)) < 0) {
			cw = 1;
		}
		w += cw;
		s += n;
		len -= n;
	}
	return w;
}

/* Break s into lines of at most width bytes, at blanks where possible ('\n' breaks). */
void
ui_wrap(const char *s, int width, struct text *out)
{
	if (width < 8)
		width = 8;
	while (*s != '\0') {
		size_t para = strcspn(s, "\n");
		const char *p = s, *end = s + para;

		if (para == 0)
			text_add(out, "");
		while (p < end) {
			size_t take = (size_t)(end - p);
			char *line;
			if (take > (size_t)width) {
				take = (size_t)width;
				while (take > 0 && p[take] != ' ')
					take--;
				if (take == 0)
					take = (size_t)width;
			}
			line = xstrndup(p, take);
			text_add(out, line);
			free(line);
			p += take;
			while (p < end && *p == ' ')
				p++;
		}
		s = *end == '\n' ? end + 1 : end;
	}
}

/* ---- boxes ---- */

/* A window of h x w (as much as fits) in the middle of the body, boxed, with title. */
WINDOW *
ui_box_open(int h, int w, const char *title)
{
	WINDOW *win;
	int y, x;

	if (w > COLS)
		w = COLS;
	if (h > LINES)
		h = LINES;
	y = (LINES - h) / 2;
	x = (COLS - w) / 2;
	win = newwin(h, w, y, x);
	if (win == NULL)
		return NULL;
	keypad(win, TRUE);
	werase(win);
	if (ascii_lines)
		wborder(win, '|', '|', '-', '-', '+', '+', '+', '+');
	else
		box(win, 0, 0);
	if (title != NULL && title[0] != '\0') {
		char t[256];
		snprintf(t, sizeof(t), " %s ", title);
		ui_wput(win, 0, 2, w - 4, UI_HEADING, t);
	}
	return win;
}

void
ui_box_close(WINDOW **win)
{
	if (*win != NULL)
		delwin(*win);
	*win = NULL;
	touchwin(stdscr);
}

/* On a resize behind a dialog: clear what was behind it (its owner redraws later). */
void
ui_box_resized(void)
{
	erase();
	wnoutrefresh(stdscr);
}

/* Box width for a dialog: wide enough for a few words, within the screen. */
int
ui_box_width(void)
{
	int w = COLS - 4;

	return w > 72 ? 72 : w < 20 ? COLS : w;
}

void
ui_show_lines(WINDOW *win, const struct text *t, int y, int x, int width, int maxlines)
{
	for (size_t i = 0; i < t->n && (int)i < maxlines; i++)
		ui_wput(win, y + (int)i, x, width, UI_NORMAL, t->lines[i]);
}

static void
vmessage(const char *title, const char *footer, const char *fmt, va_list ap, int wait)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	for (;;) {
		struct text t;
		int w = ui_box_width(), h, key;
		WINDOW *win;

		text_init(&t, 0);
		ui_wrap(msg, w - 4, &t);
		h = (int)t.n + (footer != NULL ? 4 : 2);
		if (h > LINES - 2)
			h = LINES - 2;
		win = ui_box_open(h, w, title);
		if (win == NULL) {
			text_free(&t);
			break;
		}
		ui_show_lines(win, &t, 1, 2, w - 4, h - (footer != NULL ? 4 : 2));
		if (footer != NULL)
			ui_wput(win, h - 2, 2, w - 4, UI_HEADING, footer);
		wnoutrefresh(stdscr);
		wnoutrefresh(win);
		doupdate();
		text_free(&t);
		if (!wait) {
			ui_box_close(&win);
			break;
		}
		key = ui_getkey(-1, 0);
		ui_box_close(&win);
		if (key == UI_KEY_RESIZE) {
			ui_box_resized();
			continue;
		}
		break;
	}
	free(msg);
}

void
ui_message(const char *title, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(title, "Press any key", fmt, ap, 1);
	va_end(ap);
}

void
ui_busy(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("Please wait", NULL, fmt, ap, 0);
	va_end(ap);
}

void
ui_help(const char *title, const char *help)
{
	for (;;) {
		struct text t;
		int w = COLS - 2 > 78 ? 78 : COLS - 2, h, key;
		WINDOW *win;

		text_init(&t, 0);
		ui_wrap(help, w - 4, &t);
		h = (int)t.n + 4;
		if (h > LINES)
			h = LINES;
		win = ui_box_open(h, w, title);
		if (win == NULL) {
			text_free(&t);
			return;
		}
		ui_show_lines(win, &t, 1, 2, w - 4, h - 4);
		ui_wput(win, h - 2, 2, w - 4, UI_HEADING, "Press any key");
		wnoutrefresh(stdscr);
		wnoutrefresh(win);
		doupdate();
		text_free(&t);
		key = ui_getkey(-1, 0);
		ui_box_close(&win);
		if (key != UI_KEY_RESIZE)
			return;
		ui_box_resized();
	}
}

int
ui_confirm(const char *title, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int yes = 0, answer = -1;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg == NULL)
		return 0;
	while (answer < 0) {
		struct text t;
		int w = ui_box_width(), h, key;
		WINDOW *win;

		text_init(&t, 0);
		ui_wrap(msg, w - 4, &t);
		h = (int)t.n + 5;
		if (h > LINES - 2)
			h = LINES - 2;
		win = ui_box_open(h, w, title);
		if (win == NULL) {
			text_free(&t);
			break;
		}
		ui_show_lines(win, &t, 1, 2, w - 4, h - 5);
		ui_wput(win, h - 3, 2, w - 4, UI_NORMAL, "Are you sure?");
		ui_wput(win, h - 2, 2, 9, yes ? UI_SELECTED : UI_NORMAL, "[ Yes ]");
		ui_wput(win, h - 2, 12, 8, yes ? UI_NORMAL : UI_SELECTED, "[ No ]");
		ui_wput(win, h - 2, 22, w - 24, UI_NORMAL, "y/n, arrows, Enter");
		wnoutrefresh(stdscr);
		wnoutrefresh(win);
		doupdate();
		text_free(&t);
		key = ui_getkey(-1, 1);
		ui_box_close(&win);
		switch (key) {
		case 'y': case 'Y':
			answer = 1;
			break;
		case 'n': case 'N': case UI_KEY_BACK:
			answer = 0;
			break;
		case KEY_LEFT: case KEY_RIGHT: case '\t': case KEY_BTAB:
			yes = !yes;
			break;
		case UI_KEY_ENTER:
			answer = yes;
			break;
		case UI_KEY_RESIZE:
			ui_box_resized();
			break;
		default:
			break;
		}
	}
	free(msg);
	return answer == 1;
}

