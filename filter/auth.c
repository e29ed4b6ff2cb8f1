/* SPDX-License-Identifier: MIT */
/*
 * auth - SPF, DKIM and DMARC of a message, and DKIM signing.  See auth.h.
 *
 * libspf2 gets a DNS layer of ours (spf_dns_lookup) and libopendkim DNS
 * hooks of ours (dkim_dns_*): both ask filter/dns_blocking, so every
 * lookup goes to libunbound and the dns_forwarder setting.  libopendmarc
 * never queries: we fetch the _dmarc records ourselves and hand them to it
 * with the SPF and DKIM results; it decides alignment and the policy.
 */
#include "facteur-config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <opendkim/dkim.h>
#include <opendmarc/dmarc.h>
#include <spf2/spf.h>
#include <unbound.h>

#include "filter/arc.h"
#include "filter/auth.h"
#include "filter/dns_blocking.h"
#include "filter/eval.h"
#include "filter/verdict.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"
#include "lib/stats.h"

#define PSL_PATH "/usr/share/publicsuffix/public_suffix_list.dat"
#define KEY_MAX (64 * 1024)
#define MAX_SIGS 16

/* Exported by libopendmarc, missing from dmarc.h: the organizational domain. */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

struct auth_ctx {
	struct dns_blocking *dns;
	SPF_server_t *spf;
	DKIM_LIB *dkim_verify;
	DKIM_LIB *dkim_sign;
	char *authserv_id;
	char *key_dir;
};

/* One DKIM signature as checked. */
struct dkim_sig {
	char result[16];		/* pass fail neutral temperror permerror */
	char domain[256];
	char selector[128];
	char b[9];			/* the first characters of b= (RFC 6008) */
	char reason[64];
};

/* ---- small helpers ---- */

static void
set(char *dst, size_t size, const char *s)
{
	str_copy(dst, s, size);
}

/* A domain we can use in a path, a query and a header: letters, digits, - _ . */
static int
domain_ok(const char *d)
{
	if (d == NULL || d[0] == '\0' || d[0] == '.' || strlen(d) > 253)
		return 0;
	for (const char *p = d; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
			return 0;
		if (c == '.' && p[1] == '.')
			return 0;
	}
	return 1;
}

/* Lower-case copy without a trailing dot, or NULL if not a usable domain. */
static char *
domain_norm(const char *d, size_t len)
{
	char *s;

	while (len > 0 && d[len - 1] == '.')
		len--;
	s = xstrndup(d, len);
	str_lower(s);
	if (!domain_ok(s)) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- the From: domain ---- */

/* Each address of a From: value: the domain of its addr-spec, or NULL. */
static int
from_value_domains(const char *v, char **domains, int max)
{
	int n = 0;
	const char *p = v;

	while (*p != '\0' && n < max) {
		char addr[1024];
		size_t alen = 0;
		int angle = 0, got_angle = 0;

		/* One address: up to a comma outside quotes, comments and <>. */
		for (; *p != '\0'; p++) {
			if (*p == '(') {
				int depth = 1;
				for (p++; *p != '\0' && depth > 0; p++) {
					if (*p == '\\' && p[1] != '\0')
						p++;
					else if (*p == '(')
						depth++;
					else if (*p == ')')
						depth--;
				}
				p--;
				continue;
			}
			if (*p == '"') {
				/* A display name, or a quoted local part when outside <>. */
				const char *q = p;
				for (p++; *p != '\0' && *p != '"'; p++)
					if (*p == '\\' && p[1] != '\0')
						p++;
				if (!got_angle || angle)
					for (; q <= p && *q != '\0' && alen + 1 < sizeof(addr); q++)
						addr[alen++] = *q;
				if (*p == '\0')
					p--;
				continue;
			}
			if (*p == '<') {
				angle = got_angle = 1;
				alen = 0;
				continue;
			}
			if (*p == '>') {
				angle = 0;
				continue;
			}
			if (*p == ',' && !angle)
				break;
			if ((!got_angle || angle) && alen + 1 < sizeof(addr) && !isspace((unsigned char)*p))
				addr[alen++] = *p;
		}
		addr[alen] = '\0';
		if (alen > 0) {
			char *at = strrchr(addr, '@');
			domains[n++] = at != NULL ? domain_norm(at + 1, strlen(at + 1)) : NULL;
		}
		if (*p == ',')
			p++;
	}
	return n;
}

/*
 * The RFC5322.From domain: 1 and *domain_r, 0 if there is none, -1 if
 * there are several From fields or addresses of different domains (RFC
 * 7489 6.6.1).
 */
static int
from_domain(const char *msg, size_t len, char **domain_r)
{
	const char *p = msg, *end = msg + len;
	char *found = NULL;
	int fields = 0, bad = 0;

	*domain_r = NULL;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol != NULL ? eol + 1 : end;
		size_t l = (size_t)((eol != NULL ? eol : end) - p);

		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l == 0)
			break;		/* end of the header */
		if (l >= 5 && str_ncasecmp(p, "From", 4) == 0) {
			const char *c = p + 4;
			while (c < p + l && (*c == ' ' || *c == '\t'))
				c++;
			if (c < p + l && *c == ':') {
				/* Unfold the value. */
				char *value;
				size_t vlen = 0, cap = 256;
				const char *q = next;
				value = xmalloc(cap);
				for (const char *s = c + 1; s < p + l; s++) {
					if (vlen + 2 >= cap)
						value = xrealloc(value, cap *= 2);
					value[vlen++] = *s;
				}
				while (q < end && (*q == ' ' || *q == '\t')) {
					const char *e2 = memchr(q, '\n', (size_t)(end - q));
					const char *n2 = e2 != NULL ? e2 + 1 : end;
					size_t l2 = (size_t)((e2 != NULL ? e2 : end) - q);
					if (l2 > 0 && q[l2 - 1] == '\r')
						l2--;
					while (vlen + l2 + 2 >= cap)
						value = xrealloc(value, cap *= 2);
					value[vlen++] = ' ';
					memcpy(value + vlen, q, l2);
					vlen += l2;
					q = n2;
				}
				value[vlen] = '\0';
				next = q;
				fields++;
				{
					char *domains[16];
					int n = from_value_domains(value, domains, 16);
					for (int i = 0; i < n; i++) {
						if (domains[i] == NULL)
							;
						else if (found == NULL)
							found = domains[i], domains[i] = NULL;
						else if (strcmp(found, domains[i]) != 0)
							bad = 1;
						free(domains[i]);
					}
				}
				free(value);
			}
		}
		p = next;
	}
	if (fields > 1 || bad) {
		free(found);
		return -1;
	}
	*domain_r = found;
	return found != NULL;
}

