/* SPDX-License-Identifier: MIT */
/*
 * imapd_mailbox - the IMAP commands on mailboxes and their messages'
 * flags and places: NAMESPACE, LIST/LSUB (LIST-EXTENDED, SPECIAL-USE,
 * LIST-STATUS), STATUS, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
 * SELECT/EXAMINE (CONDSTORE, QRESYNC), CLOSE, UNSELECT, EXPUNGE, STORE
 * (UNCHANGEDSINCE), COPY/MOVE (COPYUID), APPEND (APPENDUID) and QUOTA.
 * Each is a thin layer over store/mstore.h.  Names go through
 * imapd_mbox_resolve() (store/imapd_acl.c): a name under "Shared/" is
 * another account's mailbox, worked on with that account's index within
 * the rights its ACL gives the user.
 */
#include "facteur-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "store/imapd.h"

/* The NO of a store error, with the response code IMAP gives it. */
static void
store_error(struct imapd_session *s, int rc, const char *error)
{
	switch (rc) {
	case MSTORE_ENOTFOUND:
		imapd_tagged(s, "NO", "[NONEXISTENT] %s", error);
		break;
	case MSTORE_EEXISTS:
		imapd_tagged(s, "NO", "[ALREADYEXISTS] %s", error);
		break;
	case MSTORE_EQUOTA:
		imapd_tagged(s, "NO", "[OVERQUOTA] %s", error);
		break;
	case MSTORE_EINVAL:
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		break;
	default:
		log_warnx("imap: client [%s]: store error: %s", imapd_client(s), error);
		imapd_tagged(s, "NO", "[SERVERBUG] Internal error");
		break;
	}
}

/* ---- NAMESPACE, LIST, LSUB ---- */

static void
cmd_namespace(struct imapd_session *s, const struct imap_command *cmd)
{
	imapd_send(s, "* NAMESPACE ((\"\" \"/\")) ((\"%s/\" \"/\")) NIL", IMAPD_SHARED);
	imapd_tagged(s, "OK", "NAMESPACE completed");
}

struct list_entry {
	char *name;
	struct mstore_mailbox mb;
	int exists;
	int children;
	struct mstore_account *acct;	/* holding it */
	int readable;			/* STATUS allowed (right "r") */
};

struct list_all {
	struct list_entry *v;
	size_t n, cap;
};

static struct list_entry *
list_push(struct list_all *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap < 32 ? 32 : l->cap * 2;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	memset(&l->v[l->n], 0, sizeof(l->v[0]));
	return &l->v[l->n++];
}

static int
list_collect(const struct mstore_mailbox *mb, void *arg)
{
	struct list_entry *e = list_push(arg);

	e->name = xstrdup(mb->name);
	e->mb = *mb;
	e->exists = 1;
	e->readable = 1;
	return 0;
}

struct shared_collect {
	struct imapd_session *s;
	struct list_all *l;
};

/* A shared mailbox: its full name, no special use (it is not the user's Junk). */
static int
list_collect_shared(const struct imapd_mbox *m, void *arg)
{
	struct shared_collect *c = arg;
	struct list_entry *e = list_push(c->l);

	e->name = xstrdup(m->full);
	e->mb = m->mb;
	e->mb.special_use = MSTORE_SPECIAL_NONE;
	e->mb.subscribed = mstore_shared_subscribed(imapd_account(c->s), m->full);
	e->exists = 1;
	e->acct = m->acct;
	e->readable = imapd_right(m->rights, 'r');
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct list_entry *)a)->name, ((const struct list_entry *)b)->name);
}

static struct list_entry *
list_find(struct list_all *l, const char *name)
{
	struct list_entry key;

	key.name = (char *)name;
	return bsearch(&key, l->v, l->n, sizeof(l->v[0]), entry_cmp);
}

static void
list_free(struct list_all *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* Every mailbox, with the parents that do not exist, sorted, children counted. */
static int
list_load(struct imapd_session *s, struct list_all *l, const char **error_r)
{
	size_t real;

	memset(l, 0, sizeof(*l));
	if (mstore_mailbox_list(imapd_account(s), list_collect, l, error_r) < 0)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		l->v[i].acct = imapd_account(s);
	{
		struct shared_collect c = { s, l };
		if (imapd_shared_list(s, list_collect_shared, &c, error_r) < 0) {
			list_free(l);
			return -1;
		}
	}
	real = l->n;
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), entry_cmp);
	for (size_t i = 0; i < real; i++) {
		char *name = xstrdup(l->v[i].name), *sep;
		while ((sep = strrchr(name, MSTORE_SEP)) != NULL) {
			*sep = '\0';
			struct list_entry *p = list_find(l, name);
			if (p == NULL) {
				/* Not sorted in yet: a linear look among the added ones. */
				for (size_t k = real; k < l->n; k++)
					if (strcmp(l->v[k].name, name) == 0)
						p = &l->v[k];
			}
			if (p == NULL) {
				p = list_push(l);
				p->name = xstrdup(name);
			}
		}
		free(name);
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), entry_cmp);
	for (size_t i = 0; i + 1 < l->n; i++) {
		size_t len = strlen(l->v[i].name);
		if (strncmp(l->v[i + 1].name, l->v[i].name, len) == 0 &&
		    l->v[i + 1].name[len] == MSTORE_SEP)
			l->v[i].children = 1;
	}
	return 0;
}


/* "*" matches anything, "%" anything but the separator. */
static int
glob_match(const char *pat, const char *name)
{
	for (; *pat != '\0'; pat++, name++) {
		if (*pat == '*' || *pat == '%') {
			for (const char *n = name;; n++) {
				if (glob_match(pat + 1, n))
					return 1;
				if (*n == '\0' || (*pat == '%' && *n == MSTORE_SEP))
					return 0;
			}
		}
		if (*name == '\0' || *pat != *name)
			return 0;
	}
	return *name == '\0';
}

static int
list_match(const char *pat, const char *name)
{
	char *p;
	int m;

	if (glob_match(pat, name))
		return 1;
	/* INBOX is case-insensitive as the pattern's first level too. */
	if (str_ncasecmp(pat, "INBOX", 5) != 0 || (pat[5] != '\0' && pat[5] != MSTORE_SEP &&
	    pat[5] != '*' && pat[5] != '%'))
		return 0;
	p = xstrdup(pat);
	memcpy(p, "INBOX", 5);
	m = glob_match(p, name);
	free(p);
	return m;
}

#define LIST_SEL_SUBSCRIBED 0x01
#define LIST_SEL_SPECIAL 0x02
#define LIST_RET_SUBSCRIBED 0x10
#define LIST_RET_STATUS 0x20

#define STATUS_MESSAGES 0x01
#define STATUS_UIDNEXT 0x02
#define STATUS_UIDVALIDITY 0x04
#define STATUS_UNSEEN 0x08
#define STATUS_RECENT 0x10
#define STATUS_SIZE 0x20
#define STATUS_HIGHESTMODSEQ 0x40
#define STATUS_DELETED 0x80

static int
status_items(const struct imap_arg *arg, unsigned int *items_r)
{
	const struct imap_arg *list;
	unsigned int n;
	const char *a;

	*items_r = 0;
	if (!imap_arg_list(arg, &list, &n) || n == 0)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		if (!imap_arg_atom(&list[i], &a))
			return -1;
		if (str_casecmp(a, "MESSAGES") == 0)
			*items_r |= STATUS_MESSAGES;
		else if (str_casecmp(a, "UIDNEXT") == 0)
			*items_r |= STATUS_UIDNEXT;
		else if (str_casecmp(a, "UIDVALIDITY") == 0)
			*items_r |= STATUS_UIDVALIDITY;
		else if (str_casecmp(a, "UNSEEN") == 0)
			*items_r |= STATUS_UNSEEN;
		else if (str_casecmp(a, "RECENT") == 0)
			*items_r |= STATUS_RECENT;
		else if (str_casecmp(a, "SIZE") == 0)
			*items_r |= STATUS_SIZE;
		else if (str_casecmp(a, "HIGHESTMODSEQ") == 0)
			*items_r |= STATUS_HIGHESTMODSEQ;
		else if (str_casecmp(a, "DELETED") == 0)
			*items_r |= STATUS_DELETED;
		else
			return -1;
	}
	return 0;
}

