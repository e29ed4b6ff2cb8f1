/* SPDX-License-Identifier: MIT */
/*
 * eval_received - see eval_received.h.  RelayEval's, WLBLEval's and
 * VBounce's functions on the relays of filter/received.c, as SpamAssassin
 * 4.0.1 writes them (quirks kept: _check_received_helos resets its result
 * at each public relay, so the last one decides).  The chain is the one
 * the pipeline parsed for the X-Spam-Relays headers, or parsed here once
 * per message from the header fields.
 */
#include "facteur-config.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/eval.h"
#include "filter/eval_re.h"
#include "filter/eval_received.h"
#include "filter/received.h"
#include "lib/mem.h"

#define FN(lit) EVAL_FN_IS(f, flen, lit)

static const char *const functions[] = {
	"check_all_trusted", "check_no_relays", "check_relays_unparseable",
	"check_for_forged_received_trail", "check_for_forged_received_ip_helo",
	"check_for_no_rdns_dotcom_helo", "helo_ip_mismatch", "check_for_numeric_helo",
	"check_for_sender_no_reverse", "check_for_from_domain_in_received_headers",
	"check_mailfrom_matches_rcvd", "have_any_bounce_relays",
	"check_welcomelist_bounce_relays", "check_whitelist_bounce_relays",
	"check_for_illegal_ip", NULL
};

int
eval_received_owns(const char *function)
{
	size_t len = strlen(function);

	for (size_t i = 0; functions[i] != NULL; i++)
		if (strlen(functions[i]) == len && memcmp(functions[i], function, len) == 0)
			return 1;
	return 0;
}

static const struct received_chain *
chain(struct eval_msg *msg)
{
	struct received_field *f;

	if (msg->relays != NULL)
		return msg->relays;
	if (msg->relays_cache != NULL)
		return msg->relays_cache;
	f = xcalloc(msg->nheaders + 1, sizeof(*f));
	for (size_t i = 0; i < msg->nheaders; i++) {
		f[i].name = msg->headers[i].name;
		f[i].value = msg->headers[i].value;
		f[i].value_len = msg->headers[i].value_len;
	}
	msg->relays_cache = xcalloc(1, sizeof(*msg->relays_cache));
	received_parse(msg->received_config, f, msg->nheaders, msg->originating,
	    msg->relays_cache);
	free(f);
	return msg->relays_cache;
}

/* The i-th relay of the trusted (which 0) or untrusted (1) list, or NULL. */
static const struct received_relay *
listed(const struct received_chain *ch, int which, size_t i)
{
	for (size_t k = 0; k < ch->nrelays; k++) {
		const struct received_relay *r = &ch->relays[k];
		if ((which == 0 ? r->in_trusted : r->in_untrusted) && i-- == 0)
			return r;
	}
	return NULL;
}

/* A match of a literal pattern (eval_re_get(): compiled once), capture 1 into cap1. */
static int
re_match(const char *pattern, uint32_t options, const char *s, char *cap1, size_t cap_size)
{
	int owned, rc;
	pcre2_code *code = eval_re_get(pattern, options, &owned);
	pcre2_match_data *md;

	if (code == NULL)
		return 0;
	md = pcre2_match_data_create_from_pattern(code, NULL);
	rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
	/* JIT's stack is bounded: the interpreter decides what it could not. */
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, PCRE2_NO_JIT, md, NULL);
	if (rc > 1 && cap1 != NULL) {
		PCRE2_SIZE *v = pcre2_get_ovector_pointer(md);
		size_t n = v[3] - v[2];
		if (n >= cap_size)
			n = cap_size - 1;
		memcpy(cap1, s + v[2], n);
		cap1[n] = '\0';
	}
	pcre2_match_data_free(md);
	if (owned)
		pcre2_code_free(code);
	return rc > 0;
}

static int
is_ipv4(const char *s)
{
	return re_match("^(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|"
	    "25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|"
	    "2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)$", 0, s, NULL, 0);
}

