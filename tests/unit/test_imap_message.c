/* SPDX-License-Identifier: MIT */
/*
 * test_imap_message - the message structure imapd serves
 * (store/imap_message.h): ENVELOPE, BODYSTRUCTURE, sections and BINARY,
 * one table each.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/imap_message.h"
#include "store/imap_parser.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const char plain[] =
    "From: \"Doe, John\" <john@example.com>\r\n"
    "To: alice@example.org, Bob <bob@example.net>\r\n"
    "Cc: undisclosed-recipients:;\r\n"
    "Subject: =?utf-8?q?caf=C3=A9?=\r\n"
    "Date: Tue, 2 Jan 2024 08:00:00 +0100\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "\r\n"
    "line one\r\n"
    "line two\r\n";

static const char multi[] =
    "From: a@example.com\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: multipart/alternative; boundary=b2\r\n"
    "\r\n"
    "--b2\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=E9\r\n"
    "--b2\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>x</p>\r\n"
    "--b2--\r\n"
    "--b1\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "From: c@example.com\r\n"
    "\r\n"
    "inner body\r\n"
    "--b1\r\n"
    "Content-Type: application/pdf; name=\"r.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"r.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Language: en, fr\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--b1--\r\n";

/* No blank line: everything is header; a multipart without boundary is text. */
static const char odd[] =
    "Content-Type: multipart/mixed\r\n"
    "Subject: no body";

static void
test_envelope(void **state)
{
	static const struct {
		const char *msg;
		const char *envelope;
	} rows[] = {
		{ plain, "(\"Tue, 2 Jan 2024 08:00:00 +0100\" \"=?utf-8?q?caf=C3=A9?=\" "
		    "((\"Doe, John\" NIL \"john\" \"example.com\")) "
		    "((\"Doe, John\" NIL \"john\" \"example.com\")) "
		    "((\"Doe, John\" NIL \"john\" \"example.com\")) "
		    "((NIL NIL \"alice\" \"example.org\")(\"Bob\" NIL \"bob\" \"example.net\")) "
		    "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL "
		    "\"<m1@example.com>\")" },
		{ odd, "(NIL \"no body\" NIL NIL NIL NIL NIL NIL NIL NIL)" },
		{ "From: x@y (Old Style)\r\nTo: <@r1,@r2:u@h>\r\n\r\n",
		    "(NIL NIL ((\"Old Style\" NIL \"x\" \"y\")) ((\"Old Style\" NIL \"x\" \"y\")) "
		    "((\"Old Style\" NIL \"x\" \"y\")) ((NIL \"@r1,@r2\" \"u\" \"h\")) NIL NIL NIL NIL)" },
		{ "To: nohost\r\n\r\n",
		    "(NIL NIL NIL NIL NIL ((NIL NIL \"nohost\" \"MISSING_DOMAIN\")) NIL NIL NIL NIL)" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_message *m = imap_message_parse(rows[i].msg, strlen(rows[i].msg));
		struct imap_out o = { NULL, 0, 0 };

		imap_message_envelope(m, &o);
		if (strcmp(o.data, rows[i].envelope) != 0)
			fail_msg("row %zu:\n got %s\nwant %s", i, o.data, rows[i].envelope);
		imap_out_free(&o);
		imap_message_free(&m);
		assert_null(m);
	}
}

static void
test_bodystructure(void **state)
{
	static const struct {
		const char *msg;
		int ext;
		const char *body;
	} rows[] = {
		{ plain, 1, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2 "
		    "NIL NIL NIL NIL)" },
		{ plain, 0, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2)" },
		{ odd, 0, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)" },
		{ multi, 0,
		    "(((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 6 1)"
		    "(\"text\" \"html\" NIL NIL NIL \"7bit\" 8 1) \"alternative\")"
		    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 49 "
		    "(NIL \"inner\" ((NIL NIL \"c\" \"example.com\")) ((NIL NIL \"c\" \"example.com\")) "
		    "((NIL NIL \"c\" \"example.com\")) NIL NIL NIL NIL NIL) "
		    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1) 4)"
		    "(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 8) \"mixed\")" },
		{ multi, 1,
		    "(((\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"quoted-printable\" 6 1 "
		    "NIL NIL NIL NIL)"
		    "(\"text\" \"html\" NIL NIL NIL \"7bit\" 8 1 NIL NIL NIL NIL) \"alternative\" "
		    "(\"boundary\" \"b2\") NIL NIL NIL)"
		    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 49 "
		    "(NIL \"inner\" ((NIL NIL \"c\" \"example.com\")) ((NIL NIL \"c\" \"example.com\")) "
		    "((NIL NIL \"c\" \"example.com\")) NIL NIL NIL NIL NIL) "
		    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL) "
		    "4 NIL NIL NIL NIL)"
		    "(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 8 NIL "
		    "(\"attachment\" (\"filename\" \"r.pdf\")) (\"en\" \"fr\") NIL) \"mixed\" "
		    "(\"boundary\" \"b1\") NIL NIL NIL)" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_message *m = imap_message_parse(rows[i].msg, strlen(rows[i].msg));
		struct imap_out o = { NULL, 0, 0 };

		imap_message_bodystructure(m, &o, rows[i].ext);
		if (strcmp(o.data, rows[i].body) != 0)
			fail_msg("row %zu:\n got %s\nwant %s", i, o.data, rows[i].body);
		imap_out_free(&o);
		imap_message_free(&m);
	}
}

