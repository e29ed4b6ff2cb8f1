/* SPDX-License-Identifier: MIT */
/*
 * qmgr - scheduler of deliveries.  See qmgr.h.
 */
#include "facteur-config.h"

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "lib/tls.h"
#include "bounce.h"
#include "deliver_file.h"
#include "qmgr.h"
#include "queue.h"
#include "queue_file.h"
#include "smtp_client.h"
#include "transport.h"

/* Messages held in memory at once (each keeps its queue file open). */
#define QMGR_ACTIVE_LIMIT 2000
/* Fallback scan of incoming/ when a wakeup datagram was lost. */
#define QMGR_INCOMING_SCAN 5
/* A temporary file this old was left by a crashed writer. */
#define QMGR_TEMP_MAX_AGE 3600

struct fail {
	size_t index;
	char dsn[16];
	char *text;
	int remote;
	char *mta;
};

struct qmsg {
	TAILQ_ENTRY(qmsg) link;
	char qid[QUEUE_ID_SIZE];
	int fd;
	struct queue_envelope env;
	unsigned int jobs_left;
	int hold_req, delete_req;
	struct fail *fails;
	size_t nfails;
	char *done;		/* per recipient: decided in this attempt */
};

struct dest;

struct qjob {
	TAILQ_ENTRY(qjob) link;
	struct qmsg *msg;
	struct dest *dest;
	struct smtp_txn txn;
	size_t *idx;		/* recipient indices in msg->env */
};

struct dconn {
	TAILQ_ENTRY(dconn) link;
	struct dest *dest;
	struct smtp_conn *conn;
	struct qjob *job;
	struct event *idle_timer;
	int ready;
};

struct dest {
	TAILQ_ENTRY(dest) link;
	struct transport_route route;
	TAILQ_HEAD(, qjob) jobs;
	TAILQ_HEAD(, dconn) conns;
	unsigned int njobs, nconns, nconnecting;
	int ever_connected;
	time_t dead_until;
	int dead_perm;
	char dead_dsn[16];
	char *dead_reason;
};

static struct event_base *qbase;
static TAILQ_HEAD(, qmsg) msgs = TAILQ_HEAD_INITIALIZER(msgs);
static TAILQ_HEAD(, dest) dests = TAILQ_HEAD_INITIALIZER(dests);
static unsigned int nactive;
static SSL_CTX *ssl_ctx;
static struct event *incoming_timer, *deferred_timer, *scan_ev, *wakeup_ev;
static int wakeup_fd = -1;

static void dest_run(struct dest *d);
static void msg_finish(struct qmsg *m);
static void scan_soon(void);

static double
now_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
update_gauges(void)
{
	STATS_SET(queue_active, nactive);
}

/*
 * The gauge of a state a message has just left.  qmgr is the only writer of
 * these; the scans set them to the directories' counts, and in between each
 * move is counted where it happens, source first, so the queue's total never
 * reads higher than the files in it.
 */
static void
gauge_left(enum queue_state state)
{
	switch (state) {
	case Q_INCOMING:
		if (stats->queue_incoming > 0)
			STATS_DEC(queue_incoming);
		break;
	case Q_DEFERRED:
		if (stats->queue_deferred > 0)
			STATS_DEC(queue_deferred);
		break;
	case Q_HOLD:
		if (stats->queue_hold > 0)
			STATS_DEC(queue_hold);
		break;
	default:
		break;
	}
}

/* ---- per-recipient outcomes ---- */

static void
rcpt_delivered(struct qmsg *m, size_t i, const char *relay, const char *dsn, const char *text)
{
	struct queue_rcpt *r = &m->env.rcpts[i];

	if (queue_file_set_status(m->fd, r, RCPT_DELIVERED) < 0 ||
	    queue_file_append_log(m->fd, i, 'D', dsn, text) < 0)
		log_warn("qid=%s cannot update queue file", m->qid);
	r->status = RCPT_DELIVERED;
	m->done[i] = 1;
	STATS_INC(qmgr_delivered);
	report_count(r->addr, REPORT_delivered, 1);
	log_info("qid=%s to=<%s> relay=%s delay=%.2f dsn=%s status=sent (%s)", m->qid, r->addr, relay,
	    now_f() - (double)m->env.arrival, dsn, text);
}

