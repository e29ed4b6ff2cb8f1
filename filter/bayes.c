/* SPDX-License-Identifier: MIT */
/*
 * bayes - the learned classifier: a tokenizer after SpamAssassin's Bayes
 * (Plugin/Bayes.pm of 4.0), Robinson/Fisher chi-square combining with
 * SpamAssassin's constants, and the token counts in SQLite.  See bayes.h.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "filter/bayes.h"
#include "filter/mime.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/stats.h"

/* SpamAssassin's Bayes/CombineChi.pm and Plugin/Bayes.pm. */
#define FW_S_CONSTANT 0.030
#define FW_X_CONSTANT 0.538
#define MIN_PROB_STRENGTH 0.346
#define N_SIGNIFICANT_TOKENS 150
#define MAX_TOKEN_LENGTH 15	/* bytes; longer ones become "sk:" + 7 characters */

/* A word longer than this is long whatever its tail: bounded state. */
#define WORD_MAX 128
/* Distinct tokens kept per message: the first ones, whatever the cuts. */
#define MAX_TOKENS 30000

#define SCHEMA_VERSION 1

/* ---- SipHash-2-4 (Aumasson and Bernstein), a fixed key ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

/* The key is part of the database format: changing it forgets everything. */
static const uint64_t sip_k0 = UINT64_C(0x7275657463616600);	/* "\0facteur" */
static const uint64_t sip_k1 = UINT64_C(0x3173657961622e72);	/* "r.bayes1" */

static uint64_t
siphash(const void *data, size_t len, uint64_t k0)
{
	const unsigned char *p = data, *end = p + (len & ~(size_t)7);
	uint64_t v0 = k0 ^ UINT64_C(0x736f6d6570736575);
	uint64_t v1 = sip_k1 ^ UINT64_C(0x646f72616e646f6d);
	uint64_t v2 = k0 ^ UINT64_C(0x6c7967656e657261);
	uint64_t v3 = sip_k1 ^ UINT64_C(0x7465646279746573);
	uint64_t b = (uint64_t)len << 56, m;

	for (; p < end; p += 8) {
		m = 0;
		for (int i = 7; i >= 0; i--)
			m = (m << 8) | p[i];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (int i = (int)(len & 7) - 1; i >= 0; i--)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- token sets ---- */

/* Open addressing on the hashes; 0 marks a free slot (a hash 0 is stored as 1). */
struct tokset {
	uint64_t *slot;
	size_t cap;	/* power of 2 */
	size_t n;
};

static void
tokset_add(struct tokset *s, uint64_t h)
{
	size_t i;

	if (h == 0)
		h = 1;
	if ((s->n + 1) * 2 > s->cap) {
		struct tokset bigger = { xcalloc(s->cap == 0 ? 64 : s->cap * 2, sizeof(uint64_t)),
		    s->cap == 0 ? 64 : s->cap * 2, 0 };
		for (i = 0; i < s->cap; i++)
			if (s->slot[i] != 0)
				tokset_add(&bigger, s->slot[i]);
		free(s->slot);
		*s = bigger;
	}
	for (i = (size_t)h & (s->cap - 1); s->slot[i] != 0; i = (i + 1) & (s->cap - 1))
		if (s->slot[i] == h)
			return;
	s->slot[i] = h;
	s->n++;
}

/* ---- the tokenizer ---- */

/* What a piece of text is: it decides which characters make words and what a word gives. */
enum region {
	REGION_HEADER,	/* a header field's words */
	REGION_ADDR,	/* From, To ...: addresses and names */
	REGION_RECEIVED,	/* host names and IP addresses, no ids or dates */
	REGION_MSGID,	/* Message-ID and the like: [A-Za-z0-9_] runs */
	REGION_CTYPE,	/* Content-Type without its boundary, "text" and "charset" */
	REGION_MIMEVER,	/* MIME-Version without "1.0" */
	REGION_BODY,
	REGION_URL,	/* like the body, long tokens kept whole */
};

/* A streaming word splitter: the state carried from one piece to the next. */
struct tokstate {
	unsigned char utf8[4];	/* an incomplete UTF-8 sequence */
	unsigned int utf8_len, utf8_need;
	char word[WORD_MAX];
	size_t word_len;	/* bytes kept in word */
	int word_long;		/* more bytes than WORD_MAX */
	unsigned char cjk_prev[4];	/* the previous ideograph, for bigrams */
	unsigned int cjk_prev_len;
};

struct bayes_tokens {
	struct tokset set;
	struct tokstate body;
	uint64_t *rcvd[2];	/* the last two Received fields' tokens */
	size_t rcvd_n[2], rcvd_cap[2];
	unsigned int rcvd_next;
	char *message_id;
};

/* Where tokens go while one field or text is split. */
struct emitter {
	struct bayes_tokens *t;
	const char *prefix;	/* "Hsubject:", "" ... */
	const char *prefix2;	/* a second prefix for the same words (SA's *Ad, *MI, *UA), or NULL */
	enum region region;
	int rcvd;		/* -1, or the Received slot the tokens go to */
	int skip_next;		/* REGION_RECEIVED: the word after "id" is a queue id */
};

static void
emit_raw(struct emitter *e, const char *prefix, const char *a, size_t alen, const char *b,
    size_t blen)
{
	char buf[WORD_MAX + 64];
	size_t plen = strlen(prefix), n = 0;
	uint64_t h;

	if (plen + alen + blen > sizeof(buf))
		return;
	memcpy(buf, prefix, plen);
	n = plen;
	memcpy(buf + n, a, alen);
	n += alen;
	if (blen > 0)
		memcpy(buf + n, b, blen);
	n += blen;
	h = siphash(buf, n, sip_k0);
	if (e->rcvd >= 0) {
		unsigned int r = (unsigned int)e->rcvd;
		struct bayes_tokens *t = e->t;
		if (t->rcvd_n[r] >= 4096)
			return;
		if (t->rcvd_n[r] == t->rcvd_cap[r]) {
			t->rcvd_cap[r] = t->rcvd_cap[r] == 0 ? 32 : t->rcvd_cap[r] * 2;
			t->rcvd[r] = xrealloc(t->rcvd[r], t->rcvd_cap[r] * sizeof(uint64_t));
		}
		t->rcvd[r][t->rcvd_n[r]++] = h;
		return;
	}
	if (e->t->set.n < MAX_TOKENS)
		tokset_add(&e->t->set, h);
}

/* A token "a" + "b" under the emitter's prefix (and its second prefix). */
static void
emit2(struct emitter *e, const char *a, size_t alen, const char *b, size_t blen)
{
	emit_raw(e, e->prefix, a, alen, b, blen);
	if (e->prefix2 != NULL)
		emit_raw(e, e->prefix2, a, alen, b, blen);
}

static void
emit(struct emitter *e, const char *a, size_t alen)
{
	emit2(e, a, alen, NULL, 0);
}

/* "D*" + domain and each parent ("D*mail.example.org", "D*example.org", "D*org"). */
static void
emit_domains(struct emitter *e, const char *tag, const char *d, size_t len)
{
	size_t tlen = strlen(tag);

	while (len > 0) {
		const char *dot;
		emit2(e, tag, tlen, d, len);
		if ((dot = memchr(d, '.', len)) == NULL)
			break;
		len -= (size_t)(dot + 1 - d);
		d = dot + 1;
	}
}

/* SpamAssassin's _tokenize_mail_addrs: "U*user", "D*domain" and its parents. */
static void
emit_mail_addr(struct emitter *e, const char *w, size_t len)
{
	const char *at = NULL;

	for (size_t i = 0; i < len; i++)
		if (w[i] == '@')
			at = w + i;
	emit2(e, "U*", 2, w, (size_t)(at - w));
	emit_domains(e, "D*", at + 1, len - (size_t)(at + 1 - w));
}

static int
is_trim_char(char c)
{
	return c == '-' || c == '\'' || c == '"' || c == '.' || c == ',';
}

static int
is_digits(const char *w, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)w[i]))
			return 0;
	return 1;
}

