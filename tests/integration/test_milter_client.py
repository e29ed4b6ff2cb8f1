# SPDX-License-Identifier: MIT
"""smtpd's milter client against real milters: Debian's opendkim, started
in signing and in verifying mode on sockets of a temporary directory, and
driven by mta/milter_test, which plays one SMTP transaction as smtpd does.

Signing must insert a DKIM-Signature that a second opendkim, called after
the first in the same smtpd_milters list, finds valid (dkim=pass); a
message whose signed body was changed must get opendkim's On-BadSignature
action (reject, tempfail, discard) as the step's verdict; a milter that is
absent or silent must get milter_default_action.

What opendkim cannot show (the exact commands and macros sent, the
no-reply flags, envelope and body changes, custom reply codes, PROGRESS,
quarantine, which opendkim does not ask for) is checked against
ScriptedMilter, a milter written here that answers as it is told and
records what it gets.
"""
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from facteur_it import BUILDDIR, SANITIZER_MARKERS, free_port, make_workdir, stop_process, wait_for

MILTER_TEST = os.path.join(BUILDDIR, "mta", "milter_test")
OPENDKIM = shutil.which("opendkim") or "/usr/sbin/opendkim"
GENKEY = shutil.which("opendkim-genkey") or "/usr/sbin/opendkim-genkey"

pytestmark = [
    pytest.mark.skipif(not os.access(MILTER_TEST, os.X_OK), reason=f"{MILTER_TEST} not built"),
    pytest.mark.skipif(not (os.access(OPENDKIM, os.X_OK) and os.access(GENKEY, os.X_OK)),
                       reason="opendkim and opendkim-tools are not installed"),
]

MESSAGE = (
    "From: Alice <alice@example.org>\n"
    "To: Bob <bob@example.net>\n"
    "Subject: quarterly figures\n"
    "Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
    "Message-ID: <figures-1@example.org>\n"
    "\n"
    "Hello Bob,\n"
    "\n"
    "the figures are attached in spirit.\n"
    "-- \n"
    "Alice\n"
)


