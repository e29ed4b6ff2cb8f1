/* SPDX-License-Identifier: MIT */
/*
 * test_policy_state - the policy's shared state on its SQLite backend
 * (policy/state.h), with a real event base and a file in a temporary
 * directory: the four operations, expiry, answers that never come inside
 * the call, cancel, close with ops pending, two handles on one file; the
 * client network and sender keys; greylisting and rate limits on it.
 * The Redis backend is tested against a real server in
 * tests/integration/test_policy_state.py.
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
#include <event2/event.h>

#include "lib/config.h"
#include "lib/mem.h"
#include "policy/greylist.h"
#include "policy/ratelimit.h"
#include "policy/state.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char dir[] = "/tmp/test_policy_state.XXXXXX";
static int db_seq;
static struct event_base *base;

/* What a callback saw. */
struct answer {
	int done;
	int status, found;
	long long value;
	/* greylist */
	enum greylist_result gl;
	long remaining;
	/* ratelimit */
	int over;
	long retry;
	int order;
};

static int order_seq;

static void
incr_cb(void *ctx, int status, long long value)
{
	struct answer *a = ctx;

	a->done++;
	a->status = status;
	a->value = value;
	a->order = ++order_seq;
}

static void
get_cb(void *ctx, int status, int found, long long value)
{
	struct answer *a = ctx;

	a->done++;
	a->status = status;
	a->found = found;
	a->value = value;
	a->order = ++order_seq;
}

static void
done_cb(void *ctx, int status)
{
	struct answer *a = ctx;

	a->done++;
	a->status = status;
	a->order = ++order_seq;
}

static void
never_get_cb(void *ctx, int status, int found, long long value)
{
	fail_msg("a cancelled or dropped op answered");
}

static void
gl_cb(void *ctx, enum greylist_result r, long remaining)
{
	struct answer *a = ctx;

	a->done++;
	a->gl = r;
	a->remaining = remaining;
}

static void
rl_cb(void *ctx, int status, int over, long long value, long retry)
{
	struct answer *a = ctx;

	a->done++;
	a->status = status;
	a->over = over;
	a->value = value;
	a->retry = retry;
}

/* Run the loop until a has its answer. */
static void
wait_answer(struct answer *a)
{
	while (!a->done)
		assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_int_equal(a->done, 1);
}

static struct pstate *
fresh_state(char *path, size_t size)
{
	struct pstate *st;
	const char *error = NULL;
	char *spec;

	snprintf(path, size, "%s/s%d.db", dir, ++db_seq);
	spec = xasprintf("sqlite:%s", path);
	st = pstate_open(base, spec, &error);
	free(spec);
	assert_non_null(st);
	assert_string_equal(pstate_backend(st), "sqlite");
	return st;
}

/* Synchronous helpers: each asserts that the answer came from the loop, not the call. */
static long long
do_incr(struct pstate *st, const char *key, long long delta, long ttl)
{
	struct answer a = { 0 };

	pstate_incr(st, key, delta, ttl, incr_cb, &a);
	assert_int_equal(a.done, 0);
	wait_answer(&a);
	assert_int_equal(a.status, 0);
	return a.value;
}

/* The value, or -999 when absent. */
static long long
do_get(struct pstate *st, const char *key)
{
	struct answer a = { 0 };

	pstate_get(st, key, get_cb, &a);
	assert_int_equal(a.done, 0);
	wait_answer(&a);
	assert_int_equal(a.status, 0);
	return a.found ? a.value : -999;
}

static void
do_set(struct pstate *st, const char *key, long long value, long ttl)
{
	struct answer a = { 0 };

	pstate_set(st, key, value, ttl, done_cb, &a);
	assert_int_equal(a.done, 0);
	wait_answer(&a);
	assert_int_equal(a.status, 0);
}

/* -999 when this add set the key, else the value found. */
static long long
do_add(struct pstate *st, const char *key, long long value, long ttl)
{
	struct answer a = { 0 };

	pstate_add(st, key, value, ttl, get_cb, &a);
	assert_int_equal(a.done, 0);
	wait_answer(&a);
	assert_int_equal(a.status, 0);
	return a.found ? a.value : -999;
}

