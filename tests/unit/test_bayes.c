/* SPDX-License-Identifier: MIT */
/*
 * test_bayes - the learned classifier (filter/bayes.h): tokens that do not
 * depend on how the text is cut, which header fields count, learning,
 * relearning and forgetting with their counts, no verdict below
 * bayes_min_learned, a reader that does not wait for a writer (WAL), and
 * SpamAssassin's check_bayes boundaries.  Two token sets are compared
 * through the database: a message learned with msgid NULL is known by the
 * hash of its tokens, so bayes_learn() returns 0 exactly when a second
 * message has the same tokens.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "filter/bayes.h"
#include "lib/config.h"
#include "lib/mem.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static char dir[] = "/tmp/test_bayes.XXXXXX";
static int db_seq;

/* A fresh database for each test. */
static struct bayes *
fresh_db(char *path, size_t size)
{
	struct bayes *b;
	const char *error;

	snprintf(path, size, "%s/t%d.db", dir, ++db_seq);
	assert_int_equal(bayes_open(path, 0, &b, &error), 0);
	return b;
}

static const char sample_text[] =
	"Dear friend,\nYou have WON $1,000,000!!! Click www.Example-Lottery.com/claim now...\n"
	"Écrivez-nous à gagnant@loterie.example.fr -- réponse immédiate.\n"
	"中文垃圾邮件测试 and emoji \xf0\x9f\x92\xb0\xf0\x9f\x92\xb0 too; "
	"supercalifragilisticexpialidocious antidisestablishmentarianism\n"
	"\"quoted\" 'words', trailing-dashes--- and ... dots.\n";

/* Text given in pieces of the sizes in cuts (repeated), as a pipeline would. */
static struct bayes_tokens *
tokens_cut(const char *text, const size_t *cuts, size_t ncuts)
{
	struct bayes_tokens *t = bayes_tokens_new();
	size_t len = strlen(text), off = 0, i = 0;

	bayes_tokens_header(t, "Subject", "Cheap offer", 11);
	while (off < len) {
		size_t n = cuts[i++ % ncuts];
		if (n > len - off)
			n = len - off;
		bayes_tokens_text(t, text + off, n);
		off += n;
	}
	return t;
}

static void
test_tokens_same_whatever_the_cuts(void **state)
{
	char path[256];
	struct bayes *b = fresh_db(path, sizeof(path));
	const char *error;
	size_t whole[] = { sizeof(sample_text) }, bytes[] = { 1 }, odd[] = { 3, 7, 2, 11, 5 },
	    pairs[] = { 2 };
	const size_t *cuts[] = { bytes, odd, pairs };
	size_t ncuts[] = { 1, 5, 1 };
	struct bayes_tokens *ref = tokens_cut(sample_text, whole, 1), *t;
	size_t n = bayes_tokens_count(ref);

	(void)state;
	assert_true(n > 30);
	assert_int_equal(bayes_learn(b, ref, NULL, BAYES_SPAM, &error), 1);
	for (size_t i = 0; i < N_ELEMENTS(cuts); i++) {
		t = tokens_cut(sample_text, cuts[i], ncuts[i]);
		/* Same set: already learned. */
		assert_int_equal(bayes_learn(b, t, NULL, BAYES_SPAM, &error), 0);
		bayes_tokens_free(&t);
	}
	/* Random cuts. */
	srand(42);
	for (int round = 0; round < 50; round++) {
		size_t r[16];
		for (size_t k = 0; k < N_ELEMENTS(r); k++)
			r[k] = 1 + (size_t)rand() % 9;
		t = tokens_cut(sample_text, r, N_ELEMENTS(r));
		assert_int_equal(bayes_learn(b, t, NULL, BAYES_SPAM, &error), 0);
		bayes_tokens_free(&t);
	}
	/* One word more is another message. */
	t = tokens_cut("extraordinary ", whole, 1);
	bayes_tokens_text(t, sample_text, strlen(sample_text));
	assert_int_equal(bayes_learn(b, t, NULL, BAYES_SPAM, &error), 1);
	bayes_tokens_free(&t);
	bayes_tokens_free(&ref);
	bayes_close(&b);
	assert_null(b);
}

/* 1 if a and b have the same tokens (learning b after a changes nothing). */
static int
same_tokens(struct bayes_tokens *a, struct bayes_tokens *b)
{
	char path[256];
	struct bayes *db = fresh_db(path, sizeof(path));
	const char *error;
	int rc;

	assert_int_equal(bayes_learn(db, a, NULL, BAYES_HAM, &error), 1);
	rc = bayes_learn(db, b, NULL, BAYES_HAM, &error);
	assert_true(rc >= 0);
	bayes_close(&db);
	return rc == 0;
}

