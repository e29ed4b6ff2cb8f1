/* SPDX-License-Identifier: MIT */
/*
 * ratelimit - counters per key and fixed time window in a pstate: the
 * window of a limit "COUNT/PERIOD" is PERIOD seconds long, and the
 * (COUNT+1)th event of a window is over the limit.  Keys are
 * "rl:KIND:KEY:WINDOW" so that every relay sharing a Redis counts into
 * the same window.
 */
#ifndef FACTEUR_POLICY_RATELIMIT_H
#define FACTEUR_POLICY_RATELIMIT_H

struct pstate;
struct ratelimit_op;

/*
 * over: 1 when this event went past the limit.  value: the count in the
 * window after it.  status -1: backend error (over is 0: fail open).
 * retry: seconds until the window ends.
 */
typedef void ratelimit_cb(void *ctx, int status, int over, long long value, long retry);

/*
 * Count amount events of kind ("client_msg", "user_rcpt", ...) for key
 * (a network, an address, a domain) against limit ("COUNT/PERIOD").  An
 * empty limit is no limit: cb is called (later) with over 0 and nothing
 * is counted.
 */
struct ratelimit_op *ratelimit_hit(struct pstate *st, const char *kind, const char *key,
    const char *limit, long amount, ratelimit_cb *cb, void *ctx);
void ratelimit_cancel(struct ratelimit_op **op);

#endif
