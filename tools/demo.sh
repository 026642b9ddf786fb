#!/usr/bin/env bash
# The main job: set up the machine, then run the demo on the embedded cloud:
# the placement cases on file stores, then the two-site Ceph story (skipped,
# with the reason, when the cloud runs without Ceph).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/setup.sh"
venv=${CMS_VENV:-$top/.venv}
exec "$venv/bin/cinder-multistore-lab" demo "$@"
