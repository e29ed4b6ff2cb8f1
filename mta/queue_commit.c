/* SPDX-License-Identifier: MIT */
/*
 * queue_commit - group commit of queue files.  See queue_commit.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "queue_commit.h"

struct commit_job {
	struct queue_writer *w;
	queue_commit_cb *cb;
	void *ctx;
	int error;
	struct commit_job *next;
};

static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t commit_cond = PTHREAD_COND_INITIALIZER;
static struct commit_job *pending_head, **pending_tail = &pending_head;
static struct commit_job *done_head, **done_tail = &done_head;
static int notify_pipe[2] = { -1, -1 };
static struct event *notify_event;

static int
fsync_incoming_dir(void)
{
	char path[4096];
	int fd, rc;

	queue_path(Q_INCOMING, "", path, sizeof(path));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static void
commit_batch(struct commit_job *batch)
{
	int use_syncfs = strcmp(var_queue_sync, "syncfs") == 0;
	int sync_fd = -1, sync_error = 0;
	size_t n = 0;

	for (struct commit_job *j = batch; j != NULL; j = j->next) {
		if (!use_syncfs && fsync(j->w->fd) < 0)
			j->error = errno;
		else if (rename(j->w->tmp_path, j->w->final_path) < 0)
			j->error = errno;
		if (j->error == 0 && sync_fd < 0)
			sync_fd = j->w->fd;
	}
	if (sync_fd >= 0) {
		if (use_syncfs ? syncfs(sync_fd) < 0 : fsync_incoming_dir() < 0)
			sync_error = errno;
		STATS_INC(queue_commits);
	}
	for (struct commit_job *j = batch; j != NULL; j = j->next) {
		if (j->error == 0 && sync_error != 0) {
			/* Not durable: take it back before qmgr delivers it. */
			j->error = sync_error;
			unlink(j->w->final_path);
		} else if (j->error != 0) {
			unlink(j->w->tmp_path);
		} else {
			n++;
		}
		close(j->w->fd);
		j->w->fd = -1;
	}
	STATS_ADD(queue_committed_files, n);
}

static void *
commit_thread(void *arg)
{
	for (;;) {
		struct commit_job *batch;

		pthread_mutex_lock(&commit_lock);
		while (pending_head == NULL)
			pthread_cond_wait(&commit_cond, &commit_lock);
		batch = pending_head;
		pending_head = NULL;
		pending_tail = &pending_head;
		pthread_mutex_unlock(&commit_lock);

		commit_batch(batch);

		pthread_mutex_lock(&commit_lock);
		*done_tail = batch;
		while (*done_tail != NULL)
			done_tail = &(*done_tail)->next;
		pthread_mutex_unlock(&commit_lock);
		if (write(notify_pipe[1], "x", 1) < 0 && errno != EAGAIN)
			panic("commit notify pipe: %s", strerror(errno));
	}
	return NULL;
}

static void
commit_done(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];
	struct commit_job *list;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&commit_lock);
	list = done_head;
	done_head = NULL;
	done_tail = &done_head;
	pthread_mutex_unlock(&commit_lock);
	while (list != NULL) {
		struct commit_job *next = list->next;
		list->cb(list->ctx, list->error);
		free(list);
		list = next;
	}
	queue_wakeup_qmgr();
}

int
queue_commit_init(struct event_base *base, const char **error_r)
{
	static char error[256];
	pthread_t tid;
	int rc;

	if (pipe2(notify_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(error, sizeof(error), "pipe: %s", strerror(errno));
		*error_r = error;
		return -1;
	}
	notify_event = event_new(base, notify_pipe[0], EV_READ | EV_PERSIST, commit_done, NULL);
	event_add(notify_event, NULL);
	if ((rc = pthread_create(&tid, NULL, commit_thread, NULL)) != 0) {
		snprintf(error, sizeof(error), "pthread_create: %s", strerror(rc));
		*error_r = error;
		return -1;
	}
	pthread_detach(tid);
	return 0;
}

void
queue_commit_submit(struct queue_writer *w, queue_commit_cb *cb, void *ctx)
{
	struct commit_job *j = xcalloc(1, sizeof(*j));

	j->w = w;
	j->cb = cb;
	j->ctx = ctx;
	pthread_mutex_lock(&commit_lock);
	*pending_tail = j;
	pending_tail = &j->next;
	pthread_cond_signal(&commit_cond);
	pthread_mutex_unlock(&commit_lock);
}

int
queue_commit_sync(struct queue_writer *w)
{
	int e = 0;

	if (fsync(w->fd) < 0 || rename(w->tmp_path, w->final_path) < 0)
		e = errno;
	else if (fsync_incoming_dir() < 0)
		e = errno;
	close(w->fd);
	w->fd = -1;
	if (e != 0) {
		unlink(w->tmp_path);
		errno = e;
		return -1;
	}
	return 0;
}

void
queue_wakeup_qmgr(void)
{
	static int fd = -1;
	struct sockaddr_un sun;

	if (fd < 0 && (fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	spool_path("run/qmgr.wakeup", sun.sun_path, sizeof(sun.sun_path));
	/* Lost wakeups are fine: qmgr also scans incoming/ on a timer. */
	(void)sendto(fd, "W", 1, 0, (struct sockaddr *)&sun, sizeof(sun));
}
