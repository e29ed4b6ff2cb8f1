/* SPDX-License-Identifier: MIT */
/*
 * mime - streaming MIME parser.  See mime.h.
 *
 * Input is cut into lines first (a line longer than max_line into pieces
 * of max_line bytes), in place where a whole line is in the caller's
 * chunk and through one line buffer where it is not, so that the same
 * message gives the same results however it is cut.  Each line is then
 * checked against the boundaries of the open multiparts, innermost first
 * (at most max_depth comparisons of at most BOUNDARY_MAX bytes), and
 * handed to the state of the current part: headers, body, preamble or
 * epilogue.  Nesting is a stack of levels bounded by max_depth: nothing
 * here recurses.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/charset.h"
#include "filter/html_text.h"
#include "filter/mime.h"
#include "filter/mime_decode.h"
#include "filter/strbuf.h"
#include "filter/url_list.h"

/* RFC 2046 allows 70; longer ones are rare but seen, much longer is abuse. */
#define BOUNDARY_MAX 256
#define RFC_LINE_MAX 998

enum parser_state {
	PS_HEADERS,	/* cur's header block */
	PS_BODY,	/* cur's body: a leaf */
	PS_PREAMBLE,	/* before the first boundary of the innermost multipart */
	PS_EPILOGUE,	/* after its close delimiter */
	PS_SKIP,	/* a part past max_parts, up to the next boundary */
};

struct mime_level {
	struct mime_part *part;
	char *boundary;		/* NULL for message/rfc822 */
	size_t boundary_len;
	int closed;
	unsigned int children;
};

struct mime_parser {
	struct mime_limits limits;
	struct mime_callbacks cb;
	int finished;

	/* Line assembly. */
	char *line;
	size_t line_len;
	int line_cont;		/* the next piece continues a cut line */
	int first_line;

	/* Header assembly of cur. */
	struct strbuf hdr;
	size_t hdr_block;
	int hdr_overflow;
	int have_ct, have_cte, have_cd;

	enum parser_state state;
	struct mime_part *cur;
	struct mime_level *levels;
	unsigned int nlevels;
	struct mime_part **parts;
	unsigned int nparts, parts_size;

	/* Body decoding of cur. */
	struct base64_decoder b64;
	struct qp_decoder qp;
	struct charset_conv *conv;
	struct html_text html;
	struct url_scan scan;
	int text_skip_lf;
	/*
	 * The line end of a part's last line belongs to the boundary after it
	 * (RFC 2046 5.1.1): each line's end is held until the part's next
	 * line, dropped at a boundary, given at the end of the message.
	 */
	char held_eol[2];
	size_t held_eol_len;

	struct strbuf decoded, text, rendered, hvalue;
	struct charset_conv *hconv;
	struct url_list urls;

	uint32_t anomalies;
	unsigned int counts[MIME_ANOMALY_COUNT];
	uint64_t crlf_lines, lf_lines;
};

static const char *const anomaly_names[MIME_ANOMALY_COUNT] = {
	[MIME_MISSING_BOUNDARY] = "MIME_MISSING_BOUNDARY",
	[MIME_UNCLOSED_MULTIPART] = "MIME_UNCLOSED_MULTIPART",
	[MIME_EMPTY_MULTIPART] = "MIME_EMPTY_MULTIPART",
	[MIME_BOUNDARY_PREFIX] = "MIME_BOUNDARY_PREFIX",
	[MIME_TOO_DEEP] = "MIME_TOO_DEEP",
	[MIME_TOO_MANY_PARTS] = "MIME_TOO_MANY_PARTS",
	[MIME_HEADER_TOO_LONG] = "MIME_HEADER_TOO_LONG",
	[MIME_LINE_TOO_LONG] = "MIME_LINE_TOO_LONG",
	[MIME_HEADER_NO_COLON] = "MIME_HEADER_NO_COLON",
	[MIME_8BIT_HEADER] = "MIME_8BIT_HEADER",
	[MIME_NUL_BYTE] = "MIME_NUL_BYTE",
	[MIME_BARE_CR_LF] = "MIME_BARE_CR_LF",
	[MIME_BAD_BASE64] = "MIME_BAD_BASE64",
	[MIME_BAD_QP] = "MIME_BAD_QP",
	[MIME_UNKNOWN_ENCODING] = "MIME_UNKNOWN_ENCODING",
	[MIME_BAD_CHARSET] = "MIME_BAD_CHARSET",
	[MIME_CHARSET_ERROR] = "MIME_CHARSET_ERROR",
	[MIME_BAD_ENCODED_WORD] = "MIME_BAD_ENCODED_WORD",
	[MIME_BAD_CONTENT_TYPE] = "MIME_BAD_CONTENT_TYPE",
	[MIME_BAD_PARAMETER] = "MIME_BAD_PARAMETER",
	[MIME_DUPLICATE_HEADER] = "MIME_DUPLICATE_HEADER",
	[MIME_TOO_MANY_URLS] = "MIME_TOO_MANY_URLS",
};

