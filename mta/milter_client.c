/* SPDX-License-Identifier: MIT */
/*
 * milter_client - smtpd's conversation with the milters of smtpd_milters.
 * See milter_client.h.  One connection per milter and SMTP session, each
 * driven by a small program (connect, OPTNEG, CONNECT, HELO, then the
 * step's commands) that stops wherever the milter must answer.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "milter_client.h"
#include "milter_proto.h"

#define MACROS_MAX 32
/* Bounds on what one message's milters may change. */
#define MODS_MAX 10000
#define MODS_TEXT_MAX (8 * 1024 * 1024)	/* header fields and addresses, in bytes */
#define MODS_BODY_MAX_DEFAULT (64L * 1024 * 1024)

#define REPLY_REJECT "550 5.7.1 Command rejected"
#define REPLY_REJECT_CONTENT "550 5.7.1 Message content rejected"
#define REPLY_TEMPFAIL "451 4.7.1 Service unavailable - try again later"
#define REPLY_SHUTDOWN "421 4.7.0 Service unavailable - closing connection"
#define REPLY_DEFAULT_REJECT "550 5.5.0 Service unavailable"

enum stage { ST_HELO, ST_MAIL, ST_RCPT, ST_MESSAGE };

/* Outcome of a milter's part in a step. */
enum { R_WAIT, R_NEXT, R_STOP };

enum conn_state {
	C_NEW,			/* not connected yet */
	C_CONNECTING,
	C_OPTNEG,
	C_READY,
	C_DONE,			/* accepted or refused the whole session: not asked again */
	C_FAILED,		/* milter_default_action for the rest of the session */
};

/* Where a milter's program stands in the current step. */
enum prog {
	P_OPEN, P_CONNINFO, P_HELO, P_STAGE, P_DATA, P_HDRS, P_EOH, P_BODY, P_EOB, P_DONE,
};

struct mod {
	char cmd;		/* SMFIR_* */
	unsigned int group;	/* the milter (its index): changes apply milter by milter */
	int leadspc;
	uint32_t index;
	char *name, *value;
	char *body;		/* REPLBODY: the chunks of one milter, joined */
	size_t body_len;
};

struct milter_mods {
	struct mod *v;
	size_t n, alloc;
	unsigned int group;	/* group of the changes added now */
	size_t body_total, text_total;
	char **added, **deleted;
	size_t nadded, ndeleted;
	char *sender;
};

struct milter_conn {
	struct milter_session *s;
	unsigned int idx;
	char *name;		/* the address, as configured: names the milter in logs */
	enum conn_state state;
	struct bufferevent *bev;
	struct event *timer;
	struct milter_optneg neg;
	enum prog step;
	int waiting;		/* a reply is due */
	char wait_for;		/* the command it answers */
	int sent_connect;
	unsigned int helo_gen;	/* the HELO it was sent */
	int txn;		/* MAIL sent, end of message not answered: ABORT before the next */
	int msg_done;		/* accepted this message: skipped until the next MAIL */
	int skip_body;		/* answered SKIP to a body chunk */
	size_t hdr_idx, body_pos;
	unsigned char *pkt;	/* the packet being handled (copied out of the input) */
	size_t pkt_size;
};

struct milter_session {
	struct event_base *base;
	struct milter_conn *conns;
	size_t nconns;
	char *macro_name[MACROS_MAX], *macro_value[MACROS_MAX];
	size_t nmacros;
	char *client_addr, *client_name;
	int client_port;
	char *helo;
	unsigned int helo_gen;

	/* Reject at connect (or shutdown): the answer to every later step. */
	int sticky;
	struct milter_reply sticky_reply;
	int txn_discard;	/* DISCARD at MAIL or RCPT: the message goes nowhere */

	/* The step in progress. */
	int busy;
	enum stage stage;
	size_t cur;
	milter_done_fn done;
	void *ctx;
	struct milter_reply reply;
	int by_default;		/* the reply is milter_default_action's */
	struct event *done_ev;
	char **args;		/* MAIL and its ESMTP arguments, or RCPT */
	size_t nargs;
	char *qid;

	/* The message, and the view of it the current milter gets. */
	const char *msg;
	size_t msg_len;
	char *view;		/* NULL: msg itself */
	size_t view_len, view_nmods;
	struct milter_header *hdrs;
	size_t nhdrs, body_off;
	char *valbuf;
	size_t valbuf_size;
	struct milter_mods *mods;
	int quarantined;
	char quarantine[256];

	struct milter_buf out;
};

static int conn_advance(struct milter_conn *c);
static void session_run(struct milter_session *s, int r);

int
milter_enabled(void)
{
	return var_smtpd_milters != NULL && strspn(var_smtpd_milters, ", \t") <
	    strlen(var_smtpd_milters);
}

static const char *
qid_of(const struct milter_session *s)
{
	return s->qid != NULL ? s->qid : "-";
}

/* ------------------------------------------------------------------ mods */

struct milter_mods *
milter_mods_new(void)
{
	return xcalloc(1, sizeof(struct milter_mods));
}

static void
mods_clear(struct milter_mods *mods)
{
	for (size_t i = 0; i < mods->n; i++) {
		free(mods->v[i].name);
		free(mods->v[i].value);
		free(mods->v[i].body);
	}
	for (size_t i = 0; i < mods->nadded; i++)
		free(mods->added[i]);
	for (size_t i = 0; i < mods->ndeleted; i++)
		free(mods->deleted[i]);
	free(mods->v);
	free(mods->added);
	free(mods->deleted);
	free(mods->sender);
	memset(mods, 0, sizeof(*mods));
}

void
milter_mods_free(struct milter_mods **mods)
{
	if (*mods == NULL)
		return;
	mods_clear(*mods);
	free(*mods);
	*mods = NULL;
}

static void
strv_add(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
}

/* Remove s from v; 1 if it was there. */
static int
strv_del(char **v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(v[i], s) == 0) {
			free(v[i]);
			memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
			(*n)--;
			return 1;
		}
	}
	return 0;
}

static size_t
mods_body_max(void)
{
	if (var_message_size_limit > 0)
		return (size_t)var_message_size_limit * 2 + 1024 * 1024;
	return MODS_BODY_MAX_DEFAULT;
}

