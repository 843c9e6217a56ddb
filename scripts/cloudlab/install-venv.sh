#!/usr/bin/env bash
# Install pinned PyPI packages into a virtualenv of the cloud-lab cache,
# once. Idempotent: a finished virtualenv is marked and left alone.
#
# usage: scripts/cloudlab/install-venv.sh NAME PACKAGE==VERSION...
#   SNF_CLOUDLAB  cache directory (default /var/tmp/snf-cloudlab)
#   PYTHON3       interpreter for the virtualenv (default python3.11)
set -euo pipefail
name=$1; shift
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
PY=${PYTHON3:-python3.11}
DEST=$LAB/venv-$name
[ -f "$DEST/.installed" ] && [ "$(cat "$DEST/.installed")" = "$*" ] && exit 0
start=$(date +%s)
rm -rf "$DEST"; mkdir -p "$LAB"
"$PY" -m venv "$DEST"
"$DEST/bin/pip" install -q --disable-pip-version-check "$@"
echo "$*" > "$DEST/.installed"
echo "installed $* into $DEST in $(( $(date +%s) - start )) s"
