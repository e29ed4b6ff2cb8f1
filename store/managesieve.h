/* SPDX-License-Identifier: MIT */
/*
 * managesieve - the ManageSieve server (RFC 5804), on libevent: accounts
 * upload, check, list, activate, rename and delete their Sieve scripts
 * (sieve_store.h), which lmtpd then runs at delivery.
 *
 * Commands: CAPABILITY, STARTTLS, AUTHENTICATE "PLAIN" (only under TLS:
 * before it, SASL is announced empty and AUTHENTICATE answers NO
 * (ENCRYPT-NEEDED)), LOGOUT, NOOP, and once logged in LISTSCRIPTS,
 * GETSCRIPT, PUTSCRIPT, CHECKSCRIPT, SETACTIVE, DELETESCRIPT,
 * RENAMESCRIPT, HAVESPACE.  Arguments are quoted strings (at most 1024
 * bytes) and literals, synchronizing or not ({n} and {n+}: no
 * continuation is ever sent); command lines are bounded
 * (MANAGESIEVE_MAX_LINE), literals by SIEVE_MAX_SCRIPT_SIZE (a bigger one
 * is read and thrown away, then refused with NO (QUOTA/MAXSIZE)).
 * PUTSCRIPT and CHECKSCRIPT compile the script: an invalid one is
 * refused with the compiler's message and its line number, and is never
 * stored.  Errors carry RFC 5804's response codes: NONEXISTENT, ACTIVE,
 * ALREADYEXISTS, QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE, ENCRYPT-NEEDED,
 * TRYLATER.
 *
 * Logins go through store/auth.h for the service "sieve", the password
 * verified in a worker thread.  Ten errors in a session, or
 * MANAGESIEVE_TIMEOUT seconds of silence, end it with BYE.
 */
#ifndef FACTEUR_MANAGESIEVE_H
#define FACTEUR_MANAGESIEVE_H

#include <event2/event.h>
#include <openssl/ssl.h>

#define MANAGESIEVE_MAX_LINE 8192
#define MANAGESIEVE_TIMEOUT 600
#define MANAGESIEVE_MAX_ERRORS 10

/* Open the store and the worker pool; tls may be NULL (no STARTTLS, so no login). */
void managesieve_init(struct event_base *base, SSL_CTX *tls);
/* A new certificate (SIGHUP); NULL keeps the old one. */
void managesieve_set_tls(SSL_CTX *tls);
/* Serve a listening socket. */
void managesieve_listen(int fd);
/* Say BYE to every session and close them (SIGTERM). */
void managesieve_shutdown(void);

#endif
