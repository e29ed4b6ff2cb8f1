/* SPDX-License-Identifier: MIT */
/*
 * csv - RFC 4180 reader and writer (see csv.h).
 *
 * The reader is a small state machine over getc: a record's fields are
 * appended to one buffer, NUL-separated, and the vector of pointers into
 * it is made when the record ends (the buffer may move while it grows).
 * What the separator detection and the byte order mark need to see before
 * parsing is read ahead into a buffer that the parser then reads first.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mem.h"

#define NO_CHAR (-2)

struct csv_reader {
	FILE *fp;
	char sep;
	int started;		/* byte order mark and separator seen to */
	size_t field_max, record_max, fields_max;
	unsigned long line;	/* of the next character */
	unsigned long record_line;
	int back;		/* a character given back, or NO_CHAR */
	/* Read ahead at the start. */
	char *ahead;
	size_t ahead_len, ahead_pos;
	/* The record being read. */
	char *buf;
	size_t len, cap;
	size_t *starts;
	char **fields;
	size_t nfields, cap_fields;
	char error[160];
	size_t error_field;	/* from 1; 0: not about one field */
};

struct csv_reader *
csv_reader_new(FILE *fp, char sep)
{
	struct csv_reader *r = xcalloc(1, sizeof(*r));

	r->fp = fp;
	r->sep = sep == ';' ? ';' : sep == ',' ? ',' : 0;
	r->field_max = CSV_FIELD_MAX;
	r->record_max = CSV_RECORD_MAX;
	r->fields_max = CSV_FIELDS_MAX;
	r->line = 1;
	r->back = NO_CHAR;
	return r;
}

void
csv_reader_free(struct csv_reader **rp)
{
	struct csv_reader *r = *rp;

	if (r == NULL)
		return;
	free(r->ahead);
	free(r->buf);
	free(r->starts);
	free(r->fields);
	free(r);
	*rp = NULL;
}

void
csv_reader_limits(struct csv_reader *r, size_t field_max, size_t record_max, size_t fields_max)
{
	if (field_max > 0)
		r->field_max = field_max;
	if (record_max > 0)
		r->record_max = record_max;
	if (fields_max > 0)
		r->fields_max = fields_max;
}

unsigned long
csv_record_line(const struct csv_reader *r)
{
	return r->record_line;
}

size_t
csv_error_field(const struct csv_reader *r)
{
	return r->error_field;
}

char
csv_separator(const struct csv_reader *r)
{
	return r->sep != 0 ? r->sep : ',';
}

/* ---- input ---- */

static int
raw_get(struct csv_reader *r)
{
	if (r->ahead_pos < r->ahead_len)
		return (unsigned char)r->ahead[r->ahead_pos++];
	return getc_unlocked(r->fp);
}

static int
get(struct csv_reader *r)
{
	int c;

	if (r->back != NO_CHAR) {
		c = r->back;
		r->back = NO_CHAR;
	} else {
		c = raw_get(r);
	}
	if (c == '\n')
		r->line++;
	return c;
}

static void
unget(struct csv_reader *r, int c)
{
	if (c == '\n')
		r->line--;
	r->back = c;
}

/*
 * Before the first record: drop a UTF-8 byte order mark and, when the
 * separator is to be chosen, read the first record ahead (to its first
 * line break outside quotes, at most record_max bytes) and count.
 */
static void
start(struct csv_reader *r)
{
	size_t cap = 256, commas = 0, semicolons = 0;
	int c, quoted = 0;

	r->started = 1;
	r->ahead = xmalloc(cap);
	while (r->ahead_len < 3 && (c = getc_unlocked(r->fp)) != EOF) {
		r->ahead[r->ahead_len++] = (char)c;
		if (c != (unsigned char)"\xef\xbb\xbf"[r->ahead_len - 1])
			break;
	}
	if (r->ahead_len == 3 && memcmp(r->ahead, "\xef\xbb\xbf", 3) == 0)
		r->ahead_len = 0;
	if (r->sep != 0)
		return;
	for (size_t i = 0;; i++) {
		if (i == r->ahead_len) {
			if (r->ahead_len >= r->record_max || (c = getc_unlocked(r->fp)) == EOF)
				break;
			if (r->ahead_len == cap)
				r->ahead = xrealloc(r->ahead, cap *= 2);
			r->ahead[r->ahead_len++] = (char)c;
		}
		c = (unsigned char)r->ahead[i];
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && c == '\n')
			break;
		else if (!quoted && c == ',')
			commas++;
		else if (!quoted && c == ';')
			semicolons++;
	}
	r->sep = semicolons > commas ? ';' : ',';
}

/* ---- the record ---- */

