/* SPDX-License-Identifier: MIT */
/*
 * auth - accounts' logins: the password of a directory account, or one of
 * its app passwords, for a service its profile allows; one library for
 * smtpd now, imapd, managesieve and the modules later.
 *
 * Passwords are hashed with argon2id (the account's: t=2, m=19 MiB, p=1,
 * OWASP's choice; app passwords, random and long, at t=1, m=1 MiB: see
 * doc/decisions.md); crypt(3) hashes ($y$, $6$, ...) of imported accounts
 * are verified as well.  Failures are counted per client address in the
 * process (IPv6 per /64): auth_failure_limit of them within
 * auth_failure_window and the address is refused (AUTH_THROTTLED) without
 * any check until the window passes.  Every failure is logged as
 * "auth failed user=U client=IP service=S reason=R", never with the
 * password.  An unknown user costs a verification of a dummy hash, so he
 * is not refused faster than a known one.
 *
 * An event loop cannot wait ~20 ms for argon2: it splits a login in three.
 * auth_login_begin (the thread owning the directory handle: lookups) copies
 * what the login needs into a request; auth_login_verify (any thread: no
 * directory handle, no shared state) checks the password and, when an app
 * password matched, records its use through a short-lived DIRECTORY_UPDATE
 * handle of its own; auth_login_end (the owning thread again) counts, logs and
 * says the result.  auth_login does the three in a row.
 *
 * An account whose password is AUTH_LDAP_MARK has it checked by an LDAP
 * server (store/auth_ldap.h) in auth_login_verify, after its app passwords
 * (checked here first, so that they never reach the server); with
 * ldap_accounts = any-local-domain, so is an address of a local domain
 * that is no account (no profile: every service).  A server that cannot
 * be asked makes the login AUTH_TEMPFAIL (logged, not counted as the
 * client's failure); the server refusing the password is AUTH_FAILED,
 * counted as any other.
 */
#ifndef FACTEUR_AUTH_H
#define FACTEUR_AUTH_H

#include <stddef.h>

#include "store/directory.h"

enum auth_result {
	AUTH_OK,
	AUTH_FAILED,		/* unknown user, wrong password, no password */
	AUTH_DISABLED,		/* right password, disabled account */
	AUTH_NO_SERVICE,	/* right password, the profile does not allow the service */
	AUTH_THROTTLED,		/* too many failures from the client's address: try later */
	AUTH_TEMPFAIL,		/* the directory could not be read, the LDAP server not asked */
};

/* The password "hash" of an account whose password the LDAP server checks. */
#define AUTH_LDAP_MARK "{LDAP}"
/* The argon2id hash of an account password: a string of at most AUTH_HASH_SIZE - 1. */
#define AUTH_HASH_SIZE DIR_HASH_SIZE
/* The length of a generated app password. */
#define AUTH_APP_PASSWORD_LEN 24

/*
 * Log in user (an account address, any case) with password for service
 * ("smtp", "imap", "sieve", ...) from client_ip (text; "" or NULL if not
 * known: no throttling).  On AUTH_OK account_r (if not NULL) receives the
 * account's address as stored.  dir may be NULL (every user unknown).
 */
enum auth_result auth_login(struct directory *dir, const char *user, const char *password,
    const char *service, const char *client_ip, char *account_r, size_t size);

/* ---- the three steps of a login ---- */

struct auth_request;

/*
 * Step 1, in dir's thread: AUTH_THROTTLED or AUTH_TEMPFAIL when decided
 * already (logged and counted; *req_r NULL), else AUTH_OK and *req_r to
 * verify.  The password is copied (and wiped when the request is freed).
 */
enum auth_result auth_login_begin(struct directory *dir, const char *user, const char *password,
    const char *service, const char *client_ip, struct auth_request **req_r);
/* Is the user an account of the directory? */
int auth_request_is_account(const struct auth_request *req);
/*
 * For a user who is not an account: check the password against hash
 * instead (a user of another source, as smtpd_auth_file); the account
 * rules (app passwords, profile) do not apply.  Ignored for a user LDAP
 * checks (ldap_accounts = any-local-domain): LDAP decides for its domains.
 */
void auth_request_set_hash(struct auth_request *req, const char *hash);
/* Step 2, in any thread. */
void auth_login_verify(struct auth_request *req);
/*
 * Step 3, in dir's thread: the result, counted and logged; frees the
 * request and sets *req to NULL.  account_r as for auth_login.
 */
enum auth_result auth_login_end(struct auth_request **req, char *account_r, size_t size);
/* Drop a request without a result (its client left). */
void auth_request_free(struct auth_request **req);

/* ---- hashes ---- */

/*
 * The argon2id hash of password into out (AUTH_HASH_SIZE), with the
 * account parameters, or the app password ones if app; 0, -1 with
 * *error_r on failure.
 */
int auth_hash_password(const char *password, int app, char *out, size_t size,
    const char **error_r);
/*
 * May hash be stored as a password (facteurctl account passwd --hash)?
 * argon2id with sane costs, or a crypt(3) hash this system verifies.  0,
 * or -1 with *error_r (static text).
 */
int auth_hash_check(const char *hash, const char **error_r);
/* 1 if password matches hash, 0 if not (or hash is not one we know). */
int auth_hash_verify(const char *hash, const char *password);
/* A new app password: AUTH_APP_PASSWORD_LEN letters and digits and a NUL into out; 0, or -1. */
int auth_app_password_new(char *out, size_t size);

/* "ok", "failed", ... */
const char *auth_result_str(enum auth_result r);
/* Forget every client's failures (tests, reload). */
void auth_failures_reset(void);

#endif
