/* SPDX-License-Identifier: MIT */
/*
 * status - what the dashboard and the services screen show, gathered
 * without asking any daemon: the master's pid file and lock, its
 * children in /proc, the stats segment (copied, not mapped: a master
 * starting anew truncates and rewrites it, and a mapping would fault),
 * the queue directories and the spool's file system.
 */
#ifndef FACTEUR_CONSOLE_STATUS_H
#define FACTEUR_CONSOLE_STATUS_H

#include <sys/types.h>

#include "lib/stats.h"
#include "mta/queue.h"

#define STATUS_DAEMONS_MAX 10

struct status_daemon {
	const char *name;
	int wanted;		/* the configuration asks for it */
	pid_t pid;		/* 0: not running */
	unsigned long long restarts;	/* after it exited unasked (the master's table) */
};

struct status {
	pid_t master_pid;	/* 0: the master is not running */
	struct status_daemon daemons[STATUS_DAEMONS_MAX];
	int ndaemons;
	int stats_ok;
	char stats_error[256];
	struct stats stats;	/* a copy, when stats_ok */
	long queue[Q_NSTATES];	/* files counted in each state directory */
	int disk_ok;
	unsigned long long disk_size, disk_avail;	/* bytes */
};

/* Read everything now (the configuration loaded gives the paths). */
void status_read(struct status *st);
/* The master's pid if it holds its lock, else 0. */
pid_t status_master_pid(void);
/* A stats counter by name (as facteurctl stats names it), 0 if unknown. */
unsigned long long status_counter(const struct status *st, const char *name);
/* "12.3 GiB" */
void status_size_text(unsigned long long bytes, char *out, size_t size);

#endif