int
milter_mods_add(struct milter_mods *mods, const struct milter_action *a, int leadspc,
    const char **error_r)
{
	struct mod *m;
	size_t text = (a->name != NULL ? strlen(a->name) : 0) + (a->value != NULL ? strlen(a->value) : 0);

	if (a->cmd != SMFIR_REPLBODY) {
		if (text > MODS_TEXT_MAX - mods->text_total) {
			*error_r = "header and address changes too large";
			return -1;
		}
		mods->text_total += text;
	}
	switch (a->cmd) {
	case SMFIR_ADDRCPT:
	case SMFIR_ADDRCPT_PAR:
		if (mods->nadded >= MODS_MAX) {
			*error_r = "too many recipients added";
			return -1;
		}
		strv_add(&mods->added, &mods->nadded, a->name);
		return 0;
	case SMFIR_DELRCPT:
		if (mods->ndeleted >= MODS_MAX) {
			*error_r = "too many recipients deleted";
			return -1;
		}
		if (!strv_del(mods->added, &mods->nadded, a->name))
			strv_add(&mods->deleted, &mods->ndeleted, a->name);
		return 0;
	case SMFIR_CHGFROM:
		free(mods->sender);
		mods->sender = xstrdup(a->name);
		return 0;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
	case SMFIR_REPLBODY:
		break;
	default:
		*error_r = "not a message change";
		return -1;
	}
	if (a->cmd == SMFIR_REPLBODY) {
		if (a->body_len > mods_body_max() - mods->body_total) {
			*error_r = "replacement body too large";
			return -1;
		}
		mods->body_total += a->body_len;
		/* Chunks of one milter make one body. */
		if (mods->n > 0 && mods->v[mods->n - 1].cmd == SMFIR_REPLBODY &&
		    mods->v[mods->n - 1].group == mods->group) {
			m = &mods->v[mods->n - 1];
			m->body = xrealloc(m->body, m->body_len + a->body_len + 1);
			memcpy(m->body + m->body_len, a->body, a->body_len);
			m->body_len += a->body_len;
			return 0;
		}
	}
	if (mods->n >= MODS_MAX) {
		*error_r = "too many header changes";
		return -1;
	}
	if (mods->n == mods->alloc) {
		mods->alloc = mods->alloc > 0 ? mods->alloc * 2 : 16;
		mods->v = xrealloc(mods->v, mods->alloc * sizeof(*mods->v));
	}
	m = &mods->v[mods->n++];
	memset(m, 0, sizeof(*m));
	m->cmd = a->cmd;
	m->group = mods->group;
	m->leadspc = leadspc;
	m->index = a->index;
	if (a->cmd == SMFIR_REPLBODY) {
		m->body = xmalloc(a->body_len + 1);
		if (a->body_len > 0)
			memcpy(m->body, a->body, a->body_len);
		m->body_len = a->body_len;
	} else {
		m->name = xstrdup(a->name);
		m->value = xstrdup(a->value);
	}
	return 0;
}

int
milter_mods_any(const struct milter_mods *mods)
{
	return mods != NULL && (mods->n > 0 || mods->nadded > 0 || mods->ndeleted > 0 ||
	    mods->sender != NULL);
}

size_t
milter_mods_rcpt_added(const struct milter_mods *mods, const char ***rcpts_r)
{
	*rcpts_r = (const char **)mods->added;
	return mods->nadded;
}

size_t
milter_mods_rcpt_deleted(const struct milter_mods *mods, const char ***rcpts_r)
{
	*rcpts_r = (const char **)mods->deleted;
	return mods->ndeleted;
}

const char *
milter_mods_new_sender(const struct milter_mods *mods)
{
	return mods->sender;
}

/* An output buffer for building messages. */
struct obuf {
	char *data;
	size_t len, size;
};

static void
obuf_add(struct obuf *o, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (o->len + n + 1 > o->size) {
		size_t size = o->size > 0 ? o->size : 4096;
		while (size < o->len + n + 1)
			size *= 2;
		o->data = xrealloc(o->data, size);
		o->size = size;
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
	o->data[o->len] = '\0';
}

/* Copy text with every line end made CRLF. */
static void
obuf_add_crlf(struct obuf *o, const char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) {
			obuf_add(o, p + start, i - start);
			obuf_add(o, "\r\n", 2);
			start = i + 1;
		} else if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')) {
			obuf_add(o, p + start, i - start);
			obuf_add(o, "\r\n", 2);
			start = i + 1;
		}
	}
	obuf_add(o, p + start, n - start);
}

/* A header field of the message being rebuilt: a piece of it, or a new line. */
struct hline {
	const char *name;
	size_t name_len;
	const char *line;
	size_t line_len;
	char *owned;
};

static char *
hline_make(const struct mod *m, size_t *len_r)
{
	struct obuf o = { 0 };

	obuf_add(&o, m->name, strlen(m->name));
	obuf_add(&o, m->leadspc ? ":" : ": ", m->leadspc ? 1 : 2);
	obuf_add_crlf(&o, m->value, strlen(m->value));
	obuf_add(&o, "\r\n", 2);
	*len_r = o.len;
	return o.data;
}

static void
hlines_insert(struct hline **v, size_t *n, size_t *alloc, size_t at, const struct mod *m)
{
	struct hline *h;

	if (*n == *alloc) {
		*alloc = *alloc > 0 ? *alloc * 2 : 32;
		*v = xrealloc(*v, *alloc * sizeof(**v));
	}
	if (at > *n)
		at = *n;
	memmove(&(*v)[at + 1], &(*v)[at], (*n - at) * sizeof(**v));
	(*n)++;
	h = &(*v)[at];
	h->owned = hline_make(m, &h->line_len);
	h->line = h->owned;
	h->name = h->owned;
	h->name_len = strlen(m->name);
}

