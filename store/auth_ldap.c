/* SPDX-License-Identifier: MIT */
/*
 * auth_ldap - passwords checked by binding to an LDAP server (see
 * auth_ldap.h).
 *
 * A check is a search for the user's entry on the thread's search
 * connection (bound once as ldap_bind_dn), then a simple bind as that
 * entry on the thread's bind connection.  Only the server's answer to
 * that bind says "wrong password"; anything else going wrong (no
 * connection, a timeout, TLS, the service account refused, a filter the
 * server rejects) is a temporary failure, logged with the server's words,
 * so that a broken LDAP server never looks like users mistyping.  The
 * login reaches the filter escaped (RFC 4515), so "*)(mail=*" is a
 * strange address, not a wildcard.  Referrals are not chased: a bind
 * never leaves the servers of ldap_uri.
 */
#include "facteur-config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include <ldap.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "store/auth_ldap.h"

/* The longest filter a login may expand to (an address is at most 320 bytes, x3 escaped). */
#define FILTER_MAX 4096

struct auth_ldap_config {
	int refs;			/* __atomic */
	char *uri, *bind_dn, *bind_password, *base, *filter, *ca_file, *scope_text, *accounts;
	int starttls;
	long timeout;
	int scope;			/* LDAP_SCOPE_* */
	int any_local_domain;
	const char *error;		/* why it cannot be used (static text), NULL if it can */
};

/* A worker thread's connections, made with cfg. */
struct ldap_thread {
	struct auth_ldap_config *cfg;
	LDAP *search;			/* bound as ldap_bind_dn (or anonymous) */
	LDAP *bind;			/* the users' binds */
};

/* The snapshot of the parameters as last read (a lock: two loops may log in at once). */
static struct auth_ldap_config *current;
static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;

/* ---- filters ---- */

size_t
auth_ldap_escape(const char *value, size_t len, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, w = 0;	/* the length needed, the length written */

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c > 0x7e) {
			if (w == n && n + 3 < size) {
				out[w++] = '\\';
				out[w++] = hex[c >> 4];
				out[w++] = hex[c & 15];
			}
			n += 3;
		} else {
			if (w == n && n + 1 < size)
				out[w++] = (char)c;
			n++;
		}
	}
	if (size > 0)
		out[w] = '\0';
	return n;
}

char *
auth_ldap_filter(const char *template, const char *address, const char **error_r)
{
	const char *at = strrchr(address, '@');
	size_t alen = strlen(address), llen = at != NULL ? (size_t)(at - address) : alen;
	const char *domain = at != NULL ? at + 1 : "";
	char *out = xmalloc(FILTER_MAX);
	size_t n = 0;

	for (const char *p = template; *p != '\0' && n < FILTER_MAX; p++) {
		if (*p != '%') {
			out[n++] = *p;
			continue;
		}
		switch (*++p) {
		case 's':
			n += auth_ldap_escape(address, alen, out + n, FILTER_MAX - n);
			break;
		case 'u':
			n += auth_ldap_escape(address, llen, out + n, FILTER_MAX - n);
			break;
		case 'd':
			n += auth_ldap_escape(domain, strlen(domain), out + n, FILTER_MAX - n);
			break;
		case '%':
			out[n++] = '%';
			break;
		default:
			free(out);
			*error_r = "ldap_user_filter: unknown %-sequence (%s, %u, %d or %%)";
			return NULL;
		}
	}
	if (n >= FILTER_MAX) {
		free(out);
		*error_r = "the filter is too long";
		return NULL;
	}
	out[n] = '\0';
	return out;
}

/* ---- the parameters ---- */

/* Is the template usable: a parenthesized filter naming the user, known %-sequences? */
static const char *
filter_check(const char *template)
{
	const char *error;
	char *f;
	int depth = 0, names_user = 0;

	if (template[0] != '(' || template[strlen(template) - 1] != ')')
		return "ldap_user_filter: not a filter in parentheses";
	for (const char *p = template; *p != '\0'; p++)
		if (*p == '%' && (p[1] == 's' || p[1] == 'u'))
			names_user = 1;
		else if (*p == '%' && p[1] != '\0')
			p++;
	if (!names_user)
		return "ldap_user_filter: names no user (%s or %u)";
	if ((f = auth_ldap_filter(template, "u@d", &error)) == NULL)
		return error;
	/* Parentheses balance (the values escaped, the template's own count). */
	for (const char *p = f; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth < 0)
			break;
	}
	free(f);
	return depth != 0 ? "ldap_user_filter: unbalanced parentheses" : NULL;
}

