/* SPDX-License-Identifier: MIT */
/*
 * rules_compile - group SpamAssassin tests by what they scan, compile each
 * group into one Hyperscan database (prefilter + PCRE2 where Hyperscan is
 * not exact), cache the result on disk, and match messages with it.
 */
#include "facteur-config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hs.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <openssl/evp.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "filter/rules_compile.h"
#include "filter/rules_meta.h"
#include "filter/rules_relax.h"
#include "filter/strbuf.h"

/* Bump when the cache file layout or the grouping changes. */
#define RULES_CACHE_FORMAT "facteur-rules-cache-21"

struct rules_group {
	enum sa_rule_type type;
	char *header;		/* header groups: lower-case name */
	uint32_t hash;		/* header groups: name_hash(header) */
	unsigned int mods;
	unsigned int *ids;	/* rule indices, Hyperscan ids are positions here */
	unsigned int count;
	hs_database_t *db;	/* NULL when every rule of the group failed */
	int has_prefilter;
	int has_pcre;		/* rules PCRE2 matches alone (RULES_PCRE) */
	int has_multiple;	/* rules with tflags multiple: their hits are counted */
	int has_nosubject;	/* body rules with tflags nosubject */
	int has_unset;		/* header rules matching their [if-unset] value (or "") */
	int has_negate;		/* header rules with !~ */
	unsigned int *multi;	/* the rules with tflags multiple (maxhits > 1) */
	unsigned int multi_count;
};

struct rule_info {
	enum rules_status status;
	char *reason;
	pcre2_code *re;		/* every regex rule: confirmation and if-unset */
	struct rules_meta *meta;
	int group;		/* -1 if none */
	int unset_match;	/* header rules: re matches the [if-unset] value (or "") */
	unsigned int maxhits;	/* sa_rule_maxhits(): more than 1 for tflags multiple */
	int nosubject;		/* body rules with tflags nosubject: not on the first line */
	int hs_count;		/* tflags multiple counted from Hyperscan's match ends (hs_counted()) */
	int negate;		/* header rules: !~ */
	/*
	 * Never reported (a sub-rule, __NAME, or a rule scoring 0 in every
	 * score set): its confirmation waits until a reported meta needs
	 * its value (rules_match_finish), and most never do.
	 */
	int lazy;
	/*
	 * A prefiltered rule's way into Hyperscan, tried in this order: the
	 * relaxed pattern with its anchors kept exactly (relax_step 0), the
	 * same with its ranges unbounded ({1,100} as {1,}: 8, alternative
	 * 0), the relaxed pattern exactly (0); for a body rule that is one
	 * group repeated, (?:X){5}, X exactly, X with its ranges unbounded,
	 * then what every match of X starts with, unbounded (4, 5, 6: part,
	 * see part_pattern()); the pattern with its anchors (the anchored
	 * one, else the pattern), then the relaxed one, each unbounded,
	 * exactly (8, alternatives 0 and 1: unbound).  A body rule's exact
	 * ways are first tried with every end reported (relax_ends()), then
	 * again with HS_FLAG_SINGLEMATCH (single; the parts apart).  Then
	 * the relaxed pattern as a prefilter (1, with its anchors first);
	 * the pattern as a prefilter (2); the widened (relaxed) pattern
	 * exactly (3); the widened pattern as pieces whose union it is,
	 * each exactly (7, rules_split_pattern()).  relaxed is NULL when
	 * there is nothing to relax, part when the pattern is no repeated
	 * group, widened until step 3.  Only while compiling.
	 */
	char *relaxed;
	char *anchored;		/* relaxed with its anchors, or NULL: tried first */
	int anchored_on;	/* steps 0 and 1 are at anchored */
	char *part;
	char *widened;
	char **pieces;		/* relax_step 7: the widened pattern in pieces */
	size_t npieces;
	char *unbound;		/* relax_step 8 */
	int unbound_alt;	/* 0: from the anchored pattern (or the pattern), 1: the relaxed one */
	int single;		/* steps 0 and 8 again, with HS_FLAG_SINGLEMATCH (inexact_step()) */
	int unbound_tried0;	/* alternative 0 of step 8 was tried */
	int unbound_early;	/* at it right after the anchored pattern, before the relaxed one */
	int relax_step;
	/*
	 * Through its part (cached): Hyperscan reports every end of X, and
	 * PCRE2 looks only at the lines where X matched.  starts (cached, may
	 * be NULL) is the part read backwards (rules_reverse_pattern()) in
	 * block mode: scanning such a line reversed gives where the part's
	 * matches start, and PCRE2 tries only those starts (offset_limit: re
	 * takes an offset limit).
	 */
	int lines;
	hs_database_t *starts;
	int offset_limit;
	/*
	 * lines: how many distinct ends of the part a line needs (cached): n
	 * for (?:X){n} or {n,} when the part matches no empty text (each of
	 * the n matches of X holds one that ends further on), else 1.
	 */
	unsigned int chain;
	/* relax_ends() of the way ends_key (0: not worked out), while compiling */
	int ends_key;
	int ends;
};

struct rules {
	struct sa_rules *sa;
	unsigned int count;
	struct rule_info *info;
	/*
	 * By rule, the HOT_ flags of its rule_info that matching reads for
	 * every match and every rule of a group: two bytes a rule stay in
	 * the cache that rule_info's 176 bytes a rule do not.
	 */
	uint16_t *hot;
	struct rules_group *groups;
	unsigned int group_count;
	int stream_group[SA_RULE_TYPE_COUNT];	/* group of body/rawbody/full, or -1 */
	int uri_group;
	unsigned int *meta_order;	/* metas, dependencies first */
	unsigned int meta_count;
	/* a bit a meta, by meta_order: hits when nothing it reads hit */
	uint64_t *meta_zero;
	/*
	 * The metas that read each rule, by their place in meta_order:
	 * readers[reader_at[i] .. reader_at[i + 1]).
	 */
	unsigned int *reader_at, *readers;
	/*
	 * The same for a rule's hits: only the metas it guards (see
	 * rules_meta_guards()), or reads when they have no guards.
	 */
	unsigned int *hit_reader_at, *hit_readers;
	struct rules_meta_pack *meta_pack;	/* the metas' programs, by meta_order */
	unsigned int *meta_at;	/* by rule: a meta's place in meta_order */
	/* header groups by (name, mods): open addressing, group + 1, 0 empty */
	unsigned int *header_index;
	unsigned int header_index_mask;
	unsigned int *exists_rules;	/* the RULES_EXISTS rules */
	unsigned int exists_count;
	/* exists:Name by lower-case name: position in exists_rules + 1, open addressing */
	unsigned int *exists_index;
	unsigned int exists_index_mask;
	char **exists_names;	/* lower case, by position in exists_rules */
	uint32_t *exists_hash;	/* name_hash() of each */
	/* the groups of ALL and ToCc, without and with :raw (-1: none) */
	int all_group[2], tocc_group[2];
	struct rules_stats stats;
};

struct rules_scratch {
	hs_scratch_t *hs;
};

/* Per stream state, for body, rawbody and full. */
struct rules_stream {
	hs_stream_t *hs;
	int open;
	struct strbuf kept;	/* for prefilter confirmation and PCRE2-only rules */
	/*
	 * Fed, not yet given to Hyperscan: kept's bytes from scan_from on
	 * while they are all in kept (in_kept), then stage's.
	 */
	int in_kept;
	size_t scan_from;
	struct strbuf stage;
	int deferred;		/* closed with rules deferred: kept is theirs */
};

/*
 * Fed data is given to hs_scan_stream in pieces of at least this size:
 * the body arrives a word at a time (SpamAssassin's white-space collapse)
 * and each call of a database this large has a fixed cost of its own, so
 * scanning word by word cost more than the scanning.  A stream finds the
 * same matches however its data is cut.
 */
#define RULES_STREAM_STAGE 16384

/* rules.hot */
#define HOT_PREFILTER 0x001	/* status RULES_PREFILTER */
#define HOT_PCRE 0x002		/* status RULES_PCRE */
#define HOT_HS_COUNT 0x004	/* hs_count */
#define HOT_LINES 0x008		/* lines */
#define HOT_LAZY 0x010		/* lazy */
#define HOT_NEGATE 0x020	/* negate */
#define HOT_NOSUBJECT 0x040	/* nosubject */
#define HOT_UNSET 0x080		/* unset_match */
#define HOT_MULTIPLE 0x100	/* maxhits > 1 */

#define ST_HIT 0x01
#define ST_CANDIDATE 0x02	/* prefilter hit, to confirm */
#define ST_MATCHED 0x04		/* pattern matched (negated header rules) */
#define ST_DEFERRED 0x10	/* lazy, undecided: confirmed if a reported rule needs it */

/* rules_match.mstate, by place in meta_order */
#define MS_READS 0x01		/* reads a rule that hit */
#define MS_UNSURE 0x02		/* reads a deferred rule */

#define RULES_PART_STARTS 512
#define RULES_CHAIN_MAX 64

struct rules_match {
	const struct rules *rules;
	struct rules_scratch *scratch;
	unsigned char *state;
	unsigned int *hits;
	unsigned int hit_count;
	/* the rules ST_DEFERRED was set on (some since decided), this message */
	unsigned int *deferred;
	unsigned int deferred_count;
	/* by rule, for the metas: rules_match_times of the rules decided (else 0) */
	float *val;
	/*
	 * by rule, for evaluating metas over ranges: [vlo, vhi] holds its
	 * value, val's when it is decided, [0, the most it can count] while
	 * it is deferred
	 */
	float *vlo, *vhi;
	unsigned char *mstate;	/* MS_ bits of each meta, by place in meta_order */
	uint64_t *mact;		/* a bit a meta, by place in meta_order: mstate not 0 */
	/* tflags multiple: matches counted, for hit rules only (0: not counted, 1) */
	unsigned int *counts;
	struct strbuf *values;	/* per group, header groups: values joined by \n */
	unsigned char *seen;	/* per group: a value was given */
	struct rules_stream streams[SA_RULE_TYPE_COUNT];
	pcre2_match_data *md;
	int headers_done, scanned, finished;
	const struct rules_group *cur;	/* group being scanned, for the callback */
	/* where the parts of "lines" rules matched (stream offsets), this message */
	struct part_end {
		unsigned int rule;
		unsigned long long to;
	} *ends;
	size_t nends, ends_size;
	int ends_sorted;	/* by rule, then offset */
	int ends_full;		/* more than RULES_PART_ENDS: the whole text is confirmed */
	pcre2_match_context *mctx;	/* offset limits, for the lines rules */
	/* a line of a lines rule reversed, and where its part's matches start */
	char *rev;
	size_t rev_size;
	size_t starts[RULES_PART_STARTS];
	size_t nstarts;
	int starts_full;
	struct rules_profile *prof;	/* rules_match_set_profile(), or NULL */
	/*
	 * The last header name given (each header comes as it is, :raw,
	 * :addr and :name): in lower case, its hash and length, its
	 * exists: rules marked.  name[0] == '\0': none.
	 */
	struct {
		char name[128], lname[128];
		size_t len;
		uint32_t hash;
		int tocc;
	} hname;
};

#define RULES_PART_ENDS 16384

static unsigned int compiler_calls;

