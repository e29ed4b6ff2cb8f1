/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rules_relax - libFuzzer target for the rewriting of rule patterns
 * (filter/rules_relax.c): the input is a pattern.  Besides not crashing,
 * each rewrite must be what it claims, on a few subjects (fixed ones and
 * the input itself): whenever PCRE2 matches the original it must match
 * the relaxed and the widened patterns too (supersets), and the factored
 * pattern must match exactly where the original does (the same texts).
 * The parts a repeated group's lines are found by (the group, what its
 * matches start with, ranges unbounded) must match where it does.  A
 * pattern read backwards must match each subject read backwards over
 * every span the pattern matches there (multi-line, as body rules are).
 * A pattern made unable to match a line end must match as the pattern
 * does on each line, and never over a line end.  A pattern said to have
 * disjoint matches must have them, one length from each place.
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

static const char *const subjects[] = { "", "a", "aa", "abc abc", "Buy now\nyour password",
	"x\ny", "123 456", "(a)[b]{c}", "abcabcabc abab", "y\xc3\xbd" "ur \xd0\xb0" "cc\xce\xbf" "unt",
	"\xff\x80\xe2\x80\xa6-", "&#1013;a &#x3f2;&#x4AB;\xd0\xb0 &#2035;\xc3\xa9",
	"your name: __ city / phone, Please send\nname (first)_____ city", NULL };

/* A match context with limits, so that no pattern times the target out. */
static pcre2_match_context *
limited(void)
{
	pcre2_match_context *mc = pcre2_match_context_create(NULL);

	pcre2_set_match_limit(mc, 20000);
	pcre2_set_depth_limit(mc, 2000);
	return mc;
}

/* Subject i: a fixed one, or the pattern itself past the last. */
static const char *
subject(size_t i, const char *pattern, size_t size, size_t *len_r)
{
	*len_r = subjects[i] != NULL ? strlen(subjects[i]) : size;
	return subjects[i] != NULL ? subjects[i] : pattern;
}

/* 1 match (its span in span_r), 0 none, -1 error (match limit ...). */
static int
match(const pcre2_code *re, pcre2_match_context *mc, const char *s, size_t len,
    size_t span_r[2])
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, mc);

	if (rc >= 0) {
		span_r[0] = pcre2_get_ovector_pointer(md)[0];
		span_r[1] = pcre2_get_ovector_pointer(md)[1];
	}
	pcre2_match_data_free(md);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* rewritten against the original on every subject; same: exact, else a superset. */
static void
check(const char *pattern, size_t size, const char *rewritten, int same)
{
	pcre2_match_context *mc;
	pcre2_code *orig, *re;

	if ((orig = compile(pattern)) == NULL || (re = compile(rewritten)) == NULL) {
		/*
		 * A relaxed pattern PCRE2 refuses is refused by Hyperscan too, a
		 * factored one leaves the rule as it was: no harm.
		 */
		pcre2_code_free(orig);
		return;
	}
	mc = limited();
	for (size_t i = 0; i <= sizeof(subjects) / sizeof(subjects[0]) - 1; i++) {
		size_t len, a[2] = { 0, 0 }, b[2] = { 0, 0 };
		const char *s = subject(i, pattern, size, &len);
		int ra = match(orig, mc, s, len, a), rb = match(re, mc, s, len, b);

		if (ra == 1 && rb == 0)
			abort();	/* a match lost */
		if (same && ra >= 0 && rb >= 0 && (ra != rb || a[0] != b[0] || a[1] != b[1]))
			abort();	/* the factored pattern matches elsewhere */
	}
	pcre2_match_context_free(mc);
	pcre2_code_free(orig);
	pcre2_code_free(re);
}

/*
 * reversed against pattern: wherever PCRE2 matches pattern on a subject,
 * the DFA matcher (which gives every match length from a start) must
 * find reversed on the subject reversed, from the match's end to its
 * start.
 */
