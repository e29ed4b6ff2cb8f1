# SPDX-License-Identifier: MIT
"""imapd, the IMAP server of the mailbox store, started by the facteur
master with imap_listen and imaps_listen set, accounts made with
facteurctl, spoken to with Python's imaplib and with a byte-exact client:
LOGINDISABLED and STARTTLS, LOGIN and AUTHENTICATE PLAIN, implicit TLS,
mailboxes (LIST, CREATE, RENAME, DELETE, SPECIAL-USE, LIST-STATUS),
APPEND then FETCH (bodies, sections, BODYSTRUCTURE, BINARY, flags),
STORE and SEARCH, ESEARCH and SEARCHRES, UID COPY/MOVE with COPYUID,
EXPUNGE, two sessions on one mailbox (IDLE seeing the other's APPEND,
flag change and EXPUNGE), CONDSTORE and QRESYNC, quotas, mail delivered
by lmtpd showing in INBOX, and error paths (BAD with the tag, BYE after
too many, oversized lines and literals)."""
import base64
import imaplib
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import zlib

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, simple_message, wait_for

IMAPD = os.path.join(BUILDDIR, "store", "imapd")
LMTPD = os.path.join(BUILDDIR, "store", "lmtpd")

pytestmark = pytest.mark.skipif(not os.access(IMAPD, os.X_OK), reason="store/imapd is not built")

ALICE = "alice@example.org"
BOB = "bob@example.org"
PASSWORDS = {ALICE: "alice-imap-pw", BOB: "bob-imap-pw"}


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def daemon_dir(workdir):
    """A daemon_directory holding the build's smtpd, qmgr, imapd and lmtpd."""
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "store/imapd", "store/lmtpd"):
        if os.access(os.path.join(BUILDDIR, path), os.X_OK):
            os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


class ImapFacteur:
    """A facteur with imapd: its ports and a way to make clients."""

    def __init__(self, f, imap_port, imaps_port):
        self.f = f
        self.imap_port = imap_port
        self.imaps_port = imaps_port

    def plain(self):
        return imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)

    def login(self, user=ALICE):
        c = self.plain()
        c.starttls(ssl_context=tls_context())
        typ, _ = c.login(user, PASSWORDS[user])
        assert typ == "OK"
        return c

    def raw(self, tls=True):
        c = RawIMAP(self.imaps_port if tls else self.imap_port, implicit_tls=tls)
        return c


