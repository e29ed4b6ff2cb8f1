/* SPDX-License-Identifier: MIT */
/*
 * dns - asynchronous resolver on libunbound.  See dns.h.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "dns.h"
#include "log.h"
#include "mem.h"
#include "params.h"

#define RR_A 1
#define RR_PTR 12
#define RR_MX 15
#define RR_TXT 16
#define RR_AAAA 28
#define RR_CLASS_IN 1
#define RCODE_SERVFAIL 2

struct dns_query {
	enum { Q_MX, Q_ADDR, Q_TEXT } kind;
	dns_mx_cb *mx_cb;
	dns_addr_cb *addr_cb;
	dns_text_cb *text_cb;
	int rrtype;		/* Q_TEXT: RR_A, RR_PTR or RR_TXT */
	enum dns_status text_status;	/* Q_TEXT answered from the loop */
	void *ctx;
	int ids[2];		/* unbound async ids, 0 when answered */
	int outstanding;
	/* A+AAAA: the first answer waits for the second. */
	struct dns_addr *addrs;
	size_t naddrs;
	enum dns_status status[2];
	char error[128];
	/* Address literals answer from a timer, never synchronously. */
	struct event *literal;
};

static struct ub_ctx *ub;
static struct event_base *dns_base;
static struct event *ub_event;

static void
ub_readable(evutil_socket_t fd, short what, void *arg)
{
	int rc = ub_process(ub);

	if (rc != 0)
		log_warnx("dns: ub_process: %s", ub_strerror(rc));
}

void
dns_init(struct event_base *base)
{
	int rc, forwarding = 0;

	dns_base = base;
	if ((ub = ub_ctx_create()) == NULL)
		fatalx("dns: cannot create the libunbound context");
	/* Tests and appliances run forwarders on loopback. */
	if ((rc = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0)
		fatalx("dns: do-not-query-localhost: %s", ub_strerror(rc));
	if (var_dns_forwarder[0] != '\0') {
		if ((rc = ub_ctx_set_fwd(ub, var_dns_forwarder)) != 0)
			fatalx("dns_forwarder \"%s\": %s (expected ip or ip@port)", var_dns_forwarder,
			    ub_strerror(rc));
		forwarding = 1;
	} else if ((rc = ub_ctx_resolvconf(ub, NULL)) != 0) {
		log_warnx("dns: /etc/resolv.conf: %s; resolving from the root servers", ub_strerror(rc));
	} else {
		forwarding = 1;
	}
	/*
	 * The site's resolvers know the reverse zones of its private networks
	 * (FCrDNS of internal clients): libunbound would otherwise answer
	 * NXDOMAIN for them itself (RFC 6303) without asking.
	 */
	if (forwarding && ((rc = ub_ctx_set_option(ub, "unblock-lan-zones:", "yes")) != 0 ||
	    (rc = ub_ctx_set_option(ub, "insecure-lan-zones:", "yes")) != 0))
		fatalx("dns: unblock-lan-zones: %s", ub_strerror(rc));
	if ((rc = ub_ctx_async(ub, 1)) != 0)
		fatalx("dns: ub_ctx_async: %s", ub_strerror(rc));
	if ((rc = ub_ctx_hosts(ub, NULL)) != 0)
		log_warnx("dns: /etc/hosts: %s", ub_strerror(rc));
	/*
	 * libunbound answers NXDOMAIN for "test." itself (RFC 6761); a
	 * configured forwarder is trusted to serve it, as test zones do.
	 * Removing a zone finalizes the context: options must come before.
	 */
	if (var_dns_forwarder[0] != '\0' && (rc = ub_ctx_zone_remove(ub, "test.")) != 0)
		log_warnx("dns: cannot serve test. from the forwarder: %s", ub_strerror(rc));
	ub_event = event_new(base, ub_fd(ub), EV_READ | EV_PERSIST, ub_readable, NULL);
	if (ub_event == NULL || event_add(ub_event, NULL) < 0)
		fatalx("dns: cannot watch the resolver's descriptor");
}

struct event_base *
dns_event_base(void)
{
	return dns_base;
}

const char *
dns_status_str(enum dns_status status)
{
	switch (status) {
	case DNS_OK:
		return "ok";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "no data";
	case DNS_NULLMX:
		return "null MX";
	case DNS_TEMPFAIL:
		break;
	}
	return "temporary failure";
}

static enum dns_status
result_status(int err, struct ub_result *result, char *error, size_t size)
{
	if (err != 0) {
		snprintf(error, size, "%s", ub_strerror(err));
		return DNS_TEMPFAIL;
	}
	if (result->nxdomain)
		return DNS_NXDOMAIN;
	if (result->rcode == RCODE_SERVFAIL || result->bogus) {
		snprintf(error, size, "%s", result->bogus ? "DNSSEC validation failed" : "SERVFAIL");
		return DNS_TEMPFAIL;
	}
	if (result->rcode != 0) {
		snprintf(error, size, "rcode %d", result->rcode);
		return DNS_TEMPFAIL;
	}
	return result->havedata ? DNS_OK : DNS_NODATA;
}

/* Uncompressed wire name to text (no trailing dot); -1 if malformed or odd. */
static int
wire_name(const unsigned char *p, size_t len, char *out, size_t size)
{
	size_t o = 0, i = 0;

	while (i < len) {
		size_t l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len || o + l + 2 > size)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < l; k++) {
			unsigned char c = p[i + k];
			/* A host name, nothing that could break a log line or a command. */
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_'))
				return -1;
			out[o++] = (char)c;
		}
		i += l;
	}
	out[o] = '\0';
	return 0;
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

