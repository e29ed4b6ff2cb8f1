/* SPDX-License-Identifier: MIT */
/*
 * screen_directory - domains and accounts, the everyday part of the
 * directory: domains listed and added, a local domain's accounts listed,
 * added with a password, enabled, disabled, given a new password or
 * deleted.  Read through store/directory.h (read-only); every change is
 * "facteurctl domain ..." or "facteurctl account ...", a password given on
 * facteurctl's standard input, never on a command line.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "lib/mem.h"
#include "store/auth.h"
#include "store/directory.h"
#include "ui.h"

#define REFRESH_MS 5000
#define PASSWORD_SIZE 1025	/* facteurctl takes at most 1024 characters */

static const char domains_help[] =
    "The domains of the directory: local domains have accounts here, relay domains are "
    "passed to their next hop, backup domains are kept for their primary MX.\n"
    "\n"
    "Enter: the accounts of the selected local domain\n"
    "a: add a domain\n"
    "d: delete the selected domain (asks first; refused while entries use it)\n"
    "q: back\n"
    "\n"
    "Aliases, profiles and access lists: facteurctl on the command line.";

static const char accounts_help[] =
    "The accounts of one local domain.\n"
    "\n"
    "a: add an account (its password typed twice)\n"
    "e: enable or disable the selected account (a disabled one gets no mail and cannot log in)\n"
    "p: set its password\n"
    "d: delete it (asks first; its mailbox store data is not removed)\n"
    "q: back to the domains";

/* Read-only handle, or NULL and why in *why. */
static struct directory *
open_dir(const char **why)
{
	return directory_open(directory_default_path(), DIRECTORY_READONLY, why);
}

/* A change through facteurctl: 0, or its failure shown. */
static int
change(struct console *c, const char *title, const char *input, const char *ok, ...)
    __attribute__((sentinel));

