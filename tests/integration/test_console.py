# SPDX-License-Identifier: MIT
"""facteur-console, the appliance's console menu, driven in tmux.

The console runs in a detached tmux session of 80x24 on a private socket,
pointed at the test's facteur (-c, -C facteurctl, -M facteur), a log file
and an actions directory of the test's own (scripts that record how they
were called).  Keys go in with send-keys; the screen is read back with
capture-pane and polled for a bounded number of times, the screen in the
failure message.  Every change made in the console is checked where it
lands: facteurctl stats, queue list, domain and account list, a login
with the new password, the files and facteur.conf, the scripts' records.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time

import pytest

from facteur_it import (BUILDDIR, FACTEUR, FACTEURCTL, SANITIZER_MARKERS, SRCDIR, RawSMTP,
                        pids_with_arg, simple_message, wait_for)

CONSOLE = os.environ.get("FACTEUR_CONSOLE") or \
    os.path.join(BUILDDIR, "appliance", "console", "facteur-console")
SCREEN_TRIES = 300
SCREEN_INTERVAL = 0.1

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Console:
    """facteur-console in a detached tmux session on a private socket."""

    def __init__(self, workdir, facteur, actions=None, log=None, width=80, height=24,
                 name="console", term=None, no_size=False):
        self.dir = workdir
        self.sock = os.path.join(workdir, f"tmux-{name}.sock")
        self.facteur = facteur
        self.actions = actions or os.path.join(workdir, "no-actions")
        self.log = log or facteur.log_path
        self.width, self.height = width, height
        self.stderr = os.path.join(workdir, f"{name}.stderr")
        self.env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm")
        self.env.pop("TMUX", None)
        self.session = "console"
        # The console's terminal: a serial line says vt220 and has no size (0x0).
        self.term = term
        self.no_size = no_size

    def tmux(self, *args):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null"] + list(args),
                           env=self.env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"tmux {' '.join(args)}: {r.stderr}"
        return r.stdout

    def start(self, screen=None, extra=""):
        argv = [CONSOLE, "-c", self.facteur.conf, "-C", FACTEURCTL, "-M", FACTEUR,
                "-a", self.actions, "-l", self.log]
        if screen:
            argv += ["-s", screen]
        command = " ".join(f"'{a}'" for a in argv) + f" {extra} 2>>'{self.stderr}'"
        if self.term:
            command = f"TERM={self.term} {command}"
        if self.no_size:
            command = f"stty rows 0 cols 0; {command}"
        # The shell stays after the console so that its exit status and the
        # terminal's state can be read.
        self.tmux("new-session", "-d", "-x", str(self.width), "-y", str(self.height),
                  "-s", self.session,
                  f"{command}; echo CONSOLE EXITED $?; stty -a | tr ' ;' '\\n\\n' | "
                  f"grep -xE -- '-?(echo|icanon)'; sleep 600")
        return self

    def stop(self):
        """End tmux and wait until its processes are gone (their command lines name the
        configuration: the facteur fixture would take them for its own strays)."""
        console = self.pid()
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], env=self.env,
                       capture_output=True, timeout=30)
        wait_for(lambda: not pids_with_arg(self.stderr) and not (console and alive(console)), 30)

    def keys(self, *keys):
        """tmux key names: Enter, Escape, Up, Down, F1, C-c, a ..."""
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
        pytest.fail(f"the console never showed {what}; the screen:\n{screen}")

    def wait_text(self, *texts):
        return self.wait(lambda s: all(t in s for t in texts), " and ".join(map(repr, texts)))

    def wait_re(self, pattern):
        return self.wait(lambda s: re.search(pattern, s, re.M), repr(pattern))

    def tty_after(self, marker):
        """The terminal's echo and icanon flags ("-echo" when off) printed after marker."""
        def flags(screen):
            if marker not in screen:
                return None
            tail = set(screen.split(marker, 1)[1].split())
            return tail if len(tail) == 2 else None
        return flags(self.wait(flags, f"{marker} and the terminal's flags"))

    def pid(self):
        """The console's pid, None if it is not running."""
        r = subprocess.run(["tmux", "-S", self.sock, "list-panes", "-t", self.session, "-F",
                            "#{pane_pid}"], env=self.env, capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or not r.stdout.split():
            return None
        shell = int(r.stdout.split()[0])
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[1]) == shell and "facteur-console" in stat:
                    return int(name)
        return None

    def sanitizer_reports(self):
        try:
            with open(self.stderr) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return [m for m in SANITIZER_MARKERS if m in text]


@pytest.fixture
def console(workdir):
    made = []

    def factory(facteur, **kw):
        c = Console(workdir, facteur, **kw)
        made.append(c)
        return c

    yield factory
    problems = []
    for c in made:
        c.stop()
        problems += c.sanitizer_reports()
    assert not problems, f"sanitizer reports in {made[0].stderr}: {problems}"


@pytest.fixture
def facteur_dir(make_facteur, workdir):
    """A running facteur whose directory lives in workdir/state (writable by its daemons)."""
    state = os.path.join(workdir, "state")
    os.makedirs(state, exist_ok=True)
    os.chmod(state, 0o755)
    return make_facteur(directory_database=os.path.join(state, "directory.db"))


