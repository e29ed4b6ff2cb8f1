# SPDX-License-Identifier: MIT
noinst_LIBRARIES += lib/libfacteur.a
lib_libfacteur_a_SOURCES = \
	lib/config.c lib/config.h lib/params.h \
	lib/dns.c lib/dns.h \
	lib/event_util.c lib/event_util.h \
	lib/fd.c lib/fd.h \
	lib/log.c lib/log.h \
	lib/mem.c lib/mem.h \
	lib/net.c lib/net.h \
	lib/proc.c lib/proc.h \
	lib/stats.c lib/stats.h \
	lib/tls.c lib/tls.h \
	lib/workpool.c lib/workpool.h
lib_libfacteur_a_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(INIH_CFLAGS) $(UNBOUND_CFLAGS)
FACTEUR_LIBS = lib/libfacteur.a $(INIH_LIBS) $(OPENSSL_LIBS)
