/* SPDX-License-Identifier: MIT */
/*
 * facteurctl report - what happened to mail, per day and per domain, from
 * the counts the daemons keep (lib/report.h), and the disk use of each
 * account in the mail store.
 *
 *   report [--days N | --from DAY [--to DAY]] [--domain DOMAIN] [--accounts]
 *
 * Days are UTC, YYYY-MM-DD; the default is the last 7 days, today
 * included.  One line per day and domain with a column per count
 * (received, submitted, delivered, deferred, bounced, refusals by reason,
 * spam, viruses, quarantined) and a total line; --accounts adds each
 * account's bytes, messages and quota.  -j prints {"days": [...],
 * "totals": {...}, "accounts": [...]}.  The daemons write their counts
 * once a minute and at a reload (facteur reload): the last minute may not
 * show yet.
 */
#include "facteur-config.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "facteurctl.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/report.h"
#include "store/directory.h"
#include "store/mstore.h"

static int
usage(void)
{
	fprintf(stderr, "usage: facteurctl [-c facteur.conf] [-j] report [--days N | --from DAY "
	    "[--to DAY]] [--domain DOMAIN] [--accounts]\n");
	return 2;
}

static int
day_valid(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	return end != NULL && *end == '\0' && strlen(s) == 10;
}

static void
day_of(time_t t, char *out)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

struct line {
	char day[11];
	char domain[256];
	uint64_t n[REPORT_NKEYS];
};

static void
print_header(void)
{
	static const char *const short_names[REPORT_NKEYS] = {
		"recv", "subm", "dlvd", "defer", "bounce", "rj-rly", "rj-pol", "rj-flt", "spam",
		"virus", "quar",
	};

	printf("%-10s %-24s", "DAY", "DOMAIN");
	for (int k = 0; k < REPORT_NKEYS; k++)
		printf(" %7s", short_names[k]);
	printf("\n");
}

static void
print_line(const struct line *l, int *first)
{
	if (ctl_json) {
		printf("%s{\"day\":", *first ? "" : ",");
		ctl_json_string(stdout, l->day);
		printf(",\"domain\":");
		ctl_json_string(stdout, l->domain);
		for (int k = 0; k < REPORT_NKEYS; k++)
			printf(",\"%s\":%" PRIu64, report_key_names[k], l->n[k]);
		printf("}");
	} else {
		printf("%-10s %-24s", l->day, l->domain);
		for (int k = 0; k < REPORT_NKEYS; k++)
			printf(" %7" PRIu64, l->n[k]);
		printf("\n");
	}
	*first = 0;
}

struct acct_ctx {
	struct mstore *ms;
	struct directory *dir;
	int first;
};

static int
print_account(const char *addr, int enabled, void *arg)
{
	struct acct_ctx *c = arg;
	struct mstore_account *a;
	uint64_t bytes = 0, messages = 0, quota = account_quota(c->dir, addr);
	const char *error;
	int status;

	if (c->ms != NULL && (a = mstore_account_open(c->ms, addr, 0, &status, &error)) != NULL) {
		(void)mstore_usage(a, &bytes, &messages);
		mstore_account_close(&a);
	}
	if (ctl_json) {
		printf("%s{\"account\":", c->first ? "" : ",");
		ctl_json_string(stdout, addr);
		printf(",\"bytes\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"quota\":%" PRIu64 "}", bytes,
		    messages, quota);
	} else {
		if (c->first)
			printf("\n%-40s %14s %10s %14s %6s\n", "ACCOUNT", "BYTES", "MESSAGES", "QUOTA",
			    "USE%");
		char q[32] = "none", pct[16] = "-";
		if (quota > 0) {
			snprintf(q, sizeof(q), "%" PRIu64, quota);
			snprintf(pct, sizeof(pct), "%.1f%%", 100.0 * (double)bytes / (double)quota);
		}
		printf("%-40s %14" PRIu64 " %10" PRIu64 " %14s %6s\n", addr, bytes, messages, q, pct);
	}
	c->first = 0;
	return 0;
}

