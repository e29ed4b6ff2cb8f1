# SPDX-License-Identifier: MIT
"""The policy's shared state (policy/state.h) with greylisting and rate
limits on it, through a real redis-server (TCP and unix socket) and the
embedded SQLite file, driven by policy/pstate_test: the operations, two
processes sharing counts, and a Redis that stops, hangs, comes back or
wants a password."""
import os
import select
import signal
import socket
import subprocess
import time

import pytest

from facteur_it import (BUILDDIR, DEADLINE, SANITIZER_MARKERS, free_port, stop_process,
                        wait_for)

PSTATE_TEST = os.path.join(BUILDDIR, "policy", "pstate_test")


class Redis:
    """redis-server on a free loopback port and a unix socket in d, no persistence."""

    def __init__(self, d, password=None, port=None):
        self.dir = d
        self.port = port or free_port()
        self.socket = os.path.join(d, "redis.sock")
        self.password = password
        self.proc = None
        self.start()

    def start(self):
        # "-::1": IPv6 loopback when the host has it.
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "-::1",
                "--unixsocket", self.socket, "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args)
        assert wait_for(lambda: self.cli("PING") == "PONG"), "redis-server did not start"

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def cli(self, *args):
        cmd = ["timeout", "10", "redis-cli", "-s", self.socket]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True)
        return r.stdout.strip()


