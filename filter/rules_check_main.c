/* SPDX-License-Identifier: MIT */
/*
 * rules_check - print what the rules compiler makes of a SpamAssassin
 * rule directory (see rules_check.h).
 *
 *   rules_check [-v] [-p PRE_DIR] [-c CACHE_DIR] RULES_DIR
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "filter/rules_check.h"

int
main(int argc, char **argv)
{
	struct rules_check_options o = { 0 };
	const char *error;
	int c;

	while ((c = getopt(argc, argv, "vp:c:")) != -1) {
		switch (c) {
		case 'v': o.verbose = 1; break;
		case 'p': o.pre_dir = optarg; break;
		case 'c': o.cache_dir = optarg; break;
		default:
			fprintf(stderr, "usage: rules_check [-v] [-p PRE_DIR] [-c CACHE_DIR] RULES_DIR\n");
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: rules_check [-v] [-p PRE_DIR] [-c CACHE_DIR] RULES_DIR\n");
		return 2;
	}
	o.rules_dir = argv[optind];
	if (rules_check(&o, stdout, &error) < 0) {
		fprintf(stderr, "rules_check: %s\n", error);
		return 1;
	}
	return 0;
}
