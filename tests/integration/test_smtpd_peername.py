# SPDX-License-Identifier: MIT
"""smtpd looks up the client's name before the banner and keeps it only
when verified, as Postfix's smtpd does: the PTR name of the address must
have the address among its A/AAAA records, otherwise the client is
"unknown".  The name shows in the Received field (Postfix's
"from HELO (NAME [ADDR])"), in the connect log line (NAME[ADDR]) and in
the milters' {client_name}.  smtpd_peername_lookup = no skips the lookup;
a resolver that never answers delays the banner a few seconds only.

A client with a name from the test zone must not connect from 127/8:
libunbound answers the loopback reverse zone itself (1.0.0.127 is
localhost).  Those tests connect from a non-loopback address of this host
to smtpd on 127.0.0.1, and are skipped where the host has none."""
import ipaddress
import os
import socket
import subprocess

import pytest

from facteur_it import Facteur, RawSMTP, Unbound
from test_filter import delivered, header_value, qid_of

HELO = "client.test"


def local_address():
    """A non-loopback IPv4 address of this host that a client can bind, or None."""
    for probe in ("192.0.2.1", "10.255.255.254", "198.51.100.1"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))  # picks a source address; sends nothing
                addr = s.getsockname()[0]
            if ipaddress.ip_address(addr).is_loopback:
                continue
            with socket.socket() as s:
                s.bind((addr, 0))
            return addr
        except OSError:
            continue
    return None


LOCAL = local_address()
needs_local = pytest.mark.skipif(LOCAL is None, reason="no non-loopback IPv4 address to connect from")


def ptr(addr, name):
    return f"{ipaddress.ip_address(addr).reverse_pointer}. IN PTR {name}."


@pytest.fixture
def dns(workdir):
    """make(records, refuse=()) -> a started Unbound logging its queries; the
    zones of refuse are refused (the resolver reports a temporary failure)."""
    made = []

    def make(records, refuse=()):
        u = Unbound(os.path.join(workdir, f"dns{len(made)}"), records)
        with open(u.conf, "a") as f:
            f.write("    log-queries: yes\n")
            f.write("".join(f'    local-zone: "{z}" refuse\n' for z in refuse))
        made.append(u.start())
        return u

    yield make
    for u in made:
        u.stop()


def unbound_log(u):
    with open(os.path.join(u.dir, "unbound.log"), errors="replace") as f:
        return f.read()


def facteur(workdir, u, **params):
    f = Facteur(workdir, dns_forwarder=f"127.0.0.1@{u.port}", **params)
    f.start()
    return f


def connect(f, source="127.0.0.1"):
    sock = socket.create_connection(("127.0.0.1", f.smtp_port), timeout=30,
                                    source_address=(source, 0))
    c = RawSMTP.__new__(RawSMTP)
    c.sock, c.buf = sock, b""
    return c


def send_from(f, source, subject="peername"):
    """One message to rcpt@example.org from source; the delivered message."""
    c = connect(f, source)
    try:
        assert c.reply()[0] == 220
        assert c.ehlo(HELO)[0] == 250
        assert c.cmd("MAIL FROM:<someone@outside.test>")[0] == 250
        assert c.cmd("RCPT TO:<rcpt@example.org>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(f"From: <someone@outside.test>\r\nTo: <rcpt@example.org>\r\nSubject: {subject}\r\n"
               "\r\nHello.\r\n.\r\n")
        reply = c.reply()
        c.cmd("QUIT")
    finally:
        c.close()
    return delivered(f, qid_of((reply[0], " ".join(reply[1]))))


def received(raw):
    return header_value(raw, "Received")


SA_RELAY = r'''
use Mail::SpamAssassin;
my $sa = Mail::SpamAssassin->new({dont_copy_prefs => 1, local_tests_only => 1,
    userstate_dir => $ARGV[0], site_rules_filename => $ARGV[0], rules_filename => $ARGV[0]});
local $/; my $m = $sa->parse(<STDIN>);
my $pms = Mail::SpamAssassin::PerMsgStatus->new($sa, $m);
$pms->extract_message_metadata();
print $pms->get("X-Spam-Relays-Untrusted") . $pms->get("X-Spam-Relays-Trusted"), "\n";
'''


