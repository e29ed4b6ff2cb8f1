/* SPDX-License-Identifier: MIT */
/*
 * facteurctl - the administrator's command.
 *
 * Usage: facteurctl [-c facteur.conf] [-j] COMMAND ...
 *   queue list                       the queue, like mailq (-j: one JSON object per line)
 *   queue show QID                   envelope, delivery log and content of a message
 *   queue flush                      retry every deferred message now
 *   queue hold|release|delete QID... (ALL for every message)
 *   config check                     check facteur.conf, exit 1 on problems
 *   config show [-n]                 every parameter (-n: only those set in the file)
 *   stats                            the shared counters (-j: JSON)
 *   version
 * Invoked as "mailq" it runs "queue list".  Exit status: 0 success, 1
 * failure, 2 usage.  Queue changes go through qmgr's control socket
 * when qmgr runs, so they never race a delivery; otherwise the files are
 * moved directly.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "facteurctl.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "mta/queue.h"
#include "mta/queue_file.h"

#ifndef FACTEUR_SYSCONF_DIR
#define FACTEUR_SYSCONF_DIR "/etc/facteur"
#endif

int ctl_json;
#define json ctl_json

/*
 * Command groups in their own files.  Each adds its row here and its file
 * to appliance/local.mk.
 */
static const struct ctl_command ctl_commands[] = {
	{ "quarantine", ctl_quarantine,
	  "  quarantine list | quarantine show QID | quarantine release|delete QID...|ALL\n" },
	{ "dkim", ctl_dkim, "  dkim keygen DOMAIN SELECTOR [BITS]\n" },
	{ "rules", ctl_rules, "  rules check [-v]\n" },
	{ "learn", ctl_learn, "  learn spam|ham|forget|classify [-r] FILE|DIR...\n  learn stats\n" },
	{ "domain", ctl_domain, "  domain add|set NAME [--kind K] [--nexthop HOP] [--verify V] [--catchall ADDR]\n"
	  "  domain del NAME | domain list | domain show NAME\n" },
	{ "account", ctl_account, "  account add|del|disable|enable ADDR | account list [DOMAIN] | account show ADDR\n"
	  "  account passwd ADDR [--hash HASH] | account set ADDR [--profile NAME] [--password-source ldap|local]\n"
	  "  account app-password add ADDR NAME | list ADDR | revoke ADDR NAME\n" },
	{ "profile", ctl_profile, "  profile add|set NAME [--quota SIZE] [--retention DAYS] [--retention-scope trash|all]\n"
	  "                       [--services LIST]\n  profile del NAME | profile list\n" },
	{ "alias", ctl_alias, "  alias add ADDR TARGET... | alias del ADDR [TARGET] | alias list [DOMAIN]\n" },
	{ "group", ctl_group, "  group add ADDR [MEMBER...] [--kind list|alias] [--name TEXT] [--description TEXT]\n"
	  "  group set ADDR [options] | group del ADDR | group list [DOMAIN] | group show ADDR\n"
	  "  group member add|del GROUP MEMBER...\n" },
	{ "resource", ctl_resource, "  resource add|set ADDR [--kind room|equipment] [--name TEXT] [--capacity N]\n"
	  "                        [--category TEXT] [--description TEXT]\n"
	  "  resource del ADDR | resource list [DOMAIN] | resource show ADDR\n" },
	{ "admin", ctl_admin, "  admin add|set NAME --domains D1,D2|--global | admin passwd NAME [--hash HASH]\n"
	  "  admin del NAME | admin list\n" },
	{ "import", ctl_import, "  import accounts|aliases|groups|resources FILE [--dry-run] [--continue]\n"
	  "         [--disable-missing|--delete-missing] [--separator ,|;] [--threads N]\n" },
	{ "export", ctl_export, "  export accounts|aliases|groups|resources [DOMAIN] [-o FILE] [--separator ,|;]\n" },
	{ "recipient", ctl_recipient, "  recipient add|del ADDR | recipient list DOMAIN\n" },
	{ "access", ctl_access, "  access allow|deny|del PATTERN [--for SCOPE] | access list\n"
	  "  access check --client IP [--sender ADDR] [--rcpt ADDR]\n" },
	{ "backup", ctl_backup, "  backup FILE.tar.gz | restore FILE.tar.gz [--force]\n" },
	{ "restore", ctl_restore, "" },
	{ "report", ctl_report, "  report [--days N | --from DAY [--to DAY]] [--domain DOMAIN] [--accounts]\n" },
	{ "acl", ctl_acl, "  acl get ACCOUNT MAILBOX | acl set ACCOUNT MAILBOX IDENTIFIER [+|-]RIGHTS\n"
	  "  acl delete ACCOUNT MAILBOX IDENTIFIER\n" },
	{ "mailbox", ctl_mailbox, "  mailbox list|quota|recalc ACCOUNT\n  mailbox purge ACCOUNT|--all [--dry-run]\n"
	  "  mailbox export ACCOUNT [MAILBOX...] [-o FILE|-]\n  mailbox import ACCOUNT MAILBOX FILE|- [--create]\n"
	  "  mailbox check [--repair] [--settle SECONDS]\n" },
	{ NULL, NULL, NULL }
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: facteurctl [-c facteur.conf] [-j] COMMAND\n"
	    "  queue list | queue show QID | queue flush\n"
	    "  queue hold|release|delete QID...|ALL\n"
	    "  config check | config show [-n]\n"
	    "  stats | version\n");
	for (const struct ctl_command *c = ctl_commands; c->name != NULL; c++)
		fputs(c->usage, stderr);
	exit(2);
}

