/* SPDX-License-Identifier: MIT */
/*
 * test_strset - the hashed string set (lib/strset.h): order kept,
 * duplicates refused with the index of the first, lengths and NUL bytes,
 * growth through many entries, the seeded hash.
 */
#include "facteur-config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/strset.h"

static void
test_order_and_duplicates(void **state)
{
	struct strset s = STRSET_INIT;
	size_t i;

	(void)state;
	assert_int_equal(strset_find(&s, "a", 1), -1);
	assert_int_equal(strset_add(&s, "http://a.example/", 17, &i), 1);
	assert_int_equal(i, 0);
	assert_int_equal(strset_add(&s, "http://b.example/", 17, &i), 1);
	assert_int_equal(i, 1);
	assert_int_equal(strset_add(&s, "http://a.example/", 17, &i), 0);
	assert_int_equal(i, 0);
	/* a prefix and an extension are other strings */
	assert_int_equal(strset_add(&s, "http://a.example", 16, NULL), 1);
	assert_int_equal(strset_add(&s, "http://a.example/x", 18, NULL), 1);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.v[0], "http://a.example/");
	assert_string_equal(s.v[2], "http://a.example");
	assert_int_equal(s.len[3], 18);
	assert_int_equal(strset_find(&s, "http://b.example/", 17), 1);
	assert_int_equal(strset_find(&s, "http://c.example/", 17), -1);
	strset_free(&s);
	assert_int_equal(s.n, 0);
	assert_null(s.v);
	/* usable again after free */
	assert_int_equal(strset_add(&s, "", 0, &i), 1);
	assert_int_equal(strset_add(&s, "", 0, &i), 0);
	strset_free(&s);
}

static void
test_nul_bytes(void **state)
{
	struct strset s = STRSET_INIT;

	(void)state;
	assert_int_equal(strset_add(&s, "a\0b", 3, NULL), 1);
	assert_int_equal(strset_add(&s, "a\0c", 3, NULL), 1);
	assert_int_equal(strset_add(&s, "a", 1, NULL), 1);
	assert_int_equal(strset_add(&s, "a\0b", 3, NULL), 0);
	assert_int_equal(s.n, 3);
	assert_memory_equal(s.v[1], "a\0c", 4);	/* NUL-ended after its bytes */
	strset_free(&s);
}

static void
test_growth(void **state)
{
	struct strset s = STRSET_INIT;
	char buf[64];
	const size_t n = 100000;

	(void)state;
	for (size_t k = 0; k < n; k++) {
		int len = snprintf(buf, sizeof(buf), "http://h%zu.example.com/p%zu", k, k);
		size_t i;
		assert_int_equal(strset_add(&s, buf, (size_t)len, &i), 1);
		assert_int_equal(i, k);
	}
	assert_int_equal(s.n, n);
	/* every one found at its index after all the rehashing, none twice */
	for (size_t k = 0; k < n; k += 7) {
		int len = snprintf(buf, sizeof(buf), "http://h%zu.example.com/p%zu", k, k);
		assert_int_equal(strset_find(&s, buf, (size_t)len), (long)k);
		assert_int_equal(strset_add(&s, buf, (size_t)len, NULL), 0);
	}
	assert_int_equal(s.n, n);
	assert_true(s.nslot >= 2 * s.n);
	strset_free(&s);
}

static void
test_hash(void **state)
{
	(void)state;
	/* the same bytes the same hash within a process; length counts */
	assert_true(str_hash("abc", 3) == str_hash("abc", 3));
	assert_true(str_hash("abc", 3) != str_hash("abd", 3));
	assert_true(str_hash("ab", 2) != str_hash("ab\0", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_duplicates),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
