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

"""Probes for fault, load and hostile-input tests on the embedded cloud.

What Glance's workers (uwsgi or eventlet ``glance-api``) use (threads,
resident memory, read from ``/proc``), every file a store folder holds for
an image, the Glance log written since a point, and a raw HTTP upload over
a plain socket that can be abandoned half-way (what a client that dies
mid-upload does).
"""

from collections.abc import Callable
from collections.abc import Iterable
import dataclasses
import hashlib
import os
from pathlib import Path
import socket
import struct
import time
from typing import TypeVar
import urllib.parse

from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab.stack import process

T = TypeVar('T')


MIB = 1 << 20


# -- Glance workers ------------------------------------------------------

def glance_master(env: StackEnv, name: str = 'glance') -> int:
    """The pid of the master of Glance instance ``name`` (either server).
    """
    record = process.read_pid_file(
        process.run_dir(Path(env.directory)) / ('%s.pid' % name))
    assert record is not None and process.alive(*record), (
        '%s does not run in %s' % (name, env.directory))
    return record[0]


def _status(pid: int) -> dict[str, str]:
    fields = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
    except OSError:
        pass
    return fields


def children(pid: int) -> list[int]:
    """Live children of ``pid`` (the workers of a Glance master)."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            status = _status(int(entry))
            if (status.get('PPid') == str(pid)
                    and not status.get('State', '').startswith('Z')):
                found.append(int(entry))
    return sorted(found)


@dataclasses.dataclass(frozen=True)
class Usage:
    """What the Glance workers use at one moment.

    :param pids: the worker pids (a respawned worker changes them).
    :param threads: threads of all workers together.
    :param rss_kib: resident memory of all workers together, in KiB.
    """

    pids: tuple[int, ...]
    threads: int
    rss_kib: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024.0

    def __str__(self) -> str:
        return 'workers %s: %d threads, RSS %.1f MiB' % (
            ','.join(map(str, self.pids)), self.threads, self.rss_mib)


def glance_usage(env: StackEnv, name: str = 'glance') -> Usage:
    """Threads and RSS of the Glance workers now."""
    pids = children(glance_master(env, name))
    threads = rss = 0
    for pid in pids:
        status = _status(pid)
        threads += int(status.get('Threads', '0'))
        rss += int(status.get('VmRSS', '0 kB').split()[0])
    return Usage(tuple(pids), threads, rss)


def wait_threads(env: StackEnv, threads: int, timeout: float = 30.0) -> Usage:
    """Poll until the workers hold at most ``threads`` threads.

    :returns: the last :class:`Usage` seen (the caller asserts on it).
    """
    deadline = time.monotonic() + timeout
    while True:
        usage = glance_usage(env)
        if usage.threads <= threads or time.monotonic() > deadline:
            return usage
        time.sleep(0.5)


# -- store folders ---------------------------------------------------------

def store_dirs(env: StackEnv, reserved: bool = True) -> dict[str, str]:
    """Every store folder of the stack: file stores (and Glance's own)."""
    dirs = {store: str(folder)
            for store, folder in env.glance.store_dirs.items()}
    if reserved:
        dirs['GLANCE_STAGING_DIR'] = str(env.glance.staging_dir)
        dirs['GLANCE_TASKS_DIR'] = str(env.glance.tasks_dir)
    return dirs


def leftovers(env: StackEnv, image_id: str, reserved: bool = True
              ) -> dict[str, list[str]]:
    """Files whose name contains ``image_id``, by store folder.

    Partial or temporary files count too (any name that holds the id).
    """
    found = {}
    for store, directory in store_dirs(env, reserved).items():
        try:
            names = [n for n in os.listdir(directory) if image_id in n]
        except FileNotFoundError:
            continue
        if names:
            found[store] = sorted(names)
    return found


def store_md5s(env: StackEnv, image_id: str) -> dict[str, str]:
    """MD5 of the image's file in every file store that holds one."""
    found = {}
    for store, directory in store_dirs(env, reserved=False).items():
        path = os.path.join(directory, image_id)
        if os.path.exists(path):
            digest = hashlib.md5(usedforsecurity=False)
            with open(path, 'rb') as f:
                for block in iter(lambda: f.read(MIB), b''):
                    digest.update(block)
            found[store] = digest.hexdigest()
    return found


def wait_no_leftovers(env: StackEnv, image_id: str, timeout: float = 30.0,
                      reserved: bool = True) -> dict[str, list[str]]:
    """Poll until no store folder has a file of the image; return the rest."""
    return poll_until_empty(lambda: leftovers(env, image_id, reserved),
                            timeout, 0.3)


def poll_until_empty(probe: Callable[[], T], timeout: float,
                     interval: float) -> T:
    """Call ``probe`` until it finds nothing or ``timeout`` seconds have
    passed; what it found last.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(interval)


# -- logs ------------------------------------------------------------------

class LogWindow:
    """The part of a log written after this object was made."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.start = os.path.getsize(path)
        except OSError:
            self.start = 0

    def text(self) -> str:
        with open(self.path, 'rb') as f:
            f.seek(self.start)
            return f.read().decode('utf-8', 'replace')

    def lines(self, *needles: str) -> list[str]:
        """Lines holding every needle."""
        return [line for line in self.text().splitlines()
                if all(n in line for n in needles)]

    def problems(self) -> list[str]:
        """ERROR, CRITICAL and traceback lines."""
        return [line for line in self.text().splitlines()
                if ' ERROR ' in line or ' CRITICAL ' in line
                or 'Traceback' in line]


# -- raw uploads -----------------------------------------------------------

def _address(endpoint: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(endpoint)
    return parsed.hostname, parsed.port or 80


def blocks(total: int, size: int = MIB) -> Iterable[bytes]:
    """``total`` random bytes in blocks of ``size``."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield os.urandom(n)
        sent += n


class RawUpload:
    """``PUT /v2/images/{id}/file`` over a plain socket, driven by hand.

    Nothing is buffered by a client library: what :meth:`send` returns has
    been handed to the kernel, and :meth:`abort` drops the connection the
    way a dying client does.

    :param headers: extra request headers (placement headers...).
    :param length: a ``Content-Length`` to announce; None sends the body
        with ``Transfer-Encoding: chunked``.
    """

    def __init__(self, endpoint: str, token: str, image_id: str,
                 headers: dict | None = None, length: int | None = None,
                 timeout: float = 30.0) -> None:
        self.chunked = length is None
        self.sent = 0
        self.sock = socket.create_connection(_address(endpoint),
                                             timeout=timeout)
        lines = ['PUT /v2/images/%s/file HTTP/1.1' % image_id,
                 'Host: %s:%d' % _address(endpoint),
                 'X-Auth-Token: %s' % token,
                 'Content-Type: application/octet-stream']
        lines.append('Transfer-Encoding: chunked' if self.chunked
                     else 'Content-Length: %d' % length)
        lines += ['%s: %s' % item for item in (headers or {}).items()]
        self.sock.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1'))

    def send(self, data: bytes) -> None:
        """Send one block of the body (one chunk when chunked)."""
        if self.chunked:
            self.sock.sendall(b'%x\r\n%s\r\n' % (len(data), data))
        else:
            self.sock.sendall(data)
        self.sent += len(data)

    def finish(self) -> tuple[int, bytes]:
        """End the body; return the status and the raw response."""
        if self.chunked:
            self.sock.sendall(b'0\r\n\r\n')
        response = b''
        while True:
            data = self.sock.recv(65536)
            if not data:
                break
            response += data
        self.sock.close()
        status = int(response.split(b' ', 2)[1]) if response else 0
        return status, response

    def abort(self, reset: bool = False) -> None:
        """Close the connection in the middle of the body.

        :param reset: send a TCP reset (a killed process on another host)
            instead of an orderly close (a process that exits).
        """
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack('ii', 1, 0))
        self.sock.close()
