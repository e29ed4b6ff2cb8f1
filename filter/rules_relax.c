/* SPDX-License-Identifier: MIT */
/*
 * rules_relax - see rules_relax.h.  A walk over the pattern that knows
 * escapes, classes and groups, enough to find what to drop; anything it
 * does not understand gives up (NULL) rather than guess.
 */
#include "facteur-config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/rules_relax.h"
#include "filter/strbuf.h"

/*
 * The ']' closing the class that starts at p ('['), or NULL: a ']' first
 * is literal, backslash escapes, [:name:] nests.
 */
static const char *
class_end(const char *p)
{
	const char *q = p + 1;

	if (*q == '^')
		q++;
	if (*q == ']')
		q++;
	while (*q != '\0' && *q != ']') {
		if (*q == '\\' && q[1] != '\0')
			q += 2;
		else if (*q == '[' && q[1] == ':' && strstr(q + 2, ":]") != NULL)
			q = strstr(q + 2, ":]") + 2;
		else
			q++;
	}
	return *q == ']' ? q : NULL;
}

char *
rules_relax_pattern(const char *p, int extended)
{
	struct strbuf b = { 0 };
	int changed = 0;

	/* A conditional's condition cannot be dropped: (?(?=x)a) would become (?a). */
	if (extended || strstr(p, "\\Q") != NULL || strstr(p, "(?(") != NULL)
		return NULL;
	while (*p != '\0') {
		int drop = 0;

		if (*p == '\\' && p[1] != '\0') {
			char c = p[1];

			if (c == 'A' || c == 'z' || c == 'Z' || c == 'G') {
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
		} else if (*p == '^' || *p == '$') {
			p++;
			drop = 1;
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
	if (!changed) {
		strbuf_free(&b);
		return NULL;
	}
	strbuf_putc(&b, '\0');
	return b.data;
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

/*
 * {n}, {n,}, {n,m} at p that can repeat what it follows (n or m at least
 * 2, or no m); 0 for anything else, -1 for a number of more than 5 digits
 * (PCRE2 does not read those as Perl does).
 */
static int
repeat_quantifier(const char *p)
{
	unsigned long n = 0, m = 0;
	int comma = 0, ndigits = 0, mdigits = 0;

	if (*p++ != '{')
		return 0;
	for (; *p != '}'; p++) {
		if (*p >= '0' && *p <= '9') {
			if (comma) {
				m = m * 10 + (unsigned long)(*p - '0');
				mdigits++;
			} else {
				n = n * 10 + (unsigned long)(*p - '0');
				ndigits++;
			}
			if (ndigits > 5 || mdigits > 5)
				return -1;
		} else if (*p == ',' && !comma) {
			comma = 1;
		} else {
			return 0;
		}
	}
	return ndigits > 0 && (n >= 2 || m >= 2 || (comma && mdigits == 0));
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
				*v = realloc(*v, *alloc * sizeof(**v));
				if (*v == NULL)
					abort();
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
	t.v = malloc(sizeof(*t.v));
	if (t.v == NULL)
		abort();
	t.v[0] = strdup(p);
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
			char *def = strndup(t.v[s->str] + s->at + 3, s->len - 4);

			if (def == NULL)
				abort();
			replace_spans(&t, spans, best, best_end, t.n - 1);
			t.v = realloc(t.v, (t.n + 1) * sizeof(*t.v));
			if (t.v == NULL)
				abort();
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
