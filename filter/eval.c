/* SPDX-License-Identifier: MIT */
/*
 * eval - SpamAssassin's eval: tests in C (see eval.h).  Each function
 * follows the Perl of SpamAssassin 4.0.1's plugin named beside it; the
 * regular expressions are the plugin's, run by PCRE2.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filter/charset.h"
#include "filter/eval.h"
#include "filter/eval_re.h"
#include "filter/eval_received.h"
#include "filter/html_style.h"
#include "filter/mime.h"
#include "filter/sa_rules.h"
#include "filter/strbuf.h"
#include "lib/mem.h"
#include "lib/strset.h"

#define MAX_ARGS 8
#define MAX_BODY_LINE 2048	/* Constants.pm MAX_BODY_LINE_LENGTH */
#define MAX_PARTS 1000
#define MAX_DEPTH 20

/* ---- configuration ---- */

struct str_set {
	char **v;
	size_t n, alloc;
};

struct addrlist {
	char *name;		/* enlist_addrlist (NAME) */
	struct str_set globs;
};

/* enlist_uri_host (NAME) / blocklist_uri_host (BLOCK) / welcomelist_uri_host (WELCOME) */
struct uri_hostlist {
	char *name;
	char **hosts;		/* lower case, "!" taken off */
	int *verdict;		/* 1 listed, 0 "!": explicitly not */
	size_t n;
};

struct eval_config {
	struct str_set freemail;	/* domains */
	struct str_set freemail_wc;	/* domains with * or ? */
	struct str_set freemail_welcome;
	struct str_set welcome_from, block_from, def_welcome_from;
	struct str_set welcome_to, block_to, all_spam_to, more_spam_to;
	struct addrlist *lists;
	size_t nlists;
	int locales_all;	/* ok_locales all (the default) */
	pcre2_code *freemail_re;	/* the wildcard domains, as FreeMail.pm builds it */
	/* RegistryBoundaries: util_rb_tld, util_rb_2tld, util_rb_3tld */
	struct str_set tlds, tlds2, tlds3;
	struct uri_hostlist *hostlists;	/* sorted by name, as WLBLEval goes through them */
	size_t nhostlists;
	pcre2_code *uri_re;	/* PerMsgStatus::_tbirdurire with the TLDs */
	pcre2_code **redirectors;	/* redirector_pattern, in order */
	size_t nredirectors;
};

static void
set_add(struct str_set *s, const char *v)
{
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 64;
		s->v = xrealloc(s->v, s->alloc * sizeof(*s->v));
	}
	s->v[s->n] = xstrdup(v);
	str_lower(s->v[s->n]);
	s->n++;
}

static void
set_free(struct str_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int
str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
set_has(const struct str_set *s, const char *v)
{
	return s->n > 0 && bsearch(&v, s->v, s->n, sizeof(*s->v), str_ptr_cmp) != NULL;
}

/* Every blank-separated word of value into s. */
static void
set_add_words(struct str_set *s, const char *value)
{
	char w[512];
	const char *p = value;

	while (*p != '\0') {
		size_t n = 0;
		while (isspace((unsigned char)*p))
			p++;
		while (*p != '\0' && !isspace((unsigned char)*p)) {
			if (n + 1 < sizeof(w))
				w[n++] = *p;
			p++;
		}
		w[n] = '\0';
		if (n > 0)
			set_add(s, w);
	}
}

/* Shell glob with * and ?, case already folded. */
static int
glob_match(const char *g, const char *s)
{
	const char *star = NULL, *ss = NULL;

	while (*s != '\0') {
		if (*g == '?' || *g == *s) {
			g++;
			s++;
		} else if (*g == '*') {
			star = g++;
			ss = s;
		} else if (star != NULL) {
			g = star + 1;
			s = ++ss;
		} else {
			return 0;
		}
	}
	while (*g == '*')
		g++;
	return *g == '\0';
}

static int
set_glob_match(const struct str_set *s, const char *addr)
{
	for (size_t i = 0; i < s->n; i++)
		if (glob_match(s->v[i], addr))
			return 1;
	return 0;
}

static struct addrlist *
config_list(struct eval_config *c, const char *name)
{
	for (size_t i = 0; i < c->nlists; i++)
		if (strcmp(c->lists[i].name, name) == 0)
			return &c->lists[i];
	c->lists = xrealloc(c->lists, (c->nlists + 1) * sizeof(*c->lists));
	memset(&c->lists[c->nlists], 0, sizeof(*c->lists));
	c->lists[c->nlists].name = xstrdup(name);
	return &c->lists[c->nlists++];
}

static void
set_sort(struct str_set *s)
{
	if (s->n > 0)
		qsort(s->v, s->n, sizeof(char *), str_ptr_cmp);
}

static int
hostlist_cmp(const void *a, const void *b)
{
	return strcmp(((const struct uri_hostlist *)a)->name,
	    ((const struct uri_hostlist *)b)->name);
}

static struct uri_hostlist *
config_hostlist(struct eval_config *c, const char *name, int create)
{
	for (size_t i = 0; i < c->nhostlists; i++)
		if (strcmp(c->hostlists[i].name, name) == 0)
			return &c->hostlists[i];
	if (!create)
		return NULL;
	c->hostlists = xrealloc(c->hostlists, (c->nhostlists + 1) * sizeof(*c->hostlists));
	memset(&c->hostlists[c->nhostlists], 0, sizeof(*c->hostlists));
	c->hostlists[c->nhostlists].name = xstrdup(name);
	return &c->hostlists[c->nhostlists++];
}

/* Conf.pm's uri_host_lists: the last word about a host wins, delist removes it. */
static void
hostlist_set(struct uri_hostlist *hl, const char *host, int verdict, int remove)
{
	for (size_t i = 0; i < hl->n; i++) {
		if (strcmp(hl->hosts[i], host) != 0)
			continue;
		if (remove) {
			free(hl->hosts[i]);
			hl->hosts[i] = hl->hosts[hl->n - 1];
			hl->verdict[i] = hl->verdict[hl->n - 1];
			hl->n--;
		} else {
			hl->verdict[i] = verdict;
		}
		return;
	}
	if (remove)
		return;
	hl->hosts = xrealloc(hl->hosts, (hl->n + 1) * sizeof(*hl->hosts));
	hl->verdict = xrealloc(hl->verdict, (hl->n + 1) * sizeof(*hl->verdict));
	hl->hosts[hl->n] = xstrdup(host);
	hl->verdict[hl->n] = verdict;
	hl->n++;
}

static void
config_uri_hosts(struct eval_config *c, const char *key, const char *value)
{
	char name[128] = "";
	struct str_set words = { 0 };
	int remove = strcmp(key, "delist_uri_host") == 0;
	const char *p = value;

	if (*p == '(') {
		const char *e = strchr(p, ')');
		if (e == NULL || (size_t)(e - p) >= sizeof(name) || e == p + 1)
			return;
		memcpy(name, p + 1, (size_t)(e - p - 1));
		name[e - p - 1] = '\0';
		p = e + 1;
	} else if (strcmp(key, "enlist_uri_host") == 0) {
		return;	/* the list name is required */
	}
	if (strstr(key, "block") != NULL || strstr(key, "black") != NULL)
		str_copy(name, "BLOCK", sizeof(name));
	else if (strstr(key, "welcome") != NULL || strstr(key, "white") != NULL)
		str_copy(name, "WELCOME", sizeof(name));
	set_add_words(&words, p);
	for (size_t i = 0; i < words.n; i++) {
		const char *h = words.v[i];
		int verdict = 1;
		if (*h == '!') {
			h++;
			verdict = 0;
		}
		if (remove && name[0] == '\0') {
			for (size_t j = 0; j < c->nhostlists; j++)
				hostlist_set(&c->hostlists[j], h, 0, 1);
		} else {
			struct uri_hostlist *hl = config_hostlist(c, name, !remove);
			if (hl != NULL)
				hostlist_set(hl, h, verdict, remove);
		}
	}
	set_free(&words);
}

static pcre2_code *uri_re_build(const struct str_set *tlds);

/* redirector_pattern /re/flags: $1 is the URI a redirector leads to. */
static void
config_redirector(struct eval_config *c, const char *value)
{
	const char *p = value, *error;
	char *pattern;
	unsigned int flags;
	uint32_t opts = 0;
	pcre2_code *re;
	int err;
	PCRE2_SIZE off;

	while (isspace((unsigned char)*p))
		p++;
	if (sa_regex_parse(&p, &pattern, &flags, &error) < 0)
		return;
	if (flags & SA_RE_CASELESS)
		opts |= PCRE2_CASELESS;
	if (flags & SA_RE_DOTALL)
		opts |= PCRE2_DOTALL;
	if (flags & SA_RE_MULTILINE)
		opts |= PCRE2_MULTILINE;
	if (flags & SA_RE_EXTENDED)
		opts |= PCRE2_EXTENDED;
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
	free(pattern);
	if (re == NULL)
		return;
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	c->redirectors = xrealloc(c->redirectors, (c->nredirectors + 1) * sizeof(*c->redirectors));
	c->redirectors[c->nredirectors++] = re;
}

struct eval_config *
eval_config_new(const struct sa_rules *rules)
{
	struct eval_config *c = xcalloc(1, sizeof(*c));

	c->locales_all = 1;
	for (unsigned int i = 0; rules != NULL && i < sa_rules_config_count(rules); i++) {
		const struct sa_config_line *l = sa_rules_config(rules, i);
		const char *k = l->key;

		if (strcmp(k, "freemail_domains") == 0) {
			struct str_set tmp = { 0 };
			set_add_words(&tmp, l->value);
			for (size_t j = 0; j < tmp.n; j++) {
				if (strspn(tmp.v[j], "abcdefghijklmnopqrstuvwxyz0123456789.*?-") !=
				    strlen(tmp.v[j]))
					continue;
				set_add(strpbrk(tmp.v[j], "*?") != NULL ? &c->freemail_wc :
				    &c->freemail, tmp.v[j]);
			}
			set_free(&tmp);
		} else if (strcmp(k, "freemail_welcomelist") == 0 ||
		    strcmp(k, "freemail_whitelist") == 0) {
			set_add_words(&c->freemail_welcome, l->value);
		} else if (strcmp(k, "welcomelist_from") == 0 || strcmp(k, "whitelist_from") == 0) {
			set_add_words(&c->welcome_from, l->value);
		} else if (strcmp(k, "blocklist_from") == 0 || strcmp(k, "blacklist_from") == 0) {
			set_add_words(&c->block_from, l->value);
		} else if (strcmp(k, "def_welcomelist_from") == 0 ||
		    strcmp(k, "def_whitelist_from") == 0) {
			set_add_words(&c->def_welcome_from, l->value);
		} else if (strcmp(k, "welcomelist_to") == 0 || strcmp(k, "whitelist_to") == 0) {
			set_add_words(&c->welcome_to, l->value);
		} else if (strcmp(k, "blocklist_to") == 0 || strcmp(k, "blacklist_to") == 0) {
			set_add_words(&c->block_to, l->value);
		} else if (strcmp(k, "all_spam_to") == 0) {
			set_add_words(&c->all_spam_to, l->value);
		} else if (strcmp(k, "more_spam_to") == 0) {
			set_add_words(&c->more_spam_to, l->value);
		} else if (strcmp(k, "enlist_addrlist") == 0) {
			/* enlist_addrlist (NAME) glob ... */
			const char *p = l->value, *e;
			char name[128];
			if (*p != '(' || (e = strchr(p, ')')) == NULL || (size_t)(e - p) >= sizeof(name))
				continue;
			memcpy(name, p + 1, (size_t)(e - p - 1));
			name[e - p - 1] = '\0';
			set_add_words(&config_list(c, name)->globs, e + 1);
		} else if (strcmp(k, "ok_locales") == 0) {
			c->locales_all = strstr(l->value, "all") != NULL;
		} else if (strcmp(k, "util_rb_tld") == 0) {
			set_add_words(&c->tlds, l->value);
		} else if (strcmp(k, "util_rb_2tld") == 0) {
			set_add_words(&c->tlds2, l->value);
		} else if (strcmp(k, "util_rb_3tld") == 0) {
			set_add_words(&c->tlds3, l->value);
		} else if (strcmp(k, "clear_util_rb") == 0) {
			set_free(&c->tlds);
			set_free(&c->tlds2);
			set_free(&c->tlds3);
		} else if (strcmp(k, "redirector_pattern") == 0) {
			config_redirector(c, l->value);
		} else if (strcmp(k, "enlist_uri_host") == 0 || strcmp(k, "delist_uri_host") == 0 ||
		    strcmp(k, "blocklist_uri_host") == 0 || strcmp(k, "blacklist_uri_host") == 0 ||
		    strcmp(k, "welcomelist_uri_host") == 0 || strcmp(k, "whitelist_uri_host") == 0) {
			config_uri_hosts(c, k, l->value);
		}
	}
	set_sort(&c->tlds);
	set_sort(&c->tlds2);
	set_sort(&c->tlds3);
	if (c->nhostlists > 0)
		qsort(c->hostlists, c->nhostlists, sizeof(*c->hostlists), hostlist_cmp);
	c->uri_re = uri_re_build(&c->tlds);
	if (c->freemail.n > 0)
		qsort(c->freemail.v, c->freemail.n, sizeof(char *), str_ptr_cmp);
	if (c->freemail_wc.n > 0) {
		/* \@(?:dom|dom)$ with . as \., ? as . and * as [^.]* */
		struct strbuf b = { NULL, 0, 0 };
		int err;
		PCRE2_SIZE off;

		strbuf_append(&b, "@(?:", 4);
		for (size_t i = 0; i < c->freemail_wc.n; i++) {
			if (i > 0)
				strbuf_putc(&b, '|');
			for (const char *q = c->freemail_wc.v[i]; *q != '\0'; q++) {
				if (*q == '.')
					strbuf_append(&b, "\\.", 2);
				else if (*q == '?')
					strbuf_putc(&b, '.');
				else if (*q == '*')
					strbuf_append(&b, "[^.]*", 5);
				else
					strbuf_putc(&b, *q);
			}
		}
		strbuf_append(&b, ")$", 3);
		c->freemail_re = pcre2_compile((PCRE2_SPTR)b.data, PCRE2_ZERO_TERMINATED, 0, &err,
		    &off, NULL);
		strbuf_free(&b);
	}
	if (c->freemail_welcome.n > 0)
		qsort(c->freemail_welcome.v, c->freemail_welcome.n, sizeof(char *),
		    str_ptr_cmp);
	return c;
}

void
eval_config_free(struct eval_config **cp)
{
	struct eval_config *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	set_free(&c->freemail);
	set_free(&c->freemail_wc);
	if (c->freemail_re != NULL)
		pcre2_code_free(c->freemail_re);
	set_free(&c->freemail_welcome);
	set_free(&c->welcome_from);
	set_free(&c->block_from);
	set_free(&c->def_welcome_from);
	set_free(&c->welcome_to);
	set_free(&c->block_to);
	set_free(&c->all_spam_to);
	set_free(&c->more_spam_to);
	for (size_t i = 0; i < c->nlists; i++) {
		free(c->lists[i].name);
		set_free(&c->lists[i].globs);
	}
	free(c->lists);
	set_free(&c->tlds);
	set_free(&c->tlds2);
	set_free(&c->tlds3);
	for (size_t i = 0; i < c->nhostlists; i++) {
		struct uri_hostlist *hl = &c->hostlists[i];
		for (size_t j = 0; j < hl->n; j++)
			free(hl->hosts[j]);
		free(hl->hosts);
		free(hl->verdict);
		free(hl->name);
	}
	free(c->hostlists);
	if (c->uri_re != NULL)
		pcre2_code_free(c->uri_re);
	for (size_t i = 0; i < c->nredirectors; i++)
		pcre2_code_free(c->redirectors[i]);
	free(c->redirectors);
	free(c);
}

/* ---- regular expressions: the plugins' own, compiled once (filter/eval_re.c) ---- */

static int
re_find_at(const char *pattern, uint32_t options, const char *s, size_t len, size_t start,
    size_t *ov)
{
	return eval_re_find_at(pattern, options, s, len, start, ov);
}

static int
re_find(const char *pattern, uint32_t options, const char *s, size_t *ov)
{
	return eval_re_find(pattern, options, s, ov);
}

/* PCRE2's \w without UCP (its default tables): ASCII letters, digits, _ */
static int
re_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_';
}

/* n bytes alike but for ASCII case, as a caseless \Q...\E compares them */
static int
ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/* \b at s + i (s of len bytes): \w on one side only */
static int
re_boundary(const char *s, size_t len, size_t i)
{
	int before = i > 0 && re_word((unsigned char)s[i - 1]);
	int after = i < len && re_word((unsigned char)s[i]);

	return before != after;
}

/*
 * /\b\Qa\E(?:.\Qb\E@|\b)/i without compiling it for each message (a
 * and b come from the message): a at a word boundary, followed by a
 * boundary (b NULL) or by any byte but a line end, b and '@'.
 */
static int
quoted_find(const char *s, const char *a, const char *b)
{
	size_t len = strlen(s), na = strlen(a), nb = b != NULL ? strlen(b) : 0;

	for (size_t i = 0; i + na <= len; i++) {
		size_t j = i + na;

		if (!ascii_caseeq(s + i, a, na) || !re_boundary(s, len, i))
			continue;
		if (b == NULL ? re_boundary(s, len, j) :
		    j + 1 + nb + 1 <= len && s[j] != '\n' && ascii_caseeq(s + j + 1, b, nb) &&
		    s[j + 1 + nb] == '@')
			return 1;
	}
	return 0;
}

/* A pattern built at run time (configuration, arguments): compiled each time. */
static int
re_dynamic(const char *pattern, uint32_t options, const char *s)
{
	pcre2_code *code;
	pcre2_match_data *md;
	int err, rc;
	PCRE2_SIZE off;

	code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &err, &off,
	    NULL);
	if (code == NULL)
		return 0;
	md = pcre2_match_data_create_from_pattern(code, NULL);
	rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(code);
	return rc > 0;
}

/* ---- the message as SpamAssassin's Message.pm splits it ---- */

struct sa_hdr {
	char *name;		/* as written */
	char *value;		/* raw, folded, without the leading blanks after the colon */
};

struct sa_part {
	int parent;
	char type[96];		/* lower case, "text/plain" by default */
	char cte[64];		/* lower case */
	char cd[128];		/* lower case, first 127 bytes */
	char charset[64];	/* lower case */
	char boundary[256];
	int is_leaf;
	int html_named;		/* named *.html: its effective type is text/html (Node.pm) */
	const char *body;	/* raw body lines in the message */
	size_t body_len;
	struct sa_hdr *hdrs;
	size_t nhdrs;
};

/* One URI of an HTML part, as HTML.pm's uri_detail keeps it. */
struct html_uri {
	char *key;		/* the target URI, or an <a href> as written */
	unsigned int types;	/* HTML_T_* of the tags that gave it */
	struct strbuf anchor;	/* anchor texts, each ended by \0 */
	size_t nanchors;
};

struct html_info {
	size_t part;		/* its index in eval_state's parts */
	int tags, elements, tags_seen, elements_seen, closed_extra, obfuscation;
	int uri_truncated, form_action_mailto, font_face_bad, embeds;
	unsigned long length;	/* characters of HTML */
	unsigned long image_area;
	unsigned long html_length, non_space_len;	/* of the rendered text */
	struct str_set inside_names;	/* tags seen */
	int *inside;			/* counts, parallel to inside_names */
	struct strbuf title, comment, anchor;	/* entries, each ended by \0 */
	int ntitles, nanchors;
	struct html_uri *uris;	/* uris[i].key is uri_keys.v[i] */
	size_t nuris;
	struct strset uri_keys;
	/* while parsing */
	struct strbuf text;	/* rendered */
	size_t piece;		/* start of the last piece of text in text */
	int npieces, piece_ws;	/* the last piece was white space */
	int piece_invisible;	/* the last piece was invisible text */
	struct html_styles styles;	/* text_style: colours, sizes, invisible text */
	char *anchor_last;
	char *base_href;
};

struct eval_state {
	int parsed;
	struct sa_part *parts;
	size_t nparts;
	/* Message.pm flags */
	int missing_head_body_separator, missing_mime_head_body_separator, truncated_header;
	int mime_epilogue_exists, missing_mime_headers;
	size_t pristine_body_length;
	/* MIMEEval */
	int mime_done;
	int base64_count, qp_count_parts, attachment, base64_text, bad_iso_charset;
	int html_count, text_count, qp_long_line, ascii_text_illegal;
	double multipart_ratio, qp_ratio, unicode_ratio;
	char *html_charsets;
	/* HTML of each text/html leaf part */
	int html_done;
	struct html_info *html;
	size_t nhtml;
	/* URIs of the text and the HTML, canonicalized (get_uri_detail_list) */
	int uris_done, uri_truncated;
	struct strset uri_hosts;
	struct strset uri_list;	/* every canonical form: what uri rules match */
	/* images */
	int images_done;
	unsigned long count[4], area[4];	/* all gif png jpeg */
	/* dates */
	int dates_done;
	int have_date_diff;
	double date_diff;
	/* BodyEval's multipart/alternative word difference */
	int madiff_done;
	double madiff;
	size_t madiff_html, madiff_text;
	/* FreeMail::_parse_body: ok 0 past its limits, else the (at most 2) freemails */
	int freemail_done, freemail_ok;
	char freemail[2][256];
	size_t nfreemail;
};

static int
is_field_name_line(const char *p, const char *end)
{
	/* ^[\041-\071\073-\176]+[ \t]*: */
	const char *q = p;

	while (q < end && *q >= 041 && *q <= 0176 && *q != ':')
		q++;
	if (q == p)
		return 0;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	return q < end && *q == ':';
}

static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl + 1 : end;
}

static int
blank_line(const char *p, const char *e)
{
	return e - p == 0 || (e - p == 1 && *p == '\n') || (e - p == 2 && p[0] == '\r' && p[1] == '\n');
}

static const char *
part_header(const struct sa_part *p, const char *name)
{
	for (size_t i = 0; i < p->nhdrs; i++)
		if (str_casecmp(p->hdrs[i].name, name) == 0)
			return p->hdrs[i].value;
	return NULL;
}

static void
part_add_header(struct sa_part *p, const char *h, size_t len)
{
	const char *colon = memchr(h, ':', len), *v;
	size_t nl;

	if (colon == NULL)
		return;
	p->hdrs = xrealloc(p->hdrs, (p->nhdrs + 1) * sizeof(*p->hdrs));
	nl = (size_t)(colon - h);
	while (nl > 0 && (h[nl - 1] == ' ' || h[nl - 1] == '\t'))
		nl--;
	v = colon + 1;
	while (v < h + len && isspace((unsigned char)*v))
		v++;
	p->hdrs[p->nhdrs].name = xstrndup(h, nl);
	p->hdrs[p->nhdrs].value = xstrndup(v, (size_t)(h + len - v));
	p->nhdrs++;
}

/* Util::parse_content_type, enough of it: type, boundary, charset. */
static void
part_content_type(struct sa_part *p, const char *def)
{
	const char *ct = part_header(p, "Content-Type"), *s;
	size_t ov[10], n;

	snprintf(p->type, sizeof(p->type), "%s", def);
	p->charset[0] = p->boundary[0] = '\0';
	if (ct == NULL)
		return;
	if (re_find("\\bboundary\\s*=\\s*[\"']?([^\"';]+)[\"']?", PCRE2_CASELESS, ct, ov)) {
		n = ov[3] - ov[2];
		while (n > 0 && isspace((unsigned char)ct[ov[2] + n - 1]))
			n--;
		snprintf(p->boundary, sizeof(p->boundary), "%.*s", (int)n, ct + ov[2]);
	}
	if (re_find("\\bcharset\\s*=\\s*[\"']?([^\"';\\s]+)", PCRE2_CASELESS, ct, ov))
		snprintf(p->charset, sizeof(p->charset), "%.*s", (int)(ov[3] - ov[2]), ct + ov[2]);
	str_lower(p->charset);
	s = ct;
	while (isspace((unsigned char)*s))
		s++;
	/* ($ct) = $ct =~ /^\s*([^;\s]+)/ ... type/subtype, else the default */
	n = strcspn(s, "; \t\r\n");
	if (n > 0 && n < sizeof(p->type) && memchr(s, '/', n) != NULL) {
		memcpy(p->type, s, n);
		p->type[n] = '\0';
		str_lower(p->type);
		/* remove "s from the type */
		for (char *q = p->type; *q != '\0'; q++)
			if (*q == '"' || *q == '\'')
				memmove(q, q + 1, strlen(q)), q--;
	} else if (n > 0 && n < sizeof(p->type)) {
		/* "text" alone: SpamAssassin reads text/plain */
		if (str_ncasecmp(s, "text", 4) == 0 && n == 4)
			snprintf(p->type, sizeof(p->type), "text/plain");
	}
}

/*
 * Message.pm's name of a part (Content-Disposition's name=, else
 * Content-Type's name or filename) ends in .html, .htm, .shtml or .shtm:
 * Node.pm's effective_type() is then text/html, whatever the part's type.
 */
static int
part_html_named(const struct sa_part *p)
{
	static const char *const fields[2] = { "Content-Disposition", "Content-Type" };
	static const char *const res[2] = {
		"name=\\s*\"?([^\";]+)\"?",
		"\\b(?:file)?name\\s*=\\s*[\"']?(.*?)[\"']?(?:;|$)",
	};
	char v[1024], name[256];
	size_t ov[10];

	for (int k = 0; k < 2; k++) {
		const char *raw = part_header(p, fields[k]);
		size_t n = 0;

		if (raw == NULL)
			continue;
		/* Unfolded as Node.pm's header() gives it: a fold is one space. */
		for (; *raw != '\0' && n + 1 < sizeof(v); raw++) {
			if (*raw != '\r' && *raw != '\n') {
				v[n++] = *raw;
				continue;
			}
			while (raw[1] == '\r' || raw[1] == '\n')
				raw++;
			if (raw[1] == ' ' || raw[1] == '\t') {
				while (raw[1] == ' ' || raw[1] == '\t')
					raw++;
				v[n++] = ' ';
			}
		}
		v[n] = '\0';
		if (!re_find(res[k], PCRE2_CASELESS, v, ov))
			continue;
		n = ov[3] - ov[2];
		while (n > 0 && isspace((unsigned char)v[ov[2] + n - 1]))
			n--;
		if (n == 0 || n >= sizeof(name))
			return 0;
		memcpy(name, v + ov[2], n);
		name[n] = '\0';
		return mime_name_is_html(name);
	}
	return 0;
}

static void
part_fields(struct sa_part *p)
{
	const char *v;
	char *nl;

	if ((v = part_header(p, "Content-Transfer-Encoding")) != NULL) {
		snprintf(p->cte, sizeof(p->cte), "%s", v);
		if ((nl = strpbrk(p->cte, "\r\n")) != NULL)
			*nl = '\0';
		str_lower(p->cte);
	}
	if ((v = part_header(p, "Content-Disposition")) != NULL) {
		snprintf(p->cd, sizeof(p->cd), "%s", v);
		if ((nl = strpbrk(p->cd, "\r\n")) != NULL)
			*nl = '\0';
		str_lower(p->cd);
	}
	p->html_named = part_html_named(p);
}

static size_t
new_part(struct eval_state *st, int parent)
{
	st->parts = xrealloc(st->parts, (st->nparts + 1) * sizeof(*st->parts));
	memset(&st->parts[st->nparts], 0, sizeof(*st->parts));
	st->parts[st->nparts].parent = parent;
	return st->nparts++;
}

static void parse_body(struct eval_state *st, size_t idx, const char *body, size_t len,
    unsigned int depth);

