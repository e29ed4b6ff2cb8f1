/* SPDX-License-Identifier: MIT */
/*
 * greylist - triplets in a pstate.  See greylist.h.
 *
 * Two keys:
 *   gl:t:NET:SENDER:RCPT  the triplet: its first-seen time while it waits
 *                         (ttl greylist_retry_window), then minus the time
 *                         it last passed (ttl greylist_lifetime, renewed)
 *   gl:ok:NET             triplets of NET that passed (ttl greylist_lifetime)
 * A check is at most two round trips: the network's count (only when
 * auto-allow is on), then an add of the triplet that answers its state
 * and records a new one in the same step.  Updates after a pass are sent
 * without waiting for them.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "policy/greylist.h"
#include "policy/state.h"

#define ADDR_MAX 512

struct greylist_op {
	struct pstate *st;
	greylist_cb *cb;
	void *ctx;
	char *okkey;		/* gl:ok:NET */
	char *tkey;		/* gl:t:NET:SENDER:RCPT */
	struct pstate_op *sop;
	struct event *later;	/* answers without the backend */
	enum greylist_result result;
	long remaining;
};

static void
op_free(struct greylist_op *op)
{
	pstate_cancel(&op->sop);
	if (op->later != NULL)
		event_free(op->later);
	free(op->okkey);
	free(op->tkey);
	free(op);
}

static void
finish(struct greylist_op *op, enum greylist_result result, long remaining)
{
	greylist_cb *cb = op->cb;
	void *ctx = op->ctx;

	op_free(op);
	cb(ctx, result, remaining);
}

static void
later_fire(evutil_socket_t fd, short what, void *arg)
{
	struct greylist_op *op = arg;

	finish(op, op->result, op->remaining);
}

static struct greylist_op *
finish_later(struct greylist_op *op, enum greylist_result result, long remaining)
{
	op->result = result;
	op->remaining = remaining;
	op->later = evtimer_new(pstate_event_base(op->st), later_fire, op);
	event_active(op->later, EV_TIMEOUT, 0);
	return op;
}

static void
triplet_done(void *ctx, int status, int found, long long value)
{
	struct greylist_op *op = ctx;
	long long now = (long long)time(NULL), elapsed;

	op->sop = NULL;
	if (status < 0) {
		finish(op, GREYLIST_ERROR, 0);
		return;
	}
	if (!found) {
		log_debug("greylist %s: new", op->tkey);
		finish(op, GREYLIST_DEFER, var_greylist_delay);
		return;
	}
	if (value < 0) {
		/* Passed before: remembered for greylist_lifetime from this use. */
		pstate_set(op->st, op->tkey, -now, var_greylist_lifetime, NULL, NULL);
		finish(op, GREYLIST_PASS, 0);
		return;
	}
	elapsed = now - value;
	if (elapsed < 0)
		elapsed = 0;	/* another relay's clock is ahead of ours */
	if (elapsed < var_greylist_delay) {
		finish(op, GREYLIST_DEFER, (long)(var_greylist_delay - elapsed));
		return;
	}
	log_debug("greylist %s: passed after %lld s", op->tkey, elapsed);
	pstate_set(op->st, op->tkey, -now, var_greylist_lifetime, NULL, NULL);
	if (var_greylist_auto_allow > 0)
		pstate_incr(op->st, op->okkey, 1, var_greylist_lifetime, NULL, NULL);
	finish(op, GREYLIST_PASS, 0);
}

static void
network_done(void *ctx, int status, int found, long long value)
{
	struct greylist_op *op = ctx;

	op->sop = NULL;
	if (status < 0) {
		finish(op, GREYLIST_ERROR, 0);
		return;
	}
	if (found && value >= var_greylist_auto_allow) {
		log_debug("greylist %s: network allowed (%lld triplets passed)", op->okkey, value);
		finish(op, GREYLIST_PASS, 0);
		return;
	}
	op->sop = pstate_add(op->st, op->tkey, (long long)time(NULL), var_greylist_retry_window,
	    triplet_done, op);
}

