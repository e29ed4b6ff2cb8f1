/* SPDX-License-Identifier: MIT */
/*
 * qmgr - the queue manager: from incoming/ to the next hop.
 *
 * Messages move incoming/ -> active/ while qmgr holds them in memory, then
 * are removed (all recipients done) or go to deferred/ with their mtime
 * set to the next retry time, as Postfix does.  Pending recipients are
 * grouped by destination (transport.h); each destination has its own job
 * queue, at most destination_concurrency_limit connections and reuses
 * idle connections for destination_connection_reuse_time.  Permanent
 * failures become one DSN per message and attempt (bounce.h).  A restart
 * moves active/ back to incoming/, so nothing accepted is ever lost.
 */
#ifndef FACTEUR_QMGR_H
#define FACTEUR_QMGR_H

#include <event2/event.h>

/*
 * Recover active/, remove stale temporary files, bind run/qmgr.wakeup and
 * start the timers and a first scan.  Fatal if the spool is unusable.
 */
void qmgr_init(struct event_base *base);
/* After a configuration reload: new TLS context, new timers. */
void qmgr_reload(void);
/* Forget everything (connections closed); active/ is recovered next start. */
void qmgr_shutdown(void);

/* Admin requests (control socket).  0 on success, -1 with *error_r (static). */
int qmgr_flush(const char **error_r);
/* An active message is held or deleted when its current attempt ends. */
int qmgr_hold(const char *qid, const char **error_r);
int qmgr_release(const char *qid, const char **error_r);
int qmgr_delete(const char *qid, const char **error_r);

#endif
