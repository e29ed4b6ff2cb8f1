/* SPDX-License-Identifier: MIT */
/*
 * state - the policy's shared counters: one SQLite file per host, or a
 * Redis server shared by several relays.  See state.h.
 *
 * SQLite answers at once, so its results wait in a queue that a zero
 * timer empties on the next loop turn; that keeps "callbacks never run
 * inside the call" without threads.  Read-modify-write operations run in
 * BEGIN IMMEDIATE, which makes them atomic across the processes sharing
 * the file.  Redis ops are hiredis commands (incr and add are Lua scripts
 * so that their two steps are atomic too); a connection that fails
 * answers every pending op with -1 and the next op connects again, at
 * most once a second, so a dead server costs one refused connect per
 * second rather than one per message.
 */
#include "facteur-config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sqlite3.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "policy/state.h"

#define BUSY_TIMEOUT_MS 5000
/* Expired rows are swept every this many SQLite ops. */
#define EXPIRE_EVERY 1000
/* Redis: how long a connect or a reply may take before the connection is dropped. */
#define REDIS_TIMEOUT_SEC 5	/* the messages of redis_timeout() say 5 */
#define REDIS_PREFIX "facteur:"

/*
 * INCRBY, and EXPIRE only when the key was created by it: a fixed window.
 * ARGV[2] <= 0: no expiry.
 */
static const char lua_incr[] =
	"local new = redis.call('EXISTS', KEYS[1]) == 0 "
	"local v = redis.call('INCRBY', KEYS[1], ARGV[1]) "
	"if new and tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
	"return v";
/* {0} when this call set the key, {1, value} when it was there. */
static const char lua_add[] =
	"local ok "
	"if tonumber(ARGV[2]) > 0 then "
	"ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) "
	"else ok = redis.call('SET', KEYS[1], ARGV[1], 'NX') end "
	"if ok then return {0} end "
	"return {1, redis.call('GET', KEYS[1])}";

enum op_kind { OP_INCR, OP_GET, OP_SET, OP_ADD, OP_AUTH };

struct pstate_op {
	struct pstate *st;	/* NULL once the pstate is closed (Redis op in flight) */
	enum op_kind kind;
	pstate_incr_cb *incr_cb;
	pstate_get_cb *get_cb;
	pstate_done_cb *done_cb;
	void *ctx;
	int status, found;
	long long value;
	enum { ON_NONE, ON_READY, ON_FLIGHT } on;
	int cancelled;		/* in flight: freed when its reply comes */
	unsigned turn;		/* ready: the delivery turn it was queued in */
	TAILQ_ENTRY(pstate_op) entry;
};

TAILQ_HEAD(op_list, pstate_op);

enum backend { BACKEND_SQLITE, BACKEND_REDIS };

struct pstate {
	struct event_base *base;
	enum backend backend;
	char *where;		/* the path or server, for logs */

	/* Results waiting for the next loop turn. */
	struct op_list ready;
	struct event *deliver_ev;
	unsigned turn;
	int delivering, closed;

	/* SQLite */
	sqlite3 *db;
	sqlite3_stmt *s_begin, *s_commit, *s_rollback, *s_get, *s_put, *s_update,
	    *s_expire;
	unsigned long nops;

	/* Redis */
	char *host;		/* NULL: unix socket */
	int port;
	char *unix_path;
	redisAsyncContext *ac;
	int connected;
	int down;		/* failed since its last answer: further failures logged quietly */
	struct timespec last_attempt;
	struct event *timer;
	struct op_list flight;
	unsigned npending;
};

/* ---- delivery on the next loop turn ---- */

static void
op_callback(struct pstate_op *op)
{
	switch (op->kind) {
	case OP_INCR:
		if (op->incr_cb != NULL)
			op->incr_cb(op->ctx, op->status, op->value);
		break;
	case OP_GET:
	case OP_ADD:
		if (op->get_cb != NULL)
			op->get_cb(op->ctx, op->status, op->found, op->value);
		break;
	case OP_SET:
		if (op->done_cb != NULL)
			op->done_cb(op->ctx, op->status);
		break;
	case OP_AUTH:
		break;
	}
}

