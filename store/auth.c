/* SPDX-License-Identifier: MIT */
/*
 * auth - accounts' logins against the directory (see auth.h).
 *
 * A request carries copies of everything the verification needs (the
 * hashes, whether the account is enabled and may use the service), so
 * that the slow part runs in a worker thread without touching the
 * directory handle of the loop.  The password is always verified, even
 * for an unknown user (against a dummy hash) or a disabled account, so
 * that neither answers faster; the account's state is looked at only
 * after a right password, so "reason=disabled" in the log means its owner
 * tried.  The failure counts live in a small table per process, behind a
 * mutex as several threads of a future daemon may log in at once.
 *
 * A login LDAP checks (auth_ldap.h) tries the account's app passwords
 * first, here, then binds to the server: an app password never travels
 * to the LDAP server (nor counts there against a lockout policy), and
 * keeps working while the server is down.  The LDAP answer costs what a
 * network round trip costs, not an argon2 verification: the timing tells
 * which users LDAP checks, as the directory itself says to its readers.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <argon2.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "store/auth.h"
#include "store/auth_ldap.h"

/* Account passwords: OWASP's argon2id choice (t=2, m=19 MiB, p=1): ~20 ms of a core. */
#define ACCOUNT_T_COST 2
#define ACCOUNT_M_COST (19 * 1024)	/* KiB */
/* App passwords: ~143 random bits, nothing to slow a guess down for: ~0.5 ms. */
#define APP_T_COST 1
#define APP_M_COST 1024
#define PARALLELISM 1
#define SALT_LEN 16
#define HASH_LEN 32
/* What a stored argon2id hash may cost: a login pays it (auth_hash_check). */
#define CHECK_M_MAX (256 * 1024)
#define CHECK_T_MAX 16
#define CHECK_P_MAX 8
/* Longer passwords are refused without hashing them. */
#define PASSWORD_MAX 1024
/* Client addresses whose failures are counted; probes per lookup. */
#define FAILURE_SLOTS 4096
#define FAILURE_PROBES 16

struct auth_request {
	char *login;			/* the user as given */
	char user[128];			/* the same made printable, for the log */
	char account[DIR_ADDR_SIZE];	/* the account, "" when the user is not one */
	char service[32];
	char client[INET6_ADDRSTRLEN + 8];	/* the failure counter's key, "" for none */
	char client_log[INET6_ADDRSTRLEN + 8];
	char *password;
	size_t password_len;
	int is_account, external, enabled, service_ok;
	char profile[DIR_NAME_SIZE];
	char hash[DIR_HASH_SIZE];	/* the password's hash, "" if none */
	size_t n_app;
	struct {
		char name[DIR_NAME_SIZE];
		char hash[DIR_HASH_SIZE];
	} app[DIR_APP_PASSWORDS_MAX];
	char *path;			/* the directory's, to record an app password's use */
	int ldap;			/* the password is the LDAP server's to check */
	char ldap_addr[DIR_ADDR_SIZE];	/* the address it looks up */
	struct auth_ldap_config *ldap_cfg;	/* NULL: LDAP off */
	/* auth_login_verify's outcome. */
	int verified;
	int tempfail;			/* the LDAP server could not be asked */
	const char *reason;		/* why LDAP refused or could not say (static) */
	int matched;			/* 0 none, 1 the password, 2 app[app_index] */
	size_t app_index;
};

/* ---- failure counts ---- */

struct failure {
	char key[INET6_ADDRSTRLEN + 8];
	time_t start;			/* CLOCK_MONOTONIC seconds of the window's first failure */
	long count;
};

static struct failure failures[FAILURE_SLOTS];
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The key of a client address: the address, or its /64 for IPv6 (one
 * host holds a whole /64).  "" when ip is empty.
 */
