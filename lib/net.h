/* SPDX-License-Identifier: MIT */
/*
 * net - socket addresses, listeners and client networks (CIDR lists).
 */
#ifndef FACTEUR_NET_H
#define FACTEUR_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Parse "host:port", "[v6]:port" or ":port" (all addresses).  -1 on error. */
int net_parse_hostport(const char *s, struct sockaddr_storage *ss_r, socklen_t *len_r);
/* Bind and listen; returns the fd, -1 with *error_r on failure. */
int net_listen(const char *hostport, const char **error_r);
/* Numeric address text of sa (no port). */
void net_addr_str(const struct sockaddr *sa, char *buf, size_t size);
/* 1 if the address text is inside one of the CIDR entries of list. */
int net_cidr_list_match(const char *list, const char *addr);
/* 0 if every entry of list is a valid address or CIDR; else -1, *bad_r the entry. */
int net_cidr_list_check(const char *list, char *bad_r, size_t size);
int net_set_nonblock(int fd);
/*
 * TCP_NODELAY on a TCP socket (nothing on a unix one): a reply written in
 * pieces leaves at once instead of waiting for the peer's delayed ACK
 * (up to 40 ms per exchange on Linux).
 */
void net_nodelay(int fd);
/* spec with $spool_directory and ${spool_directory} expanded, into out. */
void net_expand_spool(const char *spec, char *out, size_t size);
/*
 * A daemon's own listening socket from its parameter param: "unix:/path"
 * (or "/path") or "inet:host:port", $spool_directory expanded.  For a unix
 * socket the directory is made, a stale socket removed (one another
 * process still serves is an error), and the socket gets mode and, under
 * root, mail_owner as owner; path_r receives its path ("" for inet).
 * Returns the fd, or -1 with *error_r naming param.
 */
int net_listen_spec(const char *param, const char *spec, mode_t mode, char *path_r, size_t size,
    const char **error_r);

#endif
