/* SPDX-License-Identifier: MIT */
/*
 * sieve - the Sieve compiler: script text to the tree of sieve_int.h.
 * See sieve.h.
 *
 * A lexer (RFC 5228 8.1: identifiers, tags, numbers with K/M/G, quoted
 * and "text:" strings, "#" and bracket comments) feeds a recursive
 * descent parser that reads each command's and test's arguments
 * generically (tags, numbers, string lists, tests), then checks them
 * against what that command or test takes and builds its node.  All of a
 * script lives in one arena freed at once; the first error longjmps out
 * with its line number, and the arena goes with it.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/sieve.h"
#include "store/sieve_int.h"

/* ---- the arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
};

#define ARENA_BLOCK 16384

static void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	size_t align = sizeof(max_align_t);

	n = (n + align - 1) / align * align;
	if (b == NULL || b->size - b->used < n) {
		size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	b->used += n;
	return memset((char *)b->data + b->used - n, 0, n);
}

static void
arena_free(struct arena *a)
{
	while (a->head != NULL) {
		struct arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
}

/* Grow an array of the arena to hold n + 1 elements of size each. */
static void *
arena_push(struct arena *a, void *v, size_t n, size_t *cap, size_t size)
{
	void *nv;

	if (n < *cap)
		return v;
	*cap = *cap == 0 ? 4 : *cap * 2;
	nv = arena_alloc(a, *cap * size);
	if (n > 0)
		memcpy(nv, v, n * size);
	return nv;
}

/* ---- the compiler's state ---- */

enum tok {
	TK_EOF, TK_IDENT, TK_TAG, TK_NUM, TK_STR, TK_LBRACKET, TK_RBRACKET, TK_LPAREN, TK_RPAREN,
	TK_LBRACE, TK_RBRACE, TK_COMMA, TK_SEMI,
};

struct compiler {
	const char *p, *end;
	int line;
	/* the current token */
	enum tok t;
	int tline;
	char *text;		/* TK_IDENT, TK_TAG (without ':'), TK_STR: in the arena */
	size_t len;
	uint64_t num;
	/* the rest */
	struct arena arena;
	unsigned int ext;
	int items, depth;
	int others;		/* a command other than require was seen */
	char *err;
	size_t errsize;
	jmp_buf fail;
};

static void fail(struct compiler *c, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void
fail(struct compiler *c, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(c->err, c->errsize, "line %d: ", line);
	if (n >= 0 && (size_t)n < c->errsize) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errsize - (size_t)n, fmt, ap);
		va_end(ap);
	}
	longjmp(c->fail, 1);
}

static void
count_item(struct compiler *c, int line)
{
	if (++c->items > SIEVE_MAX_ITEMS)
		fail(c, line, "script too complex (more than %d commands, tests and strings)",
		    SIEVE_MAX_ITEMS);
}

