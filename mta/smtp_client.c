/* SPDX-License-Identifier: MIT */
/*
 * smtp_client - outbound SMTP connections.  See smtp_client.h.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "queue_file.h"
#include "smtp_client.h"
#include "smtp_reply.h"

/* Bounds on the work for one destination, as Postfix's smtp_mx_*_limit. */
#define MX_HOSTS_MAX 5
#define ADDRS_MAX 10
/* Content is read and queued in chunks; refilled when output drains below LOW. */
#define PUMP_CHUNK 65536
#define PUMP_LOW (128 * 1024)
#define QUIT_TIMEOUT 5

enum conn_state {
	S_RESOLVE_MX, S_RESOLVE_ADDR, S_CONNECT, S_BANNER, S_EHLO, S_HELO, S_STARTTLS, S_TLS,
	S_READY, S_TXN, S_QUIT, S_DEAD,
};

enum step_kind { K_RSET, K_MAIL, K_RCPT, K_DATA, K_BDAT, K_DOT };

struct step {
	enum step_kind kind;
	size_t rcpt;
	char *line;		/* command to send, with CRLF */
};

struct smtp_conn {
	struct event_base *base;
	struct transport_route route;
	smtp_conn_cb *cb;
	void *ctx;
	enum conn_state state;
	struct dns_query *query;

	char *hosts[MX_HOSTS_MAX];
	size_t nhosts, host_idx;
	int implicit_mx;
	struct dns_addr *addrs;
	size_t naddrs, addr_idx, addrs_tried;

	int lmtp;		/* LHLO, and one reply per recipient after the dot (RFC 2033) */
	struct bufferevent *bev;
	SSL *ssl;		/* owned by bev once the filter exists */
	int tls_active, tls_skip;
	unsigned int ext;
	unsigned long long size_limit;
	struct smtp_reply reply;
	char host[256];		/* current host name */
	char peer[320];		/* host[addr]:port */

	/* Why the destination could not be used (SMTP_CONN_FAILED). */
	char err_text[600];
	char err_dsn[16];
	int err_perm;

	struct smtp_txn *txn;
	unsigned int ntxns;
	int need_rset, aborted, mail_ok, broken;
	size_t naccepted;
	struct step *steps;
	size_t nsteps, next_send, next_reply;
	int pipelining;
	/* content pump */
	off_t pump_off, pump_left;
	int pump_dot, pump_bol, pumping;
	char pump_last[2];
	const char *io_phase;	/* for "lost connection ... while ..." */

	unsigned int gen;	/* bumped when bev is freed: a read loop must stop */
	struct event *notify_ev;
	enum smtp_conn_event pending_event;
	struct event *quit_timer;
};

static SSL_CTX *client_ssl_ctx;

void
smtp_client_set_tls(SSL_CTX *ctx)
{
	client_ssl_ctx = ctx;
}

static void conn_next_addr(struct smtp_conn *c);
static void conn_next_host(struct smtp_conn *c);
static void conn_read(struct bufferevent *bev, void *arg);
static void conn_write(struct bufferevent *bev, void *arg);
static void conn_event(struct bufferevent *bev, short what, void *arg);
static void txn_finish(struct smtp_conn *c);
static void txn_send_more(struct smtp_conn *c);

const char *
smtp_conn_peer(const struct smtp_conn *c)
{
	return c->peer[0] != '\0' ? c->peer : "none";
}

const char *
smtp_conn_host(const struct smtp_conn *c)
{
	return c->host[0] != '\0' ? c->host : NULL;
}

unsigned int
smtp_conn_txns(const struct smtp_conn *c)
{
	return c->ntxns;
}

int
smtp_conn_usable(const struct smtp_conn *c)
{
	return c->state == S_READY && !c->broken;
}

const char *
smtp_conn_error(const struct smtp_conn *c, const char **dsn_r, int *permanent_r)
{
	*dsn_r = c->err_dsn[0] != '\0' ? c->err_dsn : "4.4.1";
	*permanent_r = c->err_perm;
	return c->err_text[0] != '\0' ? c->err_text : "no usable host";
}

static void
set_error(struct smtp_conn *c, int perm, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
set_error(struct smtp_conn *c, int perm, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err_text, sizeof(c->err_text), fmt, ap);
	va_end(ap);
	str_copy(c->err_dsn, dsn, sizeof(c->err_dsn));
	c->err_perm = perm;
	log_debug("smtp: %s: %s", c->route.key, c->err_text);
}

static void
notify_run(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;

	/* Last thing: the owner may free c here. */
	if (c->cb != NULL)
		c->cb(c->ctx, c, c->pending_event);
}

static void
notify(struct smtp_conn *c, enum smtp_conn_event ev)
{
	c->pending_event = ev;
	event_active(c->notify_ev, 0, 0);
}

