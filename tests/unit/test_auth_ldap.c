/* SPDX-License-Identifier: MIT */
/*
 * test_auth_ldap - what of LDAP authentication runs without a server:
 * the RFC 4515 escaping of logins into ldap_user_filter (table-driven,
 * injections included, and every byte value round-tripping), the checks of the ldap_* parameters, an empty
 * password refused before any connection, and logins of an account whose
 * password source is LDAP while the server cannot be reached: a temporary
 * failure, logged, not counted against the client, and an app password
 * of the account still accepted.  The conversations with a real slapd
 * are in tests/integration/test_ldap.py.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "store/auth.h"
#include "store/auth_ldap.h"
#include "store/directory.h"

static char tmpdir[] = "/tmp/test_auth_ldap.XXXXXX";

static void
set(char **var, const char *value)
{
	free(*var);
	*var = xstrdup(value);
}

static int
setup(void **state)
{
	const char *error;

	if (config_load(NULL, &error) < 0)
		fail_msg("config_load: %s", error);
	var_auth_failure_limit = 0;
	var_auth_failure_window = 600;
	auth_failures_reset();
	return 0;
}

/* ---- escaping ---- */

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Every byte string escapes into printable text without a bare '*', '('
 * or ')', whose every '\' starts two hex digits, and that decodes back
 * into the bytes: random strings over all 256 byte values, then every
 * byte alone.
 */
static void
check_escape_roundtrip(const unsigned char *in, size_t len)
{
	char out[3 * 64 + 1];
	unsigned char back[64];
	size_t n = auth_ldap_escape((const char *)in, len, out, sizeof(out)), m = 0;

	assert_int_equal(n, strlen(out));
	for (size_t i = 0; i < n; i++) {
		assert_true(out[i] >= 0x20 && out[i] < 0x7f);
		assert_true(out[i] != '*' && out[i] != '(' && out[i] != ')');
		if (out[i] == '\\') {
			assert_true(i + 2 < n && hexval(out[i + 1]) >= 0 && hexval(out[i + 2]) >= 0);
			back[m++] = (unsigned char)(hexval(out[i + 1]) * 16 + hexval(out[i + 2]));
			i += 2;
		} else {
			back[m++] = (unsigned char)out[i];
		}
	}
	assert_int_equal(m, len);
	assert_memory_equal(back, in, len);
}

static void
test_escape_all_bytes(void **state)
{
	unsigned char in[64];
	unsigned int seed = 4711;

	for (int c = 0; c < 256; c++) {
		in[0] = (unsigned char)c;
		check_escape_roundtrip(in, 1);
	}
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand_r(&seed) % 64);
		for (size_t i = 0; i < len; i++)
			in[i] = (unsigned char)rand_r(&seed);
		check_escape_roundtrip(in, len);
	}
}

