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

"""Two real Ceph clusters, one per site (``central`` and ``edge``).

Each cluster is one mon, one mgr and one bluestore OSD on a sparse file,
with everything it owns in ``DIR/ceph/<site>``: ``ceph.conf``, keyrings,
daemon data, logs, run dir (pid files, admin sockets) and crash dir. The
clusters have their own fsid and their own port range on 127.0.0.1, so they
run side by side without ``/etc/ceph`` or ``/var/lib/ceph``.

Every auth entity (``mon.``, ``client.admin``, the mgr, the OSD,
``client.glance`` and ``client.cinder``) is generated up front and imported
by ``ceph-mon --mkfs``, so no ``ceph auth`` round-trip is needed. The
daemons run in the foreground as stack services (pid files in
``DIR/run``): ``stack down`` stops them by pid like every other service.

Pools ``images`` (Glance) and ``volumes`` (Cinder) have the ``rbd``
application. ``client.glance`` may write ``images`` and read ``volumes``;
``client.cinder`` may write ``volumes`` and read ``images`` (copy-on-write
clones of image snapshots).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path
import random
import shutil
import signal
import socket
import struct
import time
import uuid

from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import ClusterPlan
from cinder_multistore_lab.stack.state import State


LOG = logging.getLogger(__name__)

NAME = 'ceph'
#: The sites, one cluster each, in the order their stores sort.
SITES = ('central', 'edge')
IMAGES_POOL = 'images'
VOLUMES_POOL = 'volumes'
POOLS = (IMAGES_POOL, VOLUMES_POOL)
PG_NUM = 8
GLANCE_USER = 'glance'
CINDER_USER = 'cinder'
ADMIN_USER = 'admin'
MON_ID = 'a'
MGR_ID = 'x'
OSD_ID = 0
#: The sparse file under the OSD (bluestore's block device): room for the
#: benchmark's 10 GiB volume uploads (two volumes with 2 GiB written and
#: the 10 GiB image Cinder's own image service streams); only what is
#: written takes disk space.
BLOCK_SIZE = 24 << 30
#: Ports of one cluster: mon v2, mon v1, then the range of the other
#: daemons (``ms_bind_port_min/max``).
PORTS_PER_CLUSTER = 24
#: Where the port blocks are looked for: below Linux's ephemeral range, so
#: that client connections never take a cluster's port.
PORT_RANGE = (20000, 32000)
#: Seconds a client waits for a mon, an OSD operation, the first mount.
CLIENT_TIMEOUTS = {
    'rados_mon_op_timeout': 20,
    'rados_osd_op_timeout': 20,
    'client_mount_timeout': 10,
}
#: What ``rados_connect_timeout`` is in Glance's and Cinder's options.
CONNECT_TIMEOUT = 10
DAEMONS = ('mon', 'mgr', 'osd')
#: Health checks that a one-OSD test cluster may show and still serve I/O.
TOLERATED_CHECKS = frozenset()

#: The oldest client release the clusters accept: clone format 2.
MIN_COMPAT_CLIENT = 'mimic'

_CAPS = {
    'mon.': {'mon': 'allow *'},
    'client.%s' % ADMIN_USER: {'mon': 'allow *', 'osd': 'allow *',
                               'mds': 'allow *', 'mgr': 'allow *'},
    'mgr.%s' % MGR_ID: {'mon': 'allow profile mgr', 'osd': 'allow *',
                        'mds': 'allow *'},
    'osd.%d' % OSD_ID: {'mon': 'allow profile osd',
                        'mgr': 'allow profile osd', 'osd': 'allow *'},
    'client.%s' % GLANCE_USER: {
        'mon': 'profile rbd',
        'osd': 'profile rbd pool=%s, profile rbd-read-only pool=%s'
               % (IMAGES_POOL, VOLUMES_POOL),
        'mgr': 'profile rbd pool=%s' % IMAGES_POOL},
    # NOTE: the zero-copy upload-to-image clones a snapshot of a volume
    # into Glance's pool (glance_store's rbd layout), so Cinder writes there
    # (upstream's optimize-upload-volume-to-rbd-store needs the same caps).
    'client.%s' % CINDER_USER: {
        'mon': 'profile rbd',
        'osd': 'profile rbd pool=%s, profile rbd pool=%s'
               % (VOLUMES_POOL, IMAGES_POOL),
        'mgr': 'profile rbd pool=%s' % VOLUMES_POOL},
}


class CephError(process.StackError):
    """A Ceph command failed."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The cluster of one site: identity, ports and private paths.

    :param directory: the stack directory.
    :param site: ``central`` or ``edge``.
    :param fsid: the cluster's fsid.
    :param base_port: the first of :data:`PORTS_PER_CLUSTER` ports.
    """

    directory: Path
    site: str
    fsid: str
    base_port: int

    @property
    def folder(self) -> Path:
        """Everything of the cluster lives here."""
        return Path(self.directory) / NAME / self.site

    @property
    def conf(self) -> Path:
        """ceph.conf (``CEPH_CONF`` of every command of this cluster)."""
        return self.folder / 'ceph.conf'

    def keyring(self, user: str) -> Path:
        """The keyring of ``client.<user>``."""
        return self.folder / ('ceph.client.%s.keyring' % user)

    @property
    def mon_keyring(self) -> Path:
        """Every key of the cluster, imported by ``ceph-mon --mkfs``."""
        return self.folder / 'ceph.mon.keyring'

    @property
    def monmap(self) -> Path:
        """The initial monmap."""
        return self.folder / 'monmap'

    def data(self, daemon: str) -> Path:
        """The data folder of ``mon``, ``mgr`` or ``osd``."""
        return self.folder / daemon

    @property
    def block(self) -> Path:
        """The OSD's sparse block file (``osd/block`` links to it)."""
        return self.folder / 'osd-block.img'

    @property
    def log_dir(self) -> Path:
        """Daemon logs and the cluster log (kept by ``stack down``)."""
        return self.folder / 'log'

    @property
    def run_dir(self) -> Path:
        """Admin sockets and the daemons' own pid files."""
        return self.folder / 'run'

    @property
    def crash_dir(self) -> Path:
        """Crash reports."""
        return self.folder / 'crash'

    @property
    def mon_port(self) -> int:
        """The mon's msgr2 port."""
        return self.base_port

    @property
    def mon_v1_port(self) -> int:
        """The mon's legacy (msgr1) port."""
        return self.base_port + 1

    @property
    def bind_ports(self) -> tuple[int, int]:
        """``ms_bind_port_min`` and ``ms_bind_port_max``."""
        return self.base_port + 2, self.base_port + PORTS_PER_CLUSTER - 1

    @property
    def mon_host(self) -> str:
        """``mon_host``: both protocols of the one mon."""
        return '[v2:%s:%d,v1:%s:%d]' % (common.HOST, self.mon_port,
                                        common.HOST, self.mon_v1_port)

    def service(self, daemon: str) -> str:
        """The stack's service name (pid file, log) of a daemon."""
        return service_name(self.site, daemon)


