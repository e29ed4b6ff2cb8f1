/* SPDX-License-Identifier: MIT */
/*
 * log - syslog plus stderr in the foreground.  See log.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "facteur";
static int log_foreground;
static enum log_level log_level = LOG_LEVEL_INFO;

/*
 * Under systemd, stderr may be the journal already (JOURNAL_STREAM names
 * its device and inode): copying lines there as well as to syslog would
 * log each of them twice.
 */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;

	return js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &sb) == 0 && (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_init(const char *ident, int foreground)
{
	log_ident = ident;
	log_foreground = foreground && !stderr_is_journal();
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

void
log_set_level_name(const char *name)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	log_level = LOG_LEVEL_INFO;
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			log_level = (enum log_level)i;
}

int
log_debug_enabled(void)
{
	return log_level >= LOG_LEVEL_DEBUG;
}

static void
log_vemit(int prio, const char *fmt, va_list ap, int with_errno)
{
	char line[4096];
	int saved = errno;
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		return;
	if (with_errno && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved));
	/* A peer's bytes may end up in a line: keep it one line. */
	for (char *p = line; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	syslog(prio, "%s", line);
	if (log_foreground) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %s\n", stamp, ts.tv_nsec / 1000000,
		    log_ident, (long)getpid(), line);
	}
	errno = saved;
}

#define LOG_BODY(prio, with_errno)             \
	do {                                   \
		va_list ap;                    \
		va_start(ap, fmt);             \
		log_vemit(prio, fmt, ap, with_errno); \
		va_end(ap);                    \
	} while (0)

void
log_info(const char *fmt, ...)
{
	if (log_level >= LOG_LEVEL_INFO)
		LOG_BODY(LOG_INFO, 0);
}

void
log_debug(const char *fmt, ...)
{
	if (log_level >= LOG_LEVEL_DEBUG)
		LOG_BODY(LOG_DEBUG, 0);
}

void
log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 1);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, 0);
}

void
fatal(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 1);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	exit(1);
}

void
panic(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, 0);
	abort();
}
