/* SPDX-License-Identifier: MIT */
/*
 * imapd_acl - shared mailboxes and access control lists (RFC 4314).
 *
 * An account shares one of its mailboxes by giving other identifiers
 * (addresses, "anyone", "authenticated") rights on it; the rights live in
 * its own index (store/mstore.h).  Users see the mailboxes they have the
 * "l" right on under "Shared/owner@domain/" and work on them with the
 * owner's index: what they may do is checked here and in the commands
 * (imapd_mailbox.c) against the letters of RFC 4314:
 *   l  LIST shows it          r  SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY from
 *   s  keep \Seen             w  other flags and keywords
 *   i  APPEND, COPY/MOVE into k  CREATE below it, RENAME into it
 *   x  DELETE, RENAME it      t  \Deleted
 *   e  EXPUNGE (and MOVE out) a  GETACL, SETACL, DELETEACL, LISTRIGHTS
 * A mailbox the user has neither "l" nor "r" on does not exist for it
 * ([NONEXISTENT]): its name is not disclosed.  Flags are the mailbox's,
 * shared by all its readers.  An account with no password, delivered to
 * by LMTP and shared this way, is a shared mailbox (support@, a team's
 * box): facteurctl mailbox acl sets its rights.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/mem.h"
#include "store/directory.h"
#include "store/directory_shared.h"
#include "store/imapd.h"

int
imapd_right(const char *rights, char right)
{
	return strchr(rights, right) != NULL;
}

/* The parent of a store name ("" for a top-level one). */
static void
parent_of(const char *name, char *out, size_t size)
{
	const char *sep = strrchr(name, MSTORE_SEP);
	size_t n = sep != NULL ? (size_t)(sep - name) : 0;

	if (n >= size)
		n = size - 1;
	memcpy(out, name, n);
	out[n] = '\0';
}

int
imapd_mbox_resolve(struct imapd_session *s, const char *name, struct imapd_mbox *m,
    const char **error_r)
{
	size_t plen = strlen(IMAPD_SHARED);
	const char *rest;
	char owner[320];
	int rc, status;

	memset(m, 0, sizeof(*m));
	str_copy(m->full, name, sizeof(m->full));
	if (strncmp(name, IMAPD_SHARED, plen) != 0 || (name[plen] != '\0' &&
	    name[plen] != MSTORE_SEP)) {
		m->acct = imapd_account(s);
		str_copy(m->name, name, sizeof(m->name));
		strcpy(m->rights, MSTORE_ACL_RIGHTS);
		rc = mstore_mailbox_get(m->acct, name, 0, &m->mb, error_r);
		if (rc == 0)
			m->exists = 1;
		return rc == MSTORE_ENOTFOUND ? 0 : rc;
	}
	/* Shared/owner/name */
	rest = name[plen] == '\0' ? "" : name + plen + 1;
	{
		size_t olen = strcspn(rest, "/");
		if (olen == 0 || olen >= sizeof(owner) || rest[olen] == '\0' || rest[olen + 1] == '\0') {
			*error_r = "not a mailbox of the shared namespace (Shared/owner@domain/name)";
			return MSTORE_EINVAL;
		}
		memcpy(owner, rest, olen);
		owner[olen] = '\0';
		str_lower(owner);
		rest += olen + 1;
	}
	if (mstore_mailbox_name_check(rest, m->name, sizeof(m->name)) < 0) {
		*error_r = "bad mailbox name";
		return MSTORE_EINVAL;
	}
	snprintf(m->full, sizeof(m->full), "%s/%s/%s", IMAPD_SHARED, owner, m->name);
	if ((m->acct = imapd_account_of(s, owner, &status, error_r)) == NULL) {
		if (status == MSTORE_ENOTFOUND || status == MSTORE_EINVAL) {
			*error_r = "no such mailbox";
			return MSTORE_ENOTFOUND;
		}
		return MSTORE_ERR;
	}
	m->shared = m->acct != imapd_account(s);
	rc = mstore_mailbox_get(m->acct, m->name, 0, &m->mb, error_r);
	if (rc == 0) {
		m->exists = 1;
		if (mstore_acl_rights(m->acct, m->mb.id, imapd_user(s), m->rights, error_r) < 0)
			return MSTORE_ERR;
		if (!imapd_right(m->rights, 'l') && !imapd_right(m->rights, 'r')) {
			*error_r = "no such mailbox";
			return MSTORE_ENOTFOUND;
		}
		return 0;
	}
	if (rc != MSTORE_ENOTFOUND)
		return rc;
	/* A new name: the rights of its parent say whether it may be created. */
	{
		char parent[MSTORE_NAME_MAX];
		struct mstore_mailbox pm;
		parent_of(m->name, parent, sizeof(parent));
		if (parent[0] != '\0' && mstore_mailbox_get(m->acct, parent, 0, &pm, error_r) == 0 &&
		    mstore_acl_rights(m->acct, pm.id, imapd_user(s), m->rights, error_r) < 0)
			return MSTORE_ERR;
	}
	return 0;
}

