#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Policy benchmark: facteur's policyd against postfwd, and what the policy
costs the relay, measured on this machine in one run (by hand, as root).

Part 1, policy decisions/s.  The same RCPT-time requests (all the attributes
Postfix 3.7 sends; 4,000 client addresses, 8 of them sending 10% of the
requests; recipients from a directory of 10,000 accounts and 100 aliases in
100 domains, plus 20% unknown local parts) go, over CONNS connections with
one request in flight each (policy_load.c), to:
  - policy/policyd: directory filled with facteurctl, access lists (deny 20
    clients, a /24 and 3 sender domains; allow 20 clients and one of the
    busy ones), client_recipient_rate_limit 100/7d on SQLite policy_state,
    greylisting and DNS checks off;
  - postfwd2 (--nodns --cache=0) with the same rules in the same order
    (554 deny, 550 unknown recipient, DUNNO allow, rate() 450), its
    recipient check written two ways: "regex", one recipient=~^(?:...)$
    (Perl makes a trie of it, postfwd's fastest form), and "file",
    recipient==file:LIST (the documented form, a linear walk: it gets
    fewer requests).
Each server starts fresh, gets WARMUP requests, then REQUESTS measured:
decisions/s, CPU seconds per 1,000 decisions of all its processes (/proc),
peak RSS and PSS summed over them, latency p50/p99.  Every answer is checked
against a model of the rules; the counts of each action are printed with the
model's.  facteur and postfwd-regex alternate ROUNDS times (medians).

Part 2, the policy in the relay (tests/bench/relay's smtp-source -> smtpd ->
smtp-sink, 2 KB, 16 sessions, one recipient, filter_enable = no, the
loopback client a stranger): "off" has example.net in relay_domains and no
directory, "on" the directory of part 1 with example.net a relay domain with
a recipient list, the access lists and a recipient rate limit that never
triggers.  Alternated RELAY_ROUNDS times; accepted and delivered msgs/s and
CPU per message, and the median of the rounds' on/off ratios.

The last lines: `relay policy cost on/off: X.XX` (accepted msgs/s with the
policy over without) and `policy ratio facteur/postfwd: X.XX` (decisions/s,
against postfwd's fastest rules).

Usage: tests/bench/policy/run.sh [BUILDDIR]
Environment: BENCH_CONNS (16), BENCH_REQUESTS (100000), BENCH_WARMUP (10000),
BENCH_FILE_REQUESTS (2000), BENCH_FILE_WARMUP (500), BENCH_ROUNDS (3),
BENCH_RELAY_MESSAGES (2000), BENCH_RELAY_ROUNDS (7), BENCH_PARTS ("1 2"),
BENCH_KEEP=1 (keep the temporary directory).
"""
import collections
import importlib.util
import ipaddress
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))

# The relay benchmark's pieces (Sink, Facteur, run_cell) for part 2.
_spec = importlib.util.spec_from_file_location("relay_bench",
                                               os.path.join(HERE, "..", "relay", "bench.py"))
relay = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(relay)

CONNS = int(os.environ.get("BENCH_CONNS", "16"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100000"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "10000"))
FILE_REQUESTS = int(os.environ.get("BENCH_FILE_REQUESTS", "2000"))
FILE_WARMUP = int(os.environ.get("BENCH_FILE_WARMUP", "500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PARTS = os.environ.get("BENCH_PARTS", "1 2").split()
RELAY_MESSAGES = int(os.environ.get("BENCH_RELAY_MESSAGES", "2000"))
RELAY_ROUNDS = int(os.environ.get("BENCH_RELAY_ROUNDS", "7"))

DOMAINS = 100
ACCOUNTS_PER_DOMAIN = 100
CLIENTS = 4000
BULK_CLIENTS = 8
BULK_SHARE = 0.10
UNKNOWN_SHARE = 0.20
DENIED_SENDER_SHARE = 0.02
RATE = 100
PERIOD = 604800          # 7 days: no window ends during a run (facteur's start at epoch multiples)
RELAY_RATE = "1000000/7d"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc=None, timeout=60):
    """A policy server says nothing first: a connection is enough."""
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (proc.args[0], proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d" % port)


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(utime+stime+cutime+cstime in seconds, pgrp) of pid, or None."""
    try:
        data = open("/proc/%d/stat" % pid).read()
    except OSError:
        return None
    f = data[data.rindex(")") + 2:].split()
    return sum(int(x) for x in f[11:15]) / CLK_TCK, int(f[2])


def group_pids(pgrp):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None and st[1] == pgrp:
                pids.append(int(d))
    return pids


def cpu_seconds(pids):
    return sum((proc_stat(p) or (0, 0))[0] for p in pids)


def memory_kb(pids):
    """(summed RSS, summed PSS) in KB."""
    rss = pss = 0
    for p in pids:
        try:
            for line in open("/proc/%d/smaps_rollup" % p):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def machine_busy():
    """Busy CPU seconds of the whole machine so far."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / CLK_TCK


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class MemorySampler(threading.Thread):
    def __init__(self, pids_fn):
        super().__init__(daemon=True)
        self.pids_fn = pids_fn
        self.peak = (0, 0)
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            rss, pss = memory_kb(self.pids_fn())
            self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))
            self.halt.wait(0.2)

    def stop(self):
        self.halt.set()
        self.join()
        return self.peak


# ---------------------------------------------------------------- the workload

class Workload:
    """The directory, the lists and the request stream, with the model of
    the answers both servers must give."""

    def __init__(self, root, total):
        rnd = random.Random(20261201)
        self.dir = os.path.join(root, "workload")
        os.makedirs(self.dir)
        self.domains = ["dom%d.example" % d for d in range(DOMAINS)]
        self.accounts = ["user%d@%s" % (u, d) for d in self.domains
                         for u in range(ACCOUNTS_PER_DOMAIN)]
        self.aliases = [("info@%s" % d, "user0@%s" % d) for d in self.domains]
        self.known = self.accounts + [a for a, _ in self.aliases]
        known_set = set(self.known)
        self.clients = ["198.18.%d.%d" % (i // 200, i % 200 + 1) for i in range(CLIENTS)]
        self.bulk = rnd.sample(self.clients[:3800], BULK_CLIENTS)
        others = [c for c in self.clients[:3800] if c not in self.bulk]
        picks = rnd.sample(others, 40)
        self.deny_clients = picks[:20]
        self.deny_net = "198.18.19.0/24"      # the last 200 clients of the pool
        self.allow_clients = picks[20:] + [self.bulk[0]]
        self.deny_senders = ["spam%d.example" % i for i in range(3)]
        net = ipaddress.ip_network(self.deny_net)
        denied_ips = set(self.deny_clients) | {c for c in self.clients
                                               if ipaddress.ip_address(c) in net}
        allowed = set(self.allow_clients)

        self.requests = []
        self.expect = []          # "554", "550", "DUNNO" (never limited), "counted"
        self.client_of = []
        for i in range(total):
            client = rnd.choice(self.bulk) if rnd.random() < BULK_SHARE else rnd.choice(self.clients)
            if rnd.random() < DENIED_SENDER_SHARE:
                sdom = rnd.choice(self.deny_senders)
            else:
                sdom = "sender%d.example" % rnd.randrange(500)
            sender = "s%d@%s" % (rnd.randrange(50), sdom)
            if rnd.random() < UNKNOWN_SHARE:
                rcpt = "nobody%d@%s" % (rnd.randrange(100000), rnd.choice(self.domains))
            else:
                rcpt = rnd.choice(self.known)
            self.requests.append(self.request(i, client, sender, rcpt, rnd))
            self.client_of.append(client)
            if client in denied_ips or sdom in self.deny_senders:
                self.expect.append("554")
            elif rcpt not in known_set:
                self.expect.append("550")
            elif client in allowed:
                self.expect.append("DUNNO")
            else:
                self.expect.append("counted")

    @staticmethod
    def request(i, client, sender, rcpt, rnd):
        """The attributes Postfix 3.7's smtpd sends at RCPT time."""
        sdom = sender.split("@")[1]
        return ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                "client_address=%s\nclient_name=unknown\nreverse_client_name=unknown\n"
                "client_port=%d\nhelo_name=mx%d.%s\nsender=%s\nrecipient=%s\n"
                "recipient_count=0\nqueue_id=\ninstance=%x.%08x.0\nsize=0\netrn_domain=\n"
                "stress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
                "ccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"
                "encryption_protocol=\nencryption_cipher=\nencryption_keysize=0\n"
                "policy_context=\nserver_address=127.0.0.1\nserver_port=25\n\n" %
                (client, 1024 + rnd.randrange(60000), rnd.randrange(10), sdom, sender, rcpt,
                 i % 65536, rnd.randrange(1 << 32)))

    def write(self, name, start, end):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.writelines(self.requests[start:end])
        return path

    def model(self, start, end):
        """Expected count per action over requests [start, end) after [0, start)."""
        used = collections.Counter()
        counts = collections.Counter()
        for i in range(end):
            e = self.expect[i]
            if e == "counted":
                used[self.client_of[i]] += 1
                e = "450" if used[self.client_of[i]] > RATE else "DUNNO"
            if i >= start:
                counts[e] += 1
        return counts

    def check(self, answers, start, end):
        """(counts per action, number of answers the model refuses)."""
        counts = collections.Counter()
        bad = 0
        limited = collections.Counter()
        for k, a in enumerate(answers):
            i = start + k
            cls = ("DUNNO" if a.upper().startswith(("DUNNO", "OK")) else a[:3]
                   if a[:3].isdigit() else "other")
            counts[cls] += 1
            e = self.expect[i]
            if e == "counted":
                if cls not in ("DUNNO", "450"):
                    bad += 1
                elif cls == "450":
                    limited[self.client_of[i]] += 1
            elif cls != e:
                bad += 1
        # Who was limited, client by client.
        used = collections.Counter()
        want = collections.Counter()
        for i in range(end):
            if self.expect[i] == "counted":
                used[self.client_of[i]] += 1
                if i >= start and used[self.client_of[i]] > RATE:
                    want[self.client_of[i]] += 1
        bad += sum(abs(limited[c] - want[c]) for c in set(limited) | set(want))
        return counts, bad


def fill_directory(ctl, w):
    """The directory with facteurctl, two at a time (~5 ms per command)."""
    cmds = [["domain", "add", w.domains[0]], None]      # None: wait for those before
    cmds += [["domain", "add", d] for d in w.domains[1:]] + [None]
    cmds += [["account", "add", a] for a in w.accounts]
    cmds += [["alias", "add", a, t] for a, t in w.aliases]
    cmds += [["access", "deny", c] for c in w.deny_clients + [w.deny_net] + w.deny_senders]
    cmds += [["access", "allow", c] for c in w.allow_clients]
    running = []

    def reap(limit):
        while len(running) > limit:
            p = running.pop(0)
            if p.wait() == 0:
                continue
            err = p.stderr.read().strip()
            # Two writers at once: the busy timeout does not cover everything.
            if "locked" in err and subprocess.run(p.args, stdout=subprocess.DEVNULL).returncode == 0:
                continue
            raise RuntimeError("facteurctl %s failed: %s" % (" ".join(p.args[3:]), err))
    for c in cmds:
        if c is None:
            reap(0)
            continue
        running.append(subprocess.Popen(ctl + c, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True))
        reap(1)
    reap(0)


# ---------------------------------------------------------------- the servers

class Policyd:
    name = "facteur policyd"

    def __init__(self, root, tag, directory):
        self.dir = os.path.join(root, "policyd-%s" % tag)
        os.makedirs(os.path.join(self.dir, "spool"))
        shutil.chown(os.path.join(self.dir, "spool"), "nobody")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "facteur.conf")
        with open(self.conf, "w") as f:
            f.write(policy_conf(self.dir, directory, "%d/%d" % (RATE, PERIOD)))
            f.write("policy_listen = inet:127.0.0.1:%d\n" % self.port)
        self.logf = open(os.path.join(self.dir, "policyd.log"), "w")
        self.proc = subprocess.Popen([os.path.join(BUILD, "policy", "policyd"), "-c", self.conf],
                                     stdout=self.logf, stderr=self.logf)
        wait_listening(self.port, self.proc)

    def pids(self):
        return [self.proc.pid]

    def peak_rss_kb(self):
        for line in open("/proc/%d/status" % self.proc.pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def policy_conf(d, directory, rate):
    return f"""spool_directory = {d}/spool
mail_owner = nobody
myhostname = bench.facteur.test
log_level = warn
directory_database = {directory}
client_recipient_rate_limit = {rate}
greylist_enable = no
dnsbl_sites =
rhsbl_sender_sites =
rhsbl_helo_sites =
require_fcrdns = no
"""


class Postfwd:
    """postfwd2 in its own directory: master, cache daemon, prefork policy server."""

    def __init__(self, root, tag, w, variant):
        self.name = "postfwd %s" % variant
        self.dir = os.path.join(root, "postfwd-%s" % tag)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        rules = os.path.join(self.dir, "rules")
        lists = os.path.join(root, "postfwd-lists")
        if not os.path.isdir(lists):
            os.makedirs(lists)
            for name, items in (("deny_clients", w.deny_clients + [w.deny_net]),
                                ("deny_senders", w.deny_senders),
                                ("allow_clients", w.allow_clients),
                                ("recipients", w.known)):
                with open(os.path.join(lists, name), "w") as f:
                    f.write("\n".join(items) + "\n")
        if variant == "regex":
            known = "recipient=~^(?:%s)$" % "|".join(re.escape(a) for a in w.known)
        else:
            known = "recipient==file:%s/recipients" % lists
        with open(rules, "w") as f:
            f.write(f"""id=DENY_CLIENT; client_address=file:{lists}/deny_clients; action=554 5.7.1 Access denied
id=DENY_SENDER; sender_domain==file:{lists}/deny_senders; action=554 5.7.1 Access denied
id=KNOWN; {known}; action=jump(ALLOW)
id=UNKNOWN; action=550 5.1.1 User unknown
id=ALLOW; client_address=file:{lists}/allow_clients; action=DUNNO
id=RATE; action=rate(client_address/{RATE}/{PERIOD}/450 4.7.1 too many recipients from $$client_address)
""")
        self.pidfile = os.path.join(self.dir, "master.pid")
        argv = ["/usr/sbin/postfwd2", "--daemon", "-f", rules,
                "--server_socket", "tcp:127.0.0.1:%d" % self.port,
                "--cache_proto", "unix", "--cache_port", os.path.join(self.dir, "cache.sock"),
                "--pidfile", self.pidfile, "-u", "nobody", "-g", "nogroup",
                "--nodns", "--cache=0", "--perfmon", "--norulelog",
                "--min_servers", str(CONNS + 2)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("postfwd2 did not start: %s" % out.stderr[-500:])
        end = time.time() + 30
        while not os.path.exists(self.pidfile) and time.time() < end:
            time.sleep(0.1)
        self.master = int(open(self.pidfile).read().strip())
        wait_listening(self.port)
        # The children read the rules when they start: wait for all of them.
        end = time.time() + 60
        while time.time() < end and sum(1 for p in self.pids() if "child" in cmdline(p)) < CONNS:
            time.sleep(0.2)
        time.sleep(1)

    def pids(self):
        return group_pids(self.master)

    def peak_rss_kb(self):
        return None

    def stop(self):
        pids = self.pids()
        try:
            os.kill(self.master, signal.SIGTERM)
        except ProcessLookupError:
            pass
        end = time.time() + 10
        while time.time() < end and any(proc_stat(p) for p in pids):
            time.sleep(0.2)
        # The prefork server sometimes outlives its master: end what is left of it.
        for p in self.pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def cmdline(pid):
    try:
        return open("/proc/%d/cmdline" % pid).read()
    except OSError:
        return ""


# ---------------------------------------------------------------- part 1

def build_loadgen(root):
    """BUILD's policy_load (tests/bench/policy/local.mk), else one compiled here."""
    exe = os.path.join(BUILD, "tests", "bench", "policy", "policy_load")
    if os.access(exe, os.X_OK) and os.path.getmtime(exe) >= os.path.getmtime(
            os.path.join(HERE, "policy_load.c")):
        return exe
    exe = os.path.join(root, "policy_load")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe,
                    os.path.join(HERE, "policy_load.c")], check=True)
    return exe


