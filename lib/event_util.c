/* SPDX-License-Identifier: MIT */
/*
 * event_util - libevent glue.  See event_util.h.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <unistd.h>

#include "event_util.h"
#include "log.h"

static void
master_gone(evutil_socket_t fd, short what, void *arg)
{
	char c;

	if (read(fd, &c, 1) > 0)
		return;
	log_warnx("the master process is gone: exiting");
	event_base_loopbreak(arg);
}

void
event_watch_master(struct event_base *base)
{
	const char *env = getenv(MASTER_FD_ENV);
	int fd;

	if (env == NULL || (fd = atoi(env)) < 3)
		return;
	event_add(event_new(base, fd, EV_READ | EV_PERSIST, master_gone, base), NULL);
}
