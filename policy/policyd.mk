# SPDX-License-Identifier: MIT
# policy/policyd.mk: see policy/local.mk.  The policy delegation protocol
# (policy_proto), the recipient probes of relay domains' next hops
# (verify), and policyd, the Postfix policy service on the policy engine.
policy_libpolicy_a_SOURCES += policy/policy_proto.c policy/policy_proto.h \
	policy/verify.c policy/verify.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_policy_proto
TESTS += tests/unit/test_policy_proto
tests_unit_test_policy_proto_SOURCES = tests/unit/test_policy_proto.c
tests_unit_test_policy_proto_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_policy_proto_LDADD = $(POLICY_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif

# Probes recipients with policy/verify and prints the answers
# (tests/integration/test_verify.py).
noinst_PROGRAMS += policy/verify_test
policy_verify_test_SOURCES = policy/verify_test_main.c
policy_verify_test_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
policy_verify_test_LDADD = $(POLICY_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += tests/integration/test_verify.py

# policyd: the policy engine as a Postfix policy service (check_policy_service).
pkglibexec_PROGRAMS += policy/policyd
policy_policyd_SOURCES = policy/policyd_main.c policy/policyd.c policy/policyd.h
policy_policyd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
policy_policyd_LDADD = $(POLICY_LIBS) $(PTHREAD_LIBS)
man_MANS += doc/man/policyd.8
EXTRA_DIST += doc/man/policyd.8 tests/integration/test_policyd.py