static int
change(struct console *c, const char *title, const char *input, const char *ok, ...)
{
	const char *args[12];
	struct text out;
	va_list ap;
	int n = 0, status;

	va_start(ap, ok);
	while (n < 11 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	text_init(&out, 0);
	status = console_ctlv(c, input, &out, args);
	if (status != 0)
		console_result(title, status, &out);
	else
		ui_status("%s", ok);
	text_free(&out);
	return status;
}

/* ---- accounts ---- */

struct fill_ctx {
	struct directory *dir;
	struct ui_list *list;
};

static int
add_account_row(const char *addr, int enabled, void *arg)
{
	struct fill_ctx *f = arg;
	struct dir_account acc;
	const char *pw = "?", *profile = "";

	if (directory_account_get(f->dir, addr, &acc) == 1) {
		pw = strcmp(acc.password, AUTH_LDAP_MARK) == 0 ? "ldap" :
		    acc.password[0] != '\0' ? "set" : "none";
		profile = acc.profile;
	}
	ui_list_add(f->list, addr, enabled ? UI_NORMAL : UI_WARN, "%-44s %-8s %-8s %s", addr,
	    enabled ? "enabled" : "DISABLED", pw, profile);
	return 0;
}

static void
fill_accounts(struct ui_list *l, const char *domain, char *error, size_t size)
{
	const char *why;
	struct fill_ctx f;

	ui_list_clear(l);
	error[0] = '\0';
	if ((f.dir = open_dir(&why)) == NULL) {
		str_copy(error, why, size);
		return;
	}
	f.list = l;
	if (directory_account_foreach(f.dir, domain, add_account_row, &f) < 0)
		str_copy(error, "the directory could not be read", size);
	directory_close(&f.dir);
	ui_list_select(l, NULL);
}

/* Ask a new password twice; 1 with it in pw, 0 cancelled. */
static int
ask_password(const char *title, const char *addr, char *pw, size_t size)
{
	char again[PASSWORD_SIZE] = "", intro[512];
	struct ui_field fields[] = {
		{ "Password", pw, size, UI_FIELD_HIDDEN, NULL },
		{ "Again", again, sizeof(again), UI_FIELD_HIDDEN, NULL },
	};

	snprintf(intro, sizeof(intro), "The new password of %s, typed twice.", addr);
	pw[0] = '\0';
	for (;;) {
		if (!ui_form(title, intro, fields, 2)) {
			explicit_bzero(again, sizeof(again));
			explicit_bzero(pw, size);
			return 0;
		}
		if (pw[0] != '\0' && strcmp(pw, again) == 0)
			break;
		ui_message(title, pw[0] == '\0' ? "The password is empty." :
		    "The two passwords differ: type them again.");
		explicit_bzero(again, sizeof(again));
		explicit_bzero(pw, size);
	}
	explicit_bzero(again, sizeof(again));
	return 1;
}

/* facteurctl account passwd ADDR, the password on its standard input. */
static int
set_password(struct console *c, const char *addr, char *pw)
{
	char *input = xasprintf("%s\n", pw);
	int status;

	status = change(c, "Password", input, "password set", "account", "passwd", addr, (char *)NULL);
	explicit_bzero(input, strlen(input));
	free(input);
	explicit_bzero(pw, strlen(pw));
	if (status == 0)
		ui_status("password of %s set", addr);
	return status;
}

static void
add_account(struct console *c, const char *domain)
{
	char local[256] = "", pw[PASSWORD_SIZE] = "", again[PASSWORD_SIZE] = "", intro[512];
	char addr[DIR_ADDR_SIZE];
	struct ui_field fields[] = {
		{ "Address", local, sizeof(local), 0, NULL },
		{ "Password", pw, sizeof(pw), UI_FIELD_HIDDEN, NULL },
		{ "Again", again, sizeof(again), UI_FIELD_HIDDEN, NULL },
	};

	snprintf(intro, sizeof(intro), "A new account of %s: its name (before the @%s) and its "
	    "password, typed twice.", domain, domain);
	for (;;) {
		const char *error = NULL;
		char *name;

		if (!ui_form("Add an account", intro, fields, 3)) {
			ui_status("no account added");
			break;
		}
		name = str_trim(local);
		if (name[0] == '\0')
			error = "The address is empty.";
		else if (strchr(name, '@') != NULL && str_casecmp(strchr(name, '@') + 1, domain) != 0)
			error = "The address must be in this domain.";
		else if (strpbrk(name, " \t\"<>,;") != NULL)
			error = "The address has characters addresses cannot have.";
		else if (pw[0] == '\0')
			error = "The password is empty.";
		else if (strcmp(pw, again) != 0)
			error = "The two passwords differ: type them again.";
		if (error != NULL) {
			ui_message("Add an account", "%s", error);
			explicit_bzero(pw, sizeof(pw));
			explicit_bzero(again, sizeof(again));
			continue;
		}
		if (strchr(name, '@') != NULL)
			str_copy(addr, name, sizeof(addr));
		else
			snprintf(addr, sizeof(addr), "%s@%s", name, domain);
		if (change(c, "Add an account", NULL, "account added", "account", "add", addr,
		    (char *)NULL) == 0)
			set_password(c, addr, pw);
		break;
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(again, sizeof(again));
}

static void
screen_accounts(struct console *c, const char *domain)
{
	struct timespec last = { 0, 0 };
	struct ui_list list;
	char error[512] = "", title[300];

	ui_list_init(&list);
	snprintf(title, sizeof(title), "Accounts of %s", domain);
	for (;;) {
		struct timespec now;
		const char *addr;
		char pw[PASSWORD_SIZE];
		int key, h = ui_body_lines();
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (waited >= REFRESH_MS) {
			fill_accounts(&list, domain, error, sizeof(error));
			last = now;
			waited = 0;
		}
		ui_frame(title, "a: add  e: enable/disable  p: password  d: delete  F1/?: help  q: back");
		ui_list_draw(&list, ui_body_top(), h,
		    "Address                                      State    Password Profile");
		if (error[0] != '\0')
			ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_WARN, error);
		else if (list.n == 0)
			ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_NORMAL, "No account yet: a to add one.");
		ui_refresh();
		key = ui_getkey(REFRESH_MS - (int)waited, 0);
		if (ui_list_move(&list, key, h - 1))
			continue;
		addr = ui_list_key(&list);
		switch (key) {
		case UI_KEY_BACK:
			ui_list_free(&list);
			return;
		case UI_KEY_HELP:
			ui_help(title, accounts_help);
			continue;
		case 'a': case 'A':
			add_account(c, domain);
			break;
		case 'e': case 'E':
			if (addr == NULL)
				break;
			if (list.attrs[list.sel] == UI_WARN)
				change(c, "Enable", NULL, "account enabled", "account", "enable", addr,
				    (char *)NULL);
			else
				change(c, "Disable", NULL, "account disabled", "account", "disable", addr,
				    (char *)NULL);
			break;
		case 'p': case 'P':
			if (addr == NULL)
				break;
			if (ask_password("Set a password", addr, pw, sizeof(pw)))
				set_password(c, addr, pw);
			explicit_bzero(pw, sizeof(pw));
			break;
		case 'd': case 'D':
			if (addr == NULL)
				break;
			if (ui_confirm("Delete an account", "Delete the account %s?  Mail to it will be "
			    "refused.", addr))
				change(c, "Delete an account", NULL, "account deleted", "account", "del", addr,
				    (char *)NULL);
			else
				ui_status("nothing deleted");
			break;
		default:
			continue;
		}
		last.tv_sec = 0;
		last.tv_nsec = 0;
	}
}

/* ---- domains ---- */

static int
count_account(const char *addr, int enabled, void *ctx)
{
	(*(long *)ctx)++;
	return 0;
}

