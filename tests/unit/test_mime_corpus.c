/* SPDX-License-Identifier: MIT */
/*
 * test_mime_corpus - the MIME parser over a real corpus of ham and spam
 * (FACTEUR_CORPUS, default /work/shared/corpus, skipped when absent):
 * no crash, every message has a root part with consistent parents and
 * sizes, every tenth message gives the same results byte by byte, and
 * the anomaly counts are printed for whoever tunes the scores.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/mem.h"
#include "filter/mime.h"

struct digest {
	uint64_t text;		/* bytes of text */
	uint32_t hash;		/* of text, parts and URLs */
};

static void
hash_bytes(struct digest *d, const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i;

	for (i = 0; i < len; i++) {
		d->hash ^= s[i];
		d->hash *= 16777619u;
	}
}

static void
on_text(void *context, const struct mime_part *part, const char *utf8, size_t len)
{
	struct digest *d = context;

	d->text += len;
	hash_bytes(d, utf8, len);
}

static struct mime_parser *
parse(const char *msg, size_t len, size_t step, struct digest *d)
{
	struct mime_callbacks cb = { .context = d, .text = on_text };
	struct mime_parser *p = mime_parser_new(NULL, &cb);
	unsigned int i;
	size_t pos;

	d->text = 0;
	d->hash = 2166136261u;
	for (pos = 0; pos < len; pos += step)
		mime_parser_feed(p, msg + pos, len - pos < step ? len - pos : step);
	mime_parser_finish(p);
	for (i = 0; i < mime_parser_part_count(p); i++) {
		const struct mime_part *part = mime_parser_part(p, i);

		hash_bytes(d, part->type, strlen(part->type));
		hash_bytes(d, part->subtype, strlen(part->subtype));
		hash_bytes(d, &part->decoded_size, sizeof(part->decoded_size));
	}
	for (i = 0; i < mime_parser_url_count(p); i++)
		hash_bytes(d, mime_parser_url(p, i), strlen(mime_parser_url(p, i)));
	return p;
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc(size > 0 ? (size_t)size : 1);
	*len_r = fread(buf, 1, size > 0 ? (size_t)size : 0, f);
	fclose(f);
	return buf;
}

static void
test_corpus(void **state)
{
	static const char *const subdirs[] = { "ham", "spam" };
	const char *root = getenv("FACTEUR_CORPUS");
	unsigned int counts[MIME_ANOMALY_COUNT] = { 0 };
	unsigned int messages = 0, parts = 0, urls = 0, with_text = 0, clean = 0, a;
	size_t s;

	if (root == NULL)
		root = "/work/shared/corpus";
	for (s = 0; s < 2; s++) {
		char dir[4096];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "%s/%s", root, subdirs[s]);
		d = opendir(dir);
		if (d == NULL) {
			if (s == 0)
				skip();
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			char path[8192];
			struct mime_parser *p;
			struct digest whole, bytes;
			unsigned int i;
			char *msg;
			size_t len;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			msg = read_file(path, &len);
			if (msg == NULL)
				continue;
			p = parse(msg, len, len > 0 ? len : 1, &whole);
			assert_true(mime_parser_part_count(p) >= 1);
			assert_int_equal(mime_parser_part(p, 0)->parent, -1);
			for (i = 1; i < mime_parser_part_count(p); i++) {
				const struct mime_part *part = mime_parser_part(p, i);
				const struct mime_part *parent = mime_parser_part(p, (unsigned int)part->parent);

				assert_true(part->parent >= 0 && (unsigned int)part->parent < i);
				assert_true(parent->is_multipart || parent->is_message);
				assert_int_equal(part->depth, parent->depth + 1);
				assert_true(part->raw_size <= len);
			}
			for (a = 0; a < MIME_ANOMALY_COUNT; a++) {
				if (mime_parser_anomalies(p) & MIME_BIT(a))
					counts[a]++;
			}
			clean += mime_parser_anomalies(p) == 0;
			with_text += whole.text > 0;
			parts += mime_parser_part_count(p);
			urls += mime_parser_url_count(p);
			mime_parser_free(&p);
			if (messages % 10 == 0) {
				p = parse(msg, len, 1, &bytes);
				mime_parser_free(&p);
				if (bytes.text != whole.text || bytes.hash != whole.hash)
					fail_msg("%s: results differ when fed byte by byte", path);
			}
			messages++;
			free(msg);
		}
		closedir(d);
	}
	printf("corpus: %u messages, %u parts, %u URLs, %u with text, %u without anomaly\n",
	    messages, parts, urls, with_text, clean);
	for (a = 0; a < MIME_ANOMALY_COUNT; a++) {
		if (counts[a] > 0)
			printf("corpus: %s in %u messages\n", mime_anomaly_name((enum mime_anomaly)a),
			    counts[a]);
	}
	assert_true(messages > 0);
	/* Nearly all real mail has text, and most of it no anomaly. */
	assert_true(with_text >= messages * 95 / 100);
	assert_true(clean >= messages * 80 / 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
