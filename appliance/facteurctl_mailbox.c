/* SPDX-License-Identifier: MIT */
/*
 * facteurctl mailbox - the mailbox store (store/mstore.h): what lmtpd
 * delivered and imapd serves, its retention, mbox copies and check.
 *
 *   mailbox list ACCOUNT     its mailboxes: messages, unseen, bytes,
 *                            UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ,
 *                            special use, subscription
 *   mailbox quota ACCOUNT    bytes and messages used, the quota, percent
 *   mailbox recalc ACCOUNT   recount the usage and the mailboxes' counters
 *                            from the messages (after a crash or a
 *                            hand edit), printing before and after
 *   mailbox purge ACCOUNT|--all [--dry-run]
 *                            expunge what the profile's retention says
 *                            is too old (store/mstore_admin.h)
 *   mailbox export ACCOUNT [MAILBOX...] [-o FILE|-]
 *                            the mailboxes (all by default) as mboxrd
 *   mailbox import ACCOUNT MAILBOX FILE|- [--create]
 *                            append the messages of an mbox file
 *   mailbox check [--repair] [--settle SECONDS]
 *                            orphan blobs, reference counts, missing blobs
 *
 * -j (before the command or after it) prints JSON: list an array of
 * objects, the others one object.  Run as root it becomes mail_owner
 * first, so that nothing in the store ends up owned by root; the files
 * that export writes and import reads are opened before, as the caller.
 * An account nothing was delivered to has no index yet: exit 1 saying so.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "facteurctl.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "store/directory.h"
#include "store/mstore.h"
#include "store/mstore_admin.h"

#define USAGE_LINES \
	"  mailbox list|quota|recalc ACCOUNT\n" \
	"  mailbox purge ACCOUNT|--all [--dry-run]\n" \
	"  mailbox export ACCOUNT [MAILBOX...] [-o FILE|-]\n" \
	"  mailbox import ACCOUNT MAILBOX FILE|- [--create]\n" \
	"  mailbox check [--repair] [--settle SECONDS]\n"
/* Seconds between the check's two counts by default. */
#define SETTLE_DEFAULT 10

static int
usage(void)
{
	fprintf(stderr, "usage: facteurctl [-c facteur.conf] [-j] COMMAND\n" USAGE_LINES);
	return 2;
}

/* The arguments after "mailbox". */
struct margs {
	const char *pos[64];
	int npos;
	int all, dry_run, create, repair;
	const char *output;
	long settle;
	int settle_given;
};

/* -1 on an unknown option or a missing value. */
static int
margs_parse(int argc, char **argv, struct margs *m)
{
	memset(m, 0, sizeof(*m));
	m->settle = SETTLE_DEFAULT;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-j") == 0) {
			ctl_json = 1;
		} else if (strcmp(a, "--all") == 0) {
			m->all = 1;
		} else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
			m->dry_run = 1;
		} else if (strcmp(a, "--create") == 0) {
			m->create = 1;
		} else if (strcmp(a, "--repair") == 0) {
			m->repair = 1;
		} else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
			if (++i >= argc)
				return -1;
			m->output = argv[i];
		} else if (strncmp(a, "--output=", 9) == 0) {
			m->output = a + 9;
		} else if (strcmp(a, "--settle") == 0 || strncmp(a, "--settle=", 9) == 0) {
			const char *v = a[8] == '=' ? a + 9 : (++i < argc ? argv[i] : NULL);
			char *end;
			if (v == NULL)
				return -1;
			m->settle_given = 1;
			errno = 0;
			m->settle = strtol(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || m->settle < 0 ||
			    m->settle > 3600)
				return -1;
		} else if (a[0] == '-' && a[1] != '\0') {
			return -1;
		} else if (m->npos < (int)(sizeof(m->pos) / sizeof(m->pos[0]))) {
			m->pos[m->npos++] = a;
		} else {
			return -1;
		}
	}
	return 0;
}

static int failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* facteurctl's message on standard error; 1. */
static int
failed(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "facteurctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 1;
}

static int
is_account(const char *verb, const char *addr)
{
	if (strchr(addr, '@') != NULL)
		return 1;
	fprintf(stderr, "facteurctl: mailbox %s: \"%s\" is not an account (user@domain)\n", verb,
	    addr);
	return 0;
}

struct listing {
	int n;
};

