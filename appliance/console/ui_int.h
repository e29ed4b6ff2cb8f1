/* SPDX-License-Identifier: MIT */
/*
 * ui_int - what the widget files share inside the widget layer (ui.c,
 * ui_form.c, ui_list.c, ui_pager.c); the screens use ui.h only.
 */
#ifndef FACTEUR_CONSOLE_UI_INT_H
#define FACTEUR_CONSOLE_UI_INT_H

#include <curses.h>

#include "text.h"
#include "ui.h"

/* The curses attributes of each enum ui_attr (colours or not). */
extern chtype ui_attrs[UI_NATTR];

/* ui_put and ui_fill in a window. */
int ui_wput(WINDOW *w, int y, int x, int width, enum ui_attr attr, const char *s);
void ui_wfill(WINDOW *w, int y, int x, int width, enum ui_attr attr);
/* Lines of t from its first, at most maxlines, in the window. */
void ui_show_lines(WINDOW *win, const struct text *t, int y, int x, int width, int maxlines);
/* Break s into lines of at most width bytes, at blanks where possible ('\n' breaks). */
void ui_wrap(const char *s, int width, struct text *out);

/* A boxed window of h x w with a title in the middle of the screen; NULL if none could be made. */
WINDOW *ui_box_open(int h, int w, const char *title);
/* Delete it, the screen below to be redrawn. */
void ui_box_close(WINDOW **win);
/* A resize behind a dialog: clear the screen (its owner redraws it later). */
void ui_box_resized(void);
/* A dialog's width on this screen. */
int ui_box_width(void);

/*
 * wgetch on w within timeout_ms (negative: wait), the idle lock run when
 * its time comes (then KEY_RESIZE: the caller draws its screen again).
 */
int ui_wgetch(WINDOW *w, int timeout_ms);

/* Apply an editing key (a byte, Backspace, ^U) to buf: 1 if it was one. */
int ui_edit_key(char *buf, size_t size, int key);

#endif
