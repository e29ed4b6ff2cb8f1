# SPDX-License-Identifier: MIT
# libFuzzer targets, one per parser: built with clang by run.sh straight
# from their sources (not by make, whose CC may be gcc).  "make fuzz" runs
# each for FUZZ_SECONDS on a copy of its seed corpus.
FUZZ_SECONDS = 20
fuzz:
	$(SHELL) $(top_srcdir)/tests/fuzz/run.sh $(top_builddir) $(FUZZ_SECONDS)
.PHONY: fuzz

EXTRA_DIST += \
	tests/fuzz/run.sh \
	tests/fuzz/fuzz_mime.c \
	tests/fuzz/fuzz_mime_header.c \
	tests/fuzz/corpus/fuzz_mime_header/encoded-words \
	tests/fuzz/corpus/fuzz_mime_header/content-type-2231 \
	tests/fuzz/corpus/fuzz_mime_header/disposition \
	tests/fuzz/fuzz_queue_file.c \
	tests/fuzz/fuzz_sa_rules.c \
	tests/fuzz/fuzz_received.c \
	tests/fuzz/fuzz_rules_relax.c \
	tests/fuzz/corpus/fuzz_rules_relax/anchors \
	tests/fuzz/corpus/fuzz_rules_relax/lookaround \
	tests/fuzz/corpus/fuzz_rules_relax/backref \
	tests/fuzz/corpus/fuzz_rules_relax/factor-quantified \
	tests/fuzz/corpus/fuzz_rules_relax/factor-repeated \
	tests/fuzz/corpus/fuzz_rules_relax/factor-tags \
	tests/fuzz/corpus/fuzz_rules_relax/repeat-part \
	tests/fuzz/corpus/fuzz_rules_relax/widen-classes \
	tests/fuzz/corpus/fuzz_rules_relax/widen-entities \
	tests/fuzz/corpus/fuzz_rules_relax/widen-letters \
	tests/fuzz/corpus/fuzz_received/postfix-chain \
	tests/fuzz/corpus/fuzz_received/exim-qmail-exchange \
	tests/fuzz/corpus/fuzz_received/odd \
	tests/fuzz/fuzz_smtp_command.c \
	tests/fuzz/fuzz_smtp_reply.c \
	tests/fuzz/fuzz_milter_proto.c \
	tests/fuzz/corpus/fuzz_milter_proto/bad \
	tests/fuzz/corpus/fuzz_milter_proto/changes \
	tests/fuzz/corpus/fuzz_milter_proto/dkim-sign \
	tests/fuzz/corpus/fuzz_milter_proto/reject \
	tests/fuzz/fuzz_policy_proto.c \
	tests/fuzz/fuzz_dnsbl_sites.c \
	tests/fuzz/fuzz_imap_command.c \
	tests/fuzz/corpus/fuzz_imap_command/login-fetch \
	tests/fuzz/corpus/fuzz_imap_command/append-search \
	tests/fuzz/corpus/fuzz_imap_command/bad \
	tests/fuzz/fuzz_imap_message.c \
	tests/fuzz/corpus/fuzz_imap_message/alternative \
	tests/fuzz/corpus/fuzz_imap_message/broken \
	tests/fuzz/corpus/fuzz_imap_message/plain-crlf \
	tests/fuzz/corpus/fuzz_imap_message/qp-bare-lf \
	tests/fuzz/corpus/fuzz_imap_message/rfc822-nested \
	tests/fuzz/corpus/fuzz_imap_message/threads \
	tests/fuzz/fuzz_api_json.c \
	tests/fuzz/corpus/fuzz_api_json/account-create \
	tests/fuzz/corpus/fuzz_api_json/account-patch \
	tests/fuzz/corpus/fuzz_api_json/admin \
	tests/fuzz/corpus/fuzz_api_json/bad \
	tests/fuzz/corpus/fuzz_api_json/domain \
	tests/fuzz/corpus/fuzz_api_json/group \
	tests/fuzz/corpus/fuzz_api_json/profile \
	tests/fuzz/fuzz_csv.c \
	tests/fuzz/corpus/fuzz_csv/accounts \
	tests/fuzz/corpus/fuzz_csv/bad \
	tests/fuzz/corpus/fuzz_csv/semicolon-bom \
	tests/fuzz/fuzz_mbox.c \
	tests/fuzz/corpus/fuzz_mbox/rd \
	tests/fuzz/corpus/fuzz_mbox/crlf-truncated \
	tests/fuzz/corpus/fuzz_mbox/bad \
	tests/fuzz/fuzz_sieve.c \
	tests/fuzz/corpus/fuzz_sieve/bad \
	tests/fuzz/corpus/fuzz_sieve/body-vacation \
	tests/fuzz/corpus/fuzz_sieve/rfc5228-example \
	tests/fuzz/corpus/fuzz_sieve/variables-flags \
	tests/fuzz/corpus/fuzz_dnsbl_sites/weighted \
	tests/fuzz/corpus/fuzz_dnsbl_sites/bad \
	tests/fuzz/corpus/fuzz_policy_proto/bad-line \
	tests/fuzz/corpus/fuzz_policy_proto/crlf-pipelined \
	tests/fuzz/corpus/fuzz_policy_proto/empty-name \
	tests/fuzz/corpus/fuzz_policy_proto/rcpt \
	tests/fuzz/corpus/fuzz_mime/alternative \
	tests/fuzz/corpus/fuzz_mime/broken \
	tests/fuzz/corpus/fuzz_mime/plain-crlf \
	tests/fuzz/corpus/fuzz_mime/qp-bare-lf \
	tests/fuzz/corpus/fuzz_mime/rfc822-nested \
	tests/fuzz/corpus/fuzz_queue_file/bounce \
	tests/fuzz/corpus/fuzz_queue_file/full \
	tests/fuzz/corpus/fuzz_sa_rules/basic.cf \
	tests/fuzz/corpus/fuzz_sa_rules/cond.cf \
	tests/fuzz/corpus/fuzz_sa_rules/misc.cf \
	tests/fuzz/corpus/fuzz_smtp_command/auth \
	tests/fuzz/corpus/fuzz_smtp_command/bdat \
	tests/fuzz/corpus/fuzz_smtp_command/ehlo \
	tests/fuzz/corpus/fuzz_smtp_command/http \
	tests/fuzz/corpus/fuzz_smtp_command/mail-dsn \
	tests/fuzz/corpus/fuzz_smtp_command/mail-null \
	tests/fuzz/corpus/fuzz_smtp_command/rcpt-dsn \
	tests/fuzz/corpus/fuzz_smtp_command/rcpt-percent \
	tests/fuzz/corpus/fuzz_smtp_command/rcpt-postmaster \
	tests/fuzz/corpus/fuzz_smtp_command/rcpt-route-quoted \
	tests/fuzz/corpus/fuzz_smtp_command/rcpt-utf8 \
	tests/fuzz/corpus/fuzz_smtp_reply/ehlo \
	tests/fuzz/corpus/fuzz_smtp_reply/greeting \
	tests/fuzz/corpus/fuzz_smtp_reply/multiline-lf \
	tests/fuzz/corpus/fuzz_smtp_reply/pipelined \
	tests/fuzz/corpus/fuzz_smtp_reply/shutdown