/* Message.pm _parse_multipart: the parts between boundaries. */
static void
parse_multipart(struct eval_state *st, size_t idx, const char *body, size_t len,
    unsigned int depth)
{
	char boundary[256];
	const char *p = body, *end = body + len, *start = NULL;
	size_t bl;
	int closed = 0;

	snprintf(boundary, sizeof(boundary), "%s", st->parts[idx].boundary);
	bl = strlen(boundary);
	while (p < end) {
		const char *e = line_end(p, end);
		if (e - p >= (ptrdiff_t)(bl + 2) && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, boundary, bl) == 0) {
			const char *r = p + 2 + bl, *q;
			int is_close = e - r >= 2 && r[0] == '-' && r[1] == '-';

			/* ^--boundary(--)?\s*$ */
			for (q = r + (is_close ? 2 : 0); q < e && isspace((unsigned char)*q); q++)
				;
			if (q < e) {
				p = e;
				continue;
			}
			if (start != NULL) {
				/* the part ends before this boundary line's line end */
				const char *pe = p;
				if (pe > start && pe[-1] == '\n')
					pe--;
				if (pe > start && pe[-1] == '\r')
					pe--;
				if (st->nparts < MAX_PARTS) {
					size_t c = new_part(st, (int)idx);
					parse_body(st, c, start, (size_t)(pe - start), depth + 1);
				}
			} else if (e < end && !is_close) {
				const char *ne = line_end(e, end);
				/* a blank line too: Message.pm wants a header there */
				if (!is_field_name_line(e, ne))
					st->missing_mime_headers = 1;
			}
			if (is_close) {
				closed = 1;
				p = e;
				break;
			}
			start = e;
			if (start < end) {
				const char *ne = line_end(start, end);
				if (!is_field_name_line(start, ne) && st->nparts > idx + 1)
					st->missing_mime_headers = 1;
			}
		}
		p = e;
	}
	if (!closed && start != NULL && start < end && st->nparts < MAX_PARTS) {
		size_t c = new_part(st, (int)idx);
		parse_body(st, c, start, (size_t)(end - start), depth + 1);
	}
	if (closed) {
		/* the epilogue: anything but white space and dots */
		for (; p < end; p++)
			if (!isspace((unsigned char)*p) && *p != '.') {
				st->mime_epilogue_exists = 1;
				break;
			}
	}
}

/* A part: its header block, then its body (multipart: its parts). */
static void
parse_body(struct eval_state *st, size_t idx, const char *body, size_t len, unsigned int depth)
{
	const char *p = body, *end = body + len, *h = NULL;
	struct sa_part *part;
	const char *def;
	int sep = 0;

	while (p < end) {
		const char *e = line_end(p, end);
		if (is_field_name_line(p, e)) {
			if (h != NULL)
				part_add_header(&st->parts[idx], h, (size_t)(p - h));
			h = p;
		} else if ((*p == ' ' || *p == '\t') && h != NULL && !blank_line(p, e)) {
			/* continuation */
		} else {
			if (h != NULL)
				part_add_header(&st->parts[idx], h, (size_t)(p - h));
			h = NULL;
			if (blank_line(p, e))
				p = e;
			else
				st->missing_mime_head_body_separator = 1;
			sep = 1;
			break;
		}
		p = e;
	}
	if (!sep && h != NULL)
		part_add_header(&st->parts[idx], h, (size_t)(p - h));
	part = &st->parts[idx];
	def = part->parent >= 0 &&
	    strcmp(st->parts[part->parent].type, "multipart/digest") == 0 ?
	    "message/rfc822" : "text/plain";
	part_content_type(part, def);
	part_fields(part);
	part->body = p;
	part->body_len = (size_t)(end - p);
	if (strncmp(part->type, "multipart/", 10) == 0 && part->boundary[0] != '\0' &&
	    depth < MAX_DEPTH) {
		parse_multipart(st, idx, p, (size_t)(end - p), depth);
		part = &st->parts[idx];
		part->is_leaf = 0;
		if (st->nparts == idx + 1)
			part->is_leaf = 1;	/* no part found: the body is the leaf */
	} else if (strcmp(part->type, "message/rfc822") == 0 && depth < MAX_DEPTH &&
	    st->nparts < MAX_PARTS) {
		size_t c = new_part(st, (int)idx);
		st->parts[idx].is_leaf = 0;
		parse_body(st, c, p, (size_t)(end - p), depth + 1);
	} else {
		part->is_leaf = 1;
	}
}

/* The top level: Message.pm's own header reading, then the body. */
static void
parse_message(struct eval_msg *m, struct eval_state *st)
{
	const char *p = m->message, *end = m->message + m->message_len, *h = NULL;
	size_t idx;
	int errors = 0;

	st->parsed = 1;
	if (p == NULL)
		return;
	/* an mbox From line */
	if (end - p > 5 && memcmp(p, "From ", 5) == 0)
		p = line_end(p, end);
	idx = new_part(st, -1);
	for (;;) {
		const char *e;
		if (p >= end) {
			if (h != NULL)
				part_add_header(&st->parts[idx], h, (size_t)(p - h));
			st->missing_head_body_separator = 1;
			break;
		}
		e = line_end(p, end);
		if (*p == ' ' || *p == '\t') {
			p = e;
			continue;
		}
		if (h != NULL) {
			const char *colon = memchr(h, ':', (size_t)(p - h));
			if (colon != NULL && colon - h > 256)
				st->truncated_header = 1;
			if (colon != NULL && (size_t)(p - colon) > 8192)
				st->truncated_header = 1;
			part_add_header(&st->parts[idx], h, (size_t)(p - h));
			h = NULL;
		}
		if (blank_line(p, e) && e > p) {
			p = e;
			break;
		}
		if (e - p >= 2 && p[0] == '-' && p[1] == '-') {
			st->missing_head_body_separator = 1;
			break;
		}
		if (!is_field_name_line(p, e)) {
			if (++errors > 3) {
				st->missing_head_body_separator = 1;
				break;
			}
			p = e;
			continue;
		}
		h = p;
		p = e;
	}
	st->pristine_body_length = (size_t)(end - p);
	/* The body: reuse parse_body without a header block. */
	{
		struct sa_part *part = &st->parts[idx];
		part_content_type(part, "text/plain");
		part_fields(part);
		part->body = p;
		part->body_len = (size_t)(end - p);
		if (strncmp(part->type, "multipart/", 10) == 0 && part->boundary[0] != '\0') {
			parse_multipart(st, idx, p, (size_t)(end - p), 0);
			st->parts[idx].is_leaf = st->nparts == 1;
		} else if (strcmp(part->type, "message/rfc822") == 0) {
			size_t c = new_part(st, (int)idx);
			parse_body(st, c, p, (size_t)(end - p), 1);
		} else {
			part->is_leaf = 1;
		}
	}
}

static struct eval_state *
state(struct eval_msg *m)
{
	if (m->state == NULL)
		m->state = xcalloc(1, sizeof(*m->state));
	if (!m->state->parsed)
		parse_message(m, m->state);
	return m->state;
}

/* ---- decoding ---- */

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* The part's body transfer-decoded, at most max bytes (0: all). */
/*
 * Util.pm base64_decode, garbage included (a list footer after the
 * base64, say, is decoded too): without blanks, a text of base64
 * characters whose length is a multiple of 4 has the '=' runs inside it
 * read as 'A's; anything else keeps its base64 characters only, loses
 * its final '='s, and reads an '=' inside as 63.  At most max bytes out
 * (0: no limit).
 */
static void
b64_decode_sa(const char *in, size_t len, size_t max, struct strbuf *out)
{
	char *t = xmalloc(len + 1);
	size_t n = 0, i;
	int clean = 1;
	unsigned int acc = 0, bits = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == ' ' || (c >= '\t' && c <= '\r'))
			continue;
		if (b64_value(c) < 0 && c != '=')
			clean = 0;
		t[n++] = (char)c;
	}
	if (clean && n >= 2 && n % 4 == 0) {
		/* '=' runs not at the end become 'A's */
		size_t end = n;
		while (end > 0 && t[end - 1] == '=')
			end--;
		for (i = 0; i < end; i++)
			if (t[i] == '=')
				t[i] = 'A';
		n = end;
	} else {
		size_t o = 0;
		for (i = 0; i < n; i++)
			if (b64_value((unsigned char)t[i]) >= 0 || t[i] == '=')
				t[o++] = t[i];
		while (o > 0 && t[o - 1] == '=')
			o--;
		if (o % 4 == 1)
			o--;
		n = o;
	}
	for (i = 0; i < n && (max == 0 || out->len < max); i++) {
		int v = t[i] == '=' ? 63 : b64_value((unsigned char)t[i]);
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			strbuf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	free(t);
}

static void
part_decode(const struct sa_part *p, size_t max, struct strbuf *out)
{
	const unsigned char *s = (const unsigned char *)p->body, *e = s + p->body_len;

	if (strstr(p->cte, "base64") != NULL) {
		b64_decode_sa(p->body, p->body_len, max, out);
	} else if (strstr(p->cte, "quoted-printable") != NULL) {
		for (; s < e && (max == 0 || out->len < max); s++) {
			if (*s == '=' && s + 1 < e && (s[1] == '\n' || s[1] == '\r')) {
				s++;
				if (*s == '\r' && s + 1 < e && s[1] == '\n')
					s++;
			} else if (*s == '=' && s + 2 < e && isxdigit(s[1]) && isxdigit(s[2])) {
				char hex[3] = { (char)s[1], (char)s[2], 0 };
				strbuf_putc(out, (char)strtol(hex, NULL, 16));
				s += 2;
			} else if (*s != '\r') {
				strbuf_putc(out, (char)*s);
			}
		}
	} else {
		for (; s < e && (max == 0 || out->len < max); s++)
			if (*s != '\r')
				strbuf_putc(out, (char)*s);
	}
}

/* ---- header access, as PerMsgStatus::get ---- */

/* Values of every field named name, joined by \n; NULL if none. raw: as written. */
static char *
hdr_get(const struct eval_msg *m, const char *name, int raw)
{
	struct strbuf b = { NULL, 0, 0 };
	int found = 0;

	for (size_t i = 0; i < m->nheaders; i++) {
		const struct eval_header *h = &m->headers[i];
		if (str_casecmp(h->name, name) != 0)
			continue;
		if (found)
			strbuf_putc(&b, '\n');
		if (raw)
			strbuf_append(&b, h->raw, h->raw_len);
		else
			strbuf_append(&b, h->value, h->value_len);
		found = 1;
	}
	if (!found)
		return NULL;
	strbuf_putc(&b, '\0');
	return b.data;
}

static char *
hdr_get_s(const struct eval_msg *m, const char *name)
{
	char *v = hdr_get(m, name, 0);

	return v != NULL ? v : xstrdup("");
}

static size_t
hdr_count(const struct eval_msg *m, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nheaders; i++)
		if (str_casecmp(m->headers[i].name, name) == 0)
			n++;
	return n;
}

/* Addresses in a field value: <...>, else words with @; lower case if lc. */
static size_t
addr_list(const char *v, char out[][256], size_t max)
{
	size_t n = 0;
	const char *p = v;

	while (p != NULL && *p != '\0' && n < max) {
		/* one element, up to a comma outside quotes, <> and () */
		const char *s = p, *lt = NULL, *gt = NULL;
		int q = 0, depth = 0, angle = 0;
		for (; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0') {
				p++;
				continue;
			}
			if (*p == '"')
				q = !q;
			else if (!q && *p == '(')
				depth++;
			else if (!q && *p == ')' && depth > 0)
				depth--;
			else if (!q && depth == 0 && *p == '<' && lt == NULL) {
				lt = p;
				angle = 1;
			} else if (!q && depth == 0 && *p == '>' && angle) {
				gt = p;
				angle = 0;
			} else if (!q && depth == 0 && !angle && (*p == ',' || *p == ';'))
				break;
		}
		if (lt != NULL && gt != NULL && gt > lt + 1) {
			size_t l = (size_t)(gt - lt - 1);
			if (l < 256) {
				memcpy(out[n], lt + 1, l);
				out[n][l] = '\0';
				n++;
			}
		} else if (lt == NULL) {
			/* the first word with @ outside comments and quotes */
			const char *w = s;
			while (w < p) {
				const char *we;
				while (w < p && (isspace((unsigned char)*w) || *w == '"'))
					w++;
				if (w < p && *w == '(') {
					int d = 0;
					for (; w < p; w++) {
						if (*w == '(')
							d++;
						else if (*w == ')' && --d == 0) {
							w++;
							break;
						}
					}
					continue;
				}
				we = w;
				while (we < p && !isspace((unsigned char)*we) && *we != '(' && *we != '"')
					we++;
				if (we > w && memchr(w, '@', (size_t)(we - w)) != NULL &&
				    (size_t)(we - w) < 256) {
					memcpy(out[n], w, (size_t)(we - w));
					out[n][we - w] = '\0';
					n++;
					break;
				}
				if (we == w)
					we++;
				w = we;
			}
		}
		if (*p != '\0')
			p++;
	}
	for (size_t i = 0; i < n; i++) {
		/* trim blanks */
		char *a = out[i], *e;
		while (isspace((unsigned char)*a))
			memmove(a, a + 1, strlen(a));
		e = a + strlen(a);
		while (e > a && isspace((unsigned char)e[-1]))
			*--e = '\0';
	}
	return n;
}

/* The first address of the fields named name ("" if none); lc: lower case. */
static void
hdr_addr(const struct eval_msg *m, const char *name, char *out, int lc)
{
	char a[1][256];
	char *v;

	out[0] = '\0';
	if (str_casecmp(name, "EnvelopeFrom") == 0) {
		snprintf(out, 256, "%s", m->sender != NULL ? m->sender : "");
	} else if ((v = hdr_get(m, name, 0)) != NULL) {
		if (addr_list(v, a, 1) == 1)
			snprintf(out, 256, "%s", a[0]);
		free(v);
	}
	if (lc)
		str_lower(out);
}

/* ---- arguments ---- */

/* Split 'a', "b", c into args; returns their number. */
static int
split_args(const char *s, char args[MAX_ARGS][256])
{
	int n = 0;

	while (s != NULL && *s != '\0' && n < MAX_ARGS) {
		size_t l = 0;
		while (isspace((unsigned char)*s) || *s == ',')
			s++;
		if (*s == '\0')
			break;
		if (*s == '\'' || *s == '"') {
			char q = *s++;
			while (*s != '\0' && *s != q) {
				if (*s == '\\' && s[1] == q)
					s++;
				if (l + 1 < 256)
					args[n][l++] = *s;
				s++;
			}
			if (*s == q)
				s++;
		} else {
			while (*s != '\0' && *s != ',') {
				if (l + 1 < 256)
					args[n][l++] = *s;
				s++;
			}
			while (l > 0 && isspace((unsigned char)args[n][l - 1]))
				l--;
		}
		args[n][l] = '\0';
		n++;
	}
	return n;
}

/* ---- dates (Util::parse_rfc822_date) ---- */

static const struct {
	const char *name;
	int off;		/* minutes */
} tz_names[] = {
	{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
	{ "NDT", -150 }, { "AST", -240 }, { "ADT", -180 }, { "NST", -210 },
	{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
	{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
	{ "HST", -600 }, { "AKST", -540 }, { "AKDT", -480 }, { "HADT", -540 },
	{ "HAST", -600 }, { "BST", 60 }, { "IST", 60 }, { "WET", 0 },
	{ "WEST", 60 }, { "CET", 60 }, { "CEST", 120 }, { "EET", 120 },
	{ "EEST", 180 }, { "MSK", 180 }, { "MSD", 240 }, { "MET", 60 },
	{ "MEZ", 60 }, { "MEST", 120 }, { "MESZ", 120 }, { "JST", 540 },
	{ NULL, 0 }
};

static int
month_index(const char *s)
{
	static const char *const months = "janfebmaraprmayjunjulaugsepoctnovdec";
	char m[4] = { (char)tolower((unsigned char)s[0]), (char)tolower((unsigned char)s[1]),
		(char)tolower((unsigned char)s[2]), 0 };
	const char *f = strstr(months, m);

	return f != NULL && (f - months) % 3 == 0 ? (int)(f - months) / 3 + 1 : 0;
}

static int
parse_date(const char *date, time_t *t_r)
{
	char buf[512];
	size_t ov[10], n = 0;
	long dd, yyyy, hh = 0, mi = 0, ss = 0, tzoff = 0;
	int mon, found = 0;
	struct tm tm;
	const char *d;
	time_t t;

	/* " $date ", commas and blank runs to one space */
	buf[n++] = ' ';
	for (d = date; *d != '\0' && n + 2 < sizeof(buf); d++) {
		if (*d == ',') {
			buf[n++] = ' ';
			while (d[1] == ' ')
				d++;
		} else if (isspace((unsigned char)*d)) {
			if (buf[n - 1] != ' ')
				buf[n++] = ' ';
		} else {
			buf[n++] = *d;
		}
	}
	if (buf[n - 1] != ' ')
		buf[n++] = ' ';
	buf[n] = '\0';
	/* collapse double spaces the comma rule left */
	for (char *q = buf; (q = strstr(q, "  ")) != NULL;)
		memmove(q, q + 1, strlen(q));
	if (re_find(" (\\d+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\\d{4}) ",
	    PCRE2_CASELESS, buf, ov)) {
		dd = strtol(buf + ov[2], NULL, 10);
		mon = month_index(buf + ov[4]);
		yyyy = strtol(buf + ov[6], NULL, 10);
		found = 1;
	} else if (re_find(" (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\\d+) \\d+:\\d+:\\d+ (\\d{4}) ",
	    PCRE2_CASELESS, buf, ov)) {
		dd = strtol(buf + ov[4], NULL, 10);
		mon = month_index(buf + ov[2]);
		yyyy = strtol(buf + ov[6], NULL, 10);
		found = 1;
	} else if (re_find(" (\\d+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\\d{2,3}) ",
	    PCRE2_CASELESS, buf, ov)) {
		dd = strtol(buf + ov[2], NULL, 10);
		mon = month_index(buf + ov[4]);
		yyyy = strtol(buf + ov[6], NULL, 10);
		if (ov[7] - ov[6] == 2 && yyyy < 50)
			yyyy += 2000;
		else
			yyyy += 1900;
		found = 1;
	}
	if (!found)
		return -1;
	/* remove the matched date so that the time and zone are found in the rest */
	memset(buf + ov[0] + 1, 'x', ov[1] - ov[0] - 2);
	if (re_find(" (\\d?\\d):(\\d\\d)(:(\\d\\d))? ", 0, buf, ov)) {
		hh = strtol(buf + ov[2], NULL, 10);
		mi = strtol(buf + ov[4], NULL, 10);
		ss = ov[8] != PCRE2_UNSET ? strtol(buf + ov[8], NULL, 10) : 0;
		memset(buf + ov[0] + 1, 'x', ov[1] - ov[0] - 2);
	}
	if (re_find(" ([-+])(\\d\\d)(\\d\\d) ", 0, buf, ov)) {
		tzoff = ((buf[ov[4]] - '0') * 10 + (buf[ov[4] + 1] - '0')) * 60 +
		    (buf[ov[6]] - '0') * 10 + (buf[ov[6] + 1] - '0');
		if (buf[ov[2]] == '-')
			tzoff = -tzoff;
	} else if (re_find("\\b([A-Z]{2,4}(?:-DST)?)\\b", 0, buf, ov)) {
		for (int i = 0; tz_names[i].name != NULL; i++)
			if (strlen(tz_names[i].name) == ov[3] - ov[2] &&
			    memcmp(tz_names[i].name, buf + ov[2], ov[3] - ov[2]) == 0)
				tzoff = tz_names[i].off;
	}
	if (ss > 59)
		ss = 59;
	if (mi > 59)
		mi = 59;
	if (hh > 23)
		hh = 23;
	{
		int max_dd = 31;
		if (mon == 4 || mon == 6 || mon == 9 || mon == 11)
			max_dd = 30;
		else if (mon == 2)
			max_dd = (yyyy % 4 == 0 && (yyyy % 100 != 0 || yyyy % 400 == 0)) ? 29 : 28;
		if (dd > max_dd) {
			dd = 1;
			if (++mon > 12) {
				mon = 1;
				yyyy++;
			}
		}
	}
	if (yyyy > 2037)
		yyyy = 2037;
	else if (yyyy < 1970)
		yyyy = 1970;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)yyyy - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = (int)dd;
	tm.tm_hour = (int)hh;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)ss;
	t = timegm(&tm);
	t -= tzoff * 60;
	if (t < 0)
		t = 0;
	*t_r = t;
	return 0;
}

/* HeaderEval::_check_date_diff */
static void
compute_dates(struct eval_msg *m, struct eval_state *st)
{
	time_t date = 0, times[64];
	size_t nt = 0;
	int have_date = 0;
	char *rcvd;

	st->dates_done = 1;
	st->date_diff = 0;
	for (int pass = 0; pass < 2 && !have_date; pass++) {
		const char *name = pass == 0 ? "Resent-Date" : "Date";
		for (size_t i = 0; i < m->nheaders && !have_date; i++) {
			char *v;
			if (str_casecmp(m->headers[i].name, name) != 0 || m->headers[i].value_len == 0)
				continue;
			v = xstrndup(m->headers[i].value, m->headers[i].value_len);
			have_date = parse_date(v, &date) == 0;
			free(v);
		}
	}
	if (!have_date)
		return;
	/* Received lines (values joined by \n), the fetchmail ones set aside */
	rcvd = hdr_get(m, "Received", 0);
	if (rcvd == NULL)
		return;
	{
		char *lines[64];
		size_t nl = 0, first = 0;
		char *save = NULL, *l;
		for (l = strtok_r(rcvd, "\n", &save); l != NULL && nl < 64;
		    l = strtok_r(NULL, "\n", &save)) {
			const char *q = l;
			while (*q != '\0' && isspace((unsigned char)*q))
				q++;
			if (*q != '\0')
				lines[nl++] = l;
		}
		if (nl > 0 && (re_find("\\bfrom (?:localhost\\s|(?:\\S+ ){1,2}\\S*\\b127\\.0\\.0\\.1\\b)",
		    0, lines[0], NULL) || re_find("qmail \\d+ invoked by uid \\d+", 0, lines[0], NULL))) {
			/* local: skipped when the next is fetchmail's */
			if (nl > 1 && re_find("\\bby localhost with \\w+ \\(fetchmail-[\\d.]+", 0,
			    lines[1], NULL))
				first = 2;
		} else if (nl > 0 && re_find("\\bby localhost with \\w+ \\(fetchmail-[\\d.]+", 0,
		    lines[0], NULL)) {
			first = 1;
		}
		for (size_t i = first; i < nl && nt < 64; i++) {
			size_t ov[10];
			time_t t;
			if (re_find("(\\s.?\\d+ \\S\\S\\S \\d+ \\d+:\\d+:\\d+ \\S+)", 0, lines[i], ov)) {
				char d[128];
				snprintf(d, sizeof(d), "%.*s", (int)(ov[3] - ov[2]), lines[i] + ov[2]);
				if (parse_date(d, &t) == 0)
					times[nt++] = t;
			}
		}
	}
	free(rcvd);
	if (nt == 0)
		return;
	{
		double best = 0;
		size_t n = nt;
		if (n > 1 && date - times[n - 1] == 0)
			n--;
		for (size_t i = 0; i < n; i++) {
			double d = (double)(date - times[i]);
			if (i == 0 || fabs(d) < fabs(best))
				best = d;
		}
		st->date_diff = best;
		st->have_date_diff = 1;
	}
}

/* ---- MIMEEval::_check_attachments ---- */

static int
count_qp_escapes(const char *l, size_t len)
{
	/* m/=(?:09|3[0-9ABCEF]|[2456][0-9A-F]|7[0-9A-E])/g */
	int n = 0;

	for (size_t i = 0; i + 2 < len; i++) {
		char a = l[i + 1], b = l[i + 2];
		int hexb = (b >= '0' && b <= '9') || (b >= 'A' && b <= 'F');

		if (l[i] != '=')
			continue;
		if ((a == '0' && b == '9') || (a == '3' && hexb && b != 'D') ||
		    ((a == '2' || a == '4' || a == '5' || a == '6') && hexb) ||
		    (a == '7' && hexb && b != 'F')) {
			n++;
			i += 2;
		}
	}
	return n;
}

static void
check_attachments(struct eval_msg *m, struct eval_state *st)
{
	int multipart_alt = 0;
	size_t qp_bytes = 0, normal_chars = 0, unicode_chars = 0;
	double qp_count = 0;
	long part_bytes[MAX_PARTS + 1];
	const char *part_type[MAX_PARTS + 1];
	int npart = -1;
	struct strbuf charsets = { NULL, 0, 0 };

	st->mime_done = 1;
	st->multipart_ratio = 1.0;
	for (size_t i = 0; i < st->nparts; i++) {
		struct sa_part *p = &st->parts[i];
		const char *ctype = p->type, *cte = p->cte, *cd = p->cd, *cs = p->charset;
		const char *l, *end;

		if (strcmp(ctype, "multipart/alternative") == 0)
			multipart_alt = 1;
		/* _check_mime_header */
		if (strcmp(ctype, "text/html") == 0)
			st->html_count++;
		else if (strncmp(ctype, "text", 4) == 0)
			st->text_count++;
		if (strstr(cte, "base64") != NULL)
			st->base64_count++;
		else if (strstr(cte, "quoted-printable") != NULL)
			st->qp_count_parts++;
		if (cd[0] != '\0' && strstr(cd, "attachment") != NULL)
			st->attachment++;
		if (strncmp(ctype, "text", 4) == 0 && strstr(cte, "base64") != NULL &&
		    (cs[0] == '\0' || re_find("(?:us-ascii|ansi_x3\\.4-1968|iso-ir-6|ansi_x3\\.4-1986|iso_646\\.irv:1991|ascii|iso646-us|us|ibm367|cp367|csascii)",
		    0, cs, NULL)) &&
		    !(cd[0] != '\0' && (strncmp(cd, "attachment", 10) == 0 || strncmp(cd, "inline", 6) == 0)))
			st->base64_text = 1;
		if (re_find("iso-\\S+-\\S+\\b", PCRE2_CASELESS, cs, NULL) &&
		    !re_find("iso-(?:8859-\\d{1,2}|2022-(?:jp|kr))\\b", 0, cs, NULL))
			st->bad_iso_charset = 1;
		if (re_find("[a-z]", PCRE2_CASELESS, cs, NULL)) {
			if (charsets.len > 0)
				strbuf_putc(&charsets, ' ');
			strbuf_append(&charsets, cs, strlen(cs));
		}
		if (!p->is_leaf || npart >= MAX_PARTS)
			continue;
		npart++;
		part_type[npart] = ctype;
		part_bytes[npart] = strstr(cd, "attachment") == NULL ? 0 : -1;
		for (l = p->body, end = p->body + p->body_len; l < end;) {
			const char *e = line_end(l, end);
			size_t len = (size_t)(e - l);
			/* SpamAssassin's raw lines end in \n, CR removed with CRLF input */
			size_t plen = len;
			if (plen >= 2 && l[plen - 2] == '\r' && l[plen - 1] == '\n')
				plen--;
			if (e == end && (len == 0 || l[len - 1] != '\n'))
				plen = len;
			if (multipart_alt && strstr(cd, "attachment") == NULL &&
			    (strcmp(ctype, "text/plain") == 0 || strcmp(ctype, "text/html") == 0) &&
			    part_bytes[npart] >= 0)
				part_bytes[npart] += (long)plen;
			if (strcmp(cte, "quoted-printable") == 0 &&
			    !(len >= 6 && memcmp(l, "SPAM: ", 6) == 0)) {
				if (plen > 79)
					st->qp_long_line = 1;
				qp_bytes += plen;
				if (memchr(l, '=', len) != NULL) {
					int qp = count_qp_escapes(l, plen);
					if (qp > 0) {
						/* trailing (=09|=20)+ before the line end */
						size_t t = plen, trail = 0;
						while (t > 0 && isspace((unsigned char)l[t - 1]))
							t--;
						while (t >= 3 && l[t - 3] == '=' && ((l[t - 2] == '0' &&
						    l[t - 1] == '9') || (l[t - 2] == '2' && l[t - 1] == '0'))) {
							trail++;
							t -= 3;
						}
						qp_count += qp - (double)trail;
					}
				}
			}
			if (strcmp(ctype, "text/plain") == 0 && (cs[0] == '\0' || strcmp(cs, "us-ascii") == 0)) {
				for (size_t k = 0; k < plen; k++) {
					unsigned char c = (unsigned char)l[k];
					if (c == 0 || c == '\r' || c >= 0x80) {
						st->ascii_text_illegal++;
						break;
					}
				}
			}
			if (strcmp(ctype, "text/plain") == 0 &&
			    (cte[0] == '\0' || strcmp(cte, "7bit") == 0 || strcmp(cte, "8bit") == 0)) {
				size_t subs = 0, k = 0, tl = plen;
				while (k + 8 <= plen) {
					if (l[k] == '&' && l[k + 1] == '#' && l[k + 2] == 'x' &&
					    isxdigit((unsigned char)l[k + 3]) && !islower((unsigned char)l[k + 3]) &&
					    isxdigit((unsigned char)l[k + 4]) && !islower((unsigned char)l[k + 4]) &&
					    isxdigit((unsigned char)l[k + 5]) && !islower((unsigned char)l[k + 5]) &&
					    isxdigit((unsigned char)l[k + 6]) && !islower((unsigned char)l[k + 6]) &&
					    l[k + 7] == ';') {
						subs++;
						tl -= 8;
						k += 8;
					} else {
						k++;
					}
				}
				normal_chars += tl;
				unicode_chars += subs;
			}
			l = e;
		}
	}
	if (qp_bytes > 0)
		st->qp_ratio = qp_count / (double)qp_bytes;
	if (normal_chars > 0)
		st->unicode_ratio = (double)unicode_chars / (double)normal_chars;
	if (multipart_alt) {
		long text = -1, html = -1;
		for (int i = npart; i >= 0; i--) {
			if (part_bytes[i] < 0)
				continue;
			if (html < 0 && strcmp(part_type[i], "text/html") == 0)
				html = part_bytes[i];
			else if (text < 0 && strcmp(part_type[i], "text/plain") == 0)
				text = part_bytes[i];
			if (html >= 0 && text >= 0)
				break;
		}
		if (text >= 0 && html > 0)
			st->multipart_ratio = (double)text / (double)html;
	}
	strbuf_putc(&charsets, '\0');
	st->html_charsets = charsets.data;
}

static struct eval_state *
mime_state(struct eval_msg *m)
{
	struct eval_state *st = state(m);

	if (!st->mime_done)
		check_attachments(m, st);
	return st;
}

/*
 * ---- HTML: Mail::SpamAssassin::HTML over HTML::Parser ----
 *
 * The tokenizer is HTML::Parser's (hparser.c, not strict): a start tag is
 * '<' and a letter up to the '>' that ends its attributes (quoted values
 * may hold '>'), an end tag "</name" up to a '>' outside quotes, "<!--"
 * up to "--" blanks '>', "<!" and "<?" up to '>'; anything else is text.
 * script, style, xmp, plaintext, iframe, title and textarea hold literal
 * text up to their end tag.  Text and attribute values are entity-decoded.
 * What HTML.pm makes of the events follows: tag counts, the rendered text,
 * image area, titles, comments, anchors and each URI with its tag types
 * and anchor texts (uri_detail), relative ones resolved against <base>.
 */

#define MAX_URI_LENGTH 8192	/* Constants.pm */

enum {
	HTML_T_A = 1 << 0, HTML_T_AREA = 1 << 1, HTML_T_LINK = 1 << 2, HTML_T_IMG = 1 << 3,
	HTML_T_FRAME = 1 << 4, HTML_T_IFRAME = 1 << 5, HTML_T_EMBED = 1 << 6,
	HTML_T_SCRIPT = 1 << 7, HTML_T_FORM = 1 << 8, HTML_T_BASE = 1 << 9,
	HTML_T_BGSOUND = 1 << 10, HTML_T_META = 1 << 11, HTML_T_BODY = 1 << 12,
	HTML_T_TABLE = 1 << 13, HTML_T_TR = 1 << 14, HTML_T_TD = 1 << 15,
};

static const char *const html_uri_tags[] = {
	"a", "area", "link", "img", "frame", "iframe", "embed", "script", "form", "base",
	"bgsound", "meta", "body", "table", "tr", "td", NULL
};

static const char *const html_elements[] = {
	"a", "abbr", "acronym", "address", "area", "b", "base", "bdo", "big", "blockquote",
	"body", "br", "button", "caption", "cite", "code", "col", "colgroup", "dd", "del",
	"dfn", "div", "dl", "dt", "em", "fieldset", "form", "h1", "h2", "h3", "h4", "h5", "h6",
	"head", "hr", "html", "i", "img", "input", "ins", "kbd", "label", "legend", "li",
	"link", "map", "meta", "noscript", "object", "ol", "optgroup", "option", "p", "param",
	"pre", "q", "samp", "script", "select", "small", "span", "strong", "style", "sub",
	"sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr", "tt",
	"ul", "var", "applet", "basefont", "center", "dir", "font", "frame", "frameset",
	"iframe", "isindex", "menu", "noframes", "s", "strike", "u", "nobr", "x-sigsep",
	"x-tab", NULL
};

/* Rendered but not counted as valid. */
static const char *const html_tricks[] = {
	"bgsound", "embed", "listing", "plaintext", "xmp", NULL
};

/* Literal text up to the end tag; the first five not entity-decoded. */
static const char *const html_literal[] = {
	"script", "style", "xmp", "plaintext", "iframe", "title", "textarea", NULL
};

static int
word_in(const char *const *list, const char *t)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], t) == 0)
			return (int)i + 1;
	return 0;
}

