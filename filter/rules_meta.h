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
/*
 * Many metas in one block of memory, in the order they are evaluated,
 * each as a program that stops reading an && or || once its left side
 * decides it: a message evaluates a few hundred metas, each cold in the
 * cache after the scanning.  Same values as rules_meta_eval.
 */
struct rules_meta_pack;

struct rules_meta_pack *rules_meta_pack(const struct rules_meta *const *metas, unsigned int n);
/* values[rule] is each rule's value (a float holds every count exactly). */
double rules_meta_pack_eval(const struct rules_meta_pack *pack, unsigned int i,
    const float *values);
/*
 * Meta i over ranges: each rule's value is in [lo[rule], hi[rule]] (lo ==
 * hi when it is known), and the result holds every value the expression
 * can take for values in those ranges (-INFINITY, INFINITY when nothing
 * is known).  For deciding a meta before every rule it reads is decided:
 * it hits if 0 is out of the result, misses if the result is [0, 0].
 */
struct rules_meta_range {
	double lo, hi;
};

struct rules_meta_range rules_meta_pack_eval_range(const struct rules_meta_pack *pack,
    unsigned int i, const float *lo, const float *hi);
void rules_meta_pack_free(struct rules_meta_pack **pack);
/* The rule indices the expression reads, for ordering metas of metas. */
unsigned int rules_meta_deps(const struct rules_meta *meta, const int **deps_r);
/*
 * Guards: rules one of which is not 0 whenever the expression is not 0
 * (A for A && !B, A and B for (A || B) && C): while none of them hit the
 * meta is 0, whatever the others are.  Their count, or -1 when no such
 * set is known (the expression is not 0 with every rule 0, or reads them
 * through !, comparisons ...).
 */
int rules_meta_guards(const struct rules_meta *meta, const int **guards_r);
void rules_meta_free(struct rules_meta **meta);

#endif
