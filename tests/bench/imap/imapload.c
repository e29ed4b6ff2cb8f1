/* SPDX-License-Identifier: MIT */
/*
 * imapload - an IMAP load generator for tests/bench/imap/bench.py (built
 * by it with cc -O2; not part of the build).  The same binary drives
 * facteur's imapd and Dovecot.
 *
 * Usage: imapload [-T] [-m full|keep|login] [-s sessions] [-n loops]
 *	[-u user-format] [-w password] [-a append-pack] [-r seed] host:port
 *
 * Each of the sessions (default 16) is a thread with its own account,
 * printf(user-format, session number) (default "bench%d@example.org"),
 * so no session sees another's changes.  Each runs loops (default 20)
 * times, in mode full (the default):
 *
 *   connect (implicit TLS with -T), LOGIN, SELECT INBOX,
 *   FETCH 1:* (FLAGS), FETCH of 50 messages' FROM TO SUBJECT DATE from a
 *   random place, FETCH (UID RFC822.SIZE BODY.PEEK[]) of a random message,
 *   APPEND of a message from append-pack (synchronizing literal),
 *   UID STORE of that fetched message +FLAGS (\Seen), SEARCH UNSEEN,
 *   SEARCH SUBJECT or FROM a word, UID STORE of the appended message
 *   +FLAGS (\Deleted), EXPUNGE, LOGOUT.
 *
 * Mode keep does the same from SELECT to EXPUNGE over one connection and
 * one LOGIN per session; mode login only connects, logs in and out.
 *
 * Every command must end in a tagged OK, and the answers must add up: as
 * many FETCH responses as messages asked for, a body as long as its
 * RFC822.SIZE, an APPENDUID, exactly one EXPUNGE.  Anything else stops
 * the whole run (exit 1) with the command and the answer: a benchmark
 * must not count failures.  The random choices depend only on the seed
 * and the session, so two servers holding the same mailboxes get the
 * same commands, and must give the same SEARCH answers: their digest is
 * printed for the caller to compare.
 *
 * append-pack: messages, each as "<length>\n" then length bytes (CRLF
 * lines).  Output, one "key value..." per line: loops, commands,
 * seconds, loops_per_second, commands_per_second, then "cmd NAME count
 * mean_us p50_us p99_us" per command kind, then "digest NAME count hash".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define HEADER_RANGE 50
#define IO_TIMEOUT 120		/* seconds: a stuck server fails the run */

enum cmd_kind {
	C_CONNECT, C_LOGIN, C_SELECT, C_FETCH_FLAGS, C_FETCH_HEADERS, C_FETCH_BODY,
	C_APPEND, C_STORE_SEEN, C_SEARCH_UNSEEN, C_SEARCH_TEXT, C_STORE_DELETED,
	C_EXPUNGE, C_LOGOUT, C_COUNT
};

static const char *cmd_names[C_COUNT] = {
	"connect", "LOGIN", "SELECT", "FETCH_FLAGS", "FETCH_HEADERS", "FETCH_BODY",
	"APPEND", "STORE_SEEN", "SEARCH_UNSEEN", "SEARCH_TEXT", "STORE_DELETED",
	"EXPUNGE", "LOGOUT"
};

static const char *subject_words[] = {
	"ilug", "razor", "spam", "perl", "linux", "satalk", "new", "apt", "bug",
	"fwd", "spambayes", "cvs", "problem", "selling", "redhat"
};

static const char *from_words[] = {
	"matthias", "john", "tim", "kevin", "chris", "hotmail", "guardian",
	"taint", "rssfeeds", "barrera", "yahoo", "brian", "gary", "justin"
};

enum mode { M_FULL, M_KEEP, M_LOGIN };

/* Durations of one command kind, in microseconds. */
struct samples {
	double *v;
	size_t n, cap;
};

