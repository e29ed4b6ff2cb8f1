/* SPDX-License-Identifier: MIT */
/*
 * imap_message - a message's structure as IMAP serves it.  See
 * imap_message.h.
 *
 * The structure is computed each time a command needs it rather than
 * cached in the index: parsing is one pass over bytes already mapped,
 * far cheaper than the network write of the same bytes, and nothing can
 * go stale.  The filter's streaming MIME parser reports decoded text and
 * sizes, not the byte offsets sections are cut at, so the structure has
 * its own small parser here; the filter's transfer decoders and charset
 * converters are reused for BINARY and for SEARCH's text.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filter/charset.h"
#include "filter/mime_decode.h"
#include "filter/strbuf.h"
#include "lib/mem.h"
#include "store/imap_message.h"

#define PART_MAX_DEPTH 20
#define PART_MAX 500

struct mparam {
	char *name;
	char *value;
};

struct mpart {
	size_t hdr, hdr_len;
	size_t body, body_len;
	uint32_t lines;
	char *type, *subtype;
	struct mparam *params;
	unsigned int nparams;
	char *id, *description, *encoding, *md5, *language, *location;
	char *disposition;
	struct mparam *dparams;
	unsigned int ndparams;
	struct mpart *children;
	unsigned int nchildren;
	struct mpart *message;	/* message/rfc822: the message inside */
	int multipart;
};

struct imap_message {
	const char *data;
	size_t len;
	void *map;
	size_t maplen;
	unsigned int nparts;
	struct mpart root;
};

/* ---- header fields ---- */

/* Where the header block starting at start ends: offset of the body. */
static size_t
header_end(const char *d, size_t start, size_t end)
{
	size_t p = start;

	while (p < end) {
		const char *lf = memchr(d + p, '\n', end - p);
		if (d[p] == '\n')
			return p + 1;
		if (d[p] == '\r' && p + 1 < end && d[p + 1] == '\n')
			return p + 2;
		if (lf == NULL)
			return end;
		p = (size_t)(lf - d) + 1;
	}
	return end;
}

/*
 * The next field of the header block [*pos, end): its name and raw value
 * (folding included), and where the whole field starts and ends.
 * 0 at the end.
 */
static int
field_next(const char *d, size_t *pos, size_t end, const char **name_r, size_t *nlen_r,
    const char **value_r, size_t *vlen_r, size_t *fstart_r)
{
	size_t p = *pos;

	for (;;) {
		size_t line_end, colon;
		const char *lf;

		if (p >= end || d[p] == '\n' || (d[p] == '\r' && p + 1 < end && d[p + 1] == '\n'))
			return 0;
		lf = memchr(d + p, '\n', end - p);
		line_end = lf != NULL ? (size_t)(lf - d) + 1 : end;
		/* A stray continuation line or a line without a colon: skipped. */
		for (colon = p; colon < line_end && d[colon] != ':' && d[colon] != '\n'; colon++)
			;
		if (d[p] == ' ' || d[p] == '\t' || colon >= line_end || d[colon] != ':') {
			p = line_end;
			continue;
		}
		*fstart_r = p;
		*name_r = d + p;
		*nlen_r = colon - p;
		while (*nlen_r > 0 && (d[p + *nlen_r - 1] == ' ' || d[p + *nlen_r - 1] == '\t'))
			(*nlen_r)--;
		/* Continuation lines start with a blank. */
		while (line_end < end && (d[line_end] == ' ' || d[line_end] == '\t')) {
			lf = memchr(d + line_end, '\n', end - line_end);
			line_end = lf != NULL ? (size_t)(lf - d) + 1 : end;
		}
		*value_r = d + colon + 1;
		*vlen_r = line_end - colon - 1;
		*pos = line_end;
		return 1;
	}
}

/* Unfold and trim a raw value; malloc'd. */
static char *
unfold(const char *v, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		*o++ = v[i] == '\0' ? ' ' : v[i];
	}
	*o = '\0';
	o = out;
	while (*o == ' ' || *o == '\t')
		o++;
	memmove(out, o, strlen(o) + 1);
	len = strlen(out);
	while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t'))
		out[--len] = '\0';
	return out;
}

static char *
field_get(const char *d, size_t start, size_t end, const char *name)
{
	const char *n, *v;
	size_t nl, vl, fs, pos = start, want = strlen(name);

	while (field_next(d, &pos, end, &n, &nl, &v, &vl, &fs))
		if (nl == want && str_ncasecmp(n, name, want) == 0)
			return unfold(v, vl);
	return NULL;
}

