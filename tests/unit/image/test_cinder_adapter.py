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

"""The multistore image service inside real Cinder code, against a local
Glance: both glanceclient HTTP clients, store checks, size, retries,
activation.
"""

import hashlib
import logging
import os
import pathlib
import re
import types

# NOTE: the adapter imports Cinder's modules in the order Cinder needs
# (image_utils before image.glance); it comes first.
from cinder_multistore.image import cinder_adapter

from cinder import exception
from cinder.image import glance as cinder_glance
from cinder.image import image_utils
from cinder.volume import volume_utils
import pytest

from cinder_multistore.image import targets
from cinder_multistore import placement


STORE = placement.STORE_HEADER
BASE = placement.BASE_IMAGE_HEADER
SIZE = targets.IMAGE_SIZE_HEADER
BASE_ID = '6e8a1c2c-4d39-4a7f-9a43-2f1c4f7d0b11'
DATA = os.urandom(512 * 1024 + 3)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=['noauth', 'keystone'])
def auth_strategy(request, cinder_conf):
    """Run with glanceclient's HTTPClient (noauth) and SessionClient."""
    cinder_conf(auth_strategy=request.param)
    return request.param


@pytest.fixture
def volume_path(tmp_path):
    path = tmp_path / 'volume'
    path.write_bytes(DATA)
    return str(path)


def _volume(store_id=None, base_image_id=None, volume_id=None):
    """What volume_utils.upload_volume reads from a Volume object."""
    extra_specs = {}
    if store_id is not None:
        extra_specs['image_service:store_id'] = store_id
    glance_metadata = {'image_id': base_image_id} if base_image_id else {}
    return types.SimpleNamespace(
        id=volume_id,
        volume_type=types.SimpleNamespace(extra_specs=extra_specs),
        glance_metadata=glance_metadata)


def _upload(context, glance, volume_path, store_id=None, base_image_id=None,
            service=None, volume_id=None):
    """Upload the way the volume manager's drivers do, unchanged."""
    image_id = glance.queued_image()
    service = service or cinder_adapter.MultistoreImageService()
    image_meta = {'id': image_id, 'disk_format': 'raw',
                  'container_format': 'bare'}
    # NOTE: through the module attribute, as every volume driver calls it
    # (install() wraps it).
    volume_utils.upload_volume(context, service, image_meta, volume_path,
                               _volume(store_id, base_image_id, volume_id),
                               volume_format='raw', run_as_root=False)
    return image_id


# --- which header, with both clients -------------------------------------

@pytest.mark.parametrize('store_id, base_image_id, expected', [
    ('beta', BASE_ID, {STORE: 'beta'}),
    ('beta', None, {STORE: 'beta'}),
    (None, BASE_ID, {BASE: BASE_ID}),
    (None, None, {}),
])
def test_one_placement_header_reaches_glance(auth_strategy, context, glance,
                                             volume_path, store_id,
                                             base_image_id, expected):
    image_id = _upload(context, glance, volume_path, store_id, base_image_id)
    [put] = glance.of('PUT')
    sent = {k: put.headers[k] for k in (STORE, BASE) if k in put.headers}
    assert sent == expected
    assert put.headers[SIZE] == str(len(DATA))
    assert put.body_sha256 == SHA
    assert glance.images[image_id]['status'] == 'active'
    assert bool(glance.of('GET', '/v2/info/stores')) == (STORE in expected)
    if auth_strategy == 'keystone':
        assert put.headers['x-auth-token'] == 'tok'


def test_update_returns_the_image_as_cinder_does(cinder_conf, context,
                                                 glance, volume_path):
    image_id = glance.queued_image()
    service = cinder_adapter.MultistoreImageService()
    with open(volume_path, 'rb') as f:
        meta = service.update(context, image_id, {}, f, store_id='alpha')
    assert meta['id'] == image_id
    assert meta['status'] == 'active'
    assert meta['size'] == len(DATA)


def test_metadata_only_update_sends_no_data(cinder_conf, context, glance):
    image_id = glance.queued_image()
    cinder_adapter.MultistoreImageService().update(context, image_id, {},
                                                   store_id='alpha')
    assert not glance.of('PUT') and not glance.of('GET', '/v2/info')


