#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Filter benchmark: facteur's before-queue filter against its peers, in one run.

On the same messages (default /work/shared/corpus: ham/ and spam/):

1. facteur, full pipeline: smtpd with Debian's SpamAssassin rules (compiled
   rules cached in $BENCH_CACHE, kept between runs), ClamAV with the
   sigtool database of tests/av/make-db.sh, the classifier trained with
   `facteurctl learn` on a quarter of the messages, SPF/DKIM/DMARC with
   DNS forwarded to a private unbound that answers every query at once
   with NXDOMAIN (BENCH_DNS=refuse: REFUSED instead),
   relaying to smtp-sink.
2. Postfix 3.7 (private instance) with smtpd_milters = rspamd (proxy worker
   in milter mode, self_scan, 2 processes; local checks only: network
   modules off, the same resolver; its Bayes classifier in a private
   redis-server, trained with `rspamc learn_spam|learn_ham` on the same
   quarter of the messages, min_learns 50 as facteur's bayes_min_learned)
   and clamav-milter (clamd with the same database, DisableCache true),
   relaying to the same sink.
3. spamd -L with the same rules, 2 children, use_bayes 0, skip_rbl_checks 1,
   fed by spamc-protocol clients.
4. The antivirus alone: clamd by INSTREAM (one client) against
   filter/av_scan -t on the same message files: MB/s and RSS.
5. Rule matching against bare Hyperscan on the same databases
   (tests/bench/filter/rules_bench).

Both MTAs are fed by the same Python SMTP sender: BENCH_SESSIONS sessions
(default 8), one connection each, messages taken in turn.  "accepted" is
messages per second until the last 250, "delivered" until the sink holds
them all and the queue is empty.  CPU is utime+stime of every process of a
system (the process trees, children that exited included), per message;
memory is the peak of the summed PSS of those processes during the run
(PSS, so pages shared by forked workers are not counted twice).  facteur
and Postfix are measured alternately, BENCH_ROUNDS times (default 3), and
the medians are printed.  The last line is the ratio of facteur's
messages/s to Postfix+rspamd+clamav-milter's (the lower of the accepted
and delivered ratios).

Environment: BENCH_QUICK=1 (300 messages, 1 round), BENCH_MESSAGES=N,
BENCH_SESSIONS, BENCH_ROUNDS, BENCH_PARTS="1 2 3 4 5" (which parts; the
last line needs 1 and 2), BENCH_SPAMD_MESSAGES (default: all),
BENCH_CACHE (default /var/tmp/facteur-bench), BENCH_FILTER_WORKERS (facteur's
filter_workers; default its own default), BENCH_FACTEUR_CONF="name = value; ..."
(more facteur.conf settings), BENCH_DNS=refuse.  ClamAV's cache of clean
hashes is off on both sides (clamd's DisableCache true, facteur's and
av_scan's av_cache = no): every round sends the same messages.  ClamAV's scan directories
(facteur's av_temp_directory, clamd's and clamav-milter's TemporaryDirectory)
are on tmpfs (/dev/shm) for both.
Usage: tests/bench/filter/run.sh [BUILDDIR [MESSAGE_DIR]]   (as root)
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
CORPUS = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "/work/shared/corpus")
QUICK = os.environ.get("BENCH_QUICK") == "1"
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
PARTS = set(os.environ.get("BENCH_PARTS", "1 2 3 4 5").split())
CACHE = os.environ.get("BENCH_CACHE", "/var/tmp/facteur-bench")
SENDER = "bench@example.org"
RCPT = "user@example.net"

procs = []          # everything started, stopped in reverse order at the end
scratch = []        # directories on tmpfs, removed at the end


def tmpfs_dir(name):
    """A scan directory on tmpfs, as facteur's av_temp_directory (/dev/shm)."""
    d = tempfile.mkdtemp(prefix="facteur-fbench-%s-" % name, dir="/dev/shm")
    scratch.append(d)
    return d


# ---------------------------------------------------------------- helpers

def free_port():
    """A port free for TCP and UDP on 127.0.0.1."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_port(port, timeout=120, banner=True, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (proc.args[0], proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if banner:
                    s.recv(100)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("port %d never answered" % port)


def start(argv, log, **kw):
    logf = open(log, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                         start_new_session=True, **kw)
    logf.close()
    procs.append(p)
    return p


def stop_all():
    for p in reversed(procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
    for p in reversed(procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    procs.clear()


def children():
    """{ppid: [pid...]} of every process."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pids):
    kids = children()
    out, todo = [], list(pids)
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo += kids.get(p, [])
    return out


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(roots):
    """utime+stime+cutime+cstime of the process trees under roots: a child
    that exited and was waited for is in its parent's cutime."""
    total = 0
    for p in tree(roots):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])
    return total / TICK


def pss_mb(roots):
    total = 0
    for p in tree(roots):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total / 1024


class MemPeak:
    """Samples the summed PSS of process trees every half second."""

    def __init__(self, roots_fn):
        self.roots_fn = roots_fn
        self.peak = 0
        self.done = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, pss_mb(self.roots_fn()))
            self.done.wait(0.5)

    def stop(self):
        self.done.set()
        self.t.join()
        self.peak = max(self.peak, pss_mb(self.roots_fn()))
        return self.peak


