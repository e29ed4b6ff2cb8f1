/* SPDX-License-Identifier: MIT */
/*
 * facteurctl domain|account|profile|alias|group|resource|recipient|access|admin
 * - the directory (store/directory.h): the domains facteur accepts mail
 * for, their accounts with their passwords and profiles, aliases, groups,
 * resources and relay recipients, the allow/deny lists, and the domain
 * admins.
 *
 *   domain add|set NAME [--kind local|relay|backup] [--nexthop HOP]
 *                       [--verify none|list|probe] [--catchall ADDR]
 *   domain del NAME | domain list | domain show NAME
 *   account add|del|disable|enable ADDR | account list [DOMAIN] | account show ADDR
 *   account passwd ADDR [--hash HASH]
 *   account set ADDR [--profile NAME] [--password-source ldap|local] [--name TEXT]
 *   account app-password add ADDR NAME | list ADDR | revoke ADDR NAME
 *   profile add|set NAME [--quota SIZE] [--retention DAYS]
 *                        [--retention-scope trash|all] [--services LIST]
 *   profile del NAME | profile list
 *   alias add ADDR TARGET... | alias del ADDR [TARGET] | alias list [DOMAIN]
 *   group add ADDR [MEMBER...] [--kind list|alias] [--name TEXT] [--description TEXT]
 *   group set ADDR [--kind list|alias] [--name TEXT] [--description TEXT]
 *   group del ADDR | group list [DOMAIN] | group show ADDR
 *   group member add|del GROUP MEMBER...
 *   resource add|set ADDR [--kind room|equipment] [--name TEXT] [--capacity N]
 *                         [--category TEXT] [--description TEXT]
 *   resource del ADDR | resource list [DOMAIN] | resource show ADDR
 *   admin add NAME --domains D1,D2|--global [--hash HASH]
 *   admin set NAME --domains D1,D2|--global | admin passwd NAME [--hash HASH]
 *   admin del NAME | admin list
 *   recipient add|del ADDR | recipient list DOMAIN
 *   access allow|deny|del PATTERN [--for SCOPE] | access list
 *   access check --client IP [--sender ADDR] [--rcpt ADDR]
 *
 * The database is directory_database ($spool_directory/directory.db by
 * default).  Listings open it read-only, as the daemons do, and fail when
 * it does not exist; changes create it.  Run as root, a change leaves the
 * file (and its -wal and -shm) owned by mail_owner, whose daemons read it.
 * Changes print nothing; listings print text, or JSON with -j (before
 * the command or anywhere after it).  Exit 1 with a message on standard
 * error when the directory refuses, 2 on a usage error.
 *
 * Passwords are read from standard input (one line), or asked for twice
 * without echo when it is a terminal, and hashed here (store/auth.h): only
 * hashes reach the directory, whose files are kept from other users
 * (mode 0640) since they hold them.  A new app password is printed once.
 * An account whose password source is ldap holds AUTH_LDAP_MARK instead
 * of a hash: the LDAP server of ldap_uri checks its password.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "facteurctl.h"
#include "lib/config.h"
#include "lib/mem.h"
#include "lib/params.h"
#include "lib/proc.h"
#include "store/auth.h"
#include "store/directory.h"

/* Positional arguments and the --options given after a group's verb. */
struct args {
	char *pos[64];
	int npos;
	const char *kind, *nexthop, *verify, *catchall, *scope, *client, *sender, *rcpt;
	const char *hash, *profile, *password_source, *quota, *retention, *retention_scope, *services;
	const char *name, *description, *category, *capacity, *domains, *global;
};

static const char *const usage_text[] = {
	"  domain add|set NAME [--kind local|relay|backup] [--nexthop HOP]\n"
	"                      [--verify none|list|probe] [--catchall ADDR]\n"
	"  domain del NAME | domain list | domain show NAME\n",
	"  account add|del|disable|enable ADDR | account list [DOMAIN] | account show ADDR\n"
	"  account passwd ADDR [--hash HASH]\n"
	"  account set ADDR [--profile NAME] [--password-source ldap|local] [--name TEXT]\n"
	"  account app-password add ADDR NAME | list ADDR | revoke ADDR NAME\n",
	"  alias add ADDR TARGET... | alias del ADDR [TARGET] | alias list [DOMAIN]\n",
	"  recipient add|del ADDR | recipient list DOMAIN\n",
	"  access allow|deny|del PATTERN [--for SCOPE] | access list\n"
	"  access check --client IP [--sender ADDR] [--rcpt ADDR]\n",
	"  profile add|set NAME [--quota SIZE] [--retention DAYS] [--retention-scope trash|all]\n"
	"                       [--services LIST]\n"
	"  profile del NAME | profile list\n",
	"  group add ADDR [MEMBER...] [--kind list|alias] [--name TEXT] [--description TEXT]\n"
	"  group set ADDR [--kind list|alias] [--name TEXT] [--description TEXT]\n"
	"  group del ADDR | group list [DOMAIN] | group show ADDR\n"
	"  group member add|del GROUP MEMBER...\n",
	"  resource add|set ADDR [--kind room|equipment] [--name TEXT] [--capacity N]\n"
	"                        [--category TEXT] [--description TEXT]\n"
	"  resource del ADDR | resource list [DOMAIN] | resource show ADDR\n",
	"  admin add NAME --domains D1,D2|--global [--hash HASH]\n"
	"  admin set NAME --domains D1,D2|--global | admin passwd NAME [--hash HASH]\n"
	"  admin del NAME | admin list\n",
};

enum group { G_DOMAIN, G_ACCOUNT, G_ALIAS, G_RECIPIENT, G_ACCESS, G_PROFILE, G_GROUP,
	G_RESOURCE, G_ADMIN };

static int
usage(enum group g)
{
	fprintf(stderr, "usage: facteurctl [-c facteur.conf] [-j] COMMAND\n%s", usage_text[g]);
	return 2;
}

/* Is word one of the blank-separated words of list? */
static int
word_in(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p++)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return 0;
}

/*
 * Split argv into positional arguments and the options named in allowed
 * ("kind nexthop ..."); -j anywhere.  -1 on an unknown option, a missing
 * value or too many arguments.
 */
static int
parse_args(int argc, char **argv, const char *allowed, struct args *a)
{
	static const struct {
		const char *name;
		size_t offset;
		int flag;	/* takes no value */
	} opts[] = {
		{ "kind", offsetof(struct args, kind), 0 },
		{ "nexthop", offsetof(struct args, nexthop), 0 },
		{ "verify", offsetof(struct args, verify), 0 },
		{ "catchall", offsetof(struct args, catchall), 0 },
		{ "for", offsetof(struct args, scope), 0 },
		{ "client", offsetof(struct args, client), 0 },
		{ "sender", offsetof(struct args, sender), 0 },
		{ "rcpt", offsetof(struct args, rcpt), 0 },
		{ "hash", offsetof(struct args, hash), 0 },
		{ "profile", offsetof(struct args, profile), 0 },
		{ "password-source", offsetof(struct args, password_source), 0 },
		{ "quota", offsetof(struct args, quota), 0 },
		{ "retention", offsetof(struct args, retention), 0 },
		{ "retention-scope", offsetof(struct args, retention_scope), 0 },
		{ "services", offsetof(struct args, services), 0 },
		{ "name", offsetof(struct args, name), 0 },
		{ "description", offsetof(struct args, description), 0 },
		{ "category", offsetof(struct args, category), 0 },
		{ "capacity", offsetof(struct args, capacity), 0 },
		{ "domains", offsetof(struct args, domains), 0 },
		{ "global", offsetof(struct args, global), 1 },
	};
	int only_pos = 0;

	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *value = NULL, *eq;
		size_t k, n;

		if (only_pos || arg[0] != '-' || arg[1] == '\0') {
			if (a->npos >= (int)(sizeof(a->pos) / sizeof(a->pos[0])))
				return -1;
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (strcmp(arg, "-j") == 0) {
			ctl_json = 1;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			return -1;
		arg += 2;
		eq = strchr(arg, '=');
		n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strlen(opts[k].name) == n && strncmp(opts[k].name, arg, n) == 0)
				break;
		if (k == sizeof(opts) / sizeof(opts[0]))
			return -1;
		if (!word_in(allowed, opts[k].name))
			return -1;
		if (opts[k].flag) {
			if (eq != NULL)
				return -1;
			value = "";
		} else if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return -1;
		*(const char **)((char *)a + opts[k].offset) = value;
	}
	return 0;
}

