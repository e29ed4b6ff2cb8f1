/* SPDX-License-Identifier: MIT */
/*
 * verify - recipient probes of a relay domain's next hop.  See verify.h.
 *
 * One probe is one struct verify_op walking through: cache lookup, MX
 * lookup, address lookup, connection attempts (each address in turn
 * until one answers), then the SMTP conversation in lock-step (no
 * pipelining: a probe is four commands, and a server that refuses MAIL
 * must not see RCPT).  One timer bounds the whole probe.  Once the RCPT
 * reply is in, the caller has its answer; the op lives on alone for the
 * QUIT so the next hop sees a polite end rather than a reset.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "lib/config.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "policy/state.h"
#include "policy/verify.h"

#define ADDR_MAX 512
#define REPLY_LINE_MAX 4096	/* longest reply line read */
#define REPLY_LINES_MAX 100
#define ADDRS_MAX 4		/* addresses of the next hop tried */
#define QUIT_WAIT 10		/* seconds the QUIT reply is waited for */

/* Stored values of "vr:" keys. */
#define CACHE_ACCEPTED 1
#define CACHE_REFUSED 2

enum verify_step {
	V_CACHE,		/* waiting for the state backend */
	V_LATER,		/* answer already known, delivered from the loop */
	V_MX,
	V_ADDR,
	V_CONNECT,
	V_BANNER,
	V_EHLO,
	V_HELO,
	V_MAIL,
	V_RCPT,
	V_QUIT,			/* the caller has its answer */
};

struct verify_op {
	struct event_base *base;
	struct pstate *st;
	verify_cb *cb;
	void *ctx;
	enum verify_step step;
	char *addr;
	char *key;		/* "vr:" + lower-case address */
	char *nexthop;

	/* The next hop. */
	char host[256];		/* host to connect to, or whose MX to look up */
	int port;
	int mx;
	char target[256];	/* the host finally used (an MX host or host) */
	struct dns_addr addrs[ADDRS_MAX];
	size_t naddrs, next;
	char peer[320];		/* "target[ip]:port" for replies and logs */

	struct pstate_op *sop;
	struct dns_query *q;
	struct bufferevent *bev;
	struct event *timer;	/* the time limit, or the answer delivered later */

	/* The reply being read. */
	int code;
	unsigned int nlines;
	char reply[512];

	int later_result;	/* V_LATER */
	char later_reply[512];
};

static void try_connect(struct verify_op *op);

static void
op_free(struct verify_op *op)
{
	pstate_cancel(&op->sop);
	dns_cancel(&op->q);
	if (op->bev != NULL)
		bufferevent_free(op->bev);
	if (op->timer != NULL)
		event_free(op->timer);
	free(op->addr);
	free(op->key);
	free(op->nexthop);
	free(op);
}

void
verify_cancel(struct verify_op **op)
{
	if (*op == NULL)
		return;
	op_free(*op);
	*op = NULL;
}

static void
cache_stored(void *ctx, int status)
{
	if (status < 0)
		log_warnx("verify: could not remember a probe's answer: state backend error");
}

/* The answer: tell the caller, remember it, then say QUIT if connected. */
static void
finish(struct verify_op *op, int result, const char *reply, int cached)
{
	verify_cb *cb = op->cb;
	struct timeval tv = { QUIT_WAIT, 0 };

	if (!cached) {
		log_info("verify: rcpt=<%s> nexthop=%s result=%s reply=\"%s\"", op->addr,
		    op->peer[0] != '\0' ? op->peer : op->host[0] != '\0' ? op->host : "-",
		    result == VERIFY_ACCEPTED ? "accepted" : result == VERIFY_REFUSED ?
		    "refused" : "tempfail", reply);
		if (op->st != NULL && result != VERIFY_TEMPFAIL)
			pstate_set(op->st, op->key, result == VERIFY_ACCEPTED ? CACHE_ACCEPTED :
			    CACHE_REFUSED, result == VERIFY_ACCEPTED ? var_verify_positive_ttl :
			    var_verify_negative_ttl, cache_stored, NULL);
	}
	op->cb = NULL;
	cb(op->ctx, result, reply);
	if (op->bev == NULL || op->step != V_RCPT) {
		op_free(op);
		return;
	}
	op->step = V_QUIT;
	evbuffer_add_printf(bufferevent_get_output(op->bev), "QUIT\r\n");
	evtimer_add(op->timer, &tv);
}

