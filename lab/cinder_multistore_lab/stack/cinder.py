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

"""Cinder: the API under uwsgi, cinder-scheduler and cinder-volume.

The default volume backend is the upstream NFS driver. Its one share,
``127.0.0.1:/srv/cms-<run id>``, is "mounted" as a tmpfs at
``<nfs_mount_point_base>/<md5 of the share>`` before cinder-volume starts:
os-brick only checks that the mount point is in ``/proc/mounts``.

When the stack runs Ceph, each site also has an RBD backend
(``ceph-central``, ``ceph-edge``: pool ``volumes`` of that site's cluster,
user ``client.cinder``) in availability zone ``central`` or ``edge``,
reached with volume type ``central`` or ``edge``. Volumes without a type
or zone stay on NFS in the default zone ``nova``. Cinder reads an image's
locations through the privileged ``[glance]`` user (role ``service``), so
a volume from an image whose location is in the backend's own cluster is
a copy-on-write clone of the image's snapshot.

How cinder-volume talks to Glance is chosen by ``cinder_image_driver``
(``multistore`` or ``upstream``); :func:`volume_service` is the one place
that turns that choice into a command line and configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
import configparser
import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import io
import logging
from pathlib import Path
import shutil
import sys
import time

from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import mounts
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack import rabbit
from cinder_multistore_lab.stack.state import State


LOG = logging.getLogger(__name__)

NAME = 'cinder'
API = 'cinder-api'
SCHEDULER = 'cinder-scheduler'
VOLUME = 'cinder-volume'
WSGI_MODULE = 'cinder.wsgi.api'
HOST = 'cinder-multistore'
BACKEND = 'nfs'
VOLUME_TYPE = 'default'
SHARE_SIZE = '6g'
NFS_DRIVER = 'cinder.volume.drivers.nfs.NfsDriver'
#: A second volume service with Cinder's own image service, on backend
#: ``nfs_upstream`` (same share), reached through volume type
#: ``upstream-image-service``; started only for the benchmark.
UPSTREAM_VOLUME = 'cinder-volume-upstream'
UPSTREAM_BACKEND = 'nfs_upstream'
UPSTREAM_VOLUME_TYPE = 'upstream-image-service'
RBD_DRIVER = 'cinder.volume.drivers.rbd.RBDDriver'
#: The availability zone of the NFS backend (Cinder's default zone).
DEFAULT_AZ = 'nova'
#: A fixed libvirt secret uuid: no Nova here, Cinder only passes it on.
RBD_SECRET_UUID = 'b7a5e3f4-5c1d-4d6e-9a2b-3c4d5e6f7a8b'


def rbd_backend(site: str) -> str:
    """The backend (and pool) name of a Ceph site's RBD backend."""
    return 'ceph-%s' % site


def site_volume_type(site: str) -> str:
    """The volume type that places volumes on ``site``'s RBD backend."""
    return site


def site_az(site: str) -> str:
    """The availability zone of ``site``'s RBD backend."""
    return site


def rbd_backends(state: State) -> list[str]:
    """The RBD backends of the run (none without Ceph)."""
    return [rbd_backend(c.site) for c in ceph.clusters(state)]


def backends(state: State) -> list[str]:
    """Every backend cinder-volume runs, NFS first."""
    return [BACKEND] + rbd_backends(state)


def site_type_specs(site: str) -> dict[str, str]:
    """The extra specs of volume type :func:`site_volume_type`."""
    return {'volume_backend_name': rbd_backend(site),
            'RESKEY:availability_zones': site_az(site)}


def etc(directory: Path) -> Path:
    """Cinder's config folder."""
    return Path(directory) / 'etc' / 'cinder'


def conf_path(directory: Path) -> Path:
    """cinder.conf."""
    return etc(directory) / 'cinder.conf'


def log_path(directory: Path, service: str) -> Path:
    """The log of ``service`` (``cinder-api``, ``cinder-volume``...)."""
    return Path(directory) / 'logs' / ('%s.log' % service)


