# SPDX-License-Identifier: MIT
"""The mailbox store's administration with facteurctl, against facteur
running lmtpd (mail delivered with smtplib.LMTP): the directory's
profiles gaining a retention scope (a version 2 file made by hand,
upgraded), mailbox purge by profile (Trash and Junk, or every mailbox;
dry run; counts; usage dropping; blobs given back), mailbox export and
import (mboxrd round trip to identical bytes and blobs, flags, CRLF input,
quotas, files that are not mbox or are cut short), and mailbox check
(an orphan blob, wrong reference counts and a missing blob planted, found
and repaired; a repair while lmtpd delivers loses nothing)."""
import json
import os
import shutil
import smtplib
import sqlite3
import subprocess
import threading
import time

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, wait_for

LMTPD = os.path.join(BUILDDIR, "store", "lmtpd")

pytestmark = pytest.mark.skipif(not os.access(LMTPD, os.X_OK), reason="store/lmtpd is not built")

ALICE, BOB, CAROL = "alice@example.org", "bob@example.org", "carol@example.org"
DAY = 86400


@pytest.fixture
def daemon_dir(workdir):
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "store/lmtpd"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


@pytest.fixture
def store_facteur(make_facteur, daemon_dir):
    """facteur with lmtpd, the domain example.org and ALICE, BOB, CAROL."""
    def factory(**params):
        f = make_facteur(start=False, daemon_directory=daemon_dir,
                         lmtp_listen="unix:$spool_directory/run/lmtp",
                         local_transport="lmtp:unix:$spool_directory/run/lmtp", **params)
        os.makedirs(f.spool, exist_ok=True)
        shutil.chown(f.spool, "nobody")
        f.ctl("domain", "add", "example.org")
        for a in (ALICE, BOB, CAROL):
            f.ctl("account", "add", a)
        f.start()
        assert wait_for(lambda: "lmtpd" in f.daemons() and os.path.exists(lmtp_socket(f))), \
            f.log_tail()
        return f
    return factory


def lmtp_socket(f):
    return os.path.join(f.spool, "run", "lmtp")


def store(f, *parts):
    return os.path.join(f.spool, "store", *parts)


def index(f, account):
    local, domain = account.split("@")
    return store(f, "accounts", domain, local, "index.db")


def query(path, sql, args=()):
    db = sqlite3.connect(path, timeout=30)
    try:
        with db:
            return db.execute(sql, args).fetchall()
    finally:
        db.close()


def lmtp_send(c, sender, rcpts, body):
    """One delivery on LMTP connection c: every recipient must get 250 after DATA."""
    assert c.mail(sender)[0] == 250
    for r in rcpts:
        assert c.rcpt(r)[0] == 250
    assert c.data(body)[0] == 250
    for _ in rcpts[1:]:
        assert c.getreply()[0] == 250


def deliver(f, rcpts, body, sender="someone@relay.test"):
    c = smtplib.LMTP(lmtp_socket(f), timeout=60)
    try:
        assert c.ehlo("client.test")[0] == 250
        lmtp_send(c, sender, rcpts, body)
    finally:
        c.quit()


def rows(f, account, mailbox=None):
    """(mailbox, uid, blob, internaldate, flags, keywords) of account, by mailbox and uid."""
    sql = ("SELECT b.name, m.uid, m.blob, m.internaldate, m.flags, m.keywords FROM messages m "
           "JOIN mailboxes b ON b.id = m.mailbox_id")
    args = ()
    if mailbox is not None:
        sql += " WHERE b.name = ?"
        args = (mailbox,)
    return query(index(f, account), sql + " ORDER BY b.name, m.uid", args)


def refs(f):
    return dict(query(store(f, "store.db"), "SELECT id, refs FROM blobs"))


def usage(f, account):
    q = json.loads(f.ctl("mailbox", "quota", account, json_out=True).stdout)
    return q["bytes"], q["messages"]


def ctl_fails(f, *args):
    r = f.ctl(*args, check=False)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    return r


def asctime(t):
    return time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(t))


def mbox_message(t, subject, body="text\n", extra="", sender="old@relay.test"):
    return (f"From {sender} {asctime(t)}\nReturn-Path: <{sender}>\nSubject: {subject}\n{extra}\n"
            f"{body}\n")


def write(f, name, data):
    path = os.path.join(f.dir, name)
    with open(path, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode())
    return path


