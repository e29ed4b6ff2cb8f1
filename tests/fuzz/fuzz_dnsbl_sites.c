/* SPDX-License-Identifier: MIT */
/*
 * fuzz_dnsbl_sites - libFuzzer target for the DNSBL site parser: the
 * input's first line is a site list (checked with and without weights),
 * each of its items is parsed on its own, and the following lines are
 * matched as A record answers against every parsed site.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "policy/dnsbl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsbl_site sites[8];
	size_t nsites = 0;
	const char *error;
	char *buf, *list, *rest, *item, *save = NULL, *copy;

	buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	list = buf;
	rest = strchr(buf, '\n');
	if (rest != NULL)
		*rest++ = '\0';
	if (dnsbl_sites_check(list, 1, &error) < 0 && (error == NULL || error[0] == '\0'))
		abort();
	if (dnsbl_sites_check(list, 0, &error) < 0 && (error == NULL || error[0] == '\0'))
		abort();
	copy = xstrdup(list);
	for (item = strtok_r(copy, ", \t", &save); item != NULL && nsites < 8;
	    item = strtok_r(NULL, ", \t", &save)) {
		if (dnsbl_site_parse(item, 1, &sites[nsites], &error) == 0) {
			if (strlen(sites[nsites].zone) > DNSBL_ZONE_MAX)
				abort();
			nsites++;
		} else if (error == NULL || error[0] == '\0') {
			abort();
		}
	}
	while (rest != NULL) {
		char *line = rest;

		rest = strchr(rest, '\n');
		if (rest != NULL)
			*rest++ = '\0';
		for (size_t i = 0; i < nsites; i++)
			(void)dnsbl_site_match(&sites[i], line);
	}
	free(copy);
	free(buf);
	return 0;
}