static void
client_key(const char *ip, char *key, size_t size, char *logged, size_t lsize)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	key[0] = '\0';
	str_copy(logged, ip != NULL && ip[0] != '\0' ? ip : "unknown", lsize);
	for (char *p = logged; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (ip == NULL || ip[0] == '\0')
		return;
	if (inet_pton(AF_INET6, ip, a) == 1 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) != 0) {
		memset(a + 8, 0, 8);
		inet_ntop(AF_INET6, a, text, sizeof(text));
		snprintf(key, size, "%s/64", text);
	} else {
		str_copy(key, logged, size);
	}
}

/* How willingly a slot is given to another address: empty, then expired, then in use. */
static int
failure_rank(const struct failure *f, time_t now)
{
	if (f->key[0] == '\0')
		return 0;
	return now - f->start >= var_auth_failure_window ? 1 : 2;
}

/*
 * The slot of key (not ""); with create, a new one if it has none: an
 * empty or expired slot, else the oldest of its probes.  Called locked.
 */
static struct failure *
failure_slot(const char *key, time_t now, int create)
{
	uint32_t h = 2166136261u;
	struct failure *victim = NULL;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (unsigned int i = 0; i < FAILURE_PROBES; i++) {
		struct failure *f = &failures[(h + i) % FAILURE_SLOTS];
		int rank;
		if (strcmp(f->key, key) == 0)
			return f;
		rank = failure_rank(f, now);
		if (victim == NULL || rank < failure_rank(victim, now) ||
		    (rank == failure_rank(victim, now) && f->start < victim->start))
			victim = f;
	}
	if (!create)
		return NULL;
	str_copy(victim->key, key, sizeof(victim->key));
	victim->start = now;
	victim->count = 0;
	return victim;
}

/* Is key refused for now? */
static int
failure_throttled(const char *key)
{
	time_t now = proc_mono_seconds();
	struct failure *f;
	int throttled = 0;

	if (key[0] == '\0' || var_auth_failure_limit <= 0 || var_auth_failure_window <= 0)
		return 0;
	pthread_mutex_lock(&failures_lock);
	if ((f = failure_slot(key, now, 0)) != NULL && now - f->start < var_auth_failure_window &&
	    f->count >= var_auth_failure_limit)
		throttled = 1;
	pthread_mutex_unlock(&failures_lock);
	return throttled;
}

static void
failure_note(const char *key)
{
	time_t now = proc_mono_seconds();
	struct failure *f;

	if (key[0] == '\0' || var_auth_failure_limit <= 0 || var_auth_failure_window <= 0)
		return;
	pthread_mutex_lock(&failures_lock);
	f = failure_slot(key, now, 1);
	if (now - f->start >= var_auth_failure_window) {
		/* A new window starts at this failure. */
		f->start = now;
		f->count = 0;
	}
	f->count++;
	pthread_mutex_unlock(&failures_lock);
}

void
auth_failures_reset(void)
{
	pthread_mutex_lock(&failures_lock);
	memset(failures, 0, sizeof(failures));
	pthread_mutex_unlock(&failures_lock);
}

/* ---- hashes ---- */

/* Fill buf with random bytes (the kernel's urandom source); -1 on failure. */
static int
random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
auth_hash_password(const char *password, int app, char *out, size_t size,
    const char **error_r)
{
	uint32_t t = app ? APP_T_COST : ACCOUNT_T_COST, m = app ? APP_M_COST : ACCOUNT_M_COST;
	unsigned char salt[SALT_LEN];
	int rc;

	if (strlen(password) > PASSWORD_MAX) {
		*error_r = "password too long";
		return -1;
	}
	if (argon2_encodedlen(t, m, PARALLELISM, SALT_LEN, HASH_LEN, Argon2_id) > size) {
		*error_r = "no room for the hash";
		return -1;
	}
	if (random_bytes(salt, sizeof(salt)) < 0) {
		*error_r = "no random bytes for the salt";
		return -1;
	}
	rc = argon2id_hash_encoded(t, m, PARALLELISM, password, strlen(password), salt, sizeof(salt),
	    HASH_LEN, out, size);
	if (rc != ARGON2_OK) {
		*error_r = argon2_error_message(rc);
		return -1;
	}
	return 0;
}

static int
b64_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/'))
			return 0;
	return 1;
}