static int
print_mailbox(const struct mstore_mailbox *mb, void *ctx)
{
	struct listing *l = ctx;
	const char *use = mstore_special_str(mb->special_use);

	if (ctl_json) {
		printf("%s{\"name\":", l->n > 0 ? "," : "");
		ctl_json_string(stdout, mb->name);
		printf(",\"messages\":%" PRIu32 ",\"unseen\":%" PRIu32 ",\"size\":%" PRIu64
		    ",\"uidvalidity\":%" PRIu32 ",\"uidnext\":%" PRIu32 ",\"highestmodseq\":%" PRIu64
		    ",\"special_use\":", mb->messages, mb->unseen, mb->size, mb->uidvalidity,
		    mb->uidnext, mb->highestmodseq);
		if (use != NULL)
			ctl_json_string(stdout, use);
		else
			printf("null");
		printf(",\"subscribed\":%s}", mb->subscribed ? "true" : "false");
	} else {
		if (l->n == 0)
			printf("%-24s %8s %8s %12s %11s %8s %10s %-9s %s\n", "MAILBOX", "MESSAGES",
			    "UNSEEN", "BYTES", "UIDVALIDITY", "UIDNEXT", "MODSEQ", "USE", "SUBSCRIBED");
		printf("%-24s %8" PRIu32 " %8" PRIu32 " %12" PRIu64 " %11" PRIu32 " %8" PRIu32
		    " %10" PRIu64 " %-9s %s\n", mb->name, mb->messages, mb->unseen, mb->size,
		    mb->uidvalidity, mb->uidnext, mb->highestmodseq, use != NULL ? use : "-",
		    mb->subscribed ? "yes" : "no");
	}
	l->n++;
	return 0;
}

static void
print_usage(const char *account, uint64_t bytes, uint64_t messages, uint64_t quota,
    const char *prefix)
{
	if (ctl_json) {
		printf("\"%sbytes\":%" PRIu64 ",\"%smessages\":%" PRIu64, prefix, bytes, prefix,
		    messages);
		return;
	}
	printf("%s: %" PRIu64 " bytes in %" PRIu64 " messages", account, bytes, messages);
	if (quota > 0)
		printf(", quota %" PRIu64 " bytes (%.1f%%)", quota, 100.0 * (double)bytes /
		    (double)quota);
	else
		printf(", no quota");
	printf("\n");
}

/* The account's index (the store opened into *ms), or NULL with the message printed. */
static struct mstore_account *
account_open(const char *account, int create, struct mstore **ms)
{
	struct mstore_account *a;
	const char *error;
	int status;

	if ((*ms = mstore_open(NULL, &error)) == NULL) {
		failed("%s", error);
		return NULL;
	}
	if ((a = mstore_account_open(*ms, account, create, &status, &error)) == NULL) {
		if (status == MSTORE_ENOTFOUND)
			failed("%s: no mailbox index yet (nothing was delivered to it)", account);
		else
			failed("%s", error);
		mstore_close(ms);
	}
	return a;
}

/* list, quota, recalc */
static int
run_inspect(const char *verb, const char *account)
{
	const char *error;
	struct directory *dir;
	struct mstore *ms;
	struct mstore_account *a;
	uint64_t bytes, messages, quota;
	int rc = 0;

	/* The daemons own the store: never leave a file of it to root. */
	proc_drop_privileges(var_mail_owner);
	if ((a = account_open(account, 0, &ms)) == NULL)
		return 1;
	/* Read-only, and only for the quota; a missing directory is no quota of its own. */
	dir = directory_open(directory_default_path(), 1, &error);
	quota = account_quota(dir, mstore_account_name(a));
	if (strcmp(verb, "list") == 0) {
		struct listing l = { 0 };
		if (ctl_json)
			printf("[");
		if (mstore_mailbox_list(a, print_mailbox, &l, &error) < 0) {
			fprintf(stderr, "facteurctl: %s\n", error);
			rc = 1;
		}
		if (ctl_json)
			printf("]\n");
	} else if (mstore_usage(a, &bytes, &messages) < 0) {
		fprintf(stderr, "facteurctl: %s: cannot read the usage\n", mstore_account_name(a));
		rc = 1;
	} else if (strcmp(verb, "quota") == 0) {
		if (ctl_json) {
			printf("{\"account\":");
			ctl_json_string(stdout, mstore_account_name(a));
			printf(",");
			print_usage(NULL, bytes, messages, quota, "");
			printf(",\"quota\":%" PRIu64 ",\"percent\":%.1f}\n", quota, quota > 0 ?
			    100.0 * (double)bytes / (double)quota : 0.0);
		} else {
			print_usage(mstore_account_name(a), bytes, messages, quota, "");
		}
	} else {
		uint64_t nbytes, nmessages;
		if (mstore_usage_recalc(a, &error) < 0 || mstore_usage(a, &nbytes, &nmessages) < 0) {
			fprintf(stderr, "facteurctl: %s: cannot recount: %s\n", mstore_account_name(a),
			    error);
			rc = 1;
		} else if (ctl_json) {
			printf("{\"account\":");
			ctl_json_string(stdout, mstore_account_name(a));
			printf(",");
			print_usage(NULL, bytes, messages, quota, "before_");
			printf(",");
			print_usage(NULL, nbytes, nmessages, quota, "");
			printf(",\"quota\":%" PRIu64 "}\n", quota);
		} else {
			printf("before: ");
			print_usage(mstore_account_name(a), bytes, messages, quota, "");
			printf("after:  ");
			print_usage(mstore_account_name(a), nbytes, nmessages, quota, "");
		}
	}
	directory_close(&dir);
	mstore_account_close(&a);
	mstore_close(&ms);
	return rc;
}

