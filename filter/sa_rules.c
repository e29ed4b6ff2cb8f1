/* SPDX-License-Identifier: MIT */
/*
 * sa_rules - read SpamAssassin rule files into a table of tests.  The
 * reading follows Mail::SpamAssassin::Conf::Parser where it matters for
 * which tests exist and what they match; directives that only configure
 * SpamAssassin itself are skipped.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/mem.h"
#include "filter/sa_rules.h"
#include "filter/strbuf.h"

/* The SpamAssassin release whose rule files we read: "if version >= x". */
#define SA_VERSION 4.000001
#define SA_IF_DEPTH 64

struct sa_tag {
	char *name;
	char *value;
};

struct sa_tags {
	struct sa_tag *v;
	unsigned int count;
};

struct sa_rules {
	struct sa_rule *rules;
	unsigned int count, alloc;
	int *hash;		/* open addressing, -1 empty */
	unsigned int hash_size;
	struct sa_rule_error *errors;
	unsigned int error_count;
	struct sa_config_line *config;
	unsigned int config_count, config_alloc;
	char **plugins;
	unsigned int plugin_count;
	EVP_MD_CTX *digest;
	/* ReplaceTags */
	struct sa_tags tags, pre, inter, post;
	char *replace_start, *replace_end;
	char **replace;
	unsigned int replace_count;
};

/* Conf features SpamAssassin 4.0.1 has, for "if can(...)". */
static const char *const sa_features[] = {
	"Mail::SpamAssassin::Conf::feature_bug6558_free",
	"Mail::SpamAssassin::Conf::feature_capture_rules",
	"Mail::SpamAssassin::Conf::feature_dns_block_rule",
	"Mail::SpamAssassin::Conf::feature_dns_local_ports_permit_avoid",
	"Mail::SpamAssassin::Conf::feature_originating_ip_headers",
	"Mail::SpamAssassin::Conf::feature_registryboundaries",
	"Mail::SpamAssassin::Conf::feature_welcomelist_blocklist",
	"Mail::SpamAssassin::Conf::feature_yesno_takes_args",
	"Mail::SpamAssassin::Conf::feature_bayes_stopwords",
	"Mail::SpamAssassin::Conf::perl_min_version_5010000",
	NULL
};

struct sa_parse {
	struct sa_rules *rules;
	const char *file;
	unsigned int line;
	int cond[SA_IF_DEPTH];	/* 1 active, 0 not, per open if */
	int parent[SA_IF_DEPTH];	/* whether the enclosing block was active */
	int else_seen[SA_IF_DEPTH];
	unsigned int depth;
};

