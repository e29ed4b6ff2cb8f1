/* SPDX-License-Identifier: MIT */
/*
 * imapd - IMAP sessions: connections, TLS, the command loop, login, and
 * the view of the selected mailbox with its announcements.  See imapd.h.
 *
 * A command runs to its tagged reply before the next one is read; a
 * client may pipeline, the replies come in order.  Reading stops while a
 * command waits (a login's hash, a FETCH waiting for the client to read)
 * so that a client cannot queue unbounded input behind it.
 */
#include "facteur-config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/workpool.h"
#include "store/auth.h"
#include "store/directory_shared.h"
#include "store/imap_message.h"
#include "store/imapd.h"

/* BAD replies a session may earn before it is closed. */
#define IMAPD_BAD_LIMIT 20
/* Before login: time to finish it. */
#define IMAPD_PREAUTH_TIMEOUT 180
/* IDLE: how often the index is polled for other sessions' changes. */
#define IMAPD_IDLE_POLL_MS 1000
/* Argon2 at 19 MiB per hash: two threads. */
#define IMAPD_AUTH_WORKERS 2
#define IMAPD_MAX_READ 65536
/* Lines of IDLE's DONE and AUTHENTICATE's response. */
#define IMAPD_SHORT_LINE 8192
/* COMPRESS: inflated input kept ahead of the parser (a small bomb stays small). */
#define IMAPD_ZPLAIN_MAX (256 * 1024)

struct imapd_session {
	struct event_base *base;
	struct bufferevent *bev;
	struct imapd_session *prev, *next;
	char addr[64];
	int tls;
	enum imapd_state state;
	struct imap_reader *reader;
	struct event *kick;		/* resumes reading after a suspended command */
	char *tag;			/* of the command running */
	char *cmd_name;
	int running;			/* a command is running (no tagged reply yet) */
	int waiting;			/* ... and waits for a callback */
	int closing;
	int dead;			/* the client left while a job held the session */
	unsigned int bad;
	unsigned int commands;
	/* After login. */
	char account[DIR_ADDR_SIZE];
	struct mstore_account *acct;
	/* Other accounts' indexes opened for shared mailboxes (kept until logout). */
	struct mstore_account **others;
	size_t nothers;
	unsigned int enabled;
	struct imapd_selected *sel;
	int expunge_ok;
	int sync_needed;
	/* IDLE. */
	int idling;
	struct event *idle_timer;
	/* AUTHENTICATE PLAIN waiting for its response line. */
	int sasl_wait;
	/* Login in a worker thread. */
	struct imapd_auth_job *auth_job;
	/* A suspended command. */
	void (*resume)(struct imapd_session *s, void *state);
	void *resume_state;
	void (*resume_free)(void *state);
#ifdef HAVE_ZLIB
	/* COMPRESS=DEFLATE (RFC 4978): raw deflate both ways. */
	z_stream *zin, *zout;
	struct evbuffer *zplain;	/* inflated input, for the reader */
	int zerror;
#endif
};

struct imapd_auth_job {
	struct imapd_session *s;
	struct auth_request *req;
	char user[DIR_ADDR_SIZE];
	const char *mech;
};

static struct event_base *imapd_base;
static SSL_CTX *imapd_tls_ctx;
static struct mstore *imapd_ms;
static struct workpool *auth_pool;
static struct imapd_session *sessions;
static unsigned long nsessions;

static void process_input(struct imapd_session *s);
static void session_close(struct imapd_session *s);
static void imapd_read_cb(struct bufferevent *bev, void *arg);
static void imapd_event_cb(struct bufferevent *bev, short what, void *arg);

/* ---- output ---- */

/* Every byte for the client goes through here: compressed once COMPRESS is on. */
static void
out_add(struct imapd_session *s, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

#ifdef HAVE_ZLIB
	if (s->zout != NULL) {
		z_stream *z = s->zout;
		const unsigned char *p = data;

		/* Z_SYNC_FLUSH: each response reaches the client now, not with the next. */
		do {
			size_t n = len > (1u << 30) ? (1u << 30) : len;
			z->next_in = (Bytef *)(uintptr_t)p;
			z->avail_in = (uInt)n;
			p += n;
			len -= n;
			do {
				struct evbuffer_iovec v;
				if (evbuffer_reserve_space(out, (ev_ssize_t)(n / 2 + 16384), &v, 1) < 1)
					panic("imapd: cannot grow the output buffer");
				z->next_out = v.iov_base;
				z->avail_out = v.iov_len > (1u << 30) ? (1u << 30) : (uInt)v.iov_len;
				size_t room = z->avail_out;
				(void)deflate(z, len > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH);
				v.iov_len = room - z->avail_out;
				evbuffer_commit_space(out, &v, 1);
			} while (z->avail_out == 0 || z->avail_in > 0);
		} while (len > 0);
		return;
	}
#endif
	evbuffer_add(out, data, len);
}

static void
out_vprintf(struct imapd_session *s, const char *prefix, const char *fmt, va_list ap)
{
	struct imap_out o = { NULL, 0, 0 };
	char small[512];
	va_list copy;
	int n;

	if (prefix != NULL)
		imap_out_add(&o, prefix, strlen(prefix));
	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n >= 0 && (size_t)n < sizeof(small)) {
		imap_out_add(&o, small, (size_t)n);
	} else if (n >= 0) {
		char *big = xmalloc((size_t)n + 1);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		imap_out_add(&o, big, (size_t)n);
		free(big);
	}
	imap_out_add(&o, "\r\n", 2);
	out_add(s, o.data, o.len);
	imap_out_free(&o);
}

void
imapd_send(struct imapd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	out_vprintf(s, NULL, fmt, ap);
	va_end(ap);
}

void
imapd_send_raw(struct imapd_session *s, const void *data, size_t len)
{
	out_add(s, data, len);
}

