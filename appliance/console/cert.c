/* SPDX-License-Identifier: MIT */
/*
 * cert - the certificate files: read, made, imported, installed.  See
 * cert.h.  (Moved out of the TLS screen so that the first-boot wizard
 * makes and imports certificates the same way.)
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "conf_edit.h"
#include "console.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "run.h"

/* A password callback that gives none: an encrypted key is refused, never prompted for. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

static const char *
ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "not PEM";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static void
bio_text(BIO *mem, char *out, size_t size)
{
	char *data;
	long len = BIO_get_mem_data(mem, &data);

	if (len < 0)
		len = 0;
	if ((size_t)len >= size)
		len = (long)size - 1;
	memcpy(out, data, (size_t)len);
	out[len] = '\0';
	(void)BIO_reset(mem);
}

/* What the screen shows of a certificate. */
static void
describe(X509 *x, int chain, struct text *t)
{
	GENERAL_NAMES *names;
	BIO *mem = BIO_new(BIO_s_mem());
	char buf[1024], sans[1024] = "";
	int days = 0, secs = 0;

	X509_NAME_print_ex(mem, X509_get_subject_name(x), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	bio_text(mem, buf, sizeof(buf));
	text_addf(t, "Subject:    %s", buf);
	X509_NAME_print_ex(mem, X509_get_issuer_name(x), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	bio_text(mem, buf, sizeof(buf));
	text_addf(t, "Issuer:     %s%s", buf, X509_check_issued(x, x) == X509_V_OK ? "  (self-signed)" : "");
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_DNS)
			continue;
		snprintf(sans + strlen(sans), sizeof(sans) - strlen(sans), "%s%.*s", sans[0] != '\0' ? ", " : "",
		    ASN1_STRING_length(g->d.dNSName), (const char *)ASN1_STRING_get0_data(g->d.dNSName));
	}
	if (names != NULL)
		GENERAL_NAMES_free(names);
	text_addf(t, "Names:      %s", sans[0] != '\0' ? sans : "(none: clients check the subject's CN)");
	ASN1_TIME_print(mem, X509_get0_notBefore(x));
	bio_text(mem, buf, sizeof(buf));
	text_addf(t, "Valid from: %s", buf);
	ASN1_TIME_print(mem, X509_get0_notAfter(x));
	bio_text(mem, buf, sizeof(buf));
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	if (days < 0 || (days == 0 && secs < 0))
		text_addf(t, "Expires:    %s  EXPIRED %d days ago", buf, -days);
	else
		text_addf(t, "Expires:    %s  (in %d days)", buf, days);
	text_addf(t, "Chain:      %d certificate%s in the file", chain, chain == 1 ? "" : "s");
	BIO_free(mem);
}

/* Read the certificates of a PEM file or buffer: the first, and how many; NULL with why in t. */
static X509 *
read_certs(BIO *in, STACK_OF(X509) **all_r, int *count_r)
{
	X509 *first = NULL, *x;

	*count_r = 0;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(in, NULL, no_password, NULL)) != NULL) {
		if (first == NULL)
			first = x;
		if (all_r != NULL) {
			if (*all_r == NULL)
				*all_r = sk_X509_new_null();
			sk_X509_push(*all_r, x);
		} else if (x != first) {
			X509_free(x);
		}
		(*count_r)++;
	}
	ERR_clear_error();
	return first;
}

static EVP_PKEY *
read_key(const char *path, const char **error_r)
{
	static char error[512];
	BIO *in = BIO_new_file(path, "r");
	EVP_PKEY *key;

	if (in == NULL) {
		snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
		*error_r = error;
		return NULL;
	}
	ERR_clear_error();
	key = PEM_read_bio_PrivateKey(in, NULL, no_password, NULL);
	BIO_free(in);
	if (key == NULL) {
		snprintf(error, sizeof(error), "%s: no private key (an encrypted one must be decrypted "
		    "first): %s", path, ssl_error());
		*error_r = error;
	}
	return key;
}