def url(state: State) -> str:
    """Cinder's endpoint (without version)."""
    return 'http://%s:%d' % (common.HOST, state.ports[NAME])


def share(state: State) -> str:
    """The NFS share string of the run."""
    return '127.0.0.1:/srv/cms-%s' % state.run_id


def mount_base(directory: Path) -> Path:
    """``nfs_mount_point_base``."""
    return Path(directory) / 'cinder' / 'mnt'


def share_mount_point(state: State) -> Path:
    """Where the NFS driver expects the share to be mounted."""
    digest = hashlib.md5(share(state).encode(),
                         usedforsecurity=False).hexdigest()
    return mount_base(state.directory) / digest


# ---------------------------------------------------------------------------
# ACTIVATION OF THE MULTISTORE IMAGE DRIVER IN CINDER-VOLUME
#
# volume_service() is the single switch between Cinder's own image service
# and cinder-multistore's. The multistore driver is activated by starting
# the volume service through its launcher (cinder_multistore.image.launcher,
# console script cinder-multistore-volume) instead of cinder-volume, with
# the same arguments.
# ---------------------------------------------------------------------------

#: False makes both choices start plain cinder-volume.
MULTISTORE_LAUNCHER_READY = True
#: The launcher module run as ``python -m`` for ``multistore``.
MULTISTORE_LAUNCHER = 'cinder_multistore.image.launcher'
#: The line the launcher logs when its image service is active.
MULTISTORE_ACTIVE_LINE = 'cinder-multistore image service is active'


@dataclasses.dataclass(frozen=True)
class VolumeService:
    """How to run the volume service for one image-driver choice.

    :param argv: the command line (the config file is appended).
    :param conf: extra cinder.conf sections/options.
    :param ready_line: a log line that proves the choice is active, if any.
    :param image_driver: the choice actually in effect.
    """

    argv: tuple[str, ...]
    conf: dict[str, dict[str, object]]
    ready_line: str | None
    image_driver: str


def volume_service(image_driver: str) -> VolumeService:
    """The volume service's command line and config for ``image_driver``.

    :param image_driver: ``multistore`` (cinder-multistore's image service,
        through its launcher) or ``upstream`` (Cinder's own).
    """
    if image_driver == 'multistore' and _launcher_available():
        return VolumeService(
            argv=(common.python(), '-m', MULTISTORE_LAUNCHER),
            # NOTE: volumes kept for the images cloned from them are looked
            # at every 10 s (300 s by default), within the wait of the tests
            # that delete in every order.
            conf={'multistore_image_service': {
                'upload_parent_purge_interval': 10}},
            ready_line=MULTISTORE_ACTIVE_LINE,
            image_driver='multistore')
    if image_driver == 'multistore':
        LOG.warning('the multistore image driver is not available yet: '
                    'starting plain cinder-volume')
    elif image_driver != 'upstream':
        raise ValueError('unknown cinder image driver %r' % image_driver)
    return VolumeService(argv=(common.tool('cinder-volume'),), conf={},
                         ready_line=None, image_driver='upstream')


def _launcher_available() -> bool:
    if not MULTISTORE_LAUNCHER_READY:
        return False
    try:
        return importlib.util.find_spec(MULTISTORE_LAUNCHER) is not None
    except ImportError:
        return False


# ---------------------------------------------------------------------------


def _installed_file(relative: str) -> Path:
    """A data file of the cinder package (``etc/cinder/...``)."""
    candidate = Path(sys.prefix) / relative
    if candidate.exists():
        return candidate
    dist = importlib.metadata.distribution('cinder')
    for entry in dist.files or ():
        if str(entry).endswith(relative.split('/', 1)[-1]):
            path = Path(dist.locate_file(entry))
            if path.exists():
                return path
    raise process.StackError('%s of the cinder package was not found'
                             % relative)


