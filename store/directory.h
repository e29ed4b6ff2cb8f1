/* SPDX-License-Identifier: MIT */
/*
 * directory - the one source of truth for domains, accounts, aliases,
 * relay recipients and allow/deny lists, in SQLite.
 *
 * Readers (smtpd, qmgr, policyd) open it read-only and look up with
 * prepared statements: a lookup is a few B-tree reads from the page cache,
 * cheap enough for an event loop.  Writers (facteurctl, later the admin
 * API and CSV import) open it read-write; the database is in WAL mode so
 * a write never blocks readers, and readers see a change at their next
 * lookup without a reload.
 *
 * Names are stored and compared in lower case (domains wholly; the local
 * part of addresses too, as every mail system in practice does), a
 * domain's trailing dot dropped.  Sub-addresses: "user+tag@domain" that
 * is not itself an account, alias or relay recipient resolves as
 * "user@domain" (the delimiter is '+', fixed).
 *
 * A handle is used by one thread at a time (SQLITE_OPEN_NOMUTEX): a
 * process with several threads looking up opens one per thread.
 *
 * The file: one table per kind of entry (domains, accounts, aliases,
 * relay_recipients, access, app_passwords, profiles, groups, resources,
 * admins), its version in PRAGMA user_version (4; a writer upgrades an
 * older file when it opens it; a reader sees the tables an older file
 * lacks as empty).  Writers keep the -wal and -shm files when they close, so that
 * daemons opening it read-only never need to create them.
 *
 * Accounts carry what authentication needs (store/auth.h reads it): a
 * password hash, app passwords (one hash each, with their last use) and a
 * profile naming the services the account may use, its quota and its
 * retention.
 *
 * Groups are aliases with a name: their members are the alias's targets,
 * so a message to a group is expanded at RCPT exactly as one to an alias.
 * Resources (rooms, equipment) are accounts without a password that
 * receive invitations, with what a booking needs to know of them.  Domain
 * admins are the people who may administer some domains (or all): a name,
 * a password hash and their domains.
 *
 * A batch (directory_batch_begin/end) runs many changes as one
 * transaction, each change in its own savepoint: the CSV import applies a
 * whole file, or nothing, in one commit.
 */
#ifndef FACTEUR_DIRECTORY_H
#define FACTEUR_DIRECTORY_H

#include <stddef.h>

struct directory;

enum dir_domain_kind {
	DIR_DOMAIN_LOCAL = 1,	/* mailboxes here: recipients are accounts, aliases, catch-all */
	DIR_DOMAIN_RELAY,	/* accepted and relayed to the domain's next hop */
	DIR_DOMAIN_BACKUP,	/* backup MX: accepted, held and passed to the primary MX */
};

enum dir_verify {
	DIR_VERIFY_NONE = 0,	/* relay domain: every recipient accepted */
	DIR_VERIFY_LIST,	/* relay domain: only the recipients listed (directory_relay_rcpt_*) */
	DIR_VERIFY_PROBE,	/* relay domain: ask the next hop (RCPT probe, cached) */
};

struct dir_domain {
	char name[256];
	enum dir_domain_kind kind;
	enum dir_verify verify;
	char nexthop[300];	/* relay/backup: [host]:port or host, "" for MX lookup */
	char catchall[320];	/* local: address receiving unknown local parts, "" if none */
};

/* How a recipient of one of our domains resolves. */
enum dir_rcpt {
	DIR_RCPT_NOT_OURS = 0,	/* its domain is not in the directory */
	DIR_RCPT_UNKNOWN,	/* our domain, no such recipient: refuse with 550 5.1.1 */
	DIR_RCPT_ACCOUNT,	/* a local account */
	DIR_RCPT_ALIAS,		/* an alias (expand with directory_alias_expand) */
	DIR_RCPT_CATCHALL,	/* unknown local part of a domain with a catch-all */
	DIR_RCPT_RELAY,		/* relay or backup domain that accepts it (verify NONE or LIST hit) */
	DIR_RCPT_PROBE,		/* relay domain with verify PROBE: ask the next hop */
	DIR_RCPT_DISABLED,	/* an account that exists but is disabled: 550 5.2.1 */
};