void
cert_show(struct text *t)
{
	const char *cert = var_smtpd_tls_cert_file, *keyfile = var_smtpd_tls_key_file, *error;
	EVP_PKEY *key;
	BIO *in;
	X509 *x;
	int count;

	text_clear(t);
	if (cert[0] == '\0') {
		text_add(t, "No certificate configured (smtpd_tls_cert_file is empty): smtpd makes a");
		text_add(t, "self-signed one in memory at each start.  g makes one to keep, i imports one.");
		return;
	}
	text_addf(t, "Certificate file: %s", cert);
	text_addf(t, "Key file:         %s", keyfile[0] != '\0' ? keyfile : "(in the certificate file)");
	text_add(t, "");
	if ((in = BIO_new_file(cert, "r")) == NULL) {
		text_addf(t, "Cannot read %s: %s", cert, strerror(errno));
		return;
	}
	x = read_certs(in, NULL, &count);
	BIO_free(in);
	if (x == NULL) {
		text_addf(t, "%s holds no PEM certificate", cert);
		return;
	}
	describe(x, count, t);
	if ((key = read_key(keyfile[0] != '\0' ? keyfile : cert, &error)) == NULL) {
		text_addf(t, "Key:        %s", error);
	} else {
		text_addf(t, "Key:        %s", X509_check_private_key(x, key) == 1 ?
		    "matches the certificate" : "DOES NOT MATCH the certificate");
		EVP_PKEY_free(key);
	}
	ERR_clear_error();
	X509_free(x);
}

/* ---- where new files go ---- */

void
cert_targets_get(const struct console *c, struct cert_targets *tg)
{
	if (var_smtpd_tls_cert_file[0] != '\0') {
		str_copy(tg->cert, var_smtpd_tls_cert_file, sizeof(tg->cert));
	} else {
		char *conf = xstrdup(c->conf);
		snprintf(tg->cert, sizeof(tg->cert), "%s/tls/facteur.crt", dirname(conf));
		free(conf);
	}
	if (var_smtpd_tls_key_file[0] != '\0') {
		str_copy(tg->key, var_smtpd_tls_key_file, sizeof(tg->key));
	} else {
		size_t len = strlen(tg->cert);
		if (len > 4 && (str_has_suffix_ci(tg->cert, ".crt") || str_has_suffix_ci(tg->cert, ".pem")))
			len -= 4;
		snprintf(tg->key, sizeof(tg->key), "%.*s.key", (int)len, tg->cert);
	}
}

/* The key's mode and owner: readable by mail_owner's group (smtpd reads it unprivileged). */
static int
key_protect(const char *path, struct text *out)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() == 0 && proc_user_ids(var_mail_owner, &uid, &gid) == 0) {
		if (chown(path, 0, gid) < 0 || chmod(path, 0640) < 0)
			goto fail;
	} else if (chmod(path, 0600) < 0) {
		goto fail;
	}
	return 0;
fail:
	text_addf(out, "%s: %s", path, strerror(errno));
	return -1;
}

/* The directory of the new files; 0, or -1 said in out. */
static int
targets_mkdir(const struct cert_targets *tg, struct text *out)
{
	char dir[4096];

	str_copy(dir, tg->cert, sizeof(dir));
	if (proc_mkdir(dirname(dir), 0755, (uid_t)-1, (gid_t)-1) < 0) {
		text_addf(out, "mkdir for %s: %s", tg->cert, strerror(errno));
		return -1;
	}
	return 0;
}

/* Rename the new files into place (the key first), name them in facteur.conf, read it again. */
static int
install(struct console *c, const struct cert_targets *tg, const char *new_cert, const char *new_key,
    struct text *out)
{
	const char *error = NULL;

	if (key_protect(new_key, out) < 0)
		return -1;
	if (chmod(new_cert, 0644) < 0) {
		text_addf(out, "%s: %s", new_cert, strerror(errno));
		return -1;
	}
	if (rename(new_key, tg->key) < 0 || rename(new_cert, tg->cert) < 0) {
		text_addf(out, "rename into %s: %s", tg->cert, strerror(errno));
		return -1;
	}
	if ((strcmp(var_smtpd_tls_cert_file, tg->cert) != 0 &&
	    conf_edit_set(c->conf, "smtpd_tls_cert_file", tg->cert, &error) < 0) ||
	    (strcmp(var_smtpd_tls_key_file, tg->key) != 0 &&
	    conf_edit_set(c->conf, "smtpd_tls_key_file", tg->key, &error) < 0)) {
		text_addf(out, "The files are in place but facteur.conf could not name them: %s", error);
		return -1;
	}
	if (config_load(c->conf, &error) < 0) {
		text_addf(out, "%s", error);
		return -1;
	}
	text_addf(out, "certificate %s and key %s installed", tg->cert, tg->key);
	return 0;
}

