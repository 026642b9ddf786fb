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

"""Find (and optionally delete) store data that no image location points to.

A glance-api worker killed mid-upload leaves the bytes it had written in
its store(s) without a location in Glance's database. This module lists
what the ``file`` and ``rbd`` stores of a glance-api host hold, compares it
with every location of every image in Glance's database (read through
Glance's own db api, with glance-api's own configuration), and reports the
rest. Deleting is opt-in and bounded by a minimum age.

The decisions (which object a location refers to, which objects are
orphans, which are old enough to delete, the exit code) are pure functions;
the functions that touch the database, the disks and Ceph are thin.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import datetime
import logging
import os
import re
import stat
import time
import types
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING
import urllib.parse

if TYPE_CHECKING:
    from oslo_config import cfg


LOG = logging.getLogger(__name__)

#: Glance's own stores (staging area and task workspace): audited only
#: when asked for by name or with ``include_reserved``.
RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')
#: Store types whose data this module can list and delete.
AUDITED_TYPES = ('file', 'rbd')
#: The snapshot glance_store's rbd driver creates and protects.
RBD_SNAPSHOT = 'snap'
#: Default of ``--min-age``: data written during the last hour may belong
#: to an upload still in progress.
DEFAULT_MIN_AGE = 3600
#: Where glance-api reads its configuration when ``OS_GLANCE_CONFIG_DIR``
#: is not set, and the files it reads there (the first one when present).
DEFAULT_CONFIG_DIR = '/etc/glance'
GLANCE_API_FILES = ('glance-image-import.conf', 'glance-api.conf')
#: Image location statuses that do not hold the data any more.
_GONE_LOCATION = frozenset({'deleted'})
#: Image statuses whose locations still own their data (``pending_delete``:
#: delayed delete; the scrubber removes the data, or an operator restores
#: the image with ``glance-scrubber --restore``).
_KEEPS_DATA = frozenset({'pending_delete'})
_IMAGE_ID = re.compile(r'^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?'
                       r'[0-9a-f]{4}-?[0-9a-f]{12}$', re.IGNORECASE)
_PAGE = 500

EXIT_CLEAN = 0
EXIT_STRAY = 1
EXIT_ERROR = 2


class AuditError(Exception):
    """The audit could not run (configuration, database, store access)."""


#: An image row as Glance's db api returns it (``id``, ``status``,
#: ``deleted``, ``locations``: dicts with ``url`` and ``status``).
ImageRow = Mapping[str, Any]
#: What a location refers to (see :func:`location_key`).
LocationKey = tuple[str, ...]


# -- the data model ------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One object a store holds.

    :param store: the store id.
    :param url: the location URL Glance would record for it.
    :param name: the object's name in the store (an image id for Glance's
        own data).
    :param size: bytes.
    :param mtime: last modification, seconds since the epoch.
    """

    store: str
    url: str
    name: str
    size: int
    mtime: float


@dataclasses.dataclass(frozen=True)
class FileStoreConfig:
    """Where a ``file`` store keeps its data."""

    store: str
    directories: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RbdStoreConfig:
    """How glance_store reaches an ``rbd`` store."""

    store: str
    conf_file: str
    user: str | None
    pool: str
    connect_timeout: int


@dataclasses.dataclass
class Finding:
    """An orphan and what happened to it."""

    obj: StoredObject
    age: float
    image_status: str | None
    action: str = 'stray'
    reason: str = ''

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {'store': self.obj.store, 'url': self.obj.url,
                'name': self.obj.name, 'size': self.obj.size,
                'age': round(self.age, 1), 'image_status': self.image_status,
                'action': self.action, 'reason': self.reason}


@dataclasses.dataclass
class Report:
    """The outcome of one audit run."""

    stores: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    objects: int = 0
    ignored: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {'stores': self.stores, 'skipped': self.skipped,
                'objects': self.objects, 'ignored': self.ignored,
                'orphans': [f.as_dict() for f in self.findings],
                'errors': self.errors, 'exit_code': exit_code(self)}


