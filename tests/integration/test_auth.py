# SPDX-License-Identifier: MIT
"""Sender authentication (filter/auth): SPF, DKIM and DMARC against a private
unbound serving the test zones, through filter/auth_check; DKIM keys from
facteurctl dkim keygen and opendkim-genkey; interoperability with OpenDKIM
itself (opendkim -t verifies facteur's signatures and signs messages
facteur verifies)."""
import base64
import json
import os
import re
import shutil
import subprocess

import pytest

from facteur_it import BUILDDIR, FACTEURCTL, Unbound, make_workdir

AUTH_CHECK = os.path.join(BUILDDIR, "filter", "auth_check")
OPENDKIM = "/usr/sbin/opendkim"
OPENDKIM_GENKEY = "/usr/sbin/opendkim-genkey"
OPENDKIM_TESTMSG = "/usr/sbin/opendkim-testmsg"

GOOD_IP = "192.0.2.5"      # in example.test's SPF
BAD_IP = "198.51.100.9"    # in nobody's


def txt(name, text):
    """A local-data TXT record, split in strings of at most 255 octets."""
    chunks = [text[i:i + 250] for i in range(0, len(text), 250)] or [""]
    return f"{name} IN TXT " + " ".join(f'"{c}"' for c in chunks)


def message(sender="alice@example.test", subject="hello", body="Hello Bob.\n", extra=""):
    return (f"From: Alice <{sender}>\nTo: bob@dest.test\nSubject: {subject}\n"
            f"Date: Tue, 1 Dec 2026 05:00:00 +0000\nMessage-ID: <{subject}@example.test>\n"
            f"{extra}\n{body}")


class Env:
    pass


