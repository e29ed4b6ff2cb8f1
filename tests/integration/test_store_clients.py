# SPDX-License-Identifier: MIT
"""The mailbox store spoken to by the clients people use, not by our own
code: mutt over IMAP (STARTTLS on imap_listen) and sieve-connect over
ManageSieve (STARTTLS on managesieve_listen).

facteur runs with imapd, lmtpd and managesieved and a certificate made by
the test (smtpd_tls_cert_file, for store.test and 127.0.0.1), which both
clients are told to trust: TLS is verified, not switched off.  Mail comes
in through smtpd, the queue and lmtpd.

mutt runs in a detached tmux session with a muttrc of the test's own (no
~/.muttrc, no header cache) and is driven with send-keys; what it shows is
read back with capture-pane and polled for, a bounded number of times.
Each step is checked on the screen and then on the server with imaplib:
the index lists the delivered messages, a message opens with its body,
F flags it (\\Flagged on the server after $), d and $ expunge one, C
copies one to a folder mutt creates after the server's TRYCREATE, mail
delivered while mutt sits in INBOX shows up (IDLE), c changes folder.
mutt's own protocol trace (-d 2) must show no BAD from the server.

sieve-connect, given the password on a file descriptor: upload, list,
activate, download (the same bytes back), checkscript, delete (refused
for the active script), a script with a syntax error refused with the
server's text shown; then the script it uploaded and activated files
mail delivered through lmtpd (fileinto :create), seen with imaplib."""
import imaplib
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, free_port, wait_for

IMAPD = os.path.join(BUILDDIR, "store", "imapd")
LMTPD = os.path.join(BUILDDIR, "store", "lmtpd")
MANAGESIEVED = os.path.join(BUILDDIR, "store", "managesieved")

pytestmark = pytest.mark.skipif(
    not all(os.access(p, os.X_OK) for p in (IMAPD, LMTPD, MANAGESIEVED)),
    reason="store/imapd, store/lmtpd or store/managesieved is not built")

ALICE = "alice@example.org"
PASSWORD = "alice-clients-pw"
CERT_NAME = "store.test"

# Screen polls: 300 captures 0.2 s apart, a minute at least, as generous as
# facteur_it.DEADLINE for a loaded box.
SCREEN_TRIES = 300
SCREEN_INTERVAL = 0.2


# ---------------------------------------------------------------- facteur


