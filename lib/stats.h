/* SPDX-License-Identifier: MIT */
/*
 * stats - the shared-memory counters every daemon updates with atomics.
 *
 * The master creates $spool_directory/run/stats; daemons map it read-write,
 * facteurctl, facteur-agentx (SNMP) and facteur-metrics (Prometheus)
 * read-only.  No daemon is asked over a socket for numbers.  Counters only
 * grow; gauges are set (their help text ends in "(gauge)").  After the
 * counters, the master keeps a small table of its daemons: name, pid,
 * last start, restarts.
 */
#ifndef FACTEUR_STATS_H
#define FACTEUR_STATS_H

#include <stdint.h>

#define STATS_MAGIC 0x46535434u /* "FST4" */

#define FACTEUR_STATS(X) \
	X(smtpd_connections, "SMTP connections accepted") \
	X(smtpd_connections_active, "SMTP connections open now (gauge)") \
	X(smtpd_connections_refused, "connections refused by a connection limit") \
	X(smtpd_tls_sessions, "TLS sessions established by smtpd") \
	X(smtpd_auth_success, "successful AUTH") \
	X(smtpd_auth_failure, "failed AUTH") \
	X(smtpd_messages_accepted, "messages accepted (250 after DATA/BDAT)") \
	X(smtpd_bytes_accepted, "bytes of accepted messages") \
	X(smtpd_recipients_accepted, "recipients of accepted messages") \
	X(smtpd_reject_relay, "recipients refused: relay denied") \
	X(smtpd_reject_size, "messages refused: too large") \
	X(smtpd_reject_protocol, "commands refused: syntax or sequence") \
	X(smtpd_reject_bare_newline, "messages refused: bare LF or CR") \
	X(smtpd_reject_storage, "messages refused: queue write failed") \
	X(queue_commits, "group commits (one flush each)") \
	X(queue_committed_files, "queue files made durable") \
	X(lmtp_messages, "messages lmtpd delivered or tried to (end of DATA)") \
	X(lmtp_syncs, "group syncs of lmtpd (one syncfs of the store each; two per batch of messages)") \
	X(qmgr_delivered, "recipients delivered") \
	X(qmgr_deferred, "recipient delivery attempts deferred") \
	X(qmgr_bounced, "recipients bounced") \
	X(qmgr_bounces_sent, "bounce (DSN) messages created") \
	X(qmgr_delay_warnings, "delay notices created") \
	X(qmgr_connections, "SMTP client connections opened") \
	X(qmgr_connections_reused, "deliveries on a reused connection") \
	X(qmgr_tls_sessions, "TLS sessions established by the SMTP client") \
	X(queue_incoming, "messages in incoming (gauge)") \
	X(queue_active, "messages in active (gauge)") \
	X(queue_deferred, "messages in deferred (gauge)") \
	X(queue_hold, "messages in hold (gauge)") \
	X(master_daemon_restarts, "daemons restarted after an exit") \
	X(filter_messages, "messages through the filter") \
	X(filter_rules_ready, "rules compiled and in use: 1 yes, 0 no (gauge)") \
	X(filter_rules_loaded, "rules in use (gauge)") \
	X(filter_rules_unsupported, "rules that could not be compiled (gauge)") \
	X(filter_ham, "messages below the tag score") \
	X(filter_spam, "messages at or above the tag score") \
	X(filter_rejected, "messages refused by the filter (5xx)") \
	X(filter_tempfailed, "messages deferred by the filter (4xx)") \
	X(filter_quarantined, "messages quarantined") \
	X(filter_errors, "messages the filter could not check fully") \
	X(filter_scan_usec, "microseconds spent in end-of-data checks") \
	X(av_viruses, "viruses found") \
	X(av_scanned_bytes, "bytes scanned by the antivirus") \
	X(av_ready, "antivirus database loaded: 1 yes, 0 no (gauge)") \
	X(av_signatures, "antivirus signatures loaded (gauge)") \
	X(av_reloads, "antivirus database reloads") \
	X(auth_spf_pass, "SPF pass results") \
	X(auth_spf_fail, "SPF fail results") \
	X(auth_dkim_pass, "valid DKIM signatures") \
	X(auth_dkim_fail, "invalid DKIM signatures") \
	X(auth_dmarc_pass, "DMARC pass results") \
	X(auth_dmarc_fail, "DMARC fail results") \
	X(auth_dkim_signed, "outbound messages signed with DKIM") \
	X(bayes_classified, "messages scored by the learned classifier") \
	X(milter_calls, "messages passed to milters") \
	X(milter_rejects, "messages refused by a milter") \
	X(milter_errors, "milter failures (default action applied)") \
	X(policy_rejects, "commands refused by the policy (every reason)") \
	X(policy_unknown_recipient, "recipients refused: unknown, disabled or undeliverable") \
	X(policy_access_denied, "commands refused by a deny list") \
	X(policy_greylisted, "recipients deferred by greylisting") \
	X(policy_rate_limited, "connections, messages or recipients over a rate limit") \
	X(policy_dnsbl, "clients refused: DNSBL score over the threshold") \
	X(policy_rhsbl, "recipients refused: sender or HELO domain on an RHSBL") \
	X(policy_fcrdns, "recipients deferred: no forward-confirmed reverse DNS") \
	X(policy_helo, "recipients refused: invalid or non-FQDN HELO") \
	X(policy_pregreet, "clients that talked before the banner") \
	X(policy_pipelining, "clients that pipelined without PIPELINING")

