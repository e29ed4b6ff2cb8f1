/* SPDX-License-Identifier: MIT */
/*
 * strbuf - growable byte buffer.  See strbuf.h.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "filter/strbuf.h"

void
strbuf_reserve(struct strbuf *b, size_t n)
{
	size_t need;

	if (n > ((size_t)-1) / 2 - b->len)
		panic("strbuf: size overflow");
	need = b->len + n + 1;
	if (need <= b->size)
		return;
	if (b->size == 0)
		b->size = 256;
	while (b->size < need)
		b->size *= 2;
	b->data = xrealloc(b->data, b->size);
}

void
strbuf_append_grow(struct strbuf *b, const void *data, size_t len)
{
	strbuf_reserve(b, len);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
strbuf_putc_grow(struct strbuf *b, char c)
{
	strbuf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

void
strbuf_put_utf8(struct strbuf *b, unsigned long cp)
{
	char *o;

	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	strbuf_reserve(b, 4);
	o = b->data + b->len;
	if (cp < 0x80) {
		*o++ = (char)cp;
	} else if (cp < 0x800) {
		*o++ = (char)(0xc0 | (cp >> 6));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*o++ = (char)(0xe0 | (cp >> 12));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*o++ = (char)(0xf0 | (cp >> 18));
		*o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*o++ = (char)(0x80 | (cp & 0x3f));
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

void
strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
strbuf_free(struct strbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}
