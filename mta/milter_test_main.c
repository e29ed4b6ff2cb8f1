/* SPDX-License-Identifier: MIT */
/*
 * milter_test - play one SMTP transaction against the milters of
 * smtpd_milters, as smtpd would, and print each step's verdict and the
 * message as the milters changed it.  For tests and for checking a milter
 * set-up by hand:
 *
 *   milter_test -c facteur.conf [--ip ADDR] [--port N] [--name HOST]
 *       [--helo NAME] [--from SENDER] [--rcpt RCPT]... [--auth USER]
 *       [--qid ID] [--macro NAME=VALUE]... [--rset] [--transactions N] FILE
 *
 * FILE is the message (LF or CRLF lines).  --rset abandons a first
 * transaction after its recipients (RSET: milter_abort) before the real
 * one; --transactions plays the transaction N times in the session.
 * Output lines: "STEP: VERDICT [reply]", then "rcpt-added ADDR",
 * "rcpt-deleted ADDR", "sender ADDR" and, after "--- message", the
 * message of the last transaction as the milters changed it.
 */
#include "facteur-config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "milter_client.h"

#define RCPTS_MAX 64

static struct {
	struct event_base *base;
	struct milter_session *m;
	const char *from, *qid;
	const char *rcpts[RCPTS_MAX];
	size_t nrcpts, next_rcpt, accepted;
	char *msg;
	size_t msg_len;
	int rset, transactions;
} t;

static const char *
verdict_name(enum milter_verdict v)
{
	switch (v) {
	case MILTER_CONTINUE: return "continue";
	case MILTER_ACCEPT: return "accept";
	case MILTER_REJECT: return "reject";
	case MILTER_TEMPFAIL: return "tempfail";
	case MILTER_DISCARD: return "discard";
	case MILTER_QUARANTINE: return "quarantine";
	}
	return "?";
}

static void
print_reply(const char *step, const struct milter_reply *r)
{
	printf("%s: %s", step, verdict_name(r->verdict));
	if (r->verdict == MILTER_REJECT || r->verdict == MILTER_TEMPFAIL) {
		/* Multi-line replies on one output line. */
		printf(" ");
		for (const char *p = r->text; *p != '\0'; p++)
			if (*p != '\r')
				putchar(*p == '\n' ? '|' : *p);
	}
	if (r->verdict == MILTER_QUARANTINE)
		printf(" %s", r->reason);
	if (r->milter[0] != '\0')
		printf(" (milter %s)", r->milter);
	printf("\n");
	fflush(stdout);
}

static int
refused(const struct milter_reply *r)
{
	return r->verdict == MILTER_REJECT || r->verdict == MILTER_TEMPFAIL ||
	    r->verdict == MILTER_DISCARD;
}

static void start_transaction(void);

static void
finish(void)
{
	event_base_loopbreak(t.base);
}

static void
on_message(void *ctx, const struct milter_reply *r)
{
	const struct milter_mods *mods = milter_session_mods(t.m);
	const char **v;
	size_t n, len;
	char *out;

	print_reply("message", r);
	if (!refused(r)) {
		n = milter_mods_rcpt_added(mods, &v);
		for (size_t i = 0; i < n; i++)
			printf("rcpt-added %s\n", v[i]);
		n = milter_mods_rcpt_deleted(mods, &v);
		for (size_t i = 0; i < n; i++)
			printf("rcpt-deleted %s\n", v[i]);
		if (milter_mods_new_sender(mods) != NULL)
			printf("sender %s\n", milter_mods_new_sender(mods));
		/* The message once, after the last transaction. */
		if (t.transactions <= 1) {
			out = milter_mods_apply(mods, t.msg, t.msg_len, &len);
			printf("--- message\n");
			fwrite(out, 1, len, stdout);
			free(out);
		}
	}
	if (--t.transactions > 0) {
		start_transaction();
		return;
	}
	finish();
}

static void next_rcpt(void);
static void on_mail(void *ctx, const struct milter_reply *r);

static void
start_transaction(void)
{
	t.next_rcpt = 0;
	t.accepted = 0;
	milter_mail(t.m, t.from, NULL, on_mail, NULL);
}

static void
on_rcpt(void *ctx, const struct milter_reply *r)
{
	char step[1100];

	snprintf(step, sizeof(step), "rcpt %s", t.rcpts[t.next_rcpt - 1]);
	print_reply(step, r);
	if (r->verdict == MILTER_DISCARD) {
		finish();
		return;
	}
	if (r->verdict != MILTER_REJECT && r->verdict != MILTER_TEMPFAIL)
		t.accepted++;
	next_rcpt();
}

