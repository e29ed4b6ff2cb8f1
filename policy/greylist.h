/* SPDX-License-Identifier: MIT */
/*
 * greylist - answer 450 to the first delivery attempt of a (client
 * network, sender, recipient) triplet, and accept its retry once
 * greylist_delay has passed (within greylist_retry_window).  A triplet
 * that passed is remembered for greylist_lifetime from its last use; a
 * client network with greylist_auto_allow passed triplets skips
 * greylisting for greylist_lifetime.  State lives in a pstate, so
 * several relays sharing Redis greylist as one.  Parameters: var_greylist_*.
 *
 * The sender is kept as given, except that the variable parts of
 * SRS and BATV addresses (prvs=..., SRS0=...) are reduced so that a
 * retry with a new tag is the same triplet.
 */
#ifndef FACTEUR_POLICY_GREYLIST_H
#define FACTEUR_POLICY_GREYLIST_H

struct pstate;
struct greylist_op;

enum greylist_result {
	GREYLIST_PASS,		/* known triplet or allowed network: go on */
	GREYLIST_DEFER,		/* refuse with 450 4.7.1 for now */
	GREYLIST_ERROR,		/* state backend failed: callers let the message pass */
};

/* remaining: for GREYLIST_DEFER, seconds until a retry would pass. */
typedef void greylist_cb(void *ctx, enum greylist_result result, long remaining);

/* Callback always later from the event loop. */
struct greylist_op *greylist_check(struct pstate *st, const char *client_ip, const char *sender,
    const char *rcpt, greylist_cb *cb, void *ctx);
void greylist_cancel(struct greylist_op **op);

/* Sender as greylisting keys it (lower case, BATV/SRS tags removed), into out. */
void greylist_normalize_sender(const char *sender, char *out, size_t size);

#endif