unsigned int
rules_compiler_calls(void)
{
	return compiler_calls;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * SpamAssassin matches a body or rawbody rule against each line of the
 * body (a paragraph of the rendered text, a line of the raw one) apart, so
 * ^ and $ are at every line's ends: facteur's streams separate those lines
 * with \n, and ^ and $ are multi-line there.
 */
static int
line_anchors(const struct sa_rule *rule)
{
	return (rule->flags & SA_RE_MULTILINE) || rule->type == SA_RULE_BODY ||
	    rule->type == SA_RULE_RAWBODY;
}

/*
 * A body or rawbody rule with tflags multiple whose matches Hyperscan's
 * reports count one for one (rules_disjoint_matches()): /e/ with maxhits,
 * counted as the stream goes rather than again by PCRE2 at its end.
 */
static int
hs_counted(const struct sa_rule *rule)
{
	return (rule->type == SA_RULE_BODY || rule->type == SA_RULE_RAWBODY) &&
	    !(rule->flags & SA_RE_EXTENDED) && sa_rule_maxhits(rule) > 1 &&
	    !sa_rule_tflag(rule, "nosubject") && rule->pattern != NULL &&
	    rules_disjoint_matches(rule->pattern, (rule->flags & SA_RE_CASELESS) != 0);
}

static unsigned int
hs_flags(const struct sa_rule *rule, int prefilter)
{
	unsigned int f = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;

	if (!prefilter && hs_counted(rule))
		f &= ~(unsigned int)HS_FLAG_SINGLEMATCH;

	if (rule->flags & SA_RE_CASELESS)
		f |= HS_FLAG_CASELESS;
	/* A body rule's . never meets a line end: the paragraphs are apart in SpamAssassin. */
	if ((rule->flags & SA_RE_DOTALL) && rule->type != SA_RULE_BODY)
		f |= HS_FLAG_DOTALL;
	if (line_anchors(rule))
		f |= HS_FLAG_MULTILINE;
	if (prefilter)
		f |= HS_FLAG_PREFILTER;
	return f;
}

static void
set_status(struct rule_info *info, enum rules_status status, const char *reason)
{
	info->status = status;
	free(info->reason);
	info->reason = reason != NULL ? xstrdup(reason) : NULL;
}

/*
 * The rule's own pattern for Hyperscan.  A body rule's cannot match
 * across a line end (rules_line_pattern()): SpamAssassin tries it on each
 * paragraph apart, facteur's stream has them as lines.  Hyperscan has no
 * flag for /x: the inline option does it.
 */
static char *
plain_pattern(const struct sa_rule *rule)
{
	int x = (rule->flags & SA_RE_EXTENDED) != 0;
	char *line = rule->type == SA_RULE_BODY ? rules_line_pattern(rule->pattern, x) : NULL;
	const char *re = line != NULL ? line : rule->pattern;
	char *out = x ? xasprintf("(?x)%s", re) : xstrdup(re);

	free(line);
	return out;
}

/* The pattern of the rule's way into Hyperscan (see struct rule_info). */
static char *
hs_pattern(const struct sa_rule *rule, const struct rule_info *info)
{
	if (info->relax_step == 3)
		return xstrdup(info->widened);
	if (info->relax_step == 7)
		return xstrdup(info->pieces[0]);
	if (info->relax_step == 8)
		return xstrdup(info->unbound);
	if (info->relax_step >= 4 && info->relax_step <= 6)
		return xstrdup(info->part);
	if (info->relaxed != NULL && info->relax_step < 2)
		return xstrdup(info->anchored_on ? info->anchored : info->relaxed);
	return plain_pattern(rule);
}

/*
 * A prefiltered rule in Hyperscan by a loosening of its own, not by
 * HS_FLAG_PREFILTER: the relaxed pattern (relax_step 0), the widened one
 * (3) or its pieces (7), the unbounded one (8).  Every match of the rule
 * is then a match of what Hyperscan has, over the same bytes.
 */
static int
relax_exact(const struct rule_info *info)
{
	return (info->relaxed != NULL && info->relax_step == 0) || info->relax_step == 3 ||
	    info->relax_step == 7 || info->relax_step == 8;
}

/* Hyperscan's minimum width of a pattern: 0 when unknown. */
static unsigned int
min_width(const char *pattern, unsigned int flags)
{
	hs_expr_info_t *ei = NULL;
	hs_compile_error_t *err = NULL;
	unsigned int w = 0;

	compiler_calls++;
	if (hs_expression_info(pattern, flags, &ei, &err) == HS_SUCCESS)
		w = ei->min_width;
	else
		hs_free_compile_error(err);
	free(ei);
	return w;
}

/*
 * A body rule relax_exact() whose loosened pattern matches no empty text:
 * each match of the rule ends where one of it does (past its first byte),
 * so Hyperscan reports every end and PCRE2 looks only at the lines where
 * one is (its "lines", as for a repeated group's part, in a chain of 1).
 * Worked out once for each way in (ends_key).
 */
static int
relax_ends(const struct sa_rule *rule, struct rule_info *info)
{
	int key = 1 + 4 * info->relax_step + 2 * info->unbound_alt + (info->anchored_on ? 1 : 0);

	if (rule->type != SA_RULE_BODY || info->status != RULES_PREFILTER || !relax_exact(info) ||
	    (info->single && (info->relax_step == 0 || info->relax_step == 8)))
		return 0;
	if (info->ends_key != key) {
		unsigned int flags = hs_flags(rule, 0);

		info->ends_key = key;
		info->ends = 1;
		if (info->relax_step == 7) {
			for (size_t i = 0; i < info->npieces && info->ends; i++)
				info->ends = min_width(info->pieces[i], flags) > 0;
		} else {
			char *pat = hs_pattern(rule, info);

			info->ends = min_width(pat, flags) > 0;
			free(pat);
		}
	}
	return info->ends;
}

/* The Hyperscan flags of a rule where it stands in its way into Hyperscan. */
static unsigned int
rule_hs_flags(const struct sa_rule *rule, struct rule_info *info)
{
	if (info->status != RULES_PREFILTER)
		return hs_flags(rule, 0);
	/* Every end of the part, or of the loosened pattern: the lines to confirm on. */
	if ((info->relax_step >= 4 && info->relax_step <= 6) || relax_ends(rule, info))
		return hs_flags(rule, 0) & ~(unsigned int)HS_FLAG_SINGLEMATCH;
	if (relax_exact(info))
		return hs_flags(rule, 0);
	return hs_flags(rule, 1);
}

/*
 * The part of relax_step 4, 5 or 6 (see struct rule_info), or NULL when
 * there is none or it would be the previous step's.
 */
static char *
part_pattern(const struct sa_rule *rule, const struct rule_info *info, int step)
{
	char *x, *y;

	if (rule->type != SA_RULE_BODY || (x = rules_repeat_part(info->relaxed != NULL ?
	    info->relaxed : rule->pattern, (rule->flags & SA_RE_EXTENDED) != 0)) == NULL)
		return NULL;
	if (step == 4)
		return x;
	if (step == 6) {
		y = rules_prefix_pattern(x);
		free(x);
		if ((x = y) == NULL)
			return NULL;
	}
	if ((y = rules_unbound_pattern(x)) == NULL && step == 5) {
		free(x);
		return NULL;
	}
	if (y != NULL) {
		free(x);
		x = y;
	}
	return x;
}

/* Go to the part of step (or the next one that has a part): 0, or -1 if none. */
static int
part_step(const struct sa_rule *rule, struct rule_info *info, int step)
{
	for (; step <= 6; step++) {
		char *part = part_pattern(rule, info, step);

		if (part != NULL) {
			free(info->part);
			info->part = part;
			info->relax_step = step;
			return 0;
		}
	}
	return -1;
}

/*
 * Step 8 from alternative alt on (see struct rule_info): 0, or -1 when
 * neither has a range to unbound.
 */
static int
unbound_step(const struct sa_rule *rule, struct rule_info *info, int alt)
{
	if (rule->flags & SA_RE_EXTENDED)
		return -1;
	for (; alt <= 1; alt++) {
		const char *from = alt == 0 ? (info->anchored != NULL ? info->anchored :
		    rule->pattern) : info->relaxed;
		char *u;

		if (from == NULL || (u = rules_unbound_pattern(from)) == NULL)
			continue;
		free(info->unbound);
		info->unbound = u;
		info->unbound_alt = alt;
		info->relax_step = 8;
		if (alt == 0)
			info->unbound_tried0 = 1;
		return 0;
	}
	return -1;
}

/* The first way of a rule that becomes prefiltered (see struct rule_info). */
static void
prefilter_start(const struct sa_rule *rule, struct rule_info *info)
{
	int extended = (rule->flags & SA_RE_EXTENDED) != 0;

	set_status(info, RULES_PREFILTER, NULL);
	info->relaxed = rules_relax_pattern(rule->pattern, extended);
	info->anchored = rules_relax_anchored(rule->pattern, extended);
	if (info->anchored != NULL && (info->relaxed == NULL ||
	    strcmp(info->anchored, info->relaxed) == 0)) {
		free(info->anchored);
		info->anchored = NULL;
	}
	info->anchored_on = info->anchored != NULL;
	if (info->relaxed != NULL)
		info->relax_step = 0;
	else if (part_step(rule, info, 4) != 0 && unbound_step(rule, info, 0) != 0)
		info->relax_step = 2;
}

#define RULES_PIECES_MAX 64

/* Header and uri rules scan values whole, the others streams. */
static unsigned int
type_mode(enum sa_rule_type type)
{
	return type == SA_RULE_HEADER || type == SA_RULE_URI ? HS_MODE_BLOCK : HS_MODE_STREAM;
}

static void
pieces_free(struct rule_info *info)
{
	while (info->npieces > 0)
		free(info->pieces[--info->npieces]);
	free(info->pieces);
	info->pieces = NULL;
}

/* step 8 left: its pattern dropped. */
static void
unbound_drop(struct rule_info *info)
{
	free(info->unbound);
	info->unbound = NULL;
	info->unbound_alt = 0;
}

/* The patterns of a rule's ways into Hyperscan, once it has one (or none). */
static void
ways_free(struct rule_info *info)
{
	free(info->relaxed);
	info->relaxed = NULL;
	free(info->anchored);
	info->anchored = NULL;
	free(info->part);
	info->part = NULL;
	free(info->widened);
	info->widened = NULL;
	unbound_drop(info);
	pieces_free(info);
}

/*
 * The widened pattern, which Hyperscan finds too large, as pieces it takes
 * one by one (a piece it refuses split again, up to RULES_PIECES_MAX):
 * 0, or -1 if there are none.
 */
static int
split_widened(const struct sa_rule *rule, struct rule_info *info)
{
	size_t i = 0;

	info->pieces = xcalloc(1, sizeof(*info->pieces));
	info->pieces[0] = xstrdup(info->widened);
	info->npieces = 1;
	while (i < info->npieces) {
		hs_database_t *db = NULL;
		hs_compile_error_t *err = NULL;
		char **sub;
		size_t k;

		compiler_calls++;
		if (hs_compile(info->pieces[i], hs_flags(rule, 0), type_mode(rule->type), NULL, &db,
		    &err) == HS_SUCCESS) {
			hs_free_database(db);
			i++;
			continue;
		}
		hs_free_compile_error(err);
		sub = rules_split_pattern(info->pieces[i], &k);
		if (sub == NULL || info->npieces - 1 + k > RULES_PIECES_MAX) {
			while (sub != NULL && k > 0)
				free(sub[--k]);
			free(sub);
			pieces_free(info);
			return -1;
		}
		free(info->pieces[i]);
		info->pieces = xrealloc(info->pieces, (info->npieces - 1 + k) * sizeof(*info->pieces));
		memmove(&info->pieces[i + k], &info->pieces[i + 1],
		    (info->npieces - i - 1) * sizeof(*info->pieces));
		memcpy(&info->pieces[i], sub, k * sizeof(*sub));
		info->npieces += k - 1;
		free(sub);
	}
	/* Whole, it would have been taken at step 3. */
	if (info->npieces < 2) {
		pieces_free(info);
		return -1;
	}
	return 0;
}

/*
 * After the exact ways of a body rule, each tried with every end
 * reported: the same ways with HS_FLAG_SINGLEMATCH (single), which
 * Hyperscan may take where it refused the others, the parts apart (they
 * need every end).  Then the relaxed pattern (or the pattern) as a
 * prefilter.
 */
static void
inexact_step(const struct sa_rule *rule, struct rule_info *info)
{
	unbound_drop(info);
	if (!info->single && rule->type == SA_RULE_BODY) {
		info->single = 1;
		info->unbound_tried0 = 0;
		if (info->relaxed != NULL) {
			info->relax_step = 0;
			info->anchored_on = info->anchored != NULL;
			return;
		}
		if (unbound_step(rule, info, 0) == 0)
			return;
	}
	info->relax_step = info->relaxed != NULL ? 1 : 2;
	info->anchored_on = info->relax_step == 1 && info->anchored != NULL;
}

/* After the relaxed pattern and the parts: step 8, else inexact_step(). */
static void
prefilter_step(const struct sa_rule *rule, struct rule_info *info)
{
	if (unbound_step(rule, info, info->unbound_tried0 ? 1 : 0) == 0)
		return;
	inexact_step(rule, info);
}

/* The next relax_step of a prefiltered rule: 0, or -1 when there is none. */
static int
next_relax_step(const struct sa_rule *rule, struct rule_info *info)
{
	switch (info->relax_step) {
	case 0:
		if (info->anchored_on) {
			/* The anchors kept, unbounded, before they are dropped. */
			info->anchored_on = 0;
			if (!info->unbound_tried0 && unbound_step(rule, info, 0) == 0)
				info->unbound_early = 1;
			return 0;
		}
		if (info->single || part_step(rule, info, 4) != 0)
			prefilter_step(rule, info);
		return 0;
	case 4:
	case 5:
	case 6:
		if (part_step(rule, info, info->relax_step + 1) != 0)
			prefilter_step(rule, info);
		return 0;
	case 8:
		if (info->unbound_early) {
			/* Back to the relaxed pattern. */
			info->unbound_early = 0;
			unbound_drop(info);
			info->relax_step = 0;
			return 0;
		}
		if (info->unbound_alt == 0 && unbound_step(rule, info, 1) == 0)
			return 0;
		inexact_step(rule, info);
		return 0;
	case 1:
		if (info->anchored_on) {
			info->anchored_on = 0;
			return 0;
		}
		info->relax_step = 2;
		return 0;
	default:
		break;
	}
	/* Too long for Hyperscan even as a prefilter: look-alike letters widened. */
	if (info->relax_step == 2 && !(rule->flags & SA_RE_EXTENDED) &&
	    (info->widened = rules_widen_pattern(info->relaxed != NULL ? info->relaxed :
	    rule->pattern)) != NULL) {
		info->relax_step = 3;
		return 0;
	}
	if (info->relax_step == 3 && info->pieces == NULL && split_widened(rule, info) == 0) {
		info->relax_step = 7;
		return 0;
	}
	return -1;
}

/* A rule Hyperscan refused: its next way in, or unsupported.  0 if there is one. */
static int
rule_next_way(const struct sa_rule *rule, struct rule_info *info)
{
	if (info->status == RULES_EXACT && info->re != NULL) {
		prefilter_start(rule, info);
		return 0;
	}
	if (info->status == RULES_PREFILTER) {
		/* The widened pattern refused without HS_FLAG_SINGLEMATCH: with it. */
		if ((info->relax_step == 3 || info->relax_step == 7) && relax_ends(rule, info)) {
			info->ends = 0;
			return 0;
		}
		return next_relax_step(rule, info);
	}
	return -1;
}

static pcre2_code *
pcre_compile_rule(const struct sa_rule *rule, int jit, uint32_t opts, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re;

	if (rule->flags & SA_RE_CASELESS)
		opts |= PCRE2_CASELESS;
	if (rule->flags & SA_RE_DOTALL)
		opts |= PCRE2_DOTALL;
	if (line_anchors(rule))
		opts |= PCRE2_MULTILINE;
	if (rule->flags & SA_RE_EXTENDED)
		opts |= PCRE2_EXTENDED;
	re = pcre2_compile((PCRE2_SPTR)rule->pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off,
	    NULL);
	if (re == NULL && code == PCRE2_ERROR_PATTERN_TOO_LARGE && !(rule->flags & SA_RE_EXTENDED)) {
		/* ReplaceTags' letter-by-letter tags, (?:<tags>){5}: each group once. */
		char *factored = rules_factor_pattern(rule->pattern, 32);
		int code2;

		if (factored != NULL) {
			re = pcre2_compile((PCRE2_SPTR)factored, PCRE2_ZERO_TERMINATED, opts, &code2,
			    &off, NULL);
			free(factored);
			if (re == NULL)
				off = 0;
		}
	}
	if (re == NULL) {
		char msg[256];

		pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
		snprintf(err, errlen, "PCRE2: %s at offset %zu", msg, (size_t)off);
		return NULL;
	}
	/* JIT is an optimisation: without it (no JIT on this CPU) matching still works. */
	if (jit)
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

static int
group_find(struct rules *r, enum sa_rule_type type, const char *header, unsigned int mods)
{
	unsigned int i;

	for (i = 0; i < r->group_count; i++) {
		struct rules_group *g = &r->groups[i];

		if (g->type == type && g->mods == mods &&
		    (type != SA_RULE_HEADER || strcmp(g->header, header) == 0))
			return (int)i;
	}
	return -1;
}

static int
group_get(struct rules *r, enum sa_rule_type type, const char *header, unsigned int mods)
{
	char lname[128];
	struct rules_group *g;
	int i;

	/* Header names are kept and looked up in lower case. */
	if (header != NULL) {
		str_copy(lname, header, sizeof(lname));
		header = str_lower(lname);
	}
	if ((i = group_find(r, type, header, mods)) >= 0)
		return i;
	r->groups = xrealloc(r->groups, (r->group_count + 1) * sizeof(*r->groups));
	g = &r->groups[r->group_count];
	memset(g, 0, sizeof(*g));
	g->type = type;
	g->mods = mods;
	g->header = header != NULL ? str_lower(xstrdup(header)) : NULL;
	return (int)r->group_count++;
}

static int
group_has(const struct rules_group *g, unsigned int rule)
{
	for (unsigned int i = 0; i < g->count; i++)
		if (g->ids[i] == rule)
			return 1;
	return 0;
}

static void
group_add(struct rules_group *g, unsigned int rule)
{
	g->ids = xrealloc(g->ids, (g->count + 1) * sizeof(*g->ids));
	g->ids[g->count++] = rule;
}

/* Compile each pattern of g alone; failures go to prefilter, then unsupported. */
static void
group_sweep(struct rules *r, struct rules_group *g, unsigned int mode)
{
	unsigned int i;

	for (i = 0; i < g->count; i++) {
		const struct sa_rule *rule = sa_rules_get(r->sa, g->ids[i]);
		struct rule_info *info = &r->info[g->ids[i]];
		char *pat;

		while (info->status == RULES_EXACT || info->status == RULES_PREFILTER) {
			hs_database_t *db = NULL;
			hs_compile_error_t *err = NULL;
			hs_error_t ret;

			/* Its pieces were each compiled alone (split_widened). */
			if (info->status == RULES_PREFILTER && info->relax_step == 7)
				break;
			pat = hs_pattern(rule, info);
			compiler_calls++;
			ret = hs_compile(pat, rule_hs_flags(rule, info), mode, NULL, &db, &err);
			free(pat);
			hs_free_database(db);
			if (ret == HS_SUCCESS) {
				hs_free_compile_error(err);
				break;
			}
			if (rule_next_way(rule, info) != 0) {
				char *why = xasprintf("Hyperscan: %s",
				    err != NULL ? err->message : "compile failed");

				set_status(info, RULES_UNSUPPORTED, why);
				free(why);
			}
			hs_free_compile_error(err);
		}
	}
}

/*
 * Compile one group; a pattern the whole-database compile rejects is
 * moved to prefilter (or to unsupported if it was there) and the rest
 * compiled again.
 */
static void
group_compile(struct rules *r, struct rules_group *g)
{
	unsigned int mode = type_mode(g->type);
	int swept = 0;

	for (;;) {
		const char **pats;
		unsigned int *flags, *ids;
		unsigned int i, n = 0, max = g->count + 1;
		hs_compile_error_t *err = NULL;
		hs_error_t ret;

		for (i = 0; i < g->count; i++)
			if (r->info[g->ids[i]].relax_step == 7)
				max += (unsigned int)r->info[g->ids[i]].npieces;
		pats = xcalloc(max, sizeof(*pats));
		flags = xcalloc(max, sizeof(*flags));
		ids = xcalloc(max, sizeof(*ids));
		for (i = 0; i < g->count; i++) {
			const struct sa_rule *rule = sa_rules_get(r->sa, g->ids[i]);
			struct rule_info *info = &r->info[g->ids[i]];

			if (info->status != RULES_EXACT && info->status != RULES_PREFILTER)
				continue;
			if (info->status == RULES_PREFILTER && info->relax_step == 7) {
				/* The pieces under the rule's one id: any of them is a candidate. */
				for (size_t j = 0; j < info->npieces; j++) {
					pats[n] = xstrdup(info->pieces[j]);
					flags[n] = rule_hs_flags(rule, info);
					ids[n] = i;
					n++;
				}
				continue;
			}
			pats[n] = hs_pattern(rule, info);
			flags[n] = rule_hs_flags(rule, info);
			ids[n] = i;
			n++;
		}
		if (n == 0) {
			free(pats);
			free(flags);
			free(ids);
			return;
		}
		compiler_calls++;
		ret = hs_compile_multi(pats, flags, ids, n, mode, NULL, &g->db, &err);
		if (ret == HS_SUCCESS) {
			for (i = 0; i < n; i++)
				free((char *)pats[i]);
			free(pats);
			free(flags);
			free(ids);
			return;
		}
		if (err != NULL && err->expression >= 0 && (unsigned int)err->expression < n &&
		    !swept && n > 1) {
			/*
			 * Each retry of a big database costs as much as the
			 * first try: find every pattern it would reject at once,
			 * compiling them one by one.
			 */
			swept = 1;
			group_sweep(r, g, mode);
		} else if (err != NULL && err->expression >= 0 && (unsigned int)err->expression < n) {
			unsigned int rule = g->ids[ids[err->expression]];
			struct rule_info *info = &r->info[rule];

			if (rule_next_way(sa_rules_get(r->sa, rule), info) != 0) {
				char *why = xasprintf("Hyperscan: %s", err->message);

				set_status(info, RULES_UNSUPPORTED, why);
				free(why);
			}
		} else {
			/* Not one pattern's fault: nothing of this group can be used. */
			char *why = xasprintf("Hyperscan (database): %s",
			    err != NULL ? err->message : "unknown error");

			for (i = 0; i < n; i++)
				set_status(&r->info[g->ids[ids[i]]], RULES_UNSUPPORTED, why);
			free(why);
		}
		hs_free_compile_error(err);
		for (i = 0; i < n; i++)
			free((char *)pats[i]);
		free(pats);
		free(flags);
		free(ids);
	}
}

/* Status of each rule by itself, before the databases are built. */
static void
classify(struct rules *r)
{
	unsigned int i;

	for (i = 0; i < r->count; i++) {
		const struct sa_rule *rule = sa_rules_get(r->sa, i);
		struct rule_info *info = &r->info[i];
		hs_expr_info_t *xi = NULL;
		hs_compile_error_t *err = NULL;
		char errbuf[600];
		char *pat;

		if (!rule->defined) {
			info->status = RULES_UNDEFINED;
			continue;
		}
		if (rule->eval != NULL) {
			info->status = RULES_EVAL;
			continue;
		}
		if (rule->type == SA_RULE_META) {
			info->status = RULES_META;
			continue;
		}
		if (rule->exists) {
			info->status = RULES_EXISTS;
			continue;
		}
		pat = hs_pattern(rule, info);
		compiler_calls++;
		if (hs_expression_info(pat, hs_flags(rule, 0), &xi, &err) == HS_SUCCESS) {
			info->status = RULES_EXACT;
		} else {
			hs_compile_error_t *err2 = NULL;

			snprintf(errbuf, sizeof(errbuf), "Hyperscan: %s", err->message);
			free(xi);
			xi = NULL;
			prefilter_start(rule, info);
			for (;;) {
				char *way = hs_pattern(rule, info);
				int ok;

				compiler_calls++;
				ok = hs_expression_info(way, rule_hs_flags(rule, info), &xi, &err2) ==
				    HS_SUCCESS;
				free(way);
				free(xi);
				xi = NULL;
				if (ok || rule_next_way(rule, info) != 0)
					break;
				hs_free_compile_error(err2);
				err2 = NULL;
			}
			if (err2 != NULL) {
				size_t len = strlen(errbuf);

				/* Both reasons: the exact one is what to rewrite. */
				if (strcmp(err2->message, err->message) != 0)
					snprintf(errbuf + len, sizeof(errbuf) - len, "; prefilter: %s",
					    err2->message);
				set_status(info, RULES_UNSUPPORTED, errbuf);
				ways_free(info);
			}
			hs_free_compile_error(err2);
		}
		hs_free_compile_error(err);
		free(xi);
		free(pat);
	}
}

/*
 * A "lines" rule found by the groups' compile: its part read backwards,
 * and its PCRE2 able to take an offset limit.  Either may fail: then
 * PCRE2 searches the whole of each line, as without them.
 */
static void
lines_prepare(const struct sa_rule *rule, struct rule_info *info)
{
	hs_compile_error_t *err = NULL;
	hs_expr_info_t *ei = NULL;
	pcre2_code *re;
	char errbuf[300], *rev;

	info->chain = 1;
	if (hs_expression_info(info->part, rule_hs_flags(rule, info), &ei, &err) == HS_SUCCESS) {
		if (ei->min_width > 0)
			info->chain = rules_repeat_min(info->relaxed != NULL ? info->relaxed :
			    rule->pattern, (rule->flags & SA_RE_EXTENDED) != 0);
		free(ei);
	} else {
		hs_free_compile_error(err);
		err = NULL;
	}
	if (info->chain < 1)
		info->chain = 1;

	/* Backwards, ^ and $ swap: only where they are at every line's ends. */
	if (line_anchors(rule) && (rev = rules_reverse_pattern(info->part)) != NULL) {
		compiler_calls++;
		if (hs_compile(rev, rule_hs_flags(rule, info), HS_MODE_BLOCK, NULL, &info->starts,
		    &err) != HS_SUCCESS) {
			hs_free_compile_error(err);
			info->starts = NULL;
		}
		free(rev);
	}
	re = pcre_compile_rule(rule, 1, PCRE2_USE_OFFSET_LIMIT, errbuf, sizeof(errbuf));
	if (re != NULL) {
		pcre2_code_free(info->re);
		info->re = re;
		info->offset_limit = 1;
	}
}

/* PCRE2 for every regex rule still in use; a prefilter needs it. */
static void
compile_pcre(struct rules *r)
{
	unsigned int i;

	for (i = 0; i < r->count; i++) {
		const struct sa_rule *rule = sa_rules_get(r->sa, i);
		struct rule_info *info = &r->info[i];
		char errbuf[300];

		if (info->status != RULES_EXACT && info->status != RULES_PREFILTER &&
		    info->status != RULES_PCRE)
			continue;
		/*
		 * JIT where PCRE2 runs on messages: confirmation, PCRE2-only
		 * rules, and the exact rules whose matches it counts (tflags
		 * multiple) or decides (nosubject).
		 */
		info->re = pcre_compile_rule(rule, info->status != RULES_EXACT ||
		    sa_rule_maxhits(rule) > 1 || (rule->type == SA_RULE_BODY &&
		    sa_rule_tflag(rule, "nosubject")), info->starts != NULL ? PCRE2_USE_OFFSET_LIMIT :
		    0, errbuf, sizeof(errbuf));
		info->offset_limit = info->starts != NULL && info->re != NULL;
		if (info->re == NULL && info->status == RULES_PREFILTER)
			set_status(info, RULES_UNSUPPORTED, errbuf);
	}
}

static void
build_groups(struct rules *r)
{
	unsigned int i;

	for (i = 0; i < SA_RULE_TYPE_COUNT; i++)
		r->stream_group[i] = -1;
	r->uri_group = -1;
	for (i = 0; i < r->count; i++) {
		const struct sa_rule *rule = sa_rules_get(r->sa, i);
		struct rule_info *info = &r->info[i];
		int g;

		info->group = -1;
		if (info->status != RULES_EXACT && info->status != RULES_PREFILTER)
			continue;
		g = group_get(r, rule->type, rule->header, rule->header_mods);
		group_add(&r->groups[g], i);
		info->group = g;
		if (rule->type == SA_RULE_URI)
			r->uri_group = g;
		else if (rule->type != SA_RULE_HEADER)
			r->stream_group[rule->type] = g;
	}
}

/*
 * Regex rules Hyperscan takes neither exactly nor as a prefilter (too
 * long, embedded anchors ...): PCRE2 alone matches them, on the value, the
 * URL or the kept body, in their group.  Only rules that failed in
 * Hyperscan; the reason stays for rules check.
 */
static void
pcre_only(struct rules *r)
{
	unsigned int i;

	for (i = 0; i < r->count; i++) {
		const struct sa_rule *rule = sa_rules_get(r->sa, i);
		struct rule_info *info = &r->info[i];
		char errbuf[300];
		pcre2_code *re;
		int g;

		if (info->status != RULES_UNSUPPORTED || rule->pattern == NULL || rule->eval != NULL ||
		    rule->exists || info->reason == NULL || strncmp(info->reason, "Hyperscan", 9) != 0)
			continue;
		if (rule->type != SA_RULE_HEADER && rule->type != SA_RULE_URI &&
		    rule->type != SA_RULE_BODY && rule->type != SA_RULE_RAWBODY &&
		    rule->type != SA_RULE_FULL)
			continue;
		if ((re = pcre_compile_rule(rule, 1, 0, errbuf, sizeof(errbuf))) == NULL)
			continue;
		pcre2_code_free(info->re);
		info->re = re;
		info->status = RULES_PCRE;
		g = group_get(r, rule->type, rule->header, rule->header_mods);
		/* Hyperscan refused it there: it is in the group already, once. */
		if (!group_has(&r->groups[g], i))
			group_add(&r->groups[g], i);
		info->group = g;
		if (rule->type == SA_RULE_URI)
			r->uri_group = g;
		else if (rule->type != SA_RULE_HEADER)
			r->stream_group[rule->type] = g;
	}
}

/* ---- cache ---- */

static void
cache_key(const struct rules *r, unsigned char key_r[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	hs_platform_info_t plat;
	unsigned char digest[32];
	unsigned int n = 32;
	const char *v = hs_version();

	memset(&plat, 0, sizeof(plat));
	(void)hs_populate_platform(&plat);
	sa_rules_digest(r->sa, digest);
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort();
	EVP_DigestUpdate(ctx, RULES_CACHE_FORMAT, sizeof(RULES_CACHE_FORMAT));
	EVP_DigestUpdate(ctx, v, strlen(v) + 1);
	EVP_DigestUpdate(ctx, &plat.tune, sizeof(plat.tune));
	EVP_DigestUpdate(ctx, &plat.cpu_features, sizeof(plat.cpu_features));
	EVP_DigestUpdate(ctx, digest, sizeof(digest));
	EVP_DigestFinal_ex(ctx, key_r, &n);
	EVP_MD_CTX_free(ctx);
}

static char *
cache_path(const char *dir, const unsigned char key[32])
{
	char hex[65];
	unsigned int i;

	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	return xasprintf("%s/rules-%s.hsdb", dir, hex);
}

static void
put_u32(struct strbuf *b, uint32_t v)
{
	strbuf_append(b, &v, sizeof(v));
}

static void
put_str(struct strbuf *b, const char *s)
{
	uint32_t n = s != NULL ? (uint32_t)strlen(s) + 1 : 0;

	put_u32(b, n);
	if (n > 0)
		strbuf_append(b, s, n);
}

/* A database (NULL: none) as its length and bytes: 0, or -1 if it cannot be serialized. */
static int
put_db(struct strbuf *b, const hs_database_t *db)
{
	char *bytes = NULL;
	size_t len = 0;

	if (db != NULL && hs_serialize_database(db, &bytes, &len) != HS_SUCCESS) {
		log_warnx("rules: cannot serialize a database: cache not written");
		return -1;
	}
	put_u32(b, (uint32_t)len);
	if (len > 0)
		strbuf_append(b, bytes, len);
	free(bytes);
	return 0;
}

static void
cache_write(const struct rules *r, const char *dir, const unsigned char key[32])
{
	struct strbuf b;
	char *path, *tmp;
	unsigned int i, j;
	FILE *f;

	memset(&b, 0, sizeof(b));
	strbuf_append(&b, RULES_CACHE_FORMAT, sizeof(RULES_CACHE_FORMAT));
	strbuf_append(&b, key, 32);
	put_u32(&b, r->count);
	for (i = 0; i < r->count; i++) {
		put_u32(&b, r->info[i].status);
		put_u32(&b, (uint32_t)r->info[i].lines);
		put_str(&b, r->info[i].reason);
	}
	put_u32(&b, r->group_count);
	for (i = 0; i < r->group_count; i++) {
		const struct rules_group *g = &r->groups[i];

		put_u32(&b, g->type);
		put_u32(&b, g->mods);
		put_str(&b, g->header);
		put_u32(&b, g->count);
		for (j = 0; j < g->count; j++)
			put_u32(&b, g->ids[j]);
		if (put_db(&b, g->db) < 0) {
			strbuf_free(&b);
			return;
		}
	}
	/* The lines rules' chains and parts read backwards, by rule (0 bytes: none). */
	for (i = 0; i < r->count; i++) {
		if (!r->info[i].lines)
			continue;
		put_u32(&b, r->info[i].chain);
		if (put_db(&b, r->info[i].starts) < 0) {
			strbuf_free(&b);
			return;
		}
	}
	path = cache_path(dir, key);
	tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
	f = fopen(tmp, "w");
	if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		log_warn("rules: cannot write the cache %s", tmp);
		if (f != NULL)
			fclose(f);
		unlink(tmp);
	} else {
		fclose(f);
		if (rename(tmp, path) < 0) {
			log_warn("rules: cannot rename %s", tmp);
			unlink(tmp);
		}
	}
	free(tmp);
	free(path);
	strbuf_free(&b);
}

struct reader {
	const unsigned char *p, *end;
	int bad;
};

static uint32_t
get_u32(struct reader *rd)
{
	uint32_t v = 0;

	if (rd->bad || (size_t)(rd->end - rd->p) < sizeof(v)) {
		rd->bad = 1;
		return 0;
	}
	memcpy(&v, rd->p, sizeof(v));
	rd->p += sizeof(v);
	return v;
}

static const void *
get_bytes(struct reader *rd, size_t n)
{
	const void *v = rd->p;

	if (rd->bad || (size_t)(rd->end - rd->p) < n) {
		rd->bad = 1;
		return NULL;
	}
	rd->p += n;
	return v;
}

static char *
get_str(struct reader *rd)
{
	uint32_t n = get_u32(rd);
	const char *s;

	if (n == 0)
		return NULL;
	s = get_bytes(rd, n);
	if (s == NULL || s[n - 1] != '\0') {
		rd->bad = 1;
		return NULL;
	}
	return xstrdup(s);
}

/* 0 if the cache had this rule set; anything odd is a miss. */
static int
cache_read(struct rules *r, const char *dir, const unsigned char key[32])
{
	char *path = cache_path(dir, key);
	struct strbuf b;
	struct reader rd;
	char buf[65536];
	unsigned int i, j, n;
	size_t got;
	FILE *f;

	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return -1;
	memset(&b, 0, sizeof(b));
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(&b, buf, got);
	fclose(f);
	rd.p = (const unsigned char *)b.data;
	rd.end = rd.p + b.len;
	rd.bad = b.data == NULL;
	{
		const void *fmt = get_bytes(&rd, sizeof(RULES_CACHE_FORMAT));
		const void *k = get_bytes(&rd, 32);

		if (rd.bad || memcmp(fmt, RULES_CACHE_FORMAT, sizeof(RULES_CACHE_FORMAT)) != 0 ||
		    memcmp(k, key, 32) != 0 || get_u32(&rd) != r->count) {
			strbuf_free(&b);
			return -1;
		}
	}
	for (i = 0; i < r->count && !rd.bad; i++) {
		r->info[i].status = get_u32(&rd);
		r->info[i].lines = get_u32(&rd) != 0;
		r->info[i].reason = get_str(&rd);
		r->info[i].group = -1;
		if (r->info[i].status > RULES_META)
			rd.bad = 1;
	}
	n = get_u32(&rd);
	if (n > r->count)
		rd.bad = 1;
	for (i = 0; i < n && !rd.bad; i++) {
		struct rules_group *g;
		uint32_t len;
		const void *bytes;

		r->groups = xrealloc(r->groups, (r->group_count + 1) * sizeof(*r->groups));
		g = &r->groups[r->group_count++];
		memset(g, 0, sizeof(*g));
		g->type = get_u32(&rd);
		g->mods = get_u32(&rd);
		g->header = get_str(&rd);
		g->count = get_u32(&rd);
		if (g->type >= SA_RULE_META || g->count > r->count ||
		    (g->type == SA_RULE_HEADER) != (g->header != NULL)) {
			rd.bad = 1;
			g->count = 0;
			break;
		}
		g->ids = xcalloc(g->count + 1, sizeof(*g->ids));
		for (j = 0; j < g->count; j++) {
			g->ids[j] = get_u32(&rd);
			if (g->ids[j] >= r->count)
				rd.bad = 1;
			else
				r->info[g->ids[j]].group = (int)i;
		}
		len = get_u32(&rd);
		bytes = get_bytes(&rd, len);
		if (!rd.bad && len > 0 && hs_deserialize_database(bytes, len, &g->db) != HS_SUCCESS)
			rd.bad = 1;
	}
	for (i = 0; i < r->count && !rd.bad; i++) {
		uint32_t len;
		const void *bytes;

		if (!r->info[i].lines)
			continue;
		r->info[i].chain = get_u32(&rd);
		len = get_u32(&rd);
		bytes = get_bytes(&rd, len);
		if (!rd.bad && len > 0 &&
		    hs_deserialize_database(bytes, len, &r->info[i].starts) != HS_SUCCESS)
			rd.bad = 1;
	}
	if (rd.p != rd.end)
		rd.bad = 1;
	strbuf_free(&b);
	if (rd.bad)
		return -1;
	for (i = 0; i < r->group_count; i++) {
		struct rules_group *g = &r->groups[i];

		if (g->type == SA_RULE_URI)
			r->uri_group = (int)i;
		else if (g->type != SA_RULE_HEADER)
			r->stream_group[g->type] = (int)i;
	}
	return 0;
}

static void
groups_free(struct rules *r)
{
	unsigned int i;

	for (i = 0; i < r->group_count; i++) {
		hs_free_database(r->groups[i].db);
		free(r->groups[i].header);
		free(r->groups[i].ids);
		free(r->groups[i].multi);
	}
	free(r->groups);
	r->groups = NULL;
	r->group_count = 0;
}

static uint32_t
name_hash(const char *lname)
{
	uint32_t h = 2166136261u;

	for (; *lname != '\0'; lname++)
		h = (h ^ (unsigned char)*lname) * 16777619u;
	return h;
}

/* A header group's slot: its name's hash, with the modifiers mixed in. */
static uint32_t
header_slot(uint32_t name_h, unsigned int mods)
{
	return name_h ^ (mods * 0x9e3779b1u);
}

static int header_group(const struct rules *r, const char *lname, uint32_t name_h,
    unsigned int mods);

/*
 * Header groups are looked up for every field of every message: an index
 * instead of a walk over the hundreds of groups.  Built once the groups
 * are final, compiled or read from the cache.
 */
/* An open-addressing table for n entries (0: empty slot); its mask in *mask_r. */
static unsigned int *
index_new(unsigned int n, unsigned int *mask_r)
{
	unsigned int size = 16;

	while (size < 2 * n + 2)
		size *= 2;
	*mask_r = size - 1;
	return xcalloc(size, sizeof(unsigned int));
}

/* value (not 0) at the first free slot from hash h on. */
static void
index_put(unsigned int *index, unsigned int mask, uint32_t h, unsigned int value)
{
	for (h &= mask; index[h] != 0; h = (h + 1) & mask)
		;
	index[h] = value;
}

static void
index_header_groups(struct rules *r)
{
	unsigned int i;

	r->header_index = index_new(r->group_count, &r->header_index_mask);
	for (i = 0; i < r->group_count; i++) {
		const struct rules_group *g = &r->groups[i];

		if (g->type == SA_RULE_HEADER) {
			r->groups[i].hash = name_hash(g->header);
			index_put(r->header_index, r->header_index_mask,
			    header_slot(g->hash, g->mods), i + 1);
		}
	}
	r->all_group[0] = header_group(r, "all", name_hash("all"), 0);
	r->all_group[1] = header_group(r, "all", name_hash("all"), SA_HDR_RAW);
	r->tocc_group[0] = header_group(r, "tocc", name_hash("tocc"), 0);
	r->tocc_group[1] = header_group(r, "tocc", name_hash("tocc"), SA_HDR_RAW);
	r->exists_rules = xcalloc(r->count + 1, sizeof(*r->exists_rules));
	for (i = 0; i < r->count; i++)
		if (r->info[i].status == RULES_EXISTS)
			r->exists_rules[r->exists_count++] = i;
	r->exists_index = index_new(r->exists_count, &r->exists_index_mask);
	r->exists_names = xcalloc(r->exists_count + 1, sizeof(*r->exists_names));
	r->exists_hash = xcalloc(r->exists_count + 1, sizeof(*r->exists_hash));
	for (i = 0; i < r->exists_count; i++) {
		r->exists_names[i] = xstrdup(sa_rules_get(r->sa, r->exists_rules[i])->header);
		str_lower(r->exists_names[i]);
		r->exists_hash[i] = name_hash(r->exists_names[i]);
		index_put(r->exists_index, r->exists_index_mask, r->exists_hash[i], i + 1);
	}
}

/* ---- meta ---- */

static int
meta_resolve(void *context, const char *name)
{
	struct rules *r = context;
	int i = sa_rules_find(r->sa, name);

	if (i < 0 || !sa_rules_get(r->sa, (unsigned int)i)->defined)
		return -1;
	return i;
}

/* Depth-first: dependencies before the meta; a cycle makes it unsupported. */
static void
meta_visit(struct rules *r, unsigned int i, unsigned char *mark)
{
	struct rule_info *info = &r->info[i];
	const int *deps;
	unsigned int n, j;

	if (mark[i] == 2 || info->meta == NULL)
		return;
	if (mark[i] == 1) {
		set_status(info, RULES_UNSUPPORTED, "meta: dependency cycle");
		return;
	}
	mark[i] = 1;
	n = rules_meta_deps(info->meta, &deps);
	for (j = 0; j < n; j++)
		meta_visit(r, (unsigned int)deps[j], mark);
	mark[i] = 2;
	if (info->status == RULES_META)
		r->meta_order[r->meta_count++] = i;
}

/* The rules whose hits mark a meta to evaluate: its guards, else all it reads. */
static unsigned int
meta_hit_deps(const struct rules_meta *meta, const int **deps_r)
{
	int n = rules_meta_guards(meta, deps_r);

	return n >= 0 ? (unsigned int)n : rules_meta_deps(meta, deps_r);
}

/*
 * By rule, the metas (places in meta_order) that deps gives it for:
 * (*readers_r)[(*at_r)[rule] .. (*at_r)[rule + 1]).
 */
static void
reader_lists(const struct rules *r,
    unsigned int (*deps_of)(const struct rules_meta *meta, const int **deps_r),
    unsigned int **at_r, unsigned int **readers_r)
{
	unsigned int i, j, n, total = 0, *fill, *at, *readers;
	const int *deps;

	at = xcalloc(r->count + 2, sizeof(*at));
	for (i = 0; i < r->meta_count; i++) {
		n = deps_of(r->info[r->meta_order[i]].meta, &deps);
		for (j = 0; j < n; j++)
			at[deps[j] + 1]++;
		total += n;
	}
	for (i = 0; i < r->count; i++)
		at[i + 1] += at[i];
	readers = xcalloc(total + 1, sizeof(*readers));
	fill = xcalloc(r->count + 1, sizeof(*fill));
	for (i = 0; i < r->meta_count; i++) {
		n = deps_of(r->info[r->meta_order[i]].meta, &deps);
		for (j = 0; j < n; j++) {
			unsigned int d = (unsigned int)deps[j];

			readers[at[d] + fill[d]++] = i;
		}
	}
	free(fill);
	*at_r = at;
	*readers_r = readers;
}

/*
 * For each rule, the metas that read it and those its hit marks; for each
 * meta, whether it hits when none of them hit.  rules_match_finish
 * evaluates only the metas marked.
 */
static void
meta_readers(struct rules *r)
{
	const struct rules_meta **metas;
	unsigned int i;

	r->meta_zero = xcalloc(r->meta_count / 64 + 1, sizeof(*r->meta_zero));
	for (i = 0; i < r->meta_count; i++)
		if (rules_meta_at_zero(r->info[r->meta_order[i]].meta) != 0)
			r->meta_zero[i / 64] |= (uint64_t)1 << (i % 64);
	reader_lists(r, rules_meta_deps, &r->reader_at, &r->readers);
	/* The readers a hit marks: the metas' guards when they have some. */
	reader_lists(r, meta_hit_deps, &r->hit_reader_at, &r->hit_readers);
	metas = xcalloc(r->meta_count + 1, sizeof(*metas));
	r->meta_at = xcalloc(r->count + 1, sizeof(*r->meta_at));
	for (i = 0; i < r->meta_count; i++) {
		metas[i] = r->info[r->meta_order[i]].meta;
		r->meta_at[r->meta_order[i]] = i;
	}
	r->meta_pack = rules_meta_pack(metas, r->meta_count);
	free(metas);
}

static void
compile_metas(struct rules *r)
{
	unsigned char *mark = xcalloc(r->count + 1, 1);
	unsigned int i;

	r->meta_order = xcalloc(r->count + 1, sizeof(*r->meta_order));
	for (i = 0; i < r->count; i++) {
		const struct sa_rule *rule = sa_rules_get(r->sa, i);
		const char *error = NULL;
		char *why;

		if (r->info[i].status != RULES_META)
			continue;
		r->info[i].meta = rules_meta_compile(rule->meta, meta_resolve, r, &error);
		if (r->info[i].meta == NULL) {
			why = xasprintf("meta: %s", error);
			set_status(&r->info[i], RULES_UNSUPPORTED, why);
			free(why);
		}
	}
	for (i = 0; i < r->count; i++)
		meta_visit(r, i, mark);
	free(mark);
	meta_readers(r);
}

/*
 * What a header rule says of an absent header depends on the rule alone:
 * decided once here instead of one PCRE2 match per rule of every absent
 * header of every message (most of the 685 header groups are absent).
 */
static void
unset_matches(struct rules *r)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	unsigned int i, j;

	if (md == NULL)
		panic("rules: out of memory");
	for (i = 0; i < r->group_count; i++) {
		struct rules_group *g = &r->groups[i];

		if (g->type != SA_RULE_HEADER)
			continue;
		for (j = 0; j < g->count; j++) {
			struct rule_info *info = &r->info[g->ids[j]];
			const struct sa_rule *rule = sa_rules_get(r->sa, g->ids[j]);
			const char *v = rule->if_unset != NULL ? rule->if_unset : "";

			info->unset_match = info->re != NULL && (info->status == RULES_EXACT ||
			    info->status == RULES_PREFILTER || info->status == RULES_PCRE) &&
			    pcre2_match(info->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL) >= 0;
			if (info->unset_match)
				g->has_unset = 1;
			info->negate = rule->negate;
			if (rule->negate)
				g->has_negate = 1;
		}
	}
	pcre2_match_data_free(md);
}

/*
 * Whether a hit of the rule is shown (the pipeline's verdict lists the
 * rules hit but sub-rules and those that score nothing).
 */
static int
rule_reported(const struct sa_rule *rule)
{
	if (strncmp(rule->name, "__", 2) == 0)
		return 0;
	for (unsigned int set = 0; set < 4; set++) {
		if (sa_rule_score(rule, set) != 0)
			return 1;
	}
	return 0;
}

/* rules.hot, and each group's rules with tflags multiple, from rule_info. */
static void
hot_flags(struct rules *r)
{
	r->hot = xcalloc(r->count + 1, sizeof(*r->hot));
	for (unsigned int i = 0; i < r->count; i++) {
		const struct rule_info *info = &r->info[i];
		uint16_t f = 0;

		f |= info->status == RULES_PREFILTER ? HOT_PREFILTER : 0;
		f |= info->status == RULES_PCRE ? HOT_PCRE : 0;
		f |= info->hs_count ? HOT_HS_COUNT : 0;
		f |= info->lines ? HOT_LINES : 0;
		f |= info->lazy ? HOT_LAZY : 0;
		f |= info->negate ? HOT_NEGATE : 0;
		f |= info->nosubject ? HOT_NOSUBJECT : 0;
		f |= info->unset_match ? HOT_UNSET : 0;
		f |= info->maxhits > 1 ? HOT_MULTIPLE : 0;
		r->hot[i] = f;
	}
	for (unsigned int i = 0; i < r->group_count; i++) {
		struct rules_group *g = &r->groups[i];

		for (unsigned int j = 0; j < g->count; j++) {
			if (!(r->hot[g->ids[j]] & HOT_MULTIPLE))
				continue;
			g->multi = xrealloc(g->multi, (g->multi_count + 1) * sizeof(*g->multi));
			g->multi[g->multi_count++] = g->ids[j];
		}
	}
}

int
rules_compile(struct sa_rules *sa, const struct rules_options *options,
    struct rules **rules_r, const char **error_r)
{
	struct rules *r = xcalloc(1, sizeof(*r));
	unsigned char key[32];
	double start = now();
	unsigned int i;
	int hit = 0;

	sa_rules_finish(sa);
	r->sa = sa;
	r->count = sa_rules_count(sa);
	r->info = xcalloc(r->count + 1, sizeof(*r->info));
	for (i = 0; i < SA_RULE_TYPE_COUNT; i++)
		r->stream_group[i] = -1;
	r->uri_group = -1;
	if (options != NULL && options->cache_dir != NULL) {
		cache_key(r, key);
		if (cache_read(r, options->cache_dir, key) == 0) {
			hit = 1;
		} else {
			groups_free(r);
			for (i = 0; i < r->count; i++) {
				free(r->info[i].reason);
				r->info[i].reason = NULL;
				hs_free_database(r->info[i].starts);
				r->info[i].starts = NULL;
				r->info[i].lines = 0;
			}
			for (i = 0; i < SA_RULE_TYPE_COUNT; i++)
				r->stream_group[i] = -1;
			r->uri_group = -1;
		}
	}
	if (!hit) {
		classify(r);
		/* PCRE2 first: a prefilter without it cannot be confirmed. */
		compile_pcre(r);
		build_groups(r);
		for (i = 0; i < r->group_count; i++)
			group_compile(r, &r->groups[i]);
		/* The compile may have moved rules to prefilter: they need JIT'd PCRE2. */
		for (i = 0; i < r->count; i++) {
			if (r->info[i].status == RULES_PREFILTER && r->info[i].re != NULL)
				(void)pcre2_jit_compile(r->info[i].re, PCRE2_JIT_COMPLETE);
		}
		pcre_only(r);
		for (i = 0; i < r->count; i++) {
			r->info[i].lines = r->info[i].status == RULES_PREFILTER &&
			    r->info[i].relax_step >= 4 && r->info[i].relax_step <= 6;
			if (relax_ends(sa_rules_get(sa, i), &r->info[i])) {
				r->info[i].lines = 1;
				r->info[i].chain = 1;
				set_status(&r->info[i], RULES_PREFILTER, r->info[i].relax_step == 7 ?
				    NULL : r->info[i].relax_step == 8 ? "its ranges unbounded, confirmed "
				    "on the lines where that matches" : "confirmed on the lines where "
				    "its loosened pattern matches");
			} else if (r->info[i].status == RULES_PREFILTER && r->info[i].relax_step == 8) {
				set_status(&r->info[i], RULES_PREFILTER, "its ranges unbounded");
			} else if (r->info[i].lines) {
				lines_prepare(sa_rules_get(sa, i), &r->info[i]);
				set_status(&r->info[i], RULES_PREFILTER, r->info[i].starts != NULL &&
				    r->info[i].offset_limit ? "confirmed on the lines where its "
				    "repeated group matches, from where the group's matches start" :
				    "confirmed on the lines where its repeated group matches");
			}
			if (r->info[i].status == RULES_PREFILTER && r->info[i].relax_step == 7) {
				char *why = xasprintf(r->info[i].lines ? "widened, in %zu pieces, "
				    "confirmed on the lines where they match" : "widened, in %zu pieces",
				    r->info[i].npieces);

				set_status(&r->info[i], RULES_PREFILTER, why);
				free(why);
			}
			ways_free(&r->info[i]);
		}
	} else {
		compile_pcre(r);
	}
	for (i = 0; i < r->group_count; i++) {
		struct rules_group *g = &r->groups[i];

		for (unsigned int j = 0; j < g->count; j++) {
			if (r->info[g->ids[j]].status == RULES_PREFILTER)
				g->has_prefilter = 1;
			else if (r->info[g->ids[j]].status == RULES_PCRE)
				g->has_pcre = 1;
		}
		if (g->db != NULL)
			r->stats.databases++;
	}
	for (i = 0; i < r->count; i++) {
		r->info[i].maxhits = sa_rule_maxhits(sa_rules_get(sa, i));
		if (r->info[i].maxhits > 1 && r->info[i].group >= 0)
			r->groups[r->info[i].group].has_multiple = 1;
		r->info[i].nosubject = sa_rules_get(sa, i)->type == SA_RULE_BODY &&
		    sa_rule_tflag(sa_rules_get(sa, i), "nosubject");
		r->info[i].hs_count = r->info[i].status == RULES_EXACT &&
		    hs_counted(sa_rules_get(sa, i));
		if (r->info[i].nosubject && r->info[i].group >= 0)
			r->groups[r->info[i].group].has_nosubject = 1;
		r->info[i].lazy = !rule_reported(sa_rules_get(sa, i));
	}
	if (!hit && options != NULL && options->cache_dir != NULL)
		cache_write(r, options->cache_dir, key);
	unset_matches(r);
	compile_metas(r);
	index_header_groups(r);
	hot_flags(r);
	for (i = 0; i < r->count; i++) {
		const struct sa_rule *rule = sa_rules_get(sa, i);

		if (!rule->defined)
			continue;
		r->stats.loaded[rule->type]++;
		if (r->info[i].status == RULES_EVAL)
			r->stats.eval++;
		else if (r->info[i].status == RULES_PREFILTER)
			r->stats.prefiltered++;
		else if (r->info[i].status == RULES_UNSUPPORTED)
			r->stats.unsupported++;
		else if (r->info[i].status == RULES_PCRE)
			r->stats.pcre_only++;
	}
	r->stats.cache_hit = hit;
	r->stats.seconds = now() - start;
	(void)error_r;
	*rules_r = r;
	return 0;
}

void
rules_free(struct rules **rules)
{
	struct rules *r = *rules;
	unsigned int i;

	if (r == NULL)
		return;
	*rules = NULL;
	for (i = 0; i < r->count; i++) {
		free(r->info[i].reason);
		pcre2_code_free(r->info[i].re);
		hs_free_database(r->info[i].starts);
		rules_meta_free(&r->info[i].meta);
	}
	free(r->info);
	free(r->hot);
	groups_free(r);
	free(r->meta_order);
	free(r->meta_zero);
	free(r->reader_at);
	free(r->readers);
	free(r->hit_reader_at);
	free(r->hit_readers);
	rules_meta_pack_free(&r->meta_pack);
	free(r->meta_at);
	free(r->header_index);
	free(r->exists_rules);
	for (unsigned int k = 0; k < r->exists_count; k++)
		free(r->exists_names[k]);
	free(r->exists_names);
	free(r->exists_hash);
	free(r->exists_index);
	free(r);
}

const struct sa_rules *
rules_sa(const struct rules *r)
{
	return r->sa;
}

void
rules_get_stats(const struct rules *r, struct rules_stats *stats_r)
{
	*stats_r = r->stats;
}

enum rules_status
rules_status(const struct rules *r, unsigned int rule, const char **reason_r)
{
	if (rule >= r->count) {
		if (reason_r != NULL)
			*reason_r = NULL;
		return RULES_UNDEFINED;
	}
	if (reason_r != NULL)
		*reason_r = r->info[rule].reason;
	return r->info[rule].status;
}

/* ---- scratch ---- */

struct rules_scratch *
rules_scratch_new(const struct rules *r)
{
	struct rules_scratch *s = xcalloc(1, sizeof(*s));
	unsigned int i;

	for (i = 0; i < r->group_count; i++) {
		if (r->groups[i].db != NULL && hs_alloc_scratch(r->groups[i].db, &s->hs) != HS_SUCCESS)
			panic("rules: hs_alloc_scratch failed");
	}
	for (i = 0; i < r->count; i++) {
		if (r->info[i].starts != NULL && hs_alloc_scratch(r->info[i].starts, &s->hs) != HS_SUCCESS)
			panic("rules: hs_alloc_scratch failed");
	}
	return s;
}

struct rules_scratch *
rules_scratch_clone(const struct rules_scratch *src)
{
	struct rules_scratch *s = xcalloc(1, sizeof(*s));

	if (src->hs != NULL && hs_clone_scratch(src->hs, &s->hs) != HS_SUCCESS)
		panic("rules: hs_clone_scratch failed");
	return s;
}

void
rules_scratch_free(struct rules_scratch **scratch)
{
	struct rules_scratch *s = *scratch;

	if (s == NULL)
		return;
	*scratch = NULL;
	hs_free_scratch(s->hs);
	free(s);
}

/* ---- matching ---- */

void
rules_match_set_scratch(struct rules_match *m, struct rules_scratch *scratch)
{
	m->scratch = scratch;
}

struct rules_match *
rules_match_new(const struct rules *r, struct rules_scratch *scratch)
{
	struct rules_match *m = xcalloc(1, sizeof(*m));

	m->rules = r;
	m->scratch = scratch;
	m->state = xcalloc(r->count + 1, 1);
	m->hits = xcalloc(r->count + 1, sizeof(*m->hits));
	m->deferred = xcalloc(r->count + 1, sizeof(*m->deferred));
	m->val = xcalloc(r->count + 1, sizeof(*m->val));
	m->vlo = xcalloc(r->count + 1, sizeof(*m->vlo));
	m->vhi = xcalloc(r->count + 1, sizeof(*m->vhi));
	m->mstate = xcalloc(r->meta_count + 8, 1);
	m->mact = xcalloc(r->meta_count / 64 + 1, sizeof(*m->mact));
	m->counts = xcalloc(r->count + 1, sizeof(*m->counts));
	m->values = xcalloc(r->group_count + 1, sizeof(*m->values));
	m->seen = xcalloc(r->group_count + 1, 1);
	m->md = pcre2_match_data_create(1, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	if (m->md == NULL || m->mctx == NULL)
		panic("rules: out of memory");
	return m;
}

void
rules_match_set_profile(struct rules_match *m, struct rules_profile *profile)
{
	m->prof = profile;
}

/* The clock, when the confirmations are profiled. */
static double
prof_start(const struct rules_match *m)
{
	return m->prof != NULL ? now() : 0;
}

static void
prof_stop(struct rules_match *m, unsigned int rule, double t0)
{
	if (m->prof != NULL) {
		m->prof[rule].seconds += now() - t0;
		m->prof[rule].calls++;
	}
}

static void
set_hit(struct rules_match *m, unsigned int rule)
{
	if (m->state[rule] & ST_HIT)
		return;
	m->state[rule] |= ST_HIT;
	m->hits[m->hit_count++] = rule;
}

/* A lazy rule left undecided for now (rule_info.lazy). */
static void
defer(struct rules_match *m, unsigned int rule)
{
	unsigned int hot = m->rules->hot[rule];

	if (m->state[rule] & ST_DEFERRED)
		return;
	m->state[rule] |= ST_DEFERRED;
	m->deferred[m->deferred_count++] = rule;
	m->vlo[rule] = 0;
	m->vhi[rule] = (hot & HOT_NEGATE) || !(hot & HOT_MULTIPLE) ? 1 :
	    (float)m->rules->info[rule].maxhits;
}

void
rules_match_set_hit(struct rules_match *m, unsigned int rule)
{
	if (rule < m->rules->count)
		set_hit(m, rule);
}

/* pcre2_match, and the interpreter where JIT's bounded stack was not enough. */
static int
re_match_ctx(const pcre2_code *re, const char *data, size_t len, size_t at, uint32_t opts,
    pcre2_match_data *md, pcre2_match_context *ctx)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)data, len, at, opts, md, ctx);

	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR)data, len, at, opts | PCRE2_NO_JIT, md, ctx);
	return rc;
}

