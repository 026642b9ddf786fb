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

"""Feed one request stream to several store writers at once.

Glance reads the request body to write the primary store; :class:`TeeInput`
sits in ``wsgi.input``, reads the client's body in 1 MiB blocks and hands
each block to one bounded queue per secondary store. Each secondary store
is written by a :class:`StoreWriter` thread that reads its queue through a
file-like :class:`QueueReader`. The data is read from the client once;
nothing is staged or read back, and a block a store reads whole is never
copied.

Memory stays bounded: a queue holds at most ``depth`` blocks of at most
1 MiB (a larger read, such as the 8 MiB an rbd primary asks for, is queued
as 1 MiB pieces), and a slow secondary slows the upload down instead of
buffering the image. A writer that fails keeps draining its queue so the
others never stall. A writer that makes no progress for ``stall_timeout``
seconds (a store that does not answer) is abandoned: the tee stops feeding
it, its reader raises on the next read so that the store driver removes
its partial data, and anything it still manages to store afterwards is
discarded. Whatever fails while the writers start, are fed or end, every
writer started gets an end marker (:func:`end_writers`).

The writers start when the request's body is first read: Glance reads it
only after it has authorised the upload, so a request Glance refuses never
writes a secondary store.

The writers are native threads in every server. Under glance-api's own
eventlet server (Glance 30 and 31), which monkey-patches ``threading`` and
``queue``, a green writer would share the worker's one native thread: a
store call that blocks in native code (librbd waiting for a frozen OSD)
would stop every request of the worker, and the stall timeout with them.
There the writers are started with eventlet's original ``threading`` and
fed through original queues, and the green side (the request, which feeds
and waits for them) polls instead of blocking the worker.
"""

from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import enum
import logging
import os
import queue
import threading
import time
import types
from typing import Final
from typing import Generic
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar

from cinder_multistore.glance import green_logging


LOG = logging.getLogger(__name__)

#: Bytes read from the client at a time and queued as one block.
BLOCK_SIZE = 1 << 20

#: Seconds between two looks at a native writer from a green thread.
GREEN_POLL = 0.005


class _Marker(enum.Enum):
    """What a writer's queue carries besides blocks of data."""

    EOF = 'end of data'
    ABORT = 'upload aborted'


_EOF: Final = _Marker.EOF
_ABORT: Final = _Marker.ABORT

#: What a writer's queue carries: a block of data or a marker.
Item = bytes | _Marker
#: What a store writer returns (a stored copy, for the filter).
T = TypeVar('T')
P = ParamSpec('P')
R = TypeVar('R')


class Readable(Protocol):
    """A file-like object read from the front, as store drivers read one."""

    def read(self, size: int = ..., /) -> bytes:
        """Up to ``size`` bytes (all remaining when negative); b'' at
        the end.
        """


class UploadAborted(IOError):
    """The upload stopped before the end of the data (client or primary)."""