const char *
mime_anomaly_name(enum mime_anomaly a)
{
	if ((unsigned int)a >= MIME_ANOMALY_COUNT)
		return "MIME_?";
	return anomaly_names[a];
}

size_t
mime_anomalies_str(uint32_t mask, char *buf, size_t size)
{
	size_t n = 0;
	unsigned int a;

	if (size > 0)
		buf[0] = '\0';
	for (a = 0; a < MIME_ANOMALY_COUNT; a++) {
		int w;

		if ((mask & MIME_BIT(a)) == 0)
			continue;
		w = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "%s%s",
		    n > 0 ? "," : "", anomaly_names[a]);
		if (w > 0)
			n += (size_t)w;
	}
	return n;
}

void
mime_limits_default(struct mime_limits *limits_r)
{
	limits_r->max_depth = MIME_DEFAULT_MAX_DEPTH;
	limits_r->max_parts = MIME_DEFAULT_MAX_PARTS;
	limits_r->max_header_block = MIME_DEFAULT_MAX_HEADER_BLOCK;
	limits_r->max_line = MIME_DEFAULT_MAX_LINE;
	limits_r->max_urls = MIME_DEFAULT_MAX_URLS;
}

static void
anomaly(struct mime_parser *p, struct mime_part *part, enum mime_anomaly a)
{
	p->anomalies |= MIME_BIT(a);
	p->counts[a]++;
	if (part != NULL)
		part->anomalies |= MIME_BIT(a);
}

static void
header_flags(struct mime_parser *p, struct mime_part *part, unsigned int flags)
{
	if (flags & MIME_HDR_BAD_ENCODED_WORD)
		anomaly(p, part, MIME_BAD_ENCODED_WORD);
	if (flags & MIME_HDR_BAD_CHARSET)
		anomaly(p, part, MIME_BAD_CHARSET);
	if (flags & MIME_HDR_CHARSET_ERROR)
		anomaly(p, part, MIME_CHARSET_ERROR);
	if (flags & MIME_HDR_8BIT)
		anomaly(p, part, MIME_8BIT_HEADER);
	if (flags & MIME_HDR_NUL)
		anomaly(p, part, MIME_NUL_BYTE);
	if (flags & MIME_HDR_BAD_PARAM)
		anomaly(p, part, MIME_BAD_PARAMETER);
	if (flags & MIME_HDR_BAD_SYNTAX)
		anomaly(p, part, MIME_BAD_CONTENT_TYPE);
}

struct mime_parser *
mime_parser_new(const struct mime_limits *limits, const struct mime_callbacks *callbacks)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	if (limits != NULL)
		p->limits = *limits;
	else
		mime_limits_default(&p->limits);
	if (callbacks != NULL)
		p->cb = *callbacks;
	/* Lines must hold any boundary line and any RFC line. */
	if (p->limits.max_line < 1024)
		p->limits.max_line = 1024;
	if (p->limits.max_depth < 1)
		p->limits.max_depth = 1;
	if (p->limits.max_parts < 1)
		p->limits.max_parts = 1;
	if (p->limits.max_header_block < 1024)
		p->limits.max_header_block = 1024;
	p->line = xmalloc(p->limits.max_line);
	p->levels = xcalloc(p->limits.max_depth, sizeof(*p->levels));
	strbuf_reserve(&p->decoded, p->limits.max_line + 16);
	url_list_init(&p->urls, p->limits.max_urls);
	p->first_line = 1;
	p->parts_size = 16;
	p->parts = xcalloc(p->parts_size, sizeof(*p->parts));
	p->cur = xcalloc(1, sizeof(*p->cur));
	p->cur->parent = -1;
	p->parts[p->nparts++] = p->cur;
	p->state = PS_HEADERS;
	return p;
}

