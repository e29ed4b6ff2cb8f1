/* SPDX-License-Identifier: MIT */
/*
 * mstore - the mailbox store: message blobs shared by every recipient of a
 * message, and one SQLite index per account (mailboxes, UIDs, flags,
 * modseqs, quota usage).  lmtpd delivers into it, imapd serves it,
 * facteurctl mailbox inspects it.
 *
 * Layout under mail_store_directory (default $spool_directory/store):
 *   blobs/XX/YY/<sha256>   message bytes, content-addressed: the same
 *                          bytes delivered to 100 accounts are one file.
 *                          Written once (temporary file, fsync, rename,
 *                          fsync of the directory; or lmtpd's group
 *                          commit: one syncfs for many), never modified.
 *   store.db               blobs(id, size, refs): how many index rows, in
 *                          all accounts, point at each blob.
 *   accounts/<domain>/<localpart>/index.db
 *                          the account's index (WAL): mailboxes, messages,
 *                          expunged UIDs (for QRESYNC's VANISHED), usage
 *                          (bytes, messages) for quotas, deliveries (ids
 *                          of LMTP deliveries already saved, so a retry
 *                          after a crash does not save a message twice).
 *   tmp/                   blobs being written.
 * Path components are escaped: anything but [a-z0-9_+-] and inner dots
 * becomes %XX, so no address can reach outside its directory.
 *
 * Reference counts are crash-safe by ordering: a reference is counted in
 * store.db before the index row that holds it is committed, and uncounted
 * after the row is deleted, so the count is never below the truth (a
 * crash in between leaks a blob, never loses one).  A blob file is
 * unlinked only in the store.db write transaction that brings its count
 * to 0; a writer adding a reference checks, in its own write transaction,
 * that the file exists and puts its copy in place if not.
 *
 * Concurrency: several processes (lmtpd, imapd sessions, facteurctl) may
 * hold one account's index; every change is one BEGIN IMMEDIATE
 * transaction, with a 5 s busy timeout.  A handle is used by one thread
 * at a time.  Error texts (*error_r) live in the handle until its next
 * call.
 *
 * Mailbox names are UTF-8, levels separated by MSTORE_SEP ('/'); "INBOX"
 * is case-insensitive and always exists.  INBOX, Sent, Drafts, Trash and
 * Junk (with their SPECIAL-USE) are created when an index is created.
 * UIDVALIDITY is unique per account over time (a deleted and re-created
 * mailbox gets a new one).  Each change of a mailbox (append, flags,
 * expunge, copy into, move) takes one new modseq from its highestmodseq:
 * every message changed by one call shares it.
 *
 * Flags are a bitmask (MSTORE_F_*); keywords are a text of blank-separated
 * IMAP atoms, compared case-insensitively.
 *
 * Return values: 0 success, MSTORE_ERR (-1: database or I/O error, or
 * bad argument) or another negative MSTORE_E* with *error_r set.
 */
#ifndef FACTEUR_MSTORE_H
#define FACTEUR_MSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MSTORE_SEP '/'
/* Hex SHA-256 and its NUL. */
#define MSTORE_BLOB_ID_SIZE 65
#define MSTORE_NAME_MAX 512

#define MSTORE_ERR -1		/* database or I/O error, bad argument */
#define MSTORE_ENOTFOUND -2	/* no such mailbox */
#define MSTORE_EEXISTS -3	/* mailbox exists already */
#define MSTORE_EQUOTA -4	/* the change would exceed the quota */
#define MSTORE_EINVAL -5	/* a bad mailbox name, or not allowed on INBOX */
#define MSTORE_DUPLICATE 1	/* mstore_append: delivery id already saved */

/* System flags. */
#define MSTORE_F_SEEN 0x01
#define MSTORE_F_ANSWERED 0x02
#define MSTORE_F_FLAGGED 0x04
#define MSTORE_F_DELETED 0x08
#define MSTORE_F_DRAFT 0x10
#define MSTORE_F_ALL 0x1f

