/* SPDX-License-Identifier: MIT */
/*
 * html_text - streaming HTML to text.  See html_text.h.
 */
#include "facteur-config.h"

#include <string.h>

#include "lib/mem.h"
#include "filter/html_text.h"

enum html_state {
	H_TEXT,
	H_LT,		/* after '<' */
	H_LT_SLASH,	/* after "</" */
	H_TAG_NAME,
	H_ATTRS,	/* between attributes */
	H_ATTR_NAME,
	H_AFTER_ATTR_NAME,
	H_BEFORE_VALUE,
	H_VALUE,
	H_BANG,		/* after "<!" */
	H_COMMENT,
	H_BOGUS,	/* <?...>, <!DOCTYPE ...>: up to '>' */
	H_ENTITY,
};

/*
 * The elements HTML.pm renders as white space (html_whitespace), start and
 * end tags alike: a line end, a paragraph (two), or a space.  Others are
 * nothing: "a<span>b" is "ab".
 */
static const char *const newline_tags[] = { "br", "div" };
static const char *const paragraph_tags[] = {
	"p", "hr", "blockquote", "pre", "listing", "plaintext", "xmp", "title",
};
static const char *const space_tags[] = {
	"li", "th", "td", "dd", "dt", "embed", "h1", "h2", "h3", "h4", "h5", "h6",
};

static const struct {
	const char *name;
	unsigned long cp;	/* 0: nothing (invisible) */
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	{ "nbsp", ' ' }, { "copy", 0xa9 }, { "reg", 0xae }, { "trade", 0x2122 },
	{ "euro", 0x20ac }, { "pound", 0xa3 }, { "yen", 0xa5 }, { "cent", 0xa2 },
	{ "mdash", 0x2014 }, { "ndash", 0x2013 }, { "hellip", 0x2026 }, { "laquo", 0xab },
	{ "raquo", 0xbb }, { "lsquo", 0x2018 }, { "rsquo", 0x2019 }, { "ldquo", 0x201c },
	{ "rdquo", 0x201d }, { "bull", 0x2022 }, { "middot", 0xb7 }, { "deg", 0xb0 },
	{ "times", 0xd7 }, { "divide", 0xf7 }, { "sect", 0xa7 }, { "iexcl", 0xa1 },
	{ "iquest", 0xbf }, { "eacute", 0xe9 }, { "egrave", 0xe8 }, { "ecirc", 0xea },
	{ "agrave", 0xe0 }, { "aacute", 0xe1 }, { "acirc", 0xe2 }, { "ccedil", 0xe7 },
	{ "ocirc", 0xf4 }, { "uuml", 0xfc }, { "ouml", 0xf6 }, { "auml", 0xe4 },
	{ "szlig", 0xdf }, { "ntilde", 0xf1 }, { "Eacute", 0xc9 },
	/* Invisible characters spammers put inside words to break rules. */
	{ "shy", 0 }, { "zwnj", 0 }, { "zwj", 0 }, { "lrm", 0 }, { "rlm", 0 },
};

/* What an attribute's value is read for. */
#define KEEP_URL 1
#define KEEP_STYLE 2

void
html_text_init(struct html_text *h, html_url_fn *url, void *context)
{
	struct strbuf held = h->held, style_attrs = h->style_attrs;
	struct html_styles styles = h->styles;

	memset(h, 0, sizeof(*h));
	h->held = held;
	strbuf_reset(&h->held);
	h->style_attrs = style_attrs;
	strbuf_reset(&h->style_attrs);
	h->styles = styles;
	html_styles_reset(&h->styles);
	h->invisible = -1;
	h->state = H_TEXT;
	/* a part may start with a paragraph or a space, as in HTML.pm's text */
	h->url = url;
	h->context = context;
}

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * A text event of HTML::Parser begins (HTML.pm display_text): the last
 * text element's trailing space stays, and this one's leading white space
 * goes if a white space element came just before.
 */
static void
elem_begin(struct html_text *h, struct strbuf *out)
{
	if (h->in_text)
		return;
	h->in_text = 1;
	if (h->space) {
		strbuf_putc(out, ' ');
		h->newlines = 0;
	}
	h->space = 0;
	h->lead = h->ws_elem;
	h->ws_elem = 0;
	h->lead_space = 0;
	h->elem_invisible = 0;
	if (h->invisible < 0)
		h->invisible = html_styles_invisible(&h->styles);
}

