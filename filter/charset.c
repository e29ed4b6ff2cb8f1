/* SPDX-License-Identifier: MIT */
/*
 * charset - streaming conversion to UTF-8.  See charset.h.
 *
 * UTF-8, latin-1 and the undeclared case are converted here, without
 * iconv: they are most of the mail, and the UTF-8 validator is also what
 * decides, byte by byte, whether undeclared text is UTF-8 or latin-1.
 */
#include "facteur-config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/charset.h"

#define CHARSET_NAME_MAX 48
/* Longest incomplete multibyte sequence any iconv charset leaves behind. */
#define CHARSET_PENDING_MAX 16

enum charset_mode {
	CHARSET_UTF8,		/* declared UTF-8: invalid bytes become U+FFFD */
	CHARSET_UTF8_LATIN1,	/* undeclared or ASCII: invalid bytes read as latin-1 */
	CHARSET_LATIN1,
	CHARSET_ICONV,
};

struct charset_conv {
	enum charset_mode mode;
	int known;
	char name[CHARSET_NAME_MAX];
	iconv_t cd;
	unsigned char pending[CHARSET_PENDING_MAX];
	size_t npending;
	struct strbuf tmp;
};

/*
 * Latin-1 as mail clients and browsers read it, Windows-1252: 0x80 - 0x9f
 * are its punctuation (0x92 is U+2019), not C1 controls; the five bytes it
 * leaves unassigned stay the controls (WHATWG's windows-1252).
 * SpamAssassin reads ISO-8859-1 and undeclared 8-bit text so too.
 */
static const unsigned short w1252_c1[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

unsigned long
charset_w1252_cp(unsigned char c)
{
	return c >= 0x80 && c < 0xa0 ? w1252_c1[c - 0x80] : c;
}

static void
put_w1252(struct strbuf *out, unsigned char c)
{
	strbuf_put_utf8(out, charset_w1252_cp(c));
}

/* Names mail uses that iconv does not know, or knows as a narrower set. */
static const struct {
	const char *alias;
	const char *name;
} charset_aliases[] = {
	{ "ks_c_5601-1987", "CP949" },
	{ "ks_c_5601", "CP949" },
	{ "euc-kr", "CP949" },
	{ "gb2312", "GB18030" },
	{ "gbk", "GB18030" },
	{ "x-gbk", "GB18030" },
	{ "x-sjis", "SHIFT_JIS" },
	{ "shift-jis", "SHIFT_JIS" },
	{ "windows-874", "CP874" },
	{ "x-euc-jp", "EUC-JP" },
	{ "unicode-1-1-utf-7", "UTF-7" },
};

static int
charset_name_ok(const char *name)
{
	size_t i;

	/* Only names iconv could mean: no "//" suffixes, no paths. */
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
			return 0;
	}
	return i > 0 && i < CHARSET_NAME_MAX;
}

/*
 * 1 if cd reads UTF-8.  glibc's iconv knows UTF-8 under more names
 * ("UTF+8", "ISO-IR-193", "ISO-10646/UTF8/"...) and, from UTF-8 to UTF-8,
 * lets through bytes UTF-8 does not allow (5-byte forms, U+FFFF+): those
 * names get facteur's validator instead.  No other charset reads "€é"
 * from these five bytes.
 */
static int
iconv_reads_utf8(iconv_t cd)
{
	static const char probe[] = "\xe2\x82\xac\xc3\xa9";
	char in[sizeof(probe) - 1], out[32];
	char *src = in, *dst = out;
	size_t srclen = sizeof(in), room = sizeof(out);
	size_t rc;

	memcpy(in, probe, sizeof(in));
	rc = iconv(cd, &src, &srclen, &dst, &room);
	(void)iconv(cd, NULL, NULL, NULL, NULL);
	return rc != (size_t)-1 && (size_t)(dst - out) == sizeof(in) &&
	    memcmp(out, probe, sizeof(in)) == 0;
}

