/* SPDX-License-Identifier: MIT */
/*
 * rules_relax - see rules_relax.h.  A walk over the pattern that knows
 * escapes, classes and groups, enough to find what to drop; anything it
 * does not understand gives up (NULL) rather than guess.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/rules_relax.h"
#include "filter/strbuf.h"

/* After a POSIX class [:name:] or [:^name:] at q, or NULL if q starts none. */
static const char *
posix_class_end(const char *q)
{
	const char *e = q + 2;

	if (q[0] != '[' || q[1] != ':')
		return NULL;
	if (*e == '^')
		e++;
	if (*e < 'a' || *e > 'z')
		return NULL;
	while (*e >= 'a' && *e <= 'z')
		e++;
	return e[0] == ':' && e[1] == ']' ? e + 2 : NULL;
}

/*
 * The ']' closing the class that starts at p ('['), or NULL: a ']' first
 * is literal, backslash escapes (\c the next two bytes), [:name:] nests
 * (PCRE2 reads "[:" as a POSIX class only with a name and ":]" right
 * after it).
 */
static const char *
class_end(const char *p)
{
	const char *q = p + 1, *e;

	if (*q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q != '\0' && *q != ']') {
		if (*q == '\\' && q[1] == 'c' && q[2] != '\0')
			q += 3;		/* \cX: X is the escape's, even a ']' */
		else if (*q == '\\' && q[1] != '\0')
			q += 2;
		else if ((e = posix_class_end(q)) != NULL)
			q = e;
		else
			q++;
	}
	return *q == ']' ? q : NULL;
}

/* The rewritten pattern in b, NUL-terminated, when it changed; else NULL (b freed). */
static char *
rewritten(struct strbuf *b, int changed)
{
	if (!changed) {
		strbuf_free(b);
		return NULL;
	}
	strbuf_putc(b, '\0');
	return b->data;
}

static char *
relax(const char *p, int extended, int anchors)
{
	struct strbuf b = { 0 };
	int changed = 0;

	/*
	 * A conditional's condition cannot be dropped: (?(?=x)a) would become
	 * (?a).  A verb's name, (*MARK:...), is not pattern text: rewritten,
	 * it could end elsewhere.
	 */
	if (extended || strstr(p, "\\Q") != NULL || strstr(p, "(?(") != NULL ||
	    strstr(p, "(*") != NULL)
		return NULL;
	while (*p != '\0') {
		int drop = 0;

		if (*p == '\\' && p[1] != '\0') {
			char c = p[1];

			if (anchors && (c == 'A' || c == 'z' || c == 'Z')) {
				strbuf_append(&b, p, 2);
				p += 2;
				continue;
			} else if (c == 'A' || c == 'z' || c == 'Z' || c == 'G') {
				p += 2;
				drop = 1;
			} else if ((c >= '1' && c <= '9') || c == 'g' || c == 'k') {
				/* \N, \g{N}, \g{-N}, \k<name>, \k{name}, \k'name' */
				p += 2;
				if (c != 'g' && c != 'k') {
					while (*p >= '0' && *p <= '9')
						p++;
				} else if (*p == '{' || *p == '<' || *p == '\'') {
					char close = *p == '{' ? '}' : *p == '<' ? '>' : '\'';
					const char *e = strchr(p + 1, close);
					if (e == NULL) {
						strbuf_free(&b);
						return NULL;
					}
					p = e + 1;
				} else {
					if (*p == '-')
						p++;
					while (*p >= '0' && *p <= '9')
						p++;
				}
				/* Any text, taken as such: a quantifier on it (possessive ...) is not. */
				if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
					strbuf_free(&b);
					return NULL;
				}
				strbuf_append(&b, "(?s:.*)", 7);
				changed = 1;
				continue;
			} else if (c == 'c' && p[2] != '\0') {
				/* \cX is one character, whatever X is (\c^ too). */
				strbuf_append(&b, p, 3);
				p += 3;
				continue;
			} else if ((c == 'x' || c == 'o' || c == 'p' || c == 'P' || c == 'N') &&
			    p[2] == '{') {
				/* \x{..}, \p{^Lu} ...: the braces are the escape's */
				const char *e = strchr(p + 3, '}');

				if (e == NULL) {
					strbuf_free(&b);
					return NULL;
				}
				strbuf_append(&b, p, (size_t)(e + 1 - p));
				p = e + 1;
				continue;
			} else {
				strbuf_append(&b, p, 2);
				p += 2;
				continue;
			}
		} else if (*p == '[') {
			/* A class is copied whole. */
			const char *q = class_end(p);

			if (q == NULL) {
				strbuf_free(&b);
				return NULL;
			}
			strbuf_append(&b, p, (size_t)(q + 1 - p));
			p = q + 1;
			continue;
		} else if (p[0] == '(' && p[1] == '?' && p[2] == '#') {
			/* A comment is text up to the first ')', escapes or not. */
			const char *e = strchr(p, ')');

			if (e == NULL) {
				strbuf_free(&b);
				return NULL;
			}
			strbuf_append(&b, p, (size_t)(e + 1 - p));
			p = e + 1;
			continue;
		} else if ((*p == '^' || *p == '$') && anchors) {
			strbuf_putc(&b, *p);
			p++;
			continue;
		} else if (*p == '^' || *p == '$') {
			p++;
			drop = 1;
		} else if (p[0] == '(' && p[1] == '?' && p[2] == '>') {
			/* An atomic group as a plain one: it can only match more. */
			strbuf_append(&b, "(?:", 3);
			p += 3;
			changed = 1;
			continue;
		} else if (*p == '(' && p[1] == '?' && (p[2] == '=' || p[2] == '!' ||
		    (p[2] == '<' && (p[3] == '=' || p[3] == '!')))) {
			/* A look-around: skip to its closing parenthesis. */
			int depth = 0;

			for (; *p != '\0'; p++) {
				if (*p == '\\' && p[1] != '\0') {
					p++;
				} else if (*p == '[') {
					const char *q = class_end(p);
					if (q == NULL)
						break;
					p = q;
				} else if (*p == '(') {
					depth++;
				} else if (*p == ')' && --depth == 0) {
					break;
				}
			}
			if (*p != ')') {
				strbuf_free(&b);
				return NULL;
			}
			p++;
			drop = 1;
		} else {
			strbuf_putc(&b, *p);
			p++;
			continue;
		}
		if (drop) {
			changed = 1;
			/* What was dropped matched no text: a quantifier on it is an error. */
			if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
				strbuf_free(&b);
				return NULL;
			}
		}
	}
	return rewritten(&b, changed);
}

char *
rules_relax_pattern(const char *p, int extended)
{
	return relax(p, extended, 0);
}

char *
rules_relax_anchored(const char *p, int extended)
{
	return relax(p, extended, 1);
}

/* ---- factoring repeated groups into subroutines ---- */

struct span {
	unsigned int str;	/* which text: 0 the pattern, k > 0 definition k - 1 */
	size_t at, len;		/* "(?:...)" */
	int repeated;		/* followed by a quantifier that repeats it */
};

struct texts {
	char **v;
	size_t n;
};

#define WIDE_INF 0xffffffffu

/*
 * {n}, {n,} or {n,m} at p: 1 with its bounds (hi WIDE_INF for {n,}) and
 * the end, 0 if it is no quantifier, -1 for a number of more than 5
 * digits (PCRE2 does not read those as Perl does).
 */
static int
braces(const char *p, unsigned int *lo_r, unsigned int *hi_r, const char **end_r)
{
	unsigned int n = 0, m = 0;
	int nd = 0, md = 0, comma = 0;

	if (*p != '{')
		return 0;
	for (p++; *p != '}'; p++) {
		if (*p >= '0' && *p <= '9') {
			if (comma) {
				m = m * 10 + (unsigned int)(*p - '0');
				md++;
			} else {
				n = n * 10 + (unsigned int)(*p - '0');
				nd++;
			}
			if (nd > 5 || md > 5)
				return -1;
		} else if (*p == ',' && !comma) {
			comma = 1;
		} else {
			return 0;
		}
	}
	if (nd == 0)
		return 0;
	*lo_r = n;
	*hi_r = !comma ? n : md == 0 ? WIDE_INF : m;
	*end_r = p + 1;
	return 1;
}

/* A quantifier at p that can repeat what it follows (a bound of 2 or more): 1, else as braces(). */
static int
repeat_quantifier(const char *p)
{
	unsigned int lo, hi;
	const char *end;
	int rc = braces(p, &lo, &hi, &end);

	return rc <= 0 ? rc : lo >= 2 || hi >= 2;
}

