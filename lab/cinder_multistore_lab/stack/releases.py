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

"""The OpenStack releases the embedded cloud can run, one virtualenv each.

Each release has a constraints file in the repository
(``constraints/<release>.txt``: every Python package pinned, as
``pip freeze`` of a working install) and is installed in its own virtualenv
by ``tools/setup.sh --release <release>``. The newest release is the
project's own ``.venv``; the others live in ``.venvs/<release>`` (or
``$CMS_RELEASE_VENVS/<release>``).

Which release a virtualenv runs is read from what is installed in it
(Glance's version), never assumed.
"""

from __future__ import annotations

import dataclasses
from importlib import metadata
import os
from pathlib import Path
import subprocess
import sys

from cinder_multistore_lab.stack.process import StackError


#: The repository the lab runs from (an editable install).
TOP = Path(__file__).resolve().parents[3]
CONSTRAINTS_DIR = TOP / 'constraints'


@dataclasses.dataclass(frozen=True)
class Release:
    """One OpenStack release: its services' versions and Glance servers."""

    name: str
    glance: str
    cinder: str
    keystone: str
    neutron: str
    tempest: str
    #: Ways glance-api can be served on this release; the first is the
    #: default. ``eventlet`` is the ``glance-api`` command, which Glance
    #: removed in 2026.2 (33.0.0).
    glance_servers: tuple[str, ...] = ('uwsgi',)

    @property
    def glance_major(self) -> int:
        return int(self.glance.split('.')[0])

    @property
    def constraints(self) -> Path:
        return CONSTRAINTS_DIR / ('%s.txt' % self.name)


#: Oldest first. Tempest: a tag that supports the release (tempest
#: supports the three newest releases of its time) and installs with its
#: libraries: 46.3.0, the last of the 2026.1 series, for 2025.1 to 2026.1
#: (earlier tags import ``md5`` from oslo.utils, which oslo.utils 10
#: removed, and 43.0.0 expects 202 where Glance 30.2.0 refuses a bad
#: web-download URL with 400).
RELEASES = (
    Release('2025.1', glance='30.2.0', cinder='26.3.0', keystone='27.1.0',
            neutron='26.0.6', tempest='46.3.0',
            glance_servers=('uwsgi', 'eventlet')),
    Release('2025.2', glance='31.1.0', cinder='27.0.0', keystone='28.1.0',
            neutron='27.0.4', tempest='46.3.0',
            glance_servers=('uwsgi', 'eventlet')),
    Release('2026.1', glance='32.0.0', cinder='28.0.0', keystone='29.1.0',
            neutron='28.0.2', tempest='46.3.0'),
    Release('2026.2', glance='33.0.0', cinder='29.0.0', keystone='30.0.0',
            neutron='29.0.0', tempest='47.0.0'),
)
NEWEST = RELEASES[-1].name
NAMES = tuple(r.name for r in RELEASES)
GLANCE_SERVERS = ('uwsgi', 'eventlet')


def get(name: str) -> Release:
    """The release called ``name``.

    :raises StackError: naming the supported releases.
    """
    for release in RELEASES:
        if release.name == name:
            return release
    raise StackError('unknown release %r; supported: %s'
                     % (name, ', '.join(NAMES)))


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def installed() -> Release | None:
    """The release whose Glance major version this Python has installed."""
    found = _version('glance')
    if found is None:
        return None
    major = int(found.split('.')[0])
    for release in RELEASES:
        if release.glance_major == major:
            return release
    return None


#: Distributions whose versions ``stack.env`` reports.
REPORTED = ('glance', 'cinder', 'keystone', 'neutron', 'glance_store',
            'os-brick', 'python-glanceclient', 'tempest')


def versions() -> dict[str, str]:
    """Installed versions of the services and the libraries that matter."""
    found = {}
    for name in REPORTED:
        version = _version(name)
        if version is not None:
            found[name] = version
    return found


def check_server(release: Release, server: str) -> None:
    """Refuse a Glance server that ``release`` does not have."""
    if server not in release.glance_servers:
        raise StackError('Glance %s (release %s) cannot be served by %s; '
                         'it has: %s' % (release.glance, release.name,
                                         server,
                                         ', '.join(release.glance_servers)))


def venv_dir(name: str) -> Path:
    """Where the virtualenv of release ``name`` lives."""
    if name == NEWEST:
        return Path(os.environ.get('CMS_VENV') or TOP / '.venv')
    base = os.environ.get('CMS_RELEASE_VENVS') or TOP / '.venvs'
    return Path(base) / name


def ensure_venv(name: str) -> Path:
    """Build (or reuse) the virtualenv of release ``name``; its path.

    Runs ``tools/setup.sh --release NAME``, which does nothing when the
    virtualenv already matches the constraints file.
    """
    release = get(name)
    if not release.constraints.exists():
        raise StackError('no constraints file for %s: %s'
                         % (name, release.constraints))
    subprocess.run(['bash', str(TOP / 'tools' / 'setup.sh'),
                    '--release', name], check=True,
                   stdout=sys.stderr)
    return venv_dir(name)


def reexec_argv(name: str, argv: list[str]) -> list[str]:
    """The command running ``cinder-multistore-lab ARGV`` in its venv."""
    command = venv_dir(name) / 'bin' / 'cinder-multistore-lab'
    return [str(command)] + list(argv)
