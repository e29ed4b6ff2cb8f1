/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_reply - the SMTP client's reply parser (mta/smtp_reply.h):
 * single and multi-line replies, enhanced status codes, malformed and
 * oversized replies, the one-line form and the EHLO extensions.
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

#include "mta/smtp_reply.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void
test_parse_table(void **state)
{
	static const struct {
		const char *data;
		int rc;
		size_t consumed;	/* when rc == 1 */
		int code;
		const char *dsn;
		const char *text;
		unsigned int nlines;
	} rows[] = {
		{ "250 ok\r\n", 1, 8, 250, "2.0.0", "ok", 1 },
		{ "250 ok\n", 1, 7, 250, "2.0.0", "ok", 1 },
		{ "220 mx.example ESMTP\r\n", 1, 22, 220, "2.0.0", "mx.example ESMTP", 1 },
		{ "250\r\n", 1, 5, 250, "2.0.0", "", 1 },
		{ "250 \r\n", 1, 6, 250, "2.0.0", "", 1 },
		{ "354 go ahead\r\n", 1, 14, 354, "3.0.0", "go ahead", 1 },
		{ "250 2.1.0 Ok\r\n", 1, 14, 250, "2.1.0", "2.1.0 Ok", 1 },
		{ "550 5.1.1 <a@b>: unknown user\r\n", 1, 31, 550, "5.1.1",
		    "5.1.1 <a@b>: unknown user", 1 },
		{ "452 4.5.3 Too many recipients\r\n", 1, 31, 452, "4.5.3",
		    "4.5.3 Too many recipients", 1 },
		{ "550 5.123.456 x\r\n", 1, 17, 550, "5.123.456", "5.123.456 x", 1 },
		{ "550 5.7.1\r\n", 1, 11, 550, "5.7.1", "5.7.1", 1 },
		/* Not enhanced codes: the code's class stands in. */
		{ "550 4.1.1 class mismatch\r\n", 1, 26, 550, "5.0.0", "4.1.1 class mismatch", 1 },
		{ "550 5.1234.1 x\r\n", 1, 16, 550, "5.0.0", "5.1234.1 x", 1 },
		{ "550 5.1 x\r\n", 1, 11, 550, "5.0.0", "5.1 x", 1 },
		{ "550 5.1.1x\r\n", 1, 12, 550, "5.0.0", "5.1.1x", 1 },
		{ "550 5..1 x\r\n", 1, 12, 550, "5.0.0", "5..1 x", 1 },
		{ "550 5.1. x\r\n", 1, 12, 550, "5.0.0", "5.1. x", 1 },
		{ "550 a.b.c x\r\n", 1, 13, 550, "5.0.0", "a.b.c x", 1 },
		/* Multi-line: the first line's enhanced code speaks for the reply. */
		{ "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 1, 46, 250, "2.0.0",
		    "mx.example\nPIPELINING\n8BITMIME", 3 },
		{ "550-5.1.1 first\r\n550 5.1.2 second\r\n", 1, 35, 550, "5.1.1",
		    "5.1.1 first\n5.1.2 second", 2 },
		{ "250-\r\n250 last\r\n", 1, 16, 250, "2.0.0", "\nlast", 2 },
		/* Only the first reply is consumed. */
		{ "250 a\r\n251 b\r\n", 1, 7, 250, "2.0.0", "a", 1 },
		/* Incomplete: more data needed. */
		{ "", 0, 0, 0, NULL, NULL, 0 },
		{ "250 ok", 0, 0, 0, NULL, NULL, 0 },
		{ "250-a\r\n", 0, 0, 0, NULL, NULL, 0 },
		{ "250-a\r\n250 b", 0, 0, 0, NULL, NULL, 0 },
		/* Malformed. */
		{ "\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "25\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "abc def\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "150 x\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "600 x\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "2a0 x\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "250x\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "250_x\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ " 250 x\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "HTTP/1.1 400 Bad Request\r\n", -1, 0, 0, NULL, NULL, 0 },
		/* The code may not change inside a reply. */
		{ "250-a\r\n251 b\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "250-a\r\n550 b\r\n", -1, 0, 0, NULL, NULL, 0 },
		{ "250-a\r\nbogus\r\n", -1, 0, 0, NULL, NULL, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct smtp_reply *r = malloc(sizeof(*r));
		size_t len = strlen(rows[i].data), consumed = 12345;
		const char *error = NULL;
		/* An exact-size copy so ASan catches a read past the end. */
		char *data = malloc(len > 0 ? len : 1);
		int rc;

		assert_non_null(r);
		assert_non_null(data);
		memcpy(data, rows[i].data, len);
		rc = smtp_reply_parse(data, len, r, &consumed, &error);
		if (rc != rows[i].rc)
			fail_msg("row %zu: rc %d, want %d (%s)", i, rc, rows[i].rc,
			    error != NULL ? error : "");
		if (rc < 0)
			assert_non_null(error);
		if (rc == 1) {
			if (consumed != rows[i].consumed)
				fail_msg("row %zu: consumed %zu, want %zu", i, consumed,
				    rows[i].consumed);
			assert_int_equal(r->complete, 1);
			assert_int_equal(r->code, rows[i].code);
			assert_int_equal(r->nlines, rows[i].nlines);
			if (strcmp(r->dsn, rows[i].dsn) != 0)
				fail_msg("row %zu: dsn \"%s\", want \"%s\"", i, r->dsn, rows[i].dsn);
			if (strcmp(r->text, rows[i].text) != 0)
				fail_msg("row %zu: text \"%s\", want \"%s\"", i, r->text,
				    rows[i].text);
			assert_int_equal(r->len, strlen(rows[i].text));
		}
		free(data);
		free(r);
	}
}

static void
test_add_line(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;

	smtp_reply_init(&r);
	assert_int_equal(r.code, 0);
	assert_int_equal(r.complete, 0);
	/* Lines need not be NUL-terminated: len bounds them. */
	assert_int_equal(smtp_reply_add_line(&r, "250-first line...", 14, &error), 0);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.complete, 0);
	assert_int_equal(smtp_reply_add_line(&r, "250 2.0.0 done", 14, &error), 1);
	assert_int_equal(r.complete, 1);
	assert_string_equal(r.text, "first line\n2.0.0 done");
	/* The first line carries no enhanced code: the class stands in. */
	assert_string_equal(r.dsn, "2.0.0");
	/* A line after a complete reply starts the next one. */
	assert_int_equal(smtp_reply_add_line(&r, "354 go", 6, &error), 1);
	assert_int_equal(r.code, 354);
	assert_int_equal(r.nlines, 1);
	assert_string_equal(r.text, "go");
	/* A NUL inside a line is text, not an end. */
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_add_line(&r, "250 a\0b", 7, &error), 1);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.text, "a\0b", 3);
	/* Bad lines. */
	smtp_reply_init(&r);
	error = NULL;
	assert_int_equal(smtp_reply_add_line(&r, "", 0, &error), -1);
	assert_non_null(error);
	assert_int_equal(smtp_reply_add_line(&r, "250 ok", 2, &error), -1);
}

