/* SPDX-License-Identifier: MIT */
/*
 * agentx_mib - FACTEUR-MIB (doc/FACTEUR-MIB.txt) served from the stats
 * segment: one scalar per counter or gauge, the derived values of
 * monitor.h, the table of the master's daemons, and the notifications.
 *
 * The OIDs live in one table in agentx_mib.c, next to the MIB's own;
 * `facteur-agentx -P` prints it (object name, OID, syntax) so that
 * tests/integration/test_snmp.py can hold it against the MIB.  A counter
 * added to lib/stats.h without an OID here is logged at start and is
 * not served over SNMP (Prometheus shows it anyway).
 */
#ifndef FACTEUR_AGENTX_MIB_H
#define FACTEUR_AGENTX_MIB_H

#include <stdio.h>

#include "monitor.h"

/* Register every object with the agent library (after init_agent). */
void agentx_mib_register(void);
/* Send the notification of ev (row: the daemon's row for MONITOR_DAEMON_DOWN). */
void agentx_mib_notify(enum monitor_event ev, unsigned int row);
/* Print "name OID syntax" for every object and notification. */
void agentx_mib_print(FILE *out);

#endif
