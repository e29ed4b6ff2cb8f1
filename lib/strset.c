/* SPDX-License-Identifier: MIT */
/*
 * strset - distinct strings with a seeded hash index.  See strset.h.
 */
#include "facteur-config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "strset.h"

static uint64_t hash_seed;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void
hash_seed_init(void)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	hash_seed = seed;
}

/* FNV-1a from a random basis, then a final mix so that the low bits depend on every byte. */
uint64_t
str_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h;

	pthread_once(&hash_once, hash_seed_init);
	h = 0xcbf29ce484222325ULL ^ hash_seed;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* The slot holding s, or the free one where it would go (nslot > 0). */
static size_t *
slot_of(const struct strset *set, const char *s, size_t len)
{
	size_t mask = set->nslot - 1, i = (size_t)str_hash(s, len) & mask;

	while (set->slot[i] != 0) {
		size_t k = set->slot[i] - 1;

		if (set->len[k] == len && memcmp(set->v[k], s, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return &set->slot[i];
}

long
strset_find(const struct strset *set, const char *s, size_t len)
{
	size_t *slot;

	if (set->nslot == 0)
		return -1;
	slot = slot_of(set, s, len);
	return *slot != 0 ? (long)(*slot - 1) : -1;
}

int
strset_add(struct strset *set, const char *s, size_t len, size_t *index_r)
{
	size_t *slot;

	/* at most half full: probe runs stay short */
	if (2 * (set->n + 1) > set->nslot) {
		size_t n = set->nslot != 0 ? 2 * set->nslot : 16;

		free(set->slot);
		set->slot = xcalloc(n, sizeof(*set->slot));
		set->nslot = n;
		for (size_t k = 0; k < set->n; k++)
			*slot_of(set, set->v[k], set->len[k]) = k + 1;
		set->v = xrealloc(set->v, n / 2 * sizeof(*set->v));
		set->len = xrealloc(set->len, n / 2 * sizeof(*set->len));
	}
	slot = slot_of(set, s, len);
	if (*slot != 0) {
		if (index_r != NULL)
			*index_r = *slot - 1;
		return 0;
	}
	set->v[set->n] = xmemdup0(s, len);
	set->len[set->n] = len;
	*slot = ++set->n;
	if (index_r != NULL)
		*index_r = set->n - 1;
	return 1;
}

void
strset_free(struct strset *set)
{
	for (size_t k = 0; k < set->n; k++)
		free(set->v[k]);
	free(set->v);
	free(set->len);
	free(set->slot);
	memset(set, 0, sizeof(*set));
}
