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

"""The audit's access to ``rbd`` stores: listing, reading, removing.

It connects to the store's Ceph cluster as glance_store does (the store's
``rbd_store_ceph_conf``, ``rbd_store_user``, ``rados_connect_timeout``).
"""

from __future__ import annotations

from collections.abc import Iterable
import dataclasses
import datetime
import logging
import types
from typing import Protocol

from cinder_multistore.glance.audit_model import AuditError
from cinder_multistore.glance.audit_model import rbd_url
from cinder_multistore.glance.audit_model import RbdStoreConfig
from cinder_multistore.glance.audit_model import StoredObject
from cinder_multistore.glance.audit_model import UNKNOWN_SIZE


LOG = logging.getLogger(__name__)


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

    def list_pools(self) -> list[str]:
        """The names of the cluster's pools."""

    def shutdown(self) -> None:
        """Disconnect."""


@dataclasses.dataclass(frozen=True)
class RbdListing:
    """What an rbd store's pool holds, and the pools of its cluster.

    :param fsid: the cluster's fsid.
    :param pools: every pool of the cluster now (a location naming a
        pool that no longer exists may refer to a renamed pool).
    :param objects: the RBD images of the store's pool.
    """

    fsid: str
    pools: frozenset[str]
    objects: list[StoredObject]


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

    def _connected(self) -> _Cluster:
        if self.cluster is None:
            raise AuditError('not connected to the Ceph cluster of store %s'
                             % self.config.store)
        return self.cluster

    def fsid(self) -> str:
        """The cluster's fsid."""
        return self._connected().get_fsid()

    def pools(self) -> frozenset[str]:
        """The names of the cluster's pools."""
        return frozenset(self._connected().list_pools())

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


def list_rbd_store(config: RbdStoreConfig) -> RbdListing:
    """Every RBD image of an rbd store's pool, by name and location URL.

    Size and age are read later, for the orphans only (:func:`stat_rbd`):
    opening every image of a large pool would be slow.
    """
    with _RbdPool(config) as pool:
        fsid = pool.fsid()
        objects = [StoredObject(config.store,
                                rbd_url(fsid, config.pool, name), name,
                                UNKNOWN_SIZE, 0.0)
                   for name in pool.names()]
        return RbdListing(fsid, pool.pools(), objects)


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
