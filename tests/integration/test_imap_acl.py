# SPDX-License-Identifier: MIT
"""Shared mailboxes and access control lists (RFC 4314) in imapd, and the
classifier taught by moves into and out of Junk.

alice shares mailboxes with bob through SETACL; bob sees them under
Shared/alice@example.org/ and may do exactly what the rights say (read
only, then read-write, copy and move between the accounts); revoking
hides them again.  A shared mailbox proper (support@, an account without a
password, delivered to by lmtpd) is given to its users with facteurctl acl.
Error paths: unknown rights, unknown identifiers, the owner's rights, the
shared namespace's own names, commands without the right."""
import os
import re
import smtplib
import subprocess

import pytest

from facteur_it import FACTEURCTL, wait_for
from test_imap import (ALICE, BOB, IMAPD, LMTPD, PASSWORDS, RawIMAP, daemon_dir,  # noqa: F401
                       imap_facteur, message)

pytestmark = pytest.mark.skipif(not os.access(IMAPD, os.X_OK), reason="store/imapd is not built")

SHARED_INBOX = f"Shared/{ALICE}/INBOX"


def session(fx, user):
    c = RawIMAP(fx.imaps_port, implicit_tls=True)
    c.login(user)
    return c


def ok(c, text):
    tagged, untagged = c.cmd(text)
    assert re.match(r"T\d+ OK", tagged), (text, tagged, untagged)
    return untagged


def no(c, text, code):
    tagged, untagged = c.cmd(text)
    assert re.match(r"T\d+ NO \[" + code + r"\]", tagged), (text, tagged, untagged)
    return tagged


