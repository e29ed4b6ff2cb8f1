/* SPDX-License-Identifier: MIT */
/*
 * console - what the screens share: running facteurctl and other
 * commands, showing what they said.  See console.h.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "run.h"
#include "ui.h"

#define CTL_ARGS_MAX 16

int
console_ctlv(const struct console *c, const char *input, struct text *out, const char *const *args)
{
	char *argv[CTL_ARGS_MAX + 4];
	int argc = 0;

	argv[argc++] = (char *)c->facteurctl;
	argv[argc++] = "-c";
	argv[argc++] = (char *)c->conf;
	for (; *args != NULL && argc < CTL_ARGS_MAX + 3; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return run_capture(argv, input, out);
}

int
console_ctl(const struct console *c, const char *input, struct text *out, ...)
{
	const char *args[CTL_ARGS_MAX + 1];
	va_list ap;
	int n = 0;

	va_start(ap, out);
	while (n < CTL_ARGS_MAX && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	return console_ctlv(c, input, out, args);
}

void
console_text_join(const struct text *t, const char *sep, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < t->n && len + 1 < size; i++) {
		if (t->lines[i][0] == '\0')
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len > 0 ? sep : "", t->lines[i]);
		if (len >= size)
			len = size - 1;
	}
}

void
console_result(const char *title, int status, const struct text *out)
{
	char buf[2048];

	if (out->n > 12) {
		ui_pager(title, (struct text *)out, NULL, 0);
		return;
	}
	console_text_join(out, "\n", buf, sizeof(buf));
	if (status == 0)
		ui_message(title, "%s", buf[0] != '\0' ? buf : "Done.");
	else
		ui_message(title, "Failed (exit status %d):\n%s", status, buf[0] != '\0' ? buf :
		    "(no message)");
}

/* ---- a command's output in a pager ---- */

struct pager_run {
	struct run *run;
	char status[64];
	int exit_status;
};

static int
pager_run_poll(void *ctx, struct text *t)
{
	struct pager_run *pr = ctx;
	int r = run_read(pr->run, t);

	if (r >= 0)
		return r;
	pr->exit_status = run_finish(&pr->run, t);
	if (pr->exit_status == 0)
		snprintf(pr->status, sizeof(pr->status), "done");
	else
		snprintf(pr->status, sizeof(pr->status), "FAILED (exit %d)", pr->exit_status);
	text_addf(t, "-- %s --", pr->status);
	return -1;
}

int
console_run_pager(const char *title, char *const argv[], const char *input)
{
	struct pager_run pr;
	struct ui_pager_source src;
	struct text t;
	const char *error;

	memset(&pr, 0, sizeof(pr));
	text_init(&t, 100000);
	if ((pr.run = run_start(argv, input, &error)) == NULL) {
		ui_message(title, "%s: %s", argv[0], error);
		text_free(&t);
		return -1;
	}
	str_copy(pr.status, "running", sizeof(pr.status));
	src.poll = pager_run_poll;
	src.ctx = &pr;
	src.status = pr.status;
	ui_pager(title, &t, &src, 1);
	if (pr.run != NULL) {
		/* Left while it runs: an update or a network change is not cut half-way. */
		ui_busy("%s is still running: waiting for it to end.", argv[0]);
		pr.exit_status = run_finish(&pr.run, NULL);
		ui_message(title, "%s ended: %s (exit status %d).", argv[0],
		    pr.exit_status == 0 ? "done" : "FAILED", pr.exit_status);
	}
	text_free(&t);
	return pr.exit_status;
}

int
console_reload_config(const struct console *c)
{
	const char *error;

	if (config_load(c->conf, &error) < 0) {
		ui_message("Configuration", "%s", error);
		return -1;
	}
	return 0;
}

char *
console_action_path(const struct console *c, const char *title, const char *script)
{
	char *path = xasprintf("%s/%s", c->actions, script);

	if (access(path, X_OK) == 0)
		return path;
	ui_message(title, "The action script %s is missing or not executable.  The appliance "
	    "image provides it; -a or FACTEUR_CONSOLE_ACTIONS names another directory.", path);
	free(path);
	return NULL;
}
