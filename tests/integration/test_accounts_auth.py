# SPDX-License-Identifier: MIT
"""Accounts' authentication: facteurctl account passwd / app-password /
set --profile and profile add|set|list|del on a directory in a temporary
directory, then smtpd's AUTH PLAIN and LOGIN over STARTTLS on the
submission port for those accounts: the account password, an app password
(whose last use facteurctl then shows), a wrong password, a disabled
account and a profile without smtp refused with 535, a client over
auth_failure_limit refused with 454, smtpd_auth_file's users still served,
and no password anywhere in the log."""
import base64
import json
import os
import pty
import select
import signal
import smtplib
import ssl
import subprocess
import time

import pytest

from facteur_it import FACTEURCTL, PASSWORD, SANITIZER_MARKERS, USER, wait_for

ALICE_PW = "Alice-Account-Pw-7731"
BOB_PW = "Bob-Disabled-Pw-2208"
CAROL_PW = "Carol-ImapOnly-Pw-5190"
WRONG_PW = "Wrong-Guess-Pw-4467"


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(s):
    return base64.b64encode(s.encode()).decode()


def ctl(f, *args, input=None):
    """facteurctl on f's configuration; sanitizer reports fail the test."""
    r = subprocess.run([FACTEURCTL, "-c", f.conf] + list(args), input=input, capture_output=True,
                       text=True, timeout=120)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def ok(f, *args, input=None):
    r = ctl(f, *args, input=input)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    return r.stdout


def js(f, *args, input=None):
    return json.loads(ok(f, "-j", *args, input=input))


def refused(f, *args, code=1, input=None):
    r = ctl(f, *args, input=input)
    assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    return r.stderr


@pytest.fixture
def make(make_facteur, workdir):
    """make(**params): a facteur (not started) with a directory in workdir/state."""
    def factory(**params):
        state = os.path.join(workdir, "state")
        os.makedirs(state, exist_ok=True)
        os.chmod(state, 0o755)
        params.setdefault("directory_database", os.path.join(state, "directory.db"))
        return make_facteur(start=False, **params)
    return factory


def populate(f):
    """alice (password, app password "phone"), bob (disabled), carol (profile without smtp)."""
    ok(f, "domain", "add", "example.org")
    for a in ("alice@example.org", "bob@example.org", "carol@example.org"):
        ok(f, "account", "add", a)
    ok(f, "account", "passwd", "Alice@Example.org", input=ALICE_PW + "\n")
    ok(f, "account", "passwd", "bob@example.org", input=BOB_PW + "\n")
    ok(f, "account", "passwd", "carol@example.org", input=CAROL_PW + "\r\n")
    ok(f, "account", "disable", "bob@example.org")
    ok(f, "profile", "add", "readers", "--services", "imap,sieve")
    ok(f, "account", "set", "carol@example.org", "--profile", "readers")
    app = js(f, "account", "app-password", "add", "alice@example.org", "phone")
    assert app["name"] == "phone" and len(app["password"]) == 24
    return app["password"]


def submission(f, user, password, mech="PLAIN", offered=True):
    """(code, text) of AUTH mech on the submission port after STARTTLS; None if
    AUTH is not offered and offered is False."""
    with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        if not offered and not s.has_extn("auth"):
            return None
        assert s.has_extn("auth"), s.esmtp_features
        s.user, s.password = user, password
        try:
            return s.auth(mech, s.auth_plain if mech == "PLAIN" else s.auth_login)
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code, e.smtp_error


# ---------------------------------------------------------------- facteurctl


