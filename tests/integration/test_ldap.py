# SPDX-License-Identifier: MIT
"""LDAP as the password source of accounts (store/auth_ldap.c): a private
slapd (mdb, the core, cosine and inetorgperson schemas, users' passwords
as {SSHA}, searches allowed to a service account only) started by the test
on a free loopback port, and a facteur with imapd, managesieved and
submission whose account lena@example.org has its password source set to
ldap with facteurctl.  Real clients (imaplib, smtplib with STARTTLS, a
raw ManageSieve client) log in with the LDAP password; a wrong password,
an empty one and filter injections are refused; slapd stopped gives
temporary failures (IMAP NO [UNAVAILABLE], SMTP 454 4.7.0, ManageSieve NO
(TRYLATER)) that do not count against the client, and logins work again
once it is back; a hanging slapd times out; the server's refusals count
in auth_failure_limit; STARTTLS to slapd with the CA that signed its
certificate, and a temporary failure with another CA; a refused service
account; ldap_accounts = any-local-domain; and no password anywhere in
facteur's log."""
import base64
import imaplib
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, free_port, wait_for

SLAPD = "/usr/sbin/slapd"
SCHEMA = "/etc/ldap/schema"
IMAPD = os.path.join(BUILDDIR, "store", "imapd")

pytestmark = [
    pytest.mark.skipif(not os.access(SLAPD, os.X_OK), reason="slapd is not installed"),
    pytest.mark.skipif(not shutil.which("slappasswd") or not shutil.which("ldapsearch"),
                       reason="ldap-utils is not installed"),
    pytest.mark.skipif(not os.access(IMAPD, os.X_OK), reason="store/imapd is not built"),
]

BASE = "dc=example,dc=org"
SERVICE_DN = "cn=facteur,ou=services," + BASE
SERVICE_PW = "Service-Bind-Pw-6622"
LENA = "lena@example.org"
LENA_PW = "Lena-Ldap-Pw-4711"
MAX = "max@example.org"
MAX_PW = "Max-Ldap-Pw-8183"
DUP = "dup@example.org"
DUP_PW = "Dup-Ldap-Pw-3050"
WRONG_PW = "Wrong-Ldap-Pw-9924"
SECRETS = (LENA_PW, MAX_PW, DUP_PW, WRONG_PW, SERVICE_PW)


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def ssha(password):
    return subprocess.run(["slappasswd", "-h", "{SSHA}", "-s", password], capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()


def make_ca(d, name):
    """A CA (name.crt, name.key) in d."""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", f"/CN=facteur test {name}",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(crt, 0o644)
    return crt, key


def make_server_cert(d, ca_crt, ca_key):
    """slapd's certificate for 127.0.0.1 (an IP SAN: libldap checks the URI's host)."""
    key, csr, crt = (os.path.join(d, n) for n in ("slapd.key", "slapd.csr", "slapd.crt"))
    ext = os.path.join(d, "slapd.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                    csr, "-subj", "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext],
                   check=True, capture_output=True, timeout=60)
    return crt, key