static void
check_reverse(const char *pattern, size_t size, const char *reversed)
{
	uint32_t opts = PCRE2_CASELESS | PCRE2_MULTILINE;
	pcre2_match_context *mc;
	pcre2_match_data *md;
	pcre2_code *orig, *re;
	int code, ws[4096];
	PCRE2_SIZE off;

	orig = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
	/* ^ after a last newline too, as $ matches before a first one (and Hyperscan's ^). */
	re = pcre2_compile((PCRE2_SPTR)reversed, PCRE2_ZERO_TERMINATED, opts | PCRE2_ALT_CIRCUMFLEX,
	    &code, &off, NULL);
	if (orig == NULL || re == NULL) {
		/* Hyperscan refuses what PCRE2 does: the line is searched whole. */
		pcre2_code_free(orig);
		pcre2_code_free(re);
		return;
	}
	mc = limited();
	md = pcre2_match_data_create(64, NULL);
	for (size_t i = 0; i <= sizeof(subjects) / sizeof(subjects[0]) - 1; i++) {
		size_t len, a[2] = { 0, 0 };
		const char *s = subject(i, pattern, size, &len);
		char *rev;
		int rc, found = 0;

		if (match(orig, mc, s, len, a) != 1)
			continue;
		rev = xmalloc(len + 1);
		for (size_t j = 0; j < len; j++)
			rev[j] = s[len - 1 - j];
		rc = pcre2_dfa_match(re, (PCRE2_SPTR)rev, len, len - a[1], PCRE2_ANCHORED, md, mc,
		    ws, sizeof(ws) / sizeof(ws[0]));
		free(rev);
		if (rc == PCRE2_ERROR_NOMATCH)
			abort();	/* a start lost */
		if (rc <= 0)
			continue;	/* more lengths than kept, or a limit */
		for (int k = 0; k < rc; k++)
			if (pcre2_get_ovector_pointer(md)[2 * k + 1] == len - a[0])
				found = 1;
		if (!found && rc < 64)
			abort();	/* matched, never over that span */
	}
	pcre2_match_data_free(md);
	pcre2_match_context_free(mc);
	pcre2_code_free(orig);
	pcre2_code_free(re);
}

/*
 * line (rules_line_pattern()) against pattern: on each line of every
 * subject the two match alike, over the same span; on a whole subject
 * line's match holds no line end.
 */
