#!/bin/sh
# SPDX-License-Identifier: MIT
# backup.sh - the console's removable disks for backups: the appliance has
# no SSH server, so a backup leaves it (and reaches a new appliance) on a
# USB stick or a second virtual disk.
#
#   backup.sh disks              the disks a backup can go to, one a line:
#                                NAME SIZE FSTYPE LABEL, tab-separated
#                                (nothing when there is none)
#   backup.sh export DEVICE FILE FILE copied to facteur-backups/ on DEVICE
#   backup.sh import DEVICE DIR  every facteur-backups/*.tar.gz and top-level
#                                *.tar.gz of DEVICE copied into DIR (0600)
#
# A disk is a whole disk or a partition holding ext4, ext3, ext2, vfat or
# exfat, read-write, not mounted, not on the disk of / and not a loop, ram
# or rom device (FACTEUR_BACKUP_ALLOW_LOOP=1 accepts loop devices: for the
# tests, which have no spare disk).  export and import take only a disk
# that disks lists.  The disk is mounted on a private directory under /run
# for the copy alone and unmounted whatever happens, so it can be unplugged
# as soon as the script has ended.
#
# A file is never overwritten: one of the same name and the same bytes is
# already there and skipped; one of the same name and other bytes is kept,
# and the copy gets the first free name NAME-1.tar.gz, NAME-2.tar.gz, ...
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
SUBDIR=facteur-backups
FSTYPES="ext4 ext3 ext2 vfat exfat"

die() { echo "backup.sh: $*" >&2; exit 1; }

# A device's property as lsblk says it (one line, tabs and controls dropped).
prop() {
    lsblk -dno "$2" "$1" 2>/dev/null | head -n 1 | tr -d '\000-\037' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'
}

# The file system type and label: lsblk's (udev's), else probed by blkid
# (udev may not have probed a disk plugged in a second ago, or may not run).
fstype() {
    t=$(prop "$1" FSTYPE)
    [ -n "$t" ] || t=$(blkid -p -o value -s TYPE "$1" 2>/dev/null || true)
    printf '%s\n' "$t"
}

label() {
    l=$(prop "$1" LABEL)
    [ -n "$l" ] || l=$(blkid -p -o value -s LABEL "$1" 2>/dev/null | tr -d '\000-\037' || true)
    printf '%s\n' "$l"
}