/* ---- SPF: libspf2 with a DNS layer on dns_blocking ---- */

/* An uncompressed wire name as text without the trailing dot; -1 if malformed. */
static int
wire_name(const unsigned char *p, size_t len, char *out, size_t size)
{
	size_t o = 0, i = 0;

	while (i < len) {
		size_t l = p[i++];
		if (l == 0)
			break;
		if (l > 63 || i + l > len || o + l + 2 > size)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	return 0;
}

static SPF_dns_rr_t *
spf_dns_lookup(SPF_dns_server_t *server, const char *domain, ns_type rr_type, int should_cache)
{
	struct auth_ctx *ctx = server->hook;
	struct ub_result *result = NULL;
	enum dns_status status;
	SPF_dns_rr_t *rr;
	int herrno, cnt = 0;

	/*
	 * libspf2 asks for type SPF (99) before TXT; RFC 7208 3.1 retired it:
	 * answer "no data" without a query, and libspf2 goes on with TXT.
	 */
	if (rr_type == ns_t_spf)
		status = DNS_NODATA;
	else
		status = dns_blocking_query(ctx->dns, domain, (int)rr_type, &result);

	switch (status) {
	case DNS_OK:
		herrno = NETDB_SUCCESS;
		break;
	case DNS_NXDOMAIN:
		herrno = HOST_NOT_FOUND;
		break;
	case DNS_NODATA:
		herrno = NO_DATA;
		break;
	default:
		herrno = TRY_AGAIN;
		break;
	}
	rr = SPF_dns_rr_new_init(server, domain, rr_type, result != NULL ? result->ttl : 0, herrno);
	if (rr == NULL)
		fatalx("auth: out of memory");
	if (status == DNS_OK) {
		for (int i = 0; result->data[i] != NULL; i++) {
			const unsigned char *d = (const unsigned char *)result->data[i];
			size_t len = (size_t)result->len[i];
			char name[NS_MAXDNAME];

			switch (rr_type) {
			case ns_t_a:
				if (len != 4 || SPF_dns_rr_buf_realloc(rr, cnt, sizeof(struct in_addr)) != SPF_E_SUCCESS)
					continue;
				memcpy(&rr->rr[cnt]->a, d, 4);
				break;
			case ns_t_aaaa:
				if (len != 16 || SPF_dns_rr_buf_realloc(rr, cnt, sizeof(struct in6_addr)) != SPF_E_SUCCESS)
					continue;
				memcpy(&rr->rr[cnt]->aaaa, d, 16);
				break;
			case ns_t_mx:
			case ns_t_ptr: {
				size_t skip = rr_type == ns_t_mx ? 2 : 0;
				if (len <= skip || wire_name(d + skip, len - skip, name, sizeof(name)) < 0 ||
				    SPF_dns_rr_buf_realloc(rr, cnt, strlen(name) + 1) != SPF_E_SUCCESS)
					continue;
				strcpy(rr_type == ns_t_mx ? rr->rr[cnt]->mx : rr->rr[cnt]->ptr, name);
				break;
			}
			case ns_t_txt:
			case ns_t_spf: {
				char *dst;
				size_t o = 0;
				if (SPF_dns_rr_buf_realloc(rr, cnt, len + 1) != SPF_E_SUCCESS)
					continue;
				dst = rr->rr[cnt]->txt;
				for (size_t k = 0; k < len;) {
					size_t l = d[k++];
					if (l > len - k)
						l = len - k;
					memcpy(dst + o, d + k, l);
					o += l;
					k += l;
				}
				dst[o] = '\0';
				break;
			}
			default:
				continue;
			}
			cnt++;
		}
		rr->num_rr = cnt;
		if (cnt == 0)
			rr->herrno = NO_DATA;
	}
	if (result != NULL)
		ub_resolve_free(result);
	return rr;
}

static void
spf_dns_destroy(SPF_dns_server_t *server)
{
	free(server);
}

/* libspf2's warnings are about the sender's records: debug level. */
static void
spf_log_warning(const char *file, int line, const char *msg)
{
	log_debug("spf: %s", msg);
}

static __attribute__((noreturn)) void
spf_log_error(const char *file, int line, const char *msg)
{
	panic("libspf2: %s:%d: %s", file, line, msg);
}

static const char *
spf_result_str(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_TEMPERROR:
		return "temperror";
	case SPF_RESULT_PERMERROR:
	case SPF_RESULT_INVALID:
		break;
	}
	return "permerror";
}

/* A name SPF can check: a domain with a dot, not an address literal. */
static int
spf_identity_ok(const char *domain)
{
	return domain_ok(domain) && strchr(domain, '.') != NULL;
}

/*
 * check_host() for the client address and the identity: sender (an
 * address; "" to check the HELO name as postmaster@helo).
 */
static void
spf_check(struct auth_ctx *ctx, const char *ip, const char *helo, const char *sender, char *result,
    size_t size)
{
	SPF_request_t *sr;
	SPF_response_t *resp = NULL;
	const char *at = strrchr(sender, '@');
	const char *domain = sender[0] != '\0' ? (at != NULL ? at + 1 : sender) : helo;
	int rc;

	if (ip == NULL || domain == NULL || !spf_identity_ok(domain)) {
		set(result, size, "none");
		return;
	}
	if ((sr = SPF_request_new(ctx->spf)) == NULL)
		fatalx("auth: out of memory");
	rc = strchr(ip, ':') != NULL ? SPF_request_set_ipv6_str(sr, ip) : SPF_request_set_ipv4_str(sr, ip);
	if (rc != SPF_E_SUCCESS) {
		SPF_request_free(sr);
		set(result, size, "none");
		return;
	}
	if (helo != NULL && helo[0] != '\0')
		SPF_request_set_helo_dom(sr, helo);
	SPF_request_set_env_from(sr, sender[0] != '\0' ? sender : domain);
	rc = SPF_request_query_mailfrom(sr, &resp);
	if (resp != NULL && SPF_response_result(resp) != SPF_RESULT_INVALID)
		set(result, size, spf_result_str(SPF_response_result(resp)));
	else if (rc == SPF_E_NOT_SPF)
		set(result, size, "none");
	else if (rc == SPF_E_DNS_ERROR || resp == NULL)
		set(result, size, "temperror");	/* libspf2 leaves the result unset */
	else
		set(result, size, "permerror");
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(sr);
}

/* ---- DKIM: libopendkim with DNS hooks on dns_blocking ---- */

struct dkim_query {
	enum dns_status status;
	size_t len;
};

