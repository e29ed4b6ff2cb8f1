/* SPDX-License-Identifier: MIT */
/*
 * sieve_run - the Sieve interpreter: a compiled script (sieve.c) walked
 * against one message, which gives the actions of sieve.h.
 *
 * Everything a run allocates is tracked by its context and freed at the
 * end; a runtime error longjmps out and the message gets the implicit
 * keep.  Strings are expanded (variables) into scratch memory released
 * after each test and command.  Every comparison step counts against
 * SIEVE_MAX_STEPS, so no script makes a delivery wait long.
 *
 * :matches is the classic one-pass glob with the last "*" as the only
 * backtracking point: linear in practice, O(n*m) at worst, and it gives
 * each "*" the shortest text that lets the match succeed, which is what
 * RFC 5229's examples expect of the match variables ("[*] *" against
 * "[acme-users] [fwd] version 1.0 is out" gives "acme-users").
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/mime.h"
#include "filter/mime_header.h"
#include "filter/strbuf.h"
#include "lib/mem.h"
#include "store/mstore.h"
#include "store/sieve.h"
#include "store/sieve_int.h"

#define MAX_EXPANSION 65536	/* bytes of an expanded string */
#define MAX_BODY_PART (1024 * 1024)	/* bytes of one part a body test reads */
#define MAX_FLAGS_LEN 4096
#define NMATCH 10		/* ${0} .. ${9} */

struct var {
	char *name;		/* lower case */
	char *value;
};

struct scratch {
	struct scratch *next;
	char data[];
};

struct body_part {
	struct strbuf text;	/* what a body test compares */
	int wanted;
};

struct values;
struct body_ctx;

struct run {
	const struct sieve_script *script;
	const struct sieve_env *env;
	struct sv_msg msg;
	struct sieve_result *res;
	jmp_buf fail;
	uint64_t steps;
	struct scratch *scratch;
	struct var *vars;
	size_t nvars;
	char *matches[NMATCH];
	char *flags;		/* imap4flags' internal variable */
	int implicit_keep;
	int nredirects;
	int stopped;
	int line;		/* of the command being run */
	struct values *vs;	/* what the test being run found */
	struct body_ctx *body;	/* a body test's parts */
};

static void rt_fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3),
    noreturn));

static void
rt_fail(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->res->error, sizeof(r->res->error), "line %d: ", r->line);

	va_start(ap, fmt);
	vsnprintf(r->res->error + n, sizeof(r->res->error) - (size_t)n, fmt, ap);
	va_end(ap);
	longjmp(r->fail, 1);
}

static void
step(struct run *r, uint64_t n)
{
	r->steps += n;
	if (r->steps > SIEVE_MAX_STEPS)
		rt_fail(r, "the script does too much work for one message (more than %d steps)",
		    SIEVE_MAX_STEPS);
}

static char *
scratch_alloc(struct run *r, size_t n)
{
	struct scratch *s = xmalloc(sizeof(*s) + n);

	s->next = r->scratch;
	r->scratch = s;
	return s->data;
}

static void
scratch_reset(struct run *r)
{
	while (r->scratch != NULL) {
		struct scratch *s = r->scratch;
		r->scratch = s->next;
		free(s);
	}
}

/* ---- the message ---- */

void
sv_msg_init(struct sv_msg *mv, const struct sieve_message *m)
{
	const char *p = m->data, *end = m->data + m->len;
	struct strbuf out = { NULL, 0, 0 };
	struct charset_conv *conv = NULL;
	size_t cap = 0;

	memset(mv, 0, sizeof(*mv));
	mv->m = m;
	mv->size = m->len;
	mv->body_off = m->len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *q, *start = p;
		const char *line_end = eol != NULL ? eol : end;
		size_t len = (size_t)(line_end - p);
		struct sv_header *h;
		char *raw;
		size_t rn = 0;

		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len == 0) {
			mv->body_off = (size_t)((eol != NULL ? eol + 1 : end) - m->data);
			break;
		}
		colon = memchr(p, ':', len);
		for (q = p; colon != NULL && q < colon; q++)
			if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
				break;
		if (colon == NULL || colon == p || q != colon || mv->n >= SV_MAX_HEADERS ||
		    (size_t)(p - m->data) > SV_MAX_HEADER_BYTES) {
			/* Not a field: the body starts here, as mail clients read it. */
			mv->body_off = (size_t)(p - m->data);
			break;
		}
		/* The field with its continuation lines, unfolded. */
		raw = xmalloc((size_t)(end - colon));
		for (q = colon + 1;;) {
			const char *le = memchr(q, '\n', (size_t)(end - q));
			size_t l = (size_t)((le != NULL ? le : end) - q);
			if (l > 0 && q[l - 1] == '\r')
				l--;
			memcpy(raw + rn, q, l);
			rn += l;
			if (le == NULL) {
				p = end;
				break;
			}
			p = le + 1;
			if (p >= end || (*p != ' ' && *p != '\t'))
				break;
			q = p;
		}
		raw[rn] = '\0';
		if (mv->n == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			mv->h = xrealloc(mv->h, cap * sizeof(*mv->h));
		}
		h = &mv->h[mv->n++];
		h->name = start;
		h->name_len = (size_t)(colon - start);
		{
			char *v = raw;
			while (*v == ' ' || *v == '\t')
				v++;
			memmove(raw, v, strlen(v) + 1);
		}
		h->raw = raw;
		strbuf_reset(&out);
		mime_header_decode(raw, strlen(raw), &out, &conv);
		h->value = xstrndup(out.data != NULL ? out.data : "", out.len);
	}
	strbuf_free(&out);
	charset_conv_free(&conv);
}

void
sv_msg_free(struct sv_msg *mv)
{
	for (size_t i = 0; i < mv->n; i++) {
		free(mv->h[i].raw);
		free(mv->h[i].value);
	}
	free(mv->h);
	memset(mv, 0, sizeof(*mv));
}