static int
is_html_element(const char *t)
{
	return word_in(html_elements, t);
}

static int *
html_inside(struct html_info *h, const char *tag, int create)
{
	for (size_t i = 0; i < h->inside_names.n; i++)
		if (strcmp(h->inside_names.v[i], tag) == 0)
			return &h->inside[i];
	if (!create)
		return NULL;
	set_add(&h->inside_names, tag);
	h->inside = xrealloc(h->inside, h->inside_names.n * sizeof(*h->inside));
	h->inside[h->inside_names.n - 1] = 0;
	return &h->inside[h->inside_names.n - 1];
}

static int
html_in(struct html_info *h, const char *tag)
{
	int *in = html_inside(h, tag, 0);

	return in != NULL && *in > 0;
}

/* HTML::Parser's isHSPACE */
static int
hspace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static const struct {
	const char *name;
	unsigned int cp;
} html_entities[] = {
	{ "AElig", 198 }, { "Aacute", 193 }, { "Acirc", 194 }, { "Agrave", 192 },
	{ "Aring", 197 }, { "Atilde", 195 }, { "Auml", 196 }, { "Ccedil", 199 },
	{ "ETH", 208 }, { "Eacute", 201 }, { "Ecirc", 202 }, { "Egrave", 200 },
	{ "Euml", 203 }, { "Iacute", 205 }, { "Icirc", 206 }, { "Igrave", 204 },
	{ "Iuml", 207 }, { "Ntilde", 209 }, { "Oacute", 211 }, { "Ocirc", 212 },
	{ "Ograve", 210 }, { "Oslash", 216 }, { "Otilde", 213 }, { "Ouml", 214 },
	{ "THORN", 222 }, { "Uacute", 218 }, { "Ucirc", 219 }, { "Ugrave", 217 },
	{ "Uuml", 220 }, { "Yacute", 221 }, { "aacute", 225 }, { "acirc", 226 },
	{ "acute", 180 }, { "aelig", 230 }, { "agrave", 224 }, { "amp", 38 },
	{ "apos", 39 }, { "aring", 229 }, { "atilde", 227 }, { "auml", 228 },
	{ "brvbar", 166 }, { "bull", 8226 }, { "ccedil", 231 }, { "cedil", 184 },
	{ "cent", 162 }, { "copy", 169 }, { "curren", 164 }, { "deg", 176 },
	{ "divide", 247 }, { "eacute", 233 }, { "ecirc", 234 }, { "egrave", 232 },
	{ "eth", 240 }, { "euml", 235 }, { "euro", 8364 }, { "frac12", 189 },
	{ "frac14", 188 }, { "frac34", 190 }, { "gt", 62 }, { "hellip", 8230 },
	{ "iacute", 237 }, { "icirc", 238 }, { "iexcl", 161 }, { "igrave", 236 },
	{ "iquest", 191 }, { "iuml", 239 }, { "laquo", 171 }, { "ldquo", 8220 },
	{ "lsquo", 8216 }, { "lt", 60 }, { "macr", 175 }, { "mdash", 8212 },
	{ "micro", 181 }, { "middot", 183 }, { "nbsp", 160 }, { "ndash", 8211 },
	{ "not", 172 }, { "ntilde", 241 }, { "oacute", 243 }, { "ocirc", 244 },
	{ "ograve", 242 }, { "ordf", 170 }, { "ordm", 186 }, { "oslash", 248 },
	{ "otilde", 245 }, { "ouml", 246 }, { "para", 182 }, { "plusmn", 177 },
	{ "pound", 163 }, { "quot", 34 }, { "raquo", 187 }, { "rdquo", 8221 },
	{ "reg", 174 }, { "rsquo", 8217 }, { "sect", 167 }, { "shy", 173 },
	{ "sup1", 185 }, { "sup2", 178 }, { "sup3", 179 }, { "szlig", 223 },
	{ "thorn", 254 }, { "times", 215 }, { "trade", 8482 }, { "uacute", 250 },
	{ "ucirc", 251 }, { "ugrave", 249 }, { "uml", 168 }, { "uuml", 252 },
	{ "yacute", 253 }, { "yen", 165 }, { "yuml", 255 }, { "zwj", 8205 },
	{ "zwnj", 8204 }, { "lrm", 8206 }, { "rlm", 8207 },
};

/*
 * HTML::Parser's decode_entities: &#NNN; &#xHH; and named entities, the
 * ';' optional; a name without ';' is the longest known prefix.
 */
static void
html_decode(const char *s, size_t len, struct strbuf *out)
{
	const char *e = s + len;

	while (s < e) {
		const char *amp = memchr(s, '&', (size_t)(e - s));
		const char *p;
		if (amp == NULL) {
			strbuf_append(out, s, (size_t)(e - s));
			break;
		}
		strbuf_append(out, s, (size_t)(amp - s));
		p = amp + 1;
		if (p < e && *p == '#') {
			unsigned long cp = 0;
			int hex = p + 1 < e && (p[1] == 'x' || p[1] == 'X'), digits = 0;
			const char *q = p + 1 + hex;
			for (; q < e && (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q)); q++) {
				if (cp < 0x110000)
					cp = cp * (hex ? 16 : 10) +
					    (unsigned long)(isdigit((unsigned char)*q) ? *q - '0' :
					    tolower((unsigned char)*q) - 'a' + 10);
				digits++;
			}
			if (digits > 0 && cp > 0 && cp < 0x110000) {
				strbuf_put_utf8(out, cp);
				s = q < e && *q == ';' ? q + 1 : q;
				continue;
			}
		} else {
			size_t best = 0;
			unsigned int cp = 0;
			const char *q = p;
			while (q < e && isalnum((unsigned char)*q) && q - p < 10)
				q++;
			for (size_t i = 0; i < sizeof(html_entities) / sizeof(html_entities[0]); i++) {
				size_t nl = strlen(html_entities[i].name);
				if (nl <= (size_t)(q - p) && nl > best &&
				    memcmp(html_entities[i].name, p, nl) == 0 &&
				    (nl == (size_t)(q - p) || q < e)) {
					best = nl;
					cp = html_entities[i].cp;
				}
			}
			if (best > 0) {
				strbuf_put_utf8(out, cp);
				s = p + best < e && p[best] == ';' ? p + best + 1 : p + best;
				continue;
			}
		}
		strbuf_putc(out, '&');
		s = amp + 1;
	}
}

struct html_attr {
	char name[64];
	char *value;		/* decoded */
};

struct html_tag {
	char name[64];
	struct html_attr attrs[32];
	int nattrs;
};

static const char *
tag_attr(const struct html_tag *t, const char *name)
{
	for (int i = 0; i < t->nattrs; i++)
		if (strcmp(t->attrs[i].name, name) == 0)
			return t->attrs[i].value;
	return NULL;
}

static void
tag_set_attr(struct html_tag *t, const char *name, const char *value)
{
	for (int i = 0; i < t->nattrs; i++)
		if (strcmp(t->attrs[i].name, name) == 0) {
			char *v = xstrdup(value);
			free(t->attrs[i].value);
			t->attrs[i].value = v;
			return;
		}
	if (t->nattrs < (int)(sizeof(t->attrs) / sizeof(t->attrs[0]))) {
		str_copy(t->attrs[t->nattrs].name, name, sizeof(t->attrs[0].name));
		t->attrs[t->nattrs++].value = xstrdup(value);
	}
}

static void
tag_free(struct html_tag *t)
{
	for (int i = 0; i < t->nattrs; i++)
		free(t->attrs[i].value);
	t->nattrs = 0;
}

/* Counting characters as Perl does on decoded text (UTF-8 sequences as one). */
static unsigned long
html_chars(const char *s, size_t len, int utf8)
{
	unsigned long n = 0;

	if (!utf8)
		return len;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * HTML.pm's display_text: the rendered text, in pieces; invisible text
 * (html_font_invisible) keeps the spaces around it.
 */
static void
html_display(struct html_info *h, const char *text, size_t len, int whitespace, int invisible)
{
	if (whitespace) {
		/* trim the trailing space of the previous piece, if it was visible text */
		if (h->npieces > 0 && !h->piece_ws && !h->piece_invisible &&
		    h->text.len > h->piece && h->text.data[h->text.len - 1] == ' ')
			h->text.data[--h->text.len] = '\0';
		h->piece = h->text.len;
		strbuf_append(&h->text, text, len);
	} else {
		size_t start = h->text.len;
		int space = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)text[i];
			int sp = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
			    c == 0x0b;
			if (c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] == 0xa0) {
				sp = 1;
				i++;
			}
			if (sp) {
				space = 1;
				continue;
			}
			if (space)
				strbuf_putc(&h->text, ' ');
			space = 0;
			strbuf_putc(&h->text, (char)c);
		}
		if (space)
			strbuf_putc(&h->text, ' ');
		if (h->npieces > 0 && h->piece_ws && !invisible && h->text.len > start &&
		    h->text.data[start] == ' ') {
			memmove(h->text.data + start, h->text.data + start + 1,
			    h->text.len - start - 1);
			h->text.data[--h->text.len] = '\0';
		}
		h->piece = start;
	}
	h->piece_ws = whitespace;
	h->piece_invisible = invisible;
	h->npieces++;
}

