/* SPDX-License-Identifier: MIT */
/*
 * api_system - what is not in a domain: the tokens (login and logout),
 * the profiles, the admins, the audit log, the queue and the counters.
 *
 * A login checks the admin's password as smtpd checks an account's
 * (store/auth.h): the same argon2id or crypt(3) verification in a hash
 * thread, the same dummy verification for an unknown name, the same
 * failure count per client address (auth_failure_limit within
 * auth_failure_window, then 429 without any check until the window
 * passes), the same "auth failed user=... service=adminapi" log line.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "appliance/agentx/monitor.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/stats.h"

/* ---- tokens ---- */

static int
collect_domain(const char *domain, void *ctx)
{
	json_array_append_new(ctx, json_string(domain));
	return 0;
}

/* {"admin", "global", "domains"} of admin; NULL on a database error. */
static json_t *
whoami_json(struct api_ctx *x, const char *admin, int global)
{
	json_t *o = json_object(), *domains = json_array();

	json_object_set_new(o, "admin", json_string(admin));
	json_object_set_new(o, "global", json_boolean(global));
	json_object_set_new(o, "domains", domains);
	if (directory_admin_domain_foreach(x->dir, admin, collect_domain, domains) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void
login_verify(struct api_call *c)
{
	auth_login_verify(c->auth);
}

static void
login_end(struct api_call *c, struct api_ctx *x)
{
	char token[API_TOKEN_LEN + 1];
	struct dir_admin ad;
	long long expires;
	const char *error;
	json_t *o;

	if (auth_login_end(&c->auth, NULL, 0) != AUTH_OK) {
		api_fail(c, 401, NULL, "bad admin name or password");
		return;
	}
	/* The admin may have gone while its password was checked. */
	if (directory_admin_get(x->dir, c->b.id, &ad) != 1) {
		api_fail(c, 401, NULL, "bad admin name or password");
		return;
	}
	str_copy(c->admin, ad.name, sizeof(c->admin));
	if (api_token_new(x->store, ad.name, c->client, x->token_lifetime, token, &expires,
	    &error) < 0) {
		log_warnx("adminapi: %s", error);
		api_fail(c, 500, NULL, "no token could be made");
		return;
	}
	if ((o = whoami_json(x, ad.name, ad.global)) == NULL) {
		explicit_bzero(token, sizeof(token));
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	json_object_set_new(o, "token", json_string(token));
	json_object_set_new(o, "expires", api_time(expires));
	explicit_bzero(token, sizeof(token));
	api_reply(c, 201, o);
}

void
api_token_create(struct api_call *c, struct api_ctx *x)
{
	struct dir_admin ad;

	str_copy(c->object, "token", sizeof(c->object));
	if (api_body_decode(c->body, API_BODY_LOGIN, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	/* The audit says who tried, known or not. */
	str_copy(c->admin, c->b.id, sizeof(c->admin));
	for (char *p = c->admin; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			*p = '?';
	if (api_dir(c, x) == NULL)
		return;
	switch (auth_login_begin(NULL, c->b.id, c->b.password, "adminapi", c->client, &c->auth)) {
	case AUTH_OK:
		break;
	case AUTH_THROTTLED:
		api_fail(c, 429, NULL, "too many failed logins from %s: try again later", c->client);
		return;
	default:
		api_fail(c, 503, NULL, "logins cannot be checked now");
		return;
	}
	switch (directory_admin_get(x->dir, c->b.id, &ad)) {
	case 1:
		/* Its canonical name, for the token; an admin without password never logs in. */
		str_copy(c->b.id, ad.name, sizeof(c->b.id));
		auth_request_set_hash(c->auth, ad.password);
		break;
	case -1:
		auth_request_free(&c->auth);
		api_fail(c, 503, NULL, "logins cannot be checked now");
		return;
	}
	/* An unknown admin is verified against a dummy hash: no faster refusal. */
	c->slow = login_verify;
	c->next = login_end;
}

void
api_token_get(struct api_call *c, struct api_ctx *x)
{
	json_t *o = whoami_json(x, c->admin, c->global);

	if (o == NULL) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	json_object_set_new(o, "expires", api_time(c->token_expires));
	api_reply(c, 200, o);
}

void
api_token_delete_current(struct api_call *c, struct api_ctx *x)
{
	str_copy(c->object, "token", sizeof(c->object));
	if (api_token_delete(x->store, c->token_hash) < 0) {
		api_fail(c, 500, NULL, "the token could not be deleted");
		return;
	}
	api_reply(c, 204, NULL);
}

/* ---- profiles ---- */

static json_t *
profile_json(const struct dir_profile *p)
{
	json_t *o = json_object(), *services = json_array();
	char buf[DIR_SERVICES_SIZE], *save = NULL;

	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "quota_bytes", json_integer(p->quota_bytes));
	json_object_set_new(o, "retention_days", json_integer(p->retention_days));
	json_object_set_new(o, "retention_scope",
	    json_string(dir_retention_scope_str(p->retention_scope)));
	str_copy(buf, p->services, sizeof(buf));
	for (char *w = strtok_r(buf, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save))
		json_array_append_new(services, json_string(w));
	json_object_set_new(o, "services", services);
	return o;
}

static int
list_profile(const struct dir_profile *p, void *ctx)
{
	struct api_pager *pg = ctx;
	int take = api_pager_next(pg);

	if (take > 0)
		json_array_append_new(pg->items, profile_json(p));
	return take < 0 ? 1 : 0;
}

void
api_profiles_list(struct api_call *c, struct api_ctx *x)
{
	struct api_pager p;

	api_pager_init(&p, c);
	api_pager_reply(c, &p, directory_profile_foreach(x->dir, list_profile, &p));
}

static void
profile_apply(struct dir_profile *p, const struct api_body *b)
{
	if (b->has & API_HAS_QUOTA)
		p->quota_bytes = b->quota_bytes;
	if (b->has & API_HAS_RETENTION)
		p->retention_days = b->retention_days;
	if (b->has & API_HAS_SCOPE)
		p->retention_scope = b->scope;
	if (b->has & API_HAS_SERVICES)
		str_copy(p->services, b->services, sizeof(p->services));
}

static void
profile_reply(struct api_call *c, struct api_ctx *x, const char *name, int status)
{
	struct dir_profile p;

	if (directory_profile_get(x->dir, name, &p) != 1) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, status, profile_json(&p));
}

void
api_profile_create(struct api_call *c, struct api_ctx *x)
{
	struct dir_profile p;
	const char *error;

	if (api_body_decode(c->body, API_BODY_PROFILE, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "profile %s", c->b.id);
	memset(&p, 0, sizeof(p));
	str_copy(p.name, c->b.id, sizeof(p.name));
	/* As facteurctl profile add: every service unless told. */
	str_copy(p.services, DIR_SERVICES_ALL, sizeof(p.services));
	profile_apply(&p, &c->b);
	if (directory_profile_add(x->dir, &p, &error) < 0) {
		api_fail_dir(c, strncmp(error, "bad profile name", 16) == 0 ? "name" : NULL, error);
		return;
	}
	profile_reply(c, x, p.name, 201);
}

/* The profile of the path (segment 1): 0 and *p, or -1 answered. */
static int
path_profile(struct api_call *c, struct api_ctx *x, struct dir_profile *p)
{
	snprintf(c->object, sizeof(c->object), "profile %s", c->seg[1]);
	switch (directory_profile_get(x->dir, c->seg[1], p)) {
	case 1:
		return 0;
	case 0:
		return api_fail(c, 404, NULL, "no such profile %s", c->seg[1]);
	default:
		return api_fail(c, 500, NULL, "the directory could not be read");
	}
}

void
api_profile_get(struct api_call *c, struct api_ctx *x)
{
	struct dir_profile p;

	if (path_profile(c, x, &p) == 0)
		api_reply(c, 200, profile_json(&p));
}

void
api_profile_update(struct api_call *c, struct api_ctx *x)
{
	struct dir_profile p;
	const char *error;

	if (path_profile(c, x, &p) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_PROFILE, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	profile_apply(&p, &c->b);
	if (directory_profile_update(x->dir, &p, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	profile_reply(c, x, p.name, 200);
}

void
api_profile_delete(struct api_call *c, struct api_ctx *x)
{
	struct dir_profile p;
	const char *error;

	if (path_profile(c, x, &p) < 0)
		return;
	if (directory_profile_del(x->dir, p.name, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}

/* ---- admins ---- */

/* The admin as JSON (never its hash); NULL on a database error. */
static json_t *
admin_json(struct api_ctx *x, const struct dir_admin *a)
{
	json_t *o = json_object(), *domains = json_array();

	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "global", json_boolean(a->global));
	json_object_set_new(o, "domains", domains);
	json_object_set_new(o, "password", json_boolean(a->password[0] != '\0'));
	json_object_set_new(o, "created", api_time(a->created));
	if (directory_admin_domain_foreach(x->dir, a->name, collect_domain, domains) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct admin_walk {
	struct api_pager p;
	struct api_ctx *x;
};

static int
list_admin(const struct dir_admin *a, void *ctx)
{
	struct admin_walk *w = ctx;
	int take = api_pager_next(&w->p);
	json_t *o;

	if (take < 0)
		return 1;
	if (take > 0) {
		if ((o = admin_json(w->x, a)) == NULL)
			return -1;
		json_array_append_new(w->p.items, o);
	}
	return 0;
}

void
api_admins_list(struct api_call *c, struct api_ctx *x)
{
	struct admin_walk w;

	api_pager_init(&w.p, c);
	w.x = x;
	api_pager_reply(c, &w.p, directory_admin_foreach(x->dir, list_admin, &w));
}

static void
admin_reply(struct api_call *c, struct api_ctx *x, const char *name, int status)
{
	struct dir_admin a;
	json_t *o;

	if (directory_admin_get(x->dir, name, &a) != 1 || (o = admin_json(x, &a)) == NULL) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, status, o);
}

static void
admin_create_apply(struct api_call *c, struct api_ctx *x)
{
	const char *hash, *error;
	int none;

	hash = api_body_hash(c, &none);
	if (hash == NULL && !none)
		return;
	if (directory_admin_add(x->dir, c->b.id, hash != NULL ? hash : "", c->b.global,
	    (const char *const *)c->b.list, c->b.nlist, &error) < 0) {
		api_fail_dir(c, strstr(error, "domain") != NULL ? "domains" : "name", error);
		return;
	}
	admin_reply(c, x, c->b.id, 201);
}

void
api_admin_create(struct api_call *c, struct api_ctx *x)
{
	if (api_body_decode(c->body, API_BODY_ADMIN, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "admin %s", c->b.id);
	switch (directory_admin_get(x->dir, c->b.id, &(struct dir_admin){ 0 })) {
	case 1:
		api_fail(c, 409, "name", "admin %s exists", c->b.id);
		return;
	case -1:
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	if (c->b.has & API_HAS_PASSWORD)
		api_hash_then(c, admin_create_apply);
	else
		admin_create_apply(c, x);
}

/* The admin of the path (segment 1): 0 and *a, or -1 answered. */
static int
path_admin(struct api_call *c, struct api_ctx *x, struct dir_admin *a)
{
	snprintf(c->object, sizeof(c->object), "admin %s", c->seg[1]);
	switch (directory_admin_get(x->dir, c->seg[1], a)) {
	case 1:
		snprintf(c->object, sizeof(c->object), "admin %s", a->name);
		return 0;
	case 0:
		return api_fail(c, 404, NULL, "no such admin %s", c->seg[1]);
	default:
		return api_fail(c, 500, NULL, "the directory could not be read");
	}
}

void
api_admin_get(struct api_call *c, struct api_ctx *x)
{
	struct dir_admin a;

	if (path_admin(c, x, &a) == 0)
		admin_reply(c, x, a.name, 200);
}

static void
admin_update_apply(struct api_call *c, struct api_ctx *x)
{
	const char *hash, *error;
	int none, global, ok = 1;

	hash = api_body_hash(c, &none);
	if (hash == NULL && !none)
		return;
	if (api_batch_begin(c, x) < 0)
		return;
	if (hash != NULL && directory_admin_set_password(x->dir, c->b.id, hash, &error) < 0)
		ok = api_fail_dir(c, c->b.has & API_HAS_PASSWORD ? "password" : "password_hash",
		    error) == 0;
	if (ok && (c->b.has & (API_HAS_GLOBAL | API_HAS_LIST))) {
		global = (c->b.has & API_HAS_GLOBAL) && c->b.global;
		if (directory_admin_set_domains(x->dir, c->b.id, global,
		    (const char *const *)c->b.list, c->b.nlist, &error) < 0)
			ok = api_fail_dir(c, "domains", error) == 0;
	}
	if (api_batch_end(c, x, ok) == 0)
		admin_reply(c, x, c->b.id, 200);
}

void
api_admin_update(struct api_call *c, struct api_ctx *x)
{
	struct dir_admin a;

	if (path_admin(c, x, &a) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_ADMIN, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	str_copy(c->b.id, a.name, sizeof(c->b.id));
	/* No one locks himself out: another global admin takes the rights away. */
	if (strcmp(a.name, c->admin) == 0 && (c->b.has & (API_HAS_GLOBAL | API_HAS_LIST)) &&
	    !((c->b.has & API_HAS_GLOBAL) && c->b.global)) {
		api_fail(c, 409, "global", "an admin cannot take its own global rights away");
		return;
	}
	if (c->b.has & API_HAS_PASSWORD)
		api_hash_then(c, admin_update_apply);
	else
		admin_update_apply(c, x);
}

void
api_admin_delete(struct api_call *c, struct api_ctx *x)
{
	struct dir_admin a;
	const char *error;

	if (path_admin(c, x, &a) < 0)
		return;
	if (strcmp(a.name, c->admin) == 0) {
		api_fail(c, 409, NULL, "an admin cannot delete itself");
		return;
	}
	if (directory_admin_del(x->dir, a.name, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	/* Its sessions end with it. */
	api_token_delete_admin(x->store, a.name);
	api_reply(c, 204, NULL);
}

/* ---- audit, queue, counters ---- */

void
api_audit_get(struct api_call *c, struct api_ctx *x)
{
	json_t *items = json_array();
	int more;

	if (api_audit_list(x->store, c->offset, c->limit, items, &more) < 0) {
		json_decref(items);
		api_fail(c, 500, NULL, "the audit log could not be read");
		return;
	}
	api_reply(c, 200, api_page(c, items, more));
}

static uint64_t
gauge(const uint64_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

void
api_queue_get(struct api_call *c, struct api_ctx *x)
{
	json_t *o = json_object();

	json_object_set_new(o, "incoming", json_integer((json_int_t)gauge(&stats->queue_incoming)));
	json_object_set_new(o, "active", json_integer((json_int_t)gauge(&stats->queue_active)));
	json_object_set_new(o, "deferred", json_integer((json_int_t)gauge(&stats->queue_deferred)));
	json_object_set_new(o, "hold", json_integer((json_int_t)gauge(&stats->queue_hold)));
	json_object_set_new(o, "total", json_integer((json_int_t)monitor_queue_messages()));
	api_reply(c, 200, o);
}

static json_t *
disk_json(const char *path)
{
	struct monitor_disk d;
	json_t *o;

	monitor_disk(path, &d);
	if (!d.known)
		return json_null();
	o = json_object();
	json_object_set_new(o, "size_bytes", json_integer((json_int_t)d.size));
	json_object_set_new(o, "avail_bytes", json_integer((json_int_t)d.avail));
	json_object_set_new(o, "used_percent", json_integer(d.used_percent));
	return o;
}

void
api_stats_get(struct api_call *c, struct api_ctx *x)
{
	json_t *o = json_object(), *counters = json_object(), *gauges = json_object();
	json_t *daemons = json_array(), *fs = json_object();
	unsigned int n = stats_daemon_count();
	char path[4096];

	json_object_set_new(o, "started",
	    api_time((long long)__atomic_load_n(&stats->started, __ATOMIC_RELAXED)));
	json_object_set_new(o, "uptime_seconds", json_integer((json_int_t)monitor_uptime()));
	for (unsigned int i = 0; i < stats_nfields; i++)
		json_object_set_new(stats_is_gauge(i) ? gauges : counters, stats_fields[i].name,
		    json_integer((json_int_t)stats_value(i)));
	json_object_set_new(o, "counters", counters);
	json_object_set_new(o, "gauges", gauges);
	for (unsigned int i = 0; i < n; i++) {
		const struct stats_daemon *d = &stats->daemons[i];
		char name[STATS_DAEMON_NAME + 1];
		json_t *row = json_object();
		uint64_t pid = STATS_DAEMON_GET(d, pid);

		memcpy(name, d->name, STATS_DAEMON_NAME);
		name[STATS_DAEMON_NAME] = '\0';
		json_object_set_new(row, "name", api_json_text(name));
		json_object_set_new(row, "running", json_boolean(pid != 0));
		json_object_set_new(row, "pid", json_integer((json_int_t)pid));
		json_object_set_new(row, "started", api_time((long long)STATS_DAEMON_GET(d, started)));
		json_object_set_new(row, "restarts",
		    json_integer((json_int_t)STATS_DAEMON_GET(d, restarts)));
		json_object_set_new(row, "last_exit", api_time((long long)STATS_DAEMON_GET(d, exited)));
		json_array_append_new(daemons, row);
	}
	json_object_set_new(o, "daemons", daemons);
	json_object_set_new(fs, "spool", disk_json(var_spool_directory));
	json_object_set_new(fs, "store", disk_json(monitor_store_directory(path, sizeof(path))));
	json_object_set_new(o, "filesystems", fs);
	api_reply(c, 200, o);
}
