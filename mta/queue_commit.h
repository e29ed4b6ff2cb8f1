/* SPDX-License-Identifier: MIT */
/*
 * queue_commit - make finished queue files durable, many per flush.
 *
 * smtpd hands each finished writer to queue_commit_submit(); a committer
 * thread takes every file waiting, renames "t.<qid>" to "<qid>" and makes
 * the whole batch durable with one syncfs(2) (queue_sync = syncfs) or
 * with fsync of each file and of the directory (queue_sync = fsync).
 * Only then is the callback run on the event loop thread, so no 250 is
 * ever sent before the flush that covers its message: group commit.
 * A message renamed but not yet flushed may be seen by qmgr; a crash then
 * can only lose a message that was never acknowledged.
 */
#ifndef FACTEUR_QUEUE_COMMIT_H
#define FACTEUR_QUEUE_COMMIT_H

#include <event2/event.h>

#include "queue_file.h"

/* error is 0 or an errno value; the writer's fd is closed by then. */
typedef void queue_commit_cb(void *ctx, int error);

/* Start the committer thread, its results delivered on base. -1 + error. */
int queue_commit_init(struct event_base *base, const char **error_r);
/* Queue w (finished) for commit; cb(ctx, error) runs later on base's thread. */
void queue_commit_submit(struct queue_writer *w, queue_commit_cb *cb, void *ctx);
/*
 * Commit w now in the calling thread: fsync the file, rename it into
 * incoming/, fsync the directory.  For qmgr's bounces and facteurctl.
 * 0, or -1 with errno (the temporary file is removed).
 */
int queue_commit_sync(struct queue_writer *w);
/* Ask qmgr to scan incoming/ (datagram to run/qmgr.wakeup; never blocks). */
void queue_wakeup_qmgr(void);

#endif
