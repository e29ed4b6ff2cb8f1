#!/bin/sh
# SPDX-License-Identifier: MIT
# IMAP benchmark: facteur's lmtpd and imapd vs Dovecot 2.3, same accounts, same mail.
# Usage: tests/bench/imap/run.sh [-s SESSIONS] [-r ROUNDS] [-m MESSAGES] [--help] [BUILDDIR]
# (run as root; not part of the tests)
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
