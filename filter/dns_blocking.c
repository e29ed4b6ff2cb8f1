/* SPDX-License-Identifier: MIT */
/*
 * dns_blocking - blocking lookups on libunbound for worker threads.  See
 * dns_blocking.h.
 */
#include "facteur-config.h"

#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "filter/dns_blocking.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"

#define RR_CLASS_IN 1
#define RCODE_SERVFAIL 2

struct dns_blocking {
	struct ub_ctx *ub;
};

int
dns_blocking_new(struct dns_blocking **dns_r, const char **error_r)
{
	static char error[256];
	struct dns_blocking *dns;
	int rc;

	*dns_r = NULL;
	dns = xcalloc(1, sizeof(*dns));
	if ((dns->ub = ub_ctx_create()) == NULL) {
		free(dns);
		*error_r = "cannot create the libunbound context";
		return -1;
	}
	/* As lib/dns.c: tests and appliances run forwarders on loopback. */
	if ((rc = ub_ctx_set_option(dns->ub, "do-not-query-localhost:", "no")) != 0) {
		snprintf(error, sizeof(error), "do-not-query-localhost: %s", ub_strerror(rc));
		goto fail;
	}
	if (var_dns_forwarder[0] != '\0') {
		if ((rc = ub_ctx_set_fwd(dns->ub, var_dns_forwarder)) != 0) {
			snprintf(error, sizeof(error), "dns_forwarder \"%s\": %s (expected ip or ip@port)",
			    var_dns_forwarder, ub_strerror(rc));
			goto fail;
		}
	} else if ((rc = ub_ctx_resolvconf(dns->ub, NULL)) != 0) {
		log_warnx("dns: /etc/resolv.conf: %s; resolving from the root servers", ub_strerror(rc));
	}
	if ((rc = ub_ctx_hosts(dns->ub, NULL)) != 0)
		log_warnx("dns: /etc/hosts: %s", ub_strerror(rc));
	/* libunbound answers NXDOMAIN for test. itself (RFC 6761); see lib/dns.c. */
	if (var_dns_forwarder[0] != '\0' && (rc = ub_ctx_zone_remove(dns->ub, "test.")) != 0)
		log_warnx("dns: cannot serve test. from the forwarder: %s", ub_strerror(rc));
	*dns_r = dns;
	return 0;
fail:
	ub_ctx_delete(dns->ub);
	free(dns);
	*error_r = error;
	return -1;
}

void
dns_blocking_free(struct dns_blocking **dns)
{
	if (*dns == NULL)
		return;
	ub_ctx_delete((*dns)->ub);
	free(*dns);
	*dns = NULL;
}

enum dns_status
dns_blocking_query(struct dns_blocking *dns, const char *name, int type, struct ub_result **result_r)
{
	struct ub_result *result = NULL;
	int rc;

	*result_r = NULL;
	rc = ub_resolve(dns->ub, name, type, RR_CLASS_IN, &result);
	if (rc != 0) {
		log_debug("dns: %s/%d: %s", name, type, ub_strerror(rc));
		return DNS_TEMPFAIL;
	}
	*result_r = result;
	if (result->nxdomain)
		return DNS_NXDOMAIN;
	if (result->rcode == RCODE_SERVFAIL || result->bogus || result->rcode != 0)
		return DNS_TEMPFAIL;
	return result->havedata ? DNS_OK : DNS_NODATA;
}

enum dns_status
dns_blocking_txt(struct dns_blocking *dns, const char *name, char ***txt_r)
{
	struct ub_result *result;
	enum dns_status status = dns_blocking_query(dns, name, DNSB_TYPE_TXT, &result);
	size_t count = 0, n = 0;
	char **txt;

	*txt_r = NULL;
	if (status != DNS_OK) {
		if (result != NULL)
			ub_resolve_free(result);
		return status;
	}
	while (result->data[count] != NULL)
		count++;
	txt = xcalloc(count + 1, sizeof(*txt));
	for (size_t i = 0; i < count; i++) {
		const unsigned char *p = (const unsigned char *)result->data[i];
		size_t len = (size_t)result->len[i], o = 0;
		char *s = xmalloc(len + 1);

		/* character-strings: a length byte each, concatenated (RFC 7208 3.3, RFC 6376 3.6.2.2) */
		for (size_t k = 0; k < len;) {
			size_t l = p[k++];
			if (l > len - k)
				l = len - k;
			memcpy(s + o, p + k, l);
			o += l;
			k += l;
		}
		s[o] = '\0';
		txt[n++] = s;
	}
	ub_resolve_free(result);
	if (n == 0) {
		free(txt);
		return DNS_NODATA;
	}
	*txt_r = txt;
	return DNS_OK;
}

void
dns_blocking_txt_free(char **txt)
{
	if (txt == NULL)
		return;
	for (size_t i = 0; txt[i] != NULL; i++)
		free(txt[i]);
	free(txt);
}
