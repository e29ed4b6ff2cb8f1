/* SPDX-License-Identifier: MIT */
/*
 * fuzz_policy_proto - what a policy client (Postfix, or anyone who reaches
 * policyd's socket) sends is hostile input.  The first byte sets the size
 * of the reads (1 to 256 bytes); the rest is the stream, fed piece by
 * piece as policyd feeds it, every request looked at and every value
 * answered as an action into buffers of several sizes.  Nothing may crash,
 * leak or read out of bounds, and the parser's promises must hold.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_reply(const char *action)
{
	static const size_t sizes[] = { 0, 1, 9, 10, 11, 64, 600 };
	char out[600];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = policy_format_reply(action, out, sizes[i]);
		if (sizes[i] == 0) {
			if (n != 0)
				abort();
			continue;
		}
		if (n >= sizes[i] || out[n] != '\0' || strlen(out) != n)
			abort();
		if (sizes[i] >= 10) {
			/* A whole answer: one line, then the empty line. */
			if (n < 9 || memcmp(out, "action=", 7) != 0 || memcmp(out + n - 2, "\n\n", 2) != 0)
				abort();
			if (memchr(out, '\n', n - 2) != NULL || memchr(out, '\r', n) != NULL)
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_parser *pp = policy_parser_new();
	size_t step, off = 1;

	if (size == 0) {
		policy_parser_free(&pp);
		return 0;
	}
	step = (size_t)data[0] + 1;
	while (off < size) {
		size_t end = off + step < size ? off + step : size;
		/* Each read in its own buffer, so overreads show. */
		char *piece = malloc(end - off);
		size_t used_total = 0;

		memcpy(piece, data + off, end - off);
		while (used_total < end - off) {
			const char *error = NULL;
			int done = 0;
			long used = policy_parser_feed(pp, piece + used_total, end - off - used_total,
			    &done, &error);

			if (used < 0) {
				if (error == NULL)
					abort();
				/* policyd closes the connection: so does the stream here. */
				free(piece);
				policy_parser_free(&pp);
				return 0;
			}
			if ((size_t)used > end - off - used_total)
				abort();
			used_total += (size_t)used;
			if (!done) {
				if (used_total != end - off)
					abort();
				continue;
			}
			{
				const struct policy_req *req = policy_parser_request(pp);
				if (req->nattrs > POLICY_ATTRS_MAX)
					abort();
				for (size_t i = 0; i < req->nattrs; i++) {
					const struct policy_attr *a = &req->attrs[i];
					if (a->name[0] == '\0' || strchr(a->name, '\n') != NULL ||
					    strlen(a->name) + 1 + strlen(a->value) > POLICY_LINE_MAX)
						abort();
					if (policy_req_get(req, a->name) == NULL)
						abort();
					check_reply(a->value);
				}
				(void)policy_req_get(req, "request");
				(void)policy_req_get(req, "protocol_state");
			}
			policy_parser_reset(pp);
		}
		free(piece);
		off = end;
	}
	policy_parser_free(&pp);
	return 0;
}
