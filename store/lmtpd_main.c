/* SPDX-License-Identifier: MIT */
/*
 * lmtpd - the LMTP server of the mailbox store: wiring only (the sessions
 * are lmtpd.c, the store mstore.c).
 *
 * Usage: lmtpd [-c facteur.conf] [-d]
 * Binds lmtp_listen itself, then runs as mail_owner.  The master starts
 * it when lmtp_listen is set; by hand, -d copies the log to stderr.
 * SIGHUP re-reads the configuration (log level, limits, quotas; a new
 * lmtp_listen needs a restart, which the master does); SIGTERM and SIGINT
 * stop it and remove its socket.
 */
#include "facteur-config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "store/directory_shared.h"
#include "store/lmtpd.h"
#include "store/mstore.h"

static const char *conf_file;
static char listen_spec[1024];

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;
	const char *error;

	if (sig != SIGHUP) {
		log_info("stopping on signal %d", (int)sig);
		event_base_loopbreak(base);
		return;
	}
	if (config_load(conf_file, &error) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", error);
		return;
	}
	log_set_level_name(var_log_level);
	if (strcmp(listen_spec, var_lmtp_listen) != 0)
		log_warnx("lmtp_listen changed: still serving %s until lmtpd is restarted",
		    listen_spec);
	/* The directory may have moved (directory_database). */
	directory_shared_close();
	log_info("configuration reloaded");
}

/* The unix socket goes when the process that bound it ends (not a worker). */
static char socket_path[4096];
static pid_t main_pid;

static void
remove_socket(void)
{
	if (getpid() == main_pid && socket_path[0] != '\0' && unlink(socket_path) < 0)
		log_warn("cannot remove %s", socket_path);
}

static void
usage(void)
{
	fprintf(stderr, "usage: lmtpd [-c facteur.conf] [-d]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const int sigs[3] = { SIGHUP, SIGTERM, SIGINT };
	struct event *sig[3];
	struct event_base *base;
	struct mstore *ms;
	const char *error;
	char path[4096], stats_path[4096];
	int ch, fd, n, foreground = 0, worker;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	log_init("facteur/lmtpd", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	if (var_lmtp_listen[0] == '\0')
		fatalx("lmtp_listen is empty in %s: nothing to serve", conf_file);
	if (strcmp(var_lmtp_quota_status, "permanent") != 0 &&
	    strcmp(var_lmtp_quota_status, "temporary") != 0)
		fatalx("lmtp_quota_status = %s in %s: use permanent or temporary",
		    var_lmtp_quota_status, conf_file);
	if (strcmp(var_lmtp_sync, "group") != 0 && strcmp(var_lmtp_sync, "fsync") != 0)
		fatalx("lmtp_sync = %s in %s: use group or fsync", var_lmtp_sync, conf_file);
	str_copy(listen_spec, var_lmtp_listen, sizeof(listen_spec));
	if ((fd = lmtpd_bind(listen_spec, path, sizeof(path), &error)) < 0)
		fatalx("%s", error);
	proc_drop_privileges(var_mail_owner);
	proc_tune_malloc();
	if ((ms = mstore_open(NULL, &error)) == NULL)
		fatalx("%s", error);
	/* Blobs a killed lmtpd or imapd was writing. */
	if ((n = mstore_tmp_clean(ms, 3600)) > 0)
		log_info("removed %d stale temporary files of the store", n);
	/* No SQLite handle may cross a fork: each worker opens its own. */
	mstore_close(&ms);
	str_copy(socket_path, path, sizeof(socket_path));
	main_pid = getpid();
	atexit(remove_socket);
	worker = proc_workers(var_lmtp_processes, "lmtpd");
	if ((ms = mstore_open(NULL, &error)) == NULL)
		fatalx("%s", error);
	if (stats_open(spool_path("run/stats", stats_path, sizeof(stats_path)), 1, &error) < 0)
		log_info("no shared stats: %s", error);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	lmtpd_start(base, fd, ms);
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, sigs[i], on_signal, base);
		event_add(sig[i], NULL);
	}
	log_info("lmtpd started on %s, store %s (worker %d)", listen_spec, mstore_default_dir(),
	    worker);
	event_watch_master(base);
	event_base_dispatch(base);

	lmtpd_stop();
	directory_shared_close();
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	event_base_free(base);
	log_info("lmtpd stopped");
	return 0;
}
