/* SPDX-License-Identifier: MIT */
/*
 * test_console_text - the console's pieces that need no terminal: lines
 * made from output arriving in any pieces (appliance/console/text.h), and
 * one parameter of facteur.conf changed with the rest of the file kept
 * (appliance/console/conf_edit.h), and the checks of what the forms and
 * the first-boot wizard accept (appliance/console/valid.h), each a table
 * of cases.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "appliance/console/conf_edit.h"
#include "appliance/console/text.h"
#include "appliance/console/valid.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* The lines of t as "a|b|c" (the incomplete last one after '+'). */
static char *
render(const struct text *t)
{
	char *out = NULL;
	size_t size = 0;
	FILE *fp = open_memstream(&out, &size);

	assert_non_null(fp);
	for (size_t i = 0; i < t->n; i++)
		fprintf(fp, "%s%s", i > 0 ? "|" : "", t->lines[i]);
	if (t->partial != NULL)
		fprintf(fp, "+%s", t->partial);
	fclose(fp);
	return out;
}

static void
test_append_pieces(void **state)
{
	static const struct {
		const char *in;
		size_t piece;		/* appended this many bytes at a time (0: at once) */
		int flush;
		const char *lines;
	} cases[] = {
		{ "", 0, 0, "" },
		{ "a\nb\n", 0, 0, "a|b" },
		{ "a\nb\n", 1, 0, "a|b" },
		{ "a\r\nb\r\n", 1, 0, "a|b" },
		{ "a\nb", 0, 0, "a+b" },
		{ "a\nb", 0, 1, "a|b" },
		{ "\n\n", 1, 0, "|" },
		{ "one\ntwo\nthree\n", 2, 0, "one|two|three" },
		{ "no end", 3, 0, "+no end" },
		{ "no end", 3, 1, "no end" },
		{ "x\r", 0, 1, "x" },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = strlen(cases[i].in), step = cases[i].piece ? cases[i].piece : len + 1;
		struct text t;
		char *got;

		text_init(&t, 0);
		for (size_t off = 0; off < len; off += step)
			text_append(&t, cases[i].in + off, len - off < step ? len - off : step);
		if (cases[i].flush)
			text_flush(&t);
		got = render(&t);
		if (strcmp(got, cases[i].lines) != 0)
			fail_msg("case %zu: %s gives \"%s\", not \"%s\"", i, cases[i].in, got,
			    cases[i].lines);
		free(got);
		text_free(&t);
	}
}

static void
test_add_and_limits(void **state)
{
	struct text t;
	char *big = malloc(TEXT_LINE_MAX * 2 + 3), *got;

	/* Whole lines: an empty one kept, a '\n' inside splits. */
	text_init(&t, 0);
	text_add(&t, "");
	text_add(&t, "a\nb");
	text_addf(&t, "%d-%s", 7, "x");
	got = render(&t);
	assert_string_equal(got, "|a|b|7-x");
	free(got);
	text_clear(&t);
	assert_int_equal(t.n, 0);

	/* An over-long line is cut at TEXT_LINE_MAX, the next line intact. */
	assert_non_null(big);
	memset(big, 'x', TEXT_LINE_MAX * 2);
	big[TEXT_LINE_MAX * 2] = '\n';
	big[TEXT_LINE_MAX * 2 + 1] = 'y';
	big[TEXT_LINE_MAX * 2 + 2] = '\n';
	for (size_t off = 0; off < TEXT_LINE_MAX * 2 + 3; off += 1000)
		text_append(&t, big + off, TEXT_LINE_MAX * 2 + 3 - off < 1000 ?
		    TEXT_LINE_MAX * 2 + 3 - off : 1000);
	assert_int_equal(t.n, 2);
	assert_int_equal(strlen(t.lines[0]), TEXT_LINE_MAX);
	assert_string_equal(t.lines[1], "y");
	text_free(&t);
	free(big);

	/* A bound on lines: the oldest go, counted in dropped. */
	text_init(&t, 100);
	for (int i = 0; i < 1000; i++)
		text_addf(&t, "line %d", i);
	assert_true(t.n <= 100 && t.n > 80);
	assert_int_equal(t.n + t.dropped, 1000);
	assert_string_equal(t.lines[t.n - 1], "line 999");
	{
		char first[32];
		snprintf(first, sizeof(first), "line %zu", t.dropped);
		assert_string_equal(t.lines[0], first);
	}
	text_free(&t);
}

