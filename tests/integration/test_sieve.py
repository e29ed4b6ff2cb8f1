# SPDX-License-Identifier: MIT
"""Sieve end to end: facteur with lmtpd (local_transport = lmtp:...) and
managesieved (managesieve_listen), accounts with passwords made with
facteurctl, scripts uploaded over ManageSieve by a Python client speaking
RFC 5804 (STARTTLS, AUTHENTICATE PLAIN, literals), then mail sent with
smtplib through smtpd, the queue and lmtpd: fileinto a folder made with
:create (seen with facteurctl mailbox list -j), reject (the sender gets a
DSN with the reason), redirect (the Python sink gets the message with
the original envelope sender; a redirect to oneself is a loop, and the
message is kept), vacation (one answer, not two, with the null sender;
none for bulk mail).  Also the protocol itself: capabilities before and
after TLS, no password in clear text, every command and its response
codes, a literal too big, bad input."""
import base64
import json
import os
import re
import shutil
import smtplib
import socket
import sqlite3
import ssl
import subprocess

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, free_port, simple_message, wait_for

LMTPD = os.path.join(BUILDDIR, "store", "lmtpd")
MANAGESIEVED = os.path.join(BUILDDIR, "store", "managesieved")

pytestmark = pytest.mark.skipif(not os.access(MANAGESIEVED, os.X_OK),
                                reason="store/managesieved is not built")

ALICE = "alice@example.org"
BOB = "bob@example.org"
PASSWORDS = {ALICE: "alice-sieve-pw", BOB: "bob-sieve-pw"}
OUTSIDER = "someone@relay.test"


# ---------------------------------------------------------------- a ManageSieve client


class SieveError(Exception):
    pass


