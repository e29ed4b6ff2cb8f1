# SPDX-License-Identifier: MIT
# tests/bench/imap: the IMAP benchmark, facteur's lmtpd and imapd against
# Dovecot (tests/bench/imap/run.sh, run by hand, never by make check).
# bench.py compiles the load generator, imapload.c, itself (cc -O2, OpenSSL).
EXTRA_DIST += tests/bench/imap/run.sh tests/bench/imap/bench.py \
	tests/bench/imap/imapload.c tests/bench/imap/README.md
