# SPDX-License-Identifier: MIT
# filter/eval.mk: see filter/local.mk.  SpamAssassin's eval: tests in C
# (filter/eval.[ch]) and filter_test, the pipeline run on one message file
# (tests/integration/test_agreement.py compares it with spamassassin -t).
filter_libfilter_a_SOURCES += filter/eval.c filter/eval.h filter/eval_received.c \
	filter/received.c filter/received.h \
	filter/eval_received.h

noinst_PROGRAMS += filter/filter_test
filter_filter_test_SOURCES = filter/filter_test_main.c
filter_filter_test_CFLAGS = $(AM_CFLAGS)
filter_filter_test_LDADD = $(FILTER_LIBS)

EXTRA_DIST += tests/integration/test_agreement.py tests/integration/agreement \
	tests/integration/sa_lists.pl
