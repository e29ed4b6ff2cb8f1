/* SPDX-License-Identifier: MIT */
/*
 * api_store - the admin API's own SQLite file: its tokens and its audit
 * log ($spool_directory/adminapi/api.db, mail_owner's, mode 0600).
 *
 * A token is 32 random bytes in base64url (43 characters); only its
 * SHA-256 is stored, so a copy of the file gives no one a session.  A
 * token belongs to one admin, has an expiry (admin_api_token_lifetime
 * after the login) and the address it was made from (for the record;
 * a token works from anywhere until it expires or is deleted).  Expired
 * tokens are deleted as logins come.
 *
 * The audit table gets one row per change asked of the API (logins and
 * logouts included), whatever its result: when, who, from where, the
 * method and path, the object, the HTTP status and the result.  Rows are
 * never changed nor deleted by the API.
 *
 * The file is in WAL mode with synchronous = FULL: a change the API
 * reported is in the audit log after a crash.  One thread uses a handle.
 */
#ifndef FACTEUR_API_STORE_H
#define FACTEUR_API_STORE_H

#include <stddef.h>

#include <jansson.h>

struct api_store;

/* Characters of a token (32 bytes in unpadded base64url), NUL not included. */
#define API_TOKEN_LEN 43

/* Open (creating the file and its tables) path; NULL and *error_r (static) on failure. */
struct api_store *api_store_open(const char *path, const char **error_r);
void api_store_close(struct api_store **st);
/* The file of the default configuration: $spool_directory/adminapi/api.db (static). */
const char *api_store_default_path(void);

/*
 * A new token for admin, valid lifetime seconds from now, made from
 * client: its text into token_r (API_TOKEN_LEN + 1), its expiry
 * (Unix time) into *expires_r.  0, or -1 with *error_r.
 */
int api_token_new(struct api_store *st, const char *admin, const char *client, long lifetime,
    char *token_r, long long *expires_r, const char **error_r);
/*
 * The admin of token if it exists and has not expired: 1 and admin_r
 * (size bytes), *expires_r; 0 if none (or expired); -1 on a database
 * error.  hash_r (65 bytes) receives the token's hash (to delete it).
 */
int api_token_check(struct api_store *st, const char *token, char *admin_r, size_t size,
    long long *expires_r, char *hash_r);
/* Delete the token of hash; 0, -1 on a database error. */
int api_token_delete(struct api_store *st, const char *hash);
/* Delete every token of admin (its deletion); 0, or -1. */
int api_token_delete_admin(struct api_store *st, const char *admin);

struct api_audit {
	const char *admin;	/* who ("" if not known) */
	const char *client;	/* the client's address */
	const char *method;
	const char *path;
	const char *object;	/* "account bob@example.org" */
	int status;		/* the HTTP status answered */
	const char *result;	/* "ok" or the error */
};

/* Append a row (its time is now); 0, or -1 with *error_r. */
int api_audit_add(struct api_store *st, const struct api_audit *a, const char **error_r);
/*
 * Rows newest first from offset, at most limit, as JSON objects appended
 * to items; *more_r 1 when there are rows after them.  0, or -1.
 */
int api_audit_list(struct api_store *st, long offset, long limit, json_t *items, int *more_r);

#endif
