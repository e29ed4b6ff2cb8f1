/* SPDX-License-Identifier: MIT */
/*
 * test_milter_proto - the milter packets (mta/milter_proto.h): encoding
 * byte for byte, splitting and decoding what milters answer (valid and
 * hostile), the check of custom reply codes, the split of a message into
 * header fields; and the message changes of mta/milter_client.h applied
 * to a message; the check of smtpd_milters.
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

#include "lib/params.h"
#include "mta/milter_client.h"
#include "mta/milter_proto.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void
assert_bytes(const struct milter_buf *b, const void *want, size_t len)
{
	assert_int_equal(b->len, len);
	assert_memory_equal(b->data, want, len);
}

static void
test_encode(void **state)
{
	struct milter_buf b = { 0 };

	milter_enc_optneg(&b, 6, 0x1ff, 0x1ff7ff);
	assert_bytes(&b, "\0\0\0\x0d" "O" "\0\0\0\x06" "\0\0\x01\xff" "\0\x1f\xf7\xff", 17);

	milter_buf_reset(&b);
	const char *nv[] = { "j", "mx.test", "{auth_authen}", NULL, "i", "Q1", NULL };
	milter_enc_macro(&b, 'C', nv);
	assert_bytes(&b, "\0\0\0\x11" "D" "C" "j\0mx.test\0i\0Q1\0", 4 + 0x11);

	milter_buf_reset(&b);
	milter_enc_connect(&b, "[192.0.2.1]", '4', 2525, "192.0.2.1");
	assert_bytes(&b, "\0\0\0\x1a" "C" "[192.0.2.1]\0" "4" "\x09\xdd" "192.0.2.1\0", 4 + 0x1a);

	milter_buf_reset(&b);
	milter_enc_connect(&b, "localhost", 'U', 0, NULL);
	assert_bytes(&b, "\0\0\0\x0c" "C" "localhost\0" "U", 4 + 12);

	milter_buf_reset(&b);
	const char *args[] = { "<a@b>", "SIZE=10" };
	milter_enc_strings(&b, 'M', args, 2);
	assert_bytes(&b, "\0\0\0\x0f" "M" "<a@b>\0SIZE=10\0", 4 + 15);

	milter_buf_reset(&b);
	milter_enc_header(&b, "Subject", 7, " hi", 3);
	assert_bytes(&b, "\0\0\0\x0d" "L" "Subject\0 hi\0", 4 + 13);

	/* Packets follow each other in one buffer. */
	milter_buf_reset(&b);
	milter_enc_packet(&b, 'N', NULL, 0);
	milter_enc_packet(&b, 'B', "x\r\n", 3);
	assert_bytes(&b, "\0\0\0\x01N" "\0\0\0\x04" "Bx\r\n", 13);
	milter_buf_free(&b);
}

static void
test_split(void **state)
{
	const unsigned char two[] = "\0\0\0\x01" "c" "\0\0\0\x03" "y" "4\0";
	const unsigned char *data;
	size_t dlen, used;
	char cmd;

	assert_int_equal(milter_packet_split(two, 0, &cmd, &data, &dlen, &used), 0);
	assert_int_equal(milter_packet_split(two, 4, &cmd, &data, &dlen, &used), 0);
	assert_int_equal(milter_packet_split(two, 5, &cmd, &data, &dlen, &used), 1);
	assert_int_equal(cmd, 'c');
	assert_int_equal(dlen, 0);
	assert_int_equal(used, 5);
	assert_int_equal(milter_packet_split(two + 5, 6, &cmd, &data, &dlen, &used), 0);
	assert_int_equal(milter_packet_split(two + 5, 7, &cmd, &data, &dlen, &used), 1);
	assert_int_equal(cmd, 'y');
	assert_int_equal(dlen, 2);
	assert_memory_equal(data, "4\0", 2);

	const unsigned char zero[] = "\0\0\0\0c";
	assert_int_equal(milter_packet_split(zero, 5, &cmd, &data, &dlen, &used), -1);
	const unsigned char huge[] = "\x7f\xff\xff\xff" "b";
	assert_int_equal(milter_packet_split(huge, 5, &cmd, &data, &dlen, &used), -1);
	const unsigned char max[] = "\0\x10\0\0b";	/* exactly MILTER_PACKET_MAX: wait for it */
	assert_int_equal(milter_packet_split(max, 5, &cmd, &data, &dlen, &used), 0);
	const unsigned char over[] = "\0\x10\0\x01" "b";
	assert_int_equal(milter_packet_split(over, 5, &cmd, &data, &dlen, &used), -1);
}

