/* SPDX-License-Identifier: MIT */
/*
 * smtpd - SMTP sessions and commands.  See smtpd.h.
 *
 * Commands are read and answered in a loop over whatever input is
 * buffered, so a pipelining client gets its replies in one write
 * (RFC 2920).  Relay control lives in smtpd_rcpt(): our domains from
 * anyone, other domains only for mynetworks and authenticated clients,
 * and sender-specified routing (%, !, quoted @) refused from the rest.
 *
 * Before the banner the client's name is looked up and verified, as
 * Postfix's smtpd does (smtpd_peer.c): the PTR names of the address, kept
 * only if one of their addresses is the client's; otherwise "unknown".
 * The banner waits for it, SMTPD_NAME_TIMEOUT at most.
 */
#include "facteur-config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "milter_client.h"
#include "smtp_addr.h"
#include "smtp_proto.h"
#include "smtpd.h"

/*
 * Postfix waits as long as the system resolver does (5 s a try, two tries
 * a server, for the PTR and again for the name): a silent resolver could
 * hold the banner for half a minute.  A name is worth less than that.
 */
#define SMTPD_NAME_TIMEOUT 5

static struct event_base *smtpd_base;
static SSL_CTX *smtpd_tls_ctx;
static unsigned long smtpd_nsessions;

/* ---- per-client-IP connection counts ---- */

#define CLIENT_BUCKETS 1024
struct client_count {
	char addr[64];
	unsigned int n;
	struct client_count *next;
};
static struct client_count *client_table[CLIENT_BUCKETS];

static unsigned int
client_hash(const char *addr)
{
	unsigned int h = 5381;

	for (; *addr != '\0'; addr++)
		h = h * 33 + (unsigned char)*addr;
	return h % CLIENT_BUCKETS;
}

static unsigned int
client_add(const char *addr, int delta)
{
	struct client_count **pp = &client_table[client_hash(addr)], *c;

	for (; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->addr, addr) == 0)
			break;
	if (c == NULL) {
		if (delta < 0)
			return 0;
		c = xcalloc(1, sizeof(*c));
		str_copy(c->addr, addr, sizeof(c->addr));
		c->next = client_table[client_hash(addr)];
		client_table[client_hash(addr)] = c;
		pp = &client_table[client_hash(addr)];
	}
	c->n += delta;
	if (c->n == 0) {
		*pp = c->next;
		free(c);
		return 0;
	}
	return c->n;
}

/* ---- replies ---- */

/*
 * Replies are written straight to the socket (plain sessions): write
 * events stay disabled while nothing is left over, so a reply costs one
 * writev(2) instead of two epoll_ctl(2) and a pass of the event loop
 * around the write.  What the socket does not take, or an error, is left
 * to libevent (write events enabled until the output drains again).
 * Replies made while reading (smtpd_read_cb) wait for the end of what was
 * read, so that pipelined commands are answered with one write.
 */
static void
smtpd_flush(struct smtpd_session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (s->tls || evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(s->bev) & EV_WRITE))
		return;
	/* The bufferevent keeps the front of its output frozen but for its own writes. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(s->bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(s->bev, EV_WRITE);
}

/* libevent wrote what was left over: back to writing replies directly. */
static void
smtpd_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	if (!s->tls && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

static void
smtpd_vreply(struct smtpd_session *s, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
	if (s->in_read == 0)
		smtpd_flush(s);
}

void
smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtpd_vreply(s, fmt, ap);
	va_end(ap);
}

/* A reply that counts against smtpd_error_limit. */
void
smtpd_error(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtpd_vreply(s, fmt, ap);
	va_end(ap);
	STATS_INC(smtpd_reject_protocol);
	if (++s->errors >= (unsigned long)var_smtpd_error_limit) {
		log_info("too many errors from %s[%s] after %u commands", s->name, s->addr,
		    s->commands);
		smtpd_reply(s, "421 4.7.0 %s Error: too many errors", proc_hostname());
		smtpd_close(s);
	}
}

/* ---- session life ---- */

static void smtpd_read_cb(struct bufferevent *bev, void *arg);
static void smtpd_event_cb(struct bufferevent *bev, short what, void *arg);

