/* SPDX-License-Identifier: MIT */
/*
 * api_http - the HTTPS front of the admin API: libevent's evhttp over
 * OpenSSL bufferevents, one event loop, the calls' steps through the
 * directory thread and the hash threads (api.h).
 *
 * The loop reads a request and checks what needs no directory: the path
 * (under /api/v1/, segments percent-decoded, a NUL refused), the query
 * (offset and limit only), the bearer token's presence, the body (64 KiB
 * at most, else 413; evhttp itself refuses more than 1 MiB with its own
 * 413 page) and its JSON.  Answers are JSON with Cache-Control: no-store.
 * A client that leaves while its call is in a thread does not stop it:
 * the call finishes (a change is made and audited all the same) and its
 * answer is dropped.
 */
#ifndef FACTEUR_API_HTTP_H
#define FACTEUR_API_HTTP_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "api.h"

struct api_server;

/*
 * Serve on base with the TLS context tls (kept, not freed); ctx belongs to
 * the directory thread from now on; hash_threads run the argon2 steps.
 */
struct api_server *api_http_new(struct event_base *base, SSL_CTX *tls, struct api_ctx *ctx,
    unsigned int hash_threads);
/* Accept connections on the listening socket fd; -1 on failure. */
int api_http_listen(struct api_server *s, int fd);
/*
 * Run fn(arg) in the directory thread (configuration reloads: the threads
 * read the parameters), then done(arg) in the loop's.
 */
void api_http_in_directory_thread(struct api_server *s, void (*fn)(void *arg),
    void (*done)(void *arg), void *arg);
/* Stop serving: the threads finish their jobs; calls still queued are dropped. */
void api_http_free(struct api_server **s);

#endif
