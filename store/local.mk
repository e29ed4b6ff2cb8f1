# SPDX-License-Identifier: MIT
# store/: the directory, accounts' authentication (and later the mailbox store).
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = store/directory.c store/directory.h \
	store/directory_shared.c store/directory_shared.h \
	store/auth.c store/auth.h store/auth_ldap.c store/auth_ldap.h
store_libstore_a_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(ARGON2_CFLAGS) $(LDAP_CFLAGS)
STORE_LIBS = store/libstore.a $(FACTEUR_LIBS) $(SQLITE_LIBS) $(ARGON2_LIBS) $(CRYPT_LIBS) \
	$(LDAP_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += store/README.md tests/integration/test_accounts_auth.py tests/integration/test_ldap.py

# Logins against the directory: hashes, app passwords, profiles, throttling, the schema migration.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_auth_store
TESTS += tests/unit/test_auth_store
tests_unit_test_auth_store_SOURCES = tests/unit/test_auth_store.c
tests_unit_test_auth_store_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_auth_store_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS)
# LDAP passwords without a server: filter escaping, parameters, a server down.
check_PROGRAMS += tests/unit/test_auth_ldap
TESTS += tests/unit/test_auth_ldap
tests_unit_test_auth_ldap_SOURCES = tests/unit/test_auth_ldap.c
tests_unit_test_auth_ldap_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_auth_ldap_LDADD = $(STORE_LIBS) $(CMOCKA_LIBS)
endif
include store/imap.mk
include store/store.mk
include store/sieve.mk
