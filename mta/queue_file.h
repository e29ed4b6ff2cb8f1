/* SPDX-License-Identifier: MIT */
/*
 * queue_file - the on-disk format of one queued message.
 *
 *   FACTEUR-QUEUE 1\n
 *   A 0000 000000000000 0\n       attempts, next retry, delay notice sent
 *                                 (fixed width: rewritten in place)
 *   T 1732456789\n                arrival time
 *   C client text\n               who sent it (for Received, logs, DSN)
 *   S sender\n                    empty for the null sender <>
 *   P RET=FULL ENVID=xtext\n      DSN parameters of MAIL (optional)
 *   R P NOTIFY ORCPT address\n    one per recipient; the byte after "R " is
 *                                 its status, rewritten in place: P pending,
 *                                 D delivered, F failed (bounce queued)
 *   M 000000001234\n              content length, then the content (CRLF
 *                                 lines, not dot-stuffed)
 *   H 000000000321\n              optional: length, then header fields the
 *                                 filter added, delivered before the content
 *   X\n                           end marker: a file without it is incomplete
 *   L idx S dsn text\n            delivery log appended after X: recipient
 *                                 index, D/F/T, DSN status, reply text
 *
 * NOTIFY is "-" (not given) or NEVER / a comma list of SUCCESS,FAILURE,DELAY;
 * ORCPT is "-" or the xtext of the ORCPT parameter.  Writing is buffered and
 * not synced here: queue_commit makes finished files durable in groups.
 */
#ifndef FACTEUR_QUEUE_FILE_H
#define FACTEUR_QUEUE_FILE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "queue.h"

#define NOTIFY_NEVER 0x1
#define NOTIFY_SUCCESS 0x2
#define NOTIFY_FAILURE 0x4
#define NOTIFY_DELAY 0x8

#define RCPT_PENDING 'P'
#define RCPT_DELIVERED 'D'
#define RCPT_FAILED 'F'

struct queue_rcpt {
	char *addr;
	char *orcpt;		/* NULL if not given */
	unsigned int notify;	/* NOTIFY_* bits; 0 if not given */
	char status;		/* RCPT_* */
	off_t status_offset;	/* where the status byte lives (reader) */
	char *last_dsn;		/* from the delivery log (reader), or NULL */
	char *last_text;
};

struct queue_envelope {
	char qid[QUEUE_ID_SIZE];
	time_t arrival;
	char *client;
	char *sender;		/* "" for the null sender */
	int ret;		/* 0 not given, 1 FULL, 2 HDRS */
	char *envid;		/* NULL if not given */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
	unsigned int attempts;
	time_t next_retry;
	int warned;
	off_t content_offset;
	off_t content_len;
	off_t prepend_offset;	/* H record: header fields delivered first */
	off_t prepend_len;	/* 0 when there is none */
};

/* Size of the message as delivered: the H block, then the M content. */
#define QUEUE_CONTENT_SIZE(env) ((env)->prepend_len + (env)->content_len)

struct queue_writer {
	int fd;
	char qid[QUEUE_ID_SIZE];
	char tmp_path[4096];
	char final_path[4096];
	off_t content_offset;
	off_t len_offset;	/* where the M record's digits are */
	off_t content_len;
	int error;		/* errno of the first failed write, sticky */
	int prepend_written;
	size_t used;
	char buf[65536];
};

/* Add a recipient to env (copies strings). */
void queue_envelope_add_rcpt(struct queue_envelope *env, const char *addr, const char *orcpt,
    unsigned int notify);
void queue_envelope_free(struct queue_envelope *env);

/*
 * Create incoming/t.<qid> with O_EXCL and write the envelope; env->qid is
 * set.  Returns 0, or -1 with errno (ENOSPC ...) and *error_r.
 */
int queue_writer_open(struct queue_writer *w, struct queue_envelope *env, const char **error_r);
/* Append content bytes; errors are sticky and reported by finish. */
void queue_writer_write(struct queue_writer *w, const void *data, size_t len);
/* Write what is buffered so the content can be read back.  0, or -1 + errno. */
int queue_writer_flush(struct queue_writer *w);
/* Replace the content written so far by len bytes of data (a changed message). */
int queue_writer_rewrite(struct queue_writer *w, const void *data, size_t len);
/*
 * Replace the envelope (recipients, sender: a milter changed them) and the
 * content written so far: a new temporary file under the same queue id
 * takes the place of the old one.  0, or -1 with the error sticky.
 */
int queue_writer_rewrite_envelope(struct queue_writer *w, const struct queue_envelope *env,
    const void *data, size_t len);
/*
 * After the content and before finish: header fields (CRLF lines) to be
 * delivered before the content (H record).  Once per file; -1 if again.
 */
int queue_writer_prepend(struct queue_writer *w, const char *headers, size_t len);
/* Flush, write the end marker and the content length.  0, or -1 + errno. */
int queue_writer_finish(struct queue_writer *w);
/* Close and unlink the temporary file. */
void queue_writer_abort(struct queue_writer *w);

/*
 * Parse a whole file image.  0 on success; -1 with *error_r if it is
 * malformed or incomplete.  env_r must be freed with queue_envelope_free.
 */
int queue_file_parse(const char *data, size_t len, struct queue_envelope *env_r,
    const char **error_r);
/*
 * Read up to n bytes of the message as delivered (H block then content) at
 * offset off of it; may return less than asked at the seam.  0 at the end.
 */
ssize_t queue_content_pread(int fd, const struct queue_envelope *env, void *buf, size_t n, off_t off);
/* Read and parse an open file. */
int queue_file_read(int fd, struct queue_envelope *env_r, const char **error_r);
/* In-place updates of an open file (O_RDWR).  -1 with errno on failure. */
int queue_file_set_status(int fd, const struct queue_rcpt *rcpt, char status);
int queue_file_set_attempts(int fd, unsigned int attempts, time_t next_retry, int warned);
int queue_file_append_log(int fd, size_t rcpt_index, char status, const char *dsn,
    const char *text);

/* NOTIFY bits to text ("-" for 0) and back (-1 on a bad list). */
void queue_notify_str(unsigned int notify, char *buf, size_t size);
int queue_notify_parse(const char *s, unsigned int *notify_r);

#endif
