/* SPDX-License-Identifier: MIT */
/*
 * test_policy_proto - the parser and answers of Postfix's policy
 * delegation protocol (policy/policy_proto.h): requests in one piece and
 * byte by byte, LF and CRLF, the limits (line length, attribute count),
 * malformed lines, several requests in one buffer, and the answer lines.
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

#include "policy/policy_proto.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* The attributes of req as "name=value|name=value". */
static void
attrs_str(const struct policy_req *req, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < req->nattrs; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s=%s", i > 0 ? "|" : "",
		    req->attrs[i].name, req->attrs[i].value);
}

struct outcome {
	int rc;			/* 1 complete, 0 needs more, -1 error */
	long consumed;		/* bytes used when complete */
	char attrs[4096];
	const char *error;
};

/* Feed data in pieces of step bytes (0: all at once) until complete or an error. */
static void
feed(const char *data, size_t len, size_t step, struct outcome *o)
{
	struct policy_parser *pp = policy_parser_new();
	size_t off = 0;

	memset(o, 0, sizeof(*o));
	while (off < len) {
		size_t n = step == 0 || len - off < step ? len - off : step;
		int done;
		const char *error = NULL;
		long used = policy_parser_feed(pp, data + off, n, &done, &error);

		if (used < 0) {
			o->rc = -1;
			o->error = error;
			break;
		}
		assert_true((size_t)used <= n);
		off += (size_t)used;
		if (done) {
			o->rc = 1;
			o->consumed = (long)off;
			attrs_str(policy_parser_request(pp), o->attrs, sizeof(o->attrs));
			break;
		}
		assert_int_equal((size_t)used, n);
	}
	policy_parser_free(&pp);
	assert_null(pp);
}

static void
test_parse_table(void **state)
{
	static const struct {
		const char *data;
		int rc;
		long consumed;		/* rc 1 */
		const char *attrs;	/* rc 1 */
		const char *error;	/* rc -1: part of the error text */
	} rows[] = {
		{ "request=smtpd_access_policy\nprotocol_state=RCPT\n\n", 1, 49,
		    "request=smtpd_access_policy|protocol_state=RCPT", NULL },
		{ "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n\r\n", 1, 52,
		    "request=smtpd_access_policy|protocol_state=RCPT", NULL },
		/* LF and CRLF mixed. */
		{ "a=1\r\nb=2\n\r\n", 1, 11, "a=1|b=2", NULL },
		/* Empty values, "=" in values, blanks kept as sent. */
		{ "sender=\nccert_subject=CN=x=y\nhelo_name= sp \n\n", 1, 45,
		    "sender=|ccert_subject=CN=x=y|helo_name= sp ", NULL },
		/* A request of no attributes (policyd answers it with a warning). */
		{ "\n", 1, 1, "", NULL },
		{ "\r\n", 1, 2, "", NULL },
		/* Only the first request is consumed. */
		{ "a=1\n\nb=2\n\n", 1, 5, "a=1", NULL },
		/* Incomplete. */
		{ "", 0, 0, NULL, NULL },
		{ "a=1", 0, 0, NULL, NULL },
		{ "a=1\n", 0, 0, NULL, NULL },
		{ "a=1\r\n\r", 0, 0, NULL, NULL },
		/* Malformed. */
		{ "no equals sign\n\n", -1, 0, NULL, "without \"=\"" },
		{ "a=1\nbad\n\n", -1, 0, NULL, "without \"=\"" },
		{ "=value\n\n", -1, 0, NULL, "without a name" },
		{ "a=1\n\r\r\n", -1, 0, NULL, "without \"=\"" },
		{ "GET / HTTP/1.0\r\n\r\n", -1, 0, NULL, "without \"=\"" },
	};
	struct outcome whole, bytes;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t len = strlen(rows[i].data);

		feed(rows[i].data, len, 0, &whole);
		feed(rows[i].data, len, 1, &bytes);
		if (whole.rc != rows[i].rc || bytes.rc != rows[i].rc)
			fail_msg("row %zu \"%s\": rc %d and %d byte by byte, expected %d", i,
			    rows[i].data, whole.rc, bytes.rc, rows[i].rc);
		if (rows[i].rc == 1) {
			assert_int_equal(whole.consumed, rows[i].consumed);
			assert_int_equal(bytes.consumed, rows[i].consumed);
			assert_string_equal(whole.attrs, rows[i].attrs);
			assert_string_equal(bytes.attrs, rows[i].attrs);
		} else if (rows[i].rc == -1) {
			assert_non_null(whole.error);
			assert_non_null(strstr(whole.error, rows[i].error));
			assert_string_equal(whole.error, bytes.error);
		}
	}
}