static struct bayes_tokens *
tokens_headers(const char *const *fields)
{
	struct bayes_tokens *t = bayes_tokens_new();

	for (; fields[0] != NULL; fields += 2)
		bayes_tokens_header(t, fields[0], fields[1], strlen(fields[1]));
	bayes_tokens_text(t, "some body text", 14);
	return t;
}

static void
test_header_fields(void **state)
{
	const char *base[] = {
		"Received", "from a.example (a.example [192.0.2.1]) by mx.test", "Subject", "Hello there",
		"Received", "from relay.example.net (relay [198.51.100.7]) by a.example",
		"Received", "from origin.example.org (origin [203.0.113.9]) by relay.example.net",
		"From", "Someone <someone@example.org>", "Message-ID", "<abc.123@mail.example.org>", NULL
	};
	/* Date, X-Spam-Status and List-Id say nothing of the content: ignored. */
	const char *ignored[] = {
		"Received", "from a.example (a.example [192.0.2.1]) by mx.test", "Subject", "Hello there",
		"Date", "Mon, 1 Jan 2024 10:00:00 +0000", "X-Spam-Status", "No, score=-2.0",
		"Received", "from relay.example.net (relay [198.51.100.7]) by a.example",
		"Received", "from origin.example.org (origin [203.0.113.9]) by relay.example.net",
		"List-Id", "<talk.lists.example>",
		"From", "Someone <someone@example.org>", "Message-ID", "<abc.123@mail.example.org>", NULL
	};
	/* Only the last two Received fields count: the first one differs. */
	const char *first_rcvd[] = {
		"Received", "from b.example (b.example [192.0.2.99]) by mx2.test", "Subject", "Hello there",
		"Received", "from relay.example.net (relay [198.51.100.7]) by a.example",
		"Received", "from origin.example.org (origin [203.0.113.9]) by relay.example.net",
		"From", "Someone <someone@example.org>", "Message-ID", "<abc.123@mail.example.org>", NULL
	};
	/* The last one differs. */
	const char *last_rcvd[] = {
		"Received", "from a.example (a.example [192.0.2.1]) by mx.test", "Subject", "Hello there",
		"Received", "from relay.example.net (relay [198.51.100.7]) by a.example",
		"Received", "from other.example.com (other [203.0.113.9]) by relay.example.net",
		"From", "Someone <someone@example.org>", "Message-ID", "<abc.123@mail.example.org>", NULL
	};
	/* The subject's words are not the body's: a header token is prefixed. */
	const char *subject[] = {
		"Received", "from a.example (a.example [192.0.2.1]) by mx.test", "Subject", "Hello there body",
		"Received", "from relay.example.net (relay [198.51.100.7]) by a.example",
		"Received", "from origin.example.org (origin [203.0.113.9]) by relay.example.net",
		"From", "Someone <someone@example.org>", "Message-ID", "<abc.123@mail.example.org>", NULL
	};
	struct bayes_tokens *a = tokens_headers(base), *b;

	(void)state;
	assert_string_equal(bayes_tokens_message_id(a), "abc.123@mail.example.org");
	b = tokens_headers(ignored);
	assert_true(same_tokens(a, b));
	bayes_tokens_free(&b);
	b = tokens_headers(first_rcvd);
	assert_true(same_tokens(a, b));
	bayes_tokens_free(&b);
	b = tokens_headers(last_rcvd);
	assert_false(same_tokens(a, b));
	bayes_tokens_free(&b);
	b = tokens_headers(subject);
	assert_false(same_tokens(a, b));
	bayes_tokens_free(&b);
	bayes_tokens_free(&a);
}

