# SPDX-License-Identifier: MIT
# Table-driven cmocka unit tests of the relay core's parsers; make check
# runs them when configure found cmocka.
if HAVE_CMOCKA
UNIT_TESTS = \
	tests/unit/test_smtp_proto \
	tests/unit/test_smtp_addr \
	tests/unit/test_queue_file \
	tests/unit/test_config \
	tests/unit/test_net \
	tests/unit/test_smtp_reply \
	tests/unit/test_mime \
	tests/unit/test_mime_corpus \
	tests/unit/test_sa_rules \
	tests/unit/test_rules_compile \
	tests/unit/test_pipeline \
	tests/unit/test_received \
	tests/unit/test_milter_proto \
	tests/unit/test_directory
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_LDADD = $(MTA_LIBS) $(CMOCKA_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(INIH_LIBS) \
	$(PTHREAD_LIBS)

tests_unit_test_smtp_proto_SOURCES = tests/unit/test_smtp_proto.c
tests_unit_test_smtp_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_smtp_proto_LDADD = $(UNIT_LDADD)

tests_unit_test_smtp_addr_SOURCES = tests/unit/test_smtp_addr.c
tests_unit_test_smtp_addr_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_smtp_addr_LDADD = $(UNIT_LDADD)

tests_unit_test_queue_file_SOURCES = tests/unit/test_queue_file.c
tests_unit_test_queue_file_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_queue_file_LDADD = $(UNIT_LDADD)

tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_config_LDADD = $(UNIT_LDADD)

tests_unit_test_net_SOURCES = tests/unit/test_net.c
tests_unit_test_net_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_net_LDADD = $(UNIT_LDADD)

tests_unit_test_smtp_reply_SOURCES = tests/unit/test_smtp_reply.c
tests_unit_test_smtp_reply_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_smtp_reply_LDADD = $(UNIT_LDADD)

# The MIME parser's tests link the filter library only.
MIME_TEST_LDADD = $(FILTER_LIBS) $(CMOCKA_LIBS)

tests_unit_test_mime_SOURCES = tests/unit/test_mime.c
tests_unit_test_mime_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mime_LDADD = $(MIME_TEST_LDADD)

tests_unit_test_mime_corpus_SOURCES = tests/unit/test_mime_corpus.c
tests_unit_test_mime_corpus_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mime_corpus_LDADD = $(MIME_TEST_LDADD)

# The rules engine: the filter library with Hyperscan and PCRE2.
tests_unit_test_sa_rules_SOURCES = tests/unit/test_sa_rules.c
tests_unit_test_sa_rules_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_sa_rules_LDADD = $(MIME_TEST_LDADD)

tests_unit_test_rules_compile_SOURCES = tests/unit/test_rules_compile.c
tests_unit_test_rules_compile_CFLAGS = $(UNIT_CFLAGS) $(HYPERSCAN_CFLAGS)
tests_unit_test_rules_compile_LDADD = $(MIME_TEST_LDADD)

# The milter client's packets, and its message changes.
tests_unit_test_milter_proto_SOURCES = tests/unit/test_milter_proto.c $(MILTER_CLIENT_SOURCES)
tests_unit_test_milter_proto_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_milter_proto_LDADD = $(UNIT_LDADD)
tests_unit_test_received_SOURCES = tests/unit/test_received.c
tests_unit_test_received_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_received_LDADD = $(FILTER_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)

tests_unit_test_pipeline_SOURCES = tests/unit/test_pipeline.c
tests_unit_test_pipeline_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_pipeline_LDADD = $(FILTER_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)

# The directory: the store library and SQLite.
tests_unit_test_directory_SOURCES = tests/unit/test_directory.c
tests_unit_test_directory_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_directory_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS)

endif
