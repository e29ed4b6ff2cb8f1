/* SPDX-License-Identifier: MIT */
/*
 * mbox - the mbox format (RFC 4155, the mboxrd flavour) as facteurctl
 * mailbox export writes it and import reads it.
 *
 * A message starts with a "From SENDER DATE" line (DATE in asctime form,
 * UTC) and ends with an empty line.  Lines of the message matching
 * ^>*From  get one more '>' (mboxrd), so any such line can be told from
 * a message's start, and the reader takes one '>' off lines matching
 * ^>+From  (an mboxo file's own ">From " lines lose theirs: that format
 * cannot tell them apart).  The file has LF line endings; the store's
 * messages have CRLF ones (RFC 5322): the writer turns CRLF into LF, the
 * reader LF into CRLF.  A file whose first line ends in CRLF is read as
 * one with CRLF lines (one CR taken off each line); in any other, CRs
 * stay as they are, so a stray CR at a line's end comes back too.
 *
 * Flags travel as Dovecot and mutt write them, at the end of the header:
 * "Status: RO" (R: \Seen), "X-Status: AFTD" (\Answered, \Flagged, \Draft,
 * \Deleted), "X-Keywords: word word".  The reader takes these headers
 * out of the message again, so a message exported and imported is the
 * same bytes (unless it lacked a final newline: it gains one).
 *
 * The reader is pushed bytes as they come and never holds more than a
 * line (at most MBOX_LINE_KEEP bytes of it) or the output buffer: a
 * message may be any size.
 */
#ifndef FACTEUR_MBOX_H
#define FACTEUR_MBOX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What the reader looks at of a line; longer lines pass through. */
#define MBOX_LINE_KEEP 8192
/* Keywords kept from X-Keywords (blank-separated, NUL included). */
#define MBOX_KEYWORDS_SIZE 2048

/* The end of a message. */
struct mbox_end {
	unsigned long line;	/* of its From line */
	int complete;		/* 0: the file ended inside it (no empty line after it) */
	unsigned int flags;	/* MSTORE_F_* (store/mstore.h) from Status and X-Status */
	const char *keywords;	/* from X-Keywords: valid IMAP atoms, blank-separated; "" */
	uint64_t size;		/* bytes given to data */
};

/*
 * The reader's callbacks: begin at a From line (date: Unix time, 0 if
 * the line has none that can be read), data with the message's bytes
 * (CRLF lines, flag headers taken out), end once per begin.  A non-zero
 * return (use positive values) stops the reader: feed and finish return
 * it, then and at every later call.
 */
struct mbox_reader_cb {
	int (*begin)(void *ctx, unsigned long line, int64_t date);
	int (*data)(void *ctx, const void *buf, size_t len);
	int (*end)(void *ctx, const struct mbox_end *e);
};

struct mbox_reader;

struct mbox_reader *mbox_reader_new(const struct mbox_reader_cb *cb, void *ctx);
/*
 * Push the next bytes of the file: 0, a callback's stop value, or -1 when
 * the file is not an mbox (it does not start with a From line):
 * mbox_reader_error says where.
 */
int mbox_reader_feed(struct mbox_reader *r, const void *buf, size_t len);
/* The end of the file: ends the last message (complete or not).  As feed. */
int mbox_reader_finish(struct mbox_reader *r);
const char *mbox_reader_error(const struct mbox_reader *r);
/* Messages begun so far. */
unsigned long mbox_reader_messages(const struct mbox_reader *r);
void mbox_reader_free(struct mbox_reader **r);

/*
 * The date of a From line (s, n bytes, without its line ending, "From "
 * included) into *date_r: 0, or -1 if it has none in asctime form
 * ("Www Mmm dd hh:mm:ss yyyy", a zone "+hhmm" or a name before or after
 * the year).  Only a line with a date separates messages after the
 * first one.
 */
int mbox_from_date(const char *s, size_t n, int64_t *date_r);

/*
 * The envelope sender of a message (its leading Return-Path header, as
 * lmtpd writes it) into out, "" for none or "<>".
 */
void mbox_envelope_sender(const void *data, size_t len, char *out, size_t size);

/*
 * Write one message (data, len: as the store keeps it) to out as mboxrd:
 * its From line (sender NULL or "": MAILER-DAEMON; date in UTC), the
 * lines quoted, the flag headers, an empty line.  0, or -1 if out failed.
 */
int mbox_write(FILE *out, const char *sender, int64_t date, unsigned int flags,
    const char *keywords, const void *data, size_t len);

#endif