void
smtpd_transaction_reset(struct smtpd_session *s)
{
	if (s->writer != NULL) {
		queue_writer_abort(s->writer);
		free(s->writer);
		s->writer = NULL;
	}
	smtpd_data_free(s);
	if (s->in_mail && s->milter != NULL)
		milter_abort(s->milter);
	s->milter_discard = 0;
	queue_envelope_free(&s->env);
	s->in_mail = 0;
	s->smtputf8 = 0;
}

void
smtpd_session_free(struct smtpd_session *s)
{
	log_info("disconnect from %s[%s] commands=%u errors=%u", s->name, s->addr, s->commands,
	    s->errors);
	client_add(s->addr, -1);
	smtpd_nsessions--;
	STATS_DEC(smtpd_connections_active);
	smtpd_transaction_reset(s);
	smtpd_policy_free(s);
	dns_verify_cancel(&s->name_q);
	if (s->name_timer != NULL)
		event_free(s->name_timer);
	if (s->milter != NULL)
		milter_session_free(&s->milter);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	free(s->helo);
	free(s->auth_user);
	free(s->auth_login_user);
	free(s);
}

static void
smtpd_write_drained(struct bufferevent *bev, void *arg)
{
	smtpd_session_free(arg);
}

static void
smtpd_free_deferred(evutil_socket_t fd, short what, void *arg)
{
	smtpd_session_free(arg);
}

/*
 * Stop reading; free the session once the queued replies are written.
 * Never frees synchronously: the caller may be deep in the read loop.
 */
void
smtpd_close(struct smtpd_session *s)
{
	static const struct timeval now = { 0, 0 };

	if (s->state == SMTPD_ST_CLOSING)
		return;
	s->state = SMTPD_ST_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	smtpd_flush(s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		event_base_once(s->base, -1, EV_TIMEOUT, smtpd_free_deferred, s, &now);
		return;
	}
	bufferevent_setcb(s->bev, NULL, smtpd_write_drained, smtpd_event_cb, s);
	bufferevent_enable(s->bev, EV_WRITE);
}

/*
 * libevent reads 4 KB per read(2) unless told otherwise: message data comes
 * in much faster with 64 KB, and an idle session costs no more for it.
 */
#define SMTPD_MAX_READ 65536

static void
smtpd_set_timeout(struct smtpd_session *s, long seconds)
{
	struct timeval tv = { seconds, 0 };

	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
smtpd_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (ssl != NULL) {
			STATS_INC(smtpd_tls_sessions);
			log_info("TLS established from [%s]: %s with cipher %s", s->addr,
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SMTPD_ST_CLOSING) {
			/* Not even the final reply could be written (a TLS handshake
			 * that never ends, a peer that does not read): give up. */
			smtpd_session_free(s);
			return;
		}
		log_info("timeout after %s from %s[%s]",
		    s->state == SMTPD_ST_DATA || s->state == SMTPD_ST_BDAT ? "DATA" : "command",
		    s->name, s->addr);
		if (s->state == SMTPD_ST_COMMIT) {
			/* The flush is slow, not the client: keep waiting. */
			bufferevent_enable(bev, EV_WRITE);
			return;
		}
		smtpd_reply(s, "421 4.4.2 %s Error: timeout exceeded", proc_hostname());
		smtpd_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (e != 0) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			log_info("TLS error from [%s]: %s", s->addr, buf);
		}
	}
	/* EOF or error: the peer is gone. */
	if (s->state == SMTPD_ST_COMMIT) {
		/* The commit callback owns the session until it runs. */
		s->dead = 1;
		bufferevent_disable(bev, EV_READ | EV_WRITE);
		return;
	}
	if (s->state != SMTPD_ST_CLOSING && s->in_mail)
		log_info("lost connection after %s from %s[%s]",
		    s->state == SMTPD_ST_DATA || s->state == SMTPD_ST_BDAT ? "DATA" : "MAIL",
		    s->name, s->addr);
	smtpd_session_free(s);
}

void
smtpd_banner(struct smtpd_session *s)
{
	if (var_smtpd_banner[0] != '\0')
		smtpd_reply(s, "220 %s", var_smtpd_banner);
	else
		smtpd_reply(s, "220 %s ESMTP facteur", proc_hostname());
}

