/* SPDX-License-Identifier: MIT */
/*
 * valid - what the console's forms accept.  See valid.h.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mem.h"
#include "valid.h"

#define WORD_SEPS " \t,"
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Is every word of s (blanks or commas between) good for check?  why: the words' phrase. */
static const char *
each_word(const char *s, const char *(*check)(const char *), const char *why, int need_one)
{
	char *copy = xstrdup(s), *save = NULL, *w;
	const char *bad = NULL;
	int n = 0;

	for (w = strtok_r(copy, WORD_SEPS, &save); w != NULL && bad == NULL;
	    w = strtok_r(NULL, WORD_SEPS, &save), n++)
		if (check(w) != NULL)
			bad = why;
	free(copy);
	if (bad == NULL && need_one && n == 0)
		bad = why;
	return bad;
}

const char *
valid_ip(const char *s)
{
	return is_ip(s) ? NULL : "not an IPv4 or IPv6 address";
}

const char *
valid_ips(const char *s)
{
	return each_word(s, valid_ip, "not a list of IPv4 or IPv6 addresses", 0);
}

const char *
valid_cidr(const char *s)
{
	static const char why[] = "an address and its prefix length: 192.0.2.10/24";
	const char *slash = strchr(s, '/');
	char addr[64], *end;
	long prefix;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return why;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (slash[1] < '0' || slash[1] > '9')
		return why;
	prefix = strtol(slash + 1, &end, 10);
	if (!is_ip(addr) || *end != '\0' || prefix < 0 || prefix > (strchr(addr, ':') != NULL ? 128 : 32))
		return why;
	return NULL;
}

const char *
valid_iface(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 15 || strspn(s, NAME_CHARS) != n)
		return "an interface name: letters, digits, '.', '-', '_', at most 15";
	return NULL;
}

const char *
valid_hostname(const char *s)
{
	static const char why[] = "a host name: letters, digits and '-', labels separated by dots";
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return why;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return why;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-') {
			if (label == 0 && ch == '-')
				return why;
			if (++label > 63)
				return "a label of a host name has at most 63 characters";
		} else {
			return why;
		}
	}
	return s[n - 1] == '-' ? why : NULL;
}

const char *
valid_fqdn(const char *s)
{
	const char *why = valid_hostname(s);

	if (why != NULL)
		return why;
	if (strchr(s, '.') == NULL || s[strlen(s) - 1] == '.')
		return "a fully qualified name, with its domain: mail.example.org";
	return NULL;
}

const char *
valid_domains(const char *s)
{
	return each_word(s, valid_fqdn, "domain names (example.org) separated by blanks or commas", 1);
}

const char *
valid_token(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || strspn(s, NAME_CHARS) != n)
		return "letters, digits, '.', '-' and '_', at most 64";
	return NULL;
}

const char *
valid_source(const char *s)
{
	if (strcmp(s, "default") == 0 || is_ip(s) || valid_cidr(s) == NULL || valid_hostname(s) == NULL)
		return NULL;
	return "default, an address, a network (192.0.2.0/24) or a host name";
}

const char *
valid_passphrase(const char *s)
{
	size_t n = strlen(s);

	if (n < 8 || n > 128)
		return "8 to 128 characters (net-snmp's rule)";
	/* snmpd's configuration quotes it: no quote, no backslash. */
	return strpbrk(s, "\"\\") != NULL ? "no \" and no \\ in a passphrase" : NULL;
}

const char *
valid_zone(const char *s)
{
	static const char why[] = "a time zone: Area/City, as Europe/Paris or America/New_York (or UTC)";
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+";
	const char *p = s;
	int parts = 0;

	if (strcmp(s, "UTC") == 0)
		return NULL;
	/* Area/City or Area/Region/City: each part a word starting with a letter, no "..". */
	for (;;) {
		size_t n = strspn(p, chars);
		if (n == 0 || n > 64 || !((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')))
			return why;
		parts++;
		p += n;
		if (*p == '\0')
			break;
		if (*p != '/')
			return why;
		p++;
	}
	return parts >= 2 && parts <= 3 ? NULL : why;
}

static const char *
valid_server(const char *s)
{
	return is_ip(s) || valid_hostname(s) == NULL ? NULL : "no";
}

const char *
valid_servers(const char *s)
{
	return each_word(s, valid_server, "host names or addresses separated by blanks", 0);
}

const char *
valid_admin_password(const char *pw, const char *hostname)
{
	size_t n = strlen(pw);

	if (n < 10)
		return "at least 10 characters";
	if (n > 1024)
		return "at most 1024 characters";
	if (str_casecmp(pw, hostname) == 0)
		return "not the host name";
	return NULL;
}
