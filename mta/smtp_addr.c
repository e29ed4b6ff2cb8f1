/* SPDX-License-Identifier: MIT */
/*
 * smtp_addr - RFC 5321 path parsing.  See smtp_addr.h.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "smtp_addr.h"

#define LOCAL_MAX 64
#define DOMAIN_MAX 255
#define PATH_MAX_LEN 256

static int
is_atext(unsigned char c, int utf8)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	if (c >= 0x80)
		return utf8;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

/* Parse a domain or address literal at s; returns its length, 0 if invalid. */
static size_t
parse_domain(const char *s, int utf8)
{
	size_t i = 0, label = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close == s + 1)
			return 0;
		for (const char *p = s + 1; p < close; p++) {
			unsigned char c = (unsigned char)*p;
			if (c < 33 || c > 126 || c == '[' || c == '\\')
				return 0;
		}
		return (size_t)(close - s) + 1;
	}
	for (;;) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    (c >= 0x80 && utf8)) {
			label++;
		} else if (c == '-' && label > 0) {
			label++;
		} else if (c == '.' && label > 0 && s[i - 1] != '-') {
			label = 0;
		} else {
			break;
		}
		if (label > 63)
			return 0;
		i++;
	}
	if (i == 0 || label == 0 || s[i - 1] == '-')
		return 0;
	return i;
}

int
smtp_addr_parse(const char *arg, const char *keyword, int allow_null, int utf8, char **addr_r,
    const char **params_r, int *routed_r, const char **error_r)
{
	size_t klen = strlen(keyword), i, local_len, dlen;
	const char *p, *local;
	int bracket;

	*routed_r = 0;
	if (str_ncasecmp(arg, keyword, klen) != 0) {
		*error_r = "501 5.5.4 Syntax: MAIL FROM:<address> or RCPT TO:<address>";
		return -1;
	}
	p = arg + klen;
	while (*p == ' ')
		p++;
	bracket = *p == '<';
	if (bracket)
		p++;
	if (bracket && *p == '>') {
		if (!allow_null) {
			*error_r = "501 5.1.3 Bad recipient address syntax";
			return -1;
		}
		if (p[1] != '\0' && p[1] != ' ')
			goto bad;
		*addr_r = xstrdup("");
		*params_r = p + 1;
		return 0;
	}
	/* Source route "@a,@b:": accepted and ignored. */
	if (bracket && *p == '@') {
		const char *colon = strchr(p, ':');
		const char *gt = strchr(p, '>');
		if (colon == NULL || (gt != NULL && gt < colon)) {
			*error_r = "501 5.1.3 Bad address syntax";
			return -1;
		}
		p = colon + 1;
		*routed_r = 1;
	}
	local = p;
	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			unsigned char c = (unsigned char)*p;
			if (c == '\\') {
				p++;
				if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
					goto bad;
			} else if (c == '\0' || c < 32 || c == 127 || (c >= 0x80 && !utf8)) {
				goto bad;
			}
		}
		p++;
	} else {
		for (i = 0; is_atext((unsigned char)p[i], utf8) || (p[i] == '.' && i > 0 &&
		    p[i - 1] != '.' && is_atext((unsigned char)p[i + 1], utf8)); i++)
			;
		if (i == 0)
			goto bad;
		p += i;
	}
	local_len = (size_t)(p - local);
	/* A quoted local part's quotes are not counted against the limit. */
	if (local_len > LOCAL_MAX + (*local == '"' ? 2 : 0)) {
		*error_r = "501 5.1.3 Local part of address too long";
		return -1;
	}
	if (*p != '@') {
		/* RFC 5321 4.5.1: <Postmaster> without a domain must be accepted. */
		if (!allow_null && local_len == 10 && str_ncasecmp(local, "postmaster", 10) == 0 &&
		    (*p == '>' || !bracket)) {
			p += bracket ? 1 : 0;
			if (*p != '\0' && *p != ' ')
				goto bad;
			*addr_r = xstrdup("postmaster");
			*params_r = p;
			return 0;
		}
		goto bad;
	}
	p++;
	dlen = parse_domain(p, utf8);
	if (dlen == 0)
		goto bad;
	if (dlen > DOMAIN_MAX) {
		*error_r = "501 5.1.3 Domain of address too long";
		return -1;
	}
	if (local_len + 1 + dlen > PATH_MAX_LEN) {
		*error_r = "501 5.1.3 Address too long";
		return -1;
	}
	p += dlen;
	if (bracket) {
		if (*p != '>')
			goto bad;
		p++;
	}
	if (*p != '\0' && *p != ' ')
		goto bad;
	*addr_r = xstrndup(local, local_len + 1 + dlen);
	*params_r = p;
	return 0;
bad:
	*error_r = "501 5.1.3 Bad address syntax";
	return -1;
}

/*
 * The '@' before the domain.  Not simply the last one: an address literal
 * may hold '@' (RFC 5321 dcontent), but never '[', so a domain ending in
 * ']' starts at the last "@[".
 */
static const char *
domain_at(const char *addr)
{
	size_t n = strlen(addr);

	if (n > 0 && addr[n - 1] == ']') {
		const char *lb = strrchr(addr, '[');
		if (lb != NULL && lb > addr && lb[-1] == '@')
			return lb - 1;
	}
	return strrchr(addr, '@');
}

const char *
smtp_addr_domain(const char *addr)
{
	const char *at = domain_at(addr);

	return at != NULL ? at + 1 : NULL;
}

int
smtp_addr_has_routing(const char *addr)
{
	const char *at = domain_at(addr);
	size_t n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	for (size_t i = 0; i < n; i++)
		if (addr[i] == '%' || addr[i] == '!' || addr[i] == '@')
			return 1;
	return 0;
}
