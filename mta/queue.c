/* SPDX-License-Identifier: MIT */
/*
 * queue - spool directories and ids.  See queue.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/config.h"
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
