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

struct strbuf {
	char *data;
	size_t len;
	size_t size;
};

/* Make room for at least n more bytes (plus the NUL). */
void strbuf_reserve(struct strbuf *b, size_t n);
void strbuf_append(struct strbuf *b, const void *data, size_t len);
void strbuf_putc(struct strbuf *b, char c);
/* Append code point cp as UTF-8 (invalid ones as U+FFFD). */
void strbuf_put_utf8(struct strbuf *b, unsigned long cp);
void strbuf_reset(struct strbuf *b);
void strbuf_free(struct strbuf *b);

#endif
