/* SPDX-License-Identifier: MIT */
/*
 * mime_header - encoded-words and MIME parameters.  See mime_header.h.
 *
 * Every scan here moves forward: an encoded-word cannot contain '?' or
 * white space in its text, so trying one that turns out malformed never
 * looks further than the next few '?', and parsing stays linear on any
 * header an attacker writes.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/mime_decode.h"
#include "filter/mime_header.h"

#define EW_CHARSET_MAX 64

void
mime_params_free(struct mime_params *params)
{
	unsigned int i;

	for (i = 0; i < params->n; i++) {
		free(params->v[i].name);
		free(params->v[i].value);
	}
	free(params->v);
	params->v = NULL;
	params->n = 0;
}

const char *
mime_params_get(const struct mime_params *params, const char *name)
{
	unsigned int i;

	for (i = 0; i < params->n; i++) {
		if (strcmp(params->v[i].name, name) == 0)
			return params->v[i].value;
	}
	return NULL;
}

/* Convert bytes in charset to UTF-8 onto out. */
static void
convert(const char *charset, const char *bytes, size_t len, struct strbuf *out,
    struct charset_conv **cache, unsigned int *flags)
{
	struct charset_conv *conv;
	int known = 1;

	if (*cache != NULL && charset_conv_is(*cache, charset)) {
		conv = *cache;
		charset_conv_reset(conv);
		known = charset_conv_known(conv);
	} else {
		charset_conv_free(cache);
		conv = *cache = charset_conv_new(charset, &known);
	}
	if (!known)
		*flags |= MIME_HDR_BAD_CHARSET;
	if (charset_conv_feed(conv, bytes, len, out, 1) > 0)
		*flags |= MIME_HDR_CHARSET_ERROR;
}

/*
 * Append raw header text, unfolded, noting 8-bit and NUL bytes.  A line
 * end and the blanks after it become one space, as in SpamAssassin's
 * Node.pm (s/\n[ \t]+/ /): header rules written against it count on that.
 */
static void
put_raw(const char *s, size_t len, struct strbuf *out, unsigned int *flags)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n') {
			charset_raw_to_utf8(s + start, i - start, out);
			while (i + 1 < len && (s[i + 1] == '\r' || s[i + 1] == '\n'))
				i++;
			if (i + 1 < len && (s[i + 1] == ' ' || s[i + 1] == '\t')) {
				while (i + 1 < len && (s[i + 1] == ' ' || s[i + 1] == '\t'))
					i++;
				strbuf_putc(out, ' ');
			}
			start = i + 1;
			continue;
		}
		if (c >= 0x80)
			*flags |= MIME_HDR_8BIT;
		else if (c == 0)
			*flags |= MIME_HDR_NUL;
	}
	charset_raw_to_utf8(s + start, len - start, out);
}

struct encoded_word {
	char charset[EW_CHARSET_MAX];
	char encoding;		/* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t len;		/* of the whole word */
};

/*
 * Parse the encoded-word at s ("=?" already seen).  Returns 1 if it is
 * one, 0 if not, -1 if it started like one and is malformed.
 */
static int
ew_parse(const char *s, size_t len, struct encoded_word *ew)
{
	size_t i = 2, cs_start = 2, cs_len, j;

	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
	    s[i] != '\n')
		i++;
	if (i >= len || s[i] != '?' || i == cs_start)
		return 0;
	cs_len = i - cs_start;
	if (i + 2 >= len || s[i + 2] != '?')
		return 0;
	ew->encoding = s[i + 1] == 'b' || s[i + 1] == 'B' ? 'B' :
	    s[i + 1] == 'q' || s[i + 1] == 'Q' ? 'Q' : 0;
	if (ew->encoding == 0)
		return -1;
	if (cs_len >= sizeof(ew->charset))
		return -1;
	memcpy(ew->charset, s + cs_start, cs_len);
	ew->charset[cs_len] = '\0';
	/* RFC 2231 adds "*language" to the charset. */
	for (j = 0; j < cs_len; j++) {
		if (ew->charset[j] == '*') {
			ew->charset[j] = '\0';
			break;
		}
	}
	i += 3;
	ew->text = s + i;
	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
	    s[i] != '\n')
		i++;
	if (i + 1 >= len || s[i] != '?' || s[i + 1] != '=')
		return -1;
	ew->text_len = (size_t)(s + i - ew->text);
	ew->len = i + 2;
	return 1;
}

