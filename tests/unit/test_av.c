/* SPDX-License-Identifier: MIT */
/*
 * test_av - the antivirus (filter/av.h) with a real libclamav engine and a
 * database built by tests/av/make-db.sh with sigtool: not ready without a
 * database, ready after av_maybe_reload when one appears; EICAR in a
 * buffer, in a zip and in a nested zip; every file of clamav-testfiles
 * detected, with the same answer as clamscan on the same database and
 * limits; the size, recursion and file-size limits; a zip bomb with
 * overlapping members; encrypted zips with av_block_encrypted; scans from
 * several threads while the database is reloaded underneath them.
 *
 * Needs sigtool, clamscan and /usr/share/clamav-testfiles (Debian's
 * clamav, clamav-testfiles; skipped when absent) and python3 for the zips
 * (zip for the encrypted one).
 * FACTEUR_SRCDIR (set by make check) locates tests/av/make-db.sh.
 */
#include "facteur-config.h"

#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "filter/av.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/stats.h"

#define TESTFILES "/usr/share/clamav-testfiles"

/* Kept apart so this file does not trip other scanners as it is. */
static const char eicar[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
	"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/* A third signature, for "facteur-test-extra". */
static const char extra_sig[] = "Facteur-Test-Extra:0:*:666163746575722d746573742d6578747261";

static char tmpdir[64];
static char dbdir[128];		/* built once by make-db.sh */

static int
run(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	rc = system(cmd);
	free(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int
have(const char *prog)
{
	return run("command -v %s >/dev/null 2>&1", prog) == 0;
}

static const char *
srcdir(void)
{
	const char *s = getenv("FACTEUR_SRCDIR");

	return s != NULL ? s : AV_TEST_SRCDIR;
}

static int
make_db(const char *dir)
{
	return run("'%s/tests/av/make-db.sh' '%s'", srcdir(), dir);
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	*len_r = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Reset the parameters to their defaults, pointing at dir. */
static void
params(const char *dir)
{
	const char *error;

	assert_int_equal(config_load(NULL, &error), 0);
	free(var_av_database_directory);
	var_av_database_directory = xstrdup(dir);
}

static struct av *
av_open(const char *dir)
{
	struct av *av;
	const char *error;

	params(dir);
	assert_int_equal(av_new(&av, &error), 0);
	return av;
}

static enum av_result
scan_file(struct av *av, const char *path, char *virus, size_t size)
{
	enum av_result r;
	size_t len;
	char *data = read_file(path, &len);

	assert_non_null(data);
	r = av_scan(av, data, len, path, virus, size);
	free(data);
	return r;
}

/* Call av_maybe_reload until cond holds (or 60 s pass). */
static int
wait_reload(struct av *av, int (*cond)(struct av *, void *), void *arg)
{
	for (int i = 0; i < 6000; i++) {
		av_maybe_reload(av);
		if (cond(av, arg))
			return 1;
		usleep(10000);
	}
	return 0;
}

static int
is_ready(struct av *av, void *arg)
{
	(void)arg;
	return av_ready(av);
}

static int
status_has(struct av *av, void *arg)
{
	char buf[512];

	av_status(av, buf, sizeof(buf));
	return strstr(buf, arg) != NULL;
}

static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/test_av.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(dbdir, sizeof(dbdir), "%s/db", tmpdir);
	assert_int_equal(make_db(dbdir), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (tmpdir[0] != '\0')
		run("rm -rf '%s'", tmpdir);
	return 0;
}

/* No directory, then an empty one, then a database: ready without a new av. */
static void
test_not_ready_then_reload(void **state)
{
	char dir[192], buf[512], virus[128];
	uint64_t reloads = __atomic_load_n(&stats->av_reloads, __ATOMIC_RELAXED);
	struct av *av;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/later", tmpdir);
	av = av_open(dir);
	var_av_reload_check_interval = 0;
	assert_int_equal(av_ready(av), 0);
	assert_int_equal(__atomic_load_n(&stats->av_ready, __ATOMIC_RELAXED), 0);
	av_status(av, buf, sizeof(buf));
	assert_true(strncmp(buf, "not ready: no database in ", 26) == 0);
	assert_non_null(strstr(buf, dir));
	assert_int_equal(av_scan(av, eicar, strlen(eicar), "eicar.com", virus, sizeof(virus)),
	    AV_NOT_READY);

	/* An empty directory (and files ClamAV does not read) change nothing. */
	assert_int_equal(mkdir(dir, 0755), 0);
	run("echo hello > '%s/README'", dir);
	for (int i = 0; i < 20; i++) {
		av_maybe_reload(av);
		usleep(5000);
	}
	assert_int_equal(av_ready(av), 0);

	assert_int_equal(make_db(dir), 0);
	assert_true(wait_reload(av, is_ready, NULL));
	assert_int_equal(__atomic_load_n(&stats->av_ready, __ATOMIC_RELAXED), 1);
	assert_int_equal(__atomic_load_n(&stats->av_signatures, __ATOMIC_RELAXED), 2);
	assert_true(__atomic_load_n(&stats->av_reloads, __ATOMIC_RELAXED) > reloads);
	av_status(av, buf, sizeof(buf));
	assert_true(strncmp(buf, "ready: 2 signatures, database version 0, loaded ", 48) == 0);
	assert_int_equal(av_scan(av, eicar, strlen(eicar), "eicar.com", virus, sizeof(virus)),
	    AV_VIRUS);
	assert_string_equal(virus, "Eicar-Test-Signature.UNOFFICIAL");

	/* A broken database does not replace the working one. */
	run("echo 'Broken:0:*:zz' > '%s/.tmp' && mv '%s/.tmp' '%s/broken.ndb'", dir, dir, dir);
	assert_true(wait_reload(av, status_has, "last reload failed"));
	assert_int_equal(av_ready(av), 1);
	assert_int_equal(av_scan(av, eicar, strlen(eicar), "eicar.com", virus, sizeof(virus)),
	    AV_VIRUS);

	/* Fixed again: a third signature. */
	run("rm '%s/broken.ndb' && echo '%s' > '%s/.tmp' && mv '%s/.tmp' '%s/extra.ndb'",
	    dir, extra_sig, dir, dir, dir);
	assert_true(wait_reload(av, status_has, "ready: 3 signatures"));
	assert_int_equal(av_scan(av, "x facteur-test-extra y", 22, NULL, virus, sizeof(virus)),
	    AV_VIRUS);
	assert_string_equal(virus, "Facteur-Test-Extra.UNOFFICIAL");
	av_free(&av);
	assert_null(av);
}

/* With a long interval a change is not even looked at. */
static void
test_reload_interval(void **state)
{
	char dir[192], buf[512];
	struct av *av;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/interval", tmpdir);
	assert_int_equal(make_db(dir), 0);
	av = av_open(dir);
	var_av_reload_check_interval = 3600;
	assert_int_equal(av_ready(av), 1);
	run("echo '%s' > '%s/extra.ndb'", extra_sig, dir);
	for (int i = 0; i < 50; i++) {
		av_maybe_reload(av);
		usleep(2000);
	}
	usleep(300000);
	av_status(av, buf, sizeof(buf));
	assert_true(strncmp(buf, "ready: 2 signatures", 19) == 0);
	av_free(&av);
}

static void
test_disabled(void **state)
{
	char buf[512], virus[64];
	struct av *av;
	const char *error;

	(void)state;
	params(dbdir);
	var_av_enable = 0;
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(av_ready(av), 0);
	av_status(av, buf, sizeof(buf));
	assert_string_equal(buf, "not ready: antivirus disabled (av_enable = no)");
	assert_int_equal(av_scan(av, eicar, strlen(eicar), NULL, virus, sizeof(virus)), AV_NOT_READY);
	av_free(&av);

	params(dbdir);
	free(var_av_not_ready_action);
	var_av_not_ready_action = xstrdup("maybe");
	assert_int_equal(av_new(&av, &error), -1);
	assert_non_null(strstr(error, "av_not_ready_action"));
}

static void
test_buffers(void **state)
{
	static const char mail[] =
		"From: a@example.org\r\nTo: b@example.org\r\nSubject: hello\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
		"--b\r\nContent-Type: application/octet-stream; name=e.com\r\n"
		"Content-Transfer-Encoding: base64\r\n\r\n"
		"WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU\r\n"
		"LUZJTEUhJEgrSCo=\r\n--b--\r\n";
	char virus[128], small[8], *buf;
	struct av *av = av_open(dbdir);
	size_t len = 1 << 20;

	(void)state;
	assert_int_equal(av_ready(av), 1);
	assert_int_equal(av_scan(av, eicar, strlen(eicar), "eicar.com", virus, sizeof(virus)), AV_VIRUS);
	assert_string_equal(virus, "Eicar-Test-Signature.UNOFFICIAL");
	/* a short buffer gets a truncated name, not an overflow */
	assert_int_equal(av_scan(av, eicar, strlen(eicar), NULL, small, sizeof(small)), AV_VIRUS);
	assert_string_equal(small, "Eicar-T");

	/* EICAR in the middle of a megabyte of text */
	buf = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = "lorem ipsum dolor sit amet\n"[i % 27];
	assert_int_equal(av_scan(av, buf, len, "text.txt", virus, sizeof(virus)), AV_CLEAN);
	assert_string_equal(virus, "");
	memcpy(buf + len / 2, eicar, strlen(eicar));
	assert_int_equal(av_scan(av, buf, len, "text.txt", virus, sizeof(virus)), AV_VIRUS);
	free(buf);

	/* a whole message: ClamAV decodes the base64 attachment itself */
	assert_int_equal(av_scan(av, mail, sizeof(mail) - 1, NULL, virus, sizeof(virus)), AV_VIRUS);
	assert_string_equal(virus, "Eicar-Test-Signature.UNOFFICIAL");
	assert_int_equal(av_scan(av, mail, 200, NULL, virus, sizeof(virus)), AV_CLEAN);
	assert_int_equal(av_scan(av, "", 0, NULL, virus, sizeof(virus)), AV_CLEAN);
	av_free(&av);
}

/* Zips made by Python's zipfile: EICAR deflated, nested twice, and next
 * to clean members. */
static void
test_zip(void **state)
{
	char path[256], virus[128];
	struct av *av;

	(void)state;
	if (!have("python3"))
		skip();
	assert_int_equal(run("cd '%s' && python3 -c '"
	    "import io, zipfile, sys\n"
	    "e = sys.argv[1].encode()\n"
	    "def z(members):\n"
	    "    b = io.BytesIO()\n"
	    "    with zipfile.ZipFile(b, \"w\", zipfile.ZIP_DEFLATED) as f:\n"
	    "        for n, d in members: f.writestr(n, d)\n"
	    "    return b.getvalue()\n"
	    "open(\"eicar.zip\", \"wb\").write(z([(\"readme.txt\", b\"hello \" * 1000), (\"eicar.com\", e)]))\n"
	    "open(\"nested.zip\", \"wb\").write(z([(\"inner.zip\", z([(\"deeper.zip\", z([(\"e.com\", e)]))]))]))\n"
	    "open(\"clean.zip\", \"wb\").write(z([(\"a.txt\", b\"just text \" * 5000), (\"b.bin\", bytes(range(256)) * 100)]))\n"
	    "' '%s'", tmpdir, eicar), 0);
	av = av_open(dbdir);
	snprintf(path, sizeof(path), "%s/eicar.zip", tmpdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
	assert_string_equal(virus, "Eicar-Test-Signature.UNOFFICIAL");
	snprintf(path, sizeof(path), "%s/nested.zip", tmpdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
	assert_string_equal(virus, "Eicar-Test-Signature.UNOFFICIAL");
	snprintf(path, sizeof(path), "%s/clean.zip", tmpdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_CLEAN);
	av_free(&av);

	/* nested.zip holds EICAR three archives deep: 2 levels are not enough */
	params(dbdir);
	var_av_max_recursion = 2;
	{
		const char *error;
		assert_int_equal(av_new(&av, &error), 0);
	}
	snprintf(path, sizeof(path), "%s/nested.zip", tmpdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_CLEAN);
	snprintf(path, sizeof(path), "%s/eicar.zip", tmpdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
	av_free(&av);
}

/* "FILE: NAME FOUND" / "FILE: OK" from clamscan with av's limits; the name
 * (or "OK") goes into out. */
static void
clamscan(const char *db, const char *path, char *out, size_t size)
{
	char cmd[1024], line[1024], *p;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "clamscan --no-summary --stdout -d '%s' --max-filesize=%ld "
	    "--max-scansize=%ld --max-recursion=%ld --max-files=%ld '%s' 2>/dev/null",
	    db, var_av_max_file_size, var_av_max_scan_size, var_av_max_recursion,
	    var_av_max_files, path);
	assert_non_null(f = popen(cmd, "r"));
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, path, strlen(path)) != 0 || strncmp(line + strlen(path), ": ", 2) != 0)
			continue;
		p = line + strlen(path) + 2;
		if (strlen(p) > 6 && strcmp(p + strlen(p) - 6, " FOUND") == 0)
			p[strlen(p) - 6] = '\0';
		str_copy(out, p, size);
	}
	pclose(f);
	assert_true(out[0] != '\0');
}

/* Every test file is clam.exe in some wrapping; the database has only
 * clam.exe's MD5, so each detection goes through one of ClamAV's parsers. */
static void
test_testfiles(void **state)
{
	char path[512], virus[128], theirs[128];
	struct av *av = av_open(dbdir);
	int n = 0, compare = have("clamscan");
	struct dirent *de;
	DIR *d;

	(void)state;
	assert_non_null(d = opendir(TESTFILES));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", TESTFILES, de->d_name);
		if (scan_file(av, path, virus, sizeof(virus)) != AV_VIRUS)
			fail_msg("%s: not detected", de->d_name);
		if (strcmp(virus, "ClamAV-Test-File.UNOFFICIAL") != 0)
			fail_msg("%s: %s", de->d_name, virus);
		if (compare) {
			clamscan(dbdir, path, theirs, sizeof(theirs));
			if (strcmp(theirs, virus) != 0)
				fail_msg("%s: av %s, clamscan %s", de->d_name, virus, theirs);
		}
		n++;
	}
	closedir(d);
	assert_true(n >= 40);	/* 44 in clamav-testfiles 1.4 */
	fprintf(stderr, "test_av: %d test files detected%s\n", n,
	    compare ? ", clamscan agrees on each" : "");

	/* and they agree on clean files and on EICAR */
	if (compare) {
		const char *clean[] = { "/etc/passwd", "/bin/sh", AV_TEST_SRCDIR "/filter/av.c" };
		enum av_result r;

		for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
			if (access(clean[i], R_OK) != 0)
				continue;
			r = scan_file(av, clean[i], virus, sizeof(virus));
			clamscan(dbdir, clean[i], theirs, sizeof(theirs));
			assert_int_equal(r, AV_CLEAN);
			assert_string_equal(theirs, "OK");
		}
		snprintf(path, sizeof(path), "%s/eicar.com", tmpdir);
		write_file(path, eicar, strlen(eicar));
		assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
		clamscan(dbdir, path, theirs, sizeof(theirs));
		assert_string_equal(theirs, virus);
	}
	av_free(&av);
}

/*
 * Limits.  ClamAV does not scan a file larger than av_max_file_size at all
 * (an archive member, or the buffer itself) and says CL_CLEAN: EICAR at
 * offset 0 of a 2 MB buffer is not found with a 1 MB limit.  It would say
 * Heuristics.Limits.Exceeded.MaxFileSize only with the "exceeds max" alert,
 * which facteur leaves off like clamd.
 */
static void
test_limits(void **state)
{
	char virus[128], theirs[128], path[256];
	size_t len = 2 << 20;
	char *buf = xcalloc(1, len);
	const char *error;
	struct av *av;

	(void)state;
	memcpy(buf, eicar, strlen(eicar));
	memset(buf + strlen(eicar), 'A', len - strlen(eicar));
	params(dbdir);
	var_av_max_file_size = 1 << 20;
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(av_scan(av, buf, len, "big.bin", virus, sizeof(virus)), AV_CLEAN);
	assert_int_equal(av_scan(av, buf, len / 4, "small.bin", virus, sizeof(virus)), AV_VIRUS);
	snprintf(path, sizeof(path), "%s/big.bin", tmpdir);
	write_file(path, buf, len);
	if (have("clamscan")) {
		clamscan(dbdir, path, theirs, sizeof(theirs));
		assert_string_equal(theirs, "OK");
	}
	av_free(&av);

	params(dbdir);
	var_av_max_file_size = 4 << 20;
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(av_scan(av, buf, len, "big.bin", virus, sizeof(virus)), AV_VIRUS);
	av_free(&av);

	/* the scan-size limit counts bytes scanned in all the files of a scan */
	params(dbdir);
	var_av_max_scan_size = 1 << 20;
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(av_scan(av, buf, len, "big.bin", virus, sizeof(virus)), AV_CLEAN);
	av_free(&av);
	free(buf);

	/* clam_cache_emax.tgz nests clam.exe 17 levels deep, clamd's default
	 * MaxRecursion and facteur's: one less and it is not reached. */
	params(dbdir);
	assert_int_equal(var_av_max_recursion, 17);
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(scan_file(av, TESTFILES "/clam_cache_emax.tgz", virus, sizeof(virus)), AV_VIRUS);
	av_free(&av);
	params(dbdir);
	var_av_max_recursion = 16;
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(scan_file(av, TESTFILES "/clam_cache_emax.tgz", virus, sizeof(virus)), AV_CLEAN);
	if (have("clamscan")) {
		clamscan(dbdir, TESTFILES "/clam_cache_emax.tgz", theirs, sizeof(theirs));
		assert_string_equal(theirs, "OK");
	}
	av_free(&av);

	/* max files: EICAR as the 30th member of a zip (deflated, or the
	 * signature would match the zip's own bytes), 10 files allowed; the
	 * zip itself counts as one, so 30 would not be enough either */
	if (have("python3")) {
		assert_int_equal(run("cd '%s' && python3 -c '"
		    "import zipfile, sys\n"
		    "with zipfile.ZipFile(\"many.zip\", \"w\", zipfile.ZIP_DEFLATED) as f:\n"
		    "    for i in range(29): f.writestr(\"f%%02d.txt\" %% i, \"file %%d\" %% i)\n"
		    "    f.writestr(\"eicar.com\", sys.argv[1])\n"
		    "' '%s'", tmpdir, eicar), 0);
		snprintf(path, sizeof(path), "%s/many.zip", tmpdir);
		params(dbdir);
		var_av_max_files = 10;
		assert_int_equal(av_new(&av, &error), 0);
		assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_CLEAN);
		if (have("clamscan")) {
			clamscan(dbdir, path, theirs, sizeof(theirs));
			assert_string_equal(theirs, "OK");
		}
		av_free(&av);
		params(dbdir);
		assert_int_equal(av_new(&av, &error), 0);
		assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
		av_free(&av);
	}
}