def configure(state: State, image_driver: str) -> Path:
    """Write cinder.conf, api-paste.ini, the shares file; return the conf."""
    directory = Path(state.directory)
    cetc = etc(directory)
    cetc.mkdir(parents=True, exist_ok=True)
    for name in ('api-paste.ini', 'resource_filters.json'):
        shutil.copy(_installed_file('etc/cinder/%s' % name), cetc / name)
    shares = cetc / 'nfs_shares'
    shares.write_text(share(state) + '\n')
    state_path = directory / 'cinder' / 'state'
    for path in (state_path, directory / 'cinder' / 'locks',
                 directory / 'cinder' / 'conversion', mount_base(directory)):
        path.mkdir(parents=True, exist_ok=True)
    conf = conf_path(directory)
    helper = '%s --config-file %s' % (common.tool('privsep-helper'), conf)
    service = volume_service(image_driver)
    state.cinder_image_driver_effective = service.image_driver
    state.save()
    sections: dict[str, dict[str, object]] = {
        'DEFAULT': {
            'debug': False,
            'use_stderr': True,
            'host': HOST,
            'my_ip': common.HOST,
            'state_path': state_path,
            'transport_url': rabbit.transport_url(state),
            'auth_strategy': 'keystone',
            'api_paste_config': cetc / 'api-paste.ini',
            'resource_query_filters_file': cetc / 'resource_filters.json',
            'public_endpoint': url(state),
            'enabled_backends': ','.join(backends(state)),
            'default_volume_type': VOLUME_TYPE,
            'glance_api_servers': glance.url(state),
            'glance_num_retries': 2,
            'image_conversion_dir': directory / 'cinder' / 'conversion',
            'scheduler_driver_init_wait_time': 10,
            'report_interval': 5,
            'periodic_interval': 10,
            'rpc_response_timeout': 120,
        },
        'database': {
            'connection': database.url(state.sql, '%s_cinder' %
                                       keystone.db_prefix(state)),
            'max_retries': -1,
        },
        'keystone_authtoken': keystone.authtoken_section(state, NAME),
        'glance': _glance_section(state),
        BACKEND: _backend_section(directory, BACKEND),
        'oslo_concurrency': {'lock_path': directory / 'cinder' / 'locks'},
        'coordination': {
            'backend_url': 'file://%s' % (directory / 'cinder' / 'locks')},
        'cinder_sys_admin': {'helper_command': helper},
        'privsep_osbrick': {'helper_command': helper},
        'oslo_policy': {'enforce_new_defaults': True,
                        'enforce_scope': False},
    }
    for cluster in ceph.clusters(state):
        sections[rbd_backend(cluster.site)] = _rbd_backend_section(
            cluster, rbd_cluster_name(state, cluster.site))
        install_host_keyring(state, cluster)
    for section, options in service.conf.items():
        sections.setdefault(section, {}).update(options)
    return common.write_ini(conf, sections)


def _glance_section(state: State) -> dict[str, object]:
    """``[glance]``: the privileged user that reads image locations.

    Cinder calls ``GET /v2/images/{id}/locations`` (role ``service``) as
    this user to find an image's RBD snapshot; without it the RBD driver
    copies the image instead of cloning it. Cinder 27+ does it itself;
    on Cinder 26 cinder-multistore's image service does it with the same
    section (glance-api runs without ``show_multiple_locations``).
    """
    # NOTE: the user needs role admin besides service: Glance looks the
    # image up with the caller's visibility before its policy check, so a
    # service-only user of the service project gets a 404 for every
    # private image of another project (measured on Glance 33).
    section = keystone.authtoken_section(state, NAME)
    return {key: section[key] for key in (
        'auth_url', 'auth_type', 'username', 'password', 'project_name',
        'user_domain_name', 'project_domain_name', 'region_name')}


#: Where os-brick looks for a Ceph user's keyring: it opens a volume for
#: upload-to-image with ``/etc/ceph/<cluster name>.client.<user>.keyring``
#: and the monitors of the connection, not with ``rbd_ceph_conf``.
HOST_KEYRING = '/etc/ceph/%s.client.%s.keyring'


