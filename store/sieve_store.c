/* SPDX-License-Identifier: MIT */
/*
 * sieve_store - an account's Sieve scripts as files beside its index.
 * See sieve_store.h.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/mem.h"
#include "store/mstore.h"
#include "store/sieve.h"
#include "store/sieve_store.h"

#define SUFFIX ".sieve"
#define ACTIVE "active"

struct sieve_store {
	char dir[4096];
};

static char errbuf[768];

static int
seterr(const char **error_r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
seterr(const char **error_r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = errbuf;
	return rc;
}

int
sieve_name_valid(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name);

	if (len == 0 || len > SIEVE_NAME_MAX || name[0] == '.')
		return 0;
	for (; *p != '\0'; p++) {
		/* No controls (RFC 5804 1.6), no path separator. */
		if (*p < 0x20 || *p == 0x7f || *p == '/')
			return 0;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return 0;
	}
	/* Valid UTF-8. */
	for (p = (const unsigned char *)name; *p != '\0';) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ? 3 :
		    *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
		if (n == 0)
			return 0;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

/* The account's sieve/ directory into buf; -1 if account is no account. */
static int
sieve_dir(struct mstore *ms, const char *account, char *buf, size_t size)
{
	const char *index = mstore_account_path(ms, account);
	const char *slash;

	if (index == NULL || (slash = strrchr(index, '/')) == NULL)
		return -1;
	if ((size_t)snprintf(buf, size, "%.*s/sieve", (int)(slash - index), index) >= size)
		return -1;
	return 0;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];

	if (str_copy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		return -1;
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) < 0 && errno != EEXIST ? -1 : 0;
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

struct sieve_store *
sieve_store_open(struct mstore *ms, const char *account, int create, const char **error_r)
{
	struct sieve_store *ss = xcalloc(1, sizeof(*ss));

	if (sieve_dir(ms, account, ss->dir, sizeof(ss->dir)) < 0) {
		free(ss);
		seterr(error_r, SIEVE_STORE_EINVAL, "\"%s\": not an account address", account);
		return NULL;
	}
	if (create && mkdir_p(ss->dir, 0750) < 0) {
		seterr(error_r, SIEVE_STORE_ERR, "cannot create %s: %s", ss->dir, strerror(errno));
		free(ss);
		return NULL;
	}
	return ss;
}

void
sieve_store_close(struct sieve_store **ss)
{
	free(*ss);
	*ss = NULL;
}

const char *
sieve_store_dir(const struct sieve_store *ss)
{
	return ss->dir;
}

static void
script_path(const struct sieve_store *ss, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s" SUFFIX, ss->dir, name);
}

static int
active_in(const char *dir, char *name_r, size_t size, const char **error_r)
{
	char path[4200], target[SIEVE_NAME_MAX + 16];
	size_t slen = strlen(SUFFIX);
	ssize_t n;

	snprintf(path, sizeof(path), "%s/" ACTIVE, dir);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return seterr(error_r, SIEVE_STORE_ERR, "%s: %s", path, strerror(errno));
	}
	target[n] = '\0';
	if ((size_t)n <= slen || strcmp(target + n - (ssize_t)slen, SUFFIX) != 0 ||
	    strchr(target, '/') != NULL)
		return seterr(error_r, SIEVE_STORE_ERR, "%s: points at \"%s\", not a script", path,
		    target);
	target[(size_t)n - slen] = '\0';
	str_copy(name_r, target, size);
	return 1;
}

