/* SPDX-License-Identifier: MIT */
/*
 * test_sieve - the Sieve language (store/sieve.h) on messages in memory:
 * compile errors and their line numbers, each test (header, address,
 * envelope, exists, size, body, string, hasflag, mailboxexists, the
 * match types, comparators and relational :count/:value) and each action
 * (keep, fileinto, redirect, discard, reject/ereject, vacation, stop,
 * set and match variables, imap4flags), the implicit keep and how
 * actions combine, runtime errors (too much work, conflicts), the
 * vacation rules of RFC 5230 and the answer, and the scripts' storage
 * (sieve_store.h) in a temporary mail store.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/mem.h"
#include "store/mstore.h"
#include "store/sieve.h"
#include "store/sieve_store.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/test_sieve.XXXXXX";

static const char MSG[] =
    "Return-Path: <alice@example.net>\r\n"
    "Received: from mx.example.net by mx.test; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    "From: \"Alice Doe\" <Alice@Example.NET>\r\n"
    "To: bob@example.org, \"Carol, C.\" <carol+lists@example.org>\r\n"
    "Cc: undisclosed-recipients:;\r\n"
    "Subject: [acme-users] [fwd] version 1.0 is out\r\n"
    "X-Spam-Score: 7\r\n"
    "X-Long: first\r\n"
    " second line\r\n"
    "X-Encoded: =?UTF-8?B?w6l0w6k=?=\r\n"
    "List-Id: ACME users <acme-users.lists.example.net>\r\n"
    "Message-ID: <m1@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Hello, the release is =C3=A9t=C3=A9 ready.\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "U0VDUkVUIGJpbmFyeQ==\r\n"
    "--b1--\r\n";

/* What the actions of a run say, one word each, for the tables. */
static void
summary(const struct sieve_result *res, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < res->n && n < size; i++) {
		const struct sieve_action *a = &res->actions[i];
		char flags[160] = "";

		if ((a->kind == SIEVE_KEEP || a->kind == SIEVE_FILEINTO) &&
		    (a->flags != 0 || (a->keywords != NULL && a->keywords[0] != '\0')))
			snprintf(flags, sizeof(flags), "[%x%s%s]", a->flags,
			    a->keywords[0] != '\0' ? " " : "", a->keywords);
		switch (a->kind) {
		case SIEVE_KEEP:
			n += (size_t)snprintf(out + n, size - n, "%skeep%s", n ? " " : "", flags);
			break;
		case SIEVE_FILEINTO:
			n += (size_t)snprintf(out + n, size - n, "%sfileinto:%s%s%s%s", n ? " " : "",
			    a->mailbox, a->copy ? ":copy" : "", a->create ? ":create" : "", flags);
			break;
		case SIEVE_REDIRECT:
			n += (size_t)snprintf(out + n, size - n, "%sredirect:%s%s", n ? " " : "",
			    a->address, a->copy ? ":copy" : "");
			break;
		case SIEVE_DISCARD:
			n += (size_t)snprintf(out + n, size - n, "%sdiscard", n ? " " : "");
			break;
		case SIEVE_REJECT:
			n += (size_t)snprintf(out + n, size - n, "%s%s:%s", n ? " " : "",
			    a->ereject ? "ereject" : "reject", a->reason);
			break;
		case SIEVE_VACATION:
			n += (size_t)snprintf(out + n, size - n, "%svacation:%u", n ? " " : "", a->days);
			break;
		}
	}
}

static int
exists_cb(void *ctx, const char *name)
{
	return strcmp(name, "Lists") == 0 || strcmp(name, "INBOX") == 0;
}

/* Run script on msg; the summary, or "error: ..." after a runtime error. */
static void
run(const char *script, const char *msg, const char *from, const char *to, char *out,
    size_t size)
{
	char error[SIEVE_ERROR_SIZE];
	struct sieve_script *s = sieve_compile(script, strlen(script), error, sizeof(error));
	struct sieve_message m = { msg, strlen(msg), from, to };
	struct sieve_env env = { NULL, exists_cb };
	struct sieve_result res;

	if (s == NULL)
		fail_msg("compile: %s\n%s", error, script);
	if (sieve_execute(s, &m, &env, &res) < 0) {
		snprintf(out, size, "error: %s", res.error);
		/* After an error the message is kept, and nothing else. */
		assert_int_equal(res.n, 1);
		assert_int_equal(res.actions[0].kind, SIEVE_KEEP);
	} else {
		summary(&res, out, size);
	}
	sieve_result_free(&res);
	sieve_script_free(&s);
}

/* ---- compile errors ---- */