static void
rules_error(struct sa_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
rules_error(struct sa_parse *p, const char *fmt, ...)
{
	struct sa_rules *r = p->rules;
	struct sa_rule_error *e;
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->errors = xrealloc(r->errors, (r->error_count + 1) * sizeof(*r->errors));
	e = &r->errors[r->error_count++];
	e->file = xstrdup(p->file);
	e->line = p->line;
	e->message = xstrdup(buf);
}

struct sa_rules *
sa_rules_new(void)
{
	struct sa_rules *r = xcalloc(1, sizeof(*r));

	r->digest = EVP_MD_CTX_new();
	if (r->digest == NULL || EVP_DigestInit_ex(r->digest, EVP_sha256(), NULL) != 1)
		abort();
	r->replace_start = xstrdup("<");
	r->replace_end = xstrdup(">");
	return r;
}

static void
rule_clear_test(struct sa_rule *rule)
{
	free(rule->eval);
	free(rule->eval_args);
	free(rule->header);
	free(rule->if_unset);
	free(rule->pattern);
	free(rule->meta);
	free(rule->file);
	rule->eval = rule->eval_args = rule->header = rule->if_unset = NULL;
	rule->pattern = rule->meta = rule->file = NULL;
	rule->header_mods = 0;
	rule->exists = rule->negate = 0;
	rule->flags = 0;
	rule->replaced = 0;
}

static void
tags_free(struct sa_tags *t)
{
	unsigned int i;

	for (i = 0; i < t->count; i++) {
		free(t->v[i].name);
		free(t->v[i].value);
	}
	free(t->v);
}

void
sa_rules_free(struct sa_rules **rules)
{
	struct sa_rules *r = *rules;
	unsigned int i;

	if (r == NULL)
		return;
	*rules = NULL;
	for (i = 0; i < r->count; i++) {
		rule_clear_test(&r->rules[i]);
		free(r->rules[i].name);
		free(r->rules[i].describe);
		free(r->rules[i].tflags);
	}
	free(r->rules);
	free(r->hash);
	for (i = 0; i < r->error_count; i++) {
		free(r->errors[i].file);
		free(r->errors[i].message);
	}
	free(r->errors);
	for (i = 0; i < r->config_count; i++) {
		free(r->config[i].key);
		free(r->config[i].value);
		free(r->config[i].file);
	}
	free(r->config);
	for (i = 0; i < r->plugin_count; i++)
		free(r->plugins[i]);
	free(r->plugins);
	for (i = 0; i < r->replace_count; i++)
		free(r->replace[i]);
	free(r->replace);
	tags_free(&r->tags);
	tags_free(&r->pre);
	tags_free(&r->inter);
	tags_free(&r->post);
	free(r->replace_start);
	free(r->replace_end);
	EVP_MD_CTX_free(r->digest);
	free(r);
}

static unsigned int
name_hash(const char *s)
{
	unsigned int h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

int
sa_rules_find(const struct sa_rules *r, const char *name)
{
	unsigned int i;

	if (r->hash_size == 0)
		return -1;
	for (i = name_hash(name) & (r->hash_size - 1); r->hash[i] >= 0;
	    i = (i + 1) & (r->hash_size - 1)) {
		if (strcmp(r->rules[r->hash[i]].name, name) == 0)
			return r->hash[i];
	}
	return -1;
}

static void
hash_insert(struct sa_rules *r, int idx)
{
	unsigned int i;

	for (i = name_hash(r->rules[idx].name) & (r->hash_size - 1); r->hash[i] >= 0;
	    i = (i + 1) & (r->hash_size - 1))
		;
	r->hash[i] = idx;
}

/* The rule called name, created (undefined) when new. */
static struct sa_rule *
rule_get(struct sa_rules *r, const char *name)
{
	int idx = sa_rules_find(r, name);
	struct sa_rule *rule;
	unsigned int i;

	if (idx >= 0)
		return &r->rules[idx];
	if ((r->count + 1) * 2 > r->hash_size) {
		r->hash_size = r->hash_size == 0 ? 256 : r->hash_size * 2;
		free(r->hash);
		r->hash = xmalloc(r->hash_size * sizeof(*r->hash));
		memset(r->hash, 0xff, r->hash_size * sizeof(*r->hash));
		for (i = 0; i < r->count; i++)
			hash_insert(r, (int)i);
	}
	if (r->count == r->alloc) {
		r->alloc = r->alloc == 0 ? 256 : r->alloc * 2;
		r->rules = xrealloc(r->rules, r->alloc * sizeof(*r->rules));
	}
	rule = &r->rules[r->count];
	memset(rule, 0, sizeof(*rule));
	rule->name = xstrdup(name);
	hash_insert(r, (int)r->count);
	r->count++;
	return rule;
}

void
sa_rules_add_plugin(struct sa_rules *r, const char *name)
{
	if (sa_rules_has_plugin(r, name))
		return;
	r->plugins = xrealloc(r->plugins, (r->plugin_count + 1) * sizeof(*r->plugins));
	r->plugins[r->plugin_count++] = xstrdup(name);
	/* Plugins change what the files mean: they are part of the cache key. */
	EVP_DigestUpdate(r->digest, "plugin:", 7);
	EVP_DigestUpdate(r->digest, name, strlen(name) + 1);
}

int
sa_rules_has_plugin(const struct sa_rules *r, const char *name)
{
	unsigned int i;

	for (i = 0; i < r->plugin_count; i++) {
		if (strcmp(r->plugins[i], name) == 0)
			return 1;
	}
	return 0;
}

static int
valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	}
	return 1;
}

static const char *
skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The next blank-separated word of *s, allocated; NULL at the end. */
static char *
next_word(const char **s)
{
	const char *p = skip_blanks(*s), *start = p;

	if (*p == '\0')
		return NULL;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	*s = skip_blanks(p);
	return xstrndup(start, (size_t)(p - start));
}

int
sa_regex_parse(const char **sp, char **pattern_r, unsigned int *flags_r,
    const char **error_r)
{
	const char *s = *sp, *start;
	char open, close;
	unsigned int flags = 0, nest = 0;
	struct strbuf re;

	if (*s == 'm' && s[1] != '\0' && !isalnum((unsigned char)s[1]) && s[1] != '_' &&
	    s[1] != ' ' && s[1] != '\t')
		s++;
	else if (*s != '/') {
		*error_r = "a regex must start with / or m and a delimiter";
		return -1;
	}
	open = *s++;
	switch (open) {
	case '{': close = '}'; break;
	case '(': close = ')'; break;
	case '[': close = ']'; break;
	case '<': close = '>'; break;
	default: close = open; break;
	}
	start = s;
	for (;; s++) {
		if (*s == '\0') {
			*error_r = "unterminated regex";
			return -1;
		}
		if (*s == '\\' && s[1] != '\0') {
			s++;
			continue;
		}
		if (*s == open && open != close)
			nest++;
		else if (*s == close) {
			if (nest == 0)
				break;
			nest--;
		}
	}
	/*
	 * An escaped delimiter is the delimiter itself for Perl; "\/" would
	 * mean "/" to PCRE too, but "\{" as a bracket delimiter must stay a
	 * literal, so only non-bracket delimiters lose their backslash.
	 */
	memset(&re, 0, sizeof(re));
	for (const char *p = start; p < s; p++) {
		if (*p == '\\' && p + 1 < s && p[1] == close && open == close &&
		    !strchr("\\^$.|?*+()[]{}", close)) {
			p++;
		} else if (*p == '\\' && p + 1 < s) {
			strbuf_append(&re, p, 1);
			p++;
		}
		strbuf_append(&re, p, 1);
	}
	for (s++; isalpha((unsigned char)*s); s++) {
		switch (*s) {
		case 'i': flags |= SA_RE_CASELESS; break;
		case 's': flags |= SA_RE_DOTALL; break;
		case 'm': flags |= SA_RE_MULTILINE; break;
		case 'x': flags |= SA_RE_EXTENDED; break;
		case 'g': case 'o': break;	/* no effect on a yes/no match */
		default:
			strbuf_free(&re);
			*error_r = "unknown regex flag";
			return -1;
		}
	}
	*pattern_r = xstrndup((re.data != NULL ? re.data : ""), re.len);
	strbuf_free(&re);
	*flags_r = flags;
	*sp = s;
	return 0;
}