/* SPECIAL-USE (RFC 6154). */
enum mstore_special {
	MSTORE_SPECIAL_NONE = 0, MSTORE_SPECIAL_SENT, MSTORE_SPECIAL_DRAFTS, MSTORE_SPECIAL_TRASH,
	MSTORE_SPECIAL_JUNK, MSTORE_SPECIAL_ARCHIVE, MSTORE_SPECIAL_ALL, MSTORE_SPECIAL_FLAGGED,
};

struct mstore;		/* the store: its directory and store.db */
struct mstore_account;	/* one account's open index */
struct mstore_blob_writer;

/* A mailbox and its counters (STATUS, SELECT, LIST-EXTENDED). */
struct mstore_mailbox {
	int64_t id;		/* stable across renames; gone with a delete */
	char name[MSTORE_NAME_MAX];
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;
	enum mstore_special special_use;
	int subscribed;
	uint32_t messages;
	uint32_t unseen;	/* messages without \Seen */
	uint64_t size;		/* bytes of its messages */
};

/* A message of a mailbox. */
struct mstore_msg {
	uint32_t uid;
	uint64_t modseq;
	char blob[MSTORE_BLOB_ID_SIZE];
	uint64_t size;
	int64_t internaldate;	/* time_t */
	unsigned int flags;	/* MSTORE_F_* */
	const char *keywords;	/* "" if none; valid during the callback */
	const char *delivered_to;/* LMTP recipient (RCPT TO), or NULL */
};

/* A UID range, lo <= hi; hi UINT32_MAX for "*". */
struct mstore_range {
	uint32_t lo, hi;
};

/* COPY/MOVE: uid src[i] became dst[i] (in increasing src order). */
struct mstore_uidmap {
	size_t n;
	uint32_t *src, *dst;
	uint32_t uidvalidity;	/* of the destination */
};

struct mstore_append {
	const char *blob;	/* from mstore_blob_commit */
	uint64_t size;
	int64_t internaldate;	/* 0: now */
	unsigned int flags;
	const char *keywords;	/* NULL or "" if none */
	const char *delivered_to;/* NULL, or the LMTP recipient */
	/*
	 * NULL, or an id naming this delivery (LMTP: queue id and recipient):
	 * when it was already saved (kept 30 days) nothing is appended and
	 * MSTORE_DUPLICATE is returned with the first delivery's uid.
	 */
	const char *delivery_id;
	uint64_t quota;		/* bytes; 0: none.  Over it: MSTORE_EQUOTA */
};

enum mstore_flag_op { MSTORE_FLAGS_SET, MSTORE_FLAGS_ADD, MSTORE_FLAGS_REMOVE };

/* ---- the store ---- */

/*
 * Open the store at dir (NULL: mail_store_directory, default
 * $spool_directory/store), creating its directories and store.db.
 * NULL with *error_r (static text) on failure.
 */
struct mstore *mstore_open(const char *dir, const char **error_r);
void mstore_close(struct mstore **ms);
/* The directory of var_mail_store_directory with its default (static). */
const char *mstore_default_dir(void);

/* ---- blobs ---- */

/*
 * Write a blob: begin, write its bytes (as they will be served: CRLF
 * lines), then commit, which fsyncs it, puts it in place (or finds the
 * same bytes already there) and counts nrefs references to it: one for
 * each mstore_append or mstore_copy that will hold it.  commit fills
 * blob_r (MSTORE_BLOB_ID_SIZE) and *size_r.  abort throws it away.  The
 * writer is freed by commit and abort, whatever they return.
 */
struct mstore_blob_writer *mstore_blob_begin(struct mstore *ms, const char **error_r);
int mstore_blob_write(struct mstore_blob_writer *w, const void *data, size_t len);
int mstore_blob_commit(struct mstore_blob_writer **w, unsigned int nrefs, char *blob_r,
    uint64_t *size_r, const char **error_r);
/*
 * The same without any fsync: the file is renamed into place and counted
 * in store.db (committed at synchronous = NORMAL), and the caller makes
 * all of it durable (syncfs of the store, lmtpd's group commit) before
 * any index row may name the blob.  A crash before that leaves at worst
 * a count without its file or a file without its count: neither is read
 * through an index, and the next writer of the same bytes puts the file
 * back.  mstore_blob_commit, finding such a file in place, fsyncs it.
 */