static void
rcpt_deferred(struct qmsg *m, size_t i, const char *relay, const char *dsn, const char *text)
{
	struct queue_rcpt *r = &m->env.rcpts[i];

	if (queue_file_append_log(m->fd, i, 'T', dsn, text) < 0)
		log_warn("qid=%s cannot update queue file", m->qid);
	free(r->last_dsn);
	free(r->last_text);
	r->last_dsn = xstrdup(dsn);
	r->last_text = xstrdup(text);
	m->done[i] = 1;
	STATS_INC(qmgr_deferred);
	report_count(r->addr, REPORT_deferred, 1);
	log_info("qid=%s to=<%s> relay=%s delay=%.2f dsn=%s status=deferred (%s)", m->qid, r->addr,
	    relay, now_f() - (double)m->env.arrival, dsn, text);
}

static void
rcpt_failed(struct qmsg *m, size_t i, const char *relay, const char *dsn, const char *text,
    int remote, const char *mta, const char *logtext)
{
	struct queue_rcpt *r = &m->env.rcpts[i];
	struct fail *f;

	m->fails = xrealloc(m->fails, (m->nfails + 1) * sizeof(*m->fails));
	f = &m->fails[m->nfails++];
	f->index = i;
	str_copy(f->dsn, dsn, sizeof(f->dsn));
	f->text = xstrdup(text);
	f->remote = remote;
	f->mta = mta != NULL ? xstrdup(mta) : NULL;
	m->done[i] = 1;
	log_info("qid=%s to=<%s> relay=%s delay=%.2f dsn=%s status=bounced (%s)", m->qid, r->addr,
	    relay, now_f() - (double)m->env.arrival, dsn, logtext != NULL ? logtext : text);
}

/* ---- messages ---- */

static void
msg_free(struct qmsg *m)
{
	TAILQ_REMOVE(&msgs, m, link);
	nactive--;
	if (m->fd >= 0)
		close(m->fd);
	for (size_t i = 0; i < m->nfails; i++) {
		free(m->fails[i].text);
		free(m->fails[i].mta);
	}
	free(m->fails);
	free(m->done);
	queue_envelope_free(&m->env);
	free(m);
	update_gauges();
}

static void
msg_unlink(struct qmsg *m, const char *why)
{
	char path[4096];

	queue_path(Q_ACTIVE, m->qid, path, sizeof(path));
	if (queue_reuse_put(path, m->qid) < 0 && unlink(path) < 0)
		log_warn("qid=%s unlink %s", m->qid, path);
	log_info("qid=%s removed%s%s", m->qid, why != NULL ? " " : "", why != NULL ? why : "");
	msg_free(m);
}

