/* SPDX-License-Identifier: MIT */
/*
 * qmgr - the queue manager daemon: delivers what smtpd queued.
 *
 * Usage: qmgr -c facteur.conf [-d]
 * Started by the master with privileges already dropped; -d keeps it in
 * the foreground with logs on stderr.  SIGHUP reloads the configuration,
 * SIGTERM/SIGINT stop it (messages in active/ are recovered next start).
 * The logic lives in qmgr.c, smtp_client.c, transport.c and bounce.c.
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
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "qmgr.h"
#include "qmgr_ctl.h"
#include "queue.h"

static const char *conf_file;

static void
usage(void)
{
	fprintf(stderr, "usage: qmgr -c facteur.conf [-d]\n");
	exit(2);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;
	const char *error;

	if (sig == SIGHUP) {
		(void)report_flush();
		/* Our own copy: config_load() frees what config_path() returns. */
		if (config_load(conf_file, &error) < 0) {
			log_warnx("reload failed, keeping the old configuration: %s", error);
			return;
		}
		log_set_level_name(var_log_level);
		qmgr_reload();
		log_info("configuration reloaded");
		return;
	}
	log_info("stopping on signal %d", (int)sig);
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *error;
	struct event_base *base;
	struct event *sig[3];
	static const int sigs[3] = { SIGHUP, SIGTERM, SIGINT };
	char path[4096];
	int foreground = 0, ch;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		default:
			usage();
		}
	}
	if (conf == NULL || optind != argc)
		usage();
	conf_file = conf;
	proc_tune_malloc();
	log_init("facteur/qmgr", foreground);
	if (config_load(conf, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	if (stats_open(spool_path("run/stats", path, sizeof(path)), 1, &error) < 0)
		log_warnx("stats segment unavailable (%s): counting privately", error);
	if (queue_init_dirs((uid_t)-1, (gid_t)-1, &error) < 0)
		fatalx("%s", error);
	signal(SIGPIPE, SIG_IGN);

	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	dns_init(base);
	report_init(base);
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, sigs[i], on_signal, base);
		event_add(sig[i], NULL);
	}
	qmgr_ctl_init(base);
	qmgr_init(base);
	log_info("started: spool=%s", var_spool_directory);
	event_watch_master(base);
	event_base_dispatch(base);

	qmgr_ctl_shutdown();
	qmgr_shutdown();
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	log_info("stopped");
	return 0;
}
