/* SPDX-License-Identifier: MIT */
/*
 * test_dnsbl - the DNSBL site parser (policy/dnsbl.h): zones, return-code
 * filters and weights, which answers a filter accepts, bad sites and
 * their error texts, whole site lists; and the reverse names of lib/dns
 * (in-addr.arpa, RFC 5782 nibbles for IPv6).
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

#include "lib/dns.h"
#include "policy/dnsbl.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void
test_parse_good(void **state)
{
	static const struct {
		const char *item;
		const char *zone;
		int has_filter;
		int weight;
		const char *match;	/* answers listing the client, space separated */
		const char *nomatch;	/* answers that do not */
	} rows[] = {
		{ "zen.test", "zen.test", 0, 1, "127.0.0.2 127.0.0.10 10.1.2.3", "" },
		{ "Zen.Test.", "zen.test", 0, 1, "127.0.0.4", "" },
		{ "zen.test*3", "zen.test", 0, 3, "127.0.0.2", "" },
		{ "zen.test*+2", "zen.test", 0, 2, "127.0.0.2", "" },
		{ "zen.test*0", "zen.test", 0, 0, "127.0.0.2", "" },
		{ "zen.test=127.0.0.2", "zen.test", 1, 1, "127.0.0.2", "127.0.0.3 127.0.1.2 128.0.0.2" },
		{ "zen.test=127.0.0.[2..11]*3", "zen.test", 1, 3, "127.0.0.2 127.0.0.7 127.0.0.11",
		    "127.0.0.1 127.0.0.12 127.0.0.255" },
		{ "zen.test=127.0.0.[2;4;9..11]", "zen.test", 1, 1,
		    "127.0.0.2 127.0.0.4 127.0.0.9 127.0.0.10 127.0.0.11", "127.0.0.3 127.0.0.5 127.0.0.8" },
		{ "list.dnswl.test=127.0.[0..255].[1..3]*-2", "list.dnswl.test", 1, -2,
		    "127.0.10.1 127.0.0.3 127.0.255.2", "127.0.10.0 127.0.10.4 127.1.10.2" },
		{ "w.test=[126..127].[0;1].0.[0..255]", "w.test", 1, 1, "126.0.0.0 127.1.0.255",
		    "125.0.0.0 127.2.0.0 127.0.1.0" },
		{ "b.test=127.000.0.010", "b.test", 1, 1, "127.0.0.10", "127.0.0.1" },
		{ "under_score.test-1.example", "under_score.test-1.example", 0, 1, "1.2.3.4", "" },
		{ "zen.test*-1000000", "zen.test", 0, -1000000, "127.0.0.2", "" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct dnsbl_site site;
		const char *error = "unset";
		char buf[256], *tok, *save;

		if (dnsbl_site_parse(rows[i].item, 1, &site, &error) != 0)
			fail_msg("%s: %s", rows[i].item, error);
		assert_null(error);
		assert_string_equal(site.zone, rows[i].zone);
		assert_int_equal(site.has_filter, rows[i].has_filter);
		assert_int_equal(site.weight, rows[i].weight);
		snprintf(buf, sizeof(buf), "%s", rows[i].match);
		for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
			if (!dnsbl_site_match(&site, tok))
				fail_msg("%s should match %s", rows[i].item, tok);
		snprintf(buf, sizeof(buf), "%s", rows[i].nomatch);
		for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
			if (dnsbl_site_match(&site, tok))
				fail_msg("%s should not match %s", rows[i].item, tok);
		/* Not an IPv4 answer: never a listing. */
		assert_int_equal(dnsbl_site_match(&site, "not-an-address"), 0);
		assert_int_equal(dnsbl_site_match(&site, ""), 0);
	}
}