static int fail(struct csv_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(struct csv_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	/* The field being read (none when the record as a whole is at fault). */
	r->error_field = r->nfields;
	return -1;
}

/* Skip to the end of the line after an error (the rest of the bad record). */
static void
skip_line(struct csv_reader *r)
{
	int c;

	while ((c = get(r)) != EOF && c != '\n')
		;
}

static int
append(struct csv_reader *r, int c, size_t field_len)
{
	if (field_len >= r->field_max)
		return fail(r, "longer than %zu bytes", r->field_max);
	if (r->len + 1 >= r->record_max) {
		r->nfields = 0;
		return fail(r, "record longer than %zu bytes", r->record_max);
	}
	if (r->len + 2 > r->cap) {
		r->cap = r->cap == 0 ? 256 : r->cap * 2;
		r->buf = xrealloc(r->buf, r->cap);
	}
	r->buf[r->len++] = (char)c;
	return 0;
}

/* Open field nfields at the end of the buffer. */
static int
field_open(struct csv_reader *r)
{
	if (r->nfields >= r->fields_max) {
		r->nfields = 0;
		return fail(r, "more than %zu fields", r->fields_max);
	}
	if (r->nfields == r->cap_fields) {
		r->cap_fields = r->cap_fields == 0 ? 16 : r->cap_fields * 2;
		r->starts = xrealloc(r->starts, r->cap_fields * sizeof(*r->starts));
		r->fields = xrealloc(r->fields, r->cap_fields * sizeof(*r->fields));
	}
	r->starts[r->nfields++] = r->len;
	return 0;
}

static void
field_close(struct csv_reader *r)
{
	if (r->len + 1 > r->cap) {
		r->cap = r->cap == 0 ? 256 : r->cap * 2;
		r->buf = xrealloc(r->buf, r->cap);
	}
	r->buf[r->len++] = '\0';
}

/* Is c, just read, the end of the record (LF, CRLF, end of input)? CR LF is consumed whole. */
static int
record_end(struct csv_reader *r, int c)
{
	int next;

	if (c == '\n' || c == EOF)
		return 1;
	if (c != '\r')
		return 0;
	if ((next = get(r)) == '\n')
		return 1;
	unget(r, next);
	return 0;
}

/* Read the fields of one record; c is its first character. 0, or -1 with the error set. */
static int
parse(struct csv_reader *r, int c)
{
	for (;;) {
		size_t n = 0;

		if (field_open(r) < 0)
			return -1;
		if (c == '"') {
			unsigned long opened = r->line;
			for (;;) {
				if ((c = get(r)) == EOF)
					return fail(r, "the quote opened on line %lu is not closed", opened);
				if (c == '"' && (c = get(r)) != '"')
					break;
				if (c == '\0')
					return fail(r, "NUL byte");
				if (append(r, c, n++) < 0)
					return -1;
			}
			if (c != r->sep && !record_end(r, c))
				return fail(r, "text after the closing quote");
		} else {
			while (c != r->sep && !record_end(r, c)) {
				if (c == '"')
					return fail(r, "quote in an unquoted field (quote the field and "
					    "double the quote)");
				if (c == '\0')
					return fail(r, "NUL byte");
				if (append(r, c, n++) < 0)
					return -1;
				c = get(r);
			}
		}
		field_close(r);
		if (c != r->sep)
			return 0;
		c = get(r);
	}
}

int
csv_read(struct csv_reader *r, char ***fields_r, size_t *n_r, const char **error_r)
{
	int c;

	if (!r->started)
		start(r);
	/* Empty lines are no records. */
	for (;;) {
		c = get(r);
		if (c == EOF) {
			r->record_line = r->line;
			if (ferror(r->fp)) {
				r->error_field = 0;
				*error_r = "read error";
				return -1;
			}
			return 0;
		}
		if (c == '\n')
			continue;
		if (c == '\r') {
			int next = get(r);
			if (next == '\n')
				continue;
			unget(r, next);
		}
		break;
	}
	r->record_line = r->line;
	r->len = 0;
	r->nfields = 0;
	if (parse(r, c) < 0) {
		/* The error was at a character of the bad record's line (or at the end). */
		skip_line(r);
		*error_r = r->error;
		return -1;
	}
	for (size_t i = 0; i < r->nfields; i++)
		r->fields[i] = r->buf + r->starts[i];
	*fields_r = r->fields;
	*n_r = r->nfields;
	return 1;
}

/* ---- writer ---- */

void
csv_write_field(FILE *out, const char *field, char sep)
{
	size_t n = strlen(field);
	int quote = n > 0 && (field[0] == ' ' || field[0] == '\t' || field[n - 1] == ' ' ||
	    field[n - 1] == '\t');

	for (const char *p = field; *p != '\0' && !quote; p++)
		if (*p == sep || *p == '"' || *p == '\r' || *p == '\n')
			quote = 1;
	if (!quote) {
		fputs(field, out);
		return;
	}
	putc('"', out);
	for (const char *p = field; *p != '\0'; p++) {
		if (*p == '"')
			putc('"', out);
		putc(*p, out);
	}
	putc('"', out);
}

void
csv_write_record(FILE *out, const char *const *fields, size_t n, char sep)
{
	/* A record of one empty field would be an empty line, which is no record. */
	if (n == 1 && fields[0][0] == '\0') {
		fputs("\"\"\r\n", out);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			putc(sep, out);
		csv_write_field(out, fields[i], sep);
	}
	fputs("\r\n", out);
}
