/* SPDX-License-Identifier: MIT */
/*
 * av - the libclamav engine of the filter (see av.h): loading, reloading
 * in the background with a reference-counted swap, and scanning buffers.
 *
 * One mutex guards the current engine pointer and the engines' reference
 * counts; it is held for a few instructions only (take or drop a
 * reference, swap a pointer), never while libclamav loads, compiles,
 * scans or frees, so a scan never waits for a reload.
 */
#include "facteur-config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <clamav.h>

#include "filter/av.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"
#include "lib/stats.h"

struct av_engine {
	struct cl_engine *cl;
	unsigned int refs;	/* scans using it, under av->lock */
	unsigned int signatures;
	unsigned int version;	/* from the .cvd/.cld headers, 0 for others */
	time_t loaded;
};

struct av {
	pthread_mutex_t lock;
	pthread_cond_t released;	/* a retired engine lost a reference */
	struct av_engine *engine;	/* current one or NULL; written under lock */
	char reason[256];		/* why not ready, or why the last reload failed */
	int reload_failed;		/* reason is about a reload, engine kept */
	struct cl_scan_options options;

	/* Reload checks: one thread at a time (trylock), the others go on. */
	pthread_mutex_t check_lock;
	int64_t last_check;		/* monotonic seconds, atomic */
	struct cl_stat dbstat;		/* the directory as last loaded */
	int dbstat_valid;
	pthread_t thread;
	int thread_started;		/* under check_lock */
	int reload_running;		/* atomic */
};

static pthread_once_t av_clamav_once = PTHREAD_ONCE_INIT;
static cl_error_t av_clamav_init_ret;

/* libclamav's messages into facteur's log: errors as warnings, its
 * warnings (many are about hostile input) as info, verbose as debug. */
static void
av_clamav_msg(enum cl_msg severity, const char *fullmsg, const char *msg, void *context)
{
	size_t n = strlen(msg);

	(void)fullmsg;
	(void)context;
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	switch (severity) {
	case CL_MSG_ERROR:
		log_warnx("av: clamav error: %.*s", (int)n, msg);
		break;
	case CL_MSG_WARN:
		log_info("av: clamav warning: %.*s", (int)n, msg);
		break;
	default:
		log_debug("av: clamav: %.*s", (int)n, msg);
		break;
	}
}

static void
av_clamav_init(void)
{
	cl_set_clcb_msg(av_clamav_msg);
	av_clamav_init_ret = cl_init(CL_INIT_DEFAULT);
}

/*
 * Snapshot of the database files in dir; a missing directory is a valid
 * "nothing there" (valid_r = 0) rather than an error ClamAV would log.
 */
static void
av_dir_stat(const char *dir, struct cl_stat *st, int *valid_r)
{
	struct stat sb;

	memset(st, 0, sizeof(*st));
	*valid_r = 0;
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return;
	if (cl_statinidir(dir, st) != CL_SUCCESS) {
		cl_statfree(st);
		memset(st, 0, sizeof(*st));
		return;
	}
	*valid_r = 1;
}

static void
av_engine_free(struct av_engine *e)
{
	if (e == NULL)
		return;
	cl_engine_free(e->cl);
	free(e);
}

static int
av_engine_set(struct cl_engine *cl, enum cl_engine_field field, long long value,
    const char *what, char *why, size_t whysize)
{
	cl_error_t ret = cl_engine_set_num(cl, field, value);

	if (ret != CL_SUCCESS) {
		snprintf(why, whysize, "setting %s to %lld: %s", what, value, cl_strerror(ret));
		return -1;
	}
	return 0;
}

/*
 * Load and compile a new engine from the database directory.  -1 with a
 * reason in why when there is nothing usable (which is not an error for
 * the caller: it means "not ready").
 */
