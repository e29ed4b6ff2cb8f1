/* SPDX-License-Identifier: MIT */
/*
 * test_imap_parser - IMAP command framing and parsing, sequence sets,
 * dates and modified UTF-7 (store/imap_parser.h), one table per function.
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

#include "store/imap_parser.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* Print an argument tree in a compact form: atoms bare, strings quoted, lists in (). */
static void
dump_args(const struct imap_arg *args, unsigned int count, char *buf, size_t size)
{
	size_t len = strlen(buf);

	for (unsigned int i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (i > 0)
			len += (size_t)snprintf(buf + len, size - len, " ");
		switch (a->type) {
		case IMAP_ARG_ATOM:
			len += (size_t)snprintf(buf + len, size - len, "%s", a->str);
			break;
		case IMAP_ARG_QUOTED:
			len += (size_t)snprintf(buf + len, size - len, "\"%s\"", a->str);
			break;
		case IMAP_ARG_LITERAL:
			len += (size_t)snprintf(buf + len, size - len, "%s{%s}", a->literal8 ? "~" : "",
			    a->str);
			break;
		case IMAP_ARG_LIST:
			len += (size_t)snprintf(buf + len, size - len, "(");
			dump_args(a->list, a->count, buf, size);
			len = strlen(buf);
			len += (size_t)snprintf(buf + len, size - len, ")");
			break;
		}
	}
}

