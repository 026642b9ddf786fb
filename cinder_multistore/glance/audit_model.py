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

"""What the audit compares: store objects, location URLs and their keys.

Plain values and pure functions shared by the audit's store modules
(:mod:`.audit_file`, :mod:`.audit_rbd`), its reading of Glance
(:mod:`.audit_glance`) and its decisions (:mod:`.audit`).
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import os
from typing import Any
import urllib.parse


#: Glance's own stores (staging area and task workspace): audited only
#: when asked for by name or with ``include_reserved``.
RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')
#: Store types whose data the audit can list and delete.
AUDITED_TYPES = ('file', 'rbd')
#: The snapshot glance_store's rbd driver creates and protects.
RBD_SNAPSHOT = 'snap'
#: ``size`` of an RBD object listed by name only (see
#: :func:`.audit_rbd.stat_rbd`).
UNKNOWN_SIZE = -1


class AuditError(Exception):
    """The audit could not run (configuration, database, store access)."""


#: An image row as Glance's db api returns it (``id``, ``status``,
#: ``deleted``, ``locations``: dicts with ``url`` and ``status``).
ImageRow = Mapping[str, Any]
#: What a location refers to (see :func:`location_key`).
LocationKey = tuple[str, ...]
#: A file's identity on this host: ``(st_dev, st_ino)``.
FileIdentity = tuple[int, int]


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One object a store holds.

    :param store: the store id.
    :param url: the location URL Glance would record for it.
    :param name: the object's name in the store (an image id for Glance's
        own data).
    :param size: bytes.
    :param mtime: last modification, seconds since the epoch.
    :param identity: ``(st_dev, st_ino)`` of a file store object, the same
        through every symlink or bind mount that reaches it; None for rbd.
    """

    store: str
    url: str
    name: str
    size: int
    mtime: float
    identity: FileIdentity | None = None


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


#: How to reach one audited store.
StoreConfig = FileStoreConfig | RbdStoreConfig


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
    the audit matches in every pool. Other schemes: the URL itself. None
    for an empty URL.
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
