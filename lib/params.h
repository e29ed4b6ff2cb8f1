/* SPDX-License-Identifier: MIT */
/*
 * params - every configuration parameter of facteur, declared once.
 *
 * Each X(TYPE, name, default, help) line declares var_<name> with its default;
 * lib/config.c parses facteur.conf against this table, so an unknown key or
 * a bad value is a start-up error naming the file and line.  Types:
 *   STR  a string              INT  a non-negative integer
 *   BOOL yes/no/true/false/1/0 TIME seconds, with optional s/m/h/d/w suffix
 *   SIZE bytes, with optional k/m/g suffix (powers of 1024)
 *   LIST a string holding a comma/space separated list
 * Defaults are safe: nothing relays, nothing listens with a default password.
 */
#ifndef FACTEUR_PARAMS_H
#define FACTEUR_PARAMS_H

#ifndef FACTEUR_SPOOL_DIR
#define FACTEUR_SPOOL_DIR "/var/spool/facteur"
#endif
#ifndef FACTEUR_DAEMON_DIR
#define FACTEUR_DAEMON_DIR "/usr/libexec/facteur"
#endif

#define FACTEUR_PARAMS(X) \
	/* general */ \
	X(STR, myhostname, "", "host name in banners, Received and HELO (default: the system's)") \
	X(STR, spool_directory, FACTEUR_SPOOL_DIR, "queue, run and delivery directories") \
	X(STR, daemon_directory, FACTEUR_DAEMON_DIR, "where the master finds smtpd and qmgr") \
	X(STR, mail_owner, "facteur", "unprivileged user the daemons run as when started by root") \
	X(STR, log_level, "info", "error, warn, info or debug") \
	/* smtpd */ \
	X(LIST, smtp_listen, "0.0.0.0:25", "MX listeners (host:port list; empty disables)") \
	X(LIST, submission_listen, "0.0.0.0:587", "submission listeners: STARTTLS then AUTH required") \
	X(LIST, smtps_listen, "0.0.0.0:465", "submission listeners with implicit TLS") \
	X(STR, smtpd_banner, "", "greeting text after 220 (default: \"$myhostname ESMTP facteur\")") \
	X(LIST, local_domains, "", "domains whose mail is delivered here") \
	X(LIST, relay_domains, "", "domains accepted from anyone and relayed to their next hop") \
	X(LIST, mynetworks, "127.0.0.0/8, ::1/128", "client networks allowed to relay anywhere") \
	X(SIZE, message_size_limit, "26214400", "largest message accepted, in bytes") \
	X(INT, smtpd_recipient_limit, "1000", "recipients per message") \
	X(SIZE, smtpd_line_length_limit, "2048", "longest SMTP command line, CRLF included") \
	X(SIZE, smtpd_data_line_length_limit, "65536", "longest message line, CRLF included") \
	X(INT, smtpd_error_limit, "10", "errors per session before it is closed with 421") \
	X(TIME, smtpd_timeout, "300", "idle time allowed for a command") \
	X(TIME, smtpd_data_timeout, "600", "idle time allowed while receiving message data") \
	X(INT, smtpd_client_connection_limit, "50", "simultaneous connections per client IP") \
	X(INT, smtpd_connection_limit, "5000", "simultaneous SMTP connections in all") \
	X(STR, smtpd_bare_newline, "reject", "bare LF or CR in message data: reject or normalize") \
	X(INT, smtpd_hop_limit, "50", "Received headers beyond which a message is a loop") \
	X(STR, smtpd_tls_cert_file, "", "PEM certificate chain (empty: an in-memory self-signed one)") \
	X(STR, smtpd_tls_key_file, "", "PEM private key for smtpd_tls_cert_file") \
	X(STR, smtpd_auth_file, "", "user:crypt-hash lines for AUTH (empty: no AUTH)") \
	X(SIZE, queue_minfree, "0", "free spool space required before MAIL, beyond 1.5 x SIZE") \
	X(STR, queue_sync, "syncfs", "group commit: syncfs (one flush per batch) or fsync (per file)") \
	/* qmgr and SMTP client */ \
	X(STR, relayhost, "", "next hop for all non-local mail ([host]:port or host)") \
	X(STR, local_transport, "", "next hop for local domains (default: file:$spool_directory/mailbox)") \
	X(INT, smtp_default_port, "25", "port of MX hosts and of next hops without one") \
	X(INT, destination_concurrency_limit, "20", "parallel connections per destination") \
	X(INT, destination_recipient_limit, "50", "recipients per SMTP transaction") \
	X(TIME, smtp_connect_timeout, "30", "TCP and TLS connection time limit") \
	X(TIME, smtp_timeout, "300", "time limit for each reply of the next hop") \
	X(TIME, smtp_connection_reuse_time, "5", "how long an idle connection is kept for reuse") \
	X(STR, smtp_tls_policy, "may", "default TLS policy: none, may, encrypt or verify") \
	X(STR, smtp_tls_ca_file, "", "CA bundle for verify (empty: the system's)") \
	X(STR, smtp_helo_name, "", "EHLO name (default: $myhostname)") \
	X(TIME, minimal_backoff_time, "300", "first retry delay of a deferred message") \
	X(TIME, maximal_backoff_time, "4000", "longest retry delay") \
	X(TIME, queue_run_delay, "60", "how often the deferred queue is scanned") \
	X(TIME, maximal_queue_lifetime, "5d", "age at which a deferred message is bounced") \
	X(TIME, bounce_queue_lifetime, "5d", "the same for bounces (null sender)") \
	X(TIME, delay_warning_time, "4h", "age at which a delay notice is sent (0: never)") \
	X(STR, dns_forwarder, "", "resolver to forward to (ip[@port]; empty: /etc/resolv.conf)")

#define PARAM_DECL_STR(name) extern char *var_##name;
#define PARAM_DECL_LIST(name) extern char *var_##name;
#define PARAM_DECL_INT(name) extern long var_##name;
#define PARAM_DECL_BOOL(name) extern int var_##name;
#define PARAM_DECL_TIME(name) extern long var_##name;
#define PARAM_DECL_SIZE(name) extern long var_##name;
#define PARAM_DECL(type, name, def, help) PARAM_DECL_##type(name)
FACTEUR_PARAMS(PARAM_DECL)
#undef PARAM_DECL

#endif