def service_name(site: str, daemon: str) -> str:
    """``ceph-<site>-<daemon>``."""
    return '%s-%s-%s' % (NAME, site, daemon)


# -- pure pieces ------------------------------------------------------------

def conf_sections(cluster: Cluster,
                  block_size: int = BLOCK_SIZE
                  ) -> dict[str, dict[str, object]]:
    """The sections of ``ceph.conf`` of ``cluster``."""
    low, high = cluster.bind_ports
    return {
        'global': {
            'fsid': cluster.fsid,
            'mon_host': cluster.mon_host,
            'mon_initial_members': MON_ID,
            'public_addr': common.HOST,
            'cluster_addr': common.HOST,
            'ms_bind_port_min': low,
            'ms_bind_port_max': high,
            'auth_cluster_required': 'cephx',
            'auth_service_required': 'cephx',
            'auth_client_required': 'cephx',
            'run_dir': cluster.run_dir,
            'crash_dir': cluster.crash_dir,
            'osd_pool_default_size': 1,
            'osd_pool_default_min_size': 1,
            'osd_pool_default_pg_num': PG_NUM,
            'osd_pool_default_pgp_num': PG_NUM,
            'osd_pool_default_pg_autoscale_mode': 'off',
            'osd_crush_chooseleaf_type': 0,
            'mon_allow_pool_size_one': True,
            'mon_allow_pool_delete': True,
            'mon_warn_on_pool_no_redundancy': False,
            'mon_warn_on_insecure_global_id_reclaim': False,
            'mon_warn_on_insecure_global_id_reclaim_allowed': False,
            'mon_data_avail_warn': 5,
            'mon_data_avail_crit': 2,
        },
        'mon': {
            'mon_data': cluster.data('mon'),
            'mon_cluster_log_file': cluster.log_dir / 'ceph.log',
            'log_file': cluster.log_dir / '$cluster-$name.log',
            'admin_socket': cluster.run_dir / '$cluster-$name.asok',
            'pid_file': cluster.run_dir / '$name.pid',
            'paxos_propose_interval': 0.1,
            'mgr_initial_modules': 'iostat',
            'mon_osd_full_ratio': 0.97,
            'mon_osd_backfillfull_ratio': 0.96,
            'mon_osd_nearfull_ratio': 0.95,
        },
        'mgr': {
            'mgr_data': cluster.data('mgr'),
            'keyring': cluster.data('mgr') / 'keyring',
            'log_file': cluster.log_dir / '$cluster-$name.log',
            'admin_socket': cluster.run_dir / '$cluster-$name.asok',
            'pid_file': cluster.run_dir / '$name.pid',
            'mgr_stats_period': 1,
        },
        'osd': {
            'osd_data': cluster.data('osd'),
            'keyring': cluster.data('osd') / 'keyring',
            'log_file': cluster.log_dir / '$cluster-$name.log',
            'admin_socket': cluster.run_dir / '$cluster-$name.asok',
            'pid_file': cluster.run_dir / '$name.pid',
            'osd_objectstore': 'bluestore',
            'bluestore_block_path': cluster.block,
            'bluestore_block_create': True,
            'bluestore_block_size': block_size,
            'bluestore_fsck_on_mount': False,
            'osd_memory_target': 1 << 30,
            # resume_osd() marks the OSD down after every pause; by default
            # an OSD marked down 5 times in 10 minutes shuts itself down.
            'osd_max_markdown_count': 1000,
            'osd_max_object_name_len': 256,
            'osd_max_object_namespace_len': 64,
        },
        'client': {
            # NOTE: not $cluster: Cinder's RBD backends connect with a
            # cluster name of their own (see cinder.rbd_cluster_name).
            'keyring': cluster.folder / 'ceph.$name.keyring',
            **CLIENT_TIMEOUTS,
        },
    }


