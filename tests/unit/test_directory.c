/* SPDX-License-Identifier: MIT */
/*
 * test_directory - the directory (store/directory.h) on a temporary
 * SQLite file: every way a recipient resolves, alias expansion with its
 * loops and depth limit, the access lists' scopes, precedence and
 * patterns, the writers' validation and their error texts, read-only
 * opening, and a reader seeing a writer's change without reopening.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/mem.h"
#include "store/directory.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/test_directory.XXXXXX";
static int db_seq;

static struct directory *
fresh(char *path, size_t size)
{
	struct directory *dir;
	const char *error = NULL;

	snprintf(path, size, "%s/d%d.db", tmpdir, ++db_seq);
	dir = directory_open(path, 0, &error);
	if (dir == NULL)
		fail_msg("open %s: %s", path, error);
	return dir;
}

static void
ok_or_fail(int rc, const char *what, const char *error)
{
	if (rc != 0)
		fail_msg("%s: %s", what, error);
}

static void
add_domain(struct directory *dir, const char *name, enum dir_domain_kind kind,
    enum dir_verify verify, const char *catchall)
{
	struct dir_domain d;
	const char *error = NULL;

	memset(&d, 0, sizeof(d));
	str_copy(d.name, name, sizeof(d.name));
	d.kind = kind;
	d.verify = verify;
	str_copy(d.catchall, catchall, sizeof(d.catchall));
	ok_or_fail(directory_domain_add(dir, &d, &error), name, error);
}

/* The directory most tests read. */
static struct directory *
fixture(char *path, size_t size)
{
	static const char *const accounts[] = {
		"alice@example.org", "Bob@Example.org", "dave@example.org", "carol@catch.test",
	};
	static const char *const aliases[][2] = {
		{ "postmaster@example.org", "alice@example.org" },
		{ "team@example.org", "alice@example.org" },
		{ "team@example.org", "bob@example.org" },
		{ "team@example.org", "ext@elsewhere.test" },
		{ "dave+lists@example.org", "alice@example.org" },
		{ "all@example.org", "team@example.org" },
		{ "all@example.org", "alice@example.org" },
		{ "all@example.org", "dave@example.org" },
	};
	struct directory *dir = fresh(path, size);
	const char *error = NULL;

	add_domain(dir, "example.org", DIR_DOMAIN_LOCAL, DIR_VERIFY_NONE, "");
	add_domain(dir, "catch.test", DIR_DOMAIN_LOCAL, DIR_VERIFY_NONE, "Catch@Example.org");
	add_domain(dir, "relay.test", DIR_DOMAIN_RELAY, DIR_VERIFY_NONE, "");
	add_domain(dir, "list.test", DIR_DOMAIN_RELAY, DIR_VERIFY_LIST, "");
	add_domain(dir, "probe.test", DIR_DOMAIN_RELAY, DIR_VERIFY_PROBE, "");
	add_domain(dir, "backup.test", DIR_DOMAIN_BACKUP, DIR_VERIFY_NONE, "");
	for (size_t i = 0; i < N_ELEMENTS(accounts); i++)
		ok_or_fail(directory_account_add(dir, accounts[i], &error), accounts[i], error);
	ok_or_fail(directory_account_set_enabled(dir, "bob@example.org", 0, &error), "disable", error);
	for (size_t i = 0; i < N_ELEMENTS(aliases); i++)
		ok_or_fail(directory_alias_add(dir, aliases[i][0], aliases[i][1], &error),
		    aliases[i][0], error);
	ok_or_fail(directory_relay_rcpt_add(dir, "R1@List.test", &error), "relay rcpt", error);
	return dir;
}

static const char *
rcpt_name(enum dir_rcpt r)
{
	static const char *const names[] = { "NOT_OURS", "UNKNOWN", "ACCOUNT", "ALIAS", "CATCHALL",
		"RELAY", "PROBE", "DISABLED" };

	return (size_t)r < N_ELEMENTS(names) ? names[r] : "?";
}