static void
test_message_and_url(void **state)
{
	static const char msg[] =
		"From sender@example.org Mon Jan  1 00:00:00 2024\n"
		"Message-ID: <m1@example.org>\nSubject: =?UTF-8?Q?caf=C3=A9?=\n"
		"Content-Type: text/html; charset=utf-8\n\n"
		"<p>Visit <a href=\"http://promo.shop.example/x?y=1\">our shop</a> today</p>\n";
	struct bayes_tokens *t = bayes_tokens_from_message(msg, sizeof(msg) - 1), *u;

	(void)state;
	assert_non_null(bayes_tokens_message_id(t));
	assert_string_equal(bayes_tokens_message_id(t), "m1@example.org");
	/* The same tokens by hand: the URL's host is there. */
	u = bayes_tokens_new();
	bayes_tokens_header(u, "Message-ID", "<m1@example.org>", 16);
	bayes_tokens_header(u, "Subject", "café", strlen("café"));
	bayes_tokens_header(u, "Content-Type", "text/html; charset=utf-8", 24);
	bayes_tokens_text(u, "Visit our shop today\n", 21);
	assert_false(same_tokens(t, u));
	bayes_tokens_url(u, "http://promo.shop.example/x?y=1", 31);
	assert_true(same_tokens(t, u));
	bayes_tokens_free(&u);
	bayes_tokens_free(&t);
}

static struct bayes_tokens *
message(const char *subject, const char *body)
{
	struct bayes_tokens *t = bayes_tokens_new();

	bayes_tokens_header(t, "Subject", subject, strlen(subject));
	bayes_tokens_text(t, body, strlen(body));
	return t;
}

static void
assert_counts(struct bayes *b, unsigned long spam, unsigned long ham)
{
	unsigned long s, h, tok;

	bayes_counts(b, &s, &h, &tok);
	assert_int_equal(s, spam);
	assert_int_equal(h, ham);
}

static void
test_learn_forget_relearn(void **state)
{
	char path[256];
	struct bayes *b = fresh_db(path, sizeof(path));
	struct bayes_tokens *m1 = message("cheap pills", "buy cheap pills online viagra discount");
	struct bayes_tokens *m2 = message("meeting notes", "minutes of the seminar on lattice theory");
	const char *error;
	unsigned long s, h, tokens, tokens1;

	(void)state;
	assert_counts(b, 0, 0);
	assert_int_equal(bayes_learn(b, m1, "<id1@x>", BAYES_SPAM, &error), 1);
	assert_counts(b, 1, 0);
	bayes_counts(b, &s, &h, &tokens1);
	assert_true(tokens1 >= 7);
	/* Twice as the same class: counted once. */
	assert_int_equal(bayes_learn(b, m1, "<id1@x>", BAYES_SPAM, &error), 0);
	assert_counts(b, 1, 0);
	/* As the other class: moved. */
	assert_int_equal(bayes_learn(b, m1, "<id1@x>", BAYES_HAM, &error), 1);
	assert_counts(b, 0, 1);
	bayes_counts(b, &s, &h, &tokens);
	assert_int_equal(tokens, tokens1);
	assert_int_equal(bayes_learn(b, m2, "<id2@x>", BAYES_HAM, &error), 1);
	assert_counts(b, 0, 2);
	bayes_counts(b, &s, &h, &tokens);
	assert_true(tokens > tokens1);
	/* Forget: undone, tokens of m1 only are gone. */
	assert_int_equal(bayes_forget(b, m2, "<id2@x>", &error), 1);
	assert_counts(b, 0, 1);
	bayes_counts(b, &s, &h, &tokens);
	assert_int_equal(tokens, tokens1);
	assert_int_equal(bayes_forget(b, m2, "<id2@x>", &error), 0);
	assert_int_equal(bayes_forget(b, m1, "<id1@x>", &error), 1);
	bayes_counts(b, &s, &h, &tokens);
	assert_int_equal(s + h + tokens, 0);
	/* Known by id: another id is another message. */
	assert_int_equal(bayes_learn(b, m1, "<id1@x>", BAYES_SPAM, &error), 1);
	assert_int_equal(bayes_learn(b, m1, "<id3@x>", BAYES_SPAM, &error), 1);
	assert_counts(b, 2, 0);
	bayes_tokens_free(&m1);
	bayes_tokens_free(&m2);
	bayes_close(&b);
}

static const char *const spam_words[] = {
	"viagra", "pills", "discount", "casino", "winner", "lottery", "unsubscribe", "offer",
	"cheap", "mortgage", "refinance", "guaranteed", "bonus", "jackpot", "rolex", "replica",
};
static const char *const ham_words[] = {
	"seminar", "lattice", "theorem", "kernel", "patch", "review", "meeting", "thesis",
	"committee", "grant", "proposal", "lecture", "compiler", "dataset", "experiment", "draft",
};

