#!/bin/sh
# SPDX-License-Identifier: MIT
# update.sh - the console's system updates (Debian packages, facteur's too).
#
#   update.sh check    refresh the package lists, show what would be upgraded
#   update.sh apply    install the upgrades (configuration files kept as they are)
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive

die() { echo "update.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: update.sh check | apply"
case $1 in
check)
    apt-get update -q
    echo
    upgrades=$(apt-get -s -q upgrade | sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\).*/\1 \2 -> \3/p')
    if [ -z "$upgrades" ]; then
        echo "The system is up to date."
    else
        echo "Upgrades available:"
        echo "$upgrades"
    fi
    ;;
apply)
    apt-get update -q
    apt-get -y -q -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef upgrade
    if [ -f /var/run/reboot-required ]; then
        echo
        echo "A reboot is required to finish (Reboot / shut down in the console)."
    fi
    ;;
*) die "unknown action: $1" ;;
esac