/* ---- opening, ownership ---- */

static struct directory *
open_dir(int readonly)
{
	const char *error;
	struct directory *dir = directory_open(directory_default_path(), readonly, &error);

	if (dir == NULL)
		fprintf(stderr, "facteurctl: %s\n", error);
	return dir;
}

/*
 * The daemons open the directory as mail_owner (and a WAL reader writes
 * the -shm file): a change made by root must leave the files theirs.
 */
static int
owner_check(uid_t *uid, gid_t *gid)
{
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() == 0 && proc_user_ids(var_mail_owner, uid, gid) < 0) {
		fprintf(stderr, "facteurctl: mail_owner %s: no such user\n", var_mail_owner);
		return -1;
	}
	return 0;
}

/* The files hold password hashes: mail_owner's, readable by its group, no one else's. */
static void
owner_fix(uid_t uid, gid_t gid)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	const char *path = directory_default_path();

	if (uid == (uid_t)-1)
		return;
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char *p = xasprintf("%s%s", path, suffix[i]);
		if (chown(p, uid, gid) < 0 && errno != ENOENT)
			fprintf(stderr, "facteurctl: chown %s: %s\n", p, strerror(errno));
		else if (chmod(p, 0640) < 0 && errno != ENOENT)
			fprintf(stderr, "facteurctl: chmod %s: %s\n", p, strerror(errno));
		free(p);
	}
}

/* A change: open for writing, run it, give the files to mail_owner.  Exit status. */
static int
change(int (*run)(struct directory *dir, const struct args *a), const struct args *a)
{
	struct directory *dir;
	uid_t uid;
	gid_t gid;
	int rc;

	if (owner_check(&uid, &gid) < 0 || (dir = open_dir(0)) == NULL)
		return 1;
	rc = run(dir, a);
	directory_close(&dir);
	owner_fix(uid, gid);
	return rc;
}

int
ctl_directory_change(int (*fn)(struct directory *dir, void *ctx), void *ctx)
{
	struct directory *dir;
	uid_t uid;
	gid_t gid;
	int rc;

	if (owner_check(&uid, &gid) < 0 || (dir = open_dir(0)) == NULL)
		return 1;
	rc = fn(dir, ctx);
	directory_close(&dir);
	owner_fix(uid, gid);
	return rc;
}

struct directory *
ctl_directory_open_readonly(void)
{
	return open_dir(1);
}

