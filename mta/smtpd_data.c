/* SPDX-License-Identifier: MIT */
/*
 * smtpd_data - message data of DATA and BDAT, streamed into the queue file.
 *
 * SMTP smuggling: only <CRLF>.<CRLF> ends DATA - a "." line counts only
 * when the line before it ended with CRLF and the dot line itself ends
 * with CRLF.  A bare LF or a bare CR anywhere in the data makes the
 * message refused at its end (smtpd_bare_newline = reject, the default),
 * or turned into CRLF (normalize) without ever ending DATA.  Either way
 * the bytes after a bare-LF "." are message data, never commands.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "filter/pipeline.h"
#include "lib/config.h"
#include "lib/fd.h"
#include "lib/log.h"
#include "lib/report.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"
#include "lib/workpool.h"
#include "milter_client.h"
#include "queue.h"
#include "queue_commit.h"
#include "smtpd.h"

static struct filter *smtpd_filter;
static struct workpool *smtpd_pool;

void
smtpd_set_filter(struct filter *f, struct workpool *pool)
{
	smtpd_filter = f;
	smtpd_pool = pool;
}

/* Message bytes: to the queue file and to the filter. */
static void
data_put(struct smtpd_session *s, const void *data, size_t len)
{
	queue_writer_write(s->writer, data, len);
	if (s->fmsg != NULL)
		filter_msg_feed(s->fmsg, data, len);
}

static void
data_fail(struct smtpd_session *s, enum smtpd_data_error e)
{
	if (s->data.error == DATA_OK)
		s->data.error = e;
}

static void
storage_reply(struct smtpd_session *s, int error)
{
	STATS_INC(smtpd_reject_storage);
	if (error == ENOSPC || error == EDQUOT)
		smtpd_reply(s, "452 4.3.1 Insufficient system storage");
	else
		smtpd_reply(s, "451 4.3.0 Error: queue file write error");
}

