# SPDX-License-Identifier: MIT
"""lmtpd's group commit (lmtp_sync = group, the default): many LMTP
sessions at once, each with several recipients, all answered 250 and
every message in each index exactly once, with fewer syncfs than messages
(facteurctl stats: lmtp_syncs, lmtp_messages); a client leaving right
after its final dot (the message is saved once, lmtpd goes on, a retry
with the same XQID finds it saved); lmtp_sync = fsync still delivering,
pipelined transactions included, without a group sync; a bad lmtp_sync
refused at start."""
import collections
import os
import socket
import subprocess
import threading

import pytest

from facteur_it import FACTEUR, wait_for
from test_lmtp import (ACCOUNTS, LMTPD, RawLMTP, blob_bytes, daemon_dir, index_rows,  # noqa: F401
                       query, socket_path, store_dir, store_facteur)

pytestmark = pytest.mark.skipif(not os.access(LMTPD, os.X_OK), reason="store/lmtpd is not built")

SESSIONS = 16
PER_SESSION = 5


def message(test_id):
    return (f"From: <someone@relay.test>\r\nTo: <{ACCOUNTS[0]}>\r\nSubject: group {test_id}\r\n"
            f"X-Test-Id: {test_id}\r\n\r\n" + f"body of {test_id}\r\n" * 50)


def saved_ids(f, account):
    return [blob_bytes(f, r[1]).split(b"X-Test-Id: ", 1)[1].split(b"\r\n", 1)[0].decode()
            for r in index_rows(f, account)]


def check_refs(f):
    """Every blob counted at least as often as rows name it, and on disk."""
    counts = collections.Counter(r[1] for a in ACCOUNTS for r in index_rows(f, a))
    refs = dict(query(os.path.join(store_dir(f), "store.db"), "SELECT id, refs FROM blobs"))
    for blob, n in counts.items():
        assert refs.get(blob, 0) >= n, (blob, refs.get(blob), n)
        assert len(blob_bytes(f, blob)) > 0


def test_concurrent_sessions_share_syncs(store_facteur):
    # One worker: every session's delivery waits on the same flushes.
    f = store_facteur(lmtp_processes="1")
    before = f.stats()
    start = threading.Barrier(SESSIONS)
    replies = collections.defaultdict(list)
    errors = []

    def session(n):
        try:
            with RawLMTP(socket_path(f)) as r:
                assert r.cmd("LHLO client.test")[0] == 250
                start.wait(60)
                for i in range(PER_SESSION):
                    tid = f"s{n}m{i}"
                    # Pipelined: the envelope in one write, the message in the next.
                    r.send(f"MAIL FROM:<someone@relay.test> XQID=G{n}X{i}\r\n" +
                           "".join(f"RCPT TO:<{a}>\r\n" for a in ACCOUNTS) + "DATA\r\n")
                    env = [r.reply() for _ in range(len(ACCOUNTS) + 2)]
                    assert [c for c, _ in env] == [250] * (len(ACCOUNTS) + 1) + [354], env
                    r.send(message(tid) + ".\r\n")
                    replies[n] += [r.reply() for _ in ACCOUNTS]
                assert r.cmd("QUIT")[0] == 221
        except Exception as e:  # reported below
            errors.append(f"session {n}: {e!r}")

    threads = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    total = SESSIONS * PER_SESSION
    for n in range(SESSIONS):
        got = replies[n]
        assert len(got) == PER_SESSION * len(ACCOUNTS)
        # In RCPT order, each one saved.
        for k, (code, text) in enumerate(got):
            assert code == 250 and f"<{ACCOUNTS[k % len(ACCOUNTS)]}> Saved" in text[0], got
    expected = sorted(f"s{n}m{i}" for n in range(SESSIONS) for i in range(PER_SESSION))
    for a in ACCOUNTS:
        assert sorted(saved_ids(f, a)) == expected, a
        uids = [r[0] for r in index_rows(f, a)]
        assert uids == list(range(1, total + 1))
    check_refs(f)
    after = f.stats()
    messages = after["lmtp_messages"] - before["lmtp_messages"]
    syncs = after["lmtp_syncs"] - before["lmtp_syncs"]
    assert messages == total
    # Two flushes per batch: alone, a message would take two.
    assert 0 < syncs < messages, (syncs, messages)