static void
test_command_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *tag;	/* expected tag (also on errors; NULL: none) */
		const char *name;
		const char *args;	/* dump_args() of the arguments */
	} rows[] = {
		{ "a1 NOOP", 0, "a1", "NOOP", "" },
		{ "a1 noop", 0, "a1", "NOOP", "" },
		{ "a1 NOOP ", 0, "a1", "NOOP", "" },
		{ "x LOGIN alice \"pa ss\"", 0, "x", "LOGIN", "alice \"pa ss\"" },
		{ "x LOGIN \"a\\\"b\\\\c\" y", 0, "x", "LOGIN", "\"a\"b\\c\" y" },
		{ "x LOGIN {5}\r\nalice {3+}\r\nsec", 0, "x", "LOGIN", "{alice} {sec}" },
		{ "x LOGIN {0}\r\n {1}\r\n\"", 0, "x", "LOGIN", "{} {\"}" },
		{ "t1 SELECT INBOX (CONDSTORE)", 0, "t1", "SELECT", "INBOX (CONDSTORE)" },
		{ "t1 uid fetch 1:* (FLAGS UID)", 0, "t1", "UID FETCH", "1:* (FLAGS UID)" },
		{ "t FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)", 0, "t", "FETCH",
		    "1 (BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)" },
		{ "t FETCH 1 BODY[]", 0, "t", "FETCH", "1 BODY[]" },
		{ "t FETCH 1 (BODY[1.2.MIME] BINARY.PEEK[1])", 0, "t", "FETCH",
		    "1 (BODY[1.2.MIME] BINARY.PEEK[1])" },
		{ "t STORE 1 +FLAGS.SILENT (\\Seen $Junk)", 0, "t", "STORE",
		    "1 +FLAGS.SILENT (\\Seen $Junk)" },
		{ "t LIST \"\" %", 0, "t", "LIST", "\"\" %" },
		{ "t LIST \"\" *", 0, "t", "LIST", "\"\" *" },
		{ "t SEARCH OR (FROM a) NOT (SUBJECT \"x y\")", 0, "t", "SEARCH",
		    "OR (FROM a) NOT (SUBJECT \"x y\")" },
		{ "t SEARCH ((((a))))", 0, "t", "SEARCH", "((((a))))" },
		{ "t SEARCH ()", 0, "t", "SEARCH", "()" },
		{ "t APPEND INBOX (\\Seen) \" 1-Feb-2024 10:00:00 +0100\" ~{3}\r\na\0b", 0, "t",
		    "APPEND", "INBOX (\\Seen) \" 1-Feb-2024 10:00:00 +0100\" ~{a}" },
		{ "t ENABLE CONDSTORE  QRESYNC", 0, "t", "ENABLE", "CONDSTORE QRESYNC" },
		{ "t X ( a )", 0, "t", "X", "(a)" },
		{ "t SELECT Entw&APw-rfe", 0, "t", "SELECT", "Entw&APw-rfe" },
		{ "]tag NOOP", 0, "]tag", "NOOP", "" },
		/* Errors, with the tag when there is one. */
		{ "", -1, NULL, NULL, NULL },
		{ " NOOP", -1, NULL, NULL, NULL },
		{ "a+b NOOP", -1, NULL, NULL, NULL },
		{ "a*b NOOP", -1, NULL, NULL, NULL },
		{ "a1", -1, "a1", NULL, NULL },
		{ "a1 ", -1, "a1", NULL, NULL },
		{ "a1 NO!OP", -1, "a1", NULL, NULL },
		{ "a1 UID", -1, "a1", NULL, NULL },
		{ "a1 UID ", -1, "a1", NULL, NULL },
		{ "a1 LOGIN \"unterminated", -1, "a1", NULL, NULL },
		{ "a1 LOGIN \"bad \\n escape\"", -1, "a1", NULL, NULL },
		{ "a1 LOGIN \"cr\rin\" x", -1, "a1", NULL, NULL },
		{ "a1 LOGIN {5}\r\nabc", -1, "a1", NULL, NULL },
		{ "a1 LOGIN {5} x", -1, "a1", NULL, NULL },
		{ "a1 LOGIN {}\r\n", -1, "a1", NULL, NULL },
		{ "a1 LOGIN {99999999999999999999}\r\n", -1, "a1", NULL, NULL },
		{ "a1 LOGIN ~x", 0, "a1", "LOGIN", "~x" },
		{ "a1 SEARCH (a", -1, "a1", NULL, NULL },
		{ "a1 SEARCH a)", -1, "a1", NULL, NULL },
		{ "a1 SEARCH (a)(b)", -1, "a1", NULL, NULL },
		{ "a1 SEARCH a\"b\"", -1, "a1", NULL, NULL },
		{ "a1 SEARCH a\tb", -1, "a1", NULL, NULL },
		{ "a1 FETCH 1 BODY[HEADER", -1, "a1", NULL, NULL },
		{ "a1 FETCH 1 BODY[HEADER\r\n]", -1, "a1", NULL, NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_command cmd;
		const char *tag, *error = NULL;
		size_t len = strlen(rows[i].in);
		char dump[1024] = "";
		int rc;

		/* The literal8 row holds a NUL: its length is given by its literal. */
		if (strstr(rows[i].in, "~{3}") != NULL)
			len += 2;
		rc = imap_command_parse(rows[i].in, len, &cmd, &tag, &error);
		if (rc != rows[i].rc)
			fail_msg("row %zu \"%s\": rc %d (%s), want %d", i, rows[i].in, rc,
			    error ? error : "", rows[i].rc);
		if (rows[i].tag == NULL)
			assert_null(tag);
		else if (tag == NULL || strcmp(tag, rows[i].tag) != 0)
			fail_msg("row %zu: tag %s, want %s", i, tag ? tag : "NULL", rows[i].tag);
		if (rc == 0) {
			assert_string_equal(cmd.name, rows[i].name);
			dump_args(cmd.args, cmd.count, dump, sizeof(dump));
			if (strcmp(dump, rows[i].args) != 0)
				fail_msg("row %zu: args [%s], want [%s]", i, dump, rows[i].args);
		} else {
			assert_non_null(error);
		}
		imap_command_free(&cmd);
	}
}

