/* SPDX-License-Identifier: MIT */
/*
 * qmgr_ctl - the control socket.  See qmgr_ctl.h.
 */
#include "facteur-config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "qmgr.h"
#include "qmgr_ctl.h"

#define CTL_LINE_MAX 1024
#define CTL_TIMEOUT 60

static struct evconnlistener *listener;
static char ctl_path[108];

static void
ctl_reply(struct bufferevent *bev, int rc, const char *error)
{
	if (rc == 0)
		evbuffer_add_printf(bufferevent_get_output(bev), "ok\n");
	else
		evbuffer_add_printf(bufferevent_get_output(bev), "error %s\n", error);
}

static void
ctl_command(struct bufferevent *bev, char *line)
{
	const char *error = "unknown command";
	char *arg = strchr(line, ' ');
	int rc = -1;

	if (arg != NULL) {
		*arg++ = '\0';
		arg = str_trim(arg);
	}
	log_debug("control: %s%s%s", line, arg != NULL ? " " : "", arg != NULL ? arg : "");
	if (strcmp(line, "flush") == 0 && arg == NULL)
		rc = qmgr_flush(&error);
	else if (arg == NULL && (strcmp(line, "hold") == 0 || strcmp(line, "release") == 0 ||
	    strcmp(line, "delete") == 0))
		error = "missing queue id";
	else if (strcmp(line, "hold") == 0)
		rc = qmgr_hold(arg, &error);
	else if (strcmp(line, "release") == 0)
		rc = qmgr_release(arg, &error);
	else if (strcmp(line, "delete") == 0)
		rc = qmgr_delete(arg, &error);
	ctl_reply(bev, rc, error);
}

static void
ctl_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_ANY)) != NULL) {
		if (len > 0)
			ctl_command(bev, line);
		free(line);
	}
	if (evbuffer_get_length(in) > CTL_LINE_MAX)
		bufferevent_free(bev);
}

static void
ctl_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

static void
ctl_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len, void *arg)
{
	struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	struct timeval tv = { CTL_TIMEOUT, 0 };

	bufferevent_setcb(bev, ctl_read, NULL, ctl_event, NULL);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void
qmgr_ctl_init(struct event_base *base)
{
	struct sockaddr_un sun;
	mode_t old;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(spool_path("run/qmgr.ctl", sun.sun_path, sizeof(sun.sun_path))) >=
	    sizeof(sun.sun_path) - 1)
		fatalx("spool_directory is too long for a socket path");
	str_copy(ctl_path, sun.sun_path, sizeof(ctl_path));
	unlink(sun.sun_path);
	/* Created 0600 from the start: no window where others could connect. */
	old = umask(0177);
	listener = evconnlistener_new_bind(base, ctl_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (listener == NULL)
		fatal("cannot bind the control socket %s", sun.sun_path);
}

void
qmgr_ctl_shutdown(void)
{
	if (listener != NULL) {
		evconnlistener_free(listener);
		listener = NULL;
		unlink(ctl_path);
	}
}
