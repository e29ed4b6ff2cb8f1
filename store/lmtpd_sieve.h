/* SPDX-License-Identifier: MIT */
/*
 * lmtpd_sieve - Sieve at delivery: lmtpd runs the recipient's active
 * script (sieve_store.h, sieve.h) and carries out what it says.  The
 * mailbox actions (keep, fileinto) are lmtpd's own appends (lmtpd.c); the
 * actions that send mail are here:
 *
 *   redirect  a new queue file (mta/queue_file.h, committed as bounces
 *             are): the message as received without lmtpd's Return-Path,
 *             under an "X-Sieve-Redirected-From: <account>" field, to the
 *             new address, with the original envelope sender (a null
 *             sender stays null: RFC 5228 4.2).  A message that already
 *             carries the account in such a field, that has been
 *             redirected SIEVE_REDIRECT_HOPS times, or that has more
 *             Received fields than smtpd_hop_limit is a loop: an error,
 *             and the message is kept.
 *   vacation  RFC 5230: the checks of sieve_vacation_refusal, at most one
 *             answer per sender and handle within :days (vacation.db of
 *             sieve_store.h), the answer queued with the null envelope
 *             sender to the envelope sender (RFC 5230 5.1 and 5.2).
 */
#ifndef FACTEUR_LMTPD_SIEVE_H
#define FACTEUR_LMTPD_SIEVE_H

#include <stddef.h>

#include "store/sieve.h"

#define SIEVE_REDIRECT_HOPS 8

struct mstore;

/*
 * Run account's active script on msg: 1 with res filled (after a
 * compile or runtime error, logged, res is the keep alone), 0 when the
 * account has no active script (res empty), -1 when the script could not
 * be read (logged; deliver as without one).  name_r receives the
 * script's name.
 */
int lmtpd_sieve_run(struct mstore *ms, const char *qid, const char *account,
    const struct sieve_message *msg, const struct sieve_env *env, struct sieve_result *res,
    char *name_r, size_t size);
/*
 * Would redirecting msg for account make a loop?  NULL if not, else why
 * (static text): account redirected it before, it was redirected
 * SIEVE_REDIRECT_HOPS times, or it has smtpd_hop_limit Received fields.
 */
const char *lmtpd_sieve_redirect_loop(const struct sieve_message *msg, const char *account);
/* Queue msg for to, redirected by account.  0 with qid_r (24 bytes), or -1 with *error_r. */
int lmtpd_sieve_redirect(const struct sieve_message *msg, const char *account, const char *to,
    char *qid_r, const char **error_r);
/* Answer msg with v if RFC 5230 and :days allow; everything is logged. */
void lmtpd_sieve_vacation(struct mstore *ms, const char *qid, const char *account,
    const struct sieve_message *msg, const struct sieve_action *v);

#endif
