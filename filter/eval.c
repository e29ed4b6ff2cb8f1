/* SPDX-License-Identifier: MIT */
/*
 * eval - SpamAssassin's eval: tests in C (see eval.h).  Each function
 * follows the Perl of SpamAssassin 4.0.1's plugin named beside it; the
 * regular expressions are the plugin's, run by PCRE2.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filter/eval.h"
#include "filter/eval_received.h"
#include "filter/sa_rules.h"
#include "filter/strbuf.h"
#include "lib/mem.h"

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
		}
	}
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
	free(c);
}

/* ---- regular expressions: the plugins' own, compiled once per process ---- */

struct re_cache {
	const char *pattern;	/* a literal of this file: compared by address */
	uint32_t options;
	pcre2_code *code;
};

static pthread_mutex_t re_lock = PTHREAD_MUTEX_INITIALIZER;
static struct re_cache re_cached[96];
static size_t re_ncached;

static pcre2_code *
re_get(const char *pattern, uint32_t options)
{
	pcre2_code *code = NULL;
	int err;
	PCRE2_SIZE off;

	pthread_mutex_lock(&re_lock);
	for (size_t i = 0; i < re_ncached; i++)
		if (re_cached[i].pattern == pattern && re_cached[i].options == options) {
			code = re_cached[i].code;
			break;
		}
	if (code == NULL) {
		code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &err,
		    &off, NULL);
		if (code != NULL && re_ncached < sizeof(re_cached) / sizeof(re_cached[0])) {
			re_cached[re_ncached].pattern = pattern;
			re_cached[re_ncached].options = options;
			re_cached[re_ncached].code = code;
			re_ncached++;
		}
	}
	pthread_mutex_unlock(&re_lock);
	return code;
}

/*
 * Search s with a literal pattern; 1 if found (capture n in ov[2n], ov[2n+1]
 * when ov is given, room for 4 groups), 0 if not.
 */
static int
re_find_at(const char *pattern, uint32_t options, const char *s, size_t len, size_t start,
    size_t *ov)
{
	pcre2_code *code = re_get(pattern, options);
	pcre2_match_data *md;
	int rc;

	if (code == NULL || s == NULL)
		return 0;
	md = pcre2_match_data_create(5, NULL);
	rc = pcre2_match(code, (PCRE2_SPTR)s, len, start, 0, md, NULL);
	if (rc > 0 && ov != NULL) {
		PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
		for (int i = 0; i < 10; i++)
			ov[i] = i < 2 * rc ? v[i] : PCRE2_UNSET;
	}
	pcre2_match_data_free(md);
	return rc > 0;
}

static int
re_find(const char *pattern, uint32_t options, const char *s, size_t *ov)
{
	return re_find_at(pattern, options, s, s != NULL ? strlen(s) : 0, 0, ov);
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
	const char *body;	/* raw body lines in the message */
	size_t body_len;
	struct sa_hdr *hdrs;
	size_t nhdrs;
};

