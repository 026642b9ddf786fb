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

"""The services of the embedded cloud, behind one small interface.

Every service (the SQL databases, the RabbitMQ vhost, the Ceph clusters,
the web server, Keystone, Glance, Cinder, Neutron) is a :class:`Service`.
:func:`bring_up` walks an ordered list of them:

1. ``configure`` each, in order: config files, databases, vhost; slow
   preparation may begin in the background (the database schema syncs,
   the Ceph clusters' start-up, which takes longest);
2. ``start`` each, in order, without waiting for it to answer; first the
   services named in its ``requires`` are made ready. When the service
   that provides the catalog (Keystone, a :class:`CatalogProvider`) is
   ready, every service ``register``\\ s its users and endpoints;
3. ``wait_ready`` each, in order (a service that is ready already returns
   at once).

:func:`bring_down` calls ``stop`` of each in reverse order. ``env`` gives a
service's typed part of ``stack.env`` (:mod:`.env`).
"""

from __future__ import annotations

from collections.abc import Sequence
import logging
from pathlib import Path
from typing import Protocol
from typing import runtime_checkable

from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import cinder
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import mounts
from cinder_multistore_lab.stack import neutron
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack import rabbit
from cinder_multistore_lab.stack.state import Options
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import www


LOG = logging.getLogger(__name__)


class Service(Protocol):
    """One service of the embedded cloud.

    :ivar name: the service's name (``keystone``, ``glance``...).
    :ivar requires: names of the services that must be ready before
        ``start`` (names not in the list are ignored).
    """

    name: str
    requires: tuple[str, ...]

    def configure(self, state: State) -> None:
        """Write config, create resources; may begin background work."""
        ...

    def start(self, state: State) -> None:
        """Start the processes (without waiting for them to answer)."""
        ...

    def wait_ready(self, state: State) -> None:
        """Return when the service answers (idempotent)."""
        ...

    def register(self, state: State, catalog: keystone.Catalog) -> None:
        """Register users, services and endpoints in Keystone."""
        ...

    def stop(self, state: State) -> None:
        """Stop the processes, undo the resources; safe to call twice.

        :raises StackError: listing what could not be undone.
        """
        ...

    def env(self, state: State) -> stack_env.EnvPart | None:
        """The service's part of stack.env (None: it has none)."""
        ...


@runtime_checkable
class CatalogProvider(Protocol):
    """The service that holds the catalog (Keystone)."""

    def catalog(self, state: State) -> keystone.Catalog:
        """Keystone's admin API, once the service is ready."""
        ...


def _pid_file(state: State, name: str) -> Path:
    return process.run_dir(Path(state.directory)) / ('%s.pid' % name)


def _stop_processes(state: State, names: Sequence[str],
                    errors: list[str]) -> None:
    """Stop the processes ``names`` (by pid file) in reverse order."""
    for name in reversed(names):
        pid_file = _pid_file(state, name)
        if not pid_file.exists():
            continue
        try:
            process.stop_pid_file(pid_file)
        except Exception as exc:  # keep going: undo as much as possible
            errors.append('stop %s: %s' % (name, exc))


def _unmount(state: State, point: Path, errors: list[str]) -> None:
    if str(point) not in state.mounts:
        return
    try:
        mounts.unmount(point)
    except Exception as exc:
        errors.append('unmount %s: %s' % (point, exc))


def _raise(name: str, errors: list[str]) -> None:
    if errors:
        raise process.StackError('%s: %s' % (name, '; '.join(errors)))


class _Base:
    """Defaults: no processes, nothing to register, no stack.env part."""

    name = ''
    requires: tuple[str, ...] = ()
    #: Pid-file names of the service's processes, in start order.
    processes: tuple[str, ...] = ()

    def configure(self, state: State) -> None:
        """Nothing to configure."""

    def start(self, state: State) -> None:
        """Nothing to start."""

    def wait_ready(self, state: State) -> None:
        """Nothing to wait for."""

    def register(self, state: State, catalog: keystone.Catalog) -> None:
        """Nothing to register."""

    def stop(self, state: State) -> None:
        """Stop :attr:`processes`."""
        errors: list[str] = []
        _stop_processes(state, self.processes, errors)
        _raise(self.name, errors)

    def env(self, state: State) -> stack_env.EnvPart | None:
        """No stack.env part."""
        return None

    def __repr__(self) -> str:
        return '<service %s>' % self.name


