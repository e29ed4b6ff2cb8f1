/* SPDX-License-Identifier: MIT */
/*
 * rules_relax - a Perl regular expression loosened so that Hyperscan can
 * take it as a prefilter of the original.
 *
 * Every match of the original is a match of the result: anchors (^ $ \A
 * \z \Z \G) and look-arounds match no text and are dropped, and
 * back-references become any text.  Dropping a condition can only add
 * matches, so the result is a prefilter PCRE2 confirms, usually far
 * tighter than the one Hyperscan derives from a pattern it cannot take
 * (which may let every message through).
 */
#ifndef FACTEUR_FILTER_RULES_RELAX_H
#define FACTEUR_FILTER_RULES_RELAX_H

/*
 * The relaxed pattern (free it), or NULL when nothing was changed or the
 * pattern is beyond this simple reading: extended mode (its comments),
 * \Q...\E, an unterminated class or group, a quantifier left without
 * the atom it applied to.  Atomic groups become plain groups (which can
 * only match more).
 */
char *rules_relax_pattern(const char *pattern, int extended);

/*
 * The same with the anchors Hyperscan knows kept (^ $ \A \z \Z, which
 * it reads as PCRE2 does, multi-line or not): a tighter superset, for
 * Hyperscan to try first.  \G and look-arounds are still dropped.
 */
char *rules_relax_anchored(const char *pattern, int extended);

/*
 * The same pattern for PCRE2 with its repeated groups written once:
 * every (?:...) group of at least min_len bytes that appears twice, or is
 * repeated by a quantifier ({5}, {2,}), becomes a subroutine call
 * (?&facteur_fN) to a (?(DEFINE)...) group at the end, the longest first.
 * PCRE2 (like Perl since 5.10, and PCRE2 since 10.30: calls are not
 * atomic) matches the same texts, and the compiled pattern no longer
 * holds each copy, which is what makes ReplaceTags' letter-by-letter
 * patterns or (?:...){5} of a long tag too large for it (its 64 KB
 * limit).  NULL when nothing was factored, or for what this reading
 * leaves alone: back-references, subroutines and conditions already
 * there, inline options, \Q...\E, verbs.
 */
char *rules_factor_pattern(const char *pattern, size_t min_len);

/*
 * A superset of pattern (one rules_relax_pattern() made: no look-around,
 * anchor or back-reference) for Hyperscan, for patterns that spell each
 * letter as the alternation of its look-alikes in UTF-8 (ReplaceTags'
 * letter tags): every byte from 0x80 in a class becomes the range
 * \x80-\xff, and a group, branch or run that can only match such bytes
 * becomes [\x80-\xff]{lo,hi} with its length bounds; the branches of an
 * alternation that are such runs become one run, identical branches are
 * kept once.  A group that is an alternation of digit strings (the letters'
 * numeric character references, &#(?:1(?:013|108)|400);) becomes
 * [0-9]{lo,hi}, [0-9a-fA-FxX]{lo,hi} right after &# when it has
 * hexadecimal ones.  Other ASCII text is left exactly as it was, so the
 * prefilter stays as tight there as the pattern.  NULL when there was
 * nothing to widen or the pattern is beyond this reading.
 */
char *rules_widen_pattern(const char *pattern);

/*
 * For a pattern that is one group repeated at least once, (?:X){3},
 * (?:X){2,5} or (?:X)+, a copy of X: every match of the pattern ends with
 * a match of X, so the lines where X matches are the only ones where the
 * pattern can (Hyperscan takes X where it finds (?:X){5} too large).
 * NULL for any other pattern, or an extended (/x) one.
 */
char *rules_repeat_part(const char *pattern, int extended);

/* The least count of that repeat ({3}: 3, {2,5}: 2, +: 1), or 0 for any other pattern. */
unsigned int rules_repeat_min(const char *pattern, int extended);

/*
 * A superset of pattern with every bounded range {n,m} made {n,}: what
 * Hyperscan finds too large to unroll it takes as a loop.  NULL when
 * there is no such range, or for \Q.
 */
char *rules_unbound_pattern(const char *pattern);

/*
 * What every match of pattern starts with: the optional atoms at the end
 * of each branch dropped, a repeat there cut to its least count, a group
 * there done the same way: (?:a|b)c(?:d\s?e?|f)? gives (?:a|b)c.  So
 * the lines where it matches hold those where pattern does.  NULL when
 * nothing was dropped, or a branch would be left empty (it would match
 * everywhere), or for what this reading does not know (\Q).
 */
char *rules_prefix_pattern(const char *pattern);

/*
 * The pattern read backwards: it matches the reverse of a text exactly
 * where pattern matches the text (from its end back to its start), the
 * matches read backwards, under multi-line matching (^ and $ swap, as \A
 * and \z do).  Possessive repeats and atomic groups become plain ones,
 * which can only add matches.  So a scan of a line reversed gives where
 * pattern's matches start.  NULL for what cannot be reversed this way:
 * look-arounds, back-references, \Z, \G, \K, \R, \X, conditions,
 * recursion, comments, option settings without a group ((?i)), \Q;
 * extended mode is not read.
 */
char *rules_reverse_pattern(const char *pattern);

/*
 * Patterns whose union matches what pattern does (n_r of them, two or
 * more; free each and the array): its branches if it is an alternation,
 * else the sequence once for each branch of its longest plain group of
 * branches (looking into plain groups of one branch), a(?:b|c)d giving
 * a(?:b)d and a(?:c)d.  Hyperscan takes the
 * pieces of a pattern it finds too large.  NULL when there is no such
 * group, or for what a split could change or this reading does not know:
 * back-references and calls, (?i) without a group, \Q.
 */
char **rules_split_pattern(const char *pattern, size_t *n_r);

/*
 * The pattern made unable to match a line end (\n) anywhere, and the same
 * as before on text without one: \s, \v, \H, \W and \D become
 * [^\S\n] ..., a negated class gets \n, in a class those escapes,
 * [:space:], [:cntrl:] and a range over \n become what they match but \n
 * (\s: \t\x0b\f\r\x20, bytes), a class with a negated POSIX class a
 * group of classes.  A body rule is tried on each paragraph
 * of the text apart; facteur's stream holds them as lines, so with this
 * Hyperscan can no longer match across two of them.  NULL when nothing
 * changed, or for what cannot be written so (a line end the pattern
 * spells out, \R, \X, \C, \p, (?s) in the pattern, extended mode with
 * a comment, \Q, a verb such as (*MARK:name)) or this reading does not
 * know.
 */
char *rules_line_pattern(const char *pattern, int extended);

/*
 * 1 when every match of pattern is one of a few fixed strings of byte
 * sets, none able to start inside another (nor itself) or where another
 * of a different length starts, and none holding a line end: then the
 * match ends Hyperscan reports without HS_FLAG_SINGLEMATCH are, one for
 * one, the matches Perl's while (/.../g) finds line by line, and a
 * tflags multiple rule can be counted from them (e/, (?:e|\xc3\xa9)).
 * Read: literals, escapes of one byte, \d \w \s, classes without POSIX
 * names, groups with branches; anything else (quantifiers, anchors, .)
 * gives 0.  caseless: the i flag.
 */
int rules_disjoint_matches(const char *pattern, int caseless);

#endif
