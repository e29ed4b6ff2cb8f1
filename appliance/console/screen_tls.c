/* SPDX-License-Identifier: MIT */
/*
 * screen_tls - smtpd's certificate (smtpd_tls_cert_file): its subject,
 * issuer, names and validity, whether the key matches; a new self-signed
 * one made by openssl(1), or one imported from files.
 *
 * A new certificate is written beside the configured one and renamed
 * over it (the key first, so that the pair read by a reload matches; the
 * key readable by mail_owner's group only, since smtpd reads it after
 * dropping privileges), facteur.conf is made to name the files when it
 * did not, and facteur is reloaded on request (smtpd reads its
 * certificate again on SIGHUP).  Nothing is replaced without a yes.
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

#include "conf_edit.h"
#include "console.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "run.h"
#include "ui.h"

static const char help[] =
    "The certificate smtpd presents for STARTTLS and implicit TLS (smtpd_tls_cert_file, "
    "its key in smtpd_tls_key_file).\n"
    "\n"
    "g: generate a new self-signed certificate with openssl (asks first)\n"
    "i: import a certificate (and its chain) and its key from files (asks first)\n"
    "l: reload facteur so that smtpd uses the current files\n"
    "q: back\n"
    "\n"
    "When facteur.conf names no certificate, the new files go to the tls/ directory "
    "beside facteur.conf and facteur.conf is changed to name them.";

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

static void
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

struct targets {
	char cert[4096], key[4096];
};

static void
targets_get(const struct console *c, struct targets *tg)
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
key_protect(const char *path, const char **error_r)
{
	static char error[512];
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
	snprintf(error, sizeof(error), "%s: %s", path, strerror(errno));
	*error_r = error;
	return -1;
}

/* Rename the new files into place (the key first), name them in facteur.conf, read it again. */
static int
install(struct console *c, const struct targets *tg, const char *new_cert, const char *new_key)
{
	const char *error = NULL;

	if (key_protect(new_key, &error) < 0 || chmod(new_cert, 0644) < 0) {
		ui_message("TLS certificate", "%s", error != NULL ? error : strerror(errno));
		return -1;
	}
	if (rename(new_key, tg->key) < 0 || rename(new_cert, tg->cert) < 0) {
		ui_message("TLS certificate", "rename into %s: %s", tg->cert, strerror(errno));
		return -1;
	}
	if ((strcmp(var_smtpd_tls_cert_file, tg->cert) != 0 &&
	    conf_edit_set(c->conf, "smtpd_tls_cert_file", tg->cert, &error) < 0) ||
	    (strcmp(var_smtpd_tls_key_file, tg->key) != 0 &&
	    conf_edit_set(c->conf, "smtpd_tls_key_file", tg->key, &error) < 0)) {
		ui_message("TLS certificate", "The files are in place but facteur.conf could not name "
		    "them: %s", error);
		return -1;
	}
	console_reload_config(c);
	return 0;
}

static void
offer_reload(struct console *c, const char *what)
{
	struct text out;
	int status;

	if (!ui_confirm("Reload facteur", "%s  Reload facteur now so that smtpd uses it?", what)) {
		ui_status("%s  (not reloaded yet: l to reload)", what);
		return;
	}
	text_init(&out, 0);
	status = console_service(c, "reload", &out);
	if (status != 0)
		console_result("Reload facteur", status, &out);
	else
		ui_status("%s  facteur reloaded.", what);
	text_free(&out);
}