/* ---- MIME fields: type/subtype; name=value ---- */

static const char *
skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '(')
			return p;
		int depth = 0;
		do {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			p++;
		} while (*p != '\0' && depth > 0);
	}
}

/* A token or a quoted string; malloc'd (NULL if none). */
static char *
mime_word(const char **pp, const char *stops)
{
	const char *p = skip_cfws(*pp), *start;
	char *out;

	if (*p == '"') {
		size_t n = 0;
		out = xmalloc(strlen(p) + 1);
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			out[n++] = *p;
		}
		if (*p == '"')
			p++;
		out[n] = '\0';
		*pp = p;
		return out;
	}
	start = p;
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '(' && strchr(stops, *p) == NULL)
		p++;
	*pp = p;
	return p > start ? xstrndup(start, (size_t)(p - start)) : NULL;
}

static void
params_parse(const char *p, struct mparam **v_r, unsigned int *n_r)
{
	unsigned int cap = 0;

	*v_r = NULL;
	*n_r = 0;
	for (;;) {
		char *name, *value;
		p = skip_cfws(p);
		while (*p != '\0' && *p != ';')
			p++;	/* junk before the next parameter */
		if (*p != ';')
			return;
		p++;
		name = mime_word(&p, ";=");
		p = skip_cfws(p);
		if (name == NULL || *p != '=') {
			free(name);
			continue;
		}
		p++;
		value = mime_word(&p, ";");
		if (value == NULL)
			value = xstrdup("");
		if (*n_r >= 64) {
			free(name);
			free(value);
			continue;
		}
		if (*n_r == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			*v_r = xrealloc(*v_r, cap * sizeof(**v_r));
		}
		(*v_r)[*n_r].name = name;
		(*v_r)[*n_r].value = value;
		(*n_r)++;
	}
}

static const char *
param_get(const struct mparam *v, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (str_casecmp(v[i].name, name) == 0)
			return v[i].value;
	return NULL;
}

