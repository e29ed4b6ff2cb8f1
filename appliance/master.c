/* SPDX-License-Identifier: MIT */
/*
 * master - daemon supervision.  See master.h.
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

#include "lib/config.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "master.h"

#define MAX_LISTENERS 32
#define BACKOFF_MAX 60

struct listener {
	int fd;
	const char *mode;
};

struct daemon {
	const char *name;
	/* NULL: always runs; else whether the configuration asks for it. */
	int (*wanted)(void);
	pid_t pid;
	time_t started;
	int backoff;
	struct event *restart;
	int replace;		/* stopped by a reload to start anew at once */
	struct stats_daemon *row;	/* its row in the stats segment, once started */
};

static struct listener listeners[MAX_LISTENERS];
static int nlisteners;

static int
policyd_wanted(void)
{
	return var_policy_listen[0] != '\0';
}

static int
lmtpd_wanted(void)
{
	return var_lmtp_listen[0] != '\0';
}

static int
managesieved_wanted(void)
{
	return var_managesieve_listen[0] != '\0';
}

/* The SNMP subagent and the Prometheus endpoint: only when asked for. */
static int
agentx_wanted(void)
{
	return var_snmp_agentx_socket[0] != '\0';
}

static int
metrics_wanted(void)
{
	return var_metrics_listen[0] != '\0';
}

/* The daemon of a listener's mode: imapd IMAP's, facteur-apid the admin API's, smtpd the rest. */
static const char *
listener_daemon(const char *mode)
{
	if (strcmp(mode, "adminapi") == 0)
		return "facteur-apid";
	return strncmp(mode, "imap", 4) == 0 ? "imapd" : "smtpd";
}

/* imapd runs when imap_listen or imaps_listen gave it sockets at start-up. */
static int
imapd_wanted(void)
{
	for (int i = 0; i < nlisteners; i++)
		if (strcmp(listener_daemon(listeners[i].mode), "imapd") == 0)
			return 1;
	return 0;
}

/* facteur-apid, the admin API, when admin_api_listen gave it sockets at start-up. */
static int
apid_wanted(void)
{
	for (int i = 0; i < nlisteners; i++)
		if (strcmp(listeners[i].mode, "adminapi") == 0)
			return 1;
	return 0;
}

static struct daemon daemons[] = {
	{ "qmgr", NULL, 0, 0, 0, NULL, 0, NULL },
	{ "smtpd", NULL, 0, 0, 0, NULL, 0, NULL },
	{ "policyd", policyd_wanted, 0, 0, 0, NULL, 0, NULL },
	{ "lmtpd", lmtpd_wanted, 0, 0, 0, NULL, 0, NULL },
	{ "managesieved", managesieved_wanted, 0, 0, 0, NULL, 0, NULL },
	{ "imapd", imapd_wanted, 0, 0, 0, NULL, 0, NULL },
	{ "facteur-agentx", agentx_wanted, 0, 0, 0, NULL, 0, NULL },
	{ "facteur-metrics", metrics_wanted, 0, 0, 0, NULL, 0, NULL },
	{ "facteur-apid", apid_wanted, 0, 0, 0, NULL, 0, NULL },
};
#define NDAEMONS (int)(sizeof(daemons) / sizeof(daemons[0]))

/*
 * policyd, lmtpd, managesieved and facteur-metrics bind their sockets
 * themselves (policy_listen, lmtp_listen, managesieve_listen,
 * metrics_listen: none is a privileged port), facteur-agentx connects to
 * snmp_agentx_socket: the address each was started with, to notice a
 * change.
 */
static char served_listen[NDAEMONS][1024];

/* The parameter naming the socket d binds itself, or NULL. */
static const char *
own_listen(const struct daemon *d)
{
	if (strcmp(d->name, "policyd") == 0)
		return var_policy_listen;
	if (strcmp(d->name, "lmtpd") == 0)
		return var_lmtp_listen;
	if (strcmp(d->name, "managesieved") == 0)
		return var_managesieve_listen;
	if (strcmp(d->name, "facteur-agentx") == 0)
		return var_snmp_agentx_socket;
	if (strcmp(d->name, "facteur-metrics") == 0)
		return var_metrics_listen;
	return NULL;
}

/* The name of that parameter, for the log. */
static const char *
own_listen_name(const struct daemon *d)
{
	if (strcmp(d->name, "lmtpd") == 0)
		return "lmtp_listen";
	if (strcmp(d->name, "managesieved") == 0)
		return "managesieve_listen";
	if (strcmp(d->name, "facteur-agentx") == 0)
		return "snmp_agentx_socket";
	if (strcmp(d->name, "facteur-metrics") == 0)
		return "metrics_listen";
	return "policy_listen";
}

