# SPDX-License-Identifier: MIT
"""smtpd's policy at connect, HELO, MAIL and RCPT: recipients from the
directory, aliases, allow/deny lists, greylisting, rate limits, HELO
syntax, pregreet and pipelining, DNSBL/DNSWL/RHSBL through a real unbound.

The client is 127.0.0.1; "outsider" instances set mynetworks to a network
that does not hold it, so the checks meant for strangers apply."""
import os
import smtplib
import socket
import time

import pytest

from facteur_it import PASSWORD, USER, RawSMTP, Unbound, simple_message, wait_for

OUTSIDER = {"mynetworks": "192.0.2.0/24"}


def directory(f):
    """Populate f's directory: example.net local with alice, bob, a disabled
    carol and aliases.  Made before facteur starts, as an installed system
    has its spool."""
    os.makedirs(f.spool, exist_ok=True)
    f.ctl("domain", "add", "example.net")
    for who in ("alice", "bob", "carol"):
        f.ctl("account", "add", f"{who}@example.net")
    f.ctl("account", "disable", "carol@example.net")
    f.ctl("alias", "add", "team@example.net", "alice@example.net", "bob@example.net")
    f.ctl("alias", "add", "boss@example.net", "team@example.net")


def session(f, helo="client.test", sender="someone@sender.example", port=None):
    c = RawSMTP(port or f.smtp_port)
    code, text = c.reply()
    assert code == 220, text
    assert c.ehlo(helo)[0] == 250
    code, text = c.cmd(f"MAIL FROM:<{sender}>")
    assert code == 250, text
    return c


@pytest.fixture
def outsider(make_facteur):
    f = make_facteur(start=False, **OUTSIDER)
    directory(f)
    f.start()
    return f


# ---------------------------------------------------------------- recipients


def test_unknown_recipient_refused_at_rcpt(outsider):
    with session(outsider) as c:
        code, text = c.cmd("RCPT TO:<nobody@example.net>")
        assert code == 550, text
        assert text[0].startswith("5.1.1 <nobody@example.net>: Recipient address rejected: User unknown")
        code, text = c.cmd("RCPT TO:<carol@example.net>")
        assert code == 550 and text[0].startswith("5.2.1"), text
        code, text = c.cmd("RCPT TO:<Alice@Example.NET>")
        assert code == 250, text
        # Sub-addressing: user+tag resolves like the user.
        assert c.cmd("RCPT TO:<bob+lists@example.net>")[0] == 250
    stats = outsider.stats()
    assert stats["policy_unknown_recipient"] == 2
    assert stats["policy_rejects"] == 2


def test_domains_from_parameters_still_accept_every_recipient(outsider):
    # example.org is in local_domains, not in the directory: no recipient list.
    with session(outsider) as c:
        assert c.cmd("RCPT TO:<anyone@example.org>")[0] == 250


def test_foreign_domain_still_refused(outsider):
    with session(outsider) as c:
        code, text = c.cmd("RCPT TO:<x@foreign.example>")
        assert code == 554 and "Relay access denied" in text[0], text


def test_aliases_expand_into_the_envelope(outsider):
    msg = simple_message(subject="alias", to="boss@example.net")
    with smtplib.SMTP("127.0.0.1", outsider.smtp_port, timeout=30) as s:
        refused = s.sendmail("someone@sender.example", ["boss@example.net"], msg)
        assert refused == {}
    box = outsider.wait_mailbox(2)
    assert box, outsider.log_tail()
    # The default local delivery writes one file per recipient, starting
    # with Return-Path and the Delivered-To of that recipient.
    delivered = sorted(m.split(b"\r\n")[1].decode() for m in box.values())
    assert delivered == ["Delivered-To: alice@example.net", "Delivered-To: bob@example.net"], delivered
    assert "alias boss@example.net expanded to 2 recipients" in outsider.log_text()