/* Every (?:...) group of s into spans; -1 if s is beyond this reading. */
static int
find_groups(const char *s, unsigned int str, struct span **v, size_t *n, size_t *alloc)
{
	size_t stack[256];
	int plain[256];
	unsigned int depth = 0;

	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0' || (p[1] == 'c' && p[2] == '\0'))
				return -1;
			/* \cX is one character, whatever X is: \c) is not a parenthesis. */
			p += p[1] == 'c' ? 2 : 1;
		} else if (*p == '[') {
			const char *q = class_end(p);

			if (q == NULL)
				return -1;
			p = q;
		} else if (*p == '(') {
			if (depth == sizeof(stack) / sizeof(stack[0]))
				return -1;
			stack[depth] = (size_t)(p - s);
			plain[depth++] = p[1] == '?' && p[2] == ':';
		} else if (*p == ')') {
			int repeated;

			if (depth == 0)
				return -1;
			depth--;
			if ((repeated = repeat_quantifier(p + 1)) < 0)
				return -1;
			if (!plain[depth])
				continue;
			if (*n == *alloc) {
				*alloc = *alloc ? 2 * *alloc : 256;
				*v = xrealloc(*v, *alloc * sizeof(**v));
			}
			(*v)[*n].str = str;
			(*v)[*n].at = stack[depth];
			(*v)[*n].len = (size_t)(p + 1 - s) - stack[depth];
			(*v)[*n].repeated = repeated;
			(*n)++;
		}
	}
	return depth == 0 ? 0 : -1;
}

static const struct texts *sort_texts;

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	int c;

	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	c = memcmp(sort_texts->v[x->str] + x->at, sort_texts->v[y->str] + y->at, x->len);
	if (c != 0)
		return c;
	if (x->str != y->str)
		return x->str < y->str ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* Replace the group at spans[from..to) (one text, in order) by "(?&facteur_fK)". */
static void
replace_spans(struct texts *t, const struct span *spans, size_t from, size_t to, size_t k)
{
	char call[48];

	snprintf(call, sizeof(call), "(?&facteur_f%zu)", k);
	for (unsigned int str = 0; str < t->n; str++) {
		struct strbuf b = { 0 };
		size_t at = 0;
		int any = 0;

		for (size_t i = from; i < to; i++) {
			if (spans[i].str != str || spans[i].at < at)
				continue;
			strbuf_append(&b, t->v[str] + at, spans[i].at - at);
			strbuf_append(&b, call, strlen(call));
			at = spans[i].at + spans[i].len;
			any = 1;
		}
		if (!any) {
			strbuf_free(&b);
			continue;
		}
		strbuf_append(&b, t->v[str] + at, strlen(t->v[str] + at));
		strbuf_putc(&b, '\0');
		free(t->v[str]);
		t->v[str] = b.data;
	}
}

char *
rules_factor_pattern(const char *p, size_t min_len)
{
	struct texts t = { NULL, 0 };
	struct strbuf b = { 0 };
	int changed = 0;

	if (strstr(p, "\\Q") != NULL)
		return NULL;
	for (const char *q = p; *q != '\0'; q++) {
		if (*q == '\\') {
			/* back-references: group numbers must not move */
			if (q[1] == '\0' || (q[1] >= '1' && q[1] <= '9') || q[1] == 'g' || q[1] == 'k' ||
			    (q[1] == 'c' && q[2] == '\0'))
				return NULL;
			q += q[1] == 'c' ? 2 : 1;
		} else if (*q == '[') {
			if ((q = class_end(q)) == NULL)
				return NULL;
		} else if (*q == '{' && repeat_quantifier(q) < 0) {
			return NULL;
		} else if (q[0] == '(' && (q[1] == '*' || (q[1] == '?' &&
		    strchr(":=!<>", q[2]) == NULL) || (q[1] == '?' && q[2] == '<' &&
		    q[3] != '=' && q[3] != '!'))) {
			/*
			 * Verbs, conditions, calls, recursion, branch resets,
			 * comments, named groups, and options set inside the
			 * pattern (a definition takes those where it stands).
			 */
			return NULL;
		}
	}
	t.v = xmalloc(sizeof(*t.v));
	t.v[0] = xstrdup(p);
	t.n = 1;
	for (unsigned int round = 0; round < 256; round++) {
		struct span *spans = NULL;
		size_t n = 0, alloc = 0, best = 0, best_end = 0;
		int found = 0;

		for (unsigned int str = 0; str < t.n; str++)
			if (find_groups(t.v[str], str, &spans, &n, &alloc) < 0) {
				free(spans);
				changed = 0;
				goto done;
			}
		if (n == 0)
			break;
		sort_texts = &t;
		qsort(spans, n, sizeof(*spans), span_cmp);
		/* The longest group that is there twice, or repeated by a quantifier. */
		for (size_t i = 0; i < n && !found; ) {
			size_t j = i + 1;
			int repeated = spans[i].repeated;

			if (spans[i].len < min_len)
				break;
			while (j < n && spans[j].len == spans[i].len &&
			    memcmp(t.v[spans[j].str] + spans[j].at, t.v[spans[i].str] + spans[i].at,
			    spans[i].len) == 0)
				repeated |= spans[j++].repeated;
			if (j - i >= 2 || repeated) {
				best = i;
				best_end = j;
				found = 1;
			}
			i = j;
		}
		if (!found) {
			free(spans);
			break;
		}
		{
			const struct span *s = &spans[best];
			char *def = xstrndup(t.v[s->str] + s->at + 3, s->len - 4);

			replace_spans(&t, spans, best, best_end, t.n - 1);
			t.v = xrealloc(t.v, (t.n + 1) * sizeof(*t.v));
			t.v[t.n++] = def;
			changed = 1;
		}
		free(spans);
	}
done:
	if (changed) {
		strbuf_append(&b, t.v[0], strlen(t.v[0]));
		strbuf_append(&b, "(?(DEFINE)", 10);
		for (size_t k = 1; k < t.n; k++) {
			char name[48];

			snprintf(name, sizeof(name), "(?<facteur_f%zu>", k - 1);
			strbuf_append(&b, name, strlen(name));
			strbuf_append(&b, t.v[k], strlen(t.v[k]));
			strbuf_putc(&b, ')');
		}
		strbuf_append(&b, ")", 1);
		strbuf_putc(&b, '\0');
	}
	for (size_t k = 0; k < t.n; k++)
		free(t.v[k]);
	free(t.v);
	return changed ? b.data : NULL;
}

/* ---- non-ASCII alternatives widened: a prefilter for look-alike letters ---- */

/* A parsed piece: only bytes from 0x80 (lengths lo..hi), or text. */
struct piece {
	int high;
	unsigned int lo, hi;
	struct strbuf text;
};

struct widen {
	const char *start, *p;
	int fail, changed;
	unsigned int depth;
};

static unsigned int
add_len(unsigned int a, unsigned int b)
{
	return a == WIDE_INF || b == WIDE_INF || a + b < a || a + b >= WIDE_INF ? WIDE_INF : a + b;
}

static unsigned int
mul_len(unsigned int a, unsigned int b)
{
	if (a == 0 || b == 0)
		return 0;
	if (a == WIDE_INF || b == WIDE_INF || a > (WIDE_INF - 1) / b)
		return WIDE_INF;
	return a * b;
}

/* The text of a high piece: [\x80-\xff]{lo,hi}, "" when it is empty. */
static void
high_text(const struct piece *pc, struct strbuf *out)
{
	char q[40];

	if (pc->hi == 0)
		return;
	strbuf_append(out, "[\\x80-\\xff]", 11);
	if (pc->lo == 1 && pc->hi == 1)
		return;
	if (pc->hi == WIDE_INF)
		snprintf(q, sizeof(q), "{%u,}", pc->lo);
	else if (pc->lo == pc->hi)
		snprintf(q, sizeof(q), "{%u}", pc->lo);
	else
		snprintf(q, sizeof(q), "{%u,%u}", pc->lo, pc->hi);
	strbuf_append(out, q, strlen(q));
}

static void
piece_text(const struct piece *pc, struct strbuf *out)
{
	if (pc->high)
		high_text(pc, out);
	else
		strbuf_append(out, pc->text.data != NULL ? pc->text.data : "", pc->text.len);
}

static int
hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* \xHH at p: its byte, or -1. */
static int
hex_escape(const char *p)
{
	int a, b;

	if (p[0] != '\\' || p[1] != 'x' || (a = hex_digit(p[2])) < 0 || (b = hex_digit(p[3])) < 0)
		return -1;
	return a * 16 + b;
}

/*
 * A class: its members that are all bytes from 0x80 dropped and the
 * range \x80-\xff added instead; a class of only such bytes is a high
 * piece of one byte.  Negated classes are copied.
 */
