/* SPDX-License-Identifier: MIT */
/*
 * lmtpd - LMTP sessions delivering into the mailbox store.  See lmtpd.h.
 *
 * A session reads commands while it is not in DATA, answering each at
 * once (replies to pipelined commands go out in order because they are
 * written in order).  In DATA, lines go to the blob writer as they come;
 * the final dot starts the delivery (commit the blob, append for each
 * recipient), and no byte of input is looked at before its replies are
 * out.
 *
 * Group commit (lmtp_sync = group).  A delivery waits for two flushes of
 * the store's file system, each shared by every delivery pending in this
 * worker at that moment (lib/group_sync.h), so that a burst of deliveries
 * costs two syncfs, not four fsyncs each:
 *
 *   1. at the final dot the blob is renamed into place and counted in
 *      store.db, nothing fsync'd (mstore_blob_commit_nosync); flush;
 *   2. then Sieve runs and the index rows are committed, written but not
 *      fsync'd (MSTORE_SYNC_NONE); flush;
 *   3. then the replies.
 *
 * Flush 1 puts the blob on disk before any row naming it can be: a row
 * with a delivery id must never survive a power loss without its blob, or
 * qmgr's retry would be answered "Already saved" for a message that is
 * gone.  A crash before flush 1 leaves at worst a count without its file
 * or a file without its count (mstore.h: neither is reachable from an
 * index), and no reply was sent.  A crash before flush 2 leaves the rows
 * on disk or not, and no reply was sent: qmgr retries with the same XQID,
 * which saves the message again if its row was lost and answers "Already
 * saved" if it was not.  A failed flush (EIO) is answered the same way:
 * flush 1 failing gives the references back and answers 451; flush 2
 * failing answers 451 for the recipients whose rows were written (on disk
 * or not, the retry settles it as above) and keeps the other replies
 * (refusals; a redirect is already in the relay's queue).  Without XQID
 * (a client other than qmgr) such a retry may save a second copy, as
 * after any crash between a commit and its reply.
 *
 * While its delivery is in flight a session reads no command (replies
 * come in order: LMTP pipelining).  A peer leaving meanwhile only marks
 * the session gone; the flush's callback holds it, so it is freed when its
 * delivery has finished, never before.  lmtp_sync = fsync runs the same
 * steps at once, each file and commit fsync'd (today's way, for stores
 * where syncfs is no real flush).
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "lib/config.h"
#include "lib/group_sync.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "mta/queue.h"
#include "mta/smtp_addr.h"
#include "mta/smtp_proto.h"
#include "store/directory.h"
#include "store/directory_shared.h"
#include "store/lmtpd.h"
#include "store/lmtpd_sieve.h"
#include "store/mstore.h"
#include "store/sieve.h"
#include "store/sieve_store.h"

/* Content lines longer than this are written in pieces (no limit on their length). */
#define DATA_CHUNK 65536
#define XQID_MAX 64
#define ADDR_SIZE 320

/* S_DELIVER: the final dot was read, the replies are not out yet. */
enum state { S_GREET, S_READY, S_MAIL, S_DATA, S_DELIVER, S_CLOSING };

struct rcpt {
	char *addr;		/* as given in RCPT TO */
	char account[ADDR_SIZE];/* the directory's account */
	char *reply;		/* after DATA, until it can be sent */
	int durable;		/* the reply says saved: true once the rows are on disk */
};

struct sess {
	TAILQ_ENTRY(sess) link;
	unsigned long id;
	struct bufferevent *bev;
	enum state state;
	int errors;
	/* the transaction */
	char *sender;
	char xqid[XQID_MAX + 1];
	long long size_hint;	/* MAIL SIZE=, -1 if not given */
	struct rcpt *rcpts;
	size_t nrcpts;
	/* DATA */
	struct mstore_blob_writer *w;
	int bol;		/* at the start of a line */
	uint64_t bytes;
	int too_big, write_failed;
	/* the delivery (S_DELIVER) */
	char blob[MSTORE_BLOB_ID_SIZE];
	uint64_t blob_size;
	int gone;		/* the peer left while it was in flight */
};

static TAILQ_HEAD(, sess) sessions = TAILQ_HEAD_INITIALIZER(sessions);
static struct evconnlistener *listener;
static struct event_base *loop_base;
static struct mstore *store;
static struct group_sync *gsync;	/* lmtp_sync = group */
static unsigned int delivering;		/* sessions in S_DELIVER */
static int stopping;
static unsigned long next_id;

static void sess_process(struct sess *s);

static const char *
qid_of(const struct sess *s)
{
	return s->xqid[0] != '\0' ? s->xqid : "-";
}

static void
reply(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply(struct sess *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* An error reply; too many of them end the session. */
static void
error_reply(struct sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
error_reply(struct sess *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
	if (var_smtpd_error_limit > 0 && ++s->errors >= var_smtpd_error_limit) {
		reply(s, "421 4.7.0 %s Error: too many errors", proc_hostname());
		log_info("lmtpd: session=%lu: too many errors: closing", s->id);
		s->state = S_CLOSING;
	}
}

static void
txn_reset(struct sess *s)
{
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].reply);
	}
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	free(s->sender);
	s->sender = NULL;
	s->xqid[0] = '\0';
	s->size_hint = -1;
	mstore_blob_abort(&s->w);
	if (s->state == S_MAIL || s->state == S_DATA || s->state == S_DELIVER)
		s->state = S_READY;
}

static void
sess_free(struct sess *s)
{
	TAILQ_REMOVE(&sessions, s, link);
	txn_reset(s);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	log_debug("lmtpd: session=%lu: closed", s->id);
	free(s);
}

