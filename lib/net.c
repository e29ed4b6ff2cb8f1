/* SPDX-License-Identifier: MIT */
/*
 * net - socket addresses, listeners, CIDR matching.  See net.h.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "net.h"
#include "proc.h"

int
net_parse_hostport(const char *s, struct sockaddr_storage *ss_r, socklen_t *len_r)
{
	char host[256];
	const char *colon, *port;
	char *end;
	long p;

	memset(ss_r, 0, sizeof(*ss_r));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, close - s - 1);
		host[close - s - 1] = '\0';
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, colon - s);
		host[colon - s] = '\0';
		port = colon + 1;
	}
	p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || p <= 0 || p > 65535)
		return -1;
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		str_copy(host, "0.0.0.0", sizeof(host));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss_r;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len_r = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss_r;
		if (strcmp(host, "localhost") == 0)
			str_copy(host, "127.0.0.1", sizeof(host));
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len_r = sizeof(*sin);
	}
	return 0;
}

void
net_nodelay(int fd)
{
	int one = 1;

	/* EOPNOTSUPP on a unix socket: nothing to do there. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
net_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int
net_listen(const char *hostport, const char **error_r)
{
	static char error[300];
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (net_parse_hostport(hostport, &ss, &len) < 0) {
		snprintf(error, sizeof(error), "bad listen address \"%s\": use host:port", hostport);
		*error_r = error;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0 ||
	    net_set_nonblock(fd) < 0)
		goto fail;
	return fd;
fail:
	snprintf(error, sizeof(error), "listen on %s: %s", hostport, strerror(errno));
	*error_r = error;
	if (fd >= 0)
		close(fd);
	return -1;
}

void
net_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		/* Show IPv4-mapped clients as plain IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf, size);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, buf, size);
	} else if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, size);
	} else {
		str_copy(buf, "unknown", size);
	}
}

struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

static int
cidr_parse(const char *s, struct cidr *c)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int maxbits;

	if (n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	c->bits = maxbits;
	if (slash != NULL) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || b < 0 || b > maxbits)
			return -1;
		c->bits = (int)b;
	}
	return 0;
}

static int
cidr_contains(const struct cidr *net, const struct cidr *a)
{
	int bits = net->bits, i;

	if (net->family != a->family)
		return 0;
	for (i = 0; bits >= 8; i++, bits -= 8)
		if (net->addr[i] != a->addr[i])
			return 0;
	if (bits > 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - bits));
		if ((net->addr[i] & mask) != (a->addr[i] & mask))
			return 0;
	}
	return 1;
}

static int
cidr_match_item(const char *item, void *ctx)
{
	struct cidr net;

	return cidr_parse(item, &net) == 0 && cidr_contains(&net, ctx);
}

int
net_cidr_list_match(const char *list, const char *addr)
{
	struct cidr a;

	if (cidr_parse(addr, &a) < 0 || a.bits != (a.family == AF_INET ? 32 : 128))
		return 0;
	return config_list_foreach(list, cidr_match_item, &a) != 0;
}

struct check_ctx {
	char *bad;
	size_t size;
};

static int
cidr_check_item(const char *item, void *ctx)
{
	struct check_ctx *cc = ctx;
	struct cidr c;

	if (cidr_parse(item, &c) < 0) {
		str_copy(cc->bad, item, cc->size);
		return 1;
	}
	return 0;
}

int
net_cidr_list_check(const char *list, char *bad_r, size_t size)
{
	struct check_ctx cc = { bad_r, size };

	return config_list_foreach(list, cidr_check_item, &cc) != 0 ? -1 : 0;
}

/* ---- daemons' own listeners (policyd, lmtpd) ---- */

void
net_expand_spool(const char *spec, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	while (*spec != '\0' && n + 1 < size) {
		size_t skip = strncmp(spec, "$spool_directory", 16) == 0 ? 16 :
		    strncmp(spec, "${spool_directory}", 18) == 0 ? 18 : 0;
		if (skip > 0) {
			n += str_copy(out + n, var_spool_directory, size - n);
			spec += skip;
		} else {
			out[n++] = *spec++;
		}
		if (n >= size)
			n = size - 1;
		out[n] = '\0';
	}
}

static int
listen_unix(const char *param, const char *path, mode_t mode, const char **error_r)
{
	static char error[600];
	struct sockaddr_un sun;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	struct stat sb;
	char *dir;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(error, sizeof(error), "%s: \"%s\": the socket needs an absolute "
		    "path shorter than %zu bytes", param, path, sizeof(sun.sun_path));
		goto fail;
	}
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	if (geteuid() == 0 && proc_user_ids(var_mail_owner, &uid, &gid) < 0) {
		snprintf(error, sizeof(error), "mail_owner: unknown user \"%s\"", var_mail_owner);
		goto fail;
	}
	dir = xstrdup(path);
	if (stat(dirname(dir), &sb) < 0 && proc_mkdir(dir, 0755, uid, gid) < 0) {
		snprintf(error, sizeof(error), "%s: cannot create %s: %s", param, dir,
		    strerror(errno));
		free(dir);
		goto fail;
	}
	free(dir);
	/* What is there must be a socket nobody serves any more. */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			snprintf(error, sizeof(error), "%s: %s exists and is not a socket", param,
			    path);
			goto fail;
		}
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
			int live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
			close(fd);
			if (live) {
				snprintf(error, sizeof(error), "%s: %s is served by another "
				    "process", param, path);
				goto fail;
			}
		}
		if (unlink(path) < 0) {
			snprintf(error, sizeof(error), "%s: cannot remove the stale socket "
			    "%s: %s", param, path, strerror(errno));
			goto fail;
		}
		log_info("removed the stale socket %s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0) {
		snprintf(error, sizeof(error), "%s: %s: %s", param, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	if (chmod(path, mode) < 0 || (uid != (uid_t)-1 && chown(path, uid, gid) < 0)) {
		snprintf(error, sizeof(error), "%s: %s: %s", param, path, strerror(errno));
		close(fd);
		goto fail;
	}
	return fd;
fail:
	*error_r = error;
	return -1;
}

int
net_listen_spec(const char *param, const char *spec, mode_t mode, char *path_r, size_t size,
    const char **error_r)
{
	static char error[600];
	char v[1024];

	net_expand_spool(spec, v, sizeof(v));
	path_r[0] = '\0';
	if (v[0] == '/' || strncmp(v, "unix:", 5) == 0) {
		const char *path = v[0] == '/' ? v : v + 5;
		int fd = listen_unix(param, path, mode, error_r);
		if (fd >= 0)
			str_copy(path_r, path, size);
		return fd;
	}
	if (strncmp(v, "inet:", 5) == 0)
		return net_listen(v + 5, error_r);
	snprintf(error, sizeof(error), "%s: \"%s\": use unix:/path or inet:host:port", param, spec);
	*error_r = error;
	return -1;
}
