/* SPDX-License-Identifier: MIT */
/*
 * screen_services - start, stop, restart and reload facteur.
 *
 * Three ways, the first that applies: a command given to the console
 * (-S, FACTEUR_CONSOLE_SERVICE: a shell command, the verb in "$1"), then
 * systemctl when systemd runs the system (the facteur unit), else the
 * master itself: started detached as "facteur -c facteur.conf" after
 * "facteur -n" checked the configuration, signalled through the pid in
 * its pid file (TERM stops, HUP reloads).  Either way the screen then
 * waits for the master's pid file lock to appear or go, so what it says
 * is what happened.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "lib/mem.h"
#include "run.h"
#include "status.h"
#include "ui.h"

#define WAIT_SECONDS 30
#define REFRESH_MS 2000

static const char help[] =
    "The facteur master and the daemons it runs.\n"
    "\n"
    "s: start facteur\n"
    "t: stop it (asks first: mail is refused while it is stopped)\n"
    "r: restart it (asks first)\n"
    "l: reload the configuration (SIGHUP: listen addresses change at the next start)\n"
    "q: back\n"
    "\n"
    "The method used is shown at the top: systemctl when systemd runs the system, "
    "else the master program itself, or the command given with -S.";

/*
 * Wait until the master runs (want 1) or not (0), up to WAIT_SECONDS; 1 if
 * it did, the running master's pid in *pid_r (may be NULL).
 */
static int
wait_master(int want, pid_t *pid_r)
{
	for (int i = 0; i < WAIT_SECONDS * 10; i++) {
		pid_t pid = status_master_pid();

		if ((pid != 0) == want) {
			if (pid_r != NULL)
				*pid_r = pid;
			return 1;
		}
		usleep(100000);
	}
	return 0;
}

