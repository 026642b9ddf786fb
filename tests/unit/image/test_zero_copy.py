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

"""The image driver's clone path: what it asks Glance, what it leaves in
Ceph when Glance or Ceph refuses (an in-memory Ceph raising the real
``rbd`` exceptions, a client wrapper raising glanceclient's errors)."""

import logging
import types
from unittest import mock

# NOTE: the adapter imports Cinder's modules in the order Cinder needs.
from cinder_multistore.image import cinder_adapter

from cinder import exception as cinder_exception
from glanceclient import exc as glance_exc
import pytest

from cinder_multistore.image import exceptions
from cinder_multistore.image import opts
from cinder_multistore.image import targets
from tests.unit.image import test_copy_way
from tests.unit.image import test_rbd_clone

rbd = pytest.importorskip('rbd')

IMAGE_ID = test_rbd_clone.IMAGE_ID
FSID = test_copy_way.FSID
URL = 'rbd://%s/images/%s/snap' % (FSID, IMAGE_ID)


class FakeDriver:
    """What the clone path uses of Cinder's RBDDriver."""

    def __init__(self, ceph):
        self.rbd = ceph.module()
        self.configuration = types.SimpleNamespace(
            rbd_pool=test_rbd_clone.VOLUMES, rbd_max_clone_depth=5)

    def _get_fsid(self):
        return FSID

    def _connect_to_rados(self, pool=None):
        return object(), pool or test_rbd_clone.VOLUMES

    def _disconnect_from_rados(self, cluster, ioctx):
        pass


class InlineThread:
    """``threading.Thread`` whose ``start()`` runs the target at once."""

    def __init__(self, target, name=None, args=(), daemon=None):
        self.target, self.args = target, args

    def start(self):
        self.target(*self.args)


@pytest.fixture
def ceph():
    return test_rbd_clone.FakeCeph()


@pytest.fixture
def uploading(ceph, cinder_conf):
    """A raw upload of ``volume-1`` by an RBD driver, zero copy on.

    The client wrapper is a mock: the clone path runs as on a Cinder with a
    privileged client (27 and later), whatever Cinder is installed;
    :func:`test_a_cinder_without_a_privileged_client_streams` is Cinder 26.
    """
    cinder_conf(group=opts.GROUP, zero_copy=True)
    # NOTE: the copy-image waiter runs in the test's thread.
    inline = mock.patch.object(cinder_adapter.threading, 'Thread',
                               InlineThread)
    inline.start()
    privileged = mock.patch.object(
        cinder_adapter, '_privileged_call',
        return_value={'privileged_user': True})
    privileged.start()
    cinder_adapter.STORE_DETAILS.clear()
    tokens = [
        (cinder_adapter._UPLOADING_DRIVER,
         cinder_adapter._UPLOADING_DRIVER.set(FakeDriver(ceph))),
        (cinder_adapter._UPLOADING_VOLUME,
         cinder_adapter._UPLOADING_VOLUME.set(types.SimpleNamespace(
             id='1', name=test_rbd_clone.VOLUME))),
        (cinder_adapter._UPLOADING_IMAGE_META,
         cinder_adapter._UPLOADING_IMAGE_META.set(
             {'disk_format': 'raw', 'container_format': 'bare'})),
    ]
    yield
    privileged.stop()
    inline.stop()
    for var, token in reversed(tokens):
        var.reset(token)
    cinder_adapter.STORE_DETAILS.clear()


BASE_ID = '0b6f3c1d-2e4a-4c5b-8d7e-9f0a1b2c3d4e'


