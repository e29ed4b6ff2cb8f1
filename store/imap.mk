# SPDX-License-Identifier: MIT
# store/imap.mk: see store/local.mk.  imapd, the IMAP server of the
# mailbox store.  Its command parser and message structure are a library
# of their own, so the unit tests and fuzz targets use them without the
# daemon.
noinst_LIBRARIES += store/libimap.a
store_libimap_a_SOURCES = store/imap_parser.c store/imap_parser.h \
	store/imap_message.c store/imap_message.h \
	store/imap_thread.c store/imap_thread.h
IMAP_LIBS = store/libimap.a $(FILTER_LIBS) $(FACTEUR_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_imap_parser
TESTS += tests/unit/test_imap_parser
tests_unit_test_imap_parser_SOURCES = tests/unit/test_imap_parser.c
tests_unit_test_imap_parser_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_imap_parser_LDADD = $(IMAP_LIBS) $(CMOCKA_LIBS)
check_PROGRAMS += tests/unit/test_imap_message
TESTS += tests/unit/test_imap_message
tests_unit_test_imap_message_SOURCES = tests/unit/test_imap_message.c
tests_unit_test_imap_message_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_imap_message_LDADD = $(IMAP_LIBS) $(CMOCKA_LIBS)
check_PROGRAMS += tests/unit/test_imap_thread
TESTS += tests/unit/test_imap_thread
tests_unit_test_imap_thread_SOURCES = tests/unit/test_imap_thread.c
tests_unit_test_imap_thread_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_imap_thread_LDADD = $(IMAP_LIBS) $(CMOCKA_LIBS)
endif

# imapd: the IMAP server (IMAP4rev1 and IMAP4rev2) of the mailbox store.
pkglibexec_PROGRAMS += store/imapd
store_imapd_SOURCES = store/imapd_main.c store/imapd.c store/imapd.h \
	store/imapd_mailbox.c store/imapd_acl.c store/imapd_learn.c store/imap_fetch.c \
	store/imap_search.c store/imap_search.h
# COMPRESS=DEFLATE needs zlib: ZLIB_CFLAGS, ZLIB_LIBS and HAVE_ZLIB from configure.
store_imapd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(ZLIB_CFLAGS)
store_imapd_LDADD = $(IMAP_LIBS) $(STORE_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(ZLIB_LIBS) \
	$(PTHREAD_LIBS)
man_MANS += doc/man/imapd.8
EXTRA_DIST += doc/man/imapd.8 tests/integration/test_imap.py tests/integration/test_imap_acl.py \
	tests/integration/test_store_clients.py
