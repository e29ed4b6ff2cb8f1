# SPDX-License-Identifier: MIT
"""facteurctl backup and restore: an appliance's data in one archive, and
back on an empty spool.

A facteur with imapd and lmtpd gets a domain, accounts, mail delivered by
LMTP, a folder shared with an ACL and a DKIM key; the backup is taken
while it runs; the spool is then wiped and restored with facteur stopped,
and after a start the same password logs in over IMAP and finds the same
messages, the ACL and the key are back.  Refusals: a running facteur, a
spool that already holds data (unless --force), a file that is no
backup."""
import os
import shutil
import smtplib
import subprocess
import tarfile

from facteur_it import FACTEURCTL, wait_for
from test_imap import ALICE, BOB, RawIMAP, daemon_dir, imap_facteur, message  # noqa: F401


def ctl(f, *args):
    return subprocess.run([FACTEURCTL, "-c", f.conf] + list(args), capture_output=True, text=True,
                          timeout=300)


def test_backup_then_restore_on_an_empty_spool(imap_facteur, workdir):
    fx = imap_facteur()
    f = fx.f
    lmtp = os.path.join(f.spool, "run", "lmtp")
    assert wait_for(lambda: os.path.exists(lmtp)), f.log_tail()
    with smtplib.LMTP(lmtp) as c:
        for i in range(3):
            assert c.sendmail("x@far.example", [ALICE], message(f"kept-{i}", to=ALICE)) == {}
    r = ctl(f, "dkim", "keygen", "example.org", "s1")
    assert r.returncode == 0, r.stderr
    c = RawIMAP(fx.imaps_port, implicit_tls=True)
    c.login(ALICE)
    assert c.cmd("CREATE Projects")[0].split()[1] == "OK"
    assert c.cmd(f'SETACL Projects "{BOB}" lr')[0].split()[1] == "OK"
    c.close()

    # A certificate in files: they are backed up and put back, and their
    # directory keeps the running system's owner and mode.
    tls_dir = os.path.join(workdir, "tls")
    os.makedirs(tls_dir)
    cert, key = os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=mx.example.org", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=120)
    os.chmod(key, 0o644)
    os.chmod(tls_dir, 0o751)
    with open(f.conf, "a") as fp:
        fp.write(f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n")
    with open(cert, "rb") as fp:
        cert_bytes = fp.read()
    tls_before = os.stat(tls_dir)

    archive = os.path.join(workdir, "facteur-backup.tar.gz")
    r = ctl(f, "backup", archive)
    assert r.returncode == 0, r.stdout + r.stderr
    names = tarfile.open(archive).getnames()
    assert "./spool/directory.db" in names, names[:40]
    assert any(n.startswith("./spool/store/blobs/") for n in names)
    assert not any("/run/" in n or n.endswith("-wal") for n in names), names

    # Refused while facteur runs.
    r = ctl(f, "restore", archive)
    assert r.returncode == 1 and "stop it first" in r.stderr, r.stderr
    f.stop()
    # Refused over data without --force.
    r = ctl(f, "restore", archive)
    assert r.returncode == 1 and "--force" in r.stderr, r.stderr
    # Not a backup.
    bogus = os.path.join(workdir, "bogus.tar.gz")
    with open(bogus, "wb") as out:
        out.write(b"not an archive")
    shutil.rmtree(f.spool)
    os.makedirs(f.spool)
    r = ctl(f, "restore", bogus)
    assert r.returncode == 1 and "not a readable backup" in r.stderr, r.stderr

    r = ctl(f, "restore", archive)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.exists(f.conf + ".restored")
    assert os.path.exists(os.path.join(f.spool, "dkim", "example.org", "s1.private"))
    with open(cert, "rb") as fp:
        assert fp.read() == cert_bytes
    tls_after = os.stat(tls_dir)
    assert (tls_after.st_mode, tls_after.st_uid, tls_after.st_gid) == \
        (tls_before.st_mode, tls_before.st_uid, tls_before.st_gid), oct(tls_after.st_mode)
    f.start()
    assert wait_for(lambda: "imapd" in f.daemons()), f.log_tail()
    c = RawIMAP(fx.imaps_port, implicit_tls=True)
    c.login(ALICE)
    tagged, untagged = c.cmd("SELECT INBOX")
    assert "* 3 EXISTS" in untagged, untagged
    body = " ".join(c.cmd("FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1])
    assert all(f"kept-{i}" in body for i in range(3)), body
    assert c.cmd("GETACL Projects")[1] == [f'* ACL "Projects" "{ALICE}" lrswipkxtea "{BOB}" lr']
    c.close()
    # Mail still flows into the restored store.
    with smtplib.LMTP(lmtp) as c2:
        assert c2.sendmail("x@far.example", [ALICE], message("after", to=ALICE)) == {}
