/* SPDX-License-Identifier: MIT */
/*
 * facteur-console - the appliance's full-screen menu (tty1, serial).
 *
 * Usage: facteur-console [-BW] [-c facteur.conf] [-a actions-dir] [-b backup-dir]
 *            [-l log-file] [-C facteurctl] [-M facteur] [-S service-command] [-s screen]
 *            [-F marker-file] [-T idle-seconds]
 * See facteur-console(8).  The options point the console at another
 * facteur (the tests' own); -s opens a screen first (back from it: the
 * main menu).  -B is boot mode, the appliance's consoles: the first-boot
 * wizard while the marker file is missing, then the admin's login before
 * the menu, locked again when idle, and q logs out instead of leaving.
 * -W runs the wizard first in any case.
 */
#include "facteur-config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "lib/config.h"
#include "lib/log.h"
#include "login.h"
#include "ui.h"
#include "wizard.h"

#ifndef FACTEUR_SYSCONF_DIR
#define FACTEUR_SYSCONF_DIR "/etc/facteur"
#endif
#ifndef FACTEUR_SBIN_DIR
#define FACTEUR_SBIN_DIR "/usr/sbin"
#endif
#ifndef FACTEUR_CONSOLE_ACTIONS_DIR
#define FACTEUR_CONSOLE_ACTIONS_DIR FACTEUR_DAEMON_DIR "/console"
#endif
#define DEFAULT_LOG_FILE "/var/log/mail.log"
#define DEFAULT_BACKUPS "/var/backups/facteur"
#define DEFAULT_MARKER "/var/lib/facteur/console-configured"
#define DEFAULT_IDLE_SECONDS (15 * 60)

static const struct {
	int key;
	const char *name;
	const char *label;
	const char *note;
	void (*run)(struct console *c);
} screens[] = {
	{ 'D', "dashboard", "Dashboard", "services, queue, counters, disk, filters", screen_dashboard },
	{ 'M', "queue", "Mail queue", "list, show, hold, release, delete, flush", screen_queue },
	{ 'S', "services", "Services", "start, stop, restart, reload facteur", screen_services },
	{ 'A', "directory", "Domains and accounts", "add, enable, disable, passwords", screen_directory },
	{ 'L', "log", "Log viewer", "scroll, search, follow", screen_log },
	{ 'T', "tls", "TLS certificate", "show, self-signed, import", screen_tls },
	{ 'N', "network", "Network", "addresses, DHCP, host name", screen_network },
	{ 'P', "snmp", "SNMP", "community, v3 user", screen_snmp },
	{ 'B', "backup", "Backup and restore", "back up, restore, delete backups", screen_backup },
	{ 'U', "updates", "Updates", "check and install system updates", screen_updates },
	{ 'R', "power", "Reboot / shut down", NULL, screen_power },
};
#define NSCREENS (sizeof(screens) / sizeof(screens[0]))

static const char main_help[] =
    "The appliance's console.  Choose a screen with the arrows and Enter or its letter.\n"
    "\n"
    "In every screen: the keys are named on the bottom line, F1 or ? shows help, "
    "q or Esc goes back.  Changes go through facteurctl, systemctl and the appliance's "
    "scripts, as on the command line; every destructive action asks first.\n"
    "\n"
    "q in this menu leaves the console.";

static const char boot_help[] =
    "The appliance's console.  Choose a screen with the arrows and Enter or its letter.\n"
    "\n"
    "In every screen: the keys are named on the bottom line, F1 or ? shows help, "
    "q or Esc goes back.  Changes go through facteurctl, systemctl and the appliance's "
    "scripts, as on the command line; every destructive action asks first.\n"
    "\n"
    "q in this menu logs out: the console asks for the admin's password again.  It does the "
    "same by itself after a while without a key.";

