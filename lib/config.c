/* SPDX-License-Identifier: MIT */
/*
 * config - parse facteur.conf against the parameter table.  See config.h.
 *
 * Parsing is two-phase: every value is collected and converted into a
 * staging copy first, and only a file without a single error replaces the
 * live values, so a bad edit followed by SIGHUP leaves a daemon running on
 * the configuration it had.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "mem.h"

enum param_type { PT_STR, PT_LIST, PT_INT, PT_BOOL, PT_TIME, PT_SIZE, PT_NUM };

#define PARAM_DEF_STR(name) char *var_##name;
#define PARAM_DEF_LIST(name) char *var_##name;
#define PARAM_DEF_INT(name) long var_##name;
#define PARAM_DEF_BOOL(name) int var_##name;
#define PARAM_DEF_TIME(name) long var_##name;
#define PARAM_DEF_SIZE(name) long var_##name;
#define PARAM_DEF_NUM(name) double var_##name;
#define PARAM_DEF(type, name, def, help) PARAM_DEF_##type(name)
FACTEUR_PARAMS(PARAM_DEF)
#undef PARAM_DEF

struct param {
	const char *name;
	enum param_type type;
	const char *def;
	void *var;
};

#define PARAM_ROW(type, name, def, help) { #name, PT_##type, def, &var_##name },
static const struct param param_table[] = { FACTEUR_PARAMS(PARAM_ROW) };
#undef PARAM_ROW
#define NPARAMS (sizeof(param_table) / sizeof(param_table[0]))

struct map_entry {
	char *section;
	char *key;
	char *value;
};

struct staging {
	char *text[NPARAMS];	/* raw value as written, or NULL for the default */
	int line[NPARAMS];	/* where text was written */
	struct map_entry *maps;
	size_t nmaps;
	const char *path;
	char error[512];
	int error_line;		/* the line error is about */
};

static char *live_text[NPARAMS];
static struct map_entry *live_maps;
static size_t live_nmaps;
static char *live_path;

struct suffix {
	char c;
	long mult;
};

/* A non-negative number with at most one suffix character from table. */
static int
parse_suffixed(const char *s, const struct suffix *table, long *value_r)
{
	char *end;
	long mult = 1, v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || errno != 0 || v < 0)
		return -1;
	if (*end != '\0') {
		const struct suffix *x = table;
		while (x->c != '\0' && x->c != *end)
			x++;
		if (x->c == '\0' || end[1] != '\0')
			return -1;
		mult = x->mult;
	}
	if (v > LONG_MAX / mult)
		return -1;
	*value_r = v * mult;
	return 0;
}

int
config_parse_time(const char *s, long *value_r)
{
	static const struct suffix units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 }, { 0, 0 },
	};

	return parse_suffixed(s, units, value_r);
}

int
config_parse_size(const char *s, long *value_r)
{
	static const struct suffix units[] = {
		{ 'k', 1024 }, { 'K', 1024 }, { 'm', 1024 * 1024 }, { 'M', 1024 * 1024 },
		{ 'g', 1024L * 1024 * 1024 }, { 'G', 1024L * 1024 * 1024 }, { 0, 0 },
	};

	return parse_suffixed(s, units, value_r);
}

static int
parse_bool(const char *s, int *value_r)
{
	if (str_casecmp(s, "yes") == 0 || str_casecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    str_casecmp(s, "on") == 0)
		*value_r = 1;
	else if (str_casecmp(s, "no") == 0 || str_casecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
	    str_casecmp(s, "off") == 0)
		*value_r = 0;
	else
		return -1;
	return 0;
}

/* Convert text for p; store into var when var != NULL.  -1 on a bad value. */
static int
param_convert(const struct param *p, const char *text, int store)
{
	long l;
	int b;
	char *end;

	switch (p->type) {
	case PT_STR:
	case PT_LIST:
		if (store) {
			free(*(char **)p->var);
			*(char **)p->var = xstrdup(text);
		}
		return 0;
	case PT_INT:
		errno = 0;
		l = strtol(text, &end, 10);
		if (end == text || *end != '\0' || errno != 0 || l < 0)
			return -1;
		if (store)
			*(long *)p->var = l;
		return 0;
	case PT_BOOL:
		if (parse_bool(text, &b) < 0)
			return -1;
		if (store)
			*(int *)p->var = b;
		return 0;
	case PT_TIME:
		if (config_parse_time(text, &l) < 0)
			return -1;
		if (store)
			*(long *)p->var = l;
		return 0;
	case PT_SIZE:
		if (config_parse_size(text, &l) < 0)
			return -1;
		if (store)
			*(long *)p->var = l;
		return 0;
	case PT_NUM: {
		double d;
		errno = 0;
		d = strtod(text, &end);
		if (end == text || *end != '\0' || errno != 0 || d != d)
			return -1;
		if (store)
			*(double *)p->var = d;
		return 0;
	}
	}
	return -1;
}