/* ---- purge ---- */

struct purge_run {
	struct directory *dir;
	struct mstore *ms;
	int dry_run, n, errors;
	time_t now;
};

/* The retention of account: 1 and *p, 0 if none, -1 if it is not an account. */
static int
retention_of(struct directory *dir, const char *account, struct dir_profile *p)
{
	struct dir_account acc;

	if (directory_account_get(dir, account, &acc) != 1)
		return -1;
	if (acc.profile[0] == '\0' || directory_profile_get(dir, acc.profile, p) != 1 ||
	    p->retention_days <= 0)
		return 0;
	return 1;
}

static void
purge_print(struct purge_run *r, const char *account, const struct dir_profile *p,
    const struct mstore_purge_stats *st, const char *error)
{
	if (ctl_json) {
		printf("%s{\"account\":", r->n > 0 ? "," : "");
		ctl_json_string(stdout, account);
		printf(",\"retention_days\":%d,\"retention_scope\":\"%s\",\"mailboxes\":%u,"
		    "\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"dry_run\":%s",
		    p->retention_days, dir_retention_scope_str(p->retention_scope), st->mailboxes,
		    st->messages, st->bytes, r->dry_run ? "true" : "false");
		if (error != NULL) {
			printf(",\"error\":");
			ctl_json_string(stdout, error);
		}
		printf("}");
	} else {
		printf("%s: %" PRIu64 " message%s (%" PRIu64 " bytes) %s (retention %d days, %s)\n",
		    account, st->messages, st->messages == 1 ? "" : "s", st->bytes,
		    r->dry_run ? "to expunge" : "expunged", p->retention_days,
		    p->retention_scope == DIR_RETENTION_ALL ? "every mailbox" : "Trash and Junk");
	}
	if (error != NULL)
		failed("%s: %s", account, error);
	r->n++;
}

static int
purge_account(const char *account, int enabled, void *ctx)
{
	struct purge_run *r = ctx;
	struct mstore_purge_stats st;
	struct mstore_account *a;
	struct dir_profile p;
	const char *error = NULL;
	int status, rc;

	(void)enabled;
	if (retention_of(r->dir, account, &p) <= 0)
		return 0;
	if ((a = mstore_account_open(r->ms, account, 0, &status, &error)) == NULL) {
		/* Nothing delivered yet: nothing to purge. */
		if (status != MSTORE_ENOTFOUND)
			r->errors++, failed("%s", error);
		return 0;
	}
	memset(&st, 0, sizeof(st));
	rc = mstore_purge(a, p.retention_days, p.retention_scope == DIR_RETENTION_ALL, r->now,
	    r->dry_run, &st, &error);
	if (rc < 0)
		r->errors++;
	purge_print(r, account, &p, &st, rc < 0 ? error : NULL);
	mstore_account_close(&a);
	return 0;
}

