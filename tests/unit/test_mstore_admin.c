/* SPDX-License-Identifier: MIT */
/*
 * test_mstore_admin - the mbox reader and writer (store/mbox.h) on a
 * table of inputs (fed whole and a byte at a time: the same messages),
 * From line dates, a write-then-read round trip of awkward messages, and
 * the store's administration (store/mstore_admin.h) in a temporary
 * directory: purge by both dates and by scope, import and export, and a
 * check finding and repairing a planted orphan and wrong counts.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/mem.h"
#include "store/mbox.h"
#include "store/mstore.h"
#include "store/mstore_admin.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/test_mstore_admin.XXXXXX";

/* ---- the reader, on a table ---- */

#define MSGS_MAX 8

struct got {
	int n;
	char text[MSGS_MAX][512];
	size_t len[MSGS_MAX];
	int64_t date[MSGS_MAX];
	unsigned int flags[MSGS_MAX];
	char keywords[MSGS_MAX][128];
	unsigned long line[MSGS_MAX];
	int complete[MSGS_MAX];
	int begun, ended;
};

static int
got_begin(void *ctx, unsigned long line, int64_t date)
{
	struct got *g = ctx;

	assert_true(g->n < MSGS_MAX);
	assert_int_equal(g->begun, g->ended);
	g->begun++;
	g->date[g->n] = date;
	g->line[g->n] = line;
	g->len[g->n] = 0;
	return 0;
}

static int
got_data(void *ctx, const void *buf, size_t len)
{
	struct got *g = ctx;

	assert_true(g->len[g->n] + len < sizeof(g->text[0]));
	memcpy(g->text[g->n] + g->len[g->n], buf, len);
	g->len[g->n] += len;
	return 0;
}

static int
got_end(void *ctx, const struct mbox_end *e)
{
	struct got *g = ctx;

	g->ended++;
	assert_int_equal(e->size, g->len[g->n]);
	assert_int_equal(e->line, g->line[g->n]);
	g->text[g->n][g->len[g->n]] = '\0';
	g->flags[g->n] = e->flags;
	str_copy(g->keywords[g->n], e->keywords, sizeof(g->keywords[0]));
	g->complete[g->n] = e->complete;
	g->n++;
	return 0;
}

static const struct mbox_reader_cb got_cb = { got_begin, got_data, got_end };

/* Read in (len) in pieces of step bytes (0: whole); the reader's final status. */
static int
read_mbox(const char *in, size_t len, size_t step, struct got *g, char *err, size_t errsize)
{
	struct mbox_reader *r = mbox_reader_new(&got_cb, g);
	int rc = 0;

	memset(g, 0, sizeof(*g));
	for (size_t off = 0; off < len && rc == 0; off += step == 0 ? len : step) {
		size_t n = step == 0 || len - off < step ? len - off : step;
		rc = mbox_reader_feed(r, in + off, n);
	}
	if (rc == 0)
		rc = mbox_reader_finish(r);
	str_copy(err, mbox_reader_error(r), errsize);
	mbox_reader_free(&r);
	assert_null(r);
	return rc;
}