static void
part_free(struct mime_part *part)
{
	mime_params_free(&part->params);
	mime_params_free(&part->disposition_params);
	free(part);
}

void
mime_parser_free(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;
	unsigned int i;

	if (p == NULL)
		return;
	*pp = NULL;
	for (i = 0; i < p->nparts; i++)
		part_free(p->parts[i]);
	for (i = 0; i < p->nlevels; i++)
		free(p->levels[i].boundary);
	free(p->parts);
	free(p->levels);
	free(p->line);
	charset_conv_free(&p->conv);
	charset_conv_free(&p->hconv);
	strbuf_free(&p->hdr);
	strbuf_free(&p->decoded);
	strbuf_free(&p->text);
	strbuf_free(&p->rendered);
	html_text_free(&p->html);
	strbuf_free(&p->hvalue);
	url_list_free(&p->urls);
	free(p);
}

unsigned int
mime_parser_part_count(const struct mime_parser *p)
{
	return p->nparts;
}

const struct mime_part *
mime_parser_part(const struct mime_parser *p, unsigned int i)
{
	return i < p->nparts ? p->parts[i] : NULL;
}

unsigned int
mime_parser_url_count(const struct mime_parser *p)
{
	return (unsigned int)p->urls.set.n;
}

const char *
mime_parser_url(const struct mime_parser *p, unsigned int i)
{
	return i < p->urls.set.n ? p->urls.set.v[i] : NULL;
}

uint32_t
mime_parser_anomalies(const struct mime_parser *p)
{
	return p->anomalies;
}

unsigned int
mime_parser_anomaly_count(const struct mime_parser *p, enum mime_anomaly a)
{
	return (unsigned int)a < MIME_ANOMALY_COUNT ? p->counts[a] : 0;
}

const char *
mime_part_param(const struct mime_part *part, const char *name)
{
	return mime_params_get(&part->params, name);
}

/* A new part inside parent; NULL (and the anomaly) past max_parts. */
static struct mime_part *
part_new(struct mime_parser *p, struct mime_part *parent)
{
	struct mime_part *part;

	if (p->nparts >= p->limits.max_parts) {
		anomaly(p, parent, MIME_TOO_MANY_PARTS);
		return NULL;
	}
	if (p->nparts == p->parts_size) {
		p->parts_size *= 2;
		p->parts = xrealloc(p->parts, p->parts_size * sizeof(*p->parts));
	}
	part = xcalloc(1, sizeof(*part));
	part->index = p->nparts;
	part->parent = (int)parent->index;
	part->depth = parent->depth + 1;
	p->parts[p->nparts++] = part;
	return part;
}

static void
start_headers(struct mime_parser *p, struct mime_part *part)
{
	p->cur = part;
	p->state = PS_HEADERS;
	strbuf_reset(&p->hdr);
	p->hdr_block = 0;
	p->hdr_overflow = 0;
	p->have_ct = p->have_cte = p->have_cd = 0;
}

/* ---- URLs ---- */

static void
url_found(void *context, const char *url, size_t len)
{
	struct mime_parser *p = context;
	int rc = url_list_add(&p->urls, url, len);

	if (rc > 0 && p->cb.url != NULL)
		p->cb.url(p->cb.context, p->cur, url, len);
	else if (rc < 0)
		anomaly(p, p->cur, MIME_TOO_MANY_URLS);
}

static void
html_url(void *context, const char *url, size_t len)
{
	size_t start, n;

	/* Relative links and javascript: are not URLs for the URI rules. */
	n = url_find(url, len, &start);
	if (n > 0)
		url_found(context, url + start, n);
}

/* ---- Body of a leaf ---- */

/* Line ends become "\n" (CRLF, and a bare CR too), in place. */
static void
text_newlines(struct mime_parser *p, struct strbuf *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->len; i++) {
		char c = t->data[i];

		if (c == '\n' && p->text_skip_lf) {
			p->text_skip_lf = 0;
			continue;
		}
		p->text_skip_lf = 0;
		if (c == '\r') {
			c = '\n';
			p->text_skip_lf = 1;
		}
		t->data[n++] = c;
	}
	t->len = n;
	if (t->data != NULL)
		t->data[n] = '\0';
}