static void
widen_class(struct widen *w, struct piece *out)
{
	const char *start = w->p, *end = class_end(w->p), *q;
	struct strbuf keep = { 0 };
	int dropped = 0, kept = 0;

	if (end == NULL) {
		w->fail = 1;
		return;
	}
	w->p = end + 1;
	if (start[1] == '^') {
		strbuf_append(&out->text, start, (size_t)(w->p - start));
		return;
	}
	q = start + 1;
	while (q < end) {
		const char *t = q;
		int lo, hi;

		/* one member: a byte (\xHH, a raw byte, an escape) or [:name:] */
		if (posix_class_end(q) != NULL) {
			/* as class_end() reads it: ASCII */
			q = posix_class_end(q);
			lo = 0;
		} else if ((lo = hex_escape(q)) >= 0) {
			q += 4;
		} else if (q[0] == '\\') {
			/* \x, \o, \c ... and octal \0-\7: more than two bytes long. */
			if (q[1] == 'x' || q[1] == 'o' || q[1] == 'N' || q[1] == 'p' || q[1] == 'P' ||
			    q[1] == 'c' || q[1] == 'Q' || q[1] == 'E' || (q[1] >= '0' && q[1] <= '9')) {
				w->fail = 1;
				strbuf_free(&keep);
				return;
			}
			lo = 0;		/* \d \w \s, \n ...: ASCII here */
			q += 2;
		} else {
			lo = (unsigned char)*q;
			q++;
		}
		hi = lo;
		if (q[0] == '-' && q + 1 < end) {
			q++;
			if ((hi = hex_escape(q)) >= 0) {
				q += 4;
			} else if (q[0] == '\\' || q[0] == '[') {
				w->fail = 1;
				strbuf_free(&keep);
				return;
			} else {
				hi = (unsigned char)*q;
				q++;
			}
		}
		if (lo >= 0x80 && hi >= 0x80) {
			dropped = 1;
		} else {
			strbuf_append(&keep, t, (size_t)(q - t));
			kept = 1;
		}
	}
	if (!dropped) {
		strbuf_append(&out->text, start, (size_t)(w->p - start));
	} else if (!kept) {
		out->high = 1;
		out->lo = out->hi = 1;
		w->changed = 1;
	} else {
		strbuf_putc(&out->text, '[');
		/* A '^' left first would negate the class. */
		if (keep.data[0] == '^') {
			strbuf_putc(&out->text, '\\');
		}
		/* A '-' left last would make a range of what is added. */
		if (keep.data[keep.len - 1] == '-' && (keep.len < 2 || keep.data[keep.len - 2] != '\\')) {
			strbuf_append(&out->text, keep.data, keep.len - 1);
			strbuf_append(&out->text, "\\-", 2);
		} else {
			strbuf_append(&out->text, keep.data, keep.len);
		}
		strbuf_append(&out->text, "\\x80-\\xff]", 10);
		w->changed = 1;
	}
	strbuf_free(&keep);
}

static void widen_alt(struct widen *w, struct piece *out);

/* What a digit group may hold: digits; after &# also x and hex digits (&#x53c;). */
struct digits {
	int hex;		/* x and a-f allowed */
	int letters;		/* some seen */
	unsigned int alts;	/* | seen */
};

static int digit_alt(const char **pp, unsigned int *lo_r, unsigned int *hi_r, struct digits *d,
    unsigned int depth);

static int
digit_char(char c, struct digits *d)
{
	if (c >= '0' && c <= '9')
		return 1;
	if (d->hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == 'x' || c == 'X')) {
		d->letters = 1;
		return 1;
	}
	return 0;
}

/* A class of those characters alone ([0-9], [2458], [1-5]) at p: after it, or NULL. */
static const char *
digit_class(const char *p, struct digits *d)
{
	const char *q = p + 1;

	if (*q == ']')
		return NULL;
	while (digit_char(*q, d)) {
		if (q[1] == '-' && q[2] != ']' && digit_char(q[2], d))
			q += 3;
		else
			q++;
	}
	return *q == ']' ? q + 1 : NULL;
}

/* A branch of a digit group: digits, digit classes, \d and groups, each ?, {n} or {n,m}. */
static int
digit_seq(const char **pp, unsigned int *lo_r, unsigned int *hi_r, struct digits *d,
    unsigned int depth)
{
	const char *p = *pp, *e;
	unsigned int lo = 0, hi = 0;

	while (*p != '\0' && *p != '|' && *p != ')') {
		unsigned int alo = 1, ahi = 1, qlo, qhi;

		if (digit_char(*p, d)) {
			p++;
		} else if (p[0] == '\\' && p[1] == 'd') {
			p += 2;
		} else if (*p == '[' && (e = digit_class(p, d)) != NULL) {
			p = e;
		} else if (p[0] == '(' && p[1] == '?' && p[2] == ':' && depth < 20) {
			p += 3;
			if (!digit_alt(&p, &alo, &ahi, d, depth + 1) || *p != ')')
				return 0;
			p++;
		} else {
			return 0;
		}
		if (*p == '?') {
			alo = 0;
			p++;
		} else if (*p == '{') {
			if (braces(p, &qlo, &qhi, &e) <= 0 || qhi < qlo || qhi == WIDE_INF)
				return 0;
			alo = mul_len(alo, qlo);
			ahi = mul_len(ahi, qhi);
			p = e;
		}
		/* * and +, lazy and possessive forms: beyond this reading. */
		if (*p == '*' || *p == '+' || *p == '?')
			return 0;
		lo = add_len(lo, alo);
		hi = add_len(hi, ahi);
	}
	*pp = p;
	*lo_r = lo;
	*hi_r = hi;
	return hi != WIDE_INF && hi <= 64;
}

static int
digit_alt(const char **pp, unsigned int *lo_r, unsigned int *hi_r, struct digits *d,
    unsigned int depth)
{
	unsigned int lo, hi, blo, bhi;

	if (!digit_seq(pp, &lo, &hi, d, depth))
		return 0;
	while (**pp == '|') {
		(*pp)++;
		d->alts++;
		if (!digit_seq(pp, &blo, &bhi, d, depth))
			return 0;
		lo = blo < lo ? blo : lo;
		hi = bhi > hi ? bhi : hi;
	}
	*lo_r = lo;
	*hi_r = hi;
	return 1;
}

/*
 * A group at p ('(') holding an alternation of digit strings, such as the
 * numeric character references of ReplaceTags' letters, &\#(?:1(?:0(?:13|
 * 2[458])|108)|400);: [0-9]{lo,hi} in out, and 1 (right after &#, the
 * hexadecimal ones too: [0-9a-fA-FxX]{lo,hi}).  0 for any other group.
 */
static int
widen_digits(struct widen *w, struct piece *out)
{
	const char *p = w->p;
	struct digits d = { 0, 0, 0 };
	unsigned int lo, hi;
	char q[64];

	if (p[0] != '(')
		return 0;
	d.hex = p - w->start >= 2 && p[-1] == '#' && (p[-2] == '&' || (p[-2] == '\\' &&
	    p - w->start >= 3 && p[-3] == '&'));
	p += p[1] == '?' && p[2] == ':' ? 3 : p[1] == '?' ? 0 : 1;
	if (p == w->p || !digit_alt(&p, &lo, &hi, &d, 0) || *p != ')' || d.alts == 0 || hi == 0)
		return 0;
	if (lo == hi)
		snprintf(q, sizeof(q), "(?:%s{%u})", d.letters ? "[0-9a-fA-FxX]" : "[0-9]", lo);
	else
		snprintf(q, sizeof(q), "(?:%s{%u,%u})", d.letters ? "[0-9a-fA-FxX]" : "[0-9]", lo, hi);
	strbuf_append(&out->text, q, strlen(q));
	w->p = p + 1;
	w->changed = 1;
	return 1;
}


/* One atom and its quantifier. */
static void
widen_atom(struct widen *w, struct piece *out)
{
	const char *p = w->p;
	int b;

	memset(out, 0, sizeof(*out));
	if (widen_digits(w, out)) {
		/* its quantifier below */
	} else if (*p == '(') {
		struct piece inner;
		size_t open = p[1] == '?' && p[2] == ':' ? 3 : p[1] == '?' && p[2] == '>' ? 3 :
		    p[1] != '?' && p[1] != '*' ? 1 : 0;

		/* Capturing, (?: and (?> only: the relaxed pattern has no look-around left. */
		if (open == 0 || ++w->depth > 200) {
			w->fail = 1;
			return;
		}
		w->p += open;
		widen_alt(w, &inner);
		w->depth--;
		if (w->fail || *w->p != ')') {
			w->fail = 1;
			strbuf_free(&inner.text);
			return;
		}
		w->p++;
		if (inner.high) {
			*out = inner;
		} else {
			strbuf_append(&out->text, "(?:", 3);
			strbuf_append(&out->text, inner.text.data != NULL ? inner.text.data : "",
			    inner.text.len);
			strbuf_putc(&out->text, ')');
			strbuf_free(&inner.text);
		}
	} else if (*p == '[') {
		widen_class(w, out);
		if (w->fail)
			return;
	} else if ((b = hex_escape(p)) >= 0x80 || (unsigned char)*p >= 0x80) {
		w->p += (unsigned char)*p >= 0x80 ? 1 : 4;
		out->high = 1;
		out->lo = out->hi = 1;
		w->changed = 1;
	} else if (*p == '\\') {
		if (p[1] == '\0' || p[1] == 'Q' || p[1] == 'x' || p[1] == 'o' || p[1] == 'N' ||
		    p[1] == 'p' || p[1] == 'P' || p[1] == 'g' || p[1] == 'k' ||
		    (p[1] >= '0' && p[1] <= '9') || (p[1] == 'c' && p[2] == '\0')) {
			w->fail = 1;
			return;
		}
		strbuf_append(&out->text, p, p[1] == 'c' ? 3 : 2);
		w->p += p[1] == 'c' ? 3 : 2;
	} else if (*p == '*' || *p == '+' || *p == '?' || *p == '{' || *p == ')' || *p == '|') {
		w->fail = 1;	/* a quantifier without its atom: beyond this reading */
		return;
	} else {
		strbuf_putc(&out->text, *p);
		w->p++;
	}
	/* The quantifier. */
	p = w->p;
	if (*p == '*' || *p == '+' || *p == '?' || *p == '{') {
		unsigned int qlo, qhi;
		const char *e;

		if (*p == '{') {
			/* {5,2} and what is no quantifier: a literal '{', the next atom */
			if (braces(p, &qlo, &qhi, &e) <= 0 || qhi < qlo)
				return;
		} else {
			qlo = *p == '+' ? 1 : 0;
			qhi = *p == '?' ? 1 : WIDE_INF;
			e = p + 1;
		}
		if (out->high) {
			out->lo = mul_len(out->lo, qlo);
			out->hi = out->hi == 0 ? 0 : qhi == WIDE_INF ? WIDE_INF : mul_len(out->hi, qhi);
		} else {
			strbuf_append(&out->text, p, (size_t)(e - p));
		}
		/* Lazy and possessive quantifiers become greedy: the same texts or more. */
		if (*e == '?' || *e == '+') {
			e++;
			w->changed = 1;
		}
		w->p = e;
	}
}