/* The name is known: log the connection, then the policy and the banner. */
static void
smtpd_connected(struct smtpd_session *s)
{
	log_info("connect from %s[%s] port=%s", s->name, s->addr,
	    s->mode == SMTPD_MX ? "smtp" : s->mode == SMTPD_SUBMISSION ? "submission" : "smtps");
	smtpd_policy_connect(s);
}

static void
smtpd_name_answer(void *ctx, enum dns_verify_status status, const char *name,
    const char *ptr_name, const char *error)
{
	struct smtpd_session *s = ctx;

	s->name_q = NULL;
	event_free(s->name_timer);
	s->name_timer = NULL;
	switch (status) {
	case DNS_VERIFY_OK:
		str_copy(s->name, name, sizeof(s->name));
		s->name_status = SMTPD_NAME_OK;
		break;
	case DNS_VERIFY_TEMP:
		/* As Postfix: a warning when a name was found but not confirmed. */
		if (ptr_name != NULL)
			log_warnx("hostname %s does not resolve to address %s: %s", ptr_name,
			    s->addr, error);
		else
			log_debug("client name of [%s]: %s", s->addr, error);
		s->name_status = SMTPD_NAME_TEMP;
		break;
	case DNS_VERIFY_NONAME:
		s->name_status = SMTPD_NAME_PERM;
		break;
	case DNS_VERIFY_FORGED:
		log_warnx("hostname %s does not resolve to address %s", ptr_name, s->addr);
		s->name_status = SMTPD_NAME_FORGED;
		break;
	}
	smtpd_connected(s);
}

static void
smtpd_name_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	event_free(s->name_timer);
	s->name_timer = NULL;
	dns_verify_cancel(&s->name_q);
	log_info("client name of [%s]: no answer in %d s", s->addr, SMTPD_NAME_TIMEOUT);
	s->name_status = SMTPD_NAME_TEMP;
	smtpd_connected(s);
}

