/* SPDX-License-Identifier: MIT */
/*
 * api_router - the admin API's routes, and what every call goes through
 * in the directory thread: the route (404, 405), the token (401), the
 * role (403), the query and the body (400, 413, 415), then the handler;
 * and the audit of changes.  See api.h.
 *
 * Order matters: nothing about the body is said before the caller is
 * known, so an anonymous client learns only that it needs a token.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "lib/log.h"
#include "lib/mem.h"

#define R_GLOBAL	1	/* global admins only */
#define R_BODY		2	/* takes a JSON body */
#define R_PUBLIC	4	/* no token: the login */
#define R_PAGED		8	/* ?offset=&limit= */

static const struct route {
	const char *pattern;	/* segments after /api/v1/, "*" for any one */
	enum api_method method;
	void (*fn)(struct api_call *c, struct api_ctx *x);
	int flags;
} routes[] = {
	{ "tokens", API_POST, api_token_create, R_PUBLIC | R_BODY },
	{ "tokens/current", API_GET, api_token_get, 0 },
	{ "tokens/current", API_DELETE, api_token_delete_current, 0 },
	{ "domains", API_GET, api_domains_list, R_PAGED },
	{ "domains", API_POST, api_domain_create, R_GLOBAL | R_BODY },
	{ "domains/*", API_GET, api_domain_get, 0 },
	{ "domains/*", API_PATCH, api_domain_update, R_BODY },
	{ "domains/*", API_DELETE, api_domain_delete, R_GLOBAL },
	{ "domains/*/accounts", API_GET, api_accounts_list, R_PAGED },
	{ "domains/*/accounts", API_POST, api_account_create, R_BODY },
	{ "domains/*/accounts/*", API_GET, api_account_get, 0 },
	{ "domains/*/accounts/*", API_PATCH, api_account_update, R_BODY },
	{ "domains/*/accounts/*", API_DELETE, api_account_delete, 0 },
	{ "domains/*/aliases", API_GET, api_aliases_list, R_PAGED },
	{ "domains/*/aliases", API_POST, api_alias_create, R_BODY },
	{ "domains/*/aliases/*", API_GET, api_alias_get, 0 },
	{ "domains/*/aliases/*", API_PATCH, api_alias_update, R_BODY },
	{ "domains/*/aliases/*", API_DELETE, api_alias_delete, 0 },
	{ "domains/*/groups", API_GET, api_groups_list, R_PAGED },
	{ "domains/*/groups", API_POST, api_group_create, R_BODY },
	{ "domains/*/groups/*", API_GET, api_group_get, 0 },
	{ "domains/*/groups/*", API_PATCH, api_group_update, R_BODY },
	{ "domains/*/groups/*", API_DELETE, api_group_delete, 0 },
	{ "domains/*/groups/*/members", API_POST, api_group_member_add, R_BODY },
	{ "domains/*/groups/*/members/*", API_DELETE, api_group_member_delete, 0 },
	{ "domains/*/resources", API_GET, api_resources_list, R_PAGED },
	{ "domains/*/resources", API_POST, api_resource_create, R_BODY },
	{ "domains/*/resources/*", API_GET, api_resource_get, 0 },
	{ "domains/*/resources/*", API_PATCH, api_resource_update, R_BODY },
	{ "domains/*/resources/*", API_DELETE, api_resource_delete, 0 },
	{ "profiles", API_GET, api_profiles_list, R_PAGED },
	{ "profiles", API_POST, api_profile_create, R_GLOBAL | R_BODY },
	{ "profiles/*", API_GET, api_profile_get, 0 },
	{ "profiles/*", API_PATCH, api_profile_update, R_GLOBAL | R_BODY },
	{ "profiles/*", API_DELETE, api_profile_delete, R_GLOBAL },
	{ "admins", API_GET, api_admins_list, R_GLOBAL | R_PAGED },
	{ "admins", API_POST, api_admin_create, R_GLOBAL | R_BODY },
	{ "admins/*", API_GET, api_admin_get, R_GLOBAL },
	{ "admins/*", API_PATCH, api_admin_update, R_GLOBAL | R_BODY },
	{ "admins/*", API_DELETE, api_admin_delete, R_GLOBAL },
	{ "audit", API_GET, api_audit_get, R_GLOBAL | R_PAGED },
	{ "queue", API_GET, api_queue_get, R_GLOBAL },
	{ "stats", API_GET, api_stats_get, R_GLOBAL },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* ---- answers ---- */

int
api_reply(struct api_call *c, int status, json_t *body)
{
	json_decref(c->reply);
	c->status = status;
	c->reply = body;
	return 0;
}

json_t *
api_json_text(const char *s)
{
	json_t *v = json_string(s);
	char *copy;

	if (v != NULL)
		return v;
	/* Invalid UTF-8 (quoting what a client sent): its bytes above ASCII as '?'. */
	copy = xstrdup(s);
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

int
api_fail(struct api_call *c, int status, const char *field, const char *fmt, ...)
{
	json_t *o = json_object();
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_object_set_new(o, "error", api_json_text(text));
	if (field != NULL && field[0] != '\0')
		json_object_set_new(o, "field", api_json_text(field));
	api_reply(c, status, o);
	return -1;
}

int
api_fail_dir(struct api_call *c, const char *field, const char *error)
{
	static const char *const conflict[] = {
		" exists", " is a ", " is an ", " is not empty", " has ", " is used by ",
		" is a member of ", "cannot make it",
	};

	if (strncmp(error, "directory:", 10) == 0) {
		log_warnx("adminapi: %s", error);
		return api_fail(c, 500, NULL, "the directory could not be read or written");
	}
	for (size_t i = 0; i < sizeof(conflict) / sizeof(conflict[0]); i++)
		if (strstr(error, conflict[i]) != NULL)
			return api_fail(c, 409, field, "%s", error);
	return api_fail(c, 400, field, "%s", error);
}

int
api_batch_begin(struct api_call *c, struct api_ctx *x)
{
	const char *error;

	if (directory_batch_begin(x->dir, &error) < 0)
		return api_fail_dir(c, NULL, error);
	return 0;
}

int
api_batch_end(struct api_call *c, struct api_ctx *x, int ok)
{
	const char *error;

	if (directory_batch_end(x->dir, ok, &error) < 0) {
		if (ok)
			return api_fail_dir(c, NULL, error);
		log_warnx("adminapi: a refused change was not rolled back: %s", error);
	}
	return ok ? 0 : -1;
}

struct directory *
api_dir(struct api_call *c, struct api_ctx *x)
{
	const char *error;

	if (x->dir == NULL &&
	    (x->dir = directory_open(directory_default_path(), DIRECTORY_READWRITE, &error)) == NULL) {
		log_warnx("adminapi: %s", error);
		api_fail(c, 503, NULL, "the directory is not available");
	}
	return x->dir;
}

json_t *
api_time(long long t)
{
	time_t tt = (time_t)t;
	char text[32];
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(text);
}

json_t *
api_page(struct api_call *c, json_t *items, int more)
{
	json_t *o = json_object();

	json_object_set_new(o, "items", items);
	json_object_set_new(o, "offset", json_integer(c->offset));
	json_object_set_new(o, "limit", json_integer(c->limit));
	json_object_set_new(o, "next_offset", more ? json_integer(c->offset + c->limit) :
	    json_null());
	return o;
}

void
api_pager_init(struct api_pager *p, const struct api_call *c)
{
	p->offset = c->offset;
	p->limit = c->limit;
	p->index = 0;
	p->more = 0;
	p->items = json_array();
}

int
api_pager_next(struct api_pager *p)
{
	long i = p->index++;

	if (i < p->offset)
		return 0;
	if (i >= p->offset + p->limit) {
		p->more = 1;
		return -1;
	}
	return 1;
}

void
api_pager_reply(struct api_call *c, struct api_pager *p, int rc)
{
	if (rc < 0) {
		json_decref(p->items);
		p->items = NULL;
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, 200, api_page(c, p->items, p->more));
	p->items = NULL;
}

int
api_domain_visible(struct api_call *c, struct api_ctx *x, const char *domain,
    struct dir_domain *d_r)
{
	struct dir_domain d;
	int rc;

	if ((rc = directory_domain_get(x->dir, domain, d_r != NULL ? d_r : &d)) < 0) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return -1;
	}
	if (rc == 1 && !c->global && (rc = directory_admin_may(x->dir, c->admin, domain)) < 0) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return -1;
	}
	if (rc != 1) {
		/* The same answer whether it exists or is another's. */
		api_fail(c, 404, NULL, "no such domain %s", domain);
		return 0;
	}
	return 1;
}