/* A branch: atoms up to | or ) or the end. */
static void
widen_seq(struct widen *w, struct piece *out)
{
	struct piece run = { 1, 0, 0, { 0 } };

	memset(out, 0, sizeof(*out));
	out->high = 1;
	while (!w->fail && *w->p != '\0' && *w->p != '|' && *w->p != ')') {
		struct piece a;

		widen_atom(w, &a);
		if (w->fail) {
			strbuf_free(&a.text);
			break;
		}
		if (a.high) {
			run.lo = add_len(run.lo, a.lo);
			run.hi = add_len(run.hi, a.hi);
			continue;
		}
		/* Text: the high run before it goes first, as text. */
		out->high = 0;
		high_text(&run, &out->text);
		run.lo = run.hi = 0;
		strbuf_append(&out->text, a.text.data != NULL ? a.text.data : "", a.text.len);
		strbuf_free(&a.text);
	}
	if (out->high) {
		out->lo = run.lo;
		out->hi = run.hi;
	} else {
		high_text(&run, &out->text);
	}
}

/* Branches up to ) or the end; identical ones once. */
static void
widen_alt(struct widen *w, struct piece *out)
{
	struct piece *br = NULL;
	size_t n = 0;
	int all_high = 1;

	memset(out, 0, sizeof(*out));
	for (;;) {
		br = xrealloc(br, (n + 1) * sizeof(*br));
		widen_seq(w, &br[n]);
		if (!br[n].high)
			all_high = 0;
		n++;
		if (w->fail || *w->p != '|')
			break;
		w->p++;
	}
	if (!w->fail && all_high) {
		out->high = 1;
		out->lo = br[0].lo;
		out->hi = br[0].hi;
		for (size_t i = 1; i < n; i++) {
			if (br[i].lo < out->lo)
				out->lo = br[i].lo;
			if (br[i].hi > out->hi)
				out->hi = br[i].hi;
		}
	} else if (!w->fail) {
		struct strbuf *texts = xcalloc(n, sizeof(*texts));
		size_t first_high = n;

		/*
		 * The branches of high bytes alone, [\x80-\xff]|[\x80-\xff]{2}|...,
		 * become one, [\x80-\xff]{1,4}, where the first of them was.
		 */
		for (size_t i = 0; i < n; i++) {
			if (!br[i].high)
				continue;
			if (first_high == n) {
				first_high = i;
				continue;
			}
			br[first_high].lo = br[i].lo < br[first_high].lo ? br[i].lo : br[first_high].lo;
			br[first_high].hi = br[i].hi > br[first_high].hi ? br[i].hi : br[first_high].hi;
			br[i].high = -1;
			w->changed = 1;
		}
		for (size_t i = 0; i < n; i++) {
			int dup = 0;

			if (br[i].high < 0)
				continue;
			piece_text(&br[i], &texts[i]);
			for (size_t j = 0; j < i && !dup; j++)
				dup = texts[j].len == texts[i].len &&
				    (texts[i].len == 0 || memcmp(texts[j].data, texts[i].data,
				    texts[i].len) == 0);
			if (dup) {
				w->changed = 1;
				continue;
			}
			if (out->text.len > 0 || i > 0)
				strbuf_putc(&out->text, '|');
			strbuf_append(&out->text, texts[i].data != NULL ? texts[i].data : "",
			    texts[i].len);
		}
		for (size_t i = 0; i < n; i++)
			strbuf_free(&texts[i]);
		free(texts);
	}
	for (size_t i = 0; i < n; i++)
		strbuf_free(&br[i].text);
	free(br);
}

char *
rules_widen_pattern(const char *pattern)
{
	struct widen w = { pattern, pattern, 0, 0, 0 };
	struct piece top;
	struct strbuf b = { 0 };

	widen_alt(&w, &top);
	if (w.fail || *w.p != '\0' || !w.changed) {
		strbuf_free(&top.text);
		return NULL;
	}
	piece_text(&top, &b);
	strbuf_free(&top.text);
	strbuf_putc(&b, '\0');
	return b.data;
}

/* ---- a repeated group's body: where a match must be ---- */

/* Where the text of the plain group at p starts ('(' or "(?:"), or NULL for any other. */
static const char *
plain_group_text(const char *p)
{
	if (p[0] != '(')
		return NULL;
	if (p[1] != '?')
		return p + 1;
	return p[2] == ':' ? p + 3 : NULL;
}

/*
 * After the group that opens at p ('('), or NULL: escapes, classes and
 * nested groups skipped.
 */
