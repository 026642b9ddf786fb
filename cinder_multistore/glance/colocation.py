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

"""One co-located upload: the secondary copies of one request, start to end.

The filter decides where an upload goes; this module carries it out for the
secondary stores, as one transaction around Glance's own write of the
primary store:

1. :meth:`Colocation.wrap` puts a :class:`~.fanout.TeeInput` in front of the
   request body. Nothing happens until Glance reads the body, which it does
   only after it has authorised the upload; then the copies' quota is
   checked (Glance's own exceptions, so Glance answers 413 and puts the
   image back to ``queued``) and one writer per secondary store starts.
2. When Glance answered anything but 204, :meth:`Colocation.abort` stops
   the writers and removes every copy.
3. After Glance's 204, :meth:`Colocation.settle` checks each copy against
   the image, checks the quota again with the real size, registers the good
   copies, removes the others, and says what the client must be told.

Every path ends with each copy either registered as a location of the image
or removed: no store keeps data that no location points to. Nothing here
imports Glance: everything that touches it goes through :class:`GlanceOps`.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import logging
from typing import Protocol
from typing import runtime_checkable

from cinder_multistore.glance import fanout


LOG = logging.getLogger(__name__)

REQUIRED_MESSAGE = ('Co-location is required and store(s) %s could not be '
                    'written. The image was not stored.')
QUOTA_MESSAGE = ('The co-located copies would exceed the storage quota. '
                 'The image was not stored.')
NOTHING_STORED = 'the store returned nothing'


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
    metadata: dict[str, object]


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """The facts of an image the copies are compared against."""

    id: str
    status: str
    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    stores: tuple[str, ...]


class RequestContext(Protocol):
    """The caller's Glance request context, as far as this package uses it.

    Everything else of it is Glance's: it is passed on untouched.
    """

    @property
    def owner(self) -> str | None:
        """The project the caller acts for."""

    def elevated(self) -> RequestContext:
        """A copy of the context with admin rights."""


@runtime_checkable
class GlanceOps(Protocol):
    """What a co-located upload needs from the Glance process it runs in."""

    def write(self, context: RequestContext, store_id: str, image_id: str,
              data: fanout.Readable, size: int,
              hashing_algo: str) -> StoredCopy:
        """Write ``data`` to a store; remove partial data when raising."""

    def remove(self, context: RequestContext, copy: StoredCopy) -> None:
        """Delete a copy's data; a copy already gone is not an error."""

    def image(self, context: RequestContext,
              image_id: str) -> ImageRecord | None:
        """The image as ``context`` sees it, or None."""

    def register(self, context: RequestContext, image_id: str,
                 copies: list[StoredCopy]) -> None:
        """Add the copies as locations of the image."""

    def revert_upload(self, context: RequestContext, image_id: str) -> None:
        """Put the image back to ``queued`` without location or data."""

    def enforce_copies_quota(self, context: RequestContext,
                             image_id: str, size: int | None, copies: int,
                             stored: bool) -> None:
        """Raise Glance's own quota error when the copies do not fit.

        :param stored: the primary is stored and counted already.
        """

    def hashing_algorithm(self) -> str:
        """Glance's multihash algorithm."""

    def error_status(self, exc: BaseException) -> int:
        """The HTTP status Glance answers for ``exc``."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """How the copies are written.

    :param depth: blocks that may wait per secondary store.
    :param nice: nice increment of the writer threads.
    :param hash_algorithm: the multihash a copy computes.
    :param stall_timeout: seconds without progress before a copy is
        abandoned (None: never).
    :param required: every copy must succeed, or the upload fails.
    """

    depth: int = 8
    nice: int = 0
    hash_algorithm: str = 'sha1'
    stall_timeout: float | None = None
    required: bool = False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the client is told after Glance's 204.

    :param written: stores holding the image, primary first.
    :param failed: secondary store to the reason it holds nothing.
    :param refusal: ``(status, message)`` when the whole upload failed
        after all (the image is back to ``queued``), else None.
    """

    written: tuple[str, ...]
    failed: dict[str, str]
    refusal: tuple[int, str] | None = None


