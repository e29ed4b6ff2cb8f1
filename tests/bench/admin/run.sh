#!/bin/sh
# SPDX-License-Identifier: MIT
# Directory administration benchmark: facteurctl import/export of 100,000 accounts in CSV.
# Usage: tests/bench/admin/run.sh [BUILDDIR]   (by hand; not part of the tests)
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