static const char *
param_type_help(enum param_type t)
{
	switch (t) {
	case PT_INT: return "a non-negative integer";
	case PT_BOOL: return "yes or no";
	case PT_TIME: return "a time such as 300, 10m, 4h or 5d";
	case PT_SIZE: return "a size such as 10240000, 512k or 25m";
	case PT_NUM: return "a number such as 5 or -0.5";
	default: return "a string";
	}
}

/* "tag=5 subject=6.5 quarantine=8 reject=12", any of them, once each. */
static int
spam_policy_valid(const char *v)
{
	static const char *const keys[] = { "tag", "subject", "quarantine", "reject" };
	unsigned int seen = 0;
	const char *p = v;

	for (;;) {
		size_t k;
		char *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return seen != 0;
		for (k = 0; k < 4; k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0 && p[strlen(keys[k])] == '=')
				break;
		if (k == 4 || (seen & (1u << k)))
			return 0;
		seen |= 1u << k;
		p += strlen(keys[k]) + 1;
		(void)strtod(p, &end);
		if (end == p || (*end != '\0' && *end != ' ' && *end != '\t' && *end != ','))
			return 0;
		p = end;
	}
}

static int
is_map_section(const char *section)
{
	return strcmp(section, "transport") == 0 || strcmp(section, "tls_policy") == 0 ||
	    strcmp(section, "spam_policy") == 0;
}

/* inih does not report line numbers (Debian builds it without
 * INI_HANDLER_LINENO): the reader counts the lines it hands over. */
struct line_reader {
	FILE *fp;
	int lineno;
	struct staging *st;
	int long_line;		/* the first setting longer than inih takes, 0: none */
	int max;
};

static char *
config_read_line(char *str, int num, void *stream)
{
	struct line_reader *lr = stream;
	char *r = fgets(str, num, lr->fp);
	size_t len;
	int ch;

	if (r == NULL)
		return NULL;
	lr->lineno++;
	len = strlen(r);
	if (len == 0 || r[len - 1] == '\n' || feof(lr->fp))
		return r;
	/*
	 * Longer than inih's line buffer: one physical line is one line, so
	 * the numbers stay right.  A comment's end is dropped; a setting
	 * cut short would be a wrong value: an error.
	 */
	while ((ch = getc(lr->fp)) != EOF && ch != '\n')
		;
	r += strspn(r, " \t");
	if (*r != '#' && *r != ';' && lr->long_line == 0) {
		lr->long_line = lr->lineno;
		lr->max = num - 2;
	}
	return str;
}

static struct line_reader *current_reader;

static int
config_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct staging *st = user;
	int lineno = current_reader->lineno;
	size_t i;

	/* inih goes on after an error: keep the first one, the one to fix first. */
	if (st->error[0] != '\0')
		return 0;
	if (section[0] != '\0') {
		if (!is_map_section(section)) {
			snprintf(st->error, sizeof(st->error), "%s:%d: unknown section [%s]",
			    st->path, lineno, section);
			st->error_line = lineno;
			return 0;
		}
		if (strcmp(section, "tls_policy") == 0 && strcmp(value, "none") != 0 &&
		    strcmp(value, "may") != 0 && strcmp(value, "encrypt") != 0 &&
		    strcmp(value, "verify") != 0) {
			snprintf(st->error, sizeof(st->error),
			    "%s:%d: bad TLS policy \"%s\" for %s: use none, may, encrypt or verify",
			    st->path, lineno, value, name);
			st->error_line = lineno;
			return 0;
		}
		if (strcmp(section, "spam_policy") == 0 && !spam_policy_valid(value)) {
			snprintf(st->error, sizeof(st->error),
			    "%s:%d: bad spam policy \"%s\" for %s: use tag=N subject=N quarantine=N "
			    "reject=N (any of them)", st->path, lineno, value, name);
			st->error_line = lineno;
			return 0;
		}
		st->maps = xrealloc(st->maps, (st->nmaps + 1) * sizeof(*st->maps));
		st->maps[st->nmaps].section = xstrdup(section);
		st->maps[st->nmaps].key = str_lower(xstrdup(name));
		st->maps[st->nmaps].value = xstrdup(value);
		st->nmaps++;
		return 1;
	}
	for (i = 0; i < NPARAMS; i++)
		if (strcmp(param_table[i].name, name) == 0)
			break;
	if (i == NPARAMS) {
		snprintf(st->error, sizeof(st->error), "%s:%d: unknown parameter \"%s\"",
		    st->path, lineno, name);
		st->error_line = lineno;
		return 0;
	}
	if (param_convert(&param_table[i], value, 0) < 0) {
		snprintf(st->error, sizeof(st->error), "%s:%d: bad value \"%s\" for %s: expected %s",
		    st->path, lineno, value, name, param_type_help(param_table[i].type));
		st->error_line = lineno;
		return 0;
	}
	free(st->text[i]);
	st->text[i] = xstrdup(value);
	st->line[i] = lineno;
	return 1;
}

