#!/usr/bin/env bash
# Benchmark of shrinking (src/guest/shrink.rs) on the GPT fixture
# (debian-gpt.raw: BIOS boot partition + ext4 root, a Debian 12 system),
# against the peers' best, in the same run:
#
#   size   (a) snf-mkimage -o (default: shrink): the diskdump's size
#          (p) virt-sparsify --convert qcow2 + qemu-img convert -O raw: the
#              raw image the peers produce (same virtual size, sparse)
#   time   (a) the shrink step alone (examples/shrink_image: helper VM
#              launch and shrink timed separately, on an overlay)
#          (p) virt-sparsify --in-place on an overlay of the same image
#              (its own helper VM launch included; compare with launch +
#              shrink)
#
# The helper VMs run under KVM when it works, else software emulation,
# for both sides (our binary detects it; the peers are told).
# Usage: bench/shrink.sh   (env: SNF_FIXTURES, SNF_BENCH_DIR)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
WORK=$(mktemp -d "${SNF_BENCH_DIR:-/var/tmp}/snf-shrink-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
IMG=$FIX/debian-gpt.raw
"$ROOT"/scripts/fixtures.sh "$FIX" >/dev/null
(cd "$ROOT" && cargo build --release --quiet --bins --example shrink_image)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
# (in a subshell: a KVM that aborts qemu would make bash print the abort)
if ! (qemu-system-x86_64 -accel kvm -cpu host -machine q35 -display none -nodefaults -S \
        -qmp stdio <<<'{"execute":"qmp_capabilities"}{"execute":"quit"}' >/dev/null 2>&1) 2>/dev/null; then
    export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
    accel=TCG
else
    accel=KVM
fi

secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
alloc() { echo $(($(stat -c %b "$1") * 512)); }

echo "image: $IMG, $(mib "$(stat -c %s "$IMG")") MiB, $(mib "$(alloc "$IMG")") MiB allocated; helper VMs: $accel; $(nproc) CPUs"

# ---- sizes ----
t=$EPOCHREALTIME
"$BIN"/snf-image-creator mkimage -o "$WORK"/ours.diskdump "$IMG" 2>"$WORK"/ours.log
t_ours_run=$(secs "$t")
grep -a 'Image size is' "$WORK"/ours.log
t=$EPOCHREALTIME
virt-sparsify -q --convert qcow2 "$IMG" "$WORK"/sparse.qcow2
qemu-img convert -f qcow2 -O raw "$WORK"/sparse.qcow2 "$WORK"/peer.raw
t_peer_run=$(secs "$t")
before=$(stat -c %s "$IMG")
ours=$(stat -c %s "$WORK"/ours.diskdump)
peer=$(stat -c %s "$WORK"/peer.raw)
printf '\n%-52s %10s %14s\n' "size (MiB)" "apparent" "allocated"
printf '%-52s %10s %14s\n' "before: $(basename "$IMG")" "$(mib "$before")" "$(mib "$(alloc "$IMG")")"
printf '%-52s %10s %14s\n' "(a) snf-mkimage (shrink)" "$(mib "$ours")" "$(mib "$(alloc "$WORK"/ours.diskdump)")"
printf '%-52s %10s %14s\n' "(p) virt-sparsify + qemu-img convert -O raw" "$(mib "$peer")" "$(mib "$(alloc "$WORK"/peer.raw)")"
echo "apparent size (a) / (p) = $(ratio "$ours" "$peer");  (a) / before = $(ratio "$ours" "$before")"
echo "allocated (a) / (p) = $(ratio "$(alloc "$WORK"/ours.diskdump)" "$(alloc "$WORK"/peer.raw)")"
echo "whole runs: snf-mkimage -o ${t_ours_run}s (inspection, metadata, shrink, export, checksums); virt-sparsify + convert ${t_peer_run}s"
rm -f "$WORK"/*.raw "$WORK"/*.qcow2 "$WORK"/ours.diskdump*

# ---- times ----
read -r launch shrink _ _ < <("$BIN"/examples/shrink_image "$IMG" raw)
qemu-img create -q -f qcow2 -F raw -b "$IMG" "$WORK"/overlay.qcow2
t=$EPOCHREALTIME
virt-sparsify -q --in-place --format qcow2 "$WORK"/overlay.qcow2
t_sparsify=$(secs "$t")
printf '\n%-52s %10s\n' "time (s)" "seconds"
printf '%-52s %10s\n' "(a) helper VM launch" "$launch"
printf '%-52s %10s\n' "(a) shrink step" "$shrink"
printf '%-52s %10s\n' "(p) virt-sparsify --in-place (launch included)" "$t_sparsify"
echo "(a) launch + shrink / (p) = $(ratio "$(awk -v a="$launch" -v b="$shrink" 'BEGIN{print a+b}')" "$t_sparsify")"
