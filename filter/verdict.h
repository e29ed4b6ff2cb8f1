/* SPDX-License-Identifier: MIT */
/*
 * verdict - the symbols one message collected and its total score.
 *
 * Every check of the pipeline (rules, antivirus, SPF/DKIM/DMARC, the
 * learned classifier, MIME anomalies) adds named symbols here; the action
 * is decided from the total.  A verdict belongs to one message and is used
 * by one thread at a time.
 */
#ifndef FACTEUR_FILTER_VERDICT_H
#define FACTEUR_FILTER_VERDICT_H

#include <stddef.h>

struct verdict_symbol {
	char *name;		/* "SPF_FAIL", "BAYES_99", a rule name ... */
	double score;
	char *detail;		/* short text for logs and headers, or NULL */
};

struct verdict {
	struct verdict_symbol *syms;
	size_t nsyms, cap;
	double score;		/* sum of the symbols' scores */
};

void verdict_init(struct verdict *v);
/* Add a symbol; a symbol already present is not added twice (first wins). */
void verdict_add(struct verdict *v, const char *name, double score, const char *detail_fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The symbol named name, or NULL. */
const struct verdict_symbol *verdict_find(const struct verdict *v, const char *name);
void verdict_free(struct verdict *v);

#endif