static void
test_parse_bad(void **state)
{
	static const struct {
		const char *item;
		int weights_allowed;
		const char *error;	/* the start of the error text */
	} rows[] = {
		{ "", 1, "bad zone in \"\"" },
		{ "=127.0.0.2", 1, "bad zone in \"=127.0.0.2\"" },
		{ "*2", 1, "bad zone" },
		{ "zen..test", 1, "bad zone in \"zen..test\"" },
		{ "zen.test..", 1, "bad zone" },
		{ ".zen.test", 1, "bad zone" },
		{ "zen/test", 1, "bad zone" },
		{ "zen.test;x", 1, "bad zone" },
		{ "a234567890123456789012345678901234567890123456789012345678901234.test", 1, "bad zone" },
		{ "zen.test=", 1, "bad filter in \"zen.test=\": expected four octet patterns" },
		{ "zen.test=127.0.0", 1, "bad filter in \"zen.test=127.0.0\"" },
		{ "zen.test=127.0.0.2.1", 1, "bad filter" },
		{ "zen.test=127.0.0.256", 1, "bad filter" },
		{ "zen.test=127.0.0.0010", 1, "bad filter" },
		{ "zen.test=127.0.0.-1", 1, "bad filter" },
		{ "zen.test=127.0.0.x", 1, "bad filter" },
		{ "zen.test=127.0.0.", 1, "bad filter" },
		{ "zen.test=127..0.2", 1, "bad filter" },
		{ "zen.test=127.0.0.[2..11", 1, "bad filter" },
		{ "zen.test=127.0.0.2..11]", 1, "bad filter" },
		{ "zen.test=127.0.0.[11..2]", 1, "bad filter" },
		{ "zen.test=127.0.0.[]", 1, "bad filter" },
		{ "zen.test=127.0.0.[2;;4]", 1, "bad filter" },
		{ "zen.test=127.0.0.[2;]", 1, "bad filter" },
		{ "zen.test=127.0.0.[2..]", 1, "bad filter" },
		{ "zen.test=127.0.0.[2...4]", 1, "bad filter" },
		{ "zen.test=127.0.0.[2,4]", 1, "bad filter" },
		{ "zen.test=127.0.0.[[2]]", 1, "bad filter" },
		{ "zen.test=127.0.0.2=3", 1, "bad filter" },
		{ "zen.test*", 1, "bad weight in \"zen.test*\": expected an integer" },
		{ "zen.test*1.5", 1, "bad weight in \"zen.test*1.5\"" },
		{ "zen.test*x", 1, "bad weight" },
		{ "zen.test*2*3", 1, "bad weight" },
		{ "zen.test*2=127.0.0.2", 1, "bad weight" },
		{ "zen.test*99999999999999999999", 1, "bad weight" },
		{ "zen.test*1000001", 1, "bad weight" },
		{ "zen.test*3", 0, "weight not allowed in \"zen.test*3\"" },
		{ "zen.test=127.0.0.2*-1", 0, "weight not allowed" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct dnsbl_site site;
		const char *error = NULL;

		if (dnsbl_site_parse(rows[i].item, rows[i].weights_allowed, &site, &error) != -1)
			fail_msg("%s: accepted", rows[i].item);
		assert_non_null(error);
		if (strncmp(error, rows[i].error, strlen(rows[i].error)) != 0)
			fail_msg("%s: error \"%s\", expected \"%s...\"", rows[i].item, error, rows[i].error);
	}
}

static void
test_zone_lengths(void **state)
{
	char item[300], expect[300];
	struct dnsbl_site site;
	const char *error;

	/* 189 characters: the longest zone an IPv6 name still fits under. */
	memset(item, 'a', sizeof(item));
	for (int i = 60; i < 189; i += 61)
		item[i] = '.';
	item[189] = '\0';
	assert_int_equal(dnsbl_site_parse(item, 1, &site, &error), 0);
	assert_int_equal(strlen(site.zone), 189);
	snprintf(expect, sizeof(expect), "%s.", item);
	assert_int_equal(dnsbl_site_parse(expect, 1, &site, &error), 0);
	assert_int_equal(strlen(site.zone), 189);
	item[189] = 'a';
	item[190] = '\0';
	assert_int_equal(dnsbl_site_parse(item, 1, &site, &error), -1);
	assert_non_null(strstr(error, "zone too long"));
	/* Longer than the error's quote: the text is cut, not overrun. */
	memset(item, 'b', 299);
	item[299] = '\0';
	assert_int_equal(dnsbl_site_parse(item, 1, &site, &error), -1);
	assert_true(strlen(error) < 300);
}

static void
test_sites_check(void **state)
{
	static const struct {
		const char *list;
		int weights_allowed;
		const char *error;	/* NULL: accepted */
	} rows[] = {
		{ "", 1, NULL },
		{ "zen.test", 1, NULL },
		{ "zen.test=127.0.0.[2..11]*3, list.dnswl.test=127.0.[0..255].[1..3]*-2 bl.test", 1,
		    NULL },
		{ "  zen.test ,, b.test=127.0.0.2  ", 1, NULL },
		{ "dbl.test=127.0.1.[2..99], rhs.test", 0, NULL },
		{ "zen.test, b.test=127.0.0, c.test", 1, "bad filter in \"b.test=127.0.0\"" },
		{ "zen.test*2, bad..test", 1, "bad zone in \"bad..test\"" },
		{ "dbl.test, rhs.test*2", 0, "weight not allowed in \"rhs.test*2\"" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *error = "unset";
		int rc = dnsbl_sites_check(rows[i].list, rows[i].weights_allowed, &error);

		if (rows[i].error == NULL) {
			if (rc != 0)
				fail_msg("\"%s\": %s", rows[i].list, error);
			assert_null(error);
		} else {
			if (rc != -1)
				fail_msg("\"%s\": accepted", rows[i].list);
			if (strncmp(error, rows[i].error, strlen(rows[i].error)) != 0)
				fail_msg("\"%s\": error \"%s\", expected \"%s...\"", rows[i].list, error,
				    rows[i].error);
		}
	}
}

static void
test_reverse_names(void **state)
{
	static const struct {
		const char *addr;
		const char *zone;
		const char *name;	/* NULL: refused */
	} rows[] = {
		{ "192.0.2.99", "zen.test", "99.2.0.192.zen.test" },
		{ "127.0.0.2", "zen.test", "2.0.0.127.zen.test" },
		{ "10.20.30.40", NULL, "40.30.20.10.in-addr.arpa" },
		{ "0.0.0.0", "z", "0.0.0.0.z" },
		{ "255.255.255.255", "z", "255.255.255.255.z" },
		/* RFC 5782 section 2.4's example. */
		{ "2001:db8:1:2:3:4:567:89ab", "ugly.example.com",
		    "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com" },
		{ "::1", "zen.test",
		    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.zen.test" },
		{ "2001:DB8::99", NULL,
		    "9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" },
		{ "not an address", "zen.test", NULL },
		{ "", "zen.test", NULL },
		{ "192.0.2", "zen.test", NULL },
		{ "192.0.2.256", "zen.test", NULL },
		{ "192.0.2.1/32", "zen.test", NULL },
		{ "[192.0.2.1]", "zen.test", NULL },
		{ "2001:db8::1%eth0", "zen.test", NULL },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char out[300];
		int rc = dns_reverse_name(rows[i].addr, rows[i].zone, out, sizeof(out));

		if (rows[i].name == NULL) {
			if (rc != -1)
				fail_msg("%s: accepted as %s", rows[i].addr, out);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused", rows[i].addr);
		assert_string_equal(out, rows[i].name);
	}
}

static void
test_reverse_name_sizes(void **state)
{
	char out[80];

	/* Exactly fits (with the NUL), one less does not. */
	assert_int_equal(dns_reverse_name("192.0.2.1", "z.test", out, sizeof("1.2.0.192.z.test")), 0);
	assert_string_equal(out, "1.2.0.192.z.test");
	assert_int_equal(dns_reverse_name("192.0.2.1", "z.test", out, sizeof("1.2.0.192.z.test") - 1),
	    -1);
	assert_int_equal(dns_reverse_name("::1", "z", out, 66), 0);
	assert_int_equal(strlen(out), 65);
	assert_int_equal(dns_reverse_name("::1", "z", out, 65), -1);
	assert_int_equal(dns_reverse_name("::1", "z", out, 10), -1);
	assert_int_equal(dns_reverse_name("::1", NULL, out, 73), 0);
	assert_int_equal(dns_reverse_name("::1", NULL, out, 72), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_zone_lengths),
		cmocka_unit_test(test_sites_check),
		cmocka_unit_test(test_reverse_names),
		cmocka_unit_test(test_reverse_name_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
