/* SPDX-License-Identifier: MIT */
/*
 * pipeline - the before-queue filter.  See pipeline.h.
 *
 * Threads: filter_msg_feed() runs in the thread that receives the message
 * (smtpd's event loop), with that thread's Hyperscan scratch; the
 * message's matcher is handed to the worker's scratch at finish.  Rule
 * sets are reference counted: a reload never frees a set a message uses.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filter/auth.h"
#include "filter/av.h"
#include "filter/bayes.h"
#include "filter/eval.h"
#include "filter/mime.h"
#include "filter/pipeline.h"
#include "filter/received.h"
#include "filter/rules_compile.h"
#include "filter/sa_rules.h"
#include "filter/strbuf.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "lib/stats.h"

/* Scores of the filter's own symbols. */
#define SCORE_MIME_ANOMALY 0.5
#define SCORE_VIRUS 100.0

/* ---- rule sets ---- */

/* Who answers an eval: found at its first call with an auth result. */
enum eval_owner { EVAL_UNKNOWN, EVAL_AUTH, EVAL_BAYES, EVAL_MESSAGE };

struct eval_rule {
	unsigned int rule;
	const char *function;
	const char *args;
	int owner;		/* enum eval_owner; read and set by every worker (atomic) */
};

/*
 * A message's rules_match holds a state byte, a hit slot and a count per
 * rule, a buffer per header group and the kept body texts: allocated and
 * grown again for every message, they cost about as much as some rule
 * groups' scans.  Finished ones are kept, reset, for the next messages.
 */
#define FILTER_MATCH_POOL 16

struct rule_set {
	int refs;		/* under filter.lock */
	struct sa_rules *sa;
	struct rules *rules;
	struct eval_rule *evals;
	size_t nevals;
	struct eval_config *eval_config;	/* the configuration lines evals read */
	struct received_config *received_config;	/* trusted_networks ... */
	int has_bayes;		/* some rule asks check_bayes: the rules score it */
	unsigned int generation;
	/* Matching state of finished messages, reset, for the next ones (under filter.lock). */
	struct rules_match *pool[FILTER_MATCH_POOL];
	unsigned int npool;
};

struct filter {
	pthread_mutex_t lock;
	pthread_cond_t ready_cond;
	struct rule_set *set;	/* in use, or NULL */
	unsigned int generation;
	int loading;		/* a loader thread runs */
	int reload_again;	/* reload asked while loading */
	int no_rules;		/* filter_rules is empty */
	pthread_t loader;
	int loader_started;
	struct av *av;
	struct auth_ctx *auth;
	char *bayes_path;
};

static void
set_release(struct filter *f, struct rule_set *set)
{
	int last;

	if (set == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	last = --set->refs == 0;
	pthread_mutex_unlock(&f->lock);
	if (!last)
		return;
	while (set->npool > 0)
		rules_match_free(&set->pool[--set->npool]);
	rules_free(&set->rules);
	sa_rules_free(&set->sa);
	free(set->evals);
	eval_config_free(&set->eval_config);
	received_config_free(&set->received_config);
	free(set);
}

static struct rule_set *
set_acquire(struct filter *f)
{
	struct rule_set *set;

	pthread_mutex_lock(&f->lock);
	if ((set = f->set) != NULL)
		set->refs++;
	pthread_mutex_unlock(&f->lock);
	return set;
}

struct load_ctx {
	struct sa_rules *sa;
	const char *error;
};

static int
load_item(const char *item, void *ctx)
{
	struct load_ctx *l = ctx;
	struct stat st;
	const char *error;

	if (stat(item, &st) < 0) {
		log_warnx("filter: rules %s: %s", item, strerror(errno));
		return 0;
	}
	if (S_ISDIR(st.st_mode) ? sa_rules_load_dir(l->sa, item, ".cf", &error) :
	    sa_rules_load_file(l->sa, item, &error))
		log_warnx("filter: rules %s: %s", item, error);
	return 0;
}

/* Read and compile the configured rules; NULL if there are none. */
static struct rule_set *
set_build(void)
{
	struct rules_options ro = { NULL };
	struct load_ctx l = { NULL, NULL };
	struct rule_set *set;
	struct rules_stats rs;
	char cache[4096];
	const char *error;
	unsigned int n, nevals = 0;

	l.sa = sa_rules_new();
	if (var_filter_rules_config[0] != '\0' &&
	    sa_rules_load_dir(l.sa, var_filter_rules_config, ".pre", &error) < 0)
		log_debug("filter: %s", error);
	config_list_foreach(var_filter_rules, load_item, &l);
	if (var_filter_rules_config[0] != '\0' &&
	    sa_rules_load_dir(l.sa, var_filter_rules_config, ".cf", &error) < 0)
		log_debug("filter: %s", error);
	for (unsigned int i = 0; i < sa_rules_error_count(l.sa) && i < 20; i++) {
		const struct sa_rule_error *e = sa_rules_error(l.sa, i);
		log_warnx("filter: %s:%u: %s", e->file, e->line, e->message);
	}
	if (var_filter_rules_cache[0] != '\0')
		str_copy(cache, var_filter_rules_cache, sizeof(cache));
	else
		spool_path("rules-cache", cache, sizeof(cache));
	if (proc_mkdir(cache, 0700, (uid_t)-1, (gid_t)-1) < 0 && errno != EEXIST)
		log_warn("filter: cannot create %s", cache);
	ro.cache_dir = cache;
	set = xcalloc(1, sizeof(*set));
	set->sa = l.sa;
	if (rules_compile(set->sa, &ro, &set->rules, &error) < 0) {
		log_warnx("filter: rules not usable: %s", error);
		sa_rules_free(&set->sa);
		free(set);
		return NULL;
	}
	n = sa_rules_count(set->sa);
	set->evals = xcalloc(n > 0 ? n : 1, sizeof(*set->evals));
	for (unsigned int i = 0; i < n; i++) {
		const struct sa_rule *r = sa_rules_get(set->sa, i);
		if (rules_status(set->rules, i, NULL) != RULES_EVAL || r->eval == NULL)
			continue;
		set->evals[nevals].rule = i;
		set->evals[nevals].function = r->eval;
		set->evals[nevals].args = r->eval_args != NULL ? r->eval_args : "";
		if (strcmp(r->eval, "check_bayes") == 0)
			set->has_bayes = 1;
		nevals++;
	}
	set->nevals = nevals;
	set->eval_config = eval_config_new(set->sa);
	set->received_config = received_config_new(set->sa);
	rules_get_stats(set->rules, &rs);
	log_info("filter: %u rules compiled (%u prefiltered, %u unsupported, %u eval) in %.2fs%s", n,
	    rs.prefiltered, rs.unsupported, rs.eval, rs.seconds, rs.cache_hit ? " from the cache" : "");
	return set;
}

/*
 * A compile of the rule set takes hundreds of megabytes of heap for a few
 * minutes and frees them; glibc keeps freed pages unless asked, so a
 * daemon that compiled at start would keep them to its end.
 */
static void
memory_give_back(void)
{
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

static void *
loader(void *ctx)
{
	struct filter *f = ctx;

	for (;;) {
		struct rule_set *set = set_build(), *old;

		pthread_mutex_lock(&f->lock);
		old = f->set;
		if (set != NULL) {
			struct rules_stats rs;
			set->refs = 1;
			set->generation = ++f->generation;
			f->set = set;
			rules_get_stats(set->rules, &rs);
			STATS_SET(filter_rules_loaded, sa_rules_count(set->sa));
			STATS_SET(filter_rules_unsupported, rs.unsupported);
			log_info("filter: rule set %u in use", set->generation);
		} else {
			old = NULL;	/* keep what works */
		}
		STATS_SET(filter_rules_ready, f->set != NULL);
		if (!f->reload_again) {
			f->loading = 0;
			pthread_cond_broadcast(&f->ready_cond);
			pthread_mutex_unlock(&f->lock);
			set_release(f, old);
			memory_give_back();
			return NULL;
		}
		f->reload_again = 0;
		pthread_mutex_unlock(&f->lock);
		set_release(f, old);
		memory_give_back();
	}
}

static void
start_loading(struct filter *f)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	f->no_rules = var_filter_rules[0] == '\0' || strspn(var_filter_rules, " ,\t") ==
	    strlen(var_filter_rules);
	if (f->no_rules) {
		pthread_mutex_unlock(&f->lock);
		STATS_SET(filter_rules_ready, 1);
		return;
	}
	if (f->loading) {
		f->reload_again = 1;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	if (f->loader_started) {
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->loader, NULL);
		pthread_mutex_lock(&f->lock);
	}
	f->loading = 1;
	f->loader_started = 1;
	if ((rc = pthread_create(&f->loader, NULL, loader, f)) != 0) {
		f->loading = 0;
		f->loader_started = 0;
		log_warnx("filter: cannot start the rules loader: %s", strerror(rc));
	}
	pthread_mutex_unlock(&f->lock);
}

int
filter_new(struct filter **f_r, const char **error_r)
{
	struct filter *f = xcalloc(1, sizeof(*f));
	char path[4096];

	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->ready_cond, NULL);
	if (var_av_enable && av_new(&f->av, error_r) < 0) {
		free(f);
		return -1;
	}
	if ((var_spf_enable || var_dkim_verify || var_dmarc_enable || var_dkim_sign ||
	    var_arc_enable || var_arc_seal_domain[0] != '\0') &&
	    auth_ctx_new(&f->auth, error_r) < 0) {
		av_free(&f->av);
		free(f);
		return -1;
	}
	f->bayes_path = xstrdup(bayes_database_path(path, sizeof(path)));
	start_loading(f);
	*f_r = f;
	return 0;
}