static int
av_engine_load(struct av_engine **e_r, char *why, size_t whysize)
{
	const char *dir = var_av_database_directory;
	struct av_engine *e;
	struct cl_engine *cl;
	struct cl_stat st;
	unsigned int signo = 0;
	cl_error_t ret;
	unsigned int files = 0;
	int valid, err;

	av_dir_stat(dir, &st, &valid);
	if (valid) {
		files = st.entries;
		cl_statfree(&st);
	}
	if (files == 0) {
		snprintf(why, whysize, "no database in %s", dir);
		return -1;
	}
	if ((cl = cl_engine_new()) == NULL) {
		snprintf(why, whysize, "cl_engine_new failed");
		return -1;
	}
	if (av_engine_set(cl, CL_ENGINE_MAX_SCANSIZE, var_av_max_scan_size,
	    "av_max_scan_size", why, whysize) < 0 ||
	    av_engine_set(cl, CL_ENGINE_MAX_FILESIZE, var_av_max_file_size,
	    "av_max_file_size", why, whysize) < 0 ||
	    av_engine_set(cl, CL_ENGINE_MAX_RECURSION, var_av_max_recursion,
	    "av_max_recursion", why, whysize) < 0 ||
	    av_engine_set(cl, CL_ENGINE_MAX_FILES, var_av_max_files,
	    "av_max_files", why, whysize) < 0)
		goto fail;
	if (!var_av_cache && av_engine_set(cl, CL_ENGINE_DISABLE_CACHE, 1, "av_cache", why,
	    whysize) < 0)
		goto fail;
	/*
	 * libclamav makes a directory for every scan and writes the parts it
	 * unpacks there: on tmpfs that costs no disk inode and no I/O.
	 */
	if (var_av_temp_directory[0] != '\0') {
		if (access(var_av_temp_directory, W_OK | X_OK) != 0) {
			log_warnx("av: av_temp_directory %s: %s; ClamAV's own ($TMPDIR or /tmp) is used",
			    var_av_temp_directory, strerror(errno));
		} else if ((ret = cl_engine_set_str(cl, CL_ENGINE_TMPDIR,
		    var_av_temp_directory)) != CL_SUCCESS) {
			snprintf(why, whysize, "setting av_temp_directory to %s: %s",
			    var_av_temp_directory, cl_strerror(ret));
			goto fail;
		}
	}
	if ((ret = cl_load(dir, cl, &signo, CL_DB_STDOPT)) != CL_SUCCESS) {
		snprintf(why, whysize, "loading %s: %s", dir, cl_strerror(ret));
		goto fail;
	}
	if (signo == 0) {
		snprintf(why, whysize, "no signatures in %s", dir);
		goto fail;
	}
	if ((ret = cl_engine_compile(cl)) != CL_SUCCESS) {
		snprintf(why, whysize, "compiling %s: %s", dir, cl_strerror(ret));
		goto fail;
	}
	e = xcalloc(1, sizeof(*e));
	e->cl = cl;
	e->signatures = signo;
	e->version = (unsigned int)cl_engine_get_num(cl, CL_ENGINE_DB_VERSION, &err);
	e->loaded = time(NULL);
	*e_r = e;
	return 0;
fail:
	cl_engine_free(cl);
	return -1;
}

/* Install e (loaded) or record why (not loaded); returns the old engine
 * when e replaced one, for the caller to free once unused. */
static struct av_engine *
av_install(struct av *av, struct av_engine *e, const char *why)
{
	struct av_engine *old = NULL;
	int kept;

	pthread_mutex_lock(&av->lock);
	if (e != NULL) {
		old = av->engine;
		__atomic_store_n(&av->engine, e, __ATOMIC_RELEASE);
		av->reason[0] = '\0';
		av->reload_failed = 0;
	} else {
		str_copy(av->reason, why, sizeof(av->reason));
		av->reload_failed = av->engine != NULL;
	}
	kept = av->reload_failed;
	pthread_mutex_unlock(&av->lock);
	if (e != NULL) {
		STATS_SET(av_ready, 1);
		STATS_SET(av_signatures, e->signatures);
		log_info("av: ready: %u signatures, database version %u, from %s",
		    e->signatures, e->version, var_av_database_directory);
	} else if (kept) {
		log_warnx("av: reload failed, previous database kept: %s", why);
	} else {
		STATS_SET(av_ready, 0);
		STATS_SET(av_signatures, 0);
		log_warnx("av: not ready: %s", why);
	}
	return old;
}

/* Wait until no scan uses old (retired), then free it. */
static void
av_retire(struct av *av, struct av_engine *old)
{
	if (old == NULL)
		return;
	pthread_mutex_lock(&av->lock);
	while (old->refs > 0)
		pthread_cond_wait(&av->released, &av->lock);
	pthread_mutex_unlock(&av->lock);
	av_engine_free(old);
}

static void *
av_reload_main(void *arg)
{
	struct av *av = arg;
	struct av_engine *e = NULL;
	char why[256];

	if (av_engine_load(&e, why, sizeof(why)) == 0) {
		STATS_INC(av_reloads);
		av_retire(av, av_install(av, e, NULL));
	} else {
		av_install(av, NULL, why);
	}
	__atomic_store_n(&av->reload_running, 0, __ATOMIC_RELEASE);
	return NULL;
}

