/* SPDX-License-Identifier: MIT */
/*
 * rules_meta - compile meta expressions to a stack program (recursive
 * descent, postfix output) and run it.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
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
	/* rules_meta_guards(): guard_count -1 when there is no such set */
	int *guards;
	int guard_count;
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
		if (p->error != NULL)
			return;
		if (*p->s != ')')
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

/*
 * A set of rules one of which is not 0 whenever a sub-expression is not
 * 0 (n -1: none known).
 */
struct guard_set {
	int *r;
	int n;
};

static void
guard_union(struct guard_set *a, const struct guard_set *b)
{
	for (int i = 0; i < b->n; i++) {
		int k;

		for (k = 0; k < a->n && a->r[k] != b->r[i]; k++)
			;
		if (k < a->n)
			continue;
		a->r = xrealloc(a->r, (size_t)(a->n + 1) * sizeof(*a->r));
		a->r[a->n++] = b->r[i];
	}
}

/*
 * The guards of m, from its postfix program: a rule's value is not 0
 * only when it is; a && b, a * b and a / b need both sides not 0 (the
 * smaller set of the two does), a || b, a + b and a - b one of them (the
 * union), -a needs a; a number 0 never is, the other operators are
 * unknown.  Only when the value with no rule hit is 0.
 */
static void
find_guards(struct rules_meta *m)
{
	struct guard_set *st = xcalloc(m->count + 1, sizeof(*st));
	unsigned int sp = 0;

	m->guard_count = -1;
	for (unsigned int k = 0; k < m->count; k++) {
		const struct meta_insn *in = &m->code[k];
		struct guard_set *a, *b;

		switch (in->op) {
		case OP_NUM:
			st[sp].r = NULL;
			st[sp++].n = in->num == 0 ? 0 : -1;
			continue;
		case OP_RULE:
			st[sp].r = xmalloc(sizeof(*st[sp].r));
			st[sp].r[0] = in->rule;
			st[sp++].n = 1;
			continue;
		case OP_NEG:
			continue;
		case OP_NOT:
			free(st[sp - 1].r);
			st[sp - 1].r = NULL;
			st[sp - 1].n = -1;
			continue;
		default:
			break;
		}
		a = &st[sp - 2];
		b = &st[sp - 1];
		sp--;
		switch (in->op) {
		case OP_AND:
		case OP_MUL:
		case OP_DIV:
			/* The smaller known set. */
			if (b->n >= 0 && (a->n < 0 || b->n < a->n)) {
				struct guard_set t = *a;

				*a = *b;
				*b = t;
			}
			break;
		case OP_OR:
		case OP_ADD:
		case OP_SUB:
			if (a->n >= 0 && b->n >= 0) {
				guard_union(a, b);
			} else {
				free(a->r);
				a->r = NULL;
				a->n = -1;
			}
			break;
		default:
			free(a->r);
			a->r = NULL;
			a->n = -1;
			break;
		}
		free(b->r);
		b->r = NULL;
	}
	if (sp == 1 && st[0].n >= 0 && m->at_zero == 0) {
		m->guards = st[0].r;
		m->guard_count = st[0].n;
		st[0].r = NULL;
	}
	for (unsigned int k = 0; k < sp; k++)
		free(st[k].r);
	free(st);
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
	find_guards(p.m);
	return p.m;
}

double
rules_meta_at_zero(const struct rules_meta *m)
{
	return m->at_zero;
}

/* A binary operator on two values. */
static inline double
binary(enum meta_op op, double a, double b)
{
	switch (op) {
	case OP_MUL: return a * b;
	case OP_DIV: return b == 0 ? 0 : a / b;
	case OP_ADD: return a + b;
	case OP_SUB: return a - b;
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	case OP_GE: return a >= b;
	case OP_EQ: return a == b;
	case OP_NE: return a != b;
	case OP_AND: return a != 0 && b != 0;
	case OP_OR: return a != 0 || b != 0;
	default: return 0;
	}
}

double
rules_meta_eval(const struct rules_meta *m, double (*value)(void *context, int rule),
    void *context)
{
	double stack[2 * META_MAX_DEPTH + 16], *st = stack;
	double res = 0, *heap = NULL;
	unsigned int i, sp = 0;

	if (m->max_stack > sizeof(stack) / sizeof(stack[0]))
		st = heap = xmalloc(m->max_stack * sizeof(*st));
	for (i = 0; i < m->count; i++) {
		const struct meta_insn *in = &m->code[i];

		switch (in->op) {
		case OP_NUM: st[sp++] = in->num; break;
		case OP_RULE: st[sp++] = value(context, in->rule); break;
		case OP_NOT: st[sp - 1] = st[sp - 1] == 0; break;
		case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
		default:
			sp--;
			st[sp - 1] = binary(in->op, st[sp - 1], st[sp]);
			break;
		}
	}
	if (sp > 0)
		res = st[sp - 1];
	free(heap);
	return res;
}

