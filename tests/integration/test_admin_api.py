# SPDX-License-Identifier: MIT
"""facteur-apid, the admin REST API, started by the master on loopback:
HTTPS with the test's own certificate (verified against it) or smtpd's;
logins with admins made by facteurctl (wrong password, unknown admin,
throttling, logout, an expired token, no token in clear in its file);
domains, accounts, aliases, groups, resources, profiles and admins made
through the API and checked with facteurctl and an SMTP AUTH; a domain
admin kept to its domain (404 for the others, 403 for what is global);
hostile bodies, queries and paths answered with JSON errors and the
daemon still there; the audit log of every change with its admin and
address; kill -9 and a restart by the master."""
import hashlib
import http.client
import json
import os
import re
import smtplib
import socket
import sqlite3
import ssl
import subprocess

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, SANITIZER_MARKERS, SRCDIR, free_port, wait_for

APID = os.path.join(BUILDDIR, "appliance", "api", "facteur-apid")
ROOT_PW = "Root-Admin-Pw-4711"
DOM_PW = "Dom-Admin-Pw-0815"
BOB_PW = "Bob-Account-Pw-1234"



def test_openapi_describes_every_route():
    """doc/admin-api.yaml has exactly the routes of api_router.c, with their methods."""
    yaml = pytest.importorskip("yaml")
    with open(os.path.join(SRCDIR, "doc", "admin-api.yaml")) as fh:
        doc = yaml.safe_load(fh)
    assert doc["openapi"].startswith("3.0.")
    documented = set()
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "post", "patch", "delete", "put"):
                documented.add((method.upper(), re.sub(r"\{[a-z]+\}", "*", path)))
                # Every error is the Error schema.
                for status, resp in item[method]["responses"].items():
                    if status.startswith(("4", "5")):
                        assert resp["$ref"].startswith("#/components/responses/")
    with open(os.path.join(SRCDIR, "appliance", "api", "api_router.c")) as fh:
        routes = {(m, "/api/v1/" + p) for p, m in
                  re.findall(r'\{ "([a-z*/]+)", API_([A-Z]+),', fh.read())}
    assert len(routes) > 30
    assert documented == routes
    for name, resp in doc["components"]["responses"].items():
        if "content" in resp:
            assert resp["content"]["application/json"]["schema"]["$ref"] == \
                "#/components/schemas/Error"


def ctl(f, *args, input=None):
    r = subprocess.run([FACTEURCTL, "-c", f.conf] + list(args), input=input, capture_output=True,
                       text=True, timeout=120)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def ctl_json(f, *args):
    return json.loads(ctl(f, "-j", *args))


class Api:
    """HTTPS client of one facteur-apid; every answer is (status, headers, JSON or None)."""

    def __init__(self, port, cafile):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)

    def raw(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def call(self, method, path, body=None, token=None, headers=None, raw_body=None):
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        status, hdrs, out = self.raw(method, "/api/v1/" + path, data, h)
        doc = None
        if out:
            assert hdrs.get("content-type") == "application/json", (status, hdrs, out)
            doc = json.loads(out)
        assert hdrs.get("cache-control") == "no-store"
        return status, hdrs, doc

    def ok(self, method, path, body=None, token=None, status=200):
        st, _, doc = self.call(method, path, body, token)
        assert st == status, (method, path, st, doc)
        return doc

    def error(self, method, path, status, body=None, token=None, field=None, **kw):
        st, hdrs, doc = self.call(method, path, body, token, **kw)
        assert st == status, (method, path, st, doc)
        assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], doc
        if field is not None:
            assert doc.get("field") == field, doc
        return doc, hdrs

    def login(self, admin, password):
        doc = self.ok("POST", "tokens", {"admin": admin, "password": password}, status=201)
        assert len(doc["token"]) == 43 and doc["expires"].endswith("Z")
        return doc["token"]


