/* SPDX-License-Identifier: MIT */
/*
 * agentx_mib - FACTEUR-MIB's objects and notifications.  See agentx_mib.h.
 *
 * Scalars go through net-snmp's scalar helper (one registration each,
 * the value read from the segment at each GET); the daemons' table
 * through the table iterator over the segment's rows.
 */
#include "facteur-config.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

/* net-snmp's configuration header defines autoconf's PACKAGE_* names too. */
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
#include "lib/log.h"
#include "lib/mem.h"
#include "agentx_mib.h"

/* enterprises.99999: a placeholder until a Private Enterprise Number is registered. */
#define FACTEUR_OID 1, 3, 6, 1, 4, 1, 99999
#define FACTEUR_OID_LEN 7

enum mib_group {
	G_GENERAL = 1, G_SMTPD, G_QUEUE, G_DELIVERY, G_FILTER, G_AV, G_AUTH, G_MILTER,
	G_POLICY, G_DAEMONS
};

enum mib_syntax { S_COUNTER64, S_GAUGE32, S_TIMETICKS };

enum mib_computed {
	C_FIELD, C_UPTIME, C_QUEUE_MESSAGES, C_QUEUE_THRESHOLD, C_DISK_THRESHOLD,
	C_SPOOL_SIZE, C_SPOOL_AVAIL, C_SPOOL_USED, C_STORE_SIZE, C_STORE_AVAIL, C_STORE_USED
};

struct mib_scalar {
	const char *field;	/* stats field (its name makes the object's), or NULL */
	const char *name;	/* the object's name when it is no field */
	enum mib_computed computed;
	enum mib_syntax syntax;	/* of a computed value (a field's comes from stats.h) */
	oid group;
	oid index;
	int stats_index;	/* index in stats_fields, -1 if none */
};

#define FIELD(f, g, i) { #f, NULL, C_FIELD, S_COUNTER64, g, i, -1 }
#define COMPUTED(n, c, s, i) { NULL, n, c, s, G_GENERAL, i, -1 }

/* The OIDs of FACTEUR-MIB: keep in step with doc/FACTEUR-MIB.txt. */
static struct mib_scalar mib_scalars[] = {
	COMPUTED("facteurUptime", C_UPTIME, S_TIMETICKS, 1),
	FIELD(master_daemon_restarts, G_GENERAL, 2),
	COMPUTED("facteurQueueMessages", C_QUEUE_MESSAGES, S_GAUGE32, 3),
	COMPUTED("facteurQueueThreshold", C_QUEUE_THRESHOLD, S_GAUGE32, 4),
	COMPUTED("facteurDiskThresholdPercent", C_DISK_THRESHOLD, S_GAUGE32, 5),
	COMPUTED("facteurSpoolDiskSize", C_SPOOL_SIZE, S_GAUGE32, 6),
	COMPUTED("facteurSpoolDiskAvailable", C_SPOOL_AVAIL, S_GAUGE32, 7),
	COMPUTED("facteurSpoolDiskUsedPercent", C_SPOOL_USED, S_GAUGE32, 8),
	COMPUTED("facteurStoreDiskSize", C_STORE_SIZE, S_GAUGE32, 9),
	COMPUTED("facteurStoreDiskAvailable", C_STORE_AVAIL, S_GAUGE32, 10),
	COMPUTED("facteurStoreDiskUsedPercent", C_STORE_USED, S_GAUGE32, 11),

	FIELD(smtpd_connections, G_SMTPD, 1),
	FIELD(smtpd_connections_active, G_SMTPD, 2),
	FIELD(smtpd_connections_refused, G_SMTPD, 3),
	FIELD(smtpd_tls_sessions, G_SMTPD, 4),
	FIELD(smtpd_auth_success, G_SMTPD, 5),
	FIELD(smtpd_auth_failure, G_SMTPD, 6),
	FIELD(smtpd_messages_accepted, G_SMTPD, 7),
	FIELD(smtpd_bytes_accepted, G_SMTPD, 8),
	FIELD(smtpd_recipients_accepted, G_SMTPD, 9),
	FIELD(smtpd_reject_relay, G_SMTPD, 10),
	FIELD(smtpd_reject_size, G_SMTPD, 11),
	FIELD(smtpd_reject_protocol, G_SMTPD, 12),
	FIELD(smtpd_reject_bare_newline, G_SMTPD, 13),
	FIELD(smtpd_reject_storage, G_SMTPD, 14),

