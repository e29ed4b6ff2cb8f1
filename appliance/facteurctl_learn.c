/* SPDX-License-Identifier: MIT */
/*
 * facteurctl learn - train and query the learned classifier (filter/bayes.h).
 *
 *   learn spam|ham [-r] FILE|DIR...   learn messages as spam or ham
 *   learn forget [-r] FILE|DIR...     undo their learning
 *   learn stats                       messages of each class, tokens
 *   learn classify [-r] FILE|DIR...   the probability of spam of each message
 *
 * A FILE holds one message, or several in mbox format (each starting with
 * a "From " line at the start of the file or after an empty line); a DIR
 * stands for its regular files (-r: and those of its subdirectories), in
 * name order.  A message is known by its Message-ID, else by its tokens,
 * so learning it again as the same class changes nothing and learning it
 * as the other class moves it.  The database is $bayes_database
 * ($spool_directory/filter/bayes.db by default); learning creates it, and
 * when run as root gives it to mail_owner, whose daemons read it.  With -j
 * the output is JSON.  Exit 1 when a file or the database failed.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "facteurctl.h"
#include "filter/bayes.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"

enum learn_op { OP_SPAM, OP_HAM, OP_FORGET, OP_CLASSIFY, OP_STATS };

struct learn_run {
	enum learn_op op;
	int recursive;
	struct bayes *b;
	unsigned long done, known, errors;	/* learned/forgotten/classified, unchanged, failed */
	double seconds;				/* classifying: tokenizing and scoring */
};

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
one_message(struct learn_run *r, const char *path, unsigned int index, const char *data,
    size_t len)
{
	double start = now_seconds(), prob;
	struct bayes_tokens *t = bayes_tokens_from_message(data, len);
	const char *error;
	int rc;

	switch (r->op) {
	case OP_CLASSIFY:
		prob = bayes_classify(r->b, t);
		r->seconds += now_seconds() - start;
		r->done++;
		if (ctl_json) {
			printf("{\"file\":");
			ctl_json_string(stdout, path);
			printf(",\"message\":%u,\"probability\":", index);
			if (prob < 0)
				printf("null");
			else
				printf("%.6f", prob);
			printf(",\"tokens\":%zu,\"usec\":%.0f}\n", bayes_tokens_count(t),
			    (now_seconds() - start) * 1e6);
		} else {
			/* "-" when the classifier has not learned enough to score. */
			if (prob < 0)
				printf("-");
			else
				printf("%.4f", prob);
			if (index > 0)
				printf("\t%s:%u\n", path, index);
			else
				printf("\t%s\n", path);
		}
		break;
	default:
		rc = r->op == OP_FORGET ?
		    bayes_forget(r->b, t, bayes_tokens_message_id(t), &error) :
		    bayes_learn(r->b, t, bayes_tokens_message_id(t),
		    r->op == OP_SPAM ? BAYES_SPAM : BAYES_HAM, &error);
		if (rc < 0) {
			fprintf(stderr, "facteurctl: %s: %s\n", path, error);
			r->errors++;
		} else if (rc == 0)
			r->known++;
		else
			r->done++;
		break;
	}
	bayes_tokens_free(&t);
}

/* Is p (inside data) the start of an mbox "From " line? */
static int
mbox_from_at(const char *data, const char *p, const char *end)
{
	if (end - p < 5 || memcmp(p, "From ", 5) != 0)
		return 0;
	return p == data || (p - data >= 2 && p[-1] == '\n' &&
	    (p[-2] == '\n' || (p[-2] == '\r' && p - data >= 3 && p[-3] == '\n')));
}

/* One file: a message, or an mbox of several. */
static void
one_file(struct learn_run *r, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	const char *data, *end, *start, *p;
	unsigned int n = 0;
	void *map;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "facteurctl: %s: %s\n", path, strerror(errno));
		r->errors++;
		if (fd >= 0)
			close(fd);
		return;
	}
	if (st.st_size == 0) {
		close(fd);
		return;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "facteurctl: %s: %s\n", path, strerror(errno));
		r->errors++;
		return;
	}
	data = map;
	end = data + st.st_size;
	start = data;
	if (mbox_from_at(data, data, end)) {
		/* Messages start at each separator line; the parser skips a first "From " line. */
		for (p = memchr(data, '\n', (size_t)(end - data)); p != NULL && p + 1 < end;
		    p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
			if (!mbox_from_at(data, p + 1, end))
				continue;
			one_message(r, path, ++n, start, (size_t)(p + 1 - start));
			start = p + 1;
		}
	}
	one_message(r, path, n > 0 ? n + 1 : 0, start, (size_t)(end - start));
	munmap(map, (size_t)st.st_size);
}

