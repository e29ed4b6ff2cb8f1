/* SPDX-License-Identifier: MIT */
/*
 * policy - the connect/HELO/MAIL/RCPT-time decisions of an MX, one engine
 * used by smtpd and by the policy delegation service (policyd):
 *
 *   connect  connection rate per client network; DNSBL/DNSWL scoring and
 *            forward-confirmed reverse DNS start here (answers awaited at
 *            RCPT, or at connect when dnsbl_action is drop)
 *   MAIL     message rates per client network, per sender, per user
 *   RCPT     allow/deny lists; recipient validity from the directory
 *            (accounts, aliases, catch-all, relay recipient lists, probes
 *            of the next hop); HELO syntax, pregreet and pipelining,
 *            DNSBL, RHSBL, FCrDNS; recipient rates; greylisting
 *
 * Clients in mynetworks and authenticated users skip the checks meant for
 * strangers (DNSBL, HELO, greylisting, client rates) but not recipient
 * validity, deny lists or the per-user rates of outbound submission.
 * A client on an allow list or with a DNSWL score at or below
 * dnsbl_allowlist_threshold skips them as well.  Backend failures (a
 * Redis that is down, a DNS timeout) let mail through and are logged:
 * the policy never turns a broken dependency into lost mail.
 */
#ifndef FACTEUR_POLICY_H
#define FACTEUR_POLICY_H

#include <stddef.h>

#include <event2/event.h>

#include "store/directory.h"

struct policy;
struct policy_client;
struct policy_op;
struct pstate;

/* What the client said so far; NULL for what it has not said yet. */
struct policy_request {
	const char *helo;
	const char *sender;	/* "" for the null sender */
	const char *recipient;	/* RCPT only */
	const char *sasl_user;	/* authenticated user, or NULL */
	long size;		/* MAIL SIZE=, 0 if not given */
};

struct policy_verdict {
	/*
	 * 0: no objection.  Otherwise the SMTP code of reply: 421/521 (close
	 * the connection), 450/451/452 (temporary), 550/553/554 (refused).
	 */
	int code;
	char reply[512];	/* the whole reply line, "450 4.7.1 <a@b>: ..." */
	const char *reason;	/* short word for logs and counters: "greylist", "dnsbl", ... */
	/* RCPT with code 0: how the recipient resolved, for alias expansion. */
	enum dir_rcpt rcpt;
	char rcpt_target[320];	/* the directory entry that answered (catch-all, alias sans +ext) */
};

typedef void policy_cb(void *ctx, const struct policy_verdict *verdict);

/*
 * The engine of this process: opens the directory (when its file exists),
 * the state backend, and checks the DNSBL lists' syntax.  NULL with
 * *error_r (static text) on a configuration error.
 */
struct policy *policy_new(struct event_base *base, const char **error_r);
void policy_free(struct policy **p);
/* The directory, or NULL when directory_database does not exist. */
struct directory *policy_directory(struct policy *p);
struct pstate *policy_state(struct policy *p);

/*
 * Is domain one of ours (local, relay or backup: mail to it is accepted
 * from anyone)?  The directory's domains and the local_domains and
 * relay_domains parameters both count.
 */
int policy_domain_is_ours(struct policy *p, const char *domain);

/* One SMTP client (a session of smtpd, or a client_address of policyd). */
struct policy_client *policy_client_new(struct policy *p, const char *client_ip, int trusted);
void policy_client_free(struct policy_client **c);
/* What smtpd saw of the client's manners. */
void policy_client_pregreet(struct policy_client *c);
void policy_client_pipelining(struct policy_client *c);
/* The client authenticated (exempt from stranger checks from now on). */
void policy_client_authenticated(struct policy_client *c, const char *user);
/* The verified name of the client once FCrDNS answered, or "unknown". */
const char *policy_client_name(const struct policy_client *c);

/*
 * Each check answers once, later, from the event loop; the returned op
 * may be cancelled (the callback will not run) when the session ends.
 */
struct policy_op *policy_connect(struct policy_client *c, policy_cb *cb, void *ctx);
struct policy_op *policy_mail(struct policy_client *c, const struct policy_request *req,
    policy_cb *cb, void *ctx);
struct policy_op *policy_rcpt(struct policy_client *c, const struct policy_request *req,
    policy_cb *cb, void *ctx);
void policy_cancel(struct policy_op **op);

#endif
