/* SPDX-License-Identifier: MIT */
/*
 * monitor - what facteur-agentx (SNMP) and facteur-metrics (Prometheus)
 * export besides the counters of the stats segment: the master's uptime,
 * the queue's total, the use of the spool's and the mail store's file
 * systems, and the alarms (a daemon went down, the queue or the spool's
 * disk went over its threshold) with the moment each starts and ends.
 *
 * Both daemons map the segment read-only (lib/stats.h) and read it at
 * each request: nothing is cached, so an answer is as fresh as
 * facteurctl stats.
 */
#ifndef FACTEUR_MONITOR_H
#define FACTEUR_MONITOR_H

#include <stdint.h>

#include "lib/stats.h"

/* Map $spool_directory/run/stats read-only.  -1 with *error_r on error. */
int monitor_open(const char **error_r);

/* Seconds since the master started (0 before it did). */
uint64_t monitor_uptime(void);
/* Messages in the queue: incoming, active, deferred and hold together. */
uint64_t monitor_queue_messages(void);

struct monitor_disk {
	int known;		/* 0: statvfs failed (the directory is missing) */
	uint64_t size;		/* bytes of the file system */
	uint64_t avail;		/* bytes an unprivileged writer may still use */
	unsigned int used_percent;	/* as df(1): used / (used + avail), rounded up */
};

/* The file system holding path. */
void monitor_disk(const char *path, struct monitor_disk *disk_r);
/* The mail store's directory (mail_store_directory, else $spool_directory/store). */
const char *monitor_store_directory(char *buf, size_t size);

enum monitor_event {
	MONITOR_DAEMON_DOWN,	/* a daemon exited unasked and is being restarted */
	MONITOR_QUEUE_OVER,	/* the queue went over the threshold */
	MONITOR_QUEUE_CLEARED,	/* ... and came back to 90 % of it, and under it, or less */
	MONITOR_DISK_FULL,	/* the spool's disk reached the threshold */
	MONITOR_DISK_CLEARED,	/* ... and went more than one point below it */
};

struct monitor_alarms {
	int primed;		/* restarts[] holds what the last check saw */
	uint64_t restarts[STATS_DAEMONS];
	int queue_over;
	int disk_full;
};

/*
 * Compare the segment with what the last check saw and call fn once for
 * each condition that started or ended since (row: the daemon's row for
 * MONITOR_DAEMON_DOWN, else 0).  The first check takes the daemons'
 * restarts as they are (restarts before the monitor started are not
 * news) but reports a queue or a disk already over its threshold.  A
 * threshold of 0 switches its alarm off.  spool may be NULL (no check of
 * the disk).
 */
void monitor_alarms_check(struct monitor_alarms *a, uint64_t queue_threshold,
    unsigned int disk_threshold_percent, const struct monitor_disk *spool,
    void (*fn)(enum monitor_event ev, unsigned int row, void *arg), void *arg);

#endif
