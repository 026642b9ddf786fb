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

"""One co-located upload when starting or ending its writers fails.

A thread that cannot start, an end marker that cannot be queued: every
writer already started must still end and remove its partial data. The
failures are Python's own (``RuntimeError: can't start new thread``); the
store is a fake that records what a store driver sees.
"""

import hashlib
import io
import threading
import time
import uuid

import pytest

from cinder_multistore.glance import colocation
from cinder_multistore.glance import fanout


IMAGE = str(uuid.uuid4())
DATA = b'abcdefgh' * (1 << 18)   # 2 MiB: two blocks


class Ops:
    """The Glance operations, recording what a store driver would see."""

    def __init__(self):
        self.aborted = []
        self.removed = []
        self.registered = []
        self.reverted = False

    def write(self, context, store, image_id, reader, size, algo):
        try:
            data = reader.read()
        except fanout.UploadAborted:
            self.aborted.append(store)  # the driver removes its partial data
            raise
        return colocation.StoredCopy(
            store, 'file:///%s/%s' % (store, image_id), len(data),
            hashlib.md5(data).hexdigest(),
            hashlib.new(algo, data).hexdigest(), {'store': store})

    def remove(self, context, copy):
        self.removed.append(copy.store_id)

    def image(self, context, image_id):
        return colocation.ImageRecord(
            image_id, 'active', len(DATA), hashlib.md5(DATA).hexdigest(),
            'sha512', hashlib.sha512(DATA).hexdigest(), ('alpha',))

    def register(self, context, image_id, copies):
        self.registered.extend(c.store_id for c in copies)

    def revert_upload(self, context, image_id):
        self.reverted = True

    def enforce_copies_quota(self, context, image_id, size, copies, stored):
        pass

    @staticmethod
    def hashing_algorithm():
        return 'sha512'

    @staticmethod
    def error_status(exc):
        return 500


def _writer_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith('cms-writer-')]


def _wait_no_writers(timeout=10.0):
    deadline = time.monotonic() + timeout
    while _writer_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _writer_threads()


@pytest.fixture
def writers(monkeypatch):
    """Every StoreWriter built; any still running is released at the end."""
    built = []
    real_init = fanout.StoreWriter.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        built.append(self)
    monkeypatch.setattr(fanout.StoreWriter, '__init__', init)
    yield built
    for writer in built:
        if writer.is_alive():  # what the code under test failed to do
            fanout._abort_queue(writer.chunks)
            writer.join(10)


def _transaction(ops, required=False):
    return colocation.Colocation(
        ops, object(), IMAGE, 'alpha', ('beta', 'gamma', 'delta'),
        len(DATA), colocation.Settings(depth=2, stall_timeout=5,
                                       required=required))


def test_a_writer_that_cannot_start_stops_the_started(monkeypatch, writers):
    real_start = fanout.StoreWriter.start

    def start(self):
        if len(writers) > 1 and self is writers[1]:
            raise RuntimeError("can't start new thread")
        real_start(self)
    monkeypatch.setattr(fanout.StoreWriter, 'start', start)
    ops = Ops()
    transaction = _transaction(ops)
    body = transaction.wrap(io.BytesIO(DATA))
    with pytest.raises(RuntimeError):
        body.read(65536)       # Glance's first read starts the copies
    transaction.abort()        # Glance failed: the filter aborts
    assert _wait_no_writers() == []
    assert ops.aborted == ['beta']
    assert ops.registered == [] and ops.removed == []


def test_a_failed_end_of_data_still_ends_every_writer(monkeypatch, writers):
    real_offer = fanout.StoreWriter.offer

    def offer(self, item, timeout):
        if item is fanout._EOF and self is writers[0]:
            raise RuntimeError('interrupted')
        return real_offer(self, item, timeout)
    monkeypatch.setattr(fanout.StoreWriter, 'offer', offer)
    ops = Ops()
    transaction = _transaction(ops)
    body = transaction.wrap(io.BytesIO(DATA))
    assert body.read() == DATA
    outcome = transaction.settle()       # never raises
    assert _wait_no_writers() == []
    assert outcome.written == ('alpha',)
    assert sorted(outcome.failed) == ['beta', 'delta', 'gamma']
    assert 'beta' in ops.aborted
    # A copy that got its end of data is removed, not registered.
    assert ops.registered == []
    assert sorted(ops.aborted + ops.removed) == ['beta', 'delta', 'gamma']


def test_a_failed_end_of_data_fails_required_copies(monkeypatch, writers):
    def offer(self, item, timeout):
        raise RuntimeError('interrupted')
    ops = Ops()
    transaction = _transaction(ops, required=True)
    body = transaction.wrap(io.BytesIO(DATA))
    assert body.read() == DATA
    monkeypatch.setattr(fanout.StoreWriter, 'offer', offer)
    outcome = transaction.settle()
    assert _wait_no_writers() == []
    assert outcome.refusal is not None and outcome.refusal[0] == 500
    assert ops.reverted and ops.registered == []
    assert sorted(ops.aborted) == ['beta', 'delta', 'gamma']


def test_an_abort_that_fails_part_way_still_ends_every_writer(monkeypatch,
                                                              writers):
    ops = Ops()
    transaction = _transaction(ops)
    body = transaction.wrap(io.BytesIO(DATA))
    body.read(65536)
    real_join = fanout.StoreWriter.join

    def join(self, timeout=None):
        if self is writers[0]:
            raise RuntimeError('interrupted')
        return real_join(self, timeout)
    monkeypatch.setattr(fanout.StoreWriter, 'join', join)
    with pytest.raises(RuntimeError):
        transaction.abort()
    assert _wait_no_writers() == []
    assert sorted(ops.aborted) == ['beta', 'delta', 'gamma']
    assert ops.registered == []


def test_the_copies_are_named_after_glances_id():
    class Canonical(Ops):
        def image(self, context, image_id):
            return super().image(context, image_id.lower())
    ops = Canonical()
    transaction = colocation.Colocation(
        ops, object(), IMAGE.upper(), 'alpha', ('beta',), len(DATA),
        colocation.Settings())
    body = transaction.wrap(io.BytesIO(DATA))
    assert body.read() == DATA
    outcome = transaction.settle()
    assert outcome.written == ('alpha', 'beta')
    assert transaction.image_id == IMAGE
    assert body.writers[0].result.url == 'file:///beta/%s' % IMAGE