static int
re_match(const pcre2_code *re, const char *data, size_t len, size_t at, uint32_t opts,
    pcre2_match_data *md)
{
	return re_match_ctx(re, data, len, at, opts, md, NULL);
}

static int
pcre_match(struct rules_match *m, unsigned int rule, const char *data, size_t len)
{
	const struct rule_info *info = &m->rules->info[rule];
	const pcre2_code *re = info->re;

	if (re == NULL || (info->status != RULES_EXACT && info->status != RULES_PREFILTER &&
	    info->status != RULES_PCRE))
		return 0;
	return re_match(re, data, len, 0, 0, m->md) >= 0;
}

/*
 * SpamAssassin matches body rules on each line of the body text, so no
 * match spans a line end.  The whole text is searched first; from the
 * line where its match starts, line by line (a match that fits its line,
 * the usual case, costs one more call).
 */
static int
pcre_match_lines(struct rules_match *m, unsigned int rule, const char *data, size_t len)
{
	const char *line, *end = data + len;

	if (!pcre_match(m, rule, data, len))
		return 0;
	line = data + pcre2_get_ovector_pointer(m->md)[0];
	while (line > data && line[-1] != '\n')
		line--;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *next = nl != NULL ? nl + 1 : end;

		if (pcre_match(m, rule, line, (size_t)(next - line)))
			return 1;
		line = next;
	}
	return 0;
}

