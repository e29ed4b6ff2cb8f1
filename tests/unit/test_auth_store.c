/* SPDX-License-Identifier: MIT */
/*
 * test_auth_store - accounts' logins (store/auth.h) against a directory
 * in a temporary SQLite file: argon2id and crypt(3) hashes, account and
 * app passwords (with their last use recorded through a read-only
 * handle), disabled accounts and profiles' services, the failure limit
 * per client address, the three-step login run from another thread, the
 * log lines (never the password), and the upgrade of a version 1 file
 * made with the old schema.
 */
#include "facteur-config.h"

#include <crypt.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "store/auth.h"
#include "store/directory.h"

static char tmpdir[] = "/tmp/test_auth_store.XXXXXX";
static int db_seq;

#define PW "correct horse battery staple"

static struct directory *
fresh(char *path, size_t size)
{
	struct directory *dir;
	const char *error = NULL;
	struct dir_domain d;

	snprintf(path, size, "%s/d%d.db", tmpdir, ++db_seq);
	if ((dir = directory_open(path, DIRECTORY_READWRITE, &error)) == NULL)
		fail_msg("open %s: %s", path, error);
	memset(&d, 0, sizeof(d));
	str_copy(d.name, "example.org", sizeof(d.name));
	d.kind = DIR_DOMAIN_LOCAL;
	if (directory_domain_add(dir, &d, &error) < 0)
		fail_msg("domain add: %s", error);
	return dir;
}

static void
ok(int rc, const char *what, const char *error)
{
	if (rc != 0)
		fail_msg("%s: %s", what, error != NULL ? error : "(no message)");
}

/* An account with password PW (hashed with argon2id). */
static void
account_with_password(struct directory *dir, const char *addr)
{
	char hash[AUTH_HASH_SIZE];
	const char *error = NULL;

	ok(directory_account_add(dir, addr, &error), addr, error);
	ok(auth_hash_password(PW, 0, hash, sizeof(hash), &error), "hash", error);
	ok(directory_account_set_password(dir, addr, hash, &error), "set password", error);
}

static int
setup(void **state)
{
	/* No failure limit unless a test sets one. */
	var_auth_failure_limit = 0;
	var_auth_failure_window = 600;
	auth_failures_reset();
	return 0;
}

