/* SPDX-License-Identifier: MIT */
/*
 * eval - SpamAssassin's eval: tests written in C.
 *
 * Rules of the form `eval:function(args)` call Perl in SpamAssassin; here
 * the functions that carry weight in the stock rule set and need no
 * network are answered from what the pipeline collected about a message:
 * the top-level header fields, the envelope, the rendered body (as
 * SpamAssassin makes it: Subject first, paragraphs on one line) and the
 * raw message, which eval walks again the way SpamAssassin's Message.pm
 * splits it (part headers, raw lines, transfer encodings) since several
 * tests count raw lines per part.  Configuration the tests read
 * (freemail_domains, welcomelist_from, enlist_addrlist ...) comes from the
 * rule files' other lines (sa_rules_config()).
 *
 * eval_config is made once per rule set and shared read-only by threads;
 * struct eval_msg belongs to one message and one thread.
 */
#ifndef FACTEUR_FILTER_EVAL_H
#define FACTEUR_FILTER_EVAL_H

#include <stddef.h>
#include <string.h>
#include <time.h>

/*
 * Whether an eval's function name f, flen bytes long, is the literal lit.
 * The evals are told apart by name, 300 of them for each message, against
 * a hundred names: the length first rules out nearly all of them.
 */
#define EVAL_FN_IS(f, flen, lit) \
	((flen) == sizeof(lit) - 1 && memcmp((f), (lit), sizeof(lit) - 1) == 0)

struct sa_rules;
struct mime_parser;
struct eval_config;
struct eval_state;
struct received_config;
struct received_chain;

/* A top-level header field, as the MIME parser gives it. */
struct eval_header {
	const char *name;
	const char *raw;	/* as written, folded */
	size_t raw_len;
	const char *value;	/* unfolded, encoded-words decoded, UTF-8 */
	size_t value_len;
};

struct eval_msg {
	const struct eval_config *config;	/* NULL: no lists configured */
	const struct eval_header *headers;	/* in order */
	size_t nheaders;
	/* envelope */
	const char *sender;	/* "" for the null sender */
	const char *const *rcpts;
	size_t nrcpts;
	const char *helo;
	const char *client_addr;
	/* the MIME parser after mime_parser_finish(), or NULL */
	const struct mime_parser *mime;
	/* rendered body, see eval_body_norm (Subject first), maybe cut */
	const char *body;
	size_t body_len;
	/* the whole message as received */
	const char *message;
	size_t message_len;
	time_t now;
	/* eval's per-message cache: NULL at first, freed by eval_msg_clear() */
	struct eval_state *state;
	/*
	 * The Received chain (filter/received.h): given by the caller when it
	 * parsed it already (the pipeline does, for the X-Spam-Relays
	 * headers), else parsed from headers on first use with
	 * received_config into relays_cache (freed by eval_msg_clear()).
	 * originating: an authenticated or mynetworks client.
	 */
	const struct received_chain *relays;
	const struct received_config *received_config;
	int originating;
	struct received_chain *relays_cache;
};

/* What the rule files configure for the evals; never fails. */
struct eval_config *eval_config_new(const struct sa_rules *rules);
void eval_config_free(struct eval_config **config);

/*
 * Run function(args) on msg: 1 hit, 0 no hit, -1 not implemented here.
 * args is the text between the parentheses, as written in the rule.
 */
int eval_sa(struct eval_msg *msg, const char *function, const char *args);
/*
 * The URI list uri rules are matched against, as SpamAssassin's
 * get_uri_list() makes it: every canonical form (uri_list_canonicalize)
 * of the URIs of the rendered text and of the HTML parts, each once.
 * *uris_r and *lens_r get arrays of n entries, valid until
 * eval_msg_clear(); msg is filled in as for eval_sa().
 */
size_t eval_uri_list(struct eval_msg *msg, char *const **uris_r, const size_t **lens_r);
/* Free what eval_sa cached in msg->state. */
void eval_msg_clear(struct eval_msg *msg);

/*
 * Where an eval function is answered: "eval" (here), "auth" (auth.c),
 * "bayes" (bayes.c), "network" (DNS or an external service: not done),
 * or NULL (not implemented).
 */
const char *eval_function_owner(const char *function);

/*
 * SpamAssassin's body text, as Message::get_body_text_array_common()
 * makes it (s/\n+\s*\n+/\x00/; s/\s+/ /; tr/\x00/\n/): a run of white
 * space becomes one space, or, when it holds two line ends or more, a
 * line end with a space before it when white space came before its first
 * line end and a space after it when some came after its last.  White
 * space is Perl's Unicode \s (the text is decoded there): no-break
 * space, U+2000 - U+200A, U+3000 ... too.  Streaming: UTF-8 text in any
 * pieces; out receives the normalized bytes.  State starts zeroed.
 */
struct eval_body_norm {
	int in_space;		/* in a run of white space */
	int newlines;		/* line ends in that run */
	int before, after;	/* white space before its first, after its last line end */
	unsigned char pend[3];	/* the start of a character cut at a piece's end */
	size_t npend;
};

typedef void (*eval_body_out)(void *ctx, const char *data, size_t len);
void eval_body_norm_feed(struct eval_body_norm *n, const char *text, size_t len,
    eval_body_out out, void *ctx);
/* End of the text: the pending white space, if any. */
void eval_body_norm_end(struct eval_body_norm *n, eval_body_out out, void *ctx);

#endif
