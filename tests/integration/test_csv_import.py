# SPDX-License-Identifier: MIT
"""facteurctl import|export: the directory's accounts, aliases, groups and
resources in CSV files; the groups, resources and domain admins of the
directory (facteurctl group|resource|admin); a group delivering to its
members through smtpd; the upgrade of a directory of version 3.

Files are written here the way spreadsheets and scripts write them (a
byte order mark, CRLF, ';' separators, quoted fields)."""
import csv
import io
import json
import os
import smtplib
import sqlite3
import subprocess

import pytest

from facteur_it import FACTEURCTL, SANITIZER_MARKERS, Facteur, simple_message

OWNER = "nobody"
# An argon2id hash in libargon2's encoding (t=2, m=19 MiB; salt and sum made
# up): it holds commas, so CSV quotes it.
HASH = ("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA"
        "$Lq0GIXaFTJ6m2jcGIbcf1Be2wJ9lpbGRg3b0Y0QpuWs")
SUMMARY = ("{file}: created {c}, updated {u}, unchanged {n}, disabled {d}, deleted {x}, "
           "errors {e}\n")


class Admin(Facteur):
    """A configuration never started: facteurctl alone, silent under sanitizers."""

    def run(self, *args, input=None):
        # Bytes, decoded here: CSV's CRLF is kept as written.
        r = subprocess.run([FACTEURCTL, "-c", self.conf] + list(args), capture_output=True,
                           timeout=300, input=input.encode() if input is not None else None)
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
        for marker in SANITIZER_MARKERS:
            assert marker not in r.stderr, r.stderr
        return r

    def ok(self, *args, input=None):
        r = self.run(*args, input=input)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert r.stderr == "", r.stderr
        return r.stdout

    def json(self, *args):
        return json.loads(self.ok("-j", *args))

    def refused(self, *args, code=1):
        r = self.run(*args)
        assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
        return r.stderr

    def file(self, name, text, bom=False, crlf=True):
        path = os.path.join(self.dir, name)
        data = text.replace("\n", "\r\n") if crlf else text
        with open(path, "wb") as f:
            f.write((b"\xef\xbb\xbf" if bom else b"") + data.encode())
        return path

    def db(self):
        return self.params["directory_database"]


def summary(path, c=0, u=0, n=0, d=0, x=0, e=0):
    return SUMMARY.format(file=path, c=c, u=u, n=n, d=d, x=x, e=e)


@pytest.fixture
def admin(workdir):
    state = os.path.join(workdir, "state")
    os.makedirs(state)
    os.chmod(state, 0o755)
    a = Admin(workdir, directory_database=os.path.join(state, "directory.db"),
              mail_owner=OWNER)
    for d in ("example.org", "other.test"):
        a.ok("domain", "add", d)
    a.ok("domain", "add", "relay.test", "--kind", "relay")
    a.ok("profile", "add", "staff", "--quota", "1G")
    a.ok("profile", "add", "students", "--services", "imap,smtp")
    return a


ACCOUNTS = """\
Address,Name,Password,Password_Hash,Profile,Enabled
alice@example.org,"Martin, Alice",,"{hash}",staff,yes
Bob@Example.ORG,Bob Durand,Tr0ub4dor&3,,students,
carol@example.org,Carol,,,,no
dave@other.test,,,,,
""".format(hash=HASH)


