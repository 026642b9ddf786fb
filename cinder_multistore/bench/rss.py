"""Peak resident memory of a service's process tree, from ``/proc``.

Writing ``5`` to ``/proc/PID/clear_refs`` resets a process's peak RSS
(``VmHWM``); reading ``VmHWM`` after a case gives the peak during that
case. Needs root, or the service's own user.
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

    def start(self) -> None:
        """Find the tree and reset every peak."""
        self._pids = tree(self.root)
        reset_peak(self._pids)

    def stop(self) -> float | None:
        """The largest peak since :meth:`start`, in MiB."""
        peaks = [p for p in map(peak_mib, self._pids) if p is not None]
        return max(peaks) if peaks else None


def service_pid(directory: str | os.PathLike, name: str) -> int:
    """The main pid of stack service ``name`` (from its pid file)."""
    text = (Path(directory) / 'run' / ('%s.pid' % name)).read_text()
    return int(text.split()[0])