struct greylist_op *
greylist_check(struct pstate *st, const char *client_ip, const char *sender, const char *rcpt,
    greylist_cb *cb, void *ctx)
{
	struct greylist_op *op = xcalloc(1, sizeof(*op));
	char net[80], from[ADDR_MAX], to[ADDR_MAX];

	op->st = st;
	op->cb = cb;
	op->ctx = ctx;
	if (pstate_client_net(client_ip, (int)var_greylist_ipv4_prefix,
	    (int)var_greylist_ipv6_prefix, net, sizeof(net)) < 0) {
		log_warnx("greylist: client address \"%s\" is not an IP address (or greylist_ipv4_prefix "
		    "or greylist_ipv6_prefix is out of range): not greylisted", client_ip);
		return finish_later(op, GREYLIST_ERROR, 0);
	}
	greylist_normalize_sender(sender, from, sizeof(from));
	str_copy(to, rcpt != NULL ? rcpt : "", sizeof(to));
	str_lower(to);
	op->okkey = xasprintf("gl:ok:%s", net);
	op->tkey = xasprintf("gl:t:%s:%s:%s", net, from, to);
	if (var_greylist_auto_allow > 0)
		op->sop = pstate_get(st, op->okkey, network_done, op);
	else
		op->sop = pstate_add(st, op->tkey, (long long)time(NULL), var_greylist_retry_window,
		    triplet_done, op);
	return op;
}

void
greylist_cancel(struct greylist_op **opp)
{
	if (*opp == NULL)
		return;
	op_free(*opp);
	*opp = NULL;
}

/*
 * Skip a tag ending with sep (one or more characters) at the start of s:
 * the text after it, or NULL.
 */
static const char *
after(const char *s, const char *sep)
{
	const char *p = strstr(s, sep);

	return p != NULL ? p + strlen(sep) : NULL;
}

/* SRS separators: '=', '+' or '-' after "srs0" / "srs1". */
static int
srs_sep(char c)
{
	return c == '=' || c == '+' || c == '-';
}

void
greylist_normalize_sender(const char *sender, char *out, size_t size)
{
	char buf[ADDR_MAX], *at;
	const char *local, *rest, *p;
	char *hash_end;

	if (size == 0)
		return;
	if (sender == NULL || sender[0] == '\0' || strcmp(sender, "<>") == 0) {
		str_copy(out, "<>", size);
		return;
	}
	str_copy(buf, sender, sizeof(buf));
	str_lower(buf);
	local = buf;
	at = strrchr(buf, '@');
	if (at == NULL) {
		str_copy(out, buf, size);
		return;
	}
	*at = '\0';
	/* BATV (prvs=TAG=user), Microsoft (msprvs1=TAG=user), Barracuda (btv1==TAG==user). */
	if ((strncmp(local, "prvs=", 5) == 0 || strncmp(local, "msprvs1=", 8) == 0) &&
	    (rest = after(strchr(local, '=') + 1, "=")) != NULL && rest[0] != '\0') {
		snprintf(out, size, "%s@%s", rest, at + 1);
		return;
	}
	if (strncmp(local, "btv1==", 6) == 0 && (rest = after(local + 6, "==")) != NULL &&
	    rest[0] != '\0') {
		snprintf(out, size, "%s@%s", rest, at + 1);
		return;
	}
	/*
	 * SRS0=HHH=TT=orig.domain=user@fwd: the hash and the timestamp change
	 * with every message, the rest does not.
	 */
	if (strncmp(local, "srs0", 4) == 0 && srs_sep(local[4])) {
		p = local + 5;
		if ((hash_end = strchr(p, '=')) != NULL && (p = strchr(hash_end + 1, '=')) != NULL &&
		    p[1] != '\0') {
			snprintf(out, size, "srs0=%s@%s", p + 1, at + 1);
			return;
		}
	}
	/* SRS1=HHH=first.fwd==HHH=TT=orig.domain=user@fwd: both hashes and the time go. */
	if (strncmp(local, "srs1", 4) == 0 && srs_sep(local[4])) {
		p = local + 5;
		if ((hash_end = strchr(p, '=')) != NULL) {
			const char *fwd = hash_end + 1, *dbl = strstr(fwd, "==");
			const char *h2, *tt;
			if (dbl != NULL && (h2 = strchr(dbl + 2, '=')) != NULL &&
			    (tt = strchr(h2 + 1, '=')) != NULL && tt[1] != '\0') {
				snprintf(out, size, "srs1=%.*s==%s@%s", (int)(dbl - fwd), fwd, tt + 1,
				    at + 1);
				return;
			}
		}
	}
	*at = '@';
	str_copy(out, buf, size);
}