def test_import_accounts_then_again(admin):
    path = admin.file("accounts.csv", ACCOUNTS, bom=True)
    assert admin.ok("import", "accounts", path) == summary(path, c=4)
    assert admin.json("account", "list") == [
        {"address": "alice@example.org", "enabled": True},
        {"address": "bob@example.org", "enabled": True},
        {"address": "carol@example.org", "enabled": False},
        {"address": "dave@other.test", "enabled": True}]
    alice = admin.json("account", "show", "alice@example.org")
    assert (alice["name"], alice["profile"], alice["password"]) == ("Martin, Alice", "staff", True)
    bob = admin.json("account", "show", "bob@example.org")
    assert (bob["name"], bob["profile"], bob["password"]) == ("Bob Durand", "students", True)
    assert admin.json("account", "show", "dave@other.test")["password"] is False

    # The same file again: nothing changes, and it is said.  Bob's plain
    # password is checked against the hash stored the first time.
    assert admin.ok("import", "accounts", path) == summary(path, n=4) + "nothing to change\n"
    # The hash stored for Bob is argon2id, and stays the same.
    out = admin.ok("export", "accounts", "example.org")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["address"] for r in rows] == [
        "alice@example.org", "bob@example.org", "carol@example.org"]
    assert rows[0]["password_hash"] == HASH
    assert rows[1]["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert rows[2] == {"address": "carol@example.org", "name": "Carol", "password_hash": "",
                       "profile": "", "enabled": "no"}

    # Columns the file lacks are left as they are; given ones are changed.
    path2 = admin.file("change.csv", "address;profile\nalice@example.org;students\n"
                       "bob@example.org;students\ncarol@example.org;\n", crlf=False)
    assert admin.ok("import", "accounts", path2) == summary(path2, u=1, n=2)
    assert admin.json("account", "show", "alice@example.org")["profile"] == "students"
    assert admin.json("account", "show", "alice@example.org")["name"] == "Martin, Alice"
    # A new password for Bob: updated; the old one no longer matches.
    path3 = admin.file("pw.csv", "address,password\nbob@example.org,new-Secret-9\n")
    assert admin.ok("import", "accounts", path3) == summary(path3, u=1)
    assert admin.ok("import", "accounts", path3) == summary(path3, n=1) + "nothing to change\n"


def test_bad_file_reports_every_error_and_applies_nothing(admin):
    admin.ok("alias", "add", "postmaster@example.org", "x@elsewhere.test")
    admin.ok("resource", "add", "room1@example.org", "--kind", "room")
    path = admin.file("accounts.csv", """\
address,name,password_hash,profile,enabled
good@example.org,Good,,,yes
bob@,Bob,,,
carol@example.org,,,nosuch,
dave@nowhere.test,,,,
eve@relay.test,,,,
good@example.org,,,,
frank@example.org,,not-a-hash,,
gina@example.org,,,,maybe
postmaster@example.org,,,,
room1@example.org,,,,
henry@exa"mple.org,,,,
ivan@example.org,"Ivan ""the"" Great",,staff
judy@example.org,Judy,,staff,no
""")
    r = admin.run("import", "accounts", path)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f'{path}:3: field \'address\': "bob@" is not an address',
        f"{path}:4: field 'profile': unknown profile nosuch",
        f"{path}:5: field 'address': unknown domain nowhere.test",
        f"{path}:6: field 'address': relay.test is a relay domain, not a local domain",
        f"{path}:7: field 'address': good@example.org is on line 2 already",
        f"{path}:8: field 'password_hash': not a hash this system knows: argon2id, or crypt(3) "
        "as $y$, $6$, $5$, $2b$",
        f'{path}:9: field \'enabled\': "maybe" is not yes or no',
        f"{path}:10: field 'address': postmaster@example.org is an alias",
        f"{path}:11: field 'address': room1@example.org is a resource (import resources)",
        f"{path}:12: field 'address': quote in an unquoted field (quote the field and double "
        "the quote)",
        f"{path}:13: 4 fields, the header has 5",
    ]
    assert r.stdout == summary(path, c=2, e=11) + (
        "nothing was changed: correct the errors, or give --continue to apply the other "
        "entries\n")
    assert [a["address"] for a in admin.json("account", "list")] == ["room1@example.org"]

    # --continue applies the good entries, and still exits 1.
    r = admin.run("import", "accounts", path, "--continue")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 11
    assert r.stdout == summary(path, c=2, e=11)
    assert admin.json("account", "list") == [
        {"address": "good@example.org", "enabled": True},
        {"address": "judy@example.org", "enabled": False},
        {"address": "room1@example.org", "enabled": True}]