	FIELD(queue_commits, G_QUEUE, 1),
	FIELD(queue_committed_files, G_QUEUE, 2),
	FIELD(queue_incoming, G_QUEUE, 3),
	FIELD(queue_active, G_QUEUE, 4),
	FIELD(queue_deferred, G_QUEUE, 5),
	FIELD(queue_hold, G_QUEUE, 6),

	FIELD(qmgr_delivered, G_DELIVERY, 1),
	FIELD(qmgr_deferred, G_DELIVERY, 2),
	FIELD(qmgr_bounced, G_DELIVERY, 3),
	FIELD(qmgr_bounces_sent, G_DELIVERY, 4),
	FIELD(qmgr_delay_warnings, G_DELIVERY, 5),
	FIELD(qmgr_connections, G_DELIVERY, 6),
	FIELD(qmgr_connections_reused, G_DELIVERY, 7),
	FIELD(qmgr_tls_sessions, G_DELIVERY, 8),
	FIELD(lmtp_messages, G_DELIVERY, 9),
	FIELD(lmtp_syncs, G_DELIVERY, 10),

	FIELD(filter_messages, G_FILTER, 1),
	FIELD(filter_rules_ready, G_FILTER, 2),
	FIELD(filter_rules_loaded, G_FILTER, 3),
	FIELD(filter_rules_unsupported, G_FILTER, 4),
	FIELD(filter_ham, G_FILTER, 5),
	FIELD(filter_spam, G_FILTER, 6),
	FIELD(filter_rejected, G_FILTER, 7),
	FIELD(filter_tempfailed, G_FILTER, 8),
	FIELD(filter_quarantined, G_FILTER, 9),
	FIELD(filter_errors, G_FILTER, 10),
	FIELD(filter_scan_usec, G_FILTER, 11),
	FIELD(bayes_classified, G_FILTER, 12),

	FIELD(av_viruses, G_AV, 1),
	FIELD(av_scanned_bytes, G_AV, 2),
	FIELD(av_ready, G_AV, 3),
	FIELD(av_signatures, G_AV, 4),
	FIELD(av_reloads, G_AV, 5),

	FIELD(auth_spf_pass, G_AUTH, 1),
	FIELD(auth_spf_fail, G_AUTH, 2),
	FIELD(auth_dkim_pass, G_AUTH, 3),
	FIELD(auth_dkim_fail, G_AUTH, 4),
	FIELD(auth_dmarc_pass, G_AUTH, 5),
	FIELD(auth_dmarc_fail, G_AUTH, 6),
	FIELD(auth_dkim_signed, G_AUTH, 7),

	FIELD(milter_calls, G_MILTER, 1),
	FIELD(milter_rejects, G_MILTER, 2),
	FIELD(milter_errors, G_MILTER, 3),

	FIELD(policy_rejects, G_POLICY, 1),
	FIELD(policy_unknown_recipient, G_POLICY, 2),
	FIELD(policy_access_denied, G_POLICY, 3),
	FIELD(policy_greylisted, G_POLICY, 4),
	FIELD(policy_rate_limited, G_POLICY, 5),
	FIELD(policy_dnsbl, G_POLICY, 6),
	FIELD(policy_rhsbl, G_POLICY, 7),
	FIELD(policy_fcrdns, G_POLICY, 8),
	FIELD(policy_helo, G_POLICY, 9),
	FIELD(policy_pregreet, G_POLICY, 10),
	FIELD(policy_pipelining, G_POLICY, 11),
};
#define NSCALARS (sizeof(mib_scalars) / sizeof(mib_scalars[0]))

/* facteurDaemonTable ::= { facteurDaemons 1 }, its entry { table 1 }. */
enum { COL_NAME = 2, COL_RUNNING, COL_PID, COL_RESTARTS, COL_STARTED };
static const char *const daemon_columns[] = {
	NULL, NULL, "facteurDaemonName", "facteurDaemonRunning", "facteurDaemonPid",
	"facteurDaemonRestarts", "facteurDaemonStarted"
};