/* An answer known now, delivered from the loop (never inside verify_recipient). */
static void
finish_later(struct verify_op *op, int result, const char *reply)
{
	struct timeval tv = { 0, 0 };

	op->step = V_LATER;
	op->later_result = result;
	str_copy(op->later_reply, reply, sizeof(op->later_reply));
	evtimer_add(op->timer, &tv);
}

static void
fail(struct verify_op *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fail(struct verify_op *op, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	finish(op, VERIFY_TEMPFAIL, text, 0);
}

static const char *
step_name(enum verify_step step)
{
	switch (step) {
	case V_CACHE: return "state lookup";
	case V_LATER: return "answer";
	case V_MX: return "MX lookup";
	case V_ADDR: return "address lookup";
	case V_CONNECT: return "connection";
	case V_BANNER: return "banner";
	case V_EHLO: return "EHLO";
	case V_HELO: return "HELO";
	case V_MAIL: return "MAIL FROM";
	case V_RCPT: return "RCPT TO";
	case V_QUIT: return "QUIT";
	}
	return "?";
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct verify_op *op = arg;

	if (op->step == V_LATER)
		finish(op, op->later_result, op->later_reply, 1);
	else if (op->step == V_QUIT)
		op_free(op);
	else
		fail(op, "timeout after %ld s (at %s%s%s)", var_verify_timeout,
		    step_name(op->step), op->peer[0] != '\0' ? " with " : "", op->peer);
}

/* ---- the conversation ---- */

static void
send_cmd(struct verify_op *op, enum verify_step step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
send_cmd(struct verify_op *op, enum verify_step step, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(op->bev), fmt, ap);
	va_end(ap);
	evbuffer_add(bufferevent_get_output(op->bev), "\r\n", 2);
	op->step = step;
}

static const char *
helo_name(void)
{
	return var_smtp_helo_name[0] != '\0' ? var_smtp_helo_name : proc_hostname();
}

/*
 * A whole reply is in op->code and op->reply.  1 when the next command is
 * sent; 0 when op is gone or only waits for the end (QUIT sent).
 */
static int
on_reply(struct verify_op *op)
{
	int class = op->code / 100;

	switch (op->step) {
	case V_BANNER:
		if (class != 2)
			break;
		send_cmd(op, V_EHLO, "EHLO %s", helo_name());
		return 1;
	case V_EHLO:
		if (class == 5) {
			send_cmd(op, V_HELO, "HELO %s", helo_name());
			return 1;
		}
		/* FALLTHROUGH */
	case V_HELO:
	case V_MAIL:
		if (class != 2)
			break;
		if (op->step == V_MAIL)
			send_cmd(op, V_RCPT, "RCPT TO:<%s>", op->addr);
		else
			send_cmd(op, V_MAIL, "MAIL FROM:<>");
		return 1;
	case V_RCPT:
		finish(op, class == 2 ? VERIFY_ACCEPTED : class == 5 ? VERIFY_REFUSED :
		    VERIFY_TEMPFAIL, op->reply, 0);
		return 0;
	case V_QUIT:
		op_free(op);
		return 0;
	default:
		panic("verify: reply in step %d", (int)op->step);
	}
	/* A refusal before RCPT: the next hop says nothing about the recipient. */
	fail(op, "%s answers %s to %s", op->peer, op->reply, step_name(op->step));
	return 0;
}

/* One reply line; 1 when it ends the reply, 0 if more follow, -1 if malformed. */
static int
reply_line(struct verify_op *op, const char *line, size_t len)
{
	int code;
	size_t n;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-'))
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (op->nlines > 0 && code != op->code)
		return -1;
	if (++op->nlines > REPLY_LINES_MAX)
		return -1;
	/* "550 first line text second line text", control characters blanked. */
	n = strlen(op->reply);
	if (op->nlines == 1) {
		op->code = code;
		n = (size_t)snprintf(op->reply, sizeof(op->reply), "%d", code);
	}
	for (size_t i = 3; i < len && n + 1 < sizeof(op->reply); i++) {
		unsigned char c = (unsigned char)line[i];
		op->reply[n++] = i == 3 || c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	op->reply[n] = '\0';
	return len == 3 || line[3] == ' ';
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct verify_op *op = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	/* The banner may be read before libevent says the connection is made. */
	if (op->step == V_CONNECT)
		op->step = V_BANNER;
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		int rc = len > REPLY_LINE_MAX ? -1 : reply_line(op, line, len);

		free(line);
		if (rc < 0) {
			if (op->step == V_QUIT) {
				op_free(op);
				return;
			}
			fail(op, "%s sent a malformed reply to %s", op->peer,
			    step_name(op->step));
			return;
		}
		if (rc == 1) {
			op->nlines = 0;
			if (!on_reply(op))
				return;
			op->reply[0] = '\0';
		}
	}
	if (evbuffer_get_length(in) > REPLY_LINE_MAX) {
		if (op->step == V_QUIT) {
			op_free(op);
			return;
		}
		fail(op, "%s sent a reply line longer than %d bytes", op->peer, REPLY_LINE_MAX);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct verify_op *op = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (op->step == V_CONNECT)
			op->step = V_BANNER;
		return;
	}
	if (op->step == V_QUIT) {
		op_free(op);
		return;
	}
	if (op->step == V_CONNECT) {
		/* Set by libevent's connect check (callbacks are not deferred). */
		int e = errno;
		const char *why = e != 0 ? strerror(e) : "connection failed";

		log_debug("verify: rcpt=<%s> connect to %s: %s", op->addr, op->peer, why);
		bufferevent_free(op->bev);
		op->bev = NULL;
		if (op->next < op->naddrs) {
			try_connect(op);
			return;
		}
		fail(op, "cannot connect to %s: %s", op->peer, why);
		return;
	}
	fail(op, "%s closed the connection at %s", op->peer, step_name(op->step));
}

/* Connect to the next address of the target. */
static void
try_connect(struct verify_op *op)
{
	struct dns_addr *a = &op->addrs[op->next++];
	char ip[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)op->port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)op->port);
	net_addr_str((struct sockaddr *)&a->ss, ip, sizeof(ip));
	if (strcmp(op->target, ip) == 0)
		snprintf(op->peer, sizeof(op->peer), "[%s]:%d", ip, op->port);
	else
		snprintf(op->peer, sizeof(op->peer), "%s[%s]:%d", op->target, ip, op->port);
	op->step = V_CONNECT;
	op->code = 0;
	op->nlines = 0;
	op->reply[0] = '\0';
	/*
	 * libevent reports even an immediate refusal from the loop, never
	 * inside bufferevent_socket_connect.
	 */
	op->bev = bufferevent_socket_new(op->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (op->bev == NULL) {
		fail(op, "cannot create a socket for %s", op->peer);
		return;
	}
	bufferevent_setcb(op->bev, on_read, NULL, on_event, op);
	bufferevent_enable(op->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(op->bev, (struct sockaddr *)&a->ss, (int)a->len) < 0) {
		bufferevent_free(op->bev);
		op->bev = NULL;
		if (op->next < op->naddrs) {
			try_connect(op);
			return;
		}
		fail(op, "cannot connect to %s", op->peer);
	}
}