def test_header_errors(admin):
    cases = [
        ("address,nom\nx@example.org,X\n",
         "{p}:1: unknown column 'nom' (accounts: address, name, password, password_hash, "
         "profile, enabled)"),
        ("name,profile\nX,staff\n", "{p}:1: no column 'address'"),
        ("address,name,Name\n", "{p}:1: column 'name' is given twice"),
        ("", "{p}: empty file: its first line names the columns"),
        ('"address,name\n', "{p}:1: field 1: the quote opened on line 1 is not closed"),
    ]
    for text, message in cases:
        path = admin.file("h.csv", text)
        r = admin.run("import", "accounts", path)
        assert r.returncode == 1, text
        assert r.stderr == message.format(p=path) + "\n", text
    path = admin.file("a.csv", "address\n")
    assert admin.refused("import", "aliases", path) == f"{path}:1: no column 'target'\n"
    # Usage errors: exit 2.
    for args in (("import",), ("import", "accounts"), ("import", "people", path),
                 ("import", "accounts", path, "--bogus"),
                 ("import", "accounts", path, "--disable-missing", "--delete-missing"),
                 ("import", "accounts", path, "--separator", "|"),
                 ("export",), ("export", "people"), ("export", "accounts", "a", "b")):
        admin.refused(*args, code=2)
    assert "aliases cannot be disabled" in admin.refused(
        "import", "aliases", path, "--disable-missing", code=2)
    assert admin.refused("import", "accounts", "/nonexistent.csv") == (
        "facteurctl: /nonexistent.csv: No such file or directory\n")
    assert admin.refused("export", "accounts", "nowhere.test") == (
        "facteurctl: unknown domain nowhere.test\n")


def test_dry_run_applies_nothing(admin):
    admin.ok("account", "add", "old@example.org")
    path = admin.file("accounts.csv", ACCOUNTS)
    r = admin.run("import", "accounts", path, "--dry-run", "--delete-missing")
    assert r.returncode == 0, r.stderr
    assert r.stdout == summary(path, c=4, x=1) + "dry run: nothing was changed\n"
    assert admin.json("account", "list") == [{"address": "old@example.org", "enabled": True}]
    # -j: the counts as JSON.
    assert admin.json("import", "accounts", path, "--dry-run") == {
        "file": path, "kind": "accounts", "created": 4, "updated": 0, "unchanged": 0,
        "disabled": 0, "deleted": 0, "errors": 0, "dry_run": True, "applied": False}
    assert admin.json("account", "list") == [{"address": "old@example.org", "enabled": True}]


def test_missing_entries_only_in_the_files_domains(admin):
    for a in ("alice@example.org", "bob@example.org", "carol@example.org", "zed@other.test"):
        admin.ok("account", "add", a)
    admin.ok("resource", "add", "room@example.org", "--kind", "room")
    path = admin.file("accounts.csv", "address\nalice@example.org\n")
    # Without an option nothing is removed nor disabled.
    assert admin.ok("import", "accounts", path) == summary(path, n=1) + "nothing to change\n"
    assert admin.ok("import", "accounts", path, "--disable-missing") == summary(path, n=1, d=2)
    assert admin.json("account", "list") == [
        {"address": "alice@example.org", "enabled": True},
        {"address": "bob@example.org", "enabled": False},
        {"address": "carol@example.org", "enabled": False},
        {"address": "room@example.org", "enabled": True},
        {"address": "zed@other.test", "enabled": True}]
    # Disabled already: not counted again.
    assert admin.ok("import", "accounts", path, "--disable-missing") == (
        summary(path, n=1) + "nothing to change\n")
    assert admin.ok("import", "accounts", path, "--delete-missing") == summary(path, n=1, x=2)
    # other.test is not in the file: zed stays; the resource is not an account of the file.
    assert [a["address"] for a in admin.json("account", "list")] == [
        "alice@example.org", "room@example.org", "zed@other.test"]

    admin.ok("alias", "add", "a1@example.org", "alice@example.org")
    admin.ok("alias", "add", "a2@example.org", "alice@example.org", "x@elsewhere.test")
    admin.ok("alias", "add", "a3@other.test", "zed@other.test")
    path = admin.file("aliases.csv", "target,address\nbob@elsewhere.test,a2@example.org\n")
    assert admin.ok("import", "aliases", path, "--delete-missing") == summary(path, u=1, x=1)
    assert admin.json("alias", "list") == [
        {"address": "a2@example.org", "targets": ["bob@elsewhere.test"]},
        {"address": "a3@other.test", "targets": ["zed@other.test"]}]


