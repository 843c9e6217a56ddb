#!/usr/bin/env bash
# End to end, against the virt-* pipeline that does the same work, in the
# same run, alternately, best of N (issue: half the time of the virt-*
# pipeline):
#
#   (a) snf-mkimage -o OUT IMG   (defaults: system preparation, shrink,
#                                 raw export, MD5 and SHA-256)
#   (p) on a qcow2 overlay of IMG: virt-sysprep, virt-sparsify --in-place,
#       qemu-img convert -O raw, md5sum, sha256sum
#
# Each step of (p) is timed; (a) prints its own per-step report, with the
# number of libguestfs calls it made. Peak memory (RSS, /usr/bin/time) is
# printed for both: our process alone (from its report) and the largest
# process of each side, helper VM's qemu included. Both outputs are then
# inspected (once, untimed) and must be the same OS.
# The helper VMs run under KVM when it works, else software emulation,
# for both sides.
# Usage: bench/e2e.sh [FIXTURE] [N]   (env: SNF_FIXTURES, SNF_BENCH_DIR)
#        FIXTURE defaults to debian-mbr-swap.raw (swap last), N to 2.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
IMG=$FIX/${1:-debian-mbr-swap.raw}
N=${2:-2}
WORK=$(mktemp -d "${SNF_BENCH_DIR:-/var/tmp}/snf-e2e-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$ROOT"/bench/lib.sh
ln -s "$BIN"/snf-image-creator "$WORK"/snf-mkimage

echo "image: $IMG, $(mib "$(stat -c %s "$IMG")") MiB; helper VMs: $accel; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

ours() {
    rm -f "$WORK"/ours.diskdump*
    local t=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK"/ours.rss \
        "$WORK"/snf-mkimage -o "$WORK"/ours.diskdump "$IMG" >"$WORK"/ours.log 2>&1
    secs "$t"
}

# Run a peer step, keeping the largest RSS (KiB) of any of its processes.
peak() {
    /usr/bin/time -f %M -o "$WORK"/step.rss "$@"
    local k; k=$(tail -n 1 "$WORK"/step.rss)
    [ "$k" -gt "$(cat "$WORK"/peer.rss 2>/dev/null || echo 0)" ] && echo "$k" >"$WORK"/peer.rss
    return 0
}

# Each step's time, space-separated, in the order of STEPS.
STEPS=(overlay virt-sysprep virt-sparsify convert md5sum sha256sum)
peer() {
    rm -f "$WORK"/ov.qcow2 "$WORK"/peer.raw
    local t times=()
    t=$EPOCHREALTIME
    peak qemu-img create -q -f qcow2 -F raw -b "$IMG" "$WORK"/ov.qcow2
    times+=("$(secs "$t")"); t=$EPOCHREALTIME
    peak virt-sysprep -q -a "$WORK"/ov.qcow2 >"$WORK"/peer.log 2>&1
    times+=("$(secs "$t")"); t=$EPOCHREALTIME
    peak virt-sparsify -q --in-place "$WORK"/ov.qcow2 >>"$WORK"/peer.log 2>&1
    times+=("$(secs "$t")"); t=$EPOCHREALTIME
    peak qemu-img convert -f qcow2 -O raw "$WORK"/ov.qcow2 "$WORK"/peer.raw
    times+=("$(secs "$t")"); t=$EPOCHREALTIME
    peak md5sum "$WORK"/peer.raw >/dev/null
    times+=("$(secs "$t")"); t=$EPOCHREALTIME
    peak sha256sum "$WORK"/peer.raw >/dev/null
    times+=("$(secs "$t")")
    echo "${times[*]}"
}

best_a= best_p= best_steps=
for i in $(seq 1 "$N"); do
    a=$(ours)
    steps=$(peer)
    p=$(awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.1f", s }' <<<"$steps")
    echo "round $i: (a) $a s   (p) $p s   [p steps: $steps]"
    [ "$(min "$p" "$best_p")" = "$p" ] && best_steps=$steps
    [ "$(min "$a" "$best_a")" = "$a" ] && cp "$WORK"/ours.diskdump.report.json "$WORK"/best.report.json
    best_a=$(min "$a" "$best_a"); best_p=$(min "$p" "$best_p")
done

echo
echo "(a) snf-mkimage, the end of its own report (last round):"
tail -n 25 "$WORK"/ours.log
echo
echo "best rounds' steps, side by side ((a) grouped from its report.json):"
# Our steps grouped as the issue counts them; the peer's as timed above.
python3 - "$WORK"/best.report.json "$best_steps" "${STEPS[@]}" <<'PY'
import json, sys
report, peer, names = json.load(open(sys.argv[1])), sys.argv[2].split(), sys.argv[3:]
groups = [("launch", "Launching"), ("inspection", "Inspecting"), ("metadata", "Collecting"),
          ("shrink", "("), ("tasks", "("), ("tasks", "Mounting"), ("tasks", "Umounting"),
          ("secrets", "Scanning"), ("shutdown", "Shutting"), ("export", "Dumping"),
          ("export", "Calculating")]
ours = {}
for st in report["steps"]:
    name = st["step"]
    g = next((g for g, pre in groups if name.startswith(pre) and (g != "shrink" or "Shrinking" in name)), "other")
    ours[g] = ours.get(g, 0.0) + st["seconds"]
order = ["launch", "inspection", "metadata", "tasks", "shrink", "secrets", "shutdown", "export", "other"]
rows = max(len(order), len(names))
print(f"  {'(a) snf-mkimage':<16} {'s':>6}   | {'(p) virt-*':<16} {'s':>6}")
for i in range(rows):
    a = f"  {order[i]:<16} {ours.get(order[i], 0.0):6.1f}" if i < len(order) else " " * 25
    p = f"{names[i]:<16} {peer[i]:>6}" if i < len(names) else ""
    print(f"{a}   | {p}")
print(f"  {'total':<16} {sum(ours.values()):6.1f}   | {'total':<16} {sum(map(float, peer)):6.1f}")
print(f"  guestfs calls: {report['guestfs_calls']}, peak RSS {report['peak_rss_bytes'] / 1048576:.1f} MiB")
PY
echo
os() { virt-inspector --no-applications --no-icon -a "$1" 2>/dev/null |
    sed -n 's:.*<distro>\(.*\)</distro>.*:\1:p' | head -1; }
oa=$(os "$WORK"/ours.diskdump); op=$(os "$WORK"/peer.raw)
[ -n "$oa" ] && [ "$oa" = "$op" ] || { echo "the outputs differ as systems: (a) '$oa', (p) '$op'" >&2; exit 1; }
report_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$WORK"/ours.diskdump.report.json "$1"; }
echo "guestfs calls made by (a), last round: $(report_field guestfs_calls)"
printf 'peak RSS: (a) %s MiB snf-mkimage itself, %s MiB largest process (helper VM included); (p) %s MiB largest process\n' \
    "$(mib "$(report_field peak_rss_bytes)")" "$(mib $(($(tail -n 1 "$WORK"/ours.rss) * 1024)))" \
    "$(mib $(($(cat "$WORK"/peer.rss) * 1024)))"
printf 'output size: (a) %s MiB, (p) %s MiB apparent; both inspect as %s\n' \
    "$(mib "$(stat -c %s "$WORK"/ours.diskdump)")" "$(mib "$(stat -c %s "$WORK"/peer.raw)")" "$oa"
printf 'best of %s: (a) %s s, (p) %s s, ratio (a)/(p) = %s (target <= 0.50)\n' "$N" "$best_a" "$best_p" \
    "$(awk -v a="$best_a" -v p="$best_p" 'BEGIN { printf "%.2f", a / p }')"
