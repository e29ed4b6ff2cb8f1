/* SPDX-License-Identifier: MIT */
/*
 * filter_test - run the before-queue filter on message files, as smtpd
 * would, and print the symbols of each: for comparing facteur's verdicts
 * with SpamAssassin's (tests/integration/test_agreement.py).
 *
 *   filter_test [-c facteur.conf] [--ip A] [--helo H] [--from S]
 *               [--rcpt R]... [--return-path] [--uris] [--text] FILE...
 *   filter_test [-c facteur.conf] --list-rules
 *
 * The rules are loaded once (filter_wait_rules), then each file is fed
 * line by line and finished.  Bare LF line ends become CRLF, as in the
 * queue; an mbox "From " first line is skipped by the parser.  With
 * --return-path the envelope sender of each file is the address of its
 * Return-Path field ("" when it has none), which is what SpamAssassin's
 * `envelope_sender_header Return-Path` makes its EnvelopeFrom.  Output,
 * per file: "file PATH", then "NAME SCORE" per symbol, then
 * "score S action A".  With --uris, "uri U" lines after "file" give the list
 * of URIs the uri rules were matched against (SpamAssassin's
 * get_uri_list(), tests/integration/sa_lists.pl prints its own); with
 * --text, "text N" and the N bytes of the body text body rules read
 * (get_decoded_stripped_body_text_array() joined, its first 256 KB).
 *
 * --list-rules prints "NAME yes" or "NAME no WHY" for every rule with a
 * test: no when it is an eval nothing answers here (the network, the
 * classifier, SPF/DKIM/DMARC when they are off, a function or argument
 * eval does not implement) or a meta rule that uses such a rule; what a
 * comparison with SpamAssassin can fairly count.  Exit status 0, 1 on
 * error, 2 usage.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/eval.h"
#include "filter/pipeline.h"
#include "filter/sa_rules.h"
#include "filter/strbuf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"

static void
usage(void)
{
	fprintf(stderr, "usage: filter_test [-c facteur.conf] [--ip A] [--helo H] [--from S] "
	    "[--rcpt R]... [--return-path] [--uris] [--text] FILE...\n");
	exit(2);
}

/* filter_msg_on_uri(): "uri U" lines, printed after "file PATH" */
static void
add_uri(void *ctx, const char *uri, size_t len)
{
	struct strbuf *b = ctx;

	strbuf_append(b, "uri ", 4);
	strbuf_append(b, uri, len);
	strbuf_putc(b, '\n');
}

static int
load_item(const char *item, void *ctx)
{
	const char *error;
	size_t n = strlen(item);

	if (n > 3 && strcmp(item + n - 3, ".cf") == 0)
		(void)sa_rules_load_file(ctx, item, &error);
	else
		(void)sa_rules_load_dir(ctx, item, ".cf", &error);
	return 0;
}

/*
 * Names of `mimeheader` rules: sa_rules keeps them as configuration lines
 * and nothing evaluates them, while SpamAssassin (MIMEHeader plugin) does.
 */
static char **mimeheader_names;
static size_t nmimeheader_names;

static void
collect_mimeheader(const struct sa_rules *sa)
{
	for (unsigned int i = 0; i < sa_rules_config_count(sa); i++) {
		const struct sa_config_line *l = sa_rules_config(sa, i);
		size_t n;
		if (strcmp(l->key, "mimeheader") != 0 || l->value == NULL)
			continue;
		n = strcspn(l->value, " \t");
		mimeheader_names = xrealloc(mimeheader_names,
		    (nmimeheader_names + 1) * sizeof(*mimeheader_names));
		mimeheader_names[nmimeheader_names++] = xstrndup(l->value, n);
	}
}

static int
is_mimeheader(const char *name)
{
	for (size_t i = 0; i < nmimeheader_names; i++)
		if (strcmp(mimeheader_names[i], name) == 0)
			return 1;
	return 0;
}

