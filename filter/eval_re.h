/* SPDX-License-Identifier: MIT */
/*
 * eval_re - the compiled literal patterns of the SpamAssassin plugins'
 * code (filter/eval.c, eval_received.c, html_style.c): a pattern is
 * compiled once per process (with PCRE2's JIT), keyed by its address,
 * looked up without a lock, and shared by threads.
 */
#ifndef FACTEUR_FILTER_EVAL_RE_H
#define FACTEUR_FILTER_EVAL_RE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Search s (len bytes) from start with the literal pattern; 1 if found
 * (capture n in ov[2n], ov[2n+1] when ov is given: size_t ov[10], room
 * for 4 groups), 0 if not.  PCRE2's JIT, its interpreter where the JIT's
 * stack is too small.
 */
int eval_re_find_at(const char *pattern, uint32_t options, const char *s, size_t len,
    size_t start, size_t *ov);
/* The same on a C string s from its start (NULL: not found). */
int eval_re_find(const char *pattern, uint32_t options, const char *s, size_t *ov);

/*
 * The compiled pattern (with PCRE2_CODE_UNIT_WIDTH 8 and pcre2.h first);
 * *owned_r set when it could not be kept, the caller frees it.
 */
#ifdef PCRE2_CODE_UNIT_WIDTH
pcre2_code *eval_re_get(const char *pattern, uint32_t options, int *owned_r);
#endif

#endif
