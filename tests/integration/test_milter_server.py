# SPDX-License-Identifier: MIT
"""facteur-milter behind a real, private Postfix: Postfix's smtpd calls it
through smtpd_milters for every message and relays what it accepts to a
Python sink.  Rules from a small directory, ClamAV with a database built by
sigtool (tests/av/make-db.sh): viruses and spam over the reject score are
refused with facteur's reply, spam is tagged, quarantine puts the message
in Postfix's hold queue, clean mail gets X-Spam-Status: No.  The milter
survives clients that drop a message half-way (Postfix's abort, and a raw
milter client closing mid-body) and reloads its rules on SIGHUP without
closing connections.

A private Postfix needs root (its master and daemons switch to the postfix
user); without root or Postfix the module is skipped."""
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

from facteur_it import (BUILDDIR, SANITIZER_MARKERS, PySink, RawSMTP, free_port, make_workdir,
                        stop_process, wait_for)

SRCDIR = os.environ.get("FACTEUR_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
MILTER = os.path.join(BUILDDIR, "filter", "facteur-milter")

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

RULES = """
header   T_SUBJ_MONEY   Subject =~ /\\bmoney\\b/i
score    T_SUBJ_MONEY   2.5
body     T_BODY_PRIZE   /you have won a prize/i
score    T_BODY_PRIZE   3.0
# a URI of the text counts with a known TLD, as in SpamAssassin
util_rb_tld    example
uri      T_URI_BAD      /bad\\.example\\b/
score    T_URI_BAD      1.5
header   __FROM_LOTTERY From =~ /lottery/i
meta     T_META_LOTTO   __FROM_LOTTERY && T_BODY_PRIZE
score    T_META_LOTTO   4.0
header   T_NEG_HAM      X-Test-Ham =~ /yes/
score    T_NEG_HAM      -1.2
full     T_FOLD_EXACT   /\\nX-Folded: first part\\r\\n\\tsecond part\\r\\n/
score    T_FOLD_EXACT   0.3
"""

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a private Postfix instance needs root"),
    pytest.mark.skipif(shutil.which("postfix") is None and not os.path.exists("/usr/sbin/postfix"),
                       reason="Postfix is not installed"),
    pytest.mark.skipif(shutil.which("sigtool") is None, reason="sigtool (clamav) is not installed"),
]


# ---------------------------------------------------------------- the milter


class Milter:
    """facteur-milter -d with its own configuration, spool and log."""

    def __init__(self, root, name="milter", **overrides):
        self.dir = os.path.join(root, name)
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.spool, "nobody")
        self.rules = pathlib.Path(self.dir) / "rules"
        self.rules.mkdir()
        (self.rules / "10_test.cf").write_text(RULES)
        self.clamdb = os.path.join(self.dir, "clamdb")
        subprocess.run(["sh", os.path.join(SRCDIR, "tests/av/make-db.sh"), self.clamdb],
                       check=True, timeout=120)
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.log_path = os.path.join(self.dir, "milter.log")
        # The default milter_listen, $spool_directory expanded by the milter.
        self.socket = os.path.join(self.spool, "run", "milter")
        self.params = {
            "spool_directory": self.spool,
            "mail_owner": "nobody",
            "myhostname": "mx.test",
            "log_level": "debug",
            # Postfix connects from 127.0.0.1: facteur must see it as the outside world.
            "mynetworks": "192.0.2.0/24",
            "filter_rules": str(self.rules),
            "filter_rules_config": "",
            "spf_enable": "no",
            "dkim_verify": "no",
            "dmarc_enable": "no",
            "arc_enable": "no",
            "dkim_sign": "no",
            "av_database_directory": self.clamdb,
            "bayes_database": os.path.join(self.dir, "bayes.db"),
            "spam_tag_score": "5",
            "spam_subject_score": "7",
            "spam_quarantine_score": "9",
            "spam_reject_score": "11",
        }
        self.params.update({k: str(v) for k, v in overrides.items()})
        with open(self.conf, "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in self.params.items()))
        os.chmod(self.conf, 0o644)
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MILTER, "-c", self.conf, "-d"], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"facteur-milter exited:\n{self.log_text()}")
            text = self.log_text()
            return ("rule set 1 in use" in text and "av: ready" in text and
                    os.path.exists(self.socket))
        assert wait_for(ready), self.log_text()
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


