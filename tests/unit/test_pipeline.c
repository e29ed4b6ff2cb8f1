/* SPDX-License-Identifier: MIT */
/*
 * test_pipeline - scoring and actions of the filter (filter/pipeline.h),
 * with a small rule set written to a temporary directory and the network
 * and antivirus parts switched off: symbols and their sum, the threshold
 * of each action, [spam_policy] per domain, MIME anomalies as symbols,
 * messages fed in odd pieces, the subject tag, header values as header
 * rules see them, and verdict bookkeeping.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "filter/pipeline.h"
#include "filter/strbuf.h"
#include "filter/verdict.h"
#include "lib/config.h"
#include "lib/mem.h"

static char dir[] = "/tmp/facteur-test-pipeline.XXXXXX";
static struct filter *filter;

static const char rules[] =
	"header T_SUBJ  Subject =~ /\\bmoney\\b/i\n"
	"score  T_SUBJ  3\n"
	"body   T_BODY  /act now/i\n"
	"score  T_BODY  4\n"
	/* URIs of the text count with a known TLD only, as in SpamAssassin */
	"util_rb_tld example\n"
	"uri    T_URI   /evil\\.example/\n"
	"score  T_URI   2.5\n"
	"meta   T_BOTH  T_SUBJ && T_BODY\n"
	"score  T_BOTH  1\n"
	"header T_NICE  X-Good =~ /yes/\n"
	"score  T_NICE  -2\n"
	"header T_FOLD  Received =~ /by \\S+ \\(CommuniGate Pro/\n"
	"score  T_FOLD  0.5\n"
	"header T_FOLD_RAW  Received:raw =~ /by \\S+ \\(CommuniGate Pro/\n"
	"score  T_FOLD_RAW  0.25\n"
	"header T_CASE  ALL =~ /^[^-:\\s]*[a-z][A-Z]/m\n"
	"score  T_CASE  0.125\n"
	"header __ENV   EnvelopeFrom =~ /\\@outside\\.test$/\n"
	"meta   T_ENV   __ENV && T_FOLD\n"
	"score  T_ENV   0.0625\n"
	"header T_ILLEGAL eval:check_illegal_chars('Subject','0.00','2')\n"
	"score  T_ILLEGAL 0.03125\n";

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	char path[256], conf[8192];
	const char *error;

	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/rules", dir);
	if (mkdir(path, 0755) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/rules/10.cf", dir);
	write_file(path, rules);
	snprintf(conf, sizeof(conf),
	    "spool_directory = %s/spool\nfilter_rules = %s/rules\nfilter_rules_config =\n"
	    "filter_rules_cache = %s/cache\nav_enable = no\nspf_enable = no\ndkim_verify = no\n"
	    "dmarc_enable = no\ndkim_sign = no\nbayes_enable = no\n"
	    "spam_tag_score = 5\nspam_subject_score = 6\nspam_quarantine_score = 8\n"
	    "spam_reject_score = 10\nspam_subject_tag = [SPAM]\nmyhostname = mx.test\n"
	    "[spam_policy]\nstrict.test = tag=1 reject=3\n.lax.test = reject=100 quarantine=99\n",
	    dir, dir, dir);
	snprintf(path, sizeof(path), "%s/facteur.conf", dir);
	write_file(path, conf);
	if (config_load(path, &error) < 0) {
		fprintf(stderr, "config: %s\n", error);
		return -1;
	}
	if (filter_new(&filter, &error) < 0) {
		fprintf(stderr, "filter_new: %s\n", error);
		return -1;
	}
	filter_wait_rules(filter);
	return filter_rules_ready(filter) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[300];

	filter_free(&filter);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct filter_msg *run_len(const char *msg, size_t len, size_t chunk, const char *rcpt,
    const struct filter_result **r);

/* Run msg through the filter in pieces of chunk bytes, for rcpt. */
static struct filter_msg *
run(const char *msg, size_t chunk, const char *rcpt, const struct filter_result **r)
{
	return run_len(msg, strlen(msg), chunk, rcpt, r);
}

/* The same for len bytes, NUL bytes among them. */
static struct filter_msg *
run_len(const char *msg, size_t len, size_t chunk, const char *rcpt,
    const struct filter_result **r)
{
	const char *rcpts[] = { rcpt };
	struct filter_envelope env = {
		.qid = "T1", .client_addr = "192.0.2.1", .helo = "client.test",
		.sender = "a@outside.test", .rcpts = rcpts, .nrcpts = 1,
	};
	struct filter_msg *m = filter_msg_new(filter, &env);

	for (size_t off = 0; off < len; off += chunk)
		filter_msg_feed(m, msg + off, len - off < chunk ? len - off : chunk);
	*r = filter_msg_finish(m, msg, len);
	return m;
}

static int
has(const struct filter_result *r, const char *name, double score)
{
	const struct verdict_symbol *s = verdict_find(r->verdict, name);

	return s != NULL && s->score > score - 1e-9 && s->score < score + 1e-9;
}

static void
test_ham(void **state)
{
	const struct filter_result *r;
	struct filter_msg *m = run("Subject: lunch\r\nX-Good: yes\r\n\r\nsee you\r\n", 1 << 20,
	    "u@example.org", &r);

	assert_int_equal(r->action, FILTER_ACCEPT);
	assert_true(has(r, "T_NICE", -2));
	assert_null(verdict_find(r->verdict, "T_SUBJ"));
	assert_true(r->score > -2.001 && r->score < -1.999);
	assert_false(r->spam);
	assert_null(r->subject_tag);
	assert_non_null(strstr(r->headers, "X-Spam-Status: No, score=-2.0 required=5.0"));
	assert_non_null(strstr(r->headers, "T_NICE=-2"));
	assert_null(strstr(r->headers, "X-Spam-Flag"));
	filter_msg_free(&m);
}

/* Every threshold, each message fed whole and byte by byte: same verdict. */
static void
test_thresholds(void **state)
{
	static const struct {
		const char *msg;
		double score;
		enum filter_action action;
		int tag;
	} cases[] = {
		/* 3: below the tag score */
		{ "Subject: money\r\n\r\nhello\r\n", 3, FILTER_ACCEPT, 0 },
		/* 5.5: tag (flag), not subject */
		{ "Subject: money\r\n\r\nhttp://evil.example/x\r\n", 5.5, FILTER_ACCEPT, 0 },
		/* 6.5: subject tagged */
		{ "Subject: hi\r\n\r\nact now at http://evil.example/\r\n", 6.5, FILTER_ACCEPT, 1 },
		/* 3 + 4 + 1 = 8: quarantine */
		{ "Subject: money\r\n\r\nact now\r\n", 8, FILTER_QUARANTINE, 0 },
		/* 10.5: reject */
		{ "Subject: money\r\n\r\nact now http://evil.example/\r\n", 10.5, FILTER_REJECT, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t chunk = 1; chunk <= 1 << 20; chunk <<= 20) {
			const struct filter_result *r;
			struct filter_msg *m = run(cases[i].msg, chunk, "u@example.org", &r);

			if (r->score < cases[i].score - 1e-6 || r->score > cases[i].score + 1e-6)
				fail_msg("case %zu chunk %zu: score %f", i, chunk, r->score);
			assert_int_equal(r->action, cases[i].action);
			assert_int_equal(r->spam, cases[i].score >= 5);
			assert_int_equal(r->subject_tag != NULL, cases[i].tag);
			if (r->action == FILTER_REJECT)
				assert_string_equal(r->reply,
				    "550 5.7.1 Message refused as spam (score 10.5)");
			if (r->action == FILTER_QUARANTINE)
				assert_non_null(strstr(r->headers,
				    "X-Facteur-Quarantine: spam score 8.0 >= 8.0"));
			if (r->spam)
				assert_non_null(strstr(r->headers, "X-Spam-Flag: YES"));
			filter_msg_free(&m);
		}
	}
}

static void
test_domain_policy(void **state)
{
	const struct filter_result *r;
	struct filter_msg *m;

	m = run("Subject: money\r\n\r\nhello\r\n", 7, "u@strict.test", &r);
	assert_int_equal(r->action, FILTER_REJECT);
	assert_true(r->spam);	/* tag=1 */
	filter_msg_free(&m);
	/* ".lax.test" covers subdomains: 10.5 is below its reject and quarantine. */
	m = run("Subject: money\r\n\r\nact now http://evil.example/\r\n", 7, "u@mx.lax.test", &r);
	assert_int_equal(r->action, FILTER_ACCEPT);
	assert_non_null(r->subject_tag);	/* subject 6 still from the global value */
	filter_msg_free(&m);
}

static void
test_mime_anomalies_scored(void **state)
{
	const struct filter_result *r;
	struct filter_msg *m = run("Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
	    "", 3, "u@example.org", &r);

	assert_true(has(r, "MIME_MISSING_BOUNDARY", 0.5));
	filter_msg_free(&m);
	m = run("Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64***\r\n", 5,
	    "u@example.org", &r);
	assert_true(has(r, "MIME_BAD_BASE64", 0.5));
	filter_msg_free(&m);
}

static void
test_tag_subject(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "Subject: hello\r\nTo: a\r\n\r\nSubject: body\r\n",
		  "Subject: [SPAM] hello\r\nTo: a\r\n\r\nSubject: body\r\n" },
		{ "To: a\r\nsubject:   spaced\r\n\r\nx\r\n", "To: a\r\nsubject: [SPAM] spaced\r\n\r\nx\r\n" },
		{ "To: a\r\n\r\nno subject\r\n", "To: a\r\nSubject: [SPAM]\r\n\r\nno subject\r\n" },
		{ "Subject: a\r\n folded\r\n\r\n", "Subject: [SPAM] a\r\n folded\r\n\r\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *out = filter_tag_subject(cases[i].in, strlen(cases[i].in), "[SPAM]", &len);
		assert_int_equal(len, strlen(cases[i].out));
		assert_memory_equal(out, cases[i].out, len);
		free(out);
	}
}

