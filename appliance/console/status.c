/* SPDX-License-Identifier: MIT */
/*
 * status - facts about the running facteur.  See status.h.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "status.h"

/*
 * Is an flock(2) write lock held on inode ino by pid, the pid written in
 * the file?  Read from /proc/locks rather than by trying the lock: even a
 * shared lock held for an instant would make a master starting at that
 * moment give up.  The holder must be that pid: a master that has just
 * taken the lock has not written its pid yet, and the file may still hold
 * the pid of the one before it.  (The device is not compared: overlay and
 * btrfs show another number there than stat's.)  1 yes, 0 no, -1 if
 * /proc/locks is unreadable.
 */
static int
flock_held(ino_t ino, long pid)
{
	char line[256];
	FILE *fp = fopen("/proc/locks", "re");
	int held = 0;

	if (fp == NULL)
		return -1;
	while (!held && fgets(line, sizeof(line), fp) != NULL) {
		unsigned int maj, min;
		unsigned long long lino;
		long lpid;
		char kind[16], mode[16], rw[16];

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "->" marks waiters. */
		if (strstr(line, "->") != NULL ||
		    sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%llu", kind, mode, rw, &lpid, &maj, &min,
		    &lino) != 7)
			continue;
		if (strcmp(kind, "FLOCK") != 0 || strcmp(rw, "WRITE") != 0 || lino != (unsigned long long)ino)
			continue;
		if (lpid == pid)
			held = 1;
	}
	fclose(fp);
	return held;
}

pid_t
status_master_pid(void)
{
	char path[4096], buf[32];
	struct stat st;
	ssize_t n;
	long pid;
	int fd = open(spool_path("run/master.pid", path, sizeof(path)), O_RDONLY | O_CLOEXEC), held;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	/* The master holds an exclusive lock on its pid file as long as it runs. */
	held = flock_held(st.st_ino, pid);
	if (held == 0 || pid <= 0)
		return 0;
	if (held < 0 && kill((pid_t)pid, 0) < 0 && errno != EPERM)
		return 0;
	return (pid_t)pid;
}

/* Fill the pids of master's children that are daemons of st. */
static void
find_children(struct status *st)
{
	struct dirent *de;
	DIR *proc;

	if (st->master_pid == 0 || (proc = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(proc)) != NULL) {
		char path[300], buf[512], *open_paren, *close_paren;
		long ppid;
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* pid (comm) state ppid ... */
		if ((open_paren = strchr(buf, '(')) == NULL || (close_paren = strrchr(buf, ')')) == NULL ||
		    close_paren[1] == '\0' || close_paren[2] == '\0')
			continue;
		if (close_paren[2] == 'Z')
			continue;
		ppid = strtol(close_paren + 4, NULL, 10);
		if (ppid != (long)st->master_pid)
			continue;
		*close_paren = '\0';
		for (int i = 0; i < st->ndaemons; i++)
			if (strcmp(open_paren + 1, st->daemons[i].name) == 0)
				st->daemons[i].pid = (pid_t)strtol(de->d_name, NULL, 10);
	}
	closedir(proc);
}

static void
read_stats(struct status *st)
{
	char path[4096];
	ssize_t n;
	int fd = open(spool_path("run/stats", path, sizeof(path)), O_RDONLY | O_CLOEXEC);

	st->stats_ok = 0;
	if (fd < 0) {
		snprintf(st->stats_error, sizeof(st->stats_error), "%s: %s", path, strerror(errno));
		return;
	}
	n = pread(fd, &st->stats, sizeof(st->stats), 0);
	close(fd);
	if (n != (ssize_t)sizeof(st->stats) || st->stats.magic != STATS_MAGIC ||
	    st->stats.nfields != stats_nfields) {
		snprintf(st->stats_error, sizeof(st->stats_error), "%s: not a stats segment of this version",
		    path);
		return;
	}
	st->stats_ok = 1;
}

static long
count_queue(enum queue_state state)
{
	char path[4096];
	struct dirent *de;
	long n = 0;
	DIR *dir;

	queue_path(state, "", path, sizeof(path));
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL)
		if (queue_id_valid(de->d_name))
			n++;
	closedir(dir);
	return n;
}

void
status_read(struct status *st)
{
	struct statvfs vfs;
	static const struct {
		const char *name;
		int always;
	} names[] = { { "qmgr", 1 }, { "smtpd", 1 }, { "policyd", 0 }, { "lmtpd", 0 },
		{ "imapd", 0 }, { "managesieved", 0 }, { "facteur-agentx", 0 }, { "facteur-metrics", 0 } };

	memset(st, 0, sizeof(*st));
	st->master_pid = status_master_pid();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct status_daemon *d = &st->daemons[st->ndaemons++];
		d->name = names[i].name;
		d->wanted = names[i].always;
	}
	/* As the master decides (appliance/master.c). */
	st->daemons[2].wanted = var_policy_listen[0] != '\0';
	st->daemons[3].wanted = var_lmtp_listen[0] != '\0';
	st->daemons[4].wanted = var_imap_listen[0] != '\0' || var_imaps_listen[0] != '\0';
	st->daemons[5].wanted = var_managesieve_listen[0] != '\0';
	st->daemons[6].wanted = var_snmp_agentx_socket[0] != '\0';
	st->daemons[7].wanted = var_metrics_listen[0] != '\0';
	find_children(st);
	read_stats(st);
	/* Restarts from the master's table (the pids from /proc: the table outlives a kill -9). */
	for (unsigned int r = 0; st->stats_ok && r < st->stats.ndaemons && r < STATS_DAEMONS; r++)
		for (int i = 0; i < st->ndaemons; i++)
			if (strncmp(st->stats.daemons[r].name, st->daemons[i].name,
			    sizeof(st->stats.daemons[r].name)) == 0)
				st->daemons[i].restarts = st->stats.daemons[r].restarts;
	for (int s = 0; s < Q_NSTATES; s++)
		st->queue[s] = count_queue((enum queue_state)s);
	if (statvfs(var_spool_directory, &vfs) == 0) {
		st->disk_ok = 1;
		st->disk_size = (unsigned long long)vfs.f_blocks * vfs.f_frsize;
		st->disk_avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	}
}

unsigned long long
status_counter(const struct status *st, const char *name)
{
	if (!st->stats_ok)
		return 0;
	for (unsigned int i = 0; i < stats_nfields; i++)
		if (strcmp(stats_fields[i].name, name) == 0)
			return *(const uint64_t *)((const char *)&st->stats + stats_fields[i].offset);
	return 0;
}

void
status_size_text(unsigned long long bytes, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, size, "%llu B", bytes);
	else
		snprintf(out, size, "%.1f %s", v, units[u]);
}
