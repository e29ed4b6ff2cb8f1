/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_reply - libFuzzer target for the SMTP client's reply parser:
 * what a next hop sends, parsed as a stream of pipelined replies and
 * line by line, then shown in the one-line form and read as EHLO.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "mta/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
use(const struct smtp_reply *r)
{
	char buf[SMTP_REPLY_TEXT_MAX + 8];
	unsigned long long max;

	if (r->len >= sizeof(r->text) || r->text[r->len] != '\0')
		abort();
	(void)smtp_reply_str(r, buf, sizeof(buf));
	(void)smtp_reply_str(r, buf, 5);
	(void)smtp_reply_ehlo(r, &max);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply *r = xmalloc(sizeof(*r));
	const char *error;
	/* Exactly size bytes, so ASan sees any read past the end. */
	char *buf = xmalloc(size > 0 ? size : 1);
	size_t pos = 0;

	memcpy(buf, data, size);
	/* The stream API, reply after reply. */
	while (pos < size) {
		size_t consumed = 0;
		int rc = smtp_reply_parse(buf + pos, size - pos, r, &consumed, &error);
		if (rc <= 0)
			break;
		if (consumed == 0 || consumed > size - pos)
			abort();
		use(r);
		pos += consumed;
	}
	/* The line API, on the same bytes split at LF. */
	smtp_reply_init(r);
	pos = 0;
	while (pos < size) {
		const char *nl = memchr(buf + pos, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - (buf + pos)) : size - pos;
		int rc = smtp_reply_add_line(r, buf + pos, len, &error);
		if (rc < 0)
			smtp_reply_init(r);
		else if (rc == 1)
			use(r);
		pos += len + 1;
	}
	free(buf);
	free(r);
	return 0;
}