/* Why the current parameters cannot be used (static text), or NULL. */
static const char *
params_error(int *scope_r)
{
	const char *error;
	char *uris, *save = NULL;
	int ldaps = 0;

	if (strcmp(var_ldap_scope, "sub") == 0)
		*scope_r = LDAP_SCOPE_SUBTREE;
	else if (strcmp(var_ldap_scope, "one") == 0)
		*scope_r = LDAP_SCOPE_ONELEVEL;
	else if (strcmp(var_ldap_scope, "base") == 0)
		*scope_r = LDAP_SCOPE_BASE;
	else
		return "ldap_scope: sub, one or base";
	if (strcmp(var_ldap_accounts, "directory-only") != 0 &&
	    strcmp(var_ldap_accounts, "any-local-domain") != 0)
		return "ldap_accounts: directory-only or any-local-domain";
	if (var_ldap_uri[0] == '\0')
		return NULL;
	uris = xstrdup(var_ldap_uri);
	error = NULL;
	for (char *u = strtok_r(uris, " \t,", &save); u != NULL; u = strtok_r(NULL, " \t,", &save)) {
		LDAPURLDesc *desc = NULL;
		if (ldap_url_parse(u, &desc) != LDAP_URL_SUCCESS ||
		    (strcasecmp(desc->lud_scheme, "ldap") != 0 &&
		    strcasecmp(desc->lud_scheme, "ldaps") != 0)) {
			error = "ldap_uri: not a list of ldap://host[:port] or ldaps://host[:port]";
		} else if (strcasecmp(desc->lud_scheme, "ldaps") == 0) {
			ldaps = 1;
		}
		if (desc != NULL)
			ldap_free_urldesc(desc);
	}
	free(uris);
	if (error != NULL)
		return error;
	if (ldaps && var_ldap_starttls)
		return "ldap_starttls: ldaps:// is TLS already; STARTTLS is for ldap:// URIs";
	if (var_ldap_base[0] == '\0')
		return "ldap_base: empty (where to search for the users' entries)";
	if ((error = filter_check(var_ldap_user_filter)) != NULL)
		return error;
	if (var_ldap_timeout <= 0)
		return "ldap_timeout: at least one second";
	if (var_ldap_tls_ca_file[0] != '\0' && access(var_ldap_tls_ca_file, R_OK) < 0)
		return "ldap_tls_ca_file: cannot be read";
	if (var_ldap_bind_dn[0] == '\0' && var_ldap_bind_password[0] != '\0')
		return "ldap_bind_password without ldap_bind_dn";
	return NULL;
}

int
auth_ldap_config_check(const char **error_r)
{
	int scope;

	return (*error_r = params_error(&scope)) == NULL ? 0 : -1;
}

static int
same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Does cfg hold the parameters as they are now? */
static int
config_current(const struct auth_ldap_config *c)
{
	return same(c->uri, var_ldap_uri) && same(c->bind_dn, var_ldap_bind_dn) &&
	    same(c->bind_password, var_ldap_bind_password) && same(c->base, var_ldap_base) &&
	    same(c->filter, var_ldap_user_filter) && same(c->ca_file, var_ldap_tls_ca_file) &&
	    same(c->scope_text, var_ldap_scope) && same(c->accounts, var_ldap_accounts) &&
	    c->starttls == var_ldap_starttls && c->timeout == var_ldap_timeout;
}

