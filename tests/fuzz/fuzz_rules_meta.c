/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rules_meta - libFuzzer target for the meta expression compiler
 * (rules_meta_compile) and its evaluators.  The input is an expression;
 * names of one letter A-H are rules 0-7, other names unknown.  Each rule
 * gets a range of values from the expression's own bytes; the stack
 * program and the packed one (short-circuit && and ||) must give the
 * same value, inside the packed program's range, for values at the ends
 * and the middle of those ranges; and with its guards (rules_meta_guards)
 * at 0, the expression is 0.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/rules_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NRULES 8

static struct rules_meta_range ranges[NRULES];
static double point[NRULES];

static int
resolve(void *context, const char *name)
{
	(void)context;
	return name[0] >= 'A' && name[0] <= 'H' && name[1] == '\0' ? name[0] - 'A' : -1;
}

static double
value(void *context, int rule)
{
	(void)context;
	return point[rule];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_meta_range r;
	struct rules_meta_pack *pack;
	const struct rules_meta *metas[1];
	struct rules_meta *meta;
	const char *error;
	float lo[NRULES], hi[NRULES];
	const int *guards;
	int nguards;
	unsigned int seed = 0;
	char *expr;

	if (size > 4096)
		return 0;
	expr = malloc(size + 1);
	memcpy(expr, data, size);
	expr[size] = '\0';
	meta = rules_meta_compile(expr, resolve, NULL, &error);
	free(expr);
	if (meta == NULL)
		return 0;
	for (size_t i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	for (int k = 0; k < NRULES; k++) {
		ranges[k].lo = (seed >> (k * 3)) % 3;
		ranges[k].hi = ranges[k].lo + (seed >> (k * 3 + 2)) % 3;
		lo[k] = (float)ranges[k].lo;
		hi[k] = (float)ranges[k].hi;
	}
	metas[0] = meta;
	pack = rules_meta_pack(metas, 1);
	r = rules_meta_pack_eval_range(pack, 0, lo, hi);
	nguards = rules_meta_guards(meta, &guards);
	/* A few assignments: the corners and the middle of each range. */
	for (int a = 0; a < 3; a++) {
		float fv[NRULES];
		double x, y;

		for (int k = 0; k < NRULES; k++) {
			point[k] = a == 0 ? ranges[k].lo : a == 1 ? ranges[k].hi :
			    (double)(long)((ranges[k].lo + ranges[k].hi) / 2);
			fv[k] = (float)point[k];
		}
		x = rules_meta_eval(meta, value, NULL);
		y = rules_meta_pack_eval(pack, 0, fv);
		if (x != y && !(x != x && y != y))
			abort();
		if (x == x && (x < r.lo || x > r.hi))
			abort();
		/* The same point with the guards 0: the expression 0. */
		if (nguards >= 0) {
			for (int k = 0; k < nguards; k++)
				point[guards[k]] = 0;
			x = rules_meta_eval(meta, value, NULL);
			if (x != 0)
				abort();
		}
	}
	(void)rules_meta_at_zero(meta);
	rules_meta_pack_free(&pack);
	rules_meta_free(&meta);
	return 0;
}
