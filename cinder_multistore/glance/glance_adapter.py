"""The one module that touches Glance and glance_store internals.

Everything the filter needs from the Glance process it runs in goes through
:class:`GlanceAdapter`: the store catalog, a base image as the caller sees
it, writing a store, registering locations and undoing an upload. It runs
inside glance-api, after Glance configured its stores.
"""

import dataclasses
import logging
from typing import Any, BinaryIO

import glance_store
from glance_store import multi_backend
from oslo_config import cfg

from cinder_multistore import placement

LOG = logging.getLogger(__name__)

CONF = cfg.CONF


@dataclasses.dataclass(frozen=True)
class StoredCopy:
    """What a store holds after a write.

    :param store_id: the store.
    :param url: the location URL in the store.
    :param size: bytes written.
    :param checksum: MD5 hex digest of the data.
    :param multihash: hex digest with the algorithm the write used.
    :param metadata: the store's location metadata.
    """

    store_id: str
    url: str
    size: int
    checksum: str
    multihash: str
    metadata: dict


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """The facts of an image the filter compares copies against."""

    id: str
    status: str
    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    stores: tuple[str, ...]


class GlanceAdapter:
    """Glance-side operations, run with the caller's request context."""

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
    def request_body(environ: dict) -> BinaryIO:
        """The raw request body as Glance itself would read it.

        Under uwsgi, Glance reads chunked bodies with ``uwsgi.chunked_read``
        instead of ``wsgi.input``; the filter must read them the same way.
        """
        from glance.common import wsgi as glance_wsgi
        chunked = environ.get('HTTP_TRANSFER_ENCODING', '').lower()
        if chunked == 'chunked' and glance_wsgi._get_uwsgi():
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

    def _repo(self, context: Any) -> Any:
        return self._gateway.get_repo(context)

    def image(self, context: Any, image_id: str) -> ImageRecord | None:
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

    def base_image(self, context: Any,
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
    def write(context: Any, store_id: str, image_id: str, data: BinaryIO,
              size: int, hashing_algo: str) -> StoredCopy:
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
    def remove(context: Any, copy: StoredCopy) -> None:
        """Delete a copy's data; a copy already gone is not an error."""
        try:
            glance_store.delete(copy.url, copy.store_id, context=context)
        except glance_store.NotFound:
            pass

    @staticmethod
    def register(context: Any, image_id: str,
                 copies: list[StoredCopy]) -> None:
        """Add the copies as locations of the image, each with its store.

        :raises: glance.common.exception.NotFound when the image is gone.
        """
        # NOTE: the layered repo's location proxy only accepts external
        # locations (it refuses file:// as a security measure); these copies
        # are Glance's own data, registered the way Glance registers the
        # primary after its write: on the DB-level image.
        import glance.db
        repo = glance.db.ImageRepo(context, glance.db.get_api())
        image = repo.get(image_id)
        for copy in copies:
            image.locations.append({'url': copy.url,
                                    'metadata': dict(copy.metadata),
                                    'status': 'active'})
        repo.save(image)

    def revert_upload(self, context: Any, image_id: str) -> None:
        """Remove every copy of an upload and put the image back to queued.

        Used when co-location is mandatory and a secondary store failed
        after Glance already activated the image.
        """
        from glance.db import get_api
        db_api = get_api()
        admin = context.elevated()
        image = db_api.image_get(admin, image_id)
        for loc in image['locations']:
            store = loc['metadata'].get('store')
            try:
                glance_store.delete(loc['url'], store, context=admin)
            except glance_store.NotFound:
                pass
        db_api.image_update(admin, image_id,
                            {'status': 'queued', 'size': None,
                             'virtual_size': None, 'checksum': None,
                             'os_hash_algo': None, 'os_hash_value': None,
                             'locations': []},
                            purge_props=False, from_state='active')

    @staticmethod
    def error_status(exc: BaseException) -> int:
        """The HTTP status Glance itself answers for a store error."""
        if isinstance(exc, glance_store.StorageFull):
            return 413
        if isinstance(exc, (glance_store.StorageWriteDenied,
                            glance_store.StoreAddDisabled)):
            return 410
        return 500
