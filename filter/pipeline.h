/* SPDX-License-Identifier: MIT */
/*
 * pipeline - the before-queue filter: every check of a message, its score
 * and the action taken.
 *
 * Stages: the message streams through filter_msg_feed() as it arrives (MIME
 * parsing, header, uri, body, rawbody and full rules in Hyperscan streaming
 * mode, classifier tokens, parts kept for the antivirus); at the end
 * filter_msg_finish(), in a worker thread, runs what needs the whole message
 * or may block (antivirus, SPF/DKIM/DMARC with DNS, the classifier, eval
 * tests, meta rules), adds the symbols up and decides the action.  smtpd
 * and facteur-milter both drive it.
 *
 * struct filter is shared by every thread of a process.  Rules are compiled
 * in a background thread (or loaded from the on-disk cache): until they are
 * ready messages are checked without them; filter_reload() builds a new set
 * the same way and swaps it in, messages in flight keeping the set they
 * started with.
 */
#ifndef FACTEUR_FILTER_PIPELINE_H
#define FACTEUR_FILTER_PIPELINE_H

#include <stddef.h>

#include "filter/verdict.h"

struct filter;
struct filter_msg;

/* From the var_* parameters; starts loading the rules in the background. */
int filter_new(struct filter **f_r, const char **error_r);
void filter_free(struct filter **f);
/* Re-read the rules (background) and check the antivirus database. */
void filter_reload(struct filter *f);
/* 1 once a rule set is in use (or none is configured). */
int filter_rules_ready(struct filter *f);
/* Wait until the rules being loaded are ready (tools, tests). */
void filter_wait_rules(struct filter *f);

struct filter_envelope {
	const char *qid;
	const char *client_addr;	/* IP literal */
	const char *client_name;	/* reverse name, or NULL */
	const char *helo;
	const char *sender;		/* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpts;
	const char *auth_user;		/* NULL unless authenticated */
	int trusted;			/* authenticated or mynetworks */
};

enum filter_action {
	FILTER_ACCEPT,		/* queue, with the headers */
	FILTER_QUARANTINE,	/* keep aside, with the verdict */
	FILTER_REJECT,		/* refuse: 5xx reply */
	FILTER_TEMPFAIL,	/* refuse for now: 4xx reply */
};

struct filter_result {
	enum filter_action action;
	double score;
	double required;	/* the tag score that applied */
	int spam;		/* score >= required */
	int virus;
	char reply[512];	/* "550 5.7.1 ..." for REJECT/TEMPFAIL */
	char reason[256];	/* for logs and the quarantine */
	char *headers;		/* fields to prepend, CRLF lines (may be "") */
	char *subject_tag;	/* put before the Subject, or NULL */
	const struct verdict *verdict;
};

/* A message starts; env is copied. */
struct filter_msg *filter_msg_new(struct filter *f, const struct filter_envelope *env);
/* Bytes of the message as it will be queued (CRLF lines), in any pieces. */
void filter_msg_feed(struct filter_msg *m, const void *data, size_t len);
/* filter_msg_feed() of a whole message line by line, as smtpd feeds it. */
void filter_msg_feed_lines(struct filter_msg *m, const char *data, size_t len);
/*
 * End of the message: the remaining checks and the decision.  message is
 * the whole message as fed (the antivirus and DKIM need it whole).  May
 * block: call it from a worker thread (or libmilter's).
 */
const struct filter_result *filter_msg_finish(struct filter_msg *m, const char *message,
    size_t len);
void filter_msg_free(struct filter_msg **m);
/*
 * Before filter_msg_finish(): have fn called, during it, with each URI
 * of the list the uri rules are matched against (eval_uri_list()).
 */
typedef void filter_uri_fn(void *ctx, const char *uri, size_t len);
void filter_msg_on_uri(struct filter_msg *m, filter_uri_fn *fn, void *ctx);
/*
 * After filter_msg_finish(): the body text as body rules read it (the
 * Subject, a line end, each part's rendered text with white space runs
 * collapsed, SpamAssassin's get_decoded_stripped_body_text_array() joined),
 * its first 256 KB.
 */
const char *filter_msg_body_text(const struct filter_msg *m, size_t *len_r);

const char *filter_action_name(enum filter_action a);
/* The log line of a verdict: action, score, reason, the symbols. */
void filter_log_verdict(const char *qid, const char *client, const struct filter_result *r);
/*
 * The message with tag put before its Subject (a Subject is added if it has
 * none); malloc'd, length in len_r.
 */
char *filter_tag_subject(const char *message, size_t len, const char *tag, size_t *len_r);

#endif
