# SPDX-License-Identifier: MIT
# appliance/console/: facteur-console, the appliance's full-screen menu on
# the console (ncurses), and the action scripts it calls for what belongs
# to the operating system (keyboard, time, root's password, network, SNMP,
# updates, power, removable disks for backups).
sbin_PROGRAMS += appliance/console/facteur-console
appliance_console_facteur_console_SOURCES = \
	appliance/console/console_main.c \
	appliance/console/console.c appliance/console/console.h \
	appliance/console/cert.c appliance/console/cert.h \
	appliance/console/conf_edit.c appliance/console/conf_edit.h \
	appliance/console/login.c appliance/console/login.h \
	appliance/console/run.c appliance/console/run.h \
	appliance/console/status.c appliance/console/status.h \
	appliance/console/text.c appliance/console/text.h \
	appliance/console/ui.c appliance/console/ui.h appliance/console/ui_int.h \
	appliance/console/ui_form.c appliance/console/ui_list.c appliance/console/ui_pager.c \
	appliance/console/valid.c appliance/console/valid.h \
	appliance/console/wizard.c appliance/console/wizard_apply.c appliance/console/wizard.h \
	appliance/console/screen_backup.c \
	appliance/console/screen_dashboard.c \
	appliance/console/screen_directory.c \
	appliance/console/screen_log.c \
	appliance/console/screen_queue.c \
	appliance/console/screen_services.c \
	appliance/console/screen_system.c \
	appliance/console/screen_tls.c
appliance_console_facteur_console_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) $(OPENSSL_CFLAGS) \
	$(SQLITE_CFLAGS) -DFACTEUR_SBIN_DIR='"$(sbindir)"'
appliance_console_facteur_console_LDADD = $(MTA_LIBS) $(STORE_LIBS) $(NCURSES_LIBS) \
	$(OPENSSL_LIBS) $(PTHREAD_LIBS)

# The action scripts: the image may replace them; tests point -a elsewhere.
consoleactionsdir = $(pkglibexecdir)/console
dist_consoleactions_SCRIPTS = \
	appliance/console/actions/system.sh \
	appliance/console/actions/network.sh \
	appliance/console/actions/snmp.sh \
	appliance/console/actions/update.sh \
	appliance/console/actions/backup.sh \
	appliance/console/actions/power.sh

# The pieces that need no terminal: output into lines, facteur.conf edited in place.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_console_text
TESTS += tests/unit/test_console_text
tests_unit_test_console_text_SOURCES = tests/unit/test_console_text.c \
	appliance/console/text.c appliance/console/conf_edit.c appliance/console/valid.c
tests_unit_test_console_text_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_console_text_LDADD = lib/libfacteur.a $(CMOCKA_LIBS)
endif

man_MANS += doc/man/facteur-console.8
EXTRA_DIST += doc/man/facteur-console.8 tests/integration/test_console.py
