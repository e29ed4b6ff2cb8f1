/* SPDX-License-Identifier: MIT */
/*
 * test_smtp_addr - RFC 5321 paths in MAIL FROM and RCPT TO
 * (mta/smtp_addr.h): a table of good and bad paths, the domain of an
 * address and sender-specified routing.
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

#include "mta/smtp_addr.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#define MAIL 0
#define RCPT 1

struct addr_row {
	int verb;		/* MAIL: "FROM:", null path allowed; RCPT: "TO:" */
	int utf8;
	const char *arg;
	const char *addr;	/* expected address; NULL: refused */
	const char *params;	/* expected rest (when accepted) */
	int routed;
	const char *error;	/* substring of the reply (when refused) */
};

static const struct addr_row paths[] = {
	/* Plain paths, keyword in any case, blanks after the colon. */
	{ MAIL, 0, "FROM:<a@b.example>", "a@b.example", "", 0, NULL },
	{ MAIL, 0, "from:<a@b.example>", "a@b.example", "", 0, NULL },
	{ MAIL, 0, "FROM: <a@b.example>", "a@b.example", "", 0, NULL },
	{ RCPT, 0, "To:<a.b-c+d@x-y.example>", "a.b-c+d@x-y.example", "", 0, NULL },
	{ MAIL, 0, "FROM:<a@b.example> SIZE=100 BODY=8BITMIME", "a@b.example",
	    " SIZE=100 BODY=8BITMIME", 0, NULL },
	{ MAIL, 0, "FROM:<{x}!#$%&'*/=?^_`|~@b.example>", "{x}!#$%&'*/=?^_`|~@b.example", "", 0,
	    NULL },
	/* The null path: MAIL only. */
	{ MAIL, 0, "FROM:<>", "", "", 0, NULL },
	{ MAIL, 0, "FROM:<> SIZE=10", "", " SIZE=10", 0, NULL },
	{ RCPT, 0, "TO:<>", NULL, NULL, 0, "501 5.1.3" },
	/* The keyword must match. */
	{ MAIL, 0, "TO:<a@b>", NULL, NULL, 0, "501 5.5.4" },
	{ RCPT, 0, "FROM:<a@b>", NULL, NULL, 0, "501 5.5.4" },
	{ MAIL, 0, "FROM<a@b>", NULL, NULL, 0, "501 5.5.4" },
	{ MAIL, 0, "", NULL, NULL, 0, "501 5.5.4" },
	/* Quoted local parts keep their quotes. */
	{ RCPT, 0, "TO:<\"a b\"@x.example>", "\"a b\"@x.example", "", 0, NULL },
	{ RCPT, 0, "TO:<\"a@b\"@x.example>", "\"a@b\"@x.example", "", 0, NULL },
	{ RCPT, 0, "TO:<\"a\\\"b\"@x.example>", "\"a\\\"b\"@x.example", "", 0, NULL },
	{ RCPT, 0, "TO:<\"\"@x.example>", "\"\"@x.example", "", 0, NULL },
	{ RCPT, 0, "TO:<\"a\x01\"@x.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<\"unterminated@x.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<\"a\\", NULL, NULL, 0, "501 5.1.3" },
	/* Source routes: accepted, stripped, and said so. */
	{ RCPT, 0, "TO:<@a,@b:u@d.example>", "u@d.example", "", 1, NULL },
	{ MAIL, 0, "FROM:<@relay.example:u@d.example> SIZE=1", "u@d.example", " SIZE=1", 1,
	    NULL },
	{ RCPT, 0, "TO:<@a,@b>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<@a>:u@d>", NULL, NULL, 0, "501 5.1.3" },
	/* Address literals. */
	{ RCPT, 0, "TO:<u@[127.0.0.1]>", "u@[127.0.0.1]", "", 0, NULL },
	{ RCPT, 0, "TO:<u@[IPv6:::1]>", "u@[IPv6:::1]", "", 0, NULL },
	{ RCPT, 0, "TO:<u@[x@y]>", "u@[x@y]", "", 0, NULL },
	{ RCPT, 0, "TO:<u@[]>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<u@[127.0.0.1>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<u@[1 2]>", NULL, NULL, 0, "501 5.1.3" },
	/* UTF-8 only under SMTPUTF8. */
	{ RCPT, 1, "TO:<\xc3\xa9l\xc3\xa8ve@\xc3\xa9" "cole.example>", "\xc3\xa9l\xc3\xa8ve@\xc3\xa9"
	    "cole.example", "", 0, NULL },
	{ RCPT, 0, "TO:<\xc3\xa9l\xc3\xa8ve@\xc3\xa9" "cole.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<eleve@\xc3\xa9" "cole.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 1, "TO:<\"\xc3\xa9 l\"@x.example>", "\"\xc3\xa9 l\"@x.example", "", 0, NULL },
	{ RCPT, 0, "TO:<\"\xc3\xa9 l\"@x.example>", NULL, NULL, 0, "501 5.1.3" },
	/* Missing brackets: accepted, as Postfix does. */
	{ MAIL, 0, "FROM:a@b.example", "a@b.example", "", 0, NULL },
	{ RCPT, 0, "TO:a@b.example NOTIFY=NEVER", "a@b.example", " NOTIFY=NEVER", 0, NULL },
	{ MAIL, 0, "FROM:<a@b.example", NULL, NULL, 0, "501 5.1.3" },
	{ MAIL, 0, "FROM:a@b.example>", NULL, NULL, 0, "501 5.1.3" },
	/* Trailing garbage. */
	{ MAIL, 0, "FROM:<a@b.example>x", NULL, NULL, 0, "501 5.1.3" },
	{ MAIL, 0, "FROM:<a@b.example>>", NULL, NULL, 0, "501 5.1.3" },
	{ MAIL, 0, "FROM:<a@b.example x>", NULL, NULL, 0, "501 5.1.3" },
	{ MAIL, 0, "FROM:<>x", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<postmaster>x", NULL, NULL, 0, "501 5.1.3" },
	/* Bad local parts and domains. */
	{ RCPT, 0, "TO:<@b.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<.a@b.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a.@b.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a..b@b.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a b@b.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@-b.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@b-.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@b..example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@b.example.>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@b_c.example>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<a@@b.example>", NULL, NULL, 0, "501 5.1.3" },
	/* <postmaster> without a domain: RCPT only (RFC 5321 4.5.1). */
	{ RCPT, 0, "TO:<postmaster>", "postmaster", "", 0, NULL },
	{ RCPT, 0, "TO:<PostMaster>", "postmaster", "", 0, NULL },
	{ RCPT, 0, "TO:postmaster", "postmaster", "", 0, NULL },
	{ RCPT, 0, "TO:<postmaster> NOTIFY=NEVER", "postmaster", " NOTIFY=NEVER", 0, NULL },
	{ MAIL, 0, "FROM:<postmaster>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<postmasters>", NULL, NULL, 0, "501 5.1.3" },
	{ RCPT, 0, "TO:<postmaster", NULL, NULL, 0, "501 5.1.3" },
};

static void
check_row(const struct addr_row *r, const char *arg)
{
	char *addr = NULL;
	const char *params = NULL, *error = NULL;
	int routed = -1;
	int rc = smtp_addr_parse(arg, r->verb == MAIL ? "FROM:" : "TO:", r->verb == MAIL, r->utf8,
	    &addr, &params, &routed, &error);

	if (r->addr == NULL) {
		if (rc != -1)
			fail_msg("\"%s\": accepted as \"%s\"", arg, addr);
		if (error == NULL || strstr(error, r->error) == NULL)
			fail_msg("\"%s\": error \"%s\", want \"%s\"", arg,
			    error != NULL ? error : "(null)", r->error);
		return;
	}
	if (rc != 0)
		fail_msg("\"%s\": refused: %s", arg, error);
	if (strcmp(addr, r->addr) != 0)
		fail_msg("\"%s\": address \"%s\", want \"%s\"", arg, addr, r->addr);
	if (strcmp(params, r->params) != 0)
		fail_msg("\"%s\": params \"%s\", want \"%s\"", arg, params, r->params);
	if (routed != r->routed)
		fail_msg("\"%s\": routed %d, want %d", arg, routed, r->routed);
	free(addr);
}

static void
test_addr_table(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(paths); i++)
		check_row(&paths[i], paths[i].arg);
}

