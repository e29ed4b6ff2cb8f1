/* SPDX-License-Identifier: MIT */
/*
 * test_net - listener addresses and client network lists (lib/net.h).
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/net.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void
test_parse_hostport(void **state)
{
	static const struct {
		const char *in;
		int rc;
		int family;
		const char *addr;	/* numeric form of the parsed address */
		int port;
	} rows[] = {
		{ "127.0.0.1:25", 0, AF_INET, "127.0.0.1", 25 },
		{ "0.0.0.0:587", 0, AF_INET, "0.0.0.0", 587 },
		{ ":2525", 0, AF_INET, "0.0.0.0", 2525 },
		{ "*:465", 0, AF_INET, "0.0.0.0", 465 },
		{ "localhost:10025", 0, AF_INET, "127.0.0.1", 10025 },
		{ "192.0.2.1:65535", 0, AF_INET, "192.0.2.1", 65535 },
		{ "192.0.2.1:1", 0, AF_INET, "192.0.2.1", 1 },
		{ "[::1]:25", 0, AF_INET6, "::1", 25 },
		{ "[::]:25", 0, AF_INET6, "::", 25 },
		{ "[2001:db8::5]:2525", 0, AF_INET6, "2001:db8::5", 2525 },
		{ "[127.0.0.1]:25", 0, AF_INET, "127.0.0.1", 25 },
		/* Bad ports. */
		{ "127.0.0.1:0", -1, 0, NULL, 0 },
		{ "127.0.0.1:65536", -1, 0, NULL, 0 },
		{ "127.0.0.1:-1", -1, 0, NULL, 0 },
		{ "127.0.0.1:", -1, 0, NULL, 0 },
		{ "127.0.0.1:25x", -1, 0, NULL, 0 },
		{ "127.0.0.1:smtp", -1, 0, NULL, 0 },
		{ "127.0.0.1:99999999999999999999", -1, 0, NULL, 0 },
		{ "[::1]:0", -1, 0, NULL, 0 },
		/* Bad hosts and shapes. */
		{ "127.0.0.1", -1, 0, NULL, 0 },
		{ "", -1, 0, NULL, 0 },
		{ "mx.example.org:25", -1, 0, NULL, 0 },
		{ "256.0.0.1:25", -1, 0, NULL, 0 },
		{ "[::1]25", -1, 0, NULL, 0 },
		{ "[::1:25", -1, 0, NULL, 0 },
		{ "[::g]:25", -1, 0, NULL, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 0;
		char buf[INET6_ADDRSTRLEN];
		int rc = net_parse_hostport(rows[i].in, &ss, &len);

		if (rc != rows[i].rc)
			fail_msg("\"%s\": rc %d, want %d", rows[i].in, rc, rows[i].rc);
		if (rc < 0)
			continue;
		if (ss.ss_family != rows[i].family)
			fail_msg("\"%s\": family %d", rows[i].in, ss.ss_family);
		net_addr_str((struct sockaddr *)&ss, buf, sizeof(buf));
		if (strcmp(buf, rows[i].addr) != 0)
			fail_msg("\"%s\": address %s, want %s", rows[i].in, buf, rows[i].addr);
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
			assert_int_equal(len, sizeof(*sin));
			assert_int_equal(ntohs(sin->sin_port), rows[i].port);
		} else {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
			assert_int_equal(len, sizeof(*sin6));
			assert_int_equal(ntohs(sin6->sin6_port), rows[i].port);
		}
	}
}

