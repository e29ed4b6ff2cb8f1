/* SPDX-License-Identifier: MIT */
/*
 * test_mime - the streaming MIME parser (filter/mime.h): a table of
 * well-formed and malformed messages with the text, subject, parts, URLs,
 * attachment bytes and anomalies each must give, every one fed whole and
 * byte by byte with identical results; generated messages for the limits
 * (depth, part count, header and line sizes).
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/mem.h"
#include "filter/mime.h"
#include "filter/strbuf.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* What a parse gave, as strings that compare as a whole. */
struct result {
	struct strbuf text;
	struct strbuf subject;
	struct strbuf parts;
	struct strbuf urls;
	struct strbuf attachment;
	struct strbuf events;	/* begin/end order */
	uint32_t anomalies;
};

static void
on_text(void *context, const struct mime_part *part, const char *utf8, size_t len)
{
	struct result *r = context;

	strbuf_append(&r->text, utf8, len);
}

static void
on_header(void *context, const struct mime_part *part, const struct mime_header *h)
{
	struct result *r = context;

	if (part->index == 0 && str_casecmp(h->name, "subject") == 0)
		strbuf_append(&r->subject, h->value, h->value_len);
}

static void
on_attachment(void *context, const struct mime_part *part, const void *data, size_t len)
{
	struct result *r = context;

	strbuf_append(&r->attachment, data, len);
}

static void
on_begin(void *context, const struct mime_part *part)
{
	struct result *r = context;
	char buf[32];

	snprintf(buf, sizeof(buf), "<%u", part->index);
	strbuf_append(&r->events, buf, strlen(buf));
}

static void
on_end(void *context, const struct mime_part *part)
{
	struct result *r = context;
	char buf[32];

	snprintf(buf, sizeof(buf), "%u>", part->index);
	strbuf_append(&r->events, buf, strlen(buf));
}

static void
result_free(struct result *r)
{
	strbuf_free(&r->text);
	strbuf_free(&r->subject);
	strbuf_free(&r->parts);
	strbuf_free(&r->urls);
	strbuf_free(&r->attachment);
	strbuf_free(&r->events);
}

static const char *
str(const struct strbuf *b)
{
	return b->data != NULL ? b->data : "";
}

/* Parse msg in pieces of step bytes (0: whole) into r. */
static void
parse(const char *msg, size_t len, size_t step, const struct mime_limits *limits,
    struct result *r)
{
	struct mime_callbacks cb = {
		.context = r,
		.header = on_header,
		.part_begin = on_begin,
		.text = on_text,
		.attachment = on_attachment,
		.part_end = on_end,
	};
	struct mime_parser *p;
	unsigned int i;
	size_t pos;

	memset(r, 0, sizeof(*r));
	p = mime_parser_new(limits, &cb);
	if (step == 0) {
		mime_parser_feed(p, msg, len);
	} else {
		for (pos = 0; pos < len; pos += step)
			mime_parser_feed(p, msg + pos, len - pos < step ? len - pos : step);
	}
	mime_parser_finish(p);
	mime_parser_feed(p, "ignored", 7);
	for (i = 0; i < mime_parser_part_count(p); i++) {
		const struct mime_part *part = mime_parser_part(p, i);
		char buf[512];

		assert_int_equal(part->index, i);
		assert_true(part->parent < (int)i);
		snprintf(buf, sizeof(buf), "%s%u:%s/%s%s%s%s", i > 0 ? " " : "", part->depth,
		    part->type, part->subtype, part->filename != NULL ? "[" : "",
		    part->filename != NULL ? part->filename : "", part->filename != NULL ? "]" : "");
		strbuf_append(&r->parts, buf, strlen(buf));
	}
	for (i = 0; i < mime_parser_url_count(p); i++) {
		if (i > 0)
			strbuf_putc(&r->urls, ' ');
		strbuf_append(&r->urls, mime_parser_url(p, i), strlen(mime_parser_url(p, i)));
	}
	r->anomalies = mime_parser_anomalies(p);
	assert_null(mime_parser_part(p, i + 1000));
	mime_parser_free(&p);
	assert_null(p);
}

