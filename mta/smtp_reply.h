/* SPDX-License-Identifier: MIT */
/*
 * smtp_reply - the SMTP client's reply parser (no I/O, no state beyond
 * the reply being assembled).
 *
 * A next hop's lines go in, a complete reply comes out: its code, its
 * enhanced status code (RFC 3463) and its text.  Everything a peer can
 * send is a defined result, never a crash: a fuzz target drives
 * smtp_reply_parse() with arbitrary bytes.
 */
#ifndef FACTEUR_SMTP_REPLY_H
#define FACTEUR_SMTP_REPLY_H

#include <stddef.h>

/* Longest reply line we accept (RFC 5321 says 512; be generous). */
#define SMTP_REPLY_LINE_MAX 4096
/* A reply is cut at this many bytes of text; the rest is dropped. */
#define SMTP_REPLY_TEXT_MAX 2048
#define SMTP_REPLY_LINES_MAX 200

struct smtp_reply {
	int code;		/* 200..599; 0 until the first line */
	int complete;		/* the last line ("250 ...") was seen */
	unsigned int nlines;
	char dsn[16];		/* "5.1.1": from the text, or derived from code */
	size_t len;
	char text[SMTP_REPLY_TEXT_MAX];	/* lines after "NNN-", joined with '\n' */
};

/* Start a new reply. */
void smtp_reply_init(struct smtp_reply *reply);
/*
 * Add one line (without CRLF; need not be NUL-terminated).  Returns 1 when
 * the reply is complete, 0 when more lines must follow, -1 with *error_r
 * when the line is not part of a valid reply (bad code, code changed
 * between lines, too many lines).
 */
int smtp_reply_add_line(struct smtp_reply *reply, const char *line, size_t len,
    const char **error_r);
/*
 * Parse one reply from the start of data (CRLF or LF line ends).  Returns 1
 * with *consumed_r the bytes used, 0 if data holds no complete reply yet,
 * -1 with *error_r if it is malformed (or a line exceeds SMTP_REPLY_LINE_MAX).
 */
int smtp_reply_parse(const char *data, size_t len, struct smtp_reply *reply_r,
    size_t *consumed_r, const char **error_r);
/*
 * One-line text for logs and DSNs: "550 5.1.1 <a@b>: unknown user" (lines
 * joined with a blank, control characters replaced).  Returns buf.
 */
const char *smtp_reply_str(const struct smtp_reply *reply, char *buf, size_t size);

/* EHLO extensions the client uses. */
#define SMTP_EXT_PIPELINING 0x01
#define SMTP_EXT_SIZE 0x02
#define SMTP_EXT_8BITMIME 0x04
#define SMTP_EXT_SMTPUTF8 0x08
#define SMTP_EXT_STARTTLS 0x10
#define SMTP_EXT_CHUNKING 0x20
#define SMTP_EXT_DSN 0x40
/* lmtpd's: MAIL FROM takes XQID=<queue id>, naming the delivery (store/lmtpd.h). */
#define SMTP_EXT_XQID 0x80

/* The extensions of a complete EHLO reply; *size_r is SIZE's limit or 0. */
unsigned int smtp_reply_ehlo(const struct smtp_reply *reply, unsigned long long *size_r);

#endif
