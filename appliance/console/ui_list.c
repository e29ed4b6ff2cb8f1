/* SPDX-License-Identifier: MIT */
/*
 * ui_list - the menu and the selectable list.  See ui.h.  A list keeps
 * its rows' keys so that a refresh (the queue read again) leaves the
 * selection on the same entry, wherever it moved.
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

int
ui_menu(const char *title, const char *help, const struct ui_menu_item *items, size_t n, int *sel)
{
	for (;;) {
		int top = ui_body_top() + 1, key, labelw = 0;

		if (*sel < 0 || (size_t)*sel >= n)
			*sel = 0;
		for (size_t i = 0; i < n; i++)
			if (ui_width(items[i].label) > labelw)
				labelw = ui_width(items[i].label);
		ui_frame(title, "Up/Down: move  Enter: open  letter: go  F1/?: help  q/Esc: back");
		for (size_t i = 0; i < n; i++) {
			int y = top + (int)i, x = 2;
			enum ui_attr a = (int)i == *sel ? UI_SELECTED : UI_NORMAL;

			if (y >= LINES - 2)
				break;
			if ((int)i == *sel)
				ui_fill(y, 1, COLS - 2, UI_SELECTED);
			if (items[i].key != 0)
				ui_putf(y, x, 5, a, "[%c]", items[i].key);
			ui_put(y, x + 5, labelw + 2, a, items[i].label);
			if (items[i].note != NULL)
				ui_put(y, x + 5 + labelw + 3, COLS - x - labelw - 9, a, items[i].note);
		}
		ui_refresh();
		key = ui_getkey(-1, 0);
		switch (key) {
		case KEY_UP:
			*sel = (*sel + (int)n - 1) % (int)n;
			break;
		case KEY_DOWN: case '\t':
			*sel = (*sel + 1) % (int)n;
			break;
		case KEY_HOME:
			*sel = 0;
			break;
		case KEY_END:
			*sel = (int)n - 1;
			break;
		case UI_KEY_ENTER:
			return *sel;
		case UI_KEY_BACK:
			return -1;
		case UI_KEY_HELP:
			ui_help(title, help);
			break;
		default:
			for (size_t i = 0; i < n; i++) {
				if (items[i].key != 0 && key < 256 && key > 0 &&
				    (key == items[i].key || key == (items[i].key | 0x20))) {
					*sel = (int)i;
					return *sel;
				}
			}
			break;
		}
	}
}

/* ---- list ---- */

void
ui_list_init(struct ui_list *l)
{
	memset(l, 0, sizeof(*l));
}

void
ui_list_clear(struct ui_list *l)
{
	const char *key = ui_list_key(l);

	if (key != NULL) {
		free(l->keep);
		l->keep = xstrdup(key);
	}
	for (size_t i = 0; i < l->n; i++) {
		free(l->rows[i]);
		free(l->keys[i]);
	}
	l->n = 0;
}

void
ui_list_add(struct ui_list *l, const char *key, enum ui_attr attr, const char *fmt, ...)
{
	va_list ap;
	char *row;

	va_start(ap, fmt);
	if (vasprintf(&row, fmt, ap) < 0)
		row = xstrdup("?");
	va_end(ap);
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 32 : l->cap * 2;
		l->rows = xrealloc(l->rows, l->cap * sizeof(*l->rows));
		l->keys = xrealloc(l->keys, l->cap * sizeof(*l->keys));
		l->attrs = xrealloc(l->attrs, l->cap * sizeof(*l->attrs));
	}
	l->rows[l->n] = row;
	l->keys[l->n] = xstrdup(key != NULL ? key : "");
	l->attrs[l->n] = attr;
	l->n++;
}

void
ui_list_select(struct ui_list *l, const char *key)
{
	if (key == NULL)
		key = l->keep;
	if (key != NULL) {
		for (size_t i = 0; i < l->n; i++) {
			if (strcmp(l->keys[i], key) == 0) {
				l->sel = i;
				return;
			}
		}
	}
	if (l->sel >= l->n)
		l->sel = l->n > 0 ? l->n - 1 : 0;
}

const char *
ui_list_key(const struct ui_list *l)
{
	return l->n > 0 && l->sel < l->n ? l->keys[l->sel] : NULL;
}

void
ui_list_draw(struct ui_list *l, int y, int h, const char *header)
{
	if (header != NULL) {
		ui_put(y, 1, COLS - 2, UI_HEADING, header);
		y++;
		h--;
	}
	if (h <= 0)
		return;
	if (l->sel < l->top)
		l->top = l->sel;
	if (l->sel >= l->top + (size_t)h)
		l->top = l->sel - (size_t)h + 1;
	if (l->top + (size_t)h > l->n)
		l->top = l->n > (size_t)h ? l->n - (size_t)h : 0;
	for (int i = 0; i < h && l->top + (size_t)i < l->n; i++) {
		size_t r = l->top + (size_t)i;
		enum ui_attr a = r == l->sel ? UI_SELECTED : l->attrs[r];

		if (r == l->sel)
			ui_fill(y + i, 0, COLS, UI_SELECTED);
		ui_put(y + i, 1, COLS - 2, a, l->rows[r]);
	}
	if (l->n > (size_t)h) {
		char pos[64];
		snprintf(pos, sizeof(pos), "%zu/%zu", l->sel + 1, l->n);
		ui_status_right(pos);
	}
}

int
ui_list_move(struct ui_list *l, int key, int h)
{
	size_t page = h > 1 ? (size_t)h - 1 : 1;

	if (l->n == 0)
		return key == KEY_UP || key == KEY_DOWN || key == KEY_PPAGE || key == KEY_NPAGE ||
		    key == KEY_HOME || key == KEY_END;
	switch (key) {
	case KEY_UP:
		if (l->sel > 0)
			l->sel--;
		return 1;
	case KEY_DOWN:
		if (l->sel + 1 < l->n)
			l->sel++;
		return 1;
	case KEY_PPAGE:
		l->sel = l->sel > page ? l->sel - page : 0;
		return 1;
	case KEY_NPAGE:
		l->sel = l->sel + page < l->n ? l->sel + page : l->n - 1;
		return 1;
	case KEY_HOME:
		l->sel = 0;
		return 1;
	case KEY_END:
		l->sel = l->n - 1;
		return 1;
	default:
		return 0;
	}
}

void
ui_list_free(struct ui_list *l)
{
	ui_list_clear(l);
	free(l->rows);
	free(l->keys);
	free(l->attrs);
	free(l->keep);
	memset(l, 0, sizeof(*l));
}