static void
test_hashes(void **state)
{
	char hash[AUTH_HASH_SIZE], app[AUTH_HASH_SIZE], other[AUTH_HASH_SIZE], huge[300];
	const char *error = NULL;

	assert_int_equal(auth_hash_password(PW, 0, hash, sizeof(hash), &error), 0);
	assert_true(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
	assert_int_equal(auth_hash_verify(hash, PW), 1);
	assert_int_equal(auth_hash_verify(hash, PW "x"), 0);
	assert_int_equal(auth_hash_verify(hash, ""), 0);
	assert_int_equal(auth_hash_check(hash, &error), 0);
	/* A new salt each time. */
	assert_int_equal(auth_hash_password(PW, 0, other, sizeof(other), &error), 0);
	assert_string_not_equal(hash, other);
	assert_int_equal(auth_hash_verify(other, PW), 1);
	/* App passwords are cheaper. */
	assert_int_equal(auth_hash_password("abc", 1, app, sizeof(app), &error), 0);
	assert_true(strncmp(app, "$argon2id$v=19$m=1024,t=1,p=1$", 30) == 0);
	assert_int_equal(auth_hash_verify(app, "abc"), 1);
	assert_int_equal(auth_hash_verify(app, "abd"), 0);
	/* No room: an error, not a cut hash. */
	assert_int_equal(auth_hash_password(PW, 0, other, 20, &error), -1);

	/* Stored hashes that are refused. */
	static const char *const bad[] = {
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo",
		"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c2Fs$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHN!bHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$6$", "$6$salt", "$zz$abc$def", "abcdefghijklm",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error = NULL;
		if (auth_hash_check(bad[i], &error) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(error);
		assert_int_equal(auth_hash_verify(bad[i], "x"), 0);
	}
	/* Too long for the directory. */
	snprintf(huge, sizeof(huge), "%s%0*d", hash, (int)(sizeof(huge) - strlen(hash) - 1), 0);
	assert_int_equal(auth_hash_check(huge, &error), -1);
	assert_string_equal(error, "hash too long");
}

static void
test_crypt_hashes(void **state)
{
	static const char *const prefixes[] = { "$6$", "$y$", "$5$", "$2b$" };
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *error = NULL;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		char setting[CRYPT_GENSALT_OUTPUT_SIZE], hash[AUTH_HASH_SIZE];
		const char *h;
		assert_non_null(crypt_gensalt_rn(prefixes[i], 0, NULL, 0, setting, sizeof(setting)));
		assert_non_null(h = crypt_r(PW, setting, cd));
		assert_true(h[0] == '$');
		str_copy(hash, h, sizeof(hash));
		if (auth_hash_check(hash, &error) != 0)
			fail_msg("%s refused: %s", hash, error);
		assert_int_equal(auth_hash_verify(hash, PW), 1);
		assert_int_equal(auth_hash_verify(hash, "wrong"), 0);
	}
	free(cd);
}

static void
test_app_password_new(void **state)
{
	char a[AUTH_APP_PASSWORD_LEN + 1], b[AUTH_APP_PASSWORD_LEN + 1];

	assert_int_equal(auth_app_password_new(a, sizeof(a)), 0);
	assert_int_equal(auth_app_password_new(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), AUTH_APP_PASSWORD_LEN);
	assert_string_not_equal(a, b);
	for (const char *p = a; *p != '\0'; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'));
	assert_int_equal(auth_app_password_new(a, AUTH_APP_PASSWORD_LEN), -1);
}

static void
test_login(void **state)
{
	char path[256], account[DIR_ADDR_SIZE];
	struct directory *dir = fresh(path, sizeof(path));
	const char *error = NULL;

	account_with_password(dir, "Alice@Example.org");
	ok(directory_account_add(dir, "nopw@example.org", &error), "add", error);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.1", account,
	    sizeof(account)), AUTH_OK);
	assert_string_equal(account, "alice@example.org");
	/* The address in any case. */
	assert_int_equal(auth_login(dir, "ALICE@EXAMPLE.ORG", PW, "imap", "192.0.2.1", account,
	    sizeof(account)), AUTH_OK);
	assert_string_equal(account, "alice@example.org");
	/* Wrong password, unknown user, no password set, empty password: the same answer. */
	assert_int_equal(auth_login(dir, "alice@example.org", PW " ", "smtp", "192.0.2.1", account,
	    sizeof(account)), AUTH_FAILED);
	assert_string_equal(account, "");
	assert_int_equal(auth_login(dir, "bob@example.org", PW, "smtp", "192.0.2.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(dir, "alice", PW, "smtp", "192.0.2.1", NULL, 0), AUTH_FAILED);
	assert_int_equal(auth_login(dir, "nopw@example.org", "", "smtp", "192.0.2.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(dir, "nopw@example.org", PW, "smtp", "192.0.2.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(dir, "alice@example.org", "", "smtp", "192.0.2.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(NULL, "alice@example.org", PW, "smtp", "192.0.2.1", NULL, 0),
	    AUTH_FAILED);
	/* A password removed. */
	ok(directory_account_set_password(dir, "alice@example.org", NULL, &error), "unset", error);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(directory_account_set_password(dir, "nobody@example.org", "$6$x$y", &error),
	    -1);
	assert_string_equal(error, "no such account nobody@example.org");
	assert_int_equal(directory_account_set_password(dir, "nopw@example.org", "has space",
	    &error), -1);

	/* An imported crypt(3) hash logs in as well. */
	{
		struct crypt_data *cd = xcalloc(1, sizeof(*cd));
		const char *h = crypt_r(PW, "$6$saltsaltsalt$", cd);
		ok(directory_account_set_password(dir, "nopw@example.org", h, &error), "crypt", error);
		free(cd);
	}
	assert_int_equal(auth_login(dir, "nopw@example.org", PW, "smtp", "192.0.2.1", account,
	    sizeof(account)), AUTH_OK);
	assert_string_equal(account, "nopw@example.org");
	directory_close(&dir);
}

struct app_seen {
	char names[8][DIR_NAME_SIZE];
	long long last_used[8];
	int n;
};

static int
app_seen(const struct dir_app_password *ap, void *ctx)
{
	struct app_seen *s = ctx;

	if (s->n < 8) {
		str_copy(s->names[s->n], ap->name, sizeof(s->names[0]));
		s->last_used[s->n] = ap->last_used;
		assert_true(ap->created > 0);
		s->n++;
	}
	return 0;
}

static void
test_app_passwords(void **state)
{
	char path[256], account[DIR_ADDR_SIZE], pw1[32], pw2[32], hash[AUTH_HASH_SIZE], name[16];
	struct directory *dir = fresh(path, sizeof(path)), *reader;
	const char *error = NULL;
	struct app_seen seen;

	account_with_password(dir, "alice@example.org");
	assert_int_equal(auth_app_password_new(pw1, sizeof(pw1)), 0);
	assert_int_equal(auth_app_password_new(pw2, sizeof(pw2)), 0);
	ok(auth_hash_password(pw1, 1, hash, sizeof(hash), &error), "hash", error);
	ok(directory_app_password_add(dir, "alice@example.org", "phone", hash, &error), "add", error);
	ok(auth_hash_password(pw2, 1, hash, sizeof(hash), &error), "hash", error);
	ok(directory_app_password_add(dir, "Alice@Example.org", "laptop", hash, &error), "add",
	    error);

	/* Refusals. */
	assert_int_equal(directory_app_password_add(dir, "alice@example.org", "phone", hash, &error),
	    -1);
	assert_string_equal(error, "account alice@example.org has an app password phone");
	assert_int_equal(directory_app_password_add(dir, "alice@example.org", "my phone", hash,
	    &error), -1);
	assert_true(strstr(error, "bad app password name my phone") != NULL);
	assert_int_equal(directory_app_password_add(dir, "alice@example.org", "", hash, &error), -1);
	assert_int_equal(directory_app_password_add(dir, "bob@example.org", "x", hash, &error), -1);
	assert_string_equal(error, "no such account bob@example.org");
	assert_int_equal(directory_app_password_del(dir, "alice@example.org", "tablet", &error), -1);
	assert_string_equal(error, "account alice@example.org has no app password tablet");
	assert_int_equal(directory_app_password_del(dir, "bob@example.org", "tablet", &error), -1);
	assert_string_equal(error, "no such account bob@example.org");

	/* Logins through a read-only handle, as a daemon's: the use is recorded all the same. */
	assert_non_null(reader = directory_open(path, DIRECTORY_READONLY, &error));
	assert_int_equal(auth_login(reader, "alice@example.org", pw1, "smtp", "192.0.2.2", account,
	    sizeof(account)), AUTH_OK);
	assert_string_equal(account, "alice@example.org");
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(directory_app_password_foreach(reader, "alice@example.org", app_seen,
	    &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.names[0], "laptop");
	assert_string_equal(seen.names[1], "phone");
	assert_int_equal(seen.last_used[0], 0);
	assert_true(seen.last_used[1] > 0);
	/* The account password still works; a wrong one is not an app password. */
	assert_int_equal(auth_login(reader, "alice@example.org", PW, "smtp", "192.0.2.2", NULL, 0),
	    AUTH_OK);
	assert_int_equal(auth_login(reader, "alice@example.org", pw1 + 1, "smtp", "192.0.2.2", NULL,
	    0), AUTH_FAILED);
	/* Another account's app password is no good. */
	account_with_password(dir, "bob@example.org");
	assert_int_equal(auth_login(reader, "bob@example.org", pw2, "smtp", "192.0.2.2", NULL, 0),
	    AUTH_FAILED);
	/* Revoked: refused. */
	ok(directory_app_password_del(dir, "alice@example.org", "phone", &error), "revoke", error);
	assert_int_equal(auth_login(reader, "alice@example.org", pw1, "smtp", "192.0.2.2", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(reader, "alice@example.org", pw2, "smtp", "192.0.2.2", NULL, 0),
	    AUTH_OK);
	/* A read-only handle writes nothing itself. */
	assert_int_equal(directory_app_password_used(reader, "alice@example.org", "laptop", 1,
	    &error), -1);
	assert_string_equal(error, "the directory is open read-only");

	/* At most DIR_APP_PASSWORDS_MAX. */
	for (int i = 1; i < DIR_APP_PASSWORDS_MAX; i++) {
		snprintf(name, sizeof(name), "app%d", i);
		ok(directory_app_password_add(dir, "alice@example.org", name, hash, &error), name,
		    error);
	}
	assert_int_equal(directory_app_password_add(dir, "alice@example.org", "onemore", hash,
	    &error), -1);
	assert_true(strstr(error, "the most it may have") != NULL);

	/* They go with their account. */
	ok(directory_account_del(dir, "alice@example.org", &error), "del", error);
	ok(directory_account_add(dir, "alice@example.org", &error), "add", error);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(directory_app_password_foreach(dir, "alice@example.org", app_seen, &seen),
	    0);
	assert_int_equal(seen.n, 0);
	directory_close(&reader);
	directory_close(&dir);
}

static int
profile_names(const struct dir_profile *p, void *ctx)
{
	char *out = ctx;

	strcat(out, p->name);
	strcat(out, "=");
	strcat(out, p->services);
	strcat(out, ";");
	return 0;
}

static void
test_services(void **state)
{
	char path[256], list[256], out[DIR_SERVICES_SIZE];
	struct directory *dir = fresh(path, sizeof(path));
	struct dir_profile p;
	struct dir_account acc;
	const char *error = NULL;

	/* Service lists. */
	assert_int_equal(dir_services_norm("IMAP, smtp smtp\txmpp", out, &error), 0);
	assert_string_equal(out, "smtp,imap,xmpp");
	assert_int_equal(dir_services_norm("", out, &error), 0);
	assert_string_equal(out, "");
	assert_int_equal(dir_services_norm("smtp,pop5", out, &error), -1);
	assert_string_equal(error, "unknown service pop5 (known: smtp,imap,sieve,dav,xmpp)");
	assert_true(dir_services_has("smtp,imap", "imap"));
	assert_false(dir_services_has("smtp,imap", "ima"));
	assert_false(dir_services_has("smtp,imap", ""));
	assert_false(dir_services_has("", "smtp"));

	account_with_password(dir, "alice@example.org");
	memset(&p, 0, sizeof(p));
	str_copy(p.name, "Readers", sizeof(p.name));
	str_copy(p.services, "imap sieve", sizeof(p.services));
	p.quota_bytes = 1LL << 30;
	p.retention_days = 30;
	ok(directory_profile_add(dir, &p, &error), "profile", error);
	assert_int_equal(directory_profile_add(dir, &p, &error), -1);
	assert_string_equal(error, "profile readers exists");
	memset(&p, 0, sizeof(p));
	assert_int_equal(directory_profile_get(dir, "READERS", &p), 1);
	assert_string_equal(p.name, "readers");
	assert_string_equal(p.services, "imap,sieve");
	assert_int_equal(p.quota_bytes, 1LL << 30);
	assert_int_equal(p.retention_days, 30);
	assert_int_equal(directory_profile_get(dir, "nope", &p), 0);
	assert_int_equal(directory_profile_get(dir, "bad name", &p), 0);

	/* No profile: every service. */
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "xmpp", "192.0.2.3", NULL, 0),
	    AUTH_OK);
	ok(directory_account_set_profile(dir, "alice@example.org", "readers", &error), "set", error);
	assert_int_equal(directory_account_get(dir, "alice@example.org", &acc), 1);
	assert_string_equal(acc.profile, "readers");
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.3", NULL, 0),
	    AUTH_NO_SERVICE);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "imap", "192.0.2.3", NULL, 0),
	    AUTH_OK);
	/* A wrong password says nothing of the service. */
	assert_int_equal(auth_login(dir, "alice@example.org", "x", "smtp", "192.0.2.3", NULL, 0),
	    AUTH_FAILED);
	/* Updating the profile takes effect at the next login. */
	memset(&p, 0, sizeof(p));
	str_copy(p.name, "readers", sizeof(p.name));
	str_copy(p.services, "imap,smtp", sizeof(p.services));
	ok(directory_profile_update(dir, &p, &error), "update", error);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.3", NULL, 0),
	    AUTH_OK);
	str_copy(p.name, "ghost", sizeof(p.name));
	assert_int_equal(directory_profile_update(dir, &p, &error), -1);
	assert_string_equal(error, "unknown profile ghost");

	/* Disabled: refused with the right password, a plain failure with a wrong one. */
	ok(directory_account_set_enabled(dir, "alice@example.org", 0, &error), "disable", error);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.3", NULL, 0),
	    AUTH_DISABLED);
	assert_int_equal(auth_login(dir, "alice@example.org", "x", "smtp", "192.0.2.3", NULL, 0),
	    AUTH_FAILED);
	ok(directory_account_set_enabled(dir, "alice@example.org", 1, &error), "enable", error);

	/* Refusals. */
	assert_int_equal(directory_account_set_profile(dir, "alice@example.org", "ghost", &error),
	    -1);
	assert_string_equal(error, "unknown profile ghost");
	assert_int_equal(directory_account_set_profile(dir, "bob@example.org", "readers", &error),
	    -1);
	assert_string_equal(error, "no such account bob@example.org");
	assert_int_equal(directory_profile_del(dir, "readers", &error), -1);
	assert_string_equal(error, "profile readers is used by 1 account");
	memset(&p, 0, sizeof(p));
	str_copy(p.name, "x y", sizeof(p.name));
	assert_int_equal(directory_profile_add(dir, &p, &error), -1);
	str_copy(p.name, "neg", sizeof(p.name));
	p.quota_bytes = -1;
	assert_int_equal(directory_profile_add(dir, &p, &error), -1);
	assert_string_equal(error, "profile neg: the quota cannot be negative");
	p.quota_bytes = 0;
	str_copy(p.services, "smtp,telnet", sizeof(p.services));
	assert_int_equal(directory_profile_add(dir, &p, &error), -1);
	str_copy(p.name, "none", sizeof(p.name));
	str_copy(p.services, "", sizeof(p.services));
	ok(directory_profile_add(dir, &p, &error), "none", error);
	list[0] = '\0';
	assert_int_equal(directory_profile_foreach(dir, profile_names, list), 0);
	assert_string_equal(list, "none=;readers=smtp,imap;");

	/* Free again, then deleted. */
	ok(directory_account_set_profile(dir, "alice@example.org", NULL, &error), "unset", error);
	ok(directory_profile_del(dir, "readers", &error), "del", error);
	assert_int_equal(directory_profile_del(dir, "readers", &error), -1);
	assert_string_equal(error, "unknown profile readers");
	directory_close(&dir);
}

