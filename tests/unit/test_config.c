/* SPDX-License-Identifier: MIT */
/*
 * test_config - facteur.conf (lib/config.h): defaults, every value type,
 * the errors a bad file gives (file, line and key named), the [transport]
 * and [tls_policy] maps, and that a failed load changes nothing.
 */
#include "facteur-config.h"

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/mem.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char dir[] = "/tmp/facteur-test-config.XXXXXX";

static int
dir_setup(void **state)
{
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
dir_teardown(void **state)
{
	const char *error;

	config_load(NULL, &error);
	/* A failed test leaves its file behind. */
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write text to dir/name; returns the malloc'd path.  Remove with unlink. */
static char *
write_conf(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static void
load_ok(const char *path)
{
	const char *error = NULL;

	if (config_load(path, &error) < 0)
		fail_msg("config_load(%s): %s", path != NULL ? path : "NULL", error);
}

static void
test_defaults(void **state)
{
	load_ok(NULL);
	assert_null(config_path());
	assert_int_equal(var_message_size_limit, 26214400);
	assert_int_equal(var_smtpd_recipient_limit, 1000);
	assert_int_equal(var_smtpd_timeout, 300);
	assert_int_equal(var_maximal_queue_lifetime, 5 * 86400);
	assert_int_equal(var_delay_warning_time, 4 * 3600);
	assert_int_equal(var_smtpd_line_length_limit, 2048);
	assert_string_equal(var_mynetworks, "127.0.0.0/8, ::1/128");
	assert_string_equal(var_smtpd_bare_newline, "reject");
	assert_string_equal(var_smtp_tls_policy, "may");
	assert_string_equal(var_relay_domains, "");
	assert_null(config_map_lookup("transport", "example.org"));
}

static const char good_conf[] =
	"; a comment\n"
	"# another\n"
	"myhostname = mx.example.org\n"
	"smtpd_recipient_limit = 500\n"
	"smtpd_timeout = 10m\n"
	"maximal_queue_lifetime = 5d\n"
	"delay_warning_time = 4h\n"
	"smtp_connect_timeout = 45\n"
	"message_size_limit = 10m\n"
	"queue_minfree = 512k\n"
	"relay_domains = a.example, .b.example\n"
	"mynetworks = 192.0.2.0/24 2001:db8::/32\n"
	"smtpd_bare_newline = normalize\n"
	"queue_sync = fsync\n"
	"\n"
	"[transport]\n"
	"example.org = smtp:[relay.example.org]:2525\n"
	".example.org = smtp:[sub-relay.example.org]\n"
	".deep.example.org = smtp:[deep-relay.example.org]\n"
	"\n"
	"[tls_policy]\n"
	"Example.NET = verify\n"
	".example.net = encrypt\n"
	"legacy.example.com = none\n"
	"other.example.com = may\n";

static void
check_good_values(void)
{
	assert_string_equal(var_myhostname, "mx.example.org");
	assert_int_equal(var_smtpd_recipient_limit, 500);
	assert_int_equal(var_smtpd_timeout, 600);
	assert_int_equal(var_maximal_queue_lifetime, 432000);
	assert_int_equal(var_delay_warning_time, 14400);
	assert_int_equal(var_smtp_connect_timeout, 45);
	assert_int_equal(var_message_size_limit, 10 * 1024 * 1024);
	assert_int_equal(var_queue_minfree, 512 * 1024);
	assert_string_equal(var_relay_domains, "a.example, .b.example");
	assert_string_equal(var_mynetworks, "192.0.2.0/24 2001:db8::/32");
	assert_string_equal(var_smtpd_bare_newline, "normalize");
	assert_string_equal(var_queue_sync, "fsync");
	/* Untouched parameters keep their defaults. */
	assert_int_equal(var_smtpd_data_timeout, 600);
	assert_int_equal(var_smtpd_error_limit, 10);
}

static void
test_good_file(void **state)
{
	char *path = write_conf("good.conf", good_conf);

	load_ok(path);
	assert_non_null(config_path());
	assert_string_equal(config_path(), path);
	check_good_values();
	/* Loading config_path() itself (SIGHUP) must work. */
	load_ok(config_path());
	check_good_values();
	/* And defaults again: the file's values and maps are gone. */
	load_ok(NULL);
	assert_int_equal(var_message_size_limit, 26214400);
	assert_string_equal(var_myhostname, "");
	assert_null(config_map_lookup("transport", "example.org"));
	unlink(path);
	free(path);
}

static void
test_maps(void **state)
{
	static const struct {
		const char *section, *domain, *value;
	} rows[] = {
		{ "transport", "example.org", "smtp:[relay.example.org]:2525" },
		{ "transport", "EXAMPLE.org", "smtp:[relay.example.org]:2525" },
		{ "transport", "a.example.org", "smtp:[sub-relay.example.org]" },
		{ "transport", "deep.example.org", "smtp:[sub-relay.example.org]" },
		/* The longest ".parent" wins. */
		{ "transport", "x.deep.example.org", "smtp:[deep-relay.example.org]" },
		{ "transport", "y.x.deep.example.org", "smtp:[deep-relay.example.org]" },
		{ "transport", "xexample.org", NULL },
		{ "transport", "example.org.evil", NULL },
		{ "transport", "example.net", NULL },
		{ "transport", "", NULL },
		{ "tls_policy", "example.net", "verify" },
		{ "tls_policy", "mx.example.net", "encrypt" },
		{ "tls_policy", "legacy.example.com", "none" },
		{ "tls_policy", "other.example.com", "may" },
		{ "tls_policy", "x.legacy.example.com", NULL },
		{ "tls_policy", "example.org", NULL },
		{ "nosuchmap", "example.org", NULL },
	};
	char *path = write_conf("maps.conf", good_conf);

	load_ok(path);
	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		const char *v = config_map_lookup(rows[i].section, rows[i].domain);
		if (rows[i].value == NULL ? v != NULL : v == NULL || strcmp(v, rows[i].value) != 0)
			fail_msg("[%s] %s: \"%s\", want \"%s\"", rows[i].section, rows[i].domain,
			    v != NULL ? v : "(null)", rows[i].value != NULL ? rows[i].value : "(null)");
	}
	unlink(path);
	free(path);
}

static void
test_bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *want[3];	/* substrings of the error, after the file name */
	} rows[] = {
		{ "myhostname = a\nsmtpd_timeout = 10\nno_such_key = 1\n",
		    { ":3:", "no_such_key" } },
		{ "no_such_key = 1\n", { ":1:", "unknown parameter", "no_such_key" } },
		{ "\n\nsmtpd_recipient_limit = lots\n", { ":3:", "smtpd_recipient_limit", "lots" } },
		{ "smtpd_recipient_limit = -1\n", { ":1:", "smtpd_recipient_limit" } },
		{ "smtpd_recipient_limit = 10x\n", { ":1:", "smtpd_recipient_limit" } },
		{ "smtpd_recipient_limit = 99999999999999999999999\n",
		    { ":1:", "smtpd_recipient_limit" } },
		{ "# c\nsmtpd_timeout = 10y\n", { ":2:", "smtpd_timeout", "10y" } },
		{ "smtpd_timeout = 4hours\n", { ":1:", "smtpd_timeout" } },
		{ "smtpd_timeout = \n", { ":1:", "smtpd_timeout" } },
		{ "message_size_limit = 10mb\n", { ":1:", "message_size_limit", "10mb" } },
		{ "a = 1\n", { ":1:", "\"a\"" } },
		{ "myhostname = a\n[smtpd]\nx = 1\n", { ":3:", "unknown section", "smtpd" } },
		{ "smtpd_bare_newline = maybe\n", { "smtpd_bare_newline", "maybe" } },
		{ "queue_sync = sometimes\n", { "queue_sync", "sometimes" } },
		{ "smtp_tls_policy = always\n", { "smtp_tls_policy", "always" } },
		{ "[tls_policy]\nexample.org = verify\nexample.net = mandatory\n",
		    { ":3:", "mandatory", "example.net" } },
		{ "[tls_policy]\nexample.org = VERIFY\n", { ":2:", "VERIFY" } },
		{ "av_not_ready_action = reject\n", { "av_not_ready_action", "reject" } },
		{ "filter_failure_action = drop\n", { "filter_failure_action", "drop" } },
		{ "spam_reject_score = lots\n", { ":1:", "spam_reject_score", "lots" } },
		{ "[spam_policy]\nexample.org = tag=4 reject=9\nexample.net = reject=x\n",
		    { ":3:", "bad spam policy", "example.net" } },
		{ "[spam_policy]\nexample.net = deny=9\n", { ":2:", "deny=9" } },
		{ "[spam_policy]\nexample.net = tag=1 tag=2\n", { ":2:", "tag=1 tag=2" } },
		{ "[spam_policy]\nexample.net =\n", { ":2:", "spam policy" } },
		{ "myhostname = a\nthis line has no equals sign\n", { ":2:", "syntax error" } },
		{ "[transport\n", { ":1:" } },
		/* A syntax error before a bad key is the one reported. */
		{ "myhostname = a\nthis line has no equals sign\nno_such_key = 1\n",
		    { ":2:", "syntax error" } },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		char *path = write_conf("f.conf", rows[i].text);
		const char *error = NULL;

		if (config_load(path, &error) != -1)
			fail_msg("row %zu accepted:\n%s", i, rows[i].text);
		assert_non_null(error);
		/* The error starts with the file's name. */
		if (strncmp(error, path, strlen(path)) != 0)
			fail_msg("row %zu: \"%s\" does not start with %s", i, error, path);
		for (size_t w = 0; w < N_ELEMENTS(rows[i].want) && rows[i].want[w] != NULL; w++)
			if (strstr(error + strlen(path), rows[i].want[w]) == NULL)
				fail_msg("row %zu: \"%s\" lacks \"%s\"", i, error, rows[i].want[w]);
		unlink(path);
		free(path);
	}
}