static void
test_operations(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));

	assert_int_equal(do_get(st, "k"), -999);
	assert_int_equal(do_incr(st, "k", 5, 100), 5);
	assert_int_equal(do_incr(st, "k", -7, 100), -2);
	assert_int_equal(do_incr(st, "k", 0, 100), -2);
	assert_int_equal(do_get(st, "k"), -2);
	do_set(st, "s", 42, 100);
	assert_int_equal(do_get(st, "s"), 42);
	do_set(st, "s", INT64_MAX, 0);
	assert_true(do_get(st, "s") == INT64_MAX);
	assert_int_equal(do_add(st, "a", 1, 100), -999);
	assert_int_equal(do_add(st, "a", 2, 100), 1);
	assert_int_equal(do_get(st, "a"), 1);
	/* Keys are text: anything goes, and they do not mix. */
	assert_int_equal(do_incr(st, "gl:t:2001:db8::/64:<>:x y@z", 1, 100), 1);
	assert_int_equal(do_get(st, "gl:t:2001:db8::/64:<>:x y@z"), 1);
	assert_int_equal(do_get(st, "gl:t:2001:db8::/64:<>:x"), -999);
	pstate_close(&st);
	assert_null(st);
	pstate_close(&st);
}

static void
test_overflow(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	struct answer a = { 0 };

	do_set(st, "big", INT64_MAX - 1, 100);
	assert_true(do_incr(st, "big", 1, 100) == INT64_MAX);
	pstate_incr(st, "big", 1, 100, incr_cb, &a);
	wait_answer(&a);
	assert_int_equal(a.status, -1);
	assert_true(do_get(st, "big") == INT64_MAX);
	pstate_close(&st);
}

static void
test_expiry(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));

	do_set(st, "t", 1, 1);
	assert_int_equal(do_incr(st, "w", 10, 1), 10);
	assert_int_equal(do_add(st, "n", 5, 1), -999);
	do_set(st, "forever", 7, 0);
	/* An increment keeps the key's first expiry: a fixed window. */
	assert_int_equal(do_incr(st, "fixed", 1, 1), 1);
	assert_int_equal(do_incr(st, "fixed", 1, 1000), 2);
	sleep(2);
	assert_int_equal(do_get(st, "t"), -999);
	assert_int_equal(do_get(st, "fixed"), -999);
	assert_int_equal(do_get(st, "forever"), 7);
	/* Expired rows are still in the file until swept: t, w, n, fixed. */
	assert_int_equal(pstate_expire(st), 4);
	assert_int_equal(pstate_expire(st), 0);
	assert_int_equal(do_incr(st, "w", 1, 100), 1);
	assert_int_equal(do_add(st, "n", 6, 100), -999);
	assert_int_equal(do_get(st, "n"), 6);
	assert_int_equal(do_get(st, "forever"), 7);
	pstate_close(&st);
}

/* An expired row that was not swept behaves as absent for every operation. */
static void
test_expired_not_swept(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));

	do_set(st, "a", 3, 1);
	do_set(st, "i", 3, 1);
	sleep(2);
	assert_int_equal(do_add(st, "a", 4, 100), -999);
	assert_int_equal(do_get(st, "a"), 4);
	assert_int_equal(do_incr(st, "i", 1, 100), 1);
	pstate_close(&st);
}

static void
test_order_and_cancel(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	struct answer a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
	struct pstate_op *op, *keep;

	order_seq = 0;
	pstate_incr(st, "o", 1, 100, incr_cb, &a1);
	op = pstate_get(st, "o", never_get_cb, NULL);
	keep = pstate_get(st, "o", get_cb, &a2);
	pstate_set(st, "o", 9, 100, done_cb, &a3);
	assert_non_null(keep);
	pstate_cancel(&op);
	assert_null(op);
	pstate_cancel(&op);
	wait_answer(&a3);
	assert_int_equal(a1.done + a2.done, 2);
	assert_true(a1.order < a2.order && a2.order < a3.order);
	/* Executed in the call: the get saw the incr, not the later set. */
	assert_int_equal(a2.value, 1);
	assert_int_equal(do_get(st, "o"), 9);
	/* Fire and forget. */
	pstate_incr(st, "o", 1, 100, NULL, NULL);
	assert_int_equal(do_get(st, "o"), 10);
	pstate_close(&st);
}