size_t
imapd_output_pending(const struct imapd_session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

static void
command_end(struct imapd_session *s)
{
	free(s->tag);
	s->tag = NULL;
	free(s->cmd_name);
	s->cmd_name = NULL;
	s->running = 0;
	if (s->waiting) {
		s->waiting = 0;
		if (!s->closing)
			bufferevent_enable(s->bev, EV_READ);
		/* Commands pipelined behind this one are in the buffer already. */
		event_active(s->kick, EV_TIMEOUT, 0);
	}
}

void
imapd_tagged(struct imapd_session *s, const char *status, const char *fmt, ...)
{
	char *prefix;
	va_list ap;

	if (!s->running)
		panic("imapd: tagged reply without a command");
	/* What changed meanwhile comes before the end of a command that went well. */
	if (s->state == IMAPD_SELECTED && strcmp(status, "BAD") != 0)
		imapd_sync(s, 0);
	/* Bad commands in a row end the session; a good one starts the count again. */
	if (strcmp(status, "OK") == 0)
		s->bad = 0;
	prefix = xasprintf("%s %s ", s->tag, status);
	va_start(ap, fmt);
	out_vprintf(s, prefix, fmt, ap);
	va_end(ap);
	free(prefix);
	command_end(s);
}

static void
count_bad(struct imapd_session *s)
{
	if (++s->bad >= IMAPD_BAD_LIMIT) {
		log_info("imap: too many bad commands from [%s]", s->addr);
		imapd_send(s, "* BYE Too many invalid commands.");
		session_close(s);
	}
}

void
imapd_bad(struct imapd_session *s, const char *text)
{
	imapd_tagged(s, "BAD", "%s", text);
	count_bad(s);
}

/* ---- capabilities ---- */

static void
capabilities(struct imapd_session *s, struct imap_out *o)
{
	imap_out_printf(o, "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE");
	if (s->state == IMAPD_NOAUTH) {
		if (!s->tls && imapd_tls_ctx != NULL)
			imap_out_printf(o, " STARTTLS");
		if (s->tls)
			imap_out_printf(o, " AUTH=PLAIN");
		else
			imap_out_printf(o, " LOGINDISABLED");
		return;
	}
#ifdef HAVE_ZLIB
	imap_out_printf(o, " COMPRESS=DEFLATE");
#endif
	imap_out_printf(o, " IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN CONDSTORE QRESYNC"
	    " ESEARCH SEARCHRES WITHIN SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT"
	    " THREAD=REFERENCES SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY UTF8=ACCEPT"
	    " QUOTA QUOTA=RES-STORAGE ACL RIGHTS=texk APPENDLIMIT=%ld", var_message_size_limit);
}

static void
send_capability_code(struct imapd_session *s, const char *status, const char *text)
{
	struct imap_out o = { NULL, 0, 0 };

	capabilities(s, &o);
	imapd_tagged(s, status, "[CAPABILITY %s] %s", o.data, text);
	imap_out_free(&o);
}

/* ---- session life ---- */

static void
resume_drop(struct imapd_session *s)
{
	if (s->resume_free != NULL && s->resume_state != NULL)
		s->resume_free(s->resume_state);
	s->resume = NULL;
	s->resume_state = NULL;
	s->resume_free = NULL;
}

static void
selected_free(struct imapd_selected **selp)
{
	struct imapd_selected *sel = *selp;

	if (sel == NULL)
		return;
	free(sel->msgs);
	free(sel->keywords);
	free(sel->saved);
	free(sel);
	*selp = NULL;
}

static void
session_free(struct imapd_session *s)
{
	log_info("imap: disconnect from [%s] user=%s commands=%u", s->addr,
	    s->account[0] != '\0' ? s->account : "-", s->commands);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	nsessions--;
	resume_drop(s);
	selected_free(&s->sel);
	if (s->acct != NULL)
		mstore_account_close(&s->acct);
	for (size_t i = 0; i < s->nothers; i++)
		mstore_account_close(&s->others[i]);
	free(s->others);
	if (s->idle_timer != NULL)
		event_free(s->idle_timer);
	if (s->kick != NULL)
		event_free(s->kick);
	imap_reader_free(&s->reader);
#ifdef HAVE_ZLIB
	if (s->zin != NULL) {
		inflateEnd(s->zin);
		free(s->zin);
	}
	if (s->zout != NULL) {
		deflateEnd(s->zout);
		free(s->zout);
	}
	if (s->zplain != NULL)
		evbuffer_free(s->zplain);
#endif
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s->tag);
	free(s->cmd_name);
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

/* Stop reading; free once the queued output is written.  Never frees synchronously. */
static void
session_close(struct imapd_session *s)
{
	static const struct timeval now = { 0, 0 };

	if (s->closing)
		return;
	s->closing = 1;
	if (s->idle_timer != NULL)
		event_del(s->idle_timer);
	bufferevent_disable(s->bev, EV_READ);
	if (s->auth_job != NULL) {
		/* The job's callback frees the session. */
		s->dead = 1;
		return;
	}
	if (imapd_output_pending(s) == 0) {
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		event_base_once(s->base, -1, EV_TIMEOUT, free_deferred, s, &now);
		return;
	}
	bufferevent_setcb(s->bev, NULL, write_drained, imapd_event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
}

static void
set_timeout(struct imapd_session *s)
{
	long t = var_imap_idle_timeout;
	struct timeval tv;

	/* Before login, a few minutes (or less if imap_idle_timeout says so). */
	if (s->state == IMAPD_NOAUTH && t > IMAPD_PREAUTH_TIMEOUT)
		t = IMAPD_PREAUTH_TIMEOUT;
	tv.tv_sec = t > 0 ? t : 1;
	tv.tv_usec = 0;

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
imapd_write_cb(struct bufferevent *bev, void *arg)
{
	struct imapd_session *s = arg;
	void (*resume)(struct imapd_session *, void *) = s->resume;
	void *state = s->resume_state;

	if (resume == NULL || s->closing || imapd_output_pending(s) > IMAPD_OUTPUT_HIGH / 4)
		return;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	s->resume = NULL;
	s->resume_state = NULL;
	s->resume_free = NULL;
	resume(s, state);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct imapd_session *s = arg;

	if (s->closing)
		return;
	if (s->resume != NULL)
		imapd_write_cb(s->bev, s);
	else
		process_input(s);
}

void
imapd_suspend(struct imapd_session *s, void (*resume)(struct imapd_session *s, void *state),
    void *state, void (*state_free)(void *state))
{
	s->resume = resume;
	s->resume_state = state;
	s->resume_free = state_free;
	s->waiting = 1;
	bufferevent_disable(s->bev, EV_READ);
	/* The write callback runs when the output is down to a quarter. */
	bufferevent_setwatermark(s->bev, EV_WRITE, IMAPD_OUTPUT_HIGH / 4, 0);
	if (imapd_output_pending(s) <= IMAPD_OUTPUT_HIGH / 4) {
		/* Nothing to wait for: go on at the next loop turn. */
		event_active(s->kick, EV_TIMEOUT, 0);
	}
}

static void
imapd_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imapd_session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl != NULL)
			log_info("imap: TLS established from [%s]: %s with cipher %s", s->addr,
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing) {
			session_free(s);
			return;
		}
		log_info("imap: timeout from [%s]", s->addr);
		imapd_send(s, "* BYE Disconnected for inactivity.");
		session_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e != 0) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			log_info("imap: TLS error from [%s]: %s", s->addr, buf);
		}
	}
	if (s->auth_job != NULL) {
		s->dead = 1;
		s->closing = 1;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	session_free(s);
}

static void
greeting(struct imapd_session *s)
{
	struct imap_out o = { NULL, 0, 0 };

	capabilities(s, &o);
	imapd_send(s, "* OK [CAPABILITY %s] facteur IMAP ready.", o.data);
	imap_out_free(&o);
}

static void
reader_limits(struct imapd_session *s)
{
	struct imap_reader_limits lim;

	lim.max_line = IMAP_DEFAULT_MAX_LINE;
	lim.max_literal = IMAP_DEFAULT_MAX_LITERAL;
	/* Only a logged-in client may send a message. */
	lim.max_append_literal = s->state == IMAPD_NOAUTH ? IMAP_DEFAULT_MAX_LITERAL :
	    (size_t)var_message_size_limit;
	lim.max_command = lim.max_append_literal + 4 * IMAP_DEFAULT_MAX_LINE;
	imap_reader_set_limits(s->reader, &lim);
}