const struct sv_header *
sv_msg_header(const struct sv_msg *mv, const char *name, size_t nth)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < mv->n; i++)
		if (mv->h[i].name_len == len && str_ncasecmp(mv->h[i].name, name, len) == 0 &&
		    nth-- == 0)
			return &mv->h[i];
	return NULL;
}

/* ---- variables ---- */

static struct var *
var_find(struct run *r, const char *name, size_t len)
{
	for (size_t i = 0; i < r->nvars; i++)
		if (strlen(r->vars[i].name) == len && str_ncasecmp(r->vars[i].name, name, len) == 0)
			return &r->vars[i];
	return NULL;
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static void
var_set(struct run *r, const char *name, const char *value, size_t len)
{
	struct var *v = var_find(r, name, strlen(name));

	len = utf8_cut(value, len, SIEVE_MAX_VALUE);
	if (v == NULL) {
		if (r->nvars >= SIEVE_MAX_VARIABLES)
			rt_fail(r, "too many variables (at most %d)", SIEVE_MAX_VARIABLES);
		r->vars = xrealloc(r->vars, (r->nvars + 1) * sizeof(*r->vars));
		v = &r->vars[r->nvars++];
		v->name = str_lower(xstrdup(name));
		v->value = NULL;
	}
	free(v->value);
	v->value = xstrndup(value, len);
}

static int
name_char(int ch, int first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	    (!first && ch >= '0' && ch <= '9');
}

/*
 * The length of a variable name at s (up to end) followed by "}", or 0:
 * an identifier, dotted identifiers (a namespace: none is known, so the
 * value is empty), or digits (a match variable).
 */
static size_t
ref_name(const char *s, const char *end, int *digits_r, int *dotted_r)
{
	const char *p = s;

	*digits_r = *dotted_r = 0;
	if (p < end && *p >= '0' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		*digits_r = 1;
	} else {
		for (;;) {
			if (p >= end || !name_char((unsigned char)*p, 1))
				return 0;
			while (p < end && name_char((unsigned char)*p, 0))
				p++;
			if (p < end && *p == '.') {
				*dotted_r = 1;
				p++;
				continue;
			}
			break;
		}
	}
	if (p >= end || *p != '}')
		return 0;
	return (size_t)(p - s);
}

/* s with its variables expanded (scratch memory), or s itself. */
static const char *
expand(struct run *r, const struct sv_str *s, size_t *len_r)
{
	struct strbuf b = { NULL, 0, 0 };
	const char *p = s->s, *end = s->s + s->len;
	char *out;
	size_t len;

	if (!s->vars) {
		if (len_r != NULL)
			*len_r = s->len;
		return s->s;
	}
	while (p < end && b.len < MAX_EXPANSION) {
		const char *ref = memmem(p, (size_t)(end - p), "${", 2);
		size_t n;
		int digits, dotted;

		if (ref == NULL) {
			strbuf_append(&b, p, (size_t)(end - p));
			break;
		}
		strbuf_append(&b, p, (size_t)(ref - p));
		n = ref_name(ref + 2, end, &digits, &dotted);
		if (n == 0) {
			strbuf_append(&b, "${", 2);
			p = ref + 2;
			continue;
		}
		if (digits) {
			unsigned long idx = 0;
			for (size_t i = 0; i < n && idx < NMATCH; i++)
				idx = idx * 10 + (unsigned long)(ref[2 + i] - '0');
			if (idx < NMATCH && r->matches[idx] != NULL)
				strbuf_append(&b, r->matches[idx], strlen(r->matches[idx]));
		} else if (!dotted) {
			struct var *v = var_find(r, ref + 2, n);
			if (v != NULL)
				strbuf_append(&b, v->value, strlen(v->value));
		}
		p = ref + 2 + n + 1;
	}
	len = utf8_cut(b.data != NULL ? b.data : "", b.len, MAX_EXPANSION);
	out = scratch_alloc(r, len + 1);
	if (len > 0)
		memcpy(out, b.data, len);
	out[len] = '\0';
	strbuf_free(&b);
	if (len_r != NULL)
		*len_r = len;
	/* After the memory is the run's: step() may leave by longjmp. */
	step(r, len + s->len);
	return out;
}

static const char *
expand0(struct run *r, const struct sv_str *s)
{
	return expand(r, s, NULL);
}

/* ---- comparators ---- */

static int
lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static int
char_eq(const struct sv_test *t, char a, char b)
{
	return t->cmp == SV_CMP_OCTET ? a == b : lower((unsigned char)a) == lower((unsigned char)b);
}

/* i;ascii-numeric (RFC 4790 9.1): the leading digits; none is infinity. */
static int
numeric_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t na = 0, nb = 0;

	while (na < alen && a[na] >= '0' && a[na] <= '9')
		na++;
	while (nb < blen && b[nb] >= '0' && b[nb] <= '9')
		nb++;
	if (na == 0 || nb == 0)
		return na == 0 && nb == 0 ? 0 : na == 0 ? 1 : -1;
	while (na > 1 && *a == '0') {
		a++;
		na--;
	}
	while (nb > 1 && *b == '0') {
		b++;
		nb--;
	}
	if (na != nb)
		return na < nb ? -1 : 1;
	{
		int c = memcmp(a, b, na);
		return c < 0 ? -1 : c > 0;
	}
}

static int
ordered_cmp(struct run *r, const struct sv_test *t, const char *a, size_t alen, const char *b,
    size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	step(r, n + 1);
	if (t->cmp == SV_CMP_NUMERIC)
		return numeric_cmp(a, alen, b, blen);
	for (size_t i = 0; i < n; i++) {
		int x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (t->cmp == SV_CMP_CASEMAP) {
			x = lower(x);
			y = lower(y);
		}
		if (x != y)
			return x < y ? -1 : 1;
	}
	return alen == blen ? 0 : alen < blen ? -1 : 1;
}

