/* SPDX-License-Identifier: MIT */
/*
 * facteurctl backup | restore - everything an appliance holds, in one
 * archive, and back on a fresh one.
 *
 *   backup FILE            FILE.tar.gz: the configuration file, the TLS
 *                          certificate and key it names, and the spool
 *                          directory (directory, DKIM keys, queue,
 *                          quarantine, mail store, Sieve scripts, policy
 *                          and classifier state, reports, admin API);
 *                          directory_database, dkim_key_directory,
 *                          mail_store_directory and bayes_database too
 *                          when they are set outside the spool.
 *   restore FILE [--force] puts them back where the current configuration
 *                          says (the archived facteur.conf is restored as
 *                          facteur.conf.restored beside it, for the admin
 *                          to compare); facteur must be stopped; a spool
 *                          that holds a directory or a store is replaced
 *                          only with --force.
 *
 * Databases are copied with SQLite's VACUUM INTO, a consistent copy even
 * while the daemons write; other files are copied as they are (blobs are
 * never changed in place; a queue file being written has a temporary name
 * and is left out, as are run/, the rules cache and the store's tmp/).
 * Owners and modes are kept (tar --numeric-owner).  The copy is staged
 * under $TMPDIR (default /tmp), which needs room for it.  Must run as root.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "facteurctl.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"

static int
usage(void)
{
	fprintf(stderr, "usage: facteurctl [-c facteur.conf] backup FILE.tar.gz\n"
	    "       facteurctl [-c facteur.conf] restore FILE.tar.gz [--force]\n");
	return 2;
}

/* Run argv, 0 if it exited 0. */
static int
run(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int
mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	str_copy(buf, path, sizeof(buf));
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int
copy_file(const char *from, const char *to, const struct stat *sb)
{
	char buf[65536];
	ssize_t n;
	int in, out, rc = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -1;	/* gone meanwhile (a queue file delivered) */
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0 || fchown(out, sb->st_uid, sb->st_gid) < 0 ||
	    fchmod(out, sb->st_mode & 07777) < 0)
		rc = -1;
	close(in);
	if (close(out) < 0)
		rc = -1;
	return rc;
}

/* A consistent copy of a SQLite database, owners and mode kept. */
static int
copy_db(const char *from, const char *to, const struct stat *sb)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_open_v2(from, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_busy_timeout(db, 10000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
	}
	if (rc < 0)
		fprintf(stderr, "facteurctl: backup: %s: %s\n", from, db != NULL ?
		    sqlite3_errmsg(db) : "cannot open");
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (rc == 0 && (chown(to, sb->st_uid, sb->st_gid) < 0 || chmod(to, sb->st_mode & 07777) < 0))
		rc = -1;
	return rc;
}

static const char *walk_src, *walk_dst;
static int walk_failed;
static unsigned long walk_files;

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
walk_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = path + strlen(walk_src);
	const char *base = path + ftw->base;
	char to[PATH_MAX];

	while (*rel == '/')
		rel++;
	/* What the daemons remake or what is in flight. */
	if (strcmp(rel, "run") == 0 || strncmp(rel, "run/", 4) == 0 ||
	    strcmp(rel, "rules-cache") == 0 || strncmp(rel, "rules-cache/", 12) == 0 ||
	    strcmp(rel, "store/tmp") == 0 || strncmp(rel, "store/tmp/", 10) == 0 ||
	    ends_with(base, "-wal") || ends_with(base, "-shm") || ends_with(base, "-journal") ||
	    strncmp(base, "t.", 2) == 0)
		return 0;
	snprintf(to, sizeof(to), "%s/%s", walk_dst, rel);
	if (type == FTW_D) {
		if (mkdirs(to, sb->st_mode & 07777) < 0 || chown(to, sb->st_uid, sb->st_gid) < 0 ||
		    chmod(to, sb->st_mode & 07777) < 0)
			walk_failed = 1;
		return 0;
	}
	if (type != FTW_F || !S_ISREG(sb->st_mode))
		return 0;	/* sockets, links: not data */
	if ((ends_with(base, ".db") ? copy_db(path, to, sb) : copy_file(path, to, sb)) < 0) {
		fprintf(stderr, "facteurctl: backup: cannot copy %s: %s\n", path, strerror(errno));
		walk_failed = 1;
	}
	walk_files++;
	return 0;
}

/* Copy the tree src into dst; -1 if something could not be copied. */
static int
copy_tree(const char *src, const char *dst)
{
	struct stat sb;

	if (stat(src, &sb) < 0)
		return errno == ENOENT ? 0 : -1;
	walk_src = src;
	walk_dst = dst;
	walk_failed = 0;
	if (S_ISREG(sb.st_mode)) {
		char to[PATH_MAX];
		const char *slash = strrchr(src, '/');
		snprintf(to, sizeof(to), "%s/%s", dst, slash != NULL ? slash + 1 : src);
		if (mkdirs(dst, 0755) < 0)
			return -1;
		walk_files++;
		return ends_with(src, ".db") ? copy_db(src, to, &sb) : copy_file(src, to, &sb);
	}
	if (nftw(src, walk_one, 32, FTW_PHYS) < 0)
		return -1;
	return walk_failed ? -1 : 0;
}