static void
close_bev(struct smtp_conn *c)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	} else if (c->ssl != NULL) {
		SSL_free(c->ssl);
	}
	c->ssl = NULL;
	c->tls_active = 0;
	c->gen++;
}

static void
set_timeout(struct smtp_conn *c, long rsec, long wsec)
{
	struct timeval r = { rsec, 0 }, w = { wsec, 0 };

	if (c->bev != NULL)
		bufferevent_set_timeouts(c->bev, rsec > 0 ? &r : NULL, wsec > 0 ? &w : NULL);
}

static void
conn_send(struct smtp_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
conn_send(struct smtp_conn *c, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		panic("vasprintf: out of memory");
	va_end(ap);
	log_debug("smtp: %s > %s", c->peer, line);
	evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n", line);
	free(line);
}

/* ---- finding a host ---- */

static void
addr_answer(void *arg, enum dns_status status, const struct dns_addr *addrs, size_t n,
    const char *error)
{
	struct smtp_conn *c = arg;
	const char *h = c->hosts[c->host_idx];

	c->query = NULL;
	if (status != DNS_OK) {
		if (status == DNS_TEMPFAIL)
			set_error(c, 0, "4.4.3", "Host or domain name not found. Name service error for "
			    "name=%s type=A: %s", h, error != NULL ? error : "temporary failure");
		else if (c->route.mx && !c->implicit_mx)
			set_error(c, 0, "4.4.3", "MX host %s has no address (%s)", h,
			    dns_status_str(status));
		else
			/* The destination itself has no address: a relayhost typo defers, a domain bounces. */
			set_error(c, c->route.mx, c->route.mx ? "5.4.4" : "4.4.4",
			    "Host or domain name not found. Name service error for name=%s type=A: "
			    "Host not found", h);
		c->host_idx++;
		conn_next_host(c);
		return;
	}
	free(c->addrs);
	c->addrs = xcalloc(n, sizeof(*c->addrs));
	memcpy(c->addrs, addrs, n * sizeof(*addrs));
	c->naddrs = n;
	c->addr_idx = 0;
	conn_next_addr(c);
}

static void
conn_next_host(struct smtp_conn *c)
{
	if (c->host_idx >= c->nhosts || c->addrs_tried >= ADDRS_MAX) {
		c->state = S_DEAD;
		notify(c, SMTP_CONN_FAILED);
		return;
	}
	c->state = S_RESOLVE_ADDR;
	str_copy(c->host, c->hosts[c->host_idx], sizeof(c->host));
	c->query = dns_lookup_addr(c->hosts[c->host_idx], addr_answer, c);
}

static void
mx_answer(void *arg, enum dns_status status, const struct dns_mx *mx, size_t n, const char *error)
{
	struct smtp_conn *c = arg;
	const char *d = c->route.host;

	c->query = NULL;
	switch (status) {
	case DNS_OK:
		for (size_t i = 0; i < n && c->nhosts < MX_HOSTS_MAX; i++) {
			/* Mail for a domain whose MX is this host would loop. */
			if (str_casecmp(mx[i].host, proc_hostname()) == 0) {
				if (c->nhosts == 0)
					set_error(c, 1, "5.4.6", "mail for %s loops back to myself", d);
				break;
			}
			c->hosts[c->nhosts++] = xstrdup(mx[i].host);
		}
		break;
	case DNS_NODATA:
		/* RFC 5321 5.1: no MX, the domain is its own implicit MX. */
		c->hosts[c->nhosts++] = xstrdup(d);
		c->implicit_mx = 1;
		break;
	case DNS_NXDOMAIN:
		set_error(c, 1, "5.1.2", "Host or domain name not found. Name service error for "
		    "name=%s type=MX: Host not found", d);
		break;
	case DNS_NULLMX:
		set_error(c, 1, "5.1.10", "Domain %s does not accept mail (nullMX)", d);
		break;
	case DNS_TEMPFAIL:
		set_error(c, 0, "4.4.3", "Host or domain name not found. Name service error for "
		    "name=%s type=MX: %s", d, error != NULL ? error : "temporary failure");
		break;
	}
	conn_next_host(c);
}

static void
conn_next_addr(struct smtp_conn *c)
{
	char addr[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss;
	evutil_socket_t fd;

	close_bev(c);
	if (c->addr_idx >= c->naddrs || c->addrs_tried >= ADDRS_MAX) {
		c->host_idx++;
		conn_next_host(c);
		return;
	}
	c->addrs_tried++;
	ss = c->addrs[c->addr_idx].ss;
	if (ss.ss_family == AF_UNIX) {
		snprintf(c->peer, sizeof(c->peer), "%s[%s]", c->host, c->route.path);
	} else {
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)c->route.port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)c->route.port);
		net_addr_str((struct sockaddr *)&ss, addr, sizeof(addr));
		snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", c->host, addr, c->route.port);
	}
	c->state = S_CONNECT;
	c->ext = 0;
	c->size_limit = 0;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		set_error(c, 0, "4.4.1", "connect to %s: %s", c->peer, strerror(errno));
		c->addr_idx++;
		conn_next_addr(c);
		return;
	}
	net_nodelay(fd);
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	/* Message content goes out in 64 KB writes rather than libevent's 16 KB. */
	if (c->bev != NULL)
		bufferevent_set_max_single_write(c->bev, 65536);
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	set_timeout(c, var_smtp_connect_timeout, var_smtp_connect_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	smtp_reply_init(&c->reply);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss,
	    (int)c->addrs[c->addr_idx].len) < 0) {
		/* Reported through conn_event as an error, deferred. */
		log_debug("smtp: connect %s failed at once", c->peer);
	}
	STATS_INC(qmgr_connections);
}

