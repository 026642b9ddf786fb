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

"""Pid files and stopping by pid (no service: a ``sleep`` stands in)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import os
from pathlib import Path
import sys
import time

import pytest

from cinder_multistore_lab.stack import process


SLEEP = [sys.executable, '-c', 'import time; time.sleep(60)']
#: Ignores SIGTERM: only SIGKILL stops it.
STUBBORN = [sys.executable, '-c',
            'import signal, sys, time\n'
            'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
            'sys.stdout.write("ready\\n"); sys.stdout.flush()\n'
            'time.sleep(60)']
#: Leaves a child behind in its session, then exits.
FORKS = [sys.executable, '-c',
         'import subprocess, sys\n'
         'subprocess.Popen([sys.executable, "-c", '
         '"import time; time.sleep(60)"])\n']


Starter = Callable[[str, list[str]], process.Process]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Starter]:
    procs: list[process.Process] = []

    def start(name: str, argv: list[str]) -> process.Process:
        proc = process.start(tmp_path, name, argv)
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        process.stop_pid(proc.pid, proc.started, proc.name, timeout=2)


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.05)


def test_start_writes_pid_and_start_time(tmp_path: Path,
                                         started: Starter) -> None:
    proc = started('svc', SLEEP)
    pid_file = process.run_dir(tmp_path) / 'svc.pid'
    assert proc.pid_file == pid_file
    assert process.read_pid_file(pid_file) == (proc.pid, proc.started)
    assert proc.started == process.start_time(proc.pid)
    assert proc.log_path == tmp_path / 'logs' / 'svc.log'
    assert process.alive(proc.pid, proc.started)
    attached = process.attach(tmp_path, 'svc')
    assert (attached.pid, attached.started) == (proc.pid, proc.started)


def test_stop_pid_file_stops_and_removes(tmp_path: Path,
                                         started: Starter) -> None:
    proc = started('svc', SLEEP)
    process.stop_pid_file(proc.pid_file, timeout=5)
    assert not proc.pid_file.exists()
    _wait(lambda: not proc.running())
    with pytest.raises(process.StackError):
        process.attach(tmp_path, 'svc')


def test_stop_kills_what_ignores_term(tmp_path: Path,
                                      started: Starter) -> None:
    proc = started('stubborn', STUBBORN)
    _wait(lambda: 'ready' in proc.log_path.read_text())
    began = time.monotonic()
    process.stop_pid(proc.pid, proc.started, 'stubborn', timeout=0.5)
    assert time.monotonic() - began < 10
    assert not process.session_members(proc.pid, proc.started)


def test_stop_finds_children_after_the_leader_exited(tmp_path: Path,
                                                     started: Starter) -> None:
    proc = started('forks', FORKS)
    _wait(lambda: not proc.running())
    members = process.session_members(proc.pid, proc.started)
    assert members and proc.pid not in members
    process.stop_pid_file(proc.pid_file, timeout=5)
    assert not process.session_members(proc.pid, proc.started)


def test_a_process_that_already_exited(tmp_path: Path,
                                       started: Starter) -> None:
    proc = started('quick', [sys.executable, '-c', 'pass'])
    _wait(lambda: not proc.running())
    process.stop_pid_file(proc.pid_file, timeout=1)
    assert not proc.pid_file.exists()
    # Twice is fine too.
    process.stop_pid_file(proc.pid_file, timeout=1)


def test_stale_pid_file_of_a_reused_pid_is_left_alone(tmp_path: Path) -> None:
    """A pid file whose start time differs names another process now:
    stopping it must not signal that process (here: the test itself).
    """
    pid_file = process.run_dir(tmp_path) / 'old.pid'
    pid_file.parent.mkdir(parents=True)
    me = process.start_time(os.getpid())
    assert me is not None
    pid_file.write_text('%d %d\n' % (os.getpid(), me - 1))
    assert not process.alive(os.getpid(), me - 1)
    process.stop_pid_file(pid_file, timeout=1)
    assert not pid_file.exists()
    assert process.alive(os.getpid(), me)


def test_stale_pid_file_of_a_gone_pid(tmp_path: Path) -> None:
    pid_file = process.run_dir(tmp_path) / 'gone.pid'
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text('%d 12345\n' % (2 ** 22 + 1))
    assert process.read_pid_file(pid_file) == (2 ** 22 + 1, 12345)
    process.stop_pid_file(pid_file, timeout=1)
    assert not pid_file.exists()


@pytest.mark.parametrize('text', ['', 'garbage', '12', 'a b'])
def test_unreadable_pid_file(tmp_path: Path, text: str) -> None:
    pid_file = Path(tmp_path) / 'bad.pid'
    pid_file.write_text(text)
    assert process.read_pid_file(pid_file) is None
    process.stop_pid_file(pid_file)
    assert not pid_file.exists()


def test_missing_pid_file(tmp_path: Path) -> None:
    assert process.read_pid_file(tmp_path / 'none.pid') is None
    process.stop_pid_file(tmp_path / 'none.pid')


def test_services_get_no_os_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OS_PASSWORD', 'secret')
    monkeypatch.setenv('CMS_KEEP', '1')
    env = process.environ({'OS_GLANCE_CONFIG_DIR': '/etc/g'})
    assert 'OS_PASSWORD' not in env
    assert env['CMS_KEEP'] == '1'
    assert env['OS_GLANCE_CONFIG_DIR'] == '/etc/g'
