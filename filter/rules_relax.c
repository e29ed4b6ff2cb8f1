/* SPDX-License-Identifier: MIT */
/*
 * rules_relax - see rules_relax.h.  A walk over the pattern that knows
 * escapes, classes and groups, enough to find what to drop; anything it
 * does not understand gives up (NULL) rather than guess.
 */
#include "facteur-config.h"

#include <stddef.h>
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

