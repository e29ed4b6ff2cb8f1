/* SPDX-License-Identifier: MIT */
/*
 * html_style - HTML.pm's text_style.  See html_style.h.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "filter/eval_re.h"
#include "filter/html_style.h"
#include "filter/strbuf.h"
#include "lib/mem.h"

/* The elements text_style reads (HTML.pm elements_text_style). */
static const char *const text_style_tags[] = {
	"body", "font", "table", "tr", "th", "td", "big", "small", "basefont", "marquee",
	"span", "p", "div", "a",
};

int
html_style_element(const char *tag)
{
	for (size_t i = 0; i < sizeof(text_style_tags) / sizeof(text_style_tags[0]); i++)
		if (strcmp(text_style_tags[i], tag) == 0)
			return 1;
	return 0;
}

/* Perl's \s */
static int
perl_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
}

/* Something but white space (HTML.pm: [ \t\n\r\f\x0b] and NBSP) in text. */
int
html_style_has_text(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] == 0xa0) {
			i++;
			continue;
		}
		if (!perl_space(c))
			return 1;
	}
	return 0;
}

static char
lc_ascii(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/: its three components. */
static int
rgb_hex(const char *c, unsigned int *r, unsigned int *g, unsigned int *b)
{
	if (*c == '#')
		c++;
	if (strlen(c) != 6 || strspn(c, "0123456789abcdef") != 6)
		return 0;
	return sscanf(c, "%2x%2x%2x", r, g, b) == 3;
}

typedef struct {
	const char *name;
	unsigned long rgb;
} html_color;

static const html_color html_colors[] = {
	{ "aliceblue", 0xf0f8ff }, { "antiquewhite", 0xfaebd7 }, { "aqua", 0x00ffff },
	{ "aquamarine", 0x7fffd4 }, { "azure", 0xf0ffff }, { "beige", 0xf5f5dc },
	{ "bisque", 0xffe4c4 }, { "black", 0x000000 }, { "blanchedalmond", 0xffebcd },
	{ "blue", 0x0000ff }, { "blueviolet", 0x8a2be2 }, { "brown", 0xa52a2a },
	{ "burlywood", 0xdeb887 }, { "cadetblue", 0x5f9ea0 }, { "chartreuse", 0x7fff00 },
	{ "chocolate", 0xd2691e }, { "coral", 0xff7f50 }, { "cornflowerblue", 0x6495ed },
	{ "cornsilk", 0xfff8dc }, { "crimson", 0xdc143c }, { "cyan", 0x00ffff },
	{ "darkblue", 0x00008b }, { "darkcyan", 0x008b8b }, { "darkgoldenrod", 0xb8860b },
	{ "darkgray", 0xa9a9a9 }, { "darkgreen", 0x006400 }, { "darkgrey", 0xa9a9a9 },
	{ "darkkhaki", 0xbdb76b }, { "darkmagenta", 0x8b008b }, { "darkolivegreen", 0x556b2f },
	{ "darkorange", 0xff8c00 }, { "darkorchid", 0x9932cc }, { "darkred", 0x8b0000 },
	{ "darksalmon", 0xe9967a }, { "darkseagreen", 0x8fbc8f }, { "darkslateblue", 0x483d8b },
	{ "darkslategray", 0x2f4f4f }, { "darkslategrey", 0x2f4f4f },
	{ "darkturquoise", 0x00ced1 }, { "darkviolet", 0x9400d3 }, { "deeppink", 0xff1493 },
	{ "deepskyblue", 0x00bfff }, { "dimgray", 0x696969 }, { "dimgrey", 0x696969 },
	{ "dodgerblue", 0x1e90ff }, { "firebrick", 0xb22222 }, { "floralwhite", 0xfffaf0 },
	{ "forestgreen", 0x228b22 }, { "fuchsia", 0xff00ff }, { "gainsboro", 0xdcdcdc },
	{ "ghostwhite", 0xf8f8ff }, { "gold", 0xffd700 }, { "goldenrod", 0xdaa520 },
	{ "gray", 0x808080 }, { "green", 0x008000 }, { "greenyellow", 0xadff2f },
	{ "grey", 0x808080 }, { "honeydew", 0xf0fff0 }, { "hotpink", 0xff69b4 },
	{ "indianred", 0xcd5c5c }, { "indigo", 0x4b0082 }, { "ivory", 0xfffff0 },
	{ "khaki", 0xf0e68c }, { "lavender", 0xe6e6fa }, { "lavenderblush", 0xfff0f5 },
	{ "lawngreen", 0x7cfc00 }, { "lemonchiffon", 0xfffacd }, { "lightblue", 0xadd8e6 },
	{ "lightcoral", 0xf08080 }, { "lightcyan", 0xe0ffff },
	{ "lightgoldenrodyellow", 0xfafad2 }, { "lightgray", 0xd3d3d3 },
	{ "lightgreen", 0x90ee90 }, { "lightgrey", 0xd3d3d3 }, { "lightpink", 0xffb6c1 },
	{ "lightsalmon", 0xffa07a }, { "lightseagreen", 0x20b2aa }, { "lightskyblue", 0x87cefa },
	{ "lightslategray", 0x778899 }, { "lightslategrey", 0x778899 },
	{ "lightsteelblue", 0xb0c4de }, { "lightyellow", 0xffffe0 }, { "lime", 0x00ff00 },
	{ "limegreen", 0x32cd32 }, { "linen", 0xfaf0e6 }, { "magenta", 0xff00ff },
	{ "maroon", 0x800000 }, { "mediumaquamarine", 0x66cdaa }, { "mediumblue", 0x0000cd },
	{ "mediumorchid", 0xba55d3 }, { "mediumpurple", 0x9370db }, { "mediumseagreen", 0x3cb371 },
	{ "mediumslateblue", 0x7b68ee }, { "mediumspringgreen", 0x00fa9a },
	{ "mediumturquoise", 0x48d1cc }, { "mediumvioletred", 0xc71585 },
	{ "midnightblue", 0x191970 }, { "mintcream", 0xf5fffa }, { "mistyrose", 0xffe4e1 },
	{ "moccasin", 0xffe4b5 }, { "navajowhite", 0xffdead }, { "navy", 0x000080 },
	{ "oldlace", 0xfdf5e6 }, { "olive", 0x808000 }, { "olivedrab", 0x6b8e23 },
	{ "orange", 0xffa500 }, { "orangered", 0xff4500 }, { "orchid", 0xda70d6 },
	{ "palegoldenrod", 0xeee8aa }, { "palegreen", 0x98fb98 }, { "paleturquoise", 0xafeeee },
	{ "palevioletred", 0xdb7093 }, { "papayawhip", 0xffefd5 }, { "peachpuff", 0xffdab9 },
	{ "peru", 0xcd853f }, { "pink", 0xffc0cb }, { "plum", 0xdda0dd },
	{ "powderblue", 0xb0e0e6 }, { "purple", 0x800080 }, { "red", 0xff0000 },
	{ "rosybrown", 0xbc8f8f }, { "royalblue", 0x4169e1 }, { "saddlebrown", 0x8b4513 },
	{ "salmon", 0xfa8072 }, { "sandybrown", 0xf4a460 }, { "seagreen", 0x2e8b57 },
	{ "seashell", 0xfff5ee }, { "sienna", 0xa0522d }, { "silver", 0xc0c0c0 },
	{ "skyblue", 0x87ceeb }, { "slateblue", 0x6a5acd }, { "slategray", 0x708090 },
	{ "slategrey", 0x708090 }, { "snow", 0xfffafa }, { "springgreen", 0x00ff7f },
	{ "steelblue", 0x4682b4 }, { "tan", 0xd2b48c }, { "teal", 0x008080 },
	{ "thistle", 0xd8bfd8 }, { "tomato", 0xff6347 }, { "turquoise", 0x40e0d0 },
	{ "violet", 0xee82ee }, { "wheat", 0xf5deb3 }, { "white", 0xffffff },
	{ "whitesmoke", 0xf5f5f5 }, { "yellow", 0xffff00 }, { "yellowgreen", 0x9acd32 },
};

static int
color_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* Perl's dec2hex: at least two hex digits. */
static void
dec2hex(struct strbuf *b, double d)
{
	char buf[32];

	if (d < 0)
		d = 0;
	if (d > 1e18)
		d = 1e18;
	snprintf(buf, sizeof(buf), "%s%llx", d < 16 ? "0" : "", (unsigned long long)d);
	strbuf_append(b, buf, strlen(buf));
}

/*
 * HTML.pm name_to_rgb: a colour name, #hex (flex: 3 or 6 digits, others
 * cut or padded), rgb(r, g, b) or rgb(r%, g%, b%), as "#rrggbb" in out;
 * anything else "invalid" (hex without '#' too).
 */
static void
name_to_rgb(const char *value, char out[12])
{
	struct strbuf c = { NULL, 0, 0 }, hex = { NULL, 0, 0 };
	size_t ov[10], start = 0, end;
	void *found;

	end = strlen(value);
	while (start < end && perl_space((unsigned char)value[start]))
		start++;
	while (end > start && perl_space((unsigned char)value[end - 1]))
		end--;
	for (size_t i = start; i < end; i++)
		strbuf_putc(&c, lc_ascii(value[i]));
	strbuf_putc(&c, '\0');
	c.len--;
	found = bsearch(c.data, html_colors, sizeof(html_colors) / sizeof(html_colors[0]),
	    sizeof(html_colors[0]), color_cmp);
	if (found != NULL) {
		snprintf(out, 12, "#%06lx", ((const html_color *)found)->rgb);
		goto done;
	}
	strcpy(out, "invalid");
	if (!eval_re_find("^[#a-f0-9]*$|rgb\\([\\d%, ]*\\)", PCRE2_CASELESS, c.data, NULL))
		goto done;
	/* rgb(r%, g%, b%), then rgb(r, g, b), as "#" and two hex digits (or more) each */
	for (int percent = 1; percent >= 0; percent--) {
		struct strbuf n = { NULL, 0, 0 };

		if (!eval_re_find(percent ? "rgb\\((\\d+)%,\\s*(\\d+)%,\\s*(\\d+)%\\s*\\)" :
		    "rgb\\((\\d+),\\s*(\\d+),\\s*(\\d+)\\s*\\)", PCRE2_CASELESS, c.data, ov))
			continue;
		strbuf_putc(&n, '#');
		for (int k = 1; k <= 3; k++) {
			double d = strtod(c.data + ov[2 * k], NULL);

			dec2hex(&n, percent ? floor(d / 100 * 255) : d);
		}
		strbuf_putc(&n, '\0');
		strbuf_free(&c);
		c = n;
		c.len--;
	}
	if (c.len == 0 || c.data[0] != '#')
		goto done;
	for (size_t i = 0; i < c.len; i++)
		if (isxdigit((unsigned char)c.data[i]))
			strbuf_putc(&hex, lc_ascii(c.data[i]));
	if (hex.len > 6)
		hex.len = 6;
	if (hex.len > 3 && hex.len < 6)
		hex.len = 3;
	while (hex.len % 3 != 0)
		strbuf_putc(&hex, '0');
	if (hex.len == 3)
		snprintf(out, 12, "#%c%c%c%c%c%c", hex.data[0], hex.data[0], hex.data[1],
		    hex.data[1], hex.data[2], hex.data[2]);
	else
		snprintf(out, 12, "#%.*s", (int)hex.len, hex.len > 0 ? hex.data : "");
done:
	strbuf_free(&c);
	strbuf_free(&hex);
}

static struct html_style *
html_styles_top(struct html_styles *s)
{
	if (s->n == 0) {
		/* html_start: black on white, basefont 3 */
		if (s->v == NULL) {
			s->size = 16;
			s->v = xcalloc(s->size, sizeof(*s->v));
		}
		memset(&s->v[0], 0, sizeof(s->v[0]));
		strcpy(s->v[0].tag, "default");
		strcpy(s->v[0].fg, "#000000");
		strcpy(s->v[0].bg, "#ffffff");
		s->basefont = 3;
		s->v[0].size = s->basefont;
		s->n = 1;
	}
	return &s->v[s->n - 1];
}

void
html_styles_reset(struct html_styles *s)
{
	struct html_style *v = s->v;
	size_t size = s->size;

	memset(s, 0, sizeof(*s));
	s->v = v;
	s->size = size;
}

void
html_styles_free(struct html_styles *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/*
 * Past HTML_STYLES_MAX open elements a new one is not pushed (its end
 * tag then closes an outer one of the same name, if any).
 */

static void
html_style_push(struct html_styles *s, const struct html_style *st)
{
	if (s->n >= HTML_STYLES_MAX)
		return;
	if (s->n == s->size) {
		s->size *= 2;
		s->v = xrealloc(s->v, s->size * sizeof(*s->v));
	}
	s->v[s->n++] = *st;
}

/* Is an element named tag on the stack? */
static int
html_style_open(const struct html_styles *s, const char *tag)
{
	for (size_t i = s->n; i-- > 0;)
		if (strcmp(s->v[i].tag, tag) == 0)
			return 1;
	return 0;
}

/* close_tag: everything up to and including the last tag, if it is open. */
static void
html_style_close(struct html_styles *s, const char *tag)
{
	if (!html_style_open(s, tag))
		return;
	while (s->n > 0) {
		int last = strcmp(s->v[--s->n].tag, tag) == 0;

		if (last)
			break;
	}
}

/* close_table_tag: a new td closes open fonts and tds, a new tr fonts, tds and trs. */
static void
html_style_close_table(struct html_styles *s, const char *tag)
{
	if (!html_style_open(s, tag))
		return;
	while (s->n > 0) {
		const char *top = s->v[s->n - 1].tag;

		if (strcmp(top, "font") == 0 || strcmp(top, "td") == 0 ||
		    (strcmp(tag, "tr") == 0 && strcmp(top, "tr") == 0))
			s->n--;
		else
			break;
	}
}

/* parse_css_background: the last layer's values, the first that is a colour. */
static int
css_background_color(const char *value, char out[12])
{
	struct strbuf tok = { NULL, 0, 0 }, layer = { NULL, 0, 0 };	/* tokens, each \0-ended */
	char stack[64];
	int state = 0, depth = 0, found = 0;

	for (const char *p = value; *p != '\0'; p++) {
		char ch = lc_ascii(*p);
		int push = -1;

		if (state == 0 && ch == ' ') {
			if (tok.len > 0) {
				strbuf_append(&layer, tok.data, tok.len);
				strbuf_putc(&layer, '\0');
			}
			strbuf_reset(&tok);
			continue;
		}
		if (state == 0 && ch == ',') {
			if (tok.len > 0) {
				strbuf_append(&layer, tok.data, tok.len);
				strbuf_putc(&layer, '\0');
			}
			strbuf_reset(&tok);
			/* a layer ends: only the last one is looked at */
			strbuf_reset(&layer);
			continue;
		}
		strbuf_putc(&tok, ch);
		if (state == 0 || state == 1) {
			if (ch == '(' && state == 0)
				push = 1;
			else if (ch == '"')
				push = 2;
			else if (ch == '\'')
				push = 3;
			else if (ch == ')' && state == 1) {
				strbuf_append(&layer, tok.data, tok.len);
				strbuf_putc(&layer, '\0');
				strbuf_reset(&tok);
				state = depth > 0 ? stack[--depth] : 0;
			}
		} else if ((state == 2 && ch == '"') || (state == 3 && ch == '\'')) {
			state = depth > 0 ? stack[--depth] : 0;
		}
		if (push >= 0) {
			if (depth < (int)sizeof(stack))
				stack[depth++] = (char)state;
			state = push;
		}
	}
	if (tok.len > 0) {
		strbuf_append(&layer, tok.data, tok.len);
		strbuf_putc(&layer, '\0');
	}
	for (size_t off = 0; off < layer.len && !found;) {
		const char *v = layer.data + off;

		name_to_rgb(v, out);
		found = strcmp(out, "invalid") != 0;
		off += strlen(v) + 1;
	}
	strbuf_free(&tok);
	strbuf_free(&layer);
	return found;
}

/* text_style's style attribute: colours, display, visibility. */
static void
html_style_css(struct html_styles *s, struct html_style *st, const char *css)
{
	const struct html_style *parent = html_styles_top(s);
	char *copy = xstrdup(css), *part, *next;
	size_t ov[10];

	for (part = copy; part != NULL; part = next) {
		next = strchr(part, ';');
		if (next != NULL)
			*next++ = '\0';
		if (eval_re_find("^\\s*(background-)?color:\\s*(.+?)\\s*$", PCRE2_CASELESS, part, ov)) {
			char *fgbg = ov[2] != PCRE2_UNSET ? st->bg : st->fg;
			char *v = xstrndup(part + ov[4], ov[5] - ov[4]);
			size_t ov2[10];

			str_lower(v);
			if (eval_re_find("\\s*!\\s*important$", 0, v, ov2))
				v[ov2[0]] = '\0';
			if (strstr(v, "rgb") != NULL) {
				long rgb[3] = { 0, 0, 0 };
				int k = 0;
				char *q = v;

				/* tr/0-9,//cd, then split on ',' */
				for (char *r = v; *r != '\0'; r++)
					if (isdigit((unsigned char)*r) || *r == ',')
						*q++ = *r;
				*q = '\0';
				for (char *f = v; k < 3; k++) {
					char *comma = strchr(f, ',');
					double n = strtod(f, NULL);

					rgb[k] = n > 255 ? 255 : (long)n;
					if (comma == NULL)
						break;
					f = comma + 1;
				}
				snprintf(fgbg, 12, "#%02lx%02lx%02lx", rgb[0], rgb[1], rgb[2]);
			} else if (strcmp(v, "inherit") == 0) {
				;
			} else if (strcmp(v, "transparent") == 0) {
				strcpy(fgbg, "transparent");
			} else {
				name_to_rgb(v, fgbg);
			}
			free(v);
		} else if (eval_re_find("^\\s*background:\\s*(.+?)\\s*$", 0, part, ov)) {
			char *v = xstrndup(part + ov[2], ov[3] - ov[2]);
			char color[12];

			if (css_background_color(v, color))
				strcpy(st->bg, color);
			free(v);
		} else if (eval_re_find("^\\s*([a-z_-]+)\\s*:\\s*(\\S.*?)\\s*$", PCRE2_CASELESS, part, ov)) {
			size_t nl = ov[3] - ov[2], vl = ov[5] - ov[4];
			const char *name = part + ov[2], *v = part + ov[4];

			/* style_display, style_visibility, as written (lower case only) */
			if (nl == 7 && memcmp(name, "display", 7) == 0)
				st->display_none = vl == 4 && strncasecmp(v, "none", 4) == 0;
			else if (nl == 10 && memcmp(name, "visibility", 10) == 0)
				st->visibility_hidden = vl == 6 && strncasecmp(v, "hidden", 6) == 0;
		}
	}
	free(copy);
	if (strcmp(st->bg, "transparent") == 0)
		strcpy(st->bg, parent->bg);
	if (strcmp(st->fg, "transparent") == 0)
		strcpy(st->fg, st->bg);
}

/* HTML.pm's ok_attributes: the attributes text_style reads on each element. */
int
html_style_attr_ok(const char *tag, const char *name)
{
	static const struct {
		const char *tag, *names;
	} ok[] = {
		{ "basefont", " color face size " }, { "body", " text bgcolor link alink vlink background " },
		{ "font", " color face size " }, { "marquee", " bgcolor background " },
		{ "table", " bgcolor style " }, { "td", " bgcolor style " }, { "th", " bgcolor style " },
		{ "tr", " bgcolor style " }, { "span", " style " }, { "p", " style " },
		{ "div", " style " }, { "a", " style " },
	};
	char word[80];

	if (strlen(name) + 3 > sizeof(word))
		return 0;
	snprintf(word, sizeof(word), " %s ", name);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(ok[i].tag, tag) == 0)
			return strstr(ok[i].names, word) != NULL;
	return 0;
}

/*
 * The number capture n of a match of v is, and nothing after it: Perl's
 * $1 of /^\s*(\d+)/ on "1.5" is 1, strtod's reading of v 1.5.
 */
static double
capture_number(const char *v, const size_t *ov, int n)
{
	char digits[32];
	size_t len = ov[2 * n + 1] - ov[2 * n];

	if (len >= sizeof(digits))
		len = sizeof(digits) - 1;
	memcpy(digits, v + ov[2 * n], len);
	digits[len] = '\0';
	return strtod(digits, NULL);
}

/* HTML.pm text_style: an element that may change how text is drawn, opened (1) or closed. */
void
html_styles_tag(struct html_styles *s, const char *element, int start,
    const struct html_style_attr *attrs, int nattrs)
{
	const char *tag = strcmp(element, "th") == 0 ? "td" : element;
	struct html_style st;
	const char *v = NULL;
	size_t ov[10];

	(void)html_styles_top(s);
	if (!start) {
		/* browsers render text after </body> */
		if (strcmp(tag, "body") != 0)
			html_style_close(s, tag);
		return;
	}
	for (int i = 0; i < nattrs && strcmp(tag, "basefont") == 0; i++)
		if (strcmp(attrs[i].name, "size") == 0) {
			v = attrs[i].value;
			break;
		}
	if (strcmp(tag, "basefont") == 0 && v != NULL &&
	    eval_re_find("^\\s*(\\d+)", 0, v, ov)) {
		s->basefont = capture_number(v, ov, 1);
		return;
	}
	if (strcmp(tag, "td") == 0 || strcmp(tag, "tr") == 0)
		html_style_close_table(s, tag);
	st = *html_styles_top(s);
	snprintf(st.tag, sizeof(st.tag), "%s", tag);
	if (strcmp(tag, "big") == 0 || strcmp(tag, "small") == 0) {
		st.size += strcmp(tag, "big") == 0 ? 1 : -1;
		html_style_push(s, &st);
		return;
	}
	for (int i = 0; i < nattrs; i++) {
		const char *name = attrs[i].name;

		v = attrs[i].value;
		if (!html_style_attr_ok(tag, name))
			continue;
		if (strcmp(name, "text") == 0 || strcmp(name, "color") == 0) {
			name_to_rgb(v, st.fg);
		} else if (strcmp(name, "size") == 0) {
			size_t ov2[10];

			if (eval_re_find("^\\s*([+-]\\d+)", 0, v, ov2))
				st.size = s->basefont + capture_number(v, ov2, 1);
			else if (eval_re_find("^\\s*(\\d+)", 0, v, ov2))
				st.size = capture_number(v, ov2, 1);
		} else if (strcmp(name, "style") == 0) {
			html_style_css(s, &st, v);
		}
		/* bgcolor is read for html_uri, not for the text's colours */
		if (st.size > (s->max_size_set ? s->max_size : 0)) {
			s->max_size = st.size;
			s->max_size_set = 1;
		} else if (st.size < (s->min_size_set ? s->min_size : 0)) {
			s->min_size = st.size;
			s->min_size_set = 1;
		}
	}
	html_style_push(s, &st);
}

int
html_styles_invisible(struct html_styles *s)
{
	const struct html_style *st = html_styles_top(s);
	size_t fl = strlen(st->fg), bl = strlen(st->bg);
	unsigned int r1, g1, b1, r2, g2, b2;

	/* the last six characters the same: same colour (or both invalid) */
	if (strcmp(st->fg + (fl > 6 ? fl - 6 : 0), st->bg + (bl > 6 ? bl - 6 : 0)) == 0) {
		s->font_low_contrast = 1;
		return 1;
	}
	if (rgb_hex(st->fg, &r1, &g1, &b1) && rgb_hex(st->bg, &r2, &g2, &b2)) {
		double r = (double)r1 - r2, g = (double)g1 - g2, b = (double)b1 - b2;
		double distance = sqrt(pow(0.2126 * r, 2) + pow(0.7152 * g, 2) +
		    pow(0.0722 * b, 2));

		/* hard to read under 12 (HTML.pm) */
		if (distance < 12) {
			s->font_low_contrast = 1;
			return 1;
		}
	}
	if (strcmp(st->fg, "invalid") == 0 || strcmp(st->bg, "invalid") == 0) {
		s->font_invalid_color = 1;
		return 1;
	}
	return st->size <= 1 || st->display_none || st->visibility_hidden;
}