int
av_new(struct av **av_r, const char **error_r)
{
	struct av *av;
	struct av_engine *e = NULL;
	char why[256];

	if (strcmp(var_av_not_ready_action, "accept") != 0 &&
	    strcmp(var_av_not_ready_action, "tempfail") != 0) {
		*error_r = "av_not_ready_action: must be accept or tempfail";
		return -1;
	}
	pthread_once(&av_clamav_once, av_clamav_init);
	if (av_clamav_init_ret != CL_SUCCESS) {
		*error_r = "cl_init failed (libclamav)";
		return -1;
	}

	av = xcalloc(1, sizeof(*av));
	pthread_mutex_init(&av->lock, NULL);
	pthread_cond_init(&av->released, NULL);
	pthread_mutex_init(&av->check_lock, NULL);
	/* clamd's defaults: heuristic alerts (zip bombs, phishing) and
	 * every parser on, the optional alerts off. */
	av->options.general = CL_SCAN_GENERAL_HEURISTICS;
	av->options.parse = ~0u;
	if (var_av_block_encrypted)
		av->options.heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
		    CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
	av->last_check = proc_mono_seconds();

	if (!var_av_enable) {
		str_copy(av->reason, "antivirus disabled (av_enable = no)", sizeof(av->reason));
		STATS_SET(av_ready, 0);
		STATS_SET(av_signatures, 0);
		*av_r = av;
		return 0;
	}
	/* Snapshot first: a change made while loading triggers a reload. */
	av_dir_stat(var_av_database_directory, &av->dbstat, &av->dbstat_valid);
	if (av_engine_load(&e, why, sizeof(why)) == 0)
		av_install(av, e, NULL);
	else
		av_install(av, NULL, why);
	*av_r = av;
	return 0;
}

void
av_free(struct av **avp)
{
	struct av *av = *avp;

	if (av == NULL)
		return;
	*avp = NULL;
	pthread_mutex_lock(&av->check_lock);
	if (av->thread_started)
		pthread_join(av->thread, NULL);
	pthread_mutex_unlock(&av->check_lock);
	if (av->engine != NULL && av->engine->refs != 0)
		panic("av_free: %u scans still running", av->engine->refs);
	av_engine_free(av->engine);
	if (av->dbstat_valid)
		cl_statfree(&av->dbstat);
	pthread_mutex_destroy(&av->check_lock);
	pthread_cond_destroy(&av->released);
	pthread_mutex_destroy(&av->lock);
	free(av);
}

int
av_ready(const struct av *av)
{
	return av != NULL && __atomic_load_n(&av->engine, __ATOMIC_ACQUIRE) != NULL;
}

