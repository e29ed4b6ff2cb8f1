/* SPDX-License-Identifier: MIT */
/*
 * url_list - find URLs in text and keep the distinct ones, up to a bound.
 *
 * URI rules and blocklist lookups want every link a message carries, in
 * plain text as well as in HTML attributes.  The scanner is fed text in
 * chunks cut anywhere and finds http://, https://, ftp://, mailto: and
 * bare www. links in it; the list keeps each distinct URL once, in the
 * order found, and counts what it had to drop past its bound.
 */
#ifndef FACTEUR_FILTER_URL_LIST_H
#define FACTEUR_FILTER_URL_LIST_H

#include <stddef.h>

#include "lib/strset.h"

#define URL_LEN_MAX 2048

struct url_list {
	struct strset set;	/* the URLs, in the order found (set.v, set.n) */
	unsigned int max;
	unsigned int dropped;	/* distinct URLs past max */
};

struct url_scan {
	char token[URL_LEN_MAX];
	size_t len;
	int overflow;		/* token longer than URL_LEN_MAX: not a URL we keep */
};

void url_list_init(struct url_list *list, unsigned int max);
void url_list_free(struct url_list *list);
/*
 * Add url if it is one (scheme or www. prefix, something after it).
 * Returns 1 if added, 0 if already there or not a URL, -1 if the list is
 * full.
 */
int url_list_add(struct url_list *list, const char *url, size_t len);

typedef void url_found_fn(void *context, const char *url, size_t len);

void url_scan_init(struct url_scan *scan);
/* Scan len bytes of text; found() gets each URL as its end is seen. */
void url_scan_feed(struct url_scan *scan, const char *text, size_t len, url_found_fn *found,
    void *context);
/* End of the text: a URL running to its end is found now. */
void url_scan_finish(struct url_scan *scan, url_found_fn *found, void *context);
/*
 * Where a URL starts in s (at a scheme or a bare "www."), with trailing
 * punctuation cut off: returns its length and sets *start_r, or 0.
 */
size_t url_find(const char *s, size_t len, size_t *start_r);

#endif
