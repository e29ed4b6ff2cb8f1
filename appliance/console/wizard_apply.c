/* SPDX-License-Identifier: MIT */
/*
 * wizard_apply - the first-boot setup applied: a list of jobs made from
 * the values, run one after the other while a pager shows their output
 * as it comes.  See wizard.h.
 *
 * A job is a command (an action script, facteurctl) run in the
 * background and read between keys, or a change made here (facteur.conf,
 * the certificate, the service, the marker).  Each job's header names
 * what it does and the command, secrets apart: those go on standard
 * input, one per line.  The first failure ends the run; the pager then
 * says so and the administrator is sent back to the step to fix.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "conf_edit.h"
#include "console.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "run.h"
#include "store/directory.h"
#include "ui.h"
#include "wizard.h"

#define JOBS_MAX 64
#define JOB_ARGS_MAX 24
#define CERT_DAYS 825

struct apply;

struct job {
	const char *what;
	enum wizard_step step;		/* where to fix it */
	char *argv[JOB_ARGS_MAX + 1];	/* a command, or argv[0] NULL: fn */
	char *input;			/* the command's standard input (secrets), or NULL */
	int (*fn)(struct apply *a, struct job *j, struct text *t);
	char *arg;			/* fn's argument */
};

struct apply {
	struct console *c;
	struct wizard *w;
	const char *marker;
	struct job jobs[JOBS_MAX];
	size_t n, cur;
	struct run *run;
	int header;		/* the current job's header is shown */
	int finished;
	int failed;		/* the run ended at jobs[cur] */
	char status[128];
};

/* ---- making the jobs ---- */

static struct job *
job_new(struct apply *a, const char *what, enum wizard_step step)
{
	struct job *j;

	if (a->n == JOBS_MAX)
		panic("console: more than %d setup jobs", JOBS_MAX);
	j = &a->jobs[a->n++];
	memset(j, 0, sizeof(*j));
	j->what = what;
	j->step = step;
	return j;
}

/* A command: argv[0] then the arguments up to NULL. */
static struct job *
job_cmd(struct apply *a, const char *what, enum wizard_step step, const char *argv0, ...)
    __attribute__((sentinel));

static struct job *
job_cmd(struct apply *a, const char *what, enum wizard_step step, const char *argv0, ...)
{
	struct job *j = job_new(a, what, step);
	const char *arg;
	va_list ap;
	int n = 0;

	j->argv[n++] = xstrdup(argv0);
	va_start(ap, argv0);
	while ((arg = va_arg(ap, const char *)) != NULL && n < JOB_ARGS_MAX)
		j->argv[n++] = xstrdup(arg);
	va_end(ap);
	return j;
}

/* More arguments: the words of list (blanks or commas between). */
static void
job_words(struct job *j, const char *list)
{
	char *copy = xstrdup(list), *save = NULL, *w;
	int n = 0;

	while (j->argv[n] != NULL)
		n++;
	for (w = strtok_r(copy, " \t,", &save); w != NULL && n < JOB_ARGS_MAX; w = strtok_r(NULL, " \t,", &save))
		j->argv[n++] = xstrdup(w);
	free(copy);
}

static char *
script(struct apply *a, const char *name)
{
	return xasprintf("%s/%s", a->c->actions, name);
}

/* ---- the jobs made here ---- */

/* The directory, read-only; NULL when there is none yet (or it cannot be read). */
static struct directory *
directory_if_any(void)
{
	const char *why;

	if (access(directory_default_path(), F_OK) < 0)
		return NULL;
	return directory_open(directory_default_path(), DIRECTORY_READONLY, &why);
}

/* Is domain in the directory?  No directory yet: no. */
static int
domain_present(const char *domain)
{
	struct directory *dir = directory_if_any();
	struct dir_domain d;
	int r;

	if (dir == NULL)
		return 0;
	r = directory_domain_get(dir, domain, &d) == 1;
	directory_close(&dir);
	return r;
}

static int
admin_present(const char *name)
{
	struct directory *dir = directory_if_any();
	struct dir_admin ad;
	int r;

	if (dir == NULL)
		return 0;
	r = directory_admin_get(dir, name, &ad) == 1;
	directory_close(&dir);
	return r;
}

