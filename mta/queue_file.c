/* SPDX-License-Identifier: MIT */
/*
 * queue_file - write, parse and update queue files.  See queue_file.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/fd.h"
#include "lib/mem.h"
#include "queue_file.h"

#define QF_MAGIC "FACTEUR-QUEUE 1\n"
#define QF_A_OFFSET (sizeof(QF_MAGIC) - 1)
#define QF_A_FORMAT "A %04u %012lld %d\n"
#define QF_A_LEN 22
#define QF_M_DIGITS 12

void
queue_envelope_add_rcpt(struct queue_envelope *env, const char *addr, const char *orcpt,
    unsigned int notify)
{
	struct queue_rcpt *r;

	env->rcpts = xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->status = RCPT_PENDING;
}

void
queue_envelope_free(struct queue_envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].last_dsn);
		free(env->rcpts[i].last_text);
	}
	free(env->rcpts);
	free(env->client);
	free(env->sender);
	free(env->envid);
	memset(env, 0, sizeof(*env));
}

void
queue_notify_str(unsigned int notify, char *buf, size_t size)
{
	buf[0] = '\0';
	if (notify == 0) {
		str_copy(buf, "-", size);
		return;
	}
	if (notify & NOTIFY_NEVER) {
		str_copy(buf, "NEVER", size);
		return;
	}
	snprintf(buf, size, "%s%s%s%s%s", notify & NOTIFY_SUCCESS ? "SUCCESS" : "",
	    (notify & NOTIFY_SUCCESS) && (notify & (NOTIFY_FAILURE | NOTIFY_DELAY)) ? "," : "",
	    notify & NOTIFY_FAILURE ? "FAILURE" : "",
	    (notify & NOTIFY_FAILURE) && (notify & NOTIFY_DELAY) ? "," : "",
	    notify & NOTIFY_DELAY ? "DELAY" : "");
}

int
queue_notify_parse(const char *s, unsigned int *notify_r)
{
	unsigned int n = 0;
	const char *p = s;

	if (strcmp(s, "-") == 0) {
		*notify_r = 0;
		return 0;
	}
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		if (len == 5 && str_ncasecmp(p, "NEVER", 5) == 0)
			n |= NOTIFY_NEVER;
		else if (len == 7 && str_ncasecmp(p, "SUCCESS", 7) == 0)
			n |= NOTIFY_SUCCESS;
		else if (len == 7 && str_ncasecmp(p, "FAILURE", 7) == 0)
			n |= NOTIFY_FAILURE;
		else if (len == 5 && str_ncasecmp(p, "DELAY", 5) == 0)
			n |= NOTIFY_DELAY;
		else
			return -1;
		p += len;
		if (*p == ',') {
			p++;
			if (*p == '\0')
				return -1;
		}
	}
	/* RFC 3461: NEVER stands alone. */
	if (n == 0 || ((n & NOTIFY_NEVER) && n != NOTIFY_NEVER))
		return -1;
	*notify_r = n;
	return 0;
}

static void
writer_flush(struct queue_writer *w)
{
	if (w->used > 0 && w->error == 0 && fd_write_all(w->fd, w->buf, w->used) < 0)
		w->error = errno;
	w->used = 0;
}

static void
writer_put(struct queue_writer *w, const char *data, size_t len)
{
	if (w->error != 0)
		return;
	if (len >= sizeof(w->buf)) {
		writer_flush(w);
		if (w->error == 0 && fd_write_all(w->fd, data, len) < 0)
			w->error = errno;
		return;
	}
	if (w->used + len > sizeof(w->buf))
		writer_flush(w);
	memcpy(w->buf + w->used, data, len);
	w->used += len;
}

static void
writer_line(struct queue_writer *w, const char *a, const char *b)
{
	writer_put(w, a, strlen(a));
	writer_put(w, b, strlen(b));
	writer_put(w, "\n", 1);
}