/* A printable picture of a name for error messages. */
static const char *
shown(const char *s, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n + 4 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[n++] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
	}
	if (s[i] != '\0' && n + 4 <= size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- the lexer ---- */

static int
is_ident_start(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static int
is_ident_char(int ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

/* The whole script is UTF-8 without NUL (RFC 5228 2.2, RFC 5804 1.6). */
static void
check_utf8(struct compiler *c)
{
	const unsigned char *p = (const unsigned char *)c->p, *end = (const unsigned char *)c->end;
	int line = 1;

	while (p < end) {
		unsigned int ch = *p, need, cp;

		if (ch == '\n')
			line++;
		if (ch == 0)
			fail(c, line, "NUL byte in the script");
		if (ch < 0x80) {
			p++;
			continue;
		}
		if (ch >= 0xc2 && ch <= 0xdf) {
			need = 1;
			cp = ch & 0x1f;
		} else if (ch >= 0xe0 && ch <= 0xef) {
			need = 2;
			cp = ch & 0x0f;
		} else if (ch >= 0xf0 && ch <= 0xf4) {
			need = 3;
			cp = ch & 0x07;
		} else {
			fail(c, line, "invalid UTF-8");
		}
		if ((size_t)(end - p) <= need)
			fail(c, line, "invalid UTF-8");
		for (unsigned int i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				fail(c, line, "invalid UTF-8");
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			fail(c, line, "invalid UTF-8");
		p += need + 1;
	}
}

static void
skip_blanks(struct compiler *c)
{
	for (;;) {
		while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' ||
		    *c->p == '\n')) {
			if (*c->p == '\n')
				c->line++;
			c->p++;
		}
		if (c->p < c->end && *c->p == '#') {
			while (c->p < c->end && *c->p != '\n')
				c->p++;
			continue;
		}
		if (c->end - c->p >= 2 && c->p[0] == '/' && c->p[1] == '*') {
			int start = c->line;
			c->p += 2;
			for (;;) {
				if (c->end - c->p < 2)
					fail(c, start, "unterminated comment");
				if (c->p[0] == '*' && c->p[1] == '/')
					break;
				if (*c->p == '\n')
					c->line++;
				c->p++;
			}
			c->p += 2;
			continue;
		}
		return;
	}
}

static void
set_text(struct compiler *c, const char *s, size_t len)
{
	c->text = arena_alloc(&c->arena, len + 1);
	memcpy(c->text, s, len);
	c->text[len] = '\0';
	c->len = len;
}

static void
lex_quoted(struct compiler *c)
{
	const char *q;
	char *out;
	size_t n = 0;
	int start = c->line;

	/* Room for the string as written: unescaping only shortens it. */
	for (q = c->p + 1; q < c->end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < c->end)
			q++;
	if (q >= c->end)
		fail(c, start, "unterminated string");
	out = arena_alloc(&c->arena, (size_t)(q - c->p) + 1);
	for (c->p++; *c->p != '"'; c->p++) {
		if (*c->p == '\\')
			c->p++;	/* "\x" is "x": only \" and \\ mean something (2.4.2) */
		if (*c->p == '\n')
			c->line++;
		out[n++] = *c->p;
	}
	c->p++;
	out[n] = '\0';
	c->text = out;
	c->len = n;
}

/* "text:" seen: blanks, a comment or nothing, the line end, lines up to ".". */
static void
lex_multiline(struct compiler *c)
{
	int start = c->line;
	const char *body;
	char *out;
	size_t n = 0;

	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
	if (c->p < c->end && *c->p == '#')
		while (c->p < c->end && *c->p != '\n')
			c->p++;
	if (c->p < c->end && *c->p == '\r')
		c->p++;
	if (c->p >= c->end || *c->p != '\n')
		fail(c, start, "\"text:\" must end its line");
	c->p++;
	c->line++;
	body = c->p;
	out = arena_alloc(&c->arena, (size_t)(c->end - body) + 1);
	for (;;) {
		const char *eol = memchr(c->p, '\n', (size_t)(c->end - c->p));
		size_t len;

		if (eol == NULL)
			fail(c, start, "unterminated multi-line string (a line with a single \".\" "
			    "ends it)");
		len = (size_t)(eol - c->p);
		if ((len == 1 && c->p[0] == '.') || (len == 2 && c->p[0] == '.' && c->p[1] == '\r')) {
			c->p = eol + 1;
			c->line++;
			break;
		}
		if (len >= 2 && c->p[0] == '.' && c->p[1] == '.') {
			c->p++;
			len--;
		}
		memcpy(out + n, c->p, len + 1);
		n += len + 1;
		c->p = eol + 1;
		c->line++;
	}
	out[n] = '\0';
	c->text = out;
	c->len = n;
}

static void
next(struct compiler *c)
{
	char ch;

	skip_blanks(c);
	c->tline = c->line;
	c->text = NULL;
	c->len = 0;
	if (c->p >= c->end) {
		c->t = TK_EOF;
		return;
	}
	ch = *c->p;
	switch (ch) {
	case '[': c->t = TK_LBRACKET; c->p++; return;
	case ']': c->t = TK_RBRACKET; c->p++; return;
	case '(': c->t = TK_LPAREN; c->p++; return;
	case ')': c->t = TK_RPAREN; c->p++; return;
	case '{': c->t = TK_LBRACE; c->p++; return;
	case '}': c->t = TK_RBRACE; c->p++; return;
	case ',': c->t = TK_COMMA; c->p++; return;
	case ';': c->t = TK_SEMI; c->p++; return;
	case '"':
		lex_quoted(c);
		c->t = TK_STR;
		return;
	case ':': {
		const char *s = ++c->p;
		if (c->p >= c->end || !is_ident_start(*c->p))
			fail(c, c->line, "\":\" must start a tag such as \":is\"");
		while (c->p < c->end && is_ident_char(*c->p))
			c->p++;
		set_text(c, s, (size_t)(c->p - s));
		str_lower(c->text);
		c->t = TK_TAG;
		return;
	}
	default:
		break;
	}
	if (ch >= '0' && ch <= '9') {
		uint64_t v = 0, mult = 1;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (v > (UINT64_MAX - 9) / 10)
				fail(c, c->line, "number too large");
			v = v * 10 + (uint64_t)(*c->p++ - '0');
		}
		if (c->p < c->end) {
			switch (*c->p) {
			case 'K': case 'k': mult = 1024; c->p++; break;
			case 'M': case 'm': mult = 1024 * 1024; c->p++; break;
			case 'G': case 'g': mult = 1024 * 1024 * 1024; c->p++; break;
			default: break;
			}
		}
		if (c->p < c->end && is_ident_char(*c->p))
			fail(c, c->line, "bad number: a number may end in K, M or G only");
		if (v > UINT64_MAX / mult)
			fail(c, c->line, "number too large");
		c->num = v * mult;
		c->t = TK_NUM;
		return;
	}
	if (is_ident_start(ch)) {
		const char *s = c->p;
		while (c->p < c->end && is_ident_char(*c->p))
			c->p++;
		if (c->p - s == 4 && str_ncasecmp(s, "text", 4) == 0 && c->p < c->end &&
		    *c->p == ':') {
			c->p++;
			lex_multiline(c);
			c->t = TK_STR;
			return;
		}
		set_text(c, s, (size_t)(c->p - s));
		str_lower(c->text);
		c->t = TK_IDENT;
		return;
	}
	if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f)
		fail(c, c->line, "unexpected character '%c'", ch);
	fail(c, c->line, "unexpected byte 0x%02x", (unsigned char)ch);
}

/* ---- generic arguments ---- */

enum garg_type { GA_TAG, GA_NUM, GA_STRS };

struct garg {
	enum garg_type type;
	int line;
	const char *tag;
	uint64_t num;
	struct sv_list list;
	int bracketed;
};

struct gargs {
	struct garg *v;
	size_t n, cap;
	struct sv_test *tests;
	size_t ntests, tcap;
	int has_tests;		/* a test or a test list followed */
	int test_list;		/* ... in parentheses */
};

static void parse_test(struct compiler *c, struct sv_test *t);

static struct sv_str
make_str(struct compiler *c)
{
	struct sv_str s = { c->text, c->len, 0 };

	if ((c->ext & SV_EXT_VARIABLES) && memmem(c->text, c->len, "${", 2) != NULL)
		s.vars = 1;
	return s;
}