/* Perl's [^\s\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]: a letter, digit or 8-bit byte */
static int
wordish(unsigned char c)
{
	return !(isspace(c) || (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
	    (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e));
}

static struct html_uri *
html_uri_get(struct html_info *h, const char *key)
{
	size_t i;

	if (!strset_add(&h->uri_keys, key, strlen(key), &i))
		return &h->uris[i];
	h->uris = xrealloc(h->uris, (h->nuris + 1) * sizeof(*h->uris));
	memset(&h->uris[h->nuris], 0, sizeof(*h->uris));
	h->uris[h->nuris].key = h->uri_keys.v[i];
	return &h->uris[h->nuris++];
}

/* Append to the last entry of a list of \0-ended entries, or start one. */
static void
entry_append(struct strbuf *b, const char *s, size_t len)
{
	if (b->len > 0 && b->data[b->len - 1] == '\0')
		b->len--;
	strbuf_append(b, s, len);
	strbuf_putc(b, '\0');
}

static void
entry_new(struct strbuf *b)
{
	strbuf_putc(b, '\0');
}


static void
html_text_event(struct html_info *h, const char *text, size_t len)
{
	int invisible;

	if (html_in(h, "script") || html_in(h, "style"))
		return;
	if (html_in(h, "a")) {
		struct html_uri *u = html_uri_get(h, h->anchor_last != NULL ? h->anchor_last : "");
		if (u->nanchors == 0) {
			entry_new(&u->anchor);
			u->nanchors++;
		}
		entry_append(&u->anchor, text, len);
		if (h->nanchors == 0) {
			entry_new(&h->anchor);
			h->nanchors++;
		}
		entry_append(&h->anchor, text, len);
	}
	if (html_in(h, "title") && h->ntitles > 0)
		entry_append(&h->title, text, len);
	invisible = html_style_has_text(text, len) && html_styles_invisible(&h->styles);
	if (h->npieces > 0 && len > 0) {
		size_t plen = h->text.len - h->piece;
		const char *prev = h->text.data + h->piece;
		if (wordish((unsigned char)text[0]) && plen > 0 &&
		    wordish((unsigned char)prev[plen - 1]))
			h->obfuscation++;
	}
	html_display(h, text, len, 0, invisible);
}

/* HTML.pm canon_uri: no leading or trailing blanks, at most MAX_URI_LENGTH */
static char *
html_canon_uri(struct html_info *h, const char *uri)
{
	size_t len = strlen(uri);
	char *r;

	while (len > 0 && (isspace((unsigned char)*uri) || (unsigned char)*uri == 0xa0)) {
		uri++;
		len--;
	}
	while (len > 0 && (isspace((unsigned char)uri[len - 1]) ||
	    (unsigned char)uri[len - 1] == 0xa0))
		len--;
	if (len > MAX_URI_LENGTH) {
		h->uri_truncated = 1;
		len = MAX_URI_LENGTH;
	}
	r = xmalloc(len + 1);
	memcpy(r, uri, len);
	r[len] = '\0';
	return r;
}

struct uri_parts {
	const char *scheme, *authority, *path, *query, *fragment;
	size_t scheme_len, authority_len, path_len, query_len, fragment_len;
};

/* ^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))? */
static void
uri_split(const char *u, struct uri_parts *p)
{
	const char *s = u, *q;

	memset(p, 0, sizeof(*p));
	q = s + strcspn(s, ":/?#");
	if (*q == ':' && q > s) {
		p->scheme = s;
		p->scheme_len = (size_t)(q - s);
		s = q + 1;
	}
	if (s[0] == '/' && s[1] == '/') {
		s += 2;
		p->authority = s;
		p->authority_len = strcspn(s, "/?#");
		s += p->authority_len;
	}
	p->path = s;
	p->path_len = strcspn(s, "?#");
	s += p->path_len;
	if (*s == '?') {
		s++;
		p->query = s;
		p->query_len = strcspn(s, "#");
		s += p->query_len;
	}
	if (*s == '#') {
		p->fragment = s + 1;
		p->fragment_len = strlen(s + 1);
	}
}

/* HTML.pm _remove_dot_segments */
static void
remove_dot_segments(const char *in, size_t len, struct strbuf *out)
{
	struct strbuf input = { NULL, 0, 0 };
	size_t pos = 0;

	strbuf_append(&input, in, len);
	if (input.len >= 2 && input.data[0] == '.' && input.data[1] == '/') {
		input.data[1] = '/';
		pos = 1;
	} else if (input.len >= 3 && memcmp(input.data, "../", 3) == 0) {
		pos = 2;
	}
	while (pos < input.len) {
		const char *s = input.data + pos;
		size_t rest = input.len - pos;
		if (rest >= 2 && s[0] == '/' && s[1] == '.' && (rest == 2 || s[2] == '/')) {
			/* "/." or "/./" -> "/" */
			pos += rest == 2 ? 1 : 2;
			input.data[pos] = '/';
		} else if (rest >= 3 && s[0] == '/' && s[1] == '.' && s[2] == '.' &&
		    (rest == 3 || s[3] == '/')) {
			/* "/.." or "/../" -> "/", dropping the last output segment */
			while (out->len > 0 && out->data[out->len - 1] != '/')
				out->len--;
			if (out->len > 0)
				out->len--;
			if (out->data != NULL)
				out->data[out->len] = '\0';
			pos += rest == 3 ? 2 : 3;
			input.data[pos] = '/';
		} else {
			size_t n = s[0] == '/' ? 1 : 0;
			while (n < rest && s[n] != '/')
				n++;
			strbuf_append(out, s, n);
			pos += n;
		}
	}
	strbuf_free(&input);
}

/* HTML.pm target_uri: r resolved against base (RFC 2396bis 5.2, not strict). */
static char *
target_uri(const char *base, const char *r)
{
	struct uri_parts rp, bp;
	struct strbuf out = { NULL, 0, 0 }, path = { NULL, 0, 0 };
	const char *scheme = NULL, *authority = NULL, *query = NULL;
	size_t scheme_len = 0, authority_len = 0, query_len = 0;
	int have_authority = 0, have_query = 0;

	uri_split(r, &rp);
	uri_split(base, &bp);
	if (rp.scheme != NULL && bp.scheme != NULL && rp.scheme_len == bp.scheme_len &&
	    memcmp(rp.scheme, bp.scheme, rp.scheme_len) == 0)
		rp.scheme = NULL;
	if (rp.scheme != NULL) {
		scheme = rp.scheme, scheme_len = rp.scheme_len;
		if (rp.authority != NULL)
			authority = rp.authority, authority_len = rp.authority_len, have_authority = 1;
		remove_dot_segments(rp.path, rp.path_len, &path);
		if (rp.query != NULL)
			query = rp.query, query_len = rp.query_len, have_query = 1;
	} else {
		if (rp.authority != NULL) {
			authority = rp.authority, authority_len = rp.authority_len, have_authority = 1;
			remove_dot_segments(rp.path, rp.path_len, &path);
			if (rp.query != NULL)
				query = rp.query, query_len = rp.query_len, have_query = 1;
		} else {
			if (rp.path_len == 0) {
				strbuf_append(&path, bp.path, bp.path_len);
				if (rp.query != NULL)
					query = rp.query, query_len = rp.query_len, have_query = 1;
				else if (bp.query != NULL)
					query = bp.query, query_len = bp.query_len, have_query = 1;
			} else {
				if (rp.path[0] == '/') {
					remove_dot_segments(rp.path, rp.path_len, &path);
				} else {
					/* _merge_uri */
					struct strbuf m = { NULL, 0, 0 };
					if (bp.authority != NULL && bp.path_len == 0) {
						strbuf_putc(&m, '/');
					} else {
						size_t keep = bp.path_len;
						while (keep > 0 && bp.path[keep - 1] != '/')
							keep--;
						strbuf_append(&m, bp.path, keep);
					}
					strbuf_append(&m, rp.path, rp.path_len);
					remove_dot_segments(m.data, m.len, &path);
					strbuf_free(&m);
				}
				if (rp.query != NULL)
					query = rp.query, query_len = rp.query_len, have_query = 1;
			}
			if (bp.authority != NULL)
				authority = bp.authority, authority_len = bp.authority_len,
				    have_authority = 1;
		}
		if (bp.scheme != NULL)
			scheme = bp.scheme, scheme_len = bp.scheme_len;
	}
	if (scheme != NULL && scheme_len > 0 && !(scheme_len == 1 && scheme[0] == '0')) {
		strbuf_append(&out, scheme, scheme_len);
		strbuf_putc(&out, ':');
	} else if (have_authority) {
		if (re_find_at("^www\\d*\\.", PCRE2_CASELESS, authority, authority_len, 0, NULL))
			strbuf_append(&out, "http:", 5);
		else if (re_find_at("^ftp\\d*\\.", PCRE2_CASELESS, authority, authority_len, 0, NULL))
			strbuf_append(&out, "ftp:", 4);
	}
	if (have_authority) {
		strbuf_append(&out, "//", 2);
		strbuf_append(&out, authority, authority_len);
	}
	if (path.len > 0)
		strbuf_append(&out, path.data, path.len);
	if (have_query) {
		strbuf_putc(&out, '?');
		strbuf_append(&out, query, query_len);
	}
	if (rp.fragment != NULL) {
		strbuf_putc(&out, '#');
		strbuf_append(&out, rp.fragment, rp.fragment_len);
	}
	strbuf_free(&path);
	if (out.data == NULL)
		return xstrdup("");
	return out.data;
}

/* HTML.pm push_uri */
static void
html_push_uri(struct html_info *h, unsigned int type, const char *raw)
{
	char *uri = html_canon_uri(h, raw);

	if (uri[0] != '\0') {
		if (re_find("^(?:data|mailto|file|cid|tel):", PCRE2_CASELESS, uri, NULL)) {
			html_uri_get(h, uri)->types |= type;
		} else {
			char *t = target_uri(h->base_href != NULL ? h->base_href : "", uri);
			if (strlen(t) > MAX_URI_LENGTH)
				t[MAX_URI_LENGTH] = '\0';
			if (t[0] != '\0')
				html_uri_get(h, t)->types |= type;
			free(t);
		}
	}
	free(uri);
}

/* HTML.pm html_uri: which attribute of which tag is a URI */
static void
html_uris(struct html_info *h, const char *tag, struct html_tag *t)
{
	unsigned int type = 1u << (word_in(html_uri_tags, tag) - 1);
	const char *v;

	if (strcmp(tag, "body") == 0 || strcmp(tag, "table") == 0 || strcmp(tag, "tr") == 0 ||
	    strcmp(tag, "td") == 0) {
		if ((v = tag_attr(t, "background")) != NULL)
			html_push_uri(h, type, v);
	} else if (strcmp(tag, "a") == 0 || strcmp(tag, "area") == 0 || strcmp(tag, "link") == 0 ||
	    strcmp(tag, "img") == 0 || strcmp(tag, "frame") == 0 || strcmp(tag, "iframe") == 0 ||
	    strcmp(tag, "embed") == 0 || strcmp(tag, "script") == 0 ||
	    strcmp(tag, "bgsound") == 0) {
		int href = tag[0] == 'a' || tag[0] == 'l';
		const char *want = href ? "href" : "src";
		/* "read uris from bad formatted html as well": x/href= */
		for (int i = 0; i < t->nattrs; i++) {
			const char *slash = strchr(t->attrs[i].name, '/');
			size_t wl = slash != NULL ? (size_t)(slash - t->attrs[i].name) : 0;
			if (slash != NULL && strcmp(slash + 1, want) == 0 && wl >= 1 && wl <= 8) {
				char *val = xstrdup(t->attrs[i].value);
				t->attrs[i].name[0] = '\0';
				tag_set_attr(t, want, val);
				free(val);
			}
		}
		if ((v = tag_attr(t, want)) != NULL) {
			if (href) {
				/* the BOM as a "replacement character" */
				char *clean = xstrdup(v), *q;
				while ((q = strstr(clean, "\xef\xbb\xbf")) != NULL)
					memmove(q, q + 3, strlen(q + 3) + 1);
				tag_set_attr(t, "href", clean);
				free(clean);
				v = tag_attr(t, "href");
			}
			html_push_uri(h, type, v);
		}
		if (href && (v = tag_attr(t, "data-saferedirecturl")) != NULL)
			html_push_uri(h, type, v);
	} else if (strcmp(tag, "form") == 0) {
		if ((v = tag_attr(t, "action")) != NULL)
			html_push_uri(h, type, v);
	} else if (strcmp(tag, "base") == 0) {
		if ((v = tag_attr(t, "href")) != NULL && v[0] != '\0' && strcmp(v, "0") != 0) {
			char *uri = html_canon_uri(h, v);
			size_t ov[10];
			html_push_uri(h, type, uri);
			if (re_find("^(?:https?|ftp):/{0,2}", PCRE2_CASELESS, uri, NULL)) {
				struct strbuf b = { NULL, 0, 0 };
				if (re_find("^([a-z]+:/{0,2}[^/]+/.*?)[^/\\.]+\\.[^/\\.]{2,4}$",
				    PCRE2_CASELESS | PCRE2_DOTALL, uri, ov))
					strbuf_append(&b, uri + ov[2], ov[3] - ov[2]);
				else
					strbuf_append(&b, uri, strlen(uri));
				if (b.len == 0 || b.data[b.len - 1] != '/')
					strbuf_putc(&b, '/');
				free(h->base_href);
				h->base_href = b.data;
			}
			free(uri);
		}
	} else if (strcmp(tag, "meta") == 0) {
		const char *he = tag_attr(t, "http-equiv"), *c = tag_attr(t, "content");
		size_t ov[10];
		if (he != NULL && c != NULL && re_find("refresh", PCRE2_CASELESS, he, NULL) &&
		    re_find("\\burl\\s*=\\s*", PCRE2_CASELESS, c, ov)) {
			/* everything up to the last "url=" goes */
			const char *u = c;
			size_t end = ov[1];
			while (re_find_at("\\burl\\s*=\\s*", PCRE2_CASELESS, c, strlen(c), end, ov))
				end = ov[1] > end ? ov[1] : end + 1;
			u = c + end;
			{
				char *x = xstrdup(u);
				/* from the first ';' on, with the blanks before it */
				char *semi = strchr(x, ';');
				if (semi != NULL) {
					while (semi > x && isspace((unsigned char)semi[-1]))
						semi--;
					*semi = '\0';
				}
				html_push_uri(h, type, x);
				free(x);
			}
		}
	}
}

/* HTML.pm html_tests (what the evals read of it) */
static void
html_tests(struct html_info *h, const char *tag, const struct html_tag *t)
{
	const char *v;

	if (strcmp(tag, "font") == 0 && (v = tag_attr(t, "face")) != NULL &&
	    !re_find("^\\s*[\"'.]?[a-z ][a-z -]*[a-z]\\d?[\"']?(?:,\\s*[\"']?[a-z][a-z -]*[a-z]\\d?[\"']?)*;?$",
	    PCRE2_CASELESS, v, NULL))
		h->font_face_bad = 1;
	if (strcmp(tag, "img") == 0 && html_in(h, "a")) {
		struct html_uri *u = html_uri_get(h, h->anchor_last != NULL ? h->anchor_last : "");
		if (u->nanchors == 0) {
			entry_new(&u->anchor);
			u->nanchors++;
		}
		entry_append(&u->anchor, "<img>\n", 6);
		if (h->nanchors == 0) {
			entry_new(&h->anchor);
			h->nanchors++;
		}
		entry_append(&h->anchor, "<img>\n", 6);
	}
	if (strcmp(tag, "img") == 0 && tag_attr(t, "width") != NULL && tag_attr(t, "height") != NULL) {
		unsigned long w = 0, ht = 0;
		size_t ov[10];
		v = tag_attr(t, "width");
		if (re_find("^(\\d+)(%)?$", 0, v, ov)) {
			w = strtoul(v, NULL, 10);
			if (ov[4] != PCRE2_UNSET)
				w *= 8;
		}
		v = tag_attr(t, "height");
		if (re_find("^(\\d+)(%)?$", 0, v, ov)) {
			ht = strtoul(v, NULL, 10);
			if (ov[4] != PCRE2_UNSET)
				ht *= 6;
		}
		if (w == 0)
			w = 200;
		if (ht == 0)
			ht = 200;
		h->image_area += w * ht;
	}
	if (strcmp(tag, "form") == 0 && (v = tag_attr(t, "action")) != NULL &&
	    re_find("mailto:", PCRE2_CASELESS, v, NULL))
		h->form_action_mailto = 1;
	if (strcmp(tag, "object") == 0 || strcmp(tag, "embed") == 0)
		h->embeds = 1;
	if (strcmp(tag, "a") == 0) {
		struct html_uri *u;
		free(h->anchor_last);
		v = tag_attr(t, "href");
		h->anchor_last = v != NULL ? html_canon_uri(h, v) : xstrdup("");
		u = html_uri_get(h, h->anchor_last);
		entry_new(&u->anchor);
		u->nanchors++;
		entry_new(&h->anchor);
		h->nanchors++;
	}
	if (strcmp(tag, "title") == 0) {
		entry_new(&h->title);
		h->ntitles++;
	}
}

/* HTML.pm text_style, on a tag of an element it reads (filter/html_style.c) */
static void
html_text_style(struct html_info *h, const struct html_tag *t, int num)
{
	struct html_style_attr attrs[sizeof(t->attrs) / sizeof(t->attrs[0])];

	for (int i = 0; i < t->nattrs; i++) {
		attrs[i].name = t->attrs[i].name;
		attrs[i].value = t->attrs[i].value;
	}
	html_styles_tag(&h->styles, t->name, num == 1, attrs, t->nattrs);
}

/* HTML.pm html_tag */
static void
html_tag_event(struct html_info *h, struct html_tag *t, int num)
{
	const char *tag = t->name;
	int ns = re_find("^(?:o|st\\d):[\\w-]+/?$", 0, tag, NULL);
	int *in;

	if (is_html_element(tag) || ns) {
		h->elements++;
		if (html_inside(h, tag, 0) == NULL)
			h->elements_seen++;
	}
	h->tags++;
	if (html_inside(h, tag, 0) == NULL)
		h->tags_seen++;
	in = html_inside(h, tag, 1);
	*in += num;
	if (*in < 0) {
		*in = 0;
		h->closed_extra++;
	}
	if (ns || !(is_html_element(tag) || word_in(html_tricks, tag)))
		return;
	if (html_style_element(tag))
		html_text_style(h, t, num);
	if (strcmp(tag, "br") == 0 || strcmp(tag, "div") == 0)
		html_display(h, "\n", 1, 1, 0);
	else if (re_find("^(?:li|t[hd]|d[td]|embed|h\\d)$", 0, tag, NULL))
		html_display(h, " ", 1, 1, 0);
	else if (re_find("^(?:p|hr|blockquote|pre|listing|plaintext|xmp|title)$", 0, tag, NULL))
		html_display(h, "\n\n", 2, 1, 0);
	if (num == 1) {
		if (word_in(html_uri_tags, tag))
			html_uris(h, tag, t);
		html_tests(h, tag, t);
	}
}

/* HTML::Parser's parse_start: the end of the tag or NULL if it is text. */
static const char *
html_parse_start(const char *s, const char *end, struct html_tag *t)
{
	const char *p = s + 1, *n = p;
	size_t tl = 0;

	t->nattrs = 0;
	while (p < end && !hspace(*p) && *p != '>')
		p++;
	for (; n < p; n++)
		if (tl + 1 < sizeof(t->name))
			t->name[tl++] = (char)tolower((unsigned char)*n);
	t->name[tl] = '\0';
	while (p < end && hspace(*p))
		p++;
	while (p < end && !hspace(*p) && *p != '>') {
		const char *an = p, *ane, *vb = NULL, *ve = NULL;
		char name[64];
		size_t nl = 0;
		p++;
		while (p < end && !hspace(*p) && *p != '>' && *p != '=')
			p++;
		if (p >= end)
			goto premature;
		ane = p;
		while (p < end && hspace(*p))
			p++;
		if (p >= end)
			goto premature;
		if (*p == '=') {
			p++;
			while (p < end && hspace(*p))
				p++;
			if (p >= end)
				goto premature;
			if (*p == '>') {
				vb = ve = p;
			} else if (*p == '"' || *p == '\'') {
				char q = *p;
				vb = ++p;
				while (p < end && *p != q)
					p++;
				if (p >= end)
					goto premature;
				ve = p++;
			} else {
				vb = p;
				while (p < end && !hspace(*p) && *p != '>')
					p++;
				if (p >= end)
					goto premature;
				ve = p;
			}
			while (p < end && hspace(*p))
				p++;
			if (p >= end)
				goto premature;
		}
		for (const char *c = an; c < ane; c++)
			if (nl + 1 < sizeof(name))
				name[nl++] = (char)tolower((unsigned char)*c);
		name[nl] = '\0';
		if (tag_attr(t, name) == NULL && t->nattrs < (int)(sizeof(t->attrs) / sizeof(t->attrs[0]))) {
			struct strbuf v = { NULL, 0, 0 };
			if (vb != NULL)
				html_decode(vb, (size_t)(ve - vb), &v);
			else
				strbuf_append(&v, name, nl);
			str_copy(t->attrs[t->nattrs].name, name, sizeof(t->attrs[0].name));
			t->attrs[t->nattrs++].value = v.data != NULL ? v.data : xstrdup("");
		}
		if (*p == '>')
			break;
	}
	if (p < end && *p == '>')
		return p + 1;
premature:
	tag_free(t);
	return NULL;
}

/* hparser.c skip_until_gt: quotes after a blank or '=' hide '>' */
static const char *
skip_until_gt(const char *s, const char *end)
{
	char quote = '\0', prev = ' ';

	while (s < end) {
		if (!quote && *s == '>')
			return s;
		if (*s == '"' || *s == '\'') {
			if (*s == quote)
				quote = '\0';
			else if (!quote && (prev == ' ' || prev == '='))
				quote = *s;
		}
		prev = *s++;
	}
	return end;
}

static void
html_comment_event(struct html_info *h, const char *s, size_t len)
{
	strbuf_append(&h->comment, s, len);
	strbuf_putc(&h->comment, '\0');
}

static void
html_text_decoded(struct html_info *h, const char *s, size_t len, int decode)
{
	struct strbuf b = { NULL, 0, 0 };

	if (len == 0)
		return;
	if (decode)
		html_decode(s, len, &b);
	else
		strbuf_append(&b, s, len);
	html_text_event(h, b.data, b.len);
	strbuf_free(&b);
}

static void
html_parse(struct html_info *h, const char *s, const char *end)
{
	const char *t = s;	/* start of pending text */
	const char *literal = NULL;
	struct html_tag tag;

	memset(&tag, 0, sizeof(tag));
	while (s < end) {
		if (literal != NULL) {
			size_t ll = strlen(literal);
			const char *q = s;
			int decode = strcmp(literal, "title") == 0 || strcmp(literal, "textarea") == 0;
			for (;;) {
				q = memchr(q, '<', (size_t)(end - q));
				if (q == NULL)
					break;
				if (end - q >= (ptrdiff_t)(ll + 2) && q[1] == '/' &&
				    str_ncasecmp(q + 2, literal, ll) == 0) {
					const char *g = q + 2 + ll;
					while (g < end && hspace(*g))
						g++;
					if (g < end && *g == '>') {
						html_text_decoded(h, t, (size_t)(q - t), decode);
						str_copy(tag.name, literal, sizeof(tag.name));
						tag.nattrs = 0;
						html_tag_event(h, &tag, -1);
						s = t = g + 1;
						break;
					}
				}
				q++;
			}
			if (q == NULL) {
				/* the rest is the element's text; script and style closed */
				html_text_decoded(h, t, (size_t)(end - t), decode);
				if (strcmp(literal, "script") == 0 || strcmp(literal, "style") == 0) {
					str_copy(tag.name, literal, sizeof(tag.name));
					tag.nattrs = 0;
					html_tag_event(h, &tag, -1);
				}
				return;
			}
			literal = NULL;
			continue;
		}
		s = memchr(s, '<', (size_t)(end - s));
		if (s == NULL)
			break;
		{
			const char *n = NULL;
			int premature = 0;
			char c = s + 1 < end ? s[1] : '\0';
			if (isalpha((unsigned char)c) || c == '_' || c == ':') {
				n = html_parse_start(s, end, &tag);
				if (n != NULL) {
					html_text_decoded(h, t, (size_t)(s - t), 1);
					html_tag_event(h, &tag, 1);
					if (word_in(html_literal, tag.name))
						literal = html_literal[word_in(html_literal, tag.name) - 1];
					tag_free(&tag);
				} else {
					premature = 1;
				}
			} else if (c == '/') {
				const char *p = s + 2;
				if (p < end && !hspace(*p) && *p != '>') {
					const char *ne = p;
					size_t tl = 0;
					while (ne < end && !hspace(*ne) && *ne != '>')
						ne++;
					for (const char *x = p; x < ne; x++)
						if (tl + 1 < sizeof(tag.name))
							tag.name[tl++] = (char)tolower((unsigned char)*x);
					tag.name[tl] = '\0';
					tag.nattrs = 0;
					p = skip_until_gt(ne, end);
					if (p < end) {
						html_text_decoded(h, t, (size_t)(s - t), 1);
						html_tag_event(h, &tag, -1);
						n = p + 1;
					} else {
						premature = 1;
					}
				} else {
					p = skip_until_gt(p, end);
					if (p < end) {
						html_text_decoded(h, t, (size_t)(s - t), 1);
						html_comment_event(h, s, (size_t)(p + 1 - s));
						n = p + 1;
					} else {
						premature = 1;
					}
				}
			} else if (c == '!' && end - s >= 4 && s[2] == '-' && s[3] == '-') {
				/* non-strict comment: up to "--" blanks ">"; at the end of
				 * the document, HTML::Parser reads it again up to a '>' */
				const char *p = s + 4;
				for (; p < end; p++) {
					const char *q;
					if (*p != '-' || p + 1 >= end || p[1] != '-')
						continue;
					q = p + 2;
					while (q < end && hspace(*q))
						q++;
					if (q < end && *q == '>') {
						n = q + 1;
						break;
					}
				}
				if (n == NULL && (p = memchr(s + 4, '>', (size_t)(end - s - 4))) != NULL)
					n = p + 1;
				if (n != NULL) {
					html_text_decoded(h, t, (size_t)(s - t), 1);
					html_comment_event(h, s, (size_t)(n - s));
				} else {
					premature = 1;
				}
			} else if (c == '!' || c == '?') {
				const char *p = memchr(s, '>', (size_t)(end - s));
				if (p != NULL) {
					html_text_decoded(h, t, (size_t)(s - t), 1);
					if (c == '!' && str_ncasecmp(s, "<!doctype", 9) == 0) {
						/* html_declaration */
						h->elements++;
						h->tags++;
						*html_inside(h, "!doctype", 1) = 0;
					} else if (c == '!') {
						html_comment_event(h, s, (size_t)(p + 1 - s));
					}
					n = p + 1;
				} else {
					premature = 1;
				}
			}
			if (n != NULL) {
				s = t = n;
				continue;
			}
			if (premature) {
				/* unterminated markup: the rest is a comment */
				html_text_decoded(h, t, (size_t)(s - t), 1);
				html_comment_event(h, s, (size_t)(end - s));
				return;
			}
			/* a '<' that starts nothing: text, in a new text event */
			html_text_decoded(h, t, (size_t)(s - t), 1);
			t = s;
			s++;
		}
	}
	html_text_decoded(h, t, (size_t)(end - t), 1);
}

/*
 * HTML.pm parse() on one part's text: &nbsp; as a space, <br/> as <br>,
 * curly double quotes as '"', then the events; unclosed style and script
 * closed.
 */
static void
html_scan(struct html_info *h, const char *s, size_t len, int utf8)
{
	struct strbuf b = { NULL, 0, 0 };
	size_t i = 0;

	h->length = html_chars(s, len, utf8);
	while (i < len) {
		size_t ov[10];
		if (s[i] == '&' && len - i >= 6 && memcmp(s + i, "&nbsp;", 6) == 0) {
			strbuf_putc(&b, ' ');
			i += 6;
		} else if (s[i] == '<' && re_find_at("\\G<(\\w+)\\s*/>", 0, s, len, i, ov)) {
			strbuf_putc(&b, '<');
			strbuf_append(&b, s + ov[2], ov[3] - ov[2]);
			strbuf_putc(&b, '>');
			i = ov[1];
		} else if ((unsigned char)s[i] == 0xe2 && len - i >= 3 && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0x9c || (unsigned char)s[i + 2] == 0x9d)) {
			strbuf_putc(&b, '"');
			i += 3;
		} else {
			strbuf_putc(&b, s[i]);
			i++;
		}
	}
	if (b.len > 0)
		html_parse(h, b.data, b.data + b.len);
	strbuf_free(&b);
	/* what html_end and Node.pm keep of the rendered text */
	h->html_length = html_chars(h->text.data != NULL ? h->text.data : "", h->text.len, utf8);
	h->non_space_len = h->html_length;
	for (size_t j = 0; j < h->text.len; j++) {
		char c = h->text.data[j];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == '\f')
			h->non_space_len--;
	}
}

static void
html_info_free(struct html_info *h)
{
	set_free(&h->inside_names);
	free(h->inside);
	strbuf_free(&h->title);
	strbuf_free(&h->comment);
	strbuf_free(&h->anchor);
	strbuf_free(&h->text);
	for (size_t i = 0; i < h->nuris; i++)
		strbuf_free(&h->uris[i].anchor);
	free(h->uris);
	strset_free(&h->uri_keys);
	free(h->anchor_last);
	free(h->base_href);
	html_styles_free(&h->styles);
}

static int
valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;

	while (p < e) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 1 :
		    (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 3 : -1;
		if (n < 0 || e - p <= n)
			return n == 0;
		for (int k = 1; k <= n; k++)
			if ((p[k] & 0xc0) != 0x80)
				return 0;
		p += n + 1;
	}
	return 1;
}

/* iconv of b from charset to UTF-8, all or nothing; 1 done. */
static int
iconv_strict(const char *charset, struct strbuf *b)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	struct strbuf out = { NULL, 0, 0 };
	char *in = b->data;
	size_t left = b->len;
	int ok = 1;

	if (cd == (iconv_t)-1)
		return 0;
	while (left > 0) {
		char chunk[4096], *o = chunk;
		size_t room = sizeof(chunk);

		if (iconv(cd, &in, &left, &o, &room) == (size_t)-1 && errno != E2BIG)
			ok = 0;
		strbuf_append(&out, chunk, sizeof(chunk) - room);
		if (!ok)
			break;
	}
	iconv_close(cd);
	if (!ok) {
		strbuf_free(&out);
		return 0;
	}
	strbuf_free(b);
	*b = out;
	if (b->data == NULL)
		strbuf_append(b, "", 0);
	return 1;
}

/*
 * Node.pm _normalize() with normalize_charset on (SpamAssassin 4's
 * default) and no Encode::Detect (Debian's): the text of a part as
 * characters, here UTF-8.  Valid UTF-8 is taken whatever the declared
 * charset; then the declared one, strictly (ISO-8859-1 read as
 * Windows-1252, as browsers do); then Windows-1252, which cannot fail.
 */
static void
html_normalize(const char *charset, struct strbuf *b)
{
	struct strbuf u = { NULL, 0, 0 };
	size_t n8 = 0;

	for (size_t j = 0; j < b->len; j++)
		if ((unsigned char)b->data[j] >= 0x80)
			n8++;
	if (n8 == 0 || valid_utf8(b->data, b->len))
		return;
	if (charset[0] != '\0' && !re_find("^(?:us-)?ascii$|^utf-?8$", PCRE2_CASELESS, charset, NULL)) {
		const char *name = re_find("^(?:iso-?8859-1|windows-1252|cp1252)$", PCRE2_CASELESS,
		    charset, NULL) ? "WINDOWS-1252" : charset;
		if (iconv_strict(name, b))
			return;
	}
	/* the last resort, which cannot fail: Windows-1252, its unassigned bytes U+FFFD (Encode) */
	for (size_t j = 0; j < b->len; j++) {
		unsigned long cp = charset_w1252_cp((unsigned char)b->data[j]);
		if (cp < 0x80)
			strbuf_putc(&u, (char)cp);
		else
			strbuf_put_utf8(&u, cp < 0xa0 ? 0xfffd : cp);
	}
	strbuf_free(b);
	*b = u;
}

/* Node.pm rendered(): each text/html leaf part that is not empty, in order. */
static struct eval_state *
html_state(struct eval_msg *m)
{
	struct eval_state *st = state(m);

	if (st->html_done)
		return st;
	st->html_done = 1;
	for (size_t i = 0; i < st->nparts; i++) {
		struct sa_part *p = &st->parts[i];
		struct strbuf b = { NULL, 0, 0 };
		struct html_info *h;
		if (!p->is_leaf || (strcmp(p->type, "text/html") != 0 && !p->html_named))
			continue;
		part_decode(p, 4 << 20, &b);
		if (b.len == 0) {
			strbuf_free(&b);
			continue;
		}
		/* Node.pm decode: a text part in base64 has its CRLF made LF */
		if (strstr(p->cte, "base64") != NULL) {
			size_t o = 0;
			for (size_t j = 0; j < b.len; j++)
				if (!(b.data[j] == '\r' && j + 1 < b.len && b.data[j + 1] == '\n'))
					b.data[o++] = b.data[j];
			b.len = o;
			b.data[o] = '\0';
		}
		html_normalize(p->charset, &b);
		st->html = xrealloc(st->html, (st->nhtml + 1) * sizeof(*st->html));
		h = &st->html[st->nhtml++];
		memset(h, 0, sizeof(*h));
		h->part = i;
		html_scan(h, b.data, b.len, 1);
		strbuf_free(&b);
	}
	return st;
}

/* ---- BodyEval: the words of the text and HTML sides of multipart/alternative ---- */

/* Perl's \w on a UTF-8 string, for the code point at p: letters, digits, _. */
static int
word_char_at(const unsigned char *p, size_t left)
{
	unsigned long cp;

	if (*p < 0x80)
		return isalnum(*p) || *p == '_';
	if ((*p & 0xe0) == 0xc0 && left >= 2)
		cp = ((unsigned long)(*p & 0x1f) << 6) | (p[1] & 0x3f);
	else if ((*p & 0xf0) == 0xe0 && left >= 3)
		cp = ((unsigned long)(*p & 0x0f) << 12) | ((unsigned long)(p[1] & 0x3f) << 6) |
		    (p[2] & 0x3f);
	else
		return 1;	/* not UTF-8, or beyond the BMP: counted as a letter */
	/* Latin-1 punctuation and symbols, General Punctuation to Misc Symbols, CJK marks */
	if (cp >= 0x80 && cp <= 0xbf)
		return cp == 0xaa || cp == 0xb5 || cp == 0xba;
	if (cp == 0xd7 || cp == 0xf7)
		return 0;
	return !(cp >= 0x2000 && cp <= 0x2bff) && !(cp >= 0x3000 && cp <= 0x303f);
}

/* grep(/\w/, split(/\s+/, text)) into words (pointers into text, NUL-ended there). */
static void
split_words(char *text, size_t len, struct str_set *words)
{
	size_t i = 0;

	while (i < len) {
		size_t start;
		int word = 0;

		while (i < len && (isspace((unsigned char)text[i]) ||
		    ((unsigned char)text[i] == 0xc2 && i + 1 < len &&
		    (unsigned char)text[i + 1] == 0xa0)))
			i += (unsigned char)text[i] == 0xc2 ? 2 : 1;
		start = i;
		while (i < len && !isspace((unsigned char)text[i]) &&
		    !((unsigned char)text[i] == 0xc2 && i + 1 < len &&
		    (unsigned char)text[i + 1] == 0xa0)) {
			if (!word)
				word = word_char_at((const unsigned char *)text + i, len - i);
			i++;
		}
		if (i > start && word) {
			char save = text[i];

			text[i] = '\0';
			if (words->n == words->alloc) {
				words->alloc = words->alloc ? 2 * words->alloc : 64;
				words->v = xrealloc(words->v, words->alloc * sizeof(*words->v));
			}
			words->v[words->n++] = xstrdup(text + start);
			text[i] = save;
		}
	}
}

/* Sorted; the distinct ones counted. */
static size_t
words_distinct(struct str_set *w)
{
	size_t n = 0;

	if (w->n == 0)
		return 0;
	qsort(w->v, w->n, sizeof(*w->v), str_ptr_cmp);
	for (size_t i = 0; i < w->n; i++)
		if (i == 0 || strcmp(w->v[i], w->v[i - 1]) != 0)
			n++;
	return n;
}

/* How many times w->v[*i] occurs from *i on (sorted); *i moves past them. */
static size_t
words_run(const struct str_set *w, size_t *i)
{
	size_t start = *i;

	while (*i < w->n && strcmp(w->v[*i], w->v[start]) == 0)
		(*i)++;
	return *i - start;
}

static int
part_within(const struct eval_state *st, size_t part, size_t ancestor)
{
	for (int p = st->parts[part].parent; p >= 0; p = st->parts[p].parent)
		if ((size_t)p == ancestor)
			return 1;
	return 0;
}

/* A multipart message of exactly text/html then text/calendar (Exchange's invitations). */
static int
meeting_request(const struct eval_state *st)
{
	size_t kids[3], nk = 0;

	if (st->nparts == 0 || strcmp(st->parts[0].type, "multipart/alternative") != 0)
		return 0;
	for (size_t i = 1; i < st->nparts; i++) {
		if (st->parts[i].parent != 0)
			continue;
		if (nk == 3)
			return 0;
		kids[nk++] = i;
	}
	if (nk != 2 || strcmp(st->parts[kids[0]].type, "text/html") != 0 ||
	    strcmp(st->parts[kids[1]].type, "text/calendar") != 0)
		return 0;
	/* content_summary: each child's subtree is that one type. */
	for (size_t i = 1; i < st->nparts; i++)
		if (st->parts[i].parent > 0)
			return 0;
	return 1;
}

/* BodyEval::_multipart_alternative_difference. */
static struct eval_state *
madiff_state(struct eval_msg *m)
{
	struct eval_state *st = html_state(m);

	if (st->madiff_done)
		return st;
	st->madiff_done = 1;
	if (meeting_request(st))
		return st;
	for (size_t a = 0; a < st->nparts; a++) {
		struct str_set html = { NULL, 0, 0 }, text = { NULL, 0, 0 };
		size_t orig, left, i, j;
		int img = 0;

		if (strncmp(st->parts[a].type, "multipart/alternative", 21) != 0 ||
		    isalnum((unsigned char)st->parts[a].type[21]) || st->parts[a].type[21] == '_')
			continue;
		for (size_t t = a + 1; t < st->nparts; t++) {
			const struct sa_part *p = &st->parts[t];
			struct strbuf b = { NULL, 0, 0 };

			if (!p->is_leaf || strncmp(p->type, "text", 4) != 0 || !part_within(st, t, a))
				continue;
			if (strcmp(p->type, "text/html") == 0 || p->html_named) {
				for (size_t h = 0; h < st->nhtml; h++) {
					struct html_info *hi = &st->html[h];

					if (hi->part != t)
						continue;
					split_words(hi->text.data != NULL ? hi->text.data : "",
					    hi->text.len, &html);
					/* No words: "\n", which no word can be, if it has an image. */
					if (html.n == 0 && !img && html_inside(hi, "img", 0) != NULL)
						img = 1;
				}
				continue;
			}
			/* Node.pm renders nothing of other text/ parts (text/calendar ...). */
			if (strcmp(p->type, "text/plain") != 0)
				continue;
			part_decode(p, 4 << 20, &b);
			if (b.len > 0)
				split_words(b.data, b.len, &text);
			strbuf_free(&b);
		}
		orig = words_distinct(&html) + (size_t)img;
		if (orig == 0) {
			set_free(&html);
			set_free(&text);
			continue;
		}
		st->madiff_html = orig;
		st->madiff_text = words_distinct(&text);
		/* An HTML word goes when the text has it at least as many times. */
		left = (size_t)img;
		for (i = 0, j = 0; i < html.n;) {
			const char *w = html.v[i];
			size_t hn = words_run(&html, &i), tn = 0;
			int c = 1;

			while (j < text.n && (c = strcmp(text.v[j], w)) < 0)
				j++;
			if (j < text.n && c == 0)
				tn = words_run(&text, &j);
			if (!(tn > 0 && (long)hn - (long)tn < 1))
				left++;
		}
		if ((double)left / (double)orig * 100 > st->madiff)
			st->madiff = (double)left / (double)orig * 100;
		set_free(&html);
		set_free(&text);
	}
	return st;
}

/* ---- URIs: RegistryBoundaries, uri_list_canonicalize, the URI detail list ---- */

