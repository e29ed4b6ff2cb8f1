/* SPDX-License-Identifier: MIT */
/*
 * smtp_client - one outbound SMTP connection to a destination.
 *
 * A connection looks up the destination (MX records, then addresses),
 * tries its hosts in order until one greets it, says EHLO, upgrades with
 * STARTTLS as the TLS policy says, and then waits for transactions.  A
 * transaction is one message to up to destination_recipient_limit
 * recipients; MAIL/RCPT/DATA are pipelined when the server allows it and
 * the content goes as BDAT when it offers CHUNKING.  Everything runs on
 * the event loop: nothing here blocks except reads of the queue file.
 *
 * The owner (qmgr) learns what happened through one callback, always run
 * from the event loop and never from inside an smtp_conn_*() call, so it
 * may free the connection there:
 *   SMTP_CONN_READY   connected and idle: give it a transaction
 *   SMTP_CONN_FAILED  no host of the destination could be used;
 *                     smtp_conn_error() says why
 *   SMTP_CONN_DONE    the transaction ended; results are in its rcpts;
 *                     the connection may be reused if smtp_conn_usable()
 *   SMTP_CONN_CLOSED  an idle connection was closed by the server
 */
#ifndef FACTEUR_SMTP_CLIENT_H
#define FACTEUR_SMTP_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "queue_file.h"
#include "transport.h"

struct smtp_txn_rcpt {
	const char *addr;
	const char *orcpt;	/* xtext "rfc822;...", or NULL */
	unsigned int notify;	/* NOTIFY_* bits, 0 if not given */
	/* Results, set when SMTP_CONN_DONE is reported. */
	int code;		/* 2xx delivered, 4xx deferred, 5xx failed */
	char dsn[16];
	char text[600];		/* the server's reply, or our own reason */
	int remote;		/* text is the server's reply */
	const char *in_reply_to;/* "RCPT TO", "end of DATA" ...; NULL if not remote */
	int accepted;		/* internal: RCPT got 2xx */
};

struct smtp_txn {
	const char *qid;
	int fd;			/* queue file, content read with pread */
	const struct queue_envelope *content;	/* read with queue_content_pread */
	off_t content_len;	/* QUEUE_CONTENT_SIZE() */
	const char *sender;	/* "" for the null sender */
	int ret;		/* 0, 1 FULL, 2 HDRS */
	const char *envid;	/* xtext or NULL */
	struct smtp_txn_rcpt *rcpts;
	size_t nrcpts;
};

enum smtp_conn_event { SMTP_CONN_READY, SMTP_CONN_FAILED, SMTP_CONN_DONE, SMTP_CONN_CLOSED };

struct smtp_conn;
typedef void smtp_conn_cb(void *ctx, struct smtp_conn *conn, enum smtp_conn_event event);

/* The TLS client context (owned by the caller; replaced on reload). */
void smtp_client_set_tls(SSL_CTX *ctx);
/* Start connecting to the SMTP route (copied). */
struct smtp_conn *smtp_conn_new(struct event_base *base, const struct transport_route *route,
    smtp_conn_cb *cb, void *ctx);
/* Run txn on a READY connection; txn must live until SMTP_CONN_DONE. */
void smtp_conn_send(struct smtp_conn *conn, struct smtp_txn *txn);
/* Say QUIT (politely, in the background) and forget the connection. */
void smtp_conn_free(struct smtp_conn **conn);
/* After SMTP_CONN_DONE: 1 if another transaction may follow. */
int smtp_conn_usable(const struct smtp_conn *conn);
/* After SMTP_CONN_FAILED: the reason, a DSN code and whether it is permanent. */
const char *smtp_conn_error(const struct smtp_conn *conn, const char **dsn_r, int *permanent_r);
/* "mx.example.org[192.0.2.1]:25" of the current host, or "none". */
const char *smtp_conn_peer(const struct smtp_conn *conn);
/* The current host's name (for Remote-MTA), or NULL before one answered. */
const char *smtp_conn_host(const struct smtp_conn *conn);
/* Transactions done on this connection so far. */
unsigned int smtp_conn_txns(const struct smtp_conn *conn);

#endif