static int
count_deleted(const struct mstore_msg *m, void *arg)
{
	if (m->flags & MSTORE_F_DELETED)
		(*(uint32_t *)arg)++;
	return 0;
}

static void
status_send(struct imapd_session *s, struct mstore_account *acct, const char *name,
    const struct mstore_mailbox *mb, unsigned int items)
{
	struct imap_out o = { NULL, 0, 0 };
	const char *sp = "";
	const char *error;

	imap_out_printf(&o, "* STATUS ");
	imapd_mailbox_out(s, &o, name);
	imap_out_printf(&o, " (");
	if (items & STATUS_MESSAGES) {
		imap_out_printf(&o, "%sMESSAGES %u", sp, mb->messages);
		sp = " ";
	}
	if (items & STATUS_UIDNEXT) {
		imap_out_printf(&o, "%sUIDNEXT %u", sp, mb->uidnext);
		sp = " ";
	}
	if (items & STATUS_UIDVALIDITY) {
		imap_out_printf(&o, "%sUIDVALIDITY %u", sp, mb->uidvalidity);
		sp = " ";
	}
	if (items & STATUS_UNSEEN) {
		imap_out_printf(&o, "%sUNSEEN %u", sp, mb->unseen);
		sp = " ";
	}
	if (items & STATUS_RECENT) {
		imap_out_printf(&o, "%sRECENT 0", sp);
		sp = " ";
	}
	if (items & STATUS_SIZE) {
		imap_out_printf(&o, "%sSIZE %llu", sp, (unsigned long long)mb->size);
		sp = " ";
	}
	if (items & STATUS_HIGHESTMODSEQ) {
		imap_out_printf(&o, "%sHIGHESTMODSEQ %llu", sp, (unsigned long long)mb->highestmodseq);
		sp = " ";
	}
	if (items & STATUS_DELETED) {
		uint32_t deleted = 0;
		if (mstore_messages(acct, mb->id, NULL, 0, count_deleted, &deleted, &error) < 0)
			deleted = 0;
		imap_out_printf(&o, "%sDELETED %u", sp, deleted);
	}
	imap_out_add(&o, ")\r\n", 3);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
}

static void
list_send(struct imapd_session *s, const struct list_entry *e, int lsub, unsigned int opts)
{
	struct imap_out o = { NULL, 0, 0 };
	const char *sp = "";
	const char *special;

	imap_out_printf(&o, "* %s (", lsub ? "LSUB" : "LIST");
	if (!e->exists) {
		imap_out_printf(&o, "%s", (imapd_enabled(s) & IMAPD_EN_REV2) ? "\\NonExistent" :
		    "\\Noselect");
		sp = " ";
	}
	if (!lsub) {
		imap_out_printf(&o, "%s%s", sp, e->children ? "\\HasChildren" : "\\HasNoChildren");
		sp = " ";
	}
	if (e->exists && e->mb.subscribed && (opts & (LIST_RET_SUBSCRIBED | LIST_SEL_SUBSCRIBED))) {
		imap_out_printf(&o, "%s\\Subscribed", sp);
		sp = " ";
	}
	if (!lsub && e->exists && (special = mstore_special_str(e->mb.special_use)) != NULL)
		imap_out_printf(&o, "%s%s", sp, special);
	imap_out_printf(&o, ") \"/\" ");
	imapd_mailbox_out(s, &o, e->name);
	imap_out_add(&o, "\r\n", 2);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
}

static void
list_common(struct imapd_session *s, const struct imap_command *cmd, int lsub)
{
	const struct imap_arg *args = cmd->args, *list;
	unsigned int n = cmd->count, i = 0, opts = 0, status = 0, npat;
	const char *ref, *a, *error;
	char **patterns = NULL;
	struct list_all all;

	if (!lsub && n > 0 && imap_arg_list(&args[0], &list, &npat)) {
		for (unsigned int k = 0; k < npat; k++) {
			if (!imap_arg_atom(&list[k], &a))
				goto bad;
			if (str_casecmp(a, "SUBSCRIBED") == 0)
				opts |= LIST_SEL_SUBSCRIBED;
			else if (str_casecmp(a, "SPECIAL-USE") == 0)
				opts |= LIST_SEL_SPECIAL;
			else if (str_casecmp(a, "REMOTE") != 0 && str_casecmp(a, "RECURSIVEMATCH") != 0)
				goto bad;
		}
		i++;
	}
	if (i + 2 > n || !imap_arg_astring(&args[i], &ref))
		goto bad;
	i++;
	/* Patterns: one, or a list (LIST-EXTENDED). */
	{
		const struct imap_arg *pv = &args[i];
		unsigned int pn = 1;
		if (!lsub && imap_arg_list(&args[i], &list, &npat)) {
			pv = list;
			pn = npat;
			if (pn == 0)
				goto bad;
		}
		patterns = xcalloc(pn + 1, sizeof(*patterns));
		for (unsigned int k = 0; k < pn; k++) {
			const char *p;
			char *joined;
			if (pv[k].type == IMAP_ARG_ATOM)
				p = pv[k].str;
			else if (!imap_arg_string(&pv[k], &p))
				goto bad;
			joined = xasprintf("%s%s", ref, p);
			patterns[k] = imapd_mailbox_wire_decode(s, joined);
			free(joined);
			if (patterns[k] == NULL) {
				for (unsigned int m = 0; m < k; m++)
					free(patterns[m]);
				free(patterns);
				imapd_tagged(s, "NO", "[CANNOT] Bad mailbox name pattern");
				return;
			}
		}
		i++;
	}
	if (i < n) {
		/* RETURN (SUBSCRIBED CHILDREN SPECIAL-USE STATUS (...)) */
		if (lsub || !imap_arg_atom(&args[i], &a) || str_casecmp(a, "RETURN") != 0 ||
		    i + 2 != n || !imap_arg_list(&args[i + 1], &list, &npat))
			goto bad;
		for (unsigned int k = 0; k < npat; k++) {
			if (!imap_arg_atom(&list[k], &a))
				goto bad;
			if (str_casecmp(a, "SUBSCRIBED") == 0) {
				opts |= LIST_RET_SUBSCRIBED;
			} else if (str_casecmp(a, "STATUS") == 0) {
				if (k + 1 >= npat || status_items(&list[k + 1], &status) < 0)
					goto bad;
				opts |= LIST_RET_STATUS;
				k++;
			} else if (str_casecmp(a, "CHILDREN") != 0 && str_casecmp(a, "SPECIAL-USE") != 0) {
				goto bad;
			}
		}
	}
	/* LIST "" "": the hierarchy delimiter. */
	if (patterns[0][0] == '\0' && patterns[1] == NULL) {
		imapd_send(s, "* %s (\\Noselect) \"/\" \"\"", lsub ? "LSUB" : "LIST");
		goto done;
	}
	if (list_load(s, &all, &error) < 0) {
		store_error(s, MSTORE_ERR, error);
		goto out;
	}
	for (size_t k = 0; k < all.n; k++) {
		const struct list_entry *e = &all.v[k];
		int match = 0;
		for (unsigned int p = 0; patterns[p] != NULL && !match; p++)
			match = list_match(patterns[p], e->name);
		if (!match)
			continue;
		if ((lsub || (opts & LIST_SEL_SUBSCRIBED)) && (!e->exists || !e->mb.subscribed))
			continue;
		if ((opts & LIST_SEL_SPECIAL) && (!e->exists || e->mb.special_use == MSTORE_SPECIAL_NONE))
			continue;
		if (!e->exists) {
			/* A missing parent shows only where no child of it matched instead. */
			int child = 0;
			size_t len = strlen(e->name);
			for (size_t c = k + 1; c < all.n && !child; c++) {
				if (strncmp(all.v[c].name, e->name, len) != 0 ||
				    all.v[c].name[len] != MSTORE_SEP)
					break;
				for (unsigned int p = 0; patterns[p] != NULL && !child; p++)
					child = list_match(patterns[p], all.v[c].name);
			}
			if (child)
				continue;
		}
		list_send(s, e, lsub, opts);
		if ((opts & LIST_RET_STATUS) && e->exists && e->readable)
			status_send(s, e->acct, e->name, &e->mb, status);
	}
	list_free(&all);
done:
	imapd_tagged(s, "OK", "%s completed", lsub ? "LSUB" : "LIST");
out:
	for (unsigned int p = 0; patterns[p] != NULL; p++)
		free(patterns[p]);
	free(patterns);
	return;
bad:
	if (patterns != NULL) {
		for (unsigned int p = 0; patterns[p] != NULL; p++)
			free(patterns[p]);
		free(patterns);
	}
	imapd_bad(s, lsub ? "LSUB takes a reference and a pattern" :
	    "LIST [(options)] reference pattern(s) [RETURN (options)]");
}