static int
run_purge(const struct margs *m)
{
	struct purge_run r;
	const char *error;

	if (m->all ? m->npos != 1 : m->npos != 2)
		return usage();
	if (!m->all && !is_account("purge", m->pos[1]))
		return 2;
	proc_drop_privileges(var_mail_owner);
	memset(&r, 0, sizeof(r));
	r.dry_run = m->dry_run;
	r.now = time(NULL);
	if ((r.dir = directory_open(directory_default_path(), DIRECTORY_READONLY, &error)) == NULL)
		return failed("%s", error);
	if ((r.ms = mstore_open(NULL, &error)) == NULL) {
		directory_close(&r.dir);
		return failed("%s", error);
	}
	if (ctl_json)
		printf("[");
	if (m->all) {
		if (directory_account_foreach(r.dir, NULL, purge_account, &r) < 0)
			r.errors++, failed("directory: cannot list the accounts");
	} else {
		struct dir_profile p;
		switch (retention_of(r.dir, m->pos[1], &p)) {
		case -1:
			r.errors++, failed("%s: not an account of the directory", m->pos[1]);
			break;
		case 0:
			if (!ctl_json)
				printf("%s: no retention (its profile keeps mail for ever)\n", m->pos[1]);
			break;
		default:
			purge_account(m->pos[1], 1, &r);
		}
	}
	if (ctl_json)
		printf("]\n");
	mstore_close(&r.ms);
	directory_close(&r.dir);
	return r.errors > 0;
}

/* ---- export, import ---- */

static int
collect_name(const struct mstore_mailbox *mb, void *ctx)
{
	char ***names = ctx;
	size_t n = 0;

	while ((*names)[n] != NULL)
		n++;
	*names = xrealloc(*names, (n + 2) * sizeof(**names));
	(*names)[n] = xstrdup(mb->name);
	(*names)[n + 1] = NULL;
	return 0;
}