/* Apply the changes v[0..n) of one milter to msg. */
static char *
apply_group(const struct mod *v, size_t n, const char *msg, size_t len, size_t *len_r)
{
	struct milter_header *hdrs;
	struct hline *hl;
	size_t nh, body_off, nhl, alloc, hdr_end;
	const struct mod *body = NULL;
	struct obuf o = { 0 };

	nh = milter_message_split(msg, len, &hdrs, &body_off);
	alloc = nh + 8;
	hl = xcalloc(alloc, sizeof(*hl));
	for (size_t i = 0; i < nh; i++) {
		hl[i].name = hdrs[i].name;
		hl[i].name_len = hdrs[i].name_len;
		hl[i].line = hdrs[i].line;
		hl[i].line_len = hdrs[i].line_len;
	}
	nhl = nh;
	hdr_end = nh > 0 ? (size_t)(hdrs[nh - 1].line + hdrs[nh - 1].line_len - msg) : 0;
	free(hdrs);

	for (size_t i = 0; i < n; i++) {
		const struct mod *m = &v[i];
		size_t k, count = 0, want;

		switch (m->cmd) {
		case SMFIR_ADDHEADER:
			hlines_insert(&hl, &nhl, &alloc, nhl, m);
			break;
		case SMFIR_INSHEADER:
			hlines_insert(&hl, &nhl, &alloc, m->index, m);
			break;
		case SMFIR_CHGHEADER:
			/* The index-th field of that name (from 1; 0 is taken as 1). */
			want = m->index > 0 ? m->index : 1;
			for (k = 0; k < nhl; k++) {
				if (hl[k].name_len == strlen(m->name) &&
				    str_ncasecmp(hl[k].name, m->name, hl[k].name_len) == 0 &&
				    ++count == want)
					break;
			}
			if (k == nhl) {
				/* Absent: sendmail adds it, unless it was a deletion. */
				if (m->value[0] != '\0')
					hlines_insert(&hl, &nhl, &alloc, nhl, m);
			} else if (m->value[0] == '\0') {
				free(hl[k].owned);
				memmove(&hl[k], &hl[k + 1], (nhl - k - 1) * sizeof(*hl));
				nhl--;
			} else {
				free(hl[k].owned);
				hl[k].owned = hline_make(m, &hl[k].line_len);
				hl[k].line = hl[k].owned;
				hl[k].name = hl[k].owned;
			}
			break;
		case SMFIR_REPLBODY:
			body = m;
			break;
		}
	}
	for (size_t i = 0; i < nhl; i++) {
		/* A last field without its line end gets one before more follow. */
		obuf_add(&o, hl[i].line, hl[i].line_len);
		if (hl[i].line_len > 0 && hl[i].line[hl[i].line_len - 1] != '\n')
			obuf_add(&o, "\r\n", 2);
		free(hl[i].owned);
	}
	free(hl);
	if (body_off > hdr_end)
		obuf_add(&o, msg + hdr_end, body_off - hdr_end);
	else if (nhl > 0 && (body != NULL ? body->body_len > 0 : body_off < len))
		obuf_add(&o, "\r\n", 2);	/* no empty line before the body: add one */
	if (body != NULL) {
		obuf_add_crlf(&o, body->body, body->body_len);
	} else {
		obuf_add(&o, msg + body_off, len - body_off);
	}
	if (o.data == NULL)
		o.data = xstrdup("");
	*len_r = o.len;
	return o.data;
}

char *
milter_mods_apply(const struct milter_mods *mods, const char *message, size_t len, size_t *len_r)
{
	char *cur = xmalloc(len + 1);
	size_t cur_len = len, i = 0;

	memcpy(cur, message, len);
	cur[len] = '\0';
	while (mods != NULL && i < mods->n) {
		size_t j = i;
		while (j < mods->n && mods->v[j].group == mods->v[i].group)
			j++;
		size_t nlen;
		char *next = apply_group(&mods->v[i], j - i, cur, cur_len, &nlen);
		free(cur);
		cur = next;
		cur_len = nlen;
		i = j;
	}
	*len_r = cur_len;
	return cur;
}

/* ------------------------------------------------------------ addresses */

/*
 * Parse a milter address: unix:/path, local:/path, /path, inet:port@host,
 * inet:host:port, inet6:port@host.  -1 with *error_r if it is none.
 */
static int
milter_addr_parse(const char *spec, struct sockaddr_storage *ss, socklen_t *len_r,
    const char **error_r)
{
	static char err[256];
	const char *path = NULL, *p;
	char host[256], port[16];
	int inet6 = 0;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(spec, "unix:", 5) == 0)
		path = spec + 5;
	else if (strncmp(spec, "local:", 6) == 0)
		path = spec + 6;
	else if (spec[0] == '/')
		path = spec;
	if (path != NULL) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
			snprintf(err, sizeof(err), "bad milter socket path in \"%s\"", spec);
			*error_r = err;
			return -1;
		}
		sun->sun_family = AF_UNIX;
		str_copy(sun->sun_path, path, sizeof(sun->sun_path));
		*len_r = sizeof(*sun);
		return 0;
	}
	if (strncmp(spec, "inet:", 5) == 0) {
		p = spec + 5;
	} else if (strncmp(spec, "inet6:", 6) == 0) {
		p = spec + 6;
		inet6 = 1;
	} else {
		snprintf(err, sizeof(err), "milter address \"%s\" is neither unix:/path nor inet:port@host",
		    spec);
		*error_r = err;
		return -1;
	}
	const char *at = strchr(p, '@'), *colon = strrchr(p, ':');
	if (at != NULL) {		/* sendmail: port@host */
		snprintf(port, sizeof(port), "%.*s", (int)(at - p), p);
		str_copy(host, at + 1, sizeof(host));
	} else if (colon != NULL) {	/* Postfix: host:port */
		snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
		str_copy(port, colon + 1, sizeof(port));
	} else {
		str_copy(port, p, sizeof(port));
		str_copy(host, "localhost", sizeof(host));
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (port[0] == '\0' || *end != '\0' || pn <= 0 || pn > 65535 || host[0] == '\0') {
		snprintf(err, sizeof(err), "bad milter address \"%s\" (inet:port@host)", spec);
		*error_r = err;
		return -1;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (str_casecmp(host, "localhost") == 0)
		str_copy(host, inet6 ? "::1" : "127.0.0.1", sizeof(host));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pn);
		*len_r = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pn);
		*len_r = sizeof(*sin6);
		return 0;
	}
	/* A name: resolved here, blocking (documented; use an address). */
	struct addrinfo hints = { .ai_family = inet6 ? AF_INET6 : AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, sizeof(err), "milter host \"%s\": %s", host, gai_strerror(rc));
		*error_r = err;
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len_r = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

struct check_ctx {
	const char *error;
};

static int
check_one(const char *item, void *arg)
{
	struct check_ctx *cc = arg;
	struct sockaddr_storage ss;
	socklen_t len;

	return milter_addr_parse(item, &ss, &len, &cc->error) < 0;
}

int
milter_config_check(const char **error_r)
{
	struct check_ctx cc = { NULL };
	static char err[320];

	if (var_smtpd_milters == NULL)
		return 0;
	if (config_list_foreach(var_smtpd_milters, check_one, &cc) != 0) {
		snprintf(err, sizeof(err), "smtpd_milters: %s", cc.error);
		*error_r = err;
		return -1;
	}
	if (strcmp(var_milter_default_action, "accept") != 0 &&
	    strcmp(var_milter_default_action, "reject") != 0 &&
	    strcmp(var_milter_default_action, "tempfail") != 0) {
		snprintf(err, sizeof(err), "milter_default_action: \"%s\" is not accept, reject or tempfail",
		    var_milter_default_action);
		*error_r = err;
		return -1;
	}
	return 0;
}

/* --------------------------------------------------------------- macros */