int mstore_blob_commit_nosync(struct mstore_blob_writer **w, unsigned int nrefs, char *blob_r,
    uint64_t *size_r, const char **error_r);
void mstore_blob_abort(struct mstore_blob_writer **w);
/* Take n more references on an existing blob (MSTORE_ENOTFOUND if unknown). */
int mstore_blob_ref(struct mstore *ms, const char *blob, unsigned int n, const char **error_r);
/* Give back n references; the file goes with the last one. */
int mstore_blob_unref(struct mstore *ms, const char *blob, unsigned int n, const char **error_r);
/* Open a blob read-only: its fd (caller closes) and size; -1 with *error_r. */
int mstore_blob_open(struct mstore *ms, const char *blob, uint64_t *size_r, const char **error_r);
/* Its reference count, 0 if unknown, -1 on error (tests, facteurctl). */
long mstore_blob_refs(struct mstore *ms, const char *blob);
/*
 * Remove the temporary files of blob writers that died (older than
 * max_age seconds; a writer never takes that long); how many, -1 on error.
 * lmtpd calls it when it starts.
 */
int mstore_tmp_clean(struct mstore *ms, long max_age);

/* ---- accounts ---- */

/*
 * Open the index of account (local@domain, normalized by the caller as
 * the directory stores it), creating it with the default mailboxes when
 * create; without create a missing index is MSTORE_ENOTFOUND (NULL with
 * *status_r set if status_r is not NULL).
 */
struct mstore_account *mstore_account_open(struct mstore *ms, const char *account, int create,
    int *status_r, const char **error_r);
void mstore_account_close(struct mstore_account **acct);
/*
 * How the index's commits reach the disk (SQLite's synchronous in WAL
 * mode; a commit is always atomic and the index always consistent):
 *   MSTORE_SYNC_FULL  every commit is fsync'd before it returns (default).
 *   MSTORE_SYNC_DATA  commits that bring messages (append, copy, move),
 *                     give back blob references (expunge, mailbox delete)
 *                     or change rights are fsync'd; the others (flags,
 *                     mailbox create, rename, subscriptions, usage) are
 *                     written, not fsync'd: a power loss may undo the
 *                     last of them (imapd, imap_flag_sync = normal).
 *   MSTORE_SYNC_NONE  nothing is fsync'd: the caller flushes (syncfs)
 *                     before anything depends on it (lmtpd's group
 *                     commit).  Only for appends: an expunge must not
 *                     give back references before its rows are gone.
 * A later fsync'd commit makes the earlier ones durable too (one WAL).
 */
enum mstore_sync { MSTORE_SYNC_FULL, MSTORE_SYNC_DATA, MSTORE_SYNC_NONE };
void mstore_account_set_sync(struct mstore_account *acct, enum mstore_sync mode);
const char *mstore_account_name(const struct mstore_account *acct);
/* The index file's path (static buffer) for account. */
const char *mstore_account_path(struct mstore *ms, const char *account);
/*
 * 1 if another connection (another process) committed a change to the
 * index since the last call on this handle, 0 if not, -1 on error: a cheap
 * poll for IDLE and NOOP (PRAGMA data_version).
 */
int mstore_account_changed(struct mstore_account *acct);

/* Quota usage, kept in the same transactions as the changes. */
int mstore_usage(struct mstore_account *acct, uint64_t *bytes_r, uint64_t *messages_r);
/* Recompute usage and every mailbox's counters from the messages. */
int mstore_usage_recalc(struct mstore_account *acct, const char **error_r);

/* ---- mailboxes ---- */

/* Normalize a name into out (INBOX upper case); MSTORE_EINVAL if bad. */
int mstore_mailbox_name_check(const char *name, char *out, size_t size);
int mstore_mailbox_create(struct mstore_account *acct, const char *name,
    enum mstore_special special_use, const char **error_r);
/*
 * Delete a mailbox and its messages (MSTORE_EINVAL for INBOX).  Its
 * children stay (the caller decides what IMAP says about inferiors).
 */
int mstore_mailbox_delete(struct mstore_account *acct, const char *name, const char **error_r);
/*
 * Rename a mailbox and its children (from/... -> to/...); ids and
 * UIDVALIDITY stay.  Renaming INBOX moves its messages to a new mailbox
 * "to" and leaves INBOX empty (RFC 3501).
 */