@pytest.fixture
def relay(make_facteur, sink):
    """facteur relaying relay.test to the Python sink, which defers bad@relay.test."""
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    sink.rcpt_replies["bad@relay.test"] = "451 4.3.0 try later"
    f.start()
    return f


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def login(f, user, password):
    """AUTH PLAIN on the submission port after STARTTLS: the reply code."""
    # smtpd looks for a directory file created after its start at most once a second.
    def opened():
        with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=60) as s:
            s.ehlo("client.test")
        return re.search(r"directory \S+ opened", f.log_text())
    assert wait_for(opened, interval=0.3), f.log_tail()
    with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        s.user, s.password = user, password
        try:
            return s.auth("PLAIN", s.auth_plain)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def alive(pid):
    """pid runs (a zombie does not count: the master started by the console is not ours to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def screen_number(screen, label):
    m = re.search(r"^ " + re.escape(label) + r" +(\d+)", screen, re.M)
    if m is None:
        m = re.search(r"  " + re.escape(label) + r" +(\d+)", screen)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- dashboard


def test_dashboard_matches_stats(facteur, console):
    with smtplib.SMTP("127.0.0.1", facteur.smtp_port, timeout=60) as s:
        s.sendmail("alice@example.org", ["rcpt@example.org"], simple_message(test_id="dash"))
    assert facteur.wait_mailbox(1)
    assert wait_for(lambda: facteur.stats()["qmgr_delivered"] == 1)
    c = console(facteur).start()
    c.wait_text("Main menu", "[D]  Dashboard")
    c.keys("d")
    master = facteur.proc.pid
    c.wait_re(rf"facteur master +running +pid {master}\b")
    c.wait_re(r"^ smtpd +running +pid \d+")
    c.wait_re(r"^ qmgr +running +pid \d+")
    labels = {"accepted": "smtpd_messages_accepted", "recipients": "smtpd_recipients_accepted",
              "delivered": "qmgr_delivered", "connections": "smtpd_connections",
              "bounced": "qmgr_bounced", "spam": "filter_spam", "viruses": "av_viruses",
              "checked": "filter_messages"}

    def same(screen):
        stats = facteur.stats()
        return all(screen_number(screen, label) == stats[field] for label, field in labels.items())
    screen = c.wait(same, "the counters of facteurctl stats")
    assert screen_number(screen, "accepted") == 1
    assert screen_number(screen, "delivered") == 1
    assert re.search(r"incoming +0\b", screen), screen
    # Nothing that matters is cut at 80x24: every row and the keys are there.
    for text in ("managesieved", "refused: smtp", "tempfailed", "Antivirus", "Rules", "Spool",
                 "free of", "q/Esc: back"):
        assert text in screen, (text, screen)
    # Another message: the dashboard follows within its refresh.
    with smtplib.SMTP("127.0.0.1", facteur.smtp_port, timeout=60) as s:
        s.sendmail("alice@example.org", ["rcpt@example.org"], simple_message(test_id="dash2"))
    assert wait_for(lambda: facteur.stats()["qmgr_delivered"] == 2)
    c.wait(lambda s: screen_number(s, "accepted") == 2 and screen_number(s, "delivered") == 2,
           "accepted 2 and delivered 2")
    # Back to the menu, out of the console: the terminal is as it was.
    c.keys("q")
    c.wait_text("Main menu", "Dashboard", "Mail queue")
    c.keys("q")
    assert c.tty_after("CONSOLE EXITED 0") == {"echo", "icanon"}


def test_dashboard_larger_terminal_and_resize(facteur, console):
    c = console(facteur, width=80, height=24).start("dashboard")
    c.wait_text("Services", "Queue", "Messages", "Filter")
    c.tmux("resize-window", "-t", c.session, "-x", "132", "-y", "43")
    screen = c.wait(lambda s: len(s.splitlines()) >= 40 and "q/Esc: back" in s.splitlines()[-1],
                    "the help line on the last line of 43")
    # The right column moved to the middle of the wider screen.
    row = next(line for line in screen.splitlines() if line.startswith("Services"))
    assert row.index("Queue") == 66, screen
    c.tmux("resize-window", "-t", c.session, "-x", "80", "-y", "24")
    screen = c.wait(lambda s: len(s.splitlines()) <= 24 and "q/Esc: back" in s,
                    "the dashboard redrawn at 80x24")
    row = next(line for line in screen.splitlines() if line.startswith("Services"))
    assert row.index("Queue") == 40, screen


def test_small_terminal(facteur, console):
    c = console(facteur, width=60, height=16).start("queue")
    c.wait_text("terminal 60x16: 80x24 at least", "Mail queue (0 messages)")
    c.keys("q")
    c.wait_text("Main menu", "[D]  Dashboard")
    c.keys("d")
    c.wait_text("Services", "Queue")
    c.tmux("resize-window", "-t", c.session, "-x", "80", "-y", "24")
    c.wait(lambda s: "80x24 at least" not in s and "Messages" in s, "the warning gone at 80x24")


def test_stopped_facteur_and_terminal_after_sigterm(make_facteur, console):
    f = make_facteur(start=False)
    c = console(f).start("dashboard")
    c.wait_re(r"facteur master +STOPPED")
    c.wait_text("no counters")
    pid = c.pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    assert c.tty_after("CONSOLE EXITED 143") == {"echo", "icanon"}


# ---------------------------------------------------------------- queue


def send(f, rcpt, test_id):
    with RawSMTP(f.smtp_port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(test_id=test_id, to=rcpt) + ".\r\n")
        code, text = c.reply()
        assert code == 250, text
        return text[0].rsplit(" ", 1)[1]


def queue_state(f, qid):
    for e in f.queue_list():
        if e["queue_id"] == qid:
            return e["queue_name"]
    return None


def test_queue_hold_release_delete(relay, console):
    qid = send(relay, "bad@relay.test", "q1")
    assert wait_for(lambda: relay.queue_files("deferred") == [qid])
    c = console(relay).start("queue")
    c.wait_re(rf"^ ?{qid} +deferred .*alice@example.org -> bad@relay.test")
    c.wait_text("Mail queue (1 message)")
    c.keys("F1")
    c.wait_text("h: hold it", "d: delete it (asks first")
    c.keys("Space")
    c.wait(lambda s: "h: hold it" not in s and qid in s, "the queue again after the help")

    c.keys("h")
    c.wait_re(rf"^ ?{qid} +hold ")
    assert queue_state(relay, qid) == "hold"
    assert relay.queue_files("hold") == [qid]

    c.keys("r")
    c.wait(lambda s: re.search(rf"^ ?{qid} +(incoming|active|deferred) ", s, re.M),
           "the message released")
    assert wait_for(lambda: queue_state(relay, qid) in ("incoming", "active", "deferred"))
    assert relay.queue_files("hold") == []

    # Shown: envelope and content, in the pager.
    c.keys("Enter")
    c.wait_text(f"queue_id: {qid}", "X-Test-Id: q1")
    c.keys("q")
    c.wait_text("Mail queue (1 message)")

    # Deleting asks; No (the default, with Enter) and n change nothing.
    c.keys("d")
    c.wait_text(f"Delete message {qid}", "Are you sure?")
    c.keys("Enter")
    c.wait_text("nothing deleted")
    c.keys("d")
    c.wait_text(f"Delete message {qid}")
    c.keys("n")
    c.wait_text("nothing deleted")
    assert queue_state(relay, qid) is not None
    assert relay.all_queue_files()["deferred"] + relay.all_queue_files()["incoming"] + \
        relay.all_queue_files()["active"] == [qid]
    # Yes deletes it.
    c.keys("d")
    c.wait_text(f"Delete message {qid}")
    c.keys("y")
    c.wait_text("The queue is empty", "Mail queue (0 messages)")
    assert relay.queue_list() == []


def test_queue_flush(relay, sink, console):
    qid = send(relay, "bad@relay.test", "flush")
    assert wait_for(lambda: relay.queue_files("deferred") == [qid])
    c = console(relay).start("queue")
    c.wait_text(qid)
    del sink.rcpt_replies["bad@relay.test"]
    c.keys("f")
    assert sink.wait_count(1), relay.log_tail()
    c.wait_text("The queue is empty")


# ---------------------------------------------------------------- domains and accounts


def test_domain_and_account_forms(facteur_dir, console):
    f = facteur_dir
    c = console(f).start("directory")
    c.wait_text("No domain yet")

    # A bad name is refused by the form, then a good one is added.
    c.keys("a")
    c.wait_text("Add a domain", "Kind")
    c.type("not a domain")
    c.keys("Enter", "Enter", "Enter")
    c.wait_text("is not a domain name")
    c.keys("Enter")
    c.wait_text("Add a domain")
    c.keys("C-u")
    c.type("console.test")
    c.keys("Enter", "Enter", "Enter")
    c.wait_re(r"console\.test +local +0 accounts")
    assert "console.test" in f.ctl("domain", "list").stdout

    # Its accounts: one added with its password typed twice (never shown).
    c.keys("Enter")
    c.wait_text("Accounts of console.test", "No account yet")
    c.keys("a")
    c.wait_text("Add an account", "Password", "Again")
    c.type("bob")
    c.keys("Enter")
    c.type("Console-Pw-4411")
    c.keys("Enter")
    c.type("Different-Pw-9")
    screen = c.screen()
    assert "Console-Pw-4411" not in screen and "***************" in screen, screen
    c.keys("Enter")
    c.wait_text("The two passwords differ")
    c.keys("Enter")
    c.wait_text("Add an account")
    # The passwords were cleared; the address kept.
    c.keys("Down")
    c.type("Console-Pw-4411")
    c.keys("Enter")
    c.type("Console-Pw-4411")
    c.keys("Enter")
    c.wait_re(r"bob@console\.test +enabled +set")
    assert f.ctl("account", "list", "console.test").stdout.split() == ["bob@console.test"]
    show = json.loads(f.ctl("account", "show", "bob@console.test", json_out=True).stdout)
    assert show["password"] is True and show["enabled"] is True
    # The password is the one typed: smtpd takes it.
    assert login(f, "bob@console.test", "Console-Pw-4411") == 235
    assert "Console-Pw-4411" not in f.log_text()

    # Disabled, enabled.
    c.keys("e")
    c.wait_re(r"bob@console\.test +DISABLED")
    assert f.ctl("account", "list", "console.test").stdout.split() == ["bob@console.test",
                                                                         "disabled"]
    c.keys("e")
    c.wait_re(r"bob@console\.test +enabled")

    # A new password.
    c.keys("p")
    c.wait_text("Set a password")
    c.type("Second-Pw-7788")
    c.keys("Enter")
    c.type("Second-Pw-7788")
    c.keys("Enter")
    c.wait_text("password of bob@console.test set")
    assert login(f, "bob@console.test", "Second-Pw-7788") == 235
    assert login(f, "bob@console.test", "Console-Pw-4411") == 535

    # Deleting asks; cancelled changes nothing.
    c.keys("d")
    c.wait_text("Delete the account bob@console.test")
    c.keys("n")
    c.wait_text("nothing deleted")
    assert f.ctl("account", "list", "console.test").stdout.split() == ["bob@console.test"]

    # The domain cannot go while it has an account: facteurctl's refusal is shown.
    c.keys("q")
    c.wait_re(r"console\.test +local +1 account\b")
    c.keys("d")
    c.wait_text("Delete the domain console.test")
    c.keys("y")
    c.wait_text("Failed")
    c.keys("Enter")
    assert "console.test" in f.ctl("domain", "list").stdout


# ---------------------------------------------------------------- log viewer


def test_log_viewer_search_and_follow(facteur, console, workdir):
    log = os.path.join(workdir, "mail.log")
    with open(log, "w") as fp:
        for i in range(1, 301):
            if i == 57:
                fp.write("Dec  1 10:00:57 mx facteur/smtpd[99]: qid=NEEDLE4242 from=<x@y>\n")
            else:
                fp.write(f"Dec  1 10:00:00 mx facteur/qmgr[98]: line {i} of the test log\n")
    c = console(facteur, log=log).start("log")
    # It opens at the end.
    screen = c.wait_text("line 300 of the test log")
    assert "NEEDLE4242" not in screen
    c.keys("/")
    c.type("needle4242")
    c.keys("Enter")
    screen = c.wait_text("qid=NEEDLE4242 from=<x@y>", "needle4242: line 57")
    assert "line 300 of the test log" not in screen
    # n wraps around to the same single hit.
    c.keys("n")
    c.wait_text("(search wrapped)")
    c.keys("/")
    c.type("no such text")
    c.keys("Enter")
    c.wait_text("not found: no such text")
    # Follow: a line appended shows at the end.
    c.keys("G", "f")
    c.wait_text("[follow]")
    with open(log, "a") as fp:
        fp.write("Dec  1 10:01:00 mx facteur/smtpd[99]: appended while following\n")
    c.wait_text("appended while following")
    # Rotated: a new file under the name is read from its start.
    os.rename(log, log + ".1")
    with open(log, "w") as fp:
        fp.write("Dec  1 10:02:00 mx facteur/smtpd[99]: first line of the new file\n")
    c.wait_text(f"-- {log}: new file --", "first line of the new file")


# ---------------------------------------------------------------- services


def test_services_stop_start(facteur, console):
    c = console(facteur).start("services")
    c.wait_re(rf"facteur master +running +pid {facteur.proc.pid}\b")
    # The control line names the master's path, cut at the screen's width.
    screen = c.wait_text("Control: direct: ")
    shown = screen.split("Control: direct: ", 1)[1].split("\n", 1)[0].rstrip()
    whole = f"{FACTEUR} -c {facteur.conf}"
    assert len(shown) >= 10 and (whole.startswith(shown) or shown.startswith(whole)), \
        (shown, whole)
    c.keys("t")
    c.wait_text("Stop facteur?")
    c.keys("n")
    c.wait_text("nothing stopped")
    assert facteur.proc.poll() is None
    c.keys("t")
    c.wait_text("Stop facteur?")
    c.keys("y")
    c.wait_re(r"facteur master +STOPPED")
    assert facteur.proc.wait(30) == 0
    c.keys("s")
    screen = c.wait_re(r"facteur started \(pid \d+\)")
    pid = int(re.search(r"facteur started \(pid (\d+)\)", screen).group(1))
    try:
        c.wait_re(rf"facteur master +running +pid {pid}\b")
        c.wait_re(r"smtpd +running +pid \d+")
        with RawSMTP(facteur.smtp_port) as s:
            assert s.reply()[0] == 220
    finally:
        # Not the fixture's process: stopped here.
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not alive(pid), 30)
        c.wait_re(r"facteur master +STOPPED")


def test_master_starting_is_not_shown_running(facteur, console):
    """A master that holds run/master.pid's lock but has not written its pid yet
    (it binds its sockets first) is not running, whatever pid the file still holds."""
    f = facteur
    old = f.proc.pid
    os.kill(old, signal.SIGTERM)
    assert f.proc.wait(30) == 0
    path = os.path.join(f.spool, "run", "master.pid")
    with open(path) as fp:
        assert int(fp.read().split()[0]) == old
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        c = console(f).start("services")
        c.wait_re(r"facteur master +STOPPED")
        screen = c.screen()
        assert f"pid {old}" not in screen, screen
        # Its pid written: running, under that pid.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        c.wait_re(rf"facteur master +running +pid {os.getpid()}\b")
    finally:
        os.close(fd)


# ---------------------------------------------------------------- TLS


def test_tls_self_signed(facteur, console):
    cert = os.path.join(facteur.dir, "tls", "facteur.crt")
    key = os.path.join(facteur.dir, "tls", "facteur.key")
    c = console(facteur).start("tls")
    c.wait_text("No certificate configured")
    # Cancelled at the question: nothing made.
    c.keys("g")
    c.wait_text("Self-signed certificate", "Host name")
    c.keys("Enter", "Enter")
    c.wait_text("Replace the certificate")
    c.keys("n")
    c.wait_text("nothing generated")
    assert not os.path.exists(cert)
    c.keys("g")
    c.wait_text("Host name")
    c.keys("Enter", "Enter")
    c.wait_text("Replace the certificate")
    c.keys("y")
    c.wait_text("Reload facteur now")
    c.keys("y")
    c.wait_text("Subject:    CN = mx.test", "(self-signed)", "matches the certificate",
                "facteur reloaded")
    with open(facteur.conf) as fp:
        conf = fp.read()
    assert f"smtpd_tls_cert_file = {cert}\n" in conf and f"smtpd_tls_key_file = {key}\n" in conf
    assert conf.startswith("# written by tests/integration\n")
    assert oct(os.stat(key).st_mode & 0o777) == "0o640"
    # smtpd presents it after the reload.
    def presented():
        with smtplib.SMTP("127.0.0.1", facteur.submission_port, timeout=60) as s:
            s.ehlo("client.test")
            s.starttls(context=tls_ctx())
            return s.sock.getpeercert(binary_form=True)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True,
                         check=True).stdout
    assert wait_for(lambda: presented() == der, 30)


# ---------------------------------------------------------------- the system's actions


RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> {record}
while IFS= read -r line; do echo "stdin: $line" >> {record}; done
echo "fake $(basename "$0") did: $*"
"""