static void
test_literal_with_nul(void **state)
{
	static const char in[] = "t APPEND INBOX {3}\r\na\0b";
	struct imap_command cmd;
	const char *tag, *error, *s;

	assert_int_equal(imap_command_parse(in, sizeof(in) - 1, &cmd, &tag, &error), 0);
	assert_int_equal(cmd.count, 2);
	assert_int_equal(cmd.args[1].type, IMAP_ARG_LITERAL);
	assert_int_equal(cmd.args[1].len, 3);
	assert_memory_equal(cmd.args[1].str, "a\0b", 3);
	/* Not usable as a string: it holds a NUL. */
	assert_int_equal(imap_arg_string(&cmd.args[1], &s), 0);
	assert_int_equal(imap_arg_astring(&cmd.args[0], &s), 1);
	assert_string_equal(s, "INBOX");
	imap_command_free(&cmd);
}

static void
test_arg_helpers(void **state)
{
	static const char in[] = "t X NIL nil 42 4294967296 9223372036854775807 "
	    "9223372036854775808 \"q\" %a \\Seen";
	struct imap_command cmd;
	const char *tag, *error, *s;
	uint32_t n;
	uint64_t n64;

	assert_int_equal(imap_command_parse(in, sizeof(in) - 1, &cmd, &tag, &error), 0);
	assert_int_equal(cmd.count, 9);
	assert_true(imap_arg_is_nil(&cmd.args[0]));
	assert_true(imap_arg_is_nil(&cmd.args[1]));
	assert_int_equal(imap_arg_nstring(&cmd.args[0], &s), 1);
	assert_null(s);
	assert_int_equal(imap_arg_number(&cmd.args[2], &n), 1);
	assert_int_equal(n, 42);
	assert_int_equal(imap_arg_number(&cmd.args[3], &n), 0);
	assert_int_equal(imap_arg_number64(&cmd.args[3], &n64), 1);
	assert_true(n64 == UINT64_C(4294967296));
	assert_int_equal(imap_arg_number64(&cmd.args[4], &n64), 1);
	assert_int_equal(imap_arg_number64(&cmd.args[5], &n64), 0);
	assert_int_equal(imap_arg_string(&cmd.args[6], &s), 1);
	assert_string_equal(s, "q");
	assert_int_equal(imap_arg_string(&cmd.args[2], &s), 0);
	/* Wildcards and backslashes are not astrings. */
	assert_int_equal(imap_arg_astring(&cmd.args[7], &s), 0);
	assert_int_equal(imap_arg_astring(&cmd.args[8], &s), 0);
	assert_int_equal(imap_arg_atom(&cmd.args[8], &s), 1);
	assert_string_equal(s, "\\Seen");
	imap_command_free(&cmd);
}