def new_key(now: float | None = None, secret: bytes | None = None) -> str:
    """A cephx secret as ``ceph-authtool --gen-key`` makes it.

    The encoding is: type (1 = AES, u16), creation time (u32 seconds,
    u32 nanoseconds), length (u16), then 16 random bytes; all base64.
    """
    now = time.time() if now is None else now
    secret = os.urandom(16) if secret is None else secret
    header = struct.pack('<HIIH', 1, int(now), 0, len(secret))
    return base64.b64encode(header + secret).decode()


def keyring_text(entries: Mapping[str, tuple[str, Mapping[str, str]]]
                 ) -> str:
    """A keyring file: ``entity -> (key, caps)``."""
    lines = []
    for entity, (key, caps) in entries.items():
        lines.append('[%s]' % entity)
        lines.append('\tkey = %s' % key)
        for service, cap in caps.items():
            lines.append('\tcaps %s = "%s"' % (service, cap))
    return '\n'.join(lines) + '\n'


def generate_keys() -> dict[str, str]:
    """A new secret for every entity of a cluster."""
    return {entity: new_key() for entity in _CAPS}


def caps(entity: str) -> dict[str, str]:
    """The capabilities of ``entity`` (``client.glance``...)."""
    return dict(_CAPS[entity])


def ports_overlap(base: int, bases: Sequence[int]) -> bool:
    """True when a block at ``base`` overlaps a block at one of ``bases``."""
    return any(abs(base - other) < PORTS_PER_CLUSTER for other in bases)