static void
cmd_list(struct imapd_session *s, const struct imap_command *cmd)
{
	list_common(s, cmd, 0);
}

static void
cmd_lsub(struct imapd_session *s, const struct imap_command *cmd)
{
	list_common(s, cmd, 1);
}

/* A resolved mailbox that must exist, and on which the user needs right. */
static int
need(struct imapd_session *s, const struct imapd_mbox *m, char right)
{
	if (!m->exists) {
		imapd_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		return -1;
	}
	if (right != 0 && !imapd_right(m->rights, right)) {
		imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"%c\" needed)", right);
		return -1;
	}
	return 0;
}

static void
cmd_status(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imapd_mbox m;
	unsigned int items;

	if (cmd->count != 2 || status_items(&cmd->args[1], &items) < 0) {
		imapd_bad(s, "STATUS takes a mailbox and a list of items");
		return;
	}
	if (imapd_mbox_arg(s, &cmd->args[0], &m) < 0 || need(s, &m, 'r') < 0)
		return;
	status_send(s, m.acct, m.full, &m.mb, items);
	imapd_tagged(s, "OK", "STATUS completed");
}

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE ---- */

static void
cmd_create(struct imapd_session *s, const struct imap_command *cmd)
{
	char name[MSTORE_NAME_MAX], *wire, *sep;
	const char *arg, *error, *a;
	struct imapd_mbox m;
	const struct imap_arg *list, *uses;
	unsigned int n, nuse;
	int special = MSTORE_SPECIAL_NONE, rc;
	size_t len;

	if (cmd->count < 1 || cmd->count > 2 || !imap_arg_astring(&cmd->args[0], &arg)) {
		imapd_bad(s, "CREATE takes a mailbox name");
		return;
	}
	if (cmd->count == 2) {
		/* RFC 6154 CREATE-SPECIAL-USE: (USE (\Archive)). */
		if (!imap_arg_list(&cmd->args[1], &list, &n) || n != 2 ||
		    !imap_arg_atom(&list[0], &a) || str_casecmp(a, "USE") != 0 ||
		    !imap_arg_list(&list[1], &uses, &nuse) || nuse > 1) {
			imapd_bad(s, "CREATE mailbox [(USE (attribute))]");
			return;
		}
		if (nuse == 1 && (!imap_arg_atom(&uses[0], &a) ||
		    (special = mstore_special_parse(a)) < 0)) {
			imapd_tagged(s, "NO", "[USEATTR] Unsupported special-use attribute");
			return;
		}
	}
	/* A trailing separator only says the name will have children. */
	wire = xstrdup(arg);
	len = strlen(wire);
	while (len > 0 && wire[len - 1] == MSTORE_SEP)
		wire[--len] = '\0';
	rc = imapd_mailbox_name(s, wire, name, sizeof(name), &error);
	free(wire);
	if (rc < 0) {
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		return;
	}
	if ((rc = imapd_mbox_resolve(s, name, &m, &error)) != 0) {
		if (rc == MSTORE_ENOTFOUND)
			imapd_tagged(s, "NO", "[NOPERM] Cannot create mailboxes there");
		else
			store_error(s, rc, error);
		return;
	}
	if (m.exists || strcmp(m.name, "INBOX") == 0) {
		imapd_tagged(s, "NO", "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (m.shared) {
		/* In another account: below a mailbox the user may create in ("k"). */
		if (!imapd_right(m.rights, 'k') || special != MSTORE_SPECIAL_NONE) {
			imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"k\" on the parent "
			    "needed)");
			return;
		}
		if ((rc = mstore_mailbox_create(m.acct, m.name, MSTORE_SPECIAL_NONE, &error)) != 0) {
			store_error(s, rc, error);
			return;
		}
		log_info("imap: user=%s created %s", imapd_user(s), m.full);
		imapd_tagged(s, "OK", "CREATE completed");
		return;
	}
	/* The missing superiors first (RFC 3501 6.3.3). */
	sep = name;
	while ((sep = strchr(sep, MSTORE_SEP)) != NULL) {
		*sep = '\0';
		rc = mstore_mailbox_create(imapd_account(s), name, MSTORE_SPECIAL_NONE, &error);
		*sep++ = MSTORE_SEP;
		if (rc != 0 && rc != MSTORE_EEXISTS) {
			store_error(s, rc, error);
			return;
		}
	}
	rc = mstore_mailbox_create(imapd_account(s), name, (enum mstore_special)special, &error);
	if (rc != 0) {
		store_error(s, rc, error);
		return;
	}
	imapd_tagged(s, "OK", "CREATE completed");
}

static void
cmd_delete(struct imapd_session *s, const struct imap_command *cmd)
{
	const char *error;
	struct imapd_selected *sel = imapd_selected(s);
	struct imapd_mbox m;
	int rc;

	if (cmd->count != 1) {
		imapd_bad(s, "DELETE takes a mailbox name");
		return;
	}
	if (imapd_mbox_arg(s, &cmd->args[0], &m) < 0 || need(s, &m, 'x') < 0)
		return;
	if (strcmp(m.name, "INBOX") == 0) {
		imapd_tagged(s, "NO", "[CANNOT] INBOX cannot be deleted");
		return;
	}
	if ((rc = mstore_mailbox_delete(m.acct, m.name, &error)) != 0) {
		store_error(s, rc, error);
		return;
	}
	if (sel != NULL && sel->id == m.mb.id && imapd_sel_account(s) == m.acct) {
		imapd_select_view(s, NULL);
		imapd_send(s, "* OK [CLOSED] The selected mailbox was deleted.");
	}
	imapd_tagged(s, "OK", "DELETE completed");
}