static void
text_feed(struct mime_parser *p, const void *data, size_t len, int final)
{
	struct mime_part *part = p->cur;
	struct strbuf *out;

	strbuf_reset(&p->text);
	if (charset_conv_feed(p->conv, data, len, &p->text, final) > 0)
		anomaly(p, part, MIME_CHARSET_ERROR);
	text_newlines(p, &p->text);
	out = &p->text;
	if (part->is_html) {
		strbuf_reset(&p->rendered);
		html_text_feed(&p->html, p->text.data != NULL ? p->text.data : "", p->text.len,
		    &p->rendered);
		if (final)
			html_text_finish(&p->html, &p->rendered);
		out = &p->rendered;
	}
	if (out->len > 0) {
		url_scan_feed(&p->scan, out->data, out->len, url_found, p);
		part->text_size += out->len;
		if (p->cb.text != NULL)
			p->cb.text(p->cb.context, part, out->data, out->len);
	}
	if (final)
		url_scan_finish(&p->scan, url_found, p);
}

static void
body_data(struct mime_parser *p, const void *data, size_t len)
{
	struct mime_part *part = p->cur;

	if (len == 0)
		return;
	part->decoded_size += len;
	if (p->cb.raw_body != NULL)
		p->cb.raw_body(p->cb.context, part, data, len);
	if (part->is_attachment && p->cb.attachment != NULL)
		p->cb.attachment(p->cb.context, part, data, len);
	if (part->is_text)
		text_feed(p, data, len, 0);
}

static void
held_eol_set(struct mime_parser *p, const char *eol, size_t n)
{
	memcpy(p->held_eol, eol, n);
	p->held_eol_len = n;
}

static void
held_eol_flush(struct mime_parser *p)
{
	size_t n = p->held_eol_len;

	p->held_eol_len = 0;
	if (n > 0)
		body_data(p, p->held_eol, n);
}

static void
body_line(struct mime_parser *p, const char *s, size_t len, int has_lf)
{
	struct mime_part *part = p->cur;
	unsigned char *out = (unsigned char *)p->decoded.data;
	size_t n;

	part->raw_size += len;
	held_eol_flush(p);
	switch (part->encoding) {
	case MIME_ENC_BASE64:
		n = base64_decode_feed(&p->b64, s, len, out, 0);
		body_data(p, out, n);
		break;
	case MIME_ENC_QP:
		n = qp_decode_line(&p->qp, s, len, has_lf, out);
		/* a hard line break: its CRLF, written last, is held */
		if (p->qp.hard_break) {
			n -= 2;
			held_eol_set(p, "\r\n", 2);
		}
		body_data(p, out, n);
		break;
	default:
		if (has_lf) {
			size_t eol = len >= 2 && s[len - 2] == '\r' ? 2 : 1;
			held_eol_set(p, s + len - eol, eol);
			len -= eol;
		}
		body_data(p, s, len);
		break;
	}
}

static void
leaf_begin(struct mime_parser *p)
{
	struct mime_part *part = p->cur;
	int known;

	base64_decoder_init(&p->b64);
	qp_decoder_init(&p->qp);
	p->held_eol_len = 0;
	if (part->is_text) {
		charset_conv_free(&p->conv);
		p->conv = charset_conv_new(part->charset, &known);
		if (!known)
			anomaly(p, part, MIME_BAD_CHARSET);
		charset_conv_prefer_utf8(p->conv);
		if (part->is_html)
			html_text_init(&p->html, html_url, p);
		url_scan_init(&p->scan);
		p->text_skip_lf = 0;
	}
	p->state = PS_BODY;
}

static void
leaf_end(struct mime_parser *p)
{
	struct mime_part *part = p->cur;
	unsigned char *out = (unsigned char *)p->decoded.data;
	size_t n = 0;

	if (part->encoding == MIME_ENC_BASE64) {
		n = base64_decode_feed(&p->b64, "", 0, out, 1);
		if (p->b64.bad > 0)
			anomaly(p, part, MIME_BAD_BASE64);
	} else if (part->encoding == MIME_ENC_QP) {
		n = qp_decode_finish(&p->qp, out);
		if (p->qp.bad > 0)
			anomaly(p, part, MIME_BAD_QP);
	}
	body_data(p, out, n);
	if (part->is_text) {
		text_feed(p, "", 0, 1);
		charset_conv_free(&p->conv);
	}
	if (p->cb.part_end != NULL)
		p->cb.part_end(p->cb.context, part);
}

