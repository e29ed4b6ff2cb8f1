/* SPDX-License-Identifier: MIT */
/*
 * rules_meta - SpamAssassin meta expressions: rule names, numbers, !,
 * unary -, * /, + -, comparisons, && and ||, parentheses, with Perl's
 * precedence.  Compiled once at load into a small stack program so that
 * evaluating a meta per message costs no parsing.
 */
#ifndef FACTEUR_FILTER_RULES_META_H
#define FACTEUR_FILTER_RULES_META_H

struct rules_meta;

/*
 * resolve gives a name's rule index, or -1 for a name no rule has (it
 * then counts as 0, as in SpamAssassin).  NULL with error_r on a syntax
 * error.
 */
struct rules_meta *rules_meta_compile(const char *expr,
    int (*resolve)(void *context, const char *name), void *context, const char **error_r);
/* value gives a rule's value: its hit count (more than 1 for tflags multiple). */
double rules_meta_eval(const struct rules_meta *meta,
    double (*value)(void *context, int rule), void *context);
/*
 * Its value when none of the rules it reads hit, worked out at compile:
 * in most messages most metas read no rule that hit.
 */
double rules_meta_at_zero(const struct rules_meta *meta);
/* The rule indices the expression reads, for ordering metas of metas. */
unsigned int rules_meta_deps(const struct rules_meta *meta, const int **deps_r);
void rules_meta_free(struct rules_meta **meta);

#endif