static struct dest *
dest_get(const struct transport_route *route)
{
	struct dest *d;

	TAILQ_FOREACH(d, &dests, link)
		if (strcmp(d->route.key, route->key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->route = *route;
	TAILQ_INIT(&d->jobs);
	TAILQ_INIT(&d->conns);
	TAILQ_INSERT_TAIL(&dests, d, link);
	return d;
}

static void
job_add(struct qmsg *m, struct dest *d, size_t *idx, size_t n)
{
	struct qjob *j = xcalloc(1, sizeof(*j));

	j->msg = m;
	j->dest = d;
	j->idx = idx;
	j->txn.qid = m->qid;
	j->txn.fd = m->fd;
	j->txn.content = &m->env;
	j->txn.content_len = QUEUE_CONTENT_SIZE(&m->env);
	j->txn.sender = m->env.sender;
	j->txn.ret = m->env.ret;
	j->txn.envid = m->env.envid;
	j->txn.nrcpts = n;
	j->txn.rcpts = xcalloc(n, sizeof(*j->txn.rcpts));
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt *r = &m->env.rcpts[idx[k]];
		j->txn.rcpts[k].addr = r->addr;
		j->txn.rcpts[k].orcpt = r->orcpt;
		j->txn.rcpts[k].notify = r->notify;
	}
	m->jobs_left++;
	TAILQ_INSERT_TAIL(&d->jobs, j, link);
	d->njobs++;
}

static void
job_free(struct qjob *j)
{
	free(j->txn.rcpts);
	free(j->idx);
	free(j);
}

/* The job ended: record what happened to each recipient. */
static void
job_done(struct qjob *j, struct smtp_conn *conn)
{
	struct qmsg *m = j->msg;
	const char *relay = conn != NULL ? smtp_conn_peer(conn) : "none";
	const char *mta = conn != NULL ? smtp_conn_host(conn) : NULL;

	for (size_t k = 0; k < j->txn.nrcpts; k++) {
		const struct smtp_txn_rcpt *r = &j->txn.rcpts[k];
		char text[1024];

		if (r->remote)
			snprintf(text, sizeof(text), "host %s said: %s (in reply to %s command)", relay,
			    r->text, r->in_reply_to != NULL ? r->in_reply_to : "a");
		else
			str_copy(text, r->text, sizeof(text));
		if (r->code / 100 == 2)
			rcpt_delivered(m, j->idx[k], relay, r->dsn, r->text);
		else if (r->code / 100 == 5 && r->dsn[0] == '5')
			rcpt_failed(m, j->idx[k], relay, r->dsn, r->text, r->remote, mta, text);
		else
			rcpt_deferred(m, j->idx[k], relay, r->dsn[0] == '4' ? r->dsn : "4.0.0", text);
	}
	job_free(j);
	if (--m->jobs_left == 0)
		msg_finish(m);
}

/* Decide every recipient of a job without a connection (dead destination). */
static void
job_fail_all(struct qjob *j, int perm, const char *dsn, const char *why)
{
	for (size_t k = 0; k < j->txn.nrcpts; k++) {
		struct smtp_txn_rcpt *r = &j->txn.rcpts[k];
		r->code = perm ? 550 : 450;
		str_copy(r->dsn, dsn, sizeof(r->dsn));
		str_copy(r->text, why, sizeof(r->text));
		r->remote = 0;
	}
	job_done(j, NULL);
}

static void
route_local(struct qmsg *m, size_t i, const struct transport_route *route)
{
	const char *error;
	char text[700];

	if (route->kind == TRANSPORT_DISCARD) {
		rcpt_delivered(m, i, "none", "2.0.0", "discarded");
		return;
	}
	if (deliver_file(route->path, &m->env, m->fd, i, &error) < 0) {
		rcpt_deferred(m, i, "local", "4.3.0", error);
		return;
	}
	snprintf(text, sizeof(text), "delivered to file: %s/%s.%zu.eml", route->path, m->qid, i);
	rcpt_delivered(m, i, "local", "2.0.0", text);
}

/* Group the pending recipients by destination into jobs. */
static void
msg_schedule(struct qmsg *m)
{
	struct transport_route *routes = xcalloc(m->env.nrcpts, sizeof(*routes));
	char *routed = xcalloc(m->env.nrcpts, 1);
	size_t limit = var_destination_recipient_limit > 0 ? (size_t)var_destination_recipient_limit : 1;
	struct dest **touched = xcalloc(m->env.nrcpts, sizeof(*touched));
	size_t ntouched = 0;

	/* A job holds a reference: no message finishes while this loop runs. */
	m->jobs_left++;
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const char *error;
		if (m->env.rcpts[i].status != RCPT_PENDING)
			continue;
		if (transport_route(m->env.rcpts[i].addr, &routes[i], &error) < 0) {
			char why[300];
			snprintf(why, sizeof(why), "mail transport unavailable: %s", error);
			rcpt_deferred(m, i, "none", "4.3.5", why);
			continue;
		}
		/* SMTP and LMTP go through the SMTP client; the others are done here. */
		if (routes[i].kind != TRANSPORT_SMTP && routes[i].kind != TRANSPORT_LMTP) {
			route_local(m, i, &routes[i]);
			continue;
		}
		routed[i] = 1;
	}
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		struct dest *d;
		size_t *idx, n = 0;

		if (!routed[i])
			continue;
		d = dest_get(&routes[i]);
		idx = xcalloc(limit, sizeof(*idx));
		for (size_t k = i; k < m->env.nrcpts && n < limit; k++) {
			if (routed[k] && strcmp(routes[k].key, routes[i].key) == 0) {
				idx[n++] = k;
				routed[k] = 0;
			}
		}
		job_add(m, d, idx, n);
		touched[ntouched++] = d;
		/* More recipients of this destination than one transaction takes. */
		if (n == limit)
			i--;
	}
	for (size_t k = 0; k < ntouched; k++)
		dest_run(touched[k]);
	free(touched);
	free(routes);
	free(routed);
	if (--m->jobs_left == 0)
		msg_finish(m);
}

