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

"""Glance with its stores and the multistore filter.

glance-api runs under uwsgi (``glance.wsgi.api:application``, every
release) or, when the stack was started with ``--glance-server eventlet``,
as Glance's own eventlet server, the ``glance-api`` command (Glance 30 and
31 only). Both serve the same config, paste pipeline, port and log file
with two worker processes.

Stores: ``alpha``, ``beta``, ``gamma`` (file stores), ``delta`` (a file
store on a 16 MiB tmpfs, so that larger images really fail with "storage
full"), ``web`` (the read-only http store) and, when the stack runs Ceph,
one ``rbd`` store per site: ``ceph-central`` and ``ceph-edge`` (pool
``images`` of that site's cluster, user ``client.glance``; images are
protected snapshots at ``rbd://<fsid>/images/<id>/snap``). ``alpha`` is the
default.
Glance lists an image's stores by weight, highest first; the weights make
that order alphabetical, and ``enabled_backends`` lists the stores in the
same order, so ``GET /v2/info/stores`` and every image's ``stores`` agree.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
import re
import shlex
import sys

from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import mounts
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import www


LOG = logging.getLogger(__name__)

NAME = 'glance'
WSGI_MODULE = 'glance.wsgi.api'
#: The ways glance-api is served (``state.options.glance_server``).
UWSGI = 'uwsgi'
EVENTLET = 'eventlet'
#: Worker processes of either server.
WORKERS = 2
#: Seconds a client may send nothing mid-upload before glance-api drops
#: it: the eventlet server's ``client_socket_timeout`` (Glance's default is
#: 900 s) and uwsgi's ``socket-timeout`` (its default, 4 s, is short for
#: a client thread of the load test on a busy 2-core machine: a dropped
#: client gets a 500, the likely cause of one seen in CI).
CLIENT_SOCKET_TIMEOUT = 10
#: File stores with a directory of their own under DIR/stores.
FILE_STORES = ('alpha', 'beta', 'delta', 'gamma')
#: The file store on a small tmpfs.
SMALL_STORE = 'delta'
SMALL_STORE_SIZE = '16m'
HTTP_STORE = 'web'
DEFAULT_STORE = 'alpha'
RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')
DESCRIPTIONS = {
    'alpha': 'File store alpha (default)',
    'beta': 'File store beta',
    'gamma': 'File store gamma',
    'delta': 'Small file store delta (16 MiB tmpfs)',
    'web': 'Read-only http store',
}
#: A second glance-api with upstream's pipeline (no filter), same
#: database and stores; started only for the benchmark.
PLAIN = 'glance-plain'
FILTER_NAME = 'multistore'
FILTER_FACTORY = 'cinder_multistore.glance.middleware:MultiStoreFilter.factory'
IMPORT_METHODS = ('glance-direct', 'web-download', 'copy-image')


#: ``rbd_store_chunk_size`` (MiB) of the rbd stores.
RBD_STORE_CHUNK_SIZE = 8


def rbd_store(site: str) -> str:
    """The name of the rbd store of a Ceph site (``ceph-<site>``)."""
    return 'ceph-%s' % site


def rbd_stores(with_ceph: bool = True) -> list[str]:
    """The rbd stores, one per Ceph site (none without Ceph)."""
    return [rbd_store(site) for site in ceph.SITES] if with_ceph else []


def with_ceph(state: State) -> bool:
    """True when the run has the Ceph clusters (and so the rbd stores)."""
    return state.options.with_ceph


def stores(with_ceph: bool = True) -> list[str]:
    """Every enabled store, in Glance's order (by weight, alphabetical)."""
    return sorted(FILE_STORES + (HTTP_STORE,) + tuple(rbd_stores(with_ceph)))


def weights(with_ceph: bool = True) -> dict[str, int]:
    """Store weights: alphabetical order is highest weight first."""
    ordered = stores(with_ceph)
    return {s: 100 * (len(ordered) - i) for i, s in enumerate(ordered)}


def store_type(store: str) -> str:
    """The glance_store driver of ``store``: ``file``, ``http`` or ``rbd``."""
    if store == HTTP_STORE:
        return 'http'
    if store in rbd_stores():
        return 'rbd'
    return 'file'


def description(store: str) -> str:
    """The ``store_description`` of ``store``."""
    for site in ceph.SITES:
        if store == rbd_store(site):
            return 'Ceph RBD store of site %s' % site
    return DESCRIPTIONS[store]


def _rbd_store(cluster: ceph.Cluster) -> dict[str, object]:
    return {'rbd_store_pool': ceph.IMAGES_POOL,
            'rbd_store_user': ceph.GLANCE_USER,
            'rbd_store_ceph_conf': ceph.rbd_client_conf(cluster),
            'rbd_store_chunk_size': RBD_STORE_CHUNK_SIZE,
            'rados_connect_timeout': ceph.CONNECT_TIMEOUT}