static void
mx_answer(void *arg, int err, struct ub_result *result)
{
	struct dns_query *q = arg;
	enum dns_status status = result_status(err, result, q->error, sizeof(q->error));
	struct dns_mx *mx = NULL;
	size_t n = 0, count = 0;

	q->ids[0] = 0;
	if (status == DNS_OK) {
		for (count = 0; result->data[count] != NULL; count++)
			;
		mx = xcalloc(count + 1, sizeof(*mx));
		for (size_t i = 0; i < count; i++) {
			char name[256];
			const unsigned char *d = (const unsigned char *)result->data[i];
			size_t len = (size_t)result->len[i];

			if (len < 3 || wire_name(d + 2, len - 2, name, sizeof(name)) < 0)
				continue;
			mx[n].pref = (unsigned int)d[0] << 8 | d[1];
			mx[n].host = xstrdup(name);
			n++;
		}
		if (n == 1 && mx[0].pref == 0 && mx[0].host[0] == '\0') {
			status = DNS_NULLMX;
		} else {
			/* Shuffle first so that the sort leaves equal preferences in random order. */
			for (size_t i = n; i > 1; i--) {
				size_t j = (size_t)arc4random_uniform((uint32_t)i);
				struct dns_mx t = mx[i - 1];
				mx[i - 1] = mx[j];
				mx[j] = t;
			}
			/* qsort is not stable; break ties with the shuffled position. */
			for (size_t i = 0; i < n; i++)
				mx[i].pref = mx[i].pref << 16 | (unsigned int)i;
			qsort(mx, n, sizeof(*mx), mx_cmp);
			for (size_t i = 0; i < n; i++)
				mx[i].pref >>= 16;
			/* Drop empty names (a null MX mixed with real ones is bogus: ignore it). */
			for (size_t i = 0; i < n;) {
				if (mx[i].host[0] == '\0') {
					free(mx[i].host);
					memmove(&mx[i], &mx[i + 1], (n - i - 1) * sizeof(*mx));
					n--;
				} else {
					i++;
				}
			}
			if (n == 0)
				status = DNS_NODATA;
		}
	}
	ub_resolve_free(result);
	q->mx_cb(q->ctx, status, mx, n, status == DNS_TEMPFAIL ? q->error : NULL);
	for (size_t i = 0; i < n; i++)
		free(mx[i].host);
	free(mx);
	free(q);
}

static void
mx_refused(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;

	event_free(q->literal);
	q->mx_cb(q->ctx, DNS_TEMPFAIL, NULL, 0, q->error);
	free(q);
}

