#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Relay benchmark: facteur against Postfix on this machine, in one run.

Both relay to the same smtp-sink (which dumps every message to a file so
deliveries can be counted).  Postfix 3.7 runs from a private configuration
in a temporary directory: its own queue, relayhost [127.0.0.1]:SINK, default
durability (one fsync per message), default_destination_concurrency_limit
20.  facteur runs with its defaults (group commit with syncfs), relayhost
the same sink, destination_concurrency_limit 20.

For each message size (2 KB, 50 KB, 1 MB) and number of smtp-source sessions
(1, 16, 64) the two are measured alternately: "accepted" is messages per
second as seen by smtp-source (every 250 after DATA), "delivered" is
messages per second until the sink holds them all.  Then the RSS growth of
smtpd for 1,000 idle SMTP connections.  The last line is the ratio of the
headline cell (2 KB, 16 sessions), the median of three alternating runs.
"""
import glob
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                        os.path.join(os.path.dirname(__file__), "..", "..", "..", "build"))
SIZES = [("2KB", 2048, 2000), ("50KB", 51200, 600), ("1MB", 1048576, 120)]
SESSIONS = [1, 16, 64]
HEADLINE_RUNS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d never answered" % port)


class Sink:
    def __init__(self, root):
        self.dir = os.path.join(root, "sink")
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["/usr/sbin/smtp-sink", "-u", "root", "-R", self.dir, "-d", "%Y%m%d%H/%M.",
             "127.0.0.1:%d" % self.port, "2000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def count(self):
        return sum(len(files) for _, _, files in os.walk(self.dir))

    def clear(self):
        for d in os.listdir(self.dir):
            shutil.rmtree(os.path.join(self.dir, d), ignore_errors=True)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Facteur:
    name = "facteur"

    def __init__(self, root, sink_port):
        self.dir = os.path.join(root, "facteur")
        os.makedirs(self.dir)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "facteur.conf")
        with open(self.conf, "w") as f:
            f.write("spool_directory = %s/spool\n" % self.dir)
            f.write("daemon_directory = %s/mta\n" % BUILD)
            f.write("mail_owner = nobody\nmyhostname = bench.facteur.test\n")
            f.write("smtp_listen = 127.0.0.1:%d\nsubmission_listen =\nsmtps_listen =\n" % self.port)
            f.write("relayhost = [127.0.0.1]:%d\nsmtp_tls_policy = none\n" % sink_port)
            f.write("message_size_limit = 50m\nlog_level = warn\n")
        self.log = open(os.path.join(self.dir, "master.log"), "w")
        self.proc = subprocess.Popen([os.path.join(BUILD, "appliance", "facteur"), "-f", "-c", self.conf],
                                     stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def queue_empty(self):
        spool = os.path.join(self.dir, "spool")
        return not any(os.listdir(os.path.join(spool, q)) for q in ("incoming", "active", "deferred"))

    def smtpd_pid(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", "mta/smtpd"],
                             capture_output=True, text=True).stdout.split()
        return int(out[0])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


class Postfix:
    name = "postfix"

    def __init__(self, root, sink_port):
        self.dir = os.path.join(root, "postfix")
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
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
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink_port}
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
""")
        master = open("/etc/postfix/master.cf").read().splitlines()
        out = []
        for line in master:
            if line.startswith("smtp ") and " inet " in line:
                line = "127.0.0.1:%d inet n - n - - smtpd" % self.port
            else:
                parts = line.split()
                # No chroot: the private instance has no chroot tree.
                if len(parts) >= 8 and not line.startswith((" ", "\t", "#")) and parts[4] == "y":
                    parts[4] = "n"
                    line = " ".join(parts)
            out.append(line)
        open(os.path.join(self.conf, "master.cf"), "w").write("\n".join(out) + "\n")
        os.makedirs(self.queue)
        subprocess.run(["postfix", "-c", self.conf, "check"])
        if subprocess.run(["postfix", "-c", self.conf, "start"]).returncode != 0:
            sys.exit("postfix did not start: see %s/maillog" % self.dir)
        wait_port(self.port)

    def queue_empty(self):
        for q in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.queue, q)):
                if files:
                    return False
        return True

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(1)