/*
 * A zip bomb of overlapping members (member i's data is member i+1's local
 * header and data, so 20 members of 1 KB extract to 27 KB; with more and
 * bigger members it is quadratic): ClamAV's heuristic names it.
 */
static void
test_zip_bomb(void **state)
{
	char path[256], virus[128];
	struct av *av;

	(void)state;
	if (!have("python3"))
		skip();
	assert_int_equal(run("cd '%s' && python3 -c '"
	    "import struct, zlib\n"
	    "def lfh(name, data):\n"
	    "    return struct.pack(\"<IHHHHHIIIHH\", 0x04034b50, 10, 0, 0, 0, 0, zlib.crc32(data), len(data), len(data), len(name), 0) + name\n"
	    "data = b\"B\" * 1000\n"
	    "members = []\n"
	    "for i in reversed(range(20)):\n"
	    "    name = b\"f%%03d.txt\" %% i\n"
	    "    members.append((name, data))\n"
	    "    data = lfh(name, data) + data\n"
	    "members.reverse()\n"
	    "out = bytearray(data)\n"
	    "cd = bytearray()\n"
	    "off = 0\n"
	    "for name, d in members:\n"
	    "    cd += struct.pack(\"<IHHHHHHIIIHHHHHII\", 0x02014b50, 20, 10, 0, 0, 0, 0, zlib.crc32(d), len(d), len(d), len(name), 0, 0, 0, 0, 0, off) + name\n"
	    "    off += 30 + len(name)\n"
	    "cdoff = len(out)\n"
	    "out += cd + struct.pack(\"<IHHHHIIH\", 0x06054b50, 0, 0, 20, 20, len(cd), cdoff, 0)\n"
	    "open(\"bomb.zip\", \"wb\").write(out)\n"
	    "'", tmpdir), 0);
	av = av_open(dbdir);
	snprintf(path, sizeof(path), "%s/bomb.zip", tmpdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
	assert_string_equal(virus, "Heuristics.Zip.OverlappingFiles");
	av_free(&av);
}

/* An encrypted zip (the zip tool's -P) is clean unless av_block_encrypted. */
static void
test_encrypted(void **state)
{
	char path[256], virus[128];
	const char *error;
	struct av *av;

	(void)state;
	if (!have("zip"))
		skip();
	assert_int_equal(run("cd '%s' && echo 'a secret letter' > letter.txt && "
	    "zip -q -P secret enc.zip letter.txt", tmpdir), 0);
	snprintf(path, sizeof(path), "%s/enc.zip", tmpdir);
	av = av_open(dbdir);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_CLEAN);
	av_free(&av);
	params(dbdir);
	var_av_block_encrypted = 1;
	assert_int_equal(av_new(&av, &error), 0);
	assert_int_equal(scan_file(av, path, virus, sizeof(virus)), AV_VIRUS);
	assert_string_equal(virus, "Heuristics.Encrypted.Zip");
	av_free(&av);
}