void
filter_reload(struct filter *f)
{
	start_loading(f);
	if (f->av != NULL)
		av_maybe_reload(f->av);
}

int
filter_rules_ready(struct filter *f)
{
	int ready;

	pthread_mutex_lock(&f->lock);
	ready = f->no_rules || (f->set != NULL && !f->loading);
	pthread_mutex_unlock(&f->lock);
	return ready;
}

void
filter_wait_rules(struct filter *f)
{
	pthread_mutex_lock(&f->lock);
	while (f->loading)
		pthread_cond_wait(&f->ready_cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

void
filter_free(struct filter **fp)
{
	struct filter *f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	filter_wait_rules(f);
	if (f->loader_started)
		pthread_join(f->loader, NULL);
	set_release(f, f->set);
	av_free(&f->av);
	auth_ctx_free(&f->auth);
	free(f->bayes_path);
	pthread_cond_destroy(&f->ready_cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- per-thread state ---- */

/* Each thread's Hyperscan scratch, for the rule set it was made for. */
static __thread struct rules_scratch *tls_scratch;
static __thread struct rule_set *tls_scratch_set;
static __thread unsigned int tls_scratch_generation;
/* Each thread's classifier connection. */
static __thread struct bayes *tls_bayes;
static __thread time_t tls_bayes_retry;

static struct rules_scratch *
thread_scratch(struct rule_set *set)
{
	if (tls_scratch == NULL || tls_scratch_set != set ||
	    tls_scratch_generation != set->generation) {
		rules_scratch_free(&tls_scratch);
		tls_scratch = rules_scratch_new(set->rules);
		tls_scratch_set = set;
		tls_scratch_generation = set->generation;
	}
	return tls_scratch;
}

/* A message's matching state: from the set's pool, or new. */
static struct rules_match *
match_take(struct filter *f, struct rule_set *set)
{
	struct rules_match *match = NULL;

	pthread_mutex_lock(&f->lock);
	if (set->npool > 0)
		match = set->pool[--set->npool];
	pthread_mutex_unlock(&f->lock);
	if (match == NULL)
		return rules_match_new(set->rules, thread_scratch(set));
	rules_match_set_scratch(match, thread_scratch(set));
	return match;
}

/* Back to the pool, reset (freed when the pool is full). */
static void
match_give(struct filter *f, struct rule_set *set, struct rules_match **matchp)
{
	struct rules_match *match = *matchp;

	*matchp = NULL;
	rules_match_reset(match);
	pthread_mutex_lock(&f->lock);
	if (set->npool < FILTER_MATCH_POOL) {
		set->pool[set->npool++] = match;
		match = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	rules_match_free(&match);
}

static struct bayes *
thread_bayes(struct filter *f)
{
	const char *error;
	time_t now;

	if (tls_bayes != NULL || !var_bayes_enable)
		return tls_bayes;
	now = time(NULL);
	if (now < tls_bayes_retry)
		return NULL;
	if (access(f->bayes_path, R_OK) < 0 ||
	    bayes_open(f->bayes_path, 1, &tls_bayes, &error) < 0) {
		tls_bayes = NULL;
		tls_bayes_retry = now + 60;
	}
	return tls_bayes;
}

/* ---- one message ---- */

struct av_part {
	unsigned int index;	/* the MIME part's */
	struct strbuf data;
};

/*
 * SpamAssassin's body_part_scan_size and rawbody_part_scan_size
 * (Message.pm): the text of a part past limit units (characters of UTF-8
 * text, or bytes) is cut after the first of delims, in their order of
 * preference, found within the 1024 units that follow, else at the
 * limit.  What comes past the limit is held until that is decided, at
 * most 1025 units.
 */
enum { CUT_PASS, CUT_HOLD, CUT_DROP };

struct part_cut {
	const char *delims;	/* in order of preference */
	int utf8;		/* units are characters, else bytes */
	uint64_t limit;		/* 0: no cut */
	const struct mime_part *part;	/* the part being cut */
	uint64_t units;		/* of that part, passed or held */
	int state;
	struct strbuf held;
};

#define CUT_WINDOW 1025		/* units at limit .. limit + 1024 */

struct filter_msg;
typedef void cut_out_fn(struct filter_msg *m, const struct mime_part *part, const char *data,
    size_t len);

struct filter_msg {
	struct filter *f;
	struct rule_set *set;
	struct rules_match *match;
	struct mime_parser *mime;
	struct bayes_tokens *tokens;
	/* envelope */
	char *qid, *client_addr, *client_name, *helo, *sender, *auth_user;
	char **rcpts;
	size_t nrcpts;
	int trusted;
	/* what the stages saw */
	char *subject;
	char *from_domain;
	int headers_done;
	uint64_t text_bytes;
	struct av_part *parts;
	size_t nparts;
	uint64_t av_bytes;
	int av_truncated;
	struct verdict verdict;
	struct filter_result result;
	int finished;
	int failed;		/* a check could not be done (filter_failure_action) */
	/* for the eval tests: top-level fields, body as SpamAssassin renders it */
	struct eval_header *eval_hdrs;
	size_t neval_hdrs;
	struct eval_body_norm body_norm;
	struct strbuf body;	/* the first EVAL_BODY_KEEP bytes */
	size_t body_fed;	/* body's bytes given to the rules engine */
	struct eval_msg eval;
	/* the Received chain, parsed at the end of the header block */
	struct received_chain relays;
	int relays_done;
	filter_uri_fn *uri_fn;	/* filter_msg_on_uri() */
	void *uri_ctx;
	/* body_part_scan_size and rawbody_part_scan_size */
	struct part_cut text_cut, raw_cut;
};

/* Rendered body kept for the eval tests (SpamAssassin's checks read it all). */
#define EVAL_BODY_KEEP (256 * 1024)
/*
 * The body text arrives a word at a time (white space collapsed): the
 * rules engine is given what body holds in pieces of this size, not a
 * call a word.
 */
#define BODY_FEED_CHUNK 4096

/* The address of a From-like field: the part in <>, else the first word with @. */
static size_t
header_addr(const char *v, size_t len, char *out, size_t size)
{
	const char *lt = memchr(v, '<', len), *p, *end = v + len;
	size_t n = 0;

	if (lt != NULL) {
		const char *gt = memchr(lt, '>', (size_t)(end - lt));
		p = lt + 1;
		end = gt != NULL ? gt : end;
	} else {
		p = v;
		while (p < end && isspace((unsigned char)*p))
			p++;
		for (const char *q = p; q < end; q++)
			if (isspace((unsigned char)*q) || *q == '(' || *q == ',') {
				end = q;
				break;
			}
	}
	while (p < end && n + 1 < size)
		out[n++] = *p++;
	out[n] = '\0';
	return n;
}

/* The display name: before <...> without quotes, or a (comment). */
static size_t
header_name(const char *v, size_t len, char *out, size_t size)
{
	const char *lt = memchr(v, '<', len), *p = v, *end;
	size_t n = 0;

	if (lt != NULL) {
		end = lt;
	} else {
		const char *lp = memchr(v, '(', len);
		if (lp == NULL) {
			out[0] = '\0';
			return 0;
		}
		p = lp + 1;
		end = memchr(p, ')', (size_t)(v + len - p));
		if (end == NULL)
			end = v + len;
	}
	while (p < end && (isspace((unsigned char)*p) || *p == '"'))
		p++;
	while (end > p && (isspace((unsigned char)end[-1]) || end[-1] == '"'))
		end--;
	while (p < end && n + 1 < size)
		out[n++] = *p++;
	out[n] = '\0';
	return n;
}

static int
is_address_header(const char *name)
{
	static const char *const names[] = {
		"From", "To", "Cc", "Reply-To", "Sender", "Return-Path", "Errors-To",
		"Resent-From", "Resent-To", "Resent-Sender", "Envelope-From", "X-Envelope-From",
		"Delivered-To", "Disposition-Notification-To", "Mail-Followup-To", NULL,
	};
	for (size_t i = 0; names[i] != NULL; i++)
		if (str_casecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/*
 * Names SpamAssassin gives its own values (it deletes X-Spam-Relays-*
 * fields a message brings): a field of the message by these names is not
 * given to the header rules.
 */
static int
is_pseudo_header(const char *name)
{
	return str_ncasecmp(name, "X-Spam-Relays-", 14) == 0 || str_casecmp(name, "MESSAGEID") == 0;
}

/*
 * The pseudo-headers SpamAssassin makes from the header block: the four
 * X-Spam-Relays strings of the Received chain (always there, maybe "")
 * and MESSAGEID, the non-empty X-Message-Id, Resent-Message-Id,
 * X-Original-Message-ID and Message-Id values in that order
 * (PerMsgStatus::_get).
 */
static void
pseudo_headers(struct filter_msg *m)
{
	static const char *const msgid_names[] = { "X-Message-Id", "Resent-Message-Id",
		"X-Original-Message-ID", "Message-Id", NULL };
	struct received_field *f;
	const char *relay_names[4] = { "X-Spam-Relays-Trusted", "X-Spam-Relays-Untrusted",
		"X-Spam-Relays-Internal", "X-Spam-Relays-External" };
	const char *relay_values[4];

	f = xcalloc(m->neval_hdrs + 1, sizeof(*f));
	for (size_t i = 0; i < m->neval_hdrs; i++) {
		f[i].name = m->eval_hdrs[i].name;
		f[i].value = m->eval_hdrs[i].value;
		f[i].value_len = m->eval_hdrs[i].value_len;
	}
	received_parse(m->set != NULL ? m->set->received_config : NULL, f, m->neval_hdrs,
	    m->trusted, &m->relays);
	m->relays_done = 1;
	free(f);
	if (m->match == NULL)
		return;
	relay_values[0] = m->relays.trusted_str;
	relay_values[1] = m->relays.untrusted_str;
	relay_values[2] = m->relays.internal_str;
	relay_values[3] = m->relays.external_str;
	for (int i = 0; i < 4; i++) {
		rules_match_pseudo_header(m->match, relay_names[i], 0, relay_values[i],
		    strlen(relay_values[i]), 1);
		rules_match_pseudo_header(m->match, relay_names[i], SA_HDR_RAW, relay_values[i],
		    strlen(relay_values[i]), 1);
	}
	for (size_t k = 0; msgid_names[k] != NULL; k++)
		for (size_t i = 0; i < m->neval_hdrs; i++) {
			const struct eval_header *h = &m->eval_hdrs[i];
			if (str_casecmp(h->name, msgid_names[k]) != 0 || h->value_len == 0)
				continue;
			rules_match_pseudo_header(m->match, "MESSAGEID", 0, h->value, h->value_len,
			    0);
			rules_match_pseudo_header(m->match, "MESSAGEID", SA_HDR_RAW, h->raw,
			    h->raw_len, 0);
		}
}

static void
on_header(void *ctx, const struct mime_part *part, const struct mime_header *h)
{
	struct filter_msg *m = ctx;
	char buf[1024];
	size_t n;

	if (part->index != 0)
		return;
	if (m->match != NULL && !is_pseudo_header(h->name)) {
		rules_match_header(m->match, h->name, 0, h->value, h->value_len);
		rules_match_header(m->match, h->name, SA_HDR_RAW, h->raw, h->raw_len);
		if (is_address_header(h->name)) {
			n = header_addr(h->value, h->value_len, buf, sizeof(buf));
			rules_match_header(m->match, h->name, SA_HDR_ADDR, buf, n);
			n = header_name(h->value, h->value_len, buf, sizeof(buf));
			rules_match_header(m->match, h->name, SA_HDR_NAME, buf, n);
		}
	}
	if (m->tokens != NULL)
		bayes_tokens_header(m->tokens, h->name, h->value, h->value_len);
	if (m->neval_hdrs < 1000) {
		struct eval_header *e;
		m->eval_hdrs = xrealloc(m->eval_hdrs, (m->neval_hdrs + 1) * sizeof(*m->eval_hdrs));
		e = &m->eval_hdrs[m->neval_hdrs++];
		e->name = xstrdup(h->name);
		/* Their lengths are kept: a NUL byte in a header must not end the copy. */
		e->raw = xmemdup0(h->raw, h->raw_len);
		e->raw_len = h->raw_len;
		e->value = xmemdup0(h->value, h->value_len);
		e->value_len = h->value_len;
	}
	if (m->subject == NULL && str_casecmp(h->name, "Subject") == 0)
		m->subject = xstrndup(h->value, h->value_len);
	if (m->from_domain == NULL && str_casecmp(h->name, "From") == 0) {
		const char *at;
		header_addr(h->value, h->value_len, buf, sizeof(buf));
		if ((at = strrchr(buf, '@')) != NULL && at[1] != '\0')
			m->from_domain = xstrdup(at + 1);
	}
}

/* body's bytes not yet given to the rules engine, given: all, or a piece's worth. */
static void
body_feed(struct filter_msg *m, int all)
{
	size_t n = m->body.len - m->body_fed;

	if (m->match == NULL || n == 0 || (!all && n < BODY_FEED_CHUNK))
		return;
	rules_match_stream_feed(m->match, SA_RULE_BODY, m->body.data + m->body_fed, n);
	m->body_fed = m->body.len;
}

/* Body text as SpamAssassin's body rules see it: to the rules and the evals. */
static void
body_out(void *ctx, const char *data, size_t len)
{
	struct filter_msg *m = ctx;
	size_t keep = 0;

	if (m->body.len < EVAL_BODY_KEEP)
		keep = len < EVAL_BODY_KEEP - m->body.len ? len : EVAL_BODY_KEEP - m->body.len;
	if (keep > 0)
		strbuf_append(&m->body, data, keep);
	if (keep == len) {
		body_feed(m, 0);
		return;
	}
	/* Past what the evals keep: to the engine at once. */
	body_feed(m, 1);
	if (m->match != NULL)
		rules_match_stream_feed(m->match, SA_RULE_BODY, data + keep, len - keep);
}

static void cut_flush(struct filter_msg *m, struct part_cut *c, cut_out_fn *out);
static void text_out(struct filter_msg *m, const struct mime_part *part, const char *utf8,
    size_t len);

static void
on_part_begin(void *ctx, const struct mime_part *part)
{
	struct filter_msg *m = ctx;

	/*
	 * Message.pm joins the text of the leaf parts with a line end before
	 * each leaf, text or not, once there is text (white space runs are
	 * collapsed after).
	 */
	if (!part->is_multipart && !part->is_message) {
		cut_flush(m, &m->text_cut, text_out);
		if (m->text_bytes > 0 && m->text_bytes < (uint64_t)var_filter_max_body_scan)
			eval_body_norm_feed(&m->body_norm, "\n", 1, body_out, m);
	}
	if (part->index != 0 || m->headers_done)
		return;
	m->headers_done = 1;
	pseudo_headers(m);
	if (m->match != NULL) {
		/* A pseudo-header: not a line of ALL, as in SpamAssassin. */
		rules_match_pseudo_header(m->match, "EnvelopeFrom", 0, m->sender,
		    strlen(m->sender), 1);
		rules_match_headers_end(m->match);
	}
	/* SpamAssassin's body text starts with the subject, as a paragraph. */
	if (m->subject != NULL)
		body_out(m, m->subject, strlen(m->subject));
	body_out(m, "\n", 1);
}

static void
cut_init(struct part_cut *c, const char *delims, int utf8, uint64_t limit)
{
	memset(c, 0, sizeof(*c));
	c->delims = delims;
	c->utf8 = utf8;
	c->limit = limit;
}

/* The part was longer than the limit: what of the held units goes out. */
static void
cut_decide(struct filter_msg *m, struct part_cut *c, cut_out_fn *out)
{
	if (c->state == CUT_HOLD) {
		for (const char *d = c->delims; *d != '\0'; d++) {
			const char *at = c->held.len > 0 ? memchr(c->held.data, *d, c->held.len) : NULL;
			if (at != NULL) {
				out(m, c->part, c->held.data, (size_t)(at - c->held.data) + 1);
				break;
			}
		}
	}
	c->state = CUT_DROP;
	strbuf_reset(&c->held);
}

/* The end of the current part, if any. */
static void
cut_flush(struct filter_msg *m, struct part_cut *c, cut_out_fn *out)
{
	if (c->part != NULL && c->state == CUT_HOLD)
		cut_decide(m, c, out);
	c->part = NULL;
}

static void
cut_feed(struct filter_msg *m, struct part_cut *c, const struct mime_part *part,
    const char *data, size_t len, cut_out_fn *out)
{
	size_t i = 0;

	if (part != c->part) {
		cut_flush(m, c, out);
		c->part = part;
		c->units = 0;
		c->state = CUT_PASS;
		strbuf_reset(&c->held);
	}
	if (c->limit == 0) {
		out(m, part, data, len);
		return;
	}
	while (i < len && c->state != CUT_DROP) {
		if (c->state == CUT_PASS) {
			/* up to the unit that starts at the limit */
			size_t start = i;
			for (; i < len; i++) {
				if (c->utf8 && ((unsigned char)data[i] & 0xc0) == 0x80)
					continue;
				if (c->units == c->limit)
					break;
				c->units++;
			}
			if (i > start)
				out(m, part, data + start, i - start);
			if (i < len)
				c->state = CUT_HOLD;
			continue;
		}
		/* CUT_HOLD: the window after the limit */
		if (!(c->utf8 && ((unsigned char)data[i] & 0xc0) == 0x80)) {
			if (c->units == c->limit + CUT_WINDOW) {
				cut_decide(m, c, out);
				break;
			}
			c->units++;
		}
		strbuf_putc(&c->held, data[i]);
		if (data[i] == c->delims[0]) {
			/* the preferred one ends it at once */
			out(m, part, c->held.data, c->held.len);
			c->state = CUT_DROP;
			strbuf_reset(&c->held);
		}
		i++;
	}
}

static void
raw_out(struct filter_msg *m, const struct mime_part *part, const char *data, size_t len)
{
	(void)part;
	rules_match_stream_feed(m->match, SA_RULE_RAWBODY, data, len);
}

static void
on_raw_body(void *ctx, const struct mime_part *part, const void *data, size_t len)
{
	struct filter_msg *m = ctx;
	struct av_part *p;

	if (m->match != NULL && m->text_bytes < (uint64_t)var_filter_max_body_scan &&
	    mime_part_is_raw_text(part))
		cut_feed(m, &m->raw_cut, part, data, len, raw_out);
	if (m->f->av == NULL)
		return;
	/* Every leaf part goes to the antivirus, decoded, within the scan size. */
	if (m->av_bytes + len > (uint64_t)var_av_max_scan_size) {
		m->av_truncated = 1;
		return;
	}
	if (m->nparts == 0 || m->parts[m->nparts - 1].index != part->index) {
		m->parts = xrealloc(m->parts, (m->nparts + 1) * sizeof(*m->parts));
		p = &m->parts[m->nparts++];
		memset(p, 0, sizeof(*p));
		p->index = part->index;
	}
	p = &m->parts[m->nparts - 1];
	strbuf_append(&p->data, data, len);
	m->av_bytes += len;
}

static void
text_out(struct filter_msg *m, const struct mime_part *part, const char *utf8, size_t len)
{
	if (m->text_bytes >= (uint64_t)var_filter_max_body_scan)
		return;
	if (m->text_bytes + len > (uint64_t)var_filter_max_body_scan)
		len = (size_t)((uint64_t)var_filter_max_body_scan - m->text_bytes);
	(void)part;
	m->text_bytes += len;
	eval_body_norm_feed(&m->body_norm, utf8, len, body_out, m);
	if (m->tokens != NULL)
		bayes_tokens_text(m->tokens, utf8, len);
}

static void
on_text(void *ctx, const struct mime_part *part, const char *utf8, size_t len)
{
	struct filter_msg *m = ctx;

	if (mime_part_is_body_text(part))
		cut_feed(m, &m->text_cut, part, utf8, len, text_out);
}

static void
on_url(void *ctx, const struct mime_part *part, const char *url, size_t len)
{
	struct filter_msg *m = ctx;

	if (m->tokens != NULL)
		bayes_tokens_url(m->tokens, url, len);
}

const char *
filter_msg_body_text(const struct filter_msg *m, size_t *len_r)
{
	*len_r = m->body.len;
	return m->body.data != NULL ? m->body.data : "";
}

void
filter_msg_on_uri(struct filter_msg *m, filter_uri_fn *fn, void *ctx)
{
	m->uri_fn = fn;
	m->uri_ctx = ctx;
}

struct filter_msg *
filter_msg_new(struct filter *f, const struct filter_envelope *env)
{
	struct filter_msg *m = xcalloc(1, sizeof(*m));
	struct mime_callbacks cb;

	m->f = f;
	m->qid = xstrdup(env->qid != NULL ? env->qid : "-");
	m->client_addr = xstrdup(env->client_addr != NULL ? env->client_addr : "");
	m->client_name = env->client_name != NULL ? xstrdup(env->client_name) : NULL;
	m->helo = xstrdup(env->helo != NULL ? env->helo : "");
	m->sender = xstrdup(env->sender != NULL ? env->sender : "");
	m->auth_user = env->auth_user != NULL ? xstrdup(env->auth_user) : NULL;
	m->trusted = env->trusted;
	m->nrcpts = env->nrcpts;
	m->rcpts = xcalloc(env->nrcpts + 1, sizeof(*m->rcpts));
	for (size_t i = 0; i < env->nrcpts; i++)
		m->rcpts[i] = xstrdup(env->rcpts[i]);
	verdict_init(&m->verdict);
	if ((m->set = set_acquire(f)) != NULL) {
		m->match = match_take(f, m->set);
		rules_match_stream_open(m->match, SA_RULE_BODY);
		rules_match_stream_open(m->match, SA_RULE_RAWBODY);
		rules_match_stream_open(m->match, SA_RULE_FULL);
	}
	if (var_bayes_enable)
		m->tokens = bayes_tokens_new();
	cut_init(&m->text_cut, "\n ", 1, (uint64_t)var_filter_body_part_scan_size);
	cut_init(&m->raw_cut, "\n> ", 0, (uint64_t)var_filter_rawbody_part_scan_size);
	memset(&cb, 0, sizeof(cb));
	cb.context = m;
	cb.header = on_header;
	cb.part_begin = on_part_begin;
	cb.raw_body = on_raw_body;
	cb.text = on_text;
	cb.url = on_url;
	m->mime = mime_parser_new(NULL, &cb);
	return m;
}

void
filter_msg_feed(struct filter_msg *m, const void *data, size_t len)
{
	if (m->match != NULL)
		rules_match_stream_feed(m->match, SA_RULE_FULL, data, len);
	mime_parser_feed(m->mime, data, len);
}

void
filter_msg_feed_lines(struct filter_msg *m, const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		filter_msg_feed(m, p, n);
		p += n;
	}
}

/* ---- end of message ---- */

static void
add_mime_symbols(struct filter_msg *m)
{
	uint32_t mask = mime_parser_anomalies(m->mime);

	for (int a = 0; a < MIME_ANOMALY_COUNT; a++) {
		/* An 8-bit header is SMTPUTF8's normal case: worth nothing. */
		if ((mask & MIME_BIT(a)) == 0 || a == MIME_8BIT_HEADER)
			continue;
		verdict_add(&m->verdict, mime_anomaly_name((enum mime_anomaly)a), SCORE_MIME_ANOMALY,
		    "%u", mime_parser_anomaly_count(m->mime, (enum mime_anomaly)a));
	}
}

static void
scan_virus(struct filter_msg *m, const char *message, size_t len)
{
	char virus[256];
	enum av_result r = AV_CLEAN;

	av_maybe_reload(m->f->av);
	if (!av_ready(m->f->av)) {
		verdict_add(&m->verdict, "AV_NOT_READY", 0, NULL);
		if (strcmp(var_av_not_ready_action, "tempfail") == 0) {
			m->result.action = FILTER_TEMPFAIL;
			snprintf(m->result.reply, sizeof(m->result.reply),
			    "451 4.7.1 Antivirus not ready, try again later");
			snprintf(m->result.reason, sizeof(m->result.reason), "antivirus not ready");
		}
		return;
	}
	/* Each decoded leaf part, then the message as a whole (what no part shows). */
	for (size_t i = 0; i < m->nparts && r == AV_CLEAN; i++) {
		const struct mime_part *p = mime_parser_part(m->mime, m->parts[i].index);
		r = av_scan(m->f->av, m->parts[i].data.data != NULL ? m->parts[i].data.data : "",
		    m->parts[i].data.len, p != NULL ? p->filename : NULL, virus, sizeof(virus));
		STATS_ADD(av_scanned_bytes, m->parts[i].data.len);
	}
	if (r == AV_CLEAN && m->nparts == 0) {
		r = av_scan(m->f->av, message, len, NULL, virus, sizeof(virus));
		STATS_ADD(av_scanned_bytes, len);
	}
	if (r == AV_VIRUS) {
		STATS_INC(av_viruses);
		m->result.virus = 1;
		verdict_add(&m->verdict, "VIRUS_FOUND", SCORE_VIRUS, "%s", virus);
		m->result.action = FILTER_REJECT;
		snprintf(m->result.reply, sizeof(m->result.reply), "554 5.7.1 Virus found: %s", virus);
		snprintf(m->result.reason, sizeof(m->result.reason), "virus %s", virus);
	} else if (r == AV_ERROR) {
		verdict_add(&m->verdict, "AV_ERROR", 0, NULL);
		STATS_INC(filter_errors);
		m->failed = 1;
	}
	if (m->av_truncated)
		verdict_add(&m->verdict, "AV_SCAN_LIMIT", 0, "%ld", var_av_max_scan_size);
}

/*
 * The classifier's own symbols, for rule sets without SpamAssassin's
 * BAYES_* rules: the same bands and scores (23_bayes.cf, score set 2).
 */
static void
add_bayes_symbol(struct filter_msg *m, double p)
{
	static const struct { double lo; const char *name; double score; } band[] = {
		{ 0.99, "BAYES_99", 3.8 }, { 0.95, "BAYES_95", 3.2 }, { 0.80, "BAYES_80", 2.7 },
		{ 0.60, "BAYES_60", 2.5 }, { 0.40, "BAYES_50", 2.0 }, { 0.20, "BAYES_40", -0.001 },
		{ 0.05, "BAYES_20", -0.001 }, { 0.01, "BAYES_05", -0.3 }, { -1, "BAYES_00", -1.5 },
	};

	for (size_t i = 0; i < sizeof(band) / sizeof(band[0]); i++) {
		if (p > band[i].lo || band[i].lo < 0) {
			verdict_add(&m->verdict, band[i].name, band[i].score, "%.4f", p);
			break;
		}
	}
	if (p > 0.999)
		verdict_add(&m->verdict, "BAYES_999", 0.2, "%.4f", p);
}

/*
 * An eval test: 1 hit, 0 no, -1 nobody answers it.  The sender
 * authentication's evals, the classifier's and the message's are told
 * apart by name, each in turn; once an eval's owner is known it is asked
 * directly.
 */
static int
run_eval(struct filter_msg *m, const struct auth_result *ar, double bayes_prob,
    struct eval_rule *e)
{
	int owner = __atomic_load_n(&e->owner, __ATOMIC_RELAXED);
	int rc;

	switch (owner) {
	case EVAL_AUTH:
		return ar != NULL ? auth_sa_eval(ar, e->function, e->args) : -1;
	case EVAL_BAYES:
		return bayes_sa_eval(bayes_prob, e->function, e->args);
	case EVAL_MESSAGE:
		return eval_sa(&m->eval, e->function, e->args);
	default:
		break;
	}
	if (ar != NULL && (rc = auth_sa_eval(ar, e->function, e->args)) >= 0) {
		owner = EVAL_AUTH;
	} else if ((rc = bayes_sa_eval(bayes_prob, e->function, e->args)) >= 0) {
		owner = EVAL_BAYES;
	} else {
		rc = eval_sa(&m->eval, e->function, e->args);
		owner = EVAL_MESSAGE;
	}
	/* Without an auth result, an eval of its own was not asked. */
	if (ar != NULL)
		__atomic_store_n(&e->owner, owner, __ATOMIC_RELAXED);
	return rc;
}

/*
 * Append word to the header field being built: after a space (when space),
 * or on a new folded line when it would pass 78 columns.
 */
static void
fold_word(struct strbuf *b, size_t *col, const char *word, int space)
{
	size_t wl = strlen(word);

	if (*col + wl + 1 > 78) {
		strbuf_append(b, "\r\n\t", 3);
		*col = 8;
	} else if (space) {
		strbuf_putc(b, ' ');
		(*col)++;
	}
	strbuf_append(b, word, wl);
	*col += wl;
}

static int
sym_cmp(const void *a, const void *b)
{
	const struct verdict_symbol *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static void
build_headers(struct filter_msg *m, const struct auth_result *ar, double bayes_prob)
{
	struct strbuf b = { NULL, 0, 0 };
	struct verdict_symbol *syms;
	char line[256];
	size_t col, n = m->verdict.nsyms;

	/* Our own users' mail leaves without the inbound verdict. */
	if (m->trusted) {
		m->result.headers = m->result.action == FILTER_QUARANTINE ?
		    xasprintf("X-Facteur-Quarantine: %s\r\n", m->result.reason) : xstrdup("");
		return;
	}
	if (ar != NULL && ar->authentication_results != NULL)
		strbuf_append(&b, ar->authentication_results, strlen(ar->authentication_results));
	snprintf(line, sizeof(line), "X-Spam-Status: %s, score=%.1f required=%.1f",
	    m->result.spam ? "Yes" : "No", m->result.score, m->result.required);
	strbuf_append(&b, line, strlen(line));
	col = strlen(line);
	/* As SpamAssassin: symbols worth nothing are in the log, not here. */
	syms = xcalloc(n > 0 ? n : 1, sizeof(*syms));
	n = 0;
	for (size_t i = 0; i < m->verdict.nsyms; i++)
		if (m->verdict.syms[i].score != 0)
			syms[n++] = m->verdict.syms[i];
	qsort(syms, n, sizeof(*syms), sym_cmp);
	if (n == 0)
		fold_word(&b, &col, "tests=none", 1);
	for (size_t i = 0; i < n; i++) {
		char w[200];
		snprintf(w, sizeof(w), "%s%s=%.3g%s", i == 0 ? "tests=" : "", syms[i].name,
		    syms[i].score, i + 1 < n ? "," : "");
		fold_word(&b, &col, w, i == 0);
	}
	free(syms);
	if (bayes_prob >= 0) {
		snprintf(line, sizeof(line), "bayes=%.4f", bayes_prob);
		fold_word(&b, &col, line, 1);
	}
	snprintf(line, sizeof(line), "version=facteur %s", PACKAGE_VERSION);
	fold_word(&b, &col, line, 1);
	strbuf_append(&b, "\r\n", 2);
	if (m->result.spam) {
		snprintf(line, sizeof(line), "X-Spam-Flag: YES\r\nX-Spam-Score: %.1f\r\n",
		    m->result.score);
		strbuf_append(&b, line, strlen(line));
	}
	if (m->f->av != NULL) {
		snprintf(line, sizeof(line), "X-Virus-Scanned: facteur (ClamAV%s) on %s\r\n",
		    av_ready(m->f->av) ? "" : ", not ready", proc_hostname());
		strbuf_append(&b, line, strlen(line));
	}
	if (m->result.action == FILTER_QUARANTINE) {
		snprintf(line, sizeof(line), "X-Facteur-Quarantine: %s\r\n", m->result.reason);
		strbuf_append(&b, line, strlen(line));
	}
	m->result.headers = b.data != NULL ? b.data : xstrdup("");
}

/* Thresholds of the first recipient domain with a [spam_policy] line. */
struct thresholds {
	double tag, subject, quarantine, reject;
};

static void
policy_thresholds(const struct filter_msg *m, struct thresholds *t)
{
	t->tag = var_spam_tag_score;
	t->subject = var_spam_subject_score;
	t->quarantine = var_spam_quarantine_score;
	t->reject = var_spam_reject_score;
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *at = strrchr(m->rcpts[i], '@'), *v, *p;
		if (at == NULL || (v = config_map_lookup("spam_policy", at + 1)) == NULL)
			continue;
		for (p = v; *p != '\0';) {
			char key[32];
			double d;
			int used;
			while (*p == ' ' || *p == ',' || *p == '\t')
				p++;
			if (sscanf(p, "%31[a-z]=%lf%n", key, &d, &used) != 2)
				break;
			p += used;
			if (strcmp(key, "tag") == 0)
				t->tag = d;
			else if (strcmp(key, "subject") == 0)
				t->subject = d;
			else if (strcmp(key, "quarantine") == 0)
				t->quarantine = d;
			else if (strcmp(key, "reject") == 0)
				t->reject = d;
		}
		return;
	}
}

/* Some recipient's mail goes on to another server (not a local domain). */
static int
forwarded(const struct filter_msg *m)
{
	for (size_t i = 0; i < m->nrcpts; i++) {
		const char *at = strrchr(m->rcpts[i], '@');
		if (at != NULL && !config_list_has_domain(var_local_domains, at + 1))
			return 1;
	}
	return 0;
}

static void
decide(struct filter_msg *m, const struct auth_result *ar)
{
	struct filter_result *r = &m->result;
	struct thresholds t;

	policy_thresholds(m, &t);
	r->score = m->verdict.score;
	r->required = t.tag;
	r->spam = r->score >= t.tag;
	if (r->action != FILTER_ACCEPT)
		return;		/* virus, antivirus not ready ... */
	if (m->failed) {
		if (strcmp(var_filter_failure_action, "tempfail") == 0) {
			r->action = FILTER_TEMPFAIL;
			snprintf(r->reply, sizeof(r->reply),
			    "451 4.7.1 Message could not be checked, try again later");
			snprintf(r->reason, sizeof(r->reason), "a check failed");
			return;
		}
		verdict_add(&m->verdict, "FILTER_ERROR", 0, NULL);
	}
	if (ar != NULL && var_dmarc_honor_policy && !m->trusted) {
		if (ar->dmarc_disposition == AUTH_DMARC_REJECT) {
			r->action = FILTER_REJECT;
			snprintf(r->reply, sizeof(r->reply),
			    "550 5.7.1 Rejected by the DMARC policy of %s",
			    ar->from_domain != NULL ? ar->from_domain : "the sender's domain");
			snprintf(r->reason, sizeof(r->reason), "DMARC policy reject of %s",
			    ar->from_domain != NULL ? ar->from_domain : "?");
			return;
		}
		if (ar->dmarc_disposition == AUTH_DMARC_QUARANTINE) {
			r->action = FILTER_QUARANTINE;
			snprintf(r->reason, sizeof(r->reason), "DMARC policy quarantine of %s",
			    ar->from_domain != NULL ? ar->from_domain : "?");
		}
	}
	if (m->trusted && var_filter_trusted_bypass)
		return;
	if (r->score >= t.reject) {
		r->action = FILTER_REJECT;
		snprintf(r->reply, sizeof(r->reply),
		    "550 5.7.1 Message refused as spam (score %.1f)", r->score);
		snprintf(r->reason, sizeof(r->reason), "spam score %.1f >= %.1f", r->score, t.reject);
		return;
	}
	if (r->score >= t.quarantine && r->action == FILTER_ACCEPT) {
		r->action = FILTER_QUARANTINE;
		snprintf(r->reason, sizeof(r->reason), "spam score %.1f >= %.1f", r->score,
		    t.quarantine);
	}
	if (r->score >= t.subject && r->action == FILTER_ACCEPT)
		r->subject_tag = xstrdup(var_spam_subject_tag);
}

const struct filter_result *
filter_msg_finish(struct filter_msg *m, const char *message, size_t len)
{
	struct auth_result ar_storage, *ar = NULL;
	double bayes_prob = -1;
	struct timespec t0, t1;
	struct bayes *b;

	if (m->finished)
		return &m->result;
	m->finished = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	STATS_INC(filter_messages);
	if (m->match != NULL)
		rules_match_set_scratch(m->match, thread_scratch(m->set));
	mime_parser_finish(m->mime);
	if (!m->headers_done)
		on_part_begin(m, mime_parser_part(m->mime, 0));
	cut_flush(m, &m->text_cut, text_out);
	if (m->match != NULL)
		cut_flush(m, &m->raw_cut, raw_out);
	eval_body_norm_end(&m->body_norm, body_out, m);
	body_feed(m, 1);
	m->eval.config = m->set != NULL ? m->set->eval_config : NULL;
	m->eval.relays = m->relays_done ? &m->relays : NULL;
	m->eval.received_config = m->set != NULL ? m->set->received_config : NULL;
	m->eval.originating = m->trusted;
	m->eval.headers = m->eval_hdrs;
	m->eval.nheaders = m->neval_hdrs;
	m->eval.sender = m->sender;
	m->eval.rcpts = (const char *const *)m->rcpts;
	m->eval.nrcpts = m->nrcpts;
	m->eval.helo = m->helo;
	m->eval.client_addr = m->client_addr;
	m->eval.mime = m->mime;
	m->eval.body = m->body.data != NULL ? m->body.data : "";
	m->eval.body_len = m->body.len;
	m->eval.message = message;
	m->eval.message_len = len;
	m->eval.now = time(NULL);
	add_mime_symbols(m);
	m->result.action = FILTER_ACCEPT;
	if (m->f->av != NULL)
		scan_virus(m, message, len);
	if (m->f->auth != NULL) {
		struct auth_request req;
		memset(&req, 0, sizeof(req));
		memset(&ar_storage, 0, sizeof(ar_storage));
		req.client_addr = m->client_addr;
		req.helo = m->helo;
		req.mail_from = m->sender;
		req.message = message;
		req.message_len = len;
		req.trusted = m->trusted;
		if (var_spf_enable || var_dkim_verify || var_dmarc_enable || var_arc_enable) {
			if (auth_verify(m->f->auth, &req, &m->verdict, &ar_storage) < 0) {
				STATS_INC(filter_errors);
				m->failed = 1;
			}
			ar = &ar_storage;
		}
	}
	if (m->tokens != NULL && (b = thread_bayes(m->f)) != NULL) {
		bayes_prob = bayes_classify(b, m->tokens);
		if (bayes_prob >= 0 && (m->set == NULL || !m->set->has_bayes))
			add_bayes_symbol(m, bayes_prob);
	}
	if (m->match != NULL) {
		/* uri rules: SpamAssassin's URI list, the canonical forms of every URI */
		if (rules_match_wants_uris(m->match) || m->uri_fn != NULL) {
			char *const *uris;
			const size_t *lens;
			size_t n = eval_uri_list(&m->eval, &uris, &lens);

			for (size_t i = 0; i < n; i++) {
				rules_match_uri(m->match, uris[i], lens[i]);
				if (m->uri_fn != NULL)
					m->uri_fn(m->uri_ctx, uris[i], lens[i]);
			}
		}
		for (size_t i = 0; i < m->set->nevals; i++)
			if (run_eval(m, ar, bayes_prob, &m->set->evals[i]) == 1)
				rules_match_set_hit(m->match, m->set->evals[i].rule);
		eval_msg_clear(&m->eval);	/* it points into message */
		rules_match_finish(m->match);
		/* Score set 2 (classifier, no network tests) once the classifier scores. */
		for (unsigned int i = 0; i < rules_match_hit_count(m->match); i++) {
			unsigned int idx = rules_match_hit_rule(m->match, i);
			const struct sa_rule *r = sa_rules_get(m->set->sa, idx);
			/* tflags multiple: the score at each hit, as SpamAssassin adds it. */
			double score = sa_rule_score(r, bayes_prob >= 0 ? 2 : 0) *
			    rules_match_times(m->match, idx);
			if (r->name[0] == '_' && r->name[1] == '_')
				continue;
			if (score == 0)
				continue;
			verdict_add(&m->verdict, r->name, score, NULL);
		}
	}
	decide(m, ar);
	/* Outbound: sign with the sender domain's key. */
	if (m->trusted && var_dkim_sign && m->f->auth != NULL && m->from_domain != NULL &&
	    m->result.action == FILTER_ACCEPT) {
		const char *error;
		char *sig = auth_dkim_sign(m->f->auth, m->from_domain, message, len, &error);
		if (sig != NULL) {
			build_headers(m, ar, bayes_prob);
			size_t hl = strlen(m->result.headers), sl = strlen(sig);
			m->result.headers = xrealloc(m->result.headers, hl + sl + 1);
			memmove(m->result.headers + sl, m->result.headers, hl + 1);
			memcpy(m->result.headers, sig, sl);
			free(sig);
			STATS_INC(auth_dkim_signed);
		} else {
			log_debug("qid=%s dkim: not signed for %s: %s", m->qid, m->from_domain, error);
		}
	}
	if (m->result.headers == NULL)
		build_headers(m, ar, bayes_prob);
	/* Mail we pass on to another domain's server carries our ARC seal. */
	if (!m->trusted && ar != NULL && var_arc_seal_domain[0] != '\0' && forwarded(m) &&
	    (m->result.action == FILTER_ACCEPT || m->result.action == FILTER_QUARANTINE)) {
		const char *error;
		char *seal = auth_arc_seal(m->f->auth, ar, message, len, &error);
		if (seal != NULL) {
			size_t hl = strlen(m->result.headers), sl = strlen(seal);
			m->result.headers = xrealloc(m->result.headers, hl + sl + 1);
			memmove(m->result.headers + sl, m->result.headers, hl + 1);
			memcpy(m->result.headers, seal, sl);
			free(seal);
		} else {
			log_warnx("qid=%s arc: not sealed: %s", m->qid, error);
		}
	}
	m->result.verdict = &m->verdict;
	if (ar != NULL)
		auth_result_free(ar);
	switch (m->result.action) {
	case FILTER_REJECT: STATS_INC(filter_rejected); break;
	case FILTER_TEMPFAIL: STATS_INC(filter_tempfailed); break;
	case FILTER_QUARANTINE: STATS_INC(filter_quarantined); break;
	case FILTER_ACCEPT: break;
	}
	if (m->result.spam)
		STATS_INC(filter_spam);
	else
		STATS_INC(filter_ham);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	STATS_ADD(filter_scan_usec, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000));
	return &m->result;
}

void
filter_msg_free(struct filter_msg **mp)
{
	struct filter_msg *m = *mp;

	if (m == NULL)
		return;
	*mp = NULL;
	if (m->match != NULL)
		match_give(m->f, m->set, &m->match);
	set_release(m->f, m->set);
	mime_parser_free(&m->mime);
	if (m->tokens != NULL)
		bayes_tokens_free(&m->tokens);
	for (size_t i = 0; i < m->nparts; i++)
		strbuf_free(&m->parts[i].data);
	free(m->parts);
	strbuf_free(&m->text_cut.held);
	strbuf_free(&m->raw_cut.held);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->qid);
	free(m->client_addr);
	free(m->client_name);
	free(m->helo);
	free(m->sender);
	free(m->auth_user);
	free(m->subject);
	free(m->from_domain);
	eval_msg_clear(&m->eval);
	received_chain_clear(&m->relays);
	for (size_t i = 0; i < m->neval_hdrs; i++) {
		free((char *)m->eval_hdrs[i].name);
		free((char *)m->eval_hdrs[i].raw);
		free((char *)m->eval_hdrs[i].value);
	}
	free(m->eval_hdrs);
	strbuf_free(&m->body);
	free(m->result.headers);
	free(m->result.subject_tag);
	verdict_free(&m->verdict);
	free(m);
}

void
filter_log_verdict(const char *qid, const char *client, const struct filter_result *r)
{
	char syms[1024];
	size_t n = 0;

	syms[0] = '\0';
	for (size_t i = 0; i < r->verdict->nsyms && n + 2 < sizeof(syms); i++)
		n += (size_t)snprintf(syms + n, sizeof(syms) - n, "%s%s", i > 0 ? "," : "",
		    r->verdict->syms[i].name);
	if (n >= sizeof(syms))
		memcpy(syms + sizeof(syms) - 4, "...", 4);
	log_info("qid=%s client=[%s] filter: action=%s score=%.2f required=%.1f%s%s symbols=%s",
	    qid, client, filter_action_name(r->action), r->score, r->required,
	    r->reason[0] != '\0' ? " reason=" : "", r->reason, syms[0] != '\0' ? syms : "none");
}

const char *
filter_action_name(enum filter_action a)
{
	switch (a) {
	case FILTER_ACCEPT: return "accept";
	case FILTER_QUARANTINE: return "quarantine";
	case FILTER_REJECT: return "reject";
	case FILTER_TEMPFAIL: return "tempfail";
	}
	return "?";
}

char *
filter_tag_subject(const char *msg, size_t len, const char *tag, size_t *len_r)
{
	struct strbuf b = { NULL, 0, 0 };
	const char *p = msg, *end = msg + len;
	size_t tl = strlen(tag);
	int done = 0;

	/* Header lines up to the empty line. */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (n <= 2 && (p[0] == '\n' || (p[0] == '\r' && n == 2))) {
			break;
		}
		if (!done && n >= 8 && str_ncasecmp(p, "Subject:", 8) == 0) {
			const char *v = p + 8;
			strbuf_append(&b, p, 8);
			strbuf_putc(&b, ' ');
			while (v < p + n && (*v == ' ' || *v == '\t'))
				v++;
			strbuf_append(&b, tag, tl);
			if (tl > 0 && tag[tl - 1] != ' ')
				strbuf_putc(&b, ' ');
			strbuf_append(&b, v, (size_t)(p + n - v));
			done = 1;
		} else {
			strbuf_append(&b, p, n);
		}
		p += n;
	}
	if (!done) {
		strbuf_append(&b, "Subject: ", 9);
		strbuf_append(&b, tag, tl);
		strbuf_append(&b, "\r\n", 2);
	}
	strbuf_append(&b, p, (size_t)(end - p));
	*len_r = b.len;
	return b.data;
}
