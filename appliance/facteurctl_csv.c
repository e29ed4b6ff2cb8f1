/* SPDX-License-Identifier: MIT */
/*
 * facteurctl import|export - the directory's accounts, aliases, groups and
 * resources in CSV files (lib/csv.h), for the migration of a whole
 * establishment and for scripts that keep the directory in step with
 * another source.
 *
 *   import accounts|aliases|groups|resources FILE [--dry-run] [--continue]
 *          [--disable-missing|--delete-missing] [--separator ,|;] [--threads N]
 *   export accounts|aliases|groups|resources [DOMAIN] [-o FILE] [--separator ,|;]
 *
 * A file starts with a header naming its columns (any order, any case);
 * an unknown column is an error.  The file says what its entries are: an
 * entry absent from the directory is created, one that differs is updated,
 * and a column the file lacks is left as it is.  Importing the same file
 * twice changes nothing the second time, and export writes what import
 * reads, so export then import is "unchanged" for every entry.
 *
 * The whole file is checked and applied in one transaction (a batch of
 * store/directory.h).  Every error is reported as FILE:LINE: field 'F':
 * ..., and by default nothing is applied when there is one (exit 1);
 * --continue applies the good entries and still exits 1; --dry-run applies
 * nothing and says what would change.  --disable-missing and
 * --delete-missing act on the entries of the domains the file mentions
 * that it does not list, never on other domains.
 *
 * Plain passwords are hashed with argon2id as account passwd does (40 to
 * 90 ms of CPU and 19 MiB each: over an hour for 100,000 on 2 CPUs), by
 * --threads worker threads (default: one per CPU) before the directory is
 * locked; a password already stored is checked against the file's
 * rather than hashed again, at the same cost.  password_hash columns are
 * stored as they are (after a check: argon2id's is free, a crypt(3)
 * hash's costs one hashing), which is how 100,000 accounts go in under a
 * minute.  A progress line is written to standard error when it is a
 * terminal.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "facteurctl.h"
#include "lib/config.h"
#include "lib/csv.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"
#include "store/auth.h"
#include "store/directory.h"

/* ---- what a file holds ---- */

enum kind { K_ACCOUNTS, K_ALIASES, K_GROUPS, K_RESOURCES };

#define COLS_MAX 8

/* Columns, by kind; the first is the address, and required. */
enum {
	A_ADDRESS, A_NAME, A_PASSWORD, A_PASSWORD_HASH, A_PROFILE, A_ENABLED, A_NCOLS
};
enum { L_ADDRESS, L_TARGET, L_NCOLS };
enum { G_ADDRESS, G_KIND, G_NAME, G_DESCRIPTION, G_MEMBER, G_NCOLS };
enum { R_ADDRESS, R_KIND, R_NAME, R_CAPACITY, R_CATEGORY, R_DESCRIPTION, R_ENABLED, R_NCOLS };

static const struct kind_def {
	const char *name;
	const char *cols[COLS_MAX];
	int ncols;
	const char *required;	/* a second required column, or NULL */
	const char *what;	/* "account", ... */
} kinds[] = {
	[K_ACCOUNTS] = { "accounts",
	    { "address", "name", "password", "password_hash", "profile", "enabled" }, A_NCOLS, NULL,
	    "account" },
	[K_ALIASES] = { "aliases", { "address", "target" }, L_NCOLS, "target", "alias" },
	[K_GROUPS] = { "groups", { "address", "kind", "name", "description", "member" }, G_NCOLS,
	    NULL, "group" },
	[K_RESOURCES] = { "resources",
	    { "address", "kind", "name", "capacity", "category", "description", "enabled" },
	    R_NCOLS, NULL, "resource" },
};

/* One line of the file: its fields by column (NULL: the file has no such column). */
struct row {
	unsigned long line;
	char *f[COLS_MAX];
	char addr[DIR_ADDR_SIZE];	/* normalized, "" if bad */
	int bad;			/* an error was reported for it */
	/* Accounts: what the workers decide. */
	char *cur_hash;			/* the stored hash (a copy), NULL if none */
	char *new_hash;			/* to store, NULL to leave as it is */
	const char *work_error;		/* a worker's refusal */
	int work;			/* 1 hash the password, 2 check password_hash */
};

struct error {
	unsigned long line;
	size_t seq;
	char *text;
};

struct import {
	enum kind kind;
	const char *file;
	int dry_run, keep_going, disable_missing, delete_missing;
	unsigned int threads;
	struct directory *dir;
	int has[COLS_MAX];		/* the file has this column */
	struct row *rows;
	size_t nrows;
	struct error *errors;
	size_t nerrors;
	long created, updated, unchanged, disabled, deleted;
	/* The domains the file mentions (sorted, unique), for the *-missing options. */
	char **domains;
	size_t ndomains;
	int progress;			/* stderr is a terminal */
};

