/* SPDX-License-Identifier: MIT */
/*
 * api_accounts - /api/v1/domains/{domain}/accounts and .../aliases.
 *
 * An account is made, or changed, in one transaction of the directory (a
 * batch): its address, password, profile, display name and state all
 * go in, or none does.  A plain password is hashed (argon2id, as
 * facteurctl account passwd does) in a hash thread first; a
 * password_hash is checked as facteurctl's --hash is.  An alias's
 * targets are replaced as a whole by PATCH, in one transaction too.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "lib/mem.h"

/* ---- accounts ---- */

static const char *
password_source(const char *hash)
{
	if (strcmp(hash, AUTH_LDAP_MARK) == 0)
		return "ldap";
	return hash[0] != '\0' ? "local" : "none";
}

static json_t *
account_json(const struct dir_account *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "address", json_string(a->address));
	json_object_set_new(o, "name", a->name[0] != '\0' ? api_json_text(a->name) : json_null());
	json_object_set_new(o, "enabled", json_boolean(a->enabled));
	json_object_set_new(o, "profile", a->profile[0] != '\0' ? json_string(a->profile) :
	    json_null());
	json_object_set_new(o, "password_source", json_string(password_source(a->password)));
	json_object_set_new(o, "resource", json_boolean(a->resource));
	json_object_set_new(o, "created", api_time(a->created));
	return o;
}

static int
list_account(const struct dir_account *a, void *ctx)
{
	struct api_pager *p = ctx;
	int take = api_pager_next(p);

	if (take > 0)
		json_array_append_new(p->items, account_json(a));
	return take < 0 ? 1 : 0;
}

void
api_accounts_list(struct api_call *c, struct api_ctx *x)
{
	struct api_pager p;
	char domain[256];

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	api_pager_init(&p, c);
	api_pager_reply(c, &p, directory_account_foreach_full(x->dir, domain, list_account, &p));
}

static int
count_app_password(const struct dir_app_password *ap, void *ctx)
{
	(*(long *)ctx)++;
	return 0;
}

/* Answer status with the account addr as it is now. */
static void
account_reply(struct api_call *c, struct api_ctx *x, const char *addr, int status)
{
	struct dir_account a;
	long apps = 0;
	json_t *o;

	if (directory_account_get(x->dir, addr, &a) != 1 ||
	    directory_app_password_foreach(x->dir, a.address, count_app_password, &apps) < 0) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	o = account_json(&a);
	json_object_set_new(o, "app_passwords", json_integer(apps));
	api_reply(c, status, o);
}

const char *
api_body_hash(struct api_call *c, int *none_r)
{
	const char *error;

	*none_r = 0;
	if (c->b.has & API_HAS_PASSWORD) {
		if (c->hash[0] == '\0') {
			api_fail(c, 500, "password", "the password could not be hashed: %s",
			    c->slow_error != NULL ? c->slow_error : "unknown error");
			return NULL;
		}
		return c->hash;
	}
	if (c->b.has & API_HAS_PASSWORD_HASH) {
		if (auth_hash_check(c->b.password_hash, &error) < 0) {
			api_fail(c, 400, "password_hash", "%s", error);
			return NULL;
		}
		return c->b.password_hash;
	}
	*none_r = 1;
	return NULL;
}

/* The body's changes to account addr, in the open batch: 0, or -1 answered. */
static int
account_changes(struct api_call *c, struct api_ctx *x, const char *addr, const char *hash)
{
	const struct api_body *b = &c->b;
	const char *error, *field = NULL;
	int rc = 0;

	if (hash != NULL) {
		field = b->has & API_HAS_PASSWORD ? "password" : "password_hash";
		rc = directory_account_set_password(x->dir, addr, hash, &error);
	}
	if (rc == 0 && (b->has & API_HAS_PROFILE)) {
		field = "profile";
		rc = directory_account_set_profile(x->dir, addr, b->profile, &error);
	}
	if (rc == 0 && (b->has & API_HAS_NAME)) {
		field = "name";
		rc = directory_account_set_name(x->dir, addr, b->name, &error);
	}
	if (rc == 0 && (b->has & API_HAS_ENABLED)) {
		field = "enabled";
		rc = directory_account_set_enabled(x->dir, addr, b->enabled, &error);
	}
	if (rc < 0)
		return api_fail_dir(c, field, error);
	return 0;
}

