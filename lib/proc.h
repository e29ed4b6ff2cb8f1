/* SPDX-License-Identifier: MIT */
/*
 * proc - process and privilege helpers shared by the master and daemons.
 */
#ifndef FACTEUR_PROC_H
#define FACTEUR_PROC_H

#include <sys/types.h>
#include <time.h>

/* Become mail_owner when running as root (no-op otherwise); fatal on failure. */
void proc_drop_privileges(const char *user);
/* Look up user; 0 and ids on success, -1 if unknown. */
int proc_user_ids(const char *user, uid_t *uid_r, gid_t *gid_r);
/*
 * Create dir (and parents) with mode.  When uid != -1 the owner and mode
 * are enforced even if it exists; otherwise an existing one is left as is.
 */
int proc_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid);
/* Path under the spool: spool_path("run/stats") -> "$spool_directory/run/stats". */
const char *spool_path(const char *rel, char *buf, size_t size);
/*
 * For daemons whose per-message buffers (64 KB and more) come and go all
 * the time: keep them off mmap(2) and do not give the heap back after each
 * message (see doc/decisions.md, Memory).
 */
void proc_tune_malloc(void);

/*
 * Serve with n processes (a daemon whose one event loop would otherwise
 * use one core).  n 0 means one per online CPU; n 1 returns 0 at once.
 * Otherwise the caller becomes a supervisor that never returns: it forks
 * n workers, which return from here with their number (0 .. n-1) and go
 * on to build their event loop on the sockets bound before the call; it
 * starts again, after a second, a worker that died; it passes SIGHUP,
 * SIGTERM and SIGINT on to them and exits when they have all stopped
 * after SIGTERM, or when the master is gone.  Workers get SIGTERM when
 * the supervisor dies.  Call it before any thread exists.
 */
int proc_workers(long n, const char *name);
/* The host name to use: myhostname, or the system's. */
const char *proc_hostname(void);
/* Seconds of CLOCK_MONOTONIC: for intervals, never for dates. */
time_t proc_mono_seconds(void);

#endif
