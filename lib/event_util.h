/* SPDX-License-Identifier: MIT */
/*
 * event_util - libevent glue shared by the daemons.
 */
#ifndef FACTEUR_EVENT_UTIL_H
#define FACTEUR_EVENT_UTIL_H

#include <event2/event.h>

#define MASTER_FD_ENV "FACTEUR_MASTER_FD"

/*
 * Exit the loop of base when the master dies: the master keeps the write
 * end of a pipe whose read end daemons inherit (its number in
 * $FACTEUR_MASTER_FD); end of file on it means the master is gone, and a
 * daemon must not outlive it holding the listening sockets.  No-op when
 * the daemon was started by hand.
 */
void event_watch_master(struct event_base *base);

#endif
