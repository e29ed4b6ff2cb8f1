/* SPDX-License-Identifier: MIT */
/*
 * smtpd - the SMTP server: sessions, commands, message data, AUTH.
 *
 * One event loop serves every connection of the process (libevent
 * bufferevents, TLS through bufferevent_openssl).  Message data streams
 * into a queue file as it arrives; the end of DATA/BDAT hands the file to
 * queue_commit, and the 250 is sent only from the commit callback, after
 * the flush that made the file durable.
 */
#ifndef FACTEUR_SMTPD_H
#define FACTEUR_SMTPD_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "queue_file.h"
#include "store/directory.h"

struct filter;
struct filter_msg;
struct milter_session;
struct policy;
struct policy_client;
struct policy_op;
struct workpool;

enum smtpd_mode {
	SMTPD_MX,		/* port 25: anyone may send to our domains */
	SMTPD_SUBMISSION,	/* port 587: STARTTLS, then AUTH, required */
	SMTPD_SMTPS,		/* port 465: implicit TLS, then AUTH required */
};

enum smtpd_state {
	SMTPD_ST_GREET,		/* before the banner: input is a pregreet, not read as commands */
	SMTPD_ST_CMD,		/* reading command lines */
	SMTPD_ST_AUTH,		/* reading a SASL response line */
	SMTPD_ST_DATA,		/* reading DATA lines up to <CRLF>.<CRLF> */
	SMTPD_ST_BDAT,		/* reading a BDAT chunk of known size */
	SMTPD_ST_COMMIT,	/* waiting for the filter, then the group commit: input paused */
	SMTPD_ST_CLOSING,	/* final reply queued; freed once it is written */
};

/* Why a message is refused at the end of DATA/BDAT (first reason wins). */
enum smtpd_data_error {
	DATA_OK, DATA_TOO_BIG, DATA_BARE_NEWLINE, DATA_LINE_TOO_LONG, DATA_HOPS,
	DATA_BDAT_REFUSED,
};

struct smtpd_data {
	char *line;		/* one line at a time, up to the data line limit */
	int prev_crlf;		/* last line ended with CRLF: a "." here may end DATA */
	int in_headers;
	int skipping_long_line;
	int skipped_cr;		/* last byte thrown away of a long line was CR */
	unsigned int hops;
	uint64_t bytes;		/* message size as stored */
	enum smtpd_data_error error;
	struct evbuffer *chunk;	/* BDAT: bytes of the chunks not yet processed */
	uint64_t bdat_remaining;
	int bdat_last;
};

/*
 * The client's name as Postfix's smtpd has it: looked up before the
 * banner, kept only if verified (its A/AAAA records give the client's
 * address back), else "unknown" with the reason.
 */
enum smtpd_name_status {
	SMTPD_NAME_OK,		/* verified (or a local, non-Internet client) */
	SMTPD_NAME_TEMP,	/* a lookup failed or took too long */
	SMTPD_NAME_PERM,	/* no PTR, or smtpd_peername_lookup = no */
	SMTPD_NAME_FORGED,	/* the PTR names do not resolve back to the address */
};

struct dns_verify;

struct smtpd_session {
	struct bufferevent *bev;
	struct event_base *base;
	enum smtpd_mode mode;
	enum smtpd_state state;
	char addr[64];
	char name[256];		/* the verified client name, or "unknown" */
	enum smtpd_name_status name_status;
	struct dns_verify *name_q;	/* the lookup before the banner */
	struct event *name_timer;	/* its time limit */
	char *helo;
	int esmtp;
	int tls;
	char *auth_user;
	int trusted;		/* mynetworks or authenticated: may relay */
	unsigned int errors;
	unsigned int commands;
	int discarding_line;	/* command line over the limit: skip to its end */
	int dead;		/* peer gone while a commit was pending */
	int in_read;		/* in smtpd_read_cb: replies are written at its end */
	/* Policy (smtpd_policy.c). */
	struct policy_client *pclient;
	struct policy_op *policy_op;	/* the check in progress */
	struct event *greet_timer;	/* smtpd_greet_pause running */
	int policy_connected;	/* the connect check passed */
	int pregreet;		/* talked before the banner */
	int pipelining;		/* pipelined where it may not */
	/* Current transaction. */
	int in_mail;
	int smtputf8;
	struct queue_envelope env;
	struct queue_writer *writer;
	struct filter_msg *fmsg;	/* the filter's view of the message, or NULL */
	struct milter_session *milter;	/* smtpd_milters' conversation, made at the first MAIL */
	int milter_discard;	/* a milter said DISCARD: 250, then drop the message */
	struct smtpd_data data;
	/* SASL exchange in progress. */
	int auth_mech;
	int auth_step;
	char *auth_login_user;
};

