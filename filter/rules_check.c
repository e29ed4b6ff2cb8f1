/* SPDX-License-Identifier: MIT */
/*
 * rules_check - a report on a compiled rule set, for operators deciding
 * whether a rule set is usable here and for comparing with SpamAssassin.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/mem.h"
#include "filter/rules_check.h"
#include "filter/rules_compile.h"
#include "filter/sa_rules.h"

struct eval_count {
	const char *name;
	unsigned int count;
};

static int
eval_cmp(const void *a, const void *b)
{
	const struct eval_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void
print_evals(const struct sa_rules *sa, const struct rules *r, FILE *out)
{
	struct eval_count *ev = NULL;
	unsigned int n = 0, i, j;

	for (i = 0; i < sa_rules_count(sa); i++) {
		const struct sa_rule *rule = sa_rules_get(sa, i);
		const char *reason;

		if (rules_status(r, i, &reason) != RULES_EVAL)
			continue;
		for (j = 0; j < n && strcmp(ev[j].name, rule->eval) != 0; j++)
			;
		if (j == n) {
			ev = xrealloc(ev, (n + 1) * sizeof(*ev));
			ev[n].name = rule->eval;
			ev[n].count = 0;
			n++;
		}
		ev[j].count++;
	}
	if (n > 1)
		qsort(ev, n, sizeof(*ev), eval_cmp);
	fprintf(out, "eval functions: %u distinct\n", n);
	for (i = 0; i < n; i++)
		fprintf(out, "  %5u %s\n", ev[i].count, ev[i].name);
	free(ev);
}

int
rules_check(const struct rules_check_options *o, FILE *out, const char **error_r)
{
	struct sa_rules *sa = sa_rules_new();
	struct rules_options ro = { .cache_dir = o->cache_dir };
	struct rules_stats st;
	struct rules *r;
	unsigned int i;

	/* The cache is an optimisation: a directory we cannot make only costs time. */
	if (o->cache_dir != NULL && mkdir(o->cache_dir, 0755) < 0 && errno != EEXIST)
		fprintf(out, "warning: cannot create %s: %s\n", o->cache_dir, strerror(errno));
	if ((o->pre_dir != NULL && sa_rules_load_dir(sa, o->pre_dir, ".pre", error_r) < 0) ||
	    sa_rules_load_dir(sa, o->rules_dir, ".cf", error_r) < 0 ||
	    rules_compile(sa, &ro, &r, error_r) < 0) {
		sa_rules_free(&sa);
		return -1;
	}
	rules_get_stats(r, &st);
	fprintf(out, "rules loaded:");
	for (i = 0; i < SA_RULE_TYPE_COUNT; i++)
		fprintf(out, " %s %u", sa_rule_type_name(i), st.loaded[i]);
	fprintf(out, "\n");
	{
		unsigned int total = 0;

		for (i = 0; i < SA_RULE_TYPE_COUNT; i++)
			total += st.loaded[i];
		fprintf(out, "total %u, eval %u, prefiltered %u, PCRE2 only %u, unsupported %u, "
		    "databases %u\n", total, st.eval, st.prefiltered, st.pcre_only, st.unsupported,
		    st.databases);
	}
	fprintf(out, "compile: %.3f s, cache %s\n", st.seconds,
	    o->cache_dir == NULL ? "off" : st.cache_hit ? "hit" : "miss");
	for (i = 0; i < sa_rules_error_count(sa); i++) {
		const struct sa_rule_error *e = sa_rules_error(sa, i);

		fprintf(out, "parse error: %s:%u: %s\n", e->file, e->line, e->message);
	}
	for (i = 0; i < sa_rules_count(sa); i++) {
		const struct sa_rule *rule = sa_rules_get(sa, i);
		const char *reason;
		enum rules_status s = rules_status(r, i, &reason);

		if (s == RULES_UNSUPPORTED)
			fprintf(out, "unsupported: %s:%u: %s %s: %s\n", rule->file, rule->line,
			    sa_rule_type_name(rule->type), rule->name, reason);
		else if (s == RULES_PCRE)
			fprintf(out, "PCRE2 only: %s:%u: %s %s: %s\n", rule->file, rule->line,
			    sa_rule_type_name(rule->type), rule->name, reason);
		else if (s == RULES_PREFILTER && o->verbose)
			fprintf(out, "prefiltered: %s:%u: %s %s%s%s%s\n", rule->file, rule->line,
			    sa_rule_type_name(rule->type), rule->name, reason != NULL ? " (" : "",
			    reason != NULL ? reason : "", reason != NULL ? ")" : "");
	}
	print_evals(sa, r, out);
	rules_free(&r);
	sa_rules_free(&sa);
	return 0;
}
