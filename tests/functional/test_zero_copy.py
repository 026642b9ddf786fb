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

"""Upload-to-image by a Ceph clone (``[multistore_image_service]
zero_copy``), through the real Cinder API on the two Ceph clusters.

A raw volume of the central site whose volume type names the central rbd
store is not streamed: its snapshot is cloned, copy-on-write, into Glance's
pool (with glance_store's protected ``snap``; the volume's snapshot goes to
Ceph's snapshot trash) and the location is registered with Glance's
locations API as Cinder's service user; Glance hashes the data in the
background. The image holds the volume's bytes of the moment of the
upload, and the image and the volume can each be deleted first (a volume
deleted first waits in the RBD trash until its image is deleted), leaving
nothing in either pool. A
qcow2 upload streams, and says so once in cinder-volume's log. The option
is on by default; the module restarts the stack's cinder-volume with it
written in ``cinder.conf`` all the same, and gives the file back at the
end.
"""

import contextlib
import datetime
import hashlib
import json
import os
import time
import uuid

import pytest

from cinder_multistore_lab.stack import ceph as stack_ceph
from cinder_multistore_lab import workflow
from tests.functional import ceph_probes
from tests.functional import cinder_options
from tests.functional import probes
from tests.functional.test_cinder_upload import Tracker


MIB = 1 << 20
SITE = 'central'
#: Where the test writes into the volume: the start and the middle.
OFFSETS = (0, 512 * MIB)


