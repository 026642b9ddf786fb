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

"""What differs between the Glance releases the filter runs in (30 to 33).

- ``glance.common.wsgi`` has a module-level ``uwsgi`` (None outside uwsgi)
  before Glance 33 and ``_get_uwsgi()`` from 33.
- ``_UWSGIChunkFile.read(n)`` returns whole uwsgi chunks until it has at
  least ``n`` bytes before Glance 32 (so more than ``n``), and buffers the
  excess from 32; eventlet's ``wsgi.input`` (the ``glance-api`` server of
  Glance 30 and 31) decodes chunked bodies itself and may return less.
- glance_store 4.9 (release 2025.1) has no ``exceptions.TimeoutError``.
"""

import hashlib
import io
import os
import sys
import types

import glance_store
import pytest

from cinder_multistore.glance import fanout
from cinder_multistore.glance import glance_adapter


# -- store errors ------------------------------------------------------------

@pytest.mark.parametrize('has_timeout', [False, True],
                         ids=['glance_store-4.9', 'glance_store-5'])
def test_error_status_with_and_without_store_timeouts(monkeypatch,
                                                      has_timeout):
    class StoreTimeout(glance_store.exceptions.GlanceStoreException):
        pass
    if has_timeout:
        monkeypatch.setattr(glance_store.exceptions, 'TimeoutError',
                            StoreTimeout, raising=False)
    else:
        monkeypatch.delattr(glance_store.exceptions, 'TimeoutError',
                            raising=False)
    status = glance_adapter.GlanceAdapter.error_status
    assert status(glance_store.StorageWriteDenied()) == 503
    assert status(fanout.CopyStalled('stalled')) == 503
    assert status(glance_store.StorageFull()) == 413
    assert status(glance_store.StoreAddDisabled()) == 410
    assert status(RuntimeError('boom')) == 500
    assert status(StoreTimeout()) == (503 if has_timeout else 500)


# -- which body the filter reads ----------------------------------------------

class _ChunkFile:
    """Stands in for Glance's ``_UWSGIChunkFile``."""


def _glance_wsgi(monkeypatch, **attributes):
    """Install a ``glance.common.wsgi`` with the given shape."""
    module = types.ModuleType('glance.common.wsgi')
    module._UWSGIChunkFile = _ChunkFile
    for name, value in attributes.items():
        setattr(module, name, value)
    common = types.ModuleType('glance.common')
    common.wsgi = module
    glance = sys.modules.get('glance') or types.ModuleType('glance')
    monkeypatch.setitem(sys.modules, 'glance', glance)
    monkeypatch.setattr(glance, 'common', common, raising=False)
    monkeypatch.setitem(sys.modules, 'glance.common', common)
    monkeypatch.setitem(sys.modules, 'glance.common.wsgi', module)
    return module


UWSGI = types.SimpleNamespace(chunked_read=lambda: b'')
SHAPES = {
    'uwsgi-glance-30-32': {'uwsgi': UWSGI},
    'uwsgi-glance-33': {'_get_uwsgi': lambda: UWSGI},
    'eventlet-glance-30-31': {'uwsgi': None},
    'no-uwsgi-glance-33': {'_get_uwsgi': lambda: None},
}


@pytest.mark.parametrize('shape', sorted(SHAPES))
@pytest.mark.parametrize('encoding', ['chunked', 'Chunked', None])
def test_request_body_is_read_as_glance_reads_it(monkeypatch, shape,
                                                 encoding):
    _glance_wsgi(monkeypatch, **SHAPES[shape])
    raw = io.BytesIO(b'data')
    environ = {'wsgi.input': raw}
    if encoding:
        environ['HTTP_TRANSFER_ENCODING'] = encoding
    body = glance_adapter.GlanceAdapter.request_body(environ)
    under_uwsgi = shape.startswith('uwsgi')
    if encoding and under_uwsgi:
        assert isinstance(body, _ChunkFile)
    else:
        # eventlet.wsgi decodes the chunks of ``wsgi.input`` itself.
        assert body is raw


# -- reads longer or shorter than asked ---------------------------------------

class _OldUWSGIChunks:
    """``_UWSGIChunkFile`` before Glance 32: whole chunks until >= n."""

    def __init__(self, data, chunk):
        self._chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)]
        self.asked = []

    def read(self, length=None):
        self.asked.append(length)
        out = []
        got = 0
        while self._chunks:
            out.append(self._chunks.pop(0))
            got += len(out[-1])
            if length is not None and got >= length:
                break
        return b''.join(out)


