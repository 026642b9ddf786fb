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

"""Faults during uploads, on the real services of the embedded cloud.

A client that dies half-way through a co-located upload, a secondary
store that fills up, and cinder-volume killed while it uploads a volume.
Whatever breaks, no image stays in ``saving``, no store folder keeps data
the image does not list, and the Glance workers do not keep the threads
that wrote the copies.
"""

import hashlib
import os
import signal
import time

from glanceclient import exc as glance_exc
import pytest

from cinder_multistore import placement
from cinder_multistore_lab.stack import cinder as stack_cinder
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab import workflow
from tests.functional import cloud
from tests.functional import probes
from tests.functional.test_glance_placement import _assert_only_in


MIB = probes.MIB
#: Where the client gives up, and what it announced.
SENT = 8 * MIB
ANNOUNCED = 32 * MIB
#: Bounds of the waits after a fault.
SETTLE = 30.0
COLOCATED = ['alpha', 'beta', 'gamma']


#: A custom property of the base image, as real base images have. Without
#: one, the API of Cinder 26 to 28 sends ``properties: {}`` on
#: upload-to-image and glanceclient refuses it (fixed in Cinder 29).
BASE_PROPERTIES = {'cms_purpose': 'fault-tests'}


@pytest.fixture(scope='module')
def three_store_base(demo):
    """An active image of the demo project in alpha, beta and gamma."""
    base = demo.image_in(os.urandom(4096), COLOCATED)
    demo.glance.images.update(base['id'], **BASE_PROPERTIES)
    yield base
    demo.glance.images.delete(base['id'])


def _status(client, image_id):
    """The image's status, ``deleted`` when it is gone."""
    try:
        return client.get(image_id)['status']
    except glance_exc.HTTPNotFound:
        return 'deleted'


def _wait_status(client, image_id, wanted, timeout):
    deadline = time.monotonic() + timeout
    while True:
        status = _status(client, image_id)
        if status in wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def _evidence(log, image_id):
    return '\n'.join(log.lines(image_id) + log.problems()[-20:])


# -- a client that disconnects mid-upload ----------------------------------

@pytest.mark.parametrize('chunked,reset', [
    (True, False), (False, False), (True, True), (False, True)],
    ids=['chunked-close', 'content-length-close', 'chunked-reset',
         'content-length-reset'])
def test_client_disconnect_mid_colocated_upload(stack_env, demo,
                                                three_store_base, chunked,
                                                reset):
    before = probes.glance_usage(stack_env)
    log = probes.LogWindow(stack_env.glance.log)
    image = demo.create(name='cms-fault-disconnect')
    upload = probes.RawUpload(
        stack_env.glance.endpoint, demo.session.get_token(), image.id,
        headers={placement.BASE_IMAGE_HEADER: three_store_base['id']},
        length=None if chunked else ANNOUNCED)
    try:
        for block in probes.blocks(SENT):
            upload.send(block)
        # The upload really is under way in all three stores.
        assert _wait_status(demo, image.id, {'saving'}, 20) == 'saving'
        deadline = time.monotonic() + 20
        while (sorted(probes.leftovers(stack_env, image.id)) != COLOCATED
               and time.monotonic() < deadline):
            time.sleep(0.2)
        during = probes.glance_usage(stack_env)
        partial = probes.leftovers(stack_env, image.id)
    finally:
        upload.abort(reset=reset)
    print('\nbefore: %s\nduring: %s (partial files: %s)'
          % (before, during, partial))
    assert sorted(partial) == COLOCATED, partial

    status = _wait_status(demo, image.id, {'queued', 'deleted'}, SETTLE)
    left = probes.wait_no_leftovers(stack_env, image.id, SETTLE)
    after = probes.wait_threads(stack_env, before.threads, SETTLE)
    print('after:  %s; image %s; files left %s' % (after, status, left))
    evidence = _evidence(log, image.id)
    assert status in ('queued', 'deleted'), evidence
    assert left == {}, evidence
    assert after.pids == before.pids, 'a Glance worker died:\n' + evidence
    assert after.threads <= before.threads, evidence
    if status == 'queued':
        got = demo.get(image.id)
        assert cloud.stores_of(got) == []
        assert got['size'] in (None, 0)
        demo.glance.images.delete(image.id)


