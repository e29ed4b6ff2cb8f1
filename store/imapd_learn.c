/* SPDX-License-Identifier: MIT */
/*
 * imapd_learn - users teach the classifier by moving mail: a message
 * copied or moved into a Junk mailbox (SPECIAL-USE \Junk) is learned as
 * spam, one taken out of Junk into anything but Trash as ham (as
 * Dovecot's antispam plugin does).  imap_junk_learning turns it off.
 *
 * Learning tokenizes the message and writes the classifier's SQLite
 * state (filter/bayes.h): it runs in a worker thread, on blob files
 * opened by the loop; the IMAP reply does not wait for it.  A failure
 * (no classifier database yet, a busy writer) is logged and forgotten:
 * the message is where the user put it either way.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "filter/bayes.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/workpool.h"
#include "store/imapd.h"

/* Larger messages are not learned (attachments carry no useful tokens). */
#define LEARN_MAX_SIZE (4 * 1024 * 1024)

struct learn_job {
	char user[320];
	enum bayes_class cls;
	int *fds;
	uint64_t *sizes;
	size_t n;
	unsigned int learned, failed;
	char error[256];
};

static struct workpool *learn_pool;
/* The worker's connection (one worker thread). */
static struct bayes *learn_db;

void
imapd_learn_init(struct event_base *base)
{
	if (learn_pool == NULL)
		learn_pool = workpool_new(base, 1);
}

static void
learn_work(void *arg)
{
	struct learn_job *j = arg;
	const char *error;
	char path[4096];

	if (learn_db == NULL &&
	    bayes_open(bayes_database_path(path, sizeof(path)), 0, &learn_db, &error) < 0) {
		snprintf(j->error, sizeof(j->error), "%s", error);
		j->failed = (unsigned int)j->n;
		return;
	}
	for (size_t i = 0; i < j->n; i++) {
		struct bayes_tokens *t;
		void *data;
		int rc;
		if (j->sizes[i] == 0 || j->sizes[i] > LEARN_MAX_SIZE)
			continue;
		data = mmap(NULL, j->sizes[i], PROT_READ, MAP_PRIVATE, j->fds[i], 0);
		if (data == MAP_FAILED) {
			j->failed++;
			continue;
		}
		t = bayes_tokens_from_message(data, j->sizes[i]);
		rc = bayes_learn(learn_db, t, bayes_tokens_message_id(t), j->cls, &error);
		bayes_tokens_free(&t);
		munmap(data, j->sizes[i]);
		if (rc < 0) {
			snprintf(j->error, sizeof(j->error), "%s", error);
			j->failed++;
		} else {
			j->learned += (unsigned int)rc;
		}
	}
}

static void
learn_done(void *arg)
{
	struct learn_job *j = arg;

	if (j->failed > 0)
		log_warnx("imap: user=%s learning %zu message(s) as %s: %u failed: %s", j->user, j->n,
		    j->cls == BAYES_SPAM ? "spam" : "ham", j->failed, j->error);
	else
		log_info("imap: user=%s learned %u of %zu message(s) as %s", j->user, j->learned, j->n,
		    j->cls == BAYES_SPAM ? "spam" : "ham");
	for (size_t i = 0; i < j->n; i++)
		close(j->fds[i]);
	free(j->fds);
	free(j->sizes);
	free(j);
}

struct blob_collect {
	struct learn_job *j;
	size_t cap;
};

static int
blob_collect(const struct mstore_msg *m, void *arg)
{
	struct blob_collect *c = arg;
	struct learn_job *j = c->j;
	const char *error;
	uint64_t size;
	int fd;

	if ((fd = mstore_blob_open(imapd_store(), m->blob, &size, &error)) < 0)
		return 0;
	if (j->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		j->fds = xrealloc(j->fds, c->cap * sizeof(*j->fds));
		j->sizes = xrealloc(j->sizes, c->cap * sizeof(*j->sizes));
	}
	j->fds[j->n] = fd;
	j->sizes[j->n++] = size;
	return 0;
}

void
imapd_junk_learn(struct imapd_session *s, struct mstore_account *from, int64_t src,
    const struct imapd_mbox *dst, const struct mstore_uidmap *map)
{
	struct mstore_mailbox smb;
	struct blob_collect c;
	struct mstore_range *r;
	struct learn_job *j;
	const char *error;
	int to_junk, from_junk;

	if (!var_imap_junk_learning || learn_pool == NULL || map->n == 0)
		return;
	if (mstore_mailbox_get(from, NULL, src, &smb, &error) != 0)
		return;
	to_junk = dst->mb.special_use == MSTORE_SPECIAL_JUNK && !dst->shared;
	from_junk = smb.special_use == MSTORE_SPECIAL_JUNK && from == imapd_account(s);
	if (to_junk == from_junk || (from_junk && dst->mb.special_use == MSTORE_SPECIAL_TRASH))
		return;
	j = xcalloc(1, sizeof(*j));
	str_copy(j->user, imapd_user(s), sizeof(j->user));
	j->cls = to_junk ? BAYES_SPAM : BAYES_HAM;
	/* The copies in the destination: the same blobs. */
	r = xcalloc(map->n, sizeof(*r));
	for (size_t i = 0; i < map->n; i++)
		r[i].lo = r[i].hi = map->dst[i];
	memset(&c, 0, sizeof(c));
	c.j = j;
	(void)mstore_messages(dst->acct, dst->mb.id, r, map->n, blob_collect, &c, &error);
	free(r);
	if (j->n == 0) {
		free(j);
		return;
	}
	workpool_submit(learn_pool, learn_work, learn_done, j);
}
