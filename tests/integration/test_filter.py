# SPDX-License-Identifier: MIT
"""The before-queue filter inside smtpd: SpamAssassin-style rules scored and
written in X-Spam-Status, the actions by threshold (tag, subject, quarantine,
reject) and per domain, the quarantine commands, ClamAV refusing viruses with
a database built by sigtool, and rules reloaded on SIGHUP."""
import os
import pathlib
import subprocess

import pytest

from facteur_it import BUILDDIR, Facteur, RawSMTP, simple_message, wait_for

SRCDIR = os.environ.get("FACTEUR_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))

# Loopback clients are in mynetworks (trusted) by default: these tests are
# the outside world.
OUTSIDE = "192.0.2.0/24"

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

RULES = """
header   T_SUBJ_MONEY   Subject =~ /\\bmoney\\b/i
describe T_SUBJ_MONEY   Subject talks about money
score    T_SUBJ_MONEY   2.5
body     T_BODY_PRIZE   /you have won a prize/i
score    T_BODY_PRIZE   3.0
# a URI of the text counts with a known TLD, as in SpamAssassin
util_rb_tld    example
uri      T_URI_BAD      /bad\\.example\\b/
score    T_URI_BAD      1.5
rawbody  T_RAW_B64      /^UEFZIE5PVw/m
score    T_RAW_B64      0.5
header   __FROM_LOTTERY From =~ /lottery/i
meta     T_META_LOTTO   __FROM_LOTTERY && T_BODY_PRIZE
score    T_META_LOTTO   4.0
header   T_NEG_HAM      X-Test-Ham =~ /yes/
score    T_NEG_HAM      -1.2
"""


def send(port, msg, sender="someone@outside.test", rcpts=("rcpt@example.org",)):
    """One transaction; returns (code, text) of the end-of-DATA reply."""
    with RawSMTP(port) as c:
        assert c.reply()[0] == 220
        c.ehlo()
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        for r in rcpts:
            assert c.cmd(f"RCPT TO:<{r}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        data = msg.replace("\r\n.", "\r\n..")
        c.send(data.encode() + (b".\r\n" if data.endswith("\r\n") else b"\r\n.\r\n"))
        code, lines = c.reply()
        c.cmd("QUIT")
        return code, " ".join(lines)


def header_value(raw, name):
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(name.lower() + ":"):
            v = line.split(":", 1)[1].strip()
            for cont in lines[i + 1:]:
                if cont[:1] in (" ", "\t"):
                    v += " " + cont.strip()
                else:
                    break
            return v
    return None


def spam_tests(status):
    """{name: score} from X-Spam-Status's tests= list."""
    t = status.split("tests=", 1)[1].split(" version=")[0].split(" bayes=")[0]
    out = {}
    for item in t.replace(" ", "").split(","):
        if "=" in item:
            k, v = item.split("=")
            out[k] = float(v)
    return out


def delivered(f, qid):
    got = wait_for(lambda: f.mailbox_for(qid))
    assert got, f"{qid} not delivered:\n{f.log_tail()}"
    return list(f.mailbox_for(qid).values())[0]


def qid_of(reply):
    assert reply[0] == 250, reply
    return reply[1].rsplit(" ", 1)[1]


@pytest.fixture
def rules_facteur(workdir):
    rules = pathlib.Path(workdir) / "rules"
    rules.mkdir()
    (rules / "10_test.cf").write_text(RULES)
    f = Facteur(str(workdir), filter_rules=str(rules), filter_rules_config="",
                mynetworks=OUTSIDE, spam_tag_score=5, spam_subject_score=7, spam_quarantine_score=9,
                spam_reject_score=12, spam_subject_tag="[SPAM]")
    f.rules_dir = rules
    f.start()
    assert wait_for(lambda: f.stats().get("filter_rules_ready") == 1), f.log_tail()
    yield f
    f.stop()


def test_ham_scored_and_headers(rules_facteur):
    f = rules_facteur
    msg = simple_message(subject="lunch", body="See you at noon.\r\n", extra="X-Test-Ham: yes\r\n")
    raw = delivered(f, qid_of(send(f.smtp_port, msg)))
    status = header_value(raw, "X-Spam-Status")
    assert status is not None and status.startswith("No, score=-1.2 required=5.0"), status
    assert spam_tests(status) == {"T_NEG_HAM": -1.2}
    assert header_value(raw, "X-Spam-Flag") is None
    assert "not ready" in header_value(raw, "X-Virus-Scanned")
    # The message itself follows the filter's headers unchanged.
    assert raw.endswith(msg.encode())
    st = f.stats()
    assert st["filter_messages"] >= 1 and st["filter_ham"] >= 1


def test_rules_of_each_kind_hit(rules_facteur):
    f = rules_facteur
    body = ("Dear friend, YOU HAVE WON A PRIZE.\r\nClaim it at http://www.bad.example/claim\r\n")
    msg = ("From: Lottery Office <lottery@outside.test>\r\nTo: <rcpt@example.org>\r\n"
           "Subject: lunch\r\n\r\n" + body)
    raw = delivered(f, qid_of(send(f.smtp_port, msg)))
    status = header_value(raw, "X-Spam-Status")
    t = spam_tests(status)
    # body + uri + meta (over a __ sub-rule, which is not listed)
    assert t == {"T_BODY_PRIZE": 3.0, "T_URI_BAD": 1.5, "T_META_LOTTO": 4.0}, status
    assert status.startswith("Yes, score=8.5 required=5.0")
    assert header_value(raw, "X-Spam-Flag") == "YES"
    assert header_value(raw, "X-Spam-Score") == "8.5"
    # 8.5 >= subject score 7: tagged, and only once.
    assert header_value(raw, "Subject") == "[SPAM] lunch"
    assert raw.count(b"\r\nSubject:") + raw.startswith(b"Subject:") == 1


def test_quarantine_list_show_release_delete(rules_facteur):
    f = rules_facteur
    msg = ("From: Lottery <lottery@outside.test>\r\nTo: <rcpt@example.org>\r\n"
           "Subject: money money\r\n\r\nYou have won a prize.\r\n")
    # 2.5 + 3 + 4 = 9.5: quarantined, accepted with 250.
    qid = qid_of(send(f.smtp_port, msg))
    assert wait_for(lambda: qid in f.queue_files("quarantine"))
    assert not f.mailbox_for(qid)
    listing = f.ctl("quarantine", "list").stdout
    assert qid in listing and "spam score 9.5 >= 9.0" in listing, listing
    js = f.ctl("quarantine", "list", json_out=True).stdout
    assert f'"queue_id":"{qid}"' in js and '"recipients":["rcpt@example.org"]' in js
    show = f.ctl("quarantine", "show", qid).stdout
    assert "X-Facteur-Quarantine: spam score 9.5" in show and "You have won a prize." in show
    assert f.stats()["filter_quarantined"] >= 1
    # Not delivered while quarantined, even after a queue flush.
    f.ctl("queue", "flush")
    assert not wait_for(lambda: f.mailbox_for(qid), timeout=1)
    f.ctl("quarantine", "release", qid)
    raw = delivered(f, qid)
    assert b"X-Facteur-Quarantine: spam score 9.5" in raw
    assert qid not in f.queue_files("quarantine")
    # Releasing again: not found, exit 1.
    r = f.ctl("quarantine", "release", qid, check=False)
    assert r.returncode == 1 and "not in quarantine" in r.stderr
    # delete
    qid2 = qid_of(send(f.smtp_port, msg))
    assert wait_for(lambda: qid2 in f.queue_files("quarantine"))
    assert "1 message deleted" in f.ctl("quarantine", "delete", "ALL").stdout
    assert f.queue_files("quarantine") == []
    assert "Quarantine is empty" in f.ctl("quarantine", "list").stdout


def test_reject_above_reject_score(rules_facteur):
    f = rules_facteur
    msg = ("From: Lottery <lottery@outside.test>\r\nTo: <rcpt@example.org>\r\n"
           "Subject: money\r\n\r\nYou have won a prize at http://bad.example/\r\n")
    # 2.5 + 3 + 4 + 1.5 = 11 < 12: quarantined.
    qid = qid_of(send(f.smtp_port, msg))
    assert wait_for(lambda: qid in f.queue_files("quarantine"))
    f.set(spam_reject_score=11)
    f.reload()
    assert wait_for(lambda: "configuration reloaded" in f.log_text())
    code, text = send(f.smtp_port, msg)
    assert (code, text) == (550, "5.7.1 Message refused as spam (score 11.0)"), (code, text)
    assert f.stats()["filter_rejected"] >= 1
    # Nothing of it was queued: no file but the first one's.
    assert wait_for(lambda: not f.temp_files())
    assert f.queue_files("quarantine") == [qid] and f.queue_files("incoming") == []
    assert "reject: 550 5.7.1 Message refused as spam" in f.log_text()


def test_per_domain_policy(workdir):
    rules = pathlib.Path(workdir) / "rules"
    rules.mkdir()
    (rules / "10_test.cf").write_text(RULES)
    f = Facteur(str(workdir), filter_rules=str(rules), filter_rules_config="", mynetworks=OUTSIDE,
                local_domains="example.org, strict.example", spam_reject_score=100)
    f.spam_policy["strict.example"] = "tag=1 reject=2"
    f.start()
    try:
        assert wait_for(lambda: f.stats().get("filter_rules_ready") == 1)
        msg = simple_message(subject="money talk", body="hi\r\n")
        assert send(f.smtp_port, msg, rcpts=("a@strict.example",))[0] == 550
        qid = qid_of(send(f.smtp_port, msg, rcpts=("a@example.org",)))
        raw = delivered(f, qid)
        assert header_value(raw, "X-Spam-Status").startswith("No, score=2.5 required=5.0")
    finally:
        f.stop()


def test_rules_reload_on_sighup(rules_facteur):
    f = rules_facteur
    msg = simple_message(subject="quarterly report", body="numbers\r\n")
    raw = delivered(f, qid_of(send(f.smtp_port, msg)))
    assert "T_REPORT" not in header_value(raw, "X-Spam-Status")
    with open(f.rules_dir / "20_more.cf", "w") as fh:
        fh.write("header T_REPORT Subject =~ /quarterly/\nscore T_REPORT 0.7\n")
    # A session open across the reload goes on: same connection, new rules.
    c = RawSMTP(f.smtp_port)
    assert c.reply()[0] == 220
    c.ehlo()
    assert c.cmd("MAIL FROM:<a@outside.test>")[0] == 250
    f.reload()
    assert wait_for(lambda: "rule set 2 in use" in f.log_text()), f.log_tail()
    assert c.cmd("RCPT TO:<rcpt@example.org>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(msg.encode() + b".\r\n")
    code, lines = c.reply()
    assert code == 250, lines
    c.cmd("QUIT")
    c.close()
    raw = delivered(f, qid_of((code, " ".join(lines))))
    assert spam_tests(header_value(raw, "X-Spam-Status")) == {"T_REPORT": 0.7}


def test_bad_rule_reported_not_fatal(workdir):
    rules = pathlib.Path(workdir) / "rules"
    rules.mkdir()
    (rules / "10_bad.cf").write_text("body T_OK /fine/\nscore T_OK 1\nbody T_BROKEN /(unclosed/\n"
                                     "header T_NOOP\n")
    f = Facteur(str(workdir), filter_rules=str(rules), filter_rules_config="", mynetworks=OUTSIDE)
    f.start()
    try:
        assert wait_for(lambda: f.stats().get("filter_rules_ready") == 1)
        assert "10_bad.cf:4" in f.log_text()
        raw = delivered(f, qid_of(send(f.smtp_port, simple_message(body="all fine\r\n"))))
        assert spam_tests(header_value(raw, "X-Spam-Status")) == {"T_OK": 1.0}
        assert f.stats()["filter_rules_unsupported"] >= 1
    finally:
        f.stop()


# ---------------------------------------------------------------- antivirus


@pytest.fixture
def av_facteur(workdir):
    db = pathlib.Path(workdir) / "clamdb"
    subprocess.run(["sh", os.path.join(SRCDIR, "tests/av/make-db.sh"), str(db)], check=True,
                   timeout=120)
    f = Facteur(str(workdir), av_database_directory=str(db), mynetworks=OUTSIDE)
    f.start()
    assert wait_for(lambda: f.stats().get("av_ready") == 1, timeout=120), f.log_tail()
    yield f
    f.stop()


def test_eicar_refused_clean_accepted(av_facteur):
    f = av_facteur
    msg = simple_message(subject="eicar", body=EICAR + "\r\n")
    code, text = send(f.smtp_port, msg)
    assert code == 554 and text.startswith("5.7.1 Virus found: "), (code, text)
    assert "Eicar" in text
    assert f.wait_queue_empty()
    raw = delivered(f, qid_of(send(f.smtp_port, simple_message(body="clean\r\n"))))
    assert header_value(raw, "X-Virus-Scanned") == "facteur (ClamAV) on mx.test"
    assert f.stats()["av_viruses"] >= 1


def zip_virus_message():
    """A message with clam.exe in a zip, base64: ClamAV unpacks it to find it."""
    import base64
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.txt", "hello")
        with open("/usr/share/clamav-testfiles/clam.exe", "rb") as fh:
            z.writestr("tools/setup.exe", fh.read())
    b64 = base64.encodebytes(buf.getvalue()).decode().replace("\n", "\r\n")
    msg = ("From: <a@outside.test>\r\nTo: <rcpt@example.org>\r\nSubject: files\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           "--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
           "--XX\r\nContent-Type: application/zip; name=files.zip\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--XX--\r\n")
    return msg


def test_virus_in_base64_zip_attachment(av_facteur):
    f = av_facteur
    code, text = send(f.smtp_port, zip_virus_message())
    assert code == 554 and "ClamAV-Test-File" in text, (code, text)
    assert f.wait_queue_empty()


def test_av_temp_directory(workdir):
    """ClamAV scans in av_temp_directory; one it cannot use is reported, not fatal."""
    db = pathlib.Path(workdir) / "clamdb"
    subprocess.run(["sh", os.path.join(SRCDIR, "tests/av/make-db.sh"), str(db)], check=True,
                   timeout=120)
    scans = pathlib.Path(workdir) / "scans"
    scans.mkdir()
    scans.chmod(0o1777)
    f = Facteur(str(workdir), av_database_directory=str(db), mynetworks=OUTSIDE,
                av_temp_directory=str(scans))
    f.start()
    try:
        assert wait_for(lambda: f.stats().get("av_ready") == 1, timeout=120), f.log_tail()
        before = scans.stat().st_mtime_ns
        code, text = send(f.smtp_port, zip_virus_message())
        assert code == 554 and "ClamAV-Test-File" in text, (code, text)
        # libclamav made its scan directory there, and removed it.
        assert scans.stat().st_mtime_ns != before
        assert list(scans.iterdir()) == []
    finally:
        f.stop()
    missing = pathlib.Path(workdir) / "no-such-dir"
    f = Facteur(str(workdir), name="facteur2", av_database_directory=str(db),
                mynetworks=OUTSIDE, av_temp_directory=str(missing))
    f.start()
    try:
        assert wait_for(lambda: f.stats().get("av_ready") == 1, timeout=120), f.log_tail()
        code, text = send(f.smtp_port, zip_virus_message())
        assert code == 554 and "ClamAV-Test-File" in text, (code, text)
        assert "av_temp_directory %s: No such file or directory" % missing in f.log_text()
    finally:
        f.stop()


def test_av_scan_tool_file_list(workdir):
    """filter/av_scan scans the files named on its command line and in a list."""
    db = pathlib.Path(workdir) / "clamdb"
    subprocess.run(["sh", os.path.join(SRCDIR, "tests/av/make-db.sh"), str(db)], check=True,
                   timeout=120)
    eicar = pathlib.Path(workdir) / "eicar.com"
    eicar.write_text(EICAR)
    clean = pathlib.Path(workdir) / "clean.txt"
    clean.write_text("nothing to see\n")
    listf = pathlib.Path(workdir) / "list"
    listf.write_text("%s\n\n%s\n" % (clean, eicar))
    av_scan = os.path.join(BUILDDIR, "filter", "av_scan")
    r = subprocess.run([av_scan, "-d", str(db), "-f", str(listf), str(clean)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines() == ["%s: OK" % clean, "%s: OK" % clean,
                                     "%s: Eicar-Test-Signature.UNOFFICIAL FOUND" % eicar], r.stdout
    r = subprocess.run([av_scan, "-d", str(db), "-f", "-"], input="%s\n" % clean,
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, "%s: OK\n" % clean), r.stderr
    # Without ClamAV's cache of clean hashes, the same verdicts, twice.
    conf = pathlib.Path(workdir) / "nocache.conf"
    conf.write_text("av_cache = no\n")
    r = subprocess.run([av_scan, "-c", str(conf), "-d", str(db), "-r", "2", str(clean), str(eicar)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines() == ["%s: OK" % clean,
                                     "%s: Eicar-Test-Signature.UNOFFICIAL FOUND" % eicar], r.stdout
    r = subprocess.run([av_scan, "-d", str(db), "-f", str(pathlib.Path(workdir) / "missing")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "missing" in r.stderr


def test_av_not_ready_then_database_appears(workdir):
    db = pathlib.Path(workdir) / "clamdb"
    db.mkdir()
    f = Facteur(str(workdir), av_database_directory=str(db), av_reload_check_interval=1,
                mynetworks=OUTSIDE,
                av_not_ready_action="tempfail")
    f.start()
    try:
        assert f.stats()["av_ready"] == 0
        code, text = send(f.smtp_port, simple_message(body=EICAR + "\r\n"))
        assert (code, text) == (451, "4.7.1 Antivirus not ready, try again later")
        subprocess.run(["sh", os.path.join(SRCDIR, "tests/av/make-db.sh"), str(db)], check=True,
                       timeout=120)

        def refused():
            return send(f.smtp_port, simple_message(body=EICAR + "\r\n"))[0] == 554
        assert wait_for(refused, timeout=120), f.log_tail()
        assert f.stats()["av_ready"] == 1
    finally:
        f.stop()


def test_trusted_mail_has_no_inbound_verdict(workdir):
    rules = pathlib.Path(workdir) / "rules"
    rules.mkdir()
    (rules / "10_test.cf").write_text(RULES)
    # 127.0.0.1 is in the default mynetworks: trusted, no X-Spam headers.
    f = Facteur(str(workdir), filter_rules=str(rules), filter_rules_config="")
    f.start()
    try:
        assert wait_for(lambda: f.stats().get("filter_rules_ready") == 1)
        msg = simple_message(subject="money", body="hi\r\n")
        raw = delivered(f, qid_of(send(f.smtp_port, msg, sender="me@example.org")))
        assert header_value(raw, "X-Spam-Status") is None
        assert raw.endswith(msg.encode())
    finally:
        f.stop()


def test_classifier_scores_after_learning(workdir):
    """Trained with facteurctl learn (as root: the files go to mail_owner),
    the classifier adds its BAYES_* symbol when no rule set scores it."""
    f = Facteur(workdir, mynetworks=OUTSIDE, bayes_min_learned=3)
    f.start()
    try:
        d = pathlib.Path(workdir)
        (d / "spam").mkdir()
        (d / "ham").mkdir()
        spam_words = "cheap pills casino bonus winner viagra lottery unclaimed prize transfer"
        ham_words = "seminar agenda thesis committee laboratory schedule minutes review draft"
        for i in range(4):
            (d / "spam" / f"{i}.eml").write_text(simple_message(
                subject=f"casino bonus {i}", body=f"{spam_words} offer {i}\r\n",
                extra=f"Message-ID: <s{i}@spam.test>\r\n"))
            (d / "ham" / f"{i}.eml").write_text(simple_message(
                subject=f"seminar agenda {i}", body=f"{ham_words} item {i}\r\n",
                extra=f"Message-ID: <h{i}@ham.test>\r\n"))
        f.ctl("learn", "spam", str(d / "spam"))
        f.ctl("learn", "ham", str(d / "ham"))
        db = os.path.join(f.spool, "filter", "bayes.db")
        assert os.stat(db).st_uid == 65534  # nobody, the test's mail_owner
        raw = delivered(f, qid_of(send(f.smtp_port, simple_message(
            subject="casino bonus now", body=f"{spam_words} today\r\n"))))
        t = spam_tests(header_value(raw, "X-Spam-Status"))
        assert t.get("BAYES_99") == 3.8, t
        raw = delivered(f, qid_of(send(f.smtp_port, simple_message(
            subject="seminar agenda", body=f"{ham_words} tomorrow\r\n"))))
        t = spam_tests(header_value(raw, "X-Spam-Status"))
        assert t.get("BAYES_00") == -1.5, t
        assert f.stats()["bayes_classified"] >= 2
    finally:
        f.stop()


def attachment_message(name, data):
    import base64
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return ("From: <a@outside.test>\r\nTo: <rcpt@example.org>\r\nSubject: file\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
            "--B\r\nContent-Type: text/plain\r\n\r\nattached\r\n"
            f"--B\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--B--\r\n")


def test_clamav_testfiles_refused(av_facteur):
    """Every clamav-testfile, attached in base64, is refused at DATA with the
    signature's name; the same files' bytes as a harmless text are not."""
    f = av_facteur
    d = "/usr/share/clamav-testfiles"
    names = sorted(os.listdir(d))
    assert len(names) >= 40
    for name in names:
        with open(os.path.join(d, name), "rb") as fh:
            data = fh.read()
        code, text = send(f.smtp_port, attachment_message(name, data))
        assert code == 554 and "ClamAV-Test-File" in text, (name, code, text)
    assert f.stats()["av_viruses"] >= len(names)
    assert wait_for(lambda: not f.temp_files()) and f.queue_files("incoming") == []
    raw = delivered(f, qid_of(send(f.smtp_port, attachment_message("notes.txt", b"clean notes\n"))))
    assert b"notes.txt" in raw