struct dns_query *
dns_lookup_mx(const char *domain, dns_mx_cb *cb, void *ctx)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	int rc;

	q->kind = Q_MX;
	q->mx_cb = cb;
	q->ctx = ctx;
	q->outstanding = 1;
	rc = ub_resolve_async(ub, domain, RR_MX, RR_CLASS_IN, q, mx_answer, &q->ids[0]);
	if (rc != 0) {
		/* Answer from the loop so the callback is never synchronous. */
		snprintf(q->error, sizeof(q->error), "%s", ub_strerror(rc));
		q->ids[0] = 0;
		q->literal = event_new(dns_base, -1, 0, mx_refused, q);
		event_active(q->literal, 0, 0);
	}
	return q;
}

static void
addr_deliver(struct dns_query *q)
{
	enum dns_status status;

	/* Any address is an answer; otherwise the "worst" of the two says why. */
	if (q->naddrs > 0)
		status = DNS_OK;
	else if (q->status[0] == DNS_TEMPFAIL || q->status[1] == DNS_TEMPFAIL)
		status = DNS_TEMPFAIL;
	else if (q->status[0] == DNS_NXDOMAIN || q->status[1] == DNS_NXDOMAIN)
		status = DNS_NXDOMAIN;
	else
		status = DNS_NODATA;
	q->addr_cb(q->ctx, status, q->addrs, q->naddrs, status == DNS_TEMPFAIL ? q->error : NULL);
	if (q->literal != NULL)
		event_free(q->literal);
	free(q->addrs);
	free(q);
}

static void
addr_answer(struct dns_query *q, int which, int err, struct ub_result *result)
{
	enum dns_status status = result_status(err, result, q->error, sizeof(q->error));
	size_t count = 0;

	q->ids[which] = 0;
	q->status[which] = status;
	if (status == DNS_OK) {
		for (count = 0; result->data[count] != NULL; count++)
			;
		q->addrs = xrealloc(q->addrs, (q->naddrs + count) * sizeof(*q->addrs));
		for (size_t i = 0; i < count; i++) {
			struct dns_addr *a = &q->addrs[q->naddrs];
			memset(a, 0, sizeof(*a));
			if (which == 0 && result->len[i] == 4) {
				struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, result->data[i], 4);
				a->len = sizeof(*sin);
			} else if (which == 1 && result->len[i] == 16) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, result->data[i], 16);
				a->len = sizeof(*sin6);
			} else {
				continue;
			}
			q->naddrs++;
		}
		/* IPv4 first: A answers go to the front. */
		if (which == 0 && q->naddrs > count) {
			size_t old = q->naddrs - count;
			struct dns_addr *tmp = xcalloc(q->naddrs, sizeof(*tmp));
			memcpy(tmp, q->addrs + old, count * sizeof(*tmp));
			memcpy(tmp + count, q->addrs, old * sizeof(*tmp));
			free(q->addrs);
			q->addrs = tmp;
		}
	}
	ub_resolve_free(result);
	if (--q->outstanding == 0)
		addr_deliver(q);
}

static void
a_answer(void *arg, int err, struct ub_result *result)
{
	addr_answer(arg, 0, err, result);
}

static void
aaaa_answer(void *arg, int err, struct ub_result *result)
{
	addr_answer(arg, 1, err, result);
}

static void
literal_answer(evutil_socket_t fd, short what, void *arg)
{
	addr_deliver(arg);
}

