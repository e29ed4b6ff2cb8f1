/* SPDX-License-Identifier: MIT */
/*
 * config - facteur.conf, one INI file, parsed with inih.
 *
 * Top-level keys are the parameters of params.h.  Two sections are maps:
 * [transport] (domain = next hop) and [tls_policy] (domain = none|may|
 * encrypt|verify).  A domain key ".example.org" matches subdomains.
 */
#ifndef FACTEUR_CONFIG_H
#define FACTEUR_CONFIG_H

#include <stdio.h>

#include "params.h"

/*
 * Parse path (NULL: defaults only).  On success the parameters and maps are
 * replaced and 0 is returned; on error nothing changes, -1 is returned and
 * *error_r says "file:line: what".  The error string is static.
 */
int config_load(const char *path, const char **error_r);
/* The file last loaded, or NULL. */
const char *config_path(void);
/* Value for domain in map section ("transport", "tls_policy"), or NULL. */
const char *config_map_lookup(const char *section, const char *domain);
/* Print every parameter as "name = value"; only changed ones if nondefault. */
void config_dump(FILE *out, int nondefault);

/* Split a LIST value: calls fn for each item; stops early if fn returns non-zero. */
int config_list_foreach(const char *list, int (*fn)(const char *item, void *ctx), void *ctx);
/*
 * 1 if domain is in the LIST (exact, or ".parent" entries matching
 * subdomains); a trailing dot on domain is ignored.
 */
int config_list_has_domain(const char *list, const char *domain);

/* Parse a TIME/SIZE value; -1 on a bad value. */
int config_parse_time(const char *s, long *value_r);
int config_parse_size(const char *s, long *value_r);
/*
 * Parse a rate limit "COUNT/PERIOD" (period a TIME, e.g. 100/1h); an empty
 * string is no limit (count and period 0).  -1 on a bad value.
 */
int config_parse_rate(const char *s, long *count_r, long *period_r);

#endif
