/* SPDX-License-Identifier: MIT */
/*
 * milter - facteur-milter's libmilter callbacks: each connection's
 * envelope, a bounded copy of each message, the filter run at end of
 * message in a filter thread and its result turned into milter actions.
 *
 * Headers are rebuilt as they were ("Name:" + value, folds back to CRLF):
 * SMFIP_HDR_LEADSPC is asked for so the value keeps its leading space.
 * Headers given back to the MTA use "\n" for folds, as libmilter expects.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "filter/milter.h"
#include "filter/pipeline.h"
#include "filter/strbuf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/params.h"
#include "lib/stats.h"

/* One message: its envelope and its bytes as the filter reads them. */
struct milter_msg {
	char *sender;
	char *auth_user;
	char **rcpts;
	size_t nrcpts;
	struct strbuf data;	/* headers rebuilt, blank line, body */
	char *subject;		/* raw value of the first Subject, as the MTA gave it */
	int too_big;		/* data dropped: larger than message_size_limit */
	int eoh_seen;
};

/* One MTA connection, smfi_setpriv's. */
struct milter_conn {
	char *client_addr;	/* "" when the MTA gave none (local submission) */
	char *client_name;
	char *helo;
	int leadspc;		/* header values come with their leading space */
	struct milter_msg *msg;
};

static struct filter *milter_filter;
static pthread_rwlock_t config_lock;

void
milter_config_lock(void)
{
	pthread_rwlock_wrlock(&config_lock);
}

void
milter_config_unlock(void)
{
	pthread_rwlock_unlock(&config_lock);
}

/* ---- the filter threads ---- */

struct job {
	struct job *next;
	void (*fn)(void *);
	void *arg;
	int done;
	pthread_cond_t cond;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct job *head, *tail;
	int stopping;
	unsigned int n;
	pthread_t *threads;
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, NULL };

static void *
pool_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct job *j;
		while (pool.head == NULL && !pool.stopping)
			pthread_cond_wait(&pool.work, &pool.lock);
		if (pool.head == NULL)
			break;
		j = pool.head;
		pool.head = j->next;
		if (pool.head == NULL)
			pool.tail = NULL;
		pthread_mutex_unlock(&pool.lock);
		j->fn(j->arg);
		pthread_mutex_lock(&pool.lock);
		j->done = 1;
		pthread_cond_signal(&j->cond);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* Run fn(arg) in a filter thread and wait for it; -1 if they are stopping. */
static int
pool_run(void (*fn)(void *), void *arg)
{
	struct job j;

	memset(&j, 0, sizeof(j));
	j.fn = fn;
	j.arg = arg;
	pthread_cond_init(&j.cond, NULL);
	pthread_mutex_lock(&pool.lock);
	if (pool.stopping) {
		pthread_mutex_unlock(&pool.lock);
		pthread_cond_destroy(&j.cond);
		return -1;
	}
	if (pool.tail != NULL)
		pool.tail->next = &j;
	else
		pool.head = &j;
	pool.tail = &j;
	pthread_cond_signal(&pool.work);
	while (!j.done)
		pthread_cond_wait(&j.cond, &pool.lock);
	pthread_mutex_unlock(&pool.lock);
	pthread_cond_destroy(&j.cond);
	return 0;
}

/* ---- per connection and per message state ---- */

static void
msg_free(struct milter_msg **mp)
{
	struct milter_msg *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	free(m->sender);
	free(m->auth_user);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	strbuf_free(&m->data);
	free(m->subject);
	free(m);
}

static struct milter_conn *
conn_get(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->client_addr = xstrdup("");
		c->helo = xstrdup("");
		smfi_setpriv(ctx, c);
	}
	return c;
}

static struct milter_msg *
msg_get(struct milter_conn *c)
{
	if (c->msg == NULL)
		c->msg = xcalloc(1, sizeof(*c->msg));
	return c->msg;
}

/* Strip the angle brackets of an envelope address. */
static char *
addr_copy(const char *a)
{
	size_t n;

	if (a == NULL)
		return xstrdup("");
	n = strlen(a);
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>')
		return xstrndup(a + 1, n - 2);
	return xstrdup(a);
}

/* Message bytes, bounded by message_size_limit. */
static void
msg_put(struct milter_msg *m, const void *data, size_t len)
{
	if (m->too_big)
		return;
	if (m->data.len + len > (size_t)var_message_size_limit) {
		m->too_big = 1;
		strbuf_free(&m->data);
		return;
	}
	strbuf_append(&m->data, data, len);
}

