/* SPDX-License-Identifier: MIT */
/*
 * arc - ARC chain verification (RFC 8617).  See arc.h.
 *
 * The canonicalizations are DKIM's (RFC 6376 section 3.4), written here
 * because libopendkim knows only DKIM-Signature: an ARC-Message-Signature
 * hashes its own header name, so it cannot be handed to libopendkim under
 * another name.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/arc.h"
#include "filter/dns_blocking.h"
#include "filter/strbuf.h"
#include "lib/mem.h"

#define ARC_MAX_INSTANCES 50

struct field {
	const char *name;	/* in the message */
	size_t name_len;
	const char *text;	/* the whole field, folded, without its CRLF */
	size_t len;
	int used;		/* taken by the h= selection */
};

struct set {
	const struct field *aar, *ams, *as;
};

struct msg {
	struct field *f;
	size_t n;
	const char *body;
	size_t body_len;
};

/* Header fields up to the empty line. */
static void
split(const char *m, size_t len, struct msg *out)
{
	const char *p = m, *end = m + len;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *start = p, *colon;
		size_t cap;

		if (*p == '\r' || *p == '\n') {
			p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
			break;
		}
		/* One field: up to a line end not followed by a blank. */
		for (;;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL) {
				p = end;
				break;
			}
			p = nl + 1;
			if (p >= end || (*p != ' ' && *p != '\t'))
				break;
		}
		colon = memchr(start, ':', (size_t)(p - start));
		if (colon == NULL)
			continue;
		cap = out->n + 1;
		out->f = xrealloc(out->f, cap * sizeof(*out->f));
		out->f[out->n].name = start;
		out->f[out->n].name_len = (size_t)(colon - start);
		while (out->f[out->n].name_len > 0 &&
		    (start[out->f[out->n].name_len - 1] == ' ' || start[out->f[out->n].name_len - 1] == '\t'))
			out->f[out->n].name_len--;
		out->f[out->n].text = start;
		out->f[out->n].len = (size_t)(p - start);
		while (out->f[out->n].len > 0 && (start[out->f[out->n].len - 1] == '\n' ||
		    start[out->f[out->n].len - 1] == '\r'))
			out->f[out->n].len--;
		out->f[out->n].used = 0;
		out->n++;
	}
	out->body = p;
	out->body_len = (size_t)(end - p);
}

static int
name_is(const struct field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* The field's value (after the colon), len in len_r. */
static const char *
value_of(const struct field *f, size_t *len_r)
{
	const char *v = (const char *)memchr(f->text, ':', f->len) + 1;

	*len_r = f->len - (size_t)(v - f->text);
	return v;
}

/*
 * Tag tag of a tag-list, FWS removed (values here have no meaningful
 * spaces: b=, bh=, h= and the rest), into out; -1 if absent.
 */
static int
tag(const char *v, size_t len, const char *name, char *out, size_t size)
{
	const char *p = v, *end = v + len;
	size_t nl = strlen(name);

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p)), *q, *eq;
		const char *stop = semi != NULL ? semi : end;

		q = p;
		while (q < stop && isspace((unsigned char)*q))
			q++;
		eq = memchr(q, '=', (size_t)(stop - q));
		if (eq != NULL) {
			const char *k_end = eq;
			while (k_end > q && isspace((unsigned char)k_end[-1]))
				k_end--;
			if ((size_t)(k_end - q) == nl && strncmp(q, name, nl) == 0) {
				size_t o = 0;
				for (const char *c = eq + 1; c < stop; c++)
					if (!isspace((unsigned char)*c) && o + 1 < size)
						out[o++] = *c;
				out[o] = '\0';
				return 0;
			}
		}
		p = stop + 1;
	}
	return -1;
}