struct dns_query *
dns_lookup_addr(const char *host, dns_addr_cb *cb, void *ctx)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	struct in_addr in4;
	struct in6_addr in6;
	int rc;

	q->kind = Q_ADDR;
	q->addr_cb = cb;
	q->ctx = ctx;
	q->status[0] = q->status[1] = DNS_NODATA;
	if (inet_pton(AF_INET, host, &in4) == 1 || inet_pton(AF_INET6, host, &in6) == 1) {
		q->addrs = xcalloc(1, sizeof(*q->addrs));
		if (inet_pton(AF_INET, host, &in4) == 1) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&q->addrs[0].ss;
			sin->sin_family = AF_INET;
			sin->sin_addr = in4;
			q->addrs[0].len = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&q->addrs[0].ss;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = in6;
			q->addrs[0].len = sizeof(*sin6);
		}
		q->naddrs = 1;
		q->literal = event_new(dns_base, -1, 0, literal_answer, q);
		event_active(q->literal, 0, 0);
		return q;
	}
	if ((rc = ub_resolve_async(ub, host, RR_A, RR_CLASS_IN, q, a_answer, &q->ids[0])) != 0) {
		q->status[0] = DNS_TEMPFAIL;
		snprintf(q->error, sizeof(q->error), "%s", ub_strerror(rc));
	} else {
		q->outstanding++;
	}
	if ((rc = ub_resolve_async(ub, host, RR_AAAA, RR_CLASS_IN, q, aaaa_answer, &q->ids[1])) != 0) {
		q->status[1] = DNS_TEMPFAIL;
		snprintf(q->error, sizeof(q->error), "%s", ub_strerror(rc));
	} else {
		q->outstanding++;
	}
	if (q->outstanding == 0) {
		q->literal = event_new(dns_base, -1, 0, literal_answer, q);
		event_active(q->literal, 0, 0);
	}
	return q;
}

int
dns_reverse_name(const char *addr, const char *zone, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;
	int n;

	if (inet_pton(AF_INET, addr, b) == 1) {
		n = snprintf(out, size, "%u.%u.%u.%u.%s", b[3], b[2], b[1], b[0],
		    zone != NULL ? zone : "in-addr.arpa");
		return n < 0 || (size_t)n >= size ? -1 : 0;
	}
	if (inet_pton(AF_INET6, addr, b) != 1)
		return -1;
	if (size < 64)
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[b[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
	}
	n = snprintf(out + o, size - o, "%s", zone != NULL ? zone : "ip6.arpa");
	return n < 0 || (size_t)n >= size - o ? -1 : 0;
}

static void
text_free_answers(char **answers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(answers[i]);
	free(answers);
}

/* One TXT record: its character-strings concatenated, printable ASCII only. */
static char *
txt_string(const unsigned char *d, size_t len)
{
	char *s = xmalloc(len + 1);
	size_t i = 0, o = 0;

	while (i < len) {
		size_t l = d[i++];
		if (l > len - i)
			l = len - i;
		for (size_t k = 0; k < l; k++) {
			unsigned char c = d[i + k];
			s[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		i += l;
	}
	s[o] = '\0';
	return s;
}

static void
text_answer(void *arg, int err, struct ub_result *result)
{
	struct dns_query *q = arg;
	enum dns_status status = result_status(err, result, q->error, sizeof(q->error));
	char **answers = NULL;
	size_t n = 0, count;

	q->ids[0] = 0;
	if (status == DNS_OK) {
		for (count = 0; result->data[count] != NULL; count++)
			;
		answers = xcalloc(count + 1, sizeof(*answers));
		for (size_t i = 0; i < count; i++) {
			const unsigned char *d = (const unsigned char *)result->data[i];
			size_t len = (size_t)result->len[i];
			char buf[256];

			if (q->rrtype == RR_A) {
				if (len != 4 || inet_ntop(AF_INET, d, buf, sizeof(buf)) == NULL)
					continue;
				answers[n++] = xstrdup(buf);
			} else if (q->rrtype == RR_PTR) {
				if (wire_name(d, len, buf, sizeof(buf)) < 0 || buf[0] == '\0')
					continue;
				answers[n++] = xstrdup(buf);
			} else {
				answers[n++] = txt_string(d, len);
			}
		}
		if (n == 0)
			status = DNS_NODATA;
	}
	ub_resolve_free(result);
	q->text_cb(q->ctx, status, (const char *const *)answers, n,
	    status == DNS_TEMPFAIL ? q->error : NULL);
	text_free_answers(answers, n);
	free(q);
}

/* Answers that need no query (errors), delivered from the loop. */
static void
text_later(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;

	event_free(q->literal);
	q->text_cb(q->ctx, q->text_status, NULL, 0, q->text_status == DNS_TEMPFAIL ? q->error : NULL);
	free(q);
}

static struct dns_query *
text_lookup(const char *name, int rrtype, dns_text_cb *cb, void *ctx)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));
	int rc;

	q->kind = Q_TEXT;
	q->text_cb = cb;
	q->ctx = ctx;
	q->rrtype = rrtype;
	q->outstanding = 1;
	if (name == NULL) {
		q->text_status = DNS_NXDOMAIN;
	} else if ((rc = ub_resolve_async(ub, name, rrtype, RR_CLASS_IN, q, text_answer,
	    &q->ids[0])) != 0) {
		q->ids[0] = 0;
		q->text_status = DNS_TEMPFAIL;
		snprintf(q->error, sizeof(q->error), "%s", ub_strerror(rc));
	} else {
		return q;
	}
	q->literal = event_new(dns_base, -1, 0, text_later, q);
	event_active(q->literal, 0, 0);
	return q;
}