/* A configured path outside the spool (or NULL). */
static const char *
outside(const char *path)
{
	size_t n = strlen(var_spool_directory);

	if (path == NULL || path[0] == '\0')
		return NULL;
	if (strncmp(path, var_spool_directory, n) == 0 && (path[n] == '/' || path[n] == '\0'))
		return NULL;
	return path;
}

static const struct extra {
	const char *name;
	char **value;
} extras[] = {
	{ "directory_database", &var_directory_database },
	{ "dkim_key_directory", &var_dkim_key_directory },
	{ "mail_store_directory", &var_mail_store_directory },
	{ "bayes_database", &var_bayes_database },
};
#define NEXTRAS (sizeof(extras) / sizeof(extras[0]))

/* A staging directory under $TMPDIR (default /tmp): it holds a copy of everything. */
static int
make_stage(char *buf, size_t size, const char *what)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, size, "%s/facteur-%s.XXXXXX", tmp != NULL && tmp[0] == '/' ? tmp : "/tmp",
	    what);
	return mkdtemp(buf) != NULL ? 0 : -1;
}

static int
do_backup(const char *file)
{
	char stage[PATH_MAX], path[PATH_MAX];
	char *rm[] = { "rm", "-rf", stage, NULL };
	int rc = 1;

	if (make_stage(stage, sizeof(stage), "backup") < 0) {
		fprintf(stderr, "facteurctl: backup: %s\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/etc", stage);
	if (copy_tree(config_path(), path) < 0) {
		fprintf(stderr, "facteurctl: backup: cannot copy %s\n", config_path());
		goto out;
	}
	snprintf(path, sizeof(path), "%s/tls", stage);
	if (copy_tree(var_smtpd_tls_cert_file, path) < 0 || copy_tree(var_smtpd_tls_key_file, path) < 0) {
		fprintf(stderr, "facteurctl: backup: cannot copy the TLS certificate or key\n");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/spool", stage);
	walk_files = 0;
	if (copy_tree(var_spool_directory, path) < 0) {
		fprintf(stderr, "facteurctl: backup: the spool was not copied whole\n");
		goto out;
	}
	for (size_t i = 0; i < NEXTRAS; i++) {
		const char *p = outside(*extras[i].value);
		if (p == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", stage, extras[i].name);
		if (copy_tree(p, path) < 0) {
			fprintf(stderr, "facteurctl: backup: cannot copy %s (%s)\n", p, extras[i].name);
			goto out;
		}
	}
	{
		char *tar[] = { "tar", "--numeric-owner", "-czf", (char *)file, "-C", stage, ".", NULL };
		if (run(tar) < 0) {
			fprintf(stderr, "facteurctl: backup: tar could not write %s\n", file);
			goto out;
		}
	}
	printf("backup: %s (%lu files)\n", file, walk_files);
	rc = 0;
out:
	(void)run(rm);
	return rc;
}

/* 1 if the master holds its lock on this spool. */
static int
master_running(void)
{
	char path[PATH_MAX];
	int fd, running = 0;

	if ((fd = open(spool_path("run/master.pid", path, sizeof(path)), O_RDWR | O_CLOEXEC)) < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		running = errno == EWOULDBLOCK;
	close(fd);
	return running;
}

static int
has_data(const char *spool)
{
	char path[PATH_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/directory.db", spool);
	if (stat(path, &sb) == 0)
		return 1;
	snprintf(path, sizeof(path), "%s/store/store.db", spool);
	return stat(path, &sb) == 0;
}

/*
 * For each database of the staged tree from, the -wal, -shm and -journal
 * files beside its place under dest go: a write-ahead log left by the
 * running facteur holds changes made after the backup, and SQLite would
 * replay it onto the restored copy.
 */
static const char *side_from, *side_dest;
static int side_failed;

static int
side_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	static const char *const sides[] = { "-wal", "-shm", "-journal" };
	const char *rel = path + strlen(side_from);
	char to[PATH_MAX];

	(void)sb;
	(void)ftw;
	if (type != FTW_F || !ends_with(path, ".db"))
		return 0;
	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		snprintf(to, sizeof(to), "%s%s%s", side_dest, rel, sides[i]);
		if (unlink(to) < 0 && errno != ENOENT) {
			fprintf(stderr, "facteurctl: restore: cannot remove %s: %s\n", to, strerror(errno));
			side_failed = 1;
		}
	}
	return 0;
}

static int
drop_sides(const char *from, const char *dest)
{
	side_from = from;
	side_dest = dest;
	side_failed = 0;
	if (nftw(from, side_one, 32, FTW_PHYS) < 0)
		return -1;
	return side_failed ? -1 : 0;
}

/*
 * Put the archive's tree top (a directory of stage) at dest, owners kept.
 * dest itself keeps its owner and mode when it exists: "cp -a top/."
 * gives it the staged directory's (for tls/, the stage's root 0700, which
 * shut the daemons out of their certificate).
 */
static int
put_back(const char *stage, const char *top, const char *dest)
{
	char from[PATH_MAX], dot[PATH_MAX];
	char *cp[] = { "cp", "-a", "--", dot, (char *)dest, NULL };
	struct stat sb, was;
	int existed;

	snprintf(from, sizeof(from), "%s/%s", stage, top);
	if (stat(from, &sb) < 0)
		return 0;
	existed = stat(dest, &was) == 0;
	if (mkdirs(dest, 0755) < 0 || drop_sides(from, dest) < 0)
		return -1;
	snprintf(dot, sizeof(dot), "%s/.", from);
	if (run(cp) < 0)
		return -1;
	if (existed && (chown(dest, was.st_uid, was.st_gid) < 0 ||
	    chmod(dest, was.st_mode & 07777) < 0)) {
		fprintf(stderr, "facteurctl: restore: %s: %s\n", dest, strerror(errno));
		return -1;
	}
	return 0;
}

static int
do_restore(const char *file, int force)
{
	char stage[PATH_MAX], path[PATH_MAX], conf[PATH_MAX];
	char *rm[] = { "rm", "-rf", stage, NULL };
	const char *slash;
	int rc = 1;

	if (master_running()) {
		fprintf(stderr, "facteurctl: restore: facteur is running on %s: stop it first\n",
		    var_spool_directory);
		return 1;
	}
	if (has_data(var_spool_directory) && !force) {
		fprintf(stderr, "facteurctl: restore: %s already holds a directory or a mail store: "
		    "--force replaces them\n", var_spool_directory);
		return 1;
	}
	if (make_stage(stage, sizeof(stage), "restore") < 0) {
		fprintf(stderr, "facteurctl: restore: %s\n", strerror(errno));
		return 1;
	}
	{
		char *tar[] = { "tar", "--numeric-owner", "-xzf", (char *)file, "-C", stage, NULL };
		if (run(tar) < 0) {
			fprintf(stderr, "facteurctl: restore: %s is not a readable backup\n", file);
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/spool", stage);
	if (access(path, F_OK) < 0) {
		fprintf(stderr, "facteurctl: restore: %s is not a facteur backup (no spool)\n", file);
		goto out;
	}
	if (put_back(stage, "spool", var_spool_directory) < 0) {
		fprintf(stderr, "facteurctl: restore: cannot restore %s\n", var_spool_directory);
		goto out;
	}
	for (size_t i = 0; i < NEXTRAS; i++) {
		const char *p = outside(*extras[i].value);
		if (p != NULL) {
			/* A file (a database) goes into its directory; a directory in place. */
			char dir[PATH_MAX];
			struct stat sb;
			snprintf(path, sizeof(path), "%s/%s", stage, extras[i].name);
			if (stat(path, &sb) < 0)
				continue;
			str_copy(dir, p, sizeof(dir));
			if (ends_with(p, ".db") && (slash = strrchr(dir, '/')) != NULL)
				dir[slash - dir] = '\0';
			if (put_back(stage, extras[i].name, dir) < 0) {
				fprintf(stderr, "facteurctl: restore: cannot restore %s\n", p);
				goto out;
			}
		}
	}
	if (var_smtpd_tls_cert_file[0] != '\0') {
		snprintf(path, sizeof(path), "%s/tls", stage);
		str_copy(conf, var_smtpd_tls_cert_file, sizeof(conf));
		if ((slash = strrchr(conf, '/')) != NULL)
			conf[slash - conf] = '\0';
		if (access(path, F_OK) == 0 && put_back(stage, "tls", conf) < 0) {
			fprintf(stderr, "facteurctl: restore: cannot restore the certificate\n");
			goto out;
		}
	}
	/* The archived configuration beside the running one, not over it. */
	slash = strrchr(config_path(), '/');
	snprintf(path, sizeof(path), "%s/etc/%s", stage, slash != NULL ? slash + 1 : config_path());
	snprintf(conf, sizeof(conf), "%s.restored", config_path());
	{
		char *cp[] = { "cp", "-p", "--", path, conf, NULL };
		if (access(path, F_OK) == 0 && run(cp) < 0)
			fprintf(stderr, "facteurctl: restore: could not write %s\n", conf);
	}
	printf("restore: %s into %s (archived configuration in %s)\n", file, var_spool_directory,
	    conf);
	rc = 0;
out:
	(void)run(rm);
	return rc;
}

int
ctl_backup(int argc, char **argv)
{
	if (argc != 1 || argv[0][0] == '-')
		return usage();
	if (geteuid() != 0) {
		fprintf(stderr, "facteurctl: backup: run it as root (it reads every file of facteur)\n");
		return 1;
	}
	return do_backup(argv[0]);
}

int
ctl_restore(int argc, char **argv)
{
	int force = 0;
	const char *file = NULL;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			return usage();
	}
	if (file == NULL)
		return usage();
	if (geteuid() != 0) {
		fprintf(stderr, "facteurctl: restore: run it as root\n");
		return 1;
	}
	return do_restore(file, force);
}
