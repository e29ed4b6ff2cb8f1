/* SPDX-License-Identifier: MIT */
/*
 * facteur-agentx - the SNMP subagent: FACTEUR-MIB served to the system's
 * snmpd over AgentX (RFC 2741), from the stats segment mapped read-only.
 *
 * Usage: facteur-agentx [-c facteur.conf] [-d] | facteur-agentx -P
 *   -d  copy the log to stderr      -P  print the OID table and exit
 * The master starts it when snmp_agentx_socket is set.  It runs net-snmp's
 * own loop (agent_check_and_process): the library owns the AgentX socket,
 * its reconnection (a ping every AGENTX_PING seconds; when snmpd went
 * away, a new session at the next ping) and its timers, and nothing else
 * here needs an event loop.  A one-second alarm compares the segment
 * with the last look and sends a notification when an alarm starts or
 * ends (monitor.h).  SIGHUP re-reads the thresholds; SIGTERM stops it;
 * so does the master's death (the alive pipe, watched with register_readfd).
 */
#include "facteur-config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#undef PACKAGE_BUGREPORT
#undef PACKAGE_NAME
#undef PACKAGE_STRING
#undef PACKAGE_TARNAME
#undef PACKAGE_URL
#undef PACKAGE_VERSION
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>

#include "lib/config.h"
#include "lib/event_util.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "agentx_mib.h"
#include "monitor.h"

#define AGENTX_PING 3

static const char *conf_file;
static volatile sig_atomic_t stop_signal, reload_signal;
static int master_gone;
static struct monitor_alarms alarms;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_signal = 1;
	else
		stop_signal = sig;
}

/*
 * net-snmp's messages into our log.  While snmpd is away the library
 * says "Failed to connect" at every ping: once is enough.
 */
static int
snmp_log_cb(int major, int minor, void *serverarg, void *clientarg)
{
	static char last[256];
	const struct snmp_log_message *m = serverarg;
	char line[1024];
	size_t len;

	str_copy(line, m->msg != NULL ? m->msg : "", sizeof(line));
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (len == 0)
		return 0;
	if (strncmp(line, "Warning: Failed to connect to the agentx master agent", 53) == 0) {
		if (strcmp(last, line) == 0)
			return 0;
	}
	str_copy(last, line, sizeof(last));
	/*
	 * send_v2trap also builds an SNMPv1 trap for v1 sinks, which cannot
	 * carry Counter64; a subagent has no sinks of its own (snmpd does
	 * the sending), so that failure is no news.
	 */
	if (strncmp(line, "send_trap: v1 traps can't carry Counter64", 41) == 0 ||
	    strncmp(line, "send_trap: failed to convert v2->v1", 35) == 0) {
		log_debug("net-snmp: %s", line);
		return 0;
	}
	if (m->priority <= LOG_WARNING)
		log_warnx("net-snmp: %s", line);
	else if (m->priority <= LOG_INFO)
		log_info("net-snmp: %s", line);
	else
		log_debug("net-snmp: %s", line);
	return 0;
}

static void
on_master_pipe(int fd, void *arg)
{
	char c;

	if (read(fd, &c, 1) > 0)
		return;
	log_warnx("the master process is gone: exiting");
	unregister_readfd(fd);
	master_gone = 1;
}

static void
notify(enum monitor_event ev, unsigned int row, void *arg)
{
	agentx_mib_notify(ev, row);
}

static void
check_alarms(unsigned int reg, void *arg)
{
	struct monitor_disk spool;

	monitor_disk(var_spool_directory, &spool);
	monitor_alarms_check(&alarms, (uint64_t)var_snmp_queue_threshold,
	    (unsigned int)var_snmp_disk_threshold_percent, &spool, notify, NULL);
}

static void
reload(void)
{
	char socket[1024];
	const char *error;

	str_copy(socket, var_snmp_agentx_socket, sizeof(socket));
	if (config_load(conf_file, &error) < 0) {
		log_warnx("reload failed, keeping the running configuration: %s", error);
		return;
	}
	log_set_level_name(var_log_level);
	if (strcmp(socket, var_snmp_agentx_socket) != 0)
		log_warnx("snmp_agentx_socket changed: still using %s until facteur-agentx is restarted",
		    socket);
	log_info("configuration reloaded: snmp_queue_threshold=%ld snmp_disk_threshold_percent=%ld",
	    var_snmp_queue_threshold, var_snmp_disk_threshold_percent);
}

static void
agentx_init(const char *socket)
{
	/* Nothing of net-snmp's own files: no snmpd.conf, no persistent state, no MIBs. */
	setenv("MIBS", "", 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	snmp_disable_log();
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_DEBUG);
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, snmp_log_cb, NULL);

	netsnmp_enable_subagent();
	netsnmp_ds_set_string(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET, socket);
	if (init_agent("facteur") != 0)
		fatalx("cannot initialise the net-snmp agent library");
	/* After init_agent, which sets its own default (15 s); the session opens in init_snmp. */
	netsnmp_ds_set_int(NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL,
	    AGENTX_PING);
	agentx_mib_register();
	init_snmp("facteur");
}

static void
usage(void)
{
	fprintf(stderr, "usage: facteur-agentx [-c facteur.conf] [-d] | facteur-agentx -P\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	const char *error, *env;
	int ch, foreground = 0;

	while ((ch = getopt(argc, argv, "c:dP")) != -1) {
		switch (ch) {
		case 'c': conf_file = optarg; break;
		case 'd': foreground = 1; break;
		case 'P':
			agentx_mib_print(stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	if (conf_file == NULL)
		conf_file = getenv("FACTEUR_CONF") != NULL ? getenv("FACTEUR_CONF") :
		    FACTEUR_SYSCONF_DIR "/facteur.conf";
	log_init("facteur/agentx", foreground);
	if (config_load(conf_file, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	if (var_snmp_agentx_socket[0] == '\0')
		fatalx("snmp_agentx_socket is empty in %s: no master agent to serve", conf_file);
	if (monitor_open(&error) < 0)
		fatalx("%s (is facteur running?)", error);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal ends the library's select() at once. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	agentx_init(var_snmp_agentx_socket);
	if ((env = getenv(MASTER_FD_ENV)) != NULL && atoi(env) >= 3)
		register_readfd(atoi(env), on_master_pipe, NULL);
	check_alarms(0, NULL);
	snmp_alarm_register(1, SA_REPEAT, check_alarms, NULL);
	log_info("facteur-agentx started, master agent %s", var_snmp_agentx_socket);

	while (!stop_signal && !master_gone) {
		if (agent_check_and_process(1) < 0 && errno != EINTR)
			log_warn("agent_check_and_process");
		if (reload_signal) {
			reload_signal = 0;
			reload();
		}
	}
	if (stop_signal)
		log_info("stopping on signal %d", (int)stop_signal);
	snmp_shutdown("facteur");
	log_info("facteur-agentx stopped");
	return 0;
}
