/* SPDX-License-Identifier: MIT */
/*
 * test_sa_rules - the SpamAssassin rule file reader (filter/sa_rules.h):
 * a table of rule lines with what each must give (type, header and
 * modifiers, pattern, flags, eval function, score), then overrides,
 * conditionals, ReplaceTags, and malformed lines reported with file:line.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/mem.h"
#include "filter/sa_rules.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

struct rule_case {
	const char *text;
	const char *name;
	enum sa_rule_type type;
	const char *header;	/* NULL: none */
	unsigned int mods;
	int negate, exists;
	const char *pattern;	/* NULL: none */
	unsigned int flags;
	const char *eval;	/* NULL: not eval */
	const char *meta;
};

static const struct rule_case rule_cases[] = {
	{ "header SUBJ_X Subject =~ /^hello/i", "SUBJ_X", SA_RULE_HEADER, "Subject", 0, 0, 0,
	    "^hello", SA_RE_CASELESS, NULL, NULL },
	{ "header NOT_X From !~ m{\\@example\\.com}", "NOT_X", SA_RULE_HEADER, "From", 0, 1, 0,
	    "\\@example\\.com", 0, NULL, NULL },
	{ "header RAW_X Subject:raw =~ /=\\?utf-8\\?/", "RAW_X", SA_RULE_HEADER, "Subject",
	    SA_HDR_RAW, 0, 0, "=\\?utf-8\\?", 0, NULL, NULL },
	{ "header ADDR_X From:addr =~ /\\@foo\\.com$/", "ADDR_X", SA_RULE_HEADER, "From",
	    SA_HDR_ADDR, 0, 0, "\\@foo\\.com$", 0, NULL, NULL },
	{ "header NAME_X From:name:raw =~ /bar/", "NAME_X", SA_RULE_HEADER, "From",
	    SA_HDR_NAME | SA_HDR_RAW, 0, 0, "bar", 0, NULL, NULL },
	{ "header ALL_X ALL =~ /^X-Foo: /ms", "ALL_X", SA_RULE_HEADER, "ALL", 0, 0, 0, "^X-Foo: ",
	    SA_RE_MULTILINE | SA_RE_DOTALL, NULL, NULL },
	{ "header TOCC_X ToCc =~ /a/", "TOCC_X", SA_RULE_HEADER, "ToCc", 0, 0, 0, "a", 0, NULL,
	    NULL },
	{ "header EXISTS_X exists:X-Mailer", "EXISTS_X", SA_RULE_HEADER, "X-Mailer", 0, 0, 1, NULL,
	    0, NULL, NULL },
	{ "header EVAL_X eval:check_for_missing_to_header()", "EVAL_X", SA_RULE_HEADER, NULL, 0,
	    0, 0, NULL, 0, "check_for_missing_to_header", NULL },
	{ "body BODY_X /free\\s+money/i", "BODY_X", SA_RULE_BODY, NULL, 0, 0, 0, "free\\s+money",
	    SA_RE_CASELESS, NULL, NULL },
	{ "body BODY_M m!a/b!x", "BODY_M", SA_RULE_BODY, NULL, 0, 0, 0, "a/b", SA_RE_EXTENDED,
	    NULL, NULL },
	{ "body BODY_SLASH /a\\/b/", "BODY_SLASH", SA_RULE_BODY, NULL, 0, 0, 0, "a/b", 0, NULL,
	    NULL },
	{ "body BODY_NEST m{a{2,3}}", "BODY_NEST", SA_RULE_BODY, NULL, 0, 0, 0, "a{2,3}", 0, NULL,
	    NULL },
	{ "body BODY_EVAL eval:check_body_length('500')", "BODY_EVAL", SA_RULE_BODY, NULL, 0, 0,
	    0, NULL, 0, "check_body_length", NULL },
	{ "rawbody RAW_B /<html>/i", "RAW_B", SA_RULE_RAWBODY, NULL, 0, 0, 0, "<html>",
	    SA_RE_CASELESS, NULL, NULL },
	{ "uri URI_X /^https?:\\/\\/bit\\.ly\\//", "URI_X", SA_RULE_URI, NULL, 0, 0, 0,
	    "^https?://bit\\.ly/", 0, NULL, NULL },
	{ "full FULL_X /\\nReceived: /s", "FULL_X", SA_RULE_FULL, NULL, 0, 0, 0,
	    "\\nReceived: ", SA_RE_DOTALL, NULL, NULL },
	{ "meta META_X (A && !B) || C > 1", "META_X", SA_RULE_META, NULL, 0, 0, 0, NULL, 0, NULL,
	    "(A && !B) || C > 1" },
	{ "body HASH_X /a\\#b/ # comment", "HASH_X", SA_RULE_BODY, NULL, 0, 0, 0, "a#b", 0, NULL,
	    NULL },
	{ "body CONT_X /abc\\\n def/", "CONT_X", SA_RULE_BODY, NULL, 0, 0, 0, "abc def", 0, NULL,
	    NULL },
};

