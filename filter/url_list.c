/* SPDX-License-Identifier: MIT */
/*
 * url_list - URL finder and distinct bounded list.  See url_list.h.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "filter/url_list.h"

void
url_list_init(struct url_list *list, unsigned int max)
{
	memset(list, 0, sizeof(*list));
	list->max = max;
	list->nslots = 16;
	while (list->nslots < max * 2)
		list->nslots *= 2;
	list->slots = xcalloc(list->nslots, sizeof(*list->slots));
}

void
url_list_free(struct url_list *list)
{
	unsigned int i;

	for (i = 0; i < list->n; i++)
		free(list->v[i]);
	free(list->v);
	free(list->slots);
	memset(list, 0, sizeof(*list));
}

static uint32_t
url_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
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
	unsigned int slot;

	if (len == 0 || len > URL_LEN_MAX)
		return 0;
	slot = url_hash(url, len) & (list->nslots - 1);
	while (list->slots[slot] != 0) {
		const char *have = list->v[list->slots[slot] - 1];

		if (strlen(have) == len && memcmp(have, url, len) == 0)
			return 0;
		slot = (slot + 1) & (list->nslots - 1);
	}
	if (list->n >= list->max) {
		list->dropped++;
		return -1;
	}
	list->v = xrealloc(list->v, (list->n + 1) * sizeof(*list->v));
	list->v[list->n] = xstrndup(url, len);
	list->slots[slot] = ++list->n;
	return 1;
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
