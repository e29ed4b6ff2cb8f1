/* SPDX-License-Identifier: MIT */
/*
 * sieve - the Sieve mail filtering language (RFC 5228): scripts compiled
 * once into a tree, then run against one message for one recipient, which
 * gives the list of actions lmtpd carries out (store/lmtpd_sieve.c).
 *
 * Extensions: fileinto, reject and ereject (RFC 5429), envelope, copy
 * (RFC 3894), body (RFC 5173), variables (RFC 5229), relational (RFC
 * 5231), imap4flags (RFC 5232), subaddress (RFC 5233), vacation (RFC
 * 5230), mailbox (RFC 5490: fileinto :create, mailboxexists),
 * comparator-i;ascii-numeric (RFC 4790); the comparators i;octet and
 * i;ascii-casemap are always there.
 *
 * A script is hostile input (ManageSieve takes it from any account):
 * its size, nesting depth and number of items are bounded at compile
 * time, and a run is bounded in actions, redirects, variables and in the
 * work its comparisons may do (a budget of steps: ":matches" patterns
 * against long headers cannot stall the delivery).  Errors name their
 * line: "line 3: unknown command \"fileinot\"".
 *
 * A run that fails (a runtime error: too much work, conflicting actions,
 * a second vacation) keeps the message in INBOX, as RFC 5228 2.10.6
 * wants, and says why.
 */
#ifndef FACTEUR_SIEVE_H
#define FACTEUR_SIEVE_H

#include <stddef.h>
#include <stdint.h>

#define SIEVE_MAX_SCRIPT_SIZE (1024 * 1024)	/* bytes of a script */
#define SIEVE_MAX_DEPTH 32		/* nested blocks and tests */
#define SIEVE_MAX_ITEMS 20000		/* commands, tests, arguments and strings */
#define SIEVE_MAX_ACTIONS 32		/* actions of one run */
#define SIEVE_MAX_REDIRECTS 4		/* redirect actions of one run */
#define SIEVE_MAX_VARIABLES 128		/* distinct variables of one run */
#define SIEVE_MAX_VALUE 4096		/* bytes of a variable's value */
#define SIEVE_MAX_STEPS 20000000	/* comparison steps of one run */
#define SIEVE_ERROR_SIZE 512

/* Vacation's :days: default, and the range a script's value is brought into. */
#define SIEVE_VACATION_DAYS 7
#define SIEVE_VACATION_MIN_DAYS 1
#define SIEVE_VACATION_MAX_DAYS 90

struct sieve_script;

/*
 * Compile len bytes of text (UTF-8; CRLF or LF line ends).  NULL with the
 * first error, prefixed with its line number, in error_r (size bytes).
 */
struct sieve_script *sieve_compile(const char *text, size_t len, char *error_r, size_t size);
void sieve_script_free(struct sieve_script **script);
/* The extensions a script may require, blank-separated (ManageSieve's SIEVE). */
const char *sieve_extensions(void);

/* The message a script runs against. */
struct sieve_message {
	const char *data;	/* header fields, the empty line, the body */
	size_t len;
	const char *env_from;	/* envelope sender, "" for <> */
	const char *env_to;	/* envelope recipient, as given in RCPT TO */
};

/* What a run may ask of the store. */
struct sieve_env {
	void *ctx;
	/* mailboxexists: 1 if the mailbox exists, 0 if not.  NULL: none does. */
	int (*mailbox_exists)(void *ctx, const char *name);
};

enum sieve_action_kind {
	SIEVE_KEEP,		/* into INBOX (explicit or implicit keep) */
	SIEVE_FILEINTO,		/* into mailbox */
	SIEVE_REDIRECT,		/* to address */
	SIEVE_DISCARD,		/* nothing to do: said for the log */
	SIEVE_REJECT,		/* refuse with reason (reject and ereject) */
	SIEVE_VACATION,		/* an automatic answer to the sender, if RFC 5230 allows */
};

struct sieve_action {
	enum sieve_action_kind kind;
	int line;		/* of the command; 0 for the implicit keep */
	/* keep, fileinto: flags and keywords to store with (imap4flags) */
	unsigned int flags;	/* MSTORE_F_* */
	char *keywords;		/* blank-separated, "" if none */
	char *mailbox;		/* fileinto */
	int create;		/* fileinto :create */
	int copy;		/* fileinto, redirect :copy */
	char *address;		/* redirect */
	char *reason;		/* reject, vacation */
	int ereject;
	/* vacation */
	unsigned int days;	/* within SIEVE_VACATION_MIN_DAYS..MAX_DAYS */
	char *subject;		/* NULL: "Auto: " and the message's subject */
	char *from;		/* NULL: the recipient */
	char *handle;		/* given, or made from reason, subject, from and :mime */
	char **addresses;	/* :addresses */
	size_t naddresses;
	int mime;		/* reason is a MIME entity (header fields, blank line, body) */
};

struct sieve_result {
	struct sieve_action *actions;
	size_t n;
	/* A runtime error ("" if none): actions then are the implicit keep alone. */
	char error[SIEVE_ERROR_SIZE];
};

/*
 * Run script on msg: res receives the actions to carry out, in order,
 * deduplicated (a mailbox filed into twice is one action; keep and
 * fileinto "INBOX" are one), the implicit keep included when nothing
 * cancelled it.  0, or -1 after a runtime error (res->error says which,
 * res holds the keep).  env may be NULL.  Free res with sieve_result_free.
 */
int sieve_execute(const struct sieve_script *script, const struct sieve_message *msg,
    const struct sieve_env *env, struct sieve_result *res);
void sieve_result_free(struct sieve_result *res);

/* ---- vacation (RFC 5230), apart so that tests can ask ---- */

/*
 * May msg be answered by the vacation action v for account (the
 * account's address; the envelope recipient and v's :addresses are the
 * user's too)?  NULL if yes, else why not (static text): the null sender,
 * a sender that is the user, a system sender (MAILER-DAEMON, owner-*,
 * *-request ...), Auto-Submitted other than "no", Precedence bulk, list
 * or junk, a mailing list (List-Id and the other List-* fields), or a
 * message whose To, Cc, Bcc and Resent-* fields do not name the user.
 */
const char *sieve_vacation_refusal(const struct sieve_message *msg, const struct sieve_action *v,
    const char *account);
/*
 * The name under which "answered sender with v" is remembered for v's
 * :days: hex SHA-256 of the handle and the sender in lower case.
 */
void sieve_vacation_key(const struct sieve_action *v, const char *sender, char key_r[65]);
/*
 * The answer (CRLF lines, malloc'd, *len_r bytes), to be queued with the
 * null envelope sender to msg->env_from: From :from or the envelope
 * recipient, Subject :subject or "Auto: " and the original's, In-Reply-To
 * and References, Auto-Submitted: auto-replied; the reason as text/plain
 * (UTF-8), or as the MIME entity it is with :mime.  hostname names the
 * Message-ID's right side.
 */
char *sieve_vacation_reply(const struct sieve_message *msg, const struct sieve_action *v,
    const char *hostname, size_t *len_r);

#endif