static void
test_rule_table(void **state)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(rule_cases); i++) {
		const struct rule_case *c = &rule_cases[i];
		struct sa_rules *r = sa_rules_new();
		const struct sa_rule *rule;
		int idx;

		sa_rules_parse(r, "t.cf", c->text, strlen(c->text));
		if (sa_rules_error_count(r) != 0)
			fail_msg("%s: %s", c->text, sa_rules_error(r, 0)->message);
		idx = sa_rules_find(r, c->name);
		assert_true(idx >= 0);
		rule = sa_rules_get(r, (unsigned int)idx);
		assert_true(rule->defined);
		assert_int_equal(rule->type, c->type);
		if (c->header != NULL)
			assert_string_equal(rule->header, c->header);
		assert_int_equal(rule->header_mods, c->mods);
		assert_int_equal(rule->negate, c->negate);
		assert_int_equal(rule->exists, c->exists);
		if (c->pattern != NULL)
			assert_string_equal(rule->pattern, c->pattern);
		else
			assert_null(rule->pattern);
		assert_int_equal(rule->flags, c->flags);
		if (c->eval != NULL)
			assert_string_equal(rule->eval, c->eval);
		else
			assert_null(rule->eval);
		if (c->meta != NULL)
			assert_string_equal(rule->meta, c->meta);
		assert_string_equal(rule->file, "t.cf");
		assert_int_equal(rule->line, 1);
		sa_rules_free(&r);
	}
}

static const struct sa_rule *
get(struct sa_rules *r, const char *name)
{
	int idx = sa_rules_find(r, name);

	if (idx < 0)
		fail_msg("no rule %s", name);
	return sa_rules_get(r, (unsigned int)idx);
}

static void
parse(struct sa_rules *r, const char *file, const char *text)
{
	sa_rules_parse(r, file, text, strlen(text));
}

static void
test_scores_and_text(void **state)
{
	struct sa_rules *r = sa_rules_new();
	const struct sa_rule *rule;

	parse(r, "a.cf",
	    "score ONE 2.5\n"
	    "score FOUR 1 2 3 -4.5\n"
	    "body ONE /one/\n"
	    "body FOUR /four/\n"
	    "body __SUB /sub/\n"
	    "body T_TEST /t/\n"
	    "body PLAIN /p/\n"
	    "body NICE /n/\n"
	    "tflags NICE nice learn\n"
	    "describe ONE The first rule\n"
	    "lang fr describe ONE La premiere\n");
	assert_int_equal(sa_rules_error_count(r), 0);
	rule = get(r, "ONE");
	assert_true(rule->has_score);
	assert_true(sa_rule_score(rule, 0) == 2.5 && sa_rule_score(rule, 3) == 2.5);
	assert_string_equal(rule->describe, "The first rule");
	rule = get(r, "FOUR");
	assert_true(sa_rule_score(rule, 1) == 2 && sa_rule_score(rule, 3) == -4.5);
	assert_true(sa_rule_score(get(r, "__SUB"), 0) == 0);
	assert_true(sa_rule_score(get(r, "T_TEST"), 0) == 0.01);
	assert_true(sa_rule_score(get(r, "PLAIN"), 0) == 1);
	assert_true(sa_rule_score(get(r, "NICE"), 0) == -1);
	assert_string_equal(get(r, "NICE")->tflags, "nice learn");
	sa_rules_free(&r);
}

static void
test_override(void **state)
{
	struct sa_rules *r = sa_rules_new();
	const struct sa_rule *rule;

	parse(r, "a.cf", "body X /old/\nscore X 3\ndescribe X old\n");
	parse(r, "b.cf", "\n\nheader X Subject =~ /new/i\nscore X 4\n");
	rule = get(r, "X");
	assert_int_equal(rule->type, SA_RULE_HEADER);
	assert_string_equal(rule->pattern, "new");
	assert_string_equal(rule->file, "b.cf");
	assert_int_equal(rule->line, 3);
	assert_true(sa_rule_score(rule, 0) == 4);
	assert_string_equal(rule->describe, "old");
	assert_int_equal(sa_rules_count(r), 1);
	sa_rules_free(&r);
}

