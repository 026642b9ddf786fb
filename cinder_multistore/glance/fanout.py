"""Feed one request stream to several store writers at once.

Glance reads the request body to write the primary store; :class:`TeeInput`
sits in ``wsgi.input``, reads the client's body in 1 MiB blocks and hands
each block to one bounded queue per secondary store. Each secondary store
is written by a :class:`StoreWriter` thread that reads its queue through a
file-like :class:`QueueReader`. The data is read from the client once;
nothing is staged or read back, and a block a store reads whole is never
copied.

Memory stays bounded: a queue holds at most ``depth`` blocks, and a slow
secondary slows the upload down instead of buffering the image. A writer
that fails keeps draining its queue so the others never stall.
"""

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

LOG = logging.getLogger(__name__)

#: Bytes read from the client at a time and queued as one block.
BLOCK_SIZE = 1 << 20

_EOF = object()
_ABORT = object()


class UploadAborted(IOError):
    """The upload stopped before the end of the data (client or primary)."""


class _Block:
    """The unread part of one block; whole blocks are handed out uncopied."""

    def __init__(self, data: bytes = b'') -> None:
        self.data = data
        self.offset = 0

    def __len__(self) -> int:
        return len(self.data) - self.offset

    def take(self, size: int) -> bytes:
        """Up to ``size`` bytes from the front."""
        if self.offset == 0 and len(self.data) <= size:
            data, self.data = self.data, b''
            return data
        end = self.offset + size
        data = self.data[self.offset:end]
        self.offset = min(end, len(self.data))
        return data


class QueueReader:
    """A read-only file object over blocks arriving on a queue.

    :param chunks: the queue; ``_EOF`` ends the data, ``_ABORT`` makes the
        next read raise :class:`UploadAborted`.
    """

    def __init__(self, chunks: 'queue.Queue[Any]') -> None:
        self._chunks = chunks
        self._pending = _Block()
        self._done = False
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all remaining when negative)."""
        if size is None or size < 0:
            parts = []
            while True:
                part = self.read(BLOCK_SIZE)
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
                self._pending = _Block(item)
        data = self._pending.take(size)
        self.bytes_read += len(data)
        return data

    def drain(self) -> None:
        """Discard everything until the end marker (after a failure)."""
        while not self._done:
            item = self._chunks.get()
            if item is _EOF or item is _ABORT:
                self._done = True


def lower_priority(nice: int) -> bool:
    """Raise the calling thread's nice value by ``nice``; True if done.

    On Linux a thread's nice value is its own, so the rest of the process
    keeps its priority. Elsewhere, or when refused, nothing changes.
    """
    if nice <= 0:
        return False
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(current + nice, 19))
    except (AttributeError, OSError) as exc:
        LOG.debug('Thread priority left as it is: %s', exc)
        return False
    return True


class StoreWriter(threading.Thread):
    """Write one secondary store from a queue, in a thread of its own.

    :param store_id: the store, for logs and results.
    :param write: called with a file-like reader; returns whatever the
        store returns (kept in :attr:`result`). It must remove any partial
        data it wrote when it raises.
    :param depth: how many chunks may wait in the queue.
    :param nice: nice increment of this thread (0: none).
    """

    def __init__(self, store_id: str,
                 write: Callable[[QueueReader], Any], depth: int,
                 nice: int = 0) -> None:
        super().__init__(name='cms-writer-%s' % store_id, daemon=True)
        self.store_id = store_id
        self.nice = nice
        self.chunks: 'queue.Queue[Any]' = queue.Queue(maxsize=depth)
        self.reader = QueueReader(self.chunks)
        self._write = write
        self.result: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        start = time.monotonic()
        lower_priority(self.nice)
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

    The client's body is read in blocks of at least ``block_size`` bytes
    (Glance may ask for less at a time); each block is queued once for
    every writer and Glance is served from it, so the number of queue
    operations, thread wake-ups and copies does not depend on the chunk
    size of the primary store.

    :param source: the original ``wsgi.input``.
    :param writers: the secondary store writers, already started.
    :param block_size: bytes read from the client at a time.
    """

    def __init__(self, source: BinaryIO, writers: list[StoreWriter],
                 block_size: int = BLOCK_SIZE) -> None:
        self._source = source
        self._writers = writers
        self._block_size = block_size
        self._buffer = _Block()
        self._closed = False
        self.bytes_read = 0

    def _fill(self, size: int) -> bool:
        """Read the next block from the client; False at the end."""
        block = self._source.read(max(size, self._block_size))
        if not block:
            return False
        self.bytes_read += len(block)
        for writer in self._writers:
            writer.chunks.put(block)
        self._buffer = _Block(block)
        return True

    def read(self, size: int = -1) -> bytes:
        """Read from the client and copy the bytes to every writer."""
        if size is None or size < 0:
            parts = [self._buffer.take(len(self._buffer))]
            while self._fill(self._block_size):
                parts.append(self._buffer.take(len(self._buffer)))
            return b''.join(parts)
        if not self._buffer and not self._fill(size):
            return b''
        return self._buffer.take(size)

    def readline(self, size: int = -1) -> bytes:
        """Read up to and including the next newline (or ``size`` bytes)."""
        line = bytearray()
        while size is None or size < 0 or len(line) < size:
            if not self._buffer and not self._fill(self._block_size):
                break
            buf = self._buffer
            end = buf.data.find(b'\n', buf.offset)
            want = len(buf) if end < 0 else end + 1 - buf.offset
            if size is not None and size >= 0:
                want = min(want, size - len(line))
            part = buf.take(want)
            line += part
            if part.endswith(b'\n'):
                break
        return bytes(line)

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