def test_client_leaving_after_the_final_dot(store_facteur):
    f = store_facteur()
    pids = f.daemons()
    body = message("left")
    with RawLMTP(socket_path(f)) as r:
        r.cmd("LHLO client.test")
        r.send("MAIL FROM:<someone@relay.test> XQID=LEFT1\r\nRCPT TO:<alice@example.org>\r\n"
               "RCPT TO:<bob@example.org>\r\nDATA\r\n")
        assert [r.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        # The dot and the end of the connection, without waiting for a reply.
        r.send(body + ".\r\n")
        r.sock.shutdown(socket.SHUT_RDWR)
    for a in ("alice@example.org", "bob@example.org"):
        assert wait_for(lambda: len(index_rows(f, a)) == 1), f.log_tail()
    assert wait_for(lambda: "delivery finished after the client left" in f.log_text()), \
        f.log_tail()
    assert "session=" in f.log_text() and "while the message was being saved" in f.log_text()
    # The same worker processes go on serving; a retry (qmgr's) saves nothing twice.
    assert f.daemons() == pids
    with RawLMTP(socket_path(f)) as r:
        r.cmd("LHLO client.test")
        r.send("MAIL FROM:<someone@relay.test> XQID=LEFT1\r\nRCPT TO:<alice@example.org>\r\n"
               "RCPT TO:<bob@example.org>\r\nDATA\r\n")
        assert [r.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
        r.send(body + ".\r\n")
        assert r.reply() == (250, ["2.0.0 <alice@example.org> Already saved (uid 1)"])
        assert r.reply() == (250, ["2.0.0 <bob@example.org> Already saved (uid 1)"])
    for a in ("alice@example.org", "bob@example.org"):
        assert saved_ids(f, a) == ["left"]
    # The second blob was the same bytes: one file, counted for the two rows.
    blob = index_rows(f, "alice@example.org")[0][1]
    assert query(os.path.join(store_dir(f), "store.db"), "SELECT refs FROM blobs WHERE id = ?",
                 (blob,)) == [(2,)]


def test_fsync_mode_still_delivers(store_facteur):
    f = store_facteur(lmtp_sync="fsync")
    before = f.stats()
    with RawLMTP(socket_path(f)) as r:
        r.cmd("LHLO x")
        # Two transactions in one write: the second is read after the first's replies.
        r.send(b"MAIL FROM:<a@relay.test> XQID=F1\r\nRCPT TO:<alice@example.org>\r\n"
               b"RCPT TO:<bob@example.org>\r\nDATA\r\nX-Test-Id: f1\r\n\r\none\r\n.\r\n"
               b"MAIL FROM:<> XQID=F2\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n"
               b"X-Test-Id: f2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
        replies = [r.reply() for _ in range(11)]
        assert [c for c, _ in replies] == [250, 250, 250, 354, 250, 250, 250, 250, 354, 250, 221]
        assert replies[4][1] == ["2.0.0 <alice@example.org> Saved (uid 1)"]
        assert r.closed()
    assert saved_ids(f, "alice@example.org") == ["f1"]
    assert saved_ids(f, "bob@example.org") == ["f1"]
    assert saved_ids(f, "carol@example.org") == ["f2"]
    check_refs(f)
    after = f.stats()
    assert after["lmtp_messages"] - before["lmtp_messages"] == 2
    assert after["lmtp_syncs"] == before["lmtp_syncs"]


def test_bad_lmtp_sync_is_refused(workdir):
    """A bad value is the configuration's error, with its line: the master does not start
    (facteur -n) and neither does the daemon on its own."""
    conf = os.path.join(workdir, "bad.conf")
    with open(conf, "w") as fp:
        fp.write("# a bad value\nlmtp_sync = sometimes\n")
    want = f'{conf}:2: bad value "sometimes" for lmtp_sync'
    r = subprocess.run(["timeout", "60", FACTEUR, "-n", "-c", conf], capture_output=True, text=True)
    assert r.returncode == 1 and want in r.stderr, r.stderr
    r = subprocess.run(["timeout", "60", LMTPD, "-c", conf, "-d"], capture_output=True, text=True)
    assert r.returncode != 0 and want in r.stderr, r.stderr