# ---------------------------------------------------------------- directory


SCHEMA_V2 = """
CREATE TABLE domains (name TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, verify TEXT NOT NULL
 DEFAULT 'none', nexthop TEXT NOT NULL DEFAULT '', catchall TEXT NOT NULL DEFAULT '')
 WITHOUT ROWID;
CREATE TABLE accounts (address TEXT PRIMARY KEY NOT NULL, domain TEXT NOT NULL, enabled INTEGER
 NOT NULL DEFAULT 1, created INTEGER NOT NULL, password TEXT, profile TEXT, quota INTEGER);
CREATE INDEX accounts_domain ON accounts (domain, address);
CREATE TABLE aliases (address TEXT NOT NULL, target TEXT NOT NULL, domain TEXT NOT NULL,
 PRIMARY KEY (address, target)) WITHOUT ROWID;
CREATE TABLE relay_recipients (address TEXT PRIMARY KEY NOT NULL, domain TEXT NOT NULL)
 WITHOUT ROWID;
CREATE TABLE access (scope TEXT NOT NULL, pattern TEXT NOT NULL, type TEXT NOT NULL, action TEXT
 NOT NULL, PRIMARY KEY (scope, pattern)) WITHOUT ROWID;
CREATE TABLE app_passwords (account TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,
 created INTEGER NOT NULL, last_used INTEGER, PRIMARY KEY (account, name)) WITHOUT ROWID;
CREATE TABLE profiles (name TEXT PRIMARY KEY NOT NULL, quota_bytes INTEGER NOT NULL DEFAULT 0,
 retention_days INTEGER NOT NULL DEFAULT 0, services TEXT NOT NULL DEFAULT
 'smtp,imap,sieve,dav,xmpp') WITHOUT ROWID;
CREATE INDEX accounts_profile ON accounts (profile);
INSERT INTO domains (name, kind) VALUES ('example.org', 'local');
INSERT INTO accounts (address, domain, created, profile) VALUES
 ('alice@example.org', 'example.org', 1700000000, 'staff');
INSERT INTO profiles (name, quota_bytes, retention_days, services) VALUES
 ('staff', 1073741824, 30, 'smtp,imap');
PRAGMA user_version = 2;
PRAGMA journal_mode = WAL;
"""


def test_profile_retention_scope_and_the_v2_upgrade(make_facteur):
    f = make_facteur(start=False)
    os.makedirs(f.spool, exist_ok=True)
    path = os.path.join(f.spool, "directory.db")
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V2)
    db.close()
    shutil.chown(path, "nobody")

    # A listing reads the version 2 file as it is: its retention is of the Trash and Junk.
    assert query(path, "PRAGMA user_version") == [(2,)]
    assert json.loads(f.ctl("profile", "list", json_out=True).stdout) == [
        {"name": "staff", "quota_bytes": 1 << 30, "retention_days": 30,
         "retention_scope": "trash", "services": ["smtp", "imap"]}]
    assert query(path, "PRAGMA user_version") == [(2,)]
    # A change upgrades it (to version 3 or later), keeping everything.
    f.ctl("profile", "set", "staff", "--retention-scope", "all")
    assert query(path, "PRAGMA user_version")[0][0] >= 3
    assert json.loads(f.ctl("profile", "list", json_out=True).stdout) == [
        {"name": "staff", "quota_bytes": 1 << 30, "retention_days": 30,
         "retention_scope": "all", "services": ["smtp", "imap"]}]
    assert f.ctl("profile", "list").stdout.split() == [
        "staff", "quota=1G", "retention=30d", "scope=all", "services=smtp,imap"]
    assert json.loads(f.ctl("account", "show", ALICE, json_out=True).stdout)["profile"] == "staff"

    f.ctl("profile", "add", "short", "--retention", "1")
    f.ctl("profile", "add", "everywhere", "--retention", "2", "--retention-scope=all")
    got = {p["name"]: p for p in json.loads(f.ctl("profile", "list", json_out=True).stdout)}
    assert (got["short"]["retention_days"], got["short"]["retention_scope"]) == (1, "trash")
    assert (got["everywhere"]["retention_days"], got["everywhere"]["retention_scope"]) == \
        (2, "all")
    # The scope stays when other options change.
    f.ctl("profile", "set", "everywhere", "--quota", "1M")
    got = {p["name"]: p for p in json.loads(f.ctl("profile", "list", json_out=True).stdout)}
    assert got["everywhere"]["retention_scope"] == "all"

    r = ctl_fails(f, "profile", "set", "short", "--retention-scope", "inbox")
    assert "bad retention scope inbox: trash (the Trash and Junk mailboxes) or all" in r.stderr
    assert f.ctl("profile", "add", "x", "--retention-scope", check=False).returncode == 2
    assert f.ctl("profile", "del", "short", "--retention-scope", "all",
                 check=False).returncode == 2


