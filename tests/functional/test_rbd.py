"""Glance rbd stores and Cinder RBD backends on the stack's two Ceph sites.

The stack runs one Ceph cluster per site (``central``, ``edge``), a Glance
rbd store on each (``ceph-central``, ``ceph-edge``) and a Cinder RBD
backend on each (volume types ``central``, ``edge``). The RBD images are
inspected with the ``rbd`` Python binding as ``client.admin``.
"""

import contextlib
import json
import os
import uuid

import pytest

from cinder_multistore import workflow
from tests.functional import cloud as helpers

MIB = 1 << 20
DATA = os.urandom(3 * MIB + 12345)
SNAP = 'snap'

rados = pytest.importorskip('rados')
rbd = pytest.importorskip('rbd')


@pytest.fixture(scope='module')
def sites(stack_env):
    """The Ceph sites of the stack; skips when it runs without Ceph."""
    names = [s for s in stack_env.get('CEPH_SITES', '').split(',') if s]
    if not names:
        pytest.skip('the stack runs without Ceph')
    return names


def _store(env, site):
    return env['GLANCE_RBD_STORE_%s' % site]


@contextlib.contextmanager
def _cluster(env, site):
    """A connected ``rados.Rados`` of ``site``'s cluster, as client.admin."""
    cluster = rados.Rados(conffile=env['CEPH_CONF_%s' % site],
                          name='client.admin',
                          conf={'keyring':
                                env['CEPH_KEYRING_ADMIN_%s' % site]})
    cluster.connect(timeout=20)
    try:
        yield cluster
    finally:
        cluster.shutdown()


@contextlib.contextmanager
def _ioctx(env, site, pool):
    """An I/O context on ``pool`` of ``site``'s cluster."""
    with _cluster(env, site) as cluster:
        with cluster.open_ioctx(pool) as ioctx:
            yield ioctx


def _health(env, site):
    """``(fsid, health status)`` of ``site``'s cluster."""
    with _cluster(env, site) as cluster:
        ret, out, err = cluster.mon_command(
            json.dumps({'prefix': 'health', 'format': 'json'}), b'',
            timeout=20)
        assert ret == 0, err
        return cluster.get_fsid(), json.loads(out)['status']


def _rbd_images(env, site, pool):
    with _ioctx(env, site, pool) as ioctx:
        return set(rbd.RBD().list(ioctx))


def _snapshot(env, site, name):
    """``(size, protected)`` of ``images/<name>@snap``, or None."""
    with _ioctx(env, site, env['CEPH_IMAGES_POOL']) as ioctx:
        try:
            with rbd.Image(ioctx, name, read_only=True) as image:
                snaps = {s['name'] for s in image.list_snaps()}
                if SNAP not in snaps:
                    return None
                return image.size(), image.is_protected_snap(SNAP)
        except rbd.ImageNotFound:
            return None


def _parent(env, site, pool, name):
    """``(pool, image, snapshot)`` of an RBD image's parent."""
    with _ioctx(env, site, pool) as ioctx:
        with rbd.Image(ioctx, name, read_only=True) as image:
            return image.parent_info()


def _rbd_location(env, site, image_id):
    return 'rbd://%s/%s/%s/%s' % (env['CEPH_FSID_%s' % site],
                                  env['CEPH_IMAGES_POOL'], image_id, SNAP)


def _locations(admin, image_id):
    """store id -> location url, as Glance lists them to an admin."""
    image = admin.get(image_id)
    return {loc['metadata'].get('store'): loc['url']
            for loc in image.get('locations') or []}


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
        fsid, status = _health(stack_env, site)
        assert status == 'HEALTH_OK', (site, status)
        assert fsid == stack_env['CEPH_FSID_%s' % site]
        fsids.add(fsid)
    assert len(fsids) == len(sites)


@pytest.mark.parametrize('site', ['central', 'edge'])
def test_upload_to_rbd_store(stack_env, sites, demo, admin, images, site):
    if site not in sites:
        pytest.skip('no site %s' % site)
    store = _store(stack_env, site)
    image_id, resp = _upload(demo, images, DATA, store=store)
    assert helpers.written(resp) == [store]
    image = demo.wait(image_id)
    assert helpers.stores_of(image) == [store]
    assert image['size'] == len(DATA)
    assert _locations(admin, image_id) == {
        store: _rbd_location(stack_env, site, image_id)}
    assert _snapshot(stack_env, site, image_id) == (len(DATA), True)

    demo.glance.images.delete(image_id)
    assert image_id not in _rbd_images(stack_env, site,
                                       stack_env['CEPH_IMAGES_POOL'])


def test_colocation_in_both_rbd_stores(stack_env, sites, demo, admin,
                                       images):
    if len(sites) < 2:
        pytest.skip('needs two Ceph sites')
    stores = [_store(stack_env, site) for site in sites]
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
        _store(stack_env, site): _rbd_location(stack_env, site, copy_id)
        for site in sites}
    for site in sites:
        assert _snapshot(stack_env, site, copy_id) == (len(data), True)


def test_edge_volume_from_edge_image_is_a_clone(stack_env, sites, demo,
                                                images):
    if 'edge' not in sites:
        pytest.skip('no site edge')
    image_id, _ = _upload(demo, images, DATA,
                          store=_store(stack_env, 'edge'))
    demo.wait(image_id)
    cloud = workflow.Cloud(stack_env)
    vol = cloud.cinder.volumes.create(
        1, name='cms-rbd-clone', imageRef=image_id,
        volume_type=stack_env['CINDER_VOLUME_TYPE_edge'])
    try:
        vol = cloud.wait_volume(vol.id, timeout=180)
        assert vol.availability_zone == stack_env['CINDER_AZ_edge']
        host = cloud.admin_cinder.volumes.get(vol.id)._info[
            'os-vol-host-attr:host']
        assert host.startswith(stack_env['CINDER_BACKEND_HOST_edge'] + '#')
        parent = _parent(stack_env, 'edge', stack_env['CEPH_VOLUMES_POOL'],
                         'volume-%s' % vol.id)
        assert parent == (stack_env['CEPH_IMAGES_POOL'], image_id, SNAP)
    finally:
        cloud.cinder.volumes.delete(vol.id)
        workflow.wait_for('volume %s to go' % vol.id,
                          lambda: vol.id not in {
                              v.id for v in cloud.cinder.volumes.list()},
                          timeout=120)
