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

"""The filter's branches that a real Glance cannot easily reach.

The live behaviour is in tests/functional; here a fake Glance app and a
fake adapter stand in for failures half-way through a write and for the
mandatory co-location option. Store errors are glance_store's own types.
"""

import hashlib
import io
import json
import logging
import os
import threading
import uuid

import glance_store
from oslo_config import cfg
import pytest
import webob

from cinder_multistore.glance import glance_adapter
from cinder_multistore.glance import middleware
from cinder_multistore import placement


BASE = str(uuid.uuid4())
IMAGE = str(uuid.uuid4())
DATA = b'0123456789' * 100000
CATALOG = placement.Catalog(
    (placement.StoreInfo('alpha'), placement.StoreInfo('beta'),
     placement.StoreInfo('gamma'), placement.StoreInfo('web', True),
     placement.StoreInfo('os_glance_staging_store')), 'alpha')


class FakeGlance:
    """Reads the whole body like Glance does and remembers the store."""

    def __init__(self, status=204):
        self.status = status
        self.calls = []

    def __call__(self, environ, start_response):
        body = environ['wsgi.input']
        data = b''
        while True:
            chunk = body.read(65536)
            if not chunk:
                break
            data += chunk
        self.calls.append((environ.get('HTTP_X_IMAGE_META_STORE'), data))
        start_response('%d Status' % self.status, [])
        return [b'']


class FakeAdapter:
    def __init__(self, fail=None):
        self.fail = fail or {}
        self.copies = {}
        self.removed = []
        self.registered = []
        self.reverted = False
        self.algorithms = []

    @staticmethod
    def request_body(environ):
        return environ['wsgi.input']

    def multi_store_enabled(self):
        return True

    def catalog(self):
        return CATALOG

    def base_image(self, context, image_id):
        if image_id == BASE:
            return placement.BaseImage(BASE, 'active', ('beta', 'gamma'))
        return None

    def image(self, context, image_id):
        return glance_adapter.ImageRecord(
            image_id, 'active', len(DATA), hashlib.md5(DATA).hexdigest(),
            'sha512', hashlib.sha512(DATA).hexdigest(), ('beta',))

    @staticmethod
    def hashing_algorithm():
        return 'sha512'

    def write(self, context, store, image_id, reader, size, hashing_algo):
        data = reader.read()
        if store in self.fail:
            raise self.fail[store]
        self.algorithms.append(hashing_algo)
        copy = glance_adapter.StoredCopy(
            store, 'file:///%s/%s' % (store, image_id), len(data),
            hashlib.md5(data).hexdigest(),
            hashlib.new(hashing_algo, data).hexdigest(), {'store': store})
        self.copies[store] = copy
        return copy

    def remove(self, context, copy):
        self.removed.append(copy.store_id)

    def register(self, context, image_id, copies):
        self.registered.extend(c.store_id for c in copies)

    def revert_upload(self, context, image_id):
        self.reverted = True

    def enforce_copies_quota(self, context, image_id, size, copies,
                             stored):
        self.quota_checks = getattr(self, 'quota_checks', [])
        self.quota_checks.append((size, copies, stored))

    error_status = staticmethod(glance_adapter.GlanceAdapter.error_status)


def _filter(app, adapter, **local_conf):
    conf = cfg.ConfigOpts()
    filt = middleware.MultiStoreFilter(app, conf, adapter=adapter)
    for name, value in local_conf.items():
        conf.set_override(name, value, group='multistore_filter')
    return filt


def _put(filt, headers, data=DATA):
    req = webob.Request.blank('/v2/images/%s/file' % IMAGE, method='PUT',
                              headers=headers)
    req.body_file = io.BytesIO(data)
    req.content_length = len(data)
    req.context = object()
    return req.get_response(filt)


def test_other_requests_pass_through():
    app = FakeGlance(200)
    filt = _filter(app, FakeAdapter())
    req = webob.Request.blank('/v2/images/%s' % IMAGE)
    req.context = object()
    assert req.get_response(filt).status_int == 200
    assert app.calls


