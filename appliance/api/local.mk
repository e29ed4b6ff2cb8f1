# SPDX-License-Identifier: MIT
# appliance/api/local.mk: facteur-apid, the admin REST API (JSON over
# HTTPS with jansson and libevent's evhttp; doc/admin-api.yaml).
pkglibexec_PROGRAMS += appliance/api/facteur-apid

appliance_api_facteur_apid_SOURCES = appliance/api/apid_main.c \
	appliance/api/api.h \
	appliance/api/api_http.c appliance/api/api_http.h \
	appliance/api/api_router.c \
	appliance/api/api_json.c appliance/api/api_json.h \
	appliance/api/api_store.c appliance/api/api_store.h \
	appliance/api/api_domains.c appliance/api/api_accounts.c \
	appliance/api/api_groups.c appliance/api/api_system.c \
	appliance/agentx/monitor.c appliance/agentx/monitor.h
appliance_api_facteur_apid_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) \
	$(JANSSON_CFLAGS) $(SQLITE_CFLAGS)
appliance_api_facteur_apid_LDADD = $(STORE_LIBS) $(LIBEVENT_LIBS) $(JANSSON_LIBS) \
	$(SQLITE_LIBS) $(OPENSSL_LIBS) $(PTHREAD_LIBS)

man_MANS += doc/man/facteur-apid.8
dist_doc_DATA += doc/admin-api.yaml
EXTRA_DIST += doc/man/facteur-apid.8 tests/integration/test_admin_api.py

# The request bodies' table of cases (cmocka).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_api_json
TESTS += tests/unit/test_api_json
tests_unit_test_api_json_SOURCES = tests/unit/test_api_json.c appliance/api/api_json.c \
	appliance/api/api_json.h
tests_unit_test_api_json_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_api_json_LDADD = $(STORE_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
endif