def load(loadgen, port, reqfile, ansfile):
    out = subprocess.run(["timeout", "3600", loadgen, "-c", str(CONNS), "-o", ansfile,
                          "127.0.0.1:%d" % port, reqfile], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("policy_load: %s" % out.stderr.strip())
    f = out.stdout.split()
    res = dict(zip(f[0::2], f[1::2]))
    return float(res["per_second"]), float(res["p50_us"]), float(res["p99_us"])


def measure(server, loadgen, w, files, warmup, requests):
    """One fresh server: warm-up, then the measured requests."""
    wfile, mfile = files
    ans = os.path.join(w.dir, "answers")
    load(loadgen, server.port, wfile, ans)
    wcounts, wbad = w.check(open(ans).read().splitlines(), 0, warmup)
    sampler = MemorySampler(server.pids)
    sampler.start()
    cpu0, busy0, gen0 = cpu_seconds(server.pids()), machine_busy(), children_cpu()
    rate, p50, p99 = load(loadgen, server.port, mfile, ans)
    cpu1, busy1, gen1 = cpu_seconds(server.pids()), machine_busy(), children_cpu()
    peak = sampler.stop()
    counts, bad = w.check(open(ans).read().splitlines(), warmup, warmup + requests)
    hwm = server.peak_rss_kb()
    server_cpu, gen_cpu = cpu1 - cpu0, gen1 - gen0
    seconds = requests / rate
    return {
        "rate": rate, "p50": p50 / 1000, "p99": p99 / 1000,
        "cpu": server_cpu / requests * 1000,
        "rss": (hwm if hwm is not None else peak[0]) / 1024, "pss": peak[1] / 1024,
        "counts": counts, "bad": bad + wbad,
        "other": max(0.0, (busy1 - busy0) - server_cpu - gen_cpu) / seconds,
        "gen": gen_cpu / seconds,
    }


def log_round(r, name, res):
    log("  round %d %-16s %9.1f decisions/s  %6.3f CPU s/1000  (load generator %.0f%%, "
        "others %.0f%% of a core; load average %s)" % (r + 1, name, res["rate"], res["cpu"],
                                                       res["gen"] * 100, res["other"] * 100,
                                                       loadavg()))


def part1(root, w, directory, loadgen):
    total = max(WARMUP + REQUESTS, FILE_WARMUP + FILE_REQUESTS)
    full = (w.write("warmup", 0, WARMUP), w.write("measured", WARMUP, WARMUP + REQUESTS))
    short = (w.write("file-warmup", 0, FILE_WARMUP),
             w.write("file-measured", FILE_WARMUP, FILE_WARMUP + FILE_REQUESTS))
    log("part 1: %d connections, RCPT requests: %d warm-up + %d measured (postfwd file: %d + %d);"
        % (CONNS, WARMUP, REQUESTS, FILE_WARMUP, FILE_REQUESTS))
    log("  %d recipients known (%d accounts, %d aliases, %d domains), %d%% unknown; %d clients, "
        "%d bulk with %d%% of the requests; rate limit %d/%ds per client"
        % (len(w.known), len(w.accounts), len(w.aliases), DOMAINS, UNKNOWN_SHARE * 100, CLIENTS,
           BULK_CLIENTS, BULK_SHARE * 100, RATE, PERIOD))
    assert total <= len(w.requests)
    results = collections.defaultdict(list)
    for r in range(ROUNDS):
        order = ("facteur", "regex") if r % 2 == 0 else ("regex", "facteur")
        for which in order:
            tag = "%s-%d" % (which, r)
            srv = (Policyd(root, tag, directory) if which == "facteur"
                   else Postfwd(root, tag, w, "regex"))
            try:
                res = measure(srv, loadgen, w, full, WARMUP, REQUESTS)
            finally:
                srv.stop()
            results[srv.name].append(res)
            log_round(r, srv.name, res)
    srv = Postfwd(root, "file", w, "file")
    try:
        res = measure(srv, loadgen, w, short, FILE_WARMUP, FILE_REQUESTS)
    finally:
        srv.stop()
    results[srv.name].append(res)
    log_round(0, srv.name, res)

    log("")
    log("%-16s %11s %11s %9s %9s %8s %8s  %s" % ("server", "decisions/s", "CPU s/1000",
                                                "RSS MB", "PSS MB", "p50 ms", "p99 ms",
                                                "answers DUNNO/550/554/450 (model)"))
    med = {}
    for name, runs in results.items():
        m = {k: statistics.median(x[k] for x in runs)
             for k in ("rate", "cpu", "rss", "pss", "p50", "p99")}
        med[name] = m
        c = runs[-1]["counts"]
        n = FILE_REQUESTS if "file" in name else REQUESTS
        start = FILE_WARMUP if "file" in name else WARMUP
        want = w.model(start, start + n)
        bad = sum(x["bad"] for x in runs)
        other = sum(v for k, v in c.items() if k not in ("DUNNO", "550", "554", "450"))
        log("%-16s %11.1f %11.3f %9.1f %9.1f %8.2f %8.2f  %d/%d/%d/%d (%d/%d/%d/%d)%s%s" % (
            name, m["rate"], m["cpu"], m["rss"], m["pss"], m["p50"], m["p99"],
            c["DUNNO"], c["550"], c["554"], c["450"],
            want["DUNNO"], want["550"], want["554"], want["450"],
            "" if bad == 0 else "  MISMATCH: %d answers differ from the model" % bad,
            "" if other == 0 else "  %d other answers" % other))
    f, p = med["facteur policyd"]["rate"], med["postfwd regex"]["rate"]
    log("facteur/postfwd decisions/s: %.2f against postfwd regex, %.2f against postfwd file"
        % (f / p, f / med["postfwd file"]["rate"]))
    log("CPU per decision, postfwd regex/facteur: %.2f"
        % (med["postfwd regex"]["cpu"] / med["facteur policyd"]["cpu"]))
    return f / p


# ---------------------------------------------------------------- part 2

class RelayFacteur(relay.Facteur):
    """The relay benchmark's facteur, the loopback a stranger, with or without the policy."""

    def __init__(self, root, sink_port, name, directory=None):
        self.name = name
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "facteur.conf")
        with open(self.conf, "w") as f:
            # As tests/bench/relay/bench.py ...
            f.write("spool_directory = %s/spool\n" % self.dir)
            f.write("daemon_directory = %s/mta\n" % BUILD)
            f.write("mail_owner = nobody\nmyhostname = bench.facteur.test\n")
            f.write("smtp_listen = 127.0.0.1:%d\nsubmission_listen =\nsmtps_listen =\n" % self.port)
            f.write("relayhost = [127.0.0.1]:%d\nsmtp_tls_policy = none\n" % sink_port)
            f.write("message_size_limit = 50m\nlog_level = warn\n")
            # ... but the relay alone, and the loopback client a stranger.
            f.write("filter_enable = no\nmynetworks = 192.0.2.0/24\n")
            if directory is None:
                # A relay domain goes to its MX records unless [transport] names its next hop.
                f.write("relay_domains = example.net\n")
                f.write("directory_database = %s/none.db\n" % self.dir)
                f.write("[transport]\nexample.net = [127.0.0.1]:%d\n" % sink_port)
            else:
                # The directory's relay domain, with its next hop the sink.
                f.write("directory_database = %s\n" % directory)
                f.write("client_recipient_rate_limit = %s\n" % RELAY_RATE)
        self.log = open(os.path.join(self.dir, "master.log"), "w")
        self.proc = subprocess.Popen([os.path.join(BUILD, "appliance", "facteur"), "-f", "-c",
                                      self.conf], stdout=self.log, stderr=self.log)
        relay.wait_port(self.port)