static int
add_domain_row(const struct dir_domain *d, void *arg)
{
	struct fill_ctx *f = arg;
	long accounts = 0;

	if (d->kind == DIR_DOMAIN_LOCAL) {
		directory_account_foreach(f->dir, d->name, count_account, &accounts);
		ui_list_add(f->list, d->name, UI_NORMAL, "%-40s %-7s %ld account%s%s%s", d->name,
		    dir_domain_kind_str(d->kind), accounts, accounts == 1 ? "" : "s",
		    d->catchall[0] != '\0' ? ", catch-all " : "", d->catchall);
	} else {
		ui_list_add(f->list, d->name, UI_NORMAL, "%-40s %-7s next hop %s", d->name,
		    dir_domain_kind_str(d->kind), d->nexthop[0] != '\0' ? d->nexthop : "(MX)");
	}
	return 0;
}

static void
fill_domains(struct ui_list *l, char *error, size_t size)
{
	const char *why;
	struct fill_ctx f;

	ui_list_clear(l);
	error[0] = '\0';
	/* No file yet: no domain yet (facteurctl creates it with the first). */
	if (access(directory_default_path(), F_OK) < 0 && errno == ENOENT)
		return;
	if ((f.dir = open_dir(&why)) == NULL) {
		str_copy(error, why, size);
		return;
	}
	f.list = l;
	if (directory_domain_foreach(f.dir, add_domain_row, &f) < 0)
		str_copy(error, "the directory could not be read", size);
	directory_close(&f.dir);
	ui_list_select(l, NULL);
}

static void
add_domain(struct console *c, struct ui_list *l)
{
	static const char *const kinds[] = { "local", "relay", "backup", NULL };
	char name[256] = "", kind[16] = "local", nexthop[300] = "";
	struct ui_field fields[] = {
		{ "Domain", name, sizeof(name), 0, NULL },
		{ "Kind", kind, sizeof(kind), UI_FIELD_CHOICE, kinds },
		{ "Next hop", nexthop, sizeof(nexthop), 0, NULL },
	};

	for (;;) {
		char *n, *hop;

		if (!ui_form("Add a domain", "Local: mailboxes here.  Relay: accepted and passed to its "
		    "next hop ([host]:port, or empty for its MX).  Backup: kept for the primary MX.",
		    fields, 3)) {
			ui_status("no domain added");
			return;
		}
		n = str_trim(name);
		hop = str_trim(nexthop);
		if (n[0] == '\0' || strchr(n, '.') == NULL || strpbrk(n, " \t@/\\\"") != NULL) {
			ui_message("Add a domain", "\"%s\" is not a domain name.", n);
			continue;
		}
		if (strcmp(kind, "local") == 0 && hop[0] != '\0') {
			ui_message("Add a domain", "A local domain has no next hop: leave it empty.");
			continue;
		}
		if (change(c, "Add a domain", NULL, "domain added", "domain", "add", n, "--kind", kind,
		    hop[0] != '\0' ? "--nexthop" : NULL, hop, (char *)NULL) == 0) {
			/* Select it when the list is read again. */
			free(l->keep);
			l->keep = xstrdup(n);
			l->sel = l->n;
		}
		return;
	}
}

void
screen_directory(struct console *c)
{
	struct timespec last = { 0, 0 };
	struct ui_list list;
	char error[512] = "";

	ui_list_init(&list);
	for (;;) {
		struct timespec now;
		const char *name;
		int key, h = ui_body_lines();
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
		if (waited >= REFRESH_MS) {
			fill_domains(&list, error, sizeof(error));
			last = now;
			waited = 0;
		}
		ui_frame("Domains", "Enter: accounts  a: add domain  d: delete  F1/?: help  q/Esc: back");
		ui_list_draw(&list, ui_body_top(), h,
		    "Domain                                   Kind");
		if (error[0] != '\0')
			ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_WARN, error);
		else if (list.n == 0)
			ui_put(ui_body_top() + 2, 2, ui_cols() - 4, UI_NORMAL, "No domain yet: a to add one.");
		ui_refresh();
		key = ui_getkey(REFRESH_MS - (int)waited, 0);
		if (ui_list_move(&list, key, h - 1))
			continue;
		name = ui_list_key(&list);
		switch (key) {
		case UI_KEY_BACK:
			ui_list_free(&list);
			return;
		case UI_KEY_HELP:
			ui_help("Domains", domains_help);
			continue;
		case 'a': case 'A':
			add_domain(c, &list);
			break;
		case UI_KEY_ENTER:
			if (name == NULL)
				continue;
			if (strstr(list.rows[list.sel], " local ") == NULL) {
				ui_status("%s is not a local domain: it has no accounts", name);
				continue;
			}
			{
				char *d = xstrdup(name);
				screen_accounts(c, d);
				free(d);
			}
			break;
		case 'd': case 'D':
			if (name == NULL)
				break;
			if (ui_confirm("Delete a domain", "Delete the domain %s?  Mail to it will be "
			    "refused.", name))
				change(c, "Delete a domain", NULL, "domain deleted", "domain", "del", name,
				    (char *)NULL);
			else
				ui_status("nothing deleted");
			break;
		default:
			continue;
		}
		last.tv_sec = 0;
		last.tv_nsec = 0;
	}
}