static void
cmd_rename(struct imapd_session *s, const struct imap_command *cmd)
{
	const char *error;
	struct imapd_selected *sel;
	struct imapd_mbox from, to;
	int rc;

	if (cmd->count != 2) {
		imapd_bad(s, "RENAME takes two mailbox names");
		return;
	}
	if (imapd_mbox_arg(s, &cmd->args[0], &from) < 0 || need(s, &from, 'x') < 0 ||
	    imapd_mbox_arg(s, &cmd->args[1], &to) < 0)
		return;
	if (to.exists) {
		imapd_tagged(s, "NO", "[ALREADYEXISTS] Mailbox exists");
		return;
	}
	if (from.acct != to.acct) {
		imapd_tagged(s, "NO", "[CANNOT] A mailbox cannot be renamed into another account");
		return;
	}
	if (to.shared && !imapd_right(to.rights, 'k')) {
		imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"k\" on the parent needed)");
		return;
	}
	if ((rc = mstore_mailbox_rename(from.acct, from.name, to.name, &error)) != 0) {
		store_error(s, rc, error);
		return;
	}
	sel = imapd_selected(s);
	if (sel != NULL && imapd_sel_account(s) == from.acct) {
		struct mstore_mailbox mb;
		if (mstore_mailbox_get(from.acct, NULL, sel->id, &mb, &error) == 0) {
			if (from.shared)
				snprintf(sel->name, sizeof(sel->name), "%s/%s/%s", IMAPD_SHARED,
				    mstore_account_name(from.acct), mb.name);
			else
				str_copy(sel->name, mb.name, sizeof(sel->name));
		}
	}
	imapd_tagged(s, "OK", "RENAME completed");
}

