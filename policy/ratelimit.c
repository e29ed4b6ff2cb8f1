/* SPDX-License-Identifier: MIT */
/*
 * ratelimit - fixed-window counters in a pstate.  See ratelimit.h.
 *
 * The window is now / PERIOD, the same on every relay whose clock is
 * right, so one incr per event is the whole algorithm: no read before,
 * no race between relays.  A window's key lives until a minute after
 * the window ends, long enough for a relay whose clock lags a little.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "policy/ratelimit.h"
#include "policy/state.h"

#define KEY_GRACE 60

struct ratelimit_op {
	ratelimit_cb *cb;
	void *ctx;
	long count;
	long retry;
	struct pstate_op *sop;
	struct event *later;	/* answers without the backend */
	int status;
};

static void
op_free(struct ratelimit_op *op)
{
	pstate_cancel(&op->sop);
	if (op->later != NULL)
		event_free(op->later);
	free(op);
}

static void
later_fire(evutil_socket_t fd, short what, void *arg)
{
	struct ratelimit_op *op = arg;
	ratelimit_cb *cb = op->cb;
	void *ctx = op->ctx;
	int status = op->status;

	op_free(op);
	cb(ctx, status, 0, 0, 0);
}

static void
counted(void *ctx, int status, long long value)
{
	struct ratelimit_op *op = ctx;
	ratelimit_cb *cb = op->cb;
	void *arg = op->ctx;
	long retry = op->retry;
	int over = status == 0 && value > op->count;

	op->sop = NULL;
	op_free(op);
	if (status < 0)
		cb(arg, -1, 0, 0, retry);
	else
		cb(arg, 0, over, value, retry);
}

struct ratelimit_op *
ratelimit_hit(struct pstate *st, const char *kind, const char *key, const char *limit,
    long amount, ratelimit_cb *cb, void *ctx)
{
	struct ratelimit_op *op = xcalloc(1, sizeof(*op));
	long period;
	time_t now = time(NULL);
	char *k;

	op->cb = cb;
	op->ctx = ctx;
	if (config_parse_rate(limit, &op->count, &period) < 0 || period == 0) {
		if (limit[0] != '\0') {
			log_warnx("rate limit \"%s\" for %s: want COUNT/PERIOD such as 100/1h; "
			    "not counted", limit, kind);
			op->status = -1;
		}
		op->later = evtimer_new(pstate_event_base(st), later_fire, op);
		event_active(op->later, EV_TIMEOUT, 0);
		return op;
	}
	op->retry = period - (long)(now % period);
	k = xasprintf("rl:%s:%s:%ld", kind, key, (long)(now / period));
	op->sop = pstate_incr(st, k, amount, op->retry + KEY_GRACE, counted, op);
	free(k);
	return op;
}

void
ratelimit_cancel(struct ratelimit_op **opp)
{
	if (*opp == NULL)
		return;
	op_free(*opp);
	*opp = NULL;
}