static void
maps_free(struct map_entry *maps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(maps[i].section);
		free(maps[i].key);
		free(maps[i].value);
	}
	free(maps);
}

static int
check_enums(struct staging *st)
{
	static const struct { const char *name; const char *allowed[5]; } enums[] = {
		{ "smtpd_bare_newline", { "reject", "normalize" } },
		{ "queue_sync", { "syncfs", "fsync" } },
		{ "lmtp_sync", { "group", "fsync" } },
		{ "imap_flag_sync", { "normal", "full" } },
		{ "smtp_tls_policy", { "none", "may", "encrypt", "verify" } },
		{ "log_level", { "error", "warn", "info", "debug" } },
		{ "av_not_ready_action", { "accept", "tempfail" } },
		{ "filter_failure_action", { "accept", "tempfail" } },
		{ "milter_default_action", { "accept", "reject", "tempfail" } },
		{ "dnsbl_action", { "enforce", "drop", "ignore" } },
		{ "smtpd_pregreet_action", { "enforce", "drop", "ignore" } },
		{ "smtpd_pipelining_action", { "enforce", "drop", "ignore" } },
		{ "lmtp_quota_status", { "permanent", "temporary" } },
	};
	for (size_t e = 0; e < sizeof(enums) / sizeof(enums[0]); e++) {
		for (size_t i = 0; i < NPARAMS; i++) {
			int ok = 0;
			if (strcmp(param_table[i].name, enums[e].name) != 0 || st->text[i] == NULL)
				continue;
			for (size_t a = 0; a < 5 && enums[e].allowed[a] != NULL; a++)
				if (strcmp(st->text[i], enums[e].allowed[a]) == 0)
					ok = 1;
			if (!ok) {
				snprintf(st->error, sizeof(st->error), "%s:%d: bad value \"%s\" for %s",
				    st->path, st->line[i], st->text[i], enums[e].name);
				return -1;
			}
		}
	}
	/* Rate limits: COUNT/PERIOD, or empty. */
	for (size_t i = 0; i < NPARAMS; i++) {
		long count, period;
		size_t n = strlen(param_table[i].name);

		if (n < 11 || strcmp(param_table[i].name + n - 11, "_rate_limit") != 0 ||
		    st->text[i] == NULL || config_parse_rate(st->text[i], &count, &period) == 0)
			continue;
		snprintf(st->error, sizeof(st->error),
		    "%s:%d: bad value \"%s\" for %s: want COUNT/PERIOD such as 100/1h",
		    st->path, st->line[i], st->text[i], param_table[i].name);
		return -1;
	}
	return 0;
}

int
config_parse_rate(const char *s, long *count_r, long *period_r)
{
	char *end, buf[64];
	const char *slash;
	long count;

	*count_r = *period_r = 0;
	if (s[0] == '\0')
		return 0;
	slash = strchr(s, '/');
	if (slash == NULL || slash == s || (size_t)(slash - s) >= sizeof(buf) || s[0] < '0' ||
	    s[0] > '9')
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	errno = 0;
	count = strtol(buf, &end, 10);
	if (*end != '\0' || errno != 0 || count < 0 ||
	    config_parse_time(slash + 1, period_r) < 0 || *period_r <= 0)
		return -1;
	*count_r = count;
	return 0;
}