static int
word_is(const char *w, size_t len, const char *s)
{
	return strlen(s) == len && memcmp(w, s, len) == 0;
}

static int
word_in(const char *w, size_t len, const char *const *list)
{
	for (; *list != NULL; list++)
		if (word_is(w, len, *list))
			return 1;
	return 0;
}

/* Dates and the words of every Received field (SpamAssassin's _pre_chew_received). */
static const char *const received_stop[] = {
	"with", "from", "for", "smtp", "esmtp", "mon", "tue", "wed", "thu", "fri", "sat", "sun",
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
	"gmt", "utc", "ut", "est", "edt", "cst", "cdt", "mst", "mdt", "pst", "pdt", "cet", "cest",
	"bst", "by", NULL
};

/* An IPv4 address a.b.c.d: its /24 (the whole address for 10/8 and 192.168/16) and "ip*a.b.c.d". */
static int
emit_received_ip(struct emitter *e, const char *w, size_t len)
{
	unsigned int a, b, c, d;
	char buf[32], tail;
	size_t i;
	int n;

	if (len >= sizeof(buf))
		return 0;
	for (i = 0; i < len; i++)
		if (!isdigit((unsigned char)w[i]) && w[i] != '.')
			return 0;
	memcpy(buf, w, len);
	buf[len] = '\0';
	if (sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 ||
	    a > 255 || b > 255 || c > 255 || d > 255)
		return 0;
	if (a == 10 || (a == 192 && b == 168))
		n = snprintf(buf, sizeof(buf), "%u.%u.%u.%u", a, b, c, d);
	else
		n = snprintf(buf, sizeof(buf), "%u.%u.%u", a, b, c);
	emit(e, buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "ip*%u.%u.%u.%u", a, b, c, d);
	emit(e, buf, (size_t)n);
	return 1;
}

/* Bytes of the first n UTF-8 characters of w (at most len). */
static size_t
utf8_prefix(const char *w, size_t len, unsigned int n)
{
	size_t i = 0;

	while (i < len && n > 0) {
		i++;
		while (i < len && ((unsigned char)w[i] & 0xc0) == 0x80)
			i++;
		n--;
	}
	return i;
}

/* One word, trimmed: SpamAssassin's loop over split() in _tokenize_line. */
static void
emit_word(struct emitter *e, const char *w, size_t len, int is_long)
{
	int has_at = 0;

	while (len > 0 && is_trim_char(w[0])) {
		w++;
		len--;
	}
	while (!is_long && len > 0 && is_trim_char(w[len - 1]))
		len--;
	if (e->region == REGION_RECEIVED) {
		int skip = e->skip_next;
		e->skip_next = word_is(w, len, "id");
		if (skip)
			return;
	}
	if (len < 3)
		return;

	switch (e->region) {
	case REGION_RECEIVED:
		if (word_in(w, len, received_stop))
			return;
		if (emit_received_ip(e, w, len))
			return;
		if (is_digits(w, len))
			return;
		break;
	case REGION_CTYPE:
		if (word_is(w, len, "text") || word_is(w, len, "charset"))
			return;
		break;
	case REGION_MIMEVER:
		if (word_is(w, len, "1.0"))
			return;
		break;
	default:
		break;
	}

	for (size_t i = 1; !is_long && i + 1 < len; i++)
		if (w[i] == '@')
			has_at = 1;
	if (e->region == REGION_ADDR) {
		if (has_at)
			emit_mail_addr(e, w, len);
		else
			emit2(e, "N*", 2, w, is_long ? utf8_prefix(w, len, 7) : len);
		return;
	}
	if (e->region == REGION_BODY || e->region == REGION_URL) {
		if (has_at) {
			emit_mail_addr(e, w, len);
		} else if (!is_long) {
			for (size_t i = 1; i + 1 < len; i++)
				if (w[i] == '.' && islower((unsigned char)w[i + 1])) {
					emit_domains(e, "UD:", w, len);
					break;
				}
		}
	}

	if ((len > MAX_TOKEN_LENGTH || is_long) && e->region != REGION_URL &&
	    memchr(w, '*', len) == NULL) {
		/* Long runs of 3- and 4-byte characters: one token each (SA bug 7135). */
		int wide = 0;
		for (size_t i = 0; i < len; i++)
			if (((unsigned char)w[i] & 0xf0) >= 0xe0) {
				size_t n = ((unsigned char)w[i] & 0xf0) == 0xf0 ? 4 : 3;
				if (i + n <= len) {
					emit2(e, "u8:", 3, w + i, n);
					wide = 1;
				}
			}
		if (wide)
			return;
		emit2(e, "sk:", 3, w, utf8_prefix(w, len, 7));
		return;
	}

	/* Decompose: "free!" also gives "free". */
	if (e->region == REGION_BODY || e->region == REGION_URL) {
		char plain[WORD_MAX];
		size_t n = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)w[i];
			if (isalnum(c) || c == '_' || c == ':' || c == '*' || c >= 0x80)
				plain[n++] = (char)c;
		}
		if (n != len && n > 0)
			emit(e, plain, n);
	}
	emit(e, w, len);
}

/* Split a word on "..." and "--" (formatting that otherwise makes hapaxes). */
static void
flush_word(struct emitter *e, struct tokstate *st)
{
	const char *w = st->word;
	size_t len = st->word_len, start = 0, i = 0;

	if (len == 0)
		return;
	if (st->word_long) {
		emit_word(e, w, len, 1);
	} else {
		while (i < len) {
			size_t run = 0;
			char c = w[i];
			if (c == '.' || c == '-') {
				while (i + run < len && w[i + run] == c)
					run++;
				if ((c == '.' && run >= 3) || (c == '-' && run >= 2)) {
					emit_word(e, w + start, i - start, 0);
					start = i + run;
				}
				i += run;
			} else {
				i++;
			}
		}
		emit_word(e, w + start, len - start, 0);
	}
	st->word_len = 0;
	st->word_long = 0;
}

