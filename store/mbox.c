/* SPDX-License-Identifier: MIT */
/*
 * mbox - reading and writing mboxrd (see mbox.h).
 *
 * The reader works a line at a time.  An empty line is held back until
 * the next one is seen: followed by a From line with a date it was the
 * separator and is dropped, otherwise it was the message's own.  Lines
 * longer than MBOX_LINE_KEEP are judged by their start and the rest
 * passes through, so a hostile file costs no more memory than a small
 * one.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/mem.h"
#include "store/mbox.h"
#include "store/mstore.h"

#define OUT_SIZE 65536
#define ERR_SIZE 256

/* What happens to the rest of a line longer than MBOX_LINE_KEEP. */
enum rest { REST_EMIT, REST_SKIP };

struct mbox_reader {
	struct mbox_reader_cb cb;
	void *ctx;
	int status;		/* sticky: a stop value or -1 */
	unsigned long lineno;	/* of the line being read */
	unsigned long messages;
	/* The line being read. */
	char line[MBOX_LINE_KEEP];
	size_t len;
	int longline;		/* its start was judged; the rest goes by rest */
	enum rest rest;
	int held_cr;		/* a long line's CR, maybe its last byte */
	int crlf;		/* the file's lines end in CRLF (its first line does) */
	/* The message being read. */
	int in_msg, in_header, skipping, skipping_keywords;
	int pending_blank;
	unsigned long msg_line;
	unsigned int flags;
	char keywords[MBOX_KEYWORDS_SIZE];
	uint64_t size;
	unsigned char out[OUT_SIZE];
	size_t olen;
	char err[ERR_SIZE];
};

static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
	"Sep", "Oct", "Nov", "Dec" };

/* ---- small helpers ---- */

static int
prefix_ci(const char *s, size_t n, const char *word)
{
	size_t k = strlen(word);

	if (n < k)
		return 0;
	for (size_t i = 0; i < k; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return 0;
	}
	return 1;
}

/* Does s match ^>*From  (min '>' at least)? */
static int
from_quoted(const char *s, size_t n, size_t min)
{
	size_t i = 0;

	while (i < n && s[i] == '>')
		i++;
	return i >= min && n - i >= 5 && memcmp(s + i, "From ", 5) == 0;
}

/* An IMAP atom that mstore takes as a keyword (its keyword_valid). */
static int
keyword_ok(const char *w, size_t n)
{
	if (n == 0 || n > 200 || w[0] == '\\')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"]\\", c) != NULL)
			return 0;
	}
	return 1;
}

/* ---- dates ---- */

