/* SPDX-License-Identifier: MIT */
/*
 * api_http - the admin API over HTTPS (evhttp).  See api_http.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api_http.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/tls.h"
#include "lib/workpool.h"

/* Bodies evhttp reads at all; the API's own limit (API_BODY_MAX) answers 413 in JSON below it. */
#define BODY_HARD_MAX (1024 * 1024)
#define HEADERS_MAX 16384
#define IDLE_TIMEOUT 30
#define PREFIX "/api/v1/"
/*
 * argon2 steps waiting for a hash thread at most: each costs ~20 ms of a
 * core and 19 MiB, so a flood of logins gets 503 rather than a queue
 * that grows without end.
 */
#define HASH_PENDING_MAX 64

struct api_server {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *tls;
	struct api_ctx *ctx;
	struct workpool *dir;		/* one thread: the directory's */
	struct workpool *hash;
};

/* What the loop keeps of a call (api_call's http). */
struct pending {
	struct api_server *srv;
	struct evhttp_request *req;
};

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

static void
call_free(struct api_call *c)
{
	for (size_t i = 0; i < c->nseg; i++)
		free(c->seg[i]);
	if (c->token != NULL) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	json_decref(c->body);
	json_decref(c->reply);
	api_body_clear(&c->b);
	auth_request_free(&c->auth);
	explicit_bzero(c->hash, sizeof(c->hash));
	free(c->http);
	free(c);
}

