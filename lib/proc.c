/* SPDX-License-Identifier: MIT */
/*
 * proc - process and privilege helpers.  See proc.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "event_util.h"
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

/* ---- several processes for one daemon ---- */

static volatile sig_atomic_t workers_sig;

static void
workers_on_signal(int sig)
{
	/* SIGTERM/SIGINT win over a SIGHUP not yet passed on. */
	if (workers_sig != SIGTERM)
		workers_sig = sig;
}

static void
workers_on_chld(int sig)
{
	(void)sig;
}

int
proc_workers(long n, const char *name)
{
	pid_t *pids;
	time_t *died;
	int stopping = 0, alive_fd = -1;
	const char *env = getenv(MASTER_FD_ENV);
	sigset_t block, old;
	struct sigaction sa;

	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n <= 1)
		return 0;
	if (n > 64)
		n = 64;
	if (env != NULL)
		alive_fd = atoi(env);
	pids = xcalloc((size_t)n, sizeof(*pids));
	died = xcalloc((size_t)n, sizeof(*died));
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = workers_on_signal;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = workers_on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	for (;;) {
		int running = 0;
		time_t now = time(NULL);
		struct pollfd pfd = { alive_fd, POLLIN, 0 };
		struct timespec tick = { 1, 0 };
		pid_t pid;
		int status;

		for (long i = 0; i < n; i++) {
			if (pids[i] != 0 || stopping || (died[i] != 0 && now - died[i] < 1))
				continue;
			if ((pid = fork()) < 0) {
				log_warn("%s: fork of worker %ld", name, i);
				died[i] = now;
				continue;
			}
			if (pid == 0) {
				/* The worker: the signals as they were, and dying with the supervisor. */
				signal(SIGHUP, SIG_DFL);
				signal(SIGTERM, SIG_DFL);
				signal(SIGINT, SIG_DFL);
				signal(SIGCHLD, SIG_DFL);
				sigprocmask(SIG_SETMASK, &old, NULL);
				prctl(PR_SET_PDEATHSIG, SIGTERM);
				if (getppid() == 1)
					_exit(0);
				free(pids);
				free(died);
				return (int)i;
			}
			pids[i] = pid;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (long i = 0; i < n; i++) {
				if (pids[i] != pid)
					continue;
				pids[i] = 0;
				died[i] = time(NULL);
				if (!stopping)
					log_warnx("%s: worker %ld (pid %ld) exited (status %d): started again",
					    name, i, (long)pid, status);
			}
		}
		for (long i = 0; i < n; i++)
			running += pids[i] != 0;
		if (stopping && running == 0)
			exit(0);
		if (workers_sig != 0) {
			int sig = workers_sig;
			workers_sig = 0;
			if (sig != SIGHUP)
				stopping = 1;
			for (long i = 0; i < n; i++)
				if (pids[i] != 0)
					kill(pids[i], sig);
		}
		/* Wait for a signal, a second, or the master's end (its pipe closes). */
		if (ppoll(alive_fd >= 0 ? &pfd : NULL, alive_fd >= 0 ? 1 : 0, &tick, &old) > 0 &&
		    (pfd.revents & (POLLIN | POLLHUP)) && !stopping) {
			stopping = 1;
			for (long i = 0; i < n; i++)
				if (pids[i] != 0)
					kill(pids[i], SIGTERM);
		}
	}
}

time_t
proc_mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}