static void
names_free(char **names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

static int
run_export(const struct margs *m)
{
	struct mstore_mbox_stats st;
	struct mstore_mailbox mb;
	struct mstore_account *a;
	struct mstore *ms;
	const char *error;
	char **names = xcalloc(1, sizeof(*names));
	int to_file = m->output != NULL && strcmp(m->output, "-") != 0, rc = 0, fd;
	FILE *out = stdout, *msg;

	if (m->npos < 2 || !is_account("export", m->pos[1])) {
		names_free(names);
		return m->npos < 2 ? usage() : 2;
	}
	/* The admin's file, opened as the admin; mail is private. */
	if (to_file) {
		if ((fd = open(m->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		    (out = fdopen(fd, "w")) == NULL) {
			names_free(names);
			return failed("cannot create %s: %s", m->output, strerror(errno));
		}
	}
	/* The mbox may be on standard output: the summary goes elsewhere then. */
	msg = to_file ? stdout : stderr;
	proc_drop_privileges(var_mail_owner);
	if ((a = account_open(m->pos[1], 0, &ms)) == NULL) {
		rc = 1;
		goto out;
	}
	if (m->npos == 2 && mstore_mailbox_list(a, collect_name, &names, &error) < 0) {
		rc = failed("%s", error);
		goto close;
	}
	for (int i = 2; i < m->npos; i++) {
		names = xrealloc(names, (size_t)i * sizeof(*names));
		names[i - 2] = xstrdup(m->pos[i]);
		names[i - 1] = NULL;
	}
	/* Every mailbox named must exist before a byte is written. */
	for (size_t i = 0; names[i] != NULL; i++) {
		if (mstore_mailbox_get(a, names[i], 0, &mb, &error) < 0) {
			rc = failed("%s: mailbox %s: %s", m->pos[1], names[i], error);
			goto close;
		}
	}
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; names[i] != NULL && rc == 0; i++) {
		if (mstore_mailbox_get(a, names[i], 0, &mb, &error) < 0 ||
		    mstore_export_mbox(a, mb.id, out, &st, &error) < 0)
			rc = failed("%s: %s: %s", m->pos[1], names[i], error);
	}
	if (ctl_json) {
		fprintf(msg, "{\"account\":");
		ctl_json_string(msg, mstore_account_name(a));
		fprintf(msg, ",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"unreadable\":%lu}\n",
		    st.messages, st.bytes, st.unreadable);
	} else {
		fprintf(msg, "%s: %" PRIu64 " message%s (%" PRIu64 " bytes) exported%s\n",
		    mstore_account_name(a), st.messages, st.messages == 1 ? "" : "s", st.bytes,
		    rc != 0 && to_file ? ": the file is incomplete" : "");
	}
close:
	mstore_account_close(&a);
	mstore_close(&ms);
out:
	if (to_file && fclose(out) != 0 && rc == 0)
		rc = failed("%s: %s", m->output, strerror(errno));
	names_free(names);
	return rc;
}

static int
run_import(const struct margs *m)
{
	struct mstore_mbox_stats st;
	struct mstore_mailbox mb;
	struct mstore_account *a;
	struct directory *dir;
	struct dir_account acc;
	struct mstore *ms;
	const char *error;
	uint64_t quota;
	int fd = 0, rc;

	if (m->npos != 4)
		return usage();
	if (!is_account("import", m->pos[1]))
		return 2;
	if (strcmp(m->pos[3], "-") != 0 && (fd = open(m->pos[3], O_RDONLY | O_CLOEXEC)) < 0)
		return failed("cannot open %s: %s", m->pos[3], strerror(errno));
	proc_drop_privileges(var_mail_owner);
	if ((dir = directory_open(directory_default_path(), DIRECTORY_READONLY, &error)) == NULL) {
		rc = failed("%s", error);
		goto out;
	}
	/* lmtpd delivers to the directory's accounts only: so does import. */
	if (directory_account_get(dir, m->pos[1], &acc) != 1) {
		rc = failed("%s: not an account of the directory", m->pos[1]);
		directory_close(&dir);
		goto out;
	}
	quota = account_quota(dir, acc.address);
	directory_close(&dir);
	if ((a = account_open(acc.address, 1, &ms)) == NULL) {
		rc = 1;
		goto out;
	}
	rc = mstore_mailbox_get(a, m->pos[2], 0, &mb, &error);
	if (rc == MSTORE_ENOTFOUND && m->create) {
		if ((rc = mstore_mailbox_create(a, m->pos[2], MSTORE_SPECIAL_NONE, &error)) == 0)
			rc = mstore_mailbox_get(a, m->pos[2], 0, &mb, &error);
	} else if (rc == MSTORE_ENOTFOUND) {
		rc = failed("%s: no mailbox %s (--create makes it)", acc.address, m->pos[2]);
		goto close;
	}
	if (rc < 0) {
		rc = failed("%s: mailbox %s: %s", acc.address, m->pos[2], error);
		goto close;
	}
	memset(&st, 0, sizeof(st));
	rc = mstore_import_mbox(a, mb.id, quota, fd, &st, &error);
	if (ctl_json) {
		printf("{\"account\":");
		ctl_json_string(stdout, acc.address);
		printf(",\"mailbox\":");
		ctl_json_string(stdout, mb.name);
		printf(",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64, st.messages, st.bytes);
		if (rc < 0) {
			printf(",\"error\":");
			ctl_json_string(stdout, error);
		}
		printf("}\n");
	} else {
		printf("%s: %" PRIu64 " message%s (%" PRIu64 " bytes) imported into %s\n",
		    acc.address, st.messages, st.messages == 1 ? "" : "s", st.bytes, mb.name);
	}
	if (rc == MSTORE_EQUOTA)
		rc = failed("%s: %s (quota %" PRIu64 " bytes): %" PRIu64 " message%s imported "
		    "before it, the rest not", acc.address, error, quota, st.messages,
		    st.messages == 1 ? "" : "s");
	else if (rc < 0)
		rc = failed("%s: %s: %s", acc.address, m->pos[3], error);
close:
	mstore_account_close(&a);
	mstore_close(&ms);
out:
	if (fd > 0)
		close(fd);
	return rc;
}

/* ---- check ---- */

struct check_out {
	int n;
};

static void
check_item(const struct mstore_check_item *it, void *ctx)
{
	struct check_out *o = ctx;
	const char *kind = mstore_check_kind_str(it->kind);

	if (ctl_json) {
		printf("%s{\"kind\":\"%s\"", o->n > 0 ? "," : "", kind);
		if (it->blob != NULL) {
			printf(",\"blob\":");
			ctl_json_string(stdout, it->blob);
		}
		if (it->path != NULL) {
			printf(",\"path\":");
			ctl_json_string(stdout, it->path);
		}
		if (it->account != NULL) {
			printf(",\"account\":");
			ctl_json_string(stdout, it->account);
		}
		if (it->mailbox != NULL) {
			printf(",\"mailbox\":");
			ctl_json_string(stdout, it->mailbox);
			printf(",\"uid\":%" PRIu32, it->uid);
		}
		if (it->kind == MSTORE_CHECK_REFS)
			printf(",\"refs\":%lld,\"rows\":%lld", it->refs, it->rows);
		if (it->kind == MSTORE_CHECK_SIZE)
			printf(",\"size\":%" PRIu64 ",\"file_size\":%" PRIu64, it->size, it->file_size);
		printf(",\"repaired\":%s", it->repaired ? "true" : "false");
		if (it->note != NULL) {
			printf(",\"note\":");
			ctl_json_string(stdout, it->note);
		}
		printf("}");
	} else {
		switch (it->kind) {
		case MSTORE_CHECK_REFS:
			printf("refs %s: store.db counts %lld, %lld index row%s point at it", it->blob,
			    it->refs, it->rows, it->rows == 1 ? "" : "s");
			break;
		case MSTORE_CHECK_MISSING:
			printf("missing %s: %s %s uid %" PRIu32 " points at it", it->blob, it->account,
			    it->mailbox, it->uid);
			break;
		case MSTORE_CHECK_SIZE:
			printf("size %s: store.db says %" PRIu64 " bytes, the file has %" PRIu64,
			    it->blob, it->size, it->file_size);
			break;
		case MSTORE_CHECK_INDEX:
			printf("index %s: %s", it->account, it->path);
			break;
		default:
			printf("%s %s", kind, it->path);
		}
		if (it->repaired)
			printf(": repaired");
		if (it->note != NULL)
			printf(" (%s)", it->note);
		printf("\n");
	}
	o->n++;
}

static int
run_check(const struct margs *m)
{
	struct mstore_check_stats st;
	struct check_out o = { 0 };
	const char *error;
	int rc;

	if (m->npos != 1)
		return usage();
	proc_drop_privileges(var_mail_owner);
	if (ctl_json)
		printf("{\"problems\":[");
	rc = mstore_check(mstore_default_dir(), m->repair, m->settle, check_item, &o, &st, &error);
	if (ctl_json) {
		printf("],\"accounts\":%lu,\"blobs\":%lu,\"files\":%lu,\"rows\":%lu,\"repaired\":%lu,"
		    "\"unsettled\":%lu", st.accounts, st.blobs, st.files, st.rows, st.repaired,
		    st.unsettled);
		if (rc < 0) {
			printf(",\"error\":");
			ctl_json_string(stdout, error);
		}
		printf("}\n");
	} else if (rc == 0) {
		printf("%lu account%s, %lu blob%s counted, %lu file%s, %lu index row%s: %lu "
		    "problem%s, %lu repaired\n", st.accounts, st.accounts == 1 ? "" : "s", st.blobs,
		    st.blobs == 1 ? "" : "s", st.files, st.files == 1 ? "" : "s", st.rows,
		    st.rows == 1 ? "" : "s", st.problems, st.problems == 1 ? "" : "s", st.repaired);
		if (st.unsettled > 0)
			printf("%lu not judged (counts that changed while checked, or blob files "
			    "younger than an hour: mail flowing): run it again later\n", st.unsettled);
	}
	if (rc < 0)
		return failed("%s", error);
	return st.problems > st.repaired;
}

int
ctl_mailbox(int argc, char **argv)
{
	struct margs m;
	const char *verb;

	if (margs_parse(argc, argv, &m) < 0 || m.npos < 1)
		return usage();
	verb = m.pos[0];
	/* Each option belongs to one command. */
	if (((m.all || m.dry_run) && strcmp(verb, "purge") != 0) ||
	    (m.create && strcmp(verb, "import") != 0) ||
	    ((m.repair || m.settle_given) && strcmp(verb, "check") != 0) ||
	    (m.output != NULL && strcmp(verb, "export") != 0))
		return usage();
	if (strcmp(verb, "purge") == 0)
		return run_purge(&m);
	if (strcmp(verb, "export") == 0)
		return run_export(&m);
	if (strcmp(verb, "import") == 0)
		return run_import(&m);
	if (strcmp(verb, "check") == 0)
		return run_check(&m);
	if (strcmp(verb, "list") != 0 && strcmp(verb, "quota") != 0 && strcmp(verb, "recalc") != 0)
		return usage();
	if (m.npos != 2)
		return usage();
	if (!is_account(verb, m.pos[1]))
		return 2;
	return run_inspect(verb, m.pos[1]);
}