static void
msg_load(const char *qid, enum queue_state from)
{
	struct qmsg *m;
	char path[4096];
	const char *error;

	if (queue_move(qid, from, Q_ACTIVE) < 0) {
		if (errno != ENOENT)
			log_warn("qid=%s cannot move to active", qid);
		return;
	}
	gauge_left(from);
	queue_path(Q_ACTIVE, qid, path, sizeof(path));
	m = xcalloc(1, sizeof(*m));
	str_copy(m->qid, qid, sizeof(m->qid));
	m->fd = open(path, O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		log_warn("qid=%s open %s", qid, path);
		free(m);
		return;
	}
	if (queue_file_read(m->fd, &m->env, &error) < 0) {
		log_warnx("qid=%s corrupt queue file (%s): moved to corrupt/", qid, error);
		close(m->fd);
		free(m);
		if (queue_move(qid, Q_ACTIVE, Q_CORRUPT) < 0)
			log_warn("qid=%s cannot move to corrupt", qid);
		return;
	}
	/* The file name is the authority (the envelope may come from a copy). */
	str_copy(m->env.qid, qid, sizeof(m->env.qid));
	m->done = xcalloc(m->env.nrcpts, 1);
	TAILQ_INSERT_TAIL(&msgs, m, link);
	nactive++;
	update_gauges();
	if (m->env.attempts == 0)
		log_info("qid=%s from=<%s> size=%lld nrcpt=%zu (queue active)", qid, m->env.sender,
		    (long long)QUEUE_CONTENT_SIZE(&m->env), m->env.nrcpts);
	msg_schedule(m);
}

static size_t
msg_pending(const struct qmsg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->env.rcpts[i].status == RCPT_PENDING)
			n++;
	return n;
}

static int
failed_index(const struct qmsg *m, size_t i)
{
	for (size_t k = 0; k < m->nfails; k++)
		if (m->fails[k].index == i)
			return 1;
	return 0;
}

/* Permanent failures of this attempt: one notice, then status F. */
static void
msg_bounce(struct qmsg *m)
{
	struct bounce_rcpt *b = xcalloc(m->nfails, sizeof(*b));
	size_t n = 0;
	char bqid[QUEUE_ID_SIZE];
	const char *error;

	for (size_t k = 0; k < m->nfails; k++) {
		const struct fail *f = &m->fails[k];
		if (!bounce_wanted(&m->env, &m->env.rcpts[f->index], BOUNCE_FAILED))
			continue;
		b[n].index = f->index;
		b[n].dsn = f->dsn;
		b[n].text = f->text;
		b[n].remote = f->remote;
		b[n].remote_mta = f->mta;
		n++;
	}
	if (n > 0) {
		if (bounce_send(&m->env, m->fd, BOUNCE_FAILED, b, n, bqid, &error) < 0) {
			/* Keep them pending: better a retry than a silent loss. */
			log_warnx("qid=%s cannot create a bounce: %s (recipients kept for retry)", m->qid,
			    error);
			free(b);
			return;
		}
		STATS_INC(qmgr_bounces_sent);
		log_info("qid=%s sender non-delivery notification: %s", m->qid, bqid);
		scan_soon();
	} else if (m->env.sender[0] == '\0') {
		log_info("qid=%s from=<> status=dropped (undeliverable bounce, not returned)", m->qid);
	}
	for (size_t k = 0; k < m->nfails; k++) {
		const struct fail *f = &m->fails[k];
		struct queue_rcpt *r = &m->env.rcpts[f->index];
		if (queue_file_set_status(m->fd, r, RCPT_FAILED) < 0 ||
		    queue_file_append_log(m->fd, f->index, 'F', f->dsn, f->text) < 0)
			log_warn("qid=%s cannot update queue file", m->qid);
		r->status = RCPT_FAILED;
		STATS_INC(qmgr_bounced);
		report_count(r->addr, REPORT_bounced, 1);
	}
	free(b);
}

static void
msg_delay_warning(struct qmsg *m)
{
	struct bounce_rcpt *b = xcalloc(m->env.nrcpts, sizeof(*b));
	char bqid[QUEUE_ID_SIZE];
	const char *error;
	size_t n = 0;

	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const struct queue_rcpt *r = &m->env.rcpts[i];
		if (r->status != RCPT_PENDING || !bounce_wanted(&m->env, r, BOUNCE_DELAYED))
			continue;
		b[n].index = i;
		b[n].dsn = r->last_dsn != NULL && r->last_dsn[0] == '4' ? r->last_dsn : "4.0.0";
		b[n].text = r->last_text != NULL ? r->last_text : "delivery temporarily suspended";
		n++;
	}
	if (n > 0) {
		if (bounce_send(&m->env, m->fd, BOUNCE_DELAYED, b, n, bqid, &error) < 0) {
			log_warnx("qid=%s cannot create a delay notice: %s", m->qid, error);
			free(b);
			return;
		}
		STATS_INC(qmgr_delay_warnings);
		log_info("qid=%s sender delay notification: %s", m->qid, bqid);
		scan_soon();
	}
	m->env.warned = 1;
	free(b);
}

