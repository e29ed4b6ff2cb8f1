/* SPDX-License-Identifier: MIT */
/*
 * run - child processes and their output.  See run.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/mem.h"
#include "run.h"

struct run {
	pid_t pid;
	int fd;		/* output; -1 once at its end */
};

struct run *
run_start(char *const argv[], const char *input, const char **error_r)
{
	static char error[256];
	int out[2], in[2] = { -1, -1 };
	struct run *r;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || (input != NULL && pipe2(in, O_CLOEXEC) < 0)) {
		snprintf(error, sizeof(error), "pipe: %s", strerror(errno));
		*error_r = error;
		return NULL;
	}
	if ((pid = fork()) < 0) {
		snprintf(error, sizeof(error), "fork: %s", strerror(errno));
		*error_r = error;
		close(out[0]);
		close(out[1]);
		if (in[0] >= 0) {
			close(in[0]);
			close(in[1]);
		}
		return NULL;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/*
		 * A session of its own: no controlling terminal, so nothing it
		 * runs can read the console's keys or stop on SIGTTIN.
		 */
		setsid();
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		signal(SIGWINCH, SIG_DFL);
		dup2(in[0] >= 0 ? in[0] : null, 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		/* Programs that look at the terminal must not think there is one. */
		unsetenv("COLUMNS");
		unsetenv("LINES");
		setenv("TERM", "dumb", 1);
		execvp(argv[0], argv);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	r = xcalloc(1, sizeof(*r));
	r->pid = pid;
	r->fd = out[0];
	fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
	if (in[0] >= 0) {
		size_t len = strlen(input), done = 0;
		close(in[0]);
		/* Small (a password, a few lines): fits the pipe.  SIGPIPE is ignored (ui_init). */
		while (done < len) {
			ssize_t n = write(in[1], input + done, len - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			done += (size_t)n;
		}
		close(in[1]);
	}
	return r;
}

int
run_fd(const struct run *r)
{
	return r->fd;
}

int
run_read(struct run *r, struct text *out)
{
	char buf[8192];
	int got = 0;

	while (r->fd >= 0) {
		ssize_t n = read(r->fd, buf, sizeof(buf));
		if (n > 0) {
			if (out != NULL)
				text_append(out, buf, (size_t)n);
			got = 1;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return got;
		close(r->fd);
		r->fd = -1;
		if (out != NULL)
			text_flush(out);
	}
	return got ? 1 : -1;
}

void
run_kill(struct run *r, int sig)
{
	kill(-r->pid, sig);
}

int
run_finish(struct run **rp, struct text *out)
{
	struct run *r = *rp;
	int status;

	while (r->fd >= 0) {
		struct pollfd p = { r->fd, POLLIN, 0 };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		run_read(r, out);
	}
	if (r->fd >= 0)
		close(r->fd);
	while (waitpid(r->pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	free(r);
	*rp = NULL;
	if (status == -1)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
run_capture(char *const argv[], const char *input, struct text *out)
{
	const char *error;
	struct run *r = run_start(argv, input, &error);

	if (r == NULL) {
		text_addf(out, "%s: %s", argv[0], error);
		return -1;
	}
	return run_finish(&r, out);
}