# ---------------------------------------------------------------- messages

def load_messages():
    paths = []
    for label in ("ham", "spam"):
        d = os.path.join(CORPUS, label)
        if os.path.isdir(d):
            paths += [(label, os.path.join(d, n)) for n in sorted(os.listdir(d))]
    if not paths:
        paths = [("unknown", os.path.join(CORPUS, n)) for n in sorted(os.listdir(CORPUS))
                 if os.path.isfile(os.path.join(CORPUS, n)) and not n.startswith(("README", "MANIFEST"))]
    everything = [{"label": label, "path": p} for label, p in paths]
    limit = int(os.environ.get("BENCH_MESSAGES", "300" if QUICK else "0"))
    if limit and limit < len(paths):
        # Every k-th message: ham and spam in the corpus's proportions.
        step = len(paths) / limit
        paths = [paths[int(i * step)] for i in range(limit)]
    msgs = []
    for label, p in paths:
        raw = open(p, "rb").read()
        if raw.startswith(b"From "):            # mbox separator line
            raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        data = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
        msgs.append({"label": label, "path": p, "data": data, "size": len(raw)})
    return msgs, everything


class SmtpError(Exception):
    pass


def smtp_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise SmtpError("connection lost")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), b"".join(lines)


def send_all(port, msgs, sessions):
    """Sends every message over `sessions` connections; (seconds, codes)."""
    lock = threading.Lock()
    nxt = [0]
    codes = {}
    texts = {}
    errors = []

    def worker():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=600)
            f = s.makefile("rb")
            if smtp_reply(f)[0] != 220:
                raise SmtpError("no banner")
            s.sendall(b"EHLO client.example.org\r\n")
            smtp_reply(f)
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(msgs):
                    break
                s.sendall(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
                c1 = smtp_reply(f)[0]
                s.sendall(b"RCPT TO:<%s>\r\n" % RCPT.encode())
                c2 = smtp_reply(f)[0]
                if c1 != 250 or c2 != 250:
                    s.sendall(b"RSET\r\n")
                    smtp_reply(f)
                    code = c1 if c1 != 250 else c2
                    texts.setdefault(code, "after MAIL/RCPT")
                else:
                    s.sendall(b"DATA\r\n")
                    c3 = smtp_reply(f)[0]
                    if c3 != 354:
                        code = c3
                    else:
                        s.sendall(msgs[i]["data"] + b".\r\n")
                        code, text = smtp_reply(f)
                        if code != 250:
                            texts.setdefault(code, "%s: %s" % (os.path.basename(msgs[i]["path"]),
                                                               text.decode(errors="replace").strip()))
                with lock:
                    codes[code] = codes.get(code, 0) + 1
            s.sendall(b"QUIT\r\n")
            s.close()
        except Exception as e:      # reported, the run goes on
            errors.append(repr(e))

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("  warning: sender: %s" % "; ".join(errors[:3]))
    for code, text in texts.items():
        print("  note: %d reply: %s" % (code, text[:200]))
    return time.time() - t0, codes


# ---------------------------------------------------------------- shared pieces

class Resolver:
    """unbound answering every query at once with NXDOMAIN (both filters' DNS).

    Not REFUSED: libunbound (facteur) takes REFUSED for a broken server and
    asks again, five times per lookup, where a real resolver says NXDOMAIN
    or no data once.  BENCH_DNS=refuse measures that case."""

    def __init__(self, root):
        self.dir = os.path.join(root, "unbound")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    interface: 127.0.0.1
    port: {self.port}
    do-ip6: no
    chroot: ""
    username: ""
    directory: "{self.dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    access-control: 127.0.0.0/8 allow
    local-zone: "." {os.environ.get("BENCH_DNS", "static")}
""")
        self.proc = start(["/usr/sbin/unbound", "-d", "-c", conf], os.path.join(self.dir, "log"))
        end = time.time() + 30
        query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                 b"\x07example\x03org\x00\x00\x01\x00\x01")
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("unbound exited: see %s/log" % self.dir)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(0.5)
                try:
                    u.sendto(query, ("127.0.0.1", self.port))
                    if u.recv(512)[:2] == b"\x12\x34":
                        return
                except OSError:
                    time.sleep(0.2)
        raise RuntimeError("unbound does not answer")


class Sink:
    def __init__(self, root):
        self.dir = os.path.join(root, "sink")
        os.makedirs(self.dir)
        self.port = free_port()
        if not port_free(self.port):
            raise RuntimeError("sink port taken")
        self.proc = start(["/usr/sbin/smtp-sink", "-u", "root", "-R", self.dir, "-d", "%Y%m%d%H/%M.",
                           "127.0.0.1:%d" % self.port, "2000"], os.path.join(root, "sink.log"))
        wait_port(self.port, proc=self.proc)

    def count(self):
        return sum(len(files) for _, _, files in os.walk(self.dir))

    def clear(self):
        for d in os.listdir(self.dir):
            shutil.rmtree(os.path.join(self.dir, d), ignore_errors=True)

    def headers_matching(self, pattern):
        """How many messages received have a header block matching pattern."""
        n = 0
        for dirpath, _, files in os.walk(self.dir):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    head = f.read(65536).replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
                n += re.search(pattern, head) is not None
        return n

    def one(self):
        for dirpath, _, files in os.walk(self.dir):
            for n in files:
                return open(os.path.join(dirpath, n), "rb").read()
        return b""


def make_av_db(root):
    d = os.path.join(root, "clamav")
    subprocess.run(["sh", os.path.join(SRC, "tests", "av", "make-db.sh"), d], check=True,
                   stdout=subprocess.DEVNULL)
    return d


# ---------------------------------------------------------------- 1. facteur

class Facteur:
    name = "facteur"

    def __init__(self, root, sink, dns, avdb, train):
        self.dir = os.path.join(root, "facteur")
        os.makedirs(self.dir)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "facteur.conf")
        rcache = os.path.join(CACHE, "rules-cache")
        os.makedirs(rcache, exist_ok=True)
        workers = os.environ.get("BENCH_FILTER_WORKERS")
        workers = "filter_workers = %s\n" % workers if workers else ""
        # More settings, for comparisons: "name = value; name = value".
        workers += "".join(x.strip() + "\n" for x in os.environ.get("BENCH_FACTEUR_CONF", "").split(";")
                           if x.strip())
        with open(self.conf, "w") as f:
            f.write(f"""spool_directory = {self.dir}/spool
daemon_directory = {BUILD}/mta
mail_owner = nobody
myhostname = bench.facteur.test
log_level = warn
smtp_listen = 127.0.0.1:{self.port}
submission_listen =
smtps_listen =
relayhost = [127.0.0.1]:{sink.port}
smtp_tls_policy = none
message_size_limit = 50m
# The bench clients are the outside world: full checks.
mynetworks = 192.0.2.0/24
relay_domains = example.net
dns_forwarder = 127.0.0.1@{dns.port}
filter_rules = /usr/share/spamassassin
filter_rules_config = /etc/spamassassin
filter_rules_cache = {rcache}
av_database_directory = {avdb}
bayes_database = {self.dir}/bayes/bayes.db
# The corpus has 396 spam: a quarter of it is below the default 200.
bayes_min_learned = 50
spf_enable = yes
dkim_verify = yes
dmarc_enable = yes
dkim_sign = no
# clamd runs with DisableCache true (each round sends the same messages).
av_cache = no
# Everything is accepted and tagged, as for the peers.
spam_reject_score = 1000
# Postfix accepts bare CR/LF in the data too.
smtpd_bare_newline = normalize
{workers}[transport]
example.net = [127.0.0.1]:{sink.port}
""")
        os.makedirs(os.path.join(self.dir, "bayes"))
        self.ctl_argv = [os.path.join(BUILD, "appliance", "facteurctl"), "-c", self.conf]
        spam = [m["path"] for m in train if m["label"] == "spam"]
        ham = [m["path"] for m in train if m["label"] == "ham"]
        t0 = time.time()
        for label, files in (("spam", spam), ("ham", ham)):
            if files:
                subprocess.run(self.ctl_argv + ["learn", label] + files, check=True,
                               stdout=subprocess.DEVNULL)
        self.learn_note = "learned %d spam + %d ham in %.1f s" % (len(spam), len(ham), time.time() - t0)
        subprocess.run(["chown", "-R", "nobody", os.path.join(self.dir, "bayes"), rcache], check=True)
        self.proc = start([os.path.join(BUILD, "appliance", "facteur"), "-f", "-c", self.conf],
                          os.path.join(self.dir, "master.log"))
        wait_port(self.port, proc=self.proc)
        t0 = time.time()
        while True:
            st = self.stats()
            if st.get("filter_rules_ready") == 1 and st.get("av_ready") == 1:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("facteur exited: see %s/master.log" % self.dir)
            if time.time() - t0 > 5 and int(time.time() - t0) % 30 == 0:
                print("  (facteur: compiling the rules, the first run takes minutes)", flush=True)
                time.sleep(1)
            time.sleep(0.5)

    def stats(self):
        r = subprocess.run(self.ctl_argv + ["-j", "stats"], capture_output=True, text=True)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {}

    def roots(self):
        return [self.proc.pid]

    def parts(self):
        return {}

    def queue_empty(self):
        spool = os.path.join(self.dir, "spool")
        return not any(os.listdir(os.path.join(spool, q)) for q in ("incoming", "active", "deferred")
                       if os.path.isdir(os.path.join(spool, q)))


# ---------------------------------------------------------------- 2. Postfix + rspamd + clamav-milter

class Clamd:
    def __init__(self, root, avdb):
        self.dir = os.path.join(root, "clamd")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = os.path.join(self.dir, "clamd.conf")
        with open(conf, "w") as f:
            f.write(f"""TCPSocket {self.port}
TCPAddr 127.0.0.1
DatabaseDirectory {avdb}
Foreground yes
LogFile {self.dir}/clamd.log
PidFile {self.dir}/clamd.pid
TemporaryDirectory {tmpfs_dir("clamd")}
DisableCache true
MaxThreads 12
MaxScanSize 100M
MaxFileSize 25M
MaxRecursion 17
MaxFiles 10000
StreamMaxLength 50M
SelfCheck 0
""")
        self.proc = start(["/usr/sbin/clamd", "-c", conf], os.path.join(self.dir, "out.log"))
        wait_port(self.port, banner=False, proc=self.proc, timeout=300)

    def instream(self, data):
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as s:
            s.sendall(b"zINSTREAM\0")
            for i in range(0, len(data), 65536):
                chunk = data[i:i + 65536]
                s.sendall(len(chunk).to_bytes(4, "big") + chunk)
            s.sendall(b"\0\0\0\0")
            out = b""
            while not out.endswith(b"\0"):
                b = s.recv(4096)
                if not b:
                    break
                out += b
            return out.rstrip(b"\0").decode()


class ClamavMilter:
    def __init__(self, root, clamd):
        self.dir = os.path.join(root, "clamav-milter")
        os.makedirs(self.dir)
        self.port = free_port()
        conf = os.path.join(self.dir, "clamav-milter.conf")
        with open(conf, "w") as f:
            f.write(f"""MilterSocket inet:{self.port}@127.0.0.1
ClamdSocket tcp:127.0.0.1:{clamd.port}
Foreground yes
User root
PidFile {self.dir}/pid
TemporaryDirectory {tmpfs_dir("clamav-milter")}
LogFile {self.dir}/clamav-milter.log
OnClean Accept
OnInfected Reject
OnFail Defer
AddHeader Replace
MaxFileSize 25M
ReadTimeout 120
""")
        self.proc = start(["/usr/sbin/clamav-milter", "-c", conf], os.path.join(self.dir, "out.log"))
        wait_port(self.port, banner=False, proc=self.proc)


class Redis:
    """A private redis-server for rspamd's classifier (nothing saved)."""

    def __init__(self, root):
        self.dir = os.path.join(root, "redis")
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = start(["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--dir", self.dir],
                          os.path.join(self.dir, "redis.log"))
        wait_port(self.port, banner=False, proc=self.proc)


class Rspamd:
    def __init__(self, root, dns, redis, train):
        self.dir = os.path.join(root, "rspamd")
        for d in ("local.d", "override.d", "run", "log"):
            os.makedirs(os.path.join(self.dir, d))
        db = self.db = os.path.join(CACHE, "rspamd-db")
        os.makedirs(db, exist_ok=True)
        self.port = free_port()
        self.controller = free_port()
        self.redis = redis
        ld, od = os.path.join(self.dir, "local.d"), os.path.join(self.dir, "override.d")
        w = lambda d, n, t: open(os.path.join(d, n), "w").write(t)
        # Loopback is the outside world here, as for facteur.
        w(ld, "options.inc", f"""dns {{ nameserver = ["127.0.0.1:{dns.port}"]; timeout = 1s; retransmits = 1; }}
local_addrs = "192.0.2.0/24";
hs_cache_dir = "{db}";
""")
        w(ld, "logging.inc", 'level = "warning";\n')
        # The classifier, in Redis like every rspamd statistics backend.
        w(ld, "redis.conf", f'servers = "127.0.0.1:{redis.port}";\n')
        w(ld, "classifier-bayes.conf", "min_learns = 50;\nautolearn = false;\n")
        # Its symbols in the message, as facteur's X-Spam-Status has them.
        w(ld, "milter_headers.conf", 'use = ["x-spamd-result"];\nskip_local = false;\n')
        # Everything is accepted and tagged, as for facteur.
        w(ld, "actions.conf", "reject = 1000;\nadd_header = 6;\ngreylist = null;\nrewrite_subject = null;\n")
        for mod in ("rbl", "surbl", "emails", "fuzzy_check", "asn", "dcc", "rspamd_update",
                    "url_redirector", "greylist", "neural", "reputation", "ratelimit", "history_redis",
                    "mx_check", "replies", "clickhouse", "elastic", "metadata_exporter", "bimi"):
            w(ld, mod + ".conf", "enabled = false;\n")
        w(od, "worker-proxy.inc", f"""bind_socket = "127.0.0.1:{self.port}";
milter = yes;
timeout = 120s;
upstream "local" {{ default = yes; self_scan = yes; }}
count = 2;
""")
        # The controller only takes the training (rspamc learn_*) before the runs.
        w(od, "worker-controller.inc", f"""bind_socket = "127.0.0.1:{self.controller}";
secure_ip = "127.0.0.1";
count = 1;
""")
        w(od, "worker-normal.inc", "enabled = false;\n")
        self.proc = start(["/usr/bin/rspamd", "-f", "-i", "-u", "root", "-g", "root",
                           "-c", "/etc/rspamd/rspamd.conf",
                           "--var=CONFDIR=/etc/rspamd", "--var=LOCAL_CONFDIR=" + self.dir,
                           "--var=RUNDIR=" + os.path.join(self.dir, "run"),
                           "--var=DBDIR=" + db, "--var=LOGDIR=" + os.path.join(self.dir, "log")],
                          os.path.join(self.dir, "out.log"))
        wait_port(self.port, banner=False, proc=self.proc)
        wait_port(self.controller, banner=False, proc=self.proc)
        spam = [m["path"] for m in train if m["label"] == "spam"]
        ham = [m["path"] for m in train if m["label"] == "ham"]
        t0 = time.time()
        for verb, files in (("learn_spam", spam), ("learn_ham", ham)):
            for i in range(0, len(files), 200):
                r = subprocess.run(["/usr/bin/rspamc", "-h", "127.0.0.1:%d" % self.controller,
                                    "-n", "4", verb] + files[i:i + 200],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError("rspamc %s: %s" % (verb, (r.stderr or r.stdout)[-500:]))
        self.learn_note = "learned %d spam + %d ham in %.1f s" % (len(spam), len(ham), time.time() - t0)

    def wait_compiled(self):
        """Until rspamd's hs_helper has written nothing to its cache for 20 s."""
        t0 = time.time()
        while time.time() - t0 < 1200:
            newest = max([os.stat(os.path.join(self.db, n)).st_mtime for n in os.listdir(self.db)] or [0])
            if time.time() - newest > 20 and time.time() - t0 > 20:
                return
            time.sleep(2)

    def log(self):
        try:
            return open(os.path.join(self.dir, "log", "rspamd.log"), errors="replace").read()
        except OSError:
            return ""


class Postfix:
    name = "postfix+rspamd+clamav"

    def __init__(self, root, sink, rspamd, milter, clamd):
        self.dir = os.path.join(root, "postfix")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.others = [rspamd, milter, clamd, rspamd.redis]
        os.makedirs(self.conf)
        self.port = free_port()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 192.0.2.0/24
relay_domains = example.net
relayhost = [127.0.0.1]:{sink.port}
maillog_file = {self.dir}/maillog
maillog_file_prefixes = {self.dir}
smtpd_banner = $myhostname ESMTP
message_size_limit = 52428800
default_destination_concurrency_limit = 20
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
local_recipient_maps =
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
smtpd_milters = inet:127.0.0.1:{rspamd.port}, inet:127.0.0.1:{milter.port}
non_smtpd_milters =
milter_protocol = 6
milter_default_action = tempfail
milter_mail_macros = i {{mail_addr}} {{client_addr}} {{client_name}} {{auth_authen}}
""")
        master = open("/etc/postfix/master.cf").read().splitlines()
        out = []
        for line in master:
            if line.startswith("smtp ") and " inet " in line:
                line = "127.0.0.1:%d inet n - n - - smtpd" % self.port
            else:
                parts = line.split()
                if len(parts) >= 8 and not line.startswith((" ", "\t", "#")) and parts[4] == "y":
                    parts[4] = "n"
                    line = " ".join(parts)
            out.append(line)
        open(os.path.join(self.conf, "master.cf"), "w").write("\n".join(out) + "\n")
        os.makedirs(self.queue)
        subprocess.run(["postfix", "-c", self.conf, "check"])
        if subprocess.run(["postfix", "-c", self.conf, "start"]).returncode != 0:
            raise RuntimeError("postfix did not start: see %s/maillog" % self.dir)
        self.started = True
        wait_port(self.port)

    def master_pid(self):
        try:
            return int(open(os.path.join(self.queue, "pid", "master.pid")).read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def roots(self):
        r = [o.proc.pid for o in self.others]
        mp = self.master_pid()
        return r + ([mp] if mp else [])

    def parts(self):
        mp = self.master_pid()
        return {"postfix": [mp] if mp else [], "rspamd": [self.others[0].proc.pid],
                "clamav-milter": [self.others[1].proc.pid], "clamd": [self.others[2].proc.pid],
                "redis": [self.others[3].proc.pid]}

    def queue_empty(self):
        for q in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _, _, files in os.walk(os.path.join(self.queue, q)):
                if files:
                    return False
        return True

    def stop(self):
        if getattr(self, "started", False):
            subprocess.run(["postfix", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.started = False


def measure(mta, sink, msgs):
    sink.clear()
    mem = MemPeak(mta.roots)
    c0 = cpu_seconds(mta.roots())
    p0 = {k: cpu_seconds(v) for k, v in mta.parts().items()}
    s0 = os.times()
    t0 = time.time()
    t_acc, codes = send_all(mta.port, msgs, SESSIONS)
    s1 = os.times()
    ok = codes.get(250, 0)
    # Until the sink has them all and the queue is empty; a minute without
    # progress is a failure (deferred mail), reported below.
    last, last_t = -1, time.time()
    while sink.count() < ok or not mta.queue_empty():
        got = sink.count()
        if got != last:
            last, last_t = got, time.time()
        elif time.time() - last_t > 60:
            break
        time.sleep(0.02)
    t_dlv = time.time() - t0
    cpu = cpu_seconds(mta.roots()) - c0
    parts = {k: (cpu_seconds(v) - p0[k]) * 1000 / len(msgs) for k, v in mta.parts().items()}
    sender = (s1.user + s1.system - s0.user - s0.system) * 1000 / len(msgs)
    peak = mem.stop()
    got = sink.count()
    mta.last_delivered = sink.one()
    # The classifiers' symbols in the delivered messages' headers (both
    # systems list their symbols there): proof that each one classified.
    bayes = sink.headers_matching(rb"BAYES_")
    n = len(msgs)
    if ok != n or got < ok:
        print("  warning: %s: replies %s, sink has %d of %d" % (mta.name, codes, got, n), flush=True)
    return {"acc": n / t_acc, "dlv": got / t_dlv, "cpu_ms": cpu * 1000 / n, "mb": peak,
            "parts": parts, "sender_ms": sender, "bayes": bayes}


def added_headers(raw):
    names = []
    # smtp-sink's dump: LF line ends, its own X-Client-* fields first.
    for line in raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].split(b"\n"):
        name = line.split(b":", 1)[0].decode(errors="replace")
        if line[:1] not in (b" ", b"\t") and re.match(r"(?i)x-spam|x-virus|authentication-results|x-rspamd", name):
            names.append(name)
    return ", ".join(sorted(set(names))) or "none"


# ---------------------------------------------------------------- 3. spamd

class Spamd:
    def __init__(self, root):
        self.dir = os.path.join(root, "spamd")
        site = os.path.join(self.dir, "site")
        os.makedirs(os.path.join(self.dir, "home"))
        shutil.copytree("/etc/spamassassin", site)
        with open(os.path.join(site, "zz_bench.cf"), "w") as f:
            f.write("use_bayes 0\nbayes_auto_learn 0\nskip_rbl_checks 1\n"
                    "dns_available no\nuse_razor2 0\nuse_pyzor 0\n")
        subprocess.run(["chown", "-R", "nobody", self.dir], check=True)
        self.port = free_port()
        self.proc = start(["/usr/sbin/spamd", "-L", "-x", "-u", "nobody", "-H", os.path.join(self.dir, "home"),
                           "-C", "/usr/share/spamassassin", "--siteconfigpath=" + site,
                           "-m", "2", "--min-children=2", "--max-spare=2", "--min-spare=2",
                           "-i", "127.0.0.1", "-p", str(self.port), "-s", "stderr",
                           "-r", os.path.join(self.dir, "spamd.pid")],
                          os.path.join(self.dir, "spamd.log"))
        wait_port(self.port, banner=False, proc=self.proc, timeout=300)

    def check(self, data, verb="CHECK"):
        body = data
        req = (verb.encode() + b" SPAMC/1.5\r\nContent-length: %d\r\nUser: nobody\r\n\r\n" % len(body)) + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=600) as s:
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                out += b
        return out

    def measure(self, msgs, clients):
        lock = threading.Lock()
        nxt, bad = [0], [0]

        def worker():
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(msgs):
                    return
                out = self.check(msgs[i]["data"])
                if b"EX_OK" not in out.split(b"\r\n", 1)[0]:
                    with lock:
                        bad[0] += 1

        mem = MemPeak(lambda: [self.proc.pid])
        c0 = cpu_seconds([self.proc.pid])
        t0 = time.time()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t = time.time() - t0
        cpu = cpu_seconds([self.proc.pid]) - c0
        if bad[0]:
            print("  warning: spamd: %d answers not EX_OK" % bad[0])
        return {"acc": len(msgs) / t, "cpu_ms": cpu * 1000 / len(msgs), "mb": mem.stop()}


# ---------------------------------------------------------------- main

def fmt_row(name, r):
    dlv = "%9.1f" % r["dlv"] if "dlv" in r else "%9s" % "-"
    return "%-24s %9.1f %s %10.2f %9.0f" % (name, r["acc"], dlv, r["cpu_ms"], r["mb"])


def main():
    if os.geteuid() != 0:
        sys.exit("run as root (Postfix's private instance, clamd and spamd need it)")
    for prog in ("appliance/facteur", "appliance/facteurctl", "filter/av_scan",
                 "tests/bench/filter/rules_bench"):
        if not os.access(os.path.join(BUILD, prog), os.X_OK):
            sys.exit("%s/%s missing: build first (make, and make tests/bench/filter/rules_bench)"
                     % (BUILD, prog))
    msgs, everything = load_messages()
    if not msgs:
        sys.exit("no messages in " + CORPUS)
    nbytes = sum(len(m["data"]) for m in msgs)
    # The classifier learns a quarter of the messages (every fourth).
    train = everything[::4]
    print("filter benchmark: %d messages (%s), %.1f MB, from %s; %d sessions, %d round(s)" %
          (len(msgs), ", ".join("%d %s" % (sum(1 for m in msgs if m["label"] == l), l)
                                 for l in sorted({m["label"] for m in msgs})),
           nbytes / 1e6, CORPUS, SESSIONS, ROUNDS), flush=True)
    root = tempfile.mkdtemp(prefix="facteur-fbench-")
    os.chmod(root, 0o755)
    os.makedirs(CACHE, exist_ok=True)
    pfx = None
    results = {}
    lines = []

    def out(s=""):
        print(s, flush=True)

    def on_signal(signo, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        avdb = make_av_db(root)
        os.chmod(avdb, 0o755)
        dns = Resolver(root)
        sink = Sink(root)
        if PARTS & {"1", "2"}:
            fct = Facteur(root, sink, dns, avdb, train) if "1" in PARTS else None
            if fct:
                out("facteur: rules, ClamAV, classifier (%s), SPF/DKIM/DMARC; ready" % fct.learn_note)
            if "2" in PARTS:
                clamd = Clamd(root, avdb)
                milter = ClamavMilter(root, clamd)
                rsp = Rspamd(root, dns, Redis(root), train)
                pfx = Postfix(root, sink, rsp, milter, clamd)
                out("postfix+rspamd+clamav-milter: started; rspamd's classifier %s" % rsp.learn_note)
            mtas = [m for m in (fct, pfx) if m]
            # Warm up: rspamd compiles its Hyperscan databases in the
            # background at its first start; both see the messages once.
            for mta in mtas:
                measure(mta, sink, msgs[:200])
            if pfx:
                rsp.wait_compiled()
                measure(pfx, sink, msgs[:200])
            runs = {m.name: [] for m in mtas}
            for i in range(ROUNDS):
                for mta in (mtas if i % 2 == 0 else mtas[::-1]):
                    r = measure(mta, sink, msgs)
                    runs[mta.name].append(r)
                    out("  round %d %-22s acc %7.1f/s dlv %7.1f/s cpu %6.2f ms/msg pss %5.0f MB%s"
                        " (sender %.2f ms/msg; BAYES_ in %d)" %
                        (i + 1, mta.name, r["acc"], r["dlv"], r["cpu_ms"], r["mb"],
                         "".join(" %s %.2f" % kv for kv in r["parts"].items()) and
                         " [" + ", ".join("%s %.2f" % kv for kv in r["parts"].items()) + "]",
                         r["sender_ms"], r["bayes"]))
            for name, rs in runs.items():
                results[name] = {k: statistics.median(r[k] for r in rs) for k in ("acc", "dlv", "cpu_ms", "mb")}
            if fct:
                st = fct.stats()
                out("  facteur: %d spam, %d ham, classifier scored %d (counters since start)" %
                    (st.get("filter_spam", 0), st.get("filter_ham", 0), st.get("bayes_classified", 0)))
            for mta in mtas:
                out("  %s added: %s" % (mta.name, added_headers(mta.last_delivered)))
        if "3" in PARTS:
            spamd = Spamd(root)
            n = int(os.environ.get("BENCH_SPAMD_MESSAGES", "0")) or len(msgs)
            sub = msgs[:: max(1, len(msgs) // n)][:n]
            spamd.measure(sub[:10], 2)  # warm-up
            out("spamd: %d messages, 2 children, 4 clients (this is the slow part)" % len(sub))
            results["spamd"] = spamd.measure(sub, 4)
            results["spamd"]["n"] = len(sub)
            spam = [m for m in sub if m["label"] == "spam"] or sub
            ans = spamd.check(spam[0]["data"], "SYMBOLS").decode(errors="replace")
            hdr, _, body = ans.partition("\r\n\r\n")
            score = re.search(r"Spam: \S+ ; (\S+)", hdr)
            out("  spamd on %s: score %s, %d rules hit" % (os.path.basename(spam[0]["path"]),
                                                          score.group(1) if score else "?",
                                                          len([x for x in body.strip().split(",") if x])))
            os.killpg(spamd.proc.pid, signal.SIGTERM)
            spamd.proc.wait()
        if "4" in PARTS:
            clamd_av = Clamd(root, avdb) if "2" not in PARTS else clamd
            files = os.path.join(root, "msgfiles")
            os.makedirs(files)
            paths = []
            for i, m in enumerate(msgs):
                p = os.path.join(files, "%05d.eml" % i)
                open(p, "wb").write(m["data"])
                paths.append(p)
            av = {}
            for rnd in range(ROUNDS):
                c0 = cpu_seconds([clamd_av.proc.pid])
                t0 = time.time()
                for m in msgs:
                    r = clamd_av.instream(m["data"])
                    if not r.endswith("OK"):
                        out("  clamd: %s" % r)
                t = time.time() - t0
                av.setdefault("clamd_mbs", []).append(nbytes / t / 1e6)
                av.setdefault("clamd_cpu", []).append((cpu_seconds([clamd_av.proc.pid]) - c0) * 1000 / len(msgs))
                t0 = time.time()
                # Peak RSS by time(1): a child of this process would count
                # the forked copy of the Python process before its exec.
                maxrss = os.path.join(root, "av_scan.maxrss")
                # The names in a file, as clamd gets its data over a socket:
                # 3,046 names on av_scan's command line are on its stack.
                listf = os.path.join(root, "av_scan.list")
                with open(listf, "w") as lf:
                    lf.write("".join(p + "\n" for p in paths))
                avconf = os.path.join(root, "av_scan.conf")
                with open(avconf, "w") as cf:
                    cf.write("log_level = warn\n# as clamd's DisableCache true\nav_cache = no\n")
                p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", maxrss,
                                    os.path.join(BUILD, "filter", "av_scan"), "-c", avconf,
                                    "-d", avdb, "-t", "-f", listf],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                err = p.stderr.decode()
                mm = re.search(r"in ([0-9.]+) s: ([0-9.]+) MB/s; ([0-9.]+) s CPU", err)
                if not mm:
                    raise RuntimeError("av_scan: " + err[-500:])
                av.setdefault("fct_mbs", []).append(float(mm.group(2)))
                av.setdefault("fct_cpu", []).append(float(mm.group(3)) * 1000 / len(msgs))
                av.setdefault("fct_rss", []).append(int(open(maxrss).read().split()[-1]) / 1024)
            av = {k: statistics.median(v) for k, v in av.items()}
            av["clamd_rss"] = 0
            for line in open("/proc/%d/status" % clamd_av.proc.pid):
                if line.startswith("VmHWM:"):
                    av["clamd_rss"] = int(line.split()[1]) / 1024
            results["av"] = av
        if "5" in PARTS:
            conf = os.path.join(root, "rules_bench.conf")
            with open(conf, "w") as f:
                f.write("log_level = warn\nspool_directory = %s/rb-spool\nfilter_rules_cache = %s\n"
                        % (root, os.path.join(CACHE, "rules-cache")))
            listf = [m["path"] for m in msgs]
            r = subprocess.run([os.path.join(BUILD, "tests", "bench", "filter", "rules_bench"), "-c", conf,
                                "-r", str(max(5, ROUNDS))] + listf, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("rules_bench: " + r.stderr[-1000:])
            results["rules"] = {l.split()[0]: float(l.split()[1]) for l in r.stdout.splitlines() if l.strip()}
    except KeyboardInterrupt:
        out("interrupted")
        return 1
    finally:
        if pfx:
            pfx.stop()
        stop_all()
        shutil.rmtree(root, ignore_errors=True)
        for d in scratch:
            shutil.rmtree(d, ignore_errors=True)

    out()
    out("%-24s %9s %9s %10s %9s" % ("system", "acc msg/s", "dlv msg/s", "CPU ms/msg", "MB (PSS)"))
    for name in ("facteur", "postfix+rspamd+clamav"):
        if name in results:
            out(fmt_row(name, results[name]))
    if "spamd" in results:
        out(fmt_row("spamd (%d msgs)" % results["spamd"]["n"], results["spamd"]))
    if "av" in results:
        a = results["av"]
        out()
        out("antivirus, %d whole messages, one client:" % len(msgs))
        out("  facteur av_scan  %6.2f MB/s  %5.2f ms CPU/msg  RSS %4.0f MB" %
            (a["fct_mbs"], a["fct_cpu"], a["fct_rss"]))
        out("  clamd INSTREAM   %6.2f MB/s  %5.2f ms CPU/msg  RSS %4.0f MB" %
            (a["clamd_mbs"], a["clamd_cpu"], a["clamd_rss"]))
        out("  ratio MB/s facteur/clamd: %.2f, RSS facteur/clamd: %.2f" %
            (a["fct_mbs"] / a["clamd_mbs"], a["fct_rss"] / a["clamd_rss"] if a["clamd_rss"] else 0))
    if "rules" in results:
        r = results["rules"]
        out()
        out("rule matching, %d messages (%.1f MB given to Hyperscan), CPU per message:" %
            (r["messages"], r["hyperscan_bytes"] / 1e6))
        out("  facteur pipeline (MIME + rules)  %.3f ms" % r["pipeline_ms_per_msg"])
        out("  facteur rules engine             %.3f ms (scanning %.3f, metas and the "
            "confirmations they ask for %.3f)" %
            (r["rules_ms_per_msg"], r["rules_scan_ms_per_msg"], r["rules_meta_ms_per_msg"]))
        out("  bare hs_scan on the same data    %.3f ms" % r["hyperscan_ms_per_msg"])
        # The whole engine: sub-rules are confirmed when the metas need them.
        out("  rule scanning / bare Hyperscan speed: %.2f (scanning alone: %.2f)" %
            (r["ratio_hyperscan_over_rules"], r["ratio_hyperscan_over_scan"]))
    out()
    if "facteur" in results and "spamd" in results:
        out("ratio facteur/spamd (msg/s): %.1f" % (results["facteur"]["acc"] / results["spamd"]["acc"]))
    if "facteur" in results and "postfix+rspamd+clamav" in results:
        f, p = results["facteur"], results["postfix+rspamd+clamav"]
        out("ratio facteur/postfix+rspamd+clamav: accepted %.2f, delivered %.2f, CPU per message %.2f" %
            (f["acc"] / p["acc"], f["dlv"] / p["dlv"], p["cpu_ms"] / f["cpu_ms"]))
        out("filter ratio facteur/postfix+rspamd+clamav: %.2f" %
            min(f["acc"] / p["acc"], f["dlv"] / p["dlv"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
