# SPDX-License-Identifier: MIT
"""facteurctl domain, account, alias, recipient and access: the directory
managed from the command line, its SQLite file in a temporary directory.

Changes are made as the test runs (root in CI, giving the files to
mail_owner); the listings are also run as mail_owner, the user the
daemons read the directory as."""
import json
import os
import pwd
import shutil
import subprocess

import pytest

from facteur_it import FACTEURCTL, SANITIZER_MARKERS, Facteur

OWNER = "nobody"


class Admin(Facteur):
    """A configuration that is never started; facteurctl under a sanitizer must stay silent."""

    def ctl(self, *args, **kw):
        r = super().ctl(*args, **kw)
        for marker in SANITIZER_MARKERS:
            assert marker not in r.stderr, r.stderr
        return r

    def ok(self, *args):
        r = self.ctl(*args, check=False)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert r.stderr == "", r.stderr
        return r.stdout

    def json(self, *args):
        r = self.ctl(*args, json_out=True, check=False)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return json.loads(r.stdout)

    def refused(self, *args, code=1):
        r = self.ctl(*args, check=False)
        assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
        assert r.stdout == ""
        return r.stderr


@pytest.fixture
def admin(workdir):
    state = os.path.join(workdir, "state")
    os.makedirs(state)
    os.chmod(state, 0o755)
    return Admin(workdir, directory_database=os.path.join(state, "directory.db"),
                 mail_owner=OWNER)


def db_path(admin):
    return admin.params["directory_database"]


def test_domains(admin):
    admin.ok("domain", "add", "Example.ORG")
    admin.ok("domain", "add", "relay.test", "--kind", "relay", "--verify", "list",
             "--nexthop", "[192.0.2.25]:2525")
    admin.ok("domain", "add", "probe.test", "--kind=relay", "--verify=probe")
    admin.ok("domain", "add", "backup.test", "--kind", "backup", "--nexthop", "mx1.backup.test")
    admin.ok("domain", "add", "catch.test", "--catchall", "Catch@Example.org")
    assert admin.json("domain", "list") == [
        {"name": "backup.test", "kind": "backup", "verify": "none",
         "nexthop": "mx1.backup.test", "catchall": ""},
        {"name": "catch.test", "kind": "local", "verify": "none", "nexthop": "",
         "catchall": "catch@example.org"},
        {"name": "example.org", "kind": "local", "verify": "none", "nexthop": "", "catchall": ""},
        {"name": "probe.test", "kind": "relay", "verify": "probe", "nexthop": "", "catchall": ""},
        {"name": "relay.test", "kind": "relay", "verify": "list", "nexthop": "[192.0.2.25]:2525",
         "catchall": ""},
    ]
    # -j after the command too; text listing one line per domain.
    assert json.loads(admin.ok("domain", "list", "-j"))[2]["name"] == "example.org"
    lines = admin.ok("domain", "list").splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["backup.test", "backup"], ["catch.test", "local"], ["example.org", "local"],
        ["probe.test", "relay"], ["relay.test", "relay"]]
    assert "verify=list nexthop=[192.0.2.25]:2525" in lines[4]

    # set changes only what is given.
    admin.ok("domain", "set", "relay.test", "--nexthop", "[192.0.2.26]:25")
    assert admin.json("domain", "show", "relay.test") == {
        "name": "relay.test", "kind": "relay", "verify": "list", "nexthop": "[192.0.2.26]:25",
        "catchall": "", "accounts": 0, "aliases": 0, "relay_recipients": 0}
    admin.ok("domain", "set", "catch.test", "--catchall", "")
    assert admin.json("domain", "show", "catch.test")["catchall"] == ""
    admin.ok("domain", "del", "PROBE.test")
    assert [d["name"] for d in admin.json("domain", "list")] == [
        "backup.test", "catch.test", "example.org", "relay.test"]


