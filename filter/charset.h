/* SPDX-License-Identifier: MIT */
/*
 * charset - streaming conversion of text in a declared charset to UTF-8.
 *
 * Mail declares its charsets loosely: the names are misspelt or invented,
 * the bytes do not always match the name, and a character may be split
 * across the lines or encoded-words it travels in.  A converter keeps an
 * incomplete trailing sequence for the next call, replaces invalid bytes
 * with U+FFFD instead of failing, and reads an unknown charset as
 * latin-1 so that no text is lost to the body rules.  Undeclared text and
 * US-ASCII are taken as UTF-8 where they are valid UTF-8 and as latin-1
 * byte by byte where they are not, which is what mail clients display.
 * glibc's iconv does the real charsets.  "Latin-1" is read as
 * Windows-1252, as mail clients, browsers (WHATWG) and SpamAssassin read
 * ISO-8859-1: 0x80 - 0x9f are curly quotes, dashes, the euro sign.
 */
#ifndef FACTEUR_FILTER_CHARSET_H
#define FACTEUR_FILTER_CHARSET_H

#include <stddef.h>

#include "filter/strbuf.h"

struct charset_conv;

/*
 * A converter from charset name (NULL or "" for undeclared).  *known_r is
 * set to 0 when the name is not one iconv knows: the converter then reads
 * latin-1.  Never returns NULL.
 */
struct charset_conv *charset_conv_new(const char *name, int *known_r);
void charset_conv_free(struct charset_conv **conv);
/* Forget any state, for a new text in the same charset. */
void charset_conv_reset(struct charset_conv *conv);
/*
 * The code point of a Windows-1252 byte; the five bytes it leaves
 * unassigned (0x81, 0x8d, 0x8f, 0x90, 0x9d) give their C1 control.
 */
unsigned long charset_w1252_cp(unsigned char c);
/*
 * For the text of a MIME part (Node.pm's _normalize, which tries UTF-8
 * before the declared charset): a converter for ISO-8859-1 or
 * Windows-1252 takes valid UTF-8 sequences as UTF-8, the other bytes as
 * declared, so that UTF-8 mislabelled latin-1 reads as what it is.
 * Header words keep their declared charset (SpamAssassin insists on it).
 */
void charset_conv_prefer_utf8(struct charset_conv *conv);
/* 0 if conv reads latin-1 because its charset was unknown. */
int charset_conv_known(const struct charset_conv *conv);
/* 1 if conv was made for name (ASCII case-insensitively). */
int charset_conv_is(const struct charset_conv *conv, const char *name);

/*
 * Convert len bytes, appending UTF-8 to out.  An incomplete sequence at
 * the end is kept for the next call unless final is set, when it becomes
 * U+FFFD.  Returns the number of invalid sequences replaced.
 */
unsigned int charset_conv_feed(struct charset_conv *conv, const void *in, size_t len,
    struct strbuf *out, int final);

/*
 * Append undeclared bytes as UTF-8: valid UTF-8 as it is, other bytes as
 * latin-1 (raw 8-bit header text).  NUL bytes become spaces.
 */
void charset_raw_to_utf8(const void *in, size_t len, struct strbuf *out);

#endif
