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

"""The site rule in the image driver: Cinder's own RBD upload code run
against a local fake Glance, with a driver that only answers its fsid."""

import inspect
import logging
import os
import types

# NOTE: the adapter imports Cinder's modules in the order Cinder needs
# (image_utils before image.glance); it comes first.
from cinder_multistore.image import cinder_adapter

from cinder.image import glance as cinder_glance
from cinder.volume.drivers import rbd
from cinder.volume import volume_utils
import pytest

from cinder_multistore.image import opts
from cinder_multistore import placement
from tests.unit.image import fake_glance


STORE = placement.STORE_HEADER
BASE = placement.BASE_IMAGE_HEADER
BASE_ID = '6e8a1c2c-4d39-4a7f-9a43-2f1c4f7d0b11'
DATA = os.urandom(256 * 1024 + 7)
OTHER_FSID = '00000000-1111-2222-3333-444444444444'


@pytest.fixture
def installed(cinder_conf):
    cinder_adapter.STORE_DETAILS.clear()
    cinder_adapter.install()
    yield cinder_conf
    cinder_adapter.uninstall()
    cinder_adapter.STORE_DETAILS.clear()


@pytest.fixture
def site_on(installed):
    installed(group=opts.GROUP, site_store=True)
    return installed


class FakeRbdDriver:
    """What ``RBDDriver.copy_volume_to_image`` calls on its driver."""

    def __init__(self, path, fsid=fake_glance.BETA_FSID):
        self.path = path
        self.fsid = fsid
        self.fsid_calls = 0

    def _get_rbd_handle(self, volume):
        return open(self.path, 'rb')

    def _get_fsid(self):
        self.fsid_calls += 1
        if isinstance(self.fsid, Exception):
            raise self.fsid
        return self.fsid


def _volume(store_id=None, base_image_id=None):
    extra_specs = {}
    if store_id is not None:
        extra_specs['image_service:store_id'] = store_id
    glance_metadata = {'image_id': base_image_id} if base_image_id else {}
    return types.SimpleNamespace(
        id='vol-1', name='volume-vol-1',
        volume_type=types.SimpleNamespace(extra_specs=extra_specs),
        glance_metadata=glance_metadata)


@pytest.fixture
def driver(tmp_path):
    path = tmp_path / 'volume'
    path.write_bytes(DATA)
    return FakeRbdDriver(str(path))


def _rbd_upload(context, glance, driver, store_id=None, base_image_id=None):
    """Upload through Cinder's own RBDDriver.copy_volume_to_image."""
    image_id = glance.queued_image()
    service = cinder_glance.get_default_image_service()
    image_meta = {'id': image_id, 'disk_format': 'raw',
                  'container_format': 'bare'}
    rbd.RBDDriver.copy_volume_to_image(
        driver, context, _volume(store_id, base_image_id), service,
        image_meta)
    return image_id


def _sent(glance):
    [put] = glance.of('PUT')
    assert put.body_length == len(DATA)
    return {k: put.headers[k] for k in (STORE, BASE) if k in put.headers}


def _detail_gets(glance):
    return glance.of('GET', '/v2/info/stores/detail')


