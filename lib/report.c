/* SPDX-License-Identifier: MIT */
/*
 * report - per-day, per-domain counts.  See report.h.
 *
 * In memory: a small open-addressing table of (day, domain, key) -> n
 * under a mutex (filter workers and the loop both count).  report_flush
 * swaps it for an empty one and adds the rows to reports.db with UPSERTs
 * in one transaction; when the database cannot be written the counts go
 * back into the table for the next try, up to a bound.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/report.h"

#define DOMAIN_MAX 256
/* Distinct (day, domain, key) rows held between flushes before new domains go to "-". */
#define ROWS_MAX 4096
#define FLUSH_INTERVAL 60

const char *const report_key_names[REPORT_NKEYS] = {
#define X(name, text) #name,
	FACTEUR_REPORT_KEYS(X)
#undef X
};

const char *const report_key_texts[REPORT_NKEYS] = {
#define X(name, text) text,
	FACTEUR_REPORT_KEYS(X)
#undef X
};

struct row {
	char day[11];
	char domain[DOMAIN_MAX];
	enum report_key key;
	uint64_t n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct row *rows;
static size_t nrows, caprows;
static struct event *flush_ev;
static sqlite3 *db;

const char *
report_path(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/reports/reports.db", var_spool_directory);
	return path;
}

static void
domain_of(const char *addr, char *out)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	const char *d = at != NULL ? at + 1 : addr;
	size_t n = 0;

	if (d == NULL || *d == '\0' || (at == NULL && strchr(d, '.') == NULL)) {
		strcpy(out, "-");
		return;
	}
	for (; *d != '\0' && *d != '>' && n < DOMAIN_MAX - 1; d++)
		out[n++] = (char)tolower((unsigned char)*d);
	out[n] = '\0';
}

static void
add_row(const char *day, const char *domain, enum report_key key, uint64_t n)
{
	for (size_t i = nrows; i-- > 0;) {
		if (rows[i].key == key && strcmp(rows[i].domain, domain) == 0 &&
		    strcmp(rows[i].day, day) == 0) {
			rows[i].n += n;
			return;
		}
	}
	if (nrows >= ROWS_MAX && strcmp(domain, "-") != 0) {
		add_row(day, "-", key, n);
		return;
	}
	if (nrows == caprows) {
		caprows = caprows == 0 ? 32 : caprows * 2;
		rows = xrealloc(rows, caprows * sizeof(*rows));
	}
	str_copy(rows[nrows].day, day, sizeof(rows[nrows].day));
	str_copy(rows[nrows].domain, domain, sizeof(rows[nrows].domain));
	rows[nrows].key = key;
	rows[nrows].n = n;
	nrows++;
}

void
report_count(const char *addr, enum report_key key, uint64_t n)
{
	char domain[DOMAIN_MAX], day[16];
	time_t now = time(NULL);
	struct tm tm;

	if (key >= REPORT_NKEYS || n == 0)
		return;
	domain_of(addr, domain);
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	pthread_mutex_lock(&lock);
	add_row(day, domain, key, n);
	pthread_mutex_unlock(&lock);
}

static int
db_open(void)
{
	if (db != NULL)
		return 0;
	if (sqlite3_open_v2(report_path(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		log_warnx("report: %s: %s", report_path(), db != NULL ? sqlite3_errmsg(db) :
		    "cannot open");
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(db, 2000);
	if (sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	    "CREATE TABLE IF NOT EXISTS counts ("
	    " day TEXT NOT NULL, domain TEXT NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL,"
	    " PRIMARY KEY (day, domain, key)) WITHOUT ROWID", NULL, NULL, NULL) != SQLITE_OK) {
		log_warnx("report: %s: %s", report_path(), sqlite3_errmsg(db));
		sqlite3_close(db);
		db = NULL;
		return -1;
	}
	return 0;
}

int
report_flush(void)
{
	struct row *mine;
	size_t n;
	sqlite3_stmt *st = NULL;
	int ok = 0;

	pthread_mutex_lock(&lock);
	mine = rows;
	n = nrows;
	rows = NULL;
	nrows = caprows = 0;
	pthread_mutex_unlock(&lock);
	if (n == 0)
		return 0;
	if (db_open() == 0 &&
	    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "INSERT INTO counts (day, domain, key, n) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT (day, domain, key) DO UPDATE SET n = n + excluded.n", -1, &st,
	    NULL) == SQLITE_OK) {
		ok = 1;
		for (size_t i = 0; i < n && ok; i++) {
			sqlite3_bind_text(st, 1, mine[i].day, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, mine[i].domain, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, report_key_names[mine[i].key], -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)mine[i].n);
			ok = sqlite3_step(st) == SQLITE_DONE;
			sqlite3_reset(st);
		}
		ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
	}
	if (!ok) {
		if (db != NULL) {
			log_warnx("report: %s: %s (counts kept for the next try)", report_path(),
			    sqlite3_errmsg(db));
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		}
		/* Back into the table: nothing counted is lost while the database is away. */
		pthread_mutex_lock(&lock);
		for (size_t i = 0; i < n; i++)
			add_row(mine[i].day, mine[i].domain, mine[i].key, mine[i].n);
		pthread_mutex_unlock(&lock);
	}
	sqlite3_finalize(st);
	free(mine);
	return ok ? 0 : -1;
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { FLUSH_INTERVAL, 0 };

	(void)report_flush();
	evtimer_add(flush_ev, &tv);
}

static void
flush_at_exit(void)
{
	(void)report_flush();
	if (db != NULL)
		sqlite3_close(db);
	db = NULL;
}

void
report_init(struct event_base *base)
{
	struct timeval tv = { FLUSH_INTERVAL, 0 };

	if (flush_ev != NULL)
		return;
	flush_ev = evtimer_new(base, flush_cb, NULL);
	evtimer_add(flush_ev, &tv);
	atexit(flush_at_exit);
}
