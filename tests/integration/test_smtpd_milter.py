# SPDX-License-Identifier: MIT
"""smtpd calls real milters (smtpd_milters): Debian's opendkim signs mail
received from loopback, a second opendkim verifies that signature and adds
its Authentication-Results, a verifier set to reject refuses a message whose
signed body was changed, and an absent milter gets milter_default_action."""
import os
import pathlib
import shutil
import subprocess

import pytest

from facteur_it import Facteur, free_port, make_workdir, wait_for
from test_filter import delivered, header_value, qid_of, send
from test_milter_client import (GENKEY, OPENDKIM, OpenDKIM, verifier_settings)

pytestmark = pytest.mark.skipif(not (os.access(OPENDKIM, os.X_OK) and os.access(GENKEY, os.X_OK)),
                                reason="opendkim and opendkim-tools are not installed")


def message(subject, body="Hello.\r\n"):
    return (f"From: Alice <alice@example.org>\r\nTo: <rcpt@example.org>\r\nSubject: {subject}\r\n"
            f"Date: Tue, 1 Dec 2026 05:00:00 +0000\r\nMessage-ID: <{subject}@example.org>\r\n"
            f"\r\n{body}")


@pytest.fixture(scope="module")
def milters():
    d = make_workdir("facteur-smtpd-milter-")
    subprocess.run([GENKEY, "-D", d, "-d", "example.org", "-s", "sel"], check=True, timeout=120)
    with open(os.path.join(d, "sel.txt")) as f:
        txt = f.read()
    record = "".join(part for part in txt.split('"')[1::2]).replace(" ", "").replace("\t", "")
    keys = os.path.join(d, "keys.txt")
    with open(keys, "w") as f:
        f.write(f"sel._domainkey.example.org {record}\n")
    key = {"private": os.path.join(d, "sel.private"), "public": keys}
    signer = OpenDKIM(d, "sign", {"Mode": "s", "Domain": "example.org", "KeyFile": key["private"],
                                  "Selector": "sel", "Canonicalization": "relaxed/simple"},
                      inet=True).start()
    verifier = OpenDKIM(d, "verify", verifier_settings(key), inet=True).start()
    rejecter = OpenDKIM(d, "reject", verifier_settings(key, on_bad="reject"), inet=True).start()
    yield {"signer": signer, "verifier": verifier, "rejecter": rejecter}
    for m in (signer, verifier, rejecter):
        m.stop()
    shutil.rmtree(d, ignore_errors=True)


def test_signed_by_one_milter_verified_by_the_next(workdir, milters):
    f = Facteur(workdir, smtpd_milters=f"{milters['signer'].address}, {milters['verifier'].address}")
    f.start()
    try:
        raw = delivered(f, qid_of(send(f.smtp_port, message("signed"), sender="alice@example.org")))
        sig = header_value(raw, "DKIM-Signature")
        assert sig is not None and "d=example.org" in sig and "s=sel" in sig, raw[:800]
        ar = header_value(raw, "Authentication-Results")
        assert ar is not None and "dkim=pass" in ar and "header.d=example.org" in ar, raw[:1200]
        assert f.stats()["milter_calls"] >= 1
    finally:
        f.stop()


def test_rejecting_milter_refuses_at_end_of_data(workdir, milters):
    # Sign with one instance, then send the signed message with its body
    # changed through another whose milter verifies and rejects bad signatures.
    f1 = Facteur(os.path.join(workdir, "a"), smtpd_milters=milters["signer"].address)
    f1.start()
    try:
        raw = delivered(f1, qid_of(send(f1.smtp_port, message("tosign"),
                                        sender="alice@example.org")))
    finally:
        f1.stop()
    signed = raw.split(b"\r\n", 2)[2].decode()  # without Return-Path and Delivered-To
    assert signed.startswith("DKIM-Signature:") or "\r\nDKIM-Signature:" in signed
    tampered = signed.replace("Hello.", "Hello!")
    f2 = Facteur(os.path.join(workdir, "b"), smtpd_milters=milters["rejecter"].address)
    f2.start()
    try:
        code, text = send(f2.smtp_port, tampered, sender="alice@example.org")
        assert 500 <= code < 600, (code, text)
        assert f2.stats()["milter_rejects"] >= 1
        assert wait_for(lambda: not f2.temp_files()) and f2.queue_files("incoming") == []
        # The untouched message passes the same milter.
        assert send(f2.smtp_port, signed, sender="alice@example.org")[0] == 250
    finally:
        f2.stop()