/* RFC 6376 3.4.2 relaxed header canonicalization of f, CRLF added when crlf. */
static void
canon_relaxed(struct strbuf *b, const char *text, size_t len, size_t name_len, int crlf)
{
	const char *v = text + name_len, *end = text + len;
	int space = 0, started = 0;

	for (size_t i = 0; i < name_len; i++)
		strbuf_putc(b, (char)tolower((unsigned char)text[i]));
	while (v < end && *v != ':')
		v++;
	strbuf_putc(b, ':');
	for (v++; v < end; v++) {
		char c = *v;
		if (c == '\r' || c == '\n')
			continue;
		if (c == ' ' || c == '\t') {
			space = 1;
			continue;
		}
		if (space && started)
			strbuf_putc(b, ' ');
		space = 0;
		started = 1;
		strbuf_putc(b, c);
	}
	if (crlf)
		strbuf_append(b, "\r\n", 2);
}

static void
canon_header(struct strbuf *b, const struct field *f, int relaxed, int crlf)
{
	if (relaxed)
		canon_relaxed(b, f->text, f->len, f->name_len, crlf);
	else {
		strbuf_append(b, f->text, f->len);
		if (crlf)
			strbuf_append(b, "\r\n", 2);
	}
}

/* The signature field with its b= value removed (what was signed). */
static char *
without_b(const struct field *f, size_t *len_r)
{
	const char *v = (const char *)memchr(f->text, ':', f->len) + 1, *end = f->text + f->len, *p = v;
	struct strbuf b = { NULL, 0, 0 };

	strbuf_append(&b, f->text, (size_t)(v - f->text));
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p)), *stop = semi != NULL ? semi : end;
		const char *q = p, *eq;
		while (q < stop && isspace((unsigned char)*q))
			q++;
		eq = memchr(q, '=', (size_t)(stop - q));
		if (eq != NULL && eq - q >= 1) {
			const char *k_end = eq;
			while (k_end > q && isspace((unsigned char)k_end[-1]))
				k_end--;
			if (k_end - q == 1 && *q == 'b') {
				strbuf_append(&b, p, (size_t)(eq + 1 - p));
				if (semi != NULL)
					strbuf_putc(&b, ';');
				p = stop + 1;
				continue;
			}
		}
		strbuf_append(&b, p, (size_t)(stop - p) + (semi != NULL ? 1 : 0));
		p = stop + 1;
	}
	*len_r = b.len;
	return b.data;
}

/* SHA-256 of the canonicalized body. */
static void
body_hash(const struct msg *m, int relaxed, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *p = m->body, *end = m->body + m->body_len;
	size_t empty = 0;	/* empty lines held back: trailing ones are dropped */
	struct strbuf line = { NULL, 0, 0 };
	int any = 0;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const char *l = p;

		p = nl != NULL ? nl + 1 : end;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		strbuf_reset(&line);
		if (relaxed) {
			int space = 0;
			for (size_t i = 0; i < n; i++) {
				if (l[i] == ' ' || l[i] == '\t') {
					space = 1;
					continue;
				}
				if (space)
					strbuf_putc(&line, ' ');
				space = 0;
				strbuf_putc(&line, l[i]);
			}
		} else {
			strbuf_append(&line, l, n);
		}
		if (line.len == 0) {
			empty++;
			continue;
		}
		for (; empty > 0; empty--)
			EVP_DigestUpdate(ctx, "\r\n", 2);
		EVP_DigestUpdate(ctx, line.data, line.len);
		EVP_DigestUpdate(ctx, "\r\n", 2);
		any = 1;
	}
	/* An empty body is CRLF in simple, nothing in relaxed. */
	if (!any && !relaxed)
		EVP_DigestUpdate(ctx, "\r\n", 2);
	EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	strbuf_free(&line);
}

