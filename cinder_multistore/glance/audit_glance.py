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

"""What the audit reads of Glance: glance-api's configuration and database.

The audit runs outside glance-api, on a host that has its configuration:
it loads the same files with Glance's own option definitions, and reads
every image and location through Glance's db api with an admin context.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import configparser
import datetime
import logging
import os
from typing import TYPE_CHECKING

from cinder_multistore.glance.audit_model import AuditError
from cinder_multistore.glance.audit_model import FileStoreConfig
from cinder_multistore.glance.audit_model import ImageRow
from cinder_multistore.glance.audit_model import RbdStoreConfig
from cinder_multistore.glance.audit_model import RESERVED_STORES
from cinder_multistore.glance import opts as filter_opts

if TYPE_CHECKING:
    from oslo_config import cfg


LOG = logging.getLogger(__name__)

#: Where glance-api reads its configuration when ``OS_GLANCE_CONFIG_DIR``
#: is not set, and the files it reads there (the first one when present).
DEFAULT_CONFIG_DIR = '/etc/glance'
GLANCE_API_FILES = ('glance-image-import.conf', 'glance-api.conf')
#: What names the filter in a paste file (``use`` or the factory).
_FILTER_MARKS = ('cinder-multistore#multistore',
                 'cinder_multistore.glance.middleware')
_PAGE = 500


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


def load_config(config_files: Sequence[str],
                config_dirs: Sequence[str] = ()) -> cfg.ConfigOpts:
    """Load glance-api's configuration into oslo.config's global CONF.

    Registers Glance's options, every enabled store's glance_store options
    (reserved stores included), as glance-api does at start-up, and the
    filter's ``[multistore_filter]`` options.

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
    filter_opts.register_opts(conf)
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


def encryption_key(conf: cfg.ConfigOpts) -> str | None:
    """``[DEFAULT] metadata_encryption_key``: Glance encrypts location
    URLs in its database with it.
    """
    key: str | None = conf.metadata_encryption_key
    return key or None


def writable_stores(conf: cfg.ConfigOpts) -> list[str]:
    """The stores an upload can write: enabled, not reserved, not http."""
    return [store for store, kind in (conf.enabled_backends or {}).items()
            if store not in RESERVED_STORES and kind != 'http']


def _paste_file(conf: cfg.ConfigOpts) -> str | None:
    """The paste file glance-api loads, found the way Glance finds it."""
    path = conf.paste_deploy.config_file
    if not path and conf.config_file:
        name = os.path.basename(conf.config_file[-1]).replace(
            '.conf', '-paste.ini')
        path = conf.find_file(name)
    return path if path and os.path.isfile(path) else None


def _paste_value(path: str, option: str) -> str | None:
    """``option`` in the filter's paste section, which wins over
    glance-api.conf.
    """
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path)
    except configparser.Error as exc:
        LOG.debug('cannot parse %s: %s', path, exc)
        return None
    for section in parser.sections():
        values = parser[section]
        names = ' '.join(values.get(k, '') for k in (
            'use', 'paste.filter_factory'))
        if section.startswith('filter:') and any(
                mark in names for mark in _FILTER_MARKS):
            return values.get(option)
    return None


def copy_stall_timeout(conf: cfg.ConfigOpts) -> int:
    """The filter's ``copy_stall_timeout`` in seconds.

    A value in the filter's paste section overrides glance-api.conf's, as
    it does in glance-api; the larger of the two is returned, so that a
    file the audit misreads never shortens the bound.
    """
    value: int = conf[filter_opts.GROUP].copy_stall_timeout
    paste = _paste_file(conf)
    override = _paste_value(paste, 'copy_stall_timeout') if paste else None
    if override is not None and override.strip().isdigit():
        value = max(value, int(override))
    return value


def image_rows(page: int = _PAGE) -> Iterator[ImageRow]:
    """Every image row with every location, deleted ones included.

    Read with an admin context through ``glance.db.get_api()``, page by
    page. Location URLs are as stored (encrypted when glance-api has
    ``metadata_encryption_key``).
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