/* A host name: letters, digits, '-' and dots, not empty. */
static int
host_valid(const char *s)
{
	if (s[0] == '\0' || s[0] == '.' || s[0] == '-' || strlen(s) > 253)
		return 0;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static void
generate(struct console *c)
{
	char host[256], days[16] = "825", subj[300], san[300], dir[4096];
	char *new_cert = NULL, *new_key = NULL, *d;
	struct targets tg;
	struct ui_field fields[] = {
		{ "Host name", host, sizeof(host), 0, NULL },
		{ "Days valid", days, sizeof(days), 0, NULL },
	};
	struct text out;
	char *end;
	long ndays;
	int status;

	str_copy(host, proc_hostname(), sizeof(host));
	targets_get(c, &tg);
	for (;;) {
		if (!ui_form("Self-signed certificate", "A new RSA 2048 key and a certificate for this host "
		    "name, signed by itself.", fields, 2)) {
			ui_status("nothing generated");
			return;
		}
		ndays = strtol(days, &end, 10);
		if (!host_valid(host))
			ui_message("Self-signed certificate", "\"%s\" is not a host name.", host);
		else if (*end != '\0' || ndays < 1 || ndays > 3650)
			ui_message("Self-signed certificate", "Days: a number from 1 to 3650.");
		else
			break;
	}
	if (!ui_confirm("Self-signed certificate", "Replace the certificate %s and the key %s with a new "
	    "self-signed certificate for %s, valid %ld days?", tg.cert, tg.key, host, ndays)) {
		ui_status("nothing generated");
		return;
	}
	str_copy(dir, tg.cert, sizeof(dir));
	d = dirname(dir);
	if (proc_mkdir(d, 0755, (uid_t)-1, (gid_t)-1) < 0) {
		ui_message("Self-signed certificate", "mkdir %s: %s", d, strerror(errno));
		return;
	}
	new_cert = xasprintf("%s.console-new", tg.cert);
	new_key = xasprintf("%s.console-new", tg.key);
	snprintf(subj, sizeof(subj), "/CN=%s", host);
	snprintf(san, sizeof(san), "subjectAltName=DNS:%s", host);
	{
		char ndays_text[16];
		char *argv[] = { "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
			new_key, "-out", new_cert, "-days", ndays_text, "-subj", subj, "-addext", san, NULL };
		snprintf(ndays_text, sizeof(ndays_text), "%ld", ndays);
		ui_busy("openssl: making a key and a certificate for %s...", host);
		text_init(&out, 0);
		status = run_capture(argv, NULL, &out);
	}
	if (status != 0) {
		console_result("openssl", status, &out);
		unlink(new_cert);
		unlink(new_key);
	} else if (install(c, &tg, new_cert, new_key) == 0) {
		offer_reload(c, "New self-signed certificate installed.");
	}
	text_free(&out);
	free(new_cert);
	free(new_key);
}

/* Write data to path (mode) through a new file renamed by the caller; -1 with a message shown. */
static int
write_pem(const char *path, int (*write_fn)(BIO *out, void *arg), void *arg)
{
	BIO *out;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ok;

	if (fd < 0 || (out = BIO_new_fd(fd, BIO_CLOSE)) == NULL) {
		ui_message("Import", "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ok = write_fn(out, arg) && BIO_flush(out) == 1 && fsync(fd) == 0;
	BIO_free(out);
	if (!ok) {
		ui_message("Import", "%s: cannot write", path);
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

static void
import(struct console *c)
{
	char certpath[4096] = "", keypath[4096] = "";
	struct ui_field fields[] = {
		{ "Certificate", certpath, sizeof(certpath), 0, NULL },
		{ "Key", keypath, sizeof(keypath), 0, NULL },
	};
	STACK_OF(X509) *all = NULL;
	EVP_PKEY *key = NULL;
	struct targets tg;
	struct text info;
	char *new_cert = NULL, *new_key = NULL, *summary;
	const char *error;
	int count, days = 0, secs = 0;
	X509 *x = NULL;
	BIO *in;

	targets_get(c, &tg);
	text_init(&info, 0);
	for (;;) {
		if (!ui_form("Import a certificate", "PEM files: the certificate followed by its chain, "
		    "and its private key (empty: the key is in the certificate file).", fields, 2)) {
			ui_status("nothing imported");
			goto done;
		}
		if ((in = BIO_new_file(str_trim(certpath), "r")) == NULL) {
			ui_message("Import", "%s: %s", certpath, strerror(errno));
			continue;
		}
		x = read_certs(in, &all, &count);
		BIO_free(in);
		if (x == NULL) {
			ui_message("Import", "%s holds no PEM certificate.", certpath);
			continue;
		}
		key = read_key(str_trim(keypath)[0] != '\0' ? str_trim(keypath) : str_trim(certpath), &error);
		if (key == NULL) {
			ui_message("Import", "%s", error);
		} else if (X509_check_private_key(x, key) != 1) {
			ui_message("Import", "The key does not match the certificate.");
		} else {
			break;
		}
		ERR_clear_error();
		EVP_PKEY_free(key);
		key = NULL;
		sk_X509_pop_free(all, X509_free);
		all = NULL;
		x = NULL;
	}
	describe(x, count, &info);
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	summary = xstrdup("");
	for (size_t i = 0; i < info.n; i++) {
		char *s = xasprintf("%s%s\n", summary, info.lines[i]);
		free(summary);
		summary = s;
	}
	if (!ui_confirm("Import a certificate", "%s\n%sReplace %s and %s with it?", summary,
	    days < 0 || (days == 0 && secs < 0) ? "IT HAS EXPIRED.  " : "", tg.cert, tg.key)) {
		ui_status("nothing imported");
		free(summary);
		goto done;
	}
	free(summary);
	new_cert = xasprintf("%s.console-new", tg.cert);
	new_key = xasprintf("%s.console-new", tg.key);
	{
		char dir[4096];
		str_copy(dir, tg.cert, sizeof(dir));
		if (proc_mkdir(dirname(dir), 0755, (uid_t)-1, (gid_t)-1) < 0) {
			ui_message("Import", "mkdir for %s: %s", tg.cert, strerror(errno));
			goto done;
		}
	}
	if (write_pem(new_key, write_key, key) < 0)
		goto done;
	if (write_pem(new_cert, write_certs, all) < 0) {
		unlink(new_key);
		goto done;
	}
	if (install(c, &tg, new_cert, new_key) == 0)
		offer_reload(c, "Certificate imported.");
	else {
		unlink(new_cert);
		unlink(new_key);
	}
done:
	text_free(&info);
	if (key != NULL)
		EVP_PKEY_free(key);
	if (all != NULL)
		sk_X509_pop_free(all, X509_free);
	free(new_cert);
	free(new_key);
}

void
screen_tls(struct console *c)
{
	struct text t;

	text_init(&t, 0);
	cert_show(&t);
	for (;;) {
		int y = ui_body_top() + 1, key;

		ui_frame("TLS certificate", "g: generate self-signed  i: import  l: reload facteur  "
		    "?: help  q: back");
		for (size_t i = 0; i < t.n && y < ui_body_top() + ui_body_lines(); i++)
			ui_put(y++, 2, ui_cols() - 3, strstr(t.lines[i], "EXPIRED") != NULL ||
			    strstr(t.lines[i], "NOT MATCH") != NULL ? UI_BAD : UI_NORMAL, t.lines[i]);
		ui_refresh();
		key = ui_getkey(-1, 0);
		switch (key) {
		case UI_KEY_BACK:
			text_free(&t);
			return;
		case UI_KEY_HELP:
			ui_help("TLS certificate", help);
			break;
		case 'g': case 'G':
			generate(c);
			cert_show(&t);
			break;
		case 'i': case 'I':
			import(c);
			cert_show(&t);
			break;
		case 'l': case 'L':
			offer_reload(c, "");
			break;
		default:
			break;
		}
	}
}
