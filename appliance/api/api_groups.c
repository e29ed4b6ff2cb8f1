/* SPDX-License-Identifier: MIT */
/*
 * api_groups - /api/v1/domains/{domain}/groups and .../resources.
 *
 * A group's members are any addresses, here or elsewhere: PATCH with
 * "members" replaces them all (in one transaction), POST .../members adds
 * one and DELETE .../members/{address} takes one out.  A resource is an
 * account without a password plus what a booking needs to know.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "lib/mem.h"

/* ---- groups ---- */

static int
collect_member(const char *member, void *ctx)
{
	json_array_append_new(ctx, json_string(member));
	return 0;
}

/* The group as JSON, with its members; NULL on a database error. */
static json_t *
group_json(struct api_ctx *x, const struct dir_group *g)
{
	json_t *o = json_object(), *members = json_array();

	json_object_set_new(o, "address", json_string(g->address));
	json_object_set_new(o, "kind", json_string(dir_group_kind_str(g->kind)));
	json_object_set_new(o, "name", g->name[0] != '\0' ? api_json_text(g->name) : json_null());
	json_object_set_new(o, "description", g->description[0] != '\0' ?
	    api_json_text(g->description) : json_null());
	json_object_set_new(o, "members", members);
	if (directory_group_member_foreach(x->dir, g->address, collect_member, members) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct group_walk {
	struct api_pager p;
	struct api_ctx *x;
};

static int
list_group(const struct dir_group *g, void *ctx)
{
	struct group_walk *w = ctx;
	int take = api_pager_next(&w->p);
	json_t *o;

	if (take < 0)
		return 1;
	if (take > 0) {
		if ((o = group_json(w->x, g)) == NULL)
			return -1;
		json_array_append_new(w->p.items, o);
	}
	return 0;
}

void
api_groups_list(struct api_call *c, struct api_ctx *x)
{
	struct group_walk w;
	char domain[256];

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	api_pager_init(&w.p, c);
	w.x = x;
	api_pager_reply(c, &w.p, directory_group_foreach(x->dir, domain, list_group, &w));
}

static void
group_reply(struct api_call *c, struct api_ctx *x, const char *addr, int status)
{
	struct dir_group g;
	json_t *o;

	if (directory_group_get(x->dir, addr, &g) != 1 || (o = group_json(x, &g)) == NULL) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, status, o);
}

static void
group_apply(struct dir_group *g, const struct api_body *b)
{
	if (b->has & API_HAS_KIND)
		g->kind = (enum dir_group_kind)b->kind_value;
	if (b->has & API_HAS_NAME)
		str_copy(g->name, b->name, sizeof(g->name));
	if (b->has & API_HAS_DESCRIPTION)
		str_copy(g->description, b->description, sizeof(g->description));
}

/* Is s one of the body's list? */
static int
listed(const struct api_body *b, const char *s)
{
	for (size_t i = 0; i < b->nlist; i++)
		if (strcmp(b->list[i], s) == 0)
			return 1;
	return 0;
}

struct members {
	char **v;
	size_t n;
};

static int
keep_member(const char *member, void *ctx)
{
	struct members *m = ctx;

	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n++] = xstrdup(member);
	return 0;
}

static void
members_free(struct members *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	free(m->v);
}

/*
 * In the open batch: the members of group become the body's list (those
 * no longer listed go, the new ones come).  0, or -1 answered.
 */
static int
members_replace(struct api_call *c, struct api_ctx *x, const char *group)
{
	struct members cur = { NULL, 0 };
	const char *error;
	int rc = 0;

	if (directory_group_member_foreach(x->dir, group, keep_member, &cur) < 0)
		rc = api_fail(c, 500, NULL, "the directory could not be read");
	for (size_t i = 0; rc == 0 && i < cur.n; i++)
		if (!listed(&c->b, cur.v[i]) &&
		    directory_group_member_del(x->dir, group, cur.v[i], &error) < 0)
			rc = api_fail_dir(c, "members", error);
	for (size_t i = 0; rc == 0 && i < c->b.nlist; i++) {
		int had = 0;
		for (size_t k = 0; k < cur.n; k++)
			had |= strcmp(cur.v[k], c->b.list[i]) == 0;
		if (!had && directory_group_member_add(x->dir, group, c->b.list[i], &error) < 0)
			rc = api_fail_dir(c, "members", error);
	}
	members_free(&cur);
	return rc;
}

