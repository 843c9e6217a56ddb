#!/usr/bin/env bash
# Build the disk images the integration tests run on: real Debian 12 systems
# in every partition layout and input format, plus a few broken inputs.
#
# usage: scripts/fixtures.sh [DIR]
#   DIR defaults to $SNF_FIXTURES, else /var/tmp/snf-image-creator-fixtures
#   (outside the clone, so every clone and CI run on this machine shares it).
#
# Cold: ~3 min (debootstrap is most of it; the .debs are cached in
# DIR/cache/debs). Warm: a second. Needs root and the packages of
# scripts/setup.sh; it says which tool is missing. No loop devices, no mounts
# (debootstrap mounts /proc inside its own target while it runs); the
# libguestfs helper VM only for what the host cannot do (EXTLINUX on the
# bootable disks, device-mapper targets for the refused LVM layouts). The
# Windows disks (~5 s each) are made with ntfs-3g mounting scratch files
# through FUSE (/dev/fuse), never the images.
#
# What DIR holds (every image file is read-only, 0444: tests must never write
# to them; take a qcow2 overlay, `qemu-img create -f qcow2 -F FMT -b IMG`):
#   debian-{mbr,gpt,mbr-swap,mbr-boot,gpt-boot}.raw   the five layouts:
#       mbr       p1 ext4 / (last)          gpt       p1 BIOS boot, p2 / (last)
#       mbr-swap  p1 /, p2 swap (last)      mbr-boot  p1 /boot, p2 /
#       gpt-boot  p1 BIOS boot, p2 /boot, p3 swap, p4 /  (fstab: UUID= for / and /boot)
#     the others' fstab and grub.cfg name /dev/sdaN.
#   debian-{mbr-logical,gpt-btrfs,mbr-ntfs}.raw   what shrinking must handle:
#       mbr-logical  p1 /boot, p2 extended, p5 swap, p6 / (a logical partition last)
#       gpt-btrfs    p1 BIOS boot, p2 /, p3 btrfs /srv (data, last)
#       mbr-ntfs     p1 /, p2 NTFS /data (data, last)
#   debian-gpt-bootable.raw  the gpt layout made bootable (EXTLINUX, the host
#     kernel and initrd); a systemd unit prints snf-image-creator-fixture-booted
#     on ttyS0 once the system is up
#   debian-mbr.{qcow2,vmdk,vhd,vdi,vhdx}  debian-mbr.raw converted (the .vhd is
#     qemu's "vpc" format: open it with -f vpc / format=vpc; its virtual size is
#     a little larger than the raw one, CHS rounding)
#   debian-gpt.qcow2 debian-mbr-swap.vmdk debian-mbr-boot.vdi debian-gpt-boot.qcow2
#   debian-lvm-{mbr,gpt,multipv}.raw  the root on LVM (tests/fixtures/mk-lvm.sh):
#       lvm-mbr  p1 /boot, p2 PV of vg0: LVs root, home, swap (last), 32 MiB
#                free; bootable (EXTLINUX on /boot, root=/dev/mapper/vg0-root)
#       lvm-gpt  p1 BIOS boot, p2 /boot, p3 the same PV
#       lvm-multipv  vg0 spans p2 (root) and p3 (home, swap): not shrunk
#   debian-lvm-{thin,snapshot,raid1,luks-over,luks-under}.raw  what the LVM
#     shrink refuses (tests/fixtures/mk-lvm-refused.sh, made in the libguestfs
#     helper VM): lvm-mbr's layout, smaller, with VG vg_CASE holding a thin
#     pool and volume, a snapshot of home, a RAID1 LV, an LV formatted as
#     LUKS; luks-under: p3 a LUKS container holding the PV of vg_crypt
#     (not in the manifest: the tests read them with libguestfs)
#   no-os.raw        64 MiB MBR disk, one empty ext4 partition
#   random.raw       8 MiB of pseudo-random bytes (AES-CTR of zeros, fixed key)
#   truncated.qcow2  debian-mbr.qcow2 cut to its first 1 MiB
#   windows-{7-x86-mbr,7-amd64-mbr,2012r2-gpt,2019-mbr,2019-gpt}.raw
#     synthetic Windows disks libguestfs inspects as Windows (hand-made
#     registry hives on NTFS, PE stubs of the guest's architecture; made
#     without the appliance by tests/fixtures/mk-windows.sh, which lists what
#     each holds), and variants of windows-2019-gpt, each with one thing a
#     preparation must refuse: windows-2019-{hibernated,dirty-hive,dirty-ntfs,
#     bitlocker,generalized}.raw, and windows-2019-recovery{,-mbr}.raw (a
#     Windows recovery partition after C:, GPT or MBR type 0x27, which
#     shrinking keeps as it is)
#   bsd-{freebsd,openbsd,netbsd}-{gpt,mbr}.raw  synthetic BSD disks (UFS written
#     by makefs, tests/fixtures/mk-bsd.sh lists the layouts and what the tree
#     holds): GPT with UFS2 (FreeBSD's swap partition last), MBR slices with a
#     BSD disklabel (FreeBSD UFS2, OpenBSD and NetBSD UFS1)
#   manifest.json    {"recipe", "images": [one entry per debian-* file],
#                    "windows": [one entry per windows-* file: kind, version,
#                    arch, layout, variant, partitions, users,
#                    rdp_port, raw_md5...],
#                    "bsd": [one entry per bsd-* file: os, os_version,
#                    layout, ufs, users, hostname, partitions, disklabel,
#                    root_partition, raw_md5...],
#                    "negative": [...]}; an image entry holds file, format
#                    (qemu's name: raw qcow2 vmdk vpc vdi vhdx), layout,
#                    partition_table (msdos|gpt), root_partition, partitions
#                    (number, start, size, fs, uuid, mountpoint...), users
#                    (sorted, the accounts with a usable password in
#                    /etc/shadow, as snf-image-creator counts them), kernel,
#                    sshd_port, hostname, os, os_version, debian_version,
#                    virtual_size, file_size, raw_md5 (md5 of the
#                    guest-visible bytes, i.e. of `qemu-img convert -O raw`,
#                    for every format). All of it is read back from the built
#                    images (tests/fixtures/facts.py), nothing is hard-coded.
#   cache/           debs/ (debootstrap downloads), base/ (debootstrap tree),
#                    rootfs/ (the tree with kernel and dirty content)
#   .stamps/ .facts/ bookkeeping
# The guest: Debian 12 minbase + systemd, udev, ifupdown, openssh-server,
# cloud-init; the host's newest /boot kernel copied into /boot (no modules);
# users root, user (1000), alice (1001) with passwords, bob (1002) locked;
# sshd on port 2222; hostname testvm; plus the logs, caches, keys, histories,
# leases, machine-id, cloud-init state... that cleanup tasks remove
# (tests/fixtures/mk-rootfs.sh lists them).
#
# Incremental: each artefact has a stamp holding a hash of the scripts it is
# made by (and of the host kernel for the tree); an artefact is rebuilt when
# its stamp differs or what it is made from was rebuilt after it. Editing
# mk-rootfs.sh does not redo debootstrap. Builds go to DIR/.tmp and are
# renamed into place, so an interrupted run leaves no half-made file. Runs
# are serialised with flock on DIR/.lock. To start from scratch: rm -rf DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FX=$ROOT/tests/fixtures
DIR=${1:-${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}}
T_START=$EPOCHREALTIME