static void
account_create_apply(struct api_call *c, struct api_ctx *x)
{
	const char *hash, *error;
	int none, ok;

	hash = api_body_hash(c, &none);
	if (hash == NULL && !none)
		return;
	if (api_batch_begin(c, x) < 0)
		return;
	ok = directory_account_add(x->dir, c->b.id, &error) == 0;
	if (!ok)
		api_fail_dir(c, "address", error);
	else
		ok = account_changes(c, x, c->b.id, hash) == 0;
	if (api_batch_end(c, x, ok) == 0)
		account_reply(c, x, c->b.id, 201);
}

void
api_account_create(struct api_call *c, struct api_ctx *x)
{
	char domain[256];
	const char *at;

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_ACCOUNT, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "account %s", c->b.id);
	if ((at = strrchr(c->b.id, '@')) == NULL || strcmp(at + 1, domain) != 0) {
		api_fail(c, 400, "address", "%s is not an address of %s", c->b.id, domain);
		return;
	}
	switch (directory_account_get(x->dir, c->b.id, &(struct dir_account){ 0 })) {
	case 1:
		api_fail(c, 409, "address", "account %s exists", c->b.id);
		return;
	case -1:
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	/* The cost of argon2 is paid once the caller is known and the address free. */
	if (c->b.has & API_HAS_PASSWORD)
		api_hash_then(c, account_create_apply);
	else
		account_create_apply(c, x);
}

/* The account of the path (segment 3) in the visible domain: 0, or -1 answered. */
static int
path_account(struct api_call *c, struct api_ctx *x, char *addr)
{
	char domain[256];

	if (api_path_domain(c, x, domain, NULL) < 0 ||
	    api_path_address(c, 3, domain, "account", addr) < 0)
		return -1;
	snprintf(c->object, sizeof(c->object), "account %s", addr);
	switch (directory_account_get(x->dir, addr, &(struct dir_account){ 0 })) {
	case 1:
		return 0;
	case 0:
		return api_fail(c, 404, NULL, "no such account %s", addr);
	default:
		return api_fail(c, 500, NULL, "the directory could not be read");
	}
}

void
api_account_get(struct api_call *c, struct api_ctx *x)
{
	char addr[DIR_ADDR_SIZE];

	if (path_account(c, x, addr) == 0)
		account_reply(c, x, addr, 200);
}

static void
account_update_apply(struct api_call *c, struct api_ctx *x)
{
	const char *hash;
	int none, ok;

	hash = api_body_hash(c, &none);
	if (hash == NULL && !none)
		return;
	if (api_batch_begin(c, x) < 0)
		return;
	ok = account_changes(c, x, c->b.id, hash) == 0;
	if (api_batch_end(c, x, ok) == 0)
		account_reply(c, x, c->b.id, 200);
}

