/* SPDX-License-Identifier: MIT */
/*
 * ui_form - text entry: forms of labelled fields and the one-line prompt.
 * See ui.h.  The typing is byte by byte (a UTF-8 character arrives as
 * its bytes); Backspace takes a whole character back.
 */
#include "facteur-config.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "ui.h"
#include "ui_int.h"

/* Apply an editing key to buf: 1 if it was one. */
int
ui_edit_key(char *buf, size_t size, int key)
{
	size_t len = strlen(buf);

	if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		/* A whole UTF-8 character: its continuation bytes, then its lead. */
		while (len > 0 && ((unsigned char)buf[len - 1] & 0xc0) == 0x80)
			len--;
		if (len > 0)
			len--;
		buf[len] = '\0';
		return 1;
	}
	if (key == UI_CTRL('u')) {
		buf[0] = '\0';
		return 1;
	}
	if (key >= 32 && key < 256 && key != 127) {
		if (len + 1 < size) {
			buf[len] = (char)key;
			buf[len + 1] = '\0';
		}
		return 1;
	}
	return 0;
}

/* What a field shows: the value, '*'s for a hidden one, "< value >" for a choice. */
static void
field_text(const struct ui_field *f, char *out, size_t size)
{
	if (f->flags & UI_FIELD_HIDDEN) {
		size_t n = 0;
		for (const char *p = f->buf; *p != '\0' && n + 1 < size; p++)
			if (((unsigned char)*p & 0xc0) != 0x80)
				out[n++] = '*';
		out[n] = '\0';
	} else if (f->flags & UI_FIELD_CHOICE) {
		snprintf(out, size, "< %s >", f->buf);
	} else {
		str_copy(out, f->buf, size);
	}
}

static void
choice_step(struct ui_field *f, int step)
{
	size_t n = 0, cur = 0;

	while (f->choices[n] != NULL) {
		if (strcmp(f->choices[n], f->buf) == 0)
			cur = n;
		n++;
	}
	if (n == 0)
		return;
	cur = (cur + n + (size_t)(step > 0 ? 1 : n - 1)) % n;
	str_copy(f->buf, f->choices[cur], f->size);
}

int
ui_form(const char *title, const char *intro, struct ui_field *fields, size_t n)
{
	size_t cur = 0;
	int labelw = 0;

	ui_status("%s", "");	/* what the screen said before is answered by now */
	for (size_t i = 0; i < n; i++) {
		int lw = ui_width(fields[i].label);
		if (lw > labelw)
			labelw = lw;
		if ((fields[i].flags & UI_FIELD_CHOICE) && fields[i].buf[0] == '\0')
			str_copy(fields[i].buf, fields[i].choices[0], fields[i].size);
	}
	for (;;) {
		struct text t;
		int w = COLS - 2 > 76 ? 76 : COLS - 2, h, key, fieldw, y0, cy = 0, cx = 0;
		WINDOW *win;

		text_init(&t, 0);
		if (intro != NULL)
			ui_wrap(intro, w - 4, &t);
		h = (int)t.n + (t.n > 0 ? 1 : 0) + (int)n + 4;
		if (h > LINES)
			h = LINES;
		win = ui_box_open(h, w, title);
		if (win == NULL) {
			text_free(&t);
			return 0;
		}
		ui_show_lines(win, &t, 1, 2, w - 4, h - (int)n - 4);
		y0 = 1 + (int)t.n + (t.n > 0 ? 1 : 0);
		fieldw = w - labelw - 7;
		for (size_t i = 0; i < n; i++) {
			char shown[1024];
			int used, start = 0, len;

			field_text(&fields[i], shown, sizeof(shown));
			ui_wput(win, y0 + (int)i, 2, labelw + 1, i == cur ? UI_HEADING : UI_NORMAL,
			    fields[i].label);
			ui_wfill(win, y0 + (int)i, labelw + 4, fieldw, i == cur ? UI_SELECTED : UI_NORMAL);
			/* A long value: show its end, where the typing is. */
			len = ui_width(shown);
			if (len >= fieldw)
				start = len - fieldw + 1;
			used = ui_wput(win, y0 + (int)i, labelw + 4, fieldw, i == cur ? UI_SELECTED : UI_NORMAL,
			    shown + (start < (int)strlen(shown) ? start : 0));
			ui_wput(win, y0 + (int)i, labelw + 3, 1, UI_NORMAL, "[");
			ui_wput(win, y0 + (int)i, labelw + 4 + fieldw, 1, UI_NORMAL, "]");
			if (i == cur) {
				cy = y0 + (int)i;
				cx = labelw + 4 + used;
			}
		}
		ui_wput(win, h - 2, 2, w - 4, UI_HEADING,
		    "Enter: next/OK  Tab/Up/Down: fields  Left/Right: choice  Esc: cancel");
		text_free(&t);
		wmove(win, cy, cx);
		curs_set((fields[cur].flags & UI_FIELD_CHOICE) ? 0 : 1);
		wnoutrefresh(stdscr);
		wnoutrefresh(win);
		doupdate();
		key = ui_wgetch(win, -1);
		curs_set(0);
		ui_box_close(&win);
		/* The keys as ui_getkey names them, q and ? being text here. */
		if (key == KEY_RESIZE) {
			ui_box_resized();
			continue;
		}
		if (key == 27)
			return 0;
		if (key == '\n' || key == '\r' || key == KEY_ENTER) {
			if (cur + 1 == n)
				return 1;
			cur++;
			continue;
		}
		if (key == '\t' || key == KEY_DOWN) {
			cur = (cur + 1) % n;
			continue;
		}
		if (key == KEY_BTAB || key == KEY_UP) {
			cur = (cur + n - 1) % n;
			continue;
		}
		if (fields[cur].flags & UI_FIELD_CHOICE) {
			if (key == KEY_LEFT)
				choice_step(&fields[cur], -1);
			else if (key == KEY_RIGHT || key == ' ')
				choice_step(&fields[cur], 1);
			continue;
		}
		ui_edit_key(fields[cur].buf, fields[cur].size, key);
	}
}

int
ui_prompt(const char *prompt, char *buf, size_t size)
{
	for (;;) {
		int key, used;

		ui_fill(LINES - 2, 0, COLS, UI_NORMAL);
		used = ui_put(LINES - 2, 1, COLS - 2, UI_HEADING, prompt);
		used += ui_put(LINES - 2, 1 + used, COLS - 2 - used, UI_NORMAL, buf);
		move(LINES - 2, 1 + used);
		curs_set(1);
		refresh();
		key = ui_getkey(-1, 1);
		curs_set(0);
		if (key == UI_KEY_BACK)
			return 0;
		if (key == UI_KEY_ENTER)
			return 1;
		if (key != UI_KEY_RESIZE)
			ui_edit_key(buf, size, key);
	}
}

