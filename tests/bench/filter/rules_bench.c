/* SPDX-License-Identifier: MIT */
/*
 * rules_bench - facteur's rule matching against bare Hyperscan on the same
 * compiled databases and the same data, for tests/bench/filter.
 *
 *   rules_bench [-c facteur.conf] [-r ROUNDS] [-p N] [-H] [-E | -B | -T] FILE...
 *
 * Each message goes once through the filter pipeline (rules only: no
 * antivirus, classifier or SPF/DKIM/DMARC), fed line by line as smtpd
 * feeds it, and every call the pipeline makes to the rules engine
 * (rules_match_*) is recorded; the program is linked with --wrap for
 * those functions and for hs_scan / hs_*_stream.  The recorded calls are
 * then replayed through the rules engine once more, recording every
 * Hyperscan call it makes on the rules' databases (database, data); the
 * scans a confirmation makes (a "lines" rule's line read backwards for
 * where its group starts) are the engine's own work, timed with it, not
 * bare Hyperscan's.  Timed rounds then alternate:
 * the pipeline itself (MIME parsing included), the rules engine replaying
 * the calls (grouping, PCRE2 confirmation, if-unset, meta rules), the
 * engine again without the meta rules (rules_scan_ms: the sub-rules it
 * leaves undecided are then never confirmed, so the whole engine's
 * ratio is the one to read), and a bare loop calling hs_scan /
 * hs_scan_stream with the same databases on the same bytes with a
 * callback that only counts.  Prints key value
 * lines, times per message being the median over rounds of CPU time, the
 * ratios the median of each round's ratio.
 * With -p N, one more replay times each rule's confirmation (PCRE2, the
 * scans of a lines rule's lines, the counting of tflags multiple) and
 * the N rules that took longest are printed on stderr, with their
 * milliseconds over that replay.  With -H, the number of messages each
 * rule hit, on stderr ("hits NAME N"), to compare two builds.  With -E,
 * the rounds run the rules engine's replay only, for a profiler (perf
 * record) to see the engine alone; nothing is printed but the time.  With
 * -B, the rounds run the bare Hyperscan loop only, the profile to set
 * beside -E's.  With -T, each round runs the engine's replay then the bare
 * loop with the processor's cycle counter read around every call: the
 * cycles of Hyperscan in each (its callbacks apart), and the engine's
 * own by kind of call (header, headers_end, uri, open, feed, the end of
 * the streams, the metas), a message's average over the rounds; the
 * counter's reads add some 50 cycles to each call timed.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hs.h>
#include <x86intrin.h>

#include "filter/pipeline.h"
#include "filter/rules_compile.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"

/* ---- the rules engine calls of each message ---- */

enum rop { R_HEADER, R_HEADERS_END, R_URI, R_OPEN, R_FEED, R_CLOSE, R_SET_HIT, R_FINISH };

struct rcall {
	enum rop op;
	unsigned int arg;	/* mods, stream type or rule */
	char *name;
	char *data;
	size_t len;
};

/* ---- the Hyperscan calls the engine made ---- */

enum hop { H_SCAN, H_OPEN, H_SCAN_STREAM, H_CLOSE };

struct hcall {
	enum hop op;
	int sid;		/* stream: index among the message's streams */
	const hs_database_t *db;
	char *data;
	unsigned int len;
	match_event_handler cb;	/* H_SCAN: the engine's callback */
};

struct message {
	char *data;		/* CRLF lines */
	size_t len;
	struct rcall *rc;
	size_t nrc, rccap;
	struct hcall *hc;
	size_t nhc, hccap;
	int nstreams;
};

static struct message *recording;	/* rules_match_* calls go here */
static struct message *hs_recording;	/* hs_* calls go here */
static hs_stream_t *hs_streams[16];	/* recording: stream of each sid */
static const struct rules *cap_rules;
static struct rules_scratch *cap_scratch;

static struct rcall *
rc_add(struct message *msg, enum rop op)
{
	struct rcall *c;

	if (msg->nrc == msg->rccap) {
		msg->rccap = msg->rccap ? msg->rccap * 2 : 64;
		msg->rc = xrealloc(msg->rc, msg->rccap * sizeof(*msg->rc));
	}
	c = &msg->rc[msg->nrc++];
	memset(c, 0, sizeof(*c));
	c->op = op;
	return c;
}

