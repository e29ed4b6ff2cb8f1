/* SPDX-License-Identifier: MIT */
/*
 * facteurctl quarantine - messages the filter set aside.
 *
 *   quarantine list                  qid, arrival, size, sender, recipients, reason
 *   quarantine show QID              envelope, verdict and the message as delivered
 *   quarantine release QID...|ALL    to incoming/: qmgr delivers them
 *   quarantine delete QID...|ALL
 *
 * Quarantined files are ordinary queue files in $spool_directory/quarantine
 * whose H record holds the filter's headers (X-Facteur-Quarantine: reason,
 * X-Spam-Status ...); releasing is a rename(2) into incoming/, as a hold
 * release is, so a message is never in two places.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "appliance/facteurctl.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "mta/queue.h"
#include "mta/queue_commit.h"
#include "mta/queue_file.h"

struct qitem {
	char qid[QUEUE_ID_SIZE];
};

/* The value of header name in the H block (the filter's headers), or "". */
static void
verdict_header(int fd, const struct queue_envelope *env, const char *name, char *out,
    size_t size)
{
	size_t nl = strlen(name), len = (size_t)env->prepend_len;
	char *block, *p;

	out[0] = '\0';
	if (len == 0 || len > 1024 * 1024)
		return;
	block = xmalloc(len + 1);
	if (pread(fd, block, len, env->prepend_offset) != (ssize_t)len) {
		free(block);
		return;
	}
	block[len] = '\0';
	for (p = block; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
		if (str_ncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t n;
			while (*v == ' ')
				v++;
			n = strcspn(v, "\r\n");
			/* Folded lines of X-Spam-Status: keep the first. */
			snprintf(out, size, "%.*s", (int)n, v);
			break;
		}
	}
	free(block);
}

static int
qcmp(const void *a, const void *b)
{
	return strcmp(((const struct qitem *)a)->qid, ((const struct qitem *)b)->qid);
}

/* Queue ids in quarantine/, sorted (time order). */
static struct qitem *
scan(size_t *n_r)
{
	char dir[4096];
	struct qitem *v = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	spool_path("quarantine", dir, sizeof(dir));
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (!queue_id_valid(de->d_name))
				continue;
			v = xrealloc(v, (n + 1) * sizeof(*v));
			str_copy(v[n++].qid, de->d_name, QUEUE_ID_SIZE);
		}
		closedir(d);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), qcmp);
	*n_r = n;
	return v;
}

static int
open_item(const char *qid, struct queue_envelope *env, int quiet)
{
	char path[4096];
	const char *error = NULL;
	int fd;

	queue_path(Q_QUARANTINE, qid, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (!quiet)
			fprintf(stderr, "facteurctl: %s: not in quarantine\n", qid);
		return -1;
	}
	if (queue_file_read(fd, env, &error) < 0) {
		if (!quiet)
			fprintf(stderr, "facteurctl: %s: %s\n", qid, error);
		close(fd);
		return -1;
	}
	return fd;
}