static void
write_received(struct smtpd_session *s)
{
	char date[64], *hdr, tlsinfo[160] = "";
	time_t now = time(NULL);
	struct tm tm;
	SSL *ssl = s->tls ? bufferevent_openssl_get_ssl(s->bev) : NULL;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (ssl != NULL)
		snprintf(tlsinfo, sizeof(tlsinfo), "\r\n\t(using %s with cipher %s)",
		    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	/* Postfix's form: "unknown" when the name is not verified (SpamAssassin reads no rDNS). */
	hdr = xasprintf("Received: from %s (%s [%s])\r\n\tby %s (facteur) with %s id %s%s%s%s%s;"
	    "\r\n\t%s\r\n", s->helo, s->name, s->addr, proc_hostname(), smtpd_proto(s), s->env.qid,
	    tlsinfo,
	    s->env.nrcpts == 1 ? "\r\n\tfor <" : "", s->env.nrcpts == 1 ? s->env.rcpts[0].addr : "",
	    s->env.nrcpts == 1 ? ">" : "", date);
	data_put(s, hdr, strlen(hdr));
	s->data.bytes += strlen(hdr);
	free(hdr);
}

int
smtpd_data_begin(struct smtpd_session *s)
{
	const char *error;

	s->env.arrival = time(NULL);
	free(s->env.client);
	s->env.client = xasprintf("addr=%s helo=%s proto=%s%s%s", s->addr, s->helo, smtpd_proto(s),
	    s->auth_user != NULL ? " auth=" : "", s->auth_user != NULL ? s->auth_user : "");
	s->writer = xmalloc(sizeof(*s->writer));
	if (queue_writer_open(s->writer, &s->env, &error) < 0) {
		int e = errno;
		log_warnx("%s", error);
		free(s->writer);
		s->writer = NULL;
		storage_reply(s, e);
		return -1;
	}
	memset(&s->data, 0, sizeof(s->data));
	s->data.line = xmalloc((size_t)var_smtpd_data_line_length_limit + 1);
	s->data.prev_crlf = 1;
	s->data.in_headers = 1;
	s->data.chunk = evbuffer_new();
	if (smtpd_filter != NULL) {
		struct filter_envelope fe;
		const char **rcpts = xcalloc(s->env.nrcpts + 1, sizeof(*rcpts));
		for (size_t i = 0; i < s->env.nrcpts; i++)
			rcpts[i] = s->env.rcpts[i].addr;
		memset(&fe, 0, sizeof(fe));
		fe.qid = s->env.qid;
		fe.client_addr = s->addr;
		fe.client_name = strcmp(s->name, "unknown") != 0 ? s->name : NULL;
		fe.helo = s->helo;
		fe.sender = s->env.sender;
		fe.rcpts = rcpts;
		fe.nrcpts = s->env.nrcpts;
		fe.auth_user = s->auth_user;
		fe.trusted = s->trusted;
		s->fmsg = filter_msg_new(smtpd_filter, &fe);
		free(rcpts);
	}
	write_received(s);
	return 0;
}

void
smtpd_data_free(struct smtpd_session *s)
{
	filter_msg_free(&s->fmsg);
	free(s->data.line);
	if (s->data.chunk != NULL)
		evbuffer_free(s->data.chunk);
	memset(&s->data, 0, sizeof(s->data));
}

/* Store one line of len bytes: its text, without any terminator. */
static void
data_store(struct smtpd_session *s, const char *text, size_t len)
{
	struct smtpd_data *d = &s->data;

	d->bytes += len + 2;
	if (d->bytes > (uint64_t)var_message_size_limit)
		data_fail(s, DATA_TOO_BIG);
	if (d->error != DATA_OK)
		return;
	if (memchr(text, '\r', len) != NULL) {
		/* normalize: each bare CR becomes a line break. */
		const char *p = text, *end = text + len, *cr;
		while ((cr = memchr(p, '\r', (size_t)(end - p))) != NULL) {
			data_put(s, p, (size_t)(cr - p));
			data_put(s, "\r\n", 2);
			p = cr + 1;
		}
		data_put(s, p, (size_t)(end - p));
	} else {
		data_put(s, text, len);
	}
	data_put(s, "\r\n", 2);
}

/* Process one line: n bytes, ending with '\n' unless final (BDAT tail). */
static int
data_line(struct smtpd_session *s, const char *line, size_t n, int dot_mode, int final)
{
	struct smtpd_data *d = &s->data;
	int has_lf = !final, crlf;
	size_t body;

	crlf = has_lf && n >= 2 && line[n - 2] == '\r';
	body = crlf ? n - 2 : has_lf ? n - 1 : n;
	if (dot_mode && d->prev_crlf && crlf && body == 1 && line[0] == '.')
		return 1;
	if ((has_lf && !crlf) || memchr(line, '\r', body) != NULL) {
		if (strcmp(var_smtpd_bare_newline, "reject") == 0) {
			if (d->error == DATA_OK)
				log_info("qid=%s bare <LF> or <CR> in message data from [%s]",
				    s->env.qid, s->addr);
			data_fail(s, DATA_BARE_NEWLINE);
		}
	}
	if (dot_mode && d->prev_crlf && body > 0 && line[0] == '.') {
		line++;
		body--;
	}
	if (d->in_headers) {
		if (body == 0)
			d->in_headers = 0;
		else if (body >= 9 && str_ncasecmp(line, "Received:", 9) == 0)
			d->hops++;
	}
	data_store(s, line, body);
	d->prev_crlf = crlf;
	return 0;
}

/* Is the byte before position pos a CR? */
static int
cr_before(struct evbuffer *src, size_t pos)
{
	struct evbuffer_ptr ptr;
	char c = 0;

	if (pos == 0 || evbuffer_ptr_set(src, &ptr, pos - 1, EVBUFFER_PTR_SET) < 0)
		return 0;
	return evbuffer_copyout_from(src, &ptr, &c, 1) == 1 && c == '\r';
}

/*
 * One line the slow way: it spans the buffer's chunks.  -1 if more input is
 * needed, 0 if a line was consumed, 1 at the end of DATA.
 */
static int
data_line_spanning(struct smtpd_session *s, struct evbuffer *src, int dot_mode)
{
	struct smtpd_data *d = &s->data;
	size_t limit = (size_t)var_smtpd_data_line_length_limit, n;
	struct evbuffer_ptr p = evbuffer_search(src, "\n", 1, NULL);

	if (p.pos < 0) {
		size_t avail = evbuffer_get_length(src);
		if (avail > limit || (d->skipping_long_line && avail > 0)) {
			if (!d->skipping_long_line)
				d->bytes += avail;
			data_fail(s, DATA_LINE_TOO_LONG);
			d->skipped_cr = cr_before(src, avail);
			evbuffer_drain(src, avail);
			d->skipping_long_line = 1;
		}
		return -1;
	}
	n = (size_t)p.pos + 1;
	if (d->skipping_long_line || n > limit) {
		data_fail(s, DATA_LINE_TOO_LONG);
		d->prev_crlf = n >= 2 ? cr_before(src, (size_t)p.pos) : d->skipped_cr;
		evbuffer_drain(src, n);
		d->skipping_long_line = 0;
		return 0;
	}
	evbuffer_remove(src, d->line, n);
	return data_line(s, d->line, n, dot_mode, 0);
}

int
smtpd_data_lines(struct smtpd_session *s, struct evbuffer *src, int dot_mode)
{
	struct smtpd_data *d = &s->data;
	size_t limit = (size_t)var_smtpd_data_line_length_limit;

	for (;;) {
		struct evbuffer_iovec v;
		const char *base, *nl;
		size_t len, off = 0;
		int rc;

		if (evbuffer_peek(src, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return 0;
		base = v.iov_base;
		len = v.iov_len;
		/* Fast path: the lines that lie whole in the first chunk, in place. */
		while ((nl = memchr(base + off, '\n', len - off)) != NULL) {
			size_t n = (size_t)(nl - (base + off)) + 1;
			if (d->skipping_long_line || n > limit) {
				data_fail(s, DATA_LINE_TOO_LONG);
				d->prev_crlf = n >= 2 ? nl[-1] == '\r' : d->skipped_cr;
				d->skipping_long_line = 0;
			} else if (data_line(s, base + off, n, dot_mode, 0)) {
				evbuffer_drain(src, off + n);
				return 1;
			}
			off += n;
		}
		if (off > 0) {
			evbuffer_drain(src, off);
			continue;
		}
		if ((rc = data_line_spanning(s, src, dot_mode)) < 0)
			return 0;
		if (rc > 0)
			return 1;
	}
}

/* Count key once for each recipient domain of the transaction (reports). */
static void
report_rcpt_domains(struct smtpd_session *s, enum report_key key)
{
	for (size_t i = 0; i < s->env.nrcpts; i++) {
		const char *d = strrchr(s->env.rcpts[i].addr, '@');
		int seen = 0;
		for (size_t k = 0; k < i && !seen && d != NULL; k++) {
			const char *e = strrchr(s->env.rcpts[k].addr, '@');
			seen = e != NULL && strcasecmp(d, e) == 0;
		}
		if (!seen)
			report_count(s->env.rcpts[i].addr, key, 1);
	}
}

static void
data_committed(void *ctx, int error)
{
	struct smtpd_session *s = ctx;

	if (error != 0) {
		log_warnx("qid=%s commit failed: %s", s->env.qid, strerror(error));
		if (!s->dead)
			storage_reply(s, error);
	} else {
		STATS_INC(smtpd_messages_accepted);
		STATS_ADD(smtpd_bytes_accepted, s->data.bytes);
		STATS_ADD(smtpd_recipients_accepted, s->env.nrcpts);
		report_rcpt_domains(s, REPORT_received);
		if (s->auth_user != NULL)
			report_count(s->env.sender, REPORT_submitted, 1);
		log_info("qid=%s client=[%s] from=<%s> size=%llu nrcpt=%zu proto=%s status=queued%s",
		    s->env.qid, s->addr, s->env.sender, (unsigned long long)s->data.bytes,
		    s->env.nrcpts, smtpd_proto(s), s->dead ? " (client gone before the reply)" : "");
		if (!s->dead)
			smtpd_reply(s, "250 2.0.0 Ok: queued as %s", s->env.qid);
	}
	free(s->writer);
	s->writer = NULL;
	smtpd_transaction_reset(s);
	if (s->dead)
		smtpd_session_free(s);
	else
		smtpd_resume(s);
}

/* The message is complete and checked: make it durable, reply from the callback. */
static void
data_commit(struct smtpd_session *s)
{
	if (queue_writer_finish(s->writer) < 0) {
		int e = errno;
		log_warnx("qid=%s write %s: %s", s->env.qid, s->writer->tmp_path, strerror(e));
		storage_reply(s, e);
		smtpd_transaction_reset(s);
		if (s->state == SMTPD_ST_COMMIT)
			smtpd_resume(s);
		return;
	}
	s->state = SMTPD_ST_COMMIT;
	bufferevent_disable(s->bev, EV_READ);
	queue_commit_submit(s->writer, data_committed, s);
}

/* ---- the filter's end of message, in the worker pool ---- */

struct filter_job {
	struct smtpd_session *s;
	struct filter_msg *fmsg;
	char path[4096];
	off_t offset, len;
	const struct filter_result *result;
	char *tagged;		/* the message with its subject tagged, or NULL */
	size_t tagged_len;
	int error;		/* errno reading the message back */
};

static void
filter_work(void *arg)
{
	struct filter_job *j = arg;
	char *msg = xmalloc((size_t)j->len + 1);
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fd_pread_all(fd, msg, (size_t)j->len, j->offset) < 0)
		j->error = errno != 0 ? errno : EIO;
	if (fd >= 0)
		close(fd);
	if (j->error == 0) {
		j->result = filter_msg_finish(j->fmsg, msg, (size_t)j->len);
		if (j->result->subject_tag != NULL)
			j->tagged = filter_tag_subject(msg, (size_t)j->len, j->result->subject_tag,
			    &j->tagged_len);
	}
	free(msg);
}

static void
filter_done(void *arg)
{
	struct filter_job *j = arg;
	struct smtpd_session *s = j->s;
	const struct filter_result *r = j->result;

	char *tagged = j->tagged;
	size_t tagged_len = j->tagged_len;

	if (s->dead) {
		free(tagged);
		free(j);
		smtpd_session_free(s);
		return;
	}
	if (j->error != 0 || r == NULL) {
		int e = j->error != 0 ? j->error : EIO;
		log_warnx("qid=%s filter: cannot read the message back: %s", s->env.qid,
		    strerror(e));
		free(tagged);
		free(j);
		storage_reply(s, e);
		smtpd_transaction_reset(s);
		smtpd_resume(s);
		return;
	}
	free(j);
	filter_log_verdict(s->env.qid, s->addr, r);
	if (r->spam)
		report_rcpt_domains(s, REPORT_spam);
	if (r->virus)
		report_rcpt_domains(s, REPORT_virus);
	if (r->action == FILTER_REJECT)
		report_rcpt_domains(s, REPORT_reject_filter);
	else if (r->action == FILTER_QUARANTINE)
		report_rcpt_domains(s, REPORT_quarantined);
	switch (r->action) {
	case FILTER_REJECT:
	case FILTER_TEMPFAIL:
		log_info("qid=%s reject: %s from [%s] from=<%s>", s->env.qid, r->reply, s->addr,
		    s->env.sender);
		smtpd_reply(s, "%s", r->reply);
		free(tagged);
		smtpd_transaction_reset(s);
		smtpd_resume(s);
		return;
	case FILTER_QUARANTINE:
		queue_path(Q_QUARANTINE, s->writer->qid, s->writer->final_path,
		    sizeof(s->writer->final_path));
		log_info("qid=%s quarantine: %s", s->env.qid, r->reason);
		break;
	case FILTER_ACCEPT:
		break;
	}
	/* The tagged copy was made in the worker, from the message it had read. */
	if (tagged != NULL) {
		queue_writer_rewrite(s->writer, tagged, tagged_len);
		free(tagged);
	}
	if (r->headers != NULL && r->headers[0] != '\0')
		queue_writer_prepend(s->writer, r->headers, strlen(r->headers));
	filter_msg_free(&s->fmsg);
	data_commit(s);
}

static void
filter_submit(struct smtpd_session *s)
{
	struct filter_job *j;

	if (queue_writer_flush(s->writer) < 0) {
		int e = errno;
		log_warnx("qid=%s write %s: %s", s->env.qid, s->writer->tmp_path, strerror(e));
		storage_reply(s, e);
		smtpd_transaction_reset(s);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->fmsg = s->fmsg;
	str_copy(j->path, s->writer->tmp_path, sizeof(j->path));
	j->offset = s->writer->content_offset;
	j->len = s->writer->content_len;
	smtpd_pause(s);
	workpool_submit(smtpd_pool, filter_work, filter_done, j);
}

/* The milters had their say (or there are none): facteur's filter, then the commit. */
static void
after_milters(struct smtpd_session *s)
{
	if (s->fmsg != NULL)
		filter_submit(s);
	else
		data_commit(s);
}

void
smtpd_data_end(struct smtpd_session *s)
{
	struct smtpd_data *d = &s->data;
	size_t tail;

	/* BDAT: whatever follows the last LF is the final line. */
	if (d->chunk != NULL && (tail = evbuffer_get_length(d->chunk)) > 0) {
		if (tail > (size_t)var_smtpd_data_line_length_limit) {
			data_fail(s, DATA_LINE_TOO_LONG);
			evbuffer_drain(d->chunk, tail);
		} else {
			evbuffer_remove(d->chunk, d->line, tail);
			data_line(s, d->line, tail, 0, 1);
		}
	}
	if (d->error == DATA_OK && d->hops > (unsigned int)var_smtpd_hop_limit)
		d->error = DATA_HOPS;
	s->state = SMTPD_ST_CMD;
	switch (d->error) {
	case DATA_OK:
		break;
	case DATA_TOO_BIG:
		STATS_INC(smtpd_reject_size);
		log_info("qid=%s reject: message from [%s] exceeds %ld bytes", s->env.qid, s->addr,
		    var_message_size_limit);
		smtpd_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		break;
	case DATA_BARE_NEWLINE:
		STATS_INC(smtpd_reject_bare_newline);
		smtpd_reply(s, "550 5.5.2 Message contains bare <LF> or <CR>: "
		    "lines must end with <CR><LF> (RFC 5321 2.3.8)");
		break;
	case DATA_LINE_TOO_LONG:
		log_info("qid=%s reject: line longer than %ld bytes from [%s]", s->env.qid,
		    var_smtpd_data_line_length_limit, s->addr);
		smtpd_reply(s, "552 5.3.4 Message line too long (limit %ld bytes)",
		    var_smtpd_data_line_length_limit);
		break;
	case DATA_HOPS:
		log_info("qid=%s reject: %u Received headers, mail loop from [%s]", s->env.qid,
		    d->hops, s->addr);
		smtpd_reply(s, "554 5.4.6 Too many hops: mail forwarding loop");
		break;
	case DATA_BDAT_REFUSED:
		/* Answered when the chunk ended; not expected here, refuse anyway. */
		storage_reply(s, EIO);
		break;
	}
	if (d->error != DATA_OK) {
		smtpd_transaction_reset(s);
		return;
	}
	if (s->milter != NULL && milter_enabled()) {
		if (queue_writer_flush(s->writer) < 0) {
			int e = errno;
			log_warnx("qid=%s write %s: %s", s->env.qid, s->writer->tmp_path, strerror(e));
			storage_reply(s, e);
			smtpd_transaction_reset(s);
			return;
		}
		smtpd_milter_message(s, after_milters);
		return;
	}
	after_milters(s);
}