def test_headers_do_not_stick_to_a_reused_client(auth_strategy, context,
                                                 glance, volume_path):
    # An image href binds the service to one client for every call.
    service, _ = cinder_adapter.get_remote_image_service(
        context, '%s/v2/images/%s' % (glance.url, BASE_ID))
    first = _upload(context, glance, volume_path, 'beta', None, service)
    service.show(context, first)
    _upload(context, glance, volume_path, None, BASE_ID, service)
    _upload(context, glance, volume_path, None, None, service)
    put_store, put_base, put_none = glance.of('PUT')
    assert put_store.headers[STORE] == 'beta'
    for later in [put_base, put_none] + glance.of('GET', '/v2/images/'):
        assert STORE not in later.headers
    assert put_base.headers[BASE] == BASE_ID
    assert BASE not in put_none.headers


def test_decisions_are_logged(cinder_conf, context, glance, volume_path,
                              caplog):
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    image_id = _upload(context, glance, volume_path, 'beta', BASE_ID)
    text = caplog.text
    assert 'Uploading volume data to image %s with %s: beta' % (
        image_id, STORE) in text
    assert 'image_service:store_id' in text and 'not sent' in text
    assert 'Sending %d bytes' % len(DATA) in text


def test_converted_images_go_through_the_same_path(cinder_conf, context,
                                                   glance, volume_path):
    # Cinder's image_utils.upload_volume opens the file and wraps it in
    # tpool.Proxy before calling update(); a qcow2 upload would go through
    # a temporary file the same way.
    image_id = glance.queued_image()
    image_utils.upload_volume(
        context, cinder_adapter.MultistoreImageService(),
        {'id': image_id, 'disk_format': 'raw', 'container_format': 'bare'},
        volume_path, volume_format='raw', run_as_root=False,
        store_id=None, base_image_ref=BASE_ID)
    [put] = glance.of('PUT')
    assert put.headers[BASE] == BASE_ID and put.body_sha256 == SHA


# --- store validation -----------------------------------------------------

@pytest.mark.parametrize('store_id, problem', [
    ('os_glance_staging_store', placement.StoreProblem.RESERVED),
    ('os_glance_tasks_store', placement.StoreProblem.RESERVED),
    ('gamma', placement.StoreProblem.UNKNOWN),
    ('web', placement.StoreProblem.READ_ONLY),
    ('bad/store', placement.StoreProblem.MALFORMED),
])
def test_unusable_store_fails_before_data_and_deletes_image(
        auth_strategy, context, glance, volume_path, store_id, problem):
    with pytest.raises(cinder_adapter.GlanceStoreRejected) as info:
        _upload(context, glance, volume_path, store_id, BASE_ID)
    error = info.value
    assert isinstance(error, exception.ImageUnacceptable)
    assert error.kwargs['store_id'] == store_id
    assert error.kwargs['problem'] == problem.value
    assert repr(store_id) in str(error)
    assert placement.describe_problem(store_id, problem) in str(error)
    assert not glance.of('PUT')
    [delete] = glance.of('DELETE')
    assert glance.images == {}
    assert delete.path.endswith(error.kwargs['image_id'])


def test_store_check_can_be_turned_off(cinder_conf, context, glance,
                                       volume_path):
    cinder_conf(group='multistore_image_service', validate_store=False)
    _upload(context, glance, volume_path, 'gamma')
    assert not glance.of('GET', '/v2/info/stores')
    assert glance.of('PUT')[0].headers[STORE] == 'gamma'


def test_glance_without_stores_gets_the_store_unchecked(
        cinder_conf, context, glance, volume_path, caplog):
    glance.stores = None
    image_id = _upload(context, glance, volume_path, 'beta')
    assert glance.of('PUT')[0].headers[STORE] == 'beta'
    assert glance.images[image_id]['status'] == 'active'
    assert 'Glance lists no stores' in caplog.text


def test_the_volume_manager_cleanup_tolerates_the_deleted_image(
        cinder_conf, context, glance, volume_path):
    # copy_volume_to_image calls show() to clean up after any error; the
    # image is already gone, which it handles as "not found".
    service = cinder_adapter.MultistoreImageService()
    with pytest.raises(cinder_adapter.GlanceStoreRejected) as info:
        _upload(context, glance, volume_path, 'gamma', service=service)
    with pytest.raises(exception.ImageNotFound):
        service.show(context, info.value.kwargs['image_id'])