/* Send c's answer (if its client is still there) and free c. */
static void
call_reply(struct api_call *c)
{
	struct pending *p = c->http;
	struct evkeyvalq *h;
	struct evbuffer *out;
	char *text;

	if (c->status == 0)
		api_fail(c, 500, NULL, "no answer was made");
	if (c->method == API_GET || c->status >= 400)
		log_debug("adminapi %s %s status=%d admin=%s client=%s", c->method_name, c->path,
		    c->status, c->admin[0] != '\0' ? c->admin : "-", c->client);
	/*
	 * A client that left while its call was in a thread: evhttp freed the
	 * connection and left the request to us (detached, not freed).
	 */
	if (evhttp_request_get_connection(p->req) == NULL) {
		log_info("adminapi %s %s: the client left before the answer (status %d)",
		    c->method_name, c->path, c->status);
		evhttp_request_free(p->req);
		call_free(c);
		return;
	}
	h = evhttp_request_get_output_headers(p->req);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (c->status == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"facteur\"");
	if (c->status == 405 && c->allow[0] != '\0')
		evhttp_add_header(h, "Allow", c->allow);
	if (c->status == 503)
		evhttp_add_header(h, "Retry-After", "1");
	if (c->status == 429) {
		char secs[32];
		snprintf(secs, sizeof(secs), "%ld", var_auth_failure_window);
		evhttp_add_header(h, "Retry-After", secs);
	}
	if ((out = evbuffer_new()) == NULL)
		panic("evbuffer_new");
	if (c->reply != NULL && c->status != 204) {
		evhttp_add_header(h, "Content-Type", "application/json");
		if ((text = json_dumps(c->reply, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL)
			panic("json_dumps");
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
		free(text);
	}
	evhttp_send_reply(p->req, c->status, reason(c->status), out);
	evbuffer_free(out);
	call_free(c);
}

/* ---- the steps through the threads ---- */

static void dir_work(void *arg);
static void dir_done(void *arg);

static void
hash_work(void *arg)
{
	struct api_call *c = arg;
	void (*fn)(struct api_call *) = c->slow;

	c->slow = NULL;
	fn(c);
}

static void
hash_done(void *arg)
{
	struct api_call *c = arg;
	struct pending *p = c->http;

	workpool_submit(p->srv->dir, dir_work, dir_done, c);
}

static void
dir_work(void *arg)
{
	struct api_call *c = arg;
	struct pending *p = c->http;
	void (*fn)(struct api_call *, struct api_ctx *) = c->next;

	if (fn != NULL) {
		c->next = NULL;
		fn(c, p->srv->ctx);
	} else {
		api_dispatch(c, p->srv->ctx);
	}
	if (c->slow != NULL)
		return;
	if (c->status == 0)
		api_fail(c, 500, NULL, "no answer was made");
	api_audit(c, p->srv->ctx);
}

static void
dir_done(void *arg)
{
	struct api_call *c = arg;
	struct pending *p = c->http;

	if (c->slow != NULL && workpool_pending(p->srv->hash) >= HASH_PENDING_MAX) {
		log_warnx("adminapi %s %s client=%s: %d passwords waiting to be checked already: 503",
		    c->method_name, c->path, c->client, HASH_PENDING_MAX);
		c->slow = NULL;
		c->next = NULL;
		auth_request_free(&c->auth);
		api_fail(c, 503, NULL, "too many passwords being checked now: try again");
	} else if (c->slow != NULL) {
		workpool_submit(p->srv->hash, hash_work, hash_done, c);
		return;
	}
	call_reply(c);
}

struct thread_job {
	void (*fn)(void *);
	void (*done)(void *);
	void *arg;
};

static void
job_work(void *arg)
{
	struct thread_job *j = arg;

	j->fn(j->arg);
}

static void
job_done(void *arg)
{
	struct thread_job *j = arg;

	if (j->done != NULL)
		j->done(j->arg);
	free(j);
}

void
api_http_in_directory_thread(struct api_server *s, void (*fn)(void *arg), void (*done)(void *arg),
    void *arg)
{
	struct thread_job *j = xmalloc(sizeof(*j));

	j->fn = fn;
	j->done = done;
	j->arg = arg;
	workpool_submit(s->dir, job_work, job_done, j);
}

/* ---- reading a request ---- */

/* Printable copy of s (a path as sent) into out. */
static void
printable(const char *s, char *out, size_t size)
{
	size_t n = 0;

	for (; *s != '\0' && n + 1 < size; s++)
		out[n++] = (unsigned char)*s > ' ' && (unsigned char)*s < 0x7f ? *s : '?';
	out[n] = '\0';
}

/* Split path (after PREFIX) into decoded segments: 0, or -1 (404: no such endpoint). */
static int
split_path(struct api_call *c, const char *rest)
{
	char *copy = xstrdup(rest), *p = copy, *slash;
	size_t len = strlen(copy);
	int rc = 0;

	/* "domains/" is "domains". */
	if (len > 0 && copy[len - 1] == '/')
		copy[len - 1] = '\0';
	while (rc == 0 && *p != '\0') {
		size_t dlen = 0;
		char *seg;

		if ((slash = strchr(p, '/')) != NULL)
			*slash = '\0';
		if (*p == '\0' || c->nseg == API_SEGMENTS_MAX ||
		    (seg = evhttp_uridecode(p, 0, &dlen)) == NULL) {
			rc = -1;
			break;
		}
		if (strlen(seg) != dlen) {
			/* %00 */
			free(seg);
			rc = -1;
			break;
		}
		c->seg[c->nseg++] = seg;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	free(copy);
	return rc;
}

/* A non-negative decimal of at most 9 digits; -1 if s is not one. */
static long
query_number(const char *s)
{
	long v = 0;
	size_t n = 0;

	for (; s[n] >= '0' && s[n] <= '9'; n++)
		v = v * 10 + (s[n] - '0');
	return n == 0 || n > 9 || s[n] != '\0' ? -1 : v;
}

static void
parse_query(struct api_call *c, const char *query)
{
	struct evkeyvalq kv;
	struct evkeyval *e;
	int seen_offset = 0, seen_limit = 0;

	c->offset = 0;
	c->limit = API_LIMIT_DEFAULT;
	if (query == NULL || query[0] == '\0')
		return;
	c->has_paging = 1;
	TAILQ_INIT(&kv);
	if (evhttp_parse_query_str(query, &kv) < 0) {
		api_error_set(&c->query_error, 400, NULL, "bad query string");
		evhttp_clear_headers(&kv);
		return;
	}
	TAILQ_FOREACH(e, &kv, next) {
		long v;
		if (c->query_error.status != 0)
			break;
		if (strcmp(e->key, "offset") == 0 && !seen_offset++) {
			if ((v = query_number(e->value)) < 0)
				api_error_set(&c->query_error, 400, "offset",
				    "offset: a number of entries from 0");
			else
				c->offset = v;
		} else if (strcmp(e->key, "limit") == 0 && !seen_limit++) {
			if ((v = query_number(e->value)) < 1 || v > API_LIMIT_MAX)
				api_error_set(&c->query_error, 400, "limit", "limit: 1 to %d",
				    API_LIMIT_MAX);
			else
				c->limit = v;
		} else {
			char key[64];
			printable(e->key, key, sizeof(key));
			api_error_set(&c->query_error, 400, key, "unknown or repeated query parameter %s",
			    key);
		}
	}
	evhttp_clear_headers(&kv);
}

static void
parse_auth(struct api_call *c, const char *value)
{
	if (value == NULL || str_ncasecmp(value, "Bearer ", 7) != 0)
		return;
	value += 7;
	while (*value == ' ')
		value++;
	c->token = xstrdup(value);
}

/* Is the Content-Type application/json (parameters allowed)? */
static int
is_json_type(const char *value)
{
	size_t n = strlen("application/json");

	if (value == NULL || str_ncasecmp(value, "application/json", n) != 0)
		return 0;
	return value[n] == '\0' || value[n] == ';' || value[n] == ' ';
}

static void
read_body(struct api_call *c, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *type = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");

	c->has_body = len > 0;
	c->json_type = is_json_type(type);
	if (len == 0)
		return;
	if (len > API_BODY_MAX) {
		api_error_set(&c->body_error, 413, NULL, "request body over %d bytes", API_BODY_MAX);
		return;
	}
	if (c->json_type)
		c->body = api_json_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)len), len,
		    &c->body_error);
}