/*
 * Header values as SpamAssassin's header rules read them: a fold (line
 * end and the blanks after it) is one space, decoded and :raw alike; the
 * envelope sender is a pseudo-header, not a line of ALL.
 */
static void
test_header_forms(void **state)
{
	const struct filter_result *r;
	struct filter_msg *m;

	m = run("Received: from [203.0.113.24] (HELO mail.test) by\r\n"
	    "    relay.test (CommuniGate Pro SMTP 3.3) with ESMTP id 1;\r\n"
	    "\tTue, 14 May 2002 01:47:58 +0100\r\nSubject: hi\r\n\r\nhello\r\n", 3,
	    "u@example.org", &r);
	assert_true(has(r, "T_FOLD", 0.5));
	assert_true(has(r, "T_FOLD_RAW", 0.25));
	assert_true(has(r, "T_ENV", 0.0625));
	assert_null(verdict_find(r->verdict, "T_CASE"));
	filter_msg_free(&m);
	/* Two blanks written before the fold stay: the rule needs one. */
	m = run("Received: from a by  \r\n relay.test (CommuniGate Pro)\r\n"
	    "ReplyTo: x@y.test\r\n\r\nhello\r\n", 1 << 20, "u@example.org", &r);
	assert_null(verdict_find(r->verdict, "T_FOLD"));
	assert_null(verdict_find(r->verdict, "T_FOLD_RAW"));
	assert_true(has(r, "T_CASE", 0.125));
	filter_msg_free(&m);
}

