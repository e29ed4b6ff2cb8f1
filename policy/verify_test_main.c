/* SPDX-License-Identifier: MIT */
/*
 * verify_test - probe recipients with policy/verify the way the policy
 * engine does, and print the answers (tests/integration/test_verify.py).
 *
 *   verify_test [-c facteur.conf] [-s STATE|-s none] [-x] NEXTHOP ADDR...
 *
 * Each address is probed in turn, one line each: "ADDR accepted|refused|
 * tempfail REPLY".  -s names the state backend of the cache (default:
 * policy_state of facteur.conf; "none": no cache).  -x cancels every probe
 * right after starting it and checks that no answer comes.  The resolver
 * is that of facteur.conf (dns_forwarder).  Exit status 0, 1 on a bad
 * configuration, 2 usage.
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
#include "policy/state.h"
#include "policy/verify.h"

static struct event_base *base;
static int answered;

static void
usage(void)
{
	fprintf(stderr, "usage: verify_test [-c facteur.conf] [-s STATE|none] [-x] NEXTHOP ADDR...\n");
	exit(2);
}

static void
done(void *ctx, int result, const char *reply)
{
	printf("%s %s %s\n", (const char *)ctx, result == VERIFY_ACCEPTED ? "accepted" :
	    result == VERIFY_REFUSED ? "refused" : "tempfail", reply);
	fflush(stdout);
	answered = 1;
	event_base_loopbreak(base);
}

/* Let the loop turn for a while: a cancelled probe must stay silent. */
static void
settle(void)
{
	struct timeval tv = { 1, 0 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *spec = NULL, *error;
	struct pstate *st = NULL;
	int ch, cancel = 0;

	while ((ch = getopt(argc, argv, "c:s:x")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 's': spec = optarg; break;
		case 'x': cancel = 1; break;
		default: usage();
		}
	}
	if (argc - optind < 2)
		usage();
	log_init("verify_test", 1);
	if (config_load(conf, &error) < 0) {
		fprintf(stderr, "verify_test: %s\n", error);
		return 1;
	}
	log_set_level_name(var_log_level);
	if ((base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	dns_init(base);
	if (spec == NULL || strcmp(spec, "none") != 0) {
		if ((st = pstate_open(base, spec, &error)) == NULL) {
			fprintf(stderr, "verify_test: %s\n", error);
			return 1;
		}
	}
	for (int i = optind + 1; i < argc; i++) {
		struct verify_op *op = verify_recipient(base, st, argv[optind], argv[i], done, argv[i]);

		answered = 0;
		if (cancel) {
			verify_cancel(&op);
			if (op != NULL)
				fatalx("verify_cancel left the op");
			settle();
			printf("%s %s\n", argv[i], answered ? "answered-after-cancel" : "cancelled");
			fflush(stdout);
			continue;
		}
		event_base_dispatch(base);
		if (!answered)
			fatalx("the event loop ended without an answer for %s", argv[i]);
	}
	/* Probes saying QUIT and cache writes finish before the exit. */
	settle();
	pstate_close(&st);
	event_base_free(base);
	return 0;
}
