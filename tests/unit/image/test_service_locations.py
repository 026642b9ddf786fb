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

"""Locations read as Cinder's ``[glance]`` service user where Cinder's own
image service does not (Cinder 26): the request, its user, and every way
it can fail leaving Cinder's own answer.
"""

from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import inspect
import json
import logging
import threading

from cinder_multistore.image import cinder_adapter

from cinder.image import glance as cinder_glance
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_config import fixture as config_fixture
import pytest

from cinder_multistore.image import service_locations


IMAGE = '8f0c4a64-2b4e-4a53-9d6c-2c1a1f0e7d55'
SERVICE_TOKEN = 'service-user-token'
RBD_URL = 'rbd://fsid-edge/images/%s/snap' % IMAGE
LOCATIONS = [{'url': RBD_URL, 'metadata': {'store': 'ceph-edge'}}]


class _Locations(BaseHTTPRequestHandler):
    """Answers ``GET /v2/images/<id>/locations``; records the requests."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append((self.path, self.headers.get('X-Auth-Token'),
                                self.headers.get('X-Service-Token')))
        status, body = server.answer
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        length = int(self.headers.get('Content-Length') or 0)
        server.posts.append((self.path, self.headers.get('X-Auth-Token'),
                             self.headers.get('X-Service-Token'),
                             json.loads(self.rfile.read(length) or b'null')))
        status, _body = server.answer
        self.send_response(status)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def locations_api():
    """A local Glance locations API: ``answer`` (status, body) is what it
    says, ``requests`` what it got (path, X-Auth-Token, X-Service-Token).
    """
    server = ThreadingHTTPServer(('127.0.0.1', 0), _Locations)
    server.requests = []
    server.posts = []
    server.answer = (200, LOCATIONS)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def service_user(cinder_conf, locations_api):
    """Cinder's config with a ``[glance]`` user whose token is
    ``SERVICE_TOKEN`` (keystoneauth's ``admin_token`` plugin); its
    options are unregistered after, for the other plugins' tests.
    """
    service_locations.register_auth_opts(cfg.CONF)
    fixture = config_fixture.Config(cfg.CONF)
    fixture.setUp()
    fixture.register_opts(
        ks_loading.get_auth_plugin_conf_options('admin_token'),
        group=service_locations.GROUP)
    cinder_conf(glance_api_servers=[
        'http://127.0.0.1:%d' % locations_api.server_address[1]])
    fixture.config(group=service_locations.GROUP, auth_type='admin_token',
                   token=SERVICE_TOKEN, endpoint='http://127.0.0.1:1')
    service_locations.reset()
    yield cinder_conf
    service_locations.reset()
    fixture.cleanUp()


@pytest.fixture
def cinder_26(monkeypatch):
    """Cinder's image service as Cinder 26 answers when Glance hides the
    locations (``show_*`` off): the image's own fields, both None.
    """
    monkeypatch.setattr(service_locations, 'cinder_reads_locations',
                        lambda module: False)
    monkeypatch.setattr(cinder_glance.GlanceImageService, 'get_location',
                        lambda self, context, image_id: (None, None))


def test_detection_matches_cinders_own_get_location():
    """Cinder reads the locations API itself exactly when its
    ``get_location`` asks for ``get_image_locations`` (Cinder 27+).
    """
    source = inspect.getsource(cinder_glance.GlanceImageService.get_location)
    assert service_locations.cinder_reads_locations(cinder_glance) == (
        'get_image_locations' in source)


def test_cinder_26_reads_locations_as_the_service_user(
        service_user, cinder_26, locations_api, context):
    """With the locations hidden from the image's fields, the image
    service returns them from the locations API, asked with the
    ``[glance]`` user's token (not the caller's), also as the service
    token (Glance 30 checks ``service_roles:service``).
    """
    service = cinder_adapter.MultistoreImageService()
    assert service.get_location(context, IMAGE) == (None, LOCATIONS)
    assert locations_api.requests == [
        ('/v2/images/%s/locations' % IMAGE, SERVICE_TOKEN, SERVICE_TOKEN)]


@pytest.mark.parametrize('status', [403, 404, 501])
def test_refused_read_leaves_cinders_answer(
        service_user, cinder_26, locations_api, context, caplog, status):
    """403 (no service role), 404 (image not visible to the user, or a
    Glance before 2024.2), 501: Cinder's answer stands, with a warning.
    """
    locations_api.answer = (status, {'error': 'no'})
    service = cinder_adapter.MultistoreImageService()
    with caplog.at_level(logging.WARNING):
        assert service.get_location(context, IMAGE) == (None, None)
    assert 'answered %d' % status in caplog.text
    assert 'copy, not a clone' in caplog.text


def test_glance_down_leaves_cinders_answer(service_user, cinder_26,
                                           context, caplog):
    """A Glance that cannot be reached: Cinder's answer, with a warning."""
    service_user(glance_api_servers=['http://127.0.0.1:1'])
    service = cinder_adapter.MultistoreImageService()
    with caplog.at_level(logging.WARNING):
        assert service.get_location(context, IMAGE) == (None, None)
    assert 'could not be reached' in caplog.text