static int
fn_domain(struct apply *a, struct job *j, struct text *t)
{
	const char *args[] = { "domain", "add", j->arg, "--kind", "local", NULL };

	if (domain_present(j->arg)) {
		text_addf(t, "%s is in the directory already", j->arg);
		return 0;
	}
	text_addf(t, "facteurctl domain add %s --kind local", j->arg);
	return console_ctlv(a->c, NULL, t, args);
}

static int
fn_admin(struct apply *a, struct job *j, struct text *t)
{
	const char *add[] = { "admin", "add", WIZARD_ADMIN, "--global", NULL };
	const char *set[] = { "admin", "set", WIZARD_ADMIN, "--global", NULL };
	const char *passwd[] = { "admin", "passwd", WIZARD_ADMIN, NULL };
	char *input;
	int status;

	if (admin_present(WIZARD_ADMIN)) {
		text_add(t, "facteurctl admin set " WIZARD_ADMIN " --global");
		status = console_ctlv(a->c, NULL, t, set);
	} else {
		text_add(t, "facteurctl admin add " WIZARD_ADMIN " --global");
		status = console_ctlv(a->c, NULL, t, add);
	}
	if (status != 0)
		return status;
	text_add(t, "facteurctl admin passwd " WIZARD_ADMIN " (the password on its standard input)");
	input = xasprintf("%s\n", a->w->password);
	status = console_ctlv(a->c, input, t, passwd);
	explicit_bzero(input, strlen(input));
	free(input);
	return status;
}

static int
fn_myhostname(struct apply *a, struct job *j, struct text *t)
{
	const char *error;

	if (conf_edit_set(a->c->conf, "myhostname", a->w->hostname, &error) < 0 ||
	    config_load(a->c->conf, &error) < 0) {
		text_add(t, error);
		return 1;
	}
	text_addf(t, "%s: myhostname = %s", a->c->conf, a->w->hostname);
	return 0;
}

static int
fn_tls(struct apply *a, struct job *j, struct text *t)
{
	if (strcmp(a->w->tls_mode, "import") == 0)
		return cert_import(a->c, a->w->tls_cert, a->w->tls_key, t) < 0 ? 1 : 0;
	text_addf(t, "openssl: a new RSA 2048 key and a certificate for %s, valid %d days",
	    a->w->hostname, CERT_DAYS);
	return cert_self_signed(a->c, a->w->hostname, CERT_DAYS, t) < 0 ? 1 : 0;
}

static int
fn_restart(struct apply *a, struct job *j, struct text *t)
{
	return console_service(a->c, "restart", t);
}

static int
fn_mark(struct apply *a, struct job *j, struct text *t)
{
	return wizard_mark(a->marker, a->w->hostname, t) < 0 ? 1 : 0;
}

static struct job *
job_fn(struct apply *a, const char *what, enum wizard_step step,
    int (*fn)(struct apply *, struct job *, struct text *), const char *arg)
{
	struct job *j = job_new(a, what, step);

	j->fn = fn;
	j->arg = arg != NULL ? xstrdup(arg) : NULL;
	return j;
}

