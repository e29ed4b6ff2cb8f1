/* SPDX-License-Identifier: MIT */
/*
 * managesieved - the ManageSieve server: wiring only (the sessions are
 * managesieve.c, the scripts sieve_store.c, the language sieve.c).
 *
 * Usage: managesieved [-c facteur.conf] [-d]
 * Binds managesieve_listen itself (as lmtpd binds lmtp_listen: 4190 is
 * not a privileged port), then runs as mail_owner.  The master starts it
 * when managesieve_listen is set; by hand, -d copies the log to stderr.
 * SIGHUP re-reads the configuration and the certificate (a new
 * managesieve_listen needs a restart, which the master does); SIGTERM
 * and SIGINT say BYE to every session and stop it.
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
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/tls.h"
#include "store/directory_shared.h"
#include "store/managesieve.h"

static const char *conf_file;
static char listen_spec[1024];

static SSL_CTX *
load_tls(void)
{
	const char *error;
	SSL_CTX *ctx = tls_server_ctx_new(var_smtpd_tls_cert_file, var_smtpd_tls_key_file,
	    proc_hostname(), &error);

	if (ctx == NULL)
		log_warnx("managesieved: TLS disabled (so no login): %s", error);
	return ctx;
}

static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	const char *error;

	if (config_load(conf_file, &error) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", error);
		return;
	}
	log_set_level_name(var_log_level);
	if (strcmp(listen_spec, var_managesieve_listen) != 0)
		log_warnx("managesieve_listen changed: still serving %s until managesieved is "
		    "restarted", listen_spec);
	managesieve_set_tls(load_tls());
	directory_shared_close();
	log_info("configuration reloaded");
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct timeval flush = { 1, 0 };

	log_info("stopping on signal %d", (int)sig);
	managesieve_shutdown();
	/* A second to write the BYEs. */
	event_base_loopexit(arg, &flush);
}

#define MAX_LISTEN 16
static int listen_fds[MAX_LISTEN];
static int nlisten;

static int
listen_item(const char *item, void *arg)
{
	const char *error;
	int fd;

	if (nlisten >= MAX_LISTEN)
		fatalx("managesieve_listen: more than %d addresses", MAX_LISTEN);
	if ((fd = net_listen(item, &error)) < 0)
		fatalx("managesieve_listen: %s", error);
	listen_fds[nlisten++] = fd;
	log_info("managesieved listening on %s", item);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: managesieved [-c facteur.conf] [-d]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct event *sig[3];
	const char *error;
	int ch, foreground = 0;

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
	log_init("facteur/managesieved", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	if (var_managesieve_listen[0] == '\0')
		fatalx("managesieve_listen is empty in %s: nothing to serve", conf_file);
	str_copy(listen_spec, var_managesieve_listen, sizeof(listen_spec));
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	/* The key may be readable by root only: loaded before the privileges go. */
	{
		SSL_CTX *tls = load_tls();
		config_list_foreach(var_managesieve_listen, listen_item, NULL);
		proc_drop_privileges(var_mail_owner);
		proc_tune_malloc();
		managesieve_init(base, tls);
		for (int i = 0; i < nlisten; i++)
			managesieve_listen(listen_fds[i]);
	}
	sig[0] = evsignal_new(base, SIGHUP, on_sighup, base);
	sig[1] = evsignal_new(base, SIGTERM, on_sigterm, base);
	sig[2] = evsignal_new(base, SIGINT, on_sigterm, base);
	for (int i = 0; i < 3; i++)
		event_add(sig[i], NULL);
	log_info("managesieved started");
	event_watch_master(base);
	event_base_dispatch(base);
	directory_shared_close();
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	event_base_free(base);
	log_info("managesieved stopped");
	return 0;
}