static void
test_first_error_reported(void **state)
{
	/* Two mistakes: the message names the first one a reader meets. */
	char *path = write_conf("two.conf", "no_such_key = 1\nsmtpd_timeout = x\n");
	const char *error = NULL;

	assert_int_equal(config_load(path, &error), -1);
	if (strstr(error, "two.conf:1:") == NULL || strstr(error, "no_such_key") == NULL)
		fail_msg("error \"%s\" is not about line 1", error);
	unlink(path);
	free(path);
}

static void
test_long_lines(void **state)
{
	/* A comment longer than inih's line buffer is a comment; a setting is an error on its line. */
	char *text = xasprintf("# %0300d\nsmtpd_timeout = 10\n\n# x\nmyhostname = %0300d\n", 0, 0);
	char *cut, *path = write_conf("long.conf", text);
	const char *error = NULL;

	assert_int_equal(config_load(path, &error), -1);
	if (strstr(error, "long.conf:5: line longer than") == NULL)
		fail_msg("error \"%s\" is not about line 5", error);
	unlink(path);
	free(path);
	cut = strstr(text, "myhostname");
	*cut = '\0';
	path = write_conf("long.conf", text);
	if (config_load(path, &error) != 0)
		fail_msg("a long comment refused: %s", error);
	assert_int_equal(var_smtpd_timeout, 10);
	unlink(path);
	free(path);
	free(text);
}

