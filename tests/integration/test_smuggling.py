# SPDX-License-Identifier: MIT
"""SMTP smuggling: only <CRLF>.<CRLF> ends DATA.  A lone "." after a bare LF
or CR must not end the message, whatever follows must stay message data, and
by default the whole message is refused; with smtpd_bare_newline = normalize
it is accepted as one message with CRLF line ends."""
import pytest

from facteur_it import RawSMTP, wait_for

SMUGGLED = (b"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
            b"From: ceo@example.org\r\nSubject: smuggled\r\n\r\nPay now.\r\n")

# (name, the bytes between the first message's body and the smuggled commands)
SEQUENCES = [
    ("LF.LF", b"\n.\n"),
    ("LF.CRLF", b"\n.\r\n"),
    ("CRLF.LF", b"\r\n.\n"),
    ("CR.CRLF", b"\r.\r\n"),
    ("CRLF.CR", b"\r\n.\r"),
    ("CR.CR", b"\r.\r"),
    ("LF.CR", b"\n.\r"),
    ("CR.LF", b"\r.\n"),
]

# Bare line ends that are no end-of-data lookalike, but still not SMTP.
BARE = [
    ("bare-LF", b"line one\nline two\r\n"),
    ("bare-CR", b"line one\rline two\r\n"),
    ("CR-CR-LF", b"line one\r\r\nline two\r\n"),
]


def open_data(c):
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354


def message(seq):
    return (b"From: alice@example.org\r\nSubject: innocent\r\n\r\nHello Bob." + seq + SMUGGLED +
            b"\r\n.\r\n")


@pytest.mark.parametrize("name,seq", SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_smuggling_refused(facteur, name, seq):
    with RawSMTP(facteur.smtp_port) as c:
        open_data(c)
        c.send(message(seq))
        code, text = c.reply()
        # One reply for the whole thing: the smuggled MAIL/RCPT/DATA were data.
        assert code == 550, text
        assert text[0].startswith("5.5.2")
        c.send("NOOP\r\n")
        assert c.reply()[0] == 250, "a smuggled command was answered"
        assert c.nothing_pending()
    assert facteur.queue_empty()
    st = facteur.stats()
    assert st["smtpd_messages_accepted"] == 0
    assert st["smtpd_reject_bare_newline"] == 1
    assert facteur.mailbox() == {}


@pytest.mark.parametrize("name,data", BARE, ids=[b[0] for b in BARE])
def test_bare_newlines_refused(facteur, name, data):
    with RawSMTP(facteur.smtp_port) as c:
        open_data(c)
        c.send(b"Subject: bare\r\n\r\n" + data + b".\r\n")
        code, text = c.reply()
        assert code == 550, text
        assert c.cmd("NOOP")[0] == 250
    assert facteur.queue_empty()


def test_smuggling_split_across_packets(facteur):
    """The same attack with the sequence cut between TCP segments."""
    with RawSMTP(facteur.smtp_port) as c:
        open_data(c)
        for piece in (b"Subject: x\r\n\r\nbody\n", b".", b"\n", SMUGGLED, b"\r\n", b".", b"\r\n"):
            c.send(piece)
        code, _ = c.reply()
        assert code == 550
        assert c.cmd("NOOP")[0] == 250
        assert c.nothing_pending()
    assert facteur.queue_empty()


@pytest.mark.parametrize("name,seq", SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_normalize_makes_one_message(make_facteur, name, seq):
    f = make_facteur(smtpd_bare_newline="normalize")
    with RawSMTP(f.smtp_port) as c:
        open_data(c)
        c.send(message(seq))
        code, text = c.reply()
        assert code == 250, text
        assert c.cmd("NOOP")[0] == 250
        assert c.nothing_pending()
    assert f.wait_mailbox(1)
    # Give qmgr the chance to deliver a second message, if there were one.
    assert wait_for(f.queue_empty)
    box = f.mailbox()
    assert len(box) == 1, sorted(box)
    assert f.stats()["smtpd_messages_accepted"] == 1
    raw = next(iter(box.values()))
    # Every line ends with CRLF, no bare CR or LF is left.
    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert raw.count(b"\r") == raw.count(b"\r\n")
    # The would-be commands are part of the one message.
    assert b"MAIL FROM:<ceo@example.org>\r\n" in raw
    assert b"Subject: innocent" in raw
    assert b"Delivered-To: bob@example.org" in raw
    assert b"victim" not in b"".join(n.encode() for n in box)


def test_dot_stuffing_undone(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        open_data(c)
        c.send(b"Subject: dots\r\n\r\n..leading dot\r\n...\r\n.\r\n")
        assert c.reply()[0] == 250
    box = facteur.wait_mailbox(1)
    raw = next(iter(box.values()))
    assert raw.endswith(b"\r\n.leading dot\r\n..\r\n")


def test_overlong_data_line_refused(make_facteur):
    f = make_facteur(smtpd_data_line_length_limit=1000)
    with RawSMTP(f.smtp_port) as c:
        open_data(c)
        c.send(b"Subject: long\r\n\r\n" + b"z" * 5000 + b"\r\n.\r\n")
        code, text = c.reply()
        assert code == 552, text
        assert c.cmd("NOOP")[0] == 250
    assert f.queue_empty()


def test_overlong_data_line_does_not_hide_end_of_data(make_facteur):
    """A long line cut at the limit must not let its tail be read as "." + commands."""
    f = make_facteur(smtpd_data_line_length_limit=1000)
    with RawSMTP(f.smtp_port) as c:
        open_data(c)
        # The 1000-byte boundary falls right before "\r\n.\r\nMAIL ...".
        c.send(b"Subject: long\r\n\r\n" + b"z" * 998 + b"\r\n.\r\n" + b"NOOP\r\n")
        code, _ = c.reply()
        # The first "." line after a full-length (legal) line ends DATA: one reply, then NOOP.
        assert code == 250
        assert c.reply()[0] == 250
        assert c.nothing_pending()


@pytest.mark.parametrize("name,seq", SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_normalized_message_relayed_as_one(make_facteur, sink, name, seq):
    """After normalization a "." line may sit inside the content: the SMTP client
    must dot-stuff it, or the next hop would see the smuggled message."""
    f = make_facteur(smtpd_bare_newline="normalize", relayhost=f"[127.0.0.1]:{sink.port}")
    with RawSMTP(f.smtp_port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        assert c.cmd("RCPT TO:<bob@far.example>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(message(seq))
        assert c.reply()[0] == 250
    assert sink.wait_count(1)
    assert f.wait_queue_empty()
    got = sink.received()
    assert len(got) == 1, [(m.mail_from, m.rcpts) for m in got]
    assert got[0].rcpts == ["bob@far.example"]
    assert b"MAIL FROM:<ceo@example.org>\r\n" in got[0].data
    assert b"Pay now." in got[0].data


def test_dots_relayed_intact(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")
    body = b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n. \r\nend\r\n"
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<bob@far.example>")
        assert c.cmd("DATA")[0] == 354
        # Dot-stuffed on the wire.
        c.send(b"Subject: dots\r\n\r\n..\r\n...\r\n..x\r\n.. \r\nend\r\n.\r\n")
        assert c.reply()[0] == 250
    assert sink.wait_count(1)
    assert sink.received()[0].data.endswith(body)
