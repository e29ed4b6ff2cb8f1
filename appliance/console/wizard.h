/* SPDX-License-Identifier: MIT */
/*
 * wizard - the first-boot setup: one screen per step (keyboard, host
 * name, network, mail domains, admin password, TLS certificate, SNMP,
 * time), Back and Next with every value kept, each step's values checked
 * before Next, a summary, then everything applied in order with the
 * output shown as it comes.
 *
 * Applying goes through the programs that own each change, as every
 * screen of the console does: the action scripts (system.sh, network.sh,
 * snmp.sh), facteurctl (domains, the global admin "admin" whose password
 * the admin REST API and the console's login share), facteur.conf
 * edited in place (myhostname), the certificate files (cert.h), the
 * service restarted.  The first failure stops it: what failed is shown
 * and the administrator goes back to the step to fix; applying again
 * redoes every step (each is made so that doing it twice is harmless).
 *
 * The marker file says the setup is done: written last, under a
 * temporary name renamed into place, so that a reboot in the middle
 * runs the wizard again.  Consoles (tty1, the serial line) may start
 * together: the wizard runs under an flock(2) on MARKER.lock, and a
 * second console waits for it to be free.
 */
#ifndef FACTEUR_CONSOLE_WIZARD_H
#define FACTEUR_CONSOLE_WIZARD_H

#include "console.h"

#define WIZARD_ADMIN "admin"	/* the directory's global admin the wizard makes */

/* The values asked, kept across the steps. */
struct wizard {
	char layout[16];
	char hostname[254];
	char net_mode[16], iface[16], address[64], gateway[64], dns[256];
	char domains[1024], domains_auto[254];
	char password[1025], password2[1025];
	char tls_mode[16], tls_cert[1024], tls_key[1024];
	char snmp_mode[16], community[65], snmp_net[64], v3user[65], v3auth[129], v3priv[129];
	char zone[128], ntp[512];
};

/* The steps, in order (the index of the screen that asks). */
enum wizard_step {
	WS_KEYBOARD, WS_HOSTNAME, WS_NETWORK, WS_DOMAINS, WS_PASSWORD, WS_TLS, WS_SNMP, WS_TIME,
	WS_SUMMARY, WS_COUNT
};

/* Is the setup done (the marker file there)? */
int wizard_configured(const char *marker);
/*
 * The first-boot setup under the lock: when another console holds it, a
 * screen says so and waits (the lock tried every second).  Once it is
 * ours, the wizard runs unless force is 0 and the marker appeared in the
 * meantime (the other console did it).  may_leave: Esc on the first step
 * leaves without changing anything (not in boot mode).  1 if the setup
 * was applied here, 0 if not.
 */
int wizard_first_boot(struct console *c, const char *marker, int force, int may_leave);

/*
 * Apply w (wizard_apply.c): every change in order, the output in a
 * pager, the marker written last.  0 when all went well; -1 when a step
 * failed (said on the screen), *fix_r the step to go back to.
 */
int wizard_apply(struct console *c, struct wizard *w, const char *marker, enum wizard_step *fix_r);

/* The marker written atomically (its directory made if need be); 0, or -1 with why in out. */
int wizard_mark(const char *marker, const char *hostname, struct text *out);

#endif