static int
name_index(const char *const *names, int n, const char *s, size_t len)
{
	if (len != 3)
		return -1;
	for (int i = 0; i < n; i++)
		if (strncasecmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

/* Decimal digits of s (len) into *v; -1 if not all digits or too many. */
static int
digits(const char *s, size_t len, int *v)
{
	if (len == 0 || len > 9)
		return -1;
	*v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

#define TOK_MAX 24

int
mbox_from_date(const char *s, size_t n, int64_t *date_r)
{
	const char *tok[TOK_MAX];
	size_t tlen[TOK_MAX];
	int ntok = 0, i, mon, day, hh, mm, ss = 0, year = -1, zone = 0, have_zone = 0;
	struct tm tm;
	time_t t;

	if (n < 5 || memcmp(s, "From ", 5) != 0)
		return -1;
	for (size_t p = 5; p < n && ntok < TOK_MAX;) {
		while (p < n && (s[p] == ' ' || s[p] == '\t'))
			p++;
		if (p == n)
			break;
		tok[ntok] = s + p;
		while (p < n && s[p] != ' ' && s[p] != '\t')
			p++;
		tlen[ntok] = (size_t)(s + p - tok[ntok]);
		ntok++;
	}
	/* The sender may be anything: find "Www Mmm" after it. */
	for (i = 0; i + 4 < ntok; i++)
		if (name_index(days, 7, tok[i], tlen[i]) >= 0 &&
		    name_index(months, 12, tok[i + 1], tlen[i + 1]) >= 0)
			break;
	if (i + 4 >= ntok)
		return -1;
	mon = name_index(months, 12, tok[i + 1], tlen[i + 1]);
	if (digits(tok[i + 2], tlen[i + 2], &day) < 0 || day < 1 || day > 31)
		return -1;
	/* hh:mm or hh:mm:ss */
	{
		const char *t3 = tok[i + 3];
		size_t l3 = tlen[i + 3];
		if (l3 != 5 && l3 != 8)
			return -1;
		if (t3[2] != ':' || digits(t3, 2, &hh) < 0 || digits(t3 + 3, 2, &mm) < 0)
			return -1;
		if (l3 == 8 && (t3[5] != ':' || digits(t3 + 6, 2, &ss) < 0))
			return -1;
		if (hh > 23 || mm > 59 || ss > 60)
			return -1;
	}
	/* The year, with a zone before or after it. */
	for (int k = i + 4; k < ntok && k < i + 6 && year < 0; k++) {
		int v;
		if (tlen[k] == 4 && digits(tok[k], 4, &v) == 0) {
			year = v;
		} else if (tlen[k] == 5 && (tok[k][0] == '+' || tok[k][0] == '-') &&
		    digits(tok[k] + 1, 4, &v) == 0) {
			zone = (v / 100 * 60 + v % 100) * (tok[k][0] == '-' ? -1 : 1);
			have_zone = 1;
		} else if (k > i + 4) {
			return -1;
		}
	}
	if (year < 1970 || year > 9999)
		return -1;
	if (!have_zone) {
		/* A zone after the year: "... 2024 +0100". */
		int k = i + 5, v;
		if (k < ntok && tlen[k] == 5 && (tok[k][0] == '+' || tok[k][0] == '-') &&
		    digits(tok[k] + 1, 4, &v) == 0)
			zone = (v / 100 * 60 + v % 100) * (tok[k][0] == '-' ? -1 : 1);
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*date_r = (int64_t)t - (int64_t)zone * 60;
	return 0;
}

/* ---- the reader ---- */

struct mbox_reader *
mbox_reader_new(const struct mbox_reader_cb *cb, void *ctx)
{
	struct mbox_reader *r = xcalloc(1, sizeof(*r));

	r->cb = *cb;
	r->ctx = ctx;
	r->lineno = 1;
	return r;
}

void
mbox_reader_free(struct mbox_reader **rp)
{
	free(*rp);
	*rp = NULL;
}

const char *
mbox_reader_error(const struct mbox_reader *r)
{
	return r->err;
}

unsigned long
mbox_reader_messages(const struct mbox_reader *r)
{
	return r->messages;
}

static int
flush(struct mbox_reader *r)
{
	int rc = 0;

	if (r->olen > 0)
		rc = r->cb.data(r->ctx, r->out, r->olen);
	r->olen = 0;
	return rc;
}

/* Message bytes out, through the buffer. */
static int
emit(struct mbox_reader *r, const void *data, size_t len)
{
	int rc;

	r->size += len;
	if (r->olen + len > OUT_SIZE && (rc = flush(r)) != 0)
		return rc;
	if (len >= OUT_SIZE)
		return r->cb.data(r->ctx, data, len);
	memcpy(r->out + r->olen, data, len);
	r->olen += len;
	return 0;
}

static int
msg_end(struct mbox_reader *r, int complete)
{
	struct mbox_end e;
	int rc;

	if ((rc = flush(r)) != 0)
		return rc;
	e.line = r->msg_line;
	e.complete = complete;
	e.flags = r->flags;
	e.keywords = r->keywords;
	e.size = r->size;
	r->in_msg = 0;
	return r->cb.end(r->ctx, &e);
}

static int
msg_begin(struct mbox_reader *r, const char *s, size_t n)
{
	int64_t date = 0;

	if (mbox_from_date(s, n, &date) < 0)
		date = 0;
	r->in_msg = 1;
	r->in_header = 1;
	r->skipping = 0;
	r->skipping_keywords = 0;
	r->pending_blank = 0;
	r->msg_line = r->lineno;
	r->flags = 0;
	r->keywords[0] = '\0';
	r->size = 0;
	r->olen = 0;
	r->messages++;
	return r->cb.begin(r->ctx, r->lineno, date);
}

/* Add the valid words of s to the keywords. */
static void
keywords_add(struct mbox_reader *r, const char *s, size_t n)
{
	size_t i = 0, have = strlen(r->keywords);

	while (i < n) {
		size_t j;
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		for (j = i; j < n && s[j] != ' ' && s[j] != '\t' && s[j] != ','; j++)
			;
		if (j > i && keyword_ok(s + i, j - i) && have + (j - i) + 2 <= sizeof(r->keywords)) {
			if (have > 0)
				r->keywords[have++] = ' ';
			memcpy(r->keywords + have, s + i, j - i);
			have += j - i;
			r->keywords[have] = '\0';
		}
		i = j;
	}
}

static void
status_flags(struct mbox_reader *r, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case 'R': r->flags |= MSTORE_F_SEEN; break;
		case 'A': r->flags |= MSTORE_F_ANSWERED; break;
		case 'F': r->flags |= MSTORE_F_FLAGGED; break;
		case 'D': r->flags |= MSTORE_F_DELETED; break;
		case 'T': r->flags |= MSTORE_F_DRAFT; break;
		}
	}
}

/*
 * A flag header (Status, X-Status, X-Keywords) of the message's header:
 * read and left out.  1 if it was one.
 */
static int
flag_header(struct mbox_reader *r, const char *s, size_t n)
{
	static const char *const names[] = { "status:", "x-status:", "x-keywords:" };

	for (size_t k = 0; k < 3; k++) {
		size_t len = strlen(names[k]);
		if (!prefix_ci(s, n, names[k]))
			continue;
		if (k == 0) {
			/* Status: only R and O have a meaning there. */
			for (size_t i = len; i < n; i++)
				if (s[i] == 'R')
					r->flags |= MSTORE_F_SEEN;
		} else if (k == 1) {
			status_flags(r, s + len, n - len);
		} else {
			keywords_add(r, s + len, n - len);
		}
		r->skipping = 1;
		r->skipping_keywords = k == 2;
		return 1;
	}
	return 0;
}

/*
 * A line, or the start of a long one (complete 0: the rest follows and
 * r->rest says what becomes of it).  s excludes the line ending.
 */
static int
line_start(struct mbox_reader *r, const char *s, size_t n, int complete)
{
	int64_t date;
	int rc;

	r->rest = REST_SKIP;
	if (!r->in_msg && r->messages == 0) {
		if (n < 5 || memcmp(s, "From ", 5) != 0) {
			snprintf(r->err, sizeof(r->err), "line %lu: not an mbox file: a message must "
			    "start with a \"From \" line", r->lineno);
			return -1;
		}
		return msg_begin(r, s, n);
	}
	if (r->pending_blank) {
		r->pending_blank = 0;
		if (complete && n >= 5 && memcmp(s, "From ", 5) == 0 &&
		    mbox_from_date(s, n, &date) == 0) {
			if ((rc = msg_end(r, 1)) != 0)
				return rc;
			return msg_begin(r, s, n);
		}
		/* The empty line was the message's own: the header ends there. */
		r->in_header = 0;
		if ((rc = emit(r, "\r\n", 2)) != 0)
			return rc;
	}
	if (complete && n == 0) {
		r->pending_blank = 1;
		return 0;
	}
	if (r->in_header) {
		if (n > 0 && (s[0] == ' ' || s[0] == '\t') && r->skipping) {
			if (r->skipping_keywords)
				keywords_add(r, s, n);
			return 0;
		}
		r->skipping = 0;
		if (flag_header(r, s, n))
			return 0;
	}
	if (from_quoted(s, n, 1)) {
		s++;
		n--;
	}
	if ((rc = emit(r, s, n)) != 0)
		return rc;
	if (!complete) {
		r->rest = REST_EMIT;
		return 0;
	}
	return emit(r, "\r\n", 2);
}

/* The rest of a long line: len bytes, then its end if eol. */
static int
line_rest(struct mbox_reader *r, const char *s, size_t n, int eol)
{
	int rc;

	if (r->rest == REST_SKIP) {
		if (eol)
			r->held_cr = 0;
		return 0;
	}
	if (r->held_cr && !(eol && n == 0)) {
		r->held_cr = 0;
		if ((rc = emit(r, "\r", 1)) != 0)
			return rc;
	}
	if (eol) {
		r->held_cr = 0;
		if (r->crlf && n > 0 && s[n - 1] == '\r')
			n--;
		if ((rc = emit(r, s, n)) != 0)
			return rc;
		return emit(r, "\r\n", 2);
	}
	if (r->crlf && n > 0 && s[n - 1] == '\r') {
		r->held_cr = 1;
		n--;
	}
	return emit(r, s, n);
}

int
mbox_reader_feed(struct mbox_reader *r, const void *buf, size_t len)
{
	const char *p = buf, *end = p + len;

	while (r->status == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (r->longline) {
			r->status = line_rest(r, p, n, nl != NULL);
		} else if (r->len + n <= MBOX_LINE_KEEP) {
			memcpy(r->line + r->len, p, n);
			r->len += n;
			if (nl != NULL) {
				size_t l = r->len;
				if (r->lineno == 1)
					r->crlf = l > 0 && r->line[l - 1] == '\r';
				if (r->crlf && l > 0 && r->line[l - 1] == '\r')
					l--;
				r->status = line_start(r, r->line, l, 1);
				r->len = 0;
			}
		} else {
			/* Too long to keep: judge its start, pass the rest. */
			size_t take = MBOX_LINE_KEEP - r->len;
			memcpy(r->line + r->len, p, take);
			r->len = 0;
			r->held_cr = 0;
			r->status = line_start(r, r->line, MBOX_LINE_KEEP, 0);
			if (r->status == 0)
				r->status = line_rest(r, p + take, n - take, nl != NULL);
			r->longline = nl == NULL;
		}
		if (nl != NULL) {
			r->longline = 0;
			r->lineno++;
		}
		p += n + (nl != NULL);
	}
	return r->status;
}

int
mbox_reader_finish(struct mbox_reader *r)
{
	if (r->status != 0)
		return r->status;
	/* A last line without its newline: the message cannot be complete. */
	if (r->len > 0 && !r->longline)
		r->status = line_start(r, r->line, r->len, 0);
	else if (r->longline && r->held_cr)
		r->status = line_rest(r, "", 0, 0);
	if (r->status == 0 && r->in_msg) {
		int complete = r->pending_blank && r->len == 0 && !r->longline;
		r->status = msg_end(r, complete);
	}
	r->len = 0;
	r->longline = 0;
	if (r->status == 0)
		r->status = -2;	/* finished: later calls are errors */
	return r->status == -2 ? 0 : r->status;
}

/* ---- the writer ---- */

void
mbox_envelope_sender(const void *data, size_t len, char *out, size_t size)
{
	const char *s = data, *e, *lt, *gt;
	size_t n;

	out[0] = '\0';
	if (!prefix_ci(s, len, "return-path:"))
		return;
	e = memchr(s, '\n', len);
	n = e != NULL ? (size_t)(e - s) : len;
	if ((lt = memchr(s, '<', n)) == NULL ||
	    (gt = memchr(lt, '>', n - (size_t)(lt - s))) == NULL)
		return;
	n = (size_t)(gt - lt - 1);
	if (n == 0 || n >= size)
		return;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)lt[1 + i] <= ' ' || (unsigned char)lt[1 + i] >= 0x7f)
			return;
	memcpy(out, lt + 1, n);
	out[n] = '\0';
}