void
milter_session_set_macro(struct milter_session *s, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < s->nmacros; i++)
		if (strcmp(s->macro_name[i], name) == 0)
			break;
	if (value == NULL || value[0] == '\0') {
		if (i < s->nmacros) {
			free(s->macro_name[i]);
			free(s->macro_value[i]);
			s->nmacros--;
			s->macro_name[i] = s->macro_name[s->nmacros];
			s->macro_value[i] = s->macro_value[s->nmacros];
		}
		return;
	}
	if (i < s->nmacros) {
		free(s->macro_value[i]);
		s->macro_value[i] = xstrdup(value);
		return;
	}
	if (s->nmacros == MACROS_MAX) {
		log_warnx("milter: more than %d macros, %s not sent", MACROS_MAX, name);
		return;
	}
	s->macro_name[s->nmacros] = xstrdup(name);
	s->macro_value[s->nmacros++] = xstrdup(value);
}

/*
 * Every macro defined so far goes with every command: a milter reads them
 * where it likes (opendkim reads {auth_authen} at end of message).
 */
static void
enc_macros(struct milter_session *s, char stage)
{
	const char *nv[2 * MACROS_MAX + 1];
	size_t k = 0;

	for (size_t i = 0; i < s->nmacros; i++) {
		nv[k++] = s->macro_name[i];
		nv[k++] = s->macro_value[i];
	}
	nv[k] = NULL;
	milter_enc_macro(&s->out, stage, nv);
}

/* --------------------------------------------------------- connections */

static void
conn_disarm(struct milter_conn *c)
{
	if (c->timer != NULL)
		evtimer_del(c->timer);
}

static void
conn_arm(struct milter_conn *c)
{
	struct timeval tv = { var_milter_timeout, 0 };

	if (c->timer != NULL && var_milter_timeout > 0)
		evtimer_add(c->timer, &tv);
}

static void
conn_close(struct milter_conn *c, int quit)
{
	conn_disarm(c);
	if (c->bev != NULL) {
		if (quit && (c->state == C_READY || c->state == C_DONE)) {
			struct milter_buf b = { 0 };
			if (c->txn)
				milter_enc_packet(&b, SMFIC_ABORT, NULL, 0);
			milter_enc_packet(&b, SMFIC_QUIT, NULL, 0);
			bufferevent_write(c->bev, b.data, b.len);
			milter_buf_free(&b);
			/*
			 * Small and the socket idle: one non-blocking write does it.  A
			 * socket bufferevent keeps the front of its output frozen.
			 */
			struct evbuffer *out = bufferevent_get_output(c->bev);
			evbuffer_unfreeze(out, 1);
			evbuffer_write(out, bufferevent_getfd(c->bev));
		}
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->waiting = 0;
	c->txn = 0;
}

/* The default action's reply; R_NEXT when it is accept. */
static int
default_action(struct milter_conn *c)
{
	struct milter_session *s = c->s;

	if (strcmp(var_milter_default_action, "accept") == 0)
		return R_NEXT;
	if (strcmp(var_milter_default_action, "reject") == 0) {
		s->reply.verdict = MILTER_REJECT;
		str_copy(s->reply.text, REPLY_DEFAULT_REJECT, sizeof(s->reply.text));
	} else {
		s->reply.verdict = MILTER_TEMPFAIL;
		str_copy(s->reply.text, REPLY_TEMPFAIL, sizeof(s->reply.text));
	}
	str_copy(s->reply.milter, c->name, sizeof(s->reply.milter));
	s->by_default = 1;
	return R_STOP;
}

/*
 * The milter failed: logged, counted, closed; the session goes on with
 * milter_default_action.  Returns what the current step does next.
 */
static int
conn_fail(struct milter_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
conn_fail(struct milter_conn *c, const char *fmt, ...)
{
	struct milter_session *s = c->s;
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warnx("qid=%s milter=%s error: %s; default action %s", qid_of(s), c->name, why,
	    var_milter_default_action);
	STATS_INC(milter_errors);
	conn_close(c, 0);
	c->state = C_FAILED;
	return default_action(c);
}

/* Continue the session if c is the milter the current step waits for. */
static void
conn_resume(struct milter_conn *c, int r)
{
	struct milter_session *s = c->s;

	if (r == R_WAIT || !s->busy || s->cur >= s->nconns || &s->conns[s->cur] != c)
		return;
	session_run(s, r);
}

/* Send what is encoded in s->out; 1 if c must wait for an answer. */
static int
conn_send(struct milter_conn *c, char cmd, uint32_t no_reply_flag)
{
	struct milter_session *s = c->s;

	if (s->out.len > 0)
		bufferevent_write(c->bev, s->out.data, s->out.len);
	milter_buf_reset(&s->out);
	if (cmd == 0 || (no_reply_flag != 0 && (c->neg.protocol & no_reply_flag) != 0))
		return 0;
	c->waiting = 1;
	c->wait_for = cmd;
	conn_arm(c);
	return 1;
}

static void conn_read(struct bufferevent *bev, void *arg);

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct milter_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->state = C_OPTNEG;
		milter_enc_optneg(&c->s->out, MILTER_VERSION, MILTER_OFFER_ACTIONS,
		    MILTER_OFFER_PROTOCOL);
		conn_send(c, SMFIC_OPTNEG, 0);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		conn_resume(c, conn_fail(c, "connection closed by the milter"));
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int err = EVUTIL_SOCKET_ERROR();
		conn_resume(c, conn_fail(c, "%s: %s",
		    c->state == C_CONNECTING ? "cannot connect" : "connection error",
		    err != 0 ? strerror(err) : "unknown error"));
	}
}

static void
conn_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct milter_conn *c = arg;

	conn_resume(c, conn_fail(c, "timeout after %lds waiting for the %s", var_milter_timeout,
	    c->state == C_CONNECTING ? "connection" : "reply"));
}

static int
conn_connect(struct milter_conn *c)
{
	struct milter_session *s = c->s;
	struct sockaddr_storage ss;
	socklen_t len;
	const char *error;

	if (milter_addr_parse(c->name, &ss, &len, &error) < 0)
		return conn_fail(c, "%s", error);
	c->bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		return conn_fail(c, "cannot create a socket");
	if (c->timer == NULL)
		c->timer = evtimer_new(s->base, conn_timeout, c);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = C_CONNECTING;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)len) < 0)
		return conn_fail(c, "cannot connect: %s", strerror(errno));
	c->waiting = 1;
	c->wait_for = 0;
	conn_arm(c);
	return R_WAIT;
}

/* ---------------------------------------------------------------- replies */

