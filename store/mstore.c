/* SPDX-License-Identifier: MIT */
/*
 * mstore - the mailbox store: blobs, their reference counts in store.db,
 * and the per-account SQLite indexes.  See mstore.h for the layout and
 * the crash-safety argument.
 *
 * Each handle keeps the statements it ran prepared (keyed by their SQL
 * text, which is always a string literal here) and resets them after each
 * use, so that no read transaction outlives a call and another process's
 * commit is seen at the next one.  Iterations with callbacks prepare their
 * own statement, so a callback may read through the same handle.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/config.h"
#include "lib/fd.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "store/directory.h"
#include "store/mstore.h"

#define SCHEMA_VERSION 3
#define STORE_SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 5000
#define STMT_MAX 48
#define WBUF_SIZE 65536
/* Delivery ids are kept this long: longer than any queue lifetime. */
#define DELIVERY_KEEP (30 * 86400)
#define ERR_SIZE 1024

struct dbh {
	sqlite3 *db;
	const char *sql[STMT_MAX];
	sqlite3_stmt *st[STMT_MAX];
	int n;
};

struct mstore {
	char dir[2048];
	struct dbh h;
	unsigned long tmp_seq;
	char err[ERR_SIZE];
};

struct mstore_account {
	struct mstore *ms;
	struct dbh h;
	char name[320];
	char path[4096];
	sqlite3_int64 data_version;
	enum mstore_sync sync;
	int normal;		/* the connection is at synchronous = NORMAL now */
	char err[ERR_SIZE];
};

struct mstore_blob_writer {
	struct mstore *ms;
	int fd;
	char tmp[4096];
	EVP_MD_CTX *md;
	uint64_t size;
	size_t blen;
	int failed;
	unsigned char buf[WBUF_SIZE];
};

/*
 * Version 1.  Mailboxes carry their counters (messages, unseen, bytes),
 * kept in the same transactions as the messages, so STATUS is one row.
 * messages.saved is when the row was written (internaldate may come from
 * an APPEND); envelope, bodystructure and header_size are a cache for
 * imapd, NULL until it fills them.  delivered_to is the LMTP recipient:
 * the blob has no Delivered-To header, so that one blob serves every
 * recipient.
 */
static const char schema_sql[] =
	"CREATE TABLE meta ("
	" key TEXT PRIMARY KEY NOT NULL,"
	" value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE mailboxes ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL DEFAULT 1,"
	" highestmodseq INTEGER NOT NULL DEFAULT 1,"
	" special_use TEXT,"
	" subscribed INTEGER NOT NULL DEFAULT 0,"
	" messages INTEGER NOT NULL DEFAULT 0,"
	" unseen INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE messages ("
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" blob TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" internaldate INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT NOT NULL DEFAULT '',"
	" saved INTEGER NOT NULL,"
	" delivered_to TEXT,"
	" envelope TEXT,"
	" bodystructure TEXT,"
	" header_size INTEGER,"
	" PRIMARY KEY (mailbox_id, uid));"
	"CREATE INDEX messages_modseq ON messages (mailbox_id, modseq);"
	"CREATE TABLE expunged ("
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" PRIMARY KEY (mailbox_id, uid)) WITHOUT ROWID;"
	"CREATE INDEX expunged_modseq ON expunged (mailbox_id, modseq);"
	"CREATE TABLE usage ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" bytes INTEGER NOT NULL,"
	" messages INTEGER NOT NULL);"
	"INSERT INTO usage VALUES (1, 0, 0);"
	"CREATE TABLE deliveries ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" mailbox_id INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX deliveries_at ON deliveries (at);";

/*
 * Version 2: access control lists (RFC 4314) keyed by mailbox id, and the
 * account's subscriptions to other accounts' mailboxes.
 */
static const char schema_v2_sql[] =
	"CREATE TABLE acl ("
	" mailbox_id INTEGER NOT NULL,"
	" identifier TEXT NOT NULL,"
	" rights TEXT NOT NULL,"
	" PRIMARY KEY (mailbox_id, identifier)) WITHOUT ROWID;"
	"CREATE TABLE shared_subscriptions ("
	" name TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
	"PRAGMA user_version = 2;";

/*
 * Version 3: the header block of each blob an account holds (up to
 * HEADERS_MAX bytes), written when the message is saved, so that SEARCH
 * on header fields and FETCH ENVELOPE or HEADER.FIELDS read the index
 * instead of opening and parsing every message (Dovecot's cache file does
 * the same).  Keyed by blob: copies and moves share it; it goes with the
 * last message of the account holding the blob.
 */
static const char schema_v3_sql[] =
	"CREATE TABLE headers ("
	" blob TEXT PRIMARY KEY NOT NULL,"
	" data BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX messages_blob ON messages (blob);"
	"PRAGMA user_version = 3;";

static const char store_schema_sql[] =
	"CREATE TABLE blobs ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" size INTEGER NOT NULL,"
	" refs INTEGER NOT NULL) WITHOUT ROWID;"
	"PRAGMA user_version = 1;";

/* Version 2: who has shared mailboxes with whom (grantee: an address, anyone, authenticated). */
static const char store_schema_v2_sql[] =
	"CREATE TABLE shares ("
	" grantee TEXT NOT NULL,"
	" owner TEXT NOT NULL,"
	" PRIMARY KEY (grantee, owner)) WITHOUT ROWID;"
	"PRAGMA user_version = 2;";

static const struct {
	const char *name;
	enum mstore_special use;
} default_mailboxes[] = {
	{ "INBOX", MSTORE_SPECIAL_NONE },
	{ "Sent", MSTORE_SPECIAL_SENT },
	{ "Drafts", MSTORE_SPECIAL_DRAFTS },
	{ "Trash", MSTORE_SPECIAL_TRASH },
	{ "Junk", MSTORE_SPECIAL_JUNK },
};

static const char *const special_names[] = {
	[MSTORE_SPECIAL_NONE] = NULL,
	[MSTORE_SPECIAL_SENT] = "\\Sent",
	[MSTORE_SPECIAL_DRAFTS] = "\\Drafts",
	[MSTORE_SPECIAL_TRASH] = "\\Trash",
	[MSTORE_SPECIAL_JUNK] = "\\Junk",
	[MSTORE_SPECIAL_ARCHIVE] = "\\Archive",
	[MSTORE_SPECIAL_ALL] = "\\All",
	[MSTORE_SPECIAL_FLAGGED] = "\\Flagged",
};
#define NSPECIAL (int)(sizeof(special_names) / sizeof(special_names[0]))

/* ---- small helpers ---- */

