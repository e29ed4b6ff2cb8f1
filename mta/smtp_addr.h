/* SPDX-License-Identifier: MIT */
/*
 * smtp_addr - RFC 5321 paths in MAIL FROM and RCPT TO.
 *
 * Parses "FROM:<path> params": quoted local parts, address literals,
 * source routes (accepted and stripped, RFC 5321 section 4.1.1.3), UTF-8
 * under SMTPUTF8, and the length limits (64 local, 255 domain, 256 path).
 */
#ifndef FACTEUR_SMTP_ADDR_H
#define FACTEUR_SMTP_ADDR_H

/*
 * arg starts with keyword ("FROM:" or "TO:", any case).  On success *addr_r
 * is a malloc'd "local@domain" ("" for <> when allow_null), *params_r points
 * at the ESMTP parameters and *routed_r tells whether a source route was
 * stripped.  Returns 0, or -1 with *error_r a complete SMTP reply.
 */
int smtp_addr_parse(const char *arg, const char *keyword, int allow_null, int utf8,
    char **addr_r, const char **params_r, int *routed_r, const char **error_r);
/* The domain of addr (after its last '@'), or NULL. */
const char *smtp_addr_domain(const char *addr);
/*
 * 1 if the local part carries sender-specified routing that a next hop may
 * honour: '%', '!' or '@' (inside quotes).  Refused from untrusted clients.
 */
int smtp_addr_has_routing(const char *addr);

#endif