/* Threads scanning while the main thread makes the database change under
 * them (a third signature file comes and goes) and reloads it. */
struct scanner {
	pthread_t thread;
	struct av *av;
	const char *clam;	/* clam.zip's bytes */
	size_t clam_len;
	int scans, wrong;
	int *stop;
};

static void *
scanner_main(void *arg)
{
	struct scanner *s = arg;
	char virus[128], clean[4096];
	enum av_result r;

	for (size_t i = 0; i < sizeof(clean); i++)
		clean[i] = (char)('a' + i % 26);
	while (!__atomic_load_n(s->stop, __ATOMIC_RELAXED) || s->scans < 30) {
		r = av_scan(s->av, eicar, strlen(eicar), "eicar.com", virus, sizeof(virus));
		if (r != AV_VIRUS || strcmp(virus, "Eicar-Test-Signature.UNOFFICIAL") != 0)
			s->wrong++;
		r = av_scan(s->av, s->clam, s->clam_len, "clam.zip", virus, sizeof(virus));
		if (r != AV_VIRUS || strcmp(virus, "ClamAV-Test-File.UNOFFICIAL") != 0)
			s->wrong++;
		r = av_scan(s->av, clean, sizeof(clean), "clean.txt", virus, sizeof(virus));
		if (r != AV_CLEAN)
			s->wrong++;
		s->scans++;
		av_maybe_reload(s->av);	/* as workers do; only one starts a reload */
	}
	return NULL;
}