/*
 * White space in a text event: one space, pending, unless it leads.  A
 * leading one stays if the text is invisible (HTML.pm display_text): it is
 * so if something but white space follows in the event.
 */
static void
put_space(struct html_text *h, struct strbuf *out)
{
	elem_begin(h, out);
	if (!h->lead)
		h->space = 1;
	else if (h->invisible)
		h->lead_space = 1;
}

static void
put_text(struct html_text *h, const char *s, size_t len, struct strbuf *out)
{
	if (len == 0)
		return;
	elem_begin(h, out);
	if (h->space || h->lead_space)
		strbuf_putc(out, ' ');
	h->space = 0;
	h->lead = 0;
	h->lead_space = 0;
	h->elem_invisible = h->invisible;
	h->newlines = 0;
	strbuf_append(out, s, len);
}

/* Decode entity name (without '&' and ';') onto out; 0 if unknown. */
static int
entity_decode(const char *name, size_t len, struct strbuf *out)
{
	unsigned long cp = 0;
	size_t i;

	if (len >= 2 && name[0] == '#') {
		int hex = name[1] == 'x' || name[1] == 'X';

		for (i = hex ? 2 : 1; i < len; i++) {
			char c = name[i];
			int v = c >= '0' && c <= '9' ? c - '0' :
			    hex && lower(c) >= 'a' && lower(c) <= 'f' ? lower(c) - 'a' + 10 : -1;
			if (v < 0)
				return 0;
			if (cp < 0x110000)
				cp = cp * (hex ? 16 : 10) + (unsigned long)v;
		}
		if (i == (hex ? 2u : 1u))
			return 0;
		if (cp == 0)
			cp = 0xfffd;
		if (cp == 0xa0)
			cp = ' ';
		strbuf_put_utf8(out, cp);
		return 1;
	}
	for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
		if (strlen(entities[i].name) == len && memcmp(entities[i].name, name, len) == 0) {
			if (entities[i].cp != 0)
				strbuf_put_utf8(out, entities[i].cp);
			return 1;
		}
	}
	return 0;
}

static int
tag_is(const struct html_text *h, const char *name)
{
	return h->tag_len == strlen(name) && memcmp(h->tag, name, h->tag_len) == 0;
}

/*
 * Text as written in the page: HTML.pm makes its curly double quotes
 * (U+201C, U+201D) plain ones before parsing, entities not included.
 */
static void
put_literal(struct html_text *h, const char *s, size_t len, struct strbuf *out)
{
	size_t i = 0, from = 0;

	while (i + 2 < len) {
		if ((unsigned char)s[i] == 0xe2 && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0x9c || (unsigned char)s[i + 2] == 0x9d)) {
			put_text(h, s + from, i - from, out);
			put_text(h, "\"", 1, out);
			i += 3;
			from = i;
		} else {
			i++;
		}
	}
	put_text(h, s + from, len - from, out);
}

/*
 * An element rendered as white space (HTML.pm display_text with
 * whitespace): the trailing space of the text element just before it is
 * dropped unless that text was invisible, and the leading space of the
 * one just after; line ends at most two in a row.
 */
static void
ws_element(struct html_text *h, const char *ws, struct strbuf *out)
{
	if (h->space && h->elem_invisible) {
		strbuf_putc(out, ' ');
		h->newlines = 0;
	}
	h->space = 0;
	h->in_text = 0;
	for (; *ws != '\0'; ws++) {
		if (*ws != '\n') {
			strbuf_putc(out, *ws);
			h->newlines = 0;
		} else if (h->newlines < 2) {
			strbuf_putc(out, '\n');
			h->newlines++;
		}
	}
	h->ws_elem = 1;
}

/* A tag text_style reads, ended: its style pushed or popped. */
static void
style_tag_end(struct html_text *h)
{
	struct html_style_attr attrs[16];
	int n = 0;

	for (size_t off = 0; off < h->style_attrs.len && n < 16; n++) {
		attrs[n].name = h->style_attrs.data + off;
		off += strlen(attrs[n].name) + 1;
		attrs[n].value = h->style_attrs.data + off;
		off += strlen(attrs[n].value) + 1;
	}
	html_styles_tag(&h->styles, h->tag, !h->end_tag, attrs, n);
	h->invisible = -1;
	strbuf_reset(&h->style_attrs);
}