static void
test_compile_errors(void **state)
{
	static const struct {
		const char *script;
		const char *error;	/* a substring of the message, line included */
	} cases[] = {
		{ "keep;\nfileinot \"x\";\n", "line 2: unknown command \"fileinot\"" },
		{ "fileinto \"x\";", "line 1: fileinto needs require \"fileinto\"" },
		{ "require \"fileinto\";\nif true {\n  fileinto \"a\"\n}\n",
		    "line 4: missing \";\" after fileinto" },
		{ "if header :is \"subject\" \"x\" {\n keep;\n", "line 1: the block opened here is "
		    "not closed" },
		{ "keep;\n}\n", "line 2: \"}\" without a block" },
		{ "require \"nosuch\";", "line 1: unsupported extension \"nosuch\"" },
		{ "keep;\nrequire \"fileinto\";", "line 2: require must come before" },
		{ "if header :frob \"a\" \"b\" { keep; }", "line 1: header: unknown tag :frob" },
		{ "if header :is :contains \"a\" \"b\" { keep; }", "more than one match type" },
		{ "if header :comparator \"i;nope\" \"a\" \"b\" { keep; }", "unknown comparator" },
		{ "if header :count \"gt\" \"a\" \"1\" { keep; }", "needs require \"relational\"" },
		{ "require \"relational\";\nif header :value \"xx\" \"a\" \"b\" { keep; }",
		    "line 2: unknown relation \"xx\"" },
		{ "if address \"subject\" \"a\" { keep; }", "not a header field holding addresses" },
		{ "if header \"bad name\" \"a\" { keep; }", "is not a header field name" },
		{ "require \"envelope\";\nif envelope \"auth\" \"a\" { keep; }",
		    "line 2: envelope: unknown part" },
		{ "redirect \"not an address\";", "line 1: redirect: \"not an address\" is not an "
		    "address" },
		{ "elsif true { keep; }", "elsif without a preceding if" },
		{ "if true { keep; } keep; else { keep; }", "else without a preceding if" },
		{ "if true keep;", "line 1: \"keep\" is a command, not a test" },
		{ "if true;", "if needs a block" },
		{ "keep { stop; }", "keep takes no block" },
		{ "stop \"x\";", "stop takes no arguments" },
		{ "if size :over \"10\" { keep; }", "size: wrong arguments" },
		{ "if size :over 10X { keep; }", "bad number" },
		{ "if size :over 99999999999999999999 { keep; }", "number too large" },
		{ "keep; /* unterminated", "line 1: unterminated comment" },
		{ "\n\nif header :is \"a\" \"unterminated { keep; }", "line 3: unterminated string" },
		{ "require \"vacation\";\nvacation text:\nbody\n", "line 2: unterminated multi-line" },
		{ "if not (true, false) { keep; }", "not takes one test" },
		{ "if allof true { keep; }", "allof takes a list of tests" },
		{ "if anyof (true false) { keep; }", "true takes no arguments" },
		{ "if anyof (true; false) { keep; }", "missing \",\" or \")\"" },
		{ "if header :is [\"a\" \"b\"] \"c\" { keep; }", "missing \",\" or \"]\"" },
		{ "keep @;", "unexpected character '@'" },
		{ "require \"variables\";\nset \"1abc\" \"x\";", "line 2: set: \"1abc\" is not a "
		    "variable name" },
		{ "require \"variables\";\nset :lower :upper \"a\" \"x\";", "cannot go together" },
		{ "require [\"comparator-i;ascii-numeric\"];\nif header :contains "
		    ":comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }", "cannot do :contains" },
		{ "if body :text \"x\" { keep; }", "body needs require \"body\"" },
		{ "require \"fileinto\";\nfileinto :create \"x\";", "needs require \"mailbox\"" },
		{ "require \"imap4flags\";\nsetflag \"v\" \"\\\\Seen\";", "needs require "
		    "\"variables\"" },
		{ "require \"vacation\";\nvacation :days \"x\" \"away\";", ":days takes a number" },
		{ "require \"reject\";\nreject [\"a\", \"b\"];", "the reason must be a string" },
		{ "keep;\n\xff;", "line 2: invalid UTF-8" },
		{ "require \"vacation\";\nvacation :from \"nobody\" \"away\";",
		    "line 2: vacation: :from \"nobody\" is not an address" },
		{ "require \"imap4flags\";\nif hasflag \"v\" \"x\" { keep; }",
		    "line 2: hasflag with variables needs require \"variables\"" },
		{ "keep\nfileinto \"x\";", "line 2: \"fileinto\" is a command, not a test" },
	};
	char error[SIEVE_ERROR_SIZE];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct sieve_script *s = sieve_compile(cases[i].script, strlen(cases[i].script), error,
		    sizeof(error));
		if (s != NULL)
			fail_msg("compiled, but should not: %s", cases[i].script);
		if (strstr(error, cases[i].error) == NULL)
			fail_msg("script:\n%s\nerror: %s\nexpected: %s", cases[i].script, error,
			    cases[i].error);
	}
}

