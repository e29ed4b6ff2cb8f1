/* SPDX-License-Identifier: MIT */
/*
 * mime_header - the parts of a header value MIME gives meaning to:
 * RFC 2047 encoded-words, and the "type/subtype; name=value" syntax of
 * Content-Type and Content-Disposition with RFC 2231 parameter values
 * (continuations, charsets, percent-encoding).
 *
 * Everything comes out as UTF-8.  Damage is reported as MIME_HDR_* flags
 * and decoded as far as it goes, never refused: the scoring stage wants
 * to know a header was broken, and the rules still want its text.
 */
#ifndef FACTEUR_FILTER_MIME_HEADER_H
#define FACTEUR_FILTER_MIME_HEADER_H

#include <stddef.h>

#include "filter/charset.h"
#include "filter/strbuf.h"

/* What went wrong while decoding a header value. */
#define MIME_HDR_BAD_ENCODED_WORD 0x01u	/* "=?cs?X?...?=" malformed */
#define MIME_HDR_BAD_CHARSET 0x02u	/* charset name unknown: read as latin-1 */
#define MIME_HDR_CHARSET_ERROR 0x04u	/* bytes invalid in their charset */
#define MIME_HDR_8BIT 0x08u		/* raw 8-bit bytes */
#define MIME_HDR_NUL 0x10u		/* NUL bytes */
#define MIME_HDR_BAD_PARAM 0x20u	/* parameter syntax, duplicate, RFC 2231 gaps */
#define MIME_HDR_BAD_SYNTAX 0x40u	/* no type/subtype */

/* Parameters keep at most this many, each value at most MIME_PARAM_VALUE_MAX bytes. */
#define MIME_PARAMS_MAX 32
#define MIME_PARAM_NAME_MAX 64
#define MIME_PARAM_VALUE_MAX 2048

struct mime_param {
	char *name;	/* lower case */
	char *value;	/* UTF-8 */
};

struct mime_params {
	struct mime_param *v;
	unsigned int n;
};

void mime_params_free(struct mime_params *params);
/* The value of parameter name (lower case), or NULL. */
const char *mime_params_get(const struct mime_params *params, const char *name);

/*
 * Decode a header value into out (reset first): trim it, unfold it,
 * decode encoded-words (joining adjacent ones of the same charset, so a
 * character split between two survives) and convert to UTF-8.  The
 * blanks an encoded-word holds stay, at the ends too (SpamAssassin's
 * header rules and body text see " hello " in "=?utf-8?q?_hello_?=").  conv_cache holds a converter
 * reused while the charset stays the same (NULL at first; free it with
 * charset_conv_free()).  Returns MIME_HDR_* flags.
 */
unsigned int mime_header_decode(const char *raw, size_t len, struct strbuf *out,
    struct charset_conv **conv_cache);

/*
 * Parse a Content-Type value (subtype non-NULL) or a Content-Disposition
 * value (subtype NULL): the type and subtype tokens, lower-cased and cut
 * to their sizes, and the parameters, appended to params.  Returns
 * MIME_HDR_* flags; type (and subtype) are "" when missing.
 */
unsigned int mime_header_parse_type(const char *raw, size_t len, char *type, size_t type_size,
    char *subtype, size_t subtype_size, struct mime_params *params,
    struct charset_conv **conv_cache);

#endif