static void
test_conditionals(void **state)
{
	struct sa_rules *r = sa_rules_new();

	parse(r, "init.pre", "loadplugin Mail::SpamAssassin::Plugin::Have\n");
	parse(r, "c.cf",
	    "ifplugin Mail::SpamAssassin::Plugin::Have\n"
	    "body HAVE /a/\n"
	    "else\n"
	    "body HAVE_ELSE /a/\n"
	    "endif\n"
	    "ifplugin Mail::SpamAssassin::Plugin::Missing\n"
	    "body MISSING /a/\n"
	    "  ifplugin Mail::SpamAssassin::Plugin::Have\n"
	    "  body NESTED /a/\n"
	    "  endif\n"
	    "else\n"
	    "body MISSING_ELSE /a/\n"
	    "endif\n"
	    "if (version >= 3.004000)\n"
	    "body VERSION /a/\n"
	    "endif\n"
	    "if version > 9.0\n"
	    "body FUTURE /a/\n"
	    "endif\n"
	    "if can(Mail::SpamAssassin::Conf::feature_unknown_thing)\n"
	    "body CAN_UNKNOWN /a/\n"
	    "endif\n"
	    "if can(Mail::SpamAssassin::Conf::feature_bug6558_free)\n"
	    "body CAN_KNOWN /a/\n"
	    "endif\n"
	    "if !plugin(Mail::SpamAssassin::Plugin::Missing) && plugin(Mail::SpamAssassin::Plugin::Have)\n"
	    "body NOT_PLUGIN /a/\n"
	    "endif\n");
	assert_int_equal(sa_rules_error_count(r), 0);
	assert_true(sa_rules_find(r, "HAVE") >= 0);
	assert_true(sa_rules_find(r, "HAVE_ELSE") < 0);
	assert_true(sa_rules_find(r, "MISSING") < 0);
	assert_true(sa_rules_find(r, "NESTED") < 0);
	assert_true(sa_rules_find(r, "MISSING_ELSE") >= 0);
	assert_true(sa_rules_find(r, "VERSION") >= 0);
	assert_true(sa_rules_find(r, "FUTURE") < 0);
	assert_true(sa_rules_find(r, "CAN_UNKNOWN") < 0);
	assert_true(sa_rules_find(r, "CAN_KNOWN") >= 0);
	assert_true(sa_rules_find(r, "NOT_PLUGIN") >= 0);
	sa_rules_free(&r);
}

static void
test_replace_tags(void **state)
{
	struct sa_rules *r = sa_rules_new();

	sa_rules_add_plugin(r, "Mail::SpamAssassin::Plugin::ReplaceTags");
	parse(r, "r.cf",
	    "replace_tag A [a4]\n"
	    "replace_tag B [b8]\n"
	    "replace_tag AB (?:<A>|<B>)\n"
	    "replace_tag ABX (?:<AB><A>|x)\n"
	    "replace_inter SP \\s?\n"
	    "replace_post P2 {1,2}\n"
	    "body TAGGED /<inter SP><A><B>x<A>/\n"
	    "body NESTED /<post P2>y<ABX>z<Q>/\n"
	    "body UNTAGGED /<A>/\n"
	    "replace_rules TAGGED\n"
	    "replace_rules NESTED\n");
	sa_rules_finish(r);
	/*
	 * The plugin splits the pattern on <...> elements and puts inter in
	 * every empty element: between adjacent tags and before a leading one.
	 */
	assert_string_equal(get(r, "TAGGED")->pattern, "\\s?[a4]\\s?[b8]x[a4]");
	/*
	 * Tags made of tags are expanded pass after pass; post goes around the
	 * elements of the first pass only, unknown <Q> included.
	 */
	assert_string_equal(get(r, "NESTED")->pattern, "y(?:(?:[a4]|[b8])[a4]|x){1,2}z<Q>{1,2}");
	assert_string_equal(get(r, "UNTAGGED")->pattern, "<A>");
	/* Tags that nest without end stop growing at a bound. */
	parse(r, "bomb.cf",
	    "replace_tag L <M><M><M><M><M><M><M><M><M><M>\n"
	    "replace_tag M <N><N><N><N><N><N><N><N><N><N>\n"
	    "replace_tag N <L><L><L><L><L><L><L><L><L><L>\n"
	    "body BOMB /<L>/\n"
	    "replace_rules BOMB\n");
	sa_rules_finish(r);
	assert_true(strlen(get(r, "BOMB")->pattern) < 2 * 1024 * 1024);
	assert_non_null(strstr(get(r, "BOMB")->pattern, "<"));
	sa_rules_finish(r);
	assert_string_equal(get(r, "TAGGED")->pattern, "\\s?[a4]\\s?[b8]x[a4]");
	sa_rules_free(&r);
}

