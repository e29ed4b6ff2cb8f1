# SPDX-License-Identifier: MIT
# policy/state.mk: see policy/local.mk.
# The shared state (SQLite or Redis) and what counts in it: greylisting
# and rate limits.  pstate_test drives them from stdin for the Redis tests.
policy_libpolicy_a_SOURCES += policy/state.c policy/state.h policy/greylist.c policy/greylist.h \
	policy/ratelimit.c policy/ratelimit.h

PSTATE_SOURCES = policy/state.c policy/greylist.c policy/ratelimit.c
PSTATE_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS) $(HIREDIS_CFLAGS)
PSTATE_LIBS = $(FACTEUR_LIBS) $(LIBEVENT_LIBS) $(SQLITE_LIBS) $(HIREDIS_LIBS) $(PTHREAD_LIBS)

noinst_PROGRAMS += policy/pstate_test
policy_pstate_test_SOURCES = policy/pstate_test_main.c $(PSTATE_SOURCES)
policy_pstate_test_CFLAGS = $(PSTATE_CFLAGS)
policy_pstate_test_LDADD = $(PSTATE_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_policy_state
TESTS += tests/unit/test_policy_state
tests_unit_test_policy_state_SOURCES = tests/unit/test_policy_state.c $(PSTATE_SOURCES)
tests_unit_test_policy_state_CFLAGS = $(PSTATE_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_policy_state_LDADD = $(PSTATE_LIBS) $(CMOCKA_LIBS)
endif

EXTRA_DIST += tests/integration/test_policy_state.py