static int
on_start(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
    void *context)
{
	struct rules_match *m = context;

	(void)id;
	(void)from;
	(void)flags;
	if (m->nstarts == RULES_PART_STARTS) {
		m->starts_full = 1;
		return 1;
	}
	m->starts[m->nstarts++] = (size_t)to;
	return 0;
}

static int
size_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * PCRE2 on one line (len bytes) of a lines rule, whose matches start at
 * upto at the latest.  Every match of the rule starts with a match of X
 * (the repeated group), and the part matches whatever X matches and more
 * (it is X, or X with wider ranges, or what X's matches start with): so
 * a match of the rule starts where one of the part does.  Hyperscan
 * finds those starts, scanning the line reversed with the part reversed,
 * and PCRE2 tries only them, a run of consecutive starts at a time, its
 * look-behinds still seeing the whole line.  Beyond RULES_PART_STARTS
 * starts, the whole line is searched.
 */
static int
pcre_match_part_line(struct rules_match *m, unsigned int rule, const char *line, size_t len,
    size_t upto)
{
	const struct rule_info *info = &m->rules->info[rule];
	size_t i, from, to, n;

	if (info->starts == NULL || !info->offset_limit || len == 0)
		return pcre_match(m, rule, line, len);
	/* The bytes before upto, and the one at upto for \b there. */
	n = upto < len ? upto + 1 : len;
	if (m->rev_size < n) {
		free(m->rev);
		m->rev_size = n;
		m->rev = xmalloc(n);
	}
	for (i = 0; i < n; i++)
		m->rev[i] = line[n - 1 - i];
	m->nstarts = 0;
	m->starts_full = 0;
	if (hs_scan(info->starts, m->rev, (unsigned int)n, 0, m->scratch->hs, on_start, m) !=
	    HS_SUCCESS || m->starts_full) {
		if (!m->starts_full)
			log_warnx("rules: hs_scan failed");
		return pcre_match(m, rule, line, len);
	}
	/* A match ending at to in the reversed bytes starts at n - to in the line. */
	for (i = 0; i < m->nstarts; i++)
		m->starts[i] = n - m->starts[i];
	qsort(m->starts, m->nstarts, sizeof(*m->starts), size_cmp);
	i = 0;
	while (i < m->nstarts) {
		from = to = m->starts[i];
		for (i++; i < m->nstarts && m->starts[i] <= to + 1; i++)
			to = m->starts[i];
		pcre2_set_offset_limit(m->mctx, to);
		if (re_match_ctx(info->re, line, len, from, 0, m->md, m->mctx) >= 0)
			return 1;
	}
	return 0;
}

/* Ends by rule, then offset. */
static int
end_cmp(const void *a, const void *b)
{
	const struct part_end *x = a, *y = b;

	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return x->to < y->to ? -1 : x->to > y->to;
}

/*
 * A "lines" rule: PCRE2 on the lines of kept (len bytes, the stream's
 * text) where Hyperscan saw its part end, from data on (nosubject).  Any
 * match of the rule on a line holds a match of its part on that line.
 */
static int
pcre_match_part_lines(struct rules_match *m, unsigned int rule, const char *kept, size_t len,
    const char *data)
{
	unsigned int chain = m->rules->info[rule].chain;
	unsigned long long prev = 0;
	size_t ring[RULES_CHAIN_MAX], lo = 0, hi = m->nends, i;

	if (chain < 1)
		chain = 1;
	else if (chain > RULES_CHAIN_MAX)
		chain = RULES_CHAIN_MAX;
	/* Sorted once a message, by the first lines rule confirmed: this rule's first. */
	if (!m->ends_sorted) {
		qsort(m->ends, m->nends, sizeof(*m->ends), end_cmp);
		m->ends_sorted = 1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->ends[mid].rule < rule)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < m->nends && m->ends[i].rule == rule && m->ends[i].to <= len;) {
		size_t pos = m->ends[i].to > 0 ? (size_t)m->ends[i].to - 1 : 0, count = 0, upto;
		const char *line, *end;

		line = pos > 0 ? memrchr(kept, '\n', pos) : NULL;
		line = line != NULL ? line + 1 : kept;
		end = pos < len ? memchr(kept + pos, '\n', len - pos) : NULL;
		end = end != NULL ? end + 1 : kept + len;
		/* The rule's distinct ends on this line (their last byte on it). */
		for (; i < m->nends && m->ends[i].rule == rule && m->ends[i].to <= len; i++) {
			unsigned long long to = m->ends[i].to;

			if (count > 0 && to == prev)
				continue;
			if (kept + (to > 0 ? to - 1 : 0) >= end)
				break;
			ring[count++ % chain] = (size_t)to;
			prev = to;
		}
		if (end <= data || count < chain)
			continue;
		/* Where the first of the last chain ends: no match starts after it. */
		upto = ring[(count - chain) % chain];
		if (line < data)
			line = data;
		if (kept + upto <= line)
			continue;
		if (pcre_match_part_line(m, rule, line, (size_t)(end - line),
		    upto - (size_t)(line - kept)))
			return 1;
	}
	return 0;
}

