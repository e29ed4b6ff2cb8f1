/* SPDX-License-Identifier: MIT */
/*
 * proc - process and privilege helpers.  See proc.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "proc.h"

int
proc_user_ids(const char *user, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw = getpwnam(user);

	if (pw == NULL)
		return -1;
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 0;
}

void
proc_drop_privileges(const char *user)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return;
	if (proc_user_ids(user, &uid, &gid) < 0)
		fatalx("mail_owner \"%s\" is not a user of this system: create it or set mail_owner", user);
	if (uid == 0)
		fatalx("mail_owner \"%s\" must not be root", user);
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		fatal("cannot drop privileges to %s", user);
}

int
proc_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char buf[4096];
	size_t len = str_copy(buf, path, sizeof(buf));

	if (len >= sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == 0) {
		/* mkdir(2) obeys the umask: set the mode we mean. */
		if (chmod(buf, mode) < 0)
			return -1;
	} else if (errno != EEXIST) {
		return -1;
	} else if (uid == (uid_t)-1) {
		/* Exists, and no owner to enforce: leave it as the admin made it. */
		return 0;
	}
	if (uid != (uid_t)-1 && (chown(buf, uid, gid) < 0 || chmod(buf, mode) < 0))
		return -1;
	return 0;
}

const char *
spool_path(const char *rel, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", var_spool_directory, rel);
	return buf;
}

void
proc_tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
}

const char *
proc_hostname(void)
{
	static char name[256];

	if (var_myhostname[0] != '\0')
		return var_myhostname;
	if (name[0] == '\0' && gethostname(name, sizeof(name) - 1) < 0)
		str_copy(name, "localhost", sizeof(name));
	return name;
}
