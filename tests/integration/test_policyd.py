# SPDX-License-Identifier: MIT
"""policyd, the policy engine as a Postfix policy service: the protocol
spoken directly over a socket (recipients of the directory, greylisting
and trusted clients, probes of a relay domain's next hop, requests it
cannot use, bytes that are not the protocol, reloads, unix sockets), the
master starting, restarting and stopping it as policy_listen says, and a
real private Postfix asking it through check_policy_service while swaks
talks to that Postfix.

The Postfix part needs root (Postfix's daemons switch to the postfix user)
and Postfix; without them it is skipped."""
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from facteur_it import (BUILDDIR, FACTEURCTL, SANITIZER_MARKERS, PySink, RawSMTP, children_of,
                        free_port, wait_for)

POLICYD = os.path.join(BUILDDIR, "policy", "policyd")

pytestmark = pytest.mark.skipif(not os.access(POLICYD, os.X_OK), reason="policy/policyd is not built")

# Clients of the tests: TRUSTED is in policyd's mynetworks, STRANGER is not.
TRUSTED = "192.0.2.7"
STRANGER = "203.0.113.7"


class PolicyD:
    """policyd -d with its own configuration, spool, directory and log."""

    def __init__(self, root, name="policyd", listen=None, **overrides):
        self.dir = os.path.join(root, name)
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.spool, "nobody")
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.log_path = os.path.join(self.dir, "policyd.log")
        self.port = free_port()
        self.params = {
            "spool_directory": self.spool,
            "mail_owner": "nobody",
            "myhostname": "mx.test",
            "log_level": "debug",
            "mynetworks": "192.0.2.0/24",
            "policy_listen": listen or f"inet:127.0.0.1:{self.port}",
        }
        self.params.update({k: str(v) for k, v in overrides.items()})
        self.write_config()
        self.proc = None

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in self.params.items()))
        os.chmod(self.conf, 0o644)

    def set(self, **kv):
        self.params.update({k: str(v) for k, v in kv.items()})
        self.write_config()

    def ctl(self, *args):
        r = subprocess.run(["timeout", "60", FACTEURCTL, "-c", self.conf] + list(args),
                           capture_output=True, text=True)
        assert r.returncode == 0, f"facteurctl {args}: {r.stdout}{r.stderr}"
        return r.stdout

    def start(self, wait=True):
        offset = len(self.log_text())
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POLICYD, "-c", self.conf, "-d"], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        log.close()
        if wait:
            def ready():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"policyd exited with {self.proc.returncode}:\n"
                                       f"{self.log_text()}")
                return "policyd started" in self.log_text()[offset:]
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

    def client(self):
        listen = self.params["policy_listen"]
        if listen.startswith("unix:"):
            return PolicyClient(path=listen[5:].replace("$spool_directory", self.spool))
        return PolicyClient(port=int(listen.rsplit(":", 1)[1]))


class PolicyClient:
    """Speaks Postfix's policy protocol: name=value lines, an empty line, one answer."""

    def __init__(self, port=None, path=None):
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(60)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    @staticmethod
    def request(**attrs):
        """A RCPT request of a stranger; attrs replace or (None) remove attributes."""
        req = {"request": "smtpd_access_policy", "protocol_state": "RCPT",
               "protocol_name": "ESMTP", "client_address": STRANGER,
               "client_name": "client.example", "helo_name": "client.example",
               "sender": "someone@sender.example", "recipient": "alice@example.net",
               "recipient_count": "0", "queue_id": "", "instance": "1a2b.3c4d.0",
               "size": "0", "sasl_username": ""}
        req.update(attrs)
        return "".join(f"{k}={v}\n" for k, v in req.items() if v is not None) + "\n"

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def answer(self):
        """The next answer ("action=..." without the line ends), or None if the server closed."""
        while b"\n\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n\n", 1)
        assert b"\n" not in line, line
        return line.decode()

    def ask(self, **attrs):
        self.send(self.request(**attrs))
        return self.answer()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def make_policyd(workdir):
    """Factory: make_policyd(start=True, populate=None, **params) -> PolicyD.

    populate(pd) fills the directory before the start.  Every policyd is
    stopped with SIGTERM at the end and must exit 0, clean of sanitizer
    reports."""
    made = []

    def factory(start=True, populate=None, name=None, **params):
        pd = PolicyD(workdir, name=name or f"policyd{len(made)}", **params)
        made.append(pd)
        if populate is not None:
            populate(pd)
        if start:
            pd.start()
        return pd

    yield factory
    for pd in made:
        was_running = pd.proc is not None and pd.proc.poll() is None
        rc = pd.stop()
        text = pd.log_text()
        assert not [m for m in SANITIZER_MARKERS if m in text], text[-5000:]
        if was_running:
            assert rc == 0, f"policyd exited with {rc}:\n{text[-3000:]}"
            assert "policyd stopped" in text