static void
test_sections(void **state)
{
	static const struct {
		const char *msg;
		const char *spec;
		int rc;
		const char *want;
	} rows[] = {
		{ plain, "TEXT", 0, "line one\r\nline two\r\n" },
		{ plain, "1", 0, "line one\r\nline two\r\n" },
		{ plain, "2", -1, NULL },
		{ plain, "HEADER.FIELDS (SUBJECT message-id)", 0,
		    "Subject: =?utf-8?q?caf=C3=A9?=\r\nMessage-ID: <m1@example.com>\r\n\r\n" },
		{ plain, "HEADER.FIELDS.NOT (From To Cc Subject Date)", 0,
		    "Message-ID: <m1@example.com>\r\n\r\n" },
		{ multi, "1.1", 0, "caf=E9" },
		{ multi, "1.2", 0, "<p>x</p>" },
		{ multi, "1.2.MIME", 0, "Content-Type: text/html\r\n\r\n" },
		{ multi, "1.3", -1, NULL },
		{ multi, "2", 0, "Subject: inner\r\nFrom: c@example.com\r\n\r\ninner body" },
		{ multi, "2.HEADER", 0, "Subject: inner\r\nFrom: c@example.com\r\n\r\n" },
		{ multi, "2.TEXT", 0, "inner body" },
		{ multi, "2.1", 0, "inner body" },
		{ multi, "3.HEADER", -1, NULL },
		{ multi, "4", -1, NULL },
		{ multi, "0", -1, NULL },
		{ multi, "1.", -1, NULL },
		{ multi, "BOGUS", -1, NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_message *m = imap_message_parse(rows[i].msg, strlen(rows[i].msg));
		struct imap_out o = { NULL, 0, 0 };
		int rc = imap_message_section(m, rows[i].spec, &o);

		if (rc != rows[i].rc)
			fail_msg("row %zu \"%s\": rc %d, want %d", i, rows[i].spec, rc, rows[i].rc);
		if (rc == 0 && (o.len != strlen(rows[i].want) ||
		    memcmp(o.data != NULL ? o.data : "", rows[i].want, o.len) != 0))
			fail_msg("row %zu \"%s\": got \"%.*s\"", i, rows[i].spec, (int)o.len,
			    o.data != NULL ? o.data : "");
		imap_out_free(&o);
		imap_message_free(&m);
	}
}

static void
test_binary_and_text(void **state)
{
	struct imap_message *m = imap_message_parse(multi, strlen(multi));
	struct imap_out o = { NULL, 0, 0 };

	assert_int_equal(imap_message_binary(m, "3", &o), 0);
	assert_int_equal(o.len, 5);
	assert_memory_equal(o.data, "%PDF-", 5);
	imap_out_free(&o);
	assert_int_equal(imap_message_binary(m, "1.1", &o), 0);
	assert_int_equal(o.len, 4);
	assert_memory_equal(o.data, "caf\xe9", 4);
	imap_out_free(&o);
	assert_int_equal(imap_message_binary(m, "1.9", &o), -1);
	imap_out_free(&o);
	imap_message_free(&m);
	{
		static const char x[] = "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n";
		m = imap_message_parse(x, strlen(x));
		assert_int_equal(imap_message_binary(m, "1", &o), -2);
		imap_out_free(&o);
		imap_message_free(&m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_bodystructure),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_binary_and_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