/*
 * tflags multiple: the matches of a rule's pattern in data as Perl's
 * while (/.../g) finds them (after an empty match, a non-empty one at
 * the same place, else one byte further), added to its count up to its
 * maxhits.
 */
static void
count_matches(struct rules_match *m, unsigned int rule, const char *data, size_t len)
{
	const struct rule_info *info = &m->rules->info[rule];
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
	size_t at = 0;
	uint32_t opts = 0;

	if (info->re == NULL || info->maxhits <= 1)
		return;
	while (m->counts[rule] < info->maxhits && at <= len) {
		int rc = re_match(info->re, data, len, at, opts, m->md);

		if (rc < 0) {
			if (opts == 0)
				break;
			/* No non-empty match here: on one byte. */
			opts = 0;
			at++;
			continue;
		}
		m->counts[rule]++;
		at = ov[1];
		opts = ov[0] == ov[1] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
	}
}

/* count_matches line by line (body rules, see pcre_match_lines). */
static void
count_matches_lines(struct rules_match *m, unsigned int rule, const char *data, size_t len)
{
	const char *line = data, *end = data + len;

	if (m->rules->info[rule].maxhits <= 1)
		return;
	while (line < end && m->counts[rule] < m->rules->info[rule].maxhits) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *next = nl != NULL ? nl + 1 : end;

		count_matches(m, rule, line, (size_t)(next - line));
		line = next;
	}
}