static void
tag_end(struct html_text *h, struct strbuf *out)
{
	size_t i;

	h->state = H_TEXT;
	h->in_text = 0;		/* a text event ends at a tag */
	if (h->style_tag)
		style_tag_end(h);
	if (!h->end_tag && tag_is(h, "script")) {
		h->skip = 1;
		return;
	}
	if (!h->end_tag && tag_is(h, "style")) {
		h->skip = 2;
		return;
	}
	for (i = 0; i < sizeof(newline_tags) / sizeof(newline_tags[0]); i++)
		if (tag_is(h, newline_tags[i])) {
			ws_element(h, "\n", out);
			return;
		}
	for (i = 0; i < sizeof(paragraph_tags) / sizeof(paragraph_tags[0]); i++)
		if (tag_is(h, paragraph_tags[i])) {
			ws_element(h, "\n\n", out);
			return;
		}
	for (i = 0; i < sizeof(space_tags) / sizeof(space_tags[0]); i++)
		if (tag_is(h, space_tags[i])) {
			ws_element(h, " ", out);
			return;
		}
}

/*
 * The attribute's value with its entities decoded (&amp; between a link's
 * query parameters ...) onto v; without its line ends and tabs if strip.
 */
static void
value_decode(const struct html_text *h, int strip, struct strbuf *v)
{
	for (size_t i = 0; i < h->value_len; i++) {
		if (h->value[i] == '&') {
			size_t j = i + 1;

			while (j < h->value_len && j - i < 12 && h->value[j] != ';' &&
			    h->value[j] != '&')
				j++;
			if (j < h->value_len && h->value[j] == ';' &&
			    entity_decode(h->value + i + 1, j - i - 1, v)) {
				i = j;
				continue;
			}
		}
		if (!strip || (h->value[i] != '\r' && h->value[i] != '\n' && h->value[i] != '\t'))
			strbuf_putc(v, h->value[i]);
	}
}

/* The attribute being read is one text_style reads on this tag, not seen before on it. */
static int
style_attr_wanted(const struct html_text *h)
{
	char name[sizeof(h->attr) + 1];

	if (!h->style_tag || h->end_tag || h->attr_len == 0)
		return 0;
	memcpy(name, h->attr, h->attr_len);
	name[h->attr_len] = '\0';
	if (!html_style_attr_ok(h->tag, name))
		return 0;
	for (size_t off = 0; off < h->style_attrs.len;) {
		const char *n = h->style_attrs.data + off;

		if (strcmp(n, name) == 0)
			return 0;
		off += strlen(n) + 1;
		off += strlen(h->style_attrs.data + off) + 1;
	}
	return 1;
}

/* An attribute text_style reads, with its value (as HTML::Parser: its name if it has none). */
static void
style_attr_add(struct html_text *h, int has_value)
{
	strbuf_append(&h->style_attrs, h->attr, h->attr_len);
	strbuf_putc(&h->style_attrs, '\0');
	if (has_value) {
		size_t from = h->style_attrs.len;

		value_decode(h, 0, &h->style_attrs);
		/* a NUL in the value ends it */
		h->style_attrs.len = from + strnlen(h->style_attrs.data + from,
		    h->style_attrs.len - from);
	} else {
		strbuf_append(&h->style_attrs, h->attr, h->attr_len);
	}
	strbuf_putc(&h->style_attrs, '\0');
}

/* An attribute without a value ends (at '>' or another attribute). */
static void
attr_valueless(struct html_text *h)
{
	if (style_attr_wanted(h))
		style_attr_add(h, 0);
	h->attr_len = 0;
}

static void
attr_end(struct html_text *h)
{
	struct strbuf v = { NULL, 0, 0 };
	size_t start = 0, end;

	if (h->keep_value & KEEP_STYLE)
		style_attr_add(h, 1);
	if (!(h->keep_value & KEEP_URL) || h->value_len == 0)
		goto done;
	value_decode(h, 1, &v);
	end = v.len;
	while (start < end && v.data[start] == ' ')
		start++;
	while (end > start && v.data[end - 1] == ' ')
		end--;
	if (end > start)
		h->url(h->context, v.data + start, end - start);
done:
	strbuf_free(&v);
	h->value_len = 0;
	h->attr_len = 0;
	h->keep_value = 0;
}

