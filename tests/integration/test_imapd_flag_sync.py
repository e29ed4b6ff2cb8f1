# SPDX-License-Identifier: MIT
"""imap_flag_sync: imapd's index changes that bring no message (STORE, the
\\Seen set by FETCH BODY[], CREATE, RENAME, SUBSCRIBE) are committed
without fsync by default (normal), as Dovecot's fsync_mode = optimized
does, while APPEND, COPY, EXPUNGE stay fsync'd; with full each change is
fsync'd.  The fsyncs are counted with strace on the imapd processes; the
changes are checked to be committed (another process sees them, imapd
killed with -9 loses none of them); a bad value is refused at start."""
import os
import shutil
import signal
import subprocess

import pytest

from facteur_it import FACTEUR, wait_for
from test_imap import ALICE, IMAPD, RawIMAP, daemon_dir, imap_facteur  # noqa: F401

pytestmark = pytest.mark.skipif(not os.access(IMAPD, os.X_OK), reason="store/imapd is not built")

MESSAGE = "From: <a@relay.test>\r\nSubject: flags\r\n\r\nbody\r\n"


def imapd_pids(f):
    """The imapd the master started and its workers."""
    top = f.daemons().get("imapd")
    assert top, f.daemons()
    pids = [top]
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as st:
                fields = st.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == top:
            pids.append(int(name))
    return pids


def traced(pid):
    try:
        with open(f"/proc/{pid}/status") as st:
            return any(line.startswith("TracerPid:") and line.split()[1] != "0" for line in st)
    except OSError:
        return True


class SyncCounter:
    """strace -f on imapd's processes, counting fsync, fdatasync and syncfs."""

    def __init__(self, f, out):
        self.out = out
        self.pids = imapd_pids(f)
        argv = ["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs", "-o", out]
        for p in self.pids:
            argv += ["-p", str(p)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __enter__(self):
        assert wait_for(lambda: self.proc.poll() is not None or
                        all(traced(p) for p in self.pids)), "strace did not attach"
        assert self.proc.poll() is None, self.proc.stderr.read()
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(60)

    def count(self):
        with open(self.out) as fh:
            return sum(1 for line in fh if "sync(" in line and "resumed>" not in line)


def strace_works():
    if not shutil.which("strace"):
        return False
    r = subprocess.run(["strace", "-qq", "-e", "trace=none", "true"], capture_output=True)
    return r.returncode == 0


def session(fx):
    c = RawIMAP(fx.imaps_port, implicit_tls=True)
    c.login(ALICE)
    return c


def fill(c, n):
    for i in range(n):
        lit = (MESSAGE + f"number {i}\r\n").encode()
        c.send(f"A{i} APPEND INBOX {{{len(lit)}+}}\r\n".encode() + lit + b"\r\n")
        assert c.until(f"A{i}".encode())[-1].startswith(f"A{i} OK".encode())
    tagged, _ = c.cmd("SELECT INBOX")
    assert " OK " in tagged


def flags_of(c):
    _, lines = c.cmd("FETCH 1:* (FLAGS)")
    return [line for line in lines if " FETCH " in line]


@pytest.mark.skipif(not strace_works(), reason="strace cannot trace here")
@pytest.mark.parametrize("mode", ["normal", "full"])
def test_fsyncs_of_flag_changes(imap_facteur, workdir, mode):
    fx = imap_facteur(imap_flag_sync=mode)
    c = session(fx)
    fill(c, 10)
    with SyncCounter(fx.f, os.path.join(workdir, f"strace-{mode}.txt")) as flags:
        for i in range(1, 11):
            assert " OK " in c.cmd(f"STORE {i} +FLAGS (\\Flagged)")[0]
        # FETCH BODY[] sets \Seen: a flag change too.
        assert " OK " in c.cmd("FETCH 1:5 (BODY[])")[0]
        assert " OK " in c.cmd("CREATE Later")[0]
        assert " OK " in c.cmd("SUBSCRIBE Later")[0]
    with SyncCounter(fx.f, os.path.join(workdir, f"strace-{mode}-data.txt")) as data:
        assert " OK " in c.cmd("COPY 1:2 Later")[0]
        assert " OK " in c.cmd("STORE 10 +FLAGS (\\Deleted)")[0]
        assert " OK " in c.cmd("EXPUNGE")[0]
    if mode == "normal":
        assert flags.count() == 0
    else:
        # One commit per STORE (10), the FETCH's \Seen, CREATE, SUBSCRIBE.
        assert flags.count() >= 13, flags.count()
    # COPY and EXPUNGE are fsync'd in both modes.
    assert data.count() >= 2, data.count()
    fetched = flags_of(c)
    assert len(fetched) == 9
    assert all("\\Flagged" in line for line in fetched)
    assert sum("\\Seen" in line for line in fetched) == 5


def test_unsynced_changes_are_committed(imap_facteur):
    fx = imap_facteur()
    c = session(fx)
    fill(c, 4)
    assert " OK " in c.cmd("STORE 1:2 +FLAGS (\\Answered $Forwarded)")[0]
    assert " OK " in c.cmd("FETCH 3 (BODY[])")[0]
    assert " OK " in c.cmd("RENAME Drafts Brouillons")[0]
    # Another process (facteurctl) sees them at once.
    names = [line.split()[0] for line in fx.f.ctl("mailbox", "list", ALICE).stdout.splitlines()]
    assert "Brouillons" in names and "Drafts" not in names
    # imapd killed with -9: the commits were written, nothing is lost.
    fx.f.kill9("imapd")
    assert wait_for(lambda: "imapd" in fx.f.daemons())
    c2 = None
    for _ in range(100):
        try:
            c2 = session(fx)
            break
        except OSError:
            wait_for(lambda: False, 0.1)
    assert c2 is not None
    assert " OK " in c2.cmd("SELECT INBOX")[0]
    fetched = flags_of(c2)
    assert len(fetched) == 4
    assert all("\\Answered" in line and "$Forwarded" in line for line in fetched[:2])
    assert "\\Seen" in fetched[2] and "\\Seen" not in fetched[3]


def test_bad_imap_flag_sync_is_refused(workdir):
    """A bad value is the configuration's error, with its line: the master does not start
    (facteur -n) and neither does the daemon on its own."""
    conf = os.path.join(workdir, "bad.conf")
    with open(conf, "w") as fp:
        fp.write("# a bad value\nimap_flag_sync = sometimes\n")
    want = f'{conf}:2: bad value "sometimes" for imap_flag_sync'
    r = subprocess.run(["timeout", "60", FACTEUR, "-n", "-c", conf], capture_output=True, text=True)
    assert r.returncode == 1 and want in r.stderr, r.stderr
    r = subprocess.run(["timeout", "60", IMAPD, "-c", conf, "-d"], capture_output=True, text=True)
    assert r.returncode != 0 and want in r.stderr, r.stderr