class _ShortReads:
    """eventlet's ``wsgi.input``: at most ``n``, often less."""

    def __init__(self, data, most):
        self._data = io.BytesIO(data)
        self._most = most

    def read(self, length=-1):
        return self._data.read(min(length, self._most))


def _hash_writer(results, store):
    def write(reader):
        digest = hashlib.sha256()
        for chunk in iter(lambda: reader.read(65536), b''):
            digest.update(chunk)
        results[store] = digest.hexdigest()
        return results[store]
    return write


@pytest.mark.parametrize('source', ['uwsgi-before-32', 'eventlet'])
def test_glance_gets_exactly_what_it_asks_and_writers_get_everything(source):
    data = os.urandom(3 * (1 << 20) + 4321)
    if source == 'eventlet':
        body = _ShortReads(data, 8192 + 7)
    else:
        # uwsgi chunks of up to --chunked-input-limit: a 1 MiB read may
        # return several MiB.
        body = _OldUWSGIChunks(data, 1700000)
    results = {}
    writer = fanout.StoreWriter('beta', _hash_writer(results, 'beta'),
                                depth=2)
    writer.start()
    tee = fanout.TeeInput(body, lambda: [writer])
    sizes = []
    got = bytearray()
    for chunk in iter(lambda: tee.read(65536), b''):
        sizes.append(len(chunk))
        got += chunk
    tee.finish(complete=True)
    assert bytes(got) == data
    assert all(size == 65536 for size in sizes[:-1])
    assert results['beta'] == hashlib.sha256(data).hexdigest()
    assert not writer.failed


# -- the db api's transaction helpers -----------------------------------------

class _Glance30Session:
    """``get_session()`` of Glance 30: ``with session.begin():``."""

    def __init__(self, events):
        self.events = events

    def begin(self):
        events = self.events

        class _Transaction:
            def __enter__(self):
                events.append('begin')

            def __exit__(self, *exc):
                events.append('rollback' if exc[0] else 'commit')
        return _Transaction()


def test_write_session_on_glance_30_and_later(monkeypatch):
    import contextlib
    events = []
    glance_30 = types.SimpleNamespace(
        get_session=lambda: _Glance30Session(events))

    @contextlib.contextmanager
    def session_for_write():
        events.append('enginefacade')
        yield 'session-33'
    glance_33 = types.SimpleNamespace(session_for_write=session_for_write,
                                      get_session=None)
    with glance_adapter._write_session(glance_30) as session:
        assert isinstance(session, _Glance30Session)
    with glance_adapter._write_session(glance_33) as session:
        assert session == 'session-33'
    assert events == ['begin', 'commit', 'enginefacade']
    with pytest.raises(RuntimeError):
        with glance_adapter._write_session(glance_30):
            raise RuntimeError('boom')
    assert events[-1] == 'rollback'


def test_installed_db_api_has_the_helpers_the_adapter_calls():
    """Same names and parameters in Glance 30 to 33 (read from the source:
    importing Glance's db api here would clash with Cinder's options).
    """
    import ast
    import importlib.util
    spec = importlib.util.find_spec('glance')
    if spec is None or not spec.submodule_search_locations:
        pytest.skip('glance is not installed')
    folder = spec.submodule_search_locations[0]
    with open(os.path.join(folder, 'db', 'sqlalchemy', 'api.py')) as f:
        tree = ast.parse(f.read())
    found = {node.name: [a.arg for a in node.args.args]
             for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert 'session_for_write' in found or 'get_session' in found
    expected = {
        '_image_get': ['context', 'session', 'image_id'],
        '_image_update': ['context', 'session', 'image_id', 'values',
                          'purge_props', 'from_state'],
        '_image_location_add': ['context', 'session', 'image_id',
                                'location'],
        '_image_locations_delete_all': ['context', 'session', 'image_id'],
    }
    for name, params in expected.items():
        assert found[name][:len(params)] == params, name
    with open(os.path.join(folder, 'common', 'crypt.py')) as f:
        crypt = {node.name for node in ast.parse(f.read()).body
                 if isinstance(node, ast.FunctionDef)}
    assert {'urlsafe_encrypt', 'urlsafe_decrypt'} <= crypt
