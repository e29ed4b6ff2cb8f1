#!/bin/sh
# SPDX-License-Identifier: MIT
# Relay benchmark: facteur vs Postfix, both relaying to one smtp-sink.
# Usage: tests/bench/relay/run.sh [BUILDDIR]   (run as root; not part of the tests)
exec /usr/bin/python3 "$(dirname "$0")/bench.py" "$@"