static int
on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
    void *context)
{
	struct rules_match *m = context;
	unsigned int rule = m->cur->ids[id];
	unsigned int hot = m->rules->hot[rule];

	if (!(hot & HOT_PREFILTER)) {
		m->state[rule] |= ST_MATCHED;
		/*
		 * In what PCRE2 would have counted on, the kept bytes; a hit
		 * now (it is one), so that the next message starts at 0.
		 */
		if ((hot & HOT_HS_COUNT) && to <= RULES_CONFIRM_MAX &&
		    m->counts[rule] < m->rules->info[rule].maxhits) {
			set_hit(m, rule);
			m->counts[rule]++;
		}
		return 0;
	}
	m->state[rule] |= ST_CANDIDATE;
	if ((hot & HOT_LINES) && !m->ends_full) {
		if (m->nends == m->ends_size) {
			if (m->ends_size == RULES_PART_ENDS) {
				m->ends_full = 1;
				return 0;
			}
			m->ends_size = m->ends_size == 0 ? 256 : 2 * m->ends_size;
			m->ends = xrealloc(m->ends, m->ends_size * sizeof(*m->ends));
		}
		m->ends[m->nends].rule = rule;
		m->ends[m->nends].to = to;
		m->nends++;
		m->ends_sorted = 0;
	}
	return 0;
}

/*
 * Scan data with a block-mode group; ST_MATCHED set on confirmed rules.
 * With lazy, a lazy rule to confirm is deferred instead (the data must
 * then stay as it is until rules_match_reset).
 */
static void
scan_block(struct rules_match *m, const struct rules_group *g, const char *data, size_t len,
    int lazy)
{
	unsigned int i;

	if (g->db == NULL && !g->has_pcre)
		return;
	m->cur = g;
	if (g->db != NULL && hs_scan(g->db, len > 0 ? data : "", (unsigned int)len, 0,
	    m->scratch->hs, on_match, m) != HS_SUCCESS)
		log_warnx("rules: hs_scan failed");
	if (!g->has_prefilter && !g->has_pcre)
		return;
	for (i = 0; i < g->count; i++) {
		unsigned int rule = g->ids[i];
		double t0;

		if (!(m->state[rule] & ST_CANDIDATE) &&
		    (!g->has_pcre || !(m->rules->hot[rule] & HOT_PCRE)))
			continue;
		if (lazy && (m->rules->hot[rule] & HOT_LAZY)) {
			defer(m, rule);
			continue;
		}
		m->state[rule] &= (unsigned char)~ST_CANDIDATE;
		t0 = prof_start(m);
		if (pcre_match(m, rule, data, len))
			m->state[rule] |= ST_MATCHED;
		prof_stop(m, rule, t0);
	}
}