static void
assert_same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->text.len, b->text.len);
	assert_memory_equal(str(&a->text), str(&b->text), a->text.len);
	assert_string_equal(str(&a->subject), str(&b->subject));
	assert_string_equal(str(&a->parts), str(&b->parts));
	assert_string_equal(str(&a->urls), str(&b->urls));
	assert_int_equal(a->attachment.len, b->attachment.len);
	assert_memory_equal(str(&a->attachment), str(&b->attachment), a->attachment.len);
	assert_string_equal(str(&a->events), str(&b->events));
	assert_int_equal(a->anomalies, b->anomalies);
}

/* Parse whole, byte by byte and in 7-byte pieces: all must agree. */
static void
parse_all_ways(const char *msg, size_t len, const struct mime_limits *limits, struct result *r)
{
	struct result other;

	parse(msg, len, 0, limits, r);
	parse(msg, len, 1, limits, &other);
	assert_same(r, &other);
	result_free(&other);
	parse(msg, len, 7, limits, &other);
	assert_same(r, &other);
	result_free(&other);
}

static void
assert_anomalies(uint32_t got, uint32_t want, const char *name)
{
	char g[512], w[512];

	if (got == want)
		return;
	mime_anomalies_str(got, g, sizeof(g));
	mime_anomalies_str(want, w, sizeof(w));
	fail_msg("%s: anomalies %s, want %s", name, g, w);
}

#define B(a) MIME_BIT(MIME_##a)
/* Five U+FFFD, for five bytes that are not UTF-8. */
#define R5 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"

