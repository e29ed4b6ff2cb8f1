/* SPDX-License-Identifier: MIT */
/*
 * arc - Authenticated Received Chain (RFC 8617) verification.
 *
 * The ARC sets of a message (ARC-Authentication-Results, ARC-Message-
 * Signature, ARC-Seal with the same i=) are checked as RFC 8617 section
 * 5.2 says: the sets are complete and numbered 1..N (N <= 50), the newest
 * ARC-Message-Signature verifies over the message (DKIM's algorithm with
 * its own header name), and every ARC-Seal, newest first, verifies over
 * the sets up to its own, with cv=none for i=1 and cv=pass after.  Keys
 * come from DNS (selector._domainkey.domain TXT) through the filter's
 * blocking resolver.  rsa-sha256 only, as RFC 8617 allows.
 */
#ifndef FACTEUR_FILTER_ARC_H
#define FACTEUR_FILTER_ARC_H

#include <stddef.h>

struct dns_blocking;

struct arc_result {
	char result[16];	/* "none", "pass", "fail" */
	int instances;		/* N: sets found */
	int oldest_pass;	/* lowest instance whose AMS still verifies (0: not checked) */
	char domain[256];	/* d= of the newest ARC-Seal */
	char reason[128];	/* why fail */
};

/* Thread-safe; blocking (DNS). */
void arc_verify(struct dns_blocking *dns, const char *msg, size_t len, struct arc_result *r);

/*
 * Seal msg as the next instance: the ARC-Seal, ARC-Message-Signature and
 * ARC-Authentication-Results fields (CRLF lines) to put above it.  cv is
 * the chain's verification ("none", "pass" or "fail", from arc_verify);
 * authres the value of our Authentication-Results (authserv-id; results);
 * key_pem an RSA private key in PEM.  NULL and why on error (a chain at
 * 50 instances, a bad key).
 */
char *arc_seal(const char *msg, size_t len, const char *cv, const char *authres,
    const char *domain, const char *selector, const char *key_pem, char *why, size_t whysize);

#endif