/* Decode the text of an encoded-word into bytes appended to out. */
static void
ew_decode(const struct encoded_word *ew, struct strbuf *out, unsigned int *flags)
{
	size_t i;

	if (ew->encoding == 'B') {
		struct base64_decoder d;
		size_t n;

		base64_decoder_init(&d);
		strbuf_reserve(out, ew->text_len);
		n = base64_decode_feed(&d, ew->text, ew->text_len,
		    (unsigned char *)out->data + out->len, 1);
		out->len += n;
		out->data[out->len] = '\0';
		if (d.bad > 0)
			*flags |= MIME_HDR_BAD_ENCODED_WORD;
		return;
	}
	for (i = 0; i < ew->text_len; i++) {
		unsigned char c = (unsigned char)ew->text[i];
		int hi, lo;

		if (c == '_') {
			strbuf_putc(out, ' ');
		} else if (c == '=') {
			hi = i + 1 < ew->text_len ? mime_hex_value((unsigned char)ew->text[i + 1]) : -1;
			lo = i + 2 < ew->text_len ? mime_hex_value((unsigned char)ew->text[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				*flags |= MIME_HDR_BAD_ENCODED_WORD;
				strbuf_putc(out, '=');
			} else {
				strbuf_putc(out, (char)(hi << 4 | lo));
				i += 2;
			}
		} else {
			strbuf_putc(out, (char)c);
		}
	}
}

unsigned int
mime_header_decode(const char *raw, size_t len, struct strbuf *out,
    struct charset_conv **conv_cache)
{
	struct strbuf bytes = { NULL, 0, 0 };	/* decoded words waiting for conversion */
	char bytes_charset[EW_CHARSET_MAX] = "";
	unsigned int flags = 0;
	size_t i = 0, plain = 0, ws = 0;
	int have_ws = 0, last_ew = 0;

	strbuf_reset(out);
	/*
	 * The raw value trimmed, not the decoded one: the blanks an
	 * encoded-word holds ("=?utf-8?q?_hello_?=") are text, as
	 * SpamAssassin's header rules and body text see it.
	 */
	while (len > 0 && (raw[0] == ' ' || raw[0] == '\t' || raw[0] == '\r' || raw[0] == '\n')) {
		raw++;
		len--;
	}
	while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t' || raw[len - 1] == '\r' ||
	    raw[len - 1] == '\n'))
		len--;
	/* plain..i is text not yet copied; ws..i the blanks after a word. */
	while (i < len) {
		struct encoded_word ew;
		int rc;

		if (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\r' || raw[i] == '\n') {
			if (!have_ws) {
				ws = i;
				have_ws = 1;
			}
			i++;
			continue;
		}
		if (raw[i] == '=' && i + 1 < len && raw[i + 1] == '?') {
			rc = ew_parse(raw + i, len - i, &ew);
			if (rc > 0) {
				/* Blanks between two encoded-words are not text. */
				size_t upto = last_ew && have_ws ? ws : i;

				if (!last_ew || plain < upto) {
					if (bytes.len > 0) {
						convert(bytes_charset, bytes.data, bytes.len, out,
						    conv_cache, &flags);
						strbuf_reset(&bytes);
					}
					put_raw(raw + plain, upto - plain, out, &flags);
				}
				if (bytes.len > 0 && str_casecmp(bytes_charset, ew.charset) != 0) {
					convert(bytes_charset, bytes.data, bytes.len, out, conv_cache,
					    &flags);
					strbuf_reset(&bytes);
				}
				str_copy(bytes_charset, ew.charset, sizeof(bytes_charset));
				ew_decode(&ew, &bytes, &flags);
				i += ew.len;
				plain = i;
				last_ew = 1;
				have_ws = 0;
				continue;
			}
			if (rc < 0)
				flags |= MIME_HDR_BAD_ENCODED_WORD;
		}
		/* Ordinary text ends a run of encoded-words. */
		if (bytes.len > 0) {
			convert(bytes_charset, bytes.data, bytes.len, out, conv_cache, &flags);
			strbuf_reset(&bytes);
		}
		last_ew = 0;
		have_ws = 0;
		i++;
	}
	if (bytes.len > 0)
		convert(bytes_charset, bytes.data, bytes.len, out, conv_cache, &flags);
	if (last_ew && have_ws)
		put_raw(raw + ws, len - ws, out, &flags);
	else if (plain < len)
		put_raw(raw + plain, len - plain, out, &flags);
	strbuf_free(&bytes);
	/* A C string too: callers read it with strlen. */
	if (out->data != NULL) {
		strbuf_putc(out, '\0');
		out->len--;
	}
	return flags;
}

