/* SPDX-License-Identifier: MIT */
/*
 * api_json - strict request bodies of the admin API.  See api_json.h.
 *
 * Each kind of body is a table of its fields; one loop walks the object,
 * finds each key in the table (an unknown key is an error: a misspelt
 * "enabeld" must not be silently ignored), checks the value's JSON type
 * and hands it to the field's decoder.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "lib/mem.h"

enum ftype { T_STRING, T_BOOL, T_INT, T_STRINGS };

enum fid {
	F_ID, F_NAME, F_PROFILE, F_PASSWORD, F_PASSWORD_HASH, F_ENABLED, F_KIND, F_VERIFY,
	F_NEXTHOP, F_CATCHALL, F_LIST, F_DESCRIPTION, F_CAPACITY, F_CATEGORY, F_QUOTA,
	F_RETENTION, F_SCOPE, F_SERVICES, F_GLOBAL,
};

#define NULLABLE 1	/* null means "none" */
#define REQUIRED 2	/* required when the entry is created */

struct field {
	const char *json;
	enum fid id;
	enum ftype type;
	int flags;
};

#define FIELDS_MAX 8

static const struct kind_def {
	struct field f[FIELDS_MAX];
	size_t n;
} kinds[] = {
	[API_BODY_LOGIN] = { {
		{ "admin", F_ID, T_STRING, REQUIRED },
		{ "password", F_PASSWORD, T_STRING, REQUIRED },
	}, 2 },
	[API_BODY_DOMAIN] = { {
		{ "name", F_ID, T_STRING, REQUIRED },
		{ "kind", F_KIND, T_STRING, 0 },
		{ "verify", F_VERIFY, T_STRING, 0 },
		{ "nexthop", F_NEXTHOP, T_STRING, NULLABLE },
		{ "catchall", F_CATCHALL, T_STRING, NULLABLE },
	}, 5 },
	[API_BODY_ACCOUNT] = { {
		{ "address", F_ID, T_STRING, REQUIRED },
		{ "name", F_NAME, T_STRING, NULLABLE },
		{ "profile", F_PROFILE, T_STRING, NULLABLE },
		{ "password", F_PASSWORD, T_STRING, 0 },
		{ "password_hash", F_PASSWORD_HASH, T_STRING, 0 },
		{ "enabled", F_ENABLED, T_BOOL, 0 },
	}, 6 },
	[API_BODY_ALIAS] = { {
		{ "address", F_ID, T_STRING, REQUIRED },
		{ "targets", F_LIST, T_STRINGS, REQUIRED },
	}, 2 },
	[API_BODY_GROUP] = { {
		{ "address", F_ID, T_STRING, REQUIRED },
		{ "kind", F_KIND, T_STRING, 0 },
		{ "name", F_NAME, T_STRING, NULLABLE },
		{ "description", F_DESCRIPTION, T_STRING, NULLABLE },
		{ "members", F_LIST, T_STRINGS, 0 },
	}, 5 },
	[API_BODY_MEMBER] = { {
		{ "address", F_ID, T_STRING, REQUIRED },
	}, 1 },
	[API_BODY_RESOURCE] = { {
		{ "address", F_ID, T_STRING, REQUIRED },
		{ "kind", F_KIND, T_STRING, REQUIRED },
		{ "name", F_NAME, T_STRING, NULLABLE },
		{ "capacity", F_CAPACITY, T_INT, 0 },
		{ "category", F_CATEGORY, T_STRING, NULLABLE },
		{ "description", F_DESCRIPTION, T_STRING, NULLABLE },
		{ "enabled", F_ENABLED, T_BOOL, 0 },
	}, 7 },
	[API_BODY_PROFILE] = { {
		{ "name", F_ID, T_STRING, REQUIRED },
		{ "quota_bytes", F_QUOTA, T_INT, 0 },
		{ "retention_days", F_RETENTION, T_INT, 0 },
		{ "retention_scope", F_SCOPE, T_STRING, 0 },
		{ "services", F_SERVICES, T_STRINGS, 0 },
	}, 5 },
	[API_BODY_ADMIN] = { {
		{ "name", F_ID, T_STRING, REQUIRED },
		{ "password", F_PASSWORD, T_STRING, 0 },
		{ "password_hash", F_PASSWORD_HASH, T_STRING, 0 },
		{ "global", F_GLOBAL, T_BOOL, 0 },
		{ "domains", F_LIST, T_STRINGS, 0 },
	}, 5 },
};