/* Access lists: what a matching entry says. */
enum dir_access {
	DIR_ACCESS_NONE = 0,	/* no entry matched */
	DIR_ACCESS_ALLOW,	/* skip greylisting, DNSBL and rate limits (never relaying rights) */
	DIR_ACCESS_DENY,	/* refuse with 554 5.7.1 */
};

/* directory_open's modes. */
#define DIRECTORY_READWRITE	0	/* writers: create and upgrade */
#define DIRECTORY_READONLY	1	/* lookups only */
#define DIRECTORY_UPDATE	2	/* lookups, and a daemon's small writes (an app password's use) */

/*
 * Open path.  DIRECTORY_READONLY: lookups only (the file must exist:
 * otherwise NULL with "PATH: no directory database ...").
 * DIRECTORY_READWRITE: the file and schema are created if missing and the
 * schema upgraded.  DIRECTORY_UPDATE: read-write, but the file must exist
 * with the current schema (a daemon never creates nor upgrades it).  NULL
 * and *error_r set (text owned by the calling thread, valid until its
 * next directory call) on failure.
 */
struct directory *directory_open(const char *path, int readonly, const char **error_r);
void directory_close(struct directory **dir);
/* The path of var_directory_database, with its default applied (static). */
const char *directory_default_path(void);
/* The path dir was opened with. */
const char *directory_path(const struct directory *dir);

/* ---- lookups (readers) ---- */

/* 1 and *out filled if domain is ours, 0 if not, -1 on a database error. */
int directory_domain_get(struct directory *dir, const char *domain, struct dir_domain *out);
/*
 * Resolve addr (local@domain) into *out, 0; -1 on a database error.  A
 * malformed address is DIR_RCPT_NOT_OURS.  target (if not NULL) receives
 * the directory entry that answered: the catch-all address for
 * DIR_RCPT_CATCHALL, the account or alias ("user@domain" for
 * "user+tag@domain") for ACCOUNT, DISABLED and ALIAS, "" otherwise.
 * Order in a local domain: account, alias, the same without the
 * extension, catch-all.
 */
int directory_recipient(struct directory *dir, const char *addr, enum dir_rcpt *out,
    char *target, size_t target_size);
/*
 * Expand aliases recursively (at most 10 levels, at most max results,
 * loops cut): fills targets (each malloc'd, caller frees) with the final
 * addresses, without duplicates, and returns their count, or -1 on a
 * database error (nothing left to free).  An address that is not an alias
 * expands to itself, as does an account (final even if an alias of the
 * same name existed) and an external address.  A target leading back to
 * an alias being expanded is dropped (logged), so 0 means every target
 * looped: treat the recipient as unknown.  An alias still expanding at
 * the 11th level is kept as it is (logged).  Targets beyond max are
 * dropped (logged).  "user+tag@domain" with no entry of its own expands
 * as "user@domain" (an account there: to "user+tag@domain" itself).
 */
int directory_alias_expand(struct directory *dir, const char *addr, char **targets, size_t max);
/*
 * The allow/deny lists for a message from client_ip (text; NULL or ""
 * if unknown) with envelope sender (may be "" or NULL) to rcpt (may be
 * NULL: only global entries).  Entries are looked up most specific scope
 * first (the recipient address, the same without its +extension, its
 * domain, then global); the first scope with a matching entry decides,
 * and in one scope a deny wins over an allow.  A scope's entries match
 * the client address (exact or in a network), the sender address (or the
 * same without its +extension), the sender's domain ("example.org"
 * exactly) or its parent domains (".example.org" matches
 * "mail.example.org", not "example.org").  matched (if not NULL) receives
 * the entry that decided: "deny 192.0.2.0/24 (scope example.org)",
 * "allow 2001:db8::/32 (global)"; "" for none.  -1 on a database error.
 */