/* eval:name(args) into the rule; -1 if malformed. */
static int
parse_eval(struct sa_rule *rule, const char *s)
{
	const char *open = strchr(s, '('), *close = strrchr(s, ')');
	char *name;

	if (open == NULL || close == NULL || close < open)
		return -1;
	name = xstrndup(s, (size_t)(open - s));
	if (!valid_name(name)) {
		free(name);
		return -1;
	}
	rule->eval = name;
	rule->eval_args = xstrndup(open + 1, (size_t)(close - open - 1));
	return 0;
}

static void
define_test(struct sa_parse *p, const char *directive, enum sa_rule_type type, const char *rest)
{
	char *name = next_word(&rest);
	struct sa_rule tmp, *rule;
	const char *error = NULL;

	if (name == NULL || !valid_name(name)) {
		rules_error(p, "%s: missing or invalid rule name", directive);
		free(name);
		return;
	}
	memset(&tmp, 0, sizeof(tmp));
	tmp.type = type;
	if (*rest == '\0') {
		error = "missing test";
	} else if (type == SA_RULE_META) {
		tmp.meta = xstrdup(rest);
	} else if (strncmp(rest, "eval:", 5) == 0 && type != SA_RULE_URI) {
		if (parse_eval(&tmp, rest + 5) < 0)
			error = "malformed eval:";
	} else if (type == SA_RULE_HEADER && strncmp(rest, "exists:", 7) == 0) {
		tmp.exists = 1;
		tmp.header = xstrdup(skip_blanks(rest + 7));
		if (!valid_name(tmp.header) && strchr(tmp.header, '-') == NULL)
			error = "exists: needs a header name";
	} else if (type == SA_RULE_HEADER) {
		const char *s = rest, *op;
		char *hdr, *mod;

		op = s;
		while (*op != '\0' && *op != ' ' && *op != '\t' && *op != '=' && *op != '!')
			op++;
		hdr = xstrndup(s, (size_t)(op - s));
		s = skip_blanks(op);
		if (strncmp(s, "=~", 2) == 0)
			tmp.negate = 0;
		else if (strncmp(s, "!~", 2) == 0)
			tmp.negate = 1;
		else
			error = "header test needs =~ or !~";
		/* Name:mod:mod */
		mod = strchr(hdr, ':');
		if (mod != NULL)
			*mod++ = '\0';
		while (error == NULL && mod != NULL) {
			char *next = strchr(mod, ':');

			if (next != NULL)
				*next++ = '\0';
			if (strcmp(mod, "raw") == 0) tmp.header_mods |= SA_HDR_RAW;
			else if (strcmp(mod, "addr") == 0) tmp.header_mods |= SA_HDR_ADDR;
			else if (strcmp(mod, "name") == 0) tmp.header_mods |= SA_HDR_NAME;
			else if (strcmp(mod, "host") == 0) tmp.header_mods |= SA_HDR_HOST;
			else if (strcmp(mod, "domain") == 0) tmp.header_mods |= SA_HDR_DOMAIN;
			else if (strcmp(mod, "ip") == 0) tmp.header_mods |= SA_HDR_IP;
			else if (strcmp(mod, "revip") == 0) tmp.header_mods |= SA_HDR_REVIP;
			else if (strcmp(mod, "first") == 0) tmp.header_mods |= SA_HDR_FIRST;
			else if (strcmp(mod, "last") == 0) tmp.header_mods |= SA_HDR_LAST;
			else error = "unknown header modifier";
			mod = next;
		}
		if (error == NULL && hdr[0] == '\0')
			error = "missing header name";
		tmp.header = hdr;
		if (error == NULL) {
			s = skip_blanks(s + 2);
			if (sa_regex_parse(&s, &tmp.pattern, &tmp.flags, &error) == 0) {
				s = skip_blanks(s);
				if (strncmp(s, "[if-unset:", 10) == 0) {
					const char *end = strchr(s, ']');

					if (end == NULL)
						error = "unterminated [if-unset:";
					else
						tmp.if_unset = xstrndup(skip_blanks(s + 10),
						    (size_t)(end - skip_blanks(s + 10)));
				} else if (*s != '\0') {
					error = "text after the regex";
				}
			}
		}
	} else {
		const char *s = rest;

		if (sa_regex_parse(&s, &tmp.pattern, &tmp.flags, &error) == 0 && *skip_blanks(s) != '\0')
			error = "text after the regex";
	}
	if (error != NULL) {
		rules_error(p, "%s %s: %s", directive, name, error);
		rule_clear_test(&tmp);
		free(name);
		return;
	}
	/* A later definition replaces the test; score, describe and tflags stay. */
	rule = rule_get(p->rules, name);
	free(name);
	rule_clear_test(rule);
	rule->type = tmp.type;
	rule->eval = tmp.eval;
	rule->eval_args = tmp.eval_args;
	rule->header = tmp.header;
	rule->header_mods = tmp.header_mods;
	rule->exists = tmp.exists;
	rule->negate = tmp.negate;
	rule->if_unset = tmp.if_unset;
	rule->pattern = tmp.pattern;
	rule->flags = tmp.flags;
	rule->meta = tmp.meta;
	rule->defined = 1;
	rule->file = xstrdup(p->file);
	rule->line = p->line;
}

