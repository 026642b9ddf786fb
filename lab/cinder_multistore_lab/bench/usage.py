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

"""What a case costs besides time, read from ``/proc``.

Peak resident memory of a service's process tree: writing ``5`` to
``/proc/PID/clear_refs`` resets a process's peak RSS (``VmHWM``); reading
``VmHWM`` after a case gives the peak during that case (needs root, or the
service's own user). CPU: the seconds a process tree spent on a CPU, and
how busy the whole machine was, which tells a CPU-bound case from one that
waits.
"""

from __future__ import annotations

import os
from pathlib import Path


PROC = Path('/proc')


def _ppid(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / 'stat').read_text()
    except OSError:
        return None
    # NOTE: the command name (field 2) may hold spaces and parentheses.
    return int(stat.rpartition(')')[2].split()[1])


def tree(root: int) -> list[int]:
    """``root`` and all its descendants that run now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            parent = _ppid(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def reset_peak(pids: list[int]) -> None:
    """Reset the peak RSS of ``pids`` (processes gone are ignored)."""
    for pid in pids:
        try:
            (PROC / str(pid) / 'clear_refs').write_text('5')
        except OSError:
            pass


def peak_mib(pid: int) -> float | None:
    """``VmHWM`` of ``pid`` in MiB, None when it is gone."""
    try:
        text = (PROC / str(pid) / 'status').read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) / 1024.0
    return None


class PeakRSS:
    """The largest peak RSS of one process tree over a span of time.

    :param root: the pid of the service's main process (a uwsgi master,
        a cinder-volume parent); its workers are found at :meth:`start`.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self._pids: list[int] = []
        self._cpu = 0.0
        #: CPU seconds the tree used between start and stop.
        self.cpu_seconds: float | None = None

    def start(self) -> None:
        """Find the tree and reset every peak."""
        self._pids = tree(self.root)
        reset_peak(self._pids)
        self._cpu = cpu_seconds(self._pids)

    def stop(self) -> float | None:
        """The largest peak since :meth:`start`, in MiB."""
        self.cpu_seconds = cpu_seconds(self._pids) - self._cpu
        peaks = [p for p in map(peak_mib, self._pids) if p is not None]
        return max(peaks) if peaks else None


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds of ``pids`` (all their threads)."""
    tick = os.sysconf('SC_CLK_TCK')
    total = 0
    for pid in pids:
        try:
            stat = (PROC / str(pid) / 'stat').read_text()
        except OSError:
            continue
        fields = stat.rpartition(')')[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def machine_ticks() -> tuple[int, int]:
    """``(busy, total)`` CPU ticks of the machine since boot."""
    values = [int(v) for v in
              (PROC / 'stat').read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


class MachineBusy:
    """The share of all CPUs that was busy between start and stop."""

    def __init__(self) -> None:
        self._start = (0, 0)

    def start(self) -> None:
        """Take the first reading."""
        self._start = machine_ticks()

    def stop(self) -> float | None:
        """Busy share in percent since :meth:`start`."""
        busy, total = machine_ticks()
        spent = total - self._start[1]
        if spent <= 0:
            return None
        return 100.0 * (busy - self._start[0]) / spent


def service_pid(directory: str | os.PathLike, name: str) -> int:
    """The main pid of stack service ``name`` (from its pid file)."""
    text = (Path(directory) / 'run' / ('%s.pid' % name)).read_text()
    return int(text.split()[0])