static void
params_free(struct mparam *v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

/* ---- structure ---- */

static uint32_t
count_lines(const char *d, size_t len)
{
	uint32_t n = 0;
	const char *p = d, *end = d + len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	if (len > 0 && d[len - 1] != '\n')
		n++;
	return n;
}

static void part_parse(struct imap_message *m, struct mpart *p, size_t start, size_t end,
    unsigned int depth, int digest);

/* Split a multipart body at its boundary into children. */
static void
multipart_split(struct imap_message *m, struct mpart *p, const char *boundary,
    unsigned int depth, int digest)
{
	const char *d = m->data;
	size_t blen = strlen(boundary), pos = p->body, end = p->body + p->body_len;
	size_t part_start = 0;
	int open = 0;
	unsigned int cap = 0;

	while (pos < end) {
		const char *lf = memchr(d + pos, '\n', end - pos);
		size_t line_end = lf != NULL ? (size_t)(lf - d) + 1 : end;
		int delim = 0, close = 0;

		if (line_end - pos >= blen + 2 && d[pos] == '-' && d[pos + 1] == '-' &&
		    memcmp(d + pos + 2, boundary, blen) == 0) {
			size_t q = pos + 2 + blen;
			if (q + 1 < line_end && d[q] == '-' && d[q + 1] == '-') {
				close = 1;
				q += 2;
			}
			/* Only blanks may follow on the line (else it is a longer boundary). */
			while (q < line_end && (d[q] == ' ' || d[q] == '\t' || d[q] == '\r' || d[q] == '\n'))
				q++;
			delim = q == line_end;
		}
		if (delim) {
			if (open && m->nparts < PART_MAX) {
				/* The line break before a delimiter belongs to it. */
				size_t part_end = pos;
				if (part_end > part_start && d[part_end - 1] == '\n')
					part_end--;
				if (part_end > part_start && d[part_end - 1] == '\r')
					part_end--;
				if (p->nchildren == cap) {
					cap = cap == 0 ? 4 : cap * 2;
					p->children = xrealloc(p->children, cap * sizeof(*p->children));
				}
				memset(&p->children[p->nchildren], 0, sizeof(p->children[0]));
				m->nparts++;
				part_parse(m, &p->children[p->nchildren++], part_start, part_end, depth + 1,
				    digest);
			}
			if (close)
				return;
			open = 1;
			part_start = line_end;
		}
		pos = line_end;
	}
	if (open && m->nparts < PART_MAX && part_start < end) {
		if (p->nchildren == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			p->children = xrealloc(p->children, cap * sizeof(*p->children));
		}
		memset(&p->children[p->nchildren], 0, sizeof(p->children[0]));
		m->nparts++;
		part_parse(m, &p->children[p->nchildren++], part_start, end, depth + 1, digest);
	}
}

static void
part_parse(struct imap_message *m, struct mpart *p, size_t start, size_t end, unsigned int depth,
    int digest)
{
	const char *d = m->data;
	size_t hend = header_end(d, start, end);
	char *ct;

	p->hdr = start;
	p->hdr_len = hend - start;
	p->body = hend;
	p->body_len = end - hend;
	p->lines = count_lines(d + p->body, p->body_len);
	ct = field_get(d, start, hend, "Content-Type");
	if (ct != NULL) {
		const char *q = ct;
		p->type = mime_word(&q, "/;");
		q = skip_cfws(q);
		if (*q == '/') {
			q++;
			p->subtype = mime_word(&q, ";");
		}
		if (p->type == NULL || p->subtype == NULL) {
			/* Unusable: the RFC 2045 default. */
			free(p->type);
			free(p->subtype);
			p->type = NULL;
			p->subtype = NULL;
		} else {
			params_parse(q, &p->params, &p->nparams);
		}
		free(ct);
	}
	if (p->type == NULL) {
		p->type = xstrdup(digest ? "message" : "text");
		p->subtype = xstrdup(digest ? "rfc822" : "plain");
		if (!digest) {
			p->params = xcalloc(1, sizeof(*p->params));
			p->params[0].name = xstrdup("charset");
			p->params[0].value = xstrdup("us-ascii");
			p->nparams = 1;
		}
	}
	p->encoding = field_get(d, start, hend, "Content-Transfer-Encoding");
	p->id = field_get(d, start, hend, "Content-ID");
	p->description = field_get(d, start, hend, "Content-Description");
	p->md5 = field_get(d, start, hend, "Content-MD5");
	p->language = field_get(d, start, hend, "Content-Language");
	p->location = field_get(d, start, hend, "Content-Location");
	{
		char *cd = field_get(d, start, hend, "Content-Disposition");
		if (cd != NULL) {
			const char *q = cd;
			p->disposition = mime_word(&q, ";");
			if (p->disposition != NULL)
				params_parse(q, &p->dparams, &p->ndparams);
			free(cd);
		}
	}
	if (str_casecmp(p->type, "multipart") == 0) {
		const char *boundary = param_get(p->params, p->nparams, "boundary");
		if (boundary != NULL && boundary[0] != '\0' && depth < PART_MAX_DEPTH) {
			p->multipart = 1;
			multipart_split(m, p, boundary, depth,
			    str_casecmp(p->subtype, "digest") == 0);
		}
		if (p->nchildren == 0) {
			/* No part found: served as what it is, text. */
			p->multipart = 0;
			free(p->type);
			free(p->subtype);
			p->type = xstrdup("text");
			p->subtype = xstrdup("plain");
		}
	} else if (str_casecmp(p->type, "message") == 0 && str_casecmp(p->subtype, "rfc822") == 0) {
		if (depth < PART_MAX_DEPTH && m->nparts < PART_MAX) {
			m->nparts++;
			p->message = xcalloc(1, sizeof(*p->message));
			part_parse(m, p->message, p->body, p->body + p->body_len, depth + 1, 0);
		} else {
			free(p->type);
			free(p->subtype);
			p->type = xstrdup("application");
			p->subtype = xstrdup("octet-stream");
		}
	}
}

static void
part_free(struct mpart *p)
{
	for (unsigned int i = 0; i < p->nchildren; i++)
		part_free(&p->children[i]);
	free(p->children);
	if (p->message != NULL) {
		part_free(p->message);
		free(p->message);
	}
	params_free(p->params, p->nparams);
	params_free(p->dparams, p->ndparams);
	free(p->type);
	free(p->subtype);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->md5);
	free(p->language);
	free(p->location);
	free(p->disposition);
}

struct imap_message *
imap_message_parse(const char *data, size_t len)
{
	struct imap_message *m = xcalloc(1, sizeof(*m));

	m->data = data;
	m->len = len;
	m->nparts = 1;
	part_parse(m, &m->root, 0, len, 0, 0);
	return m;
}