static EVP_PKEY *
fetch_key(struct dns_blocking *dns, const char *d, const char *s, char *why, size_t whysize)
{
	char name[600], p[4096];
	char **txt = NULL;
	unsigned char der[4096];
	const unsigned char *dp = der;
	EVP_PKEY *key = NULL;
	int n;

	snprintf(name, sizeof(name), "%s._domainkey.%s", s, d);
	if (dns_blocking_txt(dns, name, &txt) != DNS_OK || txt == NULL || txt[0] == NULL) {
		snprintf(why, whysize, "no key %s", name);
		dns_blocking_txt_free(txt);
		return NULL;
	}
	if (tag(txt[0], strlen(txt[0]), "p", p, sizeof(p)) < 0 || p[0] == '\0') {
		snprintf(why, whysize, "no p= in %s", name);
		dns_blocking_txt_free(txt);
		return NULL;
	}
	dns_blocking_txt_free(txt);
	n = EVP_DecodeBlock(der, (const unsigned char *)p, (int)strlen(p));
	if (n <= 0) {
		snprintf(why, whysize, "bad key %s", name);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (size_t k = strlen(p); k > 0 && p[k - 1] == '='; k--)
		n--;
	key = d2i_PUBKEY(NULL, &dp, n);
	if (key == NULL)
		snprintf(why, whysize, "bad key %s", name);
	return key;
}

static int
verify_sig(struct dns_blocking *dns, const char *d, const char *s, const char *b64,
    const struct strbuf *data, char *why, size_t whysize)
{
	unsigned char sig[2048];
	EVP_PKEY *key = fetch_key(dns, d, s, why, whysize);
	EVP_MD_CTX *ctx;
	int n, ok;

	if (key == NULL)
		return 0;
	n = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)strlen(b64));
	for (size_t k = strlen(b64); k > 0 && b64[k - 1] == '='; k--)
		n--;
	if (n <= 0) {
		EVP_PKEY_free(key);
		snprintf(why, whysize, "bad b=");
		return 0;
	}
	ctx = EVP_MD_CTX_new();
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, (size_t)n, (const unsigned char *)data->data, data->len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	if (!ok)
		snprintf(why, whysize, "signature does not verify");
	return ok;
}

/* The newest AMS over the message, DKIM's algorithm. */
static int
verify_ams(struct dns_blocking *dns, struct msg *m, const struct field *ams, char *why,
    size_t whysize)
{
	char a[32], c[64] = "simple/simple", d[256], s[128], h[2048], bh[128], b[2048];
	unsigned char hash[32];
	char hash64[64];
	struct strbuf data = { NULL, 0, 0 };
	size_t vlen, slen;
	const char *v = value_of(ams, &vlen);
	char *signed_field, *save = NULL;
	int hrelaxed, brelaxed, ok;

	if (tag(v, vlen, "a", a, sizeof(a)) < 0 || tag(v, vlen, "d", d, sizeof(d)) < 0 ||
	    tag(v, vlen, "s", s, sizeof(s)) < 0 || tag(v, vlen, "h", h, sizeof(h)) < 0 ||
	    tag(v, vlen, "bh", bh, sizeof(bh)) < 0 || tag(v, vlen, "b", b, sizeof(b)) < 0) {
		snprintf(why, whysize, "AMS lacks a tag");
		return 0;
	}
	if (strcmp(a, "rsa-sha256") != 0) {
		snprintf(why, whysize, "AMS a=%s", a);
		return 0;
	}
	(void)tag(v, vlen, "c", c, sizeof(c));
	hrelaxed = strncmp(c, "relaxed", 7) == 0;
	brelaxed = strchr(c, '/') != NULL && strcmp(strchr(c, '/') + 1, "relaxed") == 0;
	body_hash(m, brelaxed, hash);
	EVP_EncodeBlock((unsigned char *)hash64, hash, 32);
	if (strcmp(hash64, bh) != 0) {
		snprintf(why, whysize, "AMS body hash differs");
		return 0;
	}
	for (size_t i = 0; i < m->n; i++)
		m->f[i].used = 0;
	for (char *name = strtok_r(h, ":", &save); name != NULL; name = strtok_r(NULL, ":", &save)) {
		/* The bottom-most field of that name not yet taken. */
		for (size_t i = m->n; i-- > 0;) {
			if (!m->f[i].used && name_is(&m->f[i], name)) {
				m->f[i].used = 1;
				canon_header(&data, &m->f[i], hrelaxed, 1);
				break;
			}
		}
	}
	signed_field = without_b(ams, &slen);
	if (hrelaxed)
		canon_relaxed(&data, signed_field, slen, ams->name_len, 0);
	else
		strbuf_append(&data, signed_field, slen);
	free(signed_field);
	ok = verify_sig(dns, d, s, b, &data, why, whysize);
	strbuf_free(&data);
	return ok;
}