static void
jobs_make(struct apply *a)
{
	struct wizard *w = a->w;
	char *sys = script(a, "system.sh"), *net = script(a, "network.sh"), *snmp = script(a, "snmp.sh");
	char *copy, *save = NULL, *d;
	struct job *j;

	job_cmd(a, "keyboard layout", WS_KEYBOARD, sys, "keyboard", w->layout, (char *)NULL);
	job_cmd(a, "host name", WS_HOSTNAME, net, "hostname", w->hostname, (char *)NULL);
	if (strcmp(w->net_mode, "dhcp") == 0) {
		job_cmd(a, "network", WS_NETWORK, net, "dhcp", w->iface, (char *)NULL);
	} else {
		j = job_cmd(a, "network", WS_NETWORK, net, "static", w->iface, w->address,
		    w->gateway[0] != '\0' || w->dns[0] != '\0' ? w->gateway : NULL, (char *)NULL);
		job_words(j, w->dns);
	}
	if (strcmp(w->snmp_mode, "v2c") == 0) {
		/* The community is a secret of sorts: snmp.sh community takes it as an argument. */
		job_cmd(a, "SNMP", WS_SNMP, snmp, "community", w->community, w->snmp_net, (char *)NULL);
	} else if (strcmp(w->snmp_mode, "v3") == 0) {
		j = job_cmd(a, "SNMP", WS_SNMP, snmp, "v3user", w->v3user, (char *)NULL);
		j->input = xasprintf("%s\n%s\n", w->v3auth, w->v3priv);
	} else {
		job_cmd(a, "SNMP", WS_SNMP, snmp, "off", (char *)NULL);
	}
	job_cmd(a, "time zone", WS_TIME, sys, "timezone", w->zone, (char *)NULL);
	j = job_cmd(a, "NTP servers", WS_TIME, sys, "ntp", (char *)NULL);
	job_words(j, w->ntp);
	j = job_cmd(a, "root's password", WS_PASSWORD, sys, "admin-password", (char *)NULL);
	j->input = xasprintf("%s\n", w->password);
	copy = xstrdup(w->domains);
	for (d = strtok_r(copy, " \t,", &save); d != NULL; d = strtok_r(NULL, " \t,", &save))
		job_fn(a, "mail domain", WS_DOMAINS, fn_domain, str_lower(d));
	free(copy);
	job_fn(a, "admin " WIZARD_ADMIN, WS_PASSWORD, fn_admin, NULL);
	job_fn(a, "facteur.conf", WS_HOSTNAME, fn_myhostname, NULL);
	job_fn(a, "TLS certificate", WS_TLS, fn_tls, NULL);
	job_fn(a, "restart facteur", WS_SUMMARY, fn_restart, NULL);
	job_fn(a, "setup done", WS_SUMMARY, fn_mark, NULL);
	free(sys);
	free(net);
	free(snmp);
}

static void
jobs_free(struct apply *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct job *j = &a->jobs[i];
		for (int k = 0; j->argv[k] != NULL; k++)
			free(j->argv[k]);
		if (j->input != NULL) {
			explicit_bzero(j->input, strlen(j->input));
			free(j->input);
		}
		free(j->arg);
	}
	a->n = 0;
}

/* ---- running them ---- */

/* The job's command line as shown: the script's name, the arguments (secrets are on stdin). */
static void
job_header(struct apply *a, struct job *j, struct text *t)
{
	char line[1024];
	size_t len;

	len = (size_t)snprintf(line, sizeof(line), "== %zu/%zu %s", a->cur + 1, a->n, j->what);
	if (j->argv[0] != NULL) {
		const char *base = strrchr(j->argv[0], '/');
		len += (size_t)snprintf(line + len, len < sizeof(line) ? sizeof(line) - len : 0, ": %s",
		    base != NULL ? base + 1 : j->argv[0]);
		for (int k = 1; j->argv[k] != NULL && len < sizeof(line); k++)
			len += (size_t)snprintf(line + len, sizeof(line) - len, j->argv[k][0] != '\0' ?
			    " %s" : " \"%s\"", j->argv[k]);
		if (j->input != NULL && len < sizeof(line))
			snprintf(line + len, sizeof(line) - len, " (secrets on its standard input)");
	}
	text_add(t, line);
	snprintf(a->status, sizeof(a->status), "running %zu/%zu: %s", a->cur + 1, a->n, j->what);
}

static void
job_end(struct apply *a, struct text *t, int status)
{
	struct job *j = &a->jobs[a->cur];

	if (status != 0) {
		text_addf(t, "-- FAILED (exit status %d): %s --", status, j->what);
		text_add(t, "The setup stopped here; q to go back and fix it.");
		snprintf(a->status, sizeof(a->status), "FAILED: %s  (q: back)", j->what);
		a->failed = 1;
		a->finished = 1;
		return;
	}
	a->cur++;
	a->header = 0;
	if (a->cur == a->n) {
		text_add(t, "-- setup done --");
		text_add(t, "q to go on to the console.");
		snprintf(a->status, sizeof(a->status), "done  (q: go on)");
		a->finished = 1;
	}
}