@pytest.fixture
def api_cert(workdir):
    """A certificate for 127.0.0.1 that the clients verify (no verification is skipped)."""
    cert = os.path.join(workdir, "api.crt")
    key = os.path.join(workdir, "api.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o644)
    return cert, key


@pytest.fixture
def daemon_dir(workdir):
    """A daemon_directory holding smtpd, qmgr and facteur-apid of the build."""
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "appliance/api/facteur-apid"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


@pytest.fixture
def start_api(make_facteur, workdir, daemon_dir, api_cert):
    """start_api(**params) -> (facteur, Api): domains example.org and other.test, the global
    admin root and the domain admin dom@example.org made by facteurctl, then facteur started
    with admin_api_listen."""
    if not os.access(APID, os.X_OK):
        pytest.skip(f"{APID} not built")

    def factory(cert_params=True, **params):
        state = os.path.join(workdir, "state")
        os.makedirs(state, exist_ok=True)
        os.chmod(state, 0o755)
        port = free_port()
        params.setdefault("directory_database", os.path.join(state, "directory.db"))
        params["admin_api_listen"] = f"127.0.0.1:{port}"
        if cert_params:
            params["admin_api_tls_cert_file"], params["admin_api_tls_key_file"] = api_cert
        f = make_facteur(start=False, daemon_directory=daemon_dir, **params)
        f.api_port = port
        ctl(f, "domain", "add", "example.org")
        ctl(f, "domain", "add", "other.test")
        ctl(f, "admin", "add", "root", "--global")
        ctl(f, "admin", "passwd", "root", input=ROOT_PW + "\n")
        ctl(f, "admin", "add", "dom@example.org", "--domains", "example.org")
        ctl(f, "admin", "passwd", "dom@example.org", input=DOM_PW + "\n")
        f.start()
        api = Api(port, api_cert[0])

        def answering():
            try:
                return api.raw("GET", "/api/v1/domains")[0] == 401
            except OSError:
                return False
        assert wait_for(answering), f.log_tail()
        return f, api
    return factory


def audit_rows(api, token, limit=1000):
    return api.ok("GET", f"audit?limit={limit}", token=token)["items"]


# ---------------------------------------------------------------- logins


def test_login_logout_and_refused_tokens(start_api):
    f, api = start_api()
    # No token, a malformed one, a random one, another scheme.
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer " + "A" * 43},
                    {"Authorization": "Basic cm9vdDpwdw=="}):
        doc, hdrs = api.error("GET", "domains", 401, headers=headers)
        assert hdrs.get("www-authenticate", "").startswith("Bearer")
    # A wrong password and an unknown admin get the same answer.
    wrong, _ = api.error("POST", "tokens", 401, {"admin": "root", "password": "not-it"})
    unknown, _ = api.error("POST", "tokens", 401, {"admin": "nobody-here", "password": "x"})
    assert wrong == unknown
    api.error("POST", "tokens", 400, {"admin": "root"}, field="password")

    token = api.login("ROOT", ROOT_PW)
    me = api.ok("GET", "tokens/current", token=token)
    assert me["admin"] == "root" and me["global"] is True and me["domains"] == []
    assert {d["name"] for d in api.ok("GET", "domains", token=token)["items"]} == \
        {"example.org", "other.test"}

    # Only the token's SHA-256 is kept.
    db = os.path.join(f.spool, "adminapi", "api.db")
    assert os.stat(db).st_mode & 0o077 == 0
    with open(db, "rb") as fh:
        assert token.encode() not in fh.read()
    con = sqlite3.connect(db)
    try:
        hashes = [r[0] for r in con.execute("SELECT hash FROM tokens WHERE admin = 'root'")]
        assert hashlib.sha256(token.encode()).hexdigest() in hashes

        # An expired token is refused.
        other = api.login("root", ROOT_PW)
        with con:
            con.execute("UPDATE tokens SET expires = 1000 WHERE hash = ?",
                        (hashlib.sha256(other.encode()).hexdigest(),))
    finally:
        con.close()
    api.error("GET", "domains", 401, token=other)
    api.ok("GET", "domains", token=token)

    # Logout: the token no longer works.
    api.ok("DELETE", "tokens/current", token=token, status=204)
    api.error("GET", "domains", 401, token=token)

    # The log has the failures, never a password or a token.
    log = f.log_text()
    assert "auth failed user=root client=127.0.0.1 service=adminapi reason=bad-password" in log
    assert ROOT_PW not in log and "not-it" not in log and token not in log

    rows = audit_rows(api, api.login("root", ROOT_PW))
    logins = [(r["admin"], r["status"]) for r in rows if r["path"] == "/api/v1/tokens"]
    assert ("root", 401) in logins and ("nobody-here", 401) in logins and ("root", 201) in logins
    assert any(r["method"] == "DELETE" and r["path"] == "/api/v1/tokens/current" and
               r["status"] == 204 and r["admin"] == "root" for r in rows)


