/* SPDX-License-Identifier: MIT */
/*
 * policyd - the Postfix policy delegation service: wiring only (the
 * protocol is policy_proto.c, the connections policyd.c, the decisions
 * policy.c).
 *
 * Usage: policyd [-c facteur.conf] [-d]
 * Binds policy_listen itself, then runs as mail_owner.  The master starts
 * it when policy_listen is set; by hand, -d copies the log to stderr.
 * SIGHUP re-reads the configuration and makes a new engine (new
 * directory, state backend and lists) without dropping connections;
 * SIGTERM and SIGINT stop it and remove its socket.
 */
#include "facteur-config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "policy/policy.h"
#include "policy/policyd.h"

static const char *conf_file;
static char listen_spec[1024];

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;
	struct policy *p;
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
	if (strcmp(listen_spec, var_policy_listen) != 0)
		log_warnx("policy_listen changed: still serving %s until policyd is restarted",
		    listen_spec);
	if ((p = policy_new(base, &error)) == NULL) {
		log_warnx("reload: %s: keeping the running policy", error);
		return;
	}
	policyd_set_policy(p);
	log_info("configuration reloaded");
}

int
main(int argc, char **argv)
{
	static const int sigs[3] = { SIGHUP, SIGTERM, SIGINT };
	struct event *sig[3];
	struct event_base *base;
	struct policy *p;
	const char *error;
	char path[4096], stats_path[4096];
	int ch, fd, foreground = 0;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		default:
			fprintf(stderr, "usage: policyd [-c facteur.conf] [-d]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: policyd [-c facteur.conf] [-d]\n");
		return 2;
	}
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	log_init("facteur/policyd", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	if (var_policy_listen[0] == '\0')
		fatalx("policy_listen is empty in %s: nothing to serve", conf_file);
	str_copy(listen_spec, var_policy_listen, sizeof(listen_spec));
	if ((fd = policyd_bind(listen_spec, path, sizeof(path), &error)) < 0)
		fatalx("%s", error);
	proc_drop_privileges(var_mail_owner);
	if (stats_open(spool_path("run/stats", stats_path, sizeof(stats_path)), 1, &error) < 0)
		log_info("no shared stats: %s", error);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	dns_init(base);
	report_init(base);
	if ((p = policy_new(base, &error)) == NULL)
		fatalx("%s", error);
	policyd_start(base, fd, p);
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, sigs[i], on_signal, base);
		event_add(sig[i], NULL);
	}
	log_info("policyd started on %s", listen_spec);
	event_watch_master(base);
	event_base_dispatch(base);

	policyd_stop();
	if (path[0] != '\0' && unlink(path) < 0)
		log_warn("cannot remove %s", path);
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	log_info("policyd stopped");
	return 0;
}