static void
test_compile_limits(void **state)
{
	char error[SIEVE_ERROR_SIZE];
	struct sieve_script *s;
	size_t n = 0, size = 64 * 1024;
	char *deep = xmalloc(size);

	/* Nesting past SIEVE_MAX_DEPTH. */
	for (int i = 0; i < SIEVE_MAX_DEPTH + 2; i++)
		n += (size_t)snprintf(deep + n, size - n, "if true {\n");
	s = sieve_compile(deep, n, error, sizeof(error));
	assert_null(s);
	assert_non_null(strstr(error, "nested too deeply"));
	n = 0;
	for (int i = 0; i < SIEVE_MAX_DEPTH + 2; i++)
		n += (size_t)snprintf(deep + n, size - n, "not ");
	s = sieve_compile(deep, n, error, sizeof(error));
	assert_null(s);
	assert_non_null(strstr(error, "nested too deeply"));
	free(deep);

	/* Too many items. */
	{
		size_t cap = (size_t)SIEVE_MAX_ITEMS * 8 + 64;
		char *many = xmalloc(cap);
		n = (size_t)snprintf(many, cap, "if anyof (");
		for (int i = 0; i < SIEVE_MAX_ITEMS; i++)
			n += (size_t)snprintf(many + n, cap - n, "true,");
		n += (size_t)snprintf(many + n, cap - n, "true) { keep; }");
		s = sieve_compile(many, n, error, sizeof(error));
		assert_null(s);
		assert_non_null(strstr(error, "script too complex"));
		free(many);
	}
	/* Too big. */
	{
		char *big = xmalloc(SIEVE_MAX_SCRIPT_SIZE + 2);
		memset(big, ' ', SIEVE_MAX_SCRIPT_SIZE + 1);
		s = sieve_compile(big, SIEVE_MAX_SCRIPT_SIZE + 1, error, sizeof(error));
		assert_null(s);
		assert_non_null(strstr(error, "script too big"));
		free(big);
	}
	/* A long valid script, comments and a multi-line string compile. */
	{
		const char *ok = "# comment\r\nrequire [\"fileinto\", \"vacation\"];\r\n"
		    "/* bracket\r\n comment */\r\nvacation text:\r\nline one\r\n..dot\r\n.\r\n;\r\n"
		    "if header :contains \"subject\" \"\\\"q\\\\\" { fileinto \"a\"; }\r\n";
		s = sieve_compile(ok, strlen(ok), error, sizeof(error));
		if (s == NULL)
			fail_msg("%s", error);
		sieve_script_free(&s);
		assert_null(s);
	}
}

/* ---- tests and actions ---- */

