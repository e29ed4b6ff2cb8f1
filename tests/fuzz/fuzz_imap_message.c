/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_message - libFuzzer target for the message structure imapd
 * serves (store/imap_message.h): a message is parsed, then its ENVELOPE,
 * BODYSTRUCTURE, text and a set of sections and BINARY parts are made,
 * and their syntax is checked where it is cheap to (balanced
 * parentheses outside strings).  The same bytes, read as one message per
 * line ("<id> <references...>"), are threaded both ways
 * (store/imap_thread.h).
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/imap_message.h"
#include "store/imap_parser.h"
#include "store/imap_thread.h"

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

/* One message per line: its first word is its Message-ID, the rest its References. */
static void
threads(char *text)
{
	struct imap_thread_msg msgs[64];
	char *subjects[64], *save = NULL;
	size_t n = 0;

	memset(msgs, 0, sizeof(msgs));
	for (char *line = strtok_r(text, "\n", &save); line != NULL && n < 64;
	    line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (sp != NULL)
			*sp++ = '\0';
		msgs[n].n = (uint32_t)n + 1;
		msgs[n].message_id = line;
		msgs[n].references = n % 3 == 0 ? sp : NULL;
		msgs[n].in_reply_to = n % 3 == 1 ? sp : NULL;
		subjects[n] = imap_thread_base_subject(sp, &msgs[n].reply);
		msgs[n].base_subject = subjects[n];
		msgs[n].date = (time_t)(n % 4);
		n++;
	}
	for (int algo = 0; algo < 2; algo++) {
		struct imap_out o = { NULL, 0, 0 };
		imap_thread(msgs, n, algo == 0 ? IMAP_THREAD_REFERENCES : IMAP_THREAD_ORDEREDSUBJECT,
		    &o);
		check_balanced(&o);
		imap_out_free(&o);
	}
	for (size_t i = 0; i < n; i++)
		free(subjects[i]);
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
	threads(copy);
	free(copy);
	return 0;
}
