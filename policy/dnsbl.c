/* SPDX-License-Identifier: MIT */
/*
 * dnsbl - weighted DNSBL/DNSWL scores, RHSBL and forward-confirmed reverse
 * DNS, asynchronously through lib/dns.  See dnsbl.h.
 *
 * A check is one operation holding a lookup per site (and the
 * forward-confirmed reverse DNS of lib/dns); it finishes when the last
 * answer is in.  Results are cached per client address for CACHE_TTL
 * seconds in two parts, the DNSBL score and the FCrDNS verdict, so that
 * a check asking for one part does not redo the other.  A part that saw a
 * temporary failure is not cached: the next recipient tries again.  The
 * cache belongs to the process's event loop thread.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "policy/dnsbl.h"

#define CACHE_TTL 60
#define CACHE_MAX 4096
#define CACHE_BUCKETS 8192	/* a power of two */
#define WEIGHT_MAX 1000000
#define NAME_MAX_LEN 253	/* a domain name as text, without the trailing dot */
#define KEY_LEN 17		/* family (4 or 6), then the address */

/* ---------------------------------------------------------------- sites */

static char site_error[512];

/* "what in "item": hint", the item cut short if it is long. */
static int
site_fail(const char *what, const char *item, const char *hint)
{
	snprintf(site_error, sizeof(site_error), "%s in \"%.200s\"%s%s", what, item,
	    hint[0] != '\0' ? ": " : "", hint);
	return -1;
}

/* 1 if s is a domain name of letters, digits, '-' and '_' (trailing dot allowed). */
static int
domain_valid(const char *s, size_t len)
{
	size_t label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* "123": a number 0..255 in *v, p advanced past it; -1 if none. */
static int
octet_number(const char **pp, const char *end, unsigned int *v)
{
	const char *p = *pp;
	unsigned int n = 0;
	int digits = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		n = n * 10 + (unsigned int)(*p++ - '0');
		if (++digits > 3)
			return -1;
	}
	if (digits == 0 || n > 255)
		return -1;
	*pp = p;
	*v = n;
	return 0;
}

static void
set_range(unsigned char *set, unsigned int lo, unsigned int hi)
{
	for (unsigned int i = lo; i <= hi; i++)
		set[i / 8] |= (unsigned char)(1u << (i % 8));
}

/* One octet pattern [p, end): N, [a..b] or [a;b;c..d]. */
static int
octet_pattern(const char *p, const char *end, unsigned char *set)
{
	unsigned int lo, hi;

	if (p < end && *p != '[') {
		if (octet_number(&p, end, &lo) < 0 || p != end)
			return -1;
		set_range(set, lo, lo);
		return 0;
	}
	if (end - p < 3 || end[-1] != ']')
		return -1;
	p++;
	end--;
	for (;;) {
		if (octet_number(&p, end, &lo) < 0)
			return -1;
		hi = lo;
		if (end - p >= 2 && p[0] == '.' && p[1] == '.') {
			p += 2;
			if (octet_number(&p, end, &hi) < 0 || hi < lo)
				return -1;
		}
		set_range(set, lo, hi);
		if (p == end)
			return 0;
		if (*p++ != ';')
			return -1;
	}
}

/* Four octet patterns separated by dots (dots inside brackets are ranges). */
static int
filter_parse(const char *p, const char *end, unsigned char filter[4][32])
{
	memset(filter, 0, 4 * 32);
	for (int i = 0; i < 4; i++) {
		const char *q = p;
		int depth = 0;

		while (q < end && (depth > 0 || *q != '.')) {
			if (*q == '[')
				depth++;
			else if (*q == ']')
				depth--;
			q++;
		}
		if (octet_pattern(p, q, filter[i]) < 0)
			return -1;
		if (i < 3) {
			if (q == end)
				return -1;
			p = q + 1;
		} else if (q != end) {
			return -1;
		}
	}
	return 0;
}