/* ---- Headers ---- */

static void
parse_encoding(struct mime_parser *p, struct mime_part *part, const char *v)
{
	static const struct {
		const char *name;
		enum mime_encoding enc;
	} encs[] = {
		{ "7bit", MIME_ENC_7BIT }, { "8bit", MIME_ENC_8BIT }, { "binary", MIME_ENC_BINARY },
		{ "quoted-printable", MIME_ENC_QP }, { "base64", MIME_ENC_BASE64 },
	};
	char tok[32];
	size_t i = 0, n = 0;

	while (v[i] == ' ' || v[i] == '\t')
		i++;
	while (v[i] != '\0' && v[i] != ' ' && v[i] != '\t' && v[i] != ';' && v[i] != '(' &&
	    n < sizeof(tok) - 1)
		tok[n++] = v[i++];
	tok[n] = '\0';
	for (i = 0; i < sizeof(encs) / sizeof(encs[0]); i++) {
		if (str_casecmp(tok, encs[i].name) == 0) {
			part->encoding = encs[i].enc;
			return;
		}
	}
	part->encoding = MIME_ENC_UNKNOWN;
	anomaly(p, part, MIME_UNKNOWN_ENCODING);
}

/* The field in p->hdr is complete: decode it and learn what MIME says. */
static void
header_flush(struct mime_parser *p)
{
	struct mime_part *part = p->cur;
	struct mime_header h;
	char *data = p->hdr.data, *colon;
	size_t len = p->hdr.len, nlen, vstart;

	if (len == 0)
		return;
	colon = memchr(data, ':', len);
	if (colon == NULL) {
		strbuf_reset(&p->hdr);
		return;
	}
	nlen = (size_t)(colon - data);
	vstart = nlen + 1;
	while (nlen > 0 && (data[nlen - 1] == ' ' || data[nlen - 1] == '\t'))
		nlen--;
	data[nlen] = '\0';
	while (vstart < len && (data[vstart] == ' ' || data[vstart] == '\t'))
		vstart++;
	while (len > vstart && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	data[len] = '\0';
	h.name = data;
	h.raw = data + vstart;
	h.raw_len = len - vstart;
	header_flags(p, part, mime_header_decode(h.raw, h.raw_len, &p->hvalue, &p->hconv));
	h.value = p->hvalue.data != NULL ? p->hvalue.data : "";
	h.value_len = p->hvalue.len;

	if (str_casecmp(h.name, "content-type") == 0) {
		if (p->have_ct) {
			anomaly(p, part, MIME_DUPLICATE_HEADER);
		} else {
			unsigned int f;

			p->have_ct = 1;
			f = mime_header_parse_type(h.raw, h.raw_len, part->type, sizeof(part->type),
			    part->subtype, sizeof(part->subtype), &part->params, &p->hconv);
			header_flags(p, part, f & ~(MIME_HDR_8BIT | MIME_HDR_NUL));
		}
	} else if (str_casecmp(h.name, "content-transfer-encoding") == 0) {
		if (p->have_cte)
			anomaly(p, part, MIME_DUPLICATE_HEADER);
		else
			parse_encoding(p, part, h.value);
		p->have_cte = 1;
	} else if (str_casecmp(h.name, "content-disposition") == 0) {
		if (p->have_cd) {
			anomaly(p, part, MIME_DUPLICATE_HEADER);
		} else {
			char disp[32];
			unsigned int f;

			p->have_cd = 1;
			f = mime_header_parse_type(h.raw, h.raw_len, disp, sizeof(disp), NULL, 0,
			    &part->disposition_params, &p->hconv);
			/* An empty disposition is only a missing one. */
			header_flags(p, part, f & ~(MIME_HDR_8BIT | MIME_HDR_NUL |
			    MIME_HDR_BAD_SYNTAX));
			part->disposition = strcmp(disp, "inline") == 0 ? MIME_DISP_INLINE :
			    strcmp(disp, "attachment") == 0 ? MIME_DISP_ATTACHMENT :
			    disp[0] == '\0' ? MIME_DISP_NONE : MIME_DISP_OTHER;
		}
	}
	if (p->cb.header != NULL)
		p->cb.header(p->cb.context, part, &h);
	strbuf_reset(&p->hdr);
}

static void
header_append(struct mime_parser *p, const char *s, size_t len)
{
	if (p->hdr_overflow)
		return;
	if (p->hdr_block + len > p->limits.max_header_block) {
		anomaly(p, p->cur, MIME_HEADER_TOO_LONG);
		p->hdr_overflow = 1;
		len = p->limits.max_header_block - p->hdr_block;
	}
	strbuf_append(&p->hdr, s, len);
	p->hdr_block += len;
}

static int
boundary_prefixes(const char *a, size_t alen, const char *b, size_t blen)
{
	return memcmp(a, b, alen < blen ? alen : blen) == 0;
}

static void
level_push(struct mime_parser *p, struct mime_part *part, const char *boundary)
{
	struct mime_level *l = &p->levels[p->nlevels];
	unsigned int i;

	memset(l, 0, sizeof(*l));
	l->part = part;
	if (boundary != NULL) {
		l->boundary_len = strlen(boundary);
		l->boundary = xstrdup(boundary);
		for (i = 0; i < p->nlevels; i++) {
			const struct mime_level *o = &p->levels[i];

			/* Readers that match a prefix would see other parts than we do. */
			if (o->boundary != NULL && boundary_prefixes(o->boundary, o->boundary_len,
			    boundary, l->boundary_len))
				anomaly(p, part, MIME_BOUNDARY_PREFIX);
		}
	}
	p->nlevels++;
}

/*
 * The header block of cur is over.  no_body: a boundary ended it, so the
 * part is empty whatever its type says.
 */
static void
headers_end(struct mime_parser *p, int no_body)
{
	struct mime_part *part = p->cur, *parent;
	const char *fn;
	int can_nest;

	header_flush(p);
	parent = part->parent >= 0 ? p->parts[part->parent] : NULL;
	if (part->type[0] == '\0' || part->subtype[0] == '\0') {
		if (parent != NULL && strcmp(parent->type, "multipart") == 0 &&
		    strcmp(parent->subtype, "digest") == 0) {
			strcpy(part->type, "message");
			strcpy(part->subtype, "rfc822");
		} else {
			strcpy(part->type, "text");
			strcpy(part->subtype, "plain");
		}
	}
	part->charset = mime_params_get(&part->params, "charset");
	if (part->charset == NULL)
		part->charset = "";
	part->boundary = mime_params_get(&part->params, "boundary");
	fn = mime_params_get(&part->disposition_params, "filename");
	part->filename = fn != NULL ? fn : mime_params_get(&part->params, "name");

	can_nest = !no_body && p->nlevels < p->limits.max_depth;
	if (strcmp(part->type, "multipart") == 0) {
		if (part->boundary == NULL || part->boundary[0] == '\0' ||
		    strlen(part->boundary) > BOUNDARY_MAX) {
			anomaly(p, part, MIME_MISSING_BOUNDARY);
			part->is_text = 1;
		} else if (!no_body && !can_nest) {
			anomaly(p, part, MIME_TOO_DEEP);
		} else if (!no_body) {
			part->is_multipart = 1;
			level_push(p, part, part->boundary);
			if (p->cb.part_begin != NULL)
				p->cb.part_begin(p->cb.context, part);
			p->state = PS_PREAMBLE;
			return;
		}
	} else if (strcmp(part->type, "message") == 0 &&
	    (strcmp(part->subtype, "rfc822") == 0 || strcmp(part->subtype, "global") == 0) &&
	    (part->encoding == MIME_ENC_7BIT || part->encoding == MIME_ENC_8BIT ||
	    part->encoding == MIME_ENC_BINARY)) {
		if (!no_body && !can_nest) {
			anomaly(p, part, MIME_TOO_DEEP);
		} else if (!no_body) {
			struct mime_part *child;

			part->is_message = 1;
			level_push(p, part, NULL);
			if (p->cb.part_begin != NULL)
				p->cb.part_begin(p->cb.context, part);
			child = part_new(p, part);
			if (child == NULL) {
				p->cur = NULL;
				p->state = PS_SKIP;
			} else {
				p->levels[p->nlevels - 1].children++;
				start_headers(p, child);
			}
			return;
		}
	} else if (strcmp(part->type, "text") == 0) {
		part->is_text = 1;
		part->is_html = strcmp(part->subtype, "html") == 0;
	}
	/* Whatever its type, a part named like a web page is read as one. */
	if (mime_name_is_html(part->filename))
		part->is_text = part->is_html = 1;
	part->is_attachment = !part->is_text || part->filename != NULL ||
	    part->disposition == MIME_DISP_ATTACHMENT;
	if (p->cb.part_begin != NULL)
		p->cb.part_begin(p->cb.context, part);
	leaf_begin(p);
}

static int
is_field_name(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t i, n;

	if (colon == NULL || colon == s)
		return 0;
	n = (size_t)(colon - s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127)
			return 0;
	}
	return 1;
}