def etc(directory: Path, name: str = NAME) -> Path:
    """The config folder (``OS_GLANCE_CONFIG_DIR``) of instance ``name``."""
    return Path(directory) / 'etc' / name


def conf_path(directory: Path, name: str = NAME) -> Path:
    """glance-api.conf."""
    return etc(directory, name) / 'glance-api.conf'


def paste_path(directory: Path, name: str = NAME) -> Path:
    """glance-api-paste.ini."""
    return etc(directory, name) / 'glance-api-paste.ini'


def log_path(directory: Path, name: str = NAME) -> Path:
    """The log file of instance ``name``."""
    return Path(directory) / 'logs' / ('%s.log' % name)


def store_dir(directory: Path, store: str) -> Path:
    """The data folder of a file store (reserved ones included)."""
    return Path(directory) / 'stores' / store


def url(state: State, name: str = NAME) -> str:
    """The endpoint of instance ``name``."""
    return 'http://%s:%d' % (common.HOST, state.ports[name])


def upstream_paste_ini() -> Path:
    """Glance's own glance-api-paste.ini, as installed with the package."""
    candidate = Path(sys.prefix) / 'etc' / 'glance' / 'glance-api-paste.ini'
    if candidate.exists():
        return candidate
    dist = importlib.metadata.distribution('glance')
    for entry in dist.files or ():
        if entry.name == 'glance-api-paste.ini':
            path = Path(dist.locate_file(entry))
            if path.exists():
                return path
    raise process.StackError('glance-api-paste.ini of the glance package '
                             'was not found')


def add_filter(paste_ini: str, name: str = FILTER_NAME,
               factory: str = FILTER_FACTORY) -> str:
    """Insert filter ``name`` right after ``context`` in every pipeline.

    Pipelines are the values of ``[composite:api]`` (Glance's
    pipeline_factory) and of ``[pipeline:*]`` sections; the filter section
    is appended. Pipelines without ``context`` (no auth) are left alone.
    """
    out = []
    section = ''
    for line in paste_ini.splitlines():
        header = re.match(r'^\s*\[([^\]]+)\]', line)
        if header:
            section = header.group(1).strip()
        elif ((section == 'composite:api' or section.startswith('pipeline:'))
              and '=' in line and not line.lstrip().startswith(('#', ';'))):
            key, _, value = line.partition('=')
            if key.strip() not in ('paste.composite_factory', 'use'):
                words = value.split()
                if 'context' in words and name not in words:
                    words.insert(words.index('context') + 1, name)
                    line = '%s= %s' % (key, ' '.join(words))
        out.append(line)
    text = '\n'.join(out).rstrip('\n') + '\n'
    if '[filter:%s]' % name not in text:
        text += '\n[filter:%s]\npaste.filter_factory = %s\n' % (name, factory)
    return text


#: ``filesystem_store_chunk_size`` of every file store: 1 MiB instead of
#: 64 KiB. Glance sleeps ``sleep(0)`` after every chunk it reads from a
#: request and hashes chunk by chunk; with 64 KiB chunks the per-chunk
#: overhead, not the disk, bounds an upload on a small machine.
FILE_STORE_CHUNK_SIZE = 1 << 20


def _file_store(directory: Path, store: str) -> dict[str, object]:
    return {'filesystem_store_datadir': store_dir(directory, store),
            'filesystem_store_chunk_size': FILE_STORE_CHUNK_SIZE}


