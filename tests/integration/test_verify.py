# SPDX-License-Identifier: MIT
"""Recipient probes of a relay domain's next hop (policy/verify.c), driven
by policy/verify_test against a Python SMTP server that knows some
recipients: accepted, refused, "could not tell" (4xx, a server that hangs
up, a port nobody listens on, a server that never answers), the answers
kept in the SQLite state so the next probe of an address asks nobody, the
next hop found through MX records of a private unbound, and cancelled
probes that never answer."""
import os
import socket
import subprocess
import threading

import pytest

from facteur_it import BUILDDIR, SANITIZER_MARKERS, PySink, free_port, wait_for

VERIFY_TEST = os.path.join(BUILDDIR, "policy", "verify_test")

pytestmark = pytest.mark.skipif(not os.access(VERIFY_TEST, os.X_OK),
                                reason="policy/verify_test is not built")


class Prober:
    """verify_test with a configuration of its own in workdir."""

    def __init__(self, workdir, **params):
        self.dir = workdir
        self.conf = os.path.join(workdir, "verify.conf")
        self.state = os.path.join(workdir, "state.db")
        self.params = {
            "spool_directory": os.path.join(workdir, "spool"),
            "myhostname": "mx.test",
            "log_level": "debug",
            "verify_timeout": "20",
        }
        self.params.update({k: str(v) for k, v in params.items()})
        with open(self.conf, "w") as f:
            f.write("".join(f"{k} = {v}\n" for k, v in self.params.items()))

    def run(self, nexthop, *addrs, cache=True, cancel=False):
        """{addr: (result, reply)} of one verify_test run; the log in self.log."""
        argv = [VERIFY_TEST, "-c", self.conf, "-s", f"sqlite:{self.state}" if cache else "none"]
        if cancel:
            argv.append("-x")
        # Bytes: an address with a CR must come back as it went.
        r = subprocess.run(["timeout", "120"] + argv + [nexthop] + list(addrs),
                           capture_output=True)
        stdout = r.stdout.decode("utf-8", "replace")
        self.log = r.stderr.decode("utf-8", "replace")
        assert not any(m in self.log for m in SANITIZER_MARKERS), self.log
        assert r.returncode == 0, f"{argv} exited {r.returncode}:\n{stdout}{self.log}"
        out = {}
        for line in stdout.split("\n")[:-1]:
            addr, result, *reply = line.split(" ", 2)
            out[addr] = (result, reply[0] if reply else "")
        assert list(out) == list(addrs), stdout
        return out


@pytest.fixture
def directory_sink():
    """A next hop that knows known@relay.test; unknown@ is refused, busy@ deferred."""
    s = PySink()
    s.rcpt_replies = {
        "unknown@relay.test": "550 5.1.1 <unknown@relay.test>: Recipient address rejected: "
                              "User unknown in relay recipient table",
        "busy@relay.test": "450 4.2.1 <busy@relay.test>: mailbox busy",
    }
    s.start()
    yield s
    s.stop()


