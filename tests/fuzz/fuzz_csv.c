/* SPDX-License-Identifier: MIT */
/*
 * fuzz_csv - libFuzzer target for the CSV reader (lib/csv.h).  The
 * input's first byte chooses the separator (',' ';' or automatic) and
 * small limits; the rest is read record by record.  Every record must
 * respect the limits, and writing it with csv_write_record then reading
 * it back must give the same fields.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write the record and read it back: the same fields, or abort. */
static void
round_trip(char **fields, size_t n, char sep)
{
	char *text = NULL, **again;
	size_t len = 0, m;
	const char *error;
	FILE *out = open_memstream(&text, &len), *in;
	struct csv_reader *r;

	if (out == NULL)
		abort();
	/* A line break first: a field starting with a byte order mark stays data. */
	fputs("\n", out);
	csv_write_record(out, (const char *const *)fields, n, sep);
	fclose(out);
	if ((in = fmemopen(text, len, "r")) == NULL)
		abort();
	r = csv_reader_new(in, sep);
	csv_reader_limits(r, CSV_RECORD_MAX, 4 * CSV_RECORD_MAX, CSV_FIELDS_MAX);
	if (csv_read(r, &again, &m, &error) != 1 || m != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i], again[i]) != 0)
			abort();
	if (csv_read(r, &again, &m, &error) != 0)
		abort();
	csv_reader_free(&r);
	fclose(in);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char seps[] = { ',', ';', 0, 0 };
	size_t field_max, fields_max, record_max, n;
	unsigned long line = 0;
	const char *error;
	char **fields, sep;
	struct csv_reader *r;
	FILE *fp;
	int rc;

	if (size < 1)
		return 0;
	sep = seps[data[0] & 3];
	field_max = (data[0] & 4) ? 16 : CSV_FIELD_MAX;
	fields_max = (data[0] & 8) ? 4 : CSV_FIELDS_MAX;
	record_max = (data[0] & 16) ? 64 : CSV_RECORD_MAX;
	data++;
	size--;
	/* fmemopen of 0 bytes fails on some libcs: nothing to read then. */
	if (size == 0)
		return 0;
	if ((fp = fmemopen((void *)data, size, "r")) == NULL)
		abort();
	r = csv_reader_new(fp, sep);
	csv_reader_limits(r, field_max, record_max, fields_max);
	while ((rc = csv_read(r, &fields, &n, &error)) != 0) {
		/* Records come in file order. */
		if (csv_record_line(r) < line || csv_record_line(r) > size + 1)
			abort();
		line = csv_record_line(r);
		if (rc < 0) {
			if (error == NULL || error[0] == '\0')
				abort();
			continue;
		}
		if (n == 0 || n > fields_max)
			abort();
		for (size_t i = 0; i < n; i++)
			if (strlen(fields[i]) > field_max)
				abort();
		round_trip(fields, n, csv_separator(r));
	}
	if (csv_separator(r) != ',' && csv_separator(r) != ';')
		abort();
	csv_reader_free(&r);
	fclose(fp);
	return 0;
}