static void
set_score(struct sa_parse *p, const char *rest)
{
	char *name = next_word(&rest), *end;
	double v[4];
	unsigned int n = 0;

	if (name == NULL || !valid_name(name)) {
		rules_error(p, "score: missing or invalid rule name");
		free(name);
		return;
	}
	while (*rest != '\0' && n < 4) {
		/* "(1.0)" marks a score set that is not used: read the number. */
		if (*rest == '(')
			rest++;
		v[n] = strtod(rest, &end);
		if (end == rest) {
			rules_error(p, "score %s: not a number", name);
			free(name);
			return;
		}
		if (*end == ')')
			end++;
		rest = skip_blanks(end);
		n++;
	}
	if (n != 1 && n != 4) {
		rules_error(p, "score %s: needs 1 or 4 numbers", name);
		free(name);
		return;
	}
	{
		struct sa_rule *rule = rule_get(p->rules, name);

		for (unsigned int i = 0; i < 4; i++)
			rule->score[i] = n == 1 ? v[0] : v[i];
		rule->has_score = 1;
	}
	free(name);
}

static void
set_text(struct sa_parse *p, const char *directive, const char *rest, int is_tflags)
{
	char *name = next_word(&rest);
	struct sa_rule *rule;

	if (name == NULL || !valid_name(name)) {
		rules_error(p, "%s: missing or invalid rule name", directive);
		free(name);
		return;
	}
	rule = rule_get(p->rules, name);
	free(name);
	if (is_tflags) {
		free(rule->tflags);
		rule->tflags = xstrdup(rest);
	} else {
		free(rule->describe);
		rule->describe = xstrdup(rest);
	}
}

static void
set_tag(struct sa_parse *p, struct sa_tags *t, const char *rest)
{
	char *name = next_word(&rest);
	unsigned int i;

	if (name == NULL || *rest == '\0') {
		rules_error(p, "replace tag: needs a name and a value");
		free(name);
		return;
	}
	for (i = 0; i < t->count; i++) {
		if (strcmp(t->v[i].name, name) == 0) {
			free(name);
			free(t->v[i].value);
			t->v[i].value = xstrdup(rest);
			return;
		}
	}
	t->v = xrealloc(t->v, (t->count + 1) * sizeof(*t->v));
	t->v[t->count].name = name;
	t->v[t->count].value = xstrdup(rest);
	t->count++;
}

/*
 * A condition of "if": version comparisons, plugin(X), can(X), !, &&, ||
 * and parentheses.  Anything else is false, as a Perl error would be.
 */
struct cond_parser {
	struct sa_parse *p;
	const char *s;
	int bad;
};

static int cond_or(struct cond_parser *c);

static int
cond_primary(struct cond_parser *c)
{
	const char *s = c->s = skip_blanks(c->s);

	if (*s == '!') {
		c->s = s + 1;
		return !cond_primary(c);
	}
	if (*s == '(') {
		int v;

		c->s = s + 1;
		v = cond_or(c);
		c->s = skip_blanks(c->s);
		if (*c->s == ')')
			c->s++;
		else
			c->bad = 1;
		return v;
	}
	if (strncmp(s, "version", 7) == 0) {
		const char *q = skip_blanks(s + 7);
		char *end;
		double v;
		int op;

		if (strncmp(q, ">=", 2) == 0) op = 1, q += 2;
		else if (strncmp(q, "<=", 2) == 0) op = 2, q += 2;
		else if (strncmp(q, "==", 2) == 0) op = 3, q += 2;
		else if (strncmp(q, "!=", 2) == 0) op = 4, q += 2;
		else if (*q == '>') op = 5, q++;
		else if (*q == '<') op = 6, q++;
		else {
			c->bad = 1;
			return 0;
		}
		v = strtod(q, &end);
		if (end == q) {
			c->bad = 1;
			return 0;
		}
		c->s = end;
		switch (op) {
		case 1: return SA_VERSION >= v;
		case 2: return SA_VERSION <= v;
		case 3: return SA_VERSION == v;
		case 4: return SA_VERSION != v;
		case 5: return SA_VERSION > v;
		default: return SA_VERSION < v;
		}
	}
	if (strncmp(s, "plugin(", 7) == 0 || strncmp(s, "can(", 4) == 0) {
		int is_plugin = s[0] == 'p';
		const char *arg = s + (is_plugin ? 7 : 4), *end = strchr(arg, ')');
		char *name;
		int v = 0;

		if (end == NULL) {
			c->bad = 1;
			return 0;
		}
		name = xstrndup(arg, (size_t)(end - arg));
		c->s = end + 1;
		if (is_plugin) {
			v = sa_rules_has_plugin(c->p->rules, name);
		} else {
			for (unsigned int i = 0; sa_features[i] != NULL; i++) {
				if (strcmp(name, sa_features[i]) == 0)
					v = 1;
			}
		}
		free(name);
		return v;
	}
	c->bad = 1;
	return 0;
}

