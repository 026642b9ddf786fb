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

"""Every command of the documentation, run on the embedded cloud.

The commands are those of the ``.. code-block:: console`` blocks (see
``tests/doc_commands.py`` and the contributor guide's page on them). Each
page's commands run in order in one bash, as an operator who typed
``source DIR/stack.env`` would run them: stdin closed (the ``glance`` and
``openstack`` clients read image data from a stdin that is not a
terminal), the virtualenv's ``bin`` first on ``PATH``, in a new empty
folder where ``.venv`` names the virtualenv. Each must exit 0; the page's
cleanup commands run last, also after a failure.
"""

import os
from pathlib import Path
import shlex
import subprocess
import sys

import pytest

from tests import doc_commands


#: Seconds one page's commands may take, cleanup included.
PAGE_TIMEOUT = 600
FAILED = '@@doc-command-failed'

PAGES = [page for page in doc_commands.pages()
         if page.commands() or page.cleanup_commands()]


def _script(page: doc_commands.Page, stack_env_file: Path,
            venv: Path) -> str:
    """One bash script: the page's commands, each checked, then cleanup."""
    out = ['exec 0<&-',
           'set -o pipefail',
           'source %s' % shlex.quote(str(stack_env_file)),
           'export PATH=%s:"$PATH"' % shlex.quote(str(venv / 'bin')),
           'ln -s %s .venv' % shlex.quote(str(venv)),
           '__doc_cleanup() {',
           '  __doc_rc=$?']
    for n, (block, command) in enumerate(page.cleanup_commands(), 1):
        out += ['  echo "+ cleanup-%d" >&2' % n, command]
        if block is not None:
            # The hidden ones remove what a failed run left and may find
            # nothing: only the visible ones are checked.
            out += ['  __doc_status=$?',
                    '  if [ $__doc_status -ne 0 ]; then',
                    '    echo "%s cleanup-%d $__doc_status" >&2'
                    % (FAILED, n),
                    '    __doc_rc=1',
                    '  fi']
    out += ['  exit $__doc_rc', '}', 'trap __doc_cleanup EXIT']
    for n, (block, command) in enumerate(page.commands(), 1):
        out += ['echo "+ %d (%s)" >&2' % (n, block.where),
                command,
                '__doc_status=$?',
                'if [ $__doc_status -ne 0 ]; then',
                '  echo "%s %d $__doc_status" >&2' % (FAILED, n),
                '  exit 1',
                'fi']
    out.append('exit 0')
    return '\n'.join(out) + '\n'


def _failures(page: doc_commands.Page, stderr: str) -> list[str]:
    """Each failed command: where it is, its status and its text."""
    commands = dict((str(n), c) for n, c in
                    enumerate(page.commands(), 1))
    commands.update(('cleanup-%d' % n, c) for n, c in
                    enumerate(page.cleanup_commands(), 1))
    found = []
    for line in stderr.splitlines():
        if line.startswith(FAILED + ' '):
            _, label, status = line.split()
            block, command = commands[label]
            found.append('%s (%s) exited %s:\n$ %s' % (
                label, block.where if block else page.name, status,
                command))
    return found


@pytest.mark.parametrize('page', PAGES, ids=[p.name for p in PAGES])
def test_doc_commands_exit_zero(stack_env, tmp_path, page):
    stack_env_file = Path(stack_env.stack.directory) / 'stack.env'
    venv = Path(sys.executable).parent.parent
    if page.name.endswith('ceph.rst') and not stack_env.ceph_sites:
        pytest.skip('the cloud runs without its Ceph sites')
    script = tmp_path / 'commands.sh'
    script.write_text(_script(page, stack_env_file, venv))
    work = tmp_path / 'work'
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    proc = subprocess.run(['bash', str(script)], cwd=work, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=PAGE_TIMEOUT)
    failed = _failures(page, proc.stderr)
    assert proc.returncode == 0 and not failed, (
        '%s\n--- stdout\n%s\n--- stderr\n%s' % (
            '\n'.join(failed) or 'exit status %d' % proc.returncode,
            proc.stdout[-3000:], proc.stderr[-3000:]))


def test_every_command_not_run_says_why():
    not_run = [b for page in doc_commands.pages() for b in page.blocks
               if b.not_run_reason is not None]
    for block in not_run:
        print('not run: %s: %s' % (block.where, block.not_run_reason))
    assert not_run, 'no block is marked "not run"; the parser is broken'
    assert all(b.not_run_reason for b in not_run), [
        b.where for b in not_run if not b.not_run_reason]
