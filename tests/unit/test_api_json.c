/* SPDX-License-Identifier: MIT */
/*
 * test_api_json - the admin API's request bodies (appliance/api/api_json.h):
 * a table of bodies of each kind, POST or PATCH, and what the decoder
 * makes of each: the fields it took, normalized, or the status and the
 * field of its refusal.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appliance/api/api_json.h"
#include "lib/mem.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define POST 1
#define PATCH 0

/*
 * What a decoded body holds, rendered: "id=...;name=...;..." with only
 * the fields given, in a fixed order; "400 field: message" for a refusal.
 */
static char *
render(enum api_body_kind kind, int create, const char *text)
{
	struct api_error err;
	struct api_body b;
	char *out = NULL;
	size_t size = 0;
	FILE *fp;
	json_t *obj;

	memset(&err, 0, sizeof(err));
	if ((obj = api_json_parse(text, strlen(text), &err)) == NULL)
		return xasprintf("%d %s", err.status, err.field);
	assert_non_null(fp = open_memstream(&out, &size));
	if (api_body_decode(obj, kind, create, &b, &err) < 0) {
		fprintf(fp, "%d %s", err.status, err.field);
		assert_true(err.message[0] != '\0');
	} else {
		if (b.has & API_HAS_ID)
			fprintf(fp, "id=%s;", b.id);
		if (b.has & API_HAS_NAME)
			fprintf(fp, "name=%s;", b.name);
		if (b.has & API_HAS_PROFILE)
			fprintf(fp, "profile=%s;", b.profile);
		if (b.has & API_HAS_PASSWORD)
			fprintf(fp, "password=%s;", b.password);
		if (b.has & API_HAS_PASSWORD_HASH)
			fprintf(fp, "hash=%s;", b.password_hash);
		if (b.has & API_HAS_ENABLED)
			fprintf(fp, "enabled=%d;", b.enabled);
		if (b.has & API_HAS_KIND)
			fprintf(fp, "kind=%d;", b.kind_value);
		if (b.has & API_HAS_CATCHALL)
			fprintf(fp, "catchall=%s;", b.catchall);
		if (b.has & API_HAS_CAPACITY)
			fprintf(fp, "capacity=%d;", b.capacity);
		if (b.has & API_HAS_QUOTA)
			fprintf(fp, "quota=%lld;", b.quota_bytes);
		if (b.has & API_HAS_SERVICES)
			fprintf(fp, "services=%s;", b.services);
		if (b.has & API_HAS_GLOBAL)
			fprintf(fp, "global=%d;", b.global);
		if (b.has & API_HAS_LIST)
			for (size_t i = 0; i < b.nlist; i++)
				fprintf(fp, "list=%s;", b.list[i]);
	}
	api_body_clear(&b);
	assert_null(b.password);
	assert_null(b.list);
	json_decref(obj);
	fclose(fp);
	return out;
}