struct imap_message *
imap_message_map(int fd, uint64_t size, const char **error_r)
{
	struct imap_message *m;
	void *map = NULL;

	if (size > SIZE_MAX / 2) {
		*error_r = "message too large to map";
		return NULL;
	}
	if (size > 0) {
		map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			*error_r = "cannot map the message";
			return NULL;
		}
	}
	m = imap_message_parse(map != NULL ? map : "", (size_t)size);
	m->map = map;
	m->maplen = (size_t)size;
	return m;
}

void
imap_message_free(struct imap_message **mp)
{
	struct imap_message *m = *mp;

	if (m == NULL)
		return;
	part_free(&m->root);
	if (m->map != NULL)
		munmap(m->map, m->maplen);
	free(m);
	*mp = NULL;
}

void
imap_message_data(const struct imap_message *m, const char **data_r, size_t *len_r)
{
	*data_r = m->data;
	*len_r = m->len;
}

void
imap_message_header_block(const struct imap_message *m, const char **data_r, size_t *len_r)
{
	*data_r = m->data + m->root.hdr;
	*len_r = m->root.hdr_len;
}

void
imap_message_body(const struct imap_message *m, const char **data_r, size_t *len_r)
{
	*data_r = m->data + m->root.body;
	*len_r = m->root.body_len;
}

char *
imap_message_header(const struct imap_message *m, const char *name)
{
	return field_get(m->data, m->root.hdr, m->root.hdr + m->root.hdr_len, name);
}

int
imap_message_header_each(const struct imap_message *m, const char *name,
    int (*fn)(void *ctx, const char *value), void *ctx)
{
	return imap_header_block_each(m->data + m->root.hdr, m->root.hdr_len, name, fn, ctx);
}

char *
imap_header_block_get(const char *data, size_t len, const char *name)
{
	return field_get(data, 0, len, name);
}

