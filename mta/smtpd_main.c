/* SPDX-License-Identifier: MIT */
/*
 * smtpd - SMTP server daemon: wiring only.
 *
 * Usage: smtpd -c facteur.conf [-d]
 * The master passes its listening sockets in FACTEUR_LISTEN
 * ("fd:mode,..." with mode smtp, submission or smtps); without it smtpd
 * binds the configured addresses itself (handy for debugging).
 * SIGHUP re-reads the configuration, certificate and AUTH users.
 */
#include "facteur-config.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter/pipeline.h"
#include "lib/config.h"
#include "lib/dns.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "lib/tls.h"
#include "lib/workpool.h"
#include "milter_client.h"
#include "policy/policy.h"
#include "queue_commit.h"
#include "smtpd.h"

static const char *conf_file;

static SSL_CTX *
load_tls(void)
{
	const char *error;
	SSL_CTX *ctx = tls_server_ctx_new(var_smtpd_tls_cert_file, var_smtpd_tls_key_file,
	    proc_hostname(), &error);

	if (ctx == NULL)
		log_warnx("TLS disabled: %s", error);
	return ctx;
}

static struct filter *filter;
static struct workpool *filter_pool;

/* The filter as configured: started when enabled, reloaded on SIGHUP. */
static void
setup_filter(struct event_base *base)
{
	const char *error;

	if (var_filter_enable && filter == NULL) {
		if (filter_new(&filter, &error) < 0) {
			log_warnx("filter disabled: %s", error);
			filter = NULL;
		}
	} else if (filter != NULL) {
		filter_reload(filter);
	}
	if (filter != NULL && filter_pool == NULL)
		filter_pool = workpool_new(base, (unsigned int)var_filter_workers);
	smtpd_set_filter(var_filter_enable ? filter : NULL, filter_pool);
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	const char *error;

	/* The day's counts are written at a reload too (facteur reload, then facteurctl report). */
	(void)report_flush();
	if (config_load(conf_file, &error) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", error);
		return;
	}
	log_set_level_name(var_log_level);
	if (smtpd_auth_load(var_smtpd_auth_file, &error) < 0)
		log_warnx("reload: %s", error);
	smtpd_set_tls(load_tls());
	if (milter_config_check(&error) < 0)
		log_warnx("reload: %s", error);
	setup_filter(arg);
	log_info("configuration reloaded");
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	log_info("stopping on signal %d", (int)sig);
	event_base_loopbreak(arg);
}

static void
listen_list(const char *list, enum smtpd_mode mode)
{
	char buf[4096], *save = NULL;

	str_copy(buf, list, sizeof(buf));
	for (char *item = strtok_r(buf, ", \t", &save); item != NULL;
	    item = strtok_r(NULL, ", \t", &save)) {
		const char *error;
		int fd = net_listen(item, &error);
		if (fd < 0)
			fatalx("%s", error);
		smtpd_listen(fd, mode);
	}
}

static void
listen_inherited(const char *spec)
{
	char buf[1024], *save = NULL;

	str_copy(buf, spec, sizeof(buf));
	for (char *item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		int fd = atoi(item);
		const char *mode = strchr(item, ':');
		if (fd < 3 || mode == NULL)
			fatalx("bad FACTEUR_LISTEN entry \"%s\"", item);
		smtpd_listen(fd, strcmp(mode + 1, "smtps") == 0 ? SMTPD_SMTPS :
		    strcmp(mode + 1, "submission") == 0 ? SMTPD_SUBMISSION : SMTPD_MX);
	}
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct policy *policy;
	const char *error, *inherited;
	char path[4096];
	int ch, foreground = 0;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		default:
			fprintf(stderr, "usage: smtpd -c facteur.conf [-d]\n");
			return 2;
		}
	}
	proc_tune_malloc();
	log_init("facteur/smtpd", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	if (stats_open(spool_path("run/stats", path, sizeof(path)), 1, &error) < 0)
		log_warnx("no shared stats: %s", error);
	if (smtpd_auth_load(var_smtpd_auth_file, &error) < 0)
		fatalx("%s", error);
	if (queue_init_dirs((uid_t)-1, (gid_t)-1, &error) < 0)
		fatalx("%s", error);
	base = event_base_new();
	if (base == NULL)
		fatalx("cannot create the event loop");
	if (queue_commit_init(base, &error) < 0)
		fatalx("%s", error);
	smtpd_init(base, load_tls());
	report_init(base);
	if ((inherited = getenv("FACTEUR_LISTEN")) != NULL) {
		listen_inherited(inherited);
	} else {
		listen_list(var_smtp_listen, SMTPD_MX);
		listen_list(var_submission_listen, SMTPD_SUBMISSION);
		listen_list(var_smtps_listen, SMTPD_SMTPS);
	}
	if (milter_config_check(&error) < 0)
		fatalx("%s", error);
	setup_filter(base);
	dns_init(base);
	if ((policy = policy_new(base, &error)) == NULL)
		fatalx("%s", error);
	smtpd_set_policy(policy);
	event_add(evsignal_new(base, SIGHUP, on_sighup, base), NULL);
	event_add(evsignal_new(base, SIGTERM, on_sigterm, base), NULL);
	event_add(evsignal_new(base, SIGINT, on_sigterm, base), NULL);
	log_info("smtpd started");
	event_watch_master(base);
	event_base_dispatch(base);
	return 0;
}