/* ---- ranges ---- */

typedef struct rules_meta_range range;

static const range WIDE = { -INFINITY, INFINITY };

static range
r_make(double lo, double hi)
{
	range r;

	if (isnan(lo) || isnan(hi))
		return WIDE;
	r.lo = lo;
	r.hi = hi;
	return r;
}

static int
r_zero(range a)
{
	return a.lo == 0 && a.hi == 0;
}

/* 0 is out of it: certainly true. */
static int
r_true(range a)
{
	return a.lo > 0 || a.hi < 0;
}

static range
r_bool(int certainly_true, int certainly_false)
{
	range r = { certainly_true ? 1 : 0, certainly_false ? 0 : 1 };

	return r;
}

/* No infinite end: x * 0 is then 0 for every x in it (inf * 0 is NaN). */
static int
r_finite(range a)
{
	return isfinite(a.lo) && isfinite(a.hi);
}

static range
r_not(range a)
{
	return r_bool(r_zero(a), r_true(a));
}

/* The range of an operator monotonic in each operand: its values at the corners. */
static range
r_corners(const double v[4])
{
	double lo = v[0], hi = v[0];

	for (int i = 0; i < 4; i++) {
		if (isnan(v[i]))
			return WIDE;
		lo = fmin(lo, v[i]);
		hi = fmax(hi, v[i]);
	}
	return r_make(lo, hi);
}

static range
r_mul(range a, range b)
{
	double p[4];

	/* 0 * x is 0 whatever x is, but for infinities. */
	if ((r_zero(a) && r_finite(b)) || (r_zero(b) && r_finite(a)))
		return r_make(0, 0);
	p[0] = a.lo * b.lo;
	p[1] = a.lo * b.hi;
	p[2] = a.hi * b.lo;
	p[3] = a.hi * b.hi;
	return r_corners(p);
}

/* a / b, 0 where b is 0 (binary()). */
static range
r_div(range a, range b)
{
	double q[4];

	if (r_zero(b) || (r_zero(a) && r_finite(b)))
		return r_make(0, 0);
	/* b may be 0 (a value of 0) or near it (any value). */
	if (b.lo <= 0 && b.hi >= 0)
		return WIDE;
	/* Monotonic in a and in b away from 0: the extremes are at the corners. */
	q[0] = a.lo / b.lo;
	q[1] = a.lo / b.hi;
	q[2] = a.hi / b.lo;
	q[3] = a.hi / b.hi;
	return r_corners(q);
}

/* binary() over ranges: every value it takes for values in a and b. */
static range
r_binary(enum meta_op op, range a, range b)
{
	switch (op) {
	case OP_MUL: return r_mul(a, b);
	case OP_DIV: return r_div(a, b);
	case OP_ADD: return r_make(a.lo + b.lo, a.hi + b.hi);
	case OP_SUB: return r_make(a.lo - b.hi, a.hi - b.lo);
	case OP_LT: return r_bool(a.hi < b.lo, a.lo >= b.hi);
	case OP_LE: return r_bool(a.hi <= b.lo, a.lo > b.hi);
	case OP_GT: return r_bool(a.lo > b.hi, a.hi <= b.lo);
	case OP_GE: return r_bool(a.lo >= b.hi, a.hi < b.lo);
	case OP_EQ:
		return r_bool(a.lo == a.hi && b.lo == b.hi && a.lo == b.lo,
		    a.hi < b.lo || a.lo > b.hi);
	case OP_NE:
		return r_bool(a.hi < b.lo || a.lo > b.hi,
		    a.lo == a.hi && b.lo == b.hi && a.lo == b.lo);
	case OP_AND: return r_bool(r_true(a) && r_true(b), r_zero(a) || r_zero(b));
	case OP_OR: return r_bool(r_true(a) || r_true(b), r_zero(a) && r_zero(b));
	default: return r_make(0, 0);
	}
}

/* ---- packed programs ---- */

/*
 * The operators of enum meta_op, and for && and || a jump after their
 * left side: JZ (&&) jumps past the OP_AND when the left side decides
 * it (0), JNZ (||) past the OP_OR (not 0, the result is 1); else the left
 * side stays on the stack for the operator.
 */
