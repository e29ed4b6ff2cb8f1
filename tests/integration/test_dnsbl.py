# SPDX-License-Identifier: MIT
"""Connection-time DNS checks (policy/dnsbl) against a private unbound
serving DNSBL, DNSWL and RHSBL test zones and reverse DNS, through
policy/dnsbl_check: listings, return-code filters, weights, thresholds,
allow lists, IPv6, temporary failures, FCrDNS, RHSBL, bad site lists, and
the resolver's A, PTR and TXT lookups themselves."""
import ipaddress
import os
import shutil
import subprocess

import pytest

from facteur_it import BUILDDIR, Unbound, make_workdir

DNSBL_CHECK = os.path.join(BUILDDIR, "policy", "dnsbl_check")


def rev(addr, zone):
    """The DNSBL name of addr under zone (d.c.b.a.zone, or IPv6 nibbles)."""
    p = ipaddress.ip_address(addr).reverse_pointer
    return p.rsplit(".", 2)[0] + "." + zone + "."


def ptr(addr, name):
    return f"{ipaddress.ip_address(addr).reverse_pointer}. IN PTR {name}."


RECORDS = [
    # zen.test: the conventional test point with three return codes, one
    # more IPv4 client, an IPv6 client.
    f"{rev('127.0.0.2', 'zen.test')} IN A 127.0.0.2",
    f"{rev('127.0.0.2', 'zen.test')} IN A 127.0.0.4",
    f"{rev('127.0.0.2', 'zen.test')} IN A 127.0.0.10",
    f"{rev('192.0.2.99', 'zen.test')} IN A 127.0.0.4",
    f"{rev('2001:db8::99', 'zen.test')} IN A 127.0.0.2",
    # bl2.test: a second blocklist, for summed weights.
    f"{rev('127.0.0.2', 'bl2.test')} IN A 127.0.0.2",
    # dnswl.test: an allow list (list.dnswl.org's codes).
    f"{rev('192.0.2.10', 'dnswl.test')} IN A 127.0.10.2",
    f"{rev('192.0.2.99', 'dnswl.test')} IN A 127.0.10.2",
    # RHSBL zones.
    "bad.example.rhs.test. IN A 127.0.1.2",
    "worse.example.rhs.test. IN A 127.0.1.255",
    "bad.example.rhs2.test. IN A 127.0.0.2",
    # Reverse DNS.
    ptr("192.0.2.20", "good.test"),
    "good.test. IN A 192.0.2.20",
    ptr("192.0.2.21", "liar.test"),
    "liar.test. IN A 192.0.2.99",
    ptr("192.0.2.23", "wrong.test"),
    ptr("192.0.2.23", "right.test"),
    "wrong.test. IN A 192.0.2.1",
    "right.test. IN A 192.0.2.1",
    "right.test. IN A 192.0.2.23",
    ptr("192.0.2.24", "192.0.2.24"),
    ptr("192.0.2.25", "host.fail.test"),
    ptr("2001:db8::20", "v6.test"),
    "v6.test. IN AAAA 2001:db8::20",
    # For the TXT and NODATA lookups.
    "onlytxt.test. IN A 192.0.2.1",
]
TXT_RECORDS = [
    f'{rev("127.0.0.2", "zen.test")} IN TXT "Listed: see " "https://zen.test/query/127.0.0.2"',
    'bell.test. IN TXT "ring\\007the\\010bell"',
    'onlytxt.test. IN TXT "text"',
]
# Zones (or names) the test unbound refuses: the resolver reports SERVFAIL.
REFUSED = ["fail.test.", f"{ipaddress.ip_address('192.0.2.26').reverse_pointer}."]


class Env:
    pass


@pytest.fixture(scope="module")
def env():
    if not os.access(DNSBL_CHECK, os.X_OK):
        pytest.skip(f"{DNSBL_CHECK} not built")
    if not os.access("/usr/sbin/unbound", os.X_OK):
        pytest.skip("unbound is not installed")
    e = Env()
    e.dir = make_workdir("facteur-dnsbl-")
    e.unbound = Unbound(e.dir, RECORDS)
    with open(e.unbound.conf, "a") as f:
        # TXT data needs double quotes inside: single-quoted lines.
        f.write("".join(f"    local-data: '{r}'\n" for r in TXT_RECORDS))
        f.write("".join(f'    local-zone: "{z}" refuse\n' for z in REFUSED))
    e.unbound.start()
    e.n = 0
    yield e
    e.unbound.stop()
    shutil.rmtree(e.dir, ignore_errors=True)