/* Skip blanks, line ends and (nested) comments. */
static size_t
skip_cfws(const char *s, size_t len, size_t i)
{
	unsigned int depth = 0;

	while (i < len) {
		char c = s[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			i++;
			continue;
		}
		if (c == '(')
			depth = 1;
		else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
		i++;
	}
	return i;
}

static int
is_token_char(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return 0;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Read a token at i into dst (lower-cased, cut to size); returns the new i. */
static size_t
read_token(const char *s, size_t len, size_t i, char *dst, size_t size)
{
	size_t n = 0;

	while (i < len && is_token_char((unsigned char)s[i])) {
		if (n + 1 < size) {
			char c = s[i];
			dst[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		i++;
	}
	dst[n] = '\0';
	return i;
}

struct raw_param {
	char name[MIME_PARAM_NAME_MAX];	/* without the RFC 2231 suffix */
	int section;			/* -1 when none */
	int extended;			/* "*" at the end: charset'lang'%XX */
	size_t value, value_len;	/* in the scratch buffer */
	int used;
};

/* Split "name*3*" into name, section 3 and extended. */
static void
split_param_name(struct raw_param *rp)
{
	char *star = strchr(rp->name, '*');
	char *p;

	rp->section = -1;
	rp->extended = 0;
	if (star == NULL)
		return;
	*star = '\0';
	p = star + 1;
	if (*p >= '0' && *p <= '9') {
		int sec = 0;

		while (*p >= '0' && *p <= '9') {
			if (sec < 1000)
				sec = sec * 10 + (*p - '0');
			p++;
		}
		rp->section = sec;
		if (*p == '*') {
			rp->extended = 1;
			p++;
		}
	} else if (*p == '\0') {
		rp->extended = 1;
	}
}

/* Percent-decode s onto out. */
static void
pct_decode(const char *s, size_t len, struct strbuf *out, unsigned int *flags)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '%') {
			hi = i + 1 < len ? mime_hex_value((unsigned char)s[i + 1]) : -1;
			lo = i + 2 < len ? mime_hex_value((unsigned char)s[i + 2]) : -1;
			if (hi >= 0 && lo >= 0) {
				strbuf_putc(out, (char)(hi << 4 | lo));
				i += 2;
				continue;
			}
			*flags |= MIME_HDR_BAD_PARAM;
		}
		strbuf_putc(out, s[i]);
	}
}

