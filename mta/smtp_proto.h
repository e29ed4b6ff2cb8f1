/* SPDX-License-Identifier: MIT */
/*
 * smtp_proto - the SMTP command line parser (no I/O, no state).
 *
 * A peer's line goes in, a verb and its argument come out; everything a
 * peer can send is a defined result, never a crash (fuzzed in tests/fuzz).
 */
#ifndef FACTEUR_SMTP_PROTO_H
#define FACTEUR_SMTP_PROTO_H

#include <stddef.h>

enum smtp_cmd {
	SMTP_CMD_UNKNOWN, SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT,
	SMTP_CMD_DATA, SMTP_CMD_BDAT, SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT,
	SMTP_CMD_VRFY, SMTP_CMD_EXPN, SMTP_CMD_HELP, SMTP_CMD_STARTTLS, SMTP_CMD_AUTH,
	/* Not SMTP: a web browser or proxy talking to the port. */
	SMTP_CMD_HTTP,
};

struct smtp_command {
	enum smtp_cmd cmd;
	const char *verb;	/* canonical upper-case verb */
	const char *arg;	/* after the verb and one blank; "" if none */
};

/*
 * Parse one line (without CRLF; NUL-terminated; len excludes the NUL).
 * Returns 0, or -1 with *error_r an SMTP reply ("500 5.5.2 ...") for lines
 * that are not a command at all (NUL bytes, bad verb characters).
 */
int smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd_r,
    const char **error_r);

/* ESMTP parameters: "KEY=VALUE KEY2 ...".  Iterates; 1 per param, 0 at end, -1 on syntax error. */
int smtp_param_next(const char **p, char *key, size_t keysize, char *value, size_t valsize);

/* xtext (RFC 3461) decode into out; -1 if malformed. */
int smtp_xtext_decode(const char *in, char *out, size_t size);
/* 1 if s is valid xtext. */
int smtp_xtext_valid(const char *s);

#endif
