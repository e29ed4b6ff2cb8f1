#!/bin/sh
# SPDX-License-Identifier: MIT
# Integration tests: start the real facteur daemons on loopback in temporary
# directories and talk to them with real clients (pytest, see conftest.py).
# Called by "make check" with FACTEUR_BUILDDIR and FACTEUR_SRCDIR set; by hand:
#   FACTEUR_BUILDDIR=/path/to/build tests/integration/run.sh [pytest args]
# Exit status: pytest's (77, "skipped", when pytest is missing).
here=$(cd "$(dirname "$0")" && pwd)
FACTEUR_SRCDIR=${FACTEUR_SRCDIR:-$(cd "$here/../.." && pwd)}
FACTEUR_BUILDDIR=${FACTEUR_BUILDDIR:-$(pwd)}
export FACTEUR_SRCDIR FACTEUR_BUILDDIR
# Debian's python3-pytest lives with the system interpreter.
PYTHON=${PYTHON:-/usr/bin/python3}
if ! "$PYTHON" -c 'import pytest' 2>/dev/null; then
	echo "run.sh: $PYTHON has no pytest (apt-get install python3-pytest): skipped"
	exit 77
fi
# The source tree may be read-only (distcheck): no caches in it.
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
cd "$FACTEUR_SRCDIR" || exit 1
exec "$PYTHON" -m pytest -p no:cacheprovider -v -rfEsx tests/integration "$@"