void
api_group_create(struct api_call *c, struct api_ctx *x)
{
	struct dir_group g;
	char domain[256];
	const char *at, *error;
	int ok;

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_GROUP, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "group %s", c->b.id);
	if ((at = strrchr(c->b.id, '@')) == NULL || strcmp(at + 1, domain) != 0) {
		api_fail(c, 400, "address", "%s is not an address of %s", c->b.id, domain);
		return;
	}
	memset(&g, 0, sizeof(g));
	str_copy(g.address, c->b.id, sizeof(g.address));
	g.kind = DIR_GROUP_LIST;
	group_apply(&g, &c->b);
	if (api_batch_begin(c, x) < 0)
		return;
	ok = directory_group_add(x->dir, &g, &error) == 0;
	if (!ok)
		api_fail_dir(c, "address", error);
	for (size_t i = 0; ok && i < c->b.nlist; i++)
		if (directory_group_member_add(x->dir, g.address, c->b.list[i], &error) < 0) {
			api_fail_dir(c, "members", error);
			ok = 0;
		}
	if (api_batch_end(c, x, ok) == 0)
		group_reply(c, x, g.address, 201);
}

/* The group of the path (segment 3): 0 and *g, or -1 answered. */
static int
path_group(struct api_call *c, struct api_ctx *x, struct dir_group *g)
{
	char domain[256], addr[DIR_ADDR_SIZE];

	if (api_path_domain(c, x, domain, NULL) < 0 ||
	    api_path_address(c, 3, domain, "group", addr) < 0)
		return -1;
	snprintf(c->object, sizeof(c->object), "group %s", addr);
	switch (directory_group_get(x->dir, addr, g)) {
	case 1:
		return 0;
	case 0:
		return api_fail(c, 404, NULL, "no such group %s", addr);
	default:
		return api_fail(c, 500, NULL, "the directory could not be read");
	}
}

void
api_group_get(struct api_call *c, struct api_ctx *x)
{
	struct dir_group g;

	if (path_group(c, x, &g) == 0)
		group_reply(c, x, g.address, 200);
}