static void
msg_defer(struct qmsg *m)
{
	time_t now = time(NULL);
	long delay = var_minimal_backoff_time > 0 ? var_minimal_backoff_time : 1;
	struct timespec ts[2];
	unsigned int attempts = m->env.attempts + 1;

	for (unsigned int k = 1; k < attempts && delay < var_maximal_backoff_time; k++)
		delay *= 2;
	if (delay > var_maximal_backoff_time && var_maximal_backoff_time > 0)
		delay = var_maximal_backoff_time;
	if (var_delay_warning_time > 0 && !m->env.warned && m->env.sender[0] != '\0' &&
	    now - m->env.arrival >= var_delay_warning_time)
		msg_delay_warning(m);
	if (queue_file_set_attempts(m->fd, attempts, now + delay, m->env.warned) < 0)
		log_warn("qid=%s cannot update queue file", m->qid);
	/* The mtime is the retry time: the deferred scan needs nothing else. */
	ts[0].tv_sec = now;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = now + delay;
	ts[1].tv_nsec = 0;
	if (futimens(m->fd, ts) < 0)
		log_warn("qid=%s futimens", m->qid);
	if (queue_move(m->qid, Q_ACTIVE, Q_DEFERRED) < 0) {
		log_warn("qid=%s cannot move to deferred", m->qid);
		msg_free(m);
		return;
	}
	log_debug("qid=%s deferred: attempt %u, next retry in %lds", m->qid, attempts, delay);
	msg_free(m);
	STATS_INC(queue_deferred);
}

/* Every job of this attempt is over: bounce, defer, hold or remove. */
static void
msg_finish(struct qmsg *m)
{
	time_t now = time(NULL);
	long lifetime = m->env.sender[0] == '\0' ? var_bounce_queue_lifetime :
	    var_maximal_queue_lifetime;

	if (m->delete_req) {
		msg_unlink(m, "(deleted by the administrator)");
		return;
	}
	/* Too old to keep trying: the pending recipients fail now. */
	if (msg_pending(m) > m->nfails && now - m->env.arrival >= lifetime && !m->hold_req) {
		for (size_t i = 0; i < m->env.nrcpts; i++) {
			const struct queue_rcpt *r = &m->env.rcpts[i];
			char text[900];
			if (r->status != RCPT_PENDING || failed_index(m, i))
				continue;
			snprintf(text, sizeof(text), "message expired after %ld days in the queue: %s",
			    (long)((now - m->env.arrival) / 86400), r->last_text != NULL ?
			    r->last_text : "delivery temporarily suspended");
			log_info("qid=%s to=<%s> status=expired", m->qid, r->addr);
			rcpt_failed(m, i, "none", "4.4.7", text, 0, NULL, text);
		}
	}
	if (m->nfails > 0)
		msg_bounce(m);
	if (msg_pending(m) == 0) {
		msg_unlink(m, NULL);
		return;
	}
	if (m->hold_req) {
		int held = queue_move(m->qid, Q_ACTIVE, Q_HOLD) == 0;

		if (!held)
			log_warn("qid=%s cannot move to hold", m->qid);
		log_info("qid=%s held by the administrator", m->qid);
		msg_free(m);
		if (held)
			STATS_INC(queue_hold);
		return;
	}
	msg_defer(m);
}

/* ---- destinations and connections ---- */

static void conn_cb(void *ctx, struct smtp_conn *conn, enum smtp_conn_event ev);

static void
dconn_free(struct dconn *dc)
{
	struct dest *d = dc->dest;

	TAILQ_REMOVE(&d->conns, dc, link);
	d->nconns--;
	if (!dc->ready)
		d->nconnecting--;
	if (dc->idle_timer != NULL)
		event_free(dc->idle_timer);
	smtp_conn_free(&dc->conn);
	free(dc);
}

static void
dest_gc(struct dest *d)
{
	if (d->nconns > 0 || d->njobs > 0 || d->dead_until > time(NULL))
		return;
	TAILQ_REMOVE(&dests, d, link);
	free(d->dead_reason);
	free(d);
}

static void
idle_expired(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *dc = arg;
	struct dest *d = dc->dest;

	log_debug("smtp: closing idle connection to %s", smtp_conn_peer(dc->conn));
	dconn_free(dc);
	dest_gc(d);
}

/* Give a ready connection the next job, or let it wait for one. */
static void
dconn_next(struct dconn *dc)
{
	struct dest *d = dc->dest;
	struct qjob *j = TAILQ_FIRST(&d->jobs);

	if (j == NULL) {
		struct timeval tv = { var_smtp_connection_reuse_time, 0 };
		if (dc->idle_timer == NULL)
			dc->idle_timer = evtimer_new(qbase, idle_expired, dc);
		evtimer_add(dc->idle_timer, &tv);
		return;
	}
	if (dc->idle_timer != NULL)
		evtimer_del(dc->idle_timer);
	TAILQ_REMOVE(&d->jobs, j, link);
	d->njobs--;
	dc->job = j;
	smtp_conn_send(dc->conn, &j->txn);
}