struct dns_query *
dns_lookup_a(const char *name, dns_text_cb *cb, void *ctx)
{
	return text_lookup(name, RR_A, cb, ctx);
}

struct dns_query *
dns_lookup_ptr(const char *addr, dns_text_cb *cb, void *ctx)
{
	char name[80];

	return text_lookup(dns_reverse_name(addr, NULL, name, sizeof(name)) == 0 ? name : NULL,
	    RR_PTR, cb, ctx);
}

struct dns_query *
dns_lookup_txt(const char *name, dns_text_cb *cb, void *ctx)
{
	return text_lookup(name, RR_TXT, cb, ctx);
}

void
dns_cancel(struct dns_query **qp)
{
	struct dns_query *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	for (int i = 0; i < 2; i++)
		if (q->ids[i] != 0)
			ub_cancel(ub, q->ids[i]);
	if (q->literal != NULL)
		event_free(q->literal);
	free(q->addrs);
	free(q);
}

/* ---------------------------------------------------------------- verified names */

struct dns_verify_name {
	struct dns_verify *v;
	struct dns_query *q;
	char name[256];
};

struct dns_verify {
	dns_verify_cb *cb;
	void *ctx;
	int family;		/* AF_INET or AF_INET6, 0 if addr was not an address */
	unsigned char addr[16];
	struct dns_query *ptr_q;
	struct dns_verify_name names[DNS_VERIFY_NAMES];
	size_t nnames;
	size_t pending;
	int tempfail;
	int verified;		/* index + 1 of the verified name, 0 if none */
	char error[128];
};

const char *
dns_verify_status_str(enum dns_verify_status status)
{
	switch (status) {
	case DNS_VERIFY_OK:
		return "verified";
	case DNS_VERIFY_TEMP:
		return "temporary failure";
	case DNS_VERIFY_NONAME:
		return "no name";
	case DNS_VERIFY_FORGED:
		break;
	}
	return "forged";
}

static void
verify_free(struct dns_verify *v)
{
	for (size_t i = 0; i < v->nnames; i++)
		dns_cancel(&v->names[i].q);
	dns_cancel(&v->ptr_q);
	free(v);
}

static void
verify_done(struct dns_verify *v)
{
	enum dns_verify_status status;
	const char *name = NULL;

	if (--v->pending > 0)
		return;
	if (v->verified > 0) {
		status = DNS_VERIFY_OK;
		name = v->names[v->verified - 1].name;
	} else if (v->tempfail) {
		status = DNS_VERIFY_TEMP;
	} else if (v->nnames == 0) {
		status = DNS_VERIFY_NONAME;
	} else {
		status = DNS_VERIFY_FORGED;
	}
	v->cb(v->ctx, status, name, v->nnames > 0 ? v->names[0].name : NULL,
	    status == DNS_VERIFY_TEMP ? v->error : NULL);
	verify_free(v);
}