static const struct {
	const char *name;
	const char *in;
	int status;		/* of the reader: 0 or -1 */
	const char *error;	/* part of the error text */
	int n;			/* messages ended */
	const char *msgs[3];	/* as the store gets them */
	int complete[3];
	unsigned int flags[3];
	const char *keywords[3];
} cases[] = {
	{ "empty file", "", 0, NULL, 0, { NULL }, { 0 }, { 0 }, { NULL } },
	{ "not an mbox", "Subject: hi\n\nbody\n\n", -1, "line 1: not an mbox file", 0, { NULL },
	  { 0 }, { 0 }, { NULL } },
	{ "blank line first", "\nFrom a Mon Jan  1 00:00:00 2024\n\n", -1, "line 1:", 0, { NULL },
	  { 0 }, { 0 }, { NULL } },
	{ "two messages, LF to CRLF",
	  "From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n\n"
	  "From c@d Tue Jan  2 00:00:00 2024\nSubject: two\n\nbody 2\n\n", 0, NULL, 2,
	  { "Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\nbody 2\r\n" }, { 1, 1 }, { 0 },
	  { "", "" } },
	{ "CRLF file",
	  "From a@b Mon Jan  1 00:00:00 2024\r\nSubject: one\r\n\r\nbody\r\n\r\n"
	  "From c@d Tue Jan  2 00:00:00 2024\r\nSubject: two\r\n\r\nbody 2\r\n\r\n", 0, NULL, 2,
	  { "Subject: one\r\n\r\nbody\r\n", "Subject: two\r\n\r\nbody 2\r\n" }, { 1, 1 }, { 0 },
	  { "", "" } },
	{ "mboxrd unquoting",
	  "From a Mon Jan  1 00:00:00 2024\nS: x\n\n>From here\n>>From there\n> From not\n"
	  "From unquoted mboxo line\n\n", 0, NULL, 1,
	  { "S: x\r\n\r\nFrom here\r\n>From there\r\n> From not\r\nFrom unquoted mboxo line\r\n" },
	  { 1 }, { 0 }, { "" } },
	{ "From after a blank line without a date is body",
	  "From a Mon Jan  1 00:00:00 2024\nS: x\n\nhi\n\nFrom me, with love\n\n", 0, NULL, 1,
	  { "S: x\r\n\r\nhi\r\n\r\nFrom me, with love\r\n" }, { 1 }, { 0 }, { "" } },
	{ "flags and keywords taken out of the header",
	  "From a Mon Jan  1 00:00:00 2024\nSubject: f\nStatus: RO\nX-Status: AFD\n"
	  "X-Keywords: $Label1, work\n  later\nTo: x\n\nStatus: RO stays in the body\n\n",
	  0, NULL, 1, { "Subject: f\r\nTo: x\r\n\r\nStatus: RO stays in the body\r\n" }, { 1 },
	  { MSTORE_F_SEEN | MSTORE_F_ANSWERED | MSTORE_F_FLAGGED | MSTORE_F_DELETED },
	  { "$Label1 work later" } },
	{ "bad keywords dropped",
	  "From a Mon Jan  1 00:00:00 2024\nX-Keywords: ok \\Seen (bad) fine\n\nb\n\n", 0, NULL, 1,
	  { "\r\nb\r\n" }, { 1 }, { 0 }, { "ok fine" } },
	{ "truncated last message",
	  "From a Mon Jan  1 00:00:00 2024\nS: 1\n\none\n\nFrom b Mon Jan  1 00:00:00 2024\nS: 2\n\ntw",
	  0, NULL, 2, { "S: 1\r\n\r\none\r\n", "S: 2\r\n\r\ntw" }, { 1, 0 }, { 0 }, { "", "" } },
	{ "last message without its empty line",
	  "From a Mon Jan  1 00:00:00 2024\nS: 1\n\none\n", 0, NULL, 1, { "S: 1\r\n\r\none\r\n" },
	  { 0 }, { 0 }, { "" } },
	{ "header only, empty body",
	  "From a Mon Jan  1 00:00:00 2024\nS: 1\nStatus: O\n\n"
	  "From a Mon Jan  1 00:00:00 2024\nS: 2\n\n\n", 0, NULL, 2, { "S: 1\r\n", "S: 2\r\n\r\n" },
	  { 1, 1 }, { 0 }, { "", "" } },
	{ "binary 8-bit and NUL",
	  "From a Mon Jan  1 00:00:00 2024\nS: \xe9t\xe9\n\n\x80\xff\x01\n\n", 0, NULL, 1,
	  { "S: \xe9t\xe9\r\n\r\n\x80\xff\x01\r\n" }, { 1 }, { 0 }, { "" } },
	{ "bare CR kept in an LF file",
	  "From a Mon Jan  1 00:00:00 2024\nS: 1\n\nx\r\n\r\n\n", 0, NULL, 1,
	  { "S: 1\r\n\r\nx\r\r\n\r\r\n" }, { 1 }, { 0 }, { "" } },
};