void
av_status(const struct av *cav, char *buf, size_t size)
{
	struct av *av = (struct av *)cav;	/* the lock only */
	struct tm tm;
	char when[32];

	if (size == 0)
		return;
	if (av == NULL) {
		str_copy(buf, "not ready: no antivirus", size);
		return;
	}
	pthread_mutex_lock(&av->lock);
	if (av->engine == NULL) {
		snprintf(buf, size, "not ready: %s", av->reason);
	} else {
		localtime_r(&av->engine->loaded, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(buf, size, "ready: %u signatures, database version %u, loaded %s%s%s",
		    av->engine->signatures, av->engine->version, when,
		    av->reload_failed ? "; last reload failed: " : "",
		    av->reload_failed ? av->reason : "");
	}
	pthread_mutex_unlock(&av->lock);
}

/* 1 if file a of the old snapshot is still there unchanged in b. */
static int
av_file_same(const struct stat *a, const struct cl_stat *b)
{
	for (unsigned int i = 0; i < b->entries; i++) {
		const struct stat *f = &b->stattab[i];

		if (f->st_ino == a->st_ino && f->st_dev == a->st_dev)
			return f->st_size == a->st_size &&
			    f->st_mtim.tv_sec == a->st_mtim.tv_sec &&
			    f->st_mtim.tv_nsec == a->st_mtim.tv_nsec;
	}
	return 0;
}

/*
 * 1 if the database files differ from the last snapshot, which is replaced
 * by the current one.  cl_statinidir lists the files ClamAV would load; the
 * comparison is ours rather than cl_statchkdir's, which sees neither a
 * removed file nor a change within the same second (a database written
 * and renamed into place twice in a second, as tests and scripts do).
 */
static int
av_dir_changed(struct av *av)
{
	struct cl_stat st;
	int valid, changed;

	av_dir_stat(var_av_database_directory, &st, &valid);
	if (!av->dbstat_valid || !valid) {
		changed = (av->dbstat_valid ? av->dbstat.entries : 0) != (valid ? st.entries : 0);
	} else {
		changed = st.entries != av->dbstat.entries;
		for (unsigned int i = 0; !changed && i < av->dbstat.entries; i++)
			changed = !av_file_same(&av->dbstat.stattab[i], &st);
	}
	if (av->dbstat_valid)
		cl_statfree(&av->dbstat);
	av->dbstat = st;
	av->dbstat_valid = valid;
	return changed;
}

void
av_maybe_reload(struct av *av)
{
	int64_t now, last;

	if (av == NULL || !var_av_enable)
		return;
	now = proc_mono_seconds();
	last = __atomic_load_n(&av->last_check, __ATOMIC_RELAXED);
	if (now - last < var_av_reload_check_interval)
		return;
	if (__atomic_load_n(&av->reload_running, __ATOMIC_ACQUIRE))
		return;
	if (pthread_mutex_trylock(&av->check_lock) != 0)
		return;
	if (__atomic_load_n(&av->reload_running, __ATOMIC_ACQUIRE))
		goto out;
	if (av->thread_started) {
		pthread_join(av->thread, NULL);	/* finished: reload_running is 0 */
		av->thread_started = 0;
	}
	__atomic_store_n(&av->last_check, now, __ATOMIC_RELAXED);
	if (!av_dir_changed(av))
		goto out;
	log_info("av: database directory %s changed, loading it", var_av_database_directory);
	__atomic_store_n(&av->reload_running, 1, __ATOMIC_RELEASE);
	errno = pthread_create(&av->thread, NULL, av_reload_main, av);
	if (errno != 0) {
		log_warn("av: cannot start the reload thread");
		__atomic_store_n(&av->reload_running, 0, __ATOMIC_RELEASE);
	} else {
		av->thread_started = 1;
	}
out:
	pthread_mutex_unlock(&av->check_lock);
}

static struct av_engine *
av_engine_ref(struct av *av)
{
	struct av_engine *e;

	pthread_mutex_lock(&av->lock);
	if ((e = av->engine) != NULL)
		e->refs++;
	pthread_mutex_unlock(&av->lock);
	return e;
}

static void
av_engine_unref(struct av *av, struct av_engine *e)
{
	pthread_mutex_lock(&av->lock);
	if (--e->refs == 0 && e != av->engine)
		pthread_cond_broadcast(&av->released);
	pthread_mutex_unlock(&av->lock);
}

enum av_result
av_scan(struct av *av, const void *data, size_t len, const char *name,
    char *virus, size_t virus_size)
{
	struct cl_scan_options options;
	struct av_engine *e;
	const char *virname = NULL;
	unsigned long int scanned = 0;
	enum av_result result;
	cl_fmap_t *map;
	cl_error_t ret;

	if (virus_size > 0)
		virus[0] = '\0';
	if (av == NULL || (e = av_engine_ref(av)) == NULL)
		return AV_NOT_READY;
	if (len == 0) {
		av_engine_unref(av, e);
		return AV_CLEAN;
	}
	if ((map = cl_fmap_open_memory(data, len)) == NULL) {
		av_engine_unref(av, e);
		log_warnx("av: name=%s: cannot map %zu bytes", name != NULL ? name : "-", len);
		return AV_ERROR;
	}
	options = av->options;	/* libclamav wants it writable */
	ret = cl_scanmap_callback(map, name, &virname, &scanned, e->cl, &options, NULL);
	cl_fmap_close(map);
	switch (ret) {
	case CL_CLEAN:
		result = AV_CLEAN;
		break;
	case CL_VIRUS:
		result = AV_VIRUS;
		/* virname lives in the engine: copy before letting it go */
		str_copy(virus, virname != NULL ? virname : "unknown", virus_size);
		break;
	default:
		result = AV_ERROR;
		log_warnx("av: name=%s: scan of %zu bytes failed: %s",
		    name != NULL ? name : "-", len, cl_strerror(ret));
		break;
	}
	av_engine_unref(av, e);
	STATS_ADD(av_scanned_bytes, len);
	if (result == AV_VIRUS)
		STATS_INC(av_viruses);
	return result;
}
