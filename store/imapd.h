/* SPDX-License-Identifier: MIT */
/*
 * imapd - the IMAP server of the mailbox store (IMAP4rev1, RFC 3501, and
 * IMAP4rev2, RFC 9051), on libevent.
 *
 * One process serves many sessions (imap_processes of them share the
 * listeners: see proc_workers).  A session reads commands through
 * imap_parser's reader, answers them from the account's mstore index and
 * blobs, and keeps a view of its selected mailbox: the UIDs it has
 * announced, in sequence-number order, with their flags and modseqs.
 * What other sessions and lmtpd change is found by the index's data
 * version (each command, and every second in IDLE), read with
 * mstore_changes() since the view's highest modseq, and announced as
 * EXISTS, FETCH FLAGS and EXPUNGE (or VANISHED with QRESYNC) when the
 * protocol allows it.  Logins verify their hash in a worker thread
 * (store/auth.h); everything else runs in the loop: SQLite is local and
 * a FETCH that would queue much output pauses until the client reads.
 *
 * The first part of this header is what imapd_main.c wires; the second
 * is shared by the command modules (imapd*.c, imap_fetch.c,
 * imap_search.c).
 */
#ifndef FACTEUR_IMAPD_H
#define FACTEUR_IMAPD_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "store/imap_parser.h"
#include "store/mstore.h"

/* ---- the daemon ---- */

/* Open the store and the worker pool; tls may be NULL (no STARTTLS, no imaps). */
void imapd_init(struct event_base *base, SSL_CTX *tls);
/* A new certificate (SIGHUP); NULL keeps the old one. */
void imapd_set_tls(SSL_CTX *tls);
/* Serve a listening socket: implicit_tls for imaps_listen. */
void imapd_listen(int fd, int implicit_tls);
/* Close every session with "* BYE" (SIGTERM). */
void imapd_shutdown(void);

/* ---- for the command modules ---- */

/* ENABLEd extensions. */
#define IMAPD_EN_REV2 0x01
#define IMAPD_EN_CONDSTORE 0x02
#define IMAPD_EN_QRESYNC 0x04
#define IMAPD_EN_UTF8 0x08

/* A message of the selected mailbox as the session has announced it. */
struct imapd_msg {
	uint32_t uid;
	unsigned int flags;
	uint64_t modseq;
};

struct imapd_selected {
	int64_t id;
	char name[MSTORE_NAME_MAX];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;	/* of the view: changes above it are news */
	int readonly;
	struct imapd_msg *msgs;	/* msgs[seq - 1], in UID order */
	uint32_t count, cap;
	char *keywords;		/* keywords announced in FLAGS, blank-separated */
	uint32_t *saved;	/* SEARCHRES's $, as UIDs */
	size_t nsaved;
	/* The account holding it (the session's, or a shared one) and the user's rights. */
	struct mstore_account *acct;
	char rights[MSTORE_ACL_SIZE];
};

enum imapd_state { IMAPD_NOAUTH, IMAPD_AUTH, IMAPD_SELECTED, IMAPD_LOGOUT };

struct imapd_session;