static void
test_recipient(void **state)
{
	static const struct {
		const char *addr;
		enum dir_rcpt want;
		const char *target;
	} rows[] = {
		{ "alice@example.org", DIR_RCPT_ACCOUNT, "alice@example.org" },
		{ "ALICE@Example.ORG", DIR_RCPT_ACCOUNT, "alice@example.org" },
		{ "alice@example.org.", DIR_RCPT_ACCOUNT, "alice@example.org" },
		{ "bob@example.org", DIR_RCPT_DISABLED, "bob@example.org" },
		{ "postmaster@example.org", DIR_RCPT_ALIAS, "postmaster@example.org" },
		{ "team@example.org", DIR_RCPT_ALIAS, "team@example.org" },
		/* Sub-addresses: the entry itself first, then without the extension. */
		{ "alice+news@example.org", DIR_RCPT_ACCOUNT, "alice@example.org" },
		{ "alice+a+b@example.org", DIR_RCPT_ACCOUNT, "alice@example.org" },
		{ "bob+x@example.org", DIR_RCPT_DISABLED, "bob@example.org" },
		{ "team+x@example.org", DIR_RCPT_ALIAS, "team@example.org" },
		{ "dave+lists@example.org", DIR_RCPT_ALIAS, "dave+lists@example.org" },
		{ "dave+other@example.org", DIR_RCPT_ACCOUNT, "dave@example.org" },
		{ "nobody@example.org", DIR_RCPT_UNKNOWN, "" },
		{ "nobody+x@example.org", DIR_RCPT_UNKNOWN, "" },
		{ "+alice@example.org", DIR_RCPT_UNKNOWN, "" },
		/* postmaster is not special: an alias must exist. */
		{ "postmaster@catch.test", DIR_RCPT_CATCHALL, "catch@example.org" },
		{ "anyone@catch.test", DIR_RCPT_CATCHALL, "catch@example.org" },
		{ "carol@catch.test", DIR_RCPT_ACCOUNT, "carol@catch.test" },
		{ "x@relay.test", DIR_RCPT_RELAY, "" },
		{ "r1@list.test", DIR_RCPT_RELAY, "" },
		{ "R1+tag@LIST.test", DIR_RCPT_RELAY, "" },
		{ "r2@list.test", DIR_RCPT_UNKNOWN, "" },
		{ "x@probe.test", DIR_RCPT_PROBE, "" },
		{ "x@backup.test", DIR_RCPT_RELAY, "" },
		{ "x@other.test", DIR_RCPT_NOT_OURS, "" },
		{ "alice@sub.example.org", DIR_RCPT_NOT_OURS, "" },
		{ "alice", DIR_RCPT_NOT_OURS, "" },
		{ "", DIR_RCPT_NOT_OURS, "" },
		{ "@example.org", DIR_RCPT_NOT_OURS, "" },
		{ "alice@", DIR_RCPT_NOT_OURS, "" },
	};
	char path[256], target[320], longaddr[2000];
	struct directory *dir = fixture(path, sizeof(path));
	enum dir_rcpt r;

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		strcpy(target, "garbage");
		assert_int_equal(directory_recipient(dir, rows[i].addr, &r, target, sizeof(target)), 0);
		if (r != rows[i].want || strcmp(target, rows[i].target) != 0)
			fail_msg("%s: %s \"%s\", want %s \"%s\"", rows[i].addr, rcpt_name(r), target,
			    rcpt_name(rows[i].want), rows[i].target);
	}
	/* No target buffer, a small one, an address too long for any buffer. */
	assert_int_equal(directory_recipient(dir, "anyone@catch.test", &r, NULL, 0), 0);
	assert_int_equal(r, DIR_RCPT_CATCHALL);
	assert_int_equal(directory_recipient(dir, "anyone@catch.test", &r, target, 6), 0);
	assert_string_equal(target, "catch");
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	memcpy(longaddr + sizeof(longaddr) - 13, "@example.org", 12);
	assert_int_equal(directory_recipient(dir, longaddr, &r, target, sizeof(target)), 0);
	assert_int_equal(r, DIR_RCPT_NOT_OURS);
	directory_close(&dir);
	assert_null(dir);
}

/* Expansion of addr as a sorted, comma-separated list. */
static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
expansion(struct directory *dir, const char *addr, size_t max, char *out, size_t size)
{
	char *v[64];
	int n = directory_alias_expand(dir, addr, v, max);

	assert_true(n >= 0 && (size_t)n <= max);
	if (n > 1)
		qsort(v, (size_t)n, sizeof(v[0]), cmp_str);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i > 0 ? "," : "", v[i]);
		free(v[i]);
	}
}

static void
test_alias_expand(void **state)
{
	static const struct {
		const char *addr;
		size_t max;
		const char *want;
	} rows[] = {
		{ "postmaster@example.org", 64, "alice@example.org" },
		/* A disabled account is still final: delivery refuses it, not expansion. */
		{ "team@example.org", 64, "alice@example.org,bob@example.org,ext@elsewhere.test" },
		{ "TEAM@Example.Org", 64, "alice@example.org,bob@example.org,ext@elsewhere.test" },
		/* Nested, duplicates once. */
		{ "all@example.org", 64,
		  "alice@example.org,bob@example.org,dave@example.org,ext@elsewhere.test" },
		{ "team+x@example.org", 64, "alice@example.org,bob@example.org,ext@elsewhere.test" },
		{ "alice@example.org", 64, "alice@example.org" },
		{ "alice+x@example.org", 64, "alice+x@example.org" },
		{ "dave+lists@example.org", 64, "alice@example.org" },
		{ "x@elsewhere.test", 64, "x@elsewhere.test" },
		{ "nobody@example.org", 64, "nobody@example.org" },
		{ "team@example.org", 2, NULL },	/* two of the three */
		{ "team@example.org", 0, "" },
	};
	char path[256], out[1024];
	struct directory *dir = fixture(path, sizeof(path));

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		expansion(dir, rows[i].addr, rows[i].max, out, sizeof(out));
		if (rows[i].want == NULL) {
			assert_int_equal(strchr(out, ',') != NULL && strchr(strchr(out, ',') + 1, ',') == NULL, 1);
			continue;
		}
		if (strcmp(out, rows[i].want) != 0)
			fail_msg("%s (max %zu): \"%s\", want \"%s\"", rows[i].addr, rows[i].max, out,
			    rows[i].want);
	}
	directory_close(&dir);
}