static int
verify_is_client(const struct dns_verify *v, const struct dns_addr *a)
{
	if (v->family == AF_INET && a->ss.ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)&a->ss)->sin_addr, v->addr, 4) == 0;
	if (v->family == AF_INET6 && a->ss.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr, v->addr, 16) == 0;
	return 0;
}

static void
verify_name_answer(void *arg, enum dns_status status, const struct dns_addr *addrs, size_t n,
    const char *error)
{
	struct dns_verify_name *vn = arg;
	struct dns_verify *v = vn->v;

	vn->q = NULL;
	if (status == DNS_TEMPFAIL) {
		v->tempfail = 1;
		snprintf(v->error, sizeof(v->error), "%s: %s", vn->name,
		    error != NULL ? error : "temporary failure");
	}
	for (size_t i = 0; status == DNS_OK && i < n && v->verified == 0; i++) {
		if (!verify_is_client(v, &addrs[i]))
			continue;
		v->verified = (int)(vn - v->names) + 1;
		/* Verified: the other names do not matter any more. */
		for (size_t k = 0; k < v->nnames; k++) {
			if (v->names[k].q != NULL) {
				dns_cancel(&v->names[k].q);
				v->pending--;
			}
		}
	}
	verify_done(v);
}

/*
 * A PTR name whose last label is all digits ("192.0.2.1", from whoever
 * controls the reverse zone) would "resolve" to itself as an address
 * literal: not a host name, as Postfix decides too.
 */
static int
verify_name_usable(const char *name)
{
	const char *last = strrchr(name, '.');

	last = last != NULL ? last + 1 : name;
	if (*last == '\0')
		return 0;
	for (; *last != '\0'; last++)
		if (*last < '0' || *last > '9')
			return 1;
	return 0;
}

static void
verify_ptr_answer(void *arg, enum dns_status status, const char *const *answers, size_t n,
    const char *error)
{
	struct dns_verify *v = arg;

	v->ptr_q = NULL;
	if (status == DNS_TEMPFAIL) {
		v->tempfail = 1;
		snprintf(v->error, sizeof(v->error), "PTR: %s", error != NULL ? error :
		    "temporary failure");
	}
	for (size_t i = 0; status == DNS_OK && i < n && v->nnames < DNS_VERIFY_NAMES; i++) {
		struct dns_verify_name *vn = &v->names[v->nnames];
		int len = snprintf(vn->name, sizeof(vn->name), "%s", answers[i]);

		if (len < 0 || (size_t)len >= sizeof(vn->name) || !verify_name_usable(vn->name))
			continue;
		vn->v = v;
		v->nnames++;
		v->pending++;
	}
	/* Sent only now: no answer can arrive before every name is counted. */
	for (size_t i = 0; i < v->nnames; i++)
		v->names[i].q = dns_lookup_addr(v->names[i].name, verify_name_answer, &v->names[i]);
	verify_done(v);
}

struct dns_verify *
dns_verify_client(const char *addr, dns_verify_cb *cb, void *ctx)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct dns_verify *v = xcalloc(1, sizeof(*v));
	unsigned char b[16];
	char text[INET6_ADDRSTRLEN];

	v->cb = cb;
	v->ctx = ctx;
	if (inet_pton(AF_INET, addr, b) == 1) {
		v->family = AF_INET;
		memcpy(v->addr, b, 4);
	} else if (inet_pton(AF_INET6, addr, b) == 1) {
		if (memcmp(b, mapped, 12) == 0) {
			v->family = AF_INET;
			memcpy(v->addr, b + 12, 4);
		} else {
			v->family = AF_INET6;
			memcpy(v->addr, b, 16);
		}
	}
	/* Not an address: the PTR lookup answers NXDOMAIN from the loop. */
	if (v->family == 0 || inet_ntop(v->family, v->addr, text, sizeof(text)) == NULL)
		text[0] = '\0';
	v->pending = 1;
	v->ptr_q = dns_lookup_ptr(text, verify_ptr_answer, v);
	return v;
}

void
dns_verify_cancel(struct dns_verify **vp)
{
	if (*vp == NULL)
		return;
	verify_free(*vp);
	*vp = NULL;
}