static void state_free(struct pstate *st);

static void
deliver(evutil_socket_t fd, short what, void *arg)
{
	struct pstate *st = arg;
	struct pstate_op *op;
	unsigned cur = ++st->turn;

	/* Ops queued by these callbacks have turn == cur: they wait for the next turn. */
	st->delivering = 1;
	while (!st->closed && (op = TAILQ_FIRST(&st->ready)) != NULL && op->turn != cur) {
		TAILQ_REMOVE(&st->ready, op, entry);
		op->on = ON_NONE;
		op_callback(op);
		free(op);
	}
	st->delivering = 0;
	if (st->closed) {
		state_free(st);
		return;
	}
	if (!TAILQ_EMPTY(&st->ready)) {
		struct timeval zero = { 0, 0 };
		evtimer_add(st->deliver_ev, &zero);
	}
}

static void
op_ready(struct pstate_op *op)
{
	struct pstate *st = op->st;
	struct timeval zero = { 0, 0 };

	op->turn = st->turn;
	op->on = ON_READY;
	TAILQ_INSERT_TAIL(&st->ready, op, entry);
	if (!st->delivering && !evtimer_pending(st->deliver_ev, NULL))
		evtimer_add(st->deliver_ev, &zero);
}

static struct pstate_op *
op_new(struct pstate *st, enum op_kind kind, void *ctx)
{
	struct pstate_op *op = xcalloc(1, sizeof(*op));

	op->st = st;
	op->kind = kind;
	op->ctx = ctx;
	return op;
}

void
pstate_cancel(struct pstate_op **opp)
{
	struct pstate_op *op = *opp;

	if (op == NULL)
		return;
	*opp = NULL;
	switch (op->on) {
	case ON_READY:
		TAILQ_REMOVE(&op->st->ready, op, entry);
		free(op);
		break;
	case ON_FLIGHT:
		/* hiredis keeps the pointer: the reply frees it. */
		op->cancelled = 1;
		break;
	case ON_NONE:
		/* Being delivered: nothing left to stop. */
		break;
	}
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- SQLite ---- */

static void
sql_warn(struct pstate *st, const char *what)
{
	log_warnx("policy state %s: %s: %s", st->where, what, sqlite3_errmsg(st->db));
}

static int
sql_step_done(struct pstate *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE)
		sql_warn(st, what);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 and *value_r if key is there and alive, 0 if not, -1 on error. */
static int
sql_get(struct pstate *st, const char *key, long long now, long long *value_r)
{
	sqlite3_stmt *s = st->s_get;
	int rc, found;

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*value_r = sqlite3_column_int64(s, 0);
		found = 1;
	} else if (rc == SQLITE_DONE) {
		found = 0;
	} else {
		sql_warn(st, "get");
		found = -1;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return found;
}

static int
sql_put(struct pstate *st, const char *key, long long value, long ttl, long long now)
{
	sqlite3_stmt *s = st->s_put;
	int rc;

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, value);
	if (ttl > 0)
		sqlite3_bind_int64(s, 3, now + (long long)ttl * 1000);
	else
		sqlite3_bind_null(s, 3);
	rc = sql_step_done(st, s, "write");
	sqlite3_clear_bindings(s);
	return rc;
}

static void
sql_maybe_expire(struct pstate *st)
{
	if (++st->nops % EXPIRE_EVERY == 0)
		pstate_expire(st);
}

/*
 * incr and add: read and write in one BEGIN IMMEDIATE transaction, so
 * that no other process slips in between.  An incremented key keeps the
 * expiry it was created with (UPDATE in place): a fixed window.
 */
