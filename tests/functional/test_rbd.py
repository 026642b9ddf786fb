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

"""Glance rbd stores and Cinder RBD backends on the stack's two Ceph sites.

The stack runs one Ceph cluster per site (``central``, ``edge``), a Glance
rbd store on each (``ceph-central``, ``ceph-edge``) and a Cinder RBD
backend on each (volume types ``central``, ``edge``). The RBD images are
inspected with the ``rbd`` Python binding as ``client.admin``.
"""

import contextlib
import os
import time
import uuid

import pytest

from cinder_multistore_lab.stack import ceph as stack_ceph
from cinder_multistore_lab import workflow
from tests.functional import ceph_probes as probes
from tests.functional import cloud as helpers


MIB = 1 << 20
DATA = os.urandom(3 * MIB + 12345)


@pytest.fixture(scope='module')
def sites(stack_env):
    """The Ceph sites of the stack; skips when it runs without Ceph."""
    names = probes.sites(stack_env)
    if not names:
        pytest.skip('the stack runs without Ceph')
    return names


def _locations(admin, image_id):
    """store id -> location url, as Cinder's service user reads them."""
    return {loc['metadata'].get('store'): loc['url']
            for loc in helpers.locations(admin.env, image_id)}


@pytest.fixture
def images(demo):
    """Image ids a test created; deleted at the end."""
    made = []
    yield made
    for image_id in made:
        with contextlib.suppress(Exception):
            demo.glance.images.delete(image_id)


def _upload(demo, images, data, store=None, base=None):
    image = demo.create(name='cms-rbd-%s' % uuid.uuid4().hex[:8])
    images.append(image.id)
    resp = demo.upload(image.id, data, store=store, base=base)
    assert resp.status_code == 204, resp.text
    return image.id, resp


def test_clusters_healthy_and_distinct(stack_env, sites):
    fsids = set()
    for site in sites:
        fsid, status = probes.health(stack_env, site)
        assert status == 'HEALTH_OK', (site, status)
        assert fsid == stack_env.ceph.site(site).fsid
        fsids.add(fsid)
    assert len(fsids) == len(sites)


@pytest.mark.parametrize('site', ['central', 'edge'])
def test_upload_to_rbd_store(stack_env, sites, demo, admin, images, site):
    if site not in sites:
        pytest.skip('no site %s' % site)
    store = probes.store(stack_env, site)
    image_id, resp = _upload(demo, images, DATA, store=store)
    assert helpers.written(resp) == [store]
    image = demo.wait(image_id)
    assert helpers.stores_of(image) == [store]
    assert image['size'] == len(DATA)
    assert _locations(admin, image_id) == {
        store: probes.location(stack_env, site, image_id)}
    assert probes.snapshot(stack_env, site, image_id) == (len(DATA), True)

    demo.glance.images.delete(image_id)
    assert image_id not in probes.images(stack_env, site)


def test_colocation_in_both_rbd_stores(stack_env, sites, demo, admin,
                                       images):
    if len(sites) < 2:
        pytest.skip('needs two Ceph sites')
    stores = [probes.store(stack_env, site) for site in sites]
    base = demo.image_in(DATA, stores)
    images.append(base['id'])
    assert helpers.stores_of(base) == stores
    base_id = base['id']

    data = os.urandom(2 * MIB + 4321)
    copy_id, resp = _upload(demo, images, data, base=base_id)
    assert helpers.written(resp) == stores
    assert helpers.failed(resp) == []
    copy = demo.wait(copy_id, stores=len(stores))
    assert helpers.stores_of(copy) == stores
    assert _locations(admin, copy_id) == {
        probes.store(stack_env, site):
            probes.location(stack_env, site, copy_id)
        for site in sites}
    for site in sites:
        assert probes.snapshot(stack_env, site, copy_id) == (len(data), True)


