/* SPDX-License-Identifier: MIT */
/*
 * screen_queue - the mail queue: the messages of incoming, active,
 * deferred and hold (what "facteurctl queue list" lists), read from the
 * queue files every 2 seconds; a message shown, held, released or
 * deleted and the queue flushed through facteurctl, which asks qmgr so
 * that no change races a delivery.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "lib/mem.h"
#include "mta/queue.h"
#include "mta/queue_file.h"
#include "ui.h"

#define REFRESH_MS 2000

static const char help[] =
    "The messages waiting in the queue, oldest first: queue id, state (incoming, "
    "active: being delivered, deferred: waiting for a retry, hold: set aside), size, "
    "arrival, sender and recipients.\n"
    "\n"
    "Enter or v: show the message (envelope, delivery log, content)\n"
    "h: hold it (no delivery until released)\n"
    "r: release a held message\n"
    "d: delete it (asks first; the sender is not told)\n"
    "f: flush: retry every deferred message now\n"
    "q: back";

struct qentry {
	char qid[QUEUE_ID_SIZE];
	enum queue_state state;
};

static int
qentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct qentry *)a)->qid, ((const struct qentry *)b)->qid);
}

static size_t
collect(struct qentry **v_r)
{
	static const enum queue_state states[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD };
	struct qentry *v = NULL;
	size_t n = 0;

	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		char path[4096];
		struct dirent *de;
		DIR *dir;

		queue_path(states[s], "", path, sizeof(path));
		if ((dir = opendir(path)) == NULL)
			continue;
		while ((de = readdir(dir)) != NULL) {
			if (!queue_id_valid(de->d_name))
				continue;
			v = xrealloc(v, (n + 1) * sizeof(*v));
			str_copy(v[n].qid, de->d_name, sizeof(v[n].qid));
			v[n].state = states[s];
			n++;
		}
		closedir(dir);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), qentry_cmp);
	*v_r = v;
	return n;
}

/* The rows, from the files as they are now (a file gone meanwhile is left out). */
static void
fill(struct ui_list *l)
{
	struct qentry *v;
	size_t n = collect(&v);
	time_t now = time(NULL);
	struct tm today;

	localtime_r(&now, &today);
	ui_list_clear(l);
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;
		const char *error, *first = "";
		char path[4096], when[32], size[16], more[32] = "";
		size_t pending = 0;
		struct tm tm;
		long long bytes;
		int fd;

		queue_path(v[i].state, v[i].qid, path, sizeof(path));
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (queue_file_read(fd, &env, &error) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		for (size_t r = 0; r < env.nrcpts; r++) {
			if (env.rcpts[r].status != RCPT_PENDING)
				continue;
			if (pending++ == 0)
				first = env.rcpts[r].addr;
		}
		/* Today's by their time, older ones by their day: the addresses need the room. */
		localtime_r(&env.arrival, &tm);
		strftime(when, sizeof(when), tm.tm_yday == today.tm_yday && tm.tm_year == today.tm_year ?
		    "%H:%M" : "%m-%d", &tm);
		bytes = (long long)QUEUE_CONTENT_SIZE(&env);
		if (bytes < 100000)
			snprintf(size, sizeof(size), "%lld", bytes);
		else
			snprintf(size, sizeof(size), "%lldk", (bytes + 1023) / 1024);
		if (pending > 1)
			snprintf(more, sizeof(more), " (+%zu)", pending - 1);
		ui_list_add(l, v[i].qid, v[i].state == Q_HOLD ? UI_WARN : UI_NORMAL,
		    "%-17s %-8s %6s %s %s -> %s%s", v[i].qid, queue_state_name(v[i].state), size, when,
		    env.sender[0] != '\0' ? env.sender : "<>", first, more);
		queue_envelope_free(&env);
	}
	free(v);
	ui_list_select(l, NULL);
}

/* facteurctl queue VERB [QID]; what it said on the status line, or in a dialog if it failed. */
static void
queue_command(struct console *c, const char *verb, const char *qid)
{
	struct text out;
	char msg[512];
	int status;

	text_init(&out, 0);
	status = console_ctl(c, NULL, &out, "queue", verb, qid, (char *)NULL);
	if (status != 0) {
		console_result("Mail queue", status, &out);
	} else {
		console_text_join(&out, " ", msg, sizeof(msg));
		if (msg[0] != '\0')
			ui_status("%s", msg);
		else
			ui_status("%s: done", verb);
	}
	text_free(&out);
}

static void
show(struct console *c, const char *qid)
{
	struct text out;
	char title[64];
	int status;

	text_init(&out, 0);
	status = console_ctl(c, NULL, &out, "queue", "show", qid, (char *)NULL);
	snprintf(title, sizeof(title), "Message %s", qid);
	if (status != 0)
		console_result(title, status, &out);
	else
		ui_pager(title, &out, NULL, 0);
	text_free(&out);
}

void
screen_queue(struct console *c)
{
	struct ui_list list;
	struct timespec last = { 0, 0 };

	ui_list_init(&list);
	for (;;) {
		struct timespec now;
		const char *qid;
		char title[64];
		int key, h = ui_body_lines();
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (waited >= REFRESH_MS) {
			fill(&list);
			last = now;
			waited = 0;
		}
		snprintf(title, sizeof(title), "Mail queue (%zu message%s)", list.n, list.n == 1 ? "" : "s");
		ui_frame(title, "Enter/v: show  h: hold  r: release  d: delete  f: flush  ?: help  q: back");
		ui_list_draw(&list, ui_body_top(), h,
		    "Queue ID          State      Size Time  Sender -> Recipient");
		if (list.n == 0)
			ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_NORMAL, "The queue is empty.");
		ui_refresh();
		key = ui_getkey(REFRESH_MS - (int)waited, 0);
		if (ui_list_move(&list, key, h - 1))
			continue;
		qid = ui_list_key(&list);
		switch (key) {
		case UI_KEY_BACK:
			ui_list_free(&list);
			return;
		case UI_KEY_HELP:
			ui_help("Mail queue", help);
			continue;
		case 'f': case 'F':
			queue_command(c, "flush", NULL);
			break;
		case UI_KEY_ENTER: case 'v': case 'V':
			if (qid != NULL)
				show(c, qid);
			continue;
		case 'h': case 'H':
			if (qid != NULL)
				queue_command(c, "hold", qid);
			break;
		case 'r': case 'R':
			if (qid != NULL)
				queue_command(c, "release", qid);
			break;
		case 'd': case 'D':
			if (qid == NULL)
				break;
			if (ui_confirm("Delete message",
			    "Delete message %s from the queue?  It will not be delivered and its "
			    "sender will not be told.", qid))
				queue_command(c, "delete", qid);
			else
				ui_status("nothing deleted");
			break;
		default:
			continue;
		}
		/* After a change: read the queue again at once. */
		last.tv_sec = 0;
		last.tv_nsec = 0;
	}
}
