/* SPDX-License-Identifier: MIT */
/*
 * qmgr_ctl - qmgr's control socket for facteurctl ($spool/run/qmgr.ctl).
 *
 * A unix stream socket (mode 0600: the mail owner and root only) with a
 * line protocol, one request per line, one reply line each; a client
 * may send several requests on one connection:
 *   flush            -> "ok"   deferred/ to incoming/, retry everything now
 *   hold QID         -> "ok" | "error <text>"   (active: when its attempt ends)
 *   release QID      -> "ok" | "error <text>"   hold/ to incoming/
 *   delete QID       -> "ok" | "error <text>"   (active: when its attempt ends)
 *   anything else    -> "error unknown command"
 * Lines longer than 1 KB close the connection.
 */
#ifndef FACTEUR_QMGR_CTL_H
#define FACTEUR_QMGR_CTL_H

#include <event2/event.h>

/* Bind run/qmgr.ctl (a stale socket is replaced); fatal on failure. */
void qmgr_ctl_init(struct event_base *base);
/* Close the listener and remove the socket. */
void qmgr_ctl_shutdown(void);

#endif
