# SPDX-License-Identifier: MIT
# filter/auth.mk: see filter/local.mk.  Sender authentication: SPF, DKIM,
# DMARC (filter/auth.[ch]) and the blocking resolver they share.
filter_libfilter_a_SOURCES += \
	filter/arc.c filter/arc.h \
	filter/auth.c filter/auth.h \
	filter/dns_blocking.c filter/dns_blocking.h
# auth.c and dns_blocking.c need libunbound (FILTER_LIBS is for every
# program linking libfilter.a).
filter_libfilter_a_CFLAGS += $(UNBOUND_CFLAGS)
FILTER_LIBS += $(UNBOUND_LIBS) $(PTHREAD_LIBS)

# Runs auth_verify or auth_dkim_sign on a message file (tests/integration/test_auth.py).
noinst_PROGRAMS += filter/auth_check
filter_auth_check_SOURCES = filter/auth_check_main.c
filter_auth_check_CFLAGS = $(AM_CFLAGS)
filter_auth_check_LDADD = $(FILTER_LIBS)

# Its integration test (listed here to keep tests/integration/local.mk to the relay's).
EXTRA_DIST += tests/integration/test_auth.py