static void
test_alias_loops_and_depth(void **state)
{
	static const char *const pairs[][2] = {
		/* l1 -> l2 -> l1 (cut), l2 -> alice */
		{ "l1@example.org", "l2@example.org" },
		{ "l2@example.org", "l1@example.org" },
		{ "l2@example.org", "alice@example.org" },
		/* m1 <-> m2 and nothing else */
		{ "m1@example.org", "m2@example.org" },
		{ "m2@example.org", "m1@example.org" },
		/* s -> s+x: the extension leads back to s */
		{ "s@example.org", "s+x@example.org" },
	};
	char path[256], out[1024], a[64], b[64];
	struct directory *dir = fresh(path, sizeof(path));
	const char *error = NULL;

	add_domain(dir, "example.org", DIR_DOMAIN_LOCAL, DIR_VERIFY_NONE, "");
	ok_or_fail(directory_account_add(dir, "alice@example.org", &error), "alice", error);
	for (size_t i = 0; i < N_ELEMENTS(pairs); i++)
		ok_or_fail(directory_alias_add(dir, pairs[i][0], pairs[i][1], &error), pairs[i][0],
		    error);
	/* c0 -> c1 -> ... -> c11 -> alice: 12 levels; d0 -> ... -> d9 -> alice: 10. */
	for (int i = 0; i < 12; i++) {
		snprintf(a, sizeof(a), "c%d@example.org", i);
		snprintf(b, sizeof(b), "c%d@example.org", i + 1);
		ok_or_fail(directory_alias_add(dir, a, i == 11 ? "alice@example.org" : b, &error), a,
		    error);
	}
	for (int i = 0; i < 10; i++) {
		snprintf(a, sizeof(a), "d%d@example.org", i);
		snprintf(b, sizeof(b), "d%d@example.org", i + 1);
		ok_or_fail(directory_alias_add(dir, a, i == 9 ? "alice@example.org" : b, &error), a,
		    error);
	}

	expansion(dir, "l1@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "alice@example.org");
	expansion(dir, "l2@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "alice@example.org");
	/* Every path loops: nothing to deliver to. */
	expansion(dir, "m1@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "");
	expansion(dir, "s@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "");
	/* Ten levels are followed; an alias still expanding at the 11th is kept as it is. */
	expansion(dir, "d0@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "alice@example.org");
	expansion(dir, "c0@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "c10@example.org");
	expansion(dir, "c2@example.org", 64, out, sizeof(out));
	assert_string_equal(out, "alice@example.org");
	directory_close(&dir);
}

static void
test_access(void **state)
{
	static const struct {
		const char *scope, *pattern;
		enum dir_access action;
	} entries[] = {
		{ "", "192.0.2.0/24", DIR_ACCESS_DENY },
		{ "", "192.0.2.7", DIR_ACCESS_ALLOW },	/* same scope: the deny wins */
		{ "", "2001:DB8::/32", DIR_ACCESS_DENY },
		{ "", "bad.test", DIR_ACCESS_DENY },
		{ "", ".sub.test", DIR_ACCESS_DENY },
		{ "", "@at.test", DIR_ACCESS_DENY },
		{ "", "Friend@Partner.test", DIR_ACCESS_ALLOW },
		{ "", "good.test", DIR_ACCESS_ALLOW },
		{ "example.org", "192.0.2.0/25", DIR_ACCESS_ALLOW },
		{ "example.org", "198.51.100.0/24", DIR_ACCESS_ALLOW },
		{ "example.org", "2001:db8:1::5", DIR_ACCESS_ALLOW },
		{ "Alice@Example.org", "198.51.100.1", DIR_ACCESS_DENY },
	};
	static const struct {
		const char *client, *sender, *rcpt;
		enum dir_access want;
		const char *matched;
	} rows[] = {
		{ "192.0.2.7", "", NULL, DIR_ACCESS_DENY, "deny 192.0.2.0/24 (global)" },
		{ "192.0.2.200", "", NULL, DIR_ACCESS_DENY, "deny 192.0.2.0/24 (global)" },
		/* The recipient's domain is more specific than global. */
		{ "192.0.2.7", "", "alice@example.org", DIR_ACCESS_ALLOW,
		  "allow 192.0.2.0/25 (scope example.org)" },
		{ "192.0.2.200", "", "bob@example.org", DIR_ACCESS_DENY, "deny 192.0.2.0/24 (global)" },
		/* The recipient's address is more specific than its domain. */
		{ "198.51.100.1", "", "alice@example.org", DIR_ACCESS_DENY,
		  "deny 198.51.100.1 (scope alice@example.org)" },
		{ "198.51.100.1", "", "ALICE+tag@example.org", DIR_ACCESS_DENY,
		  "deny 198.51.100.1 (scope alice@example.org)" },
		{ "198.51.100.1", "", "bob@example.org", DIR_ACCESS_ALLOW,
		  "allow 198.51.100.0/24 (scope example.org)" },
		{ "198.51.100.1", "", NULL, DIR_ACCESS_NONE, "" },
		{ "198.51.100.1", "", "x@other.test", DIR_ACCESS_NONE, "" },
		/* IPv6, exact and networks, any spelling; IPv4-mapped is IPv4. */
		{ "2001:db8::1", "", NULL, DIR_ACCESS_DENY, "deny 2001:db8::/32 (global)" },
		{ "2001:0DB8:ffff::1", "", "bob@example.org", DIR_ACCESS_DENY,
		  "deny 2001:db8::/32 (global)" },
		{ "2001:DB8:1:0::5", "", "bob@example.org", DIR_ACCESS_ALLOW,
		  "allow 2001:db8:1::5 (scope example.org)" },
		{ "2001:db9::1", "", NULL, DIR_ACCESS_NONE, "" },
		{ "::ffff:192.0.2.9", "", NULL, DIR_ACCESS_DENY, "deny 192.0.2.0/24 (global)" },
		/* Sender domains: exact, "@domain", ".parent" for subdomains only. */
		{ "203.0.113.1", "x@bad.test", NULL, DIR_ACCESS_DENY, "deny bad.test (global)" },
		{ "203.0.113.1", "x@BAD.test.", NULL, DIR_ACCESS_DENY, "deny bad.test (global)" },
		{ "203.0.113.1", "x@mx.bad.test", NULL, DIR_ACCESS_NONE, "" },
		{ "203.0.113.1", "x@at.test", NULL, DIR_ACCESS_DENY, "deny at.test (global)" },
		{ "203.0.113.1", "x@a.b.sub.test", NULL, DIR_ACCESS_DENY, "deny .sub.test (global)" },
		{ "203.0.113.1", "x@sub.test", NULL, DIR_ACCESS_NONE, "" },
		{ "203.0.113.1", "x@nsub.test", NULL, DIR_ACCESS_NONE, "" },
		/* Sender addresses, with or without an extension. */
		{ "203.0.113.1", "FRIEND@partner.test", NULL, DIR_ACCESS_ALLOW,
		  "allow friend@partner.test (global)" },
		{ "203.0.113.1", "friend+x@partner.test", NULL, DIR_ACCESS_ALLOW,
		  "allow friend@partner.test (global)" },
		{ "203.0.113.1", "other@partner.test", NULL, DIR_ACCESS_NONE, "" },
		{ "203.0.113.1", "", NULL, DIR_ACCESS_NONE, "" },
		/* Client and sender in one scope: the deny wins. */
		{ "192.0.2.7", "x@good.test", NULL, DIR_ACCESS_DENY, "deny 192.0.2.0/24 (global)" },
		{ "203.0.113.1", "x@good.test", NULL, DIR_ACCESS_ALLOW, "allow good.test (global)" },
		/* Nothing known, or nonsense. */
		{ NULL, NULL, NULL, DIR_ACCESS_NONE, "" },
		{ "", "", "", DIR_ACCESS_NONE, "" },
		{ "not-an-ip", "not-an-address", "x", DIR_ACCESS_NONE, "" },
		{ "192.0.2.0/24", "", NULL, DIR_ACCESS_NONE, "" },
	};
	char path[256], matched[256];
	struct directory *dir = fresh(path, sizeof(path));
	const char *error = NULL;
	enum dir_access a;

	add_domain(dir, "example.org", DIR_DOMAIN_LOCAL, DIR_VERIFY_NONE, "");
	for (size_t i = 0; i < N_ELEMENTS(entries); i++)
		ok_or_fail(directory_access_add(dir, entries[i].scope, entries[i].pattern,
		    entries[i].action, &error), entries[i].pattern, error);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		strcpy(matched, "garbage");
		assert_int_equal(directory_access(dir, rows[i].client, rows[i].sender, rows[i].rcpt, &a,
		    matched, sizeof(matched)), 0);
		if (a != rows[i].want || strcmp(matched, rows[i].matched) != 0)
			fail_msg("client %s sender %s rcpt %s: %s \"%s\", want %s \"%s\"",
			    rows[i].client ? rows[i].client : "NULL", rows[i].sender ? rows[i].sender : "NULL",
			    rows[i].rcpt ? rows[i].rcpt : "NULL", dir_access_str(a), matched,
			    dir_access_str(rows[i].want), rows[i].matched);
	}
	/* matched may be NULL. */
	assert_int_equal(directory_access(dir, "192.0.2.1", "", NULL, &a, NULL, 0), 0);
	assert_int_equal(a, DIR_ACCESS_DENY);

	/* Adding an existing (scope, pattern) replaces the action; a network loses its host bits. */
	ok_or_fail(directory_access_add(dir, NULL, "192.0.2.99/24", DIR_ACCESS_ALLOW, &error), "replace",
	    error);
	assert_int_equal(directory_access(dir, "192.0.2.200", "", NULL, &a, matched, sizeof(matched)), 0);
	assert_int_equal(a, DIR_ACCESS_ALLOW);
	assert_string_equal(matched, "allow 192.0.2.0/24 (global)");
	ok_or_fail(directory_access_del(dir, "", "192.0.2.0/24", &error), "del", error);
	ok_or_fail(directory_access_del(dir, "", "192.0.2.7", &error), "del", error);
	assert_int_equal(directory_access(dir, "192.0.2.7", "", NULL, &a, matched, sizeof(matched)), 0);
	assert_int_equal(a, DIR_ACCESS_NONE);
	ok_or_fail(directory_access_del(dir, "ALICE@example.org", "198.51.100.1", &error), "del", error);
	ok_or_fail(directory_access_del(dir, "", "@bad.test", &error), "del", error);
	assert_int_equal(directory_access(dir, "203.0.113.1", "x@bad.test", NULL, &a, matched,
	    sizeof(matched)), 0);
	assert_int_equal(a, DIR_ACCESS_NONE);
	directory_close(&dir);
}

struct listing {
	char text[2048];
};

static int
list_access(const char *scope, const char *pattern, enum dir_access action, void *ctx)
{
	struct listing *l = ctx;

	snprintf(l->text + strlen(l->text), sizeof(l->text) - strlen(l->text), "%s|%s|%s;", scope,
	    pattern, dir_access_str(action));
	return 0;
}

static void
test_access_patterns(void **state)
{
	static const struct {
		const char *scope, *pattern, *error;
	} rows[] = {
		{ "", "192.0.2.1", NULL },
		{ "", "10.1.2.3/8", NULL },
		{ "", "2001:db8::/129", "bad access pattern 2001:db8::/129: not an IP address, a network, an address or a domain" },
		{ "", "192.0.2.1/33", "bad access pattern 192.0.2.1/33: not an IP address, a network, an address or a domain" },
		{ "", "192.0.2.1/", "bad access pattern 192.0.2.1/: not an IP address, a network, an address or a domain" },
		{ "", "192.0.2.1/-1", "bad access pattern 192.0.2.1/-1: not an IP address, a network, an address or a domain" },
		{ "", "FE80::1/10", NULL },
		{ "", "user@", "bad access pattern user@: not an IP address, a network, an address or a domain" },
		{ "", "*.example.org", "bad access pattern *.example.org: not an IP address, a network, an address or a domain" },
		{ "", "..example.org", "bad access pattern ..example.org: not an IP address, a network, an address or a domain" },
		{ "", "", "bad access pattern : not an IP address, a network, an address or a domain" },
		{ "", "a b", "bad access pattern a b: not an IP address, a network, an address or a domain" },
		{ "", "@Example.COM", NULL },
		{ "", ".Example.NET", NULL },
		{ "", "u.ser@example.net", NULL },
		{ "unknown.test", "192.0.2.1", "unknown domain unknown.test" },
		{ "x@unknown.test", "192.0.2.1", "unknown domain unknown.test" },
		{ "bad scope", "192.0.2.1", "bad access scope bad scope: not a domain or an address" },
		{ "EXAMPLE.org", "192.0.2.2", NULL },
		{ "bob@example.org", "192.0.2.3", NULL },
	};
	char path[256];
	struct directory *dir = fresh(path, sizeof(path));
	struct listing l;
	const char *error;

	add_domain(dir, "example.org", DIR_DOMAIN_LOCAL, DIR_VERIFY_NONE, "");
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		int rc;
		error = NULL;
		rc = directory_access_add(dir, rows[i].scope, rows[i].pattern, DIR_ACCESS_DENY, &error);
		if (rows[i].error == NULL && rc != 0)
			fail_msg("%s: %s", rows[i].pattern, error);
		if (rows[i].error != NULL && (rc != -1 || strcmp(error, rows[i].error) != 0))
			fail_msg("%s: rc %d \"%s\", want \"%s\"", rows[i].pattern, rc,
			    rc != 0 ? error : "", rows[i].error);
	}
	assert_int_equal(directory_access_add(dir, "", "192.0.2.1", DIR_ACCESS_NONE, &error), -1);
	assert_string_equal(error, "access entry 192.0.2.1: the action is allow or deny");
	memset(&l, 0, sizeof(l));
	assert_int_equal(directory_access_foreach(dir, list_access, &l), 0);
	assert_string_equal(l.text,
	    "|.example.net|deny;|10.0.0.0/8|deny;|192.0.2.1|deny;|example.com|deny;"
	    "|fe80::/10|deny;|u.ser@example.net|deny;"
	    "bob@example.org|192.0.2.3|deny;example.org|192.0.2.2|deny;");
	assert_int_equal(directory_access_del(dir, "", "192.0.2.99", &error), -1);
	assert_string_equal(error, "no global access entry 192.0.2.99");
	assert_int_equal(directory_access_del(dir, "example.org", "192.0.2.1", &error), -1);
	assert_string_equal(error, "no access entry 192.0.2.1 for example.org");
	assert_int_equal(directory_access_del(dir, "", "junk!", &error), -1);
	assert_string_equal(error,
	    "bad access pattern junk!: not an IP address, a network, an address or a domain");
	directory_close(&dir);
}

/* One change and the error it must give ("" for success). */
enum op { ADD_DOMAIN, DEL_DOMAIN, UPDATE_DOMAIN, ADD_ACCOUNT, DEL_ACCOUNT, DISABLE_ACCOUNT,
	ADD_ALIAS, DEL_ALIAS, ADD_RELAY, DEL_RELAY };

static void
test_validation(void **state)
{
	static const struct {
		enum op op;
		const char *a, *b;	/* domain: name and kind/verify/nexthop/catchall as "k v h c" */
		const char *error;
	} rows[] = {
		{ ADD_DOMAIN, "bad..test", "local", "bad domain name bad..test" },
		{ ADD_DOMAIN, "-x.test", "local", "bad domain name -x.test" },
		{ ADD_DOMAIN, "x-.test", "local", "bad domain name x-.test" },
		{ ADD_DOMAIN, "localhost", "local", "bad domain name localhost" },
		{ ADD_DOMAIN, "192.0.2.1", "local", "bad domain name 192.0.2.1" },
		{ ADD_DOMAIN, "exa_mple.org", "local", "bad domain name exa_mple.org" },
		{ ADD_DOMAIN, "", "local", "bad domain name " },
		{ ADD_DOMAIN, "a234567890123456789012345678901234567890123456789012345678901234.test",
		  "local", "bad domain name a234567890123456789012345678901234567890123456789012345678901234.test" },
		{ ADD_DOMAIN, "a23456789012345678901234567890123456789012345678901234567890123.test",
		  "local", "" },
		{ ADD_DOMAIN, "xn--bcher-kva.test", "local", "" },
		{ ADD_DOMAIN, "Example.ORG.", "local", "" },
		{ ADD_DOMAIN, "example.org", "relay", "domain example.org exists" },
		{ ADD_DOMAIN, "l.test", "local list", "domain l.test: recipient verification is for relay domains" },
		{ ADD_DOMAIN, "l.test", "local none [mx.test]:25", "domain l.test: a next hop is for relay and backup domains" },
		{ ADD_DOMAIN, "l.test", "relay none - a@b.test", "domain l.test: a catch-all is for local domains" },
		{ ADD_DOMAIN, "l.test", "local none - nope", "domain l.test: bad catch-all address nope" },
		{ ADD_DOMAIN, "l.test", "backup probe", "domain l.test: recipient verification is for relay domains" },
		{ ADD_DOMAIN, "l.test", "relay none bad,hop", "domain l.test: bad next hop bad,hop" },
		{ ADD_DOMAIN, "relay.test", "relay list [192.0.2.1]:2525", "" },
		{ ADD_DOMAIN, "backup.test", "backup none mx.primary.test", "" },
		{ ADD_ACCOUNT, "Alice@Example.org", NULL, "" },
		{ ADD_ACCOUNT, "alice@example.org", NULL, "account alice@example.org exists" },
		{ ADD_ACCOUNT, "x@other.test", NULL, "unknown domain other.test" },
		{ ADD_ACCOUNT, "x@relay.test", NULL, "relay.test is a relay domain, not a local domain" },
		{ ADD_ACCOUNT, "no-at", NULL, "bad address no-at" },
		{ ADD_ACCOUNT, "a..b@example.org", NULL, "bad address a..b@example.org" },
		{ ADD_ACCOUNT, ".a@example.org", NULL, "bad address .a@example.org" },
		{ ADD_ACCOUNT, "a b@example.org", NULL, "bad address a b@example.org" },
		{ ADD_ACCOUNT, "\"a\"@example.org", NULL, "bad address \"a\"@example.org" },
		{ ADD_ACCOUNT, "@example.org", NULL, "bad address @example.org" },
		{ ADD_ACCOUNT, "x@bad..org", NULL, "bad address x@bad..org" },
		{ ADD_ACCOUNT, "a2345678901234567890123456789012345678901234567890123456789012345@example.org",
		  NULL, "bad address a2345678901234567890123456789012345678901234567890123456789012345@example.org" },
		{ ADD_ACCOUNT, "o'neil+x@example.org", NULL, "" },
		{ ADD_ALIAS, "postmaster@example.org", "alice@example.org", "" },
		{ ADD_ALIAS, "postmaster@example.org", "ALICE@example.org", "alias postmaster@example.org -> alice@example.org exists" },
		{ ADD_ALIAS, "postmaster@example.org", "nope", "bad target address nope" },
		{ ADD_ALIAS, "alice@example.org", "x@y.test", "alice@example.org is an account" },
		{ ADD_ALIAS, "self@example.org", "Self@example.org", "alias self@example.org cannot point to itself" },
		{ ADD_ALIAS, "x@relay.test", "alice@example.org", "relay.test is a relay domain, not a local domain" },
		{ ADD_ALIAS, "x@nowhere.test", "alice@example.org", "unknown domain nowhere.test" },
		{ ADD_ACCOUNT, "postmaster@example.org", NULL, "postmaster@example.org is an alias" },
		{ ADD_RELAY, "x@example.org", NULL, "example.org is a local domain, not a relay domain" },
		{ ADD_RELAY, "x@backup.test", NULL, "backup.test is a backup domain, not a relay domain" },
		{ ADD_RELAY, "r1@relay.test", NULL, "" },
		{ ADD_RELAY, "R1@relay.test", NULL, "relay recipient r1@relay.test exists" },
		{ DEL_ACCOUNT, "zz@example.org", NULL, "no such account zz@example.org" },
		{ DEL_ACCOUNT, "zz", NULL, "bad address zz" },
		{ DISABLE_ACCOUNT, "zz@example.org", NULL, "no such account zz@example.org" },
		{ DEL_ALIAS, "zz@example.org", NULL, "no such alias zz@example.org" },
		{ DEL_ALIAS, "postmaster@example.org", "zz@example.org", "alias postmaster@example.org has no target zz@example.org" },
		{ DEL_ALIAS, "zz@example.org", "alice@example.org", "no such alias zz@example.org" },
		{ DEL_RELAY, "r2@relay.test", NULL, "no such relay recipient r2@relay.test" },
		{ DEL_DOMAIN, "nope.test", NULL, "unknown domain nope.test" },
		{ DEL_DOMAIN, "bad..test", NULL, "bad domain name bad..test" },
		{ DEL_DOMAIN, "example.org", NULL, "domain example.org is not empty: 2 accounts, 1 alias" },
		{ DEL_DOMAIN, "relay.test", NULL, "domain relay.test is not empty: 1 relay recipient" },
		{ UPDATE_DOMAIN, "example.org", "relay", "domain example.org has 2 accounts, 1 alias: cannot make it relay with verify none" },
		{ UPDATE_DOMAIN, "relay.test", "relay none", "domain relay.test has 1 relay recipient: cannot make it relay with verify none" },
		{ UPDATE_DOMAIN, "relay.test", "relay list [192.0.2.2]:25", "" },
		{ UPDATE_DOMAIN, "nope.test", "relay", "unknown domain nope.test" },
		{ UPDATE_DOMAIN, "example.org", "local none - catch@example.org", "" },
		{ UPDATE_DOMAIN, "backup.test", "relay probe", "" },
		/* Emptied, they go. */
		{ DEL_RELAY, "R1@Relay.test", NULL, "" },
		{ DEL_DOMAIN, "relay.test", NULL, "" },
		{ DEL_ALIAS, "postmaster@example.org", "alice@example.org", "" },
		{ DEL_ACCOUNT, "alice@example.org", NULL, "" },
		{ DEL_DOMAIN, "example.org", NULL, "domain example.org is not empty: 1 account" },
		{ DEL_ACCOUNT, "o'neil+x@example.org", NULL, "" },
		{ DEL_DOMAIN, "Example.org.", NULL, "" },
	};
	char path[256];
	struct directory *dir = fresh(path, sizeof(path));

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *error = NULL;
		struct dir_domain d;
		char kind[16] = "", verify[16] = "", hop[64] = "", catchall[64] = "";
		int rc = -2;

		memset(&d, 0, sizeof(d));
		if (rows[i].op == ADD_DOMAIN || rows[i].op == UPDATE_DOMAIN) {
			sscanf(rows[i].b, "%15s %15s %63s %63s", kind, verify, hop, catchall);
			str_copy(d.name, rows[i].a, sizeof(d.name));
			d.kind = (enum dir_domain_kind)dir_domain_kind_parse(kind);
			d.verify = verify[0] != '\0' ? (enum dir_verify)dir_verify_parse(verify) :
			    DIR_VERIFY_NONE;
			str_copy(d.nexthop, strcmp(hop, "-") == 0 ? "" : hop, sizeof(d.nexthop));
			str_copy(d.catchall, catchall, sizeof(d.catchall));
		}
		switch (rows[i].op) {
		case ADD_DOMAIN: rc = directory_domain_add(dir, &d, &error); break;
		case UPDATE_DOMAIN: rc = directory_domain_update(dir, &d, &error); break;
		case DEL_DOMAIN: rc = directory_domain_del(dir, rows[i].a, &error); break;
		case ADD_ACCOUNT: rc = directory_account_add(dir, rows[i].a, &error); break;
		case DEL_ACCOUNT: rc = directory_account_del(dir, rows[i].a, &error); break;
		case DISABLE_ACCOUNT: rc = directory_account_set_enabled(dir, rows[i].a, 0, &error); break;
		case ADD_ALIAS: rc = directory_alias_add(dir, rows[i].a, rows[i].b, &error); break;
		case DEL_ALIAS: rc = directory_alias_del(dir, rows[i].a, rows[i].b, &error); break;
		case ADD_RELAY: rc = directory_relay_rcpt_add(dir, rows[i].a, &error); break;
		case DEL_RELAY: rc = directory_relay_rcpt_del(dir, rows[i].a, &error); break;
		}
		if (rows[i].error[0] == '\0' && rc != 0)
			fail_msg("row %zu %s: %s", i, rows[i].a, error);
		if (rows[i].error[0] != '\0' && (rc != -1 || strcmp(error, rows[i].error) != 0))
			fail_msg("row %zu %s: rc %d \"%s\", want \"%s\"", i, rows[i].a, rc,
			    rc != 0 ? error : "", rows[i].error);
	}
	directory_close(&dir);
}

struct names {
	char text[1024];
	int stop_after;
	int seen;
};

static int
list_domain(const struct dir_domain *d, void *ctx)
{
	struct names *n = ctx;

	snprintf(n->text + strlen(n->text), sizeof(n->text) - strlen(n->text), "%s:%s:%s:%s:%s;",
	    d->name, dir_domain_kind_str(d->kind), dir_verify_str(d->verify), d->nexthop,
	    d->catchall);
	return ++n->seen == n->stop_after ? 7 : 0;
}

static int
list_account(const char *addr, int enabled, void *ctx)
{
	struct names *n = ctx;

	snprintf(n->text + strlen(n->text), sizeof(n->text) - strlen(n->text), "%s%s;", addr,
	    enabled ? "" : "(off)");
	return 0;
}

static int
list_alias(const char *addr, const char *target, void *ctx)
{
	struct names *n = ctx;

	snprintf(n->text + strlen(n->text), sizeof(n->text) - strlen(n->text), "%s>%s;", addr,
	    target);
	return 0;
}

static int
list_relay(const char *addr, void *ctx)
{
	struct names *n = ctx;

	snprintf(n->text + strlen(n->text), sizeof(n->text) - strlen(n->text), "%s;", addr);
	return 0;
}

static void
test_listings(void **state)
{
	char path[256];
	struct directory *dir = fixture(path, sizeof(path));
	struct dir_domain d;
	struct names n;

	memset(&n, 0, sizeof(n));
	assert_int_equal(directory_domain_foreach(dir, list_domain, &n), 0);
	assert_string_equal(n.text, "backup.test:backup:none::;catch.test:local:none::catch@example.org;"
	    "example.org:local:none::;list.test:relay:list::;probe.test:relay:probe::;"
	    "relay.test:relay:none::;");
	memset(&n, 0, sizeof(n));
	n.stop_after = 2;
	assert_int_equal(directory_domain_foreach(dir, list_domain, &n), 7);
	assert_int_equal(n.seen, 2);

	memset(&n, 0, sizeof(n));
	assert_int_equal(directory_account_foreach(dir, "Example.ORG", list_account, &n), 0);
	assert_string_equal(n.text, "alice@example.org;bob@example.org(off);dave@example.org;");
	memset(&n, 0, sizeof(n));
	assert_int_equal(directory_account_foreach(dir, NULL, list_account, &n), 0);
	assert_string_equal(n.text, "alice@example.org;bob@example.org(off);carol@catch.test;"
	    "dave@example.org;");
	memset(&n, 0, sizeof(n));
	assert_int_equal(directory_account_foreach(dir, "relay.test", list_account, &n), 0);
	assert_string_equal(n.text, "");

	memset(&n, 0, sizeof(n));
	assert_int_equal(directory_alias_foreach(dir, "example.org", list_alias, &n), 0);
	assert_string_equal(n.text, "all@example.org>alice@example.org;all@example.org>dave@example.org;"
	    "all@example.org>team@example.org;dave+lists@example.org>alice@example.org;"
	    "postmaster@example.org>alice@example.org;team@example.org>alice@example.org;"
	    "team@example.org>bob@example.org;team@example.org>ext@elsewhere.test;");
	memset(&n, 0, sizeof(n));
	assert_int_equal(directory_relay_rcpt_foreach(dir, "list.test", list_relay, &n), 0);
	assert_string_equal(n.text, "r1@list.test;");

	assert_int_equal(directory_domain_get(dir, "CATCH.test.", &d), 1);
	assert_string_equal(d.name, "catch.test");
	assert_int_equal(d.kind, DIR_DOMAIN_LOCAL);
	assert_string_equal(d.catchall, "catch@example.org");
	assert_int_equal(directory_domain_get(dir, "nope.test", &d), 0);
	assert_int_equal(directory_domain_get(dir, "list.test", NULL), 1);
	directory_close(&dir);
}

static void
test_names(void **state)
{
	assert_string_equal(dir_domain_kind_str(DIR_DOMAIN_BACKUP), "backup");
	assert_int_equal(dir_domain_kind_parse("Relay"), DIR_DOMAIN_RELAY);
	assert_int_equal(dir_domain_kind_parse("mailbox"), -1);
	assert_int_equal(dir_domain_kind_parse(""), -1);
	assert_string_equal(dir_verify_str(DIR_VERIFY_LIST), "list");
	assert_int_equal(dir_verify_parse("probe"), DIR_VERIFY_PROBE);
	assert_int_equal(dir_verify_parse("none"), DIR_VERIFY_NONE);
	assert_int_equal(dir_verify_parse("always"), -1);
	assert_string_equal(dir_access_str(DIR_ACCESS_DENY), "deny");
	assert_string_equal(dir_access_str(DIR_ACCESS_NONE), "none");
}

static void
test_open(void **state)
{
	char path[256], wal[300];
	const char *error = NULL;
	struct directory *dir, *reader;
	enum dir_rcpt r;
	FILE *f;

	/* Read-only: the file must exist, and be a directory database. */
	snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
	assert_null(directory_open(path, 1, &error));
	assert_non_null(error);
	assert_true(strstr(error, "missing.db: no directory database") != NULL);
	assert_int_equal(access(path, F_OK), -1);

	snprintf(path, sizeof(path), "%s/junk.db", tmpdir);
	assert_non_null(f = fopen(path, "w"));
	fputs("this is not an SQLite database, not even close to one, at all.\n", f);
	fclose(f);
	error = NULL;
	assert_null(directory_open(path, 1, &error));
	assert_non_null(error);
	assert_null(directory_open(path, 0, &error));

	snprintf(path, sizeof(path), "%s/empty.db", tmpdir);
	assert_non_null(f = fopen(path, "w"));
	fclose(f);
	assert_null(directory_open(path, 1, &error));
	assert_true(strstr(error, "not a directory database") != NULL);

	snprintf(path, sizeof(path), "%s/no/such/dir.db", tmpdir);
	assert_null(directory_open(path, 0, &error));
	assert_true(strstr(error, "cannot create") != NULL);

	/* A reader sees a writer's change at its next lookup, without reopening. */
	dir = fresh(path, sizeof(path));
	add_domain(dir, "example.org", DIR_DOMAIN_LOCAL, DIR_VERIFY_NONE, "");
	assert_non_null(reader = directory_open(path, 1, &error));
	assert_int_equal(directory_recipient(reader, "new@example.org", &r, NULL, 0), 0);
	assert_int_equal(r, DIR_RCPT_UNKNOWN);
	assert_int_equal(directory_account_add(dir, "new@example.org", &error), 0);
	assert_int_equal(directory_recipient(reader, "new@example.org", &r, NULL, 0), 0);
	assert_int_equal(r, DIR_RCPT_ACCOUNT);
	/* The reader cannot write. */
	assert_int_equal(directory_account_add(reader, "other@example.org", &error), -1);
	assert_string_equal(error, "the directory is open read-only");
	assert_int_equal(directory_account_del(reader, "new@example.org", &error), -1);
	assert_string_equal(error, "the directory is open read-only");
	assert_int_equal(directory_access_del(reader, "", "192.0.2.1", &error), -1);
	assert_string_equal(error, "the directory is open read-only");
	directory_close(&reader);
	directory_close(&dir);
	/* The last writer to close leaves -wal and -shm for read-only openers. */
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(access(wal, F_OK), 0);
	snprintf(wal, sizeof(wal), "%s-shm", path);
	assert_int_equal(access(wal, F_OK), 0);

	/* Reopening a writer keeps the data (the schema is not made twice). */
	assert_non_null(dir = directory_open(path, 0, &error));
	assert_int_equal(directory_recipient(dir, "new@example.org", &r, NULL, 0), 0);
	assert_int_equal(r, DIR_RCPT_ACCOUNT);
	directory_close(&dir);
	directory_close(&dir);	/* NULL: nothing */
}

static void
test_default_path(void **state)
{
	const char *error;
	FILE *f;
	char conf[256];

	snprintf(conf, sizeof(conf), "%s/facteur.conf", tmpdir);
	assert_non_null(f = fopen(conf, "w"));
	fprintf(f, "spool_directory = /var/spool/x\n");
	fclose(f);
	assert_int_equal(config_load(conf, &error), 0);
	assert_string_equal(directory_default_path(), "/var/spool/x/directory.db");
	assert_non_null(f = fopen(conf, "w"));
	fprintf(f, "spool_directory = /var/spool/x\ndirectory_database = /etc/facteur/dir.db\n");
	fclose(f);
	assert_int_equal(config_load(conf, &error), 0);
	assert_string_equal(directory_default_path(), "/etc/facteur/dir.db");
	unlink(conf);
}

static int
remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recipient),
		cmocka_unit_test(test_alias_expand),
		cmocka_unit_test(test_alias_loops_and_depth),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_access_patterns),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_listings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_default_path),
	};
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (remove_tmpdir() != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