int mstore_mailbox_rename(struct mstore_account *acct, const char *from, const char *to,
    const char **error_r);
int mstore_mailbox_subscribe(struct mstore_account *acct, const char *name, int subscribed,
    const char **error_r);
int mstore_mailbox_set_special(struct mstore_account *acct, const char *name,
    enum mstore_special special_use, const char **error_r);
/* Look up by name (or by id when name is NULL) into *mb. */
int mstore_mailbox_get(struct mstore_account *acct, const char *name, int64_t id,
    struct mstore_mailbox *mb, const char **error_r);
/* Every mailbox in name order; stops when fn returns non-zero (returned). */
int mstore_mailbox_list(struct mstore_account *acct,
    int (*fn)(const struct mstore_mailbox *mb, void *ctx), void *ctx, const char **error_r);
/* "\\Sent" ... for a special use, NULL for none; parse: -1 if unknown. */
const char *mstore_special_str(enum mstore_special s);
int mstore_special_parse(const char *s);

/* ---- messages ---- */

/*
 * Append a message (its blob reference is consumed in every case: on
 * failure or duplicate it is given back) into mailbox id mbox; *uid_r and
 * *modseq_r (may be NULL) receive the new message's.  0, MSTORE_DUPLICATE,
 * MSTORE_EQUOTA, MSTORE_ENOTFOUND, MSTORE_ERR.
 */
int mstore_append(struct mstore_account *acct, int64_t mbox, const struct mstore_append *a,
    uint32_t *uid_r, uint64_t *modseq_r, const char **error_r);
/* Messages of mbox with a UID in set (nset ranges; NULL: all), in UID order. */
int mstore_messages(struct mstore_account *acct, int64_t mbox, const struct mstore_range *set,
    size_t nset, int (*fn)(const struct mstore_msg *m, void *ctx), void *ctx,
    const char **error_r);
/*
 * Change the flags and keywords of the messages in set: replace (SET),
 * add or remove flags and the words of keywords (NULL: none).  With
 * unchangedsince > 0 (CONDSTORE) a message whose modseq is greater is
 * left alone and reported to fn with failed = 1.  fn (may be NULL) gets
 * every message whose flags changed, as they are now (and failed ones as
 * they are).  Messages whose flags would not change keep their modseq.
 * *modseq_r: the modseq given to the changed ones (0 if none changed).
 */
int mstore_flags_store(struct mstore_account *acct, int64_t mbox, const struct mstore_range *set,
    size_t nset, enum mstore_flag_op op, unsigned int flags, const char *keywords,
    uint64_t unchangedsince,
    void (*fn)(const struct mstore_msg *m, int failed, void *ctx), void *ctx,
    uint64_t *modseq_r, const char **error_r);
/*
 * Expunge the \Deleted messages of mbox (only those in set if set is not
 * NULL: UID EXPUNGE); fn (may be NULL) gets each expunged UID in order
 * after the commit.  Their blobs lose a reference.
 */
int mstore_expunge(struct mstore_account *acct, int64_t mbox, const struct mstore_range *set,
    size_t nset, void (*fn)(uint32_t uid, void *ctx), void *ctx, const char **error_r);
/*
 * Copy (or move) the messages of set from mailbox src to dst, keeping
 * flags, keywords and internal dates; *map_r (free with
 * mstore_uidmap_free) tells COPYUID.  A copy counts against the quota
 * (MSTORE_EQUOTA: nothing copied); a move does not change the usage and
 * expunges the sources (recorded for VANISHED).  src == dst is allowed
 * for copy.
 */
int mstore_copy(struct mstore_account *acct, int64_t src, const struct mstore_range *set,
    size_t nset, int64_t dst, uint64_t quota, struct mstore_uidmap *map_r,
    const char **error_r);
int mstore_move(struct mstore_account *acct, int64_t src, const struct mstore_range *set,
    size_t nset, int64_t dst, struct mstore_uidmap *map_r, const char **error_r);