static int
rel_holds(enum sv_rel rel, int c)
{
	switch (rel) {
	case SV_GT: return c > 0;
	case SV_GE: return c >= 0;
	case SV_LT: return c < 0;
	case SV_LE: return c <= 0;
	case SV_EQ: return c == 0;
	case SV_NE: return c != 0;
	}
	return 0;
}

static int
contains(struct run *r, const struct sv_test *t, const char *s, size_t slen, const char *k,
    size_t klen)
{
	if (klen == 0)
		return 1;
	if (klen > slen)
		return 0;
	for (size_t i = 0; i + klen <= slen; i++) {
		size_t j = 0;
		while (j < klen && char_eq(t, s[i + j], k[j]))
			j++;
		step(r, j + 1);
		if (j == klen)
			return 1;
	}
	return 0;
}

static size_t
utf8_len(const char *s, size_t left)
{
	unsigned char ch = (unsigned char)*s;
	size_t n = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;

	for (size_t i = 1; i < n; i++)
		if (i >= left || ((unsigned char)s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

struct cap {
	size_t start, len;
};

/* The glob of :matches ("*", "?", "\\" quoting); caps receives each wildcard's text. */
static int
glob(struct run *r, const struct sv_test *t, const char *p, size_t plen, const char *s,
    size_t slen, struct cap *caps, size_t *ncaps_r)
{
	size_t pi = 0, si = 0, star_pi = SIZE_MAX, star_cap = 0, star_end = 0, ncap = 0;

	while (si < slen) {
		step(r, 1);
		if (pi < plen && p[pi] == '*') {
			if (ncap < NMATCH) {
				caps[ncap].start = si;
				caps[ncap].len = 0;
			}
			star_cap = ncap++;
			star_pi = ++pi;
			star_end = si;
			continue;
		}
		if (pi < plen && p[pi] == '?') {
			size_t n = utf8_len(s + si, slen - si);
			if (ncap < NMATCH) {
				caps[ncap].start = si;
				caps[ncap].len = n;
			}
			ncap++;
			pi++;
			si += n;
			continue;
		}
		if (pi < plen) {
			size_t adv = 1;
			char ch = p[pi];
			if (ch == '\\' && pi + 1 < plen) {
				ch = p[pi + 1];
				adv = 2;
			}
			if (char_eq(t, ch, s[si])) {
				pi += adv;
				si++;
				continue;
			}
		}
		if (star_pi == SIZE_MAX)
			return 0;
		/* Give the last "*" one more character and go on after it. */
		star_end += utf8_len(s + star_end, slen - star_end);
		if (star_cap < NMATCH)
			caps[star_cap].len = star_end - caps[star_cap].start;
		si = star_end;
		pi = star_pi;
		ncap = star_cap + 1;
	}
	while (pi < plen && p[pi] == '*') {
		if (ncap < NMATCH) {
			caps[ncap].start = si;
			caps[ncap].len = 0;
		}
		ncap++;
		pi++;
	}
	*ncaps_r = ncap;
	return pi == plen;
}

/* Does value match key under t's match type and comparator?  :count is done by the caller. */
static int
match_one(struct run *r, const struct sv_test *t, const char *v, size_t vlen, const char *k,
    size_t klen, int set_vars)
{
	switch (t->match) {
	case SV_IS:
		if (t->cmp == SV_CMP_NUMERIC)
			return ordered_cmp(r, t, v, vlen, k, klen) == 0;
		if (vlen != klen)
			return 0;
		step(r, vlen + 1);
		for (size_t i = 0; i < vlen; i++)
			if (!char_eq(t, v[i], k[i]))
				return 0;
		return 1;
	case SV_CONTAINS:
		return contains(r, t, v, vlen, k, klen);
	case SV_VALUE:
		return rel_holds(t->rel, ordered_cmp(r, t, v, vlen, k, klen));
	case SV_MATCHES: {
		struct cap caps[NMATCH];
		size_t ncaps = 0;

		if (!glob(r, t, k, klen, v, vlen, caps, &ncaps))
			return 0;
		if (set_vars) {
			for (size_t i = 0; i < NMATCH; i++) {
				free(r->matches[i]);
				r->matches[i] = NULL;
			}
			r->matches[0] = xstrndup(v, utf8_cut(v, vlen, SIEVE_MAX_VALUE));
			for (size_t i = 0; i < ncaps && i + 1 < NMATCH; i++)
				r->matches[i + 1] = xstrndup(v + caps[i].start,
				    utf8_cut(v + caps[i].start, caps[i].len, SIEVE_MAX_VALUE));
		}
		return 1;
	}
	case SV_COUNT:
		break;
	}
	return 0;
}

/* The values a test found, matched against its keys. */
struct values {
	const char **v;
	size_t *len;
	size_t n, cap;
};

static void
values_add(struct run *r, struct values *vs, const char *v, size_t len)
{
	if (vs->n == vs->cap) {
		vs->cap = vs->cap == 0 ? 16 : vs->cap * 2;
		vs->v = xrealloc(vs->v, vs->cap * sizeof(*vs->v));
		vs->len = xrealloc(vs->len, vs->cap * sizeof(*vs->len));
	}
	vs->v[vs->n] = v;
	vs->len[vs->n++] = len;
	step(r, 1);
}

static int
match_values(struct run *r, const struct sv_test *t, const struct values *vs)
{
	int set_vars = (r->script->ext & SV_EXT_VARIABLES) != 0;

	if (t->match == SV_COUNT) {
		char count[32];
		int n = snprintf(count, sizeof(count), "%zu", vs->n);
		for (size_t k = 0; k < t->keys.n; k++) {
			size_t klen;
			const char *key = expand(r, &t->keys.v[k], &klen);
			if (rel_holds(t->rel, ordered_cmp(r, t, count, (size_t)n, key, klen)))
				return 1;
		}
		return 0;
	}
	for (size_t k = 0; k < t->keys.n; k++) {
		size_t klen;
		const char *key = expand(r, &t->keys.v[k], &klen);
		for (size_t i = 0; i < vs->n; i++)
			if (match_one(r, t, vs->v[i], vs->len[i], key, klen, set_vars))
				return 1;
	}
	return 0;
}

/* ---- addresses ---- */

/* The part of addr a test wants, into scratch memory; NULL when it has none (:detail). */
static const char *
address_part(struct run *r, enum sv_part part, const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t llen = at != NULL ? (size_t)(at - addr) : strlen(addr);
	const char *plus;
	char *out;

	switch (part) {
	case SV_ALL:
		return addr;
	case SV_DOMAIN:
		return at != NULL ? at + 1 : "";
	case SV_LOCALPART:
		out = scratch_alloc(r, llen + 1);
		memcpy(out, addr, llen);
		out[llen] = '\0';
		return out;
	case SV_USER:
	case SV_DETAIL:
		plus = memchr(addr, '+', llen);
		if (part == SV_USER) {
			size_t ulen = plus != NULL ? (size_t)(plus - addr) : llen;
			out = scratch_alloc(r, ulen + 1);
			memcpy(out, addr, ulen);
			out[ulen] = '\0';
			return out;
		}
		if (plus == NULL)
			return NULL;
		out = scratch_alloc(r, (size_t)(addr + llen - plus));
		memcpy(out, plus + 1, (size_t)(addr + llen - plus - 1));
		out[addr + llen - plus - 1] = '\0';
		return out;
	}
	return NULL;
}

static void
add_address(struct run *r, const struct sv_test *t, struct values *vs, const char *addr)
{
	const char *v = address_part(r, t->part, addr);

	if (v != NULL)
		values_add(r, vs, v, strlen(v));
}

/* ---- body ---- */

struct body_ctx {
	struct run *r;
	const struct sv_test *t;
	struct body_part *parts;
	size_t n;
};

static int
content_type_wanted(struct run *r, const struct sv_test *t, const struct mime_part *part)
{
	for (size_t i = 0; i < t->content_types.n; i++) {
		const char *ct = expand0(r, &t->content_types.v[i]);
		const char *slash = strchr(ct, '/');
		if (ct[0] == '\0')
			return 1;
		if (slash == NULL) {
			if (str_casecmp(ct, part->type) == 0)
				return 1;
		} else if ((size_t)(slash - ct) == strlen(part->type) &&
		    str_ncasecmp(ct, part->type, (size_t)(slash - ct)) == 0 &&
		    str_casecmp(slash + 1, part->subtype) == 0) {
			return 1;
		}
	}
	return 0;
}

static struct body_part *
body_slot(struct body_ctx *bc, const struct mime_part *part)
{
	while (bc->n <= part->index) {
		bc->parts = xrealloc(bc->parts, (bc->n + 1) * sizeof(*bc->parts));
		memset(&bc->parts[bc->n], 0, sizeof(*bc->parts));
		bc->n++;
	}
	return &bc->parts[part->index];
}

static void
body_part_begin(void *ctx, const struct mime_part *part)
{
	struct body_ctx *bc = ctx;
	struct body_part *bp = body_slot(bc, part);

	if (part->is_multipart || part->is_message)
		return;
	if (bc->t->body == SV_BODY_TEXT)
		bp->wanted = part->is_text;
	else
		bp->wanted = content_type_wanted(bc->r, bc->t, part);
}

static void
body_add(struct body_ctx *bc, const struct mime_part *part, const void *data, size_t len)
{
	struct body_part *bp = body_slot(bc, part);

	if (!bp->wanted || bp->text.len >= MAX_BODY_PART)
		return;
	if (len > MAX_BODY_PART - bp->text.len)
		len = MAX_BODY_PART - bp->text.len;
	strbuf_append(&bp->text, data, len);
	/* Counted, not checked: never longjmp out of the MIME parser. */
	bc->r->steps += len / 16 + 1;
}

static void
body_text(void *ctx, const struct mime_part *part, const char *utf8, size_t len)
{
	struct body_ctx *bc = ctx;

	/* :text, and :content of text parts that are not HTML: the UTF-8 text. */
	if (bc->t->body == SV_BODY_TEXT || !part->is_html)
		body_add(bc, part, utf8, len);
}

static void
body_raw(void *ctx, const struct mime_part *part, const void *data, size_t len)
{
	struct body_ctx *bc = ctx;

	/* :content of other parts (HTML as written, attachments): transfer-decoded bytes. */
	if (bc->t->body == SV_BODY_CONTENT && (!part->is_text || part->is_html))
		body_add(bc, part, data, len);
}

static void
body_free(struct body_ctx *bc)
{
	for (size_t i = 0; i < bc->n; i++)
		strbuf_free(&bc->parts[i].text);
	free(bc->parts);
	bc->parts = NULL;
	bc->n = 0;
}

static int
test_body(struct run *r, const struct sv_test *t, struct values *vs)
{
	const struct sieve_message *m = r->msg.m;
	struct body_ctx *bc;
	struct mime_callbacks cb;
	struct mime_parser *p;
	int rc;

	if (t->body == SV_BODY_RAW) {
		size_t off = r->msg.body_off;
		values_add(r, vs, m->data + off, m->len - off);
		return match_values(r, t, vs);
	}
	/* The parser's own bounds hold it; the steps count what it kept. */
	step(r, m->len / 64 + 1);
	/* The run owns the parts: a longjmp from here on leaves them to sieve_execute. */
	r->body = bc = xcalloc(1, sizeof(*bc));
	bc->r = r;
	bc->t = t;
	memset(&cb, 0, sizeof(cb));
	cb.context = bc;
	cb.part_begin = body_part_begin;
	cb.text = body_text;
	cb.raw_body = body_raw;
	p = mime_parser_new(NULL, &cb);
	mime_parser_feed(p, m->data, m->len);
	mime_parser_finish(p);
	mime_parser_free(&p);
	step(r, 0);
	for (size_t i = 0; i < bc->n; i++)
		if (bc->parts[i].wanted)
			values_add(r, vs, bc->parts[i].text.data != NULL ? bc->parts[i].text.data : "",
			    bc->parts[i].text.len);
	rc = match_values(r, t, vs);
	body_free(bc);
	free(bc);
	r->body = NULL;
	return rc;
}

/* ---- flags (imap4flags) ---- */

/* The flags of list, each once (case-insensitively), blank-separated, into scratch. */
static char *
flags_normalize(struct run *r, const char *const *lists, size_t n)
{
	struct strbuf b = { NULL, 0, 0 };
	char *out;

	for (size_t i = 0; i < n; i++) {
		const char *p = lists[i];
		while (*p != '\0') {
			size_t len;
			const char *w;
			while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
				p++;
			w = p;
			while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				p++;
			len = (size_t)(p - w);
			if (len == 0)
				continue;
			/* Already there? */
			{
				const char *q = b.data;
				int dup = 0;
				while (q != NULL && *q != '\0') {
					const char *e = strchr(q, ' ');
					size_t l = e != NULL ? (size_t)(e - q) : strlen(q);
					if (l == len && str_ncasecmp(q, w, len) == 0) {
						dup = 1;
						break;
					}
					q = e != NULL ? e + 1 : q + l;
				}
				if (dup)
					continue;
			}
			if (b.len + len + 1 > MAX_FLAGS_LEN)
				break;
			if (b.len > 0)
				strbuf_putc(&b, ' ');
			strbuf_append(&b, w, len);
		}
	}
	out = scratch_alloc(r, b.len + 1);
	memcpy(out, b.data != NULL ? b.data : "", b.len);
	out[b.len] = '\0';
	strbuf_free(&b);
	step(r, strlen(out) + 1);
	return out;
}

/* Words of a not in b (removeflag), into scratch. */
static char *
flags_remove(struct run *r, const char *a, const char *b)
{
	char *out = scratch_alloc(r, strlen(a) + 1);
	size_t n = 0;
	const char *p = a;

	while (*p != '\0') {
		const char *e = strchr(p, ' ');
		size_t l = e != NULL ? (size_t)(e - p) : strlen(p);
		const char *q = b;
		int found = 0;

		while (*q != '\0') {
			const char *qe = strchr(q, ' ');
			size_t ql = qe != NULL ? (size_t)(qe - q) : strlen(q);
			if (ql == l && str_ncasecmp(q, p, l) == 0) {
				found = 1;
				break;
			}
			q = qe != NULL ? qe + 1 : q + ql;
		}
		if (!found) {
			if (n > 0)
				out[n++] = ' ';
			memcpy(out + n, p, l);
			n += l;
		}
		p = e != NULL ? e + 1 : p + l;
	}
	out[n] = '\0';
	return out;
}

static int
variable_name_valid(const char *s)
{
	if (!name_char((unsigned char)s[0], 1))
		return 0;
	for (; *s != '\0'; s++)
		if (!name_char((unsigned char)*s, 0))
			return 0;
	return 1;
}

static const char *
flag_var_get(struct run *r, const char *name)
{
	struct var *v;

	if (name == NULL)
		return r->flags != NULL ? r->flags : "";
	v = var_find(r, name, strlen(name));
	return v != NULL ? v->value : "";
}

static void
flag_var_set(struct run *r, const char *name, const char *value)
{
	if (name == NULL) {
		free(r->flags);
		r->flags = xstrdup(value);
		return;
	}
	if (!variable_name_valid(name))
		rt_fail(r, "\"%.64s\" is not a variable name", name);
	var_set(r, name, value, strlen(value));
}

/* Flags text to MSTORE_F_* bits and keywords (IMAP atoms; others dropped). */
static void
flags_to_store(const char *flags, unsigned int *bits_r, char **keywords_r)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} sys[] = {
		{ "\\seen", MSTORE_F_SEEN }, { "\\answered", MSTORE_F_ANSWERED },
		{ "\\flagged", MSTORE_F_FLAGGED }, { "\\deleted", MSTORE_F_DELETED },
		{ "\\draft", MSTORE_F_DRAFT },
	};
	char *kw = xmalloc(strlen(flags) + 1);
	size_t n = 0;
	const char *p = flags;

	*bits_r = 0;
	while (*p != '\0') {
		const char *e = strchr(p, ' ');
		size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

		if (l > 0 && p[0] == '\\') {
			for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
				if (strlen(sys[i].name) == l && str_ncasecmp(sys[i].name, p, l) == 0)
					*bits_r |= sys[i].bit;
		} else if (l > 0) {
			size_t i;
			for (i = 0; i < l; i++) {
				unsigned char ch = (unsigned char)p[i];
				if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\]", ch) != NULL)
					break;
			}
			if (i == l) {
				if (n > 0)
					kw[n++] = ' ';
				memcpy(kw + n, p, l);
				n += l;
			}
		}
		p = e != NULL ? e + 1 : p + l;
	}
	kw[n] = '\0';
	*keywords_r = kw;
}

