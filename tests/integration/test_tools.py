# SPDX-License-Identifier: MIT
"""The usual admin tools against facteur: swaks, openssl s_client, and
Postfix's smtp-source for load."""
import os
import re
import shutil
import subprocess

import pytest

from facteur_it import PASSWORD, USER, wait_for

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")


def swaks(*args):
    r = subprocess.run(["swaks", "--timeout", "60"] + list(args), capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def test_swaks_basic_send(facteur):
    rc, out = swaks("--server", f"127.0.0.1:{facteur.smtp_port}", "--from", "alice@example.org",
                    "--to", "bob@example.org", "--header", "X-Test-Id: swaks-basic")
    assert rc == 0, out
    qid = re.search(r"<-  250 2\.0\.0 Ok: queued as ([0-9A-F]+)", out).group(1)
    assert facteur.wait_mailbox(1)
    raw = facteur.mailbox_for(qid)[f"{qid}.0.eml"]
    assert b"X-Test-Id: swaks-basic" in raw


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth_submission(make_facteur, sink, mech):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")
    rc, out = swaks("--server", f"127.0.0.1:{f.submission_port}", "-tls", "-a", mech,
                    "-au", USER, "-ap", PASSWORD, "--from", "alice@example.org",
                    "--to", "friend@far-away.example", "--header", f"X-Test-Id: swaks-{mech}")
    assert rc == 0, out
    assert re.search(r"^<~  235 ", out, re.M), out  # "<~": read over TLS
    assert sink.wait_count(1)
    m = sink.received()[0]
    assert m.rcpts == ["friend@far-away.example"]
    assert m.header("X-Test-Id") == f"swaks-{mech}"
    assert b"with ESMTPSA id" in m.data
    # swaks must not have been able to send the password before TLS.
    assert out.index("STARTTLS") < out.index("AUTH ")


def test_swaks_wrong_password(facteur):
    rc, out = swaks("--server", f"127.0.0.1:{facteur.submission_port}", "-tls", "-a", "PLAIN",
                    "-au", USER, "-ap", "not-the-password", "--from", "alice@example.org",
                    "--to", "x@far.example")
    assert rc != 0
    assert re.search(r"^<~\* 535 ", out, re.M), out
    assert facteur.stats()["smtpd_auth_failure"] == 1
    assert facteur.queue_empty()


def test_swaks_auth_without_tls_impossible(facteur):
    rc, out = swaks("--server", f"127.0.0.1:{facteur.submission_port}", "-a", "PLAIN",
                    "-au", USER, "-ap", PASSWORD, "--from", "alice@example.org",
                    "--to", "x@far.example")
    assert rc != 0, out
    assert facteur.stats()["smtpd_auth_success"] == 0
    assert facteur.queue_empty()


def test_swaks_tls_on_connect(make_facteur, sink):
    f = make_facteur(relayhost=f"[127.0.0.1]:{sink.port}")
    rc, out = swaks("--server", f"127.0.0.1:{f.smtps_port}", "--tls-on-connect", "-a", "LOGIN",
                    "-au", USER, "-ap", PASSWORD, "--from", "alice@example.org",
                    "--to", "y@far.example")
    assert rc == 0, out
    assert sink.wait_count(1)


def s_client(port, starttls=True):
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    if starttls:
        argv[2:2] = ["-starttls", "smtp"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, input="QUIT\r\n")
    return r.stdout + r.stderr


@pytest.mark.parametrize("which", ["smtp", "submission", "smtps"])
def test_openssl_s_client_certificate(facteur, which):
    port = {"smtp": facteur.smtp_port, "submission": facteur.submission_port,
            "smtps": facteur.smtps_port}[which]
    out = s_client(port, starttls=which != "smtps")
    assert re.search(r"^subject=.*\bCN\s*=\s*mx\.test$", out, re.M), out
    assert "BEGIN CERTIFICATE" in out
    assert re.search(r"Protocol\s*:\s*TLSv1\.[23]", out) or "New, TLSv1.3" in out, out


def test_openssl_s_client_configured_certificate(make_facteur, sink_cert):
    f = make_facteur(smtpd_tls_cert_file=sink_cert[0], smtpd_tls_key_file=sink_cert[1])
    out = s_client(f.smtp_port)
    assert re.search(r"^subject=.*\bCN\s*=\s*mail\.dest\.test$", out, re.M), out
    assert f.stats()["smtpd_tls_sessions"] >= 1


@pytest.mark.slow
@pytest.mark.skipif(not os.access("/usr/sbin/smtp-source", os.X_OK), reason="no smtp-source")
def test_smtp_source_load(make_facteur, postfix_sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{postfix_sink.port}"
    f.start()
    n = 320
    r = subprocess.run(["/usr/sbin/smtp-source", "-s", "16", "-m", str(n), "-d", "-l", "2000",
                        "-f", "sender@example.org", "-t", "user@relay.test", "-M", "client.test",
                        f"127.0.0.1:{f.smtp_port}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f.stats()["smtpd_messages_accepted"] == n
    assert wait_for(lambda: len(postfix_sink.files()) >= n, 180), \
        (len(postfix_sink.files()), f.log_tail())
    assert f.wait_queue_empty()
    assert len(postfix_sink.files()) == n
    assert f.stats()["qmgr_delivered"] == n