static int
auth_dkim_dns_start(void *srv, int type, unsigned char *query, unsigned char *buf, size_t buflen, void **qh)
{
	struct auth_ctx *ctx = srv;
	struct dkim_query *q = xcalloc(1, sizeof(*q));
	struct ub_result *result;

	/* Blocking: the answer is there when waitreply asks. */
	q->status = dns_blocking_query(ctx->dns, (const char *)query, type, &result);
	if (result != NULL) {
		if (q->status != DNS_TEMPFAIL && result->answer_packet != NULL &&
		    (size_t)result->answer_len <= buflen) {
			memcpy(buf, result->answer_packet, (size_t)result->answer_len);
			q->len = (size_t)result->answer_len;
		}
		ub_resolve_free(result);
	}
	*qh = q;
	return 0;
}

static int
auth_dkim_dns_waitreply(void *srv, void *qh, struct timeval *timeout, size_t *bytes, int *error, int *dnssec)
{
	struct dkim_query *q = qh;

	if (error != NULL)
		*error = 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	if (q->status == DNS_TEMPFAIL || q->len == 0)
		return DKIM_DNS_ERROR;
	*bytes = q->len;
	return DKIM_DNS_SUCCESS;
}

/* libopendkim calls this after every waitreply: the query's end. */
static int
auth_dkim_dns_cancel(void *srv, void *qh)
{
	free(qh);
	return 0;
}

static int
auth_dkim_dns_init(void **srv)
{
	return 0;
}

static void
auth_dkim_dns_close(void *srv)
{
}

static void
dkim_sig_check(DKIM *dkim, DKIM_SIGINFO *sig, struct dkim_sig *out)
{
	unsigned int flags = dkim_sig_getflags(sig);
	int bh = dkim_sig_getbh(sig), err = dkim_sig_geterror(sig);
	const unsigned char *d = dkim_sig_getdomain(sig), *s = dkim_sig_getselector(sig);
	unsigned char *b = dkim_sig_gettagvalue(sig, 0, (u_char *)"b");
	size_t o = 0;

	memset(out, 0, sizeof(*out));
	if (d != NULL) {
		set(out->domain, sizeof(out->domain), (const char *)d);
		str_lower(out->domain);
	}
	if (s != NULL)
		set(out->selector, sizeof(out->selector), (const char *)s);
	for (; b != NULL && *b != '\0' && o < 8; b++)
		if (!isspace(*b))
			out->b[o++] = (char)*b;
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MATCH) {
		set(out->result, sizeof(out->result), "pass");
		return;
	}
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MISMATCH) {
		set(out->result, sizeof(out->result), "fail");
		set(out->reason, sizeof(out->reason), "body hash mismatch");
		return;
	}
	switch (err) {
	case DKIM_SIGERROR_BADSIG:
		set(out->result, sizeof(out->result), "fail");
		set(out->reason, sizeof(out->reason), "signature verification failed");
		return;
	case DKIM_SIGERROR_KEYFAIL:
		set(out->result, sizeof(out->result), "temperror");
		set(out->reason, sizeof(out->reason), "key query failed");
		return;
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_UNKNOWN:
		if ((flags & DKIM_SIGFLAG_PROCESSED) == 0) {
			set(out->result, sizeof(out->result), "neutral");
			set(out->reason, sizeof(out->reason), "not processed");
			return;
		}
		if (bh == DKIM_SIGBH_MISMATCH) {
			set(out->result, sizeof(out->result), "fail");
			set(out->reason, sizeof(out->reason), "body hash mismatch");
			return;
		}
		set(out->result, sizeof(out->result), "fail");
		set(out->reason, sizeof(out->reason), "signature verification failed");
		return;
	default:
		set(out->result, sizeof(out->result), "permerror");
		set(out->reason, sizeof(out->reason), dkim_sig_geterrorstr(err) != NULL ?
		    dkim_sig_geterrorstr(err) : "bad signature");
		return;
	}
}