/* Text with lone LFs as CRLF (folded header values come with LF). */
static void
msg_put_crlf(struct milter_msg *m, const char *s)
{
	const char *p = s, *nl;

	while ((nl = strchr(p, '\n')) != NULL) {
		size_t n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		msg_put(m, p, n);
		msg_put(m, "\r\n", 2);
		p = nl + 1;
	}
	msg_put(m, p, strlen(p));
}

/* ---- callbacks ---- */

static sfsistat
on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	struct milter_conn *c = conn_get(ctx);

	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE);
	*pf1 = f1 & (SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN | SMFIP_NODATA);
	*pf2 = 0;
	*pf3 = 0;
	c->leadspc = (*pf1 & SMFIP_HDR_LEADSPC) != 0;
	return SMFIS_CONTINUE;
}

static sfsistat
on_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct milter_conn *c = conn_get(ctx);
	char addr[INET6_ADDRSTRLEN] = "";

	if (sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		net_addr_str(sa, addr, sizeof(addr));
	free(c->client_addr);
	c->client_addr = xstrdup(addr);
	free(c->client_name);
	/* Postfix and Sendmail say "[addr]" or "unknown" when there is no name. */
	c->client_name = hostname != NULL && hostname[0] != '[' && strcmp(hostname, "unknown") != 0 ?
	    xstrdup(hostname) : NULL;
	return SMFIS_CONTINUE;
}

static sfsistat
on_helo(SMFICTX *ctx, char *helo)
{
	struct milter_conn *c = conn_get(ctx);

	free(c->helo);
	c->helo = xstrdup(helo != NULL ? helo : "");
	return SMFIS_CONTINUE;
}

static sfsistat
on_envfrom(SMFICTX *ctx, char **argv)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m;
	const char *auth = smfi_getsymval(ctx, "{auth_authen}");

	msg_free(&c->msg);
	m = msg_get(c);
	m->sender = addr_copy(argv != NULL ? argv[0] : NULL);
	if (auth != NULL && auth[0] != '\0')
		m->auth_user = xstrdup(auth);
	return SMFIS_CONTINUE;
}

static sfsistat
on_envrcpt(SMFICTX *ctx, char **argv)
{
	struct milter_msg *m = msg_get(conn_get(ctx));

	m->rcpts = xrealloc(m->rcpts, (m->nrcpts + 1) * sizeof(*m->rcpts));
	m->rcpts[m->nrcpts++] = addr_copy(argv != NULL ? argv[0] : NULL);
	return SMFIS_CONTINUE;
}

static sfsistat
on_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_conn *c = conn_get(ctx);
	struct milter_msg *m = msg_get(c);

	if (name == NULL || value == NULL)
		return SMFIS_CONTINUE;
	msg_put(m, name, strlen(name));
	msg_put(m, c->leadspc ? ":" : ": ", c->leadspc ? 1 : 2);
	msg_put_crlf(m, value);
	msg_put(m, "\r\n", 2);
	if (m->subject == NULL && str_casecmp(name, "Subject") == 0)
		m->subject = xstrdup(value);
	return SMFIS_CONTINUE;
}

static sfsistat
on_eoh(SMFICTX *ctx)
{
	struct milter_msg *m = msg_get(conn_get(ctx));

	msg_put(m, "\r\n", 2);
	m->eoh_seen = 1;
	return SMFIS_CONTINUE;
}

static sfsistat
on_body(SMFICTX *ctx, unsigned char *data, size_t len)
{
	struct milter_msg *m = msg_get(conn_get(ctx));

	if (!m->eoh_seen)
		on_eoh(ctx);
	msg_put(m, data, len);
	return SMFIS_CONTINUE;
}

/* ---- end of message ---- */

struct eom_job {
	struct milter_conn *c;
	struct filter_envelope env;
	struct filter_msg *fmsg;
	const struct filter_result *result;
};

static void
eom_work(void *arg)
{
	struct eom_job *j = arg;
	struct milter_msg *m = j->c->msg;

	j->fmsg = filter_msg_new(milter_filter, &j->env);
	filter_msg_feed(j->fmsg, m->data.data != NULL ? m->data.data : "", m->data.len);
	j->result = filter_msg_finish(j->fmsg, m->data.data != NULL ? m->data.data : "",
	    m->data.len);
}