static void
test_reader_table(void **state)
{
	struct got g, g1;
	char err[256];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = strlen(cases[i].in);
		int rc = read_mbox(cases[i].in, len, 0, &g, err, sizeof(err));

		if (rc != cases[i].status)
			fail_msg("%s: status %d, error \"%s\"", cases[i].name, rc, err);
		if (cases[i].error != NULL && strstr(err, cases[i].error) == NULL)
			fail_msg("%s: error \"%s\"", cases[i].name, err);
		if (g.n != cases[i].n)
			fail_msg("%s: %d messages", cases[i].name, g.n);
		for (int k = 0; k < g.n; k++) {
			if (g.len[k] != strlen(cases[i].msgs[k]) ||
			    memcmp(g.text[k], cases[i].msgs[k], g.len[k]) != 0)
				fail_msg("%s: message %d is \"%s\"", cases[i].name, k, g.text[k]);
			assert_int_equal(g.complete[k], cases[i].complete[k]);
			assert_int_equal(g.flags[k], cases[i].flags[k]);
			assert_string_equal(g.keywords[k], cases[i].keywords[k]);
		}
		/* A byte at a time: the same. */
		assert_int_equal(read_mbox(cases[i].in, len, 1, &g1, err, sizeof(err)), rc);
		assert_int_equal(g1.n, g.n);
		for (int k = 0; k < g.n; k++) {
			assert_int_equal(g1.len[k], g.len[k]);
			assert_memory_equal(g1.text[k], g.text[k], g.len[k]);
			assert_int_equal(g1.date[k], g.date[k]);
		}
	}
}

/* Long lines: counted and compared, not kept (got's buffers are small). */
struct tally {
	uint64_t bytes;
	int ends, complete;
	char keywords[64];
	unsigned char head[64], tail[64];
	size_t nhead;
	uint64_t b_count;
};

static int
tally_begin(void *ctx, unsigned long line, int64_t date)
{
	(void)ctx;
	(void)line;
	(void)date;
	return 0;
}

static int
tally_data(void *ctx, const void *buf, size_t len)
{
	struct tally *t = ctx;
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++) {
		if (t->nhead < sizeof(t->head))
			t->head[t->nhead++] = p[i];
		memmove(t->tail, t->tail + 1, sizeof(t->tail) - 1);
		t->tail[sizeof(t->tail) - 1] = p[i];
		if (p[i] == 'b')
			t->b_count++;
	}
	t->bytes += len;
	return 0;
}

static int
tally_end(void *ctx, const struct mbox_end *e)
{
	struct tally *t = ctx;

	t->ends++;
	t->complete = e->complete;
	str_copy(t->keywords, e->keywords, sizeof(t->keywords));
	assert_int_equal(e->size, t->bytes);
	return 0;
}

static void
test_long_lines(void **state)
{
	static const struct mbox_reader_cb cb = { tally_begin, tally_data, tally_end };
	size_t body = 3 * MBOX_LINE_KEEP + 17, len = 0;
	char *in = xmalloc(body + MBOX_LINE_KEEP + 200);

	(void)state;
	/*
	 * A CRLF file: a long X-Keywords header is taken out whole (its first
	 * words kept), a long body line passes with its CR LF made one CR LF.
	 */
	len += (size_t)sprintf(in, "From a Mon Jan  1 00:00:00 2024\r\nX-Keywords: k1 k2 ");
	memset(in + len, 'k', MBOX_LINE_KEEP);
	len += MBOX_LINE_KEEP;
	memcpy(in + len, "\r\nS: x\r\n\r\n", 10);
	len += 10;
	memset(in + len, 'b', body);
	len += body;
	memcpy(in + len, "\r\n\r\n", 4);
	len += 4;
	for (size_t step = 1; step <= 2 * MBOX_LINE_KEEP + 1; step += MBOX_LINE_KEEP) {
		struct tally t;
		struct mbox_reader *r;

		memset(&t, 0, sizeof(t));
		r = mbox_reader_new(&cb, &t);
		for (size_t off = 0; off < len; off += step)
			assert_int_equal(mbox_reader_feed(r, in + off, len - off < step ? len - off :
			    step), 0);
		assert_int_equal(mbox_reader_finish(r), 0);
		mbox_reader_free(&r);
		assert_int_equal(t.ends, 1);
		assert_true(t.complete);
		assert_string_equal(t.keywords, "k1 k2");
		assert_int_equal(t.bytes, 6 + 2 + body + 2);
		assert_int_equal(t.b_count, body);
		assert_memory_equal(t.head, "S: x\r\n\r\nbbb", 11);
		assert_memory_equal(t.tail + sizeof(t.tail) - 4, "bb\r\n", 4);
	}
	free(in);
}

/* ---- dates ---- */

