#!/usr/bin/env bash
# Set up this machine (idempotent), build a demo Debian 12 disk image, and
# run the main job on it: snf-mkimage exports a clean diskdump with its
# .meta, .md5sum, .sha256sum and .variant files into ./demo-output/.
#
# usage: scripts/demo.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-output}

scripts/setup.sh
scripts/fixtures.sh
fixtures=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
mkdir -p "$out"
target/release/snf-image-creator mkimage -f -o "$out/debian.diskdump" "$fixtures/debian-gpt.qcow2"
ls -ls "$out"
(cd "$out" && md5sum -c debian.diskdump.md5sum && sha256sum -c debian.diskdump.sha256sum)