static void
next_rcpt(void)
{
	if (t.next_rcpt < t.nrcpts) {
		milter_rcpt(t.m, t.rcpts[t.next_rcpt++], on_rcpt, NULL);
		return;
	}
	if (t.rset) {
		t.rset = 0;
		printf("rset\n");
		milter_abort(t.m);
		start_transaction();
		return;
	}
	if (t.accepted == 0) {
		printf("no recipient accepted\n");
		finish();
		return;
	}
	milter_message(t.m, t.qid, t.msg, t.msg_len, on_message, NULL);
}

static void
on_mail(void *ctx, const struct milter_reply *r)
{
	print_reply("mail", r);
	if (refused(r)) {
		finish();
		return;
	}
	next_rcpt();
}

static void
on_helo(void *ctx, const struct milter_reply *r)
{
	print_reply("helo", r);
	if (refused(r)) {
		finish();
		return;
	}
	start_transaction();
}

/* The file with every line ending in CRLF, as smtpd queues messages. */
static char *
read_message(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *out = NULL;
	size_t n = 0, size = 0;
	int ch, prev = 0;

	if (f == NULL)
		fatal("cannot open %s", path);
	while ((ch = getc(f)) != EOF) {
		if (n + 3 > size) {
			size = size > 0 ? size * 2 : 65536;
			out = xrealloc(out, size);
		}
		if (ch == '\n' && prev != '\r')
			out[n++] = '\r';
		out[n++] = (char)ch;
		prev = ch;
	}
	fclose(f);
	if (out == NULL)
		out = xstrdup("");
	*len_r = n;
	return out;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "helo", required_argument, NULL, 'H' },
		{ "from", required_argument, NULL, 'f' },
		{ "rcpt", required_argument, NULL, 'r' },
		{ "auth", required_argument, NULL, 'a' },
		{ "qid", required_argument, NULL, 'q' },
		{ "macro", required_argument, NULL, 'm' },
		{ "rset", no_argument, NULL, 'R' },
		{ "transactions", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *ip = "127.0.0.1", *name = NULL, *helo = "client.test";
	const char *auth = NULL, *error;
	const char *macros[16];
	size_t nmacros = 0;
	int port = 40000, ch;

	t.from = "sender@example.org";
	t.qid = "4TEST000001";
	t.transactions = 1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'i': ip = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': name = optarg; break;
		case 'H': helo = optarg; break;
		case 'f': t.from = optarg; break;
		case 'r':
			if (t.nrcpts < RCPTS_MAX)
				t.rcpts[t.nrcpts++] = optarg;
			break;
		case 'a': auth = optarg; break;
		case 'q': t.qid = optarg; break;
		case 'm':
			if (nmacros < 16 && strchr(optarg, '=') != NULL)
				macros[nmacros++] = optarg;
			break;
		case 'R': t.rset = 1; break;
		case 'T': t.transactions = atoi(optarg); break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || t.nrcpts == 0)
		goto usage;
	log_init("milter_test", 1);
	if (config_load(conf, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	if (milter_config_check(&error) < 0)
		fatalx("%s", error);
	if (!milter_enabled())
		fatalx("smtpd_milters is empty in %s", conf != NULL ? conf : "the defaults");
	signal(SIGPIPE, SIG_IGN);
	t.msg = read_message(argv[optind], &t.msg_len);
	t.base = event_base_new();
	if (t.base == NULL)
		fatalx("cannot create the event loop");
	t.m = milter_session_new(t.base, ip, port, name, NULL);
	if (auth != NULL) {
		milter_session_set_macro(t.m, "{auth_type}", "PLAIN");
		milter_session_set_macro(t.m, "{auth_authen}", auth);
	}
	for (size_t i = 0; i < nmacros; i++) {
		char *nv = xstrdup(macros[i]), *eq = strchr(nv, '=');
		*eq = '\0';
		milter_session_set_macro(t.m, nv, eq + 1);
		free(nv);
	}
	milter_helo(t.m, helo, on_helo, NULL);
	event_base_dispatch(t.base);
	milter_session_free(&t.m);
	event_base_free(t.base);
	free(t.msg);
	return 0;
usage:
	fprintf(stderr, "usage: milter_test -c facteur.conf [--ip ADDR] [--port N] [--name HOST] "
	    "[--helo NAME] [--from SENDER] --rcpt RCPT... [--auth USER] [--qid ID] "
	    "[--macro NAME=VALUE]... [--rset] [--transactions N] FILE\n");
	return 2;
}