struct smtp_conn *
smtp_conn_new(struct event_base *base, const struct transport_route *route, smtp_conn_cb *cb,
    void *ctx)
{
	struct smtp_conn *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->route = *route;
	c->cb = cb;
	c->ctx = ctx;
	c->notify_ev = event_new(base, -1, 0, notify_run, c);
	c->lmtp = route->kind == TRANSPORT_LMTP;
	if (c->lmtp && route->path[0] != '\0') {
		/* LMTP over a UNIX socket: one "host", one address, no DNS. */
		struct sockaddr_un *sun;
		c->hosts[c->nhosts++] = xstrdup(route->host);
		str_copy(c->host, route->host, sizeof(c->host));
		c->addrs = xcalloc(1, sizeof(*c->addrs));
		sun = (struct sockaddr_un *)&c->addrs[0].ss;
		sun->sun_family = AF_UNIX;
		str_copy(sun->sun_path, route->path, sizeof(sun->sun_path));
		c->addrs[0].len = (socklen_t)sizeof(*sun);
		c->naddrs = 1;
		c->addr_idx = 0;
		conn_next_addr(c);
	} else if (route->mx) {
		c->state = S_RESOLVE_MX;
		c->query = dns_lookup_mx(route->host, mx_answer, c);
	} else {
		c->hosts[c->nhosts++] = xstrdup(route->host);
		conn_next_host(c);
	}
	return c;
}

/* ---- I/O ---- */

/* The current host is unusable: note why and try the next one. */
static void
setup_failed(struct smtp_conn *c)
{
	close_bev(c);
	c->addr_idx++;
	c->tls_skip = 0;
	conn_next_addr(c);
}

static void
reply_error(struct smtp_conn *c, const char *what)
{
	char r[SMTP_REPLY_TEXT_MAX + 8];

	smtp_reply_str(&c->reply, r, sizeof(r));
	set_error(c, c->reply.code >= 500, c->reply.dsn, "host %s refused to talk to me: %s (in reply "
	    "to %s)", c->peer, r, what);
}

static const char *
ssl_error_text(struct smtp_conn *c)
{
	static char buf[256];
	unsigned long e = c->bev != NULL ? bufferevent_get_openssl_error(c->bev) : 0;

	if (e == 0)
		e = ERR_get_error();
	if (e == 0)
		return "handshake failed";
	ERR_error_string_n(e, buf, sizeof(buf));
	while (ERR_get_error() != 0)
		;
	return buf;
}

static void
start_tls(struct smtp_conn *c)
{
	struct bufferevent *under = c->bev;
	SSL *ssl;

	/* Bytes after the 220 would be read as if they came over TLS (CVE-2011-0411). */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0) {
		set_error(c, 0, "4.7.0", "host %s sent data after its STARTTLS reply", c->peer);
		setup_failed(c);
		return;
	}
	if (client_ssl_ctx == NULL || (ssl = SSL_new(client_ssl_ctx)) == NULL) {
		set_error(c, 0, "4.7.5", "cannot start TLS with %s: no TLS context", c->peer);
		setup_failed(c);
		return;
	}
	{
		unsigned char tmp[16];
		/* SNI carries names only, never address literals (RFC 6066). */
		if (inet_pton(AF_INET, c->host, tmp) != 1 && inet_pton(AF_INET6, c->host, tmp) != 1)
			SSL_set_tlsext_host_name(ssl, c->host);
	}
	if (c->route.tls == TLS_POLICY_VERIFY) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(ssl, c->host);
	}
	bufferevent_setcb(under, NULL, NULL, NULL, NULL);
	c->bev = bufferevent_openssl_filter_new(c->base, under, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL) {
		c->bev = under;
		SSL_free(ssl);
		set_error(c, 0, "4.7.5", "cannot start TLS with %s", c->peer);
		setup_failed(c);
		return;
	}
	c->ssl = ssl;
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	set_timeout(c, var_smtp_connect_timeout, var_smtp_connect_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = S_TLS;
}

