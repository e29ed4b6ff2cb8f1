/* SPDX-License-Identifier: MIT */
/*
 * av_scan - scan files with the filter's antivirus (av.h) the way clamscan
 * does, for tests and benchmarks: each file is read into memory and given
 * to av_scan() whole, as the pipeline gives it a decoded part.
 *
 *   av_scan [-c facteur.conf] [-d DBDIR] [-s] [-t] [-r N] FILE...
 *
 * Prints "FILE: OK" or "FILE: NAME FOUND" per file (like clamscan); -s
 * prints av_status first, -t the time (wall and CPU) spent in av_scan and
 * the MB/s on stderr, -r scans each file N times (ClamAV caches the MD5 of
 * clean files, so repeats measure the cache).  Exits 1 when a virus was
 * found, 2 on errors, 0 otherwise.
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
	fprintf(stderr, "usage: av_scan [-c facteur.conf] [-d DBDIR] [-s] [-t] [-r N] FILE...\n");
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

int
main(int argc, char **argv)
{
	const char *conf = NULL, *dbdir = NULL, *error;
	int c, status = 0, timing = 0, rc = 0;
	long repeat = 1;
	double spent = 0, cpu = 0;
	unsigned long long bytes = 0;
	char virus[256], buf[512];
	struct av *av;

	while ((c = getopt(argc, argv, "c:d:str:")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': dbdir = optarg; break;
		case 's': status = 1; break;
		case 't': timing = 1; break;
		case 'r': repeat = strtol(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if ((optind == argc && !status) || repeat < 1)
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
	for (int i = optind; i < argc; i++) {
		enum av_result r = AV_CLEAN;
		size_t len;
		char *data;
		double t0, c0;

		if ((data = read_file(argv[i], &len)) == NULL) {
			printf("%s: %s ERROR\n", argv[i], strerror(errno));
			rc = rc == 1 ? 1 : 2;
			continue;
		}
		t0 = now(CLOCK_MONOTONIC);
		c0 = now(CLOCK_PROCESS_CPUTIME_ID);
		for (long k = 0; k < repeat; k++)
			r = av_scan(av, data, len, argv[i], virus, sizeof(virus));
		spent += now(CLOCK_MONOTONIC) - t0;
		cpu += now(CLOCK_PROCESS_CPUTIME_ID) - c0;
		bytes += (unsigned long long)len * (unsigned long long)repeat;
		free(data);
		switch (r) {
		case AV_CLEAN:
			printf("%s: OK\n", argv[i]);
			break;
		case AV_VIRUS:
			printf("%s: %s FOUND\n", argv[i], virus);
			rc = 1;
			break;
		case AV_NOT_READY:
			printf("%s: not scanned (antivirus not ready) ERROR\n", argv[i]);
			rc = rc == 1 ? 1 : 2;
			break;
		case AV_ERROR:
			printf("%s: scan failed ERROR\n", argv[i]);
			rc = rc == 1 ? 1 : 2;
			break;
		}
	}
	if (timing)
		fprintf(stderr, "av_scan: %llu bytes in %.3f s: %.1f MB/s; %.3f s CPU: %.1f MB/s per CPU second\n",
		    bytes, spent, spent > 0 ? bytes / spent / 1e6 : 0.0,
		    cpu, cpu > 0 ? bytes / cpu / 1e6 : 0.0);
	av_free(&av);
	return rc;
}