def health_ok(health: Mapping[str, object],
              tolerated: frozenset[str] = TOLERATED_CHECKS) -> bool:
    """True when ``ceph health`` reports OK, or only ``tolerated`` checks."""
    if health.get('status') == 'HEALTH_OK':
        return True
    checks = health.get('checks') or {}
    return bool(checks) and set(checks) <= tolerated  # type: ignore


def pgs_active(pg_stat: Mapping[str, object], expected: int) -> bool:
    """True when at least ``expected`` PGs exist and all are active+clean.

    :param pg_stat: the JSON of ``ceph pg stat``.
    """
    summary = pg_stat.get('pg_summary', pg_stat)
    states = summary.get('num_pg_by_state') or []  # type: ignore
    total = int(summary.get('num_pgs', 0))  # type: ignore
    clean = sum(int(s['num']) for s in states
                if set(s['name'].split('+')) == {'active', 'clean'})
    return total >= expected and clean == total


# -- ports ------------------------------------------------------------------

def _block_free(base: int) -> bool:
    with contextlib.ExitStack() as stack:
        for port in range(base, base + PORTS_PER_CLUSTER):
            sock = stack.enter_context(
                socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((common.HOST, port))
            except OSError:
                return False
    return True


def free_port_blocks(count: int, rng: random.Random | None = None,
                     attempts: int = 200) -> list[int]:
    """First ports of ``count`` disjoint blocks of free ports.

    :raises StackError: when no such blocks are found.
    """
    rng = rng or random.SystemRandom()
    low, high = PORT_RANGE
    chosen: list[int] = []
    for _ in range(attempts):
        if len(chosen) == count:
            break
        base = rng.randrange(low, high - PORTS_PER_CLUSTER)
        if not ports_overlap(base, chosen) and _block_free(base):
            chosen.append(base)
    if len(chosen) < count:
        raise process.StackError('no %d blocks of %d free ports in %d-%d'
                                 % (count, PORTS_PER_CLUSTER, low, high))
    return chosen


# -- clusters of a run ------------------------------------------------------

def clusters(state: State) -> list[Cluster]:
    """The clusters recorded in the run's state, in :data:`SITES` order."""
    recorded = state.ceph_clusters
    return [Cluster(Path(state.directory), site, recorded[site].fsid,
                    recorded[site].base_port)
            for site in SITES if site in recorded]


def cluster(state: State, site: str) -> Cluster:
    """The cluster of ``site``.

    :raises StackError: when the run has no cluster there.
    """
    for found in clusters(state):
        if found.site == site:
            return found
    raise process.StackError('the stack in %s has no Ceph cluster %r'
                             % (state.directory, site))


def _state(state_or_dir: State | Path | str) -> State:
    if isinstance(state_or_dir, State):
        return state_or_dir
    loaded = State.load(Path(state_or_dir).resolve())
    if loaded is None:
        raise process.StackError('no stack in %s' % state_or_dir)
    return loaded


def plan(state: State, sites: Sequence[str] = SITES) -> list[Cluster]:
    """Choose fsids and ports for ``sites`` and record them in the state."""
    bases = free_port_blocks(len(sites))
    state.ceph_clusters = {site: ClusterPlan(str(uuid.uuid4()), base)
                           for site, base in zip(sites, bases)}
    state.save()
    return clusters(state)


def configure(cluster: Cluster, block_size: int = BLOCK_SIZE) -> None:
    """Write ceph.conf and every keyring of ``cluster``."""
    for path in (cluster.folder, cluster.log_dir, cluster.run_dir,
                 cluster.crash_dir, cluster.data('mgr'), cluster.data('osd')):
        path.mkdir(parents=True, exist_ok=True)
    common.write_ini(cluster.conf, conf_sections(cluster, block_size))
    keys = generate_keys()
    entries = {entity: (keys[entity], _CAPS[entity]) for entity in _CAPS}
    _write_secret(cluster.mon_keyring, keyring_text(entries))
    for user in (ADMIN_USER, GLANCE_USER, CINDER_USER):
        entity = 'client.%s' % user
        _write_secret(cluster.keyring(user),
                      keyring_text({entity: entries[entity]}))
    for daemon, entity in (('mgr', 'mgr.%s' % MGR_ID),
                           ('osd', 'osd.%d' % OSD_ID)):
        _write_secret(cluster.data(daemon) / 'keyring',
                      keyring_text({entity: (keys[entity], {})}))


def _write_secret(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


def _env(cluster: Cluster) -> dict[str, str]:
    return {'CEPH_CONF': str(cluster.conf)}


def _log(cluster: Cluster) -> Path:
    name = '%s-%s.log' % (NAME, cluster.site)
    return Path(cluster.directory) / 'logs' / name


def _tool(cluster: Cluster, argv: list[str], timeout: float = 120) -> None:
    process.run(argv, _log(cluster), cluster.service('setup'),
                env=_env(cluster), timeout=timeout)


def mkfs(cluster: Cluster) -> None:
    """Create the mon store (with every key) and the OSD's bluestore."""
    _tool(cluster, ['monmaptool', '--create', '--clobber', '--fsid',
                    cluster.fsid, '--addv', MON_ID, cluster.mon_host,
                    str(cluster.monmap)])
    _tool(cluster, ['ceph-mon', '-c', str(cluster.conf), '--mkfs',
                    '-i', MON_ID, '--monmap', str(cluster.monmap),
                    '--keyring', str(cluster.mon_keyring)])
    _tool(cluster, ['ceph-osd', '-c', str(cluster.conf), '--mkfs',
                    '--no-mon-config', '-i', str(OSD_ID),
                    '--osd-uuid', osd_uuid(cluster)])


def osd_uuid(cluster: Cluster) -> str:
    """The OSD's uuid, derived from the fsid (stable across restarts)."""
    return str(uuid.uuid5(uuid.UUID(cluster.fsid), 'osd.%d' % OSD_ID))


def _daemon_argv(cluster: Cluster, daemon: str) -> list[str]:
    ident = {'mon': MON_ID, 'mgr': MGR_ID, 'osd': str(OSD_ID)}[daemon]
    return ['ceph-%s' % daemon, '-f', '-c', str(cluster.conf), '-i', ident]


def start_daemon(state: State, cluster: Cluster,
                 daemon: str) -> process.Process:
    """Start one daemon in the foreground as a stack service."""
    name = cluster.service(daemon)
    proc = process.start(state.directory, name,
                         _daemon_argv(cluster, daemon), env=_env(cluster))
    state.record_service(name)
    return proc


@contextlib.contextmanager
def admin(cluster: Cluster, timeout: float = 30) -> Iterator[object]:
    """A connected ``rados.Rados`` handle of ``client.admin``."""
    import rados
    handle = rados.Rados(conffile=str(cluster.conf),
                         name='client.%s' % ADMIN_USER,
                         conf={'keyring': str(cluster.keyring(ADMIN_USER))})
    try:
        handle.connect(timeout=int(timeout))
        yield handle
    finally:
        handle.shutdown()


@contextlib.contextmanager
def admin_from_env(env: stack_env.StackEnv, site: str,
                   timeout: float = 20) -> Iterator[object]:
    """:func:`admin` of ``site``'s cluster, named by ``stack.env``
    (``CEPH_CONF_<site>``, ``CEPH_KEYRING_ADMIN_<site>``).

    :raises EnvError: when the stack has no cluster at ``site``.
    """
    import rados
    if env.ceph is None:
        raise stack_env.EnvError('the stack runs without Ceph')
    found = env.ceph.site(site)
    handle = rados.Rados(conffile=str(found.conf),
                         name='client.%s' % ADMIN_USER,
                         conf={'keyring': str(found.admin_keyring)})
    handle.connect(timeout=int(timeout))
    try:
        yield handle
    finally:
        handle.shutdown()


@contextlib.contextmanager
def admin_ioctx(env: stack_env.StackEnv, site: str,
                pool: str) -> Iterator[object]:
    """An I/O context on ``pool`` of ``site``'s cluster, as client.admin."""
    with admin_from_env(env, site) as handle:
        with handle.open_ioctx(pool) as ctx:
            yield ctx


def mon_command(handle, prefix: str, timeout: float = 30,
                **args: object) -> object:
    """Run a mon command; return its JSON answer (or None when empty).

    :raises CephError: when the command fails.
    """
    command = dict(args, prefix=prefix, format='json')
    ret, out, err = handle.mon_command(json.dumps(command), b'',
                                       timeout=int(timeout))
    if ret != 0:
        raise CephError('ceph %s: %s (%d)' % (prefix, err, ret))
    return json.loads(out) if out.strip() else None


def _wait_mon(cluster: Cluster, mon: process.Process,
              timeout: float) -> None:
    """Wait until the mon forms its one-member quorum."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not mon.running():
            raise process.ServiceError(mon.name, _daemon_log(cluster, 'mon'),
                                       'the process exited')
        with contextlib.suppress(Exception):
            with admin(cluster, timeout=5) as handle:
                mon_command(handle, 'quorum_status', timeout=5)
                return
        time.sleep(0.2)
    raise process.ServiceError(mon.name, _daemon_log(cluster, 'mon'),
                               'no quorum within %.0f s' % timeout)


def _daemon_log(cluster: Cluster, daemon: str) -> Path:
    ident = {'mon': MON_ID, 'mgr': MGR_ID, 'osd': str(OSD_ID)}[daemon]
    return cluster.log_dir / ('ceph-%s.%s.log' % (daemon, ident))


def _create_pools(handle) -> None:
    existing = {p['poolname'] for p in
                mon_command(handle, 'osd lspools') or []}  # type: ignore
    for pool in POOLS:
        if pool not in existing:
            mon_command(handle, 'osd pool create', pool=pool, pg_num=PG_NUM,
                        pgp_num=PG_NUM)
        mon_command(handle, 'osd pool application enable', pool=pool,
                    app='rbd', yes_i_really_mean_it=True)


def _wait_ready(cluster: Cluster, handle, procs: Sequence[process.Process],
                timeout: float) -> None:
    """Wait until the pools' PGs are active+clean and health is OK."""
    deadline = time.monotonic() + timeout
    health: object = None
    while time.monotonic() < deadline:
        for proc in procs:
            if not proc.running():
                daemon = proc.name.rsplit('-', 1)[-1]
                raise process.ServiceError(proc.name,
                                           _daemon_log(cluster, daemon),
                                           'the process exited')
        with contextlib.suppress(CephError):
            stat = mon_command(handle, 'pg stat', timeout=5)
            health = mon_command(handle, 'health', timeout=5)
            if (pgs_active(stat, PG_NUM * len(POOLS))  # type: ignore
                    and health_ok(health)):  # type: ignore
                return
        time.sleep(0.25)
    raise process.ServiceError(cluster.service('mon'),
                               cluster.log_dir / 'ceph.log',
                               'cluster %s not healthy within %.0f s: %s'
                               % (cluster.site, timeout, health))


def bring_up(state: State, cluster: Cluster, timeout: float = 120) -> None:
    """Create and start ``cluster``; return when its pools serve I/O."""
    began = time.monotonic()
    mkfs(cluster)
    mon = start_daemon(state, cluster, 'mon')
    mgr = start_daemon(state, cluster, 'mgr')
    _wait_mon(cluster, mon, timeout)
    with admin(cluster) as handle:
        mon_command(handle, 'osd new', uuid=osd_uuid(cluster), id=OSD_ID)
        osd = start_daemon(state, cluster, 'osd')
        _create_pools(handle)
        # NOTE: clones of format 2 (Mimic and later clients): a snapshot
        # with clones can be removed (it moves to the snapshot trash), which
        # the zero-copy upload-to-image relies on.
        mon_command(handle, 'osd set-require-min-compat-client',
                    version=MIN_COMPAT_CLIENT)
        _wait_ready(cluster, handle, (mon, mgr, osd), timeout)
        _schedule_trash_purge(handle, IMAGES_POOL,
                              began + timeout - time.monotonic())
    LOG.info('ceph cluster %s (fsid %s) is up in %.1f s', cluster.site,
             cluster.fsid, time.monotonic() - began)


#: How often the mgr purges the RBD trash of Glance's pool.
TRASH_PURGE_INTERVAL = '1m'


def _schedule_trash_purge(handle, pool: str, timeout: float) -> None:
    """``rbd trash purge schedule add --pool POOL``, as the operator guide
    says for Glance's pool: glance_store moves an image that still has
    clones (volumes made from it) to the RBD trash when Glance deletes it,
    and nothing else removes it once the clones are gone.

    Retried until the mgr's ``rbd_support`` module answers.
    """
    command = json.dumps({'prefix': 'rbd trash purge schedule add',
                          'level_spec': pool + '/',  # NOTE: as rbd's --pool
                          'interval': TRASH_PURGE_INTERVAL,
                          'format': 'json'})
    deadline = time.monotonic() + max(timeout, 10.0)
    while True:
        ret, _out, err = handle.mgr_command(command, b'', timeout=10)
        if ret == 0:
            return
        if time.monotonic() > deadline:
            raise CephError('rbd trash purge schedule add %s: %s (%d)'
                            % (pool, err, ret))
        time.sleep(0.5)


class Startup:
    """Clusters being brought up in background threads.

    :meth:`wait` re-raises the first failure.
    """

    def __init__(self, state: State, to_start: Sequence[Cluster]) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, len(to_start)),
            thread_name_prefix='ceph-up')
        self._futures = [self._pool.submit(bring_up, state, c)
                         for c in to_start]

    def wait(self) -> None:
        """Wait for every cluster; raise the first error."""
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(wait=True)

    def settle(self) -> None:
        """Wait for every cluster, logging (not raising) failures."""
        try:
            self.wait()
        except Exception:
            LOG.exception('a Ceph cluster did not come up')


