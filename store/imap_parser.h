/* SPDX-License-Identifier: MIT */
/*
 * imap_parser - what an IMAP client sends, in two stages, without I/O.
 *
 * The reader frames commands as bytes arrive: a command is a line, or a
 * line ending in a literal announcement ({n}, {n+} of LITERAL+, ~{n} of
 * BINARY) followed by n bytes and the rest of the command.  It stops at a
 * synchronizing literal so that imapd can send "+ Ready" (or refuse a
 * literal too large before the client sends it), and it bounds line
 * length, literal size and whole-command size.  It never consumes past
 * the end of a command: what follows (the next command, IDLE's DONE, an
 * AUTHENTICATE response) stays in the caller's buffer.
 *
 * The parser turns one whole command into its tag, its name and a tree
 * of arguments: atoms (fetch attributes keep their [section]<partial>
 * inside the atom), quoted strings, literals, parenthesized lists.  It
 * also holds the small grammars every command shares: sequence sets
 * (with * and SEARCHRES's $), dates, flags and modified UTF-7 mailbox
 * names.  Everything a peer sends is a defined result, never a crash
 * (fuzzed in tests/fuzz/fuzz_imap_command.c).
 */
#ifndef FACTEUR_IMAP_PARSER_H
#define FACTEUR_IMAP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- framing ---- */

struct imap_reader_limits {
	size_t max_line;	/* bytes of one line, CRLF excluded */
	size_t max_literal;	/* one literal of any command but APPEND */
	size_t max_append_literal;	/* one literal of APPEND (the message) */
	size_t max_command;	/* a whole command, literals included */
};

#define IMAP_DEFAULT_MAX_LINE 65536
#define IMAP_DEFAULT_MAX_LITERAL 65536

enum imap_read {
	IMAP_READ_MORE,		/* all input used; the command goes on */
	IMAP_READ_CONTINUE,	/* a synchronizing literal: send "+ ..." and feed on */
	IMAP_READ_COMMAND,	/* a whole command is ready (imap_reader_command) */
	IMAP_READ_ERROR,	/* see imap_reader_error(); then imap_reader_reset() */
};

enum imap_read_error {
	IMAP_RERR_NONE,
	IMAP_RERR_LINE_TOO_LONG,	/* the rest of the line cannot be framed: close */
	/* A literal over its limit or making the command too big: */
	IMAP_RERR_LITERAL_TOO_BIG,	/* synchronizing: refuse, the client sends nothing */
	IMAP_RERR_NONSYNC_TOO_BIG,	/* non-synchronizing: its bytes are coming: close */
};

struct imap_reader;

/* limits NULL: the defaults, with max_append_literal = max_literal. */
struct imap_reader *imap_reader_new(const struct imap_reader_limits *limits);
void imap_reader_free(struct imap_reader **r);
/* Change the limits (between commands). */
void imap_reader_set_limits(struct imap_reader *r, const struct imap_reader_limits *limits);
/*
 * Frame len bytes of input; *consumed_r says how many were taken (the
 * rest belongs to what follows the command, or is to be fed again after
 * CONTINUE).  After COMMAND or ERROR, call imap_reader_reset() before
 * feeding the next command.
 */
enum imap_read imap_reader_feed(struct imap_reader *r, const void *data, size_t len,
    size_t *consumed_r);
/* The whole command (CRLF excluded, literals inline); NUL-terminated. */
const char *imap_reader_command(const struct imap_reader *r, size_t *len_r);
enum imap_read_error imap_reader_error(const struct imap_reader *r);
/* Size of the literal announced by the last CONTINUE or LITERAL_TOO_BIG. */
uint64_t imap_reader_literal_size(const struct imap_reader *r);
/* The tag of the command being framed, when its first word was seen (else NULL). */
const char *imap_reader_tag(struct imap_reader *r);
/* Bytes of the command gathered so far (for a quick first look at it). */
size_t imap_reader_pending(const struct imap_reader *r);
void imap_reader_reset(struct imap_reader *r);

/* ---- arguments ---- */

enum imap_arg_type {
	IMAP_ARG_ATOM,		/* also NIL, numbers, flags, fetch attributes */
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,	/* {n} or {n+}; literal8 set for ~{n} */
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	int literal8;
	char *str;		/* NUL-terminated (a literal may hold NULs: see len) */
	size_t len;
	struct imap_arg *list;	/* IMAP_ARG_LIST */
	unsigned int count;
};

struct imap_command {
	char *tag;
	char *name;		/* upper case; "UID FETCH" style for UID commands */
	struct imap_arg *args;
	unsigned int count;
	char *buf_;		/* the parser's copy of the command */
};

