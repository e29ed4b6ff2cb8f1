/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rules_relax - libFuzzer target for the relaxation of rule patterns
 * (filter/rules_relax.c): the input is a pattern.  Besides not crashing,
 * the relaxed pattern must be what it claims, a superset: on a few
 * subjects (fixed ones and the input itself), whenever PCRE2 matches the
 * original it must match the relaxed pattern too.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filter/rules_relax.h"
#include "lib/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pcre2_code *
compile(const char *p)
{
	int code;
	PCRE2_SIZE off;

	return pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &code, &off,
	    NULL);
}

/* 1 match, 0 none, -1 error (match limit ...). */
static int
match(const pcre2_code *re, pcre2_match_context *mc, const char *s, size_t len)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, mc);

	pcre2_match_data_free(md);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const subjects[] = { "", "a", "aa", "abc abc", "Buy now\nyour password",
		"x\ny", "123 456", "(a)[b]{c}", NULL };
	pcre2_match_context *mc;
	pcre2_code *orig, *relaxed;
	char *pattern, *r;

	if (size > 2048 || memchr(data, '\0', size) != NULL)
		return 0;
	pattern = xmalloc(size + 1);
	memcpy(pattern, data, size);
	pattern[size] = '\0';
	r = rules_relax_pattern(pattern, 0);
	if (r == NULL) {
		free(pattern);
		return 0;
	}
	if ((orig = compile(pattern)) == NULL || (relaxed = compile(r)) == NULL) {
		/* A relaxed pattern PCRE2 refuses is refused by Hyperscan too: no harm. */
		pcre2_code_free(orig);
		free(pattern);
		free(r);
		return 0;
	}
	mc = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(mc, 20000);
	pcre2_set_depth_limit(mc, 2000);
	for (size_t i = 0; i <= sizeof(subjects) / sizeof(subjects[0]) - 1; i++) {
		const char *s = subjects[i] != NULL ? subjects[i] : pattern;
		size_t len = subjects[i] != NULL ? strlen(s) : size;

		if (match(orig, mc, s, len) == 1 && match(relaxed, mc, s, len) == 0)
			abort();	/* the relaxed pattern lost a match */
	}
	pcre2_match_context_free(mc);
	pcre2_code_free(orig);
	pcre2_code_free(relaxed);
	free(pattern);
	free(r);
	return 0;
}