static void
set_timeout(struct sess *s, long seconds)
{
	struct timeval tv = { seconds, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static int
quota_temporary(void)
{
	return strcmp(var_lmtp_quota_status, "temporary") == 0;
}

static void
over_quota_reply(struct sess *s, const char *addr)
{
	if (quota_temporary())
		reply(s, "452 4.2.2 <%s>: Mailbox full: over quota", addr);
	else
		reply(s, "552 5.2.2 <%s>: Mailbox full: over quota", addr);
}

/* ---- commands ---- */

static void
cmd_lhlo(struct sess *s, const char *arg)
{
	if (arg[0] == '\0') {
		error_reply(s, "501 5.5.4 Syntax: LHLO hostname");
		return;
	}
	txn_reset(s);
	s->state = S_READY;
	reply(s, "250-%s", proc_hostname());
	reply(s, "250-PIPELINING");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-8BITMIME");
	reply(s, "250-SMTPUTF8");
	reply(s, "250-SIZE %ld", var_message_size_limit);
	/* Duplicate detection: qmgr names its deliveries (see lmtpd.h). */
	reply(s, "250 XQID");
}

static int
xqid_valid(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > XQID_MAX)
		return 0;
	for (; *v != '\0'; v++)
		if (!((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') ||
		    *v == '.' || *v == '-' || *v == '_'))
			return 0;
	return 1;
}

static void
cmd_mail(struct sess *s, const char *arg)
{
	char key[32], value[512], *addr = NULL;
	const char *params, *error;
	long long size = -1;
	int routed, rc;

	if (s->state == S_GREET) {
		error_reply(s, "503 5.5.1 Error: send LHLO first");
		return;
	}
	if (s->state != S_READY) {
		error_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (smtp_addr_parse(arg, "FROM:", 1, 1, &addr, &params, &routed, &error) < 0) {
		error_reply(s, "%s", error);
		return;
	}
	s->xqid[0] = '\0';
	while ((rc = smtp_param_next(&params, key, sizeof(key), value, sizeof(value))) > 0) {
		if (strcmp(key, "SIZE") == 0) {
			char *end;
			errno = 0;
			size = strtoll(value, &end, 10);
			if (value[0] == '\0' || *end != '\0' || errno != 0 || size < 0) {
				error_reply(s, "501 5.5.4 Bad SIZE parameter");
				goto out;
			}
		} else if (strcmp(key, "BODY") == 0) {
			if (str_casecmp(value, "7BIT") != 0 && str_casecmp(value, "8BITMIME") != 0) {
				error_reply(s, "501 5.5.4 Bad BODY parameter");
				goto out;
			}
		} else if (strcmp(key, "SMTPUTF8") == 0 && value[0] == '\0') {
			/* UTF-8 addresses are taken anyway. */
		} else if (strcmp(key, "XQID") == 0) {
			if (!xqid_valid(value)) {
				error_reply(s, "501 5.5.4 Bad XQID parameter (1 to %d letters, digits, "
				    "'.', '-', '_')", XQID_MAX);
				goto out;
			}
			str_copy(s->xqid, value, sizeof(s->xqid));
		} else {
			error_reply(s, "555 5.5.4 Unsupported option: %s", key);
			goto out;
		}
	}
	if (rc < 0) {
		error_reply(s, "501 5.5.4 Bad MAIL parameter syntax");
		goto out;
	}
	if (var_message_size_limit > 0 && size > var_message_size_limit) {
		reply(s, "552 5.3.4 Message size exceeds fixed limit");
		goto out;
	}
	s->sender = addr;
	addr = NULL;
	s->size_hint = size;
	s->state = S_MAIL;
	reply(s, "250 2.1.0 Ok");
out:
	free(addr);
	if (s->state != S_MAIL)
		s->xqid[0] = '\0';
}

/*
 * Accounts' indexes stay open between deliveries (the least recently used
 * goes when the cache is full): opening one parses its schema and
 * prepares statements again, and the last close of a WAL database
 * checkpoints it, a few fsyncs per delivery for nothing.
 */
#define ACCT_CACHE_SIZE 64

static struct {
	struct mstore_account *a;
	unsigned long used;
} acct_cache[ACCT_CACHE_SIZE];
static unsigned long acct_tick;

static struct mstore_account *
acct_get(const char *account, int create, int *status_r, const char **error_r)
{
	struct mstore_account *a;
	size_t victim = 0;

	for (size_t i = 0; i < ACCT_CACHE_SIZE; i++) {
		if (acct_cache[i].a != NULL &&
		    str_casecmp(mstore_account_name(acct_cache[i].a), account) == 0) {
			acct_cache[i].used = ++acct_tick;
			return acct_cache[i].a;
		}
		if (acct_cache[i].a == NULL || acct_cache[i].used < acct_cache[victim].used)
			victim = i;
		if (acct_cache[i].a == NULL)
			break;
	}
	if ((a = mstore_account_open(store, account, create, status_r, error_r)) == NULL)
		return NULL;
	/* Group commit: the rows are flushed with everyone's before the replies. */
	if (gsync != NULL)
		mstore_account_set_sync(a, MSTORE_SYNC_NONE);
	mstore_account_close(&acct_cache[victim].a);
	acct_cache[victim].a = a;
	acct_cache[victim].used = ++acct_tick;
	return a;
}

/* After a database error, the handle is not trusted again. */
static void
acct_drop(struct mstore_account *a)
{
	for (size_t i = 0; i < ACCT_CACHE_SIZE; i++)
		if (acct_cache[i].a == a)
			mstore_account_close(&acct_cache[i].a);
}

/* 1 if account could not take size more bytes, 0 if it could, -1 if unknown. */
static int
rcpt_over_quota(struct directory *dir, const char *account, long long size)
{
	struct mstore_account *a;
	uint64_t quota = account_quota(dir, account), used, msgs;
	const char *error;
	int status, over;

	if (quota == 0 || size < 0)
		return 0;
	a = acct_get(account, 0, &status, &error);
	if (a == NULL)
		return status == MSTORE_ENOTFOUND ? (uint64_t)size > quota : -1;
	over = mstore_usage(a, &used, &msgs) < 0 ? -1 : used + (uint64_t)size > quota;
	return over;
}

static void
cmd_rcpt(struct sess *s, const char *arg)
{
	char key[32], value[512], target[ADDR_SIZE], *addr = NULL;
	const char *params, *error;
	struct directory *dir;
	enum dir_rcpt res;
	int routed, rc;

	if (s->state != S_MAIL) {
		error_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (smtp_addr_parse(arg, "TO:", 0, 1, &addr, &params, &routed, &error) < 0) {
		error_reply(s, "%s", error);
		return;
	}
	if ((rc = smtp_param_next(&params, key, sizeof(key), value, sizeof(value))) != 0) {
		if (rc < 0)
			error_reply(s, "501 5.5.4 Bad RCPT parameter syntax");
		else
			error_reply(s, "555 5.5.4 Unsupported option: %s", key);
		goto out;
	}
	if (var_smtpd_recipient_limit > 0 && s->nrcpts >= (size_t)var_smtpd_recipient_limit) {
		reply(s, "452 4.5.3 Error: too many recipients");
		goto out;
	}
	if ((dir = directory_shared()) == NULL) {
		log_warnx("lmtpd: qid=%s to=<%s>: no directory: deferred", qid_of(s), addr);
		reply(s, "451 4.3.0 <%s>: Temporary lookup failure", addr);
		goto out;
	}
	if (directory_recipient(dir, addr, &res, target, sizeof(target)) < 0) {
		reply(s, "451 4.3.0 <%s>: Temporary lookup failure", addr);
		goto out;
	}
	/* Refused recipients are not protocol errors: a queue may hold many. */
	if (res == DIR_RCPT_DISABLED) {
		reply(s, "550 5.2.1 <%s>: Mailbox disabled", addr);
		goto out;
	}
	if (res != DIR_RCPT_ACCOUNT || target[0] == '\0') {
		reply(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown in local "
		    "recipient table", addr);
		goto out;
	}
	switch (rcpt_over_quota(dir, target, s->size_hint)) {
	case 1:
		log_info("lmtpd: qid=%s to=<%s> account=%s size=%lld: over quota at RCPT", qid_of(s),
		    addr, target, s->size_hint);
		over_quota_reply(s, addr);
		goto out;
	case -1:
		reply(s, "451 4.3.0 <%s>: Temporary failure reading the mailbox", addr);
		goto out;
	default:
		break;
	}
	s->rcpts = xrealloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
	memset(&s->rcpts[s->nrcpts], 0, sizeof(*s->rcpts));
	s->rcpts[s->nrcpts].addr = addr;
	str_copy(s->rcpts[s->nrcpts].account, target, ADDR_SIZE);
	s->nrcpts++;
	addr = NULL;
	reply(s, "250 2.1.5 Ok");
out:
	free(addr);
}

static void
cmd_data(struct sess *s, const char *arg)
{
	const char *error;
	char *head;

	if (s->state != S_MAIL) {
		error_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (arg[0] != '\0') {
		error_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->nrcpts == 0) {
		/* RFC 2033 4.2: DATA without an accepted recipient fails with 503. */
		error_reply(s, "503 5.5.1 Error: no valid recipients");
		return;
	}
	if ((s->w = mstore_blob_begin(store, &error)) == NULL) {
		log_warnx("lmtpd: qid=%s: %s", qid_of(s), error);
		reply(s, "451 4.3.0 Error: cannot store the message now");
		txn_reset(s);
		return;
	}
	/* The only header lmtpd adds: the same for every recipient. */
	head = xasprintf("Return-Path: <%s>\r\n", s->sender);
	s->bytes = 0;
	s->too_big = s->write_failed = 0;
	if (mstore_blob_write(s->w, head, strlen(head)) < 0)
		s->write_failed = 1;
	free(head);
	s->bol = 1;
	s->state = S_DATA;
	set_timeout(s, var_smtpd_data_timeout);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
command(struct sess *s, char *line, size_t len)
{
	struct smtp_command cmd;
	const char *error;

	if (smtp_command_parse(line, len, &cmd, &error) < 0) {
		error_reply(s, "%s", error);
		return;
	}
	log_debug("lmtpd: session=%lu < %.*s", s->id, (int)(len > 200 ? 200 : len), line);
	if (cmd.cmd == SMTP_CMD_UNKNOWN && len >= 4 && str_ncasecmp(line, "LHLO", 4) == 0 &&
	    (len == 4 || line[4] == ' ')) {
		cmd_lhlo(s, cmd.arg);
		return;
	}
	switch (cmd.cmd) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		error_reply(s, "500 5.5.1 Error: this is LMTP: say LHLO");
		return;
	case SMTP_CMD_MAIL:
		cmd_mail(s, cmd.arg);
		return;
	case SMTP_CMD_RCPT:
		cmd_rcpt(s, cmd.arg);
		return;
	case SMTP_CMD_DATA:
		cmd_data(s, cmd.arg);
		return;
	case SMTP_CMD_RSET:
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
		return;
	case SMTP_CMD_NOOP:
		reply(s, "250 2.0.0 Ok");
		return;
	case SMTP_CMD_VRFY:
		reply(s, "252 2.0.0 Send some mail, I'll try my best");
		return;
	case SMTP_CMD_QUIT:
		reply(s, "221 2.0.0 Bye");
		s->state = S_CLOSING;
		return;
	case SMTP_CMD_HTTP:
		reply(s, "421 4.7.0 %s Error: this is not HTTP", proc_hostname());
		s->state = S_CLOSING;
		return;
	default:
		error_reply(s, "502 5.5.2 Error: command not recognized");
		return;
	}
}

/* ---- the end of DATA: deliver ---- */

/* The message as stored, mapped once for the recipients' Sieve scripts. */
struct mapped {
	void *p;
	size_t len;
};

static void
map_blob(struct sess *s, const char *blob, struct mapped *m)
{
	const char *error;
	uint64_t size;
	void *p;
	int fd = mstore_blob_open(store, blob, &size, &error);

	if (fd < 0) {
		log_warnx("lmtpd: qid=%s: %s: no Sieve filtering", qid_of(s), error);
		return;
	}
	p = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (p == MAP_FAILED)
		log_warn("lmtpd: qid=%s: mmap of the message: no Sieve filtering", qid_of(s));
	else {
		m->p = p;
		m->len = (size_t)size;
	}
	close(fd);
}

/* mailboxexists (RFC 5490) asks the recipient's index. */
static int
sieve_mailbox_exists(void *ctx, const char *name)
{
	struct mstore_mailbox mb;
	char norm[MSTORE_NAME_MAX];
	const char *error;

	if (mstore_mailbox_name_check(name, norm, sizeof(norm)) < 0)
		return 0;
	return mstore_mailbox_get(ctx, norm, 0, &mb, &error) == 0;
}

/*
 * Where a keep or fileinto goes: its mailbox (made with :create), or
 * INBOX when it has none.  The mailbox's id, or -1 when the index cannot
 * be read (deferred).
 */
static int64_t
target_mailbox(struct sess *s, const struct rcpt *r, struct mstore_account *a,
    const struct sieve_action *act, char *name_r, size_t size)
{
	struct mstore_mailbox mb;
	char norm[MSTORE_NAME_MAX];
	const char *error;
	int rc;

	if (act->kind == SIEVE_FILEINTO) {
		if (mstore_mailbox_name_check(act->mailbox, norm, sizeof(norm)) < 0) {
			log_info("lmtpd: qid=%s to=<%s> account=%s sieve: fileinto \"%s\": not a mailbox "
			    "name: into INBOX", qid_of(s), r->addr, r->account, act->mailbox);
			goto inbox;
		}
		rc = mstore_mailbox_get(a, norm, 0, &mb, &error);
		if (rc == MSTORE_ENOTFOUND && act->create) {
			rc = mstore_mailbox_create(a, norm, MSTORE_SPECIAL_NONE, &error);
			if (rc == 0)
				log_info("lmtpd: qid=%s account=%s sieve: fileinto :create made mailbox "
				    "\"%s\"", qid_of(s), r->account, norm);
			if (rc == 0 || rc == MSTORE_EEXISTS)
				rc = mstore_mailbox_get(a, norm, 0, &mb, &error);
		}
		if (rc == 0) {
			str_copy(name_r, mb.name, size);
			return mb.id;
		}
		if (rc == MSTORE_ENOTFOUND || rc == MSTORE_EINVAL) {
			log_info("lmtpd: qid=%s to=<%s> account=%s sieve: fileinto \"%s\": no such "
			    "mailbox%s: into INBOX", qid_of(s), r->addr, r->account, norm,
			    act->create ? "" : " (no :create)");
			goto inbox;
		}
		log_warnx("lmtpd: qid=%s account=%s: %s", qid_of(s), r->account, error);
		return -1;
	}
inbox:
	if (mstore_mailbox_get(a, "INBOX", 0, &mb, &error) < 0) {
		log_warnx("lmtpd: qid=%s account=%s: %s", qid_of(s), r->account, error);
		return -1;
	}
	str_copy(name_r, mb.name, size);
	return mb.id;
}

/* A reject's reason as one line of an LMTP reply: printable ASCII, bounded. */
static void
reply_text(const char *reason, char *out, size_t size)
{
	size_t n = 0;

	for (; *reason != '\0' && n + 1 < size && n < 200; reason++) {
		unsigned char ch = (unsigned char)*reason;
		if (ch == '\r' || ch == '\n' || ch == '\t')
			ch = ' ';
		if (ch < 0x20 || ch >= 0x7f)
			ch = '?';
		if (ch == ' ' && (n == 0 || out[n - 1] == ' '))
			continue;
		out[n++] = (char)ch;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (n == 0)
		str_copy(out, "Refused by the recipient's mail filter", size);
}

/* A recipient's reply after DATA, kept until its delivery is durable. */
static void
rcpt_reply(struct rcpt *r, int durable, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
rcpt_reply(struct rcpt *r, int durable, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(r->reply);
	r->reply = xstrdup(buf);
	r->durable = durable;
}

static void
rcpt_over_quota_reply(struct rcpt *r)
{
	if (quota_temporary())
		rcpt_reply(r, 0, "452 4.2.2 <%s>: Mailbox full: over quota", r->addr);
	else
		rcpt_reply(r, 0, "552 5.2.2 <%s>: Mailbox full: over quota", r->addr);
}

struct outcome {
	int saved, dup, quota, failed, tempfail;
	uint32_t uid;		/* of the first message saved (or found saved) */
	char box[MSTORE_NAME_MAX];
	int redirected, discarded;
	char redirect_qid[QUEUE_ID_SIZE];
};

/* Append the message for r into mailbox mbox with act's flags. */
static void
save(struct sess *s, const struct rcpt *r, struct mstore_account *a, int64_t mbox,
    const char *boxname, const struct sieve_action *act, const char *blob, uint64_t size,
    const char *id, uint64_t quota, const char *script, struct outcome *o)
{
	struct mstore_append in;
	const char *error;
	uint32_t uid = 0;
	int rc;

	memset(&in, 0, sizeof(in));
	in.blob = blob;
	in.size = size;
	in.delivered_to = r->addr;
	in.quota = quota;
	in.delivery_id = id;
	if (act != NULL) {
		in.flags = act->flags;
		in.keywords = act->keywords;
	}
	rc = mstore_append(a, mbox, &in, &uid, NULL, &error);
	switch (rc) {
	case 0:
		log_info("lmtpd: qid=%s from=<%s> to=<%s> account=%s%s%s%s%s uid=%u size=%llu "
		    "blob=%.16s status=saved", qid_of(s), s->sender, r->addr, r->account,
		    script[0] != '\0' ? " sieve=" : "", script, strcmp(boxname, "INBOX") != 0 ?
		    " mailbox=" : "", strcmp(boxname, "INBOX") != 0 ? boxname : "", uid,
		    (unsigned long long)size, blob);
		if (o->saved++ == 0 && o->dup == 0) {
			o->uid = uid;
			str_copy(o->box, boxname, sizeof(o->box));
		}
		break;
	case MSTORE_DUPLICATE:
		log_info("lmtpd: qid=%s to=<%s> account=%s uid=%u status=duplicate (saved "
		    "before: not saved again)", qid_of(s), r->addr, r->account, uid);
		if (o->dup++ == 0 && o->saved == 0) {
			o->uid = uid;
			str_copy(o->box, boxname, sizeof(o->box));
		}
		break;
	case MSTORE_EQUOTA:
		log_info("lmtpd: qid=%s from=<%s> to=<%s> account=%s size=%llu status=%s "
		    "(over quota)", qid_of(s), s->sender, r->addr, r->account,
		    (unsigned long long)size, quota_temporary() ? "deferred" : "refused");
		o->quota++;
		break;
	default:
		log_warnx("lmtpd: qid=%s to=<%s> account=%s: %s: deferred", qid_of(s), r->addr,
		    r->account, error);
		o->failed++;
		break;
	}
}

/*
 * One recipient: its Sieve script's actions (or the keep alone), each
 * mailbox append holding one reference of the blob, then its reply.
 */
static void
deliver_rcpt(struct sess *s, struct rcpt *r, const char *blob, uint64_t size,
    struct directory *dir, const struct mapped *map)
{
	static const struct sieve_action keep = { .kind = SIEVE_KEEP, .keywords = (char *)"" };
	struct mstore_account *a;
	struct sieve_result res;
	struct sieve_message msg;
	struct sieve_env env;
	const struct sieve_action *acts = &keep, *reject = NULL, **stores = NULL;
	struct outcome o;
	char id[XQID_MAX + ADDR_SIZE + MSTORE_NAME_MAX + 3], lower[ADDR_SIZE];
	char script[SIEVE_NAME_MAX + 1] = "", box[MSTORE_NAME_MAX];
	int64_t *done;
	size_t nacts = 1, nstores = 0, ndone = 0;
	int kept = 0, loops = 0;
	uint64_t quota = account_quota(dir, r->account);
	const char *error;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	if ((a = acct_get(r->account, 1, NULL, &error)) == NULL) {
		log_warnx("lmtpd: qid=%s to=<%s> account=%s: %s: deferred", qid_of(s), r->addr,
		    r->account, error);
		rcpt_reply(r, 0, "451 4.3.0 <%s>: Error: cannot open the mailbox now", r->addr);
		(void)mstore_blob_unref(store, blob, 1, &error);
		return;
	}
	msg.data = map->p;
	msg.len = map->len;
	msg.env_from = s->sender;
	msg.env_to = r->addr;
	env.ctx = a;
	env.mailbox_exists = sieve_mailbox_exists;
	if (map->p != NULL && lmtpd_sieve_run(store, qid_of(s), r->account, &msg, &env, &res,
	    script, sizeof(script)) == 1) {
		acts = res.actions;
		nacts = res.n;
	} else {
		script[0] = '\0';
	}
	/*
	 * What goes into mailboxes: keep and fileinto, and a keep for a
	 * redirect that would loop (RFC 5228 4.2: the message stays here).
	 */
	stores = xcalloc(nacts + 1, sizeof(*stores));
	for (size_t k = 0; k < nacts; k++) {
		if (acts[k].kind == SIEVE_KEEP || acts[k].kind == SIEVE_FILEINTO)
			stores[nstores++] = &acts[k];
		if (acts[k].kind == SIEVE_KEEP)
			kept = 1;
	}
	for (size_t k = 0; k < nacts; k++) {
		const char *why;
		if (acts[k].kind != SIEVE_REDIRECT ||
		    (why = lmtpd_sieve_redirect_loop(&msg, r->account)) == NULL)
			continue;
		log_warnx("lmtpd: qid=%s account=%s sieve=%s redirect=<%s>: mail loop (%s): kept",
		    qid_of(s), r->account, script, acts[k].address, why);
		loops = 1;
		if (!kept) {
			stores[nstores++] = &keep;
			kept = 1;
		}
	}
	/* The blob holds one reference for this recipient: one per append. */
	if (nstores == 0)
		(void)mstore_blob_unref(store, blob, 1, &error);
	else if (nstores > 1 && mstore_blob_ref(store, blob, (unsigned int)(nstores - 1),
	    &error) < 0) {
		log_warnx("lmtpd: qid=%s account=%s: %s: deferred", qid_of(s), r->account, error);
		rcpt_reply(r, 0, "451 4.3.0 <%s>: Error: cannot save the message now", r->addr);
		(void)mstore_blob_unref(store, blob, 1, &error);
		goto out;
	}
	str_copy(lower, r->addr, sizeof(lower));
	str_lower(lower);
	done = xcalloc(nstores + 1, sizeof(*done));
	for (size_t k = 0; k < nstores; k++) {
		const struct sieve_action *act = stores[k];
		int64_t mbox;
		size_t j;

		mbox = target_mailbox(s, r, a, act, box, sizeof(box));
		for (j = 0; mbox >= 0 && j < ndone; j++)
			if (done[j] == mbox)
				break;
		if (mbox < 0 || j < ndone) {
			/* Deferred, or a second copy into one mailbox: its reference goes back. */
			(void)mstore_blob_unref(store, blob, 1, &error);
			if (mbox < 0)
				o.failed++;
			continue;
		}
		done[ndone++] = mbox;
		/* INBOX keeps the id of a delivery without Sieve; others add the mailbox. */
		if (s->xqid[0] != '\0') {
			if (strcmp(box, "INBOX") == 0)
				snprintf(id, sizeof(id), "%s %s", s->xqid, lower);
			else
				snprintf(id, sizeof(id), "%s %s %s", s->xqid, lower, box);
		}
		save(s, r, a, mbox, box, act, blob, size, s->xqid[0] != '\0' ? id : NULL, quota,
		    script, &o);
	}
	free(done);
	/* The actions that send mail, and the rest. */
	for (size_t k = 0; k < nacts; k++) {
		const struct sieve_action *act = &acts[k];
		char qid[QUEUE_ID_SIZE];

		switch (act->kind) {
		case SIEVE_REDIRECT:
			if (loops)
				break;
			if (lmtpd_sieve_redirect(&msg, r->account, act->address, qid, &error) < 0) {
				log_warnx("lmtpd: qid=%s account=%s sieve=%s redirect=<%s>: %s: deferred",
				    qid_of(s), r->account, script, act->address, error);
				o.tempfail = 1;
				break;
			}
			log_info("lmtpd: qid=%s from=<%s> to=<%s> account=%s sieve=%s redirect=<%s> "
			    "status=redirected (qid=%s)", qid_of(s), s->sender, r->addr, r->account,
			    script, act->address, qid);
			if (o.redirected++ == 0)
				str_copy(o.redirect_qid, qid, sizeof(o.redirect_qid));
			break;
		case SIEVE_VACATION:
			lmtpd_sieve_vacation(store, qid_of(s), r->account, &msg, act);
			break;
		case SIEVE_REJECT:
			reject = act;
			break;
		case SIEVE_DISCARD:
			o.discarded = 1;
			break;
		default:
			break;
		}
	}
	if (o.failed > 0 || o.tempfail) {
		if (o.failed > 0)
			acct_drop(a);
		rcpt_reply(r, 0, "451 4.3.0 <%s>: Error: cannot %s the message now", r->addr,
		    o.failed > 0 ? "save" : "forward");
	} else if (reject != NULL) {
		char why[256];
		reply_text(reject->reason, why, sizeof(why));
		log_info("lmtpd: qid=%s from=<%s> to=<%s> account=%s sieve=%s status=rejected (%s)",
		    qid_of(s), s->sender, r->addr, r->account, script, why);
		/* RFC 5429 2.1: at LMTP time a refusal is the rejection. */
		rcpt_reply(r, 0, "550 5.7.1 <%s>: %s", r->addr, why);
	} else if (o.quota > 0 && o.saved == 0 && o.dup == 0) {
		rcpt_over_quota_reply(r);
	} else if (o.saved > 0) {
		if (strcmp(o.box, "INBOX") == 0)
			rcpt_reply(r, 1, "250 2.0.0 <%s> Saved (uid %u)", r->addr, o.uid);
		else
			rcpt_reply(r, 1, "250 2.0.0 <%s> Saved in %s (uid %u)", r->addr, o.box,
			    o.uid);
	} else if (o.dup > 0) {
		rcpt_reply(r, 1, "250 2.0.0 <%s> Already saved (uid %u)", r->addr, o.uid);
	} else if (o.redirected > 0) {
		rcpt_reply(r, 0, "250 2.0.0 <%s> Redirected by Sieve (queued as %s)", r->addr,
		    o.redirect_qid);
	} else {
		log_info("lmtpd: qid=%s from=<%s> to=<%s> account=%s sieve=%s status=discarded",
		    qid_of(s), s->sender, r->addr, r->account, script);
		rcpt_reply(r, 0, "250 2.0.0 <%s> Discarded by Sieve", r->addr);
	}
out:
	free(stores);
	sieve_result_free(&res);
}

static void deliver_saved(void *ctx, int error);

/* Step 2, once the blob and its count are durable: Sieve and the rows. */
static void
deliver_blob_synced(void *ctx, int error)
{
	struct sess *s = ctx;
	struct directory *dir = directory_shared();
	struct mapped map = { NULL, 0 };
	const char *e;
	size_t i;

	if (error != 0) {
		log_warnx("lmtpd: qid=%s: flushing the message to disk: %s: deferred", qid_of(s),
		    strerror(error));
		for (i = 0; i < s->nrcpts; i++)
			rcpt_reply(&s->rcpts[i], 0, "451 4.3.0 <%s>: Error: cannot store the message "
			    "now", s->rcpts[i].addr);
		(void)mstore_blob_unref(store, s->blob, (unsigned int)s->nrcpts, &e);
		deliver_saved(s, 0);
		return;
	}
	map_blob(s, s->blob, &map);
	for (i = 0; i < s->nrcpts; i++)
		deliver_rcpt(s, &s->rcpts[i], s->blob, s->blob_size, dir, &map);
	if (map.p != NULL)
		munmap(map.p, map.len);
	if (gsync != NULL)
		group_sync_submit(gsync, deliver_saved, s);
	else
		deliver_saved(s, 0);
}

/* Step 3, once the rows are durable: the replies, in RCPT order. */
static void
deliver_saved(void *ctx, int error)
{
	struct sess *s = ctx;

	if (error != 0)
		log_warnx("lmtpd: qid=%s: flushing the index to disk: %s: the saved recipients "
		    "are deferred (a retry finds what reached the disk)", qid_of(s),
		    strerror(error));
	for (size_t i = 0; i < s->nrcpts; i++) {
		struct rcpt *r = &s->rcpts[i];
		if (s->gone)
			continue;
		if (error != 0 && r->durable)
			reply(s, "451 4.3.0 <%s>: Error: cannot store the message now", r->addr);
		else
			reply(s, "%s", r->reply != NULL ? r->reply :
			    "451 4.3.0 Error: cannot store the message now");
	}
	if (s->gone)
		log_info("lmtpd: session=%lu qid=%s: delivery finished after the client left: "
		    "no replies (a retry with the same XQID finds it saved)", s->id, qid_of(s));
	delivering--;
	txn_reset(s);
	if (gsync == NULL)
		return;		/* lmtp_sync = fsync: sess_process goes on */
	/* Back from a flush: the session reads again (input may be waiting). */
	if (s->gone || stopping) {
		/* Stopping: the replies go if the socket takes them now, else qmgr retries. */
		if (!s->gone)
			(void)evbuffer_write(bufferevent_get_output(s->bev), bufferevent_getfd(s->bev));
		sess_free(s);
		return;
	}
	bufferevent_setwatermark(s->bev, EV_READ, 0, 0);
	set_timeout(s, var_smtpd_timeout);
	sess_process(s);
}

/*
 * The final dot: step 1, the blob in place and counted (fsync'd with
 * lmtp_sync = fsync), then the steps above, at once or after a flush.
 */
static void
deliver(struct sess *s)
{
	const char *error;
	size_t i;
	int rc;

	STATS_INC(lmtp_messages);
	if (s->too_big) {
		mstore_blob_abort(&s->w);
		for (i = 0; i < s->nrcpts; i++)
			reply(s, "552 5.3.4 <%s>: Message size exceeds fixed limit", s->rcpts[i].addr);
		log_info("lmtpd: qid=%s from=<%s>: message too big (over %ld bytes): refused",
		    qid_of(s), s->sender, var_message_size_limit);
		txn_reset(s);
		return;
	}
	if (s->write_failed) {
		mstore_blob_abort(&s->w);
		for (i = 0; i < s->nrcpts; i++)
			reply(s, "451 4.3.0 <%s>: Error: cannot store the message now",
			    s->rcpts[i].addr);
		log_warnx("lmtpd: qid=%s: writing the message failed: deferred", qid_of(s));
		txn_reset(s);
		return;
	}
	/* One blob, counted once per recipient; each append uses one count. */
	if (gsync != NULL)
		rc = mstore_blob_commit_nosync(&s->w, (unsigned int)s->nrcpts, s->blob,
		    &s->blob_size, &error);
	else
		rc = mstore_blob_commit(&s->w, (unsigned int)s->nrcpts, s->blob, &s->blob_size,
		    &error);
	if (rc < 0) {
		log_warnx("lmtpd: qid=%s: %s: deferred", qid_of(s), error);
		for (i = 0; i < s->nrcpts; i++)
			reply(s, "451 4.3.0 <%s>: Error: cannot store the message now",
			    s->rcpts[i].addr);
		txn_reset(s);
		return;
	}
	s->state = S_DELIVER;
	delivering++;
	if (gsync == NULL) {
		deliver_blob_synced(s, 0);
		return;
	}
	/* Input waits in the buffer, bounded: a peer cannot pile up more. */
	bufferevent_setwatermark(s->bev, EV_READ, 0, DATA_CHUNK);
	group_sync_submit(gsync, deliver_blob_synced, s);
}

/* ---- DATA ---- */

static void
data_bytes(struct sess *s, const char *p, size_t n)
{
	if (s->too_big || s->write_failed)
		return;
	s->bytes += n;
	if (var_message_size_limit > 0 && s->bytes > (uint64_t)var_message_size_limit) {
		s->too_big = 1;
		return;
	}
	if (mstore_blob_write(s->w, p, n) < 0)
		s->write_failed = 1;
}

/* Consume message lines; 1 when the final dot was seen. */
static int
data_read(struct sess *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	char buf[DATA_CHUNK];

	for (;;) {
		size_t eol_len = 0, avail = evbuffer_get_length(in), n;
		struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		size_t len = p.pos >= 0 ? (size_t)p.pos : avail;

		if (p.pos < 0 && avail < sizeof(buf))
			return 0;
		if (len >= sizeof(buf)) {
			/* A very long line: a piece of it, never cutting a CR from its LF. */
			n = sizeof(buf) - 1;
			evbuffer_copyout(in, buf, n);
			if (buf[n - 1] == '\r')
				n--;
			evbuffer_drain(in, n);
			if (s->bol && buf[0] == '.')
				data_bytes(s, buf + 1, n - 1);
			else
				data_bytes(s, buf, n);
			s->bol = 0;
			continue;
		}
		evbuffer_remove(in, buf, len);
		evbuffer_drain(in, eol_len);
		if (s->bol && len == 1 && buf[0] == '.')
			return 1;
		if (s->bol && len > 0 && buf[0] == '.')
			data_bytes(s, buf + 1, len - 1);
		else
			data_bytes(s, buf, len);
		data_bytes(s, "\r\n", 2);
		s->bol = 1;
	}
}

/* ---- the session ---- */

static void
sess_process(struct sess *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (s->state != S_CLOSING) {
		if (s->state == S_DELIVER)
			return;		/* deliver_saved() comes back here */
		if (s->state == S_DATA) {
			if (!data_read(s))
				return;
			deliver(s);
			if (s->state == S_DELIVER)
				return;
			set_timeout(s, var_smtpd_timeout);
			continue;
		}
		{
			size_t eol_len = 0, limit = (size_t)var_smtpd_line_length_limit;
			struct evbuffer_ptr p = evbuffer_search_eol(in, NULL, &eol_len,
			    EVBUFFER_EOL_CRLF);
			char *line;

			if (limit < 512)
				limit = 512;
			if (p.pos < 0) {
				if (evbuffer_get_length(in) > limit) {
					reply(s, "500 5.5.2 Error: line too long");
					log_info("lmtpd: session=%lu: command line longer than %zu bytes: "
					    "closing", s->id, limit);
					s->state = S_CLOSING;
				}
				return;
			}
			if ((size_t)p.pos + eol_len > limit) {
				evbuffer_drain(in, (size_t)p.pos + eol_len);
				error_reply(s, "500 5.5.2 Error: line too long");
				continue;
			}
			line = xmalloc((size_t)p.pos + 1);
			evbuffer_remove(in, line, (size_t)p.pos);
			line[p.pos] = '\0';
			evbuffer_drain(in, eol_len);
			command(s, line, (size_t)p.pos);
			free(line);
		}
	}
	/* Closing: stop reading; on_write frees the session once the replies are out. */
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		sess_free(s);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	sess_process(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;

	if (s->state == S_CLOSING && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		sess_free(s);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;

	if (s->state == S_DELIVER) {
		/* The flush's callback holds the session: it frees it. */
		if (!s->gone)
			log_info("lmtpd: session=%lu qid=%s: %s while the message was being saved: "
			    "saving it anyway, without replies", s->id, qid_of(s),
			    (what & BEV_EVENT_TIMEOUT) ? "timeout" : "connection lost");
		s->gone = 1;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_info("lmtpd: session=%lu qid=%s: timeout%s: closing", s->id, qid_of(s),
		    s->state == S_DATA ? " in DATA (nothing saved)" : "");
		if (s->state != S_CLOSING) {
			reply(s, "421 4.4.2 %s Error: timeout exceeded", proc_hostname());
			s->state = S_CLOSING;
			bufferevent_set_timeouts(bev, NULL, NULL);
			bufferevent_disable(bev, EV_READ);
			bufferevent_enable(bev, EV_WRITE);
			return;
		}
	} else if (s->state == S_DATA) {
		log_info("lmtpd: session=%lu qid=%s: connection lost in DATA: nothing saved", s->id,
		    qid_of(s));
	} else if ((what & BEV_EVENT_ERROR) && errno != ECONNRESET && errno != EPIPE) {
		log_warn("lmtpd: session=%lu", s->id);
	}
	sess_free(s);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct sess *s = xcalloc(1, sizeof(*s));

	net_nodelay(fd);
	s->id = ++next_id;
	s->size_hint = -1;
	s->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_warnx("lmtpd: cannot serve a new connection");
		evutil_closesocket(fd);
		free(s);
		return;
	}
	TAILQ_INSERT_TAIL(&sessions, s, link);
	bufferevent_setcb(s->bev, on_read, on_write, on_event, s);
	set_timeout(s, var_smtpd_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_debug("lmtpd: session=%lu: connected", s->id);
	reply(s, "220 %s LMTP facteur", proc_hostname());
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	log_warn("lmtpd: accept");
}

/* ---- the socket ---- */

/* Only mail_owner (qmgr) and its group may deliver into the store. */
int
lmtpd_bind(const char *spec, char *path_r, size_t size, const char **error_r)
{
	return net_listen_spec("lmtp_listen", spec, 0660, path_r, size, error_r);
}

void
lmtpd_start(struct event_base *base, int fd, struct mstore *ms)
{
	const char *error;

	store = ms;
	loop_base = base;
	if (strcmp(var_lmtp_sync, "group") == 0) {
		char blobs[4096], accounts[4096];
		const char *dirs[3] = { mstore_default_dir(), blobs, accounts };

		/* blobs/ and accounts/ may be mounts of their own: each is flushed. */
		snprintf(blobs, sizeof(blobs), "%s/blobs", dirs[0]);
		snprintf(accounts, sizeof(accounts), "%s/accounts", dirs[0]);
		if ((gsync = group_sync_new(base, dirs, 3, &stats->lmtp_syncs, &error)) == NULL)
			fatalx("lmtpd: %s", error);
	}
	listener = evconnlistener_new(base, on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (listener == NULL)
		fatal("lmtpd: cannot serve the listening socket");
	evconnlistener_set_error_cb(listener, on_accept_error);
}

void
lmtpd_stop(void)
{
	struct sess *s, *next;

	stopping = 1;
	if (listener != NULL)
		evconnlistener_free(listener);
	listener = NULL;
	/* Deliveries in flight finish (their flushes hold them); the rest go now. */
	for (s = TAILQ_FIRST(&sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, link);
		if (s->state != S_DELIVER)
			sess_free(s);
	}
	while (delivering > 0 && loop_base != NULL &&
	    event_base_loop(loop_base, EVLOOP_ONCE) == 0)
		;
	while (!TAILQ_EMPTY(&sessions))
		sess_free(TAILQ_FIRST(&sessions));
	group_sync_free(&gsync);
	mstore_close(&store);
}