static void
test_missing_file(void **state)
{
	const char *error = NULL;
	char *path = xasprintf("%s/does-not-exist.conf", dir);

	assert_int_equal(config_load(path, &error), -1);
	assert_non_null(strstr(error, "does-not-exist.conf"));
	assert_non_null(strstr(error, "No such file"));
	free(path);
}

static void
test_failed_load_changes_nothing(void **state)
{
	char *good = write_conf("good.conf", good_conf);
	/* Every line but the last is valid and differs from good.conf. */
	char *bad = write_conf("bad.conf",
	    "myhostname = other.example\n"
	    "message_size_limit = 1k\n"
	    "relay_domains = c.example\n"
	    "[transport]\n"
	    "example.org = smtp:[elsewhere]\n"
	    "[tls_policy]\n"
	    "example.net = bogus\n");
	char *bad_enum = write_conf("bad-enum.conf",
	    "smtpd_timeout = 1\nsmtpd_bare_newline = maybe\n");
	const char *error;

	load_ok(good);
	assert_int_equal(config_load(bad, &error), -1);
	check_good_values();
	assert_string_equal(config_map_lookup("transport", "example.org"),
	    "smtp:[relay.example.org]:2525");
	assert_string_equal(config_map_lookup("tls_policy", "example.net"), "verify");
	assert_string_equal(config_path(), good);
	/* The enum check runs after the whole file parsed: still nothing applied. */
	assert_int_equal(config_load(bad_enum, &error), -1);
	check_good_values();
	unlink(good);
	unlink(bad);
	unlink(bad_enum);
	free(good);
	free(bad);
	free(bad_enum);
}