/* "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" with costs a login can pay; 0 or -1. */
static int
argon2_params_ok(const char *hash)
{
	unsigned int v, m, t, p;
	int off = 0;
	const char *salt, *sum;

	if (sscanf(hash, "$argon2id$v=%u$m=%u,t=%u,p=%u$%n", &v, &m, &t, &p, &off) != 4 || off == 0)
		return -1;
	if (v != ARGON2_VERSION_13 || p < 1 || p > CHECK_P_MAX || t < 1 || t > CHECK_T_MAX ||
	    m < 8 * p || m > CHECK_M_MAX)
		return -1;
	salt = hash + off;
	if ((sum = strchr(salt, '$')) == NULL)
		return -1;
	/* Salt of 8 bytes at least, a hash of 4 at least (RFC 9106's minimums), unpadded base64. */
	if ((size_t)(sum - salt) < 11 || !b64_chars(salt, (size_t)(sum - salt)) ||
	    strlen(sum + 1) < 6 || !b64_chars(sum + 1, strlen(sum + 1)))
		return -1;
	return 0;
}

static int
same_bytes(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* crypt_r(password, setting) into a heap buffer (struct crypt_data is 32 KiB); NULL on failure. */
static char *
crypt_dup(const char *password, const char *setting)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char *r = crypt_r(password, setting, cd), *out = NULL;

	if (r != NULL && r[0] != '*')
		out = xstrdup(r);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return out;
}

int
auth_hash_check(const char *hash, const char **error_r)
{
	char *r;
	const char *dollar;
	int ok;

	if (strlen(hash) >= AUTH_HASH_SIZE) {
		*error_r = "hash too long";
		return -1;
	}
	if (strncmp(hash, "$argon2", 7) == 0) {
		if (strncmp(hash, "$argon2id$", 10) != 0) {
			*error_r = "only argon2id hashes are accepted (not argon2i nor argon2d)";
			return -1;
		}
		if (argon2_params_ok(hash) < 0) {
			*error_r = "bad argon2id hash: $argon2id$v=19$m=M,t=T,p=P$salt$hash with "
			    "m at most 262144 (KiB), t at most 16, p at most 8";
			return -1;
		}
		return 0;
	}
	/* A crypt(3) hash: hashing anything with it as setting gives a hash of its shape. */
	if (hash[0] != '$' || (dollar = strrchr(hash, '$')) == hash) {
		*error_r = "not a hash this system knows: argon2id, or crypt(3) as $y$, $6$, $5$, $2b$";
		return -1;
	}
	r = crypt_dup("facteur-check", hash);
	ok = r != NULL && strlen(r) == strlen(hash) &&
	    strncmp(r, hash, (size_t)(dollar - hash) + 1) == 0;
	free(r);
	if (!ok) {
		*error_r = "not a hash this system knows: argon2id, or crypt(3) as $y$, $6$, $5$, $2b$";
		return -1;
	}
	return 0;
}

int
auth_hash_verify(const char *hash, const char *password)
{
	size_t n = strlen(hash);
	char *r;
	int ok;

	if (strncmp(hash, "$argon2id$", 10) == 0)
		return argon2_params_ok(hash) == 0 &&
		    argon2id_verify(hash, password, strlen(password)) == ARGON2_OK;
	if (hash[0] != '$')
		return 0;
	r = crypt_dup(password, hash);
	ok = r != NULL && strlen(r) == n && same_bytes(r, hash, n);
	free(r);
	return ok;
}

int
auth_app_password_new(char *out, size_t size)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char buf[64];
	size_t n = 0;

	if (size < AUTH_APP_PASSWORD_LEN + 1)
		return -1;
	while (n < AUTH_APP_PASSWORD_LEN) {
		if (random_bytes(buf, sizeof(buf)) < 0)
			return -1;
		/* 248 = 4 * 62: the bytes above are dropped, so every letter is as likely. */
		for (size_t i = 0; i < sizeof(buf) && n < AUTH_APP_PASSWORD_LEN; i++)
			if (buf[i] < 248)
				out[n++] = alphabet[buf[i] % 62];
	}
	out[n] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* The hash an unknown user's password is checked against (made once, of a random password). */