static int refused(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print facteurctl's message; 1. */
static int
refused(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "facteurctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return 1;
}

static void
json_field(const char *name, const char *value, int first)
{
	printf("%s\"%s\":", first ? "" : ",", name);
	ctl_json_string(stdout, value);
}

/* ---- domain ---- */

static int
domain_fill(struct dir_domain *d, const struct args *a)
{
	int v;

	if (a->kind != NULL) {
		if ((v = dir_domain_kind_parse(a->kind)) < 0)
			return refused("bad kind %s: local, relay or backup", a->kind);
		d->kind = (enum dir_domain_kind)v;
	}
	if (a->verify != NULL) {
		if ((v = dir_verify_parse(a->verify)) < 0)
			return refused("bad verify %s: none, list or probe", a->verify);
		d->verify = (enum dir_verify)v;
	}
	if (a->nexthop != NULL && str_copy(d->nexthop, a->nexthop, sizeof(d->nexthop)) >=
	    sizeof(d->nexthop))
		return refused("next hop too long: %s", a->nexthop);
	if (a->catchall != NULL && str_copy(d->catchall, a->catchall, sizeof(d->catchall)) >=
	    sizeof(d->catchall))
		return refused("catch-all address too long: %s", a->catchall);
	return 0;
}

static int
run_domain_add(struct directory *dir, const struct args *a)
{
	struct dir_domain d;
	const char *error;

	memset(&d, 0, sizeof(d));
	d.kind = DIR_DOMAIN_LOCAL;
	if (str_copy(d.name, a->pos[1], sizeof(d.name)) >= sizeof(d.name))
		return refused("bad domain name %s", a->pos[1]);
	if (domain_fill(&d, a) != 0)
		return 1;
	if (directory_domain_add(dir, &d, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_domain_set(struct directory *dir, const struct args *a)
{
	struct dir_domain d;
	const char *error;
	int rc;

	if ((rc = directory_domain_get(dir, a->pos[1], &d)) <= 0)
		return rc < 0 ? refused("directory: cannot read the domain") :
		    refused("unknown domain %s", a->pos[1]);
	if (a->kind != NULL && dir_domain_kind_parse(a->kind) > 0)
		dir_domain_set_kind(&d, (enum dir_domain_kind)dir_domain_kind_parse(a->kind));
	if (domain_fill(&d, a) != 0)
		return 1;
	if (directory_domain_update(dir, &d, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_domain_del(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_domain_del(dir, a->pos[1], &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
count_account(const char *addr, int enabled, void *ctx)
{
	(*(long *)ctx)++;
	return 0;
}

/* Alias rows are (address, target) pairs, ordered: count the addresses. */
struct alias_count {
	char last[320];
	long n;
};

static int
count_alias(const char *addr, const char *target, void *ctx)
{
	struct alias_count *c = ctx;

	if (strcmp(c->last, addr) != 0) {
		str_copy(c->last, addr, sizeof(c->last));
		c->n++;
	}
	return 0;
}

static int
count_relay(const char *addr, void *ctx)
{
	(*(long *)ctx)++;
	return 0;
}

static void
domain_json(const struct dir_domain *d)
{
	json_field("name", d->name, 1);
	json_field("kind", dir_domain_kind_str(d->kind), 0);
	json_field("verify", dir_verify_str(d->verify), 0);
	json_field("nexthop", d->nexthop, 0);
	json_field("catchall", d->catchall, 0);
}

static int
print_domain(const struct dir_domain *d, void *ctx)
{
	int *n = ctx;

	if (ctl_json) {
		printf("%s{", *n > 0 ? "," : "");
		domain_json(d);
		printf("}");
	} else {
		printf("%-30s %s", d->name, dir_domain_kind_str(d->kind));
		if (d->kind == DIR_DOMAIN_RELAY)
			printf("  verify=%s", dir_verify_str(d->verify));
		if (d->nexthop[0] != '\0')
			printf(" nexthop=%s", d->nexthop);
		if (d->catchall[0] != '\0')
			printf(" catchall=%s", d->catchall);
		printf("\n");
	}
	(*n)++;
	return 0;
}

static int
domain_list(struct directory *dir)
{
	int n = 0;

	if (ctl_json)
		printf("[");
	if (directory_domain_foreach(dir, print_domain, &n) < 0)
		return refused("directory: cannot list the domains");
	if (ctl_json)
		printf("]\n");
	return 0;
}

static int
domain_show(struct directory *dir, const char *name)
{
	struct dir_domain d;
	long accounts = 0, relay = 0;
	struct alias_count aliases;
	int rc = directory_domain_get(dir, name, &d);

	if (rc <= 0)
		return rc < 0 ? refused("directory: cannot read the domain") :
		    refused("unknown domain %s", name);
	memset(&aliases, 0, sizeof(aliases));
	if (directory_account_foreach(dir, d.name, count_account, &accounts) < 0 ||
	    directory_alias_foreach(dir, d.name, count_alias, &aliases) < 0 ||
	    directory_relay_rcpt_foreach(dir, d.name, count_relay, &relay) < 0)
		return refused("directory: cannot count the domain's entries");
	if (ctl_json) {
		printf("{");
		domain_json(&d);
		printf(",\"accounts\":%ld,\"aliases\":%ld,\"relay_recipients\":%ld}\n",
		    accounts, aliases.n, relay);
	} else {
		printf("name: %s\nkind: %s\n", d.name, dir_domain_kind_str(d.kind));
		if (d.kind == DIR_DOMAIN_RELAY)
			printf("verify: %s\n", dir_verify_str(d.verify));
		if (d.kind != DIR_DOMAIN_LOCAL)
			printf("nexthop: %s\n", d.nexthop[0] != '\0' ? d.nexthop : "(MX lookup)");
		if (d.kind == DIR_DOMAIN_LOCAL)
			printf("catchall: %s\naccounts: %ld\naliases: %ld\n",
			    d.catchall[0] != '\0' ? d.catchall : "(none)", accounts, aliases.n);
		if (d.kind == DIR_DOMAIN_RELAY)
			printf("relay recipients: %ld\n", relay);
	}
	return 0;
}

/* Run a read-only command. */
static int
lookup(int (*fn)(struct directory *dir, const struct args *a), const struct args *a)
{
	struct directory *dir = open_dir(1);
	int rc;

	if (dir == NULL)
		return 1;
	rc = fn(dir, a);
	directory_close(&dir);
	return rc;
}

static int
run_domain_list(struct directory *dir, const struct args *a)
{
	return domain_list(dir);
}

static int
run_domain_show(struct directory *dir, const struct args *a)
{
	return domain_show(dir, a->pos[1]);
}

int
ctl_domain(int argc, char **argv)
{
	struct args a;
	const char *verb;

	if (parse_args(argc, argv, "kind nexthop verify catchall", &a) < 0 || a.npos < 1)
		return usage(G_DOMAIN);
	verb = a.pos[0];
	if ((strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0) && a.npos == 2)
		return change(verb[0] == 'a' ? run_domain_add : run_domain_set, &a);
	if (a.kind != NULL || a.nexthop != NULL || a.verify != NULL || a.catchall != NULL)
		return usage(G_DOMAIN);
	if (strcmp(verb, "del") == 0 && a.npos == 2)
		return change(run_domain_del, &a);
	if (strcmp(verb, "list") == 0 && a.npos == 1)
		return lookup(run_domain_list, &a);
	if (strcmp(verb, "show") == 0 && a.npos == 2)
		return lookup(run_domain_show, &a);
	return usage(G_DOMAIN);
}

/* ---- account ---- */

static int
run_account(struct directory *dir, const struct args *a)
{
	const char *verb = a->pos[0], *error;
	int rc;

	if (strcmp(verb, "add") == 0)
		rc = directory_account_add(dir, a->pos[1], &error);
	else if (strcmp(verb, "del") == 0)
		rc = directory_account_del(dir, a->pos[1], &error);
	else
		rc = directory_account_set_enabled(dir, a->pos[1], strcmp(verb, "enable") == 0,
		    &error);
	return rc < 0 ? refused("%s", error) : 0;
}

static int
print_account(const char *addr, int enabled, void *ctx)
{
	int *n = ctx;

	if (ctl_json) {
		printf("%s{", *n > 0 ? "," : "");
		json_field("address", addr, 1);
		printf(",\"enabled\":%s}", enabled ? "true" : "false");
	} else {
		printf("%s%s\n", addr, enabled ? "" : " disabled");
	}
	(*n)++;
	return 0;
}

static int
run_account_list(struct directory *dir, const struct args *a)
{
	int n = 0;

	if (ctl_json)
		printf("[");
	if (directory_account_foreach(dir, a->npos > 1 ? a->pos[1] : NULL, print_account, &n) < 0)
		return refused("directory: cannot list the accounts");
	if (ctl_json)
		printf("]\n");
	return 0;
}

/* The account addr, read or refused: 1 and *out, else the exit status printed. */
static int
account_need(struct directory *dir, const char *addr, struct dir_account *out)
{
	switch (directory_account_get(dir, addr, out)) {
	case 1:
		return 0;
	case 0:
		return refused("no such account %s", addr);
	default:
		return refused("directory: cannot read the account");
	}
}

static void
time_text(long long t, char *out, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		str_copy(out, "never", size);
	else
		strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
count_app_password(const struct dir_app_password *ap, void *ctx)
{
	(*(long *)ctx)++;
	return 0;
}

static int
run_account_show(struct directory *dir, const struct args *a)
{
	struct dir_account acc;
	char created[32];
	long apps = 0;
	int rc, ldap;

	if ((rc = account_need(dir, a->pos[1], &acc)) != 0)
		return rc;
	ldap = strcmp(acc.password, AUTH_LDAP_MARK) == 0;
	if (directory_app_password_foreach(dir, acc.address, count_app_password, &apps) < 0)
		return refused("directory: cannot list the app passwords");
	if (ctl_json) {
		printf("{");
		json_field("address", acc.address, 1);
		printf(",\"enabled\":%s,\"created\":%lld,\"password\":%s,", acc.enabled ? "true" : "false",
		    acc.created, acc.password[0] != '\0' ? "true" : "false");
		json_field("password_source", ldap ? "ldap" : acc.password[0] != '\0' ? "local" : "none",
		    1);
		json_field("profile", acc.profile, 0);
		printf(",\"app_passwords\":%ld,", apps);
		json_field("name", acc.name, 1);
		printf(",\"resource\":%s}\n", acc.resource ? "true" : "false");
	} else {
		time_text(acc.created, created, sizeof(created));
		printf("address: %s\n", acc.address);
		if (acc.name[0] != '\0')
			printf("name: %s\n", acc.name);
		if (acc.resource)
			printf("resource: yes (facteurctl resource show)\n");
		printf("enabled: %s\ncreated: %s\npassword: %s\nprofile: %s\n"
		    "app passwords: %ld\n", acc.enabled ? "yes" : "no", created,
		    ldap ? "ldap" : acc.password[0] != '\0' ? "set" : "none",
		    acc.profile[0] != '\0' ? acc.profile : "(none: every service)", apps);
	}
	return 0;
}

/* A line of at most size - 1 characters from fp, without its end; -1 if none or too long. */
static int
read_line(FILE *fp, char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, fp) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(fp))
		return -1;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

/*
 * Ask on the terminal without echo.  Echo goes off before the prompt is
 * shown, so nothing typed after the prompt is echoed, and no type-ahead
 * is thrown away (no TCSAFLUSH).
 */
static int
ask_password(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	int rc, restore;

	restore = tcgetattr(STDIN_FILENO, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
	}
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	rc = read_line(stdin, buf, size);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &old);
	fprintf(stderr, "\n");
	return rc;
}

#define PASSWORD_BUF 1100	/* auth refuses more than 1024 */

/* The new password, from standard input or the terminal: 0, or the exit status printed. */
static int
get_password(const char *addr, char *pw, size_t size)
{
	char again[PASSWORD_BUF], prompt[400];
	int rc = 0;

	if (isatty(STDIN_FILENO)) {
		snprintf(prompt, sizeof(prompt), "New password for %s: ", addr);
		if (ask_password(prompt, pw, size) < 0)
			return refused("no password read");
		if (ask_password("Again: ", again, sizeof(again)) < 0 || strcmp(pw, again) != 0)
			rc = refused("the passwords differ: nothing changed");
		explicit_bzero(again, sizeof(again));
	} else if (read_line(stdin, pw, size) < 0) {
		rc = refused("no password on standard input (one line, at most 1024 characters)");
	}
	if (rc == 0 && pw[0] == '\0')
		rc = refused("empty password: nothing changed");
	return rc;
}

static int
run_account_passwd(struct directory *dir, const struct args *a)
{
	char pw[PASSWORD_BUF], hash[AUTH_HASH_SIZE];
	struct dir_account acc;
	const char *error;
	int rc;

	if ((rc = account_need(dir, a->pos[1], &acc)) != 0)
		return rc;
	if (a->hash != NULL) {
		if (auth_hash_check(a->hash, &error) < 0)
			return refused("%s", error);
		if (directory_account_set_password(dir, acc.address, a->hash, &error) < 0)
			return refused("%s", error);
		return 0;
	}
	if ((rc = get_password(acc.address, pw, sizeof(pw))) == 0) {
		if (auth_hash_password(pw, 0, hash, sizeof(hash), &error) < 0)
			rc = refused("cannot hash the password: %s", error);
		else if (directory_account_set_password(dir, acc.address, hash, &error) < 0)
			rc = refused("%s", error);
	}
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/*
 * The password source: ldap marks the account (its local password, if
 * any, is dropped); local drops the mark, leaving no password until
 * account passwd sets one, and leaves a local password as it is.
 */
static int
set_password_source(struct directory *dir, const char *addr, const char *source)
{
	struct dir_account acc;
	const char *error;
	int rc;

	if ((rc = account_need(dir, addr, &acc)) != 0)
		return rc;
	if (strcmp(source, "ldap") == 0) {
		if (directory_account_set_password(dir, acc.address, AUTH_LDAP_MARK, &error) < 0)
			return refused("%s", error);
		if (var_ldap_uri[0] == '\0')
			fprintf(stderr, "facteurctl: warning: ldap_uri is empty: %s cannot log in until "
			    "it is set\n", acc.address);
	} else if (strcmp(acc.password, AUTH_LDAP_MARK) == 0) {
		if (directory_account_set_password(dir, acc.address, NULL, &error) < 0)
			return refused("%s", error);
	}
	return 0;
}

static int
run_account_set(struct directory *dir, const struct args *a)
{
	const char *error;
	int rc;

	if (a->password_source != NULL && strcmp(a->password_source, "ldap") != 0 &&
	    strcmp(a->password_source, "local") != 0)
		return refused("bad password source %s: ldap or local", a->password_source);
	if (a->profile != NULL &&
	    directory_account_set_profile(dir, a->pos[1], a->profile, &error) < 0)
		return refused("%s", error);
	if (a->name != NULL && directory_account_set_name(dir, a->pos[1], a->name, &error) < 0)
		return refused("%s", error);
	if (a->password_source != NULL &&
	    (rc = set_password_source(dir, a->pos[1], a->password_source)) != 0)
		return rc;
	return 0;
}

static int
run_app_password_add(struct directory *dir, const struct args *a)
{
	char pw[AUTH_APP_PASSWORD_LEN + 1], hash[AUTH_HASH_SIZE];
	const char *error;
	int rc = 0;

	if (auth_app_password_new(pw, sizeof(pw)) < 0)
		return refused("no random bytes for the password");
	if (auth_hash_password(pw, 1, hash, sizeof(hash), &error) < 0)
		rc = refused("cannot hash the password: %s", error);
	else if (directory_app_password_add(dir, a->pos[2], a->pos[3], hash, &error) < 0)
		rc = refused("%s", error);
	else if (ctl_json) {
		printf("{");
		json_field("name", a->pos[3], 1);
		json_field("password", pw, 0);
		printf("}\n");
	} else {
		printf("%s\n", pw);
	}
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static int
run_app_password_revoke(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_app_password_del(dir, a->pos[2], a->pos[3], &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
print_app_password(const struct dir_app_password *ap, void *ctx)
{
	int *n = ctx;
	char created[32], used[32];

	if (ctl_json) {
		printf("%s{", *n > 0 ? "," : "");
		json_field("name", ap->name, 1);
		printf(",\"created\":%lld,\"last_used\":", ap->created);
		if (ap->last_used > 0)
			printf("%lld}", ap->last_used);
		else
			printf("null}");
	} else {
		time_text(ap->created, created, sizeof(created));
		time_text(ap->last_used, used, sizeof(used));
		printf("%-24s created %s  last used %s\n", ap->name, created, used);
	}
	(*n)++;
	return 0;
}

static int
run_app_password_list(struct directory *dir, const struct args *a)
{
	struct dir_account acc;
	int n = 0, rc;

	if ((rc = account_need(dir, a->pos[2], &acc)) != 0)
		return rc;
	if (ctl_json)
		printf("[");
	if (directory_app_password_foreach(dir, acc.address, print_app_password, &n) < 0)
		return refused("directory: cannot list the app passwords");
	if (ctl_json)
		printf("]\n");
	return 0;
}

static int
ctl_app_password(const struct args *a)
{
	const char *verb = a->npos > 1 ? a->pos[1] : "";

	if (strcmp(verb, "add") == 0 && a->npos == 4)
		return change(run_app_password_add, a);
	if (strcmp(verb, "revoke") == 0 && a->npos == 4)
		return change(run_app_password_revoke, a);
	if (strcmp(verb, "list") == 0 && a->npos == 3)
		return lookup(run_app_password_list, a);
	return usage(G_ACCOUNT);
}

int
ctl_account(int argc, char **argv)
{
	static const char *const verbs[] = { "add", "del", "disable", "enable" };
	struct args a;
	const char *verb;

	if (parse_args(argc, argv, "hash profile password-source name", &a) < 0 || a.npos < 1)
		return usage(G_ACCOUNT);
	verb = a.pos[0];
	if (strcmp(verb, "passwd") == 0 && a.npos == 2 && a.profile == NULL &&
	    a.password_source == NULL && a.name == NULL)
		return change(run_account_passwd, &a);
	if (strcmp(verb, "set") == 0 && a.npos == 2 && a.hash == NULL &&
	    (a.profile != NULL || a.password_source != NULL || a.name != NULL))
		return change(run_account_set, &a);
	if (a.hash != NULL || a.profile != NULL || a.password_source != NULL || a.name != NULL)
		return usage(G_ACCOUNT);
	if (strcmp(verb, "app-password") == 0)
		return ctl_app_password(&a);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verb, verbs[i]) == 0 && a.npos == 2)
			return change(run_account, &a);
	if (strcmp(verb, "list") == 0 && a.npos <= 2)
		return lookup(run_account_list, &a);
	if (strcmp(verb, "show") == 0 && a.npos == 2)
		return lookup(run_account_show, &a);
	return usage(G_ACCOUNT);
}

/* ---- profile ---- */

/* The profile group (to be declared in facteurctl.h with the others). */
int ctl_profile(int argc, char **argv);

/* "10G", "512M", "1000", "none" for 0. */
static void
size_text(long long n, char *out, size_t size)
{
	static const struct {
		long long unit;
		char suffix;
	} units[] = { { 1LL << 30, 'G' }, { 1LL << 20, 'M' }, { 1LL << 10, 'K' } };

	if (n == 0) {
		str_copy(out, "none", size);
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (n % units[i].unit == 0) {
			snprintf(out, size, "%lld%c", n / units[i].unit, units[i].suffix);
			return;
		}
	}
	snprintf(out, size, "%lld", n);
}

/* Apply the options to p: 0, or the exit status printed. */
static int
profile_fill(struct dir_profile *p, const struct args *a)
{
	long v;
	char *end;

	if (a->quota != NULL) {
		if (strcmp(a->quota, "none") == 0)
			v = 0;
		else if (config_parse_size(a->quota, &v) < 0 || v < 0)
			return refused("bad quota %s: a size such as 500M or 10G, 0 or none for no quota",
			    a->quota);
		p->quota_bytes = v;
	}
	if (a->retention != NULL) {
		errno = 0;
		v = strtol(a->retention, &end, 10);
		if (strcmp(a->retention, "none") == 0)
			v = 0;
		else if (errno != 0 || end == a->retention || (*end != '\0' && strcmp(end, "d") != 0) ||
		    v < 0 || v > 36500)
			return refused("bad retention %s: days, from 0 (mail kept for ever) to 36500",
			    a->retention);
		p->retention_days = (int)v;
	}
	if (a->retention_scope != NULL) {
		int scope = dir_retention_scope_parse(a->retention_scope);
		if (scope < 0)
			return refused("bad retention scope %s: trash (the Trash and Junk mailboxes) "
			    "or all (every mailbox)", a->retention_scope);
		p->retention_scope = (enum dir_retention_scope)scope;
	}
	if (a->services != NULL &&
	    str_copy(p->services, a->services, sizeof(p->services)) >= sizeof(p->services))
		return refused("services list too long");
	return 0;
}

static int
run_profile_add(struct directory *dir, const struct args *a)
{
	struct dir_profile p;
	const char *error;

	memset(&p, 0, sizeof(p));
	if (str_copy(p.name, a->pos[1], sizeof(p.name)) >= sizeof(p.name))
		return refused("bad profile name %s", a->pos[1]);
	str_copy(p.services, DIR_SERVICES_ALL, sizeof(p.services));
	if (profile_fill(&p, a) != 0)
		return 1;
	if (directory_profile_add(dir, &p, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_profile_set(struct directory *dir, const struct args *a)
{
	struct dir_profile p;
	const char *error;
	int rc;

	if ((rc = directory_profile_get(dir, a->pos[1], &p)) <= 0)
		return rc < 0 ? refused("directory: cannot read the profile") :
		    refused("unknown profile %s", a->pos[1]);
	if (profile_fill(&p, a) != 0)
		return 1;
	if (directory_profile_update(dir, &p, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_profile_del(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_profile_del(dir, a->pos[1], &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
print_profile(const struct dir_profile *p, void *ctx)
{
	int *n = ctx;
	char quota[32];

	if (ctl_json) {
		char buf[DIR_SERVICES_SIZE], *save = NULL;
		int first = 1;
		printf("%s{", *n > 0 ? "," : "");
		json_field("name", p->name, 1);
		printf(",\"quota_bytes\":%lld,\"retention_days\":%d,\"retention_scope\":\"%s\","
		    "\"services\":[", p->quota_bytes, p->retention_days,
		    dir_retention_scope_str(p->retention_scope));
		str_copy(buf, p->services, sizeof(buf));
		for (char *w = strtok_r(buf, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
			printf("%s", first ? "" : ",");
			ctl_json_string(stdout, w);
			first = 0;
		}
		printf("]}");
	} else {
		size_text(p->quota_bytes, quota, sizeof(quota));
		printf("%-20s quota=%s retention=", p->name, quota);
		if (p->retention_days > 0)
			printf("%dd scope=%s", p->retention_days,
			    dir_retention_scope_str(p->retention_scope));
		else
			printf("none");
		printf(" services=%s\n", p->services[0] != '\0' ? p->services : "none");
	}
	(*n)++;
	return 0;
}

static int
run_profile_list(struct directory *dir, const struct args *a)
{
	int n = 0;

	if (ctl_json)
		printf("[");
	if (directory_profile_foreach(dir, print_profile, &n) < 0)
		return refused("directory: cannot list the profiles");
	if (ctl_json)
		printf("]\n");
	return 0;
}

int
ctl_profile(int argc, char **argv)
{
	struct args a;
	const char *verb;

	if (parse_args(argc, argv, "quota retention retention-scope services", &a) < 0 ||
	    a.npos < 1)
		return usage(G_PROFILE);
	verb = a.pos[0];
	if (strcmp(verb, "add") == 0 && a.npos == 2)
		return change(run_profile_add, &a);
	if (strcmp(verb, "set") == 0 && a.npos == 2) {
		if (a.quota == NULL && a.retention == NULL && a.retention_scope == NULL &&
		    a.services == NULL)
			return usage(G_PROFILE);
		return change(run_profile_set, &a);
	}
	if (a.quota != NULL || a.retention != NULL || a.retention_scope != NULL ||
	    a.services != NULL)
		return usage(G_PROFILE);
	if (strcmp(verb, "del") == 0 && a.npos == 2)
		return change(run_profile_del, &a);
	if (strcmp(verb, "list") == 0 && a.npos == 1)
		return lookup(run_profile_list, &a);
	return usage(G_PROFILE);
}

/* ---- alias ---- */

static int
run_alias_add(struct directory *dir, const struct args *a)
{
	const char *error;
	int rc = 0;

	for (int i = 2; i < a->npos; i++)
		if (directory_alias_add(dir, a->pos[1], a->pos[i], &error) < 0)
			rc = refused("%s", error);
	return rc;
}

static int
run_alias_del(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_alias_del(dir, a->pos[1], a->npos > 2 ? a->pos[2] : NULL, &error) < 0)
		return refused("%s", error);
	return 0;
}

/* Rows come ordered by address: one line (object) per alias with its targets. */
struct alias_print {
	char addr[320];
	int n;
};

static void
alias_end(struct alias_print *p)
{
	if (p->addr[0] == '\0')
		return;
	printf(ctl_json ? "]}" : "\n");
}

static int
print_alias(const char *addr, const char *target, void *ctx)
{
	struct alias_print *p = ctx;

	if (strcmp(p->addr, addr) != 0) {
		alias_end(p);
		if (ctl_json) {
			printf("%s{", p->n > 0 ? "," : "");
			json_field("address", addr, 1);
			printf(",\"targets\":[");
		} else {
			printf("%s ->", addr);
		}
		str_copy(p->addr, addr, sizeof(p->addr));
		p->n++;
	} else if (ctl_json) {
		printf(",");
	}
	if (ctl_json)
		ctl_json_string(stdout, target);
	else
		printf(" %s", target);
	return 0;
}

static int
run_alias_list(struct directory *dir, const struct args *a)
{
	struct alias_print p;

	memset(&p, 0, sizeof(p));
	if (ctl_json)
		printf("[");
	if (directory_alias_foreach(dir, a->npos > 1 ? a->pos[1] : NULL, print_alias, &p) < 0)
		return refused("directory: cannot list the aliases");
	alias_end(&p);
	if (ctl_json)
		printf("]\n");
	return 0;
}

int
ctl_alias(int argc, char **argv)
{
	struct args a;

	if (parse_args(argc, argv, "", &a) < 0 || a.npos < 1)
		return usage(G_ALIAS);
	if (strcmp(a.pos[0], "add") == 0 && a.npos >= 3)
		return change(run_alias_add, &a);
	if (strcmp(a.pos[0], "del") == 0 && (a.npos == 2 || a.npos == 3))
		return change(run_alias_del, &a);
	if (strcmp(a.pos[0], "list") == 0 && a.npos <= 2)
		return lookup(run_alias_list, &a);
	return usage(G_ALIAS);
}

/* ---- recipient (of relay domains) ---- */

static int
run_recipient(struct directory *dir, const struct args *a)
{
	const char *error;
	int rc = strcmp(a->pos[0], "add") == 0 ? directory_relay_rcpt_add(dir, a->pos[1], &error) :
	    directory_relay_rcpt_del(dir, a->pos[1], &error);

	return rc < 0 ? refused("%s", error) : 0;
}

static int
print_recipient(const char *addr, void *ctx)
{
	int *n = ctx;

	if (ctl_json) {
		printf("%s", *n > 0 ? "," : "");
		ctl_json_string(stdout, addr);
	} else {
		printf("%s\n", addr);
	}
	(*n)++;
	return 0;
}

static int
run_recipient_list(struct directory *dir, const struct args *a)
{
	struct dir_domain d;
	int n = 0, rc = directory_domain_get(dir, a->pos[1], &d);

	if (rc <= 0)
		return rc < 0 ? refused("directory: cannot read the domain") :
		    refused("unknown domain %s", a->pos[1]);
	if (ctl_json)
		printf("[");
	if (directory_relay_rcpt_foreach(dir, d.name, print_recipient, &n) < 0)
		return refused("directory: cannot list the recipients");
	if (ctl_json)
		printf("]\n");
	return 0;
}

int
ctl_recipient(int argc, char **argv)
{
	struct args a;

	if (parse_args(argc, argv, "", &a) < 0 || a.npos != 2)
		return usage(G_RECIPIENT);
	if (strcmp(a.pos[0], "add") == 0 || strcmp(a.pos[0], "del") == 0)
		return change(run_recipient, &a);
	if (strcmp(a.pos[0], "list") == 0)
		return lookup(run_recipient_list, &a);
	return usage(G_RECIPIENT);
}

/* ---- access ---- */

static int
run_access_change(struct directory *dir, const struct args *a)
{
	const char *verb = a->pos[0], *error;
	int rc;

	if (strcmp(verb, "del") == 0)
		rc = directory_access_del(dir, a->scope, a->pos[1], &error);
	else
		rc = directory_access_add(dir, a->scope, a->pos[1],
		    strcmp(verb, "allow") == 0 ? DIR_ACCESS_ALLOW : DIR_ACCESS_DENY, &error);
	return rc < 0 ? refused("%s", error) : 0;
}

static int
print_access(const char *scope, const char *pattern, enum dir_access action, void *ctx)
{
	int *n = ctx;

	if (ctl_json) {
		printf("%s{", *n > 0 ? "," : "");
		json_field("scope", scope, 1);
		json_field("pattern", pattern, 0);
		json_field("action", dir_access_str(action), 0);
		printf("}");
	} else if (scope[0] != '\0') {
		printf("%-5s %s --for %s\n", dir_access_str(action), pattern, scope);
	} else {
		printf("%-5s %s\n", dir_access_str(action), pattern);
	}
	(*n)++;
	return 0;
}

static int
run_access_list(struct directory *dir, const struct args *a)
{
	int n = 0;

	if (ctl_json)
		printf("[");
	if (directory_access_foreach(dir, print_access, &n) < 0)
		return refused("directory: cannot list the access entries");
	if (ctl_json)
		printf("]\n");
	return 0;
}

static int
run_access_check(struct directory *dir, const struct args *a)
{
	enum dir_access action;
	char matched[1024];

	if (directory_access(dir, a->client, a->sender != NULL ? a->sender : "", a->rcpt, &action,
	    matched, sizeof(matched)) < 0)
		return refused("directory: cannot read the access entries");
	if (ctl_json) {
		printf("{");
		json_field("action", dir_access_str(action), 1);
		json_field("matched", matched, 0);
		printf("}\n");
	} else {
		printf("%s\n", action == DIR_ACCESS_NONE ? "none" : matched);
	}
	return 0;
}

int
ctl_access(int argc, char **argv)
{
	struct args a;
	const char *verb;

	if (parse_args(argc, argv, "for client sender rcpt", &a) < 0 || a.npos < 1)
		return usage(G_ACCESS);
	verb = a.pos[0];
	if (strcmp(verb, "check") == 0) {
		unsigned char buf[16];
		if (a.npos != 1 || a.client == NULL || a.scope != NULL)
			return usage(G_ACCESS);
		if (inet_pton(AF_INET, a.client, buf) != 1 && inet_pton(AF_INET6, a.client, buf) != 1)
			return refused("bad client address %s", a.client);
		return lookup(run_access_check, &a);
	}
	if (a.client != NULL || a.sender != NULL || a.rcpt != NULL)
		return usage(G_ACCESS);
	if ((strcmp(verb, "allow") == 0 || strcmp(verb, "deny") == 0 || strcmp(verb, "del") == 0) &&
	    a.npos == 2)
		return change(run_access_change, &a);
	if (strcmp(verb, "list") == 0 && a.npos == 1 && a.scope == NULL)
		return lookup(run_access_list, &a);
	return usage(G_ACCESS);
}

/* ---- group ---- */

/* Apply --kind, --name, --description to g: 0, or the exit status printed. */
static int
group_fill(struct dir_group *g, const struct args *a)
{
	int kind;

	if (a->kind != NULL) {
		if ((kind = dir_group_kind_parse(a->kind)) < 0)
			return refused("bad group kind %s: list or alias", a->kind);
		g->kind = (enum dir_group_kind)kind;
	}
	if (a->name != NULL && str_copy(g->name, a->name, sizeof(g->name)) >= sizeof(g->name))
		return refused("group name too long");
	if (a->description != NULL &&
	    str_copy(g->description, a->description, sizeof(g->description)) >=
	    sizeof(g->description))
		return refused("group description too long");
	return 0;
}

/* Add the members in pos[first..]: each refusal is said, the others are added. */
static int
group_members_change(struct directory *dir, const char *group, const struct args *a, int first,
    int add)
{
	const char *error;
	int rc = 0;

	for (int i = first; i < a->npos; i++)
		if ((add ? directory_group_member_add(dir, group, a->pos[i], &error) :
		    directory_group_member_del(dir, group, a->pos[i], &error)) < 0)
			rc = refused("%s", error);
	return rc;
}

static int
run_group_add(struct directory *dir, const struct args *a)
{
	struct dir_group g;
	const char *error;

	memset(&g, 0, sizeof(g));
	if (str_copy(g.address, a->pos[1], sizeof(g.address)) >= sizeof(g.address))
		return refused("bad address %s", a->pos[1]);
	if (group_fill(&g, a) != 0)
		return 1;
	if (directory_group_add(dir, &g, &error) < 0)
		return refused("%s", error);
	return group_members_change(dir, g.address, a, 2, 1);
}

static int
run_group_set(struct directory *dir, const struct args *a)
{
	struct dir_group g;
	const char *error;
	int rc;

	if ((rc = directory_group_get(dir, a->pos[1], &g)) <= 0)
		return rc < 0 ? refused("directory: cannot read the group") :
		    refused("no such group %s", a->pos[1]);
	if (group_fill(&g, a) != 0)
		return 1;
	if (directory_group_update(dir, &g, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_group_del(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_group_del(dir, a->pos[1], &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_group_member(struct directory *dir, const struct args *a)
{
	return group_members_change(dir, a->pos[2], a, 3, strcmp(a->pos[1], "add") == 0);
}

static int
count_member(const char *member, void *ctx)
{
	(*(long *)ctx)++;
	return 0;
}

static int
print_member(const char *member, void *ctx)
{
	int *n = ctx;

	if (ctl_json) {
		printf("%s", *n > 0 ? "," : "");
		ctl_json_string(stdout, member);
	} else {
		printf("  %s\n", member);
	}
	(*n)++;
	return 0;
}

struct group_print {
	struct directory *dir;
	int n;
};

static int
print_group(const struct dir_group *g, void *ctx)
{
	struct group_print *p = ctx;
	long members = 0;

	if (directory_group_member_foreach(p->dir, g->address, count_member, &members) < 0)
		return -1;
	if (ctl_json) {
		printf("%s{", p->n > 0 ? "," : "");
		json_field("address", g->address, 1);
		json_field("kind", dir_group_kind_str(g->kind), 0);
		json_field("name", g->name, 0);
		json_field("description", g->description, 0);
		printf(",\"members\":%ld}", members);
	} else {
		printf("%s %s members=%ld", g->address, dir_group_kind_str(g->kind), members);
		if (g->name[0] != '\0')
			printf(" name=\"%s\"", g->name);
		printf("\n");
	}
	p->n++;
	return 0;
}

static int
run_group_list(struct directory *dir, const struct args *a)
{
	struct group_print p = { .dir = dir };

	if (ctl_json)
		printf("[");
	if (directory_group_foreach(dir, a->npos > 1 ? a->pos[1] : NULL, print_group, &p) < 0)
		return refused("directory: cannot list the groups");
	if (ctl_json)
		printf("]\n");
	return 0;
}

static int
run_group_show(struct directory *dir, const struct args *a)
{
	struct dir_group g;
	int n = 0, rc;

	if ((rc = directory_group_get(dir, a->pos[1], &g)) <= 0)
		return rc < 0 ? refused("directory: cannot read the group") :
		    refused("no such group %s", a->pos[1]);
	if (ctl_json) {
		printf("{");
		json_field("address", g.address, 1);
		json_field("kind", dir_group_kind_str(g.kind), 0);
		json_field("name", g.name, 0);
		json_field("description", g.description, 0);
		printf(",\"members\":[");
	} else {
		printf("address: %s\nkind: %s\n", g.address, dir_group_kind_str(g.kind));
		if (g.name[0] != '\0')
			printf("name: %s\n", g.name);
		if (g.description[0] != '\0')
			printf("description: %s\n", g.description);
		printf("members:\n");
	}
	if (directory_group_member_foreach(dir, g.address, print_member, &n) < 0)
		return refused("directory: cannot list the members");
	if (ctl_json)
		printf("]}\n");
	return 0;
}

int
ctl_group(int argc, char **argv)
{
	struct args a;
	const char *verb;
	int opts;

	if (parse_args(argc, argv, "kind name description", &a) < 0 || a.npos < 1)
		return usage(G_GROUP);
	verb = a.pos[0];
	opts = a.kind != NULL || a.name != NULL || a.description != NULL;
	if (strcmp(verb, "add") == 0 && a.npos >= 2)
		return change(run_group_add, &a);
	if (strcmp(verb, "set") == 0 && a.npos == 2 && opts)
		return change(run_group_set, &a);
	if (opts)
		return usage(G_GROUP);
	if (strcmp(verb, "del") == 0 && a.npos == 2)
		return change(run_group_del, &a);
	if (strcmp(verb, "member") == 0 && a.npos >= 4 &&
	    (strcmp(a.pos[1], "add") == 0 || strcmp(a.pos[1], "del") == 0))
		return change(run_group_member, &a);
	if (strcmp(verb, "list") == 0 && a.npos <= 2)
		return lookup(run_group_list, &a);
	if (strcmp(verb, "show") == 0 && a.npos == 2)
		return lookup(run_group_show, &a);
	return usage(G_GROUP);
}

/* ---- resource ---- */

static int
resource_fill(struct dir_resource *r, const struct args *a)
{
	long v;
	char *end;
	int kind;

	if (a->kind != NULL) {
		if ((kind = dir_resource_kind_parse(a->kind)) < 0)
			return refused("bad resource kind %s: room or equipment", a->kind);
		r->kind = (enum dir_resource_kind)kind;
	}
	if (a->capacity != NULL) {
		errno = 0;
		v = strtol(a->capacity, &end, 10);
		if (errno != 0 || end == a->capacity || *end != '\0' || v < 0 ||
		    v > DIR_CAPACITY_MAX)
			return refused("bad capacity %s: a number of people, 0 to %d", a->capacity,
			    DIR_CAPACITY_MAX);
		r->capacity = (int)v;
	}
	if ((a->name != NULL && str_copy(r->name, a->name, sizeof(r->name)) >= sizeof(r->name)) ||
	    (a->category != NULL &&
	    str_copy(r->category, a->category, sizeof(r->category)) >= sizeof(r->category)) ||
	    (a->description != NULL &&
	    str_copy(r->description, a->description, sizeof(r->description)) >=
	    sizeof(r->description)))
		return refused("text too long: at most %d bytes", DIR_TEXT_SIZE - 1);
	return 0;
}

static int
run_resource_add(struct directory *dir, const struct args *a)
{
	struct dir_resource r;
	const char *error;

	memset(&r, 0, sizeof(r));
	r.enabled = 1;
	if (str_copy(r.address, a->pos[1], sizeof(r.address)) >= sizeof(r.address))
		return refused("bad address %s", a->pos[1]);
	if (a->kind == NULL)
		return refused("resource %s: --kind room or equipment is needed", a->pos[1]);
	if (resource_fill(&r, a) != 0)
		return 1;
	if (directory_resource_add(dir, &r, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_resource_set(struct directory *dir, const struct args *a)
{
	struct dir_resource r;
	const char *error;
	int rc;

	if ((rc = directory_resource_get(dir, a->pos[1], &r)) <= 0)
		return rc < 0 ? refused("directory: cannot read the resource") :
		    refused("no such resource %s", a->pos[1]);
	if (resource_fill(&r, a) != 0)
		return 1;
	if (directory_resource_update(dir, &r, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_resource_del(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_resource_del(dir, a->pos[1], &error) < 0)
		return refused("%s", error);
	return 0;
}

static void
resource_json(const struct dir_resource *r)
{
	json_field("address", r->address, 1);
	json_field("kind", dir_resource_kind_str(r->kind), 0);
	json_field("name", r->name, 0);
	printf(",\"capacity\":%d", r->capacity);
	json_field("category", r->category, 0);
	json_field("description", r->description, 0);
	printf(",\"enabled\":%s", r->enabled ? "true" : "false");
}

static int
print_resource(const struct dir_resource *r, void *ctx)
{
	int *n = ctx;

	if (ctl_json) {
		printf("%s{", *n > 0 ? "," : "");
		resource_json(r);
		printf("}");
	} else {
		printf("%s %s", r->address, dir_resource_kind_str(r->kind));
		if (r->capacity > 0)
			printf(" capacity=%d", r->capacity);
		if (r->category[0] != '\0')
			printf(" category=\"%s\"", r->category);
		if (r->name[0] != '\0')
			printf(" name=\"%s\"", r->name);
		printf("%s\n", r->enabled ? "" : " disabled");
	}
	(*n)++;
	return 0;
}

static int
run_resource_list(struct directory *dir, const struct args *a)
{
	int n = 0;

	if (ctl_json)
		printf("[");
	if (directory_resource_foreach(dir, a->npos > 1 ? a->pos[1] : NULL, print_resource, &n) < 0)
		return refused("directory: cannot list the resources");
	if (ctl_json)
		printf("]\n");
	return 0;
}

static int
run_resource_show(struct directory *dir, const struct args *a)
{
	struct dir_resource r;
	int rc;

	if ((rc = directory_resource_get(dir, a->pos[1], &r)) <= 0)
		return rc < 0 ? refused("directory: cannot read the resource") :
		    refused("no such resource %s", a->pos[1]);
	if (ctl_json) {
		printf("{");
		resource_json(&r);
		printf("}\n");
	} else {
		printf("address: %s\nkind: %s\nname: %s\ncapacity: %d\ncategory: %s\n"
		    "description: %s\nenabled: %s\n", r.address, dir_resource_kind_str(r.kind), r.name,
		    r.capacity, r.category, r.description, r.enabled ? "yes" : "no");
	}
	return 0;
}

int
ctl_resource(int argc, char **argv)
{
	struct args a;
	const char *verb;
	int opts;

	if (parse_args(argc, argv, "kind name capacity category description", &a) < 0 ||
	    a.npos < 1)
		return usage(G_RESOURCE);
	verb = a.pos[0];
	opts = a.kind != NULL || a.name != NULL || a.capacity != NULL || a.category != NULL ||
	    a.description != NULL;
	if (strcmp(verb, "add") == 0 && a.npos == 2)
		return change(run_resource_add, &a);
	if (strcmp(verb, "set") == 0 && a.npos == 2 && opts)
		return change(run_resource_set, &a);
	if (opts)
		return usage(G_RESOURCE);
	if (strcmp(verb, "del") == 0 && a.npos == 2)
		return change(run_resource_del, &a);
	if (strcmp(verb, "list") == 0 && a.npos <= 2)
		return lookup(run_resource_list, &a);
	if (strcmp(verb, "show") == 0 && a.npos == 2)
		return lookup(run_resource_show, &a);
	return usage(G_RESOURCE);
}

/* ---- admin ---- */

#define ADMIN_DOMAINS_MAX 1000

/* Split --domains into at most ADMIN_DOMAINS_MAX names (in buf): their count, -1 if too many. */
static int
split_domains(const char *list, char *buf, size_t size, const char **v)
{
	char *save = NULL;
	int n = 0;

	if (list == NULL)
		return 0;
	str_copy(buf, list, size);
	for (char *w = strtok_r(buf, ", \t", &save); w != NULL; w = strtok_r(NULL, ", \t", &save)) {
		if (n == ADMIN_DOMAINS_MAX)
			return -1;
		v[n++] = w;
	}
	return n;
}

static int
admin_domains_arg(const struct args *a, char **buf, const char ***v, int *n)
{
	size_t size = a->domains != NULL ? strlen(a->domains) + 1 : 1;

	*buf = xmalloc(size);
	*v = xcalloc(ADMIN_DOMAINS_MAX, sizeof(**v));
	if ((*n = split_domains(a->domains, *buf, size, *v)) < 0)
		return refused("more than %d domains: make the admin global", ADMIN_DOMAINS_MAX);
	if (a->domains != NULL && *n == 0)
		return refused("--domains names no domain");
	return 0;
}

/* The hash to store: --hash checked, or the password read (as account passwd) hashed. */
static int
admin_hash(const struct args *a, const char *name, char *hash, size_t size)
{
	char pw[PASSWORD_BUF];
	const char *error;
	int rc;

	if (a->hash != NULL) {
		if (auth_hash_check(a->hash, &error) < 0)
			return refused("%s", error);
		str_copy(hash, a->hash, size);
		return 0;
	}
	if ((rc = get_password(name, pw, sizeof(pw))) == 0 &&
	    auth_hash_password(pw, 0, hash, size, &error) < 0)
		rc = refused("cannot hash the password: %s", error);
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

static int
run_admin_add(struct directory *dir, const struct args *a)
{
	char *buf, hash[AUTH_HASH_SIZE] = "";
	const char **v, *error;
	int n, rc;

	if ((rc = admin_domains_arg(a, &buf, &v, &n)) == 0 && a->hash != NULL)
		rc = admin_hash(a, a->pos[1], hash, sizeof(hash));
	if (rc == 0 && directory_admin_add(dir, a->pos[1], hash, a->global != NULL, v, (size_t)n,
	    &error) < 0)
		rc = refused("%s", error);
	free(buf);
	free(v);
	return rc;
}

static int
run_admin_set(struct directory *dir, const struct args *a)
{
	char *buf;
	const char **v, *error;
	int n, rc;

	if ((rc = admin_domains_arg(a, &buf, &v, &n)) == 0 &&
	    directory_admin_set_domains(dir, a->pos[1], a->global != NULL, v, (size_t)n,
	    &error) < 0)
		rc = refused("%s", error);
	free(buf);
	free(v);
	return rc;
}

static int
run_admin_passwd(struct directory *dir, const struct args *a)
{
	char hash[AUTH_HASH_SIZE];
	struct dir_admin ad;
	const char *error;
	int rc;

	switch (directory_admin_get(dir, a->pos[1], &ad)) {
	case 0:
		return refused("no such admin %s", a->pos[1]);
	case -1:
		return refused("directory: cannot read the admin");
	}
	if ((rc = admin_hash(a, ad.name, hash, sizeof(hash))) != 0)
		return rc;
	if (directory_admin_set_password(dir, ad.name, hash, &error) < 0)
		return refused("%s", error);
	return 0;
}

static int
run_admin_del(struct directory *dir, const struct args *a)
{
	const char *error;

	if (directory_admin_del(dir, a->pos[1], &error) < 0)
		return refused("%s", error);
	return 0;
}

struct admin_print {
	struct directory *dir;
	int n, ndomains;
};

static int
print_admin_domain(const char *domain, void *ctx)
{
	struct admin_print *p = ctx;

	if (ctl_json) {
		printf("%s", p->ndomains > 0 ? "," : "");
		ctl_json_string(stdout, domain);
	} else {
		printf("%s%s", p->ndomains > 0 ? "," : " domains=", domain);
	}
	p->ndomains++;
	return 0;
}

static int
print_admin(const struct dir_admin *ad, void *ctx)
{
	struct admin_print *p = ctx;

	p->ndomains = 0;
	if (ctl_json) {
		printf("%s{", p->n > 0 ? "," : "");
		json_field("name", ad->name, 1);
		printf(",\"global\":%s,\"password\":%s,\"created\":%lld,\"domains\":[",
		    ad->global ? "true" : "false", ad->password[0] != '\0' ? "true" : "false",
		    ad->created);
	} else {
		printf("%s%s", ad->name, ad->global ? " global" : "");
	}
	if (directory_admin_domain_foreach(p->dir, ad->name, print_admin_domain, p) < 0)
		return -1;
	if (ctl_json)
		printf("]}");
	else
		printf("%s\n", ad->password[0] != '\0' ? "" : " no-password");
	p->n++;
	return 0;
}

static int
run_admin_list(struct directory *dir, const struct args *a)
{
	struct admin_print p = { .dir = dir };

	if (ctl_json)
		printf("[");
	if (directory_admin_foreach(dir, print_admin, &p) < 0)
		return refused("directory: cannot list the admins");
	if (ctl_json)
		printf("]\n");
	return 0;
}

int
ctl_admin(int argc, char **argv)
{
	struct args a;
	const char *verb;
	int scope;

	if (parse_args(argc, argv, "domains global hash", &a) < 0 || a.npos < 1)
		return usage(G_ADMIN);
	verb = a.pos[0];
	scope = (a.domains != NULL) + (a.global != NULL);
	if (strcmp(verb, "add") == 0 && a.npos == 2 && scope == 1)
		return change(run_admin_add, &a);
	if (strcmp(verb, "set") == 0 && a.npos == 2 && scope == 1 && a.hash == NULL)
		return change(run_admin_set, &a);
	if (scope != 0)
		return usage(G_ADMIN);
	if (strcmp(verb, "passwd") == 0 && a.npos == 2)
		return change(run_admin_passwd, &a);
	if (a.hash != NULL)
		return usage(G_ADMIN);
	if (strcmp(verb, "del") == 0 && a.npos == 2)
		return change(run_admin_del, &a);
	if (strcmp(verb, "list") == 0 && a.npos == 1)
		return lookup(run_admin_list, &a);
	return usage(G_ADMIN);
}
