/* SPDX-License-Identifier: MIT */
/*
 * facteur-apid - the admin REST API: JSON over HTTPS for the directory
 * (domains, accounts, aliases, groups, resources, profiles, admins), the
 * queue and the counters, with tokens and an audit log.  The API is
 * described in doc/admin-api.yaml (OpenAPI 3.0), the daemon in
 * facteur-apid(8).
 *
 * Usage: facteur-apid [-c facteur.conf] [-d]
 * The master starts it when admin_api_listen is set and hands it the
 * sockets it bound (FACTEUR_LISTEN, mode "adminapi"), so port 443 works;
 * started by hand it binds admin_api_listen itself.  It runs as
 * mail_owner.  SIGHUP re-reads the configuration (the token lifetime, the
 * log level, the login throttling); the TLS certificate and the
 * listeners take effect at a restart.  SIGTERM stops it, as does the
 * master's death.
 */
#include "facteur-config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_http.h"
#include "appliance/agentx/monitor.h"
#include "lib/config.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/tls.h"

#define HASH_THREADS 2

static const char *conf_file;
static struct api_ctx ctx;
static struct api_server *server;

static int
listen_item(const char *item, void *arg)
{
	const char *error;
	int fd = net_listen(item, &error);

	if (fd < 0)
		fatalx("admin_api_listen: %s", error);
	if (api_http_listen(server, fd) < 0)
		fatalx("admin_api_listen: cannot serve %s", item);
	log_info("listening on %s", item);
	return 0;
}

/* The master's sockets: "fd:adminapi,..."; others are not ours. */
static void
listen_inherited(const char *spec)
{
	char buf[1024], *save = NULL;
	int n = 0;

	str_copy(buf, spec, sizeof(buf));
	for (char *item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		int fd = atoi(item);
		const char *mode = strchr(item, ':');
		if (fd < 3 || mode == NULL)
			fatalx("bad FACTEUR_LISTEN entry \"%s\"", item);
		if (strcmp(mode + 1, "adminapi") != 0)
			continue;
		if (net_set_nonblock(fd) < 0 || api_http_listen(server, fd) < 0)
			fatalx("cannot serve the listening socket %d", fd);
		n++;
	}
	if (n == 0)
		fatalx("FACTEUR_LISTEN gives no adminapi socket");
}

static SSL_CTX *
load_tls(void)
{
	const char *cert = var_admin_api_tls_cert_file, *key = var_admin_api_tls_key_file, *error;
	SSL_CTX *tls;

	if (cert[0] == '\0' && key[0] == '\0') {
		cert = var_smtpd_tls_cert_file;
		key = var_smtpd_tls_key_file;
	}
	if ((tls = tls_server_ctx_new(cert, key, proc_hostname(), &error)) == NULL)
		fatalx("admin API certificate: %s", error);
	return tls;
}

/* In the directory thread: the threads read the parameters. */
static void
reload_work(void *arg)
{
	const char *error;

	if (config_load(conf_file, &error) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", error);
		return;
	}
	if (var_admin_api_token_lifetime > 0)
		ctx.token_lifetime = var_admin_api_token_lifetime;
	else
		log_warnx("admin_api_token_lifetime is 0: keeping %ld s", ctx.token_lifetime);
	log_info("configuration reloaded");
}

static void
reload_done(void *arg)
{
	log_set_level_name(var_log_level);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	if (sig == SIGHUP) {
		api_http_in_directory_thread(server, reload_work, reload_done, NULL);
		return;
	}
	log_info("stopping on signal %d", (int)sig);
	event_base_loopbreak(arg);
}

static void
usage(void)
{
	fprintf(stderr, "usage: facteur-apid [-c facteur.conf] [-d]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const int sigs[3] = { SIGHUP, SIGTERM, SIGINT };
	struct event *sig[3];
	struct event_base *base;
	const char *error, *inherited;
	SSL_CTX *tls;
	int ch, foreground = 0;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		if (ch == 'c')
			conf_file = optarg;
		else if (ch == 'd')
			foreground = 1;
		else
			usage();
	}
	if (optind != argc)
		usage();
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	log_init("facteur/apid", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	/* What it writes (its store) is mail_owner's alone. */
	umask(077);
	inherited = getenv("FACTEUR_LISTEN");
	if (inherited == NULL && var_admin_api_listen[0] == '\0')
		fatalx("admin_api_listen is empty in %s: nothing to serve", conf_file);
	if (var_admin_api_token_lifetime <= 0)
		fatalx("admin_api_token_lifetime must be longer than 0 s");
	ctx.token_lifetime = var_admin_api_token_lifetime;
	tls = load_tls();
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	server = api_http_new(base, tls, &ctx, HASH_THREADS);
	if (inherited != NULL)
		listen_inherited(inherited);
	else
		config_list_foreach(var_admin_api_listen, listen_item, NULL);
	proc_drop_privileges(var_mail_owner);
	if ((ctx.store = api_store_open(api_store_default_path(), &error)) == NULL)
		fatalx("%s (its directory is made by the master when admin_api_listen is set)", error);
	if (monitor_open(&error) < 0)
		log_warnx("%s: the queue and counters read as 0 (is facteur running?)", error);
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, sigs[i], on_signal, base);
		event_add(sig[i], NULL);
	}
	event_watch_master(base);
	log_info("facteur-apid started");
	event_base_dispatch(base);

	api_http_free(&server);
	api_store_close(&ctx.store);
	directory_close(&ctx.dir);
	SSL_CTX_free(tls);
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	log_info("facteur-apid stopped");
	return 0;
}