static char *
dup_bytes(const void *data, size_t len)
{
	char *p = xmalloc(len + 1);

	memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

struct rules_match *__real_rules_match_new(const struct rules *r, struct rules_scratch *s);
void __real_rules_match_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len);
void __real_rules_match_headers_end(struct rules_match *m);
void __real_rules_match_uri(struct rules_match *m, const char *url, size_t len);
int __real_rules_match_stream_open(struct rules_match *m, enum sa_rule_type type);
void __real_rules_match_stream_feed(struct rules_match *m, enum sa_rule_type type,
    const void *data, size_t len);
void __real_rules_match_stream_close(struct rules_match *m, enum sa_rule_type type);
void __real_rules_match_set_hit(struct rules_match *m, unsigned int rule);
void __real_rules_match_finish(struct rules_match *m);

struct rules_match *__wrap_rules_match_new(const struct rules *r, struct rules_scratch *s);
void __wrap_rules_match_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len);
void __wrap_rules_match_headers_end(struct rules_match *m);
void __wrap_rules_match_uri(struct rules_match *m, const char *url, size_t len);
int __wrap_rules_match_stream_open(struct rules_match *m, enum sa_rule_type type);
void __wrap_rules_match_stream_feed(struct rules_match *m, enum sa_rule_type type,
    const void *data, size_t len);
void __wrap_rules_match_stream_close(struct rules_match *m, enum sa_rule_type type);
void __wrap_rules_match_set_hit(struct rules_match *m, unsigned int rule);
void __wrap_rules_match_finish(struct rules_match *m);

struct rules_match *
__wrap_rules_match_new(const struct rules *r, struct rules_scratch *s)
{
	cap_rules = r;
	cap_scratch = s;
	return __real_rules_match_new(r, s);
}

void
__wrap_rules_match_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len)
{
	if (recording != NULL) {
		struct rcall *c = rc_add(recording, R_HEADER);
		c->arg = mods;
		c->name = xstrdup(name);
		c->data = dup_bytes(value, len);
		c->len = len;
	}
	__real_rules_match_header(m, name, mods, value, len);
}

void
__wrap_rules_match_headers_end(struct rules_match *m)
{
	if (recording != NULL)
		rc_add(recording, R_HEADERS_END);
	__real_rules_match_headers_end(m);
}

void
__wrap_rules_match_uri(struct rules_match *m, const char *url, size_t len)
{
	if (recording != NULL) {
		struct rcall *c = rc_add(recording, R_URI);
		c->data = dup_bytes(url, len);
		c->len = len;
	}
	__real_rules_match_uri(m, url, len);
}

int
__wrap_rules_match_stream_open(struct rules_match *m, enum sa_rule_type type)
{
	if (recording != NULL)
		rc_add(recording, R_OPEN)->arg = type;
	return __real_rules_match_stream_open(m, type);
}

void
__wrap_rules_match_stream_feed(struct rules_match *m, enum sa_rule_type type, const void *data,
    size_t len)
{
	if (recording != NULL) {
		struct rcall *c = rc_add(recording, R_FEED);
		c->arg = type;
		c->data = dup_bytes(data, len);
		c->len = len;
	}
	__real_rules_match_stream_feed(m, type, data, len);
}

void
__wrap_rules_match_stream_close(struct rules_match *m, enum sa_rule_type type)
{
	if (recording != NULL)
		rc_add(recording, R_CLOSE)->arg = type;
	__real_rules_match_stream_close(m, type);
}

void
__wrap_rules_match_set_hit(struct rules_match *m, unsigned int rule)
{
	if (recording != NULL)
		rc_add(recording, R_SET_HIT)->arg = rule;
	__real_rules_match_set_hit(m, rule);
}

void
__wrap_rules_match_finish(struct rules_match *m)
{
	if (recording != NULL)
		rc_add(recording, R_FINISH);
	__real_rules_match_finish(m);
}

/* ---- Hyperscan ---- */

