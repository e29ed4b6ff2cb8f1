/* SPDX-License-Identifier: MIT */
/*
 * fuzz_mbox - libFuzzer target for the mbox reader (store/mbox.h) that
 * facteurctl mailbox import feeds: the input is read whole and again in
 * pieces whose sizes come from its first bytes; both readings must give
 * the same messages (a checksum of each), every begin has its end, every
 * LF given out ends a CRLF, and each message it read is written back
 * with mbox_write, which must read again as as many messages.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSGS_MAX 64

struct seen {
	int open, n;
	uint64_t sum[MSGS_MAX], len[MSGS_MAX];
	unsigned int flags[MSGS_MAX];
	int complete[MSGS_MAX];
	unsigned char last;
	/* the messages kept, for the rewrite (small inputs only) */
	char *text[MSGS_MAX];
	size_t cap[MSGS_MAX];
};

static int
s_begin(void *ctx, unsigned long line, int64_t date)
{
	struct seen *s = ctx;

	(void)line;
	(void)date;
	if (s->open)
		abort();
	s->open = 1;
	s->last = 0;
	if (s->n < MSGS_MAX) {
		s->sum[s->n] = 0;
		s->len[s->n] = 0;
	}
	return 0;
}

static int
s_data(void *ctx, const void *buf, size_t len)
{
	struct seen *s = ctx;
	const unsigned char *p = buf;

	if (!s->open || len == 0)
		abort();
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && (i > 0 ? p[i - 1] : s->last) != '\r')
			abort();
		if (s->n < MSGS_MAX)
			s->sum[s->n] = s->sum[s->n] * 31 + p[i];
	}
	s->last = p[len - 1];
	if (s->n < MSGS_MAX) {
		if (s->len[s->n] + len > s->cap[s->n]) {
			s->cap[s->n] = s->len[s->n] + len;
			s->text[s->n] = xrealloc(s->text[s->n], s->cap[s->n]);
		}
		memcpy(s->text[s->n] + s->len[s->n], p, len);
		s->len[s->n] += len;
	}
	return 0;
}

static int
s_end(void *ctx, const struct mbox_end *e)
{
	struct seen *s = ctx;

	if (!s->open)
		abort();
	s->open = 0;
	if (s->n < MSGS_MAX) {
		if (e->size != s->len[s->n])
			abort();
		s->flags[s->n] = e->flags;
		s->complete[s->n] = e->complete;
	}
	s->n++;
	return 0;
}

static const struct mbox_reader_cb cb = { s_begin, s_data, s_end };

static int
run(const uint8_t *data, size_t size, size_t step, struct seen *s)
{
	struct mbox_reader *r = mbox_reader_new(&cb, s);
	int rc = 0;

	for (size_t off = 0; off < size && rc == 0; off += step) {
		size_t n = size - off < step ? size - off : step;
		rc = mbox_reader_feed(r, data + off, n);
	}
	if (rc == 0)
		rc = mbox_reader_finish(r);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1 && mbox_reader_error(r)[0] == '\0')
		abort();
	if (rc == 0 && s->open)
		abort();
	mbox_reader_free(&r);
	return rc;
}

static void
seen_free(struct seen *s)
{
	for (int i = 0; i < MSGS_MAX; i++)
		free(s->text[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen *a = xcalloc(1, sizeof(*a)), *b = xcalloc(1, sizeof(*b));
	size_t step = size > 0 ? (size_t)data[0] % 37 + 1 : 1;
	int ra, rb;

	ra = run(data, size, size > 0 ? size : 1, a);
	rb = run(data, size, step, b);
	if (ra != rb || a->n != b->n)
		abort();
	for (int i = 0; i < a->n && i < MSGS_MAX; i++)
		if (a->sum[i] != b->sum[i] || a->len[i] != b->len[i] || a->flags[i] != b->flags[i] ||
		    a->complete[i] != b->complete[i])
			abort();
	/* What was read is written and read again: as many messages, the same flags. */
	if (ra == 0 && a->n > 0 && a->n <= MSGS_MAX) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		struct seen *c = xcalloc(1, sizeof(*c));

		for (int i = 0; i < a->n; i++)
			if (mbox_write(f, NULL, 0, a->flags[i], NULL, a->text[i], a->len[i]) < 0)
				abort();
		fclose(f);
		if (run((const uint8_t *)buf, len, len, c) != 0 || c->n != a->n)
			abort();
		for (int i = 0; i < a->n; i++)
			if (c->flags[i] != a->flags[i] || !c->complete[i])
				abort();
		seen_free(c);
		free(c);
		free(buf);
	}
	seen_free(a);
	seen_free(b);
	free(a);
	free(b);
	return 0;
}
