/* SPDX-License-Identifier: MIT */
/*
 * smtpd_policy - smtpd's side of policy/: the connect check (with the
 * greeting pause that catches clients talking first), the MAIL and RCPT
 * checks, and the expansion of directory aliases into the envelope.
 *
 * While a check runs the session's input is paused, as for milters; a
 * peer that leaves meanwhile is freed by the check's callback.
 */
#include "facteur-config.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "milter_client.h"
#include "policy/policy.h"
#include "smtp_addr.h"
#include "smtpd.h"

static struct policy *smtpd_policy;

void
smtpd_set_policy(struct policy *p)
{
	smtpd_policy = p;
}

int
smtpd_domain_is_ours(const char *domain)
{
	if (smtpd_policy != NULL)
		return policy_domain_is_ours(smtpd_policy, domain);
	return config_list_has_domain(var_local_domains, domain) ||
	    config_list_has_domain(var_relay_domains, domain);
}

/* The peer left while we waited: the callback owns the session. */
static int
gone(struct smtpd_session *s)
{
	if (!s->dead)
		return 0;
	smtpd_session_free(s);
	return 1;
}

static void
request_fill(struct smtpd_session *s, struct policy_request *req, const char *rcpt)
{
	memset(req, 0, sizeof(*req));
	req->helo = s->helo;
	req->sender = s->env.sender;
	req->recipient = rcpt;
	req->sasl_user = s->auth_user;
}

/* A refusal: 5xx count against smtpd_error_limit, 4xx do not (greylisting). */
static void
refuse(struct smtpd_session *s, const struct policy_verdict *v)
{
	if (v->code >= 500)
		smtpd_error(s, "%s", v->reply);
	else
		smtpd_reply(s, "%s", v->reply);
}

/* ---- connect and greeting ---- */

static void
greet(struct smtpd_session *s)
{
	smtpd_banner(s);
	smtpd_resume(s);
}

static void
connect_done(void *ctx, const struct policy_verdict *v)
{
	struct smtpd_session *s = ctx;

	s->policy_op = NULL;
	if (v->code != 0) {
		smtpd_reply(s, "%s", v->reply);
		smtpd_close(s);
		return;
	}
	s->policy_connected = 1;
	if (s->greet_timer == NULL)
		greet(s);
}

static void
greet_pause_over(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	event_free(s->greet_timer);
	s->greet_timer = NULL;
	if (s->policy_connected)
		greet(s);
}

void
smtpd_policy_connect(struct smtpd_session *s)
{
	if (smtpd_policy == NULL) {
		s->policy_connected = 1;
		greet(s);
		return;
	}
	s->pclient = policy_client_new(smtpd_policy, s->addr, s->trusted);
	/* Read (to notice a pregreet), but do not take commands before the banner. */
	s->state = SMTPD_ST_GREET;
	bufferevent_enable(s->bev, EV_READ);
	if (var_smtpd_greet_pause > 0 && !s->trusted) {
		struct timeval tv = { var_smtpd_greet_pause, 0 };

		s->greet_timer = evtimer_new(s->base, greet_pause_over, s);
		evtimer_add(s->greet_timer, &tv);
	}
	s->policy_op = policy_connect(s->pclient, connect_done, s);
}

void
smtpd_policy_pregreet(struct smtpd_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char first[80];
	size_t n = evbuffer_copyout(in, first, sizeof(first) - 1);

	/* The bytes stay buffered: they are read as commands after the banner. */
	bufferevent_disable(s->bev, EV_READ);
	if (s->pregreet)
		return;
	s->pregreet = 1;
	first[n] = '\0';
	first[strcspn(first, "\r\n")] = '\0';
	for (char *c = first; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	log_info("PREGREET %zu bytes from [%s]: %s", evbuffer_get_length(in), s->addr, first);
	if (s->pclient != NULL)
		policy_client_pregreet(s->pclient);
	if (strcmp(var_smtpd_pregreet_action, "drop") == 0) {
		smtpd_reply(s, "521 5.5.1 Protocol error");
		smtpd_close(s);
	}
}

void
smtpd_policy_pipelining(struct smtpd_session *s, const char *after)
{
	if (s->trusted || s->auth_user != NULL || s->pipelining)
		return;
	s->pipelining = 1;
	log_info("COMMAND PIPELINING from [%s] after %s", s->addr, after);
	if (s->pclient != NULL)
		policy_client_pipelining(s->pclient);
	if (strcmp(var_smtpd_pipelining_action, "drop") == 0) {
		smtpd_reply(s, "521 5.5.1 Protocol error");
		smtpd_close(s);
	}
}

void
smtpd_policy_authenticated(struct smtpd_session *s)
{
	if (s->pclient != NULL)
		policy_client_authenticated(s->pclient, s->auth_user);
}

void
smtpd_policy_free(struct smtpd_session *s)
{
	policy_cancel(&s->policy_op);
	if (s->greet_timer != NULL) {
		event_free(s->greet_timer);
		s->greet_timer = NULL;
	}
	policy_client_free(&s->pclient);
}

/* ---- MAIL ---- */

static void
mail_done(void *ctx, const struct policy_verdict *v)
{
	struct smtpd_session *s = ctx;

	s->policy_op = NULL;
	if (gone(s))
		return;
	if (v->code != 0) {
		refuse(s, v);
		smtpd_transaction_reset(s);
	} else if (milter_enabled()) {
		smtpd_milter_mail(s);
		return;
	} else {
		smtpd_reply(s, "250 2.1.0 Ok");
	}
	smtpd_resume(s);
}

void
smtpd_policy_mail(struct smtpd_session *s)
{
	struct policy_request req;

	if (s->pclient == NULL) {
		if (milter_enabled())
			smtpd_milter_mail(s);
		else
			smtpd_reply(s, "250 2.1.0 Ok");
		return;
	}
	request_fill(s, &req, NULL);
	smtpd_pause(s);
	s->policy_op = policy_mail(s->pclient, &req, mail_done, s);
}

/* ---- RCPT ---- */

struct rcpt_job {
	struct smtpd_session *s;
	char *addr, *orcpt;
	unsigned int notify;
};

static void
add_one(struct smtpd_session *s, const char *addr, const char *orcpt, unsigned int notify)
{
	for (size_t i = 0; i < s->env.nrcpts; i++)
		if (strcmp(s->env.rcpts[i].addr, addr) == 0)
			return;
	queue_envelope_add_rcpt(&s->env, addr, orcpt, notify);
}

#define ALIAS_TARGETS_MAX 10000	/* beyond, a list manager's job */

/* "rfc822;" and addr as xtext (RFC 3461): '+', '=' and non-graphic bytes as +XX. */
static char *
orcpt_of(const char *addr)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(addr) * 3 + 8), *o;

	o = out + sprintf(out, "rfc822;");
	for (const unsigned char *c = (const unsigned char *)addr; *c != '\0'; c++) {
		if (*c < 33 || *c > 126 || *c == '+' || *c == '=') {
			*o++ = '+';
			*o++ = hex[*c >> 4];
			*o++ = hex[*c & 15];
		} else {
			*o++ = (char)*c;
		}
	}
	*o = '\0';
	return out;
}

