/* SPDX-License-Identifier: MIT */
/*
 * tls - OpenSSL contexts for the SMTP server and client.
 *
 * With no certificate configured the server makes a self-signed one in
 * memory at start-up (P-256, CN=myhostname), so the demo and tests have
 * STARTTLS without any file; an appliance configures a real one.
 */
#ifndef FACTEUR_TLS_H
#define FACTEUR_TLS_H

#include <openssl/ssl.h>

/* Server context from cert/key files (both empty: self-signed).  NULL + error. */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file, const char *cn,
    const char **error_r);
/* Client context; ca_file empty means the system's trust store. */
SSL_CTX *tls_client_ctx_new(const char *ca_file, const char **error_r);
/* Text of the last OpenSSL error (static buffer). */
const char *tls_last_error(void);

#endif
