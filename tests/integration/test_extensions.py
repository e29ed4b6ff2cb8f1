# SPDX-License-Identifier: MIT
"""SMTP extensions end to end: DSN parameters passed on, SMTPUTF8, BDAT to
the next hop, AUTH corner cases, STARTTLS state, hop limit, banner."""
import base64
import email
import email.policy

import pytest

from facteur_it import PASSWORD, USER, PySink, RawSMTP, simple_message, wait_for

BASE_EXT = ["PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES"]


@pytest.fixture
def hop():
    """A next hop whose EHLO extensions the test chooses: hop(ext list) -> PySink."""
    sinks = []

    def make(extensions):
        s = PySink(extensions=extensions).start()
        sinks.append(s)
        return s
    yield make
    for s in sinks:
        s.stop()


def relay_to(make_facteur, sink, **params):
    f = make_facteur(start=False, **params)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    return f


def transaction(f, mail, rcpts, data=None, port=None):
    with RawSMTP(port or f.smtp_port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        code, text = c.cmd(mail)
        assert code == 250, text
        for r in rcpts:
            code, text = c.cmd(r)
            assert code == 250, text
        assert c.cmd("DATA")[0] == 354
        c.send((data or simple_message()) + ".\r\n")
        code, text = c.reply()
        assert code == 250, text
        return text[0].rsplit(" ", 1)[1]


def test_dsn_parameters_passed_on(make_facteur, hop):
    sink = hop(BASE_EXT + ["DSN"])
    f = relay_to(make_facteur, sink)
    transaction(f, "MAIL FROM:<alice@example.org> RET=HDRS ENVID=QQ+2B1",
                ["RCPT TO:<u@relay.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig+40relay.test",
                 "RCPT TO:<v@relay.test> NOTIFY=NEVER"])
    assert sink.wait_count(1)
    m = sink.received()[0]
    assert "RET=HDRS" in m.mail_line and "ENVID=QQ+2B1" in m.mail_line, m.mail_line
    lines = {l.split(">")[0].split("<")[1]: l for l in m.rcpt_lines}
    assert "NOTIFY=SUCCESS,DELAY" in lines["u@relay.test"]
    assert "ORCPT=rfc822;orig+40relay.test" in lines["u@relay.test"]
    assert "NOTIFY=NEVER" in lines["v@relay.test"]


def test_dsn_parameters_not_sent_without_dsn(make_facteur, hop):
    sink = hop(BASE_EXT)
    f = relay_to(make_facteur, sink)
    transaction(f, "MAIL FROM:<alice@example.org> RET=FULL ENVID=x",
                ["RCPT TO:<u@relay.test> NOTIFY=FAILURE ORCPT=rfc822;u+40relay.test"])
    assert sink.wait_count(1)
    m = sink.received()[0]
    assert "RET=" not in m.mail_line and "ENVID" not in m.mail_line
    assert "NOTIFY" not in m.rcpt_lines[0] and "ORCPT" not in m.rcpt_lines[0]
    assert "SIZE=" in m.mail_line and "BODY=8BITMIME" in m.mail_line


def test_smtputf8_relayed(make_facteur, hop):
    sink = hop(BASE_EXT + ["SMTPUTF8"])
    f = relay_to(make_facteur, sink)
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<jörg@example.org>")[0] == 553  # needs SMTPUTF8
        assert c.cmd("MAIL FROM:<jörg@example.org> SMTPUTF8")[0] == 250
        assert c.cmd("RCPT TO:<zoë@relay.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: ünïcödé\r\n\r\nGrüße\r\n.\r\n".encode())
        code, _ = c.reply()
        assert code == 250
    assert sink.wait_count(1)
    m = sink.received()[0]
    assert m.mail_from == "jörg@example.org"
    assert m.rcpts == ["zoë@relay.test"]
    assert "SMTPUTF8" in m.mail_line
    assert "Grüße".encode() in m.data
    assert b"with UTF8SMTP id" in m.data


def test_non_ascii_rcpt_needs_smtputf8(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        code, text = c.cmd("RCPT TO:<zoë@example.org>")
        assert code == 553 and text[0].startswith("5.6.7"), text


def test_smtputf8_to_a_hop_without_it_bounces(make_facteur, hop):
    sink = hop(BASE_EXT)
    f = relay_to(make_facteur, sink)
    transaction(f, "MAIL FROM:<alice@example.org> SMTPUTF8", ["RCPT TO:<zoë@relay.test>"])
    box = f.wait_mailbox(1)
    assert box, f.log_tail()
    msg = email.message_from_bytes(next(iter(box.values())), policy=email.policy.default)
    status = [p for p in msg.iter_parts() if p.get_content_type() == "message/delivery-status"][0]
    assert status.get_payload()[1]["Status"] == "5.6.7"
    assert sink.received() == []


def test_bdat_to_next_hop(make_facteur, hop):
    """With CHUNKING at the next hop the client sends BDAT: no dot-stuffing, exact bytes."""
    sink = hop(BASE_EXT + ["CHUNKING"])
    f = relay_to(make_facteur, sink)
    body = "".join(f".line {i}\r\n..\r\n.\r\n" for i in range(2000))
    transaction(f, "MAIL FROM:<alice@example.org>", ["RCPT TO:<u@relay.test>"],
                data=("Subject: chunks\r\n\r\n" + body).replace("\r\n.", "\r\n.."))
    assert sink.wait_count(1)
    m = sink.received()[0]
    assert m.chunked
    assert m.data.endswith(b"Subject: chunks\r\n\r\n" + body.encode())


def test_message_to_local_and_remote(make_facteur, sink):
    f = relay_to(make_facteur, sink)
    transaction(f, "MAIL FROM:<x@far.example>",
                ["RCPT TO:<bob@example.org>", "RCPT TO:<u@relay.test>"])
    assert sink.wait_count(1)
    assert f.wait_mailbox(1)
    assert f.wait_queue_empty()
    assert sink.received()[0].rcpts == ["u@relay.test"]
    assert list(f.mailbox().values())[0].split(b"\r\n")[1] == b"Delivered-To: bob@example.org"


def test_connection_reuse(make_facteur, sink):
    f = relay_to(make_facteur, sink, destination_concurrency_limit=1)
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        for i in range(10):
            assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
            assert c.cmd("RCPT TO:<u@relay.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send(simple_message(test_id=f"reuse{i}") + ".\r\n")
            assert c.reply()[0] == 250
    assert sink.wait_count(10)
    assert sink.test_ids() == {f"reuse{i}" for i in range(10)}
    assert f.stats()["qmgr_connections_reused"] >= 1
    assert sink.sessions < 10


@pytest.mark.parametrize("received,code", [(5, 250), (6, 554)])
def test_hop_limit(make_facteur, received, code):
    f = make_facteur(smtpd_hop_limit=5)
    hdrs = "".join(f"Received: from h{i}.example by h{i+1}.example; Mon, 1 Jan 2024 00:00:0{i} "
                   "+0000\r\n" for i in range(received))
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<bob@example.org>")
        c.cmd("DATA")
        c.send(hdrs + simple_message() + ".\r\n")
        got, text = c.reply()
        assert got == code, text
    if code == 554:
        assert text[0].startswith("5.4.6")
        assert f.queue_empty()


def test_starttls_resets_state(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
        c.starttls()
        # RFC 3207: the client must say EHLO again; the transaction is gone.
        assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 503
        c.ehlo()
        assert c.cmd("RCPT TO:<bob@example.org>")[0] == 503
        assert c.cmd("STARTTLS")[0] == 554
        assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250


def test_starttls_on_smtps_refused(facteur):
    with RawSMTP(facteur.smtps_port, implicit_tls=True) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("STARTTLS")[0] == 554


def tls_session(f, port=None):
    c = RawSMTP(port or f.smtp_port)
    c.reply()
    c.ehlo()
    c.starttls()
    c.ehlo()
    return c


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_auth_plain_with_continuation(facteur):
    with tls_session(facteur) as c:
        code, text = c.cmd("AUTH PLAIN")
        assert code == 334
        assert c.cmd(b64(f"\0{USER}\0{PASSWORD}"))[0] == 235
        assert c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))[0] == 503  # already


def test_auth_login_with_initial_response(facteur):
    with tls_session(facteur) as c:
        code, text = c.cmd("AUTH LOGIN " + b64(USER))
        assert code == 334 and base64.b64decode(text[0]) == b"Password:"
        assert c.cmd(b64(PASSWORD))[0] == 235


def test_auth_cancel_and_garbage(facteur):
    with tls_session(facteur) as c:
        assert c.cmd("AUTH LOGIN")[0] == 334
        assert c.cmd("*")[0] == 501
        assert c.cmd("AUTH PLAIN !!!notbase64")[0] == 501
        # "=" is an empty initial response (RFC 4954): refused, no prompt.
        assert c.cmd("AUTH PLAIN =")[0] == 501
        assert c.cmd("AUTH CRAM-MD5")[0] == 504
        # authzid different from authcid: not allowed.
        assert c.cmd("AUTH PLAIN " + b64(f"root\0{USER}\0{PASSWORD}"))[0] in (501, 535)
        assert c.cmd("AUTH PLAIN " + b64(f"{USER}\0{USER}\0{PASSWORD}"))[0] == 235
    st = facteur.stats()
    assert st["smtpd_auth_success"] == 1


def test_auth_in_transaction_refused(facteur):
    with tls_session(facteur) as c:
        c.cmd("MAIL FROM:<alice@example.org>")
        assert c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))[0] == 503


