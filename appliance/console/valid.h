/* SPDX-License-Identifier: MIT */
/*
 * valid - the console's checks of what an administrator types: addresses,
 * networks, names, passphrases, time zones.  Each says NULL when the
 * value is good, else why not (static text, a phrase to follow the
 * field's name: "Gateway: not an IPv4 or IPv6 address").
 *
 * The action scripts check again: these are there so that a mistake is
 * said on the form, before anything runs.
 */
#ifndef FACTEUR_CONSOLE_VALID_H
#define FACTEUR_CONSOLE_VALID_H

/* An IPv4 or IPv6 address. */
const char *valid_ip(const char *s);
/* Addresses separated by blanks or commas. */
const char *valid_ips(const char *s);
/* address/prefix, the prefix within the address's family. */
const char *valid_cidr(const char *s);
/* A network interface's name (at most 15 of letters, digits, '.', '-', '_'). */
const char *valid_iface(const char *s);
/* A host name: labels of letters, digits and '-' separated by dots. */
const char *valid_hostname(const char *s);
/* A fully qualified host name: a valid_hostname with a dot, not at its end. */
const char *valid_fqdn(const char *s);
/* Domain names (each a valid_fqdn) separated by blanks or commas, one at least. */
const char *valid_domains(const char *s);
/* A community or user name: letters, digits, '.', '-', '_', at most 64. */
const char *valid_token(const char *s);
/* An snmpd access source: default, an address, a network or a host name. */
const char *valid_source(const char *s);
/* An SNMPv3 passphrase: 8 to 128 characters, no '"' nor '\'. */
const char *valid_passphrase(const char *s);
/* A time zone's shape: Area/City (letters, digits, '_', '-', '+'), "UTC" too. */
const char *valid_zone(const char *s);
/* Host names or addresses separated by blanks or commas (may be empty). */
const char *valid_servers(const char *s);
/* The admin's password: 10 to 1024 characters, not the host name. */
const char *valid_admin_password(const char *pw, const char *hostname);

#endif
