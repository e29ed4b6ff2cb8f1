/* SPDX-License-Identifier: MIT */
/*
 * check - semantic checks of facteur.conf.  See check.h.
 *
 * Parsing (lib/config.c) already refused unknown keys and malformed
 * values; this checks what needs more than one value or the file system:
 * listen addresses, client networks, certificate and key, AUTH file,
 * next hops and the daemons themselves.
 */
#include "facteur-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "lib/proc.h"
#include "lib/tls.h"
#include "policy/dnsbl.h"
#include "store/auth_ldap.h"

struct check_ctx {
	void (*report)(const char *problem);
	const char *param;
	int problems;
};

static void problem(struct check_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
problem(struct check_ctx *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->report(buf);
	c->problems++;
}

static int
check_listen_item(const char *item, void *arg)
{
	struct check_ctx *c = arg;
	struct sockaddr_storage ss;
	socklen_t len;

	if (net_parse_hostport(item, &ss, &len) < 0)
		problem(c, "%s: bad listen address \"%s\" (use host:port)", c->param, item);
	return 0;
}

static void
check_file(struct check_ctx *c, const char *param, const char *path)
{
	if (path[0] != '\0' && access(path, R_OK) < 0)
		problem(c, "%s: cannot read %s", param, path);
}

int
check_config(void (*report)(const char *problem))
{
	struct check_ctx c = { report, NULL, 0 };
	static const struct { const char *name; char **value; } listens[] = {
		{ "smtp_listen", &var_smtp_listen },
		{ "submission_listen", &var_submission_listen },
		{ "smtps_listen", &var_smtps_listen },
	};
	char bad[256], path[4096];
	const char *error;

	for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
		c.param = listens[i].name;
		config_list_foreach(*listens[i].value, check_listen_item, &c);
	}
	if (net_cidr_list_check(var_mynetworks, bad, sizeof(bad)) < 0)
		problem(&c, "mynetworks: \"%s\" is not an address or network", bad);
	if ((var_smtpd_tls_cert_file[0] == '\0') != (var_smtpd_tls_key_file[0] == '\0'))
		problem(&c, "smtpd_tls_cert_file and smtpd_tls_key_file go together");
	check_file(&c, "smtpd_tls_cert_file", var_smtpd_tls_cert_file);
	check_file(&c, "smtpd_tls_key_file", var_smtpd_tls_key_file);
	check_file(&c, "smtpd_auth_file", var_smtpd_auth_file);
	check_file(&c, "smtp_tls_ca_file", var_smtp_tls_ca_file);
	c.param = "admin_api_listen";
	config_list_foreach(var_admin_api_listen, check_listen_item, &c);
	if ((var_admin_api_tls_cert_file[0] == '\0') != (var_admin_api_tls_key_file[0] == '\0'))
		problem(&c, "admin_api_tls_cert_file and admin_api_tls_key_file go together");
	check_file(&c, "admin_api_tls_cert_file", var_admin_api_tls_cert_file);
	check_file(&c, "admin_api_tls_key_file", var_admin_api_tls_key_file);
	if (var_admin_api_listen[0] != '\0' && var_admin_api_token_lifetime <= 0)
		problem(&c, "admin_api_token_lifetime must be longer than 0 s");
	if (var_smtpd_tls_cert_file[0] != '\0' && access(var_smtpd_tls_cert_file, R_OK) == 0) {
		SSL_CTX *ctx = tls_server_ctx_new(var_smtpd_tls_cert_file, var_smtpd_tls_key_file,
		    proc_hostname(), &error);
		if (ctx == NULL)
			problem(&c, "%s", error);
		SSL_CTX_free(ctx);
	}
	if (var_smtpd_line_length_limit < 512)
		problem(&c, "smtpd_line_length_limit must be at least 512 (RFC 5321)");
	if (var_smtpd_data_line_length_limit < 1000)
		problem(&c, "smtpd_data_line_length_limit must be at least 1000 (RFC 5321)");
	if (var_minimal_backoff_time > var_maximal_backoff_time)
		problem(&c, "minimal_backoff_time is larger than maximal_backoff_time");
	{
		static const struct { const char *name; char **value; int weights; } lists[] = {
			{ "dnsbl_sites", &var_dnsbl_sites, 1 },
			{ "rhsbl_sender_sites", &var_rhsbl_sender_sites, 0 },
			{ "rhsbl_helo_sites", &var_rhsbl_helo_sites, 0 },
		};
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			if (dnsbl_sites_check(*lists[i].value, lists[i].weights, &error) < 0)
				problem(&c, "%s: %s", lists[i].name, error);
	}
	if (var_greylist_ipv4_prefix > 32 || var_rate_limit_ipv4_prefix > 32)
		problem(&c, "greylist_ipv4_prefix and rate_limit_ipv4_prefix are at most 32");
	if (var_greylist_ipv6_prefix > 128 || var_rate_limit_ipv6_prefix > 128)
		problem(&c, "greylist_ipv6_prefix and rate_limit_ipv6_prefix are at most 128");
	if (var_policy_listen[0] != '\0') {
		struct sockaddr_storage ss;
		socklen_t len;

		if (strncmp(var_policy_listen, "unix:/", 6) != 0 &&
		    (strncmp(var_policy_listen, "inet:", 5) != 0 ||
		    net_parse_hostport(var_policy_listen + 5, &ss, &len) < 0))
			problem(&c, "policy_listen: \"%s\" is neither unix:/absolute/path nor "
			    "inet:host:port", var_policy_listen);
		snprintf(path, sizeof(path), "%s/policyd", var_daemon_directory);
		if (access(path, X_OK) < 0)
			problem(&c, "daemon_directory: %s is missing or not executable", path);
	}
	if (var_lmtp_listen[0] != '\0') {
		struct sockaddr_storage ss;
		socklen_t len;

		if (strncmp(var_lmtp_listen, "unix:/", 6) != 0 &&
		    strncmp(var_lmtp_listen, "unix:$spool_directory/", 22) != 0 &&
		    (strncmp(var_lmtp_listen, "inet:", 5) != 0 ||
		    net_parse_hostport(var_lmtp_listen + 5, &ss, &len) < 0))
			problem(&c, "lmtp_listen: \"%s\" is neither unix:/absolute/path nor "
			    "inet:host:port", var_lmtp_listen);
		snprintf(path, sizeof(path), "%s/lmtpd", var_daemon_directory);
		if (access(path, X_OK) < 0)
			problem(&c, "daemon_directory: %s is missing or not executable", path);
	}
	{
		static const struct { const char *param; char **value; const char *daemon; } listeners[] = {
			{ "managesieve_listen", &var_managesieve_listen, "managesieved" },
			{ "imap_listen", &var_imap_listen, "imapd" },
			{ "imaps_listen", &var_imaps_listen, "imapd" },
			{ "metrics_listen", &var_metrics_listen, "facteur-metrics" },
		};
		for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
			if ((*listeners[i].value)[0] == '\0')
				continue;
			c.param = listeners[i].param;
			config_list_foreach(*listeners[i].value, check_listen_item, &c);
			snprintf(path, sizeof(path), "%s/%s", var_daemon_directory, listeners[i].daemon);
			if (access(path, X_OK) < 0)
				problem(&c, "daemon_directory: %s is missing or not executable", path);
		}
	}
	for (size_t i = 0; i < 2; i++) {
		static const char *const daemons[] = { "smtpd", "qmgr" };
		snprintf(path, sizeof(path), "%s/%s", var_daemon_directory, daemons[i]);
		if (access(path, X_OK) < 0)
			problem(&c, "daemon_directory: %s is missing or not executable", path);
	}
	if (var_snmp_agentx_socket[0] != '\0') {
		snprintf(path, sizeof(path), "%s/facteur-agentx", var_daemon_directory);
		if (access(path, X_OK) < 0)
			problem(&c, "daemon_directory: %s is missing or not executable", path);
	}
	if (var_snmp_disk_threshold_percent > 100)
		problem(&c, "snmp_disk_threshold_percent is at most 100");
	if (auth_ldap_config_check(&error) < 0)
		problem(&c, "%s", error);
	return c.problems;
}