static void
parse_arguments(struct compiler *c, struct gargs *g)
{
	memset(g, 0, sizeof(*g));
	for (;;) {
		struct garg a;

		memset(&a, 0, sizeof(a));
		a.line = c->tline;
		if (c->t == TK_TAG) {
			a.type = GA_TAG;
			a.tag = c->text;
			next(c);
		} else if (c->t == TK_NUM) {
			a.type = GA_NUM;
			a.num = c->num;
			next(c);
		} else if (c->t == TK_STR) {
			a.type = GA_STRS;
			a.list.v = arena_alloc(&c->arena, sizeof(struct sv_str));
			a.list.v[0] = make_str(c);
			a.list.n = 1;
			next(c);
		} else if (c->t == TK_LBRACKET) {
			size_t cap = 0;
			a.type = GA_STRS;
			a.bracketed = 1;
			next(c);
			for (;;) {
				if (c->t != TK_STR)
					fail(c, c->tline, "a string list holds strings: \"[\" \"a\", \"b\" "
					    "\"]\"");
				count_item(c, c->tline);
				a.list.v = arena_push(&c->arena, a.list.v, a.list.n, &cap,
				    sizeof(struct sv_str));
				a.list.v[a.list.n++] = make_str(c);
				next(c);
				if (c->t == TK_RBRACKET)
					break;
				if (c->t != TK_COMMA)
					fail(c, c->tline, "missing \",\" or \"]\" in a string list");
				next(c);
			}
			next(c);
		} else {
			break;
		}
		count_item(c, a.line);
		g->v = arena_push(&c->arena, g->v, g->n, &g->cap, sizeof(*g->v));
		g->v[g->n++] = a;
	}
	if (c->t == TK_IDENT) {
		g->has_tests = 1;
		g->tests = arena_alloc(&c->arena, sizeof(*g->tests));
		g->ntests = 1;
		parse_test(c, &g->tests[0]);
	} else if (c->t == TK_LPAREN) {
		int line = c->tline;
		g->has_tests = g->test_list = 1;
		next(c);
		for (;;) {
			if (c->t != TK_IDENT)
				fail(c, c->tline, "a test list holds tests: \"(\" test, test \")\"");
			g->tests = arena_push(&c->arena, g->tests, g->ntests, &g->tcap,
			    sizeof(*g->tests));
			memset(&g->tests[g->ntests], 0, sizeof(*g->tests));
			parse_test(c, &g->tests[g->ntests++]);
			if (c->t == TK_RPAREN)
				break;
			if (c->t != TK_COMMA)
				fail(c, c->tline, "missing \",\" or \")\" in the test list opened at line "
				    "%d", line);
			next(c);
		}
		next(c);
	}
}

/* ---- checking arguments ---- */

static void
need_ext(struct compiler *c, int line, unsigned int ext, const char *what, const char *name)
{
	if (!(c->ext & ext))
		fail(c, line, "%s needs require \"%s\"", what, name);
}

/* The common tags of tests: comparator, match type, address part. */
struct match_opts {
	int has_cmp, has_match, has_part;
};

static void
set_match(struct compiler *c, struct match_opts *o, const struct garg *a, struct sv_test *t,
    enum sv_match m)
{
	if (o->has_match)
		fail(c, a->line, "more than one match type (:%s)", a->tag);
	o->has_match = 1;
	t->match = m;
}

static const struct garg *
tag_value(struct compiler *c, const struct gargs *g, size_t *i, enum garg_type type,
    const char *what)
{
	const struct garg *tag = &g->v[*i];

	if (*i + 1 >= g->n || g->v[*i + 1].type != type ||
	    (type == GA_STRS && g->v[*i + 1].bracketed))
		fail(c, tag->line, ":%s takes %s", tag->tag, what);
	return &g->v[++*i];
}

/* 1 if g->v[*i] was one of the common tags (consumed with its value). */
static int
common_tag(struct compiler *c, const struct gargs *g, size_t *i, struct sv_test *t,
    struct match_opts *o, int allow_part)
{
	const struct garg *a = &g->v[*i];
	const char *tag = a->tag;

	if (strcmp(tag, "is") == 0) {
		set_match(c, o, a, t, SV_IS);
	} else if (strcmp(tag, "contains") == 0) {
		set_match(c, o, a, t, SV_CONTAINS);
	} else if (strcmp(tag, "matches") == 0) {
		set_match(c, o, a, t, SV_MATCHES);
	} else if (strcmp(tag, "count") == 0 || strcmp(tag, "value") == 0) {
		const struct garg *v;
		const char *op;
		static const char *const ops[] = { "gt", "ge", "lt", "le", "eq", "ne" };
		size_t k;

		need_ext(c, a->line, SV_EXT_RELATIONAL, tag[0] == 'c' ? ":count" : ":value",
		    "relational");
		set_match(c, o, a, t, tag[0] == 'c' ? SV_COUNT : SV_VALUE);
		v = tag_value(c, g, i, GA_STRS, "a relation: \"gt\", \"ge\", \"lt\", \"le\", "
		    "\"eq\" or \"ne\"");
		op = v->list.v[0].s;
		for (k = 0; k < 6; k++)
			if (str_casecmp(op, ops[k]) == 0)
				break;
		if (k == 6)
			fail(c, v->line, "unknown relation \"%s\": use gt, ge, lt, le, eq or ne",
			    shown(op, (char[64]){ 0 }, 64));
		t->rel = (enum sv_rel)k;
	} else if (strcmp(tag, "comparator") == 0) {
		const struct garg *v;
		const char *name;

		if (o->has_cmp)
			fail(c, a->line, "more than one :comparator");
		o->has_cmp = 1;
		v = tag_value(c, g, i, GA_STRS, "a comparator name");
		name = v->list.v[0].s;
		if (strcmp(name, "i;octet") == 0)
			t->cmp = SV_CMP_OCTET;
		else if (strcmp(name, "i;ascii-casemap") == 0)
			t->cmp = SV_CMP_CASEMAP;
		else if (strcmp(name, "i;ascii-numeric") == 0) {
			need_ext(c, v->line, SV_EXT_NUMERIC, "comparator \"i;ascii-numeric\"",
			    "comparator-i;ascii-numeric");
			t->cmp = SV_CMP_NUMERIC;
		} else
			fail(c, v->line, "unknown comparator \"%s\"", shown(name, (char[64]){ 0 }, 64));
	} else if (allow_part && (strcmp(tag, "all") == 0 || strcmp(tag, "localpart") == 0 ||
	    strcmp(tag, "domain") == 0 || strcmp(tag, "user") == 0 ||
	    strcmp(tag, "detail") == 0)) {
		if (o->has_part)
			fail(c, a->line, "more than one address part (:%s)", tag);
		o->has_part = 1;
		if (strcmp(tag, "all") == 0)
			t->part = SV_ALL;
		else if (strcmp(tag, "localpart") == 0)
			t->part = SV_LOCALPART;
		else if (strcmp(tag, "domain") == 0)
			t->part = SV_DOMAIN;
		else {
			need_ext(c, a->line, SV_EXT_SUBADDRESS, tag[0] == 'u' ? ":user" : ":detail",
			    "subaddress");
			t->part = tag[0] == 'u' ? SV_USER : SV_DETAIL;
		}
	} else {
		return 0;
	}
	return 1;
}

static void
check_match(struct compiler *c, int line, const struct sv_test *t)
{
	if (t->cmp == SV_CMP_NUMERIC && (t->match == SV_CONTAINS || t->match == SV_MATCHES))
		fail(c, line, "comparator \"i;ascii-numeric\" cannot do :contains or :matches");
}