def directory(pd):
    """example.net local with alice and a disabled carol."""
    pd.ctl("domain", "add", "example.net")
    pd.ctl("account", "add", "alice@example.net")
    pd.ctl("account", "add", "carol@example.net")
    pd.ctl("account", "disable", "carol@example.net")


# ---------------------------------------------------------------- the protocol


def test_recipients_of_the_directory(make_policyd):
    pd = make_policyd(populate=directory)
    with pd.client() as c:
        # Postfix puts "<rcpt>: Recipient address rejected: " before the text itself.
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
        assert c.ask(recipient="carol@example.net") == "action=550 5.2.1 Mailbox disabled"
        assert c.ask(recipient="Alice@Example.NET") == "action=DUNNO"
        # Not a domain of ours: Postfix's own restrictions decide.
        assert c.ask(recipient="x@elsewhere.example") == "action=DUNNO"
        # The same connection, CRLF line ends, and the trusted network: still refused.
        req = PolicyClient.request(recipient="nobody@example.net", client_address=TRUSTED)
        c.send(req.replace("\n", "\r\n"))
        assert c.answer() == "action=550 5.1.1 User unknown"
    assert "policy reject RCPT from [203.0.113.7]" in pd.log_text()


def test_pipelined_requests_answered_in_order(make_policyd):
    pd = make_policyd(populate=directory)
    with pd.client() as c:
        c.send(PolicyClient.request(recipient="nobody@example.net") +
               PolicyClient.request(recipient="alice@example.net") +
               PolicyClient.request(protocol_state="DATA", recipient=""))
        assert c.answer() == "action=550 5.1.1 User unknown"
        assert c.answer() == "action=DUNNO"
        assert c.answer() == "action=DUNNO"


def test_requests_it_cannot_use_are_answered_dunno(make_policyd):
    pd = make_policyd(populate=directory)
    with pd.client() as c:
        assert c.ask(recipient="nobody@example.net", client_address=None) == "action=DUNNO"
        assert c.ask(recipient="nobody@example.net", client_address="unknown") == "action=DUNNO"
        assert c.ask(recipient="nobody@example.net", request="junk") == "action=DUNNO"
        assert c.ask(recipient="nobody@example.net", request=None) == "action=DUNNO"
        assert c.ask(recipient="nobody@example.net", protocol_state="DATA") == "action=DUNNO"
        assert c.ask(recipient="nobody@example.net", protocol_state="END-OF-MESSAGE") == \
            "action=DUNNO"
        c.send("\n")
        assert c.answer() == "action=DUNNO"
        # The connection is still good.
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
    text = pd.log_text()
    assert "request without a client_address: answered DUNNO" in text
    assert "request without a client_address: unknown: answered DUNNO" in text
    assert "request=junk is not smtpd_access_policy" in text


@pytest.mark.parametrize("garbage", [
    b"this is not the protocol\n\n",
    b"GET / HTTP/1.0\r\nHost: x\r\n\r\n",
    b"=value\n\n",
    b"name=" + b"x" * 5000 + b"\n\n",
    b"".join(b"n%d=v\n" % i for i in range(100)) + b"\n",
    b"a=1\nb=\x00\n\n",
], ids=["no-equals", "http", "no-name", "long-line", "too-many", "nul"])
def test_bytes_that_are_not_the_protocol_close_the_connection(make_policyd, garbage):
    pd = make_policyd(populate=directory)
    with pd.client() as c:
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
        c.send(garbage)
        assert c.answer() is None
    assert wait_for(lambda: "protocol error" in pd.log_text())
    # Still serving, the same process.
    with pd.client() as c:
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
    assert pd.proc.poll() is None