int
api_path_domain(struct api_call *c, struct api_ctx *x, char *out, struct dir_domain *d_r)
{
	size_t n;

	if (c->nseg < 2 || str_copy(out, c->seg[1], 256) >= 256)
		return api_fail(c, 404, NULL, "no such domain");
	str_lower(out);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
	return api_domain_visible(c, x, out, d_r) == 1 ? 0 : -1;
}

int
api_path_address(struct api_call *c, size_t i, const char *domain, const char *what, char *out)
{
	const char *at;

	if (i >= c->nseg || dir_addr_norm(c->seg[i], out) < 0 || (at = strrchr(out, '@')) == NULL ||
	    strcmp(at + 1, domain) != 0)
		return api_fail(c, 404, NULL, "no such %s %s in %s", what, i < c->nseg ? c->seg[i] : "",
		    domain);
	return 0;
}

/* ---- the audit ---- */

void
api_audit(struct api_call *c, struct api_ctx *x)
{
	struct api_audit a;
	const char *error;
	json_t *e;
	char result[300] = "ok";

	if (!c->change)
		return;
	if (c->status >= 400 && c->reply != NULL &&
	    (e = json_object_get(c->reply, "error")) != NULL && json_is_string(e))
		str_copy(result, json_string_value(e), sizeof(result));
	a.admin = c->admin;
	a.client = c->client;
	a.method = c->method_name;
	a.path = c->path;
	a.object = c->object[0] != '\0' ? c->object : c->path;
	a.status = c->status;
	a.result = result;
	log_info("adminapi audit admin=%s client=%s method=%s path=%s object=\"%s\" status=%d "
	    "result=\"%s\"", c->admin[0] != '\0' ? c->admin : "-", c->client, c->method_name, c->path,
	    a.object, c->status, result);
	if (x->store != NULL && api_audit_add(x->store, &a, &error) < 0)
		log_warnx("adminapi: the audit row was not written: %s", error);
}