hs_error_t __real_hs_scan(const hs_database_t *db, const char *data, unsigned int length,
    unsigned int flags, hs_scratch_t *scratch, match_event_handler onEvent, void *context);
hs_error_t __real_hs_open_stream(const hs_database_t *db, unsigned int flags,
    hs_stream_t **stream);
hs_error_t __real_hs_scan_stream(hs_stream_t *id, const char *data, unsigned int length,
    unsigned int flags, hs_scratch_t *scratch, match_event_handler onEvent, void *ctxt);
hs_error_t __real_hs_close_stream(hs_stream_t *id, hs_scratch_t *scratch,
    match_event_handler onEvent, void *ctxt);
hs_error_t __wrap_hs_scan(const hs_database_t *db, const char *data, unsigned int length,
    unsigned int flags, hs_scratch_t *scratch, match_event_handler onEvent, void *context);
hs_error_t __wrap_hs_open_stream(const hs_database_t *db, unsigned int flags,
    hs_stream_t **stream);
hs_error_t __wrap_hs_scan_stream(hs_stream_t *id, const char *data, unsigned int length,
    unsigned int flags, hs_scratch_t *scratch, match_event_handler onEvent, void *ctxt);
hs_error_t __wrap_hs_close_stream(hs_stream_t *id, hs_scratch_t *scratch,
    match_event_handler onEvent, void *ctxt);

static struct hcall *
hc_add(struct message *msg, enum hop op)
{
	struct hcall *c;

	if (msg->nhc == msg->hccap) {
		msg->hccap = msg->hccap ? msg->hccap * 2 : 64;
		msg->hc = xrealloc(msg->hc, msg->hccap * sizeof(*msg->hc));
	}
	c = &msg->hc[msg->nhc++];
	memset(c, 0, sizeof(*c));
	c->op = op;
	return c;
}

/*
 * -T: the cycles spent in Hyperscan's calls, less those of the match
 * callbacks they make, in the engine and in the bare loop (whose
 * callback is count_match), and the engine's own by kind of call.
 */
static int count_match(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *context);
static int hs_timed;
static unsigned long long op_own[R_FINISH + 1], op_hs[R_FINISH + 1], op_n[R_FINISH + 1];
static unsigned long long hs_cycles, cb_cycles;
static match_event_handler timed_cb;
static void *timed_ctx;

static int
timed_match(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *context)
{
	unsigned long long t = __rdtsc();
	int rc = timed_cb(id, from, to, flags, timed_ctx);

	(void)context;
	cb_cycles += __rdtsc() - t;
	return rc;
}

/* A timed call: timed_match calls cb; the cycle counter at the start. */
static unsigned long long
timed_start(match_event_handler cb, void *context)
{
	timed_cb = cb;
	timed_ctx = context;
	return __rdtsc();
}

/*
 * The callback the engine gives its databases' scans (those of the
 * streams): an H_SCAN with another one is a confirmation's.
 */
static match_event_handler group_cb;

static int
bare_scan(const struct hcall *c)
{
	return c->op != H_SCAN || group_cb == NULL || c->cb == group_cb;
}

static int
stream_sid(hs_stream_t *s)
{
	for (int i = 0; i < hs_recording->nstreams; i++)
		if (hs_streams[i] == s)
			return i;
	panic("rules_bench: unknown stream");
}

hs_error_t
__wrap_hs_scan(const hs_database_t *db, const char *data, unsigned int length,
    unsigned int flags, hs_scratch_t *scratch, match_event_handler onEvent, void *context)
{
	if (hs_recording != NULL) {
		struct hcall *c = hc_add(hs_recording, H_SCAN);
		c->cb = onEvent;
		c->db = db;
		c->data = dup_bytes(data, length);
		c->len = length;
	}
	/* Not a confirmation's scan: the engine's own work. */
	if (hs_timed && (onEvent == group_cb || onEvent == count_match)) {
		unsigned long long t = timed_start(onEvent, context);
		hs_error_t e = __real_hs_scan(db, data, length, flags, scratch, timed_match, NULL);

		hs_cycles += __rdtsc() - t;
		return e;
	}
	return __real_hs_scan(db, data, length, flags, scratch, onEvent, context);
}

