/* SPDX-License-Identifier: MIT */
/*
 * strset - distinct strings in the order they were added, found by a hash.
 *
 * For the sets a message fills (the URIs of an HTML part, their
 * canonical forms): a sender decides how many entries there are, so
 * adding one must not cost a walk of the others.  The hash is seeded at
 * random once per process, as Postfix seeds its tables, so that a sender
 * cannot choose keys that all fall in one chain.
 */
#ifndef FACTEUR_STRSET_H
#define FACTEUR_STRSET_H

#include <stddef.h>
#include <stdint.h>

struct strset {
	char **v;		/* the strings, NUL-ended, in the order added */
	size_t *len;		/* their lengths (a string may hold NUL bytes) */
	size_t n;
	size_t *slot;		/* 1 + an index of v, 0 for a free slot */
	size_t nslot;		/* a power of two, or 0 */
};

/* Zeroed is empty. */
#define STRSET_INIT { NULL, NULL, 0, NULL, 0 }

/*
 * Add the len bytes at s unless they are there: 1 added, 0 there already.
 * The index of the entry in v goes to *index_r when it is not NULL.
 */
int strset_add(struct strset *set, const char *s, size_t len, size_t *index_r);
/* The index of s in v, or -1. */
long strset_find(const struct strset *set, const char *s, size_t len);
void strset_free(struct strset *set);

/* 64-bit hash of len bytes, seeded at random on first use in the process. */
uint64_t str_hash(const void *data, size_t len);

#endif