# -- pure decisions ------------------------------------------------------

def looks_like_image_id(name: str) -> bool:
    """True for names Glance gives its data (image ids, UUIDs)."""
    return bool(_IMAGE_ID.match(name))


def file_url(path: str) -> str:
    """The location URL glance_store's file driver records for ``path``."""
    return 'file://' + os.path.normpath(path)


def rbd_url(fsid: str, pool: str, image: str,
            snapshot: str = RBD_SNAPSHOT) -> str:
    """The location URL glance_store's rbd driver records for an image."""
    parts = (fsid, pool, image, snapshot)
    return 'rbd://' + '/'.join(urllib.parse.quote(p, '') for p in parts)


def location_key(url: str) -> LocationKey | None:
    """What a location URL refers to, as a comparable key.

    ``file`` locations: ``('file', normalized path)``; ``rbd`` locations:
    ``('rbd', fsid, pool, image)`` (the snapshot is part of the image);
    legacy ``rbd://<image>`` locations: ``('rbd', '', '', image)``, which
    :func:`is_referenced` matches in every pool. Other schemes: the URL
    itself. None for an empty URL.
    """
    if not url:
        return None
    if url.startswith('file://'):
        return ('file', os.path.normpath(url[len('file://'):]))
    if url.startswith('rbd://'):
        pieces = url[len('rbd://'):].split('/')
        if len(pieces) == 4:
            fsid, pool, image, _snap = map(urllib.parse.unquote, pieces)
            return ('rbd', fsid, pool, image)
        return ('rbd', '', '', urllib.parse.unquote(url[len('rbd://'):]))
    return ('url', url)


def referenced_keys(images: Iterable[ImageRow]) -> frozenset[LocationKey]:
    """Keys of every location that still owns its data.

    :param images: image rows as Glance's db api returns them (``status``,
        ``deleted``, ``locations`` with ``url`` and ``status``), deleted
        ones and deleted locations included.

    Locations of deleted images and deleted locations do not count;
    locations of images pending a delayed delete do (the scrubber, or a
    restore, owns that data).
    """
    keys: set[LocationKey] = set()
    for image in images:
        status = image.get('status')
        if image.get('deleted') and status not in _KEEPS_DATA:
            continue
        if status == 'deleted':
            continue
        for loc in image.get('locations') or ():
            if loc.get('status') in _GONE_LOCATION:
                continue
            key = location_key(loc.get('url') or '')
            if key is not None:
                keys.add(key)
    return frozenset(keys)


def image_statuses(images: Iterable[ImageRow]) -> dict[str, str]:
    """Image id -> status, for describing orphans."""
    return {image['id']: image.get('status') or '' for image in images}


def is_referenced(obj: StoredObject, keys: frozenset[LocationKey]) -> bool:
    """True when a location refers to ``obj``.

    An rbd image is also taken as referenced by a legacy one-part location
    naming it, whatever its pool: when in doubt, the data is kept.
    """
    key = location_key(obj.url)
    if key in keys:
        return True
    if key is not None and key[0] == 'rbd':
        return ('rbd', '', '', key[3]) in keys
    return False


def find_orphans(objects: Iterable[StoredObject],
                 keys: frozenset[LocationKey]) -> list[StoredObject]:
    """The objects no location refers to, in listing order."""
    return [obj for obj in objects if not is_referenced(obj, keys)]


def age_of(obj: StoredObject, now: float) -> float:
    """Seconds since ``obj`` was last written (never negative)."""
    return max(0.0, now - obj.mtime)


def old_enough(obj: StoredObject, now: float, min_age: float) -> bool:
    """True when ``obj`` was last written at least ``min_age`` s ago."""
    return age_of(obj, now) >= min_age


