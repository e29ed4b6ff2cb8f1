/* SPDX-License-Identifier: MIT */
/*
 * screen_system - the screens that act on the appliance's operating
 * system: network, SNMP, updates, reboot and shutdown.
 *
 * The console does not know how the image configures these: each action
 * is a script of the actions directory (appliance/console/actions/, -a,
 * FACTEUR_CONSOLE_ACTIONS) called as "SCRIPT VERB ARGS...", secrets on
 * its standard input one per line, its output shown as it comes.  Each
 * screen is a table of actions: what to ask (checked here before the
 * script runs, and again by the script), whether to ask for a yes.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "lib/mem.h"
#include "ui.h"
#include "valid.h"

#define OP_FIELDS_MAX 4
#define OP_ARGS_MAX 24
#define VALUE_SIZE 256

/* A value's check: NULL if good, else why not. */
typedef const char *(*op_check)(const char *value);

struct op_field {
	const char *label;
	int hidden;		/* a secret: on the standard input, never on the command line */
	int optional;
	int words;		/* several values separated by blanks: one argument each */
	op_check check;
	const char *def;
};

struct op {
	int key;
	const char *label;
	const char *note;
	const char *script;
	const char *verb;
	const char *intro;	/* above the form (NULL: no form) */
	struct op_field fields[OP_FIELDS_MAX];
	const char *confirm;	/* the question before it runs, NULL: none */
};

/* ---- the screens' tables ---- */

static const struct op network_ops[] = {
	{ 'S', "Show", "interfaces, addresses, routes, DNS", "network.sh", "show", NULL, { { 0 } }, NULL },
	{ 'D', "Use DHCP", "an interface takes its address from DHCP", "network.sh", "dhcp",
	  "The interface that takes its address from a DHCP server.",
	  { { "Interface", 0, 0, 0, valid_iface, "eth0" } },
	  "Switch this interface to DHCP?  Its address may change: a remote session may be cut." },
	{ 'A', "Static address", "address, gateway, DNS servers", "network.sh", "static",
	  "A fixed address for an interface: address/prefix, the default gateway (may be empty) and "
	  "DNS servers (separated by blanks, may be empty).",
	  { { "Interface", 0, 0, 0, valid_iface, "eth0" }, { "Address/prefix", 0, 0, 0, valid_cidr, NULL },
	    { "Gateway", 0, 1, 0, valid_ip, NULL }, { "DNS servers", 0, 1, 1, valid_ips, NULL } },
	  "Give this interface this address?  A remote session may be cut." },
	{ 'H', "Host name", "the appliance's name", "network.sh", "hostname",
	  "The appliance's host name (facteur's myhostname, when not set, follows it).",
	  { { "Host name", 0, 0, 0, valid_hostname, NULL } },
	  "Change the host name?" },
};

static const struct op snmp_ops[] = {
	{ 'S', "Show", "the SNMP agent's settings", "snmp.sh", "show", NULL, { { 0 } }, NULL },
	{ 'C', "Read-only community", "SNMPv1/v2c access", "snmp.sh", "community",
	  "The read-only community, and who may use it: default (anyone), an address, a network "
	  "(192.0.2.0/24) or a host name.",
	  { { "Community", 0, 0, 0, valid_token, NULL }, { "Source", 0, 0, 0, valid_source, "localhost" } },
	  "Set this read-only community?  The previous one stops working." },
	{ 'U', "SNMPv3 user", "authenticated and encrypted access", "snmp.sh", "v3user",
	  "A read-only SNMPv3 user (SHA authentication, AES privacy): its name and two passphrases "
	  "of 8 characters or more.",
	  { { "User", 0, 0, 0, valid_token, NULL }, { "Auth passphrase", 1, 0, 0, valid_passphrase, NULL },
	    { "Privacy passphrase", 1, 0, 0, valid_passphrase, NULL } },
	  "Create this SNMPv3 user?  The SNMP agent restarts." },
};

static const struct op updates_ops[] = {
	{ 'C', "Check for updates", "what would be installed", "update.sh", "check", NULL, { { 0 } },
	  NULL },
	{ 'I', "Install updates", "download and install them now", "update.sh", "apply", NULL, { { 0 } },
	  "Install every available update now?  Services may restart while it runs." },
};

static const struct op power_ops[] = {
	{ 'R', "Reboot", "restart the appliance", "power.sh", "reboot", NULL, { { 0 } },
	  "Reboot the appliance now?  No mail is received until it is up again." },
	{ 'H', "Shut down", "power the appliance off", "power.sh", "poweroff", NULL, { { 0 } },
	  "Shut the appliance down now?  No mail is received until someone powers it on." },
};

/* ---- running an action ---- */

