/* SPDX-License-Identifier: MIT */
/*
 * auth_ldap - a password checked by an LDAP server: find the user's entry
 * with a search (bound as ldap_bind_dn, or anonymously), then bind as that
 * entry with the password given (Dovecot's passdb ldap with auth_bind =
 * yes).  facteur never sees the LDAP password's hash.
 *
 * Which logins go to LDAP is store/auth.c's decision: an account of the
 * directory whose password is AUTH_LDAP_MARK, and, with ldap_accounts =
 * any-local-domain, an address of a local domain that is no account.
 *
 * Every call blocks (libldap's synchronous API, ldap_timeout at most per
 * step): only worker threads call auth_ldap_verify, never an event loop.
 * Each thread keeps its own two connections, made at its first check and
 * kept for the next ones: one bound as the service account for the
 * searches, one for the users' binds (so a user's identity never does a
 * search).  A connection found dead is made again once within a check.
 * The parameters are read in the thread that loads the configuration
 * (auth_ldap_config_get) into a reference-counted snapshot a request
 * carries, so a reload never changes them under a worker.
 */
#ifndef FACTEUR_AUTH_LDAP_H
#define FACTEUR_AUTH_LDAP_H

#include <stddef.h>

enum auth_ldap_result {
	AUTH_LDAP_OK,		/* the bind as the user's entry succeeded */
	AUTH_LDAP_FAILED,	/* no such entry, several, or the server refused the password */
	AUTH_LDAP_TEMPFAIL,	/* server unreachable, timeout, TLS or configuration error */
};

struct auth_ldap_config;

/*
 * The snapshot of the ldap_* parameters, with a reference for the caller;
 * NULL when ldap_uri is empty (LDAP off).  Called in the thread that
 * loads the configuration; the snapshot is made again when a parameter
 * changed.  A bad configuration still gives a snapshot: its checks then
 * fail with AUTH_LDAP_TEMPFAIL and log why.
 */
struct auth_ldap_config *auth_ldap_config_get(void);
/* Drop a reference (any thread); sets *cfg to NULL. */
void auth_ldap_config_unref(struct auth_ldap_config **cfg);
/* Does ldap_accounts say any-local-domain? */
int auth_ldap_any_local_domain(const struct auth_ldap_config *cfg);

/*
 * Check the ldap_* parameters as loaded: 0, or -1 with *error_r (static
 * text) naming the parameter.  LDAP off (ldap_uri empty) is fine.
 */
int auth_ldap_config_check(const char **error_r);

/*
 * Check address's password (not empty: an empty one is refused here
 * before any bind, as an LDAP server takes it as an anonymous bind that
 * "succeeds").  In a worker thread.  *reason_r (static text) says why
 * when not AUTH_LDAP_OK: "unknown-user", "ambiguous-user",
 * "bad-password", "no-password", "ldap-refused" (FAILED);
 * "ldap-unavailable", "ldap-error" (TEMPFAIL: logged with the server's
 * words).  The password is never logged.
 */
enum auth_ldap_result auth_ldap_verify(struct auth_ldap_config *cfg, const char *address,
    const char *password, const char **reason_r);

/* ---- filters (public for the tests) ---- */

/*
 * Append value to out (of size bytes, NUL included) escaped as an RFC 4515
 * assertion value: '*', '(', ')', '\\', controls and every byte above
 * 0x7e as \XX.  Returns the length the whole result needs (as snprintf):
 * truncated when that is size or more.
 */
size_t auth_ldap_escape(const char *value, size_t len, char *out, size_t size);
/*
 * Expand template for address into a new string (caller frees): %s the
 * address, %u its local part, %d its domain (each escaped), %% a '%'.
 * NULL with *error_r (static) for an unknown %-sequence.
 */
char *auth_ldap_filter(const char *template, const char *address, const char **error_r);

#endif
