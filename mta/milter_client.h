/* SPDX-License-Identifier: MIT */
/*
 * milter_client - smtpd calls the milters of smtpd_milters (opendkim,
 * clamav-milter, rspamd, spamass-milter ...) like Postfix does, over the
 * sendmail milter protocol version 6 (see milter_proto.h).
 *
 * One milter_session per SMTP session talks to every milter of
 * smtpd_milters, in order; each milter connection is opened lazily at the
 * first step and kept for the session's transactions.  Every step is
 * asynchronous on smtpd's libevent loop and never blocks (save the name
 * lookup of an "inet:port@name" address that is not numeric or
 * localhost).  A step's done callback runs once, always later from the
 * loop, never inside the call.  Only one step may be pending at a time.
 *
 * A milter that cannot be reached, times out (milter_timeout), or breaks
 * the protocol gets milter_default_action for the rest of the session:
 * accept skips it, tempfail answers every later step with "451 4.7.1",
 * reject with "550 5.5.0"; each failure is logged with the milter's
 * address and counted in milter_errors.
 *
 * A reject, tempfail or discard from one milter stops the step: later
 * milters are not asked.  At end of message each milter sees the message
 * as changed by the milters before it, as in Postfix and sendmail.
 */
#ifndef FACTEUR_MILTER_CLIENT_H
#define FACTEUR_MILTER_CLIENT_H

#include <stddef.h>

#include <event2/event.h>

/* One SMTP session's conversation with every milter of smtpd_milters, in order. */
struct milter_session;

/* 1 if smtpd_milters is not empty. */
int milter_enabled(void);
/*
 * Check smtpd_milters and milter_default_action (at start-up and reload):
 * -1 with *error_r (static) naming what to fix.
 */
int milter_config_check(const char **error_r);

/*
 * client_addr is the numeric address (NULL or "" if unknown), client_name
 * the verified name (NULL: unknown, sent as "[addr]"), helo NULL until
 * known.  Nothing is connected yet.
 */
struct milter_session *milter_session_new(struct event_base *base, const char *client_addr,
    int client_port, const char *client_name, const char *helo);

/*
 * Set a sendmail macro sent to the milters from the next step on, such as
 * "{auth_authen}", "{auth_type}" (after AUTH) or "{tls_version}",
 * "{cipher}" (after STARTTLS); NULL or "" removes it.  Already set by
 * facteur: j, {daemon_name}, v, _, {client_addr}, {client_name},
 * {client_port}, {mail_addr}, {rcpt_addr} and i (the queue id, from
 * milter_message).
 */
void milter_session_set_macro(struct milter_session *m, const char *name, const char *value);

/* Stage results: what smtpd must answer. */
enum milter_verdict {
	MILTER_CONTINUE,
	MILTER_ACCEPT,		/* every milter accepted: skip remaining milter steps for this message */
	MILTER_REJECT,
	MILTER_TEMPFAIL,
	MILTER_DISCARD,		/* say 250 and drop the message (also when given at RCPT) */
	MILTER_QUARANTINE,	/* accept the message into quarantine (only at end of message) */
};

struct milter_reply {
	enum milter_verdict verdict;
	/*
	 * The full SMTP reply when REJECT or TEMPFAIL: "550 5.7.1 text", from
	 * the milter's REPLYCODE or a default; several lines are joined with
	 * CRLF (no CRLF at the end).  A milter that asks to close the session
	 * (SMFIR_SHUTDOWN, SMFIR_CONN_FAIL) gives TEMPFAIL with "421 4.7.0 ...":
	 * smtpd should then close the connection.
	 */
	char text[512];
	char reason[256];	/* QUARANTINE reason */
	char milter[128];	/* the milter that decided (empty for CONTINUE/ACCEPT) */
};

typedef void (*milter_done_fn)(void *ctx, const struct milter_reply *reply);

/*
 * The steps.  The connect information and HELO are sent lazily before the
 * first step that needs them.  A reject at connect holds for every later
 * step of the session.  At RCPT a REJECT or TEMPFAIL refuses that
 * recipient only.  The strings are copied: they need not outlive the call.
 */
void milter_helo(struct milter_session *m, const char *helo, milter_done_fn done, void *ctx);
/* esmtp_args: NULL-terminated "KEY=VALUE" list (or NULL). */
void milter_mail(struct milter_session *m, const char *sender, const char *const *esmtp_args,
    milter_done_fn done, void *ctx);
void milter_rcpt(struct milter_session *m, const char *rcpt, milter_done_fn done, void *ctx);

/* header/recipient/sender/body modifications collected from all milters */
struct milter_mods;

/*
 * The message, as queued (CRLF lines, header then body), given once at
 * end of data; message must stay valid and unchanged until done is called.
 * qid is sent as macro i.
 */
void milter_message(struct milter_session *m, const char *qid, const char *message, size_t len,
    milter_done_fn done, void *ctx);
/* Valid after milter_message's done, until the next milter_mail or milter_abort. */
const struct milter_mods *milter_session_mods(const struct milter_session *m);

/* 1 if mods change anything (headers, body, recipients or sender). */
int milter_mods_any(const struct milter_mods *mods);
/*
 * Apply mods to the message milter_message was given: headers added,
 * inserted, changed or deleted, body replaced, with CRLF lines.  Returns
 * a malloc'd buffer and its length in *len_r.
 */
char *milter_mods_apply(const struct milter_mods *mods, const char *message, size_t len,
    size_t *len_r);
/* Recipients added / deleted (as the milters wrote them, usually "<a@b>"). */
size_t milter_mods_rcpt_added(const struct milter_mods *mods, const char ***rcpts_r);
size_t milter_mods_rcpt_deleted(const struct milter_mods *mods, const char ***rcpts_r);
/* The new envelope sender, NULL if unchanged. */
const char *milter_mods_new_sender(const struct milter_mods *mods);

/*
 * Modifications built by hand, for the unit tests: record one decoded
 * SMFIR_* action of a milter (leadspc: the milter negotiated
 * SMFIP_HDR_LEADSPC, its header values carry their own leading blank).
 * -1 with *error_r when the action is not a modification or exceeds the
 * bounds (number of changes, body size).
 */
struct milter_action;
struct milter_mods *milter_mods_new(void);
int milter_mods_add(struct milter_mods *mods, const struct milter_action *a, int leadspc,
    const char **error_r);
void milter_mods_free(struct milter_mods **mods);

/* RSET or a new transaction: ABORT the milters' current message.  Not while a step is pending. */
void milter_abort(struct milter_session *m);
/* Sends QUIT and closes; a pending step's done is never called.  Sets *m to NULL. */
void milter_session_free(struct milter_session **m);

#endif