static void
test_throttling(void **state)
{
	char path[256];
	struct directory *dir = fresh(path, sizeof(path));

	account_with_password(dir, "alice@example.org");
	var_auth_failure_limit = 3;
	var_auth_failure_window = 600;
	for (int i = 0; i < 3; i++)
		assert_int_equal(auth_login(dir, "alice@example.org", "guess", "smtp", "192.0.2.9",
		    NULL, 0), AUTH_FAILED);
	/* Refused, even with the right password, without a check. */
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.9", NULL, 0),
	    AUTH_THROTTLED);
	assert_int_equal(auth_login(dir, "nobody@example.org", PW, "imap", "192.0.2.9", NULL, 0),
	    AUTH_THROTTLED);
	/* Others are not. */
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.10", NULL, 0),
	    AUTH_OK);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "", NULL, 0), AUTH_OK);
	/* Every kind of refusal counts: unknown users, disabled accounts. */
	assert_int_equal(auth_login(dir, "x@example.org", "a", "smtp", "198.51.100.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(dir, "x@example.org", "a", "smtp", "198.51.100.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "198.51.100.1", NULL, 0),
	    AUTH_OK);
	assert_int_equal(auth_login(dir, "x@example.org", "a", "smtp", "198.51.100.1", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "198.51.100.1", NULL, 0),
	    AUTH_THROTTLED);

	/* IPv6: one /64 is one client. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(auth_login(dir, "alice@example.org", "guess", "smtp",
		    i == 1 ? "2001:db8:0:1::1" : "2001:db8:0:1:ffff::2", NULL, 0), AUTH_FAILED);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "2001:db8:0:1::77", NULL,
	    0), AUTH_THROTTLED);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "2001:db8:0:2::1", NULL, 0),
	    AUTH_OK);

	/* The window passes (1 s here): the address may try again. */
	var_auth_failure_window = 1;
	sleep(2);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.9", NULL, 0),
	    AUTH_OK);
	/* No limit: never throttled. */
	var_auth_failure_window = 600;
	var_auth_failure_limit = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(auth_login(dir, "alice@example.org", "guess", "smtp", "203.0.113.1",
		    NULL, 0), AUTH_FAILED);
	assert_int_equal(auth_login(dir, "alice@example.org", PW, "smtp", "203.0.113.1", NULL, 0),
	    AUTH_OK);
	directory_close(&dir);
}

