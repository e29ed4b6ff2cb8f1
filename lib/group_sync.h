/* SPDX-License-Identifier: MIT */
/*
 * group_sync - make the writes of many requests durable with one flush.
 *
 * An event loop writes files without fsync (page cache only), then asks
 * group_sync_submit() for a flush.  The requests made while no flush runs
 * are handed over together at the end of the event loop's pass, and one
 * thread flushes once for all of them: syncfs(2) of each file system
 * given at creation.  Requests made while a flush runs wait for the next
 * one, since a flush only covers what was written before it started.  Then
 * each callback runs on the event loop's thread, with 0 or the errno of
 * the flush.  At most one flush is in flight, so under load the batches
 * grow by themselves: group commit.  (mta/queue_commit.c does the same
 * for queue files, with the rename in the thread.)
 *
 * syncfs flushes everything dirty on the file system, not only ours: keep
 * busy unrelated writers off it, and never use it where syncfs is not a
 * real flush (network file systems): there, fsync each file.
 */
#ifndef FACTEUR_GROUP_SYNC_H
#define FACTEUR_GROUP_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct group_sync;

/* error: 0 when everything written before the request is on disk, else an errno. */
typedef void group_sync_cb(void *ctx, int error);

/*
 * Flush the file systems holding dirs (each counted once), from a thread,
 * callbacks on base.  counter (may be NULL: a stats field) is incremented
 * atomically at each flush.  NULL with *error_r (static text) when a
 * directory cannot be opened.
 */
struct group_sync *group_sync_new(struct event_base *base, const char *const *dirs, size_t ndirs,
    uint64_t *counter, const char **error_r);
/* cb(ctx, error) runs after a flush that started after this call. */
void group_sync_submit(struct group_sync *gs, group_sync_cb *cb, void *ctx);
/* Requests whose callback has not run yet. */
size_t group_sync_pending(const struct group_sync *gs);
/* Wait for a running flush; callbacks not run yet are dropped.  Sets *gs NULL. */
void group_sync_free(struct group_sync **gs);

#endif