static void
tls_established(struct smtp_conn *c)
{
	long v = SSL_get_verify_result(c->ssl);
	X509 *cert = SSL_get0_peer_certificate(c->ssl);

	if (c->route.tls == TLS_POLICY_VERIFY && (cert == NULL || v != X509_V_OK)) {
		set_error(c, 0, "4.7.5", "TLS certificate verification failed for %s: %s", c->peer,
		    cert == NULL ? "no certificate" : X509_verify_cert_error_string(v));
		conn_send(c, "QUIT");
		setup_failed(c);
		return;
	}
	c->tls_active = 1;
	STATS_INC(qmgr_tls_sessions);
	log_info("smtp: TLS connection to %s: %s with cipher %s%s", c->peer, SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl), c->route.tls == TLS_POLICY_VERIFY ? " (verified)" :
	    v == X509_V_OK ? " (trusted)" : " (untrusted)");
	c->state = S_EHLO;
	set_timeout(c, var_smtp_timeout, var_smtp_timeout);
	conn_send(c, "EHLO %s", var_smtp_helo_name[0] != '\0' ? var_smtp_helo_name : proc_hostname());
}

static void
become_ready(struct smtp_conn *c)
{
	if (c->route.tls >= TLS_POLICY_ENCRYPT && !c->tls_active) {
		set_error(c, 0, "4.7.4", "TLS is required, but was not offered by host %s", c->peer);
		conn_send(c, "QUIT");
		setup_failed(c);
		return;
	}
	c->state = S_READY;
	set_timeout(c, 0, var_smtp_timeout);
	log_debug("smtp: connected to %s%s ext=0x%x", c->peer, c->tls_active ? " (TLS)" : "",
	    c->ext);
	notify(c, SMTP_CONN_READY);
}

static void
setup_reply(struct smtp_conn *c)
{
	int code = c->reply.code;

	switch (c->state) {
	case S_BANNER:
		if (code != 220) {
			reply_error(c, "initial protocol greeting");
			/*
			 * A host that will not even greet says nothing about the
			 * recipients: try the next one, then defer (Postfix's
			 * smtp_skip_5xx_greeting = yes), never bounce.
			 */
			c->err_perm = 0;
			if (c->err_dsn[0] == '5')
				c->err_dsn[0] = '4';
			conn_send(c, "QUIT");
			setup_failed(c);
			return;
		}
		c->state = S_EHLO;
		set_timeout(c, var_smtp_timeout, var_smtp_timeout);
		conn_send(c, "%s %s", c->lmtp ? "LHLO" : "EHLO", var_smtp_helo_name[0] != '\0' ?
		    var_smtp_helo_name : proc_hostname());
		return;
	case S_EHLO:
		/* An LMTP server has no HELO to fall back to. */
		if (code >= 500 && !c->tls_active && !c->lmtp) {
			c->state = S_HELO;
			conn_send(c, "HELO %s", var_smtp_helo_name[0] != '\0' ? var_smtp_helo_name :
			    proc_hostname());
			return;
		}
		if (code != 250) {
			reply_error(c, c->lmtp ? "LHLO" : "EHLO");
			conn_send(c, "QUIT");
			setup_failed(c);
			return;
		}
		c->ext = smtp_reply_ehlo(&c->reply, &c->size_limit);
		/*
		 * LMTP: no TLS (a local socket or a private network), and no BDAT,
		 * whose per-recipient replies this client does not wait for.
		 */
		if (c->lmtp)
			c->ext &= ~(unsigned int)(SMTP_EXT_STARTTLS | SMTP_EXT_CHUNKING);
		if (!c->tls_active && !c->tls_skip && c->route.tls != TLS_POLICY_NONE &&
		    (c->ext & SMTP_EXT_STARTTLS)) {
			c->state = S_STARTTLS;
			conn_send(c, "STARTTLS");
			return;
		}
		become_ready(c);
		return;
	case S_HELO:
		if (code != 250) {
			reply_error(c, "HELO");
			conn_send(c, "QUIT");
			setup_failed(c);
			return;
		}
		c->ext = 0;
		become_ready(c);
		return;
	case S_STARTTLS:
		if (code != 220) {
			if (c->route.tls >= TLS_POLICY_ENCRYPT) {
				reply_error(c, "STARTTLS");
				str_copy(c->err_dsn, "4.7.4", sizeof(c->err_dsn));
				c->err_perm = 0;
				conn_send(c, "QUIT");
				setup_failed(c);
				return;
			}
			/* may: carry on in plain text. */
			become_ready(c);
			return;
		}
		start_tls(c);
		return;
	default:
		panic("smtp: setup reply in state %d", c->state);
	}
}

