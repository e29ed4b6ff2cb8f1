/* SPDX-License-Identifier: MIT */
/*
 * imap_message - a message's structure as IMAP serves it: what FETCH
 * sends and what SEARCH and SORT read.
 *
 * A message is read whole from its blob (mapped) and parsed into a tree
 * of parts with byte offsets: header block, body, line count, the MIME
 * fields BODYSTRUCTURE reports, multipart children and the message inside
 * a message/rfc822 part.  Sections (BODY[1.2.HEADER.FIELDS (From)]<0.100>)
 * are slices of the blob; BINARY[] decodes base64 and quoted-printable
 * (filter/mime_decode.h).  Depth and part counts are bounded; malformed
 * MIME gives a structure, never an error (fuzzed in
 * tests/fuzz/fuzz_imap_message.c).
 */
#ifndef FACTEUR_IMAP_MESSAGE_H
#define FACTEUR_IMAP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "store/imap_parser.h"

struct imap_message;

/* Map size bytes of fd (the caller closes it) and parse them.  NULL with *error_r. */
struct imap_message *imap_message_map(int fd, uint64_t size, const char **error_r);
/* Parse bytes already in memory (tests, fuzzing); data must outlive the message. */
struct imap_message *imap_message_parse(const char *data, size_t len);
void imap_message_free(struct imap_message **m);

/* The whole message; its top-level header block (blank line included); its body. */
void imap_message_data(const struct imap_message *m, const char **data_r, size_t *len_r);
void imap_message_header_block(const struct imap_message *m, const char **data_r,
    size_t *len_r);
void imap_message_body(const struct imap_message *m, const char **data_r, size_t *len_r);
/*
 * The first header field name of the top-level message, unfolded, raw
 * (encoded-words left as they are); malloc'd, NULL if absent.
 */
char *imap_message_header(const struct imap_message *m, const char *name);
/* fn for each field called name, unfolded; stops at fn's first non-zero, returned. */
int imap_message_header_each(const struct imap_message *m, const char *name,
    int (*fn)(void *ctx, const char *value), void *ctx);
/*
 * The same on a bare header block (the mail store's header cache), with
 * no message parsed: the first field called name (malloc'd, NULL if
 * absent), or fn for each.
 */
char *imap_header_block_get(const char *data, size_t len, const char *name);
int imap_header_block_each(const char *data, size_t len, const char *name,
    int (*fn)(void *ctx, const char *value), void *ctx);
/*
 * The text of every text/ leaf part, transfer-decoded and converted to
 * UTF-8 (HTML as it is), given to fn in pieces.
 */
void imap_message_text(const struct imap_message *m,
    void (*fn)(void *ctx, const char *utf8, size_t len), void *ctx);

/* Append the ENVELOPE or BODYSTRUCTURE (extensible) of a message. */
void imap_message_envelope(const struct imap_message *m, struct imap_out *o);
void imap_message_bodystructure(const struct imap_message *m, struct imap_out *o, int extensible);

/*
 * A section spec as it appears between the brackets of BODY[...]
 * ("", "HEADER", "1.2.MIME", "HEADER.FIELDS (From To)"): its bytes are
 * appended to out (which the caller frees).  0, or -1 for a bad spec or
 * a part that does not exist.
 */
int imap_message_section(const struct imap_message *m, const char *spec, struct imap_out *out);
/* BINARY[part]: the decoded bytes; -1 bad part, -2 unknown transfer encoding. */
int imap_message_binary(const struct imap_message *m, const char *spec, struct imap_out *out);

#endif