class Slapd:
    """A private slapd on 127.0.0.1:port with a database made from LDIF by slapadd."""

    def __init__(self, root, tls=False):
        self.dir = os.path.join(root, "slapd")
        os.makedirs(os.path.join(self.dir, "db"))
        self.port = free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.proc = None
        self.ca = None
        tls_lines = ""
        if tls:
            self.ca, ca_key = make_ca(self.dir, "ca")
            crt, key = make_server_cert(self.dir, self.ca, ca_key)
            tls_lines = (f"TLSCACertificateFile {self.ca}\nTLSCertificateFile {crt}\n"
                         f"TLSCertificateKeyFile {key}\n")
        self.conf = os.path.join(self.dir, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""include {SCHEMA}/core.schema
include {SCHEMA}/cosine.schema
include {SCHEMA}/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {self.dir}/slapd.pid
{tls_lines}
database mdb
suffix "{BASE}"
rootdn "cn=admin,{BASE}"
directory {self.dir}/db
maxsize 10485760
# Anyone may bind; only the service account may search.
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{SERVICE_DN}" read
  by anonymous auth
  by * none
""")
        people = [("lena", LENA, LENA_PW), ("max", MAX, MAX_PW), ("dup1", DUP, DUP_PW),
                  ("dup2", DUP, DUP_PW)]
        ldif = f"""dn: {BASE}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people

dn: ou=services,{BASE}
objectClass: organizationalUnit
ou: services

dn: {SERVICE_DN}
objectClass: person
cn: facteur
sn: service
userPassword: {ssha(SERVICE_PW)}
"""
        for uid, mail, pw in people:
            ldif += f"""
dn: uid={uid},ou=people,{BASE}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid}
sn: {uid}
mail: {mail}
userPassword: {ssha(pw)}
"""
        path = os.path.join(self.dir, "data.ldif")
        with open(path, "w") as f:
            f.write(ldif)
        subprocess.run(["slapadd", "-f", self.conf, "-l", path], check=True, capture_output=True,
                       timeout=60)

    def answers(self):
        r = subprocess.run(["ldapsearch", "-x", "-H", self.uri, "-D", SERVICE_DN, "-w",
                            SERVICE_PW, "-b", BASE, "-LLL", f"(mail={LENA})", "dn"],
                           capture_output=True, text=True, timeout=30)
        return r.returncode == 0 and "uid=lena" in r.stdout

    def start(self):
        assert self.proc is None or self.proc.poll() is not None
        log = open(os.path.join(self.dir, "slapd.log"), "ab")
        self.proc = subprocess.Popen([SLAPD, "-f", self.conf, "-h", self.uri + "/", "-d", "0"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        assert wait_for(lambda: self.proc.poll() is None and self.answers()), self.log()
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(os.path.join(self.dir, "slapd.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""


@pytest.fixture
def slapd(workdir):
    s = Slapd(workdir).start()
    yield s
    s.stop()


@pytest.fixture
def tls_slapd(workdir):
    s = Slapd(workdir, tls=True).start()
    yield s
    s.stop()


@pytest.fixture
def daemon_dir(workdir):
    """A daemon_directory holding the build's smtpd, qmgr, imapd and managesieved."""
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "store/imapd", "store/managesieved"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


def _imap_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            return s.recv(100).startswith(b"* OK")
    except OSError:
        return False


class Server:
    """A facteur with imapd, managesieved and submission, lena's password in LDAP."""

    def __init__(self, f, imap_port, sieve_port=0):
        self.f = f
        self.imap_port = imap_port
        self.sieve_port = sieve_port

    def imap(self, user, password):
        """('OK', text) or ('NO', text) of LOGIN after STARTTLS."""
        c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=60)
        try:
            c.starttls(ssl_context=tls_ctx())
            try:
                # imaplib sends the user as it is: quoted here, '*' and '(' included.
                quoted = '"' + user.replace("\\", "\\\\").replace('"', '\\"') + '"'
                typ, data = c.login(quoted, password)
                return typ, data[0].decode()
            except imaplib.IMAP4.error as e:
                return "NO", str(e)
        finally:
            try:
                c.logout()
            except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
                pass

    def sieve(self, user, password):
        """The response line of AUTHENTICATE "PLAIN" after STARTTLS (ManageSieve)."""
        def until_status(f):
            while True:
                line = f.readline().decode("utf-8", "replace")
                if not line:
                    raise ConnectionError("managesieved closed the connection")
                if line.split(" ", 1)[0] in ("OK", "NO", "BYE"):
                    return line.rstrip("\r\n")
        with socket.create_connection(("127.0.0.1", self.sieve_port), timeout=60) as sock:
            f = sock.makefile("rb")
            until_status(f)
            sock.sendall(b"STARTTLS\r\n")
            assert until_status(f).startswith("OK")
            with tls_ctx().wrap_socket(sock) as tls:
                f = tls.makefile("rb")
                until_status(f)
                tok = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
                tls.sendall(f'AUTHENTICATE "PLAIN" "{tok}"\r\n'.encode())
                return until_status(f)

    def smtp(self, user, password):
        """(code, text) of AUTH PLAIN on the submission port after STARTTLS."""
        with smtplib.SMTP("127.0.0.1", self.f.submission_port, timeout=60) as s:
            s.ehlo("client.test")
            s.starttls(context=tls_ctx())
            s.ehlo("client.test")
            tok = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            code, text = s.docmd("AUTH", "PLAIN " + tok)
            return code, text.decode()

    def ctl(self, *args, input=None):
        r = subprocess.run([FACTEURCTL, "-c", self.f.conf] + list(args), input=input,
                           capture_output=True, text=True, timeout=60)
        return r

    def log(self):
        return self.f.log_text()