#define OP_JZ (OP_OR + 1)
#define OP_JNZ (OP_OR + 2)
#define OP_END (OP_OR + 3)

struct pack_insn {
	uint32_t op;
	uint32_t arg;	/* rule, index in nums, or how far to jump */
};

struct rules_meta_pack {
	struct pack_insn *code;
	size_t count, alloc;
	uint32_t *start;	/* by meta: its first instruction */
	double *nums;
	size_t nnums, nums_alloc;
	unsigned int max_stack;
};

/* The expression as a tree, from the postfix program. */
struct pack_node {
	enum meta_op op;
	int rule;
	double num;
	int a, b;
};

static size_t
pack_emit(struct rules_meta_pack *p, uint32_t op, uint32_t arg)
{
	if (p->count == p->alloc) {
		p->alloc = p->alloc == 0 ? 1024 : p->alloc * 2;
		p->code = xrealloc(p->code, p->alloc * sizeof(*p->code));
	}
	p->code[p->count].op = op;
	p->code[p->count].arg = arg;
	return p->count++;
}

static void
pack_node(struct rules_meta_pack *p, const struct pack_node *nodes, int n)
{
	const struct pack_node *nd = &nodes[n];
	size_t jump;

	switch (nd->op) {
	case OP_NUM:
		if (p->nnums == p->nums_alloc) {
			p->nums_alloc = p->nums_alloc == 0 ? 64 : p->nums_alloc * 2;
			p->nums = xrealloc(p->nums, p->nums_alloc * sizeof(*p->nums));
		}
		p->nums[p->nnums] = nd->num;
		pack_emit(p, OP_NUM, (uint32_t)p->nnums++);
		return;
	case OP_RULE:
		pack_emit(p, OP_RULE, (uint32_t)nd->rule);
		return;
	case OP_NOT:
	case OP_NEG:
		pack_node(p, nodes, nd->a);
		pack_emit(p, nd->op, 0);
		return;
	case OP_AND:
	case OP_OR:
		pack_node(p, nodes, nd->a);
		jump = pack_emit(p, nd->op == OP_AND ? OP_JZ : OP_JNZ, 0);
		pack_node(p, nodes, nd->b);
		pack_emit(p, nd->op, 0);
		/* To the instruction after the operator. */
		p->code[jump].arg = (uint32_t)(p->count - jump);
		return;
	default:
		pack_node(p, nodes, nd->a);
		pack_node(p, nodes, nd->b);
		pack_emit(p, nd->op, 0);
		return;
	}
}

struct rules_meta_pack *
rules_meta_pack(const struct rules_meta *const *metas, unsigned int n)
{
	struct rules_meta_pack *p = xcalloc(1, sizeof(*p));

	p->start = xcalloc(n + 1, sizeof(*p->start));
	for (unsigned int i = 0; i < n; i++) {
		const struct rules_meta *m = metas[i];
		struct pack_node *nodes = xcalloc(m->count + 1, sizeof(*nodes));
		int *st = xcalloc(m->count + 1, sizeof(*st));
		unsigned int sp = 0;

		for (unsigned int k = 0; k < m->count; k++) {
			const struct meta_insn *in = &m->code[k];

			nodes[k].op = in->op;
			nodes[k].rule = in->rule;
			nodes[k].num = in->num;
			if (in->op == OP_NOT || in->op == OP_NEG) {
				nodes[k].a = st[sp - 1];
				sp--;
			} else if (in->op != OP_NUM && in->op != OP_RULE) {
				nodes[k].b = st[sp - 1];
				nodes[k].a = st[sp - 2];
				sp -= 2;
			}
			st[sp++] = (int)k;
		}
		p->start[i] = (uint32_t)p->count;
		if (sp == 1) {
			pack_node(p, nodes, st[0]);
		} else {
			/* No value (not compiled so): 0, as rules_meta_eval. */
			struct pack_node zero = { OP_NUM, 0, 0, 0, 0 };

			pack_node(p, &zero, 0);
		}
		pack_emit(p, OP_END, 0);
		/* The same values on the stack, in the same order. */
		if (m->max_stack > p->max_stack)
			p->max_stack = m->max_stack;
		free(st);
		free(nodes);
	}
	return p;
}