/* ---- finding the next hop ---- */

static void
on_addrs(void *ctx, enum dns_status status, const struct dns_addr *addrs, size_t n,
    const char *error)
{
	struct verify_op *op = ctx;

	op->q = NULL;
	if (status != DNS_OK || n == 0) {
		fail(op, "address lookup of %s: %s%s%s", op->target, dns_status_str(status),
		    error != NULL ? ": " : "", error != NULL ? error : "");
		return;
	}
	op->naddrs = n < ADDRS_MAX ? n : ADDRS_MAX;
	memcpy(op->addrs, addrs, op->naddrs * sizeof(*addrs));
	op->next = 0;
	try_connect(op);
}

static void
lookup_target(struct verify_op *op, const char *host)
{
	str_copy(op->target, host, sizeof(op->target));
	op->step = V_ADDR;
	op->q = dns_lookup_addr(op->target, on_addrs, op);
}

static void
on_mx(void *ctx, enum dns_status status, const struct dns_mx *mx, size_t n, const char *error)
{
	struct verify_op *op = ctx;
	const char *me = proc_hostname();

	op->q = NULL;
	switch (status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
		/* No MX: the host itself (RFC 5321, 5.1). */
		lookup_target(op, op->host);
		return;
	case DNS_NULLMX:
		fail(op, "%s accepts no mail (null MX)", op->host);
		return;
	default:
		fail(op, "MX lookup of %s: %s%s%s", op->host, dns_status_str(status),
		    error != NULL ? ": " : "", error != NULL ? error : "");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (str_casecmp(mx[i].host, me) != 0) {
			lookup_target(op, mx[i].host);
			return;
		}
	fail(op, "the MX hosts of %s are this host (%s): give the domain a next hop", op->host, me);
}

/*
 * op->host, op->port and op->mx from nexthop (the address's domain when
 * empty).  -1 if malformed.
 */
static int
parse_nexthop(struct verify_op *op, const char *nexthop)
{
	const char *p = nexthop, *port = NULL;
	struct in6_addr in6;
	struct in_addr in4;
	size_t hlen;

	op->port = (int)var_smtp_default_port;
	op->mx = 1;
	if (*p == '\0') {
		str_copy(op->host, strrchr(op->addr, '@') + 1, sizeof(op->host));
		return op->host[0] != '\0' ? 0 : -1;
	}
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL)
			return -1;
		hlen = (size_t)(close - p - 1);
		p++;
		op->mx = 0;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(p, ':');
		hlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (colon != NULL)
			port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(op->host))
		return -1;
	memcpy(op->host, p, hlen);
	op->host[hlen] = '\0';
	if (port != NULL) {
		char *end;
		long v = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || v <= 0 || v > 65535)
			return -1;
		op->port = (int)v;
	}
	/* An address needs no MX lookup. */
	if (inet_pton(AF_INET, op->host, &in4) == 1 || inet_pton(AF_INET6, op->host, &in6) == 1)
		op->mx = 0;
	return 0;
}

