/* SPDX-License-Identifier: MIT */
/*
 * transport - next hop routing.  See transport.h.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "smtp_addr.h"
#include "store/directory_shared.h"
#include "transport.h"

static const char *const tls_names[] = { "none", "may", "encrypt", "verify" };

int
transport_tls_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (str_casecmp(s, tls_names[i]) == 0)
			return i;
	return -1;
}

const char *
transport_tls_name(enum tls_policy tls)
{
	return tls_names[tls];
}

enum tls_policy
transport_tls_policy(const char *domain, const char *host)
{
	const char *v = NULL;
	int p;

	if (domain != NULL)
		v = config_map_lookup("tls_policy", domain);
	if (v == NULL && host != NULL)
		v = config_map_lookup("tls_policy", host);
	if (v != NULL) {
		if ((p = transport_tls_parse(v)) >= 0)
			return (enum tls_policy)p;
		log_warnx("tls_policy \"%s\" for %s is not none, may, encrypt or verify: using verify",
		    v, domain != NULL ? domain : host);
		/* A typo must not downgrade security. */
		return TLS_POLICY_VERIFY;
	}
	p = transport_tls_parse(var_smtp_tls_policy);
	return p >= 0 ? (enum tls_policy)p : TLS_POLICY_VERIFY;
}

static int
host_valid(const char *h, int bracketed)
{
	if (h[0] == '\0')
		return 0;
	for (const char *p = h; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '-' || c == '_' || (bracketed && c == ':')))
			return 0;
	}
	return 1;
}

/* "lmtp:" next hops: unix:/path, [host]:port, host:port, inet:host:port. */
static int
parse_lmtp(const char *p, struct transport_route *r, const char **error_r)
{
	const char *port = NULL;
	size_t hlen;

	r->kind = TRANSPORT_LMTP;
	r->port = 24;
	r->mx = 0;
	r->tls = TLS_POLICY_NONE;
	if (str_ncasecmp(p, "unix:", 5) == 0) {
		/* $spool_directory expanded: "lmtp:unix:$spool_directory/run/lmtp". */
		net_expand_spool(p + 5, r->path, sizeof(r->path));
		/* sun_path is 108 bytes (a truncated expansion is longer still). */
		if (r->path[0] != '/' || strlen(r->path) >= 108) {
			*error_r = "lmtp:unix: next hop needs an absolute socket path shorter than 108 bytes";
			return -1;
		}
		str_copy(r->host, "localhost", sizeof(r->host));
		snprintf(r->key, sizeof(r->key), "lmtp:unix:%s", r->path);
		return 0;
	}
	if (str_ncasecmp(p, "inet:", 5) == 0)
		p += 5;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL || close == p + 1) {
			*error_r = "lmtp: next hop has '[' without ']' or an empty host";
			return -1;
		}
		hlen = (size_t)(close - p - 1);
		if (hlen >= sizeof(r->host)) {
			*error_r = "next hop host too long";
			return -1;
		}
		memcpy(r->host, p + 1, hlen);
		r->host[hlen] = '\0';
		p = close + 1;
		if (*p == ':')
			port = p + 1;
		else if (*p != '\0') {
			*error_r = "junk after ']' in next hop";
			return -1;
		}
	} else {
		/* host:port, or an IPv6 address without brackets and without a port. */
		const char *colon = strrchr(p, ':');
		hlen = colon != NULL && strchr(p, ':') == colon ? (size_t)(colon - p) : strlen(p);
		if (hlen >= sizeof(r->host)) {
			*error_r = "next hop host too long";
			return -1;
		}
		memcpy(r->host, p, hlen);
		r->host[hlen] = '\0';
		if (p[hlen] == ':')
			port = p + hlen + 1;
	}
	if (port != NULL) {
		char *end;
		long v = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || v < 1 || v > 65535) {
			*error_r = "bad port in next hop";
			return -1;
		}
		r->port = (int)v;
	}
	if (!host_valid(r->host, 1)) {
		*error_r = "lmtp: next hop needs unix:/path or a host";
		return -1;
	}
	str_lower(r->host);
	snprintf(r->key, sizeof(r->key), "lmtp:[%s]:%d", r->host, r->port);
	return 0;
}