void
ctl_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* ---- qmgr control socket ---- */

/* Send one request; 1 and the reply if qmgr answered, 0 if qmgr is not running. */
static int
qmgr_request(const char *request, char *reply, size_t size)
{
	struct sockaddr_un sun;
	ssize_t n;
	size_t got = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	spool_path("run/qmgr.ctl", sun.sun_path, sizeof(sun.sun_path));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (write(fd, request, strlen(request)) < 0 || write(fd, "\n", 1) < 0) {
		close(fd);
		return 0;
	}
	while (got + 1 < size && (n = read(fd, reply + got, size - got - 1)) > 0) {
		got += (size_t)n;
		if (memchr(reply, '\n', got) != NULL)
			break;
	}
	close(fd);
	reply[got] = '\0';
	reply[strcspn(reply, "\r\n")] = '\0';
	return got > 0;
}

/* ---- queue list ---- */

struct entry {
	char qid[QUEUE_ID_SIZE];
	enum queue_state state;
};

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->qid, ((const struct entry *)b)->qid);
}

/* Every queue id in the given states, sorted (oldest first: ids are time-ordered). */
static struct entry *
queue_collect(const enum queue_state *states, size_t nstates, size_t *n_r)
{
	struct entry *v = NULL;
	size_t n = 0;

	for (size_t s = 0; s < nstates; s++) {
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
	/* qsort's base must not be NULL, even for 0 elements (UBSan). */
	if (n > 1)
		qsort(v, n, sizeof(*v), entry_cmp);
	*n_r = n;
	return v;
}

static int
queue_load(const char *qid, enum queue_state state, struct queue_envelope *env)
{
	char path[4096];
	const char *error;
	int fd, rc;

	queue_path(state, qid, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = queue_file_read(fd, env, &error);
	close(fd);
	return rc;
}

static void
list_json(const struct entry *e, const struct queue_envelope *env)
{
	int first = 1;

	printf("{\"queue_name\":\"%s\",\"queue_id\":\"%s\",\"arrival_time\":%lld,"
	    "\"message_size\":%lld,\"attempts\":%u,\"next_retry\":%lld,\"sender\":",
	    queue_state_name(e->state), e->qid, (long long)env->arrival,
	    (long long)QUEUE_CONTENT_SIZE(env), env->attempts, (long long)env->next_retry);
	ctl_json_string(stdout, env->sender);
	printf(",\"recipients\":[");
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (r->status != RCPT_PENDING)
			continue;
		printf("%s{\"address\":", first ? "" : ",");
		ctl_json_string(stdout, r->addr);
		if (r->last_text != NULL) {
			printf(",\"delay_reason\":");
			ctl_json_string(stdout, r->last_text);
		}
		printf("}");
		first = 0;
	}
	printf("]}\n");
}

static int
cmd_queue_list(void)
{
	static const enum queue_state states[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD };
	unsigned long long total = 0;
	size_t n, shown = 0;
	struct entry *v = queue_collect(states, 4, &n);

	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;
		char when[64];
		struct tm tm;

		if (queue_load(v[i].qid, v[i].state, &env) < 0)
			continue;	/* delivered or moved meanwhile */
		shown++;
		total += (unsigned long long)QUEUE_CONTENT_SIZE(&env);
		if (json) {
			list_json(&v[i], &env);
			queue_envelope_free(&env);
			continue;
		}
		if (shown == 1)
			printf("-Queue ID---------- --Size-- ----Arrival Time---- -Sender/Recipient-------\n");
		localtime_r(&env.arrival, &tm);
		strftime(when, sizeof(when), "%a %b %d %H:%M:%S", &tm);
		printf("%-18s%c %8lld %20s  %s\n", v[i].qid,
		    v[i].state == Q_ACTIVE ? '*' : v[i].state == Q_HOLD ? '!' : ' ',
		    (long long)QUEUE_CONTENT_SIZE(&env), when, env.sender[0] != '\0' ? env.sender : "MAILER-DAEMON");
		for (size_t r = 0; r < env.nrcpts; r++) {
			if (env.rcpts[r].status != RCPT_PENDING)
				continue;
			if (env.rcpts[r].last_text != NULL)
				printf("%52s(%s)\n", "", env.rcpts[r].last_text);
			printf("%52s%s\n", "", env.rcpts[r].addr);
		}
		printf("\n");
		queue_envelope_free(&env);
	}
	free(v);
	if (!json) {
		if (shown == 0)
			printf("Mail queue is empty\n");
		else
			printf("-- %llu Kbytes in %zu Request%s.\n", (total + 1023) / 1024, shown,
			    shown == 1 ? "" : "s");
	}
	return 0;
}

