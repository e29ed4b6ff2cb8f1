# SPDX-License-Identifier: MIT
"""Limits: message size, line length, recipients, errors, connections per
client, idle time, and address syntax."""
import socket

import pytest

from facteur_it import RawSMTP, simple_message, wait_for


def start_mail(c, size=None):
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    code, text = c.cmd("MAIL FROM:<s@example.org>" + (f" SIZE={size}" if size else ""))
    return code, text


def test_declared_size_too_big_refused_at_mail(make_facteur):
    f = make_facteur(message_size_limit=10000)
    with RawSMTP(f.smtp_port) as c:
        code, text = start_mail(c, size=10001)
        assert code == 552, text
        assert text[0].startswith("5.3.4")
        # At the limit is fine.
        assert c.cmd("MAIL FROM:<s@example.org> SIZE=10000")[0] == 250
    assert f.stats()["smtpd_reject_size"] == 1


def test_undeclared_oversize_refused_at_end_of_data(make_facteur):
    f = make_facteur(message_size_limit=10000)
    with RawSMTP(f.smtp_port) as c:
        assert start_mail(c)[0] == 250
        assert c.cmd("RCPT TO:<r@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        body = ("x" * 70 + "\r\n") * 300  # ~21 KB
        c.send(simple_message(body=body) + ".\r\n")
        code, text = c.reply()
        assert code == 552, text
        # The session continues, with a fresh transaction.
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd("RCPT TO:<r@example.org>")[0] == 503
    assert f.queue_empty(), f.all_queue_files()
    assert not [n for n in f.queue_files("incoming") if n.startswith("t.")]
    st = f.stats()
    assert st["smtpd_messages_accepted"] == 0
    assert st["smtpd_reject_size"] == 1
    assert f.mailbox() == {}


def test_message_just_under_the_limit_accepted(make_facteur):
    f = make_facteur(message_size_limit=20000)
    with RawSMTP(f.smtp_port) as c:
        assert start_mail(c, size=9000)[0] == 250
        c.cmd("RCPT TO:<r@example.org>")
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message(body=("y" * 70 + "\r\n") * 100) + ".\r\n")
        assert c.reply()[0] == 250
    assert f.wait_mailbox(1)


def test_overlong_command_line(make_facteur):
    f = make_facteur(smtpd_line_length_limit=1000)
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        code, text = c.cmd("NOOP " + "x" * 5000)
        assert code == 500, text
        assert text[0].startswith("5.5.2")
        # The tail of the long line was not taken for a command; the session goes on.
        assert c.nothing_pending()
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<" + "a" * 60 + "@example.org>")[0] == 250


def test_overlong_command_line_in_pieces(make_facteur):
    f = make_facteur(smtpd_line_length_limit=1000)
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        for _ in range(10):
            c.send("RSET" * 250)
        c.send("\r\nNOOP\r\n")
        assert c.reply()[0] == 500
        assert c.reply()[0] == 250
        assert c.nothing_pending()


def test_too_many_recipients(make_facteur):
    f = make_facteur(smtpd_recipient_limit=3)
    with RawSMTP(f.smtp_port) as c:
        start_mail(c)
        for i in range(3):
            assert c.cmd(f"RCPT TO:<r{i}@example.org>")[0] == 250
        code, text = c.cmd("RCPT TO:<r3@example.org>")
        assert code == 452, text
        assert text[0].startswith("4.5.3")
        # The accepted ones still make a message.
        assert c.cmd("DATA")[0] == 354
        c.send(simple_message() + ".\r\n")
        assert c.reply()[0] == 250
    assert f.wait_mailbox(3)
    assert len(f.mailbox()) == 3


def test_error_limit_closes_session(make_facteur):
    f = make_facteur(smtpd_error_limit=3)
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        assert c.cmd("BOGUS")[0] == 502
        assert c.cmd("XYZZY")[0] == 502
        assert c.cmd("EXPN list")[0] == 502
        code, text = c.reply()
        assert code == 421, text
        assert c.closed()


def test_per_client_connection_limit(make_facteur):
    f = make_facteur(smtpd_client_connection_limit=2, mynetworks="192.0.2.0/24")
    a = RawSMTP(f.smtp_port)
    b = RawSMTP(f.smtp_port)
    try:
        assert a.reply()[0] == 220
        assert b.reply()[0] == 220
        with RawSMTP(f.smtp_port) as third:
            code, text = third.reply()
            assert code == 421, text
            assert third.closed()
        assert f.stats()["smtpd_connections_refused"] == 1
        # The first two are unaffected.
        assert a.cmd("NOOP")[0] == 250
        assert b.cmd("NOOP")[0] == 250
        # Once one leaves, a new connection is welcome again.
        assert a.cmd("QUIT")[0] == 221
        assert a.closed()

        def banner():
            with RawSMTP(f.smtp_port) as c:
                return c.reply()[0] == 220
        assert wait_for(banner)
    finally:
        a.close()
        b.close()


