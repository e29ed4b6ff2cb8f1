/* SPDX-License-Identifier: MIT */
/*
 * state - the policy's shared counters and timestamps: greylist triplets,
 * rate-limit windows, recipient-verification cache.
 *
 * Two backends behind one asynchronous interface:
 *   sqlite:PATH           embedded (default); one file that every process
 *                         of this host shares (WAL, busy timeout)
 *   redis:HOST:PORT       a Redis server, so several facteur relays behind
 *   redis:unix:PATH       one MX record share greylisting and rate limits
 *                         (HOST is best an address: a name is resolved,
 *                         blocking, at each connect; [IPV6]:PORT works)
 * Every operation's callback runs later from the event loop, never inside
 * the call (SQLite answers on the next loop turn; Redis through hiredis'
 * libevent adapter).  Keys are short text; values are 64-bit integers.
 * An unreachable Redis gives status -1 (callers fail open, with a log
 * line); the connection is re-established on the next operation, at
 * most once a second, and a server that does not answer within 5 seconds
 * is treated as down.  Keys live under "facteur:" in Redis.  hiredis
 * writes with write(2): a process using Redis must ignore SIGPIPE, as
 * facteur's daemons do.
 *
 * A ttl <= 0 means no expiry.  A NULL callback makes the op fire and
 * forget (the op pointer returned must then not be kept).  An op is gone
 * once its callback runs: cancelling it from there does nothing.
 */
#ifndef FACTEUR_POLICY_STATE_H
#define FACTEUR_POLICY_STATE_H

#include <stddef.h>

#include <event2/event.h>

struct pstate;
struct pstate_op;

/* status 0 ok, -1 backend error. */
typedef void pstate_incr_cb(void *ctx, int status, long long value);
/* found 0: no such key (or expired); value meaningless then. */
typedef void pstate_get_cb(void *ctx, int status, int found, long long value);
typedef void pstate_done_cb(void *ctx, int status);

/*
 * Open spec (NULL or "": var_policy_state with its default).  *error_r
 * (static text) and NULL on a bad spec or an SQLite file that cannot be
 * created; a Redis server that is down is not an error here.
 */
struct pstate *pstate_open(struct event_base *base, const char *spec, const char **error_r);
/* Ops still pending are dropped: their callbacks never run. */
void pstate_close(struct pstate **st);
/* "sqlite" or "redis". */
const char *pstate_backend(const struct pstate *st);
/* The event base the pstate answers from. */
struct event_base *pstate_event_base(const struct pstate *st);

/*
 * Add delta to key and answer the new value.  A key that did not exist
 * starts at 0 and expires ttl seconds after it was created (a fixed
 * window: later increments do not extend it).
 */
struct pstate_op *pstate_incr(struct pstate *st, const char *key, long long delta, long ttl,
    pstate_incr_cb *cb, void *ctx);
struct pstate_op *pstate_get(struct pstate *st, const char *key, pstate_get_cb *cb, void *ctx);
/* Set key to value, expiring ttl seconds from now (replacing any TTL). */
struct pstate_op *pstate_set(struct pstate *st, const char *key, long long value, long ttl,
    pstate_done_cb *cb, void *ctx);
/*
 * Set key to value (ttl as pstate_set) only if it does not exist: cb gets
 * found 0 when this call set it, else found 1 and the value already there.
 */
struct pstate_op *pstate_add(struct pstate *st, const char *key, long long value, long ttl,
    pstate_get_cb *cb, void *ctx);
/* Cancel: the callback will not run; *op becomes NULL (NULL *op: nothing). */
void pstate_cancel(struct pstate_op **op);

/*
 * The network of client_ip kept in keys: the address with the host bits
 * cleared, "/bits" appended ("192.0.2.0/24", "2001:db8::/64"); an
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1) counts as IPv4.  -1 if
 * client_ip is not an address, bits is out of range or out is too small.
 */
int pstate_client_net(const char *client_ip, int v4bits, int v6bits, char *out, size_t size);

/* Remove expired rows (SQLite; Redis expires by itself).  Returns rows removed. */
long pstate_expire(struct pstate *st);

#endif
