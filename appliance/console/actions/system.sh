#!/bin/sh
# SPDX-License-Identifier: MIT
# system.sh - the console's system actions on the appliance (Debian): what
# the first-boot wizard sets besides the network and SNMP.
#
#   system.sh keyboard LAYOUT     us gb fr de be ch-fr ch-de es it pt nl:
#                                 /etc/default/keyboard (XKBLAYOUT, XKBVARIANT),
#                                 then setupcon for the consoles when it is there
#   system.sh timezone ZONE       Area/City of /usr/share/zoneinfo: timedatectl
#                                 when systemd runs, else the /etc/localtime link;
#                                 /etc/timezone either way
#   system.sh ntp [SERVER...]     /etc/systemd/timesyncd.conf.d/facteur.conf
#                                 (NTP=...; none: the file goes, the defaults
#                                 apply), systemd-timesyncd enabled and restarted
#   system.sh admin-password      root's password, read from standard input (one
#                                 line), set with chpasswd: the admin logs in as
#                                 root on a getty for rescue
#
# FACTEUR_SYSTEM_ROOT (tests, image builds): a directory the files are
# written under instead of /; then nothing is run on the live system
# (no setupcon, timedatectl, systemctl), and root's password is written
# into ROOT/etc/shadow with a SHA-512 crypt hash (openssl passwd -6).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
ROOT=${FACTEUR_SYSTEM_ROOT:-}
ZONEINFO=/usr/share/zoneinfo

die() { echo "system.sh: $*" >&2; exit 1; }

live() { [ -z "$ROOT" ]; }
systemd() { live && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# Write $2 to $ROOT$1 through a new file renamed over it (mode 644).
put() {
    mkdir -p "$(dirname "$ROOT$1")"
    printf '%s\n' "$2" > "$ROOT$1.new"
    chmod 644 "$ROOT$1.new"
    mv -f "$ROOT$1.new" "$ROOT$1"
}

keyboard() {
    variant=""
    case $1 in
    us | gb | fr | de | be | es | it | pt | nl) layout=$1 ;;
    ch-fr) layout=ch variant=fr ;;
    ch-de) layout=ch variant=de ;;
    *) die "unknown keyboard layout: $1 (us gb fr de be ch-fr ch-de es it pt nl)" ;;
    esac
    put /etc/default/keyboard "# written by facteur-console (system.sh keyboard $1)
XKBMODEL=\"pc105\"
XKBLAYOUT=\"$layout\"
XKBVARIANT=\"$variant\"
XKBOPTIONS=\"\"
BACKSPACE=\"guess\""
    if live && command -v setupcon >/dev/null 2>&1; then
        # Every console, not only the one the console runs on.
        setupcon --force --keyboard-only </dev/null || echo "system.sh: setupcon failed: the layout applies at the next boot"
    fi
    echo "keyboard layout set to $1"
}

timezone() {
    zone=$1
    case $zone in
    '' | /* | *..* | *[!A-Za-z0-9_+/-]*) die "bad time zone: $zone" ;;
    esac
    [ -f "$ROOT$ZONEINFO/$zone" ] || die "unknown time zone: $zone (not in $ZONEINFO)"
    if systemd && command -v timedatectl >/dev/null 2>&1 && timedatectl set-timezone "$zone" 2>/dev/null; then
        :
    else
        mkdir -p "$ROOT/etc"
        ln -sfn "$ZONEINFO/$zone" "$ROOT/etc/localtime"
    fi
    put /etc/timezone "$zone"
    echo "time zone set to $zone"
}

ntp() {
    for s in "$@"; do
        case $s in
        '' | -* | *[!A-Za-z0-9.:-]*) die "bad NTP server: $s" ;;
        esac
    done
    conf=/etc/systemd/timesyncd.conf.d/facteur.conf
    if [ $# -eq 0 ]; then
        rm -f "$ROOT$conf"
        echo "NTP servers: the system's defaults"
    else
        put "$conf" "# written by facteur-console (system.sh ntp)
[Time]
NTP=$*"
        echo "NTP servers set to $*"
    fi
    if systemd && systemctl cat systemd-timesyncd.service >/dev/null 2>&1; then
        systemctl enable systemd-timesyncd.service
        systemctl restart systemd-timesyncd.service
        timedatectl set-ntp true 2>/dev/null || true
        echo "systemd-timesyncd restarted"
    elif live; then
        echo "system.sh: systemd-timesyncd is not installed: the servers are used once it is"
    fi
}

admin_password() {
    IFS= read -r pw || die "no password on standard input"
    [ ${#pw} -ge 10 ] || die "the password has 10 characters at least"
    if live; then
        printf 'root:%s\n' "$pw" | chpasswd
    else
        [ -f "$ROOT/etc/shadow" ] || die "no $ROOT/etc/shadow"
        hash=$(printf '%s\n' "$pw" | openssl passwd -6 -stdin) || die "openssl passwd failed"
        awk -F: -v OFS=: -v h="$hash" '$1 == "root" { $2 = h } { print }' "$ROOT/etc/shadow" > "$ROOT/etc/shadow.new"
        chmod 640 "$ROOT/etc/shadow.new"
        mv -f "$ROOT/etc/shadow.new" "$ROOT/etc/shadow"
    fi
    pw=""
    echo "root's password set"
}

[ $# -ge 1 ] || die "usage: system.sh keyboard LAYOUT | timezone ZONE | ntp [SERVER...] | admin-password"
verb=$1
shift
case $verb in
keyboard) [ $# -eq 1 ] || die "usage: system.sh keyboard LAYOUT"; keyboard "$1" ;;
timezone) [ $# -eq 1 ] || die "usage: system.sh timezone ZONE"; timezone "$1" ;;
ntp) ntp "$@" ;;
admin-password) [ $# -eq 0 ] || die "usage: system.sh admin-password (the password on standard input)"; admin_password ;;
*) die "unknown action: $verb" ;;
esac