@pytest.fixture
def actions(workdir):
    d = os.path.join(workdir, "actions")
    os.makedirs(d)
    record = os.path.join(workdir, "actions.record")
    for name in ("network.sh", "snmp.sh", "update.sh", "power.sh"):
        path = os.path.join(d, name)
        with open(path, "w") as fp:
            fp.write(RECORDER.format(record=record))
        os.chmod(path, 0o755)
    return d, record


def recorded(record):
    try:
        with open(record) as fp:
            return fp.read().splitlines()
    except FileNotFoundError:
        return []


def test_power_needs_a_yes(facteur, console, actions):
    d, record = actions
    c = console(facteur, actions=d).start("power")
    c.wait_text("Reboot", "Shut down")
    c.keys("r")
    c.wait_text("Reboot the appliance now?", "power.sh reboot")
    c.keys("n")
    c.wait_text("nothing done")
    c.keys("h")
    c.wait_text("Shut the appliance down now?")
    c.keys("Escape")
    c.wait_text("nothing done")
    assert recorded(record) == []
    c.keys("r")
    c.wait_text("Reboot the appliance now?")
    c.keys("y")
    c.wait_text("fake power.sh did: reboot", "-- done --")
    assert recorded(record) == ["power.sh reboot"]


def test_network_and_snmp_forms(facteur, console, actions):
    d, record = actions
    c = console(facteur, actions=d).start("network")
    c.keys("s")
    c.wait_text("fake network.sh did: show")
    c.keys("q")
    c.wait_text("Static address")
    c.keys("a")
    c.wait_text("Address/prefix", "Gateway", "DNS servers")
    c.keys("Down")
    c.type("192.0.2.10")
    c.keys("Enter", "Enter", "Enter")
    c.wait_text("Address/prefix: an address and its prefix length")
    c.keys("Enter")
    c.wait_text("Address/prefix")
    c.keys("Down")
    c.type("/24")
    c.keys("Down")
    c.type("192.0.2.1")
    c.keys("Down")
    c.type("192.0.2.53 2001:db8::53")
    c.keys("Enter")
    c.wait_text("Give this interface this address?", "network.sh static eth0 192.0.2.10/24")
    c.keys("y")
    c.wait_text("-- done --")
    assert recorded(record)[-1] == "network.sh static eth0 192.0.2.10/24 192.0.2.1 192.0.2.53 " \
                                   "2001:db8::53"
    c.keys("q", "q")
    c.wait_text("Main menu")
    # SNMPv3: the passphrases go on the script's standard input, never on its command line.
    c.keys("p")
    c.wait_text("SNMPv3 user")
    c.keys("u")
    c.type("monitor")
    c.keys("Down")
    c.type("auth-pass-123")
    c.keys("Down")
    c.type("priv-pass-456")
    c.keys("Enter")
    c.wait_text("Create this SNMPv3 user?", "snmp.sh v3user monitor")
    assert "auth-pass-123" not in c.screen()
    c.keys("y")
    c.wait_text("-- done --")
    assert recorded(record)[-3:] == ["snmp.sh v3user monitor", "stdin: auth-pass-123",
                                     "stdin: priv-pass-456"]