def test_edge_volume_from_edge_image_is_a_clone(stack_env, sites, demo,
                                                images):
    if 'edge' not in sites:
        pytest.skip('no site edge')
    image_id, _ = _upload(demo, images, DATA,
                          store=probes.store(stack_env, 'edge'))
    demo.wait(image_id)
    cloud = workflow.Cloud(stack_env)
    vol = cloud.cinder.volumes.create(
        1, name='cms-rbd-clone', imageRef=image_id,
        volume_type=stack_env.cinder.site('edge').volume_type)
    try:
        vol = cloud.wait_volume(vol.id, timeout=180)
        assert vol.availability_zone == stack_env.cinder.site('edge').az
        host = cloud.admin_cinder.volumes.get(vol.id)._info[
            'os-vol-host-attr:host']
        edge = stack_env.cinder.site('edge')
        assert host.startswith(edge.backend_host + '#')
        parent = probes.parent(stack_env, 'edge',
                               stack_env.ceph.volumes_pool,
                               'volume-%s' % vol.id)
        assert parent == (stack_env.ceph.images_pool, image_id,
                          probes.SNAP)
    finally:
        cloud.cinder.volumes.delete(vol.id)
        workflow.wait_for('volume %s to go' % vol.id,
                          lambda: vol.id not in {
                              v.id for v in cloud.cinder.volumes.list()},
                          timeout=120)


def test_hidden_locations_colocated_image_clones_at_the_edge(
        stack_env, sites, demo, admin, images):
    """glance-api runs without show_multiple_locations and
    show_image_direct_url: nobody but the service user sees where an image
    lives, and a volume at the edge from an image co-located in both
    clusters is still a copy-on-write clone of its edge snapshot (Cinder
    27+ reads the locations itself, Cinder 26 through the plugin's image
    service).
    """
    if len(sites) < 2:
        pytest.skip('needs two Ceph sites')
    stores = [probes.store(stack_env, site) for site in sites]
    image = demo.image_in(DATA, stores)
    images.append(image['id'])
    image_id = image['id']
    for client in (demo, admin):
        shown = client.get(image_id)
        assert 'locations' not in shown and 'direct_url' not in shown, shown
    resp = demo.session.get('%s/v2/images/%s/locations'
                            % (demo.endpoint, image_id), raise_exc=False)
    assert resp.status_code == 403, resp.text
    assert set(_locations(admin, image_id)) == set(stores)

    cloud = workflow.Cloud(stack_env)
    edge = stack_env.cinder.site('edge')
    vol = cloud.cinder.volumes.create(
        1, name='cms-rbd-hidden-clone', imageRef=image_id,
        volume_type=edge.volume_type)
    try:
        vol = cloud.wait_volume(vol.id, timeout=180)
        parent = probes.parent(stack_env, 'edge',
                               stack_env.ceph.volumes_pool,
                               'volume-%s' % vol.id)
        assert parent == (stack_env.ceph.images_pool, image_id,
                          probes.SNAP)
    finally:
        cloud.cinder.volumes.delete(vol.id)
        workflow.wait_for('volume %s to go' % vol.id,
                          lambda: vol.id not in {
                              v.id for v in cloud.cinder.volumes.list()},
                          timeout=120)


# -- a site in trouble ---------------------------------------------------

def _connect(env, site, objects=16):
    """Write and remove objects in every pool of ``site`` as client.admin.

    With the cluster's own client timeouts; enough objects that every
    placement group of a pool is likely to be hit.
    """
    handle = probes.rados.Rados(
        conffile=str(env.ceph.site(site).conf), name='client.admin',
        conf={'keyring': str(env.ceph.site(site).admin_keyring)})
    try:
        handle.connect()
        for pool in (env.ceph.images_pool, env.ceph.volumes_pool):
            with handle.open_ioctx(pool) as ctx:
                for i in range(objects):
                    name = 'cms-fault-probe-%d' % i
                    ctx.write_full(name, b'x')
                    ctx.remove_object(name)
    finally:
        handle.shutdown()


def test_stopped_mon_fails_clients_in_bounded_time(stack_env, sites):
    site = sites[-1]
    directory = stack_env.directory
    stack_ceph.stop_mon(directory, site)
    try:
        began = time.monotonic()
        with pytest.raises(probes.rados.Error):
            _connect(stack_env, site)
        assert time.monotonic() - began < 30
    finally:
        stack_ceph.start_mon(directory, site)
    probes.wait_healthy(stack_env, site, timeout=90)
    _connect(stack_env, site)


def test_paused_osd_times_out_then_resumes(stack_env, sites):
    site = sites[-1]
    directory = stack_env.directory
    stack_ceph.pause_osd(directory, site)
    try:
        began = time.monotonic()
        with pytest.raises(probes.rados.Error):
            _connect(stack_env, site, objects=1)
        assert time.monotonic() - began < 45
    finally:
        stack_ceph.resume_osd(directory, site)
    # Every placement group serves I/O again (none left "laggy").
    _connect(stack_env, site)
    probes.wait_healthy(stack_env, site, timeout=90)