/* A request of one attribute whose line holds len bytes, ended by eol. */
static char *
long_line(size_t len, const char *eol)
{
	char *s = malloc(len + 2 * strlen(eol) + 1);

	assert_non_null(s);
	memcpy(s, "x=", 2);
	memset(s + 2, 'v', len - 2);
	strcpy(s + len, eol);
	strcat(s, eol);
	return s;
}

static void
test_line_limit(void **state)
{
	static const struct {
		size_t len;
		const char *eol;
		int rc;
	} rows[] = {
		{ POLICY_LINE_MAX - 1, "\n", 1 },
		{ POLICY_LINE_MAX, "\n", 1 },
		{ POLICY_LINE_MAX, "\r\n", 1 },
		{ POLICY_LINE_MAX + 1, "\n", -1 },
		{ POLICY_LINE_MAX + 1, "\r\n", -1 },
		{ POLICY_LINE_MAX + 2, "\n", -1 },
		{ 5 * POLICY_LINE_MAX, "\n", -1 },
	};
	struct outcome o;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *s = long_line(rows[i].len, rows[i].eol);
		for (size_t step = 0; step <= 1000; step += 333) {
			feed(s, strlen(s), step, &o);
			if (o.rc != rows[i].rc)
				fail_msg("line of %zu bytes + %zu, pieces of %zu: rc %d, expected %d",
				    rows[i].len, strlen(rows[i].eol), step, o.rc, rows[i].rc);
			if (o.rc == 1)
				assert_int_equal(strlen(o.attrs), rows[i].len);
			else
				assert_string_equal(o.error, "attribute line too long");
		}
		free(s);
	}
	/* An endless line without LF fails once the limit is passed, not at the end. */
	{
		struct policy_parser *pp = policy_parser_new();
		char chunk[512];
		const char *error = NULL;
		int done = 0;
		long rc = 0;
		size_t fed = 0;

		memset(chunk, 'a', sizeof(chunk));
		while (fed < 100 * sizeof(chunk) &&
		    (rc = policy_parser_feed(pp, chunk, sizeof(chunk), &done, &error)) >= 0)
			fed += sizeof(chunk);
		assert_int_equal(rc, -1);
		assert_true(fed <= POLICY_LINE_MAX + 1);
		policy_parser_free(&pp);
	}
}

static void
test_attr_limit(void **state)
{
	static const struct {
		size_t nattrs;
		int rc;
	} rows[] = {
		{ 1, 1 }, { POLICY_ATTRS_MAX - 1, 1 }, { POLICY_ATTRS_MAX, 1 },
		{ POLICY_ATTRS_MAX + 1, -1 }, { 10 * POLICY_ATTRS_MAX, -1 },
	};
	struct outcome o;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *s = malloc(rows[i].nattrs * 16 + 2), *p = s;

		assert_non_null(s);
		for (size_t k = 0; k < rows[i].nattrs; k++)
			p += sprintf(p, "n%zu=%zu\n", k, k);
		strcpy(p, "\n");
		feed(s, strlen(s), 0, &o);
		if (o.rc != rows[i].rc)
			fail_msg("%zu attributes: rc %d, expected %d", rows[i].nattrs, o.rc,
			    rows[i].rc);
		if (o.rc == -1)
			assert_string_equal(o.error, "too many attributes");
		free(s);
	}
}

static void
test_nul_byte(void **state)
{
	static const char data[] = "a=1\nb=x\0y\n\n";
	struct outcome o;

	feed(data, sizeof(data) - 1, 0, &o);
	assert_int_equal(o.rc, -1);
	assert_non_null(strstr(o.error, "NUL"));
}

/* Several requests on one connection, split anywhere: each complete and separate. */
static void
test_stream(void **state)
{
	static const char data[] =
	    "request=smtpd_access_policy\nprotocol_state=CONNECT\nclient_address=192.0.2.1\n\n"
	    "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\nrecipient=a@b\r\n\r\n"
	    "request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=c@d\nrecipient=e@f\n\n";
	static const char *const want[] = {
		"request=smtpd_access_policy|protocol_state=CONNECT|client_address=192.0.2.1",
		"request=smtpd_access_policy|protocol_state=RCPT|recipient=a@b",
		"request=smtpd_access_policy|protocol_state=RCPT|recipient=c@d|recipient=e@f",
	};
	size_t len = sizeof(data) - 1;

	for (size_t step = 1; step <= len; step++) {
		struct policy_parser *pp = policy_parser_new();
		size_t nreq = 0;
		char got[1024];

		/* Each piece of step bytes, like one read, may hold several requests. */
		for (size_t piece = 0; piece < len; piece += step) {
			size_t off = piece, end = piece + step < len ? piece + step : len;
			while (off < end) {
				const char *error;
				int done;
				long used = policy_parser_feed(pp, data + off, end - off, &done, &error);

				assert_true(used >= 0);
				off += (size_t)used;
				if (!done) {
					assert_int_equal(off, end);
					continue;
				}
				assert_true(nreq < N_ELEMENTS(want));
				attrs_str(policy_parser_request(pp), got, sizeof(got));
				assert_string_equal(got, want[nreq]);
				nreq++;
				policy_parser_reset(pp);
			}
		}
		assert_int_equal(nreq, N_ELEMENTS(want));
		policy_parser_free(&pp);
	}
}

