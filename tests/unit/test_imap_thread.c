/* SPDX-License-Identifier: MIT */
/*
 * test_imap_thread - RFC 5256 base subjects and threads
 * (store/imap_thread.h): ORDEREDSUBJECT and REFERENCES, with loops,
 * missing parents, duplicate ids and subject merges.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/imap_thread.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void
test_base_subject(void **state)
{
	static const struct {
		const char *in;
		const char *base;
		int reply;
	} rows[] = {
		{ "Hello", "hello", 0 },
		{ "  Hello   World ", "hello world", 0 },
		{ "Re: Hello", "hello", 1 },
		{ "RE:re: Hello", "hello", 1 },
		{ "Fwd: Hello (fwd)", "hello", 1 },
		{ "Re: [list] Fw: Hello", "hello", 1 },
		{ "[list] Re[2]: Hello", "hello", 1 },
		{ "[fwd: Hello]", "hello", 1 },
		{ "[only a tag]", "[only a tag]", 0 },
		{ "Reply to all", "reply to all", 0 },
		{ "", "", 0 },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		int reply;
		char *b = imap_thread_base_subject(rows[i].in, &reply);
		if (strcmp(b, rows[i].base) != 0 || reply != rows[i].reply)
			fail_msg("\"%s\": \"%s\" %d, want \"%s\" %d", rows[i].in, b, reply,
			    rows[i].base, rows[i].reply);
		free(b);
	}
}

struct row {
	const char *name;
	enum imap_thread_algo algo;
	size_t n;
	struct {
		const char *id, *refs, *irt, *subject;
		time_t date;
	} m[6];
	const char *want;
};

static void
test_threads(void **state)
{
	static const struct row rows[] = {
		{ "chain", IMAP_THREAD_REFERENCES, 3, {
			{ "<a@x>", NULL, NULL, "s", 1 },
			{ "<b@x>", "<a@x>", NULL, "Re: s", 2 },
			{ "<c@x>", "<a@x> <b@x>", NULL, "Re: s", 3 } }, "(1 2 3)" },
		{ "siblings", IMAP_THREAD_REFERENCES, 3, {
			{ "<a@x>", NULL, NULL, "s", 1 },
			{ "<b@x>", NULL, "<a@x>", "Re: s", 2 },
			{ "<c@x>", "<a@x>", NULL, "Re: s", 3 } }, "(1 (2)(3))" },
		{ "missing parent", IMAP_THREAD_REFERENCES, 3, {
			{ "<b@x>", "<a@x>", NULL, "one", 2 },
			{ "<c@x>", "<a@x>", NULL, "two", 1 },
			{ "<d@x>", NULL, NULL, "three", 3 } }, "((2)(1))(3)" },
		{ "subject merge", IMAP_THREAD_REFERENCES, 3, {
			{ "<a@x>", NULL, NULL, "Hello", 1 },
			{ "<b@x>", NULL, NULL, "Re: hello", 2 },
			{ "<c@x>", NULL, NULL, "Other", 3 } }, "(1 2)(3)" },
		{ "same subject, no reply", IMAP_THREAD_REFERENCES, 2, {
			{ "<a@x>", NULL, NULL, "Hello", 1 },
			{ "<b@x>", NULL, NULL, "Hello", 2 } }, "((1)(2))" },
		{ "loop", IMAP_THREAD_REFERENCES, 2, {
			{ "<a@x>", "<b@x>", NULL, "x", 1 },
			{ "<b@x>", "<a@x>", NULL, "y", 2 } }, "(2 1)" },
		{ "self reference", IMAP_THREAD_REFERENCES, 1, {
			{ "<a@x>", "<a@x>", NULL, "x", 1 } }, "(1)" },
		{ "duplicate ids", IMAP_THREAD_REFERENCES, 2, {
			{ "<a@x>", NULL, NULL, "x", 2 },
			{ "<a@x>", NULL, NULL, "y", 1 } }, "(2)(1)" },
		{ "no headers", IMAP_THREAD_REFERENCES, 2, {
			{ NULL, NULL, NULL, NULL, 1 },
			{ NULL, NULL, NULL, NULL, 1 } }, "(1)(2)" },
		{ "nothing", IMAP_THREAD_REFERENCES, 0, { { NULL, NULL, NULL, NULL, 0 } }, "" },
		{ "ordered subject", IMAP_THREAD_ORDEREDSUBJECT, 5, {
			{ NULL, NULL, NULL, "a", 1 },
			{ NULL, NULL, NULL, "b", 2 },
			{ NULL, NULL, NULL, "Re: a", 3 },
			{ NULL, NULL, NULL, "a", 4 },
			{ NULL, NULL, NULL, "Re: b", 5 } }, "(1 (3)(4))(2 5)" },
	};

	for (size_t i = 0; i < N_ELEMENTS(rows); i++) {
		struct imap_thread_msg msgs[6];
		struct imap_out o = { NULL, 0, 0 };
		char *subjects[6];

		memset(msgs, 0, sizeof(msgs));
		for (size_t k = 0; k < rows[i].n; k++) {
			msgs[k].n = (uint32_t)k + 1;
			msgs[k].message_id = rows[i].m[k].id;
			msgs[k].references = rows[i].m[k].refs;
			msgs[k].in_reply_to = rows[i].m[k].irt;
			subjects[k] = imap_thread_base_subject(rows[i].m[k].subject, &msgs[k].reply);
			msgs[k].base_subject = subjects[k];
			msgs[k].date = rows[i].m[k].date;
		}
		imap_thread(msgs, rows[i].n, rows[i].algo, &o);
		if (strcmp(o.data, rows[i].want) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", rows[i].name, o.data, rows[i].want);
		imap_out_free(&o);
		for (size_t k = 0; k < rows[i].n; k++)
			free(subjects[k]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