void mstore_uidmap_free(struct mstore_uidmap *map);
/*
 * Changes of mbox after modseq since (CONDSTORE CHANGEDSINCE, QRESYNC,
 * and what other sessions did, for IDLE): changed gets each message
 * whose modseq > since, vanished each UID expunged with a modseq > since
 * (either may be NULL).  In UID order.
 */
int mstore_changes(struct mstore_account *acct, int64_t mbox, uint64_t since,
    int (*changed)(const struct mstore_msg *m, void *ctx),
    int (*vanished)(uint32_t uid, uint64_t modseq, void *ctx), void *ctx, const char **error_r);

/*
 * Copy (or move) messages of set from mailbox src of one account into
 * mailbox dst of another (shared mailboxes).  The copy is one transaction
 * of dst (quota of dst's owner checked); a move then expunges the sources
 * in a transaction of src: a crash in between leaves the message in both
 * places, never in neither.
 */
int mstore_copy_across(struct mstore_account *from, int64_t src, const struct mstore_range *set,
    size_t nset, struct mstore_account *to, int64_t dst, uint64_t quota, int move,
    struct mstore_uidmap *map_r, const char **error_r);

/* ---- access control lists (RFC 4314) ---- */

/*
 * Rights are letters of MSTORE_ACL_RIGHTS (lookup, read, keep seen,
 * write, insert, post, create mailboxes, delete mailbox, delete messages,
 * expunge, administer), kept in that order.  An identifier is an account
 * address, "anyone" or "authenticated" (every logged-in user; there are
 * no anonymous logins).  The owner of an account has every right on its
 * mailboxes, implicitly.  Entries live in the owner's index, keyed by the
 * mailbox id: they follow a RENAME and go with a DELETE.  store.db keeps
 * which owners have granted "l" on something to whom, so that a user's
 * LIST finds the mailboxes shared with it without opening every index.
 */
#define MSTORE_ACL_RIGHTS "lrswipkxtea"
#define MSTORE_ACL_SIZE 16
/* Normalize rights text ("c" = "k", "d" = "xte"); -1 on an unknown letter. */
int mstore_acl_norm(const char *in, char *out);
/* The entries of a mailbox, in identifier order (fn's non-zero stops). */
int mstore_acl_list(struct mstore_account *acct, int64_t mbox,
    int (*fn)(const char *identifier, const char *rights, void *ctx), void *ctx,
    const char **error_r);
/* The rights of user on a mailbox (its entry, "authenticated" and "anyone" together). */
int mstore_acl_rights(struct mstore_account *acct, int64_t mbox, const char *user, char *rights_r,
    const char **error_r);
/*
 * Set an identifier's rights ("" removes the entry); "+rights" adds to
 * its entry and "-rights" removes from it (SETACL's forms).
 */
int mstore_acl_set(struct mstore_account *acct, int64_t mbox, const char *identifier,
    const char *rights, const char **error_r);
/* The accounts that have shared something with user (fn's non-zero stops). */
int mstore_shared_owners(struct mstore *ms, const char *user,
    int (*fn)(const char *owner, void *ctx), void *ctx, const char **error_r);
/* Subscriptions of an account to other accounts' mailboxes ("Shared/owner/name"). */
int mstore_shared_subscribe(struct mstore_account *acct, const char *name, int on,
    const char **error_r);
int mstore_shared_subscribed(struct mstore_account *acct, const char *name);

/*
 * The header block (through the empty line) of a blob this account holds,
 * as cached when the message was saved: 1 with *data_r (malloc'd, NUL
 * after *len_r bytes), 0 when it is not cached (too large, or saved by an
 * older facteur: read the blob), -1 on a database error.
 */
int mstore_headers(struct mstore_account *acct, const char *blob, char **data_r, size_t *len_r);

/* The blob store behind an account (to open blobs while serving it). */
struct mstore *mstore_account_store(struct mstore_account *acct);

/*
 * ACCOUNT QUOTA -- the one place that says how many bytes account may
 * hold (0: no limit), for lmtpd, imapd's APPEND and COPY, and facteurctl.
 * The account's profile's quota_bytes when it has a profile (0: none),
 * else default_quota; dir may be NULL (default_quota).
 */
struct directory;
uint64_t account_quota(struct directory *dir, const char *account);

#endif
