/* SPDX-License-Identifier: MIT */
/*
 * log - one line per event, to syslog and (in the foreground) to stderr.
 *
 * Lines are "key=value" where it helps grep; every line about a message
 * starts with its queue id ("qid=...").  log_warn()/fatal() append the
 * current errno text, log_warnx()/fatalx() do not (OpenSMTPD's habit).
 * Never log a password or a token.
 */
#ifndef FACTEUR_LOG_H
#define FACTEUR_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* ident names the program; foreground copies every line to stderr. */
void log_init(const char *ident, int foreground);
void log_set_level(enum log_level level);
/* Set the level from its name (error, warn, info, debug); unknown names: info. */
void log_set_level_name(const char *name);
int log_debug_enabled(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Broken environment or configuration: log and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Broken invariant: log and abort() for a core. */
void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
