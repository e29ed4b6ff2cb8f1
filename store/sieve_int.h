/* SPDX-License-Identifier: MIT */
/*
 * sieve_int - what the Sieve compiler (sieve.c), interpreter
 * (sieve_run.c) and vacation rules (sieve_vacation.c) share: the compiled
 * tree and the view of a message.  Not a public interface.
 */
#ifndef FACTEUR_SIEVE_INT_H
#define FACTEUR_SIEVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store/sieve.h"

/* Extensions (require), as bits. */
enum sv_ext {
	SV_EXT_FILEINTO = 1u << 0,
	SV_EXT_REJECT = 1u << 1,
	SV_EXT_EREJECT = 1u << 2,
	SV_EXT_ENVELOPE = 1u << 3,
	SV_EXT_IMAP4FLAGS = 1u << 4,
	SV_EXT_COPY = 1u << 5,
	SV_EXT_BODY = 1u << 6,
	SV_EXT_VARIABLES = 1u << 7,
	SV_EXT_RELATIONAL = 1u << 8,
	SV_EXT_VACATION = 1u << 9,
	SV_EXT_NUMERIC = 1u << 10,	/* comparator-i;ascii-numeric */
	SV_EXT_SUBADDRESS = 1u << 11,
	SV_EXT_MAILBOX = 1u << 12,
	SV_EXT_OCTET = 1u << 13,	/* comparator-i;octet, always there */
	SV_EXT_CASEMAP = 1u << 14,	/* comparator-i;ascii-casemap, always there */
};

enum sv_match { SV_IS, SV_CONTAINS, SV_MATCHES, SV_COUNT, SV_VALUE };
enum sv_cmp { SV_CMP_CASEMAP, SV_CMP_OCTET, SV_CMP_NUMERIC };
enum sv_rel { SV_GT, SV_GE, SV_LT, SV_LE, SV_EQ, SV_NE };
enum sv_part { SV_ALL, SV_LOCALPART, SV_DOMAIN, SV_USER, SV_DETAIL };
enum sv_body { SV_BODY_TEXT, SV_BODY_RAW, SV_BODY_CONTENT };

/* set's modifiers (RFC 5229 4.1). */
#define SV_MOD_LOWER 0x01
#define SV_MOD_UPPER 0x02
#define SV_MOD_LOWERFIRST 0x04
#define SV_MOD_UPPERFIRST 0x08
#define SV_MOD_QUOTEWILDCARD 0x10
#define SV_MOD_LENGTH 0x20

/* A string of the script; vars: it holds "${" and variables is required. */
struct sv_str {
	char *s;
	size_t len;
	int vars;
};

struct sv_list {
	struct sv_str *v;
	size_t n;
};

enum sv_test_kind {
	SV_T_TRUE, SV_T_FALSE, SV_T_NOT, SV_T_ALLOF, SV_T_ANYOF, SV_T_ADDRESS, SV_T_ENVELOPE,
	SV_T_HEADER, SV_T_EXISTS, SV_T_SIZE, SV_T_BODY, SV_T_STRING, SV_T_HASFLAG,
	SV_T_MAILBOXEXISTS,
};

struct sv_test {
	enum sv_test_kind kind;
	int line;
	enum sv_match match;
	enum sv_cmp cmp;
	enum sv_rel rel;
	enum sv_part part;
	enum sv_body body;
	struct sv_list content_types;	/* body :content */
	int over;			/* size :over (else :under) */
	uint64_t limit;
	int has_a;			/* hasflag: a variable list was given */
	struct sv_list a;		/* header names, envelope parts, sources, variables, mailboxes */
	struct sv_list keys;
	struct sv_test *kids;		/* not, allof, anyof */
	size_t nkids;
};

enum sv_cmd_kind {
	SV_C_IF, SV_C_STOP, SV_C_KEEP, SV_C_DISCARD, SV_C_FILEINTO, SV_C_REDIRECT, SV_C_REJECT,
	SV_C_EREJECT, SV_C_VACATION, SV_C_SET, SV_C_SETFLAG, SV_C_ADDFLAG, SV_C_REMOVEFLAG,
};

struct sv_cmd;

struct sv_block {
	struct sv_cmd *cmds;
	size_t n;
};

/* if, elsif ..., else: test NULL for else. */
struct sv_branch {
	struct sv_test *test;
	struct sv_block block;
};

struct sv_cmd {
	enum sv_cmd_kind kind;
	int line;
	struct sv_branch *branches;	/* if */
	size_t nbranches;
	struct sv_str arg;		/* mailbox, address, reason, set's name */
	struct sv_str value;		/* set's value */
	int has_var;			/* setflag/addflag/removeflag with a variable */
	struct sv_str var;
	int has_flags;			/* keep/fileinto :flags */
	struct sv_list flags;		/* :flags, or the flag commands' list */
	int copy, create;
	unsigned int modifiers;		/* set */
	/* vacation */
	int has_days, has_subject, has_from, has_handle, mime;
	uint64_t days;
	struct sv_str subject, from, handle;
	struct sv_list addresses;
};

struct sieve_script {
	unsigned int ext;		/* SV_EXT_* required */
	struct sv_block top;
	void *arena;			/* where all of it lives (sieve.c) */
};

/* ---- the message, as tests and vacation see it ---- */

struct sv_header {
	const char *name;	/* into the message: not NUL-terminated */
	size_t name_len;
	char *raw;		/* unfolded, as written, NUL-terminated */
	char *value;		/* encoded-words decoded, UTF-8, trimmed */
};

struct sv_msg {
	const struct sieve_message *m;
	struct sv_header *h;
	size_t n;
	size_t body_off;	/* where the body starts in m->data */
	size_t size;		/* the message's size */
};

#define SV_MAX_HEADERS 2000
#define SV_MAX_HEADER_BYTES (1024 * 1024)

void sv_msg_init(struct sv_msg *mv, const struct sieve_message *m);
void sv_msg_free(struct sv_msg *mv);
/* The n-th field named name (ASCII case-insensitively), or NULL. */
const struct sv_header *sv_msg_header(const struct sv_msg *mv, const char *name, size_t nth);

/*
 * The addresses of an address-list header value (raw, unfolded): each
 * addr-spec, malloc'd, into *out (count returned, at most max); display
 * names, comments, groups and routes dropped.
 */
size_t sv_address_list(const char *raw, char **out, size_t max);

#endif