def test_greylisting_spares_trusted_and_authenticated_clients(make_policyd):
    pd = make_policyd(populate=directory, greylist_enable="yes", greylist_delay=2)
    with pd.client() as c:
        first = c.ask()
        assert first.startswith("action=450 4.7.1 Greylisted"), first
        assert c.ask(client_address=TRUSTED) == "action=DUNNO"
        assert c.ask(client_address="198.51.100.9", sasl_username="alice@example.net") == \
            "action=DUNNO"
        # Unknown recipients are refused before greylisting, from anyone.
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
        # The retry after greylist_delay passes.
        assert wait_for(lambda: c.ask() == "action=DUNNO", 30, 0.5)


def test_relay_domain_recipients_probed_at_the_next_hop(make_policyd):
    sink = PySink()
    sink.rcpt_replies = {"gone@relay.example": "550 5.1.1 <gone@relay.example>: no such user"}
    sink.start()
    try:
        def populate(pd):
            pd.ctl("domain", "add", "relay.example", "--kind", "relay", "--verify", "probe",
                   "--nexthop", f"[127.0.0.1]:{sink.port}")
        pd = make_policyd(populate=populate)
        with pd.client() as c:
            refused = c.ask(recipient="gone@relay.example")
            assert refused.startswith("action=550 5.1.1 undeliverable address: "), refused
            assert "no such user" in refused
            assert c.ask(recipient="here@relay.example") == "action=DUNNO"
            assert sink.sessions == 2
            # Both answers are remembered: nobody is asked again.
            assert c.ask(recipient="gone@relay.example").startswith("action=550 5.1.1")
            assert c.ask(recipient="here@relay.example") == "action=DUNNO"
            assert sink.sessions == 2
        assert sink.received() == []
    finally:
        sink.stop()


def test_reload_keeps_connections_and_applies_the_new_configuration(make_policyd):
    pd = make_policyd(populate=directory)
    with pd.client() as c:
        assert c.ask() == "action=DUNNO"
        pd.set(greylist_enable="yes", greylist_delay=3600)
        pd.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "configuration reloaded" in pd.log_text())
        # The same connection, a new client: greylisted under the new settings.
        answer = c.ask(client_address="198.51.100.20")
        assert answer.startswith("action=450 4.7.1 Greylisted"), answer
    # A configuration that does not load is refused, the running one kept.
    with open(pd.conf, "a") as f:
        f.write("no_such_parameter = 1\n")
    pd.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "reload failed" in pd.log_text())
    with pd.client() as c:
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"


def test_unix_socket_open_to_local_users_and_stale_socket_replaced(make_policyd):
    pd = make_policyd(start=False, populate=directory,
                      listen="unix:$spool_directory/run/policy")
    path = os.path.join(pd.spool, "run", "policy")
    # A socket left by a policyd killed with -9.
    os.makedirs(os.path.dirname(path))
    shutil.chown(os.path.dirname(path), "nobody")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    pd.start()
    assert "removed the stale socket" in pd.log_text()
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o666
    # The unprivileged user the tests' Postfix would be can connect.
    r = subprocess.run(["timeout", "60", "setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", sys.executable, "-c",
                        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
                        "s.sendall(sys.argv[2].encode()); print(s.recv(4096).decode(), end='')",
                        path, PolicyClient.request(recipient="nobody@example.net")],
                       capture_output=True, text=True)
    assert r.stdout == "action=550 5.1.1 User unknown\n\n", r
    # A second policyd on the same socket refuses to start.
    pd2 = PolicyD(pd.dir, name="second", listen=f"unix:{path}")
    pd2.start(wait=False)
    assert pd2.proc.wait(60) == 1
    assert "is served by another process" in pd2.log_text()
    with pd.client() as c:
        assert c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
    assert pd.stop() == 0
    assert not os.path.exists(path)