void
api_account_update(struct api_call *c, struct api_ctx *x)
{
	char addr[DIR_ADDR_SIZE];

	if (path_account(c, x, addr) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_ACCOUNT, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	str_copy(c->b.id, addr, sizeof(c->b.id));
	if (c->b.has & API_HAS_PASSWORD)
		api_hash_then(c, account_update_apply);
	else
		account_update_apply(c, x);
}

void
api_account_delete(struct api_call *c, struct api_ctx *x)
{
	char addr[DIR_ADDR_SIZE];
	const char *error;

	if (path_account(c, x, addr) < 0)
		return;
	if (directory_account_del(x->dir, addr, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}

/* ---- aliases ---- */

static json_t *
alias_json(const char *addr, json_t *targets)
{
	json_t *o = json_object();

	json_object_set_new(o, "address", json_string(addr));
	json_object_set_new(o, "targets", targets);
	return o;
}

/* Rows come as (address, target) in address order: one item per address. */
struct alias_walk {
	struct api_pager p;
	char last[DIR_ADDR_SIZE];
	json_t *targets;	/* of last, NULL while it is skipped */
};

static int
list_alias(const char *addr, const char *target, void *ctx)
{
	struct alias_walk *w = ctx;

	if (strcmp(w->last, addr) != 0) {
		int take = api_pager_next(&w->p);
		if (take < 0)
			return 1;
		str_copy(w->last, addr, sizeof(w->last));
		w->targets = NULL;
		if (take > 0) {
			w->targets = json_array();
			json_array_append_new(w->p.items, alias_json(addr, w->targets));
		}
	}
	if (w->targets != NULL)
		json_array_append_new(w->targets, json_string(target));
	return 0;
}

void
api_aliases_list(struct api_call *c, struct api_ctx *x)
{
	struct alias_walk w;
	char domain[256];

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	memset(&w, 0, sizeof(w));
	api_pager_init(&w.p, c);
	api_pager_reply(c, &w.p, directory_alias_foreach(x->dir, domain, list_alias, &w));
}

static int
collect_target(const char *target, void *ctx)
{
	json_array_append_new(ctx, json_string(target));
	return 0;
}

/* The targets of alias addr: an array (empty if it is no alias), or NULL on a database error. */
static json_t *
alias_targets(struct api_ctx *x, const char *addr)
{
	json_t *targets = json_array();

	if (directory_alias_target_foreach(x->dir, addr, collect_target, targets) < 0) {
		json_decref(targets);
		return NULL;
	}
	return targets;
}

/* Replace (or set) the targets of alias addr in a batch; answer status. */
static void
alias_set(struct api_call *c, struct api_ctx *x, const char *addr, int replace, int status)
{
	const char *error;
	json_t *targets;
	int ok = 1;

	if (api_batch_begin(c, x) < 0)
		return;
	if (replace && directory_alias_del(x->dir, addr, NULL, &error) < 0) {
		api_fail_dir(c, NULL, error);
		ok = 0;
	}
	for (size_t i = 0; ok && i < c->b.nlist; i++) {
		if (directory_alias_add(x->dir, addr, c->b.list[i], &error) < 0) {
			api_fail_dir(c, i == 0 && !replace ? "address" : "targets", error);
			ok = 0;
		}
	}
	if (api_batch_end(c, x, ok) < 0)
		return;
	if ((targets = alias_targets(x, addr)) == NULL)
		api_fail(c, 500, NULL, "the directory could not be read");
	else
		api_reply(c, status, alias_json(addr, targets));
}

void
api_alias_create(struct api_call *c, struct api_ctx *x)
{
	char domain[256];
	const char *at;
	json_t *targets;

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_ALIAS, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "alias %s", c->b.id);
	if ((at = strrchr(c->b.id, '@')) == NULL || strcmp(at + 1, domain) != 0) {
		api_fail(c, 400, "address", "%s is not an address of %s", c->b.id, domain);
		return;
	}
	if ((targets = alias_targets(x, c->b.id)) == NULL) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	if (json_array_size(targets) > 0) {
		json_decref(targets);
		api_fail(c, 409, "address", "alias %s exists (PATCH changes its targets)", c->b.id);
		return;
	}
	json_decref(targets);
	alias_set(c, x, c->b.id, 0, 201);
}

/* The alias of the path (segment 3): 0 and its targets, or -1 answered. */
static int
path_alias(struct api_call *c, struct api_ctx *x, char *addr, json_t **targets_r)
{
	char domain[256];

	if (api_path_domain(c, x, domain, NULL) < 0 ||
	    api_path_address(c, 3, domain, "alias", addr) < 0)
		return -1;
	snprintf(c->object, sizeof(c->object), "alias %s", addr);
	if ((*targets_r = alias_targets(x, addr)) == NULL)
		return api_fail(c, 500, NULL, "the directory could not be read");
	if (json_array_size(*targets_r) == 0) {
		json_decref(*targets_r);
		return api_fail(c, 404, NULL, "no such alias %s", addr);
	}
	return 0;
}

void
api_alias_get(struct api_call *c, struct api_ctx *x)
{
	char addr[DIR_ADDR_SIZE];
	json_t *targets;

	if (path_alias(c, x, addr, &targets) == 0)
		api_reply(c, 200, alias_json(addr, targets));
}

void
api_alias_update(struct api_call *c, struct api_ctx *x)
{
	char addr[DIR_ADDR_SIZE];
	json_t *targets;

	if (path_alias(c, x, addr, &targets) < 0)
		return;
	json_decref(targets);
	if (api_body_decode(c->body, API_BODY_ALIAS, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	alias_set(c, x, addr, 1, 200);
}

void
api_alias_delete(struct api_call *c, struct api_ctx *x)
{
	char addr[DIR_ADDR_SIZE];
	const char *error;
	json_t *targets;

	if (path_alias(c, x, addr, &targets) < 0)
		return;
	json_decref(targets);
	if (directory_alias_del(x->dir, addr, NULL, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}