def test_login_throttled(start_api):
    f, api = start_api(auth_failure_limit=3, auth_failure_window="1h")
    for _ in range(3):
        api.error("POST", "tokens", 401, {"admin": "root", "password": "guess"})
    # Even the right password is refused now, without a check.
    doc, hdrs = api.error("POST", "tokens", 429, {"admin": "root", "password": ROOT_PW})
    assert hdrs.get("retry-after") == "3600"
    assert "reason=throttled" in f.log_text()


# ---------------------------------------------------------------- the directory


def submission_login(f, user, password):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", f.submission_port, timeout=60) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        try:
            return s.login(user, password)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code


def test_global_admin_manages_the_directory(start_api):
    f, api = start_api()
    t = api.login("root", ROOT_PW)

    # A domain, normalized as the directory stores it.
    d = api.ok("POST", "domains", {"name": "New.Test."}, token=t, status=201)
    assert d == {"name": "new.test", "kind": "local", "verify": "none", "nexthop": None,
                 "catchall": None}
    api.error("POST", "domains", 409, {"name": "new.test"}, token=t)
    assert "new.test" in [x["name"] for x in ctl_json(f, "domain", "list")]
    r = api.ok("PATCH", "domains/new.test", {"kind": "relay", "nexthop": "[127.0.0.1]:2525"},
               token=t)
    assert r["kind"] == "relay" and r["nexthop"] == "[127.0.0.1]:2525"
    # A change of kind keeps what the new kind may have, as facteurctl domain set does.
    r = api.ok("PATCH", "domains/new.test", {"verify": "probe"}, token=t)
    assert r["verify"] == "probe"
    ctl(f, "domain", "set", "new.test", "--kind", "backup")
    r = api.ok("GET", "domains/new.test", token=t)
    assert r["kind"] == "backup" and r["verify"] == "none" and r["nexthop"] == "[127.0.0.1]:2525"
    r = api.ok("PATCH", "domains/new.test", {"kind": "local", "catchall": "pm@new.test"}, token=t)
    assert r == {"name": "new.test", "kind": "local", "verify": "none", "nexthop": None,
                 "catchall": "pm@new.test"}
    ctl(f, "domain", "set", "new.test", "--kind", "relay", "--nexthop", "mx.new.test")
    assert ctl_json(f, "domain", "show", "new.test")["catchall"] == ""
    api.error("PATCH", "domains/new.test", 400, {"catchall": "x@new.test"}, token=t,
              field="catchall")

    # A profile, then an account with a password, a display name and the profile.
    p = api.ok("POST", "profiles", {"name": "staff", "quota_bytes": 1 << 30,
                                    "services": ["imap", "smtp", "imap"][:2]}, token=t, status=201)
    assert p["services"] == ["smtp", "imap"] and p["retention_scope"] == "trash"
    acc = api.ok("POST", "domains/example.org/accounts",
                 {"address": "Bob@Example.org", "password": BOB_PW, "name": "Bob Éric",
                  "profile": "staff"}, token=t, status=201)
    assert acc["address"] == "bob@example.org" and acc["password_source"] == "local"
    assert acc["name"] == "Bob Éric" and acc["profile"] == "staff" and acc["enabled"] is True
    shown = ctl_json(f, "account", "show", "bob@example.org")
    assert shown["password"] is True and shown["profile"] == "staff" and shown["name"] == "Bob Éric"
    assert {"address": "bob@example.org", "enabled": True} in ctl_json(f, "account", "list")
    # The hash the API made is one smtpd verifies.
    assert submission_login(f, "bob@example.org", BOB_PW) == 235
    assert submission_login(f, "bob@example.org", "wrong-pw") == 535

    api.error("POST", "domains/example.org/accounts", 409, {"address": "bob@example.org"},
              token=t, field="address")
    api.error("POST", "domains/example.org/accounts", 400, {"address": "eve@other.test"},
              token=t, field="address")
    api.error("POST", "domains/example.org/accounts", 400,
              {"address": "eve@example.org", "profile": "gold"}, token=t, field="profile")
    # Refused as a whole: eve was not made without her profile.
    assert "eve@example.org" not in [a["address"] for a in ctl_json(f, "account", "list")]
    api.error("POST", "domains/example.org/accounts", 400,
              {"address": "eve@example.org", "password_hash": "plain-text"}, token=t,
              field="password_hash")
    crypt = subprocess.run(["openssl", "passwd", "-6", "Eve-Pw-99"], capture_output=True,
                           text=True, check=True).stdout.strip()
    api.ok("POST", "domains/example.org/accounts",
           {"address": "eve@example.org", "password_hash": crypt, "enabled": False}, token=t,
           status=201)
    assert {"address": "eve@example.org", "enabled": False} in ctl_json(f, "account", "list")

    # PATCH: disable, rename, drop the profile, a new password; a refused PATCH changes nothing.
    api.error("PATCH", "domains/example.org/accounts/bob@example.org", 400,
              {"enabled": False, "profile": "gold"}, token=t, field="profile")
    assert ctl_json(f, "account", "show", "bob@example.org")["enabled"] is True
    r = api.ok("PATCH", "domains/example.org/accounts/bob%40example.org",
               {"enabled": False, "name": None, "profile": None}, token=t)
    assert r["enabled"] is False and r["name"] is None and r["profile"] is None
    shown = ctl_json(f, "account", "show", "bob@example.org")
    assert shown["enabled"] is False and shown["name"] == "" and shown["profile"] == ""
    api.ok("PATCH", "domains/example.org/accounts/bob@example.org",
           {"enabled": True, "password": "Bob-New-Pw-5678", "profile": "staff"}, token=t)
    assert submission_login(f, "bob@example.org", "Bob-New-Pw-5678") == 235
    api.error("PATCH", "domains/example.org/accounts/bob@example.org", 400,
              {"address": "rob@example.org"}, token=t, field="address")
    api.error("GET", "domains/example.org/accounts/nobody@example.org", 404, token=t)

    # Paging.
    for i in range(5):
        api.ok("POST", "domains/other.test/accounts", {"address": f"u{i}@other.test"}, token=t,
               status=201)
    page = api.ok("GET", "domains/other.test/accounts?limit=2", token=t)
    assert [a["address"] for a in page["items"]] == ["u0@other.test", "u1@other.test"]
    assert page["next_offset"] == 2
    page = api.ok("GET", "domains/other.test/accounts?offset=4&limit=2", token=t)
    assert [a["address"] for a in page["items"]] == ["u4@other.test"]
    assert page["next_offset"] is None

    # Aliases: made, their targets replaced as a whole, deleted.
    al = api.ok("POST", "domains/example.org/aliases",
                {"address": "info@example.org", "targets": ["bob@example.org", "x@else.net"]},
                token=t, status=201)
    assert al["targets"] == ["bob@example.org", "x@else.net"]
    assert {"address": "info@example.org", "targets": ["bob@example.org", "x@else.net"]} in \
        ctl_json(f, "alias", "list", "example.org")
    api.error("POST", "domains/example.org/aliases", 409,
              {"address": "info@example.org", "targets": ["eve@example.org"]}, token=t)
    api.ok("PATCH", "domains/example.org/aliases/info@example.org",
           {"targets": ["eve@example.org"]}, token=t)
    assert ctl_json(f, "alias", "list", "example.org") == \
        [{"address": "info@example.org", "targets": ["eve@example.org"]}]
    api.error("POST", "domains/example.org/aliases", 400,
              {"address": "loop@example.org", "targets": ["a@b.org", "A@B.org"]}, token=t,
              field="targets")

    # A group and its members; a resource.
    g = api.ok("POST", "domains/example.org/groups",
               {"address": "team@example.org", "kind": "list", "name": "Team",
                "members": ["bob@example.org", "eve@example.org"]}, token=t, status=201)
    assert g["members"] == ["bob@example.org", "eve@example.org"]
    api.ok("POST", "domains/example.org/groups/team@example.org/members",
           {"address": "ext@else.net"}, token=t, status=201)
    api.ok("DELETE", "domains/example.org/groups/team@example.org/members/bob@example.org",
           token=t, status=204)
    api.error("DELETE", "domains/example.org/groups/team@example.org/members/bob@example.org",
              404, token=t)
    shown = ctl_json(f, "group", "show", "team@example.org")
    assert shown["members"] == ["eve@example.org", "ext@else.net"] and shown["name"] == "Team"
    api.ok("PATCH", "domains/example.org/groups/team@example.org",
           {"kind": "alias", "members": ["bob@example.org"]}, token=t)
    shown = ctl_json(f, "group", "show", "team@example.org")
    assert shown["members"] == ["bob@example.org"] and shown["kind"] == "alias"
    res = api.ok("POST", "domains/example.org/resources",
                 {"address": "room1@example.org", "kind": "room", "capacity": 12,
                  "name": "Room 1"}, token=t, status=201)
    assert res["capacity"] == 12 and res["enabled"] is True
    assert ctl_json(f, "resource", "show", "room1@example.org")["capacity"] == 12
    api.error("POST", "domains/example.org/resources", 400,
              {"address": "room2@example.org", "kind": "room", "capacity": -1}, token=t,
              field="capacity")

    # Deletions.
    api.error("DELETE", "domains/example.org", 409, token=t)
    api.ok("DELETE", "domains/example.org/accounts/eve@example.org", token=t, status=204)
    assert "eve@example.org" not in [a["address"] for a in ctl_json(f, "account", "list")]
    api.error("DELETE", "profiles/staff", 409, token=t)
    api.ok("DELETE", "domains/new.test", token=t, status=204)
    api.error("GET", "domains/new.test", 404, token=t)

    # A domain admin made through the API can log in and is kept to its domain.
    adm = api.ok("POST", "admins", {"name": "helene@other.test", "password": "Helene-Pw-42",
                                    "domains": ["other.test"]}, token=t, status=201)
    assert adm["domains"] == ["other.test"] and adm["global"] is False and adm["password"] is True
    api.error("POST", "admins", 400, {"name": "x", "domains": ["nowhere.test"]}, token=t,
              field="domains")
    ht = api.login("helene@other.test", "Helene-Pw-42")
    assert [d["name"] for d in api.ok("GET", "domains", token=ht)["items"]] == ["other.test"]
    api.error("PATCH", "admins/root", 409, {"global": False, "domains": ["example.org"]},
              token=t, field="global")
    api.error("DELETE", "admins/root", 409, token=t)
    api.ok("DELETE", "admins/helene@other.test", token=t, status=204)
    api.error("GET", "domains", 401, token=ht)
    assert [a["name"] for a in ctl_json(f, "admin", "list")] == ["dom@example.org", "root"]


