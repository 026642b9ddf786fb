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

"""Start and stop the stack's processes, and wait for them to answer.

Every service runs in a session of its own (``start_new_session``), so that
it survives the ``stack up`` command and so that everything it forks (uwsgi
workers, privsep helpers) can be found again by session id and stopped.
A pid file ``DIR/run/<name>.pid`` holds ``<pid> <start time>``; the start
time (from ``/proc/<pid>/stat``) guards against a reused pid.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import http.client
import logging
import os
from pathlib import Path
import signal
import socket
import subprocess
import time


LOG = logging.getLogger(__name__)

#: Lines of a service's log shown in a :class:`ServiceError`.
TAIL_LINES = 30


class StackError(RuntimeError):
    """The embedded cloud could not be set up or torn down."""


class ServiceError(StackError):
    """A service did not come up.

    :param service: the service name (``keystone``, ``glance``...).
    :param log_path: the service's log file.
    :param reason: what went wrong.
    """

    def __init__(self, service: str, log_path: Path | str | None,
                 reason: str) -> None:
        self.service = service
        self.log_path = str(log_path) if log_path else None
        self.reason = reason
        message = '%s did not come up: %s' % (service, reason)
        if log_path:
            message += '\nlog: %s\n--- last lines ---\n%s' % (
                log_path, tail(log_path))
        super().__init__(message)


def tail(path: Path | str, lines: int = TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file (empty if missing)."""
    try:
        with open(path, 'rb') as f:
            last = collections.deque(f, maxlen=lines)
    except OSError:
        return ''
    return b''.join(last).decode('utf-8', 'replace').rstrip()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name, or None."""
    try:
        raw = Path('/proc/%d/stat' % pid).read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return raw[raw.rindex(')') + 2:].split()


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None."""
    fields = _stat_fields(pid)
    # Field 22 of stat; fields[0] is field 3 (state).
    return int(fields[19]) if fields else None


def _session_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if fields else None


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] == 'Z'


def alive(pid: int, started: int | None = None) -> bool:
    """True when ``pid`` runs (not a zombie) and, if given, started then."""
    now = start_time(pid)
    if now is None or _is_zombie(pid):
        return False
    return started is None or now == started


def session_members(leader: int, started: int) -> list[int]:
    """Live processes of the session led by ``leader`` (it included).

    Only processes started no earlier than the leader count, so a session
    id reused after a reboot-free pid wrap-around is not mistaken for ours.
    """
    members = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if _session_of(pid) != leader:
            continue
        began = start_time(pid)
        if began is not None and began >= started and not _is_zombie(pid):
            members.append(pid)
    return members


class Process:
    """A started service: its name, pid, start time, log and pid file."""

    def __init__(self, name: str, pid: int, started: int, log_path: Path,
                 pid_file: Path, popen: subprocess.Popen | None = None
                 ) -> None:
        self.name = name
        self.pid = pid
        self.started = started
        self.log_path = log_path
        self.pid_file = pid_file
        self._popen = popen

    def running(self) -> bool:
        """True while the service's main process runs."""
        if self._popen is not None and self._popen.poll() is not None:
            return False
        return alive(self.pid, self.started)

    def __repr__(self) -> str:
        return '<Process %s pid=%d>' % (self.name, self.pid)


