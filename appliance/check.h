/* SPDX-License-Identifier: MIT */
/*
 * check - what the configuration must satisfy beyond parsing, shared by the
 * master (at start and on reload) and `facteurctl config check`.
 */
#ifndef FACTEUR_CHECK_H
#define FACTEUR_CHECK_H

/* Check the loaded configuration; prints each problem with report(). Returns the count. */
int check_config(void (*report)(const char *problem));

#endif
