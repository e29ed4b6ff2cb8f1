# SPDX-License-Identifier: MIT
"""ESMTP conversations: extensions, STARTTLS, AUTH, the submission ports,
pipelining and the Received header, spoken with smtplib and raw sockets."""
import email
import email.policy
import re
import smtplib
import socket
import ssl
import threading
import time

import pytest

from facteur_it import PASSWORD, USER, RawSMTP, simple_message


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_ehlo_lists_extensions(facteur):
    with smtplib.SMTP("127.0.0.1", facteur.smtp_port, timeout=30) as s:
        code, _ = s.ehlo("client.test")
        assert code == 250
        f = s.esmtp_features
        for ext in ("pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "starttls",
                    "chunking", "dsn"):
            assert ext in f, f"{ext} missing from EHLO: {f}"
        assert f["size"] == "26214400"
        assert "auth" not in f, "AUTH must not be offered before TLS"


def test_ehlo_size_follows_config(make_facteur):
    f = make_facteur(message_size_limit=12345)
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        assert s.esmtp_features["size"] == "12345"


def test_auth_offered_after_starttls(facteur):
    with smtplib.SMTP("127.0.0.1", facteur.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        code, _ = s.starttls(context=tls_ctx())
        assert code == 220
        s.ehlo("client.test")
        assert "starttls" not in s.esmtp_features
        assert set(s.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}


def test_auth_before_tls_refused(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        assert c.reply()[0] == 220
        assert c.ehlo()[0] == 250
        code, text = c.auth_plain(USER, PASSWORD)
        assert code == 538, text
        assert "5.7.11" in text[0]
        # The session goes on.
        assert c.cmd("NOOP")[0] == 250


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_good_password(facteur, mech):
    with smtplib.SMTP("127.0.0.1", facteur.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        s.user, s.password = USER, PASSWORD
        code, text = s.auth(mech, s.auth_plain if mech == "PLAIN" else s.auth_login)
        assert code == 235, text
    assert facteur.stats()["smtpd_auth_success"] == 1


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_auth_bad_password(facteur, mech):
    with smtplib.SMTP("127.0.0.1", facteur.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        s.user, s.password = USER, "wrong-password"
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.auth(mech, s.auth_plain if mech == "PLAIN" else s.auth_login)
        assert e.value.smtp_code == 535
        # Not authenticated: no relaying for an outsider... and AUTH may be retried.
        s.user, s.password = USER, PASSWORD
        code, _ = s.auth("PLAIN", s.auth_plain)
        assert code == 235
    st = facteur.stats()
    assert st["smtpd_auth_failure"] == 1
    assert st["smtpd_auth_success"] == 1


def test_auth_unknown_user(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.starttls()
        c.ehlo()
        code, _ = c.auth_plain("mallory", PASSWORD)
        assert code == 535


def test_submission_requires_starttls(facteur):
    with RawSMTP(facteur.submission_port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<alice@example.org>")
        assert code == 530, text


def test_submission_requires_auth(facteur):
    with RawSMTP(facteur.submission_port) as c:
        c.reply()
        c.ehlo()
        c.starttls()
        c.ehlo()
        code, text = c.cmd("MAIL FROM:<alice@example.org>")
        assert code == 530, text
        assert "Authentication required" in text[0]


def test_submission_with_auth_relays_anywhere(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}", mynetworks="192.0.2.0/24")
    with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=30) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        s.login(USER, PASSWORD)
        refused = s.sendmail("alice@example.org", ["bob@far-away.example"],
                             simple_message(test_id="sub-1", to="bob@far-away.example"))
        assert refused == {}
    assert sink.wait_count(1)
    m = sink.received()[0]
    assert m.rcpts == ["bob@far-away.example"]
    assert m.header("X-Test-Id") == "sub-1"


def test_smtps_implicit_tls(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")
    with smtplib.SMTP_SSL("127.0.0.1", f.smtps_port, timeout=30, context=tls_ctx()) as s:
        s.ehlo("client.test")
        assert "starttls" not in s.esmtp_features
        assert "auth" in s.esmtp_features
        s.login(USER, PASSWORD)
        s.sendmail("alice@example.org", ["carol@elsewhere.example"],
                   simple_message(test_id="smtps-1", to="carol@elsewhere.example"))
    assert sink.wait_count(1)
    assert sink.received()[0].header("X-Test-Id") == "smtps-1"


def test_smtps_requires_auth(facteur):
    with RawSMTP(facteur.smtps_port, implicit_tls=True) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 530


def _received(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [re.sub(r"\s+", " ", str(h)) for h in msg.get_all("Received")]


@pytest.mark.parametrize("port,proto", [("smtp", "ESMTP"), ("smtp+starttls", "ESMTPS"),
                                        ("submission", "ESMTPSA"), ("smtps", "ESMTPSA")])
def test_received_header(facteur, port, proto):
    if port == "smtps":
        s = smtplib.SMTP_SSL("127.0.0.1", facteur.smtps_port, timeout=30, context=tls_ctx())
    else:
        s = smtplib.SMTP("127.0.0.1", facteur.submission_port if port == "submission" else
                         facteur.smtp_port, timeout=30)
    with s:
        s.ehlo("client.test")
        if port in ("smtp+starttls", "submission"):
            s.starttls(context=tls_ctx())
            s.ehlo("client.test")
        if port in ("submission", "smtps"):
            s.login(USER, PASSWORD)
        s.mail("sender@example.org")
        s.rcpt("rcpt@example.org")
        code, text = s.data(simple_message(subject=port).encode())
        assert code == 250
        qid = re.search(r"queued as ([0-9A-F]+)", text.decode()).group(1)
    boxes = facteur.wait_mailbox(1)
    assert boxes, f"nothing delivered:\n{facteur.log_tail()}"
    raw = facteur.mailbox_for(qid)[f"{qid}.0.eml"]
    rec = _received(raw)
    assert len(rec) == 1
    # The verified name, as Postfix writes it: 127.0.0.1 is localhost both ways.
    assert re.match(rf"from client\.test \(localhost \[127\.0\.0\.1\]\) by mx\.test \(facteur\) "
                    rf"with {proto} "
                    rf"id {qid}\b", rec[0]), rec[0]
    assert "for <rcpt@example.org>" in rec[0]
    if proto != "ESMTP":
        assert "(using TLS" in rec[0]


def test_pipelining_replies_in_order(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        assert c.reply()[0] == 220
        c.send("EHLO client.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<a@example.org>\r\n"
               "RCPT TO:<nobody@not-ours.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(6)]
        # 127.0.0.1 is in mynetworks: the foreign recipient is accepted too.
        assert codes == [250, 250, 250, 250, 250, 354]
        c.send(simple_message(test_id="pipe") + ".\r\nNOOP\r\nRSET\r\nQUIT\r\n")
        code, text = c.reply()
        assert code == 250 and "queued as" in text[0]
        assert [c.reply()[0] for _ in range(3)] == [250, 250, 221]
        assert c.closed()


def test_replies_wait_for_a_client_that_does_not_read(facteur):
    """Replies the socket does not take at once are kept and sent in order:
    a client with a small receive buffer pipelines 600,000 RSETs (8.4 MB of
    replies, more than the kernel buffers) before it reads any."""
    n = 600000
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(120)
    s.connect(("127.0.0.1", facteur.smtp_port))
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    s.sendall(b"EHLO client.test\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    sender = threading.Thread(target=s.sendall, args=(b"RSET\r\n" * n + b"QUIT\r\n",))
    sender.start()
    sender.join()
    # The input is in the server's receive buffer now; while it answers,
    # nothing is read here, so its replies outgrow the socket buffers.
    time.sleep(2)
    lines = f.read().split(b"\r\n")
    s.close()
    assert lines[-1] == b""
    assert lines[:n] == [b"250 2.0.0 Ok"] * n
    assert lines[n].startswith(b"221 ") and len(lines) == n + 2


def test_pipelining_errors_keep_order(make_facteur):
    # EHLO must end a pipelined group (RFC 2920): this client would be
    # refused as a pipelining abuser; the test is about the order of replies.
    f = make_facteur(mynetworks="192.0.2.0/24", smtpd_pipelining_action="ignore")
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.send("EHLO client.test\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<x@evil.example>\r\n"
               "RCPT TO:<a@example.org>\r\nBOGUS\r\nRCPT TO:<b@relay.test>\r\nRSET\r\n")
        codes = [c.reply()[0] for _ in range(7)]
        assert codes == [250, 250, 554, 250, 502, 250, 250]
        assert c.nothing_pending()


def test_starttls_discards_pipelined_plaintext(facteur):
    """Commands pipelined after STARTTLS in clear text must not run inside TLS (CVE-2011-0411)."""
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        code, _ = c.reply()
        assert code == 220
        try:
            c._wrap()
        except (ssl.SSLError, OSError):
            return  # the server refused the handshake polluted with clear text: fine
        c.ehlo()
        # Had the injected MAIL run, this would be "nested MAIL".
        code, text = c.cmd("MAIL FROM:<real@example.org>")
        assert code == 250, text


def test_helo_then_mail_without_esmtp_params(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        assert c.cmd("HELO client.test")[0] == 250
        code, _ = c.cmd("MAIL FROM:<s@example.org> SIZE=100")
        assert code == 555
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 250


def test_mail_before_helo_refused(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        assert c.cmd("MAIL FROM:<s@example.org>")[0] == 503
        assert c.cmd("RCPT TO:<a@example.org>")[0] == 503
        assert c.cmd("DATA")[0] == 503


def test_vrfy_and_expn_reveal_nothing(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("VRFY root")[0] == 252
        assert c.cmd("EXPN staff")[0] == 502