/* facteurNotifications ::= { facteurMIB 0 }: indexed by enum monitor_event. */
static const struct {
	const char *name;
	oid index;
} notifications[] = {
	[MONITOR_DAEMON_DOWN] = { "facteurDaemonDown", 1 },
	[MONITOR_QUEUE_OVER] = { "facteurQueueOverThreshold", 2 },
	[MONITOR_QUEUE_CLEARED] = { "facteurQueueThresholdCleared", 3 },
	[MONITOR_DISK_FULL] = { "facteurDiskNearlyFull", 4 },
	[MONITOR_DISK_CLEARED] = { "facteurDiskNearlyFullCleared", 5 },
};

static const oid snmptrap_oid[] = { 1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0 };

/* The object name of a scalar: facteur + the field's words capitalized. */
static const char *
scalar_name(const struct mib_scalar *s, char *buf, size_t size)
{
	size_t n;
	int up = 1;

	if (s->field == NULL)
		return s->name;
	n = str_copy(buf, "facteur", size);
	for (const char *p = s->field; *p != '\0' && n + 1 < size; p++) {
		if (*p == '_') {
			up = 1;
			continue;
		}
		buf[n++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = 0;
	}
	buf[n] = '\0';
	return buf;
}

static enum mib_syntax
scalar_syntax(const struct mib_scalar *s)
{
	if (s->field == NULL)
		return s->syntax;
	return s->stats_index >= 0 && stats_is_gauge((unsigned int)s->stats_index) ?
	    S_GAUGE32 : S_COUNTER64;
}

static size_t
scalar_oid(const struct mib_scalar *s, oid *o)
{
	static const oid base[] = { FACTEUR_OID, 1 };

	memcpy(o, base, sizeof(base));
	o[FACTEUR_OID_LEN + 1] = s->group;
	o[FACTEUR_OID_LEN + 2] = s->index;
	return FACTEUR_OID_LEN + 3;
}

static uint64_t
mib_bytes(uint64_t bytes)
{
	return bytes / (1024 * 1024);
}

/* The value of s now; 0 if it is unknown (a file system that is not there). */
static int
scalar_read(const struct mib_scalar *s, uint64_t *value_r)
{
	struct monitor_disk disk;
	char path[4096];

	switch (s->computed) {
	case C_FIELD:
		if (s->stats_index < 0)
			return 0;
		*value_r = stats_value((unsigned int)s->stats_index);
		return 1;
	case C_UPTIME:
		*value_r = monitor_uptime() * 100;
		return 1;
	case C_QUEUE_MESSAGES:
		*value_r = monitor_queue_messages();
		return 1;
	case C_QUEUE_THRESHOLD:
		*value_r = (uint64_t)var_snmp_queue_threshold;
		return 1;
	case C_DISK_THRESHOLD:
		*value_r = (uint64_t)var_snmp_disk_threshold_percent;
		return 1;
	case C_SPOOL_SIZE:
	case C_SPOOL_AVAIL:
	case C_SPOOL_USED:
		monitor_disk(var_spool_directory, &disk);
		break;
	case C_STORE_SIZE:
	case C_STORE_AVAIL:
	case C_STORE_USED:
		monitor_disk(monitor_store_directory(path, sizeof(path)), &disk);
		break;
	}
	if (!disk.known)
		return 0;
	switch (s->computed) {
	case C_SPOOL_SIZE:
	case C_STORE_SIZE:
		*value_r = mib_bytes(disk.size);
		break;
	case C_SPOOL_AVAIL:
	case C_STORE_AVAIL:
		*value_r = mib_bytes(disk.avail);
		break;
	default:
		*value_r = disk.used_percent;
		break;
	}
	return 1;
}

static void
set_value(netsnmp_variable_list *vb, enum mib_syntax syntax, uint64_t v)
{
	struct counter64 c;
	u_long u;

	switch (syntax) {
	case S_COUNTER64:
		c.high = (u_long)(v >> 32);
		c.low = (u_long)(v & 0xffffffffu);
		snmp_set_var_typed_value(vb, ASN_COUNTER64, &c, sizeof(c));
		break;
	case S_GAUGE32:
		u = v > 0xffffffffu ? 0xffffffffu : (u_long)v;
		snmp_set_var_typed_value(vb, ASN_GAUGE, &u, sizeof(u));
		break;
	case S_TIMETICKS:
		/* TimeTicks wrap, as sysUpTime does, after 497 days. */
		u = (u_long)(v & 0xffffffffu);
		snmp_set_var_typed_value(vb, ASN_TIMETICKS, &u, sizeof(u));
		break;
	}
}

static int
scalar_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
    netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	const struct mib_scalar *s = reginfo->my_reg_void;
	uint64_t v;

	if (reqinfo->mode != MODE_GET)
		return SNMP_ERR_NOERROR;
	for (netsnmp_request_info *r = requests; r != NULL; r = r->next) {
		if (scalar_read(s, &v))
			set_value(r->requestvb, scalar_syntax(s), v);
		else
			netsnmp_set_request_error(reqinfo, r, SNMP_NOSUCHINSTANCE);
	}
	return SNMP_ERR_NOERROR;
}

