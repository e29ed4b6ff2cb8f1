/* SPDX-License-Identifier: MIT */
/*
 * workpool - threads that run blocking or CPU-heavy work for an event loop.
 *
 * work(arg) runs in one of the pool's threads; done(arg) runs afterwards in
 * the event loop's thread, woken through an eventfd, so the loop never
 * blocks and never sees a half-finished job.  Jobs start in submission
 * order; done callbacks come in completion order.
 */
#ifndef FACTEUR_WORKPOOL_H
#define FACTEUR_WORKPOOL_H

#include <event2/event.h>

struct workpool;

typedef void workpool_fn(void *arg);

/* Start threads; called from the loop's thread. */
struct workpool *workpool_new(struct event_base *base, unsigned int threads);
void workpool_submit(struct workpool *wp, workpool_fn *work, workpool_fn *done, void *arg);
/* Jobs submitted and not yet done. */
unsigned int workpool_pending(const struct workpool *wp);
/* Wait for the running jobs, drop the queued ones (their done is not called). */
void workpool_free(struct workpool **wp);

#endif