def test_auth_not_configured(make_facteur):
    f = make_facteur(smtpd_auth_file="")
    with tls_session(f) as c:
        assert not any(l.startswith("AUTH") for l in c.ehlo()[1])
        assert c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))[0] == 503


def test_auth_never_logs_password(facteur):
    with tls_session(facteur) as c:
        c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))
    with tls_session(facteur) as c:
        c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0wrong-{PASSWORD}"))
    assert wait_for(lambda: "AUTH failure" in facteur.log_text())
    log = facteur.log_text()
    assert PASSWORD not in log
    assert b64(f"\0{USER}\0{PASSWORD}") not in log


def test_custom_banner(make_facteur):
    f = make_facteur(smtpd_banner="welcome.test ESMTP ready")
    with RawSMTP(f.smtp_port) as c:
        assert c.reply() == (220, ["welcome.test ESMTP ready"])


def test_total_connection_limit(make_facteur):
    f = make_facteur(smtpd_connection_limit=2)
    a, b = RawSMTP(f.smtp_port), RawSMTP(f.smtp_port)
    try:
        assert a.reply()[0] == 220 and b.reply()[0] == 220
        with RawSMTP(f.smtp_port) as c:
            assert c.reply()[0] == 421
            assert c.closed()
    finally:
        a.close()
        b.close()