static void
subscribe(struct imapd_session *s, const struct imap_command *cmd, int on)
{
	char name[MSTORE_NAME_MAX];
	const char *error;
	int rc;

	if (cmd->count != 1) {
		imapd_bad(s, "takes a mailbox name");
		return;
	}
	if (imapd_mailbox_in(s, &cmd->args[0], name, sizeof(name), &error) < 0) {
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		return;
	}
	if (strncmp(name, IMAPD_SHARED "/", strlen(IMAPD_SHARED) + 1) == 0) {
		/* Another account's mailbox: the subscription is the user's. */
		struct imapd_mbox m;
		if (on && imapd_mbox_resolve(s, name, &m, &error) != 0) {
			imapd_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
			return;
		}
		if (on)
			str_copy(name, m.full, sizeof(name));
		rc = mstore_shared_subscribe(imapd_account(s), name, on, &error);
	} else {
		rc = mstore_mailbox_subscribe(imapd_account(s), name, on, &error);
	}
	if (rc != 0) {
		store_error(s, rc, error);
		return;
	}
	imapd_tagged(s, "OK", "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

static void
cmd_subscribe(struct imapd_session *s, const struct imap_command *cmd)
{
	subscribe(s, cmd, 1);
}

static void
cmd_unsubscribe(struct imapd_session *s, const struct imap_command *cmd)
{
	subscribe(s, cmd, 0);
}

/* ---- SELECT, EXAMINE, CLOSE, UNSELECT ---- */

static int
load_msg(const struct mstore_msg *m, void *arg)
{
	struct imapd_selected *sel = arg;

	if (sel->count == sel->cap) {
		sel->cap = sel->cap < 64 ? 64 : sel->cap * 2;
		sel->msgs = xrealloc(sel->msgs, sel->cap * sizeof(*sel->msgs));
	}
	sel->msgs[sel->count].uid = m->uid;
	sel->msgs[sel->count].flags = m->flags;
	sel->msgs[sel->count].modseq = m->modseq;
	sel->count++;
	if (m->keywords[0] != '\0') {
		/* Gather the keywords in use for FLAGS. */
		const char *p = m->keywords;
		while (*p != '\0') {
			size_t n = strcspn(p, " ");
			int known = 0;
			const char *k = sel->keywords;
			while (k != NULL && *k != '\0' && !known) {
				size_t kn = strcspn(k, " ");
				known = kn == n && str_ncasecmp(k, p, n) == 0;
				k += kn;
				while (*k == ' ')
					k++;
			}
			if (!known && n > 0) {
				size_t old = sel->keywords != NULL ? strlen(sel->keywords) : 0;
				sel->keywords = xrealloc(sel->keywords, old + n + 2);
				if (old > 0)
					sel->keywords[old++] = ' ';
				memcpy(sel->keywords + old, p, n);
				sel->keywords[old + n] = '\0';
			}
			p += n;
			while (*p == ' ')
				p++;
		}
	}
	return 0;
}

struct qresync {
	struct imapd_session *s;
	struct imap_seqset known;
	int have_known;
	uint32_t *vanished;
	size_t nvanished, cap;
	int uid_fetch;
};

static int
qresync_vanished(uint32_t uid, uint64_t modseq, void *arg)
{
	struct qresync *q = arg;

	if (q->have_known && !imap_seqset_contains(&q->known, uid))
		return 0;
	if (q->nvanished == q->cap) {
		q->cap = q->cap < 64 ? 64 : q->cap * 2;
		q->vanished = xrealloc(q->vanished, q->cap * sizeof(*q->vanished));
	}
	q->vanished[q->nvanished++] = uid;
	return 0;
}

static int
qresync_changed(const struct mstore_msg *m, void *arg)
{
	struct qresync *q = arg;
	struct imapd_selected *sel = imapd_selected(q->s);
	uint32_t seq = imapd_seq_of(sel, m->uid);
	struct imap_out o = { NULL, 0, 0 };

	if (seq == 0)
		return 0;
	imap_out_printf(&o, "* %u FETCH (UID %u FLAGS ", seq, m->uid);
	imapd_flags_out(&o, m->flags, m->keywords);
	imap_out_printf(&o, " MODSEQ (%llu))\r\n", (unsigned long long)m->modseq);
	imapd_send_raw(q->s, o.data, o.len);
	imap_out_free(&o);
	return 0;
}

static void
select_common(struct imapd_session *s, const struct imap_command *cmd, int readonly)
{
	struct imapd_mbox m;
	const char *error, *a;
	struct mstore_mailbox mb;
	struct imapd_selected *sel;
	const struct imap_arg *params = NULL, *qr;
	unsigned int nparams = 0, nqr;
	uint32_t qr_uidvalidity = 0, first_unseen = 0;
	uint64_t qr_modseq = 0;
	struct qresync q;
	int condstore = 0;

	memset(&q, 0, sizeof(q));
	if (cmd->count < 1 || cmd->count > 2 ||
	    (cmd->count == 2 && !imap_arg_list(&cmd->args[1], &params, &nparams))) {
		imapd_bad(s, "SELECT takes a mailbox name and maybe (parameters)");
		return;
	}
	for (unsigned int i = 0; i < nparams; i++) {
		if (!imap_arg_atom(&params[i], &a))
			goto bad;
		if (str_casecmp(a, "CONDSTORE") == 0) {
			condstore = 1;
		} else if (str_casecmp(a, "QRESYNC") == 0) {
			/* (uidvalidity modseq [known-uids [seq-match]]) */
			if (!(imapd_enabled(s) & IMAPD_EN_QRESYNC) || i + 1 >= nparams ||
			    !imap_arg_list(&params[i + 1], &qr, &nqr) || nqr < 2 || nqr > 4 ||
			    !imap_arg_number(&qr[0], &qr_uidvalidity) ||
			    !imap_arg_number64(&qr[1], &qr_modseq) || qr_uidvalidity == 0) {
				imap_seqset_free(&q.known);
				imapd_bad(s, "QRESYNC needs ENABLE QRESYNC and (uidvalidity modseq "
				    "[known-uids])");
				return;
			}
			if (nqr >= 3) {
				if (!imap_arg_atom(&qr[2], &a) || imap_seqset_parse(a, &q.known) < 0 ||
				    q.known.saved)
					goto bad;
				q.have_known = 1;
			}
			i++;
		} else {
			goto bad;
		}
	}
	if (imapd_selected(s) != NULL) {
		imapd_select_view(s, NULL);
		imapd_send(s, "* OK [CLOSED] Previous mailbox closed.");
	}
	if (imapd_mbox_arg(s, &cmd->args[0], &m) < 0 || need(s, &m, 'r') < 0) {
		imap_seqset_free(&q.known);
		return;
	}
	mb = m.mb;
	(void)mstore_account_changed(m.acct);
	sel = xcalloc(1, sizeof(*sel));
	sel->id = mb.id;
	str_copy(sel->name, m.full, sizeof(sel->name));
	sel->uidvalidity = mb.uidvalidity;
	sel->uidnext = mb.uidnext;
	sel->highestmodseq = mb.highestmodseq;
	sel->acct = m.acct;
	str_copy(sel->rights, m.rights, sizeof(sel->rights));
	/* Read-only when none of the rights that change it is given. */
	if (strpbrk(m.rights, "swte") == NULL)
		readonly = 1;
	sel->readonly = readonly;
	if (mstore_messages(m.acct, mb.id, NULL, 0, load_msg, sel, &error) < 0) {
		free(sel->msgs);
		free(sel->keywords);
		free(sel);
		imap_seqset_free(&q.known);
		store_error(s, MSTORE_ERR, error);
		return;
	}
	/* The view's highest modseq is what was read: later changes are news. */
	for (uint32_t i = 0; i < sel->count; i++) {
		if (sel->msgs[i].modseq > sel->highestmodseq)
			sel->highestmodseq = sel->msgs[i].modseq;
		if (first_unseen == 0 && !(sel->msgs[i].flags & MSTORE_F_SEEN))
			first_unseen = i + 1;
	}
	if (condstore)
		imapd_enable_condstore(s);
	imapd_select_view(s, sel);
	{
		const char *kw = sel->keywords != NULL ? sel->keywords : "";
		imapd_send(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft%s%s)",
		    kw[0] != '\0' ? " " : "", kw);
		imapd_send(s, "* %u EXISTS", sel->count);
		if (!(imapd_enabled(s) & IMAPD_EN_REV2)) {
			imapd_send(s, "* 0 RECENT");
			if (first_unseen > 0)
				imapd_send(s, "* OK [UNSEEN %u] First unseen.", first_unseen);
		}
		if (readonly) {
			imapd_send(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox.");
		} else {
			/* What the rights let the user change: s \Seen, t \Deleted, w the rest. */
			int w = imapd_right(m.rights, 'w');
			imapd_send(s, "* OK [PERMANENTFLAGS (%s%s%s%s%s%s)] Flags permitted.",
			    w ? "\\Answered \\Flagged \\Draft " : "",
			    imapd_right(m.rights, 't') ? "\\Deleted " : "",
			    imapd_right(m.rights, 's') ? "\\Seen " : "",
			    w ? kw : "", w && kw[0] != '\0' ? " " : "", w ? "\\*" : "");
		}
	}
	imapd_send(s, "* OK [UIDVALIDITY %u] UIDs valid", sel->uidvalidity);
	imapd_send(s, "* OK [UIDNEXT %u] Predicted next UID", sel->uidnext);
	imapd_send(s, "* OK [HIGHESTMODSEQ %llu] Highest", (unsigned long long)sel->highestmodseq);
	if (imapd_enabled(s) & IMAPD_EN_REV2) {
		struct imap_out o = { NULL, 0, 0 };
		imap_out_printf(&o, "* LIST () \"/\" ");
		imapd_mailbox_out(s, &o, sel->name);
		imap_out_add(&o, "\r\n", 2);
		imapd_send_raw(s, o.data, o.len);
		imap_out_free(&o);
	}
	if (qr_uidvalidity != 0 && qr_uidvalidity == sel->uidvalidity) {
		q.s = s;
		if (mstore_changes(m.acct, sel->id, qr_modseq, NULL, qresync_vanished, &q,
		    &error) == 0 && q.nvanished > 0) {
			char *buf = NULL;
			size_t size = 0;
			imap_seqset_format(q.vanished, q.nvanished, &buf, &size);
			imapd_send(s, "* VANISHED (EARLIER) %s", buf);
			free(buf);
		}
		(void)mstore_changes(m.acct, sel->id, qr_modseq, qresync_changed, NULL, &q, &error);
	}
	free(q.vanished);
	imap_seqset_free(&q.known);
	imapd_tagged(s, "OK", "[%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE",
	    readonly ? "EXAMINE" : "SELECT");
	return;
bad:
	imap_seqset_free(&q.known);
	imapd_bad(s, "bad SELECT parameters");
}

static void
cmd_select(struct imapd_session *s, const struct imap_command *cmd)
{
	select_common(s, cmd, 0);
}

static void
cmd_examine(struct imapd_session *s, const struct imap_command *cmd)
{
	select_common(s, cmd, 1);
}

static void
cmd_close(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imapd_selected *sel = imapd_selected(s);
	const char *error;

	if (!sel->readonly && imapd_right(sel->rights, 'e') &&
	    mstore_expunge(imapd_sel_account(s), sel->id, NULL, 0, NULL, NULL, &error) != 0)
		log_warnx("imap: client [%s]: CLOSE expunge: %s", imapd_client(s), error);
	imapd_select_view(s, NULL);
	imapd_tagged(s, "OK", "CLOSE completed");
}

static void
cmd_unselect(struct imapd_session *s, const struct imap_command *cmd)
{
	imapd_select_view(s, NULL);
	imapd_tagged(s, "OK", "UNSELECT completed");
}

/* ---- EXPUNGE ---- */

struct uid_list {
	uint32_t *v;
	size_t n, cap;
};

static void
uid_list_add(struct uid_list *l, uint32_t uid)
{
	if (l->n == l->cap) {
		l->cap = l->cap < 64 ? 64 : l->cap * 2;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = uid;
}

static void
expunged_cb(uint32_t uid, void *arg)
{
	uid_list_add(arg, uid);
}

/* Announce the expunge of UIDs (in order) as EXPUNGEs, or one VANISHED. */
static void
announce_expunged(struct imapd_session *s, const uint32_t *uids, size_t n)
{
	if ((imapd_enabled(s) & IMAPD_EN_QRESYNC) && n > 0) {
		/* imapd_expunged() would send one VANISHED per UID: one for all. */
		struct imapd_selected *sel = imapd_selected(s);
		char *buf = NULL;
		size_t size = 0, k = 0;
		uint32_t *present = xcalloc(n, sizeof(*present));
		for (size_t i = 0; i < n; i++) {
			uint32_t seq = imapd_seq_of(sel, uids[i]);
			if (seq == 0)
				continue;
			memmove(&sel->msgs[seq - 1], &sel->msgs[seq],
			    (sel->count - seq) * sizeof(sel->msgs[0]));
			sel->count--;
			present[k++] = uids[i];
		}
		if (k > 0) {
			imap_seqset_format(present, k, &buf, &size);
			imapd_send(s, "* VANISHED %s", buf);
		}
		free(buf);
		free(present);
		return;
	}
	for (size_t i = 0; i < n; i++)
		imapd_expunged(s, uids[i]);
}

static void
expunge_common(struct imapd_session *s, const struct imap_command *cmd, int uid)
{
	struct imapd_selected *sel = imapd_selected(s);
	struct mstore_range *ranges = NULL;
	struct uid_list l = { NULL, 0, 0 };
	size_t nranges = 0;
	const char *error, *set;
	int rc;

	if (cmd->count != (uid ? 1u : 0u) || (uid && !imap_arg_atom(&cmd->args[0], &set))) {
		imapd_bad(s, uid ? "UID EXPUNGE takes a UID set" : "EXPUNGE takes no arguments");
		return;
	}
	if (sel->readonly) {
		imapd_tagged(s, "NO", "[READ-ONLY] The mailbox is read-only");
		return;
	}
	if (!imapd_right(sel->rights, 'e')) {
		imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"e\" needed)");
		return;
	}
	if (uid && imapd_set_to_uids(s, set, 1, &ranges, &nranges, &error) < 0) {
		imapd_bad(s, error);
		return;
	}
	if (uid && nranges == 0) {
		free(ranges);
		imapd_tagged(s, "OK", "UID EXPUNGE completed");
		return;
	}
	rc = mstore_expunge(imapd_sel_account(s), sel->id, uid ? ranges : NULL, nranges,
	    expunged_cb, &l, &error);
	free(ranges);
	if (rc != 0) {
		free(l.v);
		store_error(s, rc, error);
		return;
	}
	announce_expunged(s, l.v, l.n);
	free(l.v);
	imapd_tagged(s, "OK", "%s completed", uid ? "UID EXPUNGE" : "EXPUNGE");
}

static void
cmd_expunge(struct imapd_session *s, const struct imap_command *cmd)
{
	expunge_common(s, cmd, 0);
}

static void
cmd_uid_expunge(struct imapd_session *s, const struct imap_command *cmd)
{
	expunge_common(s, cmd, 1);
}

/* ---- STORE ---- */

/*
 * Parse flags (a list, or atoms) into system bits and a keyword text.
 * -1 for a bad flag.
 */
static int
parse_flags(const struct imap_arg *args, unsigned int n, unsigned int *flags_r, char **keywords_r)
{
	struct imap_out kw = { NULL, 0, 0 };
	const struct imap_arg *list;
	unsigned int count;

	*flags_r = 0;
	if (n == 1 && imap_arg_list(&args[0], &list, &count)) {
		args = list;
		n = count;
	}
	for (unsigned int i = 0; i < n; i++) {
		const char *a;
		int found = 0;
		if (!imap_arg_atom(&args[i], &a))
			goto bad;
		if (a[0] == '\\') {
			static const struct { const char *name; unsigned int bit; } sys[] = {
				{ "\\Seen", MSTORE_F_SEEN }, { "\\Answered", MSTORE_F_ANSWERED },
				{ "\\Flagged", MSTORE_F_FLAGGED }, { "\\Deleted", MSTORE_F_DELETED },
				{ "\\Draft", MSTORE_F_DRAFT },
			};
			for (size_t k = 0; k < sizeof(sys) / sizeof(sys[0]); k++) {
				if (str_casecmp(a, sys[k].name) == 0) {
					*flags_r |= sys[k].bit;
					found = 1;
				}
			}
			/* \Recent cannot be set; other backslashed names do not exist. */
			if (!found)
				goto bad;
			continue;
		}
		/* A keyword: an atom without wildcards, brackets or quotes. */
		if (strpbrk(a, "%*[]{\\") != NULL || strlen(a) > 100)
			goto bad;
		for (const char *p = a; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x7f)
				goto bad;
		imap_out_printf(&kw, "%s%s", kw.len > 0 ? " " : "", a);
	}
	*keywords_r = kw.data != NULL ? kw.data : xstrdup("");
	return 0;
bad:
	imap_out_free(&kw);
	return -1;
}

struct store_ctx {
	struct imapd_session *s;
	struct uid_list failed;
	struct uid_list changed;
	int uid;
	int silent;
};

static void
store_cb(const struct mstore_msg *m, int failed, void *arg)
{
	struct store_ctx *c = arg;
	struct imapd_selected *sel = imapd_selected(c->s);
	uint32_t seq = imapd_seq_of(sel, m->uid);

	if (failed) {
		uid_list_add(&c->failed, c->uid ? m->uid : seq);
		return;
	}
	if (seq == 0)
		return;
	sel->msgs[seq - 1].flags = m->flags;
	sel->msgs[seq - 1].modseq = m->modseq;
	uid_list_add(&c->changed, m->uid);
	imapd_keywords_seen(c->s, m->keywords);
}

static int
uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
store_report(const struct mstore_msg *m, void *arg)
{
	struct store_ctx *c = arg;
	struct imapd_selected *sel = imapd_selected(c->s);
	uint32_t seq = imapd_seq_of(sel, m->uid);
	struct imap_out o = { NULL, 0, 0 };
	int changed = 0;

	if (seq == 0)
		return 0;
	changed = c->changed.n > 0 &&
	    bsearch(&m->uid, c->changed.v, c->changed.n, sizeof(uint32_t), uid_cmp) != NULL;
	if (c->silent && !changed)
		return 0;
	imap_out_printf(&o, "* %u FETCH (", seq);
	if (c->uid)
		imap_out_printf(&o, "UID %u ", m->uid);
	if (!c->silent) {
		imap_out_printf(&o, "FLAGS ");
		imapd_flags_out(&o, m->flags, m->keywords);
	}
	if (imapd_enabled(c->s) & IMAPD_EN_CONDSTORE)
		imap_out_printf(&o, "%sMODSEQ (%llu)", c->silent ? "" : " ",
		    (unsigned long long)m->modseq);
	imap_out_add(&o, ")\r\n", 3);
	/* .SILENT without CONDSTORE: nothing to say. */
	if (!c->silent || (imapd_enabled(c->s) & IMAPD_EN_CONDSTORE))
		imapd_send_raw(c->s, o.data, o.len);
	imap_out_free(&o);
	return 0;
}

static void
store_common(struct imapd_session *s, const struct imap_command *cmd, int uid)
{
	struct imapd_selected *sel = imapd_selected(s);
	const struct imap_arg *args = cmd->args, *mods;
	unsigned int n = cmd->count, i = 0, nmods, flags;
	const char *set, *item, *error;
	char *keywords = NULL;
	uint64_t unchangedsince = 0, modseq = 0;
	struct mstore_range *ranges = NULL;
	size_t nranges = 0;
	enum mstore_flag_op op;
	struct store_ctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	if (n < 3 || !imap_arg_atom(&args[i++], &set))
		goto bad;
	if (imap_arg_list(&args[i], &mods, &nmods)) {
		const char *a;
		if (nmods != 2 || !imap_arg_atom(&mods[0], &a) ||
		    str_casecmp(a, "UNCHANGEDSINCE") != 0 || !imap_arg_number64(&mods[1], &unchangedsince))
			goto bad;
		imapd_enable_condstore(s);
		i++;
	}
	if (i + 2 > n || !imap_arg_atom(&args[i++], &item))
		goto bad;
	if (item[0] == '+')
		op = MSTORE_FLAGS_ADD, item++;
	else if (item[0] == '-')
		op = MSTORE_FLAGS_REMOVE, item++;
	else
		op = MSTORE_FLAGS_SET;
	if (str_casecmp(item, "FLAGS.SILENT") == 0)
		c.silent = 1;
	else if (str_casecmp(item, "FLAGS") != 0)
		goto bad;
	if (parse_flags(&args[i], n - i, &flags, &keywords) < 0) {
		imapd_bad(s, "Invalid flag");
		return;
	}
	if (sel->readonly) {
		free(keywords);
		imapd_tagged(s, "NO", "[READ-ONLY] The mailbox is read-only");
		return;
	}
	{
		/* \Seen needs "s", \Deleted "t", the others "w"; replacing touches them all. */
		int set_all = op == MSTORE_FLAGS_SET;
		char missing = 0;
		if ((set_all || (flags & MSTORE_F_SEEN)) && !imapd_right(sel->rights, 's'))
			missing = 's';
		else if ((set_all || (flags & MSTORE_F_DELETED)) && !imapd_right(sel->rights, 't'))
			missing = 't';
		else if ((set_all || (flags & ~(MSTORE_F_SEEN | MSTORE_F_DELETED)) ||
		    keywords[0] != '\0') && !imapd_right(sel->rights, 'w'))
			missing = 'w';
		if (missing != 0) {
			free(keywords);
			imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"%c\" needed)",
			    missing);
			return;
		}
	}
	if (imapd_set_to_uids(s, set, uid, &ranges, &nranges, &error) < 0) {
		free(keywords);
		imapd_bad(s, error);
		return;
	}
	c.s = s;
	c.uid = uid;
	if (nranges > 0) {
		rc = mstore_flags_store(imapd_sel_account(s), sel->id, ranges, nranges, op, flags,
		    keywords, unchangedsince, store_cb, &c, &modseq, &error);
		if (rc != 0) {
			free(keywords);
			free(ranges);
			free(c.failed.v);
			free(c.changed.v);
			store_error(s, rc, error);
			return;
		}
		if (c.changed.n > 0)
			qsort(c.changed.v, c.changed.n, sizeof(uint32_t), uid_cmp);
		(void)mstore_messages(imapd_sel_account(s), sel->id, ranges, nranges, store_report,
		    &c, &error);
	}
	free(keywords);
	free(ranges);
	free(c.changed.v);
	if (c.failed.n > 0) {
		char *buf = NULL;
		size_t size = 0;
		/* Sequence numbers come in UID order, so sorted either way. */
		imap_seqset_format(c.failed.v, c.failed.n, &buf, &size);
		free(c.failed.v);
		imapd_tagged(s, "OK", "[MODIFIED %s] Conditional STORE failed", buf);
		free(buf);
		return;
	}
	imapd_tagged(s, "OK", "%s completed", uid ? "UID STORE" : "STORE");
	return;
bad:
	imapd_bad(s, "STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (flags)");
}

static void
cmd_store(struct imapd_session *s, const struct imap_command *cmd)
{
	store_common(s, cmd, 0);
}

static void
cmd_uid_store(struct imapd_session *s, const struct imap_command *cmd)
{
	store_common(s, cmd, 1);
}

/* ---- COPY, MOVE ---- */

static void
copy_common(struct imapd_session *s, const struct imap_command *cmd, int uid, int move)
{
	struct imapd_selected *sel = imapd_selected(s);
	char name[MSTORE_NAME_MAX], *srcbuf = NULL, *dstbuf = NULL;
	struct mstore_range *ranges = NULL;
	struct mstore_mailbox dst;
	struct mstore_account *from = imapd_sel_account(s);
	struct imapd_mbox m;
	struct mstore_uidmap map;
	size_t nranges = 0, size1 = 0, size2 = 0;
	const char *set, *error, *what = move ? (uid ? "UID MOVE" : "MOVE") :
	    (uid ? "UID COPY" : "COPY");
	int rc;

	if (cmd->count != 2 || !imap_arg_atom(&cmd->args[0], &set)) {
		imapd_bad(s, "takes a message set and a mailbox");
		return;
	}
	if (imapd_mailbox_in(s, &cmd->args[1], name, sizeof(name), &error) < 0) {
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		return;
	}
	if (move && sel->readonly) {
		imapd_tagged(s, "NO", "[READ-ONLY] The mailbox is read-only");
		return;
	}
	if (move && (!imapd_right(sel->rights, 't') || !imapd_right(sel->rights, 'e'))) {
		imapd_tagged(s, "NO", "[NOPERM] Permission denied (rights \"t\" and \"e\" needed)");
		return;
	}
	if ((rc = imapd_mbox_resolve(s, name, &m, &error)) != 0 || !m.exists) {
		if (rc == 0 || rc == MSTORE_ENOTFOUND)
			imapd_tagged(s, "NO", "[TRYCREATE] No such mailbox");
		else
			store_error(s, rc, error);
		return;
	}
	if (!imapd_right(m.rights, 'i')) {
		imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"i\" needed)");
		return;
	}
	dst = m.mb;
	if (imapd_set_to_uids(s, set, uid, &ranges, &nranges, &error) < 0) {
		imapd_bad(s, error);
		return;
	}
	if (nranges == 0) {
		free(ranges);
		imapd_tagged(s, "OK", "%s completed: no messages", what);
		return;
	}
	memset(&map, 0, sizeof(map));
	rc = mstore_copy_across(from, sel->id, ranges, nranges, m.acct, dst.id,
	    move && from == m.acct ? 0 : imapd_quota_of(s, m.acct), move, &map, &error);
	free(ranges);
	if (rc != 0) {
		store_error(s, rc, error);
		return;
	}
	imapd_junk_learn(s, from, sel->id, &m, &map);
	if (dst.id == sel->id && from == m.acct)
		imapd_sync(s, 1);
	if (map.n == 0) {
		mstore_uidmap_free(&map);
		imapd_tagged(s, "OK", "%s completed: no messages", what);
		return;
	}
	/* The map's sources are in order; destinations follow them one for one. */
	imap_seqset_format(map.src, map.n, &srcbuf, &size1);
	{
		/* dst UIDs are increasing too, but a set of them must keep the pairing: list them. */
		struct imap_out o = { NULL, 0, 0 };
		int increasing = 1;
		for (size_t i = 1; i < map.n; i++)
			if (map.dst[i] <= map.dst[i - 1])
				increasing = 0;
		if (increasing) {
			imap_seqset_format(map.dst, map.n, &dstbuf, &size2);
		} else {
			for (size_t i = 0; i < map.n; i++)
				imap_out_printf(&o, "%s%u", i > 0 ? "," : "", map.dst[i]);
			dstbuf = o.data;
		}
	}
	if (move) {
		imapd_send(s, "* OK [COPYUID %u %s %s] Moved", map.uidvalidity, srcbuf, dstbuf);
		announce_expunged(s, map.src, map.n);
		imapd_tagged(s, "OK", "%s completed", what);
	} else {
		imapd_tagged(s, "OK", "[COPYUID %u %s %s] %s completed", map.uidvalidity, srcbuf,
		    dstbuf, what);
	}
	free(srcbuf);
	free(dstbuf);
	mstore_uidmap_free(&map);
}