@pytest.mark.parametrize("action,code", [("tempfail", 451), ("reject", 550), ("accept", 250)])
def test_absent_milter_default_action(workdir, action, code):
    port = free_port()
    f = Facteur(workdir, smtpd_milters=f"inet:{port}@127.0.0.1", milter_default_action=action)
    f.start()
    try:
        got = send(f.smtp_port, message("absent"), sender="alice@example.org") \
            if action == "accept" else None
        if action == "accept":
            assert got[0] == 250
            assert delivered(f, qid_of(got))
        else:
            from facteur_it import RawSMTP
            with RawSMTP(f.smtp_port) as c:
                assert c.reply()[0] == 220
                c.ehlo()
                r = c.cmd("MAIL FROM:<alice@example.org>")
                assert r[0] == code, r
        assert f.stats()["milter_errors"] >= 1
        assert f"inet:{port}@127.0.0.1" in f.log_text()
    finally:
        f.stop()


def scripted(workdir, name, script):
    from test_milter_client import ScriptedMilter
    m = ScriptedMilter(workdir, name, script=script)
    os.chmod(m.path, 0o777)  # smtpd connects as mail_owner
    return m


def test_envelope_changes_rewrite_the_queued_envelope(workdir):
    def script(cmd, data):
        if cmd == "E":
            return [("+", b"<carol@example.org>\0"), ("-", b"<bob@example.org>\0"),
                    ("e", b"<bounces@example.org>\0"), ("c", b"")]
        return None
    m = scripted(workdir, "env", script)
    f = Facteur(workdir, smtpd_milters=m.address)
    f.start()
    try:
        code, text = send(f.smtp_port, message("envelope"), sender="alice@example.org",
                          rcpts=("bob@example.org", "dave@example.org"))
        assert code == 250, text
        qid = text.rsplit(" ", 1)[1]
        assert wait_for(lambda: len(f.mailbox_for(qid)) == 2), f.log_tail()
        got = {header_value(raw, "Delivered-To"): raw for raw in f.mailbox_for(qid).values()}
        assert set(got) == {"carol@example.org", "dave@example.org"}, got.keys()
        for raw in got.values():
            assert raw.startswith(b"Return-Path: <bounces@example.org>\r\n")
        assert f"qid={qid} milter: recipient <bob@example.org> removed" in f.log_text()
    finally:
        f.stop()
        m.close()


def test_every_recipient_removed_drops_the_message(workdir):
    def script(cmd, data):
        if cmd == "E":
            return [("-", b"<bob@example.org>\0"), ("c", b"")]
        return None
    m = scripted(workdir, "drop", script)
    f = Facteur(workdir, smtpd_milters=m.address)
    f.start()
    try:
        code, text = send(f.smtp_port, message("dropped"), sender="alice@example.org",
                          rcpts=("bob@example.org",))
        assert code == 250, text
        assert "milters removed every recipient: dropped" in f.log_text()
        assert wait_for(lambda: not f.temp_files())
        assert f.queue_files("incoming") == [] and f.mailbox() == {}
    finally:
        f.stop()
        m.close()


def test_client_leaving_while_a_milter_thinks(workdir):
    """The peer disconnects while smtpd waits for the milter (MAIL, then the
    end of DATA): the session is freed when the answer comes, smtpd serves on."""
    from facteur_it import RawSMTP

    def script(cmd, data):
        if cmd in ("M", "E"):
            return [("sleep", 1.0), ("c", b"")]
        return None
    m = scripted(workdir, "slow", script)
    f = Facteur(workdir, smtpd_milters=m.address)
    f.start()
    try:
        c = RawSMTP(f.smtp_port)
        assert c.reply()[0] == 220
        c.ehlo()
        c.send("MAIL FROM:<alice@example.org>\r\n")
        c.close()
        c = RawSMTP(f.smtp_port)
        assert c.reply()[0] == 220
        c.ehlo()
        c.send("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
        assert c.reply()[0] == 250 and c.reply()[0] == 250 and c.reply()[0] == 354
        c.send(message("gone") + ".\r\n")
        c.close()
        assert wait_for(lambda: "disconnect from" in f.log_text() and
                        f.log_text().count("disconnect from") >= 2, timeout=30)
        # The second message was complete: kept and delivered, as after any
        # client that leaves before the 250.
        assert wait_for(lambda: any(b"Subject: gone" in v for v in f.mailbox().values()))
        assert send(f.smtp_port, message("after"), sender="alice@example.org")[0] == 250
        assert f.stats()["master_daemon_restarts"] == 0
    finally:
        f.stop()
        m.close()