def test_accounts_aliases_recipients(admin):
    admin.ok("domain", "add", "example.org")
    admin.ok("domain", "add", "other.test")
    admin.ok("domain", "add", "relay.test", "--kind", "relay", "--verify", "list")
    for a in ("Alice@Example.org", "bob@example.org", "carol@other.test"):
        admin.ok("account", "add", a)
    admin.ok("account", "disable", "bob@example.org")
    assert admin.json("account", "list", "example.org") == [
        {"address": "alice@example.org", "enabled": True},
        {"address": "bob@example.org", "enabled": False}]
    assert admin.ok("account", "list") == (
        "alice@example.org\nbob@example.org disabled\ncarol@other.test\n")
    admin.ok("account", "enable", "bob@example.org")
    assert admin.json("account", "list", "example.org")[1]["enabled"] is True

    admin.ok("alias", "add", "team@example.org", "bob@example.org", "alice@example.org",
             "Someone@Elsewhere.test")
    admin.ok("alias", "add", "postmaster@example.org", "alice@example.org")
    assert admin.json("alias", "list", "example.org") == [
        {"address": "postmaster@example.org", "targets": ["alice@example.org"]},
        {"address": "team@example.org",
         "targets": ["alice@example.org", "bob@example.org", "someone@elsewhere.test"]}]
    assert admin.ok("alias", "list") == (
        "postmaster@example.org -> alice@example.org\n"
        "team@example.org -> alice@example.org bob@example.org someone@elsewhere.test\n")
    admin.ok("alias", "del", "team@example.org", "bob@example.org")
    assert admin.json("alias", "list")[1]["targets"] == [
        "alice@example.org", "someone@elsewhere.test"]
    admin.ok("alias", "del", "team@example.org")
    assert admin.json("alias", "list", "other.test") == []
    assert [a["address"] for a in admin.json("alias", "list")] == ["postmaster@example.org"]

    admin.ok("recipient", "add", "R2@relay.test")
    admin.ok("recipient", "add", "r1@relay.test")
    assert admin.json("recipient", "list", "relay.test") == ["r1@relay.test", "r2@relay.test"]
    assert admin.ok("recipient", "list", "relay.test") == "r1@relay.test\nr2@relay.test\n"
    admin.ok("recipient", "del", "r2@relay.test")
    assert admin.json("recipient", "list", "relay.test") == ["r1@relay.test"]

    assert admin.json("domain", "show", "example.org") == {
        "name": "example.org", "kind": "local", "verify": "none", "nexthop": "", "catchall": "",
        "accounts": 2, "aliases": 1, "relay_recipients": 0}
    assert admin.ok("domain", "show", "example.org") == (
        "name: example.org\nkind: local\ncatchall: (none)\naccounts: 2\naliases: 1\n")