/* Util.pm is_fqdn_valid (host already in lower case ASCII) */
static int
fqdn_valid(const char *host)
{
	size_t len = strlen(host), cnt = 0;
	const char *p, *e;

	while (len > 0 && host[len - 1] == '.')
		len--;
	if (len > 253)
		return 0;
	for (p = host; p < host + len; p = e + 1) {
		e = memchr(p, '.', (size_t)(host + len - p));
		if (e == NULL)
			e = host + len;
		cnt++;
		if (e == host + len)
			break;
	}
	if (cnt < 2)
		return 0;
	for (p = host; p < host + len; p = e + 1, cnt--) {
		size_t l;
		e = memchr(p, '.', (size_t)(host + len - p));
		if (e == NULL)
			e = host + len;
		l = (size_t)(e - p);
		if (l < 1 || l > 63)
			return 0;
		for (size_t i = 0; i < l; i++) {
			char c = p[i];
			if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '_' ||
			    (c == '-' && i > 0 && i + 1 < l)))
				return 0;
			if (c == '_' && cnt <= 2)
				return 0;
		}
		if (e == host + len)
			break;
	}
	return 1;
}

/* RegistryBoundaries is_domain_valid: ends in a known TLD, has a dot */
static int
domain_valid(const struct eval_config *c, const char *dom)
{
	const char *dot;
	char low[256];

	if (c == NULL || strpbrk(dom, " \t\n\r\f\v") != NULL)
		return 0;
	str_copy(low, dom, sizeof(low));
	str_lower(low);
	dot = strrchr(low, '.');
	return dot != NULL && dot[1] != '\0' && set_has(&c->tlds, dot + 1);
}

static const char *const us_states[] = {
	"ak", "al", "ar", "az", "ca", "co", "ct", "dc", "de", "fl", "ga", "gu", "hi", "ia", "id",
	"il", "in", "ks", "ky", "la", "ma", "md", "me", "mi", "mn", "mo", "ms", "mt", "nc", "nd",
	"ne", "nh", "nj", "nm", "nv", "ny", "oh", "ok", "or", "pa", "pr", "ri", "sc", "sd", "tn",
	"tx", "ut", "va", "vi", "vt", "wa", "wi", "wv", "wy", NULL
};

/* RegistryBoundaries trim_domain (split_domain's domain part), into out */
static void
trim_domain(const struct eval_config *c, const char *fqdn, char *out, size_t size)
{
	char d[512], *parts[128];
	size_t n = 0, o = 0, first;

	/* lower case, runs of dots as one, none leading or trailing */
	for (const char *p = fqdn; *p != '\0' && o + 1 < sizeof(d); p++) {
		if (*p == '.' && (o == 0 || d[o - 1] == '.'))
			continue;
		d[o++] = (char)tolower((unsigned char)*p);
	}
	while (o > 0 && d[o - 1] == '.')
		o--;
	d[o] = '\0';
	if (o == 0) {
		str_copy(out, "", size);
		return;
	}
	for (char *p = d, *dot; n < 128; p = dot + 1) {
		parts[n++] = p;
		if ((dot = strchr(p, '.')) == NULL)
			break;
		*dot = '\0';
	}
	first = 0;
	while (n - first > 1) {
		size_t left = n - first;
		char tmp[512];
		if (left == 2) {
			snprintf(tmp, sizeof(tmp), "%s.%s", parts[first], parts[first + 1]);
			if (c != NULL && set_has(&c->tlds2, tmp))
				break;
		} else if (left == 3) {
			if (strcmp(parts[first + 2], "us") == 0) {
				if (word_in(us_states, parts[first + 1]))
					break;
			} else {
				snprintf(tmp, sizeof(tmp), "%s.%s.%s", parts[first], parts[first + 1],
				    parts[first + 2]);
				if (c != NULL && set_has(&c->tlds3, tmp))
					break;
			}
		} else if (left == 4) {
			if (strcmp(parts[first + 3], "us") == 0 &&
			    ((strcmp(parts[first], "pvt") == 0 && strcmp(parts[first + 1], "k12") == 0) ||
			    re_find("^c[io]$", 0, parts[first], NULL)) &&
			    word_in(us_states, parts[first + 2]))
				break;
		}
		first++;
	}
	/* the label before the registry boundary belongs to the domain */
	if (first > 0)
		first--;
	out[0] = '\0';
	for (size_t i = first; i < n; i++) {
		if (i > first)
			strncat(out, ".", size - strlen(out) - 1);
		strncat(out, parts[i], size - strlen(out) - 1);
	}
}

/* Constants.pm IS_IP_ADDRESS, IPv4 and the common IPv6 forms */
static int
is_ip_address(const char *s)
{
	return re_find("^(?:(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.){3}"
	    "(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)$", 0, s, NULL) ||
	    (strchr(s, ':') != NULL &&
	    re_find("^(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|(?:\\d{1,3}\\.){3}\\d{1,3})$",
	    PCRE2_CASELESS, s, NULL));
}

/*
 * RegistryBoundaries uri_to_domain: the host of uri into host (lower
 * case), 1 if it has one (an IP address, or a valid host name with a
 * known TLD), 0 if not.
 */
static int
uri_host(const struct eval_config *c, const char *uri, char *host, size_t size)
{
	char *u = xstrdup(uri), *p = u;
	size_t ov[10];
	int ok = 0;

	str_lower(u);
	if (re_find("^(?:javascript|cid|file):", 0, u, NULL))
		goto done;
	if (strncmp(p, "mailto:", 7) == 0) {
		char *at;
		p += 7;
		p[strcspn(p, "?")] = '\0';
		if ((at = strchr(p, '@')) == NULL || strchr(at + 1, '@') != NULL)
			goto done;
		p = strrchr(p, '@') + 1;
	} else {
		char *q;
		if (re_find("^[a-z]+:/{0,2}", 0, p, ov))
			p += ov[1];
		p[strcspn(p, "/?#")] = '\0';
		if ((q = strrchr(p, '@')) != NULL)
			p = q + 1;
		if (re_find(":\\d*$", 0, p, ov))
			p[ov[0]] = '\0';
	}
	if (re_find("%(?:2[1-9a-f]|[3-6][0-9a-f]|7[0-9a-e])", 0, p, NULL))
		goto done;
	if (!is_ip_address(p) && (!fqdn_valid(p) || !domain_valid(c, p)))
		goto done;
	str_copy(host, p, size);
	ok = 1;
done:
	free(u);
	return ok;
}

/* Util.pm url_encode (which decodes): %XX of printable ASCII other than " # % / : ; < = > ? @ & */
static char *
url_decode_safe(const char *s)
{
	struct strbuf b = { NULL, 0, 0 };

	for (; *s != '\0'; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char hex[3] = { s[1], s[2], 0 };
			int v = (int)strtol(hex, NULL, 16);
			/* kept: 00-20, 7f-ff and < > " # % ; / ? : @ = & (20|7f|[0189a-f].) */
			if (!re_find("(20|7f|[0189a-fA-F][0-9a-fA-F])", 0, hex, NULL) && v >= 0x21 &&
			    v <= 0x7e) {
				strbuf_putc(&b, (char)v);
				s += 2;
				continue;
			}
			strbuf_append(&b, s, 3);
			s += 2;
			continue;
		}
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '"' ||
		    *s == '%' || *s == '<' || *s == '>') {
			char enc[4];
			snprintf(enc, sizeof(enc), "%%%02x", (unsigned char)*s);
			strbuf_append(&b, enc, 3);
		} else {
			strbuf_putc(&b, *s);
		}
	}
	return b.data != NULL ? b.data : xstrdup("");
}

static int
uri_set_add(struct strset *s, const char *u)
{
	return strset_add(s, u, strlen(u), NULL);
}

/*
 * The character references uri_list_canonicalize decodes, in its three
 * passes: &#NN; of 33 to 126, &#xNN; of 0x21 to 0x7e (a lower case x),
 * the Unicode dots as '.'.  Takes s, returns the result.
 */
static char *
uri_entities(char *s)
{
	static const char *const pass[] = {
		"&#0*(3[3-9]|[4-9]\\d|1[01]\\d|12[0-6]);",
		"&#x0*(2[1-9]|[3-6][a-fA-F0-9]|7[0-9a-eA-E]);",
		"&#(?:x2e|12290|x3002|65294|xff0e|65377|xff61);",
	};

	if (strstr(s, "&#") == NULL)
		return s;
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		struct strbuf e = { NULL, 0, 0 };
		size_t len = strlen(s), at = 0, ov[10];

		while (re_find_at(pass[i], i == 2 ? PCRE2_CASELESS : 0, s, len, at, ov)) {
			strbuf_append(&e, s + at, ov[0] - at);
			if (i == 2)
				strbuf_putc(&e, '.');
			else
				strbuf_putc(&e, (char)strtoul(s + ov[2], NULL, i == 0 ? 10 : 16));
			at = ov[1];
		}
		if (at == 0) {
			strbuf_free(&e);
			continue;
		}
		strbuf_append(&e, s + at, len - at);
		free(s);
		s = e.data;
	}
	return s;
}

/*
 * Util.pm decode_ulong_to_ip: the first four bytes of sprintf("%08lx"),
 * so that 2^32 reads 16.0.0.0.
 */
static void
ulong_to_ip(unsigned long long v, char *out, size_t size)
{
	char hex[32];
	unsigned int b[4];

	snprintf(hex, sizeof(hex), "%08llx", v);
	for (int i = 0; i < 4; i++) {
		char two[3] = { hex[2 * i], hex[2 * i + 1], '\0' };
		b[i] = (unsigned int)strtoul(two, NULL, 16);
	}
	snprintf(out, size, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
}

/* $1 of a redirector_pattern matched against uri, when it is set; NULL otherwise. */
static char *
redirector_match(const pcre2_code *re, const char *uri)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	char *target = NULL;
	int rc = pcre2_match(re, (PCRE2_SPTR)uri, strlen(uri), 0, 0, md, NULL);

	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR)uri, strlen(uri), 0, PCRE2_NO_JIT, md, NULL);
	if (rc > 1 || rc == 0) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		if (pcre2_get_ovector_count(md) > 1 && ov[2] != PCRE2_UNSET)
			target = xstrndup(uri + ov[2], ov[3] - ov[2]);
	}
	pcre2_match_data_free(md);
	return target;
}

/*
 * Util.pm uri_list_canonicalize of one URI: every variant into out (the
 * URI itself included), the redirect targets it holds followed too.
 * The redirector_pattern lines apply, then the hard-coded http:// search.
 */
static void
uri_canonicalize(const struct eval_config *c, const char *raw, struct strset *out)
{
	struct strset todo = STRSET_INIT;

	uri_set_add(&todo, raw);
	for (size_t k = 0; k < todo.n && k < 32; k++) {
		struct strbuf b = { NULL, 0, 0 };
		char *uri, *nuri;
		size_t ov[10];

		for (const char *p = todo.v[k]; *p != '\0'; p++)
			if (*p != '\n' && *p != '\r')
				strbuf_putc(&b, *p);
		uri = b.data != NULL ? b.data : xstrdup("");
		{
			size_t l = strlen(uri), st = 0;
			while (st < l && isspace((unsigned char)uri[st]))
				st++;
			while (l > st && isspace((unsigned char)uri[l - 1]))
				l--;
			memmove(uri, uri + st, l - st);
			uri[l - st] = '\0';
		}
		/* the list holds the URI as trimmed here (Perl's foreach aliases it) */
		uri_set_add(out, uri);
		if (strlen(uri) <= 1 || uri[0] == '#' || uri[0] == '?' || uri[0] == '&' ||
		    (uri[0] == '/' && uri[1] != '/')) {
			free(uri);
			continue;
		}
		if (re_find("^mailto:", PCRE2_CASELESS, uri, NULL) || re_find("^[^:]*@", 0, uri, NULL)) {
			char tmp[MAX_URI_LENGTH + 16];
			if (re_find("^([^@]+@[^?]+)\\?", 0, uri, ov)) {
				snprintf(tmp, sizeof(tmp), "%.*s", (int)(ov[3] - ov[2]), uri + ov[2]);
				uri_set_add(out, tmp);
			}
			if (re_find("^([^@]+@[^?&]+)&", 0, uri, ov)) {
				snprintf(tmp, sizeof(tmp), "%.*s", (int)(ov[3] - ov[2]), uri + ov[2]);
				uri_set_add(out, tmp);
			}
			if (strstr(uri, "%20") != NULL &&
			    re_find("^(?:mailto:)?(?:%20)*([^@]+@[^?&%]+)", PCRE2_CASELESS, uri, ov)) {
				snprintf(tmp, sizeof(tmp), "mailto:%.*s", (int)(ov[3] - ov[2]), uri + ov[2]);
				uri_set_add(out, tmp);
			}
			if (re_find("^[^?&]*<([^@>]+@[^>]+)>", 0, uri, ov)) {
				snprintf(tmp, sizeof(tmp), "mailto:%.*s", (int)(ov[3] - ov[2]), uri + ov[2]);
				uri_set_add(out, tmp);
			}
			free(uri);
			continue;
		}
		/* backslashes as slashes (in a copy); http:www.x -> http://www.x */
		b.data = NULL, b.len = b.size = 0;
		nuri = xstrdup(uri);
		for (char *p = nuri; *p != '\0'; p++)
			if (*p == '\\')
				*p = '/';
		if (re_find("^(https?:)/{0,2}", PCRE2_CASELESS, nuri, ov)) {
			strbuf_append(&b, nuri, ov[3]);
			strbuf_append(&b, "//", 2);
			strbuf_append(&b, nuri + ov[1], strlen(nuri + ov[1]));
		} else {
			strbuf_append(&b, nuri, strlen(nuri));
		}
		free(nuri);
		nuri = b.data;
		if (re_find("%[0-9a-fA-F]{2}", 0, nuri, NULL)) {
			char *d = url_decode_safe(nuri);
			free(nuri);
			nuri = d;
		}
		if (!re_find("^[-_a-z0-9]+:", PCRE2_CASELESS, nuri, NULL)) {
			char *x = xmalloc(strlen(nuri) + 8);
			sprintf(x, "%s%s", strncmp(nuri, "ftp.", 4) == 0 ? "ftp://" : "http://", nuri);
			free(nuri);
			nuri = x;
		}
		if (re_find("^(https?://[^/?#]+)([?#])", PCRE2_CASELESS, nuri, ov)) {
			char *x = xmalloc(strlen(nuri) + 2);
			sprintf(x, "%.*s/%s", (int)ov[3], nuri, nuri + ov[3]);
			free(nuri);
			nuri = x;
		}
		/* &#NN; of printable ASCII, then &#xNN;, then the Unicode dots */
		nuri = uri_entities(nuri);
		if (strcmp(nuri, uri) != 0)
			uri_set_add(out, nuri);
		if (re_find("^(https?://)([^@/?#]*@)?([^/?#:]+)((?::(\\d*))?.*)$",
		    PCRE2_CASELESS | PCRE2_DOTALL, nuri, ov)) {
			/* ($proto, $host, $rest) = ($1, $3, $4); $auth $2, $port $5 */
			char proto[16], host[1024], nhost[1024], tmp[MAX_URI_LENGTH + 1100];
			const char *rest = nuri + ov[8];
			size_t hl = ov[7] - ov[6];
			size_t rov[10];
			int http, port80, redirected = 0;
			/* $port ($5, the digits after a ':' starting $rest): "" when none */
			size_t port_len = rest[0] == ':' ? strspn(rest + 1, "0123456789") : 0;
			int have_port = port_len > 0;

			snprintf(proto, sizeof(proto), "%.*s", (int)(ov[3] - ov[2]), nuri + ov[2]);
			http = strcmp(proto, "http://") == 0;	/* $proto eq 'http://': case counts */
			if (hl >= sizeof(host))
				hl = sizeof(host) - 1;
			memcpy(host, nuri + ov[6], hl);
			host[hl] = '\0';
			/* $port eq '80': none given for http://, or 80 */
			port80 = have_port ? port_len == 2 && strncmp(rest + 1, "80", 2) == 0 : http;
			/* default ports left out */
			if (have_port) {
				const char *dflt = http ? ":80" : ":443";
				size_t dl = strlen(dflt);
				if (strncmp(rest, dflt, dl) == 0 && !re_word((unsigned char)rest[dl])) {
					snprintf(tmp, sizeof(tmp), "%s%s%s", proto, host, rest + dl);
					uri_set_add(out, tmp);
				}
			}
			/*
			 * idn_to_ascii($host) ne lc($host): never for an ASCII host,
			 * nor without Net::LibIDN (Debian's spamassassin goes
			 * without): no variant.  $nhost, lower case, is kept for
			 * the www.$1.com variant below.
			 */
			str_copy(nhost, host, sizeof(nhost));
			str_lower(nhost);
			{
				char *w = host;
				int changed = 0;
				for (char *r = host; *r != '\0'; r++) {
					if ((unsigned char)*r <= 0x20)
						changed = 1;
					else
						*w++ = *r;
				}
				*w = '\0';
				if (changed) {
					snprintf(tmp, sizeof(tmp), "%s%s%s", proto, host, rest);
					uri_set_add(out, tmp);
				}
			}
			/* a redirector: the configured patterns, else an http:// URL inside */
			if (c != NULL && c->nredirectors > 0) {
				snprintf(tmp, sizeof(tmp), "%s%s%s", proto, host, rest);
				for (size_t i = 0; i < c->nredirectors && !redirected; i++) {
					char *target = redirector_match(c->redirectors[i], tmp);
					if (target != NULL && strchr(target, '.') != NULL) {
						uri_set_add(&todo, target);
						redirected = 1;
					}
					free(target);
				}
			}
			if (!redirected && re_find("(https?:/{0,2}[^&#]+)", PCRE2_CASELESS, rest, rov) &&
			    memchr(rest + rov[2], '.', rov[3] - rov[2]) != NULL) {
				snprintf(tmp, sizeof(tmp), "%.*s", (int)(rov[3] - rov[2]), rest + rov[2]);
				uri_set_add(&todo, tmp);
			}
			/* "www.fakehostname.com@" as a user part */
			{
				char *at = strchr(host, '@');
				if (at != NULL && at > host) {
					memmove(host, at + 1, strlen(at + 1) + 1);
					snprintf(tmp, sizeof(tmp), "%s%s%s", proto, host, rest);
					uri_set_add(out, tmp);
				}
			}
			/* "visit http://example.biz." : the host ends alphanumeric */
			{
				size_t hlen = strlen(host);
				while (hlen > 0 && !isalnum((unsigned char)host[hlen - 1]))
					hlen--;
				if (hlen != strlen(host)) {
					host[hlen] = '\0';
					snprintf(tmp, sizeof(tmp), "%s%s%s", proto, host, rest);
					uri_set_add(out, tmp);
				}
			}
			if (re_find("^((?:0x[0-9a-f]+|\\d+)\\.)((?:0x[0-9a-f]+|\\d+)\\.)"
			    "((?:0x[0-9a-f]+|\\d+)\\.)(0x[0-9a-f]+|\\d+)$", PCRE2_CASELESS, host, NULL)) {
				/* each octet: hex, then octal, then no leading zeros */
				char ip[128] = "", *save = NULL, *oct, hcopy[1024];
				str_copy(hcopy, host, sizeof(hcopy));
				for (oct = strtok_r(hcopy, ".", &save); oct != NULL;
				    oct = strtok_r(NULL, ".", &save)) {
					char num[32];
					const char *z;
					if (oct[0] == '0' && (oct[1] == 'x' || oct[1] == 'X'))
						snprintf(num, sizeof(num), "%llu", strtoull(oct + 2, NULL, 16));
					else
						str_copy(num, oct, sizeof(num));
					if (num[0] == '0' && re_find("^0+([1-3][0-7]{0,2}|[4-7][0-7]?)\\b", 0,
					    num, rov))
						snprintf(num, sizeof(num), "%lu",
						    strtoul(num + rov[2], NULL, 8));
					for (z = num; *z == '0'; z++)
						;
					if (ip[0] != '\0')
						strncat(ip, ".", sizeof(ip) - strlen(ip) - 1);
					strncat(ip, z, sizeof(ip) - strlen(ip) - 1);
				}
				snprintf(tmp, sizeof(tmp), "%s%s%s", proto, ip, rest);
				uri_set_add(out, tmp);
			} else if (re_find("^0x[0-9a-f]+$", PCRE2_CASELESS, host, NULL) ||
			    re_find("^[0-9]+$", 0, host, NULL)) {
				unsigned long long v;
				char ip[32];
				if (host[0] == '0' && (host[1] == 'x' || host[1] == 'X')) {
					/* only the last 4 octets */
					size_t l = strlen(host + 2);
					v = strtoull(host + 2 + (l > 8 ? l - 8 : 0), NULL, 16);
				} else {
					v = strtoull(host, NULL, 10);
				}
				ulong_to_ip(v, ip, sizeof(ip));
				snprintf(tmp, sizeof(tmp), "%s%s%s", proto, ip, rest);
				uri_set_add(out, tmp);
			} else if (http && ov[4] == PCRE2_UNSET && strcmp(nhost, "localhost") != 0 &&
			    port80 && re_find("^(?:www\\.)?([^.]+)$", 0, nhost, rov) &&
			    !domain_valid(c, nhost)) {
				/* http://foobar -> http://www.foobar.com, as Firefox does */
				snprintf(tmp, sizeof(tmp), "%swww.%.*s.com%s", proto,
				    (int)(rov[3] - rov[2]), nhost + rov[2], rest);
				uri_set_add(out, tmp);
			}
		}
		free(nuri);
		free(uri);
	}
	strset_free(&todo);
}

static void
sb_puts(struct strbuf *b, const char *s)
{
	strbuf_append(b, s, strlen(s));
}

/* PerMsgStatus::_tbirdurire, with the configured TLDs (valid_tlds_re) */
static pcre2_code *
uri_re_build(const struct str_set *tlds)
{
	/* $tbirdenddelim, $tbirdenddelimemail, $tbirdenddelimplusat */
	static const char end[] = "><\"`}\\]{[|\\s\\x1b\\xa0";
	static const char email[] = "><\"`}\\]{[|\\s\\x1b\\xa0,('\\x80-\\xff";
	static const char plusat[] = "><\"`}\\]{[|\\s\\x1b\\xa0,('\\x80-\\xff@";
	struct strbuf b = { NULL, 0, 0 };
	pcre2_code *code;
	int err;
	PCRE2_SIZE off;

	sb_puts(&b, "(?:\\b|(?<=\\x1b\\(.)|(?<=[><\"'`,{[(|\\s\\x1b\\xa0]))(?:");
	/* ($uriknownscheme)(?=(?:[$tbirdenddelim]|\z)) */
	sb_puts(&b, "(?:((?:(?:https?|ftp)://|(?:www\\d{0,2}|ftp)\\.)[^");
	sb_puts(&b, end);
	sb_puts(&b, "]{1,2048})(?=(?:[");
	sb_puts(&b, end);
	sb_puts(&b, "]|\\z)))|");
	/* ($urimailscheme)(?=(?:[$tbirdenddelimemail]|\z)) */
	sb_puts(&b, "(?:((?:mailto:[^");
	sb_puts(&b, email);
	sb_puts(&b, "]{1,2048}|[^");
	sb_puts(&b, plusat);
	sb_puts(&b, "]{1,251}@[^");
	sb_puts(&b, email);
	sb_puts(&b, "]{1,251}))(?=(?:[");
	sb_puts(&b, email);
	sb_puts(&b, "]|\\z)))|");
	/* (?:^|(?<=$scstartdelim))($urischemeless)(?=(?:[$tbirdenddelim]|\z)) */
	sb_puts(&b, "(?:(?:^|(?<=[!\"#$&'()*+,/:;<=>?@\\[\\\\\\]^`{|}~\\s\\x1b\\xa0]))"
	    "(([a-z\\d][a-z\\d._-]{0,251}\\.");
	if (tlds->n == 0) {
		sb_puts(&b, "no_tlds_defined");
	} else {
		sb_puts(&b, "(?<![a-zA-Z0-9-])(?:");
		for (size_t i = 0; i < tlds->n; i++) {
			if (i > 0)
				strbuf_putc(&b, '|');
			for (const char *p = tlds->v[i]; *p != '\0'; p++) {
				if (!isalnum((unsigned char)*p) && *p != '-')
					strbuf_putc(&b, '\\');
				strbuf_putc(&b, *p);
			}
		}
		sb_puts(&b, ")(?!(?:[a-zA-Z0-9-]|\\.[a-zA-Z0-9]))");
	}
	sb_puts(&b, ")\\.?(?::\\d{1,5})?(?:/[^");
	sb_puts(&b, end);
	sb_puts(&b, "]{1,2048})?)(?=(?:[");
	sb_puts(&b, end);
	sb_puts(&b, "]|\\z))))");
	code = pcre2_compile((PCRE2_SPTR)b.data, b.len, PCRE2_CASELESS | PCRE2_MULTILINE, &err, &off, NULL);
	if (code != NULL)
		(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	strbuf_free(&b);
	return code;
}

/*
 * add_uri_detail_list: the canonical forms of a URI (cut at
 * MAX_URI_LENGTH) into the URI list, what uri rules see (get_uri_list),
 * and their hosts into uri_hosts; with valid_domain, nothing unless one
 * of the forms has a valid domain.
 */
static void
uri_detail_add(struct eval_msg *m, struct eval_state *st, const char *uri, int valid_domain)
{
	struct strset variants = STRSET_INIT, hosts = STRSET_INIT;
	char host[512];

	uri_canonicalize(m->config, uri, &variants);
	for (size_t i = 0; i < variants.n; i++) {
		if (variants.len[i] > MAX_URI_LENGTH) {
			st->uri_truncated = 1;
			variants.v[i][MAX_URI_LENGTH] = '\0';
		}
		if (uri_host(m->config, variants.v[i], host, sizeof(host)))
			uri_set_add(&hosts, host);
	}
	if (!valid_domain || hosts.n > 0) {
		for (size_t i = 0; i < variants.n; i++)
			uri_set_add(&st->uri_list, variants.v[i]);
		/* check_uri_host_listed leaves mailto: URIs out */
		if (str_ncasecmp(uri, "mailto:", 7) != 0)
			for (size_t i = 0; i < hosts.n; i++)
				uri_set_add(&st->uri_hosts, hosts.v[i]);
	}
	strset_free(&variants);
	strset_free(&hosts);
}

/*
 * The next stretch of s[pos, len) between bytes that PCRE2's \s matches
 * (no UCP: HT, LF, VT, FF, CR, space) which holds a '.', '@' or ':',
 * as [*from, *to); 0 if there is none.  Every match of _tbirdurire is
 * such a stretch's: it holds one of the three and never a \s byte.
 */
static int
uri_stretch(const char *s, size_t len, size_t pos, size_t *from, size_t *to)
{
	size_t i = pos, a, b;

	while (i < len && s[i] != '.' && s[i] != '@' && s[i] != ':')
		i++;
	if (i >= len)
		return 0;
	for (a = i; a > pos && s[a - 1] != ' ' && (s[a - 1] < '\t' || s[a - 1] > '\r'); a--)
		;
	for (b = i; b < len && s[b] != ' ' && (s[b] < '\t' || s[b] > '\r'); b++)
		;
	*from = a;
	*to = b;
	return 1;
}

/*
 * _process_text_uri_list: what a URI found in the text (trailing
 * punctuation off) is taken for: a scheme added when it has none, an
 * address as mailto:, NULL for what SpamAssassin leaves out.
 */
static char *
text_uri(struct eval_msg *m, const char *raw)
{
	size_t ov[10];
	char *uri;

	if (re_find("^(?:https?|ftp|mailto):", PCRE2_CASELESS, raw, NULL)) {
		uri = xstrdup(raw);
	} else if (str_ncasecmp(raw, "ftp.", 4) == 0) {
		uri = xasprintf("ftp://%s", raw);
	} else if (re_find("^www\\d{0,2}\\.", PCRE2_CASELESS, raw, NULL) ||
	    re_find("/.+@", 0, raw, NULL)) {
		uri = xasprintf("http://%s", raw);
	} else if (strchr(raw, '@') != NULL) {
		/* quick skip for crap like Vi@gra; garbled; common misparses */
		if (!re_find("@.+?\\.", 0, raw, NULL) || strstr(raw, "&nbsp;") != NULL)
			return NULL;
		if (re_find("^(?:skype|e?-?mail)?:+", PCRE2_CASELESS, raw, ov))
			raw += ov[1];
		uri = xasprintf("mailto:%s", raw);
	} else if (strchr(raw, '.') != NULL) {
		uri = xasprintf("http://%s", raw);
	} else {
		return NULL;
	}
	if (str_ncasecmp(uri, "mailto:", 7) == 0) {
		char host[512];
		size_t hl;

		/* MUAs decode mailto:foo%40bar%2Ecom */
		if (re_find("%[0-9a-f]{2}", PCRE2_CASELESS, uri, NULL)) {
			char *d = url_decode_safe(uri);
			free(uri);
			uri = d;
		}
		if (!re_find("@([^?&>]*)", 0, uri, ov)) {
			free(uri);
			return NULL;
		}
		hl = ov[3] - ov[2];
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, uri + ov[2], hl);
		while (hl >= 3 && memcmp(host + hl - 3, "%20", 3) == 0)
			hl -= 3;
		host[hl] = '\0';
		if (!domain_valid(m->config, host)) {
			free(uri);
			return NULL;
		}
	}
	return uri;
}

