/* SPDX-License-Identifier: MIT */
/*
 * lmtpd_sieve - Sieve at delivery: running the script, redirect and
 * vacation.  See lmtpd_sieve.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "mta/queue_commit.h"
#include "mta/queue_file.h"
#include "store/lmtpd_sieve.h"
#include "store/mstore.h"
#include "store/sieve.h"
#include "store/sieve_store.h"

#define REDIRECT_FIELD "X-Sieve-Redirected-From"

int
lmtpd_sieve_run(struct mstore *ms, const char *qid, const char *account,
    const struct sieve_message *msg, const struct sieve_env *env, struct sieve_result *res,
    char *name_r, size_t size)
{
	struct sieve_script *script;
	char error[SIEVE_ERROR_SIZE], *text = NULL;
	const char *why;
	size_t len = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = sieve_store_active_load(ms, account, name_r, size, &text, &len, &why);
	if (rc < 0) {
		log_warnx("lmtpd: qid=%s account=%s: cannot read the Sieve script: %s: no filtering",
		    qid, account, why);
		return -1;
	}
	if (rc == 0)
		return 0;
	script = sieve_compile(text, len, error, sizeof(error));
	free(text);
	if (script == NULL) {
		/* Put there by hand, or by an older facteur: the message is kept. */
		log_warnx("lmtpd: qid=%s account=%s sieve=%s: %s: message kept", qid, account, name_r,
		    error);
		res->actions = xcalloc(1, sizeof(*res->actions));
		res->actions[0].kind = SIEVE_KEEP;
		res->actions[0].keywords = xstrdup("");
		res->n = 1;
		snprintf(res->error, sizeof(res->error), "%s", error);
		return 1;
	}
	if (sieve_execute(script, msg, env, res) < 0)
		log_warnx("lmtpd: qid=%s account=%s sieve=%s: %s: message kept", qid, account,
		    name_r, res->error);
	sieve_script_free(&script);
	return 1;
}

/* ---- sending ---- */

/* The message without lmtpd's own first line ("Return-Path: <...>"). */
static void
content_of(const struct sieve_message *msg, const char **data_r, size_t *len_r)
{
	const char *p = msg->data, *eol;
	size_t len = msg->len;

	if (len > 12 && str_ncasecmp(p, "Return-Path:", 12) == 0 &&
	    (eol = memchr(p, '\n', len)) != NULL) {
		len -= (size_t)(eol + 1 - p);
		p = eol + 1;
	}
	*data_r = p;
	*len_r = len;
}

/* Queue head then body from sender to rcpt; 0 with qid_r, or -1 with *error_r. */
static int
queue_message(const char *sender, const char *rcpt, const char *client, const char *head,
    size_t head_len, const char *body, size_t body_len, char *qid_r, const char **error_r)
{
	static char error[600];
	struct queue_envelope env;
	struct queue_writer *w = xmalloc(sizeof(*w));
	const char *why;
	int rc = -1;

	memset(&env, 0, sizeof(env));
	env.arrival = time(NULL);
	env.client = xstrdup(client);
	env.sender = xstrdup(sender);
	queue_envelope_add_rcpt(&env, rcpt, NULL, 0);
	if (queue_writer_open(w, &env, &why) < 0) {
		snprintf(error, sizeof(error), "%s", why);
		goto out;
	}
	queue_writer_write(w, head, head_len);
	queue_writer_write(w, body, body_len);
	if (queue_writer_finish(w) < 0) {
		snprintf(error, sizeof(error), "write %s: %s", w->tmp_path, strerror(errno));
		queue_writer_abort(w);
		goto out;
	}
	if (queue_commit_sync(w) < 0) {
		snprintf(error, sizeof(error), "commit %s: %s", w->final_path, strerror(errno));
		goto out;
	}
	str_copy(qid_r, w->qid, QUEUE_ID_SIZE);
	queue_wakeup_qmgr();
	rc = 0;
out:
	if (rc < 0)
		*error_r = error;
	free(w);
	queue_envelope_free(&env);
	return rc;
}