/* A message of 8 words of one class (and 2 neutral ones), different for each i. */
static struct bayes_tokens *
class_message(const char *const *words, unsigned int i)
{
	char body[512];
	size_t n = 0;

	for (unsigned int k = 0; k < 8; k++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s ", words[(i * 7 + k * 3) % 16]);
	snprintf(body + n, sizeof(body) - n, "hello regards number%u", i);
	return message(words[i % 16], body);
}

/* Learn the i-th spam ("s<i>") and ham ("h<i>") messages for i in [from, to). */
static void
learn_pairs(struct bayes *b, unsigned int from, unsigned int to)
{
	const char *error;
	char id[32];

	for (unsigned int i = from; i < to; i++) {
		struct bayes_tokens *t = class_message(spam_words, i);

		snprintf(id, sizeof(id), "s%u", i);
		assert_int_equal(bayes_learn(b, t, id, BAYES_SPAM, &error), 1);
		bayes_tokens_free(&t);
		t = class_message(ham_words, i);
		snprintf(id, sizeof(id), "h%u", i);
		assert_int_equal(bayes_learn(b, t, id, BAYES_HAM, &error), 1);
		bayes_tokens_free(&t);
	}
}

static void
test_classify(void **state)
{
	char path[256], id[32];
	struct bayes *b = fresh_db(path, sizeof(path)), *reader;
	struct bayes_tokens *t;
	const char *error;
	double p;

	(void)state;
	var_bayes_min_learned = 5;
	learn_pairs(b, 0, 4);
	/* 4 of each, 5 needed: no verdict. */
	t = message("cheap casino", "viagra lottery winner jackpot");
	assert_true(bayes_classify(b, t) == -1);
	bayes_tokens_free(&t);
	for (unsigned int i = 4; i < 30; i++) {
		t = class_message(spam_words, i);
		snprintf(id, sizeof(id), "s%u", i);
		assert_int_equal(bayes_learn(b, t, id, BAYES_SPAM, &error), 1);
		bayes_tokens_free(&t);
		if (i < 20) {
			t = class_message(ham_words, i);
			snprintf(id, sizeof(id), "h%u", i);
			assert_int_equal(bayes_learn(b, t, id, BAYES_HAM, &error), 1);
			bayes_tokens_free(&t);
		}
	}
	/* 30 spam, 20 ham: both classes at least 5. */
	assert_int_equal(bayes_open(path, 1, &reader, &error), 0);
	t = message("cheap casino", "viagra lottery winner jackpot rolex replica");
	p = bayes_classify(reader, t);
	assert_true(p > 0.95 && p <= 1.0);
	bayes_tokens_free(&t);
	t = message("thesis committee", "the draft of the lecture on compiler kernel patch review");
	p = bayes_classify(reader, t);
	assert_true(p >= 0 && p < 0.05);
	bayes_tokens_free(&t);
	/* Nothing known: neutral. */
	t = message("zzz", "qwertyuiop asdfghjkl");
	assert_true(bayes_classify(reader, t) == 0.5);
	bayes_tokens_free(&t);
	/* 25 of each needed: not the case for ham. */
	var_bayes_min_learned = 25;
	t = message("cheap casino", "viagra lottery winner jackpot");
	assert_true(bayes_classify(reader, t) == -1);
	bayes_tokens_free(&t);
	var_bayes_min_learned = 5;
	bayes_close(&reader);
	bayes_close(&b);
}

/*
 * Scoring looks tokens up in memory: the same probabilities as in SQLite,
 * and what another connection or the same one learns is seen next time.
 */
static void
test_memory_table(void **state)
{
	char path[256], id[32];
	struct bayes *b = fresh_db(path, sizeof(path)), *reader;
	struct bayes_tokens *probe[3];
	const char *error;
	double in_sql[3], p;
	long keep = var_bayes_memory_tokens;

	(void)state;
	var_bayes_min_learned = 2;
	learn_pairs(b, 0, 8);
	probe[0] = message("cheap casino", "viagra lottery winner seminar");
	probe[1] = message("thesis", "the draft of the lecture on compiler kernel patch review");
	probe[2] = message("zebra quokka", "zebra quokka okapi zebra narwhal");
	var_bayes_memory_tokens = 0;
	assert_int_equal(bayes_open(path, 1, &reader, &error), 0);
	for (int i = 0; i < 3; i++)
		in_sql[i] = bayes_classify(reader, probe[i]);
	bayes_close(&reader);
	assert_true(in_sql[2] == 0.5);
	var_bayes_memory_tokens = keep;
	assert_int_equal(bayes_open(path, 1, &reader, &error), 0);
	for (int i = 0; i < 3; i++) {
		p = bayes_classify(reader, probe[i]);
		if (p != in_sql[i])
			fail_msg("probe %d: %.17g in memory, %.17g in SQLite", i, p, in_sql[i]);
	}
	/* Another connection learns the unknown words as spam ... */
	for (unsigned int i = 0; i < 6; i++) {
		struct bayes_tokens *t = message("zebra quokka", "zebra quokka okapi narwhal");

		snprintf(id, sizeof(id), "z%u", i);
		assert_int_equal(bayes_learn(b, t, id, BAYES_SPAM, &error), 1);
		bayes_tokens_free(&t);
	}
	/* ... the reader sees it. */
	p = bayes_classify(reader, probe[2]);
	assert_true(p > 0.9);
	/* The learning connection sees its own learning too. */
	assert_true(bayes_classify(b, probe[2]) == p);
	for (unsigned int i = 0; i < 6; i++) {
		struct bayes_tokens *t = message("zebra quokka", "zebra quokka okapi narwhal");

		snprintf(id, sizeof(id), "z%u", i);
		assert_int_equal(bayes_forget(b, t, id, &error), 1);
		bayes_tokens_free(&t);
	}
	assert_true(bayes_classify(b, probe[2]) == 0.5);
	assert_true(bayes_classify(reader, probe[2]) == 0.5);
	/* Fewer tokens allowed in memory than there are: SQLite answers, the same. */
	var_bayes_memory_tokens = 5;
	bayes_close(&reader);
	assert_int_equal(bayes_open(path, 1, &reader, &error), 0);
	for (int i = 0; i < 3; i++)
		assert_true(bayes_classify(reader, probe[i]) == in_sql[i]);
	var_bayes_memory_tokens = keep;
	for (int i = 0; i < 3; i++)
		bayes_tokens_free(&probe[i]);
	bayes_close(&reader);
	bayes_close(&b);
}

/* A reader gets its verdict while a writer holds the write lock (WAL). */
static void
test_reader_not_blocked(void **state)
{
	char path[256];
	struct bayes *b = fresh_db(path, sizeof(path)), *reader;
	struct bayes_tokens *t;
	const char *error;
	sqlite3 *writer;
	double p;

	(void)state;
	var_bayes_min_learned = 2;
	learn_pairs(b, 0, 5);
	assert_int_equal(sqlite3_open(path, &writer), SQLITE_OK);
	assert_int_equal(sqlite3_exec(writer, "BEGIN IMMEDIATE; UPDATE bayes_vars SET spam = spam + 1000;",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(bayes_open(path, 1, &reader, &error), 0);
	t = message("cheap casino", "viagra lottery winner jackpot");
	/* Waiting would take the busy timeout and fail: no verdict. */
	p = bayes_classify(reader, t);
	assert_true(p > 0.5);
	/* The writer's uncommitted change is not seen ... */
	{
		unsigned long s, h, tok;
		bayes_counts(reader, &s, &h, &tok);
		assert_int_equal(s, 5);
	}
	/* Once committed, it is. */
	assert_int_equal(sqlite3_exec(writer, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(writer);
	assert_counts(reader, 1005, 5);
	bayes_tokens_free(&t);
	bayes_close(&reader);
	bayes_close(&b);
}

struct reader_arg {
	const char *path;
	int verdicts, errors;
};

/* A classifying worker: its own connection, as in the pipeline's pool. */
static void *
reader_thread(void *arg)
{
	struct reader_arg *a = arg;
	struct bayes *b;
	const char *error;

	if (bayes_open(a->path, 1, &b, &error) < 0) {
		a->errors++;
		return NULL;
	}
	for (int i = 0; i < 200; i++) {
		struct bayes_tokens *t = message("cheap casino", "viagra lottery winner jackpot");
		double p = bayes_classify(b, t);
		if (p > 0.5)
			a->verdicts++;
		else
			a->errors++;
		bayes_tokens_free(&t);
	}
	bayes_close(&b);
	return NULL;
}

/* Workers classify while another thread learns: every classification gives its verdict. */
static void
test_threads(void **state)
{
	char path[256], id[32];
	struct bayes *b = fresh_db(path, sizeof(path));
	struct reader_arg args[2] = { { path, 0, 0 }, { path, 0, 0 } };
	pthread_t th[2];
	struct bayes_tokens *t;
	const char *error;

	(void)state;
	var_bayes_min_learned = 2;
	for (unsigned int i = 0; i < 4; i++) {
		t = class_message(spam_words, i);
		snprintf(id, sizeof(id), "s%u", i);
		assert_int_equal(bayes_learn(b, t, id, BAYES_SPAM, &error), 1);
		bayes_tokens_free(&t);
		t = class_message(ham_words, i);
		snprintf(id, sizeof(id), "h%u", i);
		assert_int_equal(bayes_learn(b, t, id, BAYES_HAM, &error), 1);
		bayes_tokens_free(&t);
	}
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&th[k], NULL, reader_thread, &args[k]), 0);
	for (unsigned int i = 4; i < 200; i++) {
		t = class_message(i % 2 ? spam_words : ham_words, i);
		snprintf(id, sizeof(id), "m%u", i);
		assert_int_equal(bayes_learn(b, t, id, i % 2 ? BAYES_SPAM : BAYES_HAM, &error), 1);
		bayes_tokens_free(&t);
	}
	for (int k = 0; k < 2; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(args[k].errors, 0);
		assert_int_equal(args[k].verdicts, 200);
	}
	assert_counts(b, 102, 102);
	bayes_close(&b);
}

static void
test_open(void **state)
{
	char path[256];
	struct bayes *b;
	const char *error;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.db", dir);
	assert_int_equal(bayes_open(path, 1, &b, &error), -1);
	assert_null(b);
	assert_non_null(strstr(error, "missing.db"));
	snprintf(path, sizeof(path), "%s/nodir/x.db", dir);
	assert_int_equal(bayes_open(path, 0, &b, &error), -1);
	/* Not a database. */
	snprintf(path, sizeof(path), "%s/junk.db", dir);
	f = fopen(path, "w");
	fputs("this is not sqlite, this is a long enough line of text to be a header....\n", f);
	fclose(f);
	assert_int_equal(bayes_open(path, 0, &b, &error), -1);
	/* Created, then readable read-only. */
	snprintf(path, sizeof(path), "%s/new.db", dir);
	assert_int_equal(bayes_open(path, 0, &b, &error), 0);
	bayes_close(&b);
	assert_int_equal(bayes_open(path, 1, &b, &error), 0);
	assert_counts(b, 0, 0);
	bayes_close(&b);
}

static void
test_sa_eval(void **state)
{
	static const struct {
		double prob;
		const char *function, *args;
		int expect;
	} cases[] = {
		{ 0.0, "check_bayes", "'0.00', '0.01'", 1 },	/* MIN 0 includes 0 */
		{ 0.01, "check_bayes", "'0.00', '0.01'", 1 },	/* MAX included */
		{ 0.01, "check_bayes", "'0.01', '0.05'", 0 },	/* MIN excluded */
		{ 0.0100001, "check_bayes", "'0.01', '0.05'", 1 },
		{ 0.5, "check_bayes", "'0.40', '0.60'", 1 },
		{ 0.6, "check_bayes", "'0.60', '0.80'", 0 },
		{ 0.99, "check_bayes", "'0.99', '1.00'", 0 },
		{ 1.0, "check_bayes", "'0.99', '1.00'", 1 },
		{ 1.0, "check_bayes", "'0.999', '1.00'", 1 },
		{ 0.9995, "check_bayes", "'0.999','1.00'", 1 },
		{ 0.9985, "check_bayes", "\"0.999\" , \"1.00\"", 0 },
		{ 0.7, "check_bayes", "0.60, 0.80", 1 },
		{ 0.99, "check_bayes", "'0.95', 'undef'", 1 },
		{ -1, "check_bayes", "'0.00', '0.01'", 0 },	/* no verdict */
		{ -1, "check_bayes", "'0.00', 'undef'", 0 },
		{ 0.5, "check_bayes", "", 0 },
		{ 0.5, "check_bayes", "'0.40'", 0 },
		{ 0.5, "check_bayes", "'x', '0.6'", 0 },
		{ 0.5, "check_rbl", "'0.40', '0.60'", -1 },
		{ 0.5, "check_bayes_x", "'0.40', '0.60'", -1 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		int got = bayes_sa_eval(cases[i].prob, cases[i].function, cases[i].args);
		if (got != cases[i].expect)
			fail_msg("case %zu: %s(%s) at %g gave %d, expected %d", i, cases[i].function,
			    cases[i].args, cases[i].prob, got, cases[i].expect);
	}
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	config_load(NULL, &(const char *){ NULL });
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_same_whatever_the_cuts),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_message_and_url),
		cmocka_unit_test(test_learn_forget_relearn),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_memory_table),
		cmocka_unit_test(test_reader_not_blocked),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_sa_eval),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
