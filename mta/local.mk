# SPDX-License-Identifier: MIT
noinst_LIBRARIES += mta/libmta.a
mta_libmta_a_SOURCES = \
	mta/queue.c mta/queue.h \
	mta/queue_file.c mta/queue_file.h \
	mta/smtp_addr.c mta/smtp_addr.h \
	mta/smtp_proto.c mta/smtp_proto.h
mta_libmta_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
MTA_LIBS = mta/libmta.a $(FACTEUR_LIBS)