int
imap_header_block_each(const char *data, size_t len, const char *name,
    int (*fn)(void *ctx, const char *value), void *ctx)
{
	const char *n, *v;
	size_t nl, vl, fs, pos = 0, end = len;
	size_t want = strlen(name);

	while (field_next(data, &pos, end, &n, &nl, &v, &vl, &fs)) {
		if (nl == want && str_ncasecmp(n, name, want) == 0) {
			char *value = unfold(v, vl);
			int rc = fn(ctx, value);
			free(value);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* ---- transfer decoding ---- */

enum cte { CTE_IDENTITY, CTE_BASE64, CTE_QP, CTE_UNKNOWN };

static enum cte
part_cte(const struct mpart *p)
{
	if (p->encoding == NULL || str_casecmp(p->encoding, "7bit") == 0 ||
	    str_casecmp(p->encoding, "8bit") == 0 || str_casecmp(p->encoding, "binary") == 0)
		return CTE_IDENTITY;
	if (str_casecmp(p->encoding, "base64") == 0)
		return CTE_BASE64;
	if (str_casecmp(p->encoding, "quoted-printable") == 0)
		return CTE_QP;
	return CTE_UNKNOWN;
}

/* Decode a leaf's body into out. */
static void
part_decode(const struct imap_message *m, const struct mpart *p, enum cte cte,
    struct imap_out *out)
{
	const char *body = m->data + p->body;
	size_t len = p->body_len;

	if (cte == CTE_BASE64) {
		struct base64_decoder d;
		unsigned char *buf = xmalloc(len * 3 / 4 + 8);
		size_t n;
		base64_decoder_init(&d);
		n = base64_decode_feed(&d, body, len, buf, 1);
		imap_out_add(out, buf, n);
		free(buf);
	} else if (cte == CTE_QP) {
		struct qp_decoder d;
		unsigned char *buf;
		size_t pos = 0, n = 0, lines = 0;

		/* Each line may give 4 bytes more than it has (qp_decode_line). */
		for (const char *lf = body; (lf = memchr(lf, '\n', (size_t)(body + len - lf))) != NULL;
		    lf++)
			lines++;
		buf = xmalloc(len + 4 * (lines + 1) + 8);
		qp_decoder_init(&d);
		while (pos < len) {
			const char *lf = memchr(body + pos, '\n', len - pos);
			size_t line_end = lf != NULL ? (size_t)(lf - body) + 1 : len;
			n += qp_decode_line(&d, body + pos, line_end - pos, lf != NULL, buf + n);
			pos = line_end;
		}
		n += qp_decode_finish(&d, buf + n);
		imap_out_add(out, buf, n);
		free(buf);
	} else {
		imap_out_add(out, body, len);
	}
}

static void
text_walk(const struct imap_message *m, const struct mpart *p,
    void (*fn)(void *ctx, const char *utf8, size_t len), void *ctx)
{
	if (p->multipart) {
		for (unsigned int i = 0; i < p->nchildren; i++)
			text_walk(m, &p->children[i], fn, ctx);
		return;
	}
	if (p->message != NULL) {
		struct strbuf hdr = { NULL, 0, 0 };
		charset_raw_to_utf8(m->data + p->message->hdr, p->message->hdr_len, &hdr);
		if (hdr.len > 0)
			fn(ctx, hdr.data, hdr.len);
		strbuf_free(&hdr);
		text_walk(m, p->message, fn, ctx);
		return;
	}
	if (str_casecmp(p->type, "text") != 0)
		return;
	{
		struct imap_out raw = { NULL, 0, 0 };
		struct strbuf text = { NULL, 0, 0 };
		struct charset_conv *conv;
		int known;
		enum cte cte = part_cte(p);

		part_decode(m, p, cte == CTE_UNKNOWN ? CTE_IDENTITY : cte, &raw);
		conv = charset_conv_new(param_get(p->params, p->nparams, "charset"), &known);
		charset_conv_feed(conv, raw.data != NULL ? raw.data : "", raw.len, &text, 1);
		charset_conv_free(&conv);
		if (text.len > 0)
			fn(ctx, text.data, text.len);
		strbuf_free(&text);
		imap_out_free(&raw);
	}
}

void
imap_message_text(const struct imap_message *m,
    void (*fn)(void *ctx, const char *utf8, size_t len), void *ctx)
{
	text_walk(m, &m->root, fn, ctx);
}

/* ---- ENVELOPE ---- */

static void
out_nstring_raw(struct imap_out *o, const char *s)
{
	if (s == NULL)
		imap_out_add(o, "NIL", 3);
	else
		imap_out_string(o, s, strlen(s));
}

/* A display name: quotes and escapes removed, comments dropped, blanks collapsed. */
static char *
addr_phrase(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	int quoted = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (quoted) {
			if (c == '"') {
				quoted = 0;
				continue;
			}
			if (c == '\\' && i + 1 < len)
				c = s[++i];
			out[n++] = c;
			continue;
		}
		if (c == '"') {
			quoted = 1;
			continue;
		}
		if (c == '(') {
			int depth = 1;
			while (++i < len && depth > 0) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')')
					depth--;
			}
			i--;
			continue;
		}
		if (c == ' ' || c == '\t') {
			if (n > 0 && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		out[n++] = c;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (n == 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* An addr-spec without blanks and comments outside quotes; the last comment in *comment_r. */
static char *
addr_spec(const char *s, size_t len, char **comment_r)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	int quoted = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (quoted) {
			if (c == '\\' && i + 1 < len) {
				out[n++] = c;
				c = s[++i];
			} else if (c == '"') {
				quoted = 0;
			}
			out[n++] = c;
			continue;
		}
		if (c == '"') {
			quoted = 1;
			out[n++] = c;
		} else if (c == '(') {
			size_t start = i + 1;
			int depth = 1;
			while (++i < len && depth > 0) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')')
					depth--;
			}
			if (comment_r != NULL) {
				free(*comment_r);
				*comment_r = addr_phrase(s + start, i > start ? i - start - 1 : 0);
			}
			i--;
		} else if (c != ' ' && c != '\t') {
			out[n++] = c;
		}
	}
	out[n] = '\0';
	return out;
}

static void
addr_out(struct imap_out *o, const char *item, size_t len, int *any)
{
	const char *lt = NULL;
	int quoted = 0, depth = 0;
	char *name = NULL, *spec, *comment = NULL, *adl = NULL, *at, *mailbox, *host;

	for (size_t i = 0; i < len; i++) {
		if (item[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (item[i] == '"' && depth == 0)
			quoted = !quoted;
		else if (!quoted && item[i] == '(')
			depth++;
		else if (!quoted && item[i] == ')' && depth > 0)
			depth--;
		else if (!quoted && depth == 0 && item[i] == '<') {
			lt = item + i;
			break;
		}
	}
	if (lt != NULL) {
		const char *gt = memchr(lt, '>', len - (size_t)(lt - item));
		size_t slen = gt != NULL ? (size_t)(gt - lt - 1) : len - (size_t)(lt - item) - 1;
		name = addr_phrase(item, (size_t)(lt - item));
		spec = addr_spec(lt + 1, slen, NULL);
	} else {
		spec = addr_spec(item, len, &comment);
		name = comment;
	}
	if (spec[0] == '\0') {
		free(spec);
		free(name);
		return;
	}
	mailbox = spec;
	if (spec[0] == '@') {
		/* An obsolete source route: "@a,@b:user@host". */
		char *colon = strchr(spec, ':');
		if (colon != NULL) {
			*colon = '\0';
			adl = spec;
			mailbox = colon + 1;
		}
	}
	at = NULL;
	{
		int q = 0;
		for (char *p = mailbox; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				q = !q;
			else if (*p == '@' && !q)
				at = p;
		}
	}
	host = NULL;
	if (at != NULL) {
		*at = '\0';
		host = at + 1;
	}
	imap_out_add(o, "(", 1);
	out_nstring_raw(o, name);
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, adl);
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, mailbox[0] != '\0' ? mailbox : "MISSING_MAILBOX");
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, host != NULL && host[0] != '\0' ? host : "MISSING_DOMAIN");
	imap_out_add(o, ")", 1);
	*any = 1;
	free(spec);
	free(name);
}