struct html_info {
	int tags, elements, tags_seen, elements_seen, closed_extra;
	unsigned long length;	/* bytes of HTML */
	unsigned long image_area;
	unsigned long non_space_len;
	struct str_set inside_names;	/* tags seen */
	int *inside;			/* counts, parallel to inside_names */
	struct strbuf title, comment, anchor;	/* entries separated by \0 */
	int ntitles;
	int has_img_in_anchor;
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
	/* images */
	int images_done;
	unsigned long count[4], area[4];	/* all gif png jpeg */
	/* dates */
	int dates_done;
	int have_date_diff;
	double date_diff;
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
				if (!is_field_name_line(e, ne) && !blank_line(e, ne))
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
				if (!is_field_name_line(start, ne) && !blank_line(start, ne) &&
				    st->nparts > idx + 1)
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
static void
part_decode(const struct sa_part *p, size_t max, struct strbuf *out)
{
	const unsigned char *s = (const unsigned char *)p->body, *e = s + p->body_len;

	if (strstr(p->cte, "base64") != NULL) {
		unsigned int acc = 0, bits = 0;
		for (; s < e && (max == 0 || out->len < max); s++) {
			int v = b64_value(*s);
			if (*s == '=')
				break;
			if (v < 0)
				continue;
			acc = (acc << 6) | (unsigned int)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				strbuf_putc(out, (char)((acc >> bits) & 0xff));
			}
		}
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

/* ---- HTML (Mail::SpamAssassin::HTML, what the stock rules ask of it) ---- */

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

static int
is_html_element(const char *t)
{
	for (size_t i = 0; html_elements[i] != NULL; i++)
		if (strcmp(html_elements[i], t) == 0)
			return 1;
	return 0;
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

static long
html_attr_num(const char *attrs, size_t len, const char *name)
{
	char pat[64];
	size_t nl = strlen(name);

	snprintf(pat, sizeof(pat), "%s", name);
	for (size_t i = 0; i + nl < len; i++) {
		if (str_ncasecmp(attrs + i, pat, nl) == 0 && (i == 0 || isspace((unsigned char)attrs[i - 1]))) {
			size_t j = i + nl;
			while (j < len && isspace((unsigned char)attrs[j]))
				j++;
			if (j < len && attrs[j] == '=') {
				j++;
				while (j < len && (isspace((unsigned char)attrs[j]) || attrs[j] == '"' || attrs[j] == '\''))
					j++;
				if (j < len && isdigit((unsigned char)attrs[j]))
					return strtol(attrs + j, NULL, 10);
			}
		}
	}
	return 0;
}

static void
html_scan(struct html_info *h, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	int in_title = 0, in_a = 0, title_open = 0;
	const char *cdata = NULL;	/* inside script/style: until its end tag */

	h->length = len;
	while (p < end) {
		if (*p != '<') {
			/* text */
			if (cdata == NULL) {
				if (!isspace((unsigned char)*p))
					h->non_space_len++;
				if (in_title)
					strbuf_putc(&h->title, *p);
				if (in_a)
					strbuf_putc(&h->anchor, *p);
			}
			p++;
			continue;
		}
		if (cdata != NULL) {
			size_t cl = strlen(cdata);
			if (end - p >= (ptrdiff_t)(cl + 2) && p[1] == '/' && str_ncasecmp(p + 2, cdata, cl) == 0)
				cdata = NULL;
			else {
				p++;
				continue;
			}
		}
		if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			const char *e = NULL;
			for (const char *q = p + 4; q + 3 <= end; q++)
				if (q[0] == '-' && q[1] == '-' && q[2] == '>') {
					e = q + 3;
					break;
				}
			if (e == NULL)
				e = end;
			strbuf_append(&h->comment, p, (size_t)(e - p));
			strbuf_putc(&h->comment, '\0');
			p = e;
			continue;
		}
		if (end - p >= 2 && (p[1] == '!' || p[1] == '?')) {
			const char *e = memchr(p, '>', (size_t)(end - p));
			p = e != NULL ? e + 1 : end;
			continue;
		}
		{
			int closing = end - p >= 2 && p[1] == '/';
			const char *n = p + 1 + closing, *ne, *gt;
			char tag[64];
			size_t tl = 0;
			int num;
			int *in;
			if (n >= end || !isalpha((unsigned char)*n)) {
				if (cdata == NULL) {
					h->non_space_len++;
					if (in_title)
						strbuf_putc(&h->title, '<');
				}
				p++;
				continue;
			}
			for (ne = n; ne < end && !isspace((unsigned char)*ne) && *ne != '>' && *ne != '/'; ne++)
				if (tl + 1 < sizeof(tag))
					tag[tl++] = (char)tolower((unsigned char)*ne);
			tag[tl] = '\0';
			gt = memchr(ne, '>', (size_t)(end - ne));
			if (gt == NULL)
				gt = end;
			num = closing ? -1 : 1;
			if (is_html_element(tag)) {
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
			if (strcmp(tag, "title") == 0) {
				if (!closing) {
					if (title_open)
						strbuf_putc(&h->title, '\0');
					title_open = 1;
					h->ntitles++;
				}
				in_title = *in > 0;
			} else if (strcmp(tag, "a") == 0) {
				in_a = *in > 0;
				if (!in_a)
					strbuf_putc(&h->anchor, '\0');
			} else if (strcmp(tag, "img") == 0 && !closing) {
				long w = html_attr_num(ne, (size_t)(gt - ne), "width");
				long ht = html_attr_num(ne, (size_t)(gt - ne), "height");
				if (w > 0 && ht > 0)
					h->image_area += (unsigned long)(w * ht);
				if (in_a)
					strbuf_append(&h->anchor, "<img>", 5);
			} else if ((strcmp(tag, "script") == 0 || strcmp(tag, "style") == 0) && !closing) {
				cdata = strcmp(tag, "script") == 0 ? "script" : "style";
			}
			p = gt < end ? gt + 1 : end;
		}
	}
	if (title_open)
		strbuf_putc(&h->title, '\0');
	if (in_a)
		strbuf_putc(&h->anchor, '\0');
}

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
		if (!p->is_leaf || strcmp(p->type, "text/html") != 0)
			continue;
		st->html = xrealloc(st->html, (st->nhtml + 1) * sizeof(*st->html));
		h = &st->html[st->nhtml++];
		memset(h, 0, sizeof(*h));
		part_decode(p, 4 << 20, &b);
		html_scan(h, b.data != NULL ? b.data : "", b.len);
		strbuf_free(&b);
	}
	return st;
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

/* A numeric result of the HTML parser; 0 if it has none. */
static int
html_value(const struct html_info *h, const char *test, double *v)
{
	if (strcmp(test, "length") == 0)
		*v = (double)h->length;
	else if (strcmp(test, "bad_tag_ratio") == 0 && h->tags > 0)
		*v = (double)(h->tags - h->elements) / h->tags;
	else if (strcmp(test, "non_element_ratio") == 0 && h->tags_seen > 0)
		*v = (double)(h->tags_seen - h->elements_seen) / h->tags_seen;
	else if (strcmp(test, "closed_extra_ratio") == 0 && h->tags > 0)
		*v = (double)h->closed_extra / h->tags;
	else if (strcmp(test, "image_area") == 0)
		*v = (double)h->image_area;
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

void
eval_body_norm_feed(struct eval_body_norm *n, const char *text, size_t len, eval_body_out out,
    void *ctx)
{
	const char *p = text, *end = text + len, *run = text;

	while (p < end) {
		unsigned char c = (unsigned char)*p;
		int space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
		if (space) {
			if (!n->in_space) {
				if (p > run)
					out(ctx, run, (size_t)(p - run));
				n->in_space = 1;
				n->newlines = 0;
			}
			if (c == '\n')
				n->newlines++;
			p++;
			run = p;
			continue;
		}
		if (n->in_space) {
			out(ctx, n->newlines >= 2 ? "\n" : " ", 1);
			n->in_space = 0;
			run = p;
		}
		n->started = 1;
		p++;
	}
	if (!n->in_space && p > run)
		out(ctx, run, (size_t)(p - run));
}

void
eval_body_norm_end(struct eval_body_norm *n, eval_body_out out, void *ctx)
{
	if (n->in_space)
		out(ctx, n->newlines >= 2 ? "\n" : " ", 1);
	n->in_space = 0;
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

static int
body_emails_freemail(struct eval_msg *m, char found[][256], size_t *nfound)
{
	/* FreeMail::_parse_body, from the rendered body: up to 5 addresses, 3 freemails */
	size_t all = 0, fm = 0, pos = 0;
	const struct eval_config *c = m->config;
	char seen[40][256];
	size_t nseen = 0;
	size_t ov[10];
	char *body = xstrndup(m->body != NULL ? m->body : "", m->body_len);

	*nfound = 0;
	while (pos < m->body_len && nseen < 40 &&
	    re_find_at("(?<![a-z0-9!#$%&'*+/=?^_`{|}~-])([a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,59}[a-z0-9])?\\.){1,4}[a-z]{2,63})\\b",
	    PCRE2_CASELESS, body, m->body_len, pos, ov)) {
		char e[256];
		int dup = 0;
		snprintf(e, sizeof(e), "%.*s", (int)(ov[3] - ov[2]), body + ov[2]);
		str_lower(e);
		pos = ov[1];
		for (size_t i = 0; i < nseen; i++)
			if (strcmp(seen[i], e) == 0)
				dup = 1;
		if (!dup)
			snprintf(seen[nseen++], 256, "%s", e);
	}
	free(body);
	for (size_t i = 0; i < nseen; i++) {
		if (++all == 5)
			return 0;
		if (!freemail_is(c, seen[i]))
			continue;
		if (++fm == 3)
			return 0;
		snprintf(found[(*nfound)++], 256, "%s", seen[i]);
	}
	return 1;
}

static int
eval_freemail_replyto(struct eval_msg *m, const char *what)
{
	char from[16][256], rt[16][256], bodyfm[40][256];
	size_t nf, nr, nb;
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
	if (!body_emails_freemail(m, bodyfm, &nb))
		return 0;
	for (size_t i = 0; i < nb; i++) {
		char (*reply)[256] = strcmp(what, "replyto") == 0 || rt_fm ? rt : from;
		size_t nreply = strcmp(what, "replyto") == 0 || rt_fm ? nr : nf;
		for (size_t j = 0; j < nreply; j++)
			if (strcmp(bodyfm[i], reply[j]) != 0)
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
	"check_rbl_rcvd", "check_uridnsbl", "check_uri_host_listed", "check_razor2",
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
	"check_body_length",
	/* HTMLEval */
	"html_tag_balance", "html_image_only", "html_image_ratio", "html_charset_faraway",
	"html_tag_exists", "html_test", "html_eval", "html_text_match",
	"html_title_subject_ratio", "html_range",
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

int
eval_sa(struct eval_msg *m, const char *f, const char *args_text)
{
	char a[MAX_ARGS][256];
	int na = split_args(args_text, a);
	struct eval_state *st;
	int r = 0;

	for (int i = na; i < MAX_ARGS; i++)
		a[i][0] = '\0';
	if (eval_received_owns(f))
		return eval_received_sa(m, f, args_text);

	/* ---- HeaderEval ---- */
	if (strcmp(f, "check_for_missing_to_header") == 0) {
		char *to = hdr_get_s(m, "To");
		if (to[0] == '\0') {
			free(to);
			to = hdr_get_s(m, "Apparently-To");
		}
		r = to[0] == '\0';
		free(to);
		return r;
	}
	if (strcmp(f, "check_for_shifted_date") == 0) {
		double d;
		st = state(m);
		if (!st->dates_done)
			compute_dates(m, st);
		d = st->date_diff;
		return (strcmp(a[0], "undef") == 0 || d >= 3600 * atof(a[0])) &&
		    (strcmp(a[1], "undef") == 0 || d < 3600 * atof(a[1]));
	}
	if (strcmp(f, "check_illegal_chars") == 0)
		return eval_illegal_chars(m, a[0], atof(a[1]), atol(a[2]));
	if (strcmp(f, "check_header_count_range") == 0) {
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
	if (strcmp(f, "check_for_fake_aol_relay_in_rcvd") == 0) {
		char *rc = rcvd_spaced(m, "Received");
		if (re_find(" rly-[a-z][a-z]\\d\\d\\.", PCRE2_CASELESS, rc, NULL))
			r = !re_find("/AOL-\\d+\\.\\d+\\.\\d+\\)", 0, rc, NULL) &&
			    !re_find("ESMTP id (?:RELAY|MAILRELAY|MAILIN)", 0, rc, NULL);
		free(rc);
		return r;
	}
	if (strcmp(f, "check_for_faraway_charset_in_headers") == 0 ||
	    strcmp(f, "check_for_faraway_charset") == 0 || strcmp(f, "html_charset_faraway") == 0) {
		/* ok_locales all (the default) accepts every charset */
		if (m->config == NULL || m->config->locales_all)
			return 0;
		return -1;
	}
	if (strcmp(f, "check_for_unique_subject_id") == 0)
		return 0;
	if (strcmp(f, "check_for_forged_hotmail_received_headers") == 0)
		return forged_hotmail(m) == 1;
	if (strcmp(f, "check_for_no_hotmail_received_headers") == 0)
		return forged_hotmail(m) == 2;
	if (strcmp(f, "gated_through_received_hdr_remover") == 0)
		return gated_through(m);
	if (strcmp(f, "check_for_msn_groups_headers") == 0)
		return 0;	/* groups.msn.com closed in 2009 */
	if (strcmp(f, "check_for_forged_eudoramail_received_headers") == 0) {
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
	if (strcmp(f, "check_for_forged_yahoo_received_headers") == 0) {
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
	if (strcmp(f, "check_for_forged_juno_received_headers") == 0) {
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
	if (strcmp(f, "check_for_forged_gmail_received_headers") == 0) {
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
	if (strcmp(f, "check_for_forged_gw05_received_headers") == 0) {
		char *rc = hdr_get_s(m, "Received");
		size_t ov[10];
		if (re_find("\\nfrom\\s(\\S+)\\sby\\s(\\S+)\\swith\\sESMTP;\\s+\\S\\S\\S,\\s+\\d+\\s+\\S\\S\\S\\s+\\d{4}\\s+\\d\\d:\\d\\d:\\d\\d\\s+[-+]*\\d{4}\\n$",
		    PCRE2_DOTALL, rc, ov))
			r = memchr(rc + ov[4], '.', ov[5] - ov[4]) == NULL;
		free(rc);
		return r;
	}
	if (strcmp(f, "check_for_matching_env_and_hdr_from") == 0) {
		char from[256], env[256];
		hdr_addr(m, "From", from, 1);
		hdr_addr(m, "EnvelopeFrom", env, 1);
		return strcmp(from, env) == 0;
	}
	if (strcmp(f, "sorted_recipients") == 0)
		return eval_recipients(m, 1, "", "");
	if (strcmp(f, "similar_recipients") == 0)
		return eval_recipients(m, 0, a[0][0] ? a[0] : "undef", a[1][0] ? a[1] : "undef");
	if (strcmp(f, "subject_is_all_caps") == 0) {
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
	if (strcmp(f, "check_for_to_in_subject") == 0) {
		char to[256], *subj, *pat, *q;
		size_t tl;
		hdr_addr(m, "To", to, 0);
		if (to[0] == '\0')
			return 0;
		subj = hdr_get_s(m, "Subject");
		/* quote the address for the pattern (\Q...\E) */
		pat = xcalloc(1, 8 * 256 + 512);
		if (strcmp(a[0], "address") == 0) {
			snprintf(pat, 8 * 256 + 512, "\\b\\Q%s\\E\\b", to);
			r = re_dynamic(pat, PCRE2_CASELESS, subj);
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
	if (strcmp(f, "check_outlook_message_id") == 0) {
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
	if (strcmp(f, "check_messageid_not_usable") == 0) {
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
	if (strcmp(f, "check_unresolved_template") == 0) {
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
	if (strcmp(f, "check_ratware_name_id") == 0) {
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
	if (strcmp(f, "check_ratware_envelope_from") == 0) {
		char to[256], from[256], pat[700], *at;
		hdr_addr(m, "To", to, 0);
		hdr_addr(m, "EnvelopeFrom", from, 0);
		if (from[0] == '\0' || to[0] == '\0' || re_find("^SRS\\d[=+-]", PCRE2_CASELESS, from, NULL))
			return 0;
		if ((at = strchr(to, '@')) == NULL || at == to || at[1] == '\0' || strstr(to, "\\E") != NULL)
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
			snprintf(pat, sizeof(pat), "\\b\\Q%s\\E.\\Q%s\\E@", dom, to);
		}
		return re_dynamic(pat, PCRE2_CASELESS, from);
	}
	if (strcmp(f, "check_equal_from_domains") == 0) {
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
	if (strcmp(f, "check_for_mime") == 0) {
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
	if (strcmp(f, "check_for_mime_html") == 0 || strcmp(f, "check_for_mime_html_only") == 0) {
		char *ct = hdr_get_s(m, "Content-Type");
		r = str_ncasecmp(ct, "text/html", 9) == 0;
		free(ct);
		if (r)
			return 1;
		st = mime_state(m);
		if (strcmp(f, "check_for_mime_html") == 0)
			return st->html_count > 0;
		return st->html_count > 0 && st->text_count == 0;
	}
	if (strcmp(f, "check_mime_multipart_ratio") == 0) {
		st = mime_state(m);
		return st->multipart_ratio >= atof(a[0]) && st->multipart_ratio < atof(a[1]);
	}
	if (strcmp(f, "check_qp_ratio") == 0) {
		st = mime_state(m);
		return st->qp_ratio >= atof(a[0]);
	}
	if (strcmp(f, "check_for_ascii_text_illegal") == 0) {
		st = mime_state(m);
		return st->ascii_text_illegal > 0;
	}
	if (strcmp(f, "check_abundant_unicode_ratio") == 0) {
		st = mime_state(m);
		return st->unicode_ratio >= atof(a[0]);
	}
	if (strcmp(f, "check_msg_parse_flags") == 0) {
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
	if (strcmp(f, "check_for_uppercase") == 0) {
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
	if (strcmp(f, "check_ma_non_text") == 0) {
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
	if (strcmp(f, "check_base64_length") == 0) {
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
	if (strcmp(f, "tvd_vertical_words") == 0) {
		struct tvd t = { -1 };
		double max = atof(a[1]);
		if (max >= 100)
			max = 101;
		body_lines(m, tvd_line, &t);
		return t.max >= atof(a[0]) && t.max < max;
	}
	if (strcmp(f, "check_body_length") == 0) {
		st = state(m);
		return (double)st->pristine_body_length <= atof(a[0]);
	}
	if (strcmp(f, "check_blank_line_ratio") == 0) {
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
	if (strcmp(f, "check_stock_info") == 0) {
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
	if (strcmp(f, "multipart_alternative_difference") == 0 ||
	    strcmp(f, "multipart_alternative_difference_count") == 0)
		return -1;	/* needs each part's rendered text: not kept */

	/* ---- HTMLEval ---- */
	if (strncmp(f, "html_", 5) == 0 && strcmp(f, "html_charset_faraway") != 0) {
		st = html_state(m);
		for (size_t i = 0; i < st->nhtml; i++) {
			struct html_info *h = &st->html[i];
			double v;
			if (strcmp(f, "html_tag_exists") == 0) {
				if (html_inside(h, a[0], 0) != NULL)
					return 1;
			} else if (strcmp(f, "html_tag_balance") == 0) {
				int *in = html_inside(h, a[0], 0);
				if (in != NULL && num_expr(*in, a[1]))
					return 1;
			} else if (strcmp(f, "html_test") == 0) {
				if (strcmp(a[0], "html") == 0)
					return 1;
				if (strcmp(a[0], "embeds") == 0 && html_inside(h, "embed", 0) != NULL)
					return 1;
				if (strcmp(a[0], "html") != 0 && strcmp(a[0], "embeds") != 0)
					return -1;
			} else if (strcmp(f, "html_eval") == 0) {
				if (!html_value(h, a[0], &v)) {
					if (strcmp(a[0], "length") != 0)
						return -1;
					continue;
				}
				if (num_expr(v, a[1]))
					return 1;
			} else if (strcmp(f, "html_range") == 0) {
				if (!html_value(h, a[0], &v)) {
					if (strcmp(a[0], "max_size") == 0 || strcmp(a[0], "min_size") == 0 ||
					    strcmp(a[0], "obfuscation_ratio") == 0)
						return -1;
					continue;
				}
				if (a[2][0] == '\0' || strcmp(a[2], "inf") == 0) {
					if (v > atof(a[1]))
						return 1;
				} else if (v > atof(a[1]) && v <= atof(a[2])) {
					return 1;
				}
			} else if (strcmp(f, "html_image_only") == 0) {
				if (html_inside(h, "img", 0) != NULL && (double)h->length > atof(a[0]) &&
				    (double)h->length <= atof(a[1]))
					return 1;
			} else if (strcmp(f, "html_image_ratio") == 0) {
				if (h->image_area > 0) {
					double ratio = (double)h->non_space_len / (double)h->image_area;
					if (ratio > atof(a[0]) && ratio <= atof(a[1]))
						return 1;
				}
			} else if (strcmp(f, "html_text_match") == 0) {
				const struct strbuf *b = strcmp(a[0], "title") == 0 ? &h->title :
				    strcmp(a[0], "comment") == 0 ? &h->comment :
				    strcmp(a[0], "anchor") == 0 ? &h->anchor : NULL;
				if (b == NULL)
					return -1;
				if (strings_match(b, a[1]))
					return 1;
			} else if (strcmp(f, "html_title_subject_ratio") == 0) {
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
		if (strcmp(f, "html_test") == 0 && strcmp(a[0], "html") != 0 &&
		    strcmp(a[0], "embeds") != 0)
			return -1;
		if ((strcmp(f, "html_range") == 0 || strcmp(f, "html_eval") == 0) &&
		    (strcmp(a[0], "max_size") == 0 || strcmp(a[0], "min_size") == 0 ||
		    strcmp(a[0], "obfuscation_ratio") == 0))
			return -1;
		if (strcmp(f, "html_text_match") == 0 && strcmp(a[0], "title") != 0 &&
		    strcmp(a[0], "comment") != 0 && strcmp(a[0], "anchor") != 0)
			return -1;
		for (size_t i = 0; implemented[i] != NULL; i++)
			if (strcmp(implemented[i], f) == 0)
				return 0;
		return -1;
	}

	/* ---- ImageInfo ---- */
	if (strcmp(f, "image_count") == 0 || strcmp(f, "pixel_coverage") == 0 ||
	    strcmp(f, "image_to_text_ratio") == 0) {
		int t = strcmp(a[0], "all") == 0 ? 0 : strcmp(a[0], "gif") == 0 ? 1 :
		    strcmp(a[0], "png") == 0 ? 2 : strcmp(a[0], "jpeg") == 0 ? 3 : -1;
		double v, min = atof(a[1]);
		if (t < 0 || a[1][0] == '\0')
			return 0;
		st = state(m);
		if (!st->images_done)
			image_state(m, st);
		if (strcmp(f, "image_to_text_ratio") == 0) {
			/* the body (or rawbody) length over the area: body only */
			if (st->area[t] == 0 || m->body_len == 0)
				return 0;
			v = (double)m->body_len / (double)st->area[t];
			if (v < min || (a[2][0] != '\0' && (v > atof(a[2]) || v == atof(a[2]))))
				return 0;
			return 1;
		}
		v = strcmp(f, "image_count") == 0 ? (double)st->count[t] : (double)st->area[t];
		if (v < min || (a[2][0] != '\0' && v > atof(a[2])))
			return 0;
		return 1;
	}

	/* ---- FreeMail ---- */
	if (strcmp(f, "check_freemail_from") == 0) {
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
	if (strcmp(f, "check_freemail_header") == 0) {
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
	if (strcmp(f, "check_freemail_replyto") == 0) {
		if (a[0][0] != '\0' && strcmp(a[0], "replyto") != 0 && strcmp(a[0], "reply") != 0)
			return 0;
		return eval_freemail_replyto(m, a[0][0] != '\0' ? a[0] : "replyto");
	}
	if (strcmp(f, "check_freemail_body") == 0) {
		char found[40][256];
		size_t n;
		if (!freemail_configured(m->config) || !body_emails_freemail(m, found, &n))
			return 0;
		for (size_t i = 0; i < n; i++)
			if (a[0][0] == '\0' || re_dynamic(a[0], 0, found[i]))
				return 1;
		return 0;
	}

	/* ---- WLBLEval ---- */
	if (strcmp(f, "check_from_in_list") == 0 || strcmp(f, "check_replyto_in_list") == 0) {
		char addrs[16][256];
		size_t n;
		const struct addrlist *l = NULL;
		if (m->config != NULL)
			for (size_t i = 0; i < m->config->nlists; i++)
				if (strcmp(m->config->lists[i].name, a[0]) == 0)
					l = &m->config->lists[i];
		if (l == NULL)
			return 0;
		if (strcmp(f, "check_from_in_list") == 0)
			n = all_from_addrs(m, addrs, 16);
		else
			n = header_addrs(m, "Reply-To", addrs, 16);
		return list_addr_match(&l->globs, addrs, n);
	}
	if (strcmp(f, "check_from_in_welcomelist") == 0 || strcmp(f, "check_from_in_whitelist") == 0 ||
	    strcmp(f, "check_from_in_blocklist") == 0 || strcmp(f, "check_from_in_blacklist") == 0 ||
	    strcmp(f, "check_from_in_default_welcomelist") == 0 ||
	    strcmp(f, "check_from_in_default_whitelist") == 0) {
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
	if (strcmp(f, "check_shortcircuit") == 0)
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
	for (size_t i = 0; i < st->nhtml; i++) {
		set_free(&st->html[i].inside_names);
		free(st->html[i].inside);
		strbuf_free(&st->html[i].title);
		strbuf_free(&st->html[i].comment);
		strbuf_free(&st->html[i].anchor);
	}
	free(st->html);
	free(st->html_charsets);
	free(st);
}