def configure(state: State, name: str = NAME) -> Path:
    """Write glance-api.conf and the paste ini; create the store folders.

    :param name: ``glance`` (with the filter) or :data:`PLAIN` (upstream's
        pipeline); both use the same database and stores.
    """
    directory = Path(state.directory)
    for store in FILE_STORES + RESERVED_STORES:
        store_dir(directory, store).mkdir(parents=True, exist_ok=True)
    (directory / 'glance' / 'locks').mkdir(parents=True, exist_ok=True)
    (directory / 'glance' / 'cache').mkdir(parents=True, exist_ok=True)
    paste = paste_path(directory, name)
    paste.parent.mkdir(parents=True, exist_ok=True)
    upstream = upstream_paste_ini().read_text()
    paste.write_text(add_filter(upstream) if name == NAME else upstream)
    ceph_on = with_ceph(state)
    enabled = ', '.join('%s:%s' % (s, store_type(s)) for s in stores(ceph_on))
    sections: dict[str, dict[str, object]] = {
        'DEFAULT': {
            'debug': False,
            'use_stderr': True,
            'enabled_backends': enabled,
            'enabled_import_methods': common.bracketed(IMPORT_METHODS),
            # NOTE: both off on every release: they show every user an
            # image's locations (OSSN-0065, OSSN-0090). Cinder reads them
            # through GET /v2/images/{id}/locations as its [glance]
            # service user (Cinder 27+ itself, Cinder 26 through
            # cinder-multistore's image service); no release needs them.
            'show_image_direct_url': False,
            'show_multiple_locations': False,
            'worker_self_reference_url': url(state, name),
            'public_endpoint': url(state, name),
            'image_cache_dir': directory / 'glance' / 'cache',
        },
        'database': {
            'connection': database.url(state.sql, '%s_glance' %
                                       keystone.db_prefix(state)),
            'max_retries': -1,
        },
        'keystone_authtoken': keystone.authtoken_section(state, NAME),
        'paste_deploy': {'flavor': 'keystone',
                         'config_file': paste},
        'glance_store': {'default_backend': DEFAULT_STORE},
        'import_filtering_opts': {
            'allowed_schemes': common.bracketed(['http', 'https']),
            'allowed_hosts': common.bracketed([common.HOST, 'localhost']),
            'allowed_ports': common.bracketed(
                [80, 443, state.ports[www.NAME]]),
        },
        'oslo_concurrency': {'lock_path': directory / 'glance' / 'locks'},
        # NOTE: Glance's secure RBAC defaults, as operators are asked to
        # run them: new policy defaults and token scopes enforced.
        'oslo_policy': {'enforce_new_defaults': True,
                        'enforce_scope': True},
    }
    weight = weights(ceph_on)
    clusters = {rbd_store(c.site): c for c in ceph.clusters(state)}
    for store in stores(ceph_on):
        section: dict[str, object] = {
            'store_description': description(store),
            'weight': weight[store],
        }
        kind = store_type(store)
        if kind == 'file':
            section.update(_file_store(directory, store))
        elif kind == 'rbd':
            section.update(_rbd_store(clusters[store]))
        sections[store] = section
    for store in RESERVED_STORES:
        sections[store] = _file_store(directory, store)
    return common.write_ini(conf_path(directory, name), sections)


def mount_small_store(state: State) -> None:
    """Mount the 16 MiB tmpfs of store ``delta``."""
    point = store_dir(state.directory, SMALL_STORE)
    mounts.mount_tmpfs(point, SMALL_STORE_SIZE)
    state.mounts.append(str(point))
    state.save()


def metadefs_dir() -> Path:
    """Glance's metadata definitions, installed with the glance package."""
    return Path(sys.prefix) / 'etc' / 'glance' / 'metadefs'


def db_sync(state: State) -> process.Background:
    """Start ``glance-manage db_sync`` in the background.

    Then ``db_load_metadefs`` loads Glance's own metadata definitions, as
    a deployment does (the metadefs API and its tests need them).
    """
    manage = [common.tool('glance-manage'), '--config-file',
              str(conf_path(state.directory))]
    commands = [shlex.join(manage + ['db_sync'])]
    if metadefs_dir().is_dir():
        commands.append(shlex.join(
            manage + ['db_load_metadefs', str(metadefs_dir())]))
    return process.Background(
        ['sh', '-c', ' && '.join(commands)],
        Path(state.directory) / 'logs' / 'glance-manage.log', NAME)


def server(state: State) -> str:
    """How glance-api is served: :data:`UWSGI` (default) or :data:`EVENTLET`.
    """
    return state.options.glance_server or UWSGI


def server_conf_path(directory: Path, name: str = NAME) -> Path:
    """The eventlet server's own options (address, port, workers)."""
    return etc(directory, name) / 'glance-api-server.conf'


def eventlet_argv(state: State, name: str = NAME) -> list[str]:
    """The ``glance-api`` command line of instance ``name``.

    Writes the server options to :func:`server_conf_path`, read after
    glance-api.conf: the instance's config stays the same for both
    servers, and an extra instance whose glance-api.conf is a copy of the
    stack's still gets a port of its own.
    """
    directory = Path(state.directory)
    extra = common.write_ini(server_conf_path(directory, name), {
        'DEFAULT': {'bind_host': common.HOST,
                    'bind_port': state.ports[name],
                    'workers': WORKERS,
                    'client_socket_timeout': CLIENT_SOCKET_TIMEOUT}})
    return [common.tool('glance-api'),
            '--config-file', str(conf_path(directory, name)),
            '--config-file', str(extra)]


def start(state: State, block: bool = True,
          name: str = NAME) -> process.Process:
    """Start Glance instance ``name`` under the stack's server.

    Waits until it answers when ``block``; with ``block=False`` call
    :func:`wait` later.
    """
    port = state.ports[name]
    if server(state) == EVENTLET:
        argv = eventlet_argv(state, name)
    else:
        argv = common.uwsgi_argv(
            WSGI_MODULE, port, processes=WORKERS, threads=4,
            extra=['--socket-timeout', str(CLIENT_SOCKET_TIMEOUT)])
    proc = process.start(
        state.directory, name, argv,
        env={'OS_GLANCE_CONFIG_DIR': str(etc(state.directory, name))})
    state.services.append(name)
    state.save()
    if block:
        wait(state, proc)
    return proc


