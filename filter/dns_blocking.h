/* SPDX-License-Identifier: MIT */
/*
 * dns_blocking - blocking DNS lookups for the filter's worker threads.
 *
 * libspf2, libopendkim and the DMARC record lookup ask their questions
 * from a worker thread and wait for the answer.  They go through
 * libunbound contexts configured like lib/dns.c (dns_forwarder, loopback
 * forwarders allowed, the test. zone served by the forwarder), never
 * through the system resolver: one per calling thread, made at its first
 * query and gone with the thread, each with a resolver thread kept
 * between queries (ub_resolve() would set one up for every query).
 */
#ifndef FACTEUR_FILTER_DNS_BLOCKING_H
#define FACTEUR_FILTER_DNS_BLOCKING_H

#include <stddef.h>

#include "lib/dns.h"

#define DNSB_TYPE_A 1
#define DNSB_TYPE_PTR 12
#define DNSB_TYPE_MX 15
#define DNSB_TYPE_TXT 16
#define DNSB_TYPE_AAAA 28

struct ub_result;
struct dns_blocking;

/* From var_dns_forwarder; -1 and *error_r (static text) on a bad setting. */
int dns_blocking_new(struct dns_blocking **dns_r, const char **error_r);
void dns_blocking_free(struct dns_blocking **dns);

/*
 * Resolve name/type (class IN).  DNS_OK, DNS_NXDOMAIN, DNS_NODATA or
 * DNS_TEMPFAIL; *result_r is the raw answer (free with ub_resolve_free)
 * or NULL when the resolver itself failed.
 */
enum dns_status dns_blocking_query(struct dns_blocking *dns, const char *name, int type,
    struct ub_result **result_r);

/*
 * The TXT records of name, each record's strings concatenated: a
 * NULL-terminated array freed with dns_blocking_txt_free.  NULL unless
 * DNS_OK.
 */
enum dns_status dns_blocking_txt(struct dns_blocking *dns, const char *name, char ***txt_r);
void dns_blocking_txt_free(char **txt);

#endif