static void
sql_rmw(struct pstate_op *op, const char *key, long long arg, long ttl)
{
	struct pstate *st = op->st;
	long long now = now_ms(), old = 0, sum;
	int found, rc;

	op->status = -1;
	if (sql_step_done(st, st->s_begin, "begin") < 0)
		return;
	if ((found = sql_get(st, key, now, &old)) < 0)
		goto rollback;
	if (op->kind == OP_ADD) {
		op->found = found;
		op->value = found ? old : arg;
		if (!found && sql_put(st, key, arg, ttl, now) < 0)
			goto rollback;
	} else {
		if (__builtin_add_overflow(old, arg, &sum)) {
			log_warnx("policy state %s: %s: counter overflow", st->where, key);
			goto rollback;
		}
		op->value = sum;
		if (found) {
			sqlite3_bind_text(st->s_update, 1, key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st->s_update, 2, sum);
			rc = sql_step_done(st, st->s_update, "incr");
			sqlite3_clear_bindings(st->s_update);
			if (rc < 0)
				goto rollback;
		} else if (sql_put(st, key, sum, ttl, now) < 0) {
			goto rollback;
		}
	}
	if (sql_step_done(st, st->s_commit, "commit") < 0)
		goto rollback;
	op->status = 0;
	return;
rollback:
	sqlite3_step(st->s_rollback);
	sqlite3_reset(st->s_rollback);
}

static const char sql_schema[] =
	"CREATE TABLE IF NOT EXISTS kv ("
	"  key TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL,"
	"  expires INTEGER"		/* milliseconds since the epoch; NULL: never */
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires IS NOT NULL;";

static int
sql_open(struct pstate *st, const char *path, const char **error_r)
{
	static char error[512];
	struct {
		sqlite3_stmt **s;
		const char *sql;
	} stmts[] = {
		{ &st->s_begin, "BEGIN IMMEDIATE" },
		{ &st->s_commit, "COMMIT" },
		{ &st->s_rollback, "ROLLBACK" },
		{ &st->s_get, "SELECT value FROM kv WHERE key = ?1 AND (expires IS NULL OR expires > ?2)" },
		{ &st->s_put, "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?1, ?2, ?3)" },
		{ &st->s_update, "UPDATE kv SET value = ?2 WHERE key = ?1" },
		{ &st->s_expire, "DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?1" },
	};
	char *msg = NULL;
	int rc;

	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(error, sizeof(error), "%s: %s", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		snprintf(error, sizeof(error), "%s: read-only (it must be writable by the daemons)",
		    path);
		goto fail;
	}
	/*
	 * Processes starting together race to create the file and switch it
	 * to WAL; SQLite answers BUSY to some of that without calling the
	 * busy handler, so the set-up is retried for as long.
	 */
	for (int waited = 0;; waited += 20) {
		rc = sqlite3_exec(st->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
		    NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, sql_schema, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			break;
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= BUSY_TIMEOUT_MS) {
			snprintf(error, sizeof(error), "%s: %s", path, msg != NULL ? msg : "cannot set up");
			sqlite3_free(msg);
			goto fail;
		}
		sqlite3_free(msg);
		msg = NULL;
		usleep(20000);
	}
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		if (sqlite3_prepare_v3(st->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
		    stmts[i].s, NULL) != SQLITE_OK) {
			snprintf(error, sizeof(error), "%s: %s", path, sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	return 0;
fail:
	*error_r = error;
	return -1;
}

static void
sql_close(struct pstate *st)
{
	sqlite3_finalize(st->s_begin);
	sqlite3_finalize(st->s_commit);
	sqlite3_finalize(st->s_rollback);
	sqlite3_finalize(st->s_get);
	sqlite3_finalize(st->s_put);
	sqlite3_finalize(st->s_update);
	sqlite3_finalize(st->s_expire);
	sqlite3_close(st->db);
	st->db = NULL;
}

/* ---- Redis ---- */

static void redis_drop(struct pstate *st, const char *why);

static void
redis_timer_arm(struct pstate *st)
{
	struct timeval tv = { REDIS_TIMEOUT_SEC, 0 };

	evtimer_add(st->timer, &tv);
}

/* The connection made no progress for REDIS_TIMEOUT_SEC. */
static void
redis_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pstate *st = arg;

	if (st->ac != NULL && (!st->connected || st->npending > 0))
		redis_drop(st, st->connected ? "no reply within 5 s, connection dropped" :
		    "connect timed out after 5 s");
}

/* A failure: loud when the server was up, quiet while it stays down. */
static void
redis_failed(struct pstate *st, const char *why)
{
	if (!st->down)
		log_warnx("policy state redis %s: %s", st->where, why);
	else
		log_debug("policy state redis %s: %s", st->where, why);
	st->down = 1;
}

/*
 * Forget the connection: hiredis answers its pending commands with NULL
 * (status -1 to their callers), which may run any caller code, even
 * pstate_close(): nothing of st is touched after redisAsyncFree().
 */
static void
redis_drop(struct pstate *st, const char *why)
{
	redisAsyncContext *ac = st->ac;

	redis_failed(st, why);
	st->ac = NULL;
	st->connected = 0;
	evtimer_del(st->timer);
	redisAsyncFree(ac);
}

static void
redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct pstate *st = ac->data;

	if (st == NULL || st->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees ac after this and fails its pending commands. */
		redis_failed(st, ac->errstr[0] != '\0' ? ac->errstr : "cannot connect");
		st->ac = NULL;
		st->connected = 0;
		evtimer_del(st->timer);
		return;
	}
	/* st->down stays until the server answers: a stopped one accepts connections too. */
	st->connected = 1;
	if (st->npending == 0)
		evtimer_del(st->timer);
	else
		redis_timer_arm(st);
}

