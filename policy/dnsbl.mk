# SPDX-License-Identifier: MIT
# policy/dnsbl.mk: see policy/local.mk.  Connection-time DNS checks
# (policy/dnsbl.[ch]): weighted DNSBL/DNSWL, RHSBL, FCrDNS.
policy_libpolicy_a_SOURCES += policy/dnsbl.c policy/dnsbl.h

# Runs one check through the resolver of facteur.conf and prints the result
# (tests/integration/test_dnsbl.py).  It lists dnsbl.c rather than linking
# libpolicy.a, whose other parts need the directory and the state backends.
noinst_PROGRAMS += policy/dnsbl_check
policy_dnsbl_check_SOURCES = policy/dnsbl_check_main.c policy/dnsbl.c policy/dnsbl.h
policy_dnsbl_check_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(UNBOUND_CFLAGS)
policy_dnsbl_check_LDADD = $(FACTEUR_LIBS) $(LIBEVENT_LIBS) $(UNBOUND_LIBS)

EXTRA_DIST += tests/integration/test_dnsbl.py

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_dnsbl
TESTS += tests/unit/test_dnsbl
tests_unit_test_dnsbl_SOURCES = tests/unit/test_dnsbl.c policy/dnsbl.c policy/dnsbl.h
tests_unit_test_dnsbl_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBEVENT_CFLAGS) $(UNBOUND_CFLAGS)
tests_unit_test_dnsbl_LDADD = $(FACTEUR_LIBS) $(CMOCKA_LIBS) $(LIBEVENT_LIBS) $(UNBOUND_LIBS)
endif