static void
test_from_dates(void **state)
{
	static const struct {
		const char *line;
		int ok;
		int64_t date;
	} d[] = {
		{ "From a@b Mon Jan  1 00:00:00 2024", 1, 1704067200 },
		{ "From a@b Mon Jan 1 00:00 2024", 1, 1704067200 },
		{ "From MAILER-DAEMON Fri Jul  8 12:08:34 2011", 1, 1310126914 },
		{ "From a@b Mon Jan  1 01:00:00 +0100 2024", 1, 1704067200 },
		{ "From a@b Mon Jan  1 01:00:00 2024 +0100", 1, 1704067200 },
		{ "From a@b Mon Jan  1 00:00:00 PST 2024", 1, 1704067200 },
		{ "From a@b mon jan  1 00:00:00 2024 remote from x", 1, 1704067200 },
		{ "From  Mon Jan  1 00:00:00 2024", 1, 1704067200 },
		{ "From me, with love", 0, 0 },
		{ "From a@b Mon Jan 32 00:00:00 2024", 0, 0 },
		{ "From a@b Mon Jan  1 24:00:00 2024", 0, 0 },
		{ "From a@b Mon Jan  1 00:00:00", 0, 0 },
		{ "From a@b Mon Foo  1 00:00:00 2024", 0, 0 },
		{ "From a@b Mon Jan  1 00:00:00 1969", 0, 0 },
		{ "From a@b Mon Jan  1 0:00:00 2024", 0, 0 },
		{ ">From a@b Mon Jan  1 00:00:00 2024", 0, 0 },
	};
	int64_t t;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(d); i++) {
		t = -1;
		int rc = mbox_from_date(d[i].line, strlen(d[i].line), &t);
		if ((rc == 0) != d[i].ok || (d[i].ok && t != d[i].date))
			fail_msg("%s: %d %lld", d[i].line, rc, (long long)t);
	}
}

/* ---- write, then read ---- */

static void
test_write_read(void **state)
{
	static const struct {
		const char *msg;
		const char *back;	/* what reading gives back; NULL: msg itself */
		unsigned int flags;
		const char *keywords;
	} m[] = {
		{ "Subject: a\r\n\r\nFrom the body\r\n>From quoted\r\n>>From twice\r\n", NULL,
		  MSTORE_F_SEEN | MSTORE_F_ANSWERED, "$Forwarded work" },
		{ "From a header line?\r\nSubject: b\r\n\r\nbody\r\n", NULL, MSTORE_F_DRAFT, "" },
		{ "Subject: c\r\n\r\nno final newline", "Subject: c\r\n\r\nno final newline\r\n", 0,
		  "" },
		{ "Subject: header only\r\n", NULL, MSTORE_F_FLAGGED | MSTORE_F_DELETED, "" },
		{ "Subject: d\r\n\r\n\r\n\r\nblank lines\r\n\r\n\r\n", NULL, 0, "" },
		{ "Subject: \xe9\r\n\r\n\x80\x81\xfe\xff\r\n", NULL, MSTORE_F_SEEN, "" },
		{ "", NULL, 0, "" },
	};
	char *buf = NULL, err[256];
	size_t len = 0;
	struct got g;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(m); i++)
		assert_int_equal(mbox_write(f, i == 0 ? "a@b" : NULL, 1704067200 + (int64_t)i,
		    m[i].flags, m[i].keywords, m[i].msg, strlen(m[i].msg)), 0);
	fclose(f);
	assert_true(strncmp(buf, "From a@b Mon Jan  1 00:00:00 2024\n", 34) == 0);
	assert_non_null(strstr(buf, "\nFrom MAILER-DAEMON Mon Jan  1 00:00:01 2024\n"));
	assert_non_null(strstr(buf, "\n>From the body\n>>From quoted\n>>>From twice\n"));
	assert_non_null(strstr(buf, "Subject: a\nStatus: RO\nX-Status: A\n"
	    "X-Keywords: $Forwarded work\n\n"));
	assert_null(strchr(buf, '\r'));
	assert_int_equal(read_mbox(buf, len, 0, &g, err, sizeof(err)), 0);
	assert_int_equal(g.n, (int)N_ELEMENTS(m));
	for (size_t i = 0; i < N_ELEMENTS(m); i++) {
		const char *want = m[i].back != NULL ? m[i].back : m[i].msg;
		if (g.len[i] != strlen(want) || memcmp(g.text[i], want, g.len[i]) != 0)
			fail_msg("message %zu came back as \"%s\"", i, g.text[i]);
		assert_int_equal(g.flags[i], m[i].flags);
		assert_string_equal(g.keywords[i], m[i].keywords);
		assert_int_equal(g.date[i], 1704067200 + (int64_t)i);
		assert_true(g.complete[i]);
	}
	free(buf);
}

