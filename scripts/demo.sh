#!/usr/bin/env bash
# Set up this machine (idempotent), build a demo Debian 12 disk image, and
# run the main job on it: snf-mkimage exports a clean diskdump with its
# .meta, .md5sum, .sha256sum and .variant files into ./demo-output/,
# uploads it into the built-in local image store and registers it as
# "Debian 12"; then the registered image is shown.
#
# usage: scripts/demo.sh [OUTPUT_DIR]
#   SNF_IMAGE_STORE  the local image store (default: OUTPUT_DIR/store)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-output}

scripts/setup.sh
scripts/fixtures.sh
fixtures=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
mkdir -p "$out"
export SNF_IMAGE_STORE=${SNF_IMAGE_STORE:-$(cd "$out" && pwd)/store}
target/release/snf-mkimage -f -o "$out/debian.diskdump" \
    -u debian.diskdump -r "Debian 12" "$fixtures/debian-gpt.qcow2" > "$out/registration.json"
ls -ls "$out"
(cd "$out" && md5sum -c debian.diskdump.md5sum && sha256sum -c debian.diskdump.sha256sum)
echo "Images in the local store ($SNF_IMAGE_STORE):"
target/release/snf-image-creator images list
target/release/snf-image-creator images show "Debian 12"
