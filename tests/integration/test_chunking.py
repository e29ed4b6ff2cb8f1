# SPDX-License-Identifier: MIT
"""BDAT (RFC 3030 CHUNKING) over raw sockets."""
import re

from facteur_it import RawSMTP


def begin(c, rcpts=("bob@example.org",)):
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
    for r in rcpts:
        assert c.cmd(f"RCPT TO:<{r}>")[0] == 250


def bdat(c, data, last=False):
    c.send(f"BDAT {len(data)}{' LAST' if last else ''}\r\n".encode() + data)
    return c.reply()


def test_multi_chunk_message(facteur):
    chunks = [b"From: alice@example.org\r\nSubject: chunk", b"ed\r\n\r\nfirst line\r",
              b"\n.not stuffed\r\n.\r\n", b"last line\r\n"]
    with RawSMTP(facteur.smtp_port) as c:
        begin(c)
        for ch in chunks[:-1]:
            code, text = bdat(c, ch)
            assert code == 250, text
            assert "octets received" in text[0]
        code, text = bdat(c, chunks[-1], last=True)
        assert code == 250, text
        m = re.match(r"2\.0\.0 Ok: queued as ([0-9A-F]+)$", text[0])
        assert m, text
        qid = m.group(1)
        assert c.cmd("QUIT")[0] == 221
    assert facteur.wait_mailbox(1)
    raw = next(iter(facteur.mailbox_for(qid).values()))
    whole = b"".join(chunks)
    # Exactly the bytes sent, after the Received header: BDAT data is not dot-stuffed.
    assert raw.endswith(b"\r\n" + whole)
    assert b"\r\n.not stuffed\r\n.\r\nlast line\r\n" in raw
    assert b"with ESMTP id " + qid.encode() in raw


def test_bdat_without_mail_is_not_executed(facteur):
    payload = b"RSET\r\nMAIL FROM:<x@example.org>\r\nQUIT\r\n"
    with RawSMTP(facteur.smtp_port) as c:
        assert c.reply()[0] == 220
        assert c.ehlo()[0] == 250
        code, text = bdat(c, payload)
        assert code == 503, text
        # Had the chunk been read as commands, QUIT would have closed the session
        # and a second MAIL would be "nested".
        assert c.cmd("NOOP")[0] == 250
        assert c.nothing_pending()
        assert c.cmd("MAIL FROM:<y@example.org>")[0] == 250
    assert facteur.queue_empty()


def test_bdat_without_rcpt_is_not_executed(facteur):
    payload = b"QUIT\r\n"
    with RawSMTP(facteur.smtp_port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org>")[0] == 250
        code, _ = bdat(c, payload, last=True)
        assert code == 503
        assert c.cmd("NOOP")[0] == 250
        assert c.nothing_pending()
    assert facteur.queue_empty()


def test_bdat_last_zero_bytes_ends_message(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        begin(c)
        assert bdat(c, b"Subject: zero\r\n\r\nbody\r\n")[0] == 250
        code, text = bdat(c, b"", last=True)
        assert code == 250 and "queued as" in text[0], text
    box = facteur.wait_mailbox(1)
    assert next(iter(box.values())).endswith(b"\r\nSubject: zero\r\n\r\nbody\r\n")


def test_bdat_zero_last_only(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        begin(c)
        code, text = bdat(c, b"", last=True)
        assert code == 250 and "queued as" in text[0], text
    assert facteur.wait_mailbox(1)


def test_bdat_then_data_refused(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        begin(c)
        assert bdat(c, b"Subject: x\r\n")[0] == 250
        assert c.cmd("DATA")[0] == 503
        assert c.cmd("RSET")[0] == 250
    assert facteur.queue_empty()


def test_bdat_pipelined(facteur):
    """EHLO, MAIL, RCPT and all the chunks in one write."""
    with RawSMTP(facteur.smtp_port) as c:
        assert c.reply()[0] == 220
        c.send(b"EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
               b"BDAT 12\r\nSubject: p\r\n" b"BDAT 8 LAST\r\n\r\nbody\r\n" b"QUIT\r\n")
        codes = [c.reply()[0] for _ in range(6)]
        assert codes == [250, 250, 250, 250, 250, 221]
    box = facteur.wait_mailbox(1)
    assert next(iter(box.values())).endswith(b"\r\nSubject: p\r\n\r\nbody\r\n")


def test_bdat_oversize_refused(make_facteur):
    f = make_facteur(message_size_limit=10000)
    with RawSMTP(f.smtp_port) as c:
        begin(c)
        assert bdat(c, b"Subject: big\r\n\r\n")[0] == 250
        code, text = bdat(c, b"x" * 78 + b"\r\n" + (b"y" * 78 + b"\r\n") * 150, last=True)
        assert code == 552, text
        assert c.cmd("NOOP")[0] == 250
    assert f.queue_empty()


def test_bdat_bad_syntax(facteur):
    with RawSMTP(facteur.smtp_port) as c:
        begin(c)
        assert c.cmd("BDAT")[0] == 501
        assert c.cmd("BDAT x")[0] == 501
        assert c.cmd("BDAT 10 FIRST")[0] == 501
        assert c.cmd("BDAT -1 LAST")[0] == 501
        # The transaction survives the bad commands.
        assert bdat(c, b"Subject: ok\r\n\r\n", last=True)[0] == 250