def test_rejection_reads_nothing():
    app = FakeGlance()
    filt = _filter(app, FakeAdapter())
    resp = _put(filt, {'x-image-meta-store': 'os_glance_staging_store'})
    assert resp.status_int == 400
    assert b'os_glance_staging_store' in resp.body
    assert app.calls == []


def test_colocation_writes_every_store():
    app, adapter = FakeGlance(), FakeAdapter()
    resp = _put(_filter(app, adapter), {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert app.calls == [('beta', DATA)]
    assert adapter.registered == ['gamma']
    assert resp.headers[middleware.WRITTEN_HEADER] == 'beta,gamma'
    assert middleware.FAILED_HEADER not in resp.headers


def test_failed_secondary_is_reported_not_fatal():
    adapter = FakeAdapter({'gamma': glance_store.StorageFull()})
    resp = _put(_filter(FakeGlance(), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert resp.headers[middleware.WRITTEN_HEADER] == 'beta'
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.registered == []
    assert not adapter.reverted


def test_required_colocation_fails_and_reverts():
    adapter = FakeAdapter({'gamma': glance_store.StorageFull()})
    resp = _put(_filter(FakeGlance(), adapter, colocation_required=True),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 413
    assert b'gamma' in resp.body
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.reverted
    assert adapter.registered == []


def test_primary_failure_discards_secondaries():
    adapter = FakeAdapter()
    resp = _put(_filter(FakeGlance(500), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 500
    assert adapter.registered == []
    # The secondary's reader raised UploadAborted: the store driver saw an
    # error mid-write and kept nothing.
    assert adapter.copies == {}


def test_copy_that_differs_is_removed():
    class Corrupting(FakeAdapter):
        def write(self, context, store, image_id, reader, size, algo):
            copy = super().write(context, store, image_id, reader, size,
                                 algo)
            return glance_adapter.StoredCopy(
                copy.store_id, copy.url, copy.size, 'bad', copy.multihash,
                copy.metadata)
    adapter = Corrupting()
    resp = _put(_filter(FakeGlance(), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.removed == ['gamma']


def test_copies_hash_with_the_cheap_algorithm_by_default():
    adapter = FakeAdapter()
    resp = _put(_filter(FakeGlance(), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert adapter.algorithms == ['sha1']
    assert adapter.registered == ['gamma']


@pytest.mark.parametrize('algorithm,kept', [('sha512', False),
                                            ('sha256', True)])
def test_multihash_compared_only_with_glances_algorithm(algorithm, kept):
    class WrongMultihash(FakeAdapter):
        def write(self, context, store, image_id, reader, size, algo):
            copy = super().write(context, store, image_id, reader, size,
                                 algo)
            return glance_adapter.StoredCopy(
                copy.store_id, copy.url, copy.size, copy.checksum, 'bad',
                copy.metadata)
    adapter = WrongMultihash()
    resp = _put(_filter(FakeGlance(), adapter,
                        copy_hash_algorithm=algorithm),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert adapter.algorithms == [algorithm]
    assert adapter.registered == (['gamma'] if kept else [])


def test_colocation_can_be_disabled():
    app, adapter = FakeGlance(), FakeAdapter()
    resp = _put(_filter(app, adapter, colocation=False),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert app.calls == [('alpha', DATA)]


def test_import_body_store_rejected():
    app = FakeGlance(202)
    filt = _filter(app, FakeAdapter())
    req = webob.Request.blank('/v2/images/%s/import' % IMAGE, method='POST',
                              json={'method': {'name': 'glance-direct'},
                                    'stores': ['alpha', 'web']})
    req.context = object()
    resp = req.get_response(filt)
    assert resp.status_int == 400 and b"'web'" in resp.body
    assert app.calls == []


def test_import_colocation_rewrites_body():
    seen = {}

    def app(environ, start_response):
        seen['body'] = webob.Request(environ).json
        seen['store'] = environ.get('HTTP_X_IMAGE_META_STORE')
        start_response('202 Accepted', [])
        return [b'']
    filt = _filter(app, FakeAdapter())
    req = webob.Request.blank('/v2/images/%s/import' % IMAGE, method='POST',
                              json={'method': {'name': 'glance-direct'}},
                              headers={'x-openstack-base-image-ref': BASE})
    req.context = object()
    assert req.get_response(filt).status_int == 202
    assert seen['body']['stores'] == ['beta', 'gamma']
    assert seen['store'] is None


@pytest.mark.parametrize('nice', [None, 0, 7])
def test_copy_writers_run_at_the_configured_nice(nice):
    class Recording(FakeAdapter):
        def write(self, context, store, image_id, reader, size, algo):
            self.priorities = getattr(self, 'priorities', [])
            self.priorities.append(os.getpriority(
                os.PRIO_PROCESS, threading.get_native_id()))
            return super().write(context, store, image_id, reader, size,
                                 algo)
    adapter = Recording()
    options = {} if nice is None else {'copy_writer_nice': nice}
    resp = _put(_filter(FakeGlance(), adapter, **options),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    step = 5 if nice is None else nice
    assert adapter.priorities == [min(own + step, 19)]


# -- regression tests: each failed before the fix it names ---------------


class GlanceLike(FakeGlance):
    """Answers store and quota errors from the body as Glance does."""

    def __call__(self, environ, start_response):
        try:
            return super().__call__(environ, start_response)
        except Exception as exc:
            from glance.common import exception as glance_exc
            status = 413 if isinstance(exc, (glance_exc.StorageQuotaFull,
                                             glance_exc.LimitExceeded)) \
                else 500
            self.errors = getattr(self, 'errors', []) + [exc]
            start_response('%d Error' % status, [])
            return [b'']


def test_nothing_is_written_for_a_request_glance_refuses():
    class Refusing:
        def __call__(self, environ, start_response):
            start_response('403 Forbidden', [])  # reads no byte
            return [b'']

    class Recording(FakeAdapter):
        def write(self, *args):
            self.writes = getattr(self, 'writes', 0) + 1
            return super().write(*args)
    adapter = Recording()
    before = threading.active_count()
    resp = _put(_filter(Refusing(), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 403
    assert not hasattr(adapter, 'writes')
    assert adapter.copies == {} and adapter.removed == []
    assert threading.active_count() == before


def test_a_stalled_secondary_is_dropped_within_the_timeout():
    release = threading.Event()

    class Stalling(FakeAdapter):
        def write(self, context, store, image_id, reader, size, algo):
            if store == 'gamma':
                release.wait(30)  # a store that does not answer
            return super().write(context, store, image_id, reader, size,
                                 algo)
    adapter = Stalling()
    data = os.urandom(12 << 20)   # more than buffer_chunks blocks
    try:
        resp = _put(_filter(FakeGlance(), adapter, copy_stall_timeout=1,
                            buffer_chunks=2),
                    {'x-openstack-base-image-ref': BASE}, data)
    finally:
        release.set()
    assert resp.status_int == 204
    assert resp.headers[middleware.WRITTEN_HEADER] == 'beta'
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.registered == []


def test_a_stalled_secondary_fails_a_required_colocation_cleanly():
    release = threading.Event()

    class Stalling(FakeAdapter):
        def write(self, context, store, image_id, reader, size, algo):
            release.wait(30)
            return super().write(context, store, image_id, reader, size,
                                 algo)
    adapter = Stalling()
    try:
        resp = _put(_filter(FakeGlance(), adapter, copy_stall_timeout=1,
                            colocation_required=True),
                    {'x-openstack-base-image-ref': BASE})
    finally:
        release.set()
    assert resp.status_int == 503
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.reverted


def test_copies_over_quota_are_refused_before_reading():
    from glance.common import exception as glance_exc

    class OverQuota(FakeAdapter):
        def enforce_copies_quota(self, context, image_id, size, copies,
                                 stored):
            super().enforce_copies_quota(context, image_id, size, copies,
                                         stored)
            raise glance_exc.StorageQuotaFull(image_size=size, remaining=1)
    adapter = OverQuota()
    app = GlanceLike()
    resp = _put(_filter(app, adapter), {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 413
    assert adapter.quota_checks == [(len(DATA), 1, False)]
    assert adapter.copies == {} and adapter.registered == []


def test_copies_over_quota_after_the_upload_undo_everything():
    from glance.common import exception as glance_exc

    class OverQuotaAfter(FakeAdapter):
        def enforce_copies_quota(self, context, image_id, size, copies,
                                 stored):
            if stored:
                raise glance_exc.StorageQuotaFull(image_size=size,
                                                  remaining=1)
    adapter = OverQuotaAfter()
    resp = _put(_filter(FakeGlance(), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 413
    assert b'quota' in resp.body
    assert adapter.removed == ['gamma'] and adapter.registered == []
    assert adapter.reverted


def test_settle_survives_an_exception_and_removes_the_copies():
    class Broken(FakeAdapter):
        looks = 0

        def image(self, context, image_id):
            self.looks += 1
            if self.looks > 1:  # after the copies started
                raise RuntimeError('database went away')
            return super().image(context, image_id)
    adapter = Broken()
    resp = _put(_filter(FakeGlance(), adapter),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 204
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.removed == ['gamma'] and adapter.registered == []


def test_failed_registration_fails_a_required_colocation():
    class NoRegister(FakeAdapter):
        def register(self, context, image_id, copies):
            raise RuntimeError('conflict')
    adapter = NoRegister()
    resp = _put(_filter(FakeGlance(), adapter, colocation_required=True),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 500
    assert adapter.removed == ['gamma'] and adapter.reverted


def test_request_body_failure_leaks_no_writer():
    class NoBody(FakeAdapter):
        @staticmethod
        def request_body(environ):
            raise OSError('uwsgi chunked read unavailable')
    adapter = NoBody()
    before = threading.active_count()
    with pytest.raises(OSError):
        _put(_filter(FakeGlance(), adapter),
             {'x-openstack-base-image-ref': BASE})
    assert threading.active_count() == before
    assert adapter.copies == {}


def test_required_error_does_not_echo_driver_text():
    adapter = FakeAdapter({'gamma': glance_store.StorageFull(
        message='No space left on /var/lib/glance/gamma/secret')})
    resp = _put(_filter(FakeGlance(), adapter, colocation_required=True),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 413
    assert b'/var/lib' not in resp.body


def test_write_denied_is_a_503_like_glance():
    adapter = FakeAdapter({'gamma': glance_store.StorageWriteDenied()})
    resp = _put(_filter(FakeGlance(), adapter, colocation_required=True),
                {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 503


def test_an_oversized_store_header_is_not_echoed_whole():
    resp = _put(_filter(FakeGlance(), FakeAdapter()),
                {'x-image-meta-store': 'x' * 5000})
    assert resp.status_int == 400
    assert len(resp.body) < 1000


def test_copies_get_glances_size_hint_first():
    class Sizes(FakeAdapter):
        def write(self, context, store, image_id, reader, size, algo):
            self.size = size
            return super().write(context, store, image_id, reader, size,
                                 algo)
    adapter = Sizes()
    resp = _put(_filter(FakeGlance(), adapter),
                {'x-openstack-base-image-ref': BASE,
                 'x-openstack-image-size': str(len(DATA) + 1)})
    assert resp.status_int == 204
    assert adapter.size == len(DATA) + 1


@pytest.mark.parametrize('required,given,sent', [
    (False, None, False), (True, None, True), (False, True, True)])
def test_import_colocation_is_best_effort_unless_required(required, given,
                                                          sent):
    seen = {}

    def app(environ, start_response):
        seen['body'] = webob.Request(environ).json
        start_response('202 Accepted', [])
        return [b'']
    body = {'method': {'name': 'glance-direct'}}
    if given is not None:
        body['all_stores_must_succeed'] = given
    filt = _filter(app, FakeAdapter(), colocation_required=required)
    req = webob.Request.blank('/v2/images/%s/import' % IMAGE, method='POST',
                              json=body,
                              headers={'x-openstack-base-image-ref': BASE})
    req.context = object()
    assert req.get_response(filt).status_int == 202
    assert seen['body']['all_stores_must_succeed'] is sent


@pytest.mark.parametrize('body,message', [
    (['glance-direct'], b'Import request body must be a JSON object.'),
    ({'method': 'glance-direct'},
     b"Import request 'method' field must be an object."),
    ({'method': None}, b"Import request 'method' field must be an object."),
    ({'method': ['glance-direct']},
     b"Import request 'method' field must be an object."),
    ({'method': 7}, b"Import request 'method' field must be an object."),
    ({'method': 'glance-direct', 'stores': ['beta']},
     b"Import request 'method' field must be an object."),
    ({'method': {'name': 5}}, b"Import request 'name' field must be a "
                              b"string."),
    ({'method': {'name': 'glance-direct'}, 'stores': 'alpha'},
     b"Import request 'stores' field must be a list."),
    ({'method': {'name': 'glance-direct'}, 'stores': None},
     b"Import request 'stores' field must be a list.")])
def test_import_bodies_glance_fails_on_get_a_400_naming_the_field(body,
                                                                  message):
    # Glance 33 answers 500 for most of these (TypeError, AttributeError
    # in its own validation).
    app = FakeGlance(500)
    filt = _filter(app, FakeAdapter())
    req = webob.Request.blank('/v2/images/%s/import' % IMAGE, method='POST',
                              json=body,
                              headers={'x-openstack-base-image-ref': BASE})
    req.context = object()
    resp = req.get_response(filt)
    assert resp.status_int == 400
    assert message in resp.body
    assert app.calls == []


@pytest.mark.parametrize('body', [{}, {'method': {}},
                                  {'method': {'name': 'bogus'}},
                                  {'method': {'name': 'glance-direct'},
                                   'all_stores': 'yes'}])
def test_import_bodies_glance_answers_itself_go_to_glance(body):
    app = FakeGlance(400)
    filt = _filter(app, FakeAdapter())
    req = webob.Request.blank('/v2/images/%s/import' % IMAGE, method='POST',
                              json=body)
    req.context = object()
    assert req.get_response(filt).status_int == 400
    assert len(app.calls) == 1


def test_the_adapter_and_the_fake_speak_the_same_protocol():
    from cinder_multistore.glance import colocation
    assert issubclass(glance_adapter.GlanceAdapter, colocation.GlanceOps)
    assert isinstance(FakeAdapter(), colocation.GlanceOps)


@pytest.mark.parametrize('body,named', [
    ({'method': 'glance-direct', 'stores': ['web']}, b"'web'"),
    ({'method': {'name': 'glance-direct'}, 'stores': [None]}, b"'None'"),
    ({'method': {'name': 'glance-direct'}, 'stores': ['alpha', 1]}, b"'1'")])
def test_a_refused_store_is_refused_whatever_the_body_looks_like(body,
                                                                 named):
    app = FakeGlance(500)
    filt = _filter(app, FakeAdapter())
    req = webob.Request.blank('/v2/images/%s/import' % IMAGE, method='POST',
                              json=body)
    req.context = object()
    resp = req.get_response(filt)
    assert resp.status_int == 400 and named in resp.body
    assert app.calls == []


class RecordingGlance:
    """Answers imports; remembers the request as Glance would read it."""

    def __init__(self, status=202):
        self.status = status
        self.seen = []

    def __call__(self, environ, start_response):
        req = webob.Request(environ)
        self.seen.append({
            'body': req.body,
            'content_length': req.content_length,
            'chunked': 'HTTP_TRANSFER_ENCODING' in environ,
            'store': environ.get('HTTP_X_IMAGE_META_STORE')})
        start_response('%d Status' % self.status, [])
        return [b'']


def _import(filt, body, headers=None, chunked=False, image=IMAGE):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = webob.Request.blank('/v2/images/%s/import' % image, method='POST',
                              headers=dict(headers or {}))
    req.content_type = 'application/json'
    req.environ['wsgi.input'] = io.BytesIO(raw)
    if chunked:
        # A chunked body as uwsgi or eventlet hand it over: no length.
        req.environ.pop('CONTENT_LENGTH', None)
        req.environ.pop('wsgi.input_terminated', None)
        req.environ['HTTP_TRANSFER_ENCODING'] = 'chunked'
    else:
        req.environ['CONTENT_LENGTH'] = str(len(raw))
    req.context = object()
    return req.get_response(filt)


def test_a_chunked_import_body_is_checked():
    app = RecordingGlance()
    resp = _import(_filter(app, FakeAdapter()),
                   {'method': {'name': 'glance-direct'},
                    'stores': ['os_glance_staging_store']}, chunked=True)
    assert resp.status_int == 400
    assert b'os_glance_staging_store' in resp.body
    assert app.seen == []


def test_a_chunked_colocated_import_keeps_its_method():
    app = RecordingGlance()
    resp = _import(_filter(app, FakeAdapter()),
                   {'method': {'name': 'glance-direct'}},
                   {'x-openstack-base-image-ref': BASE}, chunked=True)
    assert resp.status_int == 202
    [seen] = app.seen
    assert json.loads(seen['body']) == {
        'method': {'name': 'glance-direct'}, 'stores': ['beta', 'gamma'],
        'all_stores_must_succeed': False}
    assert seen['content_length'] == len(seen['body'])
    assert not seen['chunked']


def test_a_chunked_import_body_reaches_glance_whole():
    app = RecordingGlance()
    body = {'method': {'name': 'web-download',
                       'uri': 'http://x/' + 'a' * 90000},
            'stores': ['alpha']}
    resp = _import(_filter(app, FakeAdapter()), body, chunked=True)
    assert resp.status_int == 202
    assert json.loads(app.seen[0]['body']) == body


def _location_quota():
    from glance.common import exception as glance_exc
    return glance_exc.ImageLocationLimitExceeded(attempted=3, maximum=2)


@pytest.mark.parametrize('required', [False, True])
@pytest.mark.parametrize('error,status', [
    (lambda: RuntimeError("can't start new thread"), 500),
    (_location_quota, 413)])
def test_an_empty_body_whose_copies_cannot_start(required, error, status):
    # webob never reads a body of Content-Length 0: the copies start after
    # Glance's 204, and a start error must count as for any other body.
    class Unread:
        def __call__(self, environ, start_response):
            start_response('204 No Content', [])
            return [b'']

    class NoStart(FakeAdapter):
        error_status = staticmethod(
            glance_adapter.GlanceAdapter.error_status)

        def enforce_copies_quota(self, *args, **kwargs):
            raise error()
    adapter = NoStart()
    resp = _put(_filter(Unread(), adapter, colocation_required=required),
                {'x-openstack-base-image-ref': BASE}, b'')
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'
    assert adapter.registered == []
    if required:
        assert resp.status_int == status
        assert adapter.reverted
    else:
        assert resp.status_int == 204
        assert resp.headers[middleware.WRITTEN_HEADER] == 'beta'
        assert not adapter.reverted


def test_copies_are_named_with_glances_image_id():
    # MySQL finds the image by an upper-case id; Glance names its data with
    # the id it stored.
    class Canonical(FakeAdapter):
        def image(self, context, image_id):
            return super().image(context, image_id.lower())

        def write(self, context, store, image_id, reader, size, algo):
            self.written_as = image_id
            return super().write(context, store, image_id, reader, size,
                                 algo)

        def register(self, context, image_id, copies):
            self.registered_for = image_id
            super().register(context, image_id, copies)
    adapter = Canonical()
    req = webob.Request.blank('/v2/images/%s/file' % IMAGE.upper(),
                              method='PUT',
                              headers={'x-openstack-base-image-ref': BASE})
    req.body_file = io.BytesIO(DATA)
    req.content_length = len(DATA)
    req.context = object()
    resp = req.get_response(_filter(FakeGlance(), adapter))
    assert resp.status_int == 204
    assert adapter.written_as == IMAGE
    assert adapter.copies['gamma'].url.endswith('/' + IMAGE)
    assert adapter.registered_for == IMAGE


def test_import_stores_are_sent_as_checked():
    app = RecordingGlance()
    resp = _import(_filter(app, FakeAdapter()),
                   {'method': {'name': 'glance-direct'},
                    'stores': [' beta', 'gamma\xa0']})
    assert resp.status_int == 202
    assert json.loads(app.seen[0]['body'])['stores'] == ['beta', 'gamma']


@pytest.mark.parametrize('header,sent', [(' beta ', 'beta'),
                                         ('\xa0gamma', 'gamma'),
                                         ('', None), ('alpha', 'alpha')])
def test_import_store_header_is_sent_as_checked(header, sent):
    app = RecordingGlance()
    resp = _import(_filter(app, FakeAdapter()),
                   {'method': {'name': 'glance-direct'}},
                   {'x-image-meta-store': header})
    assert resp.status_int == 202
    assert app.seen[0]['store'] == sent


def test_an_explicit_empty_store_list_is_not_colocated():
    app = RecordingGlance()
    body = {'method': {'name': 'glance-direct'}, 'stores': []}
    resp = _import(_filter(app, FakeAdapter()), body,
                   {'x-openstack-base-image-ref': BASE})
    assert resp.status_int == 202
    assert json.loads(app.seen[0]['body']) == body


def _log_lines(caplog):
    return [line for record in caplog.records
            for line in record.getMessage().splitlines()]


def test_the_image_id_of_the_path_cannot_forge_a_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    forged = 'x\nERROR forged line'
    req = webob.Request.blank('/v2/images/IMG/file', method='PUT',
                              headers={'x-image-meta-store': 'alpha'})
    req.path_info = '/v2/images/%s/file' % forged
    req.body_file = io.BytesIO(b'abc')
    req.content_length = 3
    req.context = object()
    req.get_response(_filter(FakeGlance(), FakeAdapter()))
    lines = _log_lines(caplog)
    assert any('x\\nERROR forged line' in line for line in lines), lines
    assert not any(line.startswith('ERROR forged') for line in lines)


def test_the_import_method_cannot_forge_a_log_line(caplog):
    caplog.set_level(logging.DEBUG)
    _import(_filter(RecordingGlance(400), FakeAdapter()),
            {'method': {'name': 'glance-direct\r\nERROR forged line'}},
            image='%s\nERROR forged id' % IMAGE)
    lines = _log_lines(caplog)
    assert any('glance-direct\\r\\nERROR forged line' in line
               for line in lines), lines
    assert not any(line.startswith('ERROR forged') for line in lines)


@pytest.mark.parametrize('accept', [None, '*/*', 'text/html, */*',
                                    'text/plain'])
def test_a_refused_store_is_plain_text_as_glance_renders_it(accept):
    headers = {'x-image-meta-store': 'os_glance_staging_store'}
    if accept is not None:
        headers['Accept'] = accept
    resp = _put(_filter(FakeGlance(), FakeAdapter()), headers)
    assert resp.status_int == 400
    assert resp.content_type == 'text/plain'
    # webob's plain rendering, as Glance answers its own 400s to text/plain
    assert resp.text.startswith(
        "400 Bad Request\n\nStore 'os_glance_staging_store' is reserved")
    assert '&#' not in resp.text and '<' not in resp.text


def test_a_refused_store_is_json_for_a_client_that_prefers_it():
    resp = _put(_filter(FakeGlance(), FakeAdapter()),
                {'x-image-meta-store': 'nosuch',
                 'Accept': 'application/json'})
    assert resp.status_int == 400
    assert resp.content_type == 'application/json'
    assert resp.json['message'].startswith(
        "Store 'nosuch' is not an enabled store.")
    assert resp.json['title'] == 'Bad Request'


def test_a_required_copy_failure_is_rendered_as_glance_renders_errors():
    adapter = FakeAdapter({'gamma': glance_store.StorageFull()})
    resp = _put(_filter(FakeGlance(), adapter, colocation_required=True),
                {'x-openstack-base-image-ref': BASE, 'Accept': '*/*'})
    assert resp.status_int == 413
    assert resp.content_type == 'text/plain'
    assert resp.text.startswith('413 Request Entity Too Large\n\n')
    assert resp.headers[middleware.FAILED_HEADER] == 'gamma'


@pytest.mark.parametrize('chunked', [False, True])
def test_an_oversized_import_body_is_refused_unread(chunked):
    app = RecordingGlance()
    body = {'method': {'name': 'web-download',
                       'uri': 'http://x/' + 'a' * middleware.MAX_IMPORT_BODY}}
    resp = _import(_filter(app, FakeAdapter()), body, chunked=chunked)
    assert resp.status_int == 413
    assert resp.content_type != 'text/html'
    assert b'larger than' in resp.body
    assert app.seen == []
