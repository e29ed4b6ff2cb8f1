#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""IMAP benchmark: facteur's mailbox store (lmtpd, imapd) against Dovecot 2.3
on this machine, in one run (by hand, as root; never by make check).

Both servers get the same accounts (the same SHA512-CRYPT hash), the same
messages (real ham from ../shared/corpus), the same clients:
  - LMTP: Postfix's smtp-source -L, one corpus message of ~4 KB, messages
    with one recipient (4 smtp-source processes, each to its own account)
    and with 4 recipients (-r 4); messages/s and deliveries/s, CPU of the
    server's processes per message.
  - IMAP: imapload.c (compiled here with cc -O2), SESSIONS threads, each
    with its own account pre-filled over LMTP with MESSAGES corpus
    messages, in three modes: "full" (connect, LOGIN, SELECT, FETCH 1:*
    FLAGS, FETCH of 50 headers, FETCH of a body, APPEND, UID STORE \\Seen,
    SEARCH UNSEEN, SEARCH SUBJECT|FROM, UID STORE \\Deleted, EXPUNGE,
    LOGOUT: the headline), "keep" (the same SELECT..EXPUNGE over one
    connection per session), "login" (connect, LOGIN, LOGOUT).
facteur and Dovecot alternate ROUNDS times; medians.  The last two lines:
`lmtp ratio facteur/dovecot: X.XX` (1-recipient messages/s) and
`imap ratio facteur/dovecot: X.XX` (full loops/s).  See README.
"""
import argparse
import json
import os
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CORPUS = os.path.abspath(os.path.join(SRC, "..", "shared", "corpus"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-password"
DOMAIN = "example.org"
LMTP_SPLIT = 4          # smtp-source processes (accounts) of the 1-recipient cell
LMTP_RCPTS = 4          # recipients per message of the multi-recipient cell
LMTP_SIZE = 4096        # smtp-source -l: body bytes (plus its 4 header lines)


def env_int(name, default):
    return int(os.environ.get(name, default))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("builddir", nargs="?", default=os.path.join(SRC, "build"))
    p.add_argument("-s", "--sessions", type=int, default=env_int("BENCH_SESSIONS", 16),
                   help="concurrent IMAP sessions, one account each (16)")
    p.add_argument("-r", "--rounds", type=int, default=env_int("BENCH_ROUNDS", 3),
                   help="alternating rounds; medians are reported (3)")
    p.add_argument("-m", "--messages", type=int, default=env_int("BENCH_MESSAGES", 200),
                   help="corpus messages in each IMAP account's INBOX (200)")
    p.add_argument("-n", "--loops", type=int, default=env_int("BENCH_LOOPS", 20),
                   help="full loops per session and round (20)")
    p.add_argument("--keep-loops", type=int, default=env_int("BENCH_KEEP_LOOPS", 20),
                   help="SELECT..EXPUNGE loops per session in mode keep (20)")
    p.add_argument("--login-loops", type=int, default=env_int("BENCH_LOGIN_LOOPS", 30),
                   help="logins per session in mode login (30)")
    p.add_argument("--lmtp-messages", type=int, default=env_int("BENCH_LMTP_MESSAGES", 1000),
                   help="messages per LMTP cell and round (1000)")
    p.add_argument("--lmtp-sessions", type=int, default=env_int("BENCH_LMTP_SESSIONS", 8),
                   help="smtp-source sessions (8)")
    p.add_argument("--no-tls", action="store_true",
                   help="plaintext IMAP (facteur's imapd refuses LOGIN without TLS today)")
    p.add_argument("--dovecot-defaults", action="store_true",
                   help="Dovecot's default (high-security) process settings instead of the "
                   "performance ones of its tuning guide")
    p.add_argument("--perf", action="store_true",
                   help="after the rounds, perf record -g facteur's imapd and lmtpd under load")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p.parse_args()


A = None


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- helpers

def free_port():
    """A loopback port below the ephemeral range (see tests/integration/facteur_it.py)."""
    lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    for _ in range(200):
        with socket.socket() as s:
            port = 10000 + int.from_bytes(os.urandom(2), "big") % (min(lo, 32768) - 10000)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def wait_listening(port, what, proc=None, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s: nothing listens on port %d" % (what, port))


def proc_table():
    """{pid: (ppid, cpu seconds incl. reaped children)}."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            data = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        f = data[data.rindex(")") + 2:].split()
        out[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]) / CLK_TCK)
    return out