/*
 * PerMsgStatus::get_uri_detail_list, as far as the evals need it: the
 * hosts of the URIs of the rendered text (_tbirdurire) and of the HTML
 * parts, after uri_list_canonicalize; uri_truncated.
 */
static struct eval_state *
uri_state(struct eval_msg *m)
{
	struct eval_state *st = html_state(m);
	struct strset seen = STRSET_INIT;
	pcre2_match_data *md;
	const char *s = m->body != NULL ? m->body : "";
	size_t len = m->body != NULL ? m->body_len : 0, pos = 0, from, to;

	if (st->uris_done)
		return st;
	st->uris_done = 1;
	if (m->config != NULL && m->config->uri_re != NULL) {
		md = pcre2_match_data_create_from_pattern(m->config->uri_re, NULL);
		/*
		 * while (/$_tbirdurire/g), searching only the stretches that can
		 * hold a match (uri_stretch()), each as if the text ended with
		 * it: the lookaheads see a \s or the end there, alike for them.
		 */
		while (pos < len && uri_stretch(s, len, pos, &from, &to)) {
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

			if (pcre2_match(m->config->uri_re, (PCRE2_SPTR)s, to, from, 0, md, NULL) <= 0) {
				pos = to;
				continue;
			}
			uint32_t n = pcre2_get_ovector_count(md);
			int g = ov[2] != PCRE2_UNSET && ov[3] > ov[2] ? 1 :
			    ov[4] != PCRE2_UNSET && ov[5] > ov[4] ? 2 : 3;
			char *raw, *uri;
			size_t rl;
			pos = ov[1] > pos ? ov[1] : pos + 1;
			if (ov[2 * g] == PCRE2_UNSET)
				continue;
			rl = ov[2 * g + 1] - ov[2 * g];
			raw = xmalloc(rl + 1);
			memcpy(raw, s + ov[2 * g], rl);
			raw[rl] = '\0';
			/* ")" ends it when no "(" comes before (Thunderbird) */
			{
				size_t paren = strcspn(raw, "(");
				char *close = NULL;
				for (char *c = raw; c < raw + paren; c++)
					if (*c == ')')
						close = c;
				if (close != NULL)
					*close = '\0';
			}
			/* trailing punctuation Thunderbird ignores */
			rl = strlen(raw);
			while (rl > 0 && strchr("-~!@#^&*()_+=:;'?,.", raw[rl - 1]) != NULL)
				raw[--rl] = '\0';
			if (!uri_set_add(&seen, raw) || (g == 2 && strchr(raw, '@') == NULL)) {
				free(raw);
				continue;
			}
			if (g == 3 && n > 4 && ov[8] != PCRE2_UNSET) {
				char h[512];
				snprintf(h, sizeof(h), "%.*s", (int)(ov[9] - ov[8]), s + ov[8]);
				str_lower(h);
				if (!fqdn_valid(h)) {
					free(raw);
					continue;
				}
			}
			if (re_find("^[cm]id:", PCRE2_CASELESS, raw, NULL) ||
			    re_find("^\\w+:/{0,2}$", 0, raw, NULL)) {
				free(raw);
				continue;
			}
			uri = text_uri(m, raw);
			if (uri != NULL) {
				uri_detail_add(m, st, uri, 1);
				free(uri);
			}
			free(raw);
		}
		pcre2_match_data_free(md);
	}
	strset_free(&seen);
	for (size_t i = 0; i < st->nhtml; i++) {
		struct html_info *h = &st->html[i];
		if (h->uri_truncated)
			st->uri_truncated = 1;
		for (size_t j = 0; j < h->nuris; j++)
			uri_detail_add(m, st, h->uris[j].key, 0);
	}
	return st;
}

size_t
eval_uri_list(struct eval_msg *m, char *const **uris_r, const size_t **lens_r)
{
	struct eval_state *st = uri_state(m);

	*uris_r = st->uri_list.v;
	*lens_r = st->uri_list.len;
	return st->uri_list.n;
}

/* WLBLEval _check_uri_host_listed: is a host (or a parent domain) in list name? */
static int
uri_host_listed(struct eval_msg *m, const char *name)
{
	const struct uri_hostlist *hl = NULL;
	struct eval_state *st;

	if (m->config != NULL)
		for (size_t i = 0; i < m->config->nhostlists; i++)
			if (strcmp(m->config->hostlists[i].name, name) == 0)
				hl = &m->config->hostlists[i];
	if (hl == NULL || hl->n == 0)
		return 0;
	st = uri_state(m);
	for (size_t i = 0; i < st->uri_hosts.n; i++) {
		const char *host = st->uri_hosts.v[i];
		const char *keys[12];
		size_t nk = 0;
		char lit[512];
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			snprintf(lit, sizeof(lit), "%.*s", (int)strlen(host) - 2, host + 1);
			keys[nk++] = lit;
		} else if (re_find("^\\d+\\.\\d+\\.\\d+\\.\\d+$", 0, host, NULL)) {
			keys[nk++] = host;
		} else if (host[0] != '\0') {
			/* sub.example.com, example.com, com: the last 11 */
			for (const char *h = host;; h = strchr(h, '.') + 1) {
				if (nk == 11) {
					memmove(keys, keys + 1, 10 * sizeof(*keys));
					nk--;
				}
				keys[nk++] = h;
				if (strchr(h, '.') == NULL)
					break;
			}
		}
		for (size_t k = 0; k < nk; k++) {
			int found = 0, verdict = 0;
			for (size_t j = 0; j < hl->n; j++)
				if (strcmp(hl->hosts[j], keys[k]) == 0) {
					found = 1;
					verdict = hl->verdict[j];
					break;
				}
			if (found) {
				if (verdict)
					return 1;
				break;
			}
		}
	}
	return 0;
}

/* HTTPSMismatch check_https_http_mismatch */
static int
https_http_mismatch(struct eval_msg *m, const char *min_s, const char *max_s)
{
	struct eval_state *st = html_state(m);
	long minanchors = atol(min_s), maxanchors = atol(max_s);

	if (minanchors == 0)
		minanchors = 1;
	for (size_t i = 0; i < st->nhtml; i++) {
		struct html_info *h = &st->html[i];
		int hit = 0;
		long anchors = 0;
		for (size_t j = 0; j < h->nuris; j++) {
			struct html_uri *u = &h->uris[j];
			char host[512], dom[512], hh[512];
			size_t ov[10];
			if (u->nanchors == 0 ||
			    !re_find("^https?://([^/:?#]+)", PCRE2_CASELESS, u->key, ov))
				continue;
			snprintf(host, sizeof(host), "%.*s", (int)(ov[3] - ov[2]), u->key + ov[2]);
			if (is_ip_address(host))
				continue;
			trim_domain(m->config, host, dom, sizeof(dom));
			if (!uri_host(m->config, dom, hh, sizeof(hh)) || !domain_valid(m->config, hh))
				continue;
			/* the domain of the trimmed host */
			trim_domain(m->config, hh, hh, sizeof(hh));
			if (dom[0] == '\0' || !domain_valid(m->config, hh))
				continue;
			anchors++;
			for (size_t off = 0; off < u->anchor.len && !hit;) {
				const char *text = u->anchor.data + off;
				size_t tl = strlen(text);
				char https[512];
				off += tl + 1;
				if (!re_find("https://([^\\s/:?#]+)", PCRE2_CASELESS, text, ov))
					continue;
				snprintf(https, sizeof(https), "%.*s", (int)(ov[3] - ov[2]), text + ov[2]);
				if (!is_ip_address(https)) {
					trim_domain(m->config, https, https, sizeof(https));
					if (!domain_valid(m->config, https))
						continue;
				}
				if (https[0] == '\0' || strcmp(dom, https) == 0)
					continue;
				hit = 1;
			}
		}
		if (hit && anchors >= minanchors && (max_s[0] == '\0' || anchors < maxanchors))
			return 1;
	}
	return 0;
}

/* URIEval check_https_ip_mismatch */
static int
https_ip_mismatch(struct eval_msg *m)
{
	struct eval_state *st = html_state(m);

	for (size_t i = 0; i < st->nhtml; i++) {
		struct html_info *h = &st->html[i];
		for (size_t j = 0; j < h->nuris; j++) {
			struct html_uri *u = &h->uris[j];
			if (!re_find("^https?:/*(?:[^@/]+@)?\\d+\\.\\d+\\.\\d+\\.\\d+", PCRE2_CASELESS,
			    u->key, NULL))
				continue;
			for (size_t off = 0; off < u->anchor.len;) {
				const char *text = u->anchor.data + off;
				off += strlen(text) + 1;
				if (re_find("^https:/*(?:[^@/]+@)?\\d+\\.\\d+\\.\\d+\\.\\d+", PCRE2_CASELESS,
				    text, NULL))
					continue;
				if (re_find("https:", PCRE2_CASELESS, text, NULL))
					return 1;
			}
		}
	}
	return 0;
}

/* Each \0-terminated string of b. */
static int
strings_match(const struct strbuf *b, const char *re)
{
	for (size_t off = 0; off < b->len;) {
		const char *s = b->data + off;
		size_t l = strlen(s);
		if (re_dynamic(re, 0, s))
			return 1;
		off += l + 1;
	}
	return 0;
}

/* Perl's "$val $expr" for expressions like "< 384", "!= 0". */
static int
num_expr(double v, const char *expr)
{
	const char *p = expr;
	double x;

	while (isspace((unsigned char)*p))
		p++;
	if (strncmp(p, "<=", 2) == 0)
		return x = strtod(p + 2, NULL), v <= x;
	if (strncmp(p, ">=", 2) == 0)
		return x = strtod(p + 2, NULL), v >= x;
	if (strncmp(p, "==", 2) == 0)
		return x = strtod(p + 2, NULL), v == x;
	if (strncmp(p, "!=", 2) == 0)
		return x = strtod(p + 2, NULL), v != x;
	if (*p == '<')
		return x = strtod(p + 1, NULL), v < x;
	if (*p == '>')
		return x = strtod(p + 1, NULL), v > x;
	return 0;
}

/* A boolean result of html_tests (html_test); *known 0 if not kept. */
static int
html_flag(const struct html_info *h, const char *test, int *known)
{
	*known = 1;
	if (strcmp(test, "html") == 0)
		return 1;
	if (strcmp(test, "embeds") == 0)
		return h != NULL && h->embeds;
	if (strcmp(test, "form_action_mailto") == 0)
		return h != NULL && h->form_action_mailto;
	if (strcmp(test, "font_face_bad") == 0)
		return h != NULL && h->font_face_bad;
	if (strcmp(test, "uri_truncated") == 0)
		return h != NULL && h->uri_truncated;
	if (strcmp(test, "font_low_contrast") == 0)
		return h != NULL && h->styles.font_low_contrast;
	if (strcmp(test, "font_invalid_color") == 0)
		return h != NULL && h->styles.font_invalid_color;
	*known = 0;
	return 0;
}

/* A numeric result of the HTML parser, as html_end puts it; 0 if it has none. */
static int
html_value(const struct html_info *h, const char *test, double *v)
{
	if (strcmp(test, "length") == 0)
		*v = (double)h->length;
	else if (strcmp(test, "html_length") == 0)
		*v = (double)h->html_length;
	else if (strcmp(test, "non_space_len") == 0)
		*v = (double)h->non_space_len;
	else if (strcmp(test, "bad_tag_ratio") == 0 && h->tags > 0 && h->elements > 0)
		*v = (double)(h->tags - h->elements) / h->tags;
	else if (strcmp(test, "non_element_ratio") == 0 && h->tags_seen > 0 &&
	    h->elements_seen > 0)
		*v = (double)(h->tags_seen - h->elements_seen) / h->tags_seen;
	else if (strcmp(test, "closed_extra_ratio") == 0 && h->tags > 0)
		*v = (double)h->closed_extra / h->tags;
	else if (strcmp(test, "image_area") == 0)
		*v = (double)h->image_area;
	else if (strcmp(test, "obfuscation_ratio") == 0 && h->tags > 0 && h->obfuscation > 0)
		*v = (double)h->obfuscation / h->tags;
	else if (strcmp(test, "max_size") == 0)	/* html_end puts them, undef as 0 */
		*v = h->styles.max_size_set ? h->styles.max_size : 0;
	else if (strcmp(test, "min_size") == 0)
		*v = h->styles.min_size_set ? h->styles.min_size : 0;
	else
		return 0;
	return 1;
}

/* ---- images (ImageInfo) ---- */

static void
image_state(struct eval_msg *m, struct eval_state *st)
{
	st->images_done = 1;
	for (size_t i = 0; i < st->nparts; i++) {
		struct sa_part *p = &st->parts[i];
		struct strbuf b = { NULL, 0, 0 };
		const unsigned char *d;
		unsigned long w = 0, h = 0;
		int type;

		if (!p->is_leaf || strcmp(p->cte, "base64") != 0)
			continue;
		if (strcmp(p->type, "image/gif") == 0)
			type = 1;
		else if (strcmp(p->type, "image/png") == 0)
			type = 2;
		else if (strcmp(p->type, "image/jpeg") == 0 || strcmp(p->type, "image/jpg") == 0)
			type = 3;
		else
			continue;
		part_decode(p, type == 1 ? 13 : 1 << 20, &b);
		d = (const unsigned char *)b.data;
		if (type == 1 && b.len >= 10 && memcmp(d, "GIF8", 4) == 0 &&
		    (d[4] == '7' || d[4] == '9') && d[5] == 'a') {
			w = d[6] | (unsigned long)d[7] << 8;
			h = d[8] | (unsigned long)d[9] << 8;
		} else if (type == 2 && b.len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
			size_t pos = 8;
			while (pos + 8 <= b.len) {
				unsigned long len = (unsigned long)d[pos] << 24 | (unsigned long)d[pos + 1] << 16 |
				    (unsigned long)d[pos + 2] << 8 | d[pos + 3];
				const unsigned char *t = d + pos + 4;
				pos += 8;
				if (memcmp(t, "IEND", 4) == 0)
					break;
				if (memcmp(t, "IHDR", 4) != 0 || len != 13)
					continue;
				if (pos + 8 <= b.len) {
					w = (unsigned long)d[pos] << 24 | (unsigned long)d[pos + 1] << 16 |
					    (unsigned long)d[pos + 2] << 8 | d[pos + 3];
					h = (unsigned long)d[pos + 4] << 24 | (unsigned long)d[pos + 5] << 16 |
					    (unsigned long)d[pos + 6] << 8 | d[pos + 7];
				}
				break;
			}
		} else if (type == 3 && b.len >= 2 && d[0] == 0xff && d[1] == 0xd8) {
			size_t pos = 2;
			while (pos + 4 <= b.len) {
				unsigned int mark = d[pos + 1], len = (unsigned int)d[pos + 2] << 8 | d[pos + 3];
				if (d[pos] != 0xff || mark == 0xda || mark == 0xd9 || len < 2)
					break;
				pos += 4;
				if ((mark >= 0xc0 && mark <= 0xc3) || (mark >= 0xc5 && mark <= 0xc7) ||
				    (mark >= 0xc9 && mark <= 0xcb) || (mark >= 0xcd && mark <= 0xcf)) {
					if (pos + 5 <= b.len) {
						h = (unsigned long)d[pos + 1] << 8 | d[pos + 2];
						w = (unsigned long)d[pos + 3] << 8 | d[pos + 4];
					}
					break;
				}
				pos += len - 2;
			}
		}
		strbuf_free(&b);
		st->count[type]++;
		st->count[0]++;
		if (w > 0 && h > 0) {
			st->area[type] += w * h;
			st->area[0] += w * h;
		}
	}
}

/* ---- the body as SpamAssassin renders it ---- */

/*
 * Is the UTF-8 at p (left bytes) one of Perl's Unicode \s?  1 with its
 * length in *len_r; 0 when it is not (*len_r 1: the bytes go on as they
 * are); -1 when left is too short to tell.
 */
static int
body_space(const unsigned char *p, size_t left, size_t *len_r)
{
	unsigned char c = p[0];
	size_t n = 1;
	int r = 0;

	if (c == ' ' || (c >= '\t' && c <= '\r')) {
		r = 1;
	} else if (c == 0xc2) {
		if (left < 2)
			return -1;
		n = 2;
		r = p[1] == 0x85 || p[1] == 0xa0;	/* NEL, no-break space */
	} else if (c == 0xe1 || c == 0xe2 || c == 0xe3) {
		if (left < 2 || (left < 3 && (p[1] == 0x9a || p[1] == 0x80 || p[1] == 0x81)))
			return -1;
		n = 3;
		if (c == 0xe1)	/* U+1680 */
			r = p[1] == 0x9a && p[2] == 0x80;
		else if (c == 0xe3)	/* U+3000 */
			r = p[1] == 0x80 && p[2] == 0x80;
		else	/* U+2000 - U+200A, U+2028, U+2029, U+202F, U+205F */
			r = (p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 ||
			    p[2] == 0xa9 || p[2] == 0xaf)) || (p[1] == 0x81 && p[2] == 0x9f);
	}
	*len_r = r ? n : 1;
	return r;
}

static void
body_norm_run_end(struct eval_body_norm *n, eval_body_out out, void *ctx)
{
	if (n->newlines >= 2) {
		char para[3];
		size_t k = 0;
		if (n->before)
			para[k++] = ' ';
		para[k++] = '\n';
		if (n->after)
			para[k++] = ' ';
		out(ctx, para, k);
	} else {
		out(ctx, " ", 1);
	}
	n->in_space = 0;
}

static void
body_norm_piece(struct eval_body_norm *n, const unsigned char *p, const unsigned char *end,
    eval_body_out out, void *ctx)
{
	const unsigned char *run = p;

	while (p < end) {
		size_t cl;
		int space = body_space(p, (size_t)(end - p), &cl);

		if (space < 0) {
			/* a character cut at the end of the piece: kept for the next */
			if (!n->in_space && p > run)
				out(ctx, (const char *)run, (size_t)(p - run));
			memcpy(n->pend, p, (size_t)(end - p));
			n->npend = (size_t)(end - p);
			return;
		}
		if (space) {
			if (!n->in_space) {
				if (p > run)
					out(ctx, (const char *)run, (size_t)(p - run));
				n->in_space = 1;
				n->newlines = 0;
				n->before = n->after = 0;
			}
			if (*p == '\n') {
				n->newlines++;
				n->after = 0;
			} else if (n->newlines == 0) {
				n->before = 1;
			} else {
				n->after = 1;
			}
			p += cl;
			run = p;
			continue;
		}
		if (n->in_space) {
			body_norm_run_end(n, out, ctx);
			run = p;
		}
		p += cl;
	}
	if (!n->in_space && p > run)
		out(ctx, (const char *)run, (size_t)(p - run));
}

void
eval_body_norm_feed(struct eval_body_norm *n, const char *text, size_t len, eval_body_out out,
    void *ctx)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len;

	while (n->npend > 0 && p < end) {
		/* complete the character cut at the end of the last piece */
		unsigned char buf[4];
		size_t k = n->npend, need, cl;

		memcpy(buf, n->pend, k);
		need = buf[0] == 0xc2 ? 2 : 3;
		while (k < need && p < end)
			buf[k++] = *p++;
		n->npend = 0;
		if (k < need || body_space(buf, k, &cl) < 0) {
			memcpy(n->pend, buf, k);
			n->npend = k;
			return;
		}
		body_norm_piece(n, buf, buf + k, out, ctx);
	}
	body_norm_piece(n, p, end, out, ctx);
}

void
eval_body_norm_end(struct eval_body_norm *n, eval_body_out out, void *ctx)
{
	if (n->npend > 0) {
		size_t k = n->npend;
		n->npend = 0;
		if (n->in_space)
			body_norm_run_end(n, out, ctx);
		out(ctx, (const char *)n->pend, k);
	}
	if (n->in_space)
		body_norm_run_end(n, out, ctx);
}

/* The body as lines (array elements), max 2048 bytes each; call f on each. */
static int
body_lines(const struct eval_msg *m, int (*f)(void *, const char *, size_t), void *ctx)
{
	const char *p = m->body, *end = m->body + m->body_len;

	while (p != NULL && p < end) {
		const char *e = line_end(p, end);
		while ((size_t)(e - p) > MAX_BODY_LINE) {
			/* split nicely at the last space within the limit */
			size_t l = 0;
			for (size_t k = MAX_BODY_LINE; k > 0; k--)
				if (p[k - 1] == ' ') {
					l = k;
					break;
				}
			if (l == 0)
				l = MAX_BODY_LINE;
			if (f(ctx, p, l))
				return 1;
			p += l;
		}
		if (f(ctx, p, (size_t)(e - p)))
			return 1;
		p = e;
	}
	return 0;
}

/* ---- the functions ---- */

struct tvd {
	int max;
};

static int
tvd_line(void *ctx, const char *l, size_t len)
{
	struct tvd *t = ctx;
	size_t spaces = 0, nonspaces;
	int pct;

	if (len <= 5)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (l[i] == ' ')
			spaces++;
	nonspaces = len - spaces;
	if (spaces > nonspaces || nonspaces == 0)
		pct = 100;
	else
		pct = (int)(100 * spaces / nonspaces);
	if (pct > t->max)
		t->max = pct;
	return 0;
}

struct upper {
	size_t len, lower, upper;
};

static int
upper_line(void *ctx, const char *l, size_t len)
{
	struct upper *u = ctx;
	char *s;

	/* next unless /\S\s+\S/; next if /^(?:[A-Za-z0-9+\/=]{60,76} ){2}/ */
	s = xstrndup(l, len);
	if (!re_find("\\S\\s+\\S", 0, s, NULL) ||
	    re_find("^(?:[A-Za-z0-9+/=]{60,76} ){2}", 0, s, NULL)) {
		free(s);
		return 0;
	}
	free(s);
	u->len += len;
	for (size_t i = 0; i < len; i++) {
		char c = l[i];
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			u->lower++;
			u->len--;	/* tr/a-z0-9//d deletes them from the line */
		} else if (c >= 'A' && c <= 'Z') {
			u->upper++;
		}
	}
	return 0;
}

static const char CHARSETS_FP_AS_CAPS[] =
    "^[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*$";

static int
body_charset_likely_fp(struct eval_msg *m)
{
	struct eval_state *st = mime_state(m);
	char *ct = hdr_get(m, "Content-Type", 0), cs[128];
	size_t ov[10];
	int fp = 0;

	if (ct != NULL && (re_find("charset=\"([^\"]+)\"", PCRE2_CASELESS, ct, ov) ||
	    re_find("charset='([^']+)'", PCRE2_CASELESS, ct, ov) ||
	    re_find("charset=(\\S+)", PCRE2_CASELESS, ct, ov))) {
		snprintf(cs, sizeof(cs), "%.*s", (int)(ov[3] - ov[2]), ct + ov[2]);
		fp = re_find(CHARSETS_FP_AS_CAPS, PCRE2_CASELESS, cs, NULL);
	}
	free(ct);
	if (!fp && st->html_charsets != NULL) {
		char *copy = xstrdup(st->html_charsets), *save = NULL;
		for (char *w = strtok_r(copy, " ", &save); w != NULL && !fp; w = strtok_r(NULL, " ", &save))
			fp = re_find(CHARSETS_FP_AS_CAPS, PCRE2_CASELESS, w, NULL);
		free(copy);
	}
	return fp;
}

static int
freemail_is(const struct eval_config *c, const char *email)
{
	const char *at;

	if (c == NULL || email[0] == '\0' || (at = strrchr(email, '@')) == NULL)
		return 0;
	if (set_has(&c->freemail_welcome, email) || set_has(&c->freemail_welcome, at + 1))
		return 0;
	if (re_find("^(?:abuse|support|sales|info|helpdesk|contact|kontakt|(?:post|host|domain)master|undisclosed.*|request-[a-f0-9]{16}|bounced?-|[a-f0-9]{8}(?:\\.[a-f0-9]{8}|-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12})|.+=.+=.+)@",
	    PCRE2_CASELESS, email, NULL))
		return 0;
	if (set_has(&c->freemail, at + 1))
		return 1;
	if (c->freemail_re != NULL) {
		pcre2_match_data *md = pcre2_match_data_create_from_pattern(c->freemail_re, NULL);
		int rc = pcre2_match(c->freemail_re, (PCRE2_SPTR)email, strlen(email), 0, 0, md, NULL);
		pcre2_match_data_free(md);
		if (rc > 0)
			return 1;
	}
	return 0;
}

static int
freemail_configured(const struct eval_config *c)
{
	return c != NULL && (c->freemail.n > 0 || c->freemail_wc.n > 0);
}

/* Addresses of a header (Name or Name:addr), lower case. */
static size_t
header_addrs(const struct eval_msg *m, const char *spec, char out[][256], size_t max)
{
	char name[128];
	const char *colon = strchr(spec, ':');
	char *v;
	size_t n;

	snprintf(name, sizeof(name), "%.*s", (int)(colon != NULL ? (size_t)(colon - spec) : strlen(spec)),
	    spec);
	if (str_casecmp(name, "EnvelopeFrom") == 0) {
		if (m->sender == NULL || m->sender[0] == '\0')
			return 0;
		snprintf(out[0], 256, "%s", m->sender);
		str_lower(out[0]);
		return 1;
	}
	if ((v = hdr_get(m, name, 0)) == NULL)
		return 0;
	n = addr_list(v, out, max);
	free(v);
	for (size_t i = 0; i < n; i++)
		str_lower(out[i]);
	return n;
}

/* PerMsgStatus::all_from_addrs */
static size_t
all_from_addrs(const struct eval_msg *m, char out[][256], size_t max)
{
	static const char *const names[] = { "From", "Envelope-Sender", "Resent-Sender",
		"X-Envelope-From", "EnvelopeFrom", NULL };
	size_t n = 0;
	char *resent = hdr_get(m, "Resent-From", 0);

	if (resent != NULL) {
		n = addr_list(resent, out, 1);
		free(resent);
	}
	if (n == 0) {
		for (int i = 0; names[i] != NULL && n < max; i++)
			n += header_addrs(m, names[i], out + n, max - n);
	}
	for (size_t i = 0; i < n; i++) {
		/* tr/././s */
		char *d;
		str_lower(out[i]);
		while ((d = strstr(out[i], "..")) != NULL)
			memmove(d, d + 1, strlen(d));
	}
	return n;
}