/* ---- the daemons' table: rows of the segment, index = row + 1 ---- */

static netsnmp_variable_list *
daemon_point(uintptr_t row, void **loop_ctx, void **data_ctx, netsnmp_variable_list *index)
{
	long idx;

	if (row >= stats_daemon_count())
		return NULL;
	idx = (long)row + 1;
	snmp_set_var_typed_value(index, ASN_INTEGER, &idx, sizeof(idx));
	*loop_ctx = (void *)(row + 1);
	*data_ctx = (void *)(row + 1);
	return index;
}

static netsnmp_variable_list *
daemon_first(void **loop_ctx, void **data_ctx, netsnmp_variable_list *index,
    netsnmp_iterator_info *info)
{
	return daemon_point(0, loop_ctx, data_ctx, index);
}

static netsnmp_variable_list *
daemon_next(void **loop_ctx, void **data_ctx, netsnmp_variable_list *index,
    netsnmp_iterator_info *info)
{
	return daemon_point((uintptr_t)*loop_ctx, loop_ctx, data_ctx, index);
}

/* DateAndTime (SNMPv2-TC) of t, in UTC: 11 octets. */
static size_t
date_and_time(uint64_t t, u_char *buf)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	buf[0] = (u_char)((tm.tm_year + 1900) >> 8);
	buf[1] = (u_char)((tm.tm_year + 1900) & 0xff);
	buf[2] = (u_char)(tm.tm_mon + 1);
	buf[3] = (u_char)tm.tm_mday;
	buf[4] = (u_char)tm.tm_hour;
	buf[5] = (u_char)tm.tm_min;
	buf[6] = (u_char)(tm.tm_sec > 59 ? 59 : tm.tm_sec);
	buf[7] = 0;
	buf[8] = '+';
	buf[9] = 0;
	buf[10] = 0;
	return 11;
}

/* The value of column col of row into vb; 0 if there is none. */
static int
daemon_value(unsigned int row, unsigned int col, netsnmp_variable_list *vb)
{
	const struct stats_daemon *d;
	u_char buf[11];
	u_long u;
	long l;

	if (row >= stats_daemon_count())
		return 0;
	d = &stats->daemons[row];
	switch (col) {
	case COL_NAME:
		snmp_set_var_typed_value(vb, ASN_OCTET_STR, d->name, strnlen(d->name, sizeof(d->name)));
		return 1;
	case COL_RUNNING:
		l = STATS_DAEMON_GET(d, pid) != 0 ? 1 : 2;	/* TruthValue */
		snmp_set_var_typed_value(vb, ASN_INTEGER, &l, sizeof(l));
		return 1;
	case COL_PID:
		u = (u_long)STATS_DAEMON_GET(d, pid);
		snmp_set_var_typed_value(vb, ASN_UNSIGNED, &u, sizeof(u));
		return 1;
	case COL_RESTARTS:
		set_value(vb, S_COUNTER64, STATS_DAEMON_GET(d, restarts));
		return 1;
	case COL_STARTED:
		snmp_set_var_typed_value(vb, ASN_OCTET_STR, buf,
		    date_and_time(STATS_DAEMON_GET(d, started), buf));
		return 1;
	}
	return 0;
}

static int
daemon_handler(netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo,
    netsnmp_agent_request_info *reqinfo, netsnmp_request_info *requests)
{
	if (reqinfo->mode != MODE_GET)
		return SNMP_ERR_NOERROR;
	for (netsnmp_request_info *r = requests; r != NULL; r = r->next) {
		void *ctx = netsnmp_extract_iterator_context(r);
		netsnmp_table_request_info *ti = netsnmp_extract_table_info(r);

		if (ctx == NULL || ti == NULL ||
		    !daemon_value((unsigned int)((uintptr_t)ctx - 1), ti->colnum, r->requestvb))
			netsnmp_set_request_error(reqinfo, r, SNMP_NOSUCHINSTANCE);
	}
	return SNMP_ERR_NOERROR;
}

