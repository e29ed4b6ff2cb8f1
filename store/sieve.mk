# SPDX-License-Identifier: MIT
# store/sieve.mk: see store/local.mk.  Sieve (RFC 5228 and extensions)
# at delivery, and managesieved, the ManageSieve server (RFC 5804) that
# stores accounts' scripts.  The language is a library of its own (the
# compiler, the interpreter, the vacation rules, the scripts' storage),
# so lmtpd, managesieved, the unit tests and the fuzz target share it.
noinst_LIBRARIES += store/libsieve.a
store_libsieve_a_SOURCES = store/sieve.c store/sieve.h store/sieve_int.h \
	store/sieve_run.c store/sieve_vacation.c \
	store/sieve_store.c store/sieve_store.h
store_libsieve_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(OPENSSL_CFLAGS)
SIEVE_LIBS = store/libsieve.a $(STORE_LIBS) $(FILTER_LIBS) $(SQLITE_LIBS) $(OPENSSL_LIBS)

# lmtpd runs the active script of each recipient.
store_lmtpd_SOURCES += store/lmtpd_sieve.c store/lmtpd_sieve.h
store_lmtpd_LDADD += $(SIEVE_LIBS) $(MTA_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_sieve
TESTS += tests/unit/test_sieve
tests_unit_test_sieve_SOURCES = tests/unit/test_sieve.c
tests_unit_test_sieve_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_sieve_LDADD = $(SIEVE_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif

# managesieved: the ManageSieve server.
pkglibexec_PROGRAMS += store/managesieved
store_managesieved_SOURCES = store/managesieved_main.c store/managesieve.c store/managesieve.h
store_managesieved_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
store_managesieved_LDADD = $(SIEVE_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
man_MANS += doc/man/managesieved.8
EXTRA_DIST += doc/man/managesieved.8 tests/integration/test_sieve.py