static int
name_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
one_path(struct learn_run *r, const char *path, int top)
{
	struct stat st;
	struct dirent **names;
	int n;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "facteurctl: %s: %s\n", path, strerror(errno));
		r->errors++;
		return;
	}
	if (S_ISREG(st.st_mode)) {
		one_file(r, path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (top) {
			fprintf(stderr, "facteurctl: %s: not a file or a directory\n", path);
			r->errors++;
		}
		return;
	}
	if (!top && !r->recursive)
		return;
	if ((n = scandir(path, &names, NULL, name_order)) < 0) {
		fprintf(stderr, "facteurctl: %s: %s\n", path, strerror(errno));
		r->errors++;
		return;
	}
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			char *sub = xasprintf("%s/%s", path, names[i]->d_name);
			one_path(r, sub, 0);
			free(sub);
		}
		free(names[i]);
	}
	free(names);
}

static int
learn_stats(struct bayes *b)
{
	unsigned long spam, ham, tokens;

	bayes_counts(b, &spam, &ham, &tokens);
	if (ctl_json)
		printf("{\"spam\":%lu,\"ham\":%lu,\"tokens\":%lu,\"min_learned\":%ld}\n", spam, ham,
		    tokens, var_bayes_min_learned);
	else
		printf("spam messages   %lu\nham messages    %lu\ntokens          %lu\n"
		    "scores          %s (bayes_min_learned = %ld of each class)\n", spam, ham, tokens,
		    spam >= (unsigned long)var_bayes_min_learned &&
		    ham >= (unsigned long)var_bayes_min_learned ? "yes" : "not yet",
		    var_bayes_min_learned);
	return 0;
}

static int
learn_usage(void)
{
	fprintf(stderr, "usage: facteurctl learn spam|ham|forget|classify [-r] FILE|DIR...\n"
	    "       facteurctl learn stats\n");
	return 2;
}

int
ctl_learn(int argc, char **argv)
{
	struct learn_run r;
	char path[4096];
	const char *error;
	int i = 1, readonly;

	memset(&r, 0, sizeof(r));
	if (argc < 1)
		return learn_usage();
	if (strcmp(argv[0], "spam") == 0)
		r.op = OP_SPAM;
	else if (strcmp(argv[0], "ham") == 0)
		r.op = OP_HAM;
	else if (strcmp(argv[0], "forget") == 0)
		r.op = OP_FORGET;
	else if (strcmp(argv[0], "classify") == 0)
		r.op = OP_CLASSIFY;
	else if (strcmp(argv[0], "stats") == 0 && argc == 1)
		r.op = OP_STATS;
	else
		return learn_usage();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-r") == 0)
			r.recursive = 1;
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else
			return learn_usage();
	}
	if (r.op != OP_STATS && i >= argc)
		return learn_usage();

	readonly = r.op == OP_STATS || r.op == OP_CLASSIFY;
	bayes_database_path(path, sizeof(path));
	if (bayes_open(path, readonly, &r.b, &error) < 0) {
		fprintf(stderr, "facteurctl: %s\n", error);
		return 1;
	}
	if (r.op == OP_STATS) {
		learn_stats(r.b);
		bayes_close(&r.b);
		return 0;
	}
	for (; i < argc; i++)
		one_path(&r, argv[i], 1);
	bayes_close(&r.b);
	if (!readonly && geteuid() == 0) {
		/* smtpd reads it as mail_owner, and WAL readers write the -shm file. */
		static const char *const suffix[] = { "", "-wal", "-shm" };
		uid_t uid;
		gid_t gid;
		if (proc_user_ids(var_mail_owner, &uid, &gid) == 0) {
			for (size_t k = 0; k < sizeof(suffix) / sizeof(suffix[0]); k++) {
				char p[4200];
				snprintf(p, sizeof(p), "%s%s", path, suffix[k]);
				if (chown(p, uid, gid) < 0 && errno != ENOENT)
					fprintf(stderr, "facteurctl: chown %s: %s\n", p, strerror(errno));
			}
		}
	}

	if (r.op == OP_CLASSIFY) {
		if (r.done > 0 && !ctl_json)
			fprintf(stderr, "%lu messages, %.2f ms each\n", r.done,
			    r.seconds * 1e3 / (double)r.done);
	} else if (ctl_json) {
		printf("{\"%s\":%lu,\"known\":%lu,\"errors\":%lu}\n",
		    r.op == OP_FORGET ? "forgotten" : "learned", r.done, r.known, r.errors);
	} else if (r.op == OP_FORGET) {
		printf("%lu messages forgotten, %lu were not learned%s\n", r.done, r.known,
		    r.errors > 0 ? ", errors" : "");
	} else {
		printf("%lu messages learned as %s, %lu already known%s\n", r.done,
		    r.op == OP_SPAM ? "spam" : "ham", r.known, r.errors > 0 ? ", errors" : "");
	}
	return r.errors > 0 ? 1 : 0;
}