int directory_access(struct directory *dir, const char *client_ip, const char *sender,
    const char *rcpt, enum dir_access *out, char *matched, size_t matched_size);

/* ---- administration (writers); 0 ok, -1 with *error_r (static text) ---- */

/*
 * Fields that do not fit the kind are refused: verify other than NONE
 * except for RELAY, a next hop for LOCAL, a catch-all except for LOCAL.
 */
int directory_domain_add(struct directory *dir, const struct dir_domain *d, const char **error_r);
/*
 * Replace the settings of domain d->name.  Refused when entries would be
 * orphaned: a LOCAL domain with accounts or aliases changing kind, a
 * relay domain with listed recipients changing kind or verify.
 */
int directory_domain_update(struct directory *dir, const struct dir_domain *d,
    const char **error_r);
/* Refused, listing what is left, while accounts, aliases, relay recipients or access entries use it. */
int directory_domain_del(struct directory *dir, const char *name, const char **error_r);
/*
 * Listings: fn for each entry in name order (domain NULL: of every
 * domain); each stops when fn returns non-zero and returns that value, 0
 * when all were seen, -1 on a database error.
 */
int directory_domain_foreach(struct directory *dir,
    int (*fn)(const struct dir_domain *d, void *ctx), void *ctx);

/* An account in a LOCAL domain, enabled; refused if addr is an alias or a group. */
int directory_account_add(struct directory *dir, const char *addr, const char **error_r);
/* Refused for a resource (directory_resource_del). */
int directory_account_del(struct directory *dir, const char *addr, const char **error_r);
int directory_account_set_enabled(struct directory *dir, const char *addr, int enabled,
    const char **error_r);
int directory_account_foreach(struct directory *dir, const char *domain,
    int (*fn)(const char *addr, int enabled, void *ctx), void *ctx);

/*
 * One alias address (in a LOCAL domain, not an account nor a group) may
 * have many targets (any address, here or elsewhere, not itself): each
 * add adds one.  A group's members are not listed as aliases, and
 * directory_alias_del refuses a group.
 */
int directory_alias_add(struct directory *dir, const char *addr, const char *target,
    const char **error_r);
/* target NULL: every target of addr. */
int directory_alias_del(struct directory *dir, const char *addr, const char *target,
    const char **error_r);
int directory_alias_foreach(struct directory *dir, const char *domain,
    int (*fn)(const char *addr, const char *target, void *ctx), void *ctx);
/* The targets of one alias (not a group) in address order; none for an unknown alias. */
int directory_alias_target_foreach(struct directory *dir, const char *addr,
    int (*fn)(const char *target, void *ctx), void *ctx);

/* Recipients of a RELAY domain with verify LIST. */
int directory_relay_rcpt_add(struct directory *dir, const char *addr, const char **error_r);
int directory_relay_rcpt_del(struct directory *dir, const char *addr, const char **error_r);
int directory_relay_rcpt_foreach(struct directory *dir, const char *domain,
    int (*fn)(const char *addr, void *ctx), void *ctx);

/*
 * Access entries.  scope: "" or NULL (global), a domain of the directory,
 * or an address in one (per user).  pattern: an IP address, a CIDR network
 * (IPv4 or IPv6; stored with its host bits cleared), an address
 * (user@domain), a domain ("example.org", matching the sender's domain),
 * "@example.org" with the same meaning (stored as "example.org"), or
 * ".example.org" matching the sender domain's subdomains.  action ALLOW
 * or DENY.  Adding an existing (scope, pattern) replaces its action.
 */
int directory_access_add(struct directory *dir, const char *scope, const char *pattern,
    enum dir_access action, const char **error_r);
int directory_access_del(struct directory *dir, const char *scope, const char *pattern,
    const char **error_r);
int directory_access_foreach(struct directory *dir,
    int (*fn)(const char *scope, const char *pattern, enum dir_access action, void *ctx),
    void *ctx);

/* ---- accounts' authentication data, profiles ---- */