/*
 * A line of cur's header block.  Returns 1 when the line ended the block
 * without being a header (it then belongs to the body), 0 otherwise.
 */
static int
header_line(struct mime_parser *p, const char *s, size_t len, size_t content_len, int at_start)
{
	if (!at_start) {
		header_append(p, s, len);
		return 0;
	}
	if (content_len == 0) {
		headers_end(p, 0);
		return 0;
	}
	if (p->first_line && p->cur->index == 0 && len >= 5 && memcmp(s, "From ", 5) == 0)
		return 0;	/* mbox separator of a message read from a file */
	if (s[0] == ' ' || s[0] == '\t') {
		if (p->hdr.len > 0) {
			header_append(p, s, len);
			return 0;
		}
	} else if (is_field_name(s, content_len)) {
		header_flush(p);
		if (!p->hdr_overflow)
			header_append(p, s, len);
		return 0;
	}
	anomaly(p, p->cur, MIME_HEADER_NO_COLON);
	headers_end(p, 0);
	return 1;
}

/* ---- Boundaries ---- */

/* The level whose boundary line s is (-1 if none); *close_r for "--b--". */
static int
boundary_match(struct mime_parser *p, const char *s, size_t content_len, int *close_r)
{
	unsigned int i = p->nlevels;

	while (i-- > 0) {
		const struct mime_level *l = &p->levels[i];
		size_t rest, j;

		if (l->boundary == NULL || l->closed || content_len < 2 + l->boundary_len ||
		    memcmp(s + 2, l->boundary, l->boundary_len) != 0)
			continue;
		j = 2 + l->boundary_len;
		*close_r = content_len >= j + 2 && s[j] == '-' && s[j + 1] == '-';
		if (*close_r)
			j += 2;
		/* Transport padding only after the boundary. */
		for (rest = j; rest < content_len; rest++) {
			if (s[rest] != ' ' && s[rest] != '\t')
				break;
		}
		if (rest == content_len)
			return (int)i;
	}
	return -1;
}

