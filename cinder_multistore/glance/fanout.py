"""Feed one request stream to several store writers at once.

Glance reads the request body to write the primary store; :class:`TeeInput`
sits in ``wsgi.input`` and hands every chunk Glance reads to one bounded
queue per secondary store. Each secondary store is written by a
:class:`StoreWriter` thread that reads its queue through a file-like
:class:`QueueReader`. The data is read from the client once; nothing is
staged or read back.

Memory stays bounded: a queue holds at most ``depth`` chunks, and a slow
secondary slows the upload down instead of buffering the image. A writer
that fails keeps draining its queue so the others never stall.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

LOG = logging.getLogger(__name__)

_EOF = object()
_ABORT = object()


class UploadAborted(IOError):
    """The upload stopped before the end of the data (client or primary)."""


class QueueReader:
    """A read-only file object over chunks arriving on a queue.

    :param chunks: the queue; ``_EOF`` ends the data, ``_ABORT`` makes the
        next read raise :class:`UploadAborted`.
    """

    def __init__(self, chunks: 'queue.Queue[Any]') -> None:
        self._chunks = chunks
        self._pending = memoryview(b'')
        self._done = False
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all remaining when negative)."""
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(1 << 20)
                if not part:
                    return b''.join(parts)
                parts.append(part)
        while not self._pending and not self._done:
            item = self._chunks.get()
            if item is _EOF:
                self._done = True
            elif item is _ABORT:
                self._done = True
                raise UploadAborted('upload aborted before the end of data')
            else:
                self._pending = memoryview(item)
        if not self._pending:
            return b''
        data = bytes(self._pending[:size])
        self._pending = self._pending[size:]
        self.bytes_read += len(data)
        return data

    def drain(self) -> None:
        """Discard everything until the end marker (after a failure)."""
        while not self._done:
            item = self._chunks.get()
            if item is _EOF or item is _ABORT:
                self._done = True


class StoreWriter(threading.Thread):
    """Write one secondary store from a queue, in a thread of its own.

    :param store_id: the store, for logs and results.
    :param write: called with a file-like reader; returns whatever the
        store returns (kept in :attr:`result`). It must remove any partial
        data it wrote when it raises.
    :param depth: how many chunks may wait in the queue.
    """

    def __init__(self, store_id: str,
                 write: Callable[[QueueReader], Any], depth: int) -> None:
        super().__init__(name='cms-writer-%s' % store_id, daemon=True)
        self.store_id = store_id
        self.chunks: 'queue.Queue[Any]' = queue.Queue(maxsize=depth)
        self.reader = QueueReader(self.chunks)
        self._write = write
        self.result: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        start = time.monotonic()
        try:
            self.result = self._write(self.reader)
        except BaseException as exc:  # reported, never raised in a thread
            self.error = exc
        finally:
            # NOTE: keep consuming so a failed store never blocks the tee.
            self.reader.drain()
            self.seconds = time.monotonic() - start

    @property
    def failed(self) -> bool:
        """True when the store could not be written."""
        return self.error is not None


class TeeInput:
    """A ``wsgi.input`` replacement that copies what is read to writers.

    :param source: the original ``wsgi.input``.
    :param writers: the secondary store writers, already started.
    """

    def __init__(self, source: BinaryIO, writers: list[StoreWriter]) -> None:
        self._source = source
        self._writers = writers
        self._closed = False
        self.bytes_read = 0

    def _fan(self, data: bytes) -> bytes:
        if data:
            self.bytes_read += len(data)
            for writer in self._writers:
                writer.chunks.put(data)
        return data

    def read(self, size: int = -1) -> bytes:
        """Read from the client and copy the bytes to every writer."""
        return self._fan(self._source.read(size))

    def readline(self, size: int = -1) -> bytes:
        """Read a line from the client and copy it to every writer."""
        return self._fan(self._source.readline(size))

    def __iter__(self):
        return iter(lambda: self.read(64 * 1024), b'')

    def finish(self, complete: bool) -> None:
        """End the stream for every writer and wait for them.

        :param complete: True when the whole body was read and the primary
            store accepted it; False makes every writer abort and remove
            what it wrote.
        """
        if not self._closed:
            self._closed = True
            marker = _EOF if complete else _ABORT
            for writer in self._writers:
                writer.chunks.put(marker)
        for writer in self._writers:
            writer.join()