static void
imapd_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	int implicit_tls = (int)(intptr_t)arg;
	struct imapd_session *s = xcalloc(1, sizeof(*s));

	net_nodelay(fd);
	s->base = imapd_base;
	net_addr_str(sa, s->addr, sizeof(s->addr));
	if (implicit_tls) {
		SSL *ssl = imapd_tls_ctx != NULL ? SSL_new(imapd_tls_ctx) : NULL;
		if (ssl == NULL) {
			log_warnx("imap: no TLS context for implicit TLS from [%s]", s->addr);
			close(fd);
			free(s);
			return;
		}
		s->bev = bufferevent_openssl_socket_new(imapd_base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		s->tls = 1;
	} else {
		s->bev = bufferevent_socket_new(imapd_base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bev == NULL) {
		close(fd);
		free(s);
		return;
	}
	s->reader = imap_reader_new(NULL);
	reader_limits(s);
	s->kick = event_new(imapd_base, -1, 0, kick_cb, s);
	s->next = sessions;
	if (sessions != NULL)
		sessions->prev = s;
	sessions = s;
	nsessions++;
	bufferevent_setcb(s->bev, imapd_read_cb, imapd_write_cb, imapd_event_cb, s);
	bufferevent_set_max_single_read(s->bev, IMAPD_MAX_READ);
	set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	log_info("imap: connect from [%s]%s", s->addr, implicit_tls ? " tls=implicit" : "");
	greeting(s);
}

void
imapd_listen(int fd, int implicit_tls)
{
	struct evconnlistener *l;

	net_set_nonblock(fd);
	l = evconnlistener_new(imapd_base, imapd_accept, (void *)(intptr_t)implicit_tls,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, -1, fd);
	if (l == NULL)
		fatalx("imapd: cannot listen on fd %d", fd);
}

void
imapd_init(struct event_base *base, SSL_CTX *tls)
{
	const char *error;

	imapd_base = base;
	imapd_tls_ctx = tls;
	imapd_ms = mstore_open(NULL, &error);
	if (imapd_ms == NULL)
		fatalx("imapd: mail store: %s", error);
	auth_pool = workpool_new(base, IMAPD_AUTH_WORKERS);
	imapd_learn_init(base);
}

void
imapd_set_tls(SSL_CTX *tls)
{
	if (tls != NULL) {
		/* Sessions hold their own reference through their SSL. */
		if (imapd_tls_ctx != NULL)
			SSL_CTX_free(imapd_tls_ctx);
		imapd_tls_ctx = tls;
	}
}

void
imapd_shutdown(void)
{
	for (struct imapd_session *s = sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (s->closing)
			continue;
		imapd_send(s, "* BYE Server shutting down.");
		session_close(s);
	}
}

/* ---- accessors for the command modules ---- */

struct imapd_selected *
imapd_selected(struct imapd_session *s)
{
	return s->sel;
}

struct mstore_account *
imapd_account(struct imapd_session *s)
{
	return s->acct;
}

struct mstore_account *
imapd_sel_account(struct imapd_session *s)
{
	return s->sel != NULL && s->sel->acct != NULL ? s->sel->acct : s->acct;
}

/* A session may hold this many other accounts' indexes open. */
#define OTHERS_MAX 256

/*
 * imap_flag_sync = normal: the index's changes that bring no message and
 * give back no blob reference (flags, the \Seen of FETCH, CREATE, RENAME,
 * SUBSCRIBE) are committed without fsync, as Dovecot's fsync_mode =
 * optimized does for its index: the WAL keeps the index whole, a power
 * loss may undo the last of them.  APPEND, COPY, MOVE, EXPUNGE, DELETE
 * and SETACL stay fsync'd (mstore.h, MSTORE_SYNC_DATA), and each one makes
 * the changes before it durable too.
 */
static void
index_sync_mode(struct mstore_account *a)
{
	mstore_account_set_sync(a, strcmp(var_imap_flag_sync, "full") == 0 ? MSTORE_SYNC_FULL :
	    MSTORE_SYNC_DATA);
}

struct mstore_account *
imapd_account_of(struct imapd_session *s, const char *owner, int *status_r, const char **error_r)
{
	struct mstore_account *a;

	if (str_casecmp(owner, s->account) == 0)
		return s->acct;
	for (size_t i = 0; i < s->nothers; i++)
		if (str_casecmp(mstore_account_name(s->others[i]), owner) == 0)
			return s->others[i];
	if (s->nothers >= OTHERS_MAX) {
		*status_r = MSTORE_ERR;
		*error_r = "too many shared accounts open in one session";
		return NULL;
	}
	if ((a = mstore_account_open(imapd_ms, owner, 0, status_r, error_r)) == NULL)
		return NULL;
	index_sync_mode(a);
	s->others = xrealloc(s->others, (s->nothers + 1) * sizeof(*s->others));
	s->others[s->nothers++] = a;
	return a;
}

uint64_t
imapd_quota_of(struct imapd_session *s, struct mstore_account *acct)
{
	if (acct == s->acct)
		return imapd_quota(s);
	return account_quota(directory_shared(), mstore_account_name(acct));
}

struct mstore *
imapd_store(void)
{
	return imapd_ms;
}

struct imap_message *
imapd_message_open(const char *blob, const char **error_r)
{
	struct imap_message *m;
	uint64_t size;
	int fd = mstore_blob_open(imapd_ms, blob, &size, error_r);

	if (fd < 0)
		return NULL;
	m = imap_message_map(fd, size, error_r);
	close(fd);
	return m;
}

unsigned int
imapd_enabled(const struct imapd_session *s)
{
	return s->enabled;
}

const char *
imapd_client(const struct imapd_session *s)
{
	return s->addr;
}

const char *
imapd_tag(const struct imapd_session *s)
{
	return s->tag != NULL ? s->tag : "*";
}

const char *
imapd_user(const struct imapd_session *s)
{
	return s->account[0] != '\0' ? s->account : "-";
}

void
imapd_enable_condstore(struct imapd_session *s)
{
	s->enabled |= IMAPD_EN_CONDSTORE;
}

/* Asked each time: a profile changed by the administrator applies at once. */
uint64_t
imapd_quota(const struct imapd_session *s)
{
	return account_quota(directory_shared(), s->account);
}

void
imapd_set_expunge_ok(struct imapd_session *s, int ok)
{
	s->expunge_ok = ok;
}

/* ---- mailbox names ---- */

int
imapd_mailbox_in(struct imapd_session *s, const struct imap_arg *arg, char *name, size_t size,
    const char **error_r)
{
	const char *wire;

	if (!imap_arg_astring(arg, &wire)) {
		*error_r = "bad mailbox name";
		return -1;
	}
	return imapd_mailbox_name(s, wire, name, size, error_r);
}

int
imapd_mailbox_name(struct imapd_session *s, const char *wire, char *name, size_t size,
    const char **error_r)
{
	char *utf8 = NULL;
	int rc;

	if (s->enabled & (IMAPD_EN_UTF8 | IMAPD_EN_REV2)) {
		if (!imap_utf8_valid(wire, strlen(wire))) {
			*error_r = "mailbox name is not UTF-8";
			return -1;
		}
		utf8 = xstrdup(wire);
	} else if (imap_mutf7_decode(wire, &utf8) < 0) {
		*error_r = "bad modified UTF-7 in the mailbox name";
		return -1;
	}
	rc = mstore_mailbox_name_check(utf8, name, size);
	free(utf8);
	if (rc != 0) {
		*error_r = "bad mailbox name";
		return -1;
	}
	return 0;
}

char *
imapd_mailbox_wire_decode(struct imapd_session *s, const char *wire)
{
	char *utf8;

	if (s->enabled & (IMAPD_EN_UTF8 | IMAPD_EN_REV2))
		return imap_utf8_valid(wire, strlen(wire)) ? xstrdup(wire) : NULL;
	return imap_mutf7_decode(wire, &utf8) == 0 ? utf8 : NULL;
}

void
imapd_mailbox_out(struct imapd_session *s, struct imap_out *o, const char *name)
{
	if (s->enabled & (IMAPD_EN_UTF8 | IMAPD_EN_REV2)) {
		/* UTF-8 in a quoted string (RFC 9051 quoted-char). */
		imap_out_add(o, "\"", 1);
		for (const char *p = name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				imap_out_add(o, "\\", 1);
			imap_out_add(o, p, 1);
		}
		imap_out_add(o, "\"", 1);
	} else {
		char *m = imap_mutf7_encode(name);
		imap_out_string(o, m, strlen(m));
		free(m);
	}
}

/* ---- the selected mailbox's view ---- */

uint32_t
imapd_seq_of(const struct imapd_selected *sel, uint32_t uid)
{
	uint32_t lo = 0, hi = sel->count;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sel->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sel->count && sel->msgs[lo].uid == uid ? lo + 1 : 0;
}

static const struct {
	unsigned int bit;
	const char *name;
} system_flags[] = {
	{ MSTORE_F_ANSWERED, "\\Answered" },
	{ MSTORE_F_FLAGGED, "\\Flagged" },
	{ MSTORE_F_DELETED, "\\Deleted" },
	{ MSTORE_F_SEEN, "\\Seen" },
	{ MSTORE_F_DRAFT, "\\Draft" },
};

void
imapd_flags_out(struct imap_out *o, unsigned int flags, const char *keywords)
{
	int first = 1;

	imap_out_add(o, "(", 1);
	for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++) {
		if (flags & system_flags[i].bit) {
			imap_out_printf(o, "%s%s", first ? "" : " ", system_flags[i].name);
			first = 0;
		}
	}
	if (keywords != NULL && keywords[0] != '\0')
		imap_out_printf(o, "%s%s", first ? "" : " ", keywords);
	imap_out_add(o, ")", 1);
}