/* ---- transactions ---- */

static void
rcpt_result(struct smtp_txn_rcpt *r, int code, const char *dsn, const char *text, int remote,
    const char *in_reply_to)
{
	r->code = code;
	str_copy(r->dsn, dsn, sizeof(r->dsn));
	str_copy(r->text, text, sizeof(r->text));
	r->remote = remote;
	r->in_reply_to = remote ? in_reply_to : NULL;
}

static int
needs_utf8(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static void
add_step(struct smtp_conn *c, enum step_kind kind, size_t rcpt, char *line)
{
	c->steps = xrealloc(c->steps, (c->nsteps + 1) * sizeof(*c->steps));
	c->steps[c->nsteps].kind = kind;
	c->steps[c->nsteps].rcpt = rcpt;
	c->steps[c->nsteps].line = line;
	c->nsteps++;
}

static void
free_steps(struct smtp_conn *c)
{
	for (size_t i = 0; i < c->nsteps; i++)
		free(c->steps[i].line);
	free(c->steps);
	c->steps = NULL;
	c->nsteps = c->next_send = c->next_reply = 0;
}

void
smtp_conn_send(struct smtp_conn *c, struct smtp_txn *t)
{
	int utf8 = needs_utf8(t->sender);
	char params[512], *line;

	if (c->state != S_READY)
		panic("smtp_conn_send on a connection that is not ready");
	c->txn = t;
	c->state = S_TXN;
	c->aborted = c->mail_ok = 0;
	c->naccepted = 0;
	c->pumping = 0;
	c->pipelining = (c->ext & SMTP_EXT_PIPELINING) != 0;
	c->io_phase = "MAIL FROM";
	if (c->ntxns++ > 0)
		STATS_INC(qmgr_connections_reused);
	for (size_t i = 0; i < t->nrcpts; i++) {
		t->rcpts[i].code = 0;
		t->rcpts[i].accepted = 0;
		utf8 |= needs_utf8(t->rcpts[i].addr);
	}
	set_timeout(c, var_smtp_timeout, var_smtp_timeout);
	/* Refusals we can predict are not worth a round trip. */
	if (utf8 && !(c->ext & SMTP_EXT_SMTPUTF8)) {
		for (size_t i = 0; i < t->nrcpts; i++)
			rcpt_result(&t->rcpts[i], 550, "5.6.7", "SMTPUTF8 is required, but was not "
			    "offered by the host", 0, NULL);
		c->aborted = 1;
		txn_finish(c);
		return;
	}
	if (c->size_limit > 0 && (unsigned long long)t->content_len > c->size_limit) {
		for (size_t i = 0; i < t->nrcpts; i++)
			rcpt_result(&t->rcpts[i], 552, "5.3.4", "message size exceeds the fixed limit "
			    "of the host", 0, NULL);
		c->aborted = 1;
		txn_finish(c);
		return;
	}
	if (c->need_rset)
		add_step(c, K_RSET, 0, xstrdup("RSET"));
	c->need_rset = 0;
	params[0] = '\0';
	if (c->ext & SMTP_EXT_SIZE)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " SIZE=%lld",
		    (long long)t->content_len);
	if (c->ext & SMTP_EXT_8BITMIME)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " BODY=8BITMIME");
	if (utf8)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " SMTPUTF8");
	if ((c->ext & SMTP_EXT_DSN) && t->ret != 0)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " RET=%s",
		    t->ret == 1 ? "FULL" : "HDRS");
	if ((c->ext & SMTP_EXT_DSN) && t->envid != NULL)
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " ENVID=%s",
		    t->envid);
	/* The delivery's name, so an LMTP server can spot our retry of a delivery it saved. */
	if (c->lmtp && (c->ext & SMTP_EXT_XQID))
		snprintf(params + strlen(params), sizeof(params) - strlen(params), " XQID=%s",
		    t->qid);
	add_step(c, K_MAIL, 0, xasprintf("MAIL FROM:<%s>%s", t->sender, params));
	for (size_t i = 0; i < t->nrcpts; i++) {
		char notify[64];
		params[0] = '\0';
		if ((c->ext & SMTP_EXT_DSN) && t->rcpts[i].notify != 0) {
			queue_notify_str(t->rcpts[i].notify, notify, sizeof(notify));
			snprintf(params, sizeof(params), " NOTIFY=%s", notify);
		}
		if ((c->ext & SMTP_EXT_DSN) && t->rcpts[i].orcpt != NULL)
			snprintf(params + strlen(params), sizeof(params) - strlen(params), " ORCPT=%s",
			    t->rcpts[i].orcpt);
		line = xasprintf("RCPT TO:<%s>%s", t->rcpts[i].addr, params);
		add_step(c, K_RCPT, i, line);
	}
	/* BDAT goes only once the recipients are known to be accepted. */
	if (!(c->ext & SMTP_EXT_CHUNKING))
		add_step(c, K_DATA, 0, xstrdup("DATA"));
	txn_send_more(c);
}