def test_aliases_groups_resources_import(admin):
    admin.ok("account", "add", "alice@example.org")
    admin.ok("account", "add", "bob@example.org")
    path = admin.file("aliases.csv", """\
address,target
team@example.org,alice@example.org
team@example.org,BOB@example.org
team@example.org,bob@example.org
self@example.org,self@example.org
bad@example.org,nobody
alice@example.org,x@elsewhere.test
""")
    r = admin.run("import", "aliases", path, "--continue")
    assert r.stderr.splitlines() == [
        f"{path}:4: field 'target': bob@example.org is on line 3 already",
        f"{path}:5: field 'target': the alias's own address",
        f'{path}:6: field \'target\': "nobody" is not an address',
        f"{path}:7: field 'address': alice@example.org is an account",
    ]
    assert admin.json("alias", "list") == []
    path = admin.file("aliases.csv", "address,target\nteam@example.org,alice@example.org\n"
                      "team@example.org,bob@example.org\n")
    assert admin.ok("import", "aliases", path) == summary(path, c=1)
    assert admin.ok("import", "aliases", path) == summary(path, n=1) + "nothing to change\n"

    path = admin.file("groups.csv", """\
address,kind,name,description,member
staff@example.org,list,Staff,"Everyone, really",alice@example.org
staff@example.org,,,,bob@example.org
staff@example.org,,,,team@example.org
board@example.org,alias,Board,,
conflict@example.org,list,A,,
conflict@example.org,alias,B,,
team@example.org,list,,,alice@example.org
""")
    r = admin.run("import", "groups", path, "--continue")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"{path}:7: field 'kind': \"alias\" differs from line 6's \"list\"",
        f"{path}:7: field 'name': \"B\" differs from line 6's \"A\"",
        f"{path}:8: field 'address': team@example.org is an alias",
    ]
    assert admin.json("group", "list") == [
        {"address": "board@example.org", "kind": "alias", "name": "Board", "description": "",
         "members": 0},
        {"address": "staff@example.org", "kind": "list", "name": "Staff",
         "description": "Everyone, really", "members": 3}]
    assert admin.json("group", "show", "staff@example.org")["members"] == [
        "alice@example.org", "bob@example.org", "team@example.org"]
    # A group's members are not aliases.
    assert [a["address"] for a in admin.json("alias", "list")] == ["team@example.org"]
    # One member less, the kind changed: updated.
    path = admin.file("groups.csv", "address,kind,member\nstaff@example.org,alias,bob@example.org\n")
    assert admin.ok("import", "groups", path) == summary(path, u=1)
    g = admin.json("group", "show", "staff@example.org")
    assert (g["kind"], g["name"], g["members"]) == ("alias", "Staff", ["bob@example.org"])

    path = admin.file("resources.csv", """\
address;kind;name;capacity;category;description
salle-curie@example.org;room;Salle Curie;12;Bâtiment A;"Vidéoprojecteur; tableau"
beamer@example.org;equipment;Beamer 1;;;
big@example.org;room;;-3;;
new@example.org;;;;;
alice@example.org;room;;;;
""", crlf=False)
    r = admin.run("import", "resources", path, "--continue")
    assert r.stderr.splitlines() == [
        f'{path}:4: field \'capacity\': "-3" is not a number of people (0 to 100000)',
        f"{path}:5: field 'kind': a new resource needs a kind: room or equipment",
        f"{path}:6: field 'address': alice@example.org is an account",
    ]
    assert admin.json("resource", "list") == [
        {"address": "beamer@example.org", "kind": "equipment", "name": "Beamer 1",
         "capacity": 0, "category": "", "description": "", "enabled": True},
        {"address": "salle-curie@example.org", "kind": "room", "name": "Salle Curie",
         "capacity": 12, "category": "Bâtiment A", "description": "Vidéoprojecteur; tableau",
         "enabled": True}]
    assert admin.ok("resource", "list") == (
        'beamer@example.org equipment name="Beamer 1"\n'
        'salle-curie@example.org room capacity=12 category="Bâtiment A" name="Salle Curie"\n')


