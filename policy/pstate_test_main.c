/* SPDX-License-Identifier: MIT */
/*
 * pstate_test - drive policy/state.h, greylist.h and ratelimit.h from
 * stdin, one command a line, one answer a line, for the integration
 * tests (which need a real Redis and several processes):
 *
 *   pstate_test [-c facteur.conf] [-v] SPEC
 *
 *   incr KEY DELTA TTL       ok VALUE | error
 *   get KEY                  ok VALUE | absent | error
 *   set KEY VALUE TTL        ok | error
 *   add KEY VALUE TTL        added | exists VALUE | error
 *   cancel KEY               ok  (an incr of KEY cancelled at once; the
 *                            answer comes a loop turn later)
 *   greylist IP SENDER RCPT  pass | defer SECONDS | error  (SENDER <> is null)
 *   rate KIND KEY LIMIT N    ok over=0|1 value=V retry=R | error  (LIMIT - is none)
 *   expire                   ok ROWS
 *   backend                  sqlite | redis
 *
 * Commands run one at a time; the answer of each is printed when its
 * callback ran.  Exit 0 at the end of the input, 2 on a bad command line.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "policy/greylist.h"
#include "policy/ratelimit.h"
#include "policy/state.h"

struct driver {
	struct event_base *base;
	struct pstate *st;
	struct bufferevent *in;
	struct event *turn;	/* "cancel": answer a loop turn later */
	int busy, eof;
};

static void next_command(struct driver *d);

static void
answer(struct driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
answer(struct driver *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	d->busy = 0;
	next_command(d);
}

static void
incr_done(void *ctx, int status, long long value)
{
	if (status < 0)
		answer(ctx, "error");
	else
		answer(ctx, "ok %lld", value);
}

static void
get_done(void *ctx, int status, int found, long long value)
{
	if (status < 0)
		answer(ctx, "error");
	else if (found)
		answer(ctx, "ok %lld", value);
	else
		answer(ctx, "absent");
}

static void
set_done(void *ctx, int status)
{
	answer(ctx, status < 0 ? "error" : "ok");
}

static void
add_done(void *ctx, int status, int found, long long value)
{
	if (status < 0)
		answer(ctx, "error");
	else if (found)
		answer(ctx, "exists %lld", value);
	else
		answer(ctx, "added");
}

static void
never(void *ctx, int status, long long value)
{
	printf("BUG: a cancelled op answered\n");
	fflush(stdout);
	exit(3);
}

static void
turn_done(evutil_socket_t fd, short what, void *arg)
{
	answer(arg, "ok");
}

static void
greylist_done(void *ctx, enum greylist_result r, long remaining)
{
	if (r == GREYLIST_PASS)
		answer(ctx, "pass");
	else if (r == GREYLIST_DEFER)
		answer(ctx, "defer %ld", remaining);
	else
		answer(ctx, "error");
}

static void
rate_done(void *ctx, int status, int over, long long value, long retry)
{
	if (status < 0)
		answer(ctx, "error");
	else
		answer(ctx, "ok over=%d value=%lld retry=%ld", over, value, retry);
}

/* Split line into at most max words; returns how many. */
static int
split(char *line, char **w, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(line, " \t", &save); t != NULL && n < max;
	    t = strtok_r(NULL, " \t", &save))
		w[n++] = t;
	return t == NULL ? n : max + 1;
}

static void
run(struct driver *d, char *line)
{
	char *w[6];
	int n = split(line, w, 5);
	struct pstate_op *op;

	d->busy = 1;
	if (n == 0) {
		answer(d, "error empty command");
	} else if (strcmp(w[0], "incr") == 0 && n == 4) {
		pstate_incr(d->st, w[1], atoll(w[2]), atol(w[3]), incr_done, d);
	} else if (strcmp(w[0], "get") == 0 && n == 2) {
		pstate_get(d->st, w[1], get_done, d);
	} else if (strcmp(w[0], "set") == 0 && n == 4) {
		pstate_set(d->st, w[1], atoll(w[2]), atol(w[3]), set_done, d);
	} else if (strcmp(w[0], "add") == 0 && n == 4) {
		pstate_add(d->st, w[1], atoll(w[2]), atol(w[3]), add_done, d);
	} else if (strcmp(w[0], "cancel") == 0 && n == 2) {
		op = pstate_incr(d->st, w[1], 1, 0, never, d);
		pstate_cancel(&op);
		event_active(d->turn, EV_TIMEOUT, 0);
	} else if (strcmp(w[0], "greylist") == 0 && n == 4) {
		greylist_check(d->st, w[1], strcmp(w[2], "<>") == 0 ? "" : w[2], w[3], greylist_done, d);
	} else if (strcmp(w[0], "rate") == 0 && n == 5) {
		ratelimit_hit(d->st, w[1], w[2], strcmp(w[3], "-") == 0 ? "" : w[3], atol(w[4]),
		    rate_done, d);
	} else if (strcmp(w[0], "expire") == 0 && n == 1) {
		answer(d, "ok %ld", pstate_expire(d->st));
	} else if (strcmp(w[0], "backend") == 0 && n == 1) {
		answer(d, "%s", pstate_backend(d->st));
	} else {
		answer(d, "error unknown command");
	}
}

static void
next_command(struct driver *d)
{
	char *line;

	while (!d->busy) {
		line = evbuffer_readln(bufferevent_get_input(d->in), NULL, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (d->eof)
				event_base_loopbreak(d->base);
			return;
		}
		run(d, line);
		free(line);
	}
}

static void
readable(struct bufferevent *bev, void *arg)
{
	next_command(arg);
}

static void
in_event(struct bufferevent *bev, short what, void *arg)
{
	struct driver *d = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		d->eof = 1;
		next_command(d);
	}
}

int
main(int argc, char **argv)
{
	struct driver d = { 0 };
	const char *conf = NULL, *error;
	int ch;

	log_init("pstate_test", 1);
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "c:v")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	if (config_load(conf, &error) < 0)
		fatalx("%s", error);
	d.base = event_base_new();
	if ((d.st = pstate_open(d.base, argv[optind], &error)) == NULL)
		fatalx("policy_state %s: %s", argv[optind], error);
	d.turn = evtimer_new(d.base, turn_done, &d);
	d.in = bufferevent_socket_new(d.base, STDIN_FILENO, 0);
	bufferevent_setcb(d.in, readable, NULL, in_event, &d);
	bufferevent_enable(d.in, EV_READ);
	event_base_dispatch(d.base);
	bufferevent_free(d.in);
	event_free(d.turn);
	pstate_close(&d.st);
	event_base_free(d.base);
	return 0;
usage:
	fprintf(stderr, "usage: pstate_test [-c facteur.conf] [-v] sqlite:PATH|redis:HOST:PORT|"
	    "redis:unix:PATH < commands\n");
	return 2;
}