int
imapd_mbox_arg(struct imapd_session *s, const struct imap_arg *arg, struct imapd_mbox *m)
{
	char name[MSTORE_NAME_MAX];
	const char *error;
	int rc;

	if (imapd_mailbox_in(s, arg, name, sizeof(name), &error) < 0) {
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		return -1;
	}
	if ((rc = imapd_mbox_resolve(s, name, m, &error)) == 0)
		return 0;
	switch (rc) {
	case MSTORE_ENOTFOUND:
		imapd_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		break;
	case MSTORE_EINVAL:
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		break;
	default:
		log_warnx("imap: client [%s]: store error: %s", imapd_client(s), error);
		imapd_tagged(s, "NO", "[SERVERBUG] Internal error");
		break;
	}
	return -1;
}

/* ---- LIST of the shared namespace ---- */

struct shared_walk {
	struct imapd_session *s;
	char **owners;
	size_t n;
};

static int
owner_collect(const char *owner, void *arg)
{
	struct shared_walk *w = arg;

	w->owners = xrealloc(w->owners, (w->n + 1) * sizeof(*w->owners));
	w->owners[w->n++] = xstrdup(owner);
	return 0;
}

struct mbox_walk {
	struct imapd_session *s;
	struct mstore_account *acct;
	const char *owner;
	int (*fn)(const struct imapd_mbox *m, void *ctx);
	void *ctx;
	int stop, failed;
	const char *error;
};

static int
mbox_visit(const struct mstore_mailbox *mb, void *arg)
{
	struct mbox_walk *w = arg;
	struct imapd_mbox m;

	memset(&m, 0, sizeof(m));
	if (mstore_acl_rights(w->acct, mb->id, imapd_user(w->s), m.rights, &w->error) < 0) {
		w->failed = 1;
		return 1;
	}
	if (!imapd_right(m.rights, 'l'))
		return 0;
	m.acct = w->acct;
	m.shared = 1;
	m.exists = 1;
	m.mb = *mb;
	str_copy(m.name, mb->name, sizeof(m.name));
	snprintf(m.full, sizeof(m.full), "%s/%s/%s", IMAPD_SHARED, w->owner, mb->name);
	w->stop = w->fn(&m, w->ctx);
	return w->stop;
}

