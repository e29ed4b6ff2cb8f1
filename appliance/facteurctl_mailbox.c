/* SPDX-License-Identifier: MIT */
/*
 * facteurctl mailbox - an account's mailboxes in the mailbox store
 * (store/mstore.h): what lmtpd delivered and imapd serves.
 *
 *   mailbox list ACCOUNT     its mailboxes: messages, unseen, bytes,
 *                            UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ,
 *                            special use, subscription
 *   mailbox quota ACCOUNT    bytes and messages used, the quota, percent
 *   mailbox recalc ACCOUNT   recount the usage and the mailboxes' counters
 *                            from the messages (after a crash or a
 *                            hand edit), printing before and after
 *
 * -j (before the command or after it) prints JSON: list an array of
 * objects, quota and recalc one object.  Run as root it becomes
 * mail_owner first, so that nothing in the store ends up owned by root.
 * An account nothing was delivered to has no index yet: exit 1 saying so.
 */
#include "facteur-config.h"

#include <inttypes.h>
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
	    "  mailbox list|quota|recalc ACCOUNT\n");
	return 2;
}

struct listing {
	int n;
};

static int
print_mailbox(const struct mstore_mailbox *mb, void *ctx)
{
	struct listing *l = ctx;
	const char *use = mstore_special_str(mb->special_use);

	if (ctl_json) {
		printf("%s{\"name\":", l->n > 0 ? "," : "");
		ctl_json_string(stdout, mb->name);
		printf(",\"messages\":%" PRIu32 ",\"unseen\":%" PRIu32 ",\"size\":%" PRIu64
		    ",\"uidvalidity\":%" PRIu32 ",\"uidnext\":%" PRIu32 ",\"highestmodseq\":%" PRIu64
		    ",\"special_use\":", mb->messages, mb->unseen, mb->size, mb->uidvalidity,
		    mb->uidnext, mb->highestmodseq);
		if (use != NULL)
			ctl_json_string(stdout, use);
		else
			printf("null");
		printf(",\"subscribed\":%s}", mb->subscribed ? "true" : "false");
	} else {
		if (l->n == 0)
			printf("%-24s %8s %8s %12s %11s %8s %10s %-9s %s\n", "MAILBOX", "MESSAGES",
			    "UNSEEN", "BYTES", "UIDVALIDITY", "UIDNEXT", "MODSEQ", "USE", "SUBSCRIBED");
		printf("%-24s %8" PRIu32 " %8" PRIu32 " %12" PRIu64 " %11" PRIu32 " %8" PRIu32
		    " %10" PRIu64 " %-9s %s\n", mb->name, mb->messages, mb->unseen, mb->size,
		    mb->uidvalidity, mb->uidnext, mb->highestmodseq, use != NULL ? use : "-",
		    mb->subscribed ? "yes" : "no");
	}
	l->n++;
	return 0;
}

static void
print_usage(const char *account, uint64_t bytes, uint64_t messages, uint64_t quota,
    const char *prefix)
{
	if (ctl_json) {
		printf("\"%sbytes\":%" PRIu64 ",\"%smessages\":%" PRIu64, prefix, bytes, prefix,
		    messages);
		return;
	}
	printf("%s: %" PRIu64 " bytes in %" PRIu64 " messages", account, bytes, messages);
	if (quota > 0)
		printf(", quota %" PRIu64 " bytes (%.1f%%)", quota, 100.0 * (double)bytes /
		    (double)quota);
	else
		printf(", no quota");
	printf("\n");
}

int
ctl_mailbox(int argc, char **argv)
{
	const char *pos[4], *verb, *error;
	struct directory *dir;
	struct mstore *ms;
	struct mstore_account *a;
	uint64_t bytes, messages, quota;
	int npos = 0, status, rc = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-j") == 0)
			ctl_json = 1;
		else if (argv[i][0] == '-' || npos >= 4)
			return usage();
		else
			pos[npos++] = argv[i];
	}
	if (npos != 2)
		return usage();
	verb = pos[0];
	if (strcmp(verb, "list") != 0 && strcmp(verb, "quota") != 0 && strcmp(verb, "recalc") != 0)
		return usage();
	if (strchr(pos[1], '@') == NULL) {
		fprintf(stderr, "facteurctl: mailbox %s: \"%s\" is not an account (user@domain)\n",
		    verb, pos[1]);
		return 2;
	}
	/* The daemons own the store: never leave a file of it to root. */
	proc_drop_privileges(var_mail_owner);
	if ((ms = mstore_open(NULL, &error)) == NULL) {
		fprintf(stderr, "facteurctl: %s\n", error);
		return 1;
	}
	if ((a = mstore_account_open(ms, pos[1], 0, &status, &error)) == NULL) {
		if (status == MSTORE_ENOTFOUND)
			fprintf(stderr, "facteurctl: %s: no mailbox index yet (nothing was delivered "
			    "to it)\n", pos[1]);
		else
			fprintf(stderr, "facteurctl: %s\n", error);
		mstore_close(&ms);
		return 1;
	}
	/* Read-only, and only for the quota; a missing directory is no quota of its own. */
	dir = directory_open(directory_default_path(), 1, &error);
	quota = account_quota(dir, mstore_account_name(a));
	if (strcmp(verb, "list") == 0) {
		struct listing l = { 0 };
		if (ctl_json)
			printf("[");
		if (mstore_mailbox_list(a, print_mailbox, &l, &error) < 0) {
			fprintf(stderr, "facteurctl: %s\n", error);
			rc = 1;
		}
		if (ctl_json)
			printf("]\n");
	} else if (mstore_usage(a, &bytes, &messages) < 0) {
		fprintf(stderr, "facteurctl: %s: cannot read the usage\n", mstore_account_name(a));
		rc = 1;
	} else if (strcmp(verb, "quota") == 0) {
		if (ctl_json) {
			printf("{\"account\":");
			ctl_json_string(stdout, mstore_account_name(a));
			printf(",");
			print_usage(NULL, bytes, messages, quota, "");
			printf(",\"quota\":%" PRIu64 ",\"percent\":%.1f}\n", quota, quota > 0 ?
			    100.0 * (double)bytes / (double)quota : 0.0);
		} else {
			print_usage(mstore_account_name(a), bytes, messages, quota, "");
		}
	} else {
		uint64_t nbytes, nmessages;
		if (mstore_usage_recalc(a, &error) < 0 || mstore_usage(a, &nbytes, &nmessages) < 0) {
			fprintf(stderr, "facteurctl: %s: cannot recount: %s\n", mstore_account_name(a),
			    error);
			rc = 1;
		} else if (ctl_json) {
			printf("{\"account\":");
			ctl_json_string(stdout, mstore_account_name(a));
			printf(",");
			print_usage(NULL, bytes, messages, quota, "before_");
			printf(",");
			print_usage(NULL, nbytes, nmessages, quota, "");
			printf(",\"quota\":%" PRIu64 "}\n", quota);
		} else {
			printf("before: ");
			print_usage(mstore_account_name(a), bytes, messages, quota, "");
			printf("after:  ");
			print_usage(mstore_account_name(a), nbytes, nmessages, quota, "");
		}
	}
	directory_close(&dir);
	mstore_account_close(&a);
	mstore_close(&ms);
	return rc;
}