static void
usage(void)
{
	fprintf(stderr, "usage: facteur-console [-BW] [-c facteur.conf] [-a actions-dir] [-b backup-dir]\n"
	    "           [-l log-file] [-C facteurctl] [-M facteur] [-S service-command] [-s screen]\n"
	    "           [-F marker-file] [-T idle-seconds]\n"
	    "screens:");
	for (size_t i = 0; i < NSCREENS; i++)
		fprintf(stderr, " %s", screens[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

static const char *
env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

/* The idle lock: the login over whatever screen was there. */
static void
idle_login(void *ctx)
{
	login_run(ctx);
}

/* The menu until q (or Esc); first, if not NULL, opened before. */
static void
menu(struct console *c, const struct ui_menu_item *items, int boot, int first)
{
	int sel = first >= 0 ? first : 0;

	if (first >= 0)
		screens[first].run(c);
	for (;;) {
		int i = ui_menu(boot ? "Main menu (q: log out)" : "Main menu", boot ? boot_help : main_help,
		    items, NSCREENS, &sel);
		if (i < 0)
			return;
		screens[i].run(c);
	}
}

int
main(int argc, char **argv)
{
	static struct ui_menu_item items[NSCREENS];
	struct console c;
	const char *error, *first = NULL, *marker;
	struct stat st;
	long idle = -1;
	char *end;
	int ch, sel = 0, boot = 0, wizard = 0, set_up = 0;

	memset(&c, 0, sizeof(c));
	c.conf = env_or("FACTEUR_CONF", FACTEUR_SYSCONF_DIR "/facteur.conf");
	c.facteurctl = FACTEUR_SBIN_DIR "/facteurctl";
	c.master = FACTEUR_SBIN_DIR "/facteur";
	c.service = env_or("FACTEUR_CONSOLE_SERVICE", NULL);
	c.actions = env_or("FACTEUR_CONSOLE_ACTIONS", FACTEUR_CONSOLE_ACTIONS_DIR);
	c.log_file = env_or("FACTEUR_CONSOLE_LOG", DEFAULT_LOG_FILE);
	c.log_default = strcmp(c.log_file, DEFAULT_LOG_FILE) == 0;
	c.backups = env_or("FACTEUR_CONSOLE_BACKUPS", DEFAULT_BACKUPS);
	marker = env_or("FACTEUR_CONSOLE_CONFIGURED", DEFAULT_MARKER);
	/* systemd's own test (sd_booted): is this directory there? */
	c.systemd = stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
	while ((ch = getopt(argc, argv, "a:b:Bc:C:F:l:M:s:S:T:W")) != -1) {
		switch (ch) {
		case 'a': c.actions = optarg; break;
		case 'b': c.backups = optarg; break;
		case 'B': boot = 1; break;
		case 'c': c.conf = optarg; break;
		case 'C': c.facteurctl = optarg; break;
		case 'F': marker = optarg; break;
		case 'l': c.log_file = optarg; c.log_default = 0; break;
		/* A master named: it is started and signalled directly. */
		case 'M': c.master = optarg; c.systemd = 0; break;
		case 's': first = optarg; break;
		case 'S': c.service = optarg; break;
		case 'T':
			idle = strtol(optarg, &end, 10);
			if (*end != '\0' || optarg[0] == '\0' || idle < 0 || idle > 86400 * 7)
				usage();
			break;
		case 'W': wizard = 1; break;
		default: usage();
		}
	}
	if (optind != argc || marker[0] == '\0' || c.backups[0] == '\0')
		usage();
	if (first != NULL) {
		size_t i;
		for (i = 0; i < NSCREENS && strcmp(first, screens[i].name) != 0; i++)
			;
		if (i == NSCREENS)
			usage();
		sel = (int)i;
	}
	if (idle < 0)
		idle = boot ? DEFAULT_IDLE_SECONDS : 0;
	log_init("facteur/console", 0);
	/* Warnings too: failed logins are one. */
	log_set_level(LOG_LEVEL_WARN);
	if (config_load(c.conf, &error) < 0) {
		fprintf(stderr, "facteur-console: %s\n", error);
		return 1;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "facteur-console: needs a terminal\n");
		return 1;
	}
	for (size_t i = 0; i < NSCREENS; i++) {
		items[i].key = screens[i].key;
		items[i].label = screens[i].label;
		items[i].note = screens[i].note;
	}
	ui_init();
	if (boot) {
		/* No way out of the console by a key: ^C, ^\ and ^Z do nothing here. */
		signal(SIGINT, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		signal(SIGTSTP, SIG_IGN);
	}
	if (wizard || (boot && !wizard_configured(marker)))
		set_up = wizard_first_boot(&c, marker, wizard, !boot);
	if (!boot) {
		menu(&c, items, 0, first != NULL ? sel : -1);
		ui_end();
		return 0;
	}
	for (;;) {
		/*
		 * Whoever just set the admin's password here goes on to the
		 * dashboard without typing it again; every later visit logs in.
		 */
		ui_idle_lock(0, NULL, NULL);
		if (!set_up)
			login_run(&c);
		ui_idle_lock((int)idle, idle_login, &c);
		menu(&c, items, 1, set_up ? 0 : first != NULL ? sel : -1);
		first = NULL;
		set_up = 0;
	}
}
