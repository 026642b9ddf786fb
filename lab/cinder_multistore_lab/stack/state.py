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

"""What a stack run created, recorded in ``DIR/state.json``.

The record is written as soon as each resource exists (database, mount,
vhost, process), so that :func:`cinder_multistore_lab.stack.down` can undo a
run that failed half-way.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
import secrets
import threading
from typing import ClassVar


STATE_FILE = 'state.json'


@dataclasses.dataclass
class Options:
    """How the run was asked for (``stack.up``'s arguments).

    :param with_cinder: Cinder runs.
    :param cinder_image_driver: ``multistore`` or ``upstream``.
    :param with_ceph: the Ceph clusters run.
    :param release: the OpenStack release installed.
    :param glance_server: ``uwsgi`` or ``eventlet``.
    :param with_neutron: neutron-server runs.
    """

    with_cinder: bool = False
    cinder_image_driver: str = 'multistore'
    with_ceph: bool = False
    release: str = ''
    glance_server: str = 'uwsgi'
    with_neutron: bool = False


@dataclasses.dataclass
class ClusterPlan:
    """The identity and ports chosen for the Ceph cluster of a site."""

    fsid: str
    base_port: int


@dataclasses.dataclass
class State:
    """The resources of one run.

    :param directory: the stack directory.
    :param run_id: 8 hex digits unique to the run; names databases etc.
    :param sql: ``mysql`` or ``postgresql``.
    :param databases: database names created for the run.
    :param mounts: mount points mounted for the run, in mount order.
    :param vhost: the RabbitMQ vhost of the run, if any.
    :param ports: service name to TCP port.
    :param secrets: generated passwords, by user.
    :param services: names of started services (pid files in DIR/run).
    :param host_files: files written outside DIR (e.g. keyrings in
        /etc/ceph), removed by ``down``.
    :param options: how the run was asked for.
    :param ceph_clusters: the Ceph clusters planned, by site.
    :param test_image: the id of the image ``up`` uploads to Glance.
    :param cinder_image_driver_effective: how cinder-volume really talks
        to Glance (``upstream`` when the multistore launcher is missing).
    """

    directory: Path
    run_id: str = dataclasses.field(
        default_factory=lambda: secrets.token_hex(4))
    sql: str | None = None
    databases: list[str] = dataclasses.field(default_factory=list)
    mounts: list[str] = dataclasses.field(default_factory=list)
    vhost: str | None = None
    ports: dict[str, int] = dataclasses.field(default_factory=dict)
    secrets: dict[str, str] = dataclasses.field(default_factory=dict)
    services: list[str] = dataclasses.field(default_factory=list)
    host_files: list[str] = dataclasses.field(default_factory=list)
    options: Options = dataclasses.field(default_factory=Options)
    ceph_clusters: dict[str, ClusterPlan] = dataclasses.field(
        default_factory=dict)
    test_image: str = ''
    cinder_image_driver_effective: str = ''

    #: Serialises writes: services are started from several threads.
    _lock: ClassVar[threading.RLock] = threading.RLock()

    @property
    def path(self) -> Path:
        """Where the record is stored."""
        return Path(self.directory) / STATE_FILE

    def save(self) -> None:
        """Write the record atomically."""
        with self._lock:
            data = dataclasses.asdict(self)
            data['directory'] = str(self.directory)
            tmp = self.path.with_suffix('.tmp')
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
            os.replace(tmp, self.path)

    def record_service(self, name: str) -> None:
        """Note that service ``name`` was started, and save."""
        with self._lock:
            if name not in self.services:
                self.services.append(name)
            self.save()

    def password(self, user: str) -> str:
        """The run's password for ``user``, generated on first use."""
        if user not in self.secrets:
            self.secrets[user] = secrets.token_hex(10)
            self.save()
        return self.secrets[user]

    @classmethod
    def load(cls, directory: Path | str) -> State | None:
        """Read the record of ``directory``, or None when there is none."""
        path = Path(directory) / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return cls.from_dict(data, Path(directory))

    @classmethod
    def from_dict(cls, data: dict[str, object], directory: Path) -> State:
        """The record of ``directory`` from its JSON form."""
        data = dict(data)
        legacy = data.pop('extra', None)
        if isinstance(legacy, dict):
            _from_legacy(data, legacy)
        data['directory'] = directory
        options = data.get('options')
        if isinstance(options, dict):
            known = {f.name for f in dataclasses.fields(Options)}
            data['options'] = Options(**{k: v for k, v in options.items()
                                         if k in known})
        clusters = data.get('ceph_clusters')
        if isinstance(clusters, dict):
            data['ceph_clusters'] = {
                site: ClusterPlan(str(plan['fsid']), int(plan['base_port']))
                for site, plan in clusters.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items()  # type: ignore[arg-type]
                      if k in known})


def _from_legacy(data: dict[str, object], extra: dict[str, object]) -> None:
    """Read the untyped ``extra`` record of earlier versions."""
    names = {f.name for f in dataclasses.fields(Options)}
    data.setdefault('options', {k: v for k, v in extra.items()
                                if k in names})
    if isinstance(extra.get('ceph'), dict):
        data.setdefault('ceph_clusters', extra['ceph'])
    if extra.get('test_image'):
        data.setdefault('test_image', extra['test_image'])
    if extra.get('cinder_image_driver_effective'):
        data.setdefault('cinder_image_driver_effective',
                        extra['cinder_image_driver_effective'])