static const struct row {
	const char *name;
	const char *msg;
	size_t len;		/* 0: strlen */
	const char *text;	/* NULL: not checked */
	const char *subject;
	const char *parts;
	const char *urls;
	const char *attachment;
	uint32_t anomalies;	/* checked exactly */
} rows[] = {
	/* ---- well-formed ---- */
	{ "plain", "Subject: hello\n\nHello world.\n", 0,
	    "Hello world.\n", "hello", "0:text/plain", "", "", 0 },
	{ "crlf", "Subject: hello\r\nTo: a@b\r\n\r\nline 1\r\nline 2\r\n", 0,
	    "line 1\nline 2\n", "hello", "0:text/plain", "", "", 0 },
	{ "mbox from line", "From someone@example.org Mon Jan  1 00:00:00 2024\nSubject: s\n\nx\n", 0,
	    "x\n", "s", "0:text/plain", "", "", 0 },
	{ "no body", "Subject: only headers\n", 0, "", "only headers", "0:text/plain", "", "", 0 },
	{ "empty", "", 0, "", "", "0:text/plain", "", "", 0 },
	{ "alternative text+html",
	    "Subject: =?UTF-8?Q?caf=C3=A9_au_lait?=\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/alternative; boundary=\"alt\"\n"
	    "\n"
	    "--alt\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n"
	    "Caf=C3=A9 at www.example.com/menu.\n"
	    "--alt\n"
	    "Content-Type: text/html; charset=iso-8859-1\n"
	    "\n"
	    "<html><head><style>p { color: red }</style><script>var x = '<p>no</p>';</script></head>\n"
	    "<body><p>Caf\xe9 &amp; <b>more</b></p><div>See <a href=\"https://example.org/a?x=1&amp;y=2\">"
	    "here</a>.</div><!-- hidden <p>comment</p> --><img src='http://img.example.net/i.png'>"
	    "<br>Fin&nbsp;&#x263A;&#9731;</body></html>\n"
	    "--alt--\n", 0,
	    /* p: a paragraph, div and br: a line end, as HTML.pm renders them */
	    "Café at www.example.com/menu.\n\nCafé & more\n\nSee here.\n\nFin ☺☃",
	    "café au lait", "0:multipart/alternative 1:text/plain 1:text/html",
	    "www.example.com/menu https://example.org/a?x=1&y=2 http://img.example.net/i.png", "", 0 },
	{ "attachment rfc2231",
	    "Content-Type: multipart/mixed; boundary=mix\n"
	    "\n"
	    "--mix\n"
	    "\n"
	    "see attached\n"
	    "--mix\n"
	    "Content-Type: application/octet-stream\n"
	    "Content-Disposition: attachment; filename*=UTF-8''na%C3%AFve%20file.bin\n"
	    "Content-Transfer-Encoding: base64\n"
	    "\n"
	    "aGVsbG8g\n"
	    "d29ybGQ=\n"
	    "--mix\n"
	    "Content-Type: text/plain; name*0*=iso-8859-1''r%E9sum; name*1=\"e part.txt\"\n"
	    "Content-Disposition: attachment\n"
	    "\n"
	    "text att\n"
	    "--mix--\n", 0,
	    "see attachedtext att", "",
	    "0:multipart/mixed 1:text/plain 1:application/octet-stream[naïve file.bin] "
	    "1:text/plain[résume part.txt]",
	    "", "hello worldtext att", 0 },
	{ "rfc822 with nested mixed",
	    "Subject: fwd\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
	    "\n"
	    "--outer\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "see below\n"
	    "--outer\n"
	    "Content-Type: message/rfc822\n"
	    "\n"
	    "Subject: inner\n"
	    "Content-Type: multipart/mixed; boundary=inner\n"
	    "\n"
	    "--inner\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "inner text http://inner.example/x\n"
	    "--inner\n"
	    "Content-Type: image/gif; name=\"a.gif\"\n"
	    "Content-Transfer-Encoding: base64\n"
	    "\n"
	    "R0lGODlh\n"
	    "--inner--\n"
	    "--outer--\n", 0,
	    "see belowinner text http://inner.example/x", "fwd",
	    "0:multipart/mixed 1:text/plain 1:message/rfc822 2:multipart/mixed 3:text/plain "
	    "3:image/gif[a.gif]",
	    "http://inner.example/x", "GIF89a", 0 },
	{ "preamble and epilogue",
	    "Content-Type: multipart/mixed; boundary=b\n\n"
	    "This is a preamble http://preamble.example/\n"
	    "--b\n\nbody\n--b--\nepilogue text\n", 0,
	    "body", "", "0:multipart/mixed 1:text/plain", "", "", 0 },
	{ "digest defaults to rfc822",
	    "Content-Type: multipart/digest; boundary=d\n\n"
	    "--d\n\nSubject: one\n\nfirst\n--d--\n", 0,
	    "first", "", "0:multipart/digest 1:message/rfc822 2:text/plain", "", "", 0 },
	/*
	 * HTML.pm's white space: spaces between paragraph breaks stay (the
	 * body's paragraph rule then joins them), and invisible text (font
	 * size 1 or less, "1.5" read as 1) keeps the spaces beside breaks
	 * that visible text loses.
	 */
	{ "html spaces between breaks",
	    "Content-Type: text/html\n\n<br><br>\n<table>\n <tr>\n <td>\n <p>You\n", 0,
	    "\n\n  \n\nYou ", "", "0:text/html", "", "", 0 },
	{ "html invisible text keeps its leading space",
	    "Content-Type: text/html\n\n<p>x<font size=\"-2\"><br>\n Under</font></p>\n", 0,
	    "\n\nx\n Under\n\n", "", "0:text/html", "", "", 0 },
	{ "html visible text loses it",
	    "Content-Type: text/html\n\n<p>x<font size=\"-1\"><br>\n Under</font></p>\n", 0,
	    "\n\nx\nUnder\n\n", "", "0:text/html", "", "", 0 },
	{ "html invisible text keeps its trailing space",
	    "Content-Type: text/html\n\n<font size=1.5 color=blue>contacts </font><p>kanz\n", 0,
	    "contacts \n\nkanz ", "", "0:text/html", "", "", 0 },
	{ "html hidden by colour or style",
	    "Content-Type: text/html\n\n<body text=white>a <span style=\"display: none\">b </span>"
	    "<br>c </body><div style='color: #fefefe; background: white'>d </div>e\n", 0,
	    "a b \nc \nd \ne ", "", "0:text/html", "", "", 0 },
	{ "encoded-word blanks are text",
	    "Subject:  =?utf-8?q?_hello_?= \n\nx\n", 0,
	    "x\n", " hello ", "0:text/plain", "", "", 0 },
	{ "koi8-r via iconv",
	    "Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n", 0,
	    "Привет\n", "", "0:text/plain", "", "", 0 },
	{ "windows-1252 quotes",
	    "Content-Type: text/plain; charset=\"Windows-1252\"\n\n\x93quoted\x94\n", 0,
	    "“quoted”\n", "", "0:text/plain", "", "", 0 },
	{ "encoded-word split character",
	    "Subject: =?UTF-8?B?ww==?=\n =?UTF-8?B?qQ==?= x =?iso-8859-1?q?=E9?=\n\n", 0,
	    "", "é x é", "0:text/plain", "", "", 0 },
	{ "fold is one space, blanks before it kept",
	    "Subject: a\n \t b  \n\tc\n d\n\n", 0,
	    "", "a b   c d", "0:text/plain", "", "", 0 },
	{ "undeclared utf-8 and latin-1",
	    "Subject: s\n\nd\xc3\xa9j\xc3\xa0 vu, caf\xe9\n", 0,
	    "déjà vu, café\n", "s", "0:text/plain", "", "", 0 },
	{ "urls in text",
	    "\n(see http://a.example/p.html), mailto:x@y.example; awww.no www.b.example.\n"
	    "ftp://f.example/file and again http://a.example/p.html\n", 0,
	    NULL, "", "0:text/plain",
	    "http://a.example/p.html mailto:x@y.example www.b.example ftp://f.example/file", "", 0 },
	{ "part named like a web page, read as HTML",
	    "Content-Type: multipart/mixed; boundary=b\n\n"
	    "--b\nContent-Type: application/octet-stream; name=\"a.HTM\"\n\n<p>page <b>text</b></p>\n"
	    "--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=x.shtml\n\n"
	    "<i>two</i>\n"
	    "--b\nContent-Type: application/octet-stream; name=\"a.html.txt\"\n\n<p>not</p>\n"
	    "--b--\n", 0,
	    "\n\npage text\n\ntwo", "",
	    "0:multipart/mixed 1:application/octet-stream[a.HTM] 1:text/plain[x.shtml] "
	    "1:application/octet-stream[a.html.txt]", "",
	    "<p>page <b>text</b></p><i>two</i><p>not</p>", 0 },
	{ "boundary prefixes",
	    "Content-Type: multipart/mixed; boundary=abc\n\n"
	    "--abc\n"
	    "Content-Type: multipart/alternative; boundary=abcd\n\n"
	    "--abcd\n\none\n"
	    "--abcd\n\ntwo\n"
	    "--abcd--\n"
	    "--abc\n\nthree\n"
	    "--abc--\n", 0,
	    "onetwothree", "",
	    "0:multipart/mixed 1:multipart/alternative 2:text/plain 2:text/plain 1:text/plain", "", "",
	    B(BOUNDARY_PREFIX) },
	/* ---- malformed ---- */
	{ "missing boundary",
	    "Content-Type: multipart/mixed\n\nhello\n", 0,
	    "hello\n", "", "0:multipart/mixed", "", "", B(MISSING_BOUNDARY) },
	{ "mismatched boundary",
	    "Content-Type: multipart/mixed; boundary=abc\n\n--xyz\n\nhidden\n--xyz--\n", 0,
	    "", "", "0:multipart/mixed", "", "", B(UNCLOSED_MULTIPART) | B(EMPTY_MULTIPART) },
	{ "unclosed multipart",
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\n\npart one\n", 0,
	    "part one\n", "", "0:multipart/mixed 1:text/plain", "", "", B(UNCLOSED_MULTIPART) },
	{ "inner unclosed, outer closes",
	    "Content-Type: multipart/mixed; boundary=o\n\n"
	    "--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nin\n"
	    "--o\n\nout\n--o--\n", 0,
	    "inout", "", "0:multipart/mixed 1:multipart/alternative 2:text/plain 1:text/plain",
	    "", "", B(UNCLOSED_MULTIPART) },
	{ "empty multipart",
	    "Content-Type: multipart/mixed; boundary=b\n\n--b--\n", 0,
	    "", "", "0:multipart/mixed", "", "", B(EMPTY_MULTIPART) },
	{ "boundary ends headers",
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n--b--\n", 0,
	    "", "", "0:multipart/mixed 1:text/plain", "", "", 0 },
	{ "truncated base64",
	    "Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ", 0,
	    "hello world", "", "0:text/plain", "", "", B(BAD_BASE64) },
	{ "base64 junk",
	    "Content-Transfer-Encoding: BASE64\n\naGVs*bG8=\n", 0,
	    "hello", "", "0:text/plain", "", "", B(BAD_BASE64) },
	{ "bad qp",
	    "Content-Transfer-Encoding: quoted-printable\n\nabc=ZZdef=4\nnext= \nline\n", 0,
	    "abc=ZZdef=4\nnextline\n", "", "0:text/plain", "", "", B(BAD_QP) },
	{ "unknown charset",
	    "Content-Type: text/plain; charset=x-klingon\n\ncaf\xe9\n", 0,
	    "café\n", "", "0:text/plain", "", "", B(BAD_CHARSET) },
	{ "invalid utf-8",
	    "Content-Type: text/plain; charset=utf-8\n\na\xff" "b\xe2\x82\n", 0,
	    "a\xef\xbf\xbd" "b\xef\xbf\xbd\n", "", "0:text/plain", "", "", B(CHARSET_ERROR) },
	{ "invalid utf-8 under another name of utf-8",
	    "Subject: =?UTF+8?B?Y2Fm+bmRupc=?=\n"
	    "Content-Type: text/plain; charset=ISO-IR-193\n\na\xf9\xb9\x91\xba\x97" "b\n", 0,
	    "a" R5 "b\n", "caf" R5, "0:text/plain", "", "", B(CHARSET_ERROR) },
	{ "broken encoded-words",
	    "Subject: =?utf-8?Q?caf=C3=A9?= =?utf-8?X?abc?= =?utf-8?B?Y2Fm?=\n\n", 0,
	    "", "café =?utf-8?X?abc?= caf", "0:text/plain", "", "", B(BAD_ENCODED_WORD) },
	{ "encoded-word unknown charset",
	    "Subject: =?x-foo?Q?caf=E9?=\n\n", 0,
	    "", "café", "0:text/plain", "", "", B(BAD_CHARSET) },
	{ "NUL in header and body",
	    "Subject: a\0b\n\nx\0y\n", 18,
	    "x\0y\n", "a b", "0:text/plain", "", "", B(NUL_BYTE) },
	{ "header without colon",
	    "Subject: hi\nThis is not a header\n\nbody\n", 0,
	    "This is not a header\n\nbody\n", "hi", "0:text/plain", "", "", B(HEADER_NO_COLON) },
	{ "8-bit header",
	    "Subject: caf\xe9 cr\xc3\xa8me\n\n", 0,
	    "", "café crème", "0:text/plain", "", "", B(8BIT_HEADER) },
	{ "bare CR and mixed line ends",
	    "Subject: x\r\n\r\nline1\nline2\rstill\r\n", 0,
	    "line1\nline2\nstill\n", "x", "0:text/plain", "", "", B(BARE_CR_LF) },
	{ "unknown transfer encoding",
	    "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 f\n", 0,
	    "begin 644 f\n", "", "0:text/plain", "", "", B(UNKNOWN_ENCODING) },
	{ "duplicate content-type",
	    "Content-Type: text/plain\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n", 0,
	    "--b\n\nx\n", "", "0:text/plain", "", "", B(DUPLICATE_HEADER) },
	{ "bad content-type",
	    "Content-Type: text\n\nx\n", 0,
	    "x\n", "", "0:text/plain", "", "", B(BAD_CONTENT_TYPE) },
	{ "duplicate boundary parameter",
	    "Content-Type: multipart/mixed; boundary=a; boundary=b\n\n--a\n\nx\n--a--\n", 0,
	    "x", "", "0:multipart/mixed 1:text/plain", "", "", B(BAD_PARAMETER) },
	{ "rfc2231 gap",
	    "Content-Type: application/pdf; name*1=b.pdf\n\n", 0,
	    "", "", "0:application/pdf[b.pdf]", "", "", B(BAD_PARAMETER) },
	{ "html unclosed tag and entity at end",
	    "Content-Type: text/html\n\n<p>a &lt b</p><a href=\"javascript:x()\">c</a> d &amp", 0,
	    "\n\na < b\n\nc d &amp", "", "0:text/html", "", "", 0 },
	/* HTML::Parser: a comment "-->" never ends ends at its first '>' */
	{ "html comment never ended",
	    "Content-Type: text/html\n\n<p>a <!--#rotate>b <b>c</b> -- d <!--y>e</p>", 0,
	    "\n\na b c -- d e\n\n", "", "0:text/html", "", "", 0 },
	{ "html comment ended by -- and blanks",
	    "Content-Type: text/html\n\na<!-- x > y -- \n >b <!-- z -->c", 0,
	    "ab c", "", "0:text/html", "", "", 0 },
};

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < N_ELEMENTS(rows); i++) {
		const struct row *row = &rows[i];
		size_t len = row->len != 0 ? row->len : strlen(row->msg);
		struct result r;

		parse_all_ways(row->msg, len, NULL, &r);
		if (row->text != NULL) {
			size_t want = row->len != 0 ? 4 : strlen(row->text);

			if (r.text.len != want || memcmp(str(&r.text), row->text, want) != 0)
				fail_msg("%s: text \"%s\", want \"%s\"", row->name, str(&r.text),
				    row->text);
		}
		if (row->subject != NULL && strcmp(str(&r.subject), row->subject) != 0)
			fail_msg("%s: subject \"%s\", want \"%s\"", row->name, str(&r.subject),
			    row->subject);
		if (row->parts != NULL && strcmp(str(&r.parts), row->parts) != 0)
			fail_msg("%s: parts \"%s\", want \"%s\"", row->name, str(&r.parts), row->parts);
		if (row->urls != NULL && strcmp(str(&r.urls), row->urls) != 0)
			fail_msg("%s: urls \"%s\", want \"%s\"", row->name, str(&r.urls), row->urls);
		if (row->attachment != NULL && strcmp(str(&r.attachment), row->attachment) != 0)
			fail_msg("%s: attachment \"%s\", want \"%s\"", row->name, str(&r.attachment),
			    row->attachment);
		assert_anomalies(r.anomalies, row->anomalies, row->name);
		result_free(&r);
	}
}