static void
test_optneg(void **state)
{
	struct milter_optneg o;
	const char *error;

	assert_int_equal(milter_dec_optneg((const unsigned char *)"\0\0\0\x06\0\0\0\x11\0\x10\0\x02",
	    12, &o, &error), 0);
	assert_int_equal(o.version, 6);
	assert_int_equal(o.actions, 0x11);
	assert_int_equal(o.protocol, 0x100002);
	/* Macro lists after the 12 bytes are allowed. */
	assert_int_equal(milter_dec_optneg((const unsigned char *)"\0\0\0\x06\0\0\0\x01\0\0\0\0"
	    "\0\0\0\x01i\0", 18, &o, &error), 0);
	assert_int_equal(milter_dec_optneg((const unsigned char *)"\0\0\0\x06\0\0\0\x01\0\0\0",
	    11, &o, &error), -1);
	assert_int_equal(milter_dec_optneg((const unsigned char *)"\0\0\0\x01\0\0\0\x01\0\0\0\0",
	    12, &o, &error), -1);
}

static void
test_dec_reply_table(void **state)
{
	static const struct {
		char cmd;
		const char *data;
		size_t len;
		int rc;
		const char *name, *value, *text;
		uint32_t index;
	} rows[] = {
		{ 'c', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 'a', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 'r', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 't', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 'd', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 'p', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 's', "", 0, 0, NULL, NULL, NULL, 0 },
		{ 'y', "554 5.7.1 no\0", 13, 0, NULL, NULL, "554 5.7.1 no", 0 },
		{ 'y', "554 5.7.1 no", 12, -1, NULL, NULL, NULL, 0 },
		{ 'y', "", 0, -1, NULL, NULL, NULL, 0 },
		{ 'q', "virus\0", 6, 0, NULL, NULL, "virus", 0 },
		{ 'q', "virus", 5, -1, NULL, NULL, NULL, 0 },
		{ 'h', "X-A\0 1\0", 7, 0, "X-A", " 1", NULL, 0 },
		{ 'h', "X-A\0\0", 5, 0, "X-A", "", NULL, 0 },
		{ 'h', "X-A\0 a\n\tb\0", 10, 0, "X-A", " a\n\tb", NULL, 0 },
		{ 'h', "X-A\0 a\r\n b\0", 11, 0, "X-A", " a\r\n b", NULL, 0 },
		{ 'h', "X-A\0 1", 6, -1, NULL, NULL, NULL, 0 },
		{ 'h', "X-A", 3, -1, NULL, NULL, NULL, 0 },
		{ 'h', "\0 1\0", 4, -1, NULL, NULL, NULL, 0 },
		{ 'h', "X:A\0 1\0", 7, -1, NULL, NULL, NULL, 0 },
		{ 'h', "X A\0 1\0", 7, -1, NULL, NULL, NULL, 0 },
		/* A value must not smuggle new header fields or bare CRs in. */
		{ 'h', "X-A\0 a\nBcc: x\0", 14, -1, NULL, NULL, NULL, 0 },
		{ 'h', "X-A\0 a\n\0", 8, -1, NULL, NULL, NULL, 0 },
		{ 'h', "X-A\0 a\rb\0", 9, -1, NULL, NULL, NULL, 0 },
		{ 'i', "\0\0\0\x02X-A\0 1\0", 11, 0, "X-A", " 1", NULL, 2 },
		{ 'i', "\0\0\0", 3, -1, NULL, NULL, NULL, 0 },
		{ 'm', "\0\0\0\x01Subject\0\0", 13, 0, "Subject", "", NULL, 1 },
		{ 'm', "\0\0\0\x01Subject", 11, -1, NULL, NULL, NULL, 0 },
		{ '+', "<x@y>\0", 6, 0, "<x@y>", NULL, NULL, 0 },
		{ '+', "\0", 1, -1, NULL, NULL, NULL, 0 },
		{ '+', "<x@y>", 5, -1, NULL, NULL, NULL, 0 },
		{ '+', "<x\ty>\0", 6, -1, NULL, NULL, NULL, 0 },
		{ '-', "<x@y>\0", 6, 0, "<x@y>", NULL, NULL, 0 },
		{ '2', "<x@y>\0NOTIFY=NEVER\0", 19, 0, "<x@y>", "NOTIFY=NEVER", NULL, 0 },
		{ 'e', "<s@y>\0", 6, 0, "<s@y>", NULL, NULL, 0 },
		{ 'e', "<s@y>\0SIZE=1\0", 13, 0, "<s@y>", "SIZE=1", NULL, 0 },
		{ 'b', "any\0thing", 9, 0, NULL, NULL, NULL, 0 },
		{ 'l', "\0\0\0\x05i j\0", 9, 0, NULL, NULL, "i j", 0 },
		{ 'l', "\0\0\0\x05", 4, -1, NULL, NULL, NULL, 0 },
		{ 'Z', "", 0, -1, NULL, NULL, NULL, 0 },
		{ 'O', "\0\0\0\x06\0\0\0\0\0\0\0\0", 12, -1, NULL, NULL, NULL, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct milter_action a;
		const char *error = NULL;
		int rc = milter_dec_reply(rows[i].cmd, (const unsigned char *)rows[i].data, rows[i].len,
		    &a, &error);
		if (rc != rows[i].rc)
			fail_msg("row %zu ('%c'): rc %d, want %d", i, rows[i].cmd, rc, rows[i].rc);
		if (rc < 0) {
			assert_non_null(error);
			continue;
		}
		assert_int_equal(a.cmd, rows[i].cmd);
		if (rows[i].name != NULL)
			assert_string_equal(a.name, rows[i].name);
		if (rows[i].value != NULL)
			assert_string_equal(a.value, rows[i].value);
		if (rows[i].text != NULL)
			assert_string_equal(a.text, rows[i].text);
		assert_int_equal(a.index, rows[i].index);
		if (rows[i].cmd == 'b') {
			assert_int_equal(a.body_len, 9);
			assert_memory_equal(a.body, "any\0thing", 9);
		}
	}
}

static void
test_reply_check_table(void **state)
{
	static const struct {
		const char *in;
		size_t size;
		int code;
		const char *out;
	} rows[] = {
		{ "550 5.7.1 Rejected", 512, 550, "550 5.7.1 Rejected" },
		{ "451 4.7.1 later", 512, 451, "451 4.7.1 later" },
		{ "554", 512, 554, "554" },
		{ "421 4.3.0 bye", 512, 421, "421 4.3.0 bye" },
		{ "250 2.0.0 ok", 512, -1, NULL },
		{ "354 go", 512, -1, NULL },
		{ "650 x", 512, -1, NULL },
		{ "55", 512, -1, NULL },
		{ "5x0 no", 512, -1, NULL },
		{ "550x no", 512, -1, NULL },
		{ "", 512, -1, NULL },
		{ "550-5.7.1 first\r\n550 5.7.1 second", 512, 550,
		    "550-5.7.1 first\r\n550 5.7.1 second" },
		{ "550-5.7.1 first\n550 5.7.1 second", 512, 550,
		    "550-5.7.1 first\r\n550 5.7.1 second" },
		/* Every line carries the same code, continuations need a next line. */
		{ "550-5.7.1 first\r\n551 5.7.1 second", 512, -1, NULL },
		{ "550-5.7.1 only", 512, -1, NULL },
		{ "550-5.7.1 first\r\n", 512, -1, NULL },
		{ "550\r\n550 x", 512, -1, NULL },
		/* Control characters are neutralised. */
		{ "550 a\tb\x1b" "c", 512, 550, "550 a?b?c" },
		/* Too long: the first line is cut, later lines dropped, the last kept ends it. */
		{ "550 5.7.1 abcdefghij", 16, 550, "550 5.7.1 abcde" },
		{ "550-5.7.1 one\r\n550-5.7.1 two\r\n550 5.7.1 three", 32, 550,
		    "550-5.7.1 one\r\n550 5.7.1 two" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char out[512];
		int code = milter_reply_check(rows[i].in, out, rows[i].size);
		if (code != rows[i].code)
			fail_msg("row %zu (\"%s\"): code %d, want %d", i, rows[i].in, code, rows[i].code);
		if (code > 0)
			assert_string_equal(out, rows[i].out);
	}
}

static void
test_message_split(void **state)
{
	static const char msg[] =
	    "From: a@b\r\n"
	    "Subject: one\r\n"
	    "\ttwo\r\n"
	    "X-Empty:\r\n"
	    "X-Spaced : v\r\n"
	    "\r\n"
	    "Body: not a header\r\n";
	struct milter_header *h;
	size_t body, n;
	char val[64];

	n = milter_message_split(msg, strlen(msg), &h, &body);
	assert_int_equal(n, 4);
	assert_int_equal(h[0].name_len, 4);
	assert_memory_equal(h[0].name, "From", 4);
	assert_int_equal(h[1].value_len, strlen(" one\r\n\ttwo"));
	assert_int_equal(h[1].line_len, strlen("Subject: one\r\n\ttwo\r\n"));
	assert_int_equal(milter_header_value(&h[1], 0, val), 8);
	assert_string_equal(val, "one\n\ttwo");
	milter_header_value(&h[1], 1, val);
	assert_string_equal(val, " one\n\ttwo");
	milter_header_value(&h[2], 0, val);
	assert_string_equal(val, "");
	assert_memory_equal(h[3].name, "X-Spaced", h[3].name_len);
	assert_string_equal(msg + body, "Body: not a header\r\n");
	free(h);

	/* LF lines, a header without an empty line after it. */
	n = milter_message_split("A: 1\nB: 2\n", 10, &h, &body);
	assert_int_equal(n, 2);
	assert_int_equal(body, 10);
	free(h);

	/* The first line that is no field starts the body. */
	n = milter_message_split("A: 1\r\nno colon here\r\nB: 2\r\n", 27, &h, &body);
	assert_int_equal(n, 1);
	assert_int_equal(body, 6);
	free(h);

	n = milter_message_split("\r\nbody\r\n", 8, &h, &body);
	assert_int_equal(n, 0);
	assert_int_equal(body, 2);
	free(h);

	n = milter_message_split("", 0, &h, &body);
	assert_int_equal(n, 0);
	assert_int_equal(body, 0);
	free(h);

	/* A NUL in a value goes to milters as a blank. */
	n = milter_message_split("A: x\0y\r\n\r\n", 10, &h, &body);
	assert_int_equal(n, 1);
	assert_int_equal(milter_header_value(&h[0], 0, val), 3);
	assert_memory_equal(val, "x y", 4);
	free(h);
}

static void
add(struct milter_mods *mods, char cmd, uint32_t index, const char *name, const char *value,
    int leadspc)
{
	struct milter_action a = { .cmd = cmd, .index = index, .name = name, .value = value };
	const char *error;

	if (cmd == SMFIR_REPLBODY) {
		a.body = (const unsigned char *)name;
		a.body_len = strlen(name);
	}
	assert_int_equal(milter_mods_add(mods, &a, leadspc, &error), 0);
}

static char *
apply(const struct milter_mods *mods, const char *msg)
{
	size_t len;
	char *out = milter_mods_apply(mods, msg, strlen(msg), &len);

	assert_int_equal(strlen(out), len);
	return out;
}

static const char base_msg[] =
    "Received: one\r\n"
    "Subject: hello\r\n"
    "Received: two\r\n"
    "\r\n"
    "body\r\n";

static void
test_mods_headers(void **state)
{
	struct milter_mods *mods = milter_mods_new();
	char *out;

	assert_false(milter_mods_any(mods));
	out = apply(mods, base_msg);
	assert_string_equal(out, base_msg);
	free(out);

	add(mods, SMFIR_ADDHEADER, 0, "X-Last", "a\n\tb", 0);
	add(mods, SMFIR_INSHEADER, 0, "X-First", " 1", 1);
	add(mods, SMFIR_INSHEADER, 2, "X-Third", "3", 0);
	add(mods, SMFIR_INSHEADER, 99, "X-Beyond", "9", 0);
	add(mods, SMFIR_CHGHEADER, 2, "received", "changed", 0);
	add(mods, SMFIR_CHGHEADER, 1, "Subject", "", 0);
	add(mods, SMFIR_CHGHEADER, 1, "X-Absent", "added", 0);
	add(mods, SMFIR_CHGHEADER, 1, "X-Absent-Deleted", "", 0);
	assert_true(milter_mods_any(mods));
	out = apply(mods, base_msg);
	assert_string_equal(out,
	    "X-First: 1\r\n"
	    "Received: one\r\n"
	    "X-Third: 3\r\n"
	    "received: changed\r\n"	/* the milter's spelling, as in Postfix */
	    "X-Last: a\r\n\tb\r\n"
	    "X-Beyond: 9\r\n"
	    "X-Absent: added\r\n"
	    "\r\n"
	    "body\r\n");
	free(out);
	milter_mods_free(&mods);
	assert_null(mods);
}

static void
test_mods_body_and_envelope(void **state)
{
	struct milter_mods *mods = milter_mods_new();
	const char **v;
	char *out;

	add(mods, SMFIR_REPLBODY, 0, "new\nbody", NULL, 0);
	add(mods, SMFIR_REPLBODY, 0, " goes on\r\n", NULL, 0);
	add(mods, SMFIR_ADDRCPT, 0, "<x@y>", NULL, 0);
	add(mods, SMFIR_ADDRCPT_PAR, 0, "<z@y>", "NOTIFY=NEVER", 0);
	add(mods, SMFIR_DELRCPT, 0, "<x@y>", NULL, 0);
	add(mods, SMFIR_DELRCPT, 0, "<old@y>", NULL, 0);
	add(mods, SMFIR_CHGFROM, 0, "<s@y>", NULL, 0);
	out = apply(mods, base_msg);
	assert_string_equal(out,
	    "Received: one\r\n"
	    "Subject: hello\r\n"
	    "Received: two\r\n"
	    "\r\n"
	    "new\r\nbody goes on\r\n");
	free(out);
	assert_int_equal(milter_mods_rcpt_added(mods, &v), 1);
	assert_string_equal(v[0], "<z@y>");
	assert_int_equal(milter_mods_rcpt_deleted(mods, &v), 1);
	assert_string_equal(v[0], "<old@y>");
	assert_string_equal(milter_mods_new_sender(mods), "<s@y>");

	/* Not a change. */
	struct milter_action a = { .cmd = SMFIR_CONTINUE };
	const char *error;
	assert_int_equal(milter_mods_add(mods, &a, 0, &error), -1);
	milter_mods_free(&mods);
}

static void
test_mods_bounds(void **state)
{
	struct milter_mods *mods = milter_mods_new();
	struct milter_action a = { .cmd = SMFIR_ADDHEADER, .name = "X-Big" };
	const char *error = NULL;
	size_t big = 1024 * 1024, i;
	char *value = malloc(big + 1);

	/* A hostile milter cannot make smtpd hold unbounded changes. */
	memset(value, 'x', big);
	value[big] = '\0';
	a.value = value;
	for (i = 0; i < 100; i++)
		if (milter_mods_add(mods, &a, 0, &error) < 0)
			break;
	assert_true(i > 0 && i < 100);
	assert_non_null(error);
	milter_mods_free(&mods);

	mods = milter_mods_new();
	a.value = "1";
	for (i = 0; i < 20000; i++)
		if (milter_mods_add(mods, &a, 0, &error) < 0)
			break;
	assert_int_equal(i, 10000);
	milter_mods_free(&mods);
	free(value);
}

static void
test_mods_no_separator(void **state)
{
	struct milter_mods *mods = milter_mods_new();
	char *out;

	/* A message without an empty line after its header keeps its body a body. */
	add(mods, SMFIR_ADDHEADER, 0, "X-A", "1", 0);
	out = apply(mods, "A: 1\r\nnot a field\r\n");
	assert_string_equal(out, "A: 1\r\nX-A: 1\r\n\r\nnot a field\r\n");
	free(out);
	/* Nor a last line end. */
	out = apply(mods, "A: 1");
	assert_string_equal(out, "A: 1\r\nX-A: 1\r\n");
	free(out);
	milter_mods_free(&mods);
}

static void
test_config_check(void **state)
{
	static const struct {
		const char *milters, *action;
		int rc;
	} rows[] = {
		{ "", "tempfail", 0 },
		{ "unix:/run/opendkim/opendkim.sock", "tempfail", 0 },
		{ "local:/run/a.sock, /run/b.sock", "accept", 0 },
		{ "inet:8891@127.0.0.1", "reject", 0 },
		{ "inet:8891@localhost inet:127.0.0.1:11332 inet6:8891@[::1]", "tempfail", 0 },
		{ "inet:127.0.0.1:11332", "tempfail", 0 },
		{ "inet:8891", "tempfail", 0 },
		{ "tcp:8891@127.0.0.1", "tempfail", -1 },
		{ "inet:@127.0.0.1", "tempfail", -1 },
		{ "inet:99999@127.0.0.1", "tempfail", -1 },
		{ "inet:88x@127.0.0.1", "tempfail", -1 },
		{ "unix:", "tempfail", -1 },
		{ "unix:/run/ok.sock", "quarantine", -1 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *error = NULL;
		var_smtpd_milters = (char *)rows[i].milters;
		var_milter_default_action = (char *)rows[i].action;
		int rc = milter_config_check(&error);
		if (rc != rows[i].rc)
			fail_msg("row %zu (%s, %s): %d, want %d (%s)", i, rows[i].milters, rows[i].action,
			    rc, rows[i].rc, error != NULL ? error : "");
		if (rc < 0)
			assert_non_null(error);
	}
	var_smtpd_milters = (char *)"unix:/x";
	assert_true(milter_enabled());
	var_smtpd_milters = (char *)" , ";
	assert_false(milter_enabled());
	var_smtpd_milters = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_dec_reply_table),
		cmocka_unit_test(test_reply_check_table),
		cmocka_unit_test(test_message_split),
		cmocka_unit_test(test_mods_headers),
		cmocka_unit_test(test_mods_body_and_envelope),
		cmocka_unit_test(test_mods_no_separator),
		cmocka_unit_test(test_mods_bounds),
		cmocka_unit_test(test_config_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
