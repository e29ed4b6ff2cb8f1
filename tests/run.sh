#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/run.sh - the whole test suite, as CI runs it.
#
#  1. build with warnings as errors and run `make check` (cmocka unit tests,
#     including the compilation of Debian's whole SpamAssassin rule set,
#     and the integration tests against the real daemons);
#  2. build again with AddressSanitizer + UndefinedBehaviorSanitizer and
#     run `make check` under them;
#  3. build every libFuzzer target and run each briefly;
#  4. `make distcheck` (the tarball builds and passes its unit tests).
#  5. the appliance boot test, fast route (tests/appliance/run; root only).
# FACTEUR_QUICK=1 stops after step 1.  Prints "N passed, N failed" last.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
passed=0
failed=0
status=0

step() { printf '\n=== %s\n' "$*"; }

# Count results of one build's make check: cmocka and pytest both report.
count_results() {
	local dir=$1 p f
	p=$(cat "$dir"/tests/unit/*.log 2>/dev/null | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	f=$(cat "$dir"/tests/unit/*.log 2>/dev/null | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p)); failed=$((failed + f))
	p=$(grep -hoE '[0-9]+ passed' "$dir"/tests/integration/*.log 2>/dev/null | tail -1 | awk '{print $1+0}')
	f=$(grep -hoE '[0-9]+ (failed|error)' "$dir"/tests/integration/*.log 2>/dev/null | tail -1 | awk '{print $1+0}')
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

# What failed in one build, said again at the end (CI shows the output's
# last lines): the failed tests' names and their assertion lines.
mkdir -p "$src/build"
digest=$src/build/failures.txt
: >"$digest"
add_digest() {
	local dir=$1
	{
		echo "--- $dir"
		grep -h "^FAIL: " "$dir"/test-suite.log 2>/dev/null
		grep -h '^\[  FAILED  \] ' "$dir"/tests/unit/*.log 2>/dev/null | head -20
		grep -hE '^(FAILED|ERROR) ' "$dir"/tests/integration/*.log 2>/dev/null | head -20
		grep -hE '^E  |^[^ ]+\.py:[0-9]+: ' "$dir"/tests/integration/*.log 2>/dev/null | head -150
	} >>"$digest"
}

build_and_check() {
	local dir=$1; shift
	mkdir -p "$dir"
	(cd "$dir" && "$src"/configure -q "$@" && make -j2 >/dev/null) || { echo "build in $dir failed"; status=1; failed=$((failed + 1)); return 1; }
	if ! (cd "$dir" && make -j2 check); then
		status=1
		cat "$dir"/test-suite.log 2>/dev/null | tail -200
		add_digest "$dir"
	fi
	count_results "$dir"
}

step "autoreconf"
autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; exit 1; }

# The filter's agreement test compiles Debian's rules once for every build
# (and distcheck): Hyperscan's databases do not depend on the sanitizers.
FACTEUR_TEST_RULES_CACHE=$src/build/rules-cache
export FACTEUR_TEST_RULES_CACHE
mkdir -p "$FACTEUR_TEST_RULES_CACHE"

step "build (warnings are errors) and make check"
# The whole Debian SpamAssassin rule set is compiled once here (minutes of
# CPU in Hyperscan), not again under the sanitizers.
FACTEUR_TEST_SA_RULES=1 build_and_check build --enable-werror

if [ -z "${FACTEUR_QUICK:-}" ]; then
	step "build with ASan+UBSan and make check"
	export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	build_and_check build-asan --enable-werror --enable-sanitizers
	unset ASAN_OPTIONS UBSAN_OPTIONS

	step "fuzz targets"
	if [ -x tests/fuzz/run.sh ]; then
		if tests/fuzz/run.sh build "${FACTEUR_FUZZ_SECONDS:-20}" 2>&1 | tee build/fuzz.log &&
		    [ "${PIPESTATUS[0]}" = 0 ]; then
			passed=$((passed + 1))
		else
			{ echo "--- fuzz targets"; tail -40 build/fuzz.log; } >>"$digest"
			failed=$((failed + 1)); status=1
		fi
	fi

	step "make distcheck"
	if (cd build && make distcheck >distcheck.log 2>&1); then
		passed=$((passed + 1))
	else
		tail -40 build/distcheck.log
		{ echo "--- make distcheck"; tail -40 build/distcheck.log; } >>"$digest"
		failed=$((failed + 1)); status=1
	fi

	# The appliance's fast route: packages, rootfs, kernel + cpio, booted in
	# qemu, a mail sent and read back, snmpd asked (tests/appliance/run).
	# It needs root (mmdebstrap, the packages' owners); a hard time limit.
	step "appliance boot test (fast route)"
	if [ -n "${FACTEUR_SKIP_APPLIANCE:-}" ]; then
		echo "skipped: FACTEUR_SKIP_APPLIANCE is set"
	elif [ "$(id -u)" != 0 ]; then
		echo "skipped: needs root"
	elif timeout 1500 tests/appliance/run "$PWD/build/appliance" >build/appliance.log 2>&1; then
		grep -E "^run:|passed|power-on" build/appliance.log || true
		passed=$((passed + 1))
	else
		tail -60 build/appliance.log
		failed=$((failed + 1)); status=1
	fi
fi

if [ -s "$digest" ]; then
	step "what failed (again)"
	cat "$digest"
fi
printf '\n%d passed, %d failed\n' "$passed" "$failed"
exit $status