static const struct {
	enum api_body_kind kind;
	int create;
	const char *body;
	const char *want;
} cases[] = {
	/* Accounts: the body every script sends, normalized. */
	{ API_BODY_ACCOUNT, POST,
	    "{\"address\": \"Bob@Example.ORG.\", \"password\": \"pw\", \"name\": \"Bob \\u00c9\", "
	    "\"profile\": null, \"enabled\": false}",
	    "id=bob@example.org;name=Bob \xc3\x89;profile=;password=pw;enabled=0;" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"password_hash\": \"$6$x$y\"}",
	    "id=a@example.org;hash=$6$x$y;" },
	{ API_BODY_ACCOUNT, PATCH, "{\"profile\": \"staff\", \"name\": null}", "name=;profile=staff;" },
	/* Strict JSON. */
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"address\": \"b@example.org\"}",
	    "400 " },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\"} x", "400 " },
	{ API_BODY_ACCOUNT, POST, "[\"a@example.org\"]", "400 " },
	{ API_BODY_ACCOUNT, POST, "\"a@example.org\"", "400 " },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a\\u0000@example.org\"}", "400 " },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"\xc3\x28@example.org\"}", "400 " },
	{ API_BODY_ACCOUNT, POST, "", "400 " },
	/* Fields: unknown, of the wrong type, out of bounds, missing, contradicting. */
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"enabeld\": true}", "400 enabeld" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"enabled\": 1}", "400 enabled" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"enabled\": null}",
	    "400 enabled" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": 7}", "400 address" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"no-at-sign\"}", "400 address" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@localhost\"}", "400 address" },
	{ API_BODY_ACCOUNT, POST, "{\"name\": \"x\"}", "400 address" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"name\": \"a\\tb\"}", "400 name" },
	{ API_BODY_ACCOUNT, POST, "{\"address\": \"a@example.org\", \"password\": \"\"}",
	    "400 password" },
	{ API_BODY_ACCOUNT, POST,
	    "{\"address\": \"a@example.org\", \"password\": \"x\", \"password_hash\": \"y\"}",
	    "400 password_hash" },
	{ API_BODY_ACCOUNT, PATCH, "{\"address\": \"b@example.org\"}", "400 address" },
	{ API_BODY_ACCOUNT, PATCH, "{}", "400 " },
	/* Other kinds. */
	{ API_BODY_LOGIN, POST, "{\"admin\": \"Root\", \"password\": \"pw\"}", "id=Root;password=pw;" },
	{ API_BODY_LOGIN, POST, "{\"admin\": \"root\"}", "400 password" },
	{ API_BODY_DOMAIN, POST, "{\"name\": \"Example.ORG.\", \"kind\": \"relay\", \"catchall\": \"\"}",
	    "id=example.org;kind=2;catchall=;" },
	{ API_BODY_DOMAIN, POST, "{\"name\": \"x.test\", \"kind\": \"remote\"}", "400 kind" },
	{ API_BODY_DOMAIN, PATCH, "{\"catchall\": \"Postmaster@X.test\"}",
	    "catchall=postmaster@x.test;" },
	{ API_BODY_ALIAS, POST, "{\"address\": \"i@x.org\", \"targets\": [\"A@B.org\", \"c@d.org\"]}",
	    "id=i@x.org;list=a@b.org;list=c@d.org;" },
	{ API_BODY_ALIAS, POST, "{\"address\": \"i@x.org\", \"targets\": [\"a@b.org\", \"A@b.org\"]}",
	    "400 targets" },
	{ API_BODY_ALIAS, POST, "{\"address\": \"i@x.org\", \"targets\": []}", "400 targets" },
	{ API_BODY_ALIAS, POST, "{\"address\": \"i@x.org\", \"targets\": [1]}", "400 targets" },
	{ API_BODY_ALIAS, POST, "{\"address\": \"i@x.org\"}", "400 targets" },
	{ API_BODY_GROUP, POST, "{\"address\": \"t@x.org\", \"kind\": \"alias\", \"members\": []}",
	    "id=t@x.org;kind=1;" },
	{ API_BODY_MEMBER, POST, "{\"address\": \"m@else.net\"}", "id=m@else.net;" },
	{ API_BODY_RESOURCE, POST, "{\"address\": \"r@x.org\", \"kind\": \"room\", \"capacity\": 12}",
	    "id=r@x.org;kind=1;capacity=12;" },
	{ API_BODY_RESOURCE, POST, "{\"address\": \"r@x.org\", \"kind\": \"room\", \"capacity\": 1.5}",
	    "400 capacity" },
	{ API_BODY_RESOURCE, POST, "{\"address\": \"r@x.org\", \"kind\": \"room\", \"capacity\": -1}",
	    "400 capacity" },
	{ API_BODY_RESOURCE, POST, "{\"address\": \"r@x.org\"}", "400 kind" },
	{ API_BODY_PROFILE, POST,
	    "{\"name\": \"Staff\", \"quota_bytes\": 1073741824, \"services\": [\"imap\", \"smtp\"]}",
	    "id=staff;quota=1073741824;services=smtp,imap;" },
	{ API_BODY_PROFILE, POST, "{\"name\": \"s\", \"services\": [\"fax\"]}", "400 services" },
	{ API_BODY_PROFILE, POST, "{\"name\": \"s\", \"services\": [\"smtp,imap\"]}", "400 services" },
	{ API_BODY_PROFILE, POST, "{\"name\": \"s\", \"quota_bytes\": 99999999999999999999}", "400 " },
	{ API_BODY_ADMIN, POST, "{\"name\": \"h@x.org\", \"domains\": [\"X.org\", \"y.org.\"]}",
	    "id=h@x.org;list=x.org;list=y.org;" },
	{ API_BODY_ADMIN, POST, "{\"name\": \"root\", \"global\": true}", "id=root;global=1;" },
	{ API_BODY_ADMIN, POST, "{\"name\": \"h\"}", "400 domains" },
	{ API_BODY_ADMIN, POST, "{\"name\": \"h\", \"global\": true, \"domains\": [\"x.org\"]}",
	    "400 domains" },
	{ API_BODY_ADMIN, PATCH, "{\"global\": false}", "400 domains" },
};

static void
test_bodies(void **state)
{
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char *got = render(cases[i].kind, cases[i].create, cases[i].body);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu %s: got \"%s\", want \"%s\"", i, cases[i].body, got,
			    cases[i].want);
		free(got);
	}
}

/*
 * Sizes: a body over API_BODY_MAX is 413; a password over
 * API_PASSWORD_MAX and a list over API_LIST_MAX are 400.
 */
static void
test_limits(void **state)
{
	size_t n = API_BODY_MAX + 100;
	char *big = xmalloc(n + 1), *got;
	FILE *fp;
	char *text = NULL;
	size_t size = 0;

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	got = render(API_BODY_ACCOUNT, POST, big);
	assert_string_equal(got, "413 ");
	free(got);

	memset(big, 'p', API_PASSWORD_MAX + 1);
	big[API_PASSWORD_MAX + 1] = '\0';
	got = xasprintf("{\"address\": \"a@example.org\", \"password\": \"%s\"}", big);
	free(big);
	big = render(API_BODY_ACCOUNT, POST, got);
	assert_string_equal(big, "400 password");
	free(big);
	free(got);

	assert_non_null(fp = open_memstream(&text, &size));
	fprintf(fp, "{\"address\": \"i@x.org\", \"targets\": [");
	for (int i = 0; i <= API_LIST_MAX; i++)
		fprintf(fp, "%s\"t%d@x.org\"", i > 0 ? "," : "", i);
	fprintf(fp, "]}");
	fclose(fp);
	got = render(API_BODY_ALIAS, POST, text);
	assert_string_equal(got, "400 targets");
	free(got);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