static void
smtpd_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	enum smtpd_mode mode = (enum smtpd_mode)(intptr_t)arg;
	struct smtpd_session *s = xcalloc(1, sizeof(*s));
	unsigned int per_client;

	net_nodelay(fd);
	s->base = smtpd_base;
	s->mode = mode;
	net_addr_str(sa, s->addr, sizeof(s->addr));
	str_copy(s->name, "unknown", sizeof(s->name));
	s->name_status = SMTPD_NAME_PERM;
	s->trusted = net_cidr_list_match(var_mynetworks, s->addr);
	if (mode == SMTPD_SMTPS) {
		SSL *ssl = smtpd_tls_ctx != NULL ? SSL_new(smtpd_tls_ctx) : NULL;
		if (ssl == NULL) {
			log_warnx("no TLS context for implicit TLS from [%s]", s->addr);
			close(fd);
			free(s);
			return;
		}
		s->bev = bufferevent_openssl_socket_new(smtpd_base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		s->tls = 1;
	} else {
		s->bev = bufferevent_socket_new(smtpd_base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	smtpd_nsessions++;
	STATS_INC(smtpd_connections);
	STATS_INC(smtpd_connections_active);
	per_client = client_add(s->addr, 1);
	bufferevent_setcb(s->bev, smtpd_read_cb, smtpd_write_cb, smtpd_event_cb, s);
	bufferevent_set_max_single_read(s->bev, SMTPD_MAX_READ);
	smtpd_set_timeout(s, var_smtpd_timeout);
	/* Replies are written directly (smtpd_flush). */
	if (!s->tls)
		bufferevent_disable(s->bev, EV_WRITE);
	/* Refusals come first: a flood of connections costs no lookups. */
	if (smtpd_nsessions > (unsigned long)var_smtpd_connection_limit) {
		STATS_INC(smtpd_connections_refused);
		log_info("refused unknown[%s]: smtpd_connection_limit %ld reached", s->addr,
		    var_smtpd_connection_limit);
		smtpd_reply(s, "421 4.7.0 %s Error: too many connections", proc_hostname());
		bufferevent_enable(s->bev, EV_WRITE);
		smtpd_close(s);
		return;
	}
	/* mynetworks is exempt, as with Postfix's smtpd_client_event_limit_exceptions. */
	if (!s->trusted && per_client > (unsigned long)var_smtpd_client_connection_limit) {
		STATS_INC(smtpd_connections_refused);
		log_info("refused unknown[%s]: %u connections from this client", s->addr,
		    per_client);
		smtpd_reply(s, "421 4.7.0 %s Error: too many connections from %s", proc_hostname(),
		    s->addr);
		bufferevent_enable(s->bev, EV_WRITE);
		smtpd_close(s);
		return;
	}
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) {
		/* Not Internet: a local client, as Postfix assumes, without a lookup. */
		str_copy(s->name, "localhost", sizeof(s->name));
		s->name_status = SMTPD_NAME_OK;
		smtpd_connected(s);
	} else if (!var_smtpd_peername_lookup) {
		smtpd_connected(s);
	} else {
		struct timeval tv = { SMTPD_NAME_TIMEOUT, 0 };

		/* Input stays unread meanwhile: a pregreet is noticed after. */
		s->name_timer = evtimer_new(s->base, smtpd_name_timeout, s);
		if (s->name_timer == NULL)
			panic("smtpd: evtimer_new failed");
		evtimer_add(s->name_timer, &tv);
		s->name_q = dns_verify_client(s->addr, smtpd_name_answer, s);
	}
}

/* ---- commands ---- */

static void
smtpd_ehlo(struct smtpd_session *s, const char *arg, int esmtp)
{
	const char *host = proc_hostname();

	if (arg[0] == '\0') {
		smtpd_error(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		return;
	}
	smtpd_transaction_reset(s);
	free(s->helo);
	s->helo = xstrndup(arg, 255);
	s->esmtp = esmtp;
	if (!esmtp) {
		smtpd_reply(s, "250 %s", host);
		return;
	}
	smtpd_reply(s, "250-%s", host);
	smtpd_reply(s, "250-PIPELINING");
	smtpd_reply(s, "250-SIZE %ld", var_message_size_limit);
	if (!s->tls && smtpd_tls_ctx != NULL)
		smtpd_reply(s, "250-STARTTLS");
	if (s->tls && s->auth_user == NULL && smtpd_auth_enabled())
		smtpd_reply(s, "250-AUTH PLAIN LOGIN");
	smtpd_reply(s, "250-ENHANCEDSTATUSCODES");
	smtpd_reply(s, "250-8BITMIME");
	smtpd_reply(s, "250-SMTPUTF8");
	smtpd_reply(s, "250-CHUNKING");
	smtpd_reply(s, "250 DSN");
}

/*
 * Write out everything in buf on a non-blocking socket, waiting briefly if
 * needed.  A bufferevent's output buffer is frozen at its start, so the
 * bytes are copied out rather than drained; the caller frees the buffer.
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
smtpd_starttls(struct smtpd_session *s, const char *arg)
{
	evutil_socket_t fd;
	SSL *ssl;

	if (arg[0] != '\0') {
		smtpd_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		smtpd_error(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (smtpd_tls_ctx == NULL || (ssl = SSL_new(smtpd_tls_ctx)) == NULL) {
		smtpd_error(s, "454 4.7.0 TLS not available due to local problem");
		return;
	}
	/*
	 * The 220 (and any reply still queued before it) goes out in clear
	 * text now; then the same socket continues as a TLS bufferevent.
	 * Anything the client pipelined after STARTTLS was sent in clear text
	 * and must not be executed inside the TLS session (CVE-2011-0411):
	 * the old input buffer is freed unread, and later clear-text bytes in
	 * the socket fail the handshake.
	 */
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	fd = bufferevent_getfd(s->bev);
	if (flush_now(fd, bufferevent_get_output(s->bev)) < 0) {
		SSL_free(ssl);
		smtpd_close(s);
		return;
	}
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	s->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		panic("cannot create a TLS bufferevent");
	bufferevent_set_max_single_read(s->bev, SMTPD_MAX_READ);
	s->tls = 1;
	/* RFC 3207: forget everything learned before TLS. */
	smtpd_transaction_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
	bufferevent_setcb(s->bev, smtpd_read_cb, NULL, smtpd_event_cb, s);
	smtpd_set_timeout(s, var_smtpd_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

const char *
smtpd_proto(const struct smtpd_session *s)
{
	static const char *const names[] = {
		"ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA", "UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS",
		"UTF8SMTPSA",
	};

	if (!s->esmtp)
		return "SMTP";
	return names[(s->smtputf8 ? 4 : 0) + (s->tls ? 2 : 0) + (s->auth_user != NULL ? 1 : 0)];
}

static int
spool_has_room(long size)
{
	struct statvfs sv;
	unsigned long long avail, need;

	if (statvfs(var_spool_directory, &sv) < 0)
		return 1;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	need = (unsigned long long)var_queue_minfree + (unsigned long long)size * 3 / 2;
	return avail > need;
}

static int
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static void
smtpd_mail(struct smtpd_session *s, const char *arg)
{
	const char *error, *params;
	char key[32], value[512];
	char *addr = NULL;
	long size = 0;
	int routed, rc, ret = 0, smtputf8 = 0;
	char *envid = NULL;

	if (s->helo == NULL) {
		smtpd_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->in_mail) {
		smtpd_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (s->mode != SMTPD_MX && !s->tls) {
		smtpd_error(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->mode != SMTPD_MX && s->auth_user == NULL) {
		smtpd_error(s, "530 5.7.0 Authentication required");
		return;
	}
	if (smtp_addr_parse(arg, "FROM:", 1, 1, &addr, &params, &routed, &error) < 0) {
		smtpd_error(s, "%s", error);
		return;
	}
	while ((rc = smtp_param_next(&params, key, sizeof(key), value, sizeof(value))) > 0) {
		if (!s->esmtp) {
			smtpd_error(s, "555 5.5.4 Error: ESMTP parameters need EHLO");
			goto out;
		}
		if (strcmp(key, "SIZE") == 0) {
			char *end;
			errno = 0;
			size = strtol(value, &end, 10);
			if (value[0] == '\0' || *end != '\0' || errno != 0 || size < 0) {
				smtpd_error(s, "501 5.5.4 Bad SIZE parameter");
				goto out;
			}
		} else if (strcmp(key, "BODY") == 0) {
			if (str_casecmp(value, "7BIT") != 0 && str_casecmp(value, "8BITMIME") != 0) {
				smtpd_error(s, "555 5.5.4 Unsupported BODY parameter");
				goto out;
			}
		} else if (strcmp(key, "SMTPUTF8") == 0 && value[0] == '\0') {
			smtputf8 = 1;
		} else if (strcmp(key, "RET") == 0 && ret == 0) {
			if (str_casecmp(value, "FULL") == 0)
				ret = 1;
			else if (str_casecmp(value, "HDRS") == 0)
				ret = 2;
			else {
				smtpd_error(s, "501 5.5.4 Bad RET parameter");
				goto out;
			}
		} else if (strcmp(key, "ENVID") == 0 && envid == NULL) {
			if (strlen(value) > 100 || !smtp_xtext_valid(value)) {
				smtpd_error(s, "501 5.5.4 Bad ENVID parameter");
				goto out;
			}
			envid = xstrdup(value);
		} else if (strcmp(key, "AUTH") == 0) {
			/* RFC 4954 AUTH=<mailbox>: accepted, not trusted. */
		} else {
			smtpd_error(s, "555 5.5.4 Unsupported option: %s", key);
			goto out;
		}
	}
	if (rc < 0) {
		smtpd_error(s, "501 5.5.4 Bad parameter syntax");
		goto out;
	}
	if (has_8bit(addr) && !smtputf8) {
		smtpd_error(s, "553 5.6.7 Sender address contains non-ASCII characters: use SMTPUTF8");
		goto out;
	}
	if (size > var_message_size_limit) {
		STATS_INC(smtpd_reject_size);
		smtpd_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		goto out;
	}
	if (!spool_has_room(size)) {
		STATS_INC(smtpd_reject_storage);
		log_warnx("not enough free space in %s for a message from [%s]",
		    var_spool_directory, s->addr);
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
		goto out;
	}
	smtpd_transaction_reset(s);
	s->in_mail = 1;
	s->smtputf8 = smtputf8;
	s->env.sender = addr;
	s->env.ret = ret;
	s->env.envid = envid;
	addr = envid = NULL;
	smtpd_policy_mail(s);
out:
	free(addr);
	free(envid);
}

static void
smtpd_rcpt(struct smtpd_session *s, const char *arg)
{
	const char *error, *params, *domain;
	char key[32], value[600];
	char *addr = NULL, *orcpt = NULL;
	unsigned int notify = 0;
	int routed, rc;

	if (!s->in_mail) {
		smtpd_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (smtp_addr_parse(arg, "TO:", 0, 1, &addr, &params, &routed, &error) < 0) {
		smtpd_error(s, "%s", error);
		return;
	}
	while ((rc = smtp_param_next(&params, key, sizeof(key), value, sizeof(value))) > 0) {
		if (strcmp(key, "NOTIFY") == 0 && notify == 0) {
			if (queue_notify_parse(value, &notify) < 0) {
				smtpd_error(s, "501 5.5.4 Bad NOTIFY parameter");
				goto out;
			}
		} else if (strcmp(key, "ORCPT") == 0 && orcpt == NULL) {
			const char *semi = strchr(value, ';');
			if (semi == NULL || semi == value || !smtp_xtext_valid(semi + 1) ||
			    semi[1] == '\0') {
				smtpd_error(s, "501 5.5.4 Bad ORCPT parameter");
				goto out;
			}
			orcpt = xstrdup(value);
		} else {
			smtpd_error(s, "555 5.5.4 Unsupported option: %s", key);
			goto out;
		}
	}
	if (rc < 0) {
		smtpd_error(s, "501 5.5.4 Bad parameter syntax");
		goto out;
	}
	if (has_8bit(addr) && !s->smtputf8) {
		smtpd_error(s, "553 5.6.7 Recipient address contains non-ASCII characters: use SMTPUTF8");
		goto out;
	}
	domain = smtp_addr_domain(addr);
	if (domain == NULL) {
		/* <postmaster>: always ours (RFC 5321 4.5.1). */
	} else if (!s->trusted && smtp_addr_has_routing(addr)) {
		STATS_INC(smtpd_reject_relay);
		report_count(addr, REPORT_reject_relay, 1);
		log_info("reject RCPT from [%s]: <%s>: sender-specified routing", s->addr, addr);
		smtpd_error(s, "554 5.7.1 <%s>: Relay access denied", addr);
		goto out;
	} else if (!s->trusted && !smtpd_domain_is_ours(domain)) {
		STATS_INC(smtpd_reject_relay);
		report_count(addr, REPORT_reject_relay, 1);
		log_info("reject RCPT from [%s]: from=<%s> to=<%s>: relay access denied", s->addr,
		    s->env.sender, addr);
		smtpd_error(s, "554 5.7.1 <%s>: Relay access denied", addr);
		goto out;
	}
	if (s->env.nrcpts >= (size_t)var_smtpd_recipient_limit) {
		smtpd_reply(s, "452 4.5.3 Error: too many recipients");
		goto out;
	}
	for (size_t i = 0; i < s->env.nrcpts; i++) {
		if (strcmp(s->env.rcpts[i].addr, addr) == 0) {
			smtpd_reply(s, "250 2.1.5 Ok");
			goto out;
		}
	}
	smtpd_policy_rcpt(s, addr, orcpt, notify);
out:
	free(addr);
	free(orcpt);
}

static void
smtpd_data_cmd(struct smtpd_session *s, const char *arg)
{
	if (arg[0] != '\0') {
		smtpd_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->in_mail) {
		smtpd_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->env.nrcpts == 0) {
		smtpd_error(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (s->writer != NULL) {
		smtpd_error(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	if (smtpd_data_begin(s) < 0)
		return;
	smtpd_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	s->state = SMTPD_ST_DATA;
	smtpd_set_timeout(s, var_smtpd_data_timeout);
}

static void
smtpd_bdat(struct smtpd_session *s, const char *arg)
{
	char *end;
	unsigned long long size;
	int last = 0;

	errno = 0;
	size = strtoull(arg, &end, 10);
	if (arg[0] < '0' || arg[0] > '9' || errno != 0) {
		smtpd_error(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	while (*end == ' ')
		end++;
	if (str_casecmp(end, "LAST") == 0)
		last = 1;
	else if (*end != '\0') {
		smtpd_error(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	/*
	 * The chunk follows the command whatever we think of it: it must be
	 * read and thrown away, or its bytes would be taken for commands.
	 */
	if (!s->in_mail || s->env.nrcpts == 0) {
		s->data.error = DATA_BDAT_REFUSED;
	} else if (s->writer == NULL && s->data.error == DATA_OK && smtpd_data_begin(s) < 0) {
		/* The reply was sent: swallow the chunk silently. */
		s->data.error = DATA_BDAT_REFUSED;
		last = -1;
	}
	s->data.bdat_remaining = size;
	s->data.bdat_last = last;
	s->state = SMTPD_ST_BDAT;
	smtpd_set_timeout(s, var_smtpd_data_timeout);
}

static void
smtpd_command(struct smtpd_session *s, const char *line, size_t len)
{
	struct smtp_command cmd;
	const char *error;

	s->commands++;
	if (smtp_command_parse(line, len, &cmd, &error) < 0) {
		smtpd_error(s, "%s", error);
		return;
	}
	switch (cmd.cmd) {
	case SMTP_CMD_HELO:
		smtpd_ehlo(s, cmd.arg, 0);
		break;
	case SMTP_CMD_EHLO:
		smtpd_ehlo(s, cmd.arg, 1);
		break;
	case SMTP_CMD_STARTTLS:
		smtpd_starttls(s, cmd.arg);
		break;
	case SMTP_CMD_AUTH:
		if (s->helo == NULL || !s->esmtp)
			smtpd_error(s, "503 5.5.1 Error: send EHLO first");
		else if (s->in_mail)
			smtpd_error(s, "503 5.5.1 Error: MAIL transaction in progress");
		else if (s->auth_user != NULL)
			smtpd_error(s, "503 5.5.1 Error: already authenticated");
		else if (!s->tls)
			smtpd_error(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		else if (!smtpd_auth_enabled())
			smtpd_error(s, "503 5.5.1 Error: authentication not enabled");
		else
			smtpd_auth_command(s, cmd.arg);
		break;
	case SMTP_CMD_MAIL:
		smtpd_mail(s, cmd.arg);
		break;
	case SMTP_CMD_RCPT:
		smtpd_rcpt(s, cmd.arg);
		break;
	case SMTP_CMD_DATA:
		smtpd_data_cmd(s, cmd.arg);
		break;
	case SMTP_CMD_BDAT:
		smtpd_bdat(s, cmd.arg);
		break;
	case SMTP_CMD_RSET:
		smtpd_transaction_reset(s);
		smtpd_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_NOOP:
		smtpd_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_VRFY:
		/* Never confirm or deny an address (RFC 5321 3.5.3). */
		smtpd_reply(s, "252 2.0.0 Send some mail, I'll try my best");
		break;
	case SMTP_CMD_EXPN:
		smtpd_error(s, "502 5.5.1 Error: EXPN not supported");
		break;
	case SMTP_CMD_HELP:
		smtpd_reply(s, "214 2.0.0 See RFC 5321");
		break;
	case SMTP_CMD_QUIT:
		smtpd_reply(s, "221 2.0.0 Bye");
		smtpd_close(s);
		break;
	case SMTP_CMD_HTTP:
		log_info("HTTP command from [%s]: closing", s->addr);
		smtpd_reply(s, "521 5.5.1 Error: this is an SMTP server");
		smtpd_close(s);
		break;
	case SMTP_CMD_UNKNOWN:
		smtpd_error(s, "502 5.5.2 Error: command not recognized");
		break;
	}
}

/* Read one command (or SASL) line; 1 if one was handled, 0 if more input is needed. */
static int
smtpd_read_line(struct smtpd_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr eol;
	size_t eol_len = 0, len, limit = (size_t)var_smtpd_line_length_limit;
	char *line;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) >= limit) {
			/* Throw the head away now; the reply comes at the line's end. */
			evbuffer_drain(in, evbuffer_get_length(in));
			s->discarding_line = 1;
		}
		return 0;
	}
	len = (size_t)eol.pos;
	if (s->discarding_line || len + eol_len > limit) {
		evbuffer_drain(in, len + eol_len);
		s->discarding_line = 0;
		smtpd_error(s, "500 5.5.2 Error: line too long");
		return 1;
	}
	line = xmalloc(len + 1);
	evbuffer_remove(in, line, len);
	line[len] = '\0';
	evbuffer_drain(in, eol_len);
	/*
	 * More input already here after a command that must end a pipelined
	 * group (RFC 2920: EHLO, DATA, and anything before EHLO or after
	 * HELO): the client did not wait for our reply.
	 */
	if (s->state == SMTPD_ST_CMD && evbuffer_get_length(in) > 0 && !s->pipelining &&
	    (s->helo == NULL || !s->esmtp || (len == 4 && str_ncasecmp(line, "DATA", 4) == 0))) {
		char verb[5];

		snprintf(verb, sizeof(verb), "%.*s", (int)strcspn(line, " "), line);
		for (char *v = verb; *v != '\0'; v++)
			*v = (*v >= 'a' && *v <= 'z') ? (char)(*v - 32) : (*v < 0x20 || *v > 0x7e) ? '?' : *v;
		smtpd_policy_pipelining(s, verb);
	}
	if (s->state == SMTPD_ST_CLOSING) {
		free(line);
		return 0;
	}
	if (s->state == SMTPD_ST_AUTH)
		smtpd_auth_response(s, line);
	else
		smtpd_command(s, line, len);
	free(line);
	return 1;
}

static void
smtpd_read_input(struct smtpd_session *s)
{
	for (;;) {
		struct evbuffer *in = bufferevent_get_input(s->bev);

		switch (s->state) {
		case SMTPD_ST_GREET:
			if (evbuffer_get_length(in) > 0)
				smtpd_policy_pregreet(s);
			return;
		case SMTPD_ST_CMD:
		case SMTPD_ST_AUTH:
			if (!smtpd_read_line(s, in))
				return;
			break;
		case SMTPD_ST_DATA:
			if (!smtpd_data_lines(s, in, 1))
				return;
			smtpd_data_end(s);
			break;
		case SMTPD_ST_BDAT: {
			size_t avail = evbuffer_get_length(in);
			size_t take = avail < s->data.bdat_remaining ? avail : (size_t)s->data.bdat_remaining;
			if (s->data.error != DATA_OK || s->writer == NULL) {
				evbuffer_drain(in, take);
			} else {
				evbuffer_remove_buffer(in, s->data.chunk, take);
				smtpd_data_lines(s, s->data.chunk, 0);
			}
			s->data.bdat_remaining -= take;
			if (s->data.bdat_remaining > 0)
				return;
			smtpd_set_timeout(s, var_smtpd_timeout);
			if (s->data.bdat_last == -1) {
				/* Refused at BDAT and already answered. */
				s->state = SMTPD_ST_CMD;
				smtpd_transaction_reset(s);
			} else if (s->data.error == DATA_BDAT_REFUSED) {
				s->state = SMTPD_ST_CMD;
				smtpd_error(s, "503 5.5.1 Error: need MAIL and RCPT before BDAT");
				smtpd_transaction_reset(s);
			} else if (s->data.bdat_last) {
				smtpd_data_end(s);
			} else {
				s->state = SMTPD_ST_CMD;
				smtpd_reply(s, "250 2.0.0 Ok: %llu octets received",
				    (unsigned long long)s->data.bytes);
			}
			break;
		}
		case SMTPD_ST_COMMIT:
		case SMTPD_ST_CLOSING:
			return;
		}
	}
}

static void
smtpd_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	s->in_read++;
	smtpd_read_input(s);
	if (--s->in_read == 0)
		smtpd_flush(s);
}

void
smtpd_resume(struct smtpd_session *s)
{
	s->state = SMTPD_ST_CMD;
	smtpd_set_timeout(s, var_smtpd_timeout);
	bufferevent_enable(s->bev, EV_READ);
	smtpd_read_cb(s->bev, s);
}

void
smtpd_init(struct event_base *base, SSL_CTX *tls_ctx)
{
	smtpd_base = base;
	smtpd_tls_ctx = tls_ctx;
}

void
smtpd_set_tls(SSL_CTX *tls_ctx)
{
	SSL_CTX *old = smtpd_tls_ctx;

	smtpd_tls_ctx = tls_ctx;
	/* Sessions hold their own references to the SSL_CTX through SSL_new. */
	if (old != NULL && old != tls_ctx)
		SSL_CTX_free(old);
}

void
smtpd_listen(int fd, enum smtpd_mode mode)
{
	struct evconnlistener *l;

	net_set_nonblock(fd);
	l = evconnlistener_new(smtpd_base, smtpd_accept, (void *)(intptr_t)mode,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL)
		fatal("cannot serve listening socket %d", fd);
}