static int
cond_and(struct cond_parser *c)
{
	int v = cond_primary(c);

	for (;;) {
		c->s = skip_blanks(c->s);
		if (strncmp(c->s, "&&", 2) != 0)
			return v;
		c->s += 2;
		v = cond_primary(c) && v;
	}
}

static int
cond_or(struct cond_parser *c)
{
	int v = cond_and(c);

	for (;;) {
		c->s = skip_blanks(c->s);
		if (strncmp(c->s, "||", 2) != 0)
			return v;
		c->s += 2;
		v = cond_and(c) || v;
	}
}

static int
active(const struct sa_parse *p)
{
	return p->depth == 0 || p->cond[p->depth - 1];
}

static void
push_cond(struct sa_parse *p, int value)
{
	if (p->depth == SA_IF_DEPTH) {
		rules_error(p, "if nested too deep");
		return;
	}
	p->parent[p->depth] = active(p);
	p->cond[p->depth] = p->parent[p->depth] && value;
	p->else_seen[p->depth] = 0;
	p->depth++;
}

static void
parse_line(struct sa_parse *p, char *line)
{
	struct sa_rules *r = p->rules;
	const char *rest;
	char *key, *s;

	/* An unescaped # starts a comment; \# is a # (Conf::Parser). */
	for (s = line; *s != '\0'; s++) {
		if (*s == '#' && (s == line || s[-1] != '\\')) {
			*s = '\0';
			break;
		}
	}
	for (s = line; (s = strstr(s, "\\#")) != NULL; s++)
		memmove(s, s + 1, strlen(s));
	rest = line;
	key = next_word(&rest);
	if (key == NULL)
		return;
	/* Trailing blanks are not part of a value. */
	{
		size_t n = strlen(rest);

		while (n > 0 && isspace((unsigned char)rest[n - 1]))
			((char *)rest)[--n] = '\0';
	}
	str_lower(key);
	if (strcmp(key, "ifplugin") == 0) {
		push_cond(p, sa_rules_has_plugin(r, rest));
	} else if (strcmp(key, "if") == 0) {
		struct cond_parser c = { p, rest, 0 };
		int v = cond_or(&c);

		if (c.bad || *skip_blanks(c.s) != '\0') {
			rules_error(p, "if: cannot evaluate \"%s\": taken as false", rest);
			v = 0;
		}
		push_cond(p, v);
	} else if (strcmp(key, "else") == 0) {
		if (p->depth == 0 || p->else_seen[p->depth - 1]) {
			rules_error(p, "else without if");
		} else {
			p->else_seen[p->depth - 1] = 1;
			p->cond[p->depth - 1] = p->parent[p->depth - 1] && !p->cond[p->depth - 1];
		}
	} else if (strcmp(key, "endif") == 0) {
		if (p->depth == 0)
			rules_error(p, "endif without if");
		else
			p->depth--;
	} else if (!active(p)) {
		/* skipped */
	} else if (strcmp(key, "loadplugin") == 0 || strcmp(key, "tryplugin") == 0) {
		char *name = next_word(&rest);

		if (name == NULL)
			rules_error(p, "%s: missing plugin name", key);
		else
			sa_rules_add_plugin(r, name);
		free(name);
	} else if (strcmp(key, "header") == 0) {
		define_test(p, key, SA_RULE_HEADER, rest);
	} else if (strcmp(key, "body") == 0) {
		define_test(p, key, SA_RULE_BODY, rest);
	} else if (strcmp(key, "rawbody") == 0) {
		define_test(p, key, SA_RULE_RAWBODY, rest);
	} else if (strcmp(key, "uri") == 0) {
		define_test(p, key, SA_RULE_URI, rest);
	} else if (strcmp(key, "full") == 0) {
		define_test(p, key, SA_RULE_FULL, rest);
	} else if (strcmp(key, "meta") == 0) {
		define_test(p, key, SA_RULE_META, rest);
	} else if (strcmp(key, "score") == 0) {
		set_score(p, rest);
	} else if (strcmp(key, "describe") == 0) {
		set_text(p, key, rest, 0);
	} else if (strcmp(key, "tflags") == 0) {
		set_text(p, key, rest, 1);
	} else if (strcmp(key, "replace_tag") == 0) {
		set_tag(p, &r->tags, rest);
	} else if (strcmp(key, "replace_pre") == 0) {
		set_tag(p, &r->pre, rest);
	} else if (strcmp(key, "replace_inter") == 0) {
		set_tag(p, &r->inter, rest);
	} else if (strcmp(key, "replace_post") == 0) {
		set_tag(p, &r->post, rest);
	} else if (strcmp(key, "replace_start") == 0 && *rest != '\0') {
		free(r->replace_start);
		r->replace_start = xstrdup(rest);
	} else if (strcmp(key, "replace_end") == 0 && *rest != '\0') {
		free(r->replace_end);
		r->replace_end = xstrdup(rest);
	} else if (strcmp(key, "replace_rules") == 0) {
		char *name;

		while ((name = next_word(&rest)) != NULL) {
			r->replace = xrealloc(r->replace, (r->replace_count + 1) * sizeof(*r->replace));
			r->replace[r->replace_count++] = name;
		}
	} else {
		/* lang, report, freemail_domains ... configure, not tests: kept for the evals. */
		struct sa_config_line *c;

		if (r->config_count == r->config_alloc) {
			r->config_alloc = r->config_alloc ? 2 * r->config_alloc : 256;
			r->config = xrealloc(r->config, r->config_alloc * sizeof(*r->config));
		}
		c = &r->config[r->config_count++];
		c->key = key;
		c->value = xstrdup(rest);
		c->file = xstrdup(p->file);
		c->line = p->line;
		return;
	}
	free(key);
}