/* Feed a stream in pieces of the given size and check what the reader says at each stop. */
static void
test_reader(void **state)
{
	static const struct {
		const char *in;
		size_t piece;		/* feed size (0: all at once) */
		const char *events;	/* M more, C continue, K command, E error (with its code) */
		enum imap_read_error error;
	} rows[] = {
		{ "a NOOP\r\n", 0, "K", IMAP_RERR_NONE },
		{ "a NOOP\r\n", 1, "MMMMMMMK", IMAP_RERR_NONE },
		{ "a NOOP\n", 0, "K", IMAP_RERR_NONE },
		{ "a NOOP", 0, "M", IMAP_RERR_NONE },
		{ "a LOGIN {5}\r\nalice x\r\n", 0, "CK", IMAP_RERR_NONE },
		{ "a LOGIN {5}\r\nalice x\r\n", 3, "MMMMCMMK", IMAP_RERR_NONE },
		{ "a LOGIN {5+}\r\nalice x\r\n", 0, "K", IMAP_RERR_NONE },
		{ "a LOGIN {5+}\r\nali", 0, "M", IMAP_RERR_NONE },
		/* Limits of the test: line 64, literal 16, APPEND 100, command 200. */
		{ "a LOGIN {17}\r\n", 0, "E", IMAP_RERR_LITERAL_TOO_BIG },
		{ "a LOGIN {17+}\r\n", 0, "E", IMAP_RERR_NONSYNC_TOO_BIG },
		{ "a APPEND INBOX {100}\r\n", 0, "C", IMAP_RERR_NONE },
		{ "a APPEND INBOX {101}\r\n", 0, "E", IMAP_RERR_LITERAL_TOO_BIG },
		{ "a LOGIN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
		    0, "E", IMAP_RERR_LINE_TOO_LONG },
		/* Each literal fits, the command does not. */
		{ "a APPEND INBOX {99+}\r\n"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  " {99}\r\n", 0, "E", IMAP_RERR_LITERAL_TOO_BIG },
		{ "a APPEND INBOX {99+}\r\n"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  " {99+}\r\n", 0, "E", IMAP_RERR_NONSYNC_TOO_BIG },
		{ "a LOGIN {0}\r\n {0+}\r\n\r\n", 0, "CK", IMAP_RERR_NONE },
	};
	struct imap_reader_limits lim = { 64, 16, 100, 200 };

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_reader *r = imap_reader_new(&lim);
		const char *p = rows[i].in;
		size_t left = strlen(p);
		char events[64] = "";
		size_t ne = 0;

		while (ne < sizeof(events) - 1) {
			size_t n = rows[i].piece == 0 || rows[i].piece > left ? left : rows[i].piece;
			size_t used = 0;
			enum imap_read rc = imap_reader_feed(r, p, n, &used);
			assert_true(used <= n);
			p += used;
			left -= used;
			events[ne++] = "MCKE"[rc];
			if (rc == IMAP_READ_COMMAND || rc == IMAP_READ_ERROR)
				break;
			if (left == 0)
				break;
		}
		events[ne] = '\0';
		if (strcmp(events, rows[i].events) != 0)
			fail_msg("row %zu: events %s, want %s", i, events, rows[i].events);
		assert_int_equal(imap_reader_error(r), rows[i].error);
		imap_reader_free(&r);
		assert_null(r);
	}
}

/* The reader's command is what the parser expects; what follows stays unread. */
static void
test_reader_then_parse(void **state)
{
	static const char in[] = "t1 LOGIN {5}\r\nalice \"pw\"\r\nt2 IDLE\r\nDONE\r\n";
	struct imap_reader *r = imap_reader_new(NULL);
	struct imap_command cmd;
	const char *tag, *error, *data;
	size_t used, total = 0, len;

	assert_int_equal(imap_reader_feed(r, in, sizeof(in) - 1, &used), IMAP_READ_CONTINUE);
	assert_string_equal(imap_reader_tag(r), "t1");
	assert_true(imap_reader_literal_size(r) == 5);
	total += used;
	assert_int_equal(imap_reader_feed(r, in + total, sizeof(in) - 1 - total, &used),
	    IMAP_READ_COMMAND);
	total += used;
	data = imap_reader_command(r, &len);
	assert_int_equal(imap_command_parse(data, len, &cmd, &tag, &error), 0);
	assert_string_equal(cmd.name, "LOGIN");
	assert_int_equal(cmd.count, 2);
	assert_string_equal(cmd.args[0].str, "alice");
	assert_string_equal(cmd.args[1].str, "pw");
	imap_command_free(&cmd);
	imap_reader_reset(r);
	assert_int_equal(imap_reader_feed(r, in + total, sizeof(in) - 1 - total, &used),
	    IMAP_READ_COMMAND);
	total += used;
	/* DONE is IDLE's business, not the reader's. */
	assert_string_equal(in + total, "DONE\r\n");
	imap_reader_free(&r);
}