def test_missing_action_script(facteur, console, workdir):
    c = console(facteur, actions=os.path.join(workdir, "nowhere")).start("updates")
    c.keys("c")
    c.wait_text("update.sh is", "missing or not executable")


def test_tls_import(facteur, console, sink_cert, workdir):
    src_cert, src_key = sink_cert
    other_key = os.path.join(workdir, "other.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", other_key], check=True, capture_output=True)
    locked_key = os.path.join(workdir, "locked.key")
    subprocess.run(["openssl", "pkey", "-in", src_key, "-aes256", "-passout", "pass:secret",
                    "-out", locked_key], check=True, capture_output=True)
    cert = os.path.join(facteur.dir, "tls", "facteur.crt")
    c = console(facteur).start("tls")
    c.wait_text("No certificate configured")

    def attempt(key):
        c.keys("i")
        c.wait_text("Import a certificate", "Certificate [")
        c.keys("C-u")
        c.type(src_cert)
        c.keys("Down", "C-u")
        c.type(key)
        c.keys("Enter")

    # A key of another certificate, an encrypted key: refused, nothing written.
    attempt(other_key)
    c.wait_text("The key does not match the certificate.")
    c.keys("Enter", "Escape")
    c.wait_text("nothing imported")
    attempt(locked_key)
    c.wait_text("locked.key: no private key", "decrypted")
    c.keys("Enter", "Escape")
    c.wait_text("nothing imported")
    assert not os.path.exists(cert)
    # The right pair: what it is shown before the question.
    attempt(src_key)
    c.wait_text("CN = mail.dest.test", "mail.dest.test", "Replace")
    c.keys("y")
    c.wait_text("Reload facteur now")
    c.keys("n")
    c.wait_text("Certificate imported.", "Subject:    CN = mail.dest.test", "matches the certificate")

    def der(path):
        return subprocess.run(["openssl", "x509", "-in", path, "-outform", "DER"],
                              capture_output=True, check=True).stdout
    assert der(cert) == der(src_cert)
    with open(facteur.conf) as fp:
        assert f"smtpd_tls_cert_file = {cert}\n" in fp.read()
    assert facteur.ctl("config", "check").returncode == 0


# ---------------------------------------------------------------- first-boot wizard and login


WIZARD_PASSWORD = "Wizard-Pw-12345"


@pytest.fixture
def wizard_actions(workdir):
    """The recording scripts of the wizard (system.sh too) and a recording service command."""
    d = os.path.join(workdir, "wizard-actions")
    os.makedirs(d)
    record = os.path.join(workdir, "wizard.record")
    for name in ("system.sh", "network.sh", "snmp.sh", "service.sh"):
        path = os.path.join(d, name)
        with open(path, "w") as fp:
            fp.write(RECORDER.format(record=record))
        os.chmod(path, 0o755)
    marker = os.path.join(workdir, "state", "console-configured")
    extra = f"-B -F '{marker}' -S '{os.path.join(d, 'service.sh')}'"
    return d, record, marker, extra


def fail_script(path, verb, record):
    """The recorder, but verb fails."""
    with open(path, "w") as fp:
        fp.write(f'#!/bin/sh\nif [ "$1" = {verb} ]; then\n'
                 f'  echo "$(basename "$0") $*: the test makes this fail" >&2\n  exit 1\nfi\n' +
                 RECORDER.format(record=record).split("\n", 1)[1])
    os.chmod(path, 0o755)


def form_through(c, n):
    """Enter n times: through a form's fields, the last one submits."""
    c.keys(*["Enter"] * n)


def begin_setup(c):
    """Boot mode: the welcome screen waits for Enter on the console where the admin is."""
    screen = c.wait(lambda s: "Press Enter to start the first-boot setup" in s or "Setup 1/9" in s,
                    "the welcome screen or the first step")
    if "Setup 1/9" not in screen:
        assert "Welcome to the facteur appliance." in screen, screen
        c.keys("Enter")


def quick_wizard(c, domains="quick.test"):
    """Through the wizard with its defaults (a domain and the password typed) up to the summary."""
    begin_setup(c)
    c.wait_text("Setup 1/9: keyboard layout")
    c.keys("Enter")
    c.wait_text("Setup 2/9: host name")
    c.keys("C-u")
    c.type("mx.quick.test")
    c.keys("Enter")
    c.wait_text("Setup 3/9: network")
    form_through(c, 5)
    c.wait_text("Setup 4/9: mail domains")
    c.keys("C-u")
    c.type(domains)
    c.keys("Enter")
    c.wait_text("Setup 5/9: admin password")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    c.wait_text("Setup 6/9: TLS certificate")
    form_through(c, 3)
    c.wait_text("Setup 7/9: SNMP")
    form_through(c, 6)
    c.wait_text("Setup 8/9: time")
    c.keys("C-u")
    c.type("Etc/UTC")
    form_through(c, 2)
    c.wait_text("Setup 9/9: summary")


def cert_subject(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-subject"],
                          capture_output=True, text=True, check=True).stdout