int
ctl_report(int argc, char **argv)
{
	char from[11], to[11];
	const char *domain = NULL, *error;
	int days = 7, accounts = 0, first = 1, rc = 0;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	struct line cur, total;
	int have = 0;

	from[0] = to[0] = '\0';
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-j") == 0) {
			ctl_json = 1;
		} else if (strcmp(argv[i], "--accounts") == 0) {
			accounts = 1;
		} else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v < 1 || v > 3660) {
				fprintf(stderr, "facteurctl: report: --days takes 1 to 3660\n");
				return 2;
			}
			days = (int)v;
		} else if ((strcmp(argv[i], "--from") == 0 || strcmp(argv[i], "--to") == 0) &&
		    i + 1 < argc) {
			char *dst = argv[i][2] == 'f' ? from : to;
			if (!day_valid(argv[i + 1])) {
				fprintf(stderr, "facteurctl: report: %s \"%s\": not a day (YYYY-MM-DD)\n",
				    argv[i], argv[i + 1]);
				return 2;
			}
			str_copy(dst, argv[++i], 11);
		} else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc) {
			domain = argv[++i];
		} else {
			return usage();
		}
	}
	if (to[0] == '\0')
		day_of(time(NULL), to);
	if (from[0] == '\0')
		day_of(time(NULL) - (time_t)(days - 1) * 86400, from);
	if (strcmp(from, to) > 0) {
		fprintf(stderr, "facteurctl: report: --from %s is after --to %s\n", from, to);
		return 2;
	}
	proc_drop_privileges(var_mail_owner);
	memset(&total, 0, sizeof(total));
	str_copy(total.day, "total", sizeof(total.day));
	str_copy(total.domain, domain != NULL ? domain : "*", sizeof(total.domain));
	if (ctl_json)
		printf("{\"from\":\"%s\",\"to\":\"%s\",\"days\":[", from, to);
	else
		print_header();
	/* No database yet: nothing was counted, which is a report of zeros. */
	if (sqlite3_open_v2(report_path(), &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT day, domain, key, n FROM counts WHERE day BETWEEN ?1 "
	    "AND ?2 AND (?3 IS NULL OR domain = lower(?3)) ORDER BY day, domain", -1, &st,
	    NULL) == SQLITE_OK) {
		int step;
		sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
		if (domain != NULL)
			sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 3);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(st, 0);
			const char *dom = (const char *)sqlite3_column_text(st, 1);
			const char *key = (const char *)sqlite3_column_text(st, 2);
			uint64_t n = (uint64_t)sqlite3_column_int64(st, 3);
			if (!have || strcmp(cur.day, d) != 0 || strcmp(cur.domain, dom) != 0) {
				if (have)
					print_line(&cur, &first);
				memset(&cur, 0, sizeof(cur));
				str_copy(cur.day, d, sizeof(cur.day));
				str_copy(cur.domain, dom, sizeof(cur.domain));
				have = 1;
			}
			for (int k = 0; k < REPORT_NKEYS; k++) {
				if (strcmp(key, report_key_names[k]) == 0) {
					cur.n[k] += n;
					total.n[k] += n;
				}
			}
		}
		if (step != SQLITE_DONE) {
			fprintf(stderr, "facteurctl: report: %s: %s\n", report_path(), sqlite3_errmsg(db));
			rc = 1;
		}
		if (have)
			print_line(&cur, &first);
	} else if (db != NULL && sqlite3_errcode(db) != SQLITE_CANTOPEN &&
	    strstr(sqlite3_errmsg(db), "no such table") == NULL) {
		/* (A database being created by a daemon's first write has no table yet.) */
		fprintf(stderr, "facteurctl: report: %s: %s\n", report_path(), sqlite3_errmsg(db));
		rc = 1;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (ctl_json) {
		printf("],\"totals\":{");
		for (int k = 0; k < REPORT_NKEYS; k++)
			printf("%s\"%s\":%" PRIu64, k > 0 ? "," : "", report_key_names[k], total.n[k]);
		printf("}");
	} else {
		print_line(&total, &first);
	}
	if (accounts) {
		struct acct_ctx c = { NULL, NULL, 1 };
		if (ctl_json)
			printf(",\"accounts\":[");
		c.dir = directory_open(directory_default_path(), 1, &error);
		/* No store yet (nothing delivered): every account uses nothing. */
		if (c.dir != NULL && (access(mstore_default_dir(), F_OK) < 0 ||
		    (c.ms = mstore_open(NULL, &error)) != NULL)) {
			(void)directory_account_foreach(c.dir, domain, print_account, &c);
		} else {
			fprintf(stderr, "facteurctl: report: %s\n", error);
			rc = 1;
		}
		mstore_close(&c.ms);
		directory_close(&c.dir);
		if (ctl_json)
			printf("]");
	}
	if (ctl_json)
		printf("}\n");
	return rc;
}
