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

"""Headers per request, with both real glanceclient HTTP clients."""

import hashlib
import os

import glanceclient
from glanceclient.common import http as glance_http
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
import pytest

from cinder_multistore.image import stream
from cinder_multistore.image import targets
from cinder_multistore.image import uploads
from cinder_multistore import placement


STORE = placement.STORE_HEADER
BASE = placement.BASE_IMAGE_HEADER
BASE_ID = '6e8a1c2c-4d39-4a7f-9a43-2f1c4f7d0b11'
DATA = os.urandom(300 * 1024 + 5)


def _session_client(url):
    auth = token_endpoint.Token(url, 'tok')
    return glanceclient.Client('2', session=ks_session.Session(auth=auth))


def _http_client(url):
    return glanceclient.Client('2', url, token='tok')


CLIENTS = {'session': (_session_client, glance_http.SessionClient),
           'http': (_http_client, glance_http.HTTPClient)}


@pytest.fixture(params=sorted(CLIENTS))
def client(request, glance):
    make, cls = CLIENTS[request.param]
    client = make(glance.url)
    assert type(client.http_client) is cls
    return client


def _body(tmp_path, data=DATA):
    path = tmp_path / 'volume'
    path.write_bytes(data)
    f = open(path, 'rb')
    return f, stream.UploadBody(f, 64 * 1024)


def _put(client, image_id, body, store_id=None, base_ref=None, size=None):
    target = targets.choose_target(store_id, base_ref)
    uploads.FileUploads(client.http_client).put(
        image_id, body, targets.upload_headers(target, size))


def test_store_header_reaches_glance(client, glance, tmp_path):
    image_id = glance.queued_image()
    f, body = _body(tmp_path)
    with f:
        _put(client, image_id, body, 'beta', BASE_ID, len(DATA))
    [put] = glance.of('PUT')
    assert put.headers[STORE] == 'beta'
    assert BASE not in put.headers
    assert put.headers[targets.IMAGE_SIZE_HEADER] == str(len(DATA))
    assert put.headers['x-auth-token'] == 'tok'
    assert put.headers['content-type'] == 'application/octet-stream'
    assert put.body_sha256 == hashlib.sha256(DATA).hexdigest()


def test_base_header_reaches_glance(client, glance, tmp_path):
    image_id = glance.queued_image()
    f, body = _body(tmp_path)
    with f:
        _put(client, image_id, body, None, BASE_ID)
    [put] = glance.of('PUT')
    assert put.headers[BASE] == BASE_ID
    assert STORE not in put.headers
    assert targets.IMAGE_SIZE_HEADER not in put.headers


def test_headers_do_not_leak_into_later_requests(client, glance, tmp_path):
    first, second = glance.queued_image(), glance.queued_image()
    f, body = _body(tmp_path)
    with f:
        _put(client, first, body, 'beta', None, len(DATA))
    client.images.get(first)
    f, body = _body(tmp_path)
    with f:
        _put(client, second, body, None, BASE_ID)
    f, body = _body(tmp_path)
    with f:
        _put(client, second, body)
    put_store, put_base, put_none = glance.of('PUT')
    [get] = glance.of('GET', first)
    assert put_store.headers[STORE] == 'beta'
    for later in (get, put_base, put_none):
        assert STORE not in later.headers
        assert targets.IMAGE_SIZE_HEADER not in later.headers
    assert put_base.headers[BASE] == BASE_ID
    assert BASE not in put_none.headers and BASE not in get.headers
    assert not getattr(client.http_client, 'additional_headers', None)


def test_each_put_sends_the_whole_body(client, glance, tmp_path):
    image_id = glance.queued_image()
    f, body = _body(tmp_path)
    with f:
        body.read()  # as if a failed attempt had consumed a chunk
        _put(client, image_id, body, 'beta')
    [put] = glance.of('PUT')
    assert put.body_length == len(DATA)


def test_error_responses_are_glanceclient_exceptions(client, glance,
                                                     tmp_path):
    f, body = _body(tmp_path)
    with f, pytest.raises(glanceclient.exc.HTTPNotFound):
        _put(client, 'no-such-image', body, 'beta')