static void
test_envelope_sender(void **state)
{
	char out[64];

	(void)state;
	mbox_envelope_sender("Return-Path: <a@b.example>\r\nX: y\r\n", 34, out, sizeof(out));
	assert_string_equal(out, "a@b.example");
	mbox_envelope_sender("Return-Path: <>\r\n", 17, out, sizeof(out));
	assert_string_equal(out, "");
	mbox_envelope_sender("Subject: x\r\nReturn-Path: <a@b>\r\n", 33, out, sizeof(out));
	assert_string_equal(out, "");
	mbox_envelope_sender("Return-Path: <\"a b\"@c>\r\n", 24, out, sizeof(out));
	assert_string_equal(out, "");
}

/* ---- the store ---- */

static struct mstore *
fresh_store(const char *name, char *dir, size_t size)
{
	const char *error = NULL;
	struct mstore *ms;

	snprintf(dir, size, "%s/%s", tmpdir, name);
	if ((ms = mstore_open(dir, &error)) == NULL)
		fail_msg("mstore_open %s: %s", dir, error);
	return ms;
}

static struct mstore_account *
account(struct mstore *ms, const char *name)
{
	const char *error = NULL;
	struct mstore_account *a = mstore_account_open(ms, name, 1, NULL, &error);

	if (a == NULL)
		fail_msg("open %s: %s", name, error);
	return a;
}

static int64_t
box(struct mstore_account *a, const char *name)
{
	struct mstore_mailbox mb;
	const char *error = NULL;

	if (mstore_mailbox_get(a, name, 0, &mb, &error) != 0)
		fail_msg("mailbox %s: %s", name, error);
	return mb.id;
}

/* Append text to mailbox name with an internal date; its blob id into blob (may be NULL). */
static void
append(struct mstore_account *a, const char *name, const char *text, int64_t date, char *blob)
{
	struct mstore *ms = mstore_account_store(a);
	struct mstore_blob_writer *w;
	struct mstore_append ap;
	char id[MSTORE_BLOB_ID_SIZE];
	const char *error = NULL;
	uint64_t size;

	assert_non_null(w = mstore_blob_begin(ms, &error));
	assert_int_equal(mstore_blob_write(w, text, strlen(text)), 0);
	if (mstore_blob_commit(&w, 1, id, &size, &error) != 0)
		fail_msg("commit: %s", error);
	memset(&ap, 0, sizeof(ap));
	ap.blob = id;
	ap.size = size;
	ap.internaldate = date;
	if (mstore_append(a, box(a, name), &ap, NULL, NULL, &error) != 0)
		fail_msg("append: %s", error);
	if (blob != NULL)
		str_copy(blob, id, MSTORE_BLOB_ID_SIZE);
}

static void
sql(const char *path, const char *q)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(db);
}

static void
test_purge(void **state)
{
	char dir[256], blob[MSTORE_BLOB_ID_SIZE], q[512];
	struct mstore *ms = fresh_store("purge", dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_purge_stats st;
	const char *error = NULL;
	time_t now = time(NULL);
	uint64_t bytes, msgs;

	(void)state;
	append(a, "Trash", "Subject: old\r\n\r\nx\r\n", now - 10 * 86400, blob);
	append(a, "Trash", "Subject: new\r\n\r\nx\r\n", now - 3600, NULL);
	append(a, "Trash", "Subject: moved here today\r\n\r\nx\r\n", now - 20 * 86400, NULL);
	append(a, "Junk", "Subject: old junk\r\n\r\nxx\r\n", now - 10 * 86400, NULL);
	append(a, "INBOX", "Subject: old inbox\r\n\r\nxxx\r\n", now - 10 * 86400, NULL);
	/* Saved 10 days ago, all but the one "moved" today. */
	snprintf(q, sizeof(q), "UPDATE messages SET saved = %lld WHERE uid <> 3 OR mailbox_id <> "
	    "(SELECT id FROM mailboxes WHERE name = 'Trash')", (long long)now - 10 * 86400);
	sql(mstore_account_path(ms, "alice@example.org"), q);

	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_purge(a, 7, 0, now, 1, &st, &error), 0);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.mailboxes, 2);
	assert_int_equal(mstore_usage(a, &bytes, &msgs), 0);
	assert_int_equal(msgs, 5);

	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_purge(a, 7, 0, now, 0, &st, &error), 0);
	assert_int_equal(st.messages, 2);
	assert_int_equal(st.bytes, strlen("Subject: old\r\n\r\nx\r\n") +
	    strlen("Subject: old junk\r\n\r\nxx\r\n"));
	assert_int_equal(mstore_usage(a, &bytes, &msgs), 0);
	assert_int_equal(msgs, 3);
	/* Its blob went with its last reference. */
	assert_int_equal(mstore_blob_refs(ms, blob), 0);
	/* Again: nothing left in scope. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_purge(a, 7, 0, now, 0, &st, &error), 0);
	assert_int_equal(st.messages, 0);
	/* Every mailbox: the INBOX one goes too, the new and the moved stay. */
	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_purge(a, 7, 1, now, 0, &st, &error), 0);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.mailboxes, 5);
	assert_int_equal(mstore_usage(a, &bytes, &msgs), 0);
	assert_int_equal(msgs, 2);
	assert_int_equal(mstore_purge(a, 0, 1, now, 0, &st, &error), MSTORE_EINVAL);
	mstore_account_close(&a);
	mstore_close(&ms);
}

