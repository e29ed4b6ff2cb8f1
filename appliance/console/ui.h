/* SPDX-License-Identifier: MIT */
/*
 * ui - the console's small widget layer over ncurses.
 *
 * A screen is a title line, a body, a status line and a help line at the
 * bottom that names the keys.  Screens redraw everything at each turn of
 * their loop (ncurses sends only what changed), so a resize (SIGWINCH,
 * seen as UI_KEY_RESIZE) needs nothing but the next turn.  The widgets
 * block until the user is done: a menu, a selectable list the caller
 * fills, a form of labelled fields (hidden ones for passwords, choices),
 * dialogs (confirm, message, busy) and a pager (scroll, search, follow).
 *
 * Whatever happens the terminal is given back: ui_init registers
 * ui_end with atexit and for the signals that end a process (TERM, INT,
 * HUP, QUIT, SEGV, BUS, ABRT, FPE, ILL), whose handlers end curses and
 * then die of the same signal.  Colours are used when the terminal has
 * them; without, reverse video and bold say the same.
 */
#ifndef FACTEUR_CONSOLE_UI_H
#define FACTEUR_CONSOLE_UI_H

#include <stddef.h>

#include "text.h"

/* ui_getkey's answers beyond ncurses' keys. */
#define UI_KEY_TIMEOUT	(-1)
#define UI_KEY_RESIZE	0x7fff0001
#define UI_KEY_BACK	0x7fff0002	/* Esc or q */
#define UI_KEY_HELP	0x7fff0003	/* F1 or ? */
#define UI_KEY_ENTER	0x7fff0004	/* Enter, Return, KEY_ENTER */
#define UI_CTRL(c)	((c) & 0x1f)

enum ui_attr {
	UI_NORMAL,
	UI_TITLE,	/* title and help lines */
	UI_SELECTED,	/* the current row of a list or menu */
	UI_GOOD,	/* running, ready */
	UI_BAD,		/* stopped, failed */
	UI_WARN,
	UI_MATCH,	/* a search hit */
	UI_HEADING,	/* a section or column heading */
	UI_NATTR
};

void ui_init(void);
/* End curses (again is harmless): the terminal as it was. */
void ui_end(void);
/* Has the terminal colours? */
int ui_has_colors(void);

/*
 * The next key within timeout_ms (negative: wait): an ncurses key or
 * character, UI_KEY_* or UI_KEY_TIMEOUT.  raw: q and ? stay letters
 * (text entry).
 */
int ui_getkey(int timeout_ms, int raw);

/*
 * After seconds without a key (0: never), fn(ctx) runs (the console's
 * login) wherever the console waits for a key; the screen below is drawn
 * again after it.  fn itself is never interrupted by the lock.
 */
void ui_idle_lock(int seconds, void (*fn)(void *ctx), void *ctx);

/* Forget the keys typed and not read yet (during a pause). */
void ui_flush_input(void);

/* Geometry of the current terminal: the body is rows ui_body_top() .. +ui_body_lines() - 1. */
int ui_cols(void);
int ui_body_top(void);
int ui_body_lines(void);
/* Is the terminal smaller than 80x24?  Screens still draw, clipped. */
int ui_small(void);

/* Erase and draw the title line and the help line (the keys of the screen). */
void ui_frame(const char *title, const char *keys);
/* A message on the status line until the next ui_frame after a key; printf-like. */
void ui_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Text at the status line's right end (a pager's position). */
void ui_status_right(const char *s);

/*
 * Draw s at (y, x) in at most width columns with attr, made printable
 * (control bytes and invalid sequences as '?'); returns the columns used.
 */
int ui_put(int y, int x, int width, enum ui_attr attr, const char *s);
int ui_putf(int y, int x, int width, enum ui_attr attr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Paint width columns at (y, x) blank with attr. */
void ui_fill(int y, int x, int width, enum ui_attr attr);
/* Columns s takes on the screen. */
int ui_width(const char *s);
/* Send the drawing to the terminal. */
void ui_refresh(void);

/* Show help text (lines separated by '\n') until a key. */
void ui_help(const char *title, const char *help);

/* ---- menu ---- */

struct ui_menu_item {
	int key;		/* hotkey (a letter), 0 if none */
	const char *label;
	const char *note;	/* one line shown beside it, may be NULL */
};

/*
 * Choose an item: arrows and Enter, or its hotkey.  *sel is the item
 * first selected and the last one.  The index, or -1 for back.
 */
int ui_menu(const char *title, const char *help, const struct ui_menu_item *items, size_t n,
    int *sel);

/* ---- list: rows the caller fills, one selected ---- */

struct ui_list {
	char **rows;
	char **keys;		/* what identifies each row across refreshes */
	enum ui_attr *attrs;
	size_t n, cap;
	size_t sel, top;
	char *keep;		/* the selected key when the rows were cleared */
};

void ui_list_init(struct ui_list *l);
/* Forget the rows (keeping the selection's key to find it again). */
void ui_list_clear(struct ui_list *l);
void ui_list_add(struct ui_list *l, const char *key, enum ui_attr attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * After filling: select the row whose key is key (NULL: the one selected
 * before ui_list_clear) if there is one, else keep the index in range.
 */
void ui_list_select(struct ui_list *l, const char *key);
/* The key of the selected row, or NULL when the list is empty. */
const char *ui_list_key(const struct ui_list *l);
/* Draw in rows y .. y + h - 1 (the full width), header (may be NULL) first. */
void ui_list_draw(struct ui_list *l, int y, int h, const char *header);
/* Moves (arrows, pages, Home, End) for a list of h rows: 1 if the key was one. */
int ui_list_move(struct ui_list *l, int key, int h);
void ui_list_free(struct ui_list *l);

/* ---- form ---- */

#define UI_FIELD_HIDDEN	1	/* a password: shown as '*' */
#define UI_FIELD_CHOICE	2	/* one of choices[], changed with Left/Right/Space */

struct ui_field {
	const char *label;
	char *buf;		/* the value, edited in place (its initial value shown) */
	size_t size;
	int flags;
	const char *const *choices;	/* UI_FIELD_CHOICE: NULL-terminated */
};

/*
 * Fill the fields: Tab, Down or Enter go to the next one (Enter on the
 * last submits), Up to the previous, Backspace and ^U edit, Esc cancels.
 * intro (may be NULL) is shown above.  1 submitted, 0 cancelled.
 */
int ui_form(const char *title, const char *intro, struct ui_field *fields, size_t n);

/* ---- dialogs ---- */

/* Yes or no (y/n, arrows and Enter; No first, Esc is No).  1 yes. */
int ui_confirm(const char *title, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message until a key. */
void ui_message(const char *title, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message left on the screen while something runs (no key). */
void ui_busy(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line typed on the status line after prompt: 1 entered, 0 cancelled (Esc). */
int ui_prompt(const char *prompt, char *buf, size_t size);

/* ---- pager ---- */

/*
 * More lines for a pager that follows something (a log file, a running
 * command): called between keys; 1 if it added lines, 0 if not, -1 when
 * there will be no more.  status (may be NULL) is shown on the status line.
 */
struct ui_pager_source {
	int (*poll)(void *ctx, struct text *t);
	void *ctx;
	const char *status;
};

/*
 * Show t: arrows, pages, Home/g, End/G, Left/Right, / search, n and N for
 * the next and previous hit, f to follow the source (if any) and q back.
 * follow: start at the end, following.
 */
void ui_pager(const char *title, struct text *t, struct ui_pager_source *src, int follow);

#endif