static const char *
group_end(const char *p)
{
	int depth = 0;

	for (; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0' || p[1] == 'Q' || (p[1] == 'c' && p[2] == '\0'))
				return NULL;
			p += p[1] == 'c' ? 2 : 1;	/* \cX: X is the escape's */
		} else if (*p == '[') {
			if ((p = class_end(p)) == NULL)
				return NULL;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

/* The group's text of a pattern that is one group repeated, and its least count. */
static const char *
repeat_group(const char *pattern, int extended, size_t *len_r, unsigned int *min_r)
{
	const char *body, *end, *q;
	unsigned int lo = 1, hi;

	if (extended || (body = plain_group_text(pattern)) == NULL)
		return NULL;
	if ((end = group_end(pattern)) == NULL)
		return NULL;
	if (*end == '+') {
		q = end + 1;
	} else if (braces(end, &lo, &hi, &q) == 1 && lo >= 1) {
		/* q after the braces */
	} else {
		return NULL;
	}
	if (*q == '?' || *q == '+')
		q++;
	if (*q != '\0' || end - 1 <= body)
		return NULL;
	*len_r = (size_t)(end - 1 - body);
	*min_r = lo;
	return body;
}

char *
rules_repeat_part(const char *pattern, int extended)
{
	unsigned int lo;
	size_t len;
	const char *body = repeat_group(pattern, extended, &len, &lo);

	return body != NULL ? xstrndup(body, len) : NULL;
}

unsigned int
rules_repeat_min(const char *pattern, int extended)
{
	unsigned int lo;
	size_t len;

	return repeat_group(pattern, extended, &len, &lo) != NULL ? lo : 0;
}

char *
rules_unbound_pattern(const char *pattern)
{
	struct strbuf b = { 0 };
	const char *p = pattern, *e;
	unsigned int lo, hi;
	int changed = 0;

	while (*p != '\0') {
		if (*p == '\\') {
			if (p[1] == '\0' || p[1] == 'Q') {
				strbuf_free(&b);
				return NULL;
			}
			strbuf_append(&b, p, 2);
			p += 2;
		} else if (*p == '[') {
			if ((e = class_end(p)) == NULL) {
				strbuf_free(&b);
				return NULL;
			}
			strbuf_append(&b, p, (size_t)(e + 1 - p));
			p = e + 1;
		} else if (*p == '{' && braces(p, &lo, &hi, &e) == 1 && hi != WIDE_INF && hi > lo) {
			char q[24];

			snprintf(q, sizeof(q), "{%u,}", lo);
			strbuf_append(&b, q, strlen(q));
			p = e;
			changed = 1;
		} else {
			strbuf_putc(&b, *p);
			p++;
		}
	}
	return rewritten(&b, changed);
}

/* One atom of a sequence and its quantifier, as prefix_seq reads them. */
struct atom {
	const char *at, *qat, *end;	/* atom, its quantifier, after both */
	unsigned int lo, hi;		/* 1, 1 when not quantified */
};

/* The atom at p (before end): 0 with a filled, -1 beyond this reading. */
static int
read_atom(const char *p, const char *end, struct atom *a)
{
	const char *q;

	a->at = p;
	if (*p == '\\') {
		if (p + 1 >= end || p[1] == 'Q' || p[1] == 'E')
			return -1;
		if (strchr("xopPNgk", p[1]) != NULL && p + 2 < end && p[2] == '{') {
			if ((q = memchr(p, '}', (size_t)(end - p))) == NULL)
				return -1;
			p = q + 1;
		} else if (p[1] == 'c' || p[1] == 'p' || p[1] == 'P') {
			/* \cX, \pL, \PL: the letter is the escape's */
			if (p + 2 >= end)
				return -1;
			p += 3;
		} else if (p[1] == 'x') {
			/* \xH, \xHH */
			for (p += 2; p < end && p - a->at < 4 && hex_digit(*p) >= 0; p++)
				;
		} else if (p[1] >= '0' && p[1] <= '9') {
			/* \0, \012 (octal), \1, \12 (back-references): one atom */
			for (p += 2; p < end && p - a->at < 4 && *p >= '0' && *p <= '9'; p++)
				;
		} else {
			p += 2;
		}
	} else if (*p == '[') {
		if ((q = class_end(p)) == NULL || q >= end)
			return -1;
		p = q + 1;
	} else if (*p == '(') {
		if ((q = group_end(p)) == NULL || q > end)
			return -1;
		p = q;
	} else if (*p == '|' || *p == ')' || *p == '*' || *p == '+' || *p == '?' || *p == '{') {
		return -1;
	} else {
		p++;
	}
	a->qat = p;
	a->lo = a->hi = 1;
	if (p < end && (*p == '?' || *p == '*' || *p == '+')) {
		a->lo = *p == '+' ? 1 : 0;
		a->hi = *p == '?' ? 1 : WIDE_INF;
		p++;
	} else if (p < end && *p == '{' && braces(p, &a->lo, &a->hi, &q) == 1) {
		p = q;
	}
	if (p > a->qat && p < end && (*p == '?' || *p == '+'))
		p++;
	a->end = p;
	return p > end ? -1 : 0;
}

/* The atoms of the sequence p..end (free them; NULL beyond this reading). */
static struct atom *
read_atoms(const char *p, const char *end, size_t *n_r)
{
	struct atom *v = xcalloc(1, sizeof(*v));
	size_t n = 0;

	while (p < end) {
		v = xrealloc(v, (n + 1) * sizeof(*v));
		if (read_atom(p, end, &v[n]) < 0) {
			free(v);
			return NULL;
		}
		p = v[n++].end;
	}
	*n_r = n;
	return v;
}

/* The end of the branch that starts at p (before end): its '|' or end, NULL beyond this reading. */
static const char *
branch_end(const char *p, const char *end)
{
	struct atom a;

	while (p < end && *p != '|') {
		if (read_atom(p, end, &a) < 0)
			return NULL;
		p = a.end;
	}
	return p;
}

static int prefix_alt(const char *p, const char *end, struct strbuf *out, int depth);

/*
 * A branch with its optional last atoms dropped, a last repeat cut to its
 * least count, a last group's branches done the same way: a prefix of
 * every match of the branch.  -1 when nothing would be left.
 */
static int
prefix_seq(const char *p, const char *end, struct strbuf *out, int depth)
{
	size_t n;
	struct atom *v = read_atoms(p, end, &n);
	const char *in;
	int rc = 0;

	if (v == NULL)
		return -1;
	while (n > 0 && v[n - 1].lo == 0)
		n--;
	if (n == 0) {
		free(v);
		return -1;
	}
	strbuf_append(out, v[0].at, (size_t)(v[n - 1].at - v[0].at));
	if (v[n - 1].qat == v[n - 1].end && (in = plain_group_text(v[n - 1].at)) != NULL &&
	    depth < 50) {
		strbuf_append(out, "(?:", 3);
		rc = prefix_alt(in, v[n - 1].end - 1, out, depth + 1);
		strbuf_putc(out, ')');
	} else {
		strbuf_append(out, v[n - 1].at, (size_t)(v[n - 1].qat - v[n - 1].at));
		if (v[n - 1].lo > 1) {
			char q[24];

			snprintf(q, sizeof(q), "{%u}", v[n - 1].lo);
			strbuf_append(out, q, strlen(q));
		}
	}
	free(v);
	return rc;
}

/* Each top-level branch of p..end through seq, joined by '|' in out. */
static int
each_branch(const char *p, const char *end, struct strbuf *out, int depth,
    int (*seq)(const char *, const char *, struct strbuf *, int))
{
	for (const char *b = p;;) {
		const char *q = branch_end(b, end);

		if (q == NULL)
			return -1;
		if (b != p)
			strbuf_putc(out, '|');
		if (seq(b, q, out, depth) < 0)
			return -1;
		if (q == end)
			return 0;
		b = q + 1;
	}
}

static int
prefix_alt(const char *p, const char *end, struct strbuf *out, int depth)
{
	return each_branch(p, end, out, depth, prefix_seq);
}

char *
rules_prefix_pattern(const char *pattern)
{
	struct strbuf b = { 0 };
	size_t len = strlen(pattern);

	if (strstr(pattern, "\\Q") != NULL || prefix_alt(pattern, pattern + len, &b, 0) < 0 ||
	    b.len == 0 || (b.len == len && memcmp(b.data, pattern, len) == 0)) {
		strbuf_free(&b);
		return NULL;
	}
	strbuf_putc(&b, '\0');
	return b.data;
}

/* ---- a pattern read backwards: where its matches start ---- */

static int reverse_alt(const char *p, const char *end, struct strbuf *out, int depth);

/*
 * Where the text of group g (its '(') starts, with what opens the reversed
 * group in open_r: NULL for a group that matches no text or is not plain
 * (look-arounds, conditions, calls, branch resets, comments: a quantifier
 * after (?#...) is the previous atom's), or an option setting that runs
 * to the group's end ((?i)).
 */
static const char *
group_text(const char *g, const char **open_r, size_t *open_len_r)
{
	const char *q;

	*open_r = "(?:";
	*open_len_r = 3;
	if (g[1] != '?')
		return g + 1;
	switch (g[2]) {
	case ':':
	case '>':	/* atomic: as a plain group, which matches more, never less */
		return g + 3;
	case '<':
		if (g[3] == '=' || g[3] == '!')
			return NULL;
		q = strchr(g + 3, '>');
		return q != NULL ? q + 1 : NULL;
	case 'P':
		if (g[3] != '<')
			return NULL;
		q = strchr(g + 4, '>');
		return q != NULL ? q + 1 : NULL;
	case '\'':
		q = strchr(g + 3, '\'');
		return q != NULL ? q + 1 : NULL;
	default:
		break;
	}
	/* (?i:...), (?s-i:...) */
	for (q = g + 2; (*q >= 'a' && *q <= 'z') || *q == '-' || *q == '^'; q++)
		;
	if (*q != ':' || q == g + 2)
		return NULL;
	*open_r = g;
	*open_len_r = (size_t)(q + 1 - g);
	return q + 1;
}

/* An atom of a branch, read backwards: 0, or -1 beyond this reading. */
static int
reverse_atom(const struct atom *a, struct strbuf *out, int depth)
{
	const char *p = a->at;
	size_t qlen = (size_t)(a->end - a->qat);

	/* A possessive repeat as the greedy one: more matches, never fewer. */
	if (qlen >= 2 && a->end[-1] == '+')
		qlen--;
	if (*p == '(') {
		const char *open, *in;
		size_t open_len;

		if ((in = group_text(p, &open, &open_len)) == NULL)
			return -1;
		if (in > a->qat - 1 || depth >= 50)
			return -1;
		strbuf_append(out, open, open_len);
		if (reverse_alt(in, a->qat - 1, out, depth + 1) < 0)
			return -1;
		strbuf_putc(out, ')');
	} else if (*p == '^' || *p == '$') {
		strbuf_putc(out, *p == '^' ? '$' : '^');
	} else if (*p == '\\' && (p[1] == 'A' || p[1] == 'z')) {
		strbuf_append(out, p[1] == 'A' ? "\\z" : "\\A", 2);
	} else if (*p == '\\' && (strchr("ZGKgkRX", p[1]) != NULL || (p[1] >= '1' && p[1] <= '9'))) {
		/* \Z, \G, \K, back-references, \R (\r\n as one), \X: not reversed here */
		return -1;
	} else if (*p == '\\' && (p[1] == 'x' || p[1] == '0') && p[2] != '{' && a->qat - p < 4) {
		/* \xH, \0, \01: a digit after them would join them, as in 5*\xA read backwards */
		strbuf_append(out, "(?:", 3);
		strbuf_append(out, p, (size_t)(a->qat - p));
		strbuf_putc(out, ')');
	} else {
		strbuf_append(out, p, (size_t)(a->qat - p));
	}
	strbuf_append(out, a->qat, qlen);
	return 0;
}

/* A branch backwards: its atoms in the reverse order, each reversed. */
static int
reverse_seq(const char *p, const char *end, struct strbuf *out, int depth)
{
	size_t n;
	struct atom *v = read_atoms(p, end, &n);
	int rc = 0;

	if (v == NULL)
		return -1;
	while (n > 0 && rc == 0)
		rc = reverse_atom(&v[--n], out, depth);
	free(v);
	return rc;
}

static int
reverse_alt(const char *p, const char *end, struct strbuf *out, int depth)
{
	return each_branch(p, end, out, depth, reverse_seq);
}

char *
rules_reverse_pattern(const char *pattern)
{
	struct strbuf b = { 0 };

	if (strstr(pattern, "\\Q") != NULL ||
	    reverse_alt(pattern, pattern + strlen(pattern), &b, 0) < 0 || b.len == 0) {
		strbuf_free(&b);
		return NULL;
	}
	strbuf_putc(&b, '\0');
	return b.data;
}

/* ---- a pattern as the union of smaller ones ---- */

/* The top-level branches of p..end (at least one), or NULL beyond this reading. */
static char **
branches(const char *p, const char *end, size_t *n_r)
{
	char **v = NULL;
	size_t n = 0;

	for (const char *b = p;;) {
		const char *q = branch_end(b, end);

		if (q == NULL) {
			while (n > 0)
				free(v[--n]);
			free(v);
			return NULL;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = xstrndup(b, (size_t)(q - b));
		if (q == end)
			break;
		b = q + 1;
	}
	*n_r = n;
	return v;
}

/*
 * What a split could change: back-references and calls (a group's number
 * moves when the branches around it go), option settings that run to the
 * end of their group ((?i) before a '|' applies past it), \Q.
 */
static int
split_unsafe(const char *p)
{
	for (; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] != '\0') {
			if (p[1] == 'Q' || p[1] == 'g' || p[1] == 'k' || (p[1] >= '1' && p[1] <= '9'))
				return 1;
			p += p[1] == 'c' && p[2] != '\0' ? 2 : 1;	/* \cX */
		} else if (p[0] == '(' && p[1] == '?') {
			const char *q = p + 2;

			if (strchr("P&R(+-0123456789", *q) != NULL && *q != '\0')
				return 1;
			while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '-' ||
			    *q == '^')
				q++;
			if (*q == ')')
				return 1;
		}
	}
	return 0;
}

