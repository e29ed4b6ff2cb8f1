/* SPDX-License-Identifier: MIT */
/*
 * imap_thread - the THREAD algorithms of RFC 5256, without I/O:
 * ORDEREDSUBJECT (by base subject, then date) and REFERENCES (Jamie
 * Zawinski's threading by Message-ID, References and In-Reply-To, then
 * the root set merged by base subject).
 *
 * The caller gives one entry per message (its number, what it says about
 * itself and its parents, its base subject and its sent date) and gets
 * the THREAD response's text: "(1 2 (3)(4))(5)".  Loops, duplicate
 * Message-IDs and missing headers are the input of real mail, never an
 * error.
 */
#ifndef FACTEUR_IMAP_THREAD_H
#define FACTEUR_IMAP_THREAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store/imap_parser.h"

struct imap_thread_msg {
	uint32_t n;		/* sequence number or UID: what is printed */
	const char *message_id;	/* Message-ID header value, or NULL */
	const char *references;	/* References header value, or NULL */
	const char *in_reply_to;	/* In-Reply-To header value, or NULL */
	const char *base_subject;	/* RFC 5256 base subject (imap_thread_base_subject) */
	int reply;		/* the subject had a Re:/Fwd: prefix (imap_thread_base_subject) */
	time_t date;		/* sent date (else internal date) */
};

enum imap_thread_algo { IMAP_THREAD_ORDEREDSUBJECT, IMAP_THREAD_REFERENCES };

/* Append the threads of msgs[0..n) to out ("" for none).  msgs is reordered. */
void imap_thread(struct imap_thread_msg *msgs, size_t n, enum imap_thread_algo algo,
    struct imap_out *out);

/*
 * The RFC 5256 base subject of a decoded subject: blanks collapsed,
 * "Re:", "Fwd:", "Fw:" and "[blob]" prefixes and "(fwd)" trailers
 * removed, lower-cased (ASCII).  *reply_r says whether something that
 * marks a reply or forward was removed.  malloc'd.
 */
char *imap_thread_base_subject(const char *subject, int *reply_r);

#endif