class Hangup:
    """Accepts connections and closes them at once; counts them."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.count = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            c.close()

    def stop(self):
        self.sock.close()


def test_accepted_refused_deferred(workdir, directory_sink):
    p = Prober(workdir)
    nexthop = f"[127.0.0.1]:{directory_sink.port}"
    out = p.run(nexthop, "known@relay.test", "unknown@relay.test", "busy@relay.test", cache=False)
    assert out["known@relay.test"][0] == "accepted", out
    assert out["known@relay.test"][1].startswith("250"), out
    assert out["unknown@relay.test"] == (
        "refused", "550 5.1.1 <unknown@relay.test>: Recipient address rejected: "
                   "User unknown in relay recipient table"), out
    assert out["busy@relay.test"] == ("tempfail", "450 4.2.1 <busy@relay.test>: mailbox busy"), out
    # One conversation each: EHLO with our name, the null sender, the recipient, no message.
    assert directory_sink.sessions == 3
    assert directory_sink.received() == []
    assert "result=refused" in p.log and "rcpt=<unknown@relay.test>" in p.log


def test_answers_are_cached(workdir, directory_sink):
    p = Prober(workdir)
    nexthop = f"[127.0.0.1]:{directory_sink.port}"
    first = p.run(nexthop, "known@relay.test", "unknown@relay.test", "busy@relay.test")
    assert [first[a][0] for a in first] == ["accepted", "refused", "tempfail"], first
    assert directory_sink.sessions == 3
    # A new process, the same state file: accepted and refused come from the
    # cache (the address in another case is the same key); the 450 is asked again.
    second = p.run(nexthop, "Known@Relay.test", "unknown@relay.test", "busy@relay.test")
    assert second["Known@Relay.test"] == ("accepted", "accepted by the next hop (cached)"), second
    assert second["unknown@relay.test"] == ("refused", "refused by the next hop (cached)"), second
    assert second["busy@relay.test"][0] == "tempfail", second
    assert directory_sink.sessions == 4


def test_negative_ttl_expires(workdir, directory_sink):
    p = Prober(workdir, verify_negative_ttl="1s")
    nexthop = f"[127.0.0.1]:{directory_sink.port}"
    assert p.run(nexthop, "unknown@relay.test")["unknown@relay.test"][0] == "refused"
    assert directory_sink.sessions == 1

    def asked_again():
        out = p.run(nexthop, "unknown@relay.test")
        return "cached" not in out["unknown@relay.test"][1]
    assert wait_for(asked_again, 30, 0.5)
    assert directory_sink.sessions == 2


def test_unreachable_is_tempfail_and_not_cached(workdir):
    p = Prober(workdir)
    h = Hangup()
    try:
        for _ in range(2):
            out = p.run(f"[127.0.0.1]:{h.port}", "known@relay.test")
            result, reply = out["known@relay.test"]
            assert result == "tempfail", out
            assert "closed the connection" in reply, out
        assert h.count == 2
    finally:
        h.stop()
    # Nobody listening.
    out = p.run(f"[127.0.0.1]:{free_port()}", "known@relay.test")
    assert out["known@relay.test"][0] == "tempfail", out
    assert "cannot connect" in out["known@relay.test"][1], out


def test_silent_server_times_out(workdir):
    s = PySink()
    s.banner = None
    s.start()
    try:
        p = Prober(workdir, verify_timeout=1)
        out = p.run(f"[127.0.0.1]:{s.port}", "known@relay.test")
        assert out["known@relay.test"][0] == "tempfail", out
        assert "timeout" in out["known@relay.test"][1], out
    finally:
        s.stop()


def test_refusals_before_rcpt_say_nothing_of_the_recipient(workdir, directory_sink):
    # A next hop that refuses the null sender cannot tell us about recipients.
    directory_sink.mail_reply = "550 5.7.1 no bounces here"
    p = Prober(workdir)
    out = p.run(f"[127.0.0.1]:{directory_sink.port}", "unknown@relay.test")
    assert out["unknown@relay.test"][0] == "tempfail", out
    assert "550 5.7.1 no bounces here" in out["unknown@relay.test"][1], out
    # And a refusing banner.
    directory_sink.mail_reply = None
    directory_sink.banner = "554 5.3.2 go away"
    out = p.run(f"[127.0.0.1]:{directory_sink.port}", "unknown@relay.test")
    assert out["unknown@relay.test"][0] == "tempfail", out
    assert "554 5.3.2 go away" in out["unknown@relay.test"][1], out


def test_bad_input_is_refused_without_a_probe(workdir, directory_sink):
    p = Prober(workdir)
    nexthop = f"[127.0.0.1]:{directory_sink.port}"
    out = p.run(nexthop, "no-domain", "x@", "a>b@relay.test", "a\rb@relay.test",
               "a\x01b@relay.test", cache=False)
    assert all(v == ("tempfail", "bad address") for v in out.values()), out
    for bad in ("[127.0.0.1", "[127.0.0.1]:0", "[127.0.0.1]:70000", "[127.0.0.1]x", "host:port"):
        out = p.run(bad, "known@relay.test", cache=False)
        assert out["known@relay.test"] == ("tempfail", "bad next hop"), (bad, out)
    assert directory_sink.sessions == 0


def test_cancelled_probes_never_answer(workdir, directory_sink):
    p = Prober(workdir)
    out = p.run(f"[127.0.0.1]:{directory_sink.port}", "known@relay.test", "unknown@relay.test",
                cancel=True)
    assert out == {"known@relay.test": ("cancelled", ""), "unknown@relay.test": ("cancelled", "")}
    # Without the cache the probe is cancelled in the middle of its DNS or connection step.
    out = p.run(f"[127.0.0.1]:{directory_sink.port}", "known@relay.test", cancel=True,
                cache=False)
    assert out == {"known@relay.test": ("cancelled", "")}


def test_next_hop_from_mx_records(workdir, unbound, directory_sink):
    # dest.test's MX is mail.dest.test (127.0.0.1); the port is smtp_default_port.
    p = Prober(workdir, dns_forwarder=f"127.0.0.1@{unbound.port}",
               smtp_default_port=directory_sink.port)
    out = p.run("", "known@dest.test", "unknown@relay.test", cache=False)
    assert out["known@dest.test"][0] == "accepted", (out, p.log)
    # relay.test has no MX and no address in the test zone.
    assert out["unknown@relay.test"][0] == "tempfail", out
    assert "relay.test" in out["unknown@relay.test"][1], out
    # A host without MX records is used itself (nomx.test has an A record).
    out = p.run("nomx.test", "known@relay.test", cache=False)
    assert out["known@relay.test"][0] == "accepted", (out, p.log)
    # An MX that is this very host is never asked.
    p2 = Prober(workdir, dns_forwarder=f"127.0.0.1@{unbound.port}",
                smtp_default_port=directory_sink.port, myhostname="mail.dest.test")
    out = p2.run("", "known@dest.test", cache=False)
    assert out["known@dest.test"][0] == "tempfail", out
    assert "this host" in out["known@dest.test"][1], out
    assert directory_sink.sessions == 2
