/* SPDX-License-Identifier: MIT */
/*
 * dnsbl - connection-time DNS checks in the manner of Postfix's
 * postscreen: weighted DNSBL/DNSWL scoring with return-code filters,
 * RHSBL on domains, forward-confirmed reverse DNS.  All lookups go
 * through lib/dns (libunbound, asynchronous).
 *
 * A site is "zone[=filter][*weight]": the client 192.0.2.1 is listed by
 * zone when 1.2.0.192.zone has an A record matching filter (without a
 * filter, any answer lists the client, as in Postfix).  A filter is four
 * dot-separated octet patterns, each a number, "[2..11]" or "[2;4;9..11]".
 * weight defaults to 1 and may be negative (an allow list:
 * "list.dnswl.example=127.0.[0..255].[1..3]*-2").
 * IPv6 clients are looked up nibble-reversed (RFC 5782).  The score is the
 * sum of the weights of the sites that listed the client, each counted
 * once however many addresses it answered.
 *
 * Results are cached per client address for 60 s in the process, so
 * the policy service asked once per recipient does one lookup per client.
 */
#ifndef FACTEUR_POLICY_DNSBL_H
#define FACTEUR_POLICY_DNSBL_H

#include <stddef.h>

struct dnsbl_op;

struct dnsbl_result {
	double score;		/* sum of the weights of the sites that listed the client */
	int blocked;		/* score >= var_dnsbl_threshold (and some site listed it) */
	int allowlisted;	/* var_dnsbl_allowlist_threshold < 0 and score <= it */
	char listed_by[256];	/* zone with the largest positive weight that listed it, or "" */
	int tempfail;		/* some lookup failed (SERVFAIL, timeout): score may be low */
	/* Forward-confirmed reverse DNS, when asked for. */
	int fcrdns;		/* 1 confirmed, 0 no PTR or no match, -1 temporary failure */
	char client_name[256];	/* the confirmed name, or "unknown" */
};

typedef void dnsbl_cb(void *ctx, const struct dnsbl_result *result);

/*
 * Look client_ip up in every site of var_dnsbl_sites and, if fcrdns,
 * check its reverse DNS (PTR, then A/AAAA of each name, at most 10
 * names).  cb runs once, later, from the event loop, when every answer
 * is in.  NULL never: with no sites and no fcrdns, cb runs on the next
 * loop turn with a zero result.  client_ip that is not an address gives
 * a zero result too (fcrdns 0, "unknown").  IPv4-mapped IPv6 addresses
 * are checked as IPv4.  A part (score or FCrDNS) that saw a temporary
 * failure is not cached.  The operation is freed after cb returns: cancel
 * it only before.  One event loop thread per process uses this module.
 */
struct dnsbl_op *dnsbl_check_client(const char *client_ip, int fcrdns, dnsbl_cb *cb, void *ctx);

/*
 * zone: the first zone of sites (in list order) that listed domain, or
 * NULL; valid during the call.  tempfail: some lookup failed.
 */
typedef void rhsbl_cb(void *ctx, const char *zone, int tempfail);
/*
 * Look domain up in each "zone[=filter]" of the LIST sites (as DOMAIN.zone).
 * domain is a peer's text (HELO name, sender's domain): one that is not a
 * host name (an address literal, odd characters) is not looked up and
 * lists nowhere.  Not cached.
 */
struct dnsbl_op *rhsbl_check(const char *sites, const char *domain, rhsbl_cb *cb, void *ctx);

/* The callback will not run; *op becomes NULL. */
void dnsbl_cancel(struct dnsbl_op **op);

/*
 * Check the syntax of a site list (dnsbl_sites, or with weights refused
 * for the rhsbl lists): 0, or -1 with *error_r ("bad filter in ...").
 */
int dnsbl_sites_check(const char *sites, int weights_allowed, const char **error_r);

/* Forget cached results (tests, reload). */
void dnsbl_cache_clear(void);

/*
 * One parsed site, for the checks above and for tests.  A filter is kept
 * as four 256-bit sets, one per octet of the answer.
 */
#define DNSBL_ZONE_MAX 189	/* leaves room for 64 octets of IPv6 nibbles */
struct dnsbl_site {
	char zone[DNSBL_ZONE_MAX + 1];	/* lower case, without a trailing dot */
	int has_filter;
	unsigned char filter[4][32];
	int weight;
};

/*
 * Parse one item "zone[=filter][*weight]": 0, or -1 with *error_r (a
 * static text naming the item).  weights_allowed 0 refuses "*weight".
 */
int dnsbl_site_parse(const char *item, int weights_allowed, struct dnsbl_site *site_r,
    const char **error_r);
/* 1 if the A record answer (a dotted quad) lists the client for site. */
int dnsbl_site_match(const struct dnsbl_site *site, const char *answer);

#endif
