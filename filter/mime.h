/* SPDX-License-Identifier: MIT */
/*
 * mime - a streaming MIME parser for messages as they arrive in DATA.
 *
 * smtpd pushes the message through mime_parser_feed() in whatever pieces
 * the network delivers; the parser calls back with each header (raw and
 * decoded to UTF-8), each part's transfer-decoded bytes, the UTF-8 text
 * of text parts (HTML rendered to text), the bytes of attachments and the
 * URLs it finds, so the body rules and the antivirus work while the
 * message streams in.  After mime_parser_finish() it describes every part
 * and lists the distinct URLs.
 *
 * Everything is bounded by struct mime_limits: nesting depth, part count,
 * header block size, line length, URL count.  Memory does not grow with
 * the message, only with its number of parts and URLs; time is linear.
 * Malformed MIME is never an error: the parser recovers as mail clients
 * do and records what it saw as named anomalies (MIME_*), which the
 * scoring stage turns into symbols.  The parser is not thread-safe; use
 * one per message.
 */
#ifndef FACTEUR_FILTER_MIME_H
#define FACTEUR_FILTER_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "filter/mime_header.h"

/* Anomalies, in a 32-bit mask (MIME_BIT()), with names for the symbols. */
enum mime_anomaly {
	MIME_MISSING_BOUNDARY,	/* multipart without a usable boundary: read as text */
	MIME_UNCLOSED_MULTIPART,	/* multipart ended without its close delimiter */
	MIME_EMPTY_MULTIPART,	/* multipart holding no part */
	MIME_BOUNDARY_PREFIX,	/* nested boundary and an enclosing one prefix each other */
	MIME_TOO_DEEP,		/* nesting beyond max_depth: the part is kept opaque */
	MIME_TOO_MANY_PARTS,	/* parts beyond max_parts are skipped */
	MIME_HEADER_TOO_LONG,	/* header block beyond max_header_block: the rest dropped */
	MIME_LINE_TOO_LONG,	/* a line over 998 bytes (RFC 5322) */
	MIME_HEADER_NO_COLON,	/* a header line that is not a field: ends the headers */
	MIME_8BIT_HEADER,	/* raw 8-bit bytes in a header */
	MIME_NUL_BYTE,		/* NUL in a header or a body line */
	MIME_BARE_CR_LF,	/* bare CR, or CRLF and bare LF line ends mixed */
	MIME_BAD_BASE64,	/* characters outside base64, or a truncated quantum */
	MIME_BAD_QP,		/* "=" not followed by two hex digits */
	MIME_UNKNOWN_ENCODING,	/* Content-Transfer-Encoding not known: read as 8bit */
	MIME_BAD_CHARSET,	/* charset unknown: read as latin-1 */
	MIME_CHARSET_ERROR,	/* bytes invalid in their declared charset */
	MIME_BAD_ENCODED_WORD,	/* malformed RFC 2047 encoded-word */
	MIME_BAD_CONTENT_TYPE,	/* Content-Type without type/subtype: read as text/plain */
	MIME_BAD_PARAMETER,	/* parameter syntax, duplicates, RFC 2231 gaps */
	MIME_DUPLICATE_HEADER,	/* a second Content-Type, -Transfer-Encoding or -Disposition */
	MIME_TOO_MANY_URLS,	/* distinct URLs beyond max_urls are dropped */
	MIME_ANOMALY_COUNT
};

#define MIME_BIT(a) (UINT32_C(1) << (a))

struct mime_limits {
	unsigned int max_depth;		/* nested multiparts and messages */
	unsigned int max_parts;		/* parts, the message itself included */
	size_t max_header_block;	/* bytes of headers per part */
	size_t max_line;		/* longer lines are cut in pieces of this size */
	unsigned int max_urls;		/* distinct URLs kept */
};

#define MIME_DEFAULT_MAX_DEPTH 20
#define MIME_DEFAULT_MAX_PARTS 1000
#define MIME_DEFAULT_MAX_HEADER_BLOCK 65536
#define MIME_DEFAULT_MAX_LINE 65536
#define MIME_DEFAULT_MAX_URLS 1000

enum mime_encoding {
	MIME_ENC_7BIT,
	MIME_ENC_8BIT,
	MIME_ENC_BINARY,
	MIME_ENC_QP,
	MIME_ENC_BASE64,
	MIME_ENC_UNKNOWN,	/* read as 8bit */
};

enum mime_disposition {
	MIME_DISP_NONE,
	MIME_DISP_INLINE,
	MIME_DISP_ATTACHMENT,
	MIME_DISP_OTHER,
};

