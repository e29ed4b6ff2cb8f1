# SPDX-License-Identifier: MIT
"""Relay control: who may send where.  An "outsider" is 127.0.0.1 with
mynetworks set to a network that does not contain it."""
import smtplib
import ssl

import pytest

from facteur_it import PASSWORD, USER, RawSMTP, simple_message

OUTSIDER = {"mynetworks": "192.0.2.0/24"}


@pytest.fixture
def outsider_facteur(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}", **OUTSIDER)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.stop()
    f.start()
    return f


def session(f):
    c = RawSMTP(f.smtp_port)
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    assert c.cmd("MAIL FROM:<someone@sender.example>")[0] == 250
    return c


def test_outsider_refused_for_foreign_domain(outsider_facteur):
    with session(outsider_facteur) as c:
        code, text = c.cmd("RCPT TO:<victim@foreign.example>")
        assert code == 554, text
        assert text[0].startswith("5.7.1")
        assert c.cmd("DATA")[0] == 554  # no valid recipients
    assert outsider_facteur.stats()["smtpd_reject_relay"] == 1


@pytest.mark.parametrize("rcpt", ["user@example.org", "User@EXAMPLE.ORG",
                                  "user@relay.test", "postmaster", "Postmaster@example.org"])
def test_outsider_accepted_for_our_domains(outsider_facteur, rcpt):
    with session(outsider_facteur) as c:
        code, text = c.cmd(f"RCPT TO:<{rcpt}>")
        assert code == 250, text


def test_outsider_message_to_relay_domain_delivered(outsider_facteur, sink):
    with smtplib.SMTP("127.0.0.1", outsider_facteur.smtp_port, timeout=30) as s:
        s.sendmail("someone@sender.example", ["user@relay.test"], simple_message(test_id="r1"))
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == ["user@relay.test"]


def test_mynetworks_may_relay(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")  # default mynetworks: 127.0.0.0/8
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        assert s.sendmail("a@example.org", ["far@foreign.example"], simple_message(test_id="m1")) == {}
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == ["far@foreign.example"]


def test_authenticated_outsider_may_relay(outsider_facteur, sink):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", outsider_facteur.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        s.login(USER, PASSWORD)
        assert s.sendmail("alice@example.org", ["far@foreign.example"],
                          simple_message(test_id="auth-relay")) == {}
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == ["far@foreign.example"]


def test_tls_without_auth_is_not_trust(outsider_facteur):
    with RawSMTP(outsider_facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.cmd("MAIL FROM:<x@sender.example>")
        assert c.cmd("RCPT TO:<far@foreign.example>")[0] == 554


@pytest.mark.parametrize("rcpt", [
    "user%evil.example@example.org",          # percent hack
    "evil.example!user@example.org",          # bang path
    '"user@evil.example"@example.org',        # quoted @
    "@example.org:user@evil.example",         # source route
    "@example.org,@relay.test:user@evil.example",
    "user@[192.0.2.1]",                       # address literal
    "user@evil.example",
    "user@example.org.evil.example",
    "user@evil-example.org",
])
def test_open_relay_attempts_refused(outsider_facteur, sink, rcpt):
    with session(outsider_facteur) as c:
        code, text = c.cmd(f"RCPT TO:<{rcpt}>")
        assert 500 <= code < 600, (code, text)
        # Whatever else the client tries, nothing is queued or relayed.
        assert c.cmd("DATA")[0] >= 500
        assert c.cmd("QUIT")[0] == 221
    assert outsider_facteur.queue_empty()
    assert outsider_facteur.stats()["smtpd_messages_accepted"] == 0
    assert sink.received() == []


def test_source_route_is_not_followed(make_facteur, sink):
    """A trusted client's source-routed address goes to its final domain, not the route."""
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<s@example.org>")
        assert c.cmd("RCPT TO:<@relay.test:user@final.example>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(test_id="route") + ".\r\n")
        assert c.reply()[0] == 250
    assert sink.wait_count(1)
    assert sink.received()[0].rcpts == ["user@final.example"]
    assert f.mailbox() == {}