# ---------------------------------------------------------------- purge


def test_purge_by_profile(store_facteur):
    f = store_facteur()
    now = int(time.time())
    f.ctl("profile", "add", "short", "--retention", "1")
    f.ctl("profile", "add", "everywhere", "--retention", "1", "--retention-scope", "all")
    f.ctl("account", "set", ALICE, "--profile", "short")
    f.ctl("account", "set", BOB, "--profile", "everywhere")
    # carol has no profile: kept for ever.

    # Today's mail, delivered by lmtpd.
    deliver(f, [ALICE, BOB, CAROL], b"Subject: fresh\r\n\r\nnew\r\n")
    # Old mail: imported with old From-line dates into each mailbox...
    old = "".join(mbox_message(now - 5 * DAY, f"old {i}", body=f"old body {i}\n")
                  for i in range(3))
    old_file = write(f, "old.mbox", old)
    for a in (ALICE, BOB, CAROL):
        for box in ("INBOX", "Trash", "Junk"):
            f.ctl("mailbox", "import", a, box, old_file)
    # ... and saved days ago, as if they had been there since then (only the
    # clock can do that for real).
    for a in (ALICE, BOB, CAROL):
        query(index(f, a), "UPDATE messages SET saved = ? WHERE internaldate < ?",
              (now - 4 * DAY, now - DAY))
    # One old message moved into alice's Trash today: saved now, it stays.
    f.ctl("mailbox", "import", ALICE, "Trash", write(f, "moved.mbox", mbox_message(
        now - 9 * DAY, "moved today")))

    before = {a: usage(f, a) for a in (ALICE, BOB, CAROL)}
    blobs_before = refs(f)
    assert before[ALICE][1] == 1 + 9 + 1

    # A dry run counts and changes nothing.
    out = json.loads(f.ctl("mailbox", "purge", "--all", "--dry-run", json_out=True).stdout)
    got = {r["account"]: r for r in out}
    assert sorted(got) == [ALICE, BOB]
    assert (got[ALICE]["messages"], got[ALICE]["retention_scope"], got[ALICE]["dry_run"]) == \
        (6, "trash", True)
    assert (got[BOB]["messages"], got[BOB]["retention_scope"]) == (9, "all")
    assert {a: usage(f, a) for a in (ALICE, BOB, CAROL)} == before

    # One account.
    out = f.ctl("mailbox", "purge", ALICE).stdout
    assert out.startswith(f"{ALICE}: 6 messages (")
    assert "expunged (retention 1 days, Trash and Junk)" in out
    names = [(r[0], r[3] > now - DAY) for r in rows(f, ALICE)]
    assert sorted(names) == sorted([("INBOX", True)] + [("INBOX", False)] * 3 +
                                   [("Trash", False)])
    assert [r for r in rows(f, ALICE, "Trash")][0][3] == now - 9 * DAY
    left = usage(f, ALICE)
    assert left[1] == 5 and left[0] < before[ALICE][0]
    assert before[ALICE][0] - left[0] == got[ALICE]["bytes"]

    # Everyone: bob's INBOX too; carol untouched; alice has nothing left to purge.
    out = json.loads(f.ctl("mailbox", "purge", "--all", json_out=True).stdout)
    got = {r["account"]: r for r in out}
    assert (got[ALICE]["messages"], got[BOB]["messages"]) == (0, 9)
    assert [(r[0], r[3] > now - DAY) for r in rows(f, BOB)] == [("INBOX", True)]
    assert usage(f, BOB)[1] == 1
    assert usage(f, CAROL) == before[CAROL]
    # The old blobs lost their references: each is held by carol's three copies and
    # alice's INBOX one now (9 before).
    after = refs(f)
    for blob in {r[2] for r in rows(f, CAROL) if r[3] < now - DAY}:
        assert (blobs_before[blob], after[blob]) == (9, 4)
    assert f.ctl("mailbox", "check", "--settle", "0").returncode == 0

    # An account without a retention, a stranger, bad usage.
    assert "no retention" in f.ctl("mailbox", "purge", CAROL).stdout
    r = ctl_fails(f, "mailbox", "purge", "nobody@example.org")
    assert "nobody@example.org: not an account of the directory" in r.stderr
    assert f.ctl("mailbox", "purge", check=False).returncode == 2
    assert f.ctl("mailbox", "purge", ALICE, "--all", check=False).returncode == 2
    assert f.ctl("mailbox", "list", ALICE, "--dry-run", check=False).returncode == 2