/* The positional arguments after the tags: exactly n string lists. */
static void
positional(struct compiler *c, const struct gargs *g, size_t i, size_t n, const char *name,
    const char *usage, int line)
{
	if (g->n - i != n)
		fail(c, line, "%s: wrong arguments (usage: %s)", name, usage);
	for (; i < g->n; i++)
		if (g->v[i].type != GA_STRS)
			fail(c, g->v[i].line, "%s: wrong arguments (usage: %s)", name, usage);
}

static void
no_tests(struct compiler *c, const struct gargs *g, const char *name, int line)
{
	if (g->has_tests)
		fail(c, line, "%s takes no test", name);
}

/* A single string where the grammar wants one, not a list. */
static struct sv_str
one_string(struct compiler *c, const struct garg *a, const char *name, const char *what)
{
	if (a->type != GA_STRS || a->bracketed || a->list.n != 1)
		fail(c, a->line, "%s: %s must be a string, not a list", name, what);
	return a->list.v[0];
}

static int
field_name_ok(const struct sv_str *s)
{
	if (s->vars)
		return 1;
	if (s->len == 0)
		return 0;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char ch = (unsigned char)s->s[i];
		if (ch < 33 || ch > 126 || ch == ':')
			return 0;
	}
	return 1;
}

static void
check_field_names(struct compiler *c, const struct garg *a, const char *name)
{
	for (size_t i = 0; i < a->list.n; i++)
		if (!field_name_ok(&a->list.v[i]))
			fail(c, a->line, "%s: \"%s\" is not a header field name", name,
			    shown(a->list.v[i].s, (char[64]){ 0 }, 64));
}

