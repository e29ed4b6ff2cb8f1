/* SPDX-License-Identifier: MIT */
/*
 * facteur-metrics - the Prometheus endpoint: GET /metrics answers the
 * stats segment in the text exposition format (metrics.h).
 *
 * Usage: facteur-metrics [-c facteur.conf] [-d]
 * The master starts it when metrics_listen is set, whether SNMP is on or
 * not: a program of its own rather than a part of facteur-agentx, so that
 * each keeps its own loop (libevent's evhttp here, net-snmp's there) and
 * one can run without the other.  It binds metrics_listen itself, then
 * runs as mail_owner with the segment mapped read-only.  SIGHUP re-reads
 * the configuration; SIGTERM stops it, as does the master's death.
 */
#include "facteur-config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "lib/config.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "metrics.h"
#include "monitor.h"

static const char *conf_file;
static char listen_spec[1024];

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	struct evbuffer *body;
	size_t pathlen = strcspn(uri, "?");

	if (pathlen != 8 || strncmp(uri, "/metrics", 8) != 0) {
		evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
		body = evbuffer_new();
		evbuffer_add_printf(body, "facteur-metrics: the page is /metrics\n");
		evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", body);
		evbuffer_free(body);
		return;
	}
	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_render(body);
	evhttp_add_header(headers, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static int
bind_item(const char *item, void *arg)
{
	struct evhttp *http = arg;
	const char *error;
	int fd = net_listen(item, &error);

	if (fd < 0)
		fatalx("metrics_listen: %s", error);
	if (evhttp_accept_socket(http, fd) < 0)
		fatalx("metrics_listen: cannot serve %s", item);
	log_info("listening on %s", item);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	const char *error;

	if (sig != SIGHUP) {
		log_info("stopping on signal %d", (int)sig);
		event_base_loopbreak(arg);
		return;
	}
	if (config_load(conf_file, &error) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", error);
		return;
	}
	log_set_level_name(var_log_level);
	if (strcmp(listen_spec, var_metrics_listen) != 0)
		log_warnx("metrics_listen changed: still serving %s until facteur-metrics is restarted",
		    listen_spec);
	log_info("configuration reloaded");
}

int
main(int argc, char **argv)
{
	static const int sigs[3] = { SIGHUP, SIGTERM, SIGINT };
	struct event *sig[3];
	struct event_base *base;
	struct evhttp *http;
	const char *error;
	int ch, foreground = 0;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		default:
			fprintf(stderr, "usage: facteur-metrics [-c facteur.conf] [-d]\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "usage: facteur-metrics [-c facteur.conf] [-d]\n");
		return 2;
	}
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	log_init("facteur/metrics", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	if (var_metrics_listen[0] == '\0')
		fatalx("metrics_listen is empty in %s: nothing to serve", conf_file);
	str_copy(listen_spec, var_metrics_listen, sizeof(listen_spec));
	if ((base = event_base_new()) == NULL || (http = evhttp_new(base)) == NULL)
		fatalx("cannot create the event loop");
	/* A scraper sends a GET and no body; anything bigger is not one. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 0);
	evhttp_set_timeout(http, 30);
	evhttp_set_gencb(http, on_request, NULL);
	config_list_foreach(listen_spec, bind_item, http);
	proc_drop_privileges(var_mail_owner);
	if (monitor_open(&error) < 0)
		fatalx("%s (is facteur running?)", error);
	for (int i = 0; i < 3; i++) {
		sig[i] = evsignal_new(base, sigs[i], on_signal, base);
		event_add(sig[i], NULL);
	}
	event_watch_master(base);
	log_info("facteur-metrics started on %s", listen_spec);
	event_base_dispatch(base);

	evhttp_free(http);
	for (int i = 0; i < 3; i++)
		event_free(sig[i]);
	log_info("facteur-metrics stopped");
	return 0;
}
