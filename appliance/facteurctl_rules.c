/* SPDX-License-Identifier: MIT */
/*
 * facteurctl rules check - what the filter makes of the configured
 * SpamAssassin rules: rules loaded per type, prefiltered, unsupported
 * (file:line and why), parse errors, and the eval functions the rules
 * call, by use, with who answers each (eval, auth, bayes) or why none
 * does (network, not implemented).  It reads the rules as the filter does
 * (filter_rules_config's .pre files, each filter_rules item, then
 * filter_rules_config's .cf files) and uses the same compiled-rules cache,
 * so a check after a change also warms the cache for the daemons.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "appliance/facteurctl.h"
#include "filter/eval.h"
#include "filter/rules_compile.h"
#include "filter/sa_rules.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"

struct fn_count {
	const char *name;
	unsigned int count;
};

static int
fn_cmp(const void *a, const void *b)
{
	const struct fn_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int
load_item(const char *item, void *ctx)
{
	struct sa_rules *sa = ctx;
	struct stat st;
	const char *error;

	if (stat(item, &st) < 0) {
		fprintf(stderr, "facteurctl: rules %s: %s\n", item, strerror(errno));
		return 0;
	}
	if (S_ISDIR(st.st_mode) ? sa_rules_load_dir(sa, item, ".cf", &error) :
	    sa_rules_load_file(sa, item, &error))
		fprintf(stderr, "facteurctl: rules %s: %s\n", item, error);
	return 0;
}

static const char *
owner_text(const char *owner)
{
	return owner != NULL ? owner : "not implemented";
}

static int
rules_check_run(int verbose)
{
	struct sa_rules *sa = sa_rules_new();
	struct rules_options ro = { NULL };
	struct rules_stats st;
	struct rules *r;
	struct fn_count *fn = NULL;
	unsigned int nfn = 0, total = 0, done_uses = 0, all_uses = 0;
	char cache[4096];
	const char *error;

	if (var_filter_rules[0] == '\0') {
		fprintf(stderr, "facteurctl: filter_rules is empty: no rules configured\n");
		sa_rules_free(&sa);
		return 1;
	}
	if (var_filter_rules_config[0] != '\0')
		(void)sa_rules_load_dir(sa, var_filter_rules_config, ".pre", &error);
	config_list_foreach(var_filter_rules, load_item, sa);
	if (var_filter_rules_config[0] != '\0')
		(void)sa_rules_load_dir(sa, var_filter_rules_config, ".cf", &error);
	if (var_filter_rules_cache[0] != '\0')
		str_copy(cache, var_filter_rules_cache, sizeof(cache));
	else
		spool_path("rules-cache", cache, sizeof(cache));
	if (mkdir(cache, 0700) == 0 || errno == EEXIST)
		ro.cache_dir = cache;
	if (rules_compile(sa, &ro, &r, &error) < 0) {
		fprintf(stderr, "facteurctl: rules not usable: %s\n", error);
		sa_rules_free(&sa);
		return 1;
	}
	rules_get_stats(r, &st);
	for (unsigned int i = 0; i < SA_RULE_TYPE_COUNT; i++)
		total += st.loaded[i];
	/* eval functions by use */
	for (unsigned int i = 0; i < sa_rules_count(sa); i++) {
		const struct sa_rule *rule = sa_rules_get(sa, i);
		unsigned int j;

		if (rules_status(r, i, NULL) != RULES_EVAL || rule->eval == NULL)
			continue;
		for (j = 0; j < nfn && strcmp(fn[j].name, rule->eval) != 0; j++)
			;
		if (j == nfn) {
			fn = xrealloc(fn, (nfn + 1) * sizeof(*fn));
			fn[nfn].name = rule->eval;
			fn[nfn].count = 0;
			nfn++;
		}
		fn[j].count++;
		all_uses++;
		if (eval_function_owner(rule->eval) != NULL &&
		    strcmp(eval_function_owner(rule->eval), "network") != 0)
			done_uses++;
	}
	if (nfn > 1)
		qsort(fn, nfn, sizeof(*fn), fn_cmp);
	if (ctl_json) {
		int first = 1;

		printf("{\"loaded\":{");
		for (unsigned int i = 0; i < SA_RULE_TYPE_COUNT; i++)
			printf("%s\"%s\":%u", i ? "," : "", sa_rule_type_name(i), st.loaded[i]);
		printf("},\"total\":%u,\"eval\":%u,\"prefiltered\":%u,\"pcre_only\":%u,"
		    "\"unsupported\":%u,\"databases\":%u,\"cache_hit\":%s,\"seconds\":%.3f,",
		    total, st.eval, st.prefiltered, st.pcre_only, st.unsupported, st.databases,
		    st.cache_hit ? "true" : "false", st.seconds);
		printf("\"unsupported_rules\":[");
		for (unsigned int i = 0; i < sa_rules_count(sa); i++) {
			const struct sa_rule *rule = sa_rules_get(sa, i);
			const char *reason;
			if (rules_status(r, i, &reason) != RULES_UNSUPPORTED)
				continue;
			printf("%s{\"name\":", first ? "" : ",");
			ctl_json_string(stdout, rule->name);
			printf(",\"type\":\"%s\",\"file\":", sa_rule_type_name(rule->type));
			ctl_json_string(stdout, rule->file);
			printf(",\"line\":%u,\"reason\":", rule->line);
			ctl_json_string(stdout, reason != NULL ? reason : "");
			printf("}");
			first = 0;
		}
		printf("],\"parse_errors\":[");
		for (unsigned int i = 0; i < sa_rules_error_count(sa); i++) {
			const struct sa_rule_error *e = sa_rules_error(sa, i);
			printf("%s{\"file\":", i ? "," : "");
			ctl_json_string(stdout, e->file);
			printf(",\"line\":%u,\"message\":", e->line);
			ctl_json_string(stdout, e->message);
			printf("}");
		}
		printf("],\"eval_functions\":[");
		for (unsigned int i = 0; i < nfn; i++) {
			const char *o = eval_function_owner(fn[i].name);
			printf("%s{\"name\":", i ? "," : "");
			ctl_json_string(stdout, fn[i].name);
			printf(",\"uses\":%u,\"answered_by\":", fn[i].count);
			if (o != NULL)
				ctl_json_string(stdout, o);
			else
				printf("null");
			printf("}");
		}
		printf("],\"eval_uses\":%u,\"eval_uses_answered\":%u}\n", all_uses, done_uses);
	} else {
		printf("rules loaded:");
		for (unsigned int i = 0; i < SA_RULE_TYPE_COUNT; i++)
			printf(" %s %u", sa_rule_type_name(i), st.loaded[i]);
		printf("\ntotal %u, eval %u, prefiltered %u, PCRE2 only %u, unsupported %u, "
		    "databases %u\n", total, st.eval, st.prefiltered, st.pcre_only, st.unsupported,
		    st.databases);
		printf("compile: %.3f s, cache %s (%s)\n", st.seconds, st.cache_hit ? "hit" : "miss",
		    ro.cache_dir != NULL ? ro.cache_dir : "none");
		for (unsigned int i = 0; i < sa_rules_error_count(sa); i++) {
			const struct sa_rule_error *e = sa_rules_error(sa, i);
			printf("parse error: %s:%u: %s\n", e->file, e->line, e->message);
		}
		for (unsigned int i = 0; i < sa_rules_count(sa); i++) {
			const struct sa_rule *rule = sa_rules_get(sa, i);
			const char *reason;
			enum rules_status s = rules_status(r, i, &reason);
			if (s == RULES_UNSUPPORTED)
				printf("unsupported: %s:%u: %s %s: %s\n", rule->file, rule->line,
				    sa_rule_type_name(rule->type), rule->name, reason != NULL ? reason : "");
			else if (s == RULES_PREFILTER && verbose)
				printf("prefiltered: %s:%u: %s %s%s%s%s\n", rule->file, rule->line,
				    sa_rule_type_name(rule->type), rule->name, reason != NULL ? " (" : "",
				    reason != NULL ? reason : "", reason != NULL ? ")" : "");
		}
		printf("eval functions: %u distinct, %u uses, %u answered without the network\n",
		    nfn, all_uses, done_uses);
		for (unsigned int i = 0; i < nfn; i++)
			printf("  %5u %-45s %s\n", fn[i].count, fn[i].name,
			    owner_text(eval_function_owner(fn[i].name)));
	}
	free(fn);
	rules_free(&r);
	sa_rules_free(&sa);
	return 0;
}

int
ctl_rules(int argc, char **argv)
{
	int verbose = 0;

	if (argc < 1 || strcmp(argv[0], "check") != 0) {
		fprintf(stderr, "usage: facteurctl rules check [-v]\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "-j") == 0)
			ctl_json = 1;
		else {
			fprintf(stderr, "usage: facteurctl rules check [-v]\n");
			return 2;
		}
	}
	return rules_check_run(verbose);
}
