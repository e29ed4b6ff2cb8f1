/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sa_rules - libFuzzer target for the SpamAssassin rule file reader:
 * the input is a rule file, read after a loadplugin of ReplaceTags so
 * its substitution runs too, and every rule and error is checked to be
 * whole (names, patterns and files NUL-terminated, lines in range).
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/sa_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink;

static void
touch(const char *s)
{
	/* Read every byte, so ASan checks the whole string. */
	if (s == NULL)
		return;
	while (*s != '\0')
		sink ^= (unsigned char)*s++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sa_rules *r = sa_rules_new();
	unsigned int i, lines = 1;
	unsigned char digest[32];
	char *buf;

	/* Exactly size bytes, so ASan sees any read past the end. */
	buf = xmalloc(size > 0 ? size : 1);
	memcpy(buf, data, size);
	for (i = 0; i < size; i++)
		lines += buf[i] == '\n';
	sa_rules_add_plugin(r, "Mail::SpamAssassin::Plugin::ReplaceTags");
	sa_rules_parse(r, "fuzz.cf", buf, size);
	sa_rules_finish(r);
	for (i = 0; i < sa_rules_count(r); i++) {
		const struct sa_rule *rule = sa_rules_get(r, i);

		touch(rule->name);
		touch(rule->pattern);
		touch(rule->header);
		touch(rule->eval);
		touch(rule->eval_args);
		touch(rule->meta);
		touch(rule->describe);
		touch(rule->tflags);
		touch(rule->if_unset);
		if (sa_rules_find(r, rule->name) != (int)i || rule->type >= SA_RULE_TYPE_COUNT)
			abort();
		if (rule->defined && (strcmp(rule->file, "fuzz.cf") != 0 || rule->line < 1 ||
		    rule->line > lines))
			abort();
		sink ^= sa_rule_score(rule, i) != 0;
	}
	for (i = 0; i < sa_rules_error_count(r); i++) {
		const struct sa_rule_error *e = sa_rules_error(r, i);

		touch(e->message);
		if (e->line > lines)
			abort();
	}
	sa_rules_digest(r, digest);
	sa_rules_free(&r);
	free(buf);
	return 0;
}