static int
action_allowed(const struct milter_conn *c, char cmd)
{
	uint32_t need;

	switch (cmd) {
	case SMFIR_ADDHEADER: case SMFIR_INSHEADER: need = SMFIF_ADDHDRS; break;
	case SMFIR_CHGHEADER: need = SMFIF_CHGHDRS; break;
	case SMFIR_ADDRCPT: need = SMFIF_ADDRCPT; break;
	case SMFIR_ADDRCPT_PAR: need = SMFIF_ADDRCPT_PAR; break;
	case SMFIR_DELRCPT: need = SMFIF_DELRCPT; break;
	case SMFIR_CHGFROM: need = SMFIF_CHGFROM; break;
	case SMFIR_REPLBODY: need = SMFIF_CHGBODY; break;
	case SMFIR_QUARANTINE: need = SMFIF_QUARANTINE; break;
	default: return 0;
	}
	return (c->neg.actions & need) != 0;
}

static const char *
stage_name(char cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT: return "connect";
	case SMFIC_HELO: return "helo";
	case SMFIC_MAIL: return "mail";
	case SMFIC_RCPT: return "rcpt";
	case SMFIC_DATA: return "data";
	case SMFIC_HEADER: return "header";
	case SMFIC_EOH: return "end of header";
	case SMFIC_BODY: return "body";
	case SMFIC_BODYEOB: return "end of message";
	case SMFIC_OPTNEG: return "option negotiation";
	default: return "connection";
	}
}

/* A final verdict of a milter: the step stops here. */
static int
conn_verdict(struct milter_conn *c, enum milter_verdict v, const char *text)
{
	struct milter_session *s = c->s;
	char w = c->wait_for;

	s->reply.verdict = v;
	str_copy(s->reply.text, text, sizeof(s->reply.text));
	str_copy(s->reply.milter, c->name, sizeof(s->reply.milter));
	log_info("qid=%s milter=%s %s at %s: %s", qid_of(s), c->name,
	    v == MILTER_REJECT ? "reject" : v == MILTER_TEMPFAIL ? "tempfail" : "discard",
	    stage_name(w), v == MILTER_DISCARD ? "message discarded" : text);
	if (w == SMFIC_CONNECT || strncmp(text, "421", 3) == 0) {
		/* Refused the whole session. */
		s->sticky = 1;
		s->sticky_reply = s->reply;
		c->state = C_DONE;
		conn_close(c, 1);
		return R_STOP;
	}
	if (v == MILTER_DISCARD)
		s->txn_discard = 1;
	if (w == SMFIC_BODYEOB)
		c->txn = 0;
	c->step = P_DONE;
	return R_STOP;
}

static int
conn_on_reply(struct milter_conn *c, char cmd, const unsigned char *data, size_t len)
{
	struct milter_session *s = c->s;
	struct milter_action a;
	const char *error;
	char w = c->wait_for;
	char text[512];
	int code;

	if (!c->waiting)
		return conn_fail(c, "unexpected packet '%c' from the milter", cmd);
	if (c->state == C_OPTNEG) {
		if (cmd != SMFIC_OPTNEG)
			return conn_fail(c, "answered option negotiation with '%c'", cmd);
		if (milter_dec_optneg(data, len, &c->neg, &error) < 0)
			return conn_fail(c, "%s", error);
		if ((c->neg.actions & ~(uint32_t)MILTER_OFFER_ACTIONS) != 0)
			return conn_fail(c, "asks for actions 0x%x that are not offered", c->neg.actions);
		if ((c->neg.protocol & ~(uint32_t)MILTER_OFFER_PROTOCOL) != 0) {
			log_debug("milter=%s asks for protocol steps 0x%x not offered: ignored", c->name,
			    c->neg.protocol & ~(uint32_t)MILTER_OFFER_PROTOCOL);
			c->neg.protocol &= MILTER_OFFER_PROTOCOL;
		}
		log_debug("milter=%s version %u actions 0x%x protocol 0x%x", c->name,
		    c->neg.version, c->neg.actions, c->neg.protocol);
		c->state = C_READY;
		c->waiting = 0;
		conn_disarm(c);
		return conn_advance(c);
	}
	if (milter_dec_reply(cmd, data, len, &a, &error) < 0)
		return conn_fail(c, "%s ('%c' at %s)", error, cmd, stage_name(w));
	switch (cmd) {
	case SMFIR_PROGRESS:
		conn_arm(c);
		return R_WAIT;
	case SMFIR_SETSYMLIST:
		conn_arm(c);
		return R_WAIT;
	case SMFIR_ADDHEADER: case SMFIR_INSHEADER: case SMFIR_CHGHEADER:
	case SMFIR_ADDRCPT: case SMFIR_ADDRCPT_PAR: case SMFIR_DELRCPT:
	case SMFIR_CHGFROM: case SMFIR_REPLBODY: case SMFIR_QUARANTINE:
		if (w != SMFIC_BODYEOB)
			return conn_fail(c, "change '%c' before end of message", cmd);
		if (!action_allowed(c, cmd))
			return conn_fail(c, "change '%c' it did not negotiate", cmd);
		if (cmd == SMFIR_QUARANTINE) {
			s->quarantined = 1;
			str_copy(s->quarantine, a.text, sizeof(s->quarantine));
			for (char *p = s->quarantine; *p != '\0'; p++)
				if ((unsigned char)*p < ' ' || *p == 0x7f)
					*p = '?';
			log_info("qid=%s milter=%s quarantine: %s", qid_of(s), c->name, s->quarantine);
		} else if (milter_mods_add(s->mods, &a, (c->neg.protocol & SMFIP_HDR_LEADSPC) != 0,
		    &error) < 0) {
			return conn_fail(c, "%s", error);
		}
		conn_arm(c);
		return R_WAIT;
	default:
		break;
	}
	/* A final answer for the command. */
	c->waiting = 0;
	conn_disarm(c);
	switch (cmd) {
	case SMFIR_CONTINUE:
		if (w == SMFIC_BODYEOB) {
			c->txn = 0;
			c->step = P_DONE;
		}
		return conn_advance(c);
	case SMFIR_SKIP:
		if (w == SMFIC_BODY)
			c->skip_body = 1;
		return conn_advance(c);
	case SMFIR_ACCEPT:
		if (w == SMFIC_CONNECT || w == SMFIC_HELO) {
			/* Nothing more for this milter in this session. */
			c->state = C_DONE;
			conn_close(c, 1);
			return R_NEXT;
		}
		c->msg_done = 1;
		if (w == SMFIC_BODYEOB)
			c->txn = 0;
		c->step = P_DONE;
		return R_NEXT;
	case SMFIR_REJECT:
		return conn_verdict(c, MILTER_REJECT,
		    s->stage == ST_MESSAGE ? REPLY_REJECT_CONTENT : REPLY_REJECT);
	case SMFIR_TEMPFAIL:
		return conn_verdict(c, MILTER_TEMPFAIL, REPLY_TEMPFAIL);
	case SMFIR_SHUTDOWN:
	case SMFIR_CONN_FAIL:
		return conn_verdict(c, MILTER_TEMPFAIL, REPLY_SHUTDOWN);
	case SMFIR_DISCARD:
		if (w == SMFIC_CONNECT || w == SMFIC_HELO)
			return conn_fail(c, "discard at %s", stage_name(w));
		return conn_verdict(c, MILTER_DISCARD, "");
	case SMFIR_REPLYCODE:
		code = milter_reply_check(a.text, text, sizeof(text));
		if (code < 0)
			return conn_fail(c, "bad reply code \"%.100s\"", a.text);
		return conn_verdict(c, code >= 500 ? MILTER_REJECT : MILTER_TEMPFAIL, text);
	default:
		return conn_fail(c, "unexpected reply '%c' at %s", cmd, stage_name(w));
	}
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct milter_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (c->bev != NULL) {
		unsigned char hdr[4];
		const unsigned char *data;
		size_t avail = evbuffer_get_length(in), dlen, used;
		char cmd;
		int r;

		if (avail < 5)
			return;
		evbuffer_copyout(in, hdr, 4);
		uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if (n == 0 || n > MILTER_PACKET_MAX) {
			conn_resume(c, conn_fail(c, "packet of impossible length %u", n));
			return;
		}
		if (avail < 4 + (size_t)n)
			return;
		/* Our own copy: handling the packet may free the connection. */
		if (c->pkt_size < 4 + (size_t)n) {
			c->pkt = xrealloc(c->pkt, 4 + (size_t)n);
			c->pkt_size = 4 + (size_t)n;
		}
		evbuffer_remove(in, c->pkt, 4 + (size_t)n);
		if (milter_packet_split(c->pkt, 4 + (size_t)n, &cmd, &data, &dlen, &used) != 1)
			panic("milter: packet split disagrees with its length");
		r = conn_on_reply(c, cmd, data, dlen);
		if (r != R_WAIT) {
			conn_resume(c, r);
			return;
		}
	}
}