static void
test_tests_and_actions(void **state)
{
	static const struct {
		const char *script;
		const char *want;
	} cases[] = {
		/* Core. */
		{ "", "keep" },
		{ "keep;", "keep" },
		{ "discard;", "discard" },
		{ "stop; discard;", "keep" },
		{ "if false { discard; } elsif true { stop; } else { discard; }", "keep" },
		{ "if false { discard; } elsif false { keep; } else { discard; }", "discard" },
		{ "require \"fileinto\";\nfileinto \"A\"; fileinto \"A\"; fileinto \"INBOX\";",
		    "fileinto:A keep" },
		{ "require [\"fileinto\",\"copy\"];\nfileinto :copy \"A\";", "fileinto:A:copy keep" },
		{ "require [\"fileinto\",\"mailbox\"];\nfileinto :create \"New/Box\";",
		    "fileinto:New/Box:create" },
		{ "redirect \"x@example.com\"; redirect \"X@Example.com\";", "redirect:x@example.com" },
		{ "require \"copy\";\nredirect :copy \"Y <y@example.com>\";",
		    "redirect:y@example.com:copy keep" },
		/* header: match types and comparators. */
		{ "if header :is \"subject\" \"[ACME-USERS] [fwd] version 1.0 is out\" { discard; }",
		    "discard" },
		{ "if header :comparator \"i;octet\" :is \"subject\" \"[ACME-USERS] [fwd] version "
		    "1.0 is out\" { discard; }", "keep" },
		{ "if header :contains [\"x-nothing\", \"Subject\"] \"VERSION\" { discard; }",
		    "discard" },
		{ "if header :matches \"subject\" \"*version ?.0*\" { discard; }", "discard" },
		{ "if header :matches \"subject\" \"version*\" { discard; }", "keep" },
		{ "if header :matches \"x-long\" \"first second line\" { discard; }", "discard" },
		{ "if header :is \"x-encoded\" \"\xc3\xa9t\xc3\xa9\" { discard; }", "discard" },
		{ "if header :matches \"x-encoded\" \"?t?\" { discard; }", "discard" },
		{ "if header :matches \"subject\" \"\\\\[*\" { discard; }", "discard" },
		{ "if header :matches \"subject\" \"a\\\\*\" { discard; }", "keep" },
		{ "if exists [\"list-id\", \"from\"] { discard; }", "discard" },
		{ "if exists [\"list-id\", \"x-none\"] { discard; }", "keep" },
		{ "if not exists \"x-none\" { discard; }", "discard" },
		{ "if allof (true, header :contains \"from\" \"alice\") { discard; }", "discard" },
		{ "if anyof (false, false) { discard; }", "keep" },
		{ "if size :over 100 { discard; }", "discard" },
		{ "if size :under 100 { discard; }", "keep" },
		{ "if size :under 1K { discard; }", "discard" },
		/* address. */
		{ "if address :is \"from\" \"alice@example.net\" { discard; }", "discard" },
		{ "if address :domain :is \"from\" \"example.net\" { discard; }", "discard" },
		{ "if address :localpart :is \"to\" \"carol+lists\" { discard; }", "discard" },
		{ "require \"subaddress\";\nif address :user :is \"to\" \"carol\" { discard; }",
		    "discard" },
		{ "require \"subaddress\";\nif address :detail :is \"to\" \"lists\" { discard; }",
		    "discard" },
		{ "if address :all :is \"to\" \"Carol, C.\" { discard; }", "keep" },
		{ "if address :is \"cc\" \"\" { discard; }", "keep" },
		/* envelope. */
		{ "require \"envelope\";\nif envelope :is \"from\" \"alice@example.net\" { discard; }",
		    "discard" },
		{ "require [\"envelope\", \"subaddress\"];\nif envelope :detail \"to\" \"news\" "
		    "{ discard; }", "discard" },
		{ "require \"envelope\";\nif envelope :domain \"to\" \"example.org\" { discard; }",
		    "discard" },
		/* relational. */
		{ "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif address :count \"eq\" "
		    ":comparator \"i;ascii-numeric\" "
		    "[\"to\", \"cc\"] \"2\" { discard; }", "discard" },
		{ "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif header :value \"ge\" "
		    ":comparator \"i;ascii-numeric\" \"x-spam-score\" \"5\" { discard; }", "discard" },
		{ "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif header :value \"gt\" "
		    ":comparator \"i;ascii-numeric\" \"x-spam-score\" \"10\" { discard; }", "keep" },
		{ "require \"relational\";\nif header :value \"lt\" \"subject\" \"[b\" { discard; }",
		    "discard" },
		{ "require [\"relational\", \"comparator-i;ascii-numeric\"];\nif header :count \"ge\" "
		    ":comparator \"i;ascii-numeric\" \"received\" \"3\" { discard; }", "keep" },
		/* body. */
		{ "require \"body\";\nif body :contains \"\xc3\xa9t\xc3\xa9 ready\" { discard; }",
		    "discard" },
		{ "require \"body\";\nif body :raw :contains \"=C3=A9t\" { discard; }", "discard" },
		{ "require \"body\";\nif body :text :contains \"=C3=A9t\" { discard; }", "keep" },
		{ "require \"body\";\nif body :content \"application\" :contains \"SECRET\" "
		    "{ discard; }", "discard" },
		{ "require \"body\";\nif body :content \"text/plain\" :contains \"SECRET\" "
		    "{ discard; }", "keep" },
		{ "require \"body\";\nif body :text :contains \"SECRET\" { discard; }", "keep" },
		/* reject, ereject. */
		{ "require \"reject\";\nreject \"go away\";", "reject:go away" },
		{ "require \"ereject\";\nereject \"no thanks\";", "ereject:no thanks" },
		/* mailboxexists. */
		{ "require [\"mailbox\", \"fileinto\"];\nif mailboxexists \"Lists\" { fileinto "
		    "\"Lists\"; }", "fileinto:Lists" },
		{ "require [\"mailbox\", \"fileinto\"];\nif mailboxexists [\"Lists\", \"Nope\"] { "
		    "fileinto \"Lists\"; }", "keep" },
		/* vacation. */
		{ "require \"vacation\";\nvacation \"away\";", "vacation:7 keep" },
		{ "require \"vacation\";\nvacation :days 0 \"away\";", "vacation:1 keep" },
		{ "require \"vacation\";\nvacation :days 1000 \"away\";", "vacation:90 keep" },
	};
	char out[512];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		run(cases[i].script, MSG, "alice@example.net", "bob+news@example.org", out,
		    sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("script:\n%s\ngot:  %s\nwant: %s", cases[i].script, out, cases[i].want);
	}
}