static int
seterr(char *buf, const char **error_r, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
seterr(char *buf, const char **error_r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, ERR_SIZE, fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = buf;
	return code;
}

#define AERR(a, code, ...) seterr((a)->err, error_r, (code), __VA_ARGS__)
#define DBERR(a) AERR((a), MSTORE_ERR, "%s: %s", (a)->name, sqlite3_errmsg((a)->h.db))

static void
dbh_close(struct dbh *h)
{
	for (int i = 0; i < h->n; i++)
		sqlite3_finalize(h->st[i]);
	h->n = 0;
	if (h->db != NULL)
		sqlite3_close(h->db);
	h->db = NULL;
}

/* The statement for sql (a literal), prepared once, reset and unbound. */
static sqlite3_stmt *
prep(struct dbh *h, const char *sql)
{
	sqlite3_stmt *st;

	for (int i = 0; i < h->n; i++) {
		if (h->sql[i] == sql) {
			sqlite3_reset(h->st[i]);
			sqlite3_clear_bindings(h->st[i]);
			return h->st[i];
		}
	}
	if (sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return NULL;
	if (h->n >= STMT_MAX)
		panic("mstore: more than %d statements", STMT_MAX);
	h->sql[h->n] = sql;
	h->st[h->n] = st;
	h->n++;
	return st;
}

/* Run a statement without rows; SQLITE_DONE or the error. */
static int
run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static int
begin(struct dbh *h)
{
	return sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int
commit(struct dbh *h)
{
	if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return -1;
}

static void
rollback(struct dbh *h)
{
	if (!sqlite3_get_autocommit(h->db))
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/* Open path in WAL mode with the busy timeout; NULL and errmsg text on failure. */
static sqlite3 *
db_open(const char *path, int create, char *err, size_t size)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
	int rc;

	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		snprintf(err, size, "%s: %s", path, db != NULL ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/*
	 * No checkpoint when a handle closes: imapd closes one at every
	 * LOGOUT, and a checkpoint there is three fsyncs in the event loop.
	 * The WAL is checkpointed as it grows (wal_autocheckpoint).
	 */
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	/*
	 * FULL: a commit is on disk when it returns; LMTP replies depend on
	 * it.  Turning a new database to WAL can answer SQLITE_BUSY without
	 * waiting while another process does the same (two lmtpd workers
	 * making an account's index at its first delivery): tried again for
	 * as long as the busy timeout.
	 */
	for (int i = 0; (rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL",
	    NULL, NULL, NULL)) != SQLITE_OK && (rc & 0xff) == SQLITE_BUSY &&
	    i < BUSY_TIMEOUT_MS / 10; i++)
		usleep(10000);
	if (rc != SQLITE_OK) {
		snprintf(err, size, "%s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Create dirs of path up to (not including) its last component. */
static int
mkdir_parents(const char *path, mode_t mode)
{
	char buf[4096];
	char *slash;

	str_copy(buf, path, sizeof(buf));
	if ((slash = strrchr(buf, '/')) == NULL || slash == buf)
		return 0;
	*slash = '\0';
	if (proc_mkdir(buf, mode, (uid_t)-1, (gid_t)-1) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static int
blob_id_valid(const char *id)
{
	if (id == NULL || strlen(id) != MSTORE_BLOB_ID_SIZE - 1)
		return 0;
	for (const char *p = id; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static void
blob_path(const struct mstore *ms, const char *id, char *buf, size_t size)
{
	snprintf(buf, size, "%s/blobs/%.2s/%.2s/%s", ms->dir, id, id + 2, id);
}

/* ---- the store ---- */

const char *
mstore_default_dir(void)
{
	static char dir[2048];

	if (var_mail_store_directory != NULL && var_mail_store_directory[0] != '\0')
		str_copy(dir, var_mail_store_directory, sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%s/store", var_spool_directory);
	return dir;
}

struct mstore *
mstore_open(const char *dir, const char **error_r)
{
	static char err[ERR_SIZE];
	struct mstore *ms = xcalloc(1, sizeof(*ms));
	char path[4096];
	int version;

	if (dir == NULL)
		dir = mstore_default_dir();
	if (dir[0] != '/' || strlen(dir) >= sizeof(ms->dir) - 200) {
		snprintf(err, sizeof(err), "mail store directory \"%s\": not an absolute path of "
		    "reasonable length", dir);
		goto fail;
	}
	str_copy(ms->dir, dir, sizeof(ms->dir));
	for (int i = 0; i < 3; i++) {
		static const char *const sub[] = { "blobs", "accounts", "tmp" };
		snprintf(path, sizeof(path), "%s/%s", ms->dir, sub[i]);
		if (proc_mkdir(path, 0750, (uid_t)-1, (gid_t)-1) < 0 && errno != EEXIST) {
			snprintf(err, sizeof(err), "cannot create %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	snprintf(path, sizeof(path), "%s/store.db", ms->dir);
	if ((ms->h.db = db_open(path, 1, err, sizeof(err))) == NULL)
		goto fail;
	if ((version = user_version(ms->h.db)) < 0) {
		snprintf(err, sizeof(err), "%s: %s", path, sqlite3_errmsg(ms->h.db));
		goto fail;
	}
	if (version < STORE_SCHEMA_VERSION) {
		/* Create or upgrade; the version is read again under the write lock. */
		if (begin(&ms->h) < 0) {
			snprintf(err, sizeof(err), "%s: %s", path, sqlite3_errmsg(ms->h.db));
			goto fail;
		}
		version = user_version(ms->h.db);
		if ((version == 0 &&
		    sqlite3_exec(ms->h.db, store_schema_sql, NULL, NULL, NULL) != SQLITE_OK) ||
		    (version < 2 &&
		    sqlite3_exec(ms->h.db, store_schema_v2_sql, NULL, NULL, NULL) != SQLITE_OK)) {
			snprintf(err, sizeof(err), "%s: cannot create the schema: %s", path,
			    sqlite3_errmsg(ms->h.db));
			rollback(&ms->h);
			goto fail;
		}
		if (commit(&ms->h) < 0) {
			snprintf(err, sizeof(err), "%s: %s", path, sqlite3_errmsg(ms->h.db));
			rollback(&ms->h);
			goto fail;
		}
	} else if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, sizeof(err), "%s: store of a newer facteur (version %d)", path, version);
		goto fail;
	}
	return ms;
fail:
	*error_r = err;
	mstore_close(&ms);
	return NULL;
}

void
mstore_close(struct mstore **msp)
{
	struct mstore *ms = *msp;

	if (ms == NULL)
		return;
	*msp = NULL;
	dbh_close(&ms->h);
	free(ms);
}

/* ---- blobs ---- */

struct mstore_blob_writer *
mstore_blob_begin(struct mstore *ms, const char **error_r)
{
	struct mstore_blob_writer *w = xmalloc(sizeof(*w));

	w->ms = ms;
	w->size = 0;
	w->blen = 0;
	w->failed = 0;
	snprintf(w->tmp, sizeof(w->tmp), "%s/tmp/%ld.%lu.%ld", ms->dir, (long)getpid(),
	    ++ms->tmp_seq, (long)time(NULL));
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (w->fd < 0) {
		seterr(ms->err, error_r, MSTORE_ERR, "cannot create %s: %s", w->tmp, strerror(errno));
		free(w);
		return NULL;
	}
	if ((w->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1)
		panic("mstore: cannot start SHA-256");
	return w;
}

static int
writer_flush(struct mstore_blob_writer *w)
{
	if (w->blen > 0 && !w->failed && fd_write_all(w->fd, w->buf, w->blen) < 0)
		w->failed = errno != 0 ? errno : EIO;
	w->blen = 0;
	return w->failed ? -1 : 0;
}

int
mstore_blob_write(struct mstore_blob_writer *w, const void *data, size_t len)
{
	if (w->failed)
		return -1;
	EVP_DigestUpdate(w->md, data, len);
	w->size += len;
	if (len >= WBUF_SIZE) {
		if (writer_flush(w) < 0)
			return -1;
		if (fd_write_all(w->fd, data, len) < 0) {
			w->failed = errno != 0 ? errno : EIO;
			return -1;
		}
		return 0;
	}
	if (w->blen + len > WBUF_SIZE && writer_flush(w) < 0)
		return -1;
	memcpy(w->buf + w->blen, data, len);
	w->blen += len;
	return 0;
}

static void
writer_free(struct mstore_blob_writer **wp, int unlink_tmp)
{
	struct mstore_blob_writer *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp)
		unlink(w->tmp);
	EVP_MD_CTX_free(w->md);
	free(w);
}

void
mstore_blob_abort(struct mstore_blob_writer **wp)
{
	writer_free(wp, 1);
}

/*
 * fsync the directory of a blob just put in place, and its parents
 * (levels: 1, YY/ alone; 3, XX/ and blobs/ too, when they may be new);
 * with file, the blob too (one found in place).
 */
static int
blob_sync_path(const char *path, int file, int levels)
{
	char dir[4096];
	int rc = 0;

	if (file) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		rc = fsync(fd);
		close(fd);
	}
	str_copy(dir, path, sizeof(dir));
	for (int i = 0; i < levels; i++) {
		*strrchr(dir, '/') = '\0';
		fsync_dir(dir);
	}
	return rc;
}

/* store.db's synchronous level, for the transactions that follow. */
static void
store_sync_level(struct mstore *ms, int normal)
{
	(void)sqlite3_exec(ms->h.db, normal ? "PRAGMA synchronous = NORMAL" :
	    "PRAGMA synchronous = FULL", NULL, NULL, NULL);
}

/*
 * durable: the file, its directories and store.db's commit are fsync'd
 * (mstore_blob_commit); else none is (mstore_blob_commit_nosync).
 */
static int
blob_commit(struct mstore_blob_writer **wp, unsigned int nrefs, int durable, char *blob_r,
    uint64_t *size_r, const char **error_r)
{
	struct mstore_blob_writer *w = *wp;
	struct mstore *ms = w->ms;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char path[4096];
	struct stat sb;
	sqlite3_stmt *st;
	int placed = 0, rc;

	if (writer_flush(w) < 0 || (durable && fsync(w->fd) < 0) || close(w->fd) < 0) {
		int e = w->failed ? w->failed : errno;
		w->fd = -1;
		rc = seterr(ms->err, error_r, MSTORE_ERR, "cannot write %s: %s", w->tmp, strerror(e));
		writer_free(wp, 1);
		return rc;
	}
	w->fd = -1;
	EVP_DigestFinal_ex(w->md, md, &mdlen);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(blob_r + 2 * i, 3, "%02x", md[i]);
	*size_r = w->size;
	blob_path(ms, blob_r, path, sizeof(path));

	if (!durable)
		store_sync_level(ms, 1);
	/* Under the write lock: no unref can remove the file between the check and the count. */
	if (begin(&ms->h) < 0) {
		rc = seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
		writer_free(wp, 1);
		goto out;
	}
	if (stat(path, &sb) < 0) {
		int created = 0;
		/* Into XX/YY/ directly; only when they do not exist yet are they made. */
		if (errno != ENOENT || (rename(w->tmp, path) < 0 && (errno != ENOENT ||
		    (created = 1, mkdir_parents(path, 0750) < 0) || rename(w->tmp, path) < 0))) {
			rc = seterr(ms->err, error_r, MSTORE_ERR, "cannot store %s: %s", path,
			    strerror(errno));
			rollback(&ms->h);
			writer_free(wp, 1);
			goto out;
		}
		placed = 1;
		/*
		 * Its directory entry, and those of new XX/YY directories.  (XX/YY
		 * made by an lmtpd whose group sync has not run yet are made once
		 * in a store's life, and a journaling file system commits their
		 * creation with this fsync of YY/.)
		 */
		if (durable)
			(void)blob_sync_path(path, 0, created ? 3 : 1);
	} else if (sb.st_size >= 0 && (uint64_t)sb.st_size == w->size && durable) {
		/*
		 * The same bytes, maybe put there by an lmtpd in group mode whose
		 * sync has not run yet: make sure of them before counting (rare:
		 * the same message saved twice).
		 */
		if (blob_sync_path(path, 1, 3) < 0) {
			rc = seterr(ms->err, error_r, MSTORE_ERR, "cannot sync %s: %s", path,
			    strerror(errno));
			rollback(&ms->h);
			writer_free(wp, 1);
			goto out;
		}
	} else if (sb.st_size >= 0 && (uint64_t)sb.st_size != w->size) {
		/* Same SHA-256, another size: the file on disk is damaged.  Replace it. */
		if (rename(w->tmp, path) < 0) {
			rc = seterr(ms->err, error_r, MSTORE_ERR, "cannot replace %s: %s", path,
			    strerror(errno));
			rollback(&ms->h);
			writer_free(wp, 1);
			goto out;
		}
		placed = 1;
		if (durable)
			(void)blob_sync_path(path, 0, 1);
	}
	st = prep(&ms->h, "INSERT INTO blobs (id, size, refs) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (id) DO UPDATE SET refs = refs + ?3");
	if (st != NULL) {
		sqlite3_bind_text(st, 1, blob_r, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)w->size);
		sqlite3_bind_int64(st, 3, nrefs);
	}
	if (st == NULL || run(st) != SQLITE_DONE || commit(&ms->h) < 0) {
		rc = seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
		rollback(&ms->h);
		/*
		 * A file we put in place stays: whether a failed COMMIT counted it
		 * is not certain, and a file counted by nobody is only a leak (the
		 * next writer of these bytes counts it).
		 */
		writer_free(wp, !placed);
		goto out;
	}
	writer_free(wp, !placed);
	rc = 0;
out:
	if (!durable)
		store_sync_level(ms, 0);
	return rc;
}

int
mstore_blob_commit(struct mstore_blob_writer **wp, unsigned int nrefs, char *blob_r,
    uint64_t *size_r, const char **error_r)
{
	return blob_commit(wp, nrefs, 1, blob_r, size_r, error_r);
}

int
mstore_blob_commit_nosync(struct mstore_blob_writer **wp, unsigned int nrefs, char *blob_r,
    uint64_t *size_r, const char **error_r)
{
	return blob_commit(wp, nrefs, 0, blob_r, size_r, error_r);
}

int
mstore_blob_ref(struct mstore *ms, const char *blob, unsigned int n, const char **error_r)
{
	sqlite3_stmt *st;
	int rc;

	if (!blob_id_valid(blob))
		return seterr(ms->err, error_r, MSTORE_EINVAL, "bad blob id");
	if (begin(&ms->h) < 0)
		return seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	if ((st = prep(&ms->h, "UPDATE blobs SET refs = refs + ?2 WHERE id = ?1")) == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, n);
	if (run(st) != SQLITE_DONE)
		goto dberr;
	if (sqlite3_changes(ms->h.db) == 0) {
		rollback(&ms->h);
		return seterr(ms->err, error_r, MSTORE_ENOTFOUND, "blob %s: unknown", blob);
	}
	if (commit(&ms->h) < 0)
		goto dberr;
	return 0;
dberr:
	rc = seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	rollback(&ms->h);
	return rc;
}

int
mstore_blob_unref(struct mstore *ms, const char *blob, unsigned int n, const char **error_r)
{
	sqlite3_stmt *st;
	sqlite3_int64 refs;
	char path[4096];
	int rc;

	if (!blob_id_valid(blob))
		return seterr(ms->err, error_r, MSTORE_EINVAL, "bad blob id");
	if (n == 0)
		return 0;
	if (begin(&ms->h) < 0)
		return seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	if ((st = prep(&ms->h, "SELECT refs FROM blobs WHERE id = ?1")) == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	refs = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto dberr;
	if (rc == SQLITE_DONE) {
		rollback(&ms->h);
		return seterr(ms->err, error_r, MSTORE_ENOTFOUND, "blob %s: unknown", blob);
	}
	if (refs > (sqlite3_int64)n) {
		if ((st = prep(&ms->h, "UPDATE blobs SET refs = refs - ?2 WHERE id = ?1")) == NULL)
			goto dberr;
		sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, n);
	} else {
		/*
		 * The last reference: the file goes inside the write transaction.
		 * Should we die before the commit, the row keeps a count while its
		 * file is gone; the count is above the truth (0), so no index row
		 * points at it, and the next writer of these bytes puts the file
		 * back (mstore_blob_commit checks).
		 */
		blob_path(ms, blob, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT) {
			rc = seterr(ms->err, error_r, MSTORE_ERR, "cannot remove %s: %s", path,
			    strerror(errno));
			rollback(&ms->h);
			return rc;
		}
		if ((st = prep(&ms->h, "DELETE FROM blobs WHERE id = ?1")) == NULL)
			goto dberr;
		sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	}
	if (run(st) != SQLITE_DONE || commit(&ms->h) < 0)
		goto dberr;
	return 0;
dberr:
	rc = seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	rollback(&ms->h);
	return rc;
}

int
mstore_blob_open(struct mstore *ms, const char *blob, uint64_t *size_r, const char **error_r)
{
	char path[4096];
	struct stat sb;
	int fd;

	if (!blob_id_valid(blob))
		return seterr(ms->err, error_r, MSTORE_ERR, "bad blob id");
	blob_path(ms, blob, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return seterr(ms->err, error_r, MSTORE_ERR, "cannot open %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return seterr(ms->err, error_r, MSTORE_ERR, "cannot stat %s: %s", path,
		    strerror(errno));
	}
	*size_r = (uint64_t)sb.st_size;
	return fd;
}

long
mstore_blob_refs(struct mstore *ms, const char *blob)
{
	sqlite3_stmt *st = prep(&ms->h, "SELECT refs FROM blobs WHERE id = ?1");
	long refs;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	refs = rc == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_reset(st);
	return refs;
}

int
mstore_tmp_clean(struct mstore *ms, long max_age)
{
	char dir[4096], path[4352];
	time_t now = time(NULL);
	struct dirent *de;
	struct stat sb;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", ms->dir);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && now - sb.st_mtime > max_age &&
		    unlink(path) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ---- accounts ---- */

/* One path component: [a-z0-9_+-] and inner dots as they are, the rest %XX. */
static int
escape_component(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
		    c == '-' || (c == '.' && i > 0);
		if (o + 4 >= size)
			return -1;
		if (plain)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", c);
	}
	out[o] = '\0';
	return 0;
}

static int
account_path(const struct mstore *ms, const char *account, char *buf, size_t size)
{
	char lower[320], local[1024], domain[1024];
	const char *at;

	if (strlen(account) >= sizeof(lower))
		return -1;
	str_copy(lower, account, sizeof(lower));
	str_lower(lower);
	if ((at = strrchr(lower, '@')) == NULL ||
	    escape_component(lower, (size_t)(at - lower), local, sizeof(local)) < 0 ||
	    escape_component(at + 1, strlen(at + 1), domain, sizeof(domain)) < 0)
		return -1;
	snprintf(buf, size, "%s/accounts/%s/%s/index.db", ms->dir, domain, local);
	return 0;
}

const char *
mstore_account_path(struct mstore *ms, const char *account)
{
	static char path[4096];

	if (account_path(ms, account, path, sizeof(path)) < 0)
		return NULL;
	return path;
}

const char *
mstore_account_name(const struct mstore_account *a)
{
	return a->name;
}

struct mstore *
mstore_account_store(struct mstore_account *a)
{
	return a->ms;
}

static int64_t
next_uidvalidity(struct mstore_account *a)
{
	sqlite3_stmt *st = prep(&a->h, "SELECT value FROM meta WHERE key = 'uidvalidity'");
	int64_t last = 0, v = (int64_t)time(NULL);

	if (st == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		last = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (v <= last)
		v = last + 1;
	if (v > UINT32_MAX)
		v = 1;
	st = prep(&a->h, "INSERT OR REPLACE INTO meta (key, value) VALUES ('uidvalidity', ?1)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, v);
	return run(st) == SQLITE_DONE ? v : -1;
}

/* Insert a mailbox row (inside a transaction); its id, or -1. */
static int64_t
mailbox_insert(struct mstore_account *a, const char *name, enum mstore_special use, int subscribed)
{
	int64_t uidvalidity = next_uidvalidity(a);
	sqlite3_stmt *st;

	if (uidvalidity < 0)
		return -1;
	st = prep(&a->h, "INSERT INTO mailboxes (name, uidvalidity, special_use, subscribed) "
	    "VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uidvalidity);
	if (use != MSTORE_SPECIAL_NONE)
		sqlite3_bind_text(st, 3, special_names[use], -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, subscribed);
	if (run(st) != SQLITE_DONE)
		return -1;
	return sqlite3_last_insert_rowid(a->h.db);
}

static int
account_create_schema(struct mstore_account *a, const char **error_r)
{
	int version;

	if (begin(&a->h) < 0)
		return DBERR(a);
	version = user_version(a->h.db);
	if (version == 0) {
		if (sqlite3_exec(a->h.db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
			goto dberr;
		for (size_t i = 0; i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++)
			if (mailbox_insert(a, default_mailboxes[i].name, default_mailboxes[i].use, 1) < 0)
				goto dberr;
	} else if (version < 0) {
		goto dberr;
	}
	if (version < 2 && sqlite3_exec(a->h.db, schema_v2_sql, NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	if (version < 3 && sqlite3_exec(a->h.db, schema_v3_sql, NULL, NULL, NULL) != SQLITE_OK)
		goto dberr;
	if (commit(&a->h) < 0)
		goto dberr;
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	return MSTORE_ERR;
}

struct mstore_account *
mstore_account_open(struct mstore *ms, const char *account, int create, int *status_r,
    const char **error_r)
{
	struct mstore_account *a = xcalloc(1, sizeof(*a));
	int version, status = MSTORE_ERR;

	a->ms = ms;
	str_copy(a->name, account, sizeof(a->name));
	str_lower(a->name);
	if (strlen(account) >= sizeof(a->name) || account_path(ms, account, a->path,
	    sizeof(a->path)) < 0) {
		status = seterr(ms->err, error_r, MSTORE_EINVAL, "\"%s\": not an account address",
		    account);
		goto fail;
	}
	if (!create && access(a->path, F_OK) < 0) {
		status = seterr(ms->err, error_r, errno == ENOENT ? MSTORE_ENOTFOUND : MSTORE_ERR,
		    "%s: no mail store index (%s)", a->name, strerror(errno));
		goto fail;
	}
	if (create && mkdir_parents(a->path, 0750) < 0) {
		status = seterr(ms->err, error_r, MSTORE_ERR, "cannot create the directory of %s: %s",
		    a->path, strerror(errno));
		goto fail;
	}
	if ((a->h.db = db_open(a->path, create, ms->err, sizeof(ms->err))) == NULL) {
		*error_r = ms->err;
		goto fail;
	}
	if ((version = user_version(a->h.db)) < 0) {
		status = seterr(ms->err, error_r, MSTORE_ERR, "%s: %s", a->path,
		    sqlite3_errmsg(a->h.db));
		goto fail;
	}
	if (version > SCHEMA_VERSION) {
		status = seterr(ms->err, error_r, MSTORE_ERR, "%s: index of a newer facteur (version "
		    "%d)", a->path, version);
		goto fail;
	}
	if (version < SCHEMA_VERSION && account_create_schema(a, error_r) < 0) {
		str_copy(ms->err, a->err, sizeof(ms->err));
		*error_r = ms->err;
		goto fail;
	}
	mstore_account_changed(a);
	if (status_r != NULL)
		*status_r = 0;
	return a;
fail:
	if (status_r != NULL)
		*status_r = status;
	mstore_account_close(&a);
	return NULL;
}

void
mstore_account_set_sync(struct mstore_account *a, enum mstore_sync mode)
{
	a->sync = mode;
}

/*
 * Before a change: the synchronous level it needs.  durable: the change
 * brings new messages, or gives back blob references (which must not be
 * counted down before the rows holding them are gone for good), or
 * changes rights.  Switching is a flag of the connection, no I/O.
 */
static int
sync_level(struct mstore_account *a, int durable)
{
	int normal = a->sync == MSTORE_SYNC_NONE || (a->sync == MSTORE_SYNC_DATA && !durable);

	if (normal == a->normal)
		return 0;
	if (sqlite3_exec(a->h.db, normal ? "PRAGMA synchronous = NORMAL" :
	    "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	a->normal = normal;
	return 0;
}

/* BEGIN IMMEDIATE of a change, at the level it needs. */
static int
abegin(struct mstore_account *a, int durable)
{
	return sync_level(a, durable) < 0 ? -1 : begin(&a->h);
}

void
mstore_account_close(struct mstore_account **ap)
{
	struct mstore_account *a = *ap;

	if (a == NULL)
		return;
	*ap = NULL;
	dbh_close(&a->h);
	free(a);
}

int
mstore_account_changed(struct mstore_account *a)
{
	sqlite3_stmt *st = prep(&a->h, "PRAGMA data_version");
	sqlite3_int64 v;
	int changed;

	if (st == NULL || sqlite3_step(st) != SQLITE_ROW) {
		if (st != NULL)
			sqlite3_reset(st);
		return -1;
	}
	v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	changed = v != a->data_version;
	a->data_version = v;
	return changed;
}

int
mstore_usage(struct mstore_account *a, uint64_t *bytes_r, uint64_t *messages_r)
{
	sqlite3_stmt *st = prep(&a->h, "SELECT bytes, messages FROM usage WHERE id = 1");
	int rc;

	if (st == NULL)
		return MSTORE_ERR;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*bytes_r = (uint64_t)sqlite3_column_int64(st, 0);
		*messages_r = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : MSTORE_ERR;
}

int
mstore_usage_recalc(struct mstore_account *a, const char **error_r)
{
	static const char sql[] =
	    "UPDATE mailboxes SET"
	    " messages = (SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id),"
	    " unseen = (SELECT count(*) FROM messages WHERE mailbox_id = mailboxes.id"
	    "  AND (flags & 1) = 0),"
	    " bytes = (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = mailboxes.id);"
	    "UPDATE usage SET bytes = (SELECT coalesce(sum(size), 0) FROM messages),"
	    " messages = (SELECT count(*) FROM messages) WHERE id = 1;";

	if (abegin(a, 0) < 0)
		return DBERR(a);
	if (sqlite3_exec(a->h.db, sql, NULL, NULL, NULL) != SQLITE_OK || commit(&a->h) < 0) {
		DBERR(a);
		rollback(&a->h);
		return MSTORE_ERR;
	}
	return 0;
}

/* ---- mailboxes ---- */

const char *
mstore_special_str(enum mstore_special s)
{
	return (int)s > 0 && (int)s < NSPECIAL ? special_names[s] : NULL;
}

int
mstore_special_parse(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return MSTORE_SPECIAL_NONE;
	for (int i = 1; i < NSPECIAL; i++)
		if (str_casecmp(s, special_names[i]) == 0)
			return i;
	return -1;
}

/* 1 if s is well-formed UTF-8 (no overlongs, no surrogates). */
static int
utf8_valid(const unsigned char *s)
{
	while (*s != '\0') {
		unsigned int c = *s, n, cp;
		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (unsigned int i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* Characters (not bytes) of valid UTF-8: what SQLite's substr() counts. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int
mstore_mailbox_name_check(const char *name, char *out, size_t size)
{
	size_t len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len >= size || len >= MSTORE_NAME_MAX)
		return MSTORE_EINVAL;
	if (name[0] == MSTORE_SEP || name[len - 1] == MSTORE_SEP)
		return MSTORE_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return MSTORE_EINVAL;
		if (c == MSTORE_SEP && name[i + 1] == MSTORE_SEP)
			return MSTORE_EINVAL;
	}
	if (!utf8_valid((const unsigned char *)name))
		return MSTORE_EINVAL;
	memcpy(out, name, len + 1);
	/* INBOX is case-insensitive, also as the first level of its children. */
	if (str_ncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == MSTORE_SEP))
		memcpy(out, "INBOX", 5);
	return 0;
}

static void
mailbox_row(sqlite3_stmt *st, struct mstore_mailbox *mb)
{
	const char *use = (const char *)sqlite3_column_text(st, 5);
	int u = mstore_special_parse(use);

	mb->id = sqlite3_column_int64(st, 0);
	str_copy(mb->name, (const char *)sqlite3_column_text(st, 1), sizeof(mb->name));
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(st, 2);
	mb->uidnext = (uint32_t)sqlite3_column_int64(st, 3);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(st, 4);
	mb->special_use = u > 0 ? (enum mstore_special)u : MSTORE_SPECIAL_NONE;
	mb->subscribed = sqlite3_column_int(st, 6);
	mb->messages = (uint32_t)sqlite3_column_int64(st, 7);
	mb->unseen = (uint32_t)sqlite3_column_int64(st, 8);
	mb->size = (uint64_t)sqlite3_column_int64(st, 9);
}

#define MAILBOX_COLS "id, name, uidvalidity, uidnext, highestmodseq, special_use, subscribed, " \
	"messages, unseen, bytes"

/* 1 found, 0 not, -1 error (no error text). */
static int
mailbox_find(struct mstore_account *a, const char *name, int64_t id, struct mstore_mailbox *mb)
{
	sqlite3_stmt *st;
	int rc;

	if (name != NULL) {
		st = prep(&a->h, "SELECT " MAILBOX_COLS " FROM mailboxes WHERE name = ?1");
		if (st != NULL)
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	} else {
		st = prep(&a->h, "SELECT " MAILBOX_COLS " FROM mailboxes WHERE id = ?1");
		if (st != NULL)
			sqlite3_bind_int64(st, 1, id);
	}
	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		mailbox_row(st, mb);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mstore_mailbox_get(struct mstore_account *a, const char *name, int64_t id,
    struct mstore_mailbox *mb, const char **error_r)
{
	char norm[MSTORE_NAME_MAX];
	int rc;

	if (name != NULL && mstore_mailbox_name_check(name, norm, sizeof(norm)) < 0)
		return AERR(a, MSTORE_EINVAL, "bad mailbox name");
	rc = mailbox_find(a, name != NULL ? norm : NULL, id, mb);
	if (rc < 0)
		return DBERR(a);
	if (rc == 0)
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	return 0;
}

int
mstore_mailbox_list(struct mstore_account *a, int (*fn)(const struct mstore_mailbox *mb, void *ctx),
    void *ctx, const char **error_r)
{
	struct mstore_mailbox mb;
	sqlite3_stmt *st;
	int rc, stop = 0;

	if (sqlite3_prepare_v2(a->h.db, "SELECT " MAILBOX_COLS " FROM mailboxes ORDER BY "
	    "name <> 'INBOX', name", -1, &st, NULL) != SQLITE_OK)
		return DBERR(a);
	while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		mailbox_row(st, &mb);
		stop = fn(&mb, ctx);
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		DBERR(a);
		sqlite3_finalize(st);
		return MSTORE_ERR;
	}
	sqlite3_finalize(st);
	return stop;
}

int
mstore_mailbox_create(struct mstore_account *a, const char *name, enum mstore_special use,
    const char **error_r)
{
	char norm[MSTORE_NAME_MAX];
	struct mstore_mailbox mb;
	int rc;

	if (mstore_mailbox_name_check(name, norm, sizeof(norm)) < 0)
		return AERR(a, MSTORE_EINVAL, "bad mailbox name");
	if ((int)use < 0 || (int)use >= NSPECIAL)
		return AERR(a, MSTORE_EINVAL, "bad special use");
	if (abegin(a, 0) < 0)
		return DBERR(a);
	rc = mailbox_find(a, norm, 0, &mb);
	if (rc != 0) {
		rollback(&a->h);
		return rc < 0 ? DBERR(a) : AERR(a, MSTORE_EEXISTS, "mailbox exists");
	}
	if (mailbox_insert(a, norm, use, 0) < 0 || commit(&a->h) < 0) {
		DBERR(a);
		rollback(&a->h);
		return MSTORE_ERR;
	}
	return 0;
}

/* Give back one reference per row of (blob, count); errors are logged into err only. */
struct bref {
	char blob[MSTORE_BLOB_ID_SIZE];
	unsigned int n;
};

static void
brefs_add(struct bref **v, size_t *n, const char *blob)
{
	if ((*n & (*n - 1)) == 0)
		*v = xrealloc(*v, (*n == 0 ? 1 : 2 * *n) * sizeof(**v));
	str_copy((*v)[*n].blob, blob, MSTORE_BLOB_ID_SIZE);
	(*v)[*n].n = 1;
	(*n)++;
}

static int
bref_cmp(const void *x, const void *y)
{
	return strcmp(((const struct bref *)x)->blob, ((const struct bref *)y)->blob);
}

/* One entry per blob, with its count. */
static void
brefs_group(struct bref *v, size_t *n)
{
	size_t o = 0;

	if (*n == 0)
		return;
	qsort(v, *n, sizeof(*v), bref_cmp);
	for (size_t i = 1; i < *n; i++) {
		if (strcmp(v[i].blob, v[o].blob) == 0)
			v[o].n += v[i].n;
		else
			v[++o] = v[i];
	}
	*n = o + 1;
}

static void
brefs_release(struct mstore *ms, struct bref *v, size_t n)
{
	const char *error;

	/* A failure leaks a blob (its count stays above the truth): never loses one. */
	for (size_t i = 0; i < n; i++)
		(void)mstore_blob_unref(ms, v[i].blob, v[i].n, &error);
	free(v);
}

static int headers_drop(struct mstore_account *a, const struct bref *refs, size_t n);

int
mstore_mailbox_delete(struct mstore_account *a, const char *name, const char **error_r)
{
	char norm[MSTORE_NAME_MAX];
	struct mstore_mailbox mb;
	struct bref *refs = NULL;
	size_t nrefs = 0;
	sqlite3_stmt *st;
	int rc;

	if (mstore_mailbox_name_check(name, norm, sizeof(norm)) < 0)
		return AERR(a, MSTORE_EINVAL, "bad mailbox name");
	if (strcmp(norm, "INBOX") == 0)
		return AERR(a, MSTORE_EINVAL, "INBOX cannot be deleted");
	if (abegin(a, 1) < 0)
		return DBERR(a);
	if ((rc = mailbox_find(a, norm, 0, &mb)) <= 0) {
		rollback(&a->h);
		return rc < 0 ? DBERR(a) : AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if ((st = prep(&a->h, "SELECT blob FROM messages WHERE mailbox_id = ?1")) == NULL)
		goto dberr;
	sqlite3_bind_int64(st, 1, mb.id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		brefs_add(&refs, &nrefs, (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto dberr;
	brefs_group(refs, &nrefs);
	{
		static const char *const del[] = {
			"DELETE FROM messages WHERE mailbox_id = ?1",
			"DELETE FROM expunged WHERE mailbox_id = ?1",
			"DELETE FROM deliveries WHERE mailbox_id = ?1",
			"DELETE FROM acl WHERE mailbox_id = ?1",
			"DELETE FROM mailboxes WHERE id = ?1",
		};
		for (size_t i = 0; i < sizeof(del) / sizeof(del[0]); i++) {
			if ((st = prep(&a->h, del[i])) == NULL)
				goto dberr;
			sqlite3_bind_int64(st, 1, mb.id);
			if (run(st) != SQLITE_DONE)
				goto dberr;
		}
	}
	if (headers_drop(a, refs, nrefs) < 0)
		goto dberr;
	if ((st = prep(&a->h, "UPDATE usage SET bytes = bytes - ?1, messages = messages - ?2 "
	    "WHERE id = 1")) == NULL)
		goto dberr;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)mb.size);
	sqlite3_bind_int64(st, 2, mb.messages);
	if (run(st) != SQLITE_DONE || commit(&a->h) < 0)
		goto dberr;
	brefs_release(a->ms, refs, nrefs);
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	free(refs);
	return MSTORE_ERR;
}

static int move_rows(struct mstore_account *a, const struct mstore_mailbox *src,
    const struct mstore_range *set, size_t nset, const struct mstore_mailbox *dst,
    struct mstore_uidmap *map);

int
mstore_mailbox_rename(struct mstore_account *a, const char *from, const char *to,
    const char **error_r)
{
	char f[MSTORE_NAME_MAX], t[MSTORE_NAME_MAX];
	struct mstore_mailbox src, dst;
	size_t flen;
	sqlite3_stmt *st;
	int rc;

	if (mstore_mailbox_name_check(from, f, sizeof(f)) < 0 ||
	    mstore_mailbox_name_check(to, t, sizeof(t)) < 0)
		return AERR(a, MSTORE_EINVAL, "bad mailbox name");
	flen = utf8_chars(f);
	if (strcmp(f, t) == 0)
		return AERR(a, MSTORE_EEXISTS, "mailbox exists");
	if (strcmp(t, "INBOX") == 0)
		return AERR(a, MSTORE_EEXISTS, "INBOX exists");
	if (strncmp(t, f, strlen(f)) == 0 && t[strlen(f)] == MSTORE_SEP)
		return AERR(a, MSTORE_EINVAL, "a mailbox cannot move under itself");
	if (abegin(a, 0) < 0)
		return DBERR(a);
	if ((rc = mailbox_find(a, f, 0, &src)) <= 0) {
		rollback(&a->h);
		return rc < 0 ? DBERR(a) : AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if ((rc = mailbox_find(a, t, 0, &dst)) != 0) {
		rollback(&a->h);
		return rc < 0 ? DBERR(a) : AERR(a, MSTORE_EEXISTS, "mailbox exists");
	}
	if (strcmp(f, "INBOX") == 0) {
		/* RFC 3501: the messages move to a new mailbox, INBOX stays (empty). */
		struct mstore_uidmap map;
		int64_t id = mailbox_insert(a, t, MSTORE_SPECIAL_NONE, 0);
		if (id < 0 || mailbox_find(a, NULL, id, &dst) != 1)
			goto dberr;
		memset(&map, 0, sizeof(map));
		if (move_rows(a, &src, NULL, 0, &dst, &map) < 0)
			goto dberr;
		mstore_uidmap_free(&map);
		if (commit(&a->h) < 0)
			goto dberr;
		return 0;
	}
	/* A child of from whose new name is taken: refuse it all. */
	st = prep(&a->h, "SELECT 1 FROM mailboxes m WHERE substr(m.name, 1, ?2 + 1) = ?1 || '/' "
	    "AND EXISTS (SELECT 1 FROM mailboxes n WHERE n.name = ?3 || substr(m.name, ?2 + 1))");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, f, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)flen);
	sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW) {
		rollback(&a->h);
		return AERR(a, MSTORE_EEXISTS, "a child's new name exists");
	}
	if (rc != SQLITE_DONE)
		goto dberr;
	st = prep(&a->h, "UPDATE mailboxes SET name = ?3 || substr(name, ?2 + 1) "
	    "WHERE name = ?1 OR substr(name, 1, ?2 + 1) = ?1 || '/'");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_text(st, 1, f, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)flen);
	sqlite3_bind_text(st, 3, t, -1, SQLITE_STATIC);
	if (run(st) != SQLITE_DONE || commit(&a->h) < 0)
		goto dberr;
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	return MSTORE_ERR;
}

static int
mailbox_set_int(struct mstore_account *a, const char *name, const char *sql, int bind_text,
    int ival, const char *tval, const char **error_r)
{
	char norm[MSTORE_NAME_MAX];
	sqlite3_stmt *st;

	if (mstore_mailbox_name_check(name, norm, sizeof(norm)) < 0)
		return AERR(a, MSTORE_EINVAL, "bad mailbox name");
	if (sync_level(a, 0) < 0 || (st = prep(&a->h, sql)) == NULL)
		return DBERR(a);
	sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
	if (bind_text && tval != NULL)
		sqlite3_bind_text(st, 2, tval, -1, SQLITE_STATIC);
	else if (!bind_text)
		sqlite3_bind_int(st, 2, ival);
	if (run(st) != SQLITE_DONE)
		return DBERR(a);
	if (sqlite3_changes(a->h.db) == 0)
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	return 0;
}

int
mstore_mailbox_subscribe(struct mstore_account *a, const char *name, int subscribed,
    const char **error_r)
{
	return mailbox_set_int(a, name, "UPDATE mailboxes SET subscribed = ?2 WHERE name = ?1", 0,
	    subscribed != 0, NULL, error_r);
}

int
mstore_mailbox_set_special(struct mstore_account *a, const char *name, enum mstore_special use,
    const char **error_r)
{
	if ((int)use < 0 || (int)use >= NSPECIAL)
		return AERR(a, MSTORE_EINVAL, "bad special use");
	return mailbox_set_int(a, name, "UPDATE mailboxes SET special_use = ?2 WHERE name = ?1", 1,
	    0, special_names[use], error_r);
}

/* ---- messages ---- */

/* Sorted, merged copy of set (NULL: everything). */
static struct mstore_range *
ranges_norm(const struct mstore_range *set, size_t nset, size_t *n_r)
{
	struct mstore_range *r;
	size_t n = 0;

	if (set == NULL || nset == 0) {
		r = xmalloc(sizeof(*r));
		r->lo = 1;
		r->hi = UINT32_MAX;
		*n_r = set == NULL ? 1 : 0;
		return r;
	}
	r = xmalloc(nset * sizeof(*r));
	for (size_t i = 0; i < nset; i++) {
		struct mstore_range x = set[i];
		size_t k;
		if (x.lo > x.hi) {
			uint32_t t = x.lo;
			x.lo = x.hi;
			x.hi = t;
		}
		/* insertion sort by lo */
		for (k = n; k > 0 && r[k - 1].lo > x.lo; k--)
			r[k] = r[k - 1];
		r[k] = x;
		n++;
	}
	{
		size_t o = 0;
		for (size_t i = 1; i < n; i++) {
			if (r[i].lo <= r[o].hi || (r[o].hi != UINT32_MAX && r[i].lo == r[o].hi + 1)) {
				if (r[i].hi > r[o].hi)
					r[o].hi = r[i].hi;
			} else {
				r[++o] = r[i];
			}
		}
		n = o + 1;
	}
	*n_r = n;
	return r;
}

#define MSG_COLS "uid, modseq, blob, size, internaldate, flags, keywords, delivered_to"

static void
msg_row(sqlite3_stmt *st, struct mstore_msg *m)
{
	const char *blob = (const char *)sqlite3_column_text(st, 2);

	m->uid = (uint32_t)sqlite3_column_int64(st, 0);
	m->modseq = (uint64_t)sqlite3_column_int64(st, 1);
	str_copy(m->blob, blob != NULL ? blob : "", sizeof(m->blob));
	m->size = (uint64_t)sqlite3_column_int64(st, 3);
	m->internaldate = sqlite3_column_int64(st, 4);
	m->flags = (unsigned int)sqlite3_column_int(st, 5);
	m->keywords = (const char *)sqlite3_column_text(st, 6);
	if (m->keywords == NULL)
		m->keywords = "";
	m->delivered_to = (const char *)sqlite3_column_text(st, 7);
}

/* A message's row copied out of a statement. */
struct mrow {
	struct mstore_msg m;
	char *keywords;
	char *delivered_to;
	int changed, failed;
};

static void
mrows_free(struct mrow *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].keywords);
		free(v[i].delivered_to);
	}
	free(v);
}

/* Read the messages of mbox in set (and with \Deleted if deleted_only) into *rows_r. */
static int
mrows_read(struct mstore_account *a, int64_t mbox, const struct mstore_range *set, size_t nset,
    int deleted_only, struct mrow **rows_r, size_t *n_r)
{
	struct mstore_range *r;
	struct mrow *rows = NULL;
	size_t nr, n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	r = ranges_norm(set, nset, &nr);
	st = prep(&a->h, deleted_only ?
	    "SELECT " MSG_COLS " FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 "
	    "AND (flags & 8) <> 0 ORDER BY uid" :
	    "SELECT " MSG_COLS " FROM messages WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 "
	    "ORDER BY uid");
	if (st == NULL) {
		free(r);
		return -1;
	}
	for (size_t i = 0; i < nr && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, r[i].lo);
		sqlite3_bind_int64(st, 3, r[i].hi);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct mrow *x;
			if (n == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				rows = xrealloc(rows, cap * sizeof(*rows));
			}
			x = &rows[n++];
			memset(x, 0, sizeof(*x));
			msg_row(st, &x->m);
			x->keywords = xstrdup(x->m.keywords);
			x->m.keywords = x->keywords;
			x->delivered_to = x->m.delivered_to != NULL ? xstrdup(x->m.delivered_to) : NULL;
			x->m.delivered_to = x->delivered_to;
		}
		sqlite3_reset(st);
	}
	free(r);
	if (rc != SQLITE_DONE) {
		mrows_free(rows, n);
		return -1;
	}
	*rows_r = rows;
	*n_r = n;
	return 0;
}

int
mstore_messages(struct mstore_account *a, int64_t mbox, const struct mstore_range *set,
    size_t nset, int (*fn)(const struct mstore_msg *m, void *ctx), void *ctx, const char **error_r)
{
	struct mstore_range *r;
	struct mstore_msg m;
	sqlite3_stmt *st;
	size_t nr;
	int rc = SQLITE_DONE, stop = 0;

	if (sqlite3_prepare_v2(a->h.db, "SELECT " MSG_COLS " FROM messages WHERE mailbox_id = ?1 "
	    "AND uid BETWEEN ?2 AND ?3 ORDER BY uid", -1, &st, NULL) != SQLITE_OK)
		return DBERR(a);
	r = ranges_norm(set, nset, &nr);
	for (size_t i = 0; i < nr && stop == 0 && rc == SQLITE_DONE; i++) {
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, r[i].lo);
		sqlite3_bind_int64(st, 3, r[i].hi);
		while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			msg_row(st, &m);
			stop = fn(&m, ctx);
		}
		if (stop == 0 && rc == SQLITE_ROW)
			rc = SQLITE_DONE;
		sqlite3_reset(st);
	}
	free(r);
	if (stop == 0 && rc != SQLITE_DONE) {
		DBERR(a);
		sqlite3_finalize(st);
		return MSTORE_ERR;
	}
	sqlite3_finalize(st);
	return stop;
}

/* Bump mbox's highestmodseq (inside a transaction); the new value, or 0. */
static uint64_t
modseq_next(struct mstore_account *a, int64_t mbox)
{
	sqlite3_stmt *st = prep(&a->h, "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 "
	    "WHERE id = ?1");
	uint64_t v = 0;

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, mbox);
	if (run(st) != SQLITE_DONE || sqlite3_changes(a->h.db) != 1)
		return 0;
	if ((st = prep(&a->h, "SELECT highestmodseq FROM mailboxes WHERE id = ?1")) == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, mbox);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* Add to a mailbox's counters and the account's usage (inside a transaction). */
static int
counters_add(struct mstore_account *a, int64_t mbox, int64_t messages, int64_t unseen,
    int64_t bytes, int usage)
{
	sqlite3_stmt *st = prep(&a->h, "UPDATE mailboxes SET messages = messages + ?2, "
	    "unseen = unseen + ?3, bytes = bytes + ?4 WHERE id = ?1");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, messages);
	sqlite3_bind_int64(st, 3, unseen);
	sqlite3_bind_int64(st, 4, bytes);
	if (run(st) != SQLITE_DONE)
		return -1;
	if (!usage)
		return 0;
	if ((st = prep(&a->h, "UPDATE usage SET bytes = bytes + ?1, messages = messages + ?2 "
	    "WHERE id = 1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, bytes);
	sqlite3_bind_int64(st, 2, messages);
	return run(st) == SQLITE_DONE ? 0 : -1;
}

/* 1 if the usage plus bytes would exceed quota (0: none), 0 if not, -1 on error. */
static int
over_quota(struct mstore_account *a, uint64_t quota, uint64_t bytes)
{
	uint64_t used, msgs;

	if (quota == 0)
		return 0;
	if (mstore_usage(a, &used, &msgs) < 0)
		return -1;
	return used + bytes > quota;
}

/* Insert a message row (inside a transaction). */
static int
msg_insert(struct mstore_account *a, int64_t mbox, uint32_t uid, uint64_t modseq,
    const struct mstore_msg *m, int64_t saved)
{
	sqlite3_stmt *st = prep(&a->h, "INSERT INTO messages (mailbox_id, uid, modseq, blob, size, "
	    "internaldate, flags, keywords, saved, delivered_to) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");

	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
	sqlite3_bind_text(st, 4, m->blob, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->size);
	sqlite3_bind_int64(st, 6, m->internaldate);
	sqlite3_bind_int(st, 7, (int)(m->flags & MSTORE_F_ALL));
	sqlite3_bind_text(st, 8, m->keywords != NULL ? m->keywords : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, saved);
	if (m->delivered_to != NULL)
		sqlite3_bind_text(st, 10, m->delivered_to, -1, SQLITE_STATIC);
	return run(st) == SQLITE_DONE ? 0 : -1;
}

/*
 * Keywords: blank-separated atoms, no duplicates (case-insensitive), in
 * their first spelling.  op merges words into cur.  NULL if a word is not
 * an atom (or a flag in disguise).
 */
static int
keyword_valid(const char *w, size_t n)
{
	if (n == 0 || n > 200 || w[0] == '\\')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"]\\", c) != NULL)
			return 0;
	}
	return 1;
}

static int
keyword_has(const char *list, const char *w, size_t n)
{
	const char *p = list;

	while (*p != '\0') {
		size_t k = strcspn(p, " ");
		if (k == n && str_ncasecmp(p, w, n) == 0)
			return 1;
		p += k;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static char *
keywords_apply(const char *cur, enum mstore_flag_op op, const char *words)
{
	size_t cap = strlen(cur) + (words != NULL ? strlen(words) : 0) + 2, len = 0;
	char *out = xmalloc(cap);
	const char *src[2];
	int nsrc = 0;

	out[0] = '\0';
	if (words == NULL)
		words = "";
	for (const char *p = words; *p != '\0';) {
		size_t k;
		while (*p == ' ')
			p++;
		k = strcspn(p, " ");
		if (k > 0 && !keyword_valid(p, k)) {
			free(out);
			return NULL;
		}
		p += k;
	}
	if (op != MSTORE_FLAGS_SET)
		src[nsrc++] = cur;
	if (op != MSTORE_FLAGS_REMOVE)
		src[nsrc++] = words;
	for (int s = 0; s < nsrc; s++) {
		for (const char *p = src[s]; *p != '\0';) {
			size_t k;
			while (*p == ' ')
				p++;
			k = strcspn(p, " ");
			if (k > 0 && !keyword_has(out, p, k) &&
			    !(op == MSTORE_FLAGS_REMOVE && keyword_has(words, p, k))) {
				if (len > 0)
					out[len++] = ' ';
				memcpy(out + len, p, k);
				len += k;
				out[len] = '\0';
			}
			p += k;
		}
	}
	return out;
}

/* ---- the header cache ---- */

#define HEADERS_MAX 65536

/*
 * The header block of a blob file (through its empty line), malloc'd in
 * *data_r; 0 if the file has none within HEADERS_MAX (not cached), -1 on
 * error.
 */
static int
headers_read(struct mstore *ms, const char *blob, char **data_r, size_t *len_r)
{
	char *buf = xmalloc(HEADERS_MAX);
	uint64_t size;
	size_t n = 0;
	ssize_t r;
	int fd = mstore_blob_open(ms, blob, &size, NULL);

	if (fd < 0) {
		free(buf);
		return -1;
	}
	while (n < HEADERS_MAX && (r = read(fd, buf + n, HEADERS_MAX - n)) > 0)
		n += (size_t)r;
	close(fd);
	for (size_t i = 0; i + 1 < n; i++) {
		/* The end of the header block: an empty line (CRLF CRLF, or LF LF). */
		if (buf[i] == '\n' && (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n'))) {
			*len_r = i + 1 + (buf[i + 1] == '\r' ? 2 : 1);
			*data_r = buf;
			return 1;
		}
	}
	/* A message that is all header (no empty line): the whole of it, if small. */
	if (n < HEADERS_MAX && (uint64_t)n == size) {
		*len_r = n;
		*data_r = buf;
		return 1;
	}
	free(buf);
	return 0;
}

/* Put data as blob's header block (inside a transaction); an existing one stays. */
static int
headers_put(struct mstore_account *a, const char *blob, const char *data, size_t len)
{
	sqlite3_stmt *st = prep(&a->h, "INSERT OR IGNORE INTO headers (blob, data) VALUES (?1, ?2)");

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
	return run(st) == SQLITE_DONE ? 0 : -1;
}

/* Cache blob's header block in a's index unless it is there (inside a transaction). */
static int
headers_fill(struct mstore_account *a, const char *blob)
{
	sqlite3_stmt *st = prep(&a->h, "SELECT 1 FROM headers WHERE blob = ?1");
	char *data;
	size_t len;
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return -1;
	/* A blob that cannot be read now is only not cached: never a failed save. */
	if (headers_read(a->ms, blob, &data, &len) <= 0)
		return 0;
	rc = headers_put(a, blob, data, len);
	free(data);
	return rc;
}

/* Drop the header blocks of blobs no message of a holds any more (inside a transaction). */
static int
headers_drop(struct mstore_account *a, const struct bref *refs, size_t n)
{
	sqlite3_stmt *st = prep(&a->h, "DELETE FROM headers WHERE blob = ?1 AND NOT EXISTS "
	    "(SELECT 1 FROM messages WHERE blob = ?1)");

	if (st == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_text(st, 1, refs[i].blob, -1, SQLITE_STATIC);
		if (run(st) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int
mstore_headers(struct mstore_account *a, const char *blob, char **data_r, size_t *len_r)
{
	sqlite3_stmt *st = prep(&a->h, "SELECT data FROM headers WHERE blob = ?1");
	int rc;

	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 0);
		*data_r = xmalloc(len + 1);
		memcpy(*data_r, sqlite3_column_blob(st, 0), len);
		(*data_r)[len] = '\0';
		*len_r = len;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
mstore_append(struct mstore_account *a, int64_t mbox, const struct mstore_append *in,
    uint32_t *uid_r, uint64_t *modseq_r, const char **error_r)
{
	struct mstore_mailbox mb;
	struct mstore_msg m;
	sqlite3_stmt *st;
	char *kw = NULL;
	uint64_t modseq;
	time_t now = time(NULL);
	int rc, status = MSTORE_ERR;

	if (!blob_id_valid(in->blob))
		return AERR(a, MSTORE_EINVAL, "bad blob id");
	if ((kw = keywords_apply("", MSTORE_FLAGS_SET, in->keywords)) == NULL) {
		status = AERR(a, MSTORE_EINVAL, "bad keyword");
		goto release;
	}
	if (abegin(a, 1) < 0) {
		status = DBERR(a);
		goto release;
	}
	if (in->delivery_id != NULL) {
		if ((st = prep(&a->h, "SELECT uid FROM deliveries WHERE id = ?1")) == NULL)
			goto dberr;
		sqlite3_bind_text(st, 1, in->delivery_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && uid_r != NULL)
			*uid_r = (uint32_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW) {
			rollback(&a->h);
			status = MSTORE_DUPLICATE;
			goto release;
		}
		if (rc != SQLITE_DONE)
			goto dberr;
	}
	if ((rc = mailbox_find(a, NULL, mbox, &mb)) <= 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		status = AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
		goto release;
	}
	if ((rc = over_quota(a, in->quota, in->size)) != 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		status = AERR(a, MSTORE_EQUOTA, "over quota");
		goto release;
	}
	if (mb.uidnext == UINT32_MAX) {
		rollback(&a->h);
		status = AERR(a, MSTORE_ERR, "%s: mailbox %s is out of UIDs", a->name, mb.name);
		goto release;
	}
	if ((modseq = modseq_next(a, mbox)) == 0)
		goto dberr;
	memset(&m, 0, sizeof(m));
	str_copy(m.blob, in->blob, sizeof(m.blob));
	m.size = in->size;
	m.internaldate = in->internaldate != 0 ? in->internaldate : (int64_t)now;
	m.flags = in->flags & MSTORE_F_ALL;
	m.keywords = kw;
	m.delivered_to = in->delivered_to;
	if (msg_insert(a, mbox, mb.uidnext, modseq, &m, (int64_t)now) < 0)
		goto dberr;
	if ((st = prep(&a->h, "UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1")) == NULL)
		goto dberr;
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)mb.uidnext + 1);
	if (run(st) != SQLITE_DONE)
		goto dberr;
	if (counters_add(a, mbox, 1, (m.flags & MSTORE_F_SEEN) ? 0 : 1, (int64_t)m.size, 1) < 0)
		goto dberr;
	if (headers_fill(a, in->blob) < 0)
		goto dberr;
	if (in->delivery_id != NULL) {
		if ((st = prep(&a->h, "DELETE FROM deliveries WHERE at < ?1")) == NULL)
			goto dberr;
		sqlite3_bind_int64(st, 1, (sqlite3_int64)now - DELIVERY_KEEP);
		if (run(st) != SQLITE_DONE)
			goto dberr;
		if ((st = prep(&a->h, "INSERT INTO deliveries (id, mailbox_id, uid, at) "
		    "VALUES (?1, ?2, ?3, ?4)")) == NULL)
			goto dberr;
		sqlite3_bind_text(st, 1, in->delivery_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, mbox);
		sqlite3_bind_int64(st, 3, mb.uidnext);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
		if (run(st) != SQLITE_DONE)
			goto dberr;
	}
	if (commit(&a->h) < 0)
		goto dberr;
	if (uid_r != NULL)
		*uid_r = mb.uidnext;
	if (modseq_r != NULL)
		*modseq_r = modseq;
	free(kw);
	return 0;
dberr:
	status = DBERR(a);
	rollback(&a->h);
release:
	{
		const char *e;
		(void)mstore_blob_unref(a->ms, in->blob, 1, &e);
	}
	free(kw);
	return status;
}

int
mstore_flags_store(struct mstore_account *a, int64_t mbox, const struct mstore_range *set,
    size_t nset, enum mstore_flag_op op, unsigned int flags, const char *keywords,
    uint64_t unchangedsince, void (*fn)(const struct mstore_msg *m, int failed, void *ctx),
    void *ctx, uint64_t *modseq_r, const char **error_r)
{
	struct mstore_mailbox mb;
	struct mrow *rows = NULL;
	size_t n = 0;
	uint64_t modseq = 0;
	int64_t unseen_delta = 0;
	sqlite3_stmt *st;
	int rc;

	if (modseq_r != NULL)
		*modseq_r = 0;
	flags &= MSTORE_F_ALL;
	{
		char *check = keywords_apply("", MSTORE_FLAGS_SET, keywords);
		if (check == NULL)
			return AERR(a, MSTORE_EINVAL, "bad keyword");
		free(check);
	}
	if (abegin(a, 0) < 0)
		return DBERR(a);
	if ((rc = mailbox_find(a, NULL, mbox, &mb)) <= 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if (mrows_read(a, mbox, set, nset, 0, &rows, &n) < 0)
		goto dberr;
	for (size_t i = 0; i < n; i++) {
		struct mrow *x = &rows[i];
		unsigned int nf = op == MSTORE_FLAGS_SET ? flags :
		    op == MSTORE_FLAGS_ADD ? (x->m.flags | flags) : (x->m.flags & ~flags);
		char *nk = keywords_apply(x->keywords, op, keywords);

		if (unchangedsince > 0 && x->m.modseq > unchangedsince) {
			x->failed = 1;
			free(nk);
			continue;
		}
		if (nf == x->m.flags && strcmp(nk, x->keywords) == 0) {
			free(nk);
			continue;
		}
		if (modseq == 0 && (modseq = modseq_next(a, mbox)) == 0) {
			free(nk);
			goto dberr;
		}
		if ((x->m.flags & MSTORE_F_SEEN) && !(nf & MSTORE_F_SEEN))
			unseen_delta++;
		else if (!(x->m.flags & MSTORE_F_SEEN) && (nf & MSTORE_F_SEEN))
			unseen_delta--;
		x->m.flags = nf;
		free(x->keywords);
		x->keywords = nk;
		x->m.keywords = nk;
		x->m.modseq = modseq;
		x->changed = 1;
		st = prep(&a->h, "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 "
		    "WHERE mailbox_id = ?1 AND uid = ?2");
		if (st == NULL)
			goto dberr;
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, x->m.uid);
		sqlite3_bind_int(st, 3, (int)nf);
		sqlite3_bind_text(st, 4, nk, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)modseq);
		if (run(st) != SQLITE_DONE)
			goto dberr;
	}
	if (unseen_delta != 0 && counters_add(a, mbox, 0, unseen_delta, 0, 0) < 0)
		goto dberr;
	if (commit(&a->h) < 0)
		goto dberr;
	if (fn != NULL)
		for (size_t i = 0; i < n; i++)
			if (rows[i].changed || rows[i].failed)
				fn(&rows[i].m, rows[i].failed, ctx);
	mrows_free(rows, n);
	if (modseq_r != NULL)
		*modseq_r = modseq;
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	mrows_free(rows, n);
	return MSTORE_ERR;
}

/* Delete rows of mbox and record them as expunged at modseq (inside a transaction). */
static int
rows_expunge(struct mstore_account *a, int64_t mbox, const struct mrow *rows, size_t n,
    uint64_t modseq)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < n; i++) {
		if ((st = prep(&a->h, "DELETE FROM messages WHERE mailbox_id = ?1 AND uid = ?2")) ==
		    NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, rows[i].m.uid);
		if (run(st) != SQLITE_DONE)
			return -1;
		if ((st = prep(&a->h, "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) "
		    "VALUES (?1, ?2, ?3)")) == NULL)
			return -1;
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, rows[i].m.uid);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)modseq);
		if (run(st) != SQLITE_DONE)
			return -1;
	}
	return 0;
}

static int expunge_common(struct mstore_account *a, int64_t mbox, const struct mstore_range *set,
    size_t nset, int deleted_only, void (*fn)(uint32_t uid, void *ctx), void *ctx,
    const char **error_r);

int
mstore_expunge(struct mstore_account *a, int64_t mbox, const struct mstore_range *set,
    size_t nset, void (*fn)(uint32_t uid, void *ctx), void *ctx, const char **error_r)
{
	return expunge_common(a, mbox, set, nset, 1, fn, ctx, error_r);
}

static int
expunge_common(struct mstore_account *a, int64_t mbox, const struct mstore_range *set,
    size_t nset, int deleted_only, void (*fn)(uint32_t uid, void *ctx), void *ctx,
    const char **error_r)
{
	struct mstore_mailbox mb;
	struct mrow *rows = NULL;
	struct bref *refs = NULL;
	size_t n = 0, nrefs = 0;
	int64_t bytes = 0, unseen = 0;
	uint64_t modseq;
	int rc;

	if (abegin(a, 1) < 0)
		return DBERR(a);
	if ((rc = mailbox_find(a, NULL, mbox, &mb)) <= 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if (mrows_read(a, mbox, set, set != NULL ? nset : 0, deleted_only, &rows, &n) < 0)
		goto dberr;
	if (set != NULL && nset == 0)
		n = 0;
	if (n == 0) {
		rollback(&a->h);
		mrows_free(rows, n);
		return 0;
	}
	if ((modseq = modseq_next(a, mbox)) == 0 || rows_expunge(a, mbox, rows, n, modseq) < 0)
		goto dberr;
	for (size_t i = 0; i < n; i++) {
		bytes += (int64_t)rows[i].m.size;
		if (!(rows[i].m.flags & MSTORE_F_SEEN))
			unseen++;
		brefs_add(&refs, &nrefs, rows[i].m.blob);
	}
	brefs_group(refs, &nrefs);
	if (counters_add(a, mbox, -(int64_t)n, -unseen, -bytes, 1) < 0 ||
	    headers_drop(a, refs, nrefs) < 0 || commit(&a->h) < 0)
		goto dberr;
	brefs_release(a->ms, refs, nrefs);
	if (fn != NULL)
		for (size_t i = 0; i < n; i++)
			fn(rows[i].m.uid, ctx);
	mrows_free(rows, n);
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	mrows_free(rows, n);
	free(refs);
	return MSTORE_ERR;
}

void
mstore_uidmap_free(struct mstore_uidmap *map)
{
	free(map->src);
	free(map->dst);
	memset(map, 0, sizeof(*map));
}

/*
 * Insert copies of rows into dst with new UIDs (inside a transaction);
 * fills map.  Counters of dst follow; usage too when count_usage.
 */
static int
rows_insert(struct mstore_account *a, const struct mrow *rows, size_t n,
    const struct mstore_mailbox *dst, int count_usage, struct mstore_uidmap *map)
{
	uint64_t modseq;
	uint32_t uid = dst->uidnext;
	int64_t bytes = 0, unseen = 0;
	time_t now = time(NULL);
	sqlite3_stmt *st;

	map->n = 0;
	map->uidvalidity = dst->uidvalidity;
	if (n == 0)
		return 0;
	if ((uint64_t)dst->uidnext + n >= UINT32_MAX)
		return -1;
	map->src = xcalloc(n, sizeof(*map->src));
	map->dst = xcalloc(n, sizeof(*map->dst));
	if ((modseq = modseq_next(a, dst->id)) == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (msg_insert(a, dst->id, uid, modseq, &rows[i].m, (int64_t)now) < 0)
			return -1;
		map->src[i] = rows[i].m.uid;
		map->dst[i] = uid++;
		map->n++;
		bytes += (int64_t)rows[i].m.size;
		if (!(rows[i].m.flags & MSTORE_F_SEEN))
			unseen++;
	}
	if ((st = prep(&a->h, "UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, dst->id);
	sqlite3_bind_int64(st, 2, uid);
	if (run(st) != SQLITE_DONE)
		return -1;
	return counters_add(a, dst->id, (int64_t)n, unseen, bytes, count_usage);
}

/* Move rows of set from src to dst (inside a transaction). */
static int
move_rows(struct mstore_account *a, const struct mstore_mailbox *src,
    const struct mstore_range *set, size_t nset, const struct mstore_mailbox *dst,
    struct mstore_uidmap *map)
{
	struct mrow *rows = NULL;
	size_t n = 0;
	int64_t bytes = 0, unseen = 0;
	uint64_t modseq;

	if (mrows_read(a, src->id, set, nset, 0, &rows, &n) < 0)
		return -1;
	if (set != NULL && nset == 0)
		n = 0;
	if (n == 0) {
		mrows_free(rows, n);
		map->uidvalidity = dst->uidvalidity;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		bytes += (int64_t)rows[i].m.size;
		if (!(rows[i].m.flags & MSTORE_F_SEEN))
			unseen++;
	}
	if (rows_insert(a, rows, n, dst, 0, map) < 0 || (modseq = modseq_next(a, src->id)) == 0 ||
	    rows_expunge(a, src->id, rows, n, modseq) < 0 ||
	    counters_add(a, src->id, -(int64_t)n, -unseen, -bytes, 0) < 0) {
		mrows_free(rows, n);
		return -1;
	}
	mrows_free(rows, n);
	return 0;
}

/*
 * Insert copies of rows into dst of a, inside a's open transaction, and
 * commit: the quota checked, the blobs' references counted before the
 * rows that hold them are committed, the header blocks brought from
 * `from` when it is another account.  On failure the transaction is
 * rolled back and the references taken are given back.  The caller
 * keeps rows.
 */
static int
rows_copy_in(struct mstore_account *a, struct mrow *rows, size_t n,
    const struct mstore_mailbox *d, uint64_t quota, struct mstore_account *from,
    struct mstore_uidmap *map, const char **error_r)
{
	struct bref *refs = NULL;
	size_t nrefs = 0, taken = 0;
	uint64_t bytes = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		bytes += rows[i].m.size;
		brefs_add(&refs, &nrefs, rows[i].m.blob);
	}
	brefs_group(refs, &nrefs);
	if ((rc = over_quota(a, quota, bytes)) != 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		free(refs);
		return AERR(a, MSTORE_EQUOTA, "over quota");
	}
	for (taken = 0; taken < nrefs; taken++) {
		const char *e;
		if (mstore_blob_ref(a->ms, refs[taken].blob, refs[taken].n, &e) < 0) {
			AERR(a, MSTORE_ERR, "%s", e);
			goto fail;
		}
	}
	if (rows_insert(a, rows, n, d, 1, map) < 0)
		goto dberr;
	for (size_t i = 0; from != NULL && from != a && i < nrefs; i++) {
		char *hdr;
		size_t hlen;
		if (mstore_headers(from, refs[i].blob, &hdr, &hlen) == 1) {
			int bad = headers_put(a, refs[i].blob, hdr, hlen) < 0;
			free(hdr);
			if (bad)
				goto dberr;
		}
	}
	if (commit(&a->h) < 0)
		goto dberr;
	free(refs);
	return 0;
dberr:
	DBERR(a);
fail:
	rollback(&a->h);
	mstore_uidmap_free(map);
	/* Give back what was taken; the rest was never counted. */
	brefs_release(a->ms, refs, taken);
	return MSTORE_ERR;
}

static int
copy_or_move(struct mstore_account *a, int64_t src, const struct mstore_range *set, size_t nset,
    int64_t dst, uint64_t quota, int move, struct mstore_uidmap *map, const char **error_r)
{
	struct mstore_mailbox s, d;
	struct mrow *rows = NULL;
	size_t n = 0;
	int rc;

	memset(map, 0, sizeof(*map));
	if (move && src == dst)
		return AERR(a, MSTORE_EINVAL, "cannot move into the same mailbox");
	if (abegin(a, 1) < 0)
		return DBERR(a);
	if ((rc = mailbox_find(a, NULL, src, &s)) <= 0 || (rc = mailbox_find(a, NULL, dst, &d)) <= 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if (move) {
		if (move_rows(a, &s, set, nset, &d, map) < 0 || commit(&a->h) < 0)
			goto dberr;
		return 0;
	}
	if (mrows_read(a, src, set, nset, 0, &rows, &n) < 0)
		goto dberr;
	if (set != NULL && nset == 0)
		n = 0;
	rc = rows_copy_in(a, rows, n, &d, quota, NULL, map, error_r);
	mrows_free(rows, n);
	return rc;
dberr:
	DBERR(a);
	rollback(&a->h);
	mrows_free(rows, n);
	mstore_uidmap_free(map);
	return MSTORE_ERR;
}

int
mstore_copy(struct mstore_account *a, int64_t src, const struct mstore_range *set, size_t nset,
    int64_t dst, uint64_t quota, struct mstore_uidmap *map_r, const char **error_r)
{
	return copy_or_move(a, src, set, nset, dst, quota, 0, map_r, error_r);
}

int
mstore_move(struct mstore_account *a, int64_t src, const struct mstore_range *set, size_t nset,
    int64_t dst, struct mstore_uidmap *map_r, const char **error_r)
{
	return copy_or_move(a, src, set, nset, dst, 0, 1, map_r, error_r);
}

int
mstore_changes(struct mstore_account *a, int64_t mbox, uint64_t since,
    int (*changed)(const struct mstore_msg *m, void *ctx),
    int (*vanished)(uint32_t uid, uint64_t modseq, void *ctx), void *ctx, const char **error_r)
{
	sqlite3_stmt *st;
	struct mstore_msg m;
	int rc = SQLITE_DONE, stop = 0;

	if (changed != NULL) {
		if (sqlite3_prepare_v2(a->h.db, "SELECT " MSG_COLS " FROM messages WHERE "
		    "mailbox_id = ?1 AND modseq > ?2 ORDER BY uid", -1, &st, NULL) != SQLITE_OK)
			return DBERR(a);
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
		while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			msg_row(st, &m);
			stop = changed(&m, ctx);
		}
		sqlite3_finalize(st);
		if (stop != 0)
			return stop;
		if (rc != SQLITE_DONE)
			return DBERR(a);
	}
	if (vanished != NULL) {
		if (sqlite3_prepare_v2(a->h.db, "SELECT uid, modseq FROM expunged WHERE "
		    "mailbox_id = ?1 AND modseq > ?2 ORDER BY uid", -1, &st, NULL) != SQLITE_OK)
			return DBERR(a);
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)since);
		while (stop == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
			stop = vanished((uint32_t)sqlite3_column_int64(st, 0),
			    (uint64_t)sqlite3_column_int64(st, 1), ctx);
		sqlite3_finalize(st);
		if (stop != 0)
			return stop;
		if (rc != SQLITE_DONE)
			return DBERR(a);
	}
	return 0;
}

/* ---- copies between accounts ---- */

int
mstore_copy_across(struct mstore_account *from, int64_t src, const struct mstore_range *set,
    size_t nset, struct mstore_account *a, int64_t dst, uint64_t quota, int move,
    struct mstore_uidmap *map, const char **error_r)
{
	struct mstore_mailbox s, d;
	struct mrow *rows = NULL;
	size_t n = 0;
	int rc;

	memset(map, 0, sizeof(*map));
	if (from == a)
		return move ? mstore_move(a, src, set, nset, dst, map, error_r) :
		    mstore_copy(a, src, set, nset, dst, quota, map, error_r);
	if ((rc = mailbox_find(from, NULL, src, &s)) <= 0) {
		if (rc < 0) {
			DBERR(from);
			return seterr(a->err, error_r, MSTORE_ERR, "%s", from->err);
		}
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if (mrows_read(from, src, set, nset, 0, &rows, &n) < 0) {
		DBERR(from);
		return seterr(a->err, error_r, MSTORE_ERR, "%s", from->err);
	}
	if (set != NULL && nset == 0)
		n = 0;
	if (abegin(a, 1) < 0) {
		mrows_free(rows, n);
		return DBERR(a);
	}
	if ((rc = mailbox_find(a, NULL, dst, &d)) <= 0) {
		if (rc < 0)
			goto dberr;
		rollback(&a->h);
		mrows_free(rows, n);
		return AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	/* The LMTP recipient was the source account's, not this one's. */
	for (size_t i = 0; i < n; i++)
		rows[i].m.delivered_to = NULL;
	if ((rc = rows_copy_in(a, rows, n, &d, quota, from, map, error_r)) != 0) {
		mrows_free(rows, n);
		return rc;
	}
	if (move && n > 0) {
		struct mstore_range *r = xcalloc(n, sizeof(*r));
		for (size_t i = 0; i < n; i++)
			r[i].lo = r[i].hi = rows[i].m.uid;
		rc = expunge_common(from, src, r, n, 0, NULL, NULL, error_r);
		free(r);
		if (rc < 0) {
			mrows_free(rows, n);
			return rc;
		}
	}
	mrows_free(rows, n);
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	mrows_free(rows, n);
	return MSTORE_ERR;
}

/* ---- access control lists ---- */

int
mstore_acl_norm(const char *in, char *out)
{
	static const char all[] = MSTORE_ACL_RIGHTS;
	char have[sizeof(all)] = { 0 };
	size_t n = 0;

	for (const char *p = in; *p != '\0'; p++) {
		const char *add = NULL, *at;
		char one[2] = { *p, '\0' };
		if (*p == 'c')
			add = "k";
		else if (*p == 'd')
			add = "xte";
		else if ((at = strchr(all, *p)) != NULL && *p != '\0')
			add = one;
		else
			return -1;
		for (; *add != '\0'; add++)
			have[strchr(all, *add) - all] = 1;
	}
	for (size_t i = 0; i < sizeof(all) - 1; i++)
		if (have[i])
			out[n++] = all[i];
	out[n] = '\0';
	return 0;
}

int
mstore_acl_list(struct mstore_account *a, int64_t mbox,
    int (*fn)(const char *identifier, const char *rights, void *ctx), void *ctx,
    const char **error_r)
{
	sqlite3_stmt *st = prep(&a->h, "SELECT identifier, rights FROM acl WHERE mailbox_id = ?1 "
	    "ORDER BY identifier");
	int rc, stop = 0;

	if (st == NULL)
		return DBERR(a);
	sqlite3_bind_int64(st, 1, mbox);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = fn((const char *)sqlite3_column_text(st, 0),
		    (const char *)sqlite3_column_text(st, 1), ctx);
	sqlite3_reset(st);
	if (!stop && rc != SQLITE_DONE)
		return DBERR(a);
	return 0;
}

int
mstore_acl_rights(struct mstore_account *a, int64_t mbox, const char *user, char *rights_r,
    const char **error_r)
{
	sqlite3_stmt *st;
	char all[256] = "";
	int rc;

	if (str_casecmp(user, a->name) == 0) {
		strcpy(rights_r, MSTORE_ACL_RIGHTS);
		return 0;
	}
	if ((st = prep(&a->h, "SELECT rights FROM acl WHERE mailbox_id = ?1 AND identifier IN "
	    "(lower(?2), 'anyone', 'authenticated')")) == NULL)
		return DBERR(a);
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strncat(all, (const char *)sqlite3_column_text(st, 0), sizeof(all) - strlen(all) - 1);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return DBERR(a);
	if (mstore_acl_norm(all, rights_r) < 0)
		rights_r[0] = '\0';
	return 0;
}

/* Keep store.db's shares row (grantee, owner) true to the owner's index. */
static int
shares_update(struct mstore_account *a, const char *grantee, const char **error_r)
{
	struct mstore *ms = a->ms;
	sqlite3_stmt *st;
	int rc, shared;

	if ((st = prep(&a->h, "SELECT 1 FROM acl WHERE identifier = ?1 AND instr(rights, 'l') > 0 "
	    "LIMIT 1")) == NULL)
		return DBERR(a);
	sqlite3_bind_text(st, 1, grantee, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return DBERR(a);
	shared = rc == SQLITE_ROW;
	st = prep(&ms->h, shared ? "INSERT OR IGNORE INTO shares (grantee, owner) VALUES (?1, ?2)" :
	    "DELETE FROM shares WHERE grantee = ?1 AND owner = ?2");
	if (st == NULL)
		return AERR(a, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	sqlite3_bind_text(st, 1, grantee, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, a->name, -1, SQLITE_TRANSIENT);
	if (run(st) != SQLITE_DONE)
		return AERR(a, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	return 0;
}

int
mstore_acl_set(struct mstore_account *a, int64_t mbox, const char *identifier,
    const char *rights, const char **error_r)
{
	char norm[MSTORE_ACL_SIZE], id[320], have[MSTORE_ACL_SIZE] = "", merged[64];
	struct mstore_mailbox mb;
	sqlite3_stmt *st;
	int rc, mode = 0;

	if (rights[0] == '+' || rights[0] == '-')
		mode = *rights++;
	if (mstore_acl_norm(rights, norm) < 0)
		return AERR(a, MSTORE_EINVAL, "unknown right in \"%s\"", rights);
	if (identifier[0] == '\0' || strlen(identifier) >= sizeof(id))
		return AERR(a, MSTORE_EINVAL, "bad identifier");
	str_copy(id, identifier, sizeof(id));
	str_lower(id);
	if (strcmp(id, a->name) == 0)
		return AERR(a, MSTORE_EINVAL, "the owner's rights cannot be changed");
	if (abegin(a, 1) < 0)
		return DBERR(a);
	if ((rc = mailbox_find(a, NULL, mbox, &mb)) <= 0) {
		rollback(&a->h);
		return rc < 0 ? DBERR(a) : AERR(a, MSTORE_ENOTFOUND, "no such mailbox");
	}
	if (mode != 0) {
		/* + and -: from the identifier's own entry, read under the lock. */
		if ((st = prep(&a->h, "SELECT rights FROM acl WHERE mailbox_id = ?1 AND "
		    "identifier = ?2")) == NULL)
			goto dberr;
		sqlite3_bind_int64(st, 1, mbox);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW)
			str_copy(have, (const char *)sqlite3_column_text(st, 0), sizeof(have));
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto dberr;
		if (mode == '+') {
			snprintf(merged, sizeof(merged), "%s%s", have, norm);
			(void)mstore_acl_norm(merged, norm);
		} else {
			size_t n = 0;
			for (const char *p = have; *p != '\0'; p++)
				if (strchr(norm, *p) == NULL)
					merged[n++] = *p;
			merged[n] = '\0';
			str_copy(norm, merged, sizeof(norm));
		}
	}
	st = prep(&a->h, norm[0] == '\0' ? "DELETE FROM acl WHERE mailbox_id = ?1 AND identifier = ?2" :
	    "INSERT OR REPLACE INTO acl (mailbox_id, identifier, rights) VALUES (?1, ?2, ?3)");
	if (st == NULL)
		goto dberr;
	sqlite3_bind_int64(st, 1, mbox);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
	if (norm[0] != '\0')
		sqlite3_bind_text(st, 3, norm, -1, SQLITE_TRANSIENT);
	if (run(st) != SQLITE_DONE)
		goto dberr;
	/*
	 * The share is recorded while the index is locked: a grant is never
	 * committed without it, a revoked one at worst leaves a row that
	 * LIST ignores after reading the owner's ACL.
	 */
	if (shares_update(a, id, error_r) < 0) {
		rollback(&a->h);
		return MSTORE_ERR;
	}
	if (commit(&a->h) < 0)
		goto dberr;
	return 0;
dberr:
	DBERR(a);
	rollback(&a->h);
	return MSTORE_ERR;
}

int
mstore_shared_owners(struct mstore *ms, const char *user,
    int (*fn)(const char *owner, void *ctx), void *ctx, const char **error_r)
{
	sqlite3_stmt *st = prep(&ms->h, "SELECT DISTINCT owner FROM shares WHERE grantee IN "
	    "(lower(?1), 'anyone', 'authenticated') AND owner <> lower(?1) ORDER BY owner");
	int rc, stop = 0;

	if (st == NULL)
		return seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
	while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW)
		stop = fn((const char *)sqlite3_column_text(st, 0), ctx);
	sqlite3_reset(st);
	if (!stop && rc != SQLITE_DONE)
		return seterr(ms->err, error_r, MSTORE_ERR, "store.db: %s", sqlite3_errmsg(ms->h.db));
	return 0;
}

int
mstore_shared_subscribe(struct mstore_account *a, const char *name, int on, const char **error_r)
{
	sqlite3_stmt *st = prep(&a->h, on ?
	    "INSERT OR IGNORE INTO shared_subscriptions (name) VALUES (?1)" :
	    "DELETE FROM shared_subscriptions WHERE name = ?1");

	if (st == NULL || sync_level(a, 0) < 0)
		return DBERR(a);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (run(st) != SQLITE_DONE)
		return DBERR(a);
	return 0;
}

int
mstore_shared_subscribed(struct mstore_account *a, const char *name)
{
	sqlite3_stmt *st = prep(&a->h, "SELECT 1 FROM shared_subscriptions WHERE name = ?1");
	int rc;

	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW;
}

/*
 * The quota of account: its profile's quota_bytes (0: none) when it has a
 * profile, default_quota otherwise.
 */
uint64_t
account_quota(struct directory *dir, const char *account)
{
	struct dir_account a;
	struct dir_profile p;

	if (dir != NULL && directory_account_get(dir, account, &a) == 1 && a.profile[0] != '\0' &&
	    directory_profile_get(dir, a.profile, &p) == 1)
		return p.quota_bytes > 0 ? (uint64_t)p.quota_bytes : 0;
	return var_default_quota > 0 ? (uint64_t)var_default_quota : 0;
}
