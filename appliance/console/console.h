/* SPDX-License-Identifier: MIT */
/*
 * console - facteur-console, the appliance's full-screen menu on tty1 or
 * the serial console: what every screen shares.
 *
 * The console reads on its own (the stats segment, the queue files, the
 * directory, the log) and changes nothing itself but through the
 * programs that own each change: facteurctl for the queue and the
 * directory, systemctl or the master's signals for the service, openssl
 * for certificates, and the appliance's action scripts for the operating
 * system (network, SNMP, updates, power).  So a change made here is the
 * change made on the command line, with the same checks and messages.
 *
 * One file per screen (screen_NAME.c), each a loop that draws everything,
 * waits for a key or its refresh time, and acts; ui.h is the widgets.
 */
#ifndef FACTEUR_CONSOLE_H
#define FACTEUR_CONSOLE_H

#include "text.h"

struct console {
	const char *conf;	/* facteur.conf */
	const char *facteurctl;	/* the facteurctl program */
	const char *master;	/* the facteur master program (started directly) */
	const char *service;	/* a shell command given start|stop|restart|reload as $1, or NULL */
	int systemd;		/* systemd runs the system: systemctl drives the service */
	const char *actions;	/* directory of the action scripts */
	const char *log_file;	/* the log the log viewer shows */
	int log_default;	/* log_file is the default: the journal may stand in for it */
	const char *backups;	/* the directory of the backups screen */
};

/*
 * Run facteurctl -c conf with the arguments (NULL-terminated), input on
 * its standard input (may be NULL); its output into out.  The exit status.
 */
int console_ctl(const struct console *c, const char *input, struct text *out, ...)
    __attribute__((sentinel));
/* The same, the arguments in a NULL-terminated array. */
int console_ctlv(const struct console *c, const char *input, struct text *out,
    const char *const *args);
/* Show a command's result: its output in a message (a pager if long); "failed" unless status is 0. */
void console_result(const char *title, int status, const struct text *out);
/* The output as one string of at most size bytes, lines joined by sep. */
void console_text_join(const struct text *t, const char *sep, char *buf, size_t size);
/*
 * Run argv (input on its standard input, may be NULL) with its output in
 * a pager as it comes; the exit status once it ended.
 */
int console_run_pager(const char *title, char *const argv[], const char *input);
/*
 * The path of an action script of the actions directory (free it), or
 * NULL when it is missing or not executable, said in a message.
 */
char *console_action_path(const struct console *c, const char *title, const char *script);
/* Re-read facteur.conf (after the console changed it); 0, or -1 with a message shown. */
int console_reload_config(const struct console *c);

/* The screens. */
void screen_dashboard(struct console *c);
void screen_queue(struct console *c);
void screen_services(struct console *c);
void screen_directory(struct console *c);
void screen_log(struct console *c);
void screen_tls(struct console *c);
void screen_network(struct console *c);
void screen_snmp(struct console *c);
void screen_updates(struct console *c);
void screen_power(struct console *c);
void screen_backup(struct console *c);

/* Service control (screen_services.c): start, stop, restart or reload facteur; 0 on success. */
int console_service(const struct console *c, const char *verb, struct text *out);

#endif