static void
run_op(struct console *c, const char *title, const struct op *op)
{
	char values[OP_FIELDS_MAX][VALUE_SIZE], *script, *input = NULL, *copies[OP_ARGS_MAX];
	char *argv[OP_ARGS_MAX + 1], command[1024];
	struct ui_field fields[OP_FIELDS_MAX];
	size_t nfields = 0, ncopies = 0;
	int argc = 0;

	if ((script = console_action_path(c, title, op->script)) == NULL)
		return;
	for (size_t i = 0; i < OP_FIELDS_MAX && op->fields[i].label != NULL; i++, nfields++) {
		str_copy(values[i], op->fields[i].def != NULL ? op->fields[i].def : "", VALUE_SIZE);
		fields[i].label = op->fields[i].label;
		fields[i].buf = values[i];
		fields[i].size = VALUE_SIZE;
		fields[i].flags = op->fields[i].hidden ? UI_FIELD_HIDDEN : 0;
		fields[i].choices = NULL;
	}
	while (nfields > 0) {
		const char *why = NULL;
		size_t bad = 0;

		if (!ui_form(op->label, op->intro, fields, nfields)) {
			ui_status("nothing done");
			goto done;
		}
		for (bad = 0; bad < nfields && why == NULL; bad++) {
			char *v = str_trim(values[bad]);
			memmove(values[bad], v, strlen(v) + 1);
			if (values[bad][0] == '\0')
				why = op->fields[bad].optional ? NULL : "it is empty";
			else if (op->fields[bad].check != NULL)
				why = op->fields[bad].check(values[bad]);
		}
		if (why == NULL)
			break;
		ui_message(op->label, "%s: %s.", op->fields[bad - 1].label, why);
	}
	/* The command line (secrets apart), shown in the question and the pager's title. */
	argv[argc++] = script;
	argv[argc++] = (char *)op->verb;
	snprintf(command, sizeof(command), "%s %s", op->script, op->verb);
	for (size_t i = 0; i < nfields; i++) {
		if (op->fields[i].hidden) {
			char *more = xasprintf("%s%s\n", input != NULL ? input : "", values[i]);
			if (input != NULL) {
				explicit_bzero(input, strlen(input));
				free(input);
			}
			input = more;
		} else if (op->fields[i].words) {
			char *save = NULL, *w;
			for (w = strtok_r(values[i], " \t,", &save); w != NULL && argc < OP_ARGS_MAX;
			    w = strtok_r(NULL, " \t,", &save)) {
				argv[argc++] = copies[ncopies++] = xstrdup(w);
				snprintf(command + strlen(command), sizeof(command) - strlen(command), " %s", w);
			}
		} else {
			argv[argc++] = values[i];
			snprintf(command + strlen(command), sizeof(command) - strlen(command), " %s%s%s",
			    values[i][0] == '\0' ? "\"" : "", values[i], values[i][0] == '\0' ? "\"" : "");
		}
	}
	argv[argc] = NULL;
	if (op->confirm != NULL && !ui_confirm(op->label, "%s\n\n%s", op->confirm, command)) {
		ui_status("nothing done");
		goto done;
	}
	console_run_pager(command, argv, input);
done:
	for (size_t i = 0; i < nfields; i++)
		explicit_bzero(values[i], VALUE_SIZE);
	if (input != NULL) {
		explicit_bzero(input, strlen(input));
		free(input);
	}
	for (size_t i = 0; i < ncopies; i++)
		free(copies[i]);
	free(script);
}

static void
system_screen(struct console *c, const char *title, const char *help, const struct op *ops, size_t n)
{
	struct ui_menu_item items[8];
	int sel = 0;

	for (size_t i = 0; i < n && i < 8; i++) {
		items[i].key = ops[i].key;
		items[i].label = ops[i].label;
		items[i].note = ops[i].note;
	}
	for (;;) {
		int i = ui_menu(title, help, items, n, &sel);
		if (i < 0)
			return;
		run_op(c, title, &ops[i]);
	}
}

#define NOPS(a) (sizeof(a) / sizeof((a)[0]))

void
screen_network(struct console *c)
{
	system_screen(c, "Network", "The appliance's network: show it, take an address from DHCP or "
	    "give a fixed one, change the host name.  Changes are made by the network.sh script of "
	    "the actions directory and take effect at once.", network_ops, NOPS(network_ops));
}

void
screen_snmp(struct console *c)
{
	system_screen(c, "SNMP", "The system SNMP agent (snmpd) that serves facteur's MIB through its "
	    "AgentX subagent: a read-only community for SNMPv1/v2c, SNMPv3 users.  Made by the "
	    "snmp.sh script of the actions directory.", snmp_ops, NOPS(snmp_ops));
}

void
screen_updates(struct console *c)
{
	system_screen(c, "Updates", "The system's packages: see what would be updated, install the "
	    "updates (update.sh of the actions directory; the output shows as it comes).",
	    updates_ops, NOPS(updates_ops));
}

void
screen_power(struct console *c)
{
	system_screen(c, "Reboot / shut down", "Restart or power off the appliance (power.sh of the "
	    "actions directory).  Both ask first.  facteur stops cleanly with the system: accepted "
	    "mail is on disk.", power_ops, NOPS(power_ops));
}