/* Bit of struct api_body's has for each field. */
static const unsigned int has_bit[] = {
	[F_ID] = API_HAS_ID, [F_NAME] = API_HAS_NAME, [F_PROFILE] = API_HAS_PROFILE,
	[F_PASSWORD] = API_HAS_PASSWORD, [F_PASSWORD_HASH] = API_HAS_PASSWORD_HASH,
	[F_ENABLED] = API_HAS_ENABLED, [F_KIND] = API_HAS_KIND, [F_VERIFY] = API_HAS_VERIFY,
	[F_NEXTHOP] = API_HAS_NEXTHOP, [F_CATCHALL] = API_HAS_CATCHALL, [F_LIST] = API_HAS_LIST,
	[F_DESCRIPTION] = API_HAS_DESCRIPTION, [F_CAPACITY] = API_HAS_CAPACITY,
	[F_CATEGORY] = API_HAS_CATEGORY, [F_QUOTA] = API_HAS_QUOTA,
	[F_RETENTION] = API_HAS_RETENTION, [F_SCOPE] = API_HAS_SCOPE,
	[F_SERVICES] = API_HAS_SERVICES, [F_GLOBAL] = API_HAS_GLOBAL,
};

/* Largest quota: what fits in SQLite's integer with room (8 EiB / 2). */
#define QUOTA_MAX (1LL << 62)
#define RETENTION_MAX 36500