/* Lower case of the scripts mail is mostly written in. */
static unsigned long
cp_lower(unsigned long cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp < 0xc0)
		return cp;
	if (cp <= 0xde && cp != 0xd7)
		return cp + 32;
	if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14a && cp <= 0x177))
		return cp | 1;
	if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e))
		return (cp & 1) ? cp + 1 : cp;
	if (cp == 0x178)
		return 0xff;
	if (cp >= 0x391 && cp <= 0x3a9 && cp != 0x3a2)
		return cp + 32;
	if (cp >= 0x410 && cp <= 0x42f)
		return cp + 32;
	if (cp >= 0x400 && cp <= 0x40f)
		return cp + 80;
	return cp;
}

enum cp_class { CP_SEP, CP_WORD, CP_IDEOGRAPH, CP_SYMBOL };

static enum cp_class
cp_classify(unsigned long cp, enum region region)
{
	if (cp < 0x80) {
		if (isalnum((int)cp) || cp == '_')
			return CP_WORD;
		if (region == REGION_MSGID)
			return CP_SEP;
		return strchr(",@*!'\"$.-", (int)cp) != NULL && cp != 0 ? CP_WORD : CP_SEP;
	}
	if (region == REGION_MSGID)
		return CP_SEP;
	if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7 || (cp >= 0x2000 && cp <= 0x206f) ||
	    (cp >= 0x20a0 && cp <= 0x25ff) || (cp >= 0x2e00 && cp <= 0x2e7f) ||
	    (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xfe00 && cp <= 0xfe6f) ||
	    (cp >= 0xff00 && cp <= 0xff0f) || cp >= 0xfff0 || cp == 0xfeff ||
	    (cp >= 0xe000 && cp <= 0xf8ff))
		return CP_SEP;
	if ((cp >= 0x2600 && cp <= 0x27bf) || (cp >= 0x1f000 && cp <= 0x1faff))
		return CP_SYMBOL;
	/* Scripts written without spaces: CJK, kana, hangul. */
	if ((cp >= 0x2e80 && cp <= 0x9fff) || (cp >= 0xac00 && cp <= 0xd7af) ||
	    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x20000 && cp <= 0x3ffff))
		return CP_IDEOGRAPH;
	return CP_WORD;
}