def test_first_boot_wizard_vt220(facteur_dir, console, wizard_actions):
    """Every step on a serial-like terminal (vt220, no size), refusals, Back, apply, login."""
    f = facteur_dir
    d, record, marker, extra = wizard_actions
    c = console(f, actions=d, term="vt220", no_size=True).start(extra=extra)

    # The welcome screen first, then 1: the layout from a list.
    begin_setup(c)
    c.wait_text("Setup 1/9: keyboard layout", "ch-fr", "Swiss French", "nl")
    c.keys("Down", "Down", "Enter")
    # 2: a bad host name refused with its reason, then a good one.
    c.wait_text("Setup 2/9: host name")
    c.keys("C-u")
    c.type("bad_host.example")
    c.keys("Enter")
    c.wait_text("Host name: a host name: letters, digits and '-'")
    c.keys("Enter")
    c.wait_text("Setup 2/9: host name", "bad_host.example")
    c.keys("C-u")
    c.type("mx1.first.test")
    c.keys("Enter")
    # 3: static, the address first without its prefix (refused).
    c.wait_text("Setup 3/9: network", "Configuration", "< dhcp >")
    c.keys("Right")
    c.wait_text("< static >")
    c.keys("Enter", "C-u")
    c.type("eth7")
    c.keys("Enter")
    c.type("192.0.2.10")
    c.keys("Enter")
    c.type("192.0.2.1")
    c.keys("Enter")
    c.type("192.0.2.53 192.0.2.54")
    c.keys("Enter")
    c.wait_text("Address/prefix: an address and its prefix length")
    c.keys("Enter")
    c.wait_text("Setup 3/9: network")
    c.keys("Down", "Down")
    c.type("/24")
    form_through(c, 3)
    # 4: the host name's domain by default.
    screen = c.wait_text("Setup 4/9: mail domains", "[first.test")
    # Back twice: the values are kept; a new host name changes the default domain.
    c.keys("Escape")
    screen = c.wait_text("Setup 3/9: network", "< static >", "192.0.2.10/24", "192.0.2.53 192.0.2.54")
    c.keys("Escape")
    c.wait_text("Setup 2/9: host name", "mx1.first.test")
    c.keys("C-u")
    c.type("mx.example.test")
    c.keys("Enter")
    c.wait_text("Setup 3/9: network", "192.0.2.10/24")
    form_through(c, 5)
    c.wait_text("Setup 4/9: mail domains", "[example.test")
    c.keys("C-u")
    c.type("example.test, second.test")
    c.keys("Enter")
    # 5: too short, then two that differ, then the same twice; never shown.
    c.wait_text("Setup 5/9: admin password")
    c.type("short-pw")
    c.keys("Enter")
    c.type("short-pw")
    c.keys("Enter")
    c.wait_text("Password: at least 10 characters.")
    c.keys("Enter")
    c.wait_text("Setup 5/9: admin password")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    c.type("Wizard-Pw-99999")
    screen = c.screen()
    assert WIZARD_PASSWORD not in screen and "***************" in screen, screen
    c.keys("Enter")
    c.wait_text("The two passwords differ")
    c.keys("Enter")
    c.wait_text("Setup 5/9: admin password")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    # 6: self-signed (the default).
    c.wait_text("Setup 6/9: TLS certificate", "< self-signed >")
    form_through(c, 3)
    # 7: v2c with a bad network refused, then an SNMPv3 user.
    c.wait_text("Setup 7/9: SNMP", "< off >")
    c.keys("Right")
    c.wait_text("< v2c >")
    c.keys("Enter")
    c.type("public-7")
    c.keys("Enter", "C-u")
    c.type("192.0.2.0/33")
    form_through(c, 4)
    c.wait_text("Allowed network: an address and its prefix length")
    c.keys("Enter")
    c.wait_text("Setup 7/9: SNMP", "192.0.2.0/33")
    c.keys("Right")
    c.wait_text("< v3 >")
    c.keys("Down", "Down", "Down", "C-u")
    c.type("monitor")
    c.keys("Enter")
    c.type("auth-pass-123")
    c.keys("Enter")
    c.type("priv-pass-456")
    c.keys("Enter")
    # 8: a zone of the wrong shape, then a good one and two NTP servers.
    c.wait_text("Setup 8/9: time")
    c.keys("C-u")
    c.type("Paris")
    c.keys("Enter", "Enter")
    c.wait_text("Time zone: a time zone: Area/City")
    c.keys("Enter")
    c.wait_text("Setup 8/9: time")
    c.keys("C-u")
    c.type("Europe/Paris")
    c.keys("Enter")
    c.type("ntp1.example.test 192.0.2.123")
    c.keys("Enter")
    # 9: the summary, nothing done yet.
    screen = c.wait_text("Setup 9/9: summary", "Nothing has been changed yet.")
    for text in ("Keyboard layout   fr", "Host name         mx.example.test",
                 "eth7: 192.0.2.10/24, gateway 192.0.2.1", "DNS servers       192.0.2.53 192.0.2.54",
                 "Mail domains      example.test, second.test", "v3 user monitor",
                 "Time zone         Europe/Paris", "ntp1.example.test 192.0.2.123",
                 "self-signed for mx.example.test"):
        assert text in screen, (text, screen)
    for secret in (WIZARD_PASSWORD, "auth-pass-123", "priv-pass-456"):
        assert secret not in screen
    assert recorded(record) == [] and not os.path.exists(marker)
    c.keys("Enter")
    c.wait_text("-- setup done --")
    c.keys("q")

    # Where it all landed.
    lines = recorded(record)
    assert lines == [
        "system.sh keyboard fr",
        "network.sh hostname mx.example.test",
        "network.sh static eth7 192.0.2.10/24 192.0.2.1 192.0.2.53 192.0.2.54",
        "snmp.sh v3user monitor", "stdin: auth-pass-123", "stdin: priv-pass-456",
        "system.sh timezone Europe/Paris",
        "system.sh ntp ntp1.example.test 192.0.2.123",
        "system.sh admin-password", f"stdin: {WIZARD_PASSWORD}",
        "service.sh restart",
    ], lines
    for line in lines:
        if not line.startswith("stdin: "):
            for secret in (WIZARD_PASSWORD, "auth-pass-123", "priv-pass-456"):
                assert secret not in line, line
    domains = f.ctl("domain", "list").stdout
    assert "example.test" in domains and "second.test" in domains, domains
    assert re.search(r"^admin global$", f.ctl("admin", "list").stdout, re.M)
    with open(f.conf) as fp:
        conf = fp.read()
    assert "myhostname = mx.example.test\n" in conf
    cert = os.path.join(f.dir, "tls", "facteur.crt")
    assert "CN = mx.example.test" in cert_subject(cert)
    assert f"smtpd_tls_cert_file = {cert}\n" in conf
    assert os.path.exists(os.path.join(f.dir, "tls", "facteur.key"))
    assert f.ctl("config", "check").returncode == 0
    with open(marker) as fp:
        assert "hostname=mx.example.test" in fp.read()

    # The one who set it up goes on to the dashboard without a login; q, q: logged out.
    c.wait_text("Dashboard", "r: refresh now")
    c.keys("q")
    c.wait_text("Main menu (q: log out)")
    c.keys("q")
    # The login: a wrong password refused, the right one opens the menu; q logs out.
    screen = c.wait_text("Console login", "The password of the administrator")
    # A serial line's terminal: boxes in ASCII, no line-drawing letters.
    assert "+- Console login -" in screen and "lq" not in screen, screen
    c.type("not-the-password")
    c.keys("Enter")
    c.wait_text("Wrong password.")
    c.keys("Enter")
    c.wait_text("Console login")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    c.wait_text("Main menu (q: log out)", "[D]  Dashboard")
    c.keys("q")
    c.wait_text("Console login")
    # Three failures in a row: a pause.
    for _ in range(2):
        c.type("wrong-password-1")
        c.keys("Enter")
        c.wait_text("Wrong password.")
        c.keys("Enter")
        c.wait_text("Console login")
    c.type("wrong-password-1")
    c.keys("Enter")
    c.wait_text("Wrong password, 3 times: wait 5 seconds.")
    c.wait(lambda s: "wait 5 seconds" not in s and "Console login" in s, "the login after the pause")
    # Still running, on the terminal, after all of it.
    assert c.pid() is not None


def test_first_boot_failed_step_and_idle_lock(facteur_dir, console, wizard_actions):
    """A failing action stops the setup, says so, sends back to its step; no marker until it passes."""
    f = facteur_dir
    d, record, marker, extra = wizard_actions
    fail_script(os.path.join(d, "network.sh"), "dhcp", record)
    c = console(f, actions=d).start(extra=extra + " -T 3")
    quick_wizard(c)
    c.keys("Enter")
    c.wait_text("-- FAILED (exit status 1): network --", "network.sh dhcp",
                "the test makes this fail")
    assert not os.path.exists(marker)
    c.keys("q")
    c.wait_text('The step "network" failed', "not marked done")
    c.keys("Enter")
    c.wait_text("Setup 3/9: network")
    lines = recorded(record)
    assert lines == ["system.sh keyboard us", "network.sh hostname mx.quick.test"], lines
    assert not os.path.exists(marker)
    assert "quick.test" not in (f.ctl("domain", "list", check=False).stdout or "")
    # Fixed (the script works now): on to the summary again, and applied.
    with open(os.path.join(d, "network.sh"), "w") as fp:
        fp.write(RECORDER.format(record=record))
    form_through(c, 5)
    for step in ("4/9", "5/9", "6/9", "7/9", "8/9"):
        c.wait_text(f"Setup {step}")
        c.keys("Enter") if step != "6/9" else form_through(c, 3)
        if step == "5/9":
            # The password fields still hold it: one Enter per field.
            c.keys("Enter")
        if step == "7/9":
            form_through(c, 5)
        if step == "8/9":
            c.keys("Enter")
    c.wait_text("Setup 9/9: summary")
    c.keys("Enter")
    c.wait_text("-- setup done --")
    c.keys("q")
    assert os.path.exists(marker)
    assert "quick.test" in f.ctl("domain", "list").stdout
    # On to the dashboard (no login right after the setup), then left alone: locked again
    # after 3 seconds, the screen back after the password.
    c.wait_text("Dashboard", "r: refresh now")
    c.keys("q")
    c.wait_text("Main menu (q: log out)")
    c.keys("a")
    c.wait_text("quick.test", "local")
    c.wait_text("Console login")
    c.type(WIZARD_PASSWORD)
    c.keys("Enter")
    c.wait(lambda s: "Console login" not in s and "quick.test" in s, "the domains screen again")