def test_ctl_passwords_and_app_passwords(make):
    f = make(mail_owner="nobody")
    app_pw = populate(f)
    show = js(f, "account", "show", "alice@example.org")
    assert show["address"] == "alice@example.org" and show["enabled"] is True
    assert show["password"] is True and show["profile"] == "" and show["app_passwords"] == 1
    assert show["created"] > 1_600_000_000
    assert js(f, "account", "show", "carol@example.org")["profile"] == "readers"
    assert js(f, "account", "list", "example.org")[1] == {"address": "bob@example.org",
                                                         "enabled": False}
    text = ok(f, "account", "show", "carol@example.org")
    assert "profile: readers\n" in text and "password: set\n" in text

    # A second app password, printed alone in text mode; listed without the secret.
    pw2 = ok(f, "account", "app-password", "add", "alice@example.org", "laptop").strip()
    assert len(pw2) == 24 and pw2.isalnum() and pw2 != app_pw
    listed = js(f, "account", "app-password", "list", "alice@example.org")
    assert [a["name"] for a in listed] == ["laptop", "phone"]
    assert all(a["last_used"] is None and a["created"] > 1_600_000_000 for a in listed)
    assert set(listed[0]) == {"name", "created", "last_used"}
    lines = ok(f, "account", "app-password", "list", "alice@example.org").splitlines()
    assert lines[0].split()[0] == "laptop" and lines[0].endswith("last used never")
    ok(f, "account", "app-password", "revoke", "alice@example.org", "laptop")
    assert [a["name"] for a in js(f, "account", "app-password", "list", "alice@example.org")] == \
        ["phone"]

    # Only hashes are stored: no password in the database files.
    db = f.params["directory_database"]
    raw = b"".join(open(db + s, "rb").read() for s in ("", "-wal") if os.path.exists(db + s))
    for pw in (ALICE_PW, BOB_PW, CAROL_PW, app_pw, pw2):
        assert pw.encode() not in raw
    assert b"$argon2id$v=19$m=19456,t=2,p=1$" in raw
    assert b"$argon2id$v=19$m=1024,t=1,p=1$" in raw
    if os.geteuid() == 0:
        assert os.stat(db).st_mode & 0o777 == 0o640

    # Errors: one line, exit 1; usage errors exit 2.
    assert refused(f, "account", "passwd", "nobody@example.org", input="x\n") == \
        "facteurctl: no such account nobody@example.org\n"
    assert refused(f, "account", "passwd", "alice@example.org", input="") == \
        "facteurctl: no password on standard input (one line, at most 1024 characters)\n"
    assert refused(f, "account", "passwd", "alice@example.org", input="\n") == \
        "facteurctl: empty password: nothing changed\n"
    assert refused(f, "account", "passwd", "alice@example.org", input="x" * 2000 + "\n") == \
        "facteurctl: no password on standard input (one line, at most 1024 characters)\n"
    assert "not a hash this system knows" in refused(f, "account", "passwd", "alice@example.org",
                                                     "--hash", "secret")
    assert "only argon2id" in refused(f, "account", "passwd", "alice@example.org", "--hash",
                                      "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$aGFzaA")
    assert refused(f, "account", "app-password", "add", "alice@example.org", "phone") == \
        "facteurctl: account alice@example.org has an app password phone\n"
    assert "bad app password name" in refused(f, "account", "app-password", "add",
                                              "alice@example.org", "my/phone")
    assert refused(f, "account", "app-password", "add", "zed@example.org", "x") == \
        "facteurctl: no such account zed@example.org\n"
    assert refused(f, "account", "app-password", "revoke", "alice@example.org", "tablet") == \
        "facteurctl: account alice@example.org has no app password tablet\n"
    assert refused(f, "account", "app-password", "list", "zed@example.org") == \
        "facteurctl: no such account zed@example.org\n"
    assert refused(f, "account", "set", "alice@example.org", "--profile", "ghost") == \
        "facteurctl: unknown profile ghost\n"
    for args in (["account", "passwd"], ["account", "set", "alice@example.org"],
                 ["account", "app-password"], ["account", "app-password", "add", "a@example.org"],
                 ["account", "add", "x@example.org", "--hash", "y"],
                 ["account", "passwd", "alice@example.org", "--profile", "readers"]):
        assert refused(f, *args, code=2).startswith("usage: facteurctl")

    # A crypt(3) hash made elsewhere (an import) is accepted as it is.
    crypt_hash = subprocess.run(["openssl", "passwd", "-6", "imported-pw"], capture_output=True,
                                text=True, check=True).stdout.strip()
    ok(f, "account", "passwd", "bob@example.org", "--hash", crypt_hash)
    assert js(f, "account", "show", "bob@example.org")["password"] is True