static struct event_base *master_base;
static const char *master_conf;
static int master_foreground;
static int stopping;
/* Daemons watch the read end: EOF when the master dies (even by kill -9). */
static int alive_pipe[2] = { -1, -1 };

static int
bind_item(const char *item, void *arg)
{
	const char *error;
	int fd;

	if (nlisteners >= MAX_LISTENERS)
		fatalx("too many listening addresses (at most %d)", MAX_LISTENERS);
	fd = net_listen(item, &error);
	if (fd < 0)
		fatalx("%s", error);
	listeners[nlisteners].fd = fd;
	listeners[nlisteners].mode = arg;
	nlisteners++;
	log_info("listening on %s (%s)", item, (const char *)arg);
	return 0;
}

void
master_bind(void)
{
	config_list_foreach(var_smtp_listen, bind_item, "smtp");
	config_list_foreach(var_submission_listen, bind_item, "submission");
	config_list_foreach(var_smtps_listen, bind_item, "smtps");
	config_list_foreach(var_imap_listen, bind_item, "imap");
	config_list_foreach(var_imaps_listen, bind_item, "imaps");
	config_list_foreach(var_admin_api_listen, bind_item, "adminapi");
	if (apid_wanted()) {
		/* The admin API's tokens and audit log: mail_owner's alone. */
		uid_t uid = (uid_t)-1;
		gid_t gid = (gid_t)-1;
		char path[4096];

		if (geteuid() == 0 && proc_user_ids(var_mail_owner, &uid, &gid) < 0)
			fatalx("mail_owner \"%s\" is not a user of this system", var_mail_owner);
		if (proc_mkdir(spool_path("adminapi", path, sizeof(path)), 0700, uid, gid) < 0)
			fatal("cannot create %s", path);
	}
}

static void
daemon_exec(struct daemon *d)
{
	char path[4096], spec[1024] = "";
	char *argv[5];
	int argc = 0;

	/*
	 * smtpd, imapd and facteur-apid get their listening sockets at 3,
	 * 4, ... in the order bound: first moved clear of those numbers, then
	 * put in place.  Other daemons get none.
	 */
	for (int i = 0; i < nlisteners; i++) {
		int high = fcntl(listeners[i].fd, F_DUPFD_CLOEXEC, 3 + MAX_LISTENERS);
		if (high < 0)
			fatal("dup listener");
		close(listeners[i].fd);
		listeners[i].fd = high;
	}
	if (strcmp(d->name, "smtpd") == 0 || strcmp(d->name, "imapd") == 0 ||
	    strcmp(d->name, "facteur-apid") == 0) {
		int n = 0;
		for (int i = 0; i < nlisteners; i++) {
			size_t len = strlen(spec);
			if (strcmp(listener_daemon(listeners[i].mode), d->name) != 0)
				continue;
			if (dup2(listeners[i].fd, 3 + n) < 0)
				fatal("dup2 listener");
			snprintf(spec + len, sizeof(spec) - len, "%s%d:%s", n > 0 ? "," : "", 3 + n,
			    listeners[i].mode);
			n++;
		}
		setenv("FACTEUR_LISTEN", spec, 1);
	}
	{
		char fdbuf[16];
		/* The read end must survive exec; the write end must not. */
		int rfd = fcntl(alive_pipe[0], F_DUPFD, 3 + nlisteners);
		if (rfd < 0)
			fatal("dup alive pipe");
		snprintf(fdbuf, sizeof(fdbuf), "%d", rfd);
		setenv(MASTER_FD_ENV, fdbuf, 1);
	}
	proc_drop_privileges(var_mail_owner);
	snprintf(path, sizeof(path), "%s/%s", var_daemon_directory, d->name);
	argv[argc++] = path;
	argv[argc++] = "-c";
	argv[argc++] = (char *)master_conf;
	if (master_foreground)
		argv[argc++] = "-d";
	argv[argc] = NULL;
	execv(path, argv);
	fatal("exec %s", path);
}

static int
daemon_wanted(const struct daemon *d)
{
	return d->wanted == NULL || d->wanted();
}

static void
daemon_start(struct daemon *d)
{
	pid_t pid;

	if (own_listen(d) != NULL)
		str_copy(served_listen[d - daemons], own_listen(d), sizeof(served_listen[0]));
	pid = fork();

	if (pid < 0) {
		log_warn("fork %s", d->name);
		return;
	}
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		daemon_exec(d);
	}
	d->pid = pid;
	d->started = time(NULL);
	if (d->row == NULL)
		d->row = stats_daemon_row(d->name);
	if (d->row != NULL) {
		STATS_DAEMON_SET(d->row, started, d->started);
		STATS_DAEMON_SET(d->row, pid, pid);
	}
	log_info("started %s pid=%ld", d->name, (long)pid);
}

