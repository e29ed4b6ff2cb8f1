/* SPDX-License-Identifier: MIT */
/*
 * fuzz_api_json - libFuzzer target for the admin API's request bodies
 * (appliance/api/api_json.h): strict JSON parsing, then the decoding of a
 * body of one kind.  The input's first byte chooses the kind (the low
 * nibble; most inputs are an account creation, the body every client
 * script sends) and POST or PATCH (bit 4); the rest is the body.
 *
 * A refusal must be a 400 (or 413) with a message; an accepted body must
 * hold what the decoders promise: NUL-terminated texts within their
 * buffers, addresses normalized (normalizing them again changes nothing),
 * a password of 1 to API_PASSWORD_MAX bytes and never with a
 * password_hash, lists without duplicates, the entry's id present when it
 * is created and absent from a PATCH.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/api/api_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const enum api_body_kind kinds[16] = {
	API_BODY_ACCOUNT, API_BODY_ACCOUNT, API_BODY_ACCOUNT, API_BODY_ACCOUNT,
	API_BODY_ACCOUNT, API_BODY_ACCOUNT, API_BODY_ACCOUNT, API_BODY_ACCOUNT,
	API_BODY_LOGIN, API_BODY_DOMAIN, API_BODY_ALIAS, API_BODY_GROUP,
	API_BODY_MEMBER, API_BODY_RESOURCE, API_BODY_PROFILE, API_BODY_ADMIN,
};

static void
bounded(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

/* Is kind's id an address (normalized by the decoder)? */
static int
address_kind(enum api_body_kind kind)
{
	return kind == API_BODY_ACCOUNT || kind == API_BODY_ALIAS || kind == API_BODY_GROUP ||
	    kind == API_BODY_MEMBER || kind == API_BODY_RESOURCE;
}

static void
normalized(const char *addr)
{
	char again[DIR_ADDR_SIZE];

	if (dir_addr_norm(addr, again) < 0 || strcmp(again, addr) != 0)
		abort();
}

static void
check_accepted(const struct api_body *b, int create)
{
	bounded(b->id, sizeof(b->id));
	bounded(b->name, sizeof(b->name));
	bounded(b->profile, sizeof(b->profile));
	bounded(b->password_hash, sizeof(b->password_hash));
	bounded(b->nexthop, sizeof(b->nexthop));
	bounded(b->catchall, sizeof(b->catchall));
	bounded(b->description, sizeof(b->description));
	bounded(b->category, sizeof(b->category));
	bounded(b->services, sizeof(b->services));
	if (create && b->id[0] == '\0')
		abort();
	if (!create && (b->has & API_HAS_ID))
		abort();
	if (!create && b->has == 0)
		abort();
	if (b->id[0] != '\0' && address_kind(b->kind))
		normalized(b->id);
	if ((b->has & API_HAS_NAME) && !dir_text_valid(b->name))
		abort();
	if (b->catchall[0] != '\0')
		normalized(b->catchall);
	if (b->has & API_HAS_PASSWORD) {
		size_t n = strlen(b->password);
		if (n == 0 || n > API_PASSWORD_MAX || (b->has & API_HAS_PASSWORD_HASH))
			abort();
	} else if (b->password != NULL) {
		abort();
	}
	if (b->nlist > API_LIST_MAX || (b->nlist > 0 && !(b->has & API_HAS_LIST)))
		abort();
	for (size_t i = 0; i < b->nlist; i++) {
		if (b->kind != API_BODY_ADMIN)
			normalized(b->list[i]);
		for (size_t k = 0; k < i; k++)
			if (strcmp(b->list[i], b->list[k]) == 0)
				abort();
	}
	if (b->has & API_HAS_CAPACITY && (b->capacity < 0 || b->capacity > DIR_CAPACITY_MAX))
		abort();
	if (b->quota_bytes < 0 || b->retention_days < 0)
		abort();
	if (b->kind == API_BODY_ADMIN && create && !b->global && b->nlist == 0)
		abort();
}

static void
check_refused(const struct api_error *err)
{
	if ((err->status != 400 && err->status != 413) || err->message[0] == '\0')
		abort();
	bounded(err->message, sizeof(err->message));
	bounded(err->field, sizeof(err->field));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_error err;
	struct api_body b;
	enum api_body_kind kind;
	int create;
	json_t *obj;

	if (size < 1)
		return 0;
	kind = kinds[data[0] & 0x0f];
	create = (data[0] & 0x10) == 0 || kind == API_BODY_LOGIN || kind == API_BODY_MEMBER;
	memset(&err, 0, sizeof(err));
	if ((obj = api_json_parse((const char *)data + 1, size - 1, &err)) == NULL) {
		check_refused(&err);
		return 0;
	}
	if (!json_is_object(obj))
		abort();
	if (api_body_decode(obj, kind, create, &b, &err) == 0)
		check_accepted(&b, create);
	else
		check_refused(&err);
	api_body_clear(&b);
	if (b.password != NULL || b.list != NULL)
		abort();
	json_decref(obj);
	return 0;
}