class Databases(_Base):
    """The run's SQL databases, one per service that uses one.

    :param users: the services that get a database, in creation order.
    """

    name = 'sql'

    def __init__(self, users: Sequence[str] = ()) -> None:
        self.users = tuple(users)

    def configure(self, state: State) -> None:
        """Create the databases (``<run prefix>_<service>``)."""
        if state.sql is None:
            state.sql = database.detect()
        for user in self.users:
            name = '%s_%s' % (keystone.db_prefix(state), user)
            state.databases.append(name)
            state.save()
            database.create(state.sql, name)

    def stop(self, state: State) -> None:
        """Drop the run's databases."""
        errors: list[str] = []
        for name in state.databases:
            try:
                database.drop(state.sql or database.detect(), name)
            except Exception as exc:
                errors.append('drop database %s: %s' % (name, exc))
        _raise(self.name, errors)


class RabbitVhost(_Base):
    """The run's RabbitMQ vhost (Cinder and Neutron use it)."""

    name = 'rabbit'

    def configure(self, state: State) -> None:
        """Create the vhost."""
        rabbit.create_vhost(state)

    def stop(self, state: State) -> None:
        """Delete the vhost."""
        if state.vhost:
            try:
                rabbit.delete_vhost(state.vhost)
            except Exception as exc:
                _raise(self.name, ['delete vhost %s: %s'
                                   % (state.vhost, exc)])


class CephClusters(_Base):
    """The Ceph clusters of :data:`ceph.SITES`, brought up side by side.

    They take the longest to come up: ``configure`` plans them and starts
    them in background threads; ``wait_ready`` waits for them.
    """

    name = ceph.NAME
    processes: tuple[str, ...] = tuple(
        ceph.service_name(site, daemon)
        for site in ceph.SITES for daemon in ceph.DAEMONS)

    def __init__(self, sites: Sequence[str] = ceph.SITES) -> None:
        self.sites = tuple(sites)
        self._startup: ceph.Startup | None = None

    def configure(self, state: State) -> None:
        """Plan and configure the clusters; start them in the background.
        """
        self._startup = ceph.start(state, self.sites)

    def wait_ready(self, state: State) -> None:
        """Wait until every cluster's pools serve I/O."""
        if self._startup is not None:
            startup, self._startup = self._startup, None
            startup.wait()

    def stop(self, state: State) -> None:
        """Stop the daemons (resumed first) and remove the clusters' data.
        """
        if self._startup is not None:
            # Let the threads finish starting daemons, so that every pid
            # file is found.
            startup, self._startup = self._startup, None
            startup.settle()
        errors: list[str] = []
        ceph.resume_all(Path(state.directory))
        _stop_processes(state, self.processes, errors)
        try:
            ceph.remove(Path(state.directory))
        except OSError as exc:
            errors.append('remove the Ceph clusters: %s' % exc)
        _raise(self.name, errors)

    def env(self, state: State) -> stack_env.Ceph | None:
        """``CEPH_*`` (None when no cluster was planned)."""
        return ceph.env(state) if ceph.clusters(state) else None


class WebServer(_Base):
    """``python -m http.server`` serving the test images."""

    name = www.NAME
    processes: tuple[str, ...] = (www.NAME,)

    def configure(self, state: State) -> None:
        """Write the images."""
        www.prepare(state)

    def start(self, state: State) -> None:
        """Start the server (it answers within a second: waits)."""
        www.start(state)

    def env(self, state: State) -> stack_env.Web:
        """``HTTP_*``."""
        return www.env(state)