static size_t
utf8_put(char *buf, unsigned long cp)
{
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xc0 | (cp >> 6));
		buf[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | (cp >> 12));
		buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | (cp >> 18));
	buf[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One code point (0xfffd for bytes that are not UTF-8). */
static void
tok_cp(struct emitter *e, struct tokstate *st, unsigned long cp)
{
	char u[4];
	size_t n;

	switch (cp_classify(cp, e->region)) {
	case CP_WORD:
		st->cjk_prev_len = 0;
		n = utf8_put(u, cp_lower(cp));
		if (st->word_len + n > sizeof(st->word))
			st->word_long = 1;
		else {
			memcpy(st->word + st->word_len, u, n);
			st->word_len += n;
		}
		return;
	case CP_IDEOGRAPH:
		/* Each character, and each pair of neighbours. */
		flush_word(e, st);
		n = utf8_put(u, cp);
		emit2(e, "u8:", 3, u, n);
		if (st->cjk_prev_len > 0) {
			char pair[8];
			memcpy(pair, st->cjk_prev, st->cjk_prev_len);
			memcpy(pair + st->cjk_prev_len, u, n);
			emit2(e, "u8:", 3, pair, st->cjk_prev_len + n);
		}
		memcpy(st->cjk_prev, u, n);
		st->cjk_prev_len = (unsigned int)n;
		return;
	case CP_SYMBOL:
		flush_word(e, st);
		st->cjk_prev_len = 0;
		n = utf8_put(u, cp);
		emit2(e, "u8:", 3, u, n);
		return;
	case CP_SEP:
		flush_word(e, st);
		st->cjk_prev_len = 0;
		return;
	}
}

/* Decode UTF-8 across pieces; a bad sequence is one U+FFFD (a separator). */
static void
tok_feed(struct emitter *e, struct tokstate *st, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (st->utf8_need > 0) {
			if ((c & 0xc0) == 0x80) {
				st->utf8[st->utf8_len++] = c;
				if (st->utf8_len == st->utf8_need) {
					unsigned long cp = st->utf8[0] & (0xff >> (st->utf8_need + 1));
					for (unsigned int k = 1; k < st->utf8_need; k++)
						cp = (cp << 6) | (st->utf8[k] & 0x3f);
					st->utf8_need = 0;
					if ((st->utf8_len == 2 && cp < 0x80) ||
					    (st->utf8_len == 3 && cp < 0x800) ||
					    (st->utf8_len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
					    (cp >= 0xd800 && cp <= 0xdfff))
						cp = 0xfffd;
					tok_cp(e, st, cp);
				}
				continue;
			}
			st->utf8_need = 0;
			tok_cp(e, st, 0xfffd);
		}
		if (c < 0x80)
			tok_cp(e, st, c);
		else if (c >= 0xc2 && c <= 0xf4) {
			st->utf8[0] = c;
			st->utf8_len = 1;
			st->utf8_need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		} else
			tok_cp(e, st, 0xfffd);
	}
}

static void
tok_end(struct emitter *e, struct tokstate *st)
{
	if (st->utf8_need > 0) {
		st->utf8_need = 0;
		tok_cp(e, st, 0xfffd);
	}
	flush_word(e, st);
	st->cjk_prev_len = 0;
}

/* Tokens of a whole string under a prefix. */
static void
tok_string(struct bayes_tokens *t, const char *prefix, const char *prefix2, enum region region,
    int rcvd, const char *s, size_t len)
{
	struct emitter e = { t, prefix, prefix2, region, rcvd, 0 };
	struct tokstate st;

	memset(&st, 0, sizeof(st));
	tok_feed(&e, &st, s, len);
	tok_end(&e, &st);
}

struct bayes_tokens *
bayes_tokens_new(void)
{
	return xcalloc(1, sizeof(struct bayes_tokens));
}

void
bayes_tokens_free(struct bayes_tokens **tp)
{
	struct bayes_tokens *t = *tp;

	if (t == NULL)
		return;
	free(t->set.slot);
	free(t->rcvd[0]);
	free(t->rcvd[1]);
	free(t->message_id);
	free(t);
	*tp = NULL;
}

void
bayes_tokens_text(struct bayes_tokens *t, const char *utf8, size_t len)
{
	struct emitter e = { t, "", NULL, REGION_BODY, -1, 0 };

	tok_feed(&e, &t->body, utf8, len);
}

void
bayes_tokens_url(struct bayes_tokens *t, const char *url, size_t len)
{
	tok_string(t, "", NULL, REGION_URL, -1, url, len);
}

/*
 * Fields that filters, lists and mail stores add or that only say when
 * (SpamAssassin's IGNORED_HDRS and presence-only fields): names in lower
 * case, "*" at the end for a prefix.
 */
static const char *const ignored_headers[] = {
	"sender", "x-sender", "delivered-to", "delivery-date", "envelope-to", "x-envelope-to",
	"x-mime-autoconverted", "x-converted-to-plain-text", "subject-prefix", "date",
	"x-list*", "mailing-list", "x-mailing-list", "list-*", "x-unsub*", "x-mailman-version",
	"x-beenthere", "x-loop", "mail-followup-to", "x-egroups-return", "x-egroups-from",
	"x-mdmailing-list", "x-xemacs-list", "resent-from", "resent-to", "resent-date",
	"x-resent-*", "original-*", "x-original-*", "x-mailscanner*", "x-spam*", "x-antispam",
	"x-rbl-warning", "x-mdaemon-deliver-to", "x-virus*", "x-mass-check-id", "x-pyzor",
	"x-dcc-*", "x-filtered-by", "x-scanned-by", "x-scanner", "x-ap-spam-*",
	"x-ripe-spam-status", "x-spamcop-*", "x-smtpd", "spam-apparently-to", "spam",
	"x-perlmx-spam", "x-bogosity", "content-class", "thread-index", "thread-topic",
	"x-originalarrivaltime", "status", "x-status", "x-flags", "x-keywords", "replied",
	"forwarded", "lines", "content-length", "x-uid", "x-uidl", "x-imapbase", "x-bugzilla-*",
	"x-vm-*", "x-gnus-mail-source", "xref", "x-face", "x-gnupg-*", "x-pgp-*", "x-gpg-*",
	"dkim-signature", "domainkey-signature", "x-google-dkim-signature", "arc-*",
	"autocrypt", "authentication-results", "received-spf", "x-facteur*", "return-receipt-to",
	NULL
};

/* SpamAssassin's HEADER_NAME_COMPRESSION, by lower-case name. */
static const char *const header_abbrev[][2] = {
	{ "message-id", "*m" }, { "received", "*r" }, { "user-agent", "*u" },
	{ "references", "*f" }, { "in-reply-to", "*i" }, { "from", "*F" }, { "reply-to", "*R" },
	{ "return-path", "*p" }, { "x-mailer", "*x" }, { "x-authentication-warning", "*a" },
	{ "organization", "*o" }, { "organisation", "*o" }, { "content-type", "*ct" },
	{ "content-disposition", "*cd" }, { "content-transfer-encoding", "*ce" },
	{ "subject", "*s" }, { "to", "*t" }, { "cc", "*c" },
};

static int
header_ignored(const char *lname)
{
	for (const char *const *p = ignored_headers; *p != NULL; p++) {
		size_t n = strlen(*p);
		if ((*p)[n - 1] == '*' ? strncmp(lname, *p, n - 1) == 0 : strcmp(lname, *p) == 0)
			return 1;
	}
	return 0;
}

/*
 * Content-Type without its boundary, whose shape is kept instead: hex
 * digits as H, separator runs as their own words ("----=_NextPart_000" is
 * a spamware mark, its value a hapax).
 */
static char *
content_type_chew(const char *v, size_t len)
{
	char *out = xmalloc(len * 3 + 2), *o = out;
	size_t i = 0;

	while (i < len) {
		if (len - i >= 9 && str_ncasecmp(v + i, "boundary=", 9) == 0) {
			char q = 0;
			size_t j = i + 9, k;
			if (j < len && (v[j] == '"' || v[j] == '\''))
				q = v[j++];
			for (k = j; k < len && (q ? v[k] != q : v[k] != ';' && !isspace((unsigned char)v[k])); k++)
				;
			*o++ = ' ';
			for (size_t m = j; m < k; m++) {
				char c = v[m];
				if (isxdigit((unsigned char)c))
					*o++ = 'H';
				else if (c == '-' || c == '_' || c == '.' || c == '=') {
					*o++ = ' ';
					while (m < k && (v[m] == '-' || v[m] == '_' || v[m] == '.' || v[m] == '='))
						*o++ = v[m++] == '=' ? 'E' : 'S';
					m--;
					*o++ = ' ';
				} else
					*o++ = c;
			}
			*o++ = ' ';
			i = k < len ? k + 1 : k;
			continue;
		}
		*o++ = v[i++];
	}
	*o = '\0';
	return out;
}

void
bayes_tokens_header(struct bayes_tokens *t, const char *name, const char *value, size_t len)
{
	char lname[64], prefix[80];
	const char *abbrev = NULL, *prefix2 = NULL;
	enum region region = REGION_HEADER;
	int rcvd = -1;

	if (str_copy(lname, name, sizeof(lname)) >= sizeof(lname))
		return;
	str_lower(lname);
	if (header_ignored(lname))
		return;
	for (size_t i = 0; i < sizeof(header_abbrev) / sizeof(header_abbrev[0]); i++)
		if (strcmp(lname, header_abbrev[i][0]) == 0)
			abbrev = header_abbrev[i][1];
	snprintf(prefix, sizeof(prefix), "H%s:", abbrev != NULL ? abbrev : lname);

	if (strcmp(lname, "message-id") == 0 || strcmp(lname, "in-reply-to") == 0 ||
	    strcmp(lname, "references") == 0 || strcmp(lname, "resent-message-id") == 0 ||
	    strcmp(lname, "x-message-id") == 0) {
		region = REGION_MSGID;
		prefix2 = "H*MI:";
		if (strcmp(lname, "message-id") == 0 && t->message_id == NULL) {
			const char *s = value, *e = value + len;
			while (s < e && (isspace((unsigned char)*s) || *s == '<'))
				s++;
			while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == '>'))
				e--;
			if (e > s)
				t->message_id = xstrndup(s, (size_t)(e - s));
		}
	} else if (strcmp(lname, "from") == 0 || strcmp(lname, "to") == 0 ||
	    strcmp(lname, "cc") == 0) {
		region = REGION_ADDR;
		prefix2 = "H*Ad:";
	} else if (strcmp(lname, "return-path") == 0 || strcmp(lname, "reply-to") == 0 ||
	    strcmp(lname, "errors-to") == 0) {
		region = REGION_ADDR;
	} else if (strcmp(lname, "x-mailer") == 0 || strcmp(lname, "user-agent") == 0) {
		prefix2 = "H*UA:";
	} else if (strcmp(lname, "received") == 0) {
		region = REGION_RECEIVED;
		rcvd = (int)t->rcvd_next;
		t->rcvd_next ^= 1;
		t->rcvd_n[rcvd] = 0;
	} else if (strcmp(lname, "mime-version") == 0) {
		region = REGION_MIMEVER;
	} else if (strcmp(lname, "content-type") == 0) {
		char *chewed = content_type_chew(value, len);
		tok_string(t, prefix, NULL, REGION_CTYPE, -1, chewed, strlen(chewed));
		free(chewed);
		return;
	}
	tok_string(t, prefix, prefix2, region, rcvd, value, len);
}

