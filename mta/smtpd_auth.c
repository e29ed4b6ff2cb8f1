/* SPDX-License-Identifier: MIT */
/*
 * smtpd_auth - SMTP AUTH (RFC 4954) with PLAIN and LOGIN, over TLS only.
 *
 * Users are the directory's accounts (store/auth.h: their password or an
 * app password, service "smtp"), then the users of smtpd_auth_file:
 * "user:hash" lines where hash is any crypt(3) hash the system knows
 * (yescrypt "$y$", SHA-512 "$6$" ...).  An account of the directory is
 * decided by the directory alone, so a line left in the file cannot
 * reopen a disabled account; the file serves the other names, as it did
 * for the relay core.  AUTH is offered when either has a user.
 *
 * Hashes cost tens of milliseconds: the session pauses while a thread of
 * the auth pool verifies, the lookup having been made on the loop's
 * directory handle.  Failures from one address are counted by
 * store/auth, whatever the source: past auth_failure_limit the client
 * gets 454 until auth_failure_window passes.  Passwords are never logged;
 * a failure costs the client an error.
 */
#include "facteur-config.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/stats.h"
#include "lib/workpool.h"
#include "smtpd.h"
#include "store/auth.h"
#include "store/directory_shared.h"

#define AUTH_MECH_PLAIN 1
#define AUTH_MECH_LOGIN 2
/* Threads verifying hashes: argon2 at 19 MiB each; a login is one hash or two. */
#define AUTH_WORKERS 2

struct auth_user {
	char *name;
	char *hash;
};

static struct auth_user *auth_users;
static size_t auth_nusers;
static int auth_configured;

int
smtpd_auth_load(const char *path, const char **error_r)
{
	static char error[512];
	struct auth_user *users = NULL;
	size_t n = 0, lineno = 0;
	char line[1024];
	FILE *fp;

	if (path[0] == '\0') {
		auth_configured = 0;
		return 0;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(error, sizeof(error), "smtpd_auth_file %s: %s", path, strerror(errno));
		*error_r = error;
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = str_trim(line), *colon;
		lineno++;
		if (*p == '\0' || *p == '#')
			continue;
		colon = strchr(p, ':');
		if (colon == NULL || colon == p || colon[1] == '\0') {
			snprintf(error, sizeof(error), "%s:%zu: expected user:crypt-hash", path, lineno);
			*error_r = error;
			fclose(fp);
			for (size_t i = 0; i < n; i++) {
				free(users[i].name);
				free(users[i].hash);
			}
			free(users);
			return -1;
		}
		*colon = '\0';
		users = xrealloc(users, (n + 1) * sizeof(*users));
		users[n].name = xstrdup(p);
		users[n].hash = xstrdup(colon + 1);
		n++;
	}
	fclose(fp);
	for (size_t i = 0; i < auth_nusers; i++) {
		free(auth_users[i].name);
		free(auth_users[i].hash);
	}
	free(auth_users);
	auth_users = users;
	auth_nusers = n;
	auth_configured = 1;
	return 0;
}

int
smtpd_auth_enabled(void)
{
	struct directory *dir;

	if (auth_configured)
		return 1;
	/* LDAP may vouch for addresses of local domains that have no account. */
	if (var_ldap_uri[0] != '\0' && strcmp(var_ldap_accounts, "any-local-domain") == 0)
		return 1;
	return (dir = directory_shared()) != NULL && directory_has_accounts(dir) == 1;
}

/* Decode base64 text into a NUL-terminated buffer; -1 if malformed. */
static int
b64_decode(const char *in, char **out_r, size_t *len_r)
{
	size_t inlen = strlen(in), pad = 0;
	unsigned char *out;
	int n;

	if (inlen == 0 || inlen % 4 != 0 || inlen > 8192)
		return -1;
	if (in[inlen - 1] == '=')
		pad++;
	if (in[inlen - 2] == '=')
		pad++;
	out = xmalloc(inlen / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return -1;
	}
	*len_r = (size_t)n - pad;
	out[*len_r] = '\0';
	*out_r = (char *)out;
	return 0;
}

/* The hash of user in smtpd_auth_file, or NULL. */
static const char *
auth_file_hash(const char *user)
{
	const char *hash = NULL;

	for (size_t i = 0; i < auth_nusers; i++)
		if (strcmp(auth_users[i].name, user) == 0)
			hash = auth_users[i].hash;
	return hash;
}

/* The user name as the log shows it: printable, at most 127 characters. */
static void
user_for_log(const char *user, char *out, size_t size)
{
	size_t n = 0;

	for (; *user != '\0' && n + 1 < size; user++)
		out[n++] = (unsigned char)*user > ' ' && (unsigned char)*user < 0x7f ? *user : '?';
	out[n] = '\0';
}

