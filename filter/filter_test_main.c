/* SPDX-License-Identifier: MIT */
/*
 * filter_test - run the before-queue filter on message files, as smtpd
 * would, and print the symbols of each: for comparing facteur's verdicts
 * with SpamAssassin's (tests/integration/test_agreement.py).
 *
 *   filter_test [-c facteur.conf] [--ip A] [--helo H] [--from S]
 *               [--rcpt R]... [--return-path] FILE...
 *
 * The rules are loaded once (filter_wait_rules), then each file is fed
 * line by line and finished.  Bare LF line ends become CRLF, as in the
 * queue; an mbox "From " first line is skipped by the parser.  With
 * --return-path the envelope sender of each file is the address of its
 * Return-Path field ("" when it has none), which is what SpamAssassin's
 * `envelope_sender_header Return-Path` makes its EnvelopeFrom.  Output,
 * per file: "file PATH", then "NAME SCORE" per symbol, then
 * "score S action A".  Exit status 0, 1 on error, 2 usage.
 */
#include "facteur-config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/pipeline.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"

static void
usage(void)
{
	fprintf(stderr, "usage: filter_test [-c facteur.conf] [--ip A] [--helo H] [--from S] "
	    "[--rcpt R]... [--return-path] FILE...\n");
	exit(2);
}

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

/* The address of the first Return-Path field in the header block, or "". */
static void
return_path(const char *msg, size_t len, char *out, size_t size)
{
	const char *p = msg, *end = msg + len;

	out[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		if (e - p <= 1)
			break;	/* the empty line */
		if ((size_t)(e - p) > 12 && str_ncasecmp(p, "Return-Path:", 12) == 0) {
			const char *lt = memchr(p, '<', (size_t)(e - p)), *gt, *s = p + 12;
			size_t n;
			if (lt != NULL && (gt = memchr(lt, '>', (size_t)(e - lt))) != NULL) {
				s = lt + 1;
				e = gt;
			}
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
				e--;
			n = (size_t)(e - s) < size - 1 ? (size_t)(e - s) : size - 1;
			memcpy(out, s, n);
			out[n] = '\0';
			return;
		}
		p = e + 1;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "helo", required_argument, NULL, 'h' },
		{ "from", required_argument, NULL, 'f' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "return-path", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	struct filter_envelope env = { .client_addr = "192.0.2.1", .helo = "client.example",
		.sender = "" };
	const char **rcpts = NULL;
	const char *conf = NULL, *error;
	struct filter *f;
	int c, use_return_path = 0, rc = 0;

	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'i': env.client_addr = optarg; break;
		case 'h': env.helo = optarg; break;
		case 'f': env.sender = optarg; break;
		case 'r':
			rcpts = xrealloc(rcpts, (env.nrcpts + 1) * sizeof(*rcpts));
			rcpts[env.nrcpts++] = optarg;
			break;
		case 'R': use_return_path = 1; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	env.rcpts = rcpts;
	log_init("filter_test", 1);
	log_set_level_name(getenv("FILTER_TEST_DEBUG") != NULL ? "debug" : "warn");
	if (config_load(conf, &error) < 0) {
		fprintf(stderr, "filter_test: %s\n", error);
		return 1;
	}
	if (filter_new(&f, &error) < 0) {
		fprintf(stderr, "filter_test: %s\n", error);
		return 1;
	}
	filter_wait_rules(f);
	for (int i = optind; i < argc; i++) {
		const struct filter_result *r;
		struct filter_msg *m;
		char sender[512];
		size_t len;
		char *msg = read_message(argv[i], &len);

		if (msg == NULL) {
			perror(argv[i]);
			rc = 1;
			continue;
		}
		if (use_return_path) {
			return_path(msg, len, sender, sizeof(sender));
			env.sender = sender;
		}
		env.qid = argv[i];
		m = filter_msg_new(f, &env);
		/* line by line, as smtpd feeds it */
		for (size_t off = 0; off < len;) {
			const char *nl = memchr(msg + off, '\n', len - off);
			size_t n = nl != NULL ? (size_t)(nl - (msg + off)) + 1 : len - off;
			filter_msg_feed(m, msg + off, n);
			off += n;
		}
		r = filter_msg_finish(m, msg, len);
		printf("file %s\n", argv[i]);
		for (size_t k = 0; k < r->verdict->nsyms; k++)
			printf("%s %g\n", r->verdict->syms[k].name, r->verdict->syms[k].score);
		printf("score %.2f action %s\n", r->score, filter_action_name(r->action));
		fflush(stdout);
		filter_msg_free(&m);
		free(msg);
	}
	filter_free(&f);
	free(rcpts);
	return rc;
}