int
cert_self_signed(struct console *c, const char *host, long days, struct text *out)
{
	char subj[300], san[300], ndays[16];
	struct cert_targets tg;
	char *new_cert, *new_key;
	int status;

	cert_targets_get(c, &tg);
	if (targets_mkdir(&tg, out) < 0)
		return -1;
	new_cert = xasprintf("%s.console-new", tg.cert);
	new_key = xasprintf("%s.console-new", tg.key);
	snprintf(subj, sizeof(subj), "/CN=%s", host);
	snprintf(san, sizeof(san), "subjectAltName=DNS:%s", host);
	snprintf(ndays, sizeof(ndays), "%ld", days);
	{
		char *argv[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
			new_key, "-out", new_cert, "-days", ndays, "-subj", subj, "-addext", san, NULL };
		status = run_capture(argv, NULL, out);
	}
	if (status != 0) {
		text_addf(out, "openssl failed (exit status %d)", status);
		status = -1;
	} else {
		status = install(c, &tg, new_cert, new_key, out);
	}
	unlink(new_cert);
	unlink(new_key);
	free(new_cert);
	free(new_key);
	return status;
}

int
cert_check_pair(const char *cert, const char *key, struct text *info, int *expired_r,
    const char **error_r)
{
	static char error[512];
	EVP_PKEY *k;
	X509 *x;
	BIO *in;
	int count, days = 0, secs = 0;

	if ((in = BIO_new_file(cert, "r")) == NULL) {
		snprintf(error, sizeof(error), "%s: %s", cert, strerror(errno));
		*error_r = error;
		return -1;
	}
	x = read_certs(in, NULL, &count);
	BIO_free(in);
	if (x == NULL) {
		snprintf(error, sizeof(error), "%s holds no PEM certificate.", cert);
		*error_r = error;
		return -1;
	}
	if ((k = read_key(key != NULL && key[0] != '\0' ? key : cert, error_r)) == NULL) {
		X509_free(x);
		return -1;
	}
	if (X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		*error_r = "The key does not match the certificate.";
		EVP_PKEY_free(k);
		X509_free(x);
		return -1;
	}
	if (info != NULL)
		describe(x, count, info);
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	if (expired_r != NULL)
		*expired_r = days < 0 || (days == 0 && secs < 0);
	EVP_PKEY_free(k);
	X509_free(x);
	return 0;
}

/* Write data to path through write_fn, fsync'd; -1 said in out. */
static int
write_pem(const char *path, int (*write_fn)(BIO *out, void *arg), void *arg, struct text *t)
{
	BIO *out;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ok;

	if (fd < 0 || (out = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		text_addf(t, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ok = write_fn(out, arg) && BIO_flush(out) == 1 && fsync(fd) == 0;
	BIO_free(out);
	if (!ok) {
		text_addf(t, "%s: cannot write", path);
		unlink(path);
		return -1;
	}
	return 0;
}

static int
write_certs(BIO *out, void *arg)
{
	STACK_OF(X509) *all = arg;

	for (int i = 0; i < sk_X509_num(all); i++)
		if (PEM_write_bio_X509(out, sk_X509_value(all, i)) != 1)
			return 0;
	return 1;
}

static int
write_key(BIO *out, void *arg)
{
	return PEM_write_bio_PrivateKey(out, arg, NULL, NULL, 0, NULL, NULL) == 1;
}

int
cert_import(struct console *c, const char *cert, const char *key, struct text *out)
{
	STACK_OF(X509) *all = NULL;
	struct cert_targets tg;
	char *new_cert = NULL, *new_key = NULL;
	const char *error;
	EVP_PKEY *k = NULL;
	int count, rc = -1;
	BIO *in;

	/* Read again: the files may have changed since they were checked. */
	if (cert_check_pair(cert, key, NULL, NULL, &error) < 0) {
		text_add(out, error);
		return -1;
	}
	if ((in = BIO_new_file(cert, "r")) == NULL) {
		text_addf(out, "%s: %s", cert, strerror(errno));
		return -1;
	}
	read_certs(in, &all, &count);
	BIO_free(in);
	if (all == NULL || (k = read_key(key != NULL && key[0] != '\0' ? key : cert, &error)) == NULL) {
		text_add(out, all == NULL ? "no certificate" : error);
		goto done;
	}
	cert_targets_get(c, &tg);
	if (targets_mkdir(&tg, out) < 0)
		goto done;
	new_cert = xasprintf("%s.console-new", tg.cert);
	new_key = xasprintf("%s.console-new", tg.key);
	if (write_pem(new_key, write_key, k, out) < 0)
		goto done;
	if (write_pem(new_cert, write_certs, all, out) < 0)
		goto done;
	rc = install(c, &tg, new_cert, new_key, out);
done:
	if (new_cert != NULL) {
		unlink(new_cert);
		unlink(new_key);
	}
	if (k != NULL)
		EVP_PKEY_free(k);
	if (all != NULL)
		sk_X509_pop_free(all, X509_free);
	free(new_cert);
	free(new_key);
	return rc;
}