static void
test_variables(void **state)
{
	static const struct {
		const char *script;
		const char *want;
	} cases[] = {
		/* RFC 5229's example: each "*" as short as the match allows. */
		{ "require [\"fileinto\", \"variables\"];\n"
		    "if header :matches \"Subject\" \"[*] *\" { fileinto \"L/${1}/${2}\"; }",
		    "fileinto:L/acme-users/[fwd] version 1.0 is out" },
		{ "require [\"fileinto\", \"variables\"];\n"
		    "if header :matches \"List-Id\" \"*<*.*\" { fileinto \"lists/${2}\"; }",
		    "fileinto:lists/acme-users" },
		{ "require [\"fileinto\", \"variables\"];\nset \"box\" \"Work\";\n"
		    "set :upper \"u\" \"${box}\";\nset :length \"n\" \"${box}${box}\";\n"
		    "fileinto \"${u}-${n}-${unknown}-${0}\";", "fileinto:WORK-8--" },
		{ "require [\"fileinto\", \"variables\"];\nset :upperfirst \"a\" \"hello\";\n"
		    "set :quotewildcard \"q\" \"a*b?\";\nfileinto \"${a} ${q} ${bad name} $${a}\";",
		    "fileinto:Hello a\\*b\\? ${bad name} $Hello" },
		{ "require [\"fileinto\", \"variables\"];\nset \"x\" \"ab\";\n"
		    "if string :is \"${x}c\" \"abc\" { fileinto \"yes\"; }", "fileinto:yes" },
		{ "require [\"fileinto\", \"variables\", \"relational\"];\nset \"e\" \"\";\n"
		    "if string :count \"eq\" [\"${e}\", \"x\", \"y\"] \"2\" { fileinto \"two\"; }",
		    "fileinto:two" },
		{ "require [\"variables\", \"envelope\"];\nif envelope :matches \"to\" \"*+*@*\" {\n"
		    "  redirect \"${1}-${2}@${3}\"; }", "redirect:bob-news@example.org" },
		/* Without "variables", "${...}" is text. */
		{ "require \"fileinto\";\nfileinto \"${x}\";", "fileinto:${x}" },
		/* imap4flags. */
		{ "require \"imap4flags\";\nsetflag \"\\\\Seen $Work\";\naddflag [\"\\\\Flagged\", "
		    "\"$work\"];\nkeep;", "keep[5 $Work]" },
		{ "require [\"imap4flags\", \"fileinto\"];\naddflag \"\\\\Seen\";\nremoveflag "
		    "\"\\\\seen\";\nfileinto :flags \"\\\\Answered bad(atom\" \"A\";",
		    "fileinto:A[2]" },
		{ "require [\"imap4flags\", \"variables\", \"fileinto\"];\nsetflag \"f\" \"$Junk\";\n"
		    "if hasflag \"f\" \"$junk\" { fileinto \"J\"; }\nif hasflag \"$junk\" { discard; }",
		    "fileinto:J" },
		{ "require [\"imap4flags\", \"relational\"];\naddflag [\"a\", \"b c\"];\n"
		    "if hasflag :count \"eq\" \"3\" { discard; }", "discard" },
	};
	char out[512];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		run(cases[i].script, MSG, "alice@example.net", "bob+news@example.org", out,
		    sizeof(out));
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("script:\n%s\ngot:  %s\nwant: %s", cases[i].script, out, cases[i].want);
	}
}