def append(c, box, msg, flags=""):
    c.send(f'A{len(msg)} APPEND "{box}" ({flags}) {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
    lines = c.until(f"A{len(msg)}".encode())
    assert b" OK " in lines[-1], lines
    return lines[-1].decode()


def listed(c, pattern="*"):
    return [ln for ln in ok(c, f'LIST "" "{pattern}"') if ln.startswith("* LIST")]


def test_acl_share_read_only_then_read_write_then_revoke(imap_facteur):
    fx = imap_facteur()
    with session(fx, ALICE) as a, session(fx, BOB) as b:
        caps = " ".join(ok(a, "CAPABILITY"))
        assert " ACL " in caps and "RIGHTS=texk" in caps, caps
        append(a, "INBOX", message("shared-one"))
        append(a, "INBOX", message("shared-two"))
        # Nothing shared yet: bob sees only his own mailboxes and cannot reach alice's.
        assert not any("Shared/" in ln for ln in listed(b)), listed(b)
        no(b, f'SELECT "{SHARED_INBOX}"', "NONEXISTENT")
        no(b, f'STATUS "{SHARED_INBOX}" (MESSAGES)', "NONEXISTENT")

        # Read only.
        ok(a, f'SETACL INBOX "{BOB}" lr')
        acl = ok(a, "GETACL INBOX")
        assert acl == [f'* ACL "INBOX" "{ALICE}" lrswipkxtea "{BOB}" lr'], acl
        assert ok(a, f'LISTRIGHTS INBOX "{BOB}"')[0].startswith(f'* LISTRIGHTS "INBOX" "{BOB}" ""')
        lines = listed(b)
        assert any(ln.endswith(f'"/" "{SHARED_INBOX}"') for ln in lines), lines
        # The parents of the shared namespace exist only as names.
        top = listed(b, "%")
        assert any('"Shared"' in ln and ("\\Noselect" in ln or "\\NonExistent" in ln)
                   for ln in top), top
        assert ok(b, f'MYRIGHTS "{SHARED_INBOX}"') == [f'* MYRIGHTS "{SHARED_INBOX}" lr']
        st = ok(b, f'STATUS "{SHARED_INBOX}" (MESSAGES UNSEEN)')
        assert st == [f'* STATUS "{SHARED_INBOX}" (MESSAGES 2 UNSEEN 2)'], st
        tagged, untagged = b.cmd(f'SELECT "{SHARED_INBOX}"')
        assert "[READ-ONLY]" in tagged and "* 2 EXISTS" in untagged, (tagged, untagged)
        body = " ".join(ok(b, "FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])"))
        assert "shared-one" in body
        # FETCH BODY[] without the "s" right does not mark it seen for everyone.
        ok(b, "FETCH 1 BODY[]")
        flags = " ".join(ok(a, f'STATUS INBOX (UNSEEN)'))
        assert "UNSEEN 2" in flags, flags
        no(b, "STORE 1 +FLAGS (\\Flagged)", "READ-ONLY")
        no(b, "EXPUNGE", "READ-ONLY")
        no(b, f'GETACL "{SHARED_INBOX}"', "NOPERM")
        no(b, f'SETACL "{SHARED_INBOX}" "{BOB}" lrswi', "NOPERM")
        no(b, f'DELETE "{SHARED_INBOX}"', "NOPERM")
        tagged, _ = b.cmd(f'APPEND "{SHARED_INBOX}" {{5+}}\r\nx\r\n\r\n')
        assert "NO [NOPERM]" in tagged, tagged
        ok(b, "UNSELECT")

        # Read-write with seen, write, insert, delete, expunge.
        ok(a, f'SETACL INBOX "{BOB}" +swite')
        assert ok(b, f'MYRIGHTS "{SHARED_INBOX}"') == [f'* MYRIGHTS "{SHARED_INBOX}" lrswite']
        tagged, untagged = b.cmd(f'SELECT "{SHARED_INBOX}"')
        assert "[READ-WRITE]" in tagged, tagged
        ok(b, "STORE 1 +FLAGS (\\Seen \\Flagged)")
        ok(a, "SELECT INBOX")
        f = " ".join(ok(a, "FETCH 1 FLAGS"))
        assert "\\Seen" in f and "\\Flagged" in f, f
        ok(a, "UNSELECT")
        # bob copies from alice's INBOX into his own (across accounts), then files one of
        # his own messages into alice's INBOX with MOVE.
        tagged, _ = b.cmd("COPY 2 INBOX")
        assert tagged.split()[1] == "OK" and "COPYUID" in tagged, tagged
        ok(b, "UNSELECT")
        append(b, "INBOX", message("from-bob"))
        ok(b, "SELECT INBOX")
        subjects = " ".join(ok(b, "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        assert "shared-two" in subjects and "from-bob" in subjects, subjects
        n = int([ln for ln in b.cmd("NOOP")[1] + ok(b, "STATUS INBOX (MESSAGES)")
                 if "MESSAGES" in ln][0].split("MESSAGES ")[1].rstrip(")"))
        tagged, untagged = b.cmd(f'MOVE {n} "{SHARED_INBOX}"')
        assert tagged.split()[1] == "OK", (tagged, untagged)
        assert any("COPYUID" in ln for ln in untagged) and any("EXPUNGE" in ln for ln in untagged)
        ok(b, "UNSELECT")
        st = ok(a, "STATUS INBOX (MESSAGES)")
        assert st == ['* STATUS "INBOX" (MESSAGES 3)'], st
        st = ok(b, "STATUS INBOX (MESSAGES)")
        assert st == [f'* STATUS "INBOX" (MESSAGES {n - 1})'], st
        # Expunge with "e" (and \Deleted with "t") in the shared mailbox.
        ok(b, f'SELECT "{SHARED_INBOX}"')
        ok(b, "STORE 1 +FLAGS (\\Deleted)")
        exp = ok(b, "EXPUNGE")
        assert exp == ["* 1 EXPUNGE"], exp
        ok(b, "UNSELECT")
        assert ok(a, "STATUS INBOX (MESSAGES)") == ['* STATUS "INBOX" (MESSAGES 2)']

        # Only the "a" right administers; rights cannot be given to the owner or
        # to nobody known.
        tagged, _ = a.cmd(f'SETACL INBOX "{ALICE}" lr')
        assert "NO [CANNOT]" in tagged, tagged
        tagged, _ = a.cmd('SETACL INBOX "nobody@example.org" lr')
        assert "NO [CANNOT]" in tagged and "No such account" in tagged, tagged
        tagged, _ = a.cmd(f'SETACL INBOX "{BOB}" lrZ')
        assert tagged.split()[1] == "BAD", tagged
        tagged, _ = a.cmd(f'SETACL INBOX "-{BOB}" lr')
        assert "NO [CANNOT]" in tagged, tagged

        # Revoked: gone from bob's LIST, and not even its existence is told.
        ok(a, f'DELETEACL INBOX "{BOB}"')
        assert ok(a, "GETACL INBOX") == [f'* ACL "INBOX" "{ALICE}" lrswipkxtea']
        assert not any("Shared/" in ln for ln in listed(b)), listed(b)
        no(b, f'SELECT "{SHARED_INBOX}"', "NONEXISTENT")


def test_acl_folders_create_rename_subscribe_and_anyone(imap_facteur):
    fx = imap_facteur()
    with session(fx, ALICE) as a, session(fx, BOB) as b:
        ok(a, "CREATE Projects")
        ok(a, 'SETACL Projects anyone lk')
        # "anyone" includes bob; "k" lets him create below it, "l" see it, nothing else.
        ok(b, f'CREATE "Shared/{ALICE}/Projects/Bob"')
        assert any(ln.endswith('"Projects/Bob"') for ln in listed(a)), listed(a)
        # The new mailbox has no entry for bob: he needs it granted to see it.
        no(b, f'SELECT "Shared/{ALICE}/Projects/Bob"', "NONEXISTENT")
        no(b, f'CREATE "Shared/{ALICE}/Elsewhere"', "NOPERM")
        no(b, f'DELETE "Shared/{ALICE}/Projects"', "NOPERM")
        tagged, _ = b.cmd(f'RENAME "Shared/{ALICE}/Projects" Mine')
        assert tagged.split()[1] == "NO", tagged
        # Names of the namespace itself are not mailboxes.
        for name in ("Shared", f"Shared/{ALICE}"):
            tagged, _ = b.cmd(f'CREATE "{name}"')
            assert "NO [CANNOT]" in tagged, (name, tagged)
        # Subscriptions to shared mailboxes are bob's own.
        ok(b, f'SUBSCRIBE "Shared/{ALICE}/Projects"')
        lsub = [ln for ln in ok(b, 'LSUB "" "*"')]
        assert any(ln.endswith(f'"Shared/{ALICE}/Projects"') for ln in lsub), lsub
        ok(b, f'UNSUBSCRIBE "Shared/{ALICE}/Projects"')
        lsub = [ln for ln in ok(b, 'LSUB "" "*"')]
        assert not any("Shared/" in ln for ln in lsub), lsub
        # LIST-STATUS reports shared mailboxes only with the "r" right.
        lines = ok(b, 'LIST "" "Shared/*" RETURN (STATUS (MESSAGES))')
        assert any(ln.endswith(f'"Shared/{ALICE}/Projects"') for ln in lines), lines
        assert not any(ln.startswith("* STATUS") for ln in lines), lines
        # A RENAME by the owner keeps the ACL (it follows the mailbox).
        ok(a, "RENAME Projects Work")
        acl = ok(a, "GETACL Work")
        assert acl == [f'* ACL "Work" "{ALICE}" lrswipkxtea "anyone" lk'], acl
        assert any(ln.endswith(f'"Shared/{ALICE}/Work"') for ln in listed(b)), listed(b)
        # Deleting takes the ACL away too.
        ok(a, "DELETE Work/Bob")
        ok(a, "DELETE Work")
        ok(a, "CREATE Work")
        assert ok(a, "GETACL Work") == [f'* ACL "Work" "{ALICE}" lrswipkxtea']


def _deliver(fx, rcpt, subject):
    with smtplib.LMTP(os.path.join(fx.f.spool, "run", "lmtp")) as c:
        refused = c.sendmail("sender@example.com", [rcpt], message(subject, to=rcpt))
        assert refused == {}, refused


def test_shared_mailbox_account_given_with_facteurctl(imap_facteur):
    if not os.access(LMTPD, os.X_OK):
        pytest.skip("store/lmtpd is not built")
    fx = imap_facteur()
    f = fx.f
    support = "support@example.org"
    f.ctl("account", "add", support)
    assert wait_for(lambda: os.path.exists(os.path.join(f.spool, "run", "lmtp"))), f.log_tail()
    _deliver(fx, support, "ticket-1")
    _deliver(fx, support, "ticket-2")
    r = subprocess.run([FACTEURCTL, "-c", f.conf, "acl", "set", support, "INBOX", ALICE,
                        "lrswite"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([FACTEURCTL, "-c", f.conf, "acl", "set", support, "INBOX", BOB, "lr"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([FACTEURCTL, "-c", f.conf, "acl", "set", support, "INBOX", BOB, "+s"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([FACTEURCTL, "-c", f.conf, "-j", "acl", "get", support, "INBOX"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    import json
    entries = {e["identifier"]: e["rights"] for e in json.loads(r.stdout)}
    assert entries == {support: "lrswipkxtea", ALICE: "lrswite", BOB: "lrs"}, entries
    # Errors: a bad right, an unknown identifier, a missing mailbox.
    for args, msg in ((["set", support, "INBOX", BOB, "lrQ"], "rights are letters"),
                      (["set", support, "INBOX", "ghost@example.org", "lr"], "no such account"),
                      (["get", support, "Nope"], "no such mailbox")):
        r = subprocess.run([FACTEURCTL, "-c", f.conf, "acl"] + args, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stdout, r.stderr)

    box = f"Shared/{support}/INBOX"
    with session(fx, ALICE) as a, session(fx, BOB) as b:
        assert any(ln.endswith(f'"{box}"') for ln in listed(a)), listed(a)
        tagged, untagged = a.cmd(f'SELECT "{box}"')
        assert "[READ-WRITE]" in tagged and "* 2 EXISTS" in untagged, (tagged, untagged)
        tagged, untagged = b.cmd(f'SELECT "{box}"')
        assert "[READ-WRITE]" in tagged, tagged
        # bob's rights: \Seen only.
        no(b, "STORE 1 +FLAGS (\\Flagged)", "NOPERM")
        no(b, "STORE 1 FLAGS (\\Seen)", "NOPERM")
        ok(b, "STORE 1 +FLAGS (\\Seen)")
        # alice, in IDLE, hears about a new delivery and about bob's flag change.
        a.send("I1 IDLE\r\n")
        heard = []
        while True:
            line = a.line()
            if line.startswith(b"+ "):
                break
            heard.append(line)
        # bob's \Seen on message 1 may be told before the continuation or after.
        _deliver(fx, support, "ticket-3")
        ok(b, "STORE 2 +FLAGS (\\Seen)")
        while not (any(b"3 EXISTS" in x for x in heard) and
                   any(b"2 FETCH" in x and b"\\Seen" in x for x in heard)):
            heard.append(a.line())
        a.send("DONE\r\n")
        assert a.until(b"I1")[-1].startswith(b"I1 OK")
        # Moving out of the shared mailbox needs "t" and "e": alice has them, bob not.
        no(b, "MOVE 1 INBOX", "NOPERM")
        tagged, untagged = a.cmd("MOVE 1 INBOX")
        assert tagged.split()[1] == "OK", (tagged, untagged)
        assert ok(a, "STATUS INBOX (MESSAGES)") == ['* STATUS "INBOX" (MESSAGES 1)']


def test_junk_moves_teach_the_classifier(imap_facteur):
    fx = imap_facteur()
    f = fx.f

    def stats():
        r = subprocess.run([FACTEURCTL, "-c", f.conf, "-j", "learn", "stats"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        import json
        return json.loads(r.stdout)

    with session(fx, ALICE) as a:
        append(a, "INBOX", message("cheap-pills", body="Buy cheap pills now, best offer\r\n"))
        append(a, "INBOX", message("meeting", body="The meeting moved to Tuesday.\r\n"))
        ok(a, "SELECT INBOX")
        tagged, _ = a.cmd("MOVE 1 Junk")
        assert tagged.split()[1] == "OK", tagged
        assert wait_for(lambda: "learned 1 of 1 message(s) as spam" in f.log_text()), \
            f.log_tail()
        assert stats()["spam"] == 1
        # Out of Junk into Trash teaches nothing; into INBOX teaches ham.
        ok(a, "SELECT Junk")
        tagged, _ = a.cmd("COPY 1 Trash")
        assert tagged.split()[1] == "OK", tagged
        tagged, _ = a.cmd("MOVE 1 INBOX")
        assert tagged.split()[1] == "OK", tagged
        assert wait_for(lambda: "as ham" in f.log_text()), f.log_tail()
        s = stats()
        assert s["ham"] == 1 and s["spam"] == 0, s


def test_junk_learning_off(imap_facteur):
    fx = imap_facteur(imap_junk_learning="no")
    with session(fx, ALICE) as a:
        append(a, "INBOX", message("pills"))
        ok(a, "SELECT INBOX")
        tagged, _ = a.cmd("MOVE 1 Junk")
        assert tagged.split()[1] == "OK", tagged
        ok(a, "NOOP")
    assert "learned" not in fx.f.log_text() and "learning" not in fx.f.log_text()
