/* SPDX-License-Identifier: MIT */
/*
 * api_store - tokens and audit log of the admin API.  See api_store.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "api_store.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define TOKEN_BYTES 32

struct api_store {
	sqlite3 *db;
	time_t last_purge;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS tokens ("
	" hash TEXT PRIMARY KEY,"		/* hex SHA-256 of the token */
	" admin TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" client TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS tokens_admin ON tokens (admin);"
	"CREATE TABLE IF NOT EXISTS audit ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" admin TEXT NOT NULL,"
	" client TEXT NOT NULL,"
	" method TEXT NOT NULL,"
	" path TEXT NOT NULL,"
	" object TEXT NOT NULL,"
	" status INTEGER NOT NULL,"
	" result TEXT NOT NULL);";

static char store_error[512];

static const char *
fail_text(const char *what, sqlite3 *db)
{
	snprintf(store_error, sizeof(store_error), "%s: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : "cannot open");
	return store_error;
}

const char *
api_store_default_path(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/adminapi/api.db", var_spool_directory);
	return path;
}

struct api_store *
api_store_open(const char *path, const char **error_r)
{
	struct api_store *st = xcalloc(1, sizeof(*st));
	char *msg = NULL;
	int version;
	sqlite3_stmt *q;
	mode_t mask;
	int rc;

	/* Tokens' hashes and the audit log: mail_owner's alone (the -wal and -shm too). */
	mask = umask(077);
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	umask(mask);
	if (rc != SQLITE_OK) {
		*error_r = fail_text(path, st->db);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(st->db, "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
	    NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK) {
		snprintf(store_error, sizeof(store_error), "%s: %s", path,
		    msg != NULL ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		*error_r = store_error;
		goto fail;
	}
	version = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
	sqlite3_finalize(q);
	if (version > SCHEMA_VERSION) {
		snprintf(store_error, sizeof(store_error), "%s: of a newer facteur (version %d, this one "
		    "knows %d)", path, version, SCHEMA_VERSION);
		*error_r = store_error;
		goto fail;
	}
	if (sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(st->db, "PRAGMA user_version = 1; COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(store_error, sizeof(store_error), "%s: cannot create the tables: %s", path,
		    msg != NULL ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		*error_r = store_error;
		goto fail;
	}
	return st;
fail:
	api_store_close(&st);
	return NULL;
}

void
api_store_close(struct api_store **stp)
{
	struct api_store *st = *stp;

	if (st == NULL)
		return;
	sqlite3_close(st->db);
	free(st);
	*stp = NULL;
}

/* Hex SHA-256 of token into hex (65 bytes). */
static void
token_hash(const char *token, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		panic("SHA-256 not available");
	for (unsigned int i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void
purge_expired(struct api_store *st, time_t now)
{
	sqlite3_stmt *q;

	if (now - st->last_purge < 60)
		return;
	st->last_purge = now;
	if (sqlite3_prepare_v2(st->db, "DELETE FROM tokens WHERE expires <= ?1", -1, &q, NULL) !=
	    SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)now);
	if (sqlite3_step(q) != SQLITE_DONE)
		log_warnx("adminapi: cannot delete expired tokens: %s", sqlite3_errmsg(st->db));
	sqlite3_finalize(q);
}

int
api_token_new(struct api_store *st, const char *admin, const char *client, long lifetime,
    char *token_r, long long *expires_r, const char **error_r)
{
	unsigned char raw[TOKEN_BYTES];
	char b64[64], hex[65];
	time_t now = time(NULL);
	sqlite3_stmt *q;
	size_t n = 0;
	int rc;

	purge_expired(st, now);
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		*error_r = "no random bytes for the token";
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	for (const char *p = b64; *p != '\0' && *p != '='; p++)
		token_r[n++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	token_r[n] = '\0';
	explicit_bzero(b64, sizeof(b64));
	if (n != API_TOKEN_LEN)
		panic("token of %zu characters", n);
	token_hash(token_r, hex);
	*expires_r = (long long)now + lifetime;
	if (sqlite3_prepare_v2(st->db, "INSERT INTO tokens (hash, admin, created, expires, client) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)", -1, &q, NULL) != SQLITE_OK) {
		*error_r = fail_text("token", st->db);
		return -1;
	}
	sqlite3_bind_text(q, 1, hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, admin, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)now);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)*expires_r);
	sqlite3_bind_text(q, 5, client, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		*error_r = fail_text("token", st->db);
		return -1;
	}
	return 0;
}

/* Is s a token's shape (43 characters of base64url)? */
static int
token_shape(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_'))
			return 0;
	return n == API_TOKEN_LEN;
}

int
api_token_check(struct api_store *st, const char *token, char *admin_r, size_t size,
    long long *expires_r, char *hash_r)
{
	sqlite3_stmt *q;
	int rc, found = 0;

	hash_r[0] = '\0';
	if (!token_shape(token))
		return 0;
	token_hash(token, hash_r);
	if (sqlite3_prepare_v2(st->db, "SELECT admin, expires FROM tokens WHERE hash = ?1 AND "
	    "expires > ?2", -1, &q, NULL) != SQLITE_OK) {
		log_warnx("adminapi: token lookup: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_text(q, 1, hash_r, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)time(NULL));
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		str_copy(admin_r, (const char *)sqlite3_column_text(q, 0), size);
		*expires_r = sqlite3_column_int64(q, 1);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		log_warnx("adminapi: token lookup: %s", sqlite3_errmsg(st->db));
		found = -1;
	}
	sqlite3_finalize(q);
	return found;
}

static int
delete_where(struct api_store *st, const char *sql, const char *value)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(q, 1, value, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		log_warnx("adminapi: token deletion: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
}

int
api_token_delete(struct api_store *st, const char *hash)
{
	return delete_where(st, "DELETE FROM tokens WHERE hash = ?1", hash);
}

int
api_token_delete_admin(struct api_store *st, const char *admin)
{
	return delete_where(st, "DELETE FROM tokens WHERE admin = ?1", admin);
}

int
api_audit_add(struct api_store *st, const struct api_audit *a, const char **error_r)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(st->db, "INSERT INTO audit (time, admin, client, method, path, "
	    "object, status, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &q, NULL) !=
	    SQLITE_OK) {
		*error_r = fail_text("audit", st->db);
		return -1;
	}
	sqlite3_bind_int64(q, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(q, 2, a->admin, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 3, a->client, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 4, a->method, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 5, a->path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 6, a->object, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 7, a->status);
	sqlite3_bind_text(q, 8, a->result, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		*error_r = fail_text("audit", st->db);
		return -1;
	}
	return 0;
}

static json_t *
column_string(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return json_string(s != NULL ? (const char *)s : "");
}

int
api_audit_list(struct api_store *st, long offset, long limit, json_t *items, int *more_r)
{
	sqlite3_stmt *q;
	long n = 0;
	int rc;

	*more_r = 0;
	if (sqlite3_prepare_v2(st->db, "SELECT id, time, admin, client, method, path, object, "
	    "status, result FROM audit ORDER BY id DESC LIMIT ?1 OFFSET ?2", -1, &q, NULL) !=
	    SQLITE_OK) {
		log_warnx("adminapi: audit list: %s", sqlite3_errmsg(st->db));
		return -1;
	}
	sqlite3_bind_int64(q, 1, (sqlite3_int64)limit + 1);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)offset);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		time_t t = (time_t)sqlite3_column_int64(q, 1);
		char when[32] = "";
		struct tm tm;
		json_t *o;

		if (n == limit) {
			*more_r = 1;
			break;
		}
		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		o = json_object();
		json_object_set_new(o, "id", json_integer(sqlite3_column_int64(q, 0)));
		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "admin", column_string(q, 2));
		json_object_set_new(o, "client", column_string(q, 3));
		json_object_set_new(o, "method", column_string(q, 4));
		json_object_set_new(o, "path", column_string(q, 5));
		json_object_set_new(o, "object", column_string(q, 6));
		json_object_set_new(o, "status", json_integer(sqlite3_column_int(q, 7)));
		json_object_set_new(o, "result", column_string(q, 8));
		json_array_append_new(items, o);
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		log_warnx("adminapi: audit list: %s", sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_finalize(q);
	return 0;
}