int
dnsbl_site_parse(const char *item, int weights_allowed, struct dnsbl_site *site_r,
    const char **error_r)
{
	const char *star = strchr(item, '*');
	const char *end = star != NULL ? star : item + strlen(item);
	const char *eq = memchr(item, '=', (size_t)(end - item));
	const char *zone_end = eq != NULL ? eq : end;
	size_t zlen = (size_t)(zone_end - item);

	memset(site_r, 0, sizeof(*site_r));
	site_r->weight = 1;
	*error_r = site_error;
	if (!domain_valid(item, zlen))
		return site_fail("bad zone", item, "expected a domain name such as zen.spamhaus.org");
	if (item[zlen - 1] == '.')
		zlen--;
	if (zlen > DNSBL_ZONE_MAX)
		return site_fail("zone too long", item, "at most 189 characters");
	for (size_t i = 0; i < zlen; i++)
		site_r->zone[i] = (char)tolower((unsigned char)item[i]);
	site_r->zone[zlen] = '\0';
	if (eq != NULL) {
		if (filter_parse(eq + 1, end, site_r->filter) < 0)
			return site_fail("bad filter", item, "expected four octet patterns "
			    "(N, [a..b] or [a;b;c..d]) such as 127.0.0.[2..11]");
		site_r->has_filter = 1;
	}
	if (star != NULL) {
		char *e;
		long w;

		if (!weights_allowed)
			return site_fail("weight not allowed", item, "this list takes zone[=filter]");
		errno = 0;
		w = strtol(star + 1, &e, 10);
		if (star[1] == '\0' || isspace((unsigned char)star[1]) || *e != '\0' || errno != 0 ||
		    w > WEIGHT_MAX || w < -WEIGHT_MAX)
			return site_fail("bad weight", item, "expected an integer such as *3 or *-2");
		site_r->weight = (int)w;
	}
	*error_r = NULL;
	return 0;
}

int
dnsbl_site_match(const struct dnsbl_site *site, const char *answer)
{
	unsigned char b[4];

	if (inet_pton(AF_INET, answer, b) != 1)
		return 0;
	if (!site->has_filter)
		return 1;
	for (int i = 0; i < 4; i++)
		if ((site->filter[i][b[i] / 8] & (1u << (b[i] % 8))) == 0)
			return 0;
	return 1;
}

struct site_list {
	struct dnsbl_site *sites;
	size_t n;
	int weights_allowed;
	int strict;		/* stop at the first bad item (dnsbl_sites_check) */
};

static int
site_list_add(const char *item, void *arg)
{
	struct site_list *l = arg;
	struct dnsbl_site site;
	const char *error;

	if (dnsbl_site_parse(item, l->weights_allowed, &site, &error) < 0) {
		if (l->strict)
			return -1;
		/* Checked at start-up: only a reload can bring one here. */
		log_warnx("dnsbl: %s; site ignored", error);
		return 0;
	}
	l->sites = xrealloc(l->sites, (l->n + 1) * sizeof(*l->sites));
	l->sites[l->n++] = site;
	return 0;
}