static void
dest_run(struct dest *d)
{
	struct dconn *dc;
	long limit = var_destination_concurrency_limit > 0 ? var_destination_concurrency_limit : 1;

	if (d->dead_until > time(NULL)) {
		struct qjob *j;
		/* It just failed: do not hammer it, defer without trying. */
		while ((j = TAILQ_FIRST(&d->jobs)) != NULL) {
			TAILQ_REMOVE(&d->jobs, j, link);
			d->njobs--;
			job_fail_all(j, d->dead_perm, d->dead_dsn, d->dead_reason);
		}
		return;
	}
	TAILQ_FOREACH(dc, &d->conns, link)
		if (dc->ready && dc->job == NULL && !TAILQ_EMPTY(&d->jobs))
			dconn_next(dc);
	/* Open one connection first; more once the destination has answered. */
	while (d->njobs > d->nconnecting && d->nconns < (unsigned long)limit &&
	    (d->ever_connected || d->nconnecting == 0)) {
		dc = xcalloc(1, sizeof(*dc));
		dc->dest = d;
		TAILQ_INSERT_TAIL(&d->conns, dc, link);
		d->nconns++;
		d->nconnecting++;
		dc->conn = smtp_conn_new(qbase, &d->route, conn_cb, dc);
	}
}

static void
conn_cb(void *ctx, struct smtp_conn *conn, enum smtp_conn_event ev)
{
	struct dconn *dc = ctx;
	struct dest *d = dc->dest;
	struct qjob *j;
	int perm;

	switch (ev) {
	case SMTP_CONN_READY:
		dc->ready = 1;
		d->nconnecting--;
		d->ever_connected = 1;
		dconn_next(dc);
		dest_run(d);
		return;
	case SMTP_CONN_FAILED: {
		const char *dsn, *why = smtp_conn_error(conn, &dsn, &perm);
		long dead = var_queue_run_delay < var_minimal_backoff_time ? var_queue_run_delay :
		    var_minimal_backoff_time;

		log_info("smtp: cannot use %s: %s", d->route.key, why);
		if (perm || d->nconns == 1) {
			/* Every host failed: the destination is down for a while. */
			free(d->dead_reason);
			d->dead_reason = xstrdup(why);
			str_copy(d->dead_dsn, dsn, sizeof(d->dead_dsn));
			d->dead_perm = perm;
			d->dead_until = time(NULL) + (dead > 0 ? dead : 1);
			d->ever_connected = 0;
		}
		dconn_free(dc);
		dest_run(d);
		/* The dead mark is only for the jobs of this round when it is permanent. */
		if (perm)
			d->dead_until = 0;
		dest_gc(d);
		return;
	}
	case SMTP_CONN_DONE:
		j = dc->job;
		dc->job = NULL;
		if (smtp_conn_usable(conn)) {
			job_done(j, conn);
			dconn_next(dc);
		} else {
			job_done(j, conn);
			dconn_free(dc);
		}
		dest_run(d);
		dest_gc(d);
		return;
	case SMTP_CONN_CLOSED:
		dconn_free(dc);
		dest_run(d);
		dest_gc(d);
		return;
	}
}

/* ---- scanning the queue ---- */

static struct qmsg *
msg_find(const char *qid)
{
	struct qmsg *m;

	TAILQ_FOREACH(m, &msgs, link)
		if (strcmp(m->qid, qid) == 0)
			return m;
	return NULL;
}

static DIR *
open_state(enum queue_state state)
{
	char path[4096];
	DIR *dir;

	queue_path(state, "", path, sizeof(path));
	if ((dir = opendir(path)) == NULL)
		log_warn("cannot read %s", path);
	return dir;
}

