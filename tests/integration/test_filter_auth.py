# SPDX-License-Identifier: MIT
"""Sender authentication inside smtpd, end to end: Authentication-Results
written on received mail, a DMARC p=reject domain refused at DATA, and
outbound mail of a trusted client signed with the key of facteurctl dkim
keygen (the signature verified by facteur itself on the way back in and by
OpenDKIM's own verifier)."""
import json
import os
import subprocess

import pytest

from facteur_it import FACTEURCTL, Facteur, Unbound, wait_for
from test_filter import OUTSIDE, delivered, header_value, qid_of, send


def txt(name, text):
    chunks = [text[i:i + 250] for i in range(0, len(text), 250)] or [""]
    return f"{name} IN TXT " + " ".join(f'"{c}"' for c in chunks)


def message(sender, subject, body="Hello.\r\n"):
    return (f"From: <{sender}>\r\nTo: <rcpt@example.org>\r\nSubject: {subject}\r\n"
            f"Date: Tue, 1 Dec 2026 05:00:00 +0000\r\nMessage-ID: <{subject}@x.test>\r\n"
            f"\r\n{body}")


@pytest.fixture
def world(workdir):
    """A private unbound with SPF/DMARC records and a DKIM key made by facteurctl."""
    keys = os.path.join(workdir, "dkim")
    conf = os.path.join(workdir, "keygen.conf")
    with open(conf, "w") as f:
        f.write(f"spool_directory = {workdir}/spool\ndkim_key_directory = {keys}\n"
                "mail_owner = nobody\n")
    r = subprocess.run([FACTEURCTL, "-c", conf, "-j", "dkim", "keygen", "signer.test", "s1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)
    records = [
        txt("signer.test.", "v=spf1 -all"),
        txt("s1._domainkey.signer.test.", key["txt"]),
        txt("_dmarc.signer.test.", "v=DMARC1; p=reject"),
        txt("_dmarc.strict.test.", "v=DMARC1; p=reject"),
        txt("strict.test.", "v=spf1 -all"),
        txt("other.test.", "v=spf1 +all"),
        txt("_dmarc.other.test.", "v=DMARC1; p=none"),
    ]
    u = Unbound(workdir, [])
    with open(u.conf, "a") as f:
        f.write("".join(f"    local-data: '{rec}'\n" for rec in records))
    u.start()
    yield u, keys
    u.stop()


def start(workdir, unbound, keys, **kw):
    params = dict(dns_forwarder=f"127.0.0.1@{unbound.port}", spf_enable="yes",
                  dkim_verify="yes", dmarc_enable="yes", dkim_sign="yes",
                  dkim_key_directory=keys, local_domains="example.org",
                  relay_domains="signer.test, strict.test, other.test")
    params.update(kw)
    f = Facteur(workdir, **params)
    f.start()
    return f


def test_authentication_results_and_dmarc_reject(workdir, world):
    unbound, keys = world
    f = start(workdir, unbound, keys, mynetworks=OUTSIDE)
    try:
        # Aligned through SPF: loopback passes SPF in libspf2, other.test is +all.
        qid = qid_of(send(f.smtp_port, message("a@other.test", "aligned"), sender="a@other.test"))
        raw = delivered(f, qid)
        ar = header_value(raw, "Authentication-Results")
        assert ar.startswith("mx.test;"), ar
        assert "spf=pass smtp.mailfrom=a@other.test" in ar
        assert "dmarc=pass" in ar and "header.from=other.test" in ar, ar
        assert "dkim=none" in ar
        # strict.test publishes p=reject: unsigned, envelope of another domain.
        code, text = send(f.smtp_port, message("boss@strict.test", "phish"),
                          sender="x@other.test")
        assert code == 550 and "DMARC policy of strict.test" in text, (code, text)
        assert "dmarc=fail" in f.log_text() or "DMARC_POLICY_REJECT" in f.log_text()
        st = f.stats()
        assert st["auth_dmarc_fail"] >= 1 and st["auth_dmarc_pass"] >= 1
        # With the policy not honoured the same message is accepted and marked.
        f.set(dmarc_honor_policy="no")
        f.reload()
        assert wait_for(lambda: "configuration reloaded" in f.log_text())
        qid = qid_of(send(f.smtp_port, message("boss@strict.test", "phish2"),
                          sender="x@other.test"))
        ar = header_value(delivered(f, qid), "Authentication-Results")
        assert "dmarc=fail" in ar, ar
    finally:
        f.stop()


def test_trusted_mail_signed_and_verified(workdir, world):
    unbound, keys = world
    # First instance: loopback is trusted (mynetworks) and relays to the second.
    out = start(workdir, unbound, keys)
    inbound = start(os.path.join(workdir, "in"), unbound, keys, mynetworks=OUTSIDE,
                    local_domains="example.org, signer.test")
    try:
        out.transport["signer.test"] = f"[127.0.0.1]:{inbound.smtp_port}"
        out.write_config()
        out.reload()
        assert wait_for(lambda: "configuration reloaded" in out.log_text())
        msg = message("alice@signer.test", "signed")
        qid = qid_of(send(out.smtp_port, msg, sender="alice@signer.test",
                          rcpts=("bob@signer.test",)))
        assert wait_for(lambda: out.stats()["auth_dkim_signed"] >= 1), out.log_tail()
        raws = inbound.wait_mailbox(1)
        assert raws, inbound.log_tail()
        raw = list(raws.values())[0]
        sig = header_value(raw, "DKIM-Signature")
        assert sig is not None and "d=signer.test" in sig and "s=s1" in sig, raw[:600]
        ar = header_value(raw, "Authentication-Results")
        # SPF of signer.test is -all: only the signature makes DMARC pass.
        assert "dkim=pass" in ar and "header.d=signer.test" in ar, ar
        assert "dmarc=pass" in ar, ar
        # OpenDKIM's verifier agrees (it reads the key from the same unbound).
        body = raw.split(b"\r\n", 2)[2]  # drop Return-Path and Delivered-To
        assert qid
        ub = os.path.join(workdir, "opendkim-unbound.conf")
        with open(ub, "w") as fh:
            fh.write("server:\n    do-not-query-localhost: no\n    module-config: \"iterator\"\n"
                     "    local-zone: \"test.\" nodefault\n"
                     f"forward-zone:\n    name: \".\"\n    forward-addr: 127.0.0.1@{unbound.port}\n")
        od = os.path.join(workdir, "opendkim.conf")
        with open(od, "w") as fh:
            fh.write(f"Mode v\nSyslog no\nResolverConfiguration {ub}\n")
        eml = os.path.join(workdir, "signed.eml")
        with open(eml, "wb") as fh:
            fh.write(body.replace(b"\r\n", b"\n"))
        r = subprocess.run(["/usr/sbin/opendkim", "-x", od, "-t", eml, "-vv"], capture_output=True,
                           text=True, timeout=120)
        assert "verification (s=s1, d=signer.test, 2048-bit key) succeeded" in r.stdout + r.stderr, \
            r.stdout + r.stderr
    finally:
        out.stop()
        inbound.stop()
