/* SPDX-License-Identifier: MIT */
/*
 * fuzz_smtp_command - libFuzzer target for what an SMTP client sends:
 * the command line parser, then for MAIL and RCPT the path parser and
 * the ESMTP parameters that follow the path, as smtpd chains them.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "mta/smtp_addr.h"
#include "mta/smtp_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
params(const char *p)
{
	char key[32], value[512], xtext[512];
	int rc;

	while ((rc = smtp_param_next(&p, key, sizeof(key), value, sizeof(value))) == 1) {
		if (smtp_xtext_valid(value))
			(void)smtp_xtext_decode(value, xtext, sizeof(xtext));
	}
}

/* What smtpd relies on in an accepted path; abort() is a finding. */
static void
check_addr(const char *addr, int utf8)
{
	size_t n = strlen(addr);

	/* The RFC 5321 limit, stricter than any buffer downstream. */
	if (n > 256)
		abort();
	if (!utf8)
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)addr[i] >= 0x80)
				abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)addr[i] < 0x20 || addr[i] == 0x7f)
			abort();
	/* Only <> and <postmaster> come without a domain. */
	if (smtp_addr_domain(addr) == NULL && n != 0 && strcmp(addr, "postmaster") != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_command cmd;
	const char *error, *rest;
	char *line, *addr;
	int routed;

	/* smtpd hands the parser a NUL-terminated line of len bytes. */
	line = xmalloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';
	if (smtp_command_parse(line, size, &cmd, &error) == 0) {
		if (cmd.cmd == SMTP_CMD_MAIL || cmd.cmd == SMTP_CMD_RCPT) {
			int mail = cmd.cmd == SMTP_CMD_MAIL;
			for (int utf8 = 0; utf8 <= 1; utf8++) {
				addr = NULL;
				if (smtp_addr_parse(cmd.arg, mail ? "FROM:" : "TO:", mail, utf8, &addr,
				    &rest, &routed, &error) == 0) {
					check_addr(addr, utf8);
					(void)smtp_addr_has_routing(addr);
					params(rest);
					free(addr);
				}
			}
		} else {
			params(cmd.arg);
		}
	}
	free(line);
	return 0;
}