/* ---------------------------------------------------------------- program */

static void
session_view_prepare(struct milter_session *s)
{
	const char *msg = s->view != NULL ? s->view : s->msg;
	size_t len = s->view != NULL ? s->view_len : s->msg_len;

	free(s->hdrs);
	s->nhdrs = milter_message_split(msg, len, &s->hdrs, &s->body_off);
}

static const char *
view_data(const struct milter_session *s, size_t *len_r)
{
	*len_r = s->view != NULL ? s->view_len : s->msg_len;
	return s->view != NULL ? s->view : s->msg;
}

static int
conn_advance(struct milter_conn *c)
{
	struct milter_session *s = c->s;
	const char *argv[2];
	const char *msg;
	size_t len;

	for (;;) {
		switch (c->step) {
		case P_OPEN:
			c->step = P_CONNINFO;
			if (c->state == C_NEW)
				return conn_connect(c);
			break;
		case P_CONNINFO:
			c->step = P_HELO;
			if (c->sent_connect)
				break;
			c->sent_connect = 1;
			enc_macros(s, SMFIC_CONNECT);
			if (c->neg.protocol & SMFIP_NOCONNECT) {
				conn_send(c, 0, 0);
				break;
			}
			if (s->client_addr != NULL) {
				char name[300];
				if (s->client_name != NULL)
					str_copy(name, s->client_name, sizeof(name));
				else
					snprintf(name, sizeof(name), "[%s]", s->client_addr);
				milter_enc_connect(&s->out, name,
				    strchr(s->client_addr, ':') != NULL ? SMFIA_INET6 : SMFIA_INET,
				    (uint16_t)s->client_port, s->client_addr);
			} else {
				milter_enc_connect(&s->out, "localhost", SMFIA_UNKNOWN, 0, NULL);
			}
			if (conn_send(c, SMFIC_CONNECT, SMFIP_NR_CONN))
				return R_WAIT;
			break;
		case P_HELO:
			c->step = P_STAGE;
			if (s->helo == NULL || c->helo_gen == s->helo_gen)
				break;
			c->helo_gen = s->helo_gen;
			enc_macros(s, SMFIC_HELO);
			if (c->neg.protocol & SMFIP_NOHELO) {
				conn_send(c, 0, 0);
				break;
			}
			argv[0] = s->helo;
			milter_enc_strings(&s->out, SMFIC_HELO, argv, 1);
			if (conn_send(c, SMFIC_HELO, SMFIP_NR_HELO))
				return R_WAIT;
			break;
		case P_STAGE:
			c->step = P_DONE;
			switch (s->stage) {
			case ST_HELO:
				break;
			case ST_MAIL:
				if (c->txn)
					milter_enc_packet(&s->out, SMFIC_ABORT, NULL, 0);
				c->txn = 1;
				enc_macros(s, SMFIC_MAIL);
				if (c->neg.protocol & SMFIP_NOMAIL) {
					conn_send(c, 0, 0);
					break;
				}
				milter_enc_strings(&s->out, SMFIC_MAIL, (const char *const *)s->args,
				    s->nargs);
				if (conn_send(c, SMFIC_MAIL, SMFIP_NR_MAIL))
					return R_WAIT;
				break;
			case ST_RCPT:
				enc_macros(s, SMFIC_RCPT);
				if (c->neg.protocol & SMFIP_NORCPT) {
					conn_send(c, 0, 0);
					break;
				}
				milter_enc_strings(&s->out, SMFIC_RCPT, (const char *const *)s->args,
				    s->nargs);
				if (conn_send(c, SMFIC_RCPT, SMFIP_NR_RCPT))
					return R_WAIT;
				break;
			case ST_MESSAGE:
				c->step = P_DATA;
				break;
			}
			break;
		case P_DATA:
			c->step = P_HDRS;
			c->hdr_idx = 0;
			c->skip_body = 0;
			enc_macros(s, SMFIC_DATA);
			if (c->neg.protocol & SMFIP_NODATA) {
				conn_send(c, 0, 0);
				break;
			}
			milter_enc_packet(&s->out, SMFIC_DATA, NULL, 0);
			if (conn_send(c, SMFIC_DATA, SMFIP_NR_DATA))
				return R_WAIT;
			break;
		case P_HDRS:
			if (c->hdr_idx >= s->nhdrs || (c->neg.protocol & SMFIP_NOHDRS)) {
				c->step = P_EOH;
				break;
			}
			{
				const struct milter_header *h = &s->hdrs[c->hdr_idx++];
				if (s->valbuf_size < h->value_len + 1) {
					s->valbuf_size = h->value_len + 1;
					s->valbuf = xrealloc(s->valbuf, s->valbuf_size);
				}
				size_t vlen = milter_header_value(h,
				    (c->neg.protocol & SMFIP_HDR_LEADSPC) != 0, s->valbuf);
				milter_enc_header(&s->out, h->name, h->name_len, s->valbuf, vlen);
			}
			if (conn_send(c, SMFIC_HEADER, SMFIP_NR_HDR))
				return R_WAIT;
			break;
		case P_EOH:
			c->step = P_BODY;
			c->body_pos = s->body_off;
			enc_macros(s, SMFIC_EOH);
			if (c->neg.protocol & SMFIP_NOEOH) {
				conn_send(c, 0, 0);
				break;
			}
			milter_enc_packet(&s->out, SMFIC_EOH, NULL, 0);
			if (conn_send(c, SMFIC_EOH, SMFIP_NR_EOH))
				return R_WAIT;
			break;
		case P_BODY:
			msg = view_data(s, &len);
			if (c->skip_body || (c->neg.protocol & SMFIP_NOBODY) || c->body_pos >= len) {
				c->step = P_EOB;
				break;
			}
			{
				size_t n = len - c->body_pos;
				if (n > MILTER_CHUNK_SIZE)
					n = MILTER_CHUNK_SIZE;
				milter_enc_packet(&s->out, SMFIC_BODY, msg + c->body_pos, n);
				c->body_pos += n;
			}
			if (conn_send(c, SMFIC_BODY, SMFIP_NR_BODY))
				return R_WAIT;
			break;
		case P_EOB:
			c->step = P_DONE;
			enc_macros(s, SMFIC_BODYEOB);
			milter_enc_packet(&s->out, SMFIC_BODYEOB, NULL, 0);
			conn_send(c, SMFIC_BODYEOB, 0);
			return R_WAIT;
		case P_DONE:
			return R_NEXT;
		}
	}
}