def keygen(conf, domain, selector, bits=None, check=True):
    argv = [FACTEURCTL, "-c", conf, "-j", "dkim", "keygen", domain, selector] + ([str(bits)] if bits else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def env():
    if not os.access(AUTH_CHECK, os.X_OK):
        pytest.skip(f"{AUTH_CHECK} not built")
    if not os.access("/usr/sbin/unbound", os.X_OK):
        pytest.skip("unbound is not installed")
    e = Env()
    e.dir = make_workdir("facteur-auth-")
    e.keys = os.path.join(e.dir, "dkim")
    # A first configuration for facteurctl: the key directory only.
    e.conf = os.path.join(e.dir, "facteur.conf")
    with open(e.conf, "w") as f:
        f.write(f"spool_directory = {e.dir}/spool\ndkim_key_directory = {e.keys}\nmail_owner = nobody\n")
    # Keys made by facteur, published from keygen's JSON.
    e.key_example = json.loads(keygen(e.conf, "example.test", "sel").stdout)
    e.key_facteur = json.loads(keygen(e.conf, "facteur.test", "fsel", 1024).stdout)
    # A key made by OpenDKIM's own tool.
    e.odk = os.path.join(e.dir, "odk")
    os.makedirs(e.odk)
    subprocess.run([OPENDKIM_GENKEY, "-b", "2048", "-d", "odk.test", "-s", "osel", "-D", e.odk],
                   check=True, timeout=120)
    with open(os.path.join(e.odk, "osel.txt")) as f:
        odk_txt = "".join(re.findall(r'"([^"]*)"', f.read()))
    records = [
        # SPF
        txt("example.test.", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("softfail.test.", "v=spf1 ip4:192.0.2.0/24 ~all"),
        txt("neutral.test.", "v=spf1 ?all"),
        "nospf.test. IN A 192.0.2.50",
        txt("multi.test.", "v=spf1 -all"),
        txt("multi.test.", "v=spf1 +all"),
        txt("mail.example.test.", "v=spf1 a -all"),
        "mail.example.test. IN A 192.0.2.7",
        txt("facteur.test.", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("odk.test.", "v=spf1 -all"),
        txt("quarantine.test.", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("monitor.test.", "v=spf1 ip4:192.0.2.0/24 -all"),
        txt("sampled.test.", "v=spf1 ip4:192.0.2.0/24 -all"),
        # DKIM keys
        txt(e.key_example["name"], e.key_example["txt"]),
        txt(e.key_facteur["name"], e.key_facteur["txt"]),
        txt("osel._domainkey.odk.test.", odk_txt),
        # DMARC
        txt("_dmarc.example.test.", "v=DMARC1; p=reject"),
        txt("_dmarc.facteur.test.", "v=DMARC1; p=reject"),
        txt("_dmarc.odk.test.", "v=DMARC1; p=reject; adkim=s"),
        txt("_dmarc.quarantine.test.", "v=DMARC1; p=quarantine"),
        txt("_dmarc.monitor.test.", "v=DMARC1; p=none"),
        txt("_dmarc.sampled.test.", "v=DMARC1; p=reject; pct=0"),
    ]
    # TXT data needs quotes inside: single-quoted local-data lines.
    e.unbound = Unbound(e.dir, [])
    with open(e.unbound.conf, "a") as f:
        f.write("".join(f"    local-data: '{r}'\n" for r in records))
    e.unbound.start()
    with open(e.conf, "a") as f:
        f.write(f"dns_forwarder = 127.0.0.1@{e.unbound.port}\nmyhostname = mx.test\n")
    yield e
    e.unbound.stop()
    shutil.rmtree(e.dir, ignore_errors=True)


# ---------------------------------------------------------------- auth_check


RESINFO = re.compile(r'^(?P<method>spf|dkim|dmarc|arc)=(?P<result>[a-z]+)'
                     r'(?: \((?P<comment>[^()\\\r\n]*)\))?'
                     r'(?P<props>(?: [a-z]+\.[a-z]+=(?:"(?:[^"\\]|\\.)*"|[^\s;"()\\]+))*)$')
PROP = re.compile(r' ([a-z]+\.[a-z]+)=("(?:[^"\\]|\\.)*"|[^\s;"()\\]+)')


def parse_ar(raw):
    """An Authentication-Results field, checked against RFC 8601's grammar:
    (authserv-id, [(method, result, comment, {ptype.property: value})])."""
    assert raw.startswith("Authentication-Results: "), raw
    assert raw.endswith("\r\n"), repr(raw)
    lines = raw[:-2].split("\r\n")
    for line in lines[1:]:
        assert line.startswith("\t"), f"folded line without leading WSP: {line!r}"
    value = raw[len("Authentication-Results: "):-2].replace("\r\n", "")
    parts = [p.strip() for p in value.split(";")]
    authserv_id, out = parts[0], []
    assert re.fullmatch(r"[A-Za-z0-9.-]+", authserv_id), authserv_id
    if parts[1:] == ["none"]:
        return authserv_id, []
    for p in parts[1:]:
        m = RESINFO.match(p)
        assert m, f"not a resinfo (RFC 8601): {p!r}"
        out.append((m["method"], m["result"], m["comment"], dict(PROP.findall(m["props"]))))
    return authserv_id, out


class Result:
    def __init__(self, out):
        lines = out.split("\n")
        ar = [lines[0] + "\n"]
        i = 1
        while i < len(lines) and lines[i].startswith("\t"):
            ar.append(lines[i] + "\n")
            i += 1
        self.ar_raw = "".join(ar)
        self.authserv_id, self.ar = parse_ar(self.ar_raw)
        self.fields, self.evals, self.symbols = {}, set(), {}
        for line in lines[i:]:
            if line.startswith("eval "):
                self.evals.add(line[5:])
            elif line.startswith("symbol "):
                _, name, score, *detail = line.split(" ", 3)
                self.symbols[name] = (float(score), detail[0] if detail else "")
            elif "=" in line:
                k, v = line.split("=", 1)
                self.fields[k] = v

    def methods(self, method):
        return [r for r in self.ar if r[0] == method]


def write(env, name, content):
    path = os.path.join(env.dir, name)
    with open(path, "w" if isinstance(content, str) else "wb") as f:
        f.write(content)
    return path


def check(env, msg, ip=GOOD_IP, helo="mail.example.test", mail_from="alice@example.test",
          trusted=False, conf=None):
    path = write(env, "msg.eml", msg)
    argv = [AUTH_CHECK, "-c", conf or env.conf, "--ip", ip, "--helo", helo, "--from", mail_from]
    if trusted:
        argv.append("--trusted")
    r = subprocess.run(argv + [path], capture_output=True, timeout=120)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, out + err
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    return Result(out)


def sign(env, msg, domain, conf=None):
    path = write(env, "tosign.eml", msg)
    r = subprocess.run([AUTH_CHECK, "-c", conf or env.conf, "--sign", domain, path],
                       capture_output=True, timeout=120)
    r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


# ---------------------------------------------------------------- SPF


@pytest.mark.parametrize("mail_from,ip,result,symbol", [
    ("alice@example.test", GOOD_IP, "pass", "R_SPF_ALLOW"),
    ("alice@example.test", BAD_IP, "fail", "R_SPF_FAIL"),
    ("bob@softfail.test", BAD_IP, "softfail", "R_SPF_SOFTFAIL"),
    ("bob@neutral.test", BAD_IP, "neutral", "R_SPF_NEUTRAL"),
    ("bob@nospf.test", BAD_IP, "none", "R_SPF_NA"),
    ("bob@nxdomain.test", BAD_IP, "none", "R_SPF_NA"),
    ("bob@multi.test", BAD_IP, "permerror", "R_SPF_PERMFAIL"),
])
def test_spf_mail_from(env, mail_from, ip, result, symbol):
    r = check(env, message(sender=mail_from), ip=ip, mail_from=mail_from)
    assert r.fields["spf"] == result
    spf = [x for x in r.methods("spf") if "smtp.mailfrom" in x[3]]
    assert len(spf) == 1, r.ar_raw
    assert spf[0][1] == result and spf[0][3]["smtp.mailfrom"] == mail_from
    assert symbol in r.symbols, r.symbols
    assert r.symbols[symbol][1] == mail_from.split("@")[1]
    assert f"check_for_spf_{result}" in r.evals


def test_spf_scores(env):
    r = check(env, message(), ip=GOOD_IP)
    assert r.symbols["R_SPF_ALLOW"][0] == -0.2
    r = check(env, message(), ip=BAD_IP)
    assert r.symbols["R_SPF_FAIL"][0] == 1.0
    assert "R_SPF_ALLOW" not in r.symbols


def test_spf_helo_and_null_sender(env):
    # mail.example.test is "a -all": only its own address passes.
    r = check(env, message(), ip="192.0.2.7", helo="mail.example.test")
    assert r.fields["spf_helo"] == "pass"
    assert ("spf", "pass", None, {"smtp.helo": "mail.example.test"}) in r.ar
    assert "check_for_spf_helo_pass" in r.evals
    r = check(env, message(), ip=GOOD_IP, helo="mail.example.test")
    assert r.fields["spf_helo"] == "fail"
    assert "check_for_spf_helo_fail" in r.evals
    # The null sender: SPF of the HELO identity, reported once.
    r = check(env, message(), ip="192.0.2.7", helo="mail.example.test", mail_from="")
    assert r.fields["spf"] == "pass"
    assert [x[3] for x in r.methods("spf")] == [{"smtp.helo": "mail.example.test"}]
    # An address literal is no SPF identity.
    r = check(env, message(), ip=GOOD_IP, helo="[192.0.2.5]")
    assert r.fields["spf_helo"] == "none"


def test_spf_temperror(env):
    # Nothing serves example.org here: SERVFAIL is a temporary error, not "none".
    r = check(env, message(sender="x@example.org"), ip=BAD_IP, mail_from="x@example.org")
    assert r.fields["spf"] == "temperror"
    assert "R_SPF_DNSFAIL" in r.symbols


# ---------------------------------------------------------------- DKIM


def signed(env, msg, domain="example.test"):
    r = sign(env, msg, domain)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("DKIM-Signature: "), r.stdout
    return r.stdout


def test_dkim_sign_format(env):
    out = signed(env, message())
    sig = out.split("\nFrom:", 1)[0]
    # Folded with CRLF + WSP, every line of the field.
    head, *rest = sig.split("\r\n")
    assert all(line.startswith((" ", "\t")) for line in rest if line), sig
    tags = dict(t.strip().split("=", 1) for t in sig[len("DKIM-Signature: "):].replace("\r\n", "").split(";")
                if t.strip())
    assert tags["v"] == "1" and tags["a"] == "rsa-sha256" and tags["c"] == "relaxed/relaxed"
    assert tags["d"] == "example.test" and tags["s"] == "sel"
    assert [h.lower() for h in re.sub(r"\s", "", tags["h"]).split(":")] == \
        ["from", "to", "subject", "date", "message-id"]
    # Without a key: an error, no field.
    r = sign(env, message(), "nokey.test")
    assert r.returncode == 1 and r.stdout == "" and "no DKIM key" in r.stderr


def test_dkim_valid(env):
    r = check(env, signed(env, message()))
    dkim = r.methods("dkim")
    assert len(dkim) == 1, r.ar_raw
    method, result, comment, props = dkim[0]
    assert result == "pass"
    assert props["header.d"] == "example.test" and props["header.s"] == "sel"
    assert len(props["header.b"].strip('"')) == 8
    assert r.fields["dkim_signed"] == "1" and r.fields["dkim_valid"] == "1"
    assert r.fields["dkim_valid_author"] == "1"
    assert r.symbols["R_DKIM_ALLOW"] == (-0.2, "example.test")
    assert {"check_dkim_signed", "check_dkim_valid", "check_dkim_valid_author_sig"} <= r.evals


def test_dkim_body_altered(env):
    msg = signed(env, message()).replace("Hello Bob.", "Hello Bob!")
    r = check(env, msg)
    assert [x[1] for x in r.methods("dkim")] == ["fail"], r.ar_raw
    assert "body hash" in (r.methods("dkim")[0][2] or "")
    assert r.fields["dkim_signed"] == "1" and r.fields["dkim_valid"] == "0"
    assert r.symbols["R_DKIM_REJECT"][0] == 1.0
    assert "R_DKIM_ALLOW" not in r.symbols
    assert "check_dkim_signed" in r.evals and "check_dkim_valid" not in r.evals


def test_dkim_header_altered(env):
    msg = signed(env, message()).replace("Subject: hello", "Subject: HELLO there")
    r = check(env, msg)
    assert [x[1] for x in r.methods("dkim")] == ["fail"], r.ar_raw
    assert r.fields["dkim_valid"] == "0"


def test_dkim_none(env):
    r = check(env, message())
    assert [x[:2] for x in r.methods("dkim")] == [("dkim", "none")]
    assert r.fields["dkim_signed"] == "0"
    assert "R_DKIM_NA" in r.symbols
    assert "check_dkim_signed" not in r.evals


def test_dkim_unknown_selector(env):
    msg = signed(env, message()).replace("s=sel;", "s=nosuch;", 1)
    r = check(env, msg)
    assert [x[1] for x in r.methods("dkim")] == ["permerror"], r.ar_raw
    assert "R_DKIM_PERMFAIL" in r.symbols


def test_dkim_third_party_signature(env):
    # facteur.test signs a message From example.test: valid, not the author's.
    r = check(env, signed(env, message(), "facteur.test"), ip=BAD_IP)
    assert r.fields["dkim_valid"] == "1" and r.fields["dkim_valid_author"] == "0"
    assert "check_dkim_valid_author_sig" not in r.evals
    # ... and DMARC (example.test, p=reject, SPF fails) fails.
    assert r.fields["dmarc"] == "fail"


# ---------------------------------------------------------------- DMARC


def test_dmarc_pass_by_spf(env):
    r = check(env, message(), ip=GOOD_IP)
    assert r.fields["dmarc"] == "pass" and r.fields["dmarc_policy"] == "reject"
    assert r.fields["dmarc_disposition"] == "none"
    [(m, result, comment, props)] = r.methods("dmarc")
    assert result == "pass" and props == {"header.from": "example.test"}
    assert r.symbols["DMARC_POLICY_ALLOW"] == (-0.5, "example.test")
    assert "check_dmarc_pass" in r.evals


def test_dmarc_pass_by_dkim(env):
    r = check(env, signed(env, message()), ip=BAD_IP)
    assert r.fields["spf"] == "fail"
    assert r.fields["dmarc"] == "pass"


def test_dmarc_reject(env):
    r = check(env, message(), ip=BAD_IP)
    assert r.fields["dmarc"] == "fail" and r.fields["dmarc_policy"] == "reject"
    assert r.fields["dmarc_disposition"] == "reject"
    assert r.methods("dmarc")[0][2] == "p=reject dis=reject"
    assert r.symbols["DMARC_POLICY_REJECT"][0] == 2.0
    assert "check_dmarc_reject" in r.evals and "check_dmarc_pass" not in r.evals


def test_dmarc_reject_not_honored(env):
    conf = write(env, "nohonor.conf", open(env.conf).read() + "dmarc_honor_policy = no\n")
    r = check(env, message(), ip=BAD_IP, conf=conf)
    assert r.fields["dmarc"] == "fail" and r.fields["dmarc_policy"] == "reject"
    assert r.fields["dmarc_disposition"] == "none"


def test_dmarc_pct_zero_downgrades(env):
    # pct=0: no message is in the sample, reject becomes quarantine (RFC 7489 6.6.4).
    r = check(env, message(sender="a@sampled.test"), ip=BAD_IP, mail_from="a@sampled.test")
    assert r.fields["dmarc"] == "fail" and r.fields["dmarc_policy"] == "reject"
    assert r.fields["dmarc_disposition"] == "quarantine"


def test_dmarc_quarantine(env):
    r = check(env, message(sender="a@quarantine.test"), ip=BAD_IP, mail_from="a@quarantine.test")
    assert r.fields["dmarc"] == "fail" and r.fields["dmarc_policy"] == "quarantine"
    assert r.fields["dmarc_disposition"] == "quarantine"
    assert r.symbols["DMARC_POLICY_QUARANTINE"][0] == 1.5
    assert "check_dmarc_quarantine" in r.evals
    r = check(env, message(sender="a@quarantine.test"), ip=GOOD_IP, mail_from="a@quarantine.test")
    assert r.fields["dmarc"] == "pass" and r.fields["dmarc_disposition"] == "none"


def test_dmarc_policy_none(env):
    r = check(env, message(sender="a@monitor.test"), ip=BAD_IP, mail_from="a@monitor.test")
    assert r.fields["dmarc"] == "fail" and r.fields["dmarc_policy"] == "none"
    assert r.fields["dmarc_disposition"] == "none"
    assert r.symbols["DMARC_POLICY_SOFTFAIL"][0] == 0.1
    assert "check_dmarc_none" in r.evals


def test_dmarc_no_record(env):
    r = check(env, message(sender="a@softfail.test"), ip=BAD_IP, mail_from="a@softfail.test")
    assert r.fields["dmarc"] == "none" and r.fields["dmarc_policy"] == ""
    assert "DMARC_NA" in r.symbols
    assert "check_dmarc_missing" in r.evals


def test_dmarc_organizational_domain(env):
    # news.example.test has no record: example.test's applies.
    r = check(env, message(sender="a@news.example.test"), ip=BAD_IP, mail_from="a@news.example.test")
    assert r.fields["from_domain"] == "news.example.test"
    assert r.fields["dmarc"] == "fail" and r.fields["dmarc_policy"] == "reject"
    # Relaxed alignment: SPF of example.test passes for From news.example.test.
    r = check(env, message(sender="a@news.example.test"), ip=GOOD_IP, mail_from="a@example.test")
    assert r.fields["dmarc"] == "pass"


def test_dmarc_misaligned_spf(env):
    # SPF passes for facteur.test, From is example.test: not aligned.
    r = check(env, message(), ip=GOOD_IP, mail_from="bounce@facteur.test")
    assert r.fields["spf"] == "pass"
    assert r.fields["dmarc"] == "fail"


def test_dmarc_multiple_from(env):
    msg = message(extra="From: Mallory <m@evil.test>\n")
    r = check(env, msg)
    assert r.fields["dmarc"] == "permerror"
    assert "DMARC_BAD_POLICY" in r.symbols


def test_trusted_client(env):
    # Authenticated or mynetworks: no SPF nor DMARC, DKIM still verified.
    r = check(env, signed(env, message()), ip=BAD_IP, trusted=True)
    assert r.methods("spf") == [] and r.methods("dmarc") == []
    assert r.fields["spf"] == "" and r.fields["dmarc"] == ""
    assert [x[1] for x in r.methods("dkim")] == ["pass"]
    assert not any(s.startswith(("R_SPF", "DMARC")) for s in r.symbols)


def test_authserv_id(env):
    r = check(env, message())
    assert r.authserv_id == "mx.test"
    conf = write(env, "authserv.conf", open(env.conf).read() + "authserv_id = auth.example.test\n")
    r = check(env, message(), conf=conf)
    assert r.authserv_id == "auth.example.test"
    assert r.ar_raw.startswith("Authentication-Results: auth.example.test; spf=")


def test_disabled_methods(env):
    conf = write(env, "off.conf", open(env.conf).read() +
                 "spf_enable = no\ndkim_verify = no\ndmarc_enable = no\narc_enable = no\n")
    r = check(env, signed(env, message()), conf=conf)
    assert r.ar == [] and r.ar_raw == "Authentication-Results: mx.test; none\r\n"
    assert r.symbols == {}


def test_quoted_values(env):
    # A local part that is no dot-atom is a quoted-string in the field.
    r = check(env, message(), mail_from='"odd user"@example.test')
    spf = [x for x in r.methods("spf") if "smtp.mailfrom" in x[3]]
    assert spf[0][3]["smtp.mailfrom"].startswith('"'), r.ar_raw


# ---------------------------------------------------------------- keys and OpenDKIM


def test_keygen_record_matches_key(env):
    for key in (env.key_example, env.key_facteur):
        path = key["key_file"]
        st = os.stat(path)
        assert st.st_mode & 0o777 == 0o600
        with open(path) as f:
            assert f.read().startswith("-----BEGIN PRIVATE KEY-----")
        der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                             capture_output=True, check=True).stdout
        assert key["txt"] == "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        bits = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"],
                              capture_output=True, text=True, check=True).stdout
        assert f"({key['bits']} bit" in bits
    assert env.key_example["bits"] == 2048
    # The text form is opendkim-genkey's layout, with the same p=.
    r = subprocess.run([FACTEURCTL, "-c", env.conf, "dkim", "keygen", "text.test", "t1", "1024"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('t1._domainkey.text.test. IN TXT ( "v=DKIM1; k=rsa; "\n\t"p=')
    p = "".join(re.findall(r'"([^"]*)"', r.stdout.split(";  -----")[0]))
    der = subprocess.run(["openssl", "pkey", "-in", os.path.join(env.keys, "text.test", "t1.private"),
                          "-pubout", "-outform", "DER"], capture_output=True, check=True).stdout
    assert p == "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', r.stdout))
    # An existing key is kept; bad arguments are usage errors.
    before = open(env.key_example["key_file"]).read()
    r = keygen(env.conf, "example.test", "sel", check=False)
    assert r.returncode == 1 and "exists" in r.stderr
    assert open(env.key_example["key_file"]).read() == before
    assert keygen(env.conf, "../etc", "x", check=False).returncode == 2
    assert keygen(env.conf, "a.test", "x", 512, check=False).returncode == 2


def opendkim_env(env):
    """An opendkim configuration resolving through the test unbound."""
    if not os.access(OPENDKIM, os.X_OK):
        pytest.skip("opendkim is not installed")
    ub = write(env, "opendkim-unbound.conf",
               "server:\n    do-not-query-localhost: no\n    module-config: \"iterator\"\n"
               "    local-zone: \"test.\" nodefault\n"
               f"forward-zone:\n    name: \".\"\n    forward-addr: 127.0.0.1@{env.unbound.port}\n")
    return write(env, "opendkim-verify.conf", f"Mode v\nSyslog no\nResolverConfiguration {ub}\n")


def opendkim_verify(env, msg):
    conf = opendkim_env(env)
    path = write(env, "opendkim-in.eml", msg.replace("\r\n", "\n"))
    r = subprocess.run([OPENDKIM, "-x", conf, "-t", path, "-vv"], capture_output=True, text=True,
                       timeout=120)
    return r.stdout + r.stderr


def test_facteur_signature_verified_by_opendkim(env):
    msg = signed(env, message(), "facteur.test")
    out = opendkim_verify(env, msg)
    assert re.search(r"verification \(s=fsel, d=facteur\.test, 1024-bit key\) succeeded", out), out
    # The same check fails once the body changes: it really verifies.
    out = opendkim_verify(env, msg.replace("Hello Bob.", "Hello Bob!"))
    assert "succeeded" not in out and "failed" in out, out


def test_opendkim_signature_verified_by_facteur(env):
    if not os.access(OPENDKIM, os.X_OK):
        pytest.skip("opendkim is not installed")
    conf = write(env, "opendkim-sign.conf",
                 f"Mode s\nSyslog no\nDomain odk.test\nSelector osel\n"
                 f"KeyFile {env.odk}/osel.private\nRequireSafeKeys false\n"
                 f"Canonicalization relaxed/simple\nSignatureAlgorithm rsa-sha256\n")
    msg = message(sender="carol@odk.test")
    path = write(env, "opendkim-sign.eml", msg)
    r = subprocess.run([OPENDKIM, "-x", conf, "-b", "s", "-t", path, "-vv"], capture_output=True,
                       text=True, timeout=120)
    m = re.search(r"INSHEADER: idx=0 hname='DKIM-Signature' hvalue='([^']*)'", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    signed_msg = "DKIM-Signature: " + m.group(1) + "\n" + msg
    res = check(env, signed_msg, ip=BAD_IP, mail_from="carol@odk.test")
    assert [(x[1], x[3]["header.d"], x[3]["header.s"]) for x in res.methods("dkim")] == \
        [("pass", "odk.test", "osel")], res.ar_raw
    # odk.test's DMARC is strict DKIM alignment, and this is aligned.
    assert res.fields["dmarc"] == "pass"
    res = check(env, signed_msg.replace("Hello Bob.", "Hello Bob!"), ip=BAD_IP, mail_from="carol@odk.test")
    assert [x[1] for x in res.methods("dkim")] == ["fail"]
    assert res.fields["dmarc"] == "fail"


def test_opendkim_testmsg_sha1_refused(env):
    # opendkim-testmsg signs rsa-sha1; the key record says h=sha256.
    if not os.access(OPENDKIM_TESTMSG, os.X_OK):
        pytest.skip("opendkim-testmsg is not installed")
    r = subprocess.run([OPENDKIM_TESTMSG, "-C", "-d", "odk.test", "-s", "osel", "-k",
                        f"{env.odk}/osel.private"], input=message(sender="carol@odk.test").replace("\n", "\r\n"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "a=rsa-sha1" in r.stdout
    res = check(env, r.stdout, ip=BAD_IP, mail_from="carol@odk.test")
    assert [x[1] for x in res.methods("dkim")] == ["permerror"], res.ar_raw


def test_threads_share_the_context(env):
    # The worker pool's use: one context, several threads at once (under
    # the sanitizers in CI).  Every Authentication-Results is the first one.
    msg = signed(env, message(sender="carol@news.example.test"), "facteur.test")
    path = write(env, "threads.eml", msg)
    r = subprocess.run([AUTH_CHECK, "-c", env.conf, "--ip", BAD_IP, "--helo", "mail.example.test",
                        "--from", "carol@news.example.test", "--threads", "6", path],
                       capture_output=True, timeout=300)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert "AddressSanitizer" not in err and "runtime error" not in err, err
    assert r.returncode == 0, out + err
    assert "threads 6 x 4: 0 different" in out
    res = Result(out)
    assert [x[1] for x in res.methods("dkim")] == ["pass"] and res.fields["dmarc"] == "fail"