static void
test_runtime_errors(void **state)
{
	static const struct {
		const char *script;
		const char *want;
	} cases[] = {
		{ "require [\"reject\", \"fileinto\"];\nfileinto \"A\";\nreject \"no\";",
		    "error: line 3: reject cannot go with keep or fileinto" },
		{ "require [\"reject\", \"vacation\"];\nvacation \"a\";\nreject \"no\";",
		    "error: line 3: reject cannot go with vacation" },
		{ "require \"vacation\";\nvacation \"a\";\nvacation \"b\";",
		    "error: line 3: more than one vacation" },
		{ "redirect \"a@x.test\"; redirect \"b@x.test\"; redirect \"c@x.test\";\n"
		    "redirect \"d@x.test\"; redirect \"e@x.test\";", "error: line 2: too many redirects" },
		{ "require \"variables\";\nset \"a\" \"x\";\nredirect \"${a}\";",
		    "error: line 3: redirect: \"x\" is not an address" },
	};
	char out[512];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		run(cases[i].script, MSG, "alice@example.net", "bob@example.org", out, sizeof(out));
		if (strncmp(out, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("script:\n%s\ngot:  %s\nwant: %s", cases[i].script, out, cases[i].want);
	}
}

/* A pathological :matches against a long header stops at the step budget. */
static void
test_work_budget(void **state)
{
	size_t hlen = 64 * 1024, plen = 20000, n = 0;
	char *msg = xmalloc(hlen + 64), *script = xmalloc(plen * 2 + 256);

	n = (size_t)snprintf(msg, hlen + 64, "Subject: ");
	memset(msg + n, 'a', hlen);
	n += hlen;
	n += (size_t)snprintf(msg + n, 64, "\r\n\r\nbody\r\n");
	msg[n] = '\0';
	/* One "*", then many "a": each try of the "*" compares them all again. */
	n = (size_t)snprintf(script, plen * 2 + 256, "if header :matches \"subject\" \"*");
	memset(script + n, 'a', plen);
	n += plen;
	n += (size_t)snprintf(script + n, 64, "b\" { discard; }");
	{
		char out[512];
		run(script, msg, "x@y.test", "bob@example.org", out, sizeof(out));
		assert_non_null(strstr(out, "error: line 1: the script does too much work"));
	}
	free(msg);
	free(script);
}

/* ---- vacation ---- */

static void
test_vacation_rules(void **state)
{
	static const struct {
		const char *headers;
		const char *from;
		const char *refusal;	/* substring, or NULL when an answer is due */
	} cases[] = {
		{ "To: bob@example.org\r\n", "alice@example.net", NULL },
		{ "To: Bob <BOB+x@example.org>\r\n", "alice@example.net", NULL },
		{ "Cc: bob@example.org\r\nTo: x@y.test\r\n", "alice@example.net", NULL },
		{ "To: bob@example.org\r\n", "", "null" },
		{ "To: bob@example.org\r\n", "bob@example.org", "the user" },
		{ "To: bob@example.org\r\n", "MAILER-DAEMON@example.net", "program" },
		{ "To: bob@example.org\r\n", "owner-list@example.net", "program" },
		{ "To: bob@example.org\r\n", "list-request@example.net", "program" },
		{ "To: bob@example.org\r\nAuto-Submitted: auto-replied\r\n", "a@example.net",
		    "Auto-Submitted" },
		{ "To: bob@example.org\r\nAuto-Submitted: no\r\n", "a@example.net", NULL },
		{ "To: bob@example.org\r\nPrecedence: bulk\r\n", "a@example.net", "Precedence" },
		{ "To: bob@example.org\r\nPrecedence: List\r\n", "a@example.net", "Precedence" },
		{ "To: bob@example.org\r\nList-Id: <l.example.net>\r\n", "a@example.net",
		    "mailing list" },
		{ "To: bob@example.org\r\nList-Unsubscribe: <mailto:x@y>\r\n", "a@example.net",
		    "mailing list" },
		{ "To: someone@example.org\r\n", "a@example.net", "not among" },
		{ "To: alias@example.org\r\n", "a@example.net", NULL },	/* :addresses */
	};
	struct sieve_action v;
	char *addrs[1] = { (char *)"Alias <alias@example.org>" };

	memset(&v, 0, sizeof(v));
	v.kind = SIEVE_VACATION;
	v.reason = (char *)"away";
	v.days = 7;
	v.addresses = addrs;
	v.naddresses = 1;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *msg = xasprintf("%sSubject: hi\r\n\r\nbody\r\n", cases[i].headers);
		struct sieve_message m = { msg, strlen(msg), cases[i].from, "bob@example.org" };
		const char *why = sieve_vacation_refusal(&m, &v, "bob@example.org");
		if (cases[i].refusal == NULL && why != NULL)
			fail_msg("case %zu: refused (%s), should answer", i, why);
		if (cases[i].refusal != NULL && (why == NULL || strstr(why, cases[i].refusal) == NULL))
			fail_msg("case %zu: %s, want a refusal with \"%s\"", i, why ? why : "answered",
			    cases[i].refusal);
		free(msg);
	}
}