static int
cmd_queue_show(const char *qid)
{
	struct queue_envelope env;
	char path[4096], buf[65536];
	int state = queue_find(qid), fd;
	off_t left;

	if (state < 0) {
		fprintf(stderr, "facteurctl: %s: no such message\n", qid);
		return 1;
	}
	queue_path(state, qid, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || queue_file_read(fd, &env, &(const char *){ NULL }) < 0) {
		fprintf(stderr, "facteurctl: %s: cannot read %s\n", qid, path);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	printf("queue_id: %s\nqueue: %s\narrival: %lld\nclient: %s\nsender: <%s>\nattempts: %u\n",
	    qid, queue_state_name(state), (long long)env.arrival, env.client != NULL ? env.client : "",
	    env.sender, env.attempts);
	for (size_t i = 0; i < env.nrcpts; i++) {
		const struct queue_rcpt *r = &env.rcpts[i];
		printf("recipient: <%s> status=%s%s%s%s%s\n", r->addr,
		    r->status == RCPT_PENDING ? "pending" : r->status == RCPT_DELIVERED ? "delivered" : "failed",
		    r->last_dsn != NULL ? " dsn=" : "", r->last_dsn != NULL ? r->last_dsn : "",
		    r->last_text != NULL ? " reason=" : "", r->last_text != NULL ? r->last_text : "");
	}
	printf("\n");
	fflush(stdout);
	left = QUEUE_CONTENT_SIZE(&env);
	while (left > 0) {
		ssize_t n = queue_content_pread(fd, &env, buf,
		    left < (off_t)sizeof(buf) ? (size_t)left : sizeof(buf), QUEUE_CONTENT_SIZE(&env) - left);
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		left -= n;
	}
	close(fd);
	queue_envelope_free(&env);
	return 0;
}

/* hold/release/delete one message without qmgr. */
static int
queue_change_direct(const char *verb, const char *qid)
{
	char path[4096];
	int state = queue_find(qid);

	if (state < 0) {
		fprintf(stderr, "facteurctl: %s: no such message\n", qid);
		return 1;
	}
	if (strcmp(verb, "delete") == 0) {
		queue_path(state, qid, path, sizeof(path));
		if (unlink(path) == 0)
			return 0;
	} else if (strcmp(verb, "hold") == 0) {
		if (state == Q_HOLD || queue_move(qid, state, Q_HOLD) == 0)
			return 0;
	} else {
		if (state != Q_HOLD) {
			fprintf(stderr, "facteurctl: %s: message is not held\n", qid);
			return 1;
		}
		if (queue_move(qid, Q_HOLD, Q_INCOMING) == 0)
			return 0;
	}
	fprintf(stderr, "facteurctl: %s %s: %s\n", verb, qid, strerror(errno));
	return 1;
}

static int
queue_change(const char *verb, const char *qid)
{
	char request[128], reply[512];

	if (!queue_id_valid(qid)) {
		fprintf(stderr, "facteurctl: %s: not a queue id\n", qid);
		return 1;
	}
	snprintf(request, sizeof(request), "%s %s", verb, qid);
	if (!qmgr_request(request, reply, sizeof(reply)))
		return queue_change_direct(verb, qid);
	if (strcmp(reply, "ok") != 0) {
		fprintf(stderr, "facteurctl: %s %s: %s\n", verb, qid,
		    strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		return 1;
	}
	return 0;
}

static int
cmd_queue_change(const char *verb, int argc, char **argv)
{
	int rc = 0, changed = 0;

	if (argc == 0)
		usage();
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "ALL") == 0) {
			static const enum queue_state all[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD };
			enum queue_state held = Q_HOLD;
			size_t n;
			struct entry *v = strcmp(verb, "release") == 0 ? queue_collect(&held, 1, &n) :
			    queue_collect(all, 4, &n);
			for (size_t j = 0; j < n; j++) {
				if (strcmp(verb, "hold") == 0 && v[j].state == Q_HOLD)
					continue;
				if (queue_change(verb, v[j].qid) == 0)
					changed++;
				else
					rc = 1;
			}
			free(v);
		} else if (queue_change(verb, argv[i]) == 0) {
			changed++;
		} else {
			rc = 1;
		}
	}
	printf("facteurctl: %s: %d message%s\n", verb, changed, changed == 1 ? "" : "s");
	return rc;
}

