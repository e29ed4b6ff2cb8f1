# SPDX-License-Identifier: MIT
noinst_LIBRARIES += mta/libmta.a
mta_libmta_a_SOURCES = \
	mta/queue.c mta/queue.h \
	mta/queue_commit.c mta/queue_commit.h \
	mta/queue_file.c mta/queue_file.h \
	mta/smtp_addr.c mta/smtp_addr.h \
	mta/smtp_proto.c mta/smtp_proto.h \
	mta/smtp_reply.c mta/smtp_reply.h
mta_libmta_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
MTA_LIBS = mta/libmta.a $(FACTEUR_LIBS)

# qmgr: queue manager and SMTP client (delivery).
pkglibexec_PROGRAMS += mta/qmgr
mta_qmgr_SOURCES = mta/qmgr_main.c \
	mta/qmgr.c mta/qmgr.h \
	mta/qmgr_ctl.c mta/qmgr_ctl.h \
	mta/smtp_client.c mta/smtp_client.h \
	mta/transport.c mta/transport.h \
	mta/bounce.c mta/bounce.h \
	mta/deliver_file.c mta/deliver_file.h
mta_qmgr_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(UNBOUND_CFLAGS)
mta_qmgr_LDADD = $(MTA_LIBS) $(STORE_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(UNBOUND_LIBS) $(PTHREAD_LIBS)

# smtpd: the SMTP server.
pkglibexec_PROGRAMS += mta/smtpd
mta_smtpd_SOURCES = mta/smtpd_main.c mta/smtpd.c mta/smtpd.h mta/smtpd_data.c mta/smtpd_auth.c \
	mta/smtpd_milter.c mta/smtpd_policy.c
mta_smtpd_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
mta_smtpd_LDADD = $(MTA_LIBS) $(POLICY_LIBS) $(FILTER_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(UNBOUND_LIBS) \
	$(CRYPT_LIBS) $(PTHREAD_LIBS)

# The milter client (mta/milter.mk).
include mta/milter.mk
