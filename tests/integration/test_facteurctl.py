# SPDX-License-Identifier: MIT
"""facteurctl (config, stats, queue show) and the master's reload."""
import os
import re
import subprocess

import pytest

from facteur_it import (FACTEUR, FACTEURCTL, SANITIZER_MARKERS, Facteur, RawSMTP, simple_message,
                        wait_for)


@pytest.fixture
def conf_only(workdir, auth_file):
    """A configuration that is never started."""
    return Facteur(workdir, auth_file=auth_file)


def run(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.stderr, r.stderr
    return r


def test_config_check_ok(conf_only):
    r = conf_only.ctl("config", "check", check=False)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    r = run(FACTEUR, "-n", "-c", conf_only.conf)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout


@pytest.mark.parametrize("lines,expect", [
    (["bogus_parameter = 1"], "unknown parameter \"bogus_parameter\""),
    (["message_size_limit = lots"], "message_size_limit"),
    (["smtpd_timeout = -5"], "smtpd_timeout"),
    (["smtpd_bare_newline = sometimes"], "smtpd_bare_newline"),
    (["[nosuchsection]", "key = value"], "unknown section"),
    (["[tls_policy]", "relay.test = maybe"], "relay.test"),
])
def test_config_error_names_file_and_line(conf_only, lines, expect):
    conf_only.extra_lines += lines
    conf_only.write_config()
    lineno = conf_only.config_text().splitlines().index(lines[-1]) + 1
    for argv in ([FACTEURCTL, "-c", conf_only.conf, "config", "check"],
                 [FACTEUR, "-n", "-c", conf_only.conf]):
        r = run(*argv)
        assert r.returncode == 1, (argv, r.stdout, r.stderr)
        assert f"{conf_only.conf}:{lineno}" in r.stderr, r.stderr
        assert expect in r.stderr, r.stderr


def test_config_check_semantic_problems(conf_only):
    conf_only.set(smtpd_auth_file="/nonexistent/passwd", mynetworks="not-a-network",
                  smtp_listen="nohostport")
    r = conf_only.ctl("config", "check", check=False)
    assert r.returncode == 1
    assert "smtpd_auth_file" in r.stderr
    assert "mynetworks" in r.stderr
    assert "smtp_listen" in r.stderr
    assert "3 problems" in r.stderr
    r = run(FACTEUR, "-n", "-c", conf_only.conf)
    assert r.returncode != 0


def test_master_refuses_bad_config(conf_only):
    conf_only.extra_lines.append("bogus_parameter = 1")
    conf_only.write_config()
    r = subprocess.run([FACTEUR, "-c", conf_only.conf, "-f"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert "bogus_parameter" in r.stderr
    assert conf_only.strays() == []


def test_config_show(conf_only):
    out = conf_only.ctl("config", "show", "-n").stdout
    assert re.search(r"^myhostname\s*=\s*mx\.test$", out, re.M), out
    assert "message_size_limit" not in out  # not set in the file
    full = conf_only.ctl("config", "show").stdout
    assert re.search(r"^message_size_limit\s*=\s*26214400", full, re.M), full


def test_version():
    r = run(FACTEURCTL, "version")
    assert r.returncode == 0
    assert r.stdout.startswith("facteur ")


def test_usage_error(conf_only):
    assert conf_only.ctl("frobnicate", check=False).returncode == 2
    assert conf_only.ctl("queue", "show", check=False).returncode == 2


def test_stats_counters_grow(facteur):
    before = facteur.stats()
    assert before["started"] > 0
    with RawSMTP(facteur.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<bob@example.org>")
        c.cmd("DATA")
        c.send(simple_message() + ".\r\n")
        assert c.reply()[0] == 250
        c.cmd("BOGUS")
    assert facteur.wait_mailbox(1)
    assert wait_for(lambda: facteur.stats()["qmgr_delivered"] == before["qmgr_delivered"] + 1)
    after = facteur.stats()
    assert after["smtpd_messages_accepted"] == before["smtpd_messages_accepted"] + 1
    assert after["smtpd_recipients_accepted"] == before["smtpd_recipients_accepted"] + 1
    assert after["smtpd_bytes_accepted"] > before["smtpd_bytes_accepted"]
    assert after["smtpd_connections"] > before["smtpd_connections"]
    assert after["smtpd_reject_protocol"] == before["smtpd_reject_protocol"] + 1
    assert after["queue_committed_files"] > before["queue_committed_files"]
    text = facteur.ctl("stats").stdout
    assert re.search(r"^smtpd_messages_accepted\s+1$", text, re.M), text


def test_stats_daemon_table(facteur):
    """The master's daemons in facteurctl stats: pids, and restarts after a kill -9."""
    def rows():
        return {d["name"]: d for d in facteur.stats()["daemons"]}
    pids = facteur.daemons()
    before = rows()
    for name in ("smtpd", "qmgr"):
        assert before[name]["pid"] == pids[name], (before, pids)
        assert before[name]["started"] > 0 and before[name]["exited"] == 0
    old = facteur.kill9("qmgr")
    assert wait_for(lambda: rows()["qmgr"]["restarts"] == before["qmgr"]["restarts"] + 1), rows()
    after = rows()
    assert after["qmgr"]["pid"] not in (0, old) and after["qmgr"]["exited"] > 0, after
    assert after["smtpd"]["restarts"] == before["smtpd"]["restarts"]
    text = facteur.ctl("stats").stdout
    assert re.search(r"^daemon qmgr\s+pid=%d " % after["qmgr"]["pid"], text, re.M), text


def test_stats_without_master(conf_only):
    r = conf_only.ctl("stats", check=False)
    assert r.returncode == 1
    assert "running" in r.stderr


def test_queue_show(make_facteur, sink):
    f = make_facteur(start=False)
    f.transport["relay.test"] = f"[127.0.0.1]:{sink.port}"
    f.start()
    sink.rcpt_replies["bad@relay.test"] = "451 4.2.0 mailbox busy"
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        c.cmd("MAIL FROM:<alice@example.org>")
        c.cmd("RCPT TO:<bad@relay.test>")
        c.cmd("RCPT TO:<good@relay.test>")
        c.cmd("DATA")
        c.send(simple_message(subject="show me", body="The body text.\r\n") + ".\r\n")
        code, text = c.reply()
        qid = text[0].rsplit(" ", 1)[1]
    assert wait_for(lambda: f.queue_files("deferred") == [qid])
    out = f.ctl("queue", "show", qid).stdout
    assert f"queue_id: {qid}" in out
    assert "queue: deferred" in out
    assert "sender: <alice@example.org>" in out
    assert "attempts: 1" in out
    assert re.search(r"recipient: <bad@relay\.test> status=pending dsn=4\.2\.0 reason=.*mailbox busy",
                     out), out
    assert "recipient: <good@relay.test> status=delivered" in out
    assert "addr=127.0.0.1" in out
    assert "\nSubject: show me\n" in out  # (text mode turned CRLF into LF)
    assert out.endswith("\n\nThe body text.\n")
    r = f.ctl("queue", "show", "0123456789ABCDEF0", check=False)
    assert r.returncode == 1


def test_mailq_name(facteur, workdir):
    link = os.path.join(workdir, "mailq")
    os.symlink(FACTEURCTL, link)
    r = subprocess.run([link, "-c", facteur.conf], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "Mail queue is empty" in r.stdout


def ehlo_size(port):
    with RawSMTP(port) as c:
        c.reply()
        for line in c.ehlo()[1]:
            if line.startswith("SIZE "):
                return int(line.split()[1])


def test_sighup_reload_keeps_sessions(make_facteur):
    f = make_facteur(message_size_limit=100000)
    old = RawSMTP(f.smtp_port)
    try:
        assert old.reply()[0] == 220
        assert old.ehlo()[0] == 250
        assert old.cmd("MAIL FROM:<alice@example.org> SIZE=50000")[0] == 250
        pids = f.daemons()
        f.set(message_size_limit=20000)
        f.reload()
        assert wait_for(lambda: ehlo_size(f.smtp_port) == 20000), f.log_tail()
        # The daemons were not restarted, and the open session goes on.
        assert f.daemons() == pids
        assert old.cmd("RCPT TO:<bob@example.org>")[0] == 250
        assert old.cmd("DATA")[0] == 354
        old.send(simple_message(subject="across reload") + ".\r\n")
        assert old.reply()[0] == 250
        assert old.cmd("QUIT")[0] == 221
    finally:
        old.close()
    # New sessions get the new limit.
    with RawSMTP(f.smtp_port) as c:
        c.reply()
        c.ehlo()
        assert c.cmd("MAIL FROM:<alice@example.org> SIZE=50000")[0] == 552
    assert f.wait_mailbox(1)
    assert "reload" in f.log_text()


def test_sighup_with_broken_config_keeps_running(make_facteur):
    f = make_facteur(message_size_limit=100000)
    f.extra_lines.append("bogus_parameter = 1")
    f.set(message_size_limit=20000)
    f.reload()
    assert wait_for(lambda: "bogus_parameter" in f.log_text())
    assert ehlo_size(f.smtp_port) == 100000
    assert set(f.daemons()) == {"smtpd", "qmgr"}


def test_sigterm_stops_cleanly(facteur):
    pids = facteur.daemons()
    assert set(pids) == {"smtpd", "qmgr"}
    assert facteur.stop() == 0
    assert facteur.strays() == []
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}")
    assert not facteur.qmgr_listening()


def test_second_master_refused(facteur):
    r = subprocess.run([FACTEUR, "-c", facteur.conf, "-f"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert "another facteur master" in r.stderr or "in use" in r.stderr
    assert set(facteur.daemons()) == {"smtpd", "qmgr"}