class Keystone(_Base):
    """Keystone under uwsgi; holds the catalog."""

    name = keystone.NAME
    requires: tuple[str, ...] = ('sql',)
    processes: tuple[str, ...] = (keystone.NAME,)

    def configure(self, state: State) -> None:
        """Write keystone.conf."""
        keystone.configure(state)

    def start(self, state: State) -> None:
        """Schema, keys, bootstrap, then the server and the base resources.

        Everything else needs Keystone: this waits until it answers.
        """
        keystone.prepare(state)
        keystone.start(state)
        keystone.create_base_resources(state)

    def catalog(self, state: State) -> keystone.Catalog:
        """Keystone's admin API."""
        return keystone.Catalog(state)

    def env(self, state: State) -> stack_env.Identity:
        """``OS_*``, the users, ``KEYSTONE_LOG``."""
        return keystone.env(state)


class _Synced(_Base):
    """A service whose schema sync runs in the background from
    ``configure`` until ``start``.
    """

    def __init__(self) -> None:
        self._sync: process.Background | None = None
        self._proc: process.Process | None = None

    def _wait_sync(self) -> None:
        if self._sync is not None:
            sync, self._sync = self._sync, None
            try:
                sync.wait()
            finally:
                sync.kill()

    def stop(self, state: State) -> None:
        """Kill a sync still running, then stop the processes."""
        if self._sync is not None:
            sync, self._sync = self._sync, None
            sync.kill()
        super().stop(state)


class Glance(_Synced):
    """glance-api (uwsgi or eventlet), its stores and the test image."""

    name = glance.NAME
    requires: tuple[str, ...] = ('sql', keystone.NAME)
    processes: tuple[str, ...] = (glance.NAME, glance.PLAIN)

    def configure(self, state: State) -> None:
        """Mount the small store, write the config, start the db sync."""
        glance.mount_small_store(state)
        glance.configure(state)
        self._sync = glance.db_sync(state)

    def register(self, state: State, catalog: keystone.Catalog) -> None:
        """The glance user and the image service."""
        glance.register(state, catalog)

    def start(self, state: State) -> None:
        """After the db sync, start glance-api."""
        self._wait_sync()
        self._proc = glance.start(state, block=False)

    def wait_ready(self, state: State) -> None:
        """Wait for the health check; check the stores; upload the test
        image.
        """
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        glance.wait(state, proc)
        glance.check(state)
        glance.create_test_image(state)

    def stop(self, state: State) -> None:
        """Stop the glance-api instances, unmount the small store."""
        errors: list[str] = []
        try:
            super().stop(state)
        except process.StackError as exc:
            errors.append(str(exc))
        _unmount(state, glance.store_dir(Path(state.directory),
                                         glance.SMALL_STORE), errors)
        _raise(self.name, errors)

    def env(self, state: State) -> stack_env.Glance:
        """``GLANCE_*``, ``STACK_IMAGE_ID``."""
        return glance.env(state)


class Cinder(_Synced):
    """cinder-api, cinder-scheduler and cinder-volume (NFS and RBD).

    :param image_driver: ``multistore`` or ``upstream``.
    """

    name = cinder.NAME
    requires: tuple[str, ...] = ('sql', keystone.NAME, ceph.NAME)
    processes: tuple[str, ...] = (cinder.API, cinder.SCHEDULER,
                                  cinder.VOLUME, cinder.UPSTREAM_VOLUME)

    def __init__(self, image_driver: str = 'multistore') -> None:
        super().__init__()
        self.image_driver = image_driver
        self._services: cinder.Services | None = None

    def configure(self, state: State) -> None:
        """Write cinder.conf, start the db sync."""
        cinder.configure(state, self.image_driver)
        self._sync = cinder.db_sync(state)

    def register(self, state: State, catalog: keystone.Catalog) -> None:
        """The cinder user and the block-storage services."""
        cinder.register(state, catalog)

    def start(self, state: State) -> None:
        """After the db sync (and the Ceph pools), start the services."""
        self._wait_sync()
        self._services = cinder.start(state, block=False)

    def wait_ready(self, state: State) -> None:
        """Wait for the API and every backend; create the volume types."""
        if self._services is None:
            return
        services, self._services = self._services, None
        cinder.wait(state, services)
        cinder.create_default_type(state)
        cinder.create_site_types(state)

    def stop(self, state: State) -> None:
        """Stop the services, unmount the share, remove host keyrings."""
        errors: list[str] = []
        try:
            super().stop(state)
        except process.StackError as exc:
            errors.append(str(exc))
        _unmount(state, cinder.share_mount_point(state), errors)
        for name in state.host_files:
            try:
                Path(name).unlink(missing_ok=True)
            except OSError as exc:
                errors.append('remove %s: %s' % (name, exc))
        _raise(self.name, errors)

    def env(self, state: State) -> stack_env.Cinder:
        """``CINDER_*``."""
        return cinder.env(state)