/* "550 5.7.1 text" as smfi_setreply's three parts. */
static void
set_reply(SMFICTX *ctx, const char *qid, const char *reply, const char *deflt)
{
	char code[4], xcode[16] = "", *text;
	const char *p = reply;
	size_t n;

	if (strlen(reply) < 3 || reply[0] < '4' || reply[0] > '5')
		p = reply = deflt;
	memcpy(code, p, 3);
	code[3] = '\0';
	p += 3;
	while (*p == ' ')
		p++;
	n = strspn(p, "0123456789.");
	if (n > 0 && n < sizeof(xcode) && p[0] == code[0] && (p[n] == ' ' || p[n] == '\0')) {
		memcpy(xcode, p, n);
		xcode[n] = '\0';
		p += n;
		while (*p == ' ')
			p++;
	}
	text = xstrdup(p);
	for (char *t = text; *t != '\0'; t++)
		if (*t == '\r' || *t == '\n')
			*t = ' ';
	if (smfi_setreply(ctx, code, xcode[0] != '\0' ? xcode : NULL, text) != MI_SUCCESS)
		log_warnx("qid=%s milter: the MTA refused the reply \"%s\"", qid, reply);
	free(text);
}

/*
 * Give one header field to the MTA at position index: value after the
 * colon, folds as "\n" (and its leading space when SMFIP_HDR_LEADSPC).
 */
static int
insert_field(SMFICTX *ctx, struct milter_conn *c, int index, const char *field, size_t len)
{
	const char *colon = memchr(field, ':', len), *v;
	char *name, *value, *w;
	int rc;

	if (colon == NULL || colon == field)
		return -1;
	name = xstrndup(field, (size_t)(colon - field));
	v = colon + 1;
	if (!c->leadspc && v < field + len && *v == ' ')
		v++;
	value = w = xmalloc((size_t)(field + len - v) + 1);
	for (; v < field + len; v++)
		if (*v != '\r')
			*w++ = *v;
	*w = '\0';
	rc = smfi_insheader(ctx, index, name, value) == MI_SUCCESS ? 0 : -1;
	free(name);
	free(value);
	return rc;
}

