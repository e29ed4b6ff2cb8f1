# SPDX-License-Identifier: MIT
"""lmtpd and the mailbox store: facteur with lmtp_listen set and
local_transport = lmtp:unix:..., accounts made with facteurctl, mail sent
with smtplib to several accounts (one blob, one index row per account,
read with facteurctl mailbox list -j and from the files themselves),
quotas at delivery (a bounce with 552 5.2.2, or a deferral with 452
4.2.2), LMTP spoken directly with smtplib.LMTP (one reply per recipient,
refusals, bad commands, a retried delivery not saved twice), Postfix's
smtp-source -L against lmtpd, lmtpd killed with -9 while mail flows
(nothing lost, nothing saved twice), and the master starting and
stopping lmtpd as lmtp_listen says."""
import collections
import email
import email.policy
import glob
import hashlib
import json
import os
import shutil
import smtplib
import socket
import sqlite3
import subprocess
import threading

import pytest

from facteur_it import BUILDDIR, RawSMTP, simple_message, wait_for

LMTPD = os.path.join(BUILDDIR, "store", "lmtpd")

pytestmark = pytest.mark.skipif(not os.access(LMTPD, os.X_OK), reason="store/lmtpd is not built")

ACCOUNTS = ("alice@example.org", "bob@example.org", "carol@example.org")


@pytest.fixture
def daemon_dir(workdir):
    """A daemon_directory holding smtpd, qmgr and lmtpd of the build."""
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "store/lmtpd"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


@pytest.fixture
def store_facteur(make_facteur, daemon_dir):
    """Factory: facteur delivering local mail through lmtpd, with ACCOUNTS in its directory."""
    def factory(start=True, **params):
        f = make_facteur(start=False, daemon_directory=daemon_dir,
                         lmtp_listen="unix:$spool_directory/run/lmtp",
                         local_transport="lmtp:unix:$spool_directory/run/lmtp", **params)
        # The spool as the master makes it, so the directory can go in before the start.
        os.makedirs(f.spool, exist_ok=True)
        shutil.chown(f.spool, "nobody")
        f.ctl("domain", "add", "example.org")
        for a in ACCOUNTS:
            f.ctl("account", "add", a)
        if start:
            f.start()
            assert wait_for(lambda: "lmtpd" in f.daemons() and os.path.exists(socket_path(f))), \
                f.log_tail()
        return f
    return factory


def socket_path(f):
    return os.path.join(f.spool, "run", "lmtp")


def store_dir(f):
    return os.path.join(f.spool, "store")


def index_path(f, account):
    local, domain = account.split("@")
    return os.path.join(store_dir(f), "accounts", domain, local, "index.db")


def query(path, sql, args=()):
    """Rows of sql on an SQLite file of the store (it may be in use: WAL)."""
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def index_rows(f, account):
    """(uid, blob, size, delivered_to) of the INBOX of account, or [] without an index."""
    path = index_path(f, account)
    if not os.path.exists(path):
        return []
    try:
        return query(path, "SELECT m.uid, m.blob, m.size, m.delivered_to FROM messages m "
                     "JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.name = 'INBOX' "
                     "ORDER BY m.uid")
    except sqlite3.OperationalError as e:
        # lmtpd is creating the file: its schema is not committed yet.
        if "no such table" in str(e):
            return []
        raise


def blob_files(f):
    return sorted(glob.glob(os.path.join(store_dir(f), "blobs", "*", "*", "*")))


def blob_bytes(f, blob):
    with open(os.path.join(store_dir(f), "blobs", blob[:2], blob[2:4], blob), "rb") as fh:
        return fh.read()


def mailboxes(f, account):
    out = f.ctl("mailbox", "list", account, json_out=True).stdout
    return {m["name"]: m for m in json.loads(out)}


def wait_rows(f, account, n):
    return wait_for(lambda: len(index_rows(f, account)) >= n)


def lmtp(f):
    c = smtplib.LMTP(socket_path(f), timeout=60)
    code, _ = c.ehlo("client.test")
    assert code == 250
    return c


