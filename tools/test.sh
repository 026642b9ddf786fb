#!/usr/bin/env bash
# The test command: set up the machine, then run the unit tests, the
# functional tests on freshly started embedded clouds, and tempest, on the
# newest release and on the older releases CI covers (see
# lab/cinder_multistore_lab/testrun.py).
#
#   bash tools/test.sh                    # what CI runs
#   bash tools/test.sh --release 2026.1   # one release, every Glance server
#   bash tools/test.sh --release 2025.1 --glance-server eventlet
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/setup.sh"
venv=${CMS_VENV:-$top/.venv}
cd "$top"
exec "$venv/bin/python" -m cinder_multistore_lab.testrun "$@"