/* The result's CRLF block of fields, on top of the message in its order. */
static void
add_headers(SMFICTX *ctx, struct milter_conn *c, const char *qid, const char *headers)
{
	const char *p = headers, *end = headers + strlen(headers);
	int index = 0;

	while (p < end) {
		/* A field ends at a CRLF not followed by a fold. */
		const char *q = p;
		for (;;) {
			const char *nl = memchr(q, '\n', (size_t)(end - q));
			if (nl == NULL) {
				q = end;
				break;
			}
			q = nl + 1;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		size_t n = (size_t)(q - p);
		while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		if (n > 0 && insert_field(ctx, c, index, p, n) == 0)
			index++;
		else if (n > 0)
			log_warnx("qid=%s milter: the MTA refused the header %.*s", qid,
			    (int)(n > 40 ? 40 : n), p);
		p = q;
	}
}

static void
tag_subject(SMFICTX *ctx, struct milter_conn *c, const char *qid, const char *tag)
{
	const char *lead = c->leadspc ? " " : "", *old = c->msg->subject;
	size_t tl = strlen(tag);
	char *value;
	int rc;

	if (old == NULL) {
		value = xasprintf("%s%s", lead, tag);
		rc = smfi_addheader(ctx, "Subject", value);
	} else {
		while (*old == ' ' || *old == '\t')
			old++;
		value = xasprintf("%s%s%s%s", lead, tag, tl > 0 && tag[tl - 1] != ' ' ? " " : "",
		    old);
		rc = smfi_chgheader(ctx, "Subject", 1, value);
	}
	if (rc != MI_SUCCESS)
		log_warnx("qid=%s milter: the MTA refused the tagged Subject", qid);
	free(value);
}

/* A message the filter could not check: filter_failure_action. */
static sfsistat
not_checked(SMFICTX *ctx, struct milter_conn *c, const char *qid, const char *why)
{
	char hdr[256];

	STATS_INC(filter_errors);
	if (strcmp(var_filter_failure_action, "tempfail") == 0) {
		log_warnx("qid=%s milter: message not checked (%s): tempfail", qid, why);
		set_reply(ctx, qid, "451 4.3.0 Message could not be checked, try again later",
		    "451 4.3.0 Try again later");
		return SMFIS_TEMPFAIL;
	}
	log_warnx("qid=%s milter: message not checked (%s): accepted", qid, why);
	snprintf(hdr, sizeof(hdr), "X-Spam-Status: No, score=0.0 required=%.1f tests=FILTER_ERROR "
	    "version=facteur %s\r\n", var_spam_tag_score, PACKAGE_VERSION);
	add_headers(ctx, c, qid, hdr);
	return SMFIS_CONTINUE;
}

static sfsistat
decide(SMFICTX *ctx, struct milter_conn *c, const char *qid)
{
	struct milter_msg *m = c->msg;
	struct eom_job j;
	const struct filter_result *r;
	sfsistat rc = SMFIS_CONTINUE;

	if (m->too_big)
		return not_checked(ctx, c, qid, "larger than message_size_limit");
	memset(&j, 0, sizeof(j));
	j.c = c;
	j.env.qid = qid;
	j.env.client_addr = c->client_addr;
	j.env.client_name = c->client_name;
	j.env.helo = c->helo;
	j.env.sender = m->sender != NULL ? m->sender : "";
	j.env.rcpts = (const char *const *)m->rcpts;
	j.env.nrcpts = m->nrcpts;
	j.env.auth_user = m->auth_user;
	/* No address: the MTA's own local submission. */
	j.env.trusted = m->auth_user != NULL || c->client_addr[0] == '\0' ||
	    net_cidr_list_match(var_mynetworks, c->client_addr);
	if (pool_run(eom_work, &j) < 0)
		return not_checked(ctx, c, qid, "facteur-milter is stopping");
	if ((r = j.result) == NULL) {
		filter_msg_free(&j.fmsg);
		return not_checked(ctx, c, qid, "no result");
	}
	filter_log_verdict(qid, c->client_addr, r);
	switch (r->action) {
	case FILTER_REJECT:
	case FILTER_TEMPFAIL:
		log_info("qid=%s reject: %s from [%s] from=<%s>", qid, r->reply, c->client_addr,
		    j.env.sender);
		if (r->action == FILTER_REJECT) {
			set_reply(ctx, qid, r->reply, "550 5.7.1 Message refused");
			rc = SMFIS_REJECT;
		} else {
			set_reply(ctx, qid, r->reply, "451 4.7.1 Try again later");
			rc = SMFIS_TEMPFAIL;
		}
		break;
	case FILTER_QUARANTINE:
		log_info("qid=%s quarantine: %s", qid, r->reason);
		if (smfi_quarantine(ctx, (char *)r->reason) != MI_SUCCESS)
			log_warnx("qid=%s milter: the MTA refused to quarantine the message", qid);
		/* FALLTHROUGH */
	case FILTER_ACCEPT:
		if (r->headers != NULL && r->headers[0] != '\0')
			add_headers(ctx, c, qid, r->headers);
		if (r->subject_tag != NULL)
			tag_subject(ctx, c, qid, r->subject_tag);
		break;
	}
	filter_msg_free(&j.fmsg);
	return rc;
}

static sfsistat
on_eom(SMFICTX *ctx)
{
	struct milter_conn *c = conn_get(ctx);
	const char *qid = smfi_getsymval(ctx, "i");
	char qbuf[64];
	sfsistat rc;

	str_copy(qbuf, qid != NULL && qid[0] != '\0' ? qid : "-", sizeof(qbuf));
	msg_get(c);
	if (!c->msg->eoh_seen)
		on_eoh(ctx);
	pthread_rwlock_rdlock(&config_lock);
	rc = decide(ctx, c, qbuf);
	pthread_rwlock_unlock(&config_lock);
	msg_free(&c->msg);
	return rc;
}

static sfsistat
on_abort(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c != NULL && c->msg != NULL) {
		log_debug("milter: message from [%s] abandoned by the MTA", c->client_addr);
		msg_free(&c->msg);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
on_close(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL)
		return SMFIS_CONTINUE;
	smfi_setpriv(ctx, NULL);
	msg_free(&c->msg);
	free(c->client_addr);
	free(c->client_name);
	free(c->helo);
	free(c);
	return SMFIS_CONTINUE;
}

static struct smfiDesc milter_desc = {
	.xxfi_name = "facteur",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
	.xxfi_connect = on_connect,
	.xxfi_helo = on_helo,
	.xxfi_envfrom = on_envfrom,
	.xxfi_envrcpt = on_envrcpt,
	.xxfi_header = on_header,
	.xxfi_eoh = on_eoh,
	.xxfi_body = on_body,
	.xxfi_eom = on_eom,
	.xxfi_abort = on_abort,
	.xxfi_close = on_close,
	.xxfi_negotiate = on_negotiate,
};

/* ---- set-up ---- */

int
milter_listen_spec(const char *listen, char *spec, size_t size, char *path_r, size_t path_size,
    const char **error_r)
{
	static char error[512];
	struct strbuf b = { NULL, 0, 0 };
	const char *p = listen, *v;
	int rc = 0;

	/* $spool_directory, ${spool_directory} */
	while (*p != '\0') {
		size_t skip = 0;
		if (strncmp(p, "$spool_directory", 16) == 0)
			skip = 16;
		else if (strncmp(p, "${spool_directory}", 18) == 0)
			skip = 18;
		if (skip > 0) {
			strbuf_append(&b, var_spool_directory, strlen(var_spool_directory));
			p += skip;
		} else {
			strbuf_putc(&b, *p++);
		}
	}
	strbuf_putc(&b, '\0');
	v = b.data;
	path_r[0] = '\0';
	if (v[0] == '/' || strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0) {
		const char *path = v[0] == '/' ? v : strchr(v, ':') + 1;
		struct sockaddr_un *sun = NULL;
		if (path[0] != '/' || strlen(path) >= sizeof(sun->sun_path)) {
			snprintf(error, sizeof(error), "milter_listen: \"%s\": the socket needs an "
			    "absolute path shorter than %zu bytes", listen, sizeof(sun->sun_path));
			rc = -1;
		} else {
			snprintf(spec, size, "unix:%s", path);
			str_copy(path_r, path, path_size);
		}
	} else if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
		const char *rest = strchr(v, ':') + 1, *sep;
		size_t plen = (size_t)(rest - v);
		if (strchr(rest, '@') != NULL || strspn(rest, "0123456789") == strlen(rest)) {
			/* libmilter's own port@host, or a port alone */
			snprintf(spec, size, "%s", v);
		} else if ((sep = strrchr(rest, ':')) != NULL && sep[1] != '\0' &&
		    strspn(sep + 1, "0123456789") == strlen(sep + 1)) {
			/* Postfix's host:port ([v6]:port too) */
			const char *h = rest, *he = sep;
			if (*h == '[' && he > h && he[-1] == ']') {
				h++;
				he--;
			}
			/* libmilter takes an IPv6 host only after inet6: */
			const char *prefix = plen == 6 || memchr(h, ':', (size_t)(he - h)) != NULL ?
			    "inet6:" : "inet:";
			snprintf(spec, size, "%s%s@%.*s", prefix, sep + 1, (int)(he - h), h);
		} else {
			snprintf(error, sizeof(error), "milter_listen: \"%s\": expected inet:port@host "
			    "or inet:host:port", listen);
			rc = -1;
		}
	} else {
		snprintf(error, sizeof(error), "milter_listen: \"%s\": expected unix:/path or "
		    "inet:port@host", listen);
		rc = -1;
	}
	strbuf_free(&b);
	if (rc < 0)
		*error_r = error;
	return rc;
}