static void report(struct import *im, unsigned long line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Record an error of line (0: of the whole file), about field (NULL: the line). */
static void
report(struct import *im, unsigned long line, const char *field, const char *fmt, ...)
{
	char text[1024];
	int n;
	va_list ap;

	if (line > 0 && field != NULL)
		n = snprintf(text, sizeof(text), "%s:%lu: field '%s': ", im->file, line, field);
	else if (line > 0)
		n = snprintf(text, sizeof(text), "%s:%lu: ", im->file, line);
	else
		n = snprintf(text, sizeof(text), "%s: ", im->file);
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	im->errors = xrealloc(im->errors, (im->nerrors + 1) * sizeof(*im->errors));
	im->errors[im->nerrors] = (struct error){ line, im->nerrors, xstrdup(text) };
	im->nerrors++;
}

static void
row_report(struct import *im, struct row *r, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
row_report(struct import *im, struct row *r, int col, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	report(im, r->line, col >= 0 ? kinds[im->kind].cols[col] : NULL, "%s", text);
	r->bad = 1;
}

static int
error_cmp(const void *a, const void *b)
{
	const struct error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- progress on a terminal ---- */

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
progress(const struct import *im, const char *what, size_t done, size_t total, int last)
{
	static double shown;
	double t;

	if (!im->progress || total == 0)
		return;
	t = now_seconds();
	if (!last && t - shown < 0.2)
		return;
	shown = t;
	fprintf(stderr, "\r%s: %zu/%zu (%zu%%)\033[K", what, done, total, done * 100 / total);
	if (last)
		fprintf(stderr, "\n");
	fflush(stderr);
}

/* ---- values ---- */

/* "yes"/"no" and their synonyms: 1, 0; "" -1 (not said); -2 if none of these. */
static int
bool_value(const char *s)
{
	static const char *const yes[] = { "yes", "y", "true", "1", "on", "enabled" };
	static const char *const no[] = { "no", "n", "false", "0", "off", "disabled" };

	if (s[0] == '\0')
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (str_casecmp(s, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (str_casecmp(s, no[i]) == 0)
			return 0;
	return -2;
}

/* Given and not empty. */
static int
given(const struct row *r, int col)
{
	return r->f[col] != NULL && r->f[col][0] != '\0';
}

/* ---- reading ---- */

static int
header(struct import *im, char **fields, size_t n, int *map)
{
	const struct kind_def *k = &kinds[im->kind];
	int ok = 1;

	for (size_t i = 0; i < n; i++) {
		char *name = str_lower(str_trim(fields[i]));
		int c;
		for (c = 0; c < k->ncols; c++)
			if (strcmp(name, k->cols[c]) == 0)
				break;
		if (c == k->ncols) {
			char known[256];
			size_t len = 0;
			for (int j = 0; j < k->ncols; j++)
				len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
				    j > 0 ? ", " : "", k->cols[j]);
			if (name[0] == '\0')
				report(im, 1, NULL, "column %zu has no name (%s: %s)", i + 1, k->name,
				    known);
			else
				report(im, 1, NULL, "unknown column '%s' (%s: %s)", name, k->name, known);
			ok = 0;
			map[i] = -1;
			continue;
		}
		if (im->has[c]) {
			report(im, 1, NULL, "column '%s' is given twice", name);
			ok = 0;
		}
		im->has[c] = 1;
		map[i] = c;
	}
	if (!im->has[0]) {
		report(im, 1, NULL, "no column 'address'");
		ok = 0;
	}
	if (k->required != NULL) {
		for (int c = 0; c < k->ncols; c++) {
			if (strcmp(k->cols[c], k->required) == 0 && !im->has[c]) {
				report(im, 1, NULL, "no column '%s'", k->required);
				ok = 0;
			}
		}
	}
	return ok ? 0 : -1;
}

/* Read the file into im->rows: 0, or -1 if it has no usable header (reported). */
static int
read_file(struct import *im, FILE *fp, char sep)
{
	struct csv_reader *r = csv_reader_new(fp, sep);
	int map[CSV_FIELDS_MAX], rc, have_header = 0, fatal = 0;
	size_t cap = 0, n, ncols = 0;
	const char *error;
	char **fields;

	while ((rc = csv_read(r, &fields, &n, &error)) != 0) {
		unsigned long line = csv_record_line(r);
		struct row *row;
		int empty = 1;

		if (rc < 0) {
			size_t f = csv_error_field(r);
			if (have_header && f > 0 && f <= ncols && map[f - 1] >= 0)
				report(im, line, kinds[im->kind].cols[map[f - 1]], "%s", error);
			else if (f > 0)
				report(im, line, NULL, "field %zu: %s", f, error);
			else
				report(im, line, NULL, "%s", error);
			if (!have_header) {
				fatal = 1;
				break;
			}
			continue;
		}
		if (!have_header) {
			have_header = 1;
			ncols = n;
			if (header(im, fields, n, map) < 0) {
				fatal = 1;
				break;
			}
			continue;
		}
		for (size_t i = 0; i < n && empty; i++)
			if (str_trim(fields[i])[0] != '\0')
				empty = 0;
		/* ",,,,": the rows a spreadsheet leaves below the data. */
		if (empty)
			continue;
		if (n != ncols) {
			report(im, line, NULL, "%zu fields, the header has %zu", n, ncols);
			continue;
		}
		if (im->nrows == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			im->rows = xrealloc(im->rows, cap * sizeof(*im->rows));
		}
		row = &im->rows[im->nrows++];
		memset(row, 0, sizeof(*row));
		row->line = line;
		for (size_t i = 0; i < n; i++)
			if (map[i] >= 0)
				row->f[map[i]] = xstrdup(str_trim(fields[i]));
		/* A column of the header is there, if empty, on every line. */
		for (int c = 0; c < kinds[im->kind].ncols; c++)
			if (im->has[c] && row->f[c] == NULL)
				row->f[c] = xstrdup("");
	}
	csv_reader_free(&r);
	if (fatal)
		return -1;
	if (!have_header) {
		report(im, 0, NULL, "empty file: its first line names the columns");
		return -1;
	}
	return 0;
}

static void
rows_free(struct import *im)
{
	for (size_t i = 0; i < im->nrows; i++) {
		struct row *r = &im->rows[i];
		for (int c = 0; c < COLS_MAX; c++) {
			if (r->f[c] != NULL)
				explicit_bzero(r->f[c], strlen(r->f[c]));
			free(r->f[c]);
		}
		free(r->cur_hash);
		free(r->new_hash);
	}
	free(im->rows);
	for (size_t i = 0; i < im->nerrors; i++)
		free(im->errors[i].text);
	free(im->errors);
	for (size_t i = 0; i < im->ndomains; i++)
		free(im->domains[i]);
	free(im->domains);
}

/* ---- checks of the lines, before the directory is asked ---- */

static int
text_ok(struct import *im, struct row *r, int col, const char *what)
{
	if (r->f[col] == NULL || dir_text_valid(r->f[col]))
		return 1;
	row_report(im, r, col, "bad %s: UTF-8 text of at most %d bytes without control characters",
	    what, DIR_TEXT_SIZE - 1);
	return 0;
}

/* The row's address normalized into r->addr; reported if it is none. */
static void
check_address(struct import *im, struct row *r)
{
	if (r->f[0][0] == '\0')
		row_report(im, r, 0, "no address");
	else if (dir_addr_norm(r->f[0], r->addr) < 0) {
		row_report(im, r, 0, "\"%s\" is not an address", r->f[0]);
		r->addr[0] = '\0';
	}
}

static void
check_row(struct import *im, struct row *r)
{
	char norm[DIR_ADDR_SIZE];
	long v;
	char *end;

	check_address(im, r);
	switch (im->kind) {
	case K_ACCOUNTS:
		text_ok(im, r, A_NAME, "display name");
		if (given(r, A_PASSWORD) && given(r, A_PASSWORD_HASH))
			row_report(im, r, A_PASSWORD, "both password and password_hash are given");
		if (r->f[A_ENABLED] != NULL && bool_value(r->f[A_ENABLED]) == -2)
			row_report(im, r, A_ENABLED, "\"%s\" is not yes or no", r->f[A_ENABLED]);
		break;
	case K_ALIASES:
		if (r->f[L_TARGET][0] == '\0')
			row_report(im, r, L_TARGET, "no target");
		else if (dir_addr_norm(r->f[L_TARGET], norm) < 0)
			row_report(im, r, L_TARGET, "\"%s\" is not an address", r->f[L_TARGET]);
		else if (strcmp(norm, r->addr) == 0)
			row_report(im, r, L_TARGET, "the alias's own address");
		else
			str_copy(r->f[L_TARGET], norm, strlen(r->f[L_TARGET]) + 1);
		break;
	case K_GROUPS:
		if (given(r, G_KIND) && dir_group_kind_parse(r->f[G_KIND]) < 0)
			row_report(im, r, G_KIND, "\"%s\" is not list or alias", r->f[G_KIND]);
		text_ok(im, r, G_NAME, "group name");
		text_ok(im, r, G_DESCRIPTION, "group description");
		if (given(r, G_MEMBER)) {
			if (dir_addr_norm(r->f[G_MEMBER], norm) < 0)
				row_report(im, r, G_MEMBER, "\"%s\" is not an address", r->f[G_MEMBER]);
			else if (strcmp(norm, r->addr) == 0)
				row_report(im, r, G_MEMBER, "the group's own address");
			else
				str_copy(r->f[G_MEMBER], norm, strlen(r->f[G_MEMBER]) + 1);
		}
		break;
	case K_RESOURCES:
		if (given(r, R_KIND) && dir_resource_kind_parse(r->f[R_KIND]) < 0)
			row_report(im, r, R_KIND, "\"%s\" is not room or equipment", r->f[R_KIND]);
		if (given(r, R_CAPACITY)) {
			errno = 0;
			v = strtol(r->f[R_CAPACITY], &end, 10);
			if (errno != 0 || *end != '\0' || v < 0 || v > DIR_CAPACITY_MAX)
				row_report(im, r, R_CAPACITY, "\"%s\" is not a number of people (0 to %d)",
				    r->f[R_CAPACITY], DIR_CAPACITY_MAX);
		}
		text_ok(im, r, R_NAME, "display name");
		text_ok(im, r, R_CATEGORY, "category");
		text_ok(im, r, R_DESCRIPTION, "description");
		if (r->f[R_ENABLED] != NULL && bool_value(r->f[R_ENABLED]) == -2)
			row_report(im, r, R_ENABLED, "\"%s\" is not yes or no", r->f[R_ENABLED]);
		break;
	}
}

/* Rows in address order (then line order): entries of several lines are together. */
static struct import *sort_im;

static int
row_index_cmp(const void *a, const void *b)
{
	const struct row *x = &sort_im->rows[*(const size_t *)a];
	const struct row *y = &sort_im->rows[*(const size_t *)b];
	int c = strcmp(x->addr, y->addr);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static size_t *
sorted_rows(struct import *im)
{
	size_t *v = xcalloc(im->nrows + 1, sizeof(*v));

	for (size_t i = 0; i < im->nrows; i++)
		v[i] = i;
	sort_im = im;
	if (im->nrows > 1)
		qsort(v, im->nrows, sizeof(*v), row_index_cmp);
	return v;
}

static int
str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * After the lines' own checks: lines naming the same entry twice (the
 * same account; the same alias target, group member), groups whose
 * lines disagree; and the domains the file mentions.
 */
static void
check_rows(struct import *im, const size_t *order)
{
	char **domains = xcalloc(im->nrows + 1, sizeof(*domains));
	size_t nd = 0;

	for (size_t k = 0; k < im->nrows; k++) {
		struct row *r = &im->rows[order[k]];
		size_t first = k;

		if (r->addr[0] == '\0')
			continue;
		domains[nd++] = strchr(r->addr, '@') + 1;
		while (first > 0 && strcmp(im->rows[order[first - 1]].addr, r->addr) == 0)
			first--;
		if (first == k)
			continue;
		/* r is a later line of the same address as order[first..k-1]. */
		for (size_t j = first; j < k; j++) {
			struct row *o = &im->rows[order[j]];
			switch (im->kind) {
			case K_ACCOUNTS:
			case K_RESOURCES:
				if (j == first)
					row_report(im, r, 0, "%s is on line %lu already", r->addr, o->line);
				break;
			case K_ALIASES:
				if (strcmp(o->f[L_TARGET], r->f[L_TARGET]) == 0)
					row_report(im, r, L_TARGET, "%s is on line %lu already",
					    r->f[L_TARGET], o->line);
				break;
			case K_GROUPS:
				if (given(r, G_MEMBER) && given(o, G_MEMBER) &&
				    strcmp(o->f[G_MEMBER], r->f[G_MEMBER]) == 0)
					row_report(im, r, G_MEMBER, "%s is on line %lu already",
					    r->f[G_MEMBER], o->line);
				for (int c = G_KIND; c <= G_DESCRIPTION; c++)
					if (given(r, c) && given(o, c) && strcmp(r->f[c], o->f[c]) != 0 &&
					    (c != G_KIND || str_casecmp(r->f[c], o->f[c]) != 0))
						row_report(im, r, c, "\"%s\" differs from line %lu's \"%s\"",
						    r->f[c], o->line, o->f[c]);
				break;
			}
		}
	}
	if (nd > 1)
		qsort(domains, nd, sizeof(*domains), str_ptr_cmp);
	for (size_t i = 0; i < nd; i++) {
		if (im->ndomains > 0 && strcmp(im->domains[im->ndomains - 1], domains[i]) == 0)
			continue;
		im->domains = xrealloc(im->domains, (im->ndomains + 1) * sizeof(*im->domains));
		im->domains[im->ndomains++] = xstrdup(domains[i]);
	}
	free(domains);
}

/* ---- passwords, in worker threads ---- */

struct pool {
	struct import *im;
	size_t *todo, ntodo;
	atomic_size_t next, done;
};

static void
password_work(struct row *r)
{
	char hash[AUTH_HASH_SIZE];
	const char *error;

	if (r->work == 1) {
		/* The password the account has already: nothing to store. */
		if (r->cur_hash != NULL && auth_hash_verify(r->cur_hash, r->f[A_PASSWORD]))
			return;
		if (auth_hash_password(r->f[A_PASSWORD], 0, hash, sizeof(hash), &error) < 0)
			r->work_error = error;
		else
			r->new_hash = xstrdup(hash);
	} else if (auth_hash_check(r->f[A_PASSWORD_HASH], &error) < 0) {
		r->work_error = error;
	} else {
		r->new_hash = xstrdup(r->f[A_PASSWORD_HASH]);
	}
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->ntodo) {
		password_work(&p->im->rows[p->todo[i]]);
		atomic_fetch_add(&p->done, 1);
	}
	return NULL;
}

static void
run_pool(struct import *im, size_t *todo, size_t ntodo)
{
	struct pool p = { .im = im, .todo = todo, .ntodo = ntodo };
	unsigned int n = im->threads;
	pthread_t *t;
	unsigned int started = 0;

	if (ntodo == 0)
		return;
	if (n > ntodo)
		n = (unsigned int)ntodo;
	t = xcalloc(n, sizeof(*t));
	atomic_init(&p.next, 0);
	atomic_init(&p.done, 0);
	for (unsigned int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, &p) == 0)
			started++;
	if (started == 0)
		worker(&p);
	while (im->progress && atomic_load(&p.done) < ntodo) {
		progress(im, "passwords", atomic_load(&p.done), ntodo, 0);
		usleep(100000);
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	progress(im, "passwords", ntodo, ntodo, 1);
	free(t);
}

/*
 * Before the directory is locked: each account's stored hash, and what its
 * password columns need (hashing, checking), done by the workers.
 */
static int
accounts_prepare(struct import *im)
{
	size_t *todo = xcalloc(im->nrows + 1, sizeof(*todo)), ntodo = 0;
	struct dir_account acc;

	for (size_t i = 0; i < im->nrows; i++) {
		struct row *r = &im->rows[i];
		int rc;

		if (r->bad)
			continue;
		if ((rc = directory_account_get(im->dir, r->addr, &acc)) < 0) {
			free(todo);
			fprintf(stderr, "facteurctl: directory: cannot read the accounts\n");
			return -1;
		}
		if (rc == 1 && acc.resource) {
			row_report(im, r, 0, "%s is a resource (import resources)", r->addr);
			continue;
		}
		if (rc == 1 && acc.password[0] != '\0')
			r->cur_hash = xstrdup(acc.password);
		if (given(r, A_PASSWORD)) {
			r->work = 1;
		} else if (given(r, A_PASSWORD_HASH)) {
			if (r->cur_hash != NULL && strcmp(r->cur_hash, r->f[A_PASSWORD_HASH]) == 0)
				continue;
			if (strcmp(r->f[A_PASSWORD_HASH], AUTH_LDAP_MARK) == 0) {
				r->new_hash = xstrdup(AUTH_LDAP_MARK);
				continue;
			}
			r->work = 2;
		}
		if (r->work != 0)
			todo[ntodo++] = i;
	}
	run_pool(im, todo, ntodo);
	free(todo);
	for (size_t i = 0; i < im->nrows; i++) {
		struct row *r = &im->rows[i];
		if (r->work_error != NULL)
			row_report(im, r, r->work == 1 ? A_PASSWORD : A_PASSWORD_HASH, "%s",
			    r->work_error);
		if (r->f[A_PASSWORD] != NULL)
			explicit_bzero(r->f[A_PASSWORD], strlen(r->f[A_PASSWORD]));
	}
	return 0;
}

/* ---- applying, inside the batch ---- */

/* A change of the entry refused: reported against col. */
#define REFUSED(col) do { row_report(im, r, (col), "%s", error); goto refused; } while (0)

/* 1 created, 2 updated, 0 unchanged, -1 refused (reported). */
static int
account_apply(struct import *im, struct row *r)
{
	struct dir_account acc;
	const char *error;
	int exists, changed = 0, en = r->f[A_ENABLED] != NULL ? bool_value(r->f[A_ENABLED]) : -1;

	if ((exists = directory_account_get(im->dir, r->addr, &acc)) < 0) {
		error = "cannot read the account";
		REFUSED(0);
	}
	if (!exists) {
		if (directory_account_add(im->dir, r->addr, &error) < 0)
			REFUSED(0);
		memset(&acc, 0, sizeof(acc));
		acc.enabled = 1;
	}
	if (r->f[A_NAME] != NULL && strcmp(acc.name, r->f[A_NAME]) != 0) {
		if (directory_account_set_name(im->dir, r->addr, r->f[A_NAME], &error) < 0)
			REFUSED(A_NAME);
		changed = 1;
	}
	if (r->new_hash != NULL && strcmp(acc.password, r->new_hash) != 0) {
		if (directory_account_set_password(im->dir, r->addr, r->new_hash, &error) < 0)
			REFUSED(given(r, A_PASSWORD) ? A_PASSWORD : A_PASSWORD_HASH);
		changed = 1;
	}
	if (r->f[A_PROFILE] != NULL && str_casecmp(acc.profile, r->f[A_PROFILE]) != 0) {
		if (directory_account_set_profile(im->dir, r->addr, r->f[A_PROFILE], &error) < 0)
			REFUSED(A_PROFILE);
		changed = 1;
	}
	if (en >= 0 && en != acc.enabled) {
		if (directory_account_set_enabled(im->dir, r->addr, en, &error) < 0)
			REFUSED(A_ENABLED);
		changed = 1;
	}
	return !exists ? 1 : changed ? 2 : 0;
refused:
	return -1;
}

struct strings {
	char **v;
	size_t n;
};

static int
collect_string(const char *s, void *ctx)
{
	struct strings *c = ctx;

	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	c->v[c->n++] = xstrdup(s);
	return 0;
}

static void
strings_free(struct strings *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int
strings_has(const struct strings *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return 1;
	return 0;
}

/*
 * Make the targets (members) of addr those of rows[from..to) (column col):
 * adds and removes.  existing: what it has.  1 if something changed, 0
 * if not, -1 refused (reported).
 */
static int
targets_apply(struct import *im, const size_t *order, size_t from, size_t to, int col,
    const struct strings *existing, int group)
{
	const char *error;
	int changed = 0;

	for (size_t k = from; k < to; k++) {
		struct row *r = &im->rows[order[k]];
		if (!given(r, col) || strings_has(existing, r->f[col]))
			continue;
		if ((group ? directory_group_member_add(im->dir, r->addr, r->f[col], &error) :
		    directory_alias_add(im->dir, r->addr, r->f[col], &error)) < 0)
			REFUSED(group ? G_MEMBER : 0);
		changed = 1;
	}
	for (size_t i = 0; i < existing->n; i++) {
		struct row *r = &im->rows[order[from]];
		size_t k;
		for (k = from; k < to; k++)
			if (given(&im->rows[order[k]], col) &&
			    strcmp(im->rows[order[k]].f[col], existing->v[i]) == 0)
				break;
		if (k < to)
			continue;
		if ((group ? directory_group_member_del(im->dir, r->addr, existing->v[i], &error) :
		    directory_alias_del(im->dir, r->addr, existing->v[i], &error)) < 0)
			REFUSED(0);
		changed = 1;
	}
	return changed;
refused:
	return -1;
}

static int
alias_apply(struct import *im, const size_t *order, size_t from, size_t to)
{
	struct strings cur = { 0 };
	struct row *r = &im->rows[order[from]];
	int rc;

	if (directory_alias_target_foreach(im->dir, r->addr, collect_string, &cur) < 0) {
		row_report(im, r, 0, "directory: cannot read the alias");
		return -1;
	}
	rc = targets_apply(im, order, from, to, L_TARGET, &cur, 0);
	if (rc >= 0)
		rc = cur.n == 0 ? 1 : rc == 1 ? 2 : 0;
	strings_free(&cur);
	return rc;
}

/* The first non-empty value of column col among rows[from..to), or NULL. */
static const char *
group_value(struct import *im, const size_t *order, size_t from, size_t to, int col)
{
	for (size_t k = from; k < to; k++)
		if (given(&im->rows[order[k]], col))
			return im->rows[order[k]].f[col];
	return im->has[col] ? "" : NULL;
}

static int
group_apply(struct import *im, const size_t *order, size_t from, size_t to)
{
	struct row *r = &im->rows[order[from]];
	struct strings cur = { 0 };
	struct dir_group g, old;
	const char *error, *v;
	int exists, changed = 0, rc;

	if ((exists = directory_group_get(im->dir, r->addr, &old)) < 0) {
		error = "cannot read the group";
		REFUSED(0);
	}
	if (!exists) {
		memset(&old, 0, sizeof(old));
		old.kind = DIR_GROUP_LIST;
	}
	g = old;
	str_copy(g.address, r->addr, sizeof(g.address));
	if ((v = group_value(im, order, from, to, G_KIND)) != NULL && v[0] != '\0')
		g.kind = (enum dir_group_kind)dir_group_kind_parse(v);
	if ((v = group_value(im, order, from, to, G_NAME)) != NULL)
		str_copy(g.name, v, sizeof(g.name));
	if ((v = group_value(im, order, from, to, G_DESCRIPTION)) != NULL)
		str_copy(g.description, v, sizeof(g.description));
	if (!exists) {
		if (directory_group_add(im->dir, &g, &error) < 0)
			REFUSED(0);
	} else if (g.kind != old.kind || strcmp(g.name, old.name) != 0 ||
	    strcmp(g.description, old.description) != 0) {
		if (directory_group_update(im->dir, &g, &error) < 0)
			REFUSED(0);
		changed = 1;
	}
	if (im->has[G_MEMBER]) {
		if (directory_group_member_foreach(im->dir, r->addr, collect_string, &cur) < 0) {
			error = "cannot read the members";
			REFUSED(0);
		}
		if ((rc = targets_apply(im, order, from, to, G_MEMBER, &cur, 1)) < 0) {
			strings_free(&cur);
			return -1;
		}
		changed |= rc;
		strings_free(&cur);
	}
	return !exists ? 1 : changed ? 2 : 0;
refused:
	strings_free(&cur);
	return -1;
}

static int
resource_apply(struct import *im, struct row *r)
{
	struct dir_resource res, old;
	const char *error;
	int exists, en;

	if ((exists = directory_resource_get(im->dir, r->addr, &old)) < 0) {
		error = "cannot read the resource";
		REFUSED(0);
	}
	if (!exists) {
		if (!given(r, R_KIND)) {
			error = "a new resource needs a kind: room or equipment";
			REFUSED(R_KIND);
		}
		memset(&old, 0, sizeof(old));
		old.enabled = 1;
	}
	res = old;
	str_copy(res.address, r->addr, sizeof(res.address));
	if (given(r, R_KIND))
		res.kind = (enum dir_resource_kind)dir_resource_kind_parse(r->f[R_KIND]);
	if (r->f[R_NAME] != NULL)
		str_copy(res.name, r->f[R_NAME], sizeof(res.name));
	if (r->f[R_CAPACITY] != NULL)
		res.capacity = (int)strtol(r->f[R_CAPACITY], NULL, 10);
	if (r->f[R_CATEGORY] != NULL)
		str_copy(res.category, r->f[R_CATEGORY], sizeof(res.category));
	if (r->f[R_DESCRIPTION] != NULL)
		str_copy(res.description, r->f[R_DESCRIPTION], sizeof(res.description));
	if (r->f[R_ENABLED] != NULL && (en = bool_value(r->f[R_ENABLED])) >= 0)
		res.enabled = en;
	if (!exists) {
		if (directory_resource_add(im->dir, &res, &error) < 0)
			REFUSED(0);
		return 1;
	}
	if (memcmp(&res, &old, sizeof(res)) == 0)
		return 0;
	if (directory_resource_update(im->dir, &res, &error) < 0)
		REFUSED(0);
	return 2;
refused:
	return -1;
}

static void
count(struct import *im, int rc)
{
	if (rc == 1)
		im->created++;
	else if (rc == 2)
		im->updated++;
	else if (rc == 0)
		im->unchanged++;
}

/* Apply the entries, each one whole or not at all. */
static int
apply(struct import *im, const size_t *order)
{
	const char *error;
	size_t done = 0;

	for (size_t k = 0; k < im->nrows;) {
		size_t to = k + 1;
		int bad, rc;

		if (im->kind == K_ALIASES || im->kind == K_GROUPS)
			while (to < im->nrows && strcmp(im->rows[order[to]].addr,
			    im->rows[order[k]].addr) == 0)
				to++;
		bad = 0;
		for (size_t j = k; j < to; j++)
			bad |= im->rows[order[j]].bad;
		if (!bad && im->rows[order[k]].addr[0] != '\0') {
			if (directory_batch_mark(im->dir, &error) < 0) {
				fprintf(stderr, "facteurctl: %s\n", error);
				return -1;
			}
			switch (im->kind) {
			case K_ACCOUNTS:
				rc = account_apply(im, &im->rows[order[k]]);
				break;
			case K_ALIASES:
				rc = alias_apply(im, order, k, to);
				break;
			case K_GROUPS:
				rc = group_apply(im, order, k, to);
				break;
			default:
				rc = resource_apply(im, &im->rows[order[k]]);
				break;
			}
			if (directory_batch_mark_end(im->dir, rc >= 0, &error) < 0) {
				fprintf(stderr, "facteurctl: %s\n", error);
				return -1;
			}
			count(im, rc);
		}
		done += to - k;
		k = to;
		progress(im, "entries", done, im->nrows, done == im->nrows);
	}
	return 0;
}

/* ---- what the file does not list ---- */

struct missing {
	struct import *im;
	char **in_file;		/* sorted addresses of the file */
	size_t nin;
	struct strings found;
};

static int
in_file(const struct missing *m, const char *addr)
{
	return m->nin > 0 && bsearch(&addr, m->in_file, m->nin, sizeof(*m->in_file),
	    str_ptr_cmp) != NULL;
}

static int
missing_account(const struct dir_account *acc, void *ctx)
{
	struct missing *m = ctx;

	if (!acc->resource && !in_file(m, acc->address) &&
	    (m->im->delete_missing || acc->enabled))
		collect_string(acc->address, &m->found);
	return 0;
}

static int
missing_alias(const char *addr, const char *target, void *ctx)
{
	struct missing *m = ctx;

	if (!in_file(m, addr) && (m->found.n == 0 || strcmp(m->found.v[m->found.n - 1], addr) != 0))
		collect_string(addr, &m->found);
	return 0;
}

static int
missing_group(const struct dir_group *g, void *ctx)
{
	struct missing *m = ctx;

	if (!in_file(m, g->address))
		collect_string(g->address, &m->found);
	return 0;
}

static int
missing_resource(const struct dir_resource *r, void *ctx)
{
	struct missing *m = ctx;

	if (!in_file(m, r->address) && (m->im->delete_missing || r->enabled))
		collect_string(r->address, &m->found);
	return 0;
}

static int
missing_apply(struct import *im)
{
	struct missing m = { .im = im };
	const char *error;
	int rc = 0;

	m.in_file = xcalloc(im->nrows + 1, sizeof(*m.in_file));
	for (size_t i = 0; i < im->nrows; i++)
		if (im->rows[i].addr[0] != '\0')
			m.in_file[m.nin++] = im->rows[i].addr;
	if (m.nin > 1)
		qsort(m.in_file, m.nin, sizeof(*m.in_file), str_ptr_cmp);
	for (size_t d = 0; d < im->ndomains && rc == 0; d++) {
		switch (im->kind) {
		case K_ACCOUNTS:
			rc = directory_account_foreach_full(im->dir, im->domains[d], missing_account, &m);
			break;
		case K_ALIASES:
			rc = directory_alias_foreach(im->dir, im->domains[d], missing_alias, &m);
			break;
		case K_GROUPS:
			rc = directory_group_foreach(im->dir, im->domains[d], missing_group, &m);
			break;
		case K_RESOURCES:
			rc = directory_resource_foreach(im->dir, im->domains[d], missing_resource, &m);
			break;
		}
	}
	if (rc < 0)
		report(im, 0, NULL, "directory: cannot list the %s", kinds[im->kind].name);
	for (size_t i = 0; i < m.found.n && rc == 0; i++) {
		const char *a = m.found.v[i];
		struct dir_resource res;
		int r = 0;

		if (im->delete_missing) {
			switch (im->kind) {
			case K_ACCOUNTS:
				r = directory_account_del(im->dir, a, &error);
				break;
			case K_ALIASES:
				r = directory_alias_del(im->dir, a, NULL, &error);
				break;
			case K_GROUPS:
				r = directory_group_del(im->dir, a, &error);
				break;
			case K_RESOURCES:
				r = directory_resource_del(im->dir, a, &error);
				break;
			}
		} else if (im->kind == K_ACCOUNTS) {
			r = directory_account_set_enabled(im->dir, a, 0, &error);
		} else if ((r = directory_resource_get(im->dir, a, &res)) == 1) {
			res.enabled = 0;
			r = directory_resource_update(im->dir, &res, &error);
		} else {
			r = -1;
			error = "cannot read the resource";
		}
		if (r < 0)
			report(im, 0, NULL, "%s %s: %s", kinds[im->kind].what, a, error);
		else if (im->delete_missing)
			im->deleted++;
		else
			im->disabled++;
	}
	strings_free(&m.found);
	free(m.in_file);
	return rc;
}

/* ---- the command ---- */

static int
kind_parse(const char *s, enum kind *out)
{
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (strcmp(s, kinds[k].name) == 0) {
			*out = (enum kind)k;
			return 0;
		}
	}
	return -1;
}

static int
import_usage(void)
{
	fprintf(stderr, "usage: facteurctl import accounts|aliases|groups|resources FILE [--dry-run] "
	    "[--continue]\n"
	    "         [--disable-missing|--delete-missing] [--separator ,|;] [--threads N]\n");
	return 2;
}

static int
export_usage(void)
{
	fprintf(stderr, "usage: facteurctl export accounts|aliases|groups|resources [DOMAIN] "
	    "[-o FILE] [--separator ,|;]\n");
	return 2;
}

/* --separator's value: ',' or ';' (0 if bad); "semicolon", "comma" too. */
static char
separator_arg(const char *s)
{
	if (strcmp(s, ",") == 0 || strcmp(s, "comma") == 0)
		return ',';
	if (strcmp(s, ";") == 0 || strcmp(s, "semicolon") == 0)
		return ';';
	return 0;
}

/* An option's value: "--name=value" or "--name value"; NULL if arg is not --name. */
static const char *
opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}

static void
summary(struct import *im, int applied)
{
	long changes = im->created + im->updated + im->disabled + im->deleted;

	if (ctl_json) {
		printf("{");
		printf("\"file\":");
		ctl_json_string(stdout, im->file);
		printf(",\"kind\":\"%s\",\"created\":%ld,\"updated\":%ld,\"unchanged\":%ld,"
		    "\"disabled\":%ld,\"deleted\":%ld,\"errors\":%zu,\"dry_run\":%s,\"applied\":%s}\n",
		    kinds[im->kind].name, im->created, im->updated, im->unchanged, im->disabled,
		    im->deleted, im->nerrors, im->dry_run ? "true" : "false",
		    applied ? "true" : "false");
		return;
	}
	printf("%s: created %ld, updated %ld, unchanged %ld, disabled %ld, deleted %ld, errors %zu\n",
	    im->file, im->created, im->updated, im->unchanged, im->disabled, im->deleted,
	    im->nerrors);
	if (im->dry_run)
		printf("dry run: nothing was changed\n");
	else if (!applied)
		printf("nothing was changed: correct the errors, or give --continue to apply the "
		    "other entries\n");
	else if (changes == 0)
		printf("nothing to change\n");
}

struct import_run {
	struct import *im;
	FILE *fp;
	char sep;
};

static int
import_run(struct directory *dir, void *ctx)
{
	struct import_run *ir = ctx;
	struct import *im = ir->im;
	const char *error;
	size_t *order = NULL;
	int applied = 0, rc;

	im->dir = dir;
	rc = read_file(im, ir->fp, ir->sep);
	if (rc == 0) {
		for (size_t i = 0; i < im->nrows; i++)
			check_row(im, &im->rows[i]);
		order = sorted_rows(im);
		check_rows(im, order);
		if (im->kind == K_ACCOUNTS && accounts_prepare(im) < 0)
			rc = -1;
	}
	if (rc == 0 && directory_batch_begin(dir, &error) < 0) {
		fprintf(stderr, "facteurctl: %s\n", error);
		rc = -1;
	}
	if (rc == 0) {
		if (apply(im, order) < 0 || ((im->disable_missing || im->delete_missing) &&
		    missing_apply(im) < 0))
			rc = -1;
		applied = rc == 0 && !im->dry_run && (im->nerrors == 0 || im->keep_going);
		if (directory_batch_end(dir, applied, &error) < 0) {
			fprintf(stderr, "facteurctl: %s\n", error);
			applied = 0;
			rc = -1;
		}
	}
	if (im->nerrors > 1)
		qsort(im->errors, im->nerrors, sizeof(*im->errors), error_cmp);
	for (size_t i = 0; i < im->nerrors; i++)
		fprintf(stderr, "%s\n", im->errors[i].text);
	free(order);
	summary(im, applied);
	return rc < 0 || im->nerrors > 0 ? 1 : 0;
}

int
ctl_import(int argc, char **argv)
{
	struct import im;
	struct import_run ir = { .im = &im };
	const char *file = NULL, *v, *kind = NULL;
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;
	int rc;

	memset(&im, 0, sizeof(im));
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-j") == 0)
			ctl_json = 1;
		else if (strcmp(argv[i], "--dry-run") == 0)
			im.dry_run = 1;
		else if (strcmp(argv[i], "--continue") == 0)
			im.keep_going = 1;
		else if (strcmp(argv[i], "--disable-missing") == 0)
			im.disable_missing = 1;
		else if (strcmp(argv[i], "--delete-missing") == 0)
			im.delete_missing = 1;
		else if ((v = opt_value(argc, argv, &i, "--separator")) != NULL) {
			if ((ir.sep = separator_arg(v)) == 0)
				return import_usage();
		} else if ((v = opt_value(argc, argv, &i, "--threads")) != NULL) {
			errno = 0;
			threads = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || threads < 1 || threads > 256)
				return import_usage();
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return import_usage();
		else if (kind == NULL)
			kind = argv[i];
		else if (file == NULL)
			file = argv[i];
		else
			return import_usage();
	}
	if (kind == NULL || file == NULL || kind_parse(kind, &im.kind) < 0 ||
	    (im.disable_missing && im.delete_missing))
		return import_usage();
	if (im.disable_missing && (im.kind == K_ALIASES || im.kind == K_GROUPS)) {
		fprintf(stderr, "facteurctl: %s cannot be disabled: --delete-missing removes those the "
		    "file does not list\n", kinds[im.kind].name);
		return 2;
	}
	im.threads = threads > 0 ? (unsigned int)threads : 1;
	im.file = file;
	im.progress = isatty(STDERR_FILENO);
	if (strcmp(file, "-") == 0) {
		ir.fp = stdin;
	} else if ((ir.fp = fopen(file, "r")) == NULL) {
		fprintf(stderr, "facteurctl: %s: %s\n", file, strerror(errno));
		return 1;
	}
	rc = ctl_directory_change(import_run, &ir);
	if (ir.fp != stdin)
		fclose(ir.fp);
	rows_free(&im);
	return rc;
}

/* ---- export ---- */

struct export {
	FILE *out;
	char sep;
	struct directory *dir;
	long n;
};

static void
record(struct export *e, const char *const *v, size_t n)
{
	csv_write_record(e->out, v, n, e->sep);
	e->n++;
}

static int
export_account(const struct dir_account *acc, void *ctx)
{
	struct export *e = ctx;
	const char *v[] = { acc->address, acc->name, acc->password, acc->profile,
	    acc->enabled ? "yes" : "no" };

	if (!acc->resource)
		record(e, v, 5);
	return 0;
}

static int
export_alias(const char *addr, const char *target, void *ctx)
{
	const char *v[] = { addr, target };

	record(ctx, v, 2);
	return 0;
}

struct group_export {
	struct export *e;
	const struct dir_group *g;
	int members;
};

static int
export_member(const char *member, void *ctx)
{
	struct group_export *ge = ctx;
	const char *v[] = { ge->g->address, dir_group_kind_str(ge->g->kind), ge->g->name,
	    ge->g->description, member };

	record(ge->e, v, 5);
	ge->members++;
	return 0;
}

static int
export_group(const struct dir_group *g, void *ctx)
{
	struct group_export ge = { .e = ctx, .g = g };

	if (directory_group_member_foreach(ge.e->dir, g->address, export_member, &ge) < 0)
		return -1;
	/* A group without members: one line, its member empty. */
	if (ge.members == 0)
		export_member("", &ge);
	return 0;
}

static int
export_resource(const struct dir_resource *r, void *ctx)
{
	char capacity[16];
	const char *v[] = { r->address, dir_resource_kind_str(r->kind), r->name, capacity,
	    r->category, r->description, r->enabled ? "yes" : "no" };

	snprintf(capacity, sizeof(capacity), "%d", r->capacity);
	record(ctx, v, 7);
	return 0;
}

int
ctl_export(int argc, char **argv)
{
	static const char *const headers[][COLS_MAX] = {
		[K_ACCOUNTS] = { "address", "name", "password_hash", "profile", "enabled" },
		[K_ALIASES] = { "address", "target" },
		[K_GROUPS] = { "address", "kind", "name", "description", "member" },
		[K_RESOURCES] = { "address", "kind", "name", "capacity", "category", "description",
		    "enabled" },
	};
	static const size_t nheaders[] = { 5, 2, 5, 7 };
	struct export e = { .out = stdout, .sep = ',' };
	const char *file = NULL, *v, *kind_name = NULL, *domain = NULL;
	struct dir_domain d;
	enum kind kind;
	int rc = 0, fd;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-j") == 0)
			ctl_json = 1;
		else if ((v = opt_value(argc, argv, &i, "--separator")) != NULL) {
			if ((e.sep = separator_arg(v)) == 0)
				return export_usage();
		} else if ((v = opt_value(argc, argv, &i, "-o")) != NULL) {
			if (v[0] == '\0')
				return export_usage();
			file = v;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return export_usage();
		else if (kind_name == NULL)
			kind_name = argv[i];
		else if (domain == NULL)
			domain = argv[i];
		else
			return export_usage();
	}
	if (kind_name == NULL || kind_parse(kind_name, &kind) < 0)
		return export_usage();
	if ((e.dir = ctl_directory_open_readonly()) == NULL)
		return 1;
	if (domain != NULL && directory_domain_get(e.dir, domain, &d) != 1) {
		fprintf(stderr, "facteurctl: unknown domain %s\n", domain);
		directory_close(&e.dir);
		return 1;
	}
	if (file != NULL) {
		/* An export of accounts holds password hashes: the file is the admin's alone. */
		if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		    fchmod(fd, 0600) < 0 || (e.out = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "facteurctl: %s: %s\n", file, strerror(errno));
			if (fd >= 0)
				close(fd);
			directory_close(&e.dir);
			return 1;
		}
	}
	csv_write_record(e.out, headers[kind], nheaders[kind], e.sep);
	if (domain != NULL)
		domain = d.name;
	switch (kind) {
	case K_ACCOUNTS:
		rc = directory_account_foreach_full(e.dir, domain, export_account, &e);
		break;
	case K_ALIASES:
		rc = directory_alias_foreach(e.dir, domain, export_alias, &e);
		break;
	case K_GROUPS:
		rc = directory_group_foreach(e.dir, domain, export_group, &e);
		break;
	case K_RESOURCES:
		rc = directory_resource_foreach(e.dir, domain, export_resource, &e);
		break;
	}
	if (rc < 0)
		fprintf(stderr, "facteurctl: directory: cannot list the %s\n", kinds[kind].name);
	if (fflush(e.out) != 0 || ferror(e.out)) {
		fprintf(stderr, "facteurctl: %s: %s\n", file != NULL ? file : "standard output",
		    strerror(errno));
		rc = -1;
	}
	if (file != NULL && fclose(e.out) != 0 && rc == 0) {
		fprintf(stderr, "facteurctl: %s: %s\n", file, strerror(errno));
		rc = -1;
	}
	directory_close(&e.dir);
	return rc < 0 ? 1 : 0;
}
