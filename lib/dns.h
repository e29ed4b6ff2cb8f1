/* SPDX-License-Identifier: MIT */
/*
 * dns - the asynchronous resolver every daemon shares (libunbound).
 *
 * One unbound context per process, its answers delivered on the event
 * loop: lookups never block.  The resolver forwards to dns_forwarder when
 * it is set (tests point it at a local unbound with their own zones),
 * otherwise to the servers of /etc/resolv.conf; /etc/hosts is honoured.
 * When it forwards, the reverse zones of private networks (RFC 6303) are
 * asked of the forwarder too: a site's resolver knows its own.
 */
#ifndef FACTEUR_DNS_H
#define FACTEUR_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/event.h>

enum dns_status {
	DNS_OK,
	DNS_NXDOMAIN,		/* the name does not exist: permanent */
	DNS_NODATA,		/* the name exists, without records of that type */
	DNS_NULLMX,		/* RFC 7505: the domain accepts no mail */
	DNS_TEMPFAIL,		/* SERVFAIL, timeout, resolver trouble */
};

struct dns_mx {
	unsigned int pref;
	char *host;		/* without the trailing dot */
};

struct dns_addr {
	struct sockaddr_storage ss;	/* port 0 */
	socklen_t len;
};

struct dns_query;

/*
 * MX hosts sorted by preference, ties in random order.  error is a short
 * text for DNS_TEMPFAIL ("SERVFAIL", a libunbound error), else NULL.
 * The arrays are only valid during the call.
 */
typedef void dns_mx_cb(void *ctx, enum dns_status status, const struct dns_mx *mx, size_t n,
    const char *error);
/* IPv4 addresses first, then IPv6. */
typedef void dns_addr_cb(void *ctx, enum dns_status status, const struct dns_addr *addrs,
    size_t n, const char *error);

/* Create the resolver on base from dns_forwarder; fatal on a bad setting. */
void dns_init(struct event_base *base);
/* Callbacks always run later from the event loop, never inside these calls. */
struct dns_query *dns_lookup_mx(const char *domain, dns_mx_cb *cb, void *ctx);
/* A and AAAA of host; an address literal answers without a query. */
struct dns_query *dns_lookup_addr(const char *host, dns_addr_cb *cb, void *ctx);
/*
 * Plain record lookups, answers as text: A records as dotted quads
 * (DNSBL answers), PTR names of an address (without the trailing dot),
 * TXT strings (the character-strings of one record concatenated).
 */
typedef void dns_text_cb(void *ctx, enum dns_status status, const char *const *answers,
    size_t n, const char *error);
struct dns_query *dns_lookup_a(const char *name, dns_text_cb *cb, void *ctx);
/*
 * addr: an IPv4 or IPv6 address as text; the in-addr.arpa/ip6.arpa name is
 * built.  Text that is not an address answers DNS_NXDOMAIN (from the loop).
 * Names that are not host names (odd characters) are left out.
 */
struct dns_query *dns_lookup_ptr(const char *addr, dns_text_cb *cb, void *ctx);
/* Bytes outside printable ASCII become '?': answers go to logs and replies. */
struct dns_query *dns_lookup_txt(const char *name, dns_text_cb *cb, void *ctx);
/*
 * The reverse name of addr (text) under zone, without a trailing dot:
 * "d.c.b.a.zone" for IPv4, 32 nibbles "b.a.9.8...zone" for IPv6 (RFC 5782);
 * zone NULL: in-addr.arpa or ip6.arpa.  0, or -1 if addr is not an address
 * or the name does not fit size.
 */
int dns_reverse_name(const char *addr, const char *zone, char *out, size_t size);
/*
 * Forward-confirmed reverse DNS, Postfix's "verified" client name: the
 * PTR names of addr (at most DNS_VERIFY_NAMES, numeric ones left out, as
 * Postfix does), each looked up A and AAAA; a name counts if one of its
 * addresses is addr.  IPv4-mapped IPv6 addresses are checked as IPv4.
 * There is no time limit here beyond the resolver's: a caller that must
 * not wait long cancels.
 */
#define DNS_VERIFY_NAMES 10
enum dns_verify_status {
	DNS_VERIFY_OK,		/* name is verified */
	DNS_VERIFY_TEMP,	/* a lookup failed temporarily and no name was verified */
	DNS_VERIFY_NONAME,	/* no PTR (NXDOMAIN, no data, no usable name, not an address) */
	DNS_VERIFY_FORGED,	/* PTR names, none resolving back to addr */
};
/*
 * name: the verified name, or NULL; ptr_name: the first usable PTR name
 * (what the reverse zone claims), or NULL; error: a temporary failure's
 * text, or NULL.  Valid during the call.
 */
typedef void dns_verify_cb(void *ctx, enum dns_verify_status status, const char *name,
    const char *ptr_name, const char *error);
struct dns_verify;
/* cb always runs later from the event loop, once. */
struct dns_verify *dns_verify_client(const char *addr, dns_verify_cb *cb, void *ctx);
/* Cancel (cb will not run); *v becomes NULL.  Only before cb runs. */
void dns_verify_cancel(struct dns_verify **v);
/* "verified", "temporary failure", "no name", "forged". */
const char *dns_verify_status_str(enum dns_verify_status status);

/* The event base given to dns_init (NULL before). */
struct event_base *dns_event_base(void);
/* Cancel a pending query (its callback will not run); *q becomes NULL. */
void dns_cancel(struct dns_query **q);
/* Text for a status ("NXDOMAIN" ...). */
const char *dns_status_str(enum dns_status status);

#endif
