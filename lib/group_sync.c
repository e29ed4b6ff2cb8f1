/* SPDX-License-Identifier: MIT */
/*
 * group_sync - one flush for many requests.  See group_sync.h.
 *
 * Built on a one-thread workpool: a batch is one job whose work is the
 * flush and whose done runs the batch's callbacks, then hands over the
 * requests that came meanwhile.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "group_sync.h"
#include "mem.h"
#include "workpool.h"

#define GS_MAX_FS 4

struct gs_req {
	group_sync_cb *cb;
	void *ctx;
	struct gs_req *next;
};

struct gs_batch {
	struct group_sync *gs;
	struct gs_req *reqs;
	int error;
};

struct group_sync {
	struct workpool *wp;
	struct event *kick;	/* active: hand the waiting requests over */
	struct gs_req *waiting, **waiting_tail;
	struct gs_batch *running;
	size_t pending;
	int fds[GS_MAX_FS];
	size_t nfds;
	uint64_t *counter;
};

/* In the thread: touches only the batch and the (fixed) descriptors. */
static void
batch_flush(void *arg)
{
	struct gs_batch *b = arg;
	struct group_sync *gs = b->gs;

	for (size_t i = 0; i < gs->nfds; i++)
		if (syncfs(gs->fds[i]) < 0 && b->error == 0)
			b->error = errno != 0 ? errno : EIO;
	if (gs->counter != NULL)
		__atomic_add_fetch(gs->counter, 1, __ATOMIC_RELAXED);
}

static void
batch_done(void *arg)
{
	struct gs_batch *b = arg;
	struct group_sync *gs = b->gs;
	struct gs_req *r = b->reqs;

	gs->running = NULL;
	/* Requests made by the callbacks wait for the next flush. */
	if (gs->waiting != NULL)
		event_active(gs->kick, EV_TIMEOUT, 0);
	while (r != NULL) {
		struct gs_req *next = r->next;
		gs->pending--;
		r->cb(r->ctx, b->error);
		free(r);
		r = next;
	}
	free(b);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct group_sync *gs = arg;
	struct gs_batch *b;

	if (gs->running != NULL || gs->waiting == NULL)
		return;
	b = xcalloc(1, sizeof(*b));
	b->gs = gs;
	b->reqs = gs->waiting;
	gs->waiting = NULL;
	gs->waiting_tail = &gs->waiting;
	gs->running = b;
	workpool_submit(gs->wp, batch_flush, batch_done, b);
}

struct group_sync *
group_sync_new(struct event_base *base, const char *const *dirs, size_t ndirs, uint64_t *counter,
    const char **error_r)
{
	static char error[512];
	struct group_sync *gs = xcalloc(1, sizeof(*gs));
	dev_t devs[GS_MAX_FS];

	gs->waiting_tail = &gs->waiting;
	gs->counter = counter;
	for (size_t i = 0; i < ndirs; i++) {
		struct stat sb;
		size_t j;
		int fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || fstat(fd, &sb) < 0) {
			snprintf(error, sizeof(error), "cannot open %s: %s", dirs[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			*error_r = error;
			group_sync_free(&gs);
			return NULL;
		}
		for (j = 0; j < gs->nfds; j++)
			if (devs[j] == sb.st_dev)
				break;
		if (j < gs->nfds || gs->nfds == GS_MAX_FS) {
			close(fd);
			continue;
		}
		devs[gs->nfds] = sb.st_dev;
		gs->fds[gs->nfds++] = fd;
	}
	gs->wp = workpool_new(base, 1);
	gs->kick = event_new(base, -1, 0, on_kick, gs);
	return gs;
}

void
group_sync_submit(struct group_sync *gs, group_sync_cb *cb, void *ctx)
{
	struct gs_req *r = xmalloc(sizeof(*r));

	r->cb = cb;
	r->ctx = ctx;
	r->next = NULL;
	*gs->waiting_tail = r;
	gs->waiting_tail = &r->next;
	gs->pending++;
	/* After the other sessions ready in this pass have had their turn. */
	if (gs->running == NULL)
		event_active(gs->kick, EV_TIMEOUT, 0);
}

size_t
group_sync_pending(const struct group_sync *gs)
{
	return gs->pending;
}

void
group_sync_free(struct group_sync **gsp)
{
	struct group_sync *gs = *gsp;
	struct gs_req *r;

	if (gs == NULL)
		return;
	*gsp = NULL;
	workpool_free(&gs->wp);
	if (gs->running != NULL) {
		for (r = gs->running->reqs; r != NULL; ) {
			struct gs_req *next = r->next;
			free(r);
			r = next;
		}
		free(gs->running);
	}
	for (r = gs->waiting; r != NULL; ) {
		struct gs_req *next = r->next;
		free(r);
		r = next;
	}
	if (gs->kick != NULL)
		event_free(gs->kick);
	for (size_t i = 0; i < gs->nfds; i++)
		close(gs->fds[i]);
	free(gs);
}
