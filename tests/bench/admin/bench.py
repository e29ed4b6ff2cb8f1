#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Directory administration benchmark: facteurctl import and export of a
CSV file of accounts, as a migration of a whole establishment does it.

A fresh directory gets 10 local domains and 3 profiles; the file has
ACCOUNTS accounts spread over them (address, display name, an argon2id
password_hash made here with random salt and sum — the importer checks
their form, never recomputes them — a profile for two thirds of them,
one in fifty disabled).  Measured, wall clock of facteurctl:
  1. the import into the empty directory (every account created);
  2. the same file again (every account unchanged: the lookups alone);
  3. export of every account, then import of the export (round trip:
     every account unchanged, checked);
  4. PLAIN accounts with plain passwords, hashed with argon2id (t=2,
     m=19 MiB) by facteurctl's worker threads: the cost per password that
     the documentation announces.
Each import's summary line is checked against what the file must do.

The last line: `csv import: N accounts in X.X s` (step 1).

Usage: tests/bench/admin/run.sh [BUILDDIR]
Environment: BENCH_ACCOUNTS (100000), BENCH_PLAIN (200), BENCH_KEEP=1 (keep
the temporary directory).
"""
import base64
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100000"))
PLAIN = int(os.environ.get("BENCH_PLAIN", "200"))
DOMAINS = [f"dept{i}.univ.test" for i in range(10)]
PROFILES = ["staff", "student", "guest"]


def builddir():
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.abspath(os.path.join(here, "..", "..", ".."))


def b64(n, rnd):
    return base64.b64encode(rnd.randbytes(n)).decode().rstrip("=")


def fake_hash(rnd):
    # The shape of libargon2's encoding, with the account parameters.
    return f"$argon2id$v=19$m=19456,t=2,p=1${b64(16, rnd)}${b64(32, rnd)}"


def write_accounts(path, n, rnd, plain=False):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["address", "name", "password" if plain else "password_hash", "profile",
                    "enabled"])
        for i in range(n):
            d = DOMAINS[i % len(DOMAINS)]
            secret = f"Pw-{i}-{rnd.randrange(10**9)}" if plain else fake_hash(rnd)
            w.writerow([f"user{i:06d}@{d}", f"User {i}, Dept {i % len(DOMAINS)}", secret,
                        PROFILES[i % 3] if i % 3 != 2 else "",
                        "no" if i % 50 == 49 else "yes"])


def run(ctl, conf, *args):
    t = time.monotonic()
    r = subprocess.run([ctl, "-c", conf] + list(args), capture_output=True, text=True,
                       timeout=3600)
    elapsed = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"facteurctl {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout, elapsed


def expect(summary, **counts):
    first = summary.splitlines()[0]
    for k, v in counts.items():
        if f"{k} {v}" not in first:
            sys.exit(f"unexpected summary (wanted {k} {v}): {first}")


def main():
    ctl = os.path.join(builddir(), "appliance", "facteurctl")
    if not os.access(ctl, os.X_OK):
        sys.exit(f"{ctl}: not built")
    tmp = tempfile.mkdtemp(prefix="facteur-bench-admin-")
    rnd = random.Random(42)
    try:
        conf = os.path.join(tmp, "facteur.conf")
        with open(conf, "w") as f:
            f.write(f"spool_directory = {tmp}/spool\n"
                    f"directory_database = {tmp}/directory.db\n"
                    "mail_owner = nobody\n")
        for d in DOMAINS:
            run(ctl, conf, "domain", "add", d)
        for p in PROFILES:
            run(ctl, conf, "profile", "add", p, "--quota", "5G")
        accounts = os.path.join(tmp, "accounts.csv")
        write_accounts(accounts, ACCOUNTS, rnd)
        size = os.path.getsize(accounts)
        print(f"file: {ACCOUNTS} accounts, {size / 1e6:.1f} MB, {len(DOMAINS)} domains", flush=True)

        out, t_import = run(ctl, conf, "import", "accounts", accounts)
        expect(out, created=ACCOUNTS, errors=0)
        print(f"import into an empty directory: {t_import:.1f} s, "
              f"{ACCOUNTS / t_import:,.0f} accounts/s", flush=True)
        print(f"directory: {os.path.getsize(os.path.join(tmp, 'directory.db')) / 1e6:.1f} MB",
              flush=True)

        out, t_again = run(ctl, conf, "import", "accounts", accounts)
        expect(out, unchanged=ACCOUNTS, created=0, updated=0)
        print(f"same file again (unchanged): {t_again:.1f} s, "
              f"{ACCOUNTS / t_again:,.0f} accounts/s", flush=True)

        exported = os.path.join(tmp, "export.csv")
        _, t_export = run(ctl, conf, "export", "accounts", "-o", exported)
        with open(exported, newline="") as f:
            rows = sum(1 for _ in csv.reader(f)) - 1
        if rows != ACCOUNTS:
            sys.exit(f"export has {rows} accounts, wanted {ACCOUNTS}")
        out, t_round = run(ctl, conf, "import", "accounts", exported)
        expect(out, unchanged=ACCOUNTS, created=0, updated=0)
        print(f"export: {t_export:.1f} s; import of the export (round trip, unchanged): "
              f"{t_round:.1f} s", flush=True)

        if PLAIN > 0:
            plain = os.path.join(tmp, "plain.csv")
            write_accounts(plain, PLAIN, rnd, plain=True)
            # Other addresses than the first file's: the same local parts in another domain.
            run(ctl, conf, "domain", "add", "plain.univ.test")
            with open(plain) as f:
                text = f.read()
            for d in DOMAINS:
                text = text.replace(f"@{d},", "@plain.univ.test,")
            with open(plain, "w") as f:
                f.write(text)
            out, t_plain = run(ctl, conf, "import", "accounts", plain)
            expect(out, created=PLAIN, errors=0)
            threads = os.cpu_count()
            print(f"plain passwords: {PLAIN} hashed in {t_plain:.1f} s with {threads} threads, "
                  f"{t_plain / PLAIN * 1000:.0f} ms each, "
                  f"{ACCOUNTS * t_plain / PLAIN / 60:.0f} min for {ACCOUNTS}", flush=True)

        print(f"csv import: {ACCOUNTS} accounts in {t_import:.1f} s")
    finally:
        if os.environ.get("BENCH_KEEP") == "1":
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