static void
test_parse_time(void **state)
{
	static const struct {
		const char *in;
		int rc;
		long value;
	} rows[] = {
		{ "0", 0, 0 }, { "300", 0, 300 }, { "300s", 0, 300 }, { "10m", 0, 600 },
		{ "4h", 0, 14400 }, { "5d", 0, 432000 }, { "2w", 0, 1209600 },
		{ "", -1, 0 }, { "m", -1, 0 }, { "10x", -1, 0 }, { "10mm", -1, 0 },
		{ "10 m", -1, 0 }, { "-1", -1, 0 }, { "1.5h", -1, 0 }, { "10M", -1, 0 },
		{ "99999999999999999999", -1, 0 }, { "9223372036854775807d", -1, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		long v = -42;
		int rc = config_parse_time(rows[i].in, &v);
		if (rc != rows[i].rc || (rc == 0 && v != rows[i].value))
			fail_msg("\"%s\": rc %d value %ld, want %d %ld", rows[i].in, rc, v, rows[i].rc,
			    rows[i].value);
		if (rc < 0 && v != -42)
			fail_msg("\"%s\": value written on error", rows[i].in);
	}
}

static void
test_parse_size(void **state)
{
	static const struct {
		const char *in;
		int rc;
		long value;
	} rows[] = {
		{ "0", 0, 0 }, { "10240000", 0, 10240000 }, { "512k", 0, 524288 },
		{ "512K", 0, 524288 }, { "25m", 0, 26214400 }, { "25M", 0, 26214400 },
		{ "1g", 0, 1073741824L }, { "2G", 0, 2147483648L },
		{ "", -1, 0 }, { "k", -1, 0 }, { "1t", -1, 0 }, { "1kb", -1, 0 },
		{ "-1", -1, 0 }, { "1.5m", -1, 0 }, { "10 k", -1, 0 },
		{ "99999999999999999999", -1, 0 }, { "9223372036854775807k", -1, 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		long v = -42;
		int rc = config_parse_size(rows[i].in, &v);
		if (rc != rows[i].rc || (rc == 0 && v != rows[i].value))
			fail_msg("\"%s\": rc %d value %ld, want %d %ld", rows[i].in, rc, v, rows[i].rc,
			    rows[i].value);
	}
}

static void
test_list_has_domain(void **state)
{
	static const char list[] = "a.example, .b.example c.example\t.D.example,,";
	static const struct {
		const char *domain;
		int in;
	} rows[] = {
		{ "a.example", 1 }, { "A.EXAMPLE", 1 }, { "c.example", 1 },
		{ "x.b.example", 1 }, { "y.x.b.example", 1 }, { "x.d.example", 1 },
		{ "b.example", 0 }, { "xb.example", 0 }, { "x.a.example", 0 },
		{ "a.example.org", 0 }, { "e.example", 0 }, { "", 0 },
		/* One trailing dot (an absolute name) is the same domain. */
		{ "a.example.", 1 }, { "x.b.example.", 1 }, { "a.example..", 0 }, { ".", 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++)
		if (config_list_has_domain(list, rows[i].domain) != rows[i].in)
			fail_msg("\"%s\": has_domain %d", rows[i].domain, !rows[i].in);
	assert_int_equal(config_list_has_domain("", "a.example"), 0);
	assert_int_equal(config_list_has_domain(" , ", "a.example"), 0);
}

struct collect {
	char items[8][32];
	int n, stop_at;
};

static int
collect_item(const char *item, void *ctx)
{
	struct collect *c = ctx;

	if (c->n < 8)
		snprintf(c->items[c->n], sizeof(c->items[0]), "%s", item);
	c->n++;
	return c->n == c->stop_at ? 7 : 0;
}

static void
test_list_foreach(void **state)
{
	struct collect c = { .stop_at = -1 };

	assert_int_equal(config_list_foreach(" a,,b ,\tc\n d ", collect_item, &c), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.items[0], "a");
	assert_string_equal(c.items[1], "b");
	assert_string_equal(c.items[2], "c");
	assert_string_equal(c.items[3], "d");
	/* A non-zero return stops the walk and is passed back. */
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	assert_int_equal(config_list_foreach("a b c", collect_item, &c), 7);
	assert_int_equal(c.n, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_first_error_reported),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_failed_load_changes_nothing),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_list_has_domain),
		cmocka_unit_test(test_list_foreach),
	};

	return cmocka_run_group_tests_name("config", tests, dir_setup, dir_teardown);
}