# The whole disks / lives on (through partitions, LVM, RAID, crypt).  The
# mount's source may be a name with no device node (/dev/root, booted
# without an initramfs): its device number finds the device too.
root_disks() {
    src=$(findmnt -nvo SOURCE / 2>/dev/null || true)
    num=$(mountpoint -d / 2>/dev/null || true)
    bynum=$(lsblk -nrpo NAME,MAJ:MIN 2>/dev/null | awk -v n="$num" '$2 == n { print $1 }')
    for d in $src $bynum; do
        case $d in
        /dev/*) lsblk -nsrpo NAME,TYPE "$d" 2>/dev/null | awk '$2 == "disk" { print $1 }' ;;
        esac
    done | sort -u
}

disks() {
    roots=$(root_disks)
    lsblk -nrpo NAME,TYPE | while read -r name type; do
        case $type in
        disk | part) ;;
        loop) [ "${FACTEUR_BACKUP_ALLOW_LOOP:-0}" = 1 ] || continue ;;
        *) continue ;;
        esac
        case $name in
        /dev/ram* | /dev/zram* | /dev/sr* | /dev/loop*)
            [ "$type" = loop ] || continue ;;
        esac
        # The disk it is part of, and itself, are not the root's.
        mine=no
        for d in $(lsblk -nsrpo NAME,TYPE "$name" 2>/dev/null | awk '$2 == "disk" { print $1 }'); do
            for r in $roots; do
                [ "$d" != "$r" ] || mine=yes
            done
        done
        [ "$mine" = no ] || continue
        [ "$(prop "$name" RO)" = 0 ] || continue
        # Neither it nor anything on it mounted.
        [ -z "$(lsblk -nro MOUNTPOINT "$name" 2>/dev/null | tr -d '[:space:]')" ] || continue
        ! findmnt -rn -S "$name" >/dev/null 2>&1 || continue
        t=$(fstype "$name")
        case " $FSTYPES " in
        *" $t "*) ;;
        *) continue ;;
        esac
        printf '%s\t%s\t%s\t%s\n' "$name" "$(prop "$name" SIZE)" "$t" "$(label "$name")"
    done
}

# The disks line of $1, or an error.
disk_line() {
    case $1 in
    /dev/*) ;;
    *) die "bad device: a /dev path that backup.sh disks lists" ;;
    esac
    line=$(disks | awk -F '\t' -v d="$1" '$1 == d' | head -n 1)
    [ -n "$line" ] || die "$1 is not a removable disk with a file system this appliance writes" \
        "(ext4, ext3, ext2, vfat, exfat), or it is mounted or on the system disk"
    printf '%s\n' "$line"
}

MNT=
PART=
DEV=
cleanup() {
    [ -z "$PART" ] || rm -f "$PART" 2>/dev/null || true
    if [ -n "$MNT" ]; then
        if mountpoint -q "$MNT" 2>/dev/null; then
            umount "$MNT" || umount -l "$MNT" || echo "backup.sh: cannot unmount $MNT" >&2
        fi
        rmdir "$MNT" 2>/dev/null || true
    fi
}

on_exit() {
    status=$?
    was=$MNT
    cleanup
    if [ "$status" -ne 0 ] && [ -n "$was" ]; then
        echo "backup.sh: FAILED; nothing half-copied left, $DEV unmounted" >&2
    fi
}

# Mount disk $1 (file system $2) with options $3 on a private directory.
mount_disk() {
    DEV=$1
    trap on_exit EXIT
    trap 'exit 1' HUP INT TERM
    mkdir -p /run
    MNT=$(mktemp -d /run/facteur-backup.XXXXXX)
    chmod 700 "$MNT"
    mount -t "$2" -o "$3,nosuid,nodev,noexec" "$1" "$MNT" || die "cannot mount $1"
}

same() { cmp -s "$1" "$2"; }

# Copy $1 into directory $2 under its name (or the first free NAME-N.tar.gz);
# PLACED: the name used, empty when a file there already has the same bytes.
# (Not in a subshell: the cleanup must know the partial file.)
place() {
    PLACED=
    base=$(basename "$1")
    stem=${base%.tar.gz}
    dest=$2/$base
    n=0
    while [ -e "$dest" ] || [ -L "$dest" ]; do
        if [ -f "$dest" ] && same "$1" "$dest"; then
            return 0
        fi
        n=$((n + 1))
        dest=$2/$stem-$n.tar.gz
    done
    PART=$2/.$base.part
    rm -f "$PART"
    if ! (umask 077 && cp --preserve=timestamps "$1" "$PART"); then
        die "cannot copy $base: $(($(wc -c < "$1") / 1024)) KiB, $(df -Pk "$2" |
            awk 'NR == 2 { print $4 }') KiB free"
    fi
    chmod 600 "$PART" 2>/dev/null || true
    # fsync of the copy and of its directory: not syncfs, which on the
    # appliance's own disk would wait for every dirty page of the system.
    sync "$PART" 2>/dev/null || sync -f "$PART" 2>/dev/null || sync
    mv "$PART" "$dest"
    PART=
    sync "$2" 2>/dev/null || sync -f "$2" 2>/dev/null || sync
    PLACED=$(basename "$dest")
}

export_file() {
    line=$(disk_line "$1")
    t=$(printf '%s\n' "$line" | cut -f 3)
    if [ ! -f "$2" ] || [ ! -r "$2" ]; then die "$2 is not a readable file"; fi
    case $(basename "$2") in
    *.tar.gz) ;;
    *) die "$2 is not a backup (*.tar.gz)" ;;
    esac
    mount_disk "$1" "$t" rw
    mkdir -p "$MNT/$SUBDIR"
    chmod 700 "$MNT/$SUBDIR" 2>/dev/null || true
    place "$2" "$MNT/$SUBDIR"
    if [ -z "$PLACED" ]; then
        echo "$(basename "$2") is already on $1 in $SUBDIR/ (same bytes): nothing copied"
    else
        echo "copied $(basename "$2") ($(wc -c < "$2") bytes) to $1 as $SUBDIR/$PLACED"
    fi
    cleanup
    MNT=
    echo "$1 unmounted: it can be unplugged"
}

import_dir() {
    line=$(disk_line "$1")
    t=$(printf '%s\n' "$line" | cut -f 3)
    [ -d "$2" ] || die "$2 is not a directory"
    mount_disk "$1" "$t" ro
    found=0
    copied=0
    for f in "$MNT/$SUBDIR"/*.tar.gz "$MNT"/*.tar.gz; do
        if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
        rel=${f#"$MNT"/}
        case $(basename "$f") in
        .* | *[!A-Za-z0-9._-]*)
            echo "skipped $rel: a backup's name is letters, digits, '.', '-', '_'"
            continue ;;
        esac
        found=$((found + 1))
        place "$f" "$2"
        if [ -z "$PLACED" ]; then
            echo "$rel: already in $2 (same bytes)"
        else
            echo "copied $rel to $2/$PLACED"
            copied=$((copied + 1))
        fi
    done
    cleanup
    MNT=
    if [ "$found" -eq 0 ]; then
        echo "backup.sh: no backup (*.tar.gz) on $1, in $SUBDIR/ or at the top" >&2
        echo "$1 unmounted"
        exit 1
    fi
    echo "$copied backup(s) copied, $((found - copied)) already there; $1 unmounted"
}

[ $# -ge 1 ] || die "usage: backup.sh disks | export DEVICE FILE | import DEVICE DIR"
verb=$1
shift
case $verb in
disks) [ $# -eq 0 ] || die "usage: backup.sh disks"; disks ;;
export) [ $# -eq 2 ] || die "usage: backup.sh export DEVICE FILE"; export_file "$1" "$2" ;;
import) [ $# -eq 2 ] || die "usage: backup.sh import DEVICE DIR"; import_dir "$1" "$2" ;;
*) die "unknown action: $verb" ;;
esac