# -- a client that stops sending mid-upload ---------------------------------

@pytest.mark.parametrize('chunked', [True, False],
                         ids=['chunked', 'content-length'])
def test_client_stalls_mid_colocated_upload(stack_env, demo,
                                            three_store_base, chunked):
    """The client keeps the connection open but sends nothing more.

    The server's read timeout (uwsgi's, or the eventlet glance-api's
    ``client_socket_timeout``) ends the request: Glance answers
    (a 5xx is Glance's own answer to a body it could not read), the image
    is ``queued`` again, every copy is gone and the threads are back.
    """
    before = probes.glance_usage(stack_env)
    log = probes.LogWindow(stack_env.glance.log)
    image = demo.create(name='cms-fault-stall')
    upload = probes.RawUpload(
        stack_env.glance.endpoint, demo.session.get_token(), image.id,
        headers={placement.BASE_IMAGE_HEADER: three_store_base['id']},
        length=None if chunked else ANNOUNCED, timeout=SETTLE)
    try:
        for block in probes.blocks(SENT):
            upload.send(block)
        assert _wait_status(demo, image.id, {'saving'}, 20) == 'saving'
        status = _wait_status(demo, image.id, {'queued', 'deleted'}, SETTLE)
        try:
            answer = upload.sock.recv(200)
        except OSError as exc:
            answer = repr(exc).encode()
    finally:
        upload.abort()
    left = probes.wait_no_leftovers(stack_env, image.id, SETTLE)
    after = probes.wait_threads(stack_env, before.threads, SETTLE)
    print('\nanswer %r; image %s; files left %s; %s'
          % (answer.split(b'\r\n')[0], status, left, after))
    evidence = _evidence(log, image.id)
    assert status in ('queued', 'deleted'), evidence
    assert answer.startswith(b'HTTP/1.1 '), answer
    assert not answer.startswith(b'HTTP/1.1 2'), answer
    assert left == {}, evidence
    assert after.pids == before.pids, 'a Glance worker died:\n' + evidence
    assert after.threads <= before.threads, evidence
    if status == 'queued':
        demo.glance.images.delete(image.id)


# -- a secondary store that fills up ----------------------------------------

@pytest.fixture(scope='module')
def small_store_base(demo):
    """An active image in alpha and delta (the 16 MiB tmpfs store)."""
    base = demo.image_in(os.urandom(1024), ['alpha', 'delta'])
    yield base
    demo.glance.images.delete(base['id'])


