/* SPDX-License-Identifier: MIT */
/*
 * text - lines of text that grow at the end: a command's output as it
 * comes, a log file and what is appended to it.
 *
 * Bytes are appended in any pieces; a line is complete at its '\n' (a
 * '\r' before it is dropped), the piece after the last one is kept apart
 * until the rest comes or text_flush() says there is no more.  Lines are
 * kept as read: the screen makes them printable when it draws them.
 */
#ifndef FACTEUR_CONSOLE_TEXT_H
#define FACTEUR_CONSOLE_TEXT_H

#include <stddef.h>

/* Longer lines are cut there (the rest is dropped up to the next '\n'). */
#define TEXT_LINE_MAX 4096

struct text {
	char **lines;
	size_t n, cap;
	char *partial;		/* an incomplete last line, or NULL */
	size_t partial_len;
	int skipping;		/* dropping the rest of an over-long line */
	size_t max_lines;	/* 0: no bound; else the oldest lines go */
	size_t dropped;		/* lines dropped at the front by max_lines */
};

void text_init(struct text *t, size_t max_lines);
void text_append(struct text *t, const char *data, size_t len);
/* One whole line (no '\n' inside expected; one is split if there is). */
void text_add(struct text *t, const char *line);
void text_addf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Make the incomplete last line a line. */
void text_flush(struct text *t);
/* Forget every line. */
void text_clear(struct text *t);
void text_free(struct text *t);

#endif