size_t
bayes_tokens_count(const struct bayes_tokens *t)
{
	return t->set.n + t->rcvd_n[0] + t->rcvd_n[1];
}

const char *
bayes_tokens_message_id(const struct bayes_tokens *t)
{
	return t->message_id;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Every distinct token, sorted (neighbours in the B-tree), with the last
 * word of the body: the caller frees *v_r.
 */
static size_t
tokens_collect(const struct bayes_tokens *t, uint64_t **v_r)
{
	struct bayes_tokens tail;
	struct emitter e;
	struct tokstate st = t->body;
	size_t n = 0, cap = t->set.n + t->rcvd_n[0] + t->rcvd_n[1] + 64, out;
	uint64_t *v = xmalloc(cap * sizeof(uint64_t));

	/* The body's pending word, without touching t. */
	memset(&tail, 0, sizeof(tail));
	e = (struct emitter){ &tail, "", NULL, REGION_BODY, -1, 0 };
	tok_end(&e, &st);

	for (size_t i = 0; i < t->set.cap; i++)
		if (t->set.slot[i] != 0)
			v[n++] = t->set.slot[i];
	for (unsigned int r = 0; r < 2; r++)
		for (size_t i = 0; i < t->rcvd_n[r]; i++)
			v[n++] = t->rcvd[r][i] == 0 ? 1 : t->rcvd[r][i];
	for (size_t i = 0; i < tail.set.cap && n < cap; i++)
		if (tail.set.slot[i] != 0)
			v[n++] = tail.set.slot[i];
	free(tail.set.slot);
	qsort(v, n, sizeof(*v), cmp_u64);
	out = 0;
	for (size_t i = 0; i < n; i++)
		if (out == 0 || v[out - 1] != v[i])
			v[out++] = v[i];
	*v_r = v;
	return out;
}

/* ---- the message through the MIME parser ---- */

static void
msg_header(void *context, const struct mime_part *part, const struct mime_header *h)
{
	if (part->index == 0)
		bayes_tokens_header(context, h->name, h->value, h->value_len);
}

static void
msg_text(void *context, const struct mime_part *part, const char *utf8, size_t len)
{
	if (mime_part_is_body_text(part))
		bayes_tokens_text(context, utf8, len);
}

static void
msg_url(void *context, const struct mime_part *part, const char *url, size_t len)
{
	(void)part;
	bayes_tokens_url(context, url, len);
}

struct bayes_tokens *
bayes_tokens_from_message(const void *data, size_t len)
{
	struct bayes_tokens *t = bayes_tokens_new();
	struct mime_callbacks cb = {
		.context = t, .header = msg_header, .text = msg_text, .url = msg_url,
	};
	struct mime_parser *p = mime_parser_new(NULL, &cb);

	mime_parser_feed(p, data, len);
	mime_parser_finish(p);
	mime_parser_free(&p);
	return t;
}

/* ---- the database ---- */

enum stmt {
	ST_VARS, ST_TOKEN, ST_APPLY, ST_INSERT, ST_DELETE_EMPTY, ST_VARS_ADD,
	ST_SEEN, ST_SEEN_PUT, ST_SEEN_DELETE, ST_BEGIN_READ, ST_BEGIN_WRITE, ST_COMMIT,
	ST_ROLLBACK, ST_DATA_VERSION, ST_ALL_TOKENS, ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_VARS] = "SELECT spam, ham, tokens FROM bayes_vars WHERE id = 1",
	[ST_TOKEN] = "SELECT spam, ham FROM bayes_token WHERE h = ?1",
	[ST_APPLY] = "UPDATE bayes_token SET spam = max(spam + ?2, 0), ham = max(ham + ?3, 0), "
	    "atime = CASE WHEN ?2 > 0 OR ?3 > 0 THEN ?4 ELSE atime END WHERE h = ?1",
	[ST_INSERT] = "INSERT INTO bayes_token (h, spam, ham, atime) VALUES (?1, ?2, ?3, ?4)",
	[ST_DELETE_EMPTY] = "DELETE FROM bayes_token WHERE h = ?1 AND spam = 0 AND ham = 0",
	[ST_VARS_ADD] = "UPDATE bayes_vars SET spam = spam + ?1, ham = ham + ?2, "
	    "tokens = tokens + ?3, last_learn = ?4 WHERE id = 1",
	[ST_SEEN] = "SELECT class FROM bayes_seen WHERE id = ?1",
	[ST_SEEN_PUT] = "INSERT OR REPLACE INTO bayes_seen (id, class, time) VALUES (?1, ?2, ?3)",
	[ST_SEEN_DELETE] = "DELETE FROM bayes_seen WHERE id = ?1",
	[ST_BEGIN_READ] = "BEGIN",
	[ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_ALL_TOKENS] = "SELECT h, spam, ham FROM bayes_token",
};

/*
 * bayes_token: one row per token hash.  bayes_vars: the message totals
 * and the number of tokens, one row.  bayes_seen: the learned messages by
 * id hash, with their class.  Rowid tables keyed by the 64-bit integers
 * are the smallest and fastest SQLite has.
 */