@pytest.mark.parametrize("listen,message", [
    ("", "policy_listen is empty"),
    ("tcp:127.0.0.1:1", "use unix:/path or inet:host:port"),
    ("inet:127.0.0.1", "bad listen address"),
    ("unix:relative/path", "absolute path"),
    ("unix:$spool_directory/file", "exists and is not a socket"),
])
def test_bad_policy_listen_is_a_startup_error(make_policyd, listen, message):
    pd = make_policyd(start=False)
    with open(os.path.join(pd.spool, "file"), "w") as f:
        f.write("not a socket\n")
    pd.set(policy_listen=listen)
    pd.start(wait=False)
    assert pd.proc.wait(60) == 1
    assert message in pd.log_text(), pd.log_text()
    # Nothing removed.
    assert os.path.exists(os.path.join(pd.spool, "file"))


# ---------------------------------------------------------------- under the master


@pytest.fixture
def daemon_dir(workdir):
    """A daemon_directory holding smtpd, qmgr and policyd of the build."""
    d = os.path.join(workdir, "libexec")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "policy/policyd"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


def test_master_starts_restarts_and_stops_policyd(make_facteur, daemon_dir):
    port = free_port()
    f = make_facteur(daemon_directory=daemon_dir, mynetworks="192.0.2.0/24",
                     policy_listen=f"inet:127.0.0.1:{port}")
    f.ctl("domain", "add", "example.net")
    assert wait_for(lambda: "policyd" in f.daemons()), f.log_tail()

    def serves(p):
        try:
            with PolicyClient(port=p) as c:
                return c.ask(recipient="nobody@example.net") == "action=550 5.1.1 User unknown"
        except OSError:
            return False
    assert wait_for(lambda: serves(port)), f.log_tail()
    # Killed: the master starts it again.
    old = f.daemons()["policyd"]
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: f.daemons().get("policyd") not in (None, old)), f.log_tail()
    assert wait_for(lambda: serves(port)), f.log_tail()
    # A new policy_listen: the master starts it anew there.
    port2 = free_port()
    f.set(policy_listen=f"inet:127.0.0.1:{port2}")
    f.reload()
    assert wait_for(lambda: serves(port2)), f.log_tail()
    assert not serves(port)
    # policy_listen emptied: stopped and not restarted.
    f.set(policy_listen="")
    f.reload()
    assert wait_for(lambda: "policyd" not in f.daemons()), f.log_tail()
    time.sleep(2)
    assert "policyd" not in f.daemons()
    assert "policyd" not in children_of(f.proc.pid)
    # And back.
    f.set(policy_listen=f"inet:127.0.0.1:{port}")
    f.reload()
    assert wait_for(lambda: serves(port)), f.log_tail()
    assert "smtpd" in f.daemons() and "qmgr" in f.daemons()


def test_master_without_policy_listen_starts_no_policyd(make_facteur, daemon_dir):
    f = make_facteur(daemon_directory=daemon_dir)
    time.sleep(1)
    assert set(f.daemons()) == {"smtpd", "qmgr"}


# ---------------------------------------------------------------- a real Postfix