static void
test_too_many_lines(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;
	unsigned int i;

	smtp_reply_init(&r);
	for (i = 1; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(smtp_reply_add_line(&r, "250-x", 5, &error), 0);
	/* The last allowed line completes the reply... */
	assert_int_equal(smtp_reply_add_line(&r, "250 x", 5, &error), 1);
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	/* ...one more continuation line is refused. */
	smtp_reply_init(&r);
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(smtp_reply_add_line(&r, "250-x", 5, &error), 0);
	error = NULL;
	assert_int_equal(smtp_reply_add_line(&r, "250 x", 5, &error), -1);
	assert_non_null(error);
}

static void
test_long_text_truncated(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;
	char line[SMTP_REPLY_LINE_MAX];
	int rc = 0;

	memset(line, 'a', sizeof(line));
	memcpy(line, "250-", 4);
	smtp_reply_init(&r);
	/* Three lines of 4092 text bytes: more than the text buffer holds. */
	for (int i = 0; i < 3 && rc == 0; i++) {
		if (i == 2)
			line[3] = ' ';
		rc = smtp_reply_add_line(&r, line, sizeof(line), &error);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(r.len, SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_string_equal(r.dsn, "2.0.0");
}

static void
test_long_line(void **state)
{
	size_t max = SMTP_REPLY_LINE_MAX;
	char *data = malloc(max + 3);
	struct smtp_reply *r = malloc(sizeof(*r));
	size_t consumed;
	const char *error;

	assert_non_null(data);
	assert_non_null(r);
	/* A line of exactly the maximum, LF-terminated, is accepted. */
	memset(data, 'x', max + 3);
	memcpy(data, "250 ", 4);
	data[max] = '\n';
	assert_int_equal(smtp_reply_parse(data, max + 1, r, &consumed, &error), 1);
	assert_int_equal(consumed, max + 1);
	/* Without its end: more data may come, until it is too long. */
	assert_int_equal(smtp_reply_parse(data, max, r, &consumed, &error), 0);
	data[max] = 'x';
	error = NULL;
	assert_int_equal(smtp_reply_parse(data, max + 1, r, &consumed, &error), -1);
	assert_non_null(error);
	/* One byte too long, then ended. */
	data[max + 1] = '\n';
	error = NULL;
	assert_int_equal(smtp_reply_parse(data, max + 2, r, &consumed, &error), -1);
	assert_non_null(error);
	free(data);
	free(r);
}

static void
test_pipelined(void **state)
{
	static const char data[] = "250 2.1.0 Ok\r\n250-2.1.5 Ok\r\n250 more\r\n354 End with .\r\n";
	static const struct {
		int code;
		const char *dsn;
	} want[] = { { 250, "2.1.0" }, { 250, "2.1.5" }, { 354, "3.0.0" } };
	size_t pos = 0, len = sizeof(data) - 1;
	struct smtp_reply r;

	for (size_t i = 0; i < N_ELEMENTS(want); i++) {
		size_t consumed = 0;
		const char *error;
		assert_int_equal(smtp_reply_parse(data + pos, len - pos, &r, &consumed, &error), 1);
		assert_int_equal(r.code, want[i].code);
		assert_string_equal(r.dsn, want[i].dsn);
		pos += consumed;
	}
	assert_int_equal(pos, len);
}

static void
test_reply_str(void **state)
{
	struct smtp_reply r;
	const char *error;
	char buf[256], small[8];

	smtp_reply_init(&r);
	smtp_reply_add_line(&r, "550-5.1.1 <a@b>:", 16, &error);
	smtp_reply_add_line(&r, "550 5.1.1 unknown\x01user\x7f", 23, &error);
	assert_ptr_equal(smtp_reply_str(&r, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "550 5.1.1 <a@b>: 5.1.1 unknown?user?");

	smtp_reply_init(&r);
	smtp_reply_add_line(&r, "250", 3, &error);
	smtp_reply_str(&r, buf, sizeof(buf));
	assert_string_equal(buf, "250");

	smtp_reply_init(&r);
	smtp_reply_add_line(&r, "250 a long text here", 20, &error);
	smtp_reply_str(&r, small, sizeof(small));
	assert_string_equal(small, "250 a l");
	/* Size 0 writes nothing. */
	small[0] = 'z';
	smtp_reply_str(&r, small, 0);
	assert_int_equal(small[0], 'z');
}

static void
test_ehlo(void **state)
{
	static const struct {
		const char *data;
		unsigned int ext;
		unsigned long long size;
	} rows[] = {
		{ "250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
		  "250-SMTPUTF8\r\n250-STARTTLS\r\n250-CHUNKING\r\n250 DSN\r\n",
		    SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |
		    SMTP_EXT_STARTTLS | SMTP_EXT_CHUNKING | SMTP_EXT_DSN, 52428800 },
		{ "250 mx.example\r\n", 0, 0 },
		/* The greeting line is not an extension. */
		{ "250-PIPELINING\r\n250 8BITMIME\r\n", SMTP_EXT_8BITMIME, 0 },
		{ "250-mx\r\n250-pipelining\r\n250 size\r\n", SMTP_EXT_PIPELINING | SMTP_EXT_SIZE, 0 },
		{ "250-mx\r\n250-SIZE=1000\r\n250 AUTH PLAIN\r\n", SMTP_EXT_SIZE, 1000 },
		{ "250-mx\r\n250-PIPELININGX\r\n250-DSNX\r\n250 XSTARTTLS\r\n", 0, 0 },
		{ "250-mx\r\n250-STARTTLS now\r\n250 SIZE 99999999999999999999999\r\n",
		    SMTP_EXT_STARTTLS | SMTP_EXT_SIZE, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct smtp_reply r;
		size_t consumed;
		const char *error;
		unsigned long long size = 7;
		unsigned int ext;

		assert_int_equal(smtp_reply_parse(rows[i].data, strlen(rows[i].data), &r, &consumed,
		    &error), 1);
		ext = smtp_reply_ehlo(&r, &size);
		if (ext != rows[i].ext)
			fail_msg("row %zu: extensions %#x, want %#x", i, ext, rows[i].ext);
		/* A SIZE too big to believe must not wrap around to a small one. */
		if (i == N_ELEMENTS(rows) - 1) {
			if (size != 0 && size < 1000000000000ULL)
				fail_msg("row %zu: SIZE overflowed to %llu", i, size);
		} else if (size != rows[i].size) {
			fail_msg("row %zu: size %llu, want %llu", i, size, rows[i].size);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_add_line),
		cmocka_unit_test(test_too_many_lines),
		cmocka_unit_test(test_long_text_truncated),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_reply_str),
		cmocka_unit_test(test_ehlo),
	};

	return cmocka_run_group_tests_name("smtp_reply", tests, NULL, NULL);
}
