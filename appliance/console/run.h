/* SPDX-License-Identifier: MIT */
/*
 * run - the commands the console runs (facteurctl, systemctl, openssl,
 * the appliance's action scripts), their output read while they run.
 *
 * A child gets its standard input from the given bytes (a password
 * never goes on a command line) or /dev/null, its standard output and
 * error merged into one pipe, and a process group of its own: the
 * terminal's ^C reaches the console, which ends cleanly, not the child
 * half-way.  Nothing a child writes reaches the terminal directly.
 */
#ifndef FACTEUR_CONSOLE_RUN_H
#define FACTEUR_CONSOLE_RUN_H

#include <sys/types.h>

#include "text.h"

struct run;

/*
 * Start argv[0] (a path, or a name looked up in PATH) with argv; input
 * (may be NULL) is written to its standard input, then closed.  NULL and
 * *error_r (static text) if it could not be started; an exec failure
 * shows as the child's output and exit status 127.
 */
struct run *run_start(char *const argv[], const char *input, const char **error_r);
/* The pipe to poll for output. */
int run_fd(const struct run *r);
/* Read what is there without blocking: 1 read some, 0 nothing yet, -1 end of output. */
int run_read(struct run *r, struct text *out);
/*
 * Wait for the end (reading what is left into out if not NULL); frees r,
 * sets it to NULL and returns the exit status, 128 + signal if killed.
 */
int run_finish(struct run **r, struct text *out);
/* Send sig to the child's process group (its session). */
void run_kill(struct run *r, int sig);
/* Start, read all, finish: the exit status, or -1 (out says why) if it could not start. */
int run_capture(char *const argv[], const char *input, struct text *out);

#endif
