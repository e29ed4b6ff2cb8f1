/* SPDX-License-Identifier: MIT */
/*
 * login - the console's login in boot mode: the password of the
 * directory's global admin "admin" (the one the admin REST API takes),
 * checked as facteur-apid checks it (store/auth.h: auth_login_begin with
 * the admin's hash).  Three failures in a row: a pause of five seconds,
 * and a warning logged (never the password).  The same screen locks the
 * console again after an idle time.
 */
#ifndef FACTEUR_CONSOLE_LOGIN_H
#define FACTEUR_CONSOLE_LOGIN_H

#include "console.h"

/* Ask until the password is right. */
void login_run(struct console *c);
/*
 * 1 if password is the admin's, 0 if not, -1 if it cannot be checked:
 * the directory unreadable, no such admin or one without a password
 * (why in *why_r, static text).
 */
int login_check(const char *password, const char **why_r);

#endif
