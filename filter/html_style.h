/* SPDX-License-Identifier: MIT */
/*
 * html_style - SpamAssassin's HTML.pm text_style: how the text of an HTML
 * part is drawn at each point, and whether it is invisible.
 *
 * A stack of styles (foreground and background colour, font size,
 * display: none, visibility: hidden), pushed by the start tags of the
 * elements text_style reads (body, font, span, div, p, a, table, tr,
 * td/th, big, small, basefont, marquee) with the attributes it reads on
 * each (color, text, size, style ...), popped by their end tags as
 * close_tag and close_table_tag pop them.  Colours are read as
 * name_to_rgb reads them.  Text drawn in the colour of its background
 * (or near it), in an invalid colour, at size 1 or less, or hidden is
 * invisible (html_font_invisible).  filter/eval.c's HTML evals and the
 * body rules' streaming renderer (filter/html_text.c) share it, so that
 * both see the same invisible text.  Bounded: past HTML_STYLES_MAX open
 * elements a new one is not pushed.
 */
#ifndef FACTEUR_FILTER_HTML_STYLE_H
#define FACTEUR_FILTER_HTML_STYLE_H

#include <stddef.h>

#define HTML_STYLES_MAX 65536

/* One entry of HTML.pm's text_style. */
struct html_style {
	char tag[16];
	/* name_to_rgb(): "#rrggbb" (or fewer digits), "invalid"; or "transparent" */
	char fg[12], bg[12];
	double size;
	int display_none, visibility_hidden;	/* style display: none, visibility: hidden */
};

struct html_styles {
	struct html_style *v;	/* the stack, v[0] the defaults; NULL until first used */
	size_t n, size;
	double basefont;
	/* what html_end reports: font sizes set, text drawn invisible */
	int max_size_set, min_size_set;
	double max_size, min_size;
	int font_low_contrast, font_invalid_color;
};

/* An attribute of a tag, its value decoded (entities). */
struct html_style_attr {
	const char *name;
	const char *value;
};

/* Back to the start of a part (black on white, basefont 3); memory kept. */
void html_styles_reset(struct html_styles *s);
void html_styles_free(struct html_styles *s);
/* Whether text_style reads the element tag (lower case). */
int html_style_element(const char *tag);
/* Whether text_style reads the attribute name (lower case) on element tag. */
int html_style_attr_ok(const char *tag, const char *name);
/*
 * An element text_style reads, started (start 1, with its attributes,
 * the first of each name) or ended (start 0).
 */
void html_styles_tag(struct html_styles *s, const char *tag, int start,
    const struct html_style_attr *attrs, int nattrs);
/* Something but white space (HTML.pm: [ \t\n\r\f\x0b] and NBSP) in len bytes of text. */
int html_style_has_text(const char *text, size_t len);
/*
 * HTML.pm html_font_invisible: whether text with something but white
 * space in it, drawn now, is invisible; notes font_low_contrast and
 * font_invalid_color in s when it is so for those reasons.
 */
int html_styles_invisible(struct html_styles *s);

#endif
