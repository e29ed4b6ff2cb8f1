#!/bin/sh
# SPDX-License-Identifier: MIT
# Build every libFuzzer target of tests/fuzz with clang straight from the
# sources it needs, and run each for a while on a copy of its seed corpus.
#
#   tests/fuzz/run.sh [builddir] [seconds] [target...]
#
# builddir (default .) is a configured build directory: facteur-config.h
# comes from there, and the binaries, corpora and crash files go under
# builddir/tests/fuzz/.  seconds (default 20) is each target's
# -max_total_time.  Exits non-zero if a target fails to build or crashes.
set -eu

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-.}" && pwd)
seconds=${2:-20}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

CLANG=${CLANG:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:--g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer}

if [ ! -f "$builddir/facteur-config.h" ]; then
	echo "run.sh: $builddir/facteur-config.h not found: give a configured build directory" >&2
	exit 2
fi

# The sources each target needs, besides its own file.
sources() {
	case $1 in
	fuzz_smtp_command) echo mta/smtp_proto.c mta/smtp_addr.c lib/mem.c lib/log.c ;;
	fuzz_smtp_reply) echo mta/smtp_reply.c lib/mem.c lib/log.c ;;
	fuzz_queue_file) echo mta/queue_file.c mta/queue.c lib/fd.c lib/config.c lib/proc.c lib/mem.c lib/log.c ;;
	fuzz_mime) echo filter/mime.c filter/mime_header.c filter/mime_decode.c filter/charset.c \
	    filter/html_text.c filter/html_style.c filter/eval_re.c filter/url_list.c filter/strbuf.c \
	    lib/mem.c lib/log.c lib/strset.c ;;
	fuzz_sa_rules) echo filter/sa_rules.c filter/strbuf.c lib/mem.c lib/log.c ;;
	fuzz_mime_header) echo filter/mime_header.c filter/mime_decode.c filter/charset.c filter/strbuf.c \
	    lib/mem.c lib/log.c ;;
	fuzz_milter_proto) echo mta/milter_proto.c mta/milter_client.c lib/config.c lib/net.c \
	    lib/proc.c lib/stats.c lib/mem.c lib/log.c ;;
	fuzz_policy_proto) echo policy/policy_proto.c lib/mem.c lib/log.c ;;
	fuzz_dnsbl_sites) echo policy/dnsbl.c lib/dns.c lib/config.c lib/proc.c lib/mem.c lib/log.c ;;
	fuzz_imap_command) echo store/imap_parser.c lib/mem.c lib/log.c ;;
	fuzz_imap_message) echo store/imap_message.c store/imap_thread.c store/imap_parser.c filter/charset.c \
	    filter/mime_decode.c filter/strbuf.c lib/mem.c lib/log.c ;;
	fuzz_mbox) echo store/mbox.c lib/mem.c lib/log.c ;;
	fuzz_csv) echo lib/csv.c lib/mem.c lib/log.c ;;
	fuzz_api_json) echo appliance/api/api_json.c store/directory.c lib/config.c lib/net.c lib/proc.c \
	    lib/mem.c lib/log.c ;;
	fuzz_sieve) echo store/sieve.c store/sieve_run.c store/sieve_vacation.c filter/mime.c \
	    filter/mime_header.c filter/mime_decode.c filter/charset.c filter/html_text.c \
	    filter/html_style.c filter/eval_re.c filter/url_list.c filter/strbuf.c lib/mem.c lib/log.c \
	    lib/strset.c ;;
	fuzz_received) echo filter/received.c filter/sa_rules.c filter/strbuf.c lib/mem.c lib/log.c ;;
	fuzz_rules_relax) echo filter/rules_relax.c filter/strbuf.c lib/mem.c lib/log.c ;;
	fuzz_rules_meta) echo filter/rules_meta.c lib/mem.c lib/log.c ;;
	fuzz_filter) echo filter/arc.c filter/auth.c filter/av.c filter/bayes.c filter/charset.c \
	    filter/dns_blocking.c filter/eval.c filter/eval_re.c filter/eval_received.c \
	    filter/html_style.c filter/html_text.c filter/mime.c \
	    filter/mime_decode.c filter/mime_header.c filter/pipeline.c filter/received.c \
	    filter/rules_check.c filter/rules_compile.c filter/rules_meta.c filter/rules_relax.c \
	    filter/sa_rules.c filter/strbuf.c filter/url_list.c filter/verdict.c lib/config.c lib/dns.c \
	    lib/event_util.c lib/fd.c lib/group_sync.c lib/log.c lib/mem.c lib/net.c lib/proc.c \
	    lib/report.c lib/stats.c lib/strset.c lib/workpool.c ;;
	*) echo "run.sh: unknown target $1" >&2; return 1 ;;
	esac
}