/* The queue ids in a state's directory (read first: loading renames files). */
static char **
list_state(enum queue_state state, size_t *n_r)
{
	DIR *dir = open_state(state);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	*n_r = 0;
	if (dir == NULL)
		return NULL;
	while ((de = readdir(dir)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dir);
	*n_r = n;
	return names;
}

static void
scan_incoming(void)
{
	unsigned long left = 0;
	size_t n;
	char **names = list_state(Q_INCOMING, &n);

	for (size_t i = 0; i < n; i++) {
		if (nactive >= QMGR_ACTIVE_LIMIT)
			left++;
		else
			msg_load(names[i], Q_INCOMING);
		free(names[i]);
	}
	free(names);
	STATS_SET(queue_incoming, left);
}

/* Remove temporary files a crashed writer left behind. */
static void
clean_temporary(void)
{
	DIR *dir = open_state(Q_INCOMING);
	struct dirent *de;
	time_t now = time(NULL);

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		char path[4096];
		struct stat st;

		if (strncmp(de->d_name, QUEUE_TMP_PREFIX, strlen(QUEUE_TMP_PREFIX)) != 0)
			continue;
		queue_path(Q_INCOMING, de->d_name, path, sizeof(path));
		if (stat(path, &st) == 0 && now - st.st_mtime > QMGR_TEMP_MAX_AGE) {
			log_info("removing stale temporary file %s", path);
			unlink(path);
		}
	}
	closedir(dir);
}

static unsigned long
count_state(enum queue_state state)
{
	DIR *dir = open_state(state);
	struct dirent *de;
	unsigned long n = 0;

	if (dir == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL)
		if (queue_id_valid(de->d_name))
			n++;
	closedir(dir);
	return n;
}

/* Move due messages (mtime = next retry) from deferred/ to active/. */
static void
scan_deferred(void)
{
	time_t now = time(NULL);
	unsigned long left = 0;
	size_t n;
	char **names = list_state(Q_DEFERRED, &n);

	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		queue_path(Q_DEFERRED, names[i], path, sizeof(path));
		if (stat(path, &st) == 0) {
			if (st.st_mtime > now || nactive >= QMGR_ACTIVE_LIMIT)
				left++;
			else
				msg_load(names[i], Q_DEFERRED);
		}
		free(names[i]);
	}
	free(names);
	STATS_SET(queue_deferred, left);
	STATS_SET(queue_hold, count_state(Q_HOLD));
}

static void
scan_ev_run(evutil_socket_t fd, short what, void *arg)
{
	scan_incoming();
}

/* Coalesce: many wakeups in a burst make one scan. */
static void
scan_soon(void)
{
	event_active(scan_ev, 0, 0);
}

static void
wakeup_read(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	while (recv(fd, buf, sizeof(buf), 0) >= 0)
		;
	scan_soon();
}

static void
incoming_tick(evutil_socket_t fd, short what, void *arg)
{
	scan_incoming();
}

static void
deferred_tick(evutil_socket_t fd, short what, void *arg)
{
	clean_temporary();
	scan_deferred();
}

static void
timers_start(void)
{
	struct timeval in = { QMGR_INCOMING_SCAN, 0 };
	struct timeval def = { var_queue_run_delay > 0 ? var_queue_run_delay : 1, 0 };

	if (incoming_timer == NULL)
		incoming_timer = event_new(qbase, -1, EV_PERSIST, incoming_tick, NULL);
	if (deferred_timer == NULL)
		deferred_timer = event_new(qbase, -1, EV_PERSIST, deferred_tick, NULL);
	event_add(incoming_timer, &in);
	event_add(deferred_timer, &def);
}

static void
tls_reload(void)
{
	const char *error;
	SSL_CTX *ctx = tls_client_ctx_new(var_smtp_tls_ca_file, &error);

	if (ctx == NULL) {
		log_warnx("SMTP client TLS unavailable: %s", error);
		return;
	}
	/* Connections in progress keep their SSL objects, which hold a reference. */
	if (ssl_ctx != NULL)
		SSL_CTX_free(ssl_ctx);
	ssl_ctx = ctx;
	smtp_client_set_tls(ctx);
}

