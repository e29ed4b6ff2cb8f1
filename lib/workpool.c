/* SPDX-License-Identifier: MIT */
/* workpool - see workpool.h. */
#include "facteur-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "workpool.h"

struct job {
	workpool_fn *work, *done;
	void *arg;
	struct job *next;
};

struct workpool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *todo, **todo_tail;
	struct job *finished, **finished_tail;
	pthread_t *threads;
	unsigned int nthreads;
	unsigned int pending;	/* loop thread only */
	int stopping;
	int efd;
	struct event *ev;
};

static void *
worker(void *ctx)
{
	struct workpool *wp = ctx;

	pthread_mutex_lock(&wp->lock);
	for (;;) {
		struct job *j;
		uint64_t one = 1;

		while (wp->todo == NULL && !wp->stopping)
			pthread_cond_wait(&wp->cond, &wp->lock);
		if (wp->stopping)
			break;
		j = wp->todo;
		wp->todo = j->next;
		if (wp->todo == NULL)
			wp->todo_tail = &wp->todo;
		pthread_mutex_unlock(&wp->lock);

		j->work(j->arg);

		pthread_mutex_lock(&wp->lock);
		j->next = NULL;
		*wp->finished_tail = j;
		wp->finished_tail = &j->next;
		while (write(wp->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

static void
on_finished(evutil_socket_t fd, short what, void *ctx)
{
	struct workpool *wp = ctx;
	struct job *j;
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&wp->lock);
	j = wp->finished;
	wp->finished = NULL;
	wp->finished_tail = &wp->finished;
	pthread_mutex_unlock(&wp->lock);
	while (j != NULL) {
		struct job *next = j->next;
		wp->pending--;
		j->done(j->arg);
		free(j);
		j = next;
	}
}

struct workpool *
workpool_new(struct event_base *base, unsigned int threads)
{
	struct workpool *wp = xcalloc(1, sizeof(*wp));

	if (threads == 0)
		threads = 1;
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->cond, NULL);
	wp->todo_tail = &wp->todo;
	wp->finished_tail = &wp->finished;
	if ((wp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		fatal("eventfd");
	wp->ev = event_new(base, wp->efd, EV_READ | EV_PERSIST, on_finished, wp);
	event_add(wp->ev, NULL);
	wp->threads = xcalloc(threads, sizeof(*wp->threads));
	for (unsigned int i = 0; i < threads; i++) {
		int rc = pthread_create(&wp->threads[i], NULL, worker, wp);
		if (rc != 0) {
			errno = rc;
			fatal("pthread_create");
		}
		wp->nthreads++;
	}
	return wp;
}

void
workpool_submit(struct workpool *wp, workpool_fn *work, workpool_fn *done, void *arg)
{
	struct job *j = xmalloc(sizeof(*j));

	j->work = work;
	j->done = done;
	j->arg = arg;
	j->next = NULL;
	wp->pending++;
	pthread_mutex_lock(&wp->lock);
	*wp->todo_tail = j;
	wp->todo_tail = &j->next;
	pthread_cond_signal(&wp->cond);
	pthread_mutex_unlock(&wp->lock);
}

unsigned int
workpool_pending(const struct workpool *wp)
{
	return wp->pending;
}

void
workpool_free(struct workpool **wpp)
{
	struct workpool *wp = *wpp;
	struct job *j, *next;

	if (wp == NULL)
		return;
	*wpp = NULL;
	pthread_mutex_lock(&wp->lock);
	wp->stopping = 1;
	pthread_cond_broadcast(&wp->cond);
	pthread_mutex_unlock(&wp->lock);
	for (unsigned int i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	for (j = wp->todo; j != NULL; j = next) {
		next = j->next;
		free(j);
	}
	for (j = wp->finished; j != NULL; j = next) {
		next = j->next;
		free(j);
	}
	event_free(wp->ev);
	close(wp->efd);
	pthread_cond_destroy(&wp->cond);
	pthread_mutex_destroy(&wp->lock);
	free(wp->threads);
	free(wp);
}