int
imapd_shared_list(struct imapd_session *s, int (*fn)(const struct imapd_mbox *m, void *ctx),
    void *ctx, const char **error_r)
{
	struct shared_walk w = { s, NULL, 0 };
	int rc = 0;

	if (mstore_shared_owners(imapd_store(), imapd_user(s), owner_collect, &w, error_r) < 0)
		return -1;
	for (size_t i = 0; i < w.n && rc == 0; i++) {
		struct mbox_walk mw;
		int status;
		memset(&mw, 0, sizeof(mw));
		mw.s = s;
		mw.owner = w.owners[i];
		mw.fn = fn;
		mw.ctx = ctx;
		/* An owner whose index went away (account deleted) shares nothing. */
		if ((mw.acct = imapd_account_of(s, w.owners[i], &status, error_r)) == NULL) {
			if (status != MSTORE_ENOTFOUND && status != MSTORE_EINVAL)
				rc = -1;
			continue;
		}
		if (mstore_mailbox_list(mw.acct, mbox_visit, &mw, error_r) < 0 || mw.failed) {
			if (mw.failed)
				*error_r = mw.error;
			rc = -1;
		}
		if (mw.stop)
			break;
	}
	for (size_t i = 0; i < w.n; i++)
		free(w.owners[i]);
	free(w.owners);
	return rc;
}

/* ---- GETACL, SETACL, DELETEACL, LISTRIGHTS, MYRIGHTS ---- */

/* The mailbox of an ACL command, which needs the "a" right (or any, for MYRIGHTS). */
static int
acl_mailbox(struct imapd_session *s, const struct imap_arg *arg, struct imapd_mbox *m, int admin)
{
	if (imapd_mbox_arg(s, arg, m) < 0)
		return -1;
	if (!m->exists) {
		imapd_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		return -1;
	}
	if (admin ? !imapd_right(m->rights, 'a') : m->rights[0] == '\0') {
		imapd_tagged(s, "NO", "[NOPERM] You lack the administer right on this mailbox");
		return -1;
	}
	return 0;
}

struct acl_out {
	struct imapd_session *s;
	struct imap_out *o;
};

static int
acl_entry(const char *identifier, const char *rights, void *arg)
{
	struct acl_out *a = arg;

	imap_out_printf(a->o, " ");
	imap_out_string(a->o, identifier, strlen(identifier));
	imap_out_printf(a->o, " %s", rights);
	return 0;
}

static void
cmd_getacl(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imap_out o = { NULL, 0, 0 };
	struct imapd_mbox m;
	struct acl_out a = { s, &o };
	const char *error;

	if (cmd->count != 1) {
		imapd_bad(s, "GETACL takes a mailbox name");
		return;
	}
	if (acl_mailbox(s, &cmd->args[0], &m, 1) < 0)
		return;
	imap_out_printf(&o, "* ACL ");
	imapd_mailbox_out(s, &o, m.full);
	/* The owner first, with every right. */
	acl_entry(mstore_account_name(m.acct), MSTORE_ACL_RIGHTS, &a);
	if (mstore_acl_list(m.acct, m.mb.id, acl_entry, &a, &error) < 0) {
		imap_out_free(&o);
		log_warnx("imap: client [%s]: store error: %s", imapd_client(s), error);
		imapd_tagged(s, "NO", "[SERVERBUG] Internal error");
		return;
	}
	imap_out_add(&o, "\r\n", 2);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
	imapd_tagged(s, "OK", "GETACL completed");
}

/* An identifier SETACL accepts: anyone, authenticated, or an account of the directory. */
static int
identifier_ok(const char *id, const char **why_r)
{
	struct directory *dir;
	struct dir_account acct;

	if (str_casecmp(id, "anyone") == 0 || str_casecmp(id, "authenticated") == 0)
		return 1;
	if (id[0] == '-') {
		*why_r = "[CANNOT] Negative rights are not supported";
		return 0;
	}
	if (strchr(id, '@') == NULL || strlen(id) >= DIR_ADDR_SIZE) {
		*why_r = "[CANNOT] An identifier is an account address, anyone or authenticated";
		return 0;
	}
	if ((dir = directory_shared()) != NULL && directory_account_get(dir, id, &acct) == 0) {
		*why_r = "[CANNOT] No such account";
		return 0;
	}
	return 1;
}

