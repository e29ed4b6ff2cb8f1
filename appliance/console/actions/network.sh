#!/bin/sh
# SPDX-License-Identifier: MIT
# network.sh - the console's network actions on the appliance (Debian).
#
#   network.sh show                                   interfaces, routes, DNS, host name
#   network.sh dhcp IFACE                             the interface takes DHCP
#   network.sh static IFACE ADDR/PREFIX [GATEWAY] [DNS...]
#   network.sh hostname NAME
#
# With systemd-networkd active: /etc/systemd/network/10-facteur-IFACE.network
# and "networkctl reload"; else ifupdown: /etc/network/interfaces.d/facteur-IFACE
# and ifdown/ifup (the DNS servers then go to /etc/resolv.conf).  The image
# may replace this script; facteur-console only calls it.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "network.sh: $*" >&2; exit 1; }

valid_iface() {
    case $1 in
    '' | *[!A-Za-z0-9_.-]*) die "bad interface name: $1" ;;
    esac
    [ ${#1} -le 15 ] || die "interface name too long: $1"
    [ -e "/sys/class/net/$1" ] || die "no interface $1 (see: network.sh show)"
}

valid_addr() {  # an IPv4 or IPv6 address, optionally /prefix
    case $1 in
    '' | *[!0-9A-Fa-f.:/]*) die "bad address: $1" ;;
    esac
}

valid_host() {
    case $1 in
    '' | -* | .* | *[!A-Za-z0-9.-]*) die "bad host name: $1" ;;
    esac
}

networkd() { systemctl is-active --quiet systemd-networkd 2>/dev/null; }

# Write $2 to $1 through a new file renamed over it.
put() {
    printf '%s\n' "$2" > "$1.new"
    mv -f "$1.new" "$1"
}

show() {
    echo "Host name: $(hostname -f 2>/dev/null || hostname)"
    echo
    echo "Interfaces:"
    ip -brief address show 2>/dev/null || ip address show
    echo
    echo "Routes:"
    ip route show
    ip -6 route show 2>/dev/null | grep -v '^fe80' || true
    echo
    echo "DNS servers:"
    if command -v resolvectl >/dev/null 2>&1 && resolvectl dns >/dev/null 2>&1; then
        resolvectl dns
    else
        grep '^nameserver' /etc/resolv.conf 2>/dev/null || echo "(none)"
    fi
    echo
    if networkd; then
        echo "Configured by: systemd-networkd"
    else
        echo "Configured by: ifupdown"
    fi
}

dhcp() {
    iface=$1
    valid_iface "$iface"
    if networkd; then
        put "/etc/systemd/network/10-facteur-$iface.network" "# written by facteur-console
[Match]
Name=$iface

[Network]
DHCP=yes"
        networkctl reload
        networkctl reconfigure "$iface"
    else
        put "/etc/network/interfaces.d/facteur-$iface" "# written by facteur-console
auto $iface
iface $iface inet dhcp"
        ifdown "$iface" 2>/dev/null || true
        ifup "$iface"
    fi
    echo "$iface now takes its address from DHCP"
}

static() {
    iface=$1 addr=$2 gw=${3:-}
    shift 2
    [ $# -gt 0 ] && shift
    valid_iface "$iface"
    valid_addr "$addr"
    case $addr in */*) ;; *) die "give the prefix length: $addr/24" ;; esac
    [ -z "$gw" ] || valid_addr "$gw"
    for d in "$@"; do valid_addr "$d"; done
    if networkd; then
        conf="# written by facteur-console
[Match]
Name=$iface

[Network]
Address=$addr"
        [ -z "$gw" ] || conf="$conf
Gateway=$gw"
        for d in "$@"; do conf="$conf
DNS=$d"; done
        put "/etc/systemd/network/10-facteur-$iface.network" "$conf"
        networkctl reload
        networkctl reconfigure "$iface"
    else
        family=inet
        case $addr in *:*) family=inet6 ;; esac
        conf="# written by facteur-console
auto $iface
iface $iface $family static
    address $addr"
        [ -z "$gw" ] || conf="$conf
    gateway $gw"
        put "/etc/network/interfaces.d/facteur-$iface" "$conf"
        if [ $# -gt 0 ]; then
            dns=""
            for d in "$@"; do dns="${dns}nameserver $d
"; done
            put /etc/resolv.conf "# written by facteur-console
$dns"
        fi
        ifdown "$iface" 2>/dev/null || true
        ifup "$iface"
    fi
    echo "$iface now has the address $addr${gw:+, gateway $gw}"
}

set_hostname() {
    name=$1
    valid_host "$name"
    short=${name%%.*}
    if command -v hostnamectl >/dev/null 2>&1 && hostnamectl set-hostname "$name" 2>/dev/null; then
        :
    else
        put /etc/hostname "$short"
        hostname "$short"
    fi
    # The name resolves to the machine itself (Debian's 127.0.1.1 line).
    if grep -q '^127\.0\.1\.1[[:space:]]' /etc/hosts 2>/dev/null; then
        sed "s/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t$name $short/" /etc/hosts > /etc/hosts.new
        mv -f /etc/hosts.new /etc/hosts
    else
        printf '127.0.1.1\t%s %s\n' "$name" "$short" >> /etc/hosts
    fi
    echo "host name set to $name"
}

[ $# -ge 1 ] || die "usage: network.sh show | dhcp IFACE | static IFACE ADDR/PREFIX [GATEWAY] [DNS...] | hostname NAME"
verb=$1
shift
case $verb in
show) show ;;
dhcp) [ $# -eq 1 ] || die "usage: network.sh dhcp IFACE"; dhcp "$1" ;;
static) [ $# -ge 2 ] || die "usage: network.sh static IFACE ADDR/PREFIX [GATEWAY] [DNS...]"; static "$@" ;;
hostname) [ $# -eq 1 ] || die "usage: network.sh hostname NAME"; set_hostname "$1" ;;
*) die "unknown action: $verb" ;;
esac