/* ---- tests ---- */

static int test_eval(struct run *r, const struct sv_test *t);

static int
test_leaf(struct run *r, const struct sv_test *t)
{
	const struct sv_msg *mv = &r->msg;
	struct values *vs = r->vs;
	int rc = 0;

	vs->n = 0;

	switch (t->kind) {
	case SV_T_EXISTS:
		rc = 1;
		for (size_t i = 0; i < t->a.n && rc; i++)
			rc = sv_msg_header(mv, expand0(r, &t->a.v[i]), 0) != NULL;
		step(r, t->a.n * (mv->n + 1));
		break;
	case SV_T_SIZE:
		rc = t->over ? mv->size > t->limit : mv->size < t->limit;
		break;
	case SV_T_HEADER:
		for (size_t i = 0; i < t->a.n; i++) {
			const char *name = expand0(r, &t->a.v[i]);
			const struct sv_header *h;
			step(r, mv->n + 1);
			for (size_t k = 0; (h = sv_msg_header(mv, name, k)) != NULL; k++)
				values_add(r, vs, h->value, strlen(h->value));
		}
		rc = match_values(r, t, vs);
		break;
	case SV_T_ADDRESS:
		for (size_t i = 0; i < t->a.n; i++) {
			const char *name = expand0(r, &t->a.v[i]);
			const struct sv_header *h;
			step(r, mv->n + 1);
			for (size_t k = 0; (h = sv_msg_header(mv, name, k)) != NULL; k++) {
				char *addrs[64], *copies[64];
				size_t n;
				step(r, strlen(h->raw));
				n = sv_address_list(h->raw, addrs, 64);
				/* Into the run's memory before anything may longjmp. */
				for (size_t j = 0; j < n; j++) {
					copies[j] = scratch_alloc(r, strlen(addrs[j]) + 1);
					strcpy(copies[j], addrs[j]);
					free(addrs[j]);
				}
				for (size_t j = 0; j < n; j++)
					add_address(r, t, vs, copies[j]);
			}
		}
		rc = match_values(r, t, vs);
		break;
	case SV_T_ENVELOPE:
		for (size_t i = 0; i < t->a.n; i++) {
			const char *part = expand0(r, &t->a.v[i]);
			const char *addr = str_casecmp(part, "from") == 0 ? mv->m->env_from :
			    str_casecmp(part, "to") == 0 ? mv->m->env_to : NULL;
			if (addr == NULL)
				continue;
			if (addr[0] == '\0') {
				/* The null sender: "" whatever the part (RFC 5228 5.4). */
				values_add(r, vs, "", 0);
				continue;
			}
			add_address(r, t, vs, addr);
		}
		rc = match_values(r, t, vs);
		break;
	case SV_T_BODY:
		rc = test_body(r, t, vs);
		break;
	case SV_T_STRING:
		for (size_t i = 0; i < t->a.n; i++) {
			size_t len;
			const char *v = expand(r, &t->a.v[i], &len);
			/* :count counts the sources that are not empty (RFC 5229 5). */
			if (t->match != SV_COUNT || len > 0)
				values_add(r, vs, v, len);
		}
		rc = match_values(r, t, vs);
		break;
	case SV_T_HASFLAG: {
		size_t nvar = t->has_a ? t->a.n : 1;
		for (size_t i = 0; i < nvar; i++) {
			const char *name = t->has_a ? expand0(r, &t->a.v[i]) : NULL;
			const char *fl = flag_var_get(r, name);
			const char *words[1] = { fl };
			char *norm = flags_normalize(r, words, 1), *save = NULL;
			for (char *w = strtok_r(norm, " ", &save); w != NULL;
			    w = strtok_r(NULL, " ", &save))
				values_add(r, vs, w, strlen(w));
		}
		rc = match_values(r, t, vs);
		break;
	}
	case SV_T_MAILBOXEXISTS:
		rc = 1;
		for (size_t i = 0; i < t->a.n && rc; i++) {
			const char *name = expand0(r, &t->a.v[i]);
			rc = r->env != NULL && r->env->mailbox_exists != NULL &&
			    r->env->mailbox_exists(r->env->ctx, name) == 1;
		}
		break;
	default:
		break;
	}
	return rc;
}

