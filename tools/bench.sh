#!/usr/bin/env bash
# The benchmark: set up the machine, start the embedded cloud (two Ceph
# sites included), measure the upload paths side by side, time the start-up
# and sample the whole cloud's memory, and write
# bench-results/bench.{json,png,rst} and bench-ceph.rst.
# Arguments go to "cinder-multistore-lab bench" (--large adds 4 GiB).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/setup.sh"
venv=${CMS_VENV:-$top/.venv}
exec "$venv/bin/cinder-multistore-lab" bench "$@"