@pytest.fixture
def server(make_facteur, daemon_dir):
    """Factory: server(slapd, **params) -> Server, started."""
    def factory(ldap, start=True, **params):
        imap_port, sieve_port = free_port(), free_port()
        conf = {"ldap_uri": ldap.uri, "ldap_base": BASE, "ldap_bind_dn": SERVICE_DN,
                "ldap_bind_password": SERVICE_PW, "ldap_timeout": "5"}
        conf.update(params)
        f = make_facteur(name=f"facteur-{imap_port}", start=False, daemon_directory=daemon_dir,
                         imap_listen=f"127.0.0.1:{imap_port}",
                         managesieve_listen=f"127.0.0.1:{sieve_port}", **conf)
        os.makedirs(f.spool, exist_ok=True)
        shutil.chown(f.spool, "nobody")
        srv = Server(f, imap_port, sieve_port)
        f.ctl("domain", "add", "example.org")
        for addr in (LENA, DUP):
            f.ctl("account", "add", addr)
            r = srv.ctl("account", "set", addr, "--password-source", "ldap")
            assert r.returncode == 0 and r.stderr == "", r.stderr
        if start:
            f.start()
            assert wait_for(lambda: "imapd" in f.daemons()), f.log_tail()
            assert wait_for(lambda: _imap_answers(imap_port)), f.log_tail()
            assert wait_for(lambda: "managesieved" in f.daemons()), f.log_tail()
        return srv
    return factory


def assert_no_secret(srv):
    log = srv.log()
    for secret in SECRETS:
        assert secret not in log, f"a password in {srv.f.log_path}"
        assert base64.b64encode(secret.encode()).decode() not in log


# ---------------------------------------------------------------- facteurctl


def test_ctl_password_source(make_facteur, workdir):
    f = make_facteur(start=False)
    os.makedirs(f.spool, exist_ok=True)
    srv = Server(f, 0)
    f.ctl("domain", "add", "example.org")
    f.ctl("account", "add", LENA)
    r = srv.ctl("account", "passwd", LENA, input="Local-Pw-1234\n")
    assert r.returncode == 0, r.stderr
    assert "password: set\n" in srv.ctl("account", "show", LENA).stdout
    # ldap_uri is empty in this configuration: done, with a warning.
    r = srv.ctl("account", "set", LENA, "--password-source", "ldap")
    assert r.returncode == 0 and "ldap_uri is empty" in r.stderr, r.stderr
    assert "password: ldap\n" in srv.ctl("account", "show", LENA).stdout
    js = srv.ctl("-j", "account", "show", LENA).stdout
    assert '"password_source":"ldap"' in js and '"password":true' in js
    # local drops the mark: no password until passwd sets one.
    assert srv.ctl("account", "set", LENA, "--password-source", "local").returncode == 0
    assert '"password_source":"none"' in srv.ctl("-j", "account", "show", LENA).stdout
    assert srv.ctl("account", "set", LENA, "--password-source", "ldap").returncode == 0
    assert srv.ctl("account", "passwd", LENA, input="Local-Pw-5678\n").returncode == 0
    assert '"password_source":"local"' in srv.ctl("-j", "account", "show", LENA).stdout
    # Mistakes.
    r = srv.ctl("account", "set", LENA, "--password-source", "kerberos")
    assert r.returncode == 1 and "ldap or local" in r.stderr
    r = srv.ctl("account", "set", "nobody@example.org", "--password-source", "ldap")
    assert r.returncode == 1 and "no such account" in r.stderr
    assert srv.ctl("account", "passwd", LENA, "--password-source", "ldap").returncode == 2
    # The mark is no hash one may give.
    r = srv.ctl("account", "passwd", LENA, "--hash", "{LDAP}")
    assert r.returncode == 1


