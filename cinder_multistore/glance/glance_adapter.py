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

"""The one module that touches Glance and glance_store internals.

Everything the filter needs from the Glance process it runs in goes through
:class:`GlanceAdapter`: the store catalog, a base image as the caller sees
it, writing a store, registering locations and undoing an upload. It runs
inside glance-api, after Glance configured its stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import contextlib
import logging
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING

import glance_store
from glance_store import multi_backend
from oslo_config import cfg

from cinder_multistore.glance import colocation
from cinder_multistore.glance import fanout
from cinder_multistore.glance import location_urls
from cinder_multistore import placement

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


LOG = logging.getLogger(__name__)

CONF = cfg.CONF


#: Re-exported: the records the adapter returns.
StoredCopy = colocation.StoredCopy
ImageRecord = colocation.ImageRecord
RequestContext = colocation.RequestContext


class _Image(Protocol):
    """What :meth:`GlanceAdapter.image` reads of Glance's image object."""

    image_id: str
    status: str
    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    #: ``{'url': ..., 'metadata': {'store': ...}, 'status': ...}`` each.
    locations: Sequence[Mapping[str, Any]]


class _ImageRepo(Protocol):
    """What :meth:`GlanceAdapter.image` uses of Glance's image repository.
    """

    def get(self, image_id: str) -> _Image:
        """The image, or Glance's NotFound or Forbidden."""