def test_first_boot_two_consoles(facteur_dir, console, wizard_actions):
    """The second console waits while the first runs the wizard, then goes on to the login."""
    f = facteur_dir
    d, record, marker, extra = wizard_actions
    first = console(f, actions=d, name="tty1").start(extra=extra)
    # Both consoles wait for a key: the setup runs where Enter is pressed.
    first.wait_text("Press Enter to start the first-boot setup on this console.")
    second = console(f, actions=d, name="ttyS0", term="vt220", no_size=True).start(extra=extra)
    second.wait_text("Press Enter to start the first-boot setup on this console.")
    begin_setup(first)
    first.wait_text("Setup 1/9: keyboard layout")
    second.wait_text("The first-boot wizard is running on another console.")
    quick_wizard(first)
    assert "Setup" not in second.screen()
    first.keys("Enter")
    first.wait_text("-- setup done --")
    first.keys("q")
    first.wait_text("Dashboard", "r: refresh now")
    second.wait_text("Console login")
    assert os.path.exists(marker)
    # Configured: a new console goes straight to the login.
    third = console(f, actions=d, name="tty2").start(extra=extra)
    third.wait_text("Console login")
    third.type(WIZARD_PASSWORD)
    third.keys("Enter")
    third.wait_text("Main menu (q: log out)")


def test_system_script_in_a_root(workdir):
    """actions/system.sh itself, on a temporary root: the files it writes."""
    root = os.path.join(workdir, "root")
    zone = os.path.join(root, "usr", "share", "zoneinfo", "Europe")
    os.makedirs(zone)
    with open(os.path.join(zone, "Paris"), "w") as fp:
        fp.write("TZif fake\n")
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "shadow"), "w") as fp:
        fp.write("root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    script = os.path.join(os.environ.get("FACTEUR_SRCDIR") or os.getcwd(), "appliance", "console",
                          "actions", "system.sh")
    env = dict(os.environ, FACTEUR_SYSTEM_ROOT=root)

    def run(*args, stdin=""):
        return subprocess.run(["sh", script] + list(args), input=stdin, env=env,
                              capture_output=True, text=True, timeout=60)

    def read(rel):
        with open(os.path.join(root, rel)) as fp:
            return fp.read()

    r = run("keyboard", "ch-fr")
    assert r.returncode == 0, r.stderr
    kb = read("etc/default/keyboard")
    assert 'XKBLAYOUT="ch"\n' in kb and 'XKBVARIANT="fr"\n' in kb
    r = run("keyboard", "klingon")
    assert r.returncode == 1 and "unknown keyboard layout" in r.stderr
    assert 'XKBLAYOUT="ch"' in read("etc/default/keyboard")

    r = run("timezone", "Europe/Paris")
    assert r.returncode == 0, r.stderr
    assert read("etc/timezone") == "Europe/Paris\n"
    assert os.readlink(os.path.join(root, "etc", "localtime")) == "/usr/share/zoneinfo/Europe/Paris"
    for bad in ("Europe/Nowhere", "../../etc/passwd", "/etc/shadow"):
        r = run("timezone", bad)
        assert r.returncode == 1 and "time zone" in r.stderr, (bad, r.stderr)
    assert read("etc/timezone") == "Europe/Paris\n"

    r = run("ntp", "ntp1.example.test", "192.0.2.123")
    assert r.returncode == 0, r.stderr
    conf = "etc/systemd/timesyncd.conf.d/facteur.conf"
    assert "[Time]\nNTP=ntp1.example.test 192.0.2.123\n" in read(conf)
    assert run("ntp", "bad;name").returncode == 1
    r = run("ntp")
    assert r.returncode == 0 and not os.path.exists(os.path.join(root, conf))

    r = run("admin-password", stdin="Root-Pw-1234567\n")
    assert r.returncode == 0, r.stderr
    shadow = read("etc/shadow").splitlines()
    assert shadow[1] == "daemon:*:19000:0:99999:7:::"
    fields = shadow[0].split(":")
    assert fields[0] == "root" and fields[1].startswith("$6$") and fields[2:] == \
        ["19000", "0", "99999", "7", "", "", ""]
    salt = fields[1].split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                           input="Root-Pw-1234567\n", capture_output=True, text=True).stdout.strip()
    assert again == fields[1]
    r = run("admin-password", stdin="short\n")
    assert r.returncode == 1 and "10 characters" in r.stderr
    assert "Root-Pw-1234567" not in r.stdout + r.stderr


# ---------------------------------------------------------------- backup and restore


BACKUP_ROW = r"(facteur-\d{8}-\d{6}\.tar\.gz) +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +[\d.]+ (B|KiB|MiB)"


def domains(f):
    return sorted(line.split()[0] for line in f.ctl("domain", "list").stdout.splitlines()
                  if line.strip())


def started_pid(screen):
    m = re.search(r"facteur started \(pid (\d+)\)", screen)
    assert m, screen
    return int(m.group(1))


def stop_console_master(f):
    """The master the console started (its pid file's): not the fixture's, stopped here."""
    try:
        with open(os.path.join(f.spool, "run", "master.pid")) as fp:
            pid = int(fp.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if pid != f.proc.pid and alive(pid):
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: not alive(pid), 30)


def test_backup_and_restore(facteur, console, workdir):
    f = facteur
    backups = os.path.join(workdir, "backups")
    f.ctl("domain", "add", "kept.test")
    c = console(f).start(extra=f"-b '{backups}'")
    c.wait_text("[B]  Backup and restore")
    c.keys("b")
    c.wait_text(f"{backups}: 0 backups", "No backup yet: b makes one.",
                "Off the appliance: x exports to a removable disk, i imports from one.")
    # Made when missing, root's alone.
    st = os.stat(backups)
    assert st.st_uid == 0 and oct(st.st_mode & 0o777) == "0o700"
    c.keys("F1")
    c.wait_text("x: export the selected backup to a removable disk", "once the pager says done.")
    c.keys("q")

    # A backup now: facteurctl's output in the pager, the file listed, 0600.
    c.keys("b")
    c.wait_re(r"backup: \S+/facteur-\d{8}-\d{6}\.tar\.gz")
    c.wait_text("-- done --")
    c.keys("q")
    screen = c.wait_re(BACKUP_ROW)
    name = re.search(BACKUP_ROW, screen).group(1)
    assert f"{backups}: 1 backup," in screen and f"backup made: {name}" in screen, screen
    path = os.path.join(backups, name)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert os.listdir(backups) == [name]

    # A change after the backup.
    f.ctl("domain", "add", "lost.test")
    assert domains(f) == ["kept.test", "lost.test"]

    # No at the question changes nothing.
    c.keys("r")
    screen = c.wait_text(f"Restore the backup {name}?", "REPLACED", "facteur.conf.restored",
                         "started again after")
    c.keys("n")
    c.wait_text("nothing restored")
    assert domains(f) == ["kept.test", "lost.test"]
    assert f.proc.poll() is None

    # Yes: facteur stopped, the backup back, facteur started again.
    c.keys("r")
    c.wait_text(f"Restore the backup {name}?")
    c.keys("y")
    try:
        screen = c.wait_text(f"Restore {name}", "-- done: restored, facteur running --")
        pid = started_pid(screen)
        assert "== stopping facteur" in screen and "facteur stopped" in screen, screen
        assert "restore: " in screen and "FAILED" not in screen, screen
        assert f.proc.wait(30) == 0
        assert alive(pid)
        assert domains(f) == ["kept.test"]
        assert os.path.exists(f.conf + ".restored")
        with RawSMTP(f.smtp_port) as s:
            assert s.reply()[0] == 220
        c.keys("q")
        c.wait_text(f"restore of {name}: done")

        # Delete asks; No keeps the file, yes removes it.
        c.keys("d")
        c.wait_text(f"Delete the backup {name}?")
        c.keys("n")
        c.wait_text("nothing deleted")
        assert os.path.exists(path)
        c.keys("d")
        c.wait_text(f"Delete the backup {name}?")
        c.keys("y")
        c.wait_text(f"deleted {name}", "No backup yet")
        assert not os.path.exists(path)
    finally:
        stop_console_master(f)