/* Sizes of the fields below, NUL included. */
#define DIR_ADDR_SIZE		320
#define DIR_HASH_SIZE		256
#define DIR_NAME_SIZE		64
#define DIR_SERVICES_SIZE	128
#define DIR_TEXT_SIZE		256	/* display names, categories, descriptions */
/* App passwords an account may have (each is tried at every login). */
#define DIR_APP_PASSWORDS_MAX	20
/* The services a profile may name, and those of an account without one. */
#define DIR_SERVICES_ALL	"smtp,imap,sieve,dav,xmpp"

struct dir_account {
	char address[DIR_ADDR_SIZE];
	int enabled;
	long long created;		/* Unix time */
	char password[DIR_HASH_SIZE];	/* its hash, "" if none */
	char profile[DIR_NAME_SIZE];	/* "" if none: every service, no quota */
	char name[DIR_TEXT_SIZE];	/* display name, "" if none */
	int resource;			/* 1: a resource's account (directory_resource_get) */
};

struct dir_app_password {
	char name[DIR_NAME_SIZE];
	char hash[DIR_HASH_SIZE];
	long long created;
	long long last_used;		/* 0: never */
};

/*
 * Where a profile's retention applies: the Trash and Junk mailboxes
 * (their SPECIAL-USE), or every mailbox.
 */
enum dir_retention_scope {
	DIR_RETENTION_TRASH = 0,	/* the default */
	DIR_RETENTION_ALL,
};

struct dir_profile {
	char name[DIR_NAME_SIZE];
	long long quota_bytes;		/* 0: no quota */
	int retention_days;		/* 0: kept for ever */
	enum dir_retention_scope retention_scope;
	char services[DIR_SERVICES_SIZE];	/* "smtp,imap", normalized; "" none */
};

/* Lookups: 1 and *out filled, 0 if there is none, -1 on a database error. */
int directory_account_get(struct directory *dir, const char *addr, struct dir_account *out);
int directory_profile_get(struct directory *dir, const char *name, struct dir_profile *out);
/* 1 if the directory has at least one account, 0 if none, -1 on a database error. */
int directory_has_accounts(struct directory *dir);
/*
 * The app passwords of addr in name order; as the other listings (fn's
 * non-zero stops; -1 on a database error).  An unknown account has none.
 */
int directory_app_password_foreach(struct directory *dir, const char *addr,
    int (*fn)(const struct dir_app_password *ap, void *ctx), void *ctx);

/*
 * Writers; 0, or -1 with *error_r.  Hashes are stored as given: the
 * caller (store/auth.h) makes and checks them; NULL or "" removes the
 * account's password.
 */
int directory_account_set_password(struct directory *dir, const char *addr, const char *hash,
    const char **error_r);
/* profile NULL or "": none. */
int directory_account_set_profile(struct directory *dir, const char *addr, const char *profile,
    const char **error_r);
/*
 * The display name ("Alice Martin"; NULL or "": none): UTF-8 text of at
 * most DIR_TEXT_SIZE - 1 bytes without control characters.
 */
int directory_account_set_name(struct directory *dir, const char *addr, const char *name,
    const char **error_r);
/*
 * Every account (resources included: acc->resource says) of domain (NULL:
 * all) in address order, with what directory_account_get gives; as the
 * other listings.
 */
int directory_account_foreach_full(struct directory *dir, const char *domain,
    int (*fn)(const struct dir_account *acc, void *ctx), void *ctx);
/*
 * An app password: name is 1 to 63 letters, digits, '.', '_', '-' (kept
 * as given, compared exactly); refused if the account has one of that name
 * or DIR_APP_PASSWORDS_MAX already.
 */
int directory_app_password_add(struct directory *dir, const char *addr, const char *name,
    const char *hash, const char **error_r);
int directory_app_password_del(struct directory *dir, const char *addr, const char *name,
    const char **error_r);
/* Record a successful login with it at when (Unix time); works on a DIRECTORY_UPDATE handle. */
int directory_app_password_used(struct directory *dir, const char *addr, const char *name,
    long long when, const char **error_r);