/* Verify every signature; their number (0: unsigned), -1 on an internal error. */
static int
dkim_check(struct auth_ctx *ctx, const char *msg, size_t len, struct dkim_sig *sigs, int max)
{
	DKIM_STAT st;
	DKIM *dkim = dkim_verify(ctx->dkim_verify, (const u_char *)"auth", NULL, &st);
	DKIM_SIGINFO **list;
	int n = 0, nsigs = 0;

	if (dkim == NULL) {
		log_warnx("auth: dkim_verify: %s", dkim_getresultstr(st));
		return -1;
	}
	st = dkim_chunk(dkim, (u_char *)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(dkim, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(dkim, NULL);
	if (st == DKIM_STAT_NOSIG) {
		dkim_free(dkim);
		return 0;
	}
	if (dkim_getsiglist(dkim, &list, &nsigs) == DKIM_STAT_OK) {
		for (int i = 0; i < nsigs && n < max; i++)
			dkim_sig_check(dkim, list[i], &sigs[n++]);
	} else if (st != DKIM_STAT_OK) {
		log_debug("auth: dkim: %s", dkim_getresultstr(st));
	}
	dkim_free(dkim);
	return n;
}

/* ---- DMARC: our lookups, libopendmarc's policy ---- */

static pthread_once_t dmarc_once = PTHREAD_ONCE_INIT;

static void
dmarc_library_init(void)
{
	OPENDMARC_LIB_T lib;

	memset(&lib, 0, sizeof(lib));
	lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
	str_copy((char *)lib.tld_source_file, PSL_PATH, sizeof(lib.tld_source_file));
	if (access(PSL_PATH, R_OK) < 0) {
		log_warnx("auth: %s: %s; DMARC uses the From domain only (no organizational domain)",
		    PSL_PATH, strerror(errno));
		lib.tld_type = OPENDMARC_TLD_TYPE_NONE;
		lib.tld_source_file[0] = '\0';
	}
	if (opendmarc_policy_library_init(&lib) != DMARC_PARSE_OKAY)
		log_warnx("auth: libopendmarc: cannot load %s", PSL_PATH);
}

/*
 * The DMARC record of domain (RFC 7489 6.6.3 step 3: exactly one TXT
 * starting with v=DMARC1): 1 and *record_r, 0 if none, -1 on a DNS
 * failure.
 */
static int
dmarc_record(struct auth_ctx *ctx, const char *domain, char **record_r)
{
	char name[300], **txt;
	enum dns_status st;
	int found = 0;

	*record_r = NULL;
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	st = dns_blocking_txt(ctx->dns, name, &txt);
	if (st == DNS_TEMPFAIL)
		return -1;
	if (st != DNS_OK)
		return 0;
	for (size_t i = 0; txt[i] != NULL; i++) {
		const char *t = txt[i];
		if (strncmp(t, "v=DMARC1", 8) == 0 && (t[8] == '\0' || t[8] == ';' || isspace((unsigned char)t[8]))) {
			found++;
			if (*record_r == NULL)
				*record_r = xstrdup(t);
		}
	}
	dns_blocking_txt_free(txt);
	if (found != 1) {
		free(*record_r);
		*record_r = NULL;
		return 0;
	}
	return 1;
}

static int
dmarc_spf_outcome(const char *spf)
{
	if (strcmp(spf, "pass") == 0)
		return DMARC_POLICY_SPF_OUTCOME_PASS;
	if (strcmp(spf, "fail") == 0 || strcmp(spf, "softfail") == 0)
		return DMARC_POLICY_SPF_OUTCOME_FAIL;
	if (strcmp(spf, "temperror") == 0)
		return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
	return DMARC_POLICY_SPF_OUTCOME_NONE;
}

static int
dmarc_dkim_outcome(const char *r)
{
	if (strcmp(r, "pass") == 0)
		return DMARC_POLICY_DKIM_OUTCOME_PASS;
	if (strcmp(r, "fail") == 0 || strcmp(r, "permerror") == 0)
		return DMARC_POLICY_DKIM_OUTCOME_FAIL;
	if (strcmp(r, "temperror") == 0)
		return DMARC_POLICY_DKIM_OUTCOME_TMPFAIL;
	return DMARC_POLICY_DKIM_OUTCOME_NONE;
}

static const char *
dmarc_p_str(int p)
{
	switch (p) {
	case DMARC_RECORD_P_REJECT:
		return "reject";
	case DMARC_RECORD_P_QUARANTINE:
		return "quarantine";
	case DMARC_RECORD_P_NONE:
		return "none";
	}
	return "";
}

/* The DMARC evaluation of res->from_domain; fills res->dmarc*. */
static void
dmarc_check(struct auth_ctx *ctx, const struct auth_request *req, const char *spf_domain, int spf_origin,
    const struct dkim_sig *sigs, int nsigs, struct auth_result *res)
{
	char *record = NULL, org[256];
	const char *used = res->from_domain;
	DMARC_POLICY_T *pctx;
	int rc, pol, p = 0, sp = 0, pct = 100, org_used = 0;
	const char *ip = req->client_addr != NULL ? req->client_addr : "0.0.0.0";

	pthread_once(&dmarc_once, dmarc_library_init);
	rc = dmarc_record(ctx, res->from_domain, &record);
	if (rc == 0) {
		/* The organizational domain's record (RFC 7489 6.6.3 steps 4-5). */
		memset(org, 0, sizeof(org));
		if (opendmarc_get_tld((u_char *)res->from_domain, (u_char *)org, sizeof(org)) != 0 ||
		    org[0] == '\0') {
			/* A TLD the list does not know: its default rule "*" (one label). */
			const char *last = strrchr(res->from_domain, '.'), *dot = NULL;
			for (const char *q = res->from_domain; last != NULL && q < last; q++)
				if (*q == '.')
					dot = q;
			str_copy(org, last == NULL ? res->from_domain : dot != NULL ? dot + 1 : res->from_domain,
			    sizeof(org));
		}
		if (org[0] != '\0' && strcasecmp(org, res->from_domain) != 0) {
			used = org;
			org_used = 1;
			rc = dmarc_record(ctx, org, &record);
		}
	}
	if (rc < 0) {
		set(res->dmarc, sizeof(res->dmarc), "temperror");
		return;
	}
	if (rc == 0) {
		set(res->dmarc, sizeof(res->dmarc), "none");
		return;
	}
	if ((pctx = opendmarc_policy_connect_init((u_char *)ip, strchr(ip, ':') != NULL)) == NULL)
		fatalx("auth: out of memory");
	opendmarc_policy_store_from_domain(pctx, (u_char *)res->from_domain);
	rc = opendmarc_policy_store_dmarc(pctx, (u_char *)record, (u_char *)res->from_domain,
	    org_used ? (u_char *)used : NULL);
	free(record);
	if (rc != DMARC_PARSE_OKAY) {
		log_debug("auth: _dmarc.%s: %s", used, opendmarc_policy_status_to_str(rc));
		set(res->dmarc, sizeof(res->dmarc), "permerror");
		opendmarc_policy_connect_shutdown(pctx);
		return;
	}
	if (spf_domain != NULL && spf_domain[0] != '\0' && domain_ok(spf_domain))
		opendmarc_policy_store_spf(pctx, (u_char *)spf_domain, dmarc_spf_outcome(res->spf), spf_origin, NULL);
	for (int i = 0; i < nsigs; i++)
		if (domain_ok(sigs[i].domain))
			opendmarc_policy_store_dkim(pctx, (u_char *)sigs[i].domain, (u_char *)sigs[i].selector,
			    dmarc_dkim_outcome(sigs[i].result), NULL);
	pol = opendmarc_get_policy_to_enforce(pctx);
	opendmarc_policy_fetch_p(pctx, &p);
	opendmarc_policy_fetch_sp(pctx, &sp);
	opendmarc_policy_fetch_pct(pctx, &pct);
	opendmarc_policy_connect_shutdown(pctx);
	/* The policy that applies to this domain: sp= for a subdomain when given. */
	set(res->dmarc_policy, sizeof(res->dmarc_policy),
	    dmarc_p_str(org_used && sp != DMARC_RECORD_P_UNSPECIFIED ? sp : p));
	switch (pol) {
	case DMARC_POLICY_PASS:
		set(res->dmarc, sizeof(res->dmarc), "pass");
		return;
	case DMARC_POLICY_REJECT:
	case DMARC_POLICY_QUARANTINE:
	case DMARC_POLICY_NONE:
		set(res->dmarc, sizeof(res->dmarc), "fail");
		set(res->dmarc_policy, sizeof(res->dmarc_policy), pol == DMARC_POLICY_REJECT ? "reject" :
		    pol == DMARC_POLICY_QUARANTINE ? "quarantine" : "none");
		break;
	default:
		set(res->dmarc, sizeof(res->dmarc), "none");
		res->dmarc_policy[0] = '\0';
		return;
	}
	if (!var_dmarc_honor_policy || pol == DMARC_POLICY_NONE)
		return;
	/* pct: a message outside the sample gets the next milder treatment (6.6.4). */
	if (pct >= 100 || (pct > 0 && arc4random_uniform(100) < (uint32_t)pct))
		res->dmarc_disposition = pol == DMARC_POLICY_REJECT ? AUTH_DMARC_REJECT : AUTH_DMARC_QUARANTINE;
	else
		res->dmarc_disposition = pol == DMARC_POLICY_REJECT ? AUTH_DMARC_QUARANTINE : AUTH_DMARC_NONE;
}

/* ---- Authentication-Results (RFC 8601) ---- */

/* A value as a token or local-part@domain when it can be, else a quoted-string. */
static void
ar_value(FILE *f, const char *v)
{
	const char *at = strrchr(v, '@');
	int plain = v[0] != '\0';

	for (const char *p = v; *p != '\0' && plain; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f)
			plain = 0;
		else if (at != NULL && p < at)	/* local-part: atext and dots */
			plain = isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
		else if (p == at)
			plain = p > v;
		else if (at != NULL)		/* domain */
			plain = isalnum(c) || c == '-' || c == '.' || c == '_';
		else				/* token (RFC 2045) */
			plain = strchr("()<>@,;:\\\"/[]?=", c) == NULL;
	}
	if (plain) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			fputc('\\', f);
		fputc(c < ' ' || c == 0x7f ? '?' : c, f);
	}
	fputc('"', f);
}