/* An address list as IMAP's list of (name adl mailbox host), groups included; NIL if empty. */
static void
addresses_out(struct imap_out *o, const char *v)
{
	size_t start_len = o->len, item = 0, len;
	int quoted = 0, depth = 0, angle = 0, group = 0, any = 0;

	if (v == NULL) {
		imap_out_add(o, "NIL", 3);
		return;
	}
	len = strlen(v);
	imap_out_add(o, "(", 1);
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? v[i] : ',';
		if (i < len && c == '\\' && (quoted || depth > 0)) {
			i++;
			continue;
		}
		if (quoted) {
			if (c == '"')
				quoted = 0;
			continue;
		}
		if (depth > 0) {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '"') {
			quoted = 1;
		} else if (c == '(') {
			depth = 1;
		} else if (c == '<') {
			angle = 1;
		} else if (c == '>') {
			angle = 0;
		} else if (c == ':' && !angle && !group) {
			char *gname = addr_phrase(v + item, i - item);
			imap_out_add(o, "(NIL NIL ", 9);
			out_nstring_raw(o, gname != NULL ? gname : "");
			imap_out_add(o, " NIL)", 5);
			free(gname);
			group = 1;
			any = 1;
			item = i + 1;
		} else if ((c == ',' || (c == ';' && group)) && !angle) {
			addr_out(o, v + item, i - item, &any);
			if (c == ';') {
				imap_out_add(o, "(NIL NIL NIL NIL)", 17);
				group = 0;
			}
			item = i + 1;
		}
	}
	if (group)
		imap_out_add(o, "(NIL NIL NIL NIL)", 17);
	if (!any) {
		o->len = start_len;
		imap_out_add(o, "NIL", 3);
		return;
	}
	imap_out_add(o, ")", 1);
}

static void
envelope_out(const struct imap_message *m, const struct mpart *p, struct imap_out *o)
{
	const char *d = m->data;
	size_t hs = p->hdr, he = p->hdr + p->hdr_len;
	char *from = field_get(d, hs, he, "From");
	char *v;

	imap_out_add(o, "(", 1);
	v = field_get(d, hs, he, "Date");
	out_nstring_raw(o, v);
	free(v);
	imap_out_add(o, " ", 1);
	v = field_get(d, hs, he, "Subject");
	out_nstring_raw(o, v);
	free(v);
	imap_out_add(o, " ", 1);
	addresses_out(o, from);
	imap_out_add(o, " ", 1);
	/* Sender and Reply-To default to From (RFC 3501 7.4.2). */
	v = field_get(d, hs, he, "Sender");
	addresses_out(o, v != NULL ? v : from);
	free(v);
	imap_out_add(o, " ", 1);
	v = field_get(d, hs, he, "Reply-To");
	addresses_out(o, v != NULL ? v : from);
	free(v);
	static const char *const rest[] = { "To", "Cc", "Bcc" };
	for (size_t i = 0; i < 3; i++) {
		imap_out_add(o, " ", 1);
		v = field_get(d, hs, he, rest[i]);
		addresses_out(o, v);
		free(v);
	}
	imap_out_add(o, " ", 1);
	v = field_get(d, hs, he, "In-Reply-To");
	out_nstring_raw(o, v);
	free(v);
	imap_out_add(o, " ", 1);
	v = field_get(d, hs, he, "Message-ID");
	out_nstring_raw(o, v);
	free(v);
	imap_out_add(o, ")", 1);
	free(from);
}