@pytest.fixture
def store_cert(workdir):
    """A self-signed certificate (a CA of its own) for store.test and 127.0.0.1."""
    cert = os.path.join(workdir, "store.crt")
    key = os.path.join(workdir, "store.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={CERT_NAME}",
                    "-addext", f"subjectAltName=DNS:{CERT_NAME},IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=120)
    os.chmod(key, 0o644)
    return cert, key


class Store:
    """A facteur with the mailbox store's daemons, and ALICE in its directory."""

    def __init__(self, f, imap_port, sieve_port, cert):
        self.f = f
        self.imap_port = imap_port
        self.sieve_port = sieve_port
        self.cert = cert

    def imap(self):
        """imaplib after STARTTLS, the certificate verified, logged in as ALICE."""
        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        c.starttls(ssl_context=ssl.create_default_context(cafile=self.cert))
        typ, data = c.login(ALICE, PASSWORD)
        assert typ == "OK", data
        return c

    def send(self, subject, body, sender="bob@example.com", name="Bob", date=None, extra=""):
        """A message to ALICE through smtpd, the queue and lmtpd."""
        date = date or "Mon, 1 Jan 2024 10:00:00 +0000"
        msg = (f"From: {name} <{sender}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
               f"Date: {date}\r\nMessage-ID: <{subject.replace(' ', '.')}@client.test>\r\n"
               f"{extra}\r\n{body}")
        with smtplib.SMTP("127.0.0.1", self.f.smtp_port, timeout=60) as s:
            assert s.sendmail(sender, [ALICE], msg.encode()) == {}

    def messages(self, mailbox="INBOX"):
        """{subject: flags} of a mailbox, or None if it does not exist."""
        c = self.imap()
        try:
            typ, data = c.select(f'"{mailbox}"', readonly=True)
            if typ != "OK":
                return None
            if int(data[0]) == 0:
                return {}
            typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            out = {}
            for item in data:
                if not isinstance(item, tuple):
                    continue
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split()
                subject = item[1].decode().split(":", 1)[1].strip()
                out[subject] = set(flags)
            return out
        finally:
            c.logout()

    def wait_messages(self, cond, mailbox="INBOX"):
        """Poll the server until cond({subject: flags}) holds; return the last state."""
        last = {}

        def check():
            last["state"] = self.messages(mailbox)
            return last["state"] is not None and cond(last["state"])
        ok = wait_for(check, interval=0.2)
        return ok, last.get("state")


@pytest.fixture
def store(make_facteur, workdir, store_cert):
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "store/imapd", "store/lmtpd", "store/managesieved"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    imap_port, imaps_port, sieve_port = free_port(), free_port(), free_port()
    f = make_facteur(start=False, daemon_directory=d,
                     smtpd_tls_cert_file=store_cert[0], smtpd_tls_key_file=store_cert[1],
                     imap_listen=f"127.0.0.1:{imap_port}",
                     imaps_listen=f"127.0.0.1:{imaps_port}",
                     managesieve_listen=f"127.0.0.1:{sieve_port}",
                     lmtp_listen="unix:$spool_directory/run/lmtp",
                     local_transport="lmtp:unix:$spool_directory/run/lmtp")
    os.makedirs(f.spool, exist_ok=True)
    shutil.chown(f.spool, "nobody")
    f.ctl("domain", "add", "example.org")
    f.ctl("account", "add", ALICE)
    r = subprocess.run([FACTEURCTL, "-c", f.conf, "account", "passwd", ALICE],
                       input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    f.start()
    assert wait_for(lambda: all(n in f.daemons() for n in ("imapd", "lmtpd", "managesieved"))), \
        f.log_tail()
    assert wait_for(lambda: _greets(imap_port, b"* OK")), f.log_tail()
    assert wait_for(lambda: _greets(sieve_port, b"OK")), f.log_tail()
    return Store(f, imap_port, sieve_port, store_cert[0])


def _greets(port, what):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            data = b""
            while what not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- mutt in tmux


class Tmux:
    """One program in a detached tmux session on a private socket."""

    def __init__(self, workdir, env):
        self.sock = os.path.join(workdir, "tmux.sock")
        self.env = env
        self.session = "client"

    def tmux(self, *args):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null"] + list(args),
                           env=self.env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr}"
        return r.stdout

    def start(self, command):
        # The shell stays after the program so that its last screen and exit
        # status can be read.
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", self.session,
                  f"{command}; echo CLIENT EXITED $?; sleep 600")

    def stop(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], env=self.env,
                       capture_output=True, timeout=30)

    def keys(self, *keys):
        """tmux key names: Enter, C-u, q, $ ..."""
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait(self, cond, what):
        """Capture until cond(screen) holds; fail with the screen if it never does."""
        screen = ""
        for _ in range(SCREEN_TRIES):
            screen = self.screen()
            if cond(screen):
                return screen
            time.sleep(SCREEN_INTERVAL)
        pytest.fail(f"mutt never showed {what}; the screen:\n{screen}")

    def wait_text(self, *texts):
        return self.wait(lambda s: all(t in s for t in texts), " and ".join(map(repr, texts)))


def index_row(screen, subject):
    """(cursor here, flags column) of the index line of subject, or None."""
    for line in screen.splitlines():
        m = re.match(r"^(->|  ) +\d+ \[(...)\] .*  " + re.escape(subject) + r"\s*$", line)
        if m:
            return m.group(1) == "->", m.group(2)
    return None


MUTTRC = """\
set imap_user="{user}"
set imap_pass="{password}"
set folder="imap://127.0.0.1:{port}/"
set spoolfile="+INBOX"
set ssl_starttls=yes
set ssl_force_tls=yes
set certificate_file="{cert}"
set header_cache=""
set message_cachedir=""
set record=""
set postponed="+Drafts"
set imap_idle=yes
set imap_check_subscribed=no
set mail_check=1
set timeout=1
set delete=yes
set quit=yes
set move=no
set confirmappend=no
set mark_old=no
set wait_key=no
set sleep_time=0
set beep=no
set markers=no
set arrow_cursor=yes
set sort=date-sent
set charset="utf-8"
set index_format="%4C [%Z] %-20.20n  %s"
ignore *
unignore from subject
"""


@pytest.mark.skipif(shutil.which("mutt") is None or shutil.which("tmux") is None,
                    reason="mutt or tmux is not installed")