static void
setacl_common(struct imapd_session *s, const struct imap_command *cmd, int del)
{
	struct imapd_mbox m;
	const char *id, *rights = "", *error, *why = NULL;
	char want[MSTORE_ACL_SIZE];
	int rc;

	if (cmd->count != (del ? 2u : 3u) || !imap_arg_astring(&cmd->args[1], &id) ||
	    (!del && !imap_arg_astring(&cmd->args[2], &rights))) {
		imapd_bad(s, del ? "DELETEACL mailbox identifier" : "SETACL mailbox identifier rights");
		return;
	}
	if (acl_mailbox(s, &cmd->args[0], &m, 1) < 0)
		return;
	if (!identifier_ok(id, &why)) {
		imapd_tagged(s, "NO", "%s", why);
		return;
	}
	if (str_casecmp(id, mstore_account_name(m.acct)) == 0) {
		imapd_tagged(s, "NO", "[CANNOT] The owner always has every right");
		return;
	}
	if (mstore_acl_norm(rights[0] == '+' || rights[0] == '-' ? rights + 1 : rights, want) < 0) {
		imapd_bad(s, "Unknown right (RFC 4314: lrswipkxtea, and c, d)");
		return;
	}
	if ((rc = mstore_acl_set(m.acct, m.mb.id, id, del ? "" : rights, &error)) != 0) {
		if (rc == MSTORE_EINVAL) {
			imapd_tagged(s, "NO", "[CANNOT] %s", error);
			return;
		}
		goto storeerr;
	}
	log_info("imap: user=%s %s %s on %s rights=%s", imapd_user(s), del ? "DELETEACL" : "SETACL",
	    id, m.full, del ? "" : rights);
	imapd_tagged(s, "OK", "%s completed", del ? "DELETEACL" : "SETACL");
	return;
storeerr:
	log_warnx("imap: client [%s]: store error: %s", imapd_client(s), error);
	imapd_tagged(s, "NO", "[SERVERBUG] Internal error");
}

static void
cmd_setacl(struct imapd_session *s, const struct imap_command *cmd)
{
	setacl_common(s, cmd, 0);
}

static void
cmd_deleteacl(struct imapd_session *s, const struct imap_command *cmd)
{
	setacl_common(s, cmd, 1);
}

static void
cmd_listrights(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imap_out o = { NULL, 0, 0 };
	struct imapd_mbox m;
	const char *id;

	if (cmd->count != 2 || !imap_arg_astring(&cmd->args[1], &id)) {
		imapd_bad(s, "LISTRIGHTS mailbox identifier");
		return;
	}
	if (acl_mailbox(s, &cmd->args[0], &m, 1) < 0)
		return;
	imap_out_printf(&o, "* LISTRIGHTS ");
	imapd_mailbox_out(s, &o, m.full);
	imap_out_printf(&o, " ");
	imap_out_string(&o, id, strlen(id));
	if (str_casecmp(id, mstore_account_name(m.acct)) == 0)
		imap_out_printf(&o, " %s", MSTORE_ACL_RIGHTS);
	else
		/* Nothing is granted always; each right (and the groups c, d) on its own. */
		imap_out_printf(&o, " \"\" l r s w i p k x t e a c d");
	imap_out_add(&o, "\r\n", 2);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
	imapd_tagged(s, "OK", "LISTRIGHTS completed");
}

static void
cmd_myrights(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imap_out o = { NULL, 0, 0 };
	struct imapd_mbox m;

	if (cmd->count != 1) {
		imapd_bad(s, "MYRIGHTS takes a mailbox name");
		return;
	}
	if (acl_mailbox(s, &cmd->args[0], &m, 0) < 0)
		return;
	imap_out_printf(&o, "* MYRIGHTS ");
	imapd_mailbox_out(s, &o, m.full);
	imap_out_printf(&o, " %s\r\n", m.rights);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
	imapd_tagged(s, "OK", "MYRIGHTS completed");
}

const struct imapd_command imapd_acl_commands[] = {
	{ "GETACL", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_getacl },
	{ "SETACL", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_setacl },
	{ "DELETEACL", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_deleteacl },
	{ "LISTRIGHTS", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_listrights },
	{ "MYRIGHTS", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_myrights },
	{ NULL, 0, NULL },
};
