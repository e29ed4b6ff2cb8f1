/* SPDX-License-Identifier: MIT */
/*
 * transport - where a recipient's mail goes: its next hop.
 *
 * local_domains (and the bare "postmaster") go to local_transport; other
 * domains to their [transport] entry, else relayhost (not for
 * relay_domains, which go to their own MX like Postfix's relay class),
 * else the MX of the domain.  Next hops are written as in Postfix:
 *   [host]:port, [host]   the host itself, A/AAAA only (no MX lookup)
 *   host:port, host       MX lookup of host
 *   smtp:<one of those>   the same; "smtp:" alone is the recipient domain
 *   file:/dir             write each message to /dir/<qid>.<n>.eml
 *   discard:              drop the mail (logged as delivered)
 *   lmtp:unix:/path       LMTP (RFC 2033) over a UNIX socket ("$spool_directory"
 *                         expanded), e.g. lmtp:unix:$spool_directory/run/lmtp
 *   lmtp:[host]:port, lmtp:host:port, lmtp:inet:host:port
 *                         LMTP over TCP (port 24 by default; A/AAAA only, never
 *                         MX; no TLS)
 * Recipients with the same next hop and TLS policy share a destination:
 * its key (route.key) is the unit of concurrency and connection reuse.
 */
#ifndef FACTEUR_TRANSPORT_H
#define FACTEUR_TRANSPORT_H

enum transport_kind { TRANSPORT_SMTP, TRANSPORT_FILE, TRANSPORT_DISCARD, TRANSPORT_LMTP };

enum tls_policy { TLS_POLICY_NONE, TLS_POLICY_MAY, TLS_POLICY_ENCRYPT, TLS_POLICY_VERIFY };

struct transport_route {
	enum transport_kind kind;
	char key[600];		/* destination key, e.g. "smtp:[mx.example.org]:25 tls=may" */
	char host[256];		/* SMTP: the host, or the domain whose MX to look up; LMTP: the host */
	int port;
	int mx;			/* SMTP: 1 to look up MX records of host */
	enum tls_policy tls;
	char path[512];		/* FILE: the directory; LMTP: the UNIX socket ("" for TCP) */
};

/*
 * Parse a next hop (syntax above); domain replaces an empty host.
 * 0, or -1 with *error_r (a static text) when it is malformed.
 */
int transport_parse(const char *nexthop, const char *domain, struct transport_route *route_r,
    const char **error_r);
/* The route of a recipient address under the current configuration. */
int transport_route(const char *rcpt, struct transport_route *route_r, const char **error_r);
/* TLS policy for a recipient domain, else the next hop host, else the default. */
enum tls_policy transport_tls_policy(const char *domain, const char *host);
/* Parse "none", "may", "encrypt", "verify"; -1 if unknown. */
int transport_tls_parse(const char *s);
const char *transport_tls_name(enum tls_policy tls);

#endif