/* Field text must not break the line format: newlines become spaces. */
static char *
field_clean(const char *s)
{
	char *c = xstrdup(s != NULL ? s : "");

	for (char *p = c; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return c;
}

/* The records before the content, up to the M record (its length patched at finish). */
static void
write_envelope(struct queue_writer *w, const struct queue_envelope *env)
{
	char line[128], notify[64], *f;

	writer_put(w, QF_MAGIC, strlen(QF_MAGIC));
	snprintf(line, sizeof(line), QF_A_FORMAT, 0u, 0LL, 0);
	writer_put(w, line, strlen(line));
	snprintf(line, sizeof(line), "T %lld\n", (long long)env->arrival);
	writer_put(w, line, strlen(line));
	f = field_clean(env->client);
	writer_line(w, "C ", f);
	free(f);
	f = field_clean(env->sender);
	writer_line(w, "S ", f);
	free(f);
	if (env->ret != 0 || env->envid != NULL) {
		f = field_clean(env->envid);
		snprintf(line, sizeof(line), "P RET=%s ENVID=",
		    env->ret == 1 ? "FULL" : env->ret == 2 ? "HDRS" : "-");
		writer_line(w, line, env->envid != NULL ? f : "-");
		free(f);
	}
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		char *orcpt = field_clean(r->orcpt);
		char *addr = field_clean(r->addr);

		queue_notify_str(r->notify, notify, sizeof(notify));
		writer_put(w, "R P ", 4);
		writer_put(w, notify, strlen(notify));
		writer_put(w, " ", 1);
		/* ORCPT is xtext: no spaces inside. */
		for (char *p = orcpt; *p != '\0'; p++)
			if (*p == ' ')
				*p = '+';
		writer_put(w, r->orcpt != NULL && orcpt[0] != '\0' ? orcpt : "-",
		    r->orcpt != NULL && orcpt[0] != '\0' ? strlen(orcpt) : 1);
		writer_line(w, " ", addr);
		free(orcpt);
		free(addr);
	}
	writer_flush(w);
	if (w->error == 0) {
		off_t here = lseek(w->fd, 0, SEEK_CUR);
		w->len_offset = here + 2;
		snprintf(line, sizeof(line), "M %0*d\n", QF_M_DIGITS, 0);
		writer_put(w, line, strlen(line));
		w->content_offset = w->len_offset + QF_M_DIGITS + 1;
	}
}

int
queue_writer_open(struct queue_writer *w, struct queue_envelope *env, const char **error_r)
{
	static char error[512];
	int tries;

	w->fd = -1;
	w->used = 0;
	w->error = 0;
	w->content_len = 0;
	w->prepend_written = 0;
	for (tries = 0; tries < 10; tries++) {
		queue_new_id(w->qid);
		snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/%s/%s%s", var_spool_directory,
		    queue_state_name(Q_INCOMING), QUEUE_TMP_PREFIX, w->qid);
		queue_path(Q_INCOMING, w->qid, w->final_path, sizeof(w->final_path));
		/* A file of free/ moved to the name is ours alone, as O_EXCL makes it. */
		if (queue_reuse_take(w->tmp_path) == 0) {
			if ((w->fd = open(w->tmp_path, O_WRONLY | O_TRUNC | O_CLOEXEC)) >= 0)
				break;
			unlink(w->tmp_path);
		}
		w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		snprintf(error, sizeof(error), "create queue file %s: %s", w->tmp_path, strerror(errno));
		*error_r = error;
		return -1;
	}
	str_copy(env->qid, w->qid, sizeof(env->qid));
	write_envelope(w, env);
	if (w->error != 0) {
		int e = w->error;
		snprintf(error, sizeof(error), "write queue file %s: %s", w->tmp_path, strerror(e));
		*error_r = error;
		queue_writer_abort(w);
		errno = e;
		return -1;
	}
	return 0;
}

void
queue_writer_write(struct queue_writer *w, const void *data, size_t len)
{
	w->content_len += (off_t)len;
	writer_put(w, data, len);
}

int
queue_writer_flush(struct queue_writer *w)
{
	writer_flush(w);
	if (w->error != 0) {
		errno = w->error;
		return -1;
	}
	return 0;
}

int
queue_writer_rewrite(struct queue_writer *w, const void *data, size_t len)
{
	w->used = 0;
	if (w->error == 0 && (ftruncate(w->fd, w->content_offset) < 0 ||
	    lseek(w->fd, w->content_offset, SEEK_SET) < 0))
		w->error = errno;
	w->content_len = 0;
	queue_writer_write(w, data, len);
	return w->error != 0 ? -1 : 0;
}

