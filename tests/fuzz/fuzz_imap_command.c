/* SPDX-License-Identifier: MIT */
/*
 * fuzz_imap_command - libFuzzer target for what an IMAP client sends: the
 * reader frames the input (cut in pieces whose size the first byte
 * chooses, as the network would), every command it frames is parsed, and
 * every argument goes through the small grammars imapd applies to it
 * (sequence sets, dates, modified UTF-7, numbers).
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_arg(const struct imap_arg *a, int depth)
{
	struct imap_seqset set;
	const char *s;
	char *utf8, *back;
	time_t t;
	int tz;
	uint64_t n;

	if (depth > IMAP_MAX_DEPTH + 1)
		abort();
	if (a->type == IMAP_ARG_LIST) {
		for (unsigned int i = 0; i < a->count; i++)
			check_arg(&a->list[i], depth + 1);
		return;
	}
	if (a->str == NULL || a->str[a->len] != '\0')
		abort();
	if (a->type == IMAP_ARG_ATOM && (a->len == 0 || strlen(a->str) != a->len))
		abort();
	(void)imap_arg_number64(a, &n);
	if (imap_seqset_parse(a->str, &set) == 0) {
		imap_seqset_resolve(&set, 7);
		for (unsigned int i = 0; i < set.count; i++)
			if (set.v[i].lo > set.v[i].hi || set.v[i].lo == 0)
				abort();
		imap_seqset_free(&set);
	}
	(void)imap_parse_date(a->str, &t);
	(void)imap_parse_datetime(a->str, &t, &tz);
	if (imap_arg_astring(a, &s) && imap_mutf7_decode(s, &utf8) == 0) {
		/* A decoded name is valid UTF-8 and encodes back to 7-bit. */
		if (!imap_utf8_valid(utf8, strlen(utf8)))
			abort();
		back = imap_mutf7_encode(utf8);
		for (const char *p = back; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				abort();
		free(back);
		free(utf8);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_reader_limits lim = { 1024, 512, 4096, 8192 };
	struct imap_reader *r;
	size_t piece, pos = 1;

	if (size == 0)
		return 0;
	piece = (size_t)(data[0] % 64) + 1;
	r = imap_reader_new(&lim);
	while (pos < size) {
		size_t n = size - pos < piece ? size - pos : piece, used = 0;
		enum imap_read rc = imap_reader_feed(r, data + pos, n, &used);

		if (used > n)
			abort();
		pos += used;
		if (rc == IMAP_READ_COMMAND) {
			struct imap_command cmd;
			const char *cdata, *tag, *error;
			size_t len;

			cdata = imap_reader_command(r, &len);
			if (imap_command_parse(cdata, len, &cmd, &tag, &error) == 0) {
				if (!imap_tag_valid(cmd.tag) || cmd.name[0] == '\0')
					abort();
				for (unsigned int i = 0; i < cmd.count; i++)
					check_arg(&cmd.args[i], 0);
			} else if (error == NULL) {
				abort();
			}
			imap_command_free(&cmd);
			imap_reader_reset(r);
		} else if (rc == IMAP_READ_ERROR) {
			(void)imap_reader_tag(r);
			imap_reader_reset(r);
		} else if (rc == IMAP_READ_MORE && used == 0 && n > 0) {
			abort();	/* no progress */
		}
	}
	imap_reader_free(&r);
	return 0;
}
