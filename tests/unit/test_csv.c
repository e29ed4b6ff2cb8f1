/* SPDX-License-Identifier: MIT */
/*
 * test_csv - the RFC 4180 reader and writer (lib/csv.h): a table of
 * inputs and what the reader makes of each, record by record, errors
 * with their lines included; limits; the writer read back.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/csv.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Read everything in (len bytes) and render it: "LINE:f1|f2|...\n" per
 * record, "LINE!error\n" per error, then "sep=C".
 */
static char *
render(const char *in, size_t len, char sep, size_t field_max, size_t record_max,
    size_t fields_max)
{
	FILE *fp = fmemopen((void *)in, len, "r"), *out;
	struct csv_reader *r;
	char *text = NULL, **fields;
	size_t size = 0, n;
	const char *error;
	int rc, guard = 0;

	assert_non_null(fp);
	assert_non_null(out = open_memstream(&text, &size));
	r = csv_reader_new(fp, sep);
	csv_reader_limits(r, field_max, record_max, fields_max);
	while ((rc = csv_read(r, &fields, &n, &error)) != 0 && guard++ < 100) {
		if (rc < 0) {
			if (csv_error_field(r) > 0)
				fprintf(out, "%lu!field %zu: %s\n", csv_record_line(r), csv_error_field(r),
				    error);
			else
				fprintf(out, "%lu!%s\n", csv_record_line(r), error);
			continue;
		}
		fprintf(out, "%lu:", csv_record_line(r));
		for (size_t i = 0; i < n; i++)
			fprintf(out, "%s%s", i > 0 ? "|" : "", fields[i]);
		fprintf(out, "\n");
	}
	assert_true(guard < 100);
	fprintf(out, "sep=%c", csv_separator(r));
	csv_reader_free(&r);
	assert_null(r);
	fclose(fp);
	fclose(out);
	return text;
}

static void
test_table(void **state)
{
	static const struct {
		const char *in;
		size_t len;		/* 0: strlen(in) */
		char sep;
		const char *out;
	} rows[] = {
		/* Plain records, LF or CRLF, the last one with or without its end. */
		{ "a,b,c\n1,2,3\n", 0, ',', "1:a|b|c\n2:1|2|3\nsep=," },
		{ "a,b,c\r\n1,2,3\r\n", 0, ',', "1:a|b|c\n2:1|2|3\nsep=," },
		{ "a,b\n1,2", 0, ',', "1:a|b\n2:1|2\nsep=," },
		{ "", 0, ',', "sep=," },
		{ "\n\r\n\n", 0, ',', "sep=," },
		/* Empty fields, blanks kept, empty lines skipped. */
		{ ",,\n", 0, ',', "1:||\nsep=," },
		{ "a, b ,c\n\n\nd,e,f\n\n", 0, ',', "1:a| b |c\n4:d|e|f\nsep=," },
		{ "x\n", 0, ',', "1:x\nsep=," },
		/* Quoted fields: separators, doubled quotes, line breaks inside. */
		{ "\"a,b\",\"say \"\"hi\"\"\",\"\"\n", 0, ',', "1:a,b|say \"hi\"|\nsep=," },
		{ "\"two\nlines\",x\nnext,y\n", 0, ',', "1:two\nlines|x\n3:next|y\nsep=," },
		{ "\"crlf\r\ninside\",x\r\n", 0, ',', "1:crlf\r\ninside|x\nsep=," },
		{ "\"\"\"\"\n", 0, ',', "1:\"\nsep=," },
		{ "\"last\"", 0, ',', "1:last\nsep=," },
		{ "a,\"\"\n", 0, ',', "1:a|\nsep=," },
		/* A lone CR is data. */
		{ "a\rb,c\n", 0, ',', "1:a\rb|c\nsep=," },
		/* UTF-8: a byte order mark is dropped, the rest kept as it is. */
		{ "\xef\xbb\xbf" "nom,ville\nJosé,Orléans\n", 0, ',',
		  "1:nom|ville\n2:José|Orléans\nsep=," },
		{ "\xef\xbb" "x\n", 0, ',', "1:\xef\xbbx\nsep=," },
		{ "\xef\xbb\xbf", 0, ',', "sep=," },
		/* Separators: ';' given, or chosen from the first record. */
		{ "a;b,c\n", 0, ';', "1:a|b,c\nsep=;" },
		{ "address;name;profile\nx@y.test;Dupont, Jean;staff\n", 0, 0,
		  "1:address|name|profile\n2:x@y.test|Dupont, Jean|staff\nsep=;" },
		{ "\xef\xbb\xbf" "\"a;b\",c\n", 0, 0, "1:a;b|c\nsep=," },
		{ "\"a,b,c\";d;e\n1;2;3\n", 0, 0, "1:a,b,c|d|e\n2:1|2|3\nsep=;" },
		{ "single\n", 0, 0, "1:single\nsep=," },
		/* A separator other than ',' or ';' means ','. */
		{ "a\tb,c\n", 0, '\t', "1:a\tb|c\nsep=," },
		/* Errors, with the record's line; reading goes on after them. */
		{ "a,b\"c,d\nok,1\n", 0, ',',
		  "1!field 2: quote in an unquoted field (quote the field and double the quote)\n"
		  "2:ok|1\nsep=," },
		{ "\"a\"b,c\nok\n", 0, ',', "1!field 1: text after the closing quote\n2:ok\nsep=," },
		{ "h\n\"a\" ,c\nok\n", 0, ',',
		  "1:h\n2!field 1: text after the closing quote\n3:ok\nsep=," },
		{ "h\nx,\"never closed\nmore\n", 0, ',',
		  "1:h\n2!field 2: the quote opened on line 2 is not closed\nsep=," },
		{ "a\0b,c\nok\n", 9, ',', "1!field 1: NUL byte\n2:ok\nsep=," },
		{ "\"a\0\"\nok\n", 8, ',', "1!field 1: NUL byte\n2:ok\nsep=," },
		{ "\"a\"\r\rb\nok\n", 0, ',', "1!field 1: text after the closing quote\n2:ok\nsep=," },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t len = rows[i].len != 0 ? rows[i].len : strlen(rows[i].in);
		char *got = render(rows[i].in, len, rows[i].sep, 0, 0, 0);
		if (strcmp(got, rows[i].out) != 0)
			fail_msg("row %zu: got\n%s\nwanted\n%s", i, got, rows[i].out);
		free(got);
	}
}

