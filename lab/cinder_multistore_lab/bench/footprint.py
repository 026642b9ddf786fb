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

"""What the whole embedded cloud costs: start-up time and memory.

:class:`CloudMemory` samples, in a thread, the resident memory of every
process of a stack: each service the stack started (a pid file in
``DIR/run``, its whole session: uwsgi workers, cinder-volume's children,
the Ceph daemons), summed, and separately the shared services the stack
uses but does not start (MariaDB or PostgreSQL, RabbitMQ). The sum of RSS
counts pages shared between forked workers once per process, so it is an
upper bound; the sum of PSS (``/proc/PID/smaps_rollup``) splits them. The
benchmark's reference services (a second glance-api, a second
cinder-volume) are counted apart: they are not part of the cloud.
"""

from __future__ import annotations

import os
from pathlib import Path
import threading
import time


PROC = Path('/proc')
#: Process names (``/proc/PID/comm``) of the shared services.
SHARED_SERVICES = ('mariadbd', 'mysqld', 'postgres', 'beam.smp', 'epmd')
#: The benchmark's reference services: measured, but not the cloud's.
REFERENCE_SERVICES = ('glance-plain', 'cinder-volume-upstream')


def _stat(pid: str) -> tuple[int, int, str] | None:
    """``(session, start time, comm)`` of a live process, None if gone."""
    try:
        text = (PROC / pid / 'stat').read_text()
    except OSError:
        return None
    comm = text[text.index('(') + 1:text.rindex(')')]
    fields = text.rpartition(')')[2].split()
    if fields[0] == 'Z':
        return None
    return int(fields[3]), int(fields[19]), comm


def memory_kib(pid: int, pss: bool = False) -> int:
    """RSS (or PSS) of ``pid`` in KiB, 0 when it is gone."""
    name, key = (('smaps_rollup', 'Pss:') if pss else ('status', 'VmRSS:'))
    try:
        text = (PROC / str(pid) / name).read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def leaders(directory: str | os.PathLike) -> dict[int, tuple[str, int]]:
    """Session leader pid -> (service, start time), from the pid files."""
    found = {}
    for pid_file in sorted((Path(directory) / 'run').glob('*.pid')):
        try:
            pid, started = pid_file.read_text().split()[:2]
            found[int(pid)] = (pid_file.stem, int(started))
        except (OSError, ValueError):
            continue
    return found


def processes(directory: str | os.PathLike
              ) -> tuple[dict[str, list[int]], list[int]]:
    """The stack's processes by service, and the shared services' pids.

    One pass over ``/proc``: a process belongs to a service when it is in
    the session that the service's pid file names and started no earlier
    than its leader.
    """
    heads = leaders(directory)
    by_service: dict[str, list[int]] = {}
    shared = []
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        stat = _stat(entry)
        if stat is None:
            continue
        session, started, comm = stat
        head = heads.get(session)
        if head is not None and started >= head[1]:
            by_service.setdefault(head[0], []).append(int(entry))
        elif comm in SHARED_SERVICES:
            shared.append(int(entry))
    return by_service, shared


def sample(directory: str | os.PathLike, pss: bool = True) -> dict:
    """One reading: MiB of the stack (RSS, PSS), per service, shared."""
    by_service, shared = processes(directory)
    services = {name: sum(map(memory_kib, pids)) / 1024.0
                for name, pids in by_service.items()}
    reading = {
        'stack_rss_mib': sum(services.values()),
        'shared_rss_mib': sum(map(memory_kib, shared)) / 1024.0,
        'services_rss_mib': services,
        'processes': sum(len(p) for p in by_service.values()),
    }
    if pss:
        reading['stack_pss_mib'] = sum(
            memory_kib(pid, pss=True) for pids in by_service.values()
            for pid in pids) / 1024.0
    reading['total_rss_mib'] = (reading['stack_rss_mib']
                                + reading['shared_rss_mib'])
    reading['reference_rss_mib'] = sum(
        services.get(name, 0.0) for name in REFERENCE_SERVICES)
    reading['cloud_rss_mib'] = (reading['total_rss_mib']
                                - reading['reference_rss_mib'])
    return reading


class CloudMemory:
    """The peak memory of a stack over a span of time, sampled.

    :param directory: the stack directory (``run/*.pid``).
    :param interval: seconds between two readings.
    """

    #: Peaks kept: the stack's processes (RSS, PSS), the shared
    #: services, both (``total``), the benchmark's reference services
    #: and the cloud without them (``cloud``: what a user of the stack
    #: runs). Each is the largest of its own readings.
    KEYS = ('stack_rss_mib', 'stack_pss_mib', 'shared_rss_mib',
            'total_rss_mib', 'reference_rss_mib', 'cloud_rss_mib')

    def __init__(self, directory: str | os.PathLike,
                 interval: float = 1.0) -> None:
        self.directory = Path(directory)
        self.interval = interval
        self.peaks: dict[str, float] = {}
        #: The per-service RSS at the moment of the largest cloud total.
        self.at_peak: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _take(self) -> None:
        reading = sample(self.directory)
        self.samples += 1
        if reading['cloud_rss_mib'] >= self.peaks.get('cloud_rss_mib', -1):
            self.at_peak = reading['services_rss_mib']
        for key in self.KEYS:
            if key in reading:
                self.peaks[key] = max(self.peaks.get(key, 0.0),
                                      reading[key])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._take()
            except Exception:  # a reading lost is not worth a failed run
                pass
            self._stop.wait(self.interval)

    def start(self) -> 'CloudMemory':
        """Start sampling in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='cloud-memory')
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stop sampling (after one last reading); the peaks in MiB."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self._take()
        except Exception:
            pass
        return dict(self.peaks)


def timed_up(up, directory: str | os.PathLike, **kwargs) -> dict:
    """Run ``up(directory, **kwargs)``; its seconds and memory peaks."""
    memory = CloudMemory(directory, interval=0.5).start()
    began = time.monotonic()
    try:
        up(directory, **kwargs)
    finally:
        seconds = time.monotonic() - began
        peaks = memory.stop()
    return {'stack_up_s': seconds,
            'up_peaks': peaks, 'up_services_mib': memory.at_peak}
