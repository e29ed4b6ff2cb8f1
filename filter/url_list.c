/* SPDX-License-Identifier: MIT */
/*
 * url_list - URL finder and distinct bounded list.  See url_list.h.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "lib/strset.h"
#include "filter/url_list.h"

void
url_list_init(struct url_list *list, unsigned int max)
{
	memset(list, 0, sizeof(*list));
	list->max = max;
}

void
url_list_free(struct url_list *list)
{
	strset_free(&list->set);
	memset(list, 0, sizeof(*list));
}

static const char *const url_prefixes[] = { "http://", "https://", "ftp://", "mailto:", "www." };

static int
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

size_t
url_find(const char *s, size_t len, size_t *start_r)
{
	size_t i, p, end;

	for (i = 0; i < len; i++) {
		char c = s[i] | 0x20;

		if (c != 'h' && c != 'f' && c != 'm' && c != 'w')
			continue;
		for (p = 0; p < sizeof(url_prefixes) / sizeof(url_prefixes[0]); p++) {
			size_t plen = strlen(url_prefixes[p]);

			if (len - i <= plen || str_ncasecmp(s + i, url_prefixes[p], plen) != 0)
				continue;
			/* "www." inside a word ("awww.") is not a host. */
			if (p == 4 && i > 0 && is_alnum((unsigned char)s[i - 1]))
				continue;
			if (!is_alnum((unsigned char)s[i + plen]) && (unsigned char)s[i + plen] < 0x80)
				continue;
			end = len;
			while (end > i + plen && strchr(".,;:!?)]}'\"*", s[end - 1]) != NULL)
				end--;
			*start_r = i;
			return end - i;
		}
	}
	return 0;
}

int
url_list_add(struct url_list *list, const char *url, size_t len)
{
	if (len == 0 || len > URL_LEN_MAX || strset_find(&list->set, url, len) >= 0)
		return 0;
	if (list->set.n >= list->max) {
		list->dropped++;
		return -1;
	}
	return strset_add(&list->set, url, len, NULL);
}

void
url_scan_init(struct url_scan *scan)
{
	scan->len = 0;
	scan->overflow = 0;
}

static void
token_end(struct url_scan *scan, url_found_fn *found, void *context)
{
	size_t start, len;

	if (!scan->overflow && scan->len > 0) {
		len = url_find(scan->token, scan->len, &start);
		if (len > 0)
			found(context, scan->token + start, len);
	}
	scan->len = 0;
	scan->overflow = 0;
}

static int
is_delimiter(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\'' ||
	    c == '`' || c == '{' || c == '}' || c == '|' || c == '\\' || c == '^';
}

void
url_scan_feed(struct url_scan *scan, const char *text, size_t len, url_found_fn *found,
    void *context)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (is_delimiter(c)) {
			if (scan->len > 0 || scan->overflow)
				token_end(scan, found, context);
			continue;
		}
		if (scan->len < sizeof(scan->token))
			scan->token[scan->len++] = (char)c;
		else
			scan->overflow = 1;
	}
}

void
url_scan_finish(struct url_scan *scan, url_found_fn *found, void *context)
{
	token_end(scan, found, context);
}