hs_error_t
__wrap_hs_open_stream(const hs_database_t *db, unsigned int flags, hs_stream_t **stream)
{
	hs_error_t e = __real_hs_open_stream(db, flags, stream);

	if (hs_recording != NULL && e == HS_SUCCESS) {
		struct hcall *c = hc_add(hs_recording, H_OPEN);
		if (hs_recording->nstreams == 16)
			panic("rules_bench: too many streams");
		c->db = db;
		c->sid = hs_recording->nstreams;
		hs_streams[hs_recording->nstreams++] = *stream;
	}
	return e;
}

hs_error_t
__wrap_hs_scan_stream(hs_stream_t *id, const char *data, unsigned int length,
    unsigned int flags, hs_scratch_t *scratch, match_event_handler onEvent, void *ctxt)
{
	if (hs_recording != NULL) {
		struct hcall *c = hc_add(hs_recording, H_SCAN_STREAM);
		group_cb = onEvent;
		c->sid = stream_sid(id);
		c->data = dup_bytes(data, length);
		c->len = length;
	}
	if (hs_timed) {
		unsigned long long t = timed_start(onEvent, ctxt);
		hs_error_t e = __real_hs_scan_stream(id, data, length, flags, scratch, timed_match,
		    NULL);

		hs_cycles += __rdtsc() - t;
		return e;
	}
	return __real_hs_scan_stream(id, data, length, flags, scratch, onEvent, ctxt);
}

hs_error_t
__wrap_hs_close_stream(hs_stream_t *id, hs_scratch_t *scratch, match_event_handler onEvent,
    void *ctxt)
{
	if (hs_recording != NULL)
		hc_add(hs_recording, H_CLOSE)->sid = stream_sid(id);
	if (hs_timed && onEvent != NULL) {
		unsigned long long t = timed_start(onEvent, ctxt);
		hs_error_t e = __real_hs_close_stream(id, scratch, timed_match, NULL);

		hs_cycles += __rdtsc() - t;
		return e;
	}
	return __real_hs_close_stream(id, scratch, onEvent, ctxt);
}

/* ---- the three ways through the messages ---- */

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *rcpts[] = { "rcpt@example.net" };

static void
run_pipeline(struct filter *f, const struct message *msg)
{
	struct filter_envelope env;
	struct filter_msg *m;

	memset(&env, 0, sizeof(env));
	env.qid = "BENCH";
	env.client_addr = "192.0.2.25";
	env.helo = "mail.example.org";
	env.sender = "sender@example.org";
	env.rcpts = rcpts;
	env.nrcpts = 1;
	m = filter_msg_new(f, &env);
	filter_msg_feed_lines(m, msg->data, msg->len);
	(void)filter_msg_finish(m, msg->data, msg->len);
	filter_msg_free(&m);
}

/* Replay without the meta rules: the scanning alone. */
static int scan_only;
/* -H: every sub-rule decided (rules_match_resolve_all), as an older build did. */
static int resolve_subrules;
static struct rules_match *replay_match;
/* Per rule, for -p: confirmation, and messages hit. */
static struct rules_profile *profile;
static unsigned int *prof_hits;