/* Every part begins after its parent and ends before it: no part twice. */
static void
test_events(void **state)
{
	const struct row *row = NULL;
	struct result r;
	size_t i;

	for (i = 0; i < N_ELEMENTS(rows); i++) {
		if (strcmp(rows[i].name, "rfc822 with nested mixed") == 0)
			row = &rows[i];
	}
	assert_non_null(row);
	parse(row->msg, strlen(row->msg), 0, NULL, &r);
	assert_string_equal(str(&r.events), "<0<11><2<3<44><55>3>2>0>");
	result_free(&r);
}

static void
test_too_deep(void **state)
{
	struct strbuf m = { NULL, 0, 0 };
	struct result r;
	char buf[128];
	int i;

	for (i = 0; i < 30; i++) {
		snprintf(buf, sizeof(buf),
		    "Content-Type: multipart/mixed; boundary=\"lvl%02d\"\n\n--lvl%02d\n", i, i);
		strbuf_append(&m, buf, strlen(buf));
	}
	strbuf_append(&m, "\ndeep text\n", 11);
	parse_all_ways(m.data, m.len, NULL, &r);
	assert_anomalies(r.anomalies, B(TOO_DEEP) | B(UNCLOSED_MULTIPART), "too deep");
	/* 20 levels of multipart, then the 21st is kept opaque. */
	assert_non_null(strstr(str(&r.parts), " 20:multipart/mixed"));
	assert_null(strstr(str(&r.parts), " 21:"));
	assert_string_equal(str(&r.text), "");
	result_free(&r);
	strbuf_free(&m);
}