static void
txn_send_more(struct smtp_conn *c)
{
	while (c->next_send < c->nsteps && (c->pipelining || c->next_send == c->next_reply)) {
		conn_send(c, "%s", c->steps[c->next_send].line);
		c->next_send++;
	}
}

static void
pump_start(struct smtp_conn *c, int dot)
{
	c->pumping = 1;
	c->pump_dot = dot;
	c->pump_bol = 1;
	c->pump_last[0] = '\r';
	c->pump_last[1] = '\n';
	c->pump_off = 0;
	c->pump_left = c->txn->content_len;
	c->io_phase = "message body";
	/* A big message may take longer to send than one reply may take to come. */
	set_timeout(c, 0, var_smtp_timeout);
	bufferevent_setwatermark(c->bev, EV_WRITE, PUMP_LOW, 0);
	conn_write(c->bev, c);
}

/* Queue more content while the output is short; ends with "." for DATA. */
static void
pump(struct smtp_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char buf[PUMP_CHUNK];

	while (c->pump_left > 0 && evbuffer_get_length(out) < 4 * PUMP_LOW) {
		size_t want = c->pump_left > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)c->pump_left;
		ssize_t n = queue_content_pread(c->txn->fd, c->txn->content, buf, want, c->pump_off);
		size_t start = 0;

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			log_warn("qid=%s cannot read queue file", c->txn->qid);
			/* The peer must not take a truncated message: drop the connection. */
			c->broken = 1;
			for (size_t i = 0; i < c->txn->nrcpts; i++)
				if (c->txn->rcpts[i].code == 0)
					rcpt_result(&c->txn->rcpts[i], 451, "4.3.0",
					    "cannot read the queue file", 0, NULL);
			c->pumping = 0;
			txn_finish(c);
			return;
		}
		if (!c->pump_dot) {
			evbuffer_add(out, buf, (size_t)n);
		} else {
			/* Dot-stuffing: a "." after a line end (or at the start) gets another. */
			size_t i = 0;
			const char *nl;
			if (c->pump_bol && buf[0] == '.')
				evbuffer_add(out, ".", 1);
			while ((nl = memchr(buf + i, '\n', (size_t)n - i)) != NULL) {
				i = (size_t)(nl - buf) + 1;
				if (i < (size_t)n && buf[i] == '.') {
					evbuffer_add(out, buf + start, i - start);
					evbuffer_add(out, ".", 1);
					start = i;
				}
			}
			evbuffer_add(out, buf + start, (size_t)n - start);
			c->pump_bol = buf[n - 1] == '\n';
		}
		if (n >= 2) {
			c->pump_last[0] = buf[n - 2];
			c->pump_last[1] = buf[n - 1];
		} else {
			c->pump_last[0] = c->pump_last[1];
			c->pump_last[1] = buf[0];
		}
		c->pump_off += n;
		c->pump_left -= n;
	}
	if (c->pump_left > 0)
		return;
	c->pumping = 0;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (c->pump_dot) {
		if (c->txn->content_len > 0 && memcmp(c->pump_last, "\r\n", 2) != 0)
			evbuffer_add(out, "\r\n", 2);
		evbuffer_add(out, ".\r\n", 3);
		log_debug("smtp: %s > . (%lld bytes)", c->peer, (long long)c->txn->content_len);
	}
	c->io_phase = "end of DATA";
	set_timeout(c, var_smtp_timeout, var_smtp_timeout);
}

static void
txn_finish(struct smtp_conn *c)
{
	struct smtp_txn *t = c->txn;

	for (size_t i = 0; i < t->nrcpts; i++) {
		if (t->rcpts[i].code != 0)
			continue;
		if (c->broken) {
			char why[600];
			snprintf(why, sizeof(why), "lost connection with %s while sending %s", c->peer,
			    c->io_phase);
			rcpt_result(&t->rcpts[i], 421, "4.4.2", why, 0, NULL);
		} else {
			rcpt_result(&t->rcpts[i], 451, "4.3.0", "transaction ended without a reply", 0,
			    NULL);
		}
	}
	free_steps(c);
	c->txn = NULL;
	if (c->aborted)
		c->need_rset = 1;
	if (c->state == S_TXN)
		c->state = c->broken ? S_DEAD : S_READY;
	if (c->state == S_READY)
		set_timeout(c, 0, var_smtp_timeout);
	notify(c, SMTP_CONN_DONE);
}