class Driver:
    """One pstate_test process: commands in, one answer a line out."""

    def __init__(self, spec, conf, name="driver"):
        self.stderr_path = os.path.join(os.path.dirname(conf), name + ".stderr")
        self.stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(["timeout", "600", PSTATE_TEST, "-c", conf, spec],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.buf = b""

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def answers(self, n):
        """The next n answers."""
        out = []
        fd = self.proc.stdout.fileno()
        while len(out) < n:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                out.append(line.decode())
                continue
            ready, _, _ = select.select([fd], [], [], DEADLINE)
            assert ready, f"no answer after {out!r}"
            data = os.read(fd, 65536)
            assert data, f"pstate_test exited after {out!r}: {self.log()}"
            self.buf += data
        return out

    def cmd(self, line):
        self.send(line + "\n")
        return self.answers(1)[0]

    def log(self):
        if not self.stderr.closed:
            self.stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def close(self):
        """Close its input; its exit status (a sanitizer report fails the test)."""
        self.proc.stdin.close()
        rc = self.proc.wait(60)
        self.stderr.close()
        log = self.log()
        assert not any(m in log for m in SANITIZER_MARKERS), log
        return rc


def write_conf(d, **params):
    path = os.path.join(d, "facteur.conf")
    with open(path, "w") as f:
        f.write(f"spool_directory = {d}\n")
        for k, v in params.items():
            f.write(f"{k} = {v}\n")
    return path


@pytest.fixture
def redis(workdir):
    r = Redis(workdir)
    yield r
    r.stop()


@pytest.fixture(params=["sqlite", "redis-unix", "redis-tcp"])
def spec(request, workdir):
    if request.param == "sqlite":
        yield "sqlite:" + os.path.join(workdir, "state.db")
        return
    r = Redis(workdir)
    yield f"redis:unix:{r.socket}" if request.param == "redis-unix" else f"redis:127.0.0.1:{r.port}"
    r.stop()


def test_operations(spec, workdir):
    conf = write_conf(workdir)
    d = Driver(spec, conf)
    assert d.cmd("backend") == spec.split(":")[0]
    assert d.cmd("get k") == "absent"
    assert d.cmd("incr k 5 100") == "ok 5"
    assert d.cmd("incr k -2 100") == "ok 3"
    assert d.cmd("get k") == "ok 3"
    assert d.cmd("set s 42 100") == "ok"
    assert d.cmd("get s") == "ok 42"
    assert d.cmd("set s -7 0") == "ok"
    assert d.cmd("get s") == "ok -7"
    assert d.cmd("add a 1 100") == "added"
    assert d.cmd("add a 2 100") == "exists 1"
    assert d.cmd("get a") == "ok 1"
    # Keys with a short life: gone after it, and an incr starts again.
    assert d.cmd("set t 1 1") == "ok"
    assert d.cmd("incr w 10 1") == "ok 10"
    assert d.cmd("add n 5 1") == "added"
    time.sleep(2.2)
    assert d.cmd("get t") == "absent"
    assert d.cmd("incr w 1 100") == "ok 1"
    assert d.cmd("add n 6 100") == "added"
    assert d.cmd("get n") == "ok 6"
    # A cancelled op never answers (the driver exits 3 if it does).
    assert d.cmd("cancel c") == "ok"
    assert d.cmd("get k") == "ok 3"
    assert d.cmd("nonsense") == "error unknown command"
    assert d.close() == 0


def test_redis_keys_and_fixed_window(redis, workdir):
    d = Driver(f"redis:unix:{redis.socket}", write_conf(workdir))
    assert d.cmd("incr win 1 100") == "ok 1"
    ttl = int(redis.cli("TTL", "facteur:win"))
    assert 0 < ttl <= 100
    # Later increments do not extend the window.
    redis.cli("EXPIRE", "facteur:win", "50")
    assert d.cmd("incr win 1 100") == "ok 2"
    assert 0 < int(redis.cli("TTL", "facteur:win")) <= 50
    assert d.cmd("set keep 3 0") == "ok"
    assert redis.cli("TTL", "facteur:keep") == "-1"
    # A value that is not a number is an error, not a crash.
    redis.cli("SET", "facteur:text", "hello")
    assert d.cmd("get text") == "error"
    assert d.cmd("incr text 1 10") == "error"
    assert d.cmd("get win") == "ok 2"
    assert d.close() == 0


def test_greylist_and_rates(spec, workdir):
    conf = write_conf(workdir, greylist_delay=1, greylist_auto_allow=2)
    d = Driver(spec, conf)
    assert d.cmd("greylist 192.0.2.10 bob@example.org alice@example.net") == "defer 1"
    # The same triplet: another host of the /24, a new BATV tag, another case.
    r = d.cmd("greylist 192.0.2.11 prvs=0123456789=Bob@Example.org ALICE@example.net")
    assert r in ("defer 1", "pass")
    time.sleep(1.5)
    assert d.cmd("greylist 192.0.2.10 bob@example.org alice@example.net") == "pass"
    assert d.cmd("greylist 192.0.2.10 bob@example.org alice@example.net") == "pass"
    # Another network is another triplet.
    assert d.cmd("greylist 198.51.100.1 bob@example.org alice@example.net") == "defer 1"
    # A second triplet passes: the /24 is allowed from then on.
    assert d.cmd("greylist 192.0.2.10 <> alice@example.net") == "defer 1"
    time.sleep(1.5)
    assert d.cmd("greylist 192.0.2.10 <> alice@example.net") == "pass"
    assert d.cmd("greylist 192.0.2.99 new@example.com other@example.net") == "pass"
    assert d.cmd("greylist 2001:db8::1 bob@example.org alice@example.net") == "defer 1"
    assert d.cmd("greylist not-an-ip bob@example.org alice@example.net") == "error"

    for i in range(1, 4):
        assert d.cmd("rate client_msg 192.0.2.0/24 3/1h 1").startswith(f"ok over=0 value={i} ")
    assert d.cmd("rate client_msg 192.0.2.0/24 3/1h 1").startswith("ok over=1 value=4 ")
    assert d.cmd("rate client_msg 198.51.100.0/24 3/1h 2").startswith("ok over=0 value=2 ")
    assert d.cmd("rate client_msg x - 1") == "ok over=0 value=0 retry=0"
    assert d.cmd("rate client_msg x 10/never 1") == "error"
    assert "want COUNT/PERIOD" in d.log()
    assert d.close() == 0


def test_two_processes_share_counts(spec, workdir):
    conf = write_conf(workdir, greylist_delay=1)
    a = Driver(spec, conf, "a")
    b = Driver(spec, conf, "b")
    for i in range(1, 21):
        assert (a if i % 2 else b).cmd("incr shared 1 100") == f"ok {i}"
    assert b.cmd("add once 1 100") == "added"
    assert a.cmd("add once 2 100") == "exists 1"
    # Greylisted by one relay, passed by the other.
    assert a.cmd("greylist 203.0.113.5 s@example.org r@example.net") == "defer 1"
    time.sleep(1.5)
    assert b.cmd("greylist 203.0.113.6 s@example.org r@example.net") == "pass"
    assert a.cmd("rate user_rcpt alice 3/1h 2").startswith("ok over=0 value=2 ")
    assert b.cmd("rate user_rcpt alice 3/1h 2").startswith("ok over=1 value=4 ")
    assert a.close() == 0
    assert b.close() == 0


def test_concurrent_increments(spec, workdir):
    """Processes started together on one state: every increment is atomic."""
    conf = write_conf(workdir)
    drivers = [Driver(spec, conf, f"p{i}") for i in range(4)]
    for d in drivers:
        d.send("incr race 1 100\n" * 150)
    seen = []
    for d in drivers:
        answers = d.answers(150)
        values = [int(a.split()[1]) for a in answers if a.startswith("ok ")]
        assert len(values) == 150, answers
        assert values == sorted(values)
        seen += values
    assert sorted(seen) == list(range(1, 601))
    assert drivers[0].cmd("get race") == "ok 600"
    for d in drivers:
        assert d.close() == 0


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback")
def test_redis_ipv6_address(redis, workdir):
    d = Driver(f"redis:[::1]:{redis.port}", write_conf(workdir))
    assert d.cmd("incr v6 3 100") == "ok 3"
    assert d.close() == 0
    assert redis.cli("GET", "facteur:v6") == "3"


def retry_until_ok(d, line):
    """Repeat line until it succeeds (reconnects are one a second): its last answer."""
    last = []

    def ok():
        last[:] = [d.cmd(line)]
        return last[0] != "error"
    wait_for(ok, interval=0.3)
    return last[0]


def test_redis_down_and_back(redis, workdir):
    d = Driver(f"redis:127.0.0.1:{redis.port}", write_conf(workdir))
    assert d.cmd("incr k 1 100") == "ok 1"
    redis.stop()
    assert d.cmd("incr k 1 100") == "error"
    assert d.cmd("get k") == "error"
    assert d.cmd("greylist 192.0.2.1 a@example.org b@example.net") == "error"
    assert d.cmd("rate client_msg x 5/1h 1") == "error"
    redis.start()
    # Nothing was saved: the counter starts again.
    assert retry_until_ok(d, "incr k 1 100") == "ok 1"
    assert d.cmd("get k") == "ok 1"
    assert "127.0.0.1" in d.log()
    assert d.close() == 0


def test_redis_hanging(redis, workdir):
    """A server that accepts but does not answer: error after the timeout, then back."""
    d = Driver(f"redis:unix:{redis.socket}", write_conf(workdir))
    assert d.cmd("incr k 1 100") == "ok 1"
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        assert d.cmd("incr k 1 100") == "error"
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    # The stalled incr may or may not have run when the server woke up.
    assert retry_until_ok(d, "get k") in ("ok 1", "ok 2")
    assert "no reply" in d.log()
    assert d.close() == 0


def test_redis_password(workdir):
    r = Redis(workdir, password="s3cret pass")
    try:
        good = Driver(f"redis:unix:{r.socket}",
                      write_conf(workdir, policy_state_password="s3cret pass"), "good")
        assert good.cmd("incr k 4 100") == "ok 4"
        assert good.close() == 0
        assert r.cli("GET", "facteur:k") == "4"
        bad_dir = os.path.join(workdir, "bad")
        os.mkdir(bad_dir)
        bad = Driver(f"redis:unix:{r.socket}",
                     write_conf(bad_dir, policy_state_password="not-the-pw-4711"), "bad")
        assert bad.cmd("incr k 1 100") == "error"
        assert bad.close() == 0
        log = bad.log()
        assert "AUTH" in log
        assert "not-the-pw-4711" not in log
        none = Driver(f"redis:unix:{r.socket}", write_conf(bad_dir), "none")
        assert none.cmd("get k") == "error"
        assert none.close() == 0
        assert r.cli("GET", "facteur:k") == "4"
    finally:
        r.stop()


@pytest.mark.parametrize("bad", ["redis:", "redis:host", "redis:host:0", "redis:host:99999",
                                 "redis:::1:6379", "redis:unix:relative", "memcache:x",
                                 "sqlite:", "sqlite:/nonexistent-dir/state.db"])
def test_bad_spec(bad, workdir):
    r = subprocess.run(["timeout", "30", PSTATE_TEST, "-c", write_conf(workdir), bad],
                       input="backend\n", capture_output=True, text=True)
    assert r.returncode == 1
    assert "policy_state" in r.stderr and r.stdout == ""


def test_default_sqlite_path(workdir):
    """No spec: sqlite in $spool_directory/policy, created 0750."""
    d = Driver("", write_conf(workdir))
    assert d.cmd("backend") == "sqlite"
    assert d.cmd("incr k 1 100") == "ok 1"
    assert d.close() == 0
    assert os.path.exists(os.path.join(workdir, "policy", "state.db"))
    assert os.stat(os.path.join(workdir, "policy")).st_mode & 0o777 == 0o750
