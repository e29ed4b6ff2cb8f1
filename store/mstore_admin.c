/* SPDX-License-Identifier: MIT */
/*
 * mstore_admin - retention, mbox export and import, and the store check
 * (see mstore_admin.h).
 *
 * What mstore's calls can do goes through them (expunge, append, blob
 * writers).  Two things read the SQLite files directly, read-only: the
 * purge (a message's save time is not in mstore_msg) and the check (the
 * blob column of every index, and store.db's counts).  The check's
 * repairs of store.db take its write lock (BEGIN IMMEDIATE, mstore's
 * busy timeout) for one blob at a time, so lmtpd is never held up for
 * long and no writer changes a count between the check's look and its
 * change.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "store/mbox.h"
#include "store/mstore.h"
#include "store/mstore_admin.h"

#define BUSY_TIMEOUT_MS 5000
#define ERR_SIZE 1024
/* Messages expunged per mstore call: each is one short index transaction. */
#define PURGE_BATCH 500
#define READ_SIZE 65536

static char admin_err[ERR_SIZE];

static int seterr(const char **error_r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
seterr(const char **error_r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(admin_err, sizeof(admin_err), fmt, ap);
	va_end(ap);
	*error_r = admin_err;
	return code;
}

/* A read-only connection to an SQLite file of the store (never creates it). */
static sqlite3 *
db_open_ro(const char *path, const char **error_r)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		seterr(error_r, MSTORE_ERR, "%s: %s", path, db != NULL ? sqlite3_errmsg(db) :
		    "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	return db;
}

static int
blob_id_valid(const char *id)
{
	size_t n = 0;

	for (const char *p = id; *p != '\0'; p++, n++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return n == MSTORE_BLOB_ID_SIZE - 1;
}

/* ---- retention ---- */

struct purge_box {
	int64_t id;
	char name[MSTORE_NAME_MAX];
};

struct purge_boxes {
	struct purge_box *v;
	size_t n;
	int all;
};

static int
purge_box_add(const struct mstore_mailbox *mb, void *ctx)
{
	struct purge_boxes *b = ctx;

	if (!b->all && mb->special_use != MSTORE_SPECIAL_TRASH &&
	    mb->special_use != MSTORE_SPECIAL_JUNK)
		return 0;
	b->v = xrealloc(b->v, (b->n + 1) * sizeof(*b->v));
	b->v[b->n].id = mb->id;
	str_copy(b->v[b->n].name, mb->name, sizeof(b->v[b->n].name));
	b->n++;
	return 0;
}

struct purge_msgs {
	uint32_t *uid;
	uint64_t *size;
	size_t n, cap;
	/* of the batch being expunged */
	uint64_t messages, bytes;
	size_t lo, hi;
};

static void
purge_expunged(uint32_t uid, void *ctx)
{
	struct purge_msgs *m = ctx;
	size_t lo = m->lo, hi = m->hi;

	/* The batch's UIDs are sorted: find its size. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->uid[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	m->messages++;
	if (lo < m->hi && m->uid[lo] == uid)
		m->bytes += m->size[lo];
}

/* UIDs lo..hi of m as ranges (consecutive UIDs merged); their count. */
static size_t
purge_ranges(const struct purge_msgs *m, size_t lo, size_t hi, struct mstore_range *r)
{
	size_t n = 0;

	for (size_t i = lo; i < hi; i++) {
		if (n > 0 && r[n - 1].hi + 1 == m->uid[i]) {
			r[n - 1].hi = m->uid[i];
		} else {
			r[n].lo = r[n].hi = m->uid[i];
			n++;
		}
	}
	return n;
}

static int
purge_mailbox(struct mstore_account *acct, sqlite3 *db, const struct purge_box *box,
    int64_t cutoff, int dry_run, struct mstore_purge_stats *stats, const char **error_r)
{
	struct purge_msgs m;
	struct mstore_range r[PURGE_BATCH];
	sqlite3_stmt *st;
	int rc;

	memset(&m, 0, sizeof(m));
	/* Both dates: a message moved here today was saved today, whatever its date. */
	if (sqlite3_prepare_v2(db, "SELECT uid, size FROM messages WHERE mailbox_id = ?1 "
	    "AND max(saved, internaldate) < ?2 ORDER BY uid", -1, &st, NULL) != SQLITE_OK)
		return seterr(error_r, MSTORE_ERR, "%s: %s", mstore_account_name(acct),
		    sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, box->id);
	sqlite3_bind_int64(st, 2, cutoff);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (m.n == m.cap) {
			m.cap = m.cap == 0 ? 64 : 2 * m.cap;
			m.uid = xrealloc(m.uid, m.cap * sizeof(*m.uid));
			m.size = xrealloc(m.size, m.cap * sizeof(*m.size));
		}
		m.uid[m.n] = (uint32_t)sqlite3_column_int64(st, 0);
		m.size[m.n] = (uint64_t)sqlite3_column_int64(st, 1);
		m.n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(m.uid);
		free(m.size);
		return seterr(error_r, MSTORE_ERR, "%s: %s", mstore_account_name(acct),
		    sqlite3_errmsg(db));
	}
	stats->mailboxes++;
	if (dry_run) {
		stats->messages += m.n;
		for (size_t i = 0; i < m.n; i++)
			stats->bytes += m.size[i];
	}
	for (size_t lo = 0; !dry_run && lo < m.n; lo += PURGE_BATCH) {
		size_t hi = lo + PURGE_BATCH < m.n ? lo + PURGE_BATCH : m.n, nr;
		nr = purge_ranges(&m, lo, hi, r);
		m.lo = lo;
		m.hi = hi;
		m.messages = m.bytes = 0;
		/*
		 * mstore expunges \Deleted messages: mark them, then expunge
		 * exactly those UIDs.  One the user undeletes in between stays.
		 */
		if ((rc = mstore_flags_store(acct, box->id, r, nr, MSTORE_FLAGS_ADD, MSTORE_F_DELETED,
		    NULL, 0, NULL, NULL, NULL, error_r)) < 0 ||
		    (rc = mstore_expunge(acct, box->id, r, nr, purge_expunged, &m, error_r)) < 0) {
			free(m.uid);
			free(m.size);
			/* A mailbox deleted meanwhile has nothing left to purge. */
			return rc == MSTORE_ENOTFOUND ? 0 : rc;
		}
		stats->messages += m.messages;
		stats->bytes += m.bytes;
	}
	free(m.uid);
	free(m.size);
	return 0;
}

int
mstore_purge(struct mstore_account *acct, int days, int all_mailboxes, time_t now, int dry_run,
    struct mstore_purge_stats *stats, const char **error_r)
{
	struct purge_boxes boxes = { NULL, 0, all_mailboxes };
	const char *path;
	sqlite3 *db;
	int rc = 0;

	if (days <= 0)
		return seterr(error_r, MSTORE_EINVAL, "%s: no retention", mstore_account_name(acct));
	if ((path = mstore_account_path(mstore_account_store(acct), mstore_account_name(acct))) ==
	    NULL)
		return seterr(error_r, MSTORE_EINVAL, "%s: not an account address",
		    mstore_account_name(acct));
	if ((db = db_open_ro(path, error_r)) == NULL)
		return MSTORE_ERR;
	if ((rc = mstore_mailbox_list(acct, purge_box_add, &boxes, error_r)) < 0) {
		sqlite3_close(db);
		return rc;
	}
	for (size_t i = 0; i < boxes.n && rc == 0; i++)
		rc = purge_mailbox(acct, db, &boxes.v[i], (int64_t)now - (int64_t)days * 86400,
		    dry_run, stats, error_r);
	free(boxes.v);
	sqlite3_close(db);
	return rc;
}

/* ---- mbox export ---- */

struct export_ctx {
	struct mstore *ms;
	FILE *out;
	struct mstore_mbox_stats *stats;
	uint32_t first_bad;
	int write_failed;
};

static int
export_one(const struct mstore_msg *m, void *ctx)
{
	struct export_ctx *x = ctx;
	char sender[512];
	const char *error;
	uint64_t size;
	void *data = NULL;
	int fd, rc;

	if ((fd = mstore_blob_open(x->ms, m->blob, &size, &error)) < 0) {
		log_warnx("mbox export: uid %u: %s", m->uid, error);
		if (x->stats->unreadable++ == 0)
			x->first_bad = m->uid;
		return 0;
	}
	if (size > 0 && (data = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0)) ==
	    MAP_FAILED) {
		log_warn("mbox export: uid %u: cannot map its blob", m->uid);
		close(fd);
		if (x->stats->unreadable++ == 0)
			x->first_bad = m->uid;
		return 0;
	}
	mbox_envelope_sender(data, (size_t)size, sender, sizeof(sender));
	rc = mbox_write(x->out, sender, m->internaldate, m->flags, m->keywords, data, (size_t)size);
	if (data != NULL)
		munmap(data, (size_t)size);
	close(fd);
	if (rc < 0) {
		x->write_failed = errno != 0 ? errno : EIO;
		return 1;
	}
	x->stats->messages++;
	x->stats->bytes += size;
	return 0;
}

int
mstore_export_mbox(struct mstore_account *acct, int64_t mbox, FILE *out,
    struct mstore_mbox_stats *stats, const char **error_r)
{
	struct export_ctx x = { mstore_account_store(acct), out, stats, 0, 0 };
	unsigned long bad = stats->unreadable;
	int rc;

	errno = 0;
	rc = mstore_messages(acct, mbox, NULL, 0, export_one, &x, error_r);
	if (rc < 0)
		return rc;
	if (x.write_failed || fflush(out) != 0)
		return seterr(error_r, MSTORE_ERR, "cannot write the mbox: %s",
		    strerror(x.write_failed ? x.write_failed : errno));
	if (stats->unreadable > bad)
		return seterr(error_r, MSTORE_ERR, "%lu message%s could not be read (the first: "
		    "uid %u): left out", stats->unreadable - bad, stats->unreadable - bad == 1 ?
		    "" : "s", x.first_bad);
	return 0;
}

/* ---- mbox import ---- */

enum { STOP_QUOTA = 1, STOP_ERROR };

struct import_ctx {
	struct mstore_account *acct;
	int64_t mbox;
	uint64_t quota;
	struct mstore_mbox_stats *stats;
	struct mstore_blob_writer *w;
	int64_t date;
	int status;
	const char *error;
};

static int
import_begin(void *ctx, unsigned long line, int64_t date)
{
	struct import_ctx *x = ctx;

	(void)line;
	x->date = date;
	if ((x->w = mstore_blob_begin(mstore_account_store(x->acct), &x->error)) == NULL)
		return STOP_ERROR;
	return 0;
}

static int
import_data(void *ctx, const void *buf, size_t len)
{
	struct import_ctx *x = ctx;

	if (mstore_blob_write(x->w, buf, len) < 0) {
		/* commit says why */
		return 0;
	}
	return 0;
}

static int
import_end(void *ctx, const struct mbox_end *e)
{
	struct import_ctx *x = ctx;
	struct mstore_append a;
	char blob[MSTORE_BLOB_ID_SIZE];
	uint64_t size;
	int rc;

	if (!e->complete) {
		mstore_blob_abort(&x->w);
		x->stats->truncated_line = e->line;
		return 0;
	}
	if (mstore_blob_commit(&x->w, 1, blob, &size, &x->error) < 0)
		return STOP_ERROR;
	memset(&a, 0, sizeof(a));
	a.blob = blob;
	a.size = size;
	a.internaldate = x->date;	/* 0 (no date on the From line): now */
	a.flags = e->flags;
	a.keywords = e->keywords;
	a.quota = x->quota;
	rc = mstore_append(x->acct, x->mbox, &a, NULL, NULL, &x->error);
	if (rc == MSTORE_EQUOTA) {
		x->stats->refused_line = e->line;
		return STOP_QUOTA;
	}
	if (rc < 0) {
		x->status = rc;
		return STOP_ERROR;
	}
	x->stats->messages++;
	x->stats->bytes += size;
	return 0;
}

int
mstore_import_mbox(struct mstore_account *acct, int64_t mbox, uint64_t quota, int fd,
    struct mstore_mbox_stats *stats, const char **error_r)
{
	static const struct mbox_reader_cb cb = { import_begin, import_data, import_end };
	struct import_ctx x;
	struct mbox_reader *r;
	char *buf = xmalloc(READ_SIZE);
	ssize_t n;
	int rc = 0;

	memset(&x, 0, sizeof(x));
	x.acct = acct;
	x.mbox = mbox;
	x.quota = quota;
	x.stats = stats;
	x.status = MSTORE_ERR;
	r = mbox_reader_new(&cb, &x);
	for (;;) {
		n = read(fd, buf, READ_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = seterr(error_r, MSTORE_ERR, "cannot read the mbox: %s", strerror(errno));
			break;
		}
		rc = n == 0 ? mbox_reader_finish(r) : mbox_reader_feed(r, buf, (size_t)n);
		if (rc == -1) {
			rc = seterr(error_r, MSTORE_EINVAL, "%s", mbox_reader_error(r));
		} else if (rc == STOP_QUOTA) {
			rc = seterr(error_r, MSTORE_EQUOTA, "over quota: the message of line %lu "
			    "does not fit", stats->refused_line);
		} else if (rc == STOP_ERROR) {
			rc = seterr(error_r, x.status, "%s", x.error != NULL ? x.error : "error");
		} else if (rc == 0 && n == 0 && stats->truncated_line != 0) {
			rc = seterr(error_r, MSTORE_EINVAL, "the last message (line %lu) is "
			    "incomplete: the file ends inside it, without the empty line that ends "
			    "a message; it was not imported", stats->truncated_line);
		}
		if (rc != 0 || n == 0)
			break;
	}
	/* A message begun when the reading stopped. */
	if (x.w != NULL)
		mstore_blob_abort(&x.w);
	mbox_reader_free(&r);
	free(buf);
	return rc;
}

/* ---- check ---- */

struct suspect {
	char blob[MSTORE_BLOB_ID_SIZE];
	long long refs, rows, rows2;
};

struct check {
	const char *dir;
	sqlite3 *db;		/* store.db, and the temp table counts (blob, n) */
	sqlite3_stmt *upsert;
	int repair, pass;
	time_t now;
	void (*fn)(const struct mstore_check_item *it, void *ctx);
	void *ctx;
	struct mstore_check_stats *stats;
	struct suspect *sus;
	size_t nsus;
};

const char *
mstore_check_kind_str(enum mstore_check_kind kind)
{
	static const char *const names[] = {
		[MSTORE_CHECK_ORPHAN] = "orphan", [MSTORE_CHECK_REFS] = "refs",
		[MSTORE_CHECK_MISSING] = "missing", [MSTORE_CHECK_SIZE] = "size",
		[MSTORE_CHECK_STRAY] = "stray", [MSTORE_CHECK_TMP] = "tmp",
		[MSTORE_CHECK_INDEX] = "index",
	};

	return (unsigned int)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

static void
report(struct check *c, struct mstore_check_item *it)
{
	c->stats->problems++;
	if (it->repaired)
		c->stats->repaired++;
	if (c->fn != NULL)
		c->fn(it, c->ctx);
}

static void
blob_file(const struct check *c, const char *blob, char *buf, size_t size)
{
	snprintf(buf, size, "%s/blobs/%.2s/%.2s/%s", c->dir, blob, blob + 2, blob);
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* One row, one integer column: 1 and *v, 0 if no row, -1 on error. */
static int
query_int(sqlite3 *db, const char *sql, const char *arg, long long *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (arg != NULL)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int
suspect_cmp(const void *a, const void *b)
{
	return strcmp(((const struct suspect *)a)->blob, ((const struct suspect *)b)->blob);
}

static struct suspect *
suspect_find(struct check *c, const char *blob)
{
	struct suspect key;

	if (c->nsus == 0 || str_copy(key.blob, blob, sizeof(key.blob)) >= sizeof(key.blob))
		return NULL;
	return bsearch(&key, c->sus, c->nsus, sizeof(*c->sus), suspect_cmp);
}

/* Rows of one index whose blob file is missing: each reported. */
static void
report_missing(struct check *c, sqlite3 *idx, const char *account, const char *blob)
{
	struct mstore_check_item it;
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(idx, "SELECT b.name, m.uid FROM messages m JOIN mailboxes b "
	    "ON b.id = m.mailbox_id WHERE m.blob = ?1 ORDER BY b.name, m.uid", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		memset(&it, 0, sizeof(it));
		it.kind = MSTORE_CHECK_MISSING;
		it.blob = blob;
		it.account = account;
		it.mailbox = (const char *)sqlite3_column_text(st, 0);
		it.uid = (uint32_t)sqlite3_column_int64(st, 1);
		it.note = "never removed: restore the file from a backup";
		report(c, &it);
	}
	sqlite3_finalize(st);
}

/*
 * One account's index.  Pass 1: its rows are added to temp.counts and
 * its blobs' files looked for; pass 2: the suspects' rows are counted
 * again.
 */
static void
check_index(struct check *c, const char *path, const char *account)
{
	struct mstore_check_item it;
	char **missing = NULL, file[4096];
	size_t nmissing = 0;
	const char *error;
	sqlite3_stmt *st = NULL;
	sqlite3 *idx;
	struct stat sb;
	int rc = SQLITE_ERROR;

	if (c->pass == 1)
		c->stats->accounts++;
	if ((idx = db_open_ro(path, &error)) != NULL &&
	    sqlite3_prepare_v2(idx, "SELECT blob, count(*) FROM messages GROUP BY blob", -1, &st,
	    NULL) == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *blob = (const char *)sqlite3_column_text(st, 0);
			long long n = sqlite3_column_int64(st, 1);
			struct suspect *s;

			if (blob == NULL)
				continue;
			if (c->pass == 2) {
				if ((s = suspect_find(c, blob)) != NULL)
					s->rows2 += n;
				continue;
			}
			c->stats->rows += (unsigned long)n;
			sqlite3_reset(c->upsert);
			sqlite3_bind_text(c->upsert, 1, blob, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(c->upsert, 2, n);
			if (sqlite3_step(c->upsert) != SQLITE_DONE)
				log_warnx("mstore check: temp table: %s", sqlite3_errmsg(c->db));
			blob_file(c, blob, file, sizeof(file));
			if (blob_id_valid(blob) && stat(file, &sb) < 0 && errno == ENOENT) {
				missing = xrealloc(missing, (nmissing + 1) * sizeof(*missing));
				missing[nmissing++] = xstrdup(blob);
			}
		}
	}
	if (rc != SQLITE_DONE && c->pass == 1) {
		memset(&it, 0, sizeof(it));
		it.kind = MSTORE_CHECK_INDEX;
		it.path = path;
		it.account = account;
		it.note = idx == NULL ? error : sqlite3_errmsg(idx);
		report(c, &it);
	}
	sqlite3_finalize(st);
	/* Looked at again: the rows may have been expunged with their blob meanwhile. */
	for (size_t i = 0; i < nmissing; i++) {
		blob_file(c, missing[i], file, sizeof(file));
		if (stat(file, &sb) < 0 && errno == ENOENT)
			report_missing(c, idx, account, missing[i]);
		free(missing[i]);
	}
	free(missing);
	sqlite3_close(idx);
}

/* Undo escape_component (mstore.c): %XX back to its byte. */
static void
unescape(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s != '\0' && o + 1 < size; s++) {
		unsigned int v;
		if (s[0] == '%' && sscanf(s + 1, "%2x", &v) == 1 && s[1] != '\0' && s[2] != '\0') {
			out[o++] = (char)v;
			s += 2;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
}

/* Every index under accounts/<domain>/<local>/. */
static int
check_accounts(struct check *c, const char **error_r)
{
	char path[4096], account[700], local[320], domain[320];
	struct dirent *dd, *ld;
	DIR *ddir, *ldir;

	snprintf(path, sizeof(path), "%s/accounts", c->dir);
	if ((ddir = opendir(path)) == NULL)
		return seterr(error_r, MSTORE_ERR, "cannot read %s: %s", path, strerror(errno));
	while ((dd = readdir(ddir)) != NULL) {
		if (dd->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/accounts/%s", c->dir, dd->d_name);
		if ((ldir = opendir(path)) == NULL)
			continue;
		while ((ld = readdir(ldir)) != NULL) {
			struct stat sb;
			if (ld->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/accounts/%s/%s/index.db", c->dir, dd->d_name,
			    ld->d_name);
			if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
				continue;
			unescape(ld->d_name, local, sizeof(local));
			unescape(dd->d_name, domain, sizeof(domain));
			snprintf(account, sizeof(account), "%s@%s", local, domain);
			check_index(c, path, account);
		}
		closedir(ldir);
	}
	closedir(ddir);
	return 0;
}

/* The blobs whose count differs from the rows pointing at them. */
static int
find_suspects(struct check *c, const char **error_r)
{
	sqlite3_stmt *st;
	long long n;
	int rc;

	if (query_int(c->db, "SELECT count(*) FROM blobs", NULL, &n) < 0)
		return seterr(error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(c->db));
	c->stats->blobs = (unsigned long)n;
	if (sqlite3_prepare_v2(c->db,
	    "SELECT b.id, b.refs, coalesce(c.n, 0) FROM blobs b LEFT JOIN temp.counts c "
	    "ON c.blob = b.id WHERE b.refs <> coalesce(c.n, 0) "
	    "UNION ALL SELECT c.blob, 0, c.n FROM temp.counts c "
	    "WHERE c.blob NOT IN (SELECT id FROM blobs) ORDER BY 1", -1, &st, NULL) != SQLITE_OK)
		return seterr(error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(c->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *blob = (const char *)sqlite3_column_text(st, 0);
		struct suspect *s;
		if (blob == NULL || strlen(blob) >= MSTORE_BLOB_ID_SIZE)
			continue;
		c->sus = xrealloc(c->sus, (c->nsus + 1) * sizeof(*c->sus));
		s = &c->sus[c->nsus++];
		memset(s, 0, sizeof(*s));
		str_copy(s->blob, blob, sizeof(s->blob));
		s->refs = sqlite3_column_int64(st, 1);
		s->rows = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return seterr(error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(c->db));
	if (c->nsus > 1)
		qsort(c->sus, c->nsus, sizeof(*c->sus), suspect_cmp);
	return 0;
}

/* Set one blob's count to its rows, in a store.db write transaction; NULL or why not. */
static const char *
repair_refs(struct check *c, const struct suspect *s)
{
	char path[4096];
	const char *why = NULL;
	long long refs = 0;
	sqlite3_stmt *st = NULL;
	struct stat sb;
	int have;

	if (exec(c->db, "BEGIN IMMEDIATE") < 0)
		return "store.db is busy: left";
	if ((have = query_int(c->db, "SELECT refs FROM blobs WHERE id = ?1", s->blob, &refs)) < 0) {
		why = "cannot read store.db: left";
		goto done;
	}
	if (refs != s->refs) {
		why = "its count changed meanwhile: left";
		goto done;
	}
	blob_file(c, s->blob, path, sizeof(path));
	if (s->rows > s->refs && !have) {
		if (stat(path, &sb) < 0) {
			why = "its file is missing: left";
			goto done;
		}
		if (sqlite3_prepare_v2(c->db, "INSERT INTO blobs (id, size, refs) VALUES (?1, ?2, ?3)",
		    -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 2, (sqlite3_int64)sb.st_size);
			sqlite3_bind_int64(st, 3, s->rows);
		}
	} else if (s->rows > 0) {
		sqlite3_prepare_v2(c->db, "UPDATE blobs SET refs = ?2 WHERE id = ?1", -1, &st, NULL);
		if (st != NULL)
			sqlite3_bind_int64(st, 2, s->rows);
	} else {
		/* No row points at it: it goes, as mstore_blob_unref does with the last reference. */
		if (stat(path, &sb) == 0 && c->now - sb.st_mtime < MSTORE_CHECK_MIN_AGE) {
			why = "its file is younger than an hour (a writer may be in flight): left";
			goto done;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			why = "its file cannot be removed: left";
			goto done;
		}
		sqlite3_prepare_v2(c->db, "DELETE FROM blobs WHERE id = ?1", -1, &st, NULL);
	}
	if (st == NULL) {
		why = "store.db refused the change: left";
		goto done;
	}
	sqlite3_bind_text(st, 1, s->blob, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		why = "store.db refused the change: left";
done:
	sqlite3_finalize(st);
	if (why == NULL && exec(c->db, "COMMIT") == 0)
		return NULL;
	exec(c->db, "ROLLBACK");
	return why != NULL ? why : "store.db refused the change: left";
}

static void
check_refs(struct check *c)
{
	struct mstore_check_item it;

	for (size_t i = 0; i < c->nsus; i++) {
		struct suspect *s = &c->sus[i];
		long long refs = 0;

		if (query_int(c->db, "SELECT refs FROM blobs WHERE id = ?1", s->blob, &refs) < 0 ||
		    refs != s->refs || s->rows2 != s->rows) {
			/* A writer between its count and its row, or an expunge: not judged. */
			c->stats->unsettled++;
			continue;
		}
		memset(&it, 0, sizeof(it));
		it.kind = MSTORE_CHECK_REFS;
		it.blob = s->blob;
		it.refs = s->refs;
		it.rows = s->rows;
		if (c->repair) {
			it.note = repair_refs(c, s);
			it.repaired = it.note == NULL;
		}
		report(c, &it);
	}
}

/* An orphan blob file (no count, no row): removed under the store.db lock. */
static const char *
repair_orphan(struct check *c, const char *blob, const char *path, const struct stat *sb)
{
	long long v;
	int have;

	if (c->now - sb->st_mtime < MSTORE_CHECK_MIN_AGE)
		return "younger than an hour (a writer may be in flight): left";
	if (exec(c->db, "BEGIN IMMEDIATE") < 0)
		return "store.db is busy: left";
	/* A writer counts its blob in this same lock: none did meanwhile? */
	if ((have = query_int(c->db, "SELECT refs FROM blobs WHERE id = ?1", blob, &v)) != 0) {
		exec(c->db, "ROLLBACK");
		return have < 0 ? "cannot read store.db: left" : "counted meanwhile: left";
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		exec(c->db, "ROLLBACK");
		return "cannot remove it: left";
	}
	exec(c->db, "COMMIT");
	return NULL;
}

static void
check_blob_file(struct check *c, const char *name, const char *path, const struct stat *sb)
{
	struct mstore_check_item it;
	long long size = 0, rows = 0;
	int have;

	memset(&it, 0, sizeof(it));
	it.blob = name;
	it.path = path;
	c->stats->files++;
	if ((have = query_int(c->db, "SELECT size FROM blobs WHERE id = ?1", name, &size)) < 0)
		return;
	if (have) {
		if ((uint64_t)size != (uint64_t)sb->st_size) {
			it.kind = MSTORE_CHECK_SIZE;
			it.size = (uint64_t)size;
			it.file_size = (uint64_t)sb->st_size;
			it.note = "never repaired: the file is damaged";
			report(c, &it);
		}
		return;
	}
	/* Rows point at it without a count: a REFS problem, not an orphan. */
	if (query_int(c->db, "SELECT n FROM temp.counts WHERE blob = ?1", name, &rows) != 0)
		return;
	/* A writer between its rename and its commit looks the same: not judged yet. */
	if (c->now - sb->st_mtime < MSTORE_CHECK_MIN_AGE) {
		c->stats->unsettled++;
		return;
	}
	it.kind = MSTORE_CHECK_ORPHAN;
	if (c->repair) {
		it.note = repair_orphan(c, name, path, sb);
		it.repaired = it.note == NULL;
	}
	report(c, &it);
}

static int
hex2(const char *s)
{
	return strlen(s) == 2 && strspn(s, "0123456789abcdef") == 2;
}

static void
stray(struct check *c, const char *path)
{
	struct mstore_check_item it;

	memset(&it, 0, sizeof(it));
	it.kind = MSTORE_CHECK_STRAY;
	it.path = path;
	it.note = "not a blob: never removed";
	report(c, &it);
}

/* blobs/XX/YY/<id>: each file counted or pointed at, or an orphan. */
static int
check_blob_files(struct check *c, const char **error_r)
{
	char top[4096], sub[4352], path[4608];
	struct dirent *a, *b, *f;
	DIR *da, *db, *df;
	struct stat sb;

	snprintf(top, sizeof(top), "%s/blobs", c->dir);
	if ((da = opendir(top)) == NULL)
		return seterr(error_r, MSTORE_ERR, "cannot read %s: %s", top, strerror(errno));
	while ((a = readdir(da)) != NULL) {
		if (strcmp(a->d_name, ".") == 0 || strcmp(a->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", top, a->d_name);
		if (!hex2(a->d_name) || (db = opendir(sub)) == NULL) {
			stray(c, sub);
			continue;
		}
		while ((b = readdir(db)) != NULL) {
			char dir2[4608];
			if (strcmp(b->d_name, ".") == 0 || strcmp(b->d_name, "..") == 0)
				continue;
			snprintf(dir2, sizeof(dir2), "%s/%s", sub, b->d_name);
			if (!hex2(b->d_name) || (df = opendir(dir2)) == NULL) {
				stray(c, dir2);
				continue;
			}
			while ((f = readdir(df)) != NULL) {
				if (strcmp(f->d_name, ".") == 0 || strcmp(f->d_name, "..") == 0)
					continue;
				snprintf(path, sizeof(path), "%s/%s", dir2, f->d_name);
				if (lstat(path, &sb) < 0)
					continue;
				if (!S_ISREG(sb.st_mode) || !blob_id_valid(f->d_name) ||
				    strncmp(f->d_name, a->d_name, 2) != 0 ||
				    strncmp(f->d_name + 2, b->d_name, 2) != 0)
					stray(c, path);
				else
					check_blob_file(c, f->d_name, path, &sb);
			}
			closedir(df);
		}
		closedir(db);
	}
	closedir(da);
	return 0;
}

/* Blob writers' temporary files that a dead writer left. */
static void
check_tmp(struct check *c)
{
	struct mstore_check_item it;
	char dir[4096], path[4352];
	struct dirent *de;
	struct stat sb;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", c->dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    c->now - sb.st_mtime < MSTORE_CHECK_MIN_AGE)
			continue;
		memset(&it, 0, sizeof(it));
		it.kind = MSTORE_CHECK_TMP;
		it.path = path;
		if (c->repair) {
			it.repaired = unlink(path) == 0 || errno == ENOENT;
			if (!it.repaired)
				it.note = "cannot remove it: left";
		}
		report(c, &it);
	}
	closedir(d);
}

int
mstore_check(const char *dir, int repair, long settle,
    void (*fn)(const struct mstore_check_item *it, void *ctx), void *ctx,
    struct mstore_check_stats *stats, const char **error_r)
{
	struct check c;
	char path[4096];
	int rc = MSTORE_ERR;

	memset(&c, 0, sizeof(c));
	memset(stats, 0, sizeof(*stats));
	c.dir = dir;
	c.repair = repair;
	c.fn = fn;
	c.ctx = ctx;
	c.stats = stats;
	c.now = time(NULL);
	snprintf(path, sizeof(path), "%s/store.db", dir);
	if (access(path, F_OK) < 0)
		return seterr(error_r, MSTORE_ERR, "%s: no mail store here (%s)", dir,
		    strerror(errno));
	if (sqlite3_open_v2(path, &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = seterr(error_r, MSTORE_ERR, "%s: %s", path, c.db != NULL ?
		    sqlite3_errmsg(c.db) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(c.db, BUSY_TIMEOUT_MS);
	/* As mstore's writers: a repair is on disk when it returns. */
	if (exec(c.db, "PRAGMA synchronous = FULL; PRAGMA temp_store = FILE;"
	    "CREATE TEMP TABLE counts (blob TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) "
	    "WITHOUT ROWID") < 0 ||
	    sqlite3_prepare_v2(c.db, "INSERT INTO temp.counts (blob, n) VALUES (?1, ?2) "
	    "ON CONFLICT (blob) DO UPDATE SET n = n + excluded.n", -1, &c.upsert, NULL) !=
	    SQLITE_OK) {
		rc = seterr(error_r, MSTORE_ERR, "%s: %s", path, sqlite3_errmsg(c.db));
		goto out;
	}
	c.pass = 1;
	if ((rc = check_accounts(&c, error_r)) < 0 || (rc = find_suspects(&c, error_r)) < 0 ||
	    (rc = check_blob_files(&c, error_r)) < 0)
		goto out;
	if (c.nsus > 0) {
		/* Counted again a while later: only a stable difference is one. */
		if (settle > 0)
			sleep((unsigned int)settle);
		c.pass = 2;
		if ((rc = check_accounts(&c, error_r)) < 0)
			goto out;
		c.now = time(NULL);
		check_refs(&c);
	}
	check_tmp(&c);
	rc = 0;
out:
	sqlite3_finalize(c.upsert);
	sqlite3_close(c.db);
	free(c.sus);
	return rc;
}