/* End whatever part is being read (not a container on the stack). */
static void
end_current(struct mime_parser *p)
{
	switch (p->state) {
	case PS_HEADERS:
		headers_end(p, 1);
		leaf_end(p);
		break;
	case PS_BODY:
		leaf_end(p);
		break;
	default:
		break;
	}
}

static void
level_pop(struct mime_parser *p)
{
	struct mime_level *l = &p->levels[--p->nlevels];

	if (l->boundary != NULL && !l->closed) {
		anomaly(p, l->part, MIME_UNCLOSED_MULTIPART);
		if (l->children == 0)
			anomaly(p, l->part, MIME_EMPTY_MULTIPART);
	}
	if (p->cb.part_end != NULL)
		p->cb.part_end(p->cb.context, l->part);
	free(l->boundary);
	l->boundary = NULL;
}

static void
on_boundary(struct mime_parser *p, unsigned int level, int close)
{
	struct mime_level *l;
	struct mime_part *part;

	p->held_eol_len = 0;	/* the line end before a boundary is the boundary's */
	end_current(p);
	while (p->nlevels > level + 1)
		level_pop(p);
	l = &p->levels[level];
	if (close) {
		l->closed = 1;
		if (l->children == 0)
			anomaly(p, l->part, MIME_EMPTY_MULTIPART);
		p->cur = l->part;
		p->state = PS_EPILOGUE;
		return;
	}
	l->children++;
	part = part_new(p, l->part);
	if (part == NULL) {
		p->cur = NULL;
		p->state = PS_SKIP;
		return;
	}
	start_headers(p, part);
}

/* ---- Lines ---- */

