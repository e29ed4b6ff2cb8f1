# SPDX-License-Identifier: MIT
# tests/bench/policy: policy_load, the load generator of the policy
# benchmark (tests/bench/policy/run.sh, run by hand, never by make check).
# bench.py uses this build of it, or compiles it with cc when it is missing.
noinst_PROGRAMS += tests/bench/policy/policy_load
tests_bench_policy_policy_load_SOURCES = tests/bench/policy/policy_load.c
EXTRA_DIST += tests/bench/policy/run.sh tests/bench/policy/bench.py