static char dummy_hash[AUTH_HASH_SIZE];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_make(void)
{
	char password[AUTH_APP_PASSWORD_LEN + 1];
	const char *error;

	if (auth_app_password_new(password, sizeof(password)) < 0 ||
	    auth_hash_password(password, 0, dummy_hash, sizeof(dummy_hash), &error) < 0)
		dummy_hash[0] = '\0';
	explicit_bzero(password, sizeof(password));
}

static void
dummy_verify(const char *password)
{
	pthread_once(&dummy_once, dummy_make);
	if (dummy_hash[0] != '\0')
		(void)auth_hash_verify(dummy_hash, password);
}

/* ---- logins ---- */

const char *
auth_result_str(enum auth_result r)
{
	static const char *const names[] = {
		[AUTH_OK] = "ok", [AUTH_FAILED] = "failed", [AUTH_DISABLED] = "disabled",
		[AUTH_NO_SERVICE] = "no-service", [AUTH_THROTTLED] = "throttled",
		[AUTH_TEMPFAIL] = "tempfail",
	};

	return r <= AUTH_TEMPFAIL ? names[r] : "unknown";
}

/* Printable text of at most size - 1 characters: what a client sent, for the log. */
static void
log_text(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < size; s++)
		out[n++] = (unsigned char)*s > ' ' && (unsigned char)*s < 0x7f ? *s : '?';
	out[n] = '\0';
}

static void
log_failure(const struct auth_request *req, const char *reason)
{
	log_info("auth failed user=%s client=%s service=%s reason=%s", req->user, req->client_log,
	    req->service, reason);
}

static int
app_copy(const struct dir_app_password *ap, void *ctx)
{
	struct auth_request *req = ctx;

	if (req->n_app >= DIR_APP_PASSWORDS_MAX)
		return 1;
	str_copy(req->app[req->n_app].name, ap->name, sizeof(req->app[0].name));
	str_copy(req->app[req->n_app].hash, ap->hash, sizeof(req->app[0].hash));
	req->n_app++;
	return 0;
}

/* Read the account into req: 0, or -1 on a database error. */
static int
request_account(struct auth_request *req, struct directory *dir)
{
	struct dir_account acc;
	struct dir_profile prof;
	int rc;

	if ((rc = directory_account_get(dir, req->login, &acc)) <= 0)
		return rc;
	req->is_account = 1;
	str_copy(req->account, acc.address, sizeof(req->account));
	str_copy(req->hash, acc.password, sizeof(req->hash));
	str_copy(req->profile, acc.profile, sizeof(req->profile));
	req->enabled = acc.enabled;
	if (acc.profile[0] == '\0') {
		req->service_ok = 1;
	} else {
		if ((rc = directory_profile_get(dir, acc.profile, &prof)) < 0)
			return -1;
		/* A profile gone missing (changed by hand) allows nothing. */
		req->service_ok = rc == 1 && dir_services_has(prof.services, req->service);
	}
	if (directory_app_password_foreach(dir, acc.address, app_copy, req) < 0)
		return -1;
	req->path = xstrdup(directory_path(dir));
	return 0;
}

/*
 * Is req's password LDAP's to check: an account marked AUTH_LDAP_MARK, or
 * with ldap_accounts = any-local-domain an address of a local domain that
 * is no account?  0, or -1 on a database error.
 */
