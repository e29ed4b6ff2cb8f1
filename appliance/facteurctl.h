/* SPDX-License-Identifier: MIT */
/*
 * facteurctl - command groups living in their own files.
 *
 * Each group is a function taking the arguments after its name and
 * returning the exit status (0 success, 1 failure, 2 usage); facteurctl.c
 * dispatches by name from ctl_commands[] and prints their usage lines.
 * ctl_json is set by -j: print JSON instead of text.
 */
#ifndef FACTEUR_FACTEURCTL_H
#define FACTEUR_FACTEURCTL_H

#include <stdio.h>

struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;	/* lines, each "  name ...\n" */
};

extern int ctl_json;

/* A JSON string literal, escaped. */
void ctl_json_string(FILE *out, const char *s);

/* The groups (one file each: facteurctl_NAME.c). */
int ctl_dkim(int argc, char **argv);
int ctl_learn(int argc, char **argv);
int ctl_quarantine(int argc, char **argv);
int ctl_rules(int argc, char **argv);
/* The directory (facteurctl_directory.c): domain, account, alias, recipient, access. */
int ctl_domain(int argc, char **argv);
int ctl_account(int argc, char **argv);
int ctl_alias(int argc, char **argv);
int ctl_recipient(int argc, char **argv);
int ctl_access(int argc, char **argv);
int ctl_profile(int argc, char **argv);
int ctl_group(int argc, char **argv);
int ctl_resource(int argc, char **argv);
int ctl_admin(int argc, char **argv);
/*
 * For other groups' changes to the directory (facteurctl_directory.c):
 * open it for writing, run fn, leave its files to mail_owner; fn's exit
 * status, 1 when it cannot be opened (said).  A lookup's handle: NULL
 * (said) if the directory cannot be opened read-only.
 */
struct directory;
int ctl_directory_change(int (*fn)(struct directory *dir, void *ctx), void *ctx);
struct directory *ctl_directory_open_readonly(void);
/* Batch import and export of the directory in CSV (facteurctl_csv.c). */
int ctl_import(int argc, char **argv);
int ctl_export(int argc, char **argv);
/* The mailbox store (facteurctl_mailbox.c): mailbox list|quota|recalc|purge|export|import|check. */
int ctl_mailbox(int argc, char **argv);
/* Mailboxes' access control lists (facteurctl_acl.c). */
int ctl_acl(int argc, char **argv);
/* Per-day, per-domain counts and accounts' disk use (facteurctl_report.c). */
int ctl_report(int argc, char **argv);
/* One archive of an appliance's data, and back (facteurctl_backup.c). */
int ctl_backup(int argc, char **argv);
int ctl_restore(int argc, char **argv);

#endif
