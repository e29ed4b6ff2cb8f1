/* SPDX-License-Identifier: MIT */
/*
 * policy_load - a load generator for Postfix policy services, for
 * tests/bench/policy/bench.py (built by it with cc; not part of the build).
 *
 * Usage: policy_load [-c conns] [-o answers] host:port requests
 *
 * The requests file holds policy requests as Postfix sends them
 * (name=value lines, each request ended by an empty line).  conns
 * connections (default 16) each send one request, wait for its answer
 * (lines up to an empty one) and take the next request not yet sent, as
 * Postfix's smtpd processes do: one request in flight per connection.
 * One process, one epoll loop, so the server gets most of the machine.
 *
 * Prints one line, "requests N seconds S per_second R p50_us P p99_us Q",
 * and with -o writes the action of each answer (the text after "action="),
 * one line per request in the order of the file.  Exit 1 when a
 * connection fails or an answer is not the protocol.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX 4096

struct conn {
	int fd;
	long req;		/* request in flight, -1 when idle */
	size_t sent;		/* bytes of it written */
	char in[ANSWER_MAX];
	size_t inlen;
	double started;
};

static char *reqbuf;		/* the file */
static size_t *reqoff, *reqlen;
static long nreq;
static char **actions;
static double *latency;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "policy_load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		die("%s", "out of memory");
	return p;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read the file and cut it into requests at each empty line. */
static void
load_requests(const char *path)
{
	struct stat sb;
	size_t cap = 1024, start = 0, i;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &sb) < 0)
		die("cannot read %s", path);
	reqbuf = xmalloc((size_t)sb.st_size + 1);
	for (size_t got = 0; got < (size_t)sb.st_size; got += (size_t)n)
		if ((n = read(fd, reqbuf + got, (size_t)sb.st_size - got)) <= 0)
			die("cannot read %s", path);
	close(fd);
	reqoff = xmalloc(cap * sizeof(*reqoff));
	reqlen = xmalloc(cap * sizeof(*reqlen));
	for (i = 0; i + 1 < (size_t)sb.st_size; i++) {
		if (reqbuf[i] != '\n' || reqbuf[i + 1] != '\n')
			continue;
		if ((size_t)nreq == cap) {
			cap *= 2;
			reqoff = realloc(reqoff, cap * sizeof(*reqoff));
			reqlen = realloc(reqlen, cap * sizeof(*reqlen));
			if (reqoff == NULL || reqlen == NULL)
				die("%s", "out of memory");
		}
		reqoff[nreq] = start;
		reqlen[nreq++] = i + 2 - start;
		start = i + 2;
		i++;
	}
	if (nreq == 0)
		die("no request in %s", path);
}

static int
conn_open(const char *host, int port)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		die("not an IPv4 address: %s", host);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/*
 * Write the request in flight.  A request is a few hundred bytes and the
 * socket's buffer is empty when it is sent: waiting for room is rare.
 */
static void
conn_send(struct conn *c)
{
	while (c->sent < reqlen[c->req]) {
		ssize_t n = write(c->fd, reqbuf + reqoff[c->req] + c->sent, reqlen[c->req] - c->sent);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { c->fd, POLLOUT, 0 };
			poll(&pfd, 1, 1000);
			continue;
		}
		if (n <= 0)
			die("write: %s", strerror(errno));
		c->sent += (size_t)n;
	}
}

/* 1 when the answer is complete (and recorded). */
static int
conn_recv(struct conn *c)
{
	char *end, *act;
	ssize_t n;

	for (;;) {
		if (c->inlen == sizeof(c->in) - 1)
			die("%s", "answer too long");
		n = read(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n == 0)
			die("%s", "the server closed a connection");
		if (n < 0)
			die("read: %s", strerror(errno));
		c->inlen += (size_t)n;
		c->in[c->inlen] = '\0';
		if ((end = strstr(c->in, "\n\n")) != NULL)
			break;
	}
	if (end + 2 != c->in + c->inlen)
		die("%s", "data after an answer (the server answered a request not sent)");
	*end = '\0';
	if (strncmp(c->in, "action=", 7) != 0)
		die("answer without action=: %s", c->in);
	act = c->in + 7;
	act[strcspn(act, "\n")] = '\0';
	actions[c->req] = strdup(act);
	latency[c->req] = now() - c->started;
	c->inlen = 0;
	return 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *out = NULL;
	char host[256], *colon;
	struct epoll_event ev, evs[64];
	struct conn *conns;
	long next = 0, done = 0;
	double t0, secs;
	int ch, nconn = 16, ep;

	while ((ch = getopt(argc, argv, "c:o:")) != -1) {
		switch (ch) {
		case 'c': nconn = atoi(optarg); break;
		case 'o': out = optarg; break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || nconn < 1 || nconn > 4096)
		goto usage;
	snprintf(host, sizeof(host), "%s", argv[optind]);
	if ((colon = strrchr(host, ':')) == NULL)
		goto usage;
	*colon = '\0';
	load_requests(argv[optind + 1]);
	actions = calloc((size_t)nreq, sizeof(*actions));
	latency = calloc((size_t)nreq, sizeof(*latency));
	conns = calloc((size_t)nconn, sizeof(*conns));
	if (actions == NULL || latency == NULL || conns == NULL || (ep = epoll_create1(0)) < 0)
		die("%s", "out of memory");
	for (int i = 0; i < nconn; i++) {
		conns[i].fd = conn_open(host, atoi(colon + 1));
		conns[i].req = -1;
		ev.events = EPOLLIN;
		ev.data.ptr = &conns[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	t0 = now();
	for (int i = 0; i < nconn && next < nreq; i++) {
		conns[i].req = next++;
		conns[i].started = now();
		conn_send(&conns[i]);
	}
	while (done < nreq) {
		int n = epoll_wait(ep, evs, 64, 60000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("%s", "no answer for 60 seconds");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->req < 0)
				die("%s", "the server wrote when no request was in flight");
			if (!conn_recv(c))
				continue;
			done++;
			c->req = -1;
			c->sent = 0;
			if (next < nreq) {
				c->req = next++;
				c->started = now();
				conn_send(c);
			}
		}
	}
	secs = now() - t0;
	qsort(latency, (size_t)nreq, sizeof(*latency), cmp_double);
	printf("requests %ld seconds %.3f per_second %.1f p50_us %.0f p99_us %.0f\n", nreq, secs,
	    (double)nreq / secs, latency[nreq / 2] * 1e6, latency[(nreq * 99) / 100] * 1e6);
	if (out != NULL) {
		FILE *f = fopen(out, "w");
		if (f == NULL)
			die("cannot write %s", out);
		for (long i = 0; i < nreq; i++)
			fprintf(f, "%s\n", actions[i]);
		if (fclose(f) != 0)
			die("cannot write %s", out);
	}
	return 0;
usage:
	fprintf(stderr, "usage: policy_load [-c conns] [-o answers] host:port requests\n");
	return 2;
}