static int
cmd_queue(int argc, char **argv)
{
	char reply[512];

	if (argc < 1)
		usage();
	if (strcmp(argv[0], "list") == 0)
		return cmd_queue_list();
	if (strcmp(argv[0], "show") == 0 && argc == 2)
		return cmd_queue_show(argv[1]);
	if (strcmp(argv[0], "flush") == 0) {
		if (!qmgr_request("flush", reply, sizeof(reply))) {
			fprintf(stderr, "facteurctl: qmgr is not running: start facteur first\n");
			return 1;
		}
		if (strcmp(reply, "ok") != 0) {
			fprintf(stderr, "facteurctl: flush: %s\n", reply);
			return 1;
		}
		return 0;
	}
	if (strcmp(argv[0], "hold") == 0 || strcmp(argv[0], "release") == 0 ||
	    strcmp(argv[0], "delete") == 0)
		return cmd_queue_change(argv[0], argc - 1, argv + 1);
	usage();
	return 2;
}

/* ---- config, stats ---- */

static void
report_problem(const char *problem)
{
	fprintf(stderr, "facteurctl: %s\n", problem);
}

static int
cmd_config(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "check") == 0) {
		int problems = check_config(report_problem);
		if (problems > 0) {
			fprintf(stderr, "facteurctl: %s: %d problem%s\n", config_path(), problems,
			    problems == 1 ? "" : "s");
			return 1;
		}
		printf("%s: configuration OK\n", config_path() != NULL ? config_path() : "(defaults)");
		return 0;
	}
	if (argc >= 1 && strcmp(argv[0], "show") == 0) {
		config_dump(stdout, argc >= 2 && strcmp(argv[1], "-n") == 0);
		return 0;
	}
	usage();
	return 2;
}