# ---------------------------------------------------------------- logins


def test_imap_and_submission_with_the_ldap_password(slapd, server):
    srv = server(slapd)
    typ, text = srv.imap(LENA, LENA_PW)
    assert typ == "OK", text
    # The account's address as stored, whatever the case of the login.
    assert srv.imap("Lena@Example.ORG", LENA_PW)[0] == "OK"
    code, text = srv.smtp(LENA, LENA_PW)
    assert code == 235, (code, text)
    assert srv.sieve(LENA, LENA_PW).startswith("OK"), srv.f.log_tail()
    assert srv.sieve(LENA, WRONG_PW).startswith("NO")

    typ, text = srv.imap(LENA, WRONG_PW)
    assert typ == "NO" and "AUTHENTICATIONFAILED" in text, text
    code, text = srv.smtp(LENA, WRONG_PW)
    assert code == 535, (code, text)
    # Empty: refused by facteur itself, never an (anonymous) bind.
    assert srv.imap(LENA, "")[0] == "NO"
    assert srv.smtp(LENA, "")[0] == 535
    # Two entries with dup's address: refused, whatever the password.
    assert srv.imap(DUP, DUP_PW)[0] == "NO"
    assert srv.smtp(DUP, DUP_PW)[0] == 535

    log = srv.log()
    assert f"auth ok user={LENA} client=127.0.0.1 service=imap" in log
    assert f"auth ok user={LENA} client=127.0.0.1 service=smtp" in log
    assert f"auth failed user={LENA} client=127.0.0.1 service=imap reason=bad-password" in log
    assert f"auth failed user={LENA} client=127.0.0.1 service=smtp reason=empty-password" in log
    assert f"auth failed user={DUP} client=127.0.0.1 service=imap reason=ambiguous-user" in log
    assert "ldap_user_filter finds several entries for dup@example.org" in log
    assert_no_secret(srv)


def test_filter_injection_refused(slapd, server):
    """Logins of a local domain go to LDAP (any-local-domain): escaped, they match nothing."""
    srv = server(slapd, ldap_accounts="any-local-domain", auth_failure_limit="100")
    # An address in LDAP but not in the directory logs in (every service, no profile).
    assert srv.imap(MAX, MAX_PW)[0] == "OK"
    assert srv.smtp(MAX, MAX_PW)[0] == 235
    assert srv.imap(MAX, WRONG_PW)[0] == "NO"
    injections = [
        "lena*@example.org",            # unescaped: a substring filter matching lena alone
        "*)(mail=*@example.org",
        "*@example.org",
        "l*a@example.org",
        "lena@example.org)(objectClass=*@example.org",
        "lena\\2a@example.org",          # an escape sent as is
        "le(na)@example.org",
        "*)(|(mail=*)@example.org",
    ]
    for login in injections:
        typ, text = srv.imap(login, LENA_PW)
        assert typ == "NO" and "AUTHENTICATIONFAILED" in text, (login, text)
        code, text = srv.smtp(login, LENA_PW)
        assert code == 535, (login, code, text)
    log = srv.log()
    # The server was asked, and found no such entry.
    assert "auth failed user=lena*@example.org client=127.0.0.1 service=imap " \
           "reason=unknown-user" in log
    assert "auth failed user=*)(mail=*@example.org client=127.0.0.1 service=smtp " \
           "reason=unknown-user" in log
    # A domain that is not local is not LDAP's.
    assert srv.imap("max@elsewhere.example", MAX_PW)[0] == "NO"
    assert_no_secret(srv)


def test_slapd_down_is_a_temporary_failure(slapd, server):
    srv = server(slapd, auth_failure_limit="3")
    assert srv.imap(LENA, LENA_PW)[0] == "OK"
    assert srv.smtp(LENA, LENA_PW)[0] == 235
    slapd.stop()
    # More attempts than auth_failure_limit: the server's trouble is not the client's failure.
    for _ in range(4):
        typ, text = srv.imap(LENA, LENA_PW)
        assert typ == "NO" and "[UNAVAILABLE]" in text, text
        code, text = srv.smtp(LENA, LENA_PW)
        assert code == 454 and "4.7.0" in text, (code, text)
        assert srv.sieve(LENA, LENA_PW).startswith("NO (TRYLATER)")
    log = srv.log()
    assert "reason=ldap-unavailable" in log
    assert f"auth: LDAP {slapd.uri}" in log and "Can't contact LDAP server" in log
    slapd.start()
    # The workers' connections died with the server: made again.
    assert srv.imap(LENA, LENA_PW)[0] == "OK"
    assert srv.smtp(LENA, LENA_PW)[0] == 235
    assert srv.sieve(LENA, LENA_PW).startswith("OK")
    assert_no_secret(srv)