def test_mynetworks_exempt_from_client_connection_limit(make_facteur):
    f = make_facteur(smtpd_client_connection_limit=2)
    conns = [RawSMTP(f.smtp_port) for _ in range(4)]
    try:
        assert [c.reply()[0] for c in conns] == [220] * 4
    finally:
        for c in conns:
            c.close()


def test_command_timeout(make_facteur):
    f = make_facteur(smtpd_timeout=2)
    with RawSMTP(f.smtp_port, timeout=60) as c:
        assert c.reply()[0] == 220
        code, text = c.reply()  # say nothing and wait
        assert code == 421, text
        assert text[0].startswith("4.4.2")
        assert c.closed()


def test_data_timeout(make_facteur):
    f = make_facteur(smtpd_data_timeout=2)
    with RawSMTP(f.smtp_port, timeout=60) as c:
        start_mail(c)
        c.cmd("RCPT TO:<r@example.org>")
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: half a message\r\n")
        code, _ = c.reply()
        assert code == 421
        assert c.closed()
    assert wait_for(lambda: not [n for n in f.queue_files("incoming") if n.startswith("t.")])
    assert f.queue_empty()


@pytest.mark.parametrize("cmd", [
    "MAIL FROM:<s@example.org",
    "MAIL FROM:<s@example.org> >",
    "MAIL FROM:<s @example.org>",
    "MAIL FROM:<s@@example.org>",
    "MAIL FROM:<s@example..org>",
    "MAIL FROM:<s@-example.org>",
    "MAIL FROM:<.s@example.org>",
    "MAIL FROM:<@example.org>",
    "MAIL FROM:<s@>",
    "MAIL FROM:<s@example.org>garbage",
    "MAIL FROM:<" + "l" * 65 + "@example.org>",
    "MAIL TO:<s@example.org>",
    "MAIL FROM:<s@example.org> SIZE=abc",
    "MAIL FROM:<s@example.org> RET=NONE",
])
def test_bad_mail_syntax(facteur, cmd):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        code, text = c.cmd(cmd)
        assert code == 501, (cmd, code, text)
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250


@pytest.mark.parametrize("cmd", [
    "RCPT TO:<>",
    "RCPT TO:<r@example.org",
    "RCPT TO:r@example.org>",
    "RCPT TO:<r@exa mple.org>",
    "RCPT FROM:<r@example.org>",
    "RCPT TO:<r@example.org> NOTIFY=SOMETIMES",
    "RCPT TO:<r@example.org> ORCPT=garbage",
])
def test_bad_rcpt_syntax(facteur, cmd):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250
        code, text = c.cmd(cmd)
        assert code == 501, (cmd, code, text)
        assert c.cmd("RCPT TO:<r@example.org>")[0] == 250


def test_nul_byte_in_command(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.send(b"MAIL FROM:<s@example.org>\x00 SIZE=1\r\n")
        assert c.reply()[0] == 500
        assert c.cmd("NOOP")[0] == 250


def test_http_request_closes(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        code, _ = c.cmd("GET / HTTP/1.0")
        assert code == 521
        assert c.closed()


def test_abrupt_disconnects_leave_nothing(facteur):
    """Clients that vanish mid-command or mid-DATA leave no temporary file behind."""
    for cut in ("EHLO x\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nSubj",
                "EHLO x\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.org>\r\nBDAT 100\r\nab",
                "EHLO x\r\nMAIL FROM:<s@exa"):
        s = socket.create_connection(("127.0.0.1", facteur.smtp_port), timeout=30)
        s.recv(1000)
        s.sendall(cut.encode())
        s.close()
    assert wait_for(lambda: facteur.stats()["smtpd_connections_active"] == 0)
    assert facteur.queue_empty()
    assert facteur.queue_files("incoming") == []
    # And the server still serves.
    with RawSMTP(facteur.smtp_port) as c:
        assert c.reply()[0] == 220


def test_garbage_instead_of_tls_handshake(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("STARTTLS")[0] == 220
        c.send(b"EHLO this is not a ClientHello\r\n" * 10)
        assert c.closed()
    with RawSMTP(facteur.smtps_port) as c:
        c.send(b"\x16\x03\x01\x00\x05hello" + b"\0" * 100)
        assert c.closed()
    assert wait_for(lambda: facteur.stats()["smtpd_connections_active"] == 0)
    assert set(facteur.daemons()) == {"smtpd", "qmgr"}


def test_silent_tls_client_times_out(make_facteur):
    """A client that never completes the TLS handshake must not hold its slot forever."""
    f = make_facteur(smtpd_timeout=2)
    with RawSMTP(f.smtps_port, timeout=60) as c:
        assert c.closed(60)  # no handshake ever: closed after the idle time
    with RawSMTP(f.smtp_port, timeout=60) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("STARTTLS")[0] == 220
        assert c.closed(60)
    assert wait_for(lambda: f.stats()["smtpd_connections_active"] == 0)
