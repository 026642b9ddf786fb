#!/usr/bin/env bash
# The test command: set up the machine, then run the unit tests, the
# functional tests on a freshly started embedded cloud, and tempest.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/tools/setup.sh"
venv=${CMS_VENV:-$top/.venv}
exec "$venv/bin/python" -m cinder_multistore.cmd.testrun "$@"