struct session {
	int id;
	pthread_t thread;
	char user[256];
	uint64_t rng;
	int fd;
	SSL *ssl;
	char in[65536];
	size_t inoff, inlen;
	/* The response being read: its text, literals replaced by "{n}". */
	char *text;
	size_t textlen, textcap;
	size_t literal_total;
	int tag;
	struct samples samples[C_COUNT];
	uint64_t digest[C_COUNT];
	long hits[C_COUNT];
	long loops_done;
	const char *cur;	/* the command being run, for error messages */
};

static struct sockaddr_in server;
static SSL_CTX *tls_ctx;
static enum mode mode = M_FULL;
static const char *password = "bench-password";
static const char *user_format = "bench%d@example.org";
static int nsessions = 16, nloops = 20;
static unsigned long seed = 1;
static char **append_msgs;
static size_t *append_lens;
static size_t nappend;
static pthread_barrier_t start_barrier;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "imapload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* One session failed: say which, what it sent, what came back; stop everything. */
static void
fail(struct session *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "imapload: session %d (%s) loop %ld: %s: %s\n", s->id, s->user,
	    s->loops_done + 1, s->cur != NULL ? s->cur : "-", msg);
	fflush(stderr);
	exit(1);
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n == 0 ? 1 : n);
	if (p == NULL)
		die("out of memory");
	return p;
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* xorshift64*: reproducible per session, the same on every machine. */
static uint32_t
rnd(struct session *s, uint32_t bound)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return (uint32_t)((s->rng * 2685821657736338717ULL) >> 32) % bound;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ULL;
	return h;
}

static void
sample_add(struct samples *sm, double us)
{
	if (sm->n == sm->cap) {
		sm->cap = sm->cap ? sm->cap * 2 : 64;
		sm->v = xrealloc(sm->v, sm->cap * sizeof(*sm->v));
	}
	sm->v[sm->n++] = us;
}

/* ---- I/O ---- */

