/* SPDX-License-Identifier: MIT */
/*
 * received - the Received chain as SpamAssassin sees it: each Received
 * field parsed into a relay (ip, rdns, helo, by, ident, envfrom, id,
 * auth), then the trust boundary (trusted/untrusted, internal/external)
 * from trusted_networks / internal_networks / msa_networks when the rule
 * files set them, else SpamAssassin's inference (private addresses and
 * authenticated hops are trusted, up to the first other one).
 *
 * A port of SpamAssassin 4.0.1's Message/Metadata/Received.pm: the same
 * regular expressions in the same order (PCRE2, compiled once per
 * process), the same fields and the same "[ ip=... ]" text the
 * X-Spam-Relays-* pseudo-headers hold.  Bounded: at most RECEIVED_MAX
 * fields, each cut at RECEIVED_LINE_MAX bytes, every match under a PCRE2
 * match limit.
 *
 * struct received_config is made once per rule set and shared read-only;
 * struct received_chain belongs to one message.
 */
#ifndef FACTEUR_FILTER_RECEIVED_H
#define FACTEUR_FILTER_RECEIVED_H

#include <stddef.h>

struct sa_rules;

#define RECEIVED_MAX		200	/* Received fields looked at, newest first */
#define RECEIVED_LINE_MAX	4096	/* bytes of one field, after unfolding */
#define RECEIVED_FIELD_MAX	256	/* bytes of one relay field */

struct received_relay {
	char ip[RECEIVED_FIELD_MAX];
	char rdns[RECEIVED_FIELD_MAX];		/* as written (lc_rdns: lower case) */
	char helo[RECEIVED_FIELD_MAX];
	char by[RECEIVED_FIELD_MAX];
	char ident[RECEIVED_FIELD_MAX];
	char envfrom[RECEIVED_FIELD_MAX];
	char id[RECEIVED_FIELD_MAX];
	char auth[RECEIVED_FIELD_MAX];
	int ip_private;
	int no_reverse_dns;	/* the MTA looks names up and found none */
	int rdns_not_in_headers;
	int internal, msa;	/* intl= and msa= */
	/* the lists the relay is in (a fetchmail marker empties some) */
	int in_trusted, in_untrusted, in_internal, in_external;
	char *as_string;	/* "[ ip=... msa=0 ]" */
};

struct received_chain {
	struct received_relay *relays;	/* parsed relays, newest first */
	size_t nrelays;
	size_t num_trusted, num_untrusted, num_internal, num_external;
	size_t num_unparseable;
	int last_trusted_relay_index;	/* -1: none; counts every Received field */
	int last_internal_relay_index;
	/* the pseudo-headers: relays joined by spaces, "" when none */
	char *trusted_str, *untrusted_str, *internal_str, *external_str;
};

/* One header field of the message, in order (the name as written). */
struct received_field {
	const char *name;
	const char *value;	/* unfolded or not: white space is collapsed */
	size_t value_len;
};

/*
 * trusted_networks, internal_networks, msa_networks and
 * originating_ip_headers (with their clear_* lines) from the rule files'
 * configuration lines; never fails (bad networks are skipped).  rules may
 * be NULL: nothing configured.
 */
struct received_config *received_config_new(const struct sa_rules *rules);
void received_config_free(struct received_config **c);

/*
 * welcomelist_bounce_relays (VBounce): how many hosts are listed, and
 * whether host (compared without case, globs * and ?) is one of them.
 */
size_t received_config_bounce_relays(const struct received_config *c);
int received_config_is_bounce_relay(const struct received_config *c, const char *host);

/*
 * Parse the Received fields among fields (and the originating_ip_headers
 * ones) into chain_r; originating: the caller knows the message was
 * submitted by an authenticated or internal client (SpamAssassin's
 * suppl_attrib originating; used only when networks are configured).
 * conf may be NULL.  Free with received_chain_clear().
 */
void received_parse(const struct received_config *conf, const struct received_field *fields,
    size_t nfields, int originating, struct received_chain *chain_r);
void received_chain_clear(struct received_chain *chain);

/*
 * One Received field value: 1 and relay_r filled, 0 skipped on purpose
 * (local handover, fetchmail ...), -1 unparseable.  For tests.
 */
int received_parse_line(const char *value, size_t len, struct received_relay *relay_r);

/* 1 if ip is in SpamAssassin's IP_PRIVATE ranges. */
int received_ip_private(const char *ip);

#endif
