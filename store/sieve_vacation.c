/* SPDX-License-Identifier: MIT */
/*
 * sieve_vacation - the rules of RFC 5230 (and RFC 3834) that decide
 * whether a vacation action answers, the key its answer is remembered
 * under, and the answer itself.  See sieve.h.  Whether the same sender
 * was answered within :days is the store's business (sieve_store.h).
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "filter/strbuf.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "store/sieve.h"
#include "store/sieve_int.h"

/* a and b are one address: ASCII case aside, and a "+detail" aside. */
static int
same_address(const char *a, const char *b)
{
	const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');
	size_t la, lb;
	const char *plus;

	if (str_casecmp(a, b) == 0)
		return 1;
	if (at_a == NULL || at_b == NULL || str_casecmp(at_a, at_b) != 0)
		return 0;
	la = (size_t)(at_a - a);
	lb = (size_t)(at_b - b);
	if ((plus = memchr(a, '+', la)) != NULL)
		la = (size_t)(plus - a);
	if ((plus = memchr(b, '+', lb)) != NULL)
		lb = (size_t)(plus - b);
	return la == lb && la > 0 && str_ncasecmp(a, b, la) == 0;
}

/* Is addr one of the user's: the account, the envelope recipient, :addresses? */
static int
is_user(const char *addr, const struct sieve_message *msg, const struct sieve_action *v,
    const char *account)
{
	if (addr[0] == '\0')
		return 0;
	if ((account != NULL && same_address(addr, account)) ||
	    (msg->env_to != NULL && same_address(addr, msg->env_to)))
		return 1;
	for (size_t i = 0; i < v->naddresses; i++) {
		char *list[4];
		size_t n = sv_address_list(v->addresses[i], list, 4);
		int found = 0;
		for (size_t k = 0; k < n; k++) {
			found |= same_address(addr, list[k]);
			free(list[k]);
		}
		if (found)
			return 1;
	}
	return 0;
}

