/* SPDX-License-Identifier: MIT */
/*
 * imapd - the IMAP server daemon: wiring only.
 *
 * Usage: imapd -c facteur.conf [-d]
 * The master passes its listening sockets in FACTEUR_LISTEN ("fd:mode,..."
 * with mode imap or imaps); without it imapd binds imap_listen and
 * imaps_listen itself (handy for debugging).  SIGHUP re-reads the
 * configuration and the certificate; SIGTERM says BYE to every session.
 */
#include "facteur-config.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/tls.h"
#include "store/imapd.h"

#ifndef FACTEUR_SYSCONF_DIR
#define FACTEUR_SYSCONF_DIR "/etc/facteur"
#endif

static const char *conf_file;

static SSL_CTX *
load_tls(void)
{
	const char *error;
	SSL_CTX *ctx = tls_server_ctx_new(var_smtpd_tls_cert_file, var_smtpd_tls_key_file,
	    proc_hostname(), &error);

	if (ctx == NULL)
		log_warnx("imapd: TLS disabled: %s", error);
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
	imapd_set_tls(load_tls());
	log_info("configuration reloaded");
}

static void
on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct timeval flush = { 1, 0 };

	log_info("stopping on signal %d", (int)sig);
	imapd_shutdown();
	/* A second to write the BYEs. */
	event_base_loopexit(arg, &flush);
}

/* The listening sockets, bound (or inherited) before the workers are forked. */
#define MAX_LISTEN 16
static struct {
	int fd;
	int implicit_tls;
} listens[MAX_LISTEN];
static int nlistens;

static void
listen_add(int fd, int implicit_tls)
{
	if (nlistens == MAX_LISTEN)
		fatalx("more than %d IMAP listeners", MAX_LISTEN);
	listens[nlistens].fd = fd;
	listens[nlistens].implicit_tls = implicit_tls;
	nlistens++;
}

static int
listen_item(const char *item, void *arg)
{
	const char *error;
	int fd = net_listen(item, &error);

	if (fd < 0)
		fatalx("%s", error);
	listen_add(fd, arg != NULL);
	return 0;
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
		listen_add(fd, strcmp(mode + 1, "imaps") == 0);
	}
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	const char *error, *inherited;
	int ch, foreground = 0, worker;
	SSL_CTX *tls;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		default:
			fprintf(stderr, "usage: imapd -c facteur.conf [-d]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: imapd -c facteur.conf [-d]\n");
		return 2;
	}
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	proc_tune_malloc();
	log_init("facteur/imapd", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	if (strcmp(var_imap_flag_sync, "normal") != 0 && strcmp(var_imap_flag_sync, "full") != 0)
		fatalx("imap_flag_sync = %s in %s: use normal or full", var_imap_flag_sync, conf_file);
	signal(SIGPIPE, SIG_IGN);
	if ((inherited = getenv("FACTEUR_LISTEN")) != NULL) {
		listen_inherited(inherited);
	} else {
		config_list_foreach(var_imap_listen, listen_item, NULL);
		config_list_foreach(var_imaps_listen, listen_item, "imaps");
	}
	/*
	 * One event loop is one core, and it waits while SQLite syncs a
	 * commit: imap_processes workers (default three per CPU) share the
	 * sockets.
	 */
	/* Before the fork: every worker presents the same certificate (a self-signed one too). */
	tls = load_tls();
	worker = proc_workers(var_imap_processes > 0 ? var_imap_processes :
	    3 * sysconf(_SC_NPROCESSORS_ONLN), "imapd");
	base = event_base_new();
	if (base == NULL)
		fatalx("cannot create the event loop");
	imapd_init(base, tls);
	for (int i = 0; i < nlistens; i++)
		imapd_listen(listens[i].fd, listens[i].implicit_tls);
	event_add(evsignal_new(base, SIGHUP, on_sighup, base), NULL);
	event_add(evsignal_new(base, SIGTERM, on_sigterm, base), NULL);
	event_add(evsignal_new(base, SIGINT, on_sigterm, base), NULL);
	log_info("imapd started (worker %d)", worker);
	event_watch_master(base);
	event_base_dispatch(base);
	log_info("imapd stopped");
	return 0;
}