int
milter_open(const char *spec, const char **error_r)
{
	if (smfi_register(milter_desc) != MI_SUCCESS) {
		*error_r = "libmilter refused the filter description";
		return -1;
	}
	if (smfi_setconn((char *)spec) != MI_SUCCESS) {
		*error_r = "libmilter refused the socket address";
		return -1;
	}
	/* 1: remove a socket file left by a previous run. */
	if (smfi_opensocket(1) != MI_SUCCESS) {
		static char error[512];
		snprintf(error, sizeof(error), "cannot listen on %s: %s", spec, strerror(errno));
		*error_r = error;
		return -1;
	}
	return 0;
}

static pthread_t smfi_thread;
static void (*smfi_done)(void);

static void *
smfi_run(void *arg)
{
	int rc;

	(void)arg;
	rc = smfi_main();
	if (rc != MI_SUCCESS)
		log_warnx("milter: smfi_main failed");
	smfi_done();
	return NULL;
}

void
milter_start(struct filter *f, unsigned int workers, void (*done)(void))
{
	pthread_rwlockattr_t attr;
	int rc;

	/* A reload waits for the messages in flight, not for a stream of new ones. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&config_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	milter_filter = f;
	pool.n = workers > 0 ? workers : 1;
	pool.threads = xcalloc(pool.n, sizeof(*pool.threads));
	for (unsigned int i = 0; i < pool.n; i++)
		if ((rc = pthread_create(&pool.threads[i], NULL, pool_thread, NULL)) != 0)
			fatalx("cannot start a filter thread: %s", strerror(rc));
	smfi_done = done;
	if ((rc = pthread_create(&smfi_thread, NULL, smfi_run, NULL)) != 0)
		fatalx("cannot start libmilter: %s", strerror(rc));
}

void
milter_stop(void)
{
	smfi_stop();
	pthread_join(smfi_thread, NULL);
	pthread_mutex_lock(&pool.lock);
	pool.stopping = 1;
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned int i = 0; i < pool.n; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	pool.threads = NULL;
}