def environ(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``OS_*`` variables, plus ``env``.

    A caller's cloud credentials must not leak into the services.
    """
    full = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    full.update(env or {})
    return full


def run_dir(directory: Path) -> Path:
    """The folder that holds the pid files."""
    return Path(directory) / 'run'


def start(directory: Path, name: str, argv: Sequence[str],
          env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> Process:
    """Start ``argv`` in a new session, output to ``DIR/logs/<name>.log``.

    :param directory: the stack directory.
    :param name: the service name; names the log and the pid file.
    :param argv: the command line.
    :param env: variables added to this process's environment.
    :returns: the started :class:`Process`.
    """
    directory = Path(directory)
    log_path = directory / 'logs' / ('%s.log' % name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    pid_file = run_dir(directory) / ('%s.pid' % name)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = environ(env)
    LOG.debug('starting %s: %s', name, ' '.join(argv))
    with open(log_path, 'ab') as log:
        popen = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, env=full_env,
            cwd=str(cwd or directory), start_new_session=True,
            close_fds=True)
    started = start_time(popen.pid) or 0
    pid_file.write_text('%d %d\n' % (popen.pid, started))
    LOG.info('started %s (pid %d), log %s', name, popen.pid, log_path)
    return Process(name, popen.pid, started, log_path, pid_file, popen)


def read_pid_file(pid_file: Path) -> tuple[int, int] | None:
    """Return ``(pid, start time)`` from a pid file, or None."""
    try:
        pid, started = pid_file.read_text().split()[:2]
        return int(pid), int(started)
    except (OSError, ValueError):
        return None


def attach(directory: Path, name: str) -> Process:
    """The :class:`Process` of a service started earlier in ``directory``.

    :raises StackError: when it has no pid file or no longer runs.
    """
    pid_file = run_dir(directory) / ('%s.pid' % name)
    record = read_pid_file(pid_file)
    if record is None or not alive(*record):
        raise StackError('%s does not run in %s' % (name, directory))
    return Process(name, record[0], record[1],
                   Path(directory) / 'logs' / ('%s.log' % name), pid_file)


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_pid(pid: int, started: int, name: str = '',
             timeout: float = 15.0) -> None:
    """Stop the session led by ``pid``: TERM, then KILL after ``timeout``.

    Safe when the process is already gone. Children of the session (uwsgi
    workers, helpers) are stopped too, even when the leader has exited.
    """
    members = session_members(pid, started)
    if not members:
        return
    LOG.info('stopping %s (pids %s)', name or pid,
             ' '.join(str(p) for p in members))
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        members = session_members(pid, started)
        if not members:
            return
        time.sleep(0.2)
    LOG.warning('%s did not stop within %.0f s: killing %s', name or pid,
                timeout, ' '.join(str(p) for p in members))
    _signal_all(members, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _reap(pid)
        if not session_members(pid, started):
            return
        time.sleep(0.1)
    raise StackError('could not stop %s (pids %s)' % (name or pid, members))


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` when it is our child."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid_file(pid_file: Path, timeout: float = 15.0) -> None:
    """Stop the service named by ``pid_file`` and remove the file."""
    record = read_pid_file(pid_file)
    if record is not None:
        stop_pid(record[0], record[1], pid_file.stem, timeout)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(host: str, port: int, path: str = '/',
                timeout: float = 5.0) -> int | None:
    """The status of ``GET path`` on ``host:port``, or None on no answer."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request('GET', path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_for_http(proc: Process, port: int, path: str = '/',
                  timeout: float = 120.0, host: str = '127.0.0.1') -> None:
    """Wait until ``GET path`` answers with a status below 500.

    :raises ServiceError: when the process exits or the time runs out.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not proc.running():
            raise ServiceError(proc.name, proc.log_path,
                               'the process exited')
        last = http_status(host, port, path)
        if last is not None and last < 500:
            LOG.info('%s answers on %s:%d', proc.name, host, port)
            return
        time.sleep(0.25)
    raise ServiceError(proc.name, proc.log_path,
                       'no answer on http://%s:%d%s within %.0f s (last '
                       'status %s)' % (host, port, path, timeout, last))


def wait_for_log(proc: Process, needle: str, timeout: float = 120.0,
                 since: int = 0) -> None:
    """Wait until ``needle`` appears in the process's log.

    :param since: byte offset of the log to search from (a restarted
        service appends to the log of its previous run).
    :raises ServiceError: when the process exits or the time runs out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(proc.log_path, 'rb') as log:
                log.seek(since)
                text = log.read().decode(errors='replace')
            if needle in text:
                LOG.info('%s is ready', proc.name)
                return
        except OSError:
            pass
        if not proc.running():
            raise ServiceError(proc.name, proc.log_path,
                               'the process exited')
        time.sleep(0.25)
    raise ServiceError(proc.name, proc.log_path,
                       '%r not seen in its log within %.0f s'
                       % (needle, timeout))


def run(argv: Sequence[str], log_path: Path, service: str,
        env: Mapping[str, str] | None = None, timeout: float = 300.0,
        cwd: Path | None = None) -> None:
    """Run a one-shot command, appending its output to ``log_path``.

    :raises ServiceError: naming ``service`` when the command fails.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = environ(env)
    LOG.debug('running %s', ' '.join(argv))
    with open(log_path, 'ab') as log:
        log.write(('+ %s\n' % ' '.join(argv)).encode())
        log.flush()
        try:
            rc = subprocess.call(list(argv), stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT,
                                 env=full_env, timeout=timeout,
                                 cwd=str(cwd) if cwd else None)
        except subprocess.TimeoutExpired:
            raise ServiceError(service, log_path, '%s timed out after %.0f s'
                               % (os.path.basename(argv[0]), timeout))
    if rc != 0:
        raise ServiceError(service, log_path, '%s exited with status %d'
                           % (' '.join(os.path.basename(a) if i == 0 else a
                                       for i, a in enumerate(argv[:3])), rc))


class Background:
    """A one-shot command run in the background; :meth:`wait` checks it.

    Used to overlap slow setup steps (database migrations) with others.
    """

    def __init__(self, argv: Sequence[str], log_path: Path, service: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.service = service
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = environ(env)
        with open(log_path, 'ab') as log:
            log.write(('+ %s\n' % ' '.join(argv)).encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=full_env)

    def wait(self, timeout: float = 300.0) -> None:
        """Wait for the command; raise :class:`ServiceError` on failure."""
        try:
            rc = self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._popen.kill()
            self._popen.wait()
            raise ServiceError(self.service, self.log_path,
                               '%s timed out' % self.argv[0])
        if rc != 0:
            raise ServiceError(self.service, self.log_path,
                               '%s exited with status %d'
                               % (os.path.basename(self.argv[0]), rc))

    def kill(self) -> None:
        """Stop the command if it still runs."""
        if self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait()