struct ar {
	FILE *f;
	char *buf;
	size_t size;
	int n;
};

static void
ar_begin(struct ar *ar, const char *authserv_id)
{
	ar->buf = NULL;
	ar->size = 0;
	ar->n = 0;
	if ((ar->f = open_memstream(&ar->buf, &ar->size)) == NULL)
		fatal("auth: open_memstream");
	fputs("Authentication-Results: ", ar->f);
	ar_value(ar->f, authserv_id);
	fputc(';', ar->f);
}

/* One resinfo: "method=result (comment)" then ptype.property=value pairs (NULL-terminated). */
static void
ar_add(struct ar *ar, const char *method, const char *result, const char *comment, ...)
{
	va_list ap;
	const char *prop, *value;

	fputs(ar->n++ == 0 ? " " : ";\r\n\t", ar->f);
	fprintf(ar->f, "%s=%s", method, result);
	if (comment != NULL && comment[0] != '\0') {
		fputs(" (", ar->f);
		for (const char *p = comment; *p != '\0'; p++)
			if ((unsigned char)*p >= ' ' && *p != '(' && *p != ')' && *p != '\\' && (unsigned char)*p < 0x7f)
				fputc(*p, ar->f);
		fputc(')', ar->f);
	}
	va_start(ap, comment);
	while ((prop = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value == NULL || value[0] == '\0')
			continue;
		fprintf(ar->f, " %s=", prop);
		ar_value(ar->f, value);
	}
	va_end(ap);
}

static char *
ar_end(struct ar *ar)
{
	if (ar->n == 0)
		fputs(" none", ar->f);
	fputs("\r\n", ar->f);
	fclose(ar->f);
	return ar->buf;
}

/* ---- symbols ---- */