/* What the value of the attribute being read is kept for: KEEP_*. */
static int
keep_value(const struct html_text *h)
{
	int keep = 0;

	if (h->url != NULL &&
	    ((h->attr_len == 4 && memcmp(h->attr, "href", 4) == 0) ||
	    (h->attr_len == 3 && memcmp(h->attr, "src", 3) == 0) ||
	    (h->attr_len == 6 && memcmp(h->attr, "action", 6) == 0) ||
	    (h->attr_len == 10 && memcmp(h->attr, "background", 10) == 0)))
		keep |= KEEP_URL;
	if (style_attr_wanted(h))
		keep |= KEEP_STYLE;
	return keep;
}

void
html_text_feed(struct html_text *h, const char *html, size_t len, struct strbuf *out)
{
	size_t i = 0;

	while (i < len) {
		char c = html[i];
		unsigned char uc = (unsigned char)c;

		switch (h->state) {
		case H_TEXT:
			if (h->skip) {
				const char *target = h->skip == 1 ? "</script" : "</style";

				if (lower(c) == target[h->skip_match]) {
					if (target[++h->skip_match] == '\0') {
						str_copy(h->tag, target + 2, sizeof(h->tag));
						h->tag_len = strlen(h->tag);
						h->end_tag = 1;
						h->skip = 0;
						h->skip_match = 0;
						h->state = H_ATTRS;
					}
				} else {
					h->skip_match = c == '<' ? 1 : 0;
				}
				i++;
				break;
			}
			if (c == '<') {
				h->state = H_LT;
				i++;
			} else if (c == '&') {
				h->entity_len = 0;
				h->state = H_ENTITY;
				i++;
			} else if (is_space(uc)) {
				put_space(h, out);
				i++;
			} else {
				size_t j = i + 1;

				while (j < len && html[j] != '<' && html[j] != '&' &&
				    !is_space((unsigned char)html[j]))
					j++;
				put_literal(h, html + i, j - i, out);
				i = j;
			}
			break;
		case H_LT:
			h->tag_len = 0;
			h->tag[0] = '\0';
			h->end_tag = 0;
			h->attr_len = 0;
			h->value_len = 0;
			h->style_tag = 0;
			h->keep_value = 0;
			strbuf_reset(&h->style_attrs);
			if (is_alpha(uc)) {
				h->state = H_TAG_NAME;
			} else if (c == '/') {
				h->end_tag = 1;
				h->state = H_LT_SLASH;
				i++;
			} else if (c == '!') {
				h->dashes = 0;
				h->state = H_BANG;
				i++;
			} else if (c == '?') {
				h->state = H_BOGUS;
				i++;
			} else {
				/* "a < b": a literal '<'. */
				put_text(h, "<", 1, out);
				h->state = H_TEXT;
			}
			break;
		case H_LT_SLASH:
			h->state = is_alpha(uc) ? H_TAG_NAME : H_BOGUS;
			break;
		case H_TAG_NAME:
			if (is_space(uc) || c == '/' || c == '>')
				h->style_tag = html_style_element(h->tag);
			if (is_space(uc) || c == '/') {
				h->state = H_ATTRS;
				i++;
			} else if (c == '>') {
				tag_end(h, out);
				i++;
			} else {
				if (h->tag_len < sizeof(h->tag) - 1) {
					h->tag[h->tag_len++] = lower(c);
					h->tag[h->tag_len] = '\0';
				} else
					h->tag[0] = '\0';	/* too long to be any we know */
				i++;
			}
			break;
		case H_ATTRS:
			if (c == '>') {
				tag_end(h, out);
			} else if (!is_space(uc) && c != '/') {
				h->attr_len = 0;
				h->state = H_ATTR_NAME;
				break;	/* c starts the name */
			}
			i++;
			break;
		case H_ATTR_NAME:
			if (c == '=') {
				h->state = H_BEFORE_VALUE;
			} else if (c == '>') {
				attr_valueless(h);
				tag_end(h, out);
			} else if (is_space(uc) || c == '/') {
				h->state = H_AFTER_ATTR_NAME;
			} else if (h->attr_len < sizeof(h->attr)) {
				h->attr[h->attr_len++] = lower(c);
			}
			i++;
			break;
		case H_AFTER_ATTR_NAME:
			if (c == '=') {
				h->state = H_BEFORE_VALUE;
				i++;
			} else if (c == '>') {
				attr_valueless(h);
				tag_end(h, out);
				i++;
			} else if (is_space(uc) || c == '/') {
				i++;
			} else {
				attr_valueless(h);
				h->state = H_ATTR_NAME;
			}
			break;
		case H_BEFORE_VALUE:
			h->value_len = 0;
			if (is_space(uc)) {
				i++;
			} else if (c == '"' || c == '\'') {
				h->quote = c;
				h->keep_value = keep_value(h);
				h->state = H_VALUE;
				i++;
			} else if (c == '>') {
				/* "name=>": an empty value */
				h->keep_value = keep_value(h);
				attr_end(h);
				tag_end(h, out);
				i++;
			} else {
				h->quote = 0;
				h->keep_value = keep_value(h);
				h->state = H_VALUE;
			}
			break;
		case H_VALUE:
			if ((h->quote != 0 && c == h->quote) || (h->quote == 0 && is_space(uc))) {
				attr_end(h);
				h->state = H_ATTRS;
			} else if (h->quote == 0 && c == '>') {
				attr_end(h);
				tag_end(h, out);
			} else if (h->keep_value && h->value_len < sizeof(h->value)) {
				h->value[h->value_len++] = c;
			}
			i++;
			break;
		case H_BANG:
			if (c == '-' && h->dashes < 2) {
				if (++h->dashes == 2) {
					h->dashes = 0;
					h->state = H_COMMENT;
				}
				i++;
			} else {
				h->state = H_BOGUS;
			}
			break;
		case H_COMMENT:
			if (h->comment_gt && h->held.len < HTML_HELD_MAX)
				strbuf_putc(&h->held, c);
			if (c == '-') {
				h->dashes++;
			} else if (c == '>' && h->dashes >= 2) {
				/* "--" and blanks before the '>' */
				h->state = H_TEXT;
				h->in_text = 0;
				h->comment_gt = 0;
				strbuf_reset(&h->held);
			} else if (!(h->dashes >= 2 && is_space(uc))) {
				h->dashes = 0;
				if (c == '>')
					h->comment_gt = 1;
			}
			i++;
			break;
		case H_BOGUS:
			if (c == '>') {
				h->state = H_TEXT;
				h->in_text = 0;
			}
			i++;
			break;
		case H_ENTITY:
			if (c == ';' || !(is_alpha(uc) || (c >= '0' && c <= '9') || c == '#') ||
			    h->entity_len >= sizeof(h->entity)) {
				struct strbuf e = { NULL, 0, 0 };

				if (entity_decode(h->entity, h->entity_len, &e)) {
					if (e.len == 1 && e.data[0] == ' ')
						put_space(h, out);
					else
						put_text(h, e.data, e.len, out);
					if (c == ';')
						i++;
				} else {
					put_text(h, "&", 1, out);
					put_text(h, h->entity, h->entity_len, out);
				}
				strbuf_free(&e);
				h->state = H_TEXT;
				break;
			}
			h->entity[h->entity_len++] = c;
			i++;
			break;
		}
	}
}

void
html_text_finish(struct html_text *h, struct strbuf *out)
{
	/* An unended comment ends at its first '>': what followed is read again. */
	while (h->state == H_COMMENT && h->comment_gt) {
		struct strbuf again = h->held;

		memset(&h->held, 0, sizeof(h->held));
		h->state = H_TEXT;
		h->in_text = 0;
		h->dashes = 0;
		h->comment_gt = 0;
		html_text_feed(h, again.data != NULL ? again.data : "", again.len, out);
		strbuf_free(&again);
	}
	if (h->state == H_ENTITY) {
		put_text(h, "&", 1, out);
		put_text(h, h->entity, h->entity_len, out);
	}
	/* the last text element's trailing space: no white space element after it */
	if (h->space)
		strbuf_putc(out, ' ');
	h->space = 0;
	h->state = H_TEXT;
}

void
html_text_free(struct html_text *h)
{
	strbuf_free(&h->held);
	strbuf_free(&h->style_attrs);
	html_styles_free(&h->styles);
}
