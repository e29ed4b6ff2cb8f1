# SPDX-License-Identifier: MIT
"""Delivery by qmgr: [transport] routes, relayhost, the local mailbox, MX
records from a private unbound, and the TLS policies of the SMTP client."""
import smtplib

import pytest

from facteur_it import simple_message, wait_for


def send(f, sender, rcpts, test_id, port=None):
    with smtplib.SMTP("127.0.0.1", port or f.smtp_port, timeout=30) as s:
        refused = s.sendmail(sender, rcpts, simple_message(test_id=test_id, sender=sender,
                                                           to=rcpts[0]))
    assert refused == {}


def reason_of(f, rcpt):
    for entry in f.queue_list():
        for r in entry["recipients"]:
            if r["address"] == rcpt and "delay_reason" in r:
                return entry, r["delay_reason"]
    return None


def test_transport_to_python_sink(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    send(f, "alice@example.org", ["u1@relay.test", "u2@relay.test"], "t1")
    assert sink.wait_count(1)
    assert f.wait_queue_empty()
    m = sink.received()[0]
    assert m.mail_from == "alice@example.org"
    assert sorted(m.rcpts) == ["u1@relay.test", "u2@relay.test"]  # one transaction
    assert m.header("X-Test-Id") == "t1"
    assert m.helo == "mx.test"
    assert b"by mx.test (facteur) with ESMTP id" in m.data
    st = f.stats()
    assert st["qmgr_delivered"] == 2
    assert st["qmgr_connections"] >= 1


def test_transport_to_postfix_smtp_sink(make_facteur, postfix_sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{postfix_sink.port}"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "pf-1")
    assert wait_for(lambda: len(postfix_sink.files()) == 1)
    assert f.wait_queue_empty()
    dump = postfix_sink.contents()[0]
    assert b"X-Test-Id: pf-1" in dump
    assert b"by mx.test (facteur)" in dump


def test_relayhost(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")
    send(f, "alice@example.org", ["someone@far-away.example"], "rh-1")
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == ["someone@far-away.example"]


def test_transport_overrides_relayhost(make_facteur, sink):
    other = type(sink)().start()
    try:
        f = make_facteur(relayhost=f"[127.0.0.1]:{other.port}", start=False)
        f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
        f.start()
        send(f, "alice@example.org", ["u@relay.test"], "tr")
        send(f, "alice@example.org", ["v@elsewhere.example"], "rh")
        assert sink.wait_count(1) and other.wait_count(1)
        assert [m.header("X-Test-Id") for m in sink.received()] == ["tr"]
        assert [m.header("X-Test-Id") for m in other.received()] == ["rh"]
    finally:
        other.stop()


def test_local_delivery_to_mailbox(facteur):
    send(facteur, "someone@far.example", ["bob@example.org", "carol@example.org"], "local-1")
    box = facteur.wait_mailbox(2)
    assert len(box) == 2
    targets = sorted(raw.split(b"\r\n")[1] for raw in box.values())
    assert targets == [b"Delivered-To: bob@example.org", b"Delivered-To: carol@example.org"]
    for raw in box.values():
        assert raw.startswith(b"Return-Path: <someone@far.example>\r\n")
        assert b"X-Test-Id: local-1" in raw
    assert facteur.wait_queue_empty()


def test_local_transport_setting(make_facteur, workdir):
    import os
    target = os.path.join(workdir, "elsewhere")
    os.makedirs(target)
    os.chmod(target, 0o777)
    f = make_facteur(local_transport=f"file:{target}")
    send(f, "someone@far.example", ["bob@example.org"], "lt")
    assert wait_for(lambda: [n for n in os.listdir(target) if n.endswith(".eml")])
    assert f.mailbox() == {}


def test_mx_delivery_through_unbound(make_facteur, sink, unbound):
    f = make_facteur(dns_forwarder=f"127.0.0.1@{unbound.port}", smtp_default_port=sink.port)
    send(f, "alice@example.org", ["user@dest.test"], "mx-1")
    assert sink.wait_count(1), f.log_tail()
    assert sink.received()[0].rcpts == ["user@dest.test"]
    assert f.wait_queue_empty()
    assert f"relay=mail.dest.test[127.0.0.1]:{sink.port}" in f.log_text()


def test_implicit_mx_a_record(make_facteur, sink, unbound):
    f = make_facteur(dns_forwarder=f"127.0.0.1@{unbound.port}", smtp_default_port=sink.port)
    send(f, "alice@example.org", ["user@nomx.test"], "amx")
    assert sink.wait_count(1), f.log_tail()


def test_unknown_domain_bounces(make_facteur, sink, unbound):
    """NXDOMAIN is permanent: the sender (local here) gets a DSN, nothing is retried."""
    f = make_facteur(dns_forwarder=f"127.0.0.1@{unbound.port}", smtp_default_port=sink.port)
    send(f, "alice@example.org", ["user@nowhere.test"], "nx")
    box = f.wait_mailbox(1)
    assert box, f.log_tail()
    raw = next(iter(box.values()))
    assert b"Delivered-To: alice@example.org" in raw
    assert b"Final-Recipient: rfc822; user@nowhere.test" in raw
    assert b"Action: failed" in raw
    assert f.wait_queue_empty()
    assert sink.received() == []


def test_tls_may_uses_starttls(make_facteur, tls_sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{tls_sink.port}"
    f.tls_policy["relay.test"] = "may"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "may")
    assert tls_sink.wait_count(1)
    assert tls_sink.received()[0].tls is True
    assert f.stats()["qmgr_tls_sessions"] >= 1


def test_tls_may_without_starttls_delivers_in_clear(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.tls_policy["relay.test"] = "may"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "clear")
    assert sink.wait_count(1)
    assert sink.received()[0].tls is False


def test_tls_verify_self_signed_deferred(make_facteur, tls_sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{tls_sink.port}"
    f.tls_policy["relay.test"] = "verify"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "verify")
    found = wait_for(lambda: f.queue_files("deferred") and reason_of(f, "u@relay.test"))
    assert found, f.log_tail()
    entry, reason = found
    assert entry["queue_name"] == "deferred"
    assert "verif" in reason, reason
    assert tls_sink.received() == []
    # The text listing shows the reason too.
    assert "verif" in f.ctl("queue", "list").stdout


def test_tls_verify_hostname_mismatch_deferred(make_facteur, tls_sink, sink_cert):
    """The CA is trusted but the next hop [127.0.0.1] is not the name in the certificate."""
    f = make_facteur(smtp_tls_ca_file=sink_cert[0], start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{tls_sink.port}"
    f.tls_policy["relay.test"] = "verify"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "mismatch")
    found = wait_for(lambda: f.queue_files("deferred") and reason_of(f, "u@relay.test"))
    assert found, f.log_tail()
    assert "verif" in found[1], found[1]
    assert tls_sink.received() == []


def test_tls_verify_trusted_mx_delivers(make_facteur, tls_sink, sink_cert, unbound):
    f = make_facteur(smtp_tls_ca_file=sink_cert[0], dns_forwarder=f"127.0.0.1@{unbound.port}",
                     smtp_default_port=tls_sink.port, start=False)
    f.tls_policy["dest.test"] = "verify"
    f.start()
    send(f, "alice@example.org", ["user@dest.test"], "verified")
    assert tls_sink.wait_count(1), f.log_tail()
    assert tls_sink.received()[0].tls is True
    assert "(verified)" in f.log_text()


def test_tls_encrypt_without_starttls_deferred(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.tls_policy["relay.test"] = "encrypt"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "encrypt")
    found = wait_for(lambda: f.queue_files("deferred") and reason_of(f, "u@relay.test"))
    assert found, f.log_tail()
    assert "TLS" in found[1] or "STARTTLS" in found[1], found[1]
    assert sink.received() == []


def test_tls_then_may_after_fix(make_facteur, tls_sink):
    """verify defers; the admin relaxes the policy to may, reloads and flushes: delivered."""
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{tls_sink.port}"
    f.tls_policy["relay.test"] = "verify"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "fix")
    assert wait_for(lambda: f.queue_files("deferred"))
    f.tls_policy["relay.test"] = "may"
    f.write_config()
    f.reload()
    # The reload is asynchronous: flush until the message goes.
    def delivered():
        f.ctl("queue", "flush")
        return tls_sink.wait_count(1, timeout=2)
    assert wait_for(delivered), f.log_tail()
    assert tls_sink.received()[0].tls is True
    assert f.wait_queue_empty()


def test_unreachable_next_hop_deferred(make_facteur):
    from facteur_it import free_port
    port = free_port()  # nobody listens there
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{port}"
    f.start()
    send(f, "alice@example.org", ["u@relay.test"], "down")
    found = wait_for(lambda: f.queue_files("deferred") and reason_of(f, "u@relay.test"))
    assert found, f.log_tail()
    assert found[0]["attempts"] == 1


@pytest.mark.parametrize("limit", [1, 3])
def test_destination_recipient_limit(make_facteur, sink, limit):
    f = make_facteur(destination_recipient_limit=limit, start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    rcpts = [f"u{i}@relay.test" for i in range(5)]
    send(f, "alice@example.org", rcpts, "rl")
    expected = -(-5 // limit)
    assert sink.wait_count(expected)
    assert f.wait_queue_empty()
    got = sink.received()
    assert len(got) == expected
    assert all(len(m.rcpts) <= limit for m in got)
    assert sorted(r for m in got for r in m.rcpts) == rcpts
