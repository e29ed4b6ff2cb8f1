/* SPDX-License-Identifier: MIT */
/*
 * managesieve - ManageSieve sessions.  See managesieve.h.
 *
 * A session parses whole commands out of its input buffer: a command is
 * a line whose arguments may be literals, so the parser either finds the
 * whole command (literals included) or says how many bytes it needs
 * before it is worth trying again, which keeps a 1 MB PUTSCRIPT linear.
 */
#include "facteur-config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/workpool.h"
#include "store/auth.h"
#include "store/directory.h"
#include "store/directory_shared.h"
#include "store/managesieve.h"
#include "store/mstore.h"
#include "store/sieve.h"
#include "store/sieve_store.h"

#define MAX_ARGS 6
#define MAX_QUOTED 1024
#define AUTH_WORKERS 2

enum state { S_NOAUTH, S_AUTH };

struct session {
	struct session *next, *prev;
	struct bufferevent *bev;
	char addr[64];
	enum state state;
	int tls, closing, dead, waiting;
	int errors;
	unsigned int commands;
	char account[DIR_ADDR_SIZE];
	struct sieve_store *ss;
	int sasl_wait;		/* AUTHENTICATE sent its empty challenge */
	struct auth_job *auth_job;
	size_t need;		/* bytes the input must hold before parsing again */
	uint64_t discard;	/* bytes of a too big literal still to throw away */
	int discard_line;	/* throw away input through the next line end */
	const char *after_discard;	/* the answer once it is thrown away */
};

struct auth_job {
	struct session *s;
	struct auth_request *req;
	char user[DIR_ADDR_SIZE];
};

struct arg {
	int atom;		/* not a string: command names, numbers */
	char *s;		/* NUL-terminated (a literal may hold NULs: len says) */
	size_t len;
};

struct command {
	struct arg v[MAX_ARGS];
	int n;
};

static struct event_base *ms_base;
static SSL_CTX *ms_tls;
static struct mstore *ms_store;
static struct workpool *auth_pool;
static struct session *sessions;

static void event_cb(struct bufferevent *bev, short what, void *arg);
static void read_cb(struct bufferevent *bev, void *arg);
static void process(struct session *s);

/* ---- output ---- */