/* ---- dispatch ---- */

/* Does pattern match the call's segments? */
static int
pattern_match(const char *pattern, const struct api_call *c)
{
	const char *p = pattern;
	size_t i = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, "/");
		if (i >= c->nseg)
			return 0;
		if (!(n == 1 && *p == '*') && (strlen(c->seg[i]) != n || strncmp(p, c->seg[i], n) != 0))
			return 0;
		i++;
		p += n;
		if (*p == '/')
			p++;
	}
	return i == c->nseg;
}

static const char *
method_text(enum api_method m)
{
	switch (m) {
	case API_GET: return "GET";
	case API_POST: return "POST";
	case API_PATCH: return "PATCH";
	case API_DELETE: return "DELETE";
	default: return "?";
	}
}

/* The caller of the token: 0, or -1 with 401 (or 500) answered. */
static int
authenticate(struct api_call *c, struct api_ctx *x)
{
	struct dir_admin ad;
	int rc;

	if (c->token == NULL)
		return api_fail(c, 401, NULL, "a token is needed: Authorization: Bearer TOKEN "
		    "(POST /api/v1/tokens gives one)");
	rc = api_token_check(x->store, c->token, c->admin, sizeof(c->admin), &c->token_expires,
	    c->token_hash);
	if (rc < 0)
		return api_fail(c, 500, NULL, "the tokens could not be read");
	if (rc == 0) {
		c->admin[0] = '\0';
		return api_fail(c, 401, NULL, "unknown or expired token: log in again");
	}
	if (api_dir(c, x) == NULL)
		return -1;
	switch (directory_admin_get(x->dir, c->admin, &ad)) {
	case 1:
		c->global = ad.global;
		return 0;
	case 0:
		/* Deleted since it logged in (by facteurctl): its tokens go too. */
		api_token_delete_admin(x->store, c->admin);
		c->admin[0] = '\0';
		return api_fail(c, 401, NULL, "unknown or expired token: log in again");
	default:
		return api_fail(c, 500, NULL, "the directory could not be read");
	}
}

