#!/bin/sh
# SPDX-License-Identifier: MIT
# make-db.sh OUTDIR - build a small ClamAV signature database with sigtool
# alone (nothing is downloaded), for facteur, clamscan and clamd alike:
#   facteur-test.hdb  MD5 of clam.exe, the payload of every file of
#                     clamav-testfiles: ClamAV finds it in them by unpacking
#                     (UPX, ASPack, zip, 7z, cab, OLE2, PDF, mail ...), so
#                     the containers need no signature of their own;
#   facteur-test.ndb  a body signature for the EICAR test string.
# Files are written under a temporary name and renamed, so a reader that
# watches OUTDIR never loads half a file.
# CLAMAV_TESTFILES overrides /usr/share/clamav-testfiles.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: make-db.sh OUTDIR" >&2
	exit 2
fi
out=$1
testfiles=${CLAMAV_TESTFILES:-/usr/share/clamav-testfiles}
command -v sigtool >/dev/null 2>&1 || { echo "make-db.sh: sigtool not found (Debian: clamav)" >&2; exit 1; }
[ -r "$testfiles/clam.exe" ] || { echo "make-db.sh: no $testfiles/clam.exe (Debian: clamav-testfiles)" >&2; exit 1; }
mkdir -p "$out"

# sigtool prints MD5:SIZE:FILENAME; the file name becomes the signature name.
sigtool --md5 "$testfiles/clam.exe" | sed 's/:[^:]*$/:ClamAV-Test-File/' > "$out/.facteur-test.hdb.tmp"

eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
hex=$(printf '%s' "$eicar" | sigtool --hex-dump | tr -d '\n')
[ ${#hex} -eq 136 ] || { echo "make-db.sh: bad EICAR hex dump" >&2; exit 1; }
printf 'Eicar-Test-Signature:0:*:%s\n' "$hex" > "$out/.facteur-test.ndb.tmp"

mv "$out/.facteur-test.hdb.tmp" "$out/facteur-test.hdb"
mv "$out/.facteur-test.ndb.tmp" "$out/facteur-test.ndb"