libs() {
	case $1 in
	fuzz_api_json) pkg-config --libs jansson sqlite3 inih ;;
	fuzz_queue_file) pkg-config --libs inih ;;
	fuzz_sa_rules) pkg-config --libs libcrypto ;;
	fuzz_milter_proto) pkg-config --libs inih libevent ;;
	fuzz_dnsbl_sites) pkg-config --libs inih libevent libunbound ;;
	fuzz_mime) pkg-config --libs libpcre2-8; echo -lm -lpthread ;;
	fuzz_sieve) pkg-config --libs libcrypto libpcre2-8; echo -lm -lpthread ;;
	fuzz_received) pkg-config --libs libpcre2-8 libcrypto; echo -lpthread ;;
	fuzz_rules_relax) pkg-config --libs libpcre2-8 ;;
	fuzz_rules_meta) echo -lm ;;
	fuzz_filter) pkg-config --libs libhs libpcre2-8 libclamav opendkim sqlite3 inih libcrypto \
	    libssl libevent libevent_pthreads libevent_openssl libunbound; echo -lspf2 -lopendmarc -lm -lpthread ;;
	esac
}

cflags() {
	case $1 in
	fuzz_api_json) pkg-config --cflags jansson sqlite3 inih ;;
	fuzz_queue_file) pkg-config --cflags inih ;;
	fuzz_milter_proto) pkg-config --cflags inih libevent ;;
	fuzz_dnsbl_sites) pkg-config --cflags inih libevent libunbound ;;
	fuzz_filter) pkg-config --cflags libhs libpcre2-8 libclamav opendkim sqlite3 inih libevent
	    echo "-DFUZZ_FILTER_RULES=\"$srcdir/tests/fuzz/fuzz_filter.cf\"" ;;
	esac
}

# Inputs long enough to reach the parsers' length limits
# (SMTP_REPLY_LINE_MAX is 4096, smtpd's line limit 2048; fuzz_mime cuts
# lines at 1024 and header blocks at 2048; policy requests have lines of
# up to 2048 and at most 64 of them).
options() {
	case $1 in
	fuzz_smtp_reply) echo -max_len=12288 ;;
	fuzz_queue_file) echo -max_len=8192 ;;
	fuzz_mime) echo -max_len=16384 ;;
	fuzz_milter_proto) echo -max_len=16384 ;;
	fuzz_policy_proto) echo -max_len=8192 ;;
	fuzz_imap_command) echo -max_len=8192 ;;
	fuzz_imap_message) echo -max_len=16384 ;;
	fuzz_sieve) echo -max_len=8192 ;;
	fuzz_mbox) echo -max_len=16384 ;;
	fuzz_api_json) echo -max_len=8192 ;;
	fuzz_filter) echo -max_len=16384 ;;
	*) echo -max_len=4096 ;;
	esac
}

targets=${*:-fuzz_smtp_command fuzz_smtp_reply fuzz_queue_file fuzz_mime fuzz_mime_header fuzz_sa_rules fuzz_milter_proto
    fuzz_policy_proto fuzz_dnsbl_sites fuzz_imap_command fuzz_imap_message fuzz_sieve fuzz_mbox fuzz_csv fuzz_api_json
    fuzz_received fuzz_rules_relax fuzz_rules_meta fuzz_filter}
out=$builddir/tests/fuzz
mkdir -p "$out"
failed=

for t in $targets; do
	srcs=$(sources "$t")
	echo "== build $t"
	# shellcheck disable=SC2086,SC2046 # word splitting of the flag lists is wanted
	if ! (cd "$srcdir" && $CLANG $FUZZ_CFLAGS -I. -I"$builddir" $(cflags "$t") \
	    -o "$out/$t" "tests/fuzz/$t.c" $srcs $(libs "$t")); then
		failed="$failed $t(build)"
		continue
	fi
	# Run on a copy: new inputs land there, the seeds in git stay small.
	rm -rf "$out/corpus-$t"
	mkdir -p "$out/corpus-$t"
	cp "$srcdir/tests/fuzz/corpus/$t/"* "$out/corpus-$t/"
	echo "== run $t for ${seconds}s"
	# shellcheck disable=SC2046
	if ! "$out/$t" $(options "$t") -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$out/$t-" "$out/corpus-$t" \
	    >"$out/$t.log" 2>&1; then
		failed="$failed $t"
		tail -n 60 "$out/$t.log" >&2
	fi
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
	    "$out/$t.log" || true
done

if [ -n "$failed" ]; then
	echo "run.sh: FAILED:$failed (logs and crash inputs in $out)" >&2
	exit 1
fi
echo "run.sh: all targets ran ${seconds}s without a crash"