static void
txn_reply(struct smtp_conn *c)
{
	struct smtp_txn *t = c->txn;
	struct step *s;
	char r[SMTP_REPLY_TEXT_MAX + 8];
	int code = c->reply.code;

	smtp_reply_str(&c->reply, r, sizeof(r));
	if (c->next_reply >= c->next_send) {
		/* A reply to nothing we sent: the peer is confused, do not trust it. */
		if (code == 354 || c->pumping)
			return;
		log_warnx("qid=%s unexpected reply from %s: %s", t->qid, c->peer, r);
		c->broken = 1;
		c->aborted = 1;
		txn_finish(c);
		return;
	}
	s = &c->steps[c->next_reply++];
	switch (s->kind) {
	case K_RSET:
		break;
	case K_MAIL:
		if (code / 100 == 2) {
			c->mail_ok = 1;
			c->io_phase = "RCPT TO";
			break;
		}
		for (size_t i = 0; i < t->nrcpts; i++)
			rcpt_result(&t->rcpts[i], code, c->reply.dsn, r, 1, "MAIL FROM");
		c->aborted = 1;
		break;
	case K_RCPT:
		if (!c->mail_ok)
			break;
		if (code / 100 == 2) {
			t->rcpts[s->rcpt].accepted = 1;
			c->naccepted++;
		} else {
			rcpt_result(&t->rcpts[s->rcpt], code, c->reply.dsn, r, 1, "RCPT TO");
		}
		break;
	case K_DATA:
		if (code == 354) {
			if (c->mail_ok && c->naccepted > 0 && !c->aborted) {
				pump_start(c, 1);
				if (!c->lmtp) {
					add_step(c, K_DOT, 0, NULL);
				} else {
					/* RFC 2033: one reply per accepted recipient, in RCPT order. */
					for (size_t i = 0; i < t->nrcpts; i++)
						if (t->rcpts[i].accepted && t->rcpts[i].code == 0)
							add_step(c, K_DOT, i, NULL);
				}
				c->next_send = c->nsteps;
				return;
			}
			if (c->lmtp) {
				/* No recipient to answer for: an LMTP server out of step. */
				log_warnx("qid=%s %s said 354 to DATA without accepted recipients",
				    t->qid, c->peer);
				c->broken = 1;
				c->aborted = 1;
				txn_finish(c);
				return;
			}
			/* RFC 2920: DATA accepted with no valid recipient; send an empty message. */
			conn_send(c, ".");
			add_step(c, K_DOT, 0, NULL);
			c->next_send = c->nsteps;
			c->aborted = 1;
			return;
		}
		if (c->mail_ok && c->naccepted > 0)
			for (size_t i = 0; i < t->nrcpts; i++)
				if (t->rcpts[i].accepted && t->rcpts[i].code == 0)
					rcpt_result(&t->rcpts[i], code, c->reply.dsn, r, 1, "DATA");
		c->aborted = 1;
		break;
	case K_DOT:
		if (c->lmtp) {
			/* The reply of one recipient; the transaction ends with the last. */
			if (c->pumping) {
				c->broken = 1;
				txn_finish(c);
				return;
			}
			rcpt_result(&t->rcpts[s->rcpt], code, c->reply.dsn, r, 1, "end of DATA");
			if (c->next_reply < c->nsteps)
				return;
			txn_finish(c);
			return;
		}
		/* FALLTHROUGH */
	case K_BDAT:
		/* A final reply before we finished sending: the stream is out of step. */
		if (c->pumping)
			c->broken = 1;
		if (!c->aborted)
			for (size_t i = 0; i < t->nrcpts; i++)
				if (t->rcpts[i].accepted && t->rcpts[i].code == 0)
					rcpt_result(&t->rcpts[i], code, c->reply.dsn, r, 1,
					    "end of DATA");
		txn_finish(c);
		return;
	}
	if (c->next_reply < c->nsteps) {
		if (!c->pipelining && c->steps[c->next_reply].kind == K_DATA && c->naccepted == 0)
			c->aborted = 1;
		if (c->aborted && !c->pipelining) {
			txn_finish(c);
			return;
		}
		txn_send_more(c);
		return;
	}
	/* Every reply is in and no DATA was sent: BDAT now, or give up. */
	if (c->mail_ok && c->naccepted > 0 && !c->aborted && (c->ext & SMTP_EXT_CHUNKING)) {
		conn_send(c, "BDAT %lld LAST", (long long)t->content_len);
		add_step(c, K_BDAT, 0, NULL);
		c->next_send = c->nsteps;
		pump_start(c, 0);
		return;
	}
	if (c->naccepted == 0 && c->mail_ok)
		c->aborted = 1;
	txn_finish(c);
}