def wait(state: State, proc: process.Process) -> None:
    """Wait until the Glance instance of ``proc`` answers its health check."""
    process.wait_for_http(proc, state.ports[proc.name], '/healthcheck')


def register(state: State, catalog: keystone.Catalog | None = None) -> None:
    """The glance service user and the image service in Keystone."""
    catalog = catalog or keystone.Catalog(state)
    catalog.add_service_user(NAME)
    catalog.add_service(NAME, 'image', url(state), 'Glance image service')


def env(state: State) -> stack_env.Glance:
    """The stack.env part of Glance: endpoint, stores, test image."""
    directory = Path(state.directory)
    all_stores = stores(with_ceph(state))
    return stack_env.Glance(
        endpoint=url(state),
        stores=tuple(all_stores),
        usable_stores=tuple(s for s in all_stores if s != HTTP_STORE),
        readonly_stores=(HTTP_STORE,),
        default_store=DEFAULT_STORE,
        small_store=SMALL_STORE,
        reserved_stores=RESERVED_STORES,
        store_dirs={s: store_dir(directory, s) for s in FILE_STORES},
        staging_dir=store_dir(directory, 'os_glance_staging_store'),
        tasks_dir=store_dir(directory, 'os_glance_tasks_store'),
        conf=conf_path(directory),
        log=log_path(directory),
        image_id=state.test_image,
        rbd_stores=({site: rbd_store(site) for site in ceph.SITES}
                    if with_ceph(state) else {}))


def plain_env(state: State) -> stack_env.GlancePlain:
    """The stack.env part of :data:`PLAIN`."""
    return stack_env.GlancePlain(url(state, PLAIN),
                                 log_path(state.directory, PLAIN))


def check(state: State) -> None:
    """Check Glance: its store list, and that an image can be created.

    :raises ServiceError: when ``GET /v2/info/stores`` disagrees with the
        configuration or creating and deleting an image fails.
    """
    sess = keystone.admin_session(state)
    base = url(state)

    def fail(what: str, resp) -> None:
        raise process.ServiceError(NAME, log_path(state.directory),
                                   '%s: %s %s' % (what, resp.status_code,
                                                  resp.text[:300]))

    resp = sess.get(base + '/v2/info/stores', raise_exc=False)
    if resp.status_code != 200:
        fail('GET /v2/info/stores', resp)
    listed = [s['id'] for s in resp.json()['stores']]
    expected = stores(with_ceph(state))
    if listed != expected:
        raise process.ServiceError(NAME, log_path(state.directory),
                                   'stores %s, expected %s'
                                   % (listed, expected))
    resp = sess.post(base + '/v2/images', raise_exc=False,
                     json={'name': 'cms-stack-check', 'disk_format': 'raw',
                           'container_format': 'bare'})
    if resp.status_code != 201:
        fail('POST /v2/images', resp)
    image_id = resp.json()['id']
    resp = sess.delete(base + '/v2/images/' + image_id, raise_exc=False)
    if resp.status_code != 204:
        fail('DELETE /v2/images/%s' % image_id, resp)


#: Name of the public raw image every stack has (tempest's image_ref).
TEST_IMAGE_NAME = 'cms-test-image'


def create_test_image(state: State) -> str:
    """Upload ``www/image.raw`` as a public image (as admin); return its id.

    Tempest's volume tests use it as ``[compute] image_ref``.
    """
    sess = keystone.admin_session(state)
    base = url(state)
    resp = sess.post(base + '/v2/images', raise_exc=False, json={
        'name': TEST_IMAGE_NAME, 'disk_format': 'raw',
        'container_format': 'bare', 'visibility': 'public'})
    if resp.status_code != 201:
        raise process.ServiceError(NAME, log_path(state.directory),
                                   'creating %s: %s %s' % (
                                       TEST_IMAGE_NAME, resp.status_code,
                                       resp.text[:300]))
    image_id = resp.json()['id']
    data = (www.root(state.directory) / www.RAW_IMAGE).read_bytes()
    resp = sess.put(base + '/v2/images/%s/file' % image_id, data=data,
                    headers={'Content-Type': 'application/octet-stream'},
                    raise_exc=False)
    if resp.status_code != 204:
        raise process.ServiceError(NAME, log_path(state.directory),
                                   'uploading %s: %s %s' % (
                                       TEST_IMAGE_NAME, resp.status_code,
                                       resp.text[:300]))
    state.test_image = image_id
    state.save()
    return image_id
