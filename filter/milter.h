/* SPDX-License-Identifier: MIT */
/*
 * milter - the filter pipeline (pipeline.h) offered to Postfix and
 * Sendmail through libmilter: facteur-milter's callbacks, per-message
 * state and the threads that run the filter.
 *
 * libmilter calls back from its own threads, and a connection's callbacks
 * may each run in a different one of them (Debian's libmilter has its
 * worker pool).  The pipeline keeps a Hyperscan scratch and a classifier
 * connection per thread, so the callbacks only collect the envelope and a
 * copy of the message; at end of message a fixed set of filter threads
 * (milter_start) creates, feeds and finishes the filter message, and the
 * callback applies the result (reply, quarantine, headers, Subject).
 */
#ifndef FACTEUR_FILTER_MILTER_H
#define FACTEUR_FILTER_MILTER_H

#include <stddef.h>

struct filter;

/*
 * libmilter's connection spec ("unix:/path", "inet:port@host") for a
 * milter_listen value: "$spool_directory" and "${spool_directory}" are
 * expanded; "unix:" and "local:" take a path, "inet:" and "inet6:" take
 * libmilter's port@host or Postfix's host:port.  The socket path, if any,
 * goes to path_r ("" for inet).  -1 with *error_r on a bad value.
 */
int milter_listen_spec(const char *listen, char *spec, size_t size, char *path_r,
    size_t path_size, const char **error_r);
/* Register the callbacks and open the listening socket.  -1 on error. */
int milter_open(const char *spec, const char **error_r);
/*
 * Start workers filter threads for f, then smfi_main in a thread of its
 * own; when smfi_main returns, done() is called from that thread.
 * Call with SIGHUP, SIGTERM and SIGINT blocked: every thread started
 * here and by libmilter inherits the mask.
 */
void milter_start(struct filter *f, unsigned int workers, void (*done)(void));
/* Ask libmilter to stop (smfi_stop), then wait for smfi_main and the threads. */
void milter_stop(void);
/*
 * Around a configuration reload: messages being decided hold the
 * configuration for reading (the var_* strings), a reload waits for them.
 */
void milter_config_lock(void);
void milter_config_unlock(void);

#endif
