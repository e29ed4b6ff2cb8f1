/* SPDX-License-Identifier: MIT */
/*
 * report - what happened to mail, per day and per domain, kept for the
 * administrator's reports (facteurctl report).
 *
 * The stats segment (lib/stats.h) has totals since the start; this keeps
 * counts per UTC day and per domain in $spool_directory/reports/reports.db
 * (SQLite, WAL): messages received for each recipient domain, submitted
 * by each authenticated sender's domain, recipients delivered, deferred
 * and bounced, refusals by reason, spam, viruses and quarantined
 * messages.  Daemons count in memory (report_count, cheap, thread-safe)
 * and write the counts once a minute and when they stop (report_flush,
 * one transaction of a few rows): a crash loses at most a minute of
 * counts, never mail.
 */
#ifndef FACTEUR_REPORT_H
#define FACTEUR_REPORT_H

#include <stdint.h>

struct event_base;

#define FACTEUR_REPORT_KEYS(X) \
	X(received, "messages accepted for the domain (once per message and recipient domain)") \
	X(submitted, "messages accepted from an authenticated sender of the domain") \
	X(delivered, "recipients delivered") \
	X(deferred, "recipient delivery attempts deferred") \
	X(bounced, "recipients bounced") \
	X(reject_relay, "recipients refused: relay denied") \
	X(reject_policy, "refused by the policy (access lists, DNSBL, rates, greylisting, unknown users)") \
	X(reject_filter, "messages refused by the filter") \
	X(spam, "messages the filter found to be spam") \
	X(virus, "messages with a virus") \
	X(quarantined, "messages put in quarantine")

enum report_key {
#define X(name, text) REPORT_##name,
	FACTEUR_REPORT_KEYS(X)
#undef X
	REPORT_NKEYS
};

/* Names ("received") and descriptions of the keys. */
extern const char *const report_key_names[REPORT_NKEYS];
extern const char *const report_key_texts[REPORT_NKEYS];

/*
 * Count n events of key for the domain of addr (an address or a domain;
 * NULL, "" or no domain: "-").  Thread-safe; nothing is written yet.
 */
void report_count(const char *addr, enum report_key key, uint64_t n);
/* Write the counts once a minute from base's loop (and at report_flush). */
void report_init(struct event_base *base);
/* Write what is counted now (also at exit).  -1 if the database failed (logged). */
int report_flush(void);
/* The database's path (static buffer). */
const char *report_path(void);

#endif