static int
cmd_stats(void)
{
	char path[4096];
	const char *error;

	if (stats_open(spool_path("run/stats", path, sizeof(path)), 0, &error) < 0) {
		fprintf(stderr, "facteurctl: %s (is facteur running?)\n", error);
		return 1;
	}
	if (json)
		printf("{\"started\":%" PRIu64, stats->started);
	else
		printf("%-28s %" PRIu64 "\n", "started", stats->started);
	for (unsigned int i = 0; i < stats_nfields; i++) {
		uint64_t v = __atomic_load_n((const uint64_t *)((const char *)stats + stats_fields[i].offset),
		    __ATOMIC_RELAXED);
		if (json)
			printf(",\"%s\":%" PRIu64, stats_fields[i].name, v);
		else
			printf("%-28s %" PRIu64 "\n", stats_fields[i].name, v);
	}
	/* The master's daemons: pid (0: not running), last start, restarts, last unasked exit. */
	if (json)
		printf(",\"daemons\":[");
	for (unsigned int i = 0; i < stats_daemon_count(); i++) {
		const struct stats_daemon *d = &stats->daemons[i];
		if (json)
			printf("%s{\"name\":\"%s\",\"pid\":%" PRIu64 ",\"started\":%" PRIu64
			    ",\"restarts\":%" PRIu64 ",\"exited\":%" PRIu64 "}", i > 0 ? "," : "",
			    d->name, STATS_DAEMON_GET(d, pid), STATS_DAEMON_GET(d, started),
			    STATS_DAEMON_GET(d, restarts), STATS_DAEMON_GET(d, exited));
		else
			printf("daemon %-21s pid=%" PRIu64 " started=%" PRIu64 " restarts=%" PRIu64
			    " exited=%" PRIu64 "\n", d->name, STATS_DAEMON_GET(d, pid),
			    STATS_DAEMON_GET(d, started), STATS_DAEMON_GET(d, restarts),
			    STATS_DAEMON_GET(d, exited));
	}
	if (json)
		printf("]}\n");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *conf = getenv("FACTEUR_CONF");
	const char *error, *base = strrchr(argv[0], '/');
	int ch;

	if (conf == NULL)
		conf = FACTEUR_SYSCONF_DIR "/facteur.conf";
	while ((ch = getopt(argc, argv, "+c:j")) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'j': json = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	log_init("facteur/facteurctl", 0);
	log_set_level(LOG_LEVEL_WARN);
	if (config_load(access(conf, F_OK) == 0 || strcmp(conf, FACTEUR_SYSCONF_DIR "/facteur.conf") != 0 ?
	    conf : NULL, &error) < 0) {
		fprintf(stderr, "facteurctl: %s\n", error);
		return 1;
	}
	base = base != NULL ? base + 1 : argv[-optind];
	if (strcmp(base, "mailq") == 0)
		return cmd_queue_list();
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "queue") == 0)
		return cmd_queue(argc - 1, argv + 1);
	if (strcmp(argv[0], "config") == 0)
		return cmd_config(argc - 1, argv + 1);
	if (strcmp(argv[0], "stats") == 0)
		return cmd_stats();
	if (strcmp(argv[0], "version") == 0) {
		printf("facteur %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (const struct ctl_command *c = ctl_commands; c->name != NULL; c++)
		if (strcmp(argv[0], c->name) == 0)
			return c->run(argc - 1, argv + 1);
	usage();
	return 2;
}