static void
redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct pstate *st = ac->data;

	if (st == NULL || st->ac != ac)
		return;
	redis_failed(st, ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
	st->ac = NULL;
	st->connected = 0;
	evtimer_del(st->timer);
}

static int
parse_ll(const char *s, size_t len, long long *value_r)
{
	char buf[32], *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*value_r = strtoll(buf, &end, 10);
	return *end != '\0' || errno != 0 ? -1 : 0;
}

/* Read reply into op; -1 if it is not what the command answers. */
static int
redis_parse(struct pstate_op *op, const redisReply *r)
{
	switch (op->kind) {
	case OP_INCR:
		if (r->type != REDIS_REPLY_INTEGER)
			return -1;
		op->value = r->integer;
		return 0;
	case OP_GET:
		if (r->type == REDIS_REPLY_NIL) {
			op->found = 0;
			return 0;
		}
		op->found = 1;
		return r->type == REDIS_REPLY_STRING ? parse_ll(r->str, r->len, &op->value) : -1;
	case OP_SET:
	case OP_AUTH:
		return r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0 ? 0 : -1;
	case OP_ADD:
		if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
		    r->element[0]->type != REDIS_REPLY_INTEGER)
			return -1;
		op->found = r->element[0]->integer != 0;
		if (!op->found)
			return 0;
		if (r->elements < 2 || r->element[1]->type != REDIS_REPLY_STRING)
			return -1;
		return parse_ll(r->element[1]->str, r->element[1]->len, &op->value);
	}
	return -1;
}

static void
redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pstate_op *op = privdata;
	struct pstate *st = op->st;
	const redisReply *r = reply;

	if (st == NULL) {
		/* The pstate was closed while this was in flight. */
		free(op);
		return;
	}
	TAILQ_REMOVE(&st->flight, op, entry);
	op->on = ON_NONE;
	st->npending--;
	if (r == NULL) {
		/* The connection is going away (redis_drop or hiredis itself). */
		if (st->ac == ac) {
			redis_failed(st, ac->errstr[0] != '\0' ? ac->errstr : "connection lost");
			st->ac = NULL;
			st->connected = 0;
			evtimer_del(st->timer);
		}
		op->status = -1;
	} else if (redis_parse(op, r) < 0) {
		if (r->type == REDIS_REPLY_ERROR)
			log_warnx("policy state redis %s: %s%s", st->where,
			    op->kind == OP_AUTH ? "AUTH: " : "", r->str);
		else
			log_warnx("policy state redis %s: unexpected reply type %d", st->where, r->type);
		op->status = -1;
	} else {
		op->status = 0;
	}
	if (r != NULL && st->down) {
		log_info("policy state redis %s: answering again", st->where);
		st->down = 0;
	}
	if (r != NULL && st->ac == ac) {
		if (st->npending > 0)
			redis_timer_arm(st);
		else
			evtimer_del(st->timer);
	}
	/* The callback may close st: only op is touched after it. */
	if (!op->cancelled)
		op_callback(op);
	free(op);
}

