# SPDX-License-Identifier: MIT
# tests/bench/filter: rules_bench, facteur's rule matching against bare
# Hyperscan on the same databases (run by tests/bench/filter/run.sh, never
# by make check).  It records the rules engine's calls and the engine's
# Hyperscan calls by wrapping them at link time.
noinst_PROGRAMS += tests/bench/filter/rules_bench
tests_bench_filter_rules_bench_SOURCES = tests/bench/filter/rules_bench.c
tests_bench_filter_rules_bench_CFLAGS = $(AM_CFLAGS) $(HYPERSCAN_CFLAGS)
tests_bench_filter_rules_bench_LDFLAGS = \
	-Wl,--wrap=rules_match_new,--wrap=rules_match_header \
	-Wl,--wrap=rules_match_headers_end,--wrap=rules_match_uri \
	-Wl,--wrap=rules_match_stream_open,--wrap=rules_match_stream_feed \
	-Wl,--wrap=rules_match_stream_close,--wrap=rules_match_set_hit \
	-Wl,--wrap=rules_match_finish \
	-Wl,--wrap=hs_scan,--wrap=hs_open_stream,--wrap=hs_scan_stream,--wrap=hs_close_stream
tests_bench_filter_rules_bench_LDADD = $(FILTER_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tests/bench/filter/run.sh tests/bench/filter/bench.py
