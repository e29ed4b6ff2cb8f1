/* SPDX-License-Identifier: MIT */
/*
 * rules_meta - compile meta expressions to a stack program (recursive
 * descent, postfix output) and run it.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/rules_meta.h"

#define META_MAX_DEPTH 64

enum meta_op {
	OP_NUM, OP_RULE, OP_NOT, OP_NEG, OP_MUL, OP_DIV, OP_ADD, OP_SUB,
	OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_AND, OP_OR
};

struct meta_insn {
	enum meta_op op;
	int rule;
	double num;
};

struct rules_meta {
	struct meta_insn *code;
	unsigned int count, alloc;
	unsigned int max_stack;
	int *deps;
	unsigned int dep_count;
	double at_zero;		/* the value when no rule it reads hit */
};

struct meta_parser {
	struct rules_meta *m;
	const char *s;
	int (*resolve)(void *context, const char *name);
	void *context;
	const char *error;
	unsigned int depth;
	unsigned int stack;	/* depth of the value stack at this point */
};

static void
emit(struct meta_parser *p, enum meta_op op, int rule, double num)
{
	struct rules_meta *m = p->m;

	if (m->count == m->alloc) {
		m->alloc = m->alloc == 0 ? 16 : m->alloc * 2;
		m->code = xrealloc(m->code, m->alloc * sizeof(*m->code));
	}
	m->code[m->count].op = op;
	m->code[m->count].rule = rule;
	m->code[m->count].num = num;
	m->count++;
	if (op == OP_NUM || op == OP_RULE) {
		if (++p->stack > m->max_stack)
			m->max_stack = p->stack;
	} else if (op != OP_NOT && op != OP_NEG) {
		p->stack--;
	}
}

static void
skip(struct meta_parser *p)
{
	while (isspace((unsigned char)*p->s))
		p->s++;
}

static void parse_or(struct meta_parser *p);

static void
parse_unary(struct meta_parser *p)
{
	skip(p);
	if (p->error != NULL)
		return;
	if (++p->depth > META_MAX_DEPTH) {
		p->error = "expression nested too deep";
		return;
	}
	if (*p->s == '!') {
		p->s++;
		parse_unary(p);
		emit(p, OP_NOT, 0, 0);
	} else if (*p->s == '-') {
		p->s++;
		parse_unary(p);
		emit(p, OP_NEG, 0, 0);
	} else if (*p->s == '(') {
		p->s++;
		parse_or(p);
		skip(p);
		if (p->error == NULL && *p->s != ')')
			p->error = "missing )";
		else
			p->s++;
	} else if (isdigit((unsigned char)*p->s) || *p->s == '.') {
		char *end;
		double v = strtod(p->s, &end);

		if (end == p->s) {
			p->error = "bad number";
			return;
		}
		p->s = end;
		emit(p, OP_NUM, 0, v);
	} else if (isalpha((unsigned char)*p->s) || *p->s == '_') {
		const char *start = p->s;
		char *name;
		int idx;

		while (isalnum((unsigned char)*p->s) || *p->s == '_')
			p->s++;
		name = xstrndup(start, (size_t)(p->s - start));
		idx = p->resolve(p->context, name);
		free(name);
		if (idx < 0) {
			emit(p, OP_NUM, 0, 0);
		} else {
			struct rules_meta *m = p->m;

			m->deps = xrealloc(m->deps, (m->dep_count + 1) * sizeof(*m->deps));
			m->deps[m->dep_count++] = idx;
			emit(p, OP_RULE, idx, 0);
		}
	} else {
		p->error = *p->s == '\0' ? "unexpected end" : "unexpected character";
	}
	p->depth--;
}

static void
parse_mul(struct meta_parser *p)
{
	parse_unary(p);
	for (;;) {
		enum meta_op op;

		skip(p);
		if (p->error != NULL)
			return;
		if (*p->s == '*')
			op = OP_MUL;
		else if (*p->s == '/')
			op = OP_DIV;
		else
			return;
		p->s++;
		parse_unary(p);
		emit(p, op, 0, 0);
	}
}

static void
parse_add(struct meta_parser *p)
{
	parse_mul(p);
	for (;;) {
		enum meta_op op;

		skip(p);
		if (p->error != NULL)
			return;
		if (*p->s == '+')
			op = OP_ADD;
		else if (*p->s == '-')
			op = OP_SUB;
		else
			return;
		p->s++;
		parse_mul(p);
		emit(p, op, 0, 0);
	}
}