/* FreeMail.pm's email_regex, its TLDs as letters: the address is group 1. */
#define FREEMAIL_EMAIL_RE \
	"(?=.{0,64}@)(?<![a-z0-9!#$%&'*+/=?^_`{|}~-])([a-z0-9!#$%&'*+/=?^_`{|}~-]+" \
	"(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,59}[a-z0-9])?\\.){1,4}" \
	"[a-z]{2,63})\\b"

/* s in place with every match of pattern made one space (s{...}{ }g). */
static void
blank_matches(const char *pattern, char *s, size_t *len)
{
	size_t pos = 0, out = 0, ov[10];

	/* (the patterns given match no empty text) */
	while (pos < *len && re_find_at(pattern, PCRE2_CASELESS, s, *len, pos, ov) &&
	    ov[1] > ov[0]) {
		memmove(s + out, s + pos, ov[0] - pos);
		out += ov[0] - pos;
		s[out++] = ' ';
		pos = ov[1];
	}
	if (pos < *len) {
		memmove(s + out, s + pos, *len - pos);
		out += *len - pos;
	}
	*len = out;
	s[out] = '\0';
}

/* An address not yet in seen (lower case), kept up to 40. */
static void
email_seen(char seen[][256], size_t *nseen, const char *e, size_t len)
{
	char a[256];

	snprintf(a, sizeof(a), "%.*s", (int)len, e);
	str_lower(a);
	for (size_t i = 0; i < *nseen; i++)
		if (strcmp(seen[i], a) == 0)
			return;
	if (*nseen < 40)
		snprintf(seen[(*nseen)++], 256, "%s", a);
}

static const struct eval_state *
body_freemails(struct eval_msg *m)
{
	/*
	 * FreeMail::_parse_body: the addresses of <a href="mailto:..."> that
	 * the text does not show, then those of the rendered body, less the
	 * ones in URLs, in <...> or before "wrote:"; at the 5th address or
	 * the 3rd freemail, none.
	 */
	struct eval_state *st = html_state(m);
	size_t all = 0, fm = 0, pos = 0, len = m->body_len, nseen = 0, nmailto = 0;
	const struct eval_config *c = m->config;
	char seen[40][256];
	size_t ov[10];
	char *body;

	if (st->freemail_done)
		return st;
	st->freemail_done = 1;
	body = xstrndup(m->body != NULL ? m->body : "", m->body_len);
	for (size_t h = 0; h < st->nhtml; h++) {
		for (size_t u = 0; u < st->html[h].nuris && nmailto < 20; u++) {
			const struct html_uri *hu = &st->html[h].uris[u];

			if (!(hu->types & HTML_T_A) || strstr(body, hu->key) != NULL ||
			    !re_find("^mailto:" FREEMAIL_EMAIL_RE, PCRE2_CASELESS, hu->key, ov))
				continue;
			email_seen(seen, &nseen, hu->key + ov[2], ov[3] - ov[2]);
			nmailto = nseen;
		}
	}
	/* Per paragraph in FreeMail.pm: here no \s reaches past a line. */
	blank_matches("<?https?://\\S{0,255}(?:@|%40)\\S{0,255}", body, &len);
	blank_matches("<?(?<!mailto:)" FREEMAIL_EMAIL_RE
	    "(?:>|[^\\S\\n]{1,10}(?!(?:fa(?:x|csi)|tel|phone|e?-?mail))[a-z]{2,11}:)", body, &len);
	while (pos < len && nseen < 40 &&
	    re_find_at(FREEMAIL_EMAIL_RE, PCRE2_CASELESS, body, len, pos, ov)) {
		email_seen(seen, &nseen, body + ov[2], ov[3] - ov[2]);
		pos = ov[1];
	}
	free(body);
	for (size_t i = 0; i < nseen; i++) {
		if (++all == 5)
			return st;
		if (!freemail_is(c, seen[i]))
			continue;
		if (++fm == 3)
			return st;
		snprintf(st->freemail[st->nfreemail++], 256, "%s", seen[i]);
	}
	st->freemail_ok = 1;
	return st;
}

static int
eval_freemail_replyto(struct eval_msg *m, const char *what)
{
	char from[16][256], rt[16][256];
	const struct eval_state *st;
	size_t nf, nr;
	int from_fm = 0, rt_fm = 0, not_in = 1;

	if (!freemail_configured(m->config))
		return 0;
	if (m->sender != NULL && re_find("(?:^(?:post|host|domain)master|^double-bounce|^(?:sentto|owner|return|(?:gr)?bounced?)-.+|-(?:request|bounces?|admin|owner)|\\b(?:do[._-t]?)?no[._-t]?repl(?:y|ies)|.+=.+)@",
	    PCRE2_CASELESS, m->sender, NULL))
		return 0;
	nf = header_addrs(m, "From", from, 16);
	nr = header_addrs(m, "Reply-To", rt, 16);
	for (size_t i = 0; i < nf; i++)
		from_fm |= freemail_is(m->config, from[i]);
	for (size_t i = 0; i < nr; i++)
		rt_fm |= freemail_is(m->config, rt[i]);
	for (size_t i = 0; i < nf; i++)
		for (size_t j = 0; j < nr; j++)
			if (strcmp(from[i], rt[j]) == 0)
				not_in = 0;
	if (from_fm && rt_fm && not_in)
		return 1;
	if (strcmp(what, "replyto") == 0) {
		if (!rt_fm)
			return 0;
	} else {
		if (nr > 0 && !rt_fm)
			return 0;
		else if (!from_fm)
			return 0;
	}
	if (!(st = body_freemails(m))->freemail_ok)
		return 0;
	for (size_t i = 0; i < st->nfreemail; i++) {
		char (*reply)[256] = strcmp(what, "replyto") == 0 || rt_fm ? rt : from;
		size_t nreply = strcmp(what, "replyto") == 0 || rt_fm ? nr : nf;
		for (size_t j = 0; j < nreply; j++)
			if (strcmp(st->freemail[i], reply[j]) != 0)
				return 1;
	}
	return 0;
}

/* HeaderEval: Received without its blanks collapsed. */
static char *
rcvd_spaced(const struct eval_msg *m, const char *name)
{
	char *r = hdr_get_s(m, name), *o = r;

	for (char *p = r; *p != '\0'; p++) {
		if (isspace((unsigned char)*p)) {
			if (o == r || o[-1] != ' ')
				*o++ = ' ';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return r;
}

#define IP_ADDRESS "(?:\\b(?:1\\d\\d|2[0-4]\\d|25[0-5]|\\d\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|\\d\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|\\d\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|\\d\\d|\\d)\\b|[0-9a-fA-F:]*:[0-9a-fA-F:.]+)"

static int
gated_through(const struct eval_msg *m)
{
	char *ml = hdr_get(m, "Mailing-List", 0), *rcvd;
	int r = 0;

	if (ml != NULL && re_find("^contact \\S+@\\S+; run by ezmlm$", PCRE2_MULTILINE, ml, NULL)) {
		char *dl = hdr_get_s(m, "Delivered-To"), *rc = hdr_get_s(m, "Received");
		if (re_find("^mailing list \\S+@\\S+", PCRE2_MULTILINE, dl, NULL) &&
		    re_find("qmail \\d+ invoked (?:from network|by .{3,20})\\); \\d+ ... \\d+", 0, rc, NULL))
			r = 1;
		free(dl);
		free(rc);
	}
	free(ml);
	if (r)
		return 1;
	rcvd = hdr_get(m, "Received", 0);
	if (rcvd == NULL)
		return 1;
	r = re_find("from groups\\.msn\\.com \\(\\S+\\.msn\\.com ", 0, rcvd, NULL);
	free(rcvd);
	return r;
}

/* HeaderEval::_check_for_forged_hotmail_received_headers: 1 forged, 2 no hotmail Received. */
static int
forged_hotmail(const struct eval_msg *m)
{
	char *rcvd = rcvd_spaced(m, "Received"), *ipv = hdr_get(m, "X-Originating-Ip", 0);
	char *orgv = hdr_get(m, "X-OriginatorOrg", 0);
	char from[256];
	int ip, org, r = 0;

	ip = ipv != NULL && re_find(IP_ADDRESS, 0, ipv, NULL);
	org = orgv != NULL && re_find("hotmail\\.com|msonline\\-outlook", 0, orgv, NULL);
	free(ipv);
	free(orgv);
	if (re_find("from mail pickup service by hotmail\\.com with Microsoft SMTPSVC;", 0, rcvd, NULL) ||
	    gated_through(m))
		goto out;
	if ((re_find("from (?:\\S*\\.)?hotmail.com \\(\\S+\\.hotmail(?:\\.msn)?\\.com[ \\)]", 0, rcvd, NULL) && ip) ||
	    (re_find("from \\S*\\.outbound\\.protection\\.outlook\\.com \\(\\S+\\.outbound\\.protection\\.outlook\\.com[ \\)]", 0, rcvd, NULL) && org) ||
	    (re_find("from \\S*\\.(?:eur|nam)prd\\d+\\.prod\\.outlook\\.com \\(" IP_ADDRESS "\\)", 0, rcvd, NULL) && org) ||
	    (re_find("from \\S*\\.hotmail.com \\(\\[" IP_ADDRESS "\\][ \\):]", 0, rcvd, NULL) && ip) ||
	    (re_find("from \\S+ by \\S+\\.hotmail(?:\\.msn)?\\.com with HTTP;", 0, rcvd, NULL) && ip) ||
	    (re_find("from \\[66\\.218.\\S+\\] by \\S+\\.yahoo\\.com", 0, rcvd, NULL) && ip))
		goto out;
	if (re_find("(?:from |HELO |helo=)\\S*hotmail\\.com\\b", 0, rcvd, NULL)) {
		r = 1;
	} else {
		hdr_addr(m, "From", from, 0);
		if (re_find("\\bhotmail\\.com$", PCRE2_CASELESS, from, NULL))
			r = 2;
	}
out:
	free(rcvd);
	return r;
}

static int
eval_illegal_chars(const struct eval_msg *m, const char *header, double ratio, long count)
{
	char name[128];
	char *str;
	size_t len, illegal = 0, high = 0;
	int r;

	snprintf(name, sizeof(name), "%s", header);
	if (strlen(name) > 4 && strcmp(name + strlen(name) - 4, ":raw") == 0)
		name[strlen(name) - 4] = '\0';
	if (strcmp(name, "ALL") == 0) {
		struct strbuf b = { NULL, 0, 0 };
		for (size_t i = 0; i < m->nheaders; i++) {
			strbuf_append(&b, m->headers[i].name, strlen(m->headers[i].name));
			strbuf_append(&b, ": ", 2);
			strbuf_append(&b, m->headers[i].raw, m->headers[i].raw_len);
			strbuf_putc(&b, '\n');
		}
		strbuf_putc(&b, '\0');
		str = b.data != NULL ? b.data : xstrdup("");
	} else {
		str = hdr_get(m, name, 1);
		if (str == NULL)
			return 0;
	}
	len = strlen(str);
	if (strspn(str, " \t\r\n\f\v") == len) {
		free(str);
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)str[i] >= 0x80)
			high++;
	if (high > 0) {
		/* valid UTF-8 without controls: legal */
		const unsigned char *p = (const unsigned char *)str;
		int valid = 1, controls = 0;
		for (size_t i = 0; i < len && valid;) {
			unsigned char c = p[i];
			size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 2 :
			    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 && c <= 0xf4 ? 4 : 0;
			if (n == 0 || i + n > len)
				valid = 0;
			for (size_t k = 1; k < n && valid; k++)
				if ((p[i + k] & 0xc0) != 0x80)
					valid = 0;
			i += n > 0 ? n : 1;
		}
		for (size_t i = 0; i < len; i++)
			if (p[i] <= 0x08 || p[i] == 0x0b || p[i] == 0x0c || (p[i] >= 0x0e && p[i] <= 0x1f))
				controls = 1;
		if (valid && !controls) {
			free(str);
			return 0;
		}
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)str[i];
		if (c <= 0x08 || c == 0x0b || c == 0x0c || (c >= 0x0e && c <= 0x1f) || c >= 0x7f)
			illegal++;
	}
	if (illegal > 0 && str_casecmp(name, "Subject") == 0) {
		size_t exempt = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)str[i];
			if (c == 0xa2 || c == 0xa3 || c == 0xae)
				exempt++;
		}
		if (exempt == 1)
			illegal--;
	}
	r = (double)illegal / (double)len >= ratio && (long)illegal >= count;
	free(str);
	return r;
}

static int
eval_recipients(const struct eval_msg *m, int sorted, const char *min_s, const char *max_s)
{
	char in[256][256], addr[256][256];
	size_t n = 0, na = 0;
	const char *prev = "";

	n = header_addrs(m, "To", in, 256);
	n += header_addrs(m, "Cc", in + n, 256 - n);
	if (n < 5)
		n += header_addrs(m, "Bcc", in + n, 256 - n);
	/* header_addrs lower-cases; SpamAssassin compares lc() but keeps the case */
	for (size_t i = 0; i < n && na < 256; i++) {
		if (in[i][0] == '\0')
			break;
		if (strcmp(in[i], prev) != 0) {
			snprintf(addr[na++], 256, "%s", in[i]);
			prev = in[i];
		}
	}
	if (sorted) {
		if (na < 7)
			return 0;
		for (size_t i = 1; i < na; i++)
			if (strcmp(addr[i - 1], addr[i]) > 0)
				return 0;
		return 1;
	} else {
		double sim = 0;
		if (na >= 5) {
			size_t hits = 0, comb = 0;
			for (size_t i = 0; i < na; i++)
				for (size_t j = i + 1; j < na; j++) {
					const char *hi = strchr(addr[i], '@'), *hj = strchr(addr[j], '@');
					if (strncmp(addr[i], addr[j], 2) == 0 &&
					    (strlen(addr[i]) >= 2) == (strlen(addr[j]) >= 2))
						hits++;
					if (hi != NULL && hj != NULL && strncmp(hi + 1, hj + 1, 2) == 0 &&
					    strcmp(hi + 1, hj + 1) != 0)
						hits++;
					comb++;
				}
			sim = (double)hits / (double)comb;
		}
		return (strcmp(min_s, "undef") == 0 || sim >= atof(min_s)) &&
		    (strcmp(max_s, "undef") == 0 || sim < atof(max_s));
	}
}

static int
list_addr_match(const struct str_set *globs, char addrs[][256], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set_glob_match(globs, addrs[i]))
			return 1;
	return 0;
}

/* Functions answered elsewhere or needing the network, for the report. */
static const char *const network_functions[] = {
	"check_rbl", "check_rbl_sub", "check_rbl_txt", "check_rbl_from_host",
	"check_rbl_from_domain", "check_rbl_envfrom", "check_rbl_headers", "check_rbl_ns_from",
	"check_rbl_rcvd", "check_uridnsbl", "check_razor2",
	"check_razor2_range", "check_pyzor", "check_dcc", "check_dcc_reputation_range",
	"check_dns_sender", "check_hashbl_bodyre", "check_hashbl_emails", "check_hashbl_uris",
	"check_dkim_adsp", "short_url_chained", "check_senders_reputation",
	"check_from_in_auto_welcomelist", "check_from_in_auto_whitelist", "check_asn", NULL
};

static const char *const implemented[] = {
	/* HeaderEval */
	"check_for_fake_aol_relay_in_rcvd", "check_for_faraway_charset_in_headers",
	"check_for_unique_subject_id", "check_illegal_chars",
	"check_for_forged_hotmail_received_headers", "check_for_no_hotmail_received_headers",
	"check_for_msn_groups_headers", "check_for_forged_eudoramail_received_headers",
	"check_for_forged_yahoo_received_headers", "check_for_forged_juno_received_headers",
	"check_for_forged_gmail_received_headers", "check_for_matching_env_and_hdr_from",
	"sorted_recipients", "similar_recipients", "check_for_missing_to_header",
	"check_for_forged_gw05_received_headers", "check_for_shifted_date",
	"subject_is_all_caps", "check_for_to_in_subject", "check_outlook_message_id",
	"check_messageid_not_usable", "check_header_count_range", "check_unresolved_template",
	"check_ratware_name_id", "check_ratware_envelope_from",
	"gated_through_received_hdr_remover", "check_equal_from_domains",
	/* MIMEEval */
	"check_for_mime", "check_for_mime_html", "check_for_mime_html_only",
	"check_mime_multipart_ratio", "check_msg_parse_flags", "check_for_uppercase",
	"check_ma_non_text", "check_base64_length", "check_qp_ratio",
	"check_for_ascii_text_illegal", "check_abundant_unicode_ratio",
	"check_for_faraway_charset",
	/* BodyEval */
	"check_blank_line_ratio", "tvd_vertical_words", "check_stock_info",
	"check_body_length", "multipart_alternative_difference",
	"multipart_alternative_difference_count",
	/* HTMLEval */
	"html_tag_balance", "html_image_only", "html_image_ratio", "html_charset_faraway",
	"html_tag_exists", "html_test", "html_eval", "html_text_match",
	"html_title_subject_ratio", "html_range", "check_iframe_src",
	/* HTTPSMismatch, URIEval */
	"check_https_http_mismatch", "check_https_ip_mismatch", "check_uri_truncated",
	/* ImageInfo */
	"image_count", "pixel_coverage", "image_to_text_ratio",
	/* FreeMail */
	"check_freemail_from", "check_freemail_header", "check_freemail_replyto",
	"check_freemail_body",
	/* WLBLEval, without welcomelist_auth */
	"check_from_in_list", "check_replyto_in_list", "check_from_in_welcomelist",
	"check_from_in_whitelist", "check_from_in_blocklist", "check_from_in_blacklist",
	"check_from_in_default_welcomelist", "check_from_in_default_whitelist",
	"check_to_in_welcomelist", "check_to_in_whitelist", "check_to_in_blocklist",
	"check_to_in_blacklist", "check_to_in_all_spam", "check_to_in_more_spam",
	"check_subject_in_welcomelist", "check_subject_in_whitelist",
	"check_subject_in_blocklist", "check_subject_in_blacklist",
	"check_uri_host_listed", "check_uri_host_in_blocklist", "check_uri_host_in_blacklist",
	"check_uri_host_in_welcomelist", "check_uri_host_in_whitelist",
	/* Shortcircuit: nothing to short-circuit */
	"check_shortcircuit",
	NULL
};

const char *
eval_function_owner(const char *function)
{
	static const char *const auth_prefixes[] = { "check_for_spf_", "check_dkim_",
		"check_dmarc_", "check_arc_", "check_for_dkim_", "check_for_def_dkim_",
		"check_for_def_spf_", NULL };

	for (size_t i = 0; implemented[i] != NULL; i++)
		if (strcmp(implemented[i], function) == 0)
			return "eval";
	if (eval_received_owns(function))
		return "eval";
	if (strcmp(function, "check_bayes") == 0)
		return "bayes";
	if (strcmp(function, "check_dkim_adsp") == 0)
		return "network";
	for (size_t i = 0; auth_prefixes[i] != NULL; i++)
		if (strncmp(function, auth_prefixes[i], strlen(auth_prefixes[i])) == 0)
			return "auth";
	for (size_t i = 0; network_functions[i] != NULL; i++)
		if (strcmp(network_functions[i], function) == 0)
			return "network";
	return NULL;
}

#define FN(lit) EVAL_FN_IS(f, flen, lit)