int
queue_writer_rewrite_envelope(struct queue_writer *w, const struct queue_envelope *env,
    const void *data, size_t len)
{
	char path[sizeof(w->tmp_path) + 8];
	int fd;

	snprintf(path, sizeof(path), "%s.new", w->tmp_path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		w->error = errno;
		return -1;
	}
	close(w->fd);
	w->fd = fd;
	w->used = 0;
	w->error = 0;
	w->content_len = 0;
	w->prepend_written = 0;
	write_envelope(w, env);
	queue_writer_write(w, data, len);
	writer_flush(w);
	if (w->error == 0 && rename(path, w->tmp_path) < 0)
		w->error = errno;
	if (w->error != 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

int
queue_writer_prepend(struct queue_writer *w, const char *headers, size_t len)
{
	char line[QF_M_DIGITS + 4];

	if (w->prepend_written)
		return -1;
	w->prepend_written = 1;
	snprintf(line, sizeof(line), "H %0*llu\n", QF_M_DIGITS, (unsigned long long)len);
	writer_put(w, line, strlen(line));
	writer_put(w, headers, len);
	return 0;
}

int
queue_writer_finish(struct queue_writer *w)
{
	char digits[QF_M_DIGITS + 1];

	writer_put(w, "X\n", 2);
	writer_flush(w);
	if (w->error == 0) {
		snprintf(digits, sizeof(digits), "%0*lld", QF_M_DIGITS, (long long)w->content_len);
		if (pwrite(w->fd, digits, QF_M_DIGITS, w->len_offset) != QF_M_DIGITS)
			w->error = errno != 0 ? errno : EIO;
	}
	if (w->error != 0) {
		errno = w->error;
		return -1;
	}
	return 0;
}

void
queue_writer_abort(struct queue_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		if (queue_reuse_put(w->tmp_path, w->qid) < 0)
			unlink(w->tmp_path);
	}
	w->fd = -1;
}

/* ---- reader ---- */

ssize_t
queue_content_pread(int fd, const struct queue_envelope *env, void *buf, size_t n, off_t off)
{
	off_t pos, left;

	if (off < env->prepend_len) {
		pos = env->prepend_offset + off;
		left = env->prepend_len - off;
	} else {
		pos = env->content_offset + (off - env->prepend_len);
		left = env->content_len - (off - env->prepend_len);
	}
	if (left <= 0)
		return 0;
	if ((off_t)n > left)
		n = (size_t)left;
	return pread(fd, buf, n, pos);
}

struct cursor {
	const char *p, *end, *base;
};

/* Next line (without "\n") into line/len; 0 at end or incomplete line. */
static int
next_line(struct cursor *c, const char **line_r, size_t *len_r)
{
	const char *nl;

	if (c->p >= c->end)
		return 0;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (nl == NULL)
		return 0;
	*line_r = c->p;
	*len_r = (size_t)(nl - c->p);
	c->p = nl + 1;
	return 1;
}

static int
parse_fail(const char **error_r, const char *why, struct queue_envelope *env)
{
	*error_r = why;
	queue_envelope_free(env);
	return -1;
}

static int
parse_ull(const char *s, size_t len, unsigned long long *v_r)
{
	unsigned long long v = 0;

	if (len == 0 || len > 19)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	*v_r = v;
	return 0;
}

static int
parse_rcpt(const char *line, size_t len, off_t offset, struct queue_envelope *env)
{
	/* "R S NOTIFY ORCPT address" */
	char notify_buf[64], *orcpt, *addr;
	const char *p = line + 4, *end = line + len, *sp;
	unsigned int notify;
	struct queue_rcpt *r;

	if (len < 8 || line[3] != ' ' ||
	    (line[2] != RCPT_PENDING && line[2] != RCPT_DELIVERED && line[2] != RCPT_FAILED))
		return -1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || (size_t)(sp - p) >= sizeof(notify_buf))
		return -1;
	memcpy(notify_buf, p, (size_t)(sp - p));
	notify_buf[sp - p] = '\0';
	if (queue_notify_parse(notify_buf, &notify) < 0)
		return -1;
	p = sp + 1;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || sp == p)
		return -1;
	orcpt = xstrndup(p, (size_t)(sp - p));
	addr = xstrndup(sp + 1, (size_t)(end - sp - 1));
	if (addr[0] == '\0' || memchr(sp + 1, '\0', (size_t)(end - sp - 1)) != NULL) {
		free(orcpt);
		free(addr);
		return -1;
	}
	queue_envelope_add_rcpt(env, addr, strcmp(orcpt, "-") == 0 ? NULL : orcpt, notify);
	r = &env->rcpts[env->nrcpts - 1];
	r->status = line[2];
	r->status_offset = offset + 2;
	free(orcpt);
	free(addr);
	return 0;
}