def test_refused_binds_count_in_the_failure_limit(slapd, server):
    srv = server(slapd, auth_failure_limit="3")
    for _ in range(3):
        assert srv.smtp(LENA, WRONG_PW)[0] == 535
    # The right password now: the client is throttled (454 / [UNAVAILABLE]), no check made.
    assert srv.smtp(LENA, LENA_PW)[0] == 454
    assert "reason=throttled" in srv.log()
    assert_no_secret(srv)


def test_starttls_to_slapd(tls_slapd, server, workdir):
    srv = server(tls_slapd, ldap_starttls="yes", ldap_tls_ca_file=tls_slapd.ca)
    assert srv.imap(LENA, LENA_PW)[0] == "OK"
    assert srv.smtp(LENA, LENA_PW)[0] == 235
    assert srv.imap(LENA, WRONG_PW)[0] == "NO"
    # Another CA: the certificate does not verify, a temporary failure.
    other_dir = os.path.join(workdir, "other-ca")
    os.makedirs(other_dir)
    other_ca, _ = make_ca(other_dir, "other")
    os.chmod(other_dir, 0o755)
    bad = server(tls_slapd, ldap_starttls="yes", ldap_tls_ca_file=other_ca)
    typ, text = bad.imap(LENA, LENA_PW)
    assert typ == "NO" and "[UNAVAILABLE]" in text, text
    assert bad.smtp(LENA, LENA_PW)[0] == 454
    assert "STARTTLS" in bad.log() and "reason=ldap-" in bad.log()
    # Without STARTTLS the same server still answers in clear: the choice is the admin's.
    clear = server(tls_slapd)
    assert clear.imap(LENA, LENA_PW)[0] == "OK"
    assert_no_secret(srv)
    assert_no_secret(bad)


def test_service_account_refused_is_a_temporary_failure(slapd, server):
    srv = server(slapd, ldap_bind_password="Not-The-Service-Pw")
    typ, text = srv.imap(LENA, LENA_PW)
    assert typ == "NO" and "[UNAVAILABLE]" in text, text
    log = srv.log()
    assert "bind as ldap_bind_dn" in log and "Invalid credentials" in log
    assert "reason=ldap-error" in log
    # Anonymous: this slapd does not let it search, a configuration to fix, not a user's failure.
    anon = server(slapd, ldap_bind_dn="", ldap_bind_password="")
    typ, text = anon.imap(LENA, LENA_PW)
    assert typ == "NO" and "[UNAVAILABLE]" in text, text
    assert f"search for {LENA}: Insufficient access" in anon.log()
    assert "Not-The-Service-Pw" not in log
    assert_no_secret(srv)


def test_slapd_hanging_times_out(slapd, server):
    """A server that accepts and never answers: ldap_timeout, then a temporary failure."""
    srv = server(slapd, ldap_timeout="2")
    assert srv.imap(LENA, LENA_PW)[0] == "OK"
    os.kill(slapd.proc.pid, signal.SIGSTOP)
    try:
        typ, text = srv.imap(LENA, LENA_PW)
        assert typ == "NO" and "[UNAVAILABLE]" in text, text
        code, text = srv.smtp(LENA, LENA_PW)
        assert code == 454, (code, text)
    finally:
        os.kill(slapd.proc.pid, signal.SIGCONT)
    assert "Timed out" in srv.log() or "Can't contact LDAP server" in srv.log()
    assert srv.imap(LENA, LENA_PW)[0] == "OK"
    assert srv.smtp(LENA, LENA_PW)[0] == 235
    assert_no_secret(srv)