def test_mutt(store, workdir):
    store.send("Lunch on Friday", "See you at noon by the fountain.\r\n",
               date="Mon, 1 Jan 2024 09:00:00 +0000")
    store.send("Quarterly report", "The numbers are up by 12 percent.\r\n",
               date="Mon, 1 Jan 2024 10:00:00 +0000")
    store.send("Old newsletter", "Nothing worth keeping.\r\n", name="News",
               sender="news@example.com", date="Mon, 1 Jan 2024 11:00:00 +0000")
    ok, state = store.wait_messages(lambda m: len(m) == 3)
    assert ok, (state, store.f.log_tail())

    home = os.path.join(workdir, "mutt")
    os.makedirs(home)
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as fh:
        fh.write(MUTTRC.format(user=ALICE, password=PASSWORD, port=store.imap_port,
                               cert=store.cert))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
           "TERM": "xterm-256color", "TMPDIR": home}
    t = Tmux(workdir, env)
    # -d 2: mutt's IMAP trace in $HOME/.muttdebug0.
    t.start(f"mutt -d 2 -n -F {rc}")
    try:
        _drive_mutt(store, t)
    finally:
        t.stop()
    debug = os.path.join(home, ".muttdebug0")
    if not os.path.exists(debug):
        return  # a mutt built without debugging: no trace to read
    with open(debug, errors="replace") as fh:
        trace = fh.read()
    assert "a0000 STARTTLS" in trace, trace[:2000]
    assert "[TRYCREATE]" in trace and "IDLE" in trace, trace[-3000:]
    bad = [line for line in trace.splitlines() if re.search(r"\d< (\*|a\d+) BAD", line)]
    assert not bad, "the server answered BAD to mutt:\n" + "\n".join(bad)


def _drive_mutt(store, t):
    subjects = ("Lunch on Friday", "Quarterly report", "Old newsletter")
    # The index lists the delivered messages, all new, in date order.
    screen = t.wait_text(*subjects, "Mutt: =INBOX", "Msgs:3")
    rows = [line for line in screen.splitlines() if any(s in line for s in subjects)]
    assert [next(s for s in subjects if s in r) for r in rows] == list(subjects), screen
    for s in subjects:
        assert index_row(screen, s)[1][0] == "N", screen

    def go_to(subject):
        t.keys("/")
        t.wait_text("Search for:")
        t.type(subject)
        t.keys("Enter")
        t.wait(lambda s: (index_row(s, subject) or (False,))[0], f"the cursor on {subject!r}")

    # Open a message: its body in the pager; back to the index.
    go_to("Quarterly report")
    t.keys("Enter")
    t.wait_text("Subject: Quarterly report", "The numbers are up by 12 percent.")
    t.keys("q")
    t.wait(lambda s: (index_row(s, "Quarterly report") or (0, "N"))[1][0] != "N",
           "Quarterly report read")

    # Flag it, sync: \Flagged (and \Seen, it was read) on the server.
    t.keys("F")
    t.wait(lambda s: (index_row(s, "Quarterly report") or (0, ""))[1].endswith("!"),
           "the flag on Quarterly report")
    t.keys("$")
    ok, state = store.wait_messages(
        lambda m: {"\\Flagged", "\\Seen"} <= m.get("Quarterly report", set()))
    assert ok, state
    assert "\\Flagged" not in state["Lunch on Friday"], state

    # Delete one, sync: expunged on the server, gone from the index.
    go_to("Old newsletter")
    t.keys("d")
    t.wait(lambda s: (index_row(s, "Old newsletter") or (0, ""))[1][1:2] == "D",
           "Old newsletter marked deleted")
    t.keys("$")
    screen = t.wait(lambda s: "Old newsletter" not in s and "Msgs:2" in s,
                    "Old newsletter expunged")
    ok, state = store.wait_messages(lambda m: "Old newsletter" not in m)
    assert ok and set(state) == {"Lunch on Friday", "Quarterly report"}, state

    # Copy one to a folder that does not exist yet: the server's TRYCREATE
    # makes mutt ask, then CREATE and COPY again.
    assert store.messages("Archive") is None
    go_to("Lunch on Friday")
    t.keys("C")
    t.wait_text("Copy to mailbox")
    t.keys("C-u")
    t.type("=Archive")
    t.keys("Enter")
    t.wait_text("Create Archive?")
    t.keys("y")
    ok, state = store.wait_messages(lambda m: "Lunch on Friday" in m, "Archive")
    assert ok and list(state) == ["Lunch on Friday"], state
    assert "Lunch on Friday" in store.messages("INBOX")

    # Mail delivered while mutt sits in INBOX shows up (IDLE).
    store.send("Arrived while reading", "Fresh from lmtpd.\r\n", name="Carol",
               sender="carol@example.com", date="Mon, 1 Jan 2024 12:00:00 +0000")
    screen = t.wait_text("Arrived while reading", "Msgs:3")
    assert index_row(screen, "Arrived while reading")[1][0] == "N", screen

    # Change folder to Archive: only the copy there; open it.
    t.keys("c")
    t.wait_text("Open mailbox")
    t.keys("C-u")
    t.type("=Archive")
    t.keys("Enter")
    screen = t.wait_text("Mutt: =Archive", "Msgs:1", "Lunch on Friday")
    assert "Quarterly report" not in screen and "Arrived while reading" not in screen, screen
    t.keys("Enter")
    t.wait_text("Subject: Lunch on Friday", "See you at noon by the fountain.")
    t.keys("q")
    t.wait_text("Mutt: =Archive")

    # Quit: mutt leaves cleanly, and the server kept what it was told.
    t.keys("q")
    t.wait_text("CLIENT EXITED 0")
    ok, state = store.wait_messages(lambda m: "\\Seen" in m.get("Lunch on Friday", ()),
                                    "Archive")
    assert ok, state
    state = store.messages("INBOX")
    assert set(state) == {"Lunch on Friday", "Quarterly report", "Arrived while reading"}, state
    assert state["Quarterly report"] >= {"\\Flagged", "\\Seen"}, state


