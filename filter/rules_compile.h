/* SPDX-License-Identifier: MIT */
/*
 * rules_compile - SpamAssassin rules (sa_rules.h) compiled into Hyperscan
 * databases, and the matching the filter pipeline does with them.
 *
 * Rules are grouped by what they scan: one database per header (name and
 * modifiers, ALL and ToCc included), one for uri (block mode), and one
 * each for body, rawbody and full in streaming mode so body rules match
 * while the message arrives.  Patterns Hyperscan cannot match exactly
 * (back-references, look-around, atomic groups ...) are compiled with
 * HS_FLAG_PREFILTER and each prefilter hit is confirmed with PCRE2;
 * patterns neither accepts are reported as unsupported with the reason.
 * Compiled databases are cached on disk, keyed by the Hyperscan version,
 * the CPU's features and the SHA-256 of the rule text, so a restart
 * loads them instead of compiling (which takes seconds to minutes).
 *
 * A struct rules is read-only once built and may be shared by threads;
 * each worker thread has its own struct rules_scratch, and each message
 * its own struct rules_match.
 */
#ifndef FACTEUR_FILTER_RULES_COMPILE_H
#define FACTEUR_FILTER_RULES_COMPILE_H

#include <stddef.h>

#include "filter/sa_rules.h"

struct rules;
struct rules_scratch;
struct rules_match;

struct rules_options {
	const char *cache_dir;	/* where compiled databases are kept; NULL for none */
};

/* What became of a rule. */
enum rules_status {
	RULES_UNDEFINED,	/* score or describe only, no test */
	RULES_EXACT,		/* Hyperscan matches it exactly */
	RULES_PREFILTER,	/* Hyperscan prefilter, PCRE2 confirms */
	RULES_PCRE,		/* Hyperscan cannot take it: PCRE2 alone matches it */
	RULES_UNSUPPORTED,	/* nothing could take it: never hits */
	RULES_EVAL,		/* eval: test, for the pipeline (rules_match_set_hit) */
	RULES_EXISTS,		/* exists:Header, decided from the headers seen */
	RULES_META,		/* meta expression over other rules */
};

struct rules_stats {
	unsigned int loaded[SA_RULE_TYPE_COUNT];	/* defined rules per type, evals included */
	unsigned int eval;
	unsigned int prefiltered;
	unsigned int pcre_only;	/* RULES_PCRE */
	unsigned int unsupported;
	unsigned int databases;
	int cache_hit;		/* 1 if the databases came from the cache */
	double seconds;		/* time rules_compile() took */
};

/*
 * Compile (or load from the cache) every rule of sa, which must stay
 * alive and unchanged as long as the result.  Rules that cannot be
 * compiled are not an error (see rules_status()); -1 with error_r only
 * if nothing usable can be built.  A cache that cannot be written is
 * reported through error_r-less log lines, never fatal.
 */
int rules_compile(struct sa_rules *sa, const struct rules_options *options,
    struct rules **rules_r, const char **error_r);
void rules_free(struct rules **rules);

const struct sa_rules *rules_sa(const struct rules *rules);
void rules_get_stats(const struct rules *rules, struct rules_stats *stats_r);
/*
 * A rule's status and its reason (reason_r may be NULL): why, for
 * RULES_UNSUPPORTED and RULES_PCRE (what Hyperscan said); how it is
 * confirmed, for a RULES_PREFILTER rule confirmed on the lines where its
 * repeated group matched (and, when that is so, only from where the
 * group's matches start on them); else NULL.
 */
enum rules_status rules_status(const struct rules *rules, unsigned int rule,
    const char **reason_r);
/* How many times this process called Hyperscan's compiler (tests: cache hits). */
unsigned int rules_compiler_calls(void);

/* Scratch space for one thread; a clone serves another thread. */
struct rules_scratch *rules_scratch_new(const struct rules *rules);
struct rules_scratch *rules_scratch_clone(const struct rules_scratch *scratch);
void rules_scratch_free(struct rules_scratch **scratch);

/* One message's matching; scratch must belong to the calling thread. */
struct rules_match *rules_match_new(const struct rules *rules, struct rules_scratch *scratch);
/*
 * Hand the message to another thread: from now on the calling thread's
 * scratch (made for the same rules) is used.
 */
