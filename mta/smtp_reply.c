/* SPDX-License-Identifier: MIT */
/*
 * smtp_reply - SMTP reply parser.  See smtp_reply.h.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <string.h>

#include "lib/mem.h"
#include "smtp_reply.h"

void
smtp_reply_init(struct smtp_reply *reply)
{
	reply->code = 0;
	reply->complete = 0;
	reply->nlines = 0;
	reply->dsn[0] = '\0';
	reply->len = 0;
	reply->text[0] = '\0';
}

/* "d.ddd.ddd" at the start of text, its class matching the reply's; length or 0. */
static size_t
dsn_prefix(const char *s, size_t len, int code)
{
	size_t i = 0, n;

	if (len < 5 || s[0] != '0' + code / 100 || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (n = 0; i < len && n < 4 && s[i] >= '0' && s[i] <= '9'; i++, n++)
			;
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

static void
text_append(struct smtp_reply *reply, const char *s, size_t len)
{
	size_t room = sizeof(reply->text) - 1 - reply->len;

	if (len > room)
		len = room;
	memcpy(reply->text + reply->len, s, len);
	reply->len += len;
	reply->text[reply->len] = '\0';
}

int
smtp_reply_add_line(struct smtp_reply *reply, const char *line, size_t len, const char **error_r)
{
	int code;

	if (reply->complete)
		smtp_reply_init(reply);
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		*error_r = "malformed reply line";
		return -1;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (reply->nlines > 0 && code != reply->code) {
		*error_r = "reply code changed inside a multi-line reply";
		return -1;
	}
	if (++reply->nlines > SMTP_REPLY_LINES_MAX) {
		*error_r = "too many reply lines";
		return -1;
	}
	reply->code = code;
	if (reply->nlines > 1)
		text_append(reply, "\n", 1);
	if (len > 4)
		text_append(reply, line + 4, len - 4);
	if (len > 3 && line[3] == '-')
		return 0;
	reply->complete = 1;
	/* The enhanced code of the first line speaks for the reply. */
	{
		size_t n = dsn_prefix(reply->text, strcspn(reply->text, "\n"), code);
		if (n > 0 && n < sizeof(reply->dsn)) {
			memcpy(reply->dsn, reply->text, n);
			reply->dsn[n] = '\0';
		} else {
			snprintf(reply->dsn, sizeof(reply->dsn), "%d.0.0", code / 100);
		}
	}
	return 1;
}

int
smtp_reply_parse(const char *data, size_t len, struct smtp_reply *reply_r, size_t *consumed_r,
    const char **error_r)
{
	size_t pos = 0;

	smtp_reply_init(reply_r);
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t llen;
		int rc;

		if (nl == NULL) {
			if (len - pos > SMTP_REPLY_LINE_MAX) {
				*error_r = "reply line too long";
				return -1;
			}
			return 0;
		}
		llen = (size_t)(nl - (data + pos));
		if (llen > SMTP_REPLY_LINE_MAX) {
			*error_r = "reply line too long";
			return -1;
		}
		if (llen > 0 && data[pos + llen - 1] == '\r')
			llen--;
		rc = smtp_reply_add_line(reply_r, data + pos, llen, error_r);
		pos = (size_t)(nl - data) + 1;
		if (rc < 0)
			return -1;
		if (rc == 1) {
			*consumed_r = pos;
			return 1;
		}
	}
	return 0;
}

const char *
smtp_reply_str(const struct smtp_reply *reply, char *buf, size_t size)
{
	size_t o;

	if (size == 0)
		return buf;
	snprintf(buf, size, "%03d ", reply->code);
	o = strlen(buf);
	for (size_t i = 0; i < reply->len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)reply->text[i];
		buf[o++] = c == '\n' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[o] = '\0';
	/* No trailing blank from an empty text. */
	while (o > 0 && buf[o - 1] == ' ')
		buf[--o] = '\0';
	return buf;
}

static int
keyword_is(const char *s, size_t len, const char *kw)
{
	size_t k = strlen(kw);

	return len >= k && str_ncasecmp(s, kw, k) == 0 && (len == k || s[k] == ' ' || s[k] == '=');
}

unsigned int
smtp_reply_ehlo(const struct smtp_reply *reply, unsigned long long *size_r)
{
	unsigned int ext = 0;
	const char *p = reply->text, *end = reply->text + reply->len;

	*size_r = 0;
	/* The first line is the greeting, not an extension. */
	p = memchr(p, '\n', (size_t)(end - p));
	while (p != NULL && p < end) {
		const char *nl;
		size_t n;

		p++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (keyword_is(p, n, "PIPELINING"))
			ext |= SMTP_EXT_PIPELINING;
		else if (keyword_is(p, n, "8BITMIME"))
			ext |= SMTP_EXT_8BITMIME;
		else if (keyword_is(p, n, "SMTPUTF8"))
			ext |= SMTP_EXT_SMTPUTF8;
		else if (keyword_is(p, n, "STARTTLS"))
			ext |= SMTP_EXT_STARTTLS;
		else if (keyword_is(p, n, "CHUNKING"))
			ext |= SMTP_EXT_CHUNKING;
		else if (keyword_is(p, n, "DSN"))
			ext |= SMTP_EXT_DSN;
		else if (keyword_is(p, n, "XQID"))
			ext |= SMTP_EXT_XQID;
		else if (keyword_is(p, n, "SIZE")) {
			unsigned long long v = 0;
			ext |= SMTP_EXT_SIZE;
			for (size_t i = 5; i < n && p[i] >= '0' && p[i] <= '9'; i++)
				if (v < 1000000000000ULL)
					v = v * 10 + (unsigned long long)(p[i] - '0');
			*size_r = v;
		}
		p = nl;
	}
	return ext;
}
