# SPDX-License-Identifier: MIT
"""Durability: a 250 means the message is on disk.  kill -9 of any process
under load loses nothing that was acknowledged (duplicates are allowed);
a full spool refuses mail cleanly and recovers when space comes back."""
import os
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from facteur_it import RawSMTP, simple_message, wait_for


class Load:
    """16 client threads, each sending numbered messages over a kept connection
    until told to stop, reconnecting after any error.  acked holds the ids of
    the messages that got a 250."""

    def __init__(self, port, threads=16, rcpt="user@relay.test"):
        self.port = port
        self.rcpt = rcpt
        self.acked = set()
        self.attempted = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                        for k in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acked)

    def _run(self, k):
        seq = 0
        deadline = time.monotonic() + 240
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
                    s.ehlo("load.test")
                    while not self.stop.is_set():
                        tid = f"t{k}-m{seq}"
                        seq += 1
                        with self.lock:
                            self.attempted += 1
                        s.sendmail("load@example.org", [self.rcpt],
                                   simple_message(test_id=tid, body=f"message {tid}\r\n" * 20))
                        with self.lock:
                            self.acked.add(tid)
            except (smtplib.SMTPException, OSError):
                with self.lock:
                    self.errors += 1
                time.sleep(0.1)  # the server is restarting: do not spin

    def join(self, timeout=60):
        end = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self.threads)