def tree(top, table=None):
    table = table or proc_table()
    pids, todo = [], [top]
    while todo:
        p = todo.pop()
        if p in table:
            pids.append(p)
            todo += [c for c, (pp, _) in table.items() if pp == p]
    return pids


def wait_idle(server, timeout=120):
    """Until the server's processes stop using CPU (start-up work is not measured)."""
    end = time.time() + timeout
    quiet = 0
    last = tree_cpu(server.top)
    while time.time() < end and quiet < 3:
        time.sleep(0.5)
        cpu = tree_cpu(server.top)
        quiet = quiet + 1 if cpu - last < 0.02 else 0
        last = cpu


def tree_cpu(top):
    table = proc_table()
    return sum(table[p][1] for p in tree(top, table))


def memory_kb(pids):
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


def machine_busy():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) / CLK_TCK


def log_excerpt(path):
    """A server log's warnings and errors (the last 15), then its last 5 lines."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return ""
    bad = [x for x in lines if any(w in x.lower() for w in ("warn", "error", "fatal", "panic"))]
    return "\n".join(["  " + x for x in bad[-15:]] + ["  ..."] + ["  " + x for x in lines[-5:]])


def loadavg():
    return open("/proc/loadavg").read().split()[0]


class Sampler(threading.Thread):
    """Peak RSS and PSS summed over a server's processes, every 0.25 s."""

    def __init__(self, top):
        super().__init__(daemon=True)
        self.top = top
        self.peak = (0, 0)
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            rss, pss = memory_kb(tree(self.top))
            self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))
            self.halt.wait(0.25)

    def stop(self):
        self.halt.set()
        self.join()
        return self.peak


# ---------------------------------------------------------------- messages

def corpus_messages():
    """Ham from the corpus: no mbox From_ line, CRLF, no NUL, at most 64 KB."""
    ham = os.path.join(CORPUS, "ham")
    if not os.path.isdir(ham):
        sys.exit("missing %s (the corpus of ../shared/corpus)" % ham)
    out = []
    for name in sorted(os.listdir(ham)):
        data = open(os.path.join(ham, name), "rb").read()
        if data.startswith(b"From "):
            data = data.split(b"\n", 1)[1]
        data = data.replace(b"\r\n", b"\n")
        if b"\0" in data or b"\r" in data or len(data) > 65536 or b"\n\n" not in data:
            continue
        if not data.endswith(b"\n"):
            data += b"\n"
        out.append(data.replace(b"\n", b"\r\n"))
    return out


def write_pack(path, msgs):
    with open(path, "wb") as f:
        for m in msgs:
            f.write(b"%d\n" % len(m))
            f.write(m)


def imap_users():
    return ["bench%d@%s" % (i, DOMAIN) for i in range(A.sessions)]


def lmtp_users():
    return (["lmtp%d@%s" % (i, DOMAIN) for i in range(LMTP_SPLIT)] +
            ["%slmtpr@%s" % (i + 1 if i else "", DOMAIN) for i in range(LMTP_RCPTS)])


# ---------------------------------------------------------------- servers