static void
parse_cmp(struct meta_parser *p)
{
	parse_add(p);
	for (;;) {
		enum meta_op op;

		skip(p);
		if (p->error != NULL)
			return;
		if (strncmp(p->s, "<=", 2) == 0) op = OP_LE, p->s += 2;
		else if (strncmp(p->s, ">=", 2) == 0) op = OP_GE, p->s += 2;
		else if (strncmp(p->s, "==", 2) == 0) op = OP_EQ, p->s += 2;
		else if (strncmp(p->s, "!=", 2) == 0) op = OP_NE, p->s += 2;
		else if (*p->s == '<') op = OP_LT, p->s++;
		else if (*p->s == '>') op = OP_GT, p->s++;
		else
			return;
		parse_add(p);
		emit(p, op, 0, 0);
	}
}

static void
parse_and(struct meta_parser *p)
{
	parse_cmp(p);
	for (;;) {
		skip(p);
		if (p->error != NULL || strncmp(p->s, "&&", 2) != 0)
			return;
		p->s += 2;
		parse_cmp(p);
		emit(p, OP_AND, 0, 0);
	}
}

static void
parse_or(struct meta_parser *p)
{
	parse_and(p);
	for (;;) {
		skip(p);
		if (p->error != NULL || strncmp(p->s, "||", 2) != 0)
			return;
		p->s += 2;
		parse_and(p);
		emit(p, OP_OR, 0, 0);
	}
}

static double
zero_value(void *context, int rule)
{
	(void)context;
	(void)rule;
	return 0;
}

struct rules_meta *
rules_meta_compile(const char *expr, int (*resolve)(void *context, const char *name),
    void *context, const char **error_r)
{
	struct meta_parser p;

	memset(&p, 0, sizeof(p));
	p.m = xcalloc(1, sizeof(*p.m));
	p.s = expr;
	p.resolve = resolve;
	p.context = context;
	parse_or(&p);
	skip(&p);
	if (p.error == NULL && *p.s != '\0')
		p.error = "text after the expression";
	if (p.error != NULL) {
		*error_r = p.error;
		rules_meta_free(&p.m);
		return NULL;
	}
	p.m->at_zero = rules_meta_eval(p.m, zero_value, NULL);
	return p.m;
}

double
rules_meta_at_zero(const struct rules_meta *m)
{
	return m->at_zero;
}

double
rules_meta_eval(const struct rules_meta *m, double (*value)(void *context, int rule),
    void *context)
{
	double stack[2 * META_MAX_DEPTH + 16], *st = stack;
	double heap_a = 0, *heap = NULL;
	unsigned int i, sp = 0;

	if (m->max_stack > sizeof(stack) / sizeof(stack[0]))
		st = heap = xmalloc(m->max_stack * sizeof(*st));
	for (i = 0; i < m->count; i++) {
		const struct meta_insn *in = &m->code[i];
		double a, b;

		switch (in->op) {
		case OP_NUM: st[sp++] = in->num; continue;
		case OP_RULE: st[sp++] = value(context, in->rule); continue;
		case OP_NOT: st[sp - 1] = st[sp - 1] == 0; continue;
		case OP_NEG: st[sp - 1] = -st[sp - 1]; continue;
		default: break;
		}
		b = st[--sp];
		a = st[sp - 1];
		switch (in->op) {
		case OP_MUL: a = a * b; break;
		case OP_DIV: a = b == 0 ? 0 : a / b; break;
		case OP_ADD: a = a + b; break;
		case OP_SUB: a = a - b; break;
		case OP_LT: a = a < b; break;
		case OP_LE: a = a <= b; break;
		case OP_GT: a = a > b; break;
		case OP_GE: a = a >= b; break;
		case OP_EQ: a = a == b; break;
		case OP_NE: a = a != b; break;
		case OP_AND: a = a != 0 && b != 0; break;
		case OP_OR: a = a != 0 || b != 0; break;
		default: break;
		}
		st[sp - 1] = a;
	}
	heap_a = sp > 0 ? st[sp - 1] : 0;
	free(heap);
	return heap_a;
}

unsigned int
rules_meta_deps(const struct rules_meta *m, const int **deps_r)
{
	*deps_r = m->deps;
	return m->dep_count;
}

void
rules_meta_free(struct rules_meta **meta)
{
	struct rules_meta *m = *meta;

	if (m == NULL)
		return;
	*meta = NULL;
	free(m->code);
	free(m->deps);
	free(m);
}