static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS bayes_token ("
	" h INTEGER PRIMARY KEY, spam INTEGER NOT NULL, ham INTEGER NOT NULL,"
	" atime INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS bayes_vars ("
	" id INTEGER PRIMARY KEY CHECK (id = 1), spam INTEGER NOT NULL, ham INTEGER NOT NULL,"
	" tokens INTEGER NOT NULL, last_learn INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS bayes_seen ("
	" id INTEGER PRIMARY KEY, class INTEGER NOT NULL, time INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO bayes_vars VALUES (1, 0, 0, 0, 0);";

/*
 * The token table in memory, for classifying: open addressing on the
 * hashes (0 is no token), each with its spam and ham counts.
 */
struct tok_mem {
	uint64_t *h;
	uint32_t (*count)[2];
	size_t mask;
	size_t n;
};

struct bayes {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	char error[512];
	struct tok_mem mem;
	/*
	 * The PRAGMA data_version mem was read at (it changes when another
	 * connection commits), -1 when there is none; mem.h NULL with a
	 * version: more tokens than bayes_memory_tokens, looked up in SQLite.
	 */
	sqlite3_int64 mem_version;
	/*
	 * The write-ahead log as it was before the last read of the totals
	 * (every commit of another connection writes to it), when, and the
	 * totals read: while it has not changed, for at most
	 * BAYES_RECHECK_MS, a message is classified from memory without
	 * a read transaction (about twenty system calls of locks and stats).
	 */
	char *wal_path;
	struct stat wal_st;
	int wal_ok;
	struct timespec checked;
	unsigned long ns, nn;
};

#define BAYES_RECHECK_MS 1000

static __thread char open_error[512];

static int
db_error(struct bayes *b, const char *what, const char **error_r)
{
	snprintf(b->error, sizeof(b->error), "%s: %s", what, sqlite3_errmsg(b->db));
	if (error_r != NULL)
		*error_r = b->error;
	return -1;
}

/* Run a statement without results; SQLITE_DONE is success. */
static int
step_done(struct bayes *b, enum stmt s)
{
	int rc = sqlite3_step(b->st[s]);

	sqlite3_reset(b->st[s]);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void
mem_drop(struct bayes *b)
{
	free(b->mem.h);
	free(b->mem.count);
	memset(&b->mem, 0, sizeof(b->mem));
	b->mem_version = -1;
}

static void
mem_put(struct tok_mem *m, uint64_t h, uint32_t spam, uint32_t ham)
{
	size_t i = (size_t)h & m->mask;

	while (m->h[i] != 0 && m->h[i] != h)
		i = (i + 1) & m->mask;
	m->n += m->h[i] == 0;
	m->h[i] = h;
	m->count[i][0] = spam;
	m->count[i][1] = ham;
}

/* A token's counts from memory: 0 when it has none. */
static int
mem_get(const struct tok_mem *m, uint64_t h, double *spam_r, double *ham_r)
{
	size_t i = (size_t)h & m->mask;

	for (; m->h[i] != 0; i = (i + 1) & m->mask)
		if (m->h[i] == h) {
			*spam_r = m->count[i][0];
			*ham_r = m->count[i][1];
			return 1;
		}
	return 0;
}

/*
 * Read the token table into memory, in the read transaction of the
 * caller, as it is at version; ntok (bayes_vars) sizes it.  More rows than
 * bayes_memory_tokens: nothing in memory, SQLite answers.
 */
static int
mem_load(struct bayes *b, sqlite3_int64 version, unsigned long ntok)
{
	unsigned long max = var_bayes_memory_tokens > 0 ? (unsigned long)var_bayes_memory_tokens : 0;
	sqlite3_stmt *st = b->st[ST_ALL_TOKENS];
	size_t cap = 1024;
	int rc;

	mem_drop(b);
	if (ntok > max) {
		b->mem_version = version;
		return 0;
	}
	while (cap < 2 * (size_t)ntok + 2)
		cap *= 2;
	b->mem.h = xcalloc(cap, sizeof(*b->mem.h));
	b->mem.count = xcalloc(cap, sizeof(*b->mem.count));
	b->mem.mask = cap - 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t h = (uint64_t)sqlite3_column_int64(st, 0);

		/* bayes_vars' count is behind: past half full, give up. */
		if (b->mem.n + 1 > cap / 2 || b->mem.n + 1 > max) {
			sqlite3_reset(st);
			mem_drop(b);
			b->mem_version = version;
			return 0;
		}
		mem_put(&b->mem, h != 0 ? h : 1, (uint32_t)sqlite3_column_int64(st, 1),
		    (uint32_t)sqlite3_column_int64(st, 2));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		mem_drop(b);
		return -1;
	}
	b->mem_version = version;
	return 0;
}

void
bayes_close(struct bayes **bp)
{
	struct bayes *b = *bp;

	if (b == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(b->st[i]);
	sqlite3_close(b->db);
	mem_drop(b);
	free(b->wal_path);
	free(b);
	*bp = NULL;
}

int
bayes_open(const char *path, int readonly, struct bayes **b_r, const char **error_r)
{
	struct bayes *b = xcalloc(1, sizeof(*b));
	int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
	    SQLITE_OPEN_NOMUTEX;
	sqlite3_stmt *st;
	int version = -1;
	char *msg = NULL;

	*b_r = NULL;
	b->mem_version = -1;
	if (readonly && access(path, F_OK) < 0 && errno == ENOENT) {
		snprintf(open_error, sizeof(open_error),
		    "%s: no classifier database here yet (learn some messages first)", path);
		goto fail;
	}
	if (sqlite3_open_v2(path, &b->db, flags, NULL) != SQLITE_OK) {
		snprintf(open_error, sizeof(open_error), "%s: %s", path,
		    b->db != NULL ? sqlite3_errmsg(b->db) : "cannot open");
		goto fail;
	}
	/* A writer holds the lock for one message at a time: wait for it. */
	sqlite3_busy_timeout(b->db, 10000);
	if (!readonly &&
	    sqlite3_exec(b->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	    "BEGIN IMMEDIATE;", NULL, NULL, &msg) != SQLITE_OK)
		goto fail_msg;
	if (sqlite3_prepare_v2(b->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		snprintf(open_error, sizeof(open_error), "%s: %s", path, sqlite3_errmsg(b->db));
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == 0 && !readonly) {
		if (sqlite3_exec(b->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(b->db, "PRAGMA user_version = 1", NULL, NULL, &msg) != SQLITE_OK)
			goto fail_msg;
		version = SCHEMA_VERSION;
	}
	if (!readonly && sqlite3_exec(b->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto fail_msg;
	if (version != SCHEMA_VERSION) {
		snprintf(open_error, sizeof(open_error),
		    version <= 0 ? "%s: no classifier database here yet (learn some messages first)" :
		    "%s: classifier database of an unknown version", path);
		goto fail;
	}
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(b->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &b->st[i],
		    NULL) != SQLITE_OK) {
			snprintf(open_error, sizeof(open_error), "%s: %s", path, sqlite3_errmsg(b->db));
			goto fail;
		}
	b->wal_path = xasprintf("%s-wal", path);
	*b_r = b;
	return 0;

fail_msg:
	snprintf(open_error, sizeof(open_error), "%s: %s", path, msg != NULL ? msg : "error");
	sqlite3_free(msg);
fail:
	*error_r = open_error;
	bayes_close(&b);
	return -1;
}

const char *
bayes_database_path(char *buf, size_t size)
{
	if (var_bayes_database != NULL && var_bayes_database[0] != '\0')
		str_copy(buf, var_bayes_database, size);
	else
		snprintf(buf, size, "%s/filter/bayes.db", var_spool_directory);
	return buf;
}

static int
read_vars(struct bayes *b, unsigned long *spam_r, unsigned long *ham_r, unsigned long *tokens_r)
{
	sqlite3_stmt *st = b->st[ST_VARS];
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*spam_r = (unsigned long)sqlite3_column_int64(st, 0);
		*ham_r = (unsigned long)sqlite3_column_int64(st, 1);
		*tokens_r = (unsigned long)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

void
bayes_counts(struct bayes *b, unsigned long *spam_r, unsigned long *ham_r,
    unsigned long *tokens_r)
{
	*spam_r = *ham_r = *tokens_r = 0;
	if (read_vars(b, spam_r, ham_r, tokens_r) < 0)
		log_warnx("bayes: reading the totals: %s", sqlite3_errmsg(b->db));
}

/* SpamAssassin's chi2q (Bayes/CombineChi.pm), halfv degrees of freedom / 2. */
static double
chi2q(double x2, unsigned int halfv)
{
	double m = x2 / 2.0, sum, term;

	sum = term = exp(-m);
	for (unsigned int i = 1; i < halfv; i++) {
		term *= m / i;
		sum += term;
	}
	return sum < 1.0 ? sum : 1.0;
}

struct sigtok {
	double prob;
	double strength;
};

static int
cmp_strength(const void *a, const void *b)
{
	double x = ((const struct sigtok *)a)->strength, y = ((const struct sigtok *)b)->strength;

	return x > y ? -1 : x < y;
}

double
bayes_classify(struct bayes *b, const struct bayes_tokens *t)
{
	unsigned long ns = 0, nn = 0, ntok = 0;
	unsigned long min = var_bayes_min_learned > 0 ? (unsigned long)var_bayes_min_learned : 1;
	uint64_t *v = NULL;
	struct sigtok *sig = NULL;
	size_t n, nsig = 0;
	double S, H, logS, logH;
	sqlite3_stmt *st = b->st[ST_TOKEN];
	sqlite3_int64 version = -1;
	struct timespec now;
	struct stat wst;
	int wal_ok, in_txn = 0;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	wal_ok = b->wal_path != NULL && stat(b->wal_path, &wst) == 0;
	if (wal_ok && b->wal_ok && b->mem.h != NULL && b->mem_version >= 0 &&
	    (now.tv_sec - b->checked.tv_sec) * 1000 +
	    (now.tv_nsec - b->checked.tv_nsec) / 1000000 < BAYES_RECHECK_MS &&
	    wst.st_ino == b->wal_st.st_ino && wst.st_size == b->wal_st.st_size &&
	    wst.st_mtim.tv_sec == b->wal_st.st_mtim.tv_sec &&
	    wst.st_mtim.tv_nsec == b->wal_st.st_mtim.tv_nsec) {
		ns = b->ns;
		nn = b->nn;
		if (ns < min || nn < min)
			return -1;
		goto classify;
	}
	/*
	 * The data version before the snapshot: a commit in between makes
	 * the table in memory newer than its version says, read again next
	 * time, never older.
	 */
	if (sqlite3_step(b->st[ST_DATA_VERSION]) == SQLITE_ROW)
		version = sqlite3_column_int64(b->st[ST_DATA_VERSION], 0);
	sqlite3_reset(b->st[ST_DATA_VERSION]);
	/* One read transaction: a consistent snapshot, never waiting for a writer (WAL). */
	if (step_done(b, ST_BEGIN_READ) < 0)
		goto error;
	in_txn = 1;
	if (read_vars(b, &ns, &nn, &ntok) < 0)
		goto error_rollback;
	/* The log as stat saw it before this snapshot: never newer than what was read. */
	b->wal_ok = wal_ok;
	if (wal_ok)
		b->wal_st = wst;
	b->checked = now;
	b->ns = ns;
	b->nn = nn;
	if (ns < min || nn < min) {
		step_done(b, ST_COMMIT);
		return -1;
	}
	if (version < 0 || version != b->mem_version) {
		if (version < 0 || mem_load(b, version, ntok) < 0)
			mem_drop(b);
	}
classify:
	n = tokens_collect(t, &v);
	sig = xmalloc((n > 0 ? n : 1) * sizeof(*sig));
	for (size_t i = 0; i < n; i++) {
		double s, h, prob, robn;
		int rc;

		if (b->mem.h != NULL) {
			if (!mem_get(&b->mem, v[i], &s, &h))
				continue;
		} else {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)v[i]);
			rc = sqlite3_step(st);
			if (rc != SQLITE_ROW) {
				sqlite3_reset(st);
				if (rc == SQLITE_DONE)
					continue;
				goto error_rollback;
			}
			s = (double)sqlite3_column_int64(st, 0);
			h = (double)sqlite3_column_int64(st, 1);
			sqlite3_reset(st);
		}
		if (s + h < 1)
			continue;
		/* s/ns over s/ns + h/nn, then Robinson's f(w) for rare tokens. */
		prob = (s * (double)nn) / (h * (double)ns + s * (double)nn);
		robn = s + h;
		prob = (FW_S_CONSTANT * FW_X_CONSTANT + robn * prob) / (FW_S_CONSTANT + robn);
		if (fabs(prob - 0.5) < MIN_PROB_STRENGTH)
			continue;
		sig[nsig].prob = prob;
		sig[nsig].strength = fabs(prob - 0.5);
		nsig++;
	}
	if (in_txn)
		step_done(b, ST_COMMIT);
	free(v);
	v = NULL;
	STATS_INC(bayes_classified);
	if (nsig == 0) {
		free(sig);
		return 0.5;
	}
	qsort(sig, nsig, sizeof(*sig), cmp_strength);
	if (nsig > N_SIGNIFICANT_TOKENS)
		nsig = N_SIGNIFICANT_TOKENS;

	/* Fisher's method both ways (CombineChi.pm), priors from the totals. */
	logS = log((double)ns / (double)(ns + nn));
	logH = log((double)nn / (double)(ns + nn));
	for (size_t i = 0; i < nsig; i++) {
		logS += log(1.0 - sig[i].prob);
		logH += log(sig[i].prob);
	}
	free(sig);
	S = 1.0 - chi2q(-2.0 * logS, (unsigned int)nsig);
	H = 1.0 - chi2q(-2.0 * logH, (unsigned int)nsig);
	return ((S - H) + 1.0) / 2.0;

error_rollback:
	log_warnx("bayes: classifying: %s", sqlite3_errmsg(b->db));
	step_done(b, ST_ROLLBACK);
	free(v);
	free(sig);
	return -1;
error:
	log_warnx("bayes: classifying: %s", sqlite3_errmsg(b->db));
	return -1;
}

/* The id of a message in bayes_seen. */
static sqlite3_int64
message_key(const char *msgid, const uint64_t *v, size_t n)
{
	if (msgid != NULL)
		return (sqlite3_int64)siphash(msgid, strlen(msgid), sip_k0 ^ 1);
	else {
		unsigned char *buf = xmalloc(n * 8 + 1);
		uint64_t h;
		for (size_t i = 0; i < n; i++)
			for (int k = 0; k < 8; k++)
				buf[i * 8 + k] = (unsigned char)(v[i] >> (8 * k));
		h = siphash(buf, n * 8, sip_k0 ^ 2);
		free(buf);
		return (sqlite3_int64)h;
	}
}

/* Add ds and dh to every token's counts (deleting the rows that reach 0/0). */
static int
apply_tokens(struct bayes *b, const uint64_t *v, size_t n, int ds, int dh, long now,
    long *new_tokens)
{
	sqlite3_stmt *up = b->st[ST_APPLY], *ins = b->st[ST_INSERT], *del = b->st[ST_DELETE_EMPTY];

	for (size_t i = 0; i < n; i++) {
		sqlite3_int64 h = (sqlite3_int64)v[i];

		sqlite3_bind_int64(up, 1, h);
		sqlite3_bind_int(up, 2, ds);
		sqlite3_bind_int(up, 3, dh);
		sqlite3_bind_int64(up, 4, now);
		if (step_done(b, ST_APPLY) < 0)
			return -1;
		if (sqlite3_changes(b->db) == 0) {
			if (ds < 0 || dh < 0)
				continue;
			sqlite3_bind_int64(ins, 1, h);
			sqlite3_bind_int(ins, 2, ds);
			sqlite3_bind_int(ins, 3, dh);
			sqlite3_bind_int64(ins, 4, now);
			if (step_done(b, ST_INSERT) < 0)
				return -1;
			(*new_tokens)++;
		} else if (ds < 0 || dh < 0) {
			sqlite3_bind_int64(del, 1, h);
			if (step_done(b, ST_DELETE_EMPTY) < 0)
				return -1;
			*new_tokens -= sqlite3_changes(b->db);
		}
	}
	return 0;
}

/* Learn (cls) or forget (cls < 0) one message in one transaction. */
static int
learn_or_forget(struct bayes *b, const struct bayes_tokens *t, const char *msgid, int cls,
    const char **error_r)
{
	sqlite3_stmt *st;
	sqlite3_int64 key;
	uint64_t *v;
	size_t n = tokens_collect(t, &v);
	long now = (long)time(NULL), dtok = 0;
	int seen = -1, rc, ds = 0, dh = 0;

	key = message_key(msgid, v, n);
	/* Its own commits do not change its data_version: read the table again. */
	mem_drop(b);
	if (step_done(b, ST_BEGIN_WRITE) < 0) {
		free(v);
		return db_error(b, "learn", error_r);
	}
	st = b->st[ST_SEEN];
	sqlite3_bind_int64(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		seen = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto error;
	if (seen == cls || (cls < 0 && seen < 0)) {
		step_done(b, ST_ROLLBACK);
		free(v);
		return 0;
	}
	/* Take it out of the class it was learned as ... */
	if (seen == BAYES_SPAM)
		ds = -1;
	else if (seen == BAYES_HAM)
		dh = -1;
	if (seen >= 0 && apply_tokens(b, v, n, ds, dh, now, &dtok) < 0)
		goto error;
	/* ... and into the new one. */
	if (cls >= 0 && apply_tokens(b, v, n, cls == BAYES_SPAM, cls == BAYES_HAM, now, &dtok) < 0)
		goto error;
	if (cls == BAYES_SPAM)
		ds++;
	else if (cls == BAYES_HAM)
		dh++;
	st = b->st[ST_VARS_ADD];
	sqlite3_bind_int(st, 1, ds);
	sqlite3_bind_int(st, 2, dh);
	sqlite3_bind_int64(st, 3, dtok);
	sqlite3_bind_int64(st, 4, now);
	if (step_done(b, ST_VARS_ADD) < 0)
		goto error;
	if (cls >= 0) {
		st = b->st[ST_SEEN_PUT];
		sqlite3_bind_int64(st, 1, key);
		sqlite3_bind_int(st, 2, cls);
		sqlite3_bind_int64(st, 3, now);
		if (step_done(b, ST_SEEN_PUT) < 0)
			goto error;
	} else {
		sqlite3_bind_int64(b->st[ST_SEEN_DELETE], 1, key);
		if (step_done(b, ST_SEEN_DELETE) < 0)
			goto error;
	}
	if (step_done(b, ST_COMMIT) < 0)
		goto error;
	free(v);
	return 1;

error:
	db_error(b, cls >= 0 ? "learn" : "forget", error_r);
	step_done(b, ST_ROLLBACK);
	free(v);
	return -1;
}

int
bayes_learn(struct bayes *b, const struct bayes_tokens *t, const char *msgid,
    enum bayes_class cls, const char **error_r)
{
	return learn_or_forget(b, t, msgid, (int)cls, error_r);
}

int
bayes_forget(struct bayes *b, const struct bayes_tokens *t, const char *msgid,
    const char **error_r)
{
	return learn_or_forget(b, t, msgid, -1, error_r);
}

/* ---- SpamAssassin's check_bayes ---- */

/* The next quoted (or bare) argument of args into buf; NULL at the end. */
static const char *
next_arg(const char *p, char *buf, size_t size)
{
	size_t n = 0;
	char q;

	while (isspace((unsigned char)*p) || *p == ',')
		p++;
	if (*p == '\0')
		return NULL;
	q = (*p == '\'' || *p == '"') ? *p++ : 0;
	while (*p != '\0' && (q ? *p != q : *p != ',' && !isspace((unsigned char)*p))) {
		if (n + 1 < size)
			buf[n++] = *p;
		p++;
	}
	if (q != 0 && *p == q)
		p++;
	buf[n] = '\0';
	return p;
}

static int
parse_number(const char *s, double *d_r)
{
	char *end;

	if (*s == '\0')
		return -1;
	*d_r = strtod(s, &end);
	return *end == '\0' ? 0 : -1;
}

int
bayes_sa_eval(double prob, const char *function, const char *args)
{
	char lo_s[32], hi_s[32];
	double lo, hi = 0;
	const char *p;

	if (function == NULL || strcmp(function, "check_bayes") != 0)
		return -1;
	if (args == NULL || (p = next_arg(args, lo_s, sizeof(lo_s))) == NULL ||
	    next_arg(p, hi_s, sizeof(hi_s)) == NULL)
		return 0;
	if (parse_number(lo_s, &lo) < 0 ||
	    (strcmp(hi_s, "undef") != 0 && parse_number(hi_s, &hi) < 0))
		return 0;
	if (prob < 0)
		return 0;
	/* Plugin/Bayes.pm: ($min == 0 || $score > $min) && ($max eq "undef" || $score <= $max) */
	return (lo == 0 || prob > lo) && (strcmp(hi_s, "undef") == 0 || prob <= hi);
}