void
imap_message_envelope(const struct imap_message *m, struct imap_out *o)
{
	envelope_out(m, &m->root, o);
}

/* ---- BODYSTRUCTURE ---- */

static void
params_out(struct imap_out *o, const struct mparam *v, unsigned int n)
{
	if (n == 0) {
		imap_out_add(o, "NIL", 3);
		return;
	}
	imap_out_add(o, "(", 1);
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			imap_out_add(o, " ", 1);
		imap_out_string(o, v[i].name, strlen(v[i].name));
		imap_out_add(o, " ", 1);
		imap_out_string(o, v[i].value, strlen(v[i].value));
	}
	imap_out_add(o, ")", 1);
}

static void
ext_out(struct imap_out *o, const struct mpart *p)
{
	imap_out_add(o, " ", 1);
	if (p->disposition != NULL) {
		imap_out_add(o, "(", 1);
		imap_out_string(o, p->disposition, strlen(p->disposition));
		imap_out_add(o, " ", 1);
		params_out(o, p->dparams, p->ndparams);
		imap_out_add(o, ")", 1);
	} else {
		imap_out_add(o, "NIL", 3);
	}
	imap_out_add(o, " ", 1);
	if (p->language != NULL) {
		/* "en, fr": a list when there are several. */
		char *copy = xstrdup(p->language), *save = NULL;
		int n = 0;
		imap_out_add(o, "(", 1);
		for (char *t = strtok_r(copy, ", \t", &save); t != NULL;
		    t = strtok_r(NULL, ", \t", &save)) {
			if (n++ > 0)
				imap_out_add(o, " ", 1);
			imap_out_string(o, t, strlen(t));
		}
		if (n == 0)
			imap_out_add(o, "\"\"", 2);
		imap_out_add(o, ")", 1);
		free(copy);
	} else {
		imap_out_add(o, "NIL", 3);
	}
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, p->location);
}

static void
body_out(const struct imap_message *m, const struct mpart *p, struct imap_out *o, int ext)
{
	imap_out_add(o, "(", 1);
	if (p->multipart) {
		for (unsigned int i = 0; i < p->nchildren; i++)
			body_out(m, &p->children[i], o, ext);
		imap_out_add(o, " ", 1);
		imap_out_string(o, p->subtype, strlen(p->subtype));
		if (ext) {
			imap_out_add(o, " ", 1);
			params_out(o, p->params, p->nparams);
			ext_out(o, p);
		}
		imap_out_add(o, ")", 1);
		return;
	}
	imap_out_string(o, p->type, strlen(p->type));
	imap_out_add(o, " ", 1);
	imap_out_string(o, p->subtype, strlen(p->subtype));
	imap_out_add(o, " ", 1);
	params_out(o, p->params, p->nparams);
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, p->id);
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, p->description);
	imap_out_add(o, " ", 1);
	out_nstring_raw(o, p->encoding != NULL ? p->encoding : "7bit");
	imap_out_printf(o, " %zu", p->body_len);
	if (p->message != NULL) {
		imap_out_add(o, " ", 1);
		envelope_out(m, p->message, o);
		imap_out_add(o, " ", 1);
		body_out(m, p->message, o, ext);
		imap_out_printf(o, " %u", p->lines);
	} else if (str_casecmp(p->type, "text") == 0) {
		imap_out_printf(o, " %u", p->lines);
	}
	if (ext) {
		imap_out_add(o, " ", 1);
		out_nstring_raw(o, p->md5);
		ext_out(o, p);
	}
	imap_out_add(o, ")", 1);
}

void
imap_message_bodystructure(const struct imap_message *m, struct imap_out *o, int extensible)
{
	body_out(m, &m->root, o, extensible);
}

/* ---- sections ---- */