def start(state: State, sites: Sequence[str] = SITES,
          block_size: int = BLOCK_SIZE) -> Startup:
    """Plan, configure and start the clusters of ``sites`` side by side.

    :returns: a :class:`Startup`; call its ``wait()`` before a service
        uses the clusters.
    """
    planned = plan(state, sites)
    for found in planned:
        configure(found, block_size)
    return Startup(state, planned)


# -- faults -----------------------------------------------------------------

def _pid_file(directory: Path, site: str, daemon: str) -> Path:
    return process.run_dir(directory) / ('%s.pid' % service_name(site,
                                                                 daemon))


def stop_mon(state_or_dir: State | Path | str, site: str) -> None:
    """Stop the mon of ``site`` (its clients then time out)."""
    state = _state(state_or_dir)
    cluster(state, site)
    process.stop_pid_file(_pid_file(state.directory, site, 'mon'))


def start_mon(state_or_dir: State | Path | str, site: str,
              timeout: float = 60) -> None:
    """Start the mon of ``site`` again and wait for its quorum."""
    state = _state(state_or_dir)
    found = cluster(state, site)
    record = process.read_pid_file(_pid_file(state.directory, site, 'mon'))
    if record and process.alive(*record):
        return
    mon = start_daemon(state, found, 'mon')
    _wait_mon(found, mon, timeout)