static void
test_escape(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "alice@example.org", "alice@example.org" },
		{ "", "" },
		{ "*", "\\2a" },
		{ "*)(mail=*", "\\2a\\29\\28mail=\\2a" },
		{ "a)(|(uid=*))", "a\\29\\28|\\28uid=\\2a\\29\\29" },
		{ "back\\slash", "back\\5cslash" },
		{ "tab\there\r\n", "tab\\09here\\0d\\0a" },
		{ "caf\xc3\xa9", "caf\\c3\\a9" },
		{ "\x7f\xff", "\\7f\\ff" },
		{ "=~<>&|!:", "=~<>&|!:" },
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = auth_ldap_escape(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		assert_string_equal(out, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* Too small: truncated between escapes, NUL-terminated, the whole length said. */
	memset(out, 'x', sizeof(out));
	assert_int_equal(auth_ldap_escape("ab*cd", 5, out, 4), 7);
	assert_string_equal(out, "ab");
	assert_int_equal(auth_ldap_escape("ab*cd", 5, out, 6), 7);
	assert_string_equal(out, "ab\\2a");
	/* A NUL in the middle of a counted value is escaped too. */
	assert_int_equal(auth_ldap_escape("a\0b", 3, out, sizeof(out)), 5);
	assert_string_equal(out, "a\\00b");
}

static void
test_filter(void **state)
{
	static const struct {
		const char *template;
		const char *address;
		const char *out;
	} cases[] = {
		{ "(&(objectClass=inetOrgPerson)(mail=%s))", "alice@example.org",
		  "(&(objectClass=inetOrgPerson)(mail=alice@example.org))" },
		{ "(&(uid=%u)(o=%d))", "alice@example.org", "(&(uid=alice)(o=example.org))" },
		{ "(mail=%s)", "*)(mail=*", "(mail=\\2a\\29\\28mail=\\2a)" },
		{ "(uid=%u)", "a*b@x(y)", "(uid=a\\2ab)" },
		{ "(uid=%u)", "no-at", "(uid=no-at)" },
		{ "(&(uid=%u)(dc=%d))", "a@b@c", "(&(uid=a@b)(dc=c))" },
		{ "(cn=100%%)", "x@y", "(cn=100%)" },
	};
	const char *error;
	char *f, *longaddr;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		error = NULL;
		f = auth_ldap_filter(cases[i].template, cases[i].address, &error);
		if (f == NULL)
			fail_msg("%s: %s", cases[i].template, error);
		assert_string_equal(f, cases[i].out);
		free(f);
	}
	assert_null(auth_ldap_filter("(mail=%x)", "a@b", &error));
	assert_non_null(strstr(error, "unknown"));
	assert_null(auth_ldap_filter("(mail=%", "a@b", &error));
	/* Every byte escaped three times over does not fit: refused, not truncated. */
	longaddr = xmalloc(2001);
	memset(longaddr, '*', 2000);
	longaddr[2000] = '\0';
	assert_null(auth_ldap_filter("(mail=%s)", longaddr, &error));
	free(longaddr);
}

/* ---- the parameters ---- */

static void
test_config_check(void **state)
{
	static const struct {
		const char *param;
		const char *value;
		const char *error;	/* NULL: accepted */
	} cases[] = {
		{ "ldap_uri", "ldap://127.0.0.1:389", NULL },
		{ "ldap_uri", "ldap://a.example ldaps://b.example:636", NULL },
		{ "ldap_uri", "http://example.org", "ldap_uri" },
		{ "ldap_uri", "not a uri", "ldap_uri" },
		{ "ldap_scope", "one", NULL },
		{ "ldap_scope", "children", "ldap_scope" },
		{ "ldap_accounts", "any-local-domain", NULL },
		{ "ldap_accounts", "everyone", "ldap_accounts" },
		{ "ldap_user_filter", "(uid=%u)", NULL },
		{ "ldap_user_filter", "mail=%s", "parentheses" },
		{ "ldap_user_filter", "(objectClass=*)", "names no user" },
		{ "ldap_user_filter", "(cn=%%s)", "names no user" },
		{ "ldap_user_filter", "(&(mail=%s)", "unbalanced" },
		{ "ldap_user_filter", "(&(mail=%s)(cn=%q))", "unknown" },
		{ "ldap_base", "", "ldap_base" },
		{ "ldap_tls_ca_file", "/nonexistent/ca.pem", "ldap_tls_ca_file" },
	};
	static const struct {
		const char *name;
		char **var;
	} vars[] = {
		{ "ldap_uri", &var_ldap_uri },
		{ "ldap_scope", &var_ldap_scope },
		{ "ldap_accounts", &var_ldap_accounts },
		{ "ldap_user_filter", &var_ldap_user_filter },
		{ "ldap_base", &var_ldap_base },
		{ "ldap_tls_ca_file", &var_ldap_tls_ca_file },
	};
	const char *error = NULL;

	/* Off: nothing to check but the enumerations. */
	assert_int_equal(auth_ldap_config_check(&error), 0);
	assert_null(auth_ldap_config_get());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *error2 = NULL;
		setup(NULL);
		set(&var_ldap_uri, "ldap://127.0.0.1:389");
		set(&var_ldap_base, "dc=example,dc=org");
		for (size_t k = 0; k < sizeof(vars) / sizeof(vars[0]); k++)
			if (strcmp(vars[k].name, cases[i].param) == 0)
				set(vars[k].var, cases[i].value);
		if (cases[i].error == NULL) {
			if (auth_ldap_config_check(&error2) != 0)
				fail_msg("%s = %s: %s", cases[i].param, cases[i].value, error2);
		} else {
			assert_int_equal(auth_ldap_config_check(&error2), -1);
			if (strstr(error2, cases[i].error) == NULL)
				fail_msg("%s = %s: \"%s\" lacks \"%s\"", cases[i].param, cases[i].value,
				    error2, cases[i].error);
		}
	}
	setup(NULL);
	set(&var_ldap_uri, "ldaps://127.0.0.1");
	set(&var_ldap_base, "dc=example,dc=org");
	var_ldap_starttls = 1;
	assert_int_equal(auth_ldap_config_check(&error), -1);
	assert_non_null(strstr(error, "ldap_starttls"));
	setup(NULL);
}

