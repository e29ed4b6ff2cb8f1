# SPDX-License-Identifier: MIT
# store/store.mk: see store/local.mk.  The mailbox store (mstore: blobs
# and per-account SQLite indexes) and lmtpd, the LMTP server delivering
# into it.  mstore hashes blobs with OpenSSL's SHA-256.
store_libstore_a_SOURCES += store/mstore.c store/mstore.h
store_libstore_a_CFLAGS += $(OPENSSL_CFLAGS)
STORE_LIBS += $(OPENSSL_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_mstore
TESTS += tests/unit/test_mstore
tests_unit_test_mstore_SOURCES = tests/unit/test_mstore.c
tests_unit_test_mstore_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_mstore_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif

# lmtpd: the LMTP server delivering into the store.  Its command lines go
# through smtpd's parser (mta/smtp_proto.c, smtp_addr.c): no new parser.
pkglibexec_PROGRAMS += store/lmtpd
store_lmtpd_SOURCES = store/lmtpd_main.c store/lmtpd.c store/lmtpd.h
store_lmtpd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
store_lmtpd_LDADD = $(MTA_LIBS) $(STORE_LIBS) $(LIBEVENT_LIBS) $(PTHREAD_LIBS)
man_MANS += doc/man/lmtpd.8
EXTRA_DIST += doc/man/lmtpd.8 tests/integration/test_lmtp.py

# Administration of the store: retention, mbox export and import, check.
store_libstore_a_SOURCES += store/mstore_admin.c store/mstore_admin.h store/mbox.c store/mbox.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_mstore_admin
TESTS += tests/unit/test_mstore_admin
tests_unit_test_mstore_admin_SOURCES = tests/unit/test_mstore_admin.c
tests_unit_test_mstore_admin_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_mstore_admin_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif
EXTRA_DIST += tests/integration/test_mailbox_admin.py
