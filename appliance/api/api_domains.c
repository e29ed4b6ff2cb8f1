/* SPDX-License-Identifier: MIT */
/*
 * api_domains - /api/v1/domains: the domains facteur accepts mail for.
 *
 * A domain admin lists and reads its own domains, and may change a
 * domain's catch-all; its kind, recipient verification and next hop
 * decide where mail goes, which is the operator's business (403), as are
 * creating and deleting domains (the route is for global admins).
 */
#include "facteur-config.h"

#include <string.h>

#include "api.h"
#include "lib/mem.h"

static json_t *
domain_json(const struct dir_domain *d)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "kind", json_string(dir_domain_kind_str(d->kind)));
	json_object_set_new(o, "verify", json_string(dir_verify_str(d->verify)));
	json_object_set_new(o, "nexthop", d->nexthop[0] != '\0' ? api_json_text(d->nexthop) :
	    json_null());
	json_object_set_new(o, "catchall", d->catchall[0] != '\0' ? json_string(d->catchall) :
	    json_null());
	return o;
}

struct domain_walk {
	struct api_pager p;
	struct directory *dir;
};

static int
list_domain(const struct dir_domain *d, void *ctx)
{
	struct domain_walk *w = ctx;
	int take = api_pager_next(&w->p);

	if (take > 0)
		json_array_append_new(w->p.items, domain_json(d));
	return take < 0 ? 1 : 0;
}

/* A domain admin's domains, one by one from the names the directory gives. */
static int
list_admin_domain(const char *name, void *ctx)
{
	struct domain_walk *w = ctx;
	struct dir_domain d;
	int rc = directory_domain_get(w->dir, name, &d);

	if (rc < 0)
		return -1;
	return rc == 1 ? list_domain(&d, ctx) : 0;
}

void
api_domains_list(struct api_call *c, struct api_ctx *x)
{
	struct domain_walk w;
	int rc;

	api_pager_init(&w.p, c);
	w.dir = x->dir;
	if (c->global)
		rc = directory_domain_foreach(x->dir, list_domain, &w);
	else
		rc = directory_admin_domain_foreach(x->dir, c->admin, list_admin_domain, &w);
	api_pager_reply(c, &w.p, rc);
}

/* Apply the body's fields to d (the kind first: it resets what the kind cannot keep). */
static void
domain_apply(struct dir_domain *d, const struct api_body *b)
{
	if (b->has & API_HAS_KIND)
		dir_domain_set_kind(d, (enum dir_domain_kind)b->kind_value);
	if (b->has & API_HAS_VERIFY)
		d->verify = b->verify;
	if (b->has & API_HAS_NEXTHOP)
		str_copy(d->nexthop, b->nexthop, sizeof(d->nexthop));
	if (b->has & API_HAS_CATCHALL)
		str_copy(d->catchall, b->catchall, sizeof(d->catchall));
}

/* Which field a refusal of the directory is about, from its text. */
static const char *
domain_error_field(const char *error)
{
	if (strstr(error, "catch-all") != NULL)
		return "catchall";
	if (strstr(error, "next hop") != NULL)
		return "nexthop";
	if (strstr(error, "verification") != NULL)
		return "verify";
	if (strstr(error, "bad domain name") != NULL)
		return "name";
	return NULL;
}

void
api_domain_create(struct api_call *c, struct api_ctx *x)
{
	struct dir_domain d;
	const char *error;

	if (api_body_decode(c->body, API_BODY_DOMAIN, 1, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	snprintf(c->object, sizeof(c->object), "domain %s", c->b.id);
	memset(&d, 0, sizeof(d));
	str_copy(d.name, c->b.id, sizeof(d.name));
	d.kind = DIR_DOMAIN_LOCAL;
	domain_apply(&d, &c->b);
	if (directory_domain_add(x->dir, &d, &error) < 0) {
		api_fail_dir(c, domain_error_field(error), error);
		return;
	}
	if (directory_domain_get(x->dir, d.name, &d) != 1) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, 201, domain_json(&d));
}

void
api_domain_get(struct api_call *c, struct api_ctx *x)
{
	struct dir_domain d;
	char name[256];

	if (api_path_domain(c, x, name, &d) < 0)
		return;
	api_reply(c, 200, domain_json(&d));
}

void
api_domain_update(struct api_call *c, struct api_ctx *x)
{
	struct dir_domain d;
	char name[256];
	const char *error;

	if (api_path_domain(c, x, name, &d) < 0)
		return;
	snprintf(c->object, sizeof(c->object), "domain %s", name);
	if (api_body_decode(c->body, API_BODY_DOMAIN, 0, &c->b, &c->body_error) < 0) {
		api_fail(c, 400, c->body_error.field, "%s", c->body_error.message);
		return;
	}
	if (!c->global && (c->b.has & (API_HAS_KIND | API_HAS_VERIFY | API_HAS_NEXTHOP))) {
		api_fail(c, 403, c->b.has & API_HAS_KIND ? "kind" : c->b.has & API_HAS_VERIFY ?
		    "verify" : "nexthop", "only global admins may change where a domain's mail goes");
		return;
	}
	domain_apply(&d, &c->b);
	if (directory_domain_update(x->dir, &d, &error) < 0) {
		api_fail_dir(c, domain_error_field(error), error);
		return;
	}
	if (directory_domain_get(x->dir, name, &d) != 1) {
		api_fail(c, 500, NULL, "the directory could not be read");
		return;
	}
	api_reply(c, 200, domain_json(&d));
}

void
api_domain_delete(struct api_call *c, struct api_ctx *x)
{
	char name[256];
	const char *error;

	if (api_path_domain(c, x, name, NULL) < 0)
		return;
	snprintf(c->object, sizeof(c->object), "domain %s", name);
	if (directory_domain_del(x->dir, name, &error) < 0) {
		api_fail_dir(c, NULL, error);
		return;
	}
	api_reply(c, 204, NULL);
}
