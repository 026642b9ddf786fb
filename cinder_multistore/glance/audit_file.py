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

"""The audit's access to ``file`` stores: listing, identity, deleting."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import logging
import os
import stat

from cinder_multistore.glance.audit_model import AuditError
from cinder_multistore.glance.audit_model import file_url
from cinder_multistore.glance.audit_model import FileIdentity
from cinder_multistore.glance.audit_model import FileStoreConfig
from cinder_multistore.glance.audit_model import location_key
from cinder_multistore.glance.audit_model import StoredObject


LOG = logging.getLogger(__name__)


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
                                   info.st_size, info.st_mtime,
                                   (info.st_dev, info.st_ino))


def identities(paths: Iterable[str]) -> frozenset[FileIdentity]:
    """``(st_dev, st_ino)`` of every path that exists on this host.

    Symlinks are followed: a location recorded through a symlinked or
    bind-mounted folder names the same file as the store's own folder.
    """
    found: set[FileIdentity] = set()
    for path in paths:
        try:
            info = os.stat(path)
        except OSError as exc:
            LOG.debug('location path %s: %s', path, exc)
            continue
        if stat.S_ISREG(info.st_mode):
            found.add((info.st_dev, info.st_ino))
    return frozenset(found)


def delete_file(obj: StoredObject) -> None:
    """Unlink a file store object unless it changed since the listing.

    :raises AuditError: when it was written or replaced since the listing.
    """
    key = location_key(obj.url)
    if key is None or key[0] != 'file':
        raise AuditError('not a file store location')
    path = key[1]
    info = os.stat(path, follow_symlinks=False)
    if info.st_mtime != obj.mtime or info.st_size != obj.size:
        raise AuditError('written since the listing')
    identity = (info.st_dev, info.st_ino)
    if obj.identity is not None and obj.identity != identity:
        raise AuditError('replaced since the listing')
    LOG.debug('unlinking %s', path)
    os.unlink(path)