def run_cell(mta, sink, size, count, sessions):
    sink.clear()
    start = time.time()
    proc = subprocess.run(["smtp-source", "-A", "-d", "-s", str(sessions), "-m", str(count),
                           "-l", str(size), "-f", "bench@example.org", "-t", "sink@example.net",
                           "127.0.0.1:%d" % mta.port], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    accepted_time = time.time() - start
    deadline = time.time() + 600
    while (sink.count() < count or not mta.queue_empty()) and time.time() < deadline:
        time.sleep(0.02)
    delivered_time = time.time() - start
    got = sink.count()
    if proc.returncode != 0 or got < count:
        print("  warning: %s %d sessions %d bytes: smtp-source rc=%d, sink has %d/%d %s" %
              (mta.name, sessions, size, proc.returncode, got, count, proc.stderr[-300:]))
    return count / accepted_time, got / delivered_time


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def idle_memory(fct):
    pid = fct.smtpd_pid()
    before = rss_kb(pid)
    conns = []
    for _ in range(1000):
        s = socket.create_connection(("127.0.0.1", fct.port))
        conns.append(s)
    for s in conns:
        s.recv(200)
    time.sleep(1)
    after = rss_kb(pid)
    for s in conns:
        s.close()
    return (after - before) * 1024 / 1000


def main():
    if os.geteuid() != 0:
        sys.exit("run as root (Postfix's private instance needs it)")
    root = tempfile.mkdtemp(prefix="facteur-bench-")
    os.chmod(root, 0o755)
    sink = Sink(root)
    fct = Facteur(root, sink.port)
    pfx = Postfix(root, sink.port)
    results = {}
    try:
        # On a fresh smtpd, before any message: later, freed message buffers
        # would absorb the growth and hide the cost.
        mem = idle_memory(fct)
        # Warm both up.
        for mta in (fct, pfx):
            run_cell(mta, sink, 2048, 100, 4)
        print("%-6s %-8s | %-21s | %-21s | %s" % ("size", "sessions", "facteur acc/s dlv/s",
                                                  "postfix acc/s dlv/s", "ratio acc dlv"))
        # BENCH_CELLS="1MB:1 2KB:16" measures only those cells (for quick looks).
        only = os.environ.get("BENCH_CELLS", "").split()
        for label, size, count in SIZES:
            for sessions in SESSIONS:
                if only and "%s:%d" % (label, sessions) not in only:
                    continue
                runs = HEADLINE_RUNS if (label, sessions) == ("2KB", 16) else 1
                f_acc, f_dlv, p_acc, p_dlv = [], [], [], []
                for i in range(runs):
                    order = (fct, pfx) if i % 2 == 0 else (pfx, fct)
                    for mta in order:
                        acc, dlv = run_cell(mta, sink, size, count, sessions)
                        (f_acc if mta is fct else p_acc).append(acc)
                        (f_dlv if mta is fct else p_dlv).append(dlv)
                r = tuple(statistics.median(v) for v in (f_acc, f_dlv, p_acc, p_dlv))
                results[(label, sessions)] = r
                print("%-6s %-8d | %9.1f %11.1f | %9.1f %11.1f | %5.2f %5.2f" %
                      (label, sessions, r[0], r[1], r[2], r[3], r[0] / r[2], r[1] / r[3]), flush=True)
        print("facteur smtpd: %.1f KB of RSS per idle SMTP connection (1,000 connections)" % (mem / 1024))
    finally:
        fct.stop()
        pfx.stop()
        sink.stop()
        shutil.rmtree(root, ignore_errors=True)
    if ("2KB", 16) not in results:
        return
    f_acc, f_dlv, p_acc, p_dlv = results[("2KB", 16)]
    print("relay ratio facteur/postfix (2KB, 16 sessions): %.2f" % (min(f_acc / p_acc, f_dlv / p_dlv)))


if __name__ == "__main__":
    main()
