/* SPDX-License-Identifier: MIT */
/*
 * bayes - the learned (Bayesian) classifier of the filter, its state in
 * SQLite.
 *
 * A message becomes a set of tokens (struct bayes_tokens): words of its
 * decoded text, words of its header fields prefixed by the field's name
 * ("H*s:", "Hsubject:" ...), and the host names of its URLs, each token
 * kept as a 64-bit SipHash.  Learning adds one to the spam or ham count of
 * every token of a message; classifying combines the probabilities of the
 * 150 most significant known tokens with Robinson's f(w) and Fisher's
 * chi-square, as SpamAssassin's Bayes does (same constants), so that its
 * BAYES_* rules keep their meaning.
 *
 * The database is one SQLite file in WAL mode: classifying threads each
 * have their own connection and never wait for a writer; each learned
 * message is one transaction.  Learned messages are remembered by id, so
 * learning a message twice as the same class counts it once, learning it
 * as the other class moves it, and forgetting undoes the learning.
 */
#ifndef FACTEUR_FILTER_BAYES_H
#define FACTEUR_FILTER_BAYES_H

#include <stddef.h>

/* One per thread: its own SQLite connection. */
struct bayes;

/*
 * Open the database at path.  Unless readonly, it is created when missing,
 * with its schema, and the connection may learn.  A read-only open fails
 * when the database has not been created yet.  -1 with *error_r (valid
 * until the next call in this thread) on error, 0 on success.
 */
int bayes_open(const char *path, int readonly, struct bayes **b_r, const char **error_r);
void bayes_close(struct bayes **b);

/*
 * Where the configuration puts the database: $bayes_database, or
 * $spool_directory/bayes.db when it is empty.  Returns buf.
 */
const char *bayes_database_path(char *buf, size_t size);

/* One message's tokens. */
struct bayes_tokens;

struct bayes_tokens *bayes_tokens_new(void);
/*
 * A header field of the message itself (part 0): name as written, value
 * unfolded and decoded to UTF-8.  Fields that carry no signal or that
 * filters and mailing lists add (Date, X-Spam-*, List-*, Delivered-To ...)
 * are ignored, as are all but the last two Received fields.
 */
void bayes_tokens_header(struct bayes_tokens *t, const char *name, const char *value, size_t len);
/*
 * Body text, UTF-8: call it as often as needed with pieces cut anywhere
 * (even inside a word or a UTF-8 sequence); the tokens do not depend on
 * the cuts.
 */
void bayes_tokens_text(struct bayes_tokens *t, const char *utf8, size_t len);
/* A URL of the message (host and path become tokens). */
void bayes_tokens_url(struct bayes_tokens *t, const char *url, size_t len);
/* Distinct tokens so far (the body's last word counts once complete). */
size_t bayes_tokens_count(const struct bayes_tokens *t);
/* The Message-ID field given to bayes_tokens_header(), without <>, or NULL. */
const char *bayes_tokens_message_id(const struct bayes_tokens *t);
void bayes_tokens_free(struct bayes_tokens **t);

/*
 * Probability that the message is spam, in [0,1]; 0.5 when none of its
 * tokens is significant.  -1 when fewer than $bayes_min_learned messages
 * of either class were learned, or on a database error (logged): no
 * verdict.  Counts bayes_classified when it gives a verdict.
 */
double bayes_classify(struct bayes *b, const struct bayes_tokens *t);

enum bayes_class { BAYES_HAM, BAYES_SPAM };

/*
 * Learn the message as cls.  msgid identifies it (its Message-ID, say);
 * NULL means a hash of its tokens.  1 learned (or moved from the other
 * class), 0 already learned as cls, -1 on error (*error_r, valid until the
 * next call on b).
 */
int bayes_learn(struct bayes *b, const struct bayes_tokens *t, const char *msgid,
    enum bayes_class cls, const char **error_r);
/* Undo the learning of a message: 1 forgotten, 0 it was not learned, -1 on error. */
int bayes_forget(struct bayes *b, const struct bayes_tokens *t, const char *msgid,
    const char **error_r);
/* Messages learned of each class and distinct tokens known (0s on error). */
void bayes_counts(struct bayes *b, unsigned long *spam_r, unsigned long *ham_r,
    unsigned long *tokens_r);

/*
 * SpamAssassin's eval:check_bayes('MIN', 'MAX') for probability prob; args
 * is the text between the parentheses.  As SpamAssassin's Bayes plugin
 * does: 1 if MIN < prob <= MAX, where MIN 0 includes 0 and MAX may be
 * 'undef' (no upper bound); 0 if not, if prob < 0 (no verdict) or if args
 * do not parse; -1 if function is not "check_bayes".
 */
int bayes_sa_eval(double prob, const char *function, const char *args);

/*
 * The tokens of a whole message (as stored or sent; a leading mbox "From "
 * line is skipped) through the MIME parser: its own header fields, the
 * text of its text parts, its URLs.
 */
struct bayes_tokens *bayes_tokens_from_message(const void *data, size_t len);

#endif