static void
recover_active(void)
{
	DIR *dir = open_state(Q_ACTIVE);
	struct dirent *de;

	if (dir == NULL)
		fatal("cannot read the active queue under %s", var_spool_directory);
	while ((de = readdir(dir)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		if (queue_move(de->d_name, Q_ACTIVE, Q_INCOMING) < 0)
			log_warn("qid=%s cannot move back to incoming", de->d_name);
		else
			log_debug("qid=%s recovered from active/", de->d_name);
	}
	closedir(dir);
}

void
qmgr_init(struct event_base *base)
{
	struct sockaddr_un sun;
	struct rlimit rl;

	qbase = base;
	/* One descriptor per active message and connection. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	tls_reload();
	recover_active();
	clean_temporary();
	log_debug("%zu queue files kept for reuse", queue_reuse_prune());

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(spool_path("run/qmgr.wakeup", sun.sun_path, sizeof(sun.sun_path))) >=
	    sizeof(sun.sun_path) - 1)
		fatalx("spool_directory %s is too long for a socket path", var_spool_directory);
	unlink(sun.sun_path);
	wakeup_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (wakeup_fd < 0 || bind(wakeup_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fatal("cannot bind %s", sun.sun_path);
	/* smtpd runs as the same user; nobody else may poke us. */
	chmod(sun.sun_path, 0600);
	wakeup_ev = event_new(base, wakeup_fd, EV_READ | EV_PERSIST, wakeup_read, NULL);
	event_add(wakeup_ev, NULL);
	scan_ev = event_new(base, -1, 0, scan_ev_run, NULL);

	timers_start();
	scan_deferred();
	scan_incoming();
}

void
qmgr_reload(void)
{
	tls_reload();
	timers_start();
	scan_soon();
}

void
qmgr_shutdown(void)
{
	struct dest *d;
	struct dconn *dc;

	/* Active messages stay in active/: the next start moves them back. */
	TAILQ_FOREACH(d, &dests, link)
		TAILQ_FOREACH(dc, &d->conns, link)
			smtp_conn_free(&dc->conn);
	if (wakeup_fd >= 0) {
		char path[4096];
		unlink(spool_path("run/qmgr.wakeup", path, sizeof(path)));
	}
}

/* ---- admin requests ---- */

int
qmgr_flush(const char **error_r)
{
	struct dest *d;
	size_t n;
	char **names;

	/* The administrator says "now": forget which destinations were down. */
	TAILQ_FOREACH(d, &dests, link)
		d->dead_until = 0;
	names = list_state(Q_DEFERRED, &n);
	for (size_t i = 0; i < n; i++) {
		if (queue_move(names[i], Q_DEFERRED, Q_INCOMING) == 0) {
			gauge_left(Q_DEFERRED);
			STATS_INC(queue_incoming);
		} else if (errno != ENOENT) {
			log_warn("qid=%s cannot move to incoming", names[i]);
		}
		free(names[i]);
	}
	free(names);
	scan_soon();
	return 0;
}

int
qmgr_hold(const char *qid, const char **error_r)
{
	struct qmsg *m;
	int state;

	if (!queue_id_valid(qid)) {
		*error_r = "bad queue id";
		return -1;
	}
	if ((m = msg_find(qid)) != NULL) {
		m->hold_req = 1;
		log_info("qid=%s will be held when its delivery attempt ends", qid);
		return 0;
	}
	state = queue_find(qid);
	if (state == Q_HOLD) {
		*error_r = "already held";
		return -1;
	}
	if (state != Q_INCOMING && state != Q_DEFERRED) {
		*error_r = state < 0 ? "no such message" : "message cannot be held";
		return -1;
	}
	if (queue_move(qid, (enum queue_state)state, Q_HOLD) < 0) {
		*error_r = errno == ENOENT ? "no such message" : "cannot move it to hold";
		return -1;
	}
	gauge_left((enum queue_state)state);
	STATS_INC(queue_hold);
	log_info("qid=%s held by the administrator", qid);
	return 0;
}

int
qmgr_release(const char *qid, const char **error_r)
{
	if (!queue_id_valid(qid)) {
		*error_r = "bad queue id";
		return -1;
	}
	if (queue_move(qid, Q_HOLD, Q_INCOMING) < 0) {
		*error_r = errno == ENOENT ? "message is not held" : "cannot move it to incoming";
		return -1;
	}
	gauge_left(Q_HOLD);
	STATS_INC(queue_incoming);
	log_info("qid=%s released by the administrator", qid);
	scan_soon();
	return 0;
}

int
qmgr_delete(const char *qid, const char **error_r)
{
	struct qmsg *m;
	char path[4096];
	int state;

	if (!queue_id_valid(qid)) {
		*error_r = "bad queue id";
		return -1;
	}
	if ((m = msg_find(qid)) != NULL) {
		m->delete_req = 1;
		log_info("qid=%s will be deleted when its delivery attempt ends", qid);
		return 0;
	}
	state = queue_find(qid);
	if (state < 0 || state == Q_ACTIVE) {
		*error_r = "no such message";
		return -1;
	}
	queue_path((enum queue_state)state, qid, path, sizeof(path));
	if (unlink(path) < 0) {
		*error_r = errno == ENOENT ? "no such message" : "cannot remove it";
		return -1;
	}
	gauge_left((enum queue_state)state);
	log_info("qid=%s removed (deleted by the administrator from %s)", qid,
	    queue_state_name((enum queue_state)state));
	return 0;
}