/* Start the master detached from us: its own session, no terminal, not our child. */
static int
direct_start(const struct console *c, struct text *out)
{
	char *check[] = { (char *)c->master, "-n", "-c", (char *)c->conf, NULL };
	pid_t pid;
	int status;

	if (status_master_pid() != 0) {
		text_add(out, "facteur is already running");
		return 0;
	}
	if ((status = run_capture(check, NULL, out)) != 0)
		return status;
	text_clear(out);
	if ((pid = fork()) < 0) {
		text_addf(out, "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		setsid();
		if (fork() != 0)
			_exit(0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execl(c->master, c->master, "-c", c->conf, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!wait_master(1, &pid)) {
		text_addf(out, "%s did not start within %d seconds: see the log", c->master, WAIT_SECONDS);
		return 1;
	}
	text_addf(out, "facteur started (pid %ld)", (long)pid);
	return 0;
}

static int
direct_signal(struct text *out, int sig, const char *what)
{
	pid_t pid = status_master_pid();

	if (pid == 0) {
		text_add(out, "facteur is not running");
		return sig == SIGTERM ? 0 : 1;
	}
	if (kill(pid, sig) < 0) {
		text_addf(out, "kill %ld: %s", (long)pid, strerror(errno));
		return 1;
	}
	if (sig == SIGTERM && !wait_master(0, NULL)) {
		text_addf(out, "facteur (pid %ld) did not stop within %d seconds", (long)pid, WAIT_SECONDS);
		return 1;
	}
	text_addf(out, "facteur %s (pid %ld)", what, (long)pid);
	return 0;
}

/* The method, in words. */
static void
method_text(const struct console *c, char *buf, size_t size)
{
	if (c->service != NULL)
		snprintf(buf, size, "command: %s", c->service);
	else if (c->systemd)
		snprintf(buf, size, "systemctl (systemd unit facteur.service)");
	else
		snprintf(buf, size, "direct: %s -c %s", c->master, c->conf);
}

int
console_service(const struct console *c, const char *verb, struct text *out)
{
	int status;

	if (c->service != NULL) {
		/* The verb is $1; appended when the command does not use it. */
		char *cmd = strstr(c->service, "$1") != NULL ? xstrdup(c->service) :
		    xasprintf("%s \"$1\"", c->service);
		char *argv[] = { "/bin/sh", "-c", cmd, "facteur-service", (char *)verb, NULL };
		status = run_capture(argv, NULL, out);
		free(cmd);
	} else if (c->systemd) {
		char *argv[] = { "systemctl", "--no-ask-password", (char *)verb, "facteur.service", NULL };
		status = run_capture(argv, NULL, out);
	} else if (strcmp(verb, "start") == 0) {
		return direct_start(c, out);
	} else if (strcmp(verb, "stop") == 0) {
		return direct_signal(out, SIGTERM, "stopped");
	} else if (strcmp(verb, "reload") == 0) {
		return direct_signal(out, SIGHUP, "reloading");
	} else {
		if ((status = direct_signal(out, SIGTERM, "stopped")) != 0)
			return status;
		return direct_start(c, out);
	}
	/* A command or systemctl: say what the master did. */
	if (status == 0 && strcmp(verb, "reload") != 0) {
		int want = strcmp(verb, "stop") != 0;
		if (!wait_master(want, NULL)) {
			text_addf(out, "facteur is still %s", want ? "stopped" : "running");
			return 1;
		}
		text_addf(out, "facteur %s", want ? "is running" : "stopped");
	}
	return status;
}

static void
act(struct console *c, const char *verb, const char *doing)
{
	struct text out;
	char msg[512];
	int status;

	ui_busy("%s facteur...", doing);
	text_init(&out, 0);
	status = console_service(c, verb, &out);
	if (status != 0) {
		console_result("Services", status, &out);
	} else {
		console_text_join(&out, " ", msg, sizeof(msg));
		ui_status("%s", msg[0] != '\0' ? msg : "done");
	}
	text_free(&out);
}

void
screen_services(struct console *c)
{
	struct timespec last = { 0, 0 };
	struct status st;

	for (;;) {
		struct timespec now;
		char method[512];
		int y = ui_body_top(), key;
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (waited >= REFRESH_MS) {
			status_read(&st);
			last = now;
			waited = 0;
		}
		ui_frame("Services", "s: start  t: stop  r: restart  l: reload  F1/?: help  q/Esc: back");
		method_text(c, method, sizeof(method));
		ui_putf(y++, 1, ui_cols() - 2, UI_NORMAL, "Control: %s", method);
		y++;
		ui_put(y, 1, 18, UI_HEADING, "facteur master");
		if (st.master_pid != 0)
			ui_putf(y++, 20, ui_cols() - 21, UI_GOOD, "running  pid %ld", (long)st.master_pid);
		else
			ui_put(y++, 20, ui_cols() - 21, UI_BAD, "STOPPED");
		for (int i = 0; i < st.ndaemons; i++, y++) {
			const struct status_daemon *d = &st.daemons[i];
			ui_put(y, 3, 16, UI_NORMAL, d->name);
			if (d->pid != 0)
				ui_putf(y, 20, ui_cols() - 21, d->restarts > 0 ? UI_WARN : UI_GOOD,
				    "running  pid %ld  %llu restart%s", (long)d->pid, d->restarts,
				    d->restarts == 1 ? "" : "s");
			else if (!d->wanted)
				ui_put(y, 20, ui_cols() - 21, UI_NORMAL, "not configured");
			else
				ui_put(y, 20, ui_cols() - 21, UI_BAD, st.master_pid != 0 ? "NOT RUNNING" : "stopped");
		}
		ui_refresh();
		key = ui_getkey(REFRESH_MS - (int)waited, 0);
		switch (key) {
		case UI_KEY_BACK:
			return;
		case UI_KEY_HELP:
			ui_help("Services", help);
			continue;
		case 's': case 'S':
			act(c, "start", "Starting");
			break;
		case 't': case 'T':
			if (ui_confirm("Stop facteur", "Stop facteur?  Mail is refused until it is started again."))
				act(c, "stop", "Stopping");
			else
				ui_status("nothing stopped");
			break;
		case 'r': case 'R':
			if (ui_confirm("Restart facteur", "Restart facteur?  Connections in progress are cut."))
				act(c, "restart", "Restarting");
			else
				ui_status("nothing restarted");
			break;
		case 'l': case 'L':
			act(c, "reload", "Reloading");
			break;
		default:
			continue;
		}
		last.tv_sec = 0;
		last.tv_nsec = 0;
	}
}
