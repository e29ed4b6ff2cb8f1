# SPDX-License-Identifier: MIT
noinst_LIBRARIES += lib/libfacteur.a
lib_libfacteur_a_SOURCES = \
	lib/config.c lib/config.h lib/params.h \
	lib/csv.c lib/csv.h \
	lib/dns.c lib/dns.h \
	lib/event_util.c lib/event_util.h \
	lib/fd.c lib/fd.h \
	lib/group_sync.c lib/group_sync.h \
	lib/log.c lib/log.h \
	lib/mem.c lib/mem.h \
	lib/net.c lib/net.h \
	lib/proc.c lib/proc.h \
	lib/report.c lib/report.h \
	lib/stats.c lib/stats.h \
	lib/strset.c lib/strset.h \
	lib/tls.c lib/tls.h \
	lib/workpool.c lib/workpool.h
lib_libfacteur_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(INIH_CFLAGS) $(UNBOUND_CFLAGS) \
	$(SQLITE_CFLAGS)
FACTEUR_LIBS = lib/libfacteur.a $(INIH_LIBS) $(OPENSSL_LIBS)

# The CSV reader's table of cases (cmocka).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_csv
TESTS += tests/unit/test_csv
tests_unit_test_csv_SOURCES = tests/unit/test_csv.c
tests_unit_test_csv_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_csv_LDADD = lib/libfacteur.a $(CMOCKA_LIBS)
endif

# The hashed string set (cmocka).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_strset
TESTS += tests/unit/test_strset
tests_unit_test_strset_SOURCES = tests/unit/test_strset.c
tests_unit_test_strset_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_strset_LDADD = lib/libfacteur.a $(CMOCKA_LIBS)
endif
