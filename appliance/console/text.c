/* SPDX-License-Identifier: MIT */
/*
 * text - lines that grow at the end.  See text.h.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "text.h"

void
text_init(struct text *t, size_t max_lines)
{
	memset(t, 0, sizeof(*t));
	t->max_lines = max_lines;
}

static void
push(struct text *t, char *line)
{
	size_t len = strlen(line);

	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	if (t->max_lines > 0 && t->n == t->max_lines) {
		/* Drop the oldest tenth at once: one memmove per many lines. */
		size_t drop = t->max_lines / 10 + 1;
		for (size_t i = 0; i < drop; i++)
			free(t->lines[i]);
		memmove(t->lines, t->lines + drop, (t->n - drop) * sizeof(*t->lines));
		t->n -= drop;
		t->dropped += drop;
	}
	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->lines = xrealloc(t->lines, t->cap * sizeof(*t->lines));
	}
	t->lines[t->n++] = line;
}

/* Add len bytes to the incomplete line, within TEXT_LINE_MAX. */
static void
partial_add(struct text *t, const char *data, size_t len)
{
	if (t->skipping)
		return;
	if (t->partial_len + len > TEXT_LINE_MAX) {
		len = TEXT_LINE_MAX - t->partial_len;
		t->skipping = 1;
	}
	t->partial = xrealloc(t->partial, t->partial_len + len + 1);
	memcpy(t->partial + t->partial_len, data, len);
	t->partial_len += len;
	t->partial[t->partial_len] = '\0';
}

void
text_flush(struct text *t)
{
	if (t->partial == NULL && !t->skipping)
		return;
	if (t->partial == NULL)
		t->partial = xstrdup("");
	push(t, t->partial);
	t->partial = NULL;
	t->partial_len = 0;
	t->skipping = 0;
}

void
text_append(struct text *t, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t piece = nl != NULL ? (size_t)(nl - data) : len;

		partial_add(t, data, piece);
		if (nl == NULL)
			return;
		if (t->partial == NULL)
			t->partial = xstrdup("");
		text_flush(t);
		data += piece + 1;
		len -= piece + 1;
	}
}

void
text_add(struct text *t, const char *line)
{
	const char *nl;

	text_flush(t);
	while ((nl = strchr(line, '\n')) != NULL) {
		push(t, xstrndup(line, (size_t)(nl - line) < TEXT_LINE_MAX ? (size_t)(nl - line) : TEXT_LINE_MAX));
		line = nl + 1;
	}
	push(t, xstrndup(line, TEXT_LINE_MAX));
}

void
text_addf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	text_add(t, s != NULL ? s : "(out of memory)");
	free(s);
}

void
text_clear(struct text *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i]);
	t->n = 0;
	t->dropped = 0;
	free(t->partial);
	t->partial = NULL;
	t->partial_len = 0;
	t->skipping = 0;
}

void
text_free(struct text *t)
{
	text_clear(t);
	free(t->lines);
	t->lines = NULL;
	t->cap = 0;
}