# --- size and streaming ---------------------------------------------------

def test_no_size_header_for_a_pipe(cinder_conf, context, glance):
    image_id = glance.queued_image()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b'pipe data')
    os.close(write_fd)
    with os.fdopen(read_fd, 'rb', buffering=0) as f:
        cinder_adapter.MultistoreImageService().update(context, image_id, {},
                                                       f)
    [put] = glance.of('PUT')
    assert SIZE not in put.headers and put.body_length == 9


def test_reads_are_large_and_memory_is_bounded(cinder_conf, context, glance,
                                               tmp_path):
    chunk = 1024 * 1024
    cinder_conf(group='multistore_image_service', upload_chunk_size=chunk)
    path = tmp_path / 'sparse-volume'
    with open(path, 'wb') as f:
        f.truncate(64 * chunk)

    reads = []

    class Recording:
        def __init__(self, f):
            self._f = f

        def read(self, size=-1):
            data = self._f.read(size)
            reads.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self._f, name)

    import tracemalloc
    image_id = glance.queued_image()
    tracemalloc.start()
    try:
        with open(path, 'rb') as f:
            cinder_adapter.MultistoreImageService().update(
                context, image_id, {}, Recording(f))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [put] = glance.of('PUT')
    assert put.body_length == 64 * chunk
    assert put.headers[SIZE] == str(64 * chunk)
    assert max(reads) == chunk and len(reads) == 65
    assert peak < 16 * chunk  # a 64 MiB volume, a few chunks in memory


# --- retries --------------------------------------------------------------

def test_connection_lost_mid_upload_is_retried_from_the_start(
        auth_strategy, context, glance, volume_path, cinder_conf):
    cinder_conf(glance_num_retries=2)
    glance.drop_puts, glance.drop_after = 1, 100 * 1024
    image_id = _upload(context, glance, volume_path, 'beta')
    dropped, sent = glance.of('PUT')
    assert not dropped.complete and dropped.body_length >= 100 * 1024
    assert sent.complete and sent.body_sha256 == SHA
    assert sent.headers[STORE] == 'beta' and sent.headers[SIZE] == str(
        len(DATA))
    assert glance.images[image_id]['size'] == len(DATA)


def test_retries_give_up_as_cinder_does(cinder_conf, context, glance,
                                        volume_path):
    cinder_conf(glance_num_retries=1)
    glance.drop_puts = 2
    with pytest.raises(exception.GlanceConnectionFailed):
        _upload(context, glance, volume_path, 'beta')
    assert len(glance.of('PUT')) == 2


def test_unrewindable_data_is_not_resent_half_way(cinder_conf, context,
                                                  glance):
    cinder_conf(glance_num_retries=3)
    glance.drop_puts, glance.drop_after = 1, 1
    image_id = glance.queued_image()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b'x' * 60000)
    os.close(write_fd)
    with os.fdopen(read_fd, 'rb', buffering=0) as f:
        with pytest.raises(exception.GlanceConnectionFailed) as info:
            cinder_adapter.MultistoreImageService().update(
                context, image_id, {}, f)
    assert 'cannot be read again' in str(info.value)
    assert len(glance.of('PUT')) == 1


def test_unreachable_glance_is_a_connection_failure(cinder_conf, context,
                                                    volume_path):
    cinder_conf(glance_api_servers=['http://127.0.0.1:9'])
    service = cinder_adapter.MultistoreImageService()
    with open(volume_path, 'rb') as f:
        with pytest.raises(exception.GlanceConnectionFailed):
            service.update(context, 'some-image', {}, f)


# --- partial co-location ----------------------------------------------------

VOLUME_ID = '3f0c1e55-0b8e-4a8e-8b0e-1d2a6c1f9a01'


class RecordingMessages:
    """Shaped like ``cinder.message.api.API``: records ``create`` calls."""

    def __init__(self, error=None):
        self.created = []
        self.error = error

    def create(self, context, action, resource_type='VOLUME',
               resource_uuid=None, exception=None, detail=None,
               level='ERROR'):
        if self.error is not None:
            raise self.error
        self.created.append(dict(context=context, action=action,
                                 resource_type=resource_type,
                                 resource_uuid=resource_uuid,
                                 exception=exception, detail=detail,
                                 level=level))


