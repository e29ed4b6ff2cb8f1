/* SPDX-License-Identifier: MIT */
/*
 * screen_log - the log viewer: the end of the facteur log file (its last
 * LOG_TAIL_MAX bytes), followed as it grows, across a rotation (a new
 * file under the same name, or the file truncated: read from its start).
 * Scrolling, search and follow are the pager's.  When the default file
 * is not there and systemd's journal is, the mail facility's lines come
 * from journalctl instead (its last 5000, then as they come).
 */
#include "facteur-config.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "lib/mem.h"
#include "run.h"
#include "ui.h"

#define LOG_TAIL_MAX (16 * 1024 * 1024)
#define LOG_LINES_MAX 200000

struct log_follow {
	const char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	off_t offset;
	char status[64];
};

/* Read from the current offset to the end: 1 if something was read. */
static int
read_more(struct log_follow *lf, struct text *t)
{
	char buf[65536];
	int got = 0;
	ssize_t n;

	while ((n = pread(lf->fd, buf, sizeof(buf), lf->offset)) > 0) {
		text_append(t, buf, (size_t)n);
		lf->offset += n;
		got = 1;
	}
	return got;
}

static int
log_open(struct log_follow *lf, int tail, const char **error_r)
{
	static char error[512];
	struct stat st;
	int fd = open(lf->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		int saved = errno;
		snprintf(error, sizeof(error), "%s: %s", lf->path, strerror(saved));
		*error_r = error;
		if (fd >= 0)
			close(fd);
		errno = saved;	/* the caller tells a missing file from others */
		return -1;
	}
	lf->fd = fd;
	lf->dev = st.st_dev;
	lf->ino = st.st_ino;
	lf->offset = 0;
	if (tail && st.st_size > LOG_TAIL_MAX) {
		/* Start at the first whole line of the tail. */
		char c;
		lf->offset = st.st_size - LOG_TAIL_MAX;
		while (pread(fd, &c, 1, lf->offset) == 1) {
			lf->offset++;
			if (c == '\n')
				break;
		}
	}
	return 0;
}

static int
log_poll(void *ctx, struct text *t)
{
	struct log_follow *lf = ctx;
	struct stat now, open_st;
	const char *error;

	if (read_more(lf, t))
		return 1;
	if (stat(lf->path, &now) < 0)
		return 0;	/* rotated away, the new one not there yet */
	if (fstat(lf->fd, &open_st) == 0 && (now.st_dev != lf->dev || now.st_ino != lf->ino ||
	    now.st_size < lf->offset)) {
		/* A new file, or this one truncated: from its start. */
		text_flush(t);
		close(lf->fd);
		if (log_open(lf, 0, &error) < 0) {
			text_addf(t, "-- %s --", error);
			lf->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			return 1;
		}
		text_addf(t, "-- %s: new file --", lf->path);
		read_more(lf, t);
		return 1;
	}
	return 0;
}

static int
journal_poll(void *ctx, struct text *t)
{
	return run_read(ctx, t);
}

/* The mail facility from the journal, followed; 0, or -1 if journalctl could not start. */
static int
journal(void)
{
	char *argv[] = { "journalctl", "--quiet", "--no-pager", "--output=short-iso", "--lines=5000",
		"--follow", "SYSLOG_FACILITY=2", NULL };
	struct ui_pager_source src;
	const char *error;
	struct text t;
	struct run *r;

	if ((r = run_start(argv, NULL, &error)) == NULL)
		return -1;
	text_init(&t, LOG_LINES_MAX);
	src.poll = journal_poll;
	src.ctx = r;
	src.status = NULL;
	ui_pager("Log: the journal's mail facility", &t, &src, 1);
	run_kill(r, SIGTERM);
	run_finish(&r, NULL);
	text_free(&t);
	return 0;
}

void
screen_log(struct console *c)
{
	struct log_follow lf;
	struct ui_pager_source src;
	struct text t;
	const char *error;
	char title[300];

	memset(&lf, 0, sizeof(lf));
	lf.path = c->log_file;
	if (log_open(&lf, 1, &error) < 0) {
		if (errno == ENOENT && c->log_default && c->systemd && journal() == 0)
			return;
		ui_message("Log viewer", "%s\n\nThe log file is given with -l or FACTEUR_CONSOLE_LOG.",
		    error);
		return;
	}
	text_init(&t, LOG_LINES_MAX);
	read_more(&lf, &t);
	src.poll = log_poll;
	src.ctx = &lf;
	src.status = NULL;
	snprintf(title, sizeof(title), "Log %s", lf.path);
	ui_pager(title, &t, &src, 1);
	close(lf.fd);
	text_free(&t);
}