struct auth_ldap_config *
auth_ldap_config_get(void)
{
	struct auth_ldap_config *c;

	if (var_ldap_uri == NULL || var_ldap_uri[0] == '\0')
		return NULL;	/* NULL: no configuration loaded (a test) */
	pthread_mutex_lock(&current_lock);
	if (current == NULL || !config_current(current)) {
		c = xcalloc(1, sizeof(*c));
		c->refs = 1;
		c->uri = xstrdup(var_ldap_uri);
		c->bind_dn = xstrdup(var_ldap_bind_dn);
		c->bind_password = xstrdup(var_ldap_bind_password);
		c->base = xstrdup(var_ldap_base);
		c->filter = xstrdup(var_ldap_user_filter);
		c->ca_file = xstrdup(var_ldap_tls_ca_file);
		c->scope_text = xstrdup(var_ldap_scope);
		c->accounts = xstrdup(var_ldap_accounts);
		c->starttls = var_ldap_starttls;
		c->timeout = var_ldap_timeout;
		c->error = params_error(&c->scope);
		c->any_local_domain = strcmp(c->accounts, "any-local-domain") == 0;
		if (c->error != NULL)
			log_warnx("auth: LDAP cannot be used: %s", c->error);
		auth_ldap_config_unref(&current);
		current = c;
	}
	c = current;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&current_lock);
	return c;
}

void
auth_ldap_config_unref(struct auth_ldap_config **cp)
{
	struct auth_ldap_config *c = *cp;

	*cp = NULL;
	if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	explicit_bzero(c->bind_password, strlen(c->bind_password));
	free(c->uri);
	free(c->bind_dn);
	free(c->bind_password);
	free(c->base);
	free(c->filter);
	free(c->ca_file);
	free(c->scope_text);
	free(c->accounts);
	free(c);
}

int
auth_ldap_any_local_domain(const struct auth_ldap_config *cfg)
{
	return cfg != NULL && cfg->any_local_domain;
}

/* ---- connections ---- */

static void
handle_close(LDAP **ld)
{
	if (*ld != NULL)
		ldap_unbind_ext_s(*ld, NULL, NULL);
	*ld = NULL;
}

static void
thread_drop(struct ldap_thread *t)
{
	handle_close(&t->search);
	handle_close(&t->bind);
	auth_ldap_config_unref(&t->cfg);
}

static void
thread_end(void *arg)
{
	struct ldap_thread *t = arg;

	thread_drop(t);
	free(t);
}

static void
thread_once_init(void)
{
	int version;

	if (pthread_key_create(&thread_key, thread_end) != 0)
		panic("auth_ldap: pthread_key_create failed");
	/* libldap's global state, made once here rather than by two threads at their first call. */
	(void)ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
}

/* This thread's connections, for cfg (those made with another configuration are dropped). */
static struct ldap_thread *
thread_get(struct auth_ldap_config *cfg)
{
	struct ldap_thread *t;

	pthread_once(&thread_once, thread_once_init);
	if ((t = pthread_getspecific(thread_key)) == NULL) {
		t = xcalloc(1, sizeof(*t));
		if (pthread_setspecific(thread_key, t) != 0)
			panic("auth_ldap: pthread_setspecific failed");
	}
	if (t->cfg != cfg) {
		thread_drop(t);
		__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
		t->cfg = cfg;
	}
	return t;
}

/* Text a server or a client sent, made printable for the log. */
static void
printable(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < size; s++)
		out[n++] = (unsigned char)*s >= ' ' && (unsigned char)*s < 0x7f ? *s : '?';
	out[n] = '\0';
}

/* Log what went wrong in step what on ld (which may be NULL), with the server's words. */
static void
log_ldap(const struct auth_ldap_config *cfg, LDAP *ld, const char *what, const char *user, int rc)
{
	char *diag = NULL, diag_log[256] = "", user_log[128];

	if (ld != NULL && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS &&
	    diag != NULL) {
		printable(diag, diag_log, sizeof(diag_log));
		ldap_memfree(diag);
	}
	printable(user, user_log, sizeof(user_log));
	log_warnx("auth: LDAP %s: %s%s%s: %s%s%s", cfg->uri, what, user != NULL ? " for " : "",
	    user != NULL ? user_log : "", ldap_err2string(rc), diag_log[0] != '\0' ? ": " : "",
	    diag_log);
}

/* Did the connection go away (worth one more try on a new one when it had served before)? */
static int
connection_lost(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR;
}