# ---------------------------------------------------------------- sieve-connect


class SieveConnect:
    """sieve-connect one action at a time: STARTTLS verified against the test's
    certificate, PLAIN only over TLS, the password read from a file on fd 0."""

    def __init__(self, store, workdir):
        self.store = store
        self.dir = os.path.join(workdir, "sieve-connect")
        os.makedirs(self.dir)
        self.password_file = os.path.join(self.dir, "password")
        with open(self.password_file, "w") as fh:
            fh.write(PASSWORD + "\n")
        os.chmod(self.password_file, 0o600)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as fh:
            fh.write(data)
        return self.path(name)

    def run(self, *args):
        """(exit status, stdout and stderr together)."""
        argv = ["sieve-connect", "--nosrv", "--server", "127.0.0.1",
                "--port", str(self.store.sieve_port), "--user", ALICE, "--authmech", "PLAIN",
                "--passwordfd", "0", "--tlscafile", self.store.cert, "--tlshostname", CERT_NAME,
                "--noclearauth", "--noclearchan"] + list(args)
        with open(self.password_file) as pw:
            r = subprocess.run(argv, stdin=pw, capture_output=True, text=True, timeout=120,
                               cwd=self.dir)
        return r.returncode, r.stdout + r.stderr

    def ok(self, *args):
        code, out = self.run(*args)
        assert code == 0, f"sieve-connect {' '.join(args)} exited {code}:\n{out}"
        return out

    def scripts(self):
        """{name: active} from --list."""
        out = {}
        for line in self.ok("--list").splitlines():
            m = re.match(r'^"([^"]*)"( ACTIVE)?$', line.strip())
            assert m, f"unexpected --list line {line!r}"
            out[m.group(1)] = bool(m.group(2))
        return out


FILING = ('require ["fileinto", "mailbox"];\n'
          '# Lists go to their own folder; "quoted" \\ {braces} café\n'
          'if header :contains "List-Id" "acme" {\n'
          '  fileinto :create "Lists/ACME";\n'
          '  stop;\n'
          '}\n').encode()


def sieve_dir(f):
    local, domain = ALICE.split("@")
    return os.path.join(f.spool, "store", "accounts", domain, local, "sieve")


needs_sieve_connect = pytest.mark.skipif(shutil.which("sieve-connect") is None,
                                         reason="sieve-connect is not installed")