static void *
verify_thread(void *arg)
{
	auth_login_verify(arg);
	return NULL;
}

static void
test_steps(void **state)
{
	char path[256], account[DIR_ADDR_SIZE], hash[AUTH_HASH_SIZE];
	struct directory *dir = fresh(path, sizeof(path));
	struct auth_request *req;
	const char *error = NULL;
	pthread_t t;

	account_with_password(dir, "alice@example.org");
	/* Begin here, verify in another thread, end here. */
	assert_int_equal(auth_login_begin(dir, "alice@example.org", PW, "smtp", "192.0.2.20", &req),
	    AUTH_OK);
	assert_non_null(req);
	assert_true(auth_request_is_account(req));
	assert_int_equal(pthread_create(&t, NULL, verify_thread, req), 0);
	pthread_join(t, NULL);
	assert_int_equal(auth_login_end(&req, account, sizeof(account)), AUTH_OK);
	assert_null(req);
	assert_string_equal(account, "alice@example.org");

	/* Another source's user (smtpd_auth_file). */
	ok(auth_hash_password("filepw", 0, hash, sizeof(hash), &error), "hash", error);
	assert_int_equal(auth_login_begin(dir, "legacy", "filepw", "smtp", "192.0.2.20", &req),
	    AUTH_OK);
	assert_false(auth_request_is_account(req));
	auth_request_set_hash(req, hash);
	auth_login_verify(req);
	assert_int_equal(auth_login_end(&req, account, sizeof(account)), AUTH_OK);
	assert_string_equal(account, "legacy");
	assert_int_equal(auth_login_begin(dir, "legacy", "other", "smtp", "192.0.2.20", &req),
	    AUTH_OK);
	auth_request_set_hash(req, hash);
	assert_int_equal(auth_login_end(&req, account, sizeof(account)), AUTH_FAILED);
	/* An account is the directory's alone: another hash is not looked at. */
	assert_int_equal(auth_login_begin(dir, "alice@example.org", "filepw", "smtp", "192.0.2.20",
	    &req), AUTH_OK);
	auth_request_set_hash(req, hash);
	assert_int_equal(auth_login_end(&req, NULL, 0), AUTH_FAILED);
	/* A request dropped. */
	assert_int_equal(auth_login_begin(dir, "alice@example.org", PW, "smtp", "192.0.2.20", &req),
	    AUTH_OK);
	auth_request_free(&req);
	assert_null(req);

	/* Throttled at the first step. */
	var_auth_failure_limit = 1;
	assert_int_equal(auth_login(dir, "alice@example.org", "x", "smtp", "192.0.2.21", NULL, 0),
	    AUTH_FAILED);
	assert_int_equal(auth_login_begin(dir, "alice@example.org", PW, "smtp", "192.0.2.21", &req),
	    AUTH_THROTTLED);
	assert_null(req);
	directory_close(&dir);
}

