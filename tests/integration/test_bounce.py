# SPDX-License-Identifier: MIT
"""Bounces (RFC 3464 DSNs), deferrals and the administrator's queue commands."""
import email
import email.policy
import os
import smtplib

import pytest

from facteur_it import RawSMTP, simple_message, wait_for

BAD = "bad@relay.test"
GOOD = "good@relay.test"


@pytest.fixture
def relay(make_facteur, sink):
    """facteur relaying relay.test to the Python sink."""
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    return f


def send(f, sender, rcpts, test_id, rcpt_params=""):
    with RawSMTP(f.smtp_port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        for r in rcpts:
            assert c.cmd(f"RCPT TO:<{r}>{rcpt_params}")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(test_id=test_id, sender=sender or "mailer-daemon@x.example",
                              to=rcpts[0]) + ".\r\n")
        code, text = c.reply()
        assert code == 250, text
        return text[0].rsplit(" ", 1)[1]


def dsn_parts(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return msg


def test_550_makes_a_dsn(relay, sink):
    sink.rcpt_replies[BAD] = "550 5.1.1 <bad@relay.test>: Recipient address rejected: User unknown"
    qid = send(relay, "alice@example.org", [BAD, GOOD], "b1")
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == [GOOD]
    box = relay.wait_mailbox(1)
    assert box, relay.log_tail()
    assert relay.wait_queue_empty()
    assert len(box) == 1
    raw = next(iter(box.values()))
    assert raw.startswith(b"Return-Path: <>\r\nDelivered-To: alice@example.org\r\n")
    msg = dsn_parts(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert "alice@example.org" in msg["To"]
    parts = list(msg.iter_parts())
    types = [p.get_content_type() for p in parts]
    assert types[0] == "text/plain"
    assert "message/delivery-status" in types
    assert types[-1] in ("message/rfc822", "text/rfc822-headers")
    status = parts[types.index("message/delivery-status")]
    blocks = status.get_payload()
    per_msg, per_rcpt = blocks[0], blocks[1:]
    assert per_msg["Reporting-MTA"].startswith("dns; mx.test")
    assert len(per_rcpt) == 1, "only the failed recipient is reported"
    r = per_rcpt[0]
    assert r["Final-Recipient"].lower() == "rfc822; bad@relay.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Status"].startswith("5.")
    assert "550" in r["Diagnostic-Code"]
    assert r["Diagnostic-Code"].lower().startswith("smtp;")
    # The original message comes back.
    assert b"X-Test-Id: b1" in raw
    assert qid.encode() in raw
    st = relay.stats()
    assert st["qmgr_bounced"] == 1
    assert st["qmgr_bounces_sent"] == 1
    assert st["qmgr_delivered"] >= 2  # GOOD, and the DSN into the mailbox


def test_ret_hdrs_returns_headers_only(relay, sink):
    sink.rcpt_replies[BAD] = "550 5.1.1 unknown"
    with RawSMTP(relay.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org> RET=HDRS ENVID=env-123")[0] == 250
        assert c.cmd(f"RCPT TO:<{BAD}> ORCPT=rfc822;orig+40relay.test")[0] == 250
        c.cmd("DATA")
        c.send(simple_message(body="SECRET BODY\r\n") + ".\r\n")
        assert c.reply()[0] == 250
    box = relay.wait_mailbox(1)
    raw = next(iter(box.values()))
    msg = dsn_parts(raw)
    parts = list(msg.iter_parts())
    assert parts[-1].get_content_type() == "text/rfc822-headers"
    assert b"SECRET BODY" not in raw
    status = parts[1].get_payload()
    assert status[0]["Original-Envelope-Id"] == "env-123"
    # RFC 3461 6.3: ORCPT is xtext-decoded in the report.
    assert status[1]["Original-Recipient"] == "rfc822; orig@relay.test"


def test_envid_xtext_decoded_in_dsn(relay, sink):
    sink.rcpt_replies[BAD] = "550 5.1.1 unknown"
    with RawSMTP(relay.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org> ENVID=a+2Bb+3Dc")[0] == 250
        assert c.cmd(f"RCPT TO:<{BAD}>")[0] == 250
        c.cmd("DATA")
        c.send(simple_message() + ".\r\n")
        assert c.reply()[0] == 250
    box = relay.wait_mailbox(1)
    msg = dsn_parts(next(iter(box.values())))
    status = list(msg.iter_parts())[1].get_payload()
    assert status[0]["Original-Envelope-Id"] == "a+b=c"


def test_null_sender_never_bounces(relay, sink):
    sink.rcpt_replies[BAD] = "550 5.1.1 unknown"
    send(relay, "", [BAD], "null")
    assert wait_for(lambda: relay.stats()["qmgr_bounced"] == 1), relay.log_tail()
    assert relay.wait_queue_empty()
    st = relay.stats()
    assert st["qmgr_bounces_sent"] == 0
    assert relay.mailbox() == {}
    assert "undeliverable bounce" in relay.log_text()


def test_notify_never_no_dsn(relay, sink):
    sink.rcpt_replies[BAD] = "550 5.1.1 unknown"
    send(relay, "alice@example.org", [BAD], "never", rcpt_params=" NOTIFY=NEVER")
    assert wait_for(lambda: relay.stats()["qmgr_bounced"] == 1)
    assert relay.wait_queue_empty()
    assert relay.stats()["qmgr_bounces_sent"] == 0
    assert relay.mailbox() == {}


def deferred_entry(f, rcpt):
    for e in f.queue_list():
        if e["queue_name"] == "deferred":
            for r in e["recipients"]:
                if r["address"] == rcpt and "delay_reason" in r:
                    return e, r["delay_reason"]
    return None


def test_4xx_deferred_with_reason(relay, sink):
    sink.rcpt_replies[BAD] = "451 4.3.0 <bad@relay.test>: Temporary lookup failure"
    qid = send(relay, "alice@example.org", [BAD, GOOD], "4xx")
    found = wait_for(lambda: deferred_entry(relay, BAD))
    assert found, relay.log_tail()
    entry, reason = found
    assert entry["queue_id"] == qid
    assert "451 4.3.0" in reason and "Temporary lookup failure" in reason
    assert [r["address"] for r in entry["recipients"]] == [BAD]  # GOOD was delivered
    assert relay.queue_files("deferred") == [qid]
    text = relay.ctl("queue", "list").stdout
    assert qid in text and "Temporary lookup failure" in text and BAD in text
    assert relay.mailbox() == {}, "a 4xx must not bounce"
    assert [m.rcpts for m in sink.received()] == [[GOOD]]


def test_flush_retries_now(relay, sink):
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    qid = send(relay, "alice@example.org", [BAD], "flush")
    assert wait_for(lambda: relay.queue_files("deferred") == [qid])
    assert sink.received() == []
    del sink.rcpt_replies[BAD]
    relay.ctl("queue", "flush")
    assert sink.wait_count(1), relay.log_tail()
    assert relay.wait_queue_empty()
    assert sink.received()[0].header("X-Test-Id") == "flush"


def test_hold_release(relay, sink):
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    qid = send(relay, "alice@example.org", [BAD], "hold")
    assert wait_for(lambda: relay.queue_files("deferred") == [qid])
    r = relay.ctl("queue", "hold", qid)
    assert "1 message" in r.stdout
    assert relay.queue_files("hold") == [qid]
    assert relay.queue_files("deferred") == []
    assert [e["queue_name"] for e in relay.queue_list()] == ["hold"]
    assert "!" in relay.ctl("queue", "list").stdout.splitlines()[1][:19]
    # A held message is not retried by flush.
    relay.ctl("queue", "flush")
    del sink.rcpt_replies[BAD]
    assert not sink.wait_count(1, timeout=1)
    assert relay.queue_files("hold") == [qid]
    # Releasing it sends it.
    relay.ctl("queue", "release", qid)
    assert relay.queue_files("hold") == []
    assert sink.wait_count(1), relay.log_tail()
    assert relay.wait_queue_empty()
    # Releasing again fails: not held.
    assert relay.ctl("queue", "release", qid, check=False).returncode == 1


def test_delete(relay, sink):
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    qids = [send(relay, "alice@example.org", [BAD], f"del{i}") for i in range(3)]
    assert wait_for(lambda: sorted(relay.queue_files("deferred")) == sorted(qids))
    assert wait_for(lambda: relay.stats()["queue_deferred"] == 3)
    relay.ctl("queue", "delete", qids[0])
    assert sorted(relay.queue_files("deferred")) == sorted(qids[1:])
    # The queue's gauges follow each command, not only the next scan.
    assert relay.stats()["queue_deferred"] == 2
    relay.ctl("queue", "hold", qids[1])
    assert (relay.stats()["queue_deferred"], relay.stats()["queue_hold"]) == (1, 1)
    r = relay.ctl("queue", "delete", "ALL")
    assert "2 messages" in r.stdout
    assert relay.queue_empty()
    assert (relay.stats()["queue_deferred"], relay.stats()["queue_hold"]) == (0, 0)
    del sink.rcpt_replies[BAD]
    relay.ctl("queue", "flush")
    assert not sink.wait_count(1, timeout=1)
    assert relay.ctl("queue", "delete", qids[0], check=False).returncode == 1
    assert relay.ctl("queue", "delete", "not-a-qid", check=False).returncode == 1


def test_hold_all_release_all(relay, sink):
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    qids = [send(relay, "alice@example.org", [BAD], f"all{i}") for i in range(3)]
    assert wait_for(lambda: len(relay.queue_files("deferred")) == 3)
    assert "3 messages" in relay.ctl("queue", "hold", "ALL").stdout
    assert sorted(relay.queue_files("hold")) == sorted(qids)
    del sink.rcpt_replies[BAD]
    assert "3 messages" in relay.ctl("queue", "release", "ALL").stdout
    assert sink.wait_count(3), relay.log_tail()
    assert relay.wait_queue_empty()


def test_queue_commands_without_qmgr(relay, sink):
    """With facteur stopped, facteurctl moves the files itself."""
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    qid = send(relay, "alice@example.org", [BAD], "offline")
    assert wait_for(lambda: relay.queue_files("deferred") == [qid])
    assert relay.stop() == 0
    relay.ctl("queue", "hold", qid)
    assert relay.queue_files("hold") == [qid]
    relay.ctl("queue", "release", qid)
    assert relay.queue_files("incoming") == [qid]
    assert relay.ctl("queue", "flush", check=False).returncode == 1  # needs qmgr
    del sink.rcpt_replies[BAD]
    relay.start()
    assert sink.wait_count(1), relay.log_tail()
    assert relay.wait_queue_empty()


def test_delay_warning(make_facteur, sink):
    f = make_facteur(delay_warning_time=1, start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    send(f, "alice@example.org", [BAD], "delay")
    assert wait_for(lambda: f.queue_files("deferred"))

    def warned():
        if f.mailbox():
            return True
        f.ctl("queue", "flush")
        return False
    assert wait_for(warned, interval=0.5), f.log_tail()
    raw = next(iter(f.mailbox().values()))
    msg = dsn_parts(raw)
    assert msg.get_content_type() == "multipart/report"
    status = [p for p in msg.iter_parts() if p.get_content_type() == "message/delivery-status"][0]
    r = status.get_payload()[1]
    assert r["Action"] == "delayed"
    assert r["Status"].startswith("4.")
    # The message itself is still queued.
    assert f.queue_files("deferred") or f.queue_files("incoming") or f.queue_files("active")
    assert f.stats()["qmgr_delay_warnings"] == 1


def test_expired_message_bounces(make_facteur, sink):
    f = make_facteur(maximal_queue_lifetime=1, delay_warning_time=0, start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    sink.rcpt_replies[BAD] = "451 4.3.0 try later"
    send(f, "alice@example.org", [BAD], "expire")
    # (On a slow machine the first attempt may already find it expired.)

    def bounced():
        if f.mailbox():
            return True
        f.ctl("queue", "flush")
        return False
    assert wait_for(bounced, interval=0.5), f.log_tail()
    assert f.wait_queue_empty()
    raw = next(iter(f.mailbox().values()))
    r = [p for p in dsn_parts(raw).iter_parts()
         if p.get_content_type() == "message/delivery-status"][0].get_payload()[1]
    assert r["Action"] == "failed"
    assert "expired" in raw.decode()


def test_smtplib_sendmail_partial_refusal(make_facteur, sink):
    """A client gets the per-recipient verdicts of RCPT, and the rest is queued."""
    f = make_facteur(mynetworks="192.0.2.0/24", start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        refused = s.sendmail("x@sender.example", [GOOD, "y@foreign.example"],
                             simple_message(test_id="partial"))
    assert list(refused) == ["y@foreign.example"]
    assert refused["y@foreign.example"][0] == 554
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == [GOOD]
    assert os.path.isdir(f.spool)
