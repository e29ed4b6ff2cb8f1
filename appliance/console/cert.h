/* SPDX-License-Identifier: MIT */
/*
 * cert - smtpd's certificate files (smtpd_tls_cert_file and its key):
 * what they hold, a new self-signed pair made by openssl(1), a pair
 * imported from PEM files.  No terminal here: the TLS screen and the
 * first-boot wizard ask, these do.
 *
 * New files are written beside the configured ones (".console-new") and
 * renamed over them, the key first so that a reload reads a matching
 * pair; the key readable by mail_owner's group only (smtpd reads it
 * after dropping privileges).  When facteur.conf names no certificate
 * the files go to tls/ beside facteur.conf and facteur.conf is made to
 * name them (conf_edit.h), then read again.
 */
#ifndef FACTEUR_CONSOLE_CERT_H
#define FACTEUR_CONSOLE_CERT_H

#include "console.h"
#include "text.h"

struct cert_targets {
	char cert[4096], key[4096];
};

/* Where new files go: the configured files, else tls/facteur.crt and .key beside facteur.conf. */
void cert_targets_get(const struct console *c, struct cert_targets *tg);
/* The configured certificate described in t (cleared first), as the TLS screen shows it. */
void cert_show(struct text *t);
/*
 * Check a PEM certificate chain and its key (key NULL or "": in the
 * certificate file; an encrypted key is refused).  0 with the first
 * certificate described in info (may be NULL) and *expired_r (may be
 * NULL) set, or -1 with *error_r (static text).
 */
int cert_check_pair(const char *cert, const char *key, struct text *info, int *expired_r,
    const char **error_r);
/*
 * A new RSA 2048 key and a certificate for host valid days, signed by
 * itself (CN and subjectAltName host), installed.  0, or -1 with what
 * went wrong in out (openssl's output, a file's error).
 */
int cert_self_signed(struct console *c, const char *host, long days, struct text *out);
/* The pair checked again, copied and installed.  0, or -1 with why in out. */
int cert_import(struct console *c, const char *cert, const char *key, struct text *out);

#endif