#define IMAP_MAX_DEPTH 32
#define IMAP_MAX_ARGS 100000

/*
 * Parse a whole command as the reader gives it.  Returns 0, or -1 with
 * *error_r a human text for a BAD; *tag_r is then the tag when one could
 * be read (else NULL; the caller answers "* BAD").  Either way cmd_r is
 * freed with imap_command_free() (which *tag_r points into).
 */
int imap_command_parse(const char *data, size_t len, struct imap_command *cmd_r,
    const char **tag_r, const char **error_r);
void imap_command_free(struct imap_command *cmd);
/* The tag of a command line, copied into buf when it is a valid tag; NULL otherwise. */
const char *imap_tag_peek(const char *data, size_t len, char *buf, size_t size);

/* 1 if the tag is valid: one or more ASTRING-CHARs but '+'. */
int imap_tag_valid(const char *tag);

/* Argument helpers: 1 when arg is of the kind, its value in the output parameter. */
int imap_arg_atom(const struct imap_arg *arg, const char **atom_r);
int imap_arg_is_nil(const struct imap_arg *arg);
/* astring: an atom, a quoted string or a literal (not NUL-containing). */
int imap_arg_astring(const struct imap_arg *arg, const char **str_r);
/* string: quoted or literal only; nstring also takes NIL (*str_r NULL). */
int imap_arg_string(const struct imap_arg *arg, const char **str_r);
int imap_arg_nstring(const struct imap_arg *arg, const char **str_r);
int imap_arg_list(const struct imap_arg *arg, const struct imap_arg **list_r,
    unsigned int *count_r);
/* number (32 bits) and number64 (63 bits, RFC 9051 number64). */
int imap_arg_number(const struct imap_arg *arg, uint32_t *n_r);
int imap_arg_number64(const struct imap_arg *arg, uint64_t *n_r);
int imap_parse_number64(const char *s, uint64_t *n_r);

/* ---- sequence sets ---- */

/* "*" in a range before imap_seqset_resolve(). */
#define IMAP_SEQ_STAR UINT32_MAX

struct imap_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_range *v;
	unsigned int count;
	int saved;		/* "$": the result SEARCH saved (RFC 5182) */
};

/* 0, or -1 for bad syntax (0 is not a number of a set). */
int imap_seqset_parse(const char *s, struct imap_seqset *set_r);
void imap_seqset_free(struct imap_seqset *set);
/* Replace * with max and order each range's ends. */
void imap_seqset_resolve(struct imap_seqset *set, uint32_t max);
/* 1 if n is in the (resolved) set. */
int imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
/*
 * Write a sorted list of numbers as a set ("1:3,7") into a growing string
 * (*buf of *size, realloc'd).  Returns the length.
 */
size_t imap_seqset_format(const uint32_t *v, size_t n, char **buf, size_t *size);

/* ---- dates ---- */

/* date: "1-Feb-2024" or "01-Feb-2024", maybe quoted; 0 and the day (00:00 UTC). */
int imap_parse_date(const char *s, time_t *t_r);
/* date-time: "dd-Mmm-yyyy hh:mm:ss +zzzz"; 0, *t_r and the zone in minutes. */
int imap_parse_datetime(const char *s, time_t *t_r, int *tz_minutes_r);
/* Format t in zone tz (minutes east) as a date-time (27 bytes). */
void imap_format_datetime(time_t t, int tz_minutes, char *buf, size_t size);

/* ---- mailbox names ---- */

/*
 * Modified UTF-7 (RFC 3501 5.1.3) to UTF-8; -1 for bad syntax or a
 * result that is not valid UTF-8.  The result is malloc'd.
 */
int imap_mutf7_decode(const char *in, char **out_r);
/* UTF-8 to modified UTF-7; malloc'd. */
char *imap_mutf7_encode(const char *in);
/* 1 if s is valid UTF-8 without NUL or control characters. */
int imap_utf8_valid(const char *s, size_t len);

/* ---- output ---- */

/*
 * A growing output buffer for responses.  Strings go out quoted when
 * they are short 7-bit text without CR or LF, else as literals: never as
 * atoms, so no client has to guess.
 */
struct imap_out {
	char *data;
	size_t len;
	size_t size;
};

void imap_out_add(struct imap_out *o, const void *data, size_t len);
void imap_out_printf(struct imap_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string: quoted when it can be, else a literal. */
void imap_out_string(struct imap_out *o, const char *s, size_t len);
/* NIL for NULL. */
void imap_out_nstring(struct imap_out *o, const char *s);
void imap_out_free(struct imap_out *o);

#endif