def populate(admin):
    admin.ok("account", "add", "alice@example.org")
    admin.ok("account", "set", "alice@example.org", "--name", "Alice Martin", "--profile", "staff")
    admin.ok("account", "passwd", "alice@example.org", "--hash", HASH)
    admin.ok("account", "add", "bob@example.org")
    admin.ok("account", "disable", "bob@example.org")
    admin.ok("account", "add", "zoe@other.test")
    admin.ok("alias", "add", "team@example.org", "alice@example.org", "bob@example.org")
    admin.ok("alias", "add", "fwd@other.test", "someone@elsewhere.test")
    admin.ok("group", "add", "staff@example.org", "alice@example.org", "team@example.org",
             "--name", "Staff, all", "--description", 'The "real" staff')
    admin.ok("group", "add", "empty@other.test", "--kind", "alias")
    admin.ok("resource", "add", "room@example.org", "--kind", "room", "--capacity", "8",
             "--name", "Salle 8", "--category", "Bât. B")
    admin.ok("resource", "add", "van@other.test", "--kind", "equipment",
             "--description", "Minibus, 9 seats")


def test_export_import_round_trip(admin, workdir):
    populate(admin)
    kinds = ("accounts", "aliases", "groups", "resources")
    exports = {}
    for k in kinds:
        path = os.path.join(admin.dir, f"{k}.csv")
        admin.ok("export", k, "-o", path)
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path, "rb") as f:
            exports[k] = f.read()
        # export -> import: everything unchanged.
        out = admin.ok("import", k, path)
        assert out.startswith(summary(path, n={"accounts": 3, "aliases": 2, "groups": 2,
                                               "resources": 2}[k])), out
    assert exports["groups"].decode().splitlines() == [
        "address,kind,name,description,member",
        "empty@other.test,alias,,,",
        'staff@example.org,list,"Staff, all","The ""real"" staff",alice@example.org',
        'staff@example.org,list,"Staff, all","The ""real"" staff",team@example.org']
    assert exports["accounts"].decode().splitlines()[1] == (
        f'alice@example.org,Alice Martin,"{HASH}",staff,yes')

    # Into a new directory with the same domains and profiles: the same exports.
    state = os.path.join(workdir, "state2")
    os.makedirs(state)
    other = Admin(workdir, name="other", directory_database=os.path.join(state, "d.db"),
                  mail_owner=OWNER)
    for d in ("example.org", "other.test"):
        other.ok("domain", "add", d)
    other.ok("profile", "add", "staff")
    for k in ("accounts", "resources", "aliases", "groups"):
        path = os.path.join(admin.dir, f"{k}.csv")
        assert other.run("import", k, path).returncode == 0
    for k in kinds:
        assert other.ok("export", k).encode() == exports[k], k
    # The same with ';' (a French spreadsheet): chosen from the header when reading.
    semi = other.ok("export", "groups", "--separator", ";")
    assert semi.splitlines()[2] == (
        'staff@example.org;list;Staff, all;"The ""real"" staff";alice@example.org')
    path = other.file("semi.csv", semi, crlf=False)
    assert other.ok("import", "groups", path).startswith(summary(path, n=2))
    # Per domain.
    assert other.ok("export", "aliases", "other.test") == (
        "address,target\r\nfwd@other.test,someone@elsewhere.test\r\n")