static int
apply_poll(void *ctx, struct text *t)
{
	struct apply *a = ctx;
	struct job *j;
	const char *error;
	int r;

	if (a->finished)
		return -1;
	if (a->run != NULL) {
		if ((r = run_read(a->run, t)) >= 0)
			return r;
		job_end(a, t, run_finish(&a->run, t));
		return 1;
	}
	j = &a->jobs[a->cur];
	if (!a->header) {
		/* Shown before the job runs: a job made here blocks until it is done. */
		job_header(a, j, t);
		a->header = 1;
		return 1;
	}
	if (j->fn != NULL) {
		job_end(a, t, j->fn(a, j, t));
		return 1;
	}
	if ((a->run = run_start(j->argv, j->input, &error)) == NULL) {
		text_addf(t, "%s: %s", j->argv[0], error);
		job_end(a, t, -1);
	}
	return 1;
}

int
wizard_apply(struct console *c, struct wizard *w, const char *marker, enum wizard_step *fix_r)
{
	static const char *const scripts[] = { "system.sh", "network.sh", "snmp.sh" };
	struct ui_pager_source src;
	struct apply a;
	struct text t;
	int rc;

	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char *path = console_action_path(c, "First-boot setup", scripts[i]);
		if (path == NULL) {
			*fix_r = WS_SUMMARY;
			return -1;
		}
		free(path);
	}
	memset(&a, 0, sizeof(a));
	a.c = c;
	a.w = w;
	a.marker = marker;
	jobs_make(&a);
	str_copy(a.status, "starting", sizeof(a.status));
	text_init(&t, 100000);
	src.poll = apply_poll;
	src.ctx = &a;
	src.status = a.status;
	/* Left while a job runs: back at once, nothing is cut half-way. */
	while (!a.finished) {
		ui_pager("First-boot setup: applying", &t, &src, 1);
		if (!a.finished)
			ui_status("the setup is running: it cannot be left before its end");
	}
	rc = a.failed ? -1 : 0;
	if (a.failed) {
		*fix_r = a.jobs[a.cur].step;
		log_warnx("console: first-boot setup failed at %s", a.jobs[a.cur].what);
		ui_message("First-boot setup", "The step \"%s\" failed: its output is above it in the "
		    "log of the run.  The steps before it are applied; nothing after it was done, and "
		    "the setup is not marked done.  Fix the value and apply again: every step is done "
		    "again.", a.jobs[a.cur].what);
	} else {
		log_info("console: first-boot setup done host=%s", w->hostname);
	}
	jobs_free(&a);
	text_free(&t);
	return rc;
}

/* ---- the marker ---- */

int
wizard_mark(const char *marker, const char *hostname, struct text *out)
{
	char *tmp = xasprintf("%s.tmp", marker), *dir = xstrdup(marker), *slash, stamp[64];
	time_t now = time(NULL);
	struct tm tm;
	FILE *fp;
	int fd, ok;

	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	else
		str_copy(dir, slash == dir ? "/" : ".", strlen(dir) + 1);
	if (proc_mkdir(dir, 0755, (uid_t)-1, (gid_t)-1) < 0) {
		text_addf(out, "mkdir %s: %s", dir, strerror(errno));
		goto fail;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		text_addf(out, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	fprintf(fp, "# facteur-console: the first-boot setup is done; remove this file to run it "
	    "again at the next boot\nconfigured=%s\nhostname=%s\n", stamp, hostname);
	ok = fflush(fp) == 0 && fsync(fd) == 0;
	ok = fclose(fp) == 0 && ok;
	if (!ok || rename(tmp, marker) < 0) {
		text_addf(out, "%s: %s", ok ? marker : tmp, strerror(errno));
		unlink(tmp);
		goto fail;
	}
	/* The rename itself on disk: a power cut now leaves the setup done. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	text_addf(out, "%s written", marker);
	free(tmp);
	free(dir);
	return 0;
fail:
	free(tmp);
	free(dir);
	return -1;
}
