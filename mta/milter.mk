# SPDX-License-Identifier: MIT
# mta/milter.mk: the milter client of smtpd (milter_client.h), and
# milter_test, which plays one transaction against smtpd_milters.
MILTER_CLIENT_SOURCES = \
	mta/milter_client.c mta/milter_client.h \
	mta/milter_proto.c mta/milter_proto.h
mta_smtpd_SOURCES += $(MILTER_CLIENT_SOURCES)

noinst_PROGRAMS += mta/milter_test
mta_milter_test_SOURCES = mta/milter_test_main.c $(MILTER_CLIENT_SOURCES)
mta_milter_test_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
mta_milter_test_LDADD = $(MTA_LIBS) $(LIBEVENT_LIBS) $(PTHREAD_LIBS)

dist_doc_DATA += doc/milter.md
EXTRA_DIST += tests/integration/test_milter_client.py