def to_delete(orphans: Iterable[StoredObject], keys: frozenset[LocationKey],
              now: float, min_age: float) -> list[StoredObject]:
    """The orphans that may be deleted now.

    :param keys: the references read again right before deleting, so that
        an upload that registered its location since the listing is safe.
    """
    return [obj for obj in orphans
            if not is_referenced(obj, keys) and old_enough(obj, now, min_age)]


def select_stores(backends: Mapping[str, str], wanted: Sequence[str] = (),
                  include_reserved: bool = False,
                  reserved: Sequence[str] = RESERVED_STORES
                  ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The stores to audit, and those skipped with the reason.

    :param backends: store id -> store type (``enabled_backends`` plus
        Glance's reserved stores).
    :param wanted: store ids asked for (all when empty); a reserved store
        named here is audited.
    :param include_reserved: audit the reserved stores too.
    :returns: ``([(store, type), ...], {store: reason})``.
    :raises AuditError: when ``wanted`` names a store that is not enabled.
    """
    unknown = [s for s in wanted if s not in backends]
    if unknown:
        raise AuditError('not an enabled store: %s' % ', '.join(unknown))
    chosen: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for store, kind in backends.items():
        if wanted and store not in wanted:
            continue
        if store in reserved and not (include_reserved or store in wanted):
            skipped[store] = 'reserved store (Glance\'s own)'
        elif kind not in AUDITED_TYPES:
            skipped[store] = 'store type %s is not audited' % kind
        else:
            chosen.append((store, kind))
    return chosen, skipped


def datadirs(datadir: str | None, multi: Sequence[str] | None) -> list[str]:
    """A file store's folders: ``filesystem_store_datadir`` or every
    ``path[:priority]`` of ``filesystem_store_datadirs``.
    """
    if multi:
        found: list[str] = []
        for entry in multi:
            path = entry.strip()
            head, sep, tail = path.rpartition(':')
            if sep and tail.strip().isdigit():
                path = head.strip()
            if path and path not in found:
                found.append(path)
        return found
    return [datadir] if datadir else []


def default_config_files(environ: Mapping[str, str],
                         exists: Callable[[str], bool] = os.path.exists
                         ) -> list[str]:
    """The files glance-api itself reads: ``glance-image-import.conf``
    (when present) and ``glance-api.conf`` of ``OS_GLANCE_CONFIG_DIR``.
    """
    folder = (environ.get('OS_GLANCE_CONFIG_DIR') or '').strip()
    folder = folder or DEFAULT_CONFIG_DIR
    files = [os.path.join(folder, name) for name in GLANCE_API_FILES]
    return [f for f in files[:-1] if exists(f)] + files[-1:]


def exit_code(report: Report) -> int:
    """0: nothing stray left; 1: stray data left; 2: something failed."""
    if report.errors or any(f.action == 'failed' for f in report.findings):
        return EXIT_ERROR
    if any(f.action != 'deleted' for f in report.findings):
        return EXIT_STRAY
    return EXIT_CLEAN


def human_size(size: int) -> str:
    """``1.5 MiB``-style size."""
    value = float(size)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if value < 1024 or unit == 'TiB':
            return ('%d %s' % (value, unit) if unit == 'B'
                    else '%.1f %s' % (value, unit))
        value /= 1024
    return '%d B' % size  # pragma: no cover


def human_age(seconds: float) -> str:
    """``3h05m``-style age."""
    seconds = int(seconds)
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    if hours < 48:
        return '%dh%02dm' % (hours, rest // 60)
    return '%dd%02dh' % (hours // 24, hours % 24)


def format_finding(finding: Finding) -> str:
    """One report line: store, url, size, age, image, action."""
    image = finding.image_status or 'no image'
    if finding.image_status:
        image = 'image %s' % finding.image_status
    line = '%-12s %s  %s  age %s  (%s)  %s' % (
        finding.obj.store, finding.obj.url, human_size(finding.obj.size),
        human_age(finding.age), image, finding.action)
    if finding.reason:
        line += ': %s' % finding.reason
    return line


def summary(report: Report) -> str:
    """The last line of the report."""
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.action] = counts.get(finding.action, 0) + 1
    size = sum(f.obj.size for f in report.findings)
    parts = ['%d object(s) in %d store(s) (%s)' % (
        report.objects, len(report.stores), ', '.join(report.stores) or '-'),
        '%d stray (%s)' % (len(report.findings), human_size(size))]
    parts += ['%d %s' % (n, action) for action, n in sorted(counts.items())
              if action != 'stray']
    if report.ignored:
        parts.append('%d not named like an image id, ignored'
                     % report.ignored)
    if report.errors:
        parts.append('%d error(s)' % len(report.errors))
    return 'audit: ' + '; '.join(parts)


def describe(orphans: Iterable[StoredObject], statuses: Mapping[str, str],
             now: float) -> list[Finding]:
    """Findings for the orphans, with their age and their image's status."""
    return [Finding(obj, age_of(obj, now), statuses.get(obj.name))
            for obj in orphans]


# -- configuration (glance-api's own) -----------------------------------

def load_config(config_files: Sequence[str],
                config_dirs: Sequence[str] = ()) -> cfg.ConfigOpts:
    """Load glance-api's configuration into oslo.config's global CONF.

    Registers Glance's options and every enabled store's glance_store
    options (reserved stores included), as glance-api does at start-up.

    :returns: ``cfg.CONF``.
    :raises AuditError: on a missing file or a configuration Glance
        itself would refuse.
    """
    from glance.common import config as glance_config
    import glance.context  # noqa: F401
    import glance.db.sqlalchemy.api  # noqa: F401  (registers its options)
    import glance_store
    from oslo_config import cfg
    conf = cfg.CONF
    args = []
    for path in config_files:
        if not os.path.exists(path):
            raise AuditError('no such config file: %s' % path)
        args += ['--config-file', path]
    for path in config_dirs:
        args += ['--config-dir', path]
    LOG.debug('loading glance config %s', args)
    try:
        conf(args, project='glance', prog='glance-api',
             default_config_files=[], default_config_dirs=[])
        glance_config.set_config_defaults()
    except cfg.Error as exc:
        raise AuditError('bad configuration: %s' % exc)
    if not conf.enabled_backends:
        raise AuditError('glance-api runs without enabled_backends; only '
                         'multi-store configurations are audited')
    glance_store.register_store_opts(
        conf, reserved_stores={s: 'file' for s in RESERVED_STORES})
    return conf


def backends_of(conf: cfg.ConfigOpts) -> dict[str, str]:
    """Store id -> type: ``enabled_backends`` and the reserved stores."""
    backends = dict(conf.enabled_backends or {})
    for store in RESERVED_STORES:
        backends.setdefault(store, 'file')
    return backends


def file_store_config(conf: cfg.ConfigOpts, store: str) -> FileStoreConfig:
    """A file store's folders, from glance_store's options of the store."""
    group = conf[store]
    multi = getattr(group, 'filesystem_store_datadirs', None)
    return FileStoreConfig(store, tuple(datadirs(
        group.filesystem_store_datadir, multi)))


def rbd_store_config(conf: cfg.ConfigOpts, store: str) -> RbdStoreConfig:
    """An rbd store's Ceph access, from glance_store's options."""
    group = conf[store]
    return RbdStoreConfig(store, group.rbd_store_ceph_conf or '',
                          group.rbd_store_user or None, group.rbd_store_pool,
                          group.rados_connect_timeout)


# -- Glance's database ---------------------------------------------------

def image_rows(page: int = _PAGE) -> Iterator[ImageRow]:
    """Every image row with every location, deleted ones included.

    Read with an admin context through ``glance.db.get_api()``, page by
    page.
    """
    import glance.context
    import glance.db
    db_api = glance.db.get_api()
    context = glance.context.get_admin_context(show_deleted=True)
    epoch = datetime.datetime(1970, 1, 1)
    marker = None
    while True:
        rows = db_api.image_get_all(
            context, filters={'visibility': 'all', 'changes-since': epoch},
            marker=marker, limit=page, sort_key=['created_at', 'id'],
            sort_dir=['asc', 'asc'])
        LOG.debug('read %s image rows after %s', len(rows), marker)
        yield from rows
        if len(rows) < page:
            return
        marker = rows[-1]['id']


def read_references() -> tuple[frozenset[LocationKey], dict[str, str]]:
    """The referenced location keys and every image's status."""
    rows = list(image_rows())
    return referenced_keys(rows), image_statuses(rows)


# -- file stores ---------------------------------------------------------

def list_file_store(config: FileStoreConfig) -> Iterator[StoredObject]:
    """The regular files directly in each folder of a file store."""
    for directory in config.directories:
        LOG.debug('listing file store %s folder %s', config.store, directory)
        with os.scandir(directory) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode):
                    continue
                path = os.path.join(directory, entry.name)
                yield StoredObject(config.store, file_url(path), entry.name,
                                   info.st_size, info.st_mtime)


def delete_file(obj: StoredObject) -> None:
    """Unlink a file store object unless it was written since the listing.

    :raises AuditError: when it changed since the listing.
    """
    key = location_key(obj.url)
    if key is None or key[0] != 'file':
        raise AuditError('not a file store location')
    path = key[1]
    info = os.stat(path, follow_symlinks=False)
    if info.st_mtime != obj.mtime or info.st_size != obj.size:
        raise AuditError('written since the listing')
    LOG.debug('unlinking %s', path)
    os.unlink(path)


# -- rbd stores ----------------------------------------------------------

class _IoCtx(Protocol):
    """What this module uses of a ``rados.Ioctx``."""

    def close(self) -> None:
        """Close the pool's I/O context."""


class _Cluster(Protocol):
    """What this module uses of a ``rados.Rados`` connection."""

    def conf_set(self, option: str, value: str) -> None:
        """Set a Ceph client option before connecting."""

    def connect(self) -> None:
        """Connect to the cluster."""

    def open_ioctx(self, pool: str) -> _IoCtx:
        """Open a pool."""

    def get_fsid(self) -> str:
        """The cluster's fsid."""

    def shutdown(self) -> None:
        """Disconnect."""


def _rbd_modules() -> tuple[types.ModuleType, types.ModuleType]:
    try:
        import rados
        import rbd
    except ImportError as exc:
        raise AuditError('the rados and rbd Python bindings are needed for '
                         'rbd stores: %s' % exc)
    return rados, rbd


def _epoch(value: datetime.datetime | float) -> float:
    """librbd timestamps (naive UTC datetimes) as epoch seconds."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return float(value)


class _RbdPool:
    """A connection to an rbd store's pool, as glance_store makes it."""

    def __init__(self, config: RbdStoreConfig) -> None:
        self.config = config
        self.rados, self.rbd = _rbd_modules()
        self.cluster: _Cluster | None = None
        self.ioctx: _IoCtx | None = None

    def __enter__(self) -> '_RbdPool':
        cfg = self.config
        LOG.debug('connecting to %s as %s for store %s', cfg.conf_file,
                  cfg.user, cfg.store)
        cluster: _Cluster = self.rados.Rados(conffile=cfg.conf_file,
                                             rados_id=cfg.user)
        try:
            if cfg.connect_timeout >= 0:
                for opt in ('rados_osd_op_timeout', 'rados_mon_op_timeout',
                            'client_mount_timeout'):
                    cluster.conf_set(opt, str(cfg.connect_timeout))
            cluster.connect()
            self.ioctx = cluster.open_ioctx(cfg.pool)
        except Exception:
            cluster.shutdown()
            raise
        self.cluster = cluster
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.ioctx is not None:
            self.ioctx.close()
        if self.cluster is not None:
            self.cluster.shutdown()

    def fsid(self) -> str:
        """The cluster's fsid."""
        if self.cluster is None:
            raise AuditError('not connected to the Ceph cluster of store %s'
                             % self.config.store)
        return self.cluster.get_fsid()

    def stat(self, name: str) -> tuple[int, float]:
        """Size and last modification (epoch seconds) of an RBD image."""
        with self.rbd.Image(self.ioctx, name, read_only=True) as image:
            size = image.size()
            try:
                stamp = image.modify_timestamp()
            except (AttributeError, self.rbd.Error):
                stamp = image.create_timestamp()
        return size, _epoch(stamp)

    def names(self) -> list[str]:
        """Every RBD image of the pool."""
        return list(self.rbd.RBD().list(self.ioctx))

    def remove(self, name: str, mtime: float) -> None:
        """Remove an image: unprotect and remove its snapshots, then it.

        :raises AuditError: when it changed since the listing or a
            snapshot has clones (a volume depends on it).
        """
        with self.rbd.Image(self.ioctx, name) as image:
            try:
                stamp = _epoch(image.modify_timestamp())
            except (AttributeError, self.rbd.Error):
                stamp = mtime
            if stamp != mtime:
                raise AuditError('written since the listing')
            snaps = [s['name'] for s in image.list_snaps()]
            for snap in snaps:
                image.set_snap(snap)
                children = list(image.list_children())
                image.set_snap(None)
                if children:
                    raise AuditError('snapshot %s has clones: %s' % (
                        snap, ', '.join('/'.join(c) for c in children)))
            for snap in snaps:
                if image.is_protected_snap(snap):
                    LOG.debug('unprotecting %s@%s', name, snap)
                    image.unprotect_snap(snap)
                LOG.debug('removing snapshot %s@%s', name, snap)
                image.remove_snap(snap)
        LOG.debug('removing RBD image %s/%s', self.config.pool, name)
        self.rbd.RBD().remove(self.ioctx, name)


#: ``size`` of an RBD object listed by name only (see :func:`stat_rbd`).
UNKNOWN_SIZE = -1


def list_rbd_store(config: RbdStoreConfig) -> list[StoredObject]:
    """Every RBD image of an rbd store's pool, by name and location URL.

    Size and age are read later, for the orphans only (:func:`stat_rbd`):
    opening every image of a large pool would be slow.
    """
    with _RbdPool(config) as pool:
        fsid = pool.fsid()
        return [StoredObject(config.store, rbd_url(fsid, config.pool, name),
                             name, UNKNOWN_SIZE, 0.0)
                for name in pool.names()]


def stat_rbd(config: RbdStoreConfig,
             objects: Iterable[StoredObject]) -> list[StoredObject]:
    """The objects with their size and last write; images gone are left
    out.
    """
    found = []
    with _RbdPool(config) as pool:
        for obj in objects:
            try:
                size, mtime = pool.stat(obj.name)
            except pool.rbd.ImageNotFound:
                LOG.debug('RBD image %s is gone', obj.name)
                continue
            found.append(dataclasses.replace(obj, size=size, mtime=mtime))
    return found


def delete_rbd(config: RbdStoreConfig, obj: StoredObject) -> None:
    """Remove an RBD image of an rbd store (snapshots first)."""
    with _RbdPool(config) as pool:
        pool.remove(obj.name, obj.mtime)


# -- the run -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Options:
    """What to audit and whether to delete.

    :param config_files: glance-api.conf (and more).
    :param config_dirs: oslo.config ``--config-dir`` folders.
    :param stores: store ids to audit (all when empty).
    :param include_reserved: audit Glance's reserved stores too.
    :param delete: delete orphans at least ``min_age`` seconds old.
    :param min_age: seconds since the last write.
    """

    config_files: tuple[str, ...]
    config_dirs: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    include_reserved: bool = False
    delete: bool = False
    min_age: float = DEFAULT_MIN_AGE


#: How to reach one audited store.
StoreConfig = FileStoreConfig | RbdStoreConfig


def _store_config(conf: cfg.ConfigOpts, store: str,
                  kind: str) -> StoreConfig:
    if kind == 'file':
        return file_store_config(conf, store)
    return rbd_store_config(conf, store)


def _list_store(config: StoreConfig) -> list[StoredObject]:
    if isinstance(config, FileStoreConfig):
        return list(list_file_store(config))
    return list_rbd_store(config)


def _delete(config: StoreConfig, obj: StoredObject) -> None:
    if isinstance(config, FileStoreConfig):
        delete_file(obj)
    else:
        delete_rbd(config, obj)


def _list_all(conf: cfg.ConfigOpts, chosen: list[tuple[str, str]],
              report: Report
              ) -> tuple[list[StoredObject], dict[str, StoreConfig]]:
    objects: list[StoredObject] = []
    configs: dict[str, StoreConfig] = {}
    for store, kind in chosen:
        try:
            configs[store] = _store_config(conf, store, kind)
            listed = _list_store(configs[store])
        except Exception as exc:  # one broken store must not hide others
            LOG.debug('listing store %s failed: %s', store, exc)
            report.errors.append('store %s: cannot list: %s' % (store, exc))
            continue
        report.stores.append(store)
        for obj in listed:
            if looks_like_image_id(obj.name):
                objects.append(obj)
            else:
                report.ignored += 1
    report.objects = len(objects)
    return objects, configs


def _complete(orphans: list[StoredObject], configs: dict[str, StoreConfig],
              report: Report) -> list[StoredObject]:
    """Orphans with size and age: rbd ones are read now, per store."""
    done = [o for o in orphans if o.size != UNKNOWN_SIZE]
    for store, config in configs.items():
        pending = [o for o in orphans
                   if o.store == store and o.size == UNKNOWN_SIZE]
        if not pending or not isinstance(config, RbdStoreConfig):
            continue  # file stores list their objects with size and age
        try:
            done += stat_rbd(config, pending)
        except Exception as exc:
            LOG.debug('reading RBD images of %s failed: %s', store, exc)
            report.errors.append('store %s: cannot read images: %s'
                                 % (store, exc))
    order = {o.url: i for i, o in enumerate(orphans)}
    return sorted(done, key=lambda o: order[o.url])


def _delete_old(report: Report, configs: dict[str, StoreConfig],
                options: Options) -> None:
    keys, _statuses = read_references()
    candidates = to_delete([f.obj for f in report.findings], keys,
                           time.time(), options.min_age)
    for finding in report.findings:
        if finding.obj not in candidates:
            finding.action = 'kept'
            finding.reason = ('referenced now' if is_referenced(
                finding.obj, keys) else 'younger than %ds' % options.min_age)
            continue
        try:
            _delete(configs[finding.obj.store], finding.obj)
        except AuditError as exc:
            finding.action, finding.reason = 'kept', str(exc)
        except Exception as exc:
            LOG.debug('deleting %s failed: %s', finding.obj.url, exc)
            finding.action, finding.reason = 'failed', str(exc)
        else:
            finding.action = 'deleted'


def run(options: Options) -> Report:
    """Audit the stores; delete old orphans when asked.

    :raises AuditError: when the configuration or the database cannot be
        read.
    """
    conf = load_config(options.config_files, options.config_dirs)
    chosen, skipped = select_stores(backends_of(conf), options.stores,
                                    options.include_reserved)
    report = Report(skipped=skipped)
    # NOTE: references are read after the listing, so that an upload that
    # finishes in between is seen as referenced, never as an orphan.
    objects, configs = _list_all(conf, chosen, report)
    try:
        keys, statuses = read_references()
    except Exception as exc:
        raise AuditError('cannot read Glance\'s database: %s' % exc)
    orphans = _complete(find_orphans(objects, keys), configs, report)
    report.findings = describe(orphans, statuses, time.time())
    if options.delete and report.findings:
        try:
            _delete_old(report, configs, options)
        except AuditError:
            raise
        except Exception as exc:
            raise AuditError('cannot delete: %s' % exc)
    return report
