#!/usr/bin/env bash
# Our end-to-end time per GiB of data on each kind of guest, against the
# Linux fixture's, in the same run (issue: the Windows, BSD and LVM
# fixtures no slower than the Linux ones per GiB of data).
#
# Each fixture goes through `snf-mkimage -o` with the defaults (system
# preparation, shrink, raw export, MD5 and SHA-256), alternately, best of
# N; Windows with --no-boot (a Windows guest cannot boot here, and its
# online phase is a boot's time, not ours). "Data" is what the sparse
# fixture holds (its allocated blocks). A small fixture is dominated by
# the helper VM's fixed costs (launch, inspection), so the same figures
# also print the time beyond the reference's launch and inspection.
# Usage: bench/guests.sh [N]   (env: SNF_FIXTURES, SNF_BENCH_DIR)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
N=${1:-1}
WORK=$(mktemp -d "${SNF_BENCH_DIR:-/var/tmp}/snf-guests-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
. "$ROOT"/bench/lib.sh
ln -s "$BIN"/snf-image-creator "$WORK"/snf-mkimage

# fixture, extra arguments
ROWS=("debian-gpt.raw|" "debian-lvm-gpt.raw|" "windows-2019-gpt.raw|--no-boot" "bsd-freebsd-gpt.raw|")
echo "helper VMs: $accel; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

run() {
    local img=$FIX/$1 t; shift
    rm -f "$WORK"/out.diskdump*
    t=$EPOCHREALTIME
    "$WORK"/snf-mkimage "$@" -o "$WORK"/out.diskdump "$img" >"$WORK"/out.log 2>&1 ||
        { echo "snf-mkimage failed on $img:" >&2; tail -n 5 "$WORK"/out.log >&2; exit 1; }
    echo "$(secs "$t") $(fixed "$WORK"/out.diskdump.report.json)"
}
# The run's launch and inspection seconds (the fixed costs).
fixed() {
    python3 -c 'import json, sys; print(round(sum(s["seconds"] for s in json.load(open(sys.argv[1]))["steps"] if s["step"].startswith(("Launching", "Inspecting"))), 1))' "$1"
}

declare -A best best_fixed
for i in $(seq 1 "$N"); do
    for row in "${ROWS[@]}"; do
        f=${row%%|*} args=${row#*|}
        # shellcheck disable=SC2086
        read -r t fx < <(run "$f" $args)
        echo "round $i: $f ${args:+($args) }$t s (launch and inspection $fx s)"
        if [ "$(min "$t" "${best[$f]:-}")" = "$t" ]; then best[$f]=$t best_fixed[$f]=$fx; fi
    done
done

echo
printf '  %-22s %8s %9s %9s %12s %10s\n' fixture data-MiB seconds s/GiB "beyond-fixed" s/GiB
ref= ref_beyond=
for row in "${ROWS[@]}"; do
    f=${row%%|*}
    d=$(data_bytes "$FIX/$f")
    read -r per beyond per_beyond < <(awk -v t="${best[$f]}" -v fx="${best_fixed[$f]}" -v d="$d" \
        'BEGIN { g = d / 1073741824; printf "%.1f %.1f %.1f\n", t / g, t - fx, (t - fx) / g }')
    : "${ref:=$per}" "${ref_beyond:=$per_beyond}"
    printf '  %-22s %8s %9s %9s %12s %10s   (x%s, x%s of %s)\n' "$f" "$(mib "$d")" "${best[$f]}" "$per" \
        "$beyond" "$per_beyond" "$(awk -v a="$per" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$per_beyond" -v b="$ref_beyond" 'BEGIN { printf "%.2f", a / b }')" "${ROWS[0]%%|*}"
done
