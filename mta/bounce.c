/* SPDX-License-Identifier: MIT */
/*
 * bounce - RFC 3464 delivery status notifications.  See bounce.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "bounce.h"
#include "queue_commit.h"
#include "smtp_proto.h"

/* Headers of the original beyond this are cut (a header-only part stays small). */
#define BOUNCE_HEADERS_MAX (256 * 1024)

struct out {
	char *buf;
	size_t len, size;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->size) {
		o->size = (o->len + n + 1) * 2;
		o->buf = xrealloc(o->buf, o->size);
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		panic("vasprintf: out of memory");
	va_end(ap);
	out_add(o, s, strlen(s));
	free(s);
}

static const char *
rfc5322_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
	return buf;
}

int
bounce_wanted(const struct queue_envelope *env, const struct queue_rcpt *r, enum bounce_kind kind)
{
	if (env->sender[0] == '\0')
		return 0;
	if (r->notify == 0)
		return 1;
	if (r->notify & NOTIFY_NEVER)
		return 0;
	return (r->notify & (kind == BOUNCE_FAILED ? NOTIFY_FAILURE : NOTIFY_DELAY)) != 0;
}

/* Text fit for a header or report field: no CR/LF, no control characters. */
static char *
field(const char *s)
{
	char *c = xstrdup(s != NULL ? s : "");

	for (char *p = c; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return c;
}

/* "rfc822;a+40b" -> "rfc822; a@b"; NULL if it cannot be decoded. */
static char *
orcpt_text(const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');
	char dec[1024], *type;

	if (semi == NULL || smtp_xtext_decode(semi + 1, dec, sizeof(dec)) < 0)
		return NULL;
	type = xstrndup(orcpt, (size_t)(semi - orcpt));
	{
		char *f = field(dec), *r = xasprintf("%s; %s", type, f);
		free(f);
		free(type);
		return r;
	}
}

static void
add_original(struct out *o, const struct queue_envelope *env, int fd, int full)
{
	off_t len = QUEUE_CONTENT_SIZE(env);
	char *data;
	size_t got = 0, hdr_len;

	if (!full && len > BOUNCE_HEADERS_MAX)
		len = BOUNCE_HEADERS_MAX;
	data = xmalloc((size_t)len + 1);
	while (got < (size_t)len) {
		ssize_t n = queue_content_pread(fd, env, data + got, (size_t)len - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	hdr_len = got;
	if (!full) {
		const char *end = strstr(data, "\r\n\r\n");
		if (memcmp(data, "\r\n", got >= 2 ? 2 : got) == 0 && got >= 2)
			hdr_len = 0;
		else if (end != NULL)
			hdr_len = (size_t)(end - data) + 2;
	}
	out_printf(o, "Content-Type: %s\r\n", full ? "message/rfc822" : "text/rfc822-headers");
	out_printf(o, "Content-Description: %s\r\n\r\n",
	    full ? "Undelivered Message" : "Undelivered Message Headers");
	out_add(o, data, hdr_len);
	if (hdr_len < 2 || memcmp(data + hdr_len - 2, "\r\n", 2) != 0)
		out_add(o, "\r\n", 2);
	free(data);
}

int
bounce_send(const struct queue_envelope *env, int fd, enum bounce_kind kind,
    const struct bounce_rcpt *rcpts, size_t n, char qid_r[QUEUE_ID_SIZE], const char **error_r)
{
	static char error[600];
	const char *host = proc_hostname();
	struct queue_envelope benv;
	struct queue_writer *w;
	struct out o = { 0 };
	char date[64], boundary[128];
	time_t now = time(NULL);
	int full = kind == BOUNCE_FAILED && env->ret == 1;
	const char *why;
	char *sender = field(env->sender);

	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", env->qid, (long long)now, host);
	out_printf(&o, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", host);
	out_printf(&o, "To: <%s>\r\n", sender);
	out_printf(&o, "Subject: %s\r\n", kind == BOUNCE_FAILED ?
	    "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)");
	out_printf(&o, "Date: %s\r\n", rfc5322_date(now, date, sizeof(date)));
	out_printf(&o, "Message-ID: <%s.%lld.%s@%s>\r\n", env->qid, (long long)now,
	    kind == BOUNCE_FAILED ? "bounce" : "delay", host);
	out_printf(&o, "Auto-Submitted: auto-replied\r\n");
	out_printf(&o, "MIME-Version: 1.0\r\n");
	out_printf(&o, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", boundary);
	out_printf(&o, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	/* Part 1: for a human. */
	out_printf(&o, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n", boundary);
	out_printf(&o, "This is the mail system at host %s.\r\n\r\n", host);
	if (kind == BOUNCE_FAILED) {
		out_printf(&o, "I'm sorry to have to inform you that your message could not\r\n"
		    "be delivered to one or more recipients. It's attached below.\r\n\r\n"
		    "For further assistance, please send mail to postmaster.\r\n\r\n"
		    "If you do so, please include this problem report. You can\r\n"
		    "delete your own text from the attached returned message.\r\n\r\n");
	} else {
		out_printf(&o, "####################################################################\r\n"
		    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
		    "####################################################################\r\n\r\n"
		    "Your message could not be delivered for %.1f hours.\r\n"
		    "It will be retried until it is %.1f days old.\r\n\r\n",
		    (double)(now - env->arrival) / 3600.0,
		    (double)(env->sender[0] == '\0' ? var_bounce_queue_lifetime :
		    var_maximal_queue_lifetime) / 86400.0);
	}
	out_printf(&o, "                   The mail system\r\n\r\n");
	for (size_t i = 0; i < n; i++) {
		char *addr = field(env->rcpts[rcpts[i].index].addr), *text = field(rcpts[i].text);
		if (rcpts[i].remote && rcpts[i].remote_mta != NULL)
			out_printf(&o, "<%s>: host %s said: %s\r\n\r\n", addr, rcpts[i].remote_mta, text);
		else
			out_printf(&o, "<%s>: %s\r\n\r\n", addr, text);
		free(addr);
		free(text);
	}

	/* Part 2: for a machine. */
	out_printf(&o, "--%s\r\nContent-Description: %s\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary,
	    kind == BOUNCE_FAILED ? "Delivery report" : "Delay report");
	out_printf(&o, "Reporting-MTA: dns; %s\r\n", host);
	out_printf(&o, "X-Queue-ID: %s\r\n", env->qid);
	if (env->envid != NULL) {
		/* ENVID is xtext on the wire (RFC 3461 4.4); the report shows it decoded (6.3). */
		char dec[512], *f;
		if (smtp_xtext_decode(env->envid, dec, sizeof(dec)) < 0)
			str_copy(dec, env->envid, sizeof(dec));
		f = field(dec);
		out_printf(&o, "Original-Envelope-Id: %s\r\n", f);
		free(f);
	}
	if (env->sender[0] != '\0')
		out_printf(&o, "X-Original-Sender: rfc822; %s\r\n", sender);
	out_printf(&o, "Arrival-Date: %s\r\n", rfc5322_date(env->arrival, date, sizeof(date)));
	for (size_t i = 0; i < n; i++) {
		const struct queue_rcpt *r = &env->rcpts[rcpts[i].index];
		char *addr = field(r->addr), *text = field(rcpts[i].text);

		out_printf(&o, "\r\nFinal-Recipient: rfc822; %s\r\n", addr);
		if (r->orcpt != NULL) {
			char *orig = orcpt_text(r->orcpt);
			if (orig != NULL)
				out_printf(&o, "Original-Recipient: %s\r\n", orig);
			free(orig);
		}
		out_printf(&o, "Action: %s\r\n", kind == BOUNCE_FAILED ? "failed" : "delayed");
		out_printf(&o, "Status: %s\r\n", rcpts[i].dsn);
		if (rcpts[i].remote_mta != NULL)
			out_printf(&o, "Remote-MTA: dns; %s\r\n", rcpts[i].remote_mta);
		out_printf(&o, "Diagnostic-Code: %s; %s\r\n", rcpts[i].remote ? "smtp" : "X-facteur",
		    text);
		out_printf(&o, "Last-Attempt-Date: %s\r\n", rfc5322_date(now, date, sizeof(date)));
		if (kind == BOUNCE_DELAYED)
			out_printf(&o, "Will-Retry-Until: %s\r\n", rfc5322_date(env->arrival +
			    var_maximal_queue_lifetime, date, sizeof(date)));
		free(addr);
		free(text);
	}
	out_printf(&o, "\r\n--%s\r\n", boundary);

	/* Part 3: what was sent. */
	add_original(&o, env, fd, full);
	out_printf(&o, "\r\n--%s--\r\n", boundary);

	memset(&benv, 0, sizeof(benv));
	benv.arrival = now;
	benv.client = xasprintf("local (%s for %s)", kind == BOUNCE_FAILED ? "bounce" : "delay notice",
	    env->qid);
	benv.sender = xstrdup("");
	queue_envelope_add_rcpt(&benv, env->sender, NULL, 0);
	w = xmalloc(sizeof(*w));
	if (queue_writer_open(w, &benv, &why) < 0) {
		snprintf(error, sizeof(error), "%s", why);
		goto fail;
	}
	queue_writer_write(w, o.buf, o.len);
	if (queue_writer_finish(w) < 0) {
		snprintf(error, sizeof(error), "write %s: %s", w->tmp_path, strerror(errno));
		queue_writer_abort(w);
		goto fail;
	}
	if (queue_commit_sync(w) < 0) {
		snprintf(error, sizeof(error), "commit %s: %s", w->final_path, strerror(errno));
		goto fail;
	}
	str_copy(qid_r, w->qid, QUEUE_ID_SIZE);
	free(w);
	free(o.buf);
	free(sender);
	queue_envelope_free(&benv);
	return 0;
fail:
	*error_r = error;
	free(w);
	free(o.buf);
	free(sender);
	queue_envelope_free(&benv);
	return -1;
}
