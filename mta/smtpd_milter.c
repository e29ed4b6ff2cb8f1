/* SPDX-License-Identifier: MIT */
/*
 * smtpd_milter - smtpd asks the milters of smtpd_milters (milter_client.h)
 * at MAIL, RCPT and the end of the message, as Postfix's smtpd_milters do.
 *
 * Every step is asynchronous: input is paused (the session is in
 * SMTPD_ST_COMMIT, whose timeout and disconnect handling already wait for
 * a callback), the milter answers through the event loop, the reply is
 * sent and input resumes.  A peer that leaves meanwhile is freed by the
 * callback.  At the end of the message the milters see it as it will be
 * queued (Received included); their header and body changes rewrite the
 * queue file's content before facteur's own filter looks at it, and their
 * envelope changes (ADDRCPT, DELRCPT, CHGFROM) rewrite the file's envelope
 * under the same queue id.  A message left without recipients is dropped,
 * as Postfix does.
 */
#include "facteur-config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/fd.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/stats.h"
#include "milter_client.h"
#include "queue.h"
#include "smtpd.h"

void
smtpd_pause(struct smtpd_session *s)
{
	s->state = SMTPD_ST_COMMIT;
	bufferevent_disable(s->bev, EV_READ);
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

/* A refusal from a milter: its reply, or ours. */
static void
milter_refuse(struct smtpd_session *s, const struct milter_reply *r, const char *stage)
{
	STATS_INC(milter_rejects);
	log_info("qid=%s milter %s: %s at %s from [%s]", s->env.qid[0] != '\0' ? s->env.qid : "-",
	    r->milter, r->text, stage, s->addr);
	smtpd_reply(s, "%s", r->text);
	if (strncmp(r->text, "421", 3) == 0)
		s->errors = 1000;	/* the milter asked to close: the next error does */
}

static struct milter_session *
session_milter(struct smtpd_session *s)
{
	if (s->milter == NULL) {
		SSL *ssl = s->tls ? bufferevent_openssl_get_ssl(s->bev) : NULL;
		s->milter = milter_session_new(s->base, s->addr, 0, s->name, s->helo);
		if (s->auth_user != NULL) {
			milter_session_set_macro(s->milter, "{auth_authen}", s->auth_user);
			milter_session_set_macro(s->milter, "{auth_type}", "PLAIN");
		}
		if (ssl != NULL) {
			milter_session_set_macro(s->milter, "{tls_version}", SSL_get_version(ssl));
			milter_session_set_macro(s->milter, "{cipher}", SSL_get_cipher_name(ssl));
		}
	}
	return s->milter;
}

/* ---- MAIL ---- */

static void
mail_done(void *ctx, const struct milter_reply *r)
{
	struct smtpd_session *s = ctx;

	if (gone(s))
		return;
	switch (r->verdict) {
	case MILTER_REJECT:
	case MILTER_TEMPFAIL:
		milter_refuse(s, r, "MAIL");
		smtpd_transaction_reset(s);
		break;
	case MILTER_DISCARD:
		s->milter_discard = 1;
		smtpd_reply(s, "250 2.1.0 Ok");
		break;
	default:
		smtpd_reply(s, "250 2.1.0 Ok");
		break;
	}
	smtpd_resume(s);
}

void
smtpd_milter_mail(struct smtpd_session *s)
{
	struct milter_session *m = session_milter(s);

	STATS_INC(milter_calls);
	smtpd_pause(s);
	milter_mail(m, s->env.sender, NULL, mail_done, s);
}

/* ---- RCPT ---- */

struct rcpt_job {
	struct smtpd_session *s;
	char *addr, *orcpt;
	unsigned int notify;
	enum dir_rcpt kind;
	char *catchall;
};

static void
rcpt_done(void *ctx, const struct milter_reply *r)
{
	struct rcpt_job *j = ctx;
	struct smtpd_session *s = j->s;

	if (!gone(s)) {
		switch (r->verdict) {
		case MILTER_REJECT:
		case MILTER_TEMPFAIL:
			milter_refuse(s, r, "RCPT");
			break;
		case MILTER_DISCARD:
			s->milter_discard = 1;
			/* FALLTHROUGH */
		default:
			smtpd_add_rcpt(s, j->addr, j->orcpt, j->notify, j->kind, j->catchall);
			smtpd_reply(s, "250 2.1.5 Ok");
			break;
		}
		smtpd_resume(s);
	}
	free(j->addr);
	free(j->orcpt);
	free(j->catchall);
	free(j);
}

void
smtpd_milter_rcpt(struct smtpd_session *s, const char *addr, const char *orcpt,
    unsigned int notify, enum dir_rcpt kind, const char *catchall)
{
	struct rcpt_job *j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	j->catchall = catchall != NULL ? xstrdup(catchall) : NULL;
	j->s = s;
	j->addr = xstrdup(addr);
	j->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	j->notify = notify;
	smtpd_pause(s);
	milter_rcpt(session_milter(s), addr, rcpt_done, j);
}

/* ---- end of message ---- */

/* An address of a milter's change: without its angle brackets. */
static char *
bare(const char *a)
{
	size_t n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>')
		return xstrndup(a + 1, n - 2);
	return xstrdup(a);
}

/* The milters' envelope changes into s->env; 1 if there were any. */
static int
apply_envelope(struct smtpd_session *s, const struct milter_mods *mods)
{
	const char **list;
	const char *sender = milter_mods_new_sender(mods);
	size_t n;
	int changed = 0;

	if (sender != NULL) {
		free(s->env.sender);
		s->env.sender = bare(sender);
		log_info("qid=%s milter: sender now <%s>", s->env.qid, s->env.sender);
		changed = 1;
	}
	n = milter_mods_rcpt_deleted(mods, &list);
	for (size_t i = 0; i < n; i++) {
		char *a = bare(list[i]);
		for (size_t k = 0; k < s->env.nrcpts; k++) {
			if (str_casecmp(s->env.rcpts[k].addr, a) != 0)
				continue;
			free(s->env.rcpts[k].addr);
			free(s->env.rcpts[k].orcpt);
			memmove(&s->env.rcpts[k], &s->env.rcpts[k + 1],
			    (s->env.nrcpts - k - 1) * sizeof(s->env.rcpts[0]));
			s->env.nrcpts--;
			log_info("qid=%s milter: recipient <%s> removed", s->env.qid, a);
			changed = 1;
			break;
		}
		free(a);
	}
	n = milter_mods_rcpt_added(mods, &list);
	for (size_t i = 0; i < n; i++) {
		char *a = bare(list[i]);
		queue_envelope_add_rcpt(&s->env, a, NULL, 0);
		log_info("qid=%s milter: recipient <%s> added", s->env.qid, a);
		free(a);
		changed = 1;
	}
	return changed;
}

struct message_job {
	struct smtpd_session *s;
	char *msg;
	size_t len;
	void (*next)(struct smtpd_session *);
};

static void
message_done(void *ctx, const struct milter_reply *r)
{
	struct message_job *j = ctx;
	struct smtpd_session *s = j->s;
	const struct milter_mods *mods;

	if (gone(s))
		goto out;
	switch (r->verdict) {
	case MILTER_REJECT:
	case MILTER_TEMPFAIL:
		milter_refuse(s, r, "end of DATA");
		smtpd_transaction_reset(s);
		smtpd_resume(s);
		goto out;
	case MILTER_DISCARD:
		s->milter_discard = 1;
		break;
	case MILTER_QUARANTINE:
		log_info("qid=%s quarantine: milter %s: %s", s->env.qid, r->milter, r->reason);
		queue_path(Q_QUARANTINE, s->writer->qid, s->writer->final_path,
		    sizeof(s->writer->final_path));
		break;
	default:
		break;
	}
	if (s->milter_discard) {
		log_info("qid=%s discarded by a milter, from=<%s>", s->env.qid, s->env.sender);
		smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->env.qid);
		smtpd_transaction_reset(s);
		smtpd_resume(s);
		goto out;
	}
	mods = milter_session_mods(s->milter);
	if (mods != NULL && milter_mods_any(mods)) {
		size_t nlen;
		char *changed = milter_mods_apply(mods, j->msg, j->len, &nlen);
		int rc;

		if (apply_envelope(s, mods)) {
			if (s->env.nrcpts == 0) {
				log_info("qid=%s milters removed every recipient: dropped", s->env.qid);
				smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->env.qid);
				free(changed);
				smtpd_transaction_reset(s);
				smtpd_resume(s);
				goto out;
			}
			rc = queue_writer_rewrite_envelope(s->writer, &s->env,
			    changed != NULL ? changed : j->msg, changed != NULL ? nlen : j->len);
		} else if (changed != NULL) {
			rc = queue_writer_rewrite(s->writer, changed, nlen) < 0 ? -1 :
			    queue_writer_flush(s->writer);
		} else {
			rc = 0;
		}
		free(changed);
		if (rc < 0) {
			log_warnx("qid=%s cannot apply the milters' changes: %s", s->env.qid,
			    strerror(s->writer->error));
			smtpd_reply(s, "451 4.3.0 Error: queue file write error");
			smtpd_transaction_reset(s);
			smtpd_resume(s);
			goto out;
		}
	}
	j->next(s);
out:
	free(j->msg);
	free(j);
}

void
smtpd_milter_message(struct smtpd_session *s, void (*next)(struct smtpd_session *))
{
	struct message_job *j = xcalloc(1, sizeof(*j));
	struct queue_writer *w = s->writer;
	int fd;

	j->s = s;
	j->next = next;
	j->len = (size_t)w->content_len;
	j->msg = xmalloc(j->len + 1);
	fd = open(w->tmp_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fd_pread_all(fd, j->msg, j->len, w->content_offset) < 0) {
		log_warn("qid=%s cannot read the message back for the milters", s->env.qid);
		if (fd >= 0)
			close(fd);
		free(j->msg);
		free(j);
		smtpd_reply(s, "451 4.3.0 Error: queue file read error");
		smtpd_transaction_reset(s);
		return;
	}
	close(fd);
	smtpd_pause(s);
	milter_message(session_milter(s), s->env.qid, j->msg, j->len, message_done, j);
}