def test_the_site_store_goes_with_an_upload_nothing_else_places(
        site_on, context, glance, driver, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    image_id = _rbd_upload(context, glance, driver)
    assert _sent(glance) == {STORE: 'beta'}
    assert glance.images[image_id]['status'] == 'active'
    site = placement.decide_site(fake_glance.BETA_FSID, glance.details)
    assert site.rule is placement.Rule.SITE
    assert site.reason in caplog.text
    assert 'Uploading volume data to image %s with %s: beta' % (
        image_id, STORE) in caplog.text


def test_off_by_default_glance_chooses(installed, context, glance, driver):
    _rbd_upload(context, glance, driver)
    assert _sent(glance) == {}


def test_the_volume_types_store_wins(site_on, context, glance, driver):
    _rbd_upload(context, glance, driver, store_id='alpha',
                base_image_id=BASE_ID)
    assert _sent(glance) == {STORE: 'alpha'}


def test_a_usable_base_image_wins(site_on, context, glance, driver):
    glance.images[BASE_ID] = dict(glance.images[glance.queued_image()],
                                  id=BASE_ID, status='active',
                                  stores='alpha')
    _rbd_upload(context, glance, driver, base_image_id=BASE_ID)
    assert _sent(glance) == {BASE: BASE_ID}


@pytest.mark.parametrize('base', [
    None,                                        # not found / not visible
    {'status': 'deactivated', 'stores': 'alpha'},
    {'status': 'active', 'stores': 'web'},       # only a read-only store
])
def test_an_unusable_base_image_gives_way_to_the_site(
        site_on, context, glance, driver, base, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    if base is not None:
        glance.images[BASE_ID] = dict(glance.images[glance.queued_image()],
                                      id=BASE_ID, **base)
    _rbd_upload(context, glance, driver, base_image_id=BASE_ID)
    assert _sent(glance) == {STORE: 'beta'}
    assert 'would not co-locate with base image %s' % BASE_ID in caplog.text


@pytest.mark.parametrize('details, why', [
    ([], 'no writable rbd store'),
    ([{'id': 'beta', 'type': 'rbd', 'properties': {'fsid': OTHER_FSID}}],
     'no writable rbd store'),
    ([{'id': 'beta', 'type': 'rbd',
       'properties': {'fsid': fake_glance.BETA_FSID}},
      {'id': 'gamma', 'type': 'rbd',
       'properties': {'fsid': fake_glance.BETA_FSID}}],
     'several rbd stores of Glance are in the volume\'s Ceph cluster %s '
     '(beta, gamma)' % fake_glance.BETA_FSID),
])
def test_no_single_site_store_leaves_glance_its_default(
        site_on, context, glance, driver, details, why, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    glance.details = details
    _rbd_upload(context, glance, driver)
    assert _sent(glance) == {}
    [line] = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith('Uploading volume data')]
    assert why in line and 'Glance\'s default store' in line


def test_a_refused_stores_detail_leaves_glance_its_default(
        site_on, context, glance, driver, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    glance.details_status = 403
    _rbd_upload(context, glance, driver)
    assert _sent(glance) == {}
    assert 'stores detail (GET /v2/info/stores/detail) could not be read' \
        in caplog.text
    # NOTE: a failure is not cached: the next upload asks again.
    glance.details_status = 200
    glance.requests.clear()
    _rbd_upload(context, glance, driver)
    assert _sent(glance) == {STORE: 'beta'}


def test_a_cluster_that_cannot_be_asked_leaves_glance_its_default(
        site_on, context, glance, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    path = tmp_path / 'volume'
    path.write_bytes(DATA)
    driver = FakeRbdDriver(str(path), fsid=OSError('timed out'))
    _rbd_upload(context, glance, driver)
    assert _sent(glance) == {}
    assert 'Ceph cluster did not give its fsid (timed out)' in caplog.text


def test_a_volume_on_another_backend_leaves_glance_its_default(
        site_on, context, glance, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    path = tmp_path / 'volume'
    path.write_bytes(DATA)
    image_id = glance.queued_image()
    volume_utils.upload_volume(
        context, cinder_glance.get_default_image_service(),
        {'id': image_id, 'disk_format': 'raw', 'container_format': 'bare'},
        str(path), _volume(), volume_format='raw', run_as_root=False)
    assert _sent(glance) == {}
    assert cinder_adapter.NOT_RBD in caplog.text
    assert not _detail_gets(glance)


def test_the_detail_and_the_fsid_are_asked_once(site_on, context, glance,
                                                driver):
    for _ in range(3):
        _rbd_upload(context, glance, driver)
    assert len(_detail_gets(glance)) == 1
    assert driver.fsid_calls == 1
    assert [r.headers.get(STORE) for r in glance.of('PUT')] == ['beta'] * 3


def test_another_glance_endpoint_is_asked_on_its_own(site_on, context, glance,
                                                     driver):
    _rbd_upload(context, glance, driver)
    with fake_glance.FakeGlance() as other:
        other.details = [{'id': 'edge', 'type': 'rbd', 'properties': {
            'fsid': fake_glance.BETA_FSID}}]
        other.stores = [{'id': 'edge', 'default': True}]
        site_on(glance_api_servers=[other.url])
        _rbd_upload(context, other, driver)
        assert _sent(other) == {STORE: 'edge'}
        assert len(_detail_gets(other)) == 1


def test_install_wraps_and_uninstall_restores_the_rbd_upload(cinder_conf):
    original = rbd.RBDDriver.copy_volume_to_image
    cinder_adapter.install()
    try:
        assert rbd.RBDDriver.copy_volume_to_image is not original
        assert rbd.RBDDriver.copy_volume_to_image.__wrapped__ is original
    finally:
        cinder_adapter.uninstall()
    assert rbd.RBDDriver.copy_volume_to_image is original


def test_cinders_rbd_driver_has_what_the_site_rule_calls():
    # NOTE: pins the Cinder internals the rule uses, on every release.
    assert 'self' in inspect.signature(rbd.RBDDriver._get_fsid).parameters
    assert list(inspect.signature(
        rbd.RBDDriver.copy_volume_to_image).parameters) == [
            'self', 'context', 'volume', 'image_service', 'image_meta']


def test_the_detail_is_asked_as_the_service_user_where_cinder_can():
    # NOTE: Cinder 27+ pops privileged_user in call(); Cinder 26 would
    # pass it on to glanceclient, which has no such argument.
    takes = 'privileged_user' in inspect.getsource(
        cinder_glance.GlanceClientWrapper.call)
    assert bool(cinder_adapter._privileged_call()) == takes


def test_without_privileged_user_the_detail_is_read_as_the_service_user(
        site_on, context, glance, driver, monkeypatch):
    # NOTE: Cinder 26 has no privileged_user; the [glance] user is loaded
    # from cinder.conf by the adapter itself ('none' stands in for
    # keystone's password plugin: its token is not the caller's 'tok').
    monkeypatch.setattr(cinder_adapter, '_privileged_call', lambda: {})
    cinder_adapter._register_service_user_opts()
    site_on(auth_strategy='keystone')
    site_on(group='glance', auth_type='none')
    _rbd_upload(context, glance, driver)
    assert _sent(glance) == {STORE: 'beta'}
    [detail] = _detail_gets(glance)
    assert detail.headers.get('x-auth-token') != 'tok'
    assert glance.of('PUT')[0].headers['x-auth-token'] == 'tok'


def test_without_a_service_user_the_detail_is_read_as_the_caller(
        site_on, context, glance, driver, monkeypatch):
    monkeypatch.setattr(cinder_adapter, '_privileged_call', lambda: {})
    cinder_adapter._register_service_user_opts()
    site_on(auth_strategy='keystone')
    site_on(group='glance', auth_type=None)
    _rbd_upload(context, glance, driver)
    [detail] = _detail_gets(glance)
    assert detail.headers['x-auth-token'] == 'tok'