/* RelayEval's hostname_to_domain, lower case in, into out. */
static void
hostname_to_domain(const char *h, char *out, size_t size)
{
	const char *parts[64];
	size_t np = 0, lens[64];
	const char *p = h;
	int alpha = 0;

	for (const char *q = h; *q != '\0'; q++)
		if (isalpha((unsigned char)*q))
			alpha = 1;
	if (!alpha) {
		str_copy(out, h, size);
		return;
	}
	/* split(/\./): empty trailing fields dropped */
	while (np < 64) {
		const char *dot = strchr(p, '.');
		parts[np] = p;
		lens[np] = dot != NULL ? (size_t)(dot - p) : strlen(p);
		np++;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	while (np > 0 && lens[np - 1] == 0)
		np--;
	if (np > 1) {
		/* $parts[-1] =~ /(?:\S{3,}|ie|fr|de)/ */
		char last[256];
		size_t n = lens[np - 1] < sizeof(last) - 1 ? lens[np - 1] : sizeof(last) - 1;
		memcpy(last, parts[np - 1], n);
		last[n] = '\0';
		if (re_match("(?:\\S{3,}|ie|fr|de)", 0, last, NULL, 0)) {
			snprintf(out, size, "%.*s.%.*s", (int)lens[np - 2], parts[np - 2],
			    (int)lens[np - 1], parts[np - 1]);
			return;
		}
	}
	if (np > 2) {
		snprintf(out, size, "%.*s.%.*s.%.*s", (int)lens[np - 3], parts[np - 3],
		    (int)lens[np - 2], parts[np - 2], (int)lens[np - 1], parts[np - 1]);
		return;
	}
	str_copy(out, h, size);
}

static void
lower(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* _check_for_forged_received: mismatch_from and mismatch_ip_helo. */
static void
forged_received(const struct received_chain *ch, int *mismatch_from, int *mismatch_ip_helo)
{
	size_t n = ch->num_untrusted;
	char (*from)[RECEIVED_FIELD_MAX];
	int *from_def;
	static const char *const dom_re = "^\\w+(?:[\\w.-]+\\.)+\\w+$";

	*mismatch_from = *mismatch_ip_helo = 0;
	if (n == 0)
		return;
	from = xcalloc(n, sizeof(*from));
	from_def = xcalloc(n, sizeof(*from_def));
	for (size_t i = 0; i < n; i++) {
		char lc[RECEIVED_FIELD_MAX];
		lower(listed(ch, 1, i)->rdns, lc, sizeof(lc));
		hostname_to_domain(lc, from[i], sizeof(from[i]));
		from_def[i] = 1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct received_relay *r = listed(ch, 1, i);
		char by[RECEIVED_FIELD_MAX], hlo[RECEIVED_FIELD_MAX], lc[RECEIVED_FIELD_MAX];
		const char *fip = r->ip;

		lower(r->by, lc, sizeof(lc));
		hostname_to_domain(lc, by, sizeof(by));
		lower(r->helo, lc, sizeof(lc));
		hostname_to_domain(lc, hlo, sizeof(hlo));
		if (!re_match(dom_re, 0, by, NULL, 0))
			continue;
		if (re_match("^localhost(?:\\.localdomain)?$", 0, from[i], NULL, 0) &&
		    strcmp(fip, "127.0.0.1") == 0)
			from_def[i] = 0;
		if (re_match("^\\d+\\.\\d+\\.\\d+\\.\\d+$", 0, hlo, NULL, 0) &&
		    re_match("^\\d+\\.\\d+\\.\\d+\\.\\d+$", 0, fip, NULL, 0) &&
		    strcmp(fip, hlo) != 0) {
			char hb[64] = "", fb[64] = "";
			(void)re_match("^(\\d+\\.\\d+)\\.\\d+\\.\\d+$", 0, hlo, hb, sizeof(hb));
			(void)re_match("^(\\d+\\.\\d+)\\.\\d+\\.\\d+$", 0, fip, fb, sizeof(fb));
			if (hb[0] != '\0' && fb[0] != '\0' && strcmp(hb, fb) != 0 &&
			    !received_ip_private(hlo))
				(*mismatch_ip_helo)++;
		}
		/* $from[$i-1]: for i == 0 Perl reads the last element, but "$i > 0" guards */
		if (i > 0 && from_def[i - 1] && re_match(dom_re, 0, from[i - 1], NULL, 0) &&
		    strcmp(by, from[i - 1]) != 0 &&
		    !(strcmp(by, "msn.com") == 0 && strcmp(from[i - 1], "hotmail.com") == 0))
			(*mismatch_from)++;
	}
	free(from);
	free(from_def);
}

/* _check_received_helos: the last public untrusted relay decides; -1 never set. */
static int
no_rdns_dotcom_helo(const struct received_chain *ch)
{
	int res = -1;

	for (size_t i = 0; i < ch->num_untrusted; i++) {
		const struct received_relay *r = listed(ch, 1, i);
		if (r->ip_private)
			continue;
		res = 0;
		if (re_match("(?:\\.|^)(lycos\\.com|lycos\\.co\\.uk|hotmail\\.com|localhost\\.com|"
		    "excite\\.com|caramail\\.com|cs\\.com|aol\\.com|msn\\.com|yahoo\\.com|"
		    "drizzle\\.com)$", PCRE2_CASELESS, r->helo, NULL, 0) && r->no_reverse_dns)
			res = 1;
	}
	return res;
}

static int
helo_ip_mismatch(const struct received_chain *ch)
{
	for (size_t i = 0; i < ch->num_untrusted; i++) {
		const struct received_relay *r = listed(ch, 1, i);
		char net[64] = "";
		if (!is_ipv4(r->helo) || received_ip_private(r->helo))
			continue;
		if (is_ipv4(r->ip) && !received_ip_private(r->ip) && strcmp(r->helo, r->ip) != 0 &&
		    re_match("^(\\d+\\.\\d+\\.\\d+\\.)", 0, r->helo, net, sizeof(net)) &&
		    strncmp(r->ip, net, strlen(net)) != 0)
			return 1;
	}
	return 0;
}

static int
numeric_helo(const struct received_chain *ch)
{
	char ip[64] = "";

	if (ch->untrusted_str == NULL || ch->untrusted_str[0] == '\0')
		return 0;
	if (!re_match("\\bhelo=(\\b(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|"
	    "2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\.(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\."
	    "(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)\\b)(?=[\\x00-\\x20,;\\[()<>]|\\z)",
	    PCRE2_CASELESS, ch->untrusted_str, ip, sizeof(ip)))
		return 0;
	return !received_ip_private(ip);
}

/*
 * RegistryBoundaries::split_domain's domain part, approximated: the last
 * two labels (the rule files' util_rb_2tld/3tld lists are not read).
 */
static void
reg_domain(const char *host, char *out, size_t size)
{
	const char *p = host + strlen(host), *dots[2] = { NULL, NULL };
	int n = 0;

	while (p > host && n < 2) {
		p--;
		if (*p == '.')
			dots[n++] = p;
	}
	lower(n == 2 ? dots[1] + 1 : host, out, size);
}

static int
mailfrom_matches_rcvd(struct eval_msg *msg, const struct received_chain *ch)
{
	const char *sender = msg->sender != NULL ? msg->sender : "";
	const char *at = strrchr(sender, '@');
	char adrd[RECEIVED_FIELD_MAX];
	size_t nrel;
	int which;

	if (sender[0] == '\0' || at == NULL || strchr(at + 1, '.') == NULL ||
	    strchr(at + 1, '@') != NULL)
		return 0;
	if (ch->num_untrusted > 0) {
		which = 1;
		nrel = 1;
	} else if (ch->num_trusted > 0) {
		which = 0;
		nrel = ch->num_trusted;
	} else {
		return 0;
	}
	reg_domain(at + 1, adrd, sizeof(adrd));
	for (size_t i = 0; i < nrel; i++) {
		const struct received_relay *r = listed(ch, which, i);
		char rlyd[RECEIVED_FIELD_MAX];
		if (r == NULL || r->rdns[0] == '\0')
			continue;
		reg_domain(r->rdns, rlyd, sizeof(rlyd));
		if (strcmp(adrd, rlyd) == 0)
			return 1;
	}
	return 0;
}

/* Each " host.name " of a Received line (/\s(\S+\.\S+)\s/g) against the list. */
static int
line_has_bounce_relay(const struct received_config *c, const char *l, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t s, e;
		char host[RECEIVED_FIELD_MAX];
		if (!isspace((unsigned char)l[i])) {
			i++;
			continue;
		}
		s = i + 1;
		e = s;
		while (e < len && !isspace((unsigned char)l[e]))
			e++;
		if (e < len && e > s && memchr(l + s, '.', e - s) != NULL && l[s] != '.' &&
		    l[e - 1] != '.' && e - s < sizeof(host)) {
			memcpy(host, l + s, e - s);
			host[e - s] = '\0';
			if (received_config_is_bounce_relay(c, host))
				return 1;
		}
		i = e;
	}
	return 0;
}

/* /^[> ]*Received:/i */
static int
received_line(const char *l, size_t len)
{
	size_t i = 0;

	while (i < len && (l[i] == '>' || l[i] == ' '))
		i++;
	return len - i >= 9 && strncasecmp(l + i, "Received:", 9) == 0;
}

/*
 * VBounce: have_any_bounce_relays, and check_welcomelist_bounce_relays:
 * a listed host in a Received line of the body text, or of the raw body
 * (folded lines joined).
 */
static int
eval_received_bounce_relays(struct eval_msg *msg, const char *f)
{
	size_t flen = strlen(f);
	const struct received_config *c = msg->received_config;
	const char *p, *end, *body;
	char *full = NULL;
	size_t full_len = 0;
	int found = 0, res = 0;

	if (received_config_bounce_relays(c) == 0)
		return 0;
	if (FN("have_any_bounce_relays"))
		return 1;
	for (p = msg->body, end = p != NULL ? p + msg->body_len : NULL; p != NULL && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		/* the rendered body has no line ends inside paragraphs: look at each Received: */
		if (received_line(p, (size_t)(e - p)) &&
		    line_has_bounce_relay(c, p, (size_t)(e - p)))
			return 1;
		p = e + 1;
	}
	/* the raw body, after the header block */
	if (msg->message == NULL)
		return 0;
	body = strstr(msg->message, "\r\n\r\n");
	if (body == NULL)
		return 0;
	body += 4;
	end = msg->message + msg->message_len;
	for (p = body; p < end && !res;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl != NULL ? nl : end;
		size_t n = (size_t)(e - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (!found && received_line(p, n))
			found = 1;
		if (found) {
			if (n > 0 && isspace((unsigned char)p[0])) {
				full = xrealloc(full, full_len + n + 1);
				memcpy(full + full_len, p, n);
				full_len += n;
			} else {
				full = xrealloc(full, n + 1);
				memcpy(full, p, n);
				full_len = n;
			}
			full[full_len] = '\0';
			if (received_line(full, full_len) && line_has_bounce_relay(c, full, full_len))
				res = 1;
		}
		p = e + 1;
	}
	free(full);
	return res;
}

/*
 * The From address holds \bDOMAIN (any case), and a relay, trusted or
 * not, has an rDNS ending in DOMAIN and a "by" ending in it:
 * / rdns=\S*\bDOMAIN [^\]]*by=\S*\bDOMAIN / over the X-Spam-Relays strings,
 * DOMAIN read as a regular expression, as RelayEval interpolates it.
 * desired "true" asks whether it does, anything else whether it does not.
 */
int
eval_received_from_domain(struct eval_msg *msg, const char *from, const char *domain,
    const char *desired)
{
	const struct received_chain *ch = chain(msg);
	int want = strcmp(desired, "true") == 0, found = 0, err;
	char *pattern, *rcvd;
	const char *p;
	PCRE2_SIZE off;
	pcre2_code *re;
	pcre2_match_data *md;

	/* $from !~ /\b\Q$domain\E/i: neither answer hits */
	for (p = from; domain[0] != '\0' && (p = strcasestr(p, domain)) != NULL; p++) {
		int before = p > from && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int first = isalnum((unsigned char)p[0]) || p[0] == '_';
		if (before != first)
			break;	/* \b */
	}
	if (domain[0] == '\0' || p == NULL)
		return 0;
	pattern = xasprintf(" rdns=\\S*\\b%s [^\\]]*by=\\S*\\b%s ", domain, domain);
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
	free(pattern);
	if (re == NULL)
		return 0;
	rcvd = xasprintf("%s\n%s", ch->trusted_str, ch->untrusted_str);
	md = pcre2_match_data_create_from_pattern(re, NULL);
	found = pcre2_match(re, (PCRE2_SPTR)rcvd, strlen(rcvd), 0, 0, md, NULL) >= 0;
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	free(rcvd);
	return found == want;
}

int
eval_received_sa(struct eval_msg *msg, const char *f, const char *args)
{
	size_t flen = strlen(f);
	const struct received_chain *ch;

	(void)args;
	if (FN("have_any_bounce_relays") ||
	    FN("check_welcomelist_bounce_relays") ||
	    FN("check_whitelist_bounce_relays"))
		return eval_received_bounce_relays(msg, f);
	if (FN("check_for_illegal_ip"))
		return 0;	/* no longer in use, SpamAssassin answers 0 */
	ch = chain(msg);
	if (FN("check_all_trusted"))
		return ch->num_trusted > 0 && ch->num_untrusted == 0 && ch->num_unparseable == 0;
	if (FN("check_no_relays"))
		return ch->num_trusted == 0 && ch->num_untrusted == 0 && ch->num_unparseable == 0;
	if (FN("check_relays_unparseable"))
		return ch->num_unparseable > 0;
	if (FN("check_for_forged_received_trail") ||
	    FN("check_for_forged_received_ip_helo")) {
		int from, ip_helo;
		forged_received(ch, &from, &ip_helo);
		return FN("check_for_forged_received_trail") ? from > 1 : ip_helo > 0;
	}
	if (FN("check_for_no_rdns_dotcom_helo"))
		return no_rdns_dotcom_helo(ch) == 1;
	if (FN("helo_ip_mismatch"))
		return helo_ip_mismatch(ch);
	if (FN("check_for_numeric_helo"))
		return numeric_helo(ch);
	if (FN("check_for_sender_no_reverse")) {
		const struct received_relay *r;
		if (ch->num_untrusted == 0)
			return 0;
		r = listed(ch, 1, ch->num_untrusted - 1);
		return strchr(r->rdns, '.') != NULL && !r->ip_private;
	}
	if (FN("check_mailfrom_matches_rcvd"))
		return mailfrom_matches_rcvd(msg, ch);
	return -1;
}

void
eval_received_clear(struct eval_msg *msg)
{
	if (msg->relays_cache == NULL)
		return;
	received_chain_clear(msg->relays_cache);
	free(msg->relays_cache);
	msg->relays_cache = NULL;
}
