/* SPDX-License-Identifier: MIT */
/*
 * eval_received - SpamAssassin's evals that read the Received chain
 * (check_no_relays, check_all_trusted, helo_ip_mismatch ...), answered
 * from the relays parsed out of the message's Received fields.
 *
 * filter/eval.c hands these functions over: eval_received_owns() says
 * which, eval_received_sa() answers them (1 hit, 0 no hit, -1 arguments
 * not implemented), eval_received_clear() frees what it cached in the
 * message.
 */
#ifndef FACTEUR_FILTER_EVAL_RECEIVED_H
#define FACTEUR_FILTER_EVAL_RECEIVED_H

struct eval_msg;

int eval_received_owns(const char *function);
int eval_received_sa(struct eval_msg *msg, const char *function, const char *args);
void eval_received_clear(struct eval_msg *msg);
/*
 * RelayEval's check_for_from_domain_in_received_headers(domain, desired)
 * with the From address eval.c found ("" when none): 1 hit, 0 not.
 */
int eval_received_from_domain(struct eval_msg *msg, const char *from, const char *domain,
    const char *desired);

#endif