/* ARC-Seal i over the sets 1..i. */
static int
verify_as(struct dns_blocking *dns, const struct set *sets, int i, char *why, size_t whysize)
{
	char a[32], d[256], s[128], b[2048];
	struct strbuf data = { NULL, 0, 0 };
	size_t vlen, slen;
	const char *v = value_of(sets[i].as, &vlen);
	char *signed_field;
	int ok;

	if (tag(v, vlen, "a", a, sizeof(a)) < 0 || tag(v, vlen, "d", d, sizeof(d)) < 0 ||
	    tag(v, vlen, "s", s, sizeof(s)) < 0 || tag(v, vlen, "b", b, sizeof(b)) < 0 ||
	    strcmp(a, "rsa-sha256") != 0) {
		snprintf(why, whysize, "AS %d: bad tags", i);
		return 0;
	}
	for (int j = 1; j <= i; j++) {
		canon_header(&data, sets[j].aar, 1, 1);
		canon_header(&data, sets[j].ams, 1, 1);
		if (j < i)
			canon_header(&data, sets[j].as, 1, 1);
	}
	signed_field = without_b(sets[i].as, &slen);
	canon_relaxed(&data, signed_field, slen, sets[i].as->name_len, 0);
	free(signed_field);
	ok = verify_sig(dns, d, s, b, &data, why, whysize);
	strbuf_free(&data);
	return ok;
}

static void
fail(struct arc_result *r, const char *why, const char *arg)
{
	snprintf(r->result, sizeof(r->result), "fail");
	snprintf(r->reason, sizeof(r->reason), "%s%s", why, arg);
}

void
arc_verify(struct dns_blocking *dns, const char *msgtext, size_t len, struct arc_result *r)
{
	struct set sets[ARC_MAX_INSTANCES + 1];
	struct msg m;
	int n = 0;
	char inst[16], cv[16], why[128];

	memset(r, 0, sizeof(*r));
	memset(sets, 0, sizeof(sets));
	split(msgtext, len, &m);
	snprintf(r->result, sizeof(r->result), "none");
	for (size_t i = 0; i < m.n; i++) {
		const struct field *f = &m.f[i];
		const struct field **slot;
		size_t vlen;
		const char *v;
		long k;

		if (name_is(f, "ARC-Seal"))
			slot = NULL;
		else if (!name_is(f, "ARC-Message-Signature") && !name_is(f, "ARC-Authentication-Results"))
			continue;
		v = value_of(f, &vlen);
		if (name_is(f, "ARC-Authentication-Results")) {
			/* "i=N; authserv-id; ..." */
			while (vlen > 0 && isspace((unsigned char)*v)) {
				v++;
				vlen--;
			}
			if (vlen < 3 || v[0] != 'i' || v[1] != '=') {
				fail(r, "", "AAR without i=");
				goto out;
			}
			k = strtol(v + 2, NULL, 10);
		} else {
			if (tag(v, vlen, "i", inst, sizeof(inst)) < 0) {
				fail(r, "", "ARC field without i=");
				goto out;
			}
			k = strtol(inst, NULL, 10);
		}
		if (k < 1 || k > ARC_MAX_INSTANCES) {
			fail(r, "", "instance out of range");
			goto out;
		}
		slot = name_is(f, "ARC-Seal") ? &sets[k].as :
		    name_is(f, "ARC-Message-Signature") ? &sets[k].ams : &sets[k].aar;
		if (*slot != NULL) {
			fail(r, "", "duplicate ARC field");
			goto out;
		}
		*slot = f;
		if (k > n)
			n = (int)k;
	}
	r->instances = n;
	if (n == 0)
		goto out;
	for (int i = 1; i <= n; i++) {
		size_t vlen;
		const char *v;

		if (sets[i].aar == NULL || sets[i].ams == NULL || sets[i].as == NULL) {
			snprintf(inst, sizeof(inst), "%d", i);
			fail(r, "incomplete set ", inst);
			goto out;
		}
		v = value_of(sets[i].as, &vlen);
		if (tag(v, vlen, "cv", cv, sizeof(cv)) < 0)
			cv[0] = '\0';
		if (strcmp(cv, "fail") == 0) {
			fail(r, "", "a sealer saw a broken chain (cv=fail)");
			goto out;
		}
		if ((i == 1 && strcmp(cv, "none") != 0) || (i > 1 && strcmp(cv, "pass") != 0)) {
			fail(r, "cv out of place: ", cv);
			goto out;
		}
	}
	{
		size_t vlen;
		const char *v = value_of(sets[n].as, &vlen);
		if (tag(v, vlen, "d", r->domain, sizeof(r->domain)) < 0)
			r->domain[0] = '\0';
	}
	if (!verify_ams(dns, &m, sets[n].ams, why, sizeof(why))) {
		fail(r, "newest AMS: ", why);
		goto out;
	}
	for (int i = n; i >= 1; i--) {
		if (!verify_as(dns, sets, i, why, sizeof(why))) {
			fail(r, "AS: ", why);
			goto out;
		}
	}
	/* Informational: how far back the message is unchanged. */
	r->oldest_pass = n;
	for (int i = n - 1; i >= 1; i--) {
		if (!verify_ams(dns, &m, sets[i].ams, why, sizeof(why)))
			break;
		r->oldest_pass = i;
	}
	snprintf(r->result, sizeof(r->result), "pass");
out:
	free(m.f);
}

