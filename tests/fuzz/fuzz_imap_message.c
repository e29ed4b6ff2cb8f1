/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_message - libFuzzer target for the message structure imapd
 * serves (store/imap_message.h): a message is parsed, then its ENVELOPE,
 * BODYSTRUCTURE, text and a set of sections and BINARY parts are made,
 * and their syntax is checked where it is cheap to (balanced
 * parentheses outside strings).
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/imap_message.h"
#include "store/imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parentheses balance outside quoted strings and literals: the output parses. */
static void
check_balanced(const struct imap_out *o)
{
	int depth = 0, quoted = 0;

	for (size_t i = 0; i < o->len; i++) {
		char c = o->data[i];
		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = 0;
			continue;
		}
		if (c == '"') {
			quoted = 1;
		} else if (c == '{') {
			char *end;
			unsigned long n = strtoul(o->data + i + 1, &end, 10);
			if (*end != '}' || end[1] != '\r' || end[2] != '\n')
				abort();
			i = (size_t)(end + 2 - o->data) + n;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth < 0)
				abort();
		}
	}
	if (depth != 0 || quoted)
		abort();
}

static void
text_cb(void *ctx, const char *utf8, size_t len)
{
	*(size_t *)ctx += len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sections[] = {
		"", "HEADER", "TEXT", "1", "1.MIME", "2", "1.1", "1.2.3", "2.HEADER", "2.TEXT",
		"1.HEADER.FIELDS (Subject From)", "HEADER.FIELDS.NOT (Received)", "3.1.MIME",
	};
	char *copy = xmalloc(size + 1);
	struct imap_message *m;
	struct imap_out o = { NULL, 0, 0 };
	size_t text = 0;
	char *v;

	memcpy(copy, data, size);
	copy[size] = '\0';
	m = imap_message_parse(copy, size);
	imap_message_envelope(m, &o);
	check_balanced(&o);
	imap_out_free(&o);
	imap_message_bodystructure(m, &o, 1);
	check_balanced(&o);
	imap_out_free(&o);
	imap_message_bodystructure(m, &o, 0);
	check_balanced(&o);
	imap_out_free(&o);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (imap_message_section(m, sections[i], &o) == 0 && o.len > size + 2)
			abort();	/* a section is a slice (plus CRLF for the fields) */
		imap_out_free(&o);
		(void)imap_message_binary(m, sections[i], &o);
		imap_out_free(&o);
	}
	imap_message_text(m, text_cb, &text);
	v = imap_message_header(m, "Subject");
	free(v);
	imap_message_free(&m);
	free(copy);
	return 0;
}