static void
test_addr_str_mapped(void **state)
{
	struct sockaddr_in6 sin6;
	char buf[INET6_ADDRSTRLEN];

	/* An IPv4 client on a dual-stack socket shows as plain IPv4. */
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr), 1);
	net_addr_str((struct sockaddr *)&sin6, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.7");
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char *list, *addr;
		int match;
	} rows[] = {
		{ "127.0.0.0/8, ::1/128", "127.0.0.1", 1 },
		{ "127.0.0.0/8, ::1/128", "127.255.255.255", 1 },
		{ "127.0.0.0/8, ::1/128", "128.0.0.1", 0 },
		{ "127.0.0.0/8, ::1/128", "::1", 1 },
		{ "127.0.0.0/8, ::1/128", "::2", 0 },
		{ "192.0.2.0/24", "192.0.2.200", 1 },
		{ "192.0.2.0/24", "192.0.3.1", 0 },
		{ "192.0.2.0/25", "192.0.2.127", 1 },
		{ "192.0.2.0/25", "192.0.2.128", 0 },
		{ "192.0.2.128/26", "192.0.2.191", 1 },
		{ "192.0.2.128/26", "192.0.2.192", 0 },
		{ "10.0.0.0/9", "10.127.0.1", 1 },
		{ "10.0.0.0/9", "10.128.0.1", 0 },
		/* /32 and a bare address are the host alone. */
		{ "192.0.2.1/32", "192.0.2.1", 1 },
		{ "192.0.2.1/32", "192.0.2.2", 0 },
		{ "192.0.2.1", "192.0.2.1", 1 },
		{ "192.0.2.1", "192.0.2.0", 0 },
		/* /0 is every address of its family, and only of its family. */
		{ "0.0.0.0/0", "203.0.113.9", 1 },
		{ "0.0.0.0/0", "2001:db8::1", 0 },
		{ "::/0", "2001:db8::1", 1 },
		{ "::/0", "203.0.113.9", 0 },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
		{ "2001:db8::/32", "2001:db9::1", 0 },
		{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
		{ "2001:db8::/33", "2001:db8:8000::1", 0 },
		{ "[2001:db8::]/32", "2001:db8::1", 1 },
		/* Mismatched family: an IPv4-mapped address is IPv6. */
		{ "192.0.2.0/24", "::ffff:192.0.2.1", 0 },
		/* Several entries, blanks and commas. */
		{ "198.51.100.0/24,192.0.2.0/24", "192.0.2.1", 1 },
		{ " 198.51.100.0/24\t192.0.2.0/24 ", "192.0.2.1", 1 },
		/* Garbage entries never match, and do not stop the walk. */
		{ "garbage, 192.0.2.0/24", "192.0.2.1", 1 },
		{ "192.0.2.0/33", "192.0.2.1", 0 },
		{ "192.0.2.0/-1", "192.0.2.1", 0 },
		{ "192.0.2.0/", "192.0.2.1", 0 },
		{ "192.0.2.0/2x", "192.0.2.1", 0 },
		{ "::/129", "::1", 0 },
		{ "", "192.0.2.1", 0 },
		/* The address must be a plain address. */
		{ "192.0.2.0/24", "192.0.2.0/24", 0 },
		{ "192.0.2.0/24", "garbage", 0 },
		{ "192.0.2.0/24", "", 0 },
		{ "0.0.0.0/0", "192.0.2.1/0", 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		if (net_cidr_list_match(rows[i].list, rows[i].addr) != rows[i].match)
			fail_msg("\"%s\" in \"%s\": %d, want %d", rows[i].addr, rows[i].list,
			    !rows[i].match, rows[i].match);
}

static void
test_cidr_check(void **state)
{
	static const struct {
		const char *list;
		const char *bad;	/* NULL: valid */
	} rows[] = {
		{ "", NULL },
		{ "127.0.0.0/8, ::1/128", NULL },
		{ "192.0.2.1 2001:db8::/32,[::1]/128,0.0.0.0/0", NULL },
		{ "127.0.0.0/8, localhost", "localhost" },
		{ "192.0.2.0/33", "192.0.2.0/33" },
		{ "192.0.2.0/24 ::/200", "::/200" },
		{ "192.0.2.0/", "192.0.2.0/" },
		{ "300.0.0.0/8", "300.0.0.0/8" },
		{ "192.0.2.0/24, 10.0.0.0/8x, junk", "10.0.0.0/8x" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char bad[64] = "untouched";
		int rc = net_cidr_list_check(rows[i].list, bad, sizeof(bad));

		if (rows[i].bad == NULL) {
			if (rc != 0)
				fail_msg("\"%s\": refused at \"%s\"", rows[i].list, bad);
			continue;
		}
		if (rc != -1)
			fail_msg("\"%s\": accepted", rows[i].list);
		if (strcmp(bad, rows[i].bad) != 0)
			fail_msg("\"%s\": bad entry \"%s\", want \"%s\"", rows[i].list, bad,
			    rows[i].bad);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_hostport),
		cmocka_unit_test(test_addr_str_mapped),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_cidr_check),
	};

	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
