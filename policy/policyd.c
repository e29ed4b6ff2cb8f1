/* SPDX-License-Identifier: MIT */
/*
 * policyd - Postfix's policy delegation protocol in front of the policy
 * engine.  See policyd.h.
 *
 * An engine is shared by the connections made while it was current and
 * counted by them: a reload puts a new one in place without breaking the
 * requests under way, and the old one goes with its last client.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "policy/policy.h"
#include "policy/policy_proto.h"
#include "policy/policyd.h"

/* Postfix closes idle connections after 300 s (smtpd_policy_service_max_idle). */
#define IDLE_TIMEOUT 3600
#define REPLY_MAX 1024

struct engine {
	struct policy *p;
	unsigned int refs;	/* connections, and 1 while current */
};

struct conn {
	TAILQ_ENTRY(conn) link;
	unsigned long id;
	struct bufferevent *bev;
	struct policy_parser *pp;
	struct engine *eng;
	struct policy_client *client;
	char client_ip[INET6_ADDRSTRLEN];
	char *user;		/* sasl_username the client was told of */
	struct policy_op *op;
	char state[16];		/* protocol_state of the request under way */
};

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static struct evconnlistener *listener;
static struct engine *current;
static unsigned long next_id;

static void process(struct conn *c);

static struct engine *
engine_ref(struct engine *e)
{
	e->refs++;
	return e;
}

static void
engine_unref(struct engine **ep)
{
	struct engine *e = *ep;

	*ep = NULL;
	if (e == NULL || --e->refs > 0)
		return;
	policy_free(&e->p);
	free(e);
}

/* ---- connections ---- */

static void
conn_free(struct conn *c)
{
	TAILQ_REMOVE(&conns, c, link);
	policy_cancel(&c->op);
	policy_client_free(&c->client);
	policy_parser_free(&c->pp);
	engine_unref(&c->eng);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c->user);
	free(c);
}

static void
answer(struct conn *c, const char *action)
{
	char out[REPLY_MAX];
	size_t n = policy_format_reply(action, out, sizeof(out));

	log_debug("policyd: conn=%lu [%s] %s: action=%s", c->id, c->client_ip, c->state, action);
	bufferevent_write(c->bev, out, n);
	policy_parser_reset(c->pp);
}

/*
 * The action for a refusal: the reply itself ("450 4.7.1 text" is an
 * action Postfix takes as it is), less the "<a@b>: Recipient address
 * rejected: " Postfix puts in front of the text of every refusal it gets
 * at RCPT time.
 */
static const char *
refusal(const char *reply, char *buf, size_t size)
{
	static const char cls[] = ">: Recipient address rejected: ";
	const char *text = reply + 4, *end;

	if (strlen(reply) < 4 || reply[3] != ' ')
		return reply;
	/* An enhanced status code stays. */
	if (text[0] >= '2' && text[0] <= '5' && text[1] == '.') {
		text += strcspn(text, " ");
		text += *text == ' ';
	}
	if (*text != '<' || (end = strstr(text, cls)) == NULL)
		return reply;
	snprintf(buf, size, "%.*s%s", (int)(text - reply), reply, end + sizeof(cls) - 1);
	return buf;
}

static void
on_verdict(void *ctx, const struct policy_verdict *v)
{
	struct conn *c = ctx;
	char buf[sizeof(v->reply)];

	c->op = NULL;
	answer(c, v->code == 0 || v->reply[0] == '\0' ? "DUNNO" :
	    refusal(v->reply, buf, sizeof(buf)));
	process(c);
}

/* The policy client for ip, anew for a new SMTP session. */
static struct policy_client *
client_for(struct conn *c, const char *ip, int session_start)
{
	if (c->client != NULL && !session_start && strcmp(c->client_ip, ip) == 0)
		return c->client;
	policy_client_free(&c->client);
	free(c->user);
	c->user = NULL;
	/* A new session is a good moment to move to the current engine. */
	if (c->eng != current) {
		engine_unref(&c->eng);
		c->eng = engine_ref(current);
	}
	str_copy(c->client_ip, ip, sizeof(c->client_ip));
	c->client = policy_client_new(c->eng->p, ip, net_cidr_list_match(var_mynetworks, ip));
	return c->client;
}

static const char *
attr(const struct policy_req *req, const char *name)
{
	const char *v = policy_req_get(req, name);

	return v != NULL ? v : "";
}