static void
test_seqset(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint32_t max;
		const char *members;	/* 1..10 as a string of 0/1 after resolve */
	} rows[] = {
		{ "1", 0, 10, "1000000000" },
		{ "1:3,7", 0, 10, "1110001000" },
		{ "3:1", 0, 10, "1110000000" },
		{ "*", 0, 10, "0000000001" },
		{ "8:*", 0, 10, "0000000111" },
		{ "*:9", 0, 10, "0000000011" },
		/* n:* with n beyond the last: the last (RFC 9051 6.4.8). */
		{ "12:*", 0, 10, "0000000001" },
		{ "2,4,6,8,10", 0, 10, "0101010101" },
		{ "0", -1, 10, NULL },
		{ "1:0", -1, 10, NULL },
		{ "01", -1, 10, NULL },
		{ "", -1, 10, NULL },
		{ "1,", -1, 10, NULL },
		{ ",1", -1, 10, NULL },
		{ "1::2", -1, 10, NULL },
		{ "4294967296", -1, 10, NULL },
		{ "1 2", -1, 10, NULL },
		{ "$x", -1, 10, NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_seqset set;
		char members[11];
		int rc = imap_seqset_parse(rows[i].in, &set);

		if (rc != rows[i].rc)
			fail_msg("\"%s\": rc %d, want %d", rows[i].in, rc, rows[i].rc);
		if (rc < 0)
			continue;
		imap_seqset_resolve(&set, rows[i].max);
		for (uint32_t n = 1; n <= 10; n++)
			members[n - 1] = imap_seqset_contains(&set, n) ? '1' : '0';
		members[10] = '\0';
		if (strcmp(members, rows[i].members) != 0)
			fail_msg("\"%s\": members %s, want %s", rows[i].in, members, rows[i].members);
		imap_seqset_free(&set);
	}
	{
		struct imap_seqset set;
		assert_int_equal(imap_seqset_parse("$", &set), 0);
		assert_true(set.saved);
		imap_seqset_free(&set);
	}
}

