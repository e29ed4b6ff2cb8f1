/* SPDX-License-Identifier: MIT */
/*
 * queue - spool directories and ids.  See queue.h.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "queue.h"

static const char *const state_names[Q_NSTATES] = {
	"incoming", "active", "deferred", "hold", "corrupt", "quarantine",
};

const char *
queue_state_name(enum queue_state state)
{
	return state_names[state];
}

int
queue_state_parse(const char *name)
{
	for (int i = 0; i < Q_NSTATES; i++)
		if (strcmp(state_names[i], name) == 0)
			return i;
	return -1;
}

int
queue_init_dirs(uid_t uid, gid_t gid, const char **error_r)
{
	static char error[512];
	static const char *const extra[] = { "run", "mailbox", "rules-cache", "filter", "policy",
	    "reports" };
	char path[4096];

	if (proc_mkdir(var_spool_directory, 0755, (uid_t)-1, (gid_t)-1) < 0)
		goto fail;
	for (int i = 0; i < Q_NSTATES; i++)
		if (proc_mkdir(spool_path(state_names[i], path, sizeof(path)), 0700, uid, gid) < 0)
			goto fail;
	if (proc_mkdir(spool_path(QUEUE_FREE_DIR, path, sizeof(path)), 0700, uid, gid) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (proc_mkdir(spool_path(extra[i], path, sizeof(path)), 0755, uid, gid) < 0)
			goto fail;
	return 0;
fail:
	snprintf(error, sizeof(error), "cannot create spool directory %s: %s",
	    var_spool_directory, strerror(errno));
	*error_r = error;
	return -1;
}

void
queue_path(enum queue_state state, const char *qid, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s", var_spool_directory, state_names[state], qid);
}

int
queue_move(const char *qid, enum queue_state from, enum queue_state to)
{
	char a[4096], b[4096];

	queue_path(from, qid, a, sizeof(a));
	queue_path(to, qid, b, sizeof(b));
	return rename(a, b);
}

int
queue_find(const char *qid)
{
	char path[4096];

	if (!queue_id_valid(qid))
		return -1;
	for (int i = 0; i < Q_NSTATES; i++) {
		queue_path(i, qid, path, sizeof(path));
		if (access(path, F_OK) == 0)
			return i;
	}
	return -1;
}

void
queue_new_id(char qid[QUEUE_ID_SIZE])
{
	static unsigned int counter;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	/* seconds, microseconds, then pid and a counter: unique across daemons. */
	snprintf(qid, QUEUE_ID_SIZE, "%08lX%05lX%04X", (unsigned long)tv.tv_sec & 0xffffffffUL,
	    (unsigned long)tv.tv_usec, (unsigned int)((getpid() * 131u + counter++) & 0xffff));
}

int
queue_id_valid(const char *name)
{
	size_t n = 0;

	for (; name[n] != '\0'; n++)
		if (!((name[n] >= '0' && name[n] <= '9') || (name[n] >= 'A' && name[n] <= 'F')))
			return 0;
	return n >= 8 && n < QUEUE_ID_SIZE;
}

/* ---- queue files kept for reuse ---- */

static struct {
	pthread_mutex_t lock;
	/* The names of free/ this process read and has not tried yet. */
	char (*names)[QUEUE_ID_SIZE];
	size_t n;
	time_t empty_at;	/* when free/ was last found empty (monotonic) */
	/* How many files free/ holds at most, as far as this process knows. */
	size_t count;
	time_t counted_at;
} reuse = { .lock = PTHREAD_MUTEX_INITIALIZER, .empty_at = -1, .counted_at = -1 };

/* Names read from free/ at a time. */
#define REUSE_BATCH 64

static void
free_path(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s/%s", var_spool_directory, QUEUE_FREE_DIR, name);
}

/*
 * Count the files of free/ and remove those beyond keep (all when
 * keep is 0).  The count kept.
 */
static size_t
reuse_scan(size_t keep)
{
	char dir_path[4096], path[4096];
	struct dirent *de;
	size_t n = 0;
	DIR *dir;

	if ((dir = opendir(spool_path(QUEUE_FREE_DIR, dir_path, sizeof(dir_path)))) == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (queue_id_valid(de->d_name) && n < keep) {
			n++;
			continue;
		}
		free_path(de->d_name, path, sizeof(path));
		(void)unlink(path);
	}
	closedir(dir);
	return n;
}

