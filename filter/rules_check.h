/* SPDX-License-Identifier: MIT */
/*
 * rules_check - load a SpamAssassin rule set, compile it, and print what
 * became of it: rules per class, prefiltered and unsupported rules (file,
 * line, reason), eval functions by use, parse errors, time, cache hit or
 * miss.  For filter/rules_check now and `facteurctl rules check` later.
 */
#ifndef FACTEUR_FILTER_RULES_CHECK_H
#define FACTEUR_FILTER_RULES_CHECK_H

#include <stdio.h>

struct rules_check_options {
	const char *pre_dir;	/* .pre files (loadplugin) read first, or NULL */
	const char *rules_dir;	/* .cf files */
	const char *cache_dir;	/* NULL: no cache */
	int verbose;		/* list every prefiltered rule too */
};

/* 0 if the rules could be loaded, -1 with error_r if not. */
int rules_check(const struct rules_check_options *options, FILE *out, const char **error_r);

#endif