/*
 * The longest plain group of two branches or more in the sequence p..end,
 * looking inside plain groups of one branch ((?:(?:a|b)c) holds (?:a|b)):
 * 0 with it in best_r (its atom), -1 beyond this reading.
 */
static int
split_group(const char *p, const char *end, struct atom *best_r, int depth)
{
	const char *in, *q;
	struct atom a;

	while (p < end) {
		if (read_atom(p, end, &a) < 0)
			return -1;
		p = a.end;
		if (a.qat != a.end || (in = plain_group_text(a.at)) == NULL)
			continue;
		if ((q = branch_end(in, a.end - 1)) == NULL)
			return -1;
		if (q < a.end - 1) {
			if (best_r->at == NULL || a.end - a.at > best_r->end - best_r->at)
				*best_r = a;
		} else if (depth < 50 && split_group(in, a.end - 1, best_r, depth + 1) < 0) {
			return -1;
		}
	}
	return 0;
}

char **
rules_split_pattern(const char *pattern, size_t *n_r)
{
	const char *end = pattern + strlen(pattern), *in;
	struct atom best = { 0 };
	char **alt, **out;
	size_t k, i;

	if (split_unsafe(pattern))
		return NULL;
	/* An alternation: its branches. */
	if ((alt = branches(pattern, end, &k)) == NULL)
		return NULL;
	if (k > 1) {
		*n_r = k;
		return alt;
	}
	free(alt[0]);
	free(alt);
	/* A sequence: its longest plain group of branches, each in its place. */
	if (split_group(pattern, end, &best, 0) < 0 || best.at == NULL)
		return NULL;
	in = plain_group_text(best.at);
	if ((alt = branches(in, best.end - 1, &k)) == NULL)
		return NULL;
	out = xcalloc(k, sizeof(*out));
	for (i = 0; i < k; i++) {
		out[i] = xasprintf("%.*s(?:%s)%s", (int)(best.at - pattern), pattern, alt[i],
		    best.end);
		free(alt[i]);
	}
	free(alt);
	*n_r = k;
	return out;
}

/* ---- rules_line_pattern ---- */

/*
 * The character an escape inside or outside a class stands for, its end
 * in *end_r; -1 when it stands for no single character (\s, \b outside a
 * class, a back-reference ...) or cannot be read.
 */
static long
escape_char(const char *p, int in_class, const char **end_r)
{
	char c = p[1];
	long v = 0;
	int n;

	*end_r = p + 2;
	switch (c) {
	case 'n': return 10;
	case 't': return 9;
	case 'r': return 13;
	case 'f': return 12;
	case 'e': return 27;
	case 'a': return 7;
	case 'b': return in_class ? 8 : -1;
	case 'c':
		if (p[2] == '\0')
			return -1;
		*end_r = p + 3;
		return (p[2] >= 'a' && p[2] <= 'z' ? p[2] - 32 : p[2]) ^ 0x40;
	case 'x':
		if (p[2] == '{') {
			const char *q = p + 3;
			for (n = 0; *q != '}' && n < 8; q++, n++) {
				if (!isxdigit((unsigned char)*q))
					return -1;
				v = v * 16 + (isdigit((unsigned char)*q) ? *q - '0' :
				    tolower((unsigned char)*q) - 'a' + 10);
			}
			if (*q != '}' || n == 0)
				return -1;
			*end_r = q + 1;
			return v;
		}
		for (n = 0; n < 2 && isxdigit((unsigned char)p[2 + n]); n++)
			v = v * 16 + (isdigit((unsigned char)p[2 + n]) ? p[2 + n] - '0' :
			    tolower((unsigned char)p[2 + n]) - 'a' + 10);
		*end_r = p + 2 + n;
		return v;
	case '0':
		for (n = 1; n < 3 && p[1 + n] >= '0' && p[1 + n] <= '7'; n++)
			v = v * 8 + (p[1 + n] - '0');
		*end_r = p + 1 + n;
		return v;
	default:
		break;
	}
	if (c >= '1' && c <= '9') {
		/* Octal in a class; outside one, a back-reference or octal: not read. */
		if (!in_class)
			return -1;
		for (n = 0; n < 3 && p[1 + n] >= '0' && p[1 + n] <= '7'; n++)
			v = v * 8 + (p[1 + n] - '0');
		if (n == 0)
			return -1;
		*end_r = p + 1 + n;
		return v;
	}
	if (isalnum((unsigned char)c) || c == '\0' || (unsigned char)c >= 0x80)
		return -1;
	return (unsigned char)c;	/* \. \[ \- ...: the character itself */
}

/* The class escape for a line end's class: \s as [^\S\n] ..., or NULL. */
static const char *
line_escape(char c)
{
	switch (c) {
	case 's': return "[^\\S\\n]";
	case 'v': return "[^\\V\\n]";
	case 'H': return "[^\\h\\n]";
	case 'W': return "[^\\w\\n]";
	case 'D': return "[^\\d\\n]";
	default: return NULL;
	}
}

/*
 * What a class escape that can match a line end matches but the line end,
 * for inside a class: one class stays one class (a group of classes makes
 * a repeated one too large for Hyperscan and PCRE2).  Bytes, as rules are
 * compiled: \s is [\t\n\x0b\f\r ] (Perl's since 5.18), \v [\n-\r\x85],
 * \h [\t \xa0], \w and \d ASCII.
 */
static const char *
line_escape_in_class(char c)
{
	switch (c) {
	case 's': return "\\t\\x0b\\f\\r\\x20";
	case 'v': return "\\x0b-\\x0d\\x85";
	case 'H': return "\\x00-\\x08\\x0b-\\x1f\\x21-\\x9f\\xa1-\\xff";
	case 'W': return "\\x00-\\x09\\x0b-\\x2f\\x3a-\\x40\\x5b-\\x5e\\x60\\x7b-\\xff";
	case 'D': return "\\x00-\\x09\\x0b-\\x2f\\x3a-\\xff";
	default: return NULL;
	}
}

/* [:cntrl:] but the line end, inside a class. */
static const char cntrl_no_lf[] = "\\x00-\\x09\\x0b-\\x1f\\x7f";

static void
put_class_char(struct strbuf *b, long c)
{
	char q[16];

	if (c < 0x100)
		snprintf(q, sizeof(q), "\\x%02lx", c);
	else
		snprintf(q, sizeof(q), "\\x{%lx}", c);
	strbuf_append(b, q, strlen(q));
}

/*
 * The class [p .. e] (e its ']') without \n onto b: 1 if it was
 * rewritten, 0 if copied, -1 if it cannot be.
 */
