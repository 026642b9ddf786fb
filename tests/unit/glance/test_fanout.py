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

"""The stream fan-out: one read, many writers, bounded memory."""

import hashlib
import io
import os
import sys
import threading
import time

import pytest

from cinder_multistore.glance import fanout


def _hash_writer(results, store):
    def write(reader):
        digest = hashlib.sha256()
        while True:
            chunk = reader.read(7777)
            if not chunk:
                break
            digest.update(chunk)
        results[store] = digest.hexdigest()
        return results[store]
    return write


def test_every_writer_gets_identical_bytes():
    data = os.urandom(3 * 1024 * 1024 + 17)
    results = {}
    writers = [fanout.StoreWriter(s, _hash_writer(results, s), depth=2)
               for s in ('b', 'c')]
    for w in writers:
        w.start()
    tee = fanout.TeeInput(io.BytesIO(data), lambda: writers)
    primary = hashlib.sha256()
    for chunk in iter(lambda: tee.read(65536), b''):
        primary.update(chunk)
    tee.finish(complete=True)
    assert results == {'b': primary.hexdigest(), 'c': primary.hexdigest()}
    assert tee.bytes_read == len(data)
    assert not any(w.failed for w in writers)


def test_failing_writer_does_not_block_the_stream():
    def broken(reader):
        reader.read(10)
        raise OSError(28, 'No space left on device')

    results = {}
    writers = [fanout.StoreWriter('full', broken, depth=1),
               fanout.StoreWriter('ok', _hash_writer(results, 'ok'), depth=1)]
    for w in writers:
        w.start()
    tee = fanout.TeeInput(io.BytesIO(b'x' * (1 << 20)), lambda: writers)
    while tee.read(4096):
        pass
    tee.finish(complete=True)
    assert writers[0].failed and isinstance(writers[0].error, OSError)
    assert not writers[1].failed
    assert results['ok'] == hashlib.sha256(b'x' * (1 << 20)).hexdigest()


def test_abort_makes_writers_raise():
    seen = []

    def write(reader):
        try:
            while reader.read(100):
                pass
        except fanout.UploadAborted as exc:
            seen.append(exc)
            raise

    writer = fanout.StoreWriter('b', write, depth=4)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(b'abc' * 100), lambda: [writer])
    tee.read(50)
    tee.finish(complete=False)
    assert writer.failed and seen


def test_queue_is_bounded():
    gate = threading.Event()

    def slow(reader):
        gate.wait(5)
        while reader.read(1 << 16):
            pass

    writer = fanout.StoreWriter('slow', slow, depth=3)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(b'z' * (1 << 20)), lambda: [writer],
                          block_size=1024)
    reads = []

    def reader():
        while tee.read(1024):
            reads.append(1)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(0.5)
    # The reader stalls once the queue is full: depth chunks + one in hand.
    assert len(reads) <= 4
    gate.set()
    t.join(5)
    tee.finish(complete=True)
    assert len(reads) == 1024


@pytest.mark.parametrize('size', [0, 1, 5, 100])
def test_queue_reader_honours_size(size):
    import queue
    q = queue.Queue()
    for part in (b'hello', b'world'):
        q.put(part)
    q.put(fanout._EOF)
    reader = fanout.QueueReader(q)
    if size == 0:
        assert reader.read(0) == b''
        return
    out = b''
    while True:
        chunk = reader.read(size)
        if not chunk:
            break
        assert len(chunk) <= size
        out += chunk
    assert out == b'helloworld'


class _CountingQueue:
    """Wraps a writer's queue to count the blocks put on it."""

    def __init__(self, inner):
        self.inner = inner
        self.puts = 0

    def put(self, item, timeout=None):
        self.puts += 1
        self.inner.put(item, timeout=timeout)

    def get(self):
        return self.inner.get()


def test_client_is_read_in_blocks_whatever_glance_asks():
    data = os.urandom((1 << 20) * 3 + 5)
    results = {}
    writer = fanout.StoreWriter('b', _hash_writer(results, 'b'), depth=2)
    writer.chunks = counting = _CountingQueue(writer.chunks)
    writer.reader._chunks = counting
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(data), lambda: [writer],
                          block_size=1 << 20)
    got = b''.join(iter(lambda: tee.read(65536), b''))
    tee.finish(complete=True)
    assert got == data
    assert results['b'] == hashlib.sha256(data).hexdigest()
    # 4 blocks and the end marker, not one put per 64 KiB read.
    assert counting.puts == 5