/* ---- sealing ---- */

/* The fields the seal's AMS signs when present, as DKIM signers do. */
static const char *const sealed_fields[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to",
	"references", "mime-version", "content-type", "content-transfer-encoding", "dkim-signature",
	NULL,
};

static char *
sign_b64(EVP_PKEY *key, const struct strbuf *data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[2048];
	size_t siglen = sizeof(sig);
	char *out = NULL;

	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data->data, data->len) == 1) {
		out = xmalloc(4 * ((siglen + 2) / 3) + 1);
		EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
	}
	EVP_MD_CTX_free(ctx);
	return out;
}

/* A field we make, as a struct field for the canonicalizations. */
static struct field
make_field(const char *text)
{
	struct field f;

	f.name = text;
	f.name_len = strcspn(text, ":");
	f.text = text;
	f.len = strlen(text);
	f.used = 0;
	return f;
}

char *
arc_seal(const char *msgtext, size_t len, const char *cv, const char *authres,
    const char *domain, const char *selector, const char *key_pem, char *why, size_t whysize)
{
	struct set sets[ARC_MAX_INSTANCES + 2];
	struct msg m;
	struct strbuf data = { NULL, 0, 0 }, h = { NULL, 0, 0 }, out = { NULL, 0, 0 };
	unsigned char hash[32];
	char bh[64], *aar = NULL, *ams = NULL, *as = NULL, *b = NULL, inst[16];
	struct field f_aar, f_ams, f_as;
	BIO *bio;
	EVP_PKEY *key;
	int n = 0;
	long now = (long)time(NULL);

	memset(sets, 0, sizeof(sets));
	split(msgtext, len, &m);
	for (size_t i = 0; i < m.n; i++) {
		const struct field *f = &m.f[i];
		size_t vlen;
		const char *v;
		long k;

		if (!name_is(f, "ARC-Seal") && !name_is(f, "ARC-Message-Signature") &&
		    !name_is(f, "ARC-Authentication-Results"))
			continue;
		v = value_of(f, &vlen);
		while (vlen > 0 && isspace((unsigned char)*v)) {
			v++;
			vlen--;
		}
		if (name_is(f, "ARC-Authentication-Results"))
			k = vlen > 2 && v[0] == 'i' && v[1] == '=' ? strtol(v + 2, NULL, 10) : 0;
		else
			k = tag(v, vlen, "i", inst, sizeof(inst)) == 0 ? strtol(inst, NULL, 10) : 0;
		if (k < 1 || k > ARC_MAX_INSTANCES)
			continue;
		if (name_is(f, "ARC-Seal"))
			sets[k].as = f;
		else if (name_is(f, "ARC-Message-Signature"))
			sets[k].ams = f;
		else
			sets[k].aar = f;
		if (k > n)
			n = (int)k;
	}
	if (n >= ARC_MAX_INSTANCES) {
		snprintf(why, whysize, "the chain has %d instances already", n);
		free(m.f);
		return NULL;
	}
	for (int i = 1; i <= n; i++) {
		if (sets[i].aar == NULL || sets[i].ams == NULL || sets[i].as == NULL) {
			/* A broken chain is sealed as such, over the sets there are. */
			cv = "fail";
			break;
		}
	}
	bio = BIO_new_mem_buf(key_pem, -1);
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL) {
		snprintf(why, whysize, "cannot read the sealing key");
		free(m.f);
		return NULL;
	}
	n++;

	/* ARC-Authentication-Results */
	aar = xasprintf("ARC-Authentication-Results: i=%d; %s", n, authres);
	f_aar = make_field(aar);

	/* ARC-Message-Signature: the DKIM algorithm, relaxed/relaxed. */
	body_hash(&m, 1, hash);
	EVP_EncodeBlock((unsigned char *)bh, hash, 32);
	for (size_t i = 0; i < m.n; i++)
		m.f[i].used = 0;
	for (size_t i = m.n; i-- > 0;) {
		for (const char *const *s = sealed_fields; *s != NULL; s++) {
			if (name_is(&m.f[i], *s)) {
				if (h.len > 0)
					strbuf_putc(&h, ':');
				strbuf_append(&h, *s, strlen(*s));
				break;
			}
		}
	}
	ams = xasprintf("ARC-Message-Signature: i=%d; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=%s;"
	    "\r\n\tt=%ld; h=%s;\r\n\tbh=%s; b=", n, domain, selector, now,
	    h.data != NULL ? h.data : "from", bh);
	{
		char *names = xstrdup(h.data != NULL ? h.data : "from"), *save = NULL;
		for (char *name = strtok_r(names, ":", &save); name != NULL;
		    name = strtok_r(NULL, ":", &save)) {
			for (size_t i = m.n; i-- > 0;) {
				if (!m.f[i].used && name_is(&m.f[i], name)) {
					m.f[i].used = 1;
					canon_header(&data, &m.f[i], 1, 1);
					break;
				}
			}
		}
		free(names);
	}
	f_ams = make_field(ams);
	canon_header(&data, &f_ams, 1, 0);
	if ((b = sign_b64(key, &data)) == NULL)
		goto fail;
	{
		char *signed_ams = xasprintf("%s%s", ams, b);
		free(ams);
		ams = signed_ams;
		free(b);
		b = NULL;
	}
	f_ams = make_field(ams);

	/* ARC-Seal over every set, ours included. */
	as = xasprintf("ARC-Seal: i=%d; a=rsa-sha256; cv=%s; d=%s; s=%s; t=%ld; b=", n, cv, domain,
	    selector, now);
	strbuf_reset(&data);
	for (int j = 1; j < n; j++) {
		if (sets[j].aar != NULL)
			canon_header(&data, sets[j].aar, 1, 1);
		if (sets[j].ams != NULL)
			canon_header(&data, sets[j].ams, 1, 1);
		if (sets[j].as != NULL)
			canon_header(&data, sets[j].as, 1, 1);
	}
	canon_header(&data, &f_aar, 1, 1);
	canon_header(&data, &f_ams, 1, 1);
	f_as = make_field(as);
	canon_header(&data, &f_as, 1, 0);
	if ((b = sign_b64(key, &data)) == NULL)
		goto fail;
	strbuf_append(&out, as, strlen(as));
	strbuf_append(&out, b, strlen(b));
	strbuf_append(&out, "\r\n", 2);
	strbuf_append(&out, ams, strlen(ams));
	strbuf_append(&out, "\r\n", 2);
	strbuf_append(&out, aar, strlen(aar));
	strbuf_append(&out, "\r\n", 2);
	free(b);
	free(aar);
	free(ams);
	free(as);
	strbuf_free(&data);
	strbuf_free(&h);
	EVP_PKEY_free(key);
	free(m.f);
	return out.data;
fail:
	snprintf(why, whysize, "signing failed");
	free(b);
	free(aar);
	free(ams);
	free(as);
	strbuf_free(&data);
	strbuf_free(&h);
	strbuf_free(&out);
	EVP_PKEY_free(key);
	free(m.f);
	return NULL;
}
