/* SPDX-License-Identifier: MIT */
/*
 * verify - recipient probes of a relay domain's next hop: does the server
 * mail for this address is relayed to accept it?
 *
 * A probe is a short SMTP conversation, without TLS and without a
 * message: banner, EHLO (HELO if EHLO is refused), MAIL FROM:<>,
 * RCPT TO:<addr>, QUIT.  The RCPT reply decides: 2xx accepted, 5xx
 * refused, anything else (4xx, no answer, no connection, DNS trouble,
 * verify_timeout passed) "could not tell".  Answers are remembered in the
 * policy state under "vr:<addr in lower case>" (1 accepted, 2 refused)
 * for verify_positive_ttl and verify_negative_ttl; "could not tell" is
 * never remembered.  Two probes of one address at the same time both
 * run; the second answer overwrites the first.
 *
 * The next hop is written as in Postfix and transport.h:
 *   [host]:port, [host]   that host (A/AAAA only)
 *   host:port, host       the first MX of host, or host itself if it has
 *                         no MX records; an address literal is used as is
 *   ""                    the first MX of the address's domain
 * The port defaults to smtp_default_port.  MX hosts named myhostname are
 * skipped (a probe must not ask this very host).
 */
#ifndef FACTEUR_POLICY_VERIFY_H
#define FACTEUR_POLICY_VERIFY_H

#include <event2/event.h>

struct pstate;
struct verify_op;

#define VERIFY_ACCEPTED 1
#define VERIFY_REFUSED 0
#define VERIFY_TEMPFAIL (-1)

/*
 * result: VERIFY_ACCEPTED, VERIFY_REFUSED or VERIFY_TEMPFAIL.  reply is the
 * next hop's RCPT reply on one line ("550 5.1.1 <a@b>: unknown user"), or
 * for an answer from the cache or a failure a short explanation
 * ("refused by the next hop (cached)", "connection refused by
 * 192.0.2.1:25", "timeout").  It is only valid during the call; the op is
 * gone once the callback runs.
 */
typedef void verify_cb(void *ctx, int result, const char *reply);

/*
 * Probe addr (local@domain) at nexthop, or answer from the cache of st
 * (NULL: no cache).  The callback always runs later from the event loop,
 * never inside this call.  An address with control characters or angle
 * brackets, without a domain or longer than 512 bytes answers
 * VERIFY_TEMPFAIL ("bad address") without a probe.
 */
struct verify_op *verify_recipient(struct event_base *base, struct pstate *st,
    const char *nexthop, const char *addr, verify_cb *cb, void *ctx);
/* Give up a probe (its callback will not run); *op becomes NULL.  NULL is fine. */
void verify_cancel(struct verify_op **op);

#endif