static void
daemon_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!stopping && daemon_wanted(arg))
		daemon_start(arg);
}

static void
on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < NDAEMONS; i++) {
			struct daemon *d = &daemons[i];
			struct timeval tv;

			if (d->pid != pid)
				continue;
			d->pid = 0;
			if (d->row != NULL)
				STATS_DAEMON_SET(d->row, pid, 0);
			if (stopping)
				break;
			if (d->replace) {
				d->replace = 0;
				if (daemon_wanted(d))
					daemon_start(d);
				break;
			}
			if (!daemon_wanted(d)) {
				log_info("%s pid=%ld exited; not restarted: the configuration no longer "
				    "asks for it", d->name, (long)pid);
				break;
			}
			if (WIFSIGNALED(status))
				log_warnx("%s pid=%ld killed by signal %d", d->name, (long)pid,
				    WTERMSIG(status));
			else
				log_warnx("%s pid=%ld exited with status %d", d->name, (long)pid,
				    WEXITSTATUS(status));
			STATS_INC(master_daemon_restarts);
			if (d->row != NULL) {
				STATS_DAEMON_SET(d->row, exited, time(NULL));
				__atomic_add_fetch(&d->row->restarts, 1, __ATOMIC_RELAXED);
			}
			if (time(NULL) - d->started >= BACKOFF_MAX)
				d->backoff = 0;
			d->backoff = d->backoff == 0 ? 1 : d->backoff * 2;
			if (d->backoff > BACKOFF_MAX)
				d->backoff = BACKOFF_MAX;
			log_info("restarting %s in %d s", d->name, d->backoff);
			tv.tv_sec = d->backoff;
			tv.tv_usec = 0;
			evtimer_add(d->restart, &tv);
		}
	}
}

void
master_start(struct event_base *base, const char *conf_file, int foreground)
{
	master_base = base;
	master_conf = conf_file;
	master_foreground = foreground;
	if (pipe2(alive_pipe, O_CLOEXEC) < 0)
		fatal("pipe");
	event_add(evsignal_new(base, SIGCHLD, on_sigchld, NULL), NULL);
	for (int i = 0; i < NDAEMONS; i++) {
		daemons[i].restart = evtimer_new(base, daemon_restart_cb, &daemons[i]);
		if (daemon_wanted(&daemons[i]))
			daemon_start(&daemons[i]);
	}
}

/*
 * Daemons the configuration may switch on and off (policyd, lmtpd,
 * managesieved) start or stop here; they are started anew when their
 * address changed, since they bind their socket themselves.
 */
void
master_reload(void)
{
	for (int i = 0; i < NDAEMONS; i++) {
		struct daemon *d = &daemons[i];

		if (d->pid <= 0) {
			if (daemon_wanted(d) && !evtimer_pending(d->restart, NULL))
				daemon_start(d);
			continue;
		}
		if (!daemon_wanted(d)) {
			log_info("stopping %s pid=%ld: no longer configured", d->name, (long)d->pid);
			kill(d->pid, SIGTERM);
		} else if (own_listen(d) != NULL &&
		    strcmp(served_listen[d - daemons], own_listen(d)) != 0) {
			log_info("restarting %s pid=%ld: %s changed", d->name, (long)d->pid,
			    own_listen_name(d));
			d->replace = 1;
			kill(d->pid, SIGTERM);
		} else {
			kill(d->pid, SIGHUP);
		}
	}
}

void
master_stop(void)
{
	time_t deadline = time(NULL) + 10;
	int alive;

	stopping = 1;
	for (int i = 0; i < NDAEMONS; i++)
		if (daemons[i].pid > 0)
			kill(daemons[i].pid, SIGTERM);
	do {
		alive = 0;
		for (int i = 0; i < NDAEMONS; i++) {
			if (daemons[i].pid <= 0)
				continue;
			if (waitpid(daemons[i].pid, NULL, WNOHANG) == daemons[i].pid)
				daemons[i].pid = 0;
			else
				alive++;
		}
		if (alive > 0)
			usleep(50000);
	} while (alive > 0 && time(NULL) < deadline);
	for (int i = 0; i < NDAEMONS; i++) {
		if (daemons[i].pid > 0) {
			log_warnx("%s pid=%ld did not stop: killing it", daemons[i].name,
			    (long)daemons[i].pid);
			kill(daemons[i].pid, SIGKILL);
			waitpid(daemons[i].pid, NULL, 0);
		}
	}
}