int
dnsbl_sites_check(const char *sites, int weights_allowed, const char **error_r)
{
	struct site_list l = { .weights_allowed = weights_allowed, .strict = 1 };
	int rc = config_list_foreach(sites, site_list_add, &l);

	free(l.sites);
	*error_r = rc != 0 ? site_error : NULL;
	return rc != 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- cache */

struct cache_entry {
	unsigned char key[KEY_LEN];
	struct cache_entry *hnext;	/* hash chain */
	struct cache_entry *prev, *next;	/* LRU, most recent first */
	int have_dnsbl, have_fcrdns;
	time_t dnsbl_time, fcrdns_time;
	uint64_t sites_hash;	/* of the dnsbl_sites the score came from */
	double score;
	char listed_by[256];
	int fcrdns;
	char client_name[256];
};

static struct cache_entry *buckets[CACHE_BUCKETS];
static struct cache_entry *lru_head, *lru_tail;
static size_t cache_count;

static uint64_t
fnv1a(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void
lru_unlink(struct cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		lru_head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(struct cache_entry *e)
{
	e->next = lru_head;
	e->prev = NULL;
	if (lru_head != NULL)
		lru_head->prev = e;
	lru_head = e;
	if (lru_tail == NULL)
		lru_tail = e;
}

static void
cache_remove(struct cache_entry *e)
{
	struct cache_entry **pp = &buckets[fnv1a(e->key, KEY_LEN) & (CACHE_BUCKETS - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(e);
	cache_count--;
	free(e);
}

/* The entry of key, or NULL; create makes one (evicting the oldest if full). */
static struct cache_entry *
cache_get(const unsigned char *key, int create)
{
	size_t b = fnv1a(key, KEY_LEN) & (CACHE_BUCKETS - 1);
	struct cache_entry *e;

	for (e = buckets[b]; e != NULL; e = e->hnext)
		if (memcmp(e->key, key, KEY_LEN) == 0)
			break;
	if (e != NULL) {
		lru_unlink(e);
		lru_push(e);
		return e;
	}
	if (!create)
		return NULL;
	if (cache_count >= CACHE_MAX)
		cache_remove(lru_tail);
	e = xcalloc(1, sizeof(*e));
	memcpy(e->key, key, KEY_LEN);
	e->hnext = buckets[b];
	buckets[b] = e;
	lru_push(e);
	cache_count++;
	return e;
}

void
dnsbl_cache_clear(void)
{
	while (lru_head != NULL)
		cache_remove(lru_head);
}

/* ---------------------------------------------------------------- checks */

struct site_lookup {
	struct dnsbl_op *op;
	size_t idx;
	struct dns_query *q;
	int listed;
	char answer[16];	/* the record that listed it, for the log */
};

struct dnsbl_op {
	int rhsbl;
	dnsbl_cb *cb;
	rhsbl_cb *rcb;
	void *ctx;
	struct site_list sites;
	struct site_lookup *lookups;
	size_t pending;
	int tempfail;
	/* client checks */
	char subject[256];	/* the client address or the domain, for logs */
	unsigned char key[KEY_LEN];
	int valid_ip;
	int do_dnsbl, do_fcrdns;	/* parts looked up (not from the cache) */
	int want_fcrdns;
	uint64_t sites_hash;
	struct dns_verify *verify;
	struct dnsbl_result result;
	/* Nothing to look up: the callback still runs from the loop. */
	struct event *later;
};

static void op_free(struct dnsbl_op *op);

static void
client_finish(struct dnsbl_op *op)
{
	struct dnsbl_result *r = &op->result;
	struct cache_entry *e = NULL;
	int best = 0;

	if (op->do_dnsbl) {
		r->score = 0;
		r->listed_by[0] = '\0';
		r->tempfail = op->tempfail;
		for (size_t i = 0; i < op->sites.n; i++) {
			const struct dnsbl_site *s = &op->sites.sites[i];
			if (!op->lookups[i].listed)
				continue;
			r->score += s->weight;
			if (s->weight > best) {
				best = s->weight;
				str_copy(r->listed_by, s->zone, sizeof(r->listed_by));
			}
		}
	}
	if (op->valid_ip && ((op->do_dnsbl && !r->tempfail) || (op->do_fcrdns && r->fcrdns >= 0))) {
		time_t now = proc_mono_seconds();
		e = cache_get(op->key, 1);
		if (op->do_dnsbl && !r->tempfail) {
			e->have_dnsbl = 1;
			e->dnsbl_time = now;
			e->sites_hash = op->sites_hash;
			e->score = r->score;
			str_copy(e->listed_by, r->listed_by, sizeof(e->listed_by));
		}
		if (op->do_fcrdns && r->fcrdns >= 0) {
			e->have_fcrdns = 1;
			e->fcrdns_time = now;
			e->fcrdns = r->fcrdns;
			str_copy(e->client_name, r->client_name, sizeof(e->client_name));
		}
	}
	/* Thresholds apply when the result is given, so cached scores follow a reload. */
	r->blocked = r->score > 0 && r->score >= var_dnsbl_threshold;
	r->allowlisted = var_dnsbl_allowlist_threshold < 0 && r->score <= var_dnsbl_allowlist_threshold;
	if (op->do_dnsbl || op->do_fcrdns)
		log_debug("dnsbl: client=%s score=%g listed_by=%s tempfail=%d fcrdns=%d client_name=%s",
		    op->subject, r->score, r->listed_by[0] != '\0' ? r->listed_by : "-", r->tempfail, r->fcrdns,
		    r->client_name);
	op->cb(op->ctx, r);
	op_free(op);
}

static void
rhsbl_finish(struct dnsbl_op *op)
{
	const char *zone = NULL;

	for (size_t i = 0; i < op->sites.n && zone == NULL; i++)
		if (op->lookups[i].listed)
			zone = op->sites.sites[i].zone;
	op->rcb(op->ctx, zone, op->tempfail);
	op_free(op);
}

static void
op_done(struct dnsbl_op *op)
{
	if (--op->pending > 0)
		return;
	if (op->rhsbl)
		rhsbl_finish(op);
	else
		client_finish(op);
}

static void
op_later(evutil_socket_t fd, short what, void *arg)
{
	struct dnsbl_op *op = arg;

	event_free(op->later);
	op->later = NULL;
	op_done(op);
}

/* Deliver from the loop: one pending count stands for the timer. */
static void
op_schedule(struct dnsbl_op *op)
{
	struct event_base *base = dns_event_base();

	if (base == NULL)
		panic("dnsbl: dns_init was not called");
	op->pending = 1;
	op->later = event_new(base, -1, 0, op_later, op);
	if (op->later == NULL)
		panic("dnsbl: event_new failed");
	event_active(op->later, 0, 0);
}

static void
site_answer(void *arg, enum dns_status status, const char *const *answers, size_t n,
    const char *error)
{
	struct site_lookup *l = arg;
	struct dnsbl_op *op = l->op;
	const struct dnsbl_site *s = &op->sites.sites[l->idx];

	l->q = NULL;
	if (status == DNS_TEMPFAIL) {
		log_warnx("dnsbl: %s %s in %s: %s", op->rhsbl ? "domain" : "client", op->subject, s->zone,
		    error != NULL ? error : "temporary failure");
		op->tempfail = 1;
	}
	/* However many records match, a site counts once. */
	for (size_t i = 0; status == DNS_OK && i < n && !l->listed; i++) {
		if (dnsbl_site_match(s, answers[i])) {
			l->listed = 1;
			str_copy(l->answer, answers[i], sizeof(l->answer));
			log_debug("dnsbl: %s %s listed by %s (%s, weight %d)", op->rhsbl ? "domain" :
			    "client", op->subject, s->zone, answers[i], s->weight);
		}
	}
	op_done(op);
}

static void
verify_answer(void *arg, enum dns_verify_status status, const char *name, const char *ptr_name,
    const char *error)
{
	struct dnsbl_op *op = arg;

	op->verify = NULL;
	if (status == DNS_VERIFY_TEMP)
		log_debug("dnsbl: client=%s reverse DNS: %s", op->subject, error);
	op->result.fcrdns = status == DNS_VERIFY_OK ? 1 : status == DNS_VERIFY_TEMP ? -1 : 0;
	if (name != NULL)
		str_copy(op->result.client_name, name, sizeof(op->result.client_name));
	op_done(op);
}

/* Client address as a cache key and canonical text; IPv4-mapped IPv6 is IPv4. */
static int
client_key(const char *ip, unsigned char key[KEY_LEN], char *text, size_t size)
{
	unsigned char b[16];

	memset(key, 0, KEY_LEN);
	if (inet_pton(AF_INET, ip, b) == 1) {
		key[0] = 4;
		memcpy(key + 1, b, 4);
	} else if (inet_pton(AF_INET6, ip, b) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(b, mapped, 12) == 0) {
			key[0] = 4;
			memcpy(key + 1, b + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, b, 16);
		}
	} else {
		return -1;
	}
	if (inet_ntop(key[0] == 4 ? AF_INET : AF_INET6, key + 1, text, (socklen_t)size) == NULL)
		return -1;
	return 0;
}

static struct dnsbl_op *
op_new(void)
{
	struct dnsbl_op *op = xcalloc(1, sizeof(*op));

	op->sites.strict = 0;
	return op;
}

struct dnsbl_op *
dnsbl_check_client(const char *client_ip, int fcrdns, dnsbl_cb *cb, void *ctx)
{
	struct dnsbl_op *op = op_new();
	struct cache_entry *e = NULL;
	time_t now = proc_mono_seconds();

	op->cb = cb;
	op->ctx = ctx;
	op->want_fcrdns = fcrdns;
	str_copy(op->result.client_name, "unknown", sizeof(op->result.client_name));
	if (client_key(client_ip, op->key, op->subject, sizeof(op->subject)) < 0) {
		log_warnx("dnsbl: not an IP address: \"%.64s\"", client_ip);
		str_copy(op->subject, "invalid", sizeof(op->subject));
		op_schedule(op);
		return op;
	}
	op->valid_ip = 1;
	op->sites_hash = fnv1a(var_dnsbl_sites, strlen(var_dnsbl_sites));
	op->do_dnsbl = 1;
	op->do_fcrdns = fcrdns;
	if ((e = cache_get(op->key, 0)) != NULL) {
		if (e->have_dnsbl && now - e->dnsbl_time < CACHE_TTL && e->sites_hash == op->sites_hash) {
			op->do_dnsbl = 0;
			op->result.score = e->score;
			str_copy(op->result.listed_by, e->listed_by, sizeof(op->result.listed_by));
		}
		if (e->have_fcrdns && now - e->fcrdns_time < CACHE_TTL) {
			op->do_fcrdns = 0;
			op->result.fcrdns = e->fcrdns;
			str_copy(op->result.client_name, e->client_name, sizeof(op->result.client_name));
		}
		if (!op->do_dnsbl && !op->do_fcrdns)
			log_debug("dnsbl: client=%s from the cache: score=%g fcrdns=%d", op->subject,
			    e->score, e->fcrdns);
	}
	/* The timer's count holds the operation until every query is sent. */
	op_schedule(op);
	if (op->do_dnsbl) {
		op->sites.weights_allowed = 1;
		config_list_foreach(var_dnsbl_sites, site_list_add, &op->sites);
		op->lookups = xcalloc(op->sites.n + 1, sizeof(*op->lookups));
		for (size_t i = 0; i < op->sites.n; i++) {
			struct site_lookup *l = &op->lookups[i];
			char name[NAME_MAX_LEN + 64];

			l->op = op;
			l->idx = i;
			if (dns_reverse_name(op->subject, op->sites.sites[i].zone, name, sizeof(name)) < 0)
				continue;
			op->pending++;
			l->q = dns_lookup_a(name, site_answer, l);
		}
	}
	if (op->do_fcrdns) {
		op->pending++;
		op->verify = dns_verify_client(op->subject, verify_answer, op);
	}
	return op;
}

/* The domain as a lower-case name without a trailing dot, or -1. */
static int
rhsbl_domain(const char *domain, char *out, size_t size)
{
	size_t len = strlen(domain);

	if (!domain_valid(domain, len))
		return -1;
	if (domain[len - 1] == '.')
		len--;
	if (len >= size)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)domain[i]);
	out[len] = '\0';
	return 0;
}

struct dnsbl_op *
rhsbl_check(const char *sites, const char *domain, rhsbl_cb *cb, void *ctx)
{
	struct dnsbl_op *op = op_new();
	char dom[NAME_MAX_LEN + 1];

	op->rhsbl = 1;
	op->rcb = cb;
	op->ctx = ctx;
	op_schedule(op);
	/* A HELO name or a sender's domain: the peer's text, checked before use. */
	if (rhsbl_domain(domain, dom, sizeof(dom)) < 0) {
		log_debug("dnsbl: rhsbl: not a domain name: \"%.64s\"", domain);
		return op;
	}
	str_copy(op->subject, dom, sizeof(op->subject));
	config_list_foreach(sites, site_list_add, &op->sites);
	op->lookups = xcalloc(op->sites.n + 1, sizeof(*op->lookups));
	for (size_t i = 0; i < op->sites.n; i++) {
		struct site_lookup *l = &op->lookups[i];
		char name[2 * NAME_MAX_LEN + 2];
		int len = snprintf(name, sizeof(name), "%s.%s", dom, op->sites.sites[i].zone);

		l->op = op;
		l->idx = i;
		if (len < 0 || len > NAME_MAX_LEN)
			continue;
		op->pending++;
		l->q = dns_lookup_a(name, site_answer, l);
	}
	return op;
}

static void
op_free(struct dnsbl_op *op)
{
	for (size_t i = 0; op->lookups != NULL && i < op->sites.n; i++)
		dns_cancel(&op->lookups[i].q);
	dns_verify_cancel(&op->verify);
	if (op->later != NULL)
		event_free(op->later);
	free(op->lookups);
	free(op->sites.sites);
	free(op);
}

void
dnsbl_cancel(struct dnsbl_op **opp)
{
	struct dnsbl_op *op = *opp;

	if (op == NULL)
		return;
	*opp = NULL;
	op_free(op);
}