static size_t
daemon_column_oid(unsigned int col, oid *o)
{
	static const oid base[] = { FACTEUR_OID, 1, G_DAEMONS, 1, 1 };

	memcpy(o, base, sizeof(base));
	o[FACTEUR_OID_LEN + 4] = col;
	return FACTEUR_OID_LEN + 5;
}

static void
register_daemon_table(void)
{
	static const oid table_oid[] = { FACTEUR_OID, 1, G_DAEMONS, 1 };
	netsnmp_table_registration_info *tinfo = SNMP_MALLOC_TYPEDEF(netsnmp_table_registration_info);
	netsnmp_iterator_info *iinfo = SNMP_MALLOC_TYPEDEF(netsnmp_iterator_info);
	netsnmp_handler_registration *reg;

	if (tinfo == NULL || iinfo == NULL)
		fatalx("out of memory");
	netsnmp_table_helper_add_indexes(tinfo, ASN_INTEGER, 0);
	tinfo->min_column = COL_NAME;
	tinfo->max_column = COL_STARTED;
	iinfo->get_first_data_point = daemon_first;
	iinfo->get_next_data_point = daemon_next;
	iinfo->table_reginfo = tinfo;
	iinfo->flags |= NETSNMP_ITERATOR_FLAG_SORTED;
	reg = netsnmp_create_handler_registration("facteurDaemonTable", daemon_handler, table_oid,
	    OID_LENGTH(table_oid), HANDLER_CAN_RONLY);
	if (reg == NULL || netsnmp_register_table_iterator2(reg, iinfo) != MIB_REGISTERED_OK)
		fatalx("cannot register facteurDaemonTable");
}

void
agentx_mib_register(void)
{
	char name[128];

	for (size_t i = 0; i < NSCALARS; i++) {
		struct mib_scalar *s = &mib_scalars[i];
		netsnmp_handler_registration *reg;
		oid o[MAX_OID_LEN];
		size_t len;

		if (s->field != NULL) {
			for (unsigned int f = 0; f < stats_nfields; f++)
				if (strcmp(stats_fields[f].name, s->field) == 0)
					s->stats_index = (int)f;
			if (s->stats_index < 0) {
				log_warnx("%s: no such counter in the stats segment: not served", s->field);
				continue;
			}
		}
		len = scalar_oid(s, o);
		reg = netsnmp_create_handler_registration(scalar_name(s, name, sizeof(name)),
		    scalar_handler, o, len, HANDLER_CAN_RONLY);
		if (reg == NULL)
			fatalx("cannot register %s", name);
		reg->my_reg_void = s;
		if (netsnmp_register_scalar(reg) != MIB_REGISTERED_OK)
			fatalx("cannot register %s", name);
	}
	for (unsigned int f = 0; f < stats_nfields; f++) {
		size_t i;

		for (i = 0; i < NSCALARS; i++)
			if (mib_scalars[i].field != NULL && strcmp(mib_scalars[i].field, stats_fields[f].name) == 0)
				break;
		if (i == NSCALARS)
			log_warnx("counter %s has no OID in FACTEUR-MIB: not served over SNMP",
			    stats_fields[f].name);
	}
	register_daemon_table();
}

static struct mib_scalar *
scalar_by_name(const char *name)
{
	char buf[128];

	for (size_t i = 0; i < NSCALARS; i++)
		if (strcmp(scalar_name(&mib_scalars[i], buf, sizeof(buf)), name) == 0)
			return &mib_scalars[i];
	panic("agentx_mib: no scalar %s", name);
}

static void
add_scalar(netsnmp_variable_list **vars, const char *name)
{
	struct mib_scalar *s = scalar_by_name(name);
	netsnmp_variable_list *vb;
	oid o[MAX_OID_LEN];
	size_t len = scalar_oid(s, o);
	uint64_t v = 0;

	o[len++] = 0;
	vb = snmp_varlist_add_variable(vars, o, len, ASN_NULL, NULL, 0);
	if (vb != NULL) {
		scalar_read(s, &v);
		set_value(vb, scalar_syntax(s), v);
	}
}

