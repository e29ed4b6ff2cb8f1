# SPDX-License-Identifier: MIT
"""ARC (RFC 8617) verification against chains sealed by dkimpy (Debian's
python3-dkim), an independent implementation: one and two hops pass, a
body changed after the seal, a seal that records cv=fail, a missing set and
a wrong key fail, a message without ARC is none; facteur's answer is the
same as dkimpy's arc_verify on every case (where dkimpy reports a cv=fail
seal as no result, RFC 8617 and facteur say fail).  Keys are served by a private
unbound."""
import base64
import os
import re
import shutil
import subprocess

import pytest

from facteur_it import BUILDDIR, Unbound, make_workdir

dkim = pytest.importorskip("dkim")
pytest.importorskip("authres")

AUTH_CHECK = os.path.join(BUILDDIR, "filter", "auth_check")


def rsa_key(d, name):
    key = os.path.join(d, name + ".pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True, timeout=120)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    with open(key, "rb") as f:
        return f.read(), base64.b64encode(der).decode()


def txt(name, text):
    chunks = [text[i:i + 250] for i in range(0, len(text), 250)]
    return f"{name} IN TXT " + " ".join(f'"{c}"' for c in chunks)


class World:
    pass


@pytest.fixture(scope="module")
def world():
    if not os.access(AUTH_CHECK, os.X_OK):
        pytest.skip(f"{AUTH_CHECK} not built")
    w = World()
    w.dir = make_workdir("facteur-arc-")
    w.keys = {}
    records = []
    for domain in ("forwarder.test", "hop2.test", "other.test"):
        pem, pub = rsa_key(w.dir, domain)
        w.keys[domain] = (pem, pub)
        records.append(txt(f"arc._domainkey.{domain}.", f"v=DKIM1; k=rsa; p={pub}"))
    # other.test publishes forwarder.test's sealer name with its own key.
    records.append(txt("wrong._domainkey.forwarder.test.",
                       f"v=DKIM1; k=rsa; p={w.keys['other.test'][1]}"))
    w.unbound = Unbound(w.dir, [])
    with open(w.unbound.conf, "a") as f:
        f.write("".join(f"    local-data: '{r}'\n" for r in records))
    w.unbound.start()
    w.conf = os.path.join(w.dir, "facteur.conf")
    with open(w.conf, "w") as f:
        f.write(f"spool_directory = {w.dir}/spool\nmail_owner = nobody\nmyhostname = mx.test\n"
                f"dns_forwarder = 127.0.0.1@{w.unbound.port}\narc_enable = yes\n"
                "spf_enable = no\ndmarc_enable = no\n")
    yield w
    w.unbound.stop()
    shutil.rmtree(w.dir, ignore_errors=True)


def dnsfunc(world):
    def get(name, timeout=5):
        n = name.decode().rstrip(".")
        for domain, (pem, pub) in world.keys.items():
            if n == f"arc._domainkey.{domain}":
                return f"v=DKIM1; k=rsa; p={pub}".encode()
        if n == "wrong._domainkey.forwarder.test":
            return f"v=DKIM1; k=rsa; p={world.keys['other.test'][1]}".encode()
        return None
    return get


BASE = (b"From: Alice <alice@origin.test>\r\nTo: list@forwarder.test\r\n"
        b"Subject: ARC test\r\nDate: Tue, 1 Dec 2026 05:00:00 +0000\r\n"
        b"Message-ID: <arc1@origin.test>\r\n\r\nHello through   the list.\r\n\r\n")


def seal(world, msg, domain, cv=None, selector=b"arc"):
    """Add domain's Authentication-Results (with arc=cv when given) and seal."""
    ar = f"Authentication-Results: {domain}; spf=pass smtp.mailfrom=alice@origin.test"
    if cv is not None:
        ar += f"; arc={cv}"
    msg = ar.encode() + b"\r\n" + msg
    pem = world.keys[domain][0] if selector == b"arc" else world.keys["forwarder.test"][0]
    fields = dkim.arc_sign(msg, selector, domain.encode(), pem, domain.encode())
    assert fields, "dkimpy made no seal"
    return b"".join(fields) + msg


def facteur(world, msg):
    path = os.path.join(world.dir, "msg.eml")
    with open(path, "wb") as f:
        f.write(msg)
    r = subprocess.run([AUTH_CHECK, "-c", world.conf, "--ip", "192.0.2.1", "--helo", "h.test",
                        "--from", "alice@origin.test", path], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, r.stderr
    found = re.findall(r"(?:^|[\s;])arc=([a-z]+)", r.stdout.split("\nspf=")[0])
    assert len(found) == 1, r.stdout
    return found[0], r.stdout


def dkimpy(world, msg):
    cv, _results, _reason = dkim.arc_verify(msg, dnsfunc=dnsfunc(world))
    return cv.decode() if cv is not None else "none"


def test_no_arc_is_none(world):
    assert facteur(world, BASE)[0] == "none"
    assert dkimpy(world, BASE) == "none"


def test_one_hop_passes(world):
    msg = seal(world, BASE, "forwarder.test")
    got, out = facteur(world, msg)
    assert got == "pass", out
    assert "i=1 d=forwarder.test" in out
    assert "ARC_ALLOW" in out
    assert dkimpy(world, msg) == "pass"


def test_two_hops_pass(world):
    msg = seal(world, seal(world, BASE, "forwarder.test"), "hop2.test", cv="pass")
    got, out = facteur(world, msg)
    assert got == "pass" and "i=2 d=hop2.test" in out, out
    assert dkimpy(world, msg) == "pass"


def test_body_changed_after_the_seal_fails(world):
    msg = seal(world, BASE, "forwarder.test").replace(b"Hello through", b"Hello via")
    got, out = facteur(world, msg)
    assert got == "fail" and "body hash" in out, out
    assert "ARC_REJECT" in out
    assert dkimpy(world, msg) == "fail"


def test_sealed_header_changed_fails(world):
    msg = seal(world, BASE, "forwarder.test").replace(b"Subject: ARC test", b"Subject: ARC tesT")
    assert facteur(world, msg)[0] == "fail"
    assert dkimpy(world, msg) == "fail"


def test_recorded_cv_fail_fails(world):
    msg = seal(world, seal(world, BASE, "forwarder.test"), "hop2.test", cv="fail")
    got, out = facteur(world, msg)
    assert got == "fail" and "cv=fail" in out, out
    # RFC 8617 5.2 step 2 says fail; dkimpy 1.1.4 answers no result but
    # gives the same reason.
    cv, _results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc(world))
    assert cv in (None, b"fail") and "reported failure" in reason, (cv, reason)


def test_missing_set_fails(world):
    two = seal(world, seal(world, BASE, "forwarder.test"), "hop2.test", cv="pass")
    # Drop the first set's ARC-Seal.
    head, body = two.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    out_lines, skip = [], False
    for line in lines:
        if line.startswith(b"ARC-Seal:") and b"i=1" in line:
            skip = True
            continue
        if skip and line[:1] in (b" ", b"\t"):
            continue
        skip = False
        out_lines.append(line)
    msg = b"\r\n".join(out_lines) + b"\r\n\r\n" + body
    got, out = facteur(world, msg)
    assert got == "fail" and "incomplete set 1" in out, out
    assert dkimpy(world, msg) == "fail"


def test_wrong_key_fails(world):
    msg = seal(world, BASE, "forwarder.test", selector=b"wrong")
    got, out = facteur(world, msg)
    assert got == "fail" and "does not verify" in out, out
    assert dkimpy(world, msg) == "fail"


def test_facteur_seals_relayed_mail(world, workdir):
    """A facteur relaying to another domain seals with ARC; the next hop (a
    second facteur, and dkimpy) finds the chain valid, twice over when the
    message came sealed already."""
    from facteur_it import Facteur, wait_for
    from test_filter import OUTSIDE, header_value, qid_of, send
    keys = os.path.join(workdir, "keys")
    os.makedirs(os.path.join(keys, "forwarder.test"))
    key = os.path.join(keys, "forwarder.test", "arc.private")
    with open(key, "wb") as f:
        f.write(world.keys["forwarder.test"][0])
    os.chmod(key, 0o644)
    common = dict(dns_forwarder=f"127.0.0.1@{world.unbound.port}", arc_enable="yes",
                  dkim_verify="yes", mynetworks=OUTSIDE)
    final = Facteur(os.path.join(workdir, "final"), local_domains="final.test", **common)
    final.start()
    fwd = Facteur(os.path.join(workdir, "fwd"), relay_domains="final.test",
                  arc_seal_domain="forwarder.test", arc_seal_selector="arc",
                  dkim_key_directory=keys, **common)
    fwd.transport["final.test"] = f"[127.0.0.1]:{final.smtp_port}"
    fwd.start()
    try:
        for n, msg in enumerate((BASE, seal(world, BASE, "hop2.test"))):
            qid_of(send(fwd.smtp_port, msg.decode(), sender="alice@origin.test",
                        rcpts=("bob@final.test",)))
            assert wait_for(lambda: len(final.mailbox()) == n + 1), fwd.log_tail()
            raw = sorted(final.mailbox().items())[-1][1] if n == 0 else \
                [v for v in final.mailbox().values() if b"i=2" in v][0]
            ar = header_value(raw, "Authentication-Results")
            assert f"arc=pass (i={n + 1} d=forwarder.test)" in ar, raw[:2000]
            delivered = raw.split(b"\r\n", 2)[2]  # without Return-Path, Delivered-To
            assert dkimpy(world, delivered) == "pass"
            assert facteur(world, delivered)[0] == "pass"
    finally:
        fwd.stop()
        final.stop()