int
sieve_store_active(struct sieve_store *ss, char *name_r, size_t size, const char **error_r)
{
	char path[4400];
	struct stat sb;
	int rc = active_in(ss->dir, name_r, size, error_r);

	if (rc != 1)
		return rc;
	script_path(ss, name_r, path, sizeof(path));
	/* A link to nothing is no active script. */
	return stat(path, &sb) == 0 ? 1 : 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the scripts, sorted; *n_r of them (free each and the array). */
static char **
names(struct sieve_store *ss, size_t *n_r, const char **error_r)
{
	DIR *d = opendir(ss->dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, slen = strlen(SUFFIX);

	*n_r = 0;
	if (d == NULL) {
		if (errno == ENOENT)
			return xcalloc(1, sizeof(char *));
		seterr(error_r, SIEVE_STORE_ERR, "%s: %s", ss->dir, strerror(errno));
		return NULL;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		char *name;
		if (len <= slen || strcmp(e->d_name + len - slen, SUFFIX) != 0)
			continue;
		name = xstrndup(e->d_name, len - slen);
		if (!sieve_name_valid(name)) {
			free(name);
			continue;
		}
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = name;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names);
	*n_r = n;
	return v != NULL ? v : xcalloc(1, sizeof(char *));
}

int
sieve_store_list(struct sieve_store *ss, int (*fn)(const char *name, int active, void *ctx),
    void *ctx, const char **error_r)
{
	char active[SIEVE_NAME_MAX + 1] = "";
	char **v;
	size_t n;
	int rc = 0;

	if (sieve_store_active(ss, active, sizeof(active), error_r) < 0)
		return SIEVE_STORE_ERR;
	if ((v = names(ss, &n, error_r)) == NULL)
		return SIEVE_STORE_ERR;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fn(v[i], strcmp(v[i], active) == 0, ctx);
		free(v[i]);
	}
	free(v);
	return rc;
}

int
sieve_store_count(struct sieve_store *ss)
{
	const char *error;
	size_t n;
	char **v = names(ss, &n, &error);

	if (v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return (int)n;
}

static int
read_file(const char *path, char **text_r, size_t *len_r, const char **error_r)
{
	struct stat sb;
	char *buf;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return seterr(error_r, errno == ENOENT ? SIEVE_STORE_ENOTFOUND : SIEVE_STORE_ERR,
		    "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > SIEVE_MAX_SCRIPT_SIZE) {
		close(fd);
		return seterr(error_r, SIEVE_STORE_ERR, "%s: not a script file of at most %d bytes",
		    path, SIEVE_MAX_SCRIPT_SIZE);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (done < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)sb.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	buf[done] = '\0';
	*text_r = buf;
	*len_r = done;
	return 0;
}

int
sieve_store_get(struct sieve_store *ss, const char *name, char **text_r, size_t *len_r,
    const char **error_r)
{
	char path[4400];

	if (!sieve_name_valid(name))
		return seterr(error_r, SIEVE_STORE_ENOTFOUND, "no script \"%.*s\"", SIEVE_NAME_MAX,
		    name);
	script_path(ss, name, path, sizeof(path));
	return read_file(path, text_r, len_r, error_r);
}

static int
exists(const struct sieve_store *ss, const char *name)
{
	char path[4400];
	struct stat sb;

	script_path(ss, name, path, sizeof(path));
	return lstat(path, &sb) == 0;
}

int
sieve_store_put(struct sieve_store *ss, const char *name, const char *text, size_t len,
    const char **error_r)
{
	static unsigned int counter;
	char tmp[4400], path[4400];
	size_t done = 0;
	int fd;

	if (!sieve_name_valid(name))
		return seterr(error_r, SIEVE_STORE_EINVAL, "bad script name");
	if (len > SIEVE_MAX_SCRIPT_SIZE)
		return seterr(error_r, SIEVE_STORE_EQUOTA, "script too big (at most %d bytes)",
		    SIEVE_MAX_SCRIPT_SIZE);
	if (!exists(ss, name) && sieve_store_count(ss) >= SIEVE_MAX_SCRIPTS)
		return seterr(error_r, SIEVE_STORE_EQUOTA, "too many scripts (at most %d)",
		    SIEVE_MAX_SCRIPTS);
	if (mkdir_p(ss->dir, 0750) < 0)
		return seterr(error_r, SIEVE_STORE_ERR, "cannot create %s: %s", ss->dir,
		    strerror(errno));
	snprintf(tmp, sizeof(tmp), "%s/.tmp.%ld.%u", ss->dir, (long)getpid(), ++counter);
	script_path(ss, name, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return seterr(error_r, SIEVE_STORE_ERR, "%s: %s", tmp, strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done != len || fsync(fd) < 0 || close(fd) < 0) {
		int e = errno;
		if (fcntl(fd, F_GETFD) >= 0)
			close(fd);
		unlink(tmp);
		return seterr(error_r, SIEVE_STORE_ERR, "write %s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return seterr(error_r, SIEVE_STORE_ERR, "rename to %s: %s", path, strerror(e));
	}
	fsync_dir(ss->dir);
	return 0;
}

int
sieve_store_delete(struct sieve_store *ss, const char *name, const char **error_r)
{
	char active[SIEVE_NAME_MAX + 1], path[4400];
	int rc;

	if (!sieve_name_valid(name) || !exists(ss, name))
		return seterr(error_r, SIEVE_STORE_ENOTFOUND, "no script \"%.*s\"", SIEVE_NAME_MAX,
		    name);
	if ((rc = sieve_store_active(ss, active, sizeof(active), error_r)) < 0)
		return rc;
	if (rc == 1 && strcmp(active, name) == 0)
		return seterr(error_r, SIEVE_STORE_EACTIVE, "the script is active");
	script_path(ss, name, path, sizeof(path));
	if (unlink(path) < 0)
		return seterr(error_r, errno == ENOENT ? SIEVE_STORE_ENOTFOUND : SIEVE_STORE_ERR,
		    "%s: %s", path, strerror(errno));
	fsync_dir(ss->dir);
	return 0;
}

/* Point "active" at name's file, replacing the link in one rename. */
static int
link_active(struct sieve_store *ss, const char *name, const char **error_r)
{
	char tmp[4400], path[4400], target[SIEVE_NAME_MAX + 16];

	snprintf(tmp, sizeof(tmp), "%s/.active.%ld", ss->dir, (long)getpid());
	snprintf(path, sizeof(path), "%s/" ACTIVE, ss->dir);
	snprintf(target, sizeof(target), "%s" SUFFIX, name);
	unlink(tmp);
	if (symlink(target, tmp) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return seterr(error_r, SIEVE_STORE_ERR, "cannot make %s point at %s: %s", path,
		    target, strerror(e));
	}
	fsync_dir(ss->dir);
	return 0;
}

int
sieve_store_rename(struct sieve_store *ss, const char *from, const char *to,
    const char **error_r)
{
	char active[SIEVE_NAME_MAX + 1], pfrom[4400], pto[4400];
	int rc;

	if (!sieve_name_valid(from) || !exists(ss, from))
		return seterr(error_r, SIEVE_STORE_ENOTFOUND, "no script \"%.*s\"", SIEVE_NAME_MAX,
		    from);
	if (!sieve_name_valid(to))
		return seterr(error_r, SIEVE_STORE_EINVAL, "bad script name");
	if (strcmp(from, to) == 0)
		return 0;
	if ((rc = sieve_store_active(ss, active, sizeof(active), error_r)) < 0)
		return rc;
	script_path(ss, from, pfrom, sizeof(pfrom));
	script_path(ss, to, pto, sizeof(pto));
	/* A second name first: the active link never dangles. */
	if (link(pfrom, pto) < 0)
		return seterr(error_r, errno == EEXIST ? SIEVE_STORE_EEXISTS : SIEVE_STORE_ERR,
		    "%s: %s", pto, errno == EEXIST ? "a script of that name exists" :
		    strerror(errno));
	if (rc == 1 && strcmp(active, from) == 0 && link_active(ss, to, error_r) < 0) {
		unlink(pto);
		return SIEVE_STORE_ERR;
	}
	if (unlink(pfrom) < 0)
		return seterr(error_r, SIEVE_STORE_ERR, "%s: %s", pfrom, strerror(errno));
	fsync_dir(ss->dir);
	return 0;
}

int
sieve_store_activate(struct sieve_store *ss, const char *name, const char **error_r)
{
	char path[4400];

	if (name == NULL || name[0] == '\0') {
		snprintf(path, sizeof(path), "%s/" ACTIVE, ss->dir);
		if (unlink(path) < 0 && errno != ENOENT)
			return seterr(error_r, SIEVE_STORE_ERR, "%s: %s", path, strerror(errno));
		fsync_dir(ss->dir);
		return 0;
	}
	if (!sieve_name_valid(name) || !exists(ss, name))
		return seterr(error_r, SIEVE_STORE_ENOTFOUND, "no script \"%.*s\"", SIEVE_NAME_MAX,
		    name);
	return link_active(ss, name, error_r);
}

int
sieve_store_active_load(struct mstore *ms, const char *account, char *name_r, size_t size,
    char **text_r, size_t *len_r, const char **error_r)
{
	char dir[4096], path[4400];
	int rc;

	if (sieve_dir(ms, account, dir, sizeof(dir)) < 0)
		return seterr(error_r, SIEVE_STORE_EINVAL, "\"%s\": not an account address", account);
	if ((rc = active_in(dir, name_r, size, error_r)) != 1)
		return rc;
	snprintf(path, sizeof(path), "%s/%s" SUFFIX, dir, name_r);
	rc = read_file(path, text_r, len_r, error_r);
	if (rc == SIEVE_STORE_ENOTFOUND)
		return 0;
	return rc < 0 ? rc : 1;
}

/* ---- vacation ---- */

static sqlite3 *
vacation_db(struct mstore *ms, const char *account, const char **error_r)
{
	char dir[4096], path[4200];
	sqlite3 *db = NULL;

	if (sieve_dir(ms, account, dir, sizeof(dir)) < 0) {
		seterr(error_r, SIEVE_STORE_EINVAL, "\"%s\": not an account address", account);
		return NULL;
	}
	if (mkdir_p(dir, 0750) < 0) {
		seterr(error_r, SIEVE_STORE_ERR, "cannot create %s: %s", dir, strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/vacation.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(db, 5000) != SQLITE_OK ||
	    sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS vacation (key TEXT PRIMARY KEY, "
	    "until INTEGER NOT NULL)", NULL, NULL, NULL) != SQLITE_OK) {
		seterr(error_r, SIEVE_STORE_ERR, "%s: %s", path, db != NULL ? sqlite3_errmsg(db) :
		    "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

int
sieve_store_vacation_seen(struct mstore *ms, const char *account, const char *key, time_t now,
    const char **error_r)
{
	sqlite3 *db = vacation_db(ms, account, error_r);
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (db == NULL)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT until FROM vacation WHERE key = ?1", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		switch (sqlite3_step(st)) {
		case SQLITE_ROW:
			rc = sqlite3_column_int64(st, 0) > (sqlite3_int64)now;
			break;
		case SQLITE_DONE:
			rc = 0;
			break;
		default:
			break;
		}
	}
	if (rc < 0)
		seterr(error_r, SIEVE_STORE_ERR, "vacation.db: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

int
sieve_store_vacation_record(struct mstore *ms, const char *account, const char *key,
    time_t now, time_t until, const char **error_r)
{
	sqlite3 *db = vacation_db(ms, account, error_r);
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (db == NULL)
		return -1;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO vacation (key, until) VALUES (?1, ?2)",
	    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)until);
		if (sqlite3_step(st) == SQLITE_DONE) {
			char sql[96];
			/* What is past its time goes: the table stays the size of :days. */
			snprintf(sql, sizeof(sql), "DELETE FROM vacation WHERE until < %lld",
			    (long long)now);
			if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK &&
			    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
				rc = 0;
		}
	}
	if (rc < 0) {
		seterr(error_r, SIEVE_STORE_ERR, "vacation.db: %s", sqlite3_errmsg(db));
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}
