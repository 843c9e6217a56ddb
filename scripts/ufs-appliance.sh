#!/usr/bin/env bash
# Build the helper VM ("appliance") that can write UFS, for BSD guests.
#
# Debian's kernel is built without CONFIG_UFS_FS_WRITE: libguestfs's stock
# appliance mounts UFS read-only even when asked for rw (the mount call
# succeeds, every write then fails). This script builds ufs.ko with write
# support from Debian's own linux-source for the newest kernel in /boot
# (the one libguestfs boots), puts it into a private copy of that kernel's
# modules tree, and makes a libguestfs *fixed appliance* from it with
# supermin. snf-image-creator uses it (guestfs set_path) whenever the
# kernel it was built for is still the newest in /boot; `doctor` says
# whether it does. The host's /lib/modules is never touched.
#
# usage: scripts/ufs-appliance.sh [DIR]
#   DIR defaults to $SNF_APPLIANCE, else /var/lib/snf-image-creator/appliance
# Idempotent: does nothing when DIR/kernel-version names the newest kernel
# and DIR/recipe the hash of this script. About 80 s and 740 MB the first
# time (apt, the module build, supermin); needs root.
set -euo pipefail
DIR=${1:-${SNF_APPLIANCE:-/var/lib/snf-image-creator/appliance}}
SELF=$(realpath "${BASH_SOURCE[0]}")
die() { echo "ufs-appliance: error: $*" >&2; exit 1; }

