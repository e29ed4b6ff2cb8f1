/* SPDX-License-Identifier: MIT */
/*
 * fuzz_received - libFuzzer target for the Received parser and trust
 * boundary (filter/received.c): the input is a header block, one field a
 * line ("Name: value", a line without a colon is a Received value), parsed
 * into a chain with and without "originating"; every relay string and the
 * four X-Spam-Relays strings are checked to be whole and consistent.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/received.h"
#include "lib/log.h"
#include "lib/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned char sink;

static void
touch(const char *s)
{
	while (*s != '\0')
		sink ^= (unsigned char)*s++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct received_field f[300];
	char *names[300];
	size_t n = 0;
	const char *p = (const char *)data, *end = p + size;

	while (p < end && n < 300) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(e - p));
		if (colon != NULL && colon - p < 40) {
			names[n] = xstrndup(p, (size_t)(colon - p));
			f[n].value = colon + 1;
		} else {
			names[n] = xstrdup("Received");
			f[n].value = p;
		}
		f[n].name = names[n];
		f[n].value_len = (size_t)(e - f[n].value);
		n++;
		p = e + 1;
	}
	for (int originating = 0; originating < 2; originating++) {
		struct received_chain ch;
		received_parse(NULL, f, n, originating, &ch);
		if (ch.num_trusted + ch.num_untrusted > ch.nrelays ||
		    ch.num_internal + ch.num_external > ch.nrelays || ch.nrelays > RECEIVED_MAX + 8)
			abort();
		for (size_t i = 0; i < ch.nrelays; i++) {
			const struct received_relay *r = &ch.relays[i];
			if (strncmp(r->as_string, "[ ip=", 5) != 0)
				abort();
			touch(r->as_string);
		}
		touch(ch.trusted_str);
		touch(ch.untrusted_str);
		touch(ch.internal_str);
		touch(ch.external_str);
		received_chain_clear(&ch);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return 0;
}