void
sa_rules_parse(struct sa_rules *r, const char *file, const char *text, size_t len)
{
	struct sa_parse p;
	struct strbuf line;
	size_t pos = 0;
	unsigned int start_line = 0;

	memset(&p, 0, sizeof(p));
	p.rules = r;
	p.file = file;
	EVP_DigestUpdate(r->digest, file, strlen(file) + 1);
	EVP_DigestUpdate(r->digest, text, len);
	memset(&line, 0, sizeof(line));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len, n = end;

		p.line++;
		if (line.len == 0)
			start_line = p.line;
		if (n > pos && text[n - 1] == '\r')
			n--;
		/* A line ending in a backslash goes on on the next one. */
		if (n > pos && text[n - 1] == '\\' && nl != NULL) {
			strbuf_append(&line, text + pos, n - 1 - pos);
			pos = end + 1;
			continue;
		}
		strbuf_append(&line, text + pos, n - pos);
		pos = nl != NULL ? end + 1 : len;
		{
			/* NUL bytes cannot be part of a directive: cut there. */
			char *l = xstrndup((line.data != NULL ? line.data : ""), line.len);
			unsigned int here = p.line;

			p.line = start_line;
			parse_line(&p, l);
			p.line = here;
			free(l);
		}
		strbuf_reset(&line);
	}
	if (p.depth > 0)
		rules_error(&p, "%u if/ifplugin without endif at the end of the file", p.depth);
	strbuf_free(&line);
}

int
sa_rules_load_file(struct sa_rules *r, const char *path, const char **error_r)
{
	static char errbuf[512];
	struct strbuf text;
	char buf[65536];
	size_t n;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(errbuf, sizeof(errbuf), "%s: %s", path, strerror(errno));
		*error_r = errbuf;
		return -1;
	}
	memset(&text, 0, sizeof(text));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&text, buf, n);
	if (ferror(f)) {
		snprintf(errbuf, sizeof(errbuf), "%s: read error", path);
		*error_r = errbuf;
		fclose(f);
		strbuf_free(&text);
		return -1;
	}
	fclose(f);
	sa_rules_parse(r, path, (text.data != NULL ? text.data : ""), text.len);
	strbuf_free(&text);
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
sa_rules_load_dir(struct sa_rules *r, const char *dir, const char *suffix,
    const char **error_r)
{
	static char errbuf[512];
	char **names = NULL;
	unsigned int count = 0, i;
	struct dirent *de;
	int ret = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		snprintf(errbuf, sizeof(errbuf), "%s: %s", dir, strerror(errno));
		*error_r = errbuf;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name), sn = strlen(suffix);

		if (de->d_name[0] == '.' || n <= sn || strcmp(de->d_name + n - sn, suffix) != 0)
			continue;
		names = xrealloc(names, (count + 1) * sizeof(*names));
		names[count++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	if (count > 1)
		qsort(names, count, sizeof(*names), name_cmp);
	for (i = 0; i < count; i++) {
		if (ret == 0 && sa_rules_load_file(r, names[i], error_r) < 0)
			ret = -1;
		free(names[i]);
	}
	free(names);
	return ret;
}

static const char *
tag_find(const struct sa_tags *t, const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; i < t->count; i++) {
		if (strlen(t->v[i].name) == len && strncmp(t->v[i].name, name, len) == 0)
			return t->v[i].value;
	}
	return NULL;
}

/*
 * The first "<KIND NAME>" of *re taken out (the plugin's s/<pre (.+?)>//):
 * NAME's string in t, or NULL (no such marker, or an unknown NAME).
 */