def run(env, *args, verbose=False, **params):
    """dnsbl_check with facteur.conf = dns_forwarder + params: (rc, {key: value}, stderr)."""
    env.n += 1
    conf = os.path.join(env.dir, f"facteur-{env.n}.conf")
    with open(conf, "w") as f:
        f.write(f"dns_forwarder = 127.0.0.1@{env.unbound.port}\n")
        f.write("".join(f"{k} = {v}\n" for k, v in params.items()))
    argv = [DNSBL_CHECK, "-c", conf] + (["-v"] if verbose else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        out.setdefault(k, v) if k != "answer" else out.setdefault("answers", []).append(v)
    return r.returncode, out, r.stderr


def client(env, ip, *extra, **params):
    rc, out, err = run(env, "client", ip, *extra, **params)
    assert rc == 0, err
    return out


def rhsbl(env, sites, domain):
    rc, out, err = run(env, "rhsbl", sites, domain)
    assert rc == 0, err
    return out


# ---------------------------------------------------------------- DNSBL


def test_listed(env):
    r = client(env, "127.0.0.2", dnsbl_sites="zen.test")
    assert r["score"] == "1"
    assert r["blocked"] == "1"
    assert r["listed_by"] == "zen.test"
    assert r["tempfail"] == "0"
    assert r["allowlisted"] == "0"


def test_not_listed(env):
    r = client(env, "192.0.2.1", dnsbl_sites="zen.test, bl2.test")
    assert (r["score"], r["blocked"], r["listed_by"], r["tempfail"]) == ("0", "0", "", "0")


def test_no_sites(env):
    r = client(env, "127.0.0.2")
    assert (r["score"], r["blocked"], r["listed_by"], r["fcrdns"], r["client_name"]) == \
        ("0", "0", "", "0", "unknown")


def test_site_counted_once(env):
    """Three A records from one site: its weight once."""
    r = client(env, "127.0.0.2", dnsbl_sites="zen.test*2")
    assert r["score"] == "2"


@pytest.mark.parametrize("ip, site, listed", [
    ("192.0.2.99", "zen.test=127.0.0.4", True),
    ("192.0.2.99", "zen.test=127.0.0.[4;10]", True),
    ("192.0.2.99", "zen.test=127.0.0.[2..11]", True),
    ("192.0.2.99", "zen.test=127.0.0.[5..9]", False),
    ("192.0.2.99", "zen.test=127.0.0.2", False),
    ("192.0.2.99", "zen.test=127.0.1.4", False),
    # One of the three answers matching is enough.
    ("127.0.0.2", "zen.test=127.0.0.10", True),
    ("127.0.0.2", "zen.test=127.0.0.[3;5..9;11]", False),
    ("192.0.2.10", "dnswl.test=127.0.[0..255].[1..3]", True),
    ("192.0.2.10", "dnswl.test=127.0.[0..255].[3..5]", False),
])
def test_filters(env, ip, site, listed):
    r = client(env, ip, dnsbl_sites=site)
    assert r["score"] == ("1" if listed else "0")
    assert r["listed_by"] == (site.split("=")[0] if listed else "")


def test_weights_summed(env):
    """listed_by is the zone with the largest weight, not the first."""
    r = client(env, "127.0.0.2", dnsbl_sites="zen.test*2, bl2.test*3, dnswl.test*-5",
               dnsbl_threshold="5")
    assert (r["score"], r["blocked"], r["listed_by"]) == ("5", "1", "bl2.test")


def test_threshold(env):
    sites = "zen.test=127.0.0.[2..11]*2 bl2.test*3"
    assert client(env, "127.0.0.2", dnsbl_sites=sites, dnsbl_threshold="6")["blocked"] == "0"
    assert client(env, "127.0.0.2", dnsbl_sites=sites, dnsbl_threshold="5")["blocked"] == "1"
    assert client(env, "127.0.0.2", dnsbl_sites=sites, dnsbl_threshold="4.5")["blocked"] == "1"
    # Only zen.test lists 192.0.2.99: 2 < 3.
    r = client(env, "192.0.2.99", dnsbl_sites=sites, dnsbl_threshold="3")
    assert (r["score"], r["blocked"]) == ("2", "0")


def test_zero_threshold_needs_a_listing(env):
    r = client(env, "192.0.2.1", dnsbl_sites="zen.test", dnsbl_threshold="0")
    assert (r["score"], r["blocked"]) == ("0", "0")


def test_allowlist(env):
    sites = "zen.test*2, dnswl.test=127.0.[0..255].[1..3]*-3"
    r = client(env, "192.0.2.10", dnsbl_sites=sites, dnsbl_allowlist_threshold="-1")
    assert (r["score"], r["allowlisted"], r["blocked"], r["listed_by"]) == ("-3", "1", "0", "")
    # Listed by both: 2 - 3 = -1, still at the threshold.
    r = client(env, "192.0.2.99", dnsbl_sites=sites, dnsbl_allowlist_threshold="-1")
    assert (r["score"], r["allowlisted"], r["blocked"], r["listed_by"]) == ("-1", "1", "0", "zen.test")
    r = client(env, "192.0.2.99", dnsbl_sites=sites, dnsbl_allowlist_threshold="-2")
    assert (r["score"], r["allowlisted"]) == ("-1", "0")
    # The default threshold 0 leaves the allow list off.
    r = client(env, "192.0.2.10", dnsbl_sites=sites)
    assert (r["score"], r["allowlisted"]) == ("-3", "0")
    # Not listed by the allow list: nothing to allow.
    r = client(env, "127.0.0.2", dnsbl_sites=sites, dnsbl_allowlist_threshold="-1")
    assert (r["score"], r["allowlisted"], r["blocked"]) == ("2", "0", "1")


def test_ipv6(env):
    r = client(env, "2001:db8::99", dnsbl_sites="zen.test=127.0.0.2")
    assert (r["score"], r["listed_by"]) == ("1", "zen.test")
    r = client(env, "2001:0DB8:0:0::0099", dnsbl_sites="zen.test")
    assert r["score"] == "1"
    r = client(env, "2001:db8::98", dnsbl_sites="zen.test")
    assert r["score"] == "0"


def test_ipv4_mapped(env):
    """A client seen through an IPv6 socket is looked up as IPv4."""
    r = client(env, "::ffff:127.0.0.2", dnsbl_sites="zen.test")
    assert (r["score"], r["listed_by"]) == ("1", "zen.test")


def test_tempfail(env):
    r = client(env, "127.0.0.2", dnsbl_sites="zen.test fail.test")
    assert (r["score"], r["blocked"], r["tempfail"]) == ("1", "1", "1")
    r = client(env, "192.0.2.1", dnsbl_sites="fail.test*5")
    assert (r["score"], r["blocked"], r["tempfail"]) == ("0", "0", "1")


def test_not_an_address(env):
    r = client(env, "not-an-ip", "--fcrdns", dnsbl_sites="zen.test")
    assert (r["score"], r["blocked"], r["fcrdns"], r["client_name"]) == ("0", "0", "0", "unknown")


def test_cache(env):
    """The second check of a client in the same process does no lookup."""
    rc, out, err = run(env, "client", "127.0.0.2", "--fcrdns", "--repeat", "2", verbose=True,
                       dnsbl_sites="zen.test*2")
    assert rc == 0, err
    assert "from the cache" in err
    assert err.count("listed by zen.test") == 1
    assert out["score"] == "2"


def test_tempfail_not_cached(env):
    rc, out, err = run(env, "client", "192.0.2.1", "--repeat", "2", verbose=True,
                       dnsbl_sites="fail.test")
    assert rc == 0, err
    assert "from the cache" not in err
    assert err.count("in fail.test: SERVFAIL") == 2


def test_cancel(env):
    """Cancelled checks never call back; the next check of the client is whole."""
    rc, out, err = run(env, "client", "127.0.0.2", "--fcrdns", "--cancel",
                       dnsbl_sites="zen.test bl2.test*2 fail.test")
    assert rc == 0, err
    assert "cancelled" not in err
    assert (out["score"], out["listed_by"], out["tempfail"]) == ("3", "bl2.test", "1")


# ---------------------------------------------------------------- FCrDNS


@pytest.mark.parametrize("ip, fcrdns, name", [
    ("192.0.2.20", "1", "good.test"),
    ("192.0.2.21", "0", "unknown"),      # the name points elsewhere
    ("192.0.2.22", "0", "unknown"),      # no PTR
    ("192.0.2.23", "1", "right.test"),   # two names, the second confirms
    ("192.0.2.24", "0", "unknown"),      # a PTR "192.0.2.24" is not a host name
    ("192.0.2.25", "-1", "unknown"),     # the name's lookup fails
    ("192.0.2.26", "-1", "unknown"),     # the PTR lookup fails
    ("2001:db8::20", "1", "v6.test"),
    ("2001:db8::21", "0", "unknown"),
])
def test_fcrdns(env, ip, fcrdns, name):
    r = client(env, ip, "--fcrdns")
    assert (r["fcrdns"], r["client_name"]) == (fcrdns, name)


def test_fcrdns_not_asked(env):
    r = client(env, "192.0.2.20")
    assert (r["fcrdns"], r["client_name"]) == ("0", "unknown")


def test_fcrdns_with_dnsbl(env):
    r = client(env, "192.0.2.20", "--fcrdns", dnsbl_sites="zen.test fail.test")
    assert (r["fcrdns"], r["client_name"], r["score"], r["tempfail"]) == ("1", "good.test", "0", "1")


# ---------------------------------------------------------------- RHSBL


@pytest.mark.parametrize("sites, domain, zone", [
    ("rhs.test", "bad.example", "rhs.test"),
    ("rhs.test", "BAD.Example.", "rhs.test"),
    ("rhs.test", "good.example", ""),
    ("rhs.test=127.0.1.[2..99]", "bad.example", "rhs.test"),
    ("rhs.test=127.0.1.[2..99]", "worse.example", ""),
    ("rhs.test", "worse.example", "rhs.test"),
    # The first zone of the list that lists the domain.
    ("rhs2.test, rhs.test", "bad.example", "rhs2.test"),
    ("rhs.test, rhs2.test", "bad.example", "rhs.test"),
    ("zen.test rhs2.test rhs.test", "bad.example", "rhs2.test"),
    # A peer's odd HELO: no lookup, no listing.
    ("rhs.test", "[192.0.2.1]", ""),
    ("rhs.test", "bad..example", ""),
    ("rhs.test", "bad.example;rm", ""),
])
def test_rhsbl(env, sites, domain, zone):
    r = rhsbl(env, sites, domain)
    assert (r["listed_by"], r["tempfail"]) == (zone, "0")


def test_rhsbl_tempfail(env):
    assert rhsbl(env, "fail.test", "bad.example") == {"listed_by": "", "tempfail": "1"}
    assert rhsbl(env, "fail.test rhs.test", "bad.example") == {"listed_by": "rhs.test", "tempfail": "1"}


# ---------------------------------------------------------------- bad lists


@pytest.mark.parametrize("sites, error", [
    ("zen.test=127.0.0", 'dnsbl_sites: bad filter in "zen.test=127.0.0"'),
    ("zen.test, bl2.test=127.0.0.[2..]", 'dnsbl_sites: bad filter in "bl2.test=127.0.0.[2..]"'),
    ("zen.test*x", 'dnsbl_sites: bad weight in "zen.test*x"'),
    ("zen.test*1.5", 'dnsbl_sites: bad weight in "zen.test*1.5"'),
    ("zen..test", 'dnsbl_sites: bad zone in "zen..test"'),
])
def test_bad_dnsbl_sites(env, sites, error):
    rc, out, err = run(env, "client", "127.0.0.2", dnsbl_sites=sites)
    assert rc == 1
    assert error in err
    assert out == {}


@pytest.mark.parametrize("sites, error", [
    ("rhs.test*2", 'weight not allowed in "rhs.test*2"'),
    ("rhs.test=127.0.1", 'bad filter in "rhs.test=127.0.1"'),
])
def test_bad_rhsbl_sites(env, sites, error):
    rc, out, err = run(env, "rhsbl", sites, "bad.example")
    assert rc == 1
    assert error in err
    assert out == {}


def test_bad_threshold(env):
    rc, out, err = run(env, "client", "127.0.0.2", dnsbl_threshold="high")
    assert rc == 1
    assert "dnsbl_threshold" in err
    assert out == {}


# ---------------------------------------------------------------- lookups


def test_lookup_a(env):
    rc, out, err = run(env, "lookup", "a", "2.0.0.127.zen.test")
    assert rc == 0, err
    assert out["status"] == "ok"
    assert sorted(out["answers"]) == ["127.0.0.10", "127.0.0.2", "127.0.0.4"]


@pytest.mark.parametrize("kind, name, status", [
    ("a", "3.0.0.127.zen.test", "NXDOMAIN"),
    ("a", "bell.test", "no data"),
    ("txt", "good.test", "no data"),
    ("ptr", "192.0.2.22", "NXDOMAIN"),
    ("ptr", "not-an-address", "NXDOMAIN"),
    ("a", "x.fail.test", "temporary failure"),
])
def test_lookup_status(env, kind, name, status):
    rc, out, err = run(env, "lookup", kind, name)
    assert rc == 0, err
    assert out["status"] == status
    assert "answers" not in out
    assert ("error" in out) == (status == "temporary failure")


def test_lookup_ptr(env):
    rc, out, err = run(env, "lookup", "ptr", "192.0.2.23")
    assert rc == 0, err
    assert sorted(out["answers"]) == ["right.test", "wrong.test"]
    rc, out, err = run(env, "lookup", "ptr", "2001:db8::20")
    assert out["answers"] == ["v6.test"]


def test_lookup_txt(env):
    """Strings of a record concatenated; control characters made harmless."""
    rc, out, err = run(env, "lookup", "txt", "2.0.0.127.zen.test")
    assert rc == 0, err
    assert out["answers"] == ["Listed: see https://zen.test/query/127.0.0.2"]
    rc, out, err = run(env, "lookup", "txt", "bell.test")
    assert out["answers"] == ["ring?the?bell"]