# ---------------------------------------------------------------- delivery


def test_local_mail_goes_to_lmtpd_by_default(store_facteur):
    # No local_transport: lmtp_listen alone sends local mail into the store.
    f = store_facteur(start=False)
    del f.params["local_transport"]
    f.start()
    assert wait_for(lambda: "lmtpd" in f.daemons() and os.path.exists(socket_path(f)))
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        s.sendmail("someone@relay.test", [ACCOUNTS[0]], simple_message(to=ACCOUNTS[0]).encode())
    assert wait_rows(f, ACCOUNTS[0], 1), f.log_tail()
    assert f.mailbox() == {}


def test_one_blob_for_every_recipient(store_facteur):
    f = store_facteur()
    body = simple_message(subject="to three", test_id="shared", sender="someone@relay.test",
                          to=ACCOUNTS[0])
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        refused = s.sendmail("someone@relay.test", list(ACCOUNTS[:2]) + ["carol+news@example.org"],
                             body.encode())
    assert refused == {}
    for a in ACCOUNTS:
        assert wait_rows(f, a, 1), f.log_tail()
    assert f.wait_queue_empty(), f.log_tail()

    rows = {a: index_rows(f, a) for a in ACCOUNTS}
    blobs = {r[0][1] for r in rows.values()}
    # One blob, three rows pointing at it, a reference for each.
    assert len(blobs) == 1
    blob = blobs.pop()
    assert [os.path.basename(p) for p in blob_files(f)] == [blob]
    assert query(os.path.join(store_dir(f), "store.db"),
                 "SELECT refs FROM blobs WHERE id = ?", (blob,)) == [(3,)]
    data = blob_bytes(f, blob)
    assert hashlib.sha256(data).hexdigest() == blob
    # Return-Path only: Delivered-To lives in the index, per recipient.
    assert data.startswith(b"Return-Path: <someone@relay.test>\r\n")
    assert b"Delivered-To" not in data
    assert b"X-Test-Id: shared\r\n" in data
    assert all(r[0][2] == len(data) for r in rows.values())
    assert rows["carol@example.org"][0][3] == "carol+news@example.org"
    assert rows["alice@example.org"][0][3] == "alice@example.org"

    # qmgr named its deliveries (XQID): "<queue id> <recipient>" in each index.
    qid = query(index_path(f, "carol@example.org"), "SELECT id FROM deliveries")[0][0].split()[0]
    assert query(index_path(f, "carol@example.org"), "SELECT id, uid FROM deliveries") == \
        [(f"{qid} carol+news@example.org", 1)]
    assert f"qid={qid} from=<someone@relay.test> to=<alice@example.org>" in f.log_text()

    # facteurctl sees the same.
    boxes = mailboxes(f, "bob@example.org")
    assert sorted(boxes) == ["Drafts", "INBOX", "Junk", "Sent", "Trash"]
    inbox = boxes["INBOX"]
    assert (inbox["messages"], inbox["unseen"], inbox["size"], inbox["uidnext"]) == \
        (1, 1, len(data), 2)
    assert inbox["uidvalidity"] > 0 and inbox["highestmodseq"] == 2
    assert boxes["Sent"]["special_use"] == "\\Sent"
    text = f.ctl("mailbox", "list", "bob@example.org").stdout
    assert "INBOX" in text and "\\Trash" in text
    quota = f.ctl("mailbox", "quota", "bob@example.org", json_out=True).stdout
    assert f'"bytes":{len(data)},"messages":1,"quota":0' in quota
    # qmgr logged each recipient as sent, through the socket.
    log = f.log_text()
    for a in ("alice@example.org", "bob@example.org", "carol+news@example.org"):
        assert f"to=<{a}> relay=localhost[{socket_path(f)}]" in log
    assert "status=sent (250 2.0.0 <carol+news@example.org> Saved (uid 1))" in log