class Colocation:
    """The secondary copies of one upload.

    :param ops: the Glance operations.
    :param context: the caller's request context.
    :param image_id: the image being uploaded.
    :param primary: the store Glance writes.
    :param secondaries: the stores this transaction writes.
    :param size: the size announced by the request, 0 when unknown.
    :param settings: how to write.
    """

    def __init__(self, ops: GlanceOps, context: RequestContext,
                 image_id: str, primary: str, secondaries: tuple[str, ...],
                 size: int, settings: Settings) -> None:
        self._ops = ops
        self._context = context
        self.image_id = image_id
        self.primary = primary
        self.secondaries = secondaries
        self._size = size
        self._settings = settings
        self._tee: fanout.TeeInput[StoredCopy] | None = None

    # -- start -----------------------------------------------------------

    def wrap(self, body: fanout.Readable) -> fanout.TeeInput[StoredCopy]:
        """The body Glance must read; the copies start on its first read."""
        self._tee = fanout.TeeInput(
            body, self._start, stall_timeout=self._settings.stall_timeout)
        return self._tee

    def _start(self) -> list[fanout.StoreWriter[StoredCopy]]:
        # NOTE: Glance reads the body only after its own checks (image,
        # owner, policy, status, quota of the primary): the copies' quota is
        # checked here, and nothing is written for a request it refuses.
        self._use_glances_id()
        self._ops.enforce_copies_quota(self._context, self.image_id,
                                       self._size or None,
                                       len(self.secondaries), stored=False)
        started: list[fanout.StoreWriter[StoredCopy]] = []
        try:
            for store in self.secondaries:
                writer = fanout.StoreWriter(store, self._writer_for(store),
                                            self._settings.depth,
                                            self._settings.nice,
                                            discard=self._remove_quietly)
                writer.start()
                started.append(writer)
        except BaseException as exc:
            # NOTE: e.g. "can't start new thread" for the second writer: the
            # writers already running wait for data that never comes, with
            # a store connection open and partial data in the store.
            LOG.warning('Image %s: starting the co-located copies failed '
                        '(%s); stopping the %d started', self.image_id, exc,
                        len(started))
            self._end(started)
            raise
        LOG.debug('Image %s: writing copies to %s', self.image_id,
                  ', '.join(self.secondaries))
        return started

    def _use_glances_id(self) -> None:
        """Name the copies with the image id as Glance stores it.

        The id in the request path may differ in case (MySQL compares ids
        case-insensitively); Glance names its own data with the stored id,
        and so must the copies.
        """
        image = self._ops.image(self._context, self.image_id)
        if image is not None and image.id != self.image_id:
            LOG.debug('Image %s: the request named it %r', image.id,
                      self.image_id)
            self.image_id = image.id

    def _end(self, writers: list[fanout.StoreWriter[StoredCopy]]) -> None:
        """Abort ``writers`` and remove whatever they stored."""
        try:
            fanout.end_writers(writers, False, self._settings.stall_timeout)
        finally:
            self._remove_all([w.result for w in writers
                              if w.result is not None])

    def _writer_for(self, store: str
                    ) -> Callable[[fanout.QueueReader], StoredCopy]:
        def write(reader: fanout.QueueReader) -> StoredCopy:
            return self._ops.write(self._context, store, self.image_id,
                                   reader, self._size,
                                   self._settings.hash_algorithm)
        return write

    @property
    def _writers(self) -> list[fanout.StoreWriter[StoredCopy]]:
        return self._tee.writers if self._tee is not None else []

    def _remove_quietly(self, copy: StoredCopy) -> None:
        try:
            self._ops.remove(self._context, copy)
        except Exception:
            LOG.exception('Image %s: removing the copy in store %s failed; '
                          '"cinder-multistore audit" lists it',
                          self.image_id, copy.store_id)

    # -- the primary failed --------------------------------------------

    def abort(self) -> None:
        """Stop every writer and remove every copy (Glance did not 204)."""
        try:
            if self._tee is not None:
                self._tee.finish(complete=False)
        finally:
            self._remove_all([w.result for w in self._writers
                              if w.result is not None])

    # -- the primary succeeded -----------------------------------------

    def settle(self) -> Outcome:
        """Keep the good copies, remove the others, say what happened.

        Never raises: whatever goes wrong, each copy ends registered or
        removed, and with ``required`` the image goes back to ``queued``.
        """
        good: list[StoredCopy] = []
        failed: dict[str, str] = {}
        try:
            if self._tee is not None:
                self._tee.finish(complete=True)
            good, failed, error = self._check_copies()
            if failed and self._settings.required:
                return self._refuse(good, failed, error, REQUIRED_MESSAGE
                                    % ', '.join(sorted(failed)))
            if good:
                try:
                    self._ops.enforce_copies_quota(
                        self._context, self.image_id, good[0].size,
                        len(good), stored=True)
                except Exception as exc:
                    for copy in good:
                        failed[copy.store_id] = 'quota exceeded: %s' % exc
                    return self._refuse(good, failed, exc, QUOTA_MESSAGE)
            try:
                if good:
                    self._ops.register(self._context, self.image_id, good)
            except Exception as exc:
                LOG.warning('Image %s: registering co-located copies '
                            'failed: %s', self.image_id, exc)
                for copy in good:
                    failed[copy.store_id] = 'registration failed: %s' % exc
                if self._settings.required:
                    return self._refuse(good, failed, exc, REQUIRED_MESSAGE
                                        % ', '.join(sorted(failed)))
                self._remove_all(good)
                good = []
        except Exception as exc:
            LOG.exception('Image %s: settling the co-located copies failed',
                          self.image_id)
            try:
                fanout.end_writers(self._writers, False,
                                   self._settings.stall_timeout)
            except Exception:
                LOG.exception('Image %s: stopping the copy writers failed',
                              self.image_id)
            for writer in self._writers:
                failed.setdefault(writer.store_id, 'internal error')
            unregistered = [w.result for w in self._writers
                            if w.result is not None]
            if self._settings.required:
                return self._refuse(unregistered, failed, exc,
                                    REQUIRED_MESSAGE
                                    % ', '.join(sorted(failed)))
            self._remove_all(unregistered)
            good = []
        written = (self.primary,) + tuple(c.store_id for c in good)
        LOG.info('Image %s co-located in %s%s', self.image_id,
                 ', '.join(written),
                 ('; failed: %s' % ', '.join(sorted(failed))) if failed
                 else '')
        return Outcome(written, failed)

    def _check_copies(self) -> tuple[list[StoredCopy], dict[str, str],
                                     BaseException | None]:
        good: list[StoredCopy] = []
        failed: dict[str, str] = {}
        first_error: BaseException | None = None
        start_error = self._tee.start_error if self._tee else None
        if start_error is not None:
            # NOTE: the writers of an empty body start after Glance's 204;
            # copies that could not start failed like any other.
            for store in self.secondaries:
                failed[store] = '%s: %s' % (type(start_error).__name__,
                                            start_error)
            return good, failed, start_error
        image = self._ops.image(self._context, self.image_id)
        same_hash = (self._settings.hash_algorithm
                     == self._ops.hashing_algorithm())
        for writer in self._writers:
            problem = copy_problem(writer, image, same_hash)
            copy = writer.result
            if problem is None and copy is not None:
                good.append(copy)
                continue
            failed[writer.store_id] = problem or NOTHING_STORED
            if first_error is None and writer.error is not None:
                first_error = writer.error
            if writer.result is not None:
                self._remove_quietly(writer.result)
            LOG.warning('Image %s: co-located copy in store %s failed: %s',
                        self.image_id, writer.store_id, problem)
        return good, failed, first_error

    def _remove_all(self, copies: list[StoredCopy]) -> None:
        for copy in copies:
            self._remove_quietly(copy)

    def _refuse(self, copies: list[StoredCopy], failed: dict[str, str],
                error: BaseException | None, message: str) -> Outcome:
        """Undo the whole upload: copies removed, primary reverted.

        The client gets ``message`` only: store drivers' errors may name
        paths and hosts, so they go to the log.
        """
        self._remove_all(copies)
        try:
            self._ops.revert_upload(self._context, self.image_id)
        except Exception:
            LOG.exception('Image %s: putting the image back to queued '
                          'failed', self.image_id)
        status = (self._ops.error_status(error) if error is not None
                  else 500)
        LOG.error('Image %s: %s (%s)', self.image_id, message,
                  '; '.join('%s: %s' % kv for kv in sorted(failed.items())))
        return Outcome((), failed, (status, message))


def copy_problem(writer: fanout.StoreWriter[StoredCopy],
                 image: ImageRecord | None, same_hash: bool) -> str | None:
    """Why a secondary copy cannot be kept, or None when it is good.

    :param same_hash: the copy's multihash used Glance's algorithm and is
        compared too.
    """
    if writer.failed:
        error = writer.error
        return '%s: %s' % (type(error).__name__, error)
    copy = writer.result
    if copy is None:
        return NOTHING_STORED
    if image is None:
        return 'image disappeared during the upload'
    if (copy.size != image.size or copy.checksum != image.checksum
            or (same_hash and copy.multihash != image.os_hash_value)):
        return ('copy differs from the primary (size %s/%s, checksum '
                '%s/%s)' % (copy.size, image.size, copy.checksum,
                            image.checksum))
    return None