static void
write_flags(FILE *out, unsigned int flags, const char *keywords)
{
	fprintf(out, "Status: %sO\n", (flags & MSTORE_F_SEEN) ? "R" : "");
	if (flags & (MSTORE_F_ANSWERED | MSTORE_F_FLAGGED | MSTORE_F_DRAFT | MSTORE_F_DELETED))
		fprintf(out, "X-Status: %s%s%s%s\n", (flags & MSTORE_F_ANSWERED) ? "A" : "",
		    (flags & MSTORE_F_FLAGGED) ? "F" : "", (flags & MSTORE_F_DRAFT) ? "T" : "",
		    (flags & MSTORE_F_DELETED) ? "D" : "");
	if (keywords != NULL && keywords[0] != '\0')
		fprintf(out, "X-Keywords: %s\n", keywords);
}

int
mbox_write(FILE *out, const char *sender, int64_t date, unsigned int flags,
    const char *keywords, const void *data, size_t len)
{
	const char *s = data;
	time_t t = (time_t)date;
	struct tm tm;
	size_t pos = 0;
	int in_header = 1;

	if (gmtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	fprintf(out, "From %s %s %s %2d %02d:%02d:%02d %d\n",
	    sender != NULL && sender[0] != '\0' ? sender : "MAILER-DAEMON", days[tm.tm_wday % 7],
	    months[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    tm.tm_year + 1900);
	while (pos < len) {
		const char *line = s + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += n + (nl != NULL);
		if (nl != NULL && n > 0 && line[n - 1] == '\r')
			n--;
		if (in_header && n == 0) {
			write_flags(out, flags, keywords);
			in_header = 0;
		}
		if (from_quoted(line, n, 0))
			putc('>', out);
		if (n > 0)
			fwrite(line, 1, n, out);
		putc('\n', out);
	}
	/* No empty line after the header: the whole message is header. */
	if (in_header)
		write_flags(out, flags, keywords);
	putc('\n', out);
	return ferror(out) ? -1 : 0;
}