static int
request_ldap(struct auth_request *req, struct directory *dir)
{
	struct dir_domain d;
	const char *at;
	int rc;

	req->ldap_cfg = auth_ldap_config_get();
	if (req->is_account) {
		if (strcmp(req->hash, AUTH_LDAP_MARK) != 0)
			goto local;
		req->ldap = 1;
		req->hash[0] = '\0';
		str_copy(req->ldap_addr, req->account, sizeof(req->ldap_addr));
		if (req->ldap_cfg == NULL)
			log_warnx("auth: %s: its password source is LDAP, and ldap_uri is empty",
			    req->account);
		return 0;
	}
	if (dir == NULL || !auth_ldap_any_local_domain(req->ldap_cfg) ||
	    (at = strrchr(req->login, '@')) == NULL || at == req->login || at[1] == '\0' ||
	    strlen(req->login) >= sizeof(req->ldap_addr))
		goto local;
	if ((rc = directory_domain_get(dir, at + 1, &d)) < 0)
		return -1;
	if (rc == 0 || d.kind != DIR_DOMAIN_LOCAL)
		goto local;
	/* No account, no profile: every service, as an account without a profile. */
	req->ldap = 1;
	req->enabled = 1;
	req->service_ok = 1;
	str_copy(req->ldap_addr, req->login, sizeof(req->ldap_addr));
	str_lower(req->ldap_addr);
	return 0;
local:
	auth_ldap_config_unref(&req->ldap_cfg);
	return 0;
}

enum auth_result
auth_login_begin(struct directory *dir, const char *user, const char *password, const char *service,
    const char *client_ip, struct auth_request **req_r)
{
	struct auth_request *req = xcalloc(1, sizeof(*req));

	*req_r = NULL;
	req->login = xstrdup(user != NULL ? user : "");
	log_text(user, req->user, sizeof(req->user));
	log_text(service, req->service, sizeof(req->service));
	client_key(client_ip, req->client, sizeof(req->client), req->client_log,
	    sizeof(req->client_log));
	if (failure_throttled(req->client)) {
		log_failure(req, "throttled");
		auth_request_free(&req);
		return AUTH_THROTTLED;
	}
	if (dir != NULL && request_account(req, dir) < 0) {
		log_failure(req, "tempfail");
		auth_request_free(&req);
		return AUTH_TEMPFAIL;
	}
	if (request_ldap(req, dir) < 0) {
		log_failure(req, "tempfail");
		auth_request_free(&req);
		return AUTH_TEMPFAIL;
	}
	req->password_len = password != NULL ? strlen(password) : 0;
	req->password = xstrndup(password != NULL ? password : "", req->password_len);
	*req_r = req;
	return AUTH_OK;
}

int
auth_request_is_account(const struct auth_request *req)
{
	return req->is_account;
}

void
auth_request_set_hash(struct auth_request *req, const char *hash)
{
	if (req->is_account || req->ldap || hash == NULL)
		return;
	req->external = 1;
	req->enabled = 1;
	req->service_ok = 1;
	str_copy(req->hash, hash, sizeof(req->hash));
}

/* A successful login with an app password: its last use, through a handle of this thread. */
static void
app_password_record(const struct auth_request *req)
{
	const char *name = req->app[req->app_index].name, *error;
	struct directory *dir;

	if (req->path == NULL)
		return;
	if ((dir = directory_open(req->path, DIRECTORY_UPDATE, &error)) == NULL ||
	    directory_app_password_used(dir, req->account, name, (long long)time(NULL),
	    &error) < 0)
		log_warnx("auth: %s app password %s: its use not recorded: %s", req->account, name,
		    error);
	directory_close(&dir);
}

/* The app passwords of req, then the LDAP server. */
static void
verify_ldap(struct auth_request *req)
{
	const char *pw = req->password;

	for (size_t i = 0; i < req->n_app; i++) {
		if (auth_hash_verify(req->app[i].hash, pw)) {
			req->matched = 2;
			req->app_index = i;
			return;
		}
	}
	if (req->ldap_cfg == NULL) {
		req->tempfail = 1;
		req->reason = "ldap-off";
		return;
	}
	switch (auth_ldap_verify(req->ldap_cfg, req->ldap_addr, pw, &req->reason)) {
	case AUTH_LDAP_OK:
		req->matched = 1;
		break;
	case AUTH_LDAP_FAILED:
		break;
	case AUTH_LDAP_TEMPFAIL:
		req->tempfail = 1;
		break;
	}
}