def test_empty_helo_refused(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        assert c.cmd("EHLO")[0] == 501
        assert c.cmd("HELO")[0] == 501
        assert c.cmd("EHLO ok.test")[0] == 250


def test_rset_and_new_transaction(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<bob@example.org>")
        assert c.cmd("RSET")[0] == 250
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("MAIL FROM:<b@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<carol@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<carol@example.org>")[0] == 250  # duplicate: one delivery
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message() + ".\r\n")
        assert c.reply()[0] == 250
    box = facteur.wait_mailbox(1)
    assert facteur.wait_queue_empty()
    box = facteur.mailbox()
    assert len(box) == 1
    raw = next(iter(box.values()))
    assert raw.startswith(b"Return-Path: <b@example.org>\r\nDelivered-To: carol@example.org\r\n")


@pytest.mark.parametrize("local", ['"john smith"', '"a\\\\b"', '"semi;colon"', "o'brien",
                                   "a+tag", '"@"'])
def test_unusual_local_parts_round_trip(make_facteur, sink, local):
    """Quoted and unusual local parts survive the queue file, relay and local delivery."""
    f = relay_to(make_facteur, sink)
    transaction(f, f"MAIL FROM:<{local}@example.org>",
                [f"RCPT TO:<{local}@relay.test>", f"RCPT TO:<{local}@example.org>"])
    assert sink.wait_count(1), f.log_tail()
    assert f.wait_mailbox(1)
    assert f.wait_queue_empty()
    m = sink.received()[0]
    assert m.mail_from == f"{local}@example.org"
    assert m.rcpts == [f"{local}@relay.test"]
    raw = next(iter(f.mailbox().values()))
    assert raw.startswith(f"Return-Path: <{local}@example.org>\r\nDelivered-To: {local}@example.org"
                          .encode())
