/* SPDX-License-Identifier: MIT */
/*
 * facteurctl acl - the access control lists of mailboxes (RFC 4314), as
 * imapd's GETACL and SETACL see them (store/imapd_acl.c), for accounts
 * nobody logs in to: a shared mailbox (support@, a team's box) is an
 * account without a password whose INBOX is given to its users here.
 *
 *   acl get ACCOUNT MAILBOX                       the entries (the owner first)
 *   acl set ACCOUNT MAILBOX IDENTIFIER [+|-]RIGHTS replace, add or remove rights
 *   acl delete ACCOUNT MAILBOX IDENTIFIER         remove the entry
 *
 * IDENTIFIER is an account address, "anyone" or "authenticated"; RIGHTS
 * letters of lrswipkxtea (c = k, d = xte).  -j prints get as JSON.
 * set creates the account's index when nothing was delivered to it yet
 * (the account must exist in the directory).  Like facteurctl mailbox it
 * becomes mail_owner first.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facteurctl.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/proc.h"
#include "store/directory.h"
#include "store/mstore.h"

static int
usage(void)
{
	fprintf(stderr, "usage: facteurctl [-c facteur.conf] [-j] COMMAND\n"
	    "  acl get ACCOUNT MAILBOX\n"
	    "  acl set ACCOUNT MAILBOX IDENTIFIER [+|-]RIGHTS\n"
	    "  acl delete ACCOUNT MAILBOX IDENTIFIER\n");
	return 2;
}

struct acl_print {
	int n;
};

static int
print_entry(const char *identifier, const char *rights, void *arg)
{
	struct acl_print *p = arg;

	if (ctl_json) {
		printf("%s{\"identifier\":", p->n > 0 ? "," : "");
		ctl_json_string(stdout, identifier);
		printf(",\"rights\":");
		ctl_json_string(stdout, rights);
		printf("}");
	} else {
		printf("%-40s %s\n", identifier, rights);
	}
	p->n++;
	return 0;
}

/* An identifier: anyone, authenticated, or an account of the directory. */
static int
identifier_check(struct directory *dir, const char *id)
{
	struct dir_account acct;

	if (strcmp(id, "anyone") == 0 || strcmp(id, "authenticated") == 0)
		return 0;
	if (strchr(id, '@') == NULL) {
		fprintf(stderr, "facteurctl: acl: \"%s\" is not an identifier (an account address, "
		    "anyone or authenticated)\n", id);
		return -1;
	}
	if (dir != NULL && directory_account_get(dir, id, &acct) == 0) {
		fprintf(stderr, "facteurctl: acl: %s: no such account\n", id);
		return -1;
	}
	return 0;
}

int
ctl_acl(int argc, char **argv)
{
	const char *pos[6], *verb, *error;
	char name[MSTORE_NAME_MAX], want[MSTORE_ACL_SIZE];
	struct directory *dir;
	struct dir_account owner;
	struct mstore *ms;
	struct mstore_account *a;
	struct mstore_mailbox mb;
	int npos = 0, status, rc = 0, set;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-j") == 0)
			ctl_json = 1;
		else if ((argv[i][0] == '-' && i < 4) || npos >= 6)
			return usage();
		else
			pos[npos++] = argv[i];
	}
	if (npos < 3)
		return usage();
	verb = pos[0];
	set = strcmp(verb, "set") == 0;
	if (!((strcmp(verb, "get") == 0 && npos == 3) || (set && npos == 5) ||
	    (strcmp(verb, "delete") == 0 && npos == 4)))
		return usage();
	if (mstore_mailbox_name_check(pos[2], name, sizeof(name)) < 0) {
		fprintf(stderr, "facteurctl: acl: \"%s\": not a mailbox name\n", pos[2]);
		return 2;
	}
	proc_drop_privileges(var_mail_owner);
	dir = directory_open(directory_default_path(), 1, &error);
	if (strcmp(verb, "get") != 0) {
		char id[DIR_ADDR_SIZE];
		str_copy(id, pos[3], sizeof(id));
		str_lower(id);
		if (identifier_check(dir, id) < 0) {
			directory_close(&dir);
			return 1;
		}
	}
	if ((ms = mstore_open(NULL, &error)) == NULL) {
		fprintf(stderr, "facteurctl: %s\n", error);
		directory_close(&dir);
		return 1;
	}
	/* set may create the index of an account of the directory nothing was delivered to. */
	a = mstore_account_open(ms, pos[1], set && dir != NULL &&
	    directory_account_get(dir, pos[1], &owner) == 1, &status, &error);
	if (a == NULL) {
		if (status == MSTORE_ENOTFOUND)
			fprintf(stderr, "facteurctl: %s: no mailbox index (not an account, or nothing "
			    "was delivered to it)\n", pos[1]);
		else
			fprintf(stderr, "facteurctl: %s\n", error);
		rc = 1;
		goto out;
	}
	if (mstore_mailbox_get(a, name, 0, &mb, &error) != 0) {
		fprintf(stderr, "facteurctl: %s: %s: no such mailbox\n", pos[1], name);
		rc = 1;
		goto out;
	}
	if (strcmp(verb, "get") == 0) {
		struct acl_print p = { 0 };
		if (ctl_json)
			printf("[");
		print_entry(mstore_account_name(a), MSTORE_ACL_RIGHTS, &p);
		if (mstore_acl_list(a, mb.id, print_entry, &p, &error) < 0) {
			fprintf(stderr, "facteurctl: %s\n", error);
			rc = 1;
		}
		if (ctl_json)
			printf("]\n");
		goto out;
	}
	if (set && mstore_acl_norm(pos[4][0] == '+' || pos[4][0] == '-' ? pos[4] + 1 : pos[4],
	    want) < 0) {
		fprintf(stderr, "facteurctl: acl: \"%s\": rights are letters of %s (and c, d)\n",
		    pos[4], MSTORE_ACL_RIGHTS);
		rc = 2;
		goto out;
	}
	if (mstore_acl_set(a, mb.id, pos[3], set ? pos[4] : "", &error) != 0) {
		fprintf(stderr, "facteurctl: acl %s: %s\n", verb, error);
		rc = 1;
	}
out:
	directory_close(&dir);
	mstore_account_close(&a);
	mstore_close(&ms);
	return rc;
}