static int
parse_log(const char *line, size_t len, struct queue_envelope *env)
{
	/* "L idx S dsn text" */
	const char *p = line + 2, *end = line + len, *sp;
	unsigned long long idx;
	struct queue_rcpt *r;

	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL || parse_ull(p, (size_t)(sp - p), &idx) < 0 || idx >= env->nrcpts)
		return -1;
	p = sp + 1;
	if (end - p < 2 || p[1] != ' ')
		return -1;
	p += 2;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp == NULL)
		sp = end;
	r = &env->rcpts[idx];
	free(r->last_dsn);
	free(r->last_text);
	r->last_dsn = xstrndup(p, (size_t)(sp - p));
	r->last_text = sp < end ? xstrndup(sp + 1, (size_t)(end - sp - 1)) : xstrdup("");
	return 0;
}

int
queue_file_parse(const char *data, size_t len, struct queue_envelope *env, const char **error_r)
{
	struct cursor c = { data, data + len, data };
	const char *line;
	size_t n;
	unsigned long long v, att, next;
	int have_t = 0, have_s = 0;

	memset(env, 0, sizeof(*env));
	if (len < strlen(QF_MAGIC) + QF_A_LEN || memcmp(data, QF_MAGIC, strlen(QF_MAGIC)) != 0)
		return parse_fail(error_r, "not a facteur queue file", env);
	c.p += strlen(QF_MAGIC);
	if (!next_line(&c, &line, &n) || n != QF_A_LEN - 1 || line[0] != 'A' ||
	    parse_ull(line + 2, 4, &att) < 0 || parse_ull(line + 7, 12, &next) < 0 ||
	    (line[20] != '0' && line[20] != '1'))
		return parse_fail(error_r, "bad A record", env);
	env->attempts = (unsigned int)att;
	env->next_retry = (time_t)next;
	env->warned = line[20] == '1';
	for (;;) {
		off_t offset = c.p - c.base;
		if (!next_line(&c, &line, &n) || n < 1)
			return parse_fail(error_r, "truncated envelope", env);
		if (n >= 2 && line[1] != ' ')
			return parse_fail(error_r, "bad record", env);
		switch (line[0]) {
		case 'T':
			if (n < 3 || parse_ull(line + 2, n - 2, &v) < 0)
				return parse_fail(error_r, "bad T record", env);
			env->arrival = (time_t)v;
			have_t = 1;
			break;
		case 'C':
			free(env->client);
			env->client = xstrndup(line + (n >= 2 ? 2 : 1), n >= 2 ? n - 2 : 0);
			break;
		case 'S':
			free(env->sender);
			env->sender = xstrndup(line + (n >= 2 ? 2 : 1), n >= 2 ? n - 2 : 0);
			have_s = 1;
			break;
		case 'P': {
			/* "P RET=FULL|HDRS|- ENVID=xtext|-" */
			const char *e = line + n, *tok = line + 6, *sp2;
			size_t tl;
			if (n < 8 || memcmp(line, "P RET=", 6) != 0 ||
			    (sp2 = memchr(tok, ' ', (size_t)(e - tok))) == NULL || e - sp2 < 8 ||
			    memcmp(sp2, " ENVID=", 7) != 0)
				return parse_fail(error_r, "bad P record", env);
			tl = (size_t)(sp2 - tok);
			if (tl == 4 && memcmp(tok, "FULL", 4) == 0)
				env->ret = 1;
			else if (tl == 4 && memcmp(tok, "HDRS", 4) == 0)
				env->ret = 2;
			else if (!(tl == 1 && tok[0] == '-'))
				return parse_fail(error_r, "bad P record", env);
			tok = sp2 + 7;
			if (!(e - tok == 1 && tok[0] == '-')) {
				free(env->envid);
				env->envid = xstrndup(tok, (size_t)(e - tok));
			}
			break;
		}
		case 'R':
			if (parse_rcpt(line, n, offset, env) < 0)
				return parse_fail(error_r, "bad R record", env);
			break;
		case 'M':
			if (n != QF_M_DIGITS + 2 || parse_ull(line + 2, QF_M_DIGITS, &v) < 0)
				return parse_fail(error_r, "bad M record", env);
			env->content_offset = c.p - c.base;
			if (v > (unsigned long long)(c.end - c.p))
				return parse_fail(error_r, "incomplete message content", env);
			env->content_len = (off_t)v;
			c.p += v;
			/* Header fields to prepend (the filter's), if any. */
			if (c.end - c.p >= QF_M_DIGITS + 3 && c.p[0] == 'H' && c.p[1] == ' ') {
				if (c.p[QF_M_DIGITS + 2] != '\n' ||
				    parse_ull(c.p + 2, QF_M_DIGITS, &v) < 0)
					return parse_fail(error_r, "bad H record", env);
				c.p += QF_M_DIGITS + 3;
				if (v > (unsigned long long)(c.end - c.p))
					return parse_fail(error_r, "incomplete H record", env);
				env->prepend_offset = c.p - c.base;
				env->prepend_len = (off_t)v;
				c.p += v;
			}
			if (c.end - c.p < 2 || memcmp(c.p, "X\n", 2) != 0)
				return parse_fail(error_r, "incomplete message content", env);
			c.p += 2;
			goto trailer;
		default:
			return parse_fail(error_r, "unknown record", env);
		}
	}
trailer:
	if (!have_t || !have_s || env->nrcpts == 0)
		return parse_fail(error_r, "envelope lacks T, S or R", env);
	while (next_line(&c, &line, &n)) {
		if (n < 2 || line[0] != 'L' || line[1] != ' ' || parse_log(line, n, env) < 0)
			return parse_fail(error_r, "bad L record", env);
	}
	return 0;
}