class CopyStalled(IOError):
    """A secondary store made no progress within the stall timeout."""


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

    def __init__(self, chunks: 'queue.Queue[Item]') -> None:
        self._chunks = chunks
        self._pending = _Block()
        self._done = False
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (all remaining when negative)."""
        if size is None or size < 0:
            parts: list[bytes] = []
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


def _abort_queue(chunks: 'queue.Queue[Item]',
                 empty: type[BaseException] = queue.Empty) -> None:
    """Drop the blocks waiting in ``chunks`` and queue the abort marker.

    Only the feeding side calls this, after it stopped feeding: the marker
    always finds room.

    :param empty: the ``Empty`` exception of the queue's module.
    """
    while True:
        try:
            chunks.get_nowait()
        except empty:
            break
    chunks.put_nowait(_ABORT)


def pieces(block: bytes, size: int) -> Iterator[bytes]:
    """``block`` in pieces of at most ``size`` bytes (itself when it fits).

    A queue bounded in blocks is bounded in bytes only when its blocks are:
    the primary store may read far more than ``size`` at a time.
    """
    if len(block) <= size:
        yield block
        return
    for start in range(0, len(block), size):
        yield block[start:start + size]


def _green_threads() -> bool:
    """True when ``threading`` is eventlet's (glance-api's eventlet server).

    Green threads share the process's native thread: renicing "the thread"
    would renice the whole worker, for good.
    """
    return green_logging.monkey_patched()


def _native_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """``threading`` and ``queue`` of native threads.

    The modules themselves, or eventlet's originals when they are
    monkey-patched (glance-api's eventlet server).
    """
    if _green_threads():
        from eventlet import patcher
        return patcher.original('threading'), patcher.original('queue')
    return threading, queue


#: Native thread idents of running writers (eventlet's tpool runs their
#: calls inline).
_WRITER_THREADS: set[int] = set()


def _inline_tpool() -> None:
    """Make eventlet's ``tpool.execute`` run a writer thread's calls inline.

    glance_store before 5 (release 2025.1) sends the rbd driver's image
    create and remove through ``eventlet.tpool`` when ``thread`` is
    monkey-patched. tpool hands the result back through the hub of the
    thread that set it up, so a call from another native thread (a
    writer) never returns, or sets tpool up in that thread's hub. A writer
    is a native thread already: its calls run where they are. Other
    threads keep tpool's own behaviour.
    """
    from eventlet import tpool
    original = tpool.execute
    if getattr(original, 'cms_inline_for_writers', False):
        return
    get_ident = _native_modules()[0].get_ident

    def execute(meth: Callable[P, R], *args: P.args,
                **kwargs: P.kwargs) -> R:
        if get_ident() in _WRITER_THREADS:
            return meth(*args, **kwargs)
        return original(meth, *args, **kwargs)
    execute.cms_inline_for_writers = True  # type: ignore[attr-defined]
    execute.__doc__ = original.__doc__
    tpool.execute = execute


@contextlib.contextmanager
def _writer_thread() -> Iterator[None]:
    """Mark the calling native thread as a writer while it writes."""
    ident = _native_modules()[0].get_ident()
    _WRITER_THREADS.add(ident)
    try:
        yield
    finally:
        _WRITER_THREADS.discard(ident)


def lower_priority(nice: int, native: bool = False) -> bool:
    """Raise the calling thread's nice value by ``nice``; True if done.

    On Linux a thread's nice value is its own, so the rest of the process
    keeps its priority. Elsewhere, in a green thread, or when refused,
    nothing changes.

    :param native: the caller knows it runs in a native thread of its own
        (a :class:`StoreWriter`), even in a monkey-patched process.
    """
    if nice <= 0:
        return False
    if not native and _green_threads():
        LOG.debug('Green threads: copy writer priority left as it is')
        return False
    try:
        tid = _native_modules()[0].get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(current + nice, 19))
    except (AttributeError, OSError) as exc:
        LOG.debug('Thread priority left as it is: %s', exc)
        return False
    return True


class StoreWriter(Generic[T]):
    """Write one secondary store from a queue, in a native thread of its own.

    :param store_id: the store, for logs and results.
    :param write: called with a file-like reader; returns whatever the
        store returns (kept in :attr:`result`). It must remove any partial
        data it wrote when it raises.
    :param depth: how many chunks may wait in the queue.
    :param nice: nice increment of this thread (0: none).
    :param discard: called with a result the writer produced after it was
        abandoned, to remove that data (nobody else will).
    """

    def __init__(self, store_id: str,
                 write: Callable[[QueueReader], T], depth: int,
                 nice: int = 0,
                 discard: Callable[[T], None] | None = None) -> None:
        native_threading, native_queue = _native_modules()
        #: True when the feeding side runs in green threads and must poll.
        self.green = native_threading is not threading
        if self.green:
            _inline_tpool()
            # NOTE: the writers log (this module, glance_store's drivers):
            # logging's locks must not be green locks they would wait on.
            green_logging.share_logging_locks()
        self._full = native_queue.Full
        self._empty = native_queue.Empty
        self._thread = native_threading.Thread(
            target=self.run, name='cms-writer-%s' % store_id, daemon=True)
        self.name = self._thread.name
        self.store_id = store_id
        self.nice = nice
        self.chunks: 'queue.Queue[Item]' = native_queue.Queue(maxsize=depth)
        self.reader = QueueReader(self.chunks)
        self._write = write
        self._discard = discard
        self._lock = native_threading.Lock()
        self._finished = False
        #: True once an end marker (end of data or abort) is queued.
        self.ended = False
        self.abandoned = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0

    def start(self) -> None:
        """Start the writer's thread."""
        self._thread.start()

    def is_alive(self) -> bool:
        """True while the writer's thread runs."""
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the writer's thread, at most ``timeout`` seconds.

        From a green thread, the wait lets the worker's other green
        threads run.
        """
        if not self.green:
            self._thread.join(timeout)
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._thread.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(GREEN_POLL)  # eventlet's sleep: a green yield

    def run(self) -> None:
        """The writer's thread: the store call, then draining the queue."""
        start = time.monotonic()
        lower_priority(self.nice, native=True)
        result: T | None = None
        error: BaseException | None = None
        try:
            with _writer_thread():
                result = self._write(self.reader)
        except BaseException as exc:  # reported, never raised in a thread
            error = exc
        finally:
            # NOTE: keep consuming so a failed store never blocks the tee.
            self.reader.drain()
            self.seconds = time.monotonic() - start
            with self._lock:
                self._finished = True
                orphan = result if self.abandoned else None
                if not self.abandoned:
                    self.result, self.error = result, error
        if orphan is not None:
            LOG.warning('Store %s finished a copy after it was abandoned '
                        '(%.1f s); removing it', self.store_id, self.seconds)
            if self._discard is not None:
                try:
                    with _writer_thread():
                        self._discard(orphan)
                except Exception:
                    LOG.exception('Removing the late copy in store %s '
                                  'failed', self.store_id)

    @property
    def failed(self) -> bool:
        """True when the store could not be written (or was abandoned)."""
        return self.error is not None

    def offer(self, item: Item, timeout: float | None) -> bool:
        """Queue ``item`` for the writer; abandon it when it stalls.

        :param timeout: seconds the queue may stay full; None waits forever.
        :returns: False when the writer is (now) abandoned.
        """
        if self.abandoned or self.ended:
            return False
        if not self._put(item, timeout):
            self.abandon('no progress for %s s' % timeout)
            return not self.abandoned
        if isinstance(item, _Marker):
            self.ended = True
        return True

    def cancel(self) -> None:
        """Make the writer abort now: its next read raises.

        Never waits: the blocks still queued are dropped for the abort
        marker. The store driver then removes what it wrote. Only the
        feeding side calls this, and it feeds this writer no more.
        """
        if self.ended:
            return
        self.ended = True
        _abort_queue(self.chunks, self._empty)

    def _put(self, item: Item, timeout: float | None) -> bool:
        """Queue ``item``; False when the queue stayed full ``timeout`` s."""
        if not self.green:
            try:
                self.chunks.put(item, timeout=timeout)
            except self._full:
                return False
            return True
        # NOTE: a native queue's blocking put would stop the whole green
        # worker until the writer takes a block; poll with green sleeps.
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.chunks.put_nowait(item)
                return True
            except self._full:
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(GREEN_POLL)  # eventlet's sleep: a green yield

    def abandon(self, why: str) -> bool:
        """Give up on this writer unless it already finished.

        The writer's next read raises, so the store driver removes what it
        wrote; a result that still comes is discarded. The thread itself
        ends when the store call returns.

        :returns: True when the writer was abandoned now.
        """
        with self._lock:
            if self._finished or self.abandoned:
                return False
            self.abandoned = True
            self.result = None
            self.error = CopyStalled('store %s stalled: %s'
                                     % (self.store_id, why))
        LOG.warning('Co-located copy in store %s abandoned: %s',
                    self.store_id, why)
        self.ended = True
        _abort_queue(self.chunks, self._empty)
        return True


def end_writers(writers: 'list[StoreWriter[T]]', complete: bool,
                timeout: float | None) -> None:
    """Give every started writer its end marker and wait for it.

    Whatever fails on the way, every writer is ended: one that did not get
    its end of data gets the abort marker (its store driver removes its
    partial data), and one that cannot be waited for is abandoned (a copy
    it still finishes is discarded). A writer that does not take the
    marker or does not finish within ``timeout`` is abandoned, so this
    returns in bounded time whatever the stores do.

    :param complete: True when the data is complete and the copies may be
        kept; False aborts every writer.
    :param timeout: seconds to wait for each writer; None waits forever.
    """
    try:
        if complete:
            for writer in writers:
                writer.offer(_EOF, timeout)
    finally:
        for writer in writers:
            writer.cancel()  # no-op for a writer that got its marker
    try:
        for writer in writers:
            if writer.abandoned:
                continue  # its store call may never return: no more waiting
            writer.join(timeout)
            if writer.is_alive():
                writer.abandon('not finished %s s after the end of the data'
                               % timeout)
    except BaseException:
        # NOTE: interrupted while waiting (the green thread killed): nobody
        # will look at these writers again, so a copy one of them still
        # finishes must remove itself.
        for writer in writers:
            writer.abandon('the request ended while waiting for the copy')
        raise


class TeeInput(Generic[T]):
    """A ``wsgi.input`` replacement that copies what is read to writers.

    The client's body is read in blocks of at least ``block_size`` bytes
    (Glance may ask for less at a time); each block is queued once for
    every writer and Glance is served from it, so the number of queue
    operations, thread wake-ups and copies does not depend on the chunk
    size of the primary store. A read returns as many bytes as asked for
    unless the body ends, as a file does (webob takes a short read of a
    body with a Content-Length for a client that went away).

    :param source: the original ``wsgi.input``.
    :param start: called on the first read of the body, returns the
        secondary store writers, already started. It may raise (a quota
        exceeded): the error reaches the reader, Glance.
    :param block_size: bytes read from the client at a time.
    :param stall_timeout: seconds a writer may leave its queue full (and
        take to finish after the end of the data) before it is abandoned;
        None waits forever.
    """

    def __init__(self, source: Readable,
                 start: Callable[[], list[StoreWriter[T]]],
                 block_size: int = BLOCK_SIZE,
                 stall_timeout: float | None = None) -> None:
        self._source = source
        self._start = start
        self._writers: list[StoreWriter[T]] | None = None
        self._block_size = block_size
        self._stall_timeout = stall_timeout
        self._buffer = _Block()
        self._closed = False
        self.bytes_read = 0
        #: Why the writers could not start when the body was never read.
        self.start_error: Exception | None = None

    @property
    def writers(self) -> list[StoreWriter[T]]:
        """The writers started so far (none before the first read)."""
        return list(self._writers or ())

    def _fill(self, size: int) -> bool:
        """Read the next block from the client; False at the end."""
        if self._writers is None:
            self._writers = []
            self._writers = self._start()
        block = self._source.read(max(size, self._block_size))
        if not block:
            return False
        self.bytes_read += len(block)
        for piece in pieces(block, self._block_size):
            for writer in self._writers:
                writer.offer(piece, self._stall_timeout)
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
        data = self._buffer.take(size)
        if len(data) == size:
            return data
        parts = [data]
        missing = size - len(data)
        while missing and self._fill(missing):
            part = self._buffer.take(missing)
            parts.append(part)
            missing -= len(part)
        return b''.join(parts)

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

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(64 * 1024), b'')

    def finish(self, complete: bool) -> None:
        """End the stream for every writer and wait for them.

        See :func:`end_writers`: every writer ends, in bounded time.

        :param complete: True when the whole body was read and the primary
            store accepted it; False makes every writer abort and remove
            what it wrote.
        """
        if complete and self._writers is None:
            # NOTE: Glance stored an empty body without reading it (webob
            # never reads a body of Content-Length 0): the copies are empty
            # too, and the writers start now that Glance has accepted it.
            # A start error is the copies' failure, for the caller to judge.
            self._writers = []
            try:
                self._writers = self._start()
            except Exception as exc:
                LOG.warning('Co-located copies of an empty body not '
                            'started: %s', exc)
                self.start_error = exc
        if self._closed:
            complete = False  # the markers went out already
        self._closed = True
        end_writers(self._writers or [], complete, self._stall_timeout)