def _service(errors=None, base_stores='ceph-central'):
    """The image service on a client wrapper answering like Glance 2.17;
    ``errors`` maps a method to the exception it raises; the base image
    :data:`BASE_ID` is active in ``base_stores``.
    """
    errors = errors or {}
    client = mock.create_autospec(cinder_adapter.MultistoreClientWrapper,
                                  instance=True)

    def call(context, method, *args, **kwargs):
        if method in errors:
            raise errors[method]
        if method == 'get_stores_info_detail':
            return {'stores': test_copy_way.DETAILS}
        if method == 'get_image_locations':
            return []
        if method == 'add_image_location':
            return {'id': IMAGE_ID, 'status': 'active'}
        if method == 'image_import':
            return None
        if method == 'get' and args == (IMAGE_ID,):
            return {'id': IMAGE_ID, 'status': 'active'}
        if method == 'get' and args == (BASE_ID,):
            return {'id': BASE_ID, 'status': 'active',
                    'stores': base_stores}
        if method == 'get_stores_info':
            return {'stores': [{'id': e['id']}
                               for e in test_copy_way.DETAILS]}
        raise AssertionError('unexpected call %s' % method)

    client.call.side_effect = call
    return cinder_adapter.MultistoreImageService(client=client,
                                                 messages=mock.Mock())


def _clone(service, store='ceph-central'):
    return service._upload_by_clone(
        mock.sentinel.context, IMAGE_ID,
        targets.choose_target(store, None))


def _methods(service):
    return [c.args[1] for c in service._client.call.call_args_list]