def test_restore_failed_starts_facteur_again(facteur, console, workdir):
    f = facteur
    f.ctl("domain", "add", "still.test")
    backups = os.path.join(workdir, "backups")
    os.makedirs(backups, mode=0o700)
    # The newest first: the corrupt one is selected.
    old = os.path.join(backups, "facteur-20010101-000000.tar.gz")
    with open(old, "wb") as fp:
        fp.write(b"older")
    os.utime(old, (978307200, 978307200))
    corrupt = os.path.join(backups, "facteur-corrupt.tar.gz")
    with open(corrupt, "wb") as fp:
        fp.write(b"\x1f\x8b\x08\x00 this is no gzip stream")
    with open(os.path.join(backups, "notes.txt"), "w") as fp:
        fp.write("not a backup\n")
    c = console(f).start("backup", extra=f"-b '{backups}'")
    screen = c.wait_text(f"{backups}: 2 backups", "facteur-corrupt.tar.gz",
                         "facteur-20010101-000000.tar.gz")
    assert "notes.txt" not in screen
    assert screen.index("facteur-corrupt.tar.gz") < screen.index("facteur-20010101-000000"), screen
    c.keys("r")
    c.wait_text("Restore the backup facteur-corrupt.tar.gz?")
    c.keys("y")
    try:
        screen = c.wait_text("== facteurctl restore facteur-corrupt.tar.gz --force",
                             "facteurctl: restore: ",
                             "FAILED: facteurctl restore exited with status 1",
                             "== starting facteur again (the restore failed)",
                             "-- FAILED: not restored; facteur started again --")
        pid = started_pid(screen)
        assert f.proc.wait(30) == 0
        assert alive(pid)
        assert domains(f) == ["still.test"]
        with RawSMTP(f.smtp_port) as s:
            assert s.reply()[0] == 220
        c.keys("q")
        c.wait_text("restore of facteur-corrupt.tar.gz: FAILED")
        # Left at once: the console still goes to the end, facteur started again.
        c.keys("r")
        c.wait_text("Restore the backup facteur-corrupt.tar.gz?")
        c.keys("y", "q")
        c.wait_text("== starting facteur again (the restore failed)",
                    "-- FAILED: not restored; facteur started again --")
        assert not alive(pid)
        c.keys("q")
        c.wait_text(f"{backups}: 2 backups", "restore of facteur-corrupt.tar.gz: FAILED")
        with open(os.path.join(f.spool, "run", "master.pid")) as fp:
            assert alive(int(fp.read().split()[0]))
        with RawSMTP(f.smtp_port) as s:
            assert s.reply()[0] == 220
    finally:
        stop_console_master(f)


# ---------------------------------------------------------------- backups on a removable disk


BACKUP_SH = os.path.join(SRCDIR, "appliance", "console", "actions", "backup.sh")
ACTIONS_DIR = os.path.dirname(BACKUP_SH)


def mounted_sources():
    with open("/proc/mounts") as fp:
        return [line.split()[0] for line in fp]


def facteur_backup_mounts():
    with open("/proc/mounts") as fp:
        return [line for line in fp if "/run/facteur-backup." in line]


@pytest.fixture
def loop_disk(workdir):
    """A factory: a loop device over an image file holding a fresh ext4 (a stand-in for a
    USB stick); unmounted and detached afterwards."""
    if shutil.which("losetup") is None or shutil.which("mkfs.ext4") is None:
        pytest.skip("losetup or mkfs.ext4 is not installed")
    made = []

    def make(mib, label):
        image = os.path.join(workdir, f"disk-{len(made)}.img")
        with open(image, "wb") as fp:
            fp.truncate(mib * 1024 * 1024)
        r = subprocess.run(["mkfs.ext4", "-q", "-L", label, image], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            pytest.skip(f"no loop device here: losetup: {r.stderr.strip()}")
        dev = r.stdout.strip()
        made.append(dev)
        return dev

    yield make
    for dev in made:
        while dev in mounted_sources():
            subprocess.run(["umount", dev], capture_output=True, timeout=60)
        subprocess.run(["losetup", "-d", dev], capture_output=True, timeout=60)


def disk_files(dev, rel):
    """{name: bytes} of the directory rel on dev's file system (mounted read-only here)."""
    mnt = tempfile.mkdtemp(prefix="facteur-test-mnt.")
    try:
        subprocess.run(["mount", "-o", "ro", dev, mnt], check=True, timeout=60)
        try:
            d = os.path.join(mnt, rel)
            out = {}
            for name in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), "rb") as fp:
                    out[name] = fp.read()
            return out
        finally:
            subprocess.run(["umount", mnt], check=True, timeout=60)
    finally:
        os.rmdir(mnt)


def backup_sh(*args, allow_loop=True):
    env = dict(os.environ)
    env.pop("FACTEUR_BACKUP_ALLOW_LOOP", None)
    if allow_loop:
        env["FACTEUR_BACKUP_ALLOW_LOOP"] = "1"
    return subprocess.run(["sh", BACKUP_SH] + list(args), env=env, capture_output=True,
                          text=True, timeout=120)


def choose_disk(c, dev):
    """Select dev in the console's disk list and choose it."""
    screen = c.wait_text(dev)
    rows = re.findall(r"^\s*(/dev/\S+)\s", screen, re.M)
    assert dev in rows, screen
    c.keys(*(["Down"] * rows.index(dev)), "Enter")


def root_disks():
    src = subprocess.run(["findmnt", "-nvo", "SOURCE", "/"], capture_output=True, text=True,
                         timeout=30).stdout.strip()
    out = subprocess.run(["lsblk", "-nsrpo", "NAME,TYPE", src], capture_output=True, text=True,
                         timeout=30).stdout
    return [line.split()[0] for line in out.splitlines() if line.split()[1:] == ["disk"]]