class Neutron(_Synced):
    """neutron-server (API only, ML2 and routers, no agents)."""

    name = neutron.NAME
    requires: tuple[str, ...] = ('sql', keystone.NAME)
    processes: tuple[str, ...] = (neutron.NAME,)

    def configure(self, state: State) -> None:
        """Write neutron.conf and ml2_conf.ini, start the db migration."""
        neutron.configure(state)
        self._sync = neutron.db_sync(state)

    def register(self, state: State, catalog: keystone.Catalog) -> None:
        """The neutron user and the network service."""
        neutron.register(state, catalog)

    def start(self, state: State) -> None:
        """After the migration, start the API."""
        self._wait_sync()
        self._proc = neutron.start(state, block=False)

    def wait_ready(self, state: State) -> None:
        """Wait for the API, then check it."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        neutron.wait(state, proc)
        neutron.check(state)

    def env(self, state: State) -> stack_env.Neutron:
        """``NEUTRON_*``."""
        return neutron.env(state)


def services(options: Options) -> list[Service]:
    """The services of a stack run with ``options``, in start order."""
    users = [keystone.NAME, glance.NAME]
    if options.with_cinder:
        users.append(cinder.NAME)
    if options.with_neutron:
        users.append(neutron.NAME)
    found: list[Service] = []
    if options.with_ceph:
        # First: the clusters take the longest to come up.
        found.append(CephClusters())
    found.append(Databases(users))
    if options.with_cinder or options.with_neutron:
        found.append(RabbitVhost())
    found += [WebServer(), Keystone(), Glance()]
    if options.with_cinder:
        found.append(Cinder(options.cinder_image_driver))
    if options.with_neutron:
        found.append(Neutron())
    return found


def every_service() -> list[Service]:
    """Every kind of service, in start order (what ``down`` stops)."""
    return services(Options(with_cinder=True, with_ceph=True,
                            with_neutron=True))


def bring_up(state: State, services: Sequence[Service]) -> None:
    """Configure, start and wait for ``services`` (see the module doc).

    On failure, stops what was started (in reverse order) and re-raises.
    """
    by_name = {s.name: s for s in services}
    ready: set[str] = set()

    def make_ready(service: Service) -> None:
        if service.name in ready:
            return
        service.wait_ready(state)
        ready.add(service.name)
        if isinstance(service, CatalogProvider):
            catalog = service.catalog(state)
            for other in services:
                other.register(state, catalog)

    try:
        for service in services:
            service.configure(state)
        for service in services:
            for name in service.requires:
                if name in by_name:
                    make_ready(by_name[name])
            service.start(state)
        for service in services:
            make_ready(service)
    except BaseException:
        for line in bring_down(state, services):
            LOG.error('after the failed start: %s', line)
        raise


def bring_down(state: State, services: Sequence[Service]) -> list[str]:
    """``stop`` every service, in reverse order.

    :returns: what could not be undone (one line each).
    """
    errors: list[str] = []
    for service in reversed(services):
        try:
            service.stop(state)
        except Exception as exc:  # keep going: undo as much as possible
            errors.append(str(exc))
    return errors


def env_parts(state: State,
              services: Sequence[Service]) -> list[stack_env.EnvPart]:
    """The stack.env parts of ``services``, in order."""
    parts = [s.env(state) for s in services]
    return [p for p in parts if p is not None]
