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

"""Upload-to-image from RBD volumes, through the real Cinder API, on Ceph.

The stack runs a Ceph cluster per site (central, edge), a Glance rbd store
and a Cinder RBD backend on each. A volume's data leaves Cinder through
os-brick's RBD wrapper (raw) or a qemu-img conversion (qcow2); the filter
places the image by the rules. Each copy must be a proper Glance RBD image
in its cluster, identical to the primary; and co-location must make a
volume from the new image at the other site a copy-on-write clone
(``test_zero_copy.py``).
"""

import uuid

import pytest

from cinder_multistore_lab import workflow
from tests.functional import ceph_probes
from tests.functional import cloud as helpers
from tests.functional.test_cinder_upload import Tracker


MIB = 1 << 20
BASE_DATA = b'cinder-multistore base image\n' * (64 * 1024)


def _name(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


@pytest.fixture(scope='module')
def sites(stack_env):
    names = ceph_probes.sites(stack_env)
    if len(names) < 2:
        pytest.skip('the stack runs without two Ceph sites')
    return names


@pytest.fixture(scope='module')
def cloud(stack_env, sites):
    return workflow.Cloud(stack_env)


@pytest.fixture(scope='module')
def rbd_stores(stack_env, sites):
    return [ceph_probes.store(stack_env, site) for site in sites]


@pytest.fixture(scope='module')
def shared(cloud, stack_env, rbd_stores):
    """A base image in both clusters and the site volume types."""
    tracker = Tracker(cloud)
    base = tracker.image_in_stores(BASE_DATA, rbd_stores)
    types = {}
    for site in ceph_probes.sites(stack_env):
        backend = stack_env.cinder.site(site).backend
        for store in (None, ceph_probes.store(stack_env, site)):
            vtype = cloud.admin_cinder.volume_types.create(
                _name('cms-rbd-%s' % site))
            specs = {'volume_backend_name': backend,
                     'RESKEY:availability_zones':
                         stack_env.cinder.site(site).az}
            if store:
                specs[workflow.STORE_SPEC] = store
            vtype.set_keys(specs)
            tracker.types.append(vtype.id)
            types[(site, store)] = vtype.id
    yield {'tracker': tracker, 'base': base, 'types': types}
    tracker.cleanup()


def _volume(cloud, shared, site, store=None, image_id=None):
    tracker = shared['tracker']
    vol = cloud.cinder.volumes.create(
        1, name=_name('cms-rbd-vol'), imageRef=image_id,
        volume_type=shared['types'][(site, store)])
    tracker.volumes.append(vol.id)
    return cloud.wait_volume(vol.id, timeout=300)


def _admin_locations(cloud, image_id):
    return {loc['metadata'].get('store'): loc['url']
            for loc in helpers.locations(cloud.env, image_id)}


def _assert_proper_rbd_copies(env, cloud, image, sites):
    """Each store of ``sites`` holds a protected snapshot equal to the
    image, registered as ``rbd://<fsid>/images/<id>/snap``; the image's
    hashes are waited for (a zero-copy image gets them in the background).
    """
    image_id = image['id']
    image = cloud.wait_hashed(image_id)
    assert _admin_locations(cloud, image_id) == {
        ceph_probes.store(env, site): ceph_probes.location(env, site,
                                                           image_id)
        for site in sites}
    for site in sites:
        assert ceph_probes.snapshot(env, site, image_id) == (
            image['size'], True)
        size, md5, multihash = ceph_probes.digests(
            env, site, image_id, image['os_hash_algo'])
        assert (size, md5, multihash) == (
            image['size'], image['checksum'], image['os_hash_value']), site


@pytest.mark.parametrize('disk_format', ['raw', 'qcow2'])
def test_explicit_rbd_store(stack_env, cloud, shared, disk_format):
    store = ceph_probes.store(stack_env, 'edge')
    vol = _volume(cloud, shared, 'edge', store)
    image = shared['tracker'].upload(vol.id, disk_format)
    assert workflow.image_stores(image) == [store]
    assert image['disk_format'] == disk_format
    _assert_proper_rbd_copies(stack_env, cloud, image, ['edge'])


def test_colocation_across_both_clusters(stack_env, cloud, shared, sites,
                                         rbd_stores):
    """qcow2, streamed through the filter in one pass. (A raw upload is
    cloned in the volume's cluster and copied by Glance's copy-image:
    ``test_zero_copy.py``, where a volume from it at the other site is
    checked to be a clone.)
    """
    vol = _volume(cloud, shared, 'edge', image_id=shared['base']['id'])
    assert cloud.headers_for(vol.id) == {
        'x-openstack-base-image-ref': shared['base']['id']}
    image = shared['tracker'].upload(vol.id, 'qcow2')
    image = cloud.wait_image(image['id'], stores=len(rbd_stores))
    assert workflow.image_stores(image) == rbd_stores
    _assert_proper_rbd_copies(stack_env, cloud, image, sites)


@pytest.mark.parametrize('disk_format', ['raw', 'qcow2'])
def test_default_store_without_base_or_store(stack_env, cloud, shared,
                                             disk_format):
    vol = _volume(cloud, shared, 'central')
    image = shared['tracker'].upload(vol.id, disk_format)
    assert workflow.image_stores(image) == [stack_env.glance.default_store]
    assert set(cloud.store_digests(image['id'])) == {
        stack_env.glance.default_store}
    for site in ceph_probes.sites(stack_env):
        assert image['id'] not in ceph_probes.images(stack_env, site)
