# SPDX-License-Identifier: MIT
"""qmgr's SMTP client against next hops that misbehave: silence, 421
banners, refusals at MAIL or at the end of DATA, a connection cut in the
middle of the data.  Nothing is lost, nothing is bounced for a temporary
problem, and a permanent one makes exactly one DSN."""
import email
import email.policy
import smtplib

import pytest

from facteur_it import simple_message, wait_for


@pytest.fixture
def relay(make_facteur, sink):
    f = make_facteur(smtp_connect_timeout=3, smtp_timeout=3, start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    return f


def send(f, test_id, rcpts=("u@relay.test",)):
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        s.sendmail("alice@example.org", list(rcpts), simple_message(test_id=test_id))


def deferred_reason(f):
    for e in f.queue_list():
        if e["queue_name"] == "deferred":
            reasons = [r.get("delay_reason") for r in e["recipients"]]
            if all(reasons):
                return reasons
    return None


def then_fixed(f, sink, test_id):
    """The next hop behaves again: a flush delivers the message once."""
    sink.banner = "220 sink.test ESMTP pysink"
    sink.mail_reply = sink.data_reply = None
    sink.drop_in_data = False
    f.ctl("queue", "flush")
    assert sink.wait_count(1), f.log_tail()
    assert f.wait_queue_empty()
    assert [m.header("X-Test-Id") for m in sink.received()] == [test_id]
    assert f.mailbox() == {}, "a temporary failure must not bounce"


@pytest.mark.parametrize("banner", [
    None,
    "421 4.3.2 sink.test busy",
    "554 5.7.1 go away",
])
def test_bad_banner(relay, sink, banner):
    sink.banner = banner
    send(relay, "banner")
    assert wait_for(lambda: deferred_reason(relay) or relay.mailbox()), relay.log_tail()
    assert relay.mailbox() == {}, "bounced instead of deferred"
    reasons = deferred_reason(relay)
    if banner is None:
        assert "timeout" in reasons[0].lower() or "timed out" in reasons[0].lower(), reasons
    else:
        assert banner.split()[0] in reasons[0], reasons
    then_fixed(relay, sink, "banner")


def test_temporary_refusal_at_mail(relay, sink):
    sink.mail_reply = "451 4.3.0 try again later"
    send(relay, "mail4xx", rcpts=("u@relay.test", "v@relay.test"))
    reasons = wait_for(lambda: deferred_reason(relay))
    assert reasons and len(reasons) == 2, relay.log_tail()
    assert all("451 4.3.0" in r for r in reasons), reasons
    then_fixed(relay, sink, "mail4xx")
    assert sorted(sink.received()[0].rcpts) == ["u@relay.test", "v@relay.test"]


def test_permanent_refusal_at_mail_bounces(relay, sink):
    sink.mail_reply = "550 5.7.1 sender rejected"
    send(relay, "mail5xx", rcpts=("u@relay.test", "v@relay.test"))
    box = relay.wait_mailbox(1)
    assert box, relay.log_tail()
    assert relay.wait_queue_empty()
    assert len(relay.mailbox()) == 1, "one DSN for both recipients"
    msg = email.message_from_bytes(next(iter(box.values())), policy=email.policy.default)
    status = [p for p in msg.iter_parts() if p.get_content_type() == "message/delivery-status"][0]
    rcpts = sorted(b["Final-Recipient"] for b in status.get_payload()[1:])
    assert rcpts == ["rfc822; u@relay.test", "rfc822; v@relay.test"]
    assert sink.received() == []


def test_temporary_refusal_after_data(relay, sink):
    sink.data_reply = "452 4.3.1 insufficient storage"
    send(relay, "data4xx")
    reasons = wait_for(lambda: deferred_reason(relay))
    assert reasons, relay.log_tail()
    assert "452 4.3.1" in reasons[0]
    then_fixed(relay, sink, "data4xx")


def test_permanent_refusal_after_data_bounces(relay, sink):
    sink.data_reply = "554 5.6.0 content rejected"
    send(relay, "data5xx")
    box = relay.wait_mailbox(1)
    assert box, relay.log_tail()
    assert relay.wait_queue_empty()
    raw = next(iter(box.values()))
    assert b"Status: 5.6.0" in raw
    assert b"554 5.6.0 content rejected" in raw


def test_connection_cut_during_data(relay, sink):
    sink.drop_in_data = True
    send(relay, "cut")
    reasons = wait_for(lambda: deferred_reason(relay))
    assert reasons, relay.log_tail()
    assert sink.received() == []
    then_fixed(relay, sink, "cut")


def test_nothing_listening(make_facteur):
    from facteur_it import free_port
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{free_port()}"
    f.start()
    send(f, "closed")
    reasons = wait_for(lambda: deferred_reason(f))
    assert reasons, f.log_tail()
    assert "refused" in reasons[0].lower() or "connect" in reasons[0].lower(), reasons
