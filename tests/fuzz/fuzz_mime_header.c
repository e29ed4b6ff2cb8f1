/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mime_header - libFuzzer target for the header field parsers of
 * filter/mime_header.c: the input is one header value, decoded as an
 * unstructured field (RFC 2047 encoded-words, charsets to UTF-8) and
 * parsed as a Content-Type and a Content-Disposition (RFC 2045/2231
 * parameters).  Every output is checked to be a whole NUL-terminated
 * string, the decoded text valid UTF-8, the parameter count bounded.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/charset.h"
#include "filter/mime_header.h"
#include "filter/strbuf.h"
#include "lib/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink;

static void
touch(const char *s)
{
	while (*s != '\0')
		sink ^= (unsigned char)*s++;
}

/* Valid UTF-8 (the decoder promises it): abort() if not. */
static void
check_utf8(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (n == 0 || i + n > len)
			abort();
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				abort();
		i += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct charset_conv *conv = NULL;
	struct strbuf out = { NULL, 0, 0 };
	struct mime_params params = { NULL, 0 };
	char type[32], subtype[64];
	char *buf = xmalloc(size > 0 ? size : 1);

	/* Exactly size bytes, so ASan sees any read past the end. */
	memcpy(buf, data, size);
	mime_header_decode(buf, size, &out, &conv);
	if (out.data != NULL) {
		if (strlen(out.data) > out.len)
			abort();
		check_utf8((const unsigned char *)out.data, out.len);
	}
	mime_header_parse_type(buf, size, type, sizeof(type), subtype, sizeof(subtype), &params,
	    &conv);
	touch(type);
	touch(subtype);
	if (params.n > MIME_PARAMS_MAX)
		abort();
	for (unsigned int i = 0; i < params.n; i++) {
		touch(params.v[i].name);
		touch(params.v[i].value);
	}
	mime_params_free(&params);
	mime_header_parse_type(buf, size, type, sizeof(type), NULL, 0, &params, &conv);
	touch(type);
	mime_params_free(&params);
	strbuf_free(&out);
	charset_conv_free(&conv);
	free(buf);
	return 0;
}