static void
test_vacation_reply(void **state)
{
	struct sieve_message m = { MSG, strlen(MSG), "alice@example.net", "bob@example.org" };
	struct sieve_action v;
	char key1[65], key2[65], key3[65], *reply;
	size_t len;

	memset(&v, 0, sizeof(v));
	v.reason = (char *)"I am away\nuntil Monday.";
	v.handle = (char *)"h1";
	v.days = 7;
	reply = sieve_vacation_reply(&m, &v, "mx.test", &len);
	assert_int_equal(strlen(reply), len);
	assert_non_null(strstr(reply, "From: <bob@example.org>\r\n"));
	assert_non_null(strstr(reply, "To: <alice@example.net>\r\n"));
	assert_non_null(strstr(reply, "Subject: Auto: [acme-users] [fwd] version 1.0 is out\r\n"));
	assert_non_null(strstr(reply, "In-Reply-To: <m1@example.net>\r\n"));
	assert_non_null(strstr(reply, "References: <m1@example.net>\r\n"));
	assert_non_null(strstr(reply, "Auto-Submitted: auto-replied"));
	assert_non_null(strstr(reply, "@mx.test>\r\n"));
	assert_non_null(strstr(reply, "\r\n\r\nI am away\r\nuntil Monday.\r\n"));
	free(reply);

	/* :subject in UTF-8 is encoded; :from is used as given; :mime puts the reason as it is. */
	v.subject = (char *)"Absent \xc3\xa9t\xc3\xa9";
	v.from = (char *)"Bob <bob@example.org>\r\nBcc: evil@x";
	v.mime = 1;
	v.reason = (char *)"Content-Type: text/html\n\n<p>away</p>";
	reply = sieve_vacation_reply(&m, &v, "mx.test", &len);
	assert_non_null(strstr(reply, "Subject: =?UTF-8?B?"));
	assert_null(strstr(reply, "\r\nBcc:"));
	assert_non_null(strstr(reply, "MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
	    "<p>away</p>\r\n"));
	assert_null(strstr(reply, "text/plain"));
	free(reply);

	sieve_vacation_key(&v, "Alice@Example.NET", key1);
	sieve_vacation_key(&v, "alice@example.net", key2);
	assert_string_equal(key1, key2);
	assert_int_equal(strlen(key1), 64);
	v.handle = (char *)"h2";
	sieve_vacation_key(&v, "alice@example.net", key3);
	assert_string_not_equal(key1, key3);
}

/* A handle made from the answer: another reason is another handle. */
static void
test_vacation_handle(void **state)
{
	const char *s1 = "require \"vacation\";\nvacation \"one\";";
	const char *s2 = "require \"vacation\";\nvacation \"two\";";
	const char *s3 = "require \"vacation\";\nvacation :handle \"h\" \"two\";";
	const char *scripts[3] = { s1, s2, s3 };
	char keys[3][65], error[SIEVE_ERROR_SIZE];
	struct sieve_message m = { MSG, strlen(MSG), "alice@example.net", "bob@example.org" };

	for (int i = 0; i < 3; i++) {
		struct sieve_script *s = sieve_compile(scripts[i], strlen(scripts[i]), error,
		    sizeof(error));
		struct sieve_result res;
		assert_non_null(s);
		assert_int_equal(sieve_execute(s, &m, NULL, &res), 0);
		assert_int_equal(res.actions[0].kind, SIEVE_VACATION);
		sieve_vacation_key(&res.actions[0], "alice@example.net", keys[i]);
		sieve_result_free(&res);
		sieve_script_free(&s);
	}
	assert_string_not_equal(keys[0], keys[1]);
	assert_string_not_equal(keys[1], keys[2]);
}

/* ---- the scripts' storage ---- */

static int
collect(const char *name, int active, void *ctx)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s%s%s", n > 0 ? " " : "", name, active ? "*" : "");
	return 0;
}

