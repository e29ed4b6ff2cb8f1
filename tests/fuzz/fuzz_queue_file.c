/* SPDX-License-Identifier: MIT */
/*
 * fuzz_queue_file - libFuzzer target for the queue file parser.  A queue
 * file is ours, but a crash, a full disk or a hand edit can leave any
 * bytes in one, and qmgr must move it to corrupt/ rather than crash.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "mta/queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_envelope env;
	const char *error;
	/* A private copy of exactly size bytes: no NUL after the image. */
	char *image = xmalloc(size > 0 ? size : 1);

	memcpy(image, data, size);
	if (queue_file_parse(image, size, &env, &error) == 0) {
		char buf[64];
		for (size_t i = 0; i < env.nrcpts; i++) {
			queue_notify_str(env.rcpts[i].notify, buf, sizeof(buf));
			if (env.rcpts[i].status_offset < 0 || (size_t)env.rcpts[i].status_offset >= size)
				abort();
		}
		if (env.content_offset < 0 || (size_t)(env.content_offset + env.content_len) > size)
			abort();
		queue_envelope_free(&env);
	}
	free(image);
	return 0;
}