def test_domain_admin_kept_to_its_domains(start_api):
    f, api = start_api()
    t = api.login("root", ROOT_PW)
    api.ok("POST", "domains/other.test/accounts", {"address": "zoe@other.test"}, token=t,
           status=201)
    d = api.login("dom@example.org", DOM_PW)
    me = api.ok("GET", "tokens/current", token=d)
    assert me["global"] is False and me["domains"] == ["example.org"]
    assert [x["name"] for x in api.ok("GET", "domains", token=d)["items"]] == ["example.org"]

    # Another admin's domain answers exactly as one that does not exist.
    other, _ = api.error("GET", "domains/other.test", 404, token=d)
    none, _ = api.error("GET", "domains/absent.test", 404, token=d)
    assert other["error"].replace("other.test", "X") == none["error"].replace("absent.test", "X")
    for method, path, body in (
            ("GET", "domains/other.test/accounts", None),
            ("GET", "domains/other.test/accounts/zoe@other.test", None),
            ("DELETE", "domains/other.test/accounts/zoe@other.test", None),
            ("POST", "domains/other.test/accounts", {"address": "x@other.test"}),
            ("PATCH", "domains/other.test", {"catchall": "zoe@other.test"}),
            ("GET", "domains/other.test/aliases", None),
            ("POST", "domains/other.test/groups", {"address": "g@other.test"})):
        api.error(method, path, 404, body, token=d)
    # An address of another domain is not in this domain's collection.
    api.error("GET", "domains/example.org/accounts/zoe@other.test", 404, token=d)
    api.error("POST", "domains/example.org/accounts", 400, {"address": "x@other.test"}, token=d,
              field="address")
    assert [a["address"] for a in ctl_json(f, "account", "list", "other.test")] == \
        ["zoe@other.test"]

    # What is global is forbidden, whatever the domain.
    for method, path, body in (
            ("POST", "domains", {"name": "mine.test"}),
            ("DELETE", "domains/example.org", None),
            ("GET", "admins", None),
            ("POST", "admins", {"name": "me2", "global": True, "password": "x"}),
            ("GET", "audit", None),
            ("GET", "queue", None),
            ("GET", "stats", None),
            ("POST", "profiles", {"name": "p"}),
            ("DELETE", "profiles/p", None)):
        api.error(method, path, 403, body, token=d)
    api.error("PATCH", "domains/example.org", 403, {"kind": "relay"}, token=d, field="kind")
    assert [a["name"] for a in ctl_json(f, "admin", "list")] == ["dom@example.org", "root"]

    # Its own domain is its to manage.
    api.ok("POST", "domains/example.org/accounts", {"address": "ann@example.org",
                                                   "password": "Ann-Pw-777"}, token=d, status=201)
    r = api.ok("PATCH", "domains/example.org", {"catchall": "ann@example.org"}, token=d)
    assert r["catchall"] == "ann@example.org"
    assert ctl_json(f, "domain", "show", "example.org")["catchall"] == "ann@example.org"
    api.ok("GET", "profiles", token=d)

    # The audit log has the domain admin's changes and refusals, with its address.
    rows = audit_rows(api, t)
    mine = [r for r in rows if r["admin"] == "dom@example.org"]
    assert all(r["client"] == "127.0.0.1" for r in mine)
    assert any(r["path"] == "/api/v1/domains/example.org/accounts" and r["status"] == 201 and
               r["object"] == "account ann@example.org" and r["result"] == "ok" for r in mine)
    assert any(r["path"] == "/api/v1/domains" and r["method"] == "POST" and r["status"] == 403
               for r in mine)
    assert any(r["path"] == "/api/v1/domains/other.test/accounts" and r["method"] == "POST" and
               r["status"] == 404 for r in mine)
    assert not any(r["method"] == "GET" for r in rows)


