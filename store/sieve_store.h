/* SPDX-License-Identifier: MIT */
/*
 * sieve_store - an account's Sieve scripts, beside its index in the mail
 * store: ManageSieve writes them, lmtpd runs the active one.
 *
 *   accounts/<domain>/<localpart>/sieve/
 *     <name>.sieve     a script, written whole (temporary file, fsync,
 *                      rename): a reader sees the old or the new one
 *     active           symbolic link to the active script's file; none
 *                      when no script is active
 *     vacation.db      SQLite: the senders each vacation action answered,
 *                      and until when they are not answered again
 *
 * Names (RFC 5804 1.6) are UTF-8 without controls, "/" or a leading ".",
 * at most SIEVE_NAME_MAX bytes: they are file names as they are.
 * Changing the active script is one rename of a new link over "active";
 * a rename of the active script links the new name, moves the link, then
 * unlinks the old name, so lmtpd always finds a script or none, never a
 * dangling link.
 *
 * Return values: 0, or SIEVE_STORE_ERR (-1, I/O) or another negative
 * SIEVE_STORE_E* with *error_r (static text, or the handle's buffer).
 */
#ifndef FACTEUR_SIEVE_STORE_H
#define FACTEUR_SIEVE_STORE_H

#include <stddef.h>
#include <time.h>

#define SIEVE_NAME_MAX 128
#define SIEVE_MAX_SCRIPTS 32		/* scripts per account */

#define SIEVE_STORE_ERR -1
#define SIEVE_STORE_ENOTFOUND -2	/* no such script */
#define SIEVE_STORE_EEXISTS -3		/* a script of that name exists */
#define SIEVE_STORE_EACTIVE -4		/* the script is active (delete) */
#define SIEVE_STORE_EQUOTA -5		/* too many scripts, or too big */
#define SIEVE_STORE_EINVAL -6		/* a bad name */

struct mstore;
struct sieve_store;

/* 1 if name may name a script. */
int sieve_name_valid(const char *name);

/*
 * The scripts of account (as mstore names it).  With create the
 * directories are made; without, a missing directory is an empty store.
 * NULL with *error_r on failure.
 */
struct sieve_store *sieve_store_open(struct mstore *ms, const char *account, int create,
    const char **error_r);
void sieve_store_close(struct sieve_store **ss);
/* The sieve/ directory (for logs and tests). */
const char *sieve_store_dir(const struct sieve_store *ss);

/* Every script, in name order, with whether it is the active one; stops when fn returns non-zero. */
int sieve_store_list(struct sieve_store *ss, int (*fn)(const char *name, int active, void *ctx),
    void *ctx, const char **error_r);
int sieve_store_count(struct sieve_store *ss);
/* The script's text (malloc'd, NUL-terminated) and length. */
int sieve_store_get(struct sieve_store *ss, const char *name, char **text_r, size_t *len_r,
    const char **error_r);
/* Write (or replace) a script; the caller compiled it.  EQUOTA past SIEVE_MAX_SCRIPTS. */
int sieve_store_put(struct sieve_store *ss, const char *name, const char *text, size_t len,
    const char **error_r);
int sieve_store_delete(struct sieve_store *ss, const char *name, const char **error_r);
int sieve_store_rename(struct sieve_store *ss, const char *from, const char *to,
    const char **error_r);
/* Make name the active script ("" or NULL: none). */
int sieve_store_activate(struct sieve_store *ss, const char *name, const char **error_r);
/* The active script's name into name_r: 1, or 0 when none is active, or < 0. */
int sieve_store_active(struct sieve_store *ss, char *name_r, size_t size, const char **error_r);

/*
 * For delivery: the active script of account, without creating anything.
 * 1 with its name and text (malloc'd), 0 when there is none, or < 0.
 */
int sieve_store_active_load(struct mstore *ms, const char *account, char *name_r, size_t size,
    char **text_r, size_t *len_r, const char **error_r);

/*
 * Vacation: 1 if key (sieve_vacation_key) was answered and its time has
 * not run out at now, 0 if not, -1 on error.  _record remembers key until
 * until, and forgets the entries whose time ran out at now.
 */
int sieve_store_vacation_seen(struct mstore *ms, const char *account, const char *key,
    time_t now, const char **error_r);
int sieve_store_vacation_record(struct mstore *ms, const char *account, const char *key,
    time_t now, time_t until, const char **error_r);

#endif