/* Run fn with stderr going to a file; what was written there. */
static char *
captured(void (*fn)(struct directory *), struct directory *dir)
{
	char path[300], *text;
	int fd, saved;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn(dir);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_non_null(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = xcalloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

static void
logins_to_log(struct directory *dir)
{
	auth_login(dir, "alice@example.org", "Wrong-Secret-1", "smtp", "192.0.2.30", NULL, 0);
	auth_login(dir, "ghost@example.org", "Wrong-Secret-2", "imap", "192.0.2.30", NULL, 0);
	auth_login(dir, "eve\r\nauth ok@example.org", "Wrong-Secret-3", "smtp", "192.0.2.30", NULL,
	    0);
	auth_login(dir, "alice@example.org", PW, "smtp", "192.0.2.30", NULL, 0);
	auth_login(dir, "disabled@example.org", PW, "smtp", "192.0.2.30", NULL, 0);
}

static void
test_log(void **state)
{
	char path[256];
	struct directory *dir = fresh(path, sizeof(path));
	const char *error = NULL;
	char *log;

	account_with_password(dir, "alice@example.org");
	account_with_password(dir, "disabled@example.org");
	ok(directory_account_set_enabled(dir, "disabled@example.org", 0, &error), "disable", error);
	log_init("test_auth_store", 1);
	log = captured(logins_to_log, dir);
	log_init("test_auth_store", 0);
	assert_non_null(strstr(log, "auth failed user=alice@example.org client=192.0.2.30 "
	    "service=smtp reason=bad-password\n"));
	assert_non_null(strstr(log, "auth failed user=ghost@example.org client=192.0.2.30 "
	    "service=imap reason=unknown-user\n"));
	assert_non_null(strstr(log, "auth failed user=eve??auth?ok@example.org client=192.0.2.30"));
	assert_non_null(strstr(log, "auth ok user=alice@example.org client=192.0.2.30 service=smtp\n"));
	assert_non_null(strstr(log, "auth failed user=disabled@example.org client=192.0.2.30 "
	    "service=smtp reason=disabled\n"));
	/* Never a password. */
	assert_null(strstr(log, "Wrong-Secret"));
	assert_null(strstr(log, PW));
	free(log);
	directory_close(&dir);
}

/* The schema of version 1, as facteur made it before accounts could log in. */
static const char schema_v1[] =
	"CREATE TABLE domains ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('local', 'relay', 'backup')),"
	" verify TEXT NOT NULL DEFAULT 'none' CHECK (verify IN ('none', 'list', 'probe')),"
	" nexthop TEXT NOT NULL DEFAULT '',"
	" catchall TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	"CREATE TABLE accounts ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" domain TEXT NOT NULL,"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" created INTEGER NOT NULL,"
	" password TEXT,"
	" profile TEXT,"
	" quota INTEGER);"
	"CREATE INDEX accounts_domain ON accounts (domain, address);"
	"CREATE TABLE aliases ("
	" address TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" PRIMARY KEY (address, target)) WITHOUT ROWID;"
	"CREATE INDEX aliases_domain ON aliases (domain, address);"
	"CREATE TABLE relay_recipients ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" domain TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX relay_recipients_domain ON relay_recipients (domain, address);"
	"CREATE TABLE access ("
	" scope TEXT NOT NULL,"
	" pattern TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),"
	" PRIMARY KEY (scope, pattern)) WITHOUT ROWID;"
	"CREATE INDEX access_type ON access (scope, type);"
	"PRAGMA user_version = 1;";

static int
sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
test_migration(void **state)
{
	char path[256], sql[1024], hash[AUTH_HASH_SIZE], account[DIR_ADDR_SIZE];
	struct directory *dir, *reader;
	struct dir_account acc;
	struct dir_profile p;
	struct app_seen seen;
	const char *error = NULL;
	enum dir_rcpt r;
	sqlite3 *db;
	char *msg = NULL;
	int one = 1;

	/* A version 1 file, made by hand, with an account whose password was set by hand. */
	snprintf(path, sizeof(path), "%s/v1.db", tmpdir);
	ok(auth_hash_password(PW, 0, hash, sizeof(hash), &error), "hash", error);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode = WAL;"
	    "INSERT INTO domains (name, kind) VALUES ('example.org', 'local');"
	    "INSERT INTO accounts (address, domain, enabled, created, password) VALUES "
	    "('alice@example.org', 'example.org', 1, 1700000000, '%s');"
	    "INSERT INTO accounts (address, domain, enabled, created) VALUES "
	    "('bob@example.org', 'example.org', 0, 1700000001);"
	    "INSERT INTO aliases (address, target, domain) VALUES "
	    "('team@example.org', 'alice@example.org', 'example.org');", hash);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, schema_v1, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("v1: %s", msg);
	/* Kept in WAL mode with its -wal and -shm, as facteurctl left it. */
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	sqlite3_close(db);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 1);

	/* A daemon reads it as it is: the new tables are empty, logins work. */
	assert_non_null(reader = directory_open(path, DIRECTORY_READONLY, &error));
	assert_int_equal(directory_account_get(reader, "alice@example.org", &acc), 1);
	assert_int_equal(acc.created, 1700000000);
	assert_string_equal(acc.profile, "");
	assert_int_equal(directory_has_accounts(reader), 1);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(directory_app_password_foreach(reader, "alice@example.org", app_seen,
	    &seen), 0);
	assert_int_equal(seen.n, 0);
	assert_int_equal(directory_profile_get(reader, "default", &p), 0);
	assert_int_equal(auth_login(reader, "alice@example.org", PW, "smtp", "192.0.2.40", account,
	    sizeof(account)), AUTH_OK);
	assert_int_equal(auth_login(reader, "bob@example.org", PW, "smtp", "192.0.2.40", NULL, 0),
	    AUTH_FAILED);
	/* It does not make small writes to an old file. */
	assert_null(directory_open(path, DIRECTORY_UPDATE, &error));
	assert_true(strstr(error, "directory database of version 1") != NULL);

	/* A writer upgrades it, keeping every entry. */
	assert_non_null(dir = directory_open(path, DIRECTORY_READWRITE, &error));
	/* To the current version (2 brought these tables; later ones add their own). */
	assert_true(sql_int(path, "PRAGMA user_version") >= 2);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	    "('app_passwords', 'profiles', 'accounts_profile')"), 3);
	assert_int_equal(directory_recipient(dir, "team@example.org", &r, NULL, 0), 0);
	assert_int_equal(r, DIR_RCPT_ALIAS);
	assert_int_equal(directory_recipient(dir, "bob@example.org", &r, NULL, 0), 0);
	assert_int_equal(r, DIR_RCPT_DISABLED);
	memset(&p, 0, sizeof(p));
	str_copy(p.name, "default", sizeof(p.name));
	str_copy(p.services, "smtp", sizeof(p.services));
	ok(directory_profile_add(dir, &p, &error), "profile", error);
	ok(directory_account_set_profile(dir, "alice@example.org", "default", &error), "set", error);
	ok(auth_hash_password("apppw", 1, hash, sizeof(hash), &error), "hash", error);
	ok(directory_app_password_add(dir, "alice@example.org", "phone", hash, &error), "app", error);
	/* The reader opened on version 1 sees the new tables without reopening. */
	assert_int_equal(auth_login(reader, "alice@example.org", "apppw", "smtp", "192.0.2.40", NULL,
	    0), AUTH_OK);
	assert_int_equal(auth_login(reader, "alice@example.org", PW, "imap", "192.0.2.40", NULL, 0),
	    AUTH_NO_SERVICE);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM app_passwords WHERE last_used > 0"), 1);
	directory_close(&reader);
	directory_close(&dir);
	/* Opening again changes nothing; an update handle is accepted now. */
	assert_non_null(dir = directory_open(path, DIRECTORY_READWRITE, &error));
	directory_close(&dir);
	assert_non_null(dir = directory_open(path, DIRECTORY_UPDATE, &error));
	assert_int_equal(directory_app_password_used(dir, "alice@example.org", "phone", 42, &error),
	    0);
	assert_int_equal(directory_account_add(dir, "carol@example.org", &error), -1);
	assert_string_equal(error, "the directory is open for a daemon's updates only");
	directory_close(&dir);
	assert_int_equal(sql_int(path, "SELECT last_used FROM app_passwords"), 42);

	/* A new file is made at version 2 directly, by the same migrations. */
	snprintf(path, sizeof(path), "%s/new.db", tmpdir);
	assert_non_null(dir = directory_open(path, DIRECTORY_READWRITE, &error));
	directory_close(&dir);
	/* To the current version (2 brought these tables; later ones add their own). */
	assert_true(sql_int(path, "PRAGMA user_version") >= 2);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name IN "
	    "('app_passwords', 'profiles')"), 2);
	/* An unknown mode is refused; so is a file of a newer facteur. */
	assert_null(directory_open(path, 7, &error));
	assert_true(strstr(error, "bad directory open mode 7") != NULL);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(directory_open(path, DIRECTORY_READONLY, &error));
	assert_true(strstr(error, "directory database of a newer facteur (version 99") != NULL);
	assert_null(directory_open(path, DIRECTORY_READWRITE, &error));
	assert_true(strstr(error, "directory database of a newer facteur (version 99") != NULL);
}

static int
remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_hashes, setup),
		cmocka_unit_test_setup(test_crypt_hashes, setup),
		cmocka_unit_test_setup(test_app_password_new, setup),
		cmocka_unit_test_setup(test_login, setup),
		cmocka_unit_test_setup(test_app_passwords, setup),
		cmocka_unit_test_setup(test_services, setup),
		cmocka_unit_test_setup(test_throttling, setup),
		cmocka_unit_test_setup(test_steps, setup),
		cmocka_unit_test_setup(test_log, setup),
		cmocka_unit_test_setup(test_migration, setup),
	};
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (remove_tmpdir() != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