@pytest.fixture
def imap_facteur(make_facteur, daemon_dir):
    """Factory: a facteur serving IMAP, with alice and bob in its directory."""
    from facteur_it import free_port

    def factory(start=True, **params):
        imap_port, imaps_port = free_port(), free_port()
        extra = {}
        if os.access(LMTPD, os.X_OK):
            extra = {"lmtp_listen": "unix:$spool_directory/run/lmtp",
                     "local_transport": "lmtp:unix:$spool_directory/run/lmtp"}
        extra.update(params)
        f = make_facteur(start=False, daemon_directory=daemon_dir,
                         imap_listen=f"127.0.0.1:{imap_port}",
                         imaps_listen=f"127.0.0.1:{imaps_port}", **extra)
        os.makedirs(f.spool, exist_ok=True)
        shutil.chown(f.spool, "nobody")
        f.ctl("domain", "add", "example.org")
        for user, pw in PASSWORDS.items():
            f.ctl("account", "add", user)
            r = subprocess.run([FACTEURCTL, "-c", f.conf, "account", "passwd", user],
                               input=pw + "\n", capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        if start:
            f.start()
            assert wait_for(lambda: "imapd" in f.daemons()), f.log_tail()
            assert wait_for(lambda: _answers(imap_port)), f.log_tail()
        return ImapFacteur(f, imap_port, imaps_port)
    return factory


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            return s.recv(100).startswith(b"* OK")
    except OSError:
        return False


class RawIMAP:
    """A byte-exact IMAP client: send lines, read responses up to the tagged one."""

    def __init__(self, port, implicit_tls=False, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if implicit_tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""
        self.zc = self.zd = None
        self.greeting = self.line()
        self.n = 0

    def compress(self):
        """COMPRESS DEFLATE: after its OK, raw deflate both ways (RFC 4978)."""
        tagged, untagged = self.cmd("COMPRESS DEFLATE")
        if tagged.split()[1] == "OK":
            self.zc = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.zd = zlib.decompressobj(-15)
            self.buf = self.zd.decompress(self.buf)
        return tagged

    def _recv(self):
        chunk = self.sock.recv(65536)
        if chunk and self.zd is not None:
            return self.zd.decompress(chunk)
        return chunk

    def starttls(self):
        self.send(b"S STARTTLS\r\n")
        lines = self.until(b"S")
        assert lines[-1].startswith(b"S OK"), lines
        self.sock = tls_context().wrap_socket(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.zc is not None:
            data = self.zc.compress(data) + self.zc.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def line(self):
        """One line, with any literal it announces folded in."""
        while b"\r\n" not in self.buf:
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("closed by the server; read so far: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        m = re.search(rb"~?\{(\d+)\}$", line)
        if m:
            n = int(m.group(1))
            while len(self.buf) < n:
                chunk = self._recv()
                if not chunk:
                    raise ConnectionError("closed inside a literal")
                self.buf += chunk
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.line()
        return line

    def until(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def cmd(self, text):
        """Send 'tag text' and return (tagged line, untagged lines) as str."""
        self.n += 1
        tag = f"T{self.n}"
        self.send(f"{tag} {text}\r\n")
        lines = self.until(tag.encode())
        return (lines[-1].decode("utf-8", "replace"),
                [x.decode("utf-8", "replace") for x in lines[:-1]])

    def login(self, user=ALICE):
        tagged, _ = self.cmd(f'LOGIN "{user}" "{PASSWORDS[user]}"')
        assert " OK " in tagged, tagged
        return tagged

    def closed(self, timeout=30):
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def message(subject="test", body="Hello.\r\n", sender="bob@example.com", to=ALICE, extra=""):
    return (f"From: Bob <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{subject}@test>\r\n"
            f"{extra}\r\n{body}").encode()


MULTIPART = (b"From: a@example.com\r\nTo: alice@example.org\r\nSubject: parts\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
             b"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"first part\r\n--XX\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n"
             b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
             b"filename=\"a.bin\"\r\n\r\nAAECAwQ=\r\n--XX--\r\nepilogue\r\n")


# ---------------------------------------------------------------- login


def test_login_refused_before_starttls_then_accepted(imap_facteur):
    srv = imap_facteur()
    c = srv.plain()
    caps = c.capabilities
    assert "LOGINDISABLED" in caps and "STARTTLS" in caps and "AUTH=PLAIN" not in caps
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login(ALICE, PASSWORDS[ALICE])
    assert "PRIVACYREQUIRED" in str(e.value)
    c.starttls(ssl_context=tls_context())
    typ, caps = c.capability()
    assert "AUTH=PLAIN" in caps[0].decode() and "LOGINDISABLED" not in caps[0].decode()
    typ, data = c.login(ALICE, PASSWORDS[ALICE])
    assert typ == "OK" and b"CAPABILITY" in data[0] and b"IDLE" in data[0]
    c.logout()
    assert f"imap: login user={ALICE}" in srv.f.log_text()
    assert PASSWORDS[ALICE] not in srv.f.log_text()


def test_wrong_password_and_authenticate_plain(imap_facteur):
    srv = imap_facteur()
    with srv.raw() as c:
        tagged, _ = c.cmd(f'LOGIN "{ALICE}" "wrong"')
        assert tagged.startswith("T1 NO [AUTHENTICATIONFAILED]"), tagged
        # SASL-IR and the continuation form.
        tok = base64.b64encode(f"\0{ALICE}\0{PASSWORDS[ALICE]}".encode()).decode()
        tagged, _ = c.cmd("AUTHENTICATE PLAIN " + tok)
        assert tagged.startswith("T2 OK [CAPABILITY "), tagged
    with srv.raw() as c:
        c.send("A AUTHENTICATE PLAIN\r\n")
        assert c.line() == b"+ "
        c.send(base64.b64encode(f"\0{BOB}\0{PASSWORDS[BOB]}".encode()) + b"\r\n")
        assert c.until(b"A")[-1].startswith(b"A OK")
        tagged, _ = c.cmd("AUTHENTICATE PLAIN")
        assert tagged.startswith("T1 BAD"), tagged
    with srv.raw() as c:
        c.send("A AUTHENTICATE PLAIN\r\n")
        assert c.line() == b"+ "
        c.send("*\r\n")
        assert c.until(b"A")[-1].startswith(b"A BAD")


def test_implicit_tls_and_states(imap_facteur):
    srv = imap_facteur()
    with srv.raw(tls=True) as c:
        assert b"AUTH=PLAIN" in c.greeting and b"STARTTLS" not in c.greeting
        tagged, _ = c.cmd("SELECT INBOX")
        assert tagged.startswith("T1 BAD"), tagged
        tagged, _ = c.cmd("STARTTLS")
        assert tagged.startswith("T2 BAD"), tagged
        c.login()
        tagged, _ = c.cmd("FETCH 1 FLAGS")
        assert tagged.startswith("T4 BAD") and "No mailbox selected" in tagged, tagged
        tagged, untagged = c.cmd("ID (\"name\" \"pytest\")")
        assert tagged.startswith("T5 OK") and untagged[0].startswith("* ID ("), untagged
        tagged, untagged = c.cmd("NAMESPACE")
        assert untagged == ['* NAMESPACE (("" "/")) (("Shared/" "/")) NIL']
        tagged, untagged = c.cmd("LOGOUT")
        assert untagged[0].startswith("* BYE") and tagged.startswith("T7 OK")
        assert c.closed()


# ---------------------------------------------------------------- mailboxes


def test_mailboxes(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    typ, data = c.list()
    names = [d.decode() for d in data]
    assert any(n.endswith('"INBOX"') for n in names)
    assert any("\\Sent" in n and n.endswith('"Sent"') for n in names), names
    assert c.create("Work/Projects")[0] == "OK"
    typ, data = c.create("Work/Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    typ, data = c.list('""', "Work/%")
    assert data == [b'(\\HasNoChildren) "/" "Work/Projects"']
    typ, data = c.list('""', "%")
    assert b'(\\HasChildren) "/" "Work"' in data
    assert c.rename("Work/Projects", "Archive2024")[0] == "OK"
    typ, data = c.select("Work/Projects")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = c.delete("Nope")
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    typ, data = c.delete("INBOX")
    assert typ == "NO"
    assert c.delete("Archive2024")[0] == "OK"
    # Non-ASCII names in modified UTF-7 (IMAP4rev1) and UTF-8 (after ENABLE).
    assert c.create("Entw&APw-rfe")[0] == "OK"
    typ, data = c.list('""', "Entw*")
    assert data == [b'(\\HasNoChildren) "/" "Entw&APw-rfe"']
    typ, data = c.status("Entw&APw-rfe", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK" and b"MESSAGES 0" in data[0]
    assert c.subscribe("Entw&APw-rfe")[0] == "OK"
    typ, data = c.lsub('""', "*")
    assert b'() "/" "Entw&APw-rfe"' in data, data
    assert c.unsubscribe("Entw&APw-rfe")[0] == "OK"
    typ, data = c.lsub('""', "Entw*")
    assert data == [None], data
    c.logout()
    with srv.raw() as r:
        r.login()
        tagged, untagged = r.cmd("ENABLE UTF8=ACCEPT")
        assert untagged == ["* ENABLED UTF8=ACCEPT"]
        tagged, untagged = r.cmd('LIST "" "Entw*"')
        assert untagged == ['* LIST (\\HasNoChildren) "/" "Entwürfe"'], untagged
        # LIST-EXTENDED: selection and return options, LIST-STATUS.
        tagged, untagged = r.cmd('LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))')
        assert tagged.split()[1] == "OK", tagged
        assert any("\\Trash" in u for u in untagged)
        assert not any('"INBOX"' in u for u in untagged)
        assert any(u.startswith('* STATUS "Trash" (MESSAGES 0)') for u in untagged), untagged
        tagged, untagged = r.cmd('CREATE "Old mail" (USE (\\Archive))')
        assert tagged.split()[1] == "OK", tagged
        tagged, untagged = r.cmd('LIST "" "Old mail"')
        assert untagged == ['* LIST (\\HasNoChildren \\Archive) "/" "Old mail"']
        tagged, untagged = r.cmd('LIST "" ""')
        assert untagged == ['* LIST (\\Noselect) "/" ""']


# ---------------------------------------------------------------- messages


def test_append_then_fetch(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    typ, data = c.append("INBOX", "(\\Flagged $Work)", '"01-Feb-2024 10:00:00 +0100"',
                         message("hello", "Hello Alice,\r\nthe body.\r\n"))
    assert typ == "OK", data
    m = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert m and int(m.group(2)) == 1
    typ, data = c.append("INBOX", None, None, MULTIPART)
    assert typ == "OK"
    typ, data = c.select("INBOX")
    assert data == [b"2"]
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE UID)")
    assert b"FLAGS (\\Flagged $Work)" in data[0]
    assert b'INTERNALDATE "01-Feb-2024 09:00:00 +0000"' in data[0]
    assert b"RFC822.SIZE %d" % len(message("hello", "Hello Alice,\r\nthe body.\r\n")) in data[0]
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject From)] BODY.PEEK[TEXT]<4.5>)")
    assert data[0][1] == b"From: Bob <bob@example.com>\r\nSubject: hello\r\n\r\n"
    assert data[1][0].endswith(b"BODY[TEXT]<4> {5}") and data[1][1] == b"o Ali"
    # PEEK left \Seen alone; BODY[] sets it and says so.
    typ, data = c.fetch("1", "FLAGS")
    assert b"\\Seen" not in data[0]
    typ, data = c.fetch("1", "BODY[]")
    assert data[0][1].endswith(b"the body.\r\n")
    assert b"\\Seen" in data[1], data
    typ, data = c.fetch("1", "FLAGS")
    assert b"\\Seen" in data[0]
    typ, data = c.fetch("1", "ENVELOPE")
    assert b'"hello" (("Bob" NIL "bob" "example.com"))' in data[0], data
    typ, data = c.fetch("2", "BODYSTRUCTURE")
    bs = data[0]
    assert b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 10 1' in bs, bs
    assert b'("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 8' in bs, bs
    assert b'"mixed" ("boundary" "XX")' in bs
    assert b'("attachment" ("filename" "a.bin"))' in bs
    typ, data = c.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])")
    assert data[0] == (b"2 (BODY[1] {10}", b"first part"), data
    assert data[1][0] == b" BODY[2.MIME] {142}" and b"base64\r\n" in data[1][1]
    assert data[2] == (b" BINARY[2] ~{5}", b"\x00\x01\x02\x03\x04")
    assert data[3] == b" BINARY.SIZE[2] 5)"

    with pytest.raises(imaplib.IMAP4.error, match="invalid message sequence number"):
        c.fetch("3", "FLAGS")
    c.logout()


def test_store_and_search(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    for i, (subj, body) in enumerate((("alpha", "first\r\n"), ("beta", "Second MESSAGE\r\n"),
                                      ("gamma", "third\r\n"))):
        assert c.append("INBOX", None, None, message(subj, body, extra=f"X-N: {i}\r\n"))[0] == "OK"
    c.select("INBOX")
    typ, data = c.store("1:2", "+FLAGS", "(\\Seen)")
    assert typ == "OK" and len(data) == 2 and b"\\Seen" in data[0]
    typ, data = c.store("2", "+FLAGS.SILENT", "(\\Flagged Important)")
    assert typ == "OK" and data == [None]
    typ, data = c.store("2", "-FLAGS", "(\\Seen)")
    assert data == [b"2 (FLAGS (\\Flagged Important))"]
    assert c.search(None, "SEEN") == ("OK", [b"1"])
    assert c.search(None, "UNSEEN") == ("OK", [b"2 3"])
    assert c.search(None, "FLAGGED", "KEYWORD", "Important") == ("OK", [b"2"])
    assert c.search(None, "SUBJECT", "GAMMA") == ("OK", [b"3"])
    assert c.search(None, "BODY", "message") == ("OK", [b"2"])
    assert c.search(None, "TEXT", '"x-n: 2"') == ("OK", [b"3"])
    assert c.search(None, "HEADER", "X-N", "1") == ("OK", [b"2"])
    assert c.search(None, "OR", "SUBJECT", "alpha", "SUBJECT", "gamma") == ("OK", [b"1 3"])
    assert c.search(None, "NOT", "SUBJECT", "alpha") == ("OK", [b"2 3"])
    assert c.search(None, "2:*", "UNFLAGGED") == ("OK", [b"3"])
    assert c.search(None, "SENTON", "1-Jan-2024") == ("OK", [b"1 2 3"])
    assert c.search(None, "SENTBEFORE", "1-Jan-2024") == ("OK", [b""])
    assert c.search(None, "LARGER", "10", "SMALLER", "1") == ("OK", [b""])
    typ, data = c.uid("SEARCH", "UID", "2:3")
    assert data == [b"2 3"]
    with pytest.raises(imaplib.IMAP4.error, match="unknown search key"):
        c.search(None, "FOO")
    typ, data = c.search("KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    c.logout()


def test_esearch_and_searchres(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    for subj in ("a1", "b2", "a3", "b4"):
        c.append("INBOX", None, None, message(subj))
    with srv.raw() as r:
        r.login()
        r.cmd("SELECT INBOX")
        tagged, untagged = r.cmd('SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT "b"')
        assert untagged == ['* ESEARCH (TAG "T3") MIN 2 MAX 4 COUNT 2 ALL 2,4'], untagged
        tagged, untagged = r.cmd("UID SEARCH RETURN (COUNT) ALL")
        assert untagged == ['* ESEARCH (TAG "T4") UID COUNT 4']
        tagged, untagged = r.cmd('SEARCH RETURN (SAVE) SUBJECT "a"')
        assert untagged == [] and tagged.startswith("T5 OK")
        tagged, untagged = r.cmd("FETCH $ (UID)")
        assert untagged == ["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"], untagged
        tagged, untagged = r.cmd("UID SEARCH UID $")
        assert untagged == ["* SEARCH 1 3"]
        tagged, untagged = r.cmd("SORT (REVERSE SUBJECT) UTF-8 ALL")
        assert untagged == ["* SORT 4 2 3 1"], untagged


def test_copy_move_expunge(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    for subj in ("one", "two", "three"):
        c.append("INBOX", None, None, message(subj))
    assert c.create("Keep")[0] == "OK"
    c.select("INBOX")
    with srv.raw() as r:
        r.login()
        r.cmd("SELECT INBOX")
        tagged, untagged = r.cmd("UID COPY 1:2 Keep")
        m = re.search(r"\[COPYUID (\d+) 1:2 1:2\]", tagged)
        assert m, tagged
        tagged, untagged = r.cmd("UID COPY 1 Nowhere")
        assert "[TRYCREATE]" in tagged
        tagged, untagged = r.cmd("UID MOVE 3 Keep")
        assert untagged[0].startswith("* OK [COPYUID %s 3 3]" % m.group(1)), untagged
        assert "* 3 EXPUNGE" in untagged and tagged.split()[1] == "OK", untagged
        tagged, untagged = r.cmd("STATUS Keep (MESSAGES)")
        assert untagged == ['* STATUS "Keep" (MESSAGES 3)']
        tagged, untagged = r.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
        tagged, untagged = r.cmd("EXPUNGE")
        assert untagged == ["* 1 EXPUNGE"], untagged
        tagged, untagged = r.cmd("FETCH 1:* (UID)")
        assert untagged == ["* 1 FETCH (UID 2)"], untagged
        tagged, untagged = r.cmd("EXAMINE Keep")
        assert "[READ-ONLY]" in tagged and "* 3 EXISTS" in untagged
        tagged, untagged = r.cmd("STORE 1 +FLAGS (\\Deleted)")
        assert tagged.split()[1] == "NO", tagged
    # The other session learns of the move and the expunge at its next command,
    # with sequence numbers as they are at each EXPUNGE.
    assert c.noop()[0] == "OK"
    assert c.response("EXPUNGE") == ("EXPUNGE", [b"1", b"2"])
    typ, data = c.fetch("1:*", "UID")
    assert data == [b"1 (UID 2)"], data


# ---------------------------------------------------------------- two sessions


def test_idle_sees_other_sessions(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    c.append("INBOX", None, None, message("first"))
    with srv.raw() as watcher:
        watcher.login()
        tagged, untagged = watcher.cmd("SELECT INBOX")
        assert "* 1 EXISTS" in untagged
        watcher.send("I IDLE\r\n")
        assert watcher.line() == b"+ idling"
        # Another session delivers: the idler hears EXISTS.
        c.append("INBOX", None, None, message("second"))
        assert watcher.line() == b"* 2 EXISTS"
        # ... changes a flag: FETCH FLAGS.
        c.select("INBOX")
        c.store("1", "+FLAGS.SILENT", "(\\Flagged)")
        line = watcher.line()
        assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged)"), line
        # ... expunges: EXPUNGE with the right sequence number.
        c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        assert watcher.line().startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Deleted)")
        c.expunge()
        assert watcher.line() == b"* 1 EXPUNGE"
        watcher.send("DONE\r\n")
        assert watcher.until(b"I")[-1].startswith(b"I OK")
        tagged, untagged = watcher.cmd("FETCH 1 (UID)")
        assert untagged == ["* 1 FETCH (UID 2)"], untagged
    c.logout()


def test_expunge_not_announced_during_fetch(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    for subj in ("a", "b", "c"):
        c.append("INBOX", None, None, message(subj))
    with srv.raw() as r:
        r.login()
        r.cmd("SELECT INBOX")
        c.select("INBOX")
        c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
        c.expunge()
        # FETCH by sequence number: no EXPUNGE in its responses (RFC 3501 7.4.1).
        tagged, untagged = r.cmd("FETCH 1:* (UID)")
        assert not any("EXPUNGE" in u for u in untagged), untagged
        assert "* 2 FETCH (UID 2)" in untagged
        tagged, untagged = r.cmd("NOOP")
        assert "* 1 EXPUNGE" in untagged, untagged
        tagged, untagged = r.cmd("FETCH 1:* (UID)")
        assert untagged == ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"], untagged
    c.logout()


# ---------------------------------------------------------------- CONDSTORE, QRESYNC


def test_condstore_and_qresync(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    for subj in ("a", "b", "c"):
        c.append("INBOX", None, None, message(subj))
    with srv.raw() as r:
        r.login()
        tagged, untagged = r.cmd("SELECT INBOX (CONDSTORE)")
        hms = [int(re.search(r"HIGHESTMODSEQ (\d+)", u).group(1)) for u in untagged
               if "HIGHESTMODSEQ" in u]
        assert hms and hms[0] > 0, untagged
        uidvalidity = [re.search(r"UIDVALIDITY (\d+)", u).group(1) for u in untagged
                       if "UIDVALIDITY" in u][0]
        tagged, untagged = r.cmd("FETCH 1:* (MODSEQ)")
        assert len(untagged) == 3 and all("MODSEQ (" in u for u in untagged)
        tagged, untagged = r.cmd("STORE 2 +FLAGS (\\Seen)")
        new = int(re.search(r"MODSEQ \((\d+)\)", untagged[0]).group(1))
        assert new > hms[0]
        # UNCHANGEDSINCE older than the message's modseq: refused, MODIFIED.
        tagged, untagged = r.cmd(f"STORE 2 (UNCHANGEDSINCE {hms[0]}) +FLAGS (\\Answered)")
        assert "[MODIFIED 2]" in tagged, tagged
        tagged, untagged = r.cmd(f"STORE 2 (UNCHANGEDSINCE {new}) +FLAGS (\\Answered)")
        assert tagged.split()[1] == "OK" and "\\Answered" in untagged[0], (tagged, untagged)
        tagged, untagged = r.cmd(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {hms[0]})")
        assert len(untagged) == 1 and untagged[0].startswith("* 2 FETCH"), untagged
        tagged, untagged = r.cmd("STATUS INBOX (HIGHESTMODSEQ)")
        assert "HIGHESTMODSEQ" in untagged[0]
        tagged, untagged = r.cmd(f"SEARCH MODSEQ {new}")
        assert untagged[0].startswith("* SEARCH 2 (MODSEQ "), untagged
        r.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)")
        r.cmd("EXPUNGE")
    with srv.raw() as r:
        r.login()
        tagged, untagged = r.cmd("ENABLE QRESYNC")
        assert untagged == ["* ENABLED QRESYNC"]
        tagged, untagged = r.cmd(f"SELECT INBOX (QRESYNC ({uidvalidity} {hms[0]} 1:3))")
        assert "* VANISHED (EARLIER) 3" in untagged, untagged
        assert any(u.startswith("* 2 FETCH (UID 2 FLAGS (") and "MODSEQ" in u
                   for u in untagged), untagged
        tagged, untagged = r.cmd(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms[0]} VANISHED)")
        assert untagged[0] == "* VANISHED (EARLIER) 3", untagged
    c.logout()


# ---------------------------------------------------------------- quotas, delivery


def test_quota(imap_facteur):
    srv = imap_facteur(default_quota="2k")
    c = srv.login()
    typ, data = c.getquotaroot("INBOX")
    assert typ == "OK"
    assert c.append("INBOX", None, None, message("small"))[0] == "OK"
    typ, data = c.getquotaroot("INBOX")
    assert data[1] == [b'"" (STORAGE 1 2)'], data
    typ, data = c.append("INBOX", None, None, message("big", "x" * 3000 + "\r\n"))
    assert typ == "NO" and b"OVERQUOTA" in data[0], data
    c.logout()


@pytest.mark.skipif(not os.access(LMTPD, os.X_OK), reason="store/lmtpd is not built")
def test_mail_delivered_by_lmtpd_is_in_inbox(imap_facteur):
    srv = imap_facteur()
    f = srv.f
    assert wait_for(lambda: "lmtpd" in f.daemons()), f.log_tail()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        s.sendmail("sender@example.com", [ALICE],
                   simple_message("delivered", to=ALICE, body="From the outside.\r\n"))
    c = srv.login()

    def arrived():
        typ, data = c.status("INBOX", "(MESSAGES)")
        return b"MESSAGES 1" in data[0]
    assert wait_for(arrived), f.log_tail()
    c.select("INBOX")
    typ, data = c.fetch("1", "(BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert data[0][1] == b"From the outside.\r\n"
    assert data[1][1] == b"Subject: delivered\r\n\r\n"
    c.logout()


# ---------------------------------------------------------------- errors


def test_errors(imap_facteur):
    srv = imap_facteur()
    with srv.raw() as r:
        tagged, _ = r.cmd("FROBNICATE")
        assert tagged == "T1 BAD Unknown command"
        r.send("x1 LOGIN \"unterminated\r\n")
        assert r.until(b"x1")[-1].startswith(b"x1 BAD")
        r.send("\r\n")
        assert r.line().startswith(b"* BAD")
        r.login()
        r.cmd("SELECT INBOX")
        tagged, _ = r.cmd("FETCH 1:* FLAGS")
        assert tagged.split()[1] == "BAD", tagged
        r.cmd("APPEND INBOX {%d+}\r\n%s" % (len(message("x")), message("x").decode()))
        for bad in ("FETCH x FLAGS", "FETCH 2 FLAGS", "FETCH 1 (FLAGS BODY[HEADER.FIELDS])",
                    "FETCH 1 (BODY[1.X])", "FETCH 1 BINARY[TEXT]", "STORE 1 +FLAGS (\\Bogus)",
                    "STORE 1 FLAGS.NOISY (\\Seen)", "SEARCH UNDELETED OR", "SEARCH ((((",
                    "COPY 1", "UID EXPUNGE", "SELECT", "LIST", "STATUS INBOX (BOGUS)",
                    "APPEND INBOX", "CREATE", "ENABLE", "ID (\"a\")"):
            tagged, _ = r.cmd(bad)
            assert tagged.split()[1] == "BAD", (bad, tagged)
            r.cmd("NOOP")	# bad commands in a row are what ends a session
        # A synchronizing literal over the limit is refused before it is sent.
        r.send("L1 LOGIN {999999999}\r\n")
        assert r.line().startswith(b"L1 NO [TOOBIG]")
        tagged, _ = r.cmd("NOOP")
        assert tagged.split()[1] == "OK"
    # Garbage again and again: BAD each time, then BYE at the 20th in a row.
    with srv.raw() as r:
        for i in range(19):
            r.send(f"g{i} GARBAGE!\r\n")
            assert r.until(f"g{i}".encode())[-1].startswith(f"g{i} BAD".encode())
        r.send("g19 GARBAGE!\r\n")
        lines = [r.line(), r.line()]
        assert lines[1].startswith(b"* BYE"), lines
        assert r.closed()
    # A line longer than the limit: BAD, BYE, closed.
    with srv.raw() as r:
        # No line end: everything sent is read, so the close is clean.
        r.send(b"a NOOP " + b"x" * 65600)
        assert r.line().startswith(b"a BAD [TOOBIG]")
        assert r.line().startswith(b"* BYE")
        assert r.closed()
    # The server is still there, and logged nothing alarming.
    c = srv.login()
    c.logout()


def test_literals_and_pipelining(imap_facteur):
    srv = imap_facteur()
    with srv.raw() as r:
        # A synchronizing literal waits for "+"; LITERAL+ does not.
        r.send(f"A LOGIN {{{len(ALICE)}}}\r\n")
        assert r.line().startswith(b"+ ")
        r.send(f"{ALICE} {{{len(PASSWORDS[ALICE])}+}}\r\n{PASSWORDS[ALICE]}\r\n")
        assert r.until(b"A")[-1].startswith(b"A OK")
        msg = message("literal")
        r.send(b"B APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n"
               b"C SELECT INBOX\r\nD FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
        assert r.until(b"B")[-1].startswith(b"B OK [APPENDUID ")
        assert r.until(b"C")[-1].startswith(b"C OK [READ-WRITE]")
        lines = r.until(b"D")
        assert b"Subject: literal" in lines[0] and lines[-1].startswith(b"D OK")


def test_utf8_append(imap_facteur):
    srv = imap_facteur()
    with srv.raw() as r:
        r.login()
        tagged, untagged = r.cmd("ENABLE UTF8=ACCEPT")
        msg = "From: zoë@example.com\r\nSubject: café\r\n\r\nthé\r\n".encode()
        r.send(b"A APPEND INBOX UTF8 (~{%d+}\r\n" % len(msg) + msg + b")\r\n")
        assert r.until(b"A")[-1].startswith(b"A OK [APPENDUID ")
        r.cmd("SELECT INBOX")
        tagged, untagged = r.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert "Subject: café" in untagged[0], untagged
        tagged, untagged = r.cmd('SEARCH SUBJECT "caf"')
        assert untagged == ["* SEARCH 1"]


def test_idle_timeout_and_shutdown(imap_facteur):
    srv = imap_facteur(imap_idle_timeout="2s")
    with srv.raw() as r:
        r.login()
        r.send("I IDLE\r\n")
        assert r.line() == b"+ idling"
        # Nothing from the client for imap_idle_timeout: BYE, closed.
        assert r.line().startswith(b"* BYE")
        assert r.closed()
    with srv.raw() as r:
        r.login()
        srv.f.stop()
        assert r.line().startswith(b"* BYE")
        assert r.closed()
    assert "imapd stopped" in srv.f.log_text()


def test_thread_and_sort(imap_facteur):
    srv = imap_facteur()
    c = srv.login()
    msgs = [("root", "", "Mon, 1 Jan 2024 10:00:00 +0000"),
            ("other", "", "Mon, 1 Jan 2024 11:00:00 +0000"),
            ("Re: root", "References: <root@test>\r\n", "Mon, 1 Jan 2024 12:00:00 +0000"),
            ("Re: Re: root", "References: <root@test> <Re: root@test>\r\n",
             "Mon, 1 Jan 2024 09:00:00 -0500"),
            ("Re: other", "", "Tue, 2 Jan 2024 08:00:00 +0000")]
    for subj, refs, date in msgs:
        m = (f"From: x@example.com\r\nSubject: {subj}\r\nDate: {date}\r\n"
             f"Message-ID: <{subj}@test>\r\n{refs}\r\nbody\r\n").encode()
        assert c.append("INBOX", None, None, m)[0] == "OK"
    with srv.raw() as r:
        r.login()
        r.cmd("SELECT INBOX")
        tagged, untagged = r.cmd("THREAD REFERENCES UTF-8 ALL")
        assert untagged == ["* THREAD (1 3 4)(2 5)"], untagged
        tagged, untagged = r.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL")
        assert untagged == ["* THREAD (1 (3)(4))(2 5)"], untagged
        tagged, untagged = r.cmd("UID THREAD REFERENCES UTF-8 SUBJECT other")
        assert untagged == ["* THREAD (2 5)"], untagged
        tagged, untagged = r.cmd("THREAD REFERENCES UTF-8 SUBJECT nothing")
        assert untagged == ["* THREAD"], untagged
        # 09:00 -0500 is 14:00 UTC: after 12:00 UTC.
        tagged, untagged = r.cmd("SORT (DATE) UTF-8 ALL")
        assert untagged == ["* SORT 1 2 3 4 5"], untagged
        tagged, untagged = r.cmd("SORT (SUBJECT REVERSE DATE) UTF-8 ALL")
        assert untagged == ["* SORT 5 2 4 3 1"], untagged
        tagged, untagged = r.cmd("THREAD BOGUS UTF-8 ALL")
        assert tagged.split()[1] == "BAD"


def test_compress_deflate(imap_facteur):
    srv = imap_facteur()
    with srv.raw() as r:
        tagged, untagged = r.cmd("COMPRESS DEFLATE")
        assert tagged.split()[1] == "BAD", tagged   # not before login
        r.login()
        tagged, untagged = r.cmd("CAPABILITY")
        if "COMPRESS=DEFLATE" not in untagged[0]:
            pytest.skip("imapd built without zlib")
        assert r.compress().split()[1] == "OK"
        tagged, untagged = r.cmd("COMPRESS DEFLATE")
        assert "[COMPRESSIONACTIVE]" in tagged, tagged
        body = "compressible line\r\n" * 2000
        msg = message("zipped", body)
        r.send(b"A APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
        assert r.until(b"A")[-1].startswith(b"A OK [APPENDUID ")
        r.cmd("SELECT INBOX")
        tagged, untagged = r.cmd("FETCH 1 BODY.PEEK[TEXT]")
        assert untagged[0].endswith(body + ")"), untagged[0][-80:]
        r.send("I IDLE\r\n")
        assert r.line() == b"+ idling"
        r.send("DONE\r\n")
        assert r.until(b"I")[-1].startswith(b"I OK")
        # Bytes that do not inflate: BYE.
        r.zc = None
        r.send(b"\xff\xff\xff\xff garbage\r\n")
        assert r.line().startswith(b"* BYE")


def test_curl_as_a_client(imap_facteur):
    """curl's IMAP client: STARTTLS on the plain port, implicit TLS, LIST and FETCH by UID."""
    srv = imap_facteur()
    c = srv.login()
    c.append("INBOX", None, None, message("for curl", "Fetched by curl.\r\n"))
    c.logout()
    user = f"{ALICE}:{PASSWORDS[ALICE]}"
    r = subprocess.run(["curl", "-s", "-k", "--ssl-reqd", "-u", user,
                        f"imap://127.0.0.1:{srv.imap_port}/"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"/" INBOX' in r.stdout or '"/" "INBOX"' in r.stdout, r.stdout
    r = subprocess.run(["curl", "-s", "-k", "-u", user,
                        f"imaps://127.0.0.1:{srv.imaps_port}/INBOX;UID=1"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(b"Subject: for curl\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                             b"Message-ID: <for curl@test>\r\n\r\nFetched by curl.\r\n"), r.stdout
    # Without TLS curl's LOGIN is refused: LOGINDISABLED is honoured.
    r = subprocess.run(["curl", "-s", "-u", user, f"imap://127.0.0.1:{srv.imap_port}/"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


@pytest.mark.skipif(shutil.which("mbsync") is None, reason="isync's mbsync is not installed")
def test_mbsync_both_ways(imap_facteur, workdir):
    """isync's mbsync: the account mirrored into a Maildir, then a local message and a
    local flag change pushed back (APPEND with UIDPLUS, STORE, CONDSTORE-less sync)."""
    srv = imap_facteur()
    c = srv.login()
    c.append("INBOX", None, None, message("from the server", "One.\r\n"))
    c.logout()
    maildir = os.path.join(workdir, "Mail")
    os.makedirs(maildir)
    # The server's own (self-signed) certificate is the one mbsync trusts.
    cert = os.path.join(workdir, "imapd.pem")
    with open(cert, "w") as f:
        f.write(ssl.get_server_certificate(("127.0.0.1", srv.imaps_port)))
    rc = os.path.join(workdir, "mbsyncrc")
    with open(rc, "w") as f:
        f.write(f"""IMAPAccount facteur
Host 127.0.0.1
Port {srv.imaps_port}
User {ALICE}
Pass {PASSWORDS[ALICE]}
SSLType IMAPS
CertificateFile {cert}
SystemCertificates no

IMAPStore remote
Account facteur

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")

    def sync():
        r = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True,
                           timeout=120)
        return r.returncode, r.stdout + r.stderr

    code, out = sync()
    if code != 0 and "certificate" in out.lower():
        pytest.skip("mbsync refuses the self-signed certificate: " + out[-300:])
    assert code == 0, out
    new = os.listdir(os.path.join(maildir, "INBOX", "new")) + \
        os.listdir(os.path.join(maildir, "INBOX", "cur"))
    assert len(new) == 1, new
    assert os.path.isdir(os.path.join(maildir, "Sent")), os.listdir(maildir)
    # A message written locally goes up; a local \Seen goes up too.
    local = message("from the client", "Two.\r\n").replace(b"\r\n", b"\n")
    with open(os.path.join(maildir, "INBOX", "new", "1.local"), "wb") as f:
        f.write(local)
    code, out = sync()
    assert code == 0, out
    c = srv.login()
    c.select("INBOX")
    typ, data = c.search(None, "SUBJECT", '"from the client"')
    assert data == [b"2"], data
    cur = os.path.join(maildir, "INBOX", "cur")
    for name in os.listdir(os.path.join(maildir, "INBOX", "new")):
        os.rename(os.path.join(maildir, "INBOX", "new", name), os.path.join(cur, name))
    for name in os.listdir(cur):
        if "from the server" in open(os.path.join(cur, name), "rb").read().decode():
            base = name.split(":2,")[0]
            os.rename(os.path.join(cur, name), os.path.join(cur, base + ":2,S"))
    code, out = sync()
    assert code == 0, out
    c.noop()
    typ, data = c.search(None, "SEEN")
    assert data == [b"1"], data
    c.logout()


def test_worker_processes(imap_facteur):
    """imap_processes workers share the listeners under a supervisor: a worker
    killed with -9 is started again, sessions on the others go on, SIGHUP and
    SIGTERM reach every worker."""
    def children_of(ppid):
        pids = []
        for name in os.listdir("/proc"):
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except (OSError, ValueError):
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z" and int(fields[1]) == ppid:
                pids.append(int(name))
        return sorted(pids)

    fx = imap_facteur(imap_processes=3)
    supervisor = fx.f.daemons()["imapd"]
    assert wait_for(lambda: len(children_of(supervisor)) == 3), children_of(supervisor)
    workers = children_of(supervisor)
    # Sessions spread over the workers all work; one stays open across a worker's death.
    keep = fx.raw()
    keep.login()
    sessions = []
    for _ in range(6):
        c = fx.raw()
        c.login()
        sessions.append(c)
    victim = workers[0]
    os.kill(victim, 9)
    assert wait_for(lambda: len(children_of(supervisor)) == 3 and
                    victim not in children_of(supervisor)), children_of(supervisor)
    assert "worker 0" in fx.f.log_text() or "exited" in fx.f.log_text()
    # Every session not served by the killed worker still answers.
    alive = 0
    for c in [keep] + sessions:
        try:
            tagged, _ = c.cmd("NOOP")
            alive += tagged.split()[1] == "OK"
        except (ConnectionError, OSError):
            pass
        c.close()
    assert alive >= 1
    c = fx.raw()
    c.login()
    assert c.cmd("SELECT INBOX")[0].split()[1] == "OK"
    c.close()
    # The master's view: still the same imapd (the supervisor), nothing restarted.
    assert fx.f.daemons()["imapd"] == supervisor
    fx.f.stop()
    assert not [p for p in workers[1:] if os.path.exists(f"/proc/{p}")]
