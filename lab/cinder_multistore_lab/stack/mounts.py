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

"""tmpfs mounts of the stack (the small ``delta`` store, the NFS share)."""

from __future__ import annotations

import logging
from pathlib import Path
import subprocess
import time

from cinder_multistore_lab.stack import process


LOG = logging.getLogger(__name__)


def _unescape(field: str) -> str:
    # /proc/mounts escapes blanks and backslashes as octal.
    return (field.replace('\\040', ' ').replace('\\011', '\t')
            .replace('\\012', '\n').replace('\\134', '\\'))


def mounted(mount_point: Path | str) -> bool:
    """True when ``mount_point`` is listed in ``/proc/mounts``."""
    target = str(Path(mount_point).resolve())
    with open('/proc/mounts') as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 1 and _unescape(fields[1]) == target:
                return True
    return False


def mount_tmpfs(mount_point: Path, size: str, source: str = 'tmpfs') -> None:
    """Mount a tmpfs of ``size`` (``16m``, ``6g``) at ``mount_point``.

    :param source: the device name shown in ``/proc/mounts``; the NFS
        driver's "share" uses ``127.0.0.1:/srv/...`` here.
    :raises StackError: when the mount fails.
    """
    mount_point.mkdir(parents=True, exist_ok=True)
    if mounted(mount_point):
        raise process.StackError('%s is already mounted' % mount_point)
    argv = ['mount', '-t', 'tmpfs', '-o', 'size=%s' % size, source,
            str(mount_point)]
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise process.StackError('%s failed: %s' % (
            ' '.join(argv), (result.stderr or result.stdout).strip()))
    LOG.info('mounted tmpfs %s (%s) at %s', source, size, mount_point)


def unmount(mount_point: Path | str, attempts: int = 10) -> None:
    """Unmount ``mount_point`` if mounted (lazily after failed tries)."""
    for attempt in range(attempts):
        if not mounted(mount_point):
            return
        result = subprocess.run(['umount', str(mount_point)],
                                capture_output=True, text=True)
        if result.returncode == 0:
            LOG.info('unmounted %s', mount_point)
            continue
        LOG.debug('umount %s: %s', mount_point, result.stderr.strip())
        time.sleep(0.5)
    if mounted(mount_point):
        LOG.warning('%s is busy: unmounting lazily', mount_point)
        subprocess.run(['umount', '-l', str(mount_point)], check=False)
    if mounted(mount_point):
        raise process.StackError('could not unmount %s' % mount_point)
