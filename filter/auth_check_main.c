/* SPDX-License-Identifier: MIT */
/*
 * auth_check - run the sender authentication of filter/auth on a message
 * file, as the pipeline would, and print what it found.
 *
 *   auth_check [-c facteur.conf] [--ip A] [--helo H] [--from S] [--trusted]
 *              [--threads N] FILE
 *   auth_check [-c facteur.conf] --sign DOMAIN[/SELECTOR] FILE
 *
 * Verifying prints the Authentication-Results field, the result fields
 * (name=value), the SpamAssassin evals that hit (eval NAME) and the
 * symbols (symbol NAME SCORE DETAIL).  Signing prints the signed message:
 * the DKIM-Signature field, then the message.  With --threads, N threads
 * share the context and check the message again, as the worker pool
 * would: any Authentication-Results different from the first is a
 * failure.  Bare LF line ends of FILE become CRLF, as in the queue.  Exit
 * status 0, 1 on failure, 2 usage.
 */
#include "facteur-config.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/auth.h"
#include "filter/verdict.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"

static const char *const evals[] = {
	"check_for_spf_pass", "check_for_spf_fail", "check_for_spf_softfail", "check_for_spf_neutral",
	"check_for_spf_none", "check_for_spf_temperror", "check_for_spf_permerror",
	"check_for_spf_helo_pass", "check_for_spf_helo_fail", "check_for_spf_helo_softfail",
	"check_for_spf_helo_neutral", "check_for_spf_helo_none", "check_for_spf_helo_temperror",
	"check_for_spf_helo_permerror", "check_dkim_signed", "check_dkim_valid",
	"check_dkim_valid_author_sig", "check_dkim_valid_envelopefrom", "check_dmarc_pass",
	"check_dmarc_reject", "check_dmarc_quarantine", "check_dmarc_none", "check_dmarc_missing",
	"check_arc_signed", "check_arc_valid",
};

#define THREAD_ROUNDS 4

struct worker {
	pthread_t thread;
	struct auth_ctx *ctx;
	const struct auth_request *req;
	const char *expected;
	int mismatches;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < THREAD_ROUNDS; i++) {
		struct auth_result res;
		struct verdict v;

		verdict_init(&v);
		auth_verify(w->ctx, w->req, &v, &res);
		if (strcmp(res.authentication_results, w->expected) != 0)
			w->mismatches++;
		auth_result_free(&res);
		verdict_free(&v);
	}
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: auth_check [-c facteur.conf] [--ip A] [--helo H] [--from S] [--trusted]\n"
	    "                  [--threads N] FILE\n"
	    "       auth_check [-c facteur.conf] --sign DOMAIN[/SELECTOR] FILE\n");
	exit(2);
}

/* The file with CRLF line ends. */
static char *
read_message(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n = 0, cap = 65536;
	int c, prev = 0;

	if (f == NULL)
		return NULL;
	buf = xmalloc(cap);
	while ((c = getc(f)) != EOF) {
		if (n + 3 >= cap)
			buf = xrealloc(buf, cap *= 2);
		if (c == '\n' && prev != '\r')
			buf[n++] = '\r';
		buf[n++] = (char)c;
		prev = c;
	}
	fclose(f);
	buf[n] = '\0';
	*len_r = n;
	return buf;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "helo", required_argument, NULL, 'h' },
		{ "from", required_argument, NULL, 'f' },
		{ "sign", required_argument, NULL, 's' },
		{ "trusted", no_argument, NULL, 't' },
		{ "threads", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct auth_request req = { .client_addr = "192.0.2.1", .helo = "", .mail_from = "" };
	const char *conf = NULL, *sign = NULL, *error;
	struct auth_ctx *ctx;
	struct auth_result res;
	struct verdict v;
	char *msg;
	size_t len;
	int c, rc, nthreads = 0;

	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'i': req.client_addr = optarg; break;
		case 'h': req.helo = optarg; break;
		case 'f': req.mail_from = optarg; break;
		case 's': sign = optarg; break;
		case 't': req.trusted = 1; break;
		case 'T': nthreads = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind + 1 != argc)
		usage();
	log_init("auth_check", 1);
	log_set_level_name(getenv("AUTH_CHECK_DEBUG") != NULL ? "debug" : "warn");
	if (config_load(conf, &error) < 0) {
		fprintf(stderr, "auth_check: %s\n", error);
		return 1;
	}
	if ((msg = read_message(argv[optind], &len)) == NULL) {
		perror(argv[optind]);
		return 1;
	}
	if (auth_ctx_new(&ctx, &error) < 0) {
		fprintf(stderr, "auth_check: %s\n", error);
		return 1;
	}
	if (sign != NULL) {
		char *sig = auth_dkim_sign(ctx, sign, msg, len, &error);
		if (sig == NULL) {
			fprintf(stderr, "auth_check: %s\n", error);
			rc = 1;
		} else {
			fputs(sig, stdout);
			fwrite(msg, 1, len, stdout);
			free(sig);
			rc = 0;
		}
	} else {
		req.message = msg;
		req.message_len = len;
		verdict_init(&v);
		rc = auth_verify(ctx, &req, &v, &res) < 0;
		fputs(res.authentication_results, stdout);
		printf("spf=%s\nspf_helo=%s\ndkim_signed=%d\ndkim_valid=%d\ndkim_valid_author=%d\n"
		    "dmarc=%s\ndmarc_policy=%s\ndmarc_disposition=%s\nfrom_domain=%s\n",
		    res.spf, res.spf_helo, res.dkim_signed, res.dkim_valid, res.dkim_valid_author, res.dmarc,
		    res.dmarc_policy, res.dmarc_disposition == AUTH_DMARC_REJECT ? "reject" :
		    res.dmarc_disposition == AUTH_DMARC_QUARANTINE ? "quarantine" : "none",
		    res.from_domain != NULL ? res.from_domain : "");
		for (size_t i = 0; i < sizeof(evals) / sizeof(evals[0]); i++)
			if (auth_sa_eval(&res, evals[i], "") == 1)
				printf("eval %s\n", evals[i]);
		for (size_t i = 0; i < v.nsyms; i++)
			printf("symbol %s %g %s\n", v.syms[i].name, v.syms[i].score,
			    v.syms[i].detail != NULL ? v.syms[i].detail : "");
		if (nthreads > 0) {
			struct worker *w = xcalloc((size_t)nthreads, sizeof(*w));
			int mismatches = 0;
			for (int i = 0; i < nthreads; i++) {
				w[i] = (struct worker){ .ctx = ctx, .req = &req, .expected = res.authentication_results };
				if (pthread_create(&w[i].thread, NULL, worker_run, &w[i]) != 0)
					fatal("pthread_create");
			}
			for (int i = 0; i < nthreads; i++) {
				pthread_join(w[i].thread, NULL);
				mismatches += w[i].mismatches;
			}
			printf("threads %d x %d: %d different\n", nthreads, THREAD_ROUNDS, mismatches);
			if (mismatches > 0)
				rc = 1;
			free(w);
		}
		auth_result_free(&res);
		verdict_free(&v);
	}
	auth_ctx_free(&ctx);
	free(msg);
	return rc;
}