def test_whole_blocks_are_not_copied():
    block = os.urandom(1 << 16)

    class Source:
        def read(self, size):
            return block

    tee = fanout.TeeInput(Source(), lambda: [], block_size=1 << 16)
    assert tee.read(1 << 16) is block
    import queue
    q = queue.Queue()
    q.put(block)
    q.put(fanout._EOF)
    assert fanout.QueueReader(q).read(1 << 20) is block


def test_read_all_and_readline_through_the_tee():
    data = b'first line\nsecond line\n' + b'x' * 5000 + b'\nend'
    results = {}
    writer = fanout.StoreWriter('b', _hash_writer(results, 'b'), depth=8)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(data), lambda: [writer], block_size=7)
    assert tee.readline() == b'first line\n'
    assert tee.readline(3) == b'sec'
    assert tee.readline() == b'ond line\n'
    rest = tee.read()
    tee.finish(complete=True)
    assert rest == b'x' * 5000 + b'\nend'
    assert results['b'] == hashlib.sha256(data).hexdigest()


def _priority():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.parametrize('nice', [0, 3])
def test_writer_thread_alone_runs_at_lower_priority(nice):
    before = _priority()
    seen = []

    def write(reader):
        seen.append(_priority())
        return reader.read()
    writer = fanout.StoreWriter('beta', write, depth=2, nice=nice)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(b'x' * 10), lambda: [writer])
    assert tee.read() == b'x' * 10
    tee.finish(complete=True)
    writer.join()
    assert writer.result == b'x' * 10
    assert seen == [min(before + nice, 19)]
    assert _priority() == before


def test_lower_priority_refused_changes_nothing(monkeypatch):
    def refuse(*args):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(os, 'setpriority', refuse)
    assert fanout.lower_priority(5) is False
    assert fanout.lower_priority(0) is False


def test_reads_are_never_short_before_the_end():
    # webob's LimitedLengthFile takes a short read for a client that went
    # away; a store chunk size that does not divide the block size (e.g.
    # filesystem_store_chunk_size = 100000) must get full reads.
    data = os.urandom((1 << 20) * 2 + 12345)
    tee = fanout.TeeInput(io.BytesIO(data), lambda: [])
    sizes = []
    got = b''
    while True:
        chunk = tee.read(100000)
        if not chunk:
            break
        sizes.append(len(chunk))
        got += chunk
    assert got == data
    assert all(size == 100000 for size in sizes[:-1])


def test_the_writers_start_on_the_first_read_only():
    started = []
    tee = fanout.TeeInput(io.BytesIO(b'abc'), lambda: started.append(1) or [])
    assert started == [] and tee.writers == []
    tee.finish(complete=False)
    assert started == []
    tee.read(1)
    assert started == [1]


def test_a_start_error_reaches_the_reader():
    def over_quota():
        raise RuntimeError('quota')
    tee = fanout.TeeInput(io.BytesIO(b'abc'), over_quota)
    with pytest.raises(RuntimeError):
        tee.read(3)
    tee.finish(complete=False)


def test_a_stalled_writer_is_abandoned_and_its_late_copy_discarded():
    release = threading.Event()
    discarded = []

    def stuck(reader):
        release.wait(30)          # the store does not answer
        return 'late-copy'        # ... and then finishes after all
    writer = fanout.StoreWriter('stuck', stuck, depth=1,
                                discard=discarded.append)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(b'x' * (5 << 20)), lambda: [writer],
                          stall_timeout=0.3)
    began = time.monotonic()
    assert len(tee.read()) == 5 << 20
    tee.finish(complete=True)
    assert time.monotonic() - began < 10
    assert writer.abandoned and isinstance(writer.error, fanout.CopyStalled)
    assert writer.result is None
    release.set()
    writer.join(10)
    assert not writer.is_alive()
    assert discarded == ['late-copy']
    assert writer.result is None