class Postfix:
    """A private Postfix instance asking policyd at RCPT, relaying example.net to a sink."""

    def __init__(self, root, policy_service, relay_port):
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
relay_domains = example.net
relay_transport = relay:[127.0.0.1]:{relay_port}
maillog_file = {self.maillog}
maillog_file_prefixes = {self.dir}
smtpd_banner = $myhostname ESMTP
smtpd_peername_lookup = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
smtpd_recipient_restrictions = check_policy_service {policy_service},
    permit_mynetworks, reject_unauth_destination
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

    def run(self, *args):
        return subprocess.run(["timeout", "120", "postfix", "-c", self.conf] + list(args),
                              capture_output=True, text=True)

    def start(self):
        r = self.run("start")
        assert r.returncode == 0, f"postfix did not start: {r.stderr}\n{self.log_text()}"

        def ready():
            try:
                with RawSMTP(self.port, timeout=5) as c:
                    return c.reply()[0] == 220
            except OSError:
                return False
        assert wait_for(ready), f"postfix does not answer:\n{self.log_text()}"
        return self

    def stop(self):
        pid = None
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        self.run("stop")
        if pid is not None:
            wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30)

    def log_text(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


def swaks(port, rcpt, quit_after=None):
    """swaks against Postfix: (exit status, transcript)."""
    argv = ["timeout", "120", "swaks", "--server", f"127.0.0.1:{port}", "--helo", "client.example",
            "--from", "someone@sender.example", "--to", rcpt, "--header", f"Subject: to {rcpt}"]
    if quit_after:
        argv += ["--quit-after", quit_after]
    r = subprocess.run(argv, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


needs_postfix = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("postfix") is None or shutil.which("swaks") is None,
    reason="a private Postfix instance needs root, Postfix and swaks")


@pytest.fixture
def postfix_bench(make_policyd, workdir):
    """policyd (example.net: alice), a sink for example.net, and Postfix asking policyd."""
    sink = PySink().start()
    pd = make_policyd(populate=directory, greylist_enable="yes", greylist_delay=2)
    pfx = Postfix(workdir, f"inet:127.0.0.1:{pd.port}", sink.port)
    try:
        pfx.start()
        yield pd, pfx, sink
    finally:
        pfx.stop()
        sink.stop()


@needs_postfix
def test_postfix_refuses_unknown_recipients_with_facteurs_reply(postfix_bench):
    pd, pfx, sink = postfix_bench
    rc, out = swaks(pfx.port, "nobody@example.net", quit_after="RCPT")
    assert rc != 0
    assert "<** 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown" in out, out
    rc, out = swaks(pfx.port, "carol@example.net", quit_after="RCPT")
    assert "<** 550 5.2.1 <carol@example.net>: Recipient address rejected: Mailbox disabled" in out, out
    assert "policy reject RCPT from [127.0.0.1]" in pd.log_text()
    assert "reject: RCPT from" in pfx.log_text()


@needs_postfix
def test_postfix_greylists_then_accepts_the_retry(postfix_bench):
    pd, pfx, sink = postfix_bench
    rc, out = swaks(pfx.port, "alice@example.net")
    assert rc != 0
    assert "<** 450 4.7.1 <alice@example.net>: Recipient address rejected: Greylisted" in out, out
    assert sink.received() == []

    def retry():
        return swaks(pfx.port, "alice@example.net")
    # Retries before greylist_delay are refused again; then one goes through.
    assert wait_for(lambda: retry()[0] == 0, 60, 0.5), pd.log_text()[-3000:]
    assert sink.wait_count(1), pfx.log_text()[-3000:]
    msg = sink.received()[0]
    assert msg.rcpts == ["alice@example.net"]
    assert msg.header("Subject") == "to alice@example.net"
    assert "passed after" in pd.log_text()


@needs_postfix
def test_postfix_default_action_when_policyd_is_gone(postfix_bench):
    pd, pfx, sink = postfix_bench
    assert pd.stop() == 0
    rc, out = swaks(pfx.port, "nobody@example.net", quit_after="RCPT")
    # Postfix's smtpd_policy_service_default_action: a temporary failure, never a loss.
    assert "<** 451 4.3.5" in out, out
    pd.start()
    rc, out = swaks(pfx.port, "nobody@example.net", quit_after="RCPT")
    assert "<** 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown" in out, out


@needs_postfix
def test_postfix_over_a_unix_socket(make_policyd, workdir):
    pd = make_policyd(populate=directory, listen="unix:$spool_directory/run/policy")
    pfx = Postfix(workdir, f"unix:{pd.spool}/run/policy", free_port())
    try:
        pfx.start()
        rc, out = swaks(pfx.port, "nobody@example.net", quit_after="RCPT")
        assert "<** 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown" in out, \
            out + pfx.log_text()[-2000:]
        rc, out = swaks(pfx.port, "alice@example.net", quit_after="RCPT")
        assert "<-  250 2.1.5" in out, out
    finally:
        pfx.stop()