static unsigned int
replay_rules(const struct message *msg)
{
	struct rules_match *m;
	unsigned int n;

	/* One match, reset between messages, as the filter reuses its pooled ones. */
	if (replay_match == NULL)
		replay_match = __real_rules_match_new(cap_rules, cap_scratch);
	else
		rules_match_reset(replay_match);
	m = replay_match;
	rules_match_set_profile(m, profile);

	for (size_t i = 0; i < msg->nrc; i++) {
		const struct rcall *c = &msg->rc[i];
		unsigned long long t0 = hs_timed ? __rdtsc() : 0, h0 = hs_cycles;

		switch (c->op) {
		case R_HEADER:
			__real_rules_match_header(m, c->name, c->arg, c->data, c->len);
			break;
		case R_HEADERS_END:
			__real_rules_match_headers_end(m);
			break;
		case R_URI:
			__real_rules_match_uri(m, c->data, c->len);
			break;
		case R_OPEN:
			__real_rules_match_stream_open(m, c->arg);
			break;
		case R_FEED:
			__real_rules_match_stream_feed(m, c->arg, c->data, c->len);
			break;
		case R_CLOSE:
			__real_rules_match_stream_close(m, c->arg);
			break;
		case R_SET_HIT:
			__real_rules_match_set_hit(m, c->arg);
			break;
		case R_FINISH:
			if (hs_timed) {
				/* The scan's end apart from the metas. */
				rules_match_finish_scan(m);
				op_own[R_CLOSE] += __rdtsc() - t0 - (hs_cycles - h0);
				op_hs[R_CLOSE] += hs_cycles - h0;
				t0 = __rdtsc();
				h0 = hs_cycles;
			}
			if (scan_only)
				rules_match_finish_scan(m);
			else
				__real_rules_match_finish(m);
			if (resolve_subrules)
				rules_match_resolve_all(m);
			break;
		}
		if (hs_timed) {
			op_own[c->op] += __rdtsc() - t0 - (hs_cycles - h0);
			op_hs[c->op] += hs_cycles - h0;
			op_n[c->op]++;
		}
	}
	n = rules_match_hit_count(m);
	for (unsigned int i = 0; prof_hits != NULL && i < n; i++)
		prof_hits[rules_match_hit_rule(m, i)]++;
	return n;
}

static int
count_match(unsigned int id, unsigned long long from, unsigned long long to,
    unsigned int flags, void *context)
{
	(void)id; (void)from; (void)to; (void)flags;
	++*(unsigned long *)context;
	return 0;
}

static unsigned long
replay_hs(const struct message *msg, hs_scratch_t *scratch)
{
	hs_stream_t *streams[16];
	unsigned long matches = 0;

	for (size_t i = 0; i < msg->nhc; i++) {
		const struct hcall *c = &msg->hc[i];

		switch (c->op) {
		case H_SCAN:
			if (bare_scan(c))
				(hs_timed ? __wrap_hs_scan : __real_hs_scan)(c->db, c->data, c->len, 0,
				    scratch, count_match, &matches);
			break;
		case H_OPEN:
			if (__real_hs_open_stream(c->db, 0, &streams[c->sid]) != HS_SUCCESS)
				panic("rules_bench: hs_open_stream failed");
			break;
		case H_SCAN_STREAM:
			(hs_timed ? __wrap_hs_scan_stream : __real_hs_scan_stream)(streams[c->sid],
			    c->data, c->len, 0, scratch, count_match, &matches);
			break;
		case H_CLOSE:
			(hs_timed ? __wrap_hs_close_stream : __real_hs_close_stream)(streams[c->sid],
			    scratch, count_match, &matches);
			break;
		}
	}
	return matches;
}

/* ---- main ---- */