@pytest.fixture
def relay(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    return f


@pytest.mark.slow
def test_kill9_under_load_loses_nothing(relay, sink):
    step = 150  # messages acknowledged between two blows

    def more(n):
        mark = load.count()
        return wait_for(lambda: load.count() >= mark + n, 120)

    load = Load(relay.smtp_port).start()
    try:
        assert more(step), relay.log_tail()
        relay.kill9("smtpd")
        assert more(step), relay.log_tail()
        relay.kill9("qmgr")
        assert more(step), relay.log_tail()
        orphans = relay.kill9_master()
        assert set(orphans) == {"smtpd", "qmgr"}
        # Its daemons must follow it, or the new master could not bind (and two
        # qmgrs would share the spool).
        assert wait_for(lambda: not relay.strays()), \
            f"daemons survived their master: {relay.strays()}"
        relay.start()
        assert more(step), relay.log_tail()
    finally:
        load.stop.set()
        assert load.join(), "client threads did not finish"
    acked = set(load.acked)
    assert len(acked) >= 4 * step
    assert load.errors > 0, "the kills did not interrupt any session: the test proved nothing"

    def all_arrived():
        return acked <= sink.test_ids()
    assert wait_for(all_arrived, 180), \
        f"lost {len(acked - sink.test_ids())} acknowledged messages: " \
        f"{sorted(acked - sink.test_ids())[:20]}\n{relay.log_tail()}"
    # Files smtpd was writing when it was killed stay as t.* (qmgr removes
    # them after an hour); they were never acknowledged nor delivered.
    assert relay.wait_queue_empty(120, allow_temp=True), relay.all_queue_files()
    assert relay.queue_files("corrupt") == []


def test_kill9_smtpd_mid_data(relay, sink):
    c = RawSMTP(relay.smtp_port)
    try:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<user@relay.test>")
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: half\r\nX-Test-Id: half\r\n\r\nhalf a mess")
        assert wait_for(lambda: [n for n in relay.queue_files("incoming") if n.startswith("t.")])
        relay.kill9("smtpd")
        assert c.closed()
    finally:
        c.close()
    # A complete message after the restart goes through; the half one never does.
    with smtplib.SMTP("127.0.0.1", relay.smtp_port, timeout=30) as s:
        s.sendmail("alice@example.org", ["user@relay.test"], simple_message(test_id="whole"))
    assert sink.wait_count(1)
    assert relay.wait_queue_empty(allow_temp=True)
    assert len(relay.temp_files()) == 1
    assert sink.test_ids() == {"whole"}
    assert [e for e in relay.queue_list()] == []


def test_queue_survives_restart(relay, sink):
    sink.rcpt_replies["user@relay.test"] = "451 4.3.0 later"
    with smtplib.SMTP("127.0.0.1", relay.smtp_port, timeout=30) as s:
        for i in range(5):
            s.sendmail("alice@example.org", ["user@relay.test"], simple_message(test_id=f"r{i}"))
    assert wait_for(lambda: len(relay.queue_files("deferred")) == 5)
    assert relay.stop() == 0
    del sink.rcpt_replies["user@relay.test"]
    relay.start()
    relay.ctl("queue", "flush")
    assert sink.wait_count(5), relay.log_tail()
    assert sink.test_ids() == {f"r{i}" for i in range(5)}
    assert relay.wait_queue_empty()


def test_corrupt_queue_file_set_aside(relay, sink):
    qid = "0123456789ABCDEF0"
    path = os.path.join(relay.spool, "incoming", qid)
    # Made aside and renamed in: qmgr may scan incoming/ at any moment.
    tmp = os.path.join(relay.spool, "corrupt-test.tmp")
    with open(tmp, "wb") as f:
        f.write(b"FACTEUR-QUEUE 1\nthis is not a queue file\n")
    if os.geteuid() == 0:
        os.chown(tmp, *pwd_ids(relay.params["mail_owner"]))
    os.rename(tmp, path)
    with smtplib.SMTP("127.0.0.1", relay.smtp_port, timeout=30) as s:
        s.sendmail("alice@example.org", ["user@relay.test"], simple_message(test_id="fine"))
    assert wait_for(lambda: relay.queue_files("corrupt") == [qid]), relay.log_tail()
    assert sink.wait_count(1)
    assert sink.test_ids() == {"fine"}
    r = relay.ctl("queue", "list")
    assert r.returncode == 0
    assert "corrupt" in relay.log_text()


def pwd_ids(user):
    import pwd
    p = pwd.getpwnam(user)
    return p.pw_uid, p.pw_gid


# ---------------------------------------------------------------- disk full


@pytest.fixture
def small_spool(make_facteur, sink):
    """facteur whose spool is a 2 MB tmpfs."""
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    os.makedirs(f.spool, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", f.spool],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}): disk-full test not run")
    try:
        f.start()
        yield f
    finally:
        f.stop()
        f.kill_strays()
        if subprocess.run(["umount", f.spool]).returncode != 0:
            subprocess.run(["umount", "-l", f.spool])


def no_partial_files(f):
    """No temporary file is left and every queued file parses."""
    incoming = f.queue_files("incoming")
    assert not [n for n in incoming if n.startswith("t.")], incoming
    assert f.queue_files("corrupt") == []
    listed = {e["queue_id"] for e in f.queue_list()}
    on_disk = {n for s in ("incoming", "active", "deferred", "hold") for n in f.queue_files(s)}
    assert on_disk <= listed, (on_disk, listed)


def send_big(port, size, declare):
    """Send a message of about size bytes; return (stage, code) of the refusal or 250."""
    line = b"x" * 76 + b"\r\n"
    with RawSMTP(port, timeout=120) as c:
        c.reply()
        c.ehlo()
        code, _ = c.cmd("MAIL FROM:<alice@example.org>" + (f" SIZE={size}" if declare else ""))
        if code != 250:
            return "MAIL", code
        assert c.cmd("RCPT TO:<user@relay.test>")[0] == 250
        code, _ = c.cmd("DATA")
        if code != 354:
            return "DATA", code
        c.send(b"Subject: big\r\n\r\n")
        block = line * 1000
        sent = 0
        while sent < size:
            c.send(block)
            sent += len(block)
        c.send(b".\r\n")
        code, _ = c.reply()
        # The session must still work.
        assert c.cmd("NOOP")[0] == 250
        return "END", code


def fill(path):
    """Fill the file system holding path; return the filler's path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_disk_full(small_spool, sink):
    f = small_spool
    # Room for a small one.
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        s.sendmail("alice@example.org", ["user@relay.test"], simple_message(test_id="before"))
    assert sink.wait_count(1)
    assert f.wait_queue_empty()

    # Declared too big for the free space: refused at MAIL.
    assert send_big(f.smtp_port, 3_000_000, declare=True) == ("MAIL", 452)
    # Undeclared: the writes fail, refused at the end of DATA.
    assert send_big(f.smtp_port, 3_000_000, declare=False) == ("END", 452)
    no_partial_files(f)
    assert f.stats()["smtpd_reject_storage"] >= 2

    # Completely full: a small message is refused too.
    filler = fill(f.spool)
    try:
        with RawSMTP(f.smtp_port) as c:
            c.reply()
            c.ehlo()
            code, _ = c.cmd("MAIL FROM:<alice@example.org>")
            if code == 250:
                c.cmd("RCPT TO:<user@relay.test>")
                code, _ = c.cmd("DATA")
                if code == 354:
                    c.send(simple_message(test_id="full") + ".\r\n")
                    code, _ = c.reply()
            assert code == 452, code
        no_partial_files(f)
    finally:
        os.unlink(filler)

    # Space is back: mail flows again.
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        s.sendmail("alice@example.org", ["user@relay.test"], simple_message(test_id="after"))
    assert send_big(f.smtp_port, 500_000, declare=True) == ("END", 250)
    assert sink.wait_count(3), f.log_tail()
    assert {"before", "after"} <= sink.test_ids()
    assert "full" not in sink.test_ids()
    assert f.wait_queue_empty()
    no_partial_files(f)


def test_unreadable_socket_peer_resets(relay):
    """A client that resets the connection mid-reply does not hurt the server."""
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", relay.smtp_port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(b"EHLO x\r\nHELP\r\nHELP\r\nHELP\r\n")
        s.close()  # RST
    with RawSMTP(relay.smtp_port) as c:
        assert c.reply()[0] == 220
        assert c.ehlo()[0] == 250
    assert set(relay.daemons()) == {"smtpd", "qmgr"}
    assert wait_for(lambda: relay.stats()["smtpd_connections_active"] == 0)


def test_queue_file_reused(relay, sink):
    """A delivered message's file is emptied into free/ and the next message
    is written into it: same inode, none of the first message's bytes."""
    def free():
        return relay.queue_files("free")

    first = simple_message(test_id="reuse-1", body="first message, the longer one\r\n" * 200)
    with smtplib.SMTP("127.0.0.1", relay.smtp_port, timeout=30) as s:
        s.sendmail("a@example.org", ["user@relay.test"], first)
    assert sink.wait_count(1)
    assert wait_for(lambda: len(free()) == 1 and relay.queue_empty())
    name = free()[0]
    st = os.stat(os.path.join(relay.spool, "free", name))
    assert st.st_size == 0
    # smtpd found free/ empty for the first message: it reads it again a
    # second later at the soonest.
    time.sleep(1.1)
    second = simple_message(test_id="reuse-2", body="second\r\n")
    with smtplib.SMTP("127.0.0.1", relay.smtp_port, timeout=30) as s:
        s.sendmail("a@example.org", ["user@relay.test"], second)
    assert sink.wait_count(2)
    assert wait_for(lambda: free() and free()[0] != name and relay.queue_empty())
    assert len(free()) == 1
    assert os.stat(os.path.join(relay.spool, "free", free()[0])).st_ino == st.st_ino
    got = sink.received()[1].data
    assert b"X-Test-Id: reuse-2" in got and b"second\r\n" in got
    assert b"first message" not in got
