# SPDX-License-Identifier: MIT
"""Monitoring: facteur-agentx under a private snmpd (AgentX master) that
sends its notifications to a private snmptrapd, and facteur-metrics'
Prometheus page; both held against facteurctl stats.  FACTEUR-MIB is
checked with smilint and against the agent's own OID table."""
import os
import re
import shutil
import smtplib
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from facteur_it import BUILDDIR, SRCDIR, free_port, simple_message, stop_process, wait_for

AGENTX = os.path.join(BUILDDIR, "appliance", "agentx", "facteur-agentx")
METRICS = os.path.join(BUILDDIR, "appliance", "agentx", "facteur-metrics")
MIB = os.path.join(SRCDIR, "doc", "FACTEUR-MIB.txt")
SNMPD = "/usr/sbin/snmpd"
SNMPTRAPD = "/usr/sbin/snmptrapd"
ENTERPRISE = ".1.3.6.1.4.1.99999"
TRAP_OID = ".1.3.6.1.6.3.1.1.4.1.0"

pytestmark = pytest.mark.skipif(not os.access(AGENTX, os.X_OK) or not os.access(METRICS, os.X_OK),
                                reason="appliance/agentx is not built")


def base_mib_dir():
    """Where SNMPv2-SMI, -TC and -CONF are: the system's IETF MIBs when
    installed (Debian: snmp-mibs-downloader), else the stand-ins of
    tests/integration/mibs."""
    for d in ("/usr/share/snmp/mibs/ietf", "/var/lib/mibs/ietf", "/usr/share/snmp/mibs"):
        if all(os.path.exists(os.path.join(d, m)) for m in ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF")) or \
                all(os.path.exists(os.path.join(d, m + ".txt"))
                    for m in ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF")):
            return d
    return os.path.join(SRCDIR, "tests", "integration", "mibs")


def need(*tools):
    for t in tools:
        if shutil.which(t) is None and not os.access(t, os.X_OK):
            pytest.skip(f"{t} is not installed")


def quiet_env():
    """net-snmp's tools and daemons without the system's MIBs (Debian ships
    them incomplete: every start would complain) nor its persistent files."""
    env = dict(os.environ)
    env["MIBS"] = ""
    return env


def persistent_dir(d):
    """Where net-snmp saves its state: not beside our configuration file,
    which it would overwrite (its state file has the same name)."""
    p = os.path.join(d, "persistent")
    os.makedirs(p, exist_ok=True)
    return p


def snmptranslate(*args):
    r = subprocess.run(["snmptranslate", "-M", f"{base_mib_dir()}:{os.path.dirname(MIB)}",
                        "-m", "FACTEUR-MIB"] + list(args),
                       capture_output=True, text=True, timeout=60, env=quiet_env())
    return r


def agent_table():
    """facteur-agentx -P: [(name, oid, syntax, stats field or None)]."""
    out = subprocess.run([AGENTX, "-P"], capture_output=True, text=True, timeout=30, check=True).stdout
    rows = []
    for line in out.splitlines():
        name, oid, syntax, field = line.split()
        rows.append((name, oid, syntax, None if field == "-" else field))
    return rows


def stats_fields():
    """{field: help} of lib/stats.h."""
    out = {}
    with open(os.path.join(SRCDIR, "lib", "stats.h")) as f:
        for line in f:
            m = re.match(r'\s*X\((\w+), "(.*)"\)', line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


# ---------------------------------------------------------------- the MIB


def smilint(path):
    need("smilint")
    env = dict(os.environ, SMIPATH=base_mib_dir())
    r = subprocess.run(["smilint", "-l", "4", "-s", path], capture_output=True, text=True,
                       timeout=60, env=env)
    return (r.stdout + r.stderr).strip()


def test_mib_passes_smilint(workdir):
    assert smilint(MIB) == ""
    # smilint found the base modules and checks for real: a broken copy fails.
    with open(MIB) as f:
        text = f.read()
    broken = os.path.join(workdir, "FACTEUR-MIB.txt")
    with open(broken, "w") as f:
        f.write(text.replace("facteurDaemonStarted   DateAndTime", "facteurDaemonStarted   Gauge32"))
    assert "do not match" in smilint(broken)


def test_agent_oids_are_the_mibs():
    need("snmptranslate")
    rows = agent_table()
    names = [r[0] for r in rows]
    r = snmptranslate("-On", *[f"FACTEUR-MIB::{n}" for n in names])
    oids = [line for line in r.stdout.splitlines() if line.strip()]
    assert r.returncode == 0 and len(oids) == len(names), r.stderr
    for (name, oid, syntax, field), mib_oid in zip(rows, oids):
        assert mib_oid == oid, f"{name}: the agent serves {oid}, FACTEUR-MIB says {mib_oid}"
        td = snmptranslate("-Td", f"FACTEUR-MIB::{name}").stdout
        if syntax == "NOTIFICATION-TYPE":
            assert "NOTIFICATION-TYPE" in td, td
        else:
            assert re.search(r"(SYNTAX\s+|TEXTUAL CONVENTION )" + syntax + r"\b", td), \
                f"{name}: not {syntax} in the MIB:\n{td}"


def test_every_counter_has_an_oid():
    """A counter added to lib/stats.h needs its object in FACTEUR-MIB and in agentx_mib.c."""
    served = {r[3] for r in agent_table() if r[3]}
    missing = sorted(set(stats_fields()) - served)
    assert not missing, f"counters without an OID (add them to doc/FACTEUR-MIB.txt and " \
                        f"appliance/agentx/agentx_mib.c): {missing}"
    for name, oid, syntax, field in agent_table():
        if field:
            gauge = stats_fields()[field].endswith("(gauge)")
            assert syntax == ("Gauge32" if gauge else "Counter64"), (name, syntax)


# ---------------------------------------------------------------- snmpd, snmptrapd


class Snmptrapd:
    """A private snmptrapd logging every notification to a file, numeric OIDs."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "snmptrapd")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port(udp_too=True)
        self.conf = os.path.join(self.dir, "snmptrapd.conf")
        self.log_path = os.path.join(self.dir, "traps.log")
        with open(self.conf, "w") as f:
            f.write("disableAuthorization yes\n")
        self.proc = None

    def start(self):
        env = quiet_env()
        env["SNMP_PERSISTENT_DIR"] = persistent_dir(self.dir)
        self.out = open(os.path.join(self.dir, "snmptrapd.out"), "ab")
        self.proc = subprocess.Popen(
            [SNMPTRAPD, "-f", "-C", "-c", self.conf, "-Lf", self.log_path, "-On",
             f"udp:127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out, env=env,
            start_new_session=True)
        assert wait_for(lambda: self.proc.poll() is None and "NET-SNMP version" in self.text()), \
            "snmptrapd did not start"
        return self

    def stop(self):
        stop_process(self.proc)
        self.out.close()

    def text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def traps(self, notification):
        """[{oid: value}] of the notifications of that OID received so far."""
        out = []
        for line in self.text().splitlines():
            if f"{TRAP_OID} = OID: {notification}" not in line:
                continue
            binds = {}
            for part in line.split("\t"):
                if " = " in part:
                    k, v = part.split(" = ", 1)
                    binds[k.strip()] = v.strip()
            out.append(binds)
        return out


class Snmpd:
    """A private snmpd: SNMP on 127.0.0.1:port, AgentX master on a unix socket
    of the test's directory that nobody may use, notifications to trapd."""

    def __init__(self, workdir, trapd):
        self.dir = os.path.join(workdir, "snmpd")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.port = free_port(udp_too=True)
        self.socket = os.path.join(self.dir, "agentx.sock")
        self.conf = os.path.join(self.dir, "snmpd.conf")
        with open(self.conf, "w") as f:
            f.write(f"master agentx\n"
                    f"agentXSocket {self.socket}\n"
                    f"agentXPerms 0777 0755\n"
                    f"rocommunity public 127.0.0.1\n"
                    f"trap2sink 127.0.0.1:{trapd.port} public\n")
        self.proc = None

    def start(self):
        env = quiet_env()
        env["SNMP_PERSISTENT_DIR"] = persistent_dir(self.dir)
        self.out = open(os.path.join(self.dir, "snmpd.log"), "ab")
        self.proc = subprocess.Popen(
            [SNMPD, "-f", "-Lo", "-C", "-c", self.conf, f"udp:127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.out, env=env,
            start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"snmpd exited: see {self.dir}")
            return os.path.exists(self.socket) and \
                self.get(".1.3.6.1.2.1.1.3.0").get(".1.3.6.1.2.1.1.3.0") is not None
        assert wait_for(ready), "snmpd did not start"
        return self

    def stop(self):
        stop_process(self.proc)
        self.out.close()

    def _run(self, tool, *args):
        r = subprocess.run([tool, "-v2c", "-c", "public", "-On", "-Oq", "-Ot", "-Oe", "-r", "1",
                            "-t", "5", f"127.0.0.1:{self.port}"] + list(args),
                           capture_output=True, text=True, timeout=60, env=quiet_env())
        out = {}
        for line in r.stdout.splitlines():
            if " " in line:
                oid, value = line.split(" ", 1)
                if not value.startswith("No Such") and "No more variables" not in value:
                    out[oid] = value.strip().strip('"')
        return out

    def get(self, *oids):
        return self._run("snmpget", *oids)

    def walk(self, oid=ENTERPRISE):
        return self._run("snmpwalk", oid)


@pytest.fixture
def snmp(workdir):
    need(SNMPD, SNMPTRAPD, "snmpget", "snmpwalk")
    trapd = Snmptrapd(workdir).start()
    snmpd = Snmpd(workdir, trapd).start()
    yield snmpd, trapd
    snmpd.stop()
    trapd.stop()


@pytest.fixture
def daemon_dir(workdir):
    """A daemon_directory holding smtpd, qmgr, facteur-agentx and facteur-metrics of the build."""
    d = os.path.join(workdir, "daemons")
    os.makedirs(d)
    os.chmod(d, 0o755)
    for path in ("mta/smtpd", "mta/qmgr", "appliance/agentx/facteur-agentx",
                 "appliance/agentx/facteur-metrics"):
        os.symlink(os.path.join(BUILDDIR, path), os.path.join(d, os.path.basename(path)))
    return d


def send(f, rcpts, test_id):
    with smtplib.SMTP("127.0.0.1", f.smtp_port, timeout=30) as s:
        refused = s.sendmail("sender@example.net", rcpts,
                             simple_message(test_id=test_id, to=rcpts[0]))
    assert not refused


def field_oids():
    return {field: oid + ".0" for name, oid, syntax, field in agent_table() if field}


def agent_served(snmpd):
    """The agent's objects are registered with snmpd (it connected)."""
    return snmpd.get(ENTERPRISE + ".1.1.2.0").get(ENTERPRISE + ".1.1.2.0") is not None


def daemon_rows(snmpd):
    """{name: {column: value}} of facteurDaemonTable."""
    walk = snmpd.walk(ENTERPRISE + ".1.10.1")
    names = {oid.rsplit(".", 1)[1]: v for oid, v in walk.items()
             if oid.startswith(ENTERPRISE + ".1.10.1.1.2.")}
    rows = {}
    for idx, name in names.items():
        rows[name] = {"index": idx}
        for col, key in ((3, "running"), (4, "pid"), (5, "restarts"), (6, "started")):
            rows[name][key] = walk.get(f"{ENTERPRISE}.1.10.1.1.{col}.{idx}")
    return rows


def metrics(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def parse_metrics(text):
    """({series: value}, {name: type}, {name: help})."""
    values, types, helps = {}, {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
        elif line.startswith("# HELP "):
            _, _, name, text_ = line.split(" ", 3)
            helps[name] = text_
        elif line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = int(value)
    return values, types, helps


def assert_metrics_match(text, stats):
    values, types, helps = parse_metrics(text)
    for field, help_ in stats_fields().items():
        if help_.endswith("(gauge)"):
            name, typ, help_ = f"facteur_{field}", "gauge", help_[:-len(" (gauge)")]
        else:
            name, typ = f"facteur_{field}_total", "counter"
        assert types.get(name) == typ, f"{name}: TYPE {types.get(name)}"
        assert helps.get(name) == help_, f"{name}: HELP {helps.get(name)!r}"
        assert values.get(name) == stats[field], f"{name}: {values.get(name)} != {stats[field]}"
    return values


# ---------------------------------------------------------------- the agent


def test_agentx_values_traps_and_snmpd_restart(make_facteur, daemon_dir, snmp):
    snmpd, trapd = snmp
    mport = free_port()
    f = make_facteur(daemon_directory=daemon_dir, snmp_agentx_socket=snmpd.socket,
                     metrics_listen=f"127.0.0.1:{mport}")
    assert wait_for(lambda: "facteur-agentx" in f.daemons() and agent_served(snmpd)), f.log_tail()

    send(f, ["alice@example.org", "bob@example.org"], "snmp-1")
    send(f, ["carol@example.org"], "snmp-2")
    assert f.wait_mailbox(3) and f.wait_queue_empty()
    assert wait_for(lambda: f.stats()["qmgr_delivered"] == 3 and f.stats()["queue_active"] == 0)

    # Idle now: every counter served over SNMP is the one facteurctl prints.
    stats = f.stats()
    walk = snmpd.walk()
    assert stats["smtpd_messages_accepted"] == 2 and stats["smtpd_recipients_accepted"] == 3
    for field, oid in field_oids().items():
        assert oid in walk, f"{field} ({oid}) is not served"
        assert int(walk[oid]) == stats[field], f"{field}: SNMP {walk[oid]}, facteurctl {stats[field]}"
    uptime = int(walk[ENTERPRISE + ".1.1.1.0"]) // 100
    assert 0 <= uptime <= time.time() - stats["started"] + 2
    assert int(walk[ENTERPRISE + ".1.1.3.0"]) == 0  # facteurQueueMessages
    st = os.statvfs(f.spool)
    assert int(walk[ENTERPRISE + ".1.1.6.0"]) == st.f_blocks * st.f_frsize // (1024 * 1024)

    # The daemons' table is the master's.
    rows = daemon_rows(snmpd)
    kids = f.daemons()
    for name in ("qmgr", "smtpd", "facteur-agentx", "facteur-metrics"):
        assert rows[name]["running"] == "1" and int(rows[name]["pid"]) == kids[name], rows
        assert rows[name]["restarts"] == "0", rows

    # The same counters on /metrics.
    status, ctype, text = metrics(mport)
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    values = assert_metrics_match(text, f.stats())
    assert values['facteur_daemon_up{daemon="qmgr"}'] == 1
    assert values['facteur_daemon_pid{daemon="qmgr"}'] == kids["qmgr"]

    # kill -9 qmgr: facteurDaemonDown arrives, the table counts the restart.
    f.kill9("qmgr")
    assert wait_for(lambda: trapd.traps(ENTERPRISE + ".0.1")), trapd.text() + f.log_tail()
    trap = trapd.traps(ENTERPRISE + ".0.1")[0]
    idx = rows["qmgr"]["index"]
    assert trap[f"{ENTERPRISE}.1.10.1.1.2.{idx}"] == 'STRING: "qmgr"', trap
    assert trap[f"{ENTERPRISE}.1.10.1.1.5.{idx}"] == "Counter64: 1", trap
    rows = daemon_rows(snmpd)
    assert rows["qmgr"]["restarts"] == "1" and rows["smtpd"]["restarts"] == "0", rows
    assert wait_for(lambda: daemon_rows(snmpd)["qmgr"]["pid"] == str(f.daemons().get("qmgr"))), \
        daemon_rows(snmpd)
    assert int(snmpd.get(ENTERPRISE + ".1.1.2.0")[ENTERPRISE + ".1.1.2.0"]) == \
        f.stats()["master_daemon_restarts"] == 1
    values, _, _ = parse_metrics(metrics(mport)[2])
    assert values['facteur_daemon_restarts_total{daemon="qmgr"}'] == 1
    assert len(trapd.traps(ENTERPRISE + ".0.1")) == 1

    # snmpd restarts: the subagent connects again and is answered again.
    agentx_pid = f.daemons()["facteur-agentx"]
    snmpd.stop()
    snmpd.start()
    assert wait_for(lambda: agent_served(snmpd)), f.log_tail()
    assert f.daemons()["facteur-agentx"] == agentx_pid  # the same process, reconnected
    stats = f.stats()
    got = snmpd.get(field_oids()["smtpd_messages_accepted"], field_oids()["qmgr_delivered"])
    assert got == {field_oids()["smtpd_messages_accepted"]: str(stats["smtpd_messages_accepted"]),
                   field_oids()["qmgr_delivered"]: str(stats["qmgr_delivered"])}


def test_queue_threshold_notifications(make_facteur, daemon_dir, snmp):
    snmpd, trapd = snmp
    closed = free_port()
    f = make_facteur(start=False, daemon_directory=daemon_dir, snmp_agentx_socket=snmpd.socket,
                     snmp_queue_threshold=2, snmp_disk_threshold_percent=0)
    f.transport["relay.test"] = f"[127.0.0.1]:{closed}"  # nobody listens: deferred
    f.start()
    assert wait_for(lambda: agent_served(snmpd)), f.log_tail()
    for i in range(2):
        send(f, [f"user{i}@relay.test"], f"q-{i}")
    assert wait_for(lambda: f.stats()["queue_deferred"] == 2), f.stats()
    over = ENTERPRISE + ".0.2"
    assert not trapd.traps(over)  # 2 is not over 2
    send(f, ["user2@relay.test"], "q-2")
    assert wait_for(lambda: trapd.traps(over)), trapd.text()
    trap = trapd.traps(over)[0]
    assert trap[ENTERPRISE + ".1.1.3.0"] == "Gauge32: 3", trap
    assert trap[ENTERPRISE + ".1.1.4.0"] == "Gauge32: 2", trap

    f.ctl("queue", "delete", "ALL")
    assert wait_for(lambda: trapd.traps(ENTERPRISE + ".0.3")), trapd.text()
    # Cleared one message under the threshold (the deletions are counted one by one).
    cleared = trapd.traps(ENTERPRISE + ".0.3")[0][ENTERPRISE + ".1.1.3.0"]
    assert cleared in ("Gauge32: 0", "Gauge32: 1"), cleared
    assert len(trapd.traps(over)) == 1  # once per crossing, not at every look


def test_disk_nearly_full_notification(make_facteur, daemon_dir, snmp, workdir):
    snmpd, trapd = snmp
    st = os.statvfs(workdir)
    used = st.f_blocks - st.f_bfree
    percent = -(-used * 100 // (used + st.f_bavail))
    if percent < 2:
        pytest.skip("the spool's file system is nearly empty")
    f = make_facteur(daemon_directory=daemon_dir, snmp_agentx_socket=snmpd.socket,
                     snmp_disk_threshold_percent=1)
    assert wait_for(lambda: trapd.traps(ENTERPRISE + ".0.4")), trapd.text() + f.log_tail()
    trap = trapd.traps(ENTERPRISE + ".0.4")[0]
    assert trap[ENTERPRISE + ".1.1.5.0"] == "Gauge32: 1", trap
    reported = int(trap[ENTERPRISE + ".1.1.8.0"].split()[1])
    assert abs(reported - percent) <= 1, (reported, percent)


def test_agentx_without_snmpd_then_snmpd(make_facteur, daemon_dir, workdir):
    """The subagent starts before its master agent and connects when it comes."""
    need(SNMPD, SNMPTRAPD, "snmpget")
    trapd = Snmptrapd(workdir).start()
    snmpd = Snmpd(workdir, trapd)
    try:
        f = make_facteur(daemon_directory=daemon_dir, snmp_agentx_socket=snmpd.socket)
        assert wait_for(lambda: "facteur-agentx" in f.daemons())
        assert wait_for(lambda: "Failed to connect to the agentx master agent" in f.log_text())
        pid = f.daemons()["facteur-agentx"]
        snmpd.start()
        assert wait_for(lambda: agent_served(snmpd)), f.log_tail()
        assert f.daemons()["facteur-agentx"] == pid
        assert f.log_text().count("Failed to connect to the agentx master agent") == 1
    finally:
        snmpd.stop() if snmpd.proc else None
        trapd.stop()


# ---------------------------------------------------------------- /metrics alone


def test_metrics_without_snmp(make_facteur, daemon_dir):
    port = free_port()
    f = make_facteur(daemon_directory=daemon_dir, metrics_listen=f"127.0.0.1:{port}")
    assert wait_for(lambda: "facteur-metrics" in f.daemons())
    assert "facteur-agentx" not in f.daemons()
    send(f, ["alice@example.org"], "m-1")
    assert f.wait_mailbox(1) and f.wait_queue_empty()
    assert wait_for(lambda: f.stats()["qmgr_delivered"] == 1)

    status, ctype, text = metrics(port)
    assert status == 200
    values = assert_metrics_match(text, f.stats())
    assert values["facteur_smtpd_messages_accepted_total"] == 1
    assert values["facteur_queue_messages"] == 0
    assert values["facteur_start_time_seconds"] == f.stats()["started"]
    assert values['facteur_daemon_up{daemon="facteur-metrics"}'] == 1
    assert 'facteur_daemon_up{daemon="facteur-agentx"}' not in values
    assert values['facteur_filesystem_size_bytes{filesystem="spool"}'] == \
        os.statvfs(f.spool).f_blocks * os.statvfs(f.spool).f_frsize
    # One TYPE per family, and every sample belongs to a declared family.
    _, types, _ = parse_metrics(text)
    for series in values:
        assert series.split("{")[0] in types, series

    # Anything but GET /metrics is refused, and the daemon keeps serving.
    with pytest.raises(urllib.error.HTTPError) as e:
        metrics(port, "/other")
    assert e.value.code == 404
    for data, codes in ((b"", (405, 501)), (b"x" * 100, (405, 413, 501))):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=data, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code in codes
    assert metrics(port, "/metrics?x=1")[0] == 200

    # A reload that empties metrics_listen stops it; setting it again starts it.
    f.set(metrics_listen="")
    f.reload()
    assert wait_for(lambda: "facteur-metrics" not in f.daemons())
    f.set(metrics_listen=f"127.0.0.1:{port}")
    f.reload()
    assert wait_for(lambda: "facteur-metrics" in f.daemons())
    assert wait_for(lambda: _answers(port))


def _answers(port):
    try:
        return metrics(port)[0] == 200
    except OSError:
        return False


def test_agentx_refuses_bad_setup(workdir):
    """Run by hand without a configuration it needs: a clear error, no crash."""
    conf = os.path.join(workdir, "facteur.conf")
    with open(conf, "w") as f:
        f.write(f"spool_directory = {workdir}/spool\n")
    r = subprocess.run([AGENTX, "-c", conf, "-d"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "snmp_agentx_socket is empty" in r.stderr
    with open(conf, "a") as f:
        f.write("snmp_agentx_socket = /nonexistent/agentx\n")
    r = subprocess.run([AGENTX, "-c", conf, "-d"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "is facteur running?" in r.stderr
    r = subprocess.run([METRICS, "-c", conf, "-d"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "metrics_listen is empty" in r.stderr
    with open(conf, "a") as f:
        f.write("metrics_listen = nonsense\n")
    r = subprocess.run([METRICS, "-c", conf, "-d"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "metrics_listen" in r.stderr and "host:port" in r.stderr
