/* SPDX-License-Identifier: MIT */
/*
 * smtp_proto - SMTP command line parser.  See smtp_proto.h.
 */
#include "facteur-config.h"

#include <string.h>

#include "lib/mem.h"
#include "smtp_proto.h"

static const struct {
	const char *verb;
	enum smtp_cmd cmd;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO }, { "EHLO", SMTP_CMD_EHLO }, { "MAIL", SMTP_CMD_MAIL },
	{ "RCPT", SMTP_CMD_RCPT }, { "DATA", SMTP_CMD_DATA }, { "BDAT", SMTP_CMD_BDAT },
	{ "RSET", SMTP_CMD_RSET }, { "NOOP", SMTP_CMD_NOOP }, { "QUIT", SMTP_CMD_QUIT },
	{ "VRFY", SMTP_CMD_VRFY }, { "EXPN", SMTP_CMD_EXPN }, { "HELP", SMTP_CMD_HELP },
	{ "STARTTLS", SMTP_CMD_STARTTLS }, { "AUTH", SMTP_CMD_AUTH },
	{ "GET", SMTP_CMD_HTTP }, { "POST", SMTP_CMD_HTTP }, { "CONNECT", SMTP_CMD_HTTP },
	{ "PUT", SMTP_CMD_HTTP }, { "HEAD", SMTP_CMD_HTTP },
};

int
smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd, const char **error_r)
{
	size_t vlen = 0;

	cmd->cmd = SMTP_CMD_UNKNOWN;
	cmd->verb = "";
	cmd->arg = "";
	if (memchr(line, '\0', len) != NULL) {
		*error_r = "500 5.5.2 Error: NUL character in command";
		return -1;
	}
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	if (vlen == 0) {
		*error_r = "500 5.5.2 Error: bad syntax";
		return -1;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)line[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
			*error_r = "500 5.5.2 Error: bad syntax";
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].verb) == vlen && str_ncasecmp(line, verbs[i].verb, vlen) == 0) {
			cmd->cmd = verbs[i].cmd;
			cmd->verb = verbs[i].verb;
			break;
		}
	}
	/* Some clients send two blanks; RFC 5321 says one, be liberal. */
	cmd->arg = line + vlen;
	while (*cmd->arg == ' ')
		cmd->arg++;
	return 0;
}

static int
is_xchar(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
smtp_xtext_decode(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in != '\0'; in++) {
		int c = (unsigned char)*in;
		if (c == '+') {
			int h = hexval(in[1]), l = h < 0 ? -1 : hexval(in[2]);
			if (h < 0 || l < 0)
				return -1;
			c = h * 16 + l;
			in += 2;
		} else if (!is_xchar((unsigned char)c)) {
			return -1;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

int
smtp_xtext_valid(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '+') {
			if (hexval(s[1]) < 0 || hexval(s[2]) < 0)
				return 0;
			s += 2;
		} else if (!is_xchar((unsigned char)*s)) {
			return 0;
		}
	}
	return 1;
}

int
smtp_param_next(const char **pp, char *key, size_t keysize, char *value, size_t valsize)
{
	const char *p = *pp;
	size_t k = 0, v = 0;

	while (*p == ' ')
		p++;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	while (*p != '\0' && *p != ' ' && *p != '=') {
		unsigned char c = (unsigned char)*p;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '-' && k > 0)))
			return -1;
		if (k + 1 >= keysize)
			return -1;
		key[k++] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
		p++;
	}
	key[k] = '\0';
	if (k == 0)
		return -1;
	value[0] = '\0';
	if (*p == '=') {
		p++;
		/* esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 allowed with SMTPUTF8 */
		while (*p != '\0' && *p != ' ') {
			unsigned char c = (unsigned char)*p;
			if (c < 33 || c == '=' || c == 127)
				return -1;
			if (v + 1 >= valsize)
				return -1;
			value[v++] = (char)c;
			p++;
		}
		value[v] = '\0';
		if (v == 0)
			return -1;
	}
	*pp = p;
	return 1;
}