static void
test_close_with_pending(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	struct pstate *other = fresh_state(path, sizeof(path));
	struct answer a = { 0 };

	pstate_get(st, "x", never_get_cb, NULL);
	pstate_add(st, "x", 1, 10, never_get_cb, NULL);
	pstate_close(&st);
	/* The loop goes on without them. */
	assert_int_equal(do_incr(other, "y", 1, 10), 1);
	pstate_get(other, "y", get_cb, &a);
	pstate_close(&other);
	assert_true(event_base_loop(base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(a.done, 0);
}

/* A callback that closes its pstate while others wait in the same turn. */
static struct pstate *closing_st;

static void
close_cb(void *ctx, int status, int found, long long value)
{
	struct answer *a = ctx;

	a->done++;
	pstate_close(&closing_st);
}

static void
test_close_in_callback(void **state)
{
	char path[256];
	struct answer a = { 0 }, b = { 0 };

	closing_st = fresh_state(path, sizeof(path));
	pstate_get(closing_st, "x", close_cb, &a);
	pstate_get(closing_st, "x", never_get_cb, NULL);
	wait_answer(&a);
	assert_null(closing_st);
	/* Nothing of it is left in the loop. */
	closing_st = fresh_state(path, sizeof(path));
	pstate_get(closing_st, "x", get_cb, &b);
	wait_answer(&b);
	pstate_close(&closing_st);
}

static void
test_two_handles(void **state)
{
	char path[256], *spec;
	struct pstate *a = fresh_state(path, sizeof(path)), *b;
	const char *error;

	spec = xasprintf("sqlite:%s", path);
	b = pstate_open(base, spec, &error);
	free(spec);
	assert_non_null(b);
	for (int i = 1; i <= 20; i++)
		assert_int_equal(do_incr(i % 2 ? a : b, "shared", 1, 100), i);
	assert_int_equal(do_add(b, "once", 1, 100), -999);
	assert_int_equal(do_add(a, "once", 2, 100), 1);
	do_set(a, "s", 5, 100);
	assert_int_equal(do_get(b, "s"), 5);
	pstate_close(&a);
	pstate_close(&b);
}

static void
test_open_errors(void **state)
{
	static const char *const bad[] = {
		"sqlite:", "sqlite:/nonexistent-dir/x/state.db", "redis:", "redis:host",
		"redis:host:", "redis:host:0", "redis:host:65536", "redis:host:12ab", "redis:::1:6379",
		"redis:[::1:6379", "redis:unix:", "redis:unix:relative", "memcache:localhost:11211",
		"state.db",
	};
	const char *error;
	char path[300], *spec;
	FILE *f;

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		assert_null(pstate_open(base, bad[i], &error));
		assert_non_null(error);
		assert_true(strlen(error) > 10);
	}
	/* Not a database: refused at open, not at the first op. */
	snprintf(path, sizeof(path), "%s/garbage.db", dir);
	assert_non_null(f = fopen(path, "w"));
	for (int i = 0; i < 100; i++)
		fputs("this is not an SQLite database\n", f);
	fclose(f);
	spec = xasprintf("sqlite:%s", path);
	error = NULL;
	assert_null(pstate_open(base, spec, &error));
	assert_non_null(strstr(error, path));
	free(spec);
}

/* The default: $spool_directory/policy/state.db, the directory created 0750. */
static void
test_default_path(void **state)
{
	char spool[300], *path;
	struct pstate *st;
	struct stat sb;
	const char *error;
	char *saved = var_spool_directory;

	snprintf(spool, sizeof(spool), "%s/spool", dir);
	assert_int_equal(mkdir(spool, 0755), 0);
	var_spool_directory = spool;
	st = pstate_open(base, NULL, &error);
	assert_non_null(st);
	assert_int_equal(do_incr(st, "k", 1, 10), 1);
	pstate_close(&st);
	path = xasprintf("%s/policy", spool);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0750);
	free(path);
	path = xasprintf("%s/policy/state.db", spool);
	assert_int_equal(stat(path, &sb), 0);
	free(path);
	/* A second open finds it. */
	st = pstate_open(base, "", &error);
	assert_non_null(st);
	assert_int_equal(do_incr(st, "k", 1, 10), 2);
	pstate_close(&st);
	var_spool_directory = saved;
}

