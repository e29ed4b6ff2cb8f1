/* SPDX-License-Identifier: MIT */
/*
 * master - binds the listening sockets, starts and supervises the daemons.
 *
 * Each daemon is a program of daemon_directory started with
 * "-c facteur.conf [-d]"; smtpd, imapd and facteur-apid (the admin API,
 * when admin_api_listen is set) get their listening sockets (bound by the
 * master, so privileged ports work) as file descriptors 3.. named in
 * FACTEUR_LISTEN; policyd, lmtpd, managesieved and facteur-metrics
 * bind their own and run only when their listen parameter is set;
 * facteur-agentx runs when snmp_agentx_socket is set.  When the master runs
 * as root the daemons run as mail_owner.  A daemon that exits is restarted
 * after a back-off (1 s, doubling to 60 s; reset once it has run for a
 * minute).  Each daemon's pid, last start and restarts are published in
 * the stats segment's table of daemons (lib/stats.h).
 */
#ifndef FACTEUR_MASTER_H
#define FACTEUR_MASTER_H

#include <event2/event.h>

/* Bind every configured listener; fatal on failure. */
void master_bind(void);
/* Start the daemons and supervise them on base. */
void master_start(struct event_base *base, const char *conf_file, int foreground);
/*
 * Forward SIGHUP to every daemon; start, stop or restart an optional
 * daemon (policyd, lmtpd, managesieved, facteur-agentx, facteur-metrics)
 * when its parameter was set, emptied or changed.
 */
void master_reload(void);
/* SIGTERM every daemon and wait for them (SIGKILL after 10 s). */
void master_stop(void);

#endif