/* The whole of f. */
static char *
slurp(FILE *f, size_t *len)
{
	char *buf;
	long n;

	fflush(f);
	n = ftell(f);
	buf = xmalloc((size_t)n + 1);
	rewind(f);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static void
test_export_import(void **state)
{
	char dir[256];
	struct mstore *ms = fresh_store("mbox", dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_account *b = account(ms, "bob@example.org");
	struct mstore_mbox_stats st;
	const char *error = NULL;
	FILE *f1 = tmpfile(), *f2 = tmpfile(), *in = tmpfile();
	char *e1, *e2;
	size_t l1, l2;
	uint64_t bytes, msgs;
	const char *quoted = "Return-Path: <s@x>\r\nSubject: q\r\n\r\nFrom me\r\n>From you\r\n";
	int rc;

	(void)state;
	append(a, "INBOX", quoted, 1700000000, NULL);
	append(a, "INBOX", "Subject: no final newline\r\n\r\nend", 1700000001, NULL);
	append(a, "INBOX", "Subject: 8bit\r\n\r\n\xe9\xff\r\n", 1700000002, NULL);
	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_export_mbox(a, box(a, "INBOX"), f1, &st, &error), 0);
	assert_int_equal(st.messages, 3);
	e1 = slurp(f1, &l1);
	assert_true(strncmp(e1, "From s@x Tue Nov 14 22:13:20 2023\nReturn-Path", 45) == 0);

	/* Into bob's Archive, and out again: the same bytes. */
	assert_int_equal(mstore_mailbox_create(b, "Archive", MSTORE_SPECIAL_NONE, &error), 0);
	memset(&st, 0, sizeof(st));
	assert_int_equal(lseek(fileno(f1), 0, SEEK_SET), 0);
	assert_int_equal(mstore_import_mbox(b, box(b, "Archive"), 0, fileno(f1), &st, &error), 0);
	assert_int_equal(st.messages, 3);
	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_export_mbox(b, box(b, "Archive"), f2, &st, &error), 0);
	e2 = slurp(f2, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(e1, e2, l1);
	free(e2);

	/* A quota: the import stops at the message that does not fit. */
	assert_int_equal(mstore_usage(b, &bytes, &msgs), 0);
	memset(&st, 0, sizeof(st));
	assert_int_equal(lseek(fileno(f1), 0, SEEK_SET), 0);
	rc = mstore_import_mbox(b, box(b, "INBOX"), bytes + strlen(quoted) + 1, fileno(f1), &st,
	    &error);
	assert_int_equal(rc, MSTORE_EQUOTA);
	assert_int_equal(st.messages, 1);
	assert_true(st.refused_line > 1);
	assert_non_null(strstr(error, "over quota"));

	/* Not an mbox: nothing imported, the line named. */
	fputs("Subject: x\n\nbody\n\n", in);
	fflush(in);
	assert_int_equal(lseek(fileno(in), 0, SEEK_SET), 0);
	memset(&st, 0, sizeof(st));
	assert_int_equal(mstore_import_mbox(b, box(b, "INBOX"), 0, fileno(in), &st, &error),
	    MSTORE_EINVAL);
	assert_non_null(strstr(error, "line 1"));
	assert_int_equal(st.messages, 0);
	free(e1);
	fclose(f1);
	fclose(f2);
	fclose(in);
	mstore_account_close(&a);
	mstore_account_close(&b);
	mstore_close(&ms);
}

struct items {
	int n[MSTORE_CHECK_INDEX + 1];
	int repaired;
};

static void
item(const struct mstore_check_item *it, void *ctx)
{
	struct items *x = ctx;

	x->n[it->kind]++;
	x->repaired += it->repaired;
}

static void
test_check(void **state)
{
	char dir[256], path[512], blob[MSTORE_BLOB_ID_SIZE], blob2[MSTORE_BLOB_ID_SIZE], q[256];
	struct mstore *ms = fresh_store("check", dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_check_stats st;
	struct items x;
	const char *error = NULL;
	struct timeval old[2] = { { time(NULL) - 7200, 0 }, { time(NULL) - 7200, 0 } };
	FILE *f;

	(void)state;
	append(a, "INBOX", "Subject: one\r\n\r\n1\r\n", 0, blob);
	append(a, "INBOX", "Subject: two\r\n\r\n2\r\n", 0, blob2);
	memset(&x, 0, sizeof(x));
	assert_int_equal(mstore_check(dir, 0, 0, item, &x, &st, &error), 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.accounts, 1);
	assert_int_equal(st.rows, 2);
	assert_int_equal(st.files, 2);

	/* An old orphan, a young one, a count too high and one too low. */
	snprintf(path, sizeof(path), "%s/blobs/ab/cd/abcd%060d", dir, 0);
	snprintf(q, sizeof(q), "mkdir -p %s/blobs/ab/cd", dir);
	assert_int_equal(system(q), 0);
	assert_non_null(f = fopen(path, "w"));
	fputs("orphan", f);
	fclose(f);
	assert_int_equal(utimes(path, old), 0);
	snprintf(q, sizeof(q), "%s/blobs/ab/cd/abcd%060d", dir, 1);
	assert_non_null(f = fopen(q, "w"));
	fclose(f);
	snprintf(q, sizeof(q), "%s/store.db", dir);
	sql(q, "UPDATE blobs SET refs = refs + 2 WHERE id = (SELECT min(id) FROM blobs)");
	sql(q, "UPDATE blobs SET refs = 0 WHERE id = (SELECT max(id) FROM blobs)");

	memset(&x, 0, sizeof(x));
	assert_int_equal(mstore_check(dir, 0, 0, item, &x, &st, &error), 0);
	assert_int_equal(x.n[MSTORE_CHECK_ORPHAN], 1);
	assert_int_equal(x.n[MSTORE_CHECK_REFS], 2);
	assert_int_equal(st.unsettled, 1);
	assert_int_equal(x.repaired, 0);
	assert_int_equal(access(path, F_OK), 0);

	memset(&x, 0, sizeof(x));
	assert_int_equal(mstore_check(dir, 1, 0, item, &x, &st, &error), 0);
	assert_int_equal(x.repaired, 3);
	assert_int_equal(st.repaired, 3);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(mstore_blob_refs(ms, blob), 1);
	assert_int_equal(mstore_blob_refs(ms, blob2), 1);

	/* A missing blob: reported, never removed. */
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%.2s/%s", dir, blob, blob + 2, blob);
	assert_int_equal(unlink(path), 0);
	memset(&x, 0, sizeof(x));
	assert_int_equal(mstore_check(dir, 1, 0, item, &x, &st, &error), 0);
	assert_int_equal(x.n[MSTORE_CHECK_MISSING], 1);
	assert_int_equal(x.repaired, 0);
	assert_int_equal(mstore_blob_refs(ms, blob), 1);
	assert_int_equal(st.rows, 2);

	assert_int_equal(mstore_check("/nonexistent/store", 0, 0, item, &x, &st, &error),
	    MSTORE_ERR);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static int
remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_table),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_from_dates),
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_envelope_sender),
		cmocka_unit_test(test_purge),
		cmocka_unit_test(test_export_import),
		cmocka_unit_test(test_check),
	};
	int rc;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	setenv("TZ", "UTC", 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	remove_tmpdir();
	return rc;
}