/* Begin the current step with milter c: R_NEXT if it is not asked. */
static int
conn_start(struct milter_conn *c)
{
	struct milter_session *s = c->s;

	switch (c->state) {
	case C_FAILED:
		return default_action(c);
	case C_DONE:
		return R_NEXT;
	default:
		break;
	}
	if (s->stage != ST_HELO && c->msg_done)
		return R_NEXT;
	if (s->stage == ST_MESSAGE) {
		/* This milter sees what the milters before it made of the message. */
		if (s->mods->n != s->view_nmods) {
			size_t len;
			char *v = milter_mods_apply(s->mods, s->msg, s->msg_len, &len);
			free(s->view);
			s->view = v;
			s->view_len = len;
			s->view_nmods = s->mods->n;
			session_view_prepare(s);
		}
		s->mods->group = c->idx;
	}
	c->step = P_OPEN;
	return conn_advance(c);
}

static void
session_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_session *s = arg;

	s->busy = 0;
	/* done may free the session: nothing after it. */
	s->done(s->ctx, &s->reply);
}

static void
stage_finish(struct milter_session *s)
{
	struct milter_reply *r = &s->reply;

	if (r->verdict == MILTER_CONTINUE && s->nconns > 0) {
		size_t open = 0;
		int accept_failed = strcmp(var_milter_default_action, "accept") == 0;
		for (size_t i = 0; i < s->nconns; i++) {
			const struct milter_conn *c = &s->conns[i];
			if (c->state == C_DONE || (c->state == C_FAILED && accept_failed) ||
			    (s->stage != ST_HELO && c->msg_done))
				continue;
			open++;
		}
		if (open == 0)
			r->verdict = MILTER_ACCEPT;
	}
	if (s->stage == ST_MESSAGE && s->quarantined &&
	    (r->verdict == MILTER_CONTINUE || r->verdict == MILTER_ACCEPT)) {
		r->verdict = MILTER_QUARANTINE;
		str_copy(r->reason, s->quarantine, sizeof(r->reason));
	}
	if ((s->stage == ST_MAIL || s->stage == ST_MESSAGE) && !s->by_default &&
	    (r->verdict == MILTER_REJECT || r->verdict == MILTER_TEMPFAIL))
		STATS_INC(milter_rejects);
	event_active(s->done_ev, 0, 0);
}

static void
session_run(struct milter_session *s, int r)
{
	for (;;) {
		if (r == R_WAIT)
			return;
		if (r == R_STOP)
			break;
		if (++s->cur >= s->nconns)
			break;
		r = conn_start(&s->conns[s->cur]);
	}
	stage_finish(s);
}

static void
stage_begin(struct milter_session *s, enum stage st, milter_done_fn done, void *ctx)
{
	if (s->busy)
		panic("milter: a step began while another is pending");
	s->busy = 1;
	s->stage = st;
	s->done = done;
	s->ctx = ctx;
	memset(&s->reply, 0, sizeof(s->reply));
	s->reply.verdict = MILTER_CONTINUE;
	s->by_default = 0;
	if (s->sticky) {
		s->reply = s->sticky_reply;
		event_active(s->done_ev, 0, 0);
		return;
	}
	if ((st == ST_RCPT || st == ST_MESSAGE) && s->txn_discard) {
		s->reply.verdict = MILTER_DISCARD;
		event_active(s->done_ev, 0, 0);
		return;
	}
	if (s->nconns == 0) {
		stage_finish(s);
		return;
	}
	s->cur = 0;
	session_run(s, conn_start(&s->conns[0]));
}

/* ----------------------------------------------------------------- API */

static int
add_conn(const char *item, void *arg)
{
	struct milter_session *s = arg;
	struct milter_conn *c;

	s->conns = xrealloc(s->conns, (s->nconns + 1) * sizeof(*s->conns));
	c = &s->conns[s->nconns];
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->idx = (unsigned int)s->nconns;
	c->name = xstrdup(item);
	c->state = C_NEW;
	s->nconns++;
	return 0;
}