def _name(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


@pytest.fixture(scope='module')
def sites(stack_env):
    return cinder_options.multistore_sites(stack_env)


@pytest.fixture(scope='module')
def cloud(stack_env, sites):
    return workflow.Cloud(stack_env)


@pytest.fixture(scope='module')
def zero_copy_on(stack_env, sites):
    """cinder-volume with ``zero_copy = true``; the stack's cinder.conf
    given back as it was (and cinder-volume restarted) at the end.
    """
    with cinder_options.volume_options(
            stack_env, zero_copy='true',
            upload_parent_purge_interval='10') as log:
        yield log


@pytest.fixture(scope='module')
def central_type(cloud, stack_env, zero_copy_on):
    """A volume type of the central backend naming the central store."""
    tracker = Tracker(cloud)
    yield _central_type(cloud, stack_env, tracker, SITE)
    tracker.cleanup()


@pytest.fixture(scope='module')
def edge_store_type(cloud, stack_env, zero_copy_on):
    """A volume type of the central backend naming the edge store."""
    tracker = Tracker(cloud)
    yield _central_type(cloud, stack_env, tracker, 'edge')
    tracker.cleanup()


def _central_type(cloud, env, tracker, store_site):
    vtype = cloud.admin_cinder.volume_types.create(_name('cms-zc'))
    vtype.set_keys({
        'volume_backend_name': env.cinder.site(SITE).backend,
        'RESKEY:availability_zones': env.cinder.site(SITE).az,
        workflow.STORE_SPEC: ceph_probes.store(env, store_site)})
    tracker.types.append(vtype.id)
    return vtype.id


@pytest.fixture
def made(cloud):
    tracker = Tracker(cloud)
    yield tracker
    tracker.cleanup()


def _volume(cloud, made, volume_type, image_id=None):
    vol = cloud.cinder.volumes.create(1, name=_name('cms-zc-vol'),
                                      volume_type=volume_type,
                                      imageRef=image_id)
    made.volumes.append(vol.id)
    return cloud.wait_volume(vol.id, timeout=300)


def _write(env, volume_id, blocks):
    """Write ``blocks`` (offset -> bytes) into the volume's RBD image."""
    with ceph_probes.ioctx(env, SITE, env.ceph.volumes_pool) as ctx:
        with ceph_probes.rbd.Image(ctx, 'volume-%s' % volume_id) as image:
            for offset, data in blocks.items():
                image.write(data, offset)
            image.flush()


def _read(env, pool, name, offset, length, snapshot=None):
    with ceph_probes.ioctx(env, SITE, pool) as ctx:
        with ceph_probes.rbd.Image(ctx, name, snapshot=snapshot,
                                   read_only=True) as image:
            return image.read(offset, length)


def _log_lines(log, offset, image_id):
    with open(log, 'rb') as f:
        f.seek(offset)
        text = f.read().decode('utf-8', 'replace')
    return [line for line in text.splitlines()
            if 'to image %s:' % image_id in line]


def _hashed(cloud, image_id):
    """The image once Glance's background hashing has filled it in."""
    return cloud.wait_hashed(image_id)


def _download_digests(cloud, image_id, algorithm):
    md5, multi = hashlib.md5(), hashlib.new(algorithm)
    size = 0
    for chunk in cloud.glance.images.data(image_id):
        md5.update(chunk)
        multi.update(chunk)
        size += len(chunk)
    return size, md5.hexdigest(), multi.hexdigest()


def _cow_parent(env, image_id):
    """The volume the image is a clone of, or None."""
    parent = ceph_probes.parent(env, SITE, env.ceph.images_pool, image_id)
    if parent is None:
        return None
    assert parent[0] == env.ceph.volumes_pool, parent
    return parent[1]


def _user_snapshots(env, volume_id):
    with ceph_probes.ioctx(env, SITE, env.ceph.volumes_pool) as ctx:
        with ceph_probes.rbd.Image(ctx, 'volume-%s' % volume_id,
                                   read_only=True) as rbd_volume:
            return [s['name'] for s in rbd_volume.list_snaps()
                    if 'trash' not in s]


def _leftovers(env, volume_id, image_id, timeout=120):
    """What is left of the volume and the image in either pool (trash
    included) after ``timeout`` seconds (a volume deleted before its image
    stays in the trash until cinder-volume's next purge).
    """
    return probes.poll_until_empty(
        lambda: _left(env, volume_id, image_id), timeout, 2)


def _left(env, volume_id, image_id):
    found = []
    for pool in (env.ceph.volumes_pool, env.ceph.images_pool):
        with ceph_probes.ioctx(env, SITE, pool) as ctx:
            names = set(ceph_probes.rbd.RBD().list(ctx))
            names |= {t['name'] for t in ceph_probes.rbd.RBD().trash_list(
                ctx)}
        found += ['%s/%s' % (pool, n) for n in names
                  if volume_id in n or image_id in n]
    return found


def _upload_clone(stack_env, cloud, made, volume_type, log):
    """A volume with data, uploaded; its data at upload time."""
    vol = _volume(cloud, made, volume_type)
    blocks = {offset: os.urandom(MIB) for offset in OFFSETS}
    _write(stack_env, vol.id, blocks)
    offset = os.path.getsize(log)
    image = made.upload(vol.id)
    lines = _log_lines(log, offset, image['id'])
    assert len(lines) == 1, lines
    assert 'no data streamed' in lines[0], lines
    assert 'INFO' in lines[0], lines
    return vol, image, blocks


def test_raw_upload_is_a_clone_with_the_volumes_bytes(
        stack_env, cloud, made, central_type, zero_copy_on):
    vol, image, blocks = _upload_clone(stack_env, cloud, made, central_type,
                                       zero_copy_on)
    image_id = image['id']
    images_pool = stack_env.ceph.images_pool
    assert workflow.image_stores(image) == [
        ceph_probes.store(stack_env, SITE)]
    assert image_id in ceph_probes.images(stack_env, SITE)
    assert image_id not in ceph_probes.images(stack_env, 'edge')
    assert ceph_probes.snapshot(stack_env, SITE, image_id) == (
        1 << 30, True)
    # Zero copy: the image is a copy-on-write clone of the volume, whose
    # snapshot is in Ceph's snapshot trash (no snapshot Cinder would see).
    assert _cow_parent(stack_env, image_id) == 'volume-%s' % vol.id
    assert _user_snapshots(stack_env, vol.id) == []

    # Written after the upload: the image keeps the bytes of the upload.
    _write(stack_env, vol.id, {o: os.urandom(MIB) for o in OFFSETS})
    for offset, data in blocks.items():
        assert _read(stack_env, images_pool, image_id, offset, MIB,
                     ceph_probes.SNAP) == data

    image = _hashed(cloud, image_id)
    assert image['size'] == 1 << 30
    stored = ceph_probes.digests(stack_env, SITE, image_id,
                                 image['os_hash_algo'])
    assert stored == (image['size'], image['checksum'],
                      image['os_hash_value'])
    assert _download_digests(cloud, image_id, image['os_hash_algo']) == (
        stored)

    # A volume from the image is a copy-on-write clone of it.
    clone = _volume(cloud, made, central_type, image_id=image_id)
    assert ceph_probes.parent(
        stack_env, SITE, stack_env.ceph.volumes_pool,
        'volume-%s' % clone.id) == (images_pool, image_id, ceph_probes.SNAP)
    cloud.remove(volumes=[clone.id])


def test_volume_deleted_first(stack_env, cloud, made, central_type,
                              zero_copy_on):
    vol, image, blocks = _upload_clone(stack_env, cloud, made, central_type,
                                       zero_copy_on)
    offset = os.path.getsize(zero_copy_on)
    cloud.remove(volumes=[vol.id])
    # The volume waits in the RBD trash: the image still is its clone.
    assert _cow_parent(stack_env, image['id']) == 'volume-%s' % vol.id
    assert _left(stack_env, vol.id, image['id']) == [
        '%s/volume-%s' % (stack_env.ceph.volumes_pool, vol.id),
        '%s/%s' % (stack_env.ceph.images_pool, image['id'])]
    with open(zero_copy_on, 'rb') as f:
        f.seek(offset)
        assert ('copy-on-write parent of %s/%s' % (
            stack_env.ceph.images_pool, image['id'])).encode() in f.read()
    for offset, data in blocks.items():
        assert _read(stack_env, stack_env.ceph.images_pool, image['id'],
                     offset, MIB, ceph_probes.SNAP) == data
    image = _hashed(cloud, image['id'])
    size, md5, _ = _download_digests(cloud, image['id'],
                                     image['os_hash_algo'])
    assert (size, md5) == (image['size'], image['checksum'])
    cloud.remove(images=[image['id']])
    assert ceph_probes.wait_gone(stack_env, SITE, image['id'])
    assert _leftovers(stack_env, vol.id, image['id']) == []


def test_image_deleted_first(stack_env, cloud, made, central_type,
                             zero_copy_on):
    vol, image, blocks = _upload_clone(stack_env, cloud, made, central_type,
                                       zero_copy_on)
    _hashed(cloud, image['id'])
    cloud.remove(images=[image['id']])
    assert ceph_probes.wait_gone(stack_env, SITE, image['id'])
    for offset, data in blocks.items():
        assert _read(stack_env, stack_env.ceph.volumes_pool,
                     'volume-%s' % vol.id, offset, MIB) == data
    cloud.remove(volumes=[vol.id])
    assert _leftovers(stack_env, vol.id, image['id']) == []


def test_qcow2_streams_and_says_why(stack_env, cloud, made,
                                    central_type, zero_copy_on):
    vol = _volume(cloud, made, central_type)
    offset = os.path.getsize(zero_copy_on)
    image = made.upload(vol.id, 'qcow2')
    lines = _log_lines(zero_copy_on, offset, image['id'])
    assert len(lines) == 1, lines
    assert 'INFO' in lines[0] and 'streamed: the disk format is qcow2' in (
        lines[0]), lines
    assert image['disk_format'] == 'qcow2'
    assert image['checksum']


def test_a_store_in_the_other_cluster_streams(stack_env, cloud, made,
                                              edge_store_type,
                                              zero_copy_on):
    vol = _volume(cloud, made, edge_store_type)
    offset = os.path.getsize(zero_copy_on)
    image = made.upload(vol.id)
    lines = _log_lines(zero_copy_on, offset, image['id'])
    assert len(lines) == 1, lines
    assert ('streamed: store %s is not a writable rbd store in the '
            'volume\'s Ceph cluster' % ceph_probes.store(stack_env, 'edge')
            in lines[0]), lines
    assert workflow.image_stores(image) == [
        ceph_probes.store(stack_env, 'edge')]
    assert image['checksum']


def _mon(handle, **command):
    ret, out, err = handle.mon_command(json.dumps(command), b'', timeout=10)
    assert ret == 0, (command, err)
    return out


@contextlib.contextmanager
def _cinder_reads_only_glances_pool(env):
    """The Cinder Ceph user of the central cluster with read-only rights
    on Glance's pool (as upstream's deployment guides give it), put back
    as it was at the end.
    """
    entity = 'client.%s' % stack_ceph.CINDER_USER
    with ceph_probes.cluster(env, SITE) as handle:
        [current] = json.loads(_mon(handle, prefix='auth get',
                                    entity=entity, format='json'))
        caps = dict(current['caps'])
        reduced = dict(caps, osd='profile rbd pool=%s, profile '
                       'rbd-read-only pool=%s' % (env.ceph.volumes_pool,
                                                  env.ceph.images_pool))
        _mon(handle, prefix='auth caps', entity=entity,
             caps=[x for item in reduced.items() for x in item])
        try:
            yield
        finally:
            _mon(handle, prefix='auth caps', entity=entity,
                 caps=[x for item in caps.items() for x in item])


def _upload_while(condition, cloud, made, volume_type, log):
    """A volume with 1 MiB written, uploaded while ``condition`` (a context
    manager) holds: the volume, the image, the data and the upload's one
    line in cinder-volume's log.
    """
    env = cloud.env
    vol = _volume(cloud, made, volume_type)
    blocks = {0: os.urandom(MIB)}
    _write(env, vol.id, blocks)
    offset = os.path.getsize(log)
    with condition:
        image = made.upload(vol.id)
    lines = _log_lines(log, offset, image['id'])
    assert len(lines) == 1, lines
    return vol, image, blocks, lines[0]


def test_ceph_refusing_the_clone_streams(stack_env, cloud, made,
                                         central_type, zero_copy_on):
    vol, image, blocks, line = _upload_while(
        _cinder_reads_only_glances_pool(stack_env), cloud, made,
        central_type, zero_copy_on)
    assert 'streamed: Ceph refused to clone' in line, line
    # Streamed into the same store, by glance-api: a proper image.
    assert workflow.image_stores(image) == [
        ceph_probes.store(stack_env, SITE)]
    assert _read(stack_env, stack_env.ceph.images_pool, image['id'], 0, MIB,
                 ceph_probes.SNAP) == blocks[0]
    with ceph_probes.ioctx(stack_env, SITE,
                           stack_env.ceph.volumes_pool) as ctx:
        with ceph_probes.rbd.Image(ctx, 'volume-%s' % vol.id,
                                   read_only=True) as rbd_volume:
            assert list(rbd_volume.list_snaps()) == []
            # Nothing keeps the volume open after the upload (Cinder's
            # delete would fail with ImageBusy).
            watchers = probes.poll_until_empty(
                lambda: list(rbd_volume.watchers_list()), 30, 0.5)
            assert watchers == [], watchers


@pytest.fixture(scope='module')
def central_no_store_type(cloud, stack_env, zero_copy_on):
    """A volume type of the central backend naming no store."""
    tracker = Tracker(cloud)
    vtype = cloud.admin_cinder.volume_types.create(_name('cms-zc-plain'))
    vtype.set_keys({
        'volume_backend_name': stack_env.cinder.site(SITE).backend,
        'RESKEY:availability_zones': stack_env.cinder.site(SITE).az})
    tracker.types.append(vtype.id)
    yield vtype.id
    tracker.cleanup()


@pytest.fixture(scope='module')
def edge_type(stack_env):
    """The stack's volume type of the edge site (no store)."""
    return stack_env.cinder.site('edge').volume_type


def test_a_base_image_in_the_clusters_store_alone_is_cloned_into(
        stack_env, cloud, made, central_no_store_type, zero_copy_on):
    """Base image in ceph-central only -> volume (a clone of it) ->
    upload: the base image's one store is cloned into; with
    ``flatten_clones_of_base_images = true`` the new image is a flattened
    clone (the volume being a clone itself), so that the base image is
    removed once the volume is.
    """
    base_data = os.urandom(MIB)
    base = made.image_in_stores(base_data,
                                [ceph_probes.store(stack_env, SITE)])
    vol = _volume(cloud, made, central_no_store_type, image_id=base['id'])
    assert ceph_probes.parent(
        stack_env, SITE, stack_env.ceph.volumes_pool,
        'volume-%s' % vol.id) == (stack_env.ceph.images_pool, base['id'],
                                  ceph_probes.SNAP)
    with cinder_options.volume_options(
            stack_env, flatten_clones_of_base_images='true'):
        offset = os.path.getsize(zero_copy_on)
        image = made.upload(vol.id)
    lines = _log_lines(zero_copy_on, offset, image['id'])
    assert len(lines) == 1 and 'no data streamed' in lines[0], lines
    assert 'flattened clone (the volume is itself a clone of %s/%s' % (
        stack_env.ceph.images_pool, base['id']) in lines[0], lines
    assert _cow_parent(stack_env, image['id']) is None
    cloud.remove(volumes=[vol.id], images=[base['id']])
    assert ceph_probes.wait_gone(stack_env, SITE, base['id'])
    assert _read(stack_env, stack_env.ceph.images_pool, image['id'], 0,
                 MIB, ceph_probes.SNAP) == base_data
    _hashed(cloud, image['id'])
    cloud.remove(images=[image['id']])
    assert ceph_probes.wait_gone(stack_env, SITE, image['id'])
    assert _leftovers(stack_env, vol.id, image['id']) == []
    assert _leftovers(stack_env, vol.id, base['id']) == []


def test_the_image_of_a_volume_from_a_base_image_keeps_the_chain(
        stack_env, cloud, made, central_no_store_type, zero_copy_on):
    """By default (``flatten_clones_of_base_images = false``): base image
    -> volume -> upload is a copy-on-write clone of the volume, nothing
    flattened. The image outlives its volume (which waits in the RBD trash)
    and its base image (Glance deletes it; glance_store moves its RBD
    image, which still has a clone, to the trash of Glance's pool); once
    the image is deleted,
    cinder-volume removes the volume and a trash purge (the operator's
    ``rbd trash purge schedule``) the base image: nothing is left.
    """
    base_data = os.urandom(MIB)
    base = made.image_in_stores(base_data,
                                [ceph_probes.store(stack_env, SITE)])
    vol = _volume(cloud, made, central_no_store_type, image_id=base['id'])
    written = os.urandom(MIB)
    _write(stack_env, vol.id, {4 * MIB: written})
    offset = os.path.getsize(zero_copy_on)
    image = made.upload(vol.id)
    lines = _log_lines(zero_copy_on, offset, image['id'])
    assert len(lines) == 1 and 'no data streamed' in lines[0], lines
    assert ('copy-on-write clone (the volume is itself a clone of base '
            'image %s/%s' % (stack_env.ceph.images_pool, base['id'])
            ) in lines[0], lines
    assert _cow_parent(stack_env, image['id']) == 'volume-%s' % vol.id
    cloud.remove(volumes=[vol.id], images=[base['id']])
    assert base['id'] in _trashed(stack_env, stack_env.ceph.images_pool)
    for at, data in ((0, base_data), (4 * MIB, written)):
        assert _read(stack_env, stack_env.ceph.images_pool, image['id'],
                     at, MIB, ceph_probes.SNAP) == data
    image = _hashed(cloud, image['id'])
    assert _download_digests(cloud, image['id'], image['os_hash_algo'])[
        1:] == (image['checksum'], image['os_hash_value'])
    cloud.remove(images=[image['id']])
    # NOTE: the volume leaves the trash at cinder-volume's next purge.
    assert _leftovers(stack_env, vol.id, image['id']) == []
    with ceph_probes.ioctx(stack_env, SITE,
                           stack_env.ceph.images_pool) as ctx:
        ceph_probes.rbd.RBD().trash_purge(
            ctx, datetime.datetime.now() + datetime.timedelta(seconds=5))
    assert _leftovers(stack_env, vol.id, base['id']) == []


def _trashed(env, pool):
    with ceph_probes.ioctx(env, SITE, pool) as ctx:
        return [t['name'] for t in ceph_probes.rbd.RBD().trash_list(ctx)]


def test_the_volumes_site_store_is_cloned_into(stack_env, cloud, made,
                                               central_no_store_type,
                                               zero_copy_on):
    """With ``site_store`` on too, an upload nothing else places goes to
    the store of the volume's cluster, by a clone.
    """
    vol = _volume(cloud, made, central_no_store_type)
    blocks = {0: os.urandom(MIB)}
    _write(stack_env, vol.id, blocks)
    with cinder_options.volume_options(stack_env, site_store='true'):
        offset = os.path.getsize(zero_copy_on)
        image = made.upload(vol.id)
    lines = _log_lines(zero_copy_on, offset, image['id'])
    assert len(lines) == 1 and 'no data streamed' in lines[0], lines
    assert workflow.image_stores(image) == [
        ceph_probes.store(stack_env, SITE)]
    assert _read(stack_env, stack_env.ceph.images_pool, image['id'], 0,
                 MIB, ceph_probes.SNAP) == blocks[0]


@pytest.mark.parametrize('order', [
    ('volume', 'clone', 'image'),
    ('clone', 'image', 'volume'),
    ('image-of-clone', 'clone', 'volume', 'image'),
])
def test_deleting_a_chain_in_any_order_leaves_nothing(
        stack_env, cloud, made, central_type, zero_copy_on, order):
    """volume -> image (zero copy) -> clone (a volume from the image) ->
    image-of-clone (zero copy again, by default a clone of the clone: the
    chain image-of-clone -> clone -> image -> volume), deleted in
    ``order``; each image keeps the volume's bytes until deleted, and
    downloads whole with its checksum once both volumes are deleted;
    nothing is left in either pool or trash at the end (an image deleted
    while a volume is its clone waits in the trash of Glance's pool for a
    trash purge, the operator's schedule).
    """
    vol, image, blocks = _upload_clone(stack_env, cloud, made,
                                       central_type, zero_copy_on)
    # NOTE: Cinder 26 to 28's API refuses to upload a volume made from an
    # image with no property of its own (workflow.BASE_PROPERTIES).
    cloud.glance.images.update(image['id'], **workflow.BASE_PROPERTIES)
    clone = _volume(cloud, made, central_type, image_id=image['id'])
    assert ceph_probes.parent(
        stack_env, SITE, stack_env.ceph.volumes_pool,
        'volume-%s' % clone.id) == (stack_env.ceph.images_pool, image['id'],
                                    ceph_probes.SNAP)
    second = made.upload(clone.id)
    # The clone is a clone of an image: its image keeps the chain.
    assert _cow_parent(stack_env, second['id']) == 'volume-%s' % clone.id
    things = {'volume': ('volume', vol.id), 'image': ('image', image['id']),
              'clone': ('volume', clone.id),
              'image-of-clone': ('image', second['id'])}
    order = order + tuple(k for k in things if k not in order)
    remaining = {things[k][1] for k in order}
    for key in order:
        kind, ident = things[key]
        if kind == 'volume':
            cloud.remove(volumes=[ident])
        else:
            cloud.remove(images=[ident])
            assert ceph_probes.wait_gone(stack_env, SITE, ident)
        remaining.discard(ident)
        for other in (image['id'], second['id']):
            if other not in remaining:
                continue
            for offset, data in blocks.items():
                assert _read(stack_env, stack_env.ceph.images_pool, other,
                             offset, len(data), ceph_probes.SNAP) == data
            if kind == 'volume' and not {vol.id, clone.id} & remaining:
                # NOTE: the images' data depends on both volumes (the
                # chain): downloaded whole, against Glance's checksum,
                # once neither is left.
                hashed = _hashed(cloud, other)
                size, md5, _ = _download_digests(cloud, other,
                                                 hashed['os_hash_algo'])
                assert (size, md5) == (hashed['size'], hashed['checksum'])
    assert _leftovers(stack_env, clone.id, second['id']) == []
    with ceph_probes.ioctx(stack_env, SITE,
                           stack_env.ceph.images_pool) as ctx:
        ceph_probes.rbd.RBD().trash_purge(
            ctx, datetime.datetime.now() + datetime.timedelta(seconds=5))
    for volume_id in (vol.id, clone.id):
        for image_id in (image['id'], second['id']):
            assert _leftovers(stack_env, volume_id, image_id) == []


@contextlib.contextmanager
def _clone_format_1(env):
    """The central cluster's clients make clones of format 1 (as on a
    cluster whose ``require-min-compat-client`` is older than Mimic), put
    back as it was at the end.
    """
    with ceph_probes.cluster(env, SITE) as handle:
        before = json.loads(_mon(handle, prefix='osd dump', format='json'))[
            'require_min_compat_client']
        _mon(handle, prefix='osd set-require-min-compat-client',
             version='luminous', yes_i_really_mean_it=True)
        try:
            yield
        finally:
            _mon(handle, prefix='osd set-require-min-compat-client',
                 version=before, yes_i_really_mean_it=True)


def test_a_cluster_with_clone_format_1_gets_a_flattened_clone(
        stack_env, cloud, made, central_type, zero_copy_on):
    vol, image, blocks, line = _upload_while(
        _clone_format_1(stack_env), cloud, made, central_type, zero_copy_on)
    assert 'flattened clone' in line and 'no data streamed' in line, line
    assert _cow_parent(stack_env, image['id']) is None
    assert _user_snapshots(stack_env, vol.id) == []
    assert _read(stack_env, stack_env.ceph.images_pool, image['id'], 0, MIB,
                 ceph_probes.SNAP) == blocks[0]
    cloud.remove(volumes=[vol.id], images=[image['id']])
    assert ceph_probes.wait_gone(stack_env, SITE, image['id'])
    assert _leftovers(stack_env, vol.id, image['id']) == []


def test_a_colocation_is_cloned_here_and_copied_there_by_glance(
        stack_env, cloud, made, central_no_store_type, edge_type,
        zero_copy_on):
    """Base image in both clusters -> volume at central -> upload: the
    image is made in central's store by a clone and is active at once;
    Glance's copy-image import then copies it to edge's store.
    """
    base_data = os.urandom(MIB)
    stores = [ceph_probes.store(stack_env, SITE),
              ceph_probes.store(stack_env, 'edge')]
    base = made.image_in_stores(base_data, stores)
    vol = _volume(cloud, made, central_no_store_type, image_id=base['id'])
    offset = os.path.getsize(zero_copy_on)
    image = made.upload(vol.id)
    lines = _log_lines(zero_copy_on, offset, image['id'])
    assert len(lines) == 1 and 'no data streamed' in lines[0], lines
    assert ("%s get their copies from Glance's copy-image import"
            % stores[1]) in lines[0], lines
    deadline = time.monotonic() + 300
    while set(workflow.image_stores(cloud.image(image['id']))) != set(
            stores):
        shown = cloud.image(image['id'])
        assert not shown.get('os_glance_failed_import'), shown
        assert time.monotonic() < deadline, shown
        time.sleep(1)
    image = _hashed(cloud, image['id'])
    for site in (SITE, 'edge'):
        assert ceph_probes.digests(stack_env, site, image['id'],
                                   image['os_hash_algo']) == (
            image['size'], image['checksum'], image['os_hash_value'])
    # The edge site's volume from it is a clone of its edge copy (Cinder's
    # RBD driver reads the locations as the [glance] user, without
    # show_multiple_locations).
    edge = _volume(cloud, made, edge_type, image_id=image['id'])
    assert ceph_probes.parent(
        stack_env, 'edge', stack_env.ceph.volumes_pool,
        'volume-%s' % edge.id) == (stack_env.ceph.images_pool, image['id'],
                                   ceph_probes.SNAP)
    cloud.remove(volumes=[vol.id, edge.id],
                 images=[image['id'], base['id']])
    for site in (SITE, 'edge'):
        assert ceph_probes.wait_gone(stack_env, site, image['id'])
    assert _leftovers(stack_env, vol.id, image['id']) == []