def test_catchall_receives_unknown_local_parts(make_facteur):
    f = make_facteur(start=False, **OUTSIDER)
    os.makedirs(f.spool, exist_ok=True)
    f.ctl("domain", "add", "catch.test", "--catchall", "postmaster@catch.test")
    f.ctl("account", "add", "postmaster@catch.test")
    f.start()
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        assert s.sendmail("a@sender.example", ["whatever@catch.test"],
                          simple_message(to="whatever@catch.test")) == {}
    box = f.wait_mailbox(1)
    assert box, f.log_tail()
    assert list(box.values())[0].split(b"\r\n")[1] == b"Delivered-To: postmaster@catch.test"


def test_directory_created_while_running_is_used(make_facteur):
    f = make_facteur(**OUTSIDER)
    with session(f) as c:
        assert c.cmd("RCPT TO:<x@late.test>")[0] == 554
    f.ctl("domain", "add", "late.test")
    f.ctl("account", "add", "x@late.test")

    def accepted():
        with session(f) as c:
            return c.cmd("RCPT TO:<x@late.test>")[0] == 250
    assert wait_for(accepted, timeout=10), f.log_tail()
    with session(f) as c:
        assert c.cmd("RCPT TO:<y@late.test>")[0] == 550


def test_relay_domain_recipient_list_and_next_hop(make_facteur, sink):
    f = make_facteur(start=False, **OUTSIDER)
    os.makedirs(f.spool, exist_ok=True)
    f.ctl("domain", "add", "relay.example", "--kind", "relay", "--verify", "list",
          "--nexthop", f"[127.0.0.1]:{sink.port}")
    f.ctl("recipient", "add", "known@relay.example")
    f.start()
    with session(f) as c:
        code, text = c.cmd("RCPT TO:<unknown@relay.example>")
        assert code == 550 and text[0].startswith("5.1.1"), text
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        assert s.sendmail("a@sender.example", ["known@relay.example"],
                          simple_message(to="known@relay.example")) == {}
    assert sink.wait_count(1), f.log_tail()
    assert sink.received()[0].rcpts == ["known@relay.example"]


# ---------------------------------------------------------------- access lists


def test_deny_list_refuses_client_and_allow_list_skips_greylisting(make_facteur):
    f = make_facteur(start=False, greylist_enable="yes", greylist_delay="3600", **OUTSIDER)
    directory(f)
    f.ctl("access", "deny", "spammer.example")
    f.ctl("access", "allow", "friend.example", "--for", "alice@example.net")
    f.start()
    c = RawSMTP(f.smtp_port)
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    code, text = c.cmd("MAIL FROM:<x@spammer.example>")
    assert code == 554 and text[0].startswith("5.7.1"), text
    c.close()
    with session(f, sender="pal@friend.example") as c:
        code, text = c.cmd("RCPT TO:<alice@example.net>")
        assert code == 250, text      # allowed: no greylisting
        code, text = c.cmd("RCPT TO:<bob@example.net>")
        assert code == 450 and "Greylisted" in text[0], text
    assert f.stats()["policy_access_denied"] == 1


# ---------------------------------------------------------------- greylisting


def test_greylisting_defers_then_accepts_the_retry(make_facteur):
    f = make_facteur(start=False, greylist_enable="yes", greylist_delay="2",
                     greylist_auto_allow="1", **OUTSIDER)
    directory(f)
    f.start()
    with session(f) as c:
        code, text = c.cmd("RCPT TO:<alice@example.net>")
        assert code == 450, text
        assert text[0].startswith("4.7.1 <alice@example.net>: Recipient address rejected: Greylisted")
        # Too early: still deferred.
        assert c.cmd("RCPT TO:<alice@example.net>")[0] == 450
    time.sleep(2.5)
    with session(f) as c:
        code, text = c.cmd("RCPT TO:<alice@example.net>")
        assert code == 250, text
        # greylist_auto_allow=1: the network passed once, so a new triplet passes.
        assert c.cmd("RCPT TO:<bob@example.net>")[0] == 250
    assert f.stats()["policy_greylisted"] == 2


