# SPDX-License-Identifier: MIT
"""Helpers of the integration tests: the real facteur daemons, a scriptable
SMTP sink, Postfix's smtp-sink, a private unbound, and a raw SMTP client.

Everything runs on loopback in a temporary directory.  Nothing here asserts
on time: waits poll a condition up to a generous deadline and the caller
asserts on the result.
"""
import base64
import json
import os
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("FACTEUR_SRCDIR") or os.path.dirname(os.path.dirname(HERE))


def _default_builddir():
    env = os.environ.get("FACTEUR_BUILDDIR")
    if env:
        return env
    local = os.path.join(os.getcwd(), "build")
    if os.path.exists(os.path.join(local, "appliance", "facteur")):
        return local
    if os.path.exists(os.path.join(os.getcwd(), "appliance", "facteur")):
        return os.getcwd()
    return "/tmp/bi"


BUILDDIR = os.path.abspath(_default_builddir())
FACTEUR = os.path.join(BUILDDIR, "appliance", "facteur")
FACTEURCTL = os.path.join(BUILDDIR, "appliance", "facteurctl")
DAEMON_DIR = os.path.join(BUILDDIR, "mta")

# Generous: the suite must also pass under ASan on a loaded 2-core box.
DEADLINE = 60.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:")

# The user of smtpd_auth_file.
USER = "alice"
PASSWORD = "s3cret-alice"


def wait_for(cond, timeout=DEADLINE, interval=0.05):
    """Poll cond() until it returns a true value or timeout passes; return its last value."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval)


_used_ports = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port(udp_too=False):
    """A loopback port nobody listens on now (TCP, and UDP if asked).

    Chosen below the kernel's ephemeral range: a port from that range can
    be taken by any outgoing connection (a load generator's, qmgr's) while
    its daemon is down, and the restarted daemon could not bind it again."""
    lo, hi = _ephemeral_range()
    top = lo - 1 if lo > 12000 else 32767
    for _ in range(500):
        port = random.randint(10000, top)
        if port in _used_ports:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", port))
            if udp_too:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
        except OSError:
            continue
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port")


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def make_workdir(prefix):
    """A temporary directory the unprivileged daemons can traverse."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d


def pids_with_arg(text):
    """Pids of processes whose command line contains text (our own unique paths)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and int(name) != os.getpid():
            out.append(int(name))
    return out


def children_of(pid):
    """{comm: pid} of the live children of pid."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            out[comm] = int(name)
    return out


# ---------------------------------------------------------------- raw SMTP