double
rules_meta_pack_eval(const struct rules_meta_pack *p, unsigned int i, const float *values)
{
	double stack[2 * META_MAX_DEPTH + 16], *st = stack, *heap = NULL, res;
	const struct pack_insn *in = &p->code[p->start[i]];
	unsigned int sp = 0;

	if (p->max_stack > sizeof(stack) / sizeof(stack[0]))
		st = heap = xmalloc(p->max_stack * sizeof(*st));
	/* One dispatch an instruction: each operator its own case. */
	for (;; in++) {
		switch (in->op) {
		case OP_NUM: st[sp++] = p->nums[in->arg]; continue;
		case OP_RULE: st[sp++] = values[in->arg]; continue;
		case OP_NOT: st[sp - 1] = st[sp - 1] == 0; continue;
		case OP_NEG: st[sp - 1] = -st[sp - 1]; continue;
		case OP_JZ:
			if (st[sp - 1] == 0) {
				st[sp - 1] = 0;
				in += in->arg - 1;
			}
			continue;
		case OP_JNZ:
			if (st[sp - 1] != 0) {
				st[sp - 1] = 1;
				in += in->arg - 1;
			}
			continue;
		case OP_MUL: sp--; st[sp - 1] = st[sp - 1] * st[sp]; continue;
		case OP_DIV: sp--; st[sp - 1] = st[sp] == 0 ? 0 : st[sp - 1] / st[sp]; continue;
		case OP_ADD: sp--; st[sp - 1] = st[sp - 1] + st[sp]; continue;
		case OP_SUB: sp--; st[sp - 1] = st[sp - 1] - st[sp]; continue;
		case OP_LT: sp--; st[sp - 1] = st[sp - 1] < st[sp]; continue;
		case OP_LE: sp--; st[sp - 1] = st[sp - 1] <= st[sp]; continue;
		case OP_GT: sp--; st[sp - 1] = st[sp - 1] > st[sp]; continue;
		case OP_GE: sp--; st[sp - 1] = st[sp - 1] >= st[sp]; continue;
		case OP_EQ: sp--; st[sp - 1] = st[sp - 1] == st[sp]; continue;
		case OP_NE: sp--; st[sp - 1] = st[sp - 1] != st[sp]; continue;
		case OP_AND: sp--; st[sp - 1] = st[sp - 1] != 0 && st[sp] != 0; continue;
		case OP_OR: sp--; st[sp - 1] = st[sp - 1] != 0 || st[sp] != 0; continue;
		default: break;	/* OP_END */
		}
		break;
	}
	res = sp > 0 ? st[sp - 1] : 0;
	free(heap);
	return res;
}

struct rules_meta_range
rules_meta_pack_eval_range(const struct rules_meta_pack *p, unsigned int i, const float *lo,
    const float *hi)
{
	range stack[2 * META_MAX_DEPTH + 16], *st = stack, *heap = NULL, res = { 0, 0 };
	const struct pack_insn *in = &p->code[p->start[i]];
	unsigned int sp = 0;

	if (p->max_stack > sizeof(stack) / sizeof(stack[0]))
		st = heap = xmalloc(p->max_stack * sizeof(*st));
	for (; in->op != OP_END; in++) {
		switch (in->op) {
		case OP_NUM: st[sp++] = r_make(p->nums[in->arg], p->nums[in->arg]); break;
		case OP_RULE: st[sp++] = r_make(lo[in->arg], hi[in->arg]); break;
		case OP_NOT: st[sp - 1] = r_not(st[sp - 1]); break;
		case OP_NEG: st[sp - 1] = r_make(-st[sp - 1].hi, -st[sp - 1].lo); break;
		case OP_JZ:
			if (r_zero(st[sp - 1]))
				in += in->arg - 1;
			break;
		case OP_JNZ:
			if (r_true(st[sp - 1])) {
				st[sp - 1] = r_make(1, 1);
				in += in->arg - 1;
			}
			break;
		default:
			sp--;
			st[sp - 1] = r_binary((enum meta_op)in->op, st[sp - 1], st[sp]);
			break;
		}
	}
	if (sp > 0)
		res = st[sp - 1];
	free(heap);
	return res;
}

void
rules_meta_pack_free(struct rules_meta_pack **pack)
{
	struct rules_meta_pack *p = *pack;

	if (p == NULL)
		return;
	*pack = NULL;
	free(p->code);
	free(p->start);
	free(p->nums);
	free(p);
}

unsigned int
rules_meta_deps(const struct rules_meta *m, const int **deps_r)
{
	*deps_r = m->deps;
	return m->dep_count;
}

int
rules_meta_guards(const struct rules_meta *m, const int **guards_r)
{
	*guards_r = m->guards;
	return m->guard_count;
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
	free(m->guards);
	free(m);
}