/* Write content to a new file, run conf_edit_set, compare. */
static void
test_conf_edit(void **state)
{
	static const struct {
		const char *before, *name, *value, *after;
	} cases[] = {
		/* Replaced in place, comments and order kept. */
		{ "# top\nmyhostname = a\nlog_level = info\n", "myhostname", "b",
		  "# top\nmyhostname = b\nlog_level = info\n" },
		/* Blanks and case as inih reads them. */
		{ "  MyHostName=a\n", "myhostname", "b", "myhostname = b\n" },
		/* Not there: added at the end of a file without sections. */
		{ "log_level = info\n", "smtpd_tls_cert_file", "/etc/x.crt",
		  "log_level = info\nsmtpd_tls_cert_file = /etc/x.crt\n" },
		/* Not there: added before the first section, the section's keys untouched. */
		{ "a = 1\n[transport]\nsmtpd_tls_cert_file = not-this\n", "smtpd_tls_cert_file", "/x",
		  "a = 1\nsmtpd_tls_cert_file = /x\n[transport]\nsmtpd_tls_cert_file = not-this\n" },
		/* A longer name sharing the prefix is another parameter. */
		{ "smtpd_tls_cert_file_x = 1\n", "smtpd_tls_cert_file", "/y",
		  "smtpd_tls_cert_file_x = 1\nsmtpd_tls_cert_file = /y\n" },
		/* Set twice in the file: the last one (the one inih keeps) changes. */
		{ "k = 1\nk = 2\n", "k", "3", "k = 1\nk = 3\n" },
		/* No final newline, an empty file. */
		{ "a = 1", "b", "2", "a = 1\nb = 2\n" },
		{ "", "b", "2", "b = 2\n" },
	};
	char dir[] = "/tmp/test_console_text.XXXXXX", path[256], buf[4096];
	const char *error;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/facteur.conf", dir);
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		FILE *fp = fopen(path, "w");
		size_t n;
		struct stat st;

		assert_non_null(fp);
		fputs(cases[i].before, fp);
		fclose(fp);
		assert_int_equal(chmod(path, 0640), 0);
		if (conf_edit_set(path, cases[i].name, cases[i].value, &error) != 0)
			fail_msg("case %zu: %s", i, error);
		fp = fopen(path, "r");
		assert_non_null(fp);
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		buf[n] = '\0';
		fclose(fp);
		if (strcmp(buf, cases[i].after) != 0)
			fail_msg("case %zu: got\n%s\nnot\n%s", i, buf, cases[i].after);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0640);
	}
	/* Refused: a line break in the value (it would make a second line), a missing file. */
	assert_int_equal(conf_edit_set(path, "a", "1\nb = 2", &error), -1);
	assert_non_null(strstr(error, "line break"));
	assert_int_equal(conf_edit_set("/nonexistent/facteur.conf", "a", "1", &error), -1);
	assert_non_null(strstr(error, "/nonexistent/facteur.conf"));
	/* Nothing left behind. */
	snprintf(buf, sizeof(buf), "%s.console-tmp", path);
	assert_int_equal(access(buf, F_OK), -1);
	unlink(path);
	rmdir(dir);
}