/* Untagged or continuation text: "* ..." and CRLF. */
void imapd_send(struct imapd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Raw bytes (a response built with imap_out, literals included). */
void imapd_send_raw(struct imapd_session *s, const void *data, size_t len);
/* The tagged reply of the current command: "tag OK|NO|BAD text". */
void imapd_tagged(struct imapd_session *s, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A syntax error of the current command (counts towards the BYE). */
void imapd_bad(struct imapd_session *s, const char *text);
/* Bytes queued for the client, for flow control. */
size_t imapd_output_pending(const struct imapd_session *s);
/* Above this much queued output a long command suspends itself. */
#define IMAPD_OUTPUT_HIGH (256 * 1024)
/*
 * A command that cannot finish now (a FETCH of much data) suspends: the
 * session keeps state (freed with state_free if the client leaves) and
 * calls resume(s, state) once the output has drained.  resume takes the
 * state back and either suspends again or finishes with imapd_tagged().
 */
void imapd_suspend(struct imapd_session *s, void (*resume)(struct imapd_session *s, void *state),
    void *state, void (*state_free)(void *state));

struct imapd_selected *imapd_selected(struct imapd_session *s);
/* The logged-in account's index. */
struct mstore_account *imapd_account(struct imapd_session *s);
/* The index holding the selected mailbox (a shared mailbox's owner's, or the session's). */
struct mstore_account *imapd_sel_account(struct imapd_session *s);
/*
 * Another account's index for shared mailboxes, opened once per session
 * (owner's own address gives imapd_account()); NULL with *error_r and
 * *status_r (MSTORE_ENOTFOUND when it has no index).
 */
struct mstore_account *imapd_account_of(struct imapd_session *s, const char *owner,
    int *status_r, const char **error_r);
/* Quota in bytes of the account of an index (0: none). */
uint64_t imapd_quota_of(struct imapd_session *s, struct mstore_account *acct);
struct mstore *imapd_store(void);
/* A message of the store, mapped and parsed (store/imap_message.h); NULL with *error_r. */
struct imap_message *imapd_message_open(const char *blob, const char **error_r);
unsigned int imapd_enabled(const struct imapd_session *s);
const char *imapd_client(const struct imapd_session *s);
/* The tag of the command running. */
const char *imapd_tag(const struct imapd_session *s);
/* The logged-in account ("-" before login). */
const char *imapd_user(const struct imapd_session *s);
/* CONDSTORE enabled by its use (SELECT (CONDSTORE), FETCH MODSEQ, UNCHANGEDSINCE ...). */
void imapd_enable_condstore(struct imapd_session *s);

/*
 * Parse a sequence set (or "$") into UID ranges of the selected mailbox:
 * uid says the set holds UIDs, else sequence numbers (which must exist:
 * -1 with *error_r otherwise).  Ranges are sorted, merged.
 */
int imapd_set_to_uids(struct imapd_session *s, const char *text, int uid,
    struct mstore_range **ranges_r, size_t *n_r, const char **error_r);
/* Sequence number of uid in the view, 0 if none. */
uint32_t imapd_seq_of(const struct imapd_selected *sel, uint32_t uid);
/* "(\Seen $Junk)" of flags and keywords. */
void imapd_flags_out(struct imap_out *o, unsigned int flags, const char *keywords);
/* Announce flags of the view that another change made (FETCH ... FLAGS). */
void imapd_msg_updated(struct imapd_session *s, const struct mstore_msg *m);
/* Remember keywords in use: sends FLAGS and PERMANENTFLAGS if new ones appear. */
void imapd_keywords_seen(struct imapd_session *s, const char *keywords);
/* The command is a UID command, or may announce expunges (not FETCH, STORE, SEARCH). */
void imapd_set_expunge_ok(struct imapd_session *s, int ok);
/* Announce what changed in the selected mailbox (new messages, flags, expunges). */
void imapd_sync(struct imapd_session *s, int force);
/* Drop uid from the view, announcing EXPUNGE or VANISHED. */
void imapd_expunged(struct imapd_session *s, uint32_t uid);

/* A mailbox argument as a store name (UTF-8, normalized); -1 with *error_r. */
int imapd_mailbox_in(struct imapd_session *s, const struct imap_arg *arg, char *name,
    size_t size, const char **error_r);
/* The same from the name's text as the client sent it (wire encoding). */
int imapd_mailbox_name(struct imapd_session *s, const char *wire, char *name, size_t size,
    const char **error_r);
/* Text of the client's encoding for a name (modified UTF-7 or UTF-8); malloc'd. */
char *imapd_mailbox_wire_decode(struct imapd_session *s, const char *wire);
/* A store name as the client reads it (modified UTF-7 unless UTF-8 is enabled). */
void imapd_mailbox_out(struct imapd_session *s, struct imap_out *o, const char *name);
/* Quota of the account in bytes (0: none). */
uint64_t imapd_quota(const struct imapd_session *s);
/* The view of a newly selected mailbox (NULL: unselect). */
void imapd_select_view(struct imapd_session *s, struct imapd_selected *sel);

/*
 * ---- shared mailboxes (store/imapd_acl.c) ----
 * Other accounts' mailboxes that the user may see (ACL right "l") appear
 * under IMAPD_SHARED/owner@domain/ (the "other users" namespace).
 */
#define IMAPD_SHARED "Shared"

/* A mailbox as the client names it, resolved. */
struct imapd_mbox {
	struct mstore_account *acct;	/* the session's or a shared one (the session keeps it) */
	char name[MSTORE_NAME_MAX];	/* its name in acct */
	char full[MSTORE_NAME_MAX];	/* its name for the client */
	int shared;			/* acct is another account's */
	int exists;			/* mb is filled */
	struct mstore_mailbox mb;
	char rights[MSTORE_ACL_SIZE];	/* the user's (all on its own mailboxes) */
};

/*
 * Resolve a store name (imapd_mailbox_in's) to its account and mailbox.
 * 0 with m filled (m->exists 0 for a name that does not exist yet, its
 * rights those of its parent, for CREATE); MSTORE_ENOTFOUND for a
 * mailbox the user may not see; MSTORE_EINVAL for names in the shared
 * namespace that name no mailbox ("Shared", "Shared/owner").
 */
int imapd_mbox_resolve(struct imapd_session *s, const char *name, struct imapd_mbox *m,
    const char **error_r);
/* Parse and resolve a mailbox argument; on failure the tagged NO is sent and -1 returned. */
int imapd_mbox_arg(struct imapd_session *s, const struct imap_arg *arg, struct imapd_mbox *m);
/* 1 if rights (a MSTORE_ACL_RIGHTS text) hold right. */
int imapd_right(const char *rights, char right);
/* The shared mailboxes the user may see, for LIST: fn gets each (m->exists set). */
int imapd_shared_list(struct imapd_session *s, int (*fn)(const struct imapd_mbox *m, void *ctx),
    void *ctx, const char **error_r);

/* ---- the classifier taught by moves into and out of Junk (store/imapd_learn.c) ---- */

void imapd_learn_init(struct event_base *base);
/* After a COPY or MOVE from mailbox src of from into dst, as map says. */
void imapd_junk_learn(struct imapd_session *s, struct mstore_account *from, int64_t src,
    const struct imapd_mbox *dst, const struct mstore_uidmap *map);

/* Commands: a name, the states it is valid in, its handler. */
#define IMAPD_S_NOAUTH 0x1
#define IMAPD_S_AUTH 0x2
#define IMAPD_S_SELECTED 0x4
#define IMAPD_S_ANY 0x7

struct imapd_command {
	const char *name;
	unsigned int states;
	void (*fn)(struct imapd_session *s, const struct imap_command *cmd);
};

/* Tables of the modules, each ended by a NULL name. */
extern const struct imapd_command imapd_mailbox_commands[];
extern const struct imapd_command imap_fetch_commands[];
extern const struct imapd_command imap_search_commands[];
extern const struct imapd_command imapd_acl_commands[];

#endif