struct mime_part {
	unsigned int index;	/* order of appearance; 0 is the message */
	int parent;		/* index of the enclosing part, -1 for the message */
	unsigned int depth;	/* 0 for the message */
	char type[32];		/* lower case; "text"/"plain" when not given */
	char subtype[64];
	const char *charset;	/* Content-Type's charset, "" when none */
	const char *boundary;	/* NULL when none */
	const char *filename;	/* disposition filename, else Content-Type name, else NULL */
	enum mime_disposition disposition;
	enum mime_encoding encoding;
	struct mime_params params;		/* Content-Type's, values in UTF-8 */
	struct mime_params disposition_params;
	uint64_t raw_size;	/* body bytes as sent */
	uint64_t decoded_size;	/* body bytes after transfer decoding */
	uint64_t text_size;	/* UTF-8 text given to the text callback */
	uint32_t anomalies;	/* MIME_BIT()s seen in this part */
	int is_multipart;	/* parsed as a multipart (has parts) */
	int is_message;		/* parsed as message/rfc822 (has one part) */
	int is_text;		/* its text goes to the text callback: text/, or named *.html */
	int is_html;		/* ... rendered from HTML: text/html, or named *.html */
	int is_attachment;	/* its bytes go to the attachment callback */
};

struct mime_header {
	const char *name;	/* as written */
	const char *raw;	/* value as written, folded, without the leading blanks */
	size_t raw_len;
	const char *value;	/* unfolded, encoded-words decoded, UTF-8, trimmed */
	size_t value_len;
};

/*
 * Callbacks, each optional.  The part is the parser's: it stays valid
 * until mime_parser_free(), but fields learned from its headers are only
 * complete from part_begin on.
 */
struct mime_callbacks {
	void *context;
	/* Each header of each part, as its field ends. */
	void (*header)(void *context, const struct mime_part *part, const struct mime_header *hdr);
	/* A part's header block is over: its type, encoding and names are known. */
	void (*part_begin)(void *context, const struct mime_part *part);
	/* Transfer-decoded body bytes of every leaf part (SpamAssassin's rawbody). */
	void (*raw_body)(void *context, const struct mime_part *part, const void *data, size_t len);
	/* UTF-8 text of text/ parts, HTML rendered, line ends as "\n". */
	void (*text)(void *context, const struct mime_part *part, const char *utf8, size_t len);
	/* Transfer-decoded bytes of attachments (non-text parts, or named, or attachment). */
	void (*attachment)(void *context, const struct mime_part *part, const void *data,
	    size_t len);
	/* Each distinct URL, when first found. */
	void (*url)(void *context, const struct mime_part *part, const char *url, size_t len);
	/* A part is over, with its sizes; multiparts after their last part. */
	void (*part_end)(void *context, const struct mime_part *part);
};

struct mime_parser;

/* Fill limits_r with the defaults. */
void mime_limits_default(struct mime_limits *limits_r);

/* limits and callbacks may be NULL (defaults, none); both are copied. */
struct mime_parser *mime_parser_new(const struct mime_limits *limits,
    const struct mime_callbacks *callbacks);
/* Push len bytes of the message (as sent, after SMTP dot-unstuffing). */
void mime_parser_feed(struct mime_parser *p, const void *data, size_t len);
/* End of the message: closes every open part.  Feeding after is ignored. */
void mime_parser_finish(struct mime_parser *p);
void mime_parser_free(struct mime_parser **p);

unsigned int mime_parser_part_count(const struct mime_parser *p);
const struct mime_part *mime_parser_part(const struct mime_parser *p, unsigned int i);
unsigned int mime_parser_url_count(const struct mime_parser *p);
const char *mime_parser_url(const struct mime_parser *p, unsigned int i);
/* MIME_BIT()s of every anomaly seen, and how often one was seen. */
uint32_t mime_parser_anomalies(const struct mime_parser *p);
unsigned int mime_parser_anomaly_count(const struct mime_parser *p, enum mime_anomaly a);

/* "MIME_BAD_BASE64", or "MIME_?" for a value out of range. */
const char *mime_anomaly_name(enum mime_anomaly a);
/* Write the names in mask, comma-separated, as snprintf(3) does. */
size_t mime_anomalies_str(uint32_t mask, char *buf, size_t size);
/*
 * The parts SpamAssassin reads.  Body text (its rendered body): text/plain,
 * text/html, a part named *.html, a multipart without a boundary.  Raw
 * text (its rawbody, decoded bytes): every text/ part but text/calendar,
 * those named *.html, and message/ leaves.
 */
int mime_part_is_body_text(const struct mime_part *part);
/*
 * 1 if name (NULL: 0) ends in .html, .htm, .shtml or .shtm, in any case:
 * mail clients open such a part as a page, and SpamAssassin reads it as
 * text/html (Node.pm's effective type, /\.s?html?$/i).
 */
int mime_name_is_html(const char *name);
int mime_part_is_raw_text(const struct mime_part *part);
/* A Content-Type parameter of part (name in lower case), or NULL. */
const char *mime_part_param(const struct mime_part *part, const char *name);

#endif