def _signal_daemon(directory: Path, site: str, daemon: str,
                   sig: int) -> None:
    record = process.read_pid_file(_pid_file(directory, site, daemon))
    if record is None or not process.alive(*record):
        raise process.StackError('%s does not run in %s'
                                 % (service_name(site, daemon), directory))
    for pid in process.session_members(*record):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def pause_osd(state_or_dir: State | Path | str, site: str) -> None:
    """Freeze the OSD of ``site`` (SIGSTOP): I/O stalls, nothing fails."""
    state = _state(state_or_dir)
    cluster(state, site)
    _signal_daemon(Path(state.directory), site, 'osd', signal.SIGSTOP)


def resume_osd(state_or_dir: State | Path | str, site: str,
               timeout: float = 60) -> None:
    """Let a paused OSD run again (SIGCONT) and wait until it serves I/O.

    A placement group whose read lease ran out during the pause stays
    ``laggy`` (its ops block) on a one-OSD cluster, where no peer renews
    the lease; so the OSD is marked down, rejoins at once and re-peers.
    """
    state = _state(state_or_dir)
    found = cluster(state, site)
    _signal_daemon(Path(state.directory), site, 'osd', signal.SIGCONT)
    with admin(found) as handle:
        before = _osd_up_from(handle)
        mon_command(handle, 'osd down', ids=[str(OSD_ID)])
        _wait_osd_rejoined(found, handle, before, timeout)


