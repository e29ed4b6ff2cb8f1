/* SPDX-License-Identifier: MIT */
/*
 * directory - domains, accounts, aliases, groups, resources, relay
 * recipients, access lists and domain admins in one SQLite file (see
 * directory.h).
 *
 * Readers keep one prepared statement per lookup and reset it before
 * returning, so no read transaction outlives a lookup and a writer's
 * change is seen at the next one.  Writers check and change inside one
 * BEGIN IMMEDIATE transaction, so two facteurctl runs cannot both add an
 * account to a domain the other is deleting.  Everything is normalized
 * (lower case, a domain's trailing dot dropped, a network's host bits
 * cleared) before it is stored or looked up, so lookups are exact
 * matches on primary keys.
 *
 * The schema grows by numbered migrations: a new file is made at version
 * 1 and climbs them like an old one, so both end up with the same tables.
 * Readers accept an older file (a daemon may be upgraded before anyone
 * runs facteurctl) and see the tables it lacks as empty.
 *
 * A batch is one BEGIN IMMEDIATE around many writers, each of which then
 * opens a savepoint instead of a transaction; writers' statements are
 * kept prepared (a small cache keyed by their text), so that a batch of
 * 100,000 changes spends its time in the B-trees, not in the SQL parser.
 */
#include "facteur-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/config.h"
#include "lib/log.h"
#include "lib/mem.h"
#include "lib/net.h"
#include "store/directory.h"

#define SCHEMA_VERSION 4
#define BUSY_TIMEOUT_MS 5000
#define ALIAS_DEPTH_MAX 10
#define RCPT_DELIMITER '+'

/* An address: 64 for the local part, 1 for '@', 253 for the domain, NUL, and room. */
#define ADDR_SIZE DIR_ADDR_SIZE

/*
 * Version 1.  kind, verify and action are words, so the file reads well in
 * sqlite3(1).  accounts.password, profile and quota are for the
 * authentication, profiles and quotas to come: NULL until then.  The
 * domain columns of aliases and relay_recipients repeat the address's
 * domain for the per-domain listings.  access.type is what the pattern is
 * (ip, net, address, domain, subdomain), so a lookup reads exact patterns
 * by key and scans only the networks and subdomain patterns of a scope.
 */
static const char schema_sql[] =
	"CREATE TABLE domains ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('local', 'relay', 'backup')),"
	" verify TEXT NOT NULL DEFAULT 'none' CHECK (verify IN ('none', 'list', 'probe')),"
	" nexthop TEXT NOT NULL DEFAULT '',"
	" catchall TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	"CREATE TABLE accounts ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" domain TEXT NOT NULL,"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" created INTEGER NOT NULL,"
	" password TEXT,"
	" profile TEXT,"
	" quota INTEGER);"
	"CREATE INDEX accounts_domain ON accounts (domain, address);"
	"CREATE TABLE aliases ("
	" address TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" PRIMARY KEY (address, target)) WITHOUT ROWID;"
	"CREATE INDEX aliases_domain ON aliases (domain, address);"
	"CREATE TABLE relay_recipients ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" domain TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX relay_recipients_domain ON relay_recipients (domain, address);"
	"CREATE TABLE access ("
	" scope TEXT NOT NULL,"
	" pattern TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" action TEXT NOT NULL CHECK (action IN ('allow', 'deny')),"
	" PRIMARY KEY (scope, pattern)) WITHOUT ROWID;"
	"CREATE INDEX access_type ON access (scope, type);";

/*
 * The migrations: migrations[v] takes a file from version v to v + 1.
 *
 * Version 2: authentication and profiles.  accounts.password holds a hash
 * (argon2id or crypt(3): store/auth.c), accounts.profile a profiles.name
 * or NULL.  An app password belongs to one account (its rows go with
 * it); last_used is NULL until its first login.  A profile's quota and
 * retention are 0 for none; services is a normalized list.
 *
 * Version 3: a profile's retention has a scope: 'trash' (the Trash and
 * Junk mailboxes, what every profile of version 2 meant) or 'all'.
 *
 * Version 4: accounts have a display name ('' for none).  A group is a
 * row of groups whose members are rows of aliases (so that RCPT expands
 * it as any alias, with the statements of version 1).  A resource is an
 * account with a row of resources.  Domain admins: admins, and the
 * domains of each in admin_domains (none for a global admin).
 */
static const char *const migrations[SCHEMA_VERSION] = {
	[1] =
	"CREATE TABLE app_passwords ("
	" account TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" hash TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" last_used INTEGER,"
	" PRIMARY KEY (account, name)) WITHOUT ROWID;"
	"CREATE TABLE profiles ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" quota_bytes INTEGER NOT NULL DEFAULT 0,"
	" retention_days INTEGER NOT NULL DEFAULT 0,"
	" services TEXT NOT NULL DEFAULT '" DIR_SERVICES_ALL "') WITHOUT ROWID;"
	"CREATE INDEX accounts_profile ON accounts (profile);",
	[2] =
	"ALTER TABLE profiles ADD COLUMN retention_scope TEXT NOT NULL DEFAULT 'trash'"
	" CHECK (retention_scope IN ('trash', 'all'));",
	[3] =
	"ALTER TABLE accounts ADD COLUMN name TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE groups ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" domain TEXT NOT NULL,"
	" kind TEXT NOT NULL DEFAULT 'list' CHECK (kind IN ('list', 'alias')),"
	" name TEXT NOT NULL DEFAULT '',"
	" description TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	"CREATE INDEX groups_domain ON groups (domain, address);"
	"CREATE TABLE resources ("
	" address TEXT PRIMARY KEY NOT NULL,"
	" domain TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('room', 'equipment')),"
	" capacity INTEGER NOT NULL DEFAULT 0,"
	" category TEXT NOT NULL DEFAULT '',"
	" description TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
	"CREATE INDEX resources_domain ON resources (domain, address);"
	"CREATE TABLE admins ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" password TEXT,"
	" global INTEGER NOT NULL DEFAULT 0,"
	" created INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE admin_domains ("
	" admin TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" PRIMARY KEY (admin, domain)) WITHOUT ROWID;"
	"CREATE INDEX admin_domains_domain ON admin_domains (domain);",
};

/* The readers' statements, prepared once. */
enum {
	ST_DOMAIN,
	ST_ACCOUNT,
	ST_ALIAS_TARGETS,
	ST_RELAY_RCPT,
	ST_ACCESS_EXACT,
	ST_ACCESS_SCAN,
	ST_ACCOUNT_FULL,
	ST_ANY_ACCOUNT,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_DOMAIN] = "SELECT name, kind, verify, nexthop, catchall FROM domains WHERE name = ?1",
	[ST_ACCOUNT] = "SELECT enabled FROM accounts WHERE address = ?1",
	[ST_ALIAS_TARGETS] = "SELECT target FROM aliases WHERE address = ?1 ORDER BY target",
	[ST_RELAY_RCPT] = "SELECT 1 FROM relay_recipients WHERE address = ?1",
	[ST_ACCESS_EXACT] = "SELECT pattern, action FROM access WHERE scope = ?1 "
	    "AND pattern IN (?2, ?3, ?4, ?5)",
	[ST_ACCESS_SCAN] = "SELECT pattern, action, type FROM access WHERE scope = ?1 "
	    "AND type IN ('net', 'subdomain')",
	/* Columns of version 1 (account_full_v4 for a file of version 4). */
	[ST_ACCOUNT_FULL] = "SELECT address, enabled, created, password, profile, '', 0 "
	    "FROM accounts WHERE address = ?1",
	[ST_ANY_ACCOUNT] = "SELECT 1 FROM accounts LIMIT 1",
};

/* The columns of an account (directory_account_get) once a file has version 4. */
#define ACCOUNT_COLUMNS_V4 "a.address, a.enabled, a.created, a.password, a.profile, a.name, " \
	"r.address IS NOT NULL FROM accounts a LEFT JOIN resources r ON r.address = a.address"
static const char account_full_v4[] = "SELECT " ACCOUNT_COLUMNS_V4 " WHERE a.address = ?1";

/* Writers' statements kept prepared (run()). */
#define STMT_CACHE_SIZE 64

struct directory {
	sqlite3 *db;
	int readonly;
	int mode;		/* DIRECTORY_READWRITE, _READONLY, _UPDATE */
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	int batch;		/* in directory_batch_begin's transaction */
	int savepoint;		/* a writer's savepoint is open in the batch */
	struct {
		const char *sql;	/* the text it was run with (compared whole) */
		sqlite3_stmt *st;
	} cache[STMT_CACHE_SIZE];
	int ncache;
};

/*
 * The text behind every *error_r: one per thread, as a daemon's worker
 * thread may record an app password's use while its loop looks up.
 */
static _Thread_local char dir_error[768];

static const char *set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dir_error, sizeof(dir_error), fmt, ap);
	va_end(ap);
	return dir_error;
}

#define FAIL(...) do { *error_r = set_error(__VA_ARGS__); goto fail; } while (0)

/* ---- names ---- */

static const char *const kind_names[] = {
	[DIR_DOMAIN_LOCAL] = "local", [DIR_DOMAIN_RELAY] = "relay", [DIR_DOMAIN_BACKUP] = "backup",
};
static const char *const verify_names[] = {
	[DIR_VERIFY_NONE] = "none", [DIR_VERIFY_LIST] = "list", [DIR_VERIFY_PROBE] = "probe",
};

const char *
dir_domain_kind_str(enum dir_domain_kind kind)
{
	return kind >= DIR_DOMAIN_LOCAL && kind <= DIR_DOMAIN_BACKUP ? kind_names[kind] : "unknown";
}

int
dir_domain_kind_parse(const char *s)
{
	for (int k = DIR_DOMAIN_LOCAL; k <= DIR_DOMAIN_BACKUP; k++)
		if (s != NULL && str_casecmp(s, kind_names[k]) == 0)
			return k;
	return -1;
}

void
dir_domain_set_kind(struct dir_domain *d, enum dir_domain_kind kind)
{
	d->kind = kind;
	d->verify = DIR_VERIFY_NONE;
	if (kind != DIR_DOMAIN_LOCAL)
		d->catchall[0] = '\0';
	else
		d->nexthop[0] = '\0';
}

const char *
dir_verify_str(enum dir_verify verify)
{
	return verify <= DIR_VERIFY_PROBE ? verify_names[verify] : "unknown";
}

int
dir_verify_parse(const char *s)
{
	for (int v = DIR_VERIFY_NONE; v <= DIR_VERIFY_PROBE; v++)
		if (s != NULL && str_casecmp(s, verify_names[v]) == 0)
			return v;
	return -1;
}

const char *
dir_access_str(enum dir_access action)
{
	return action == DIR_ACCESS_ALLOW ? "allow" : action == DIR_ACCESS_DENY ? "deny" : "none";
}

const char *
dir_retention_scope_str(enum dir_retention_scope scope)
{
	return scope == DIR_RETENTION_ALL ? "all" : "trash";
}

int
dir_retention_scope_parse(const char *s)
{
	if (strcmp(s, "trash") == 0)
		return DIR_RETENTION_TRASH;
	if (strcmp(s, "all") == 0)
		return DIR_RETENTION_ALL;
	return -1;
}

const char *
dir_group_kind_str(enum dir_group_kind kind)
{
	return kind == DIR_GROUP_ALIAS ? "alias" : "list";
}

int
dir_group_kind_parse(const char *s)
{
	if (str_casecmp(s, "list") == 0)
		return DIR_GROUP_LIST;
	if (str_casecmp(s, "alias") == 0)
		return DIR_GROUP_ALIAS;
	return -1;
}

const char *
dir_resource_kind_str(enum dir_resource_kind kind)
{
	return kind == DIR_RESOURCE_EQUIPMENT ? "equipment" : "room";
}

int
dir_resource_kind_parse(const char *s)
{
	if (str_casecmp(s, "room") == 0)
		return DIR_RESOURCE_ROOM;
	if (str_casecmp(s, "equipment") == 0)
		return DIR_RESOURCE_EQUIPMENT;
	return -1;
}

/* Well-formed UTF-8 (no overlong forms, no surrogates), no control characters, that fits. */
int
dir_text_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (strlen(s) >= DIR_TEXT_SIZE)
		return 0;
	while (*p != '\0') {
		unsigned int c = *p, need, min;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return 0;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			min = 0x80;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			min = 0x800;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			min = 0x10000;
			c &= 0x07;
		} else {
			return 0;
		}
		p++;
		for (unsigned int i = 0; i < need; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (*p & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
		    (c >= 0x80 && c < 0xa0))
			return 0;
	}
	return 1;
}

/* ---- syntax ---- */

/*
 * Copy s to out lower-cased, without one trailing dot; -1 if it does not
 * fit.  Lookups use this alone: a malformed name is simply not found.
 */
static int
name_norm(const char *s, char *out, size_t size)
{
	size_t n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n >= size)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	str_lower(out);
	return 0;
}

