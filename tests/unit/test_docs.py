"""The documentation builds without a warning, benchmark results included."""

import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / 'doc' / 'source'


def test_docs_build_without_warnings(tmp_path):
    proc = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-q', '-W', '-b', 'html',
         str(SOURCE), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / 'performance.html').read_text()
    assert 'bench.png' in page and 'Targets (medians' in page
    assert (tmp_path / '_images' / 'bench.png').exists()