static void
method_of(struct api_call *c, struct evhttp_request *req)
{
	static const struct {
		enum evhttp_cmd_type cmd;
		enum api_method m;
		const char *name;
	} methods[] = {
		{ EVHTTP_REQ_GET, API_GET, "GET" }, { EVHTTP_REQ_POST, API_POST, "POST" },
		{ EVHTTP_REQ_PATCH, API_PATCH, "PATCH" }, { EVHTTP_REQ_DELETE, API_DELETE, "DELETE" },
		{ EVHTTP_REQ_PUT, API_OTHER, "PUT" }, { EVHTTP_REQ_HEAD, API_OTHER, "HEAD" },
		{ EVHTTP_REQ_OPTIONS, API_OTHER, "OPTIONS" }, { EVHTTP_REQ_TRACE, API_OTHER, "TRACE" },
		{ EVHTTP_REQ_CONNECT, API_OTHER, "CONNECT" },
	};
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	c->method = API_OTHER;
	str_copy(c->method_name, "?", sizeof(c->method_name));
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (methods[i].cmd == cmd) {
			c->method = methods[i].m;
			str_copy(c->method_name, methods[i].name, sizeof(c->method_name));
		}
	}
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct api_server *s = arg;
	struct api_call *c = xcalloc(1, sizeof(*c));
	struct pending *p = xcalloc(1, sizeof(*p));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char *peer = NULL;
	ev_uint16_t port = 0;

	c->http = p;
	p->srv = s;
	p->req = req;
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
	printable(peer != NULL ? peer : "unknown", c->client, sizeof(c->client));
	method_of(c, req);
	if (path == NULL || path[0] == '\0')
		path = "/";
	printable(path, c->path, sizeof(c->path));
	if (strncmp(path, PREFIX, strlen(PREFIX)) != 0 || split_path(c, path + strlen(PREFIX)) < 0 ||
	    c->nseg == 0) {
		api_fail(c, 404, NULL, "no such endpoint %s (the API is under %s)", c->path, PREFIX);
		call_reply(c);
		return;
	}
	parse_query(c, evhttp_uri_get_query(uri));
	parse_auth(c, evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization"));
	read_body(c, req);
	workpool_submit(s->dir, dir_work, dir_done, c);
}

/* ---- TLS ---- */

static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
	struct api_server *s = arg;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(s->tls);

	/* Never NULL: evhttp would then make a plain-text connection. */
	if (ssl == NULL)
		panic("SSL_new: %s", tls_last_error());
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		panic("cannot make a TLS bufferevent");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct api_server *
api_http_new(struct event_base *base, SSL_CTX *tls, struct api_ctx *ctx, unsigned int hash_threads)
{
	struct api_server *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->tls = tls;
	s->ctx = ctx;
	if ((s->http = evhttp_new(base)) == NULL)
		fatalx("cannot create the HTTP server");
	evhttp_set_bevcb(s->http, make_bev, s);
	/* Every method evhttp knows reaches us, to be answered 405 in JSON. */
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(s->http, HEADERS_MAX);
	evhttp_set_max_body_size(s->http, BODY_HARD_MAX);
	evhttp_set_timeout(s->http, IDLE_TIMEOUT);
	evhttp_set_gencb(s->http, on_request, s);
	s->dir = workpool_new(base, 1);
	s->hash = workpool_new(base, hash_threads);
	return s;
}

int
api_http_listen(struct api_server *s, int fd)
{
	return evhttp_accept_socket(s->http, fd) == 0 ? 0 : -1;
}

void
api_http_free(struct api_server **sp)
{
	struct api_server *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	evhttp_free(s->http);
	workpool_free(&s->hash);
	workpool_free(&s->dir);
	free(s);
}