/* A simple bind; password not empty (an empty one is an unauthenticated bind). */
static int
simple_bind(LDAP *ld, const char *dn, const char *password)
{
	struct berval cred;

	cred.bv_val = (char *)password;
	cred.bv_len = strlen(password);
	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/*
 * A new handle for cfg's servers, with the options of a check: LDAPv3,
 * timeouts, no referrals, certificates verified, STARTTLS when asked.
 * LDAP_SUCCESS and *ld_r, or the error (logged).
 */
static int
handle_open(const struct auth_ldap_config *cfg, LDAP **ld_r)
{
	struct timeval tv;
	LDAP *ld = NULL;
	int rc, version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, server = 0;
	int tls_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;

	*ld_r = NULL;
	tv.tv_sec = cfg->timeout;
	tv.tv_usec = 0;
	if ((rc = ldap_initialize(&ld, cfg->uri)) != LDAP_SUCCESS) {
		log_ldap(cfg, NULL, "initialize", NULL, rc);
		return rc;
	}
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls_min) != LDAP_OPT_SUCCESS ||
	    (cfg->ca_file[0] != '\0' &&
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, cfg->ca_file) != LDAP_OPT_SUCCESS) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &server) != LDAP_OPT_SUCCESS) {
		log_ldap(cfg, NULL, "setting the connection's options", NULL, LDAP_LOCAL_ERROR);
		handle_close(&ld);
		return LDAP_LOCAL_ERROR;
	}
	if (cfg->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		log_ldap(cfg, ld, "STARTTLS", NULL, rc);
		handle_close(&ld);
		return rc;
	}
	*ld_r = ld;
	return LDAP_SUCCESS;
}

/* The search connection: opened and bound as the service account. */
static int
search_open(const struct auth_ldap_config *cfg, LDAP **ld_r)
{
	int rc;

	if ((rc = handle_open(cfg, ld_r)) != LDAP_SUCCESS)
		return rc;
	if (cfg->bind_dn[0] != '\0' && (rc = simple_bind(*ld_r, cfg->bind_dn,
	    cfg->bind_password)) != LDAP_SUCCESS) {
		log_ldap(cfg, *ld_r, "bind as ldap_bind_dn", NULL, rc);
		handle_close(ld_r);
	}
	return rc;
}

/*
 * Search filter: LDAP_SUCCESS with *dn_r (ldap_memfree) or NULL (no
 * entry, or several: *count_r says), or the error (not logged).
 */
static int
search_dn(const struct auth_ldap_config *cfg, LDAP *ld, const char *filter, char **dn_r,
    int *count_r)
{
	char *attrs[] = { (char *)LDAP_NO_ATTRS, NULL };
	LDAPMessage *res = NULL, *entry;
	struct timeval tv;
	int rc;

	*dn_r = NULL;
	*count_r = 0;
	tv.tv_sec = cfg->timeout;
	tv.tv_usec = 0;
	/* At most two entries: one is the user, two is a filter matching too much. */
	rc = ldap_search_ext_s(ld, cfg->base, cfg->scope, filter, attrs, 1, NULL, NULL, &tv, 2,
	    &res);
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		*count_r = 2;
		rc = LDAP_SUCCESS;
	} else if (rc == LDAP_SUCCESS) {
		*count_r = ldap_count_entries(ld, res);
		if (*count_r == 1 && (entry = ldap_first_entry(ld, res)) != NULL)
			*dn_r = ldap_get_dn(ld, entry);
		if (*count_r == 1 && *dn_r == NULL)
			rc = LDAP_DECODING_ERROR;
	}
	ldap_msgfree(res);
	return rc;
}

