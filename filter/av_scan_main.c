/* SPDX-License-Identifier: MIT */
/*
 * av_scan - scan files with the filter's antivirus (av.h) the way clamscan
 * does, for tests and benchmarks: each file is read into memory and given
 * to av_scan() whole, as the pipeline gives it a decoded part.
 *
 *   av_scan [-c facteur.conf] [-d DBDIR] [-s] [-t] [-r N] [-f LIST] [FILE...]
 *
 * Prints "FILE: OK" or "FILE: NAME FOUND" per file (like clamscan); -s
 * prints av_status first, -t the time (wall and CPU) spent in av_scan and
 * the MB/s on stderr, -r scans each file N times (ClamAV caches the MD5 of
 * clean files, so repeats measure the cache), -f scans the files named in
 * LIST too, one per line ("-": standard input; a benchmark's thousands of
 * names on the command line would be on the stack of the process measured).
 * Exits 1 when a virus was found, 2 on errors, 0 otherwise.
 */
#include "facteur-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filter/av.h"
#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"

static void
usage(void)
{
	fprintf(stderr, "usage: av_scan [-c facteur.conf] [-d DBDIR] [-s] [-t] [-r N] [-f LIST] [FILE...]\n");
	exit(2);
}

static char *
read_file(const char *path, size_t *len_r)
{
	struct stat sb;
	char *buf;
	size_t done = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (done < (size_t)sb.st_size &&
	    (n = read(fd, buf + done, (size_t)sb.st_size - done)) > 0)
		done += (size_t)n;
	close(fd);
	*len_r = done;
	return buf;
}

static double
now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct scan_totals {
	long repeat;
	double spent, cpu;
	unsigned long long bytes;
	int rc;
};

static void
scan_one(struct av *av, const char *path, struct scan_totals *t)
{
	enum av_result r = AV_CLEAN;
	char virus[256];
	size_t len;
	char *data;
	double t0, c0;

	if ((data = read_file(path, &len)) == NULL) {
		printf("%s: %s ERROR\n", path, strerror(errno));
		t->rc = t->rc == 1 ? 1 : 2;
		return;
	}
	t0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	for (long k = 0; k < t->repeat; k++)
		r = av_scan(av, data, len, path, virus, sizeof(virus));
	t->spent += now(CLOCK_MONOTONIC) - t0;
	t->cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
	t->bytes += (unsigned long long)len * (unsigned long long)t->repeat;
	free(data);
	switch (r) {
	case AV_CLEAN:
		printf("%s: OK\n", path);
		break;
	case AV_VIRUS:
		printf("%s: %s FOUND\n", path, virus);
		t->rc = 1;
		break;
	case AV_NOT_READY:
		printf("%s: not scanned (antivirus not ready) ERROR\n", path);
		t->rc = t->rc == 1 ? 1 : 2;
		break;
	case AV_ERROR:
		printf("%s: scan failed ERROR\n", path);
		t->rc = t->rc == 1 ? 1 : 2;
		break;
	}
}

int
main(int argc, char **argv)
{
	const char *conf = NULL, *dbdir = NULL, *list = NULL, *error;
	int c, status = 0, timing = 0;
	struct scan_totals t = { .repeat = 1 };
	char buf[512];
	struct av *av;

	while ((c = getopt(argc, argv, "c:d:f:str:")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': dbdir = optarg; break;
		case 'f': list = optarg; break;
		case 's': status = 1; break;
		case 't': timing = 1; break;
		case 'r': t.repeat = strtol(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if ((optind == argc && !status && list == NULL) || t.repeat < 1)
		usage();
	log_init("av_scan", 1);
	if (config_load(conf, &error) < 0)
		fatalx("%s", error);
	log_set_level_name(var_log_level);
	if (dbdir != NULL) {
		free(var_av_database_directory);
		var_av_database_directory = xstrdup(dbdir);
	}
	var_av_enable = 1;
	if (av_new(&av, &error) < 0)
		fatalx("%s", error);
	if (status) {
		av_status(av, buf, sizeof(buf));
		printf("%s\n", buf);
	}
	for (int i = optind; i < argc; i++)
		scan_one(av, argv[i], &t);
	if (list != NULL) {
		FILE *f = strcmp(list, "-") == 0 ? stdin : fopen(list, "r");
		char path[4096];

		if (f == NULL)
			fatal("%s", list);
		while (fgets(path, sizeof(path), f) != NULL) {
			path[strcspn(path, "\r\n")] = '\0';
			if (path[0] != '\0')
				scan_one(av, path, &t);
		}
		if (f != stdin)
			fclose(f);
	}
	if (timing)
		fprintf(stderr, "av_scan: %llu bytes in %.3f s: %.1f MB/s; %.3f s CPU: %.1f MB/s per CPU second\n",
		    t.bytes, t.spent, t.spent > 0 ? t.bytes / t.spent / 1e6 : 0.0,
		    t.cpu, t.cpu > 0 ? t.bytes / t.cpu / 1e6 : 0.0);
	av_free(&av);
	return t.rc;
}