static void
add_column(netsnmp_variable_list **vars, unsigned int row, unsigned int col)
{
	netsnmp_variable_list *vb;
	oid o[MAX_OID_LEN];
	size_t len = daemon_column_oid(col, o);

	o[len++] = row + 1;
	vb = snmp_varlist_add_variable(vars, o, len, ASN_NULL, NULL, 0);
	if (vb != NULL)
		daemon_value(row, col, vb);
}

void
agentx_mib_notify(enum monitor_event ev, unsigned int row)
{
	oid trap[FACTEUR_OID_LEN + 2] = { FACTEUR_OID, 0, 0 };
	netsnmp_variable_list *vars = NULL;

	trap[FACTEUR_OID_LEN + 1] = notifications[ev].index;
	snmp_varlist_add_variable(&vars, snmptrap_oid, OID_LENGTH(snmptrap_oid), ASN_OBJECT_ID,
	    (u_char *)trap, sizeof(trap));
	switch (ev) {
	case MONITOR_DAEMON_DOWN:
		add_column(&vars, row, COL_NAME);
		add_column(&vars, row, COL_RESTARTS);
		log_info("notification %s daemon=%.*s restarts=%llu", notifications[ev].name,
		    STATS_DAEMON_NAME, stats->daemons[row].name,
		    (unsigned long long)STATS_DAEMON_GET(&stats->daemons[row], restarts));
		break;
	case MONITOR_QUEUE_OVER:
	case MONITOR_QUEUE_CLEARED:
		add_scalar(&vars, "facteurQueueMessages");
		add_scalar(&vars, "facteurQueueThreshold");
		log_info("notification %s queue=%llu threshold=%ld", notifications[ev].name,
		    (unsigned long long)monitor_queue_messages(), var_snmp_queue_threshold);
		break;
	case MONITOR_DISK_FULL:
	case MONITOR_DISK_CLEARED:
		add_scalar(&vars, "facteurSpoolDiskUsedPercent");
		add_scalar(&vars, "facteurDiskThresholdPercent");
		log_info("notification %s spool=%s threshold=%ld%%", notifications[ev].name,
		    var_spool_directory, var_snmp_disk_threshold_percent);
		break;
	}
	send_v2trap(vars);
	snmp_free_varbind(vars);
}

static const char *
syntax_name(enum mib_syntax s)
{
	return s == S_COUNTER64 ? "Counter64" : s == S_GAUGE32 ? "Gauge32" : "TimeTicks";
}

static void
print_oid(FILE *out, const oid *o, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(out, ".%lu", (unsigned long)o[i]);
}

void
agentx_mib_print(FILE *out)
{
	char name[128];
	oid o[MAX_OID_LEN];
	size_t len;

	for (size_t i = 0; i < NSCALARS; i++) {
		struct mib_scalar *s = &mib_scalars[i];

		for (unsigned int f = 0; s->field != NULL && f < stats_nfields; f++)
			if (strcmp(stats_fields[f].name, s->field) == 0)
				s->stats_index = (int)f;
		fprintf(out, "%s ", scalar_name(s, name, sizeof(name)));
		print_oid(out, o, scalar_oid(s, o));
		fprintf(out, " %s %s\n", syntax_name(scalar_syntax(s)), s->field != NULL ? s->field : "-");
	}
	for (unsigned int col = COL_NAME; col <= COL_STARTED; col++) {
		static const char *const syntax[] = {
			NULL, NULL, "DisplayString", "TruthValue", "Unsigned32", "Counter64", "DateAndTime"
		};
		fprintf(out, "%s ", daemon_columns[col]);
		print_oid(out, o, daemon_column_oid(col, o));
		fprintf(out, " %s -\n", syntax[col]);
	}
	for (size_t ev = 0; ev < sizeof(notifications) / sizeof(notifications[0]); ev++) {
		oid trap[FACTEUR_OID_LEN + 2] = { FACTEUR_OID, 0, 0 };

		trap[FACTEUR_OID_LEN + 1] = notifications[ev].index;
		len = FACTEUR_OID_LEN + 2;
		fprintf(out, "%s ", notifications[ev].name);
		print_oid(out, trap, len);
		fprintf(out, " NOTIFICATION-TYPE -\n");
	}
}