static void
test_seqset_format(void **state)
{
	static const uint32_t v[] = { 1, 2, 3, 5, 7, 8, 10 };
	char *buf = NULL;
	size_t size = 0;

	assert_int_equal(imap_seqset_format(v, N_ELEMENTS(v), &buf, &size), 12);
	assert_string_equal(buf, "1:3,5,7:8,10");
	assert_int_equal(imap_seqset_format(v, 0, &buf, &size), 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void
test_dates(void **state)
{
	static const struct {
		const char *in;
		int datetime;
		int rc;
		long long t;
		int tz;
	} rows[] = {
		{ "1-Feb-2024", 0, 0, 1706745600LL, 0 },
		{ "01-feb-2024", 0, 0, 1706745600LL, 0 },
		{ "29-Feb-2024", 0, 0, 1709164800LL, 0 },
		{ "29-Feb-2023", 0, -1, 0, 0 },
		{ "31-Apr-2024", 0, -1, 0, 0 },
		{ "1-Foo-2024", 0, -1, 0, 0 },
		{ "1-Feb-24", 0, -1, 0, 0 },
		{ "1-Feb-2024x", 0, -1, 0, 0 },
		{ "01-Feb-2024 10:00:00 +0100", 1, 0, 1706778000LL, 60 },
		{ " 1-Feb-2024 10:00:00 -0530", 1, 0, 1706801400LL, -330 },
		{ "01-Feb-2024 24:00:00 +0000", 1, -1, 0, 0 },
		{ "01-Feb-2024 10:00 +0000", 1, -1, 0, 0 },
		{ "01-Feb-2024 10:00:00 0000", 1, -1, 0, 0 },
		{ "01-Feb-2024 10:00:00 +0000 ", 1, -1, 0, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		time_t t = 0;
		int tz = 0, rc;

		rc = rows[i].datetime ? imap_parse_datetime(rows[i].in, &t, &tz) :
		    imap_parse_date(rows[i].in, &t);
		if (rc != rows[i].rc)
			fail_msg("\"%s\": rc %d, want %d", rows[i].in, rc, rows[i].rc);
		if (rc == 0 && ((long long)t != rows[i].t || tz != rows[i].tz))
			fail_msg("\"%s\": %lld %d, want %lld %d", rows[i].in, (long long)t, tz,
			    rows[i].t, rows[i].tz);
	}
	{
		char buf[64];
		imap_format_datetime((time_t)1706778000, 60, buf, sizeof(buf));
		assert_string_equal(buf, "01-Feb-2024 10:00:00 +0100");
		imap_format_datetime((time_t)1706801400, -330, buf, sizeof(buf));
		assert_string_equal(buf, "01-Feb-2024 10:00:00 -0530");
	}
}

static void
test_mutf7(void **state)
{
	static const struct {
		const char *mutf7;
		const char *utf8;	/* NULL: mutf7 is invalid */
		int roundtrip;
	} rows[] = {
		{ "INBOX", "INBOX", 1 },
		{ "Entw&APw-rfe", "Entw\xc3\xbc" "rfe", 1 },
		{ "&-", "&", 1 },
		{ "A&-B", "A&B", 1 },
		{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 1 },
		/* U+1F600, a surrogate pair. */
		{ "&2D3eAA-", "\xf0\x9f\x98\x80", 1 },
		{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
		    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 1 },
		{ "&APw", NULL, 0 },
		{ "&AP-", NULL, 0 },
		{ "&APx-", NULL, 0 },
		{ "&2D0-", NULL, 0 },
		{ "&3gA-", NULL, 0 },
		{ "&AP!-", NULL, 0 },
		/* An encoded control character (U+0004). */
		{ "&AAQ-", NULL, 0 },
		{ "\xc3\xbc", NULL, 0 },
		{ "a\tb", NULL, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *out = NULL;
		int rc = imap_mutf7_decode(rows[i].mutf7, &out);

		if (rows[i].utf8 == NULL) {
			if (rc == 0)
				fail_msg("\"%s\" decoded to \"%s\", want an error", rows[i].mutf7, out);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": not decoded", rows[i].mutf7);
		assert_string_equal(out, rows[i].utf8);
		free(out);
		if (rows[i].roundtrip) {
			out = imap_mutf7_encode(rows[i].utf8);
			assert_string_equal(out, rows[i].mutf7);
			free(out);
		}
	}
	/* Invalid UTF-8 and controls are encoded, never copied raw. */
	{
		char *out = imap_mutf7_encode("a\x80" "b\x01");
		for (const char *p = out; *p != '\0'; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		free(out);
	}
}

static void
test_utf8_valid(void **state)
{
	static const struct {
		const char *s;
		int valid;
	} rows[] = {
		{ "INBOX", 1 },
		{ "Entw\xc3\xbc" "rfe", 1 },
		{ "\xf0\x9f\x98\x80", 1 },
		{ "\xef\xbf\xbd", 1 },
		{ "\xc3", 0 },
		{ "\xc0\xaf", 0 },
		{ "\xed\xa0\x80", 0 },
		{ "\xf4\x90\x80\x80", 0 },
		{ "a\tb", 0 },
		{ "a\x7f", 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		if (imap_utf8_valid(rows[i].s, strlen(rows[i].s)) != rows[i].valid)
			fail_msg("row %zu: want %d", i, rows[i].valid);
}

static void
test_out_string(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} rows[] = {
		{ "abc", "\"abc\"" },
		{ "", "\"\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "a\r\nb", "{4}\r\na\r\nb" },
		{ "\xc3\xbc", "{2}\r\n\xc3\xbc" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_out o = { NULL, 0, 0 };
		imap_out_string(&o, rows[i].in, strlen(rows[i].in));
		assert_string_equal(o.data, rows[i].out);
		imap_out_free(&o);
	}
	{
		struct imap_out o = { NULL, 0, 0 };
		imap_out_nstring(&o, NULL);
		imap_out_printf(&o, " %d %s", 42, "x");
		assert_string_equal(o.data, "NIL 42 x");
		imap_out_free(&o);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_parse),
		cmocka_unit_test(test_literal_with_nul),
		cmocka_unit_test(test_arg_helpers),
		cmocka_unit_test(test_reader),
		cmocka_unit_test(test_reader_then_parse),
		cmocka_unit_test(test_seqset),
		cmocka_unit_test(test_seqset_format),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_out_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