def test_ctl_profiles(make):
    f = make(mail_owner="nobody")
    ok(f, "domain", "add", "example.org")
    ok(f, "account", "add", "alice@example.org")
    ok(f, "profile", "add", "Staff", "--quota", "10G", "--retention", "365",
       "--services", "smtp, IMAP,sieve,dav,xmpp")
    ok(f, "profile", "add", "mailonly", "--services", "smtp imap", "--quota", "500M")
    ok(f, "profile", "add", "locked", "--services", "")
    ok(f, "profile", "add", "default")
    assert js(f, "profile", "list") == [
        {"name": "default", "quota_bytes": 0, "retention_days": 0,
         "retention_scope": "trash", "services": ["smtp", "imap", "sieve", "dav", "xmpp"]},
        {"name": "locked", "quota_bytes": 0, "retention_days": 0, "retention_scope": "trash",
         "services": []},
        {"name": "mailonly", "quota_bytes": 500 << 20, "retention_days": 0,
         "retention_scope": "trash", "services": ["smtp", "imap"]},
        {"name": "staff", "quota_bytes": 10 << 30, "retention_days": 365,
         "retention_scope": "trash", "services": ["smtp", "imap", "sieve", "dav", "xmpp"]},
    ]
    assert ok(f, "profile", "list").splitlines()[2].split() == [
        "mailonly", "quota=500M", "retention=none", "services=smtp,imap"]
    # set changes what is given only.
    ok(f, "profile", "set", "mailonly", "--retention", "30")
    p = js(f, "profile", "list")[2]
    assert (p["quota_bytes"], p["retention_days"], p["services"]) == (500 << 20, 30, ["smtp", "imap"])
    ok(f, "profile", "set", "mailonly", "--quota", "none", "--services", "imap")
    p = js(f, "profile", "list")[2]
    assert (p["quota_bytes"], p["retention_days"], p["services"]) == (0, 30, ["imap"])

    # In use: kept.
    ok(f, "account", "set", "alice@example.org", "--profile", "STAFF")
    assert refused(f, "profile", "del", "staff") == "facteurctl: profile staff is used by 1 account\n"
    ok(f, "account", "set", "alice@example.org", "--profile", "")
    assert js(f, "account", "show", "alice@example.org")["profile"] == ""
    ok(f, "profile", "del", "staff")
    assert [p["name"] for p in js(f, "profile", "list")] == ["default", "locked", "mailonly"]

    # Errors.
    assert refused(f, "profile", "add", "default") == "facteurctl: profile default exists\n"
    assert refused(f, "profile", "add", "x", "--services", "smtp,pop3") == \
        "facteurctl: unknown service pop3 (known: smtp,imap,sieve,dav,xmpp)\n"
    assert "bad quota" in refused(f, "profile", "add", "x", "--quota", "lots")
    assert "bad retention" in refused(f, "profile", "add", "x", "--retention=-1")
    assert "bad profile name" in refused(f, "profile", "add", "a b")
    assert refused(f, "profile", "set", "ghost", "--quota", "1G") == "facteurctl: unknown profile ghost\n"
    assert refused(f, "profile", "del", "ghost") == "facteurctl: unknown profile ghost\n"
    for args in (["profile"], ["profile", "set", "default"], ["profile", "list", "x"],
                 ["profile", "del", "default", "--quota", "1G"], ["profile", "add", "x", "--kind", "y"]):
        assert refused(f, *args, code=2).startswith("usage: facteurctl")


def test_passwd_on_a_terminal(make):
    """No echo, asked twice; a mismatch changes nothing."""
    f = make(mail_owner="nobody")
    ok(f, "domain", "add", "example.org")
    ok(f, "account", "add", "dave@example.org")

    def on_tty(first, second):
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(FACTEURCTL, [FACTEURCTL, "-c", f.conf, "account", "passwd", "dave@example.org"])
        out = b""

        def read_until(marker):
            nonlocal out
            end = time.monotonic() + 60
            while marker not in out and time.monotonic() < end:
                if select.select([fd], [], [], 1)[0]:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
            return marker in out
        try:
            assert read_until(b"New password for dave@example.org: "), out
            os.write(fd, first.encode() + b"\n")
            assert read_until(b"Again: "), out
            os.write(fd, second.encode() + b"\n")
            read_until(b"\0")  # to the end
        except BaseException:
            # Still waiting for input: the assertion tells why.
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(fd)
            raise
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    rc, out = on_tty("Tty-Secret-1", "Tty-Secret-2")
    assert rc == 1 and "the passwords differ: nothing changed" in out
    assert "Tty-Secret" not in out
    assert js(f, "account", "show", "dave@example.org")["password"] is False
    rc, out = on_tty("Tty-Secret-3", "Tty-Secret-3")
    assert rc == 0, out
    assert "Tty-Secret" not in out
    assert js(f, "account", "show", "dave@example.org")["password"] is True
    # The password typed is the one smtpd accepts.
    f.start()
    assert submission(f, "dave@example.org", "Tty-Secret-3")[0] == 235
    assert submission(f, "dave@example.org", "Tty-Secret-1")[0] == 535


# ---------------------------------------------------------------- smtpd