struct charset_conv *
charset_conv_new(const char *name, int *known_r)
{
	struct charset_conv *conv = xcalloc(1, sizeof(*conv));
	const char *iname;
	size_t i;

	*known_r = conv->known = 1;
	conv->cd = (iconv_t)-1;
	if (name == NULL)
		name = "";
	str_copy(conv->name, name, sizeof(conv->name));
	if (name[0] == '\0' || str_casecmp(name, "us-ascii") == 0 ||
	    str_casecmp(name, "ascii") == 0 || str_casecmp(name, "ansi_x3.4-1968") == 0) {
		conv->mode = CHARSET_UTF8_LATIN1;
		return conv;
	}
	if (str_casecmp(name, "utf-8") == 0 || str_casecmp(name, "utf8") == 0) {
		conv->mode = CHARSET_UTF8;
		return conv;
	}
	if (str_casecmp(name, "iso-8859-1") == 0 || str_casecmp(name, "latin1") == 0 ||
	    str_casecmp(name, "iso8859-1") == 0 || str_casecmp(name, "iso_8859-1") == 0 ||
	    str_casecmp(name, "latin-1") == 0 || str_casecmp(name, "windows-1252") == 0 ||
	    str_casecmp(name, "cp1252") == 0) {
		conv->mode = CHARSET_LATIN1;
		return conv;
	}
	conv->mode = CHARSET_LATIN1;
	if (!charset_name_ok(name)) {
		*known_r = conv->known = 0;
		return conv;
	}
	iname = name;
	for (i = 0; i < sizeof(charset_aliases) / sizeof(charset_aliases[0]); i++) {
		if (str_casecmp(name, charset_aliases[i].alias) == 0) {
			iname = charset_aliases[i].name;
			break;
		}
	}
	conv->cd = iconv_open("UTF-8", iname);
	if (conv->cd == (iconv_t)-1) {
		*known_r = conv->known = 0;
		return conv;
	}
	if (iconv_reads_utf8(conv->cd)) {
		iconv_close(conv->cd);
		conv->cd = (iconv_t)-1;
		conv->mode = CHARSET_UTF8;
		return conv;
	}
	conv->mode = CHARSET_ICONV;
	return conv;
}

void
charset_conv_free(struct charset_conv **convp)
{
	struct charset_conv *conv = *convp;

	if (conv == NULL)
		return;
	*convp = NULL;
	if (conv->cd != (iconv_t)-1)
		iconv_close(conv->cd);
	strbuf_free(&conv->tmp);
	free(conv);
}

void
charset_conv_reset(struct charset_conv *conv)
{
	conv->npending = 0;
	if (conv->cd != (iconv_t)-1)
		(void)iconv(conv->cd, NULL, NULL, NULL, NULL);
}

int
charset_conv_known(const struct charset_conv *conv)
{
	return conv->known;
}

int
charset_conv_is(const struct charset_conv *conv, const char *name)
{
	return str_casecmp(conv->name, name == NULL ? "" : name) == 0;
}

/* Length of the UTF-8 sequence led by c, 0 if c cannot lead one. */
static size_t
utf8_seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* 1 if c may follow the bytes seq[0..n) of a UTF-8 sequence (n >= 1). */
static int
utf8_cont_ok(const unsigned char *seq, size_t n, unsigned char c)
{
	if (c < 0x80 || c > 0xbf)
		return 0;
	if (n == 1) {
		switch (seq[0]) {
		case 0xe0: return c >= 0xa0;		/* overlong */
		case 0xed: return c <= 0x9f;		/* surrogates */
		case 0xf0: return c >= 0x90;		/* overlong */
		case 0xf4: return c <= 0x8f;		/* beyond U+10FFFF */
		}
	}
	return 1;
}

static void
put_invalid(struct charset_conv *conv, struct strbuf *out, const unsigned char *bytes, size_t n)
{
	size_t i;

	if (conv->mode == CHARSET_UTF8) {
		strbuf_put_utf8(out, 0xfffd);
		return;
	}
	for (i = 0; i < n; i++)
		put_w1252(out, bytes[i]);
}