static void
process_line(struct mime_parser *p, const char *s, size_t len, int complete)
{
	int at_start = !p->line_cont;
	int has_lf = len > 0 && s[len - 1] == '\n';
	size_t content_len = len, i;
	int level, close;

	p->line_cont = !complete;
	if (has_lf) {
		content_len--;
		if (content_len > 0 && s[content_len - 1] == '\r') {
			content_len--;
			p->crlf_lines++;
		} else {
			p->lf_lines++;
		}
	}
	if (!complete || content_len > RFC_LINE_MAX)
		anomaly(p, p->cur, MIME_LINE_TOO_LONG);
	for (i = 0; i < content_len; i++) {
		/* Rare bytes: one pass, tested only when the cheap test hits. */
		if ((unsigned char)s[i] <= '\r') {
			if (s[i] == '\0')
				anomaly(p, p->cur, MIME_NUL_BYTE);
			else if (s[i] == '\r' && (complete || i + 1 < content_len))
				anomaly(p, p->cur, MIME_BARE_CR_LF);
		}
	}
	if (at_start && complete && p->nlevels > 0 && content_len >= 2 && s[0] == '-' &&
	    s[1] == '-') {
		level = boundary_match(p, s, content_len, &close);
		if (level >= 0) {
			on_boundary(p, (unsigned int)level, close);
			p->first_line = 0;
			return;
		}
	}
	/* Each turn either takes the line or ends a header block: bounded by the depth. */
	for (;;) {
		switch (p->state) {
		case PS_HEADERS:
			if (header_line(p, s, len, content_len, at_start))
				continue;	/* the line opens the body */
			break;
		case PS_BODY:
			body_line(p, s, len, has_lf);
			break;
		default:
			break;	/* preamble, epilogue, skipped part */
		}
		break;
	}
	p->first_line = 0;
}

void
mime_parser_feed(struct mime_parser *p, const void *data, size_t len)
{
	const char *s = data;
	size_t max = p->limits.max_line;

	if (p->finished)
		return;
	while (len > 0) {
		const char *nl;
		size_t take;

		if (p->line_len > 0) {
			take = max - p->line_len < len ? max - p->line_len : len;
			nl = memchr(s, '\n', take);
			if (nl != NULL)
				take = (size_t)(nl - s) + 1;
			memcpy(p->line + p->line_len, s, take);
			p->line_len += take;
			s += take;
			len -= take;
			if (nl != NULL || p->line_len == max) {
				size_t n = p->line_len;

				p->line_len = 0;
				process_line(p, p->line, n, nl != NULL);
			}
			continue;
		}
		take = len < max ? len : max;
		nl = memchr(s, '\n', take);
		if (nl != NULL) {
			take = (size_t)(nl - s) + 1;
			process_line(p, s, take, 1);
		} else if (len >= max) {
			process_line(p, s, max, 0);
		} else {
			memcpy(p->line, s, len);
			p->line_len = len;
			take = len;
		}
		s += take;
		len -= take;
	}
}

void
mime_parser_finish(struct mime_parser *p)
{
	if (p->finished)
		return;
	if (p->line_len > 0) {
		size_t n = p->line_len;

		p->line_len = 0;
		process_line(p, p->line, n, 1);
	}
	if (p->state == PS_BODY)
		held_eol_flush(p);
	p->held_eol_len = 0;
	end_current(p);
	while (p->nlevels > 0)
		level_pop(p);
	if (p->crlf_lines > 0 && p->lf_lines > 0)
		anomaly(p, NULL, MIME_BARE_CR_LF);
	p->finished = 1;
}

int
mime_part_is_body_text(const struct mime_part *part)
{
	if (!part->is_text)
		return 0;
	return part->is_html || strcmp(part->type, "text") != 0 ||
	    strcmp(part->subtype, "plain") == 0;
}

int
mime_part_is_raw_text(const struct mime_part *part)
{
	if (part->is_text)
		return strcmp(part->type, "text") != 0 || strcmp(part->subtype, "calendar") != 0 ||
		    part->is_html;
	return strcmp(part->type, "message") == 0;
}

int
mime_name_is_html(const char *name)
{
	size_t n;

	if (name == NULL)
		return 0;
	n = strlen(name);
	if (n >= 4 && str_casecmp(name + n - 4, ".htm") == 0)
		return 1;
	if (n >= 5 && (str_casecmp(name + n - 5, ".html") == 0 ||
	    str_casecmp(name + n - 5, ".shtm") == 0))
		return 1;
	return n >= 6 && str_casecmp(name + n - 6, ".shtml") == 0;
}