def test_errors(admin):
    path = db_path(admin)
    # Listings read the file as the daemons do: it must exist; they do not create it.
    assert admin.refused("domain", "list") == (
        f"facteurctl: {path}: no directory database (facteurctl domain add creates it)\n")
    assert not os.path.exists(path)

    admin.ok("domain", "add", "example.org")
    admin.ok("domain", "add", "relay.test", "--kind", "relay")
    admin.ok("account", "add", "alice@example.org")
    admin.ok("alias", "add", "postmaster@example.org", "alice@example.org")
    cases = [
        (("domain", "add", "bad..test"), "bad domain name bad..test"),
        (("domain", "add", "example.org"), "domain example.org exists"),
        (("domain", "add", "new.test", "--kind", "bogus"), "bad kind bogus: local, relay or backup"),
        (("domain", "add", "new.test", "--verify", "list"),
         "domain new.test: recipient verification is for relay domains"),
        (("domain", "add", "new.test", "--kind", "relay", "--catchall", "a@example.org"),
         "domain new.test: a catch-all is for local domains"),
        (("domain", "del", "example.org"),
         "domain example.org is not empty: 1 account, 1 alias"),
        (("domain", "del", "nowhere.test"), "unknown domain nowhere.test"),
        (("domain", "show", "nowhere.test"), "unknown domain nowhere.test"),
        (("domain", "set", "example.org", "--kind", "relay"),
         "domain example.org has 1 account, 1 alias: cannot make it relay with verify none"),
        (("account", "add", "x@nowhere.test"), "unknown domain nowhere.test"),
        (("account", "add", "x@relay.test"), "relay.test is a relay domain, not a local domain"),
        (("account", "add", "not-an-address"), "bad address not-an-address"),
        (("account", "add", "alice@example.org"), "account alice@example.org exists"),
        (("account", "add", "postmaster@example.org"), "postmaster@example.org is an alias"),
        (("account", "del", "zed@example.org"), "no such account zed@example.org"),
        (("account", "disable", "zed@example.org"), "no such account zed@example.org"),
        (("alias", "add", "alice@example.org", "x@elsewhere.test"),
         "alice@example.org is an account"),
        (("alias", "add", "a@example.org", "a@example.org"),
         "alias a@example.org cannot point to itself"),
        (("alias", "del", "postmaster@example.org", "zed@example.org"),
         "alias postmaster@example.org has no target zed@example.org"),
        (("alias", "del", "zed@example.org"), "no such alias zed@example.org"),
        (("recipient", "add", "x@example.org"),
         "example.org is a local domain, not a relay domain"),
        (("recipient", "del", "x@relay.test"), "no such relay recipient x@relay.test"),
        (("recipient", "list", "nowhere.test"), "unknown domain nowhere.test"),
        (("access", "deny", "not a pattern"),
         "bad access pattern not a pattern: not an IP address, a network, an address or a domain"),
        (("access", "deny", "192.0.2.0/33"),
         "bad access pattern 192.0.2.0/33: not an IP address, a network, an address or a domain"),
        (("access", "deny", "192.0.2.1", "--for", "nowhere.test"), "unknown domain nowhere.test"),
        (("access", "del", "192.0.2.1"), "no global access entry 192.0.2.1"),
        (("access", "del", "192.0.2.1", "--for", "example.org"),
         "no access entry 192.0.2.1 for example.org"),
        (("access", "check", "--client", "nonsense"), "bad client address nonsense"),
    ]
    for args, message in cases:
        assert admin.refused(*args) == f"facteurctl: {message}\n", args

    # Several targets: each one that fails is said, the others are added.
    r = admin.ctl("alias", "add", "list@example.org", "alice@example.org", "bad", "x@y.test",
                  check=False)
    assert r.returncode == 1
    assert r.stderr == "facteurctl: bad target address bad\n"
    assert admin.json("alias", "list")[0] == {
        "address": "list@example.org", "targets": ["alice@example.org", "x@y.test"]}

    for args in (("domain",), ("domain", "add"), ("domain", "add", "a.test", "b.test"),
                 ("domain", "list", "--kind", "local"), ("domain", "add", "a.test", "--kind"),
                 ("domain", "add", "a.test", "--for", "x"), ("account", "frob", "a@b.test"),
                 ("account", "add"), ("alias", "add", "a@example.org"), ("recipient", "list"),
                 ("access", "check"), ("access", "check", "--client", "192.0.2.1", "extra"),
                 ("access", "allow"), ("access", "list", "--sender", "a@b.test"),
                 ("access", "deny", "192.0.2.1", "-x")):
        stderr = admin.refused(*args, code=2)
        assert stderr.startswith("usage: facteurctl"), (args, stderr)