static void
test_too_many_parts(void **state)
{
	struct mime_limits limits;
	struct strbuf m = { NULL, 0, 0 };
	struct result r;
	int i;

	mime_limits_default(&limits);
	limits.max_parts = 50;
	strbuf_append(&m, "Content-Type: multipart/mixed; boundary=b\n\n", 43);
	for (i = 0; i < 100; i++)
		strbuf_append(&m, "--b\n\nx\n", 7);
	strbuf_append(&m, "--b--\n", 6);
	parse_all_ways(m.data, m.len, &limits, &r);
	assert_anomalies(r.anomalies, B(TOO_MANY_PARTS), "too many parts");
	/* "x" each: the line end before a boundary is the boundary's */
	assert_int_equal(r.text.len, 49);
	result_free(&r);
	strbuf_free(&m);
}

static void
test_enormous_header(void **state)
{
	struct strbuf m = { NULL, 0, 0 };
	struct result r;
	size_t i;

	strbuf_append(&m, "Subject: ", 9);
	for (i = 0; i < 100000; i++)
		strbuf_putc(&m, (char)('a' + i % 26));
	strbuf_append(&m, "\nX-Dropped: yes\n\nbody\n", 22);
	/* Whole and in odd pieces only: byte by byte takes long under ASan. */
	parse(m.data, m.len, 0, NULL, &r);
	assert_anomalies(r.anomalies, B(HEADER_TOO_LONG) | B(LINE_TOO_LONG), "enormous header");
	assert_string_equal(str(&r.text), "body\n");
	assert_true(r.subject.len > 60000 && r.subject.len < 65536);
	result_free(&r);
	parse(m.data, m.len, 4093, NULL, &r);
	assert_anomalies(r.anomalies, B(HEADER_TOO_LONG) | B(LINE_TOO_LONG), "enormous header");
	result_free(&r);
	strbuf_free(&m);
}