static void
params_add(struct mime_params *params, const char *name, const char *value, size_t value_len,
    unsigned int *flags)
{
	struct mime_param *mp;

	if (mime_params_get(params, name) != NULL) {
		/* Two boundaries or filenames: parsers disagree on which wins. */
		*flags |= MIME_HDR_BAD_PARAM;
		return;
	}
	if (params->n >= MIME_PARAMS_MAX) {
		*flags |= MIME_HDR_BAD_PARAM;
		return;
	}
	if (value_len > MIME_PARAM_VALUE_MAX)
		value_len = MIME_PARAM_VALUE_MAX;
	params->v = xrealloc(params->v, (params->n + 1) * sizeof(*params->v));
	mp = &params->v[params->n++];
	mp->name = xstrdup(name);
	mp->value = xstrndup(value, value_len);
}

/* Join the RFC 2231 sections of raw[first]'s name into one UTF-8 value. */
static void
assemble_2231(struct raw_param *raw, unsigned int nraw, unsigned int first, const char *scratch,
    struct mime_params *params, struct charset_conv **conv_cache, unsigned int *flags)
{
	struct strbuf bytes = { NULL, 0, 0 }, utf8 = { NULL, 0, 0 };
	char charset[EW_CHARSET_MAX] = "";
	const char *name = raw[first].name;
	unsigned int j, sec;
	int have_charset = 0;

	/* The sections in order, the lowest left each turn (at most 32 of them). */
	for (sec = 0;; sec++) {
		struct raw_param *rp = NULL;
		const char *v;
		size_t vlen;
		int rsec = 0;

		for (j = first; j < nraw; j++) {
			int s = raw[j].section < 0 ? 0 : raw[j].section;

			if (raw[j].used || strcmp(raw[j].name, name) != 0 ||
			    (raw[j].section < 0 && !raw[j].extended))
				continue;
			if (rp == NULL || s < rsec) {
				rp = &raw[j];
				rsec = s;
			}
		}
		if (rp == NULL)
			break;
		if (rsec != (int)sec) {
			/* A gap or a repeated section: decode what there is. */
			*flags |= MIME_HDR_BAD_PARAM;
			sec = (unsigned int)rsec;
		}
		rp->used = 1;
		v = scratch + rp->value;
		vlen = rp->value_len;
		if (rp->extended && !have_charset && bytes.len == 0) {
			/* charset'language'value */
			const char *q1 = memchr(v, '\'', vlen);
			const char *q2 = q1 != NULL ? memchr(q1 + 1, '\'',
			    vlen - (size_t)(q1 + 1 - v)) : NULL;

			if (q2 != NULL) {
				size_t cl = (size_t)(q1 - v);
				if (cl >= sizeof(charset))
					cl = sizeof(charset) - 1;
				memcpy(charset, v, cl);
				charset[cl] = '\0';
				have_charset = 1;
				vlen -= (size_t)(q2 + 1 - v);
				v = q2 + 1;
			} else if (rsec == 0) {
				*flags |= MIME_HDR_BAD_PARAM;
			}
		}
		if (rp->extended)
			pct_decode(v, vlen, &bytes, flags);
		else
			strbuf_append(&bytes, v, vlen);
	}
	/* Sections beyond a gap, and a plain value beside the RFC 2231 one. */
	for (j = first; j < nraw; j++) {
		if (!raw[j].used && strcmp(raw[j].name, name) == 0) {
			if (raw[j].section >= 0)
				*flags |= MIME_HDR_BAD_PARAM;
			raw[j].used = 1;
		}
	}
	if (have_charset)
		convert(charset, bytes.data != NULL ? bytes.data : "", bytes.len, &utf8, conv_cache,
		    flags);
	else
		charset_raw_to_utf8(bytes.data != NULL ? bytes.data : "", bytes.len, &utf8);
	params_add(params, name, utf8.data != NULL ? utf8.data : "", utf8.len, flags);
	strbuf_free(&bytes);
	strbuf_free(&utf8);
}

