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


# -- the commands of the docs (tests/doc_commands.py) ------------------------

def test_commands_are_only_in_console_blocks():
    from tests import doc_commands
    found = []
    for page in doc_commands.pages():
        for block in page.blocks:
            # An rst block shows the markup of a console block.
            if block.language in ('console', 'rst'):
                continue
            found += ['%s: %s' % (block.where, line.strip())
                      for line in block.lines
                      if doc_commands.looks_like_command(line)]
    assert not found, (
        'commands outside a ".. code-block:: console" block are not run '
        'by tests/functional/test_doc_commands.py:\n' + '\n'.join(found))


def test_console_blocks_hold_commands_and_markers_a_block():
    from tests import doc_commands
    empty, stray, unknown = [], [], []
    for page in doc_commands.pages():
        stray += ['%s:%d %s' % (page.name, line, text)
                  for line, text in page.stray_markers]
        for block in page.blocks:
            if block.language != 'console':
                continue
            if not block.commands:
                empty.append(block.where)
            if block.marker is not None and not (
                    block.cleanup or block.not_run_reason is not None):
                unknown.append('%s %s' % (block.where, block.marker))
    assert not empty, 'console blocks without a "$ " command: %s' % empty
    assert not stray, 'markers before no console block: %s' % stray
    assert not unknown, 'unknown markers: %s' % unknown


def test_every_block_not_run_has_a_reason():
    from tests import doc_commands
    not_run = [b for page in doc_commands.pages() for b in page.blocks
               if b.not_run_reason is not None]
    assert not_run
    assert all(b.not_run_reason for b in not_run), [
        b.where for b in not_run if not b.not_run_reason]


def test_the_docs_have_commands_that_run():
    from tests import doc_commands
    run = {page.name for page in doc_commands.pages() if page.commands()}
    assert {'README.rst', 'doc/source/ceph.rst'} <= run, run


def test_parser_reads_markers_prompts_and_continuations(tmp_path):
    from tests import doc_commands
    page = tmp_path / 'page.rst'
    page.write_text(
        'Intro::\n\n    [DEFAULT]\n    debug = true\n\n'
        '.. doc-commands: not run: edits a\n   service\'s file\n\n'
        '.. code-block:: console\n\n    $ systemctl restart x\n\n'
        '.. doc-commands: cleanup: rm -f a\n\n'
        '.. code-block:: console\n\n'
        '    $ echo a \\\n        b > a\n    a b\n    $ cat a\n\n'
        '.. doc-commands: cleanup\n\n'
        '.. code-block:: console\n\n    $ rm a\n')
    parsed = doc_commands.parse(page)
    assert [b.language for b in parsed.blocks] == [
        'literal', 'console', 'console', 'console']
    assert parsed.blocks[1].not_run_reason == "edits a service's file"
    assert [c for _, c in parsed.commands()] == [
        'echo a \\\n    b > a', 'cat a']
    assert [c for _, c in parsed.cleanup_commands()] == ['rm a', 'rm -f a']
    assert not parsed.stray_markers