static void
test_client_net(void **state)
{
	static const struct {
		const char *ip;
		int v4, v6;
		const char *net;	/* NULL: -1 */
	} cases[] = {
		{ "192.0.2.77", 24, 64, "192.0.2.0/24" },
		{ "192.0.2.77", 32, 64, "192.0.2.77/32" },
		{ "192.0.2.77", 25, 64, "192.0.2.0/25" },
		{ "192.0.2.200", 25, 64, "192.0.2.128/25" },
		{ "192.0.2.77", 0, 64, "0.0.0.0/0" },
		{ "10.255.255.255", 9, 64, "10.128.0.0/9" },
		{ "2001:db8:1:2:3:4:5:6", 24, 64, "2001:db8:1:2::/64" },
		{ "2001:db8:1:2:3:4:5:6", 24, 48, "2001:db8:1::/48" },
		{ "2001:db8:1:2:3:4:5:6", 24, 128, "2001:db8:1:2:3:4:5:6/128" },
		{ "2001:DB8::FFFF", 24, 127, "2001:db8::fffe/127" },
		{ "::1", 24, 64, "::/64" },
		{ "::ffff:192.0.2.9", 24, 64, "192.0.2.0/24" },
		{ "192.0.2.1", 33, 64, NULL },
		{ "192.0.2.1", -1, 64, NULL },
		{ "2001:db8::1", 24, 129, NULL },
		{ "", 24, 64, NULL },
		{ "unknown", 24, 64, NULL },
		{ "192.0.2.1/24", 24, 64, NULL },
		{ "192.0.2", 24, 64, NULL },
		{ "[2001:db8::1]", 24, 64, NULL },
		{ "IPv6:2001:db8::1", 24, 64, NULL },
		{ " 192.0.2.1", 24, 64, NULL },
	};
	char out[80];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		int rc = pstate_client_net(cases[i].ip, cases[i].v4, cases[i].v6, out, sizeof(out));
		if (cases[i].net == NULL) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, cases[i].net);
		}
	}
	/* Too small for the answer: -1, not a truncated network. */
	assert_int_equal(pstate_client_net("192.0.2.1", 24, 64, out, 12), -1);
	assert_int_equal(pstate_client_net("192.0.2.1", 24, 64, out, 13), 0);
	assert_string_equal(out, "192.0.2.0/24");
}

static void
test_normalize_sender(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "<>" },
		{ "<>", "<>" },
		{ "Bob@Example.ORG", "bob@example.org" },
		{ "bob", "bob" },
		{ "prvs=0123456789=bob@example.org", "bob@example.org" },
		{ "PRVS=4567890123=Bob@Example.org", "bob@example.org" },
		{ "prvs=0123456789=first=last@example.org", "first=last@example.org" },
		{ "msprvs1=17abcdefgh=bob@example.org", "bob@example.org" },
		{ "btv1==0abcdef1234==bob@example.org", "bob@example.org" },
		{ "prvs=@example.org", "prvs=@example.org" },
		{ "prvs=0123456789@example.org", "prvs=0123456789@example.org" },
		{ "SRS0=HHH=TT=orig.example=user@fwd.example", "srs0=orig.example=user@fwd.example" },
		{ "SRS0=a1b2=ZX=orig.example=user@fwd.example", "srs0=orig.example=user@fwd.example" },
		{ "srs0+a1b2=zx=orig.example=user@fwd.example", "srs0=orig.example=user@fwd.example" },
		{ "SRS1=HHH=first.example==HHH=TT=orig.example=user@fwd2.example",
		    "srs1=first.example==orig.example=user@fwd2.example" },
		{ "SRS1=XYZ=first.example==abc=QQ=orig.example=user@fwd2.example",
		    "srs1=first.example==orig.example=user@fwd2.example" },
		{ "SRS0=broken@fwd.example", "srs0=broken@fwd.example" },
		{ "srs0x=a=b=c=d@fwd.example", "srs0x=a=b=c=d@fwd.example" },
		{ "user+tag@example.org", "user+tag@example.org" },
	};
	char out[512], tiny[8];

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		greylist_normalize_sender(cases[i].in, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
	}
	greylist_normalize_sender("prvs=0123456789=bob@example.org", tiny, sizeof(tiny));
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

static enum greylist_result
do_greylist(struct pstate *st, const char *ip, const char *sender, const char *rcpt,
    long *remaining_r)
{
	struct answer a = { 0 };

	greylist_check(st, ip, sender, rcpt, gl_cb, &a);
	assert_int_equal(a.done, 0);
	wait_answer(&a);
	if (remaining_r != NULL)
		*remaining_r = a.remaining;
	return a.gl;
}