/*
 * Profiles: name is 1 to 63 of a-z, 0-9, '.', '_', '-' (lower-cased);
 * services a list of DIR_SERVICES_ALL's names separated by commas or
 * blanks (normalized: known order, no duplicates).
 */
int directory_profile_add(struct directory *dir, const struct dir_profile *p,
    const char **error_r);
int directory_profile_update(struct directory *dir, const struct dir_profile *p,
    const char **error_r);
/* Refused, with their count, while accounts use it. */
int directory_profile_del(struct directory *dir, const char *name, const char **error_r);
int directory_profile_foreach(struct directory *dir,
    int (*fn)(const struct dir_profile *p, void *ctx), void *ctx);
/* Normalize a services list into out (DIR_SERVICES_SIZE); -1 with *error_r if a name is unknown. */
int dir_services_norm(const char *list, char *out, const char **error_r);
/* Is service in the normalized list? */
int dir_services_has(const char *list, const char *service);

/* ---- groups, resources, domain admins ---- */

/*
 * A group's kind: both deliver to every member as an alias does; a list's
 * members are shown to the directory's users (an address book expands
 * it), an alias-style group is shown as one address.
 */
enum dir_group_kind {
	DIR_GROUP_LIST = 0,
	DIR_GROUP_ALIAS,
};

struct dir_group {
	char address[DIR_ADDR_SIZE];
	enum dir_group_kind kind;
	char name[DIR_TEXT_SIZE];		/* "" if none */
	char description[DIR_TEXT_SIZE];	/* "" if none */
};

enum dir_resource_kind {
	DIR_RESOURCE_ROOM = 1,
	DIR_RESOURCE_EQUIPMENT,
};

#define DIR_CAPACITY_MAX 100000

struct dir_resource {
	char address[DIR_ADDR_SIZE];
	enum dir_resource_kind kind;
	char name[DIR_TEXT_SIZE];		/* its account's display name */
	int capacity;				/* people (a room), 0: not said */
	char category[DIR_TEXT_SIZE];		/* "projector", "building A", "" */
	char description[DIR_TEXT_SIZE];
	int enabled;				/* its account's */
};

struct dir_admin {
	char name[DIR_ADDR_SIZE];	/* an address, or 1 to 63 of a-z 0-9 . _ - */
	char password[DIR_HASH_SIZE];	/* its hash, "" if none */
	int global;			/* every domain, present and future */
	long long created;
};

/*
 * A group at an address of a LOCAL domain that is no account nor alias;
 * its members are added one by one.  update changes kind, name and
 * description.  del removes it with its members.
 */
int directory_group_add(struct directory *dir, const struct dir_group *g, const char **error_r);
int directory_group_update(struct directory *dir, const struct dir_group *g,
    const char **error_r);
int directory_group_del(struct directory *dir, const char *addr, const char **error_r);
/* A member is any address but the group's own; refused if it is a member already. */
int directory_group_member_add(struct directory *dir, const char *group, const char *member,
    const char **error_r);
int directory_group_member_del(struct directory *dir, const char *group, const char *member,
    const char **error_r);
/* 1 and *out, 0 if addr is no group, -1 on a database error. */
int directory_group_get(struct directory *dir, const char *addr, struct dir_group *out);
int directory_group_foreach(struct directory *dir, const char *domain,
    int (*fn)(const struct dir_group *g, void *ctx), void *ctx);
/* The members of group in address order (none for an unknown group). */
int directory_group_member_foreach(struct directory *dir, const char *group,
    int (*fn)(const char *member, void *ctx), void *ctx);

/*
 * A resource: an account (enabled, no password, r->name its display name)
 * and its booking data.  capacity 0 to DIR_CAPACITY_MAX; category and
 * description text as a display name.  update changes everything but the
 * address (enabled included); del removes the account too.
 */
int directory_resource_add(struct directory *dir, const struct dir_resource *r,
    const char **error_r);
int directory_resource_update(struct directory *dir, const struct dir_resource *r,
    const char **error_r);