/* A complete request: answer it now, or start the engine's check. */
static void
handle(struct conn *c, const struct policy_req *req)
{
	const char *request = policy_req_get(req, "request");
	const char *ip = policy_req_get(req, "client_address");
	const char *state = attr(req, "protocol_state"), *user = attr(req, "sasl_username");
	struct policy_request preq;
	struct policy_client *client;
	struct in6_addr in6;
	struct in_addr in4;

	str_copy(c->state, state[0] != '\0' ? state : "-", sizeof(c->state));
	if (request == NULL || strcmp(request, "smtpd_access_policy") != 0) {
		log_warnx("policyd: conn=%lu: request=%s is not smtpd_access_policy: answered DUNNO",
		    c->id, request != NULL ? request : "(none)");
		answer(c, "DUNNO");
		return;
	}
	if (ip == NULL || (inet_pton(AF_INET, ip, &in4) != 1 && inet_pton(AF_INET6, ip, &in6) != 1)) {
		log_warnx("policyd: conn=%lu: request without a client_address%s%s: answered DUNNO",
		    c->id, ip != NULL ? ": " : "", ip != NULL ? ip : "");
		answer(c, "DUNNO");
		return;
	}
	client = client_for(c, ip, strcmp(state, "CONNECT") == 0);
	if (user[0] != '\0' && (c->user == NULL || strcmp(c->user, user) != 0)) {
		free(c->user);
		c->user = xstrdup(user);
		policy_client_authenticated(client, user);
	}
	memset(&preq, 0, sizeof(preq));
	preq.helo = policy_req_get(req, "helo_name");
	preq.sender = policy_req_get(req, "sender");
	preq.recipient = policy_req_get(req, "recipient");
	preq.sasl_user = user[0] != '\0' ? user : NULL;
	preq.size = strtol(attr(req, "size"), NULL, 10);
	if (preq.helo != NULL && preq.helo[0] == '\0')
		preq.helo = NULL;
	if (strcmp(state, "CONNECT") == 0) {
		c->op = policy_connect(client, on_verdict, c);
	} else if (strcmp(state, "MAIL") == 0) {
		if (preq.sender == NULL)
			preq.sender = "";
		c->op = policy_mail(client, &preq, on_verdict, c);
	} else if (strcmp(state, "RCPT") == 0) {
		if (preq.sender == NULL)
			preq.sender = "";
		if (preq.recipient == NULL || preq.recipient[0] == '\0') {
			answer(c, "DUNNO");
			return;
		}
		c->op = policy_rcpt(client, &preq, on_verdict, c);
	} else {
		answer(c, "DUNNO");
		return;
	}
	if (c->op == NULL)
		panic("policyd: the engine started no check");
}

/* Parse what has arrived, one request at a time. */
static void
process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (c->op == NULL) {
		struct evbuffer_iovec v;
		const char *error;
		int done;
		long used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		used = policy_parser_feed(c->pp, v.iov_base, v.iov_len, &done, &error);
		if (used < 0) {
			log_warnx("policyd: conn=%lu [%s]: protocol error: %s: closing the connection",
			    c->id, c->client_ip, error);
			conn_free(c);
			return;
		}
		evbuffer_drain(in, (size_t)used);
		if (done)
			handle(c, policy_parser_request(c->pp));
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	process(arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		log_info("policyd: conn=%lu [%s]: idle for %d s: closing", c->id, c->client_ip,
		    IDLE_TIMEOUT);
	else if ((what & BEV_EVENT_ERROR) && errno != ECONNRESET)
		log_warn("policyd: conn=%lu [%s]", c->id, c->client_ip);
	conn_free(c);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	struct timeval idle = { IDLE_TIMEOUT, 0 };

	net_nodelay(fd);
	c->id = ++next_id;
	c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("policyd: cannot serve a new connection");
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->pp = policy_parser_new();
	c->eng = engine_ref(current);
	str_copy(c->client_ip, "-", sizeof(c->client_ip));
	TAILQ_INSERT_TAIL(&conns, c, link);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug("policyd: conn=%lu: connected", c->id);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	log_warn("policyd: accept");
}

/* ---- the socket ---- */

/*
 * Postfix's smtpd connects as its own user: the socket is open to every
 * local user; its directory decides who reaches it.
 */
int
policyd_bind(const char *spec, char *path_r, size_t size, const char **error_r)
{
	return net_listen_spec("policy_listen", spec, 0666, path_r, size, error_r);
}

void
policyd_start(struct event_base *base, int fd, struct policy *p)
{
	policyd_set_policy(p);
	listener = evconnlistener_new(base, on_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (listener == NULL)
		fatal("policyd: cannot serve the listening socket");
	evconnlistener_set_error_cb(listener, on_accept_error);
}

void
policyd_set_policy(struct policy *p)
{
	struct engine *e = xcalloc(1, sizeof(*e));

	e->p = p;
	e->refs = 1;
	engine_unref(&current);
	current = e;
}

void
policyd_stop(void)
{
	while (!TAILQ_EMPTY(&conns))
		conn_free(TAILQ_FIRST(&conns));
	if (listener != NULL)
		evconnlistener_free(listener);
	listener = NULL;
	engine_unref(&current);
}