def test_access(admin):
    admin.ok("domain", "add", "example.org")
    admin.ok("access", "deny", "192.0.2.0/24")
    admin.ok("access", "allow", "192.0.2.7")
    admin.ok("access", "deny", "2001:DB8::/32")
    admin.ok("access", "deny", ".spam.test")
    admin.ok("access", "deny", "@bad.test")
    admin.ok("access", "allow", "Friend@Partner.test")
    admin.ok("access", "allow", "192.0.2.0/25", "--for", "example.org")
    admin.ok("access", "deny", "198.51.100.1", "--for", "Alice@Example.org")
    # Replacing an entry's action; the network's host bits are cleared.
    admin.ok("access", "allow", "198.51.100.77/24")
    admin.ok("access", "deny", "198.51.100.0/24")
    assert admin.json("access", "list") == [
        {"scope": "", "pattern": ".spam.test", "action": "deny"},
        {"scope": "", "pattern": "192.0.2.0/24", "action": "deny"},
        {"scope": "", "pattern": "192.0.2.7", "action": "allow"},
        {"scope": "", "pattern": "198.51.100.0/24", "action": "deny"},
        {"scope": "", "pattern": "2001:db8::/32", "action": "deny"},
        {"scope": "", "pattern": "bad.test", "action": "deny"},
        {"scope": "", "pattern": "friend@partner.test", "action": "allow"},
        {"scope": "alice@example.org", "pattern": "198.51.100.1", "action": "deny"},
        {"scope": "example.org", "pattern": "192.0.2.0/25", "action": "allow"},
    ]
    assert admin.ok("access", "list").splitlines()[-2:] == [
        "deny  198.51.100.1 --for alice@example.org",
        "allow 192.0.2.0/25 --for example.org"]

    checks = [
        (["--client", "192.0.2.7"], "deny 192.0.2.0/24 (global)"),
        (["--client", "192.0.2.7", "--rcpt", "bob@example.org"],
         "allow 192.0.2.0/25 (scope example.org)"),
        (["--client", "192.0.2.200", "--rcpt", "bob@example.org"], "deny 192.0.2.0/24 (global)"),
        (["--client", "198.51.100.1", "--rcpt", "Alice+tag@example.org"],
         "deny 198.51.100.1 (scope alice@example.org)"),
        (["--client", "2001:db8:ff::1"], "deny 2001:db8::/32 (global)"),
        (["--client", "203.0.113.5", "--sender", "x@mail.spam.test"], "deny .spam.test (global)"),
        (["--client", "203.0.113.5", "--sender", "x@spam.test"], "none"),
        (["--client", "203.0.113.5", "--sender", "x@bad.test"], "deny bad.test (global)"),
        (["--client", "203.0.113.5", "--sender", "friend@partner.test"],
         "allow friend@partner.test (global)"),
        (["--client", "203.0.113.5"], "none"),
    ]
    for args, out in checks:
        assert admin.ok("access", "check", *args) == out + "\n", args
    assert admin.json("access", "check", "--client", "192.0.2.7") == {
        "action": "deny", "matched": "deny 192.0.2.0/24 (global)"}
    assert admin.json("access", "check", "--client", "203.0.113.5") == {
        "action": "none", "matched": ""}

    admin.ok("access", "del", "192.0.2.0/24")
    assert admin.ok("access", "check", "--client", "192.0.2.7") == "allow 192.0.2.7 (global)\n"
    admin.ok("access", "del", "@BAD.test")
    admin.ok("access", "del", "198.51.100.1", "--for", "alice@example.org")
    assert len(admin.json("access", "list")) == 6
    # The domain is free once its access entries are gone.
    assert admin.refused("domain", "del", "example.org") == (
        "facteurctl: domain example.org is not empty: 1 access entry\n")
    admin.ok("access", "del", "192.0.2.0/25", "--for", "example.org")
    admin.ok("domain", "del", "example.org")


def test_files_belong_to_mail_owner(admin):
    if os.geteuid() != 0:
        pytest.skip("needs root to change owners")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is not installed")
    path = db_path(admin)
    admin.ok("domain", "add", "example.org")
    admin.ok("account", "add", "alice@example.org")
    owner = pwd.getpwnam(OWNER)
    for suffix in ("", "-wal", "-shm"):
        st = os.stat(path + suffix)
        assert (st.st_uid, st.st_gid) == (owner.pw_uid, owner.pw_gid), suffix
    # mail_owner reads it without write access to its directory (as smtpd would).
    assert os.stat(os.path.dirname(path)).st_uid == 0
    as_owner = [setpriv, f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups"]
    r = subprocess.run(as_owner + [FACTEURCTL, "-c", admin.conf, "-j", "account", "list"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"address": "alice@example.org", "enabled": True}]
    # An unknown mail_owner: nothing is changed rather than left to root.
    admin.set(mail_owner="no-such-user-facteur")
    assert admin.refused("account", "add", "bob@example.org") == (
        "facteurctl: mail_owner no-such-user-facteur: no such user\n")
    admin.set(mail_owner=OWNER)
    assert admin.json("account", "list") == [{"address": "alice@example.org", "enabled": True}]


def test_concurrent_writers_on_a_new_file(admin):
    # Eight facteurctl at once, the first of them creating the file: none
    # may fail with "database is locked".
    procs = [subprocess.Popen([FACTEURCTL, "-c", admin.conf, "domain", "add", f"d{i}.example"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results
    names = {d["name"] for d in admin.json("domain", "list")}
    assert names == {f"d{i}.example" for i in range(8)}