static void
group_append(struct rules_match *m, int g, const char *value, size_t len)
{
	if (g < 0)
		return;
	if (m->seen[g])
		strbuf_putc(&m->values[g], '\n');
	strbuf_append(&m->values[g], value, len);
	m->seen[g] = 1;
}

/*
 * A :raw value, folded as written: each line end and the white space
 * after it become one space, as Node.pm's get_header(.., 1) gives it
 * (s/\015?\012\s+/ /).
 */
static void
group_append_raw(struct rules_match *m, int g, const char *value, size_t len)
{
	struct strbuf *b;
	size_t i, start = 0;

	if (g < 0)
		return;
	b = &m->values[g];
	if (m->seen[g])
		strbuf_putc(b, '\n');
	m->seen[g] = 1;
	for (i = 0; i < len; i++) {
		size_t j = i;

		if (value[j] == '\r' && j + 1 < len && value[j + 1] == '\n')
			j++;
		if (value[j] != '\n' || j + 1 >= len || !isspace((unsigned char)value[j + 1]))
			continue;
		strbuf_append(b, value + start, i - start);
		strbuf_putc(b, ' ');
		for (j++; j < len && isspace((unsigned char)value[j]); j++)
			;
		start = j;
		i = j - 1;
	}
	strbuf_append(b, value + start, len - start);
}

/* The group of header lname (lower case, hash name_h) with mods, or -1. */
static int
header_group(const struct rules *r, const char *lname, uint32_t name_h, unsigned int mods)
{
	uint32_t h = header_slot(name_h, mods) & r->header_index_mask;

	for (; r->header_index[h] != 0; h = (h + 1) & r->header_index_mask) {
		const struct rules_group *g = &r->groups[r->header_index[h] - 1];

		if (g->hash == name_h && g->mods == mods && strcmp(g->header, lname) == 0)
			return (int)(r->header_index[h] - 1);
	}
	return -1;
}

/* A header named lname (lower case, hash name_h) is there: its exists: rules match. */
static void
exists_mark(struct rules_match *m, const char *lname, uint32_t name_h)
{
	const struct rules *r = m->rules;
	uint32_t h = name_h & r->exists_index_mask;

	for (; r->exists_index[h] != 0; h = (h + 1) & r->exists_index_mask) {
		unsigned int k = r->exists_index[h] - 1;

		if (r->exists_hash[k] == name_h && strcmp(r->exists_names[k], lname) == 0)
			m->state[r->exists_rules[k]] |= ST_MATCHED;
	}
}

/* The name is To or Cc (lower case), the parts of ToCc. */
static int
is_tocc(const char *lname)
{
	return (lname[0] == 't' && lname[1] == 'o' && lname[2] == '\0') ||
	    (lname[0] == 'c' && lname[1] == 'c' && lname[2] == '\0');
}

/* name in lower case into lname (size bytes), and its name_hash(). */
static uint32_t
lower_name(char *lname, const char *name, size_t size)
{
	str_copy(lname, name, size);
	return name_hash(str_lower(lname));
}

/*
 * The header name in m->hname, lower-cased and hashed, and the exists:
 * rules of that name marked, unless it is the last one's.
 */
static void
header_name_set(struct rules_match *m, const char *name)
{
	size_t len;

	if (m->hname.name[0] != '\0' && strcmp(m->hname.name, name) == 0)
		return;
	len = str_copy(m->hname.name, name, sizeof(m->hname.name));
	m->hname.len = len;
	m->hname.hash = lower_name(m->hname.lname, name, sizeof(m->hname.lname));
	/* A longer name, cut: worked out again next time. */
	if (len >= sizeof(m->hname.name))
		m->hname.name[0] = '\0';
	m->hname.tocc = is_tocc(m->hname.lname);
	exists_mark(m, m->hname.lname, m->hname.hash);
	/* The ToCc pseudo-header exists when To or Cc does (exists:ToCc). */
	if (m->hname.tocc)
		exists_mark(m, "tocc", name_hash("tocc"));
}

void
rules_match_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len)
{
	const struct rules *r = m->rules;
	const char *lname;
	uint32_t h;
	int g, tocc;

	if (m->headers_done)
		return;
	header_name_set(m, name);
	lname = m->hname.lname;
	h = m->hname.hash;
	tocc = m->hname.tocc;
	g = header_group(r, lname, h, mods);
	if (mods & SA_HDR_RAW)
		group_append_raw(m, g, value, len);
	else
		group_append(m, g, value, len);
	if (mods == 0 || mods == SA_HDR_RAW) {
		/* ALL is the header block as "Name: value" lines. */
		g = r->all_group[mods == SA_HDR_RAW];
		if (g >= 0) {
			if (m->seen[g])
				strbuf_putc(&m->values[g], '\n');
			m->seen[g] = 1;
			strbuf_append(&m->values[g], name, m->hname.len);
			strbuf_append(&m->values[g], ": ", 2);
			strbuf_append(&m->values[g], value, len);
		}
		if (tocc)
			group_append(m, r->tocc_group[mods == SA_HDR_RAW], value, len);
	}
}

void
rules_match_pseudo_header(struct rules_match *m, const char *name, unsigned int mods,
    const char *value, size_t len, int exists)
{
	char lname[128];
	uint32_t h;

	if (m->headers_done)
		return;
	h = lower_name(lname, name, sizeof(lname));
	if (mods & SA_HDR_RAW)
		group_append_raw(m, header_group(m->rules, lname, h, mods), value, len);
	else
		group_append(m, header_group(m->rules, lname, h, mods), value, len);
	if (exists)
		exists_mark(m, lname, h);
}

/* A header rule of group gi (scanned, its value confirmed): hit or not. */
static void
header_decide(struct rules_match *m, unsigned int gi, unsigned int rule)
{
	const struct rules_group *g = &m->rules->groups[gi];
	int matched = (m->state[rule] & ST_MATCHED) != 0;

	if (!matched && !g->has_negate)
		return;
	if (matched != ((m->rules->hot[rule] & HOT_NEGATE) != 0)) {
		set_hit(m, rule);
		if (g->has_multiple && matched && m->seen[gi]) {
			double t0 = prof_start(m);

			count_matches(m, rule, m->values[gi].data, m->values[gi].len);
			prof_stop(m, rule, t0);
		}
	}
}

/* A deferred header rule, confirmed on its header's value. */
static void
header_resolve(struct rules_match *m, unsigned int rule)
{
	unsigned int gi = (unsigned int)m->rules->info[rule].group;
	double t0 = prof_start(m);

	if (pcre_match(m, rule, m->values[gi].data, m->values[gi].len))
		m->state[rule] |= ST_MATCHED;
	prof_stop(m, rule, t0);
	m->state[rule] &= (unsigned char)~ST_CANDIDATE;
	header_decide(m, gi, rule);
}

void
rules_match_headers_end(struct rules_match *m)
{
	const struct rules *r = m->rules;
	unsigned int i, j;

	if (m->headers_done)
		return;
	m->headers_done = 1;
	for (i = 0; i < r->group_count; i++) {
		const struct rules_group *g = &r->groups[i];

		if (g->type != SA_RULE_HEADER)
			continue;
		if (m->seen[i]) {
			scan_block(m, g, m->values[i].data, m->values[i].len, 1);
		} else if (g->has_unset) {
			/* Not there: the value is [if-unset: X], or empty. */
			for (j = 0; j < g->count; j++) {
				if (r->hot[g->ids[j]] & HOT_UNSET)
					m->state[g->ids[j]] |= ST_MATCHED;
			}
		} else if (!g->has_negate) {
			/* Nothing matched, nothing negated: no hit. */
			continue;
		}
		for (j = 0; j < g->count; j++) {
			unsigned int rule = g->ids[j];

			if (!(m->state[rule] & ST_DEFERRED))
				header_decide(m, i, rule);
		}
	}
	for (i = 0; i < r->exists_count; i++) {
		unsigned int rule = r->exists_rules[i];

		if (m->state[rule] & ST_MATCHED)
			set_hit(m, rule);
	}
}

int
rules_match_wants_uris(const struct rules_match *m)
{
	return m->rules->uri_group >= 0;
}

void
rules_match_uri(struct rules_match *m, const char *url, size_t len)
{
	const struct rules *r = m->rules;
	const struct rules_group *g;
	unsigned int i;

	if (r->uri_group < 0)
		return;
	g = &r->groups[r->uri_group];
	if (g->multi_count == 0) {
		scan_block(m, g, url, len, 0);
	} else {
		/* Counted rules: did this URI match them, not an earlier one? */
		unsigned char before_small[64];
		unsigned char *before = g->multi_count <= sizeof(before_small) ? before_small :
		    xmalloc(g->multi_count);

		for (i = 0; i < g->multi_count; i++) {
			before[i] = m->state[g->multi[i]] & ST_MATCHED;
			m->state[g->multi[i]] &= (unsigned char)~ST_MATCHED;
		}
		scan_block(m, g, url, len, 0);
		for (i = 0; i < g->multi_count; i++) {
			unsigned int rule = g->multi[i];

			if (m->state[rule] & ST_MATCHED) {
				double t0 = prof_start(m);

				count_matches(m, rule, url, len);
				prof_stop(m, rule, t0);
			}
			m->state[rule] |= before[i];
		}
		if (before != before_small)
			free(before);
	}
	for (i = 0; i < g->count; i++) {
		if (m->state[g->ids[i]] & ST_MATCHED)
			set_hit(m, g->ids[i]);
	}
}

static int
stream_type(enum sa_rule_type type)
{
	return type == SA_RULE_BODY || type == SA_RULE_RAWBODY || type == SA_RULE_FULL;
}

/* Whether a stream group's text is kept for PCRE2 (confirmation, counting ...). */
static int
stream_keeps(const struct rules_group *g)
{
	return g->has_prefilter || g->has_pcre || g->has_multiple || g->has_nosubject;
}

int
rules_match_stream_open(struct rules_match *m, enum sa_rule_type type)
{
	const struct rules *r = m->rules;
	struct rules_stream *st;
	int g;

	if (!stream_type(type))
		return -1;
	st = &m->streams[type];
	if (st->open)
		return -1;
	/* Opened again: what waits on the text of the last one is decided first. */
	if (st->deferred)
		rules_match_resolve_all(m);
	st->deferred = 0;
	strbuf_reset(&st->kept);
	g = r->stream_group[type];
	if (g < 0 || (r->groups[g].db == NULL && !r->groups[g].has_pcre))
		return 0;
	if (r->groups[g].db != NULL && hs_open_stream(r->groups[g].db, 0, &st->hs) != HS_SUCCESS)
		panic("rules: hs_open_stream failed");
	st->open = 1;
	st->in_kept = stream_keeps(&r->groups[g]);
	st->scan_from = 0;
	return 0;
}

static void
stream_scan(struct rules_match *m, struct rules_stream *st, const struct rules_group *g,
    const void *data, size_t len)
{
	m->cur = g;
	while (len > 0) {
		unsigned int n = len > (1u << 30) ? (1u << 30) : (unsigned int)len;

		if (hs_scan_stream(st->hs, data, n, 0, m->scratch->hs, on_match, m) != HS_SUCCESS)
			log_warnx("rules: hs_scan_stream failed");
		data = (const char *)data + n;
		len -= n;
	}
}

/* The kept bytes not yet given to Hyperscan, given. */
static void
scan_kept(struct rules_match *m, struct rules_stream *st, const struct rules_group *g)
{
	stream_scan(m, st, g, st->kept.data + st->scan_from, st->kept.len - st->scan_from);
	st->scan_from = st->kept.len;
}

void
rules_match_stream_feed(struct rules_match *m, enum sa_rule_type type, const void *data,
    size_t len)
{
	const struct rules *r = m->rules;
	struct rules_stream *st;
	const struct rules_group *g;
	size_t n = 0;

	if (!stream_type(type) || !m->streams[type].open || len == 0)
		return;
	st = &m->streams[type];
	g = &r->groups[r->stream_group[type]];
	if (stream_keeps(g) && st->kept.len < RULES_CONFIRM_MAX) {
		n = RULES_CONFIRM_MAX - st->kept.len;
		if (n > len)
			n = len;
		strbuf_append(&st->kept, data, n);
	}
	if (st->hs == NULL)
		return;
	/* Staged in kept: no second copy. */
	if (st->in_kept) {
		if (n == len && st->kept.len - st->scan_from < RULES_STREAM_STAGE)
			return;
		scan_kept(m, st, g);
		if (n == len)
			return;
		/* kept is full: the rest is staged apart. */
		st->in_kept = 0;
		data = (const char *)data + n;
		len -= n;
	}
	if (st->stage.len + len < RULES_STREAM_STAGE) {
		strbuf_append(&st->stage, data, len);
		return;
	}
	stream_scan(m, st, g, st->stage.data, st->stage.len);
	strbuf_reset(&st->stage);
	if (len >= RULES_STREAM_STAGE)
		stream_scan(m, st, g, data, len);
	else
		strbuf_append(&st->stage, data, len);
}

/*
 * A rule of a stream group (type) whose text, kept, is closed: confirmed
 * or counted with PCRE2 where it must be, hit or not.  nl is kept's first
 * line end (or NULL): the body's first line is the Subject.
 */
