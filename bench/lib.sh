# Shared by the end-to-end benchmarks (sourced): the build, the helper
# VMs' acceleration and small formatting helpers.
# Needs ROOT (the checkout) and FIX (the fixtures directory) set.

"$ROOT"/scripts/fixtures.sh "$FIX" >/dev/null
(cd "$ROOT" && cargo build --release --quiet --bins)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
# Both sides use KVM only where the product's own probe (which boots a
# kernel, as a plain qemu start cannot show) finds it works; else both run
# under software emulation.
if "$BIN"/snf-image-creator doctor --json 2>/dev/null |
    python3 -c 'import json, sys; c = {k["name"]: k for k in json.load(sys.stdin)["checks"]}; sys.exit(0 if c["KVM"]["found"].startswith("usable") else 1)'; then
    accel=KVM
else
    export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}
    accel=TCG
fi

secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
# The bytes a (sparse) fixture holds: its allocated blocks.
data_bytes() { stat -c '%b %B' "$1" | awk '{ print $1 * $2 }'; }
