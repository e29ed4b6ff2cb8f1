/* SPDX-License-Identifier: MIT */
/*
 * api - one call of the admin REST API, as its handlers see it.
 *
 * A call goes through three kinds of thread.  The event loop's reads the
 * request (api_http.c): path, query, bearer token, body (strict JSON,
 * api_json.h), then hands the call to the directory thread.  There, one
 * thread owning the directory handle and the API's store (api_store.h)
 * authenticates the token, checks the admin's role and runs the handler
 * (api_router.c): so directory writes, their fsync and the audit row
 * never block the loop, and no two changes race.  A handler needing
 * argon2 (a login's verification, a password to hash) sets c->slow and
 * c->next: the slow step runs in one of the hash threads, then c->next in
 * the directory thread again.  The loop sends the reply.
 *
 * Roles: a global admin may do everything; a domain admin sees and
 * changes the entries of its domains only.  Whatever is outside them
 * does not exist for it: /domains/{other}/... answers 404 "no such
 * domain", as for a domain that does not exist, so a domain admin cannot
 * learn which other domains the appliance serves.  What no domain admin
 * may do (create or delete domains, change a domain's routing, manage
 * profiles and admins, read the audit log, the queue and the counters) is
 * 403.
 */
#ifndef FACTEUR_API_H
#define FACTEUR_API_H

#include <stddef.h>

#include <jansson.h>

#include "api_json.h"
#include "api_store.h"
#include "store/auth.h"
#include "store/directory.h"

enum api_method { API_GET = 1, API_POST = 2, API_PATCH = 4, API_DELETE = 8, API_OTHER = 16 };

#define API_SEGMENTS_MAX 8
#define API_LIMIT_DEFAULT 100
#define API_LIMIT_MAX 1000

/* What the directory thread owns. */
struct api_ctx {
	struct directory *dir;		/* opened at the first call needing it */
	struct api_store *store;
	long token_lifetime;		/* seconds */
};

struct api_call {
	/* The request, read by the loop. */
	enum api_method method;
	char method_name[16];
	char path[1024];		/* as requested, without the query (printable) */
	char *seg[API_SEGMENTS_MAX];	/* decoded segments after /api/v1/ */
	size_t nseg;
	long offset, limit;
	int has_paging;
	char client[64];
	char *token;			/* the bearer token, NULL if none (wiped when freed) */
	json_t *body;			/* NULL: none, or refused (body_error) */
	int has_body;			/* a body was sent */
	int json_type;			/* it said Content-Type: application/json */
	struct api_error body_error;	/* status 0, or why the body was refused */
	struct api_error query_error;	/* status 0, or why the query was refused */

	/* Who calls, once authenticated. */
	char admin[DIR_ADDR_SIZE];
	int global;
	char token_hash[65];
	long long token_expires;

	/* The answer. */
	int status;
	json_t *reply;			/* the JSON body; NULL for none (204) */
	char allow[64];			/* 405: the Allow header */

	/* The audit of a change. */
	int change;			/* record it */
	char object[512];		/* "account bob@example.org" */

	/* Steps through the hash threads (see above). */
	void (*slow)(struct api_call *c);
	void (*next)(struct api_call *c, struct api_ctx *x);
	struct api_body b;		/* the decoded body, kept between steps */
	struct auth_request *auth;	/* a login being verified */
	char hash[AUTH_HASH_SIZE];	/* the hash the slow step made */
	const char *slow_error;		/* its failure */

	void *http;			/* api_http's own */
};

/* ---- in the directory thread ---- */

/* Run the call: authenticate, route, check the role, run its handler (api_router.c). */
void api_dispatch(struct api_call *c, struct api_ctx *x);
/* Record c in the audit log and the system log, if it is a change. */
void api_audit(struct api_call *c, struct api_ctx *x);

/* Answer status with body (taken; NULL for none); returns 0. */
int api_reply(struct api_call *c, int status, json_t *body);
/* Answer {"error": ..., "field": ...}; returns -1. */
int api_fail(struct api_call *c, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Answer a refusal of the directory (its text, field may be NULL): 500
 * for a database error, 409 when the entry's state is the reason (exists,
 * is a group, is not empty, is used), else 400.
 */
int api_fail_dir(struct api_call *c, const char *field, const char *error);
/*
 * The password hash a body asks to store (accounts and admins): the hash
 * thread's of "password", or "password_hash" once checked.  NULL after
 * answering when it was refused or could not be made; NULL with *none_r 1
 * when the body gave none (api_accounts.c).
 */
const char *api_body_hash(struct api_call *c, int *none_r);
/* A directory batch: a handler's changes as one transaction.  0, or -1 answered. */
int api_batch_begin(struct api_call *c, struct api_ctx *x);
/* Commit when ok, else roll back (the refusal answered stays): 0 once committed, else -1. */
int api_batch_end(struct api_call *c, struct api_ctx *x, int ok);
/* The directory, opened read-write at the first need; NULL after answering 503. */
struct directory *api_dir(struct api_call *c, struct api_ctx *x);