/*
 * A host name of the DNS (RFC 1123 labels, ASCII: xn-- for IDN), at
 * least two labels, the last not all digits (that would be an address).
 * d is lower case.
 */
static int
domain_valid(const char *d)
{
	size_t len = strlen(d), label = 0;
	int labels = 0, letter = 0;

	if (len == 0 || len > 253)
		return 0;
	for (const char *p = d;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return 0;
			labels++;
			if (*p == '\0')
				break;
			label = 0;
			letter = 0;
			continue;
		}
		if (*p >= 'a' && *p <= 'z')
			letter = 1;
		else if (*p == '-')
			letter = 1;
		else if (*p < '0' || *p > '9')
			return 0;
		if (label == 0 && *p == '-')
			return 0;
		label++;
	}
	return labels >= 2 && letter;
}

/* RFC 5321 dot-atom local part (no quoted strings), at most 64 characters. */
static int
local_valid(const char *s, size_t n)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";

	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c != '\0' && strchr(atext, c) != NULL))) {
			return 0;
		}
	}
	return 1;
}

/*
 * Normalize an address for a lookup: lower case, no trailing dot; *domain_r
 * points into out after the '@'.  -1 if it has no '@' or does not fit.
 */
static int
addr_norm(const char *s, char *out, size_t size, const char **domain_r)
{
	char *at;

	if (name_norm(s, out, size) < 0 || (at = strrchr(out, '@')) == NULL)
		return -1;
	*domain_r = at + 1;
	return 0;
}

/* addr_norm and a syntax check, for what is stored. */
static int
addr_norm_valid(const char *s, char *out, size_t size, const char **domain_r)
{
	return addr_norm(s, out, size, domain_r) == 0 &&
	    local_valid(out, (size_t)(*domain_r - 1 - out)) && domain_valid(*domain_r) ? 0 : -1;
}

int
dir_addr_norm(const char *addr, char *out)
{
	const char *domain;

	return addr_norm_valid(addr, out, DIR_ADDR_SIZE, &domain);
}

/*
 * "user+tag@domain" -> "user@domain" in out; 0 if addr has no extension
 * (RCPT_DELIMITER in its local part, not first).
 */
static int
addr_strip_extension(const char *addr, char *out, size_t size)
{
	const char *at = strrchr(addr, '@'), *plus = strchr(addr, RCPT_DELIMITER);

	if (at == NULL || plus == NULL || plus > at || plus == addr)
		return 0;
	snprintf(out, size, "%.*s%s", (int)(plus - addr), addr, at);
	return 1;
}

/*
 * Normalize an IP address (ip_r) or network (net_r: host bits cleared,
 * "/bits" kept): 1 and the text in out, 0 if s is neither.
 */
static int
ip_norm(const char *s, char *out, size_t size, int *is_net_r)
{
	unsigned char a[16];
	char host[64], text[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int family, maxbits;
	long bits;

	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, a) == 1) {
		family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, host, a) == 1) {
		family = AF_INET6;
		maxbits = 128;
	} else {
		return 0;
	}
	bits = maxbits;
	if (slash != NULL) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return 0;
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || bits > maxbits)
			return 0;
		for (int i = 0; i < maxbits / 8; i++) {
			int keep = (int)bits - i * 8;
			a[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
		}
	}
	/* An IPv4-mapped IPv6 address is the IPv4 address smtpd reports. */
	if (family == AF_INET6 && slash == NULL &&
	    memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memmove(a, a + 12, 4);
		family = AF_INET;
	}
	inet_ntop(family, a, text, sizeof(text));
	if (slash != NULL)
		snprintf(out, size, "%s/%ld", text, bits);
	else
		str_copy(out, text, size);
	*is_net_r = slash != NULL;
	return 1;
}

/* ---- opening ---- */