static const char *
take_modifier(const struct sa_rules *r, char *re, const char *kind, const struct sa_tags *t)
{
	const char *st = r->replace_start, *en = r->replace_end;
	size_t sl = strlen(st), el = strlen(en), kl = strlen(kind);
	char *s, *e;
	const char *v;

	for (s = re; (s = strstr(s, st)) != NULL; s++) {
		if (strncmp(s + sl, kind, kl) != 0 || s[sl + kl] != ' ')
			continue;
		/* .+? : at least one character, then the first end */
		if (s[sl + kl + 1] == '\0' || (e = strstr(s + sl + kl + 2, en)) == NULL)
			return NULL;
		v = tag_find(t, s + sl + kl + 1, (size_t)(e - (s + sl + kl + 1)));
		memmove(s, e + el, strlen(e + el) + 1);
		return v;
	}
	return NULL;
}

/* Bound of a pattern's ReplaceTags expansion (a file's tags may nest without end). */
#define REPLACE_MAX (1024 * 1024)

/* A tag element of the plugin's split(/(<[^<>]+>)/): its end, or NULL. */
static const char *
tag_element(const char *s)
{
	const char *q = s + 1;

	while (*q != '\0' && *q != '<' && *q != '>')
		q++;
	return *q == '>' && q > s + 1 ? q : NULL;
}

/*
 * One pass of ReplaceTags as Mail::SpamAssassin::Plugin::ReplaceTags makes
 * it: the pattern split into text and <...> elements; pre and post around
 * every <...> element, inter in every empty text element (before a leading
 * tag and between adjacent ones); each known tag replaced by its string.
 * *again when a string put in holds a tag itself.
 */
static void
replace_pass(const struct sa_rules *r, const char *re, const char *pre, const char *inter,
    const char *post, struct strbuf *out, int *again)
{
	const char *s = re;

	while (*s != '\0') {
		const char *tag = NULL, *tag_end = NULL, *v;

		for (const char *t = s; *t != '\0'; t++) {
			if (*t == '<' && (tag_end = tag_element(t)) != NULL) {
				tag = t;
				break;
			}
		}
		if (tag == NULL) {
			strbuf_append(out, s, strlen(s));
			break;
		}
		if (tag == s) {
			if (inter != NULL)
				strbuf_append(out, inter, strlen(inter));
		} else {
			strbuf_append(out, s, (size_t)(tag - s));
		}
		if (pre != NULL)
			strbuf_append(out, pre, strlen(pre));
		v = tag_find(&r->tags, tag + 1, (size_t)(tag_end - tag - 1));
		if (v != NULL && out->len + strlen(v) > REPLACE_MAX)
			v = NULL;	/* tags of tags growing without end: left as they are */
		if (v != NULL) {
			strbuf_append(out, v, strlen(v));
			for (const char *q = strchr(v, '<'); q != NULL && !*again; q = strchr(q + 1, '<'))
				if (q[1] != '\0' && q[1] != '>' && strchr(q + 1, '>') != NULL)
					*again = 1;
		} else {
			strbuf_append(out, tag, (size_t)(tag_end + 1 - tag));
		}
		if (post != NULL)
			strbuf_append(out, post, strlen(post));
		s = tag_end + 1;
	}
}

/*
 * ReplaceTags on one pattern, pass after pass while a replacement brought
 * tags of its own (six passes at most), as the plugin does: tags defined
 * with other tags (FF_ALL of FF_A1 ... FF_L1) are expanded all the way.
 * <pre N>, <inter N>, <post N> (the first of each) choose the strings put
 * around the tags; they are taken out by the first pass, so the tags a
 * replacement brings get none.
 */
static char *
replace_tags(const struct sa_rules *r, const char *re)
{
	char *cur = xstrdup(re);
	int passes = 0, again;

	do {
		struct strbuf out;
		const char *pre, *post, *inter;

		pre = take_modifier(r, cur, "pre", &r->pre);
		post = take_modifier(r, cur, "post", &r->post);
		inter = take_modifier(r, cur, "inter", &r->inter);
		memset(&out, 0, sizeof(out));
		again = 0;
		replace_pass(r, cur, pre, inter, post, &out, &again);
		free(cur);
		cur = xstrndup(out.data != NULL ? out.data : "", out.len);
		strbuf_free(&out);
		passes++;
	} while (again && passes <= 5);
	return cur;
}

/*
 * SpamAssassin matches a body rule against each paragraph of the rendered
 * text apart (a rawbody rule against each line), so \A and \z are the ends
 * of one paragraph.  facteur scans the paragraphs as one stream of lines
 * with ^ and $ multi-line: there \A and \z would be the ends of the whole
 * body.  They are written ^ and $ (\Z too), which are the ends of each line.
 * Outside character classes and \Q...\E only; NULL when there is none.
 */