def test_group_resource_admin_commands(admin):
    admin.ok("account", "add", "alice@example.org")
    admin.ok("alias", "add", "team@example.org", "alice@example.org")
    admin.ok("group", "add", "g@example.org", "alice@example.org", "Ext@Elsewhere.test")
    admin.ok("group", "set", "g@example.org", "--kind", "alias", "--name", "Gé")
    admin.ok("group", "member", "add", "g@example.org", "team@example.org")
    admin.ok("group", "member", "del", "g@example.org", "alice@example.org")
    assert admin.json("group", "show", "g@example.org") == {
        "address": "g@example.org", "kind": "alias", "name": "Gé", "description": "",
        "members": ["ext@elsewhere.test", "team@example.org"]}
    assert admin.ok("group", "show", "g@example.org") == (
        "address: g@example.org\nkind: alias\nname: Gé\nmembers:\n"
        "  ext@elsewhere.test\n  team@example.org\n")
    cases = [
        (("group", "add", "g@example.org"), "group g@example.org exists"),
        (("group", "add", "alice@example.org"), "alice@example.org is an account"),
        (("group", "add", "team@example.org"), "team@example.org is an alias"),
        (("group", "add", "x@relay.test"), "relay.test is a relay domain, not a local domain"),
        (("group", "add", "x@example.org", "--kind", "club"), "bad group kind club: list or alias"),
        (("group", "member", "add", "g@example.org", "team@example.org"),
         "team@example.org is a member of g@example.org"),
        (("group", "member", "add", "g@example.org", "g@example.org"),
         "group g@example.org cannot be its own member"),
        (("group", "member", "del", "g@example.org", "zed@example.org"),
         "zed@example.org is not a member of g@example.org"),
        (("group", "member", "add", "nog@example.org", "a@example.org"),
         "no such group nog@example.org"),
        (("group", "del", "nog@example.org"), "no such group nog@example.org"),
        (("group", "show", "nog@example.org"), "no such group nog@example.org"),
        (("alias", "add", "g@example.org", "x@elsewhere.test"),
         "g@example.org is a group (facteurctl group member add)"),
        (("alias", "del", "g@example.org"),
         "g@example.org is a group (facteurctl group del or group member del)"),
        (("account", "add", "g@example.org"), "g@example.org is a group"),
        (("resource", "add", "r@example.org"), "resource r@example.org: --kind room or "
         "equipment is needed"),
        (("resource", "add", "r@example.org", "--kind", "room", "--capacity", "x"),
         "bad capacity x: a number of people, 0 to 100000"),
        (("resource", "add", "g@example.org", "--kind", "room"), "g@example.org is a group"),
        (("resource", "set", "nor@example.org", "--capacity", "3"),
         "no such resource nor@example.org"),
        (("account", "set", "alice@example.org", "--name", "bad\tname"),
         "bad display name: UTF-8 text of at most 255 bytes without control characters"),
    ]
    for args, message in cases:
        assert admin.refused(*args) == f"facteurctl: {message}\n", args

    admin.ok("resource", "add", "salle@example.org", "--kind", "room", "--capacity", "20")
    admin.ok("resource", "set", "salle@example.org", "--category", "amphi", "--name", "Amphi")
    assert admin.json("resource", "show", "salle@example.org") == {
        "address": "salle@example.org", "kind": "room", "name": "Amphi", "capacity": 20,
        "category": "amphi", "description": "", "enabled": True}
    # A resource is an account that receives mail, without a password, not deleted as one.
    acc = admin.json("account", "show", "salle@example.org")
    assert (acc["resource"], acc["password"], acc["name"]) == (True, False, "Amphi")
    assert admin.refused("account", "del", "salle@example.org") == (
        "facteurctl: salle@example.org is a resource (facteurctl resource del)\n")
    assert admin.refused("account", "passwd", "salle@example.org", "--hash", HASH) == (
        "facteurctl: salle@example.org is a resource: it has no password\n")
    admin.ok("account", "disable", "salle@example.org")
    assert admin.json("resource", "list", "example.org")[0]["enabled"] is False
    admin.ok("resource", "del", "salle@example.org")
    assert admin.json("resource", "list") == []
    assert admin.refused("account", "show", "salle@example.org") == (
        "facteurctl: no such account salle@example.org\n")

    # Domain admins.
    admin.ok("admin", "add", "root", "--global")
    admin.ok("admin", "add", "Helene@Example.org", "--domains", "example.org, other.test",
             "--hash", HASH)
    admin.ok("admin", "passwd", "root", input="Admin-Pass-1\n")
    listed = admin.json("admin", "list")
    assert all(a.pop("created") > 1_600_000_000 for a in listed)
    assert listed == [
        {"name": "helene@example.org", "global": False, "password": True,
         "domains": ["example.org", "other.test"]},
        {"name": "root", "global": True, "password": True, "domains": []}]
    admin.ok("admin", "set", "helene@example.org", "--domains", "other.test")
    assert admin.ok("admin", "list") == "helene@example.org domains=other.test\nroot global\n"
    admin.ok("domain", "del", "other.test")
    assert admin.ok("admin", "list") == "helene@example.org\nroot global\n"
    cases = [
        (("admin", "add", "root", "--global"), "admin root exists"),
        (("admin", "add", "x", "--domains", "nowhere.test"), "unknown domain nowhere.test"),
        (("admin", "add", "bad name", "--global"),
         "bad admin name bad name: an address, or 1 to 63 letters, digits, '.', '_' or '-'"),
        (("admin", "add", "y", "--global", "--hash", "plain"),
         "not a hash this system knows: argon2id, or crypt(3) as $y$, $6$, $5$, $2b$"),
        (("admin", "del", "nobody"), "no such admin nobody"),
        (("admin", "passwd", "nobody", "--hash", HASH), "no such admin nobody"),
    ]
    for args, message in cases:
        assert admin.refused(*args) == f"facteurctl: {message}\n", args
    for args in (("admin", "add", "x"), ("admin", "add", "x", "--global", "--domains", "a.test"),
                 ("admin", "set", "root"), ("admin", "list", "x"), ("admin", "del", "root", "--global"),
                 ("group", "set", "g@example.org"), ("group", "member", "add", "g@example.org"),
                 ("resource", "list", "--kind", "room"), ("admin", "add", "x", "--global=yes")):
        admin.refused(*args, code=2)
    admin.ok("admin", "del", "root")
    assert [a["name"] for a in admin.json("admin", "list")] == ["helene@example.org"]