class Facteur:
    name = "facteur"

    def __init__(self, root, build, cert, key, pwhash):
        self.dir = os.path.join(root, "facteur")
        self.spool = os.path.join(self.dir, "spool")
        daemons = os.path.join(self.dir, "daemons")
        os.makedirs(daemons)
        os.makedirs(self.spool)
        shutil.chown(self.spool, "nobody")
        for path in ("mta/smtpd", "mta/qmgr", "store/imapd", "store/lmtpd"):
            os.symlink(os.path.join(build, path), os.path.join(daemons, os.path.basename(path)))
        self.imap_port, self.lmtp_port, smtp_port = free_port(), free_port(), free_port()
        self.conf = os.path.join(self.dir, "facteur.conf")
        listen = "127.0.0.1:%d" % self.imap_port
        with open(self.conf, "w") as f:
            f.write("spool_directory = %s\n" % self.spool)
            f.write("daemon_directory = %s\n" % daemons)
            f.write("mail_owner = nobody\nmyhostname = bench.facteur.test\n")
            f.write("local_domains = %s\n" % DOMAIN)
            f.write("smtp_listen = 127.0.0.1:%d\nsubmission_listen =\nsmtps_listen =\n" % smtp_port)
            f.write("lmtp_listen = inet:127.0.0.1:%d\n" % self.lmtp_port)
            f.write("imap_listen = %s\nimaps_listen = %s\n" % (("", listen) if not A.no_tls
                                                              else (listen, "")))
            f.write("smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\n" % (cert, key))
            # smtpd runs but gets no mail here: no filter to load.
            # log_level: the default (info, one line per delivery, as Dovecot's lmtp).
            f.write("filter_enable = no\n")
            # BENCH_FACTEUR_PARAMS="imap_processes=4;lmtp_processes=4": tuning by hand.
            for kv in os.environ.get("BENCH_FACTEUR_PARAMS", "").split(";"):
                if "=" in kv:
                    f.write("%s = %s\n" % tuple(x.strip() for x in kv.split("=", 1)))
        os.chmod(self.conf, 0o644)
        self.ctl = [os.path.join(build, "appliance", "facteurctl"), "-c", self.conf]
        subprocess.run(self.ctl + ["domain", "add", DOMAIN], check=True, stdout=subprocess.DEVNULL)
        for u in imap_users() + lmtp_users():
            subprocess.run(self.ctl + ["account", "add", u], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(self.ctl + ["account", "passwd", u, "--hash", pwhash], check=True,
                           stdout=subprocess.DEVNULL)
        self.log_path = os.path.join(self.dir, "facteur.log")
        logf = open(self.log_path, "ab")
        env = dict(os.environ)
        if os.environ.get("BENCH_FACTEUR_PRELOAD"):
            # For experiments on facteur alone (a shim, a malloc): its daemons inherit it.
            env["LD_PRELOAD"] = os.environ["BENCH_FACTEUR_PRELOAD"]
        self.proc = subprocess.Popen([os.path.join(build, "appliance", "facteur"), "-f", "-c",
                                      self.conf], stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=logf, start_new_session=True, env=env)
        logf.close()
        wait_listening(self.imap_port, "facteur imapd", self.proc)
        wait_listening(self.lmtp_port, "facteur lmtpd", self.proc)
        self.top = self.proc.pid

    def daemon_pid(self, comm):
        for p in tree(self.top):
            try:
                if open("/proc/%d/comm" % p).read().strip() == comm:
                    return p
            except OSError:
                pass
        raise RuntimeError("facteur: no %s running (see %s)" % (comm, self.log_path))

    def inbox_count(self, user):
        out = subprocess.run(self.ctl + ["-j", "mailbox", "list", user], capture_output=True,
                             text=True, check=True).stdout
        for m in json.loads(out):
            if m["name"] == "INBOX":
                return m["messages"]
        return 0

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self):
        return log_excerpt(self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Dovecot:
    name = "dovecot"

    def __init__(self, root, cert, key, pwhash):
        self.dir = os.path.join(root, "dovecot")
        run = os.path.join(self.dir, "run")
        home = os.path.join(self.dir, "home")
        os.makedirs(run)
        os.makedirs(os.path.join(home, DOMAIN))
        shutil.chown(home, "nobody", "nogroup")
        shutil.chown(os.path.join(home, DOMAIN), "nobody", "nogroup")
        self.imap_port, self.lmtp_port = free_port(), free_port()
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            for u in imap_users() + lmtp_users():
                f.write("%s:{SHA512-CRYPT}%s\n" % (u, pwhash))
        os.chmod(users, 0o640)
        shutil.chown(users, "root", "dovecot")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        tls = not A.no_tls
        if A.dovecot_defaults:
            tuning = ""
        else:
            # The CPU advice of Dovecot 2.3's performance tuning guide:
            # high-performance login processes, one per core, and imap
            # processes reused for 100 sessions.
            tuning = ("  service_count = 0\n  process_min_avail = %d\n" % os.cpu_count(),
                      "  service_count = 100\n")
        with open(self.conf, "w") as f:
            f.write(f"""# Private Dovecot of tests/bench/imap.
instance_name = facteur-bench-{os.getpid()}
base_dir = {run}
protocols = imap lmtp
listen = 127.0.0.1
log_path = {self.log_path}
ssl = {"yes" if tls else "no"}
{"ssl_cert = <" + cert if tls else ""}
{"ssl_key = <" + key if tls else ""}
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {users}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={home}/%d/%n
}}
mail_location = mdbox:~/mdbox
namespace inbox {{
  inbox = yes
}}
service imap-login {{
  inet_listener imap {{
    port = {0 if tls else self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imap_port if tls else 0}
    ssl = yes
  }}
{tuning[0] if tuning else ""}}}
service imap {{
{tuning[1] if tuning else ""}}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
service auth {{
  client_limit = 4096
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
""")
        r = subprocess.run(["doveconf", "-c", self.conf, "-n"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("doveconf refuses %s: %s" % (self.conf, r.stderr))
        self.pidfile = os.path.join(run, "master.pid")
        self.top = None

    def start(self):
        # The master daemonizes: nothing of it may hold our stdout.
        subprocess.run(["dovecot", "-c", self.conf], check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 30
        while not os.path.exists(self.pidfile) and time.time() < end:
            time.sleep(0.1)
        self.top = int(open(self.pidfile).read())
        wait_listening(self.imap_port, "dovecot imap")
        wait_listening(self.lmtp_port, "dovecot lmtp")

    def inbox_count(self, user):
        out = subprocess.run(["doveadm", "-c", self.conf, "-f", "flow", "mailbox", "status",
                              "-u", user, "messages", "INBOX"], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("doveadm mailbox status %s: %s" % (user, out.stderr.strip()))
        return int(out.stdout.split("=")[1])

    def alive(self):
        if self.top is None:
            return False
        try:
            os.kill(self.top, 0)
            return True
        except ProcessLookupError:
            return False

    def log_tail(self):
        return log_excerpt(self.log_path)

    def stop(self):
        subprocess.run(["dovecot", "-c", self.conf, "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 30
        while time.time() < end and self.alive():
            time.sleep(0.2)


# ---------------------------------------------------------------- LMTP

def prefill(server, msgs):
    """MESSAGES corpus messages into each IMAP account, in the same order on both
    servers (one LMTP connection per account, one message after the other)."""
    errors = []

    def one(i, user):
        try:
            c = smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=120)
            c.ehlo_or_helo_if_needed()
            for j in range(A.messages):
                m = msgs[(i * A.messages + j) % len(msgs)]
                refused = c.sendmail("sender@example.net", [user], m)
                if refused:
                    raise RuntimeError("refused: %r" % refused)
            c.quit()
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append("%s: %s" % (user, e))
    t0 = time.time()
    cpu0 = tree_cpu(server.top)
    threads = [threading.Thread(target=one, args=(i, u)) for i, u in enumerate(imap_users())]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("%s: prefill failed: %s\n%s" % (server.name, errors[0],
                                                           server.log_tail()))
    n = A.messages * A.sessions
    secs = time.time() - t0
    return n / secs, (tree_cpu(server.top) - cpu0) / n * 1000


def smtp_source(server, count, sessions, to, rcpts=1):
    # -l, not -F: smtp-source then writes a Message-Id of its own in each
    # message, so no two are the same (with -F every message would be the
    # same bytes, and facteur's content-addressed store would keep one).
    cmd = ["smtp-source", "-L", "-d", "-s", str(sessions), "-m", str(count), "-l",
           str(LMTP_SIZE), "-f", "sender@example.net", "-t", to, "-M", "client.example.net"]
    if rcpts > 1:
        cmd += ["-r", str(rcpts)]
    return subprocess.Popen(["timeout", "600"] + cmd + ["127.0.0.1:%d" % server.lmtp_port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def lmtp_cell(server, multi):
    """(messages/s, deliveries/s, CPU ms per message, peak RSS KB, peak PSS KB)."""
    n = A.lmtp_messages
    sampler = Sampler(server.top)
    sampler.start()
    cpu0 = tree_cpu(server.top)
    t0 = time.time()
    if multi:
        procs = [smtp_source(server, n // LMTP_RCPTS, A.lmtp_sessions,
                             "lmtpr@" + DOMAIN, LMTP_RCPTS)]
        msgs, deliveries = n // LMTP_RCPTS, n // LMTP_RCPTS * LMTP_RCPTS
    else:
        per = max(1, A.lmtp_sessions // LMTP_SPLIT)
        procs = [smtp_source(server, n // LMTP_SPLIT, per, "lmtp%d@%s" % (i, DOMAIN))
                 for i in range(LMTP_SPLIT)]
        msgs = deliveries = n // LMTP_SPLIT * LMTP_SPLIT
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0 or err.strip():
            raise RuntimeError("%s: %s exited %d: %s\n%s" % (server.name, " ".join(p.args),
                                                             p.returncode, err.strip()[-500:],
                                                             server.log_tail()))
    secs = time.time() - t0
    cpu = tree_cpu(server.top) - cpu0
    rss, pss = sampler.stop()
    return msgs / secs, deliveries / secs, cpu / msgs * 1000, rss, pss


# ---------------------------------------------------------------- IMAP

def build_imapload(root):
    exe = os.path.join(root, "imapload")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe,
                    os.path.join(HERE, "imapload.c"), "-lssl", "-lcrypto"], check=True)
    return exe


def imapload(exe, server, pack, mode, loops, seed):
    cmd = ["timeout", "1200", exe, "-m", mode, "-s", str(A.sessions), "-n", str(loops),
           "-u", "bench%d@" + DOMAIN, "-w", PASSWORD, "-a", pack, "-r", str(seed)]
    if not A.no_tls:
        cmd.append("-T")
    cmd.append("127.0.0.1:%d" % server.imap_port)
    t = os.times()
    gen0 = t.children_user + t.children_system
    out = subprocess.run(cmd, capture_output=True, text=True)
    t = os.times()
    if out.returncode != 0:
        raise RuntimeError("%s: imapload failed (exit %d):\n  %s\n  %s\n%s" % (
            server.name, out.returncode, " ".join(cmd), out.stderr.strip(), server.log_tail()))
    res = {"cmd": {}, "digest": {}, "gen_cpu": t.children_user + t.children_system - gen0}
    for line in out.stdout.splitlines():
        f = line.split()
        if f[0] == "cmd":
            res["cmd"][f[1]] = (int(f[2]), float(f[3]), float(f[4]), float(f[5]))
        elif f[0] == "digest":
            res["digest"][f[1]] = (int(f[2]), f[3])
        else:
            res[f[0]] = float(f[1])
    return res


def imap_cell(exe, server, pack, mode, loops, seed):
    sampler = Sampler(server.top)
    sampler.start()
    cpu0, busy0 = tree_cpu(server.top), machine_busy()
    res = imapload(exe, server, pack, mode, loops, seed)
    cpu, busy = tree_cpu(server.top) - cpu0, machine_busy() - busy0
    rss, pss = sampler.stop()
    res["cpu_loop"] = cpu / res["loops"] * 1000
    res["cpu_cmd"] = cpu / res["commands"] * 1000
    res["rss"], res["pss"] = rss, pss
    res["server_cores"] = cpu / res["seconds"]
    res["others_cores"] = max(0.0, busy - cpu - res["gen_cpu"]) / res["seconds"]
    return res


# ---------------------------------------------------------------- perf

def perf_profile(server, what, run, root):
    """perf record on one facteur daemon while run() loads it; the top of the report."""
    pid = server.daemon_pid(what)
    # imapd and lmtpd may run workers under a supervisor: profile them all.
    pids = [str(pid)]
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            pids.append(name)
    data = os.path.join(root, "perf-%s.data" % what)
    # DWARF call graphs: the build has no frame pointers (-O2).
    perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384",
                             "-p", ",".join(pids), "-o", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        run()
    finally:
        perf.send_signal(signal.SIGINT)
        perf.wait()
    for mode, limit in (("no-children", 15), ("children", 30)):
        out = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                              "--%s" % mode, "--sort", "symbol", "--percent-limit", "1"],
                             capture_output=True, text=True).stdout
        path = os.path.join(root, "perf-%s-%s.txt" % (what, mode))
        open(path, "w").write(out)
        log("perf: facteur %s (pid %d), %s, from %s:" % (
            what, pid, "self time" if mode == "no-children" else "with callees", path))
        shown = 0
        for line in out.splitlines():
            # Named functions only: not the kernel's, not unresolved addresses.
            if (line.strip() and not line.startswith("#") and "[k]" not in line
                    and "] 0x" not in line and shown < limit):
                log("  " + " ".join(line.split()[:4 if mode == "children" else 3]))
                shown += 1


# ---------------------------------------------------------------- main

def med(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    global A
    A = parse_args()
    build = os.path.abspath(A.builddir)
    if os.geteuid() != 0:
        sys.exit("run as root (facteur's daemons and Dovecot's drop to nobody)")
    for exe in (os.path.join(build, "store", "imapd"), os.path.join(build, "store", "lmtpd"),
                os.path.join(build, "appliance", "facteurctl"), "/usr/sbin/dovecot",
                "/usr/lib/dovecot/lmtp", "/usr/sbin/smtp-source"):
        if not os.access(exe, os.X_OK):
            sys.exit("missing %s (build facteur; apt-get install dovecot-imapd dovecot-lmtpd "
                     "postfix)" % exe)
    root = tempfile.mkdtemp(prefix="facteur-ibench-")
    os.chmod(root, 0o755)
    servers = []
    try:
        log("machine: %d CPUs, load average %s; facteur build %s" % (os.cpu_count(), loadavg(),
                                                                   build))
        if A.keep:
            log("temporary directory (kept): %s" % root)
        msgs = corpus_messages()
        pack = os.path.join(root, "append.pack")
        write_pack(pack, msgs[-200:])
        cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=bench.test", "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(key, 0o644)
        pwhash = subprocess.run(["openssl", "passwd", "-6", PASSWORD], capture_output=True,
                                text=True, check=True).stdout.strip()
        exe = build_imapload(root)

        fct = Facteur(root, build, cert, key, pwhash)
        servers.append(fct)
        dov = Dovecot(root, cert, key, pwhash)
        servers.append(dov)
        dov.start()
        log("accounts: %d IMAP (one per session) + %d LMTP, SHA512-CRYPT (5000 rounds) on both; "
            "%s" % (A.sessions, len(lmtp_users()), "plaintext IMAP" if A.no_tls else
                    "IMAP over implicit TLS (P-256 certificate, full handshake per connection)"))
        log("dovecot: mdbox, %s process settings" % ("default" if A.dovecot_defaults else
                                                    "performance-guide"))

        log("prefill: %d corpus messages (%.1f KB average) into each of %d INBOXes over LMTP"
            % (A.messages, sum(len(m) for m in msgs) / len(msgs) / 1024, A.sessions))
        fill = {}
        for s in servers:
            wait_idle(s)
            fill[s.name] = prefill(s, msgs)
            log("  %-8s %7.1f msgs/s  %6.2f CPU ms/msg (one Python client per account)"
                % ((s.name,) + fill[s.name]))
        # Warm-up: caches, page cache, processes.
        for s in servers:
            imapload(exe, s, pack, "full", 2, 999)
            lmtp_cell(s, False)

        modes = [("full", A.loops), ("keep", A.keep_loops), ("login", A.login_loops)]
        results = {s.name: {"lmtp1": [], "lmtpN": [], "full": [], "keep": [], "login": []}
                   for s in servers}
        digests = {}
        mismatches = []
        log("rounds: %d, alternating; LMTP: %d messages, %d sessions; IMAP: %d sessions"
            % (A.rounds, A.lmtp_messages, A.lmtp_sessions, A.sessions))
        for r in range(A.rounds):
            order = servers if r % 2 == 0 else servers[::-1]
            for s in order:
                res = results[s.name]
                res["lmtp1"].append(lmtp_cell(s, False))
                res["lmtpN"].append(lmtp_cell(s, True))
                for mi, (mode, loops) in enumerate(modes):
                    seed = r * 10 + mi + 1
                    x = imap_cell(exe, s, pack, mode, loops, seed)
                    res[mode].append(x)
                    for k, v in x["digest"].items():
                        other = digests.setdefault((seed, mode, k), (s.name, v))
                        if other[1] != v:
                            mismatches.append("round %d %s %s: %s %s, %s %s" % (
                                r + 1, mode, k, other[0], other[1], s.name, v))
                l1, lN, full = res["lmtp1"][-1], res["lmtpN"][-1], res["full"][-1]
                log("  round %d %-8s lmtp %7.1f msgs/s %7.1f dlv/s (x%d) | imap full %6.1f "
                    "loops/s keep %7.1f cmds/s login %6.1f/s | server %.2f cores, others %.2f, "
                    "load %s" % (r + 1, s.name, l1[0], lN[1], LMTP_RCPTS, full["loops_per_second"],
                                 res["keep"][-1]["commands_per_second"],
                                 res["login"][-1]["loops_per_second"], full["server_cores"],
                                 full["others_cores"], loadavg()))
                if not s.alive():
                    raise RuntimeError("%s died:\n%s" % (s.name, s.log_tail()))

        # What the servers hold now: every delivery and every expunge counted.
        rounds_in = A.rounds + 1    # the warm-up delivered one 1-recipient cell
        problems = []
        for s in servers:
            for i in range(LMTP_SPLIT):
                want = A.lmtp_messages // LMTP_SPLIT * rounds_in
                got = s.inbox_count("lmtp%d@%s" % (i, DOMAIN))
                if got != want:
                    problems.append("%s lmtp%d: %d messages, %d expected" % (s.name, i, got, want))
            for u in lmtp_users()[LMTP_SPLIT:]:
                want = A.lmtp_messages // LMTP_RCPTS * A.rounds
                got = s.inbox_count(u)
                if got != want:
                    problems.append("%s %s: %d messages, %d expected" % (s.name, u, got, want))
            for u in imap_users():
                got = s.inbox_count(u)
                if got != A.messages:
                    problems.append("%s %s: %d messages, %d expected" % (s.name, u, got,
                                                                         A.messages))

        if A.perf:
            log("")
            perf_profile(fct, "imapd", lambda: imapload(exe, fct, pack, "full", A.loops, 77),
                         root)
            perf_profile(fct, "lmtpd", lambda: lmtp_cell(fct, False), root)

        # ------------------------------------------------ the table
        F, D = results["facteur"], results["dovecot"]
        log("")
        log("%-44s %12s %12s %8s" % ("medians of %d rounds" % A.rounds, "facteur", "dovecot",
                                     "f/d"))

        def row(label, f, d, fmt="%12.1f"):
            log("%-44s %s %s %8.2f" % (label, fmt % f, fmt % d, f / d if d else 0))

        def lm(runs, i):
            return statistics.median(x[i] for x in runs)
        row("LMTP corpus prefill (once): messages/s", fill["facteur"][0], fill["dovecot"][0])
        row("LMTP corpus prefill: server CPU ms/message", fill["facteur"][1],
            fill["dovecot"][1], "%12.3f")
        row("LMTP 1 rcpt: messages/s", lm(F["lmtp1"], 0), lm(D["lmtp1"], 0))
        row("LMTP 1 rcpt: server CPU ms/message", lm(F["lmtp1"], 2), lm(D["lmtp1"], 2), "%12.3f")
        row("LMTP %d rcpts: deliveries/s" % LMTP_RCPTS, lm(F["lmtpN"], 1), lm(D["lmtpN"], 1))
        row("LMTP %d rcpts: server CPU ms/message" % LMTP_RCPTS, lm(F["lmtpN"], 2),
            lm(D["lmtpN"], 2), "%12.3f")
        row("LMTP: peak RSS MB (all processes)", max(lm(F["lmtp1"], 3), lm(F["lmtpN"], 3)) / 1024,
            max(lm(D["lmtp1"], 3), lm(D["lmtpN"], 3)) / 1024)
        row("LMTP: peak PSS MB (all processes)", max(lm(F["lmtp1"], 4), lm(F["lmtpN"], 4)) / 1024,
            max(lm(D["lmtp1"], 4), lm(D["lmtpN"], 4)) / 1024)
        row("IMAP full: loops/s (session LOGIN..LOGOUT)", med(F["full"], "loops_per_second"),
            med(D["full"], "loops_per_second"))
        row("IMAP full: commands/s", med(F["full"], "commands_per_second"),
            med(D["full"], "commands_per_second"))
        row("IMAP full: server CPU ms/loop", med(F["full"], "cpu_loop"),
            med(D["full"], "cpu_loop"), "%12.3f")
        row("IMAP full: server CPU ms/command", med(F["full"], "cpu_cmd"),
            med(D["full"], "cpu_cmd"), "%12.3f")
        row("IMAP keep: commands/s (no connect/login)", med(F["keep"], "commands_per_second"),
            med(D["keep"], "commands_per_second"))
        row("IMAP keep: server CPU ms/command", med(F["keep"], "cpu_cmd"),
            med(D["keep"], "cpu_cmd"), "%12.3f")
        row("IMAP login: logins/s (connect+LOGIN+LOGOUT)", med(F["login"], "loops_per_second"),
            med(D["login"], "loops_per_second"))
        row("IMAP login: server CPU ms/login", med(F["login"], "cpu_loop"),
            med(D["login"], "cpu_loop"), "%12.3f")
        row("IMAP: peak RSS MB (all processes)", med(F["full"], "rss") / 1024,
            med(D["full"], "rss") / 1024)
        row("IMAP: peak PSS MB (all processes)", med(F["full"], "pss") / 1024,
            med(D["full"], "pss") / 1024)
        log("")
        log("IMAP full, per command (last round): mean / p50 / p99 latency in ms with %d "
            "sessions" % A.sessions)
        fc, dc = F["full"][-1]["cmd"], D["full"][-1]["cmd"]
        for k in fc:
            log("  %-14s facteur %7.2f %7.2f %7.2f   dovecot %7.2f %7.2f %7.2f" % (
                (k,) + tuple(x / 1000 for x in fc[k][1:]) +
                tuple(x / 1000 for x in dc.get(k, (0, 0, 0, 0))[1:])))
        log("IMAP keep, per command (last round): mean latency in ms")
        fc, dc = F["keep"][-1]["cmd"], D["keep"][-1]["cmd"]
        log("  " + "  ".join("%s %.2f/%.2f" % (k, fc[k][1] / 1000, dc.get(k, (0, 0))[1] / 1000)
                             for k in fc if k not in ("connect", "LOGIN", "LOGOUT")))
        log("SEARCH answers: %s" % ("the same on both servers in every round" if not mismatches
                                    else "DIFFER: " + "; ".join(mismatches)))
        log("mailbox contents after the run: %s" % ("as expected on both servers" if not problems
                                                   else "WRONG: " + "; ".join(problems)))
        log("machine: load average %s at the end" % loadavg())
        log("lmtp ratio facteur/dovecot: %.2f" % (lm(F["lmtp1"], 0) / lm(D["lmtp1"], 0)))
        log("imap ratio facteur/dovecot: %.2f" % (med(F["full"], "loops_per_second") /
                                                 med(D["full"], "loops_per_second")))
    finally:
        for s in servers:
            s.stop()
        if not A.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