def tree_pids(top):
    """top and its descendants."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                data = open("/proc/%s/stat" % d).read()
            except OSError:
                continue
            parent[int(d)] = int(data[data.rindex(")") + 2:].split()[1])
    pids, todo = [], [top]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return pids


def relay_cell(mta, sink):
    """(accepted/s, delivered/s, CPU ms per message of the MTA's processes)."""
    cpu0 = cpu_seconds(tree_pids(mta.proc.pid))
    acc, dlv = relay.run_cell(mta, sink, 2048, RELAY_MESSAGES, 16)
    cpu1 = cpu_seconds(tree_pids(mta.proc.pid))
    return acc, dlv, (cpu1 - cpu0) / RELAY_MESSAGES * 1000


def part2(root, ctl, directory):
    sink = relay.Sink(root)
    for c in (["domain", "add", "example.net", "--kind", "relay", "--nexthop",
               "[127.0.0.1]:%d" % sink.port, "--verify", "list"],
              ["recipient", "add", "sink@example.net"]):
        subprocess.run(ctl + c, check=True)
    off = RelayFacteur(root, sink.port, "policy-off")
    on = RelayFacteur(root, sink.port, "policy-on", directory)
    res = {"policy-off": [], "policy-on": []}
    log("")
    log("part 2: relay, smtp-source -> facteur smtpd -> smtp-sink, 2 KB, 16 sessions, "
        "%d messages, 1 recipient; loopback client a stranger, filter off" % RELAY_MESSAGES)
    try:
        for mta in (off, on):
            relay.run_cell(mta, sink, 2048, 100, 4)
        for r in range(RELAY_ROUNDS):
            for mta in ((off, on) if r % 2 == 0 else (on, off)):
                res[mta.name].append(relay_cell(mta, sink))
                log("  round %d %-10s %8.1f accepted/s %8.1f delivered/s %6.3f CPU ms/message"
                    "  (load average %s)" % ((r + 1, mta.name) + res[mta.name][-1] + (loadavg(),)))
        # Did the policy run?  The directory's recipient and the rate counters.
        refused = subprocess.run(["smtp-source", "-s", "1", "-m", "1", "-f",
                                  "bench@example.org", "-t", "nobody@example.net",
                                  "127.0.0.1:%d" % on.port], capture_output=True, text=True)
        counted = sqlite3.connect("file:%s/spool/policy/state.db?mode=ro" % on.dir,
                                  uri=True).execute(
            "SELECT sum(value) FROM kv WHERE key LIKE 'rl:client_rcpt:%'").fetchone()[0]
        log("  policy on: %s recipients counted by client_recipient_rate_limit" % counted)
        log("  policy on: an unknown recipient gets: %s"
            % (refused.stderr.strip().splitlines() or ["(accepted!)"])[-1][:120])
    finally:
        off.stop()
        on.stop()
        sink.stop()
    med = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in res.items()}
    log("%-10s %10s %11s %15s" % ("relay", "accepted/s", "delivered/s", "CPU ms/message"))
    for k in ("policy-off", "policy-on"):
        log("%-10s %10.1f %11.1f %15.3f" % ((k,) + tuple(med[k])))
    # Each round's two cells are next to each other in time: their ratio
    # moves less with the machine's load than the medians do.
    ratios = [[on_[i] / off_[i] for off_, on_ in zip(res["policy-off"], res["policy-on"])]
              for i in range(3)]
    log("on/off, median of the rounds' ratios: accepted %.2f, delivered %.2f, CPU per message %.2f"
        % tuple(statistics.median(x) for x in ratios))
    return statistics.median(ratios[0])