class RawSMTP:
    """A byte-exact SMTP client: send what you want, read replies one by one."""

    def __init__(self, port, host="127.0.0.1", timeout=30, implicit_tls=False):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        if implicit_tls:
            self._wrap()

    def _wrap(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server (read so far: %r)" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One whole reply: (code, [text lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name="client.test"):
        return self.cmd("EHLO " + name)

    def starttls(self):
        code, text = self.cmd("STARTTLS")
        assert code == 220, (code, text)
        self._wrap()

    def auth_plain(self, user, password):
        tok = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd("AUTH PLAIN " + tok)

    def closed(self, timeout=30):
        """True if the server closes the connection (after any pending bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def nothing_pending(self, wait=0.3):
        """No reply bytes beyond what was read (checked with a short peek)."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
            self.buf += chunk
            return False if chunk else True
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(30)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def simple_message(subject="test", test_id=None, body="Hello.\r\n", sender="sender@example.org",
                   to="rcpt@example.org", extra=""):
    hdr = f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
    if test_id is not None:
        hdr += f"X-Test-Id: {test_id}\r\n"
    return hdr + extra + "\r\n" + body


# ---------------------------------------------------------------- facteur


class Facteur:
    """One facteur instance: its config, spool, master process and logs."""

    def __init__(self, root, name="facteur", auth_file=None, **overrides):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.conf = os.path.join(self.dir, "facteur.conf")
        self.log_path = os.path.join(self.dir, "facteur.log")
        self.smtp_port = free_port()
        self.submission_port = free_port()
        self.smtps_port = free_port()
        self.params = {
            "spool_directory": self.spool,
            "daemon_directory": DAEMON_DIR,
            "smtp_listen": f"127.0.0.1:{self.smtp_port}",
            "submission_listen": f"127.0.0.1:{self.submission_port}",
            "smtps_listen": f"127.0.0.1:{self.smtps_port}",
            "myhostname": "mx.test",
            "mail_owner": "nobody",
            "local_domains": "example.org",
            "relay_domains": "relay.test",
            "log_level": "debug",
            # The filter runs on every message; its network and rule parts
            # are switched on by the tests that give them DNS and rules.
            "filter_rules": "",
            "spf_enable": "no",
            "dkim_verify": "no",
            "dmarc_enable": "no",
            "arc_enable": "no",
            "dkim_sign": "no",
            "av_database_directory": os.path.join(self.dir, "clamav"),

        }
        if auth_file:
            self.params["smtpd_auth_file"] = auth_file
        self.transport = {}
        self.tls_policy = {}
        self.spam_policy = {}
        self.extra_lines = []
        self.params.update({k: str(v) for k, v in overrides.items()})
        self.proc = None
        self.write_config()

    # -- configuration

    def set(self, **kv):
        self.params.update({k: str(v) for k, v in kv.items()})
        self.write_config()

    def config_text(self):
        lines = ["# written by tests/integration"]
        lines += [f"{k} = {v}" for k, v in self.params.items()]
        lines += self.extra_lines
        for section, table in (("transport", self.transport), ("tls_policy", self.tls_policy),
                               ("spam_policy", self.spam_policy)):
            if table:
                lines.append(f"[{section}]")
                lines += [f"{k} = {v}" for k, v in table.items()]
        return "\n".join(lines) + "\n"

    def write_config(self):
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.config_text())
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.conf)

    # -- processes

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.write_config()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([FACTEUR, "-c", self.conf, "-f"], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=DEADLINE):
        """The master runs, smtpd answers with a banner, qmgr listens on its control socket."""
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"facteur exited with {self.proc.returncode}:\n{self.log_tail()}")
            kids = children_of(self.proc.pid)
            if "smtpd" not in kids or "qmgr" not in kids:
                return False
            if not self.qmgr_listening():
                return False
            try:
                with RawSMTP(self.smtp_port, timeout=5) as c:
                    return c.reply()[0] == 220
            except OSError:
                return False
        if not wait_for(ready, timeout, 0.05):
            raise RuntimeError(f"facteur did not become ready:\n{self.log_tail()}")

    def qmgr_listening(self):
        path = os.path.join(self.spool, "run", "qmgr.ctl")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(path)
                return True
            except OSError:
                return False

    def daemons(self):
        """{"smtpd": pid, "qmgr": pid} of the running children."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        return children_of(self.proc.pid)

    def kill9(self, daemon, wait_restart=True):
        """kill -9 one daemon; by default wait until the master restarted it."""
        old = self.daemons().get(daemon)
        assert old, f"{daemon} is not running: {self.daemons()}"
        os.kill(old, signal.SIGKILL)
        if wait_restart:
            ok = wait_for(lambda: self.daemons().get(daemon) not in (None, old))
            assert ok, (f"{daemon} was not restarted (old pid {old}, master {self.proc.pid}, "
                        f"children {children_of(self.proc.pid)}):\n{self.log_tail()}")
            self.wait_ready()
        return old

    def kill9_master(self):
        """kill -9 the master itself; returns the pids of its daemons at that moment."""
        kids = self.daemons()
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        return kids

    def reload(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self, timeout=30):
        """SIGTERM the master; return its exit status (None if it had to be killed)."""
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc is not None:
            rc = self.proc.returncode
        return rc

    def strays(self):
        """Processes still running with our configuration file."""
        return pids_with_arg(self.conf)

    def kill_strays(self):
        killed = []
        for pid in self.strays():
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        wait_for(lambda: not self.strays(), 10)
        return killed

    # -- logs

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def sanitizer_reports(self):
        """Sanitizer reports in the daemons' stderr or in facteurctl's."""
        text = self.log_text()
        try:
            with open(os.path.join(self.dir, "facteurctl.log")) as f:
                text += f.read()
        except FileNotFoundError:
            pass
        return [m for m in SANITIZER_MARKERS if m in text]

    def sanitizer_excerpt(self, marker, lines=30):
        text = self.log_text()
        try:
            with open(os.path.join(self.dir, "facteurctl.log")) as f:
                text += f.read()
        except FileNotFoundError:
            pass
        all_lines = text.splitlines()
        for i, line in enumerate(all_lines):
            if marker in line:
                return "\n".join(all_lines[max(0, i - 2):i + lines])
        return ""

    # -- facteurctl

    def ctl(self, *args, json_out=False, check=True):
        argv = [FACTEURCTL, "-c", self.conf] + (["-j"] if json_out else []) + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if any(m in r.stderr for m in SANITIZER_MARKERS):
            with open(os.path.join(self.dir, "facteurctl.log"), "a") as log:
                log.write(f"$ {' '.join(argv)}\n{r.stderr}\n")
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def stats(self):
        return json.loads(self.ctl("stats", json_out=True).stdout)

    def queue_list(self):
        out = self.ctl("queue", "list", json_out=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def queue_files(self, state="incoming"):
        d = os.path.join(self.spool, state)
        try:
            return sorted(os.listdir(d))
        except FileNotFoundError:
            return []

    def all_queue_files(self):
        return {s: self.queue_files(s) for s in ("incoming", "active", "deferred", "hold", "corrupt",
                                                 "quarantine")}

    def temp_files(self):
        """smtpd's files being written (or left by a writer killed with -9)."""
        return [n for n in self.queue_files("incoming") if n.startswith("t.")]

    def queue_empty(self, allow_temp=False):
        files = self.all_queue_files()
        if allow_temp:
            files["incoming"] = [n for n in files["incoming"] if not n.startswith("t.")]
        return not any(files.values())

    def wait_queue_empty(self, timeout=DEADLINE, allow_temp=False):
        return wait_for(lambda: self.queue_empty(allow_temp), timeout)

    def mailbox(self):
        """{file name: bytes} of the default local delivery directory."""
        d = os.path.join(self.spool, "mailbox")
        out = {}
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return out
        for n in names:
            if n.endswith(".eml"):
                with open(os.path.join(d, n), "rb") as f:
                    out[n] = f.read()
        return out

    def wait_mailbox(self, count=1, timeout=DEADLINE):
        return wait_for(lambda: len(self.mailbox()) >= count, timeout) and self.mailbox()

    def mailbox_for(self, qid):
        return {k: v for k, v in self.mailbox().items() if k.startswith(qid + ".")}


