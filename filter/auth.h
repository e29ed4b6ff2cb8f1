/* SPDX-License-Identifier: MIT */
/*
 * auth - sender authentication of the before-queue filter: SPF (RFC 7208,
 * libspf2), DKIM verification and signing (RFC 6376, libopendkim), DMARC
 * (RFC 7489, libopendmarc), reported as one Authentication-Results field
 * (RFC 8601) and as scored symbols of the verdict.
 *
 * Every DNS question goes through filter/dns_blocking (libunbound, the
 * dns_forwarder setting), never through the system resolver.  One context
 * is created at start-up and shared by the worker threads: every function
 * taking it is thread-safe.
 */
#ifndef FACTEUR_FILTER_AUTH_H
#define FACTEUR_FILTER_AUTH_H

#include <stddef.h>

struct verdict;
struct auth_ctx;

/* From the var_* parameters; -1 and *error_r (static text) on error. */
int auth_ctx_new(struct auth_ctx **ctx_r, const char **error_r);
void auth_ctx_free(struct auth_ctx **ctx);

struct auth_request {
	const char *client_addr;	/* IP literal of the SMTP client */
	const char *helo;
	const char *mail_from;		/* "" for the null sender */
	const char *message;		/* whole message, CRLF lines, as it will be queued */
	size_t message_len;
	int trusted;			/* authenticated or mynetworks: SPF/DMARC not applied */
};

enum auth_dmarc_disposition { AUTH_DMARC_NONE, AUTH_DMARC_QUARANTINE, AUTH_DMARC_REJECT };

struct auth_result {
	/*
	 * SPF of MAIL FROM (HELO when null sender) and of HELO: "pass",
	 * "fail", "softfail", "neutral", "none", "temperror", "permerror"
	 * ("" when not checked).
	 */
	char spf[16], spf_helo[16];
	int dkim_signed, dkim_valid, dkim_valid_author;	/* any signature; one valid; valid for the From domain */
	char dmarc[16];			/* "pass", "fail", "none", "temperror", "permerror" ("" when not checked) */
	char dmarc_policy[16];		/* p= applied: "none", "quarantine", "reject" or "" */
	enum auth_dmarc_disposition dmarc_disposition;	/* after pct and dmarc_honor_policy */
	char *from_domain;		/* RFC5322.From domain, or NULL */
	/* "Authentication-Results: id; spf=...;\r\n\tdkim=...\r\n" (RFC 8601), malloc'd */
	char *authentication_results;

	/* For auth_sa_eval and the logs. */
	int dkim_checked;		/* DKIM verification ran */
	char *dkim_domains;		/* d= of every signature, space-separated, or NULL */
	char *dkim_valid_domains;	/* d= of the valid ones, or NULL */
	char *envelope_domain;		/* RFC5321.MailFrom domain, or NULL */
	char arc[16];			/* ARC chain: "pass", "fail", "none" ("" when not checked) */
};

/*
 * Check the message: blocking (DNS), called from a worker thread.  Adds
 * the symbols to v (see filter/README.md) and fills *res (free it with
 * auth_result_free).  0, or -1 on an internal error (res still usable).
 */
int auth_verify(struct auth_ctx *ctx, const struct auth_request *req, struct verdict *v,
    struct auth_result *res);
void auth_result_free(struct auth_result *res);

/*
 * SpamAssassin eval tests answered from the result: function is the name
 * ("check_for_spf_pass", "check_dkim_valid", "check_dmarc_reject", ...
 * every SPF/DKIM/DMARC eval of Debian's rules), args the raw text inside
 * the parentheses ("" when none).  1 hit, 0 no hit, -1 not a function of
 * this module.
 */
int auth_sa_eval(const struct auth_result *res, const char *function, const char *args);

/*
 * The DKIM-Signature header field (folded, ending CRLF) for message,
 * signed with domain's key from dkim_key_directory (DOMAIN/SELECTOR.private:
 * the first selector in name order, or the one given as "DOMAIN/SELECTOR"),
 * relaxed/relaxed rsa-sha256 over dkim_sign_headers.  NULL and *error_r
 * (static text) if there is no key or signing fails.  Thread-safe.
 */
/*
 * ARC-seal relayed mail (arc_seal_domain, arc_seal_selector): the three
 * ARC fields (CRLF lines) to put above message, res the message's
 * verification (its Authentication-Results and arc result).  NULL +
 * error_r when sealing is not configured or fails.  Thread-safe.
 */
char *auth_arc_seal(struct auth_ctx *ctx, const struct auth_result *res, const char *message,
    size_t len, const char **error_r);
char *auth_dkim_sign(struct auth_ctx *ctx, const char *domain, const char *message, size_t len,
    const char **error_r);

#endif
