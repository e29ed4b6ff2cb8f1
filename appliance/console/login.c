/* SPDX-License-Identifier: MIT */
/*
 * login - the admin's password before the menu.  See login.h.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "login.h"
#include "store/auth.h"
#include "store/directory.h"
#include "ui.h"
#include "wizard.h"

#define LOGIN_FAILURES 3
#define LOGIN_PAUSE 5
#define PASSWORD_SIZE 1025

int
login_check(const char *password, const char **why_r)
{
	struct auth_request *req = NULL;
	struct directory *dir;
	struct dir_admin ad;
	int found;

	if ((dir = directory_open(directory_default_path(), DIRECTORY_READONLY, why_r)) == NULL)
		return -1;
	found = directory_admin_get(dir, WIZARD_ADMIN, &ad);
	directory_close(&dir);
	if (found < 0) {
		*why_r = "the directory could not be read";
		return -1;
	}
	if (found == 0 || ad.password[0] == '\0') {
		*why_r = "the directory has no admin \"" WIZARD_ADMIN "\" with a password (as root: "
		    "facteurctl admin add " WIZARD_ADMIN " --global; facteurctl admin passwd " WIZARD_ADMIN ")";
		return -1;
	}
	/* As facteur-apid: the admin's hash, or a dummy one for an unknown admin (same cost). */
	if (auth_login_begin(NULL, WIZARD_ADMIN, password, "console", NULL, &req) != AUTH_OK) {
		*why_r = "logins cannot be checked now";
		return -1;
	}
	auth_request_set_hash(req, ad.password);
	auth_login_verify(req);
	explicit_bzero(&ad, sizeof(ad));
	return auth_login_end(&req, NULL, 0) == AUTH_OK;
}

void
login_run(struct console *c)
{
	char pw[PASSWORD_SIZE] = "", intro[512];
	struct ui_field f[] = { { "Password", pw, sizeof(pw), UI_FIELD_HIDDEN, NULL } };
	int failures = 0;

	(void)c;
	snprintf(intro, sizeof(intro), "facteur appliance %s.  The password of the administrator "
	    "\"%s\" (the admin REST API's) opens the console.", proc_hostname(),
	    WIZARD_ADMIN);
	for (;;) {
		const char *why = NULL;
		int r;

		ui_frame("Console login", "Enter: log in");
		ui_refresh();
		pw[0] = '\0';
		if (!ui_form("Console login", intro, f, 1))
			continue;
		ui_busy("Checking the password...");
		r = login_check(pw, &why);
		explicit_bzero(pw, sizeof(pw));
		if (r == 1)
			return;
		if (r < 0) {
			ui_message("Console login", "The password cannot be checked: %s.", why);
			continue;
		}
		if (++failures < LOGIN_FAILURES) {
			ui_message("Console login", "Wrong password.");
			continue;
		}
		log_warnx("console: %d failed logins in a row on %s", failures,
		    ttyname(STDIN_FILENO) != NULL ? ttyname(STDIN_FILENO) : "the console");
		ui_busy("Wrong password, %d times: wait %d seconds.", failures, LOGIN_PAUSE);
		sleep(LOGIN_PAUSE);
		ui_flush_input();
		failures = 0;
	}
}