/*
 * NUL bytes in a header: the evals read the header with its length (a
 * copy that stopped at the first NUL once made them read past its end;
 * the ASan build of this test saw it), and find the two 8-bit bytes.
 */
static void
test_nul_in_header(void **state)
{
	static const char msg[] = "Subject: a\xe9\xe9\0b\0\0c and a long tail of words after it\r\n"
	    "From: x@y.test\r\n\r\nhello\r\n";
	const struct filter_result *r;
	struct filter_msg *m;

	m = run_len(msg, sizeof(msg) - 1, 7, "u@example.org", &r);
	assert_non_null(r);
	assert_true(has(r, "T_ILLEGAL", 0.03125));
	filter_msg_free(&m);
	m = run("Subject: plain\r\n\r\nhello\r\n", 5, "u@example.org", &r);
	assert_null(verdict_find(r->verdict, "T_ILLEGAL"));
	filter_msg_free(&m);
}

/*
 * body_part_scan_size (50000 characters a part): past it, the text goes
 * on to the first line end within 1024 characters, else to the first
 * space there, else stops.  Lines of 100 characters; each case fed whole
 * and in 1000-byte pieces (the window held across pieces).
 */
static void
test_part_scan_size(void **state)
{
	static const struct {
		size_t lines;		/* of 100 characters before the tail */
		const char *tail;
		int hit;		/* T_BODY, "act now" */
	} cases[] = {
		{ 499, "act now\r\n", 1 },	/* within the limit */
		{ 500, "act now\r\n", 1 },	/* past it, the line end within 1024 */
		{ 500, "act now act now", 0 },	/* no line end: cut after "act " */
		{ 500, "\r\nact now\r\n", 0 },	/* the line end at the limit */
		{ 510, "act now\r\n", 0 },	/* beyond the window */
		/* a second part has its own 50000 */
		{ 500, "\r\n--b\r\nContent-Type: text/plain\r\n\r\nact now\r\n--b--\r\n", 1 },
	};
	char line[101];

	/* 99 letters and a line end: 100 characters of text */
	memset(line, 'a', 99);
	line[99] = '\r', line[100] = '\n';
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t multipart = strstr(cases[i].tail, "--b") != NULL;
		struct strbuf b = { NULL, 0, 0 };
		const char *head = multipart ?
		    "Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
		    "--b\r\nContent-Type: text/plain\r\n\r\n" : "Subject: hi\r\n\r\n";

		strbuf_append(&b, head, strlen(head));
		for (size_t k = 0; k < cases[i].lines; k++)
			strbuf_append(&b, line, 101);
		strbuf_append(&b, cases[i].tail, strlen(cases[i].tail));
		for (size_t chunk = 1000; chunk <= 1 << 20; chunk <<= 10) {
			const struct filter_result *r;
			struct filter_msg *m = run_len(b.data, b.len, chunk, "u@example.org", &r);
			if ((verdict_find(r->verdict, "T_BODY") != NULL) != cases[i].hit)
				fail_msg("case %zu chunk %zu: T_BODY %s", i, chunk,
				    cases[i].hit ? "missed" : "hit");
			filter_msg_free(&m);
		}
		strbuf_free(&b);
	}
}

static void
test_verdict(void **state)
{
	struct verdict v;

	verdict_init(&v);
	verdict_add(&v, "A", 1.5, "first %d", 1);
	verdict_add(&v, "B", -0.5, NULL);
	verdict_add(&v, "A", 7, "again");	/* first wins */
	assert_int_equal(v.nsyms, 2);
	assert_true(v.score > 0.999 && v.score < 1.001);
	assert_string_equal(verdict_find(&v, "A")->detail, "first 1");
	assert_null(verdict_find(&v, "C"));
	verdict_free(&v);
	assert_int_equal(v.nsyms, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ham),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_domain_policy),
		cmocka_unit_test(test_mime_anomalies_scored),
		cmocka_unit_test(test_tag_subject),
		cmocka_unit_test(test_header_forms),
		cmocka_unit_test(test_nul_in_header),
		cmocka_unit_test(test_part_scan_size),
		cmocka_unit_test(test_verdict),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
