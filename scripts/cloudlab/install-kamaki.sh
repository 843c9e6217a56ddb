#!/usr/bin/env bash
# Install kamaki 0.16, the real Synnefo command-line client (Python 2 only),
# into the cloud-lab cache, for the interoperability tests. Idempotent.
#
# usage: scripts/cloudlab/install-kamaki.sh
#   SNF_CLOUDLAB  cache directory (default /var/tmp/snf-cloudlab)
#   PYTHON2       a Python 2.7 interpreter (default: pyenv's 2.7.18)
# Run it as:  PYTHONPATH=$SNF_CLOUDLAB/kamaki-0.16 $PYTHON2 $SNF_CLOUDLAB/kamaki-0.16/bin/kamaki
set -euo pipefail
VERSION=0.16
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
PY2=${PYTHON2:-/root/.pyenv/versions/2.7.18/bin/python}
DEST=$LAB/kamaki-$VERSION
[ -f "$DEST/.installed" ] && exit 0
[ -x "$PY2" ] || { echo "install-kamaki: no Python 2.7 at $PY2 (set PYTHON2)" >&2; exit 1; }
rm -rf "$DEST.tmp"; mkdir -p "$LAB"
"$PY2" -m pip install -q --disable-pip-version-check --target "$DEST.tmp" "kamaki==$VERSION"
rm -rf "$DEST"; mv "$DEST.tmp" "$DEST"
touch "$DEST/.installed"
echo "kamaki $VERSION installed in $DEST"
