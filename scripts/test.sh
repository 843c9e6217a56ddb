#!/usr/bin/env bash
# Set up this machine (idempotent), build, and run every check and test:
# formatting, clippy, unit tests, and the integration tests on real disk
# images with a real libguestfs appliance.
#
# usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/setup.sh --no-build
export PATH="$HOME/.cargo/bin:$PATH"
scripts/fixtures.sh
scripts/cloudlab/install.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo build --release"
cargo build --release --locked
echo "== cargo test"
# Two test threads: each integration test launches helper VMs, and the
# machine has two cores.
# Each line is stamped with the time, so that a slow test shows (libtest
# prints "has been running for over 60 seconds" a minute after it starts).
cargo test --release --locked -- --test-threads=2 "$@" 2>&1 |
    while IFS= read -r line; do printf '[%(%H:%M:%S)T] %s\n' -1 "$line"; done
echo "== all tests passed in $(( $(date +%s) - start )) s"
