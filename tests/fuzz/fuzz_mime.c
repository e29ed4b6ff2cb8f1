/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mime - libFuzzer target for the streaming MIME parser: the input
 * is a message, fed in pieces whose sizes come from its first byte, with
 * small limits so depth, part, header and URL bounds are reached, and
 * every callback's output is checked to lie inside what it claims.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink;

static void
touch(const void *data, size_t len)
{
	const unsigned char *s = data;

	/* Read every byte, so ASan checks the whole range. */
	if (len > 0)
		sink ^= s[0] ^ s[len - 1] ^ s[len / 2];
	while (len-- > 0)
		sink ^= *s++;
}

static void
on_header(void *c, const struct mime_part *part, const struct mime_header *h)
{
	touch(h->name, strlen(h->name));
	touch(h->raw, h->raw_len);
	touch(h->value, h->value_len);
	if (h->value[h->value_len] != '\0')
		abort();
}

static void
on_part(void *c, const struct mime_part *part)
{
	touch(part->type, strlen(part->type));
	touch(part->charset, strlen(part->charset));
	if (part->filename != NULL)
		touch(part->filename, strlen(part->filename));
}

static void
on_data(void *c, const struct mime_part *part, const void *data, size_t len)
{
	touch(data, len);
}

static void
on_text(void *c, const struct mime_part *part, const char *text, size_t len)
{
	touch(text, len);
}

static void
on_url(void *c, const struct mime_part *part, const char *url, size_t len)
{
	touch(url, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_callbacks cb = {
		.header = on_header,
		.part_begin = on_part,
		.raw_body = on_data,
		.text = on_text,
		.attachment = on_data,
		.url = on_url,
		.part_end = on_part,
	};
	struct mime_limits limits = {
		.max_depth = 8,
		.max_parts = 64,
		.max_header_block = 2048,
		.max_line = 1024,
		.max_urls = 16,
	};
	struct mime_parser *p;
	size_t step, pos = 0;
	unsigned int i;
	char *buf;

	if (size == 0)
		return 0;
	step = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	/* Exactly size bytes, so ASan sees any read past the end. */
	buf = xmalloc(size > 0 ? size : 1);
	memcpy(buf, data, size);
	p = mime_parser_new(&limits, &cb);
	while (pos < size) {
		size_t n = size - pos < step ? size - pos : step;

		mime_parser_feed(p, buf + pos, n);
		pos += n;
	}
	mime_parser_finish(p);
	if (mime_parser_part_count(p) < 1 || mime_parser_part_count(p) > limits.max_parts ||
	    mime_parser_url_count(p) > limits.max_urls)
		abort();
	for (i = 0; i < mime_parser_part_count(p); i++) {
		const struct mime_part *part = mime_parser_part(p, i);

		/*
		 * Quoted-printable turns each bare-LF line end into CRLF, so
		 * the decoded data may be up to twice the input, never more.
		 */
		if (part->index != i || part->parent >= (int)i || part->depth > limits.max_depth ||
		    part->decoded_size > 2 * size)
			abort();
		on_part(NULL, part);
	}
	for (i = 0; i < mime_parser_url_count(p); i++)
		touch(mime_parser_url(p, i), strlen(mime_parser_url(p, i)));
	mime_parser_free(&p);
	free(buf);
	return 0;
}
