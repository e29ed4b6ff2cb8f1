#!/bin/sh
# SPDX-License-Identifier: MIT
# install-deps.sh - install every Debian package facteur needs to build, test and benchmark.
#
# Non-interactive; safe to run again.  Run as root (or through sudo).
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# Postfix is only a test and benchmark peer (smtp-source, smtp-sink, and the
# relay benchmark's reference): install it without letting it configure
# itself as this host's MTA.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections

PKGS="
 build-essential autoconf automake libtool pkg-config autoconf-archive
 libevent-dev libssl-dev libinih-dev libunbound-dev libcrypt-dev
 libhyperscan-dev libpcre2-dev spamassassin
 libcmocka-dev clang libclang-rt-14-dev
 python3 python3-pytest openssl swaks libnet-ssleay-perl libauthen-sasl-perl
 postfix unbound iproute2 procps
 libspf2-dev libopendkim-dev libopendmarc-dev libclamav-dev libmilter-dev
 libsqlite3-dev sqlite3 libargon2-dev publicsuffix opendkim opendkim-tools clamav clamav-testfiles
 spamd spamc python3-dkim python3-authres
 libhiredis-dev redis-server postfwd zlib1g-dev isync
 mutt tmux sieve-connect dovecot-imapd dovecot-lmtpd slapd ldap-utils libldap-dev
 libsnmp-dev snmpd snmp snmptrapd smitools libncurses-dev libjansson-dev
 mmdebstrap eatmydata qemu-system-x86 qemu-utils kmod cpio zstd debhelper devscripts lintian
 dpkg-dev fakeroot fdisk dosfstools mtools syslinux syslinux-common isolinux xorriso squashfs-tools bc
 apt-utils gnupg python3-pyte
 rspamd clamav-daemon clamav-milter
"
if [ -z "${FACTEUR_SKIP_APT_UPDATE:-}" ]; then
	$SUDO apt-get update -qq
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
# The distribution's unbound must not hold port 53 during tests; facteur's
# tests start their own instance on a private port.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now unbound postfix redis-server postfwd dovecot slapd snmpd snmptrapd \
	    rspamd clamav-daemon clamav-milter clamav-freshclam >/dev/null 2>&1 || true
fi
echo "install-deps: done"