V3_SCHEMA = """
CREATE TABLE domains (name TEXT PRIMARY KEY NOT NULL,
 kind TEXT NOT NULL CHECK (kind IN ('local', 'relay', 'backup')),
 verify TEXT NOT NULL DEFAULT 'none' CHECK (verify IN ('none', 'list', 'probe')),
 nexthop TEXT NOT NULL DEFAULT '', catchall TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
CREATE TABLE accounts (address TEXT PRIMARY KEY NOT NULL, domain TEXT NOT NULL,
 enabled INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL, password TEXT, profile TEXT,
 quota INTEGER);
CREATE INDEX accounts_domain ON accounts (domain, address);
CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL, domain TEXT NOT NULL,
 PRIMARY KEY (address, target)) WITHOUT ROWID;
CREATE INDEX aliases_domain ON aliases (domain, address);
CREATE TABLE relay_recipients (address TEXT PRIMARY KEY NOT NULL, domain TEXT NOT NULL)
 WITHOUT ROWID;
CREATE INDEX relay_recipients_domain ON relay_recipients (domain, address);
CREATE TABLE access (scope TEXT NOT NULL, pattern TEXT NOT NULL, type TEXT NOT NULL,
 action TEXT NOT NULL CHECK (action IN ('allow', 'deny')), PRIMARY KEY (scope, pattern))
 WITHOUT ROWID;
CREATE INDEX access_type ON access (scope, type);
CREATE TABLE app_passwords (account TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,
 created INTEGER NOT NULL, last_used INTEGER, PRIMARY KEY (account, name)) WITHOUT ROWID;
CREATE TABLE profiles (name TEXT PRIMARY KEY NOT NULL, quota_bytes INTEGER NOT NULL DEFAULT 0,
 retention_days INTEGER NOT NULL DEFAULT 0,
 services TEXT NOT NULL DEFAULT 'smtp,imap,sieve,dav,xmpp') WITHOUT ROWID;
CREATE INDEX accounts_profile ON accounts (profile);
ALTER TABLE profiles ADD COLUMN retention_scope TEXT NOT NULL DEFAULT 'trash'
 CHECK (retention_scope IN ('trash', 'all'));
INSERT INTO domains (name, kind) VALUES ('example.org', 'local');
INSERT INTO profiles (name, quota_bytes, retention_days, retention_scope)
 VALUES ('staff', 1073741824, 30, 'all');
INSERT INTO accounts (address, domain, enabled, created, password, profile)
 VALUES ('alice@example.org', 'example.org', 1, 1700000000, 'HASH', 'staff');
INSERT INTO aliases (address, target, domain)
 VALUES ('team@example.org', 'alice@example.org', 'example.org');
PRAGMA user_version = 3;
"""