# ---------------------------------------------------------------- a Python sink


class SinkMessage:
    def __init__(self, mail_from, rcpts, data, tls, helo, mail_line="", rcpt_lines=(),
                 chunked=False):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.data = data
        self.tls = tls
        self.helo = helo
        self.mail_line = mail_line      # the MAIL command as received
        self.rcpt_lines = list(rcpt_lines)  # the accepted RCPT commands
        self.chunked = chunked          # received with BDAT

    def header(self, name):
        m = re.search(rb"^" + name.encode() + rb":[ \t]*(.*?)\r?$", self.data.split(b"\r\n\r\n")[0],
                      re.M | re.I)
        return m.group(1).decode() if m else None


class PySink:
    """A threaded SMTP server that stores every message it accepts.

    rcpt_replies maps a recipient address (lower case) to the reply its RCPT
    gets (default "250 2.1.5 Ok"); with a certificate it offers STARTTLS.
    """

    def __init__(self, port=None, certfile=None, keyfile=None, hostname="sink.test",
                 extensions=("PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES",
                             "DSN", "SMTPUTF8")):
        self.port = port or free_port()
        self.hostname = hostname
        self.extensions = list(extensions)
        # Misbehaviours a test may ask for:
        self.banner = f"220 {hostname} ESMTP pysink"  # None: accept and say nothing
        self.mail_reply = None      # reply to MAIL instead of 250
        self.data_reply = None      # reply at the end of DATA instead of 250
        self.drop_in_data = False   # close the connection in the middle of DATA
        self.rcpt_replies = {}
        self.messages = []
        self.sessions = 0
        self.lock = threading.Lock()
        self.ssl_ctx = None
        if certfile:
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_ctx.load_cert_chain(certfile, keyfile)
        self._stop = False
        self._conns = []
        self.listener = None
        self.thread = None

    def start(self):
        assert port_is_free(self.port), f"port {self.port} is already in use"
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(128)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self._stop = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def _accept_loop(self):
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self._conns.append(conn)
                self.sessions += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        try:
            self._serve(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _serve(self, conn):
        conn.settimeout(120)
        rfile = conn.makefile("rb")

        def send(text):
            conn.sendall(text.encode() + b"\r\n")

        tls = False
        helo = None
        mail_from = None
        mail_line = ""
        rcpts = []
        rcpt_lines = []
        chunks = []

        def store(data, chunked):
            with self.lock:
                self.messages.append(SinkMessage(mail_from, list(rcpts), data, tls, helo,
                                                 mail_line, rcpt_lines, chunked))
                return len(self.messages)

        if self.banner is None:
            while rfile.readline(4096):
                pass
            return
        send(self.banner)
        if not self.banner.startswith("2"):
            rfile.readline(4096)
            return
        while True:
            raw = rfile.readline(4096)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                helo = line[5:]
                ext = list(self.extensions)
                if self.ssl_ctx is not None and not tls:
                    ext.append("STARTTLS")
                lines = [self.hostname] + ext
                send("\r\n".join(f"250-{x}" for x in lines[:-1]) + f"\r\n250 {lines[-1]}")
            elif verb == "HELO":
                helo = line[5:]
                send(f"250 {self.hostname}")
            elif verb == "STARTTLS" and self.ssl_ctx is not None and not tls:
                send("220 2.0.0 Ready to start TLS")
                conn = self.ssl_ctx.wrap_socket(conn, server_side=True)
                with self.lock:
                    self._conns.append(conn)
                rfile = conn.makefile("rb")
                tls = True
                helo = None
                mail_from, rcpts = None, []
            elif verb == "MAIL":
                m = re.match(r"MAIL FROM:\s*<([^>]*)>", line, re.I)
                if self.mail_reply is not None:
                    send(self.mail_reply)
                    continue
                mail_from = m.group(1) if m else line
                mail_line = line
                rcpts, rcpt_lines, chunks = [], [], []
                send("250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"RCPT TO:\s*<([^>]*)>", line, re.I)
                addr = m.group(1) if m else line
                reply = self.rcpt_replies.get(addr.lower(), "250 2.1.5 Ok")
                if mail_from is None:
                    reply = "503 5.5.1 Error: need MAIL command"
                if reply.startswith("2"):
                    rcpts.append(addr)
                    rcpt_lines.append(line)
                send(reply)
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    send("554 5.5.1 Error: no valid recipients")
                    continue
                send("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    raw = rfile.readline()
                    if not raw:
                        return
                    if self.drop_in_data:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    if raw == b".\r\n":
                        break
                    if raw.startswith(b"."):
                        raw = raw[1:]
                    chunks.append(raw)
                if self.data_reply is not None:
                    send(self.data_reply)
                    mail_from, rcpts, chunks = None, [], []
                    continue
                n = store(b"".join(chunks), False)
                send(f"250 2.0.0 Ok: queued as SINK{n}")
                mail_from, rcpts, chunks = None, [], []
            elif verb == "BDAT" and "CHUNKING" in self.extensions:
                m = re.match(r"BDAT (\d+)( LAST)?$", line, re.I)
                if not m:
                    send("501 5.5.4 Syntax: BDAT size [LAST]")
                    continue
                data = rfile.read(int(m.group(1)))
                if mail_from is None or not rcpts:
                    send("503 5.5.1 Error: need MAIL and RCPT")
                    continue
                chunks.append(data)
                if m.group(2):
                    n = store(b"".join(chunks), True)
                    send(f"250 2.0.0 Ok: queued as SINK{n}")
                    mail_from, rcpts, chunks = None, [], []
                else:
                    send(f"250 2.0.0 Ok: {len(data)} octets")
            elif verb == "RSET":
                mail_from, rcpts, chunks = None, [], []
                send("250 2.0.0 Ok")
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            else:
                send("502 5.5.2 Error: command not recognized")

    def received(self):
        with self.lock:
            return list(self.messages)

    def wait_count(self, n, timeout=DEADLINE):
        return wait_for(lambda: len(self.received()) >= n, timeout)

    def test_ids(self):
        return {m.header("X-Test-Id") for m in self.received()}


# ---------------------------------------------------------------- Postfix's smtp-sink


def stop_process(proc):
    """SIGTERM a helper server, SIGKILL it if it lingers."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PostfixSink:
    """/usr/sbin/smtp-sink dumping each message to a file of its own."""

    def __init__(self, workdir):
        self.port = free_port()
        self.dir = os.path.join(workdir, "smtp-sink")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.proc = None

    def start(self):
        # A second smtp-sink on the same port would silently share the load.
        assert port_is_free(self.port), f"port {self.port} is already in use"
        self.log = open(os.path.join(os.path.dirname(self.dir), "smtp-sink.log"), "ab")
        self.proc = subprocess.Popen(
            ["/usr/sbin/smtp-sink"] + (["-u", "nobody"] if os.geteuid() == 0 else []) +
            ["-d", os.path.join(self.dir, "msg."), f"127.0.0.1:{self.port}", "1000"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("smtp-sink exited")
            try:
                with RawSMTP(self.port, timeout=5) as c:
                    return c.reply()[0] == 220
            except OSError:
                return False
        assert wait_for(ready), "smtp-sink did not start"
        return self

    def stop(self):
        stop_process(self.proc)
        self.log.close()

    def files(self):
        return sorted(n for n in os.listdir(self.dir) if n.startswith("msg."))

    def contents(self):
        out = []
        for n in self.files():
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        return out


# ---------------------------------------------------------------- unbound


def dns_query(port, name, qtype=1, timeout=2.0):
    """(rcode, answer count) of a UDP query to 127.0.0.1:port, or None."""
    qid = random.randint(0, 0xFFFF)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, ("127.0.0.1", port))
            data, _ = s.recvfrom(4096)
        except OSError:
            return None
    rid, flags, _qd, an = struct.unpack(">HHHH", data[:8])
    if rid != qid:
        return None
    return flags & 0xF, an


class Unbound:
    """A private unbound serving the test. zone from local-data."""

    def __init__(self, workdir, records):
        self.dir = os.path.join(workdir, "unbound")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port(udp_too=True)
        self.conf = os.path.join(self.dir, "unbound.conf")
        data = "\n".join(f'    local-data: "{r}"' for r in records)
        with open(self.conf, "w") as f:
            f.write(f"""server:
    interface: 127.0.0.1
    port: {self.port}
    do-not-query-localhost: no
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{self.dir}"
    pidfile: "{self.dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    local-zone: "test." static
{data}
""")
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "unbound.log"), "ab")
        self.proc = subprocess.Popen(["/usr/sbin/unbound", "-d", "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited: see " + self.dir)
            r = dns_query(self.port, "test.", 6, 0.5)
            return r is not None
        assert wait_for(ready), "unbound did not answer"
        return self

    def stop(self):
        stop_process(self.proc)
        self.log.close()
