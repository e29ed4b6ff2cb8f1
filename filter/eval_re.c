/* SPDX-License-Identifier: MIT */
/*
 * eval_re - compiled literal patterns.  See eval_re.h.
 */
#include "facteur-config.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filter/eval_re.h"

/*
 * Compiled once per process, looked up without a lock (every message
 * asks for dozens): an open-addressing table keyed by the literal's
 * address, an entry published by storing its pattern last (release) and
 * read from the pattern first (acquire); entries are never taken out.
 */
#define RE_TABLE_SIZE 1024	/* power of two; the literals of eval*.c are far fewer */

struct re_entry {
	const char *pattern;	/* a literal: compared by address */
	uint32_t options;
	pcre2_code *code;	/* NULL: PCRE2 refused it */
};

static pthread_mutex_t re_lock = PTHREAD_MUTEX_INITIALIZER;
static struct re_entry re_table[RE_TABLE_SIZE];
static size_t re_count;

static pcre2_code *
re_compile(const char *pattern, uint32_t options)
{
	pcre2_code *code;
	int err;
	PCRE2_SIZE off;

	code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &err, &off,
	    NULL);
	/* Called for every message: JIT (the interpreter was a tenth of the filter). */
	if (code != NULL)
		(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	return code;
}

static const struct re_entry *
re_lookup(const char *pattern, uint32_t options, size_t *free_r)
{
	size_t i = (((uintptr_t)pattern >> 3) ^ options * 0x9e3779b1u) & (RE_TABLE_SIZE - 1);

	for (size_t n = 0; n < RE_TABLE_SIZE; n++, i = (i + 1) & (RE_TABLE_SIZE - 1)) {
		const char *p = __atomic_load_n(&re_table[i].pattern, __ATOMIC_ACQUIRE);

		if (p == NULL) {
			if (free_r != NULL)
				*free_r = i;
			return NULL;
		}
		if (p == pattern && re_table[i].options == options)
			return &re_table[i];
	}
	return NULL;
}

/*
 * The compiled form of a literal pattern; *owned_r set when it could not
 * be kept (the table is full): the caller frees it.
 */
pcre2_code *
eval_re_get(const char *pattern, uint32_t options, int *owned_r)
{
	const struct re_entry *e;
	pcre2_code *code;
	size_t slot = RE_TABLE_SIZE;

	*owned_r = 0;
	if ((e = re_lookup(pattern, options, NULL)) != NULL)
		return e->code;
	pthread_mutex_lock(&re_lock);
	if ((e = re_lookup(pattern, options, &slot)) != NULL) {
		pthread_mutex_unlock(&re_lock);
		return e->code;
	}
	code = re_compile(pattern, options);
	if (slot < RE_TABLE_SIZE && re_count < RE_TABLE_SIZE * 3 / 4) {
		re_table[slot].options = options;
		re_table[slot].code = code;
		__atomic_store_n(&re_table[slot].pattern, pattern, __ATOMIC_RELEASE);
		re_count++;
	} else {
		*owned_r = 1;
	}
	pthread_mutex_unlock(&re_lock);
	return code;
}

int
eval_re_find_at(const char *pattern, uint32_t options, const char *s, size_t len, size_t start,
    size_t *ov)
{
	int owned;
	pcre2_code *code = eval_re_get(pattern, options, &owned);
	pcre2_match_data *md;
	int rc;

	if (code == NULL || s == NULL) {
		if (owned)
			pcre2_code_free(code);
		return 0;
	}
	md = pcre2_match_data_create(5, NULL);
	rc = pcre2_match(code, (PCRE2_SPTR)s, len, start, 0, md, NULL);
	/* JIT's stack is bounded: the interpreter decides what it could not. */
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(code, (PCRE2_SPTR)s, len, start, PCRE2_NO_JIT, md, NULL);
	/* 0: a match with more groups than the 5 pairs kept. */
	if (rc == 0)
		rc = 5;
	if (rc > 0 && ov != NULL) {
		PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
		for (int i = 0; i < 10; i++)
			ov[i] = i < 2 * rc ? v[i] : PCRE2_UNSET;
	}
	pcre2_match_data_free(md);
	if (owned)
		pcre2_code_free(code);
	return rc > 0;
}

int
eval_re_find(const char *pattern, uint32_t options, const char *s, size_t *ov)
{
	return eval_re_find_at(pattern, options, s, s != NULL ? strlen(s) : 0, 0, ov);
}