/* The query and the body the route takes: 0, or -1 answered. */
static int
request_check(struct api_call *c, const struct route *r)
{
	if (c->query_error.status != 0)
		return api_fail(c, c->query_error.status, c->query_error.field, "%s",
		    c->query_error.message);
	if (c->has_paging && !(r->flags & R_PAGED))
		return api_fail(c, 400, NULL, "%s %s takes no query parameters", c->method_name,
		    c->path);
	if (!(r->flags & R_BODY)) {
		if (c->has_body)
			return api_fail(c, 400, NULL, "%s %s takes no body", c->method_name, c->path);
		return 0;
	}
	if (c->body_error.status == 413)
		return api_fail(c, 413, NULL, "%s", c->body_error.message);
	if (c->has_body && !c->json_type)
		return api_fail(c, 415, NULL, "the body must be Content-Type: application/json");
	if (c->body_error.status != 0)
		return api_fail(c, c->body_error.status, c->body_error.field, "%s",
		    c->body_error.message);
	if (c->body == NULL)
		return api_fail(c, 400, NULL, "a JSON object is needed as the request body");
	return 0;
}

void
api_dispatch(struct api_call *c, struct api_ctx *x)
{
	const struct route *r = NULL;
	size_t len = 0;
	int matched = 0;

	for (size_t i = 0; i < NROUTES; i++) {
		if (!pattern_match(routes[i].pattern, c))
			continue;
		if (!matched++)
			c->allow[0] = '\0';
		len = strlen(c->allow);
		snprintf(c->allow + len, sizeof(c->allow) - len, "%s%s", len > 0 ? ", " : "",
		    method_text(routes[i].method));
		if (routes[i].method == c->method)
			r = &routes[i];
	}
	if (!matched) {
		api_fail(c, 404, NULL, "no such endpoint %s", c->path);
		return;
	}
	if (r == NULL) {
		api_fail(c, 405, NULL, "%s is not allowed on %s (allowed: %s)", c->method_name,
		    c->path, c->allow);
		return;
	}
	c->allow[0] = '\0';
	if (!(r->flags & R_PUBLIC) && authenticate(c, x) < 0)
		return;
	/* From here on, a change is recorded whatever its outcome. */
	c->change = c->method != API_GET;
	if ((r->flags & R_GLOBAL) && !c->global) {
		api_fail(c, 403, NULL, "only global admins may do this");
		return;
	}
	if (request_check(c, r) < 0)
		return;
	if (!(r->flags & R_PUBLIC) && api_dir(c, x) == NULL)
		return;
	r->fn(c, x);
}

/* ---- a password hashed in a hash thread ---- */

static void
hash_slow(struct api_call *c)
{
	c->slow_error = NULL;
	if (auth_hash_password(c->b.password, 0, c->hash, sizeof(c->hash), &c->slow_error) < 0)
		c->hash[0] = '\0';
}

void
api_hash_then(struct api_call *c, void (*then)(struct api_call *c, struct api_ctx *x))
{
	c->slow = hash_slow;
	c->next = then;
}