def _free(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


@pytest.mark.parametrize('chunked', [False, True],
                         ids=['content-length', 'chunked'])
def test_full_secondary_store_fails_alone(stack_env, demo, small_store_base,
                                          chunked):
    delta = stack_env.glance.store_dir('delta')
    free_before = _free(delta)
    log = probes.LogWindow(stack_env.glance.log)
    data = os.urandom(24 * MIB)
    body = data
    if chunked:
        body = iter([data[i:i + MIB] for i in range(0, len(data), MIB)])
    image = demo.create(name='cms-fault-full-secondary')
    resp = demo.upload(image.id, body, base=small_store_base['id'])
    evidence = _evidence(log, image.id)
    assert resp.status_code == 204, '%s %s\n%s' % (resp.status_code,
                                                   resp.text, evidence)
    assert cloud.written(resp) == ['alpha'], dict(resp.headers)
    assert cloud.failed(resp) == ['delta'], dict(resp.headers)
    assert resp.headers.get('X-Image-Placement-Rule') == 'colocate'
    got = _assert_only_in(stack_env, demo, image.id, ['alpha'], data=data)
    assert got['checksum'] == hashlib.md5(data).hexdigest()
    # Nothing of the image in delta (no partial or temporary file either).
    assert 'delta' not in probes.leftovers(stack_env, image.id)
    assert _free(delta) == free_before
    # The reason is logged, naming the store.
    warned = log.lines(image.id, 'delta', 'failed')
    assert warned, evidence
    print('\n' + '\n'.join(warned))
    demo.glance.images.delete(image.id)


# -- cinder-volume killed mid-upload -----------------------------------------

def test_cinder_volume_killed_mid_upload(stack_env, three_store_base):
    """SIGKILL cinder-volume while it uploads a co-located volume, restart
    it, and check that the image ends queued, killed or deleted with no
    data left in any store and no writer thread left in Glance.
    """
    directory = stack_env.directory
    baseline = probes.glance_usage(stack_env).threads
    cloud_ = workflow.Cloud(stack_env)
    vol = cloud_.volume(name='cms-kill-%s' % os.urandom(4).hex(),
                        image_id=three_store_base['id'])
    image_id = None
    try:
        _, body = cloud_.cinder.volumes.upload_to_image(
            cloud_.cinder.volumes.get(vol.id), False, 'cms-killed-upload',
            'bare', 'raw', 'private', False)
        image_id = body['os-volume_upload_image']['image_id']
        demo = cloud.ImageClient(stack_env, cloud_.session)
        assert _wait_status(demo, image_id, ('saving',), 120) == 'saving'
        time.sleep(1)  # some data is in flight to every store
        record = process.read_pid_file(
            process.run_dir(directory) / ('%s.pid' % stack_cinder.VOLUME))
        for pid in process.session_members(*record):
            os.kill(pid, signal.SIGKILL)
        stack_cinder.restart_volume(State.load(directory))
        status = _wait_status(demo, image_id, ('queued', 'killed',
                                               'deleted'), SETTLE)
        assert status in ('queued', 'killed', 'deleted'), status
        assert probes.wait_no_leftovers(stack_env, image_id, SETTLE) == {}
        usage = probes.wait_threads(stack_env, baseline, SETTLE)
        assert usage.threads <= baseline, usage
    finally:
        volume = cloud_.admin_cinder.volumes.get(vol.id)
        if volume.status != 'available':
            cloud_.admin_cinder.volumes.reset_state(volume, 'available')
        cloud_.cinder.volumes.delete(vol.id)
        if image_id is not None:
            try:
                cloud_.glance.images.delete(image_id)
            except glance_exc.HTTPNotFound:
                pass


@pytest.fixture(scope='module')
def primary_small_base(demo):
    """An active image in delta and gamma: delta (full at 16 MiB) is the
    primary, written by Glance, gamma the secondary.
    """
    base = demo.image_in(os.urandom(1024), ['delta', 'gamma'])
    yield base
    demo.glance.images.delete(base['id'])


def test_full_primary_store_removes_the_finished_copies(stack_env, demo,
                                                        primary_small_base):
    delta = stack_env.glance.store_dir('delta')
    free_before = _free(delta)
    baseline = probes.glance_usage(stack_env).threads
    image = demo.create(name='cms-fault-full-primary')
    resp = demo.upload(image.id, os.urandom(24 * MIB),
                       base=primary_small_base['id'])
    assert resp.status_code == 413, resp.text   # Glance's "storage full"
    assert _status(demo, image.id) == 'queued'
    # The secondary had all the data it was sent; it is removed all the
    # same, and so is the primary's partial file.
    assert probes.wait_no_leftovers(stack_env, image.id, SETTLE) == {}
    assert _free(delta) == free_before
    assert probes.wait_threads(stack_env, baseline, SETTLE).threads \
        <= baseline
    demo.glance.images.delete(image.id)