KVER=$(find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
[ -n "$KVER" ] || die "no kernel in /boot (package linux-image-amd64)"
RECIPE=$(sha256sum "$SELF" | cut -c1-16)
if [ "$(cat "$DIR/kernel-version" 2>/dev/null)" = "$KVER" ] &&
   [ "$(cat "$DIR/recipe" 2>/dev/null)" = "$RECIPE" ] && [ -f "$DIR/README.fixed" ]; then
    echo "ufs-appliance: $DIR is up to date ($KVER)"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "building the UFS-writing helper VM needs root"
T0=$EPOCHREALTIME
SERIES=$(echo "$KVER" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
export DEBIAN_FRONTEND=noninteractive
pkgs=()
for p in "linux-headers-$KVER" "linux-source-$SERIES" supermin gcc make binutils xz-utils; do
    dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || pkgs+=("$p")
done
if [ ${#pkgs[@]} != 0 ]; then
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
        die "installing ${pkgs[*]} failed"
fi
SRC=$(ls /usr/src/linux-source-"$SERIES".tar.* 2>/dev/null | head -1)
[ -n "$SRC" ] || die "no /usr/src/linux-source-$SERIES.tar.* (package linux-source-$SERIES)"

mkdir -p "$(dirname "$DIR")"
W=$(mktemp -d "$(dirname "$DIR")/.ufs-appliance.XXXXXX")
trap 'rm -rf "$W"' EXIT
tar -xf "$SRC" -C "$W" --wildcards '*/fs/ufs/*' '*/scripts/extract-vmlinux'
EXTRACT=$(ls "$W"/linux-source-*/scripts/extract-vmlinux)
cd "$W"/linux-source-*/fs/ufs
cat >Makefile <<'EOF'
obj-m += ufs.o
ufs-objs := balloc.o cylinder.o dir.o file.o ialloc.o inode.o namei.o super.o util.o
ccflags-y += -DCONFIG_UFS_FS_WRITE=1
EOF
make -s -C "/lib/modules/$KVER/build" M="$PWD" modules >/dev/null 2>&1 ||
    die "building ufs.ko for $KVER failed"
MODS=$W/lib/modules/$KVER
mkdir -p "$W/lib/modules"
cp -al "/lib/modules/$KVER" "$MODS"
rm -f "$MODS"/kernel/fs/ufs/ufs.ko*
cp ufs.ko "$MODS"/kernel/fs/ufs/ufs.ko
depmod -b "$W" "$KVER"
cd "$W"
SUPERMIN_KERNEL=/boot/vmlinuz-$KVER SUPERMIN_KERNEL_VERSION=$KVER SUPERMIN_MODULES=$MODS \
    supermin --build --format ext2 --copy-kernel -o "$W/appliance" \
    /usr/lib/x86_64-linux-gnu/guestfs/supermin.d >/dev/null 2>&1 ||
    die "supermin could not build the appliance"
# libguestfs's inspection starts Augeas on the guest's /etc/fstab (and
# mdadm.conf, sysconfig/network), and Augeas compiles every lens it has
# first: 12 of the 17 s an inspection takes under software emulation. Keep
# only the lenses inspection loads and those they use.
LENSES=/usr/share/augeas/lenses/dist
keep=" " todo=(fstab mdadm_conf shellvars)
while [ ${#todo[@]} != 0 ]; do
    m=${todo[0]} todo=("${todo[@]:1}")
    [[ $keep == *" $m "* ]] || [ ! -f "$LENSES/$m.aug" ] && continue
    keep+="$m "
    for r in $(grep -o '\b[A-Z][A-Za-z0-9_]*\.[a-z_]' "$LENSES/$m.aug" | sed 's/\..*//' | sort -u); do
        todo+=("${r,}")
    done
done
debugfs -R "ls -p $LENSES" "$W/appliance/root" 2>/dev/null | awk -F/ '$6 ~ /\.aug$/ { print $6 }' |
    while read -r f; do [[ $keep == *" ${f%.aug} "* ]] || echo "rm $LENSES/$f"; done >"$W/prune"
debugfs -w -f "$W/prune" "$W/appliance/root" >/dev/null 2>&1 || die "pruning the Augeas lenses failed"
left=$(debugfs -R "ls -p $LENSES" "$W/appliance/root" 2>/dev/null | awk -F/ '$6 ~ /\.aug$/' | wc -l)
[ "$left" -ge 3 ] && [ "$left" -le 20 ] || die "the appliance has $left Augeas lenses left, not the few inspection needs"
# udev watches every disk: a tool that closes one it opened for writing
# (parted, sgdisk, and libguestfs's list_filesystems runs parted several
# times per partition even to read) makes udev rescan the partition table
# and probe every partition again, and the daemon's next `udevadm settle`
# waits for that: under software emulation half of the 18 s
# list_filesystems takes (inspection runs it too). The tools that change
# partitions tell the kernel themselves (BLKPG), and the daemon settles
# after them; the rescans are not needed.
printf '# snf-image-creator: no rescan when a tool closes a disk it wrote to\nACTION!="remove", SUBSYSTEM=="block", OPTIONS+="nowatch"\n' >"$W/nowatch.rules"
debugfs -w -R "write $W/nowatch.rules /etc/udev/rules.d/99-snf-nowatch.rules" "$W/appliance/root" >/dev/null 2>&1 &&
    debugfs -R "cat /etc/udev/rules.d/99-snf-nowatch.rules" "$W/appliance/root" 2>/dev/null | grep -q nowatch ||
    die "adding the udev rule that stops disk rescans failed"
# Boot the kernel uncompressed: qemu loads an ELF kernel with a PVH entry
# point (CONFIG_PVH) straight into memory, where a bzImage first
# decompresses itself, which under software emulation takes 6-9 s of each
# launch's 20. Kept compressed when the kernel has no PVH entry.
"$EXTRACT" "$W/appliance/kernel" >"$W/vmlinux" 2>/dev/null || die "uncompressing the kernel failed"
readelf -n "$W/vmlinux" >"$W/notes" 2>/dev/null || true
if grep -q '(0x00000012)' "$W/notes"; then  # XEN_ELFNOTE_PHYS32_ENTRY
    mv "$W/vmlinux" "$W/appliance/kernel"
else
    echo "ufs-appliance: $KVER has no PVH entry point; its kernel stays compressed" >&2
fi
printf 'A libguestfs fixed appliance whose ufs.ko writes UFS, built by %s.\n' "$SELF" \
    >"$W/appliance/README.fixed"
echo "$KVER" >"$W/appliance/kernel-version"
echo "$RECIPE" >"$W/appliance/recipe"
rm -rf "$DIR.old"
[ -e "$DIR" ] && mv "$DIR" "$DIR.old"
mv "$W/appliance" "$DIR"
rm -rf "$DIR.old"
printf 'ufs-appliance: built %s for %s in %.0fs (%s)\n' "$DIR" "$KVER" \
    "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$(du -sh "$DIR" | cut -f1)"