#define STATS_DAEMONS 16
#define STATS_DAEMON_NAME 24

/*
 * One daemon of the master.  A row is added at the daemon's first start
 * and kept while the master runs (its order never changes); the master
 * alone writes it, each number with an atomic store.
 */
struct stats_daemon {
	char name[STATS_DAEMON_NAME];	/* written once, before the row is counted */
	uint64_t pid;		/* 0 while it is not running */
	uint64_t started;	/* time of its last start */
	uint64_t restarts;	/* restarts after it exited unasked */
	uint64_t exited;	/* time of its last unasked exit, 0 if none */
};

struct stats {
	uint32_t magic;
	uint32_t nfields;
	uint64_t started;	/* master start time */
#define STATS_FIELD(name, help) uint64_t name;
	FACTEUR_STATS(STATS_FIELD)
#undef STATS_FIELD
	uint32_t ndaemons;	/* rows of daemons in use (release/acquire) */
	uint32_t unused;
	struct stats_daemon daemons[STATS_DAEMONS];
};

/* The mapped segment of this process (a private dummy before stats_open). */
extern struct stats *stats;

#define STATS_INC(field) __atomic_add_fetch(&stats->field, 1, __ATOMIC_RELAXED)
#define STATS_ADD(field, n) __atomic_add_fetch(&stats->field, (uint64_t)(n), __ATOMIC_RELAXED)
#define STATS_DEC(field) __atomic_sub_fetch(&stats->field, 1, __ATOMIC_RELAXED)
#define STATS_SET(field, n) __atomic_store_n(&stats->field, (uint64_t)(n), __ATOMIC_RELAXED)
/* A number of a daemon's row, read or written whole. */
#define STATS_DAEMON_GET(d, field) __atomic_load_n(&(d)->field, __ATOMIC_RELAXED)
#define STATS_DAEMON_SET(d, field, n) __atomic_store_n(&(d)->field, (uint64_t)(n), __ATOMIC_RELAXED)

/* Create (or reset) the segment at path: the master does this.  -1 on error. */
int stats_create(const char *path, const char **error_r);
/* Map an existing segment; writable for daemons.  -1 on error. */
int stats_open(const char *path, int writable, const char **error_r);

/*
 * The master's row for daemon name: the existing one, or a new one; NULL
 * when the table is full (the daemon then goes without a row).
 */
struct stats_daemon *stats_daemon_row(const char *name);
/* Rows in use now, for readers: rows 0 .. count-1 have their name. */
unsigned int stats_daemon_count(void);

/* A counter's value, read whole (i indexes stats_fields). */
uint64_t stats_value(unsigned int i);
/* 1 if field i is a gauge (its help ends in "(gauge)"), 0 for a counter. */
int stats_is_gauge(unsigned int i);

struct stats_field {
	const char *name;
	const char *help;
	size_t offset;
};
extern const struct stats_field stats_fields[];
extern const unsigned int stats_nfields;

#endif
