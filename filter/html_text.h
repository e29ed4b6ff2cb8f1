/* SPDX-License-Identifier: MIT */
/*
 * html_text - render HTML to plain text for the body rules, as a stream.
 *
 * Body rules match what a reader sees, not the markup a spammer hides it
 * in: tags are dropped, common entities decoded, script, style and
 * comments skipped, the elements SpamAssassin's HTML.pm renders as white
 * space become a line end (br, div), a paragraph (p, hr, blockquote, pre,
 * title ...) or a space (td, li, h1 ...), and white space is collapsed.
 * It is a state machine over the UTF-8 text of a part, fed in chunks cut
 * anywhere, with a few fixed buffers: no tree, bounded memory whatever
 * the size or nesting of the markup.  A comment "<!-- ... >"
 * that "-->" never ends is read as HTML::Parser (SpamAssassin) reads it
 * at the end of the part: it ended at its first '>', and the rest is
 * rendered then (kept meanwhile, at most HTML_HELD_MAX bytes).  Invisible
 * text (HTML.pm text_style: the colour of the background, size 1, display:
 * none ...) is rendered, with the spaces around it HTML.pm keeps.  The URLs
 * of href, src, action and background attributes are handed to a
 * callback as they end.
 */
#ifndef FACTEUR_FILTER_HTML_TEXT_H
#define FACTEUR_FILTER_HTML_TEXT_H

#include <stddef.h>

#include "filter/html_style.h"
#include "filter/strbuf.h"

#define HTML_ATTR_VALUE_MAX 2048
#define HTML_HELD_MAX (1024 * 1024)

typedef void html_url_fn(void *context, const char *url, size_t len);

struct html_text {
	int state;
	char tag[16];		/* lower case, \0-ended; "" if too long to be one we know */
	size_t tag_len;
	int end_tag;
	char attr[16];
	size_t attr_len;
	char value[HTML_ATTR_VALUE_MAX];
	size_t value_len;
	char quote;
	char entity[16];
	size_t entity_len;
	int skip;		/* inside script (1) or style (2) */
	size_t skip_match;	/* bytes of "</script" or "</style" matched */
	int space;		/* white space seen, not yet written */
	unsigned int newlines;	/* line breaks just written */
	int ws_elem;		/* the last element was a white space element */
	int in_text;		/* in a text event (text between markup) */
	int lead;		/* its leading white space is dropped */
	unsigned int dashes;	/* in a comment: '-' just seen */
	int comment_gt;		/* in a comment: a '>' seen, what follows is held */
	struct strbuf held;
	/* HTML.pm text_style (filter/html_style.h): invisible text keeps its spaces */
	struct html_styles styles;
	int style_tag;		/* the tag is one text_style reads */
	int keep_value;		/* KEEP_* of the attribute being read */
	struct strbuf style_attrs;	/* its attributes text_style reads: name \0 value \0 */
	int invisible;		/* -1 unknown, else what text drawn now would be */
	int lead_space;		/* a leading space dropped, kept if the text is invisible */
	int elem_invisible;	/* the text element has text, invisible */
	html_url_fn *url;
	void *context;
};

/* Start a part; h is zeroed the first time, or was used before (its buffer is kept). */
void html_text_init(struct html_text *h, html_url_fn *url, void *context);
void html_text_free(struct html_text *h);
/* Render len bytes of UTF-8 HTML, appending text to out. */
void html_text_feed(struct html_text *h, const char *html, size_t len, struct strbuf *out);
/* End of the part: render what an unended comment held, an unfinished entity. */
void html_text_finish(struct html_text *h, struct strbuf *out);

#endif