static void
check_line(const char *pattern, size_t size, const char *line)
{
	uint32_t opts = PCRE2_CASELESS | PCRE2_MULTILINE;
	pcre2_match_context *mc;
	pcre2_code *orig, *re;
	int code;
	PCRE2_SIZE off;

	orig = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
	re = pcre2_compile((PCRE2_SPTR)line, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
	if (orig == NULL) {
		pcre2_code_free(re);
		return;
	}
	/* A rewrite of a pattern PCRE2 takes is one too (if not too large now). */
	if (re == NULL && code != PCRE2_ERROR_PATTERN_TOO_LARGE)
		abort();
	if (re == NULL) {
		pcre2_code_free(orig);
		return;
	}
	mc = limited();
	for (size_t i = 0; i <= sizeof(subjects) / sizeof(subjects[0]) - 1; i++) {
		size_t len, a[2], b[2], start = 0;
		const char *s = subject(i, pattern, size, &len);
		int rb = match(re, mc, s, len, b);

		if (rb == 1 && memchr(s + b[0], '\n', b[1] - b[0]) != NULL)
			abort();	/* across a line end */
		while (start <= len) {
			const char *nl = memchr(s + start, '\n', len - start);
			size_t end = nl != NULL ? (size_t)(nl - s) : len;
			int ra = match(orig, mc, s + start, end - start, a);

			rb = match(re, mc, s + start, end - start, b);
			if (ra >= 0 && rb >= 0 && (ra != rb || (ra == 1 && (a[0] != b[0] ||
			    a[1] != b[1]))))
				abort();	/* not the same on a line */
			start = end + 1;
		}
	}
	pcre2_match_context_free(mc);
	pcre2_code_free(orig);
	pcre2_code_free(re);
}

/*
 * A pattern rules_disjoint_matches() takes: on every subject, each place
 * it can match from has one length of match (PCRE2's DFA matcher finds
 * them all), holding no line end, ending before the next such place;
 * so Hyperscan's ends (one per place) are as many as Perl's /g matches.
 */
static void
check_disjoint(const char *pattern, size_t size, int caseless)
{
	uint32_t opts = caseless ? PCRE2_CASELESS : 0;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_code *re;
	int code, ws[1000];
	PCRE2_SIZE off;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
	if (re == NULL)
		return;
	md = pcre2_match_data_create(8, NULL);
	mc = limited();
	for (size_t i = 0; i <= sizeof(subjects) / sizeof(subjects[0]) - 1; i++) {
		size_t len, prev_end = 0, places = 0, perl = 0, at = 0;
		const char *s = subject(i, pattern, size, &len);
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

		for (size_t k = 0; k < len; k++) {
			int rc = pcre2_dfa_match(re, (PCRE2_SPTR)s, len, k, PCRE2_ANCHORED, md, mc,
			    ws, sizeof(ws) / sizeof(ws[0]));

			if (rc == PCRE2_ERROR_NOMATCH || rc < -1)
				continue;
			if (rc != 1 || ov[1] == ov[0])
				abort();	/* two lengths from one place, or an empty match */
			if (memchr(s + ov[0], '\n', ov[1] - ov[0]) != NULL)
				abort();	/* over a line end */
			if (places > 0 && k < prev_end)
				abort();	/* starts inside the previous match */
			prev_end = ov[1];
			places++;
		}
		while (at < len && pcre2_match(re, (PCRE2_SPTR)s, len, at, 0, md, mc) > 0) {
			perl++;
			at = ov[1] > at ? ov[1] : at + 1;
		}
		if (perl != places)
			abort();
	}
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
}

/* The pieces against the pattern: on every subject, some piece matches iff it does. */
static void
check_split(const char *pattern, size_t size, const char *const *v, size_t n)
{
	pcre2_match_context *mc;
	pcre2_code *orig, **re;

	if ((orig = compile(pattern)) == NULL)
		return;
	re = xcalloc(n, sizeof(*re));
	for (size_t k = 0; k < n; k++)
		if ((re[k] = compile(v[k])) == NULL)
			abort();	/* a piece of a pattern PCRE2 takes is one too */
	mc = limited();
	for (size_t i = 0; i <= sizeof(subjects) / sizeof(subjects[0]) - 1; i++) {
		size_t len, a[2];
		const char *s = subject(i, pattern, size, &len);
		int ro = match(orig, mc, s, len, a), any = 0, err = ro < 0;

		for (size_t k = 0; k < n; k++) {
			int rk = match(re[k], mc, s, len, a);

			any |= rk == 1;
			err |= rk < 0;
		}
		if (!err && any != ro)
			abort();	/* the union is not the pattern */
	}
	pcre2_match_context_free(mc);
	for (size_t k = 0; k < n; k++)
		pcre2_code_free(re[k]);
	free(re);
	pcre2_code_free(orig);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *pattern, *r;

	if (size > 2048 || memchr(data, '\0', size) != NULL)
		return 0;
	pattern = xmalloc(size + 1);
	memcpy(pattern, data, size);
	pattern[size] = '\0';
	/* With its anchors: a superset too. */
	{
		char *a = rules_relax_anchored(pattern, 0);

		if (a != NULL)
			check(pattern, size, a, 0);
		free(a);
	}
	if ((r = rules_relax_pattern(pattern, 0)) != NULL)
		check(pattern, size, r, 0);
	/* Widened after relaxing, as the compiler does: a superset too. */
	{
		char *w = rules_widen_pattern(r != NULL ? r : pattern);

		if (w != NULL)
			check(pattern, size, w, 0);
		free(w);
	}
	free(r);
	/* A repeated group's part, as the compiler takes it for body rules. */
	if ((r = rules_repeat_part(pattern, 0)) != NULL) {
		char *pre = rules_prefix_pattern(r), *u;

		check(pattern, size, r, 0);
		if ((u = rules_unbound_pattern(r)) != NULL)
			check(pattern, size, u, 0);
		free(u);
		/* Where its matches start, as the compiler finds them. */
		if ((u = rules_reverse_pattern(r)) != NULL)
			check_reverse(r, strlen(r), u);
		free(u);
		if (pre != NULL) {
			check(pattern, size, pre, 0);
			if ((u = rules_unbound_pattern(pre)) != NULL)
				check(pattern, size, u, 0);
			free(u);
		}
		free(pre);
		free(r);
	}
	if ((r = rules_prefix_pattern(pattern)) != NULL) {
		check(pattern, size, r, 0);
		free(r);
	}
	if ((r = rules_unbound_pattern(pattern)) != NULL) {
		check(pattern, size, r, 0);
		free(r);
	}
	if ((r = rules_reverse_pattern(pattern)) != NULL) {
		check_reverse(pattern, size, r);
		free(r);
	}
	if ((r = rules_line_pattern(pattern, 0)) != NULL) {
		check_line(pattern, size, r);
		free(r);
	}
	{
		size_t n;
		char **v = rules_split_pattern(pattern, &n);

		/* The compiler takes 64 pieces at most (more would only time the check out). */
		if (v != NULL) {
			if (n <= 64)
				check_split(pattern, size, (const char *const *)v, n);
			for (size_t i = 0; i < n; i++)
				free(v[i]);
			free(v);
		}
	}
	if (rules_disjoint_matches(pattern, 0))
		check_disjoint(pattern, size, 0);
	if (rules_disjoint_matches(pattern, 1))
		check_disjoint(pattern, size, 1);
	/* Groups of 4 bytes and more, so that short inputs are factored too. */
	if ((r = rules_factor_pattern(pattern, 4)) != NULL) {
		check(pattern, size, r, 1);
		free(r);
	}
	free(pattern);
	return 0;
}
