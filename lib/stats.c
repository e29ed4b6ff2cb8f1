/* SPDX-License-Identifier: MIT */
/*
 * stats - shared-memory counters.  See stats.h.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

static struct stats stats_private;
struct stats *stats = &stats_private;

#define STATS_ROW(name, help) { #name, help, offsetof(struct stats, name) },
const struct stats_field stats_fields[] = { FACTEUR_STATS(STATS_ROW) };
#undef STATS_ROW
const unsigned int stats_nfields = sizeof(stats_fields) / sizeof(stats_fields[0]);

static int
stats_map(int fd, int writable, const char **error_r)
{
	static char error[256];
	void *p = mmap(NULL, sizeof(struct stats), PROT_READ | (writable ? PROT_WRITE : 0),
	    MAP_SHARED, fd, 0);

	if (p == MAP_FAILED) {
		snprintf(error, sizeof(error), "mmap stats: %s", strerror(errno));
		*error_r = error;
		return -1;
	}
	stats = p;
	return 0;
}

int
stats_create(const char *path, const char **error_r)
{
	static char error[256];
	struct stats init;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		snprintf(error, sizeof(error), "create %s: %s", path, strerror(errno));
		*error_r = error;
		return -1;
	}
	memset(&init, 0, sizeof(init));
	init.magic = STATS_MAGIC;
	init.nfields = stats_nfields;
	init.started = (uint64_t)time(NULL);
	if (write(fd, &init, sizeof(init)) != (ssize_t)sizeof(init)) {
		snprintf(error, sizeof(error), "write %s: %s", path, strerror(errno));
		*error_r = error;
		close(fd);
		return -1;
	}
	if (stats_map(fd, 1, error_r) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
stats_open(const char *path, int writable, const char **error_r)
{
	static char error[256];
	struct stat st;
	int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fd < 0) {
		snprintf(error, sizeof(error), "open %s: %s", path, strerror(errno));
		*error_r = error;
		return -1;
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct stats)) {
		snprintf(error, sizeof(error), "%s: not a stats segment of this version", path);
		*error_r = error;
		close(fd);
		return -1;
	}
	if (stats_map(fd, writable, error_r) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	if (stats->magic != STATS_MAGIC || stats->nfields != stats_nfields) {
		snprintf(error, sizeof(error), "%s: not a stats segment of this version", path);
		*error_r = error;
		return -1;
	}
	return 0;
}

struct stats_daemon *
stats_daemon_row(const char *name)
{
	unsigned int n = __atomic_load_n(&stats->ndaemons, __ATOMIC_RELAXED);
	struct stats_daemon *d;

	for (unsigned int i = 0; i < n; i++)
		if (strcmp(stats->daemons[i].name, name) == 0)
			return &stats->daemons[i];
	if (n >= STATS_DAEMONS)
		return NULL;
	d = &stats->daemons[n];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	/* Readers see the name before they see the row counted. */
	__atomic_store_n(&stats->ndaemons, n + 1, __ATOMIC_RELEASE);
	return d;
}

unsigned int
stats_daemon_count(void)
{
	unsigned int n = __atomic_load_n(&stats->ndaemons, __ATOMIC_ACQUIRE);

	return n > STATS_DAEMONS ? STATS_DAEMONS : n;
}

uint64_t
stats_value(unsigned int i)
{
	return __atomic_load_n((const uint64_t *)((const char *)stats + stats_fields[i].offset),
	    __ATOMIC_RELAXED);
}

int
stats_is_gauge(unsigned int i)
{
	static const char mark[] = "(gauge)";
	size_t len = strlen(stats_fields[i].help);

	return len >= sizeof(mark) - 1 &&
	    strcmp(stats_fields[i].help + len - (sizeof(mark) - 1), mark) == 0;
}
