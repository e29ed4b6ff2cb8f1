/* SPDX-License-Identifier: MIT */
/*
 * policy - the connect/MAIL/RCPT-time engine.  See policy.h.
 *
 * Each check is an op that walks a fixed list of steps; a step either
 * decides at once (a directory lookup, a syntax check) or starts one
 * asynchronous sub-operation (state backend, DNS, a probe of the next
 * hop) whose callback resumes the walk.  The first step that objects
 * ends the op with its reply; an op that reaches the end answers code 0.
 * The answer is always delivered from the event loop, never inside the
 * call that started the op.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/mem.h"
#include "lib/stats.h"
#include "policy/dnsbl.h"
#include "policy/greylist.h"
#include "policy/policy.h"
#include "policy/ratelimit.h"
#include "policy/state.h"
#include "policy/verify.h"
#include "store/directory_shared.h"

struct policy {
	struct event_base *base;
	struct directory *dir;	/* directory_shared(), or NULL */
	struct pstate *st;
};

struct policy_client {
	struct policy *p;
	char ip[64];
	char net[80];		/* client network for rate limits */
	int trusted;		/* mynetworks */
	char *user;		/* authenticated user */
	int pregreet;
	int pipelining;
	/* DNSBL and FCrDNS, started at connect. */
	struct dnsbl_op *dnsbl_op;
	int dnsbl_started;
	int dnsbl_done;
	struct dnsbl_result dnsbl;
	struct policy_op *waiting;	/* ops waiting for the DNSBL answer */
	struct policy_op *ops;		/* every live op, to cancel them with the client */
};

enum op_kind { OP_CONNECT, OP_MAIL, OP_RCPT };

struct policy_op {
	struct policy_client *c;
	enum op_kind kind;
	policy_cb *cb;
	void *ctx;
	int step;
	int allow;		/* allow list or DNSWL: stranger checks skipped */
	char *helo, *sender, *rcpt, *user;
	struct policy_verdict v;
	/* At most one sub-operation is pending. */
	struct ratelimit_op *rl;
	struct greylist_op *gl;
	struct dnsbl_op *rh;
	struct verify_op *vr;
	struct event *ev;	/* delivers the answer from the loop */
	int waiting_dnsbl;
	int rate_code;		/* reply code when the pending rate limit is exceeded */
	struct policy_op *wait_next;
	struct policy_op *next, *prev;	/* c->ops */
};

static void op_run(struct policy_op *op);

static struct directory *
pdir(struct policy *p)
{
	return p->dir = directory_shared();
}

/* ---- engine ---- */