static void
send_line(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
send_line(struct session *s, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

/* A string as RFC 5804 wants it: quoted when it can be, else a literal. */
static void
put_string(struct evbuffer *out, const char *s, size_t len)
{
	int quoted = len <= MAX_QUOTED;

	for (size_t i = 0; i < len && quoted; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			quoted = 0;
	if (!quoted) {
		evbuffer_add_printf(out, "{%zu}\r\n", len);
		evbuffer_add(out, s, len);
		return;
	}
	evbuffer_add(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			evbuffer_add(out, "\\", 1);
		evbuffer_add(out, &s[i], 1);
	}
	evbuffer_add(out, "\"", 1);
}

/* OK, NO or BYE, with a response code (NULL: none) and a text. */
static void
respond(struct session *s, const char *what, const char *code, const char *text)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_printf(out, "%s", what);
	if (code != NULL)
		evbuffer_add_printf(out, " (%s)", code);
	if (text != NULL) {
		evbuffer_add(out, " ", 1);
		put_string(out, text, strlen(text));
	}
	evbuffer_add(out, "\r\n", 2);
}

/* ---- sessions ---- */

static void
session_free(struct session *s)
{
	log_info("managesieve: disconnect from [%s] user=%s commands=%u", s->addr,
	    s->account[0] != '\0' ? s->account : "-", s->commands);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	sieve_store_close(&s->ss);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s);
}

static void
free_deferred(evutil_socket_t fd, short what, void *arg)
{
	session_free(arg);
}

static void
write_drained(struct bufferevent *bev, void *arg)
{
	session_free(arg);
}

/* Stop reading; free once the output is written.  Never frees synchronously. */
static void
session_close(struct session *s)
{
	static const struct timeval now = { 0, 0 };

	if (s->closing)
		return;
	s->closing = 1;
	bufferevent_disable(s->bev, EV_READ);
	if (s->auth_job != NULL) {
		s->dead = 1;	/* the job's callback frees the session */
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		event_base_once(ms_base, -1, EV_TIMEOUT, free_deferred, s, &now);
		return;
	}
	bufferevent_setcb(s->bev, NULL, write_drained, event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void
set_timeout(struct session *s)
{
	struct timeval tv = { MANAGESIEVE_TIMEOUT, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
error_count(struct session *s)
{
	if (++s->errors >= MANAGESIEVE_MAX_ERRORS) {
		respond(s, "BYE", NULL, "Too many errors");
		log_info("managesieve: too many errors from [%s]: closing", s->addr);
		session_close(s);
	}
}

static void
no(struct session *s, const char *code, const char *text)
{
	respond(s, "NO", code, text);
	error_count(s);
}

static void
capabilities(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	const char *ext = sieve_extensions();

	evbuffer_add_printf(out, "\"IMPLEMENTATION\" \"facteur\"\r\n");
	evbuffer_add_printf(out, "\"SIEVE\" ");
	put_string(out, ext, strlen(ext));
	evbuffer_add(out, "\r\n", 2);
	/* PLAIN only where the password cannot be read on the way. */
	evbuffer_add_printf(out, "\"SASL\" \"%s\"\r\n", s->tls ? "PLAIN" : "");
	if (!s->tls && ms_tls != NULL)
		evbuffer_add_printf(out, "\"STARTTLS\"\r\n");
	evbuffer_add_printf(out, "\"MAXREDIRECTS\" \"%d\"\r\n", SIEVE_MAX_REDIRECTS);
	if (s->state == S_AUTH) {
		evbuffer_add_printf(out, "\"OWNER\" ");
		put_string(out, s->account, strlen(s->account));
		evbuffer_add(out, "\r\n", 2);
	}
	evbuffer_add_printf(out, "\"VERSION\" \"1.0\"\r\n");
}

/* ---- parsing ---- */

static void
command_free(struct command *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->v[i].s);
	c->n = 0;
}

enum parse { P_DONE, P_MORE, P_ERROR, P_TOO_BIG, P_FATAL };

/*
 * One command from p[0..len).  P_DONE: *used_r bytes make it up.
 * P_MORE: come back when the input holds *used_r bytes (0: one more).
 * P_ERROR: *used_r bytes are bad, the rest of the line is to be dropped.
 * P_TOO_BIG: a literal of *big_r bytes starts at *used_r.  P_FATAL: a
 * line too long.
 */
static enum parse
parse(const char *p, size_t len, struct command *c, size_t *used_r, uint64_t *big_r,
    const char **error_r)
{
	size_t i = 0, line = 0;

	c->n = 0;
	*used_r = 0;
	for (;;) {
		struct arg *a;

		while (i < len && p[i] == ' ')
			i++, line++;
		if (line > MANAGESIEVE_MAX_LINE) {
			*error_r = "Line too long";
			return P_FATAL;
		}
		if (i >= len)
			return P_MORE;
		if (p[i] == '\n' || p[i] == '\r') {
			if (p[i] == '\r') {
				if (i + 1 >= len)
					return P_MORE;
				if (p[i + 1] != '\n')
					goto bad;
				i++;
			}
			*used_r = i + 1;
			if (c->n == 0) {
				*error_r = "Empty command";
				return P_ERROR;
			}
			return P_DONE;
		}
		if (c->n >= MAX_ARGS) {
			*error_r = "Too many arguments";
			goto bad;
		}
		a = &c->v[c->n];
		memset(a, 0, sizeof(*a));
		if (p[i] == '"') {
			size_t j = i + 1, n = 0;
			char buf[MAX_QUOTED + 1];
			for (;; j++) {
				if (j >= len)
					return line + (j - i) > MANAGESIEVE_MAX_LINE ?
					    (*error_r = "Line too long", P_FATAL) : P_MORE;
				if (p[j] == '"')
					break;
				if (p[j] == '\r' || p[j] == '\n' || p[j] == '\0') {
					*error_r = "A quoted string cannot hold a line end";
					i = j;
					goto bad;
				}
				if (p[j] == '\\') {
					if (j + 1 >= len)
						return P_MORE;
					j++;
				}
				if (n >= MAX_QUOTED) {
					*error_r = "Quoted string too long (use a literal)";
					i = j;
					goto bad;
				}
				buf[n++] = p[j];
			}
			a->s = xstrndup(buf, n);
			a->len = n;
			line += j + 1 - i;
			i = j + 1;
		} else if (p[i] == '{') {
			size_t j = i + 1;
			uint64_t n = 0;
			int digits = 0;
			while (j < len && p[j] >= '0' && p[j] <= '9' && digits < 12) {
				n = n * 10 + (uint64_t)(p[j++] - '0');
				digits++;
			}
			if (j < len && p[j] == '+')
				j++;
			if (j >= len || (j + 1 >= len && p[j] == '}'))
				return P_MORE;
			if (digits == 0 || p[j] != '}') {
				*error_r = "Bad literal: {size} or {size+} then a line end";
				i = j;
				goto bad;
			}
			j++;
			if (p[j] == '\r') {
				if (j + 1 >= len)
					return P_MORE;
				j++;
			}
			if (p[j] != '\n') {
				*error_r = "Bad literal: a line end must follow {size}";
				i = j;
				goto bad;
			}
			j++;
			line += j - i;
			if (n > SIEVE_MAX_SCRIPT_SIZE) {
				*used_r = j;
				*big_r = n;
				return P_TOO_BIG;
			}
			if (len - j < n) {
				*used_r = j + (size_t)n + 1;
				return P_MORE;
			}
			a->s = xstrndup(p + j, (size_t)n);
			a->len = (size_t)n;
			i = j + (size_t)n;
		} else {
			size_t j = i;
			while (j < len && p[j] != ' ' && p[j] != '\r' && p[j] != '\n') {
				unsigned char ch = (unsigned char)p[j];
				if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '{') {
					*error_r = "Bad character in a command";
					i = j;
					goto bad;
				}
				j++;
			}
			if (j >= len)
				return line + (j - i) > MANAGESIEVE_MAX_LINE ?
				    (*error_r = "Line too long", P_FATAL) : P_MORE;
			a->atom = 1;
			a->s = xstrndup(p + i, j - i);
			a->len = j - i;
			line += j - i;
			i = j;
		}
		c->n++;
		/* Arguments are separated by a space, or the line ends. */
		if (i < len && p[i] != ' ' && p[i] != '\r' && p[i] != '\n') {
			*error_r = "Missing space between arguments";
			goto bad;
		}
	}
bad:
	if (*error_r == NULL)
		*error_r = "Syntax error";
	*used_r = i;
	return P_ERROR;
}

/* A string argument (quoted or literal), or NULL. */
static const struct arg *
string_arg(const struct command *c, int i)
{
	return i < c->n && !c->v[i].atom ? &c->v[i] : NULL;
}

/* ---- login ---- */

static int
base64_decode(const char *in, size_t len, char *out, size_t size, size_t *n_r)
{
	unsigned int bits = 0, nbits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int v;
		char ch = in[i];
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+')
			v = 62;
		else if (ch == '/')
			v = 63;
		else if (ch == '=')
			break;
		else
			return -1;
		bits = bits << 6 | (unsigned int)v;
		nbits += 6;
		if (nbits >= 8) {
			nbits -= 8;
			if (n + 1 >= size)
				return -1;
			out[n++] = (char)(bits >> nbits & 0xff);
		}
	}
	out[n] = '\0';
	*n_r = n;
	return 0;
}

static void
login_result(struct session *s, enum auth_result r, const char *account)
{
	struct mstore_account *a;
	const char *error;
	int status;

	if (r != AUTH_OK) {
		log_info("managesieve: login failed from [%s] result=%s", s->addr,
		    auth_result_str(r));
		if (r == AUTH_THROTTLED || r == AUTH_TEMPFAIL)
			no(s, "TRYLATER", "Temporary authentication failure");
		else
			no(s, NULL, "Authentication failed");
		return;
	}
	/* The account's directory in the store, made as imapd makes it. */
	if ((a = mstore_account_open(ms_store, account, 1, &status, &error)) == NULL ||
	    (s->ss = sieve_store_open(ms_store, account, 1, &error)) == NULL) {
		log_warnx("managesieve: user=%s: %s", account, error);
		mstore_account_close(&a);
		no(s, "TRYLATER", "The mail store is not available");
		return;
	}
	mstore_account_close(&a);
	str_copy(s->account, account, sizeof(s->account));
	s->state = S_AUTH;
	log_info("managesieve: login user=%s from [%s]", account, s->addr);
	respond(s, "OK", NULL, "Logged in");
}

static void
auth_work(void *arg)
{
	struct auth_job *j = arg;

	auth_login_verify(j->req);
}

static void
auth_done(void *arg)
{
	struct auth_job *j = arg;
	struct session *s = j->s;
	char account[DIR_ADDR_SIZE];
	enum auth_result r;

	s->auth_job = NULL;
	if (s->dead) {
		auth_request_free(&j->req);
		free(j);
		session_free(s);
		return;
	}
	r = auth_login_end(&j->req, account, sizeof(account));
	free(j);
	s->waiting = 0;
	login_result(s, r, account);
	if (!s->closing) {
		bufferevent_enable(s->bev, EV_READ);
		process(s);
	}
}

/* The PLAIN response (base64 of authzid NUL authcid NUL password). */
static void
sasl_plain(struct session *s, const char *b64, size_t len)
{
	char buf[2048], *authz, *user, *pass;
	struct auth_request *req = NULL;
	struct auth_job *j;
	enum auth_result r;
	size_t n;

	if (len == 1 && b64[0] == '*') {
		respond(s, "NO", NULL, "Authentication cancelled");
		return;
	}
	if (base64_decode(b64, len, buf, sizeof(buf), &n) < 0 ||
	    (user = memchr(buf, '\0', n)) == NULL ||
	    (pass = memchr(user + 1, '\0', n - (size_t)(user + 1 - buf))) == NULL) {
		no(s, NULL, "Bad PLAIN response");
		return;
	}
	authz = buf;
	user++;
	pass++;
	if (authz[0] != '\0' && str_casecmp(authz, user) != 0) {
		explicit_bzero(buf, sizeof(buf));
		no(s, NULL, "Authentication failed: no proxy authorization");
		return;
	}
	r = auth_login_begin(directory_shared(), user, pass, "sieve", s->addr, &req);
	explicit_bzero(buf, sizeof(buf));
	if (r != AUTH_OK || req == NULL) {
		login_result(s, r != AUTH_OK ? r : AUTH_TEMPFAIL, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->req = req;
	s->auth_job = j;
	s->waiting = 1;
	bufferevent_disable(s->bev, EV_READ);
	workpool_submit(auth_pool, auth_work, auth_done, j);
}

static void
cmd_authenticate(struct session *s, const struct command *c)
{
	const struct arg *mech = string_arg(c, 1), *initial = string_arg(c, 2);

	if (s->state != S_NOAUTH) {
		no(s, NULL, "Already logged in");
		return;
	}
	if (mech == NULL || c->n > 3 || (c->n == 3 && initial == NULL)) {
		no(s, NULL, "Usage: AUTHENTICATE \"PLAIN\" [initial response]");
		return;
	}
	if (str_casecmp(mech->s, "PLAIN") != 0) {
		no(s, NULL, "Unsupported mechanism (use PLAIN)");
		return;
	}
	if (!s->tls) {
		no(s, "ENCRYPT-NEEDED", "Use STARTTLS first");
		return;
	}
	if (initial == NULL) {
		/* The empty challenge: the client answers with its response. */
		s->sasl_wait = 1;
		send_line(s, "\"\"");
		return;
	}
	sasl_plain(s, initial->s, initial->len);
}

/* ---- TLS ---- */

static int
flush_now(int fd, struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf), done = 0;
	const unsigned char *p = len > 0 ? evbuffer_pullup(buf, -1) : NULL;

	while (done < len) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (poll(&pfd, 1, 1000) <= 0)
			return -1;
	}
	evbuffer_drain(buf, len);
	return 0;
}

/*
 * OK goes out in clear text, then the socket speaks TLS; whatever the
 * client pipelined after STARTTLS is dropped with the old buffers.  Once
 * TLS is up the capabilities are sent again (RFC 5804 2.2).
 */
static void
cmd_starttls(struct session *s, const struct command *c)
{
	evutil_socket_t fd;
	SSL *ssl;

	if (c->n != 1) {
		no(s, NULL, "STARTTLS takes no arguments");
		return;
	}
	if (s->tls) {
		no(s, NULL, "TLS is already active");
		return;
	}
	if (ms_tls == NULL || (ssl = SSL_new(ms_tls)) == NULL) {
		no(s, NULL, "TLS is not available");
		return;
	}
	respond(s, "OK", NULL, "Begin TLS negotiation now");
	fd = bufferevent_getfd(s->bev);
	if (flush_now(fd, bufferevent_get_output(s->bev)) < 0) {
		SSL_free(ssl);
		session_close(s);
		return;
	}
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	s->bev = bufferevent_openssl_socket_new(ms_base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		panic("managesieve: cannot create a TLS bufferevent");
	s->tls = 1;
	s->need = 0;
	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	capabilities(s);
	respond(s, "OK", NULL, "TLS active");
}

/* ---- scripts ---- */

static int
list_one(const char *name, int active, void *ctx)
{
	struct session *s = ctx;
	struct evbuffer *out = bufferevent_get_output(s->bev);

	put_string(out, name, strlen(name));
	evbuffer_add_printf(out, "%s\r\n", active ? " ACTIVE" : "");
	return 0;
}

/*
 * A failure of the store, with the response code it calls for: an answer,
 * not a protocol error (not counted).
 */
static void
store_error(struct session *s, int rc, const char *error, const char *what)
{
	switch (rc) {
	case SIEVE_STORE_ENOTFOUND:
		respond(s, "NO", "NONEXISTENT", "There is no script of that name");
		break;
	case SIEVE_STORE_EEXISTS:
		respond(s, "NO", "ALREADYEXISTS", "A script of that name exists already");
		break;
	case SIEVE_STORE_EACTIVE:
		respond(s, "NO", "ACTIVE", "The script is active: deactivate it first");
		break;
	case SIEVE_STORE_EQUOTA:
		respond(s, "NO", strstr(error, "many") != NULL ? "QUOTA/MAXSCRIPTS" : "QUOTA/MAXSIZE",
		    error);
		break;
	case SIEVE_STORE_EINVAL:
		respond(s, "NO", NULL, "Bad script name");
		break;
	default:
		log_warnx("managesieve: user=%s %s: %s", s->account, what, error);
		respond(s, "NO", "TRYLATER", "The script store is not available");
		break;
	}
}

static int
name_arg(struct session *s, const struct arg *a, int allow_empty)
{
	if (a == NULL)
		return 0;
	if (strlen(a->s) != a->len || (a->len == 0 && !allow_empty) ||
	    (a->len > 0 && !sieve_name_valid(a->s))) {
		no(s, NULL, "Bad script name");
		return -1;
	}
	return 1;
}

/* Compile text; 0, or -1 after answering NO with the error. */
static int
check_script(struct session *s, const struct arg *script)
{
	char error[SIEVE_ERROR_SIZE];
	struct sieve_script *compiled = sieve_compile(script->s, script->len, error, sizeof(error));

	if (compiled == NULL) {
		log_info("managesieve: user=%s: script refused: %s", s->account, error);
		respond(s, "NO", NULL, error);
		return -1;
	}
	sieve_script_free(&compiled);
	return 0;
}

static void
cmd_scripts(struct session *s, const char *name, const struct command *c)
{
	const struct arg *a1 = string_arg(c, 1), *a2 = string_arg(c, 2);
	const char *error = "";
	int rc;

	if (strcmp(name, "LISTSCRIPTS") == 0) {
		if (c->n != 1) {
			no(s, NULL, "LISTSCRIPTS takes no arguments");
			return;
		}
		if ((rc = sieve_store_list(s->ss, list_one, s, &error)) < 0)
			store_error(s, rc, error, "LISTSCRIPTS");
		else
			respond(s, "OK", NULL, "Listscripts completed");
		return;
	}
	if (strcmp(name, "GETSCRIPT") == 0) {
		char *text;
		size_t len;
		int ok = name_arg(s, a1, 0);
		if (c->n != 2 || ok == 0) {
			no(s, NULL, "Usage: GETSCRIPT <name>");
			return;
		}
		if (ok < 0)
			return;
		if ((rc = sieve_store_get(s->ss, a1->s, &text, &len, &error)) < 0) {
			store_error(s, rc, error, "GETSCRIPT");
			return;
		}
		evbuffer_add_printf(bufferevent_get_output(s->bev), "{%zu}\r\n", len);
		evbuffer_add(bufferevent_get_output(s->bev), text, len);
		evbuffer_add(bufferevent_get_output(s->bev), "\r\n", 2);
		free(text);
		respond(s, "OK", NULL, "Getscript completed");
		return;
	}
	if (strcmp(name, "PUTSCRIPT") == 0) {
		int ok = a2 != NULL ? name_arg(s, a1, 0) : 0;
		if (c->n != 3 || ok == 0) {
			no(s, NULL, "Usage: PUTSCRIPT <name> <script>");
			return;
		}
		if (ok < 0 || check_script(s, a2) < 0)
			return;
		if ((rc = sieve_store_put(s->ss, a1->s, a2->s, a2->len, &error)) < 0) {
			store_error(s, rc, error, "PUTSCRIPT");
			return;
		}
		log_info("managesieve: user=%s putscript name=\"%s\" bytes=%zu", s->account, a1->s,
		    a2->len);
		respond(s, "OK", NULL, "Putscript completed");
		return;
	}
	if (strcmp(name, "CHECKSCRIPT") == 0) {
		if (c->n != 2 || a1 == NULL) {
			no(s, NULL, "Usage: CHECKSCRIPT <script>");
			return;
		}
		if (check_script(s, a1) == 0)
			respond(s, "OK", NULL, "Script is valid");
		return;
	}
	if (strcmp(name, "SETACTIVE") == 0) {
		int ok = name_arg(s, a1, 1);
		if (c->n != 2 || ok == 0) {
			no(s, NULL, "Usage: SETACTIVE <name> (\"\" for none)");
			return;
		}
		if (ok < 0)
			return;
		if ((rc = sieve_store_activate(s->ss, a1->s, &error)) < 0) {
			store_error(s, rc, error, "SETACTIVE");
			return;
		}
		log_info("managesieve: user=%s setactive name=\"%s\"", s->account, a1->s);
		respond(s, "OK", NULL, a1->len > 0 ? "Script activated" : "No script is active");
		return;
	}
	if (strcmp(name, "DELETESCRIPT") == 0) {
		int ok = name_arg(s, a1, 0);
		if (c->n != 2 || ok == 0) {
			no(s, NULL, "Usage: DELETESCRIPT <name>");
			return;
		}
		if (ok < 0)
			return;
		if ((rc = sieve_store_delete(s->ss, a1->s, &error)) < 0) {
			store_error(s, rc, error, "DELETESCRIPT");
			return;
		}
		log_info("managesieve: user=%s deletescript name=\"%s\"", s->account, a1->s);
		respond(s, "OK", NULL, "Deletescript completed");
		return;
	}
	if (strcmp(name, "RENAMESCRIPT") == 0) {
		int ok = a2 != NULL ? name_arg(s, a1, 0) : 0;
		if (c->n != 3 || ok == 0) {
			no(s, NULL, "Usage: RENAMESCRIPT <old name> <new name>");
			return;
		}
		if (ok < 0 || name_arg(s, a2, 0) < 0)
			return;
		if ((rc = sieve_store_rename(s->ss, a1->s, a2->s, &error)) < 0) {
			store_error(s, rc, error, "RENAMESCRIPT");
			return;
		}
		log_info("managesieve: user=%s renamescript from=\"%s\" to=\"%s\"", s->account,
		    a1->s, a2->s);
		respond(s, "OK", NULL, "Renamescript completed");
		return;
	}
	if (strcmp(name, "HAVESPACE") == 0) {
		const struct arg *size = c->n == 3 && c->v[2].atom ? &c->v[2] : NULL;
		char *end;
		unsigned long long n;
		int exists, ok = size != NULL ? name_arg(s, a1, 0) : 0;

		if (c->n != 3 || ok == 0) {
			no(s, NULL, "Usage: HAVESPACE <name> <size>");
			return;
		}
		if (ok < 0)
			return;
		errno = 0;
		n = strtoull(size->s, &end, 10);
		if (*end != '\0' || errno != 0 || size->s[0] < '0' || size->s[0] > '9') {
			no(s, NULL, "HAVESPACE: the size must be a number");
			return;
		}
		if (n > SIEVE_MAX_SCRIPT_SIZE) {
			respond(s, "NO", "QUOTA/MAXSIZE", "The script would be too big");
			return;
		}
		{
			char *text;
			size_t len;
			exists = sieve_store_get(s->ss, a1->s, &text, &len, &error) == 0;
			if (exists)
				free(text);
		}
		if (!exists && sieve_store_count(s->ss) >= SIEVE_MAX_SCRIPTS) {
			respond(s, "NO", "QUOTA/MAXSCRIPTS", "Too many scripts");
			return;
		}
		respond(s, "OK", NULL, "Putscript would succeed");
		return;
	}
	no(s, NULL, "Unknown command");
}

/* ---- commands ---- */

static void
command(struct session *s, struct command *c)
{
	char name[32];
	size_t i;

	s->commands++;
	if (s->sasl_wait) {
		s->sasl_wait = 0;
		if (c->n != 1 || c->v[0].atom) {
			no(s, NULL, "Expected the SASL response as a string");
			return;
		}
		sasl_plain(s, c->v[0].s, c->v[0].len);
		return;
	}
	if (!c->v[0].atom || c->v[0].len >= sizeof(name)) {
		no(s, NULL, "A command name is expected");
		return;
	}
	for (i = 0; i < c->v[0].len; i++)
		name[i] = (char)(c->v[0].s[i] >= 'a' && c->v[0].s[i] <= 'z' ? c->v[0].s[i] - 32 :
		    c->v[0].s[i]);
	name[i] = '\0';
	log_debug("managesieve: [%s] < %s", s->addr, name);
	if (strcmp(name, "CAPABILITY") == 0) {
		if (c->n != 1) {
			no(s, NULL, "CAPABILITY takes no arguments");
			return;
		}
		capabilities(s);
		respond(s, "OK", NULL, "Capability completed");
	} else if (strcmp(name, "LOGOUT") == 0) {
		respond(s, "OK", NULL, "Logout completed");
		session_close(s);
	} else if (strcmp(name, "NOOP") == 0) {
		const struct arg *tag = string_arg(c, 1);
		if (c->n > 2 || (c->n == 2 && tag == NULL)) {
			no(s, NULL, "Usage: NOOP [tag]");
		} else if (tag != NULL) {
			struct evbuffer *out = bufferevent_get_output(s->bev);
			evbuffer_add_printf(out, "OK (TAG ");
			put_string(out, tag->s, tag->len);
			evbuffer_add_printf(out, ") \"Done\"\r\n");
		} else {
			respond(s, "OK", NULL, "Done");
		}
	} else if (strcmp(name, "STARTTLS") == 0) {
		cmd_starttls(s, c);
	} else if (strcmp(name, "AUTHENTICATE") == 0) {
		cmd_authenticate(s, c);
	} else if (s->state != S_AUTH) {
		if (strcmp(name, "LISTSCRIPTS") == 0 || strcmp(name, "GETSCRIPT") == 0 ||
		    strcmp(name, "PUTSCRIPT") == 0 || strcmp(name, "CHECKSCRIPT") == 0 ||
		    strcmp(name, "SETACTIVE") == 0 || strcmp(name, "DELETESCRIPT") == 0 ||
		    strcmp(name, "RENAMESCRIPT") == 0 || strcmp(name, "HAVESPACE") == 0)
			no(s, NULL, "Log in first (AUTHENTICATE)");
		else
			no(s, NULL, "Unknown command");
	} else {
		cmd_scripts(s, name, c);
	}
}

static void
process(struct session *s)
{
	while (!s->closing && !s->waiting) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		size_t avail = evbuffer_get_length(in), used = 0;
		const char *error = NULL;
		struct command c;
		uint64_t big = 0;
		enum parse rc;

		if (s->discard > 0) {
			size_t n = avail < s->discard ? avail : (size_t)s->discard;
			evbuffer_drain(in, n);
			s->discard -= n;
			if (s->discard > 0)
				return;
			continue;
		}
		if (s->discard_line) {
			struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
			if (p.pos < 0) {
				evbuffer_drain(in, avail);
				return;
			}
			evbuffer_drain(in, (size_t)p.pos + 1);
			s->discard_line = 0;
			if (s->after_discard != NULL) {
				respond(s, "NO", "QUOTA/MAXSIZE", s->after_discard);
				s->after_discard = NULL;
				error_count(s);
			}
			continue;
		}
		if (avail == 0 || avail < s->need)
			return;
		rc = parse((const char *)evbuffer_pullup(in, -1), avail, &c, &used, &big, &error);
		switch (rc) {
		case P_MORE:
			command_free(&c);
			s->need = used > avail ? used : avail + 1;
			return;
		case P_DONE:
			s->need = 0;
			evbuffer_drain(in, used);
			command(s, &c);
			command_free(&c);
			break;
		case P_ERROR:
			s->need = 0;
			command_free(&c);
			evbuffer_drain(in, used);
			s->discard_line = 1;
			no(s, NULL, error);
			break;
		case P_TOO_BIG:
			s->need = 0;
			command_free(&c);
			evbuffer_drain(in, used);
			s->discard = big;
			s->discard_line = 1;
			s->after_discard = "Literal too big (a script has at most 1048576 bytes)";
			log_info("managesieve: [%s] literal of %llu bytes: thrown away", s->addr,
			    (unsigned long long)big);
			break;
		case P_FATAL:
			command_free(&c);
			respond(s, "BYE", NULL, error);
			session_close(s);
			return;
		}
	}
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	process(arg);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing) {
			session_free(s);
			return;
		}
		log_info("managesieve: timeout from [%s]", s->addr);
		respond(s, "BYE", NULL, "Disconnected for inactivity");
		session_close(s);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && errno != ECONNRESET && errno != EPIPE && errno != 0)
		log_info("managesieve: [%s]: %s", s->addr, strerror(errno));
	if (s->auth_job != NULL) {
		s->dead = 1;
		s->closing = 1;
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	session_free(s);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct session *s = xcalloc(1, sizeof(*s));

	net_nodelay(fd);
	net_addr_str(sa, s->addr, sizeof(s->addr));
	s->bev = bufferevent_socket_new(ms_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		free(s);
		return;
	}
	s->next = sessions;
	if (sessions != NULL)
		sessions->prev = s;
	sessions = s;
	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_info("managesieve: connect from [%s]", s->addr);
	capabilities(s);
	respond(s, "OK", NULL, "facteur ManageSieve ready");
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	log_warn("managesieve: accept");
}

void
managesieve_listen(int fd)
{
	struct evconnlistener *l;

	net_set_nonblock(fd);
	l = evconnlistener_new(ms_base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL)
		fatalx("managesieve: cannot listen on fd %d", fd);
	evconnlistener_set_error_cb(l, on_accept_error);
}

void
managesieve_init(struct event_base *base, SSL_CTX *tls)
{
	const char *error;

	ms_base = base;
	ms_tls = tls;
	if ((ms_store = mstore_open(NULL, &error)) == NULL)
		fatalx("managesieve: mail store: %s", error);
	auth_pool = workpool_new(base, AUTH_WORKERS);
}

void
managesieve_set_tls(SSL_CTX *tls)
{
	if (tls != NULL) {
		if (ms_tls != NULL)
			SSL_CTX_free(ms_tls);
		ms_tls = tls;
	}
}

void
managesieve_shutdown(void)
{
	for (struct session *s = sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (s->closing)
			continue;
		respond(s, "BYE", NULL, "Server shutting down");
		session_close(s);
	}
}