/* "ddd...d.ddd...d.d": a domain of exactly n octets, labels of 63 at most. */
static char *
make_domain(size_t n)
{
	char *d = malloc(n + 1);

	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		d[i] = (i % 63 == 62 && i + 1 < n) ? '.' : 'd';
	d[n] = '\0';
	return d;
}

static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* RCPT TO:<local@domain> accepted as local@domain, or refused with error. */
static void
check_length(const char *local, const char *domain, const char *error)
{
	char arg[1024], want[1024];
	struct addr_row r = { RCPT, 0, arg, want, "", 0, error };

	snprintf(arg, sizeof(arg), "TO:<%s@%s>", local, domain);
	snprintf(want, sizeof(want), "%s@%s", local, domain);
	if (error != NULL)
		r.addr = NULL;
	check_row(&r, arg);
}

static void
test_addr_lengths(void **state)
{
	static const struct {
		size_t local;		/* octets of an unquoted local part */
		size_t quoted;		/* or of a quoted one's content (0: unquoted) */
		size_t domain;
		const char *error;	/* NULL: accepted */
	} rows[] = {
		{ 64, 0, 11, NULL },
		{ 65, 0, 11, "Local part of address too long" },
		{ 66, 0, 11, "Local part of address too long" },
		{ 200, 0, 11, "Local part of address too long" },
		/* The quotes are not counted against the 64. */
		{ 0, 64, 11, NULL },
		{ 0, 65, 11, "Local part of address too long" },
		/* A label is 63 octets at most. */
		{ 1, 0, 63, NULL },
		/* 254 + "a@" is the whole path limit of 256. */
		{ 1, 0, 254, NULL },
		{ 2, 0, 254, "Address too long" },
		{ 64, 0, 191, NULL },
		{ 64, 0, 192, "Address too long" },
		{ 1, 0, 256, "Domain of address too long" },
		{ 1, 0, 1000, "Domain of address too long" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *local, *domain = make_domain(rows[i].domain);

		if (rows[i].quoted > 0) {
			char *content = repeat('q', rows[i].quoted);
			size_t n = rows[i].quoted + 3;
			local = malloc(n);
			assert_non_null(local);
			snprintf(local, n, "\"%s\"", content);
			free(content);
		} else {
			local = repeat('l', rows[i].local);
		}
		check_length(local, domain, rows[i].error);
		free(local);
		free(domain);
	}
	{
		/* A 64-octet label is refused as bad syntax. */
		char *label = repeat('d', 64);
		check_length("a", label, "501 5.1.3 Bad address syntax");
		free(label);
	}
}

static void
test_addr_domain(void **state)
{
	static const struct {
		const char *addr, *domain;
	} rows[] = {
		{ "a@b.example", "b.example" },
		{ "\"a@b\"@c.example", "c.example" },
		{ "u@[127.0.0.1]", "[127.0.0.1]" },
		{ "u@[IPv6:::1]", "[IPv6:::1]" },
		/* dcontent may hold '@'; the domain is still the whole literal. */
		{ "u@[x@y]", "[x@y]" },
		{ "\"a@[b\"@[c@d]", "[c@d]" },
		{ "a@", "" },
		{ "postmaster", NULL },
		{ "", NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *d = smtp_addr_domain(rows[i].addr);
		if (rows[i].domain == NULL ? d != NULL : d == NULL || strcmp(d, rows[i].domain) != 0)
			fail_msg("\"%s\": domain \"%s\", want \"%s\"", rows[i].addr,
			    d != NULL ? d : "(null)", rows[i].domain != NULL ? rows[i].domain : "(null)");
	}
}

static void
test_addr_has_routing(void **state)
{
	static const struct {
		const char *addr;
		int routing;
	} rows[] = {
		{ "a@b.example", 0 },
		{ "a.b+c@b.example", 0 },
		{ "postmaster", 0 },
		{ "", 0 },
		/* The percent hack and bang paths. */
		{ "u%c.example@b.example", 1 },
		{ "c!u@b.example", 1 },
		{ "c!u", 1 },
		{ "u%c", 1 },
		/* An '@' inside a quoted local part. */
		{ "\"u@c.example\"@b.example", 1 },
		/* Only the local part counts. */
		{ "u@[IPv6:::1]", 0 },
		{ "u@[x@y]", 0 },
		{ "u%v@[x@y]", 1 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		if (smtp_addr_has_routing(rows[i].addr) != rows[i].routing)
			fail_msg("\"%s\": has_routing %d", rows[i].addr, !rows[i].routing);
}

/* Every path the parser accepts from smtpd comes back out of the parser. */
static void
test_addr_parse_routing(void **state)
{
	char *addr = NULL;
	const char *params, *error;
	int routed;

	assert_int_equal(smtp_addr_parse("TO:<u%c.example@b.example>", "TO:", 0, 0, &addr, &params,
	    &routed, &error), 0);
	assert_int_equal(routed, 0);
	assert_int_equal(smtp_addr_has_routing(addr), 1);
	free(addr);
	assert_int_equal(smtp_addr_parse("TO:<@x.example:c!u@b.example>", "TO:", 0, 0, &addr,
	    &params, &routed, &error), 0);
	assert_int_equal(routed, 1);
	assert_string_equal(addr, "c!u@b.example");
	assert_int_equal(smtp_addr_has_routing(addr), 1);
	free(addr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_table),
		cmocka_unit_test(test_addr_lengths),
		cmocka_unit_test(test_addr_domain),
		cmocka_unit_test(test_addr_has_routing),
		cmocka_unit_test(test_addr_parse_routing),
	};

	return cmocka_run_group_tests_name("smtp_addr", tests, NULL, NULL);
}