int
config_load(const char *path, const char **error_r)
{
	static char error[512];
	struct staging st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.path = path;
	if (path != NULL) {
		struct line_reader lr = { fopen(path, "r"), 0, &st, 0, 0 };
		if (lr.fp == NULL) {
			rc = -1;
		} else {
			current_reader = &lr;
			rc = ini_parse_stream(config_read_line, &lr, config_ini_line, &st);
			current_reader = NULL;
			fclose(lr.fp);
		}
		if (rc < 0) {
			snprintf(st.error, sizeof(st.error), "%s: cannot open: %s", path, strerror(errno));
		} else if (lr.long_line > 0 && (st.error[0] == '\0' || st.error_line >= lr.long_line)) {
			snprintf(st.error, sizeof(st.error), "%s:%d: line longer than %d characters",
			    path, lr.long_line, lr.max);
		} else if (rc > 0 && (st.error[0] == '\0' || st.error_line != rc)) {
			/* inih saw a line it could not parse before any we refused. */
			snprintf(st.error, sizeof(st.error), "%s:%d: syntax error", path, rc);
		}
		if (st.error[0] == '\0')
			check_enums(&st);
		if (st.error[0] != '\0') {
			for (size_t i = 0; i < NPARAMS; i++)
				free(st.text[i]);
			maps_free(st.maps, st.nmaps);
			str_copy(error, st.error, sizeof(error));
			*error_r = error;
			return -1;
		}
	}
	/* Commit: defaults first, then what the file says. */
	for (size_t i = 0; i < NPARAMS; i++) {
		const char *text = st.text[i] != NULL ? st.text[i] : param_table[i].def;
		if (param_convert(&param_table[i], text, 1) < 0)
			panic("default of %s does not parse", param_table[i].name);
		free(live_text[i]);
		live_text[i] = st.text[i];
	}
	maps_free(live_maps, live_nmaps);
	live_maps = st.maps;
	live_nmaps = st.nmaps;
	/* path may be config_path() itself: copy before freeing. */
	{
		char *copy = path != NULL ? xstrdup(path) : NULL;
		free(live_path);
		live_path = copy;
	}
	return 0;
}

const char *
config_path(void)
{
	return live_path;
}

const char *
config_map_lookup(const char *section, const char *domain)
{
	const char *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < live_nmaps; i++) {
		const struct map_entry *m = &live_maps[i];
		size_t klen = strlen(m->key);
		if (strcmp(m->section, section) != 0)
			continue;
		if (str_casecmp(m->key, domain) == 0)
			return m->value;
		/* ".example.org" matches any subdomain; the longest match wins. */
		if (m->key[0] == '.' && str_has_suffix_ci(domain, m->key) && klen > best_len) {
			best = m->value;
			best_len = klen;
		}
	}
	return best;
}

void
config_dump(FILE *out, int nondefault)
{
	for (size_t i = 0; i < NPARAMS; i++) {
		const struct param *p = &param_table[i];
		if (nondefault && live_text[i] == NULL)
			continue;
		fprintf(out, "%s = %s\n", p->name, live_text[i] != NULL ? live_text[i] : p->def);
	}
	for (size_t i = 0; i < live_nmaps; i++) {
		if (i == 0 || strcmp(live_maps[i].section, live_maps[i - 1].section) != 0)
			fprintf(out, "[%s]\n", live_maps[i].section);
		fprintf(out, "%s = %s\n", live_maps[i].key, live_maps[i].value);
	}
}

int
config_list_foreach(const char *list, int (*fn)(const char *item, void *ctx), void *ctx)
{
	const char *p = list;

	while (*p != '\0') {
		char item[1024];
		size_t n;
		int rc;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ", \t\r\n");
		if (n == 0)
			break;
		if (n >= sizeof(item))
			n = sizeof(item) - 1;
		memcpy(item, p, n);
		item[n] = '\0';
		p += strcspn(p, ", \t\r\n");
		if ((rc = fn(item, ctx)) != 0)
			return rc;
	}
	return 0;
}

static int
domain_match(const char *item, void *ctx)
{
	const char *domain = ctx;

	if (item[0] == '.')
		return str_has_suffix_ci(domain, item);
	return str_casecmp(item, domain) == 0;
}

int
config_list_has_domain(const char *list, const char *domain)
{
	char d[256];
	size_t n = str_copy(d, domain, sizeof(d));

	/* "example.org." is "example.org", for smtpd and qmgr alike. */
	if (n > 0 && n < sizeof(d) && d[n - 1] == '.')
		d[n - 1] = '\0';
	return config_list_foreach(list, domain_match, d) != 0;
}