int
api_error_set(struct api_error *err, int status, const char *field, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	str_copy(err->field, field != NULL ? field : "", sizeof(err->field));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

json_t *
api_json_parse(const char *body, size_t len, struct api_error *err)
{
	json_error_t jerr;
	json_t *v;

	if (len == 0) {
		api_error_set(err, 400, NULL, "a JSON object is needed as the request body");
		return NULL;
	}
	if (len > API_BODY_MAX) {
		api_error_set(err, 413, NULL, "request body over %d bytes", API_BODY_MAX);
		return NULL;
	}
	/* No JSON_DECODE_ANY, no JSON_ALLOW_NUL: an object or array, no NUL in strings. */
	v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (v == NULL) {
		api_error_set(err, 400, NULL, "bad JSON at line %d column %d: %s", jerr.line,
		    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		api_error_set(err, 400, NULL, "the request body must be a JSON object");
		return NULL;
	}
	return v;
}

static const char *
type_name(enum ftype t)
{
	switch (t) {
	case T_STRING: return "a string";
	case T_BOOL: return "true or false";
	case T_INT: return "an integer";
	case T_STRINGS: return "an array of strings";
	}
	return "?";
}

/* Copy a JSON string of at most size - 1 bytes into out; -1 if longer. */
static int
copy_string(json_t *v, char *out, size_t size)
{
	size_t n = json_string_length(v);

	if (n >= size)
		return -1;
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return 0;
}

/* Lower-case text of a domain or profile name, a domain's trailing dot dropped. */
static int
name_field(json_t *v, const struct field *f, char *out, size_t size, size_t max,
    struct api_error *err)
{
	size_t n;

	if (copy_string(v, out, size) < 0 || strlen(out) > max)
		return api_error_set(err, 400, f->json, "%s: at most %zu characters", f->json, max);
	str_lower(out);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
	if (out[0] == '\0')
		return api_error_set(err, 400, f->json, "%s: empty", f->json);
	return 0;
}

static int
address_field(json_t *v, const struct field *f, char *out, struct api_error *err)
{
	char raw[DIR_ADDR_SIZE];

	if (copy_string(v, raw, sizeof(raw)) < 0 || dir_addr_norm(raw, out) < 0)
		return api_error_set(err, 400, f->json, "%s: not a mail address (local@domain.tld)",
		    f->json);
	return 0;
}

static int
text_field(json_t *v, const struct field *f, char *out, size_t size, struct api_error *err)
{
	if (json_is_null(v)) {
		out[0] = '\0';
		return 0;
	}
	if (copy_string(v, out, size) < 0 || !dir_text_valid(out))
		return api_error_set(err, 400, f->json,
		    "%s: UTF-8 text of at most %zu bytes without control characters", f->json, size - 1);
	return 0;
}

/* The id field: what it names depends on the kind. */
static int
id_field(json_t *v, const struct field *f, struct api_body *b, struct api_error *err)
{
	switch (b->kind) {
	case API_BODY_DOMAIN:
		return name_field(v, f, b->id, sizeof(b->id), 253, err);
	case API_BODY_PROFILE:
		return name_field(v, f, b->id, sizeof(b->id), DIR_NAME_SIZE - 1, err);
	case API_BODY_LOGIN:
	case API_BODY_ADMIN:
		/* As given: the directory normalizes and checks admin names. */
		if (copy_string(v, b->id, sizeof(b->id)) < 0 || b->id[0] == '\0')
			return api_error_set(err, 400, f->json, "%s: 1 to %d characters", f->json,
			    DIR_ADDR_SIZE - 1);
		return 0;
	default:
		return address_field(v, f, b->id, err);
	}
}

static int
kind_field(const char *s, const struct field *f, struct api_body *b, struct api_error *err)
{
	switch (b->kind) {
	case API_BODY_DOMAIN:
		if ((b->kind_value = dir_domain_kind_parse(s)) < 0)
			return api_error_set(err, 400, f->json, "kind: local, relay or backup");
		return 0;
	case API_BODY_GROUP:
		if ((b->kind_value = dir_group_kind_parse(s)) < 0)
			return api_error_set(err, 400, f->json, "kind: list or alias");
		return 0;
	default:
		if ((b->kind_value = dir_resource_kind_parse(s)) < 0)
			return api_error_set(err, 400, f->json, "kind: room or equipment");
		return 0;
	}
}

/* The strings of an array: addresses, domain names or service names. */
static int
list_field(json_t *v, const struct field *f, struct api_body *b, struct api_error *err)
{
	size_t n = json_array_size(v), i;
	json_t *item;

	if (n > API_LIST_MAX)
		return api_error_set(err, 400, f->json, "%s: at most %d items", f->json, API_LIST_MAX);
	b->list = xcalloc(n + 1, sizeof(*b->list));
	json_array_foreach(v, i, item) {
		char buf[DIR_ADDR_SIZE];
		if (!json_is_string(item))
			return api_error_set(err, 400, f->json, "%s: item %zu is not a string", f->json, i);
		if (b->kind == API_BODY_ADMIN) {
			if (name_field(item, f, buf, sizeof(buf), 253, err) < 0)
				return -1;
		} else if (address_field(item, f, buf, err) < 0) {
			return -1;
		}
		for (size_t k = 0; k < b->nlist; k++)
			if (strcmp(b->list[k], buf) == 0)
				return api_error_set(err, 400, f->json, "%s: %s is listed twice", f->json,
				    buf);
		b->list[b->nlist++] = xstrdup(buf);
	}
	return 0;
}

static int
services_field(json_t *v, const struct field *f, struct api_body *b, struct api_error *err)
{
	char joined[512] = "";
	size_t len = 0, i;
	const char *error;
	json_t *item;

	json_array_foreach(v, i, item) {
		if (!json_is_string(item))
			return api_error_set(err, 400, f->json, "services: item %zu is not a string", i);
		if (len + json_string_length(item) + 2 >= sizeof(joined) ||
		    strchr(json_string_value(item), ',') != NULL)
			return api_error_set(err, 400, f->json, "services: names of %s", DIR_SERVICES_ALL);
		len += (size_t)snprintf(joined + len, sizeof(joined) - len, "%s%s", len > 0 ? "," : "",
		    json_string_value(item));
	}
	if (dir_services_norm(joined, b->services, &error) < 0)
		return api_error_set(err, 400, f->json, "services: %s", error);
	return 0;
}

static int
int_field(json_t *v, const struct field *f, long long max, long long *out,
    struct api_error *err)
{
	json_int_t n = json_integer_value(v);

	if (n < 0 || n > max)
		return api_error_set(err, 400, f->json, "%s: 0 to %lld", f->json, max);
	*out = n;
	return 0;
}

static int
field_decode(json_t *v, const struct field *f, struct api_body *b, struct api_error *err)
{
	long long n = 0;

	switch (f->id) {
	case F_ID:
		return id_field(v, f, b, err);
	case F_NAME:
		return text_field(v, f, b->name, sizeof(b->name), err);
	case F_DESCRIPTION:
		return text_field(v, f, b->description, sizeof(b->description), err);
	case F_CATEGORY:
		return text_field(v, f, b->category, sizeof(b->category), err);
	case F_PROFILE:
		if (json_is_null(v))
			return 0;
		if (copy_string(v, b->profile, sizeof(b->profile)) < 0)
			return api_error_set(err, 400, f->json, "profile: at most %d characters",
			    DIR_NAME_SIZE - 1);
		return 0;
	case F_PASSWORD: {
		size_t len = json_string_length(v);
		if (len == 0 || len > API_PASSWORD_MAX)
			return api_error_set(err, 400, f->json, "password: 1 to %d bytes",
			    API_PASSWORD_MAX);
		b->password = xstrndup(json_string_value(v), len);
		return 0;
	}
	case F_PASSWORD_HASH:
		if (copy_string(v, b->password_hash, sizeof(b->password_hash)) < 0 ||
		    b->password_hash[0] == '\0')
			return api_error_set(err, 400, f->json, "password_hash: 1 to %d characters",
			    DIR_HASH_SIZE - 1);
		return 0;
	case F_ENABLED:
		b->enabled = json_is_true(v);
		return 0;
	case F_GLOBAL:
		b->global = json_is_true(v);
		return 0;
	case F_KIND:
		return kind_field(json_string_value(v), f, b, err);
	case F_VERIFY:
		if ((n = dir_verify_parse(json_string_value(v))) < 0)
			return api_error_set(err, 400, f->json, "verify: none, list or probe");
		b->verify = (enum dir_verify)n;
		return 0;
	case F_NEXTHOP:
		if (json_is_null(v))
			return 0;
		if (copy_string(v, b->nexthop, sizeof(b->nexthop)) < 0 || !dir_text_valid(b->nexthop))
			return api_error_set(err, 400, f->json, "nexthop: at most %zu characters",
			    sizeof(b->nexthop) - 1);
		return 0;
	case F_CATCHALL:
		if (json_is_null(v) || json_string_length(v) == 0)
			return 0;
		return address_field(v, f, b->catchall, err);
	case F_LIST:
		return list_field(v, f, b, err);
	case F_SERVICES:
		return services_field(v, f, b, err);
	case F_CAPACITY:
		if (int_field(v, f, DIR_CAPACITY_MAX, &n, err) < 0)
			return -1;
		b->capacity = (int)n;
		return 0;
	case F_QUOTA:
		return int_field(v, f, QUOTA_MAX, &b->quota_bytes, err);
	case F_RETENTION:
		if (int_field(v, f, RETENTION_MAX, &n, err) < 0)
			return -1;
		b->retention_days = (int)n;
		return 0;
	case F_SCOPE:
		if ((n = dir_retention_scope_parse(json_string_value(v))) < 0)
			return api_error_set(err, 400, f->json, "retention_scope: trash or all");
		b->scope = (enum dir_retention_scope)n;
		return 0;
	}
	return api_error_set(err, 400, f->json, "%s: not understood", f->json);
}

static int
type_ok(json_t *v, const struct field *f)
{
	if (json_is_null(v))
		return (f->flags & NULLABLE) != 0;
	switch (f->type) {
	case T_STRING: return json_is_string(v);
	case T_BOOL: return json_is_boolean(v);
	case T_INT: return json_is_integer(v);
	case T_STRINGS: return json_is_array(v);
	}
	return 0;
}

/* What the fields given must agree on. */
static int
body_consistent(const struct api_body *b, int create, struct api_error *err)
{
	if ((b->has & API_HAS_PASSWORD) && (b->has & API_HAS_PASSWORD_HASH))
		return api_error_set(err, 400, "password_hash", "give password or password_hash, not both");
	if (b->kind == API_BODY_ADMIN) {
		if ((b->has & API_HAS_GLOBAL) && b->global && (b->has & API_HAS_LIST) && b->nlist > 0)
			return api_error_set(err, 400, "domains", "a global admin has no list of domains");
		if (create && !((b->has & API_HAS_GLOBAL) && b->global) && b->nlist == 0)
			return api_error_set(err, 400, "domains",
			    "give the admin's domains, or make it global");
		if (!create && (b->has & API_HAS_GLOBAL) && !b->global && b->nlist == 0)
			return api_error_set(err, 400, "domains",
			    "an admin made not global needs its domains");
		if (!create && (b->has & API_HAS_LIST) && b->nlist == 0)
			return api_error_set(err, 400, "domains",
			    "give the admin's domains, or make it global");
	}
	if (b->kind == API_BODY_ALIAS && (b->has & API_HAS_LIST) && b->nlist == 0)
		return api_error_set(err, 400, "targets", "an alias needs at least one target");
	return 0;
}

int
api_body_decode(json_t *obj, enum api_body_kind kind, int create, struct api_body *out,
    struct api_error *err)
{
	const struct kind_def *k = &kinds[kind];
	const char *key;
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	out->enabled = 1;
	if (!json_is_object(obj))
		return api_error_set(err, 400, NULL, "the request body must be a JSON object");
	json_object_foreach(obj, key, v) {
		const struct field *f = NULL;
		for (size_t i = 0; i < k->n; i++)
			if (strcmp(k->f[i].json, key) == 0)
				f = &k->f[i];
		if (f == NULL)
			return api_error_set(err, 400, key, "unknown field");
		if (f->id == F_ID && !create)
			return api_error_set(err, 400, key,
			    "%s names the entry: it cannot be changed (delete and create)", key);
		if (!type_ok(v, f))
			return api_error_set(err, 400, key, "%s must be %s%s", key, type_name(f->type),
			    f->flags & NULLABLE ? " or null" : "");
		if (field_decode(v, f, out, err) < 0)
			return -1;
		out->has |= has_bit[f->id];
	}
	if (create) {
		for (size_t i = 0; i < k->n; i++)
			if ((k->f[i].flags & REQUIRED) && !(out->has & has_bit[k->f[i].id]))
				return api_error_set(err, 400, k->f[i].json, "%s is required", k->f[i].json);
	} else if (out->has == 0) {
		return api_error_set(err, 400, NULL, "no field to change");
	}
	return body_consistent(out, create, err);
}

void
api_body_clear(struct api_body *b)
{
	if (b->password != NULL) {
		explicit_bzero(b->password, strlen(b->password));
		free(b->password);
		b->password = NULL;
	}
	for (size_t i = 0; i < b->nlist; i++)
		free(b->list[i]);
	free(b->list);
	b->list = NULL;
	b->nlist = 0;
}