static int
user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int version = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/* Create or upgrade the schema (writers, inside BEGIN IMMEDIATE). */
static int
schema_upgrade(sqlite3 *db, int version, const char *path, const char **error_r)
{
	char *msg = NULL, sql[64];

	if (version > SCHEMA_VERSION) {
		*error_r = set_error("%s: directory database of a newer facteur (version %d, this one "
		    "knows %d)", path, version, SCHEMA_VERSION);
		return -1;
	}
	if (version == SCHEMA_VERSION)
		return 0;
	/* Version 0: a new (or empty) file, made at version 1 and migrated as an old one. */
	if (version == 0 && sqlite3_exec(db, schema_sql, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	for (int v = version > 0 ? version : 1; v < SCHEMA_VERSION; v++)
		if (sqlite3_exec(db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
			goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	if (version == 0)
		*error_r = set_error("%s: cannot create the directory schema: %s", path,
		    msg != NULL ? msg : sqlite3_errmsg(db));
	else
		*error_r = set_error("%s: cannot upgrade the directory schema from version %d: %s",
		    path, version, msg != NULL ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

struct directory *
directory_open(const char *path, int mode, const char **error_r)
{
	struct directory *dir = xcalloc(1, sizeof(*dir));
	int readonly = mode == DIRECTORY_READONLY, create = mode == DIRECTORY_READWRITE;
	int flags = (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
	    (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
	char *msg = NULL;
	int version, persist = 1;

	if (mode != DIRECTORY_READWRITE && mode != DIRECTORY_READONLY && mode != DIRECTORY_UPDATE) {
		*error_r = set_error("%s: bad directory open mode %d", path, mode);
		free(dir);
		return NULL;
	}
	dir->readonly = readonly;
	dir->mode = mode;
	dir->path = xstrdup(path);
	if (!create && access(path, F_OK) < 0) {
		if (errno == ENOENT)
			FAIL("%s: no directory database (facteurctl domain add creates it)", path);
		FAIL("%s: %s", path, strerror(errno));
	}
	if (sqlite3_open_v2(path, &dir->db, flags, NULL) != SQLITE_OK) {
		if (create && access(path, F_OK) < 0 && errno == ENOENT) {
			/* SQLite says "unable to open database file": say which part is missing. */
			char *parent = xstrdup(path), *slash = strrchr(parent, '/');
			if (slash != NULL && slash != parent)
				*slash = '\0';
			if (slash != NULL && access(parent, F_OK) < 0) {
				set_error("%s: cannot create: %s: %s", path, parent, strerror(errno));
				free(parent);
				*error_r = dir_error;
				goto fail;
			}
			free(parent);
		}
		FAIL("%s: %s", path, dir->db != NULL ? sqlite3_errmsg(dir->db) : "cannot open");
	}
	sqlite3_extended_result_codes(dir->db, 1);
	/* Writers hold the lock for one small transaction: wait for them. */
	sqlite3_busy_timeout(dir->db, BUSY_TIMEOUT_MS);
	/*
	 * Keep the -wal and -shm files when the last writer closes: the
	 * daemons open read-only, and a read-only connection cannot create
	 * them in a directory it may not write to.
	 */
	if (!readonly)
		sqlite3_file_control(dir->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	if (create) {
		int rc;

		/*
		 * Two writers making a new file at once: switching it to WAL
		 * answers SQLITE_BUSY at once, without the busy handler.  Try
		 * again for as long as the busy timeout.
		 */
		for (int tries = 0;; tries++) {
			rc = sqlite3_exec(dir->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			    "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", NULL, NULL, &msg);
			if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
				break;
			if (tries * 20 >= BUSY_TIMEOUT_MS)
				break;
			sqlite3_free(msg);
			msg = NULL;
			sqlite3_exec(dir->db, "ROLLBACK", NULL, NULL, NULL);
			usleep(20000);
		}
		if (rc != SQLITE_OK) {
			set_error("%s: %s", path, msg != NULL ? msg : sqlite3_errmsg(dir->db));
			sqlite3_free(msg);
			*error_r = dir_error;
			goto fail;
		}
		version = user_version(dir->db);
		if (version < 0 || schema_upgrade(dir->db, version, path, error_r) < 0) {
			if (version < 0)
				*error_r = set_error("%s: %s", path, sqlite3_errmsg(dir->db));
			sqlite3_exec(dir->db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		if (sqlite3_exec(dir->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			set_error("%s: %s", path, msg != NULL ? msg : sqlite3_errmsg(dir->db));
			sqlite3_free(msg);
			*error_r = dir_error;
			goto fail;
		}
		version = SCHEMA_VERSION;
	} else {
		version = user_version(dir->db);
		if (version < 0)
			FAIL("%s: %s", path, sqlite3_errmsg(dir->db));
		if (version == 0)
			FAIL("%s: not a directory database (no schema)", path);
		if (version > SCHEMA_VERSION)
			FAIL("%s: directory database of a newer facteur (version %d, this one knows %d)",
			    path, version, SCHEMA_VERSION);
		/* A daemon's small writes (app_passwords.last_used) go to tables of version 2. */
		if (mode == DIRECTORY_UPDATE && version < 2)
			FAIL("%s: directory database of version %d: facteurctl upgrades it to %d", path,
			    version, SCHEMA_VERSION);
		if (mode == DIRECTORY_UPDATE && sqlite3_exec(dir->db, "PRAGMA synchronous = FULL",
		    NULL, NULL, NULL) != SQLITE_OK)
			FAIL("%s: %s", path, sqlite3_errmsg(dir->db));
	}
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(dir->db, i == ST_ACCOUNT_FULL && version >= 4 ? account_full_v4 :
		    stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &dir->st[i], NULL) != SQLITE_OK)
			FAIL("%s: %s", path, sqlite3_errmsg(dir->db));
	return dir;
fail:
	directory_close(&dir);
	return NULL;
}

void
directory_close(struct directory **dirp)
{
	struct directory *dir = *dirp;

	if (dir == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(dir->st[i]);
	for (int i = 0; i < dir->ncache; i++)
		sqlite3_finalize(dir->cache[i].st);
	if (dir->batch)
		sqlite3_exec(dir->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(dir->db);
	free(dir->path);
	free(dir);
	*dirp = NULL;
}

const char *
directory_path(const struct directory *dir)
{
	return dir->path;
}

const char *
directory_default_path(void)
{
	static char path[4096];

	if (var_directory_database != NULL && var_directory_database[0] != '\0')
		str_copy(path, var_directory_database, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/directory.db", var_spool_directory);
	return path;
}

/* ---- lookups ---- */

static void
db_warn(struct directory *dir, const char *what)
{
	log_warnx("directory: %s: %s", what, sqlite3_errmsg(dir->db));
}

/* Step a reader statement once: 1 row, 0 none, -1 error.  The caller resets. */
static int
st_row(struct directory *dir, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_warn(dir, what);
	return -1;
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? (const char *)s : "";
}

static void
domain_from_row(sqlite3_stmt *st, struct dir_domain *out)
{
	int kind = dir_domain_kind_parse(col_text(st, 1)), verify = dir_verify_parse(col_text(st, 2));

	memset(out, 0, sizeof(*out));
	str_copy(out->name, col_text(st, 0), sizeof(out->name));
	out->kind = kind > 0 ? (enum dir_domain_kind)kind : DIR_DOMAIN_LOCAL;
	out->verify = verify >= 0 ? (enum dir_verify)verify : DIR_VERIFY_NONE;
	str_copy(out->nexthop, col_text(st, 3), sizeof(out->nexthop));
	str_copy(out->catchall, col_text(st, 4), sizeof(out->catchall));
}

/* domain already normalized. */
static int
domain_get(struct directory *dir, const char *domain, struct dir_domain *out)
{
	sqlite3_stmt *st = dir->st[ST_DOMAIN];
	int rc;

	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "domain lookup")) == 1 && out != NULL)
		domain_from_row(st, out);
	sqlite3_reset(st);
	return rc;
}

int
directory_domain_get(struct directory *dir, const char *domain, struct dir_domain *out)
{
	char name[256];
	struct dir_domain unused;

	if (name_norm(domain, name, sizeof(name)) < 0)
		return 0;
	return domain_get(dir, name, out != NULL ? out : &unused);
}

/* 1 enabled account, 2 disabled account, 0 none, -1 error.  addr normalized. */
static int
account_get(struct directory *dir, const char *addr)
{
	sqlite3_stmt *st = dir->st[ST_ACCOUNT];
	int rc;

	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "account lookup")) == 1 && sqlite3_column_int(st, 0) == 0)
		rc = 2;
	sqlite3_reset(st);
	return rc;
}

/* 1 if addr is an alias, 0 if not, -1 error. */
static int
alias_exists(struct directory *dir, const char *addr)
{
	sqlite3_stmt *st = dir->st[ST_ALIAS_TARGETS];
	int rc;

	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	rc = st_row(dir, st, "alias lookup");
	sqlite3_reset(st);
	return rc;
}

static int
relay_rcpt_exists(struct directory *dir, const char *addr)
{
	sqlite3_stmt *st = dir->st[ST_RELAY_RCPT];
	int rc;

	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	rc = st_row(dir, st, "relay recipient lookup");
	sqlite3_reset(st);
	return rc;
}

/* A local domain's account or alias at exactly addr: the dir_rcpt, 0 if none, -1 error. */
static int
local_rcpt(struct directory *dir, const char *addr)
{
	int rc = account_get(dir, addr);

	if (rc != 0)
		return rc < 0 ? -1 : rc == 1 ? DIR_RCPT_ACCOUNT : DIR_RCPT_DISABLED;
	if ((rc = alias_exists(dir, addr)) != 0)
		return rc < 0 ? -1 : DIR_RCPT_ALIAS;
	return 0;
}

int
directory_recipient(struct directory *dir, const char *addr, enum dir_rcpt *out,
    char *target, size_t target_size)
{
	char a[ADDR_SIZE], base[ADDR_SIZE];
	const char *domain, *found = "";
	struct dir_domain d;
	int rc, has_base;

	*out = DIR_RCPT_NOT_OURS;
	if (target != NULL && target_size > 0)
		target[0] = '\0';
	if (addr_norm(addr, a, sizeof(a), &domain) < 0 || domain == a + 1)
		return 0;
	if ((rc = domain_get(dir, domain, &d)) <= 0)
		return rc;
	has_base = addr_strip_extension(a, base, sizeof(base));
	switch (d.kind) {
	case DIR_DOMAIN_LOCAL:
		if ((rc = local_rcpt(dir, a)) > 0) {
			found = a;
		} else if (rc == 0 && has_base && (rc = local_rcpt(dir, base)) > 0) {
			found = base;
		} else if (rc == 0 && d.catchall[0] != '\0') {
			rc = DIR_RCPT_CATCHALL;
			found = d.catchall;
		} else if (rc == 0) {
			rc = DIR_RCPT_UNKNOWN;
		}
		if (rc < 0)
			return -1;
		*out = (enum dir_rcpt)rc;
		break;
	case DIR_DOMAIN_RELAY:
		if (d.verify == DIR_VERIFY_PROBE) {
			*out = DIR_RCPT_PROBE;
		} else if (d.verify == DIR_VERIFY_LIST) {
			if ((rc = relay_rcpt_exists(dir, a)) == 0 && has_base)
				rc = relay_rcpt_exists(dir, base);
			if (rc < 0)
				return -1;
			*out = rc > 0 ? DIR_RCPT_RELAY : DIR_RCPT_UNKNOWN;
		} else {
			*out = DIR_RCPT_RELAY;
		}
		break;
	case DIR_DOMAIN_BACKUP:
		*out = DIR_RCPT_RELAY;
		break;
	}
	if (target != NULL && target_size > 0)
		str_copy(target, found, target_size);
	return 0;
}

/* ---- alias expansion ---- */

struct expansion {
	struct directory *dir;
	char **targets;
	size_t max, n;
	const char *path[ALIAS_DEPTH_MAX + 1];	/* the aliases being expanded, outermost first */
	const char *top;
};

static void
expansion_add(struct expansion *x, const char *addr)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->targets[i], addr) == 0)
			return;
	if (x->n < x->max)
		x->targets[x->n++] = xstrdup(addr);
	else
		log_warnx("directory: alias %s: more than %zu addresses, %s left out", x->top, x->max,
		    addr);
}

/* The targets of alias addr (malloc'd vector, *n_r entries); NULL with -1 in *n_r on error. */
static char **
alias_targets(struct directory *dir, const char *addr, size_t *n_r)
{
	sqlite3_stmt *st = dir->st[ST_ALIAS_TARGETS];
	char **v = NULL;
	size_t n = 0;
	int rc;

	sqlite3_bind_text(st, 1, addr, -1, SQLITE_STATIC);
	while ((rc = st_row(dir, st, "alias expansion")) == 1) {
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = xstrdup(col_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		*n_r = (size_t)-1;
		return NULL;
	}
	*n_r = n;
	return v;
}

static int
in_path(const struct expansion *x, int depth, const char *addr)
{
	for (int i = 0; i < depth; i++) {
		if (strcmp(x->path[i], addr) == 0) {
			log_warnx("directory: alias %s: loop through %s cut", x->top, addr);
			return 1;
		}
	}
	return 0;
}

static int
expand(struct expansion *x, const char *addr, int depth)
{
	char base[ADDR_SIZE];
	const char *key = addr;
	char **v;
	size_t n;
	int rc;

	if (in_path(x, depth, addr))
		return 0;
	/* An account is where mail stops, whatever an alias of the same name says. */
	if ((rc = account_get(x->dir, addr)) != 0) {
		if (rc > 0)
			expansion_add(x, addr);
		return rc < 0 ? -1 : 0;
	}
	if ((v = alias_targets(x->dir, addr, &n)) == NULL && n == (size_t)-1)
		return -1;
	if (n == 0 && addr_strip_extension(addr, base, sizeof(base))) {
		/* user+tag@domain: the account or alias user@domain. */
		if (in_path(x, depth, base))
			return 0;
		if ((rc = account_get(x->dir, base)) != 0) {
			if (rc > 0)
				expansion_add(x, addr);
			return rc < 0 ? -1 : 0;
		}
		key = base;
		if ((v = alias_targets(x->dir, base, &n)) == NULL && n == (size_t)-1)
			return -1;
	}
	if (n == 0) {
		expansion_add(x, addr);
		return 0;
	}
	if (depth >= ALIAS_DEPTH_MAX) {
		/* Kept as it is: delivering to it fails visibly rather than losing the mail. */
		log_warnx("directory: alias %s: deeper than %d levels at %s", x->top, ALIAS_DEPTH_MAX,
		    addr);
		expansion_add(x, addr);
	} else {
		x->path[depth] = key;
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = expand(x, v[i], depth + 1);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return rc;
}

int
directory_alias_expand(struct directory *dir, const char *addr, char **targets, size_t max)
{
	struct expansion x = { .dir = dir, .targets = targets, .max = max };
	char a[ADDR_SIZE];
	const char *domain;

	if (max == 0)
		return 0;
	if (addr_norm(addr, a, sizeof(a), &domain) < 0) {
		/* Not an address of ours: it is its own expansion. */
		targets[0] = xstrdup(addr);
		return 1;
	}
	x.top = a;
	if (expand(&x, a, 0) < 0) {
		for (size_t i = 0; i < x.n; i++) {
			free(targets[i]);
			targets[i] = NULL;
		}
		return -1;
	}
	return (int)x.n;
}

/* ---- access lists ---- */

/* What patterns are compared with; "" when unknown (no pattern is empty). */
struct access_key {
	char ip[INET6_ADDRSTRLEN];
	char sender[ADDR_SIZE];
	char sender_base[ADDR_SIZE];	/* without its extension */
	const char *sender_domain;
};

struct access_hit {
	int allow, deny;
	char allow_pattern[ADDR_SIZE], deny_pattern[ADDR_SIZE];
};

static void
access_note(struct access_hit *h, const char *pattern, const char *action)
{
	if (strcmp(action, "deny") == 0 && !h->deny) {
		h->deny = 1;
		str_copy(h->deny_pattern, pattern, sizeof(h->deny_pattern));
	} else if (strcmp(action, "allow") == 0 && !h->allow) {
		h->allow = 1;
		str_copy(h->allow_pattern, pattern, sizeof(h->allow_pattern));
	}
}

/* The entries of one scope matching the client and sender; -1 on error. */
static int
access_scope(struct directory *dir, const char *scope, const struct access_key *k,
    struct access_hit *h)
{
	sqlite3_stmt *st = dir->st[ST_ACCESS_EXACT];
	const char *sender_domain = k->sender_domain;
	int rc;

	sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, k->ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, k->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, k->sender_base, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, sender_domain, -1, SQLITE_STATIC);
	while ((rc = st_row(dir, st, "access lookup")) == 1)
		access_note(h, col_text(st, 0), col_text(st, 1));
	sqlite3_reset(st);
	if (rc < 0)
		return -1;

	st = dir->st[ST_ACCESS_SCAN];
	sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
	while ((rc = st_row(dir, st, "access lookup")) == 1) {
		const char *pattern = col_text(st, 0), *type = col_text(st, 2);
		int match;

		if (strcmp(type, "net") == 0) {
			match = k->ip[0] != '\0' && net_cidr_list_match(pattern, k->ip);
		} else {
			/* ".example.org": the subdomains of example.org, not itself. */
			size_t pl = strlen(pattern), dl = strlen(sender_domain);
			match = dl > pl && strcmp(sender_domain + dl - pl, pattern) == 0;
		}
		if (match)
			access_note(h, pattern, col_text(st, 1));
	}
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

int
directory_access(struct directory *dir, const char *client_ip, const char *sender,
    const char *rcpt, enum dir_access *out, char *matched, size_t matched_size)
{
	char r[ADDR_SIZE], base[ADDR_SIZE];
	const char *scopes[4], *rcpt_domain;
	struct access_key k;
	size_t nscopes = 0;
	int is_net;

	*out = DIR_ACCESS_NONE;
	if (matched != NULL && matched_size > 0)
		matched[0] = '\0';
	memset(&k, 0, sizeof(k));
	k.sender_domain = "";
	if (client_ip == NULL || !ip_norm(client_ip, k.ip, sizeof(k.ip), &is_net) || is_net)
		k.ip[0] = '\0';
	if (sender == NULL || addr_norm(sender, k.sender, sizeof(k.sender), &k.sender_domain) < 0) {
		k.sender[0] = '\0';
		k.sender_domain = "";
	} else if (!addr_strip_extension(k.sender, k.sender_base, sizeof(k.sender_base))) {
		k.sender_base[0] = '\0';
	}
	if (rcpt != NULL && addr_norm(rcpt, r, sizeof(r), &rcpt_domain) == 0 &&
	    rcpt_domain[0] != '\0') {
		/* Most specific first: the address, without its extension, its domain. */
		scopes[nscopes++] = r;
		if (addr_strip_extension(r, base, sizeof(base)))
			scopes[nscopes++] = base;
		scopes[nscopes++] = rcpt_domain;
	}
	scopes[nscopes++] = "";
	for (size_t i = 0; i < nscopes; i++) {
		struct access_hit h;
		const char *pattern;

		memset(&h, 0, sizeof(h));
		if (access_scope(dir, scopes[i], &k, &h) < 0)
			return -1;
		if (!h.deny && !h.allow)
			continue;
		*out = h.deny ? DIR_ACCESS_DENY : DIR_ACCESS_ALLOW;
		pattern = h.deny ? h.deny_pattern : h.allow_pattern;
		if (matched != NULL && matched_size > 0) {
			if (scopes[i][0] != '\0')
				snprintf(matched, matched_size, "%s %s (scope %s)", dir_access_str(*out),
				    pattern, scopes[i]);
			else
				snprintf(matched, matched_size, "%s %s (global)", dir_access_str(*out),
				    pattern);
		}
		return 0;
	}
	return 0;
}

/* ---- writers ---- */

static int
writable(struct directory *dir, const char **error_r)
{
	if (dir->readonly) {
		*error_r = set_error("the directory is open read-only");
		return -1;
	}
	if (dir->mode != DIRECTORY_READWRITE) {
		*error_r = set_error("the directory is open for a daemon's updates only");
		return -1;
	}
	return 0;
}

/* A writer's transaction, or its savepoint inside a batch. */
static int
begin(struct directory *dir, const char **error_r)
{
	if (writable(dir, error_r) < 0)
		return -1;
	if (sqlite3_exec(dir->db, dir->batch ? "SAVEPOINT w" : "BEGIN IMMEDIATE", NULL, NULL,
	    NULL) != SQLITE_OK) {
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		return -1;
	}
	dir->savepoint = dir->batch;
	return 0;
}

static int
commit(struct directory *dir, const char **error_r)
{
	if (dir->batch) {
		dir->savepoint = 0;
		if (sqlite3_exec(dir->db, "RELEASE w", NULL, NULL, NULL) != SQLITE_OK) {
			*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
			return -1;
		}
		return 0;
	}
	if (sqlite3_exec(dir->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		sqlite3_exec(dir->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return 0;
}

static void
rollback(struct directory *dir)
{
	if (dir->batch) {
		if (dir->savepoint)
			sqlite3_exec(dir->db, "ROLLBACK TO w; RELEASE w", NULL, NULL, NULL);
		dir->savepoint = 0;
	} else if (!sqlite3_get_autocommit(dir->db)) {
		sqlite3_exec(dir->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

int
directory_batch_begin(struct directory *dir, const char **error_r)
{
	if (dir->batch) {
		*error_r = set_error("directory: a batch is under way");
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	dir->batch = 1;
	return 0;
}

int
directory_batch_mark(struct directory *dir, const char **error_r)
{
	if (!dir->batch) {
		*error_r = set_error("directory: no batch under way");
		return -1;
	}
	if (sqlite3_exec(dir->db, "SAVEPOINT mark", NULL, NULL, NULL) != SQLITE_OK) {
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		return -1;
	}
	return 0;
}

int
directory_batch_mark_end(struct directory *dir, int keep, const char **error_r)
{
	if (sqlite3_exec(dir->db, keep ? "RELEASE mark" : "ROLLBACK TO mark; RELEASE mark", NULL,
	    NULL, NULL) != SQLITE_OK) {
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		return -1;
	}
	return 0;
}

int
directory_batch_end(struct directory *dir, int commit_it, const char **error_r)
{
	if (!dir->batch) {
		*error_r = set_error("directory: no batch under way");
		return -1;
	}
	dir->batch = 0;
	dir->savepoint = 0;
	if (commit_it)
		return commit(dir, error_r);
	sqlite3_exec(dir->db, "ROLLBACK", NULL, NULL, NULL);
	return 0;
}

/*
 * Run sql with n text parameters; for a SELECT, the first column of its
 * first row as an integer (0 if no row); otherwise the rows changed.  -1
 * with *error_r on error.
 */
static long long
run(struct directory *dir, const char **error_r, const char *sql, int n, ...)
{
	sqlite3_stmt *st = NULL;
	long long result = 0;
	va_list ap;
	int rc, cached = 0;

	for (int i = 0; i < dir->ncache && st == NULL; i++)
		if (dir->cache[i].sql == sql && strcmp(sqlite3_sql(dir->cache[i].st), sql) == 0)
			st = dir->cache[i].st;
	if (st != NULL) {
		cached = 1;
		sqlite3_clear_bindings(st);
	} else if (dir->ncache < STMT_CACHE_SIZE) {
		if (sqlite3_prepare_v3(dir->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
		    NULL) != SQLITE_OK) {
			*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
			return -1;
		}
		dir->cache[dir->ncache].sql = sql;
		dir->cache[dir->ncache++].st = st;
		cached = 1;
	} else if (sqlite3_prepare_v2(dir->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		return -1;
	}
	va_start(ap, n);
	for (int i = 1; i <= n; i++)
		sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
	va_end(ap);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		result = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		result = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes(dir->db);
	else {
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		result = -1;
	}
	if (cached)
		sqlite3_reset(st);
	else
		sqlite3_finalize(st);
	return result;
}

/* Validate what a domain's settings say; the name is normalized into name. */
static int
domain_check(const struct dir_domain *d, char *name, size_t size, char *catchall,
    const char **error_r)
{
	const char *cd;

	if (name_norm(d->name, name, size) < 0 || !domain_valid(name))
		FAIL("bad domain name %s", d->name);
	if (d->kind < DIR_DOMAIN_LOCAL || d->kind > DIR_DOMAIN_BACKUP)
		FAIL("domain %s: bad kind %d", name, (int)d->kind);
	if (d->verify > DIR_VERIFY_PROBE)
		FAIL("domain %s: bad verify %d", name, (int)d->verify);
	if (d->kind != DIR_DOMAIN_RELAY && d->verify != DIR_VERIFY_NONE)
		FAIL("domain %s: recipient verification is for relay domains", name);
	if (d->kind == DIR_DOMAIN_LOCAL && d->nexthop[0] != '\0')
		FAIL("domain %s: a next hop is for relay and backup domains", name);
	for (const char *p = d->nexthop; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == ',')
			FAIL("domain %s: bad next hop %s", name, d->nexthop);
	catchall[0] = '\0';
	if (d->catchall[0] != '\0') {
		if (d->kind != DIR_DOMAIN_LOCAL)
			FAIL("domain %s: a catch-all is for local domains", name);
		if (addr_norm_valid(d->catchall, catchall, ADDR_SIZE, &cd) < 0)
			FAIL("domain %s: bad catch-all address %s", name, d->catchall);
	}
	return 0;
fail:
	return -1;
}

/* What would be left behind by deleting domain or changing its kind: "" if nothing. */
static int
domain_contents(struct directory *dir, const char *name, int accounts, int aliases, int relay,
    char *out, size_t size, const char **error_r)
{
	static const struct {
		const char *sql, *one, *many;
	} what[] = {
		{ "SELECT count(*) FROM accounts WHERE domain = ?1 AND address NOT IN "
		  "(SELECT address FROM resources)", "account", "accounts" },
		{ "SELECT count(DISTINCT address) FROM aliases WHERE domain = ?1 AND address NOT IN "
		  "(SELECT address FROM groups)", "alias", "aliases" },
		{ "SELECT count(*) FROM groups WHERE domain = ?1", "group", "groups" },
		{ "SELECT count(*) FROM resources WHERE domain = ?1", "resource", "resources" },
		{ "SELECT count(*) FROM relay_recipients WHERE domain = ?1", "relay recipient",
		  "relay recipients" },
		{ "SELECT count(*) FROM access WHERE scope = ?1 OR scope LIKE '%@' || ?1",
		  "access entry", "access entries" },
	};
	int want[] = { accounts, aliases, aliases, accounts, relay, accounts && aliases && relay };
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(what) / sizeof(what[0]); i++) {
		long long n;
		if (!want[i])
			continue;
		if ((n = run(dir, error_r, what[i].sql, 1, name)) < 0)
			return -1;
		if (n > 0 && len < size)
			len += (size_t)snprintf(out + len, size - len, "%s%lld %s", len > 0 ? ", " : "", n,
			    n == 1 ? what[i].one : what[i].many);
	}
	return 0;
}

int
directory_domain_add(struct directory *dir, const struct dir_domain *d, const char **error_r)
{
	char name[256], catchall[ADDR_SIZE];

	if (domain_check(d, name, sizeof(name), catchall, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	switch (domain_get(dir, name, NULL)) {
	case 1:
		FAIL("domain %s exists", name);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	if (run(dir, error_r, "INSERT INTO domains (name, kind, verify, nexthop, catchall) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)", 5, name, dir_domain_kind_str(d->kind),
	    dir_verify_str(d->verify), d->nexthop, catchall) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_domain_update(struct directory *dir, const struct dir_domain *d, const char **error_r)
{
	char name[256], catchall[ADDR_SIZE], left[256];
	struct dir_domain old;

	if (domain_check(d, name, sizeof(name), catchall, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	switch (domain_get(dir, name, &old)) {
	case 0:
		FAIL("unknown domain %s", name);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	if (old.kind != d->kind || (old.verify == DIR_VERIFY_LIST && d->verify != DIR_VERIFY_LIST)) {
		if (domain_contents(dir, name, old.kind == DIR_DOMAIN_LOCAL,
		    old.kind == DIR_DOMAIN_LOCAL, old.kind == DIR_DOMAIN_RELAY, left, sizeof(left),
		    error_r) < 0)
			goto fail;
		if (left[0] != '\0')
			FAIL("domain %s has %s: cannot make it %s%s%s", name, left,
			    dir_domain_kind_str(d->kind), d->kind == DIR_DOMAIN_RELAY ? " with verify " : "",
			    d->kind == DIR_DOMAIN_RELAY ? dir_verify_str(d->verify) : "");
	}
	if (run(dir, error_r, "UPDATE domains SET kind = ?2, verify = ?3, nexthop = ?4, "
	    "catchall = ?5 WHERE name = ?1", 5, name, dir_domain_kind_str(d->kind),
	    dir_verify_str(d->verify), d->nexthop, catchall) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_domain_del(struct directory *dir, const char *domain, const char **error_r)
{
	char name[256], left[256];

	if (name_norm(domain, name, sizeof(name)) < 0 || !domain_valid(name)) {
		*error_r = set_error("bad domain name %s", domain);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	switch (domain_get(dir, name, NULL)) {
	case 0:
		FAIL("unknown domain %s", name);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	if (domain_contents(dir, name, 1, 1, 1, left, sizeof(left), error_r) < 0)
		goto fail;
	if (left[0] != '\0')
		FAIL("domain %s is not empty: %s", name, left);
	/* Its admins no longer administer it (a global admin still does). */
	if (run(dir, error_r, "DELETE FROM domains WHERE name = ?1", 1, name) < 0 ||
	    run(dir, error_r, "DELETE FROM admin_domains WHERE domain = ?1", 1, name) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_domain_foreach(struct directory *dir,
    int (*fn)(const struct dir_domain *d, void *ctx), void *ctx)
{
	sqlite3_stmt *st;
	int rc, stop = 0;

	if (sqlite3_prepare_v2(dir->db, "SELECT name, kind, verify, nexthop, catchall FROM domains "
	    "ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
		db_warn(dir, "domain list");
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dir_domain d;
		domain_from_row(st, &d);
		if ((stop = fn(&d, ctx)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		db_warn(dir, "domain list");
		stop = -1;
	}
	sqlite3_finalize(st);
	return stop;
}

/*
 * Normalize and check addr for an account, alias or relay recipient: its
 * domain must be in the directory, of kind.  0, or -1 with *error_r.
 */
static int
addr_in_domain(struct directory *dir, const char *addr, enum dir_domain_kind kind, char *out,
    const char **domain_r, const char **error_r)
{
	struct dir_domain d;

	if (addr_norm_valid(addr, out, ADDR_SIZE, domain_r) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	switch (domain_get(dir, *domain_r, &d)) {
	case 0:
		*error_r = set_error("unknown domain %s", *domain_r);
		return -1;
	case -1:
		*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
		return -1;
	}
	if (d.kind != kind) {
		*error_r = set_error("%s is a %s domain, not a %s domain", *domain_r,
		    dir_domain_kind_str(d.kind), dir_domain_kind_str(kind));
		return -1;
	}
	return 0;
}

/* 1 if addr (normalized) is a group, 0 if not, -1 on error (writers: version 4). */
static int
group_exists(struct directory *dir, const char *addr)
{
	const char *error;

	return (int)run(dir, &error, "SELECT count(*) FROM groups WHERE address = ?1", 1, addr);
}

static int
resource_exists(struct directory *dir, const char *addr)
{
	const char *error;

	return (int)run(dir, &error, "SELECT count(*) FROM resources WHERE address = ?1", 1, addr);
}

int
directory_account_add(struct directory *dir, const char *addr, const char **error_r)
{
	char a[ADDR_SIZE], now[32];
	const char *domain;

	if (begin(dir, error_r) < 0)
		return -1;
	if (addr_in_domain(dir, addr, DIR_DOMAIN_LOCAL, a, &domain, error_r) < 0)
		goto fail;
	switch (local_rcpt(dir, a)) {
	case DIR_RCPT_ACCOUNT:
	case DIR_RCPT_DISABLED:
		FAIL("account %s exists", a);
	case DIR_RCPT_ALIAS:
		FAIL("%s is %s", a, group_exists(dir, a) == 1 ? "a group" : "an alias");
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	switch (group_exists(dir, a)) {
	case 1:
		FAIL("%s is a group", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (run(dir, error_r, "INSERT INTO accounts (address, domain, enabled, created) "
	    "VALUES (?1, ?2, 1, CAST(?3 AS INTEGER))", 3, a, domain, now) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

/* Run one change whose only failure is that addr is not there. */
static int
change_one(struct directory *dir, const char *addr, const char *sql, const char *extra,
    const char *missing, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;
	long long n;

	if (addr_norm_valid(addr, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	if (writable(dir, error_r) < 0)
		return -1;
	n = extra != NULL ? run(dir, error_r, sql, 2, a, extra) : run(dir, error_r, sql, 1, a);
	if (n < 0)
		return -1;
	if (n == 0) {
		*error_r = set_error("%s %s", missing, a);
		return -1;
	}
	return 0;
}

int
directory_account_del(struct directory *dir, const char *addr, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (begin(dir, error_r) < 0)
		return -1;
	if (addr_norm(addr, a, sizeof(a), &domain) == 0 && resource_exists(dir, a) == 1)
		FAIL("%s is a resource (facteurctl resource del)", a);
	if (change_one(dir, addr, "DELETE FROM accounts WHERE address = ?1", NULL,
	    "no such account", error_r) < 0)
		goto fail;
	/* Its app passwords go with it (change_one checked the address). */
	if (run(dir, error_r, "DELETE FROM app_passwords WHERE account = ?1", 1, a) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_account_set_enabled(struct directory *dir, const char *addr, int enabled,
    const char **error_r)
{
	return change_one(dir, addr, "UPDATE accounts SET enabled = CAST(?2 AS INTEGER) "
	    "WHERE address = ?1", enabled ? "1" : "0", "no such account", error_r);
}

/* A listing's callback, and how a row is handed to it. */
struct row_cb {
	int (*row)(sqlite3_stmt *st, const struct row_cb *cb, void *ctx);
	union {
		int (*account)(const char *addr, int enabled, void *ctx);
		int (*alias)(const char *addr, const char *target, void *ctx);
		int (*relay)(const char *addr, void *ctx);
		int (*access)(const char *scope, const char *pattern, enum dir_access action,
		    void *ctx);
	} fn;
};

/* The rows of sql_domain for domain, or of sql_all when domain is NULL. */
static int
foreach_rows(struct directory *dir, const char *sql_all, const char *sql_domain,
    const char *domain, const struct row_cb *cb, void *ctx)
{
	char name[256];
	sqlite3_stmt *st;
	int rc, stop = 0;

	if (sqlite3_prepare_v2(dir->db, domain != NULL ? sql_domain : sql_all, -1, &st,
	    NULL) != SQLITE_OK) {
		db_warn(dir, "list");
		return -1;
	}
	if (domain != NULL) {
		if (name_norm(domain, name, sizeof(name)) < 0)
			name[0] = '\0';
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((stop = cb->row(st, cb, ctx)) != 0)
			break;
	if (stop == 0 && rc != SQLITE_DONE) {
		db_warn(dir, "list");
		stop = -1;
	}
	sqlite3_finalize(st);
	return stop;
}

static int
account_row(sqlite3_stmt *st, const struct row_cb *cb, void *ctx)
{
	return cb->fn.account(col_text(st, 0), sqlite3_column_int(st, 1), ctx);
}

int
directory_account_foreach(struct directory *dir, const char *domain,
    int (*fn)(const char *addr, int enabled, void *ctx), void *ctx)
{
	return foreach_rows(dir, "SELECT address, enabled FROM accounts ORDER BY address",
	    "SELECT address, enabled FROM accounts WHERE domain = ?1 ORDER BY address", domain,
	    &(struct row_cb){ .row = account_row, .fn.account = fn }, ctx);
}

int
directory_alias_add(struct directory *dir, const char *addr, const char *target,
    const char **error_r)
{
	char a[ADDR_SIZE], t[ADDR_SIZE];
	const char *domain, *td;

	if (addr_norm_valid(target, t, sizeof(t), &td) < 0) {
		*error_r = set_error("bad target address %s", target);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	if (addr_in_domain(dir, addr, DIR_DOMAIN_LOCAL, a, &domain, error_r) < 0)
		goto fail;
	if (strcmp(a, t) == 0)
		FAIL("alias %s cannot point to itself", a);
	switch (account_get(dir, a)) {
	case 1:
	case 2:
		FAIL("%s is an account", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	switch (group_exists(dir, a)) {
	case 1:
		FAIL("%s is a group (facteurctl group member add)", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	switch (run(dir, error_r, "SELECT 1 FROM aliases WHERE address = ?1 AND target = ?2", 2, a,
	    t)) {
	case 1:
		FAIL("alias %s -> %s exists", a, t);
	case -1:
		goto fail;
	}
	if (run(dir, error_r, "INSERT INTO aliases (address, target, domain) VALUES (?1, ?2, ?3)",
	    3, a, t, domain) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_alias_del(struct directory *dir, const char *addr, const char *target,
    const char **error_r)
{
	char t[ADDR_SIZE], a[ADDR_SIZE];
	const char *td;

	if (writable(dir, error_r) < 0)
		return -1;
	if (addr_norm(addr, a, sizeof(a), &td) == 0 && group_exists(dir, a) == 1) {
		*error_r = set_error("%s is a group (facteurctl group del or group member del)", a);
		return -1;
	}
	if (target == NULL)
		return change_one(dir, addr, "DELETE FROM aliases WHERE address = ?1", NULL,
		    "no such alias", error_r);
	if (addr_norm_valid(target, t, sizeof(t), &td) < 0) {
		*error_r = set_error("bad target address %s", target);
		return -1;
	}
	if (change_one(dir, addr, "DELETE FROM aliases WHERE address = ?1 AND target = ?2", t,
	    "no such alias", error_r) == 0)
		return 0;
	/* Say which part was not found. */
	if (addr_norm(addr, a, sizeof(a), &td) == 0 && strncmp(*error_r, "no such alias", 13) == 0 &&
	    alias_exists(dir, a) == 1)
		*error_r = set_error("alias %s has no target %s", a, t);
	return -1;
}

static int
alias_row(sqlite3_stmt *st, const struct row_cb *cb, void *ctx)
{
	return cb->fn.alias(col_text(st, 0), col_text(st, 1), ctx);
}

int
directory_alias_foreach(struct directory *dir, const char *domain,
    int (*fn)(const char *addr, const char *target, void *ctx), void *ctx)
{
	/* A group's members are rows of aliases: not listed here. */
	if (user_version(dir->db) >= 4)
		return foreach_rows(dir, "SELECT address, target FROM aliases WHERE address NOT IN "
		    "(SELECT address FROM groups) ORDER BY address, target",
		    "SELECT address, target FROM aliases WHERE domain = ?1 AND address NOT IN "
		    "(SELECT address FROM groups) ORDER BY address, target", domain,
		    &(struct row_cb){ .row = alias_row, .fn.alias = fn }, ctx);
	return foreach_rows(dir, "SELECT address, target FROM aliases ORDER BY address, target",
	    "SELECT address, target FROM aliases WHERE domain = ?1 ORDER BY address, target", domain,
	    &(struct row_cb){ .row = alias_row, .fn.alias = fn }, ctx);
}

int
directory_relay_rcpt_add(struct directory *dir, const char *addr, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (begin(dir, error_r) < 0)
		return -1;
	if (addr_in_domain(dir, addr, DIR_DOMAIN_RELAY, a, &domain, error_r) < 0)
		goto fail;
	switch (relay_rcpt_exists(dir, a)) {
	case 1:
		FAIL("relay recipient %s exists", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	if (run(dir, error_r, "INSERT INTO relay_recipients (address, domain) VALUES (?1, ?2)", 2,
	    a, domain) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_relay_rcpt_del(struct directory *dir, const char *addr, const char **error_r)
{
	return change_one(dir, addr, "DELETE FROM relay_recipients WHERE address = ?1", NULL,
	    "no such relay recipient", error_r);
}

static int
relay_row(sqlite3_stmt *st, const struct row_cb *cb, void *ctx)
{
	return cb->fn.relay(col_text(st, 0), ctx);
}

int
directory_relay_rcpt_foreach(struct directory *dir, const char *domain,
    int (*fn)(const char *addr, void *ctx), void *ctx)
{
	return foreach_rows(dir, "SELECT address FROM relay_recipients ORDER BY address",
	    "SELECT address FROM relay_recipients WHERE domain = ?1 ORDER BY address", domain,
	    &(struct row_cb){ .row = relay_row, .fn.relay = fn }, ctx);
}

/*
 * Normalize an access scope ("" global, a domain, an address) into out;
 * *domain_r is its domain (NULL for global).
 */
static int
scope_norm(const char *scope, char *out, const char **domain_r, const char **error_r)
{
	if (scope == NULL || scope[0] == '\0') {
		out[0] = '\0';
		*domain_r = NULL;
		return 0;
	}
	if (strchr(scope, '@') != NULL) {
		if (addr_norm_valid(scope, out, ADDR_SIZE, domain_r) == 0)
			return 0;
	} else if (name_norm(scope, out, ADDR_SIZE) == 0 && domain_valid(out)) {
		*domain_r = out;
		return 0;
	}
	*error_r = set_error("bad access scope %s: not a domain or an address", scope);
	return -1;
}

/* Normalize an access pattern into out and say what it is (the type column). */
static int
access_pattern_norm(const char *pattern, char *out, size_t size, const char **type_r,
    const char **error_r)
{
	const char *domain;
	char tmp[ADDR_SIZE];
	int is_net;

	if (ip_norm(pattern, out, size, &is_net)) {
		*type_r = is_net ? "net" : "ip";
		return 0;
	}
	if (pattern[0] == '@') {
		if (name_norm(pattern + 1, out, size) == 0 && domain_valid(out)) {
			*type_r = "domain";
			return 0;
		}
	} else if (pattern[0] == '.') {
		if (name_norm(pattern + 1, tmp, sizeof(tmp)) == 0 && domain_valid(tmp) &&
		    strlen(tmp) + 1 < size) {
			snprintf(out, size, ".%s", tmp);
			*type_r = "subdomain";
			return 0;
		}
	} else if (strchr(pattern, '@') != NULL) {
		if (size >= ADDR_SIZE && addr_norm_valid(pattern, out, size, &domain) == 0) {
			*type_r = "address";
			return 0;
		}
	} else if (name_norm(pattern, out, size) == 0 && domain_valid(out)) {
		*type_r = "domain";
		return 0;
	}
	*error_r = set_error("bad access pattern %s: not an IP address, a network, an address or "
	    "a domain", pattern);
	return -1;
}

int
directory_access_add(struct directory *dir, const char *scope, const char *pattern,
    enum dir_access action, const char **error_r)
{
	char s[ADDR_SIZE], p[ADDR_SIZE];
	const char *domain, *type;
	struct dir_domain d;

	if (action != DIR_ACCESS_ALLOW && action != DIR_ACCESS_DENY) {
		*error_r = set_error("access entry %s: the action is allow or deny", pattern);
		return -1;
	}
	if (scope_norm(scope, s, &domain, error_r) < 0 ||
	    access_pattern_norm(pattern, p, sizeof(p), &type, error_r) < 0 ||
	    begin(dir, error_r) < 0)
		return -1;
	/* A scope is a recipient of ours: a typo would make an entry that never applies. */
	if (domain != NULL) {
		switch (domain_get(dir, domain, &d)) {
		case 0:
			FAIL("unknown domain %s", domain);
		case -1:
			FAIL("directory: %s", sqlite3_errmsg(dir->db));
		}
	}
	if (run(dir, error_r, "INSERT OR REPLACE INTO access (scope, pattern, type, action) "
	    "VALUES (?1, ?2, ?3, ?4)", 4, s, p, type, dir_access_str(action)) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_access_del(struct directory *dir, const char *scope, const char *pattern,
    const char **error_r)
{
	char s[ADDR_SIZE], p[ADDR_SIZE];
	const char *domain, *type;
	long long n;

	if (scope_norm(scope, s, &domain, error_r) < 0 ||
	    access_pattern_norm(pattern, p, sizeof(p), &type, error_r) < 0 ||
	    writable(dir, error_r) < 0)
		return -1;
	if ((n = run(dir, error_r, "DELETE FROM access WHERE scope = ?1 AND pattern = ?2", 2, s,
	    p)) < 0)
		return -1;
	if (n == 0) {
		*error_r = s[0] != '\0' ? set_error("no access entry %s for %s", p, s) :
		    set_error("no global access entry %s", p);
		return -1;
	}
	return 0;
}

static int
access_row(sqlite3_stmt *st, const struct row_cb *cb, void *ctx)
{
	return cb->fn.access(col_text(st, 0), col_text(st, 1),
	    strcmp(col_text(st, 2), "deny") == 0 ? DIR_ACCESS_DENY : DIR_ACCESS_ALLOW, ctx);
}

int
directory_access_foreach(struct directory *dir,
    int (*fn)(const char *scope, const char *pattern, enum dir_access action, void *ctx),
    void *ctx)
{
	static const char sql[] = "SELECT scope, pattern, action FROM access ORDER BY scope, pattern";

	return foreach_rows(dir, sql, sql, NULL,
	    &(struct row_cb){ .row = access_row, .fn.access = fn }, ctx);
}

/* ---- authentication data, profiles ---- */

/* The services a profile may name, in DIR_SERVICES_ALL's order. */
static const char *const service_names[] = { "smtp", "imap", "sieve", "dav", "xmpp" };
#define N_SERVICES (sizeof(service_names) / sizeof(service_names[0]))

int
dir_services_norm(const char *list, char *out, const char **error_r)
{
	int want[N_SERVICES] = { 0 };
	char buf[512], *save = NULL;
	size_t len = 0;

	if (str_copy(buf, list, sizeof(buf)) >= sizeof(buf)) {
		*error_r = set_error("services list too long");
		return -1;
	}
	for (char *w = strtok_r(buf, ", \t", &save); w != NULL; w = strtok_r(NULL, ", \t", &save)) {
		size_t k;
		for (k = 0; k < N_SERVICES; k++)
			if (str_casecmp(w, service_names[k]) == 0)
				break;
		if (k == N_SERVICES) {
			*error_r = set_error("unknown service %s (known: %s)", w, DIR_SERVICES_ALL);
			return -1;
		}
		want[k] = 1;
	}
	out[0] = '\0';
	for (size_t k = 0; k < N_SERVICES; k++)
		if (want[k])
			len += (size_t)snprintf(out + len, DIR_SERVICES_SIZE - len, "%s%s",
			    len > 0 ? "," : "", service_names[k]);
	return 0;
}

int
dir_services_has(const char *list, const char *service)
{
	size_t n = strlen(service);

	if (n == 0)
		return 0;
	for (const char *p = list; *p != '\0';) {
		size_t w = strcspn(p, ",");
		if (w == n && strncmp(p, service, n) == 0)
			return 1;
		p += w;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* A profile's or an app password's name: 1 to 63 of A-Z, a-z, 0-9, '.', '_', '-'. */
static int
name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DIR_NAME_SIZE)
		return 0;
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

/* A profile's name, lower-cased into out (DIR_NAME_SIZE); -1 if it is not one. */
static int
profile_name_norm(const char *s, char *out)
{
	if (strlen(s) >= DIR_NAME_SIZE)
		return -1;
	str_copy(out, s, DIR_NAME_SIZE);
	str_lower(out);
	return name_valid(out) ? 0 : -1;
}

/* What a hash column may hold: printable ASCII without blanks, that fits. */
static int
hash_storable(const char *hash)
{
	size_t n = strlen(hash);

	if (n == 0 || n >= DIR_HASH_SIZE)
		return 0;
	for (const char *p = hash; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/*
 * Prepare a statement reading a table of version 2: 1 done, 0 when the
 * file is still of version 1 (a reader's: the table is not there, so it
 * has no rows), -1 on error (logged).
 */
static int
prepare_v2_table(struct directory *dir, const char *sql, sqlite3_stmt **st, const char *what)
{
	char msg[256];

	if (sqlite3_prepare_v2(dir->db, sql, -1, st, NULL) == SQLITE_OK)
		return 1;
	str_copy(msg, sqlite3_errmsg(dir->db), sizeof(msg));
	if (user_version(dir->db) == 1)
		return 0;
	log_warnx("directory: %s: %s", what, msg);
	return -1;
}

/* The columns of ST_ACCOUNT_FULL (either version). */
static void
account_from_row(sqlite3_stmt *st, struct dir_account *out)
{
	memset(out, 0, sizeof(*out));
	str_copy(out->address, col_text(st, 0), sizeof(out->address));
	out->enabled = sqlite3_column_int(st, 1) != 0;
	out->created = sqlite3_column_int64(st, 2);
	str_copy(out->password, col_text(st, 3), sizeof(out->password));
	str_copy(out->profile, col_text(st, 4), sizeof(out->profile));
	str_copy(out->name, col_text(st, 5), sizeof(out->name));
	out->resource = sqlite3_column_int(st, 6) != 0;
}

int
directory_account_get(struct directory *dir, const char *addr, struct dir_account *out)
{
	sqlite3_stmt *st = dir->st[ST_ACCOUNT_FULL];
	char a[ADDR_SIZE];
	const char *domain;
	int rc;

	if (addr_norm(addr, a, sizeof(a), &domain) < 0)
		return 0;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "account lookup")) == 1 && out != NULL)
		account_from_row(st, out);
	sqlite3_reset(st);
	return rc;
}

int
directory_account_foreach_full(struct directory *dir, const char *domain,
    int (*fn)(const struct dir_account *acc, void *ctx), void *ctx)
{
	char name[256];
	sqlite3_stmt *st;
	int rc, stop = 0, v4 = user_version(dir->db) >= 4;
	const char *sql;

	if (v4)
		sql = domain != NULL ? "SELECT " ACCOUNT_COLUMNS_V4 " WHERE a.domain = ?1 "
		    "ORDER BY a.address" : "SELECT " ACCOUNT_COLUMNS_V4 " ORDER BY a.address";
	else
		sql = domain != NULL ? "SELECT address, enabled, created, password, profile, '', 0 "
		    "FROM accounts WHERE domain = ?1 ORDER BY address" :
		    "SELECT address, enabled, created, password, profile, '', 0 FROM accounts "
		    "ORDER BY address";
	if (sqlite3_prepare_v2(dir->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_warn(dir, "account list");
		return -1;
	}
	if (domain != NULL) {
		if (name_norm(domain, name, sizeof(name)) < 0)
			name[0] = '\0';
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dir_account acc;
		account_from_row(st, &acc);
		if ((stop = fn(&acc, ctx)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		db_warn(dir, "account list");
		stop = -1;
	}
	sqlite3_finalize(st);
	return stop;
}

int
directory_has_accounts(struct directory *dir)
{
	sqlite3_stmt *st = dir->st[ST_ANY_ACCOUNT];
	int rc = st_row(dir, st, "account lookup");

	sqlite3_reset(st);
	return rc;
}

static void
profile_from_row(sqlite3_stmt *st, struct dir_profile *out)
{
	int scope = dir_retention_scope_parse(col_text(st, 4));

	memset(out, 0, sizeof(*out));
	str_copy(out->name, col_text(st, 0), sizeof(out->name));
	out->quota_bytes = sqlite3_column_int64(st, 1);
	out->retention_days = sqlite3_column_int(st, 2);
	str_copy(out->services, col_text(st, 3), sizeof(out->services));
	out->retention_scope = scope > 0 ? (enum dir_retention_scope)scope : DIR_RETENTION_TRASH;
}

/*
 * Prepare "SELECT <the profile's columns> FROM profiles <tail>": 1 done,
 * 0 for a file of version 1 (no profiles), -1 on error (logged).  A
 * reader's file of version 2 has no retention_scope: every retention
 * there is of the Trash and Junk.
 */
static int
prepare_profiles(struct directory *dir, const char *tail, sqlite3_stmt **st, const char *what)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT name, quota_bytes, retention_days, services, "
	    "retention_scope FROM profiles %s", tail);
	if (sqlite3_prepare_v2(dir->db, sql, -1, st, NULL) == SQLITE_OK)
		return 1;
	if (user_version(dir->db) == 2)
		snprintf(sql, sizeof(sql), "SELECT name, quota_bytes, retention_days, services, "
		    "'trash' FROM profiles %s", tail);
	return prepare_v2_table(dir, sql, st, what);
}

int
directory_profile_get(struct directory *dir, const char *name, struct dir_profile *out)
{
	char n[DIR_NAME_SIZE];
	sqlite3_stmt *st;
	int rc;

	if (profile_name_norm(name, n) < 0)
		return 0;
	if ((rc = prepare_profiles(dir, "WHERE name = ?1", &st, "profile lookup")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, n, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "profile lookup")) == 1 && out != NULL)
		profile_from_row(st, out);
	sqlite3_finalize(st);
	return rc;
}

int
directory_app_password_foreach(struct directory *dir, const char *addr,
    int (*fn)(const struct dir_app_password *ap, void *ctx), void *ctx)
{
	char a[ADDR_SIZE];
	const char *domain;
	sqlite3_stmt *st;
	int rc, stop = 0;

	if (addr_norm(addr, a, sizeof(a), &domain) < 0)
		return 0;
	if ((rc = prepare_v2_table(dir, "SELECT name, hash, created, coalesce(last_used, 0) "
	    "FROM app_passwords WHERE account = ?1 ORDER BY name", &st, "app password list")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dir_app_password ap;
		memset(&ap, 0, sizeof(ap));
		str_copy(ap.name, col_text(st, 0), sizeof(ap.name));
		str_copy(ap.hash, col_text(st, 1), sizeof(ap.hash));
		ap.created = sqlite3_column_int64(st, 2);
		ap.last_used = sqlite3_column_int64(st, 3);
		if ((stop = fn(&ap, ctx)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		db_warn(dir, "app password list");
		stop = -1;
	}
	sqlite3_finalize(st);
	return stop;
}

int
directory_account_set_password(struct directory *dir, const char *addr, const char *hash,
    const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (hash == NULL || hash[0] == '\0')
		return change_one(dir, addr, "UPDATE accounts SET password = NULL WHERE address = ?1",
		    NULL, "no such account", error_r);
	if (!hash_storable(hash)) {
		*error_r = set_error("bad password hash: printable characters without blanks, at "
		    "most %d", DIR_HASH_SIZE - 1);
		return -1;
	}
	/* Resources receive invitations; nobody logs in as them. */
	if (writable(dir, error_r) < 0)
		return -1;
	if (addr_norm(addr, a, sizeof(a), &domain) == 0 && resource_exists(dir, a) == 1) {
		*error_r = set_error("%s is a resource: it has no password", a);
		return -1;
	}
	return change_one(dir, addr, "UPDATE accounts SET password = ?2 WHERE address = ?1", hash,
	    "no such account", error_r);
}

int
directory_account_set_name(struct directory *dir, const char *addr, const char *name,
    const char **error_r)
{
	if (name == NULL)
		name = "";
	if (!dir_text_valid(name)) {
		*error_r = set_error("bad display name: UTF-8 text of at most %d bytes without control "
		    "characters", DIR_TEXT_SIZE - 1);
		return -1;
	}
	return change_one(dir, addr, "UPDATE accounts SET name = ?2 WHERE address = ?1", name,
	    "no such account", error_r);
}

int
directory_account_set_profile(struct directory *dir, const char *addr, const char *profile,
    const char **error_r)
{
	char n[DIR_NAME_SIZE];
	int set = profile != NULL && profile[0] != '\0';

	if (set && profile_name_norm(profile, n) < 0) {
		*error_r = set_error("bad profile name %s", profile);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	if (set) {
		switch (run(dir, error_r, "SELECT count(*) FROM profiles WHERE name = ?1", 1, n)) {
		case 0:
			FAIL("unknown profile %s", n);
		case -1:
			goto fail;
		}
	}
	if (change_one(dir, addr, set ? "UPDATE accounts SET profile = ?2 WHERE address = ?1" :
	    "UPDATE accounts SET profile = NULL WHERE address = ?1", set ? n : NULL,
	    "no such account", error_r) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_app_password_add(struct directory *dir, const char *addr, const char *name,
    const char *hash, const char **error_r)
{
	char a[ADDR_SIZE], now[32];
	const char *domain;
	long long n;

	if (!name_valid(name)) {
		*error_r = set_error("bad app password name %s: 1 to %d letters, digits, '.', '_' or "
		    "'-'", name, DIR_NAME_SIZE - 1);
		return -1;
	}
	if (!hash_storable(hash)) {
		*error_r = set_error("bad app password hash");
		return -1;
	}
	if (addr_norm_valid(addr, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	switch (account_get(dir, a)) {
	case 0:
		FAIL("no such account %s", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	switch (run(dir, error_r, "SELECT 1 FROM app_passwords WHERE account = ?1 AND name = ?2", 2,
	    a, name)) {
	case 1:
		FAIL("account %s has an app password %s", a, name);
	case -1:
		goto fail;
	}
	if ((n = run(dir, error_r, "SELECT count(*) FROM app_passwords WHERE account = ?1", 1,
	    a)) < 0)
		goto fail;
	if (n >= DIR_APP_PASSWORDS_MAX)
		FAIL("account %s has %lld app passwords, the most it may have: revoke one first", a, n);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (run(dir, error_r, "INSERT INTO app_passwords (account, name, hash, created) "
	    "VALUES (?1, ?2, ?3, CAST(?4 AS INTEGER))", 4, a, name, hash, now) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_app_password_del(struct directory *dir, const char *addr, const char *name,
    const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;
	long long n;

	if (addr_norm_valid(addr, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	if (writable(dir, error_r) < 0)
		return -1;
	if ((n = run(dir, error_r, "DELETE FROM app_passwords WHERE account = ?1 AND name = ?2", 2,
	    a, name)) < 0)
		return -1;
	if (n == 0) {
		*error_r = account_get(dir, a) == 0 ? set_error("no such account %s", a) :
		    set_error("account %s has no app password %s", a, name);
		return -1;
	}
	return 0;
}

int
directory_app_password_used(struct directory *dir, const char *addr, const char *name,
    long long when, const char **error_r)
{
	char a[ADDR_SIZE], w[32];
	const char *domain;
	long long n;

	if (dir->readonly) {
		*error_r = set_error("the directory is open read-only");
		return -1;
	}
	if (addr_norm(addr, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	snprintf(w, sizeof(w), "%lld", when);
	if ((n = run(dir, error_r, "UPDATE app_passwords SET last_used = CAST(?3 AS INTEGER) "
	    "WHERE account = ?1 AND name = ?2", 3, a, name, w)) < 0)
		return -1;
	if (n == 0) {
		*error_r = set_error("account %s has no app password %s", a, name);
		return -1;
	}
	return 0;
}

/* Validate a profile; its name and services normalized into name and services. */
static int
profile_check(const struct dir_profile *p, char *name, char *services, const char **error_r)
{
	if (profile_name_norm(p->name, name) < 0)
		FAIL("bad profile name %s: 1 to %d letters, digits, '.', '_' or '-'", p->name,
		    DIR_NAME_SIZE - 1);
	if (p->quota_bytes < 0)
		FAIL("profile %s: the quota cannot be negative", name);
	if (p->retention_days < 0)
		FAIL("profile %s: the retention cannot be negative", name);
	if (p->retention_scope != DIR_RETENTION_TRASH && p->retention_scope != DIR_RETENTION_ALL)
		FAIL("profile %s: bad retention scope", name);
	if (dir_services_norm(p->services, services, error_r) < 0)
		goto fail;
	return 0;
fail:
	return -1;
}

/* Write p (checked); insert: a new profile, else an existing one. */
static int
profile_write(struct directory *dir, const struct dir_profile *p, int insert,
    const char **error_r)
{
	char name[DIR_NAME_SIZE], services[DIR_SERVICES_SIZE], quota[32], retention[32];
	long long n;

	if (profile_check(p, name, services, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	if ((n = run(dir, error_r, "SELECT count(*) FROM profiles WHERE name = ?1", 1, name)) < 0)
		goto fail;
	if (insert && n > 0)
		FAIL("profile %s exists", name);
	if (!insert && n == 0)
		FAIL("unknown profile %s", name);
	snprintf(quota, sizeof(quota), "%lld", p->quota_bytes);
	snprintf(retention, sizeof(retention), "%d", p->retention_days);
	if (run(dir, error_r, insert ?
	    "INSERT INTO profiles (name, quota_bytes, retention_days, services, retention_scope) "
	    "VALUES (?1, CAST(?2 AS INTEGER), CAST(?3 AS INTEGER), ?4, ?5)" :
	    "UPDATE profiles SET quota_bytes = CAST(?2 AS INTEGER), "
	    "retention_days = CAST(?3 AS INTEGER), services = ?4, retention_scope = ?5 "
	    "WHERE name = ?1", 5, name, quota, retention, services,
	    dir_retention_scope_str(p->retention_scope)) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_profile_add(struct directory *dir, const struct dir_profile *p, const char **error_r)
{
	return profile_write(dir, p, 1, error_r);
}

int
directory_profile_update(struct directory *dir, const struct dir_profile *p,
    const char **error_r)
{
	return profile_write(dir, p, 0, error_r);
}

int
directory_profile_del(struct directory *dir, const char *name, const char **error_r)
{
	char n[DIR_NAME_SIZE];
	long long users;

	if (profile_name_norm(name, n) < 0) {
		*error_r = set_error("bad profile name %s", name);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "SELECT count(*) FROM profiles WHERE name = ?1", 1, n)) {
	case 0:
		FAIL("unknown profile %s", n);
	case -1:
		goto fail;
	}
	if ((users = run(dir, error_r, "SELECT count(*) FROM accounts WHERE profile = ?1", 1,
	    n)) < 0)
		goto fail;
	if (users > 0)
		FAIL("profile %s is used by %lld account%s", n, users, users == 1 ? "" : "s");
	if (run(dir, error_r, "DELETE FROM profiles WHERE name = ?1", 1, n) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_profile_foreach(struct directory *dir,
    int (*fn)(const struct dir_profile *p, void *ctx), void *ctx)
{
	sqlite3_stmt *st;
	int rc, stop = 0;

	if ((rc = prepare_profiles(dir, "ORDER BY name", &st, "profile list")) <= 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct dir_profile p;
		profile_from_row(st, &p);
		if ((stop = fn(&p, ctx)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE) {
		db_warn(dir, "profile list");
		stop = -1;
	}
	sqlite3_finalize(st);
	return stop;
}

/* ---- groups ---- */

/* Reading a table of version 4: 1 prepared, 0 for an older file (no rows), -1 on error. */
static int
prepare_v4(struct directory *dir, const char *sql, sqlite3_stmt **st, const char *what)
{
	if (user_version(dir->db) < 4)
		return 0;
	if (sqlite3_prepare_v2(dir->db, sql, -1, st, NULL) != SQLITE_OK) {
		db_warn(dir, what);
		return -1;
	}
	return 1;
}

static int
text_check(const char *what, const char *s, const char **error_r)
{
	if (dir_text_valid(s))
		return 0;
	*error_r = set_error("bad %s: UTF-8 text of at most %d bytes without control characters",
	    what, DIR_TEXT_SIZE - 1);
	return -1;
}

static int
group_check(const struct dir_group *g, const char **error_r)
{
	if (g->kind != DIR_GROUP_LIST && g->kind != DIR_GROUP_ALIAS) {
		*error_r = set_error("group %s: bad kind", g->address);
		return -1;
	}
	return text_check("group name", g->name, error_r) < 0 ||
	    text_check("group description", g->description, error_r) < 0 ? -1 : 0;
}

int
directory_group_add(struct directory *dir, const struct dir_group *g, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (group_check(g, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	if (addr_in_domain(dir, g->address, DIR_DOMAIN_LOCAL, a, &domain, error_r) < 0)
		goto fail;
	switch (group_exists(dir, a)) {
	case 1:
		FAIL("group %s exists", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	switch (local_rcpt(dir, a)) {
	case DIR_RCPT_ACCOUNT:
	case DIR_RCPT_DISABLED:
		FAIL("%s is an account", a);
	case DIR_RCPT_ALIAS:
		FAIL("%s is an alias", a);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	if (run(dir, error_r, "INSERT INTO groups (address, domain, kind, name, description) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)", 5, a, domain, dir_group_kind_str(g->kind), g->name,
	    g->description) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_group_update(struct directory *dir, const struct dir_group *g, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (group_check(g, error_r) < 0 || writable(dir, error_r) < 0)
		return -1;
	if (addr_norm_valid(g->address, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", g->address);
		return -1;
	}
	switch (run(dir, error_r, "UPDATE groups SET kind = ?2, name = ?3, description = ?4 "
	    "WHERE address = ?1", 4, a, dir_group_kind_str(g->kind), g->name, g->description)) {
	case 0:
		*error_r = set_error("no such group %s", a);
		return -1;
	case -1:
		return -1;
	}
	return 0;
}

int
directory_group_del(struct directory *dir, const char *addr, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (addr_norm_valid(addr, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "DELETE FROM groups WHERE address = ?1", 1, a)) {
	case 0:
		FAIL("no such group %s", a);
	case -1:
		goto fail;
	}
	if (run(dir, error_r, "DELETE FROM aliases WHERE address = ?1", 1, a) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

/* Normalize a group's address and a member's; the group must exist. */
static int
member_args(struct directory *dir, const char *group, const char *member, char *g, char *m,
    const char **domain_r, const char **error_r)
{
	const char *md;

	if (addr_norm_valid(group, g, ADDR_SIZE, domain_r) < 0)
		FAIL("bad address %s", group);
	if (addr_norm_valid(member, m, ADDR_SIZE, &md) < 0)
		FAIL("bad member address %s", member);
	switch (group_exists(dir, g)) {
	case 0:
		FAIL("no such group %s", g);
	case -1:
		FAIL("directory: %s", sqlite3_errmsg(dir->db));
	}
	return 0;
fail:
	return -1;
}

int
directory_group_member_add(struct directory *dir, const char *group, const char *member,
    const char **error_r)
{
	char g[ADDR_SIZE], m[ADDR_SIZE];
	const char *domain;

	if (begin(dir, error_r) < 0)
		return -1;
	if (member_args(dir, group, member, g, m, &domain, error_r) < 0)
		goto fail;
	if (strcmp(g, m) == 0)
		FAIL("group %s cannot be its own member", g);
	switch (run(dir, error_r, "SELECT 1 FROM aliases WHERE address = ?1 AND target = ?2", 2, g,
	    m)) {
	case 1:
		FAIL("%s is a member of %s", m, g);
	case -1:
		goto fail;
	}
	if (run(dir, error_r, "INSERT INTO aliases (address, target, domain) VALUES (?1, ?2, ?3)",
	    3, g, m, domain) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_group_member_del(struct directory *dir, const char *group, const char *member,
    const char **error_r)
{
	char g[ADDR_SIZE], m[ADDR_SIZE];
	const char *domain;

	if (writable(dir, error_r) < 0 || member_args(dir, group, member, g, m, &domain,
	    error_r) < 0)
		return -1;
	switch (run(dir, error_r, "DELETE FROM aliases WHERE address = ?1 AND target = ?2", 2, g,
	    m)) {
	case 0:
		*error_r = set_error("%s is not a member of %s", m, g);
		return -1;
	case -1:
		return -1;
	}
	return 0;
}

static void
group_from_row(sqlite3_stmt *st, struct dir_group *out)
{
	int kind = dir_group_kind_parse(col_text(st, 1));

	memset(out, 0, sizeof(*out));
	str_copy(out->address, col_text(st, 0), sizeof(out->address));
	out->kind = kind >= 0 ? (enum dir_group_kind)kind : DIR_GROUP_LIST;
	str_copy(out->name, col_text(st, 2), sizeof(out->name));
	str_copy(out->description, col_text(st, 3), sizeof(out->description));
}

int
directory_group_get(struct directory *dir, const char *addr, struct dir_group *out)
{
	char a[ADDR_SIZE];
	const char *domain;
	sqlite3_stmt *st;
	int rc;

	if (addr_norm(addr, a, sizeof(a), &domain) < 0)
		return 0;
	if ((rc = prepare_v4(dir, "SELECT address, kind, name, description FROM groups "
	    "WHERE address = ?1", &st, "group lookup")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "group lookup")) == 1 && out != NULL)
		group_from_row(st, out);
	sqlite3_finalize(st);
	return rc;
}

/*
 * Step st (its parameter bound) through its rows, calling row for each;
 * as the listings: fn's non-zero stops, -1 on a database error.  st is
 * finalized.
 */
static int
rows_each(struct directory *dir, sqlite3_stmt *st, int (*row)(sqlite3_stmt *st, void *fn,
    void *ctx), void *fn, void *ctx, const char *what)
{
	int rc, stop = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((stop = row(st, fn, ctx)) != 0)
			break;
	if (stop == 0 && rc != SQLITE_DONE) {
		db_warn(dir, what);
		stop = -1;
	}
	sqlite3_finalize(st);
	return stop;
}

/* Prepare sql_all or, with a domain, sql_domain with the domain bound: as prepare_v4. */
static int
prepare_v4_domain(struct directory *dir, const char *sql_all, const char *sql_domain,
    const char *domain, sqlite3_stmt **st, const char *what)
{
	char name[256];
	int rc;

	if ((rc = prepare_v4(dir, domain != NULL ? sql_domain : sql_all, st, what)) <= 0)
		return rc;
	if (domain != NULL) {
		if (name_norm(domain, name, sizeof(name)) < 0)
			name[0] = '\0';
		sqlite3_bind_text(*st, 1, name, -1, SQLITE_TRANSIENT);
	}
	return 1;
}

static int
group_row(sqlite3_stmt *st, void *fn, void *ctx)
{
	int (*f)(const struct dir_group *, void *) = (int (*)(const struct dir_group *, void *))fn;
	struct dir_group g;

	group_from_row(st, &g);
	return f(&g, ctx);
}

int
directory_group_foreach(struct directory *dir, const char *domain,
    int (*fn)(const struct dir_group *g, void *ctx), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare_v4_domain(dir, "SELECT address, kind, name, description FROM groups "
	    "ORDER BY address", "SELECT address, kind, name, description FROM groups "
	    "WHERE domain = ?1 ORDER BY address", domain, &st, "group list")) <= 0)
		return rc;
	return rows_each(dir, st, group_row, (void *)fn, ctx, "group list");
}

static int
string_row(sqlite3_stmt *st, void *fn, void *ctx)
{
	int (*f)(const char *, void *) = (int (*)(const char *, void *))fn;

	return f(col_text(st, 0), ctx);
}

int
directory_group_member_foreach(struct directory *dir, const char *group,
    int (*fn)(const char *member, void *ctx), void *ctx)
{
	char a[ADDR_SIZE];
	const char *domain;
	sqlite3_stmt *st;
	int rc;

	if (addr_norm(group, a, sizeof(a), &domain) < 0)
		return 0;
	if ((rc = prepare_v4(dir, "SELECT target FROM aliases WHERE address = ?1 AND address IN "
	    "(SELECT address FROM groups) ORDER BY target", &st, "group members")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	return rows_each(dir, st, string_row, (void *)fn, ctx, "group members");
}

/* ---- resources ---- */

static int
resource_check(const struct dir_resource *r, const char **error_r)
{
	if (r->kind != DIR_RESOURCE_ROOM && r->kind != DIR_RESOURCE_EQUIPMENT) {
		*error_r = set_error("resource %s: the kind is room or equipment", r->address);
		return -1;
	}
	if (r->capacity < 0 || r->capacity > DIR_CAPACITY_MAX) {
		*error_r = set_error("resource %s: the capacity is 0 to %d", r->address,
		    DIR_CAPACITY_MAX);
		return -1;
	}
	return text_check("resource name", r->name, error_r) < 0 ||
	    text_check("resource category", r->category, error_r) < 0 ||
	    text_check("resource description", r->description, error_r) < 0 ? -1 : 0;
}

/* Write r (checked, a resource that exists: insert 0; a new one: 1). */
static int
resource_write(struct directory *dir, const struct dir_resource *r, int insert,
    const char **error_r)
{
	char a[ADDR_SIZE], capacity[16], now[32];
	const char *domain;

	if (resource_check(r, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	if (addr_in_domain(dir, r->address, DIR_DOMAIN_LOCAL, a, &domain, error_r) < 0)
		goto fail;
	snprintf(capacity, sizeof(capacity), "%d", r->capacity);
	if (insert) {
		switch (local_rcpt(dir, a)) {
		case DIR_RCPT_ACCOUNT:
		case DIR_RCPT_DISABLED:
			FAIL("%s is %s", a, resource_exists(dir, a) == 1 ? "a resource already" :
			    "an account");
		case DIR_RCPT_ALIAS:
			FAIL("%s is %s", a, group_exists(dir, a) == 1 ? "a group" : "an alias");
		case -1:
			FAIL("directory: %s", sqlite3_errmsg(dir->db));
		}
		if (group_exists(dir, a) != 0)
			FAIL("%s is a group", a);
		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		if (run(dir, error_r, "INSERT INTO accounts (address, domain, enabled, created, name) "
		    "VALUES (?1, ?2, CAST(?3 AS INTEGER), CAST(?4 AS INTEGER), ?5)", 5, a, domain,
		    r->enabled ? "1" : "0", now, r->name) < 0 ||
		    run(dir, error_r, "INSERT INTO resources (address, domain, kind, capacity, "
		    "category, description) VALUES (?1, ?2, ?3, CAST(?4 AS INTEGER), ?5, ?6)", 6, a,
		    domain, dir_resource_kind_str(r->kind), capacity, r->category, r->description) < 0)
			goto fail;
	} else {
		switch (run(dir, error_r, "UPDATE resources SET kind = ?2, capacity = CAST(?3 AS "
		    "INTEGER), category = ?4, description = ?5 WHERE address = ?1", 5, a,
		    dir_resource_kind_str(r->kind), capacity, r->category, r->description)) {
		case 0:
			FAIL("no such resource %s", a);
		case -1:
			goto fail;
		}
		if (run(dir, error_r, "UPDATE accounts SET name = ?2, enabled = CAST(?3 AS INTEGER) "
		    "WHERE address = ?1", 3, a, r->name, r->enabled ? "1" : "0") < 0)
			goto fail;
	}
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_resource_add(struct directory *dir, const struct dir_resource *r,
    const char **error_r)
{
	return resource_write(dir, r, 1, error_r);
}

int
directory_resource_update(struct directory *dir, const struct dir_resource *r,
    const char **error_r)
{
	return resource_write(dir, r, 0, error_r);
}

int
directory_resource_del(struct directory *dir, const char *addr, const char **error_r)
{
	char a[ADDR_SIZE];
	const char *domain;

	if (addr_norm_valid(addr, a, sizeof(a), &domain) < 0) {
		*error_r = set_error("bad address %s", addr);
		return -1;
	}
	if (begin(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "DELETE FROM resources WHERE address = ?1", 1, a)) {
	case 0:
		FAIL("no such resource %s", a);
	case -1:
		goto fail;
	}
	if (run(dir, error_r, "DELETE FROM accounts WHERE address = ?1", 1, a) < 0 ||
	    run(dir, error_r, "DELETE FROM app_passwords WHERE account = ?1", 1, a) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

#define RESOURCE_COLUMNS "r.address, r.kind, a.name, r.capacity, r.category, r.description, " \
	"a.enabled FROM resources r JOIN accounts a ON a.address = r.address"

static void
resource_from_row(sqlite3_stmt *st, struct dir_resource *out)
{
	int kind = dir_resource_kind_parse(col_text(st, 1));

	memset(out, 0, sizeof(*out));
	str_copy(out->address, col_text(st, 0), sizeof(out->address));
	out->kind = kind > 0 ? (enum dir_resource_kind)kind : DIR_RESOURCE_ROOM;
	str_copy(out->name, col_text(st, 2), sizeof(out->name));
	out->capacity = sqlite3_column_int(st, 3);
	str_copy(out->category, col_text(st, 4), sizeof(out->category));
	str_copy(out->description, col_text(st, 5), sizeof(out->description));
	out->enabled = sqlite3_column_int(st, 6) != 0;
}

int
directory_resource_get(struct directory *dir, const char *addr, struct dir_resource *out)
{
	char a[ADDR_SIZE];
	const char *domain;
	sqlite3_stmt *st;
	int rc;

	if (addr_norm(addr, a, sizeof(a), &domain) < 0)
		return 0;
	if ((rc = prepare_v4(dir, "SELECT " RESOURCE_COLUMNS " WHERE r.address = ?1", &st,
	    "resource lookup")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "resource lookup")) == 1 && out != NULL)
		resource_from_row(st, out);
	sqlite3_finalize(st);
	return rc;
}

static int
resource_row(sqlite3_stmt *st, void *fn, void *ctx)
{
	int (*f)(const struct dir_resource *, void *) =
	    (int (*)(const struct dir_resource *, void *))fn;
	struct dir_resource r;

	resource_from_row(st, &r);
	return f(&r, ctx);
}

int
directory_resource_foreach(struct directory *dir, const char *domain,
    int (*fn)(const struct dir_resource *r, void *ctx), void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare_v4_domain(dir, "SELECT " RESOURCE_COLUMNS " ORDER BY r.address",
	    "SELECT " RESOURCE_COLUMNS " WHERE r.domain = ?1 ORDER BY r.address", domain, &st,
	    "resource list")) <= 0)
		return rc;
	return rows_each(dir, st, resource_row, (void *)fn, ctx, "resource list");
}

/* ---- domain admins ---- */

/* An admin's name: an address, or a name as a profile's; lower-cased into out (ADDR_SIZE). */
static int
admin_name_norm(const char *name, char *out, const char **error_r)
{
	const char *domain;

	if (strchr(name, '@') != NULL) {
		if (addr_norm_valid(name, out, ADDR_SIZE, &domain) == 0)
			return 0;
	} else if (profile_name_norm(name, out) == 0) {
		return 0;
	}
	*error_r = set_error("bad admin name %s: an address, or 1 to %d letters, digits, '.', '_' "
	    "or '-'", name, DIR_NAME_SIZE - 1);
	return -1;
}

/* Replace the admin's domains (inside a transaction). */
static int
admin_domains_write(struct directory *dir, const char *name, int global,
    const char *const *domains, size_t n, const char **error_r)
{
	char d[256];

	if (global && n > 0) {
		*error_r = set_error("admin %s: a global admin has no list of domains", name);
		return -1;
	}
	if (!global && n == 0) {
		*error_r = set_error("admin %s: give its domains, or make it global", name);
		return -1;
	}
	if (run(dir, error_r, "UPDATE admins SET global = CAST(?2 AS INTEGER) WHERE name = ?1", 2,
	    name, global ? "1" : "0") < 0 ||
	    run(dir, error_r, "DELETE FROM admin_domains WHERE admin = ?1", 1, name) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (name_norm(domains[i], d, sizeof(d)) < 0 || !domain_valid(d)) {
			*error_r = set_error("bad domain name %s", domains[i]);
			return -1;
		}
		switch (domain_get(dir, d, NULL)) {
		case 0:
			*error_r = set_error("unknown domain %s", d);
			return -1;
		case -1:
			*error_r = set_error("directory: %s", sqlite3_errmsg(dir->db));
			return -1;
		}
		if (run(dir, error_r, "INSERT OR IGNORE INTO admin_domains (admin, domain) "
		    "VALUES (?1, ?2)", 2, name, d) < 0)
			return -1;
	}
	return 0;
}

static int
admin_hash_check(const char *hash, const char **error_r)
{
	if (hash != NULL && hash[0] != '\0' && !hash_storable(hash)) {
		*error_r = set_error("bad password hash: printable characters without blanks, at "
		    "most %d", DIR_HASH_SIZE - 1);
		return -1;
	}
	return 0;
}

int
directory_admin_add(struct directory *dir, const char *name, const char *hash, int global,
    const char *const *domains, size_t n, const char **error_r)
{
	char a[ADDR_SIZE], now[32];

	if (admin_name_norm(name, a, error_r) < 0 || admin_hash_check(hash, error_r) < 0 ||
	    begin(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "SELECT count(*) FROM admins WHERE name = ?1", 1, a)) {
	case 1:
		FAIL("admin %s exists", a);
	case -1:
		goto fail;
	}
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (run(dir, error_r, "INSERT INTO admins (name, password, created) "
	    "VALUES (?1, nullif(?2, ''), CAST(?3 AS INTEGER))", 3, a, hash != NULL ? hash : "",
	    now) < 0 || admin_domains_write(dir, a, global, domains, n, error_r) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_admin_set_domains(struct directory *dir, const char *name, int global,
    const char *const *domains, size_t n, const char **error_r)
{
	char a[ADDR_SIZE];

	if (admin_name_norm(name, a, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "SELECT count(*) FROM admins WHERE name = ?1", 1, a)) {
	case 0:
		FAIL("no such admin %s", a);
	case -1:
		goto fail;
	}
	if (admin_domains_write(dir, a, global, domains, n, error_r) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

int
directory_admin_set_password(struct directory *dir, const char *name, const char *hash,
    const char **error_r)
{
	char a[ADDR_SIZE];

	if (admin_name_norm(name, a, error_r) < 0 || admin_hash_check(hash, error_r) < 0 ||
	    writable(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "UPDATE admins SET password = nullif(?2, '') WHERE name = ?1", 2,
	    a, hash != NULL ? hash : "")) {
	case 0:
		*error_r = set_error("no such admin %s", a);
		return -1;
	case -1:
		return -1;
	}
	return 0;
}

int
directory_admin_del(struct directory *dir, const char *name, const char **error_r)
{
	char a[ADDR_SIZE];

	if (admin_name_norm(name, a, error_r) < 0 || begin(dir, error_r) < 0)
		return -1;
	switch (run(dir, error_r, "DELETE FROM admins WHERE name = ?1", 1, a)) {
	case 0:
		FAIL("no such admin %s", a);
	case -1:
		goto fail;
	}
	if (run(dir, error_r, "DELETE FROM admin_domains WHERE admin = ?1", 1, a) < 0)
		goto fail;
	return commit(dir, error_r);
fail:
	rollback(dir);
	return -1;
}

static void
admin_from_row(sqlite3_stmt *st, struct dir_admin *out)
{
	memset(out, 0, sizeof(*out));
	str_copy(out->name, col_text(st, 0), sizeof(out->name));
	str_copy(out->password, col_text(st, 1), sizeof(out->password));
	out->global = sqlite3_column_int(st, 2) != 0;
	out->created = sqlite3_column_int64(st, 3);
}

int
directory_admin_get(struct directory *dir, const char *name, struct dir_admin *out)
{
	char a[ADDR_SIZE];
	const char *error;
	sqlite3_stmt *st;
	int rc;

	if (admin_name_norm(name, a, &error) < 0)
		return 0;
	if ((rc = prepare_v4(dir, "SELECT name, password, global, created FROM admins "
	    "WHERE name = ?1", &st, "admin lookup")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if ((rc = st_row(dir, st, "admin lookup")) == 1 && out != NULL)
		admin_from_row(st, out);
	sqlite3_finalize(st);
	return rc;
}

static int
admin_row(sqlite3_stmt *st, void *fn, void *ctx)
{
	int (*f)(const struct dir_admin *, void *) = (int (*)(const struct dir_admin *, void *))fn;
	struct dir_admin a;

	admin_from_row(st, &a);
	return f(&a, ctx);
}

int
directory_admin_foreach(struct directory *dir, int (*fn)(const struct dir_admin *a, void *ctx),
    void *ctx)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare_v4(dir, "SELECT name, password, global, created FROM admins "
	    "ORDER BY name", &st, "admin list")) <= 0)
		return rc;
	return rows_each(dir, st, admin_row, (void *)fn, ctx, "admin list");
}

int
directory_admin_domain_foreach(struct directory *dir, const char *name,
    int (*fn)(const char *domain, void *ctx), void *ctx)
{
	char a[ADDR_SIZE];
	const char *error;
	sqlite3_stmt *st;
	int rc;

	if (admin_name_norm(name, a, &error) < 0)
		return 0;
	if ((rc = prepare_v4(dir, "SELECT domain FROM admin_domains WHERE admin = ?1 "
	    "ORDER BY domain", &st, "admin domains")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	return rows_each(dir, st, string_row, (void *)fn, ctx, "admin domains");
}

int
directory_admin_may(struct directory *dir, const char *name, const char *domain)
{
	char a[ADDR_SIZE], d[256];
	const char *error;
	sqlite3_stmt *st;
	int rc;

	if (admin_name_norm(name, a, &error) < 0 || name_norm(domain, d, sizeof(d)) < 0)
		return 0;
	if ((rc = prepare_v4(dir, "SELECT 1 FROM admins WHERE name = ?1 AND (global = 1 OR "
	    "EXISTS (SELECT 1 FROM admin_domains WHERE admin = ?1 AND domain = ?2) AND "
	    "EXISTS (SELECT 1 FROM domains WHERE name = ?2))", &st, "admin check")) <= 0)
		return rc;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d, -1, SQLITE_STATIC);
	rc = st_row(dir, st, "admin check");
	sqlite3_finalize(st);
	return rc;
}

int
directory_alias_target_foreach(struct directory *dir, const char *addr,
    int (*fn)(const char *target, void *ctx), void *ctx)
{
	char a[ADDR_SIZE];
	const char *domain;
	sqlite3_stmt *st;

	if (addr_norm(addr, a, sizeof(a), &domain) < 0)
		return 0;
	if (sqlite3_prepare_v2(dir->db, user_version(dir->db) >= 4 ?
	    "SELECT target FROM aliases WHERE address = ?1 AND address NOT IN "
	    "(SELECT address FROM groups) ORDER BY target" :
	    "SELECT target FROM aliases WHERE address = ?1 ORDER BY target", -1, &st,
	    NULL) != SQLITE_OK) {
		db_warn(dir, "alias targets");
		return -1;
	}
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	return rows_each(dir, st, string_row, (void *)fn, ctx, "alias targets");
}