def test_submission_auth(make):
    f = make(auth_failure_limit=20)
    app_pw = populate(f)
    f.start()

    # The account password, any case in the address, both mechanisms.
    assert submission(f, "alice@example.org", ALICE_PW)[0] == 235
    assert submission(f, "ALICE@example.ORG", ALICE_PW, "LOGIN")[0] == 235
    # The app password; its use shows in facteurctl's listing.
    assert js(f, "account", "app-password", "list", "alice@example.org")[0]["last_used"] is None
    before = int(time.time())
    assert submission(f, "alice@example.org", app_pw)[0] == 235
    used = wait_for(lambda: js(f, "account", "app-password", "list",
                               "alice@example.org")[0]["last_used"])
    assert used is not None and used >= before - 1, used
    assert submission(f, "alice@example.org", app_pw, "LOGIN")[0] == 235
    # Refusals: all the same 535 to the client, told apart in the log.
    code, text = submission(f, "alice@example.org", WRONG_PW)
    assert (code, text) == (535, b"5.7.8 Error: authentication failed")
    assert submission(f, "bob@example.org", BOB_PW)[0] == 535
    assert submission(f, "carol@example.org", CAROL_PW)[0] == 535
    assert submission(f, "nobody@example.org", WRONG_PW)[0] == 535
    assert submission(f, "bob@example.org", app_pw)[0] == 535
    # A revoked app password no longer works.
    ok(f, "account", "app-password", "revoke", "alice@example.org", "phone")
    assert submission(f, "alice@example.org", app_pw)[0] == 535
    # Changes take effect without a reload: carol's profile gains smtp, bob is enabled.
    ok(f, "profile", "set", "readers", "--services", "imap,smtp")
    assert submission(f, "carol@example.org", CAROL_PW)[0] == 235
    ok(f, "account", "enable", "bob@example.org")
    assert submission(f, "bob@example.org", BOB_PW)[0] == 235
    # smtpd_auth_file's users are still served.
    assert submission(f, USER, PASSWORD)[0] == 235

    # An authenticated client may send through the submission port.
    with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        s.login("alice@example.org", ALICE_PW)
        refusals = s.sendmail("alice@example.org", ["bob@example.org"],
                              "From: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n")
        assert refusals == {}

    log = wait_for(lambda: (lambda t: t if "reason=service" in t else "")(f.log_text()))
    assert "auth failed user=alice@example.org client=127.0.0.1 service=smtp reason=bad-password" in log
    assert "auth failed user=bob@example.org client=127.0.0.1 service=smtp reason=disabled" in log
    assert ("auth failed user=carol@example.org client=127.0.0.1 service=smtp reason=service "
            "profile=readers") in log
    assert "auth failed user=nobody@example.org client=127.0.0.1 service=smtp reason=unknown-user" in log
    assert "auth ok user=alice@example.org client=127.0.0.1 service=smtp app_password=phone" in log
    assert "AUTH success from [127.0.0.1] user=alice@example.org mechanism=LOGIN" in log
    # Never a password, in clear or in the base64 of the exchange.
    for pw in (ALICE_PW, BOB_PW, CAROL_PW, WRONG_PW, app_pw, PASSWORD):
        assert pw not in log
        assert b64(pw) not in log
        assert b64(f"\0alice@example.org\0{pw}") not in log
    st = f.stats()
    assert st["smtpd_auth_success"] == 8
    assert st["smtpd_auth_failure"] == 6


def test_auth_offered_for_directory_accounts(make):
    """Without smtpd_auth_file, accounts in the directory are enough for AUTH."""
    f = make(smtpd_auth_file="")
    f.start()
    assert submission(f, "erin@example.org", "Erin-Pw-5521", offered=False) is None
    # The directory appears while smtpd runs: no restart needed.
    ok(f, "domain", "add", "example.org")
    ok(f, "account", "add", "erin@example.org")
    ok(f, "account", "passwd", "erin@example.org", input="Erin-Pw-5521\n")
    assert wait_for(lambda: submission(f, "erin@example.org", "Erin-Pw-5521",
                                       offered=False)) == (235, b"2.7.0 Authentication successful")
    assert submission(f, USER, PASSWORD)[0] == 535


def test_throttled_client(make):
    f = make(auth_failure_limit=3)
    populate(f)
    f.start()
    for _ in range(3):
        assert submission(f, "alice@example.org", WRONG_PW)[0] == 535
    # Over the limit: a temporary failure, even with the right password.
    code, text = submission(f, "alice@example.org", ALICE_PW)
    assert (code, text) == (454, b"4.7.0 Temporary authentication failure")
    assert submission(f, USER, PASSWORD)[0] == 454
    # Within one session too.
    with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_ctx())
        s.ehlo("client.test")
        code, _ = s.docmd("AUTH", "PLAIN " + b64(f"\0alice@example.org\0{ALICE_PW}"))
        assert code == 454
    log = f.log_text()
    assert "auth failed user=alice@example.org client=127.0.0.1 service=smtp reason=throttled" in log
    assert ALICE_PW not in log and WRONG_PW not in log