class ManageSieve:
    """RFC 5804 spoken byte by byte: commands, literals, responses with codes."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.caps = self.capabilities_response()

    # -- reading

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed by the server (read so far: {self.buf!r})")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _strings(self, line):
        """The strings of a line (quoted, or a literal read from what follows)."""
        out = []
        i = 0
        while i < len(line):
            ch = line[i:i + 1]
            if ch == b" ":
                i += 1
            elif ch == b'"':
                j, s = i + 1, b""
                while line[j:j + 1] != b'"':
                    if line[j:j + 1] == b"\\":
                        j += 1
                    s += line[j:j + 1]
                    j += 1
                out.append(s.decode())
                i = j + 1
            elif ch == b"{":
                n = int(line[i + 1:line.index(b"}", i)].rstrip(b"+"))
                out.append(self._take(n).decode())
                line = self._line()
                i = 0
            else:
                j = line.find(b" ", i)
                j = len(line) if j < 0 else j
                out.append(line[i:j].decode())
                i = j
        return out

    def response(self):
        """(lines before it, "OK"/"NO"/"BYE", code or None, text)."""
        lines = []
        while True:
            line = self._line()
            m = re.match(rb"^(OK|NO|BYE)(?: \(([^)]*)\))?(?: (.*))?$", line)
            if m:
                text = self._strings(m.group(3))[0] if m.group(3) else ""
                code = m.group(2).decode() if m.group(2) else None
                return lines, m.group(1).decode(), code, text
            lines.append(self._strings(line))

    def capabilities_response(self):
        lines, status, code, text = self.response()
        assert status == "OK", (status, code, text)
        return {entry[0].upper(): (entry[1] if len(entry) > 1 else "") for entry in lines}

    # -- writing

    @staticmethod
    def literal(data):
        if isinstance(data, str):
            data = data.encode()
        return b"{%d+}\r\n" % len(data) + data

    @staticmethod
    def quoted(s):
        return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'

    def send(self, *parts):
        self.sock.sendall(b" ".join(p if isinstance(p, bytes) else p.encode() for p in parts) +
                          b"\r\n")

    def cmd(self, *parts):
        self.send(*parts)
        return self.response()

    # -- commands

    def starttls(self):
        _, status, _, _ = self.cmd("STARTTLS")
        assert status == "OK"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.caps = self.capabilities_response()

    def authenticate(self, user, password):
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        return self.cmd("AUTHENTICATE", self.quoted("PLAIN"), self.quoted(token))

    def login(self, user):
        self.starttls()
        _, status, code, text = self.authenticate(user, PASSWORDS[user])
        assert status == "OK", (status, code, text)

    def putscript(self, name, text):
        return self.cmd("PUTSCRIPT", self.quoted(name), self.literal(text))

    def put_active(self, name, text):
        _, status, code, msg = self.putscript(name, text)
        assert status == "OK", (status, code, msg)
        _, status, code, msg = self.cmd("SETACTIVE", self.quoted(name))
        assert status == "OK", (status, code, msg)

    def listscripts(self):
        lines, status, _, _ = self.cmd("LISTSCRIPTS")
        assert status == "OK"
        return {line[0]: len(line) > 1 and line[1] == "ACTIVE" for line in lines}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- facteur


@pytest.fixture
def daemon_dir(workdir):
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "store/lmtpd", "store/managesieved"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


class SieveFacteur:
    def __init__(self, f, port):
        self.f = f
        self.port = port

    def client(self, user=None):
        c = ManageSieve(self.port)
        if user:
            c.login(user)
        return c

    def send(self, sender, rcpt, subject="test", extra="", body="Hello.\r\n"):
        msg = simple_message(subject=subject, sender=sender, to=rcpt, extra=extra, body=body)
        with smtplib.SMTP("127.0.0.1", self.f.smtp_port, timeout=60) as s:
            assert s.sendmail(sender, [rcpt], msg.encode()) == {}

    def boxes(self, account):
        r = self.f.ctl("mailbox", "list", account, json_out=True, check=False)
        if r.returncode != 0:
            return {}
        return {m["name"]: m for m in json.loads(r.stdout)}

    def count(self, account, box="INBOX"):
        return self.boxes(account).get(box, {}).get("messages", 0)

    def wait_count(self, account, n, box="INBOX"):
        return wait_for(lambda: self.count(account, box) >= n)


@pytest.fixture
def sieve_facteur(make_facteur, daemon_dir, sink):
    """facteur with lmtpd and managesieved, ALICE and BOB with passwords, relay.test to the sink."""
    port = free_port()
    f = make_facteur(start=False, daemon_directory=daemon_dir,
                     lmtp_listen="unix:$spool_directory/run/lmtp",
                     local_transport="lmtp:unix:$spool_directory/run/lmtp",
                     managesieve_listen=f"127.0.0.1:{port}")
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    os.makedirs(f.spool, exist_ok=True)
    shutil.chown(f.spool, "nobody")
    f.ctl("domain", "add", "example.org")
    for user, pw in PASSWORDS.items():
        f.ctl("account", "add", user)
        r = subprocess.run([FACTEURCTL, "-c", f.conf, "account", "passwd", user],
                           input=pw + "\n", capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    f.start()
    assert wait_for(lambda: "managesieved" in f.daemons() and "lmtpd" in f.daemons()), f.log_tail()
    assert wait_for(lambda: _answers(port)), f.log_tail()
    return SieveFacteur(f, port)


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            return b"OK" in s.recv(4096)
    except OSError:
        return False


def sieve_dir(f, account):
    local, domain = account.split("@")
    return os.path.join(f.spool, "store", "accounts", domain, local, "sieve")


# ---------------------------------------------------------------- the protocol


def test_capabilities_tls_and_login(sieve_facteur):
    sf = sieve_facteur
    c = sf.client()
    # Before TLS: STARTTLS offered, no mechanism, and no password taken.
    assert c.caps["IMPLEMENTATION"] == "facteur"
    assert c.caps["SASL"] == ""
    assert "STARTTLS" in c.caps
    assert c.caps["VERSION"] == "1.0"
    exts = c.caps["SIEVE"].split()
    for e in ("fileinto", "reject", "ereject", "envelope", "vacation", "variables", "body",
              "imap4flags", "relational", "copy", "mailbox", "subaddress"):
        assert e in exts
    assert c.caps["MAXREDIRECTS"] == "4"
    _, status, code, _ = c.authenticate(ALICE, PASSWORDS[ALICE])
    assert (status, code) == ("NO", "ENCRYPT-NEEDED")
    _, status, _, text = c.cmd("LISTSCRIPTS")
    assert status == "NO" and "Log in" in text
    # After STARTTLS the capabilities come again, with PLAIN and without STARTTLS.
    c.starttls()
    assert c.caps["SASL"] == "PLAIN"
    assert "STARTTLS" not in c.caps
    _, status, code, _ = c.authenticate(ALICE, "wrong password")
    assert (status, code) == ("NO", None)
    _, status, _, _ = c.authenticate(ALICE, PASSWORDS[ALICE])
    assert status == "OK"
    lines, status, _, _ = c.cmd("CAPABILITY")
    assert status == "OK" and ["OWNER", ALICE] in lines
    _, status, _, _ = c.cmd("LOGOUT")
    assert status == "OK"
    c.close()
    log = sf.f.log_text()
    assert f"managesieve: login user={ALICE}" in log
    assert PASSWORDS[ALICE] not in log and "wrong password" not in log


def test_script_commands(sieve_facteur):
    sf = sieve_facteur
    c = sf.client(ALICE)
    assert c.listscripts() == {}
    # An invalid script is refused with its line, and not stored.
    _, status, code, text = c.putscript("bad", 'require "fileinto";\nfileinot "x";\n')
    assert status == "NO" and 'line 2: unknown command "fileinot"' in text, text
    _, status, _, text = c.cmd("CHECKSCRIPT", c.literal('if header :is "a" {\n keep;\n}\n'))
    assert status == "NO" and text.startswith("line 1:"), text
    _, status, _, _ = c.cmd("CHECKSCRIPT", c.literal("keep;"))
    assert status == "OK"
    assert c.listscripts() == {}
    # Store, list, activate, get.
    script = 'require ["fileinto"];\r\n# "quoted" \\ and {braces}\r\nfileinto "A";\r\n'
    assert c.putscript("first", script)[1] == "OK"
    assert c.putscript("second", "keep;")[1] == "OK"
    assert c.listscripts() == {"first": False, "second": False}
    _, status, code, _ = c.cmd("SETACTIVE", c.quoted("nope"))
    assert (status, code) == ("NO", "NONEXISTENT")
    assert c.cmd("SETACTIVE", c.quoted("first"))[1] == "OK"
    assert c.listscripts() == {"first": True, "second": False}
    lines, status, _, _ = c.cmd("GETSCRIPT", c.quoted("first"))
    assert status == "OK" and lines == [[script]]
    _, status, code, _ = c.cmd("GETSCRIPT", c.quoted("nope"))
    assert (status, code) == ("NO", "NONEXISTENT")
    # The files, as lmtpd reads them.
    d = sieve_dir(sf.f, ALICE)
    assert os.readlink(os.path.join(d, "active")) == "first.sieve"
    with open(os.path.join(d, "first.sieve"), "rb") as fh:
        assert fh.read() == script.encode()
    # Delete and rename.
    _, status, code, _ = c.cmd("DELETESCRIPT", c.quoted("first"))
    assert (status, code) == ("NO", "ACTIVE")
    _, status, code, _ = c.cmd("RENAMESCRIPT", c.quoted("first"), c.quoted("second"))
    assert (status, code) == ("NO", "ALREADYEXISTS")
    assert c.cmd("RENAMESCRIPT", c.quoted("first"), c.quoted("renamed"))[1] == "OK"
    assert c.listscripts() == {"renamed": True, "second": False}
    assert os.readlink(os.path.join(d, "active")) == "renamed.sieve"
    assert c.cmd("DELETESCRIPT", c.quoted("second"))[1] == "OK"
    _, status, code, _ = c.cmd("DELETESCRIPT", c.quoted("second"))
    assert (status, code) == ("NO", "NONEXISTENT")
    assert c.cmd("SETACTIVE", c.quoted(""))[1] == "OK"
    assert c.listscripts() == {"renamed": False}
    assert not os.path.lexists(os.path.join(d, "active"))
    # HAVESPACE, NOOP, bad names.
    assert c.cmd("HAVESPACE", c.quoted("x"), "1000")[1] == "OK"
    _, status, code, _ = c.cmd("HAVESPACE", c.quoted("x"), "99999999")
    assert (status, code) == ("NO", "QUOTA/MAXSIZE")
    _, status, code, _ = c.cmd("NOOP", c.quoted("t1"))
    assert (status, code) == ("OK", 'TAG "t1"')
    _, status, _, text = c.putscript("../escape", "keep;")
    assert status == "NO" and "name" in text
    # A literal too big is thrown away, refused, and the session goes on.
    big = 1024 * 1024 + 1
    c.sock.sendall(b'PUTSCRIPT "big" {%d+}\r\n' % big + b"#" * big + b"\r\n")
    _, status, code, _ = c.response()
    assert (status, code) == ("NO", "QUOTA/MAXSIZE")
    assert c.listscripts() == {"renamed": False}
    # Syntax errors are answered, and the session goes on.
    c.sock.sendall(b'PUTSCRIPT "a" "unterminated\r\n')
    assert c.response()[1] == "NO"
    assert c.cmd("FROBNICATE")[1] == "NO"
    assert c.cmd("NOOP")[1] == "OK"
    c.close()


def test_too_many_errors_and_long_lines(sieve_facteur):
    c = sieve_facteur.client()
    for _ in range(9):
        assert c.cmd("FROBNICATE")[1] == "NO"
    assert c.cmd("FROBNICATE")[1] == "NO"
    _, status, _, text = c.response()
    assert status == "BYE" and "errors" in text
    c.close()
    c = sieve_facteur.client()
    c.sock.sendall(b"NOOP " + b"x" * 10000 + b"\r\n")
    _, status, _, text = c.response()
    assert status == "BYE" and "too long" in text
    c.close()


# ---------------------------------------------------------------- delivery


def test_fileinto_a_folder_made_with_create(sieve_facteur):
    sf = sieve_facteur
    c = sf.client(ALICE)
    c.put_active("lists", 'require ["fileinto", "mailbox", "imap4flags"];\n'
                 'if header :contains "List-Id" "acme" {\n'
                 '  fileinto :create :flags "\\\\Flagged" "Lists/ACME";\n'
                 '}\n')
    c.close()
    sf.send(OUTSIDER, ALICE, subject="list mail", extra="List-Id: ACME <acme.example.net>\r\n")
    sf.send(OUTSIDER, ALICE, subject="direct mail")
    assert sf.wait_count(ALICE, 1, "Lists/ACME"), sf.f.log_tail()
    assert sf.wait_count(ALICE, 1), sf.f.log_tail()
    assert sf.f.wait_queue_empty(), sf.f.log_tail()
    boxes = sf.boxes(ALICE)
    assert boxes["Lists/ACME"]["messages"] == 1
    assert boxes["INBOX"]["messages"] == 1
    log = sf.f.log_text()
    assert 'fileinto :create made mailbox "Lists/ACME"' in log
    assert "sieve=lists mailbox=Lists/ACME" in log
    # The flag went with it.
    local, domain = ALICE.split("@")
    db = sqlite3.connect(os.path.join(sf.f.spool, "store", "accounts", domain, local, "index.db"))
    try:
        flags = db.execute("SELECT m.flags FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id "
                           "WHERE b.name = 'Lists/ACME'").fetchall()
    finally:
        db.close()
    assert flags == [(4,)]
    # Bob has no script: his mail goes to INBOX as before.
    sf.send(OUTSIDER, BOB, extra="List-Id: ACME <acme.example.net>\r\n")
    assert sf.wait_count(BOB, 1), sf.f.log_tail()
    assert "Lists/ACME" not in sf.boxes(BOB)


def test_fileinto_without_create_goes_to_inbox(sieve_facteur):
    sf = sieve_facteur
    c = sf.client(ALICE)
    c.put_active("s", 'require "fileinto";\nfileinto "Nowhere";\n')
    c.close()
    sf.send(OUTSIDER, ALICE)
    assert sf.wait_count(ALICE, 1), sf.f.log_tail()
    assert "Nowhere" not in sf.boxes(ALICE)
    assert 'fileinto "Nowhere": no such mailbox (no :create): into INBOX' in sf.f.log_text()


def test_reject_sends_a_dsn(sieve_facteur, sink):
    sf = sieve_facteur
    c = sf.client(ALICE)
    c.put_active("no", 'require "reject";\nif header :contains "subject" "buy" {\n'
                 '  reject "I do not want this.";\n}\n')
    c.close()
    sf.send(OUTSIDER, ALICE, subject="buy now")
    assert sink.wait_count(1), sf.f.log_tail()
    dsn = sink.received()[0]
    assert dsn.mail_from == "" and dsn.rcpts == [OUTSIDER]
    text = dsn.data.decode(errors="replace")
    assert "Status: 5.7.1" in text
    assert "I do not want this." in text
    assert sf.f.wait_queue_empty(), sf.f.log_tail()
    assert sf.count(ALICE) == 0
    assert "status=rejected (I do not want this.)" in sf.f.log_text()


def test_redirect_reaches_the_sink(sieve_facteur, sink):
    sf = sieve_facteur
    c = sf.client(ALICE)
    c.put_active("fwd", 'redirect "elsewhere@relay.test";\n')
    c.close()
    sf.send(OUTSIDER, ALICE, subject="forward me")
    assert sink.wait_count(1), sf.f.log_tail()
    m = sink.received()[0]
    # The original envelope sender (RFC 5228 4.2), the loop guard, no Return-Path of ours.
    assert m.mail_from == OUTSIDER
    assert m.rcpts == ["elsewhere@relay.test"]
    assert m.header("X-Sieve-Redirected-From") == f"<{ALICE}>"
    assert m.header("Subject") == "forward me"
    assert b"Return-Path:" not in m.data
    assert sf.f.wait_queue_empty(), sf.f.log_tail()
    # Not kept: redirect cancels the implicit keep.
    assert sf.count(ALICE) == 0


def test_redirect_to_oneself_is_a_loop_and_kept(sieve_facteur):
    sf = sieve_facteur
    c = sf.client(ALICE)
    c.put_active("self", f'redirect "{ALICE}";\n')
    c.close()
    sf.send(OUTSIDER, ALICE, subject="round and round")
    assert sf.wait_count(ALICE, 1), sf.f.log_tail()
    assert sf.f.wait_queue_empty(), sf.f.log_tail()
    assert sf.count(ALICE) == 1
    assert "mail loop (the account redirected this message before): kept" in sf.f.log_text()


def test_vacation_answers_once(sieve_facteur, sink):
    sf = sieve_facteur
    c = sf.client(ALICE)
    c.put_active("away", 'require "vacation";\n'
                 'vacation :days 3 :subject "Away" "I am away until Monday.";\n')
    c.close()
    sf.send(OUTSIDER, ALICE, subject="first")
    assert sink.wait_count(1), sf.f.log_tail()
    sf.send(OUTSIDER, ALICE, subject="second")
    # Bulk mail is never answered.
    sf.send("news@relay.test", ALICE, subject="newsletter", extra="Precedence: bulk\r\n")
    assert sf.wait_count(ALICE, 3), sf.f.log_tail()
    assert sf.f.wait_queue_empty(), sf.f.log_tail()
    replies = sink.received()
    assert len(replies) == 1, [r.data[:300] for r in replies]
    r = replies[0]
    assert r.mail_from == "" and r.rcpts == [OUTSIDER]
    assert r.header("Subject") == "Away"
    assert r.header("Auto-Submitted").startswith("auto-replied")
    assert r.header("From") == f"<{ALICE}>"
    assert b"I am away until Monday." in r.data
    log = sf.f.log_text()
    assert "vacation: no answer: answered within the last 3 days" in log
    assert "vacation: no answer: the message is bulk mail (Precedence)" in log


def test_master_follows_managesieve_listen(sieve_facteur):
    sf = sieve_facteur
    f = sf.f
    first = f.daemons()["managesieved"]
    # A new address: managesieved started anew on it.
    port2 = free_port()
    f.set(managesieve_listen=f"127.0.0.1:{port2}")
    f.reload()
    assert wait_for(lambda: f.daemons().get("managesieved") not in (None, first) and
                    _answers(port2)), f.log_tail()
    assert "restarting managesieved" in f.log_text()
    assert "managesieve_listen changed" in f.log_text()
    c = ManageSieve(port2)
    assert c.caps["IMPLEMENTATION"] == "facteur"
    c.close()
    # Killed: restarted.
    pid = f.daemons()["managesieved"]
    f.kill9("managesieved", wait_restart=False)
    assert wait_for(lambda: f.daemons().get("managesieved") not in (None, pid) and
                    _answers(port2)), f.log_tail()
    # Emptied: stopped, not restarted.
    f.set(managesieve_listen="")
    f.reload()
    assert wait_for(lambda: "managesieved" not in f.daemons()), f.log_tail()
    assert "stopping managesieved" in f.log_text()
    assert not _answers(port2)