def test_no_service_user_leaves_cinders_answer(cinder_conf, cinder_26,
                                               locations_api, context,
                                               caplog):
    """Without a ``[glance]`` auth section nothing is asked."""
    service_locations.register_auth_opts(cfg.CONF)
    cinder_conf(glance_api_servers=[
        'http://127.0.0.1:%d' % locations_api.server_address[1]])
    cinder_conf(group=service_locations.GROUP, auth_type=None)
    service_locations.reset()
    service = cinder_adapter.MultistoreImageService()
    with caplog.at_level(logging.WARNING):
        assert service.get_location(context, IMAGE) == (None, None)
    assert locations_api.requests == []
    assert 'no [glance] auth_type' in caplog.text


def test_shown_locations_are_not_asked_again(service_user, monkeypatch,
                                             locations_api, context):
    """A Glance that still shows locations: its answer, nothing asked."""
    shown = ('rbd://x/images/a/snap', LOCATIONS)
    monkeypatch.setattr(service_locations, 'cinder_reads_locations',
                        lambda module: False)
    monkeypatch.setattr(cinder_glance.GlanceImageService, 'get_location',
                        lambda self, context, image_id: shown)
    service = cinder_adapter.MultistoreImageService()
    assert service.get_location(context, IMAGE) == shown
    assert locations_api.requests == []


def test_cinder_that_reads_them_is_left_alone(service_user, monkeypatch,
                                              locations_api, context):
    """Cinder 27+ reads the locations itself: its answer, nothing more."""
    monkeypatch.setattr(service_locations, 'cinder_reads_locations',
                        lambda module: True)
    monkeypatch.setattr(cinder_glance.GlanceImageService, 'get_location',
                        lambda self, context, image_id: (None, None))
    service = cinder_adapter.MultistoreImageService()
    assert service.get_location(context, IMAGE) == (None, None)
    assert locations_api.requests == []


def _servers(locations_api):
    return [('127.0.0.1:%d' % locations_api.server_address[1], False)]


def test_add_posts_the_location_as_the_service_user(service_user,
                                                    locations_api):
    locations_api.answer = (202, None)
    service_locations.add(cfg.CONF, _servers(locations_api), IMAGE, RBD_URL)
    assert locations_api.posts == [(
        '/v2/images/%s/locations' % IMAGE, SERVICE_TOKEN, SERVICE_TOKEN,
        {'url': RBD_URL, 'validation_data': {}})]


def test_copy_image_imports_without_undoing_the_other_copies(
        service_user, locations_api):
    locations_api.answer = (202, None)
    service_locations.copy_image(cfg.CONF, _servers(locations_api), IMAGE,
                                 ['ceph-central'])
    assert locations_api.posts == [(
        '/v2/images/%s/import' % IMAGE, SERVICE_TOKEN, SERVICE_TOKEN,
        {'method': {'name': 'copy-image'}, 'stores': ['ceph-central'],
         'all_stores_must_succeed': False})]


@pytest.mark.parametrize('status', [403, 409])
def test_a_refused_add_says_what_glance_answered(service_user,
                                                 locations_api, status):
    locations_api.answer = (status, None)
    with pytest.raises(service_locations.Refused) as raised:
        service_locations.add(cfg.CONF, _servers(locations_api), IMAGE,
                              RBD_URL)
    assert 'POST' in str(raised.value) and str(status) in str(raised.value)