void
auth_login_verify(struct auth_request *req)
{
	const char *pw = req->password;

	req->verified = 1;
	req->matched = 0;
	if (req->ldap && req->password_len > 0 && req->password_len <= PASSWORD_MAX) {
		/* An empty password never reaches the server: it would be an anonymous bind. */
		verify_ldap(req);
	} else if (req->password_len == 0 || req->password_len > PASSWORD_MAX) {
		/* Refused whatever the user: do the same work all the same. */
		dummy_verify("");
	} else if (req->hash[0] != '\0') {
		if (auth_hash_verify(req->hash, pw))
			req->matched = 1;
	} else {
		dummy_verify(pw);
	}
	if (req->matched == 0 && !req->ldap && req->password_len > 0 &&
	    req->password_len <= PASSWORD_MAX) {
		for (size_t i = 0; i < req->n_app; i++) {
			if (auth_hash_verify(req->app[i].hash, pw)) {
				req->matched = 2;
				req->app_index = i;
				break;
			}
		}
	}
	if (req->matched == 2 && req->enabled && req->service_ok)
		app_password_record(req);
}

enum auth_result
auth_login_end(struct auth_request **reqp, char *account_r, size_t size)
{
	struct auth_request *req = *reqp;
	enum auth_result r;

	if (!req->verified)
		auth_login_verify(req);
	if (req->matched == 0 && req->tempfail) {
		/* The server's trouble, not the client's failure: not counted. */
		log_failure(req, req->reason != NULL ? req->reason : "ldap-unavailable");
		auth_request_free(reqp);
		return AUTH_TEMPFAIL;
	}
	if (req->matched == 0 && req->ldap && req->reason != NULL &&
	    req->password_len > 0 && req->password_len <= PASSWORD_MAX) {
		r = AUTH_FAILED;
		log_failure(req, req->reason);
	} else if (req->matched == 0) {
		r = AUTH_FAILED;
		log_failure(req, req->password_len == 0 ? "empty-password" :
		    req->password_len > PASSWORD_MAX ? "password-too-long" :
		    !req->is_account && !req->external ? "unknown-user" :
		    req->hash[0] == '\0' && req->n_app == 0 ? "no-password" : "bad-password");
	} else if (!req->enabled) {
		r = AUTH_DISABLED;
		log_failure(req, "disabled");
	} else if (!req->service_ok) {
		r = AUTH_NO_SERVICE;
		if (req->profile[0] != '\0')
			log_info("auth failed user=%s client=%s service=%s reason=service profile=%s",
			    req->user, req->client_log, req->service, req->profile);
		else
			log_failure(req, "service");
	} else {
		r = AUTH_OK;
		if (req->matched == 2)
			log_info("auth ok user=%s client=%s service=%s app_password=%s", req->user,
			    req->client_log, req->service, req->app[req->app_index].name);
		else
			log_info("auth ok user=%s client=%s service=%s", req->user, req->client_log,
			    req->service);
		if (account_r != NULL && size > 0)
			str_copy(account_r, req->is_account ? req->account :
			    req->ldap ? req->ldap_addr : req->login, size);
	}
	if (r != AUTH_OK)
		failure_note(req->client);
	auth_request_free(reqp);
	return r;
}

void
auth_request_free(struct auth_request **reqp)
{
	struct auth_request *req = *reqp;

	if (req == NULL)
		return;
	if (req->password != NULL) {
		explicit_bzero(req->password, req->password_len);
		free(req->password);
	}
	auth_ldap_config_unref(&req->ldap_cfg);
	free(req->path);
	free(req->login);
	explicit_bzero(req, sizeof(*req));
	free(req);
	*reqp = NULL;
}

enum auth_result
auth_login(struct directory *dir, const char *user, const char *password, const char *service,
    const char *client_ip, char *account_r, size_t size)
{
	struct auth_request *req;
	enum auth_result r;

	if (account_r != NULL && size > 0)
		account_r[0] = '\0';
	if ((r = auth_login_begin(dir, user, password, service, client_ip, &req)) != AUTH_OK)
		return r;
	auth_login_verify(req);
	return auth_login_end(&req, account_r, size);
}