class GlanceAdapter:
    """Glance-side operations, run with the caller's request context.

    Implements :class:`cinder_multistore.glance.colocation.GlanceOps`.
    """

    def __init__(self) -> None:
        # NOTE: imported lazily so that importing the filter module (for
        # docs, option listing or tests) does not load all of Glance.
        from glance import gateway
        self._gateway = gateway.Gateway()

    @staticmethod
    def multi_store_enabled() -> bool:
        """True when glance-api runs with ``enabled_backends``."""
        return bool(getattr(CONF, 'enabled_backends', None))

    @staticmethod
    def request_body(environ: WSGIEnvironment) -> fanout.Readable:
        """The raw request body as Glance itself would read it.

        Under uwsgi, Glance reads chunked bodies with ``uwsgi.chunked_read``
        instead of ``wsgi.input``; the filter must read them the same way.
        """
        chunked = environ.get('HTTP_TRANSFER_ENCODING', '').lower()
        if chunked == 'chunked' and _uwsgi() is not None:
            from glance.common import wsgi as glance_wsgi
            return glance_wsgi._UWSGIChunkFile()
        return environ['wsgi.input']

    @staticmethod
    def catalog() -> placement.Catalog:
        """The enabled stores in Glance's own order (highest weight first).

        Reserved stores are included so that the rules can name them.
        """
        backends = dict(CONF.enabled_backends or {})
        ids = list(backends)

        def weight(store_id: str) -> int:
            try:
                return multi_backend.get_store_weight(store_id)
            except Exception:  # reserved stores may have no weight option
                return 0

        ordered = sorted(ids, key=lambda s: (-weight(s), ids.index(s)))
        stores = tuple(placement.StoreInfo(s, read_only=backends[s] == 'http')
                       for s in ordered)
        return placement.Catalog(stores, CONF.glance_store.default_backend)

    def _repo(self, context: RequestContext) -> _ImageRepo:
        return self._gateway.get_repo(context)

    def image(self, context: RequestContext,
              image_id: str) -> ImageRecord | None:
        """Return the image as ``context`` sees it, or None.

        An image the caller may not see is reported exactly like one that
        does not exist.
        """
        from glance.common import exception as glance_exc
        try:
            image = self._repo(context).get(image_id)
        except (glance_exc.NotFound, glance_exc.Forbidden):
            return None
        stores = []
        for loc in image.locations:
            store = loc.get('metadata', {}).get('store')
            if store and loc.get('status', 'active') == 'active':
                stores.append(store)
        return ImageRecord(image.image_id, image.status, image.size,
                           image.checksum, image.os_hash_algo,
                           image.os_hash_value, tuple(stores))

    def base_image(self, context: RequestContext,
                   image_id: str) -> placement.BaseImage | None:
        """The base image for the rules, looked up with the caller's rights."""
        record = self.image(context, image_id)
        if record is None:
            return None
        return placement.BaseImage(record.id, record.status, record.stores)

    @staticmethod
    def hashing_algorithm() -> str:
        """Glance's multihash algorithm (``[DEFAULT] hashing_algorithm``)."""
        return CONF.hashing_algorithm

    @staticmethod
    def write(context: RequestContext, store_id: str, image_id: str,
              data: fanout.Readable, size: int,
              hashing_algo: str) -> StoredCopy:
        """Write ``data`` to ``store_id`` as Glance would.

        The store driver removes its partial data when it raises.

        :param size: expected size in bytes, 0 when unknown.
        :param hashing_algo: the multihash the driver computes on the way.
        :raises: glance_store exceptions (StorageFull, StorageWriteDenied,
            Duplicate, Invalid...).
        """
        url, written, checksum, multihash, metadata = (
            multi_backend.add_with_multihash(
                CONF, image_id, data, size, store_id,
                hashing_algo, context=context))
        metadata = dict(metadata or {})
        metadata['store'] = store_id
        return StoredCopy(store_id, url, written, checksum, multihash,
                          metadata)

    @staticmethod
    def remove(context: RequestContext, copy: StoredCopy) -> None:
        """Delete a copy's data; a copy already gone is not an error."""
        try:
            glance_store.delete(copy.url, copy.store_id, context=context)
        except glance_store.NotFound:
            pass

    @staticmethod
    def register(context: RequestContext, image_id: str,
                 copies: list[StoredCopy]) -> None:
        """Add the copies as locations of the image, each with its store.

        Only the copies' location rows are written, in one transaction
        that first claims the image row while it is ``active`` and not
        deleted: a property, tag or any other change made meanwhile is
        kept, and an image deleted, deactivated or reverted meanwhile gets
        nothing (the caller then removes the copies' data). URLs are
        encrypted with ``metadata_encryption_key`` as Glance's own
        ``ImageRepo`` does.

        :raises: glance.common.exception.Conflict when the image is no
            longer ``active``: nothing is added.
        """
        # NOTE: the layered repo's location proxy only accepts external
        # locations (it refuses file:// as a security measure), and its
        # save rewrites the whole image from what it read; these copies are
        # Glance's own data, added row by row with the db api's helper.
        import glance.db
        db_api = glance.db.get_api()
        key = _encryption_key()
        rows = [{'url': location_urls.stored_form(copy.url, key),
                 'metadata': dict(copy.metadata), 'status': 'active'}
                for copy in copies]
        with _write_session(db_api) as session:
            _claim_active(session, image_id)
            for row in rows:
                db_api._image_location_add(context, session, image_id, row)

    def revert_upload(self, context: RequestContext, image_id: str) -> None:
        """Put an activated upload back to ``queued``, with no data.

        Used when co-location is required (or the copies exceed the quota)
        and the primary store was already written. The order never shows a
        location without data: in one transaction the image leaves
        ``active`` and its locations go, then the data goes (location URLs
        decrypted as Glance decrypts them).

        :raises: glance.common.exception.Conflict when the image is no
            longer ``active`` (someone else changed it): nothing is touched.
        """
        import glance.db
        db_api = glance.db.get_api()
        admin = context.elevated()
        key = _encryption_key()
        with _write_session(db_api) as session:
            image = db_api._image_get(admin, session, image_id)
            locations = [(loc.value, (loc.meta_data or {}).get('store'))
                         for loc in image.locations if not loc.deleted]
            db_api._image_update(
                admin, session, image_id,
                {'status': 'queued', 'size': None, 'virtual_size': None,
                 'checksum': None, 'os_hash_algo': None,
                 'os_hash_value': None},
                purge_props=False, from_state='active')
            db_api._image_locations_delete_all(admin, session, image_id)
        for stored, store in locations:
            url = location_urls.readable(stored, key)
            if url is None:
                LOG.error('Image %s: a location of store %s cannot be '
                          'decrypted with this metadata_encryption_key; its '
                          'data stays for "cinder-multistore audit"',
                          image_id, store)
                continue
            try:
                glance_store.delete(url, store, context=admin)
            except glance_store.NotFound:
                pass

    @staticmethod
    def enforce_copies_quota(context: RequestContext, image_id: str,
                             size: int | None, copies: int,
                             stored: bool) -> None:
        """Apply Glance's quotas to the image with its copies.

        Glance counts an image's usage as its size times its locations; it
        checked the primary itself. With ``user_storage_quota`` the whole
        image (primary and copies) must fit what the owner has left besides
        this image; with unified limits (``use_keystone_limits``) the
        copies (and the primary, unless ``stored``) are the delta of
        ``image_size_total``. ``image_location_quota`` bounds the number
        of locations.

        :param size: the image size, None when not known yet (only the
            location quota is checked then).
        :raises: Glance's own StorageQuotaFull, LimitExceeded or
            ImageLocationLimitExceeded, which Glance answers with 413.
        """
        from glance.common import exception as glance_exc
        max_locations = CONF.image_location_quota
        if max_locations >= 0 and copies + 1 > max_locations:
            raise glance_exc.ImageLocationLimitExceeded(
                attempted=copies + 1, maximum=max_locations)
        if size is None:
            return
        if CONF.use_keystone_limits:
            from glance.quota import keystone as ks_quota
            units = copies + (0 if stored else 1)
            ks_quota.enforce_image_size_total(
                context, context.owner, delta=size * units // (1 << 20))
            return
        import glance.api.common
        import glance.db
        glance.api.common.check_quota(context, size * (copies + 1),
                                      glance.db.get_api(), image_id=image_id)

    @staticmethod
    def error_status(exc: BaseException) -> int:
        """The HTTP status Glance itself answers for a store error."""
        from glance.common import exception as glance_exc
        if isinstance(exc, (glance_store.StorageFull,
                            glance_exc.StorageQuotaFull,
                            glance_exc.LimitExceeded,
                            glance_exc.ImageLocationLimitExceeded)):
            return 413
        if isinstance(exc, glance_store.StoreAddDisabled):
            return 410
        if isinstance(exc, (glance_store.StorageWriteDenied,
                            fanout.CopyStalled) + _store_timeouts()):
            return 503
        return 500


def _encryption_key() -> str | None:
    """Glance's ``metadata_encryption_key``: location URLs in its database
    are encrypted with it.
    """
    key: str | None = getattr(CONF, 'metadata_encryption_key', None)
    return key or None


@contextlib.contextmanager
def _write_session(db_api: Any) -> Iterator[Any]:
    """One write transaction of Glance's sqlalchemy db api.

    Glance 31 and later have ``session_for_write()`` (oslo.db's
    enginefacade); Glance 30 (release 2025.1) has ``get_session()`` and
    ``session.begin()``.
    """
    writer = getattr(db_api, 'session_for_write', None)
    if writer is not None:
        with writer() as session:
            yield session
        return
    session = db_api.get_session()
    with session.begin():
        yield session


def _claim_active(session: Any, image_id: str) -> None:
    """Lock the image row in ``session``'s transaction while it is active.

    The update takes the row lock that Glance's own updates and deletes of
    the image wait for, until this transaction ends.

    :raises: glance.common.exception.Conflict when the image is not
        ``active`` or is deleted.
    """
    from glance.common import exception as glance_exc
    from glance.db.sqlalchemy import models
    from oslo_utils import timeutils
    claimed = session.query(models.Image).filter_by(
        id=image_id, status='active', deleted=False).update(
            {'updated_at': timeutils.utcnow()}, synchronize_session=False)
    if claimed != 1:
        raise glance_exc.Conflict(
            'image %s is no longer active: its co-located copies are not '
            'registered' % image_id)


def _store_timeouts() -> tuple[type[BaseException], ...]:
    """glance_store's TimeoutError, when this glance_store has one.

    glance_store 5 has ``exceptions.TimeoutError``; glance_store 4.9 (the
    one of release 2025.1, Glance 30) does not.
    """
    timeout = getattr(glance_store.exceptions, 'TimeoutError', None)
    return (timeout,) if isinstance(timeout, type) else ()


def _uwsgi() -> object:
    """Glance's handle on the uwsgi module, or None outside uwsgi.

    Glance 33 has ``_get_uwsgi()``; earlier releases a module-level
    ``uwsgi``.
    """
    from glance.common import wsgi as glance_wsgi
    getter = getattr(glance_wsgi, '_get_uwsgi', None)
    if getter is not None:
        return getter()
    return getattr(glance_wsgi, 'uwsgi', None)