def test_greylisting_skips_authenticated_and_trusted_clients(make_facteur):
    f = make_facteur(start=False, greylist_enable="yes", greylist_delay="3600", **OUTSIDER)
    directory(f)
    f.start()
    c = RawSMTP(f.submission_port)
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    c.starttls()
    assert c.ehlo()[0] == 250
    assert c.auth_plain(USER, PASSWORD)[0] == 235
    assert c.cmd("MAIL FROM:<user@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.net>")[0] == 250
    c.close()
    f.set(mynetworks="127.0.0.0/8")
    f.reload()
    time.sleep(0.5)
    with session(f) as c:
        assert c.cmd("RCPT TO:<bob@example.net>")[0] == 250
    assert f.stats()["policy_greylisted"] == 0


# ---------------------------------------------------------------- rate limits


def test_recipient_rate_limit_hits_and_resets(make_facteur):
    f = make_facteur(client_recipient_rate_limit="3/3s", **OUTSIDER)
    # Wait for the start of a fresh window so the four recipients share one.
    time.sleep(3 - time.time() % 3 + 0.05)
    with session(f) as c:
        for i in range(3):
            assert c.cmd(f"RCPT TO:<r{i}@example.org>")[0] == 250
        code, text = c.cmd("RCPT TO:<r3@example.org>")
        assert code == 450, text
        assert text[0].startswith("4.7.1 <r3@example.org>: Recipient address rejected: too many recipients")
    time.sleep(3 - time.time() % 3 + 0.05)
    with session(f) as c:
        assert c.cmd("RCPT TO:<r4@example.org>")[0] == 250
    assert f.stats()["policy_rate_limited"] == 1


def test_message_and_connection_rate_limits(make_facteur):
    f = make_facteur(client_message_rate_limit="2/1h", **OUTSIDER)
    c = RawSMTP(f.smtp_port)
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    for _ in range(2):
        assert c.cmd("MAIL FROM:<a@sender.example>")[0] == 250
        assert c.cmd("RSET")[0] == 250
    code, text = c.cmd("MAIL FROM:<a@sender.example>")
    assert code == 450 and "too many messages" in text[0], text
    c.close()
    # Connections are counted from the moment the limit is set.
    f.set(client_connection_rate_limit="3/1h")
    f.reload()
    time.sleep(0.5)
    codes = []
    for _ in range(4):
        with RawSMTP(f.smtp_port) as c:
            code, text = c.reply()
            codes.append(code)
    assert codes == [220, 220, 220, 421], codes
    assert text[0].startswith("4.7.0 Error: too many connections from 127.0.0.1"), text


def test_user_rate_limit_on_submission(make_facteur):
    f = make_facteur(user_recipient_rate_limit="2/1h")
    c = RawSMTP(f.submission_port)
    assert c.reply()[0] == 220
    c.ehlo()
    c.starttls()
    c.ehlo()
    assert c.auth_plain(USER, PASSWORD)[0] == 235
    assert c.cmd("MAIL FROM:<user@example.org>")[0] == 250
    assert c.cmd("RCPT TO:<a@far.example>")[0] == 250
    assert c.cmd("RCPT TO:<b@far.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<c@far.example>")
    assert code == 450 and "this account" in text[0], text
    c.close()


# ---------------------------------------------------------------- client manners


def test_invalid_and_non_fqdn_helo(make_facteur):
    f = make_facteur(reject_non_fqdn_helo="yes", **OUTSIDER)
    with session(f, helo="bad!name") as c:
        code, text = c.cmd("RCPT TO:<x@example.org>")
        assert code == 501 and "Invalid name" in text[0], text
    with session(f, helo="localhost") as c:
        code, text = c.cmd("RCPT TO:<x@example.org>")
        assert code == 504 and "need fully-qualified hostname" in text[0], text
    with session(f, helo="[127.0.0.1]") as c:
        assert c.cmd("RCPT TO:<x@example.org>")[0] == 250
    assert f.stats()["policy_helo"] == 2