static int
line_class(struct strbuf *b, const char *p, const char *e)
{
	struct strbuf rest = { 0 }, alts = { 0 };
	const char *q = p + 1, *end;
	/* Negated: its items as they are, and one more, the line end. */
	int negated = *q == '^', changed = negated;

	if (negated)
		q++;
	while (q < e) {
		const char *item = q, *pe;
		long lo, hi;

		if ((pe = posix_class_end(q)) != NULL && pe <= e) {
			int neg = q[2] == '^';
			const char *name = q + 2 + neg;

			if (negated) {
				strbuf_append(&rest, q, (size_t)(pe - q));
			} else if (neg) {
				/* [:^alpha:] but the line end: [^[:alpha:]\n] */
				strbuf_append(&alts, "|[^[:", 5);
				strbuf_append(&alts, name, (size_t)(pe - name));
				strbuf_append(&alts, "\\n]", 3);
				changed = 1;
			} else if (strncmp(name, "space:", 6) == 0) {
				strbuf_append(&rest, line_escape_in_class('s'),
				    strlen(line_escape_in_class('s')));
				changed = 1;
			} else if (strncmp(name, "cntrl:", 6) == 0) {
				strbuf_append(&rest, cntrl_no_lf, strlen(cntrl_no_lf));
				changed = 1;
			} else {
				strbuf_append(&rest, q, (size_t)(pe - q));
			}
			q = pe;
			continue;
		}
		if (*q == '\\') {
			const char *alt = line_escape(q[1]);

			if (q[1] == '\0' || strchr("pPRXCQEoNgk", q[1]) != NULL)
				goto fail;
			if (alt != NULL && negated) {
				strbuf_append(&rest, q, 2);
				q += 2;
				continue;
			}
			if (alt != NULL) {
				alt = line_escape_in_class(q[1]);
				strbuf_append(&rest, alt, strlen(alt));
				changed = 1;
				q += 2;
				continue;
			}
			lo = escape_char(q, 1, &end);
			if (lo < 0) {
				/* \S \w \d \h \V: no line end among them */
				if (strchr("SwdhV", q[1]) == NULL)
					goto fail;
				strbuf_append(&rest, q, 2);
				q += 2;
				continue;
			}
		} else {
			lo = (unsigned char)*q;
			end = q + 1;
		}
		/* A range? */
		if (*end == '-' && end + 1 < e) {
			const char *r = end + 1, *rend;

			if (*r == '\\') {
				hi = escape_char(r, 1, &rend);
				if (hi < 0 && line_escape(r[1]) == NULL && strchr("SwdhV", r[1]) == NULL)
					goto fail;
			} else if (posix_class_end(r) != NULL) {
				hi = -1;	/* [a-[:digit:]]: the '-' is literal */
				rend = r;
			} else {
				hi = (unsigned char)*r;
				rend = r + 1;
			}
			if (hi >= 0) {
				if (lo <= 10 && hi >= 10 && !negated) {
					if (lo < 10) {
						put_class_char(&rest, lo);
						if (lo < 9) {
							strbuf_putc(&rest, '-');
							put_class_char(&rest, 9);
						}
					}
					if (hi > 10) {
						put_class_char(&rest, 11);
						if (hi > 11) {
							strbuf_putc(&rest, '-');
							put_class_char(&rest, hi);
						}
					}
					changed = 1;
				} else if (*item != '\\' && *r != '\\') {
					strbuf_append(&rest, item, (size_t)(rend - item));
				} else {
					/* As \xHH: an escape's end may not be where it was (\x, \0). */
					put_class_char(&rest, lo);
					strbuf_putc(&rest, '-');
					put_class_char(&rest, hi);
				}
				q = rend;
				continue;
			}
		}
		if (lo == 10 && !negated) {
			changed = 1;	/* the line end itself: dropped */
		} else if (item == p + 1 + negated && *item == ']') {
			strbuf_append(&rest, "\\]", 2);
		} else if (*item == '-' || *item == '^' || *item == '[') {
			strbuf_putc(&rest, '\\');
			strbuf_putc(&rest, *item);
		} else {
			if (*item == '\\')
				put_class_char(&rest, lo);
			else
				strbuf_append(&rest, item, (size_t)(end - item));
		}
		q = end;
	}
	if (!changed) {
		strbuf_free(&rest);
		strbuf_free(&alts);
		strbuf_append(b, p, (size_t)(e + 1 - p));
		return 0;
	}
	if (negated) {
		strbuf_append(b, "[^", 2);
		strbuf_append(b, rest.data, rest.len);
		strbuf_append(b, "\\n]", 3);
	} else if (rest.len == 0 && alts.len == 0) {
		goto fail;	/* [\n]: nothing left */
	} else if (alts.len == 0) {
		strbuf_putc(b, '[');
		strbuf_append(b, rest.data, rest.len);
		strbuf_putc(b, ']');
	} else {
		strbuf_append(b, "(?:", 3);
		if (rest.len > 0) {
			strbuf_putc(b, '[');
			strbuf_append(b, rest.data, rest.len);
			strbuf_putc(b, ']');
			strbuf_append(b, alts.data, alts.len);
		} else {
			strbuf_append(b, alts.data + 1, alts.len - 1);
		}
		strbuf_putc(b, ')');
	}
	strbuf_free(&rest);
	strbuf_free(&alts);
	return 1;
fail:
	strbuf_free(&rest);
	strbuf_free(&alts);
	return -1;
}

char *
rules_line_pattern(const char *pattern, int extended)
{
	struct strbuf b = { 0 };
	const char *p = pattern, *e;
	int changed = 0;

	/* A verb's name, (*MARK:...), is not pattern text (see relax()). */
	if (strstr(p, "(*") != NULL)
		return NULL;
	while (*p != '\0') {
		if (*p == '\n' || (extended && *p == '#'))
			goto fail;
		if (*p == '\\') {
			const char *alt = line_escape(p[1]);
			long c;

			if (p[1] == '\0' || strchr("QRXCpPo", p[1]) != NULL)
				goto fail;
			if (alt != NULL) {
				strbuf_append(&b, alt, strlen(alt));
				changed = 1;
				p += 2;
				continue;
			}
			c = escape_char(p, 0, &e);
			if (c == 10)
				goto fail;	/* a line end spelled out */
			if (c < 0) {
				/* \g{..} \k<..> \N{..}: to their end, whatever is inside */
				e = p + 2;
				if ((p[1] == 'g' || p[1] == 'k' || p[1] == 'N') &&
				    (*e == '{' || *e == '<' || *e == '\'')) {
					const char *close = strchr(e, *e == '{' ? '}' : *e == '<' ? '>' : '\'');
					if (close == NULL)
						goto fail;
					e = close + 1;
				}
			}
			strbuf_append(&b, p, (size_t)(e - p));
			p = e;
		} else if (*p == '[') {
			int rc;

			if ((e = class_end(p)) == NULL || (rc = line_class(&b, p, e)) < 0)
				goto fail;
			changed |= rc;
			p = e + 1;
		} else if (p[0] == '(' && p[1] == '?') {
			const char *q = p + 2;

			if (*q == '#') {
				/* (?#...): a comment, to its ')' */
				if ((e = strchr(q, ')')) == NULL)
					goto fail;
				strbuf_append(&b, p, (size_t)(e + 1 - p));
				p = e + 1;
				continue;
			}
			/* Options: (?s) would let . match a line end. */
			while (*q == '^' || isalpha((unsigned char)*q)) {
				if (*q == 's' || (*q == 'x' && !extended))
					goto fail;
				q++;
			}
			strbuf_append(&b, p, 2);
			p += 2;
		} else {
			strbuf_putc(&b, *p);
			p++;
		}
	}
	return rewritten(&b, changed);
fail:
	strbuf_free(&b);
	return NULL;
}

/*
 * rules_disjoint_matches: the pattern read as a finite set of sequences
 * of byte sets (at most DJ_SEQS of at most DJ_LEN), then every way one
 * could start inside another, or two of different lengths at one place,
 * looked for.
 */
#define DJ_SEQS 64
#define DJ_LEN 16

struct dj_set {
	uint64_t w[4];
};

struct dj_seqs {
	struct dj_set v[DJ_SEQS][DJ_LEN];
	unsigned int len[DJ_SEQS];
	unsigned int n;
};

static void
dj_add(struct dj_set *s, unsigned int c, int caseless)
{
	s->w[c >> 6] |= (uint64_t)1 << (c & 63);
	if (caseless && isalpha((int)c) && c < 0x80) {
		unsigned int o = (unsigned int)(isupper((int)c) ? tolower((int)c) : toupper((int)c));

		s->w[o >> 6] |= (uint64_t)1 << (o & 63);
	}
}

static int
dj_has(const struct dj_set *s, unsigned int c)
{
	return (s->w[c >> 6] >> (c & 63)) & 1;
}

static int
dj_meets(const struct dj_set *a, const struct dj_set *b)
{
	return ((a->w[0] & b->w[0]) | (a->w[1] & b->w[1]) | (a->w[2] & b->w[2]) |
	    (a->w[3] & b->w[3])) != 0;
}

