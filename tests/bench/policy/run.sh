#!/bin/sh
# SPDX-License-Identifier: MIT
# Policy benchmark: facteur's policyd vs postfwd, and the policy's cost in the relay.
# Usage: tests/bench/policy/run.sh [BUILDDIR]   (run as root; not part of the tests)
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