/* ---- logins while the server cannot be reached ---- */

/* A loopback port nothing listens on (bound, then closed). */
static int
closed_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static struct directory *
directory_with_ldap_account(void)
{
	char path[300], hash[AUTH_HASH_SIZE];
	const char *error = NULL;
	struct directory *dir;
	struct dir_domain d;

	snprintf(path, sizeof(path), "%s/dir.db", tmpdir);
	unlink(path);
	if ((dir = directory_open(path, DIRECTORY_READWRITE, &error)) == NULL)
		fail_msg("open %s: %s", path, error);
	memset(&d, 0, sizeof(d));
	str_copy(d.name, "example.org", sizeof(d.name));
	d.kind = DIR_DOMAIN_LOCAL;
	assert_int_equal(directory_domain_add(dir, &d, &error), 0);
	assert_int_equal(directory_account_add(dir, "lena@example.org", &error), 0);
	assert_int_equal(directory_account_set_password(dir, "lena@example.org", AUTH_LDAP_MARK,
	    &error), 0);
	assert_int_equal(auth_hash_password("App-Password-Lena-1", 1, hash, sizeof(hash), &error),
	    0);
	assert_int_equal(directory_app_password_add(dir, "lena@example.org", "phone", hash, &error),
	    0);
	return dir;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = xcalloc(1, (size_t)n + 1);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

static void
test_server_unreachable(void **state)
{
	struct directory *dir = directory_with_ldap_account();
	struct auth_ldap_config *cfg;
	char uri[64], account[DIR_ADDR_SIZE], path[300], *log;
	const char *reason;
	int saved, fd;

	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d", closed_port());
	set(&var_ldap_uri, uri);
	set(&var_ldap_base, "dc=example,dc=org");
	var_ldap_timeout = 5;
	var_auth_failure_limit = 2;

	/* An empty password: refused before any connection (the server is down: it would say so). */
	assert_non_null(cfg = auth_ldap_config_get());
	assert_int_equal(auth_ldap_verify(cfg, "lena@example.org", "", &reason), AUTH_LDAP_FAILED);
	assert_string_equal(reason, "empty-password");
	assert_int_equal(auth_ldap_verify(cfg, "lena@example.org", "Secret-Lena-9", &reason),
	    AUTH_LDAP_TEMPFAIL);
	assert_string_equal(reason, "ldap-unavailable");
	auth_ldap_config_unref(&cfg);
	assert_null(cfg);

	snprintf(path, sizeof(path), "%s/stderr.txt", tmpdir);
	log_init("test_auth_ldap", 1);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	/* Down: a temporary failure, as many times as asked (not the client's failures). */
	for (int i = 0; i < 4; i++)
		assert_int_equal(auth_login(dir, "Lena@Example.org", "Secret-Lena-9", "imap",
		    "192.0.2.7", account, sizeof(account)), AUTH_TEMPFAIL);
	/* Empty: refused (and counted), no server asked. */
	assert_int_equal(auth_login(dir, "lena@example.org", "", "imap", "192.0.2.8", NULL, 0),
	    AUTH_FAILED);
	/* An app password is checked here: it works while the server is down. */
	assert_int_equal(auth_login(dir, "lena@example.org", "App-Password-Lena-1", "smtp",
	    "192.0.2.7", account, sizeof(account)), AUTH_OK);
	assert_string_equal(account, "lena@example.org");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_init("test_auth_ldap", 0);
	log = read_file(path);
	assert_non_null(strstr(log, "auth failed user=Lena@Example.org client=192.0.2.7 "
	    "service=imap reason=ldap-unavailable\n"));
	assert_non_null(strstr(log, "auth: LDAP ldap://127.0.0.1:"));
	assert_non_null(strstr(log, "Can't contact LDAP server"));
	assert_non_null(strstr(log, "reason=empty-password"));
	assert_non_null(strstr(log, "auth ok user=lena@example.org client=192.0.2.7 service=smtp "
	    "app_password=phone"));
	assert_null(strstr(log, "Secret-Lena"));
	assert_null(strstr(log, "App-Password-Lena"));
	free(log);

	/* No LDAP configured at all: still temporary, the account's password is elsewhere. */
	set(&var_ldap_uri, "");
	assert_int_equal(auth_login(dir, "lena@example.org", "Secret-Lena-9", "imap", "192.0.2.9",
	    NULL, 0), AUTH_TEMPFAIL);
	/* A bad configuration: temporary too, never a check. */
	set(&var_ldap_uri, uri);
	set(&var_ldap_user_filter, "(objectClass=*)");
	assert_int_equal(auth_login(dir, "lena@example.org", "Secret-Lena-9", "imap", "192.0.2.9",
	    NULL, 0), AUTH_TEMPFAIL);
	directory_close(&dir);
}

/* any-local-domain: a stranger of a local domain goes to the server; one of elsewhere does not. */
static void
test_any_local_domain(void **state)
{
	struct directory *dir = directory_with_ldap_account();
	char uri[64];

	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d", closed_port());
	set(&var_ldap_uri, uri);
	set(&var_ldap_base, "dc=example,dc=org");
	var_ldap_timeout = 5;
	/* directory-only: an unknown user is unknown, the server is not asked. */
	assert_int_equal(auth_login(dir, "newcomer@example.org", "Secret-N-1", "imap", "192.0.2.10",
	    NULL, 0), AUTH_FAILED);
	set(&var_ldap_accounts, "any-local-domain");
	assert_int_equal(auth_login(dir, "newcomer@example.org", "Secret-N-1", "imap", "192.0.2.10",
	    NULL, 0), AUTH_TEMPFAIL);
	assert_int_equal(auth_login(dir, "newcomer@elsewhere.example", "Secret-N-1", "imap",
	    "192.0.2.10", NULL, 0), AUTH_FAILED);
	assert_int_equal(auth_login(dir, "no-domain", "Secret-N-1", "imap", "192.0.2.10", NULL, 0),
	    AUTH_FAILED);
	directory_close(&dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_escape, setup),
		cmocka_unit_test_setup(test_escape_all_bytes, setup),
		cmocka_unit_test_setup(test_filter, setup),
		cmocka_unit_test_setup(test_config_check, setup),
		cmocka_unit_test_setup(test_server_unreachable, setup),
		cmocka_unit_test_setup(test_any_local_domain, setup),
	};
	char cmd[300];
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
