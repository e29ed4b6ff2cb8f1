/* SPDX-License-Identifier: MIT */
/*
 * monitor - derived values and alarms of the stats segment.  See monitor.h.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "lib/config.h"
#include "lib/proc.h"
#include "monitor.h"

int
monitor_open(const char **error_r)
{
	char path[4096];

	return stats_open(spool_path("run/stats", path, sizeof(path)), 0, error_r);
}

uint64_t
monitor_uptime(void)
{
	time_t now = time(NULL);
	uint64_t started = __atomic_load_n(&stats->started, __ATOMIC_RELAXED);

	return started == 0 || (uint64_t)now < started ? 0 : (uint64_t)now - started;
}

uint64_t
monitor_queue_messages(void)
{
	return __atomic_load_n(&stats->queue_incoming, __ATOMIC_RELAXED) +
	    __atomic_load_n(&stats->queue_active, __ATOMIC_RELAXED) +
	    __atomic_load_n(&stats->queue_deferred, __ATOMIC_RELAXED) +
	    __atomic_load_n(&stats->queue_hold, __ATOMIC_RELAXED);
}

void
monitor_disk(const char *path, struct monitor_disk *disk_r)
{
	struct statvfs st;
	uint64_t used, base;

	memset(disk_r, 0, sizeof(*disk_r));
	if (statvfs(path, &st) < 0 || st.f_blocks == 0)
		return;
	disk_r->known = 1;
	disk_r->size = (uint64_t)st.f_blocks * st.f_frsize;
	disk_r->avail = (uint64_t)st.f_bavail * st.f_frsize;
	/* df's Use%: the blocks kept for root count as neither used nor free. */
	used = (uint64_t)(st.f_blocks - st.f_bfree);
	base = used + (uint64_t)st.f_bavail;
	disk_r->used_percent = base == 0 ? 0 : (unsigned int)((used * 100 + base - 1) / base);
}

/* The store's own default (store/mstore.c), without linking the store. */
const char *
monitor_store_directory(char *buf, size_t size)
{
	if (var_mail_store_directory[0] != '\0')
		snprintf(buf, size, "%s", var_mail_store_directory);
	else
		snprintf(buf, size, "%s/store", var_spool_directory);
	return buf;
}

/*
 * How far under the threshold the queue must come back to clear: a tenth
 * of it, and at least one message, so that a count read in the middle of
 * a move between two states cannot end an alarm and start it again.
 */
static uint64_t
queue_margin(uint64_t threshold)
{
	return threshold / 10 > 0 ? threshold / 10 : 1;
}

void
monitor_alarms_check(struct monitor_alarms *a, uint64_t queue_threshold,
    unsigned int disk_threshold_percent, const struct monitor_disk *spool,
    void (*fn)(enum monitor_event ev, unsigned int row, void *arg), void *arg)
{
	unsigned int n = stats_daemon_count();

	for (unsigned int i = 0; i < n; i++) {
		uint64_t r = STATS_DAEMON_GET(&stats->daemons[i], restarts);

		/* A row added after the first check is news from its first restart. */
		if (a->primed && r > a->restarts[i])
			fn(MONITOR_DAEMON_DOWN, i, arg);
		a->restarts[i] = r;
	}
	a->primed = 1;

	if (queue_threshold == 0) {
		a->queue_over = 0;
	} else {
		uint64_t q = monitor_queue_messages();

		if (!a->queue_over && q > queue_threshold) {
			a->queue_over = 1;
			fn(MONITOR_QUEUE_OVER, 0, arg);
		} else if (a->queue_over && q <= queue_threshold - queue_margin(queue_threshold)) {
			a->queue_over = 0;
			fn(MONITOR_QUEUE_CLEARED, 0, arg);
		}
	}

	if (disk_threshold_percent == 0) {
		a->disk_full = 0;
	} else if (spool != NULL && spool->known) {
		if (!a->disk_full && spool->used_percent >= disk_threshold_percent) {
			a->disk_full = 1;
			fn(MONITOR_DISK_FULL, 0, arg);
		} else if (a->disk_full && spool->used_percent + 1 < disk_threshold_percent) {
			a->disk_full = 0;
			fn(MONITOR_DISK_CLEARED, 0, arg);
		}
	}
}
