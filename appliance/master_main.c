/* SPDX-License-Identifier: MIT */
/*
 * facteur - the master process.
 *
 * Usage: facteur [-c facteur.conf] [-f] [-n]
 *   -f  stay in the foreground, logs on stderr too (demo, systemd)
 *   -n  check the configuration and exit
 * Reads the configuration, creates the spool and the stats segment, binds
 * the listening sockets (privileged ports while still root), then starts
 * and supervises smtpd and qmgr.  SIGHUP reloads, SIGTERM stops.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "check.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "master.h"
#include "mta/queue.h"

#ifndef FACTEUR_SYSCONF_DIR
#define FACTEUR_SYSCONF_DIR "/etc/facteur"
#endif

static const char *conf_file = FACTEUR_SYSCONF_DIR "/facteur.conf";

static void
report_problem(const char *problem)
{
	log_warnx("configuration: %s", problem);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	const char *error;

	if (sig == SIGHUP) {
		if (config_load(conf_file, &error) < 0) {
			log_warnx("reload refused, keeping the running configuration: %s", error);
			return;
		}
		check_config(report_problem);
		log_set_level_name(var_log_level);
		log_info("reloading: listen addresses take effect at the next start");
		master_reload();
		return;
	}
	log_info("stopping on signal %d", (int)sig);
	master_stop();
	event_base_loopbreak(arg);
}

/*
 * One master per spool: an exclusive lock on run/master.pid, taken before
 * the listening sockets are bound (a second master stops here, not on a
 * bind error) and held as long as the master lives.  The file stays empty
 * until pid_announce(): the console reads "running" from the lock and the
 * pid, so a master that dies on a bind is never seen started.
 */
static int
pid_lock(void)
{
	char path[4096];
	int fd = open(spool_path("run/master.pid", path, sizeof(path)), O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		fatal("open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		fatalx("another facteur master is running on %s (%s is locked)", var_spool_directory, path);
	if (ftruncate(fd, 0) < 0)
		fatal("truncate %s", path);
	/* Keep fd open: the lock lives as long as the master. */
	return fd;
}

/* The pid into the locked file: the master is listening. */
static void
pid_announce(int fd)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (pwrite(fd, buf, strlen(buf), 0) != (ssize_t)strlen(buf))
		fatal("write run/master.pid");
}

int
main(int argc, char **argv)
{
	const char *error = NULL;
	struct event_base *base;
	char path[4096];
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int ch, foreground = 0, check_only = 0, pid_fd;

	while ((ch = getopt(argc, argv, "c:fn")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'f': foreground = 1; break;
		case 'n': check_only = 1; break;
		default:
			fprintf(stderr, "usage: facteur [-c facteur.conf] [-f] [-n]\n");
			return 2;
		}
	}
	log_init("facteur/master", foreground || check_only);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	if (check_config(report_problem) > 0)
		fatalx("%s: configuration has errors, not starting", conf_file);
	if (check_only) {
		printf("%s: configuration OK\n", conf_file);
		return 0;
	}
	if (conf_file[0] != '/') {
		/* The daemons may start from another directory. */
		static char abs[4096];
		if (realpath(conf_file, abs) != NULL)
			conf_file = abs;
	}
	if (geteuid() == 0 && proc_user_ids(var_mail_owner, &uid, &gid) < 0)
		fatalx("mail_owner \"%s\" is not a user of this system: create it or set mail_owner",
		    var_mail_owner);
	if (queue_init_dirs(uid, gid, &error) < 0)
		fatalx("%s", error);
	pid_fd = pid_lock();
	if (stats_create(spool_path("run/stats", path, sizeof(path)), &error) < 0)
		fatalx("%s", error);
	if (uid != (uid_t)-1 && chown(path, uid, gid) < 0)
		fatal("chown %s", path);
	signal(SIGPIPE, SIG_IGN);
	master_bind();
	pid_announce(pid_fd);
	base = event_base_new();
	if (base == NULL)
		fatalx("cannot create the event loop");
	event_add(evsignal_new(base, SIGHUP, on_signal, base), NULL);
	event_add(evsignal_new(base, SIGTERM, on_signal, base), NULL);
	event_add(evsignal_new(base, SIGINT, on_signal, base), NULL);
	master_start(base, conf_file, foreground);
	log_info("facteur %s started, spool %s", PACKAGE_VERSION, var_spool_directory);
	event_base_dispatch(base);
	log_info("facteur stopped");
	return 0;
}
