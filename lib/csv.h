/* SPDX-License-Identifier: MIT */
/*
 * csv - a streaming reader and a writer of comma-separated values
 * (RFC 4180), for the directory's batch import and export.
 *
 * The reader takes a record at a time from a FILE *, so a file of any
 * size is read in the memory of its longest record.  It accepts what
 * spreadsheets write: fields quoted or not, "" for a quote inside a quoted
 * field, line breaks inside quoted fields, records ended by CRLF or LF (or
 * nothing at the end of the file), a UTF-8 byte order mark before the
 * first record, and ';' instead of ',' (French spreadsheets: the comma is
 * their decimal separator).  It refuses what would be read wrongly: a
 * quote inside an unquoted field, anything but a separator or the end of
 * the record after a closing quote, a quoted field the file ends in, a NUL
 * byte, and fields or records over the limits.
 *
 * Blanks are data (RFC 4180): the reader trims nothing.  Empty lines are
 * skipped, so a file may end with blank lines.
 */
#ifndef FACTEUR_CSV_H
#define FACTEUR_CSV_H

#include <stddef.h>
#include <stdio.h>

struct csv_reader;

/* Default limits: 64 KiB a field, 1 MiB a record, 256 fields a record. */
#define CSV_FIELD_MAX	(64 * 1024)
#define CSV_RECORD_MAX	(1024 * 1024)
#define CSV_FIELDS_MAX	256

/*
 * A reader of fp (not closed by csv_reader_free).  sep is ',' or ';', or
 * 0 to choose from the first record: the one of the two found more often
 * outside quotes in it, ',' when neither is.
 */
struct csv_reader *csv_reader_new(FILE *fp, char sep);
void csv_reader_free(struct csv_reader **r);
/* Change the limits (0 keeps one). */
void csv_reader_limits(struct csv_reader *r, size_t field_max, size_t record_max,
    size_t fields_max);

/*
 * The next record: 1 with *fields_r (n_r strings, NUL-terminated, owned by
 * the reader and valid until its next call) filled; 0 at the end of the
 * input; -1 with *error_r (owned by the reader, as valid) for a record
 * that is not well-formed, or a read error.  After -1 the reader has
 * skipped what was left of the bad record (to the end of its line) and
 * may be called again: every bad record of a file can be reported.
 */
int csv_read(struct csv_reader *r, char ***fields_r, size_t *n_r, const char **error_r);
/* The line (from 1) the last record read, or failed, started on. */
unsigned long csv_record_line(const struct csv_reader *r);
/* The field (from 1) csv_read's last error is about, 0 for the record as a whole. */
size_t csv_error_field(const struct csv_reader *r);
/* The separator in use (',' before the first record when it was chosen automatically). */
char csv_separator(const struct csv_reader *r);

/*
 * Write one field: quoted when it holds sep, a quote, CR or LF, or
 * starts or ends with a blank (quotes doubled).
 */
void csv_write_field(FILE *out, const char *field, char sep);
/* Write a record of n fields ended by CRLF (RFC 4180); one empty field is written "". */
void csv_write_record(FILE *out, const char *const *fields, size_t n, char sep);

#endif
