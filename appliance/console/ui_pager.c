/* SPDX-License-Identifier: MIT */
/*
 * ui_pager - lines to scroll, search and follow, as less(1) does for the
 * few keys an administrator expects.  See ui.h.
 */
#include "facteur-config.h"

#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/mem.h"
#include "ui.h"
#include "ui_int.h"

/* Byte offset of the n-th character of s (UTF-8), or its end. */
static size_t
skip_chars(const char *s, size_t n)
{
	size_t b = 0;

	while (s[b] != '\0' && n > 0) {
		b++;
		while (((unsigned char)s[b] & 0xc0) == 0x80)
			b++;
		n--;
	}
	return b;
}

/* Characters before byte offset b of s. */
static size_t
count_chars(const char *s, size_t b)
{
	size_t n = 0;

	for (size_t i = 0; i < b && s[i] != '\0'; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

static void
pager_line(int y, const char *line, size_t hoff, const char *pat, int current)
{
	const char *p = line + skip_chars(line, hoff);
	size_t plen = strlen(pat);
	int x = 0;

	if (current)
		ui_put(y, 0, 1, UI_MATCH, ">");
	x = 1;
	while (*p != '\0' && x < COLS) {
		const char *hit = plen > 0 ? strcasestr(p, pat) : NULL;
		size_t seg = hit != NULL ? (size_t)(hit - p) : strlen(p);
		char *piece;

		if (seg > 0) {
			piece = xstrndup(p, seg);
			x += ui_put(y, x, COLS - x, UI_NORMAL, piece);
			free(piece);
			p += seg;
		}
		if (hit != NULL) {
			piece = xstrndup(hit, plen);
			x += ui_put(y, x, COLS - x, UI_MATCH, piece);
			free(piece);
			p += plen;
		}
	}
}

/* The next line from start in direction dir (1, -1) holding pat, wrapping once; -1 if none. */
static long
pager_search(const struct text *t, const char *pat, long start, int dir, int *wrapped)
{
	long n = (long)t->n;

	*wrapped = 0;
	if (n == 0 || pat[0] == '\0')
		return -1;
	for (long k = 0; k < n; k++) {
		long i = start + dir * k;
		if (i >= n || i < 0) {
			*wrapped = 1;
			i = ((i % n) + n) % n;
		}
		if (strcasestr(t->lines[i], pat) != NULL)
			return i;
	}
	return -1;
}

void
ui_pager(const char *title, struct text *t, struct ui_pager_source *src, int follow)
{
	size_t top = 0, hoff = 0, dropped = t->dropped;
	char pat[256] = "", input[256];
	long match = -1;
	int ended = src == NULL;
	const char *keys = src != NULL ?
	    "arrows PgUp/PgDn g/G  / search  n/N next/prev  f follow  F1/? help  q back" :
	    "arrows PgUp/PgDn g/G: top/end  / search  n/N: next/prev  F1/?: help  q: back";

	for (;;) {
		size_t h = (size_t)ui_body_lines();
		char pos[128];
		int key, wrapped;
		long found;

		/* Lines dropped at the front shift what we point at. */
		if (t->dropped != dropped) {
			size_t d = t->dropped - dropped;
			top = top > d ? top - d : 0;
			match = match >= (long)d ? match - (long)d : -1;
			dropped = t->dropped;
		}
		if (follow || top + h > t->n)
			top = t->n > h ? t->n - h : 0;
		ui_frame(title, keys);
		for (size_t i = 0; i < h && top + i < t->n; i++)
			pager_line(ui_body_top() + (int)i, t->lines[top + i], hoff, pat,
			    (long)(top + i) == match);
		snprintf(pos, sizeof(pos), "%zu-%zu/%zu%s%s%s", t->n > 0 ? top + 1 : 0,
		    top + h < t->n ? top + h : t->n, t->n, hoff > 0 ? " >>" : "",
		    follow ? " [follow]" : "", src != NULL && src->status != NULL ? " " : "");
		if (src != NULL && src->status != NULL)
			str_copy(pos + strlen(pos), src->status, sizeof(pos) - strlen(pos));
		ui_status_right(pos);
		ui_refresh();
		key = ui_getkey(ended ? -1 : 250, 0);
		if (!ended && src->poll(src->ctx, t) < 0)
			ended = 1;
		switch (key) {
		case UI_KEY_BACK:
			return;
		case UI_KEY_HELP:
			ui_help(title,
			    "Up/Down, PgUp/PgDn (b/space): scroll\n"
			    "Home/g, End/G: first and last line\n"
			    "Left/Right: scroll sideways\n"
			    "/: search (case-insensitive), n: next hit, N: previous hit\n"
			    "f: follow (stay at the end as lines come), when there is something to follow\n"
			    "q or Esc: back");
			break;
		case KEY_UP: case 'k':
			follow = 0;
			if (top > 0)
				top--;
			break;
		case KEY_DOWN: case 'j':
			if (top + h < t->n)
				top++;
			break;
		case KEY_PPAGE: case 'b':
			follow = 0;
			top = top > h - 1 ? top - (h - 1) : 0;
			break;
		case KEY_NPAGE: case ' ':
			top += h - 1;
			break;
		case KEY_HOME: case 'g':
			follow = 0;
			top = 0;
			break;
		case KEY_END: case 'G':
			top = t->n;
			break;
		case KEY_LEFT:
			hoff = hoff > 20 ? hoff - 20 : 0;
			break;
		case KEY_RIGHT:
			hoff += 20;
			break;
		case 'f': case 'F':
			if (src != NULL)
				follow = !follow;
			else
				ui_status("nothing to follow here");
			break;
		case '/':
			input[0] = '\0';
			if (!ui_prompt("/", input, sizeof(input)) || input[0] == '\0')
				break;
			str_copy(pat, input, sizeof(pat));
			match = -1;
			/* FALLTHROUGH */
		case 'n': case 'N':
			if (pat[0] == '\0') {
				ui_status("no search yet: / to search");
				break;
			}
			if (key == 'N')
				found = pager_search(t, pat, match >= 0 ? match - 1 : (long)top, -1, &wrapped);
			else
				found = pager_search(t, pat, match >= 0 ? match + 1 : (long)top, 1, &wrapped);
			if (found < 0) {
				ui_status("not found: %s", pat);
				break;
			}
			match = found;
			follow = 0;
			if ((size_t)found < top || (size_t)found >= top + h)
				top = (size_t)found > h / 2 ? (size_t)found - h / 2 : 0;
			{
				size_t col = count_chars(t->lines[found],
				    (size_t)(strcasestr(t->lines[found], pat) - t->lines[found]));
				if (col < hoff || col + strlen(pat) + 2 > hoff + (size_t)COLS)
					hoff = col > 20 ? col - 20 : 0;
			}
			ui_status("%s: line %ld%s", pat, found + 1, wrapped ? " (search wrapped)" : "");
			break;
		default:
			break;
		}
	}
}
