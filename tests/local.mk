# SPDX-License-Identifier: MIT
include tests/unit/local.mk
include tests/fuzz/local.mk
include tests/integration/local.mk
include tests/bench/filter/local.mk
include tests/bench/policy/local.mk
include tests/bench/imap/local.mk
# tests/bench/relay: facteur against Postfix as a relay (run by hand).
EXTRA_DIST += tests/bench/relay/run.sh tests/bench/relay/bench.py
# tests/bench/admin: CSV import of 100,000 accounts (run by hand).
EXTRA_DIST += tests/bench/admin/run.sh tests/bench/admin/bench.py
