# SPDX-License-Identifier: MIT
"""Message content survives facteur byte for byte: big messages, awkward line
lengths, dots, input cut into tiny pieces, DATA and BDAT on both sides."""
import hashlib
import random
import socket

import pytest

from facteur_it import PySink, RawSMTP

EXT = ["PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN"]


def make_body(size, seed):
    """Text lines of random lengths (0..998), some starting with dots, 8-bit bytes included."""
    rnd = random.Random(seed)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 .,;:-_=+!?\t\xc3\xa9\xe2\x82\xac"
    out = []
    total = 0
    while total < size:
        n = rnd.choice((0, 1, 2, 76, 78, 500, 997, 998, rnd.randrange(0, 999)))
        line = bytes(rnd.choice(alphabet) for _ in range(n))
        if rnd.random() < 0.1:
            line = b"." + line[1:] if line else b"."
        out.append(line + b"\r\n")
        total += len(line) + 2
    return b"".join(out)


def stuff(data):
    return (b"\r\n" + data).replace(b"\r\n.", b"\r\n..")[2:]


def send_data(port, body, pieces=None):
    with RawSMTP(port, timeout=120) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org> BODY=8BITMIME")[0] == 250
        assert c.cmd("RCPT TO:<u@relay.test>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        wire = stuff(body) + b".\r\n"
        if pieces:
            for i in range(0, len(wire), pieces):
                c.send(wire[i:i + pieces])
        else:
            c.send(wire)
        code, text = c.reply()
        assert code == 250, text
        return text[0].rsplit(" ", 1)[1]


def send_bdat(port, body, chunk):
    with RawSMTP(port, timeout=120) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org> BODY=8BITMIME")[0] == 250
        assert c.cmd("RCPT TO:<u@relay.test>")[0] == 250
        for i in range(0, len(body), chunk):
            part = body[i:i + chunk]
            last = i + chunk >= len(body)
            c.send(f"BDAT {len(part)}{' LAST' if last else ''}\r\n".encode() + part)
            code, text = c.reply()
            assert code == 250, text
        return text[0].rsplit(" ", 1)[1]


def content_after_received(data):
    """The message as the client sent it: what follows facteur's Received header."""
    head, sep, rest = data.partition(b"\r\n")
    assert head.startswith(b"Received: from "), head
    while rest.startswith(b"\t"):
        _, _, rest = rest.partition(b"\r\n")
    return rest


@pytest.fixture(params=["DATA", "BDAT"], ids=["hop-DATA", "hop-BDAT"])
def next_hop(request):
    s = PySink(extensions=EXT + (["CHUNKING"] if request.param == "BDAT" else [])).start()
    yield s
    s.stop()


@pytest.mark.parametrize("how", ["DATA", "BDAT"])
def test_big_message_intact(make_facteur, next_hop, how):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{next_hop.port}"
    f.start()
    body = b"Subject: big\r\nMessage-ID: <big@test>\r\n\r\n" + make_body(3_000_000, 42)
    if how == "DATA":
        send_data(f.smtp_port, body)
    else:
        send_bdat(f.smtp_port, body, 777_777)
    assert next_hop.wait_count(1, 120)
    got = content_after_received(next_hop.received()[0].data)
    assert len(got) == len(body)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("pieces", [1, 2, 3, 7])
def test_tiny_pieces(make_facteur, sink, pieces):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    body = b"Subject: tiny\r\n\r\n" + make_body(3000, pieces)
    send_data(f.smtp_port, body, pieces=pieces)
    assert sink.wait_count(1)
    assert content_after_received(sink.received()[0].data) == body


def test_empty_message(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<u@relay.test>")
        assert c.cmd("DATA")[0] == 354
        assert c.cmd(".")[0] == 250
    assert sink.wait_count(1)
    assert content_after_received(sink.received()[0].data) == b""


def test_bdat_message_without_final_crlf(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<u@relay.test>")
        body = b"Subject: no end\r\n\r\nlast line without CRLF"
        c.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
        assert c.reply()[0] == 250
    assert sink.wait_count(1)
    # The next hop gets a well-formed message: the missing CRLF is added.
    assert content_after_received(sink.received()[0].data) == body + b"\r\n"
