/* SPDX-License-Identifier: MIT */
/*
 * av - the antivirus of the before-queue filter: one libclamav engine,
 * loaded once from av_database_directory and shared by every worker thread.
 *
 * facteur starts and runs without a database ("not ready": av_scan returns
 * AV_NOT_READY and the pipeline applies av_not_ready_action) and loads one
 * when it appears, without a restart.  A reload compiles a new engine in a
 * background thread and swaps it in; scans hold a reference on the engine
 * they started with, so no scan waits for a reload and the old engine is
 * freed (by the reload thread) when its last scan is done.
 *
 * Scan options follow clamd's defaults: heuristic alerts on (zip bombs are
 * Heuristics.Zip.*, phishing Heuristics.Phishing.* when the database has
 * the URL lists), every format parsed, limits from av_max_scan_size,
 * av_max_file_size, av_max_recursion and av_max_files (data past a limit is
 * not scanned and is not an alert), encrypted archives and documents
 * alerted (Heuristics.Encrypted.*) only with av_block_encrypted.
 */
#ifndef FACTEUR_FILTER_AV_H
#define FACTEUR_FILTER_AV_H

#include <stddef.h>

struct av;

/*
 * Create from the var_av_* parameters.  Loads the database now when there
 * is one; a missing, empty or broken database is not a failure: the av is
 * "not ready" and the reason is logged (and in av_status).  With av_enable
 * = no nothing is loaded and the av stays not ready.  Returns -1 with a
 * static *error_r only for hard errors: cl_init() failing, or a bad
 * av_not_ready_action (neither "accept" nor "tempfail").
 */
int av_new(struct av **av_r, const char **error_r);
/* Stop a reload in progress and free everything; no scan may be running. */
void av_free(struct av **av);

/* 1 when a database is loaded, 0 when not. */
int av_ready(const struct av *av);
/*
 * One line for logs and facteurctl, copied into buf: "ready: 12 signatures,
 * database version N, loaded 2025-01-31 12:00:00" or "not ready: no
 * database in /var/lib/clamav".  A failed reload that kept the old engine
 * adds "; last reload failed: why".
 */
void av_status(const struct av *av, char *buf, size_t size);

/*
 * At most once per av_reload_check_interval (a clock read otherwise, so it
 * may be called before every scan), check whether the database files
 * changed (added, removed, rewritten or renamed over: compared by inode,
 * size and mtime to the nanosecond) and if so load and compile a new
 * engine in a background thread and swap it in.  A database that fails to
 * load leaves the current engine in place.  Database files should be
 * renamed into place, as freshclam and tests/av/make-db.sh do, so a check
 * never sees half a file.
 * Thread-safe; never blocks on a reload.
 */
void av_maybe_reload(struct av *av);

enum av_result {
	AV_CLEAN,
	AV_VIRUS,
	AV_NOT_READY,
	AV_ERROR
};

/*
 * Scan one buffer: a decoded MIME part or a whole message (ClamAV parses
 * mail itself).  name is a file name hint for logs and ClamAV, or NULL.  On
 * AV_VIRUS the signature name ("Eicar-Signature", "Heuristics.Zip.
 * OverlappingFiles" ...) is copied into virus (virus_size > 0).  AV_ERROR is
 * a libclamav failure on this data (logged).  Thread-safe, any number of
 * scans at once.
 */
enum av_result av_scan(struct av *av, const void *data, size_t len, const char *name,
    char *virus, size_t virus_size);

#endif
