#!/bin/sh
# SPDX-License-Identifier: MIT
# power.sh - the console's reboot and shutdown.
#
#   power.sh reboot | poweroff
#
# Through systemd when it runs the system (facteur stops with its unit,
# cleanly), else the SysV tools.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "power.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: power.sh reboot | poweroff"
case $1 in
reboot | poweroff) ;;
*) die "unknown action: $1" ;;
esac
sync
echo "power.sh: $1 now"
if [ -d /run/systemd/system ]; then
    exec systemctl "$1"
fi
exec "/sbin/$1"
