/* SPDX-License-Identifier: MIT */
/*
 * test_mstore - the mailbox store (store/mstore.h) in a temporary
 * directory: default mailboxes, append and fetch, flags and modseqs with
 * UNCHANGEDSINCE, expunge and VANISHED, copy and move with their UID
 * maps, usage and quotas, rename and UIDVALIDITY, one blob shared by
 * several accounts and its reference count down to the file's removal,
 * duplicate deliveries, a second handle seeing another's changes, and a
 * blob file lost after a crash put back by the next writer.
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
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "lib/mem.h"
#include "store/mstore.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char tmpdir[] = "/tmp/test_mstore.XXXXXX";
static int store_seq;

static struct mstore *
fresh_store(char *dir, size_t size)
{
	const char *error = NULL;
	struct mstore *ms;

	snprintf(dir, size, "%s/s%d", tmpdir, ++store_seq);
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

/* Store text as a blob with nrefs references; its id in blob (MSTORE_BLOB_ID_SIZE). */
static uint64_t
put_blob(struct mstore *ms, const char *text, unsigned int nrefs, char *blob)
{
	const char *error = NULL;
	struct mstore_blob_writer *w = mstore_blob_begin(ms, &error);
	uint64_t size = 0;

	if (w == NULL)
		fail_msg("blob_begin: %s", error);
	/* In pieces, so the writer's buffering is exercised. */
	for (size_t off = 0; off < strlen(text); off += 7) {
		size_t n = strlen(text) - off < 7 ? strlen(text) - off : 7;
		assert_int_equal(mstore_blob_write(w, text + off, n), 0);
	}
	if (mstore_blob_commit(&w, nrefs, blob, &size, &error) != 0)
		fail_msg("blob_commit: %s", error);
	assert_null(w);
	return size;
}

static int64_t
mbox_id(struct mstore_account *a, const char *name)
{
	struct mstore_mailbox mb;
	const char *error = NULL;

	if (mstore_mailbox_get(a, name, 0, &mb, &error) != 0)
		fail_msg("mailbox %s: %s", name, error);
	return mb.id;
}

static struct mstore_mailbox
mbox(struct mstore_account *a, const char *name)
{
	struct mstore_mailbox mb;
	const char *error = NULL;

	if (mstore_mailbox_get(a, name, 0, &mb, &error) != 0)
		fail_msg("mailbox %s: %s", name, error);
	return mb;
}

/* Append text into name; its UID. */
static uint32_t
deliver(struct mstore *ms, struct mstore_account *a, const char *name, const char *text,
    unsigned int flags, const char *keywords)
{
	struct mstore_append in;
	char blob[MSTORE_BLOB_ID_SIZE];
	const char *error = NULL;
	uint32_t uid = 0;
	uint64_t modseq = 0;

	memset(&in, 0, sizeof(in));
	in.size = put_blob(ms, text, 1, blob);
	in.blob = blob;
	in.flags = flags;
	in.keywords = keywords;
	if (mstore_append(a, mbox_id(a, name), &in, &uid, &modseq, &error) != 0)
		fail_msg("append: %s", error);
	assert_true(uid > 0);
	assert_true(modseq > 1);
	return uid;
}

struct collected {
	uint32_t uids[64];
	unsigned int flags[64];
	char keywords[64][128];
	uint64_t modseqs[64];
	char blobs[64][MSTORE_BLOB_ID_SIZE];
	int failed[64];
	size_t n;
};

static int
collect_msg(const struct mstore_msg *m, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->n < N_ELEMENTS(c->uids));
	c->uids[c->n] = m->uid;
	c->flags[c->n] = m->flags;
	c->modseqs[c->n] = m->modseq;
	str_copy(c->keywords[c->n], m->keywords, sizeof(c->keywords[0]));
	str_copy(c->blobs[c->n], m->blob, sizeof(c->blobs[0]));
	c->n++;
	return 0;
}

static void
collect_stored(const struct mstore_msg *m, int failed, void *ctx)
{
	struct collected *c = ctx;

	collect_msg(m, ctx);
	c->failed[c->n - 1] = failed;
}

static void
collect_uid(uint32_t uid, void *ctx)
{
	struct collected *c = ctx;

	c->uids[c->n++] = uid;
}

static int
collect_vanished(uint32_t uid, uint64_t modseq, void *ctx)
{
	struct collected *c = ctx;

	c->uids[c->n] = uid;
	c->modseqs[c->n] = modseq;
	c->n++;
	return 0;
}

static struct collected
messages(struct mstore_account *a, const char *name)
{
	struct collected c;
	const char *error = NULL;

	memset(&c, 0, sizeof(c));
	if (mstore_messages(a, mbox_id(a, name), NULL, 0, collect_msg, &c, &error) != 0)
		fail_msg("messages: %s", error);
	return c;
}

static int
file_exists(const char *dir, const char *blob)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/blobs/%.2s/%.2s/%s", dir, blob, blob + 2, blob);
	return stat(path, &sb) == 0;
}

static int
list_names(const struct mstore_mailbox *mb, void *ctx)
{
	char *out = ctx;
	const char *use = mstore_special_str(mb->special_use);

	snprintf(out + strlen(out), 512 - strlen(out), "%s%s%s%s;", mb->name, use ? "=" : "",
	    use ? use : "", mb->subscribed ? "+" : "");
	return 0;
}