/* Follow "1.2.3" from the message; *spec is left at what follows (after a dot). */
static const struct mpart *
part_path(const struct imap_message *m, const char **spec, int *had_path)
{
	const struct mpart *p = &m->root;
	const char *s = *spec;
	int first = 1;

	*had_path = 0;
	while (*s >= '1' && *s <= '9') {
		unsigned long n = 0;
		int digits = 0;
		while (*s >= '0' && *s <= '9') {
			if (++digits > 6)
				return NULL;
			n = n * 10 + (unsigned long)(*s++ - '0');
		}
		if (!first && p->message != NULL)
			p = p->message;
		if (p->multipart) {
			if (n > p->nchildren)
				return NULL;
			p = &p->children[n - 1];
		} else if (n != 1) {
			return NULL;
		}
		first = 0;
		*had_path = 1;
		if (*s == '.') {
			s++;
			if (*s == '\0')
				return NULL;
			if (*s < '1' || *s > '9')
				break;
		} else if (*s != '\0') {
			return NULL;
		}
	}
	*spec = s;
	return p;
}

static int
name_in_list(const char *name, size_t nlen, char *const *names, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (strlen(names[i]) == nlen && str_ncasecmp(names[i], name, nlen) == 0)
			return 1;
	return 0;
}

/* HEADER.FIELDS[.NOT] (a b c) of the header block [hs, he). */
static int
header_fields(const struct imap_message *m, size_t hs, size_t he, const char *list, int not,
    struct imap_out *out)
{
	char *copy, *p, *names[64], *save = NULL;
	unsigned int n = 0;
	const char *name, *value;
	size_t nl, vl, fs, pos = hs;

	while (*list == ' ')
		list++;
	if (*list != '(')
		return -1;
	copy = xstrdup(list + 1);
	p = strchr(copy, ')');
	if (p == NULL || p[1] != '\0') {
		free(copy);
		return -1;
	}
	*p = '\0';
	for (char *t = strtok_r(copy, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
		size_t tl = strlen(t);
		if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"') {
			t[tl - 1] = '\0';
			t++;
		}
		if (n < 64)
			names[n++] = t;
	}
	if (n == 0) {
		free(copy);
		return -1;
	}
	while (field_next(m->data, &pos, he, &name, &nl, &value, &vl, &fs))
		if (name_in_list(name, nl, names, n) != not)
			imap_out_add(out, m->data + fs, pos - fs);
	imap_out_add(out, "\r\n", 2);
	free(copy);
	return 0;
}

int
imap_message_section(const struct imap_message *m, const char *spec, struct imap_out *out)
{
	const struct mpart *p, *msg;
	int had_path;

	p = part_path(m, &spec, &had_path);
	if (p == NULL)
		return -1;
	if (*spec == '\0') {
		if (!had_path)
			imap_out_add(out, m->data, m->len);
		else
			imap_out_add(out, m->data + p->body, p->body_len);
		return 0;
	}
	if (had_path && str_casecmp(spec, "MIME") == 0) {
		imap_out_add(out, m->data + p->hdr, p->hdr_len);
		return 0;
	}
	/* HEADER, TEXT and the fields apply to a message: the top, or one inside. */
	msg = had_path ? p->message : &m->root;
	if (msg == NULL)
		return -1;
	if (str_casecmp(spec, "HEADER") == 0) {
		imap_out_add(out, m->data + msg->hdr, msg->hdr_len);
		return 0;
	}
	if (str_casecmp(spec, "TEXT") == 0) {
		imap_out_add(out, m->data + msg->body, msg->body_len);
		return 0;
	}
	if (str_ncasecmp(spec, "HEADER.FIELDS.NOT ", 18) == 0)
		return header_fields(m, msg->hdr, msg->hdr + msg->hdr_len, spec + 18, 1, out);
	if (str_ncasecmp(spec, "HEADER.FIELDS ", 14) == 0)
		return header_fields(m, msg->hdr, msg->hdr + msg->hdr_len, spec + 14, 0, out);
	return -1;
}

int
imap_message_binary(const struct imap_message *m, const char *spec, struct imap_out *out)
{
	const struct mpart *p;
	int had_path;
	enum cte cte;

	p = part_path(m, &spec, &had_path);
	if (p == NULL || *spec != '\0')
		return -1;
	if (!had_path) {
		imap_out_add(out, m->data, m->len);
		return 0;
	}
	if (p->multipart || p->message != NULL) {
		imap_out_add(out, m->data + p->body, p->body_len);
		return 0;
	}
	cte = part_cte(p);
	if (cte == CTE_UNKNOWN)
		return -2;
	part_decode(m, p, cte, out);
	return 0;
}