static void
stream_decide(struct rules_match *m, enum sa_rule_type type, unsigned int rule,
    const char *kept, size_t kept_len, const char *nl)
{
	const struct rule_info *info = &m->rules->info[rule];
	int lines = type == SA_RULE_BODY;
	const char *data = kept;
	size_t len = kept_len;
	double t0 = prof_start(m);

	if (info->nosubject) {
		data = nl != NULL ? nl + 1 : kept + len;
		len -= (size_t)(data - kept);
		/* Hyperscan saw the subject too: PCRE2 decides. */
		if (m->state[rule] & ST_MATCHED) {
			m->state[rule] &= (unsigned char)~ST_MATCHED;
			m->state[rule] |= ST_CANDIDATE;
		}
	}
	if (info->status == RULES_PCRE && (lines ?
	    pcre_match_lines(m, rule, data, len) : pcre_match(m, rule, data, len)))
		m->state[rule] |= ST_MATCHED;
	if (m->state[rule] & ST_CANDIDATE) {
		m->state[rule] &= (unsigned char)~ST_CANDIDATE;
		if (lines && info->lines && !m->ends_full ?
		    pcre_match_part_lines(m, rule, kept, kept_len, data) :
		    lines ? pcre_match_lines(m, rule, data, len) : pcre_match(m, rule, data, len))
			m->state[rule] |= ST_MATCHED;
	}
	if (m->state[rule] & ST_MATCHED) {
		set_hit(m, rule);
		if (info->hs_count)
			;
		else if (lines)
			count_matches_lines(m, rule, data, len);
		else
			count_matches(m, rule, data, len);
	}
	prof_stop(m, rule, t0);
}

/* A deferred rule of a stream, decided on the text kept. */
static void
stream_resolve(struct rules_match *m, enum sa_rule_type type, unsigned int rule)
{
	const struct rules_stream *st = &m->streams[type];
	const char *kept = st->kept.data != NULL ? st->kept.data : "";

	stream_decide(m, type, rule, kept, st->kept.len, memchr(kept, '\n', st->kept.len));
}

void
rules_match_stream_close(struct rules_match *m, enum sa_rule_type type)
{
	const struct rules *r = m->rules;
	struct rules_stream *st;
	const struct rules_group *g;
	const char *kept, *nl;
	unsigned int i;

	if (!stream_type(type) || !m->streams[type].open)
		return;
	st = &m->streams[type];
	g = &r->groups[r->stream_group[type]];
	if (st->hs != NULL && st->in_kept && st->kept.len > st->scan_from)
		scan_kept(m, st, g);
	if (st->hs != NULL && st->stage.len > 0)
		stream_scan(m, st, g, st->stage.data, st->stage.len);
	strbuf_reset(&st->stage);
	st->in_kept = 0;
	m->cur = g;
	/* Matches at the end of the data ($, \z) are reported at close. */
	if (st->hs != NULL && hs_close_stream(st->hs, m->scratch->hs, on_match, m) != HS_SUCCESS)
		log_warnx("rules: hs_close_stream failed");
	st->hs = NULL;
	st->open = 0;
	kept = st->kept.data != NULL ? st->kept.data : "";
	/* The body's first line is the Subject (rules_compile.h): not for nosubject rules. */
	nl = memchr(kept, '\n', st->kept.len);
	for (i = 0; i < g->count; i++) {
		unsigned int rule = g->ids[i];
		unsigned char state = m->state[rule];

		/* The state first: most rules are untouched, and their info is far. */
		if (!(state & (ST_MATCHED | ST_CANDIDATE)) &&
		    (!g->has_pcre || !(r->hot[rule] & HOT_PCRE)))
			continue;
		/*
		 * A lazy rule waits if PCRE2 must decide it; kept stays as it
		 * is until rules_match_reset.
		 */
		if ((r->hot[rule] & HOT_LAZY) && ((state & ST_CANDIDATE) ||
		    (r->hot[rule] & (HOT_PCRE | HOT_NOSUBJECT)))) {
			defer(m, rule);
			st->deferred = 1;
			continue;
		}
		stream_decide(m, type, rule, kept, st->kept.len, nl);
	}
	if (!st->deferred)
		strbuf_reset(&st->kept);
}

/*
 * The metas that read rule, marked with bits: MS_READS for a hit (the
 * metas it guards, or reads without guards: a meta none of whose guards
 * hit is 0), MS_READS | MS_UNSURE for a rule undecided (every meta that
 * reads it: a guard that hit does not decide a meta alone).
 */
static void
mark_readers_with(struct rules_match *m, unsigned int rule, unsigned char bits)
{
	const struct rules *r = m->rules;
	const unsigned int *at = (bits & MS_UNSURE) ? r->reader_at : r->hit_reader_at;
	const unsigned int *readers = (bits & MS_UNSURE) ? r->readers : r->hit_readers;

	for (unsigned int k = at[rule]; k < at[rule + 1]; k++) {
		unsigned int j = readers[k];

		m->mstate[j] |= bits;
		m->mact[j / 64] |= (uint64_t)1 << (j % 64);
	}
}

/* A rule hit: its value for the metas, which are marked to evaluate. */
static void
hit_value(struct rules_match *m, unsigned int rule)
{
	m->val[rule] = (float)rules_match_times(m, rule);
	if (!(m->state[rule] & ST_DEFERRED))
		m->vlo[rule] = m->vhi[rule] = m->val[rule];
	mark_readers_with(m, rule, MS_READS);
}

/* A meta hit. */
static void
meta_hit(struct rules_match *m, unsigned int rule)
{
	set_hit(m, rule);
	hit_value(m, rule);
}

static double
meta_value(void *context, int rule)
{
	const struct rules_match *m = context;

	return rules_match_times(m, (unsigned int)rule);
}

void
rules_match_finish_scan(struct rules_match *m)
{
	if (m->scanned)
		return;
	m->scanned = 1;
	rules_match_headers_end(m);
	rules_match_stream_close(m, SA_RULE_BODY);
	rules_match_stream_close(m, SA_RULE_RAWBODY);
	rules_match_stream_close(m, SA_RULE_FULL);
}

static void resolve(struct rules_match *m, unsigned int rule);

/*
 * A meta that reads a rule that hit or may have: hit or not.  A lazy one
 * whose value depends on deferred rules is deferred in turn, unless
 * force (a reported rule needs it): then what it reads is decided, one
 * deferred rule at a time, until its value is known.
 */
static void
meta_decide(struct rules_match *m, unsigned int rule, int force)
{
	const struct rules *r = m->rules;
	const struct rule_info *info = &r->info[rule];
	const int *guards;
	int n_guards = rules_meta_guards(info->meta, &guards), k_guard;

	/* Its guards known not to hit (not undecided): 0, nothing to evaluate. */
	for (k_guard = 0; k_guard < n_guards && m->vhi[guards[k_guard]] == 0; k_guard++)
		;
	if (n_guards >= 0 && k_guard == n_guards)
		return;
	for (;;) {
		struct rules_meta_range v = rules_meta_pack_eval_range(r->meta_pack,
		    r->meta_at[rule], m->vlo, m->vhi);
		const int *deps;
		unsigned int n, k;

		if (v.lo > 0 || v.hi < 0) {
			meta_hit(m, rule);
			return;
		}
		if (v.lo == 0 && v.hi == 0)
			return;
		if ((r->hot[rule] & HOT_LAZY) && !force) {
			defer(m, rule);
			mark_readers_with(m, rule, MS_READS | MS_UNSURE);
			return;
		}
		n = rules_meta_deps(info->meta, &deps);
		for (k = 0; k < n && !(m->state[deps[k]] & ST_DEFERRED); k++)
			;
		if (k == n) {
			/* Everything it reads known: the range is its value (not reached). */
			if (rules_meta_eval(info->meta, meta_value, m) != 0)
				meta_hit(m, rule);
			return;
		}
		resolve(m, (unsigned int)deps[k]);
	}
}

/* A deferred rule decided: confirmed, counted, evaluated. */
static void
resolve(struct rules_match *m, unsigned int rule)
{
	const struct rules *r = m->rules;
	const struct rule_info *info = &r->info[rule];

	if (!(m->state[rule] & ST_DEFERRED))
		return;
	m->state[rule] &= (unsigned char)~ST_DEFERRED;
	if (info->status == RULES_META) {
		meta_decide(m, rule, 1);
	} else {
		if (r->groups[info->group].type == SA_RULE_HEADER)
			header_resolve(m, rule);
		else
			stream_resolve(m, r->groups[info->group].type, rule);
		if (m->state[rule] & ST_HIT)
			m->val[rule] = (float)rules_match_times(m, rule);
	}
	m->vlo[rule] = m->vhi[rule] = (float)rules_match_times(m, rule);
}

void
rules_match_resolve_all(struct rules_match *m)
{
	for (unsigned int i = 0; i < m->deferred_count; i++)
		resolve(m, m->deferred[i]);
}

void
rules_match_finish(struct rules_match *m)
{
	const struct rules *r = m->rules;
	unsigned int i, w;

	if (m->finished)
		return;
	m->finished = 1;
	rules_match_finish_scan(m);
	for (i = 0; i < m->hit_count; i++)
		hit_value(m, m->hits[i]);
	/* A deferred rule may have hit: its readers are evaluated over ranges. */
	for (i = 0; i < m->deferred_count; i++)
		mark_readers_with(m, m->deferred[i], MS_READS | MS_UNSURE);
	/*
	 * The metas marked (they read a rule that hit or may have) or that
	 * hit at zero, in order, a word of the bitmaps at a time: a hit
	 * marks metas further on, in this word or a later one.
	 */
	for (w = 0; w <= r->meta_count / 64; w++) {
		uint64_t done = 0, b;

		while ((b = (m->mact[w] | r->meta_zero[w]) & ~done) != 0) {
			unsigned int bit = (unsigned int)__builtin_ctzll(b);
			unsigned char ms;

			done |= bit == 63 ? ~(uint64_t)0 : ((uint64_t)2 << bit) - 1;
			i = w * 64 + bit;
			ms = m->mstate[i];
			/* Nothing it reads hit: its value is known since the compile. */
			if (ms == 0)
				meta_hit(m, r->meta_order[i]);
			else if (ms & MS_UNSURE)
				meta_decide(m, r->meta_order[i], 0);
			else if (rules_meta_pack_eval(r->meta_pack, i, m->val) != 0)
				meta_hit(m, r->meta_order[i]);
		}
	}
}

/*
 * A reset match is used again (the filter keeps finished ones): its
 * buffers are kept unless a large message grew them.
 */
#define RULES_BUF_KEEP (64 * 1024)
#define RULES_ENDS_KEEP 4096

static void
buf_recycle(struct strbuf *b)
{
	if (b->size > RULES_BUF_KEEP)
		strbuf_free(b);
	else
		strbuf_reset(b);
}

void
rules_match_reset(struct rules_match *m)
{
	const struct rules *r = m->rules;
	unsigned int i;

	for (i = 0; i < SA_RULE_TYPE_COUNT; i++) {
		if (m->streams[i].hs != NULL) {
			hs_close_stream(m->streams[i].hs, m->scratch->hs, NULL, NULL);
			m->streams[i].hs = NULL;
		}
		m->streams[i].open = 0;
		m->streams[i].in_kept = 0;
		m->streams[i].scan_from = 0;
		m->streams[i].deferred = 0;
		buf_recycle(&m->streams[i].kept);
		buf_recycle(&m->streams[i].stage);
	}
	memset(m->state, 0, r->count + 1);
	memset(m->mstate, 0, r->meta_count);
	memset(m->mact, 0, (r->meta_count / 64 + 1) * sizeof(*m->mact));
	for (i = 0; i < m->hit_count; i++) {
		m->counts[m->hits[i]] = 0;
		m->val[m->hits[i]] = 0;
		m->vlo[m->hits[i]] = m->vhi[m->hits[i]] = 0;
	}
	for (i = 0; i < m->deferred_count; i++)
		m->vlo[m->deferred[i]] = m->vhi[m->deferred[i]] = 0;
	m->hit_count = 0;
	m->deferred_count = 0;
	for (i = 0; i < r->group_count; i++)
		buf_recycle(&m->values[i]);
	memset(m->seen, 0, r->group_count + 1);
	m->headers_done = m->scanned = m->finished = 0;
	m->hname.name[0] = '\0';
	m->nends = 0;
	m->ends_full = 0;
	if (m->ends_size > RULES_ENDS_KEEP) {
		free(m->ends);
		m->ends = NULL;
		m->ends_size = 0;
	}
}

int
rules_match_hit(const struct rules_match *m, unsigned int rule)
{
	return rule < m->rules->count && (m->state[rule] & ST_HIT) != 0;
}

unsigned int
rules_match_hit_count(const struct rules_match *m)
{
	return m->hit_count;
}

unsigned int
rules_match_hit_rule(const struct rules_match *m, unsigned int i)
{
	return i < m->hit_count ? m->hits[i] : 0;
}

double
rules_match_score(const struct rules_match *m, unsigned int set)
{
	double total = 0;
	unsigned int i;

	/* SpamAssassin adds a tflags multiple rule's score at each hit. */
	for (i = 0; i < m->hit_count; i++)
		total += sa_rule_score(sa_rules_get(m->rules->sa, m->hits[i]), set) *
		    rules_match_times(m, m->hits[i]);
	return total;
}

unsigned int
rules_match_times(const struct rules_match *m, unsigned int rule)
{
	if (rule >= m->rules->count || !(m->state[rule] & ST_HIT))
		return 0;
	return m->counts[rule] > 1 ? m->counts[rule] : 1;
}

void
rules_match_free(struct rules_match **match)
{
	struct rules_match *m = *match;
	unsigned int i;

	if (m == NULL)
		return;
	*match = NULL;
	rules_match_reset(m);
	for (i = 0; i < SA_RULE_TYPE_COUNT; i++) {
		strbuf_free(&m->streams[i].kept);
		strbuf_free(&m->streams[i].stage);
	}
	for (i = 0; i < m->rules->group_count; i++)
		strbuf_free(&m->values[i]);
	free(m->values);
	free(m->seen);
	free(m->state);
	free(m->hits);
	free(m->deferred);
	free(m->val);
	free(m->vlo);
	free(m->vhi);
	free(m->mstate);
	free(m->mact);
	free(m->counts);
	free(m->ends);
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mctx);
	free(m->rev);
	free(m);
}