static void
test_error_sticks_until_reset(void **state)
{
	struct policy_parser *pp = policy_parser_new();
	const char *error = NULL;
	int done;

	assert_int_equal(policy_parser_feed(pp, "junk\n", 5, &done, &error), -1);
	assert_string_equal(error, "attribute line without \"=\"");
	error = NULL;
	assert_int_equal(policy_parser_feed(pp, "a=1\n\n", 5, &done, &error), -1);
	assert_non_null(error);
	policy_parser_reset(pp);
	assert_int_equal(policy_parser_feed(pp, "a=1\n\n", 5, &done, &error), 5);
	assert_int_equal(done, 1);
	/* The next feed starts a new request by itself. */
	assert_int_equal(policy_parser_feed(pp, "b=2\n\n", 5, &done, &error), 5);
	assert_int_equal(done, 1);
	assert_int_equal(policy_parser_request(pp)->nattrs, 1);
	assert_string_equal(policy_req_get(policy_parser_request(pp), "b"), "2");
	assert_null(policy_req_get(policy_parser_request(pp), "a"));
	policy_parser_free(&pp);
	policy_parser_free(&pp);
}

static void
test_req_get(void **state)
{
	static const char data[] = "request=smtpd_access_policy\nrecipient=first@x\n"
	    "sender=\nrecipient=last@x\nRecipient=case@x\n\n";
	static const struct {
		const char *name;
		const char *value;	/* NULL: absent */
	} rows[] = {
		{ "request", "smtpd_access_policy" },
		{ "recipient", "last@x" },
		{ "Recipient", "case@x" },
		{ "sender", "" },
		{ "client_address", NULL },
		{ "", NULL },
		{ "recipient=first@x", NULL },
	};
	struct policy_parser *pp = policy_parser_new();
	const char *error;
	int done;

	assert_int_equal(policy_parser_feed(pp, data, sizeof(data) - 1, &done, &error),
	    (long)sizeof(data) - 1);
	assert_int_equal(done, 1);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *v = policy_req_get(policy_parser_request(pp), rows[i].name);
		if (rows[i].value == NULL)
			assert_null(v);
		else
			assert_string_equal(v, rows[i].value);
	}
	policy_parser_free(&pp);
}

static void
test_format_reply(void **state)
{
	static const struct {
		const char *action;
		size_t size;
		const char *out;
	} rows[] = {
		{ "DUNNO", 512, "action=DUNNO\n\n" },
		{ "550 5.1.1 <a@b>: Recipient address rejected", 512,
		    "action=550 5.1.1 <a@b>: Recipient address rejected\n\n" },
		{ "450 4.7.1 line\r\nbreak\n", 512, "action=450 4.7.1 line  break \n\n" },
		{ "", 512, "action=\n\n" },
		/* Truncated: the action is cut, the answer still ends with the empty line. */
		{ "DUNNO", 15, "action=DUNNO\n\n" },
		{ "DUNNO", 14, "action=DUNN\n\n" },
		{ "DUNNO", 11, "action=D\n\n" },
		{ "DUNNO", 10, "action=\n\n" },
		/* Too small for any answer: what fits. */
		{ "DUNNO", 9, "action=" },
		{ "DUNNO", 1, "" },
	};
	char out[600];

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		size_t n;
		memset(out, 'X', sizeof(out));
		n = policy_format_reply(rows[i].action, out, rows[i].size);
		assert_string_equal(out, rows[i].out);
		assert_int_equal(n, strlen(rows[i].out));
		assert_true(n < rows[i].size);
		/* Nothing written past size. */
		assert_int_equal(out[rows[i].size], 'X');
	}
	assert_int_equal(policy_format_reply("DUNNO", out, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_attr_limit),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_error_sticks_until_reset),
		cmocka_unit_test(test_req_get),
		cmocka_unit_test(test_format_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
