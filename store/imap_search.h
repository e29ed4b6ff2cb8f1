/* SPDX-License-Identifier: MIT */
/*
 * imap_search - SEARCH and UID SEARCH (RFC 3501/9051 keys, ESEARCH's
 * RETURN (MIN MAX COUNT ALL SAVE), SEARCHRES's $, CONDSTORE's MODSEQ,
 * WITHIN's OLDER/YOUNGER), and SORT (RFC 5256, with SORT=DISPLAY).
 *
 * A search program is parsed into a tree, then each message of the view
 * is tried: flags, UIDs, sizes and dates from the index first, and the
 * message itself is opened only when a header or text key needs it.
 * Strings match as substrings, ASCII case-insensitively, against header
 * values with their encoded-words decoded and against the text of the
 * text parts decoded to UTF-8 (filter/mime_header.h, filter/charset.h).
 *
 * The commands are in imap_search_commands (imapd.h).  The program
 * parser is exposed for the tests.
 */
#ifndef FACTEUR_IMAP_SEARCH_H
#define FACTEUR_IMAP_SEARCH_H

#include <time.h>

#include "store/imap_parser.h"

struct imap_search_key;

/*
 * Parse the search keys args[0..n); NULL with *error_r for a syntax error.
 * *uses_modseq_r says a MODSEQ key was given.
 */
struct imap_search_key *imap_search_parse(const struct imap_arg *args, unsigned int n,
    int *uses_modseq_r, const char **error_r);
void imap_search_free(struct imap_search_key **key);

/*
 * An RFC 5322 Date value as a time, -1 if it cannot be read; with day_only
 * the day as written (00:00 UTC of it), time and zone disregarded.
 */
time_t imap_search_rfc5322_date(const char *value, int day_only);

#endif