/* Header fields the address test may read (RFC 5228 5.1: address fields only). */
static int
address_field(const char *name)
{
	static const char *const names[] = {
		"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender",
		"resent-to", "resent-cc", "resent-bcc", "resent-reply-to", "return-path",
		"delivered-to", "disposition-notification-to", "errors-to", "x-original-to",
		"envelope-to", "x-envelope-to", "original-recipient", "mail-followup-to",
		"mail-reply-to",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (str_casecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int
variable_name_ok(const char *s)
{
	if (!is_ident_start((unsigned char)s[0]))
		return 0;
	for (; *s != '\0'; s++)
		if (!is_ident_char((unsigned char)*s))
			return 0;
	return 1;
}

/* ---- tests ---- */

static void
build_test(struct compiler *c, const char *name, int line, struct gargs *g, struct sv_test *t)
{
	struct match_opts o = { 0, 0, 0 };
	size_t i = 0;

	t->line = line;
	t->match = SV_IS;
	t->cmp = SV_CMP_CASEMAP;
	t->part = SV_ALL;
	if (strcmp(name, "true") == 0 || strcmp(name, "false") == 0) {
		if (g->n != 0 || g->has_tests)
			fail(c, line, "%s takes no arguments", name);
		t->kind = name[0] == 't' ? SV_T_TRUE : SV_T_FALSE;
		return;
	}
	if (strcmp(name, "not") == 0) {
		if (g->n != 0 || !g->has_tests || g->test_list)
			fail(c, line, "not takes one test (usage: not <test>)");
		t->kind = SV_T_NOT;
		t->kids = g->tests;
		t->nkids = 1;
		return;
	}
	if (strcmp(name, "allof") == 0 || strcmp(name, "anyof") == 0) {
		if (g->n != 0 || !g->test_list)
			fail(c, line, "%s takes a list of tests (usage: %s (test, test ...))", name, name);
		t->kind = name[1] == 'l' ? SV_T_ALLOF : SV_T_ANYOF;
		t->kids = g->tests;
		t->nkids = g->ntests;
		return;
	}
	no_tests(c, g, name, line);
	if (strcmp(name, "exists") == 0) {
		t->kind = SV_T_EXISTS;
		positional(c, g, 0, 1, name, "exists <header-names>", line);
		check_field_names(c, &g->v[0], name);
		t->a = g->v[0].list;
		return;
	}
	if (strcmp(name, "size") == 0) {
		t->kind = SV_T_SIZE;
		if (g->n != 2 || g->v[0].type != GA_TAG || (strcmp(g->v[0].tag, "over") != 0 &&
		    strcmp(g->v[0].tag, "under") != 0) || g->v[1].type != GA_NUM)
			fail(c, line, "size: wrong arguments (usage: size :over|:under <number>)");
		t->over = g->v[0].tag[0] == 'o';
		t->limit = g->v[1].num;
		return;
	}
	if (strcmp(name, "header") == 0 || strcmp(name, "address") == 0 ||
	    strcmp(name, "envelope") == 0 || strcmp(name, "string") == 0 ||
	    strcmp(name, "body") == 0 || strcmp(name, "hasflag") == 0) {
		int is_addr = strcmp(name, "address") == 0, is_env = strcmp(name, "envelope") == 0;
		int is_body = strcmp(name, "body") == 0, is_flag = strcmp(name, "hasflag") == 0;
		int has_transform = 0;
		size_t want;

		if (is_env)
			need_ext(c, line, SV_EXT_ENVELOPE, "envelope", "envelope");
		if (is_body)
			need_ext(c, line, SV_EXT_BODY, "body", "body");
		if (name[0] == 's')
			need_ext(c, line, SV_EXT_VARIABLES, "string", "variables");
		if (is_flag)
			need_ext(c, line, SV_EXT_IMAP4FLAGS, "hasflag", "imap4flags");
		t->kind = is_addr ? SV_T_ADDRESS : is_env ? SV_T_ENVELOPE : is_body ? SV_T_BODY :
		    is_flag ? SV_T_HASFLAG : name[0] == 's' ? SV_T_STRING : SV_T_HEADER;
		t->body = SV_BODY_TEXT;
		for (; i < g->n && g->v[i].type == GA_TAG; i++) {
			const struct garg *a = &g->v[i];
			if (common_tag(c, g, &i, t, &o, is_addr || is_env))
				continue;
			if (is_body && (strcmp(a->tag, "raw") == 0 || strcmp(a->tag, "text") == 0 ||
			    strcmp(a->tag, "content") == 0)) {
				if (has_transform)
					fail(c, a->line, "body: more than one of :raw, :content, :text");
				has_transform = 1;
				if (a->tag[0] == 'r') {
					t->body = SV_BODY_RAW;
				} else if (a->tag[0] == 't') {
					t->body = SV_BODY_TEXT;
				} else {
					if (i + 1 >= g->n || g->v[i + 1].type != GA_STRS)
						fail(c, a->line, ":content takes a list of content types");
					t->body = SV_BODY_CONTENT;
					t->content_types = g->v[++i].list;
				}
				continue;
			}
			fail(c, a->line, "%s: unknown tag :%s", name, a->tag);
		}
		want = is_body ? 1 : 2;
		if (is_flag && g->n - i == 1)
			want = 1;
		positional(c, g, i, want, name, is_addr ?
		    "address [:comparator c] [:all|:localpart|:domain] [match type] <headers> <keys>" :
		    is_env ?
		    "envelope [:comparator c] [:all|:localpart|:domain] [match type] <parts> <keys>" :
		    is_body ? "body [:comparator c] [match type] [:raw|:content types|:text] <keys>" :
		    is_flag ? "hasflag [match type] [:comparator c] [<variables>] <flags>" :
		    name[0] == 's' ? "string [match type] [:comparator c] <sources> <keys>" :
		    "header [:comparator c] [match type] <header-names> <keys>", line);
		check_match(c, line, t);
		if (want == 2) {
			t->has_a = 1;
			t->a = g->v[i].list;
			t->keys = g->v[i + 1].list;
		} else {
			t->keys = g->v[i].list;
		}
		if (t->kind == SV_T_HEADER || is_addr)
			check_field_names(c, &g->v[i], name);
		if (is_addr) {
			for (size_t k = 0; k < t->a.n; k++)
				if (!t->a.v[k].vars && !address_field(t->a.v[k].s))
					fail(c, g->v[i].line, "address: \"%s\" is not a header field holding "
					    "addresses", shown(t->a.v[k].s, (char[64]){ 0 }, 64));
		}
		if (is_env) {
			for (size_t k = 0; k < t->a.n; k++)
				if (!t->a.v[k].vars && str_casecmp(t->a.v[k].s, "from") != 0 &&
				    str_casecmp(t->a.v[k].s, "to") != 0)
					fail(c, g->v[i].line, "envelope: unknown part \"%s\" (use \"from\" or "
					    "\"to\")", shown(t->a.v[k].s, (char[64]){ 0 }, 64));
		}
		if (is_flag && t->has_a) {
			need_ext(c, line, SV_EXT_VARIABLES, "hasflag with variables", "variables");
			for (size_t k = 0; k < t->a.n; k++)
				if (!t->a.v[k].vars && !variable_name_ok(t->a.v[k].s))
					fail(c, g->v[i].line, "hasflag: \"%s\" is not a variable name",
					    shown(t->a.v[k].s, (char[64]){ 0 }, 64));
		}
		return;
	}
	if (strcmp(name, "mailboxexists") == 0) {
		need_ext(c, line, SV_EXT_MAILBOX, "mailboxexists", "mailbox");
		t->kind = SV_T_MAILBOXEXISTS;
		positional(c, g, 0, 1, name, "mailboxexists <mailbox-names>", line);
		t->a = g->v[0].list;
		return;
	}
	{
		static const char *const commands[] = { "keep", "discard", "stop", "fileinto",
		    "redirect", "reject", "ereject", "vacation", "set", "setflag", "addflag",
		    "removeflag", "require", "if", "elsif", "else" };
		for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
			if (strcmp(name, commands[k]) == 0)
				fail(c, line, "\"%s\" is a command, not a test: a \"{\" or a \";\" is "
				    "missing before it", name);
	}
	fail(c, line, "unknown test \"%s\"", shown(name, (char[64]){ 0 }, 64));
}

static void
parse_test(struct compiler *c, struct sv_test *t)
{
	struct gargs g;
	const char *name = c->text;
	int line = c->tline;

	count_item(c, line);
	if (++c->depth > SIEVE_MAX_DEPTH)
		fail(c, line, "tests nested too deeply (more than %d levels)", SIEVE_MAX_DEPTH);
	next(c);
	parse_arguments(c, &g);
	build_test(c, name, line, &g, t);
	c->depth--;
}

/* ---- commands ---- */

static const struct {
	const char *name;
	unsigned int bit;
} extensions[] = {
	{ "body", SV_EXT_BODY },
	{ "comparator-i;ascii-casemap", SV_EXT_CASEMAP },
	{ "comparator-i;ascii-numeric", SV_EXT_NUMERIC },
	{ "comparator-i;octet", SV_EXT_OCTET },
	{ "copy", SV_EXT_COPY },
	{ "envelope", SV_EXT_ENVELOPE },
	{ "ereject", SV_EXT_EREJECT },
	{ "fileinto", SV_EXT_FILEINTO },
	{ "imap4flags", SV_EXT_IMAP4FLAGS },
	{ "mailbox", SV_EXT_MAILBOX },
	{ "reject", SV_EXT_REJECT },
	{ "relational", SV_EXT_RELATIONAL },
	{ "subaddress", SV_EXT_SUBADDRESS },
	{ "vacation", SV_EXT_VACATION },
	{ "variables", SV_EXT_VARIABLES },
};

const char *
sieve_extensions(void)
{
	/* What ManageSieve announces: the comparators always there go unsaid. */
	return "body comparator-i;ascii-numeric copy envelope ereject fileinto imap4flags mailbox "
	    "reject relational subaddress vacation variables";
}

static void
cmd_require(struct compiler *c, int line, const struct gargs *g)
{
	if (c->others)
		fail(c, line, "require must come before any other command");
	if (g->n != 1 || g->v[0].type != GA_STRS || g->has_tests)
		fail(c, line, "require: wrong arguments (usage: require <capabilities>)");
	for (size_t i = 0; i < g->v[0].list.n; i++) {
		const char *cap = g->v[0].list.v[i].s;
		size_t k;
		for (k = 0; k < sizeof(extensions) / sizeof(extensions[0]); k++)
			if (strcmp(cap, extensions[k].name) == 0)
				break;
		if (k == sizeof(extensions) / sizeof(extensions[0]))
			fail(c, line, "unsupported extension \"%s\"", shown(cap, (char[64]){ 0 }, 64));
		c->ext |= extensions[k].bit;
	}
}

/* :flags <list> on keep and fileinto. */
static int
flags_tag(struct compiler *c, const struct gargs *g, size_t *i, struct sv_cmd *cmd,
    const char *name)
{
	if (strcmp(g->v[*i].tag, "flags") != 0)
		return 0;
	need_ext(c, g->v[*i].line, SV_EXT_IMAP4FLAGS, ":flags", "imap4flags");
	if (cmd->has_flags)
		fail(c, g->v[*i].line, "%s: more than one :flags", name);
	if (*i + 1 >= g->n || g->v[*i + 1].type != GA_STRS)
		fail(c, g->v[*i].line, ":flags takes a list of flags");
	cmd->has_flags = 1;
	cmd->flags = g->v[++*i].list;
	return 1;
}

/* 1 if s is one address (local@domain, maybe with a display name). */
static int
one_address(const char *s)
{
	char *addrs[2] = { NULL, NULL };
	size_t n = sv_address_list(s, addrs, 2);
	int ok = n == 1 && strchr(addrs[0], '@') != NULL && addrs[0][0] != '@' &&
	    addrs[0][strlen(addrs[0]) - 1] != '@';

	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	return ok;
}

static void
check_redirect_address(struct compiler *c, int line, const struct sv_str *s)
{
	if (!s->vars && !one_address(s->s))
		fail(c, line, "redirect: \"%s\" is not an address", shown(s->s, (char[64]){ 0 }, 64));
}

static void
build_command(struct compiler *c, const char *name, int line, struct gargs *g,
    struct sv_cmd *cmd)
{
	size_t i = 0;

	cmd->line = line;
	if (strcmp(name, "stop") == 0 || strcmp(name, "discard") == 0) {
		if (g->n != 0 || g->has_tests)
			fail(c, line, "%s takes no arguments", name);
		cmd->kind = name[0] == 's' ? SV_C_STOP : SV_C_DISCARD;
		return;
	}
	no_tests(c, g, name, line);
	if (strcmp(name, "keep") == 0) {
		cmd->kind = SV_C_KEEP;
		for (; i < g->n && g->v[i].type == GA_TAG; i++)
			if (!flags_tag(c, g, &i, cmd, name))
				fail(c, g->v[i].line, "keep: unknown tag :%s", g->v[i].tag);
		if (i != g->n)
			fail(c, line, "keep: wrong arguments (usage: keep [:flags <flags>])");
		return;
	}
	if (strcmp(name, "fileinto") == 0) {
		need_ext(c, line, SV_EXT_FILEINTO, "fileinto", "fileinto");
		cmd->kind = SV_C_FILEINTO;
		for (; i < g->n && g->v[i].type == GA_TAG; i++) {
			const struct garg *a = &g->v[i];
			if (flags_tag(c, g, &i, cmd, name))
				continue;
			if (strcmp(a->tag, "copy") == 0) {
				need_ext(c, a->line, SV_EXT_COPY, ":copy", "copy");
				cmd->copy = 1;
			} else if (strcmp(a->tag, "create") == 0) {
				need_ext(c, a->line, SV_EXT_MAILBOX, ":create", "mailbox");
				cmd->create = 1;
			} else {
				fail(c, a->line, "fileinto: unknown tag :%s", a->tag);
			}
		}
		positional(c, g, i, 1, name, "fileinto [:copy] [:create] [:flags <flags>] <mailbox>",
		    line);
		cmd->arg = one_string(c, &g->v[i], name, "the mailbox");
		if (!cmd->arg.vars && cmd->arg.len == 0)
			fail(c, line, "fileinto: empty mailbox name");
		return;
	}
	if (strcmp(name, "redirect") == 0) {
		cmd->kind = SV_C_REDIRECT;
		for (; i < g->n && g->v[i].type == GA_TAG; i++) {
			if (strcmp(g->v[i].tag, "copy") != 0)
				fail(c, g->v[i].line, "redirect: unknown tag :%s", g->v[i].tag);
			need_ext(c, g->v[i].line, SV_EXT_COPY, ":copy", "copy");
			cmd->copy = 1;
		}
		positional(c, g, i, 1, name, "redirect [:copy] <address>", line);
		cmd->arg = one_string(c, &g->v[i], name, "the address");
		check_redirect_address(c, line, &cmd->arg);
		return;
	}
	if (strcmp(name, "reject") == 0 || strcmp(name, "ereject") == 0) {
		int e = name[0] == 'e';
		need_ext(c, line, e ? SV_EXT_EREJECT : SV_EXT_REJECT, name, name);
		cmd->kind = e ? SV_C_EREJECT : SV_C_REJECT;
		positional(c, g, 0, 1, name, e ? "ereject <reason>" : "reject <reason>", line);
		cmd->arg = one_string(c, &g->v[0], name, "the reason");
		return;
	}
	if (strcmp(name, "vacation") == 0) {
		need_ext(c, line, SV_EXT_VACATION, "vacation", "vacation");
		cmd->kind = SV_C_VACATION;
		for (; i < g->n && g->v[i].type == GA_TAG; i++) {
			const struct garg *a = &g->v[i];
			const char *tag = a->tag;
			if (strcmp(tag, "days") == 0) {
				if (cmd->has_days)
					fail(c, a->line, "vacation: more than one :days");
				cmd->has_days = 1;
				cmd->days = tag_value(c, g, &i, GA_NUM, "a number of days")->num;
			} else if (strcmp(tag, "subject") == 0 || strcmp(tag, "from") == 0 ||
			    strcmp(tag, "handle") == 0) {
				int *has = tag[0] == 's' ? &cmd->has_subject : tag[0] == 'f' ?
				    &cmd->has_from : &cmd->has_handle;
				struct sv_str *v = tag[0] == 's' ? &cmd->subject : tag[0] == 'f' ?
				    &cmd->from : &cmd->handle;
				if (*has)
					fail(c, a->line, "vacation: more than one :%s", tag);
				*has = 1;
				*v = tag_value(c, g, &i, GA_STRS, "a string")->list.v[0];
			} else if (strcmp(tag, "addresses") == 0) {
				if (cmd->addresses.v != NULL)
					fail(c, a->line, "vacation: more than one :addresses");
				if (i + 1 >= g->n || g->v[i + 1].type != GA_STRS)
					fail(c, a->line, ":addresses takes a list of addresses");
				cmd->addresses = g->v[++i].list;
			} else if (strcmp(tag, "mime") == 0) {
				cmd->mime = 1;
			} else {
				fail(c, a->line, "vacation: unknown tag :%s", tag);
			}
		}
		positional(c, g, i, 1, name, "vacation [:days n] [:subject s] [:from f] "
		    "[:addresses list] [:mime] [:handle h] <reason>", line);
		cmd->arg = one_string(c, &g->v[i], name, "the reason");
		if (cmd->has_from && !cmd->from.vars && !one_address(cmd->from.s))
			fail(c, line, "vacation: :from \"%s\" is not an address",
			    shown(cmd->from.s, (char[64]){ 0 }, 64));
		return;
	}
	if (strcmp(name, "set") == 0) {
		static const struct {
			const char *tag;
			unsigned int bit;
		} mods[] = {
			{ "lower", SV_MOD_LOWER }, { "upper", SV_MOD_UPPER },
			{ "lowerfirst", SV_MOD_LOWERFIRST }, { "upperfirst", SV_MOD_UPPERFIRST },
			{ "quotewildcard", SV_MOD_QUOTEWILDCARD }, { "length", SV_MOD_LENGTH },
		};
		need_ext(c, line, SV_EXT_VARIABLES, "set", "variables");
		cmd->kind = SV_C_SET;
		for (; i < g->n && g->v[i].type == GA_TAG; i++) {
			size_t k;
			for (k = 0; k < sizeof(mods) / sizeof(mods[0]); k++)
				if (strcmp(g->v[i].tag, mods[k].tag) == 0)
					break;
			if (k == sizeof(mods) / sizeof(mods[0]))
				fail(c, g->v[i].line, "set: unknown modifier :%s", g->v[i].tag);
			cmd->modifiers |= mods[k].bit;
		}
		/* Two modifiers of one precedence (RFC 5229 4.1) may not go together. */
		if ((cmd->modifiers & (SV_MOD_LOWER | SV_MOD_UPPER)) == (SV_MOD_LOWER | SV_MOD_UPPER) ||
		    (cmd->modifiers & (SV_MOD_LOWERFIRST | SV_MOD_UPPERFIRST)) ==
		    (SV_MOD_LOWERFIRST | SV_MOD_UPPERFIRST))
			fail(c, line, "set: :lower and :upper (or :lowerfirst and :upperfirst) "
			    "cannot go together");
		positional(c, g, i, 2, name, "set [modifiers] <name> <value>", line);
		cmd->arg = one_string(c, &g->v[i], name, "the variable name");
		cmd->value = one_string(c, &g->v[i + 1], name, "the value");
		if (!variable_name_ok(cmd->arg.s))
			fail(c, line, "set: \"%s\" is not a variable name",
			    shown(cmd->arg.s, (char[64]){ 0 }, 64));
		return;
	}
	if (strcmp(name, "setflag") == 0 || strcmp(name, "addflag") == 0 ||
	    strcmp(name, "removeflag") == 0) {
		need_ext(c, line, SV_EXT_IMAP4FLAGS, name, "imap4flags");
		cmd->kind = name[0] == 's' ? SV_C_SETFLAG : name[0] == 'a' ? SV_C_ADDFLAG :
		    SV_C_REMOVEFLAG;
		if (g->n == 2) {
			positional(c, g, 0, 2, name, "setflag [<variable>] <flags>", line);
			need_ext(c, line, SV_EXT_VARIABLES, "a flag variable", "variables");
			cmd->has_var = 1;
			cmd->var = one_string(c, &g->v[0], name, "the variable name");
			if (!cmd->var.vars && !variable_name_ok(cmd->var.s))
				fail(c, line, "%s: \"%s\" is not a variable name", name,
				    shown(cmd->var.s, (char[64]){ 0 }, 64));
			cmd->flags = g->v[1].list;
		} else {
			positional(c, g, 0, 1, name, "setflag [<variable>] <flags>", line);
			cmd->flags = g->v[0].list;
		}
		return;
	}
	fail(c, line, "unknown command \"%s\"", shown(name, (char[64]){ 0 }, 64));
}

static void parse_commands(struct compiler *c, struct sv_block *b, int braces);

static void
parse_block(struct compiler *c, struct sv_block *b, const char *name)
{
	int line = c->tline;

	if (c->t != TK_LBRACE)
		fail(c, c->tline, "%s needs a block: { ... }", name);
	if (++c->depth > SIEVE_MAX_DEPTH)
		fail(c, line, "blocks nested too deeply (more than %d levels)", SIEVE_MAX_DEPTH);
	next(c);
	parse_commands(c, b, line);
	c->depth--;
	next(c);
}

static void
parse_commands(struct compiler *c, struct sv_block *b, int braces)
{
	size_t cap = 0;

	for (;;) {
		struct gargs g;
		const char *name;
		int line = c->tline;

		if (c->t == TK_EOF) {
			if (braces > 0)
				fail(c, braces, "the block opened here is not closed: \"}\" missing");
			return;
		}
		if (c->t == TK_RBRACE) {
			if (braces == 0)
				fail(c, line, "\"}\" without a block to close");
			return;
		}
		if (c->t != TK_IDENT)
			fail(c, line, "a command is expected here (a name such as \"if\" or \"keep\")");
		name = c->text;
		count_item(c, line);
		next(c);
		parse_arguments(c, &g);
		if (strcmp(name, "require") == 0) {
			cmd_require(c, line, &g);
			if (c->t != TK_SEMI)
				fail(c, c->tline, "missing \";\" after require");
			next(c);
			continue;
		}
		c->others = 1;
		if (strcmp(name, "if") == 0 || strcmp(name, "elsif") == 0 || strcmp(name, "else") == 0) {
			struct sv_cmd *prev = b->n > 0 ? &b->cmds[b->n - 1] : NULL;
			struct sv_branch br;

			memset(&br, 0, sizeof(br));
			if (name[1] != 'f' && (prev == NULL || prev->kind != SV_C_IF ||
			    prev->branches[prev->nbranches - 1].test == NULL))
				fail(c, line, "%s without a preceding if", name);
			if (name[1] == 'l' && name[2] == 's' && name[3] == 'e') {
				if (g.n != 0 || g.has_tests)
					fail(c, line, "else takes no test");
			} else {
				if (g.n != 0 || !g.has_tests || g.test_list)
					fail(c, line, "%s takes one test (usage: %s <test> { ... })", name,
					    name);
				br.test = &g.tests[0];
			}
			parse_block(c, &br.block, name);
			if (name[1] == 'f') {
				struct sv_cmd *cmd;
				b->cmds = arena_push(&c->arena, b->cmds, b->n, &cap, sizeof(*b->cmds));
				cmd = &b->cmds[b->n++];
				memset(cmd, 0, sizeof(*cmd));
				cmd->kind = SV_C_IF;
				cmd->line = line;
				cmd->branches = arena_alloc(&c->arena, sizeof(br));
				cmd->branches[0] = br;
				cmd->nbranches = 1;
			} else {
				struct sv_branch *nb = arena_alloc(&c->arena,
				    (prev->nbranches + 1) * sizeof(br));
				memcpy(nb, prev->branches, prev->nbranches * sizeof(br));
				nb[prev->nbranches] = br;
				prev->branches = nb;
				prev->nbranches++;
			}
			continue;
		}
		b->cmds = arena_push(&c->arena, b->cmds, b->n, &cap, sizeof(*b->cmds));
		memset(&b->cmds[b->n], 0, sizeof(*b->cmds));
		build_command(c, name, line, &g, &b->cmds[b->n]);
		b->n++;
		if (c->t == TK_LBRACE)
			fail(c, c->tline, "%s takes no block", name);
		if (c->t != TK_SEMI)
			fail(c, c->tline, "missing \";\" after %s", name);
		next(c);
	}
}

static int
compile(struct compiler *c, struct sieve_script *s)
{
	if (setjmp(c->fail) != 0)
		return -1;
	check_utf8(c);
	next(c);
	parse_commands(c, &s->top, 0);
	return 0;
}

struct sieve_script *
sieve_compile(const char *text, size_t len, char *error_r, size_t size)
{
	struct compiler *c;
	struct sieve_script *s;
	struct arena *arena;

	if (size > 0)
		error_r[0] = '\0';
	if (len > SIEVE_MAX_SCRIPT_SIZE) {
		snprintf(error_r, size, "line 1: script too big (%zu bytes, at most %d)", len,
		    SIEVE_MAX_SCRIPT_SIZE);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->p = text;
	c->end = text + len;
	c->line = 1;
	c->err = error_r;
	c->errsize = size;
	s = arena_alloc(&c->arena, sizeof(*s));
	if (compile(c, s) < 0) {
		arena_free(&c->arena);
		free(c);
		return NULL;
	}
	s->ext = c->ext;
	/* The arena holds the script: keep its head in a block of its own. */
	arena = xmalloc(sizeof(*arena));
	*arena = c->arena;
	s->arena = arena;
	free(c);
	return s;
}

void
sieve_script_free(struct sieve_script **sp)
{
	struct arena *a;

	if (*sp == NULL)
		return;
	a = (*sp)->arena;
	*sp = NULL;
	arena_free(a);
	free(a);
}

/* ---- addresses (shared with the interpreter and vacation) ---- */

/*
 * A tolerant RFC 5322 address-list reader: comments, quoted strings,
 * angle brackets (an address inside them wins over the words around it),
 * groups ("name: a, b;"), routes ("<@a,@b:x@y>").
 */
size_t
sv_address_list(const char *raw, char **out, size_t max)
{
	struct strbuf_s {
		char *d;
		size_t len, size;
	} cur = { NULL, 0, 0 }, angle = { NULL, 0, 0 };
	size_t n = 0;
	int in_angle = 0, have_angle = 0;
	const char *p = raw;

#define PUT(b, ch) do { \
		if ((b).len + 2 > (b).size) { \
			(b).size = (b).size == 0 ? 64 : (b).size * 2; \
			(b).d = xrealloc((b).d, (b).size); \
		} \
		(b).d[(b).len++] = (ch); \
		(b).d[(b).len] = '\0'; \
	} while (0)

	for (;; p++) {
		char ch = *p;

		if (ch == '\0' || ch == ',' || ch == ';') {
			if (in_angle && ch != '\0') {
				/* "," inside <...> separates route hops: the route is dropped later. */
				PUT(angle, ch);
				continue;
			}
			{
				struct strbuf_s *b = have_angle ? &angle : &cur;
				const char *a = b->d;
				if (a != NULL && have_angle) {
					/* Drop a route: "@a,@b:" before the address. */
					const char *colon = a[0] == '@' ? strchr(a, ':') : NULL;
					if (colon != NULL)
						a = colon + 1;
				}
				if (a != NULL && a[0] != '\0' && n < max)
					out[n++] = xstrdup(a);
			}
			cur.len = angle.len = 0;
			if (cur.d != NULL)
				cur.d[0] = '\0';
			if (angle.d != NULL)
				angle.d[0] = '\0';
			in_angle = have_angle = 0;
			if (ch == '\0')
				break;
			continue;
		}
		if (ch == '(') {
			int depth = 1;
			for (p++; *p != '\0' && depth > 0; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				else if (*p == '(')
					depth++;
				else if (*p == ')')
					depth--;
			}
			p--;
			continue;
		}
		if (ch == '"') {
			/* A quoted local part keeps its text without the quotes. */
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (in_angle)
					PUT(angle, *p);
				else
					PUT(cur, *p);
			}
			if (*p == '\0')
				p--;
			continue;
		}
		if (ch == '<') {
			in_angle = have_angle = 1;
			angle.len = 0;
			if (angle.d != NULL)
				angle.d[0] = '\0';
			continue;
		}
		if (ch == '>') {
			in_angle = 0;
			continue;
		}
		if (ch == ':' && !in_angle) {
			/* A group's name: forget it. */
			cur.len = 0;
			if (cur.d != NULL)
				cur.d[0] = '\0';
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
			continue;
		if (in_angle)
			PUT(angle, ch);
		else
			PUT(cur, ch);
	}
#undef PUT
	free(cur.d);
	free(angle.d);
	return n;
}