static void
test_open_defaults(void **state)
{
	char dir[256], names[512] = "", path[4096];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "Alice@Example.org");
	const char *error = NULL;
	int status = 0;

	assert_string_equal(mstore_account_name(a), "alice@example.org");
	assert_int_equal(mstore_mailbox_list(a, list_names, names, &error), 0);
	assert_string_equal(names, "INBOX+;Drafts=\\Drafts+;Junk=\\Junk+;Sent=\\Sent+;"
	    "Trash=\\Trash+;");
	/* Each mailbox has its own UIDVALIDITY, and uidnext starts at 1. */
	assert_int_not_equal(mbox(a, "INBOX").uidvalidity, mbox(a, "Sent").uidvalidity);
	assert_int_equal(mbox(a, "inbox").uidnext, 1);
	assert_int_equal(mbox(a, "INBOX").highestmodseq, 1);
	mstore_account_close(&a);
	assert_null(a);

	/* The files, with the address lower-cased and escaped. */
	snprintf(path, sizeof(path), "%s/accounts/example.org/alice/index.db", dir);
	assert_int_equal(access(path, F_OK), 0);
	assert_string_equal(mstore_account_path(ms, "Alice@example.org"), path);
	snprintf(path, sizeof(path), "%s/accounts/example.org/%%2E.%%2Fx/index.db", dir);
	assert_string_equal(mstore_account_path(ms, "../x@example.org"), path);
	snprintf(path, sizeof(path), "%s/accounts/%%2E./a%%2Fb/index.db", dir);
	assert_string_equal(mstore_account_path(ms, "a/b@.."), path);
	assert_null(mstore_account_path(ms, "no-at-sign"));
	assert_null(mstore_account_path(ms, "@example.org"));

	/* Without create: a missing index is ENOTFOUND; a bad name EINVAL. */
	assert_null(mstore_account_open(ms, "bob@example.org", 0, &status, &error));
	assert_int_equal(status, MSTORE_ENOTFOUND);
	assert_non_null(strstr(error, "bob@example.org"));
	assert_null(mstore_account_open(ms, "nobody", 1, &status, &error));
	assert_int_equal(status, MSTORE_EINVAL);

	/* Reopening finds the same mailboxes, not a second set. */
	a = account(ms, "alice@example.org");
	names[0] = '\0';
	assert_int_equal(mstore_mailbox_list(a, list_names, names, &error), 0);
	assert_int_equal(strlen(names), strlen("INBOX+;Drafts=\\Drafts+;Junk=\\Junk+;Sent=\\Sent+;"
	    "Trash=\\Trash+;"));
	mstore_account_close(&a);
	mstore_close(&ms);
	assert_null(ms);

	/* A relative directory is refused. */
	assert_null(mstore_open("relative/store", &error));
	assert_non_null(strstr(error, "absolute"));
}

static void
test_append_fetch(void **state)
{
	static const char text[] = "Return-Path: <a@b.example>\r\nSubject: hi\r\n\r\nbody\r\n";
	char dir[256], buf[256];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_mailbox mb;
	struct collected c;
	const char *error = NULL;
	uint64_t size, bytes, count;
	uint32_t uid1, uid2;
	int fd;

	uid1 = deliver(ms, a, "INBOX", text, 0, NULL);
	uid2 = deliver(ms, a, "INBOX", "second\r\n", MSTORE_F_SEEN | MSTORE_F_FLAGGED, "$Junk work");
	assert_int_equal(uid1, 1);
	assert_int_equal(uid2, 2);
	mb = mbox(a, "INBOX");
	assert_int_equal(mb.messages, 2);
	assert_int_equal(mb.unseen, 1);
	assert_int_equal(mb.uidnext, 3);
	assert_int_equal(mb.size, strlen(text) + 8);
	assert_int_equal(mb.highestmodseq, 3);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(bytes, strlen(text) + 8);
	assert_int_equal(count, 2);

	c = messages(a, "INBOX");
	assert_int_equal(c.n, 2);
	assert_int_equal(c.uids[0], 1);
	assert_int_equal(c.flags[0], 0);
	assert_int_equal(c.modseqs[0], 2);
	assert_int_equal(c.flags[1], MSTORE_F_SEEN | MSTORE_F_FLAGGED);
	assert_string_equal(c.keywords[1], "$Junk work");

	/* The bytes come back as they went in. */
	fd = mstore_blob_open(ms, c.blobs[0], &size, &error);
	assert_true(fd >= 0);
	assert_int_equal(size, strlen(text));
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)strlen(text));
	assert_memory_equal(buf, text, strlen(text));
	close(fd);
	assert_int_equal(mstore_blob_refs(ms, c.blobs[0]), 1);

	/* UID ranges, in any order, overlapping. */
	{
		struct mstore_range set[] = { { 2, 2 }, { 1, 1 }, { 2, 5 } };
		memset(&c, 0, sizeof(c));
		assert_int_equal(mstore_messages(a, mb.id, set, 3, collect_msg, &c, &error), 0);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.uids[0], 1);
		assert_int_equal(c.uids[1], 2);
		set[0].lo = 3;
		set[0].hi = UINT32_MAX;
		memset(&c, 0, sizeof(c));
		assert_int_equal(mstore_messages(a, mb.id, set, 1, collect_msg, &c, &error), 0);
		assert_int_equal(c.n, 0);
	}

	/* An unknown mailbox, a bad blob id, a bad keyword. */
	{
		struct mstore_append in;
		char blob[MSTORE_BLOB_ID_SIZE];
		memset(&in, 0, sizeof(in));
		in.size = put_blob(ms, "x\r\n", 1, blob);
		in.blob = blob;
		assert_int_equal(mstore_append(a, 999, &in, NULL, NULL, &error), MSTORE_ENOTFOUND);
		/* The reference was given back: the blob is gone. */
		assert_int_equal(mstore_blob_refs(ms, blob), 0);
		assert_false(file_exists(dir, blob));
		in.blob = "not-a-blob";
		assert_int_equal(mstore_append(a, mb.id, &in, NULL, NULL, &error), MSTORE_EINVAL);
		in.size = put_blob(ms, "x\r\n", 1, blob);
		in.blob = blob;
		in.keywords = "ok \\Seen";
		assert_int_equal(mstore_append(a, mb.id, &in, NULL, NULL, &error), MSTORE_EINVAL);
		assert_int_equal(mstore_blob_refs(ms, blob), 0);
	}
	assert_int_equal(mstore_blob_open(ms, "0123", &size, &error), -1);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_blob_sharing(void **state)
{
	static const char text[] = "Subject: to everyone\r\n\r\nshared\r\n";
	static const char *const users[] = { "a@example.org", "b@example.org", "c@example.net" };
	char dir[256], blob[MSTORE_BLOB_ID_SIZE], again[MSTORE_BLOB_ID_SIZE];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *acct[3];
	struct collected c;
	const char *error = NULL;
	uint64_t size;

	/* One blob, three references: as lmtpd stores a message for three recipients. */
	size = put_blob(ms, text, 3, blob);
	assert_int_equal(size, strlen(text));
	assert_true(file_exists(dir, blob));
	for (int i = 0; i < 3; i++) {
		struct mstore_append in;
		acct[i] = account(ms, users[i]);
		memset(&in, 0, sizeof(in));
		in.blob = blob;
		in.size = size;
		in.delivered_to = users[i];
		assert_int_equal(mstore_append(acct[i], mbox_id(acct[i], "INBOX"), &in, NULL, NULL,
		    &error), 0);
	}
	assert_int_equal(mstore_blob_refs(ms, blob), 3);
	/* The same bytes again are the same blob, not a second file. */
	put_blob(ms, text, 1, again);
	assert_string_equal(again, blob);
	assert_int_equal(mstore_blob_refs(ms, blob), 4);
	assert_int_equal(mstore_blob_unref(ms, blob, 1, &error), 0);
	assert_int_equal(mstore_blob_refs(ms, blob), 3);

	/* Expunged from one account: one reference less, the file stays. */
	assert_int_equal(mstore_flags_store(acct[0], mbox_id(acct[0], "INBOX"), NULL, 0,
	    MSTORE_FLAGS_ADD, MSTORE_F_DELETED, NULL, 0, NULL, NULL, NULL, &error), 0);
	assert_int_equal(mstore_expunge(acct[0], mbox_id(acct[0], "INBOX"), NULL, 0, NULL, NULL,
	    &error), 0);
	assert_int_equal(mstore_blob_refs(ms, blob), 2);
	assert_true(file_exists(dir, blob));
	/* Copied within another: one more. */
	{
		struct mstore_uidmap map;
		assert_int_equal(mstore_copy(acct[1], mbox_id(acct[1], "INBOX"), NULL, 0,
		    mbox_id(acct[1], "Trash"), 0, &map, &error), 0);
		assert_int_equal(map.n, 1);
		mstore_uidmap_free(&map);
	}
	assert_int_equal(mstore_blob_refs(ms, blob), 3);
	/* Mailboxes deleted with their messages, and the last expunge: the file goes. */
	assert_int_equal(mstore_mailbox_delete(acct[1], "Trash", &error), 0);
	assert_int_equal(mstore_blob_refs(ms, blob), 2);
	assert_int_equal(mstore_mailbox_create(acct[1], "Old", MSTORE_SPECIAL_NONE, &error), 0);
	{
		struct mstore_uidmap map;
		assert_int_equal(mstore_move(acct[1], mbox_id(acct[1], "INBOX"), NULL, 0,
		    mbox_id(acct[1], "Old"), &map, &error), 0);
		mstore_uidmap_free(&map);
	}
	/* A move does not change the count. */
	assert_int_equal(mstore_blob_refs(ms, blob), 2);
	assert_int_equal(mstore_mailbox_delete(acct[1], "Old", &error), 0);
	assert_int_equal(mstore_blob_refs(ms, blob), 1);
	c = messages(acct[2], "INBOX");
	assert_int_equal(c.n, 1);
	assert_int_equal(mstore_flags_store(acct[2], mbox_id(acct[2], "INBOX"), NULL, 0,
	    MSTORE_FLAGS_SET, MSTORE_F_DELETED, NULL, 0, NULL, NULL, NULL, &error), 0);
	assert_int_equal(mstore_expunge(acct[2], mbox_id(acct[2], "INBOX"), NULL, 0, NULL, NULL,
	    &error), 0);
	assert_int_equal(mstore_blob_refs(ms, blob), 0);
	assert_false(file_exists(dir, blob));
	assert_int_equal(mstore_blob_unref(ms, blob, 1, &error), MSTORE_ENOTFOUND);
	assert_int_equal(mstore_blob_ref(ms, blob, 1, &error), MSTORE_ENOTFOUND);
	for (int i = 0; i < 3; i++)
		mstore_account_close(&acct[i]);
	mstore_close(&ms);
}

