/* SPDX-License-Identifier: MIT */
/*
 * fuzz_milter_proto - what a milter sends is hostile input: the input is
 * a message, a NUL byte, then a stream of milter reply packets.  Every
 * packet is split off and decoded (custom reply codes checked), the
 * changes are recorded as the milter client records them and applied to
 * the message.  Nothing may crash, leak or read out of bounds.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mta/milter_client.h"
#include "mta/milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t msg_len = nul != NULL ? (size_t)(nul - data) : size;
	const unsigned char *p = nul != NULL ? nul + 1 : data + size;
	size_t left = (size_t)(data + size - p);
	struct milter_mods *mods = milter_mods_new();
	struct milter_header *hdrs;
	size_t nhdrs, body, out_len;
	char *msg, *out;

	/* The message in its own buffer, so overreads show. */
	msg = malloc(msg_len > 0 ? msg_len : 1);
	memcpy(msg, data, msg_len);
	nhdrs = milter_message_split(msg, msg_len, &hdrs, &body);
	for (size_t i = 0; i < nhdrs; i++) {
		char *v = malloc(hdrs[i].value_len + 1);
		milter_header_value(&hdrs[i], (int)(i & 1), v);
		free(v);
	}
	free(hdrs);

	while (left > 0) {
		const unsigned char *pd;
		size_t dlen, used;
		char cmd, text[512];
		struct milter_action a;
		struct milter_optneg o;
		const char *error;
		int rc = milter_packet_split(p, left, &cmd, &pd, &dlen, &used);

		if (rc <= 0)
			break;
		/* The packet data in its own buffer too. */
		unsigned char *copy = malloc(dlen > 0 ? dlen : 1);
		memcpy(copy, pd, dlen);
		if (cmd == SMFIC_OPTNEG)
			(void)milter_dec_optneg(copy, dlen, &o, &error);
		else if (milter_dec_reply(cmd, copy, dlen, &a, &error) == 0) {
			if (cmd == SMFIR_REPLYCODE)
				(void)milter_reply_check(a.text, text, sizeof(text));
			else
				(void)milter_mods_add(mods, &a, cmd & 1, &error);
		}
		free(copy);
		p += used;
		left -= used;
	}
	out = milter_mods_apply(mods, msg, msg_len, &out_len);
	if (strlen(out) > out_len)
		abort();
	free(out);
	milter_mods_free(&mods);
	free(msg);
	return 0;
}