static int
quarantine_list(void)
{
	size_t n;
	struct qitem *v = scan(&n);

	if (ctl_json)
		printf("[");
	for (size_t i = 0; i < n; i++) {
		struct queue_envelope env;
		char reason[512], status[512], when[32];
		struct tm tm;
		int fd = open_item(v[i].qid, &env, 1);

		if (fd < 0)
			continue;
		verdict_header(fd, &env, "X-Facteur-Quarantine", reason, sizeof(reason));
		verdict_header(fd, &env, "X-Spam-Status", status, sizeof(status));
		close(fd);
		localtime_r(&env.arrival, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		if (ctl_json) {
			printf("%s{\"queue_id\":\"%s\",\"arrival\":%lld,\"size\":%lld,\"sender\":",
			    i > 0 ? "," : "", v[i].qid, (long long)env.arrival,
			    (long long)QUEUE_CONTENT_SIZE(&env));
			ctl_json_string(stdout, env.sender);
			printf(",\"recipients\":[");
			for (size_t r = 0; r < env.nrcpts; r++) {
				if (r > 0)
					printf(",");
				ctl_json_string(stdout, env.rcpts[r].addr);
			}
			printf("],\"reason\":");
			ctl_json_string(stdout, reason);
			printf(",\"status\":");
			ctl_json_string(stdout, status);
			printf("}");
		} else {
			printf("%-17s %s %8lld <%s>", v[i].qid, when, (long long)QUEUE_CONTENT_SIZE(&env),
			    env.sender);
			for (size_t r = 0; r < env.nrcpts; r++)
				printf(" %s", env.rcpts[r].addr);
			printf("\n  %s\n", reason[0] != '\0' ? reason : "(no reason recorded)");
		}
		queue_envelope_free(&env);
	}
	if (ctl_json)
		printf("]\n");
	else if (n == 0)
		printf("Quarantine is empty\n");
	free(v);
	return 0;
}

static int
quarantine_show(const char *qid)
{
	struct queue_envelope env;
	char buf[65536];
	off_t off = 0;
	int fd = open_item(qid, &env, 0);

	if (fd < 0)
		return 1;
	printf("queue_id: %s\narrival: %lld\nclient: %s\nsender: <%s>\n", qid,
	    (long long)env.arrival, env.client != NULL ? env.client : "", env.sender);
	for (size_t i = 0; i < env.nrcpts; i++)
		printf("recipient: <%s>\n", env.rcpts[i].addr);
	printf("\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = queue_content_pread(fd, &env, buf, sizeof(buf), off);
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		off += n;
	}
	close(fd);
	queue_envelope_free(&env);
	return 0;
}

static int
change_one(const char *verb, const char *qid)
{
	char path[4096];

	if (!queue_id_valid(qid)) {
		fprintf(stderr, "facteurctl: %s: not a queue id\n", qid);
		return 1;
	}
	queue_path(Q_QUARANTINE, qid, path, sizeof(path));
	if (strcmp(verb, "delete") == 0) {
		if (unlink(path) == 0)
			return 0;
	} else if (queue_move(qid, Q_QUARANTINE, Q_INCOMING) == 0) {
		return 0;
	}
	if (errno == ENOENT)
		fprintf(stderr, "facteurctl: %s: not in quarantine\n", qid);
	else
		fprintf(stderr, "facteurctl: %s %s: %s\n", verb, qid, strerror(errno));
	return 1;
}

static int
quarantine_change(const char *verb, int argc, char **argv)
{
	int rc = 0, released = 0;

	if (argc == 1 && strcmp(argv[0], "ALL") == 0) {
		size_t n;
		struct qitem *v = scan(&n);
		for (size_t i = 0; i < n; i++) {
			if (change_one(verb, v[i].qid) != 0)
				rc = 1;
			else
				released++;
		}
		free(v);
	} else {
		for (int i = 0; i < argc; i++) {
			if (change_one(verb, argv[i]) != 0)
				rc = 1;
			else
				released++;
		}
	}
	if (strcmp(verb, "release") == 0 && released > 0)
		queue_wakeup_qmgr();
	if (!ctl_json)
		printf("%d message%s %s\n", released, released == 1 ? "" : "s",
		    strcmp(verb, "delete") == 0 ? "deleted" : "released");
	else
		printf("{\"%s\":%d}\n", strcmp(verb, "delete") == 0 ? "deleted" : "released", released);
	return rc;
}

int
ctl_quarantine(int argc, char **argv)
{
	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return quarantine_list();
	if (argc == 2 && strcmp(argv[0], "show") == 0)
		return quarantine_show(argv[1]);
	if (argc >= 2 && (strcmp(argv[0], "release") == 0 || strcmp(argv[0], "delete") == 0))
		return quarantine_change(argv[0], argc - 1, argv + 1);
	fprintf(stderr, "usage: facteurctl quarantine list | show QID | release|delete QID...|ALL\n");
	return 2;
}