def _osd_up_from(handle) -> int:
    """The epoch the OSD last came up in (0 when it is down)."""
    dump = mon_command(handle, 'osd dump') or {}
    for osd in dump.get('osds', []):  # type: ignore
        if osd['osd'] == OSD_ID:
            return int(osd['up_from']) if osd['up'] else 0
    return 0


def _wait_osd_rejoined(found: Cluster, handle, before: int,
                       timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(CephError):
            if _osd_up_from(handle) > before and pgs_active(
                    mon_command(handle, 'pg stat', timeout=5),  # type: ignore
                    PG_NUM * len(POOLS)):
                return
        time.sleep(0.25)
    raise process.StackError('the OSD of site %s did not rejoin within '
                             '%.0f s' % (found.site, timeout))


def resume_all(directory: Path) -> None:
    """SIGCONT every Ceph daemon of the run, so that SIGTERM stops it."""
    for pid_file in process.run_dir(directory).glob('%s-*.pid' % NAME):
        record = process.read_pid_file(pid_file)
        if record is None:
            continue
        for pid in process.session_members(*record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)


def remove(directory: Path) -> None:
    """Delete the clusters' data (the sparse files too); keep their logs."""
    root = Path(directory) / NAME
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if not folder.is_dir():
            folder.unlink()
            continue
        for entry in folder.iterdir():
            if entry.name == 'log':
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


# -- what the services and tests see ---------------------------------------

def rbd_client_conf(cluster: Cluster) -> Path:
    """The conf Glance and Cinder load (the cluster's own ceph.conf)."""
    return cluster.conf


def env(state: State) -> stack_env.Ceph:
    """The stack.env part of the clusters."""
    return stack_env.Ceph(
        sites={c.site: stack_env.CephSite(
            conf=c.conf, fsid=c.fsid, mon_host=c.mon_host,
            admin_keyring=c.keyring(ADMIN_USER),
            glance_keyring=c.keyring(GLANCE_USER),
            cinder_keyring=c.keyring(CINDER_USER),
            log_dir=c.log_dir) for c in clusters(state)},
        images_pool=IMAGES_POOL, volumes_pool=VOLUMES_POOL)


def variables(state: State) -> dict[str, str]:
    """The stack.env variables of the clusters."""
    return env(state).variables()
