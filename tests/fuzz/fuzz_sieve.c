/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sieve - libFuzzer target for the Sieve compiler and interpreter
 * (store/sieve.h): the input is a script, then optionally "\n=====\n"
 * and a message.  A script that compiles is run against the message
 * (and, without one, against a fixed multipart message), and each
 * vacation action goes through the RFC 5230 checks and the answer.
 * Checks: a refusal names its line, a run ends with at least one and at
 * most SIEVE_MAX_ACTIONS + 1 actions, every action has what its kind
 * needs, the answer has no bare line end.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "store/sieve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MESSAGE[] =
    "Return-Path: <a@example.net>\r\n"
    "From: \"A, B\" <a@example.net>, c@example.net\r\n"
    "To: bob@example.org, group: x@y.test, z@y.test;\r\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?= [list] hello\r\n"
    "List-Id: <l.example.net>\r\n"
    "Content-Type: multipart/alternative; boundary=b\r\n"
    "\r\n"
    "--b\r\nContent-Type: text/plain\r\n\r\nplain text body\r\n"
    "--b\r\nContent-Type: text/html\r\n\r\n<p>html <b>body</b></p>\r\n--b--\r\n";

static int
exists(void *ctx, const char *name)
{
	return strcmp(name, "INBOX") == 0 || strcmp(name, "Lists") == 0;
}

static void
check(const struct sieve_message *m, const struct sieve_result *res)
{
	if (res->n == 0 || res->n > SIEVE_MAX_ACTIONS + 1)
		abort();
	for (size_t i = 0; i < res->n; i++) {
		const struct sieve_action *a = &res->actions[i];
		switch (a->kind) {
		case SIEVE_KEEP:
			if (a->keywords == NULL)
				abort();
			break;
		case SIEVE_FILEINTO:
			if (a->mailbox == NULL || a->mailbox[0] == '\0' || a->keywords == NULL)
				abort();
			break;
		case SIEVE_REDIRECT:
			if (a->address == NULL || strchr(a->address, '@') == NULL)
				abort();
			break;
		case SIEVE_REJECT:
			if (a->reason == NULL)
				abort();
			break;
		case SIEVE_VACATION: {
			char key[65], *reply;
			size_t len;
			if (a->reason == NULL || a->handle == NULL || a->days < SIEVE_VACATION_MIN_DAYS ||
			    a->days > SIEVE_VACATION_MAX_DAYS)
				abort();
			(void)sieve_vacation_refusal(m, a, "bob@example.org");
			sieve_vacation_key(a, m->env_from, key);
			if (strlen(key) != 64)
				abort();
			reply = sieve_vacation_reply(m, a, "mx.test", &len);
			for (size_t k = 0; k < len; k++)
				if ((reply[k] == '\n' && (k == 0 || reply[k - 1] != '\r')) ||
				    (reply[k] == '\r' && (k + 1 >= len || reply[k + 1] != '\n')))
					abort();
			free(reply);
			break;
		}
		case SIEVE_DISCARD:
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n=====\n";
	const char *text = (const char *)data, *msg = MESSAGE;
	size_t len = size, mlen = sizeof(MESSAGE) - 1;
	char error[SIEVE_ERROR_SIZE], *script_copy, *msg_copy;
	const char *cut = memmem(data, size, sep, sizeof(sep) - 1);
	struct sieve_script *s;
	struct sieve_env env = { NULL, exists };

	if (cut != NULL) {
		len = (size_t)(cut - text);
		msg = cut + sizeof(sep) - 1;
		mlen = size - len - (sizeof(sep) - 1);
	}
	/* Exactly the bytes given, so ASan sees any read past the end. */
	script_copy = xmalloc(len > 0 ? len : 1);
	memcpy(script_copy, text, len);
	msg_copy = xmalloc(mlen > 0 ? mlen : 1);
	memcpy(msg_copy, msg, mlen);
	s = sieve_compile(script_copy, len, error, sizeof(error));
	if (s == NULL) {
		if (strncmp(error, "line ", 5) != 0)
			abort();
	} else {
		struct sieve_message m = { msg_copy, mlen, "alice@example.net", "bob+x@example.org" };
		struct sieve_message null_sender = { msg_copy, mlen, "", "bob@example.org" };
		struct sieve_result res;

		if (sieve_execute(s, &m, &env, &res) < 0 && strncmp(res.error, "line ", 5) != 0)
			abort();
		check(&m, &res);
		sieve_result_free(&res);
		(void)sieve_execute(s, &null_sender, NULL, &res);
		check(&null_sender, &res);
		sieve_result_free(&res);
		sieve_script_free(&s);
	}
	free(script_copy);
	free(msg_copy);
	return 0;
}
