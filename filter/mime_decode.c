/* SPDX-License-Identifier: MIT */
/*
 * mime_decode - base64 and quoted-printable decoders.  See mime_decode.h.
 */
#include "facteur-config.h"

#include <string.h>

#include "filter/mime_decode.h"

static const signed char b64_table[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
	['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
	['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,
	['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
	['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
	['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59,
	['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

int
mime_base64_value(unsigned char c)
{
	/* The table holds value + 1 so that 0 can mean "not base64". */
	return b64_table[c] - 1;
}

int
mime_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
base64_decoder_init(struct base64_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

/* Emit the bytes a partial quantum of n sextets holds (n = 2 or 3). */
static size_t
base64_flush_partial(struct base64_decoder *d, unsigned char *out)
{
	size_t n = 0;

	if (d->nbits == 2) {
		out[n++] = (unsigned char)(d->bits >> 4);
	} else if (d->nbits == 3) {
		out[n++] = (unsigned char)(d->bits >> 10);
		out[n++] = (unsigned char)(d->bits >> 2);
	}
	d->bits = 0;
	d->nbits = 0;
	return n;
}

size_t
base64_decode_feed(struct base64_decoder *d, const void *in, size_t len, unsigned char *out,
    int final)
{
	const unsigned char *s = in;
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = s[i];
		int v = b64_table[c] - 1;

		if (v >= 0) {
			if (d->padded) {
				/* Data after the padding: a second base64 run glued on. */
				d->padded = 0;
			}
			d->bits = (d->bits << 6) | (unsigned int)v;
			if (++d->nbits == 4) {
				out[n++] = (unsigned char)(d->bits >> 16);
				out[n++] = (unsigned char)(d->bits >> 8);
				out[n++] = (unsigned char)d->bits;
				d->bits = 0;
				d->nbits = 0;
			}
			continue;
		}
		if (c == '=') {
			if (!d->padded) {
				if (d->nbits < 2)
					d->bad++;
				n += base64_flush_partial(d, out + n);
				d->padded = 1;
			}
			continue;
		}
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		d->bad++;
	}
	if (final && d->nbits > 0) {
		/* Truncated: keep what the sextets hold, but say so. */
		d->bad++;
		n += base64_flush_partial(d, out + n);
	}
	return n;
}

void
qp_decoder_init(struct qp_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

size_t
qp_decode_line(struct qp_decoder *d, const void *line, size_t len, int eol, unsigned char *out)
{
	const unsigned char *s = line;
	size_t i = 0, end = len, n = 0;

	d->hard_break = 0;
	if (eol) {
		/* Strip the line end, then the transport padding before it. */
		if (end > 0 && s[end - 1] == '\n')
			end--;
		if (end > 0 && s[end - 1] == '\r')
			end--;
		while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
	}
	while (i < end) {
		unsigned char c = s[i];

		if (d->npending == 0) {
			if (c == '=') {
				d->pending[0] = c;
				d->npending = 1;
			} else {
				out[n++] = c;
			}
			i++;
			continue;
		}
		if (mime_hex_value(c) < 0) {
			/* "=" not followed by two hex digits: keep it as it was. */
			d->bad++;
			memcpy(out + n, d->pending, d->npending);
			n += d->npending;
			d->npending = 0;
			continue;	/* c starts afresh */
		}
		if (d->npending == 1) {
			d->pending[1] = c;
			d->npending = 2;
		} else {
			out[n++] = (unsigned char)(mime_hex_value(d->pending[1]) << 4 |
			    mime_hex_value(c));
			d->npending = 0;
		}
		i++;
	}
	if (!eol)
		return n;
	if (d->npending == 1) {
		/* "=" at the end of the line: a soft break. */
		d->npending = 0;
		return n;
	}
	if (d->npending == 2) {
		d->bad++;
		memcpy(out + n, d->pending, 2);
		n += 2;
		d->npending = 0;
	}
	out[n++] = '\r';
	out[n++] = '\n';
	d->hard_break = 1;
	return n;
}

size_t
qp_decode_finish(struct qp_decoder *d, unsigned char *out)
{
	size_t n = 0;

	/* A lone "=" ending the part is a soft break before nothing. */
	if (d->npending == 2) {
		d->bad++;
		memcpy(out, d->pending, 2);
		n = 2;
	}
	d->npending = 0;
	return n;
}