static void
start_probe(struct verify_op *op)
{
	if (parse_nexthop(op, op->nexthop) < 0) {
		log_warnx("verify: rcpt=<%s> bad next hop \"%s\"", op->addr, op->nexthop);
		finish_later(op, VERIFY_TEMPFAIL, "bad next hop");
		return;
	}
	if (!op->mx) {
		lookup_target(op, op->host);
		return;
	}
	op->step = V_MX;
	op->q = dns_lookup_mx(op->host, on_mx, op);
}

/* ---- the cache ---- */

static void
on_cache(void *ctx, int status, int found, long long value)
{
	struct verify_op *op = ctx;

	op->sop = NULL;
	if (status == 0 && found && (value == CACHE_ACCEPTED || value == CACHE_REFUSED)) {
		log_debug("verify: rcpt=<%s> %s (cached)", op->addr,
		    value == CACHE_ACCEPTED ? "accepted" : "refused");
		finish(op, value == CACHE_ACCEPTED ? VERIFY_ACCEPTED : VERIFY_REFUSED,
		    value == CACHE_ACCEPTED ? "accepted by the next hop (cached)" :
		    "refused by the next hop (cached)", 1);
		return;
	}
	if (status < 0)
		log_warnx("verify: rcpt=<%s> state backend error: probing", op->addr);
	start_probe(op);
}

/* 1 if addr can go into RCPT TO:<...> as it is. */
static int
addr_ok(const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (strlen(addr) > ADDR_MAX || at == NULL || at == addr || at[1] == '\0')
		return 0;
	for (const unsigned char *p = (const unsigned char *)addr; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
	return 1;
}

struct verify_op *
verify_recipient(struct event_base *base, struct pstate *st, const char *nexthop,
    const char *addr, verify_cb *cb, void *ctx)
{
	struct verify_op *op = xcalloc(1, sizeof(*op));
	struct timeval tv = { var_verify_timeout > 0 ? var_verify_timeout : 30, 0 };

	op->base = base;
	op->st = st;
	op->cb = cb;
	op->ctx = ctx;
	op->addr = xstrdup(addr);
	op->key = xasprintf("vr:%s", addr);
	str_lower(op->key);
	op->timer = evtimer_new(base, on_timer, op);
	if (op->timer == NULL)
		panic("verify: cannot create a timer");
	if (!addr_ok(addr)) {
		finish_later(op, VERIFY_TEMPFAIL, "bad address");
		return op;
	}
	evtimer_add(op->timer, &tv);
	op->nexthop = xstrdup(nexthop != NULL ? nexthop : "");
	if (st != NULL) {
		op->step = V_CACHE;
		op->sop = pstate_get(st, op->key, on_cache, op);
		return op;
	}
	start_probe(op);
	return op;
}
