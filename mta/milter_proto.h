/* SPDX-License-Identifier: MIT */
/*
 * milter_proto - the packets of the milter protocol (version 6), encoded
 * and decoded without any I/O, so that the decoding of what a milter
 * sends can be fuzzed on its own.
 *
 * A packet is a 4-byte big-endian length, a command byte and data; the
 * length counts the command byte and the data.  The MTA sends SMFIC_*
 * commands and the milter answers with SMFIR_* replies.  The constants
 * are sendmail's (libmilter/mfdef.h and mfapi.h), repeated here so that
 * the MTA side does not need libmilter's headers.
 */
#ifndef FACTEUR_MILTER_PROTO_H
#define FACTEUR_MILTER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MILTER_VERSION 6
/* Largest body chunk we send (libmilter's MILTER_CHUNK_SIZE). */
#define MILTER_CHUNK_SIZE 65535
/*
 * Largest packet we accept from a milter.  We never offer the larger data
 * sizes (SMFIP_MDS_*), so 64 KB plus a header name would do; the margin
 * costs nothing and keeps odd milters working.
 */
#define MILTER_PACKET_MAX (1024 * 1024)

/* Commands, MTA to milter. */
#define SMFIC_ABORT 'A'
#define SMFIC_BODY 'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO 'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO 'H'
#define SMFIC_QUIT_NC 'K'
#define SMFIC_HEADER 'L'
#define SMFIC_MAIL 'M'
#define SMFIC_EOH 'N'
#define SMFIC_OPTNEG 'O'
#define SMFIC_QUIT 'Q'
#define SMFIC_RCPT 'R'
#define SMFIC_DATA 'T'
#define SMFIC_UNKNOWN 'U'

/* Replies, milter to MTA. */
#define SMFIR_ADDRCPT '+'
#define SMFIR_DELRCPT '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN '4'
#define SMFIR_ACCEPT 'a'
#define SMFIR_REPLBODY 'b'
#define SMFIR_CONTINUE 'c'
#define SMFIR_DISCARD 'd'
#define SMFIR_CHGFROM 'e'
#define SMFIR_CONN_FAIL 'f'
#define SMFIR_ADDHEADER 'h'
#define SMFIR_INSHEADER 'i'
#define SMFIR_SETSYMLIST 'l'
#define SMFIR_CHGHEADER 'm'
#define SMFIR_PROGRESS 'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT 'r'
#define SMFIR_SKIP 's'
#define SMFIR_TEMPFAIL 't'
#define SMFIR_REPLYCODE 'y'

/* Address families of SMFIC_CONNECT. */
#define SMFIA_UNKNOWN 'U'
#define SMFIA_UNIX 'L'
#define SMFIA_INET '4'
#define SMFIA_INET6 '6'

/* Actions a milter may take (negotiated). */
#define SMFIF_ADDHDRS 0x00000001u
#define SMFIF_CHGBODY 0x00000002u
#define SMFIF_ADDRCPT 0x00000004u
#define SMFIF_DELRCPT 0x00000008u
#define SMFIF_CHGHDRS 0x00000010u
#define SMFIF_QUARANTINE 0x00000020u
#define SMFIF_CHGFROM 0x00000040u
#define SMFIF_ADDRCPT_PAR 0x00000080u
#define SMFIF_SETSYMLIST 0x00000100u
#define SMFIF_ALL 0x000001ffu

/* Protocol steps a milter may ask the MTA to skip, or not to wait for. */
#define SMFIP_NOCONNECT 0x00000001u
#define SMFIP_NOHELO 0x00000002u
#define SMFIP_NOMAIL 0x00000004u
#define SMFIP_NORCPT 0x00000008u
#define SMFIP_NOBODY 0x00000010u
#define SMFIP_NOHDRS 0x00000020u
#define SMFIP_NOEOH 0x00000040u
#define SMFIP_NR_HDR 0x00000080u
#define SMFIP_NOUNKNOWN 0x00000100u
#define SMFIP_NODATA 0x00000200u
#define SMFIP_SKIP 0x00000400u
#define SMFIP_RCPT_REJ 0x00000800u
#define SMFIP_NR_CONN 0x00001000u
#define SMFIP_NR_HELO 0x00002000u
#define SMFIP_NR_MAIL 0x00004000u
#define SMFIP_NR_RCPT 0x00008000u
#define SMFIP_NR_DATA 0x00010000u
#define SMFIP_NR_UNKN 0x00020000u
#define SMFIP_NR_EOH 0x00040000u
#define SMFIP_NR_BODY 0x00080000u
#define SMFIP_HDR_LEADSPC 0x00100000u
#define SMFIP_MDS_256K 0x10000000u
#define SMFIP_MDS_1M 0x20000000u

/*
 * What facteur offers: every action, and every step flag except
 * SMFIP_RCPT_REJ (refused recipients are not shown to milters) and the
 * larger data sizes.
 */
