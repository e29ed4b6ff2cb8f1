/* SPDX-License-Identifier: MIT */
/*
 * dns_blocking - blocking lookups on libunbound for worker threads.  See
 * dns_blocking.h.
 */
#include "facteur-config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "filter/dns_blocking.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"

#define RR_CLASS_IN 1
#define RCODE_SERVFAIL 2

/* One thread's context. */
struct dns_thread {
	struct dns_blocking *dns;
	struct ub_ctx *ub;
	struct dns_thread *next;
};

struct dns_blocking {
	pthread_key_t key;	/* the calling thread's struct dns_thread */
	pthread_mutex_t lock;	/* threads */
	struct dns_thread *threads;
};

/* A context configured from var_dns_forwarder, or NULL with error (static text). */
static struct ub_ctx *
context_new(const char **error_r)
{
	static char error[256];
	struct ub_ctx *ub;
	int rc;

	if ((ub = ub_ctx_create()) == NULL) {
		*error_r = "cannot create the libunbound context";
		return NULL;
	}
	/*
	 * Its queries go to a resolver thread of its own, kept between them
	 * (set before anything finalizes the settings): ub_resolve() sets up
	 * a resolver for each query (sockets, event base, a random generator
	 * seeded anew: 1,500 rounds of SHA-256 in Debian's libunbound), which
	 * cost more than the query itself.
	 */
	if ((rc = ub_ctx_async(ub, 1)) != 0) {
		snprintf(error, sizeof(error), "libunbound threads: %s", ub_strerror(rc));
		goto fail;
	}
	/* As lib/dns.c: tests and appliances run forwarders on loopback. */
	if ((rc = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0) {
		snprintf(error, sizeof(error), "do-not-query-localhost: %s", ub_strerror(rc));
		goto fail;
	}
	if (var_dns_forwarder[0] != '\0') {
		if ((rc = ub_ctx_set_fwd(ub, var_dns_forwarder)) != 0) {
			snprintf(error, sizeof(error), "dns_forwarder \"%s\": %s (expected ip or ip@port)",
			    var_dns_forwarder, ub_strerror(rc));
			goto fail;
		}
	} else if ((rc = ub_ctx_resolvconf(ub, NULL)) != 0) {
		log_warnx("dns: /etc/resolv.conf: %s; resolving from the root servers", ub_strerror(rc));
	}
	if ((rc = ub_ctx_hosts(ub, NULL)) != 0)
		log_warnx("dns: /etc/hosts: %s", ub_strerror(rc));
	/* libunbound answers NXDOMAIN for test. itself (RFC 6761); see lib/dns.c. */
	if (var_dns_forwarder[0] != '\0' && (rc = ub_ctx_zone_remove(ub, "test.")) != 0)
		log_warnx("dns: cannot serve test. from the forwarder: %s", ub_strerror(rc));
	return ub;
fail:
	ub_ctx_delete(ub);
	*error_r = error;
	return NULL;
}

/* A thread that ends: its context goes with it. */
static void
thread_end(void *arg)
{
	struct dns_thread *t = arg, **pp;
	struct dns_blocking *dns = t->dns;

	pthread_mutex_lock(&dns->lock);
	for (pp = &dns->threads; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&dns->lock);
	ub_ctx_delete(t->ub);
	free(t);
}

int
dns_blocking_new(struct dns_blocking **dns_r, const char **error_r)
{
	struct dns_blocking *dns;
	struct ub_ctx *ub;

	*dns_r = NULL;
	/* The settings are checked now, not at the first query. */
	if ((ub = context_new(error_r)) == NULL)
		return -1;
	ub_ctx_delete(ub);
	dns = xcalloc(1, sizeof(*dns));
	if (pthread_key_create(&dns->key, thread_end) != 0) {
		free(dns);
		*error_r = "cannot create a thread key";
		return -1;
	}
	pthread_mutex_init(&dns->lock, NULL);
	*dns_r = dns;
	return 0;
}

void
dns_blocking_free(struct dns_blocking **dns_p)
{
	struct dns_blocking *dns = *dns_p;

	if (dns == NULL)
		return;
	*dns_p = NULL;
	/* The threads still there: their contexts (no destructor runs after this). */
	pthread_key_delete(dns->key);
	while (dns->threads != NULL) {
		struct dns_thread *t = dns->threads;

		dns->threads = t->next;
		ub_ctx_delete(t->ub);
		free(t);
	}
	pthread_mutex_destroy(&dns->lock);
	free(dns);
}

/* The calling thread's context, made at its first query; NULL if it cannot be. */
static struct ub_ctx *
thread_context(struct dns_blocking *dns)
{
	struct dns_thread *t = pthread_getspecific(dns->key);
	const char *error;

	if (t != NULL)
		return t->ub;
	t = xcalloc(1, sizeof(*t));
	t->dns = dns;
	if ((t->ub = context_new(&error)) == NULL) {
		log_warnx("dns: %s", error);
		free(t);
		return NULL;
	}
	pthread_mutex_lock(&dns->lock);
	t->next = dns->threads;
	dns->threads = t;
	pthread_mutex_unlock(&dns->lock);
	(void)pthread_setspecific(dns->key, t);
	return t->ub;
}

struct dns_answer {
	int done, err;
	struct ub_result *result;
};

static void
answered(void *arg, int err, struct ub_result *result)
{
	struct dns_answer *a = arg;

	a->done = 1;
	a->err = err;
	a->result = result;
}

enum dns_status
dns_blocking_query(struct dns_blocking *dns, const char *name, int type, struct ub_result **result_r)
{
	struct dns_answer a = { 0, 0, NULL };
	struct ub_ctx *ub = thread_context(dns);
	struct ub_result *result;
	int rc;

	*result_r = NULL;
	if (ub == NULL)
		return DNS_TEMPFAIL;
	/* The thread's context has no other query: ub_wait() returns once it is answered. */
	rc = ub_resolve_async(ub, name, type, RR_CLASS_IN, &a, answered, NULL);
	if (rc == 0)
		rc = ub_wait(ub);
	if (rc == 0)
		rc = a.done ? a.err : UB_SERVFAIL;
	result = a.result;
	if (rc != 0 || result == NULL) {
		if (result != NULL)
			ub_resolve_free(result);
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
