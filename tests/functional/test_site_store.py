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

"""The image at the volume's site (``[multistore_image_service]
site_store``), through the real Cinder API on the two Ceph clusters.

With the option on, an upload that nothing else places (no store in the
volume type, no base image Glance co-locates with) goes to the Glance rbd
store of the volume's own cluster; off, to Glance's default store. A store
in the volume type and a usable base image still win. The option is turned
on by restarting the stack's cinder-volume with it in ``cinder.conf``, and
off again (restarted) when the module ends.
"""

import uuid

import pytest

from cinder_multistore_lab import workflow
from tests.functional import ceph_probes
from tests.functional import cinder_options
from tests.functional.test_cinder_upload import Tracker


BASE_DATA = b'cinder-multistore site base image\n' * (32 * 1024)


def _name(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


@pytest.fixture(scope='module')
def sites(stack_env):
    return cinder_options.multistore_sites(stack_env)


@pytest.fixture(scope='module')
def cloud(stack_env, sites):
    return workflow.Cloud(stack_env)


@pytest.fixture(scope='module')
def made(cloud, stack_env, sites):
    """Volume types per site (without a store, and naming the other
    site's store); everything made is deleted when the module ends.
    """
    tracker = Tracker(cloud)
    types = {}
    stores = [ceph_probes.store(stack_env, site) for site in sites]
    for site in sites:
        backend = stack_env.cinder.site(site).backend
        for store in [None] + stores:
            vtype = cloud.admin_cinder.volume_types.create(
                _name('cms-site-%s' % site))
            specs = {'volume_backend_name': backend,
                     'RESKEY:availability_zones':
                         stack_env.cinder.site(site).az}
            if store:
                specs[workflow.STORE_SPEC] = store
            vtype.set_keys(specs)
            tracker.types.append(vtype.id)
            types[(site, store)] = vtype.id
    yield {'tracker': tracker, 'types': types}
    tracker.cleanup()


@pytest.fixture(scope='module')
def site_on(stack_env, sites):
    """cinder-volume with ``site_store = true``; the stack's cinder.conf
    given back as it was (and cinder-volume restarted) at the end.
    """
    with cinder_options.volume_options(stack_env, site_store='true') as log:
        yield log


def _volume(cloud, made, site, store=None, image_id=None):
    vol = cloud.cinder.volumes.create(
        1, name=_name('cms-site-vol'), imageRef=image_id,
        volume_type=made['types'][(site, store)])
    made['tracker'].volumes.append(vol.id)
    return cloud.wait_volume(vol.id, timeout=300)


def _upload(made, volume):
    return made['tracker'].upload(volume.id)


def _in_clusters(env, sites, image_id):
    return [site for site in sites
            if image_id in ceph_probes.images(env, site)]


def test_off_an_edge_upload_goes_to_the_default_store(stack_env, cloud,
                                                      made, sites):
    image = _upload(made, _volume(cloud, made, 'edge'))
    assert workflow.image_stores(image) == [stack_env.glance.default_store]
    assert _in_clusters(stack_env, sites, image['id']) == []


def test_on_an_upload_goes_to_the_volumes_own_cluster(stack_env, cloud, made,
                                                      sites, site_on):
    for site in ('edge', 'central'):
        offset = site_on.stat().st_size
        image = _upload(made, _volume(cloud, made, site))
        store = ceph_probes.store(stack_env, site)
        assert workflow.image_stores(image) == [store], site
        assert _in_clusters(stack_env, sites, image['id']) == [site]
        assert ceph_probes.snapshot(stack_env, site, image['id']) == (
            image['size'], True)
        with open(site_on, 'rb') as log:
            log.seek(offset)
            text = log.read().decode(errors='replace')
        assert ('store %s is the rbd store of Glance in the volume\'s Ceph '
                'cluster' % store) in text


def test_on_the_volume_types_store_still_wins(stack_env, cloud, made,
                                              site_on):
    central = ceph_probes.store(stack_env, 'central')
    image = _upload(made, _volume(cloud, made, 'edge', central))
    assert workflow.image_stores(image) == [central]


def test_on_a_usable_base_image_still_wins(stack_env, cloud, made, site_on):
    central = ceph_probes.store(stack_env, 'central')
    base = made['tracker'].image_in_stores(BASE_DATA, [central])
    vol = _volume(cloud, made, 'edge', image_id=base['id'])
    image = _upload(made, vol)
    assert workflow.image_stores(image) == [central]
