# SPDX-License-Identifier: MIT
sbin_PROGRAMS += appliance/facteur appliance/facteurctl
appliance_facteur_SOURCES = appliance/master_main.c appliance/master.c appliance/master.h \
	appliance/check.c appliance/check.h
appliance_facteur_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
appliance_facteur_LDADD = $(MTA_LIBS) $(POLICY_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)

appliance_facteurctl_SOURCES = appliance/facteurctl.c appliance/facteurctl.h appliance/check.c appliance/check.h \
	appliance/facteurctl_quarantine.c
appliance_facteurctl_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(HYPERSCAN_CFLAGS) $(CLAMAV_CFLAGS) $(OPENDKIM_CFLAGS) $(SQLITE_CFLAGS)
appliance_facteurctl_LDADD = $(MTA_LIBS) $(POLICY_LIBS) $(FILTER_LIBS) $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)
appliance_facteurctl_SOURCES += appliance/facteurctl_dkim.c
appliance_facteurctl_SOURCES += appliance/facteurctl_learn.c
appliance_facteurctl_SOURCES += appliance/facteurctl_rules.c
appliance_facteurctl_SOURCES += appliance/facteurctl_directory.c
appliance_facteurctl_SOURCES += appliance/facteurctl_mailbox.c
appliance_facteurctl_SOURCES += appliance/facteurctl_acl.c
appliance_facteurctl_SOURCES += appliance/facteurctl_report.c
appliance_facteurctl_SOURCES += appliance/facteurctl_backup.c
appliance_facteurctl_SOURCES += appliance/facteurctl_csv.c
appliance_facteurctl_LDADD += $(STORE_LIBS)

# systemd units.  Distributions put them where their systemd looks:
# make install systemdsystemunitdir=/lib/systemd/system (Debian 12).
systemdsystemunitdir = $(prefix)/lib/systemd/system
systemdsystemunit_DATA = appliance/systemd/facteur.service \
	appliance/systemd/facteur-purge.service appliance/systemd/facteur-purge.timer \
	appliance/systemd/facteur-console@.service
EXTRA_DIST += appliance/systemd/facteur.service.in appliance/systemd/facteur-purge.service.in \
	appliance/systemd/facteur-purge.timer appliance/facteur.conf.sample \
	appliance/systemd/facteur-console@.service.in
CLEANFILES += appliance/systemd/facteur.service appliance/systemd/facteur-purge.service \
	appliance/systemd/facteur-console@.service
appliance/systemd/facteur.service appliance/systemd/facteur-purge.service \
appliance/systemd/facteur-console@.service: Makefile
	$(AM_V_GEN)mkdir -p appliance/systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/$@.in > $@
appliance/systemd/facteur.service: appliance/systemd/facteur.service.in
appliance/systemd/facteur-purge.service: appliance/systemd/facteur-purge.service.in
appliance/systemd/facteur-console@.service: appliance/systemd/facteur-console@.service.in