def test_upgrade_from_version_3(workdir):
    state = os.path.join(workdir, "state")
    os.makedirs(state)
    path = os.path.join(state, "directory.db")
    db = sqlite3.connect(path)
    db.executescript(V3_SCHEMA.replace("HASH", HASH))
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    admin = Admin(workdir, directory_database=path, mail_owner=OWNER)

    def version():
        with sqlite3.connect(path) as c:
            return c.execute("PRAGMA user_version").fetchone()[0]

    # Listings read it as it is: no groups, resources nor admins yet; no upgrade.
    assert admin.json("group", "list") == []
    assert admin.json("resource", "list") == []
    assert admin.json("admin", "list") == []
    assert admin.ok("export", "accounts") == (
        f'address,name,password_hash,profile,enabled\r\nalice@example.org,,"{HASH}",staff,yes\r\n')
    assert admin.json("account", "show", "alice@example.org")["name"] == ""
    assert version() == 3
    # The first change upgrades it, keeping everything.
    admin.ok("account", "set", "alice@example.org", "--name", "Alice")
    assert version() == 4
    with sqlite3.connect(path) as c:
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"groups", "resources", "admins", "admin_domains"} <= tables
    show = admin.json("account", "show", "alice@example.org")
    assert (show["name"], show["profile"], show["password"], show["created"]) == (
        "Alice", "staff", True, 1700000000)
    assert admin.json("alias", "list") == [
        {"address": "team@example.org", "targets": ["alice@example.org"]}]
    assert admin.json("profile", "list")[0]["retention_scope"] == "all"
    admin.ok("group", "add", "g@example.org", "alice@example.org")
    assert [g["address"] for g in admin.json("group", "list")] == ["g@example.org"]


def test_group_delivers_to_its_members(make_facteur):
    """A message to a group reaches each member, through smtpd's alias expansion;
    an import changes what the running daemons see without a reload."""
    f = make_facteur(start=False, mynetworks="192.0.2.0/24")
    os.makedirs(f.spool, exist_ok=True)
    f.ctl("domain", "add", "example.net")
    for who in ("alice", "bob", "carol"):
        f.ctl("account", "add", f"{who}@example.net")
    path = os.path.join(f.dir, "groups.csv")
    with open(path, "w") as out:
        out.write("address,kind,member\r\n"
                  "staff@example.net,list,alice@example.net\r\n"
                  "staff@example.net,list,board@example.net\r\n"
                  "board@example.net,alias,bob@example.net\r\n"
                  "board@example.net,alias,carol@example.net\r\n")
    assert f.ctl("import", "groups", path).returncode == 0
    f.start()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        assert s.sendmail("someone@sender.example", ["staff@example.net"],
                          simple_message(subject="group", to="staff@example.net")) == {}
    box = f.wait_mailbox(3)
    assert box, f.log_tail()
    delivered = sorted(m.split(b"\r\n")[1].decode() for m in box.values())
    assert delivered == ["Delivered-To: alice@example.net", "Delivered-To: bob@example.net",
                         "Delivered-To: carol@example.net"], delivered
    assert "alias staff@example.net expanded to 3 recipients" in f.log_text()

    # carol leaves the board (an import while facteur runs); an unknown group is refused.
    with open(path, "w") as out:
        out.write("address,member\nboard@example.net,bob@example.net\n")
    assert f.ctl("import", "groups", path).returncode == 0
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        assert s.sendmail("someone@sender.example", ["board@example.net"],
                          simple_message(subject="board", to="board@example.net")) == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("someone@sender.example", ["nogroup@example.net"],
                       simple_message(to="nogroup@example.net"))
        assert e.value.recipients["nogroup@example.net"][0] == 550
    box = f.wait_mailbox(4)
    assert len(box) == 4, f.log_tail()
    assert "alias board@example.net expanded to 1 recipient" in f.log_text()
