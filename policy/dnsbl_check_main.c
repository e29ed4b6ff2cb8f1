/* SPDX-License-Identifier: MIT */
/*
 * dnsbl_check - run the connection-time DNS checks of policy/dnsbl once,
 * through the resolver of facteur.conf, and print what they found.
 *
 *   dnsbl_check [-c facteur.conf] [-v] client IP [--fcrdns] [--repeat N] [--cancel]
 *   dnsbl_check [-c facteur.conf] [-v] rhsbl SITES DOMAIN
 *   dnsbl_check [-c facteur.conf] [-v] lookup a|ptr|txt NAME
 *
 * client checks IP against dnsbl_sites (and its reverse DNS with
 * --fcrdns) and prints score, blocked, allowlisted, listed_by, tempfail,
 * fcrdns and client_name as name=value lines; --repeat checks N times in
 * the same process (the later ones come from the cache); --cancel first
 * starts a check and cancels it, once at once and once after a turn of
 * the loop (its callback must not run).  rhsbl prints
 * listed_by (empty when no zone listed DOMAIN) and tempfail.  lookup prints
 * status and one answer=TEXT line per record.  -v logs at debug level.
 * Exit status 0, 1 on a bad configuration or site list, 2 usage.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "policy/dnsbl.h"

static struct event_base *base;
static int answered;

static void
usage(void)
{
	fprintf(stderr, "usage: dnsbl_check [-c facteur.conf] [-v] client IP [--fcrdns] [--repeat N]"
	    " [--cancel]\n"
	    "       dnsbl_check [-c facteur.conf] [-v] rhsbl SITES DOMAIN\n"
	    "       dnsbl_check [-c facteur.conf] [-v] lookup a|ptr|txt NAME\n");
	exit(2);
}

static void
client_done(void *ctx, const struct dnsbl_result *r)
{
	printf("score=%g\nblocked=%d\nallowlisted=%d\nlisted_by=%s\ntempfail=%d\nfcrdns=%d\n"
	    "client_name=%s\n", r->score, r->blocked, r->allowlisted, r->listed_by, r->tempfail,
	    r->fcrdns, r->client_name);
	answered = 1;
	event_base_loopbreak(base);
}

static void
cancelled_done(void *ctx, const struct dnsbl_result *r)
{
	fatalx("the callback of a cancelled check ran");
}

static void
rhsbl_done(void *ctx, const char *zone, int tempfail)
{
	printf("listed_by=%s\ntempfail=%d\n", zone != NULL ? zone : "", tempfail);
	answered = 1;
	event_base_loopbreak(base);
}

static void
lookup_done(void *ctx, enum dns_status status, const char *const *answers, size_t n,
    const char *error)
{
	printf("status=%s\n", dns_status_str(status));
	if (error != NULL)
		printf("error=%s\n", error);
	for (size_t i = 0; i < n; i++)
		printf("answer=%s\n", answers[i]);
	answered = 1;
	event_base_loopbreak(base);
}

static void
run(void)
{
	answered = 0;
	event_base_dispatch(base);
	if (!answered)
		fatalx("the event loop ended without an answer");
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *error, *mode;
	int c, verbose = 0;

	while ((c = getopt(argc, argv, "+c:v")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage();
	mode = argv[0];
	log_init("dnsbl_check", 1);
	log_set_level_name(verbose ? "debug" : "warn");
	if (config_load(conf, &error) < 0) {
		fprintf(stderr, "dnsbl_check: %s\n", error);
		return 1;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if (strcmp(mode, "client") == 0) {
		int fcrdns = 0, repeat = 1, cancel = 0;

		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--fcrdns") == 0)
				fcrdns = 1;
			else if (strcmp(argv[i], "--cancel") == 0)
				cancel = 1;
			else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
				repeat = atoi(argv[++i]);
			else
				usage();
		}
		if (dnsbl_sites_check(var_dnsbl_sites, 1, &error) < 0) {
			fprintf(stderr, "dnsbl_check: dnsbl_sites: %s\n", error);
			return 1;
		}
		dns_init(base);
		if (cancel) {
			struct dnsbl_op *op = dnsbl_check_client(argv[1], fcrdns, cancelled_done, NULL);
			dnsbl_cancel(&op);
			if (op != NULL)
				fatalx("dnsbl_cancel left the operation");
			op = dnsbl_check_client(argv[1], fcrdns, cancelled_done, NULL);
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			dnsbl_cancel(&op);
		}
		for (int i = 0; i < repeat; i++) {
			dnsbl_check_client(argv[1], fcrdns, client_done, NULL);
			run();
		}
	} else if (strcmp(mode, "rhsbl") == 0) {
		if (argc != 3)
			usage();
		if (dnsbl_sites_check(argv[1], 0, &error) < 0) {
			fprintf(stderr, "dnsbl_check: %s\n", error);
			return 1;
		}
		dns_init(base);
		rhsbl_check(argv[1], argv[2], rhsbl_done, NULL);
		run();
	} else if (strcmp(mode, "lookup") == 0) {
		if (argc != 3)
			usage();
		dns_init(base);
		if (strcmp(argv[1], "a") == 0)
			dns_lookup_a(argv[2], lookup_done, NULL);
		else if (strcmp(argv[1], "ptr") == 0)
			dns_lookup_ptr(argv[2], lookup_done, NULL);
		else if (strcmp(argv[1], "txt") == 0)
			dns_lookup_txt(argv[2], lookup_done, NULL);
		else
			usage();
		run();
	} else {
		usage();
	}
	dnsbl_cache_clear();
	event_base_free(base);
	return 0;
}
