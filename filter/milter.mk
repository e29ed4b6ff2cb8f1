# SPDX-License-Identifier: MIT
# filter/milter.mk: see filter/local.mk.  facteur-milter, the filter
# pipeline offered to Postfix and Sendmail through libmilter.
sbin_PROGRAMS += filter/facteur-milter
filter_facteur_milter_SOURCES = filter/milter_main.c filter/milter.c filter/milter.h
filter_facteur_milter_CFLAGS = $(AM_CFLAGS) $(MILTER_CFLAGS)
filter_facteur_milter_LDADD = $(FILTER_LIBS) $(MILTER_LIBS) $(PTHREAD_LIBS)

man_MANS += doc/man/facteur-milter.8
EXTRA_DIST += doc/man/facteur-milter.8 tests/integration/test_milter_server.py