static void
test_flags_modseq(void **state)
{
	char dir[256];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_range one = { 1, 1 }, two = { 2, 2 }, all = { 1, UINT32_MAX };
	struct collected c;
	const char *error = NULL;
	uint64_t modseq, before;
	int64_t id;

	for (int i = 0; i < 3; i++)
		deliver(ms, a, "INBOX", i == 0 ? "one\r\n" : i == 1 ? "two\r\n" : "three\r\n", 0, NULL);
	id = mbox_id(a, "INBOX");
	before = mbox(a, "INBOX").highestmodseq;
	assert_int_equal(before, 4);

	/* \Seen on one: one new modseq, unseen counts down. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_flags_store(a, id, &one, 1, MSTORE_FLAGS_ADD, MSTORE_F_SEEN, NULL, 0,
	    collect_stored, &c, &modseq, &error), 0);
	assert_int_equal(modseq, before + 1);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.uids[0], 1);
	assert_int_equal(c.flags[0], MSTORE_F_SEEN);
	assert_int_equal(c.modseqs[0], modseq);
	assert_int_equal(mbox(a, "INBOX").unseen, 2);
	assert_int_equal(mbox(a, "INBOX").highestmodseq, modseq);

	/* The same again changes nothing: no new modseq, nobody reported. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_flags_store(a, id, &one, 1, MSTORE_FLAGS_ADD, MSTORE_F_SEEN, NULL, 0,
	    collect_stored, &c, &modseq, &error), 0);
	assert_int_equal(modseq, 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(mbox(a, "INBOX").highestmodseq, before + 1);

	/* All at once share one modseq. */
	assert_int_equal(mstore_flags_store(a, id, &all, 1, MSTORE_FLAGS_ADD, MSTORE_F_FLAGGED,
	    "$label1 Work", 0, NULL, NULL, &modseq, &error), 0);
	assert_int_equal(modseq, before + 2);
	c = messages(a, "INBOX");
	for (size_t i = 0; i < c.n; i++) {
		assert_int_equal(c.modseqs[i], modseq);
		assert_true(c.flags[i] & MSTORE_F_FLAGGED);
		assert_string_equal(c.keywords[i], "$label1 Work");
	}
	/* Keywords: added once (case-insensitive), removed, replaced. */
	assert_int_equal(mstore_flags_store(a, id, &one, 1, MSTORE_FLAGS_ADD, 0, "work Other", 0,
	    NULL, NULL, &modseq, &error), 0);
	c = messages(a, "INBOX");
	assert_string_equal(c.keywords[0], "$label1 Work Other");
	assert_int_equal(mstore_flags_store(a, id, &one, 1, MSTORE_FLAGS_REMOVE, MSTORE_F_FLAGGED,
	    "WORK", 0, NULL, NULL, &modseq, &error), 0);
	c = messages(a, "INBOX");
	assert_string_equal(c.keywords[0], "$label1 Other");
	assert_int_equal(c.flags[0], MSTORE_F_SEEN);
	assert_int_equal(mstore_flags_store(a, id, &one, 1, MSTORE_FLAGS_SET, MSTORE_F_ANSWERED,
	    NULL, 0, NULL, NULL, &modseq, &error), 0);
	c = messages(a, "INBOX");
	assert_string_equal(c.keywords[0], "");
	assert_int_equal(c.flags[0], MSTORE_F_ANSWERED);
	assert_int_equal(mbox(a, "INBOX").unseen, 3);
	assert_int_equal(mstore_flags_store(a, id, &one, 1, MSTORE_FLAGS_ADD, 0, "bad(word", 0, NULL,
	    NULL, &modseq, &error), MSTORE_EINVAL);

	/* UNCHANGEDSINCE: message 1 changed after it, message 2 did not. */
	c = messages(a, "INBOX");
	{
		uint64_t since = c.modseqs[1];
		struct mstore_range both[] = { one, two };
		assert_true(c.modseqs[0] > since);
		memset(&c, 0, sizeof(c));
		assert_int_equal(mstore_flags_store(a, id, both, 2, MSTORE_FLAGS_ADD, MSTORE_F_DRAFT,
		    NULL, since, collect_stored, &c, &modseq, &error), 0);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.uids[0], 1);
		assert_int_equal(c.failed[0], 1);
		assert_false(c.flags[0] & MSTORE_F_DRAFT);
		assert_int_equal(c.uids[1], 2);
		assert_int_equal(c.failed[1], 0);
		assert_true(c.flags[1] & MSTORE_F_DRAFT);
	}
	/* Changes since a modseq: just what moved after it. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_changes(a, id, modseq - 1, collect_msg, NULL, &c, &error), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.uids[0], 2);
	assert_int_equal(mstore_flags_store(a, 4242, &one, 1, MSTORE_FLAGS_ADD, MSTORE_F_SEEN, NULL,
	    0, NULL, NULL, &modseq, &error), MSTORE_ENOTFOUND);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_expunge(void **state)
{
	char dir[256];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_range odd[] = { { 1, 1 }, { 3, 3 }, { 5, 5 } }, upto3 = { 1, 3 };
	struct collected c;
	const char *error = NULL;
	uint64_t bytes, count, hms;
	int64_t id;

	for (int i = 0; i < 5; i++) {
		char text[32];
		snprintf(text, sizeof(text), "message %d\r\n", i + 1);
		deliver(ms, a, "INBOX", text, 0, NULL);
	}
	id = mbox_id(a, "INBOX");
	hms = mbox(a, "INBOX").highestmodseq;
	/* Nothing \Deleted: nothing expunged, no new modseq. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_expunge(a, id, NULL, 0, collect_uid, &c, &error), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(mbox(a, "INBOX").highestmodseq, hms);

	assert_int_equal(mstore_flags_store(a, id, odd, 3, MSTORE_FLAGS_ADD, MSTORE_F_DELETED, NULL,
	    0, NULL, NULL, NULL, &error), 0);
	/* UID EXPUNGE 1:3 takes only the \Deleted ones in it. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_expunge(a, id, &upto3, 1, collect_uid, &c, &error), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.uids[0], 1);
	assert_int_equal(c.uids[1], 3);
	assert_int_equal(mbox(a, "INBOX").messages, 3);
	assert_int_equal(mbox(a, "INBOX").unseen, 3);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(count, 3);
	assert_int_equal(bytes, 3 * strlen("message 1\r\n"));
	/* Then the rest. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_expunge(a, id, NULL, 0, collect_uid, &c, &error), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.uids[0], 5);

	/* VANISHED since hms: 1, 3 and 5, the last one later. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_changes(a, id, hms, NULL, collect_vanished, &c, &error), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.uids[0], 1);
	assert_int_equal(c.uids[2], 5);
	assert_true(c.modseqs[2] > c.modseqs[0]);
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_changes(a, id, mbox(a, "INBOX").highestmodseq, collect_msg,
	    collect_vanished, &c, &error), 0);
	assert_int_equal(c.n, 0);
	/* UIDs are not reused. */
	assert_int_equal(deliver(ms, a, "INBOX", "six\r\n", 0, NULL), 6);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_copy_move(void **state)
{
	char dir[256];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_range set[] = { { 2, 3 } };
	struct mstore_uidmap map;
	struct collected c;
	const char *error = NULL;
	uint64_t bytes, count;
	int64_t inbox, trash;

	deliver(ms, a, "INBOX", "one\r\n", 0, NULL);
	deliver(ms, a, "INBOX", "two\r\n", MSTORE_F_SEEN, "tag");
	deliver(ms, a, "INBOX", "three\r\n", 0, NULL);
	deliver(ms, a, "Trash", "old\r\n", 0, NULL);
	inbox = mbox_id(a, "INBOX");
	trash = mbox_id(a, "Trash");

	assert_int_equal(mstore_copy(a, inbox, set, 1, trash, 0, &map, &error), 0);
	assert_int_equal(map.n, 2);
	assert_int_equal(map.src[0], 2);
	assert_int_equal(map.dst[0], 2);
	assert_int_equal(map.src[1], 3);
	assert_int_equal(map.dst[1], 3);
	assert_int_equal(map.uidvalidity, mbox(a, "Trash").uidvalidity);
	mstore_uidmap_free(&map);
	c = messages(a, "Trash");
	assert_int_equal(c.n, 3);
	assert_int_equal(c.flags[1], MSTORE_F_SEEN);
	assert_string_equal(c.keywords[1], "tag");
	assert_int_equal(mstore_blob_refs(ms, c.blobs[1]), 2);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(count, 6);
	assert_int_equal(mbox(a, "Trash").unseen, 2);

	/* A copy beyond the quota copies nothing. */
	assert_int_equal(mstore_copy(a, inbox, NULL, 0, trash, bytes + 5, &map, &error),
	    MSTORE_EQUOTA);
	assert_int_equal(map.n, 0);
	assert_int_equal(mbox(a, "Trash").messages, 3);
	assert_int_equal(mstore_blob_refs(ms, c.blobs[1]), 2);

	/* Move: the usage stays, the sources vanish, UIDs continue in the target. */
	assert_int_equal(mstore_move(a, inbox, set, 1, trash, &map, &error), 0);
	assert_int_equal(map.n, 2);
	assert_int_equal(map.dst[0], 4);
	assert_int_equal(map.dst[1], 5);
	mstore_uidmap_free(&map);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(count, 6);
	assert_int_equal(mbox(a, "INBOX").messages, 1);
	assert_int_equal(mbox(a, "INBOX").unseen, 1);
	assert_int_equal(mbox(a, "Trash").messages, 5);
	assert_int_equal(mbox(a, "Trash").unseen, 3);
	memset(&c, 0, sizeof(c));
	assert_int_equal(mstore_changes(a, inbox, 1, NULL, collect_vanished, &c, &error), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.uids[0], 2);
	assert_int_equal(mstore_move(a, inbox, NULL, 0, inbox, &map, &error), MSTORE_EINVAL);
	assert_int_equal(mstore_copy(a, inbox, NULL, 0, 777, 0, &map, &error), MSTORE_ENOTFOUND);
	/* A copy into the same mailbox is allowed. */
	assert_int_equal(mstore_copy(a, trash, NULL, 0, trash, 0, &map, &error), 0);
	assert_int_equal(map.n, 5);
	mstore_uidmap_free(&map);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_usage_quota(void **state)
{
	char dir[256], blob[MSTORE_BLOB_ID_SIZE], path[4096];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_append in;
	const char *error = NULL;
	uint64_t bytes, count;
	sqlite3 *db;

	deliver(ms, a, "INBOX", "0123456789\r\n", 0, NULL);
	memset(&in, 0, sizeof(in));
	in.size = put_blob(ms, "abcdefghij\r\n", 1, blob);
	in.blob = blob;
	/* 12 + 12 > 23: refused, the reference given back. */
	in.quota = 23;
	assert_int_equal(mstore_append(a, mbox_id(a, "INBOX"), &in, NULL, NULL, &error),
	    MSTORE_EQUOTA);
	assert_int_equal(mstore_blob_refs(ms, blob), 0);
	in.size = put_blob(ms, "abcdefghij\r\n", 1, blob);
	in.quota = 24;
	assert_int_equal(mstore_append(a, mbox_id(a, "INBOX"), &in, NULL, NULL, &error), 0);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(bytes, 24);

	/* Counters damaged behind its back: recalc puts them right. */
	snprintf(path, sizeof(path), "%s", mstore_account_path(ms, "alice@example.org"));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE usage SET bytes = 999, messages = 7;"
	    "UPDATE mailboxes SET messages = 0, unseen = 5, bytes = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(bytes, 999);
	assert_int_equal(mstore_usage_recalc(a, &error), 0);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(bytes, 24);
	assert_int_equal(count, 2);
	assert_int_equal(mbox(a, "INBOX").messages, 2);
	assert_int_equal(mbox(a, "INBOX").unseen, 2);
	assert_int_equal(mbox(a, "INBOX").size, 24);
	assert_int_equal(mbox(a, "Sent").messages, 0);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_mailboxes(void **state)
{
	char dir[256], names[512] = "", norm[MSTORE_NAME_MAX];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_mailbox before, after;
	const char *error = NULL;
	static const char *const bad[] = {
		"", "/lead", "trail/", "two//slashes", "ctl\x01", "bad\xff utf8", "\xc0\xaf",
	};

	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		assert_int_equal(mstore_mailbox_name_check(bad[i], norm, sizeof(norm)), MSTORE_EINVAL);
		assert_int_equal(mstore_mailbox_create(a, bad[i], MSTORE_SPECIAL_NONE, &error),
		    MSTORE_EINVAL);
	}
	assert_int_equal(mstore_mailbox_name_check("inbox/Sub", norm, sizeof(norm)), 0);
	assert_string_equal(norm, "INBOX/Sub");
	assert_int_equal(mstore_mailbox_name_check("Inboxes", norm, sizeof(norm)), 0);
	assert_string_equal(norm, "Inboxes");

	assert_int_equal(mstore_mailbox_create(a, "Projets", MSTORE_SPECIAL_NONE, &error), 0);
	assert_int_equal(mstore_mailbox_create(a, "Projets/Été", MSTORE_SPECIAL_NONE, &error), 0);
	assert_int_equal(mstore_mailbox_create(a, "Projets/Été/2025", MSTORE_SPECIAL_NONE, &error),
	    0);
	assert_int_equal(mstore_mailbox_create(a, "projets", MSTORE_SPECIAL_NONE, &error), 0);
	assert_int_equal(mstore_mailbox_create(a, "Projets", MSTORE_SPECIAL_NONE, &error),
	    MSTORE_EEXISTS);
	assert_int_equal(mstore_mailbox_create(a, "inbox", MSTORE_SPECIAL_NONE, &error),
	    MSTORE_EEXISTS);
	deliver(ms, a, "Projets/Été", "été\r\n", 0, NULL);
	before = mbox(a, "Projets/Été");

	/* Rename carries the children along, keeping ids and UIDVALIDITY. */
	assert_int_equal(mstore_mailbox_rename(a, "Projets", "Archives/Projets", &error), 0);
	after = mbox(a, "Archives/Projets/Été");
	assert_int_equal(after.id, before.id);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.messages, 1);
	mbox(a, "Archives/Projets/Été/2025");
	assert_int_equal(mstore_mailbox_get(a, "Projets/Été", 0, &after, &error), MSTORE_ENOTFOUND);
	/* "projets" is not a child of "Projets". */
	mbox(a, "projets");
	assert_int_equal(mstore_mailbox_rename(a, "Archives", "X", &error), MSTORE_ENOTFOUND);
	assert_int_equal(mstore_mailbox_rename(a, "projets", "Sent", &error), MSTORE_EEXISTS);
	assert_int_equal(mstore_mailbox_rename(a, "projets", "INBOX", &error), MSTORE_EEXISTS);
	assert_int_equal(mstore_mailbox_rename(a, "projets", "projets/sub", &error), MSTORE_EINVAL);
	/* A child's new name taken: nothing renamed. */
	assert_int_equal(mstore_mailbox_create(a, "New", MSTORE_SPECIAL_NONE, &error), 0);
	assert_int_equal(mstore_mailbox_create(a, "New/Été", MSTORE_SPECIAL_NONE, &error), 0);
	assert_int_equal(mstore_mailbox_rename(a, "Archives/Projets", "New", &error), MSTORE_EEXISTS);
	assert_int_equal(mstore_mailbox_delete(a, "New", &error), 0);
	assert_int_equal(mstore_mailbox_rename(a, "Archives/Projets", "New", &error), MSTORE_EEXISTS);
	assert_int_equal(mstore_mailbox_delete(a, "New/Été", &error), 0);
	assert_int_equal(mstore_mailbox_rename(a, "Archives/Projets", "New", &error), 0);
	assert_int_equal(mbox(a, "New/Été").id, before.id);

	/* Deleted and created again: a new UIDVALIDITY. */
	before = mbox(a, "projets");
	assert_int_equal(mstore_mailbox_delete(a, "projets", &error), 0);
	assert_int_equal(mstore_mailbox_delete(a, "projets", &error), MSTORE_ENOTFOUND);
	assert_int_equal(mstore_mailbox_create(a, "projets", MSTORE_SPECIAL_NONE, &error), 0);
	after = mbox(a, "projets");
	assert_int_not_equal(after.uidvalidity, before.uidvalidity);
	assert_true(after.uidvalidity > before.uidvalidity);
	assert_int_equal(mstore_mailbox_delete(a, "INBOX", &error), MSTORE_EINVAL);

	/* Renaming INBOX moves its messages; INBOX stays, empty. */
	deliver(ms, a, "INBOX", "in\r\n", 0, NULL);
	deliver(ms, a, "INBOX", "box\r\n", 0, NULL);
	before = mbox(a, "INBOX");
	assert_int_equal(mstore_mailbox_rename(a, "inbox", "Old INBOX", &error), 0);
	after = mbox(a, "INBOX");
	assert_int_equal(after.id, before.id);
	assert_int_equal(after.messages, 0);
	assert_int_equal(after.uidnext, before.uidnext);
	assert_int_equal(mbox(a, "Old INBOX").messages, 2);

	/* Subscriptions and special use. */
	assert_int_equal(mstore_mailbox_subscribe(a, "projets", 1, &error), 0);
	assert_int_equal(mstore_mailbox_subscribe(a, "Sent", 0, &error), 0);
	assert_int_equal(mstore_mailbox_subscribe(a, "nope", 1, &error), MSTORE_ENOTFOUND);
	assert_int_equal(mstore_mailbox_set_special(a, "Old INBOX", MSTORE_SPECIAL_ARCHIVE, &error),
	    0);
	assert_true(mbox(a, "projets").subscribed);
	assert_false(mbox(a, "Sent").subscribed);
	assert_int_equal(mbox(a, "Old INBOX").special_use, MSTORE_SPECIAL_ARCHIVE);
	assert_int_equal(mstore_special_parse("\\junk"), MSTORE_SPECIAL_JUNK);
	assert_int_equal(mstore_special_parse("\\Bogus"), -1);
	assert_int_equal(mstore_mailbox_list(a, list_names, names, &error), 0);
	assert_string_equal(names, "INBOX+;Drafts=\\Drafts+;Junk=\\Junk+;New;New/Été;"
	    "New/Été/2025;Old INBOX=\\Archive;Sent=\\Sent;Trash=\\Trash+;projets+;");
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_duplicate_delivery(void **state)
{
	char dir[256], blob[MSTORE_BLOB_ID_SIZE];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_append in;
	const char *error = NULL;
	uint32_t uid = 0, again = 0;

	memset(&in, 0, sizeof(in));
	in.size = put_blob(ms, "once\r\n", 2, blob);
	in.blob = blob;
	in.delivery_id = "4Xyz123ABC alice@example.org";
	assert_int_equal(mstore_append(a, mbox_id(a, "INBOX"), &in, &uid, NULL, &error), 0);
	/* The retry after a crash: the same id, not saved twice, its reference given back. */
	assert_int_equal(mstore_append(a, mbox_id(a, "INBOX"), &in, &again, NULL, &error),
	    MSTORE_DUPLICATE);
	assert_int_equal(again, uid);
	assert_int_equal(mbox(a, "INBOX").messages, 1);
	assert_int_equal(mstore_blob_refs(ms, blob), 1);
	/* Another recipient of the same message is another delivery. */
	in.size = put_blob(ms, "once\r\n", 1, blob);
	in.delivery_id = "4Xyz123ABC alice+tag@example.org";
	assert_int_equal(mstore_append(a, mbox_id(a, "INBOX"), &in, &uid, NULL, &error), 0);
	assert_int_equal(mbox(a, "INBOX").messages, 2);
	mstore_account_close(&a);
	mstore_close(&ms);
}

static void
test_two_handles(void **state)
{
	char dir[256];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore *ms2;
	struct mstore_account *a = account(ms, "alice@example.org"), *b;
	const char *error = NULL;

	/* A second store handle, as another process would have. */
	if ((ms2 = mstore_open(dir, &error)) == NULL)
		fail_msg("%s", error);
	b = account(ms2, "alice@example.org");
	assert_int_equal(mstore_account_changed(b), 0);
	deliver(ms, a, "INBOX", "from lmtpd\r\n", 0, NULL);
	/* The other handle notices, and sees the message at once. */
	assert_int_equal(mstore_account_changed(b), 1);
	assert_int_equal(mstore_account_changed(b), 0);
	assert_int_equal(mbox(b, "INBOX").messages, 1);
	/* Its own changes are not "another's". */
	assert_int_equal(mstore_flags_store(b, mbox_id(b, "INBOX"), NULL, 0, MSTORE_FLAGS_ADD,
	    MSTORE_F_SEEN, NULL, 0, NULL, NULL, NULL, &error), 0);
	assert_int_equal(mstore_account_changed(b), 0);
	assert_int_equal(mstore_account_changed(a), 1);
	assert_int_equal(mbox(a, "INBOX").unseen, 0);
	mstore_account_close(&b);
	mstore_account_close(&a);
	mstore_close(&ms2);
	mstore_close(&ms);
}

/* Files in the store's tmp/. */
static int
tmp_count(const char *dir)
{
	char cmd[512];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s/tmp' | wc -l", dir);
	if ((p = popen(cmd, "r")) != NULL) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void
test_lost_blob_restored(void **state)
{
	char dir[256], blob[MSTORE_BLOB_ID_SIZE], again[MSTORE_BLOB_ID_SIZE], path[4096];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	const char *error = NULL;
	uint64_t size;
	char buf[64];
	int fd;

	/*
	 * A crash after an unlink and before its commit leaves a count with
	 * no file: the next writer of the same bytes puts the file back.
	 */
	put_blob(ms, "precious\r\n", 1, blob);
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%.2s/%s", dir, blob, blob + 2, blob);
	assert_int_equal(unlink(path), 0);
	put_blob(ms, "precious\r\n", 1, again);
	assert_string_equal(again, blob);
	assert_int_equal(mstore_blob_refs(ms, blob), 2);
	fd = mstore_blob_open(ms, blob, &size, &error);
	assert_true(fd >= 0);
	assert_int_equal(size, 10);
	assert_int_equal(read(fd, buf, sizeof(buf)), 10);
	close(fd);
	/* An aborted writer leaves nothing behind. */
	{
		struct mstore_blob_writer *w = mstore_blob_begin(ms, &error);
		char tmp[4096];
		assert_non_null(w);
		assert_int_equal(mstore_blob_write(w, "junk", 4), 0);
		mstore_blob_abort(&w);
		assert_null(w);
		/* A writer that died leaves its file; the cleaning takes only old ones. */
		w = mstore_blob_begin(ms, &error);
		assert_non_null(w);
		assert_int_equal(tmp_count(dir), 1);
		assert_int_equal(mstore_tmp_clean(ms, 3600), 0);
		assert_int_equal(mstore_tmp_clean(ms, -1), 1);
		assert_int_equal(tmp_count(dir), 0);
		mstore_blob_abort(&w);
		snprintf(tmp, sizeof(tmp), "rmdir '%s/tmp'", dir);
		assert_int_equal(system(tmp), 0);
	}
	mstore_close(&ms);
}

static int
remove_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

static int
owner_seen(const char *owner, void *ctx)
{
	str_copy(ctx, owner, 320);
	return 0;
}

static int
count_entry(const char *identifier, const char *rights, void *ctx)
{
	(void)identifier;
	(void)rights;
	(*(int *)ctx)++;
	return 0;
}

/* ACL entries, rights of the owner, of "anyone", and store.db's shares following them. */
static void
test_acl(void **state)
{
	char dir[256], rights[MSTORE_ACL_SIZE], norm[MSTORE_ACL_SIZE], owner[320];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	const char *error = NULL;
	int64_t inbox = mbox_id(a, "INBOX"), sent = mbox_id(a, "Sent");
	int n = 0;

	assert_int_equal(mstore_acl_norm("rlc", norm), 0);
	assert_string_equal(norm, "lrk");
	assert_int_equal(mstore_acl_norm("d", norm), 0);
	assert_string_equal(norm, "xte");
	assert_int_equal(mstore_acl_norm("lrZ", norm), -1);
	assert_int_equal(mstore_acl_rights(a, inbox, "Alice@Example.org", rights, &error), 0);
	assert_string_equal(rights, MSTORE_ACL_RIGHTS);
	assert_int_equal(mstore_acl_rights(a, inbox, "bob@example.org", rights, &error), 0);
	assert_string_equal(rights, "");

	assert_int_equal(mstore_acl_set(a, inbox, "Bob@Example.org", "rl", &error), 0);
	assert_int_equal(mstore_acl_set(a, sent, "anyone", "lrs", &error), 0);
	assert_int_equal(mstore_acl_set(a, inbox, "alice@example.org", "l", &error), MSTORE_EINVAL);
	assert_int_equal(mstore_acl_set(a, inbox, "bob@example.org", "lq", &error), MSTORE_EINVAL);
	assert_int_equal(mstore_acl_set(a, 999, "bob@example.org", "l", &error), MSTORE_ENOTFOUND);
	assert_int_equal(mstore_acl_rights(a, inbox, "bob@example.org", rights, &error), 0);
	assert_string_equal(rights, "lr");
	/* + and - change the entry. */
	assert_int_equal(mstore_acl_set(a, inbox, "bob@example.org", "+ic", &error), 0);
	assert_int_equal(mstore_acl_rights(a, inbox, "bob@example.org", rights, &error), 0);
	assert_string_equal(rights, "lrik");
	assert_int_equal(mstore_acl_set(a, inbox, "bob@example.org", "-ik", &error), 0);
	assert_int_equal(mstore_acl_rights(a, inbox, "bob@example.org", rights, &error), 0);
	assert_string_equal(rights, "lr");
	assert_int_equal(mstore_acl_rights(a, sent, "carol@example.org", rights, &error), 0);
	assert_string_equal(rights, "lrs");
	owner[0] = '\0';
	assert_int_equal(mstore_shared_owners(ms, "bob@example.org", owner_seen, owner, &error), 0);
	assert_string_equal(owner, "alice@example.org");
	owner[0] = '\0';
	assert_int_equal(mstore_shared_owners(ms, "alice@example.org", owner_seen, owner, &error), 0);
	assert_string_equal(owner, "");

	/* RENAME keeps the entries, DELETE drops them; revoking drops the share. */
	assert_int_equal(mstore_mailbox_rename(a, "Sent", "Sent Items", &error), 0);
	assert_int_equal(mstore_acl_rights(a, sent, "carol@example.org", rights, &error), 0);
	assert_string_equal(rights, "lrs");
	assert_int_equal(mstore_mailbox_delete(a, "Sent Items", &error), 0);
	assert_int_equal(mstore_acl_list(a, sent, count_entry, &n, &error), 0);
	assert_int_equal(n, 0);
	assert_int_equal(mstore_acl_set(a, inbox, "bob@example.org", "", &error), 0);
	assert_int_equal(mstore_acl_set(a, inbox, "anyone", "", &error), 0);
	owner[0] = '\0';
	assert_int_equal(mstore_shared_owners(ms, "bob@example.org", owner_seen, owner, &error), 0);
	assert_string_equal(owner, "");
	mstore_account_close(&a);
	mstore_close(&ms);
}

/* COPY and MOVE between two accounts: blobs shared, quota of the target, sources expunged. */
static void
test_copy_across(void **state)
{
	char dir[256];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_account *b = account(ms, "bob@example.org");
	struct mstore_range set[] = { { 1, 2 } };
	struct mstore_uidmap map;
	struct collected c;
	const char *error = NULL;
	uint64_t bytes, count;

	deliver(ms, a, "INBOX", "one\r\n", MSTORE_F_SEEN | MSTORE_F_DELETED, NULL);
	deliver(ms, a, "INBOX", "two\r\n", 0, "kw");
	assert_int_equal(mstore_copy_across(a, mbox_id(a, "INBOX"), set, 1, b, mbox_id(b, "INBOX"),
	    3, 0, &map, &error), MSTORE_EQUOTA);
	assert_int_equal(mstore_copy_across(a, mbox_id(a, "INBOX"), set, 1, b, mbox_id(b, "INBOX"),
	    0, 0, &map, &error), 0);
	assert_int_equal(map.n, 2);
	mstore_uidmap_free(&map);
	c = messages(b, "INBOX");
	assert_int_equal(c.n, 2);
	assert_string_equal(c.keywords[1], "kw");
	assert_int_equal(mstore_blob_refs(ms, c.blobs[0]), 2);
	assert_int_equal(mstore_usage(b, &bytes, &count), 0);
	assert_int_equal(count, 2);
	/* Move: every message of the set goes, \Deleted or not. */
	assert_int_equal(mstore_copy_across(a, mbox_id(a, "INBOX"), set, 1, b, mbox_id(b, "Trash"),
	    0, 1, &map, &error), 0);
	assert_int_equal(map.n, 2);
	mstore_uidmap_free(&map);
	assert_int_equal(mbox(a, "INBOX").messages, 0);
	assert_int_equal(mbox(b, "Trash").messages, 2);
	assert_int_equal(mstore_usage(a, &bytes, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(mstore_blob_refs(ms, c.blobs[0]), 2);
	mstore_account_close(&a);
	mstore_account_close(&b);
	mstore_close(&ms);
}

/* An index and a store.db of version 1 get the version 2 tables when opened. */
static void
test_schema_upgrade(void **state)
{
	char dir[256], path[512], rights[MSTORE_ACL_SIZE];
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	const char *error = NULL;
	sqlite3 *db;

	deliver(ms, a, "INBOX", "kept\r\n", 0, NULL);
	str_copy(path, mstore_account_path(ms, "alice@example.org"), sizeof(path));
	mstore_account_close(&a);
	mstore_close(&ms);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE acl; DROP TABLE shared_subscriptions; "
	    "DROP TABLE headers; DROP INDEX messages_blob; PRAGMA user_version = 1", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE shares; PRAGMA user_version = 1", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);

	if ((ms = mstore_open(dir, &error)) == NULL)
		fail_msg("reopen: %s", error);
	a = account(ms, "alice@example.org");
	assert_int_equal(mbox(a, "INBOX").messages, 1);
	assert_int_equal(mstore_acl_set(a, mbox_id(a, "INBOX"), "bob@example.org", "lr", &error), 0);
	assert_int_equal(mstore_acl_rights(a, mbox_id(a, "INBOX"), "bob@example.org", rights, &error),
	    0);
	assert_string_equal(rights, "lr");
	assert_int_equal(mstore_shared_subscribe(a, "Shared/bob@example.org/INBOX", 1, &error), 0);
	assert_int_equal(mstore_shared_subscribed(a, "Shared/bob@example.org/INBOX"), 1);
	mstore_account_close(&a);
	mstore_close(&ms);
}

/* The header block cached at save, shared by copies, dropped with the last message. */
static void
test_header_cache(void **state)
{
	char dir[256], *hdr = NULL;
	struct mstore *ms = fresh_store(dir, sizeof(dir));
	struct mstore_account *a = account(ms, "alice@example.org");
	struct mstore_account *b = account(ms, "bob@example.org");
	struct mstore_range all[] = { { 1, UINT32_MAX } };
	struct mstore_uidmap map;
	struct collected c;
	const char *error = NULL;
	size_t len = 0;

	deliver(ms, a, "INBOX", "Subject: one\r\nFrom: x@y\r\n\r\nbody\r\n", 0, NULL);
	deliver(ms, a, "INBOX", "Subject: no body at all\r\n", 0, NULL);
	c = messages(a, "INBOX");
	assert_int_equal(mstore_headers(a, c.blobs[0], &hdr, &len), 1);
	assert_int_equal(len, strlen("Subject: one\r\nFrom: x@y\r\n\r\n"));
	assert_memory_equal(hdr, "Subject: one\r\nFrom: x@y\r\n\r\n", len);
	free(hdr);
	assert_int_equal(mstore_headers(a, c.blobs[1], &hdr, &len), 1);
	assert_string_equal(hdr, "Subject: no body at all\r\n");
	free(hdr);
	/* Across accounts the block comes along; the other account had none. */
	assert_int_equal(mstore_headers(b, c.blobs[0], &hdr, &len), 0);
	assert_int_equal(mstore_copy_across(a, mbox_id(a, "INBOX"), all, 1, b, mbox_id(b, "INBOX"),
	    0, 0, &map, &error), 0);
	mstore_uidmap_free(&map);
	assert_int_equal(mstore_headers(b, c.blobs[0], &hdr, &len), 1);
	free(hdr);
	/* A copy in the same account shares it: expunging one copy keeps it. */
	assert_int_equal(mstore_copy(a, mbox_id(a, "INBOX"), all, 1, mbox_id(a, "Trash"), 0, &map,
	    &error), 0);
	mstore_uidmap_free(&map);
	assert_int_equal(mstore_flags_store(a, mbox_id(a, "INBOX"), all, 1, MSTORE_FLAGS_ADD,
	    MSTORE_F_DELETED, NULL, 0, NULL, NULL, NULL, &error), 0);
	assert_int_equal(mstore_expunge(a, mbox_id(a, "INBOX"), NULL, 0, NULL, NULL, &error), 0);
	assert_int_equal(mstore_headers(a, c.blobs[0], &hdr, &len), 1);
	free(hdr);
	/* The last one goes: so does the block. */
	assert_int_equal(mstore_mailbox_delete(a, "Trash", &error), 0);
	assert_int_equal(mstore_headers(a, c.blobs[0], &hdr, &len), 0);
	assert_int_equal(mstore_headers(b, c.blobs[0], &hdr, &len), 1);
	free(hdr);
	mstore_account_close(&a);
	mstore_account_close(&b);
	mstore_close(&ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_defaults),
		cmocka_unit_test(test_append_fetch),
		cmocka_unit_test(test_blob_sharing),
		cmocka_unit_test(test_flags_modseq),
		cmocka_unit_test(test_expunge),
		cmocka_unit_test(test_copy_move),
		cmocka_unit_test(test_usage_quota),
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_duplicate_delivery),
		cmocka_unit_test(test_two_handles),
		cmocka_unit_test(test_lost_blob_restored),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_copy_across),
		cmocka_unit_test(test_schema_upgrade),
		cmocka_unit_test(test_header_cache),
	};
	int rc;

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (remove_tmpdir() != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return rc;
}