int directory_resource_del(struct directory *dir, const char *addr, const char **error_r);
int directory_resource_get(struct directory *dir, const char *addr, struct dir_resource *out);
int directory_resource_foreach(struct directory *dir, const char *domain,
    int (*fn)(const struct dir_resource *r, void *ctx), void *ctx);

/*
 * Domain admins.  domains: n names of the directory (any kind); global
 * admins have none (refused with global).  An admin has a password hash
 * (store/auth.h makes it), may be added without one, and is global or
 * has at least one domain.  Deleting a domain takes it from its admins.
 */
int directory_admin_add(struct directory *dir, const char *name, const char *hash, int global,
    const char *const *domains, size_t n, const char **error_r);
/* Replace the admin's domains (or make it global). */
int directory_admin_set_domains(struct directory *dir, const char *name, int global,
    const char *const *domains, size_t n, const char **error_r);
int directory_admin_set_password(struct directory *dir, const char *name, const char *hash,
    const char **error_r);
int directory_admin_del(struct directory *dir, const char *name, const char **error_r);
int directory_admin_get(struct directory *dir, const char *name, struct dir_admin *out);
int directory_admin_foreach(struct directory *dir,
    int (*fn)(const struct dir_admin *a, void *ctx), void *ctx);
/* The admin's domains in name order (none for a global admin). */
int directory_admin_domain_foreach(struct directory *dir, const char *name,
    int (*fn)(const char *domain, void *ctx), void *ctx);
/* May admin name administer domain? 1 yes, 0 no (or no such admin), -1 database error. */
int directory_admin_may(struct directory *dir, const char *name, const char *domain);

/* ---- batches ---- */

/*
 * Begin a batch: every change until directory_batch_end is part of one
 * transaction (each change in a savepoint of its own, so a refused one
 * leaves the others).  Lookups inside the batch see its changes.
 * directory_batch_end commits (commit non-zero) or rolls everything back.
 */
int directory_batch_begin(struct directory *dir, const char **error_r);
int directory_batch_end(struct directory *dir, int commit, const char **error_r);
/*
 * Inside a batch, make several changes one: after directory_batch_mark,
 * directory_batch_mark_end keeps them (keep non-zero) or undoes them all.
 * Marks do not nest.
 */
int directory_batch_mark(struct directory *dir, const char **error_r);
int directory_batch_mark_end(struct directory *dir, int keep, const char **error_r);

/*
 * Make d (read from the directory, to be updated) of kind: recipient
 * verification back to NONE, and what the kind cannot have dropped (the
 * catch-all of a domain no longer LOCAL, the next hop of one made LOCAL).
 * The caller then sets what it was given: facteurctl domain set and the
 * admin API's PATCH agree on what a change of kind keeps.
 */
void dir_domain_set_kind(struct dir_domain *d, enum dir_domain_kind kind);

/* Text of a kind/verify/access value, and back (-1 if unknown). */
const char *dir_domain_kind_str(enum dir_domain_kind kind);
int dir_domain_kind_parse(const char *s);
const char *dir_verify_str(enum dir_verify verify);
int dir_verify_parse(const char *s);
/* "allow", "deny", "none". */
const char *dir_access_str(enum dir_access action);
/* "trash", "all"; back: -1 if unknown. */
const char *dir_retention_scope_str(enum dir_retention_scope scope);
int dir_retention_scope_parse(const char *s);
/* "list", "alias"; "room", "equipment"; back: -1 if unknown. */
const char *dir_group_kind_str(enum dir_group_kind kind);
int dir_group_kind_parse(const char *s);
const char *dir_resource_kind_str(enum dir_resource_kind kind);
int dir_resource_kind_parse(const char *s);
/* Is s storable as a display name, category or description? */
int dir_text_valid(const char *s);
/*
 * Normalize an address as the directory stores it (lower case, a trailing
 * dot dropped) into out (DIR_ADDR_SIZE); -1 if it is no address (a
 * dot-atom local part, '@', a DNS domain of two labels at least).
 */
int dir_addr_norm(const char *addr, char *out);

#endif