static int
dj_hex(const char **pp, unsigned int *c)
{
	const char *p = *pp;
	unsigned int v = 0, i;

	for (i = 0; i < 2 && isxdigit((unsigned char)p[i]); i++)
		v = v * 16 + (unsigned int)(isdigit((unsigned char)p[i]) ? p[i] - '0' :
		    tolower((unsigned char)p[i]) - 'a' + 10);
	if (i == 0)
		return -1;
	*pp = p + i;
	*c = v;
	return 0;
}

/*
 * One escaped byte or class after the backslash at *pp into s; -1 for
 * what is not a fixed set of bytes (anchors, back-references ...).
 */
static int
dj_escape(const char **pp, struct dj_set *s, int caseless)
{
	const char *p = *pp + 1;
	unsigned int c, i;
	char e = *p++;

	switch (e) {
	case 'x':
		if (dj_hex(&p, &c) < 0)
			return -1;
		dj_add(s, c, caseless);
		break;
	case 't': dj_add(s, '\t', 0); break;
	case 'n': dj_add(s, '\n', 0); break;
	case 'r': dj_add(s, '\r', 0); break;
	case 'f': dj_add(s, '\f', 0); break;
	case 'e': dj_add(s, 0x1b, 0); break;
	case 'd':
		for (i = '0'; i <= '9'; i++)
			dj_add(s, i, 0);
		break;
	case 'w':
		for (i = 0; i < 0x80; i++)
			if (isalnum((int)i) || i == '_')
				dj_add(s, i, 0);
		break;
	case 's':
		for (i = 0; i < 0x80; i++)
			if (i == ' ' || (i >= '\t' && i <= '\r'))
				dj_add(s, i, 0);
		break;
	default:
		if (e == '\0' || isalnum((unsigned char)e))
			return -1;
		dj_add(s, (unsigned char)e, caseless);
	}
	*pp = p;
	return 0;
}

/* The class at *pp ('['); -1 for a POSIX class or what is not read here. */
static int
dj_class(const char **pp, struct dj_set *s, int caseless)
{
	const char *p = *pp + 1;
	struct dj_set in = { { 0 } };
	int neg = 0, first = 1;

	if (*p == '^') {
		neg = 1;
		p++;
	}
	for (;; first = 0) {
		unsigned int lo, hi;
		struct dj_set one = { { 0 } };

		if (*p == '\0')
			return -1;
		if (*p == ']' && !first)
			break;
		if (*p == '[' && p[1] == ':')
			return -1;
		if (*p == '\\') {
			const char *q = p;

			if (p[1] == 'x' || !isalnum((unsigned char)p[1]) || strchr("tnrfe", p[1]) != NULL) {
				if (dj_escape(&q, &one, 0) < 0)
					return -1;
			} else if (p[1] == 'd' || p[1] == 'w' || p[1] == 's') {
				if (dj_escape(&q, &in, caseless) < 0)
					return -1;
				p = q;
				continue;
			} else {
				return -1;
			}
			/* a single byte: where a range may start */
			for (lo = 0; lo < 256 && !dj_has(&one, lo); lo++)
				;
			p = q;
		} else {
			lo = (unsigned char)*p++;
		}
		hi = lo;
		if (p[0] == '-' && p[1] != ']' && p[1] != '\0') {
			p++;
			if (*p == '\\') {
				struct dj_set end = { { 0 } };
				const char *q = p;

				if (p[1] != 'x' && isalnum((unsigned char)p[1]))
					return -1;
				if (dj_escape(&q, &end, 0) < 0)
					return -1;
				for (hi = 0; hi < 256 && !dj_has(&end, hi); hi++)
					;
				p = q;
			} else {
				hi = (unsigned char)*p++;
			}
			if (hi < lo)
				return -1;
		}
		for (unsigned int c = lo; c <= hi; c++)
			dj_add(&in, c, caseless);
	}
	for (int k = 0; k < 4; k++)
		s->w[k] |= neg ? ~in.w[k] : in.w[k];
	*pp = p + 1;
	return 0;
}

static int dj_alternation(const char **pp, struct dj_seqs *out, int caseless, int depth);

/* out = out followed by each of next (every pairing); -1 past the limits. */
static int
dj_concat(struct dj_seqs *out, const struct dj_seqs *next)
{
	struct dj_seqs *r;

	if (out->n * next->n > DJ_SEQS)
		return -1;
	r = xcalloc(1, sizeof(*r));
	for (unsigned int i = 0; i < out->n; i++)
		for (unsigned int j = 0; j < next->n; j++) {
			if (out->len[i] + next->len[j] > DJ_LEN) {
				free(r);
				return -1;
			}
			memcpy(r->v[r->n], out->v[i], out->len[i] * sizeof(struct dj_set));
			memcpy(r->v[r->n] + out->len[i], next->v[j], next->len[j] * sizeof(struct dj_set));
			r->len[r->n++] = out->len[i] + next->len[j];
		}
	*out = *r;
	free(r);
	return 0;
}

/* A branch: atoms and groups, no quantifier, up to '|', ')' or the end. */
static int
dj_branch(const char **pp, struct dj_seqs *out, int caseless, int depth)
{
	const char *p = *pp;
	struct dj_seqs *atom = xcalloc(1, sizeof(*atom));
	int rc = -1;

	out->n = 1;
	out->len[0] = 0;
	while (*p != '\0' && *p != '|' && *p != ')') {
		memset(atom, 0, sizeof(*atom));
		if (*p == '(') {
			p++;
			if (p[0] == '?' && p[1] == ':')
				p += 2;
			else if (*p == '?' || *p == '*')
				goto out;
			if (dj_alternation(&p, atom, caseless, depth + 1) < 0 || *p != ')')
				goto out;
			p++;
		} else {
			atom->n = 1;
			atom->len[0] = 1;
			if (*p == '[') {
				if (dj_class(&p, &atom->v[0][0], caseless) < 0)
					goto out;
			} else if (*p == '\\') {
				if (dj_escape(&p, &atom->v[0][0], caseless) < 0)
					goto out;
			} else if (strchr("^$.?*+{}", *p) != NULL) {
				goto out;
			} else {
				dj_add(&atom->v[0][0], (unsigned char)*p++, caseless);
			}
		}
		/* A quantifier after it: not a fixed set of strings (or not worth it). */
		if (*p == '?' || *p == '*' || *p == '+' || *p == '{')
			goto out;
		if (dj_concat(out, atom) < 0)
			goto out;
	}
	rc = 0;
out:
	free(atom);
	*pp = p;
	return rc;
}

static int
dj_alternation(const char **pp, struct dj_seqs *out, int caseless, int depth)
{
	struct dj_seqs *b;
	int rc = -1;

	if (depth > 8)
		return -1;
	b = xcalloc(1, sizeof(*b));
	out->n = 0;
	for (;;) {
		if (dj_branch(pp, b, caseless, depth) < 0 || out->n + b->n > DJ_SEQS)
			goto out;
		for (unsigned int i = 0; i < b->n; i++) {
			memcpy(out->v[out->n], b->v[i], b->len[i] * sizeof(struct dj_set));
			out->len[out->n++] = b->len[i];
		}
		if (**pp != '|')
			break;
		(*pp)++;
	}
	rc = 0;
out:
	free(b);
	return rc;
}

/* Whether b can match starting at offset k of a match of a (over what both cover). */
static int
dj_overlaps(const struct dj_seqs *s, unsigned int a, unsigned int b, unsigned int k)
{
	for (unsigned int j = 0; k + j < s->len[a] && j < s->len[b]; j++)
		if (!dj_meets(&s->v[a][k + j], &s->v[b][j]))
			return 0;
	return 1;
}

int
rules_disjoint_matches(const char *pattern, int caseless)
{
	struct dj_seqs *s = xcalloc(1, sizeof(*s));
	const char *p = pattern;
	int ok = 0;

	if (dj_alternation(&p, s, caseless, 0) < 0 || *p != '\0' || s->n == 0)
		goto out;
	for (unsigned int a = 0; a < s->n; a++) {
		if (s->len[a] == 0)
			goto out;
		for (unsigned int i = 0; i < s->len[a]; i++)
			if (dj_has(&s->v[a][i], '\n') ||
			    (s->v[a][i].w[0] | s->v[a][i].w[1] | s->v[a][i].w[2] | s->v[a][i].w[3]) == 0)
				goto out;
	}
	for (unsigned int a = 0; a < s->n; a++)
		for (unsigned int b = 0; b < s->n; b++) {
			/* Two lengths from one place: Perl takes one, Hyperscan reports both ends. */
			if (s->len[a] != s->len[b] && dj_overlaps(s, a, b, 0))
				goto out;
			for (unsigned int k = 1; k < s->len[a]; k++)
				if (dj_overlaps(s, a, b, k))
					goto out;
		}
	ok = 1;
out:
	free(s);
	return ok;
}
