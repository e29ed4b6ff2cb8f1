/* SPDX-License-Identifier: MIT */
/*
 * bounce - delivery status notifications (RFC 3464) to a message's sender.
 *
 * One notice per message and attempt: a multipart/report with a human
 * explanation, a message/delivery-status part with one block per
 * recipient, and the original headers (text/rfc822-headers) or, when the
 * sender asked RET=FULL for a failure, the whole message.  The notice is
 * an ordinary queue file with the null sender, so it is never bounced in
 * turn; it is durable (queue_commit_sync) before this returns, so the
 * caller may then mark the recipients failed.
 */
#ifndef FACTEUR_BOUNCE_H
#define FACTEUR_BOUNCE_H

#include <stddef.h>

#include "queue_file.h"

enum bounce_kind { BOUNCE_FAILED, BOUNCE_DELAYED };

struct bounce_rcpt {
	size_t index;		/* into env->rcpts */
	const char *dsn;	/* "5.1.1" */
	const char *text;	/* the remote reply, or our own reason */
	int remote;		/* text is a reply of remote_mta (Diagnostic-Code: smtp) */
	const char *remote_mta;	/* host name of the next hop, or NULL */
};

/*
 * Should recipient r get a notice of this kind?  Honours NOTIFY: without
 * NOTIFY a failure is reported and a delay is reported too (RFC 3461
 * leaves delays to the MTA).  The null sender never gets one.
 */
int bounce_wanted(const struct queue_envelope *env, const struct queue_rcpt *r,
    enum bounce_kind kind);
/*
 * Write and commit the notice for rcpts of env (content read from fd).
 * 0 with qid_r set, or -1 with *error_r (static).
 */
int bounce_send(const struct queue_envelope *env, int fd, enum bounce_kind kind,
    const struct bounce_rcpt *rcpts, size_t n, char qid_r[QUEUE_ID_SIZE], const char **error_r);

#endif