static void
test_store(void **state)
{
	char dir[512], list[512] = "", name[SIEVE_NAME_MAX + 1], *text;
	const char *error = NULL;
	struct mstore *ms;
	struct sieve_store *ss;
	size_t len;

	snprintf(dir, sizeof(dir), "%s/store", tmpdir);
	ms = mstore_open(dir, &error);
	assert_non_null(ms);
	/* Nothing yet: no directory, no active script. */
	assert_int_equal(sieve_store_active_load(ms, "bob@example.org", name, sizeof(name), &text,
	    &len, &error), 0);
	assert_null(sieve_store_open(ms, "not an address/..", 1, &error));
	ss = sieve_store_open(ms, "bob@example.org", 1, &error);
	assert_non_null(ss);
	assert_int_equal(sieve_store_put(ss, "one", "keep;", 5, &error), 0);
	assert_int_equal(sieve_store_put(ss, "two", "discard;", 8, &error), 0);
	assert_int_equal(sieve_store_put(ss, "../x", "keep;", 5, &error), SIEVE_STORE_EINVAL);
	assert_int_equal(sieve_store_put(ss, ".hidden", "keep;", 5, &error), SIEVE_STORE_EINVAL);
	assert_int_equal(sieve_store_put(ss, "bad\nname", "keep;", 5, &error), SIEVE_STORE_EINVAL);
	assert_int_equal(sieve_store_put(ss, "\xc3\xa9t\xc3\xa9", "keep;", 5, &error), 0);
	assert_int_equal(sieve_store_list(ss, collect, list, &error), 0);
	assert_string_equal(list, "one two \xc3\xa9t\xc3\xa9");
	assert_int_equal(sieve_store_activate(ss, "nope", &error), SIEVE_STORE_ENOTFOUND);
	assert_int_equal(sieve_store_activate(ss, "two", &error), 0);
	list[0] = '\0';
	assert_int_equal(sieve_store_list(ss, collect, list, &error), 0);
	assert_string_equal(list, "one two* \xc3\xa9t\xc3\xa9");
	assert_int_equal(sieve_store_active_load(ms, "Bob@example.org", name, sizeof(name), &text,
	    &len, &error), 1);
	assert_string_equal(name, "two");
	assert_string_equal(text, "discard;");
	free(text);
	/* The active one cannot go; renaming it keeps it active. */
	assert_int_equal(sieve_store_delete(ss, "two", &error), SIEVE_STORE_EACTIVE);
	assert_int_equal(sieve_store_rename(ss, "two", "one", &error), SIEVE_STORE_EEXISTS);
	assert_int_equal(sieve_store_rename(ss, "nope", "x", &error), SIEVE_STORE_ENOTFOUND);
	assert_int_equal(sieve_store_rename(ss, "two", "three", &error), 0);
	assert_int_equal(sieve_store_active(ss, name, sizeof(name), &error), 1);
	assert_string_equal(name, "three");
	assert_int_equal(sieve_store_get(ss, "two", &text, &len, &error), SIEVE_STORE_ENOTFOUND);
	assert_int_equal(sieve_store_get(ss, "three", &text, &len, &error), 0);
	assert_int_equal(len, 8);
	free(text);
	/* Replacing the active script changes what delivery runs. */
	assert_int_equal(sieve_store_put(ss, "three", "stop;", 5, &error), 0);
	assert_int_equal(sieve_store_active_load(ms, "bob@example.org", name, sizeof(name), &text,
	    &len, &error), 1);
	assert_string_equal(text, "stop;");
	free(text);
	assert_int_equal(sieve_store_activate(ss, "", &error), 0);
	assert_int_equal(sieve_store_active(ss, name, sizeof(name), &error), 0);
	assert_int_equal(sieve_store_delete(ss, "three", &error), 0);
	assert_int_equal(sieve_store_delete(ss, "three", &error), SIEVE_STORE_ENOTFOUND);
	assert_int_equal(sieve_store_count(ss), 2);
	/* The number of scripts is bounded. */
	for (int i = 0; i < SIEVE_MAX_SCRIPTS; i++) {
		char n[32];
		int rc;
		snprintf(n, sizeof(n), "s%02d", i);
		rc = sieve_store_put(ss, n, "keep;", 5, &error);
		assert_int_equal(rc, i + 2 < SIEVE_MAX_SCRIPTS ? 0 : SIEVE_STORE_EQUOTA);
	}
	/* Vacation memory. */
	assert_int_equal(sieve_store_vacation_seen(ms, "bob@example.org", "k1", 1000, &error), 0);
	assert_int_equal(sieve_store_vacation_record(ms, "bob@example.org", "k1", 1000, 2000,
	    &error), 0);
	assert_int_equal(sieve_store_vacation_seen(ms, "bob@example.org", "k1", 1500, &error), 1);
	assert_int_equal(sieve_store_vacation_seen(ms, "bob@example.org", "k1", 2500, &error), 0);
	assert_int_equal(sieve_store_vacation_seen(ms, "bob@example.org", "k2", 1500, &error), 0);
	sieve_store_close(&ss);
	assert_null(ss);
	mstore_close(&ms);
}

static int
teardown_all(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_compile_limits),
		cmocka_unit_test(test_tests_and_actions),
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_runtime_errors),
		cmocka_unit_test(test_work_budget),
		cmocka_unit_test(test_vacation_rules),
		cmocka_unit_test(test_vacation_reply),
		cmocka_unit_test(test_vacation_handle),
		cmocka_unit_test(test_store),
	};

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, teardown_all);
}