@pytest.fixture
def partial_glance(glance):
    """Glance's filter answering that the copy in gamma failed."""
    glance.upload_reply_headers = {'X-Image-Stores-Written': 'alpha,beta',
                                   'X-Image-Stores-Failed': 'gamma'}
    return glance


def test_partial_colocation_is_logged_and_left_for_the_owner(
        installed, auth_strategy, context, partial_glance, volume_path,
        caplog):
    from cinder.message import message_field
    messages = RecordingMessages()
    service = cinder_adapter.MultistoreImageService(messages=messages)
    image_id = _upload(context, partial_glance, volume_path,
                       base_image_id=BASE_ID, service=service,
                       volume_id=VOLUME_ID)
    assert partial_glance.images[image_id]['status'] == 'active'
    [warning] = [r for r in caplog.records
                 if r.name == cinder_adapter.__name__
                 and r.levelno == logging.WARNING]
    text = warning.getMessage()
    assert image_id in text and VOLUME_ID in text
    assert 'gamma' in text and 'alpha, beta' in text
    [message] = messages.created
    assert message == dict(
        context=context,
        action=message_field.Action.COPY_VOLUME_TO_IMAGE,
        resource_type=message_field.Resource.VOLUME,
        resource_uuid=VOLUME_ID, exception=None,
        detail=message_field.Detail.FAILED_TO_UPLOAD_VOLUME,
        level='WARNING')
    # The volume is known only while its upload runs.
    assert cinder_adapter.uploading_volume_id() is None


def test_complete_colocation_says_nothing(installed, context, glance,
                                          volume_path, caplog):
    glance.upload_reply_headers = {
        'X-Image-Stores-Written': 'alpha,beta,gamma'}
    messages = RecordingMessages()
    service = cinder_adapter.MultistoreImageService(messages=messages)
    _upload(context, glance, volume_path, base_image_id=BASE_ID,
            service=service, volume_id=VOLUME_ID)
    assert messages.created == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_glance_without_the_filter_says_nothing(installed, context,
                                                  glance, volume_path):
    messages = RecordingMessages()
    service = cinder_adapter.MultistoreImageService(messages=messages)
    _upload(context, glance, volume_path, base_image_id=BASE_ID,
            service=service, volume_id=VOLUME_ID)
    assert messages.created == []


def test_an_upload_outside_volume_utils_reports_an_unknown_volume(
        cinder_conf, context, partial_glance, volume_path, caplog):
    # A driver calling image_utils.upload_volume directly: no volume.
    messages = RecordingMessages()
    service = cinder_adapter.MultistoreImageService(messages=messages)
    image_id = partial_glance.queued_image()
    image_utils.upload_volume(
        context, service, {'id': image_id, 'disk_format': 'raw',
                           'container_format': 'bare'},
        volume_path, volume_format='raw', run_as_root=False,
        base_image_ref=BASE_ID)
    [message] = messages.created
    assert message['resource_uuid'] is None
    assert '(unknown volume)' in caplog.text


def test_a_failing_message_api_does_not_fail_the_upload(
        installed, context, partial_glance, volume_path, caplog):
    messages = RecordingMessages(error=RuntimeError('database gone'))
    service = cinder_adapter.MultistoreImageService(messages=messages)
    image_id = _upload(context, partial_glance, volume_path,
                       base_image_id=BASE_ID, service=service,
                       volume_id=VOLUME_ID)
    assert partial_glance.images[image_id]['status'] == 'active'
    assert 'Could not leave a user message' in caplog.text
    assert 'database gone' in caplog.text