def test_backup_sh_disks_export_import(loop_disk, workdir):
    """actions/backup.sh itself on a loop device: what disks lists, the copies both ways."""
    dev = loop_disk(16, "STICK")
    lines = backup_sh("disks").stdout.splitlines()
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert rows[dev][2:] == ["ext4", "STICK"] and rows[dev][1] == "16M", lines
    roots = root_disks()
    assert roots and not any(r in rows for r in roots), (roots, lines)
    # Loop devices only for tests.
    assert dev not in backup_sh("disks", allow_loop=False).stdout
    # Bad arguments: a clear refusal.
    for args, why in ((["export", "sda1", "/etc/hostname"], "bad device"),
                      (["export", roots[0], "/etc/hostname"], "is not a removable disk"),
                      (["export", dev, os.path.join(workdir, "none.tar.gz")], "not a readable"),
                      (["import", dev], "usage"), (["wipe"], "unknown action")):
        r = backup_sh(*args)
        assert r.returncode == 1 and why in r.stderr, (args, r.stderr)
    # Nothing on the disk yet.
    incoming = os.path.join(workdir, "incoming")
    os.mkdir(incoming, 0o700)
    r = backup_sh("import", dev, incoming)
    assert r.returncode == 1 and "no backup (*.tar.gz) on " + dev in r.stderr, r.stderr
    assert os.listdir(incoming) == []
    # Export, twice: the second finds the same bytes there.
    src = os.path.join(workdir, "facteur-20240102-030405.tar.gz")
    with open(src, "wb") as fp:
        fp.write(os.urandom(50000))
    r = backup_sh("export", dev, src)
    assert r.returncode == 0 and "as facteur-backups/facteur-20240102-030405.tar.gz" in r.stdout, \
        r.stdout + r.stderr
    r = backup_sh("export", dev, src)
    assert r.returncode == 0 and "already on" in r.stdout, r.stdout
    with open(src, "rb") as fp:
        data = fp.read()
    assert disk_files(dev, "facteur-backups") == {"facteur-20240102-030405.tar.gz": data}
    # A mounted disk is not offered.
    mnt = tempfile.mkdtemp(prefix="facteur-test-mnt.")
    subprocess.run(["mount", dev, mnt], check=True, timeout=60)
    try:
        assert dev not in backup_sh("disks").stdout
        assert backup_sh("import", dev, incoming).returncode == 1
    finally:
        subprocess.run(["umount", mnt], check=True, timeout=60)
        os.rmdir(mnt)
    # Import: 0600, same bytes; a different file of the same name is kept beside.
    r = backup_sh("import", dev, incoming)
    assert r.returncode == 0, r.stderr
    got = os.path.join(incoming, "facteur-20240102-030405.tar.gz")
    assert oct(os.stat(got).st_mode & 0o777) == "0o600"
    with open(got, "rb") as fp:
        assert fp.read() == data
    with open(got, "wb") as fp:
        fp.write(b"another appliance's")
    r = backup_sh("import", dev, incoming)
    assert r.returncode == 0 and "facteur-20240102-030405-1.tar.gz" in r.stdout, r.stdout
    assert sorted(os.listdir(incoming)) == ["facteur-20240102-030405-1.tar.gz",
                                            "facteur-20240102-030405.tar.gz"]
    with open(got, "rb") as fp:
        assert fp.read() == b"another appliance's"
    assert dev not in mounted_sources() and not facteur_backup_mounts()


def test_backup_export_import_restore(facteur, console, workdir, loop_disk, monkeypatch):
    """A backup carried on a removable disk: exported, deleted here, imported, restored."""
    f = facteur
    dev = loop_disk(32, "FACTEURUSB")
    monkeypatch.setenv("FACTEUR_BACKUP_ALLOW_LOOP", "1")
    backups = os.path.join(workdir, "backups")
    f.ctl("domain", "add", "kept.test")
    c = console(f, actions=ACTIONS_DIR).start("backup", extra=f"-b '{backups}'")
    c.wait_text(f"{backups}: 0 backups", "x: export", "i: import")
    c.keys("b")
    c.wait_text("-- done --")
    c.keys("q")
    screen = c.wait_re(BACKUP_ROW)
    name = re.search(BACKUP_ROW, screen).group(1)
    path = os.path.join(backups, name)
    with open(path, "rb") as fp:
        data = fp.read()

    # x: the disk chosen, No at the question copies nothing.
    c.keys("x")
    c.wait_text(f"Export {name} to the disk:", "FACTEURUSB")
    choose_disk(c, dev)
    c.wait_text(f"Copy to the disk {dev}?", f"Backup: {name}")
    c.keys("n")
    c.wait_text("nothing exported")
    assert disk_files(dev, "facteur-backups") == {}
    c.keys("x")
    choose_disk(c, dev)
    c.wait_text(f"Copy to the disk {dev}?", f"Backup: {name}")
    c.keys("y")
    c.wait_text(f"copied {name}", f"{dev} unmounted: it can be unplugged", "-- done --")
    c.keys("q")
    c.wait_text(f"export of {name} to {dev}: done")
    assert dev not in mounted_sources() and not facteur_backup_mounts()
    assert disk_files(dev, "facteur-backups") == {name: data}

    # Gone here, and a change made after the backup.
    c.keys("d")
    c.wait_text(f"Delete the backup {name}?")
    c.keys("y")
    c.wait_text(f"deleted {name}", "No backup yet")
    f.ctl("domain", "add", "lost.test")

    # i: back from the disk, listed again.
    c.keys("i")
    c.wait_text("Import the backups (*.tar.gz) of the disk:")
    choose_disk(c, dev)
    c.wait_text(f"copied facteur-backups/{name} to", "1 backup(s) copied, 0 already there",
                "-- done --")
    c.keys("q")
    screen = c.wait_text(f"import from {dev}: done", f"{backups}: 1 backup,", name)
    assert dev not in mounted_sources() and not facteur_backup_mounts()
    with open(path, "rb") as fp:
        assert fp.read() == data
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"

    # r: the imported backup restored.
    c.keys("r")
    c.wait_text(f"Restore the backup {name}?")
    c.keys("y")
    try:
        screen = c.wait_text(f"Restore {name}", "-- done: restored, facteur running --")
        pid = started_pid(screen)
        assert "FAILED" not in screen, screen
        assert f.proc.wait(30) == 0
        assert alive(pid)
        assert domains(f) == ["kept.test"]
        c.keys("q")
        c.wait_text(f"restore of {name}: done")
    finally:
        stop_console_master(f)


def test_backup_export_no_disk(facteur, console, workdir, monkeypatch):
    monkeypatch.delenv("FACTEUR_BACKUP_ALLOW_LOOP", raising=False)
    if backup_sh("disks", allow_loop=False).stdout.strip():
        pytest.skip("this machine has a spare disk with a file system")
    backups = os.path.join(workdir, "backups")
    os.makedirs(backups, mode=0o700)
    with open(os.path.join(backups, "facteur-20240101-000000.tar.gz"), "wb") as fp:
        fp.write(b"a backup")
    c = console(facteur, actions=ACTIONS_DIR).start("backup", extra=f"-b '{backups}'")
    c.wait_text("facteur-20240101-000000.tar.gz")
    c.keys("x")
    c.wait_text("Export facteur-20240101-000000.tar.gz to the disk:",
                "no removable disk with a file system found: plug one in and press r")
    c.keys("Enter")
    c.wait_text("no disk to choose: plug one in and press r")
    c.keys("r")
    c.wait_text("0 disks found")
    c.keys("F1")
    c.wait_text("FAT32 or exFAT for a USB stick")
    c.keys("q")
    c.wait_text("no removable disk with a file system found")
    c.keys("q")
    c.wait_text("nothing exported", f"{backups}: 1 backup,")
    c.keys("i")
    c.wait_text("Import the backups (*.tar.gz) of the disk:",
                "no removable disk with a file system found: plug one in and press r")
    c.keys("Escape")
    c.wait_text("nothing imported")


def test_backup_export_disk_full(facteur, console, workdir, loop_disk, monkeypatch):
    """An export that fails half-way (the disk is full): FAILED, nothing mounted, nothing left."""
    dev = loop_disk(1, "TINY")
    monkeypatch.setenv("FACTEUR_BACKUP_ALLOW_LOOP", "1")
    backups = os.path.join(workdir, "backups")
    os.makedirs(backups, mode=0o700)
    big = "facteur-20240101-000000.tar.gz"
    with open(os.path.join(backups, big), "wb") as fp:
        fp.write(os.urandom(2 * 1024 * 1024))
    c = console(facteur, actions=ACTIONS_DIR).start("backup", extra=f"-b '{backups}'")
    c.wait_text(big)
    c.keys("x")
    choose_disk(c, dev)
    c.wait_text(f"Copy to the disk {dev}?", f"Backup: {big}")
    c.keys("y")
    c.wait_text(f"backup.sh: cannot copy {big}: 2048 KiB, ", " KiB free",
                f"FAILED; nothing half-copied left, {dev} unmounted", "-- FAILED (exit 1) --")
    c.keys("q")
    c.wait_text(f"export of {big} to {dev}: FAILED")
    assert dev not in mounted_sources() and not facteur_backup_mounts()
    assert not [n for n in os.listdir("/run") if n.startswith("facteur-backup.")]
    assert disk_files(dev, "facteur-backups") == {}
