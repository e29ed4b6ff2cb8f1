/* SPDX-License-Identifier: MIT */
/*
 * fuzz_filter - libFuzzer target for the filter pipeline as smtpd runs it
 * on a message: the MIME parser, header decoding, the Received parser,
 * the evals' HTML, URI, date and address code, and the rules engine with
 * tests/fuzz/fuzz_filter.cf (rules of each kind and one for each eval
 * function of Debian's rule set but the network ones), compiled once at
 * start.  The message is fed line by line; antivirus, classifier, SPF,
 * DKIM and DMARC are off (they need a database or the network).
 */
#include "facteur-config.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/pipeline.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"

#ifndef FUZZ_FILTER_RULES
#error "FUZZ_FILTER_RULES: the path of tests/fuzz/fuzz_filter.cf"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct filter *filter;
static char dir[] = "/tmp/fuzz-filter.XXXXXX";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The spool and the compiled rules go with the process. */
static void
cleanup(void)
{
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char conf[256];
	const char *error;
	FILE *fp;

	if (mkdtemp(dir) == NULL)
		abort();
	atexit(cleanup);
	snprintf(conf, sizeof(conf), "%s/facteur.conf", dir);
	if ((fp = fopen(conf, "w")) == NULL)
		abort();
	fprintf(fp, "spool_directory = %s\nfilter_rules = %s\nfilter_rules_config =\n"
	    "filter_rules_cache = %s/rules-cache\nlog_level = error\n", dir, FUZZ_FILTER_RULES, dir);
	fclose(fp);
	log_init("fuzz_filter", 1);
	if (config_load(conf, &error) < 0) {
		fprintf(stderr, "fuzz_filter: %s\n", error);
		abort();
	}
	log_set_level_name(var_log_level);
	var_av_enable = 0;
	var_bayes_enable = 0;
	var_spf_enable = 0;
	var_dkim_verify = 0;
	var_dmarc_enable = 0;
	var_dkim_sign = 0;
	if (filter_new(&filter, &error) < 0) {
		fprintf(stderr, "fuzz_filter: %s\n", error);
		abort();
	}
	filter_wait_rules(filter);
	/* Without its rules the target would fuzz much less than it says. */
	if (!filter_rules_ready(filter)) {
		fprintf(stderr, "fuzz_filter: %s did not compile\n", FUZZ_FILTER_RULES);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpts[] = { "user@example.org" };
	struct filter_envelope env;
	struct filter_msg *m;

	if (filter == NULL)
		setup();
	memset(&env, 0, sizeof(env));
	env.qid = "FUZZ";
	env.client_addr = "192.0.2.25";
	env.helo = "mail.example.net";
	env.sender = "sender@example.net";
	env.rcpts = rcpts;
	env.nrcpts = 1;
	m = filter_msg_new(filter, &env);
	filter_msg_feed_lines(m, (const char *)data, size);
	(void)filter_msg_finish(m, (const char *)data, size);
	filter_msg_free(&m);
	return 0;
}