struct milter_session *
milter_session_new(struct event_base *base, const char *client_addr, int client_port,
    const char *client_name, const char *helo)
{
	struct milter_session *s = xcalloc(1, sizeof(*s));
	char buf[600], port[16];

	s->base = base;
	s->done_ev = event_new(base, -1, 0, session_done_cb, s);
	if (client_addr != NULL && client_addr[0] != '\0')
		s->client_addr = xstrdup(client_addr);
	if (client_name != NULL && client_name[0] != '\0' && strcmp(client_name, "unknown") != 0)
		s->client_name = xstrdup(client_name);
	s->client_port = client_port;
	if (helo != NULL) {
		s->helo = xstrdup(helo);
		s->helo_gen = 1;
	}
	s->mods = milter_mods_new();
	if (var_smtpd_milters != NULL)
		config_list_foreach(var_smtpd_milters, add_conn, s);

	milter_session_set_macro(s, "j", proc_hostname());
	milter_session_set_macro(s, "{daemon_name}", "facteur");
	milter_session_set_macro(s, "v", "facteur " PACKAGE_VERSION);
	if (s->client_addr != NULL) {
		snprintf(buf, sizeof(buf), "%s [%s]", s->client_name != NULL ? s->client_name : "",
		    s->client_addr);
		milter_session_set_macro(s, "_", buf[0] == ' ' ? buf + 1 : buf);
		milter_session_set_macro(s, "{client_addr}", s->client_addr);
		snprintf(port, sizeof(port), "%d", client_port);
		milter_session_set_macro(s, "{client_port}", port);
		snprintf(buf, sizeof(buf), "[%s]", s->client_addr);
		milter_session_set_macro(s, "{client_name}",
		    s->client_name != NULL ? s->client_name : buf);
	}
	return s;
}

void
milter_helo(struct milter_session *s, const char *helo, milter_done_fn done, void *ctx)
{
	free(s->helo);
	s->helo = xstrdup(helo != NULL ? helo : "");
	s->helo_gen++;
	stage_begin(s, ST_HELO, done, ctx);
}

static void
args_clear(struct milter_session *s)
{
	for (size_t i = 0; i < s->nargs; i++)
		free(s->args[i]);
	free(s->args);
	s->args = NULL;
	s->nargs = 0;
}

/* "<addr>" for the command, and addr without brackets for the macro. */
static char *
bracketed(const char *addr, char *bare, size_t size)
{
	size_t n = strlen(addr);

	if (n >= 2 && addr[0] == '<' && addr[n - 1] == '>')
		snprintf(bare, size, "%.*s", (int)(n - 2), addr + 1);
	else
		str_copy(bare, addr, size);
	return xasprintf("<%s>", bare);
}

static void
txn_reset(struct milter_session *s)
{
	mods_clear(s->mods);
	s->txn_discard = 0;
	s->quarantined = 0;
	s->quarantine[0] = '\0';
	free(s->view);
	s->view = NULL;
	s->view_nmods = 0;
	free(s->hdrs);
	s->hdrs = NULL;
	s->nhdrs = 0;
	s->msg = NULL;
	s->msg_len = 0;
	free(s->qid);
	s->qid = NULL;
	milter_session_set_macro(s, "i", NULL);
	milter_session_set_macro(s, "{mail_addr}", NULL);
	milter_session_set_macro(s, "{rcpt_addr}", NULL);
	for (size_t i = 0; i < s->nconns; i++)
		s->conns[i].msg_done = 0;
}

void
milter_mail(struct milter_session *s, const char *sender, const char *const *esmtp_args,
    milter_done_fn done, void *ctx)
{
	char bare[1024];
	size_t n = 0;

	if (s->busy)
		panic("milter: MAIL while a step is pending");
	txn_reset(s);
	args_clear(s);
	while (esmtp_args != NULL && esmtp_args[n] != NULL)
		n++;
	s->args = xcalloc(n + 1, sizeof(*s->args));
	s->args[0] = bracketed(sender != NULL ? sender : "", bare, sizeof(bare));
	for (size_t i = 0; i < n; i++)
		s->args[i + 1] = xstrdup(esmtp_args[i]);
	s->nargs = n + 1;
	milter_session_set_macro(s, "{mail_addr}", bare);
	stage_begin(s, ST_MAIL, done, ctx);
}

void
milter_rcpt(struct milter_session *s, const char *rcpt, milter_done_fn done, void *ctx)
{
	char bare[1024];

	if (s->busy)
		panic("milter: RCPT while a step is pending");
	args_clear(s);
	s->args = xcalloc(1, sizeof(*s->args));
	s->args[0] = bracketed(rcpt != NULL ? rcpt : "", bare, sizeof(bare));
	s->nargs = 1;
	milter_session_set_macro(s, "{rcpt_addr}", bare);
	stage_begin(s, ST_RCPT, done, ctx);
}

void
milter_message(struct milter_session *s, const char *qid, const char *message, size_t len,
    milter_done_fn done, void *ctx)
{
	if (s->busy)
		panic("milter: message while a step is pending");
	mods_clear(s->mods);
	s->quarantined = 0;
	s->quarantine[0] = '\0';
	free(s->view);
	s->view = NULL;
	s->view_nmods = 0;
	s->msg = message;
	s->msg_len = len;
	free(s->qid);
	s->qid = qid != NULL && qid[0] != '\0' ? xstrdup(qid) : NULL;
	milter_session_set_macro(s, "i", s->qid);
	session_view_prepare(s);
	if (s->nconns > 0)
		STATS_INC(milter_calls);
	stage_begin(s, ST_MESSAGE, done, ctx);
}

const struct milter_mods *
milter_session_mods(const struct milter_session *s)
{
	return s->mods;
}

void
milter_abort(struct milter_session *s)
{
	if (s->busy)
		panic("milter: abort while a step is pending");
	for (size_t i = 0; i < s->nconns; i++) {
		struct milter_conn *c = &s->conns[i];
		if (c->state == C_READY && c->txn && c->bev != NULL) {
			struct milter_buf b = { 0 };
			milter_enc_packet(&b, SMFIC_ABORT, NULL, 0);
			bufferevent_write(c->bev, b.data, b.len);
			milter_buf_free(&b);
			c->txn = 0;
		}
	}
	txn_reset(s);
	args_clear(s);
}

void
milter_session_free(struct milter_session **sp)
{
	struct milter_session *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	for (size_t i = 0; i < s->nconns; i++) {
		struct milter_conn *c = &s->conns[i];
		conn_close(c, 1);
		if (c->timer != NULL)
			event_free(c->timer);
		free(c->name);
		free(c->pkt);
	}
	free(s->conns);
	s->nconns = 0;
	event_free(s->done_ev);
	txn_reset(s);
	for (size_t i = 0; i < s->nmacros; i++) {
		free(s->macro_name[i]);
		free(s->macro_value[i]);
	}
	milter_mods_free(&s->mods);
	args_clear(s);
	free(s->client_addr);
	free(s->client_name);
	free(s->helo);
	free(s->valbuf);
	milter_buf_free(&s->out);
	free(s);
}
