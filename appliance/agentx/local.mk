# SPDX-License-Identifier: MIT
# appliance/agentx/local.mk: monitoring.  facteur-agentx, the SNMP
# subagent serving FACTEUR-MIB over AgentX (net-snmp's agent library, its
# own loop), and facteur-metrics, the Prometheus /metrics endpoint
# (libevent's evhttp); both read the stats segment through monitor.c.
pkglibexec_PROGRAMS += appliance/agentx/facteur-agentx appliance/agentx/facteur-metrics

appliance_agentx_facteur_agentx_SOURCES = appliance/agentx/agentx_main.c \
	appliance/agentx/agentx_mib.c appliance/agentx/agentx_mib.h \
	appliance/agentx/monitor.c appliance/agentx/monitor.h
appliance_agentx_facteur_agentx_CFLAGS = $(AM_CFLAGS) $(NETSNMP_CFLAGS)
appliance_agentx_facteur_agentx_LDADD = $(FACTEUR_LIBS) $(NETSNMP_LIBS) $(PTHREAD_LIBS)

appliance_agentx_facteur_metrics_SOURCES = appliance/agentx/metrics_main.c \
	appliance/agentx/metrics.c appliance/agentx/metrics.h \
	appliance/agentx/monitor.c appliance/agentx/monitor.h
appliance_agentx_facteur_metrics_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
appliance_agentx_facteur_metrics_LDADD = $(FACTEUR_LIBS) $(LIBEVENT_LIBS) $(PTHREAD_LIBS)

# The MIB where net-snmp's tools look (snmpwalk -m +FACTEUR-MIB).
snmpmibsdir = $(datadir)/snmp/mibs
dist_snmpmibs_DATA = doc/FACTEUR-MIB.txt

man_MANS += doc/man/facteur-agentx.8 doc/man/facteur-metrics.8
EXTRA_DIST += doc/man/facteur-agentx.8 doc/man/facteur-metrics.8 \
	tests/integration/test_snmp.py \
	tests/integration/mibs/README tests/integration/mibs/SNMPv2-SMI.txt \
	tests/integration/mibs/SNMPv2-TC.txt tests/integration/mibs/SNMPv2-CONF.txt

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_monitor
TESTS += tests/unit/test_monitor
tests_unit_test_monitor_SOURCES = tests/unit/test_monitor.c \
	appliance/agentx/monitor.c appliance/agentx/metrics.c
tests_unit_test_monitor_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_monitor_LDADD = $(FACTEUR_LIBS) $(LIBEVENT_LIBS) $(CMOCKA_LIBS) $(PTHREAD_LIBS)
endif