/* Why rule i cannot be compared, or NULL; memo: 0 unknown, 1 yes, 2 no, 3 visiting. */
static const char *
rule_missing(struct sa_rules *sa, struct eval_msg *probe, unsigned int i, char *memo,
    const char **why)
{
	const struct sa_rule *r = sa_rules_get(sa, i);

	if (memo[i] == 1 || memo[i] == 3)
		return NULL;
	if (memo[i] == 2)
		return why[i];
	memo[i] = 3;
	why[i] = NULL;
	if (r->eval != NULL) {
		const char *o = eval_function_owner(r->eval);
		int auth_on = var_spf_enable || var_dkim_verify || var_dmarc_enable;
		if (o == NULL)
			why[i] = "eval not implemented";
		else if (strcmp(o, "network") == 0)
			why[i] = "eval needs the network";
		else if (strcmp(o, "bayes") == 0 && !var_bayes_enable)
			why[i] = "classifier off";
		else if (strcmp(o, "auth") == 0 && !auth_on)
			why[i] = "SPF/DKIM/DMARC off";
		else if (strcmp(o, "eval") == 0 &&
		    eval_sa(probe, r->eval, r->eval_args != NULL ? r->eval_args : "") < 0)
			why[i] = "eval arguments not implemented";
	} else if (r->type == SA_RULE_META && r->meta != NULL) {
		const char *p = r->meta;
		while (*p != '\0' && why[i] == NULL) {
			char name[160];
			size_t n = 0;
			int idx;
			if (!(isalpha((unsigned char)*p) || *p == '_')) {
				p++;
				continue;
			}
			while (isalnum((unsigned char)*p) || *p == '_') {
				if (n + 1 < sizeof(name))
					name[n++] = *p;
				p++;
			}
			name[n] = '\0';
			if ((idx = sa_rules_find(sa, name)) < 0 || !sa_rules_get(sa, (unsigned int)idx)->defined) {
				if (is_mimeheader(name))
					why[i] = "meta uses a mimeheader rule (not evaluated)";
				continue;	/* SpamAssassin reads an unknown name as 0 */
			}
			if (rule_missing(sa, probe, (unsigned int)idx, memo, why) != NULL)
				why[i] = "meta uses a rule not compared";
		}
	}
	memo[i] = why[i] != NULL ? 2 : 1;
	return why[i];
}

static int
list_rules(void)
{
	struct sa_rules *sa = sa_rules_new();
	struct eval_msg probe;
	const char *error;
	unsigned int n;
	char *memo;
	const char **why;

	memset(&probe, 0, sizeof(probe));
	probe.sender = "";
	probe.message = "";
	probe.body = "";
	if (var_filter_rules_config[0] != '\0')
		(void)sa_rules_load_dir(sa, var_filter_rules_config, ".pre", &error);
	config_list_foreach(var_filter_rules, load_item, sa);
	if (var_filter_rules_config[0] != '\0')
		(void)sa_rules_load_dir(sa, var_filter_rules_config, ".cf", &error);
	sa_rules_finish(sa);
	probe.config = eval_config_new(sa);
	collect_mimeheader(sa);
	n = sa_rules_count(sa);
	memo = xcalloc(n + 1, 1);
	why = xcalloc(n + 1, sizeof(*why));
	for (unsigned int i = 0; i < n; i++) {
		const struct sa_rule *r = sa_rules_get(sa, i);
		const char *w;
		if (!r->defined)
			continue;
		w = rule_missing(sa, &probe, i, memo, why);
		if (w == NULL)
			printf("%s yes\n", r->name);
		else
			printf("%s no %s\n", r->name, w);
	}
	eval_msg_clear(&probe);
	eval_config_free((struct eval_config **)&probe.config);
	free(memo);
	free(why);
	for (size_t i = 0; i < nmimeheader_names; i++)
		free(mimeheader_names[i]);
	free(mimeheader_names);
	sa_rules_free(&sa);
	return 0;
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
		{ "list-rules", no_argument, NULL, 'L' },
		{ "uris", no_argument, NULL, 'U' },
		{ "text", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	struct filter_envelope env = { .client_addr = "192.0.2.1", .helo = "client.example",
		.sender = "" };
	const char **rcpts = NULL;
	const char *conf = NULL, *error;
	struct filter *f;
	int c, use_return_path = 0, list = 0, print_uris = 0, print_text = 0, rc = 0;
	struct strbuf uris = { NULL, 0, 0 };

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
		case 'L': list = 1; break;
		case 'U': print_uris = 1; break;
		case 'T': print_text = 1; break;
		default: usage();
		}
	}
	if (optind >= argc && !list)
		usage();
	env.rcpts = rcpts;
	log_init("filter_test", 1);
	log_set_level_name(getenv("FILTER_TEST_DEBUG") != NULL ? "debug" : "warn");
	if (config_load(conf, &error) < 0) {
		fprintf(stderr, "filter_test: %s\n", error);
		return 1;
	}
	if (list)
		return list_rules();
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
		if (print_uris)
			filter_msg_on_uri(m, add_uri, &uris);
		r = filter_msg_finish(m, msg, len);
		printf("file %s\n", argv[i]);
		if (uris.len > 0)
			fwrite(uris.data, 1, uris.len, stdout);
		strbuf_reset(&uris);
		if (print_text) {
			size_t tl;
			const char *t = filter_msg_body_text(m, &tl);
			printf("text %zu\n", tl);
			fwrite(t, 1, tl, stdout);
			putchar('\n');
		}
		for (size_t k = 0; k < r->verdict->nsyms; k++)
			printf("%s %g\n", r->verdict->syms[k].name, r->verdict->syms[k].score);
		printf("score %.2f action %s\n", r->score, filter_action_name(r->action));
		fflush(stdout);
		filter_msg_free(&m);
		free(msg);
	}
	filter_free(&f);
	strbuf_free(&uris);
	free(rcpts);
	return rc;
}