static void
test_long_body_line(void **state)
{
	struct strbuf m = { NULL, 0, 0 };
	struct result r, other;
	size_t i;

	strbuf_append(&m, "Content-Transfer-Encoding: quoted-printable\n\n", 45);
	for (i = 0; i < 200000; i++)
		strbuf_append(&m, i % 10 == 9 ? "=41" : "b", i % 10 == 9 ? 3 : 1);
	strbuf_append(&m, "\nend\n", 5);
	parse(m.data, m.len, 0, NULL, &r);
	parse(m.data, m.len, 1000, NULL, &other);
	assert_same(&r, &other);
	assert_anomalies(r.anomalies, B(LINE_TOO_LONG), "long line");
	/* Escapes cut between pieces still decode. */
	assert_int_equal(r.text.len, 200000 + 5);
	assert_null(strchr(str(&r.text), '='));
	result_free(&r);
	result_free(&other);
	strbuf_free(&m);
}

static void
test_anomaly_names(void **state)
{
	char buf[64];
	unsigned int a;

	for (a = 0; a < MIME_ANOMALY_COUNT; a++)
		assert_int_equal(strncmp(mime_anomaly_name((enum mime_anomaly)a), "MIME_", 5), 0);
	assert_string_equal(mime_anomaly_name(MIME_ANOMALY_COUNT), "MIME_?");
	assert_int_equal(mime_anomalies_str(B(BAD_QP) | B(TOO_DEEP), buf, sizeof(buf)),
	    strlen("MIME_TOO_DEEP,MIME_BAD_QP"));
	assert_string_equal(buf, "MIME_TOO_DEEP,MIME_BAD_QP");
	mime_anomalies_str(B(BAD_QP) | B(TOO_DEEP), buf, 8);
	assert_string_equal(buf, "MIME_TO");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_too_deep),
		cmocka_unit_test(test_too_many_parts),
		cmocka_unit_test(test_enormous_header),
		cmocka_unit_test(test_long_body_line),
		cmocka_unit_test(test_anomaly_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