/* ---- events ---- */

static void
quit_done(struct smtp_conn *c)
{
	close_bev(c);
	dns_cancel(&c->query);
	if (c->quit_timer != NULL)
		event_free(c->quit_timer);
	event_free(c->notify_ev);
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->addrs);
	free_steps(c);
	free(c);
}

static void
conn_lost(struct smtp_conn *c, const char *why)
{
	switch (c->state) {
	case S_QUIT:
		quit_done(c);
		return;
	case S_READY:
		log_debug("smtp: idle connection to %s closed: %s", c->peer, why);
		close_bev(c);
		c->state = S_DEAD;
		notify(c, SMTP_CONN_CLOSED);
		return;
	case S_TXN:
		log_info("qid=%s lost connection with %s while sending %s: %s", c->txn->qid, c->peer,
		    c->io_phase, why);
		close_bev(c);
		c->broken = 1;
		c->pumping = 0;
		txn_finish(c);
		return;
	case S_CONNECT:
		set_error(c, 0, "4.4.1", "connect to %s: %s", c->peer, why);
		setup_failed(c);
		return;
	case S_TLS:
		set_error(c, 0, "4.7.5", "TLS handshake with %s failed: %s", c->peer, why);
		if (c->route.tls == TLS_POLICY_MAY) {
			/* Opportunistic TLS: the same host again, in plain text. */
			log_info("smtp: %s; retrying %s without TLS", c->err_text, c->peer);
			close_bev(c);
			c->tls_skip = 1;
			c->addrs_tried--;
			conn_next_addr(c);
			return;
		}
		setup_failed(c);
		return;
	default:
		set_error(c, 0, "4.4.2", "lost connection with %s while setting up the session: %s",
		    c->peer, why);
		setup_failed(c);
		return;
	}
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_conn *c = arg;
	char why[300];

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == S_CONNECT) {
			c->state = S_BANNER;
			log_debug("smtp: connected to %s", c->peer);
		} else if (c->state == S_TLS) {
			tls_established(c);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), "%s timed out", c->state == S_CONNECT ? "connection" :
		    "reading or writing");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "connection closed by the server");
	else if (c->state == S_TLS || c->tls_active)
		snprintf(why, sizeof(why), "%s", ssl_error_text(c));
	else
		snprintf(why, sizeof(why), "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_lost(c, why);
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;

	if (c->pumping)
		pump(c);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	const char *error;
	char *line;
	size_t len;
	unsigned int gen = c->gen;

	while (c->gen == gen && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		int rc = len > SMTP_REPLY_LINE_MAX ? -1 : smtp_reply_add_line(&c->reply, line, len, &error);

		if (len > SMTP_REPLY_LINE_MAX)
			error = "reply line too long";
		if (rc < 0) {
			log_warnx("smtp: %s: %s", c->peer, error);
			free(line);
			conn_lost(c, error);
			return;
		}
		log_debug("smtp: %s < %.*s", c->peer, (int)(len > 200 ? 200 : len), line);
		free(line);
		if (rc == 0)
			continue;
		switch (c->state) {
		case S_BANNER:
		case S_EHLO:
		case S_HELO:
		case S_STARTTLS:
			setup_reply(c);
			break;
		case S_TXN:
			txn_reply(c);
			break;
		case S_QUIT:
			quit_done(c);
			return;
		case S_READY:
			/* Most likely "421 idle timeout". */
			conn_lost(c, c->reply.text);
			return;
		default:
			break;
		}
		smtp_reply_init(&c->reply);
	}
	if (c->gen == gen && evbuffer_get_length(in) > SMTP_REPLY_LINE_MAX)
		conn_lost(c, "reply line too long");
}

static void
quit_timeout(evutil_socket_t fd, short what, void *arg)
{
	quit_done(arg);
}

void
smtp_conn_free(struct smtp_conn **cp)
{
	struct smtp_conn *c = *cp;
	struct timeval tv = { QUIT_TIMEOUT, 0 };

	if (c == NULL)
		return;
	*cp = NULL;
	c->cb = NULL;
	event_del(c->notify_ev);
	if (c->state != S_READY || c->bev == NULL) {
		quit_done(c);
		return;
	}
	/* Say goodbye in the background; the reply (or a timeout) frees it. */
	conn_send(c, "QUIT");
	c->state = S_QUIT;
	set_timeout(c, QUIT_TIMEOUT, QUIT_TIMEOUT);
	c->quit_timer = evtimer_new(c->base, quit_timeout, c);
	evtimer_add(c->quit_timer, &tv);
}
