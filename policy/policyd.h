/* SPDX-License-Identifier: MIT */
/*
 * policyd - the policy engine (policy.h) offered to Postfix through its
 * policy delegation protocol (check_policy_service), one event loop.
 *
 * Each connection holds one policy client, made for the client_address
 * of the requests and made anew when that address changes or a request
 * says protocol_state=CONNECT (Postfix reuses a connection for the
 * sessions one after another of its smtpd process).  Requests on one
 * connection are answered in order, one at a time.  CONNECT, MAIL and
 * RCPT go to the engine; other states, and requests the engine cannot
 * decide (a backend down), are answered DUNNO.  A request without
 * request=smtpd_access_policy or a client_address is answered DUNNO with
 * a warning; bytes that are not the protocol close the connection.
 */
#ifndef FACTEUR_POLICYD_H
#define FACTEUR_POLICYD_H

#include <event2/event.h>

struct policy;

/*
 * Bind spec: "unix:/path" (a stale socket is removed; the socket is open
 * to every local user, like Postfix's own) or "inet:host:port";
 * "$spool_directory" is expanded.  Returns the listening descriptor, or
 * -1 with *error_r (static text).  *path_r (size bytes) receives the
 * socket's path, "" for inet.
 */
int policyd_bind(const char *spec, char *path_r, size_t size, const char **error_r);
/* Serve the listening socket fd on base with engine p (policyd takes p). */
void policyd_start(struct event_base *base, int fd, struct policy *p);
/*
 * A new engine after a reload: new connections and new clients use it,
 * the old one is freed when its last client is gone.
 */
void policyd_set_policy(struct policy *p);
/* Close the listener and every connection, free the engines. */
void policyd_stop(void);

#endif