static unsigned int
feed_utf8(struct charset_conv *conv, const unsigned char *in, size_t len, struct strbuf *out,
    int final)
{
	unsigned int bad = 0;
	size_t i = 0;

	strbuf_reserve(out, len + conv->npending);
	while (i < len) {
		unsigned char c = in[i];

		if (conv->npending > 0) {
			size_t need = utf8_seq_len(conv->pending[0]);

			if (!utf8_cont_ok(conv->pending, conv->npending, c)) {
				/* The pending bytes were not a character; c starts afresh. */
				put_invalid(conv, out, conv->pending, conv->npending);
				conv->npending = 0;
				bad++;
				continue;
			}
			conv->pending[conv->npending++] = c;
			i++;
			if (conv->npending == need) {
				strbuf_append(out, conv->pending, need);
				conv->npending = 0;
			}
			continue;
		}
		if (c < 0x80) {
			/* The common case: a run of ASCII in one copy. */
			size_t j = i + 1;
			while (j < len && in[j] < 0x80)
				j++;
			strbuf_append(out, in + i, j - i);
			i = j;
			continue;
		}
		if (utf8_seq_len(c) == 0) {
			put_invalid(conv, out, &c, 1);
			bad++;
			i++;
			continue;
		}
		conv->pending[0] = c;
		conv->npending = 1;
		i++;
	}
	if (final && conv->npending > 0) {
		put_invalid(conv, out, conv->pending, conv->npending);
		conv->npending = 0;
		bad++;
	}
	/* Undeclared 8-bit text is expected to be latin-1 at times: not an error. */
	return conv->mode == CHARSET_UTF8 ? bad : 0;
}

static unsigned int
feed_iconv(struct charset_conv *conv, const unsigned char *in, size_t len, struct strbuf *out,
    int final)
{
	unsigned int bad = 0;
	char *src;
	size_t srclen;

	/* Join what the last call left over with the new bytes. */
	if (conv->npending > 0) {
		strbuf_reset(&conv->tmp);
		strbuf_append(&conv->tmp, conv->pending, conv->npending);
		strbuf_append(&conv->tmp, in, len);
		src = conv->tmp.data;
		srclen = conv->tmp.len;
		conv->npending = 0;
	} else {
		src = (char *)(uintptr_t)in;
		srclen = len;
	}
	while (srclen > 0) {
		char *dst;
		size_t room, before, rc;

		strbuf_reserve(out, srclen * 4 + 16);
		dst = out->data + out->len;
		room = out->size - out->len - 1;
		before = room;
		rc = iconv(conv->cd, &src, &srclen, &dst, &room);
		out->len += before - room;
		out->data[out->len] = '\0';
		if (rc != (size_t)-1)
			break;
		if (errno == E2BIG)
			continue;
		if (errno == EINVAL && !final && srclen <= CHARSET_PENDING_MAX) {
			memcpy(conv->pending, src, srclen);
			conv->npending = srclen;
			break;
		}
		/* EILSEQ, or an incomplete sequence that will never complete. */
		strbuf_put_utf8(out, 0xfffd);
		bad++;
		src++;
		srclen--;
	}
	return bad;
}

void
charset_conv_prefer_utf8(struct charset_conv *conv)
{
	if (conv->mode == CHARSET_LATIN1 && conv->known)
		conv->mode = CHARSET_UTF8_LATIN1;
}

unsigned int
charset_conv_feed(struct charset_conv *conv, const void *in, size_t len, struct strbuf *out,
    int final)
{
	const unsigned char *s = in;
	size_t i;

	switch (conv->mode) {
	case CHARSET_UTF8:
	case CHARSET_UTF8_LATIN1:
		return feed_utf8(conv, s, len, out, final);
	case CHARSET_LATIN1:
		strbuf_reserve(out, len * 3);
		for (i = 0; i < len; i++) {
			if (s[i] < 0x80)
				out->data[out->len++] = (char)s[i];
			else
				put_w1252(out, s[i]);
		}
		out->data[out->len] = '\0';
		return 0;
	case CHARSET_ICONV:
		return feed_iconv(conv, s, len, out, final);
	}
	return 0;
}

void
charset_raw_to_utf8(const void *in, size_t len, struct strbuf *out)
{
	struct charset_conv conv;
	size_t start = out->len, i;

	memset(&conv, 0, sizeof(conv));
	conv.mode = CHARSET_UTF8_LATIN1;
	(void)feed_utf8(&conv, in, len, out, 1);
	for (i = start; i < out->len; i++) {
		if (out->data[i] == '\0')
			out->data[i] = ' ';
	}
}