int
queue_reuse_put(const char *path, const char *name)
{
	size_t limit = var_queue_file_reuse_limit > 0 ? (size_t)var_queue_file_reuse_limit : 0;
	char to[4096];
	int full;

	if (limit == 0 || !queue_id_valid(name))
		return -1;
	pthread_mutex_lock(&reuse.lock);
	if (reuse.count >= limit && reuse.counted_at != proc_mono_seconds()) {
		/* Writers took some meanwhile: count again, once a second at most. */
		reuse.count = reuse_scan(SIZE_MAX);
		reuse.counted_at = proc_mono_seconds();
	}
	full = reuse.count >= limit;
	if (!full) {
		reuse.count++;
		reuse.empty_at = -1;
	}
	pthread_mutex_unlock(&reuse.lock);
	if (full)
		return -1;
	free_path(name, to, sizeof(to));
	if (rename(path, to) < 0)
		return -1;
	/*
	 * Emptied by its new name: a writer may already have taken it from
	 * there, and then the name is gone (ENOENT) and the file is its own.
	 */
	if (truncate(to, 0) < 0 && errno != ENOENT)
		unlink(to);
	return 0;
}

/* Read up to REUSE_BATCH names of free/; 0 if it holds none. */
static size_t
reuse_fill(void)
{
	char dir_path[4096], tmp[QUEUE_ID_SIZE];
	struct dirent *de;
	size_t skip;
	DIR *dir;

	reuse.n = 0;
	if (reuse.names == NULL)
		reuse.names = xcalloc(REUSE_BATCH, sizeof(*reuse.names));
	if ((dir = opendir(spool_path(QUEUE_FREE_DIR, dir_path, sizeof(dir_path)))) == NULL)
		return 0;
	while (reuse.n < REUSE_BATCH && (de = readdir(dir)) != NULL)
		if (queue_id_valid(de->d_name))
			str_copy(reuse.names[reuse.n++], de->d_name, QUEUE_ID_SIZE);
	closedir(dir);
	/* The writers of other processes read the same names: each starts elsewhere. */
	for (skip = reuse.n > 1 ? (size_t)getpid() % reuse.n : 0; skip > 0; skip--) {
		memcpy(tmp, reuse.names[reuse.n - 1], sizeof(tmp));
		memmove(reuse.names[1], reuse.names[0], (reuse.n - 1) * sizeof(*reuse.names));
		memcpy(reuse.names[0], tmp, sizeof(tmp));
	}
	return reuse.n;
}

int
queue_reuse_take(const char *path)
{
	char from[4096];
	int rc = -1, e = 0;

	if (var_queue_file_reuse_limit <= 0)
		return -1;
	pthread_mutex_lock(&reuse.lock);
	for (;;) {
		if (reuse.n == 0) {
			/* free/ found empty is read again a second later at the soonest. */
			time_t now = proc_mono_seconds();

			if (reuse.empty_at == now || reuse_fill() == 0) {
				reuse.empty_at = now;
				break;
			}
		}
		free_path(reuse.names[--reuse.n], from, sizeof(from));
		/* Never over a file of that name: it is another writer's (O_EXCL's promise). */
		if (renameat2(AT_FDCWD, from, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
			rc = 0;
			if (reuse.count > 0)
				reuse.count--;
			break;
		}
		/* ENOENT: taken by another writer; try the next. */
		if ((e = errno) != ENOENT) {
			/* EEXIST is for this name only; anything else, for a second. */
			if (e != EEXIST)
				reuse.empty_at = proc_mono_seconds();
			break;
		}
	}
	pthread_mutex_unlock(&reuse.lock);
	if (rc < 0)
		errno = e;
	return rc;
}

size_t
queue_reuse_prune(void)
{
	size_t limit = var_queue_file_reuse_limit > 0 ? (size_t)var_queue_file_reuse_limit : 0;

	pthread_mutex_lock(&reuse.lock);
	reuse.count = reuse_scan(limit);
	reuse.counted_at = proc_mono_seconds();
	pthread_mutex_unlock(&reuse.lock);
	return reuse.count;
}
