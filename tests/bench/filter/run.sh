#!/bin/sh
# SPDX-License-Identifier: MIT
# Filter benchmark: facteur's before-queue filter vs Postfix+rspamd+clamav-milter,
# spamd and clamd, on the same messages (see bench.py for what is measured).
# Usage: tests/bench/filter/run.sh [BUILDDIR [MESSAGE_DIR]]   (run as root; not part of the tests)
# BENCH_QUICK=1 for a 300-message development run.
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