/* Global set-up: TLS context (may be NULL if TLS is unavailable). */
void smtpd_init(struct event_base *base, SSL_CTX *tls_ctx);
/* Replace the TLS context after a reload (new sessions use it). */
void smtpd_set_tls(SSL_CTX *tls_ctx);
/* Serve a listening socket. */
void smtpd_listen(int fd, enum smtpd_mode mode);

/* smtpd.c: reply helpers used by the other smtpd files. */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtpd_error(struct smtpd_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void smtpd_transaction_reset(struct smtpd_session *s);
void smtpd_banner(struct smtpd_session *s);
/* Stop reading; free the session once the queued replies are written. */
void smtpd_close(struct smtpd_session *s);
/* Free a session (the peer is gone). */
void smtpd_session_free(struct smtpd_session *s);
/* Back to reading commands after a commit, handling input already buffered. */
void smtpd_resume(struct smtpd_session *s);
/* "ESMTPSA" and friends (RFC 3848), for Received and logs. */
const char *smtpd_proto(const struct smtpd_session *s);

/* smtpd_milter.c: smtpd_milters at MAIL, RCPT and the end of the message. */
/* After MAIL's checks: ask the milters, then reply (input paused meanwhile). */
void smtpd_milter_mail(struct smtpd_session *s);
/* After RCPT's checks: ask, then add the recipient and reply, or refuse it. */
void smtpd_milter_rcpt(struct smtpd_session *s, const char *addr, const char *orcpt,
    unsigned int notify, enum dir_rcpt kind, const char *target);
/* The message is written and flushed: ask, apply changes, then next(s). */
void smtpd_milter_message(struct smtpd_session *s, void (*next)(struct smtpd_session *));
/* Input paused while a milter or the filter works; back to commands. */
void smtpd_pause(struct smtpd_session *s);

/* smtpd_policy.c: policy/ at connect, MAIL and RCPT (p NULL: no policy). */
void smtpd_set_policy(struct policy *p);
/* Local or relay domain (directory or parameters): mail to it is accepted from anyone. */
int smtpd_domain_is_ours(const char *domain);
/* A new session: the connect check and the greeting pause, then the banner. */
void smtpd_policy_connect(struct smtpd_session *s);
/* Input arrived before the banner. */
void smtpd_policy_pregreet(struct smtpd_session *s);
/* The client sent more after a command that must end a pipelined group. */
void smtpd_policy_pipelining(struct smtpd_session *s, const char *after);
void smtpd_policy_authenticated(struct smtpd_session *s);
/* After MAIL's own checks: the policy, then milters or 250. */
void smtpd_policy_mail(struct smtpd_session *s);
/* After RCPT's own checks: the policy, then milters or the recipient added and 250. */
void smtpd_policy_rcpt(struct smtpd_session *s, const char *addr, const char *orcpt,
    unsigned int notify);
/*
 * Add a recipient to the envelope, expanding a directory alias or
 * catch-all; target is the policy verdict's rcpt_target.
 */
void smtpd_add_rcpt(struct smtpd_session *s, const char *addr, const char *orcpt,
    unsigned int notify, enum dir_rcpt kind, const char *target);
void smtpd_policy_free(struct smtpd_session *s);

/* smtpd_data.c */
/* Filter messages with f, finishing them in pool's threads (f NULL: no filter). */
void smtpd_set_filter(struct filter *f, struct workpool *pool);
/* Start DATA/BDAT: create the queue file and write the Received header. -1 + reply sent. */
int smtpd_data_begin(struct smtpd_session *s);
/* Consume what DATA lines are buffered in src; 1 when <CRLF>.<CRLF> was seen. */
int smtpd_data_lines(struct smtpd_session *s, struct evbuffer *src, int dot_mode);
/* End of message: reply with the error, or commit (reply from the commit callback). */
void smtpd_data_end(struct smtpd_session *s);
void smtpd_data_free(struct smtpd_session *s);

/* smtpd_auth.c */
int smtpd_auth_load(const char *path, const char **error_r);
int smtpd_auth_enabled(void);
/* AUTH command; may switch the session to SMTPD_ST_AUTH. */
void smtpd_auth_command(struct smtpd_session *s, const char *arg);
/* One SASL response line in SMTPD_ST_AUTH. */
void smtpd_auth_response(struct smtpd_session *s, const char *line);

#endif