static int
read_message(const char *path, struct message *msg)
{
	struct stat sb;
	char *raw;
	size_t done = 0, o = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	raw = xmalloc((size_t)sb.st_size + 1);
	while (done < (size_t)sb.st_size &&
	    (n = read(fd, raw + done, (size_t)sb.st_size - done)) > 0)
		done += (size_t)n;
	close(fd);
	/* As queued: CRLF line ends, the last line ended. */
	msg->data = xmalloc(2 * done + 3);
	for (size_t i = 0; i < done; i++) {
		if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
			msg->data[o++] = '\r';
		msg->data[o++] = raw[i];
	}
	if (o == 0 || msg->data[o - 1] != '\n') {
		msg->data[o++] = '\r';
		msg->data[o++] = '\n';
	}
	msg->len = o;
	free(raw);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* -p: the rules that took longest to confirm, on stderr. */
static void
print_profile(const struct message *msgs, size_t nmsgs, unsigned int top)
{
	const struct sa_rules *sa = rules_sa(cap_rules);
	unsigned int n = sa_rules_count(sa), *order;
	double total = 0;

	profile = xcalloc(n + 1, sizeof(*profile));
	prof_hits = xcalloc(n + 1, sizeof(*prof_hits));
	for (size_t i = 0; i < nmsgs; i++)
		(void)replay_rules(&msgs[i]);
	order = xcalloc(n + 1, sizeof(*order));
	for (unsigned int i = 0; i < n; i++) {
		unsigned int j = i;

		total += profile[i].seconds;
		/* Insertion by time, longest first. */
		while (j > 0 && profile[order[j - 1]].seconds < profile[i].seconds) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	fprintf(stderr, "confirmation: %.1f ms over %zu messages\n", total * 1e3, nmsgs);
	for (int t = 0; t < SA_RULE_TYPE_COUNT; t++) {
		double by[3] = { 0, 0, 0 };	/* exact (counting), prefiltered, PCRE2 only */

		for (unsigned int i = 0; i < n; i++) {
			enum rules_status st = rules_status(cap_rules, i, NULL);

			if ((int)sa_rules_get(sa, i)->type == t)
				by[st == RULES_PREFILTER ? 1 : st == RULES_PCRE ? 2 : 0] += profile[i].seconds;
		}
		if (by[0] + by[1] + by[2] > 0)
			fprintf(stderr, "  %-8s exact %.1f ms, prefiltered %.1f ms, PCRE2 only %.1f ms\n",
			    sa_rule_type_name(t), by[0] * 1e3, by[1] * 1e3, by[2] * 1e3);
	}
	for (unsigned int i = 0; i < n && i < top && profile[order[i]].calls > 0; i++) {
		const struct sa_rule *rule = sa_rules_get(sa, order[i]);
		const char *reason = NULL;

		(void)rules_status(cap_rules, order[i], &reason);
		fprintf(stderr, "%8.2f ms %6lu calls %4u hits  %-8s %s%s%s\n",
		    profile[order[i]].seconds * 1e3, profile[order[i]].calls, prof_hits[order[i]],
		    sa_rule_type_name(rule->type), rule->name, reason != NULL ? "  " : "",
		    reason != NULL ? reason : "");
	}
	free(order);
	free(profile);
	profile = NULL;
	free(prof_hits);
	prof_hits = NULL;
}

/* -H: how many messages each rule hit, on stderr, for comparing two builds. */
static void
print_hits(const struct message *msgs, size_t nmsgs)
{
	const struct sa_rules *sa = rules_sa(cap_rules);
	unsigned int n = sa_rules_count(sa);

	prof_hits = xcalloc(n + 1, sizeof(*prof_hits));
	resolve_subrules = 1;
	for (size_t i = 0; i < nmsgs; i++)
		(void)replay_rules(&msgs[i]);
	resolve_subrules = 0;
	for (unsigned int i = 0; i < n; i++)
		if (prof_hits[i] > 0)
			fprintf(stderr, "hits %s %u\n", sa_rules_get(sa, i)->name, prof_hits[i]);
	free(prof_hits);
	prof_hits = NULL;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *error;
	struct message *msgs;
	size_t nmsgs = 0, bytes = 0, scanned = 0;
	unsigned long hits = 0, matches = 0;
	double *tp, *tr, *th, *ts;
	hs_scratch_t *scratch = NULL;
	const hs_database_t **scratch_dbs = NULL;
	size_t nscratch_dbs = 0;
	struct filter *f;
	int c, rounds = 3, top = 0, list_hits = 0, engine_only = 0, bare_only = 0, timed = 0;

	while ((c = getopt(argc, argv, "BEc:Hp:r:T")) != -1) {
		switch (c) {
		case 'B': bare_only = 1; break;
		case 'c': conf = optarg; break;
		case 'E': engine_only = 1; break;
		case 'H': list_hits = 1; break;
		case 'p': top = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'T': timed = 1; break;
		default: goto usage;
		}
	}
	if (optind == argc || rounds < 1 || engine_only + bare_only + timed > 1) {
usage:
		fprintf(stderr, "usage: rules_bench [-c facteur.conf] [-r ROUNDS] [-p N] [-H] [-E | -B | -T] FILE...\n");
		return 2;
	}
	log_init("rules_bench", 1);
	if (config_load(conf, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	/* Rules only. */
	var_av_enable = 0;
	var_bayes_enable = 0;
	var_spf_enable = 0;
	var_dkim_verify = 0;
	var_dmarc_enable = 0;
	var_dkim_sign = 0;
	if (filter_new(&f, &error) < 0)
		fatalx("filter: %s", error);
	filter_wait_rules(f);

	msgs = xcalloc((size_t)(argc - optind), sizeof(*msgs));
	for (int i = optind; i < argc; i++) {
		if (read_message(argv[i], &msgs[nmsgs]) < 0) {
			log_warn("%s", argv[i]);
			continue;
		}
		bytes += msgs[nmsgs].len;
		nmsgs++;
	}
	if (nmsgs == 0)
		fatalx("no message");
	/* Record what the pipeline asks of the rules engine ... */
	for (size_t i = 0; i < nmsgs; i++) {
		recording = &msgs[i];
		run_pipeline(f, &msgs[i]);
	}
	recording = NULL;
	if (cap_rules == NULL)
		fatalx("no rules in use: check filter_rules and the log");
	/* ... and what the engine asks of Hyperscan. */
	for (size_t i = 0; i < nmsgs; i++) {
		hs_recording = &msgs[i];
		replay_rules(&msgs[i]);
		for (size_t j = 0; j < msgs[i].nhc; j++) {
			const struct hcall *hc = &msgs[i].hc[j];
			size_t k;

			if (!bare_scan(hc))
				continue;
			/* The scratch grown once for each database (the check is slow). */
			for (k = 0; k < nscratch_dbs && scratch_dbs[k] != hc->db; k++)
				;
			if ((hc->op == H_OPEN || hc->op == H_SCAN) && k == nscratch_dbs) {
				if (hs_alloc_scratch(hc->db, &scratch) != HS_SUCCESS)
					fatalx("hs_alloc_scratch failed");
				scratch_dbs = xrealloc(scratch_dbs,
				    (nscratch_dbs + 1) * sizeof(*scratch_dbs));
				scratch_dbs[nscratch_dbs++] = hc->db;
			}
			scanned += hc->len;
		}
	}
	free(scratch_dbs);
	hs_recording = NULL;

	if (engine_only) {
		double t0 = cpu_now();

		for (int r = 0; r < rounds; r++) {
			for (size_t i = 0; i < nmsgs; i++)
				(void)replay_rules(&msgs[i]);
		}
		printf("rules_ms_per_msg %.4f\n", (cpu_now() - t0) * 1e3 / (double)rounds /
		    (double)nmsgs);
		goto done;
	}
	if (timed) {
		unsigned long long e_hs = 0, e_cb = 0, e_all = 0, b_hs = 0, b_cb = 0, b_all = 0, t, e1;
		double *q = xcalloc((size_t)rounds, sizeof(*q));

		for (int r = 0; r < rounds; r++) {
			hs_timed = 1;
			hs_cycles = cb_cycles = 0;
			t = __rdtsc();
			for (size_t i = 0; i < nmsgs; i++)
				(void)replay_rules(&msgs[i]);
			e1 = __rdtsc() - t;
			e_all += e1;
			e_hs += hs_cycles;
			e_cb += cb_cycles;
			hs_cycles = cb_cycles = 0;
			t = __rdtsc();
			for (size_t i = 0; i < nmsgs; i++)
				(void)replay_hs(&msgs[i], scratch);
			t = __rdtsc() - t;
			b_all += t;
			q[r] = (double)t / (double)e1;
			b_hs += hs_cycles;
			b_cb += cb_cycles;
			hs_timed = 0;
		}
		printf("engine kcycles/msg: all %.1f hyperscan %.1f callback %.1f own %.1f\n",
		    e_all / 1e3 / rounds / nmsgs, (e_hs - e_cb) / 1e3 / rounds / nmsgs,
		    e_cb / 1e3 / rounds / nmsgs, (e_all - e_hs) / 1e3 / rounds / nmsgs);
		for (int o = 0; o <= R_FINISH; o++) {
			/* R_CLOSE's: the streams closed by rules_match_finish_scan. */
			static const char *const names[] = { "header", "headers_end", "uri", "open",
			    "feed", "streams end", "set_hit", "metas" };

			printf("  %-12s calls/msg %6.1f own %7.1f hyperscan %7.1f kcycles/msg\n",
			    names[o], op_n[o] / (double)rounds / nmsgs,
			    op_own[o] / 1e3 / rounds / nmsgs, op_hs[o] / 1e3 / rounds / nmsgs);
		}
		printf("bare kcycles/msg: all %.1f hyperscan %.1f callback %.1f\n",
		    b_all / 1e3 / rounds / nmsgs, (b_hs - b_cb) / 1e3 / rounds / nmsgs,
		    b_cb / 1e3 / rounds / nmsgs);
		printf("ratio_hyperscan_over_rules %.3f\n", median(q, rounds));
		free(q);
		goto done;
	}
	if (bare_only) {
		double t0 = cpu_now();

		for (int r = 0; r < rounds; r++) {
			for (size_t i = 0; i < nmsgs; i++)
				(void)replay_hs(&msgs[i], scratch);
		}
		printf("hyperscan_ms_per_msg %.4f\n", (cpu_now() - t0) * 1e3 / (double)rounds /
		    (double)nmsgs);
		goto done;
	}
	tp = xcalloc((size_t)rounds, sizeof(*tp));
	tr = xcalloc((size_t)rounds, sizeof(*tr));
	th = xcalloc((size_t)rounds, sizeof(*th));
	ts = xcalloc((size_t)rounds, sizeof(*ts));
	for (int r = 0; r < rounds; r++) {
		double t0;

		t0 = cpu_now();
		for (size_t i = 0; i < nmsgs; i++)
			run_pipeline(f, &msgs[i]);
		tp[r] = cpu_now() - t0;
		t0 = cpu_now();
		hits = 0;
		for (size_t i = 0; i < nmsgs; i++)
			hits += replay_rules(&msgs[i]);
		tr[r] = cpu_now() - t0;
		scan_only = 1;
		t0 = cpu_now();
		for (size_t i = 0; i < nmsgs; i++)
			(void)replay_rules(&msgs[i]);
		ts[r] = cpu_now() - t0;
		scan_only = 0;
		t0 = cpu_now();
		matches = 0;
		for (size_t i = 0; i < nmsgs; i++)
			matches += replay_hs(&msgs[i], scratch);
		th[r] = cpu_now() - t0;
	}
	{
		/*
		 * The ratios are each round's, then their median: the four
		 * loops of a round run within seconds of each other, while the
		 * machine's speed drifts from round to round.
		 */
		double *q_rules = xcalloc((size_t)rounds, sizeof(double));
		double *q_scan = xcalloc((size_t)rounds, sizeof(double));
		double *d_meta = xcalloc((size_t)rounds, sizeof(double));
		double p, ru, h, sc, ratio_rules, ratio_scan, meta;

		for (int r = 0; r < rounds; r++) {
			q_rules[r] = tr[r] > 0 ? th[r] / tr[r] : 0;
			q_scan[r] = ts[r] > 0 ? th[r] / ts[r] : 0;
			d_meta[r] = tr[r] - ts[r];
		}
		ratio_rules = median(q_rules, rounds);
		ratio_scan = median(q_scan, rounds);
		meta = median(d_meta, rounds);
		free(q_rules);
		free(q_scan);
		free(d_meta);
		p = median(tp, rounds);
		ru = median(tr, rounds);
		h = median(th, rounds);
		sc = median(ts, rounds);

		printf("messages %zu\nbytes %zu\nhyperscan_bytes %zu\nrounds %d\n", nmsgs, bytes,
		    scanned, rounds);
		printf("rule_hits %lu\nhyperscan_matches %lu\n", hits, matches);
		printf("pipeline_ms_per_msg %.4f\nrules_ms_per_msg %.4f\nhyperscan_ms_per_msg %.4f\n",
		    p * 1e3 / nmsgs, ru * 1e3 / nmsgs, h * 1e3 / nmsgs);
		printf("rules_scan_ms_per_msg %.4f\nrules_meta_ms_per_msg %.4f\n", sc * 1e3 / nmsgs,
		    meta * 1e3 / nmsgs);
		printf("ratio_hyperscan_over_rules %.3f\n", ratio_rules);
		printf("ratio_hyperscan_over_scan %.3f\n", ratio_scan);
	}
done:
	if (top > 0)
		print_profile(msgs, nmsgs, (unsigned int)top);
	if (list_hits)
		print_hits(msgs, nmsgs);
	rules_match_free(&replay_match);
	hs_free_scratch(scratch);
	filter_free(&f);
	return 0;
}