# ---------------------------------------------------------------- main

def main():
    if os.geteuid() != 0:
        sys.exit("run as root (the servers drop to nobody, smtp-sink runs as root)")
    for exe in (os.path.join(BUILD, "policy", "policyd"), os.path.join(BUILD, "appliance", "facteurctl"),
                "/usr/sbin/postfwd2"):
        if not os.access(exe, os.X_OK):
            sys.exit("missing %s (build facteur first; apt-get install postfwd)" % exe)
    root = tempfile.mkdtemp(prefix="facteur-pbench-")
    os.chmod(root, 0o755)
    log("machine: %d CPUs, load average %s at start" % (os.cpu_count(),
                                                        loadavg()))
    try:
        total = max(WARMUP + REQUESTS, FILE_WARMUP + FILE_REQUESTS)
        w = Workload(root, total)
        ddir = os.path.join(root, "directory")
        os.makedirs(ddir)
        shutil.chown(ddir, "nobody")
        directory = os.path.join(ddir, "directory.db")
        ctlconf = os.path.join(ddir, "facteur.conf")
        with open(ctlconf, "w") as f:
            f.write(policy_conf(ddir, directory, ""))
        ctl = [os.path.join(BUILD, "appliance", "facteurctl"), "-c", ctlconf]
        t0 = time.time()
        fill_directory(ctl, w)
        log("directory: %d domains, %d accounts, %d aliases, %d access entries with facteurctl "
            "in %.0f s" % (DOMAINS, len(w.accounts), len(w.aliases),
                           len(w.deny_clients) + 1 + len(w.deny_senders) + len(w.allow_clients),
                           time.time() - t0))
        loadgen = build_loadgen(root)
        ratio = cost = None
        if "1" in PARTS:
            ratio = part1(root, w, directory, loadgen)
        if "2" in PARTS:
            cost = part2(root, ctl, directory)
        log("machine: load average %s at the end" % loadavg())
        if cost is not None:
            log("relay policy cost on/off: %.2f" % cost)
        if ratio is not None:
            log("policy ratio facteur/postfwd: %.2f" % ratio)
    finally:
        if os.environ.get("BENCH_KEEP"):
            log("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