# ---------------------------------------------------------------- hostile input


def test_bad_requests_get_json_errors(start_api):
    f, api = start_api()
    t = api.login("root", ROOT_PW)
    pid = f.daemons()["facteur-apid"]
    acc = "domains/example.org/accounts"
    json_h = {"Content-Type": "application/json"}

    def body_error(raw, status=400, headers=json_h, field=None):
        return api.error("POST", acc, status, token=t, headers=headers, raw_body=raw,
                         field=field)[0]

    assert "bad JSON" in body_error(b'{"address": ')["error"]
    assert "duplicate" in body_error(b'{"address": "a@example.org", "address": "b@example.org"}')[
        "error"]
    body_error(b'["a@example.org"]')
    body_error(b'"a@example.org"')
    body_error(b'{"address": "a@example.org"} {}')
    body_error(b'{"address": "a\\u0000b@example.org"}')
    body_error(b'{"address": "\xff\xfe@example.org"}')
    body_error(b'[' * 30000 + b']' * 30000)
    body_error(b'{"address": "a@example.org", "enabled": 1}', field="enabled")
    body_error(b'{"address": ["a@example.org"]}', field="address")
    body_error(b'{"address": "a@example.org", "name": 12}', field="name")
    body_error(b'{"address": "a@example.org", "name": "tab\\there"}', field="name")
    body_error(b'{"address": "a@example.org", "password": ""}', field="password")
    body_error(b'{"address": "a@example.org", "password": "' + b"p" * 2000 + b'"}',
               field="password")
    body_error(b'{"address": "not an address"}', field="address")
    body_error(b'{"address": "a@example.org", "enabeld": true}', field="enabeld")
    body_error(b'{"address": "a@example.org", "password": "x", "password_hash": "y"}',
               field="password_hash")
    body_error(b'{}', field="address")
    body_error(b'', 400)
    body_error(b'{"address": "a@example.org"}', 415, headers={"Content-Type": "text/plain"})
    body_error(b'{"address": "a@example.org"}', 415, headers={})
    body_error(b'{"address": "' + b"a" * 100000 + b'@example.org"}', 413)
    api.error("POST", "profiles", 400, {"name": "q", "quota_bytes": 1e3}, token=t,
              field="quota_bytes")
    api.error("POST", "profiles", 400, {"name": "q", "quota_bytes": 2 ** 70}, token=t)
    api.error("POST", "profiles", 400, {"name": "q", "services": ["smtp", "fax"]}, token=t,
              field="services")
    api.error("PATCH", "domains/example.org/accounts/x@example.org", 404, {"enabled": True},
              token=t)
    api.error("PATCH", "domains/example.org", 400, {}, token=t)
    api.error("DELETE", "tokens/current", 400, token=t, raw_body=b'{}', headers=json_h)

    # Queries and paths.
    for q in ("limit=0", "limit=1001", "limit=x", "offset=-1", "offset=1&offset=2", "sort=name"):
        api.error("GET", "domains?" + q, 400, token=t)
    api.error("GET", "queue?limit=5", 400, token=t)
    for path in ("nothing", "domains/example.org/nothing", "domains/%00/accounts",
                 "domains/a/b/c/d/e/f/g/h/i"):
        api.error("GET", path, 404, token=t)
    status, hdrs, out = api.raw("GET", "/", None, {})
    assert status == 404 and json.loads(out)["error"]
    _, hdrs = api.error("PUT", "domains", 405, token=t)
    assert hdrs["allow"] == "GET, POST"
    api.error("DELETE", "audit", 405, token=t)

    # Beyond what evhttp reads at all: a 413 as soon as the length is known, before the body.
    with socket.create_connection(("127.0.0.1", f.api_port), timeout=30) as s:
        with api.ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"POST /api/v1/" + acc.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                        b"Authorization: Bearer " + t.encode() + b"\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{")
            assert tls.recv(4096).startswith(b"HTTP/1.1 413 ")

    # Not TLS, not HTTP: the connection is dropped, nothing else.
    with socket.create_connection(("127.0.0.1", f.api_port), timeout=30) as s:
        s.sendall(b"GET /api/v1/domains HTTP/1.0\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        assert b"HTTP/1." not in data
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", f.api_port), timeout=30) as s:
        with ctx.wrap_socket(s) as tls:
            tls.sendall(b"\x00\xff garbage \r\n\r\n")
            try:
                data = tls.recv(4096)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            assert b"HTTP/1.1 2" not in data

    assert f.daemons()["facteur-apid"] == pid
    assert api.ok("GET", "domains", token=t)["items"]
    assert ctl_json(f, "account", "list", "example.org") == []
    # Refused changes are in the audit log too, with why.
    rows = audit_rows(api, t)
    assert any(r["status"] == 400 and r["result"] == "unknown field" for r in rows)
    assert any(r["status"] == 415 for r in rows) and any(r["status"] == 413 for r in rows)


def test_queue_stats_and_audit_paging(start_api):
    f, api = start_api()
    t = api.login("root", ROOT_PW)
    q = api.ok("GET", "queue", token=t)
    assert set(q) == {"incoming", "active", "deferred", "hold", "total"}
    assert q["total"] == sum(q[k] for k in ("incoming", "active", "deferred", "hold"))
    s = api.ok("GET", "stats", token=t)
    assert s["counters"]["smtpd_connections"] >= 0 and "queue_deferred" in s["gauges"]
    assert s["uptime_seconds"] >= 0 and s["filesystems"]["spool"]["size_bytes"] > 0
    running = {d["name"]: d for d in s["daemons"]}
    assert running["facteur-apid"]["running"] is True
    assert running["facteur-apid"]["pid"] == f.daemons()["facteur-apid"]
    # The same names as facteurctl stats.
    names = set(ctl_json(f, "stats")) - {"started", "daemons"}
    assert set(s["counters"]) | set(s["gauges"]) == names

    for i in range(3):
        api.ok("POST", "domains", {"name": f"d{i}.test"}, token=t, status=201)
    page = api.ok("GET", "audit?limit=2", token=t)
    assert [r["object"] for r in page["items"]] == ["domain d2.test", "domain d1.test"]
    assert page["next_offset"] == 2
    page = api.ok("GET", "audit?offset=2&limit=2", token=t)
    assert page["items"][0]["object"] == "domain d0.test"
    r = page["items"][0]
    assert r["admin"] == "root" and r["client"] == "127.0.0.1" and r["method"] == "POST"
    assert r["path"] == "/api/v1/domains" and r["status"] == 201 and r["result"] == "ok"
    assert r["time"].endswith("Z")
    assert 'adminapi audit admin=root client=127.0.0.1 method=POST path=/api/v1/domains ' \
        'object="domain d0.test" status=201 result="ok"' in f.log_text()


# ---------------------------------------------------------------- the daemon


def test_master_runs_and_restarts_it(start_api, make_facteur, api_cert):
    f, api = start_api()
    t = api.login("root", ROOT_PW)
    f.kill9("facteur-apid")
    assert wait_for(lambda: f.daemons().get("facteur-apid"))

    def answering():
        try:
            return api.raw("GET", "/api/v1/domains", None, {"Authorization": "Bearer " + t})[0]
        except OSError:
            return None
    # Tokens live in the API's file: they outlive the daemon.
    assert wait_for(lambda: answering() == 200), f.log_tail()
    # Without admin_api_listen, no facteur-apid.
    g = make_facteur(name="plain")
    assert "facteur-apid" not in g.daemons() and "smtpd" in g.daemons()


def test_certificate_of_smtpd_by_default(start_api, api_cert):
    """Without admin_api_tls_*, the API presents smtpd's certificate."""
    f, api = start_api(cert_params=False, smtpd_tls_cert_file=api_cert[0],
                       smtpd_tls_key_file=api_cert[1])
    assert api.ok("POST", "tokens", {"admin": "root", "password": ROOT_PW}, status=201)
    # A client that does not know the certificate refuses it.
    strict = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", f.api_port), timeout=30) as s:
            strict.wrap_socket(s, server_hostname="127.0.0.1")