/* The entry of address: AUTH_LDAP_OK and *dn_r (ldap_memfree), or why not. */
static enum auth_ldap_result
find_user(struct ldap_thread *t, const char *address, char **dn_r, const char **reason_r)
{
	const struct auth_ldap_config *cfg = t->cfg;
	const char *error;
	char *filter;
	int rc = LDAP_SUCCESS, count = 0;

	*dn_r = NULL;
	if ((filter = auth_ldap_filter(cfg->filter, address, &error)) == NULL) {
		log_warnx("auth: LDAP %s: %s", cfg->uri, error);
		*reason_r = "ldap-error";
		return AUTH_LDAP_TEMPFAIL;
	}
	for (int tries = 0; tries < 2; tries++) {
		int fresh = t->search == NULL;
		if (fresh && (rc = search_open(cfg, &t->search)) != LDAP_SUCCESS)
			break;
		rc = search_dn(cfg, t->search, filter, dn_r, &count);
		if (rc == LDAP_SUCCESS)
			break;
		if (!connection_lost(rc) || fresh) {
			log_ldap(cfg, t->search, "search", address, rc);
			handle_close(&t->search);
			break;
		}
		/* A connection kept from an earlier check died (server restarted, idle timeout). */
		handle_close(&t->search);
	}
	free(filter);
	if (rc != LDAP_SUCCESS) {
		*reason_r = connection_lost(rc) || rc == LDAP_TIMEOUT || rc == LDAP_BUSY ||
		    rc == LDAP_UNAVAILABLE ? "ldap-unavailable" : "ldap-error";
		return AUTH_LDAP_TEMPFAIL;
	}
	if (count == 0) {
		*reason_r = "unknown-user";
		return AUTH_LDAP_FAILED;
	}
	if (count > 1) {
		char user_log[128];
		printable(address, user_log, sizeof(user_log));
		log_warnx("auth: LDAP %s: ldap_user_filter finds several entries for %s: refused",
		    cfg->uri, user_log);
		*reason_r = "ambiguous-user";
		return AUTH_LDAP_FAILED;
	}
	return AUTH_LDAP_OK;
}

/* Bind as dn with password on the thread's bind connection. */
static enum auth_ldap_result
bind_user(struct ldap_thread *t, const char *address, const char *dn, const char *password,
    const char **reason_r)
{
	const struct auth_ldap_config *cfg = t->cfg;
	int rc = LDAP_SUCCESS;

	for (int tries = 0; tries < 2; tries++) {
		int fresh = t->bind == NULL;
		if (fresh && (rc = handle_open(cfg, &t->bind)) != LDAP_SUCCESS)
			break;
		rc = simple_bind(t->bind, dn, password);
		if (!connection_lost(rc) || fresh)
			break;
		handle_close(&t->bind);
	}
	switch (rc) {
	case LDAP_SUCCESS:
		return AUTH_LDAP_OK;
	case LDAP_INVALID_CREDENTIALS:
		*reason_r = "bad-password";
		return AUTH_LDAP_FAILED;
	case LDAP_INAPPROPRIATE_AUTH:
		/* The entry has no password to bind with. */
		*reason_r = "no-password";
		return AUTH_LDAP_FAILED;
	case LDAP_UNWILLING_TO_PERFORM:
		/* Account locked (some password policies), or the like: the server's word is final. */
		log_ldap(cfg, t->bind, "bind", address, rc);
		*reason_r = "ldap-refused";
		return AUTH_LDAP_FAILED;
	default:
		if (t->bind != NULL)
			log_ldap(cfg, t->bind, "bind", address, rc);
		handle_close(&t->bind);
		*reason_r = connection_lost(rc) || rc == LDAP_TIMEOUT || rc == LDAP_BUSY ||
		    rc == LDAP_UNAVAILABLE ? "ldap-unavailable" : "ldap-error";
		return AUTH_LDAP_TEMPFAIL;
	}
}

enum auth_ldap_result
auth_ldap_verify(struct auth_ldap_config *cfg, const char *address, const char *password,
    const char **reason_r)
{
	struct ldap_thread *t;
	enum auth_ldap_result r;
	char *dn = NULL;

	*reason_r = NULL;
	if (password == NULL || password[0] == '\0') {
		*reason_r = "empty-password";
		return AUTH_LDAP_FAILED;
	}
	if (cfg->error != NULL) {
		log_warnx("auth: LDAP cannot be used: %s", cfg->error);
		*reason_r = "ldap-error";
		return AUTH_LDAP_TEMPFAIL;
	}
	t = thread_get(cfg);
	if ((r = find_user(t, address, &dn, reason_r)) == AUTH_LDAP_OK)
		r = bind_user(t, address, dn, password, reason_r);
	ldap_memfree(dn);
	return r;
}