/* Answer the AUTH: account is the authenticated name on AUTH_OK. */
static void
auth_reply(struct smtpd_session *s, const char *user, const char *account, enum auth_result r)
{
	char logged[128];

	user_for_log(r == AUTH_OK ? account : user, logged, sizeof(logged));
	if (r == AUTH_OK) {
		STATS_INC(smtpd_auth_success);
		log_info("AUTH success from [%s] user=%s mechanism=%s", s->addr, logged,
		    s->auth_mech == AUTH_MECH_PLAIN ? "PLAIN" : "LOGIN");
		s->auth_user = xstrdup(account);
		s->trusted = 1;
		smtpd_policy_authenticated(s);
		smtpd_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	STATS_INC(smtpd_auth_failure);
	log_info("AUTH failure from [%s] user=%s", s->addr, logged);
	/* RFC 4954: 454 for a temporary failure; the same 535 for every other. */
	if (r == AUTH_THROTTLED || r == AUTH_TEMPFAIL)
		smtpd_error(s, "454 4.7.0 Temporary authentication failure");
	else
		smtpd_error(s, "535 5.7.8 Error: authentication failed");
}

struct auth_job {
	struct smtpd_session *s;
	struct auth_request *req;
	char *user;
};

static struct workpool *auth_pool;

static void
auth_work(void *arg)
{
	struct auth_job *j = arg;

	auth_login_verify(j->req);
}

static void
auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct smtpd_session *s = j->s;
	char account[DIR_ADDR_SIZE];
	enum auth_result r;

	/* Counted and logged even when the client left: hanging up is no way around the limit. */
	r = auth_login_end(&j->req, account, sizeof(account));
	if (s->dead) {
		smtpd_session_free(s);
	} else {
		auth_reply(s, j->user, account, r);
		if (s->state != SMTPD_ST_CLOSING)
			smtpd_resume(s);
	}
	OPENSSL_cleanse(j->user, strlen(j->user));
	free(j->user);
	free(j);
}

/* Check user's password: the directory's lookup here, the hash in the pool, the reply after. */
static void
auth_finish(struct smtpd_session *s, const char *user, const char *password)
{
	struct auth_request *req;
	struct auth_job *j;
	const char *hash;
	enum auth_result r;

	s->state = SMTPD_ST_CMD;
	if (user[0] == '\0') {
		auth_reply(s, user, "", AUTH_FAILED);
		return;
	}
	r = auth_login_begin(directory_shared(), user, password, "smtp", s->addr, &req);
	if (r != AUTH_OK) {
		auth_reply(s, user, "", r);
		return;
	}
	if (!auth_request_is_account(req) && (hash = auth_file_hash(user)) != NULL)
		auth_request_set_hash(req, hash);
	if (auth_pool == NULL)
		auth_pool = workpool_new(s->base, AUTH_WORKERS);
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->req = req;
	j->user = xstrdup(user);
	smtpd_pause(s);
	workpool_submit(auth_pool, auth_work, auth_done, j);
}

/* PLAIN: authzid NUL authcid NUL password. */
static void
auth_plain(struct smtpd_session *s, const char *b64)
{
	char *buf, *authcid, *password;
	size_t len;

	if (b64_decode(b64, &buf, &len) < 0) {
		s->state = SMTPD_ST_CMD;
		smtpd_error(s, "501 5.5.2 Error: invalid base64 data");
		return;
	}
	authcid = memchr(buf, '\0', len);
	password = authcid != NULL ? memchr(authcid + 1, '\0', len - (size_t)(authcid + 1 - buf)) : NULL;
	if (authcid == NULL || password == NULL ||
	    (buf[0] != '\0' && strcmp(buf, authcid + 1) != 0)) {
		s->state = SMTPD_ST_CMD;
		smtpd_error(s, "501 5.5.2 Error: invalid PLAIN response");
	} else {
		auth_finish(s, authcid + 1, password + 1);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
}

void
smtpd_auth_command(struct smtpd_session *s, const char *arg)
{
	const char *sp = strchr(arg, ' ');
	size_t mlen = sp != NULL ? (size_t)(sp - arg) : strlen(arg);
	const char *initial = sp != NULL ? sp + 1 : NULL;

	if (mlen == 5 && str_ncasecmp(arg, "PLAIN", 5) == 0) {
		s->auth_mech = AUTH_MECH_PLAIN;
		if (initial != NULL && strcmp(initial, "=") == 0) {
			/* "=" is an empty initial response (RFC 4954 4): not a valid PLAIN message. */
			smtpd_error(s, "501 5.5.2 Error: empty PLAIN response");
			return;
		}
		if (initial != NULL) {
			auth_plain(s, initial);
			return;
		}
		s->state = SMTPD_ST_AUTH;
		s->auth_step = 0;
		smtpd_reply(s, "334 ");
	} else if (mlen == 5 && str_ncasecmp(arg, "LOGIN", 5) == 0) {
		s->auth_mech = AUTH_MECH_LOGIN;
		s->state = SMTPD_ST_AUTH;
		free(s->auth_login_user);
		s->auth_login_user = NULL;
		if (initial != NULL) {
			s->auth_step = 1;
			smtpd_auth_response(s, initial);
			return;
		}
		s->auth_step = 0;
		smtpd_reply(s, "334 VXNlcm5hbWU6");
	} else {
		smtpd_error(s, "504 5.5.4 Error: unsupported authentication mechanism");
	}
}

void
smtpd_auth_response(struct smtpd_session *s, const char *line)
{
	char *decoded = NULL;
	size_t len = 0;

	if (strcmp(line, "*") == 0) {
		s->state = SMTPD_ST_CMD;
		smtpd_error(s, "501 5.7.0 Authentication aborted");
		return;
	}
	if (s->auth_mech == AUTH_MECH_PLAIN) {
		auth_plain(s, line);
		return;
	}
	if (b64_decode(line, &decoded, &len) < 0 || memchr(decoded, '\0', len) != NULL) {
		free(decoded);
		s->state = SMTPD_ST_CMD;
		smtpd_error(s, "501 5.5.2 Error: invalid base64 data");
		return;
	}
	if (s->auth_step <= 1 && s->auth_login_user == NULL) {
		s->auth_login_user = decoded;
		s->auth_step = 2;
		smtpd_reply(s, "334 UGFzc3dvcmQ6");
		return;
	}
	auth_finish(s, s->auth_login_user, decoded);
	OPENSSL_cleanse(decoded, len);
	free(decoded);
	free(s->auth_login_user);
	s->auth_login_user = NULL;
}