static int
test_eval(struct run *r, const struct sv_test *t)
{
	int rc;

	step(r, 1);
	switch (t->kind) {
	case SV_T_TRUE:
		return 1;
	case SV_T_FALSE:
		return 0;
	case SV_T_NOT:
		return !test_eval(r, &t->kids[0]);
	case SV_T_ALLOF:
		for (size_t i = 0; i < t->nkids; i++)
			if (!test_eval(r, &t->kids[i]))
				return 0;
		return 1;
	case SV_T_ANYOF:
		for (size_t i = 0; i < t->nkids; i++)
			if (test_eval(r, &t->kids[i]))
				return 1;
		return 0;
	default:
		break;
	}
	rc = test_leaf(r, t);
	scratch_reset(r);
	return rc;
}

/* ---- actions ---- */

static struct sieve_action *
action_add(struct run *r, enum sieve_action_kind kind)
{
	struct sieve_result *res = r->res;
	struct sieve_action *a;

	if (res->n >= SIEVE_MAX_ACTIONS)
		rt_fail(r, "too many actions (at most %d)", SIEVE_MAX_ACTIONS);
	res->actions = xrealloc(res->actions, (res->n + 1) * sizeof(*res->actions));
	a = &res->actions[res->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->line = r->line;
	return a;
}

static struct sieve_action *
action_find(struct run *r, enum sieve_action_kind kind, const char *target)
{
	for (size_t i = 0; i < r->res->n; i++) {
		struct sieve_action *a = &r->res->actions[i];
		if (a->kind != kind)
			continue;
		if (target == NULL)
			return a;
		if (kind == SIEVE_FILEINTO && strcmp(a->mailbox, target) == 0)
			return a;
		if (kind == SIEVE_REDIRECT && str_casecmp(a->address, target) == 0)
			return a;
	}
	return NULL;
}

/* keep and fileinto: the flags to store with (":flags" or the internal variable). */
static void
store_flags(struct run *r, const struct sv_cmd *c, struct sieve_action *a)
{
	const char *fl = "";

	if (c != NULL && c->has_flags) {
		const char **lists = (const char **)scratch_alloc(r, (c->flags.n + 1) *
		    sizeof(char *));
		for (size_t i = 0; i < c->flags.n; i++)
			lists[i] = expand0(r, &c->flags.v[i]);
		fl = flags_normalize(r, lists, c->flags.n);
	} else if (r->script->ext & SV_EXT_IMAP4FLAGS) {
		fl = flag_var_get(r, NULL);
	}
	free(a->keywords);
	flags_to_store(fl, &a->flags, &a->keywords);
}

static void
do_keep(struct run *r, const struct sv_cmd *c)
{
	struct sieve_action *a = action_find(r, SIEVE_KEEP, NULL);

	/* keep twice, or keep after the implicit one, is one keep: its first flags hold. */
	if (a == NULL) {
		a = action_add(r, SIEVE_KEEP);
		store_flags(r, c, a);
	}
}

static int
is_inbox(const char *name)
{
	return str_casecmp(name, "INBOX") == 0;
}

static void
do_fileinto(struct run *r, const struct sv_cmd *c)
{
	const char *box = expand0(r, &c->arg);
	struct sieve_action *a;

	if (box[0] == '\0')
		rt_fail(r, "fileinto: empty mailbox name");
	if (!c->copy)
		r->implicit_keep = 0;
	if (is_inbox(box)) {
		do_keep(r, c);
		return;
	}
	if ((a = action_find(r, SIEVE_FILEINTO, box)) != NULL) {
		a->create |= c->create;
		return;
	}
	a = action_add(r, SIEVE_FILEINTO);
	a->mailbox = xstrdup(box);
	a->create = c->create;
	a->copy = c->copy;
	store_flags(r, c, a);
}

static void
do_redirect(struct run *r, const struct sv_cmd *c)
{
	const char *to = expand0(r, &c->arg);
	char *addrs[2] = { NULL, NULL };
	size_t n = sv_address_list(to, addrs, 2);
	struct sieve_action *a;
	int ok = n == 1 && strchr(addrs[0], '@') != NULL;

	if (!ok) {
		for (size_t i = 0; i < n; i++)
			free(addrs[i]);
		rt_fail(r, "redirect: \"%.64s\" is not an address", to);
	}
	if (!c->copy)
		r->implicit_keep = 0;
	if ((a = action_find(r, SIEVE_REDIRECT, addrs[0])) != NULL) {
		free(addrs[0]);
		return;
	}
	if (++r->nredirects > SIEVE_MAX_REDIRECTS) {
		free(addrs[0]);
		rt_fail(r, "too many redirects (at most %d)", SIEVE_MAX_REDIRECTS);
	}
	a = action_add(r, SIEVE_REDIRECT);
	a->address = addrs[0];
	a->copy = c->copy;
}

static void
do_reject(struct run *r, const struct sv_cmd *c)
{
	struct sieve_action *a;

	if (action_find(r, SIEVE_REJECT, NULL) != NULL)
		rt_fail(r, "more than one reject");
	r->implicit_keep = 0;
	a = action_add(r, SIEVE_REJECT);
	a->reason = xstrdup(expand0(r, &c->arg));
	a->ereject = c->kind == SV_C_EREJECT;
}

static void
do_vacation(struct run *r, const struct sv_cmd *c)
{
	struct sieve_action *a;
	uint64_t days = c->has_days ? c->days : SIEVE_VACATION_DAYS;

	if (action_find(r, SIEVE_VACATION, NULL) != NULL)
		rt_fail(r, "more than one vacation");
	a = action_add(r, SIEVE_VACATION);
	a->reason = xstrdup(expand0(r, &c->arg));
	if (days < SIEVE_VACATION_MIN_DAYS)
		days = SIEVE_VACATION_MIN_DAYS;
	if (days > SIEVE_VACATION_MAX_DAYS)
		days = SIEVE_VACATION_MAX_DAYS;
	a->days = (unsigned int)days;
	a->mime = c->mime;
	if (c->has_subject)
		a->subject = xstrdup(expand0(r, &c->subject));
	if (c->has_from) {
		/* An expanded :from that is no address is dropped: the recipient answers. */
		const char *from = expand0(r, &c->from);
		char *addrs[2] = { NULL, NULL };
		size_t n = sv_address_list(from, addrs, 2);
		if (n == 1 && strchr(addrs[0], '@') != NULL)
			a->from = xstrdup(from);
		for (size_t i = 0; i < n; i++)
			free(addrs[i]);
	}
	if (c->has_handle)
		a->handle = xstrdup(expand0(r, &c->handle));
	else
		/* RFC 5230 4.2: made of what the answer says. */
		a->handle = xasprintf("%s\x1f%s\x1f%d\x1f%s", a->subject != NULL ? a->subject : "",
		    a->from != NULL ? a->from : "", a->mime, a->reason);
	if (c->addresses.n > 0) {
		a->addresses = xcalloc(c->addresses.n, sizeof(char *));
		for (size_t i = 0; i < c->addresses.n; i++)
			a->addresses[a->naddresses++] = xstrdup(expand0(r, &c->addresses.v[i]));
	}
}

static void
do_set(struct run *r, const struct sv_cmd *c)
{
	size_t len;
	const char *v = expand(r, &c->value, &len);
	char *out = scratch_alloc(r, 2 * len + 32);
	size_t n = 0;

	memcpy(out, v, len);
	n = len;
	/* Precedence, highest first: :lower/:upper, :lowerfirst/:upperfirst, :quotewildcard, :length. */
	if (c->modifiers & (SV_MOD_LOWER | SV_MOD_UPPER)) {
		for (size_t i = 0; i < n; i++) {
			if (c->modifiers & SV_MOD_LOWER)
				out[i] = (char)lower((unsigned char)out[i]);
			else if (out[i] >= 'a' && out[i] <= 'z')
				out[i] = (char)(out[i] - 32);
		}
	}
	if (n > 0 && (c->modifiers & SV_MOD_LOWERFIRST))
		out[0] = (char)lower((unsigned char)out[0]);
	if (n > 0 && (c->modifiers & SV_MOD_UPPERFIRST) && out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 32);
	if (c->modifiers & SV_MOD_QUOTEWILDCARD) {
		char *q = scratch_alloc(r, 2 * n + 1);
		size_t m = 0;
		for (size_t i = 0; i < n; i++) {
			if (out[i] == '*' || out[i] == '?' || out[i] == '\\')
				q[m++] = '\\';
			q[m++] = out[i];
		}
		memcpy(out, q, m);
		n = m;
	}
	if (c->modifiers & SV_MOD_LENGTH) {
		/* Characters, not bytes. */
		size_t chars = 0;
		for (size_t i = 0; i < n; i++)
			if (((unsigned char)out[i] & 0xc0) != 0x80)
				chars++;
		n = (size_t)snprintf(out, 32, "%zu", chars);
	}
	step(r, n + 1);
	var_set(r, c->arg.s, out, n);
}

static void
do_flags(struct run *r, const struct sv_cmd *c)
{
	const char *name = c->has_var ? expand0(r, &c->var) : NULL;
	const char **lists = (const char **)scratch_alloc(r, (c->flags.n + 2) * sizeof(char *));
	const char *cur = flag_var_get(r, name);
	char *value;

	for (size_t i = 0; i < c->flags.n; i++)
		lists[i + 1] = expand0(r, &c->flags.v[i]);
	switch (c->kind) {
	case SV_C_SETFLAG:
		value = flags_normalize(r, lists + 1, c->flags.n);
		break;
	case SV_C_ADDFLAG:
		lists[0] = cur;
		value = flags_normalize(r, lists, c->flags.n + 1);
		break;
	default:
		value = flags_remove(r, flags_normalize(r, &cur, 1),
		    flags_normalize(r, lists + 1, c->flags.n));
		break;
	}
	flag_var_set(r, name, value);
}

/* ---- commands ---- */

static void
run_block(struct run *r, const struct sv_block *b)
{
	for (size_t i = 0; i < b->n && !r->stopped; i++) {
		const struct sv_cmd *c = &b->cmds[i];

		r->line = c->line;
		step(r, 1);
		switch (c->kind) {
		case SV_C_IF:
			for (size_t k = 0; k < c->nbranches; k++) {
				const struct sv_branch *br = &c->branches[k];
				r->line = br->test != NULL ? br->test->line : c->line;
				if (br->test == NULL || test_eval(r, br->test)) {
					run_block(r, &br->block);
					break;
				}
			}
			break;
		case SV_C_STOP:
			r->stopped = 1;
			break;
		case SV_C_KEEP:
			r->implicit_keep = 0;
			do_keep(r, c);
			break;
		case SV_C_DISCARD:
			r->implicit_keep = 0;
			if (action_find(r, SIEVE_DISCARD, NULL) == NULL)
				action_add(r, SIEVE_DISCARD);
			break;
		case SV_C_FILEINTO:
			do_fileinto(r, c);
			break;
		case SV_C_REDIRECT:
			do_redirect(r, c);
			break;
		case SV_C_REJECT:
		case SV_C_EREJECT:
			do_reject(r, c);
			break;
		case SV_C_VACATION:
			do_vacation(r, c);
			break;
		case SV_C_SET:
			do_set(r, c);
			break;
		case SV_C_SETFLAG:
		case SV_C_ADDFLAG:
		case SV_C_REMOVEFLAG:
			do_flags(r, c);
			break;
		}
		scratch_reset(r);
	}
}

static void
action_free(struct sieve_action *a)
{
	free(a->keywords);
	free(a->mailbox);
	free(a->address);
	free(a->reason);
	free(a->subject);
	free(a->from);
	free(a->handle);
	for (size_t i = 0; i < a->naddresses; i++)
		free(a->addresses[i]);
	free(a->addresses);
}

void
sieve_result_free(struct sieve_result *res)
{
	for (size_t i = 0; i < res->n; i++)
		action_free(&res->actions[i]);
	free(res->actions);
	res->actions = NULL;
	res->n = 0;
}

static int
run_script(struct run *r)
{
	if (setjmp(r->fail) != 0)
		return -1;
	run_block(r, &r->script->top);
	r->line = 0;
	if (r->implicit_keep)
		do_keep(r, NULL);
	/* RFC 5429 2.1 and RFC 5230 4.7: reject goes with no keep, fileinto or vacation. */
	if (action_find(r, SIEVE_REJECT, NULL) != NULL) {
		const struct sieve_action *rej = action_find(r, SIEVE_REJECT, NULL);
		r->line = rej->line;
		if (action_find(r, SIEVE_KEEP, NULL) != NULL ||
		    action_find(r, SIEVE_FILEINTO, NULL) != NULL)
			rt_fail(r, "reject cannot go with keep or fileinto");
		if (action_find(r, SIEVE_VACATION, NULL) != NULL)
			rt_fail(r, "reject cannot go with vacation");
	}
	return 0;
}

int
sieve_execute(const struct sieve_script *script, const struct sieve_message *msg,
    const struct sieve_env *env, struct sieve_result *res)
{
	struct run *r = xcalloc(1, sizeof(*r));
	int rc;

	memset(res, 0, sizeof(*res));
	r->script = script;
	r->env = env;
	r->res = res;
	r->implicit_keep = 1;
	r->vs = xcalloc(1, sizeof(*r->vs));
	sv_msg_init(&r->msg, msg);
	rc = run_script(r);
	scratch_reset(r);
	if (r->body != NULL) {
		body_free(r->body);
		free(r->body);
	}
	free(r->vs->v);
	free(r->vs->len);
	free(r->vs);
	if (rc < 0) {
		/* RFC 5228 2.10.6: the message is kept, nothing else happens. */
		struct sieve_action *a;
		sieve_result_free(res);
		res->actions = a = xcalloc(1, sizeof(*a));
		res->n = 1;
		a->kind = SIEVE_KEEP;
		a->keywords = xstrdup("");
	}
	for (size_t i = 0; i < r->nvars; i++) {
		free(r->vars[i].name);
		free(r->vars[i].value);
	}
	free(r->vars);
	for (size_t i = 0; i < NMATCH; i++)
		free(r->matches[i]);
	free(r->flags);
	sv_msg_free(&r->msg);
	free(r);
	return rc;
}