int
eval_sa(struct eval_msg *m, const char *f, const char *args_text)
{
	size_t flen = strlen(f);
	char a[MAX_ARGS][256];
	int na = split_args(args_text, a);
	struct eval_state *st;
	int r = 0;

	for (int i = na; i < MAX_ARGS; i++)
		a[i][0] = '\0';
	if (FN("check_for_from_domain_in_received_headers")) {
		char from[1][256];
		return eval_received_from_domain(m, header_addrs(m, "From:addr", from, 1) > 0 ?
		    from[0] : "", a[0], a[1]);
	}
	if (eval_received_owns(f))
		return eval_received_sa(m, f, args_text);

	/* ---- HeaderEval ---- */
	if (FN("check_for_missing_to_header")) {
		char *to = hdr_get_s(m, "To");
		if (to[0] == '\0') {
			free(to);
			to = hdr_get_s(m, "Apparently-To");
		}
		r = to[0] == '\0';
		free(to);
		return r;
	}
	if (FN("check_for_shifted_date")) {
		double d;
		st = state(m);
		if (!st->dates_done)
			compute_dates(m, st);
		d = st->date_diff;
		return (strcmp(a[0], "undef") == 0 || d >= 3600 * atof(a[0])) &&
		    (strcmp(a[1], "undef") == 0 || d < 3600 * atof(a[1]));
	}
	if (FN("check_illegal_chars"))
		return eval_illegal_chars(m, a[0], atof(a[1]), atol(a[2]));
	if (FN("check_header_count_range")) {
		/* distinct values */
		size_t n = 0;
		for (size_t i = 0; i < m->nheaders; i++) {
			int dup = 0;
			if (str_casecmp(m->headers[i].name, a[0]) != 0)
				continue;
			for (size_t j = 0; j < i && !dup; j++)
				if (str_casecmp(m->headers[j].name, a[0]) == 0 &&
				    m->headers[j].value_len == m->headers[i].value_len &&
				    memcmp(m->headers[j].value, m->headers[i].value, m->headers[i].value_len) == 0)
					dup = 1;
			if (!dup)
				n++;
		}
		return (double)n >= atof(a[1]) && (double)n <= atof(a[2]);
	}
	if (FN("check_for_fake_aol_relay_in_rcvd")) {
		char *rc = rcvd_spaced(m, "Received");
		if (re_find(" rly-[a-z][a-z]\\d\\d\\.", PCRE2_CASELESS, rc, NULL))
			r = !re_find("/AOL-\\d+\\.\\d+\\.\\d+\\)", 0, rc, NULL) &&
			    !re_find("ESMTP id (?:RELAY|MAILRELAY|MAILIN)", 0, rc, NULL);
		free(rc);
		return r;
	}
	if (FN("check_for_faraway_charset_in_headers") ||
	    FN("check_for_faraway_charset") || FN("html_charset_faraway")) {
		/* ok_locales all (the default) accepts every charset */
		if (m->config == NULL || m->config->locales_all)
			return 0;
		return -1;
	}
	if (FN("check_for_unique_subject_id"))
		return 0;
	if (FN("check_for_forged_hotmail_received_headers"))
		return forged_hotmail(m) == 1;
	if (FN("check_for_no_hotmail_received_headers"))
		return forged_hotmail(m) == 2;
	if (FN("gated_through_received_hdr_remover"))
		return gated_through(m);
	if (FN("check_for_msn_groups_headers"))
		return 0;	/* groups.msn.com closed in 2009 */
	if (FN("check_for_forged_eudoramail_received_headers")) {
		char from[256], *rc, *ip;
		hdr_addr(m, "From", from, 0);
		if (!re_find("\\beudoramail\\.com$", PCRE2_CASELESS, from, NULL))
			return 0;
		if (gated_through(m))
			return 0;
		rc = rcvd_spaced(m, "Received");
		ip = hdr_get(m, "X-Sender-Ip", 0);
		r = !(re_find("by \\S*whowhere.com;", 0, rc, NULL) && ip != NULL &&
		    re_find(IP_ADDRESS, 0, ip, NULL));
		free(rc);
		free(ip);
		return r;
	}
	if (FN("check_for_forged_yahoo_received_headers")) {
		char from[256], *rc, *rf, *rt;
		hdr_addr(m, "From", from, 0);
		if (!re_find("\\byahoo\\.com$", PCRE2_CASELESS, from, NULL))
			return 0;
		rf = hdr_get_s(m, "Resent-From");
		rt = hdr_get_s(m, "Resent-To");
		rc = rcvd_spaced(m, rf[0] != '\0' && rt[0] != '\0' && hdr_count(m, "X-Received") > 0 ?
		    "X-Received" : "Received");
		free(rf);
		free(rt);
		if (gated_through(m) ||
		    re_find("by web\\S+\\.mail\\S*\\.yahoo\\.com via HTTP", 0, rc, NULL) ||
		    re_find("by sonic\\S+\\.consmr\\.mail\\S*\\.yahoo\\.com with HTTP", 0, rc, NULL) ||
		    re_find("by smtp\\S+\\.yahoo\\.com with SMTP", 0, rc, NULL) ||
		    re_find("from \\[" IP_ADDRESS "\\] by \\S+\\.(?:groups|scd|dcn)\\.yahoo\\.com with NNFMP", 0, rc, NULL) ||
		    (re_find("\\bmailer\\d+\\.bulk\\.scd\\.yahoo\\.com\\b", 0, rc, NULL) &&
		    re_find("@reply\\.yahoo\\.com$", PCRE2_CASELESS, from, NULL)) ||
		    re_find("by \\w+\\.\\w+\\.yahoo\\.com \\(\\d+\\.\\d+\\.\\d+/\\d+\\.\\d+\\.\\d+\\)(?: with ESMTP)? id \\w+", 0, rc, NULL) ||
		    /* the relays' rdns=...yahoo.com: from the Received text */
		    re_find("from \\S+ \\(\\S+\\.yahoo\\.com \\[", 0, rc, NULL))
			r = 0;
		else
			r = 1;
		free(rc);
		return r;
	}
	if (FN("check_for_forged_juno_received_headers")) {
		char from[256], *xorig, *xm, *rc;
		hdr_addr(m, "From", from, 0);
		if (!re_find("\\bjuno\\.com$", PCRE2_CASELESS, from, NULL) || gated_through(m))
			return 0;
		xorig = hdr_get_s(m, "X-Originating-IP");
		xm = hdr_get_s(m, "X-Mailer");
		rc = hdr_get_s(m, "Received");
		if (xorig[0] != '\0') {
			if (!re_find("from.*\\b(?:juno|untd)\\.com.*[\\[\\(]" IP_ADDRESS "[\\]\\)].*by", 0, rc, NULL) &&
			    !re_find(" cookie\\.(?:juno|untd)\\.com ", 0, rc, NULL))
				r = 1;
			else if (strstr(xm, "Juno ") == NULL)
				r = 1;
		} else {
			if (re_find("from.*\\bmail\\.com.*\\[" IP_ADDRESS "\\].*by", 0, rc, NULL)) {
				if (!re_find("\\bmail\\.com", 0, xm, NULL))
					r = 1;
			} else if (re_find("from (webmail\\S+\\.untd\\.com) \\(\\1 \\[" IP_ADDRESS "\\]\\) by", 0, rc, NULL)) {
				if (!re_find("^Webmail Version \\d", 0, xm, NULL))
					r = 1;
			} else {
				r = 1;
			}
			if (!r && !re_find(IP_ADDRESS, 0, xorig, NULL))
				r = 1;
		}
		free(xorig);
		free(xm);
		free(rc);
		return r;
	}
	if (FN("check_for_forged_gmail_received_headers")) {
		char from[256], *xgms, *xss, *xr, *rc;
		hdr_addr(m, "From", from, 0);
		if (!re_find("\\bgmail\\.com$", PCRE2_CASELESS, from, NULL))
			return 0;
		xgms = hdr_get_s(m, "X-Gm-Message-State");
		xss = hdr_get_s(m, "X-Google-Smtp-Source");
		xr = hdr_get_s(m, "X-Received");
		rc = hdr_get_s(m, "Received");
		r = !(re_find("by 10\\.\\S+ with SMTP id \\S+", 0, xr, NULL) ||
		    re_find("by 2002:a\\d\\d:\\w+:\\S+ with SMTP id \\S+", 0, xr, NULL) ||
		    re_find("by smtp\\.googlemail\\.com with ESMTPSA id \\S+", 0, rc, NULL) ||
		    (strlen(xgms) >= 60 && strlen(xss) >= 60));
		free(xgms);
		free(xss);
		free(xr);
		free(rc);
		return r;
	}
	if (FN("check_for_forged_gw05_received_headers")) {
		char *rc = hdr_get_s(m, "Received");
		size_t ov[10];
		if (re_find("\\nfrom\\s(\\S+)\\sby\\s(\\S+)\\swith\\sESMTP;\\s+\\S\\S\\S,\\s+\\d+\\s+\\S\\S\\S\\s+\\d{4}\\s+\\d\\d:\\d\\d:\\d\\d\\s+[-+]*\\d{4}\\n$",
		    PCRE2_DOTALL, rc, ov))
			r = memchr(rc + ov[4], '.', ov[5] - ov[4]) == NULL;
		free(rc);
		return r;
	}
	if (FN("check_for_matching_env_and_hdr_from")) {
		char from[256], env[256];
		hdr_addr(m, "From", from, 1);
		hdr_addr(m, "EnvelopeFrom", env, 1);
		return strcmp(from, env) == 0;
	}
	if (FN("sorted_recipients"))
		return eval_recipients(m, 1, "", "");
	if (FN("similar_recipients"))
		return eval_recipients(m, 0, a[0][0] ? a[0] : "undef", a[1][0] ? a[1] : "undef");
	if (FN("subject_is_all_caps")) {
		char *s = hdr_get_s(m, "Subject"), *raw = hdr_get(m, "Subject", 1);
		char *p = s, *e;
		size_t ov[10], letters = 0, upper = 0;
		while (isspace((unsigned char)*p))
			p++;
		e = p + strlen(p);
		while (e > p && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (re_find("^(?:(?:Re|Fwd|Fw|Aw|Antwort|WG|SV|VB|VS|VL):\\s*)+", PCRE2_CASELESS, p, ov))
			p += ov[1];
		if (strpbrk(p, " \t\n\r\f\v") != NULL && strlen(p) >= 10 &&
		    !(raw != NULL && re_find("=\\?[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*\\?",
		    PCRE2_CASELESS, raw, NULL))) {
			for (; *p != '\0'; p++)
				if (isalpha((unsigned char)*p) && (unsigned char)*p < 0x80) {
					letters++;
					if (isupper((unsigned char)*p))
						upper++;
				}
			r = letters > 0 && letters == upper;
		}
		free(s);
		free(raw);
		return r;
	}
	if (FN("check_for_to_in_subject")) {
		char to[256], *subj, *pat, *q;
		size_t tl;
		hdr_addr(m, "To", to, 0);
		if (to[0] == '\0')
			return 0;
		subj = hdr_get_s(m, "Subject");
		/* quote the address for the pattern (\Q...\E) */
		pat = xcalloc(1, 8 * 256 + 512);
		if (strcmp(a[0], "address") == 0) {
			/* /\b\Q$to\E\b/i */
			r = subj != NULL && quoted_find(subj, to, NULL);
		} else if (strcmp(a[0], "user") == 0) {
			if ((q = strchr(to, '@')) != NULL)
				*q = '\0';
			tl = strlen(to);
			if (tl > 0 && strstr(to, "\\E") == NULL) {
				snprintf(pat, 8 * 256 + 512,
				    "^(?:(?:re|fw):\\s*(?:\\w+\\s+)?\\Q%s\\E$|(?-i:\\Q%s\\E)\\s*[,:;!?-](?:$|\\s)|\\Q%s\\E$|,\\s*\\Q%s\\E[,:;!?-]$)",
				    to, to, to, to);
				r = re_dynamic(pat, PCRE2_CASELESS, subj);
			}
		}
		free(pat);
		free(subj);
		return r;
	}
	if (FN("check_outlook_message_id")) {
		char *id = hdr_get_s(m, "Message-Id"), *d;
		size_t ov[10];
		time_t t = 0;
		if (re_find("^<[0-9a-f]{4}([0-9a-f]{8})\\$[0-9a-f]{8}\\$[0-9a-f]{8}@", 0, id, ov)) {
			char hex[9];
			double tok, x = 0.0023283064365387, y = 27111902.8329849;
			snprintf(hex, sizeof(hex), "%.8s", id + ov[2]);
			tok = (double)strtoul(hex, NULL, 16);
			d = hdr_get_s(m, "Date");
			if (parse_date(d, &t) < 0)
				t = 0;
			free(d);
			if (fabs(tok - floor((double)t * x + y)) >= 250) {
				char *rc = hdr_get_s(m, "Received");
				t = 0;
				if (re_find("(\\s.?\\d+ \\S\\S\\S \\d+ \\d+:\\d+:\\d+ \\S+).*?$", 0, rc, ov)) {
					char ds[128];
					snprintf(ds, sizeof(ds), "%.*s", (int)(ov[3] - ov[2]), rc + ov[2]);
					if (parse_date(ds, &t) < 0)
						t = 0;
				}
				free(rc);
				r = fabs(tok - floor((double)t * x + y)) >= 250;
			}
		}
		free(id);
		return r;
	}
	if (FN("check_messageid_not_usable")) {
		char *lu = hdr_get_s(m, "List-Unsubscribe"), *rc;
		r = re_find("<mailto:(?:leave-\\S+|\\S+-unsubscribe)@\\S+>$", PCRE2_CASELESS, lu, NULL) ||
		    gated_through(m);
		free(lu);
		if (!r) {
			rc = hdr_get_s(m, "Received");
			r = strstr(rc, "/CWT/DCE)") != NULL || strstr(rc, "iPlanet Messaging Server") != NULL;
			free(rc);
		}
		return r;
	}
	if (FN("check_unresolved_template")) {
		for (size_t i = 0; i < m->nheaders && !r; i++) {
			char *line = xcalloc(1, strlen(m->headers[i].name) + m->headers[i].value_len + 3);
			sprintf(line, "%s: %.*s", m->headers[i].name, (int)m->headers[i].value_len,
			    m->headers[i].value);
			for (char *nl = line; (nl = strchr(nl, '\n')) != NULL;)
				*nl = ' ';
			if (re_find("%[A-Z][A-Z_-]", 0, line, NULL) &&
			    !re_find("^(?:X-VMS-To|X-UIDL|X-Face|To|Cc|From|Subject|References|In-Reply-To|(?:X-|Resent-|X-Original-)?Message-Id):",
			    PCRE2_CASELESS, line, NULL))
				r = 1;
			free(line);
		}
		return r;
	}
	if (FN("check_ratware_name_id")) {
		char *mid = hdr_get_s(m, "Message-Id"), *from = hdr_get_s(m, "From"), pat[512];
		size_t ov[10];
		if (re_find("<[A-Z]{28}\\.([^>]+?)>", 0, mid, ov) && ov[3] - ov[2] < 400 &&
		    memmem(mid + ov[2], ov[3] - ov[2], "\\E", 2) == NULL) {
			snprintf(pat, sizeof(pat), "\"[^\"]+\"\\s*<\\Q%.*s\\E>", (int)(ov[3] - ov[2]),
			    mid + ov[2]);
			r = re_dynamic(pat, 0, from);
		}
		free(mid);
		free(from);
		return r;
	}
	if (FN("check_ratware_envelope_from")) {
		char to[256], from[256], *at;
		hdr_addr(m, "To", to, 0);
		hdr_addr(m, "EnvelopeFrom", from, 0);
		if (from[0] == '\0' || to[0] == '\0' || re_find("^SRS\\d[=+-]", PCRE2_CASELESS, from, NULL))
			return 0;
		if ((at = strchr(to, '@')) == NULL || at == to || at[1] == '\0')
			return 0;
		*at = '\0';
		/* trim_domain: the registrable domain, approximated by the last two labels */
		{
			char *dom = at + 1, *last = strrchr(dom, '.');
			if (last == NULL)
				return 0;
			for (char *p = last - 1; p > dom; p--)
				if (*p == '.') {
					dom = p + 1;
					break;
				}
			/* /\b\Q$dom\E.\Q$user\E@/i */
			return quoted_find(from, dom, to);
		}
	}
	if (FN("check_equal_from_domains")) {
		char from[256], env[256], fd[256], ed[256];
		const char *at;
		size_t ov[10];
		hdr_addr(m, "From", from, 0);
		hdr_addr(m, "EnvelopeFrom", env, 0);
		fd[0] = ed[0] = '\0';
		if ((at = strrchr(from, '@')) != NULL)
			snprintf(fd, sizeof(fd), "%s", at + 1);
		if ((at = strrchr(env, '@')) != NULL)
			snprintf(ed, sizeof(ed), "%s", at + 1);
		if (re_find("^.+\\.([^\\.]+\\.[^\\.]+)$", 0, fd, ov))
			memmove(fd, fd + ov[2], ov[3] - ov[2] + 1);
		if (re_find("^.+\\.([^\\.]+\\.[^\\.]+)$", 0, ed, ov))
			memmove(ed, ed + ov[2], ov[3] - ov[2] + 1);
		if (fd[0] == '\0' || ed[0] == '\0')
			return 0;
		return str_casecmp(fd, ed) != 0;
	}

	/* ---- MIMEEval ---- */
	if (FN("check_for_mime")) {
		st = mime_state(m);
		if (strcmp(a[0], "mime_attachment") == 0)
			return st->attachment > 0;
		if (strcmp(a[0], "mime_base64_count") == 0)
			return st->base64_count > 0;
		if (strcmp(a[0], "mime_qp_count") == 0)
			return st->qp_count_parts > 0;
		if (strcmp(a[0], "mime_base64_encoded_text") == 0)
			return st->base64_text;
		if (strcmp(a[0], "mime_bad_iso_charset") == 0)
			return st->bad_iso_charset;
		if (strcmp(a[0], "mime_qp_long_line") == 0)
			return st->qp_long_line;
		if (strcmp(a[0], "mime_faraway_charset") == 0)
			return m->config == NULL || m->config->locales_all ? 0 : -1;
		if (strcmp(a[0], "mime_body_html_count") == 0)
			return st->html_count > 0;
		if (strcmp(a[0], "mime_body_text_count") == 0)
			return st->text_count > 0;
		if (strcmp(a[0], "mime_missing_boundary") == 0)
			return 0;
		return 0;	/* not a key SpamAssassin sets: false there too */
	}
	if (FN("check_for_mime_html") || FN("check_for_mime_html_only")) {
		char *ct = hdr_get_s(m, "Content-Type");
		r = str_ncasecmp(ct, "text/html", 9) == 0;
		free(ct);
		if (r)
			return 1;
		st = mime_state(m);
		if (FN("check_for_mime_html"))
			return st->html_count > 0;
		return st->html_count > 0 && st->text_count == 0;
	}
	if (FN("check_mime_multipart_ratio")) {
		st = mime_state(m);
		return st->multipart_ratio >= atof(a[0]) && st->multipart_ratio < atof(a[1]);
	}
	if (FN("check_qp_ratio")) {
		st = mime_state(m);
		return st->qp_ratio >= atof(a[0]);
	}
	if (FN("check_for_ascii_text_illegal")) {
		st = mime_state(m);
		return st->ascii_text_illegal > 0;
	}
	if (FN("check_abundant_unicode_ratio")) {
		st = mime_state(m);
		return st->unicode_ratio >= atof(a[0]);
	}
	if (FN("check_msg_parse_flags")) {
		const char *t = a[na > 1 ? 1 : 0];
		st = state(m);
		if (strcmp(t, "missing_head_body_separator") == 0)
			return st->missing_head_body_separator;
		if (strcmp(t, "missing_mime_head_body_separator") == 0)
			return st->missing_mime_head_body_separator;
		if (strcmp(t, "truncated_header") == 0)
			return st->truncated_header;
		if (strcmp(t, "mime_epilogue_exists") == 0)
			return st->mime_epilogue_exists;
		if (strcmp(t, "missing_mime_headers") == 0)
			return st->missing_mime_headers;
		return 0;
	}
	if (FN("check_for_uppercase")) {
		struct upper u = { 0, 0, 0 };
		double pct;
		if (body_charset_likely_fp(m))
			return 0;
		body_lines(m, upper_line, &u);
		if (u.len < 200 || u.upper + u.lower == 0)
			pct = 0;
		else
			pct = 100.0 * (double)u.upper / (double)(u.upper + u.lower);
		return pct > atof(a[0]) && pct <= atof(a[1]);
	}
	if (FN("check_ma_non_text")) {
		st = state(m);
		for (size_t i = 0; i < st->nparts; i++) {
			if (strcmp(st->parts[i].type, "multipart/alternative") != 0)
				continue;
			/* the parts under it, recursively, leaves and multiparts */
			for (size_t j = i + 1; j < st->nparts; j++) {
				int k = st->parts[j].parent, under = 0;
				while (k >= 0) {
					if ((size_t)k == i) {
						under = 1;
						break;
					}
					k = st->parts[k].parent;
				}
				if (!under)
					continue;
				if (strcmp(st->parts[j].type, "multipart/related") == 0 ||
				    strcmp(st->parts[j].type, "application/rtf") == 0 ||
				    strncmp(st->parts[j].type, "text/", 5) == 0)
					continue;
				return 1;
			}
		}
		return 0;
	}
	if (FN("check_base64_length")) {
		size_t longest = 0;
		st = state(m);
		for (size_t i = 0; i < st->nparts; i++) {
			const struct sa_part *p = &st->parts[i];
			const char *l, *end;
			if (!p->is_leaf || strcmp(p->type, "application/ics") == 0 ||
			    strcmp(p->cte, "base64") != 0)
				continue;
			for (l = p->body, end = p->body + p->body_len; l < end;) {
				const char *e = line_end(l, end);
				size_t len = (size_t)(e - l);
				if (len >= 2 && l[len - 2] == '\r' && l[len - 1] == '\n')
					len--;
				if (len > longest)
					longest = len;
				l = e;
			}
		}
		if (a[1][0] != '\0' && (double)longest > atof(a[1]))
			return 0;
		return (double)longest >= atof(a[0]);
	}

	/* ---- BodyEval ---- */
	if (FN("tvd_vertical_words")) {
		struct tvd t = { -1 };
		double max = atof(a[1]);
		if (max >= 100)
			max = 101;
		body_lines(m, tvd_line, &t);
		return t.max >= atof(a[0]) && t.max < max;
	}
	if (FN("check_body_length")) {
		st = state(m);
		return (double)st->pristine_body_length <= atof(a[0]);
	}
	if (FN("check_blank_line_ratio")) {
		/* get_decoded_body_text_array: text parts decoded, lines */
		long minlines = atol(a[2]) < 1 ? 1 : atol(a[2]), nlines = 0, blank = 0;
		double ratio, min = atof(a[0]), max = atof(a[1]);
		st = state(m);
		for (size_t i = 0; i < st->nparts; i++) {
			const struct sa_part *p = &st->parts[i];
			struct strbuf b = { NULL, 0, 0 };
			if (!p->is_leaf || strncmp(p->type, "text", 4) != 0)
				continue;
			part_decode(p, 1 << 20, &b);
			for (size_t k = 0; k < b.len;) {
				const char *e = line_end(b.data + k, b.data + b.len);
				int nonblank = 0;
				for (const char *q = b.data + k; q < e; q++)
					if (!isspace((unsigned char)*q))
						nonblank = 1;
				nlines++;
				if (!nonblank)
					blank++;
				k = (size_t)(e - b.data);
			}
			strbuf_free(&b);
		}
		ratio = nlines < minlines ? -1 : 100.0 * (double)blank / (double)nlines;
		return (min == 0 && ratio <= max) || (ratio > min && ratio <= max);
	}
	if (FN("check_stock_info")) {
		/* the first text/plain part's text: approximated by the body text */
		static const char stock_re[] =
		    "^(trad(?:e|ing)date|company(?:name)?|s\\w?(?:t\\w?o\\w?c\\w?k|y\\w?m(?:\\w?b\\w?o\\w?l)?)|t(?:arget|icker)|(?:opening|current)p(?:rice)?|p(?:rojected|osition)|expectations|weeks?high|marketperformance|(?:year|week|month|day|price)(?:target|estimates?)|sector|r(?:ecommendation|ating))$";
		int hits = 0;
		unsigned int seen = 0;
		st = state(m);
		for (size_t i = 0; i < st->nparts && hits == 0 && seen == 0; i++) {
			const struct sa_part *p = &st->parts[i];
			struct strbuf b = { NULL, 0, 0 };
			size_t ov[10], pos = 0;
			if (!p->is_leaf || strcmp(p->type, "text/plain") != 0)
				continue;
			part_decode(p, 1 << 20, &b);
			strbuf_putc(&b, '\0');
			while (re_find_at("^\\s*([^:\\s][^:\\n]{2,29})\\s*:\\s*\\S", PCRE2_MULTILINE, b.data,
			    b.len - 1, pos, ov)) {
				char word[64];
				size_t wl = 0;
				for (size_t k = ov[2]; k < ov[3]; k++) {
					char c = (char)tolower((unsigned char)b.data[k]);
					if (c >= 'a' && c <= 'z' && wl + 1 < sizeof(word))
						word[wl++] = c;
				}
				word[wl] = '\0';
				{
					size_t ov2[10];
					if (re_find(stock_re, 0, word, ov2)) {
						/* distinct keys: a bit per alternative is enough here */
						unsigned int h = 0;
						for (const char *q = word; *q != '\0'; q++)
							h = h * 31 + (unsigned char)*q;
						if ((seen & (1u << (h % 32))) == 0) {
							seen |= 1u << (h % 32);
							hits++;
						}
					}
				}
				pos = ov[1] > pos ? ov[1] : pos + 1;
				if (pos >= b.len - 1)
					break;
			}
			strbuf_free(&b);
			break;
		}
		return atof(a[0]) == 0 || hits >= atof(a[0]);
	}
	if (FN("multipart_alternative_difference")) {
		st = madiff_state(m);
		return (atof(a[0]) == 0 || st->madiff > atof(a[0])) &&
		    (strcmp(a[1], "undef") == 0 || st->madiff <= atof(a[1]));
	}
	if (FN("multipart_alternative_difference_count")) {
		st = madiff_state(m);
		if ((double)st->madiff_html <= atof(a[1]))
			return 0;
		return (double)st->madiff_text / (double)st->madiff_html > atof(a[0]);
	}

	/* ---- HTML links and URIs (HTMLEval, HTTPSMismatch, URIEval, WLBLEval) ---- */
	if (FN("check_iframe_src")) {
		st = html_state(m);
		for (size_t i = 0; i < st->nhtml; i++)
			for (size_t j = 0; j < st->html[i].nuris; j++)
				if (st->html[i].uris[j].types & HTML_T_IFRAME)
					return 1;
		return 0;
	}
	if (FN("check_https_http_mismatch"))
		return https_http_mismatch(m, a[0], a[1]);
	if (FN("check_https_ip_mismatch"))
		return https_ip_mismatch(m);
	if (FN("check_uri_truncated"))
		return uri_state(m)->uri_truncated;
	if (FN("check_uri_host_listed"))
		return uri_host_listed(m, a[0]);
	if (FN("check_uri_host_in_blocklist") ||
	    FN("check_uri_host_in_blacklist"))
		return uri_host_listed(m, "BLOCK");
	if (FN("check_uri_host_in_welcomelist") ||
	    FN("check_uri_host_in_whitelist"))
		return uri_host_listed(m, "WELCOME");

	/* ---- HTMLEval ---- */
	if (strncmp(f, "html_", 5) == 0 && strcmp(f, "html_charset_faraway") != 0) {
		st = html_state(m);
		for (size_t i = 0; i < st->nhtml; i++) {
			struct html_info *h = &st->html[i];
			double v;
			if (FN("html_tag_exists")) {
				if (html_inside(h, a[0], 0) != NULL)
					return 1;
			} else if (FN("html_tag_balance")) {
				int *in = html_inside(h, a[0], 0);
				if (in != NULL && num_expr(*in, a[1]))
					return 1;
			} else if (FN("html_test")) {
				int known = 1, hit = html_flag(h, a[0], &known);
				if (!known)
					return -1;
				if (hit)
					return 1;
			} else if (FN("html_eval")) {
				if (html_value(h, a[0], &v) && num_expr(v, a[1]))
					return 1;
			} else if (FN("html_range")) {
				if (!html_value(h, a[0], &v))
					continue;
				if (a[2][0] == '\0' || strcmp(a[2], "inf") == 0) {
					if (v > atof(a[1]))
						return 1;
				} else if (v > atof(a[1]) && v <= atof(a[2])) {
					return 1;
				}
			} else if (FN("html_image_only")) {
				if (html_inside(h, "img", 0) != NULL && (double)h->length > atof(a[0]) &&
				    (double)h->length <= atof(a[1]))
					return 1;
			} else if (FN("html_image_ratio")) {
				if (h->image_area > 0) {
					double ratio = (double)h->non_space_len / (double)h->image_area;
					if (ratio > atof(a[0]) && ratio <= atof(a[1]))
						return 1;
				}
			} else if (FN("html_text_match")) {
				const struct strbuf *b = strcmp(a[0], "title") == 0 ? &h->title :
				    strcmp(a[0], "comment") == 0 ? &h->comment :
				    strcmp(a[0], "anchor") == 0 ? &h->anchor : NULL;
				if (b == NULL)
					return -1;
				if (strings_match(b, a[1]))
					return 1;
			} else if (FN("html_title_subject_ratio")) {
				char *subj = hdr_get_s(m, "Subject");
				size_t sl = strlen(subj), maxl = 0;
				free(subj);
				if (sl == 0)
					return 0;
				for (size_t off = 0; off < h->title.len;) {
					size_t l = strlen(h->title.data + off);
					if (l > maxl)
						maxl = l;
					off += l + 1;
				}
				if ((double)maxl / (double)sl > atof(a[0]))
					return 1;
			} else {
				return -1;
			}
		}
		if (FN("html_test")) {
			int known = 1;
			(void)html_flag(NULL, a[0], &known);
			if (!known)
				return -1;
		}
		if (FN("html_text_match") && strcmp(a[0], "title") != 0 &&
		    strcmp(a[0], "comment") != 0 && strcmp(a[0], "anchor") != 0)
			return -1;
		for (size_t i = 0; implemented[i] != NULL; i++)
			if (strcmp(implemented[i], f) == 0)
				return 0;
		return -1;
	}

	/* ---- ImageInfo ---- */
	if (FN("image_count") || FN("pixel_coverage") ||
	    FN("image_to_text_ratio")) {
		int t = strcmp(a[0], "all") == 0 ? 0 : strcmp(a[0], "gif") == 0 ? 1 :
		    strcmp(a[0], "png") == 0 ? 2 : strcmp(a[0], "jpeg") == 0 ? 3 : -1;
		double v, min = atof(a[1]);
		if (t < 0 || a[1][0] == '\0')
			return 0;
		st = state(m);
		if (!st->images_done)
			image_state(m, st);
		if (FN("image_to_text_ratio")) {
			/* the body (or rawbody) length over the area: body only */
			if (st->area[t] == 0 || m->body_len == 0)
				return 0;
			v = (double)m->body_len / (double)st->area[t];
			if (v < min || (a[2][0] != '\0' && (v > atof(a[2]) || v == atof(a[2]))))
				return 0;
			return 1;
		}
		v = FN("image_count") ? (double)st->count[t] : (double)st->area[t];
		if (v < min || (a[2][0] != '\0' && v > atof(a[2])))
			return 0;
		return 1;
	}

	/* ---- FreeMail ---- */
	if (FN("check_freemail_from")) {
		char addrs[16][256];
		size_t n;
		if (!freemail_configured(m->config))
			return 0;
		n = all_from_addrs(m, addrs, 16);
		for (size_t i = 0; i < n; i++)
			if (addrs[i][0] != '\0' && freemail_is(m->config, addrs[i]) &&
			    (a[0][0] == '\0' || re_dynamic(a[0], 0, addrs[i])))
				return 1;
		return 0;
	}
	if (FN("check_freemail_header")) {
		char addrs[16][256];
		size_t n;
		if (!freemail_configured(m->config) || a[0][0] == '\0')
			return 0;
		n = header_addrs(m, a[0], addrs, 16);
		for (size_t i = 0; i < n; i++)
			if (freemail_is(m->config, addrs[i]) &&
			    (a[1][0] == '\0' || re_dynamic(a[1], 0, addrs[i])))
				return 1;
		return 0;
	}
	if (FN("check_freemail_replyto")) {
		if (a[0][0] != '\0' && strcmp(a[0], "replyto") != 0 && strcmp(a[0], "reply") != 0)
			return 0;
		return eval_freemail_replyto(m, a[0][0] != '\0' ? a[0] : "replyto");
	}
	if (FN("check_freemail_body")) {
		const struct eval_state *fst;
		if (!freemail_configured(m->config) || !(fst = body_freemails(m))->freemail_ok)
			return 0;
		for (size_t i = 0; i < fst->nfreemail; i++)
			if (a[0][0] == '\0' || re_dynamic(a[0], 0, fst->freemail[i]))
				return 1;
		return 0;
	}

	/* ---- WLBLEval ---- */
	if (FN("check_from_in_list") || FN("check_replyto_in_list")) {
		char addrs[16][256];
		size_t n;
		const struct addrlist *l = NULL;
		if (m->config != NULL)
			for (size_t i = 0; i < m->config->nlists; i++)
				if (strcmp(m->config->lists[i].name, a[0]) == 0)
					l = &m->config->lists[i];
		if (l == NULL)
			return 0;
		if (FN("check_from_in_list"))
			n = all_from_addrs(m, addrs, 16);
		else
			n = header_addrs(m, "Reply-To", addrs, 16);
		return list_addr_match(&l->globs, addrs, n);
	}
	if (FN("check_from_in_welcomelist") || FN("check_from_in_whitelist") ||
	    FN("check_from_in_blocklist") || FN("check_from_in_blacklist") ||
	    FN("check_from_in_default_welcomelist") ||
	    FN("check_from_in_default_whitelist")) {
		char addrs[16][256];
		size_t n;
		const struct str_set *s;
		if (m->config == NULL)
			return 0;
		s = strstr(f, "default") != NULL ? &m->config->def_welcome_from :
		    strstr(f, "block") != NULL || strstr(f, "black") != NULL ? &m->config->block_from :
		    &m->config->welcome_from;
		/* default_welcomelist needs the relays' rDNS (welcomelist_from_rcvd): never */
		if (strstr(f, "default") != NULL)
			return 0;
		n = all_from_addrs(m, addrs, 16);
		return list_addr_match(s, addrs, n);
	}
	if (strncmp(f, "check_to_in_", 12) == 0) {
		char addrs[64][256];
		size_t n;
		const struct str_set *s;
		const char *what = f + 12;
		if (m->config == NULL)
			return 0;
		s = strcmp(what, "welcomelist") == 0 || strcmp(what, "whitelist") == 0 ? &m->config->welcome_to :
		    strcmp(what, "blocklist") == 0 || strcmp(what, "blacklist") == 0 ? &m->config->block_to :
		    strcmp(what, "all_spam") == 0 ? &m->config->all_spam_to :
		    strcmp(what, "more_spam") == 0 ? &m->config->more_spam_to : NULL;
		if (s == NULL)
			return -1;
		n = header_addrs(m, "To", addrs, 64);
		n += header_addrs(m, "Cc", addrs + n, 64 - n);
		return list_addr_match(s, addrs, n);
	}
	if (strncmp(f, "check_subject_in_", 17) == 0)
		return 0;	/* welcomelist_subject / blocklist_subject: not in the stock rules */
	if (FN("check_shortcircuit"))
		return 0;
	return -1;
}

void
eval_msg_clear(struct eval_msg *m)
{
	struct eval_state *st = m->state;

	eval_received_clear(m);
	if (st == NULL)
		return;
	m->state = NULL;
	for (size_t i = 0; i < st->nparts; i++) {
		for (size_t j = 0; j < st->parts[i].nhdrs; j++) {
			free(st->parts[i].hdrs[j].name);
			free(st->parts[i].hdrs[j].value);
		}
		free(st->parts[i].hdrs);
	}
	free(st->parts);
	for (size_t i = 0; i < st->nhtml; i++)
		html_info_free(&st->html[i]);
	strset_free(&st->uri_hosts);
	strset_free(&st->uri_list);
	free(st->html);
	free(st->html_charsets);
	free(st);
}