def rbd_cluster_name(state: State, site: str) -> str:
    """``rbd_cluster_name`` of ``site``'s backend, unique to the run.

    Two sites (and two runs) must not share a name: the name selects the
    keyring file os-brick reads.
    """
    return 'cms%s%s' % (state.run_id, site)


def install_host_keyring(state: State, cluster: ceph.Cluster) -> Path:
    """Put the cinder user's keyring where os-brick reads it.

    The file is recorded in the state so ``stack down`` removes it.
    """
    path = Path(HOST_KEYRING % (rbd_cluster_name(state, cluster.site),
                                ceph.CINDER_USER))
    path.parent.mkdir(parents=True, exist_ok=True)
    state.host_files.append(str(path))
    state.save()
    path.write_text(cluster.keyring(ceph.CINDER_USER).read_text())
    path.chmod(0o600)
    return path


def _rbd_backend_section(cluster: ceph.Cluster,
                         cluster_name: str) -> dict[str, object]:
    return {
        'volume_driver': RBD_DRIVER,
        'volume_backend_name': rbd_backend(cluster.site),
        'backend_availability_zone': site_az(cluster.site),
        'rbd_pool': ceph.VOLUMES_POOL,
        'rbd_user': ceph.CINDER_USER,
        'rbd_ceph_conf': ceph.rbd_client_conf(cluster),
        'rbd_cluster_name': cluster_name,
        'rbd_secret_uuid': RBD_SECRET_UUID,
        'rbd_flatten_volume_from_snapshot': False,
        'rados_connect_timeout': ceph.CONNECT_TIMEOUT,
        'rados_connection_retries': 3,
        'rados_connection_interval': 2,
    }


def _backend_section(directory: Path, backend: str) -> dict[str, object]:
    return {
        'volume_driver': NFS_DRIVER,
        'volume_backend_name': backend,
        'nfs_shares_config': etc(directory) / 'nfs_shares',
        'nfs_mount_point_base': mount_base(directory),
        'nfs_snapshot_support': True,
        'nfs_sparsed_volumes': True,
        'nas_secure_file_operations': False,
        'nas_secure_file_permissions': False,
    }


def mount_share(state: State) -> None:
    """Mount the share's tmpfs where the NFS driver looks for it."""
    point = share_mount_point(state)
    mounts.mount_tmpfs(point, SHARE_SIZE, source=share(state))
    state.mounts.append(str(point))
    state.save()


def db_sync(state: State) -> process.Background:
    """Start ``cinder-manage db sync`` in the background."""
    return process.Background(
        [common.tool('cinder-manage'), '--config-file',
         str(conf_path(state.directory)), 'db', 'sync'],
        Path(state.directory) / 'logs' / 'cinder-manage.log', NAME)


def register(state: State, catalog: keystone.Catalog | None = None) -> None:
    """The cinder service user and the block-storage services."""
    catalog = catalog or keystone.Catalog(state)
    catalog.add_service_user(NAME)
    endpoint = url(state) + '/v3/$(project_id)s'
    catalog.add_service('cinder', 'block-storage', endpoint,
                        'Cinder block storage')
    catalog.add_service('cinderv3', 'volumev3', endpoint,
                        'Cinder block storage v3')


def _start(state: State, name: str, argv: list[str],
           env: dict[str, str] | None = None) -> process.Process:
    proc = process.start(state.directory, name, argv, env=env)
    state.services.append(name)
    state.save()
    return proc


@dataclasses.dataclass
class Services:
    """The started Cinder processes."""

    api: process.Process
    scheduler: process.Process
    volume: process.Process
    ready_line: str | None


