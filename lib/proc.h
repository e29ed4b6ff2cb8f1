/* SPDX-License-Identifier: MIT */
/*
 * proc - process and privilege helpers shared by the master and daemons.
 */
#ifndef FACTEUR_PROC_H
#define FACTEUR_PROC_H

#include <sys/types.h>

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
/* The host name to use: myhostname, or the system's. */
const char *proc_hostname(void);

#endif