static int
keyword_known(const char *list, const char *kw, size_t len)
{
	const char *p = list;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");
		if (n == len && str_ncasecmp(p, kw, len) == 0)
			return 1;
		p += n;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static void
send_flags(struct imapd_session *s)
{
	struct imapd_selected *sel = s->sel;
	const char *kw = sel->keywords != NULL ? sel->keywords : "";

	imapd_send(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)",
	    kw[0] != '\0' ? " " : "", kw);
	if (sel->readonly)
		imapd_send(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
	else
		imapd_send(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s"
		    " \\*)] Flags permitted.", kw[0] != '\0' ? " " : "", kw);
}

/* Add keywords to the view's list; 1 if one was new. */
static int
keywords_add(struct imapd_selected *sel, const char *keywords)
{
	int added = 0;
	const char *p = keywords;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");
		if (n > 0 && !keyword_known(sel->keywords, p, n)) {
			size_t old = sel->keywords != NULL ? strlen(sel->keywords) : 0;
			sel->keywords = xrealloc(sel->keywords, old + n + 2);
			if (old > 0)
				sel->keywords[old++] = ' ';
			memcpy(sel->keywords + old, p, n);
			sel->keywords[old + n] = '\0';
			added = 1;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return added;
}

void
imapd_keywords_seen(struct imapd_session *s, const char *keywords)
{
	if (s->sel != NULL && keywords_add(s->sel, keywords))
		send_flags(s);
}

void
imapd_msg_updated(struct imapd_session *s, const struct mstore_msg *m)
{
	struct imapd_selected *sel = s->sel;
	uint32_t seq = imapd_seq_of(sel, m->uid);
	struct imap_out o = { NULL, 0, 0 };

	if (seq == 0)
		return;
	sel->msgs[seq - 1].flags = m->flags;
	sel->msgs[seq - 1].modseq = m->modseq;
	imapd_keywords_seen(s, m->keywords);
	imap_out_printf(&o, "* %u FETCH (UID %u FLAGS ", seq, m->uid);
	imapd_flags_out(&o, m->flags, m->keywords);
	if (s->enabled & IMAPD_EN_CONDSTORE)
		imap_out_printf(&o, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	imap_out_add(&o, ")\r\n", 3);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
}

void
imapd_expunged(struct imapd_session *s, uint32_t uid)
{
	struct imapd_selected *sel = s->sel;
	uint32_t seq = imapd_seq_of(sel, uid);

	if (seq == 0)
		return;
	memmove(&sel->msgs[seq - 1], &sel->msgs[seq], (sel->count - seq) * sizeof(sel->msgs[0]));
	sel->count--;
	if (s->enabled & IMAPD_EN_QRESYNC)
		imapd_send(s, "* VANISHED %u", uid);
	else
		imapd_send(s, "* %u EXPUNGE", seq);
}

struct sync_ctx {
	struct imapd_session *s;
	uint32_t *expunged;
	size_t nexpunged, cap;
	uint32_t last_uid;	/* of the view before the sync */
	uint32_t added;
	uint64_t max_modseq;
};

static int
sync_changed(const struct mstore_msg *m, void *arg)
{
	struct sync_ctx *c = arg;
	struct imapd_selected *sel = c->s->sel;
	uint32_t seq;

	if (m->modseq > c->max_modseq)
		c->max_modseq = m->modseq;
	if (m->uid > c->last_uid) {
		/* New: announced by EXISTS; flags come when the client asks. */
		if (sel->count == sel->cap) {
			sel->cap = sel->cap < 64 ? 64 : sel->cap * 2;
			sel->msgs = xrealloc(sel->msgs, sel->cap * sizeof(*sel->msgs));
		}
		sel->msgs[sel->count].uid = m->uid;
		sel->msgs[sel->count].flags = m->flags;
		sel->msgs[sel->count].modseq = m->modseq;
		sel->count++;
		c->added++;
		if (m->uid >= sel->uidnext)
			sel->uidnext = m->uid + 1;
		keywords_add(sel, m->keywords);
		return 0;
	}
	seq = imapd_seq_of(sel, m->uid);
	if (seq == 0 || sel->msgs[seq - 1].modseq == m->modseq)
		return 0;
	imapd_msg_updated(c->s, m);
	return 0;
}

static int
sync_vanished(uint32_t uid, uint64_t modseq, void *arg)
{
	struct sync_ctx *c = arg;

	if (modseq > c->max_modseq)
		c->max_modseq = modseq;
	if (imapd_seq_of(c->s->sel, uid) == 0)
		return 0;
	if (c->nexpunged == c->cap) {
		c->cap = c->cap < 16 ? 16 : c->cap * 2;
		c->expunged = xrealloc(c->expunged, c->cap * sizeof(*c->expunged));
	}
	c->expunged[c->nexpunged++] = uid;
	return 0;
}

void
imapd_sync(struct imapd_session *s, int force)
{
	struct imapd_selected *sel = s->sel;
	struct mstore_mailbox mb;
	struct sync_ctx c;
	const char *error;
	char *oldkw;
	int changed;

	if (sel == NULL || s->acct == NULL)
		return;
	changed = mstore_account_changed(imapd_sel_account(s));
	if (!force && !s->sync_needed && changed == 0)
		return;
	if (mstore_mailbox_get(imapd_sel_account(s), NULL, sel->id, &mb, &error) != 0) {
		/* Deleted under us (another session): nothing can be done with it. */
		imapd_send(s, "* BYE The selected mailbox was deleted.");
		session_close(s);
		return;
	}
	if (mb.highestmodseq == sel->highestmodseq && !s->sync_needed)
		return;
	s->sync_needed = 0;
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.last_uid = sel->count > 0 ? sel->msgs[sel->count - 1].uid : 0;
	c.max_modseq = mb.highestmodseq;
	oldkw = sel->keywords != NULL ? xstrdup(sel->keywords) : NULL;
	if (mstore_changes(imapd_sel_account(s), sel->id, sel->highestmodseq, sync_changed,
	    sync_vanished, &c, &error) != 0) {
		log_warnx("imap: user=%s changes of mailbox %s: %s", s->account, sel->name, error);
		free(oldkw);
		free(c.expunged);
		return;
	}
	if ((oldkw == NULL) != (sel->keywords == NULL) ||
	    (oldkw != NULL && strcmp(oldkw, sel->keywords) != 0))
		send_flags(s);
	free(oldkw);
	if (c.nexpunged > 0 && !s->expunge_ok && !s->idling && s->running) {
		/* Not while answering FETCH, STORE or SEARCH: at the next command. */
		s->sync_needed = 1;
	} else {
		if (c.nexpunged > 0 && (s->enabled & IMAPD_EN_QRESYNC)) {
			char *buf = NULL;
			size_t size = 0;
			for (size_t i = 0; i < c.nexpunged; i++) {
				uint32_t seq = imapd_seq_of(sel, c.expunged[i]);
				memmove(&sel->msgs[seq - 1], &sel->msgs[seq],
				    (sel->count - seq) * sizeof(sel->msgs[0]));
				sel->count--;
			}
			imap_seqset_format(c.expunged, c.nexpunged, &buf, &size);
			imapd_send(s, "* VANISHED %s", buf);
			free(buf);
		} else {
			for (size_t i = 0; i < c.nexpunged; i++)
				imapd_expunged(s, c.expunged[i]);
		}
		sel->highestmodseq = c.max_modseq;
	}
	if (c.added > 0)
		imapd_send(s, "* %u EXISTS", sel->count);
	free(c.expunged);
}

void
imapd_select_view(struct imapd_session *s, struct imapd_selected *sel)
{
	selected_free(&s->sel);
	s->sel = sel;
	s->state = sel != NULL ? IMAPD_SELECTED : IMAPD_AUTH;
	s->sync_needed = 0;
}

/* ---- sequence sets ---- */

static int
range_cmp(const void *a, const void *b)
{
	const struct mstore_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void
ranges_merge(struct mstore_range *v, size_t *n)
{
	size_t out = 0;

	if (*n == 0)
		return;
	qsort(v, *n, sizeof(*v), range_cmp);
	for (size_t i = 1; i < *n; i++) {
		if (v[i].lo <= v[out].hi + 1 && v[out].hi != UINT32_MAX) {
			if (v[i].hi > v[out].hi)
				v[out].hi = v[i].hi;
		} else if (v[out].hi == UINT32_MAX) {
			continue;
		} else {
			v[++out] = v[i];
		}
	}
	*n = out + 1;
}

int
imapd_set_to_uids(struct imapd_session *s, const char *text, int uid,
    struct mstore_range **ranges_r, size_t *n_r, const char **error_r)
{
	struct imapd_selected *sel = s->sel;
	struct imap_seqset set;
	struct mstore_range *v;
	size_t n = 0;

	*ranges_r = NULL;
	*n_r = 0;
	if (imap_seqset_parse(text, &set) < 0) {
		*error_r = "bad sequence set";
		return -1;
	}
	if (set.saved) {
		/* $: the UIDs SEARCH saved (still in the mailbox or not). */
		v = xcalloc(sel->nsaved + 1, sizeof(*v));
		for (size_t i = 0; i < sel->nsaved; i++) {
			v[n].lo = v[n].hi = sel->saved[i];
			n++;
		}
		ranges_merge(v, &n);
		*ranges_r = v;
		*n_r = n;
		return 0;
	}
	v = xcalloc(set.count + 1, sizeof(*v));
	if (uid) {
		uint32_t max = sel->count > 0 ? sel->msgs[sel->count - 1].uid : 0;
		/* "*" is the highest UID; with none, no UID can match. */
		imap_seqset_resolve(&set, max > 0 ? max : 0);
		for (unsigned int i = 0; i < set.count; i++) {
			if (set.v[i].hi == 0)
				continue;
			v[n].lo = set.v[i].lo == 0 ? 1 : set.v[i].lo;
			v[n].hi = set.v[i].hi;
			n++;
		}
	} else {
		if (sel->count == 0) {
			imap_seqset_free(&set);
			free(v);
			*error_r = "no messages";
			return -1;
		}
		imap_seqset_resolve(&set, sel->count);
		for (unsigned int i = 0; i < set.count; i++) {
			if (set.v[i].hi > sel->count) {
				imap_seqset_free(&set);
				free(v);
				*error_r = "invalid message sequence number";
				return -1;
			}
			v[n].lo = sel->msgs[set.v[i].lo - 1].uid;
			v[n].hi = sel->msgs[set.v[i].hi - 1].uid;
			n++;
		}
	}
	imap_seqset_free(&set);
	ranges_merge(v, &n);
	*ranges_r = v;
	*n_r = n;
	return 0;
}

/* ---- commands of any state ---- */

static void
cmd_capability(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imap_out o = { NULL, 0, 0 };

	if (cmd->count != 0) {
		imapd_bad(s, "CAPABILITY takes no arguments");
		return;
	}
	capabilities(s, &o);
	imapd_send(s, "* CAPABILITY %s", o.data);
	imap_out_free(&o);
	imapd_tagged(s, "OK", "CAPABILITY completed");
}

static void
cmd_noop(struct imapd_session *s, const struct imap_command *cmd)
{
	if (s->sel != NULL)
		imapd_sync(s, 1);
	imapd_tagged(s, "OK", "%s completed", cmd->name);
}

static void
cmd_logout(struct imapd_session *s, const struct imap_command *cmd)
{
	imapd_send(s, "* BYE Logging out");
	s->state = IMAPD_LOGOUT;
	imapd_tagged(s, "OK", "LOGOUT completed");
	session_close(s);
}

static void
cmd_id(struct imapd_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *list;
	unsigned int n;

	if (cmd->count != 1 || (!imap_arg_is_nil(&cmd->args[0]) &&
	    (!imap_arg_list(&cmd->args[0], &list, &n) || n % 2 != 0 || n > 60))) {
		imapd_bad(s, "ID takes NIL or a list of field-value pairs");
		return;
	}
	if (!imap_arg_is_nil(&cmd->args[0])) {
		char logged[512] = "";
		size_t len = 0;
		for (unsigned int i = 0; i + 1 < n; i += 2) {
			const char *k, *v;
			if (!imap_arg_string(&list[i], &k) || !imap_arg_nstring(&list[i + 1], &v)) {
				imapd_bad(s, "ID fields are strings");
				return;
			}
			if (str_casecmp(k, "name") == 0 || str_casecmp(k, "version") == 0)
				len += (size_t)snprintf(logged + len, len < sizeof(logged) ?
				    sizeof(logged) - len : 0, " %.40s=%.60s", k, v != NULL ? v : "NIL");
			if (len >= sizeof(logged))
				len = sizeof(logged) - 1;
		}
		for (char *p = logged; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		log_info("imap: id from [%s]:%s", s->addr, logged);
	}
	imapd_send(s, "* ID (\"name\" \"facteur\" \"vendor\" \"facteur\")");
	imapd_tagged(s, "OK", "ID completed");
}

static void
cmd_enable(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imap_out o = { NULL, 0, 0 };
	const char *atom;

	if (cmd->count == 0) {
		imapd_bad(s, "ENABLE needs capabilities");
		return;
	}
	imap_out_printf(&o, "* ENABLED");
	for (unsigned int i = 0; i < cmd->count; i++) {
		unsigned int bit = 0;
		if (!imap_arg_atom(&cmd->args[i], &atom)) {
			imap_out_free(&o);
			imapd_bad(s, "ENABLE takes capability names");
			return;
		}
		if (str_casecmp(atom, "CONDSTORE") == 0)
			bit = IMAPD_EN_CONDSTORE;
		else if (str_casecmp(atom, "QRESYNC") == 0)
			bit = IMAPD_EN_QRESYNC | IMAPD_EN_CONDSTORE;
		else if (str_casecmp(atom, "UTF8=ACCEPT") == 0)
			bit = IMAPD_EN_UTF8;
		else if (str_casecmp(atom, "IMAP4rev2") == 0)
			bit = IMAPD_EN_REV2;
		/* RFC 5161: only what this command newly enabled is listed. */
		if (bit != 0 && (s->enabled & bit) != bit) {
			s->enabled |= bit;
			imap_out_printf(&o, " %s", bit == (IMAPD_EN_QRESYNC | IMAPD_EN_CONDSTORE) ?
			    "QRESYNC" : bit == IMAPD_EN_CONDSTORE ? "CONDSTORE" :
			    bit == IMAPD_EN_UTF8 ? "UTF8=ACCEPT" : "IMAP4rev2");
		}
	}
	imapd_send(s, "%s", o.data);
	imap_out_free(&o);
	imapd_tagged(s, "OK", "ENABLE completed");
}

/*
 * The 220 of SMTP's STARTTLS has its IMAP twin: the tagged OK goes out in
 * clear text now, then the socket continues as TLS.  Anything pipelined
 * after STARTTLS was sent in clear text and is dropped with the old
 * buffers (CVE-2011-0411's lesson).
 */
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
	return 0;
}

static void
cmd_starttls(struct imapd_session *s, const struct imap_command *cmd)
{
	evutil_socket_t fd;
	SSL *ssl;

	if (cmd->count != 0) {
		imapd_bad(s, "STARTTLS takes no arguments");
		return;
	}
	if (s->tls) {
		imapd_bad(s, "TLS is already active");
		return;
	}
	if (imapd_tls_ctx == NULL || (ssl = SSL_new(imapd_tls_ctx)) == NULL) {
		imapd_tagged(s, "NO", "[UNAVAILABLE] TLS is not available");
		return;
	}
	imapd_tagged(s, "OK", "Begin TLS negotiation now");
	fd = bufferevent_getfd(s->bev);
	if (flush_now(fd, bufferevent_get_output(s->bev)) < 0) {
		SSL_free(ssl);
		session_close(s);
		return;
	}
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	s->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		panic("imapd: cannot create a TLS bufferevent");
	s->tls = 1;
	imap_reader_reset(s->reader);
	bufferevent_setcb(s->bev, imapd_read_cb, imapd_write_cb, imapd_event_cb, s);
	bufferevent_set_max_single_read(s->bev, IMAPD_MAX_READ);
	set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- login ---- */

static void
login_result(struct imapd_session *s, enum auth_result r, const char *user, const char *account,
    const char *mech)
{
	const char *error;
	int status;

	if (r != AUTH_OK) {
		log_info("imap: login failed from [%s] mechanism=%s result=%s", s->addr, mech,
		    auth_result_str(r));
		if (r == AUTH_THROTTLED || r == AUTH_TEMPFAIL)
			imapd_tagged(s, "NO", "[UNAVAILABLE] Temporary authentication failure");
		else
			imapd_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	s->acct = mstore_account_open(imapd_ms, account, 1, &status, &error);
	if (s->acct == NULL) {
		log_warnx("imap: user=%s: cannot open the mailbox index: %s", account, error);
		imapd_tagged(s, "NO", "[UNAVAILABLE] The mailbox store is not available");
		return;
	}
	index_sync_mode(s->acct);
	str_copy(s->account, account, sizeof(s->account));
	s->state = IMAPD_AUTH;
	reader_limits(s);
	set_timeout(s);
	log_info("imap: login user=%s from [%s] mechanism=%s%s", account, s->addr, mech,
	    s->tls ? " tls=yes" : "");
	send_capability_code(s, "OK", "Logged in");
}

static void
auth_work(void *arg)
{
	struct imapd_auth_job *j = arg;

	auth_login_verify(j->req);
}

static void
auth_done(void *arg)
{
	struct imapd_auth_job *j = arg;
	struct imapd_session *s = j->s;
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
	login_result(s, r, j->user, account, j->mech);
	free(j);
}

static void
login_start(struct imapd_session *s, const char *user, const char *password, const char *mech)
{
	struct imapd_auth_job *j;
	struct auth_request *req = NULL;
	enum auth_result r;

	r = auth_login_begin(directory_shared(), user, password, "imap", s->addr, &req);
	if (r != AUTH_OK || req == NULL) {
		login_result(s, r != AUTH_OK ? r : AUTH_TEMPFAIL, user, NULL, mech);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->req = req;
	j->mech = mech;
	str_copy(j->user, user, sizeof(j->user));
	s->auth_job = j;
	s->waiting = 1;
	bufferevent_disable(s->bev, EV_READ);
	workpool_submit(auth_pool, auth_work, auth_done, j);
}

static void
cmd_login(struct imapd_session *s, const struct imap_command *cmd)
{
	const char *user, *password;

	if (cmd->count != 2 || !imap_arg_astring(&cmd->args[0], &user) ||
	    !imap_arg_astring(&cmd->args[1], &password)) {
		imapd_bad(s, "LOGIN takes a user name and a password");
		return;
	}
	if (!s->tls) {
		imapd_tagged(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS first: LOGINDISABLED");
		return;
	}
	login_start(s, user, password, "LOGIN");
}

/* SASL PLAIN (RFC 4616): [authzid] NUL authcid NUL password. */
static void
sasl_plain(struct imapd_session *s, const char *b64)
{
	unsigned char *raw;
	size_t len = strlen(b64);
	int n;
	const char *authz, *user, *pass;

	if (strcmp(b64, "*") == 0) {
		imapd_tagged(s, "BAD", "Authentication cancelled");
		return;
	}
	raw = xmalloc(len + 4);
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (n < 0 || len % 4 != 0) {
		free(raw);
		imapd_bad(s, "Invalid base64 data");
		return;
	}
	/* EVP_DecodeBlock counts the padding as data. */
	if (len >= 1 && b64[len - 1] == '=')
		n--;
	if (len >= 2 && b64[len - 2] == '=')
		n--;
	raw[n] = '\0';
	authz = (const char *)raw;
	user = memchr(raw, '\0', (size_t)n);
	pass = user != NULL ? memchr(user + 1, '\0', (size_t)n - (size_t)(user + 1 - authz)) : NULL;
	if (user == NULL || pass == NULL || user + 1 > authz + n) {
		OPENSSL_cleanse(raw, (size_t)n);
		free(raw);
		imapd_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	user++;
	pass++;
	if (authz[0] != '\0' && strcmp(authz, user) != 0) {
		OPENSSL_cleanse(raw, (size_t)n);
		free(raw);
		imapd_tagged(s, "NO", "[AUTHORIZATIONFAILED] Proxy authorization is not allowed");
		return;
	}
	login_start(s, user, pass, "PLAIN");
	OPENSSL_cleanse(raw, (size_t)n);
	free(raw);
}

static void
cmd_authenticate(struct imapd_session *s, const struct imap_command *cmd)
{
	const char *mech, *ir;

	if (cmd->count < 1 || cmd->count > 2 || !imap_arg_atom(&cmd->args[0], &mech)) {
		imapd_bad(s, "AUTHENTICATE takes a mechanism");
		return;
	}
	if (str_casecmp(mech, "PLAIN") != 0) {
		imapd_tagged(s, "NO", "[CANNOT] Unsupported authentication mechanism");
		return;
	}
	if (!s->tls) {
		imapd_tagged(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS first");
		return;
	}
	if (cmd->count == 2) {
		if (!imap_arg_atom(&cmd->args[1], &ir)) {
			imapd_bad(s, "bad initial response");
			return;
		}
		/* SASL-IR: "=" is an empty initial response. */
		sasl_plain(s, strcmp(ir, "=") == 0 ? "" : ir);
		return;
	}
	imapd_send(s, "+ ");
	s->sasl_wait = 1;
}

/* ---- COMPRESS (RFC 4978) ---- */

static void
cmd_compress(struct imapd_session *s, const struct imap_command *cmd)
{
	const char *mech;

	if (cmd->count != 1 || !imap_arg_atom(&cmd->args[0], &mech)) {
		imapd_bad(s, "COMPRESS takes a mechanism");
		return;
	}
#ifdef HAVE_ZLIB
	if (str_casecmp(mech, "DEFLATE") != 0) {
		imapd_tagged(s, "NO", "[CANNOT] Unknown compression mechanism");
		return;
	}
	if (s->zout != NULL) {
		imapd_tagged(s, "NO", "[COMPRESSIONACTIVE] DEFLATE is active already");
		return;
	}
	/* The OK is the last thing sent as it is; then both ways are raw deflate. */
	imapd_tagged(s, "OK", "DEFLATE active");
	s->zin = xcalloc(1, sizeof(*s->zin));
	s->zout = xcalloc(1, sizeof(*s->zout));
	if (inflateInit2(s->zin, -15) != Z_OK ||
	    deflateInit2(s->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		panic("imapd: zlib initialization failed");
	s->zplain = evbuffer_new();
	log_info("imap: user=%s compression on", s->account);
#else
	imapd_tagged(s, "NO", "[CANNOT] Compression is not available");
#endif
}

/* ---- IDLE ---- */

static void
idle_poll(evutil_socket_t fd, short what, void *arg)
{
	struct imapd_session *s = arg;

	if (s->idling && !s->closing)
		imapd_sync(s, 0);
}

static void
cmd_idle(struct imapd_session *s, const struct imap_command *cmd)
{
	struct timeval tv = { IMAPD_IDLE_POLL_MS / 1000, (IMAPD_IDLE_POLL_MS % 1000) * 1000 };

	if (cmd->count != 0) {
		imapd_bad(s, "IDLE takes no arguments");
		return;
	}
	s->idling = 1;
	imapd_sync(s, 0);
	imapd_send(s, "+ idling");
	if (s->idle_timer == NULL)
		s->idle_timer = event_new(s->base, -1, EV_PERSIST, idle_poll, s);
	event_add(s->idle_timer, &tv);
}

static void
idle_line(struct imapd_session *s, const char *line)
{
	s->idling = 0;
	event_del(s->idle_timer);
	if (str_casecmp(line, "DONE") == 0) {
		imapd_tagged(s, "OK", "IDLE terminated");
	} else {
		imapd_tagged(s, "BAD", "Expected DONE");
		count_bad(s);
	}
}

/* ---- dispatch ---- */

static const struct imapd_command core_commands[] = {
	{ "CAPABILITY", IMAPD_S_ANY, cmd_capability },
	{ "NOOP", IMAPD_S_ANY, cmd_noop },
	{ "CHECK", IMAPD_S_SELECTED, cmd_noop },
	{ "LOGOUT", IMAPD_S_ANY, cmd_logout },
	{ "ID", IMAPD_S_ANY, cmd_id },
	{ "ENABLE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_enable },
	{ "STARTTLS", IMAPD_S_NOAUTH, cmd_starttls },
	{ "LOGIN", IMAPD_S_NOAUTH, cmd_login },
	{ "AUTHENTICATE", IMAPD_S_NOAUTH, cmd_authenticate },
	{ "IDLE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_idle },
	{ "COMPRESS", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_compress },
	{ NULL, 0, NULL },
};

static const struct imapd_command *
command_find(const char *name)
{
	const struct imapd_command *tables[] = {
		core_commands, imapd_mailbox_commands, imap_fetch_commands, imap_search_commands,
		imapd_acl_commands,
	};

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct imapd_command *c = tables[t]; c->name != NULL; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

static void
run_command(struct imapd_session *s, const char *data, size_t len)
{
	struct imap_command cmd;
	const struct imapd_command *c;
	const char *tag, *error;
	unsigned int state_bit;

	s->commands++;
	if (imap_command_parse(data, len, &cmd, &tag, &error) < 0) {
		if (tag != NULL) {
			s->tag = xstrdup(tag);
			s->running = 1;
			imapd_bad(s, error);
		} else {
			imapd_send(s, "* BAD %s", error);
			count_bad(s);
		}
		imap_command_free(&cmd);
		return;
	}
	s->tag = xstrdup(cmd.tag);
	s->cmd_name = xstrdup(cmd.name);
	s->running = 1;
	c = command_find(cmd.name);
	state_bit = s->state == IMAPD_NOAUTH ? IMAPD_S_NOAUTH : s->state == IMAPD_AUTH ?
	    IMAPD_S_AUTH : IMAPD_S_SELECTED;
	if (c == NULL) {
		imapd_bad(s, "Unknown command");
	} else if (!(c->states & state_bit)) {
		imapd_bad(s, s->state == IMAPD_NOAUTH ? "Log in first" :
		    s->state == IMAPD_AUTH && (c->states & IMAPD_S_SELECTED) ?
		    "No mailbox selected" : "Not valid in this state");
	} else {
		/* UID commands and the others but FETCH, STORE, SEARCH may report expunges. */
		s->expunge_ok = strncmp(cmd.name, "UID ", 4) == 0 ||
		    (strcmp(cmd.name, "FETCH") != 0 && strcmp(cmd.name, "STORE") != 0 &&
		    strcmp(cmd.name, "SEARCH") != 0 && strcmp(cmd.name, "SORT") != 0 &&
		    strcmp(cmd.name, "THREAD") != 0);
		c->fn(s, &cmd);
	}
	imap_command_free(&cmd);
}

/*
 * The client's bytes as the reader wants them: the socket's, or under
 * COMPRESS what they inflate to, at most IMAPD_ZPLAIN_MAX ahead.
 */
static struct evbuffer *
input_buffer(struct imapd_session *s)
{
	struct evbuffer *raw = bufferevent_get_input(s->bev);

#ifdef HAVE_ZLIB
	if (s->zin != NULL) {
		z_stream *z = s->zin;

		while (!s->zerror && evbuffer_get_length(raw) > 0 &&
		    evbuffer_get_length(s->zplain) < IMAPD_ZPLAIN_MAX) {
			struct evbuffer_iovec in;
			int rc;

			if (evbuffer_peek(raw, -1, NULL, &in, 1) < 1)
				break;
			z->next_in = in.iov_base;
			z->avail_in = in.iov_len > (1u << 30) ? (1u << 30) : (uInt)in.iov_len;
			size_t given = z->avail_in;
			do {
				struct evbuffer_iovec v;
				if (evbuffer_reserve_space(s->zplain, 16384, &v, 1) < 1)
					panic("imapd: cannot grow the input buffer");
				z->next_out = v.iov_base;
				z->avail_out = v.iov_len > (1u << 30) ? (1u << 30) : (uInt)v.iov_len;
				size_t room = z->avail_out;
				rc = inflate(z, Z_SYNC_FLUSH);
				v.iov_len = room - z->avail_out;
				evbuffer_commit_space(s->zplain, &v, 1);
				if (rc != Z_OK && rc != Z_BUF_ERROR) {
					/* Corrupt data, or a stream the client ended: nothing more to read. */
					s->zerror = 1;
					break;
				}
			} while (z->avail_out == 0 &&
			    evbuffer_get_length(s->zplain) < IMAPD_ZPLAIN_MAX);
			evbuffer_drain(raw, given - z->avail_in);
			if (given == z->avail_in && rc == Z_BUF_ERROR)
				break;
		}
		return s->zplain;
	}
#endif
	return raw;
}

/* A line for IDLE or AUTHENTICATE: 1 with it, 0 for more input, -1 when too long. */
static int
short_line(struct imapd_session *s, char **line_r)
{
	struct evbuffer *in = input_buffer(s);
	size_t n;

	*line_r = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (*line_r != NULL)
		return 1;
	return evbuffer_get_length(in) > IMAPD_SHORT_LINE ? -1 : 0;
}

static void
process_input(struct imapd_session *s)
{
	while (!s->closing && !s->waiting) {
		/* Fetched anew each turn: STARTTLS replaces the bufferevent, COMPRESS the buffer. */
		struct evbuffer *in = input_buffer(s);
#ifdef HAVE_ZLIB
		if (s->zerror) {
			log_info("imap: bad compressed data from [%s]", s->addr);
			imapd_send(s, "* BYE Bad compressed data.");
			session_close(s);
			return;
		}
#endif

		if (s->idling || s->sasl_wait) {
			char *line;
			int rc = short_line(s, &line);
			if (rc == 0)
				return;
			if (rc < 0) {
				imapd_send(s, "* BYE Line too long.");
				session_close(s);
				return;
			}
			if (s->idling) {
				idle_line(s, line);
			} else {
				s->sasl_wait = 0;
				sasl_plain(s, line);
			}
			OPENSSL_cleanse(line, strlen(line));
			free(line);
			continue;
		}
		if (s->running) {
			/* A command waiting for nothing we know: a bug, not a hang. */
			panic("imapd: command %s returned without a reply", s->cmd_name);
		}
		struct evbuffer_iovec v;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		size_t used = 0;
		enum imap_read rc = imap_reader_feed(s->reader, v.iov_base, v.iov_len, &used);
		evbuffer_drain(in, used);
		switch (rc) {
		case IMAP_READ_MORE:
			continue;
		case IMAP_READ_CONTINUE:
			imapd_send(s, "+ Ready for literal data");
			continue;
		case IMAP_READ_COMMAND: {
			size_t len;
			const char *data = imap_reader_command(s->reader, &len);
			char *copy = xmalloc(len + 1);
			memcpy(copy, data, len + 1);
			imap_reader_reset(s->reader);
			run_command(s, copy, len);
			free(copy);
			continue;
		}
		case IMAP_READ_ERROR: {
			const char *tag = imap_reader_tag(s->reader);
			enum imap_read_error e = imap_reader_error(s->reader);
			char tagbuf[256];

			str_copy(tagbuf, tag != NULL ? tag : "*", sizeof(tagbuf));
			imap_reader_reset(s->reader);
			if (e == IMAP_RERR_LITERAL_TOO_BIG) {
				imapd_send(s, "%s NO [TOOBIG] Literal too large", tagbuf);
				count_bad(s);
				continue;
			}
			imapd_send(s, "%s BAD [TOOBIG] %s", tagbuf, e == IMAP_RERR_LINE_TOO_LONG ?
			    "Line too long" : "Literal too large");
			imapd_send(s, "* BYE Too much data.");
			session_close(s);
			return;
		}
		}
	}
}

static void
imapd_read_cb(struct bufferevent *bev, void *arg)
{
	process_input(arg);
}