static void
test_valid(void **state)
{
	static const struct {
		const char *(*check)(const char *s);
		const char *name;
		const char *value;
		int good;
	} cases[] = {
		{ valid_ip, "ip", "192.0.2.1", 1 },
		{ valid_ip, "ip", "2001:db8::1", 1 },
		{ valid_ip, "ip", "192.0.2.256", 0 },
		{ valid_ip, "ip", "", 0 },
		{ valid_ips, "ips", "192.0.2.53 2001:db8::53", 1 },
		{ valid_ips, "ips", "192.0.2.53,192.0.2.54", 1 },
		{ valid_ips, "ips", "", 1 },
		{ valid_ips, "ips", "192.0.2.53 dns.example", 0 },
		{ valid_cidr, "cidr", "192.0.2.0/24", 1 },
		{ valid_cidr, "cidr", "2001:db8::/64", 1 },
		{ valid_cidr, "cidr", "192.0.2.0/33", 0 },
		{ valid_cidr, "cidr", "2001:db8::/129", 0 },
		{ valid_cidr, "cidr", "192.0.2.0/", 0 },
		{ valid_cidr, "cidr", "192.0.2.0/-1", 0 },
		{ valid_cidr, "cidr", "192.0.2.0/24x", 0 },
		{ valid_cidr, "cidr", "192.0.2.10", 0 },
		{ valid_iface, "iface", "eth0", 1 },
		{ valid_iface, "iface", "enp0s31f6", 1 },
		{ valid_iface, "iface", "eth0;reboot", 0 },
		{ valid_iface, "iface", "averyverylongname", 0 },
		{ valid_hostname, "hostname", "mx", 1 },
		{ valid_hostname, "hostname", "mx-1.example.org", 1 },
		{ valid_hostname, "hostname", "bad_host.example", 0 },
		{ valid_hostname, "hostname", "-mx.example", 0 },
		{ valid_hostname, "hostname", "mx-.example", 0 },
		{ valid_hostname, "hostname", "mx..example", 0 },
		{ valid_hostname, "hostname", "mx.-x.example", 0 },
		{ valid_fqdn, "fqdn", "mail.example.org", 1 },
		{ valid_fqdn, "fqdn", "mail", 0 },
		{ valid_fqdn, "fqdn", "mail.example.org.", 0 },
		{ valid_domains, "domains", "example.org", 1 },
		{ valid_domains, "domains", "example.org, example.net  other.test", 1 },
		{ valid_domains, "domains", "", 0 },
		{ valid_domains, "domains", " , ", 0 },
		{ valid_domains, "domains", "example.org localhost", 0 },
		{ valid_domains, "domains", "ex@mple.org", 0 },
		{ valid_token, "token", "public-7", 1 },
		{ valid_token, "token", "pub lic", 0 },
		{ valid_source, "source", "default", 1 },
		{ valid_source, "source", "192.0.2.0/24", 1 },
		{ valid_source, "source", "nms.example.org", 1 },
		{ valid_source, "source", "a b", 0 },
		{ valid_passphrase, "passphrase", "auth-pass-123", 1 },
		{ valid_passphrase, "passphrase", "short", 0 },
		{ valid_passphrase, "passphrase", "with \"quote\"", 0 },
		{ valid_zone, "zone", "Europe/Paris", 1 },
		{ valid_zone, "zone", "America/Argentina/Buenos_Aires", 1 },
		{ valid_zone, "zone", "Etc/GMT+2", 1 },
		{ valid_zone, "zone", "UTC", 1 },
		{ valid_zone, "zone", "Paris", 0 },
		{ valid_zone, "zone", "Europe/", 0 },
		{ valid_zone, "zone", "/etc/shadow", 0 },
		{ valid_zone, "zone", "Europe/../../etc/shadow", 0 },
		{ valid_zone, "zone", "Europe/Pa ris", 0 },
		{ valid_zone, "zone", "A/B/C/D", 0 },
		{ valid_servers, "servers", "", 1 },
		{ valid_servers, "servers", "ntp1.example.org 192.0.2.123", 1 },
		{ valid_servers, "servers", "ntp1.example.org;reboot", 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		const char *why = cases[i].check(cases[i].value);
		if ((why == NULL) != cases[i].good)
			fail_msg("case %zu: valid_%s(\"%s\") said %s", i, cases[i].name, cases[i].value,
			    why != NULL ? why : "good");
	}
	/* The admin's password: long enough, not the host name (any case). */
	assert_null(valid_admin_password("Wizard-Pw-12345", "mx.example.org"));
	assert_non_null(strstr(valid_admin_password("short-pw", "mx.example.org"), "10"));
	assert_non_null(valid_admin_password("MX.example.org", "mx.example.org"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_pieces),
		cmocka_unit_test(test_add_and_limits),
		cmocka_unit_test(test_conf_edit),
		cmocka_unit_test(test_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