#define MILTER_OFFER_ACTIONS SMFIF_ALL
#define MILTER_OFFER_PROTOCOL 0x001ff7ffu

/* A growable output buffer of encoded packets. */
struct milter_buf {
	unsigned char *data;
	size_t len, size;
};

void milter_buf_reset(struct milter_buf *b);
void milter_buf_free(struct milter_buf *b);

/*
 * Encoders: each appends one whole packet to b.  Strings are sent with
 * their terminating NUL, as the protocol wants.
 */
void milter_enc_packet(struct milter_buf *b, char cmd, const void *data, size_t len);
void milter_enc_optneg(struct milter_buf *b, uint32_t version, uint32_t actions,
    uint32_t protocol);
/* names_values: name, value, name, value, ..., NULL; NULL values are skipped. */
void milter_enc_macro(struct milter_buf *b, char stage, const char *const *names_values);
/* family SMFIA_*; port and addr are ignored for SMFIA_UNKNOWN. */
void milter_enc_connect(struct milter_buf *b, const char *hostname, char family,
    uint16_t port, const char *addr);
/* cmd SMFIC_HELO, SMFIC_MAIL or SMFIC_RCPT: n NUL-terminated strings. */
void milter_enc_strings(struct milter_buf *b, char cmd, const char *const *strs, size_t n);
void milter_enc_header(struct milter_buf *b, const char *name, size_t name_len,
    const char *value, size_t value_len);

/*
 * Split the first packet off buf.  Returns 1 with the command, its data
 * (pointing into buf) and the bytes used; 0 if buf holds only part of a
 * packet; -1 if the length is impossible (0 or above MILTER_PACKET_MAX).
 */
int milter_packet_split(const unsigned char *buf, size_t len, char *cmd_r,
    const unsigned char **data_r, size_t *data_len_r, size_t *used_r);

/* The milter's answer to SMFIC_OPTNEG. */
struct milter_optneg {
	uint32_t version, actions, protocol;
};

/* -1 with *error_r if data is not an OPTNEG answer. */
int milter_dec_optneg(const unsigned char *data, size_t len, struct milter_optneg *r,
    const char **error_r);

/*
 * One decoded reply.  Strings point into the packet data (which the
 * protocol NUL-terminates; the decoder checks that it does), so they live
 * as long as that data.
 */
struct milter_action {
	char cmd;		/* SMFIR_* */
	uint32_t index;		/* INSHEADER, CHGHEADER */
	const char *name;	/* header name; recipient; new sender */
	const char *value;	/* header value; ESMTP arguments (or NULL) */
	const unsigned char *body; /* REPLBODY chunk */
	size_t body_len;
	const char *text;	/* REPLYCODE reply, QUARANTINE reason */
	char stage;		/* SETSYMLIST */
};

/*
 * Decode a reply packet.  Returns 0, or -1 with *error_r (static text)
 * for an unknown command or malformed data.  A REPLYCODE is checked by
 * milter_reply_check() too.
 */
int milter_dec_reply(char cmd, const unsigned char *data, size_t len,
    struct milter_action *a, const char **error_r);

/*
 * Check and copy a milter's SMTP reply ("550 5.7.1 text", or several
 * lines "550-5.7.1 a\r\n550 5.7.1 b") into out: every line carries the
 * same 4xx or 5xx code, control characters become '?', lines are joined
 * with CRLF and no CRLF ends the text; lines that do not fit in size are
 * dropped (the last one kept is then made final).  Returns the reply
 * code, or -1 if text is not such a reply.
 */
int milter_reply_check(const char *text, char *out, size_t size);

/* One header field of a message, as it appears in it. */
struct milter_header {
	const char *name;	/* field name, without the colon */
	size_t name_len;
	const char *value;	/* everything after the colon, folding kept */
	size_t value_len;	/* without the final line end */
	const char *line;	/* the whole field, up to and including its line end */
	size_t line_len;
};

/*
 * Split message (CRLF or LF lines) into its header fields and body: the
 * header ends at the first empty line, or at the first line that is
 * neither a field nor a continuation (which then starts the body, as in
 * Postfix).  Returns the number of fields; *hdrs_r (malloc'd, may be NULL
 * when there are none) and *body_off_r (where the body starts, after the
 * empty line) are set.
 */
size_t milter_message_split(const char *message, size_t len, struct milter_header **hdrs_r,
    size_t *body_off_r);

/*
 * The value of a header as milters get it: CR dropped (folding is sent as
 * "\n" plus the whitespace, like sendmail and Postfix), and unless
 * leadspc, the blanks after the colon skipped.  Writes to out (at least
 * h->value_len + 1 bytes), NUL-terminated; returns the length.
 */
size_t milter_header_value(const struct milter_header *h, int leadspc, char *out);

#endif
