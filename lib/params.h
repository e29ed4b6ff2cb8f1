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
 *   NUM  a decimal number (scores), possibly negative
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
	X(STR, daemon_directory, FACTEUR_DAEMON_DIR, "where the master finds smtpd, qmgr and the optional daemons (policyd, lmtpd, imapd, managesieved)") \
	X(STR, mail_owner, "facteur", "unprivileged user the daemons run as when started by root") \
	X(STR, log_level, "info", "error, warn, info or debug") \
	/* smtpd */ \
	X(LIST, smtp_listen, "0.0.0.0:25", "MX listeners (host:port list; empty disables)") \
	X(LIST, submission_listen, "0.0.0.0:587", "submission listeners: STARTTLS then AUTH required") \
	X(LIST, smtps_listen, "0.0.0.0:465", "submission listeners with implicit TLS") \
	X(STR, smtpd_banner, "", "greeting text after 220 (default: \"$myhostname ESMTP facteur\")") \
	X(BOOL, smtpd_peername_lookup, "yes", "look up the client's name before the banner (PTR, then its A/AAAA must give the client's address back); no: every client is \"unknown\"") \
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
	X(STR, smtpd_auth_file, "", "user:crypt-hash lines for AUTH of names that are not directory accounts (AUTH is offered when this or the directory has users)") \
	X(SIZE, queue_minfree, "0", "free spool space required before MAIL, beyond 1.5 x SIZE") \
	X(STR, queue_sync, "syncfs", "group commit: syncfs (one flush per batch) or fsync (per file)") \
	X(INT, queue_file_reuse_limit, "1000", "emptied queue files kept in free/ for new messages instead of creating files (0: none)") \
	/* qmgr and SMTP client */ \
	X(STR, relayhost, "", "next hop for all non-local mail ([host]:port or host)") \
	X(STR, local_transport, "", "next hop for local domains (default: lmtpd's lmtp_listen when set, else file:$spool_directory/mailbox)") \
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
	X(STR, dns_forwarder, "", "resolver to forward to (ip[@port]; empty: /etc/resolv.conf)") \
	/* filter: pipeline and actions */ \
	X(BOOL, filter_enable, "yes", "filter every message before it is queued") \
	X(INT, filter_workers, "2", "threads that finish messages in smtpd and in facteur-milter (each)") \
	X(LIST, filter_rules, "/usr/share/spamassassin", "SpamAssassin rule directories or files, in order (empty: none)") \
	X(STR, filter_rules_config, "/etc/spamassassin", "directory of local.cf and *.pre, read after the rules (empty: none)") \
	X(STR, filter_rules_cache, "", "compiled rules cache (default: $spool_directory/rules-cache)") \
	X(SIZE, filter_max_body_scan, "1m", "text bytes of a message given to body and rawbody rules and the classifier, all parts together") \
	X(SIZE, filter_body_part_scan_size, "50000", "characters of a part's text given to body rules and the classifier (SpamAssassin's body_part_scan_size; 0: all)") \
	X(SIZE, filter_rawbody_part_scan_size, "500000", "bytes of a part given to rawbody rules (SpamAssassin's rawbody_part_scan_size; 0: all)") \
	X(NUM, spam_tag_score, "5", "score from which X-Spam-Flag: YES is added") \
	X(NUM, spam_subject_score, "1000", "score from which the subject is tagged") \
	X(STR, spam_subject_tag, "[SPAM]", "text put before a tagged subject, with a space") \
	X(NUM, spam_quarantine_score, "1000", "score from which the message is quarantined") \
	X(NUM, spam_reject_score, "15", "score from which the message is refused with 550 5.7.1") \
	X(BOOL, filter_trusted_bypass, "no", "skip spam scoring for authenticated and mynetworks clients") \
	X(STR, filter_failure_action, "accept", "when the filter fails: accept (tagged FILTER_ERROR) or tempfail") \
	/* filter: antivirus */ \
	X(BOOL, av_enable, "yes", "scan messages with libclamav") \
	X(STR, av_database_directory, "/var/lib/clamav", "ClamAV signature databases") \
	X(TIME, av_reload_check_interval, "60", "how often the database directory is checked for changes") \
	X(SIZE, av_max_scan_size, "100m", "data scanned per message at most") \
	X(SIZE, av_max_file_size, "25m", "largest file scanned (archive members included)") \
	X(INT, av_max_recursion, "17", "archive nesting scanned at most (clamd's default)") \
	X(INT, av_max_files, "10000", "files scanned per message at most") \
	X(BOOL, av_cache, "yes", "remember the hashes of clean data so that the same attachment is scanned once") \
	X(STR, av_temp_directory, "/dev/shm", "where ClamAV unpacks a message while scanning it (tmpfs)") \
	X(BOOL, av_block_encrypted, "no", "report encrypted archives as Heuristics.Encrypted") \
	X(STR, av_not_ready_action, "accept", "while no database is loaded: accept or tempfail") \
	/* filter: sender authentication */ \
	X(BOOL, spf_enable, "yes", "check SPF (RFC 7208) with libspf2") \
	X(BOOL, dkim_verify, "yes", "verify DKIM signatures (RFC 6376) with libopendkim") \
	X(BOOL, dmarc_enable, "yes", "evaluate DMARC (RFC 7489) with libopendmarc") \
	X(BOOL, dmarc_honor_policy, "yes", "apply the sender domain's p= (reject/quarantine) and pct") \
	X(BOOL, arc_enable, "yes", "verify ARC chains (RFC 8617) and seal relayed mail") \
	X(STR, authserv_id, "", "authserv-id of Authentication-Results (default: $myhostname)") \
	X(STR, arc_seal_domain, "", "seal relayed mail with ARC as this domain (key DOMAIN/SELECTOR.private in dkim_key_directory; empty: no sealing)") \
	X(STR, arc_seal_selector, "arc", "selector of the ARC sealing key") \
	X(BOOL, dkim_sign, "yes", "sign mail of authenticated and mynetworks clients with the sender domain's key") \
	X(STR, dkim_key_directory, "", "DKIM keys as DOMAIN/SELECTOR.private (default: $spool_directory/dkim)") \
	X(STR, dkim_sign_headers, "From:Reply-To:Subject:Date:To:Cc:Message-ID:In-Reply-To:References:MIME-Version:Content-Type:Content-Transfer-Encoding", "header fields signed") \
	/* filter: learned classifier */ \
	X(BOOL, bayes_enable, "yes", "score with the learned classifier once trained") \
	X(STR, bayes_database, "", "classifier state (SQLite; default: $spool_directory/filter/bayes.db)") \
	X(INT, bayes_min_learned, "200", "messages of each class learned before it scores") \
	X(INT, bayes_memory_tokens, "1000000", "classifier tokens read into memory for scoring at most (more: looked up in SQLite)") \
	/* directory and recipients */ \
	X(STR, directory_database, "", "domains, accounts, aliases, access lists (SQLite; default: $spool_directory/directory.db)") \
	X(TIME, verify_positive_ttl, "7d", "how long a recipient the next hop accepted is remembered") \
	X(TIME, verify_negative_ttl, "3h", "how long a recipient the next hop refused is remembered") \
	X(TIME, verify_timeout, "30", "time limit of a recipient probe of the next hop") \
	/* policy: shared state */ \
	X(STR, policy_state, "", "greylist and rate counters: sqlite:PATH or redis:HOST:PORT or redis:unix:PATH (default: sqlite:$spool_directory/policy/state.db)") \
	X(STR, policy_state_password, "", "password of the Redis server (AUTH), if it needs one") \
	/* policy: greylisting */ \
	X(BOOL, greylist_enable, "no", "answer 450 to the first delivery attempt of an unknown (client network, sender, recipient)") \
	X(TIME, greylist_delay, "300", "how long a new triplet is refused") \
	X(TIME, greylist_retry_window, "1d", "how long after the first attempt a retry still counts") \
	X(TIME, greylist_lifetime, "36d", "how long a triplet that passed is remembered since its last use") \
	X(INT, greylist_auto_allow, "5", "triplets passed after which the client network skips greylisting (0: never)") \
	X(INT, greylist_ipv4_prefix, "24", "client IPv4 network of a triplet, in bits") \
	X(INT, greylist_ipv6_prefix, "64", "client IPv6 network of a triplet, in bits") \
	/* policy: rate limits (COUNT/PERIOD, empty: no limit) */ \
	X(STR, client_connection_rate_limit, "", "connections per client network (421 4.7.0)") \
	X(STR, client_message_rate_limit, "", "messages per client network (450 4.7.1 at MAIL)") \
	X(STR, client_recipient_rate_limit, "", "recipients per client network (450 4.7.1 at RCPT)") \
	X(STR, sender_message_rate_limit, "", "messages per envelope sender from unauthenticated clients") \
	X(STR, user_message_rate_limit, "", "messages per authenticated user (outbound submission)") \
	X(STR, user_recipient_rate_limit, "", "recipients per authenticated user (outbound submission)") \
	X(STR, domain_recipient_rate_limit, "", "recipients per recipient domain, from unauthenticated clients") \
	X(INT, rate_limit_ipv4_prefix, "32", "client IPv4 network counted together, in bits") \
	X(INT, rate_limit_ipv6_prefix, "64", "client IPv6 network counted together, in bits") \
	/* policy: connection-time checks */ \
	X(LIST, dnsbl_sites, "", "DNSBL/DNSWL zones as zone[=127.0.0.N filter][*weight]; a negative weight lists good clients") \
	X(NUM, dnsbl_threshold, "1", "summed weight from which a client is blocked") \
	X(NUM, dnsbl_allowlist_threshold, "0", "summed weight at or below which a client skips greylisting and the other checks (negative enables)") \
	X(STR, dnsbl_action, "enforce", "blocked client: enforce (550 at each RCPT), drop (521 at connect) or ignore (log only)") \
	X(LIST, rhsbl_sender_sites, "", "domain lists (zone[=filter]) checked for the sender's domain (554 5.7.1 at RCPT)") \
	X(LIST, rhsbl_helo_sites, "", "domain lists (zone[=filter]) checked for the HELO name (554 5.7.1 at RCPT)") \
	X(BOOL, require_fcrdns, "no", "refuse (450 4.7.25) clients whose reverse DNS does not resolve back to them") \
	X(TIME, smtpd_greet_pause, "0", "wait before the banner; a client talking first is a pregreet (0: no wait)") \
	X(STR, smtpd_pregreet_action, "enforce", "client talking before the banner: enforce (550 at each RCPT), drop (521) or ignore") \
	X(STR, smtpd_pipelining_action, "enforce", "client pipelining without PIPELINING: enforce, drop or ignore") \
	X(BOOL, reject_invalid_helo, "yes", "refuse (501 5.5.2 at RCPT) a HELO name that is not a host name or address literal") \
	X(BOOL, reject_non_fqdn_helo, "no", "refuse (504 5.5.2 at RCPT) a HELO name without a dot") \
	/* mailbox store */ \
	X(STR, mail_store_directory, "", "message blobs and per-account indexes (default: $spool_directory/store)") \
	X(STR, lmtp_listen, "", "LMTP server of the store (unix:/path or inet:host:port; empty: lmtpd not started)") \
	X(STR, lmtp_quota_status, "permanent", "over quota at delivery: permanent (552 5.2.2) or temporary (452 4.2.2)") \
	X(SIZE, default_quota, "0", "mailbox quota of accounts without a profile (0: none)") \
	X(LIST, imap_listen, "", "IMAP listeners, STARTTLS (host:port list; empty disables)") \
	X(LIST, imaps_listen, "", "IMAP listeners with implicit TLS (host:port list; empty disables)") \
	X(TIME, imap_idle_timeout, "30m", "idle time allowed before an IMAP session is closed (IDLE included)") \
	X(INT, imap_processes, "0", "imapd processes sharing the IMAP listeners (0: three per CPU, so that a commit waiting for its fsync leaves other sessions served)") \
	X(INT, lmtp_processes, "0", "lmtpd processes sharing lmtp_listen (0: one per CPU)") \
	X(STR, lmtp_sync, "group", "how lmtpd makes deliveries durable before its replies: group (one syncfs of the store for all deliveries pending in a worker) or fsync (each file and commit; for a store where syncfs is not a real flush, e.g. a network file system)") \
	X(STR, imap_flag_sync, "normal", "imapd's index changes that bring no message and give back none (STORE, the Seen flag set by FETCH, CREATE, RENAME, SUBSCRIBE): normal (committed, not fsync'd: a power loss may undo the last of them, never corrupts the index) or full (each fsync'd); APPEND, COPY, MOVE, EXPUNGE, DELETE and SETACL are always fsync'd") \
	X(BOOL, imap_junk_learning, "yes", "messages users move into Junk are learned as spam by the classifier, out of Junk (not to Trash) as ham") \
	X(LIST, managesieve_listen, "", "ManageSieve listeners (host:port list; empty disables)") \
	X(INT, auth_failure_limit, "10", "failed logins per client address within auth_failure_window before logins are refused") \
	X(TIME, auth_failure_window, "10m", "window of auth_failure_limit") \
	X(STR, ldap_uri, "", "LDAP server(s) checking the passwords of accounts whose password source is ldap (ldap:// or ldaps:// URIs, space separated, tried in order; empty: LDAP off)") \
	X(BOOL, ldap_starttls, "no", "STARTTLS on ldap:// connections; a failure is a temporary authentication failure") \
	X(STR, ldap_tls_ca_file, "", "CA bundle verifying the LDAP server's certificate (empty: the system's)") \
	X(STR, ldap_bind_dn, "", "DN the search of the user's entry binds as (empty: anonymous)") \
	X(STR, ldap_bind_password, "", "password of ldap_bind_dn") \
	X(STR, ldap_base, "", "base DN of the search of the user's entry") \
	X(STR, ldap_scope, "sub", "scope of that search: sub, one or base") \
	X(STR, ldap_user_filter, "(&(objectClass=inetOrgPerson)(mail=%s))", "filter finding the user's entry: %s the login address, %u its local part, %d its domain (RFC 4515-escaped), %% a percent sign") \
	X(TIME, ldap_timeout, "5", "time limit of each LDAP step: connection, search, bind") \
	X(STR, ldap_accounts, "directory-only", "which logins LDAP checks: directory-only (accounts whose password source is ldap) or any-local-domain (also addresses of local domains that are no account)") \
	/* monitoring: SNMP subagent and Prometheus endpoint */ \
	X(STR, snmp_agentx_socket, "", "AgentX socket of the master SNMP agent (/var/agentx/master, unix:/path or tcp:host:port; empty: facteur-agentx not started)") \
	X(INT, snmp_queue_threshold, "0", "messages in the queue beyond which facteur-agentx sends facteurQueueOverThreshold (0: never)") \
	X(INT, snmp_disk_threshold_percent, "90", "use of the spool's file system, in percent, from which facteur-agentx sends facteurDiskNearlyFull (0: never)") \
	X(LIST, metrics_listen, "", "Prometheus /metrics listeners of facteur-metrics (host:port list; empty: not started)") \
	/* admin REST API */ \
	X(LIST, admin_api_listen, "", "HTTPS listeners of facteur-apid, the admin REST API (host:port list; empty: not started)") \
	X(STR, admin_api_tls_cert_file, "", "PEM certificate chain of the admin API (empty: smtpd_tls_cert_file and smtpd_tls_key_file)") \
	X(STR, admin_api_tls_key_file, "", "PEM private key for admin_api_tls_cert_file") \
	X(TIME, admin_api_token_lifetime, "8h", "how long an admin API token is valid after the login that made it") \
	/* policy delegation service */ \
	X(STR, policy_listen, "", "Postfix policy service socket (unix:/path or inet:host:port; empty: not started)") \
	/* milter */ \
	X(LIST, smtpd_milters, "", "milters smtpd calls for each message (unix:/path or inet:port@host)") \
	X(STR, milter_default_action, "tempfail", "when a milter fails: accept, reject or tempfail") \
	X(TIME, milter_timeout, "30", "time limit for each milter reply") \
	X(STR, milter_listen, "unix:$spool_directory/run/milter", "socket of facteur-milter (unix:/path or inet:port@host)")

#define PARAM_DECL_STR(name) extern char *var_##name;
#define PARAM_DECL_LIST(name) extern char *var_##name;
#define PARAM_DECL_INT(name) extern long var_##name;
#define PARAM_DECL_BOOL(name) extern int var_##name;
#define PARAM_DECL_TIME(name) extern long var_##name;
#define PARAM_DECL_SIZE(name) extern long var_##name;
#define PARAM_DECL_NUM(name) extern double var_##name;
#define PARAM_DECL(type, name, def, help) PARAM_DECL_##type(name)
FACTEUR_PARAMS(PARAM_DECL)
#undef PARAM_DECL

#endif