class OpenDKIM:
    """One real opendkim milter, in the foreground, on a socket of workdir."""

    def __init__(self, workdir, name, settings, inet=False):
        self.workdir = workdir
        self.name = name
        if inet:
            self.port = free_port()
            self.socket = f"inet:{self.port}@127.0.0.1"
            self.address = f"inet:{self.port}@127.0.0.1"
        else:
            path = os.path.join(workdir, name + ".sock")
            self.socket = "local:" + path
            self.address = "unix:" + path
            self.path = path
        self.conf = os.path.join(workdir, name + ".conf")
        with open(self.conf, "w") as f:
            f.write(f"Socket {self.socket}\n"
                    f"PidFile {os.path.join(workdir, name + '.pid')}\n"
                    "Syslog no\n"
                    "Background no\n"
                    # The test's files live under /tmp, which opendkim calls unsafe.
                    "RequireSafeKeys no\n")
            for key, value in settings.items():
                f.write(f"{key} {value}\n")
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.workdir, self.name + ".log"), "ab")
        self.proc = subprocess.Popen([OPENDKIM, "-f", "-x", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        assert wait_for(lambda: self._ready() or self.proc.poll() is not None), \
            f"opendkim {self.name} did not listen"
        assert self.proc.poll() is None, f"opendkim {self.name} exited: " + self._log_text()
        return self

    def _ready(self):
        if self.socket.startswith("inet:"):
            with socket.socket() as s:
                s.settimeout(1)
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        return os.path.exists(self.path)

    def _log_text(self):
        with open(os.path.join(self.workdir, self.name + ".log"), errors="replace") as f:
            return f.read()

    def stop(self):
        stop_process(self.proc)
        self.log.close()


@pytest.fixture(scope="module")
def workdir():
    d = make_workdir("facteur-milter-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def dkim_key(workdir):
    """A key pair for sel._domainkey.example.org, and the public key as opendkim's
    TestPublicKeys wants it (name, blank, TXT record)."""
    subprocess.run([GENKEY, "-D", workdir, "-d", "example.org", "-s", "sel"], check=True,
                   timeout=120)
    with open(os.path.join(workdir, "sel.txt")) as f:
        txt = f.read()
    record = "".join(part for part in txt.split('"')[1::2]).replace(" ", "").replace("\t", "")
    assert "p=" in record, txt
    keys = os.path.join(workdir, "keys.txt")
    with open(keys, "w") as f:
        f.write(f"sel._domainkey.example.org {record}\n")
    return {"private": os.path.join(workdir, "sel.private"), "public": keys}


@pytest.fixture(scope="module")
def signer(workdir, dkim_key):
    m = OpenDKIM(workdir, "sign", {
        "Mode": "s",
        "Domain": "example.org",
        "KeyFile": dkim_key["private"],
        "Selector": "sel",
        "Canonicalization": "relaxed/simple",
    }).start()
    yield m
    m.stop()


def verifier_settings(dkim_key, on_bad="accept"):
    return {
        "Mode": "v",
        "TestPublicKeys": dkim_key["public"],
        "AuthservID": "mx.test",
        # Mail from 127.0.0.1 would count as internal and be signed, not verified.
        "InternalHosts": "192.0.2.1",
        "On-BadSignature": on_bad,
    }


@pytest.fixture(scope="module")
def verifier(workdir, dkim_key):
    m = OpenDKIM(workdir, "verify", verifier_settings(dkim_key), inet=True).start()
    yield m
    m.stop()


def write_conf(workdir, name, milters, **params):
    path = os.path.join(workdir, name + ".conf.facteur")
    with open(path, "w") as f:
        f.write(f"smtpd_milters = {', '.join(milters)}\n")
        for k, v in params.items():
            f.write(f"{k} = {v}\n")
    return path


def write_message(workdir, name, text):
    path = os.path.join(workdir, name + ".eml")
    with open(path, "w") as f:
        f.write(text)
    return path


def milter_test(conf, message, ip="127.0.0.1", rcpts=("bob@example.net",), timeout=120):
    """Run milter_test: ({step: "verdict text"}, resulting message or None, stderr)."""
    cmd = [MILTER_TEST, "-c", conf, "--ip", ip, "--helo", "client.example.org",
           "--from", "alice@example.org"]
    for r in rcpts:
        cmd += ["--rcpt", r]
    cmd.append(message)
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, (r.returncode, out, err)
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    steps, msg = {}, None
    head, sep, tail = out.partition("--- message\n")
    if sep:
        msg = tail
    for line in head.splitlines():
        step, _, verdict = line.partition(": ")
        steps[step] = verdict
    return steps, msg, err


def header_block(msg):
    return msg.split("\r\n\r\n", 1)[0]


def fields(msg):
    """[(name, value)] of the message's header, unfolded."""
    out = []
    for line in header_block(msg).split("\r\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        else:
            name, _, value = line.partition(":")
            out.append((name, value.strip()))
    return out


def sign(workdir, signer, name="signed"):
    conf = write_conf(workdir, name, [signer.address])
    steps, msg, _ = milter_test(conf, write_message(workdir, name, MESSAGE))
    assert msg is not None, steps
    return msg


def test_sign_inserts_a_dkim_signature(workdir, signer):
    conf = write_conf(workdir, "sign-only", [signer.address])
    steps, msg, err = milter_test(conf, write_message(workdir, "plain", MESSAGE))
    assert steps["helo"].startswith("continue")
    assert steps["mail"].startswith("continue")
    assert steps["rcpt bob@example.net"].startswith("continue")
    assert steps["message"].split()[0] in ("continue", "accept"), steps
    f = fields(msg)
    # opendkim inserts its signature first (SMFIR_INSHEADER at index 0).
    assert f[0][0] == "DKIM-Signature", f
    sig = f[0][1]
    assert "d=example.org" in sig and "s=sel" in sig and "c=relaxed/simple" in sig, sig
    # The rest of the message is untouched, with CRLF lines.
    assert msg.endswith(MESSAGE.split("\n\n", 1)[1].replace("\n", "\r\n"))
    assert [n for n, _ in f[1:]] == ["From", "To", "Subject", "Date", "Message-ID"]
    assert "\n" not in msg.replace("\r\n", "")


def test_second_milter_sees_the_first_ones_signature_and_verifies_it(workdir, signer,
                                                                     verifier):
    # In order: the signer, then the verifier, which gets the message as the
    # signer changed it and adds its Authentication-Results.
    conf = write_conf(workdir, "sign-verify", [signer.address, verifier.address])
    steps, msg, err = milter_test(conf, write_message(workdir, "plain2", MESSAGE))
    assert steps["message"].split()[0] in ("continue", "accept"), steps
    f = dict(fields(msg))
    assert "DKIM-Signature" in f, msg
    ar = f.get("Authentication-Results", "")
    assert ar.startswith("mx.test;"), msg
    assert "dkim=pass" in ar and "header.d=example.org" in ar, ar


def test_verifier_alone_passes_a_signed_message(workdir, signer, verifier):
    signed = sign(workdir, signer, "signed-for-verify")
    conf = write_conf(workdir, "verify-only", [verifier.address])
    steps, msg, _ = milter_test(conf, write_message(workdir, "signed-in", signed),
                                ip="198.51.100.7")
    assert "dkim=pass" in dict(fields(msg)).get("Authentication-Results", ""), msg


def test_verifier_flags_a_changed_body(workdir, signer, verifier):
    bad = sign(workdir, signer, "signed-for-change").replace("figures are", "figures were")
    conf = write_conf(workdir, "verify-changed", [verifier.address])
    steps, msg, _ = milter_test(conf, write_message(workdir, "changed", bad), ip="198.51.100.7")
    ar = dict(fields(msg)).get("Authentication-Results", "")
    assert "dkim=fail" in ar, msg


@pytest.mark.parametrize("action,verdict", [
    ("reject", "reject 5"),
    ("tempfail", "tempfail 4"),
    ("discard", "discard"),
])
def test_bad_signature_action_is_the_verdict(workdir, dkim_key, signer, action, verdict):
    m = OpenDKIM(workdir, "verify-" + action, verifier_settings(dkim_key, action)).start()
    try:
        bad = sign(workdir, signer, "signed-" + action).replace("Hello Bob", "Hello Eve")
        conf = write_conf(workdir, "bad-" + action, [m.address])
        steps, msg, err = milter_test(conf, write_message(workdir, "bad-" + action, bad),
                                      ip="198.51.100.7")
    finally:
        m.stop()
    assert steps["rcpt bob@example.net"].startswith("continue")
    assert steps["message"].startswith(verdict), steps
    assert f"(milter {m.address})" in steps["message"], steps
    assert msg is None, msg


@pytest.mark.parametrize("action,step,verdict", [
    ("tempfail", "helo", "tempfail 451 4.7.1"),
    ("reject", "helo", "reject 550 5.5.0"),
    ("accept", "message", "accept"),
])
def test_absent_milter_gets_the_default_action(workdir, action, step, verdict):
    absent = "unix:" + os.path.join(workdir, "absent.sock")
    conf = write_conf(workdir, "absent-" + action, [absent], milter_default_action=action)
    steps, msg, err = milter_test(conf, write_message(workdir, "absent", MESSAGE))
    assert steps[step].startswith(verdict), steps
    assert f"milter={absent} error: cannot connect" in err, err
    assert f"default action {action}" in err, err
    if action == "accept":
        # Nothing changed, nothing refused.
        assert msg == MESSAGE.replace("\n", "\r\n")
    else:
        assert msg is None
        # Every later step would get the same answer: milter_test stops at the first.
        assert list(steps) == ["helo"], steps


def test_accept_skips_only_the_failed_milter(workdir, signer):
    absent = "unix:" + os.path.join(workdir, "absent2.sock")
    conf = write_conf(workdir, "absent-then-sign", [absent, signer.address],
                      milter_default_action="accept")
    steps, msg, err = milter_test(conf, write_message(workdir, "absent2", MESSAGE))
    assert fields(msg)[0][0] == "DKIM-Signature", msg


class SilentMilter:
    """Accepts connections and reads, but never answers: a hung milter."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.received = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                c, _ = self.sock.accept()
                self.conns.append(c)
                threading.Thread(target=self._drain, args=(c,), daemon=True).start()
        except OSError:
            pass

    def _drain(self, c):
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                self.received += data
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_silent_milter_times_out(workdir):
    silent = SilentMilter()
    try:
        conf = write_conf(workdir, "silent", [f"inet:{silent.port}@127.0.0.1"],
                          milter_timeout="1", milter_default_action="tempfail")
        steps, msg, err = milter_test(conf, write_message(workdir, "silent", MESSAGE))
    finally:
        silent.close()
    assert steps["helo"].startswith("tempfail 451 4.7.1"), steps
    assert "timeout after 1s" in err, err
    # What it was sent first: option negotiation, version 6.
    assert silent.received[:9] == b"\x00\x00\x00\x0dO\x00\x00\x00\x06", silent.received


# ------------------------------------------------------------ scripted milter

NR_FLAGS = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000, "T": 0x10000, "L": 0x80,
            "N": 0x40000, "B": 0x80000}
NO_FLAGS = {"C": 0x1, "H": 0x2, "M": 0x4, "R": 0x8, "B": 0x10, "L": 0x20, "N": 0x40, "T": 0x200}


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd.encode() + data


def cstrings(data):
    return [x.decode() for x in data.split(b"\0")[:-1]]


class ScriptedMilter:
    """A milter on a unix socket: negotiates the given actions and protocol
    flags, answers each command with script(cmd, data) (a list of (cmd, data)
    packets, or None for CONTINUE) unless a no-reply flag spares it, and
    records every (cmd, data) it receives."""

    def __init__(self, workdir, name, actions=0x1ff, protocol=0, script=None):
        self.path = os.path.join(workdir, name + ".sock")
        self.address = "unix:" + self.path
        self.actions, self.protocol = actions, protocol
        self.script = script or (lambda cmd, data: None)
        self.received = []
        self.errors = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            while True:
                c, _ = self.sock.accept()
                self.conns.append(c)
                threading.Thread(target=self._serve, args=(c,), daemon=True).start()
        except OSError:
            pass

    def _read(self, c, n):
        buf = b""
        while len(buf) < n:
            chunk = c.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _serve(self, c):
        try:
            while True:
                (n,) = struct.unpack(">I", self._read(c, 4))
                body = self._read(c, n)
                cmd, data = chr(body[0]), body[1:]
                self.received.append((cmd, data))
                if cmd == "O":
                    c.sendall(packet("O", struct.pack(">III", 6, self.actions, self.protocol)))
                    continue
                if cmd == "Q":
                    return
                if cmd in ("D", "A"):
                    continue
                if cmd in NO_FLAGS and self.protocol & NO_FLAGS[cmd]:
                    self.errors.append(f"got {cmd} though NO flag set")
                if cmd in NR_FLAGS and self.protocol & NR_FLAGS[cmd]:
                    continue
                for rcmd, rdata in self.script(cmd, data) or [("c", b"")]:
                    if rcmd == "sleep":
                        time.sleep(rdata)
                        continue
                    c.sendall(packet(rcmd, rdata))
        except (EOFError, OSError):
            pass

    def commands(self):
        return "".join(cmd for cmd, _ in self.received)

    def macros_before(self, cmd):
        """The macros of the D packet sent for the first command cmd."""
        for i, (c, data) in enumerate(self.received):
            if c == "D" and data[:1] == cmd.encode():
                items = cstrings(data[1:])
                return dict(zip(items[::2], items[1::2]))
        return {}

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


BIG_BODY = "".join(f"line {i:06d} of a body larger than one milter chunk\n" for i in range(5000))


def test_commands_macros_headers_and_body_chunks(workdir):
    m = ScriptedMilter(workdir, "record")
    try:
        conf = write_conf(workdir, "record", [m.address])
        cmd = [MILTER_TEST, "-c", conf, "--ip", "192.0.2.25", "--port", "41234",
               "--name", "client.example.org", "--helo", "helo.example.org",
               "--from", "alice@example.org", "--rcpt", "bob@example.net", "--auth", "alice",
               "--qid", "4QID123", write_message(workdir, "big", MESSAGE + BIG_BODY)]
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        out = r.stdout.decode()
        assert "message: continue" in out, (out, r.stderr)
        assert wait_for(lambda: m.commands().endswith("Q")), m.commands()
    finally:
        m.close()
    assert m.errors == []
    cmds = m.commands().replace("D", "")
    # Option negotiation, connect, HELO, MAIL, RCPT, DATA, headers, end of
    # header, body chunks, end of message, QUIT.
    assert cmds.startswith("OCHMRTLLLLLNB"), cmds
    assert cmds.endswith("BEQ"), cmds
    got = {c: d for c, d in reversed(m.received)}
    assert got["C"] == b"client.example.org\x00" + b"4" + struct.pack(">H", 41234) + b"192.0.2.25\x00"
    assert cstrings(got["H"]) == ["helo.example.org"]
    assert cstrings(got["M"]) == ["<alice@example.org>"]
    assert cstrings(got["R"]) == ["<bob@example.net>"]
    headers = [cstrings(d) for c, d in m.received if c == "L"]
    assert headers[0] == ["From", "Alice <alice@example.org>"]    # no leading blank: no LEADSPC
    assert [h[0] for h in headers] == ["From", "To", "Subject", "Date", "Message-ID"]
    chunks = [d for c, d in m.received if c == "B"]
    assert max(len(c) for c in chunks) <= 65535 and len(chunks) > 1
    expected = (MESSAGE.split("\n\n", 1)[1] + BIG_BODY).replace("\n", "\r\n").encode()
    assert b"".join(chunks) == expected
    conn = m.macros_before("C")
    assert conn["{client_addr}"] == "192.0.2.25" and conn["{client_name}"] == "client.example.org"
    assert conn["{daemon_name}"] == "facteur" and conn["j"] and conn["{client_port}"] == "41234"
    assert conn["_"] == "client.example.org [192.0.2.25]"
    mail = m.macros_before("M")
    assert mail["{mail_addr}"] == "alice@example.org" and mail["{auth_authen}"] == "alice"
    assert m.macros_before("R")["{rcpt_addr}"] == "bob@example.net"
    assert m.macros_before("E")["i"] == "4QID123"


def test_no_send_and_no_reply_flags_are_honoured(workdir):
    # No HELO, no headers; no reply to connect, RCPT, end of header and body.
    flags = 0x2 | 0x20 | 0x1000 | 0x8000 | 0x40000 | 0x80000
    m = ScriptedMilter(workdir, "flags", protocol=flags)
    try:
        conf = write_conf(workdir, "flags", [m.address], milter_timeout="3")
        steps, msg, err = milter_test(conf, write_message(workdir, "flags", MESSAGE))
    finally:
        m.close()
    assert m.errors == [], m.errors
    assert all(v.startswith("continue") for v in steps.values()), (steps, err)
    assert "H" not in m.commands() and "L" not in m.commands()
    assert "timeout" not in err


def test_envelope_header_and_body_changes(workdir):
    def script(cmd, data):
        if cmd == "E":
            return [("+", b"<carol@example.net>\0"), ("-", b"<bob@example.net>\0"),
                    ("e", b"<bounces@example.org>\0"), ("h", b"X-Scanned\0yes\0"),
                    ("m", struct.pack(">I", 1) + b"Subject\0[scanned] quarterly figures\0"),
                    ("m", struct.pack(">I", 1) + b"Message-ID\0\0"),
                    ("b", b"Replaced body.\n"), ("c", b"")]
        return None
    m = ScriptedMilter(workdir, "changes", script=script)
    try:
        conf = write_conf(workdir, "changes", [m.address])
        r = subprocess.run([MILTER_TEST, "-c", conf, "--rcpt", "bob@example.net",
                            write_message(workdir, "changes", MESSAGE)],
                           capture_output=True, timeout=120)
    finally:
        m.close()
    out = r.stdout.decode()
    head, _, msg = out.partition("--- message\n")
    assert "rcpt-added <carol@example.net>" in head
    assert "rcpt-deleted <bob@example.net>" in head
    assert "sender <bounces@example.org>" in head
    assert msg == ("From: Alice <alice@example.org>\r\n"
                   "To: Bob <bob@example.net>\r\n"
                   "Subject: [scanned] quarterly figures\r\n"
                   "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
                   "X-Scanned: yes\r\n"
                   "\r\n"
                   "Replaced body.\r\n"), out


def test_custom_reply_code_refuses_one_recipient(workdir):
    def script(cmd, data):
        if cmd == "R" and b"mallory" in data:
            return [("y", b"550 5.1.1 <mallory@example.net>: no such user\0")]
        return None
    m = ScriptedMilter(workdir, "replycode", script=script)
    try:
        conf = write_conf(workdir, "replycode", [m.address])
        steps, msg, err = milter_test(conf, write_message(workdir, "replycode", MESSAGE),
                                      rcpts=("mallory@example.net", "bob@example.net"))
    finally:
        m.close()
    assert steps["rcpt mallory@example.net"].startswith(
        "reject 550 5.1.1 <mallory@example.net>: no such user"), steps
    assert steps["rcpt bob@example.net"].startswith("continue")
    assert steps["message"].startswith("continue")


def test_progress_keeps_a_slow_milter_alive(workdir):
    def script(cmd, data):
        if cmd == "E":
            return [("sleep", 0.6), ("p", b""), ("sleep", 0.6), ("p", b""), ("sleep", 0.6),
                    ("p", b""), ("sleep", 0.6), ("c", b"")]
        return None
    m = ScriptedMilter(workdir, "progress", script=script)
    try:
        conf = write_conf(workdir, "progress", [m.address], milter_timeout="1")
        steps, msg, err = milter_test(conf, write_message(workdir, "progress", MESSAGE))
    finally:
        m.close()
    assert steps["message"].startswith("continue"), (steps, err)


def test_change_that_was_not_negotiated_is_a_milter_error(workdir):
    def script(cmd, data):
        if cmd == "E":
            return [("h", b"X-Sneaky\0yes\0"), ("c", b"")]
        return None
    m = ScriptedMilter(workdir, "sneaky", actions=0, script=script)
    try:
        conf = write_conf(workdir, "sneaky", [m.address], milter_default_action="tempfail")
        steps, msg, err = milter_test(conf, write_message(workdir, "sneaky", MESSAGE))
    finally:
        m.close()
    assert steps["message"].startswith("tempfail 451 4.7.1"), steps
    assert "did not negotiate" in err, err


def test_accept_at_connect_leaves_the_milter_out(workdir):
    m = ScriptedMilter(workdir, "accept", script=lambda cmd, data: [("a", b"")] if cmd == "C" else None)
    try:
        conf = write_conf(workdir, "accept", [m.address])
        steps, msg, err = milter_test(conf, write_message(workdir, "accept", MESSAGE))
        assert wait_for(lambda: m.commands().endswith("Q")), m.commands()
    finally:
        m.close()
    assert steps["helo"].startswith("accept") and steps["message"].startswith("accept"), steps
    assert m.commands().replace("D", "") == "OCQ"


def test_a_reject_stops_the_later_milters(workdir, dkim_key, signer):
    v = OpenDKIM(workdir, "verify-stop", verifier_settings(dkim_key, "reject")).start()
    m = ScriptedMilter(workdir, "after-reject")
    try:
        bad = sign(workdir, signer, "signed-stop").replace("Hello Bob", "Hello Eve")
        conf = write_conf(workdir, "stop", [v.address, m.address])
        steps, _, err = milter_test(conf, write_message(workdir, "stop", bad), ip="198.51.100.7")
    finally:
        v.stop()
        m.close()
    assert steps["message"].startswith("reject 5"), steps
    # The second milter had the envelope, never the message.
    cmds = m.commands()
    assert "R" in cmds and "T" not in cmds and "E" not in cmds, cmds


def test_quarantine_with_its_reason(workdir):
    def script(cmd, data):
        if cmd == "E":
            return [("q", b"suspicious attachment\0"), ("h", b"X-Held\0yes\0"), ("c", b"")]
        return None
    m = ScriptedMilter(workdir, "quarantine", script=script)
    try:
        conf = write_conf(workdir, "quarantine", [m.address])
        steps, msg, err = milter_test(conf, write_message(workdir, "quarantine", MESSAGE))
    finally:
        m.close()
    assert steps["message"].startswith("quarantine suspicious attachment"), steps
    assert "X-Held: yes\r\n" in msg


def test_rset_and_several_transactions_share_one_connection(workdir):
    m = ScriptedMilter(workdir, "transactions")
    try:
        conf = write_conf(workdir, "transactions", [m.address])
        r = subprocess.run([MILTER_TEST, "-c", conf, "--rcpt", "bob@example.net", "--rset",
                            "--transactions", "2", write_message(workdir, "transactions", MESSAGE)],
                           capture_output=True, timeout=120)
        out = r.stdout.decode()
        assert wait_for(lambda: m.commands().endswith("Q")), m.commands()
    finally:
        m.close()
    assert out.count("message: continue") == 2 and "rset" in out, out
    cmds = m.commands().replace("D", "").replace("L", "").replace("B", "")
    # One negotiation; RSET aborts the first transaction; a finished message
    # needs no ABORT before the next MAIL.
    assert cmds == "OCH" + "MRA" + "MRTNE" + "MRTNE" + "Q", m.commands()
