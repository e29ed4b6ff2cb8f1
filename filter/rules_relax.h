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
 * the atom it applied to.
 */
char *rules_relax_pattern(const char *pattern, int extended);

#endif