void rules_match_set_scratch(struct rules_match *m, struct rules_scratch *scratch);
/* Ready for the next message. */
void rules_match_reset(struct rules_match *m);
/*
 * A header field, mods 0 for the decoded value, SA_HDR_RAW for the raw
 * one, or other SA_HDR_* for values the pipeline derived (addresses,
 * names).  Values are collected; ALL and ToCc are built from mods 0 and
 * SA_HDR_RAW fields.  Pseudo-headers (MESSAGEID, X-Spam-Relays-External
 * ...) are given the same way.
 */
void rules_match_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len);
/* The header block is over: header rules are decided. */
/*
 * A pseudo-header SpamAssassin makes (X-Spam-Relays-*, MESSAGEID): like
 * rules_match_header, but not part of ALL or ToCc, and exists:NAME is
 * true only when exists says so (names are matched in lower case, and
 * SpamAssassin's exists:MessageID asks for a real field, not MESSAGEID).
 * Before headers_end.
 */
void rules_match_pseudo_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len, int exists);
void rules_match_headers_end(struct rules_match *m);
/* Does the rule set hold uri rules?  Each URI of the message's list is then given to rules_match_uri. */
int rules_match_wants_uris(const struct rules_match *m);
void rules_match_uri(struct rules_match *m, const char *url, size_t len);
/*
 * Streams for SA_RULE_BODY, SA_RULE_RAWBODY and SA_RULE_FULL: data is
 * scanned as it is fed, in pieces of 16 KB (the rest at close);
 * prefiltered rules are confirmed at close on the data kept (at most
 * RULES_CONFIRM_MAX bytes).  -1 if type is not one of
 * those or the stream is already open.
 *
 * The body stream is SpamAssassin's body text: its first line is the
 * Subject, which rules with `tflags nosubject` do not see.  Rules with
 * `tflags multiple` are counted on the data kept (rules_match_times).
 */
#define RULES_CONFIRM_MAX (1024 * 1024)
int rules_match_stream_open(struct rules_match *m, enum sa_rule_type type);
void rules_match_stream_feed(struct rules_match *m, enum sa_rule_type type,
    const void *data, size_t len);
void rules_match_stream_close(struct rules_match *m, enum sa_rule_type type);
/* For eval tests the pipeline implements. */
void rules_match_set_hit(struct rules_match *m, unsigned int rule);
/*
 * The end of the scanning: header rules of absent headers, streams left
 * open closed, prefiltered rules confirmed.  rules_match_finish() does it
 * when it was not done, then evaluates the meta rules.
 *
 * Rules that are never reported (sub-rules, __NAME, and rules scoring 0
 * in every set) are confirmed lazily: a prefiltered one is left
 * undecided at the end of the scanning, and rules_match_finish decides
 * it only when the value of a reported meta depends on it (the metas are
 * evaluated over ranges of values first).  Such a rule may stay
 * undecided: it is then not among the hits.  rules_match_resolve_all()
 * decides every one, for tools that show sub-rules; the hits of reported
 * rules are the same either way.
 */
void rules_match_finish_scan(struct rules_match *m);
void rules_match_finish(struct rules_match *m);
void rules_match_resolve_all(struct rules_match *m);

int rules_match_hit(const struct rules_match *m, unsigned int rule);
/* Rules hit, in the order they hit. */
unsigned int rules_match_hit_count(const struct rules_match *m);
unsigned int rules_match_hit_rule(const struct rules_match *m, unsigned int i);
/*
 * How many times a rule hit: 0 or 1, or for `tflags multiple` rules the
 * matches counted (up to maxhits), which is also their value in metas.
 */
unsigned int rules_match_times(const struct rules_match *m, unsigned int rule);
/* Sum of the scores (score set 0..3) of the rules hit, times their hits. */
double rules_match_score(const struct rules_match *m, unsigned int set);
/*
 * Profiling: the time spent confirming or counting each rule (PCRE2, and
 * the scans of a lines rule's lines) is added to profile[rule] (an array
 * of sa_rules_count() entries), with one call each time.  NULL stops it.
 */
struct rules_profile {
	double seconds;
	unsigned long calls;
};

void rules_match_set_profile(struct rules_match *m, struct rules_profile *profile);
void rules_match_free(struct rules_match **m);

#endif