def sa_relay(workdir, raw):
    """SpamAssassin's reading of the message's Received fields, or None without it."""
    if subprocess.run(["perl", "-MMail::SpamAssassin", "-e", "1"], capture_output=True).returncode:
        return None
    d = os.path.join(workdir, "sa")
    os.makedirs(d, exist_ok=True)
    head = raw.split(b"\r\n\r\n", 1)[0]
    # From our Received field on: what SpamAssassin would read at delivery.
    head = head[head.index(b"Received:"):].replace(b"\r\n", b"\n")
    r = subprocess.run(["perl", "-e", SA_RELAY, d], input=head + b"\n\nbody\n",
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


@needs_local
def test_verified_name(workdir, dns):
    u = dns([ptr(LOCAL, "good.test"), f"good.test. IN A {LOCAL}"])
    f = facteur(workdir, u)
    try:
        raw = send_from(f, LOCAL)
        rcv = received(raw)
        assert rcv.startswith(f"from {HELO} (good.test [{LOCAL}]) by mx.test (facteur)"), rcv
        assert f"connect from good.test[{LOCAL}]" in f.log_text()
        assert f"disconnect from good.test[{LOCAL}]" in f.log_text()
        relay = sa_relay(workdir, raw)
        if relay is not None:
            assert f"[ ip={LOCAL} rdns=good.test helo={HELO} by=mx.test " in relay, relay
    finally:
        f.stop()


@needs_local
def test_name_not_resolving_back_is_unknown(workdir, dns):
    u = dns([ptr(LOCAL, "liar.test"), "liar.test. IN A 198.51.100.99"])
    f = facteur(workdir, u)
    try:
        raw = send_from(f, LOCAL)
        rcv = received(raw)
        assert rcv.startswith(f"from {HELO} (unknown [{LOCAL}]) by mx.test"), rcv
        log = f.log_text()
        assert f"connect from unknown[{LOCAL}]" in log
        assert f"hostname liar.test does not resolve to address {LOCAL}" in log
        relay = sa_relay(workdir, raw)
        if relay is not None:
            assert f"[ ip={LOCAL} rdns= helo={HELO} by=mx.test " in relay, relay
    finally:
        f.stop()


@needs_local
def test_name_without_address_is_unknown(workdir, dns):
    u = dns([ptr(LOCAL, "noaddr.test")])
    f = facteur(workdir, u)
    try:
        rcv = received(send_from(f, LOCAL))
        assert rcv.startswith(f"from {HELO} (unknown [{LOCAL}])"), rcv
        assert f"hostname noaddr.test does not resolve to address {LOCAL}" in f.log_text()
    finally:
        f.stop()


@needs_local
def test_temporary_failure_is_unknown(workdir, dns):
    # The PTR answers, the name's zone fails: unknown, and Postfix's warning with the reason.
    u = dns([ptr(LOCAL, "host.fail.test")], refuse=["fail.test."])
    f = facteur(workdir, u)
    try:
        rcv = received(send_from(f, LOCAL))
        assert rcv.startswith(f"from {HELO} (unknown [{LOCAL}])"), rcv
        assert f"hostname host.fail.test does not resolve to address {LOCAL}: " in f.log_text()
    finally:
        f.stop()
    # The reverse zone itself fails: unknown too.
    rev = ipaddress.ip_address(LOCAL).reverse_pointer + "."
    u = dns([], refuse=[rev])
    f = facteur(os.path.join(workdir, "ptr"), u)
    try:
        rcv = received(send_from(f, LOCAL))
        assert rcv.startswith(f"from {HELO} (unknown [{LOCAL}])"), rcv
        assert f"connect from unknown[{LOCAL}]" in f.log_text()
        assert f"client name of [{LOCAL}]: PTR: SERVFAIL" in f.log_text()
    finally:
        f.stop()


def test_no_ptr_is_unknown(workdir, dns):
    # 127.0.0.2 has no PTR (the loopback reverse zone knows only 127.0.0.1).
    u = dns([])
    f = facteur(workdir, u)
    try:
        rcv = received(send_from(f, "127.0.0.2"))
        assert rcv.startswith(f"from {HELO} (unknown [127.0.0.2]) by mx.test"), rcv
        assert "connect from unknown[127.0.0.2]" in f.log_text()
        assert "does not resolve" not in f.log_text()
    finally:
        f.stop()


def test_localhost(workdir, dns):
    # As with Postfix, loopback clients are looked up too: 127.0.0.1 is localhost.
    u = dns([])
    f = facteur(workdir, u)
    try:
        rcv = received(send_from(f, "127.0.0.1"))
        assert rcv.startswith(f"from {HELO} (localhost [127.0.0.1]) by mx.test"), rcv
        assert "connect from localhost[127.0.0.1] port=smtp" in f.log_text()
    finally:
        f.stop()


@needs_local
def test_lookup_off(workdir, dns):
    u = dns([ptr(LOCAL, "good.test"), f"good.test. IN A {LOCAL}"])
    f = facteur(workdir, u, smtpd_peername_lookup="no")
    try:
        rcv = received(send_from(f, LOCAL))
        assert rcv.startswith(f"from {HELO} (unknown [{LOCAL}])"), rcv
        assert f"connect from unknown[{LOCAL}]" in f.log_text()
        rev = ipaddress.ip_address(LOCAL).reverse_pointer
        assert rev not in unbound_log(u) and "good.test" not in unbound_log(u)
    finally:
        f.stop()
    # The same zone with the lookup on: the query is seen (the check above can fail).
    f = facteur(os.path.join(workdir, "on"), u)
    try:
        assert received(send_from(f, LOCAL)).startswith(f"from {HELO} (good.test [{LOCAL}])")
        assert rev in unbound_log(u)
    finally:
        f.stop()


def test_lookup_off_loopback(workdir, dns):
    u = dns([])
    f = facteur(workdir, u, smtpd_peername_lookup="no")
    try:
        rcv = received(send_from(f, "127.0.0.1"))
        assert rcv.startswith(f"from {HELO} (unknown [127.0.0.1])"), rcv
        assert "connect from unknown[127.0.0.1]" in f.log_text()
    finally:
        f.stop()


@needs_local
def test_silent_resolver_still_gives_a_banner(workdir):
    # A forwarder that takes the queries and never answers.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    f = Facteur(workdir, dns_forwarder=f"127.0.0.1@{silent.getsockname()[1]}")
    f.start()
    try:
        c = connect(f, LOCAL)
        try:
            code, text = c.reply()
            assert code == 220, text
            assert c.ehlo(HELO)[0] == 250
        finally:
            c.close()
        log = f.log_text()
        assert f"client name of [{LOCAL}]: no answer in" in log, log[-2000:]
        assert f"connect from unknown[{LOCAL}]" in log
    finally:
        f.stop()
        silent.close()


def test_milter_sees_client_name(workdir, dns):
    from test_smtpd_milter import scripted
    u = dns([])
    m = scripted(workdir, "names", None)
    f = facteur(workdir, u, smtpd_milters=m.address)
    try:
        send_from(f, "127.0.0.1")
        macros = m.macros_before("C")
        assert macros.get("{client_name}") == "localhost", macros
        assert macros.get("_") == "localhost [127.0.0.1]", macros
        hostname = next(data for cmd, data in m.received if cmd == "C").split(b"\0")[0]
        assert hostname == b"localhost"
    finally:
        f.stop()
        m.close()


@needs_local
def test_milter_sees_unknown_client(workdir, dns):
    from test_smtpd_milter import scripted
    u = dns([ptr(LOCAL, "liar.test"), "liar.test. IN A 198.51.100.99"])
    m = scripted(workdir, "unknown", None)
    f = facteur(workdir, u, smtpd_milters=m.address)
    try:
        send_from(f, LOCAL)
        macros = m.macros_before("C")
        # As Sendmail and Postfix tell milters: the address in brackets.
        assert macros.get("{client_name}") == f"[{LOCAL}]", macros
        assert macros.get("{client_addr}") == LOCAL
    finally:
        f.stop()
        m.close()
