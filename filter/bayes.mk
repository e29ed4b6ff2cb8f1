# SPDX-License-Identifier: MIT
# filter/bayes.mk: see filter/local.mk.
# The learned classifier: tokenizer, chi-square combining, SQLite state.
filter_libfilter_a_SOURCES += filter/bayes.c filter/bayes.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_bayes
TESTS += tests/unit/test_bayes
tests_unit_test_bayes_SOURCES = tests/unit/test_bayes.c
tests_unit_test_bayes_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_bayes_LDADD = $(FILTER_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif

EXTRA_DIST += tests/integration/test_learn.py