def test_concurrent_uploads_each_know_their_volume():
    import threading
    seen = {}
    barrier = threading.Barrier(2)

    def upload(volume_id):
        # Cinder's signature; both calls are inside it at once.
        def upload_volume(context, image_service, image_meta, volume_path,
                          volume, volume_format='raw'):
            barrier.wait(5)
            seen[volume_id] = cinder_adapter.uploading_volume_id()
        wrapped = cinder_adapter._remembering_volume(upload_volume)
        wrapped('ctx', 'service', {}, '/dev/null',
                volume=_volume(volume_id=volume_id))
    threads = [threading.Thread(target=upload, args=(v,))
               for v in ('vol-a', 'vol-b')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {'vol-a': 'vol-a', 'vol-b': 'vol-b'}


#: Drivers that call image_utils.upload_volume themselves, without the
#: volume (Cinder 26's Fungible driver): their partial co-locations are
#: reported without the volume's id.
WITHOUT_VOLUME = {'volume/drivers/fungible/driver.py'}


def test_every_volume_driver_uploads_through_volume_utils():
    """Drivers reach upload_volume through the module attribute that
    install() wraps, and it still takes the volume; a later Cinder that
    changes either fails here.
    """
    import inspect
    assert 'volume' in inspect.signature(
        volume_utils.upload_volume).parameters
    root = pathlib.Path(cinder_glance.__file__).parents[1]
    seen = 0
    for path in (root / 'volume').rglob('*.py'):
        rel = path.relative_to(root).as_posix()
        if rel.startswith('tests/'):
            continue
        text = path.read_text(errors='replace')
        assert not re.search(r'import upload_volume\b', text), rel
        for match in re.finditer(r'(\w+)\.upload_volume\(', text):
            if rel == 'volume/volume_utils.py' or rel in WITHOUT_VOLUME:
                assert match.group(1) in ('image_utils', 'volume_utils'), (
                    rel, match.group(0))
                continue
            assert match.group(1) == 'volume_utils', (rel, match.group(0))
            seen += 1
    assert seen >= 8


# --- activation -----------------------------------------------------------

@pytest.fixture
def installed(cinder_conf):
    assert not cinder_adapter.installed()
    assert cinder_adapter.install() is True
    yield
    cinder_adapter.uninstall()
    assert not cinder_adapter.installed()


def test_install_swaps_cinders_factories(installed, context, glance):
    from cinder import objects
    objects.register_all()  # as cinder-volume's main() does first
    from cinder.volume.flows.manager import create_volume
    from cinder.volume import manager
    assert cinder_adapter.install() is False  # idempotent
    for module in (manager, create_volume, image_utils):
        assert module.glance is cinder_glance
    service, image_id = cinder_glance.get_remote_image_service(context, 'x')
    assert isinstance(service, cinder_adapter.MultistoreImageService)
    assert image_id == 'x'
    service, image_id = cinder_glance.get_remote_image_service(
        context, '%s/v2/images/y' % glance.url)
    assert isinstance(service, cinder_adapter.MultistoreImageService)
    assert image_id == 'y'
    assert isinstance(cinder_glance.get_default_image_service(),
                      cinder_adapter.MultistoreImageService)


def test_uninstall_restores_cinder():
    original = cinder_glance.get_default_image_service
    upload_volume = volume_utils.upload_volume
    cinder_adapter.install()
    assert volume_utils.upload_volume is not upload_volume
    cinder_adapter.uninstall()
    assert cinder_glance.get_default_image_service is original
    assert volume_utils.upload_volume is upload_volume
    assert type(original()) is cinder_glance.GlanceImageService


def test_bad_remote_href_is_cinders_error(installed, context):
    with pytest.raises(exception.InvalidImageRef):
        cinder_glance.get_remote_image_service(context, 'http://[bad/x')


def test_only_a_multistore_client_is_accepted():
    with pytest.raises(TypeError):
        cinder_adapter.MultistoreImageService(
            client=cinder_glance.GlanceClientWrapper())


def test_every_image_service_in_cinder_comes_from_the_factories():
    """Cinder obtains image services only through the two module
    attributes that install() replaces; a new way in a later Cinder
    fails here.
    """
    root = pathlib.Path(cinder_glance.__file__).parents[1]
    seen = 0
    for path in root.rglob('*.py'):
        rel = path.relative_to(root).as_posix()
        if rel.startswith('tests/') or rel == 'image/glance.py':
            continue
        text = path.read_text(errors='replace')
        assert not re.search(r'from cinder\.image\.glance import', text), rel
        assert 'GlanceImageService(' not in text, rel
        for match in re.finditer(
                r'(\w+)\.(get_(?:default|remote)_image_service)\b', text):
            assert match.group(1) == 'glance', (rel, match.group(0))
            seen += 1
    assert seen >= 8


def test_cinder_volume_entry_point_is_what_the_launcher_wraps():
    import importlib.util
    spec = importlib.util.find_spec('cinder.cmd.volume')
    source = pathlib.Path(spec.origin).read_text()
    assert 'def main()' in source
    main_body = source[source.index('def main()'):]
    called = [name for name in cinder_adapter.LAUNCH_FUNCTIONS
              if re.search(r'^\s+%s\(\)' % name, main_body, re.M)]
    assert called
    for name in called:
        assert 'def %s()' % name in source


# --- Cinder releases --------------------------------------------------------

def _fake_launch_module(*names):
    """A ``cinder.cmd.volume`` whose main() calls the first of ``names``."""
    module = types.ModuleType('fake_cinder_cmd_volume')
    module.calls = []
    for name in names:
        setattr(module, name,
                lambda name=name: module.calls.append(name))
    module.main = lambda: getattr(module, names[0])()
    return module


@pytest.mark.parametrize('names', [
    ('_launch_services',),  # Cinder 28 and later
    ('_launch_services_posix', '_launch_services_win32'),  # Cinder 26, 27
], ids=['launch_services', 'posix_win32'])
def test_the_launch_of_every_release_is_announced(names, caplog):
    module = _fake_launch_module(*names)
    assert cinder_adapter.announce_on_launch(module) == list(names)
    caplog.set_level(logging.INFO, logger=cinder_adapter.__name__)
    assert cinder_adapter.ACTIVE_MESSAGE not in caplog.text
    module.main()
    assert module.calls == [names[0]]
    assert caplog.text.count(cinder_adapter.ACTIVE_MESSAGE) == 1


def test_a_cinder_without_launch_function_is_refused():
    module = types.ModuleType('fake_cinder_cmd_volume')
    module.main = lambda: None
    with pytest.raises(RuntimeError, match='_launch_services'):
        cinder_adapter.announce_on_launch(module)


def _recording_factories(with_privileged_user):
    """GlanceClientWrapper's two client factories, as one Cinder has them.

    Cinder 27 and later take ``privileged_user``; Cinder 26 does not.
    """
    calls = []
    client = types.SimpleNamespace(http_client=object())

    if with_privileged_user:
        def static(self, context, netloc, use_ssl, privileged_user=False):
            calls.append(('static', netloc, use_ssl, privileged_user))
            return client

        def onetime(self, context, privileged_user=False):
            calls.append(('onetime', privileged_user))
            return client
    else:
        def static(self, context, netloc, use_ssl):
            calls.append(('static', netloc, use_ssl))
            return client

        def onetime(self, context):
            calls.append(('onetime',))
            return client
    return static, onetime, calls


@pytest.mark.parametrize('with_privileged_user', [False, True],
                         ids=['cinder26', 'cinder27+'])
def test_client_factories_pass_what_cinders_accept(with_privileged_user,
                                                   monkeypatch, context):
    static, onetime, calls = _recording_factories(with_privileged_user)
    wrapper_class = cinder_glance.GlanceClientWrapper
    monkeypatch.setattr(wrapper_class, '_create_static_client', static)
    monkeypatch.setattr(wrapper_class, '_create_onetime_client', onetime)

    wrapper = cinder_adapter.MultistoreClientWrapper(
        context=context, netloc='glance:9292', use_ssl=True)
    assert isinstance(wrapper.client, cinder_adapter._UploadingClient)
    uploads = getattr(wrapper.client, cinder_adapter.UPLOAD_CONTROLLER)
    assert uploads._http_client is wrapper.client.http_client
    onetime_client = wrapper._create_onetime_client(context)
    assert isinstance(onetime_client, cinder_adapter._UploadingClient)
    privileged = wrapper._create_onetime_client(context,
                                                privileged_user=True)
    assert isinstance(privileged, cinder_adapter._UploadingClient)

    if with_privileged_user:
        assert calls == [('static', 'glance:9292', True, False),
                         ('onetime', False), ('onetime', True)]
    else:
        assert calls == [('static', 'glance:9292', True),
                         ('onetime',), ('onetime',)]


def test_installed_cinders_factories_get_what_they_accept(cinder_conf,
                                                          context, glance):
    """The installed Cinder's own factories, unpatched, whatever release."""
    wrapper = cinder_adapter.MultistoreClientWrapper()
    client = wrapper._create_onetime_client(context)
    assert isinstance(client, cinder_adapter._UploadingClient)
    remote = cinder_adapter.MultistoreClientWrapper(
        context=context, netloc=glance.url.split('//', 1)[1])
    assert isinstance(remote.client, cinder_adapter._UploadingClient)