def test_an_abandoned_writer_sees_an_abort_on_its_next_read():
    gate = threading.Event()
    seen = []

    def slow_reader(reader):
        gate.wait(30)
        try:
            while reader.read(1 << 20):
                pass
        except fanout.UploadAborted:
            seen.append('aborted')
            raise
    writer = fanout.StoreWriter('slow', slow_reader, depth=1)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(b'y' * (4 << 20)), lambda: [writer],
                          stall_timeout=0.2)
    tee.read()
    tee.finish(complete=True)
    gate.set()
    writer.join(10)
    assert seen == ['aborted']


def test_green_threads_are_never_reniced(monkeypatch):
    class Patcher:  # eventlet.patcher's question, answered as under eventlet
        @staticmethod
        def is_monkey_patched(module):
            return module == 'thread'
    monkeypatch.setitem(sys.modules, 'eventlet.patcher', Patcher)
    tid = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, tid)
    assert fanout.lower_priority(5) is False
    assert os.getpriority(os.PRIO_PROCESS, tid) == before


def test_an_abandoned_writer_is_not_waited_for_again():
    release = threading.Event()
    writer = fanout.StoreWriter('stuck', lambda reader: release.wait(30),
                                depth=1)
    joins = []
    writer.join = lambda timeout=None: joins.append(timeout)
    writer.start()
    tee = fanout.TeeInput(io.BytesIO(b'z' * (3 << 20)), lambda: [writer],
                          stall_timeout=0.2)
    tee.read()                      # the writer is abandoned here
    tee.finish(complete=True)       # its store call may never return
    release.set()
    assert writer.abandoned
    assert joins == []


def test_an_unread_empty_body_still_makes_empty_copies():
    # webob never reads a body of Content-Length 0: Glance stores an empty
    # image without a read, and the secondaries must get it too.
    results = {}
    writer = fanout.StoreWriter('beta', _hash_writer(results, 'beta'),
                                depth=2)

    def start():
        writer.start()
        return [writer]
    tee = fanout.TeeInput(io.BytesIO(b''), start)
    tee.finish(complete=True)
    assert tee.writers == [writer]
    assert not writer.is_alive() and not writer.failed
    assert results['beta'] == hashlib.sha256(b'').hexdigest()


def test_a_stalled_writer_holds_at_most_depth_mib_whatever_glance_reads():
    # An rbd primary reads 8 MiB at a time; the queue of a stalled
    # secondary must still hold about ``depth`` MiB, not depth x 8 MiB.
    gate = threading.Event()
    results = {}

    def stalled(reader):
        gate.wait(30)
        return _hash_writer(results, 'slow')(reader)
    writer = fanout.StoreWriter('slow', stalled, depth=4)
    writer.start()
    data = os.urandom(48 << 20)
    tee = fanout.TeeInput(io.BytesIO(data), lambda: [writer])
    primary = hashlib.sha256()

    def glance():
        for chunk in iter(lambda: tee.read(8 << 20), b''):
            primary.update(chunk)
    reader = threading.Thread(target=glance, daemon=True)
    reader.start()
    waiting = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with writer.chunks.mutex:
                waiting.append(sum(len(item) for item in writer.chunks.queue
                                   if isinstance(item, bytes)))
            if writer.chunks.full():
                time.sleep(0.2)  # the feeder is blocked: nothing more comes
                with writer.chunks.mutex:
                    waiting.append(sum(len(item)
                                       for item in writer.chunks.queue
                                       if isinstance(item, bytes)))
                break
            time.sleep(0.005)
    finally:
        gate.set()
    reader.join(30)
    tee.finish(complete=True)
    assert writer.chunks.maxsize == 4
    assert max(waiting) <= (4 << 20) + fanout.BLOCK_SIZE, max(waiting)
    assert results['slow'] == primary.hexdigest() == hashlib.sha256(
        data).hexdigest()


def test_pieces_share_a_block_that_fits():
    block = b'x' * 10
    assert list(fanout.pieces(block, 10))[0] is block
    assert list(fanout.pieces(b'abcdefg', 3)) == [b'abc', b'def', b'g']