# ---------------------------------------------------------------- a private Postfix


class Postfix:
    """A Postfix instance of its own: config and queue directories, port, log."""

    def __init__(self, root, milter_socket, relay_port):
        self.dir = os.path.join(root, "postfix")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.maillog = os.path.join(self.dir, "maillog")
        os.makedirs(self.conf)
        os.makedirs(self.queue)
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.test
mydomain = pf.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{relay_port}
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
smtpd_banner = $myhostname ESMTP
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
smtpd_milters = unix:{milter_socket}
milter_default_action = tempfail
""")
        out = []
        for line in open("/etc/postfix/master.cf").read().splitlines():
            if line.startswith("smtp ") and " inet " in line:
                line = f"127.0.0.1:{self.port} inet n - n - - smtpd"
            else:
                parts = line.split()
                # No chroot: the private instance has no chroot tree.
                if len(parts) >= 8 and not line.startswith((" ", "\t", "#")) and parts[4] == "y":
                    parts[4] = "n"
                    line = " ".join(parts)
            out.append(line)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("\n".join(out) + "\n")

    def run(self, *args, check=True):
        return subprocess.run(["timeout", "120", "postfix", "-c", self.conf] + list(args),
                              capture_output=True, text=True, check=check)

    def start(self):
        self.run("check", check=False)
        r = self.run("start", check=False)
        assert r.returncode == 0, f"postfix did not start: {r.stderr}\n{self.log_text()}"

        def ready():
            try:
                with RawSMTP(self.port, timeout=5) as c:
                    return c.reply()[0] == 220
            except OSError:
                return False
        assert wait_for(ready), f"postfix does not answer:\n{self.log_text()}"
        return self

    def master_pid(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        pid = self.master_pid()
        self.run("stop", check=False)
        if pid is not None:
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30)

    def log_text(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def hold(self):
        """Queue ids in the hold queue (file names of its directory)."""
        out = []
        for _, _, files in os.walk(os.path.join(self.queue, "hold")):
            out += files
        return out

    def postqueue(self):
        return subprocess.run(["timeout", "60", "postqueue", "-c", self.conf, "-p"],
                              capture_output=True, text=True).stdout


# ---------------------------------------------------------------- a raw milter client


SMFIP_HDR_LEADSPC = 0x100000


class RawMilter:
    """Speaks the milter protocol (version 6) to the milter's socket, byte by byte."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buf = b""

    def send(self, cmd, data=b""):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("milter closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def packet(self):
        (n,) = struct.unpack(">I", self._read(4))
        data = self._read(n)
        return data[:1], data[1:]

    def negotiate(self):
        self.send(b"O", struct.pack(">III", 6, 0x1FF, SMFIP_HDR_LEADSPC | 0x300))
        cmd, data = self.packet()
        assert cmd == b"O", (cmd, data)
        return struct.unpack(">III", data[:12])

    def step(self, cmd, data=b"", macros=None):
        if macros:
            self.send(b"D", cmd + b"".join(k.encode() + b"\0" + v.encode() + b"\0"
                                           for k, v in macros.items()))
        self.send(cmd, data)
        return self.packet()

    def envelope(self, ip="203.0.113.7", auth=None):
        assert self.step(b"C", b"client.test\0" + b"4" + struct.pack(">H", 4444) +
                         ip.encode() + b"\0")[0] == b"c"
        assert self.step(b"H", b"client.test\0")[0] == b"c"
        self.transaction(auth)

    def transaction(self, auth=None):
        macros = {"{auth_authen}": auth} if auth else None
        assert self.step(b"M", b"<someone@outside.test>\0", macros)[0] == b"c"
        assert self.step(b"R", b"<rcpt@example.org>\0", {"i": "RAW1"})[0] == b"c"

    def message(self, headers, body):
        """Headers as (name, value) pairs with their leading space; returns the replies to EOB."""
        for name, value in headers:
            assert self.step(b"L", name.encode() + b"\0" + value.encode() + b"\0")[0] == b"c"
        assert self.step(b"N")[0] == b"c"
        assert self.step(b"B", body.encode())[0] == b"c"
        self.send(b"E")
        replies = []
        while True:
            cmd, data = self.packet()
            replies.append((cmd, data))
            if cmd in (b"a", b"c", b"r", b"t", b"y", b"d"):
                return replies

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def bench():
    root = make_workdir("facteur-it-milter-")
    sink = PySink().start()
    milter = Milter(root).start()
    pfx = Postfix(root, milter.socket, sink.port)
    try:
        pfx.start()
    except AssertionError:
        stop_process(milter.proc)
        sink.stop()
        raise
    yield milter, pfx, sink
    pfx.stop()
    rc = milter.stop()
    sink.stop()
    text = milter.log_text()
    problems = [m for m in SANITIZER_MARKERS if m in text]
    assert not problems, text[-5000:]
    assert rc == 0, f"facteur-milter exited with {rc}:\n{text[-3000:]}"
    assert "facteur-milter stopped" in text
    if os.environ.get("FACTEUR_KEEP_TMP"):
        print(f"\nkept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


_ids = iter(range(1, 1000))


def message(subject, body, sender="someone@outside.test", extra=""):
    """A message with a unique X-Test-Id; returns (id, text)."""
    tid = f"m{next(_ids)}-{time.monotonic_ns()}"
    return tid, (f"From: <{sender}>\r\nTo: <rcpt@example.org>\r\nSubject: {subject}\r\n"
                 f"X-Test-Id: {tid}\r\n{extra}\r\n{body}")


def send(port, msg, sender="someone@outside.test", rcpt="rcpt@example.org"):
    """One SMTP transaction into Postfix: (code, text) of the end-of-DATA reply."""
    with RawSMTP(port, timeout=120) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        code, text = c.cmd(f"RCPT TO:<{rcpt}>")
        assert code == 250, (code, text)
        assert c.cmd("DATA")[0] == 354
        c.send(msg.replace("\r\n.", "\r\n..").encode() + b".\r\n")
        code, lines = c.reply()
        c.cmd("QUIT")
        return code, " ".join(lines)


def arrived(sink, tid):
    """The sink's copy of the message with X-Test-Id tid (waits for it)."""
    def find():
        for m in sink.received():
            if m.header("X-Test-Id") == tid:
                return m
        return None
    return wait_for(find)


def header_value(raw, name):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    values = []
    for i, line in enumerate(lines):
        if line.lower().startswith(name.lower() + ":"):
            v = line.split(":", 1)[1].strip()
            for cont in lines[i + 1:]:
                if cont[:1] in (" ", "\t"):
                    v += " " + cont.strip()
                else:
                    break
            values.append(v)
    return values


def spam_tests(status):
    t = status.split("tests=", 1)[1].split(" version=")[0]
    out = {}
    for item in t.replace(" ", "").split(","):
        if "=" in item:
            k, v = item.split("=")
            out[k] = float(v)
    return out


def queued_id(text):
    # "2.0.0 Ok: queued as 4ABCDEF"
    return text.rsplit(" ", 1)[1]


# ---------------------------------------------------------------- tests


def test_clean_message_passes_with_status_no(bench):
    milter, pfx, sink = bench
    tid, msg = message("lunch", "See you at noon.\r\n", extra="X-Test-Ham: yes\r\n")
    code, text = send(pfx.port, msg)
    assert code == 250, (code, text)
    m = arrived(sink, tid)
    assert m is not None, pfx.log_text()[-3000:]
    status = header_value(m.data, "X-Spam-Status")
    assert len(status) == 1 and status[0].startswith("No, score=-1.2 required=5.0"), status
    assert spam_tests(status[0]) == {"T_NEG_HAM": -1.2}
    assert header_value(m.data, "X-Spam-Flag") == []
    assert header_value(m.data, "X-Virus-Scanned") == ["facteur (ClamAV) on mx.test"]
    # facteur's fields are on top, before Postfix's Received; the body is untouched.
    assert m.data.startswith(b"X-Spam-Status: No"), m.data[:300]
    assert m.data.index(b"X-Virus-Scanned:") < m.data.index(b"Received:")
    assert m.data.endswith(b"\r\n\r\nSee you at noon.\r\n")
    qid = queued_id(text)
    assert f"qid={qid} client=[127.0.0.1] filter: action=accept score=-1.20" in milter.log_text()


def test_headers_reach_the_filter_exactly(bench):
    """The folded field as the client wrote it: SMFIP_HDR_LEADSPC and the folds kept."""
    milter, pfx, sink = bench
    tid, msg = message("folded", "text\r\n", extra="X-Folded: first part\r\n\tsecond part\r\n")
    assert send(pfx.port, msg)[0] == 250
    m = arrived(sink, tid)
    assert m is not None
    assert b"X-Folded: first part\r\n\tsecond part\r\n" in m.data
    assert spam_tests(header_value(m.data, "X-Spam-Status")[0]) == {"T_FOLD_EXACT": 0.3}


def test_spam_is_tagged(bench):
    milter, pfx, sink = bench
    body = "Dear friend, YOU HAVE WON A PRIZE.\r\nClaim it at http://www.bad.example/claim\r\n"
    tid, msg = message("lunch", body, sender="lottery@outside.test")
    msg = msg.replace("From: <lottery@outside.test>", "From: Lottery Office <lottery@outside.test>")
    code, text = send(pfx.port, msg, sender="lottery@outside.test")
    assert code == 250, (code, text)
    m = arrived(sink, tid)
    assert m is not None, pfx.log_text()[-3000:]
    status = header_value(m.data, "X-Spam-Status")
    assert len(status) == 1 and status[0].startswith("Yes, score=8.5 required=5.0"), status
    assert spam_tests(status[0]) == {"T_BODY_PRIZE": 3.0, "T_URI_BAD": 1.5, "T_META_LOTTO": 4.0}
    assert header_value(m.data, "X-Spam-Flag") == ["YES"]
    assert header_value(m.data, "X-Spam-Score") == ["8.5"]
    # 8.5 >= spam_subject_score 7: the Subject is tagged in place, once.
    assert header_value(m.data, "Subject") == ["[SPAM] lunch"]


def test_spam_over_reject_score_is_refused(bench):
    milter, pfx, sink = bench
    before = len(sink.received())
    tid, msg = message("money", "You have won a prize at http://bad.example/\r\n",
                       sender="lottery@outside.test")
    msg = msg.replace("From: <lottery@outside.test>", "From: Lottery <lottery@outside.test>")
    # 2.5 + 3 + 4 + 1.5 = 11 >= 11
    code, text = send(pfx.port, msg, sender="lottery@outside.test")
    assert (code, text) == (550, "5.7.1 Message refused as spam (score 11.0)"), \
        (code, text, milter.log_text()[-3000:])
    # Postfix's log goes through postlogd: the line may come after the reply.
    assert wait_for(lambda: "milter-reject: END-OF-MESSAGE" in pfx.log_text()), \
        pfx.log_text()[-2000:]
    assert "reject: 550 5.7.1 Message refused as spam (score 11.0)" in milter.log_text()
    time.sleep(0.5)
    assert all(m.header("X-Test-Id") != tid for m in sink.received()[before:])


def test_eicar_is_refused_with_the_virus_name(bench):
    milter, pfx, sink = bench
    tid, msg = message("eicar", EICAR + "\r\n")
    code, text = send(pfx.port, msg)
    # ClamAV names signatures of a database it does not know ".UNOFFICIAL".
    assert code == 554 and text.startswith("5.7.1 Virus found: Eicar-Test-Signature"), (code, text)
    assert wait_for(lambda: "Virus found: Eicar-Test-Signature" in pfx.log_text()), \
        pfx.log_text()[-2000:]


def test_quarantine_goes_to_postfix_hold_queue(bench):
    milter, pfx, sink = bench
    tid, msg = message("money money", "You have won a prize.\r\n", sender="lottery@outside.test")
    msg = msg.replace("From: <lottery@outside.test>", "From: Lottery <lottery@outside.test>")
    # 2.5 + 3 + 4 = 9.5: quarantine (9), not reject (11).
    code, text = send(pfx.port, msg, sender="lottery@outside.test")
    assert code == 250, (code, text)
    qid = queued_id(text)
    assert wait_for(lambda: qid in pfx.hold()), (pfx.hold(), pfx.log_text()[-3000:])
    listing = pfx.postqueue()
    assert f"{qid}!" in listing, listing
    assert wait_for(lambda: "milter-hold: END-OF-MESSAGE" in pfx.log_text()), \
        pfx.log_text()[-2000:]
    assert f"qid={qid} quarantine: spam score 9.5 >= 9.0" in milter.log_text()
    time.sleep(0.5)
    assert all(m.header("X-Test-Id") != tid for m in sink.received())


def test_milter_serves_after_clients_abort(bench):
    milter, pfx, sink = bench
    # An SMTP client that goes away in the middle of DATA: Postfix aborts the milter.
    with RawSMTP(pfx.port, timeout=60) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<someone@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<rcpt@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"From: <someone@outside.test>\r\nSubject: cut\r\n\r\nhalf a mess")
    assert wait_for(lambda: "lost connection after DATA" in pfx.log_text()), pfx.log_text()[-2000:]
    assert wait_for(lambda: "message from [127.0.0.1] abandoned by the MTA" in milter.log_text())
    # A milter client that closes its socket in the middle of the body.
    raw = RawMilter(milter.socket)
    raw.negotiate()
    raw.envelope()
    assert raw.step(b"L", b"Subject\0 cut short\0")[0] == b"c"
    assert raw.step(b"N")[0] == b"c"
    raw.send(b"B", b"the first part of a body that never ends")
    raw.close()
    # Another one that aborts a message and sends a second one on the same connection.
    raw = RawMilter(milter.socket)
    raw.negotiate()
    raw.envelope()
    raw.send(b"A")
    raw.transaction()
    replies = raw.message([("Subject", " money")], "fine\r\n")
    raw.close()
    assert replies[-1][0] == b"c", replies
    added = {d[4:].split(b"\0")[0] for c, d in replies if c == b"i"}
    assert b"X-Spam-Status" in added, replies
    # Still serving Postfix, same process.
    assert milter.proc.poll() is None
    tid, msg = message("after", "still there\r\n")
    assert send(pfx.port, msg)[0] == 250
    m = arrived(sink, tid)
    assert m is not None and header_value(m.data, "X-Spam-Status")[0].startswith("No,")


def test_sighup_reloads_rules_without_closing_connections(bench):
    milter, pfx, sink = bench
    tid, msg = message("quarterly report", "numbers\r\n")
    assert send(pfx.port, msg)[0] == 250
    m = arrived(sink, tid)
    assert m is not None and "T_REPORT" not in header_value(m.data, "X-Spam-Status")[0]
    # A milter connection open across the reload.
    raw = RawMilter(milter.socket)
    version, actions, proto = raw.negotiate()
    assert proto & SMFIP_HDR_LEADSPC
    raw.envelope()
    sets = milter.log_text().count(" in use")
    (milter.rules / "20_more.cf").write_text(
        "header T_REPORT Subject =~ /quarterly/\nscore T_REPORT 0.7\n")
    pid = milter.proc.pid
    os.kill(pid, signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in milter.log_text() and
                    milter.log_text().count(" in use") > sets), milter.log_text()[-3000:]
    # The connection opened before the reload is served with the new rules.
    replies = raw.message([("Subject", " quarterly report")], "numbers\r\n")
    raw.close()
    # INSHEADER: the index (4 bytes), name, value.
    status = [d[4:] for c, d in replies if c == b"i" and d[4:].startswith(b"X-Spam-Status\0")]
    assert len(status) == 1 and b"T_REPORT=0.7" in status[0], replies
    # And Postfix's messages too; same process, socket still there.
    tid, msg = message("quarterly report", "numbers\r\n")
    assert send(pfx.port, msg)[0] == 250
    m = arrived(sink, tid)
    assert m is not None
    assert spam_tests(header_value(m.data, "X-Spam-Status")[0]) == {"T_REPORT": 0.7}
    assert milter.proc.poll() is None and milter.proc.pid == pid
    assert os.path.exists(milter.socket)
    # A burst of SIGHUPs (libmilter's own handling would stop at the first).
    n = milter.log_text().count("configuration reloaded")
    for _ in range(5):
        os.kill(pid, signal.SIGHUP)
        time.sleep(0.05)
    assert wait_for(lambda: milter.log_text().count("configuration reloaded") > n)
    time.sleep(1)
    assert milter.proc.poll() is None and os.path.exists(milter.socket)
    assert "stopping" not in milter.log_text()
    tid, msg = message("quarterly report", "numbers\r\n")
    assert send(pfx.port, msg)[0] == 250
    assert arrived(sink, tid) is not None


def inserted(replies):
    """{name: value} of the INSHEADER replies (index, name, value)."""
    out = {}
    for c, d in replies:
        if c == b"i":
            name, value = d[4:].split(b"\0")[:2]
            out[name.decode()] = value.decode()
    return out


def test_trusted_clients_get_no_inbound_verdict(bench):
    """Authenticated ({auth_authen}) and mynetworks clients: no X-Spam-Status."""
    milter, pfx, sink = bench
    for ip, auth in (("203.0.113.7", "alice"), ("192.0.2.9", None)):
        raw = RawMilter(milter.socket)
        raw.negotiate()
        raw.envelope(ip=ip, auth=auth)
        replies = raw.message([("Subject", " money")], "You have won a prize\r\n")
        raw.close()
        assert replies[-1][0] == b"c", replies
        assert "X-Spam-Status" not in inserted(replies), replies
    # The same message from the outside is scored.
    raw = RawMilter(milter.socket)
    raw.negotiate()
    raw.envelope()
    replies = raw.message([("Subject", " money")], "You have won a prize\r\n")
    raw.close()
    assert inserted(replies)["X-Spam-Status"].startswith(" Yes, score=5.5"), replies


@pytest.mark.parametrize("action", ["accept", "tempfail"])
def test_message_over_size_limit_follows_failure_action(action):
    root = make_workdir("facteur-it-milter-size-")
    m = Milter(root, message_size_limit=2000, filter_failure_action=action).start()
    try:
        raw = RawMilter(m.socket)
        raw.negotiate()
        raw.envelope()
        small = raw.message([("Subject", " small")], "fits\r\n")
        raw.transaction()
        big = raw.message([("Subject", " big")], ("x" * 70 + "\r\n") * 40)
        raw.close()
        assert small[-1][0] == b"c" and "FILTER_ERROR" not in inserted(small)["X-Spam-Status"]
        if action == "accept":
            assert big[-1][0] == b"c", big
            assert inserted(big)["X-Spam-Status"].startswith(
                " No, score=0.0 required=5.0 tests=FILTER_ERROR version=facteur "), big
        else:
            assert big[-1] == (b"y", b"451 4.3.0 Message could not be checked, try again later\0")
        assert "message not checked (larger than message_size_limit)" in m.log_text()
    finally:
        assert m.stop() == 0, m.log_text()
        assert not [x for x in SANITIZER_MARKERS if x in m.log_text()], m.log_text()
        shutil.rmtree(root, ignore_errors=True)


def test_listen_spec_errors_are_startup_errors(tmp_path):
    conf = tmp_path / "facteur.conf"
    conf.write_text(f"spool_directory = {tmp_path}\nmilter_listen = tcp:25\nav_enable = no\n")
    r = subprocess.run(["timeout", "60", MILTER, "-c", str(conf), "-d"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "milter_listen: \"tcp:25\"" in r.stderr, r.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
def test_inet_postfix_syntax(host):
    """inet:host:port (Postfix's way) is rewritten for libmilter and listens there."""
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    addr = host.strip("[]")
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((addr, 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip(f"no {addr} here")
    d = make_workdir("facteur-it-milter-inet-")
    try:
        conf = os.path.join(d, "facteur.conf")
        with open(conf, "w") as f:
            f.write(f"spool_directory = {d}/spool\nmail_owner = nobody\n"
                    f"milter_listen = inet:{host}:{port}\nav_enable = no\nfilter_rules =\n"
                    "spf_enable = no\ndkim_verify = no\ndmarc_enable = no\narc_enable = no\n")
        log = open(os.path.join(d, "log"), "wb")
        p = subprocess.Popen([MILTER, "-c", conf, "-d"], stdout=log, stderr=log,
                             start_new_session=True)
        try:
            logfile = os.path.join(d, "log")
            assert wait_for(lambda: "started on" in open(logfile).read() or p.poll() is not None)
            assert p.poll() is None, open(logfile).read()
            with socket.create_connection((addr, port), timeout=30) as s:
                s.sendall(struct.pack(">I", 13) + b"O" + struct.pack(">III", 6, 0x1FF, 0x100300))
                data = s.recv(64)
            assert data[4:5] == b"O"
            want = f"inet6:{port}@::1" if family == socket.AF_INET6 else f"inet:{port}@127.0.0.1"
            assert f"started on {want}" in open(logfile).read()
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(60) == 0
            log.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