/*
 * Files up to this size are read(2) into memory; larger ones are mapped.
 * qmgr is multi-threaded (libunbound), so every munmap(2) costs an
 * inter-processor interrupt: reading is cheaper for ordinary mail.
 */
#define QF_READ_MAX (256 * 1024)

int
queue_file_read(int fd, struct queue_envelope *env_r, const char **error_r)
{
	static char error[128];
	struct stat st;
	char *image;
	int rc;

	memset(env_r, 0, sizeof(*env_r));
	if (fstat(fd, &st) < 0) {
		snprintf(error, sizeof(error), "fstat: %s", strerror(errno));
		*error_r = error;
		return -1;
	}
	if (st.st_size == 0) {
		*error_r = "empty file";
		return -1;
	}
	if (st.st_size <= QF_READ_MAX) {
		size_t size = (size_t)st.st_size;
		image = xmalloc(size);
		if (fd_pread_all(fd, image, size, 0) < 0) {
			snprintf(error, sizeof(error), "read: %s", strerror(errno));
			*error_r = error;
			free(image);
			return -1;
		}
		rc = queue_file_parse(image, size, env_r, error_r);
		free(image);
		return rc;
	}
	image = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (image == MAP_FAILED) {
		snprintf(error, sizeof(error), "mmap: %s", strerror(errno));
		*error_r = error;
		return -1;
	}
	rc = queue_file_parse(image, (size_t)st.st_size, env_r, error_r);
	munmap(image, (size_t)st.st_size);
	return rc;
}

int
queue_file_set_status(int fd, const struct queue_rcpt *rcpt, char status)
{
	return pwrite(fd, &status, 1, rcpt->status_offset) == 1 ? 0 : -1;
}

int
queue_file_set_attempts(int fd, unsigned int attempts, time_t next_retry, int warned)
{
	char line[64];

	snprintf(line, sizeof(line), QF_A_FORMAT, attempts > 9999 ? 9999 : attempts,
	    (long long)next_retry, warned ? 1 : 0);
	return pwrite(fd, line, QF_A_LEN, QF_A_OFFSET) == QF_A_LEN ? 0 : -1;
}

int
queue_file_append_log(int fd, size_t rcpt_index, char status, const char *dsn, const char *text)
{
	char *t = field_clean(text);
	char *line = xasprintf("L %zu %c %s %s\n", rcpt_index, status, dsn, t);
	off_t end = lseek(fd, 0, SEEK_END);
	int rc;

	/*
	 * A crash during an earlier append can leave a fragment without its
	 * newline: cut it off, or this line would be glued to it.
	 */
	if (end > 0) {
		char tail[4096];
		off_t from = end > (off_t)sizeof(tail) ? end - (off_t)sizeof(tail) : 0;
		ssize_t n = pread(fd, tail, (size_t)(end - from), from);
		if (n > 0 && tail[n - 1] != '\n') {
			char *nl = memrchr(tail, '\n', (size_t)n);
			if (nl != NULL && ftruncate(fd, from + (nl - tail) + 1) == 0)
				end = from + (nl - tail) + 1;
		}
	}
	rc = end < 0 ? -1 : (pwrite(fd, line, strlen(line), end) == (ssize_t)strlen(line) ? 0 : -1);

	free(t);
	free(line);
	return rc;
}
