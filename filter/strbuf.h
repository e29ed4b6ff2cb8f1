/* SPDX-License-Identifier: MIT */
/*
 * strbuf - a growable byte buffer for the filter's scratch space.
 *
 * The MIME parser reuses a few of these for every line it decodes, so a
 * message costs a handful of allocations that grow to the largest line,
 * never one per byte.  The data is always followed by a NUL that is not
 * counted in len, so text can be handed out as a C string.
 */
#ifndef FACTEUR_FILTER_STRBUF_H
#define FACTEUR_FILTER_STRBUF_H

#include <stddef.h>
#include <string.h>

struct strbuf {
	char *data;
	size_t len;
	size_t size;
};

/* Make room for at least n more bytes (plus the NUL). */
void strbuf_reserve(struct strbuf *b, size_t n);
/* strbuf_append and strbuf_putc where the room must be made first. */
void strbuf_append_grow(struct strbuf *b, const void *data, size_t len);
void strbuf_putc_grow(struct strbuf *b, char c);

/*
 * Inline: the body text reaches the rules engine and the evals a word at
 * a time, and the room is nearly always there.
 */
static inline void
strbuf_append(struct strbuf *b, const void *data, size_t len)
{
	if (b->size - b->len <= len) {
		strbuf_append_grow(b, data, len);
		return;
	}
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static inline void
strbuf_putc(struct strbuf *b, char c)
{
	if (b->size - b->len <= 1) {
		strbuf_putc_grow(b, c);
		return;
	}
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}
/* Append code point cp as UTF-8 (invalid ones as U+FFFD). */
void strbuf_put_utf8(struct strbuf *b, unsigned long cp);
void strbuf_reset(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif
