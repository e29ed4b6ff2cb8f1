/* SPDX-License-Identifier: MIT */
/*
 * facteur-milter - the filter pipeline as a milter for Postfix and
 * Sendmail: wiring only (the callbacks are in milter.c).
 *
 * Usage: facteur-milter [-c facteur.conf] [-d]
 * Listens on milter_listen, loads the filter once, then serves.  SIGHUP
 * re-reads the configuration and the rules without dropping connections;
 * SIGTERM and SIGINT stop it.  Without -d it detaches and logs to syslog.
 *
 * libmilter's own signal thread stops the milter on SIGHUP.  The main
 * thread here keeps SIGHUP, SIGTERM and SIGINT unblocked, every other
 * thread blocks them: Linux gives a signal sent to the process to its main
 * thread first when that thread does not block it, so libmilter never
 * sees them.
 */
#include "facteur-config.h"

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter/milter.h"
#include "filter/pipeline.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"

static const char *conf_file;
static int sig_pipe[2];

static void
on_signal(int sig)
{
	int e = errno;
	char c = (char)sig;

	if (write(sig_pipe[1], &c, 1) < 0) {
		/* nothing to do in a signal handler */
	}
	errno = e;
}

/* smfi_main returned (libmilter gave up, or after smfi_stop). */
static void
on_smfi_done(void)
{
	on_signal(0);
}

static void
reload(struct filter *f)
{
	const char *error;
	int rc;

	milter_config_lock();
	if ((rc = config_load(conf_file, &error)) == 0) {
		log_set_level_name(var_log_level);
		filter_reload(f);
	}
	milter_config_unlock();
	if (rc < 0)
		log_warnx("reload failed, keeping the running configuration: %s", error);
	else
		log_info("configuration reloaded");
}

/* The socket's directory (made for the spool's run/), the socket open to the MTA. */
static void
open_socket(const char *spec, const char *path)
{
	const char *error;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct stat st;

	if (geteuid() == 0 && proc_user_ids(var_mail_owner, &uid, &gid) < 0)
		fatalx("mail_owner: unknown user \"%s\"", var_mail_owner);
	if (path[0] != '\0') {
		char *dir = xstrdup(path);
		if (stat(dirname(dir), &st) < 0 && proc_mkdir(dir, 0755, uid, gid) < 0)
			fatal("cannot create %s", dir);
		free(dir);
	}
	if (milter_open(spec, &error) < 0)
		fatalx("%s", error);
	/*
	 * The MTA runs as its own user: the socket is open to every local
	 * user, the directory it is in decides who reaches it.
	 */
	if (path[0] != '\0') {
		if (chmod(path, 0666) < 0)
			fatal("chmod %s", path);
		if (uid != (uid_t)-1 && chown(path, uid, gid) < 0)
			fatal("chown %s", path);
	}
}

int
main(int argc, char **argv)
{
	struct filter *filter;
	const char *error;
	char spec[4096], path[4096];
	struct sigaction sa;
	sigset_t set;
	int ch, foreground = 0;
	char c = 0;

	while ((ch = getopt(argc, argv, "c:d")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		default:
			fprintf(stderr, "usage: facteur-milter [-c facteur.conf] [-d]\n");
			return 2;
		}
	}
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	proc_tune_malloc();
	log_init("facteur/milter", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	signal(SIGPIPE, SIG_IGN);
	if (milter_listen_spec(var_milter_listen, spec, sizeof(spec), path, sizeof(path),
	    &error) < 0)
		fatalx("%s", error);
	open_socket(spec, path);
	proc_drop_privileges(var_mail_owner);
	if (!foreground && daemon(1, 0) < 0)
		fatal("cannot detach");
	if (stats_open(spool_path("run/stats", path, sizeof(path)), 1, &error) < 0)
		log_info("no shared stats: %s", error);
	if (pipe(sig_pipe) < 0)
		fatal("pipe");

	/* Every thread from here on inherits the blocked set; see the top. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (filter_new(&filter, &error) < 0)
		fatalx("filter: %s", error);
	milter_start(filter, (unsigned int)var_filter_workers, on_smfi_done);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	log_info("facteur-milter started on %s", spec);

	for (;;) {
		ssize_t n = read(sig_pipe[0], &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c != SIGHUP)
			break;
		reload(filter);
	}
	if (c == 0)
		log_warnx("libmilter stopped serving");
	else
		log_info("stopping on signal %d", (int)c);
	milter_stop();
	log_info("facteur-milter stopped");
	return c == 0 ? 1 : 0;
}