void
smtpd_add_rcpt(struct smtpd_session *s, const char *addr, const char *orcpt,
    unsigned int notify, enum dir_rcpt kind, const char *target)
{
	struct directory *dir = smtpd_policy != NULL ? policy_directory(smtpd_policy) : NULL;
	char **targets, *own_orcpt = NULL;
	const char *alias = addr;
	int n;

	if ((kind != DIR_RCPT_ALIAS && kind != DIR_RCPT_CATCHALL) || dir == NULL) {
		add_one(s, addr, orcpt, notify);
		return;
	}
	/*
	 * The entry that answered: the catch-all address, or the alias
	 * without its +extension.  The catch-all may itself be an alias.
	 */
	if (target != NULL && target[0] != '\0')
		alias = target;
	/* The original address travels as ORCPT (RFC 3461), for DSNs. */
	if (orcpt == NULL)
		orcpt = own_orcpt = orcpt_of(addr);
	targets = xcalloc(ALIAS_TARGETS_MAX, sizeof(*targets));
	n = directory_alias_expand(dir, alias, targets, ALIAS_TARGETS_MAX);
	if (n <= 0) {
		log_warnx("alias %s: %s: kept as it is", alias, n < 0 ? "directory error" :
		    "expands to nothing (a loop)");
		add_one(s, alias, orcpt, notify);
	}
	/*
	 * smtpd_recipient_limit bounds what a client asks for, not what our
	 * own aliases expand to: every target is kept.
	 */
	for (int i = 0; i < n; i++) {
		add_one(s, targets[i], orcpt, notify);
		free(targets[i]);
	}
	if (n == ALIAS_TARGETS_MAX)
		log_warnx("alias %s: more than %d targets: the rest are not delivered", alias,
		    ALIAS_TARGETS_MAX);
	if (n >= 1)
		log_info("%s %s expanded to %d recipient%s", kind == DIR_RCPT_CATCHALL ?
		    "catch-all for" : "alias", addr, n, n == 1 ? "" : "s");
	free(targets);
	free(own_orcpt);
}

static void
rcpt_done(void *ctx, const struct policy_verdict *v)
{
	struct rcpt_job *j = ctx;
	struct smtpd_session *s = j->s;

	s->policy_op = NULL;
	if (gone(s))
		goto out;
	if (v->code != 0) {
		refuse(s, v);
	} else if (s->milter != NULL) {
		smtpd_milter_rcpt(s, j->addr, j->orcpt, j->notify, v->rcpt, v->rcpt_target);
		goto out;
	} else {
		smtpd_add_rcpt(s, j->addr, j->orcpt, j->notify, v->rcpt, v->rcpt_target);
		smtpd_reply(s, "250 2.1.5 Ok");
	}
	smtpd_resume(s);
out:
	free(j->addr);
	free(j->orcpt);
	free(j);
}

void
smtpd_policy_rcpt(struct smtpd_session *s, const char *addr, const char *orcpt,
    unsigned int notify)
{
	struct policy_request req;
	struct rcpt_job *j;

	if (s->pclient == NULL) {
		if (s->milter != NULL) {
			smtpd_milter_rcpt(s, addr, orcpt, notify, DIR_RCPT_NOT_OURS, NULL);
		} else {
			smtpd_add_rcpt(s, addr, orcpt, notify, DIR_RCPT_NOT_OURS, NULL);
			smtpd_reply(s, "250 2.1.5 Ok");
		}
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->addr = xstrdup(addr);
	j->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	j->notify = notify;
	request_fill(s, &req, addr);
	smtpd_pause(s);
	s->policy_op = policy_rcpt(s->pclient, &req, rcpt_done, j);
}
