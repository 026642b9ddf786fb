# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The documentation builds without a warning, benchmark results included."""

from pathlib import Path
import subprocess
import sys


SOURCE = Path(__file__).resolve().parents[2] / 'doc' / 'source'


def test_docs_build_without_warnings(tmp_path):
    proc = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-q', '-W', '-b', 'html',
         str(SOURCE), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / 'performance.html').read_text()
    assert 'bench.png' in page and 'Targets (medians' in page
    assert (tmp_path / '_images' / 'bench.png').exists()