def test_mailbox_commands_refuse_clearly(store_facteur):
    f = store_facteur(start=False)
    r = f.ctl("mailbox", "list", "alice@example.org", check=False)
    assert r.returncode == 1
    assert "no mailbox index yet" in r.stderr
    r = f.ctl("mailbox", "list", "not-an-address", check=False)
    assert r.returncode == 2 and "not an account" in r.stderr
    r = f.ctl("mailbox", "frobnicate", "alice@example.org", check=False)
    assert r.returncode == 2 and "mailbox list|quota|recalc" in r.stderr


def test_recalc_repairs_the_usage(store_facteur):
    f = store_facteur()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        for i in range(3):
            s.sendmail("someone@relay.test", ["alice@example.org"],
                       simple_message(test_id=f"r{i}", to="alice@example.org").encode())
    assert wait_rows(f, "alice@example.org", 3), f.log_tail()
    real = sum(r[2] for r in index_rows(f, "alice@example.org"))
    db = sqlite3.connect(index_path(f, "alice@example.org"), timeout=30)
    db.execute("UPDATE usage SET bytes = 1, messages = 99")
    db.commit()
    db.close()
    out = f.ctl("mailbox", "recalc", "alice@example.org", json_out=True).stdout
    assert '"before_bytes":1,"before_messages":99' in out
    assert f'"bytes":{real},"messages":3' in out


# ---------------------------------------------------------------- quotas