static void
test_greylist(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	struct answer a = { 0 };
	struct greylist_op *op;
	long remaining;

	var_greylist_delay = 1;
	var_greylist_auto_allow = 2;
	assert_int_equal(do_greylist(st, "192.0.2.10", "bob@example.org", "alice@example.net",
	    &remaining), GREYLIST_DEFER);
	assert_int_equal(remaining, 1);
	/* The same triplet (the network, BATV, case): still deferred or passing, never new. */
	sleep(2);
	assert_int_equal(do_greylist(st, "192.0.2.11", "prvs=0123456789=bob@example.org",
	    "ALICE@example.net", NULL), GREYLIST_PASS);
	assert_int_equal(do_greylist(st, "192.0.2.10", "bob@example.org", "alice@example.net",
	    NULL), GREYLIST_PASS);
	/* Another network, another sender, the null sender: new triplets. */
	assert_int_equal(do_greylist(st, "198.51.100.1", "bob@example.org", "alice@example.net",
	    &remaining), GREYLIST_DEFER);
	assert_int_equal(remaining, 1);
	assert_int_equal(do_greylist(st, "192.0.2.10", "", "alice@example.net", NULL),
	    GREYLIST_DEFER);
	assert_int_equal(do_greylist(st, "2001:db8::1", "bob@example.org", "alice@example.net",
	    NULL), GREYLIST_DEFER);
	/* Only one triplet of 192.0.2.0/24 passed so far. */
	assert_int_equal(do_greylist(st, "192.0.2.10", "new@example.com", "alice@example.net",
	    NULL), GREYLIST_DEFER);
	sleep(2);
	/* The second: the network is allowed from then on. */
	assert_int_equal(do_greylist(st, "192.0.2.10", "", "alice@example.net", NULL),
	    GREYLIST_PASS);
	assert_int_equal(do_greylist(st, "192.0.2.99", "other@example.com", "x@example.net",
	    NULL), GREYLIST_PASS);
	assert_int_equal(do_greylist(st, "198.51.100.2", "other@example.com", "x@example.net",
	    NULL), GREYLIST_DEFER);
	/* Not an address: an error, callers let it pass. */
	assert_int_equal(do_greylist(st, "unknown", "bob@example.org", "alice@example.net", NULL),
	    GREYLIST_ERROR);
	/* Cancelled: no answer. */
	op = greylist_check(st, "203.0.113.1", "a@example.org", "b@example.net", gl_cb, &a);
	greylist_cancel(&op);
	assert_null(op);
	op = greylist_check(st, "bad", "a@example.org", "b@example.net", gl_cb, &a);
	greylist_cancel(&op);
	assert_int_equal(do_incr(st, "flush", 1, 10), 1);
	assert_true(event_base_loop(base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(a.done, 0);
	pstate_close(&st);
}

static void
test_greylist_no_auto_allow(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	long remaining;

	var_greylist_delay = 1;
	var_greylist_auto_allow = 0;
	for (int i = 0; i < 3; i++) {
		char sender[64];
		snprintf(sender, sizeof(sender), "s%d@example.org", i);
		assert_int_equal(do_greylist(st, "192.0.2.1", sender, "r@example.net", NULL),
		    GREYLIST_DEFER);
	}
	sleep(2);
	for (int i = 0; i < 3; i++) {
		char sender[64];
		snprintf(sender, sizeof(sender), "s%d@example.org", i);
		assert_int_equal(do_greylist(st, "192.0.2.1", sender, "r@example.net", NULL),
		    GREYLIST_PASS);
	}
	assert_int_equal(do_greylist(st, "192.0.2.1", "s9@example.org", "r@example.net",
	    &remaining), GREYLIST_DEFER);
	assert_int_equal(remaining, 1);
	/* A longer delay: the retry is told how long to wait. */
	var_greylist_delay = 300;
	assert_int_equal(do_greylist(st, "192.0.2.1", "s10@example.org", "r@example.net",
	    &remaining), GREYLIST_DEFER);
	assert_int_equal(remaining, 300);
	assert_int_equal(do_greylist(st, "192.0.2.1", "s10@example.org", "r@example.net",
	    &remaining), GREYLIST_DEFER);
	assert_true(remaining > 0 && remaining <= 300);
	var_greylist_delay = 1;
	var_greylist_auto_allow = 5;
	pstate_close(&st);
}

static struct answer
do_rate(struct pstate *st, const char *kind, const char *key, const char *limit, long amount)
{
	struct answer a = { 0 };

	ratelimit_hit(st, kind, key, limit, amount, rl_cb, &a);
	assert_int_equal(a.done, 0);
	wait_answer(&a);
	return a;
}

static void
test_ratelimit(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	struct answer a;
	struct ratelimit_op *op;

	/* Start at the beginning of a 2-second window so that 3 hits fit in it. */
	a = do_rate(st, "probe", "k", "1/2", 1);
	assert_int_equal(a.status, 0);
	if (a.retry < 2)
		sleep((unsigned)a.retry);
	for (int i = 1; i <= 3; i++) {
		a = do_rate(st, "client_msg", "192.0.2.0/24", "3/2", 1);
		assert_int_equal(a.status, 0);
		assert_int_equal(a.value, i);
		assert_int_equal(a.over, 0);
		assert_true(a.retry >= 1 && a.retry <= 2);
	}
	a = do_rate(st, "client_msg", "192.0.2.0/24", "3/2", 1);
	assert_int_equal(a.value, 4);
	assert_int_equal(a.over, 1);
	/* Another kind or key counts apart. */
	a = do_rate(st, "client_rcpt", "192.0.2.0/24", "3/2", 3);
	assert_int_equal(a.value, 3);
	assert_int_equal(a.over, 0);
	/* The next window starts again. */
	sleep((unsigned)a.retry);
	a = do_rate(st, "client_msg", "192.0.2.0/24", "3/2", 1);
	assert_int_equal(a.value, 1);
	assert_int_equal(a.over, 0);
	/* No limit: answered later, nothing counted. */
	a = do_rate(st, "client_msg", "192.0.2.0/24", "", 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.over, 0);
	assert_int_equal(a.value, 0);
	/* A bad limit: an error, not counted either. */
	a = do_rate(st, "client_msg", "192.0.2.0/24", "lots", 1);
	assert_int_equal(a.status, -1);
	assert_int_equal(a.over, 0);
	a = do_rate(st, "client_msg", "192.0.2.0/24", "3/2", 1);
	assert_int_equal(a.value, 2);
	/* 0/1h: every event is over. */
	a = do_rate(st, "zero", "k", "0/1h", 1);
	assert_int_equal(a.over, 1);
	/* Cancelled, with or without a limit: no answer. */
	memset(&a, 0, sizeof(a));
	op = ratelimit_hit(st, "client_msg", "k", "3/1h", 1, rl_cb, &a);
	ratelimit_cancel(&op);
	assert_null(op);
	op = ratelimit_hit(st, "client_msg", "k", "", 1, rl_cb, &a);
	ratelimit_cancel(&op);
	ratelimit_cancel(&op);
	assert_int_equal(do_incr(st, "flush", 1, 10), 1);
	assert_true(event_base_loop(base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(a.done, 0);
	pstate_close(&st);
}

/* Many ops: the opportunistic sweep runs and the counts stay right. */
static void
test_many_ops(void **state)
{
	char path[256];
	struct pstate *st = fresh_state(path, sizeof(path));
	struct answer a[64];

	for (int round = 0; round < 40; round++) {
		memset(a, 0, sizeof(a));
		for (int i = 0; i < 64; i++)
			pstate_incr(st, i % 2 ? "odd" : "even", 1, 100, incr_cb, &a[i]);
		wait_answer(&a[63]);
		for (int i = 0; i < 64; i++)
			assert_int_equal(a[i].done, 1);
		assert_int_equal(a[63].value, (round + 1) * 32);
	}
	pstate_close(&st);
}

static int
setup(void **state)
{
	const char *error;

	if (mkdtemp(dir) == NULL)
		return -1;
	if (config_load(NULL, &error) < 0)
		return -1;
	base = event_base_new();
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);

	free(cmd);
	event_base_free(base);
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operations),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_expired_not_swept),
		cmocka_unit_test(test_order_and_cancel),
		cmocka_unit_test(test_close_with_pending),
		cmocka_unit_test(test_close_in_callback),
		cmocka_unit_test(test_two_handles),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_client_net),
		cmocka_unit_test(test_normalize_sender),
		cmocka_unit_test(test_greylist),
		cmocka_unit_test(test_greylist_no_auto_allow),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_many_ops),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