unsigned int
mime_header_parse_type(const char *s, size_t len, char *type, size_t type_size, char *subtype,
    size_t subtype_size, struct mime_params *params, struct charset_conv **conv_cache)
{
	struct raw_param raw[MIME_PARAMS_MAX];
	struct strbuf scratch = { NULL, 0, 0 };
	unsigned int flags = 0, nraw = 0, j;
	size_t i;

	i = skip_cfws(s, len, 0);
	i = read_token(s, len, i, type, type_size);
	if (subtype != NULL) {
		subtype[0] = '\0';
		i = skip_cfws(s, len, i);
		if (i < len && s[i] == '/') {
			i = skip_cfws(s, len, i + 1);
			i = read_token(s, len, i, subtype, subtype_size);
		}
		if (type[0] == '\0' || subtype[0] == '\0')
			flags |= MIME_HDR_BAD_SYNTAX;
	} else if (type[0] == '\0') {
		flags |= MIME_HDR_BAD_SYNTAX;
	}
	strbuf_reserve(&scratch, 256);
	while (i < len) {
		struct raw_param *rp;
		size_t vstart;

		i = skip_cfws(s, len, i);
		if (i >= len)
			break;
		if (s[i] == ';') {
			i++;
			continue;
		}
		if (!is_token_char((unsigned char)s[i])) {
			flags |= MIME_HDR_BAD_PARAM;
			i++;
			continue;
		}
		if (nraw >= MIME_PARAMS_MAX) {
			flags |= MIME_HDR_BAD_PARAM;
			break;
		}
		rp = &raw[nraw];
		memset(rp, 0, sizeof(*rp));
		i = read_token(s, len, i, rp->name, sizeof(rp->name));
		i = skip_cfws(s, len, i);
		if (i >= len || s[i] != '=') {
			flags |= MIME_HDR_BAD_PARAM;
			continue;
		}
		i = skip_cfws(s, len, i + 1);
		vstart = scratch.len;
		if (i < len && s[i] == '"') {
			int closed = 0;

			for (i++; i < len; i++) {
				if (s[i] == '"') {
					closed = 1;
					i++;
					break;
				}
				if (s[i] == '\\' && i + 1 < len)
					i++;
				if (s[i] == '\r' || s[i] == '\n')
					continue;	/* folded inside the quotes */
				if (scratch.len - vstart < MIME_PARAM_VALUE_MAX)
					strbuf_putc(&scratch, s[i]);
			}
			if (!closed)
				flags |= MIME_HDR_BAD_PARAM;
		} else {
			/* Unquoted: a token, read leniently up to ";" or a blank. */
			while (i < len && s[i] != ';' && s[i] != ' ' && s[i] != '\t' &&
			    s[i] != '\r' && s[i] != '\n') {
				if (scratch.len - vstart < MIME_PARAM_VALUE_MAX)
					strbuf_putc(&scratch, s[i]);
				i++;
			}
		}
		rp->value = vstart;
		rp->value_len = scratch.len - vstart;
		split_param_name(rp);
		nraw++;
	}
	for (j = 0; j < nraw; j++) {
		struct raw_param *rp = &raw[j];
		unsigned int k;
		int is_2231 = 0;

		if (rp->used)
			continue;
		for (k = j; k < nraw; k++) {
			if (strcmp(raw[k].name, rp->name) == 0 &&
			    (raw[k].section >= 0 || raw[k].extended))
				is_2231 = 1;
		}
		if (is_2231) {
			assemble_2231(raw, nraw, j, scratch.data, params, conv_cache, &flags);
		} else {
			struct strbuf v = { NULL, 0, 0 };
			const char *val = scratch.data + rp->value;

			rp->used = 1;
			/* Encoded-words in parameters are not standard, but common. */
			if (memmem(val, rp->value_len, "=?", 2) != NULL)
				flags |= mime_header_decode(val, rp->value_len, &v, conv_cache);
			else
				charset_raw_to_utf8(val, rp->value_len, &v);
			params_add(params, rp->name, v.data != NULL ? v.data : "", v.len, &flags);
			strbuf_free(&v);
		}
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			flags |= MIME_HDR_8BIT;
	}
	strbuf_free(&scratch);
	return flags;
}
