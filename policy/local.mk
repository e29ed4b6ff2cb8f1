# SPDX-License-Identifier: MIT
# policy/: connect/HELO/MAIL/RCPT-time decisions (policy.h), used by smtpd
# and by policyd, the Postfix policy delegation service.  Each part has
# its own fragment adding its sources to libpolicy.a.
noinst_LIBRARIES += policy/libpolicy.a
policy_libpolicy_a_SOURCES = policy/policy.c policy/policy.h
policy_libpolicy_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(UNBOUND_CFLAGS) $(SQLITE_CFLAGS) \
	$(HIREDIS_CFLAGS)
POLICY_LIBS = policy/libpolicy.a $(STORE_LIBS) $(FACTEUR_LIBS) $(LIBEVENT_LIBS) $(UNBOUND_LIBS) \
	$(SQLITE_LIBS) $(HIREDIS_LIBS)
EXTRA_DIST += policy/README.md

include policy/state.mk
include policy/dnsbl.mk
include policy/policyd.mk