static void
test_threads_reload(void **state)
{
	struct scanner s[4];
	char dir[192], extra[256], buf[512];
	int stop = 0;
	size_t clam_len;
	char *clam = read_file(TESTFILES "/clam.zip", &clam_len);
	uint64_t reloads0;
	struct av *av;
	int total = 0;

	(void)state;
	assert_non_null(clam);
	snprintf(dir, sizeof(dir), "%s/threads", tmpdir);
	snprintf(extra, sizeof(extra), "%s/extra.ndb", dir);
	assert_int_equal(make_db(dir), 0);
	av = av_open(dir);
	var_av_reload_check_interval = 0;
	assert_int_equal(av_ready(av), 1);
	reloads0 = __atomic_load_n(&stats->av_reloads, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++) {
		s[i] = (struct scanner){ .av = av, .clam = clam, .clam_len = clam_len, .stop = &stop };
		assert_int_equal(pthread_create(&s[i].thread, NULL, scanner_main, &s[i]), 0);
	}
	/* five database changes, each waited for */
	for (int k = 0; k < 5; k++) {
		if (k % 2 == 0)
			run("echo '%s' > '%s.tmp' && mv '%s.tmp' '%s'", extra_sig, extra, extra, extra);
		else
			unlink(extra);
		assert_true(wait_reload(av, status_has, k % 2 == 0 ? "ready: 3 signatures" : "ready: 2 signatures"));
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++) {
		pthread_join(s[i].thread, NULL);
		assert_int_equal(s[i].wrong, 0);
		total += s[i].scans;
	}
	assert_true(__atomic_load_n(&stats->av_reloads, __ATOMIC_RELAXED) >= reloads0 + 5);
	av_status(av, buf, sizeof(buf));
	fprintf(stderr, "test_av: %d scan rounds in 4 threads over %llu reloads; %s\n", total,
	    (unsigned long long)(__atomic_load_n(&stats->av_reloads, __ATOMIC_RELAXED) - reloads0), buf);
	av_free(&av);
	free(clam);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_ready_then_reload),
		cmocka_unit_test(test_reload_interval),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_buffers),
		cmocka_unit_test(test_zip),
		cmocka_unit_test(test_testfiles),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_zip_bomb),
		cmocka_unit_test(test_encrypted),
		cmocka_unit_test(test_threads_reload),
	};

	if (!have("sigtool") || access(TESTFILES "/clam.exe", R_OK) != 0) {
		fprintf(stderr, "test_av: sigtool or " TESTFILES " missing, skipped\n");
		return 77;	/* automake's SKIP */
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