void
api_group_update(struct api_call *c, struct api_ctx *x)
{
	struct dir_group g;
	const char *error;
	int ok = 1;

	if (path_group(c, x, &g) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_GROUP, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	group_apply(&g, &c->b);
	if (api_batch_begin(c, x) < 0)
		return;
	if ((c->b.has & (API_HAS_KIND | API_HAS_NAME | API_HAS_DESCRIPTION)) &&
	    directory_group_update(x->dir, &g, &error) < 0) {
		api_fail_dir(c, NULL, error);
		ok = 0;
	}
	if (ok && (c->b.has & API_HAS_LIST))
		ok = members_replace(c, x, g.address) == 0;
	if (api_batch_end(c, x, ok) == 0)
		group_reply(c, x, g.address, 200);
}

void
api_group_delete(struct api_call *c, struct api_ctx *x)
{
	struct dir_group g;
	const char *error;

	if (path_group(c, x, &g) < 0)
		return;
	if (directory_group_del(x->dir, g.address, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}

void
api_group_member_add(struct api_call *c, struct api_ctx *x)
{
	struct dir_group g;
	const char *error;

	if (path_group(c, x, &g) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_MEMBER, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "group %s member %s", g.address, c->b.id);
	if (directory_group_member_add(x->dir, g.address, c->b.id, &error) < 0) {
		api_fail_dir(c, "address", error);
		return;
	}
	group_reply(c, x, g.address, 201);
}

struct member_find {
	const char *member;
	int found;
};

static int
find_member(const char *member, void *ctx)
{
	struct member_find *f = ctx;

	if (strcmp(member, f->member) == 0)
		f->found = 1;
	return f->found;
}

void
api_group_member_delete(struct api_call *c, struct api_ctx *x)
{
	struct dir_group g;
	char member[DIR_ADDR_SIZE];
	struct member_find f = { member, 0 };
	const char *error;

	if (path_group(c, x, &g) < 0)
		return;
	if (dir_addr_norm(c->seg[5], member) < 0) {
		api_fail(c, 404, NULL, "%s is no member of %s", c->seg[5], g.address);
		return;
	}
	snprintf(c->object, sizeof(c->object), "group %s member %s", g.address, member);
	if (directory_group_member_foreach(x->dir, g.address, find_member, &f) < 0) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	if (!f.found) {
		api_fail(c, 404, NULL, "%s is no member of %s", member, g.address);
		return;
	}
	if (directory_group_member_del(x->dir, g.address, member, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}

/* ---- resources ---- */

static json_t *
resource_json(const struct dir_resource *r)
{
	json_t *o = json_object();

	json_object_set_new(o, "address", json_string(r->address));
	json_object_set_new(o, "kind", json_string(dir_resource_kind_str(r->kind)));
	json_object_set_new(o, "name", r->name[0] != '\0' ? api_json_text(r->name) : json_null());
	json_object_set_new(o, "capacity", json_integer(r->capacity));
	json_object_set_new(o, "category", r->category[0] != '\0' ? api_json_text(r->category) :
	    json_null());
	json_object_set_new(o, "description", r->description[0] != '\0' ?
	    api_json_text(r->description) : json_null());
	json_object_set_new(o, "enabled", json_boolean(r->enabled));
	return o;
}

static int
list_resource(const struct dir_resource *r, void *ctx)
{
	struct api_pager *p = ctx;
	int take = api_pager_next(p);

	if (take > 0)
		json_array_append_new(p->items, resource_json(r));
	return take < 0 ? 1 : 0;
}

void
api_resources_list(struct api_call *c, struct api_ctx *x)
{
	struct api_pager p;
	char domain[256];

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	api_pager_init(&p, c);
	api_pager_reply(c, &p, directory_resource_foreach(x->dir, domain, list_resource, &p));
}

static void
resource_apply(struct dir_resource *r, const struct api_body *b)
{
	if (b->has & API_HAS_KIND)
		r->kind = (enum dir_resource_kind)b->kind_value;
	if (b->has & API_HAS_NAME)
		str_copy(r->name, b->name, sizeof(r->name));
	if (b->has & API_HAS_CAPACITY)
		r->capacity = b->capacity;
	if (b->has & API_HAS_CATEGORY)
		str_copy(r->category, b->category, sizeof(r->category));
	if (b->has & API_HAS_DESCRIPTION)
		str_copy(r->description, b->description, sizeof(r->description));
	if (b->has & API_HAS_ENABLED)
		r->enabled = b->enabled;
}

static void
resource_reply(struct api_call *c, struct api_ctx *x, const char *addr, int status)
{
	struct dir_resource r;

	if (directory_resource_get(x->dir, addr, &r) != 1) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, status, resource_json(&r));
}

void
api_resource_create(struct api_call *c, struct api_ctx *x)
{
	struct dir_resource r;
	char domain[256];
	const char *at, *error;

	if (api_path_domain(c, x, domain, NULL) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_RESOURCE, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "resource %s", c->b.id);
	if ((at = strrchr(c->b.id, '@')) == NULL || strcmp(at + 1, domain) != 0) {
		api_fail(c, 400, "address", "%s is not an address of %s", c->b.id, domain);
		return;
	}
	memset(&r, 0, sizeof(r));
	str_copy(r.address, c->b.id, sizeof(r.address));
	r.enabled = 1;
	resource_apply(&r, &c->b);
	if (directory_resource_add(x->dir, &r, &error) < 0) {
		api_fail_dir(c, "address", error);
		return;
	}
	resource_reply(c, x, r.address, 201);
}

/* The resource of the path (segment 3): 0 and *r, or -1 answered. */
static int
path_resource(struct api_call *c, struct api_ctx *x, struct dir_resource *r)
{
	char domain[256], addr[DIR_ADDR_SIZE];

	if (api_path_domain(c, x, domain, NULL) < 0 ||
	    api_path_address(c, 3, domain, "resource", addr) < 0)
		return -1;
	snprintf(c->object, sizeof(c->object), "resource %s", addr);
	switch (directory_resource_get(x->dir, addr, r)) {
	case 1:
		return 0;
	case 0:
		return api_fail(c, 404, NULL, "no such resource %s", addr);
	default:
		return api_fail(c, 500, NULL, "the directory could not be read");
	}
}

void
api_resource_get(struct api_call *c, struct api_ctx *x)
{
	struct dir_resource r;

	if (path_resource(c, x, &r) == 0)
		api_reply(c, 200, resource_json(&r));
}

void
api_resource_update(struct api_call *c, struct api_ctx *x)
{
	struct dir_resource r;
	const char *error;

	if (path_resource(c, x, &r) < 0)
		return;
	if (api_body_decode(c->body, API_BODY_RESOURCE, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	resource_apply(&r, &c->b);
	if (directory_resource_update(x->dir, &r, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	resource_reply(c, x, r.address, 200);
}

void
api_resource_delete(struct api_call *c, struct api_ctx *x)
{
	struct dir_resource r;
	const char *error;

	if (path_resource(c, x, &r) < 0)
		return;
	if (directory_resource_del(x->dir, r.address, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}