@needs_sieve_connect
def test_sieve_connect_manages_scripts(store, workdir):
    sc = SieveConnect(store, workdir)
    assert sc.scripts() == {}
    # Upload two scripts; the files on the server are the bytes sent.
    sc.ok("--upload", "--localsieve", sc.write("filing.sieve", FILING), "--remotesieve", "filing")
    sc.ok("--upload", "--localsieve", sc.write("keep.sieve", b"keep;\n"), "--remotesieve", "other")
    assert sc.scripts() == {"filing": False, "other": False}
    with open(os.path.join(sieve_dir(store.f), "filing.sieve"), "rb") as fh:
        assert fh.read() == FILING
    # Activate, then download: the same bytes back.
    sc.ok("--activate", "--remotesieve", "filing")
    assert sc.scripts() == {"filing": True, "other": False}
    assert os.readlink(os.path.join(sieve_dir(store.f), "active")) == "filing.sieve"
    sc.ok("--download", "--remotesieve", "filing", "--localsieve", sc.path("back.sieve"))
    with open(sc.path("back.sieve"), "rb") as fh:
        assert fh.read() == FILING
    # CHECKSCRIPT of a good script.
    sc.ok("--checkscript", "--localsieve", sc.path("filing.sieve"))
    # A syntax error: refused, the server's text shown, nothing stored.
    broken = sc.write("broken.sieve", b'require "fileinto";\nfileinot "Archive";\n')
    code, out = sc.run("--upload", "--localsieve", broken, "--remotesieve", "broken")
    assert code != 0, out
    assert "PUTSCRIPT(broken) failed: NO" in out and \
        'line 2: unknown command \\"fileinot\\"' in out, out
    code, out = sc.run("--checkscript", "--localsieve", broken)
    assert code != 0 and "line 2: unknown command" in out, out
    unbalanced = sc.write("unbalanced.sieve", b'if header :is "subject" "x" {\n  keep;\n')
    code, out = sc.run("--upload", "--localsieve", unbalanced, "--remotesieve", "unbalanced")
    assert code != 0 and "PUTSCRIPT(unbalanced) failed: NO" in out, out
    assert sc.scripts() == {"filing": True, "other": False}
    assert not os.path.exists(os.path.join(sieve_dir(store.f), "broken.sieve"))
    # The active script cannot be deleted; the other one can.
    code, out = sc.run("--delete", "--remotesieve", "filing")
    assert code != 0 and "ACTIVE" in out, out
    sc.ok("--delete", "--remotesieve", "other")
    assert sc.scripts() == {"filing": True}
    code, out = sc.run("--download", "--remotesieve", "other", "--localsieve", sc.path("x"))
    assert code != 0 and "NONEXISTENT" in out, out
    # Deactivated, then deleted: nothing left.
    sc.ok("--deactivate")
    assert sc.scripts() == {"filing": False}
    assert not os.path.lexists(os.path.join(sieve_dir(store.f), "active"))
    sc.ok("--delete", "--remotesieve", "filing")
    assert sc.scripts() == {}
    # A wrong password: refused, and said so.
    with open(sc.password_file, "w") as fh:
        fh.write("not the password\n")
    code, out = sc.run("--list")
    assert code != 0 and "Authentication refused by server" in out, out
    assert '"Authentication failed"' in out, out
    log = store.f.log_text()
    assert f"managesieve: login user={ALICE}" in log
    assert PASSWORD not in log and "not the password" not in log


@needs_sieve_connect
def test_sieve_connect_script_files_delivered_mail(store, workdir):
    sc = SieveConnect(store, workdir)
    sc.ok("--upload", "--localsieve", sc.write("filing.sieve", FILING), "--remotesieve", "filing")
    sc.ok("--activate", "--remotesieve", "filing")
    assert sc.scripts() == {"filing": True}
    store.send("acme digest", "List mail.\r\n", extra="List-Id: ACME <acme.example.net>\r\n")
    store.send("personal", "Just for you.\r\n")
    ok, state = store.wait_messages(lambda m: "acme digest" in m, "Lists/ACME")
    assert ok, (state, store.f.log_tail())
    ok, state = store.wait_messages(lambda m: "personal" in m)
    assert ok, (state, store.f.log_tail())
    assert list(store.messages("Lists/ACME")) == ["acme digest"]
    assert list(store.messages("INBOX")) == ["personal"]
    assert store.f.wait_queue_empty(), store.f.log_tail()
    c = store.imap()
    typ, data = c.list('""', '"Lists/*"')
    assert data == [b'(\\HasNoChildren) "/" "Lists/ACME"'], data
    c.select('"Lists/ACME"', readonly=True)
    typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
    assert data[0][1] == b"List mail.\r\n", data
    c.logout()
    assert "sieve=filing mailbox=Lists/ACME" in store.f.log_text()