static void
spf_symbols(struct verdict *v, const char *result, const char *domain)
{
	static const struct {
		const char *result, *symbol;
		double score;
	} map[] = {
		{ "pass", "R_SPF_ALLOW", -0.2 },
		{ "fail", "R_SPF_FAIL", 1.0 },
		{ "softfail", "R_SPF_SOFTFAIL", 0.0 },
		{ "neutral", "R_SPF_NEUTRAL", 0.0 },
		{ "none", "R_SPF_NA", 0.0 },
		{ "temperror", "R_SPF_DNSFAIL", 0.0 },
		{ "permerror", "R_SPF_PERMFAIL", 0.0 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(result, map[i].result) == 0)
			verdict_add(v, map[i].symbol, map[i].score, "%s", domain != NULL ? domain : "");
}

/* ---- the public functions ---- */

int
auth_ctx_new(struct auth_ctx **ctx_r, const char **error_r)
{
	static char error[256];
	struct auth_ctx *ctx = xcalloc(1, sizeof(*ctx));
	SPF_dns_server_t *layer;
	char path[4096], *hdrs, *save = NULL;
	const char **signhdrs;
	size_t nh = 0;
	DKIM_STAT st;

	*ctx_r = NULL;
	if (dns_blocking_new(&ctx->dns, error_r) < 0) {
		free(ctx);
		return -1;
	}
	ctx->authserv_id = xstrdup(var_authserv_id[0] != '\0' ? var_authserv_id : proc_hostname());
	ctx->key_dir = xstrdup(var_dkim_key_directory[0] != '\0' ? var_dkim_key_directory :
	    spool_path("dkim", path, sizeof(path)));

	/* SPF: a DNS layer of ours under libspf2; its assertions are ours too. */
	SPF_error_handler = spf_log_error;
	SPF_warning_handler = spf_log_warning;
	SPF_info_handler = NULL;
	SPF_debug_handler = NULL;
	layer = xcalloc(1, sizeof(*layer));
	layer->destroy = spf_dns_destroy;
	layer->lookup = spf_dns_lookup;
	layer->name = "facteur";
	layer->hook = ctx;
	if ((ctx->spf = SPF_server_new_dns(layer, 0)) == NULL) {
		free(layer);
		*error_r = "libspf2: cannot create the SPF server";
		goto fail;
	}
	SPF_server_set_rec_dom(ctx->spf, ctx->authserv_id);

	/* DKIM verification: key queries through our hooks. */
	if ((ctx->dkim_verify = dkim_init(NULL, NULL)) == NULL) {
		*error_r = "libopendkim: dkim_init failed";
		goto fail;
	}
	dkim_dns_set_query_service(ctx->dkim_verify, ctx);
	dkim_dns_set_init(ctx->dkim_verify, auth_dkim_dns_init);
	dkim_dns_set_close(ctx->dkim_verify, auth_dkim_dns_close);
	dkim_dns_set_query_start(ctx->dkim_verify, auth_dkim_dns_start);
	dkim_dns_set_query_waitreply(ctx->dkim_verify, auth_dkim_dns_waitreply);
	dkim_dns_set_query_cancel(ctx->dkim_verify, auth_dkim_dns_cancel);

	/* DKIM signing: the header fields of dkim_sign_headers. */
	if ((ctx->dkim_sign = dkim_init(NULL, NULL)) == NULL) {
		*error_r = "libopendkim: dkim_init failed";
		goto fail;
	}
	hdrs = xstrdup(var_dkim_sign_headers);
	signhdrs = xcalloc(strlen(hdrs) + 2, sizeof(*signhdrs));
	for (char *h = strtok_r(hdrs, ":, \t", &save); h != NULL; h = strtok_r(NULL, ":, \t", &save))
		signhdrs[nh++] = h;
	signhdrs[nh] = NULL;
	st = dkim_options(ctx->dkim_sign, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, signhdrs, sizeof(signhdrs));
	free(signhdrs);
	free(hdrs);
	if (st != DKIM_STAT_OK) {
		snprintf(error, sizeof(error), "dkim_sign_headers \"%s\": not usable (From must be signed)",
		    var_dkim_sign_headers);
		*error_r = error;
		goto fail;
	}
	if (var_dmarc_enable)
		pthread_once(&dmarc_once, dmarc_library_init);
	*ctx_r = ctx;
	return 0;
fail:
	auth_ctx_free(&ctx);
	return -1;
}

void
auth_ctx_free(struct auth_ctx **ctxp)
{
	struct auth_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	if (ctx->spf != NULL) {
		SPF_dns_server_t *layer = ctx->spf->resolver;
		SPF_server_free(ctx->spf);
		/* SPF_server_new_dns leaves the layer to its creator. */
		if (layer != NULL)
			SPF_dns_free(layer);
	}
	if (ctx->dkim_verify != NULL)
		dkim_close(ctx->dkim_verify);
	if (ctx->dkim_sign != NULL)
		dkim_close(ctx->dkim_sign);
	dns_blocking_free(&ctx->dns);
	free(ctx->authserv_id);
	free(ctx->key_dir);
	free(ctx);
	*ctxp = NULL;
}

/* "a b c" lists for auth_sa_eval. */
static char *
list_add(char *list, const char *item)
{
	char *s;

	if (list == NULL)
		return xstrdup(item);
	s = xasprintf("%s %s", list, item);
	free(list);
	return s;
}

int
auth_verify(struct auth_ctx *ctx, const struct auth_request *req, struct verdict *v, struct auth_result *res)
{
	struct dkim_sig sigs[MAX_SIGS];
	int nsigs = 0, fromrc, rc = 0, spf_origin = DMARC_POLICY_SPF_ORIGIN_MAILFROM;
	const char *mail_from = req->mail_from != NULL ? req->mail_from : "";
	const char *helo = req->helo != NULL ? req->helo : "";
	const char *at = strrchr(mail_from, '@');
	char *spf_domain = NULL;
	struct ar ar;
	struct arc_result arc = { .result = "" };

	memset(res, 0, sizeof(*res));
	fromrc = from_domain(req->message, req->message_len, &res->from_domain);
	if (mail_from[0] != '\0')
		res->envelope_domain = domain_norm(at != NULL ? at + 1 : mail_from,
		    strlen(at != NULL ? at + 1 : mail_from));

	/* SPF of MAIL FROM (of HELO for the null sender) and of HELO. */
	if (var_spf_enable && !req->trusted) {
		spf_check(ctx, req->client_addr, helo, "", res->spf_helo, sizeof(res->spf_helo));
		if (mail_from[0] != '\0') {
			spf_check(ctx, req->client_addr, helo, mail_from, res->spf, sizeof(res->spf));
			spf_domain = res->envelope_domain != NULL ? xstrdup(res->envelope_domain) : NULL;
		} else {
			set(res->spf, sizeof(res->spf), res->spf_helo);
			spf_domain = domain_norm(helo, strlen(helo));
			spf_origin = DMARC_POLICY_SPF_ORIGIN_HELO;
		}
		if (strcmp(res->spf, "pass") == 0)
			STATS_INC(auth_spf_pass);
		else if (strcmp(res->spf, "fail") == 0)
			STATS_INC(auth_spf_fail);
	}

	/* DKIM: every signature. */
	if (var_dkim_verify) {
		res->dkim_checked = 1;
		nsigs = dkim_check(ctx, req->message, req->message_len, sigs, MAX_SIGS);
		if (nsigs < 0) {
			nsigs = 0;
			rc = -1;
		}
		res->dkim_signed = nsigs > 0;
		for (int i = 0; i < nsigs; i++) {
			res->dkim_domains = list_add(res->dkim_domains, sigs[i].domain);
			if (strcmp(sigs[i].result, "pass") == 0) {
				res->dkim_valid = 1;
				res->dkim_valid_domains = list_add(res->dkim_valid_domains, sigs[i].domain);
				if (res->from_domain != NULL && strcmp(sigs[i].domain, res->from_domain) == 0)
					res->dkim_valid_author = 1;
				STATS_INC(auth_dkim_pass);
			} else if (strcmp(sigs[i].result, "fail") == 0) {
				STATS_INC(auth_dkim_fail);
			}
		}
	}

	/* DMARC of the From domain. */
	if (var_dmarc_enable && !req->trusted) {
		if (fromrc < 0)
			set(res->dmarc, sizeof(res->dmarc), "permerror");
		else if (fromrc == 0)
			set(res->dmarc, sizeof(res->dmarc), "none");
		else
			dmarc_check(ctx, req, spf_domain, spf_origin, sigs, nsigs, res);
		if (strcmp(res->dmarc, "pass") == 0)
			STATS_INC(auth_dmarc_pass);
		else if (strcmp(res->dmarc, "fail") == 0)
			STATS_INC(auth_dmarc_fail);
	}

	if (var_arc_enable) {
		arc_verify(ctx->dns, req->message, req->message_len, &arc);
		set(res->arc, sizeof(res->arc), arc.result);
	}

	/* Authentication-Results: one line per method, RFC 8601 section 2.2. */
	ar_begin(&ar, ctx->authserv_id);
	if (res->spf[0] != '\0') {
		if (mail_from[0] != '\0')
			ar_add(&ar, "spf", res->spf, NULL, "smtp.mailfrom", mail_from, NULL);
		if (helo[0] != '\0')
			ar_add(&ar, "spf", res->spf_helo, NULL, "smtp.helo", helo, NULL);
		else if (mail_from[0] == '\0')
			ar_add(&ar, "spf", res->spf, NULL, NULL);
	}
	if (res->dkim_checked) {
		if (nsigs == 0)
			ar_add(&ar, "dkim", "none", NULL, NULL);
		for (int i = 0; i < nsigs; i++)
			ar_add(&ar, "dkim", sigs[i].result, sigs[i].reason, "header.d", sigs[i].domain,
			    "header.s", sigs[i].selector, "header.b", sigs[i].b, NULL);
	}
	if (res->dmarc[0] != '\0') {
		char comment[64] = "";
		if (res->dmarc_policy[0] != '\0')
			snprintf(comment, sizeof(comment), "p=%s dis=%s", res->dmarc_policy,
			    res->dmarc_disposition == AUTH_DMARC_REJECT ? "reject" :
			    res->dmarc_disposition == AUTH_DMARC_QUARANTINE ? "quarantine" : "none");
		ar_add(&ar, "dmarc", res->dmarc, comment, "header.from", res->from_domain, NULL);
	}
	if (res->arc[0] != '\0') {
		char comment[300] = "";
		if (strcmp(arc.result, "pass") == 0)
			snprintf(comment, sizeof(comment), "i=%d d=%s", arc.instances, arc.domain);
		else if (strcmp(arc.result, "fail") == 0)
			snprintf(comment, sizeof(comment), "%s", arc.reason);
		ar_add(&ar, "arc", res->arc, comment[0] != '\0' ? comment : NULL, NULL);
	}
	res->authentication_results = ar_end(&ar);

	/* Symbols. */
	if (res->spf[0] != '\0')
		spf_symbols(v, res->spf, spf_domain);
	if (res->dkim_checked) {
		if (nsigs == 0)
			verdict_add(v, "R_DKIM_NA", 0.0, NULL);
		for (int i = 0; i < nsigs; i++) {
			const char *r = sigs[i].result;
			if (strcmp(r, "pass") == 0)
				verdict_add(v, "R_DKIM_ALLOW", -0.2, "%s", sigs[i].domain);
			else if (strcmp(r, "fail") == 0)
				verdict_add(v, "R_DKIM_REJECT", 1.0, "%s", sigs[i].domain);
			else if (strcmp(r, "temperror") == 0)
				verdict_add(v, "R_DKIM_TEMPFAIL", 0.0, "%s", sigs[i].domain);
			else
				verdict_add(v, "R_DKIM_PERMFAIL", 0.0, "%s", sigs[i].domain);
		}
	}
	if (res->dmarc[0] != '\0') {
		const char *fd = res->from_domain != NULL ? res->from_domain : "";
		if (strcmp(res->dmarc, "pass") == 0)
			verdict_add(v, "DMARC_POLICY_ALLOW", -0.5, "%s", fd);
		else if (strcmp(res->dmarc, "fail") == 0 && strcmp(res->dmarc_policy, "reject") == 0)
			verdict_add(v, "DMARC_POLICY_REJECT", 2.0, "%s", fd);
		else if (strcmp(res->dmarc, "fail") == 0 && strcmp(res->dmarc_policy, "quarantine") == 0)
			verdict_add(v, "DMARC_POLICY_QUARANTINE", 1.5, "%s", fd);
		else if (strcmp(res->dmarc, "fail") == 0)
			verdict_add(v, "DMARC_POLICY_SOFTFAIL", 0.1, "%s", fd);
		else if (strcmp(res->dmarc, "temperror") == 0)
			verdict_add(v, "DMARC_DNSFAIL", 0.0, "%s", fd);
		else if (strcmp(res->dmarc, "permerror") == 0)
			verdict_add(v, "DMARC_BAD_POLICY", 0.5, "%s", fd);
		else
			verdict_add(v, "DMARC_NA", 0.0, "%s", fd);
	}
	if (strcmp(res->arc, "pass") == 0)
		verdict_add(v, "ARC_ALLOW", -0.1, "%s i=%d", arc.domain, arc.instances);
	else if (strcmp(res->arc, "fail") == 0)
		verdict_add(v, "ARC_REJECT", 1.0, "%s", arc.reason);
	else if (strcmp(res->arc, "none") == 0)
		verdict_add(v, "ARC_NA", 0.0, NULL);
	free(spf_domain);
	return rc;
}

void
auth_result_free(struct auth_result *res)
{
	free(res->from_domain);
	free(res->authentication_results);
	free(res->dkim_domains);
	free(res->dkim_valid_domains);
	free(res->envelope_domain);
	memset(res, 0, sizeof(*res));
}

/* ---- SpamAssassin evals ---- */

/* 1 if a domain of the space-separated list is in args ('a.org','b.org'); any when args is empty. */
static int
list_match(const char *list, const char *args)
{
	char item[256];
	const char *p = args;
	int any = 1;

	if (list == NULL)
		return 0;
	while (*p != '\0') {
		size_t n = 0;
		while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\'' || *p == '"')
			p++;
		while (*p != '\0' && *p != ',' && *p != '\'' && *p != '"' && *p != ' ' && n + 1 < sizeof(item))
			item[n++] = (char)tolower((unsigned char)*p++);
		item[n] = '\0';
		if (n == 0)
			continue;
		any = 0;
		for (const char *l = list; *l != '\0';) {
			size_t len = strcspn(l, " ");
			if (len == n && strncasecmp(l, item, n) == 0)
				return 1;
			l += len;
			while (*l == ' ')
				l++;
		}
	}
	return any;
}