/* A JSON string of s, its bytes above ASCII made '?' if it is not UTF-8. */
json_t *api_json_text(const char *s);
/* "2026-12-01T13:53:31Z", or null for 0. */
json_t *api_time(long long t);
/* A listing's walk: which entries go in the page. */
struct api_pager {
	long offset, limit, index;
	int more;		/* entries after the page */
	json_t *items;
};
void api_pager_init(struct api_pager *p, const struct api_call *c);
/* The next entry: 1 take it, 0 skip it (before offset), -1 stop (the page is full). */
int api_pager_next(struct api_pager *p);
/* The answer of a walk that ended (stop: rc of the foreach; -1 is 500). */
void api_pager_reply(struct api_call *c, struct api_pager *p, int rc);
/* Paging of a listing: {"items": items, "offset": ..., "limit": ..., "next_offset": n|null}. */
json_t *api_page(struct api_call *c, json_t *items, int more);

/* May the caller see domain (normalized)?  1 yes, 0 no (404 answered), -1 (500 answered). */
int api_domain_visible(struct api_call *c, struct api_ctx *x, const char *domain,
    struct dir_domain *d_r);
/*
 * The domain of path segment 1 (/domains/{domain}/...), normalized into
 * out (256 bytes) and visible to the caller (d_r may be NULL): 0, or -1
 * with 404 (or 500) answered.
 */
int api_path_domain(struct api_call *c, struct api_ctx *x, char *out, struct dir_domain *d_r);
/*
 * The address of path segment i, normalized, in domain: 0, else -1 with
 * 404 "no such what" answered (an address of another domain is not in
 * this collection).
 */
int api_path_address(struct api_call *c, size_t i, const char *domain, const char *what,
    char *out);

/* The handlers of each route (api_domains.c, api_objects.c, api_admins.c). */
void api_domains_list(struct api_call *c, struct api_ctx *x);
void api_domain_create(struct api_call *c, struct api_ctx *x);
void api_domain_get(struct api_call *c, struct api_ctx *x);
void api_domain_update(struct api_call *c, struct api_ctx *x);
void api_domain_delete(struct api_call *c, struct api_ctx *x);
void api_accounts_list(struct api_call *c, struct api_ctx *x);
void api_account_create(struct api_call *c, struct api_ctx *x);
void api_account_get(struct api_call *c, struct api_ctx *x);
void api_account_update(struct api_call *c, struct api_ctx *x);
void api_account_delete(struct api_call *c, struct api_ctx *x);
void api_aliases_list(struct api_call *c, struct api_ctx *x);
void api_alias_create(struct api_call *c, struct api_ctx *x);
void api_alias_get(struct api_call *c, struct api_ctx *x);
void api_alias_update(struct api_call *c, struct api_ctx *x);
void api_alias_delete(struct api_call *c, struct api_ctx *x);
void api_groups_list(struct api_call *c, struct api_ctx *x);
void api_group_create(struct api_call *c, struct api_ctx *x);
void api_group_get(struct api_call *c, struct api_ctx *x);
void api_group_update(struct api_call *c, struct api_ctx *x);
void api_group_delete(struct api_call *c, struct api_ctx *x);
void api_group_member_add(struct api_call *c, struct api_ctx *x);
void api_group_member_delete(struct api_call *c, struct api_ctx *x);
void api_resources_list(struct api_call *c, struct api_ctx *x);
void api_resource_create(struct api_call *c, struct api_ctx *x);
void api_resource_get(struct api_call *c, struct api_ctx *x);
void api_resource_update(struct api_call *c, struct api_ctx *x);
void api_resource_delete(struct api_call *c, struct api_ctx *x);
void api_profiles_list(struct api_call *c, struct api_ctx *x);
void api_profile_create(struct api_call *c, struct api_ctx *x);
void api_profile_get(struct api_call *c, struct api_ctx *x);
void api_profile_update(struct api_call *c, struct api_ctx *x);
void api_profile_delete(struct api_call *c, struct api_ctx *x);
void api_admins_list(struct api_call *c, struct api_ctx *x);
void api_admin_create(struct api_call *c, struct api_ctx *x);
void api_admin_get(struct api_call *c, struct api_ctx *x);
void api_admin_update(struct api_call *c, struct api_ctx *x);
void api_admin_delete(struct api_call *c, struct api_ctx *x);
void api_token_create(struct api_call *c, struct api_ctx *x);
void api_token_get(struct api_call *c, struct api_ctx *x);
void api_token_delete_current(struct api_call *c, struct api_ctx *x);
void api_audit_get(struct api_call *c, struct api_ctx *x);
void api_queue_get(struct api_call *c, struct api_ctx *x);
void api_stats_get(struct api_call *c, struct api_ctx *x);

/*
 * Hash b.password (account cost) in a hash thread into c->hash, then run
 * then in the directory thread (c->slow_error set if it failed).
 */
void api_hash_then(struct api_call *c, void (*then)(struct api_call *c, struct api_ctx *x));

#endif