def start(state: State, block: bool = True) -> Services:
    """Mount the share, start the API, scheduler and volume service.

    :param block: wait until all are ready (else call :func:`wait`).
    :raises ServiceError: naming the service that did not come up.
    """
    conf = str(conf_path(state.directory))
    mount_share(state)
    service = volume_service(state.options.cinder_image_driver)
    api = _start(state, API, common.uwsgi_argv(
        WSGI_MODULE, state.ports[NAME], processes=1, threads=4,
        pyargv=['--config-file', conf]))
    scheduler = _start(state, SCHEDULER,
                       [common.tool('cinder-scheduler'), '--config-file',
                        conf])
    volume = _start(state, VOLUME, [*service.argv, '--config-file', conf])
    services = Services(api, scheduler, volume, service.ready_line)
    if block:
        wait(state, services)
    return services


def wait(state: State, services: Services) -> None:
    """Wait until the API answers and every backend's pool is scheduled."""
    process.wait_for_http(services.api, state.ports[NAME], '/')
    if services.ready_line:
        process.wait_for_log(services.volume, services.ready_line)
    for backend in backends(state):
        _wait_for_backend(state, services.scheduler, services.volume,
                          backend)


def restart_volume(state: State, timeout: float = 120.0) -> process.Process:
    """Stop cinder-volume, however it is (killed, hung), and start it again.

    Waits until the new process logs its image driver's ready line and the
    scheduler sees every backend up again. Restarts of one stack from
    several processes (a test run and a benchmark on one cloud) take turns:
    two at once would each start a cinder-volume, and the one whose pid
    file was overwritten would go on taking requests with the old options.
    """
    directory = Path(state.directory)
    run = process.run_dir(directory)
    with open(run / ('%s.lock' % VOLUME), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        process.stop_pid_file(run / ('%s.pid' % VOLUME))
        service = volume_service(state.options.cinder_image_driver)
        log = log_path(directory, VOLUME)
        offset = log.stat().st_size if log.exists() else 0
        volume = process.start(directory, VOLUME, [
            *service.argv, '--config-file', str(conf_path(directory))])
        if service.ready_line:
            process.wait_for_log(volume, service.ready_line, timeout, offset)
        scheduler = process.attach(directory, SCHEDULER)
        for backend in backends(state):
            _wait_for_backend(state, scheduler, volume, backend, timeout)
    return volume


def with_options(text: str, **options: str) -> str:
    """``text`` (a cinder.conf) with ``options`` set in the image
    driver's group (``[multistore_image_service]``).
    """
    from cinder_multistore.image import opts
    conf = configparser.RawConfigParser(strict=False, interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read_string(text)
    if not conf.has_section(opts.GROUP):
        conf.add_section(opts.GROUP)
    for name, value in options.items():
        conf.set(opts.GROUP, name, value)
    out = io.StringIO()
    conf.write(out)
    return out.getvalue()


@contextlib.contextmanager
def volume_options(directory: Path, **options: str) -> Iterator[Path]:
    """cinder-volume restarted with ``options`` in its image driver's
    group; cinder.conf given back as it was, and cinder-volume restarted
    again, at the end. Contexts nest (the inner one adds to the outer's).

    :returns: cinder-volume's log.
    """
    original = conf_path(directory).read_text()
    try:
        _restart_with(directory, with_options(original, **options))
        yield log_path(directory, VOLUME)
    finally:
        _restart_with(directory, original)


def _restart_with(directory: Path, text: str) -> None:
    conf_path(directory).write_text(text)
    restart_volume(State.load(directory))


def restart_api(state: State, default_type: str | None = None
                ) -> process.Process:
    """Restart cinder-api, with another default volume type if given.

    The default type is cinder-api's to apply (volumes created without a
    type get it), so only the API restarts; ``None`` goes back to the
    configured :data:`VOLUME_TYPE`.
    """
    directory = Path(state.directory)
    process.stop_pid_file(process.run_dir(directory) / ('%s.pid' % API))
    pyargv = ['--config-file', str(conf_path(directory))]
    if default_type is not None:
        override = etc(directory) / 'cinder-api-default-type.conf'
        common.write_ini(override, {
            'DEFAULT': {'default_volume_type': default_type}})
        pyargv += ['--config-file', str(override)]
    api = process.start(directory, API, common.uwsgi_argv(
        WSGI_MODULE, state.ports[NAME], processes=1, threads=4,
        pyargv=pyargv))
    process.wait_for_http(api, state.ports[NAME], '/')
    return api


def _admin_get(sess, state: State, path: str):
    project = sess.get_project_id()
    return sess.get('%s/v3/%s%s' % (url(state), project, path),
                    raise_exc=False)


def _wait_for_backend(state: State, scheduler: process.Process,
                      volume: process.Process, backend: str = BACKEND,
                      timeout: float = 120.0) -> None:
    """Wait until both services are up and the scheduler knows the pool."""
    sess = keystone.admin_session(state)
    deadline = time.monotonic() + timeout
    volume_host = '%s@%s' % (HOST, backend)
    pool = volume_host + '#'
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        for proc in (scheduler, volume):
            if not proc.running():
                raise process.ServiceError(proc.name, proc.log_path,
                                           'the process exited')
        resp = _admin_get(sess, state, '/os-services')
        if resp.status_code == 200:
            seen = {s['binary'] if s['binary'] != VOLUME else s['host']:
                    s['state'] for s in resp.json().get('services', [])}
        if seen.get(SCHEDULER) == 'up' and seen.get(volume_host) == 'up':
            resp = _admin_get(sess, state, '/scheduler-stats/get_pools')
            if resp.status_code == 200 and any(
                    p['name'].startswith(pool)
                    for p in resp.json().get('pools', [])):
                LOG.info('cinder backend %s is ready', pool)
                return
        time.sleep(1)
    blamed = volume if seen.get(SCHEDULER) == 'up' else scheduler
    raise process.ServiceError(blamed.name, blamed.log_path,
                               'backend %s not ready within %.0f s '
                               '(services: %s)' % (pool, timeout, seen))


def create_default_type(state: State, name: str = VOLUME_TYPE,
                        backend: str = BACKEND,
                        description: str = 'NFS backend of the stack'
                        ) -> None:
    """Create volume type ``name`` (by default the configured default)."""
    create_type(state, name, {'volume_backend_name': backend}, description)


def create_site_types(state: State) -> None:
    """Create the volume type of every Ceph site's RBD backend."""
    for cluster in ceph.clusters(state):
        create_type(state, site_volume_type(cluster.site),
                    site_type_specs(cluster.site),
                    'RBD backend of Ceph site %s' % cluster.site)


def create_type(state: State, name: str, extra_specs: dict[str, str],
                description: str) -> None:
    """Create public volume type ``name`` unless it exists."""
    sess = keystone.admin_session(state)
    project = sess.get_project_id()
    base = '%s/v3/%s/types' % (url(state), project)
    resp = sess.get(base, raise_exc=False)
    if resp.status_code == 200 and any(
            t['name'] == name for t in resp.json()['volume_types']):
        return
    resp = sess.post(base, raise_exc=False, json={'volume_type': {
        'name': name, 'description': description,
        'extra_specs': extra_specs}})
    if resp.status_code != 200:
        raise process.ServiceError(API, log_path(state.directory, API),
                                   'creating volume type %s: %d %s' % (
                                       name, resp.status_code,
                                       resp.text[:300]))


def upstream_conf_path(directory: Path) -> Path:
    """The extra config file of :data:`UPSTREAM_VOLUME`."""
    return etc(directory) / ('%s.conf' % UPSTREAM_VOLUME)


#: The Ceph site whose RBD backend the upstream volume service also runs.
UPSTREAM_RBD_SITE = 'edge'


def upstream_rbd_backend(site: str) -> str:
    """The upstream volume service's RBD backend on ``site``'s cluster."""
    return '%s-upstream' % rbd_backend(site)


def upstream_backends(state: State) -> list[str]:
    """The backends of :data:`UPSTREAM_VOLUME`: NFS, and RBD with Ceph."""
    return [UPSTREAM_BACKEND] + [
        upstream_rbd_backend(c.site) for c in ceph.clusters(state)
        if c.site == UPSTREAM_RBD_SITE]


def start_upstream_volume(state: State) -> process.Process:
    """Start a plain cinder-volume on its own backends.

    :data:`UPSTREAM_BACKEND` (the same share as ``nfs``) and, when the
    stack runs Ceph, an RBD backend on :data:`UPSTREAM_RBD_SITE`'s volumes
    pool. It reads cinder.conf, then a file that enables only its own
    backends, so the two volume services never share a volume. Wait with
    :func:`wait_upstream_volume`.
    """
    directory = Path(state.directory)
    sections: dict[str, dict[str, object]] = {
        'DEFAULT': {'enabled_backends': ', '.join(upstream_backends(state))},
        UPSTREAM_BACKEND: _backend_section(directory, UPSTREAM_BACKEND),
    }
    for cluster in ceph.clusters(state):
        if cluster.site == UPSTREAM_RBD_SITE:
            section = _rbd_backend_section(
                cluster, rbd_cluster_name(state, cluster.site))
            section['volume_backend_name'] = upstream_rbd_backend(
                cluster.site)
            sections[upstream_rbd_backend(cluster.site)] = section
    extra = common.write_ini(upstream_conf_path(directory), sections)
    service = volume_service('upstream')
    return _start(state, UPSTREAM_VOLUME, [
        *service.argv, '--config-file', str(conf_path(directory)),
        '--config-file', str(extra)])


def wait_upstream_volume(state: State, proc: process.Process) -> None:
    """Wait for the upstream backends' pools, then create the NFS one's
    volume type (the benchmark makes its own for the RBD one).
    """
    scheduler = process.attach(state.directory, SCHEDULER)
    for backend in upstream_backends(state):
        _wait_for_backend(state, scheduler, proc, backend)
    create_default_type(state, UPSTREAM_VOLUME_TYPE, UPSTREAM_BACKEND,
                        "Cinder's own image service (benchmark)")


def upstream_env(state: State) -> stack_env.CinderUpstream:
    """The stack.env part of :data:`UPSTREAM_VOLUME`."""
    rbd_backend = rbd_az = None
    for cluster in ceph.clusters(state):
        if cluster.site == UPSTREAM_RBD_SITE:
            rbd_backend = upstream_rbd_backend(cluster.site)
            rbd_az = site_az(cluster.site)
    return stack_env.CinderUpstream(
        volume_type=UPSTREAM_VOLUME_TYPE,
        volume_log=log_path(state.directory, UPSTREAM_VOLUME),
        rbd_backend=rbd_backend, rbd_az=rbd_az)


def upstream_variables(state: State) -> dict[str, str]:
    """The stack.env variables of :data:`UPSTREAM_VOLUME`."""
    return upstream_env(state).variables()


def env(state: State) -> stack_env.Cinder:
    """The stack.env part of Cinder."""
    directory = Path(state.directory)
    return stack_env.Cinder(
        api_url=url(state),
        conf=conf_path(directory),
        api_log=log_path(directory, API),
        scheduler_log=log_path(directory, SCHEDULER),
        volume_log=log_path(directory, VOLUME),
        volume_type=VOLUME_TYPE,
        backend_host='%s@%s' % (HOST, BACKEND),
        nfs_share=share(state),
        nfs_mount=share_mount_point(state),
        image_driver=state.cinder_image_driver_effective or 'upstream',
        default_az=DEFAULT_AZ,
        sites={c.site: stack_env.CinderSite(
            volume_type=site_volume_type(c.site),
            az=site_az(c.site),
            backend=rbd_backend(c.site),
            backend_host='%s@%s' % (HOST, rbd_backend(c.site)))
            for c in ceph.clusters(state)})


def variables(state: State) -> dict[str, str]:
    """The stack.env variables of Cinder."""
    return env(state).variables()