static void
conn_write(struct session *s, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n;

		if (s->ssl != NULL) {
			int r = SSL_write(s->ssl, p, (int)len);
			if (r <= 0)
				fail(s, "TLS write failed (SSL error %d)", SSL_get_error(s->ssl, r));
			n = r;
		} else {
			n = write(s->fd, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fail(s, "write: %s", strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
conn_fill(struct session *s)
{
	ssize_t n;

	if (s->inoff > 0) {
		memmove(s->in, s->in + s->inoff, s->inlen - s->inoff);
		s->inlen -= s->inoff;
		s->inoff = 0;
	}
	if (s->inlen == sizeof(s->in))
		fail(s, "a line longer than %zu bytes", sizeof(s->in));
	if (s->ssl != NULL) {
		int r = SSL_read(s->ssl, s->in + s->inlen, (int)(sizeof(s->in) - s->inlen));
		if (r <= 0)
			fail(s, "connection closed by the server (TLS, SSL error %d)",
			    SSL_get_error(s->ssl, r));
		n = r;
	} else {
		do
			n = read(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			fail(s, "read: %s", strerror(errno));
		if (n == 0)
			fail(s, "connection closed by the server");
	}
	s->inlen += (size_t)n;
}

static void
text_add(struct session *s, const char *p, size_t n)
{
	if (s->textlen + n + 1 > s->textcap) {
		s->textcap = (s->textlen + n + 1) * 2;
		s->text = xrealloc(s->text, s->textcap);
	}
	memcpy(s->text + s->textlen, p, n);
	s->textlen += n;
	s->text[s->textlen] = '\0';
}

/*
 * One response into s->text, without its CRLF: literals are skipped and
 * replaced by "{n}" (their sizes add up in s->literal_total, the size of
 * the last one is returned through last_literal_r).
 */
static void
read_response(struct session *s, size_t *last_literal_r)
{
	s->textlen = 0;
	s->literal_total = 0;
	if (last_literal_r != NULL)
		*last_literal_r = 0;
	text_add(s, "", 0);
	for (;;) {
		char *start = s->in + s->inoff, *eol;
		size_t avail = s->inlen - s->inoff, linelen;

		eol = memchr(start, '\n', avail);
		if (eol == NULL) {
			conn_fill(s);
			continue;
		}
		linelen = (size_t)(eol - start);
		if (linelen > 0 && start[linelen - 1] == '\r')
			linelen--;
		text_add(s, start, linelen);
		s->inoff += (size_t)(eol - start) + 1;
		/* A literal announced at the end of the line: {n} or ~{n}. */
		if (s->textlen >= 3 && s->text[s->textlen - 1] == '}') {
			char *open = strrchr(s->text, '{');
			char *end;
			unsigned long n;

			if (open == NULL)
				return;
			n = strtoul(open + 1, &end, 10);
			if (end == open + 1 || *end != '}')
				return;
			s->literal_total += n;
			if (last_literal_r != NULL)
				*last_literal_r = n;
			while (n > 0) {
				size_t take = s->inlen - s->inoff;
				if (take == 0) {
					conn_fill(s);
					continue;
				}
				if (take > n)
					take = n;
				s->inoff += take;
				n -= take;
			}
			continue;	/* the rest of the response follows the literal */
		}
		return;
	}
}

static void
conn_open(struct session *s)
{
	struct timeval tv = { IO_TIMEOUT, 0 };
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0)
		fail(s, "socket: %s", strerror(errno));
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s->fd, (struct sockaddr *)&server, sizeof(server)) < 0)
		fail(s, "connect: %s", strerror(errno));
	s->inoff = s->inlen = 0;
	s->ssl = NULL;
	if (tls_ctx != NULL) {
		s->ssl = SSL_new(tls_ctx);
		if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
			fail(s, "SSL_new failed");
		if (SSL_connect(s->ssl) != 1) {
			char err[256];
			ERR_error_string_n(ERR_get_error(), err, sizeof(err));
			fail(s, "TLS handshake failed: %s", err);
		}
	}
	s->cur = "greeting";
	read_response(s, NULL);
	if (strncmp(s->text, "* OK", 4) != 0)
		fail(s, "greeting: %s", s->text);
}

static void
conn_close(struct session *s)
{
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	close(s->fd);
	s->fd = -1;
}

/* ---- commands ---- */

/* What a command's untagged responses told. */
struct answer {
	long exists;		/* * N EXISTS, or -1 */
	long fetches;		/* * N FETCH */
	long expunges;		/* * N EXPUNGE */
	long search_count;
	uint64_t search_hash;
	long rfc822_size;	/* of the last FETCH, or -1 */
	size_t body_len;	/* its last literal */
	long uid;		/* of the last FETCH, or -1 */
	long append_uid;	/* from [APPENDUID v uid], or -1 */
	int bye;
};

static long
number_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p == NULL ? -1 : strtol(p + strlen(key), NULL, 10);
}

static void
parse_untagged(struct session *s, struct answer *a, size_t literal)
{
	const char *t = s->text + 2;
	char *end;
	long n;

	if (strncmp(t, "BYE", 3) == 0) {
		a->bye = 1;
		return;
	}
	if (strncmp(t, "SEARCH", 6) == 0) {
		const char *p = t + 6;
		for (;;) {
			n = strtol(p, &end, 10);
			if (end == p)
				break;
			a->search_count++;
			a->search_hash = fnv(a->search_hash, &n, sizeof(n));
			p = end;
		}
		return;
	}
	n = strtol(t, &end, 10);
	if (end == t)
		return;
	if (strncmp(end, " EXISTS", 7) == 0)
		a->exists = n;
	else if (strncmp(end, " EXPUNGE", 8) == 0)
		a->expunges++;
	else if (strncmp(end, " FETCH", 6) == 0) {
		a->fetches++;
		a->rfc822_size = number_after(end, "RFC822.SIZE ");
		a->uid = number_after(end, "UID ");
		a->body_len = literal;
	}
}

/*
 * Send "tag command", read up to the tagged answer, fail unless it is OK.
 * With a literal, the command ends in {len} and the message follows the
 * server's "+" continuation.
 */
static void
run(struct session *s, enum cmd_kind kind, struct answer *a, const char *literal,
    size_t literal_len, const char *fmt, ...)
{
	char line[1024], tag[16];
	int len, taglen;
	size_t lit;
	double t0 = now_us();
	va_list ap;

	memset(a, 0, sizeof(*a));
	a->exists = a->rfc822_size = a->uid = a->append_uid = -1;
	a->search_hash = 14695981039346656037ULL;
	taglen = snprintf(tag, sizeof(tag), "A%d", ++s->tag);
	len = snprintf(line, sizeof(line), "%s ", tag);
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
	va_end(ap);
	if (len >= (int)sizeof(line) - 2)
		die("command too long");
	s->cur = line;
	memcpy(line + len, "\r\n", 3);
	conn_write(s, line, (size_t)len + 2);
	line[len] = '\0';
	if (literal != NULL) {
		read_response(s, NULL);
		if (s->text[0] != '+')
			fail(s, "no continuation for the literal: %s", s->text);
		conn_write(s, literal, literal_len);
		conn_write(s, "\r\n", 2);
	}
	for (;;) {
		read_response(s, &lit);
		if (s->text[0] == '*' && s->text[1] == ' ') {
			parse_untagged(s, a, lit);
			continue;
		}
		if (strncmp(s->text, tag, (size_t)taglen) == 0 && s->text[taglen] == ' ')
			break;
		if (s->text[0] == '+')
			fail(s, "unexpected continuation: %s", s->text);
		fail(s, "unexpected line: %s", s->text);
	}
	if (strncmp(s->text + taglen, " OK", 3) != 0)
		fail(s, "%s", s->text);
	a->append_uid = number_after(s->text, "[APPENDUID ");
	if (a->append_uid >= 0) {
		/* [APPENDUID uidvalidity uid]: the second number. */
		const char *p = strstr(s->text, "[APPENDUID ") + 11;
		char *end;
		strtol(p, &end, 10);
		a->append_uid = strtol(end, NULL, 10);
	}
	sample_add(&s->samples[kind], now_us() - t0);
	s->hits[kind]++;
	s->cur = NULL;
}

static void
login(struct session *s)
{
	struct answer a;
	double t0 = now_us();

	conn_open(s);
	sample_add(&s->samples[C_CONNECT], now_us() - t0);
	s->hits[C_CONNECT]++;
	run(s, C_LOGIN, &a, NULL, 0, "LOGIN \"%s\" \"%s\"", s->user, password);
}

static void
logout(struct session *s)
{
	struct answer a;

	run(s, C_LOGOUT, &a, NULL, 0, "LOGOUT");
	if (!a.bye)
		fail(s, "LOGOUT without BYE");
	conn_close(s);
}

static void
digest(struct session *s, enum cmd_kind kind, const struct answer *a)
{
	s->digest[kind] = fnv(s->digest[kind], &a->search_count, sizeof(a->search_count));
	s->digest[kind] = fnv(s->digest[kind], &a->search_hash, sizeof(a->search_hash));
}

/* SELECT to EXPUNGE: what a client does with a mailbox once logged in. */
static void
work(struct session *s)
{
	struct answer a;
	long exists, first, last, k, uid, appended;
	size_t m;

	run(s, C_SELECT, &a, NULL, 0, "SELECT INBOX");
	exists = a.exists;
	if (exists < 1)
		fail(s, "SELECT: no EXISTS, or an empty INBOX (%ld)", exists);

	run(s, C_FETCH_FLAGS, &a, NULL, 0, "FETCH 1:* (FLAGS)");
	if (a.fetches != exists)
		fail(s, "%ld FETCH responses for %ld messages", a.fetches, exists);

	first = 1 + (exists > HEADER_RANGE ? (long)rnd(s, (uint32_t)(exists - HEADER_RANGE + 1)) : 0);
	last = first + HEADER_RANGE - 1 > exists ? exists : first + HEADER_RANGE - 1;
	run(s, C_FETCH_HEADERS, &a, NULL, 0,
	    "FETCH %ld:%ld (BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])", first, last);
	if (a.fetches != last - first + 1)
		fail(s, "%ld FETCH responses for %ld messages", a.fetches, last - first + 1);

	k = 1 + (long)rnd(s, (uint32_t)exists);
	run(s, C_FETCH_BODY, &a, NULL, 0, "FETCH %ld (UID RFC822.SIZE BODY.PEEK[])", k);
	if (a.fetches != 1 || a.uid < 1 || a.rfc822_size < 1 || (size_t)a.rfc822_size != a.body_len)
		fail(s, "FETCH: %ld responses, UID %ld, RFC822.SIZE %ld, body of %zu bytes",
		    a.fetches, a.uid, a.rfc822_size, a.body_len);
	uid = a.uid;

	m = rnd(s, (uint32_t)nappend);
	run(s, C_APPEND, &a, append_msgs[m], append_lens[m], "APPEND INBOX {%zu}", append_lens[m]);
	if (a.append_uid < 1)
		fail(s, "APPEND: no APPENDUID in the answer");
	appended = a.append_uid;

	run(s, C_STORE_SEEN, &a, NULL, 0, "UID STORE %ld +FLAGS (\\Seen)", uid);

	run(s, C_SEARCH_UNSEEN, &a, NULL, 0, "SEARCH UNSEEN");
	digest(s, C_SEARCH_UNSEEN, &a);

	if (rnd(s, 2) == 0)
		run(s, C_SEARCH_TEXT, &a, NULL, 0, "SEARCH SUBJECT \"%s\"",
		    subject_words[rnd(s, sizeof(subject_words) / sizeof(*subject_words))]);
	else
		run(s, C_SEARCH_TEXT, &a, NULL, 0, "SEARCH FROM \"%s\"",
		    from_words[rnd(s, sizeof(from_words) / sizeof(*from_words))]);
	digest(s, C_SEARCH_TEXT, &a);

	run(s, C_STORE_DELETED, &a, NULL, 0, "UID STORE %ld +FLAGS (\\Deleted)", appended);
	run(s, C_EXPUNGE, &a, NULL, 0, "EXPUNGE");
	if (a.expunges != 1)
		fail(s, "EXPUNGE: %ld messages expunged, not 1", a.expunges);
}

static void *
session_main(void *arg)
{
	struct session *s = arg;

	pthread_barrier_wait(&start_barrier);
	if (mode == M_KEEP)
		login(s);
	for (s->loops_done = 0; s->loops_done < nloops; s->loops_done++) {
		if (mode != M_KEEP)
			login(s);
		if (mode != M_LOGIN)
			work(s);
		if (mode != M_KEEP)
			logout(s);
	}
	if (mode == M_KEEP)
		logout(s);
	return NULL;
}

/* ---- setup and report ---- */

static void
load_pack(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t len, cap = 0;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fscanf(f, "%zu", &len) == 1) {
		if (fgetc(f) != '\n')
			die("%s: bad pack file", path);
		if (nappend == cap) {
			cap = cap ? cap * 2 : 64;
			append_msgs = xrealloc(append_msgs, cap * sizeof(*append_msgs));
			append_lens = xrealloc(append_lens, cap * sizeof(*append_lens));
		}
		append_msgs[nappend] = xrealloc(NULL, len);
		if (fread(append_msgs[nappend], 1, len, f) != len)
			die("%s: truncated", path);
		append_lens[nappend++] = len;
	}
	fclose(f);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr, "usage: imapload [-T] [-m full|keep|login] [-s sessions] [-n loops] "
	    "[-u user-format] [-w password] [-a append-pack] [-r seed] host:port\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct session *sessions;
	const char *pack = NULL;
	char host[256], *colon;
	double t0, elapsed;
	long loops = 0, commands = 0;
	int ch, tls = 0;

	while ((ch = getopt(argc, argv, "Tm:s:n:u:w:a:r:")) != -1) {
		switch (ch) {
		case 'T': tls = 1; break;
		case 'm':
			if (strcmp(optarg, "full") == 0)
				mode = M_FULL;
			else if (strcmp(optarg, "keep") == 0)
				mode = M_KEEP;
			else if (strcmp(optarg, "login") == 0)
				mode = M_LOGIN;
			else
				usage();
			break;
		case 's': nsessions = atoi(optarg); break;
		case 'n': nloops = atoi(optarg); break;
		case 'u': user_format = optarg; break;
		case 'w': password = optarg; break;
		case 'a': pack = optarg; break;
		case 'r': seed = strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (optind + 1 != argc || nsessions < 1 || nloops < 1)
		usage();
	if (mode != M_LOGIN) {
		if (pack == NULL)
			die("-a append-pack is needed unless -m login");
		load_pack(pack);
		if (nappend == 0)
			die("%s: no messages", pack);
	}
	snprintf(host, sizeof(host), "%s", argv[optind]);
	colon = strrchr(host, ':');
	if (colon == NULL)
		usage();
	*colon = '\0';
	memset(&server, 0, sizeof(server));
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
		die("%s: not an IPv4 address", host);
	if (tls) {
		tls_ctx = SSL_CTX_new(TLS_client_method());
		if (tls_ctx == NULL)
			die("SSL_CTX_new failed");
		/* The bench's own self-signed certificate: nothing to verify. */
		SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
		/* Every connection makes a full handshake, as a new client does. */
		SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
	}

	sessions = calloc((size_t)nsessions, sizeof(*sessions));
	if (sessions == NULL)
		die("out of memory");
	pthread_barrier_init(&start_barrier, NULL, (unsigned)nsessions + 1);
	for (int i = 0; i < nsessions; i++) {
		struct session *s = &sessions[i];
		s->id = i;
		s->fd = -1;
		snprintf(s->user, sizeof(s->user), user_format, i);
		s->rng = (seed * 1000003ULL + (uint64_t)i) * 0x9E3779B97F4A7C15ULL | 1;
		for (int k = 0; k < C_COUNT; k++)
			s->digest[k] = 14695981039346656037ULL;
		if (pthread_create(&s->thread, NULL, session_main, s) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&start_barrier);
	t0 = now_us();
	for (int i = 0; i < nsessions; i++)
		pthread_join(sessions[i].thread, NULL);
	elapsed = (now_us() - t0) / 1e6;

	for (int i = 0; i < nsessions; i++) {
		loops += sessions[i].loops_done;
		for (int k = C_LOGIN; k < C_COUNT; k++)
			commands += sessions[i].hits[k];
	}
	printf("loops %ld\ncommands %ld\nseconds %.4f\nloops_per_second %.2f\n"
	    "commands_per_second %.2f\n", loops, commands, elapsed, loops / elapsed,
	    commands / elapsed);
	for (int k = 0; k < C_COUNT; k++) {
		struct samples all = { NULL, 0, 0 };
		double sum = 0;

		for (int i = 0; i < nsessions; i++)
			for (size_t j = 0; j < sessions[i].samples[k].n; j++)
				sample_add(&all, sessions[i].samples[k].v[j]);
		if (all.n == 0)
			continue;
		qsort(all.v, all.n, sizeof(*all.v), cmp_double);
		for (size_t j = 0; j < all.n; j++)
			sum += all.v[j];
		printf("cmd %s %zu %.0f %.0f %.0f\n", cmd_names[k], all.n, sum / all.n,
		    all.v[all.n / 2], all.v[(size_t)(all.n * 0.99)]);
		free(all.v);
	}
	for (int k = C_SEARCH_UNSEEN; k <= C_SEARCH_TEXT; k++) {
		uint64_t h = 14695981039346656037ULL;
		long n = 0;

		for (int i = 0; i < nsessions; i++) {
			h = fnv(h, &sessions[i].digest[k], sizeof(uint64_t));
			n += sessions[i].hits[k];
		}
		printf("digest %s %ld %016llx\n", cmd_names[k], n, (unsigned long long)h);
	}
	return 0;
}