def test_pregreet_is_caught_during_the_greeting_pause(make_facteur):
    f = make_facteur(smtpd_greet_pause="1", **OUTSIDER)
    c = RawSMTP(f.smtp_port)
    c.send("EHLO early.test\r\n")
    code, _ = c.reply()
    assert code == 220
    assert c.reply()[0] == 250      # the early EHLO is answered after the banner
    assert c.cmd("MAIL FROM:<a@sender.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<x@example.org>")
    assert code == 550 and text[0] == "5.5.1 Protocol error", text
    c.close()
    # A patient client is fine.
    with session(f) as c:
        assert c.cmd("RCPT TO:<x@example.org>")[0] == 250
    assert "PREGREET" in f.log_text()
    assert f.stats()["policy_pregreet"] == 1


def test_pregreet_drop(make_facteur):
    f = make_facteur(smtpd_greet_pause="1", smtpd_pregreet_action="drop", **OUTSIDER)
    c = RawSMTP(f.smtp_port)
    c.send("EHLO early.test\r\n")
    code, text = c.reply()
    assert code == 521, text
    assert c.closed()


def test_pipelining_before_ehlo_reply(make_facteur):
    f = make_facteur(**OUTSIDER)
    c = RawSMTP(f.smtp_port)
    assert c.reply()[0] == 220
    c.send("HELO client.test\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<x@example.org>\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    code, text = c.reply()
    assert code == 550 and text[0] == "5.5.1 Protocol error", text
    c.close()
    assert "COMMAND PIPELINING from [127.0.0.1] after HELO" in f.log_text()


def test_pipelining_allowed_after_ehlo(make_facteur):
    f = make_facteur(**OUTSIDER)
    c = RawSMTP(f.smtp_port)
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send("Subject: t\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert f.stats()["policy_pipelining"] == 0


# ---------------------------------------------------------------- DNS lists


@pytest.fixture(scope="module")
def lists_dns(tmp_path_factory):
    u = Unbound(str(tmp_path_factory.mktemp("dnsbl")), [
        "1.0.0.127.zen.test. IN A 127.0.0.2",
        "1.0.0.127.zen.test. IN A 127.0.0.4",
        "1.0.0.127.pbl.test. IN A 127.0.0.10",
        "1.0.0.127.wl.test. IN A 127.0.10.2",
        "bad.example.rhsbl.test. IN A 127.0.0.2",
        "listed-helo.example.rhsbl.test. IN A 127.0.0.2",
    ]).start()
    yield u
    u.stop()


def dns_params(u, **kv):
    kv.update(OUTSIDER)
    kv["dns_forwarder"] = f"127.0.0.1@{u.port}"
    return kv


def test_dnsbl_enforce_refuses_at_rcpt(make_facteur, lists_dns):
    f = make_facteur(**dns_params(lists_dns, dnsbl_sites="zen.test=127.0.0.[2..11]*2, nowhere.test",
                                  dnsbl_threshold="2"))
    with session(f) as c:
        code, text = c.cmd("RCPT TO:<x@example.org>")
        assert code == 550, text
        assert text[0] == "5.7.1 Service unavailable; client [127.0.0.1] blocked using zen.test"
    assert f.stats()["policy_dnsbl"] == 1


def test_dnsbl_filter_and_threshold(make_facteur, lists_dns):
    # pbl.test answers 127.0.0.10, outside the filter; zen.test alone weighs 1 < 2.
    f = make_facteur(**dns_params(lists_dns, dnsbl_sites="zen.test*1, pbl.test=127.0.0.[2..9]*5",
                                  dnsbl_threshold="2"))
    with session(f) as c:
        assert c.cmd("RCPT TO:<x@example.org>")[0] == 250


def test_dnsbl_drop_at_connect(make_facteur, lists_dns):
    # Started with enforce, since the readiness check needs a banner.
    f = make_facteur(**dns_params(lists_dns, dnsbl_sites="zen.test"))
    f.set(dnsbl_action="drop")
    f.reload()
    time.sleep(0.5)
    with RawSMTP(f.smtp_port) as c:
        code, text = c.reply()
        assert code == 521 and "blocked using zen.test" in text[0], text
        assert c.closed()


def test_dnswl_allowlists_past_greylisting(make_facteur, lists_dns):
    f = make_facteur(start=False, **dns_params(
        lists_dns, dnsbl_sites="zen.test*1, wl.test=127.0.[0..255].[1..3]*-5",
        dnsbl_threshold="3", dnsbl_allowlist_threshold="-1", greylist_enable="yes",
        greylist_delay="3600"))
    directory(f)
    f.start()
    with session(f) as c:
        assert c.cmd("RCPT TO:<alice@example.net>")[0] == 250
    assert f.stats()["policy_greylisted"] == 0


def test_rhsbl_sender_and_helo(make_facteur, lists_dns):
    f = make_facteur(**dns_params(lists_dns, rhsbl_sender_sites="rhsbl.test",
                                  rhsbl_helo_sites="rhsbl.test"))
    with session(f, sender="x@bad.example") as c:
        code, text = c.cmd("RCPT TO:<x@example.org>")
        assert code == 554, text
        assert text[0] == "5.7.1 <x@bad.example>: Sender address rejected: domain listed by rhsbl.test"
    with session(f, helo="listed-helo.example") as c:
        code, text = c.cmd("RCPT TO:<x@example.org>")
        assert code == 554 and "Helo command rejected" in text[0], text
    with session(f, sender="x@good.example", helo="fine.example") as c:
        assert c.cmd("RCPT TO:<x@example.org>")[0] == 250
    assert f.stats()["policy_rhsbl"] == 2


def test_bad_dnsbl_syntax_stops_smtpd_at_start(make_facteur):
    f = make_facteur(start=False, dnsbl_sites="zen.test=127.0.0.[9..2")
    with pytest.raises(RuntimeError):
        f.start()
    assert "zen.test" in f.log_text()


# ---------------------------------------------------------------- shared state


@pytest.fixture
def redis_server(workdir):
    import subprocess
    from facteur_it import free_port
    port = free_port()
    d = os.path.join(workdir, "redis")
    os.makedirs(d)
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False
    assert wait_for(up), "redis-server did not start"
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def test_two_relays_share_greylisting_and_rates_through_redis(make_facteur, redis_server):
    common = dict(OUTSIDER, policy_state=f"redis:127.0.0.1:{redis_server}",
                  greylist_enable="yes", greylist_delay="2", greylist_auto_allow="0",
                  client_message_rate_limit="3/1h")
    a = make_facteur(name="a", start=False, **common)
    b = make_facteur(name="b", start=False, **common)
    for f in (a, b):
        directory(f)
        f.start()
    with session(a) as c:
        assert c.cmd("RCPT TO:<alice@example.net>")[0] == 450
    time.sleep(2.5)
    # The retry reaches the other relay, which knows the triplet.
    with session(b) as c:
        code, text = c.cmd("RCPT TO:<alice@example.net>")
        assert code == 250, text
    # Three MAILs counted in all (a, b, and this one on a); the fourth is over.
    c = RawSMTP(a.smtp_port)
    c.reply()
    c.ehlo()
    code, text = c.cmd("MAIL FROM:<x@sender.example>")
    assert code == 250, text
    assert c.cmd("RSET")[0] == 250
    code, text = c.cmd("MAIL FROM:<x@sender.example>")
    assert code == 450 and "too many messages" in text[0], text
    c.close()


def test_redis_down_lets_mail_through(make_facteur):
    from facteur_it import free_port
    dead = free_port()
    f = make_facteur(start=False, policy_state=f"redis:127.0.0.1:{dead}", greylist_enable="yes",
                     greylist_delay="3600", client_recipient_rate_limit="1/1h", **OUTSIDER)
    directory(f)
    f.start()
    with session(f) as c:
        assert c.cmd("RCPT TO:<alice@example.net>")[0] == 250
        assert c.cmd("RCPT TO:<bob@example.net>")[0] == 250
    assert "greylist state unavailable" in f.log_text()


# ---------------------------------------------------------------- more recipients and limits


def test_relay_domain_verified_by_probing_the_next_hop(make_facteur, sink):
    sink.rcpt_replies["ghost@probe.example"] = "550 5.1.1 <ghost@probe.example>: no such user"
    f = make_facteur(start=False, **OUTSIDER)
    os.makedirs(f.spool, exist_ok=True)
    f.ctl("domain", "add", "probe.example", "--kind", "relay", "--verify", "probe",
          "--nexthop", f"[127.0.0.1]:{sink.port}")
    f.start()
    with session(f) as c:
        code, text = c.cmd("RCPT TO:<ghost@probe.example>")
        assert code == 550, text
        assert text[0].startswith("5.1.1 <ghost@probe.example>: Recipient address rejected: undeliverable address")
        assert "no such user" in text[0]
        assert c.cmd("RCPT TO:<real@probe.example>")[0] == 250
    probes = sink.sessions
    assert probes == 2
    # Both answers are cached: no new probe.
    with session(f) as c:
        assert c.cmd("RCPT TO:<ghost@probe.example>")[0] == 550
        assert c.cmd("RCPT TO:<real@probe.example>")[0] == 250
    assert sink.sessions == probes
    assert sink.received() == []


def test_backup_mx_domain_accepts_every_recipient(make_facteur):
    f = make_facteur(start=False, **OUTSIDER)
    os.makedirs(f.spool, exist_ok=True)
    f.ctl("domain", "add", "backup.example", "--kind", "backup", "--nexthop", "[127.0.0.1]:9")
    f.start()
    with session(f) as c:
        assert c.cmd("RCPT TO:<anyone@backup.example>")[0] == 250


def test_sender_and_recipient_domain_rate_limits(make_facteur):
    f = make_facteur(sender_message_rate_limit="1/1h", domain_recipient_rate_limit="2/1h",
                     **OUTSIDER)
    with session(f, sender="bulk@sender.example") as c:
        assert c.cmd("RCPT TO:<a@example.org>")[0] == 250
        assert c.cmd("RCPT TO:<b@example.org>")[0] == 250
        code, text = c.cmd("RCPT TO:<c@example.org>")
        assert code == 450 and "too many recipients for example.org" in text[0], text
        assert c.cmd("RCPT TO:<c@relay.test>")[0] == 250
        assert c.cmd("RSET")[0] == 250
        code, text = c.cmd("MAIL FROM:<bulk@sender.example>")
        assert code == 450 and "too many messages from this sender" in text[0], text
        assert c.cmd("MAIL FROM:<other@sender.example>")[0] == 250


def test_fcrdns_required(make_facteur, lists_dns):
    f = make_facteur(**dns_params(lists_dns, require_fcrdns="yes"))
    # 127.0.0.1 is localhost both ways; 127.0.0.2 has no PTR.
    with session(f) as c:
        assert c.cmd("RCPT TO:<x@example.org>")[0] == 250
    sock = socket.create_connection(("127.0.0.1", f.smtp_port), timeout=30,
                                    source_address=("127.0.0.2", 0))
    c = RawSMTP.__new__(RawSMTP)
    c.sock, c.buf = sock, b""
    assert c.reply()[0] == 220
    assert c.ehlo()[0] == 250
    assert c.cmd("MAIL FROM:<a@sender.example>")[0] == 250
    code, text = c.cmd("RCPT TO:<x@example.org>")
    assert code == 450, text
    assert text[0] == "4.7.25 Client host rejected: cannot find your hostname, [127.0.0.2]"
    c.close()
    assert f.stats()["policy_fcrdns"] == 1
