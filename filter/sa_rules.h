/* SPDX-License-Identifier: MIT */
/*
 * sa_rules - a reader for SpamAssassin's .cf rule files.
 *
 * It turns header, body, rawbody, uri, full and meta tests, with their
 * score, describe and tflags lines, into a table the rules compiler
 * (rules_compile.h) turns into Hyperscan databases.  It follows
 * SpamAssassin's reading of the files: comments, ifplugin/if/else/endif
 * (plugins are the ones named by loadplugin lines, so load the .pre files
 * first, as SpamAssassin does), later definitions override earlier ones,
 * and the ReplaceTags plugin's <tag> substitution is applied when that
 * plugin is loaded.  eval: tests are kept with their function name for
 * the pipeline to implement.  A line that cannot be read is recorded with
 * its file and line and skipped, never fatal: rule sets are written for
 * Perl and a bad rule must not stop the filter.
 */
#ifndef FACTEUR_FILTER_SA_RULES_H
#define FACTEUR_FILTER_SA_RULES_H

#include <stddef.h>

/* What a test scans; also the rules compiler's groups. */
enum sa_rule_type {
	SA_RULE_HEADER,
	SA_RULE_BODY,		/* rendered text of text parts */
	SA_RULE_RAWBODY,	/* transfer-decoded body of text parts */
	SA_RULE_URI,
	SA_RULE_FULL,		/* the whole message as received */
	SA_RULE_META,
	SA_RULE_TYPE_COUNT
};

/* Regex flags, as written after the closing delimiter. */
#define SA_RE_CASELESS 0x01	/* i */
#define SA_RE_DOTALL 0x02	/* s */
#define SA_RE_MULTILINE 0x04	/* m */
#define SA_RE_EXTENDED 0x08	/* x */

/* Header modifiers (Header:raw:addr ...). */
#define SA_HDR_RAW 0x01
#define SA_HDR_ADDR 0x02
#define SA_HDR_NAME 0x04
#define SA_HDR_HOST 0x08
#define SA_HDR_DOMAIN 0x10
#define SA_HDR_IP 0x20
#define SA_HDR_REVIP 0x40
#define SA_HDR_FIRST 0x80
#define SA_HDR_LAST 0x100

struct sa_rule {
	char *name;
	enum sa_rule_type type;
	int defined;		/* a test line was seen (score alone defines nothing) */
	/* eval: tests: the function and its argument text, else NULL. */
	char *eval;
	char *eval_args;
	/* Header tests: the header name ("Subject", "ALL", "ToCc" ...). */
	char *header;
	unsigned int header_mods;	/* SA_HDR_* */
	int exists;		/* exists:Header */
	int negate;		/* !~ */
	char *if_unset;		/* [if-unset: X], or NULL */
	/* The regex between its delimiters, and SA_RE_* flags. */
	char *pattern;
	unsigned int flags;
	char *meta;		/* meta tests: the expression */
	double score[4];	/* score sets 0-3 */
	int has_score;
	char *describe;
	char *tflags;
	int replaced;		/* ReplaceTags applied to pattern */
	char *file;		/* where the test was (last) defined */
	unsigned int line;
};

struct sa_rule_error {
	char *file;
	unsigned int line;
	char *message;
};

struct sa_rules;

struct sa_rules *sa_rules_new(void);
void sa_rules_free(struct sa_rules **rules);

/* Read one file's text; problems are recorded (sa_rules_error()), not returned. */
void sa_rules_parse(struct sa_rules *rules, const char *file, const char *text, size_t len);
/* -1 with error_r if the file cannot be read. */
int sa_rules_load_file(struct sa_rules *rules, const char *path, const char **error_r);
/*
 * Every file of dir whose name ends in suffix (".cf", ".pre"), in name
 * order as SpamAssassin reads them; -1 with error_r if dir cannot be read.
 */
int sa_rules_load_dir(struct sa_rules *rules, const char *dir, const char *suffix,
    const char **error_r);
/*
 * After the last file: applies ReplaceTags to the rules replace_rules
 * names.  Idempotent; the compiler calls it.
 */
void sa_rules_finish(struct sa_rules *rules);
/* As a loadplugin line does (for callers that do not read .pre files). */
void sa_rules_add_plugin(struct sa_rules *rules, const char *name);
int sa_rules_has_plugin(const struct sa_rules *rules, const char *name);

/* Rules in order of first appearance, undefined ones (score only) included. */
unsigned int sa_rules_count(const struct sa_rules *rules);
const struct sa_rule *sa_rules_get(const struct sa_rules *rules, unsigned int i);
/* Index of name, or -1. */
int sa_rules_find(const struct sa_rules *rules, const char *name);

/*
 * The other directives of active lines (freemail_domains, welcomelist_from,
 * enlist_addrlist, ok_locales ...), in the order read: key in lower case,
 * value with blanks trimmed, for the eval tests that need configuration.
 */
struct sa_config_line {
	char *key;
	char *value;
	char *file;
	unsigned int line;
};

unsigned int sa_rules_config_count(const struct sa_rules *rules);
const struct sa_config_line *sa_rules_config(const struct sa_rules *rules, unsigned int i);

unsigned int sa_rules_error_count(const struct sa_rules *rules);
const struct sa_rule_error *sa_rules_error(const struct sa_rules *rules, unsigned int i);

/* SHA-256 of everything read so far (file names and texts), in order. */
void sa_rules_digest(const struct sa_rules *rules, unsigned char digest_r[32]);

/* The score that counts in score set 0..3: given, or SpamAssassin's default. */
double sa_rule_score(const struct sa_rule *rule, unsigned int set);
/*
 * How many times a rule may hit one message: 1, or for `tflags multiple`
 * its maxhits=N (SA_MULTIPLE_MAX when none is given, where SpamAssassin
 * has no bound).
 */
#define SA_MULTIPLE_MAX 1000
unsigned int sa_rule_maxhits(const struct sa_rule *rule);
/* A word of the rule's tflags ("nice", "multiple" ...). */
int sa_rule_tflag(const struct sa_rule *rule, const char *word);
const char *sa_rule_type_name(enum sa_rule_type type);

/*
 * Parse a Perl match operator at *s: /re/flags, m{re}flags, m!re!flags ...
 * pattern_r is allocated; *s is moved past the flags.  -1 with error_r.
 */
int sa_regex_parse(const char **s, char **pattern_r, unsigned int *flags_r,
    const char **error_r);

#endif