die() { echo "fixtures: error: $*" >&2; exit 1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# ---- tools ----
missing=()
for spec in debootstrap:debootstrap chroot:coreutils sfdisk:fdisk mke2fs:e2fsprogs \
            debugfs:e2fsprogs mkswap:util-linux blkid:util-linux flock:util-linux \
            uuidgen:uuid-runtime lvm:lvm2 losetup:mount qemu-img:qemu-utils python3:python3 \
            mkfs.btrfs:btrfs-progs mkntfs:ntfs-3g ntfscp:ntfs-3g guestfish:libguestfs-tools \
            ssh-keygen:openssh-client openssl:openssl md5sum:coreutils \
            sha256sum:coreutils truncate:coreutils gzip:gzip ntfs-3g:ntfs-3g \
            hivexregedit:libwin-hivex-perl mkfs.vfat:dosfstools mcopy:mtools \
            makefs:makefs gcc:gcc; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec%%:*} (package ${spec#*:})")
done
[ ${#missing[@]} = 0 ] || die "missing tools: ${missing[*]}; run scripts/setup.sh --no-build"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

mkdir -p "$DIR" || die "cannot create $DIR"
DIR=$(realpath "$DIR")
if [ -w "$DIR" ]; then   # (a user who cannot write DIR may still use it when it is up to date)
    mkdir -p "$DIR"/cache "$DIR"/.stamps "$DIR"/.facts "$DIR"/.tmp
    exec 9>"$DIR/.lock"
    if ! flock -n 9; then
        echo "fixtures: waiting for another fixtures.sh on $DIR" >&2
        flock 9
    fi
fi

# Leftovers of an interrupted run: a killed debootstrap can leave /proc or
# /sys mounted inside its target; unmount those (ours, under DIR/.tmp only)
# before removing anything, and never cross into another filesystem.
cleanup_tmp() {
    local m
    while read -r _ m _; do
        case $m in "$DIR"/.tmp/*) umount -l "$m" 2>/dev/null || true ;; esac
    done < <(sort -k2 -r /proc/mounts)
    find "$DIR"/.tmp -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} + 2>/dev/null || true
}
cleanup_tmp
trap cleanup_tmp EXIT

# ---- recipe hashes ----
hash_of() { # items: a path (its content) or =string
    local a
    for a; do
        case $a in =*) printf '%s' "${a#=}" ;; *) cat "$a" ;; esac
        printf '\0'
    done | sha256sum | cut -c1-16
}
KVER=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
[ -n "$KVER" ] || die "no kernel in /boot (package linux-image-amd64)"
for f in vmlinuz initrd.img config System.map; do
    [ -f "/boot/$f-$KVER" ] || die "/boot/$f-$KVER is missing (reinstall linux-image-$KVER)"
done
H_BASE=$(hash_of "$FX"/mk-base.sh)
H_TREE=$(hash_of "=$H_BASE" "$FX"/mk-rootfs.sh "=$(stat -c '%n %s %Y' /boot/*-"$KVER")")

# ---- the make step ----
stamp() { echo "$DIR/.stamps/${1//\//_}"; }
fresh() { # NAME HASH DEP...: NAME exists, has HASH, and no DEP was rebuilt after it
    local name=$1 hash=$2 d
    shift 2
    [ -e "$DIR/$name" ] && [ -f "$(stamp "$name")" ] || return 1
    [ "$(cat "$(stamp "$name")")" = "$hash" ] || return 1
    for d; do [ "$(stamp "$d")" -nt "$(stamp "$name")" ] && return 1; done
    return 0
}
BUILT=0
# step NAME HASH "DEP..." FUNCTION ARGS...: FUNCTION OUT ARGS... builds OUT
step() {
    local name=$1 hash=$2 deps=$3 fn=$4 t0 tmp
    shift 4
    # shellcheck disable=SC2086 # deps is a list of names without spaces
    if fresh "$name" "$hash" $deps; then
        printf 'fixtures: %-26s up to date\n' "$name"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "$name must be (re)built and that needs root"
    t0=$EPOCHREALTIME
    tmp=$DIR/.tmp/${name//\//_}
    rm -rf --one-file-system "$tmp"
    "$fn" "$tmp" "$@" || die "building $name failed"
    [ -e "$tmp" ] || die "building $name made nothing"
    if [ -f "$tmp" ]; then
        chmod 0444 "$tmp"
        mv -f "$tmp" "$DIR/$name"
    else
        if [ -e "$DIR/$name" ]; then
            mv "$DIR/$name" "$DIR/.tmp/old"
            rm -rf --one-file-system "$DIR/.tmp/old"
        fi
        mv -T "$tmp" "$DIR/$name"
    fi
    echo "$hash" >"$(stamp "$name")"
    BUILT=$((BUILT + 1))
    printf 'fixtures: %-26s built in %5ss\n' "$name" "$(since "$t0")"
}

# ---- builders: FUNCTION OUT ARGS... ----
b_base()   { "$FX"/mk-base.sh "$1" "$DIR"/cache/debs; }
b_rootfs() { "$FX"/mk-rootfs.sh "$DIR"/cache/base "$1" "$KVER"; }
b_disk()   { "$FX"/mk-disk.sh "$2" "$DIR"/cache/rootfs "$1"; }
b_noos()   { "$FX"/mk-disk.sh no-os - "$1"; }
b_lvm()    { BOOTABLE=$([ "$2" = lvm-mbr ] && echo 1 || echo 0) "$FX"/mk-lvm.sh "$2" "$DIR"/cache/rootfs "$1"; }
b_lvm_refused() { BOOT_MB=64 HOME_MB=16 SWAP_MB=16 "$FX"/mk-lvm.sh "$2" "$DIR"/cache/rootfs "$1"; }
b_bootable() { BOOTABLE=1 "$FX"/mk-disk.sh "$2" "$DIR"/cache/rootfs "$1"; }
b_conv()   { qemu-img convert -f raw -O "$3" "$DIR/$2" "$1"; }
b_random() {
    head -c 8388608 /dev/zero |
        openssl enc -aes-256-ctr -nosalt -K "$(printf '%064x' 42)" -iv "$(printf '%032x' 0)" -out "$1"
}
b_trunc()  { head -c 1048576 "$DIR/$2" >"$1"; }
b_facts()  { "$PY" "$FX"/facts.py "$DIR/$2" "$3" "$4" >"$1"; }
b_windows() { "$FX"/mk-windows.sh "$2" "$1"; }
b_makefs() { mkdir -p "$1" && "$FX"/mk-makefs-ufs2.sh "$1/makefs" >/dev/null 2>&1; }
b_bsd()    { "$FX"/mk-bsd.sh "$2" "$1" "$DIR"/cache/makefs-ufs2/makefs "$DIR/.facts/bsd-$2.tree.json"; }
b_bsd_facts() { "$PY" "$FX"/facts.py --bsd "$DIR/bsd-$2.raw" "$2" "$DIR/.facts/bsd-$2.tree.json" >"$1"; }
b_win_facts() { "$PY" "$FX"/facts.py --windows "$DIR/$2" "$3" >"$1"; }

# A disk's recipe is its scripts and the builder functions above (not the
# rest of this file: adding a fixture rebuilds no other).
H_DISK=$(hash_of "=$H_TREE" "$FX"/mk-disk.sh "$FX"/mk-bootable.sh \
    "=$(declare -f b_disk b_noos b_bootable b_conv b_random b_trunc)")
H_FACTS=$(hash_of "=$H_DISK" "$FX"/facts.py)
H_LVM=$(hash_of "=$H_TREE" "$FX"/mk-lvm.sh "$FX"/mk-bootable.sh "=$(declare -f b_lvm)")
H_LVM_REFUSED=$(hash_of "=$H_LVM" "$FX"/mk-lvm-refused.sh "=$(declare -f b_lvm_refused)")
H_WIN=$(hash_of "$FX"/mk-windows.sh "$FX"/winbin.py "$FX"/mk-hive.py "$FX"/reg-add-parents.py \
    "=$(declare -f b_windows)")
H_WIN_FACTS=$(hash_of "=$H_WIN" "$FX"/facts.py)
H_MAKEFS=$(hash_of "$FX"/mk-makefs-ufs2.sh "=$(declare -f b_makefs)")
H_BSD=$(hash_of "=$H_MAKEFS" "$FX"/mk-bsd.sh "$FX"/bsdlabel.py "=$(declare -f b_bsd)")
H_BSD_FACTS=$(hash_of "=$H_BSD" "$FX"/facts.py "=$(declare -f b_bsd_facts)")

step cache/base "$H_BASE" "" b_base
step cache/rootfs "$H_TREE" "cache/base" b_rootfs

LAYOUTS=(mbr gpt mbr-swap mbr-boot gpt-boot mbr-logical gpt-btrfs mbr-ntfs)
IMAGES=()     # "file format layout"
for l in "${LAYOUTS[@]}"; do
    step "debian-$l.raw" "$H_DISK" "cache/rootfs" b_disk "$l"
    IMAGES+=("debian-$l.raw raw $l")
done
for spec in mbr:qcow2:qcow2 mbr:vmdk:vmdk mbr:vhd:vpc mbr:vdi:vdi mbr:vhdx:vhdx \
            gpt:qcow2:qcow2 mbr-swap:vmdk:vmdk mbr-boot:vdi:vdi gpt-boot:qcow2:qcow2; do
    IFS=: read -r l ext fmt <<<"$spec"
    step "debian-$l.$ext" "$H_DISK" "debian-$l.raw" b_conv "debian-$l.raw" "$fmt"
    IMAGES+=("debian-$l.$ext $fmt $l")
done
step debian-gpt-bootable.raw "$H_DISK" "cache/rootfs" b_bootable gpt
IMAGES+=("debian-gpt-bootable.raw raw gpt-bootable")
# Root on LVM (tests/fixtures/mk-lvm.sh): not in the manifest.
for l in lvm-mbr lvm-gpt lvm-multipv; do
    step "debian-$l.raw" "$H_LVM" "cache/rootfs" b_lvm "$l"
done
# What the LVM shrink refuses, built in the helper VM (one launch each).
for l in thin snapshot raid1 luks-over luks-under; do
    step "debian-lvm-$l.raw" "$H_LVM_REFUSED" "cache/rootfs" b_lvm_refused "lvm-$l"
done
step no-os.raw "$H_DISK" "" b_noos
step random.raw "$H_DISK" "" b_random
step truncated.qcow2 "$H_DISK" "debian-mbr.qcow2" b_trunc debian-mbr.qcow2

# ---- Windows ----
WINDOWS=(7-x86-mbr 7-amd64-mbr 2012r2-gpt 2019-mbr 2019-gpt 2019-hibernated 2019-dirty-hive
         2019-dirty-ntfs 2019-bitlocker 2019-generalized 2019-recovery 2019-recovery-mbr)
[ -e /dev/fuse ] || [ -z "$(for k in "${WINDOWS[@]}"; do fresh "windows-$k.raw" "$H_WIN" || echo x; done)" ] ||
    die "/dev/fuse is missing: the Windows fixtures are built through ntfs-3g (modprobe fuse)"
for k in "${WINDOWS[@]}"; do
    step "windows-$k.raw" "$H_WIN" "" b_windows "$k"
done
sh "$FX"/mk-virtio-tree.sh "$DIR/virtio-win"   # a fake virtio-win driver tree (small, rebuilt each time)

# ---- BSD ----
BSDS=(freebsd-gpt freebsd-mbr openbsd-gpt openbsd-mbr netbsd-gpt netbsd-mbr)
step cache/makefs-ufs2 "$H_MAKEFS" "" b_makefs
for l in "${BSDS[@]}"; do
    step "bsd-$l.raw" "$H_BSD" "cache/makefs-ufs2" b_bsd "$l"
done

# ---- facts and manifest ----
FACTS=()
for spec in "${IMAGES[@]}"; do
    read -r file fmt l <<<"$spec"
    step ".facts/$file.json" "$H_FACTS" "$file" b_facts "$file" "$fmt" "$l"
    FACTS+=("$DIR/.facts/$file.json")
done
for k in "${WINDOWS[@]}"; do
    step ".facts/windows-$k.raw.json" "$H_WIN_FACTS" "windows-$k.raw" b_win_facts "windows-$k.raw" "$k"
    FACTS+=("$DIR/.facts/windows-$k.raw.json")
done
for l in "${BSDS[@]}"; do
    step ".facts/bsd-$l.raw.json" "$H_BSD_FACTS" "bsd-$l.raw" b_bsd_facts "$l"
    FACTS+=("$DIR/.facts/bsd-$l.raw.json")
done
"$PY" "$FX"/facts.py --manifest "$DIR" "$H_FACTS" "${FACTS[@]}" >"$DIR/.tmp/manifest.json" ||
    die "writing the manifest failed"
if ! cmp -s "$DIR/.tmp/manifest.json" "$DIR/manifest.json"; then
    chmod 0444 "$DIR/.tmp/manifest.json"
    mv -f "$DIR/.tmp/manifest.json" "$DIR/manifest.json"
    printf 'fixtures: %-26s written\n' manifest.json
fi
printf 'fixtures: %d built, all in %s (%ss)\n' "$BUILT" "$DIR" "$(since "$T_START")"