struct policy *
policy_new(struct event_base *base, const char **error_r)
{
	static char error[512];
	struct policy *p;
	const char *path = directory_default_path(), *err;
	struct stat sb;

	if (dnsbl_sites_check(var_dnsbl_sites, 1, &err) < 0 ||
	    dnsbl_sites_check(var_rhsbl_sender_sites, 0, &err) < 0 ||
	    dnsbl_sites_check(var_rhsbl_helo_sites, 0, &err) < 0) {
		snprintf(error, sizeof(error), "%s", err);
		*error_r = error;
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->base = base;
	if (stat(path, &sb) == 0 && pdir(p) == NULL) {
		snprintf(error, sizeof(error), "directory %s cannot be opened", path);
		*error_r = error;
		free(p);
		return NULL;
	}
	p->st = pstate_open(base, NULL, &err);
	if (p->st == NULL) {
		snprintf(error, sizeof(error), "policy_state: %s", err);
		*error_r = error;
		free(p);
		return NULL;
	}
	return p;
}

void
policy_free(struct policy **pp)
{
	struct policy *p = *pp;

	if (p == NULL)
		return;
	pstate_close(&p->st);
	free(p);
	*pp = NULL;
}

struct directory *
policy_directory(struct policy *p)
{
	return pdir(p);
}

struct pstate *
policy_state(struct policy *p)
{
	return p->st;
}

int
policy_domain_is_ours(struct policy *p, const char *domain)
{
	struct dir_domain d;

	if (config_list_has_domain(var_local_domains, domain) ||
	    config_list_has_domain(var_relay_domains, domain))
		return 1;
	return pdir(p) != NULL && directory_domain_get(p->dir, domain, &d) == 1;
}

/* ---- clients ---- */

struct policy_client *
policy_client_new(struct policy *p, const char *client_ip, int trusted)
{
	struct policy_client *c = xcalloc(1, sizeof(*c));

	c->p = p;
	snprintf(c->ip, sizeof(c->ip), "%s", client_ip);
	if (pstate_client_net(client_ip, (int)var_rate_limit_ipv4_prefix,
	    (int)var_rate_limit_ipv6_prefix, c->net, sizeof(c->net)) < 0)
		snprintf(c->net, sizeof(c->net), "%s", client_ip);
	c->trusted = trusted;
	snprintf(c->dnsbl.client_name, sizeof(c->dnsbl.client_name), "unknown");
	return c;
}

static void op_free(struct policy_op *op);

void
policy_client_free(struct policy_client **cp)
{
	struct policy_client *c = *cp;

	if (c == NULL)
		return;
	while (c->ops != NULL)
		op_free(c->ops);
	dnsbl_cancel(&c->dnsbl_op);
	free(c->user);
	free(c);
	*cp = NULL;
}

void
policy_client_pregreet(struct policy_client *c)
{
	c->pregreet = 1;
	STATS_INC(policy_pregreet);
}

void
policy_client_pipelining(struct policy_client *c)
{
	if (!c->pipelining)
		STATS_INC(policy_pipelining);
	c->pipelining = 1;
}

void
policy_client_authenticated(struct policy_client *c, const char *user)
{
	free(c->user);
	c->user = xstrdup(user);
}

const char *
policy_client_name(const struct policy_client *c)
{
	return c->dnsbl_done ? c->dnsbl.client_name : "unknown";
}

/* A client the stranger checks apply to. */
static int
stranger(const struct policy_op *op)
{
	return !op->c->trusted && op->c->user == NULL && op->user == NULL && !op->allow;
}

static void
dnsbl_done(void *ctx, const struct dnsbl_result *r)
{
	struct policy_client *c = ctx;
	struct policy_op *op, *next;

	c->dnsbl_op = NULL;
	c->dnsbl_done = 1;
	c->dnsbl = *r;
	if (r->blocked || r->allowlisted)
		log_info("dnsbl [%s]: score %g%s%s%s", c->ip, r->score,
		    r->blocked ? ", blocked by " : "", r->blocked ? r->listed_by : "",
		    r->allowlisted ? ", allow-listed" : "");
	for (op = c->waiting, c->waiting = NULL; op != NULL; op = next) {
		next = op->wait_next;
		op->wait_next = NULL;
		op->waiting_dnsbl = 0;
		op_run(op);
	}
}

static void
dnsbl_start(struct policy_client *c)
{
	if (c->dnsbl_started)
		return;
	c->dnsbl_started = 1;
	if (var_dnsbl_sites[0] == '\0' && !var_require_fcrdns) {
		c->dnsbl_done = 1;
		return;
	}
	c->dnsbl_op = dnsbl_check_client(c->ip, var_require_fcrdns, dnsbl_done, c);
}

/* ---- ops ---- */

static struct policy_op *
op_new(struct policy_client *c, enum op_kind kind, const struct policy_request *req,
    policy_cb *cb, void *ctx)
{
	struct policy_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->kind = kind;
	op->cb = cb;
	op->ctx = ctx;
	if (req != NULL) {
		op->helo = req->helo != NULL ? xstrdup(req->helo) : NULL;
		op->sender = req->sender != NULL ? xstrdup(req->sender) : NULL;
		op->rcpt = req->recipient != NULL ? xstrdup(req->recipient) : NULL;
		op->user = req->sasl_user != NULL && req->sasl_user[0] != '\0' ?
		    xstrdup(req->sasl_user) : NULL;
	}
	op->next = c->ops;
	if (c->ops != NULL)
		c->ops->prev = op;
	c->ops = op;
	return op;
}

static void
op_free(struct policy_op *op)
{
	struct policy_client *c = op->c;

	ratelimit_cancel(&op->rl);
	greylist_cancel(&op->gl);
	dnsbl_cancel(&op->rh);
	verify_cancel(&op->vr);
	if (op->ev != NULL)
		event_free(op->ev);
	if (op->waiting_dnsbl) {
		struct policy_op **pp;
		for (pp = &c->waiting; *pp != NULL; pp = &(*pp)->wait_next) {
			if (*pp == op) {
				*pp = op->wait_next;
				break;
			}
		}
	}
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		c->ops = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	free(op->helo);
	free(op->sender);
	free(op->rcpt);
	free(op->user);
	free(op);
}

void
policy_cancel(struct policy_op **opp)
{
	if (*opp == NULL)
		return;
	op_free(*opp);
	*opp = NULL;
}

static void
op_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct policy_op *op = arg;
	struct policy_verdict v = op->v;
	policy_cb *cb = op->cb;
	void *ctx = op->ctx;

	/* The op is gone before the callback runs: it may free the client. */
	op_free(op);
	cb(ctx, &v);
}

