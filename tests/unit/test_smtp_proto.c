/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_proto - the SMTP command line parser, ESMTP parameters and
 * xtext (mta/smtp_proto.h), one table per function.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mta/smtp_proto.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void
test_command_parse(void **state)
{
	static const struct {
		const char *line;
		int rc;
		enum smtp_cmd cmd;
		const char *verb;	/* expected canonical verb */
		const char *arg;	/* expected argument */
	} rows[] = {
		{ "HELO a.example", 0, SMTP_CMD_HELO, "HELO", "a.example" },
		{ "ehlo a.example", 0, SMTP_CMD_EHLO, "EHLO", "a.example" },
		{ "EhLo a.example", 0, SMTP_CMD_EHLO, "EHLO", "a.example" },
		{ "MAIL FROM:<a@b> SIZE=10", 0, SMTP_CMD_MAIL, "MAIL", "FROM:<a@b> SIZE=10" },
		{ "rcpt TO:<a@b>", 0, SMTP_CMD_RCPT, "RCPT", "TO:<a@b>" },
		/* Two blanks: liberal, the argument starts at the first non-blank. */
		{ "MAIL  FROM:<a@b>", 0, SMTP_CMD_MAIL, "MAIL", "FROM:<a@b>" },
		{ "DATA", 0, SMTP_CMD_DATA, "DATA", "" },
		{ "data ", 0, SMTP_CMD_DATA, "DATA", "" },
		{ "BDAT 100 LAST", 0, SMTP_CMD_BDAT, "BDAT", "100 LAST" },
		{ "RSET", 0, SMTP_CMD_RSET, "RSET", "" },
		{ "noop hello", 0, SMTP_CMD_NOOP, "NOOP", "hello" },
		{ "QUIT", 0, SMTP_CMD_QUIT, "QUIT", "" },
		{ "VRFY u", 0, SMTP_CMD_VRFY, "VRFY", "u" },
		{ "EXPN list", 0, SMTP_CMD_EXPN, "EXPN", "list" },
		{ "HELP", 0, SMTP_CMD_HELP, "HELP", "" },
		{ "StartTLS", 0, SMTP_CMD_STARTTLS, "STARTTLS", "" },
		{ "AUTH PLAIN AGFAYg==", 0, SMTP_CMD_AUTH, "AUTH", "PLAIN AGFAYg==" },
		/* A browser or proxy on the SMTP port. */
		{ "GET / HTTP/1.1", 0, SMTP_CMD_HTTP, "GET", "/ HTTP/1.1" },
		{ "post /x HTTP/1.0", 0, SMTP_CMD_HTTP, "POST", "/x HTTP/1.0" },
		{ "CONNECT a:25 HTTP/1.1", 0, SMTP_CMD_HTTP, "CONNECT", "a:25 HTTP/1.1" },
		{ "PUT /", 0, SMTP_CMD_HTTP, "PUT", "/" },
		{ "HEAD /", 0, SMTP_CMD_HTTP, "HEAD", "/" },
		/* Unknown but well-formed verbs are commands, just not ours. */
		{ "XCLIENT ADDR=1.2.3.4", 0, SMTP_CMD_UNKNOWN, "", "ADDR=1.2.3.4" },
		{ "MAILX FROM:<a@b>", 0, SMTP_CMD_UNKNOWN, "", "FROM:<a@b>" },
		{ "HEL a", 0, SMTP_CMD_UNKNOWN, "", "a" },
		{ "STARTTLSX", 0, SMTP_CMD_UNKNOWN, "", "" },
		/* Not commands at all. */
		{ "", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ " MAIL FROM:<a@b>", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ "MAIL:FROM", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ "MAIL\tFROM:<a@b>", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ "H3LO a", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ "EHLO\r", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ "\xc3\xa9HLO a", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
		{ "-", -1, SMTP_CMD_UNKNOWN, NULL, NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct smtp_command cmd;
		const char *error = NULL;
		int rc = smtp_command_parse(rows[i].line, strlen(rows[i].line), &cmd, &error);

		if (rc != rows[i].rc)
			fail_msg("\"%s\": rc %d, want %d", rows[i].line, rc, rows[i].rc);
		if (rc < 0) {
			assert_non_null(error);
			if (strncmp(error, "500 5.5.2 ", 10) != 0)
				fail_msg("\"%s\": error \"%s\" is not a 500 reply", rows[i].line, error);
			continue;
		}
		if (cmd.cmd != rows[i].cmd)
			fail_msg("\"%s\": cmd %d, want %d", rows[i].line, cmd.cmd, rows[i].cmd);
		if (strcmp(cmd.verb, rows[i].verb) != 0)
			fail_msg("\"%s\": verb \"%s\", want \"%s\"", rows[i].line, cmd.verb,
			    rows[i].verb);
		if (strcmp(cmd.arg, rows[i].arg) != 0)
			fail_msg("\"%s\": arg \"%s\", want \"%s\"", rows[i].line, cmd.arg,
			    rows[i].arg);
	}
}

static void
test_command_nul(void **state)
{
	/* A NUL inside the line (len counts it) is refused, wherever it is. */
	static const char line[] = "MAIL FROM:<a@b>\0 SIZE=1";
	struct smtp_command cmd;
	const char *error = NULL;

	assert_int_equal(smtp_command_parse(line, sizeof(line) - 1, &cmd, &error), -1);
	assert_non_null(error);
	assert_non_null(strstr(error, "NUL"));
	error = NULL;
	assert_int_equal(smtp_command_parse("\0QUIT", 5, &cmd, &error), -1);
	assert_non_null(strstr(error, "NUL"));
	/* len bounds the verb: "QUITX" cut to 4 bytes is QUIT. */
	assert_int_equal(smtp_command_parse("QUIT", 4, &cmd, &error), 0);
	assert_int_equal(cmd.cmd, SMTP_CMD_QUIT);
}

struct param_want {
	const char *key, *value;
};

static void
test_param_next(void **state)
{
	static const struct {
		const char *in;
		int nparams;		/* params before the end (or the error) */
		int error;		/* 1 if the last call must return -1 */
		struct param_want want[4];
	} rows[] = {
		{ "", 0, 0, { { NULL, NULL } } },
		{ "   ", 0, 0, { { NULL, NULL } } },
		{ "SIZE=1000", 1, 0, { { "SIZE", "1000" } } },
		{ "size=1000 body=8bitmime", 2, 0, { { "SIZE", "1000" }, { "BODY", "8bitmime" } } },
		{ "SMTPUTF8", 1, 0, { { "SMTPUTF8", "" } } },
		{ " RET=HDRS  ENVID=QQ+2B1 SMTPUTF8 ", 3, 0,
		    { { "RET", "HDRS" }, { "ENVID", "QQ+2B1" }, { "SMTPUTF8", "" } } },
		{ "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b", 2, 0,
		    { { "NOTIFY", "SUCCESS,FAILURE" }, { "ORCPT", "rfc822;a@b" } } },
		{ "X-FOO=1", 1, 0, { { "X-FOO", "1" } } },
		{ "AUTH=<>", 1, 0, { { "AUTH", "<>" } } },
		/* UTF-8 in values is left to the SMTPUTF8 check of the caller. */
		{ "X=\xc3\xa9", 1, 0, { { "X", "\xc3\xa9" } } },
		/* Bad keywords. */
		{ "-X=1", 0, 1, { { NULL, NULL } } },
		{ "=1", 0, 1, { { NULL, NULL } } },
		{ "SI_ZE=1", 0, 1, { { NULL, NULL } } },
		{ "SIZE.=1", 0, 1, { { NULL, NULL } } },
		{ "SIZE=1 B@DY=7BIT", 1, 1, { { "SIZE", "1" } } },
		/* Bad values: empty, '=' inside, control characters. */
		{ "SIZE=", 0, 1, { { NULL, NULL } } },
		{ "SIZE= 1", 0, 1, { { NULL, NULL } } },
		{ "X=a=b", 0, 1, { { NULL, NULL } } },
		{ "X=a\tb", 0, 1, { { NULL, NULL } } },
		{ "X=a\x7f", 0, 1, { { NULL, NULL } } },
		/* Keyword longer than the caller's buffer (16). */
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZ=1", 0, 1, { { NULL, NULL } } },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *p = rows[i].in;
		char key[16], value[64];
		int n = 0, rc;

		while ((rc = smtp_param_next(&p, key, sizeof(key), value, sizeof(value))) == 1) {
			if (n >= rows[i].nparams)
				fail_msg("\"%s\": extra param %s=%s", rows[i].in, key, value);
			if (strcmp(key, rows[i].want[n].key) != 0 ||
			    strcmp(value, rows[i].want[n].value) != 0)
				fail_msg("\"%s\": param %d is %s=%s, want %s=%s", rows[i].in, n,
				    key, value, rows[i].want[n].key, rows[i].want[n].value);
			n++;
		}
		if (n != rows[i].nparams)
			fail_msg("\"%s\": %d params, want %d", rows[i].in, n, rows[i].nparams);
		if (rc != (rows[i].error ? -1 : 0))
			fail_msg("\"%s\": ended with %d", rows[i].in, rc);
		if (rc == 0 && *p != '\0')
			fail_msg("\"%s\": cursor not at the end", rows[i].in);
	}
}

static void
test_param_value_too_long(void **state)
{
	const char *p = "ENVID=0123456789";
	char key[16], value[8];

	assert_int_equal(smtp_param_next(&p, key, sizeof(key), value, sizeof(value)), -1);
	p = "ENVID=0123456";
	assert_int_equal(smtp_param_next(&p, key, sizeof(key), value, sizeof(value)), 1);
	assert_string_equal(value, "0123456");
}

static void
test_xtext(void **state)
{
	static const struct {
		const char *in;
		const char *decoded;	/* NULL: invalid */
	} rows[] = {
		{ "", "" },
		{ "abc", "abc" },
		{ "rfc822;a@b.example", "rfc822;a@b.example" },
		{ "a+2Bb", "a+b" },
		{ "a+3Db", "a=b" },
		{ "+20", " " },
		{ "+2B+2B", "++" },
		{ "x+7E", "x~" },
		{ "+", NULL },
		{ "a+", NULL },
		{ "a+2", NULL },
		{ "a+2b", NULL },	/* hexchar is upper case only (RFC 3461) */
		{ "a+G0", NULL },
		{ "a+-1", NULL },
		{ "a=b", NULL },
		{ "a b", NULL },
		{ "a\tb", NULL },
		{ "\x7f", NULL },
		{ "\xc3\xa9", NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char out[64];
		int rc = smtp_xtext_decode(rows[i].in, out, sizeof(out));
		int valid = smtp_xtext_valid(rows[i].in);

		if (rows[i].decoded == NULL) {
			if (rc != -1 || valid != 0)
				fail_msg("\"%s\": accepted (decode %d, valid %d)", rows[i].in, rc, valid);
			continue;
		}
		if (rc != 0 || valid != 1)
			fail_msg("\"%s\": refused (decode %d, valid %d)", rows[i].in, rc, valid);
		if (strcmp(out, rows[i].decoded) != 0)
			fail_msg("\"%s\": decoded \"%s\", want \"%s\"", rows[i].in, out,
			    rows[i].decoded);
	}
}

static void
test_xtext_decode_bounds(void **state)
{
	char out[4];

	/* Three characters and the NUL fit; a fourth does not. */
	assert_int_equal(smtp_xtext_decode("abc", out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(smtp_xtext_decode("abcd", out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("ab+2B", out, sizeof(out)), 0);
	assert_string_equal(out, "ab+");
	assert_int_equal(smtp_xtext_decode("ab+2B+2B", out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_parse),
		cmocka_unit_test(test_command_nul),
		cmocka_unit_test(test_param_next),
		cmocka_unit_test(test_param_value_too_long),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_xtext_decode_bounds),
	};

	return cmocka_run_group_tests_name("smtp_proto", tests, NULL, NULL);
}
