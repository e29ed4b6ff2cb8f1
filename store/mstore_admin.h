/* SPDX-License-Identifier: MIT */
/*
 * mstore_admin - the mailbox store's administration, for facteurctl
 * mailbox purge, export, import and check: retention, mbox copies of
 * mailboxes (store/mbox.h), and a consistency check of the blobs, their
 * reference counts in store.db and the account indexes (store/mstore.h).
 *
 * Everything here is safe while lmtpd delivers and imapd serves: changes
 * go through mstore's calls, or (the check's repairs) through short
 * BEGIN IMMEDIATE transactions on store.db, as mstore's own writers do.
 *
 * Return values as mstore's: 0, or a negative MSTORE_E* with *error_r
 * (static text, valid until the next call here).
 */
#ifndef FACTEUR_MSTORE_ADMIN_H
#define FACTEUR_MSTORE_ADMIN_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "store/mstore.h"

/* ---- retention ---- */

struct mstore_purge_stats {
	uint64_t messages;	/* expunged (or, dry run, that would be) */
	uint64_t bytes;
	unsigned int mailboxes;	/* looked at */
};

/*
 * Expunge the messages of acct that are more than days old: both their
 * internal date and the time they were saved into their mailbox (so a
 * message moved to the Trash today stays there days days, whatever its
 * date) before now - days * 86400.  In the mailboxes whose SPECIAL-USE
 * is \Trash or \Junk, or in every mailbox when all_mailboxes.  Their
 * blobs lose a reference and the usage drops (mstore_expunge).  dry_run:
 * count only.  Added to *stats.
 */
int mstore_purge(struct mstore_account *acct, int days, int all_mailboxes, time_t now,
    int dry_run, struct mstore_purge_stats *stats, const char **error_r);

/* ---- mbox ---- */

struct mstore_mbox_stats {
	uint64_t messages;
	uint64_t bytes;		/* of the messages as the store keeps them */
	unsigned long refused_line;	/* import: From line of a message over quota, 0 */
	unsigned long truncated_line;	/* import: From line of an incomplete last message, 0 */
	unsigned long unreadable;	/* export: messages whose blob could not be read */
};

/*
 * Write the messages of mailbox mbox to out as mboxrd, in UID order;
 * added to *stats.  A message whose blob cannot be read is left out and
 * counted (MSTORE_ERR at the end, saying which); a write error stops.
 */
int mstore_export_mbox(struct mstore_account *acct, int64_t mbox, FILE *out,
    struct mstore_mbox_stats *stats, const char **error_r);
/*
 * Append the messages of the mbox file fd (mboxrd or mboxo, LF or CRLF)
 * to mailbox mbox, with the internal dates of their From lines and the
 * flags of their Status, X-Status and X-Keywords headers.  quota: as
 * mstore_append's.  What was imported stays imported: *stats says how
 * much whatever the result.  0: every message; MSTORE_EQUOTA: stopped at
 * the message of stats->refused_line; MSTORE_EINVAL: not an mbox, or its
 * last message incomplete (stats->truncated_line; the ones before it
 * were imported); MSTORE_ERR.
 */
int mstore_import_mbox(struct mstore_account *acct, int64_t mbox, uint64_t quota, int fd,
    struct mstore_mbox_stats *stats, const char **error_r);

/* ---- check ---- */

enum mstore_check_kind {
	MSTORE_CHECK_ORPHAN,	/* a blob file no one counts nor points at */
	MSTORE_CHECK_REFS,	/* store.db's count differs from the index rows */
	MSTORE_CHECK_MISSING,	/* an index row whose blob file is missing */
	MSTORE_CHECK_SIZE,	/* a blob file of another size than store.db says */
	MSTORE_CHECK_STRAY,	/* a file under blobs/ that is not a blob */
	MSTORE_CHECK_TMP,	/* a blob writer's temporary file, older than an hour */
	MSTORE_CHECK_INDEX,	/* an account index that cannot be read */
};

struct mstore_check_item {
	enum mstore_check_kind kind;
	const char *blob;	/* NULL for STRAY, TMP, INDEX */
	const char *path;	/* the file (ORPHAN, SIZE, STRAY, TMP, INDEX), else NULL */
	const char *account;	/* MISSING, INDEX */
	const char *mailbox;	/* MISSING */
	uint32_t uid;		/* MISSING */
	long long refs, rows;	/* REFS */
	uint64_t size, file_size;	/* SIZE */
	int repaired;
	const char *note;	/* why it was left as it is, or NULL */
};

struct mstore_check_stats {
	unsigned long accounts;
	unsigned long blobs;	/* rows of store.db */
	unsigned long files;	/* blob files */
	unsigned long rows;	/* index rows */
	unsigned long problems;	/* reported */
	unsigned long repaired;
	/* not judged: counts that changed between two counts, orphans younger than an hour */
	unsigned long unsettled;
};

/* Files younger than this are never removed: a writer may be in flight. */
#define MSTORE_CHECK_MIN_AGE 3600

/*
 * Check the store in dir (store.db, blobs/, tmp/, every index under
 * accounts/), calling fn for each problem.  With repair: orphan blob
 * files and temporary files older than MSTORE_CHECK_MIN_AGE are removed,
 * reference counts set to the rows' count (a blob nobody points at goes,
 * with its file if older than MSTORE_CHECK_MIN_AGE); missing blobs,
 * stray files and size differences are only reported.  A count
 * difference is judged only if a second count, settle seconds later,
 * finds the same numbers (a delivery counts its reference before it
 * saves its row).  0 when it could look at everything (problems or not),
 * MSTORE_ERR otherwise.
 */
int mstore_check(const char *dir, int repair, long settle,
    void (*fn)(const struct mstore_check_item *it, void *ctx), void *ctx,
    struct mstore_check_stats *stats, const char **error_r);
/* "orphan", "refs", "missing", "size", "stray", "tmp", "index". */
const char *mstore_check_kind_str(enum mstore_check_kind kind);

#endif