#define FN(lit) EVAL_FN_IS(f, flen, lit)

int
auth_sa_eval(const struct auth_result *res, const char *function, const char *args)
{
	static const char *const spf_results[] = { "pass", "fail", "softfail", "neutral", "none",
		"temperror", "permerror" };
	const char *f = function;
	size_t flen = strlen(f);

	if (args == NULL)
		args = "";
	if (strncmp(f, "check_for_spf_helo_", 19) == 0 || strncmp(f, "check_for_spf_", 14) == 0) {
		int helo = strncmp(f, "check_for_spf_helo_", 19) == 0;
		const char *what = f + (helo ? 19 : 14);
		for (size_t i = 0; i < sizeof(spf_results) / sizeof(spf_results[0]); i++)
			if (strcmp(what, spf_results[i]) == 0)
				return strcmp(helo ? res->spf_helo : res->spf, what) == 0;
		/* The welcomelists are not configured in facteur: never listed. */
		if (strcmp(what, "whitelist_from") == 0 || strcmp(what, "welcomelist_from") == 0)
			return 0;
	}
	if (FN("check_for_def_spf_whitelist_from") || FN("check_for_def_spf_welcomelist_from") ||
	    FN("check_for_dkim_whitelist_from") || FN("check_for_dkim_welcomelist_from") ||
	    FN("check_for_def_dkim_whitelist_from") || FN("check_for_def_dkim_welcomelist_from"))
		return 0;
	if (FN("check_dkim_signed"))
		return res->dkim_signed && list_match(res->dkim_domains, args);
	if (FN("check_dkim_valid"))
		return res->dkim_valid && list_match(res->dkim_valid_domains, args);
	if (FN("check_dkim_valid_author_sig"))
		return res->dkim_valid_author && (args[0] == '\0' || list_match(res->from_domain, args));
	if (FN("check_dkim_valid_envelopefrom"))
		return res->envelope_domain != NULL && list_match(res->dkim_valid_domains, res->envelope_domain);
	if (FN("check_dkim_dependable"))
		return res->dkim_checked;
	/* Testing keys, and ADSP (RFC 5617, historic): not evaluated, never a hit. */
	if (FN("check_dkim_testing") || FN("check_dkim_adsp") ||
	    FN("check_dkim_signsome") || FN("check_dkim_signall"))
		return 0;
	if (FN("check_dmarc_pass"))
		return strcmp(res->dmarc, "pass") == 0;
	if (FN("check_dmarc_reject"))
		return strcmp(res->dmarc, "fail") == 0 && strcmp(res->dmarc_policy, "reject") == 0;
	if (FN("check_dmarc_quarantine"))
		return strcmp(res->dmarc, "fail") == 0 && strcmp(res->dmarc_policy, "quarantine") == 0;
	if (FN("check_dmarc_none"))
		return strcmp(res->dmarc, "fail") == 0 && strcmp(res->dmarc_policy, "none") == 0;
	if (FN("check_dmarc_missing"))
		return strcmp(res->dmarc, "none") == 0;
	if (FN("check_arc_signed"))
		return res->arc[0] != '\0' && strcmp(res->arc, "none") != 0;
	if (FN("check_arc_valid"))
		return strcmp(res->arc, "pass") == 0;
	return -1;
}