static int redis_send(struct pstate *st, struct pstate_op *op, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
redis_connect(struct pstate *st)
{
	redisAsyncContext *ac;

	clock_gettime(CLOCK_MONOTONIC, &st->last_attempt);
	/* A host name is resolved here, blocking: use addresses in policy_state. */
	if (st->host != NULL)
		ac = redisAsyncConnect(st->host, st->port);
	else
		ac = redisAsyncConnectUnix(st->unix_path);
	if (ac == NULL)
		panic("redisAsyncConnect: out of memory");
	if (ac->err != 0) {
		redis_failed(st, ac->errstr);
		redisAsyncFree(ac);
		return -1;
	}
	ac->data = st;
	if (redisLibeventAttach(ac, st->base) != REDIS_OK) {
		redis_failed(st, "cannot attach to the event loop");
		redisAsyncFree(ac);
		return -1;
	}
	redisAsyncSetConnectCallback(ac, redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
	st->ac = ac;
	st->connected = 0;
	redis_timer_arm(st);
	/* Queued before anything else: hiredis sends in order once connected. */
	if (var_policy_state_password[0] != '\0') {
		struct pstate_op *op = op_new(st, OP_AUTH, NULL);
		if (redis_send(st, op, "AUTH %s", var_policy_state_password) < 0)
			free(op);
	}
	return 0;
}

/* A connection, or -1 (a failed attempt less than a second ago, or this one). */
static int
redis_ensure(struct pstate *st)
{
	struct timespec now;

	if (st->ac != NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (st->last_attempt.tv_sec != 0 &&
	    (now.tv_sec - st->last_attempt.tv_sec) * 1000000000L +
	    (now.tv_nsec - st->last_attempt.tv_nsec) < 1000000000L)
		return -1;
	return redis_connect(st);
}

/* Send op's command; -1 if hiredis refused it (the context is going away). */
static int
redis_send(struct pstate *st, struct pstate_op *op, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = redisvAsyncCommand(st->ac, redis_reply, op, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK)
		return -1;
	op->on = ON_FLIGHT;
	TAILQ_INSERT_TAIL(&st->flight, op, entry);
	if (st->npending++ == 0 && st->connected)
		redis_timer_arm(st);
	return 0;
}

/* Start op on Redis; an op that cannot be sent answers -1 on the next turn. */
static struct pstate_op *
redis_start(struct pstate_op *op, const char *key, long long value, long ttl)
{
	struct pstate *st = op->st;
	int rc = -1;

	if (ttl < 0)
		ttl = 0;
	if (redis_ensure(st) == 0) {
		switch (op->kind) {
		case OP_INCR:
			rc = redis_send(st, op, "EVAL %s 1 " REDIS_PREFIX "%s %lld %ld", lua_incr, key,
			    value, ttl);
			break;
		case OP_GET:
			rc = redis_send(st, op, "GET " REDIS_PREFIX "%s", key);
			break;
		case OP_SET:
			if (ttl > 0)
				rc = redis_send(st, op, "SET " REDIS_PREFIX "%s %lld EX %ld", key, value, ttl);
			else
				rc = redis_send(st, op, "SET " REDIS_PREFIX "%s %lld", key, value);
			break;
		case OP_ADD:
			rc = redis_send(st, op, "EVAL %s 1 " REDIS_PREFIX "%s %lld %ld", lua_add, key,
			    value, ttl);
			break;
		case OP_AUTH:
			break;
		}
	}
	if (rc < 0) {
		op->status = -1;
		op_ready(op);
	}
	return op;
}

static int
redis_parse_spec(struct pstate *st, const char *rest)
{
	const char *colon;
	char *end;
	long port;
	size_t hlen;

	if (strncmp(rest, "unix:", 5) == 0) {
		if (rest[5] != '/')
			return -1;
		st->unix_path = xstrdup(rest + 5);
		st->where = xstrdup(st->unix_path);
		return 0;
	}
	if ((colon = strrchr(rest, ':')) == NULL || colon == rest)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 1 || port > 65535)
		return -1;
	hlen = (size_t)(colon - rest);
	if (rest[0] == '[') {
		/* [2001:db8::1]:6379 */
		if (hlen < 3 || rest[hlen - 1] != ']')
			return -1;
		st->host = xstrndup(rest + 1, hlen - 2);
	} else {
		if (memchr(rest, ':', hlen) != NULL)
			return -1;
		st->host = xstrndup(rest, hlen);
	}
	st->port = (int)port;
	st->where = xstrdup(rest);
	return 0;
}

/* ---- the interface ---- */

struct pstate *
pstate_open(struct event_base *base, const char *spec, const char **error_r)
{
	static char error[600];
	struct pstate *st;
	char *path = NULL;

	if (spec == NULL || spec[0] == '\0')
		spec = var_policy_state;
	st = xcalloc(1, sizeof(*st));
	st->base = base;
	TAILQ_INIT(&st->ready);
	TAILQ_INIT(&st->flight);
	st->deliver_ev = evtimer_new(base, deliver, st);
	if (spec[0] == '\0') {
		char *dir = xasprintf("%s/policy", var_spool_directory);
		if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
			snprintf(error, sizeof(error), "cannot create %s: %s", dir, strerror(errno));
			free(dir);
			goto fail;
		}
		path = xasprintf("%s/state.db", dir);
		free(dir);
	} else if (strncmp(spec, "sqlite:", 7) == 0 && spec[7] != '\0') {
		path = xstrdup(spec + 7);
	} else if (strncmp(spec, "redis:", 6) == 0) {
		st->backend = BACKEND_REDIS;
		if (redis_parse_spec(st, spec + 6) < 0) {
			snprintf(error, sizeof(error),
			    "\"%s\": expected redis:HOST:PORT, redis:[IPV6]:PORT or redis:unix:/PATH", spec);
			goto fail;
		}
		st->timer = evtimer_new(base, redis_timeout, st);
		/* Connect now; a server that is down is retried by the first op. */
		(void)redis_connect(st);
		return st;
	} else {
		snprintf(error, sizeof(error),
		    "\"%s\": expected sqlite:PATH, redis:HOST:PORT or redis:unix:PATH", spec);
		goto fail;
	}
	st->backend = BACKEND_SQLITE;
	st->where = path;
	if (sql_open(st, path, error_r) < 0) {
		snprintf(error, sizeof(error), "%s", *error_r);
		goto fail;
	}
	return st;
fail:
	*error_r = error;
	state_free(st);
	return NULL;
}

/* Free what is left: ops and connection are gone already. */
static void
state_free(struct pstate *st)
{
	if (st->db != NULL)
		sql_close(st);
	if (st->deliver_ev != NULL)
		event_free(st->deliver_ev);
	if (st->timer != NULL)
		event_free(st->timer);
	free(st->host);
	free(st->unix_path);
	free(st->where);
	free(st);
}

void
pstate_close(struct pstate **stp)
{
	struct pstate *st = *stp;
	struct pstate_op *op;
	redisAsyncContext *ac;

	if (st == NULL)
		return;
	*stp = NULL;
	while ((op = TAILQ_FIRST(&st->ready)) != NULL) {
		TAILQ_REMOVE(&st->ready, op, entry);
		free(op);
	}
	/* In-flight ops stay with hiredis, which frees them through redis_reply. */
	while ((op = TAILQ_FIRST(&st->flight)) != NULL) {
		TAILQ_REMOVE(&st->flight, op, entry);
		op->st = NULL;
	}
	if ((ac = st->ac) != NULL) {
		st->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (st->delivering) {
		/* deliver() frees st when the callback that closed it returns. */
		st->closed = 1;
		if (st->db != NULL)
			sql_close(st);
		return;
	}
	state_free(st);
}

const char *
pstate_backend(const struct pstate *st)
{
	return st->backend == BACKEND_SQLITE ? "sqlite" : "redis";
}

struct event_base *
pstate_event_base(const struct pstate *st)
{
	return st->base;
}

static struct pstate_op *
sql_finish(struct pstate_op *op)
{
	sql_maybe_expire(op->st);
	op_ready(op);
	return op;
}

struct pstate_op *
pstate_incr(struct pstate *st, const char *key, long long delta, long ttl, pstate_incr_cb *cb,
    void *ctx)
{
	struct pstate_op *op = op_new(st, OP_INCR, ctx);

	op->incr_cb = cb;
	if (st->backend == BACKEND_REDIS)
		return redis_start(op, key, delta, ttl);
	sql_rmw(op, key, delta, ttl);
	return sql_finish(op);
}

struct pstate_op *
pstate_get(struct pstate *st, const char *key, pstate_get_cb *cb, void *ctx)
{
	struct pstate_op *op = op_new(st, OP_GET, ctx);
	int found;

	op->get_cb = cb;
	if (st->backend == BACKEND_REDIS)
		return redis_start(op, key, 0, 0);
	found = sql_get(st, key, now_ms(), &op->value);
	op->status = found < 0 ? -1 : 0;
	op->found = found > 0;
	return sql_finish(op);
}

struct pstate_op *
pstate_set(struct pstate *st, const char *key, long long value, long ttl, pstate_done_cb *cb,
    void *ctx)
{
	struct pstate_op *op = op_new(st, OP_SET, ctx);

	op->done_cb = cb;
	if (st->backend == BACKEND_REDIS)
		return redis_start(op, key, value, ttl);
	op->status = sql_put(st, key, value, ttl, now_ms());
	return sql_finish(op);
}

struct pstate_op *
pstate_add(struct pstate *st, const char *key, long long value, long ttl, pstate_get_cb *cb,
    void *ctx)
{
	struct pstate_op *op = op_new(st, OP_ADD, ctx);

	op->get_cb = cb;
	if (st->backend == BACKEND_REDIS)
		return redis_start(op, key, value, ttl);
	sql_rmw(op, key, value, ttl);
	return sql_finish(op);
}

long
pstate_expire(struct pstate *st)
{
	long n;

	if (st->backend != BACKEND_SQLITE)
		return 0;
	sqlite3_bind_int64(st->s_expire, 1, now_ms());
	if (sql_step_done(st, st->s_expire, "expire") < 0)
		return 0;
	n = (long)sqlite3_changes(st->db);
	if (n > 0)
		log_debug("policy state %s: %ld expired keys removed", st->where, n);
	return n;
}

int
pstate_client_net(const char *client_ip, int v4bits, int v6bits, char *out, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int family, bits, n;
	size_t len;

	if (inet_pton(AF_INET, client_ip, a) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, client_ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		family = AF_INET6;
		/* ::ffff:192.0.2.1, as a dual-stack socket reports IPv4 clients. */
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memmove(a, a + 12, 4);
			family = AF_INET;
		}
	} else {
		return -1;
	}
	bits = family == AF_INET ? v4bits : v6bits;
	len = family == AF_INET ? 4 : 16;
	if (bits < 0 || (size_t)bits > len * 8)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int keep = bits - (int)i * 8;
		if (keep <= 0)
			a[i] = 0;
		else if (keep < 8)
			a[i] &= (unsigned char)(0xff << (8 - keep));
	}
	if (inet_ntop(family, a, text, sizeof(text)) == NULL)
		return -1;
	n = snprintf(out, size, "%s/%d", text, bits);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
