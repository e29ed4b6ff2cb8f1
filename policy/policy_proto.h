/* SPDX-License-Identifier: MIT */
/*
 * policy_proto - Postfix's policy delegation protocol (SMTPD_POLICY_README):
 * the client sends "name=value" lines ended by an empty line; the server
 * answers one "action=..." line and an empty line.  The connection stays
 * open for further requests.
 *
 * The parser is incremental and bounded: attribute lines longer than
 * POLICY_LINE_MAX, more than POLICY_ATTRS_MAX attributes or a line
 * without "=" are protocol errors (the server logs them and closes the
 * connection; Postfix then applies its default_action).
 */
#ifndef FACTEUR_POLICY_PROTO_H
#define FACTEUR_POLICY_PROTO_H

#include <stddef.h>

#define POLICY_LINE_MAX 2048
#define POLICY_ATTRS_MAX 64

struct policy_attr {
	char *name;
	char *value;
};

struct policy_req {
	struct policy_attr attrs[POLICY_ATTRS_MAX];
	size_t nattrs;
};

struct policy_parser;

struct policy_parser *policy_parser_new(void);
void policy_parser_free(struct policy_parser **pp);
/*
 * Feed bytes.  Returns the number of bytes consumed (the parser stops
 * after the empty line that ends a request), with *done set to 1 when a
 * complete request is ready in policy_parser_request(); or -1 with
 * *error_r (static text) on a protocol error.  Lines may end in LF or
 * CRLF.
 */
long policy_parser_feed(struct policy_parser *pp, const char *data, size_t len, int *done,
    const char **error_r);
/* The request just completed; valid until the next feed or reset. */
const struct policy_req *policy_parser_request(const struct policy_parser *pp);
/* Forget the completed request and get ready for the next one. */
void policy_parser_reset(struct policy_parser *pp);

/* Value of name in req (the last one if repeated), or NULL. */
const char *policy_req_get(const struct policy_req *req, const char *name);

/*
 * The answer line for an action ("DUNNO", "DEFER_IF_PERMIT text",
 * "450 4.7.1 text", ...): "action=<action>\n\n" into out, with any CR/LF
 * in the action replaced by spaces.  Returns the length, truncated to size.
 */
size_t policy_format_reply(const char *action, char *out, size_t size);

#endif