def test_the_location_is_registered_as_the_service_user(uploading, ceph,
                                                        caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service()
    assert _clone(service) is True
    add = service._client.call.call_args_list[-1]
    assert add.args[1:] == ('add_image_location', IMAGE_ID, URL)
    assert add.kwargs == {'privileged_user': True}
    assert ceph.user_snaps('images', IMAGE_ID)['snap']['protected']
    # The volume shows no snapshot: its upload snapshot is in the trash.
    assert ceph.user_snaps('volumes', test_rbd_clone.VOLUME) == {}
    [line] = [r.getMessage() for r in caplog.records
              if IMAGE_ID in r.getMessage()]
    assert 'no data streamed' in line and URL in line
    assert 'copy-on-write clone of the volume' in line


@pytest.mark.parametrize('error', [
    glance_exc.HTTPConflict('image is not queued'),
    glance_exc.HTTPForbidden('policy'),
    glance_exc.CommunicationError('glance is down'),
])
def test_a_refused_location_removes_the_clone(uploading, ceph, error):
    service = _service({'add_image_location': error})
    with pytest.raises(exceptions.LocationNotRegistered) as raised:
        _clone(service)
    assert raised.value.kwargs['url'] == URL
    assert ceph.pools['images'] == {}
    assert ceph.volume_snaps() == {}


@pytest.mark.parametrize('error,why', [
    (glance_exc.HTTPForbidden('policy'), 'policy'),
    (glance_exc.HTTPNotImplemented('not supported by Glance'),
     'not supported by Glance'),
])
def test_no_locations_api_streams(uploading, ceph, caplog, error, why):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service({'get_image_locations': error})
    assert _clone(service) is False
    assert 'add_image_location' not in _methods(service)
    assert ceph.pools['images'] == {}
    [line] = [r.getMessage() for r in caplog.records
              if IMAGE_ID in r.getMessage()]
    assert 'streamed: Glance\'s locations API' in line and why in line


def test_a_cinder_26_without_a_service_user_streams(
        uploading, ceph, caplog):
    """Cinder 26 has no ``privileged_user`` client, and this cinder.conf
    no ``[glance]`` user for the plugin's own requests.
    """
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service()
    with mock.patch.object(cinder_adapter, '_privileged_call',
                           return_value={}):
        assert _clone(service) is False
    assert 'get_image_locations' not in _methods(service)
    assert ceph.pools['images'] == {}
    [line] = [r.getMessage() for r in caplog.records
              if IMAGE_ID in r.getMessage()]
    assert "not usable by Cinder's [glance] user" in line
    assert 'no [glance] auth_type' in line


def test_ceph_refusing_the_clone_streams(uploading, ceph, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    ceph.fail['clone'] = rbd.PermissionError('no rights', errno=1)
    service = _service()
    assert _clone(service) is False
    assert 'add_image_location' not in _methods(service)
    assert ceph.pools['images'] == {}
    assert ceph.volume_snaps() == {}
    [line] = [r.getMessage() for r in caplog.records
              if IMAGE_ID in r.getMessage()]
    assert 'streamed: Ceph refused' in line and 'PermissionError' in line


def test_a_store_of_the_other_cluster_streams(uploading, ceph, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service()
    assert _clone(service, 'ceph-edge') is False
    assert _methods(service) == ['get_stores_info_detail']
    assert ceph.pools['images'] == {}


def test_a_base_image_in_the_clusters_store_alone_is_cloned_into(
        uploading, ceph):
    service = _service()
    assert service._upload_by_clone(
        mock.sentinel.context, IMAGE_ID,
        targets.choose_target(None, BASE_ID)) is True
    assert ceph.user_snaps('images', IMAGE_ID)['snap']['protected']


def test_a_base_image_in_several_stores_is_cloned_then_copied(
        uploading, ceph, caplog):
    """Co-location: the store of the volume's cluster is cloned into, the
    other gets its copy from Glance's copy-image import, asked as the
    service user without failing the other copies.
    """
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service(base_stores='ceph-central,ceph-edge')
    assert service._upload_by_clone(
        mock.sentinel.context, IMAGE_ID,
        targets.choose_target(None, BASE_ID)) is True
    assert _methods(service)[-3:] == ['add_image_location', 'get',
                                      'image_import']
    copy = service._client.call.call_args_list[-1]
    assert copy.args[2:] == (IMAGE_ID, 'copy-image')
    assert copy.kwargs == {'stores': ['ceph-edge'], 'allow_failure': True,
                           'privileged_user': True}
    assert ceph.user_snaps('images', IMAGE_ID)['snap']['protected']
    assert "Glance copies it to ceph-edge (copy-image import)" in (
        caplog.text)
    service._messages.create.assert_not_called()


def test_a_refused_copy_image_is_a_partial_colocation(uploading, ceph,
                                                      caplog):
    service = _service({'image_import': glance_exc.HTTPForbidden('policy')},
                       base_stores='ceph-central,ceph-edge')
    assert service._upload_by_clone(
        mock.sentinel.context, IMAGE_ID,
        targets.choose_target(None, BASE_ID)) is True
    assert 'Glance did not copy image %s to ceph-edge' % IMAGE_ID in (
        caplog.text)
    assert ('copies in ceph-edge failed (Glance did not take the '
            'copy-image import)') in caplog.text
    service._messages.create.assert_called_once()
    # The image stays, usable in the store it was cloned into.
    assert IMAGE_ID in ceph.pools['images']


def test_colocation_in_upload_streams_a_colocation(uploading, ceph, caplog,
                                                   cinder_conf):
    cinder_conf(group=opts.GROUP, colocation_in_upload=True)
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service(base_stores='ceph-central,ceph-edge')
    assert service._upload_by_clone(
        mock.sentinel.context, IMAGE_ID,
        targets.choose_target(None, BASE_ID)) is False
    assert 'get_stores_info_detail' not in _methods(service)
    assert ceph.pools['images'] == {}
    [line] = [r.getMessage() for r in caplog.records
              if IMAGE_ID in r.getMessage()]
    assert 'several stores (ceph-central, ceph-edge)' in line
    assert 'colocation_in_upload' in line


def test_a_cloned_upload_logs_its_placement_too(uploading, ceph, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    service = _service()
    service._upload(mock.sentinel.context, IMAGE_ID, mock.Mock(),
                    'ceph-central', None)
    lines = [r.getMessage() for r in caplog.records
             if IMAGE_ID in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith(
        'Uploading volume data to image %s with x-image-meta-store: '
        'ceph-central: the volume type names store ceph-central' % IMAGE_ID)
    assert 'no data streamed' in lines[1]
    assert 'put' not in _methods(service)


def test_off_asks_nothing(uploading, ceph, cinder_conf):
    cinder_conf(group=opts.GROUP, zero_copy=False)
    service = _service()
    assert _clone(service) is False
    assert _methods(service) == []
    assert ceph.volume_snaps() == {}


def test_a_qcow2_upload_asks_nothing(uploading, ceph):
    token = cinder_adapter._UPLOADING_IMAGE_META.set(
        {'disk_format': 'qcow2', 'container_format': 'bare'})
    try:
        service = _service()
        assert _clone(service) is False
        assert _methods(service) == []
    finally:
        cinder_adapter._UPLOADING_IMAGE_META.reset(token)


def test_the_option_is_on_by_default():
    assert {o.name: o.default for o in opts.image_service_opts}[
        'zero_copy'] is True


def test_images_of_volumes_from_base_images_keep_the_chain_by_default():
    """As Cinder's RBD driver keeps volumes made from images clones."""
    assert {o.name: o.default for o in opts.image_service_opts}[
        'flatten_clones_of_base_images'] is False


class Client:
    """Cinder's RADOSClient, as ``_delete_volume`` gets it."""

    ioctx = test_rbd_clone.VOLUMES


def _deleting(ceph):
    """Cinder's ``_delete_volume`` wrapped; the original records its
    calls and removes the volume as Cinder's fast path does.
    """
    calls = []

    def delete(driver, volume, client):
        calls.append(volume.name)
        ceph.module().RBD().remove(client.ioctx, volume.name)

    wrapped = cinder_adapter._releasing_upload_snapshots(delete)
    volume = types.SimpleNamespace(id='1', name=test_rbd_clone.VOLUME)
    return (lambda: wrapped(FakeDriver(ceph), volume, Client())), calls


def test_a_volume_with_an_image_goes_to_the_trash_not_to_cinder(
        uploading, ceph, caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    assert _clone(_service()) is True
    delete, calls = _deleting(ceph)
    delete()
    assert calls == []
    assert ceph.pools['volumes'] == {}
    [kept] = ceph.trash['volumes'].values()
    assert kept['name'] == test_rbd_clone.VOLUME
    assert 'copy-on-write parent of images/%s' % IMAGE_ID in caplog.text
    # Glance deletes the image: the next purge removes the volume.
    ceph.delete_image()
    assert cinder_adapter.purge_upload_parents(FakeDriver(ceph)) == [
        test_rbd_clone.VOLUME]
    assert ceph.trash['volumes'] == {}


def test_a_volume_whose_image_is_gone_is_deleted_by_cinder(uploading, ceph):
    assert _clone(_service()) is True
    ceph.delete_image()
    delete, calls = _deleting(ceph)
    delete()
    assert calls == [test_rbd_clone.VOLUME]
    assert ceph.pools == {'volumes': {}, 'images': {}}


def test_a_failed_release_leaves_the_delete_to_cinder(uploading, ceph,
                                                      caplog):
    ceph.fail['open volumes/%s' % test_rbd_clone.VOLUME] = (
        rbd.PermissionError('no rights', errno=1))
    delete, calls = _deleting(ceph)
    delete()
    assert calls == [test_rbd_clone.VOLUME]
    assert any(r.levelname == 'WARNING' and 'Could not look' in
               r.getMessage() for r in caplog.records)


def test_purge_never_raises(ceph, caplog):
    driver = FakeDriver(ceph)
    # NOTE: what Cinder's _connect_to_rados raises when Ceph does not
    # answer.
    driver._connect_to_rados = mock.Mock(
        side_effect=cinder_exception.VolumeBackendAPIException(
            data='Error connecting to ceph cluster.'))
    assert cinder_adapter.purge_upload_parents(driver) == []
    assert 'Could not purge' in caplog.text


@pytest.mark.parametrize('interval,started', [(10, True), (0, False)])
def test_the_purge_starts_with_cinders_periodic_tasks(ceph, cinder_conf,
                                                      interval, started):
    cinder_conf(group=opts.GROUP, upload_parent_purge_interval=interval)
    original = mock.Mock(return_value=None)
    driver = FakeDriver(ceph)
    with mock.patch('oslo_service.loopingcall.FixedIntervalLoopingCall'
                    ) as looping:
        cinder_adapter._starting_parent_purge(original)(driver)
        cinder_adapter._starting_parent_purge(original)(driver)
    assert original.call_count == 2
    if started:
        looping.assert_called_once_with(
            cinder_adapter.purge_upload_parents, driver)
        looping.return_value.start.assert_called_once_with(
            interval=interval, initial_delay=interval)
    else:
        looping.assert_not_called()
    cinder_adapter._PURGES.pop(driver, None)


def test_cinder_26_registers_and_copies_as_the_plugins_service_user(
        uploading, ceph):
    """Without Cinder's privileged client, the location is checked,
    added and the copy-image import asked with the plugin's own requests
    as the ``[glance]`` user (:mod:`.service_locations`).
    """
    service = _service(base_stores='ceph-central,ceph-edge')
    with mock.patch.object(cinder_adapter, '_privileged_call',
                           return_value={}), \
            mock.patch.object(cinder_adapter.glance, 'get_api_servers',
                              return_value=iter([('glance:9292', False)])), \
            mock.patch.multiple(cinder_adapter.service_locations,
                                read=mock.DEFAULT, add=mock.DEFAULT,
                                copy_image=mock.DEFAULT) as requests:
        assert service._upload_by_clone(
            mock.sentinel.context, IMAGE_ID,
            targets.choose_target(None, BASE_ID)) is True
    assert requests['read'].call_args.args[2] == IMAGE_ID
    assert requests['add'].call_args.args[2:] == (IMAGE_ID, URL)
    assert requests['copy_image'].call_args.args[2:] == (
        IMAGE_ID, ['ceph-edge'])
    assert 'add_image_location' not in _methods(service)
    assert ceph.user_snaps('images', IMAGE_ID)['snap']['protected']


def _waiting_service(states):
    """A service whose image is, at each ``get``, the next of ``states``
    (status, import task).
    """
    service = _service()
    answers = iter(states)
    default = service._client.call.side_effect

    def call(context, method, *args, **kwargs):
        if method == 'get' and args == (IMAGE_ID,):
            status, task = next(answers)
            return {'id': IMAGE_ID, 'status': status,
                    cinder_adapter.IMPORT_LOCK_PROPERTY: task}
        return default(context, method, *args, **kwargs)
    service._client.call.side_effect = call
    return service


def test_the_copy_waits_for_glances_location_task(monkeypatch):
    """Glance's location_import task makes the image active, then hashes
    it while holding it: copy-image is asked once the task is gone.
    """
    monkeypatch.setattr(cinder_adapter.time, 'sleep', lambda s: None)
    service = _waiting_service([('queued', 'task-1'), ('active', 'task-1'),
                                ('active', None)])
    with mock.patch.object(cinder_adapter, '_privileged_call',
                           return_value={'privileged_user': True}):
        assert service._copy_when_ready(mock.sentinel.context, IMAGE_ID,
                                        'ceph-central', ('ceph-edge',))
    assert _methods(service) == ['get', 'get', 'get', 'image_import']


def test_the_copy_starts_soon_after_glance_lets_the_image_go(monkeypatch):
    """A long hash (many looks): the looks back off to COPY_WAIT_POLL at
    most, so the copies start within that of the task's end.
    """
    slept = []
    monkeypatch.setattr(cinder_adapter.time, 'sleep', slept.append)
    service = _waiting_service([('active', 'task-1')] * 8 + [('active', None)])
    with mock.patch.object(cinder_adapter, '_privileged_call',
                           return_value={'privileged_user': True}):
        assert service._copy_when_ready(mock.sentinel.context, IMAGE_ID,
                                        'ceph-central', ('ceph-edge',))
    assert len(slept) == 8
    assert slept[0] < cinder_adapter.COPY_WAIT_POLL
    assert max(slept) == slept[-1] == cinder_adapter.COPY_WAIT_POLL


@pytest.mark.parametrize('states,why', [
    ([('killed', None)], 'is killed'),
    ([('queued', 'task-1')] * 3, 'is still queued, held by Glance'),
])
def test_an_image_that_never_gets_there_is_a_partial_colocation(
        monkeypatch, caplog, states, why):
    clock = iter(range(0, 10000, 1000))
    monkeypatch.setattr(cinder_adapter.time, 'monotonic', lambda: next(clock))
    monkeypatch.setattr(cinder_adapter.time, 'sleep', lambda s: None)
    service = _waiting_service(states)
    assert not service._copy_when_ready(mock.sentinel.context, IMAGE_ID,
                                        'ceph-central', ('ceph-edge',),
                                        timeout=1500)
    assert 'image_import' not in _methods(service)
    assert why in caplog.text
    service._messages.create.assert_called_once()