static const char *
redirect_loop(const char *data, size_t len, const char *account)
{
	size_t flen = strlen(REDIRECT_FIELD), received = 0, redirected = 0;
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t l = (size_t)((eol != NULL ? eol : end) - p);

		if (l == 0 || (l == 1 && p[0] == '\r'))
			break;
		if (l > 9 && str_ncasecmp(p, "Received:", 9) == 0)
			received++;
		if (l > flen && str_ncasecmp(p, REDIRECT_FIELD, flen) == 0 && p[flen] == ':') {
			const char *v = p + flen + 1, *lt, *gt;
			size_t alen = strlen(account);
			redirected++;
			lt = memchr(v, '<', (size_t)(p + l - v));
			gt = lt != NULL ? memchr(lt, '>', (size_t)(p + l - lt)) : NULL;
			if (gt != NULL && (size_t)(gt - lt - 1) == alen &&
			    str_ncasecmp(lt + 1, account, alen) == 0)
				return "the account redirected this message before";
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	if (redirected >= SIEVE_REDIRECT_HOPS)
		return "redirected too many times";
	if (var_smtpd_hop_limit > 0 && received >= (size_t)var_smtpd_hop_limit)
		return "too many Received header fields";
	return NULL;
}

const char *
lmtpd_sieve_redirect_loop(const struct sieve_message *msg, const char *account)
{
	const char *data;
	size_t len;

	content_of(msg, &data, &len);
	return redirect_loop(data, len, account);
}

int
lmtpd_sieve_redirect(const struct sieve_message *msg, const char *account, const char *to,
    char *qid_r, const char **error_r)
{
	const char *data;
	char *head, *client;
	size_t len;
	int rc;

	content_of(msg, &data, &len);
	head = xasprintf(REDIRECT_FIELD ": <%s>\r\n", account);
	client = xasprintf("local (sieve redirect for %s)", account);
	rc = queue_message(msg->env_from, to, client, head, strlen(head), data, len, qid_r,
	    error_r);
	free(head);
	free(client);
	return rc;
}

void
lmtpd_sieve_vacation(struct mstore *ms, const char *qid, const char *account,
    const struct sieve_message *msg, const struct sieve_action *v)
{
	char key[65], vqid[QUEUE_ID_SIZE], *reply, *client;
	const char *why, *error;
	time_t now = time(NULL);
	size_t len;
	int seen;

	if ((why = sieve_vacation_refusal(msg, v, account)) != NULL) {
		log_info("lmtpd: qid=%s account=%s from=<%s> vacation: no answer: %s", qid, account,
		    msg->env_from, why);
		return;
	}
	sieve_vacation_key(v, msg->env_from, key);
	seen = sieve_store_vacation_seen(ms, account, key, now, &error);
	if (seen != 0) {
		if (seen < 0)
			log_warnx("lmtpd: qid=%s account=%s vacation: %s: no answer", qid, account,
			    error);
		else
			log_info("lmtpd: qid=%s account=%s from=<%s> vacation: no answer: answered "
			    "within the last %u days", qid, account, msg->env_from, v->days);
		return;
	}
	reply = sieve_vacation_reply(msg, v, proc_hostname(), &len);
	client = xasprintf("local (sieve vacation for %s)", account);
	/* RFC 5230 5.1: the null sender, so that nothing answers the answer. */
	if (queue_message("", msg->env_from, client, reply, len, "", 0, vqid, &error) < 0) {
		log_warnx("lmtpd: qid=%s account=%s vacation: cannot queue the answer: %s", qid,
		    account, error);
	} else {
		log_info("lmtpd: qid=%s account=%s from=<%s> vacation: answered (qid=%s, not again "
		    "for %u days)", qid, account, msg->env_from, vqid, v->days);
		if (sieve_store_vacation_record(ms, account, key, now,
		    now + (time_t)v->days * 86400, &error) < 0)
			log_warnx("lmtpd: qid=%s account=%s vacation: %s", qid, account, error);
	}
	free(reply);
	free(client);
}