/* \A and \z of a body or rawbody rule are the ends of each line facteur scans. */
static void
test_line_ends(void **state)
{
	struct sa_rules *r = sa_rules_new();

	(void)state;
	parse(r, "e.cf",
	    "body TRACKER /^[a-z0-9]{6,24}\\s*\\z/is\n"
	    "rawbody RAW /\\Afoo|bar\\Z/\n"
	    "body KEPT /[\\A\\z]\\\\A\\Q\\A\\E[]\\z][[:alpha:]\\z]x/\n"
	    "header HDR Subject =~ /\\Afoo\\z/\n"
	    "full FULL /\\Afoo/\n");
	sa_rules_finish(r);
	assert_string_equal(get(r, "TRACKER")->pattern, "^[a-z0-9]{6,24}\\s*$");
	assert_string_equal(get(r, "RAW")->pattern, "^foo|bar$");
	/* in classes, escaped, quoted: as written */
	assert_string_equal(get(r, "KEPT")->pattern,
	    "[\\A\\z]\\\\A\\Q\\A\\E[]\\z][[:alpha:]\\z]x");
	/* a header's value and the full message are one text: as written */
	assert_string_equal(get(r, "HDR")->pattern, "\\Afoo\\z");
	assert_string_equal(get(r, "FULL")->pattern, "\\Afoo");
	sa_rules_free(&r);
}

struct error_case {
	const char *text;
	unsigned int line;
	const char *message;	/* substring */
};

static const struct error_case error_cases[] = {
	{ "body\n", 1, "rule name" },
	{ "\nbody BAD-NAME /a/\n", 2, "rule name" },
	{ "\n\nbody X /unterminated\n", 3, "unterminated" },
	{ "body X /a/q\n", 1, "flag" },
	{ "body X abc\n", 1, "must start" },
	{ "header X Subject /a/\n", 1, "=~" },
	{ "header X Subject:bogus =~ /a/\n", 1, "modifier" },
	{ "header X eval:nope\n", 1, "eval" },
	{ "body X /a/ trailing\n", 1, "after the regex" },
	{ "score X one\n", 1, "number" },
	{ "score X 1 2\n", 1, "1 or 4" },
	{ "endif\n", 1, "endif without if" },
	{ "\nelse\n", 2, "else without if" },
	{ "if frobnicate\nbody X /a/\nendif\n", 1, "cannot evaluate" },
	{ "ifplugin Foo\nbody X /a/\n", 2, "without endif" },
};

static void
test_errors(void **state)
{
	unsigned int i;

	for (i = 0; i < N_ELEMENTS(error_cases); i++) {
		const struct error_case *c = &error_cases[i];
		struct sa_rules *r = sa_rules_new();
		const struct sa_rule_error *e;

		/* A good rule after the bad line is still read. */
		parse(r, "bad.cf", c->text);
		parse(r, "good.cf", "body GOOD /ok/\n");
		if (sa_rules_error_count(r) < 1)
			fail_msg("no error for %s", c->text);
		e = sa_rules_error(r, 0);
		assert_string_equal(e->file, "bad.cf");
		if (e->line != c->line || strstr(e->message, c->message) == NULL)
			fail_msg("%s: got %s:%u: %s", c->text, e->file, e->line, e->message);
		assert_true(sa_rules_find(r, "GOOD") >= 0);
		sa_rules_free(&r);
	}
}

static void
test_digest(void **state)
{
	struct sa_rules *a = sa_rules_new(), *b = sa_rules_new(), *c = sa_rules_new();
	unsigned char da[32], db[32], dc[32];

	parse(a, "x.cf", "body X /a/\n");
	parse(b, "x.cf", "body X /a/\n");
	parse(c, "x.cf", "body X /b/\n");
	sa_rules_digest(a, da);
	sa_rules_digest(b, db);
	sa_rules_digest(c, dc);
	assert_memory_equal(da, db, 32);
	assert_memory_not_equal(da, dc, 32);
	sa_rules_free(&a);
	sa_rules_free(&b);
	sa_rules_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_scores_and_text),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_conditionals),
		cmocka_unit_test(test_replace_tags),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
