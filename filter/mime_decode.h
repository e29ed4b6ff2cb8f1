/* SPDX-License-Identifier: MIT */
/*
 * mime_decode - streaming decoders for the base64 and quoted-printable
 * content transfer encodings.
 *
 * A body arrives in lines and chunks whose edges fall anywhere: inside a
 * base64 quantum or between "=" and its two hex digits.  Each decoder
 * keeps what it needs across calls in a few bytes of state, so the output
 * is the same however the input was cut.  Damage (characters outside the
 * alphabet, a truncated quantum, "=" not followed by hex) is counted and
 * decoded as leniently as mail clients do, never refused.
 */
#ifndef FACTEUR_FILTER_MIME_DECODE_H
#define FACTEUR_FILTER_MIME_DECODE_H

#include <stddef.h>

struct base64_decoder {
	unsigned int bits;	/* sextets gathered, high first */
	unsigned int nbits;	/* how many sextets (0-3) */
	unsigned int padded;	/* '=' seen: the quantum is over */
	unsigned int bad;	/* damage seen so far */
};

struct qp_decoder {
	unsigned char pending[2];	/* "=" and maybe one hex digit */
	unsigned int npending;
	unsigned int bad;
	int hard_break;		/* the last line decoded ended with the CRLF written last */
};

void base64_decoder_init(struct base64_decoder *d);
/*
 * Decode len bytes into out, which has room for len * 3 / 4 + 3 bytes;
 * returns the bytes written.  final flushes a partial quantum.
 */
size_t base64_decode_feed(struct base64_decoder *d, const void *in, size_t len,
    unsigned char *out, int final);

void qp_decoder_init(struct qp_decoder *d);
/*
 * Decode one line (or, with eol 0, the first part of one) into out, which
 * has room for len + 4 bytes; returns the bytes written.  Trailing blanks
 * of a whole line are transport padding and dropped; a hard line break
 * becomes CRLF; a soft one ("=" at the end) disappears.
 */
size_t qp_decode_line(struct qp_decoder *d, const void *line, size_t len, int eol,
    unsigned char *out);
/* At the end of the part: a dangling "=" is damage, kept literally. */
size_t qp_decode_finish(struct qp_decoder *d, unsigned char *out);

/* Value of hex digit c, or -1. */
int mime_hex_value(unsigned char c);
/* Value of base64 character c, or -1. */
int mime_base64_value(unsigned char c);

#endif