static void
cmd_copy(struct imapd_session *s, const struct imap_command *cmd)
{
	copy_common(s, cmd, 0, 0);
}

static void
cmd_uid_copy(struct imapd_session *s, const struct imap_command *cmd)
{
	copy_common(s, cmd, 1, 0);
}

static void
cmd_move(struct imapd_session *s, const struct imap_command *cmd)
{
	copy_common(s, cmd, 0, 1);
}

static void
cmd_uid_move(struct imapd_session *s, const struct imap_command *cmd)
{
	copy_common(s, cmd, 1, 1);
}

/* ---- APPEND ---- */

/* Bare LF line ends become CRLF: the store serves lines as IMAP sends them. */
static int
blob_write_crlf(struct mstore_blob_writer *w, const char *data, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n' || (i > 0 && data[i - 1] == '\r'))
			continue;
		if (mstore_blob_write(w, data + start, i - start) < 0 ||
		    mstore_blob_write(w, "\r\n", 2) < 0)
			return -1;
		start = i + 1;
	}
	return mstore_blob_write(w, data + start, len - start);
}

static void
cmd_append(struct imapd_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *args = cmd->args, *msg;
	unsigned int n = cmd->count, i = 1, flags = 0;
	char name[MSTORE_NAME_MAX], *keywords = NULL, blob[MSTORE_BLOB_ID_SIZE];
	const char *error, *date;
	struct mstore_mailbox mb;
	struct imapd_mbox m;
	struct mstore_blob_writer *w;
	struct mstore_append a;
	time_t when = 0;
	int tz, rc;
	uint64_t size, modseq;
	uint32_t uid;

	if (n < 2 || n > 4)
		goto bad;
	if (args[i].type == IMAP_ARG_LIST) {
		if (parse_flags(&args[i], 1, &flags, &keywords) < 0) {
			imapd_bad(s, "Invalid flag");
			return;
		}
		i++;
	}
	if (i < n && args[i].type == IMAP_ARG_QUOTED && i + 1 < n) {
		if (!imap_arg_string(&args[i], &date) || imap_parse_datetime(date, &when, &tz) < 0) {
			free(keywords);
			imapd_bad(s, "Invalid date-time");
			return;
		}
		i++;
	}
	if (i + 2 == n && imap_arg_atom(&args[i], &date) && str_casecmp(date, "UTF8") == 0 &&
	    (imapd_enabled(s) & (IMAPD_EN_UTF8 | IMAPD_EN_REV2))) {
		/* RFC 6855: UTF8 (~{n}...), a message with UTF-8 headers. */
		const struct imap_arg *list;
		unsigned int nlist;
		if (!imap_arg_list(&args[i + 1], &list, &nlist) || nlist != 1 ||
		    list[0].type != IMAP_ARG_LITERAL) {
			free(keywords);
			goto bad;
		}
		msg = &list[0];
	} else if (i + 1 != n || args[i].type != IMAP_ARG_LITERAL) {
		free(keywords);
		goto bad;
	} else {
		msg = &args[i];
	}
	if (imapd_mailbox_in(s, &args[0], name, sizeof(name), &error) < 0) {
		free(keywords);
		imapd_tagged(s, "NO", "[CANNOT] %s", error);
		return;
	}
	if ((rc = imapd_mbox_resolve(s, name, &m, &error)) != 0 || !m.exists) {
		free(keywords);
		if (rc == 0 || rc == MSTORE_ENOTFOUND)
			imapd_tagged(s, "NO", "[TRYCREATE] No such mailbox");
		else
			store_error(s, rc, error);
		return;
	}
	if (!imapd_right(m.rights, 'i')) {
		free(keywords);
		imapd_tagged(s, "NO", "[NOPERM] Permission denied (right \"i\" needed)");
		return;
	}
	mb = m.mb;
	if (msg->len == 0) {
		free(keywords);
		imapd_tagged(s, "NO", "[CANNOT] Empty message");
		return;
	}
	if ((w = mstore_blob_begin(imapd_store(), &error)) == NULL) {
		free(keywords);
		store_error(s, MSTORE_ERR, error);
		return;
	}
	/* A literal8 is binary content: kept as sent. */
	if ((msg->literal8 ? mstore_blob_write(w, msg->str, msg->len) :
	    blob_write_crlf(w, msg->str, msg->len)) < 0) {
		mstore_blob_abort(&w);
		store_error(s, MSTORE_ERR, "cannot write the message");
		return;
	}
	if ((rc = mstore_blob_commit(&w, 1, blob, &size, &error)) != 0) {
		free(keywords);
		store_error(s, rc, error);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.blob = blob;
	a.size = size;
	a.internaldate = (int64_t)when;
	a.flags = flags;
	a.keywords = keywords;
	a.quota = imapd_quota_of(s, m.acct);
	rc = mstore_append(m.acct, mb.id, &a, &uid, &modseq, &error);
	free(keywords);
	if (rc != 0) {
		store_error(s, rc, error);
		return;
	}
	log_info("imap: user=%s appended uid=%u to %s size=%llu", imapd_user(s), uid, m.full,
	    (unsigned long long)size);
	if (imapd_selected(s) != NULL && imapd_selected(s)->id == mb.id &&
	    imapd_sel_account(s) == m.acct)
		imapd_sync(s, 1);
	imapd_tagged(s, "OK", "[APPENDUID %u %u] APPEND completed", mb.uidvalidity, uid);
	return;
bad:
	imapd_bad(s, "APPEND mailbox [(flags)] [date-time] literal");
}

/* ---- QUOTA (RFC 9208) ---- */

static void
send_quota(struct imapd_session *s)
{
	uint64_t bytes = 0, messages = 0;

	(void)mstore_usage(imapd_account(s), &bytes, &messages);
	imapd_send(s, "* QUOTA \"\" (STORAGE %llu %llu)", (unsigned long long)((bytes + 1023) / 1024),
	    (unsigned long long)(imapd_quota(s) / 1024));
}

static void
cmd_getquotaroot(struct imapd_session *s, const struct imap_command *cmd)
{
	struct imapd_mbox m;
	struct imap_out o = { NULL, 0, 0 };

	if (cmd->count != 1) {
		imapd_bad(s, "GETQUOTAROOT takes a mailbox name");
		return;
	}
	if (imapd_mbox_arg(s, &cmd->args[0], &m) < 0 || need(s, &m, 0) < 0)
		return;
	/* The user's quota root is its own account: a shared mailbox has none of its roots. */
	imap_out_printf(&o, "* QUOTAROOT ");
	imapd_mailbox_out(s, &o, m.full);
	if (!m.shared && imapd_quota(s) > 0)
		imap_out_printf(&o, " \"\"");
	imap_out_add(&o, "\r\n", 2);
	imapd_send_raw(s, o.data, o.len);
	imap_out_free(&o);
	if (!m.shared && imapd_quota(s) > 0)
		send_quota(s);
	imapd_tagged(s, "OK", "GETQUOTAROOT completed");
}

static void
cmd_getquota(struct imapd_session *s, const struct imap_command *cmd)
{
	const char *root;

	if (cmd->count != 1 || !imap_arg_astring(&cmd->args[0], &root)) {
		imapd_bad(s, "GETQUOTA takes a quota root");
		return;
	}
	if (root[0] != '\0' || imapd_quota(s) == 0) {
		imapd_tagged(s, "NO", "[NONEXISTENT] No such quota root");
		return;
	}
	send_quota(s);
	imapd_tagged(s, "OK", "GETQUOTA completed");
}

static void
cmd_setquota(struct imapd_session *s, const struct imap_command *cmd)
{
	imapd_tagged(s, "NO", "[NOPERM] Quotas are set by the administrator");
}

const struct imapd_command imapd_mailbox_commands[] = {
	{ "NAMESPACE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_namespace },
	{ "LIST", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_list },
	{ "LSUB", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_lsub },
	{ "STATUS", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_status },
	{ "CREATE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_create },
	{ "DELETE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_delete },
	{ "RENAME", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_rename },
	{ "SUBSCRIBE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_subscribe },
	{ "UNSUBSCRIBE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_unsubscribe },
	{ "SELECT", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_select },
	{ "EXAMINE", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_examine },
	{ "APPEND", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_append },
	{ "GETQUOTAROOT", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_getquotaroot },
	{ "GETQUOTA", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_getquota },
	{ "SETQUOTA", IMAPD_S_AUTH | IMAPD_S_SELECTED, cmd_setquota },
	{ "CLOSE", IMAPD_S_SELECTED, cmd_close },
	{ "UNSELECT", IMAPD_S_SELECTED, cmd_unselect },
	{ "EXPUNGE", IMAPD_S_SELECTED, cmd_expunge },
	{ "UID EXPUNGE", IMAPD_S_SELECTED, cmd_uid_expunge },
	{ "STORE", IMAPD_S_SELECTED, cmd_store },
	{ "UID STORE", IMAPD_S_SELECTED, cmd_uid_store },
	{ "COPY", IMAPD_S_SELECTED, cmd_copy },
	{ "UID COPY", IMAPD_S_SELECTED, cmd_uid_copy },
	{ "MOVE", IMAPD_S_SELECTED, cmd_move },
	{ "UID MOVE", IMAPD_S_SELECTED, cmd_uid_move },
	{ NULL, 0, NULL },
};