def big_message(test_id, size):
    return simple_message(test_id=test_id, sender="someone@relay.test", to="bob@example.org",
                          body=("x" * 70 + "\r\n") * (size // 72))


def test_over_quota_bounces(store_facteur, sink):
    f = store_facteur(start=False, default_quota="4000")
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        s.sendmail("someone@relay.test", ["bob@example.org"], big_message("fits", 2500).encode())
    assert wait_rows(f, "bob@example.org", 1), f.log_tail()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        s.sendmail("someone@relay.test", ["bob@example.org", "alice@example.org"],
                   big_message("too-much", 2500).encode())
    assert wait_rows(f, "alice@example.org", 1), f.log_tail()
    # The sender is told: a DSN with the LMTP server's words.
    assert sink.wait_count(1), f.log_tail()
    assert f.wait_queue_empty(), f.log_tail()
    dsn = sink.received()[0]
    assert dsn.mail_from == "" and dsn.rcpts == ["someone@relay.test"]
    msg = email.message_from_bytes(dsn.data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    text = dsn.data.decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; bob@example.org" in text
    assert "Status: 5.2.2" in text
    assert "552 5.2.2 <bob@example.org>: Mailbox full" in text
    assert "Final-Recipient: rfc822; alice@example.org" not in text
    assert "552 5.2.2" in f.log_text()
    assert len(index_rows(f, "bob@example.org")) == 1
    assert len(index_rows(f, "alice@example.org")) == 1
    quota = f.ctl("mailbox", "quota", "bob@example.org").stdout
    assert "quota 4000 bytes" in quota


def test_over_quota_temporary_defers(store_facteur):
    f = store_facteur(default_quota="3000", lmtp_quota_status="temporary")
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        s.sendmail("someone@relay.test", ["bob@example.org"], big_message("huge", 5000).encode())
    assert wait_for(lambda: "dsn=4.2.2 status=deferred" in f.log_text()), f.log_tail()
    assert f.queue_files("deferred"), f.all_queue_files()
    assert index_rows(f, "bob@example.org") == []
    assert "452 4.2.2 <bob@example.org>: Mailbox full" in f.log_text()


def test_profile_quota_overrides_the_default(store_facteur):
    # default_quota would refuse; bob's profile allows 100 KB, alice's 2000 bytes.
    f = store_facteur(start=False, default_quota="1000", lmtp_quota_status="temporary")
    f.ctl("profile", "add", "staff", "--quota", "100k")
    f.ctl("profile", "add", "tiny", "--quota", "2000")
    f.ctl("account", "set", "bob@example.org", "--profile", "staff")
    f.ctl("account", "set", "alice@example.org", "--profile", "tiny")
    f.start()
    assert wait_for(lambda: "lmtpd" in f.daemons() and os.path.exists(socket_path(f)))
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=60) as s:
        s.sendmail("someone@relay.test", ["bob@example.org", "alice@example.org"],
                   big_message("profiled", 5000).encode())
    assert wait_rows(f, "bob@example.org", 1), f.log_tail()
    assert wait_for(lambda: "452 4.2.2 <alice@example.org>: Mailbox full" in f.log_text()), \
        f.log_tail()
    assert index_rows(f, "alice@example.org") == []
    assert "quota 102400 bytes" in f.ctl("mailbox", "quota", "bob@example.org").stdout


# ---------------------------------------------------------------- LMTP itself


def test_lmtp_conversation(store_facteur):
    f = store_facteur()
    f.ctl("account", "add", "dave@example.org")
    f.ctl("account", "disable", "dave@example.org")
    c = lmtp(f)
    assert c.has_extn("pipelining") and c.has_extn("xqid") and c.has_extn("size")
    assert c.mail("sender@relay.test", ["XQID=T1ABC"]) == (250, b"2.1.0 Ok")
    assert c.rcpt("alice@example.org")[0] == 250
    code, text = c.rcpt("nobody@example.org")
    assert (code, text) == (550, b"5.1.1 <nobody@example.org>: Recipient address rejected: "
                                 b"User unknown in local recipient table")
    assert c.rcpt("dave@example.org")[0:2] == (550, b"5.2.1 <dave@example.org>: Mailbox disabled")
    assert c.rcpt("someone@elsewhere.test")[0] == 550
    assert c.rcpt("bob+lists@example.org")[0] == 250
    # One reply per accepted recipient, in order (smtplib dot-stuffs, lmtpd unstuffs).
    code, text = c.data(b"Subject: lmtp\r\n\r\nline\r\n.dotted\r\n")
    assert (code, text) == (250, b"2.0.0 <alice@example.org> Saved (uid 1)")
    assert c.getreply() == (250, b"2.0.0 <bob+lists@example.org> Saved (uid 1)")
    rows = index_rows(f, "alice@example.org")
    data = blob_bytes(f, rows[0][1])
    assert data == b"Return-Path: <sender@relay.test>\r\nSubject: lmtp\r\n\r\nline\r\n.dotted\r\n"

    # The same delivery again (a client retrying after a crash): not saved twice.
    assert c.mail("sender@relay.test", ["XQID=T1ABC"])[0] == 250
    assert c.rcpt("alice@example.org")[0] == 250
    assert c.rcpt("carol@example.org")[0] == 250
    assert c.data(b"Subject: lmtp\r\n\r\nline\r\n.dotted\r\n") == \
        (250, b"2.0.0 <alice@example.org> Already saved (uid 1)")
    assert c.getreply() == (250, b"2.0.0 <carol@example.org> Saved (uid 1)")
    assert len(index_rows(f, "alice@example.org")) == 1
    assert query(os.path.join(store_dir(f), "store.db"), "SELECT refs FROM blobs") == [(3,)]

    # Bad commands get clear answers, and the session goes on (up to
    # smtpd_error_limit errors; refused recipients are not errors).
    assert c.docmd("EHLO client.test") == (500, b"5.5.1 Error: this is LMTP: say LHLO")
    assert c.docmd("HELO client.test")[0] == 500
    assert c.docmd("RCPT TO:<alice@example.org>") == (503, b"5.5.1 Error: need MAIL command")
    assert c.docmd("DATA")[0] == 503
    assert c.docmd("FROB") == (502, b"5.5.2 Error: command not recognized")
    assert c.docmd("MAIL FROM:<a@b.test> AUTH=<>")[0] == 555
    assert c.docmd("MAIL FROM:<a@b.test> XQID=bad/id")[0] == 501
    assert c.docmd("MAIL FROM:<broken")[0] == 501
    c.quit()
    c = lmtp(f)
    assert c.docmd("MAIL FROM:<a@b.test> SIZE=999999999999")[0] == 552
    assert c.docmd("MAIL FROM:<a@b.test>")[0] == 250
    assert c.docmd("MAIL FROM:<a@b.test>") == (503, b"5.5.1 Error: nested MAIL command")
    assert c.docmd("RCPT TO:<alice@example.org> NOTIFY=NEVER")[0] == 555
    assert c.docmd("RCPT TO:<nobody@example.org>")[0] == 550
    # DATA without an accepted recipient fails (RFC 2033 4.2).
    assert c.docmd("DATA") == (503, b"5.5.1 Error: no valid recipients")
    assert c.docmd("RSET")[0] == 250
    assert c.docmd("NOOP")[0] == 250
    assert c.docmd("VRFY alice")[0] == 252
    assert c.docmd("X" * 3000)[0] == 500
    c.close()

    # Before LHLO, and too many errors.
    with RawLMTP(socket_path(f)) as r:
        assert r.cmd("MAIL FROM:<a@b.test>") == (503, ["5.5.1 Error: send LHLO first"])
        assert r.cmd("GET / HTTP/1.0")[0] == 421
        assert r.closed()
    with RawLMTP(socket_path(f)) as r:
        r.cmd("LHLO x")
        codes = [r.cmd("BOGUS")[0] for _ in range(9)]
        assert codes == [502] * 9
        assert r.cmd("BOGUS") == (502, ["5.5.2 Error: command not recognized"])
        assert r.reply()[0] == 421
        assert r.closed()
    # NUL bytes are refused, not a crash; lmtpd is still the same process.
    pid = f.daemons()["lmtpd"]
    with RawLMTP(socket_path(f)) as r:
        r.cmd("LHLO x")
        r.send(b"MAIL FROM:<a\0b@c.test>\r\n")
        assert r.reply()[0] == 500
    assert f.daemons()["lmtpd"] == pid


class RawLMTP:
    """Bytes over lmtpd's socket, replies read one by one."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buf = b""
        assert self.reply()[0] == 220

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed (read so far: %r)" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self):
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True


def test_pipelined_transactions_and_long_lines(store_facteur):
    f = store_facteur()
    long_line = b"z" * 200000
    with RawLMTP(socket_path(f)) as r:
        r.cmd("LHLO x")
        # Two transactions in one write, the second with a 200 KB line.
        r.send(b"MAIL FROM:<a@relay.test>\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<bob@example.org>\r\nDATA\r\nSubject: one\r\n\r\n.\r\n"
               b"MAIL FROM:<>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n"
               b"Subject: two\r\n\r\n" + long_line + b"\r\n.\r\n")
        replies = [r.reply()[0] for _ in range(10)]
        # MAIL RCPT RCPT DATA, two replies after the dot; MAIL RCPT DATA, one.
        assert replies == [250, 250, 250, 354, 250, 250, 250, 250, 354, 250]
    rows = index_rows(f, "carol@example.org")
    assert len(rows) == 1
    data = blob_bytes(f, rows[0][1])
    assert data == b"Return-Path: <>\r\nSubject: two\r\n\r\n" + long_line + b"\r\n"
    assert blob_bytes(f, index_rows(f, "alice@example.org")[0][1]) == \
        b"Return-Path: <a@relay.test>\r\nSubject: one\r\n\r\n"


# ---------------------------------------------------------------- smtp-source


def test_smtp_source_against_lmtpd(store_facteur):
    if not os.access("/usr/sbin/smtp-source", os.X_OK):
        pytest.skip("Postfix's smtp-source is not installed")
    f = store_facteur()
    r = subprocess.run(["timeout", "300", "/usr/sbin/smtp-source", "-L", "-s", "5", "-m", "50",
                        "-f", "source@relay.test", "-t", "alice@example.org",
                        "unix:" + socket_path(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = index_rows(f, "alice@example.org")
    assert len(rows) == 50
    assert [row[0] for row in rows] == list(range(1, 51))
    inbox = mailboxes(f, "alice@example.org")["INBOX"]
    assert inbox["messages"] == 50 and inbox["uidnext"] == 51
    # Each blob is referenced as often as rows name it.
    counts = collections.Counter(row[1] for row in rows)
    for blob, n in counts.items():
        assert query(os.path.join(store_dir(f), "store.db"),
                     "SELECT refs FROM blobs WHERE id = ?", (blob,)) == [(n,)]
    assert len(blob_files(f)) == len(counts)


# ---------------------------------------------------------------- crashes


def test_kill9_lmtpd_loses_nothing_and_duplicates_nothing(store_facteur):
    f = store_facteur(queue_run_delay="1", minimal_backoff_time="1", maximal_backoff_time="2")
    total = 40
    sent = []
    errors = []

    def sender():
        try:
            with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=120) as s:
                for i in range(total):
                    s.sendmail("someone@relay.test", list(ACCOUNTS),
                               simple_message(test_id=f"k{i}", to=ACCOUNTS[0],
                                              body=f"message {i}\r\n" * 200).encode())
                    sent.append(i)
        except Exception as e:  # reported below
            errors.append(repr(e))

    t = threading.Thread(target=sender)
    t.start()
    kills = 0
    for target in (8, 25):
        assert wait_for(lambda: len(index_rows(f, "alice@example.org")) >= target or
                        not t.is_alive()), f.log_tail()
        if len(index_rows(f, "alice@example.org")) < total:
            f.kill9("lmtpd")
            kills += 1
    t.join(300)
    assert not errors, errors
    assert len(sent) == total
    assert kills >= 1
    assert f.wait_queue_empty(timeout=300), (f.all_queue_files(), f.log_tail())
    for a in ACCOUNTS:
        rows = index_rows(f, a)
        ids = [blob_bytes(f, r[1]).split(b"X-Test-Id: ", 1)[1].split(b"\r\n", 1)[0] for r in rows]
        assert len(rows) == total, (a, len(rows))
        assert len(set(ids)) == total, (a, collections.Counter(ids).most_common(3))
        assert mailboxes(f, a)["INBOX"]["messages"] == total
    # Every blob referenced exactly by the rows of the three accounts.
    counts = collections.Counter(r[1] for a in ACCOUNTS for r in index_rows(f, a))
    refs = dict(query(os.path.join(store_dir(f), "store.db"), "SELECT id, refs FROM blobs"))
    for blob, n in counts.items():
        assert refs.get(blob, 0) >= n
    assert "lmtpd pid=" in f.log_text() and "killed by signal 9" in f.log_text()


# ---------------------------------------------------------------- the master


def test_master_starts_and_stops_lmtpd(store_facteur):
    f = store_facteur()
    first = f.daemons()["lmtpd"]
    # A new address: lmtpd started anew on it.
    f.set(lmtp_listen="unix:$spool_directory/run/lmtp2")
    f.reload()
    path2 = os.path.join(f.spool, "run", "lmtp2")
    assert wait_for(lambda: f.daemons().get("lmtpd") not in (None, first) and
                    os.path.exists(path2)), f.log_tail()
    assert "restarting lmtpd" in f.log_text() and "lmtp_listen changed" in f.log_text()
    st = os.stat(path2)
    assert oct(st.st_mode & 0o777) == "0o660"
    assert st.st_uid == int(subprocess.run(["id", "-u", "nobody"], capture_output=True,
                                           text=True).stdout)
    c = smtplib.LMTP(path2, timeout=60)
    assert c.ehlo()[0] == 250
    c.quit()
    # Emptied: stopped, not restarted.
    f.set(lmtp_listen="")
    f.reload()
    assert wait_for(lambda: "lmtpd" not in f.daemons()), f.log_tail()
    assert "stopping lmtpd" in f.log_text()
    assert not os.path.exists(path2)
