#!/bin/sh
# SPDX-License-Identifier: MIT
# snmp.sh - the console's SNMP actions: the system agent (snmpd, net-snmp)
# that serves facteur's MIB through facteur's AgentX subagent.
#
#   snmp.sh show                    the console's settings, whether snmpd runs
#   snmp.sh community NAME SOURCE   the read-only v1/v2c community and who may use it
#   snmp.sh v3user USER             a read-only SNMPv3 user (SHA, AES); the
#                                   authentication and privacy passphrases are
#                                   read from standard input, one line each
#   snmp.sh off                     no community, no v3 user of the console's,
#                                   snmpd on the loopback only (facteur's AgentX
#                                   subagent still serves local queries)
#
# community and v3user make snmpd listen on every address (agentaddress
# udp:161,udp6:161 in the console's file, read after snmpd.conf's own);
# off puts it back on 127.0.0.1 and ::1.
#
# The settings live in /etc/snmp/snmpd.conf.d/facteur-console.conf (snmpd.conf
# is made to include that directory); a v3 user's keys are created by snmpd
# from a createUser line in its persistent file, as net-snmp-create-v3-user does.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
CONFDIR=/etc/snmp/snmpd.conf.d
CONF=$CONFDIR/facteur-console.conf
PERSIST=/var/lib/snmp/snmpd.conf
# Where snmpd listens once a community or a user is set (an image may add
# tcp:161 through the environment of the console's unit).
ANY=${FACTEUR_SNMP_ADDRESSES:-udp:161,udp6:161}
LOOPBACK=udp:127.0.0.1:161,udp6:[::1]:161

die() { echo "snmp.sh: $*" >&2; exit 1; }

token() {
    case $1 in
    '' | *[!A-Za-z0-9_.-]*) die "bad $2: letters, digits, '.', '-', '_'" ;;
    esac
}

agent() {  # start|stop|restart snmpd
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl "$1" snmpd
    else
        service snmpd "$1"
    fi
}

include_dir() {
    mkdir -p "$CONFDIR"
    if ! grep -q "^includeDir[[:space:]]*$CONFDIR" /etc/snmp/snmpd.conf 2>/dev/null; then
        printf '\n# facteur-console\nincludeDir %s\n' "$CONFDIR" >> /etc/snmp/snmpd.conf
    fi
    # snmpd joins every agentaddress line into one list: an address of
    # snmpd.conf's and the same port on every address would collide.
    # The console's file holds the only one.
    if grep -qi '^[[:space:]]*agentaddress[[:space:]]' /etc/snmp/snmpd.conf; then
        sed -i 's|^[[:space:]]*\([aA][gG][eE][nN][tT][aA][dD][dD][rR][eE][sS][sS][[:space:]]\)|# in snmpd.conf.d/facteur-console.conf: \1|' \
            /etc/snmp/snmpd.conf
    fi
    touch "$CONF"
}

# Replace the lines starting with $1 in $CONF by $2 (may be empty).
replace() {
    { grep -v "^$1[[:space:]]" "$CONF" || true; [ -z "$2" ] || printf '%s\n' "$2"; } > "$CONF.new"
    chmod 600 "$CONF.new"
    mv -f "$CONF.new" "$CONF"
}

show() {
    if [ -s "$CONF" ]; then
        echo "$CONF:"
        sed -e 's/^\(rocommunity6\{0,1\}[[:space:]]\{1,\}\)[^[:space:]]*/\1********/' "$CONF"
    else
        echo "No community or SNMPv3 user set by the console yet."
    fi
    echo
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        echo "snmpd: $(systemctl is-active snmpd 2>/dev/null || true)"
    else
        pgrep -x snmpd >/dev/null 2>&1 && echo "snmpd: running" || echo "snmpd: not running"
    fi
}

community() {
    token "$1" community
    case $2 in
    '' | *[!A-Za-z0-9_.:/-]*) die "bad source: default, an address, a network or a host name" ;;
    esac
    include_dir
    replace rocommunity "rocommunity $1 $2"
    if [ "$2" = default ]; then
        replace rocommunity6 "rocommunity6 $1 default"
    else
        replace rocommunity6 ""
    fi
    replace agentaddress "agentaddress $ANY"
    agent restart
    echo "read-only community set (source: $2); snmpd restarted"
}

v3user() {
    token "$1" "user name"
    IFS= read -r auth || die "no authentication passphrase on standard input"
    IFS= read -r priv || die "no privacy passphrase on standard input"
    for p in "$auth" "$priv"; do
        [ ${#p} -ge 8 ] || die "a passphrase has 8 characters at least"
        case $p in *'"'* | *\\*) die "a passphrase cannot hold \" or \\" ;; esac
    done
    include_dir
    agent stop || true
    mkdir -p "$(dirname "$PERSIST")"
    umask 077
    printf 'createUser %s SHA "%s" AES "%s"\n' "$1" "$auth" "$priv" >> "$PERSIST"
    if ! grep -q "^rouser[[:space:]]$1[[:space:]]" "$CONF"; then
        printf 'rouser %s priv\n' "$1" >> "$CONF"
    fi
    replace agentaddress "agentaddress $ANY"
    agent start
    echo "SNMPv3 user $1 created (SHA, AES, read-only); snmpd restarted"
}

off() {
    include_dir
    replace rocommunity ""
    replace rocommunity6 ""
    replace rouser ""
    replace agentaddress "agentaddress $LOOPBACK"
    agent restart
    echo "SNMP off: no community or SNMPv3 user of the console's, snmpd on the loopback only"
}

[ $# -ge 1 ] || die "usage: snmp.sh show | community NAME SOURCE | v3user USER | off"
verb=$1
shift
case $verb in
show) show ;;
community) [ $# -eq 2 ] || die "usage: snmp.sh community NAME SOURCE"; community "$1" "$2" ;;
v3user) [ $# -eq 1 ] || die "usage: snmp.sh v3user USER (passphrases on standard input)"; v3user "$1" ;;
off) [ $# -eq 0 ] || die "usage: snmp.sh off"; off ;;
*) die "unknown action: $verb" ;;
esac
