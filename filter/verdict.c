/* SPDX-License-Identifier: MIT */
/* verdict - see verdict.h. */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/verdict.h"
#include "lib/mem.h"

void
verdict_init(struct verdict *v)
{
	memset(v, 0, sizeof(*v));
}

const struct verdict_symbol *
verdict_find(const struct verdict *v, const char *name)
{
	for (size_t i = 0; i < v->nsyms; i++)
		if (strcmp(v->syms[i].name, name) == 0)
			return &v->syms[i];
	return NULL;
}

void
verdict_add(struct verdict *v, const char *name, double score, const char *detail_fmt, ...)
{
	struct verdict_symbol *s;

	if (verdict_find(v, name) != NULL)
		return;
	if (v->nsyms == v->cap) {
		v->cap = v->cap == 0 ? 16 : v->cap * 2;
		v->syms = xrealloc(v->syms, v->cap * sizeof(*v->syms));
	}
	s = &v->syms[v->nsyms++];
	s->name = xstrdup(name);
	s->score = score;
	s->detail = NULL;
	if (detail_fmt != NULL) {
		va_list ap;
		va_start(ap, detail_fmt);
		if (vasprintf(&s->detail, detail_fmt, ap) < 0)
			s->detail = NULL;
		va_end(ap);
	}
	v->score += score;
}

void
verdict_free(struct verdict *v)
{
	for (size_t i = 0; i < v->nsyms; i++) {
		free(v->syms[i].name);
		free(v->syms[i].detail);
	}
	free(v->syms);
	memset(v, 0, sizeof(*v));
}