static void
test_limits(void **state)
{
	static const struct {
		const char *in;
		size_t field_max, record_max, fields_max;
		const char *out;
	} rows[] = {
		{ "abcd,ef\nabc,de\n", 3, 0, 0,
		  "1!field 1: longer than 3 bytes\n2:abc|de\nsep=," },
		{ "\"ab\ncd\",x\nok\n", 3, 0, 0,
		  "1!field 1: longer than 3 bytes\n3:ok\nsep=," },
		{ "a,b,c,d\nx,y\n", 0, 0, 3, "1!more than 3 fields\n2:x|y\nsep=," },
		{ "aaaa,bbbb,cccc\nab,cd\n", 0, 10, 0, "1!record longer than 10 bytes\n2:ab|cd\nsep=," },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *got = render(rows[i].in, strlen(rows[i].in), ',', rows[i].field_max,
		    rows[i].record_max, rows[i].fields_max);
		if (strcmp(got, rows[i].out) != 0)
			fail_msg("row %zu: got\n%s\nwanted\n%s", i, got, rows[i].out);
		free(got);
	}
}

/* What the writer writes, the reader reads back the same. */
static void
test_write_read_back(void **state)
{
	static const char *const values[] = {
		"plain", "", "with,comma", "with;semicolon", "say \"hi\"", "two\nlines", "cr\r\nlf",
		" lead", "trail ", "\ttab", "=SUM(A1)", "José",
	};
	static const struct {
		char sep;
		const char *text;
	} expect[] = {
		{ ',', "plain,,\"with,comma\",with;semicolon,\"say \"\"hi\"\"\",\"two\nlines\","
		  "\"cr\r\nlf\",\" lead\",\"trail \",\"\ttab\",=SUM(A1),José\r\n" },
		{ ';', "plain;;with,comma;\"with;semicolon\";\"say \"\"hi\"\"\";\"two\nlines\";"
		  "\"cr\r\nlf\";\" lead\";\"trail \";\"\ttab\";=SUM(A1);José\r\n" },
	};

	for (size_t k = 0; k < N_ELEMENTS(expect); k++) {
		char *text = NULL, **fields;
		size_t size = 0, n;
		const char *error;
		FILE *out = open_memstream(&text, &size), *in;
		struct csv_reader *r;

		csv_write_record(out, values, N_ELEMENTS(values), expect[k].sep);
		csv_write_record(out, values, 2, expect[k].sep);
		fclose(out);
		assert_memory_equal(text, expect[k].text, strlen(expect[k].text));
		assert_non_null(in = fmemopen(text, size, "r"));
		r = csv_reader_new(in, 0);
		assert_int_equal(csv_read(r, &fields, &n, &error), 1);
		assert_int_equal(csv_separator(r), expect[k].sep);
		assert_int_equal(n, N_ELEMENTS(values));
		for (size_t i = 0; i < n; i++)
			assert_string_equal(fields[i], values[i]);
		assert_int_equal(csv_read(r, &fields, &n, &error), 1);
		assert_int_equal(n, 2);
		assert_int_equal(csv_record_line(r), 4);
		assert_int_equal(csv_read(r, &fields, &n, &error), 0);
		csv_reader_free(&r);
		fclose(in);
		free(text);
	}
}

/* A file much larger than the buffers, read a record at a time. */
static void
test_long_file(void **state)
{
	char *text = NULL, **fields, line[64];
	size_t size = 0, n, records = 0;
	const char *error;
	FILE *out = open_memstream(&text, &size), *in;
	struct csv_reader *r;

	fprintf(out, "address,name\r\n");
	for (int i = 0; i < 20000; i++)
		fprintf(out, "user%d@example.org,\"User, %d\"\r\n", i, i);
	fclose(out);
	assert_non_null(in = fmemopen(text, size, "r"));
	r = csv_reader_new(in, 0);
	assert_int_equal(csv_read(r, &fields, &n, &error), 1);
	while (csv_read(r, &fields, &n, &error) == 1) {
		snprintf(line, sizeof(line), "User, %zu", records);
		assert_int_equal(n, 2);
		assert_string_equal(fields[1], line);
		records++;
	}
	assert_int_equal(records, 20000);
	assert_int_equal(csv_record_line(r), 20002);
	csv_reader_free(&r);
	fclose(in);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_write_read_back),
		cmocka_unit_test(test_long_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
