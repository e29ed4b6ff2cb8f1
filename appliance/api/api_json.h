/* SPDX-License-Identifier: MIT */
/*
 * api_json - the admin API's request bodies: strict JSON, and what each
 * kind of body may hold.
 *
 * A body is parsed by jansson refusing duplicate keys (JSON_REJECT_
 * DUPLICATES), NUL in strings, invalid UTF-8, anything after the value
 * and any top level but an object.  It is then decoded against the table
 * of its kind: every field known, of its type, within its bounds, the
 * required ones present; addresses normalized as the directory stores
 * them, display texts checked as the directory checks them.  A refusal
 * names the field: {"error": "...", "field": "..."} with 400.
 *
 * Decoding never touches the directory nor hashes anything: whether an
 * entry exists, a profile is known or a password hash is one this system
 * verifies is the handlers' business.  So decoders run in any thread, and
 * tests/fuzz/fuzz_api_json.c feeds them any bytes.
 */
#ifndef FACTEUR_API_JSON_H
#define FACTEUR_API_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "store/directory.h"

/* The largest body the API reads (a bigger one is 413). */
#define API_BODY_MAX (64 * 1024)
/* A password in a body: at most this many bytes (store/auth.h refuses more). */
#define API_PASSWORD_MAX 1024
/* Items of a list (alias targets, group members, an admin's domains). */
#define API_LIST_MAX 1000

struct api_error {
	int status;		/* an HTTP status: 400 ... */
	char message[256];
	char field[64];		/* "" when the error is about no field */
};

/* Fill err (field may be NULL or ""); returns -1. */
int api_error_set(struct api_error *err, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * The object of body (len bytes, not NUL-terminated), or NULL and *err
 * (400) when it is not one strict JSON object.
 */
json_t *api_json_parse(const char *body, size_t len, struct api_error *err);

/* The kinds of body. */
enum api_body_kind {
	API_BODY_LOGIN,		/* POST /tokens */
	API_BODY_DOMAIN,
	API_BODY_ACCOUNT,
	API_BODY_ALIAS,
	API_BODY_GROUP,
	API_BODY_MEMBER,	/* POST /groups/{address}/members */
	API_BODY_RESOURCE,
	API_BODY_PROFILE,
	API_BODY_ADMIN,
};

/* Bits of struct api_body's has: the fields the body gave. */
#define API_HAS_ID		(1u << 0)	/* address, or the name of a domain/profile/admin */
#define API_HAS_NAME		(1u << 1)	/* display name */
#define API_HAS_PROFILE		(1u << 2)
#define API_HAS_PASSWORD	(1u << 3)
#define API_HAS_PASSWORD_HASH	(1u << 4)
#define API_HAS_ENABLED		(1u << 5)
#define API_HAS_KIND		(1u << 6)
#define API_HAS_VERIFY		(1u << 7)
#define API_HAS_NEXTHOP		(1u << 8)
#define API_HAS_CATCHALL	(1u << 9)
#define API_HAS_LIST		(1u << 10)	/* targets, members or domains */
#define API_HAS_DESCRIPTION	(1u << 11)
#define API_HAS_CAPACITY	(1u << 12)
#define API_HAS_CATEGORY	(1u << 13)
#define API_HAS_QUOTA		(1u << 14)
#define API_HAS_RETENTION	(1u << 15)
#define API_HAS_SCOPE		(1u << 16)
#define API_HAS_SERVICES	(1u << 17)
#define API_HAS_GLOBAL		(1u << 18)

/*
 * A decoded body.  Which fields mean something depends on the kind; a
 * field given as null (where null is allowed: name, profile, catchall,
 * description, category) is in has with an empty value, which the
 * directory takes as "none".
 */
struct api_body {
	enum api_body_kind kind;
	unsigned int has;
	/*
	 * The entry: an address (normalized) for accounts, aliases, groups,
	 * members and resources; the lower-cased name of a domain or a
	 * profile; the name of an admin or of the login's admin as given.
	 */
	char id[DIR_ADDR_SIZE];
	char name[DIR_TEXT_SIZE];
	char profile[DIR_NAME_SIZE];
	char *password;			/* malloc'd, wiped by api_body_clear */
	char password_hash[DIR_HASH_SIZE];
	int enabled;
	int kind_value;			/* enum dir_domain_kind, dir_group_kind, dir_resource_kind */
	enum dir_verify verify;
	char nexthop[300];
	char catchall[DIR_ADDR_SIZE];
	char description[DIR_TEXT_SIZE];
	char category[DIR_TEXT_SIZE];
	int capacity;
	long long quota_bytes;
	int retention_days;
	enum dir_retention_scope scope;
	char services[DIR_SERVICES_SIZE];	/* normalized */
	int global;
	char **list;			/* targets, members (normalized addresses) or domains */
	size_t nlist;
};

/*
 * Decode obj as a body of kind into *out (cleared first; clear it with
 * api_body_clear in any case).  create: a POST making the entry, whose
 * id field is required; else a PATCH, where the id field is refused (an
 * entry is renamed by no API call) and at least one field is needed.
 * 0, or -1 with *err (400).
 */
int api_body_decode(json_t *obj, enum api_body_kind kind, int create, struct api_body *out,
    struct api_error *err);
/* Free the lists, wipe and free the password. */
void api_body_clear(struct api_body *b);

#endif