/* RFC 5230 4.6: senders that are programs, not people. */
static int
system_sender(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t len = at != NULL ? (size_t)(at - addr) : strlen(addr);
	static const char *const names[] = { "mailer-daemon", "listserv", "majordomo",
	    "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && str_ncasecmp(addr, names[i], len) == 0)
			return 1;
	if (len >= 6 && str_ncasecmp(addr, "owner-", 6) == 0)
		return 1;
	if (len >= 8 && str_ncasecmp(addr + len - 8, "-request", 8) == 0)
		return 1;
	if (len >= 6 && str_ncasecmp(addr + len - 6, "-owner", 6) == 0)
		return 1;
	return 0;
}

/* The first word of a field's value, lower case, into buf ("bulk", "auto-replied"). */
static const char *
first_word(const char *value, char *buf, size_t size)
{
	size_t n = 0;

	while (*value == ' ' || *value == '\t')
		value++;
	while (*value != '\0' && *value != ';' && *value != ' ' && *value != '\t' &&
	    *value != '(' && n + 1 < size)
		buf[n++] = (char)(*value >= 'A' && *value <= 'Z' ? *value + 32 : *value), value++;
	buf[n] = '\0';
	return buf;
}

const char *
sieve_vacation_refusal(const struct sieve_message *msg, const struct sieve_action *v,
    const char *account)
{
	static const char *const lists[] = { "List-Id", "List-Post", "List-Help",
	    "List-Unsubscribe", "List-Subscribe", "List-Owner", "List-Archive" };
	static const char *const rcpt_fields[] = { "To", "Cc", "Bcc", "Resent-To", "Resent-Cc",
	    "Resent-Bcc" };
	const struct sv_header *h;
	const char *why = NULL;
	struct sv_msg mv;
	char word[32];
	int addressed = 0;

	if (msg->env_from == NULL || msg->env_from[0] == '\0')
		return "the envelope sender is null (a bounce or a notification)";
	if (is_user(msg->env_from, msg, v, account))
		return "the sender is the user";
	if (system_sender(msg->env_from))
		return "the sender is a program (MAILER-DAEMON, a list's owner or -request address)";
	sv_msg_init(&mv, msg);
	if ((h = sv_msg_header(&mv, "Auto-Submitted", 0)) != NULL &&
	    strcmp(first_word(h->value, word, sizeof(word)), "no") != 0) {
		why = "the message was sent automatically (Auto-Submitted)";
		goto out;
	}
	if ((h = sv_msg_header(&mv, "Precedence", 0)) != NULL &&
	    (strcmp(first_word(h->value, word, sizeof(word)), "bulk") == 0 ||
	    strcmp(word, "list") == 0 || strcmp(word, "junk") == 0)) {
		why = "the message is bulk mail (Precedence)";
		goto out;
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		if (sv_msg_header(&mv, lists[i], 0) != NULL) {
			why = "the message comes from a mailing list (List-*)";
			goto out;
		}
	}
	/* RFC 5230 4.5: only mail that names the user among its recipients. */
	for (size_t i = 0; i < sizeof(rcpt_fields) / sizeof(rcpt_fields[0]) && !addressed; i++) {
		for (size_t k = 0; (h = sv_msg_header(&mv, rcpt_fields[i], k)) != NULL &&
		    !addressed; k++) {
			char *addrs[64];
			size_t n = sv_address_list(h->raw, addrs, 64);
			for (size_t j = 0; j < n; j++) {
				addressed |= is_user(addrs[j], msg, v, account);
				free(addrs[j]);
			}
		}
	}
	if (!addressed)
		why = "the user is not among the message's recipients (To, Cc, Bcc, Resent-*)";
out:
	sv_msg_free(&mv);
	return why;
}

void
sieve_vacation_key(const struct sieve_action *v, const char *sender, char key_r[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *lower = str_lower(xstrdup(sender));

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, v->handle != NULL ? v->handle : "", v->handle != NULL ?
	    strlen(v->handle) : 0) != 1 || EVP_DigestUpdate(ctx, "", 1) != 1 ||
	    EVP_DigestUpdate(ctx, lower, strlen(lower)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		panic("sieve: SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	free(lower);
	for (unsigned int i = 0; i < 32; i++)
		snprintf(key_r + 2 * i, 3, "%02x", md[i]);
}

/* ---- the answer ---- */

#define PUT(b, lit) strbuf_append((b), (lit), sizeof(lit) - 1)

/* A header field's value on one line: line ends and controls become spaces. */
static void
put_field_value(struct strbuf *b, const char *s)
{
	for (; *s != '\0'; s++)
		strbuf_putc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

static void
base64(struct strbuf *b, const unsigned char *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < len; i += 3) {
		unsigned int v = (unsigned int)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned int)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		strbuf_putc(b, tab[v >> 18 & 63]);
		strbuf_putc(b, tab[v >> 12 & 63]);
		strbuf_putc(b, i + 1 < len ? tab[v >> 6 & 63] : '=');
		strbuf_putc(b, i + 2 < len ? tab[v & 63] : '=');
	}
}

/* A Subject as RFC 2047 encoded-words when it is not ASCII, each under 76 characters. */
static void
put_subject(struct strbuf *b, const char *s)
{
	size_t len = strlen(s), i = 0;
	char *clean = xstrdup(s);

	for (char *p = clean; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (is_ascii(clean)) {
		strbuf_append(b, clean, len);
		free(clean);
		return;
	}
	while (i < len) {
		size_t n = len - i > 42 ? 42 : len - i;
		/* Whole characters in each word. */
		while (i + n < len && ((unsigned char)clean[i + n] & 0xc0) == 0x80)
			n--;
		if (n == 0)
			n = 1;
		if (i > 0)
			PUT(b, "\r\n ");
		PUT(b, "=?UTF-8?B?");
		base64(b, (const unsigned char *)clean + i, n);
		PUT(b, "?=");
		i += n;
	}
	free(clean);
}

/* Text with its line ends made CRLF, ending with one. */
static void
put_crlf_text(struct strbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\r' && s[1] == '\n')
			continue;
		if (*s == '\n' || *s == '\r')
			PUT(b, "\r\n");
		else
			strbuf_putc(b, *s);
	}
	if (b->len < 2 || memcmp(b->data + b->len - 2, "\r\n", 2) != 0)
		PUT(b, "\r\n");
}

static const char *
rfc5322_now(char *buf, size_t size)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(buf, size, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

char *
sieve_vacation_reply(const struct sieve_message *msg, const struct sieve_action *v,
    const char *hostname, size_t *len_r)
{
	static unsigned int counter;
	struct strbuf b = { NULL, 0, 0 };
	const struct sv_header *subject, *msgid, *refs;
	struct sv_msg mv;
	char date[64], id[160];

	sv_msg_init(&mv, msg);
	subject = sv_msg_header(&mv, "Subject", 0);
	msgid = sv_msg_header(&mv, "Message-ID", 0);
	refs = sv_msg_header(&mv, "References", 0);

	PUT(&b, "From: ");
	if (v->from != NULL && v->from[0] != '\0') {
		put_field_value(&b, v->from);
	} else {
		strbuf_putc(&b, '<');
		put_field_value(&b, msg->env_to);
		strbuf_putc(&b, '>');
	}
	PUT(&b, "\r\nTo: <");
	put_field_value(&b, msg->env_from);
	PUT(&b, ">\r\nSubject: ");
	if (v->subject != NULL) {
		put_subject(&b, v->subject);
	} else {
		char *s = xasprintf("Auto: %s", subject != NULL ? subject->value : "");
		put_subject(&b, s);
		free(s);
	}
	PUT(&b, "\r\nDate: ");
	strbuf_append(&b, rfc5322_now(date, sizeof(date)), strlen(date));
	snprintf(id, sizeof(id), "\r\nMessage-ID: <%lld.%ld.%u.vacation@%s>",
	    (long long)time(NULL), (long)getpid(), ++counter, hostname);
	strbuf_append(&b, id, strlen(id));
	if (msgid != NULL) {
		PUT(&b, "\r\nIn-Reply-To: ");
		put_field_value(&b, msgid->raw);
		PUT(&b, "\r\nReferences: ");
		if (refs != NULL) {
			put_field_value(&b, refs->raw);
			strbuf_putc(&b, ' ');
		}
		put_field_value(&b, msgid->raw);
	}
	/* RFC 3834: so that other responders leave it alone. */
	PUT(&b, "\r\nAuto-Submitted: auto-replied (vacation)\r\nMIME-Version: 1.0\r\n");
	if (!v->mime)
		PUT(&b, "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n\r\n");
	put_crlf_text(&b, v->reason != NULL ? v->reason : "");
	sv_msg_free(&mv);
	*len_r = b.len;
	return b.data;
}
