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

"""What ``stack down`` and the demo leave behind, and the commands they
tell the user to type.
"""

import os
from pathlib import Path
import shlex
import shutil
import sys

import pytest

from cinder_multistore_lab import cli
from cinder_multistore_lab import demo
from cinder_multistore_lab import shell_hints
from cinder_multistore_lab import stack


def _stopped_stack(directory: Path) -> None:
    """What a stopped stack leaves: logs and store data."""
    (directory / 'logs').mkdir(parents=True)
    (directory / 'logs' / 'glance.log').write_text('x' * 2048)
    (directory / 'stores' / 'alpha').mkdir(parents=True)
    (directory / 'stores' / 'alpha' / 'image').write_bytes(b'\0' * 4096)


def _runs(command_line: str) -> bool:
    """True when the shell finds the first word of ``command_line``."""
    word = shlex.split(command_line)[0]
    return (shutil.which(word) is not None
            or os.access(os.path.join(os.getcwd(), word), os.X_OK))


def _hinted(out: str, prefix: str) -> str:
    line = next(line for line in out.splitlines() if prefix in line)
    return line.split(prefix, 1)[1].strip()


@pytest.fixture
def without_venv_on_path(monkeypatch):
    """A shell that has not activated the virtualenv, as after setup."""
    bin_dir = os.path.dirname(sys.executable)
    monkeypatch.setenv('PATH', os.pathsep.join(
        p for p in os.environ.get('PATH', '').split(os.pathsep)
        if os.path.realpath(p) != os.path.realpath(bin_dir)))


def test_down_says_where_the_data_is_and_how_to_remove_it(
        tmp_path, capsys, without_venv_on_path):
    _stopped_stack(tmp_path)
    assert cli.main(['stack', 'down', '--dir', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and '6.0 KiB' in out, out
    hint = _hinted(out, 'remove them with ')
    assert '--purge' in hint and _runs(hint), hint
    assert (tmp_path / 'stores' / 'alpha' / 'image').exists()


def test_down_purge_removes_the_folder(tmp_path, capsys):
    directory = tmp_path / 'stack'
    _stopped_stack(directory)
    assert cli.main(['stack', 'down', '--purge', '--dir',
                     str(directory)]) == 0
    assert not directory.exists()
    assert 'folder removed' in capsys.readouterr().out


def test_purge_keeps_files_the_stack_did_not_make(tmp_path):
    _stopped_stack(tmp_path)
    (tmp_path / 'notes.txt').write_text('mine')
    assert stack.purge(tmp_path) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ['notes.txt']


def test_purge_refuses_a_running_stack(tmp_path, monkeypatch):
    _stopped_stack(tmp_path)
    monkeypatch.setattr(stack, '_running_services', lambda d: ['glance'])
    with pytest.raises(stack.StackError, match='still runs'):
        stack.purge(tmp_path)
    assert (tmp_path / 'logs' / 'glance.log').exists()


def test_demo_keep_names_commands_the_shell_finds(
        tmp_path, capsys, without_venv_on_path):
    code = demo.main(str(tmp_path), True, up=lambda d: None,
                     down=lambda d: None)
    assert code == 1  # no stack.env: nothing ran
    out = capsys.readouterr().out
    hint = _hinted(out, 'Stop it with: ')
    assert _runs(hint) and 'stack down --dir %s' % tmp_path in hint, hint
    tries = [line.strip() for line in out.splitlines()
             if 'image list' in line or 'volume type list' in line]
    assert tries and all(_runs(t) for t in tries), tries


def test_demo_says_where_its_logs_stay(tmp_path, capsys,
                                       without_venv_on_path):
    _stopped_stack(tmp_path)
    demo.main(str(tmp_path), False, up=lambda d: None, down=lambda d: None)
    out = capsys.readouterr().out
    assert 'left in %s' % tmp_path in out, out
    hint = _hinted(out, 'Remove them with: ')
    assert '--purge' in hint and _runs(hint), hint


def test_command_is_relative_below_the_current_folder(monkeypatch,
                                                      without_venv_on_path):
    bin_dir = Path(sys.executable).parent
    monkeypatch.chdir(bin_dir.parent.parent)
    assert shell_hints.command('openstack') == os.path.join(
        bin_dir.parent.name, bin_dir.name, 'openstack')


def test_size_reads_as_people_read_it():
    assert shell_hints.size(0) == '0 B'
    assert shell_hints.size(6144) == '6.0 KiB'
    assert shell_hints.size(12 << 20) == '12 MiB'
    assert shell_hints.size(3 << 40) == '3072 GiB'
