# SPDX-License-Identifier: MIT
"""facteurctl report: per-day, per-domain counts kept by smtpd and qmgr
(lib/report.c) and written at a reload, and the accounts' disk use.

Mail is sent with smtplib: messages for two local recipients delivered
to the test mailbox, a recipient refused as relaying; after facteur
reload the report shows received, delivered and reject_relay for the
right domains today, and the totals add up.  Bad arguments are usage
errors."""
import datetime
import json
import smtplib
import subprocess

from facteur_it import FACTEURCTL, simple_message, wait_for


def report(f, *args):
    r = subprocess.run([FACTEURCTL, "-c", f.conf, "-j", "report"] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_report_counts_per_day_and_domain(make_facteur):
    f = make_facteur(local_domains="example.org, example.net", mynetworks="192.0.2.0/24")
    # Nothing yet: a report of zeros, not an error.
    empty = report(f)
    assert empty["days"] == [] and all(v == 0 for v in empty["totals"].values()), empty
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as c:
        c.sendmail("someone@far.example", ["bob@example.org", "carol@example.org"],
                   simple_message(subject="one", test_id="r1"))
        c.sendmail("someone@far.example", ["dave@example.net"],
                   simple_message(subject="two", test_id="r2"))
        try:
            c.sendmail("someone@far.example", ["x@elsewhere.example"],
                       simple_message(subject="three", test_id="r3"))
        except smtplib.SMTPRecipientsRefused as e:
            assert e.recipients["x@elsewhere.example"][0] == 554
        else:
            raise AssertionError("relaying was accepted")
    assert f.wait_mailbox(3)
    assert f.wait_queue_empty()
    st = f.stats()
    f.reload()
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

    def complete():
        r = report(f)
        return r["totals"]["delivered"] == 3 and r["totals"]["reject_relay"] == 1
    assert wait_for(complete), (report(f), f.log_tail())
    r = report(f)
    rows = {(d["day"], d["domain"]): d for d in r["days"]}
    org = rows[(today, "example.org")]
    net = rows[(today, "example.net")]
    assert (org["received"], org["delivered"]) == (1, 2), org
    assert (net["received"], net["delivered"]) == (1, 1), net
    assert rows[(today, "elsewhere.example")]["reject_relay"] == 1
    assert r["totals"]["received"] == 2 == st["smtpd_messages_accepted"]
    assert r["totals"]["delivered"] == st["qmgr_delivered"] == 3
    # One domain; a range of days that holds today; one that does not.
    only = report(f, "--domain", "EXAMPLE.NET")
    assert [d["domain"] for d in only["days"]] == ["example.net"]
    assert only["totals"]["delivered"] == 1
    assert report(f, "--from", today, "--to", today)["totals"]["delivered"] == 3
    assert report(f, "--from", "2020-01-01", "--to", "2020-01-31")["days"] == []
    # The text form has the header and a total line.
    out = subprocess.run([FACTEURCTL, "-c", f.conf, "report"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("DAY") and "\ntotal" in out.stdout, \
        out.stdout
    # The counts survive a restart (they were written, not only held in memory).
    f.stop()
    f.start()
    assert report(f)["totals"]["delivered"] == 3


def test_report_accounts_and_bad_arguments(make_facteur):
    f = make_facteur()
    f.ctl("domain", "add", "example.org")
    f.ctl("account", "add", "alice@example.org")
    r = report(f, "--accounts")
    accts = {a["account"]: a for a in r["accounts"]}
    assert accts["alice@example.org"]["bytes"] == 0 and accts["alice@example.org"]["quota"] == 0
    for args, msg in ((["--days", "0"], "--days takes"), (["--from", "2024-13-01"], "not a day"),
                      (["--from", "2024-02-02", "--to", "2024-02-01"], "is after"),
                      (["--bogus"], "usage")):
        out = subprocess.run([FACTEURCTL, "-c", f.conf, "report"] + args, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2 and msg in out.stderr, (args, out.stderr)