/* End the op: deliver its verdict from the loop. */
static void
op_finish(struct policy_op *op)
{
	op->step = -1;
	op->ev = event_new(op->c->p->base, -1, 0, op_deliver, op);
	event_active(op->ev, 0, 0);
}

static void op_refuse(struct policy_op *op, int code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* End the op with a refusal: "code fmt...". */
static void
op_refuse(struct policy_op *op, int code, const char *reason, const char *fmt, ...)
{
	va_list ap;
	int n;

	op->v.code = code;
	op->v.reason = reason;
	n = snprintf(op->v.reply, sizeof(op->v.reply), "%d ", code);
	va_start(ap, fmt);
	vsnprintf(op->v.reply + n, sizeof(op->v.reply) - (size_t)n, fmt, ap);
	va_end(ap);
	log_info("policy reject %s from [%s]: from=<%s> to=<%s>: %s", op->kind == OP_CONNECT ?
	    "CONNECT" : op->kind == OP_MAIL ? "MAIL" : "RCPT", op->c->ip,
	    op->sender != NULL ? op->sender : "", op->rcpt != NULL ? op->rcpt : "", op->v.reply);
	STATS_INC(policy_rejects);
	report_count(op->rcpt, REPORT_reject_policy, 1);
	op_finish(op);
}

static const char *
addr_domain(const char *addr)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;

	return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* RFC 5321 address literal, or a host name of letters, digits, '-' and '_' labels. */
static int
helo_valid(const char *h)
{
	size_t len = strlen(h), label = 0;

	if (h[0] == '[')
		return len > 2 && h[len - 1] == ']';
	if (len == 0 || len > 255)
		return 0;
	for (const char *s = h; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum(ch) || ch == '-' || ch == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return 1;
}

static int
helo_fqdn(const char *h)
{
	const char *dot = strchr(h, '.');

	return h[0] == '[' || (dot != NULL && dot != h && dot[1] != '\0');
}

/* ---- sub-operation callbacks: record, then walk on ---- */

static void
rate_done(void *ctx, int status, int over, long long value, long retry)
{
	struct policy_op *op = ctx;

	op->rl = NULL;
	if (status < 0) {
		log_warnx("policy: rate limit state unavailable: [%s] not counted", op->c->ip);
	} else if (over) {
		/* rate_start wrote the refusal in op->v. */
		STATS_INC(policy_rate_limited);
		STATS_INC(policy_rejects);
		report_count(op->rcpt, REPORT_reject_policy, 1);
		op->v.code = op->rate_code;
		op->v.reason = "rate";
		log_info("policy [%s]: %s (%lld in this window, %ld s left)", op->c->ip, op->v.reply,
		    value, retry);
		op_finish(op);
		return;
	}
	op->v.reply[0] = '\0';
	op_run(op);
}

/*
 * Count one event against limit; 1 if counting started (rate_done walks
 * on), 0 if there is no limit.  Over the limit the reply is
 * "code enhanced text".
 */
static int rate_start(struct policy_op *op, int code, const char *kind, const char *key,
    const char *limit, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
rate_start(struct policy_op *op, int code, const char *kind, const char *key, const char *limit,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (limit[0] == '\0')
		return 0;
	op->rate_code = code;
	n = snprintf(op->v.reply, sizeof(op->v.reply), "%d %s ", code,
	    code == 421 ? "4.7.0" : "4.7.1");
	va_start(ap, fmt);
	vsnprintf(op->v.reply + n, sizeof(op->v.reply) - (size_t)n, fmt, ap);
	va_end(ap);
	op->rl = ratelimit_hit(op->c->p->st, kind, key, limit, 1, rate_done, op);
	return 1;
}

static void
greylist_done(void *ctx, enum greylist_result r, long remaining)
{
	struct policy_op *op = ctx;

	op->gl = NULL;
	if (r == GREYLIST_DEFER) {
		STATS_INC(policy_greylisted);
		op_refuse(op, 450, "greylist",
		    "4.7.1 <%s>: Recipient address rejected: Greylisted, try again in %ld seconds",
		    op->rcpt, remaining > 0 ? remaining : 1);
		return;
	}
	if (r == GREYLIST_ERROR)
		log_warnx("policy: greylist state unavailable: [%s] not greylisted", op->c->ip);
	op_run(op);
}

static void
rhsbl_done(void *ctx, const char *zone, int tempfail)
{
	struct policy_op *op = ctx;

	op->rh = NULL;
	if (zone != NULL) {
		STATS_INC(policy_rhsbl);
		if (op->step == 9)	/* the sender's domain */
			op_refuse(op, 554, "rhsbl",
			    "5.7.1 <%s>: Sender address rejected: domain listed by %s",
			    op->sender, zone);
		else
			op_refuse(op, 554, "rhsbl",
			    "5.7.1 <%s>: Helo command rejected: host listed by %s", op->helo, zone);
		return;
	}
	op_run(op);
}

static void
verify_done(void *ctx, int result, const char *reply)
{
	struct policy_op *op = ctx;

	op->vr = NULL;
	if (result == 0) {
		STATS_INC(policy_unknown_recipient);
		op_refuse(op, 550, "verify",
		    "5.1.1 <%s>: Recipient address rejected: undeliverable address: %s", op->rcpt,
		    reply != NULL ? reply : "refused by the next hop");
		return;
	}
	if (result < 0) {
		op_refuse(op, 450, "verify",
		    "4.1.1 <%s>: Recipient address rejected: unverified address: %s", op->rcpt,
		    reply != NULL ? reply : "next hop unreachable");
		return;
	}
	op_run(op);
}

/* ---- the steps ---- */

/* Wait for the client's DNSBL answer: 1 if the op must wait. */
static int
wait_dnsbl(struct policy_op *op)
{
	struct policy_client *c = op->c;

	dnsbl_start(c);
	if (c->dnsbl_done)
		return 0;
	op->waiting_dnsbl = 1;
	op->wait_next = c->waiting;
	c->waiting = op;
	return 1;
}

/* The recipient as the directory sees it; 1 if the op was ended or waits. */
static int
rcpt_resolve(struct policy_op *op)
{
	struct directory *dir = pdir(op->c->p);
	struct dir_domain d;
	enum dir_rcpt r;

	op->v.rcpt = DIR_RCPT_NOT_OURS;
	if (dir == NULL || addr_domain(op->rcpt) == NULL)
		return 0;
	if (directory_recipient(dir, op->rcpt, &r, op->v.rcpt_target,
	    sizeof(op->v.rcpt_target)) < 0) {
		op_refuse(op, 451, "directory",
		    "4.3.0 <%s>: Recipient address rejected: directory unavailable", op->rcpt);
		return 1;
	}
	op->v.rcpt = r;
	switch (r) {
	case DIR_RCPT_UNKNOWN:
		STATS_INC(policy_unknown_recipient);
		op_refuse(op, 550, "unknown",
		    "5.1.1 <%s>: Recipient address rejected: User unknown", op->rcpt);
		return 1;
	case DIR_RCPT_DISABLED:
		STATS_INC(policy_unknown_recipient);
		op_refuse(op, 550, "disabled",
		    "5.2.1 <%s>: Recipient address rejected: Mailbox disabled", op->rcpt);
		return 1;
	case DIR_RCPT_PROBE:
		if (directory_domain_get(dir, addr_domain(op->rcpt), &d) != 1)
			d.nexthop[0] = '\0';
		op->vr = verify_recipient(op->c->p->base, op->c->p->st, d.nexthop, op->rcpt,
		    verify_done, op);
		return 1;
	default:
		return 0;
	}
}

static void
op_run_connect(struct policy_op *op)
{
	struct policy_client *c = op->c;
	enum dir_access acc = DIR_ACCESS_NONE;
	char matched[300];

	switch (op->step++) {
	case 0:
		if (pdir(c->p) != NULL &&
		    directory_access(c->p->dir, c->ip, "", NULL, &acc, matched, sizeof(matched)) == 0 &&
		    acc == DIR_ACCESS_ALLOW)
			op->allow = 1;
		if (!stranger(op))
			break;
		dnsbl_start(c);
		if (rate_start(op, 421, "conn", c->net, var_client_connection_rate_limit,
		    "Error: too many connections from %s", c->ip))
			return;
		/* FALLTHROUGH */
	case 1:
		if (stranger(op) && strcmp(var_dnsbl_action, "drop") == 0) {
			if (wait_dnsbl(op))
				return;
			if (c->dnsbl.blocked && !c->dnsbl.allowlisted) {
				STATS_INC(policy_dnsbl);
				op_refuse(op, 521, "dnsbl",
				    "5.7.1 Service unavailable; client [%s] blocked using %s", c->ip,
				    c->dnsbl.listed_by);
				return;
			}
		}
		break;
	default:
		break;
	}
	op_finish(op);
}

static void
op_run_mail(struct policy_op *op)
{
	struct policy_client *c = op->c;
	enum dir_access acc = DIR_ACCESS_NONE;
	char matched[300];

	switch (op->step++) {
	case 0:
		if (pdir(c->p) != NULL && directory_access(c->p->dir, c->ip,
		    op->sender != NULL ? op->sender : "", NULL, &acc, matched, sizeof(matched)) < 0)
			acc = DIR_ACCESS_NONE;
		if (acc == DIR_ACCESS_DENY) {
			STATS_INC(policy_access_denied);
			log_info("policy [%s]: %s", c->ip, matched);
			op_refuse(op, 554, "access", "5.7.1 Access denied");
			return;
		}
		if (acc == DIR_ACCESS_ALLOW)
			op->allow = 1;
		if ((c->user != NULL || op->user != NULL) &&
		    rate_start(op, 450, "user_msg", c->user != NULL ? c->user : op->user,
		    var_user_message_rate_limit, "Error: too many messages sent by this account"))
			return;
		/* FALLTHROUGH */
	case 1:
		op->step = 2;
		if (stranger(op) && rate_start(op, 450, "client_msg", c->net, var_client_message_rate_limit,
		    "Error: too many messages from %s", c->ip))
			return;
		/* FALLTHROUGH */
	case 2:
		op->step = 3;
		if (stranger(op) && op->sender != NULL &&
		    rate_start(op, 450, "sender_msg", op->sender[0] != '\0' ? op->sender : "<>",
		    var_sender_message_rate_limit,
		    "<%s>: Sender address rejected: too many messages from this sender", op->sender))
			return;
		break;
	default:
		break;
	}
	op_finish(op);
}

static void
op_run_rcpt(struct policy_op *op)
{
	struct policy_client *c = op->c;
	enum dir_access acc = DIR_ACCESS_NONE;
	char matched[300];
	const char *dom;

	/* Each case is one step; "op->step = N" before falling into case N. */
	switch (op->step++) {
	case 0:
		if (pdir(c->p) != NULL && directory_access(c->p->dir, c->ip,
		    op->sender != NULL ? op->sender : "", op->rcpt, &acc, matched,
		    sizeof(matched)) < 0)
			acc = DIR_ACCESS_NONE;
		if (acc == DIR_ACCESS_DENY) {
			STATS_INC(policy_access_denied);
			log_info("policy [%s]: to=<%s>: %s", c->ip, op->rcpt, matched);
			op_refuse(op, 554, "access", "5.7.1 <%s>: Recipient address rejected: Access denied",
			    op->rcpt);
			return;
		}
		if (acc == DIR_ACCESS_ALLOW)
			op->allow = 1;
		/* FALLTHROUGH */
	case 1:
		op->step = 2;
		if (rcpt_resolve(op))
			return;
		/* FALLTHROUGH */
	case 2:
		op->step = 3;
		if (!stranger(op) || op->helo == NULL)
			goto step5;
		if (var_reject_invalid_helo && !helo_valid(op->helo)) {
			STATS_INC(policy_helo);
			op_refuse(op, 501, "helo", "5.5.2 <%s>: Helo command rejected: Invalid name",
			    op->helo);
			return;
		}
		if (var_reject_non_fqdn_helo && !helo_fqdn(op->helo)) {
			STATS_INC(policy_helo);
			op_refuse(op, 504, "helo",
			    "5.5.2 <%s>: Helo command rejected: need fully-qualified hostname", op->helo);
			return;
		}
		/* FALLTHROUGH */
	case 3:
	step5:
		op->step = 4;
		if (!stranger(op))
			goto step10;
		if ((c->pregreet && strcmp(var_smtpd_pregreet_action, "enforce") == 0) ||
		    (c->pipelining && strcmp(var_smtpd_pipelining_action, "enforce") == 0)) {
			op_refuse(op, 550, c->pregreet ? "pregreet" : "pipelining",
			    "5.5.1 Protocol error");
			return;
		}
		/* FALLTHROUGH */
	case 4:
		op->step = 5;
		if (wait_dnsbl(op))
			return;
		/* FALLTHROUGH */
	case 5:
		op->step = 6;
		if (c->dnsbl.allowlisted) {
			op->allow = 1;
			goto step10;
		}
		if (c->dnsbl.blocked && strcmp(var_dnsbl_action, "ignore") != 0) {
			STATS_INC(policy_dnsbl);
			op_refuse(op, 550, "dnsbl",
			    "5.7.1 Service unavailable; client [%s] blocked using %s", c->ip,
			    c->dnsbl.listed_by);
			return;
		}
		if (var_require_fcrdns && c->dnsbl.fcrdns != 1) {
			STATS_INC(policy_fcrdns);
			op_refuse(op, 450, "fcrdns",
			    "4.7.25 Client host rejected: cannot find your hostname, [%s]", c->ip);
			return;
		}
		/* FALLTHROUGH */
	case 6:
	case 7:
	case 8:
		op->step = 9;
		if (var_rhsbl_sender_sites[0] != '\0' && op->sender != NULL &&
		    (dom = addr_domain(op->sender)) != NULL) {
			op->rh = rhsbl_check(var_rhsbl_sender_sites, dom, rhsbl_done, op);
			return;
		}
		/* FALLTHROUGH */
	case 9:
		op->step = 10;
		if (var_rhsbl_helo_sites[0] != '\0' && op->helo != NULL && op->helo[0] != '[') {
			op->rh = rhsbl_check(var_rhsbl_helo_sites, op->helo, rhsbl_done, op);
			return;
		}
		/* FALLTHROUGH */
	case 10:
	step10:
		op->step = 11;
		if (c->user != NULL || op->user != NULL) {
			if (rate_start(op, 450, "user_rcpt", c->user != NULL ? c->user : op->user,
			    var_user_recipient_rate_limit,
			    "<%s>: Recipient address rejected: too many recipients sent by this account",
			    op->rcpt))
				return;
		} else if (stranger(op) && rate_start(op, 450, "client_rcpt", c->net,
		    var_client_recipient_rate_limit,
		    "<%s>: Recipient address rejected: too many recipients from %s", op->rcpt, c->ip)) {
			return;
		}
		/* FALLTHROUGH */
	case 11:
		op->step = 12;
		if (stranger(op) && (dom = addr_domain(op->rcpt)) != NULL &&
		    rate_start(op, 450, "domain_rcpt", dom, var_domain_recipient_rate_limit,
		    "<%s>: Recipient address rejected: too many recipients for %s, retry later",
		    op->rcpt, dom))
			return;
		/* FALLTHROUGH */
	case 12:
		op->step = 13;
		/* A stranger's mail for a domain not ours is the relay check's business. */
		if (var_greylist_enable && stranger(op) && (dom = addr_domain(op->rcpt)) != NULL &&
		    policy_domain_is_ours(c->p, dom)) {
			op->gl = greylist_check(c->p->st, c->ip, op->sender != NULL ? op->sender : "",
			    op->rcpt, greylist_done, op);
			return;
		}
		break;
	default:
		break;
	}
	op_finish(op);
}

static void
op_run(struct policy_op *op)
{
	switch (op->kind) {
	case OP_CONNECT:
		op_run_connect(op);
		break;
	case OP_MAIL:
		op_run_mail(op);
		break;
	case OP_RCPT:
		op_run_rcpt(op);
		break;
	}
}

struct policy_op *
policy_connect(struct policy_client *c, policy_cb *cb, void *ctx)
{
	struct policy_op *op = op_new(c, OP_CONNECT, NULL, cb, ctx);

	op_run(op);
	return op;
}

struct policy_op *
policy_mail(struct policy_client *c, const struct policy_request *req, policy_cb *cb, void *ctx)
{
	struct policy_op *op = op_new(c, OP_MAIL, req, cb, ctx);

	op_run(op);
	return op;
}

struct policy_op *
policy_rcpt(struct policy_client *c, const struct policy_request *req, policy_cb *cb, void *ctx)
{
	struct policy_op *op = op_new(c, OP_RCPT, req, cb, ctx);

	op_run(op);
	return op;
}
