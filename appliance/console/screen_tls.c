/* SPDX-License-Identifier: MIT */
/*
 * screen_tls - smtpd's certificate (smtpd_tls_cert_file): its subject,
 * issuer, names and validity, whether the key matches; a new self-signed
 * one made by openssl(1), or one imported from files.
 *
 * The files are read, made and installed by cert.h; this is the screen
 * that asks.  facteur is reloaded on request (smtpd reads its
 * certificate again on SIGHUP).  Nothing is replaced without a yes.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert.h"
#include "console.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "ui.h"
#include "valid.h"

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

static void
generate(struct console *c)
{
	char host[256], days[16] = "825";
	struct cert_targets tg;
	struct ui_field fields[] = {
		{ "Host name", host, sizeof(host), 0, NULL },
		{ "Days valid", days, sizeof(days), 0, NULL },
	};
	struct text out;
	char *end;
	long ndays;

	str_copy(host, proc_hostname(), sizeof(host));
	cert_targets_get(c, &tg);
	for (;;) {
		if (!ui_form("Self-signed certificate", "A new RSA 2048 key and a certificate for this host "
		    "name, signed by itself.", fields, 2)) {
			ui_status("nothing generated");
			return;
		}
		ndays = strtol(days, &end, 10);
		if (valid_hostname(host) != NULL)
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
	ui_busy("openssl: making a key and a certificate for %s...", host);
	text_init(&out, 0);
	if (cert_self_signed(c, host, ndays, &out) < 0)
		console_result("Self-signed certificate", 1, &out);
	else
		offer_reload(c, "New self-signed certificate installed.");
	text_free(&out);
}

static void
import(struct console *c)
{
	char certpath[4096] = "", keypath[4096] = "";
	struct ui_field fields[] = {
		{ "Certificate", certpath, sizeof(certpath), 0, NULL },
		{ "Key", keypath, sizeof(keypath), 0, NULL },
	};
	struct cert_targets tg;
	struct text info, out;
	const char *error;
	char *summary;
	int expired;

	cert_targets_get(c, &tg);
	text_init(&info, 0);
	for (;;) {
		if (!ui_form("Import a certificate", "PEM files: the certificate followed by its chain, "
		    "and its private key (empty: the key is in the certificate file).", fields, 2)) {
			ui_status("nothing imported");
			text_free(&info);
			return;
		}
		text_clear(&info);
		if (cert_check_pair(str_trim(certpath), str_trim(keypath), &info, &expired, &error) == 0)
			break;
		ui_message("Import", "%s", error);
	}
	summary = xstrdup("");
	for (size_t i = 0; i < info.n; i++) {
		char *s = xasprintf("%s%s\n", summary, info.lines[i]);
		free(summary);
		summary = s;
	}
	text_free(&info);
	if (!ui_confirm("Import a certificate", "%s\n%sReplace %s and %s with it?", summary,
	    expired ? "IT HAS EXPIRED.  " : "", tg.cert, tg.key)) {
		ui_status("nothing imported");
		free(summary);
		return;
	}
	free(summary);
	text_init(&out, 0);
	if (cert_import(c, str_trim(certpath), str_trim(keypath), &out) < 0)
		console_result("Import", 1, &out);
	else
		offer_reload(c, "Certificate imported.");
	text_free(&out);
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
