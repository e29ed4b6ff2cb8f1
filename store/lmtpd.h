/* SPDX-License-Identifier: MIT */
/*
 * lmtpd - the LMTP server (RFC 2033) of the mailbox store: qmgr hands it
 * the mail of local accounts, and it saves each message once as a blob
 * and once per recipient as a row in the recipient's INBOX (mstore.h).
 *
 * One process, one event loop.  Commands: LHLO (HELO and EHLO are
 * refused: this is LMTP), MAIL (SIZE, BODY, SMTPUTF8, XQID), RCPT, DATA,
 * RSET, NOOP, VRFY (252), QUIT; the lines go through smtpd's parser
 * (mta/smtp_proto.c and smtp_addr.c), so no parser is new here.
 *
 *   RCPT   the recipient must be an enabled account of the directory
 *          (directory_recipient() == DIR_RCPT_ACCOUNT, "user+tag@domain"
 *          resolving to "user@domain"): else 550 5.1.1 (5.2.1 disabled,
 *          451 4.3.0 when the directory cannot be read).  With MAIL's
 *          SIZE=, an account that could not take that much more is
 *          refused now: 552 5.2.2, or 452 4.2.2 when lmtp_quota_status is
 *          temporary.
 *   DATA   the content streams into one blob: "Return-Path: <sender>"
 *          and the message, dot-unstuffed, line ends made CRLF.  No
 *          Delivered-To header is added: it differs per recipient and
 *          would defeat the sharing; the recipient is kept in the index
 *          row (messages.delivered_to) instead.  The blob is counted
 *          once per recipient, then each recipient gets one append into
 *          INBOX, and only when all of it is on disk its reply: 250 2.0.0
 *          saved, 552 5.2.2 / 452 4.2.2 over quota, 451 4.3.0 when the
 *          index could not be written.  The replies come in RCPT order,
 *          one per accepted recipient.
 *
 * Durability (lmtp_sync).  group (the default): the blob and then the
 * rows are flushed by a syncfs of the store shared by every delivery
 * pending in the worker, the blob always before any row naming it (the
 * argument is in lmtpd.c); no command of the session is read meanwhile.
 * fsync: the blob file, its directory and each commit are fsync'd in
 * turn, for stores where syncfs is not a real flush (network file
 * systems).
 *
 * Sieve.  A recipient with an active script (managesieved stores them:
 * sieve_store.h) has it run on the message, mapped from its blob, before
 * anything is saved (lmtpd_sieve.h).  keep and fileinto are appends, each
 * holding one reference of the blob (fileinto into a missing mailbox
 * makes it with :create, else goes to INBOX, logged); discard saves
 * nothing; reject and ereject make the recipient's reply 550 5.7.1 with
 * the reason (RFC 5429: at LMTP time the refusal is the rejection, and
 * qmgr's bounce tells the sender); redirect and vacation queue new
 * messages.  A script that does not compile or fails at run time keeps
 * the message in INBOX.  The delivery id of INBOX is the one without
 * Sieve; other mailboxes add their name, so a retry saves nothing twice.
 *
 * Duplicates.  When lmtpd dies after committing some recipients but
 * before their replies, qmgr retries them.  LHLO offers XQID; qmgr then
 * sends "MAIL FROM:<...> XQID=<queue id>", and "<queue id> <recipient>"
 * is the delivery id stored with the row (mstore_append's delivery_id):
 * a retry finds it and answers 250 without saving a second copy.  The
 * ids are kept 30 days, longer than a message stays in the queue.
 *
 * The index work is synchronous SQLite on the event loop: one short
 * transaction per recipient (not fsync'd with lmtp_sync = group).  A busy index (an imapd session writing)
 * makes everyone wait up to the 5 s busy timeout; then the recipient
 * gets 451 and qmgr retries.
 */
#ifndef FACTEUR_LMTPD_H
#define FACTEUR_LMTPD_H

#include <stddef.h>

#include <event2/event.h>

struct mstore;

/*
 * Bind spec: "unix:/path" (a stale socket is removed; the socket is mode
 * 0660, owned by mail_owner, whose qmgr connects) or "inet:host:port";
 * "$spool_directory" is expanded.  Returns the listening descriptor, or
 * -1 with *error_r (static text).  *path_r (size bytes) receives the
 * socket's path, "" for inet.
 */
int lmtpd_bind(const char *spec, char *path_r, size_t size, const char **error_r);
/* Serve the listening socket fd on base, delivering into ms (lmtpd keeps it). */
void lmtpd_start(struct event_base *base, int fd, struct mstore *ms);
/* Close the listener and every session (a message being received is dropped). */
void lmtpd_stop(void);

#endif
