# SPDX-License-Identifier: MIT
"""Fixtures of the integration tests: real facteur daemons on loopback in a
temporary directory, sinks, a private DNS server.  See facteur_it.py."""
import os
import shutil
import subprocess

import pytest

from facteur_it import (BUILDDIR, FACTEUR, PASSWORD, USER, Facteur, PostfixSink, PySink, Unbound,
                        make_workdir)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: the longer tests (durability, load)")


def pytest_report_header(config):
    return f"facteur build directory: {BUILDDIR}"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    if not os.access(FACTEUR, os.X_OK):
        pytest.exit(f"{FACTEUR} not found: build facteur and set FACTEUR_BUILDDIR", returncode=2)


@pytest.fixture(scope="session")
def session_dir():
    d = make_workdir("facteur-it-session-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def auth_file(session_dir):
    """smtpd_auth_file with USER:PASSWORD (SHA-512 crypt, as openssl makes it)."""
    h = subprocess.run(["openssl", "passwd", "-6", PASSWORD], capture_output=True, text=True,
                       check=True).stdout.strip()
    path = os.path.join(session_dir, "passwd")
    with open(path, "w") as f:
        f.write(f"# test users\n{USER}:{h}\n")
    os.chmod(path, 0o644)
    return path


@pytest.fixture(scope="session")
def sink_cert(session_dir):
    """A self-signed certificate for the next hops, for the MX host mail.dest.test."""
    cert = os.path.join(session_dir, "sink.crt")
    key = os.path.join(session_dir, "sink.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=mail.dest.test",
                    "-addext", "subjectAltName=DNS:mail.dest.test"],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)
    return cert, key


@pytest.fixture
def workdir(request):
    d = make_workdir("facteur-it-")
    yield d
    failed = getattr(request.node, "facteur_problems", False) or any(
        getattr(request.node, "rep_" + w, None) is not None and
        getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    if failed or os.environ.get("FACTEUR_KEEP_TMP"):
        print(f"\nkept {d} for inspection")
    else:
        # A tmpfs test may still have something mounted: never remove through it.
        if not any(line.split()[1].startswith(d) for line in open("/proc/mounts")):
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_facteur(request, workdir, auth_file):
    """Factory: make_facteur(name="facteur", start=True, **params) -> Facteur.

    Every instance is stopped with SIGTERM at the end of the test; the test
    fails if a daemon survives, or if a sanitizer report is in its stderr.
    """
    made = []

    def factory(name="facteur", start=True, **params):
        f = Facteur(workdir, name=name, auth_file=auth_file, **params)
        made.append(f)
        if start:
            f.start()
        return f

    yield factory
    problems = []
    for f in made:
        f.stop()
        strays = f.kill_strays()
        if strays:
            problems.append(f"{f.dir}: processes left behind after SIGTERM: {strays}")
        for marker in f.sanitizer_reports():
            problems.append(f"{f.log_path}: sanitizer report \"{marker}\":\n" +
                            f.sanitizer_excerpt(marker))
    if problems:
        request.node.facteur_problems = True
        pytest.fail("\n".join(problems))


@pytest.fixture
def facteur(make_facteur):
    """A running facteur with the default test configuration."""
    return make_facteur()


@pytest.fixture
def sink():
    s = PySink().start()
    yield s
    s.stop()


@pytest.fixture
def tls_sink(sink_cert):
    s = PySink(certfile=sink_cert[0], keyfile=sink_cert[1]).start()
    yield s
    s.stop()


@pytest.fixture
def postfix_sink(workdir):
    if not os.access("/usr/sbin/smtp-sink", os.X_OK):
        pytest.skip("Postfix's smtp-sink is not installed")
    s = PostfixSink(workdir).start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def unbound(session_dir):
    """unbound on 127.0.0.1:PORT serving dest.test's MX and the address of its host."""
    if not os.access("/usr/sbin/unbound", os.X_OK):
        pytest.skip("unbound is not installed")
    u = Unbound(session_dir, [
        "dest.test. IN MX 10 mail.dest.test.",
        "mail.dest.test. IN A 127.0.0.1",
        "nomx.test. IN A 127.0.0.1",
    ]).start()
    yield u
    u.stop()