int
transport_parse(const char *nexthop, const char *domain, struct transport_route *r,
    const char **error_r)
{
	const char *p = nexthop, *port = NULL;
	size_t hlen;

	memset(r, 0, sizeof(*r));
	while (*p == ' ' || *p == '\t')
		p++;
	if (str_ncasecmp(p, "file:", 5) == 0) {
		r->kind = TRANSPORT_FILE;
		if (p[5] != '/' || strlen(p + 5) >= sizeof(r->path)) {
			*error_r = "file: next hop needs an absolute directory";
			return -1;
		}
		str_copy(r->path, p + 5, sizeof(r->path));
		snprintf(r->key, sizeof(r->key), "file:%s", r->path);
		return 0;
	}
	if (str_ncasecmp(p, "discard:", 8) == 0 || str_casecmp(p, "discard") == 0) {
		r->kind = TRANSPORT_DISCARD;
		str_copy(r->key, "discard:", sizeof(r->key));
		return 0;
	}
	if (str_ncasecmp(p, "lmtp:", 5) == 0)
		return parse_lmtp(p + 5, r, error_r);
	if (str_ncasecmp(p, "smtp:", 5) == 0)
		p += 5;
	else if (strchr(p, ':') != NULL && p[0] != '[' && strspn(p, "abcdefghijklmnopqrstuvwxyz") ==
	    strcspn(p, ":") && strspn(strchr(p, ':') + 1, "0123456789") != strlen(strchr(p, ':') + 1)) {
		*error_r = "unsupported transport in next hop (use smtp:, lmtp:, file: or discard:)";
		return -1;
	}
	r->kind = TRANSPORT_SMTP;
	r->port = (int)var_smtp_default_port;
	r->mx = 1;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (close == NULL) {
			*error_r = "next hop has '[' without ']'";
			return -1;
		}
		hlen = (size_t)(close - p - 1);
		if (hlen >= sizeof(r->host)) {
			*error_r = "next hop host too long";
			return -1;
		}
		memcpy(r->host, p + 1, hlen);
		r->host[hlen] = '\0';
		r->mx = 0;
		p = close + 1;
		if (*p == ':')
			port = p + 1;
		else if (*p != '\0') {
			*error_r = "junk after ']' in next hop";
			return -1;
		}
	} else {
		hlen = strcspn(p, ":");
		if (hlen >= sizeof(r->host)) {
			*error_r = "next hop host too long";
			return -1;
		}
		memcpy(r->host, p, hlen);
		r->host[hlen] = '\0';
		if (p[hlen] == ':')
			port = p + hlen + 1;
	}
	if (port != NULL) {
		char *end;
		long v = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || v < 1 || v > 65535) {
			*error_r = "bad port in next hop";
			return -1;
		}
		r->port = (int)v;
	}
	if (r->host[0] == '\0') {
		if (domain == NULL || domain[0] == '\0') {
			*error_r = "next hop without a host";
			return -1;
		}
		if (domain[0] == '[') {
			/* An address literal: the host itself, never an MX lookup. */
			size_t n = strcspn(domain + 1, "]");
			if (n == 0 || n >= sizeof(r->host)) {
				*error_r = "bad address literal";
				return -1;
			}
			memcpy(r->host, domain + 1, n);
			r->host[n] = '\0';
			if (str_ncasecmp(r->host, "IPv6:", 5) == 0)
				memmove(r->host, r->host + 5, strlen(r->host + 5) + 1);
			r->mx = 0;
		} else {
			str_copy(r->host, domain, sizeof(r->host));
		}
	}
	if (!host_valid(r->host, !r->mx)) {
		*error_r = "bad host name in next hop";
		return -1;
	}
	str_lower(r->host);
	return 0;
}

int
transport_route(const char *rcpt, struct transport_route *r, const char **error_r)
{
	static char local_default[600];
	const char *domain = smtp_addr_domain(rcpt);
	const char *nexthop = NULL;

	struct directory *dir = domain != NULL ? directory_shared() : NULL;
	struct dir_domain d;
	int in_dir = dir != NULL && domain[0] != '\0' && directory_domain_get(dir, domain, &d) == 1;

	if (domain == NULL || domain[0] == '\0' || config_list_has_domain(var_local_domains, domain) ||
	    (in_dir && d.kind == DIR_DOMAIN_LOCAL && config_map_lookup("transport", domain) == NULL)) {
		nexthop = var_local_transport;
		if (nexthop[0] == '\0' && strncmp(var_lmtp_listen, "unix:", 5) == 0) {
			/* The mail store's lmtpd runs here: local mail goes there. */
			snprintf(local_default, sizeof(local_default), "lmtp:%s", var_lmtp_listen);
			nexthop = local_default;
		} else if (nexthop[0] == '\0' && strncmp(var_lmtp_listen, "inet:", 5) == 0) {
			const char *hp = var_lmtp_listen + 5, *colon = strrchr(hp, ':');

			snprintf(local_default, sizeof(local_default), "lmtp:[%.*s]:%s",
			    colon != NULL ? (int)(colon - hp) : (int)strlen(hp), hp,
			    colon != NULL ? colon + 1 : "24");
			nexthop = local_default;
		} else if (nexthop[0] == '\0') {
			snprintf(local_default, sizeof(local_default), "file:%s/mailbox",
			    var_spool_directory);
			nexthop = local_default;
		}
	} else if ((nexthop = config_map_lookup("transport", domain)) != NULL) {
		/* explicit route */
	} else if (in_dir) {
		/* A relay or backup domain: its next hop, or its MX hosts. */
		nexthop = d.nexthop;
	} else if (var_relayhost[0] != '\0' && !config_list_has_domain(var_relay_domains, domain)) {
		nexthop = var_relayhost;
	} else {
		nexthop = "";
	}
	if (transport_parse(nexthop, domain, r, error_r) < 0)
		return -1;
	if (r->kind == TRANSPORT_SMTP) {
		r->tls = transport_tls_policy(domain, r->host);
		snprintf(r->key, sizeof(r->key), "smtp:%s%s%s:%d tls=%s", r->mx ? "" : "[", r->host,
		    r->mx ? "" : "]", r->port, tls_names[r->tls]);
	}
	return 0;
}