# ---------------------------------------------------------------- export, import


TRICKY = (b"Subject: tricky\r\n\r\n"
          b"From the start of a body line\r\n"
          b">From quoted already\r\n"
          b">>From twice\r\n"
          b"\xe9t\xe9 8-bit \xff\x80\r\n"
          b"\r\n"
          b"From me, after an empty line\r\n")


def test_export_import_round_trip(store_facteur):
    f = store_facteur()
    deliver(f, [ALICE], TRICKY)
    deliver(f, [ALICE], b"Subject: plain\r\n\r\nhello\r\n", sender="")
    # A CRLF mbox from elsewhere, with flags and keywords, some lines mboxo-quoted.
    crlf = (b"From x@y.test Mon Jan  1 10:00:00 2024\r\nSubject: crlf one\r\nStatus: RO\r\n"
            b"X-Status: AF\r\nX-Keywords: $Label1 project\r\n\r\nbody\r\n>From here\r\n\r\n"
            b"From x@y.test Tue Jan  2 10:00:00 2024\r\nSubject: crlf two\r\nX-Status: T\r\n"
            b"\r\nno status: unseen\r\n\r\n")
    out = f.ctl("mailbox", "import", ALICE, "INBOX", write(f, "crlf.mbox", crlf)).stdout
    assert out == f"{ALICE}: 2 messages (" + out.split("(")[1].split(")")[0] + \
        ") imported into INBOX\n"
    inbox = rows(f, ALICE, "INBOX")
    assert len(inbox) == 4
    # Dates, flags (\Seen 1, \Answered 2, \Flagged 4, \Draft 16) and keywords restored.
    assert (inbox[2][3], inbox[2][4], inbox[2][5]) == (1704103200, 1 | 2 | 4, "$Label1 project")
    assert (inbox[3][3], inbox[3][4], inbox[3][5]) == (1704189600, 16, "")
    listing = {m["name"]: m for m in json.loads(f.ctl("mailbox", "list", ALICE,
                                                      json_out=True).stdout)}
    assert (listing["INBOX"]["messages"], listing["INBOX"]["unseen"]) == (4, 3)
    # The flag headers are not in the stored message; CRLF lines, unquoted.
    blob = inbox[2][2]
    with open(store(f, "blobs", blob[:2], blob[2:4], blob), "rb") as fh:
        assert fh.read() == b"Subject: crlf one\r\n\r\nbody\r\nFrom here\r\n"

    # Export to a file, import into bob (a new mailbox), export again: the same bytes.
    e1 = os.path.join(f.dir, "alice.mbox")
    r = f.ctl("mailbox", "export", ALICE, "INBOX", "-o", e1, json_out=True)
    assert json.loads(r.stdout)["messages"] == 4
    assert oct(os.stat(e1).st_mode & 0o777) == "0o600"
    data = open(e1, "rb").read()
    assert b"\r" not in data
    assert data.startswith(b"From someone@relay.test ")
    assert b"\n>From the start of a body line\n>>From quoted already\n>>>From twice\n" in data
    assert b"\n\n>From me, after an empty line\n\n" in data
    assert b"\nFrom MAILER-DAEMON " in data
    # No Return-Path in those: the sender is not known.
    assert b"\nFrom MAILER-DAEMON Mon Jan  1 10:00:00 2024\n" in data
    assert b"Subject: crlf one\nStatus: RO\nX-Status: AF\nX-Keywords: $Label1 project\n\n" in data

    r = ctl_fails(f, "mailbox", "import", BOB, "Copy", e1)
    assert f"{BOB}: no mailbox Copy (--create makes it)" in r.stderr
    f.ctl("mailbox", "import", BOB, "Copy", e1, "--create")
    e2 = export_bytes(f, BOB, "Copy")
    assert e2 == data
    # The same blobs: each message is one file, counted for both accounts.
    assert [r[2:] for r in rows(f, BOB, "Copy")] == [r[2:] for r in inbox]
    counts = refs(f)
    assert all(counts[r[2]] == 2 for r in inbox)

    # From standard input, all mailboxes at once (only INBOX and Copy have mail).
    r = subprocess.run(ctl_argv(f, "mailbox", "import", CAROL, "INBOX", "-"), input=data,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert export_bytes(f, CAROL) == data
    assert export_bytes(f, BOB) == data  # Copy is bob's only mailbox with mail

    # Errors: an unknown mailbox (nothing written), an unknown account.
    r = ctl_fails(f, "mailbox", "export", ALICE, "INBOX", "Nope", "-o", e1)
    assert "mailbox Nope: no such mailbox" in r.stderr
    r = ctl_fails(f, "mailbox", "import", "ghost@example.org", "INBOX", e1)
    assert "ghost@example.org: not an account of the directory" in r.stderr
    r = ctl_fails(f, "mailbox", "import", ALICE, "INBOX", os.path.join(f.dir, "missing"))
    assert "cannot open" in r.stderr
    assert f.ctl("mailbox", "export", ALICE, "--create", check=False).returncode == 2


def ctl_argv(f, *args):
    return [FACTEURCTL, "-c", f.conf, *args]


def export_bytes(f, account, *mailboxes):
    r = subprocess.run(ctl_argv(f, "mailbox", "export", account, *mailboxes), capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_quota_and_bad_files(store_facteur):
    f = store_facteur()
    now = int(time.time())
    msgs = [mbox_message(now - i * DAY, f"m{i}", body="x" * 1000 + "\n") for i in range(5)]
    path = write(f, "five.mbox", "".join(msgs))
    f.ctl("profile", "add", "small", "--quota", "3K")
    f.ctl("account", "set", CAROL, "--profile", "small")
    r = ctl_fails(f, "mailbox", "import", CAROL, "INBOX", path)
    assert f"{CAROL}: 2 messages (" in r.stdout
    assert "over quota: the message of line 13 does not fit (quota 3072 bytes): 2 messages " \
        "imported before it, the rest not" in r.stderr
    assert usage(f, CAROL)[1] == 2 and usage(f, CAROL)[0] <= 3072

    # Not an mbox: the line is named, nothing imported.
    r = ctl_fails(f, "mailbox", "import", ALICE, "INBOX",
                  write(f, "bad.mbox", "Subject: hi\n\nbody\n\n"))
    assert "line 1: not an mbox file: a message must start with a \"From \" line" in r.stderr
    assert not os.path.exists(index(f, ALICE)) or rows(f, ALICE) == []
    # Cut short: the complete messages are imported, the last one is reported.
    data = "".join(msgs)
    r = ctl_fails(f, "mailbox", "import", ALICE, "INBOX",
                  write(f, "cut.mbox", data[:len(data) - 500]))
    assert f"{ALICE}: 4 messages (" in r.stdout
    assert "the last message (line 25) is incomplete" in r.stderr
    assert len(rows(f, ALICE)) == 4
    # An empty file: nothing, and no error.
    assert "0 messages" in f.ctl("mailbox", "import", ALICE, "INBOX",
                                 write(f, "empty.mbox", "")).stdout


# ---------------------------------------------------------------- check


def test_check_finds_and_repairs(store_facteur):
    f = store_facteur()
    for i in range(3):
        deliver(f, [ALICE, BOB], f"Subject: m{i}\r\n\r\nbody {i}\r\n".encode())
    r = f.ctl("mailbox", "check", "--settle", "0", json_out=True)
    got = json.loads(r.stdout)
    assert (got["problems"], got["accounts"], got["blobs"], got["rows"]) == ([], 2, 3, 6)

    blobs = sorted(refs(f))
    # An orphan from a crash (two hours old), a young one (a writer may be in flight).
    orphan = store(f, "blobs", "ee", "ee", "ee" * 32)
    os.makedirs(os.path.dirname(orphan))
    with open(orphan, "w") as fh:
        fh.write("left by a crash")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    young = store(f, "blobs", "ee", "ee", "ee" * 31 + "ef")
    with open(young, "w") as fh:
        fh.write("being written")
    for p in (os.path.dirname(os.path.dirname(orphan)), os.path.dirname(orphan), orphan, young):
        shutil.chown(p, "nobody")
    # Counts wrong both ways.
    query(store(f, "store.db"), "UPDATE blobs SET refs = 5 WHERE id = ?", (blobs[0],))
    query(store(f, "store.db"), "UPDATE blobs SET refs = 1 WHERE id = ?", (blobs[1],))

    r = f.ctl("mailbox", "check", "--settle", "1", json_out=True, check=False)
    assert r.returncode == 1
    got = json.loads(r.stdout)
    kinds = sorted((p["kind"], p.get("blob"), p.get("refs"), p.get("rows"), p["repaired"])
                   for p in got["problems"])
    assert kinds == sorted([("orphan", "ee" * 32, None, None, False),
                            ("refs", blobs[0], 5, 2, False), ("refs", blobs[1], 1, 2, False)])
    assert got["unsettled"] == 1
    text = f.ctl("mailbox", "check", "--settle", "0", check=False).stdout
    assert f"refs {blobs[0]}: store.db counts 5, 2 index rows point at it" in text
    assert f"orphan {orphan}" in text

    r = f.ctl("mailbox", "check", "--repair", "--settle", "0", json_out=True)
    got = json.loads(r.stdout)
    assert len(got["problems"]) == 3 and all(p["repaired"] for p in got["problems"])
    assert not os.path.exists(orphan) and os.path.exists(young)
    assert refs(f)[blobs[0]] == 2 and refs(f)[blobs[1]] == 2
    assert f.ctl("mailbox", "check", "--settle", "0").returncode == 0

    # A missing blob: reported with who points at it, never "repaired" away.
    os.unlink(store(f, "blobs", blobs[2][:2], blobs[2][2:4], blobs[2]))
    r = f.ctl("mailbox", "check", "--repair", "--settle", "0", json_out=True, check=False)
    assert r.returncode == 1
    got = json.loads(r.stdout)
    missing = sorted((p["account"], p["mailbox"], p["blob"]) for p in got["problems"])
    assert missing == [(ALICE, "INBOX", blobs[2]), (BOB, "INBOX", blobs[2])]
    assert not any(p["repaired"] for p in got["problems"])
    assert len(rows(f, ALICE)) == 3 and refs(f)[blobs[2]] == 2
    assert f.ctl("mailbox", "check", "--settle", "x", check=False).returncode == 2


def test_check_repair_while_lmtpd_delivers(store_facteur):
    """Repairs take store.db's lock as lmtpd does: nothing delivered meanwhile is lost."""
    f = store_facteur()
    stop = threading.Event()
    sent = []

    def sender():
        c = smtplib.LMTP(lmtp_socket(f), timeout=60)
        c.ehlo("client.test")
        i = 0
        while not stop.is_set() and i < 5000:
            # The same bytes often: one blob gaining references while the check runs.
            body = f"Subject: load {i % 5}\r\n\r\nbody\r\n".encode()
            lmtp_send(c, "load@relay.test", [ALICE, BOB], body)
            sent.append(i)
            i += 1
        c.quit()

    # Something to repair: a count too high, planted before.
    deliver(f, [CAROL], b"Subject: load 0\r\n\r\nbody\r\n", sender="load@relay.test")
    blob = rows(f, CAROL)[0][2]
    query(store(f, "store.db"), "UPDATE blobs SET refs = refs + 7 WHERE id = ?", (blob,))
    t = threading.Thread(target=sender)
    t.start()
    try:
        assert wait_for(lambda: len(sent) > 10)
        for _ in range(3):
            f.ctl("mailbox", "check", "--repair", "--settle", "1", check=False)
        # The checks ran while mail was flowing.
        flowing = t.is_alive()
    finally:
        stop.set()
        t.join(120)
    assert flowing and len(sent) > 10
    # Quiet now: every count is right, no file is missing, everything delivered is there.
    f.ctl("mailbox", "check", "--repair", "--settle", "0", check=False)
    r = f.ctl("mailbox", "check", "--settle", "0", json_out=True)
    assert json.loads(r.stdout)["problems"] == []
    assert len(rows(f, ALICE)) == len(sent) == len(rows(f, BOB))
    counts = refs(f)
    per_blob = {}
    for a in (ALICE, BOB, CAROL):
        for r in rows(f, a):
            per_blob[r[2]] = per_blob.get(r[2], 0) + 1
            assert os.path.exists(store(f, "blobs", r[2][:2], r[2][2:4], r[2]))
    assert counts == per_blob