static char *
line_ends(const char *re)
{
	struct strbuf out;
	const char *p;
	char *re_out;
	int changed = 0, in_class = 0;

	memset(&out, 0, sizeof(out));
	for (p = re; *p != '\0'; p++) {
		if (*p == '\\' && p[1] == 'Q') {
			const char *e = strstr(p + 2, "\\E");
			size_t n = e != NULL ? (size_t)(e + 2 - p) : strlen(p);

			strbuf_append(&out, p, n);
			p += n - 1;
		} else if (*p == '\\' && p[1] != '\0') {
			if (!in_class && (p[1] == 'A' || p[1] == 'z' || p[1] == 'Z')) {
				strbuf_putc(&out, p[1] == 'A' ? '^' : '$');
				changed = 1;
			} else {
				strbuf_append(&out, p, 2);
			}
			p++;
		} else if (in_class && p[0] == '[' && p[1] == ':') {
			/* [:alpha:] in a class: its ] does not close the class */
			const char *e = strstr(p + 2, ":]");

			if (e == NULL)
				e = p;
			strbuf_append(&out, p, (size_t)(e + 2 - p));
			p = e + 1;
		} else {
			if (!in_class && *p == '[') {
				in_class = 1;
				strbuf_putc(&out, *p);
				/* a ] first in the class, after ^ or not, is a literal */
				if (p[1] == '^')
					strbuf_putc(&out, *++p);
				if (p[1] == ']')
					strbuf_putc(&out, *++p);
				continue;
			}
			if (in_class && *p == ']')
				in_class = 0;
			strbuf_putc(&out, *p);
		}
	}
	re_out = changed ? xstrndup(out.data, out.len) : NULL;
	strbuf_free(&out);
	return re_out;
}

void
sa_rules_finish(struct sa_rules *r)
{
	unsigned int i;

	for (i = 0; i < r->replace_count &&
	    sa_rules_has_plugin(r, "Mail::SpamAssassin::Plugin::ReplaceTags"); i++) {
		int idx = sa_rules_find(r, r->replace[i]);
		struct sa_rule *rule;
		char *re;

		if (idx < 0)
			continue;
		rule = &r->rules[idx];
		if (rule->replaced || rule->pattern == NULL)
			continue;
		re = replace_tags(r, rule->pattern);
		free(rule->pattern);
		rule->pattern = re;
		rule->replaced = 1;
	}
	for (i = 0; i < r->count; i++) {
		struct sa_rule *rule = &r->rules[i];
		char *re;

		if ((rule->type == SA_RULE_BODY || rule->type == SA_RULE_RAWBODY) &&
		    rule->pattern != NULL && (re = line_ends(rule->pattern)) != NULL) {
			free(rule->pattern);
			rule->pattern = re;
		}
	}
}

unsigned int
sa_rules_count(const struct sa_rules *r)
{
	return r->count;
}

const struct sa_rule *
sa_rules_get(const struct sa_rules *r, unsigned int i)
{
	return i < r->count ? &r->rules[i] : NULL;
}

unsigned int
sa_rules_config_count(const struct sa_rules *r)
{
	return r->config_count;
}

const struct sa_config_line *
sa_rules_config(const struct sa_rules *r, unsigned int i)
{
	return i < r->config_count ? &r->config[i] : NULL;
}

unsigned int
sa_rules_error_count(const struct sa_rules *r)
{
	return r->error_count;
}

const struct sa_rule_error *
sa_rules_error(const struct sa_rules *r, unsigned int i)
{
	return i < r->error_count ? &r->errors[i] : NULL;
}

void
sa_rules_digest(const struct sa_rules *r, unsigned char digest_r[32])
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	unsigned int n = 32;

	if (copy == NULL || EVP_MD_CTX_copy_ex(copy, r->digest) != 1 ||
	    EVP_DigestFinal_ex(copy, digest_r, &n) != 1)
		abort();
	EVP_MD_CTX_free(copy);
}

double
sa_rule_score(const struct sa_rule *rule, unsigned int set)
{
	if (rule->has_score)
		return rule->score[set & 3];
	/* Conf.pm: sub-rules score nothing, T_ rules 0.01, nice ones -1. */
	if (strncmp(rule->name, "__", 2) == 0)
		return 0;
	if (strncmp(rule->name, "T_", 2) == 0)
		return 0.01;
	if (sa_rule_tflag(rule, "nice"))
		return -1;
	return 1;
}

int
sa_rule_tflag(const struct sa_rule *rule, const char *word)
{
	size_t n = strlen(word);
	const char *p;

	if (rule->tflags == NULL || n == 0)
		return 0;
	for (p = rule->tflags; (p = strstr(p, word)) != NULL; p += n) {
		if ((p == rule->tflags || isspace((unsigned char)p[-1])) &&
		    (p[n] == '\0' || isspace((unsigned char)p[n]) || p[n] == '='))
			return 1;
	}
	return 0;
}

unsigned int
sa_rule_maxhits(const struct sa_rule *rule)
{
	const char *p;
	unsigned long n;
	char *end;

	if (!sa_rule_tflag(rule, "multiple"))
		return 1;
	for (p = rule->tflags; (p = strstr(p, "maxhits=")) != NULL; p += 8) {
		if (p != rule->tflags && !isspace((unsigned char)p[-1]))
			continue;
		n = strtoul(p + 8, &end, 10);
		if (end != p + 8 && (*end == '\0' || isspace((unsigned char)*end)) && n > 0)
			return n < SA_MULTIPLE_MAX ? (unsigned int)n : SA_MULTIPLE_MAX;
	}
	return SA_MULTIPLE_MAX;
}

const char *
sa_rule_type_name(enum sa_rule_type type)
{
	static const char *const names[] = { "header", "body", "rawbody", "uri", "full", "meta" };

	return type < SA_RULE_TYPE_COUNT ? names[type] : "?";
}