/* ---- DKIM signing ---- */

static int
private_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
private_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 8 && d->d_name[0] != '.' && strcmp(d->d_name + n - 8, ".private") == 0;
}

/* The key file's content; NULL and *error_r if unreadable. */
static char *
read_key(const char *path, const char **error_r)
{
	static __thread char error[256];
	struct stat st;
	char *key;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KEY_MAX) {
		snprintf(error, sizeof(error), "%s: %s", path, fd < 0 ? strerror(errno) : "not a key file");
		if (fd >= 0)
			close(fd);
		*error_r = error;
		return NULL;
	}
	key = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size && (n = read(fd, key + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	key[got] = '\0';
	return key;
}

char *
auth_dkim_sign(struct auth_ctx *ctx, const char *domain_arg, const char *message, size_t len,
    const char **error_r)
{
	static __thread char error[512];
	char domain[256], selector[128], path[4096], *key, *out;
	const char *slash = strchr(domain_arg, '/');
	unsigned char *hdr = NULL;
	size_t hlen = 0, o = 0;
	DKIM_STAT st;
	DKIM *dkim;

	if (slash != NULL) {
		snprintf(domain, sizeof(domain), "%.*s", (int)(slash - domain_arg), domain_arg);
		set(selector, sizeof(selector), slash + 1);
	} else {
		set(domain, sizeof(domain), domain_arg);
		selector[0] = '\0';
	}
	str_lower(domain);
	while (domain[0] != '\0' && domain[strlen(domain) - 1] == '.')
		domain[strlen(domain) - 1] = '\0';
	if (!domain_ok(domain) || (selector[0] != '\0' && !domain_ok(selector))) {
		*error_r = "not a domain name";
		return NULL;
	}
	if (selector[0] == '\0') {
		struct dirent **names;
		int n;

		snprintf(path, sizeof(path), "%s/%s", ctx->key_dir, domain);
		n = scandir(path, &names, private_filter, private_cmp);
		if (n <= 0) {
			snprintf(error, sizeof(error), "no DKIM key for %s in %s", domain, path);
			*error_r = error;
			if (n == 0)
				free(names);
			return NULL;
		}
		snprintf(selector, sizeof(selector), "%.*s", (int)(strlen(names[0]->d_name) - 8), names[0]->d_name);
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
		if (!domain_ok(selector)) {
			*error_r = "a key file name is not a selector";
			return NULL;
		}
	}
	snprintf(path, sizeof(path), "%s/%s/%s.private", ctx->key_dir, domain, selector);
	if ((key = read_key(path, error_r)) == NULL)
		return NULL;
	dkim = dkim_sign(ctx->dkim_sign, (const u_char *)"auth", NULL, (dkim_sigkey_t)key, (const u_char *)selector,
	    (const u_char *)domain, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	explicit_bzero(key, strlen(key));
	free(key);
	if (dkim == NULL) {
		snprintf(error, sizeof(error), "%s: %s", path, dkim_getresultstr(st));
		*error_r = error;
		return NULL;
	}
	st = dkim_chunk(dkim, (u_char *)message, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(dkim, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(dkim, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(dkim, strlen(DKIM_SIGNHEADER ": "), &hdr, &hlen);
	if (st != DKIM_STAT_OK) {
		snprintf(error, sizeof(error), "signing for %s: %s%s%s", domain, dkim_getresultstr(st),
		    dkim_geterror(dkim) != NULL ? ": " : "", dkim_geterror(dkim) != NULL ? dkim_geterror(dkim) : "");
		*error_r = error;
		dkim_free(dkim);
		return NULL;
	}
	/* libopendkim folds with bare LF: the message's lines end in CRLF. */
	out = xmalloc(strlen(DKIM_SIGNHEADER ": ") + 2 * hlen + 3);
	o = (size_t)sprintf(out, "%s: ", DKIM_SIGNHEADER);
	for (size_t i = 0; i < hlen; i++) {
		if (hdr[i] == '\r')
			continue;
		if (hdr[i] == '\n')
			out[o++] = '\r';
		out[o++] = (char)hdr[i];
	}
	memcpy(out + o, "\r\n", 3);
	dkim_free(dkim);
	STATS_INC(auth_dkim_signed);
	return out;
}

char *
auth_arc_seal(struct auth_ctx *ctx, const struct auth_result *res, const char *message, size_t len,
    const char **error_r)
{
	static __thread char error[300];
	const char *domain = var_arc_seal_domain, *selector = var_arc_seal_selector;
	char path[4096], *key, *authres, *sealed;
	const char *cv = strcmp(res->arc, "pass") == 0 ? "pass" :
	    strcmp(res->arc, "fail") == 0 ? "fail" : "none";
	size_t alen;

	if (domain[0] == '\0' || !domain_ok(domain) || !domain_ok(selector)) {
		*error_r = "arc_seal_domain or arc_seal_selector is not a domain name";
		return NULL;
	}
	if (res->authentication_results == NULL) {
		*error_r = "no Authentication-Results to seal";
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s/%s.private", ctx->key_dir, domain, selector);
	if ((key = read_key(path, error_r)) == NULL)
		return NULL;
	/* The value of our Authentication-Results, without its name and CRLF. */
	authres = xstrdup(res->authentication_results + strlen("Authentication-Results:"));
	alen = strlen(authres);
	while (alen > 0 && (authres[alen - 1] == '\n' || authres[alen - 1] == '\r'))
		authres[--alen] = '\0';
	sealed = arc_seal(message, len, cv, authres + strspn(authres, " "), domain, selector, key,
	    error, sizeof(error));
	explicit_bzero(key, strlen(key));
	free(key);
	free(authres);
	if (sealed == NULL)
		*error_r = error;
	return sealed;
}
