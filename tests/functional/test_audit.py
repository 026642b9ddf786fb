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

"""``cinder-multistore audit`` against the embedded cloud's Glance.

The command runs as a subprocess with the stack's glance-api.conf, the way
an operator runs it on a glance-api host. Other tests of the session may
leave stray data of their own, so each test compares the orphans before and
after it planted its own, and deletes only in the store it planted in.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.functional import cloud


HOUR = 3600
#: Delete young stray data too: these tests run no upload meanwhile.
YOUNG = ('--min-age', '0', '--no-uploads-running')


def run_audit(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Run ``cinder-multistore audit`` with the stack's Glance config."""
    conf = env.glance.conf
    sub_env = dict(os.environ, OS_GLANCE_CONFIG_DIR=os.path.dirname(conf))
    return subprocess.run(
        [sys.executable, '-m', 'cinder_multistore.cmd.cli', 'audit',
         '--config-file', conf] + list(args),
        env=sub_env, capture_output=True, text=True, timeout=300)


def audit_json(env: dict, *args: str) -> tuple[int, dict]:
    """Exit code and JSON report of an audit run."""
    result = run_audit(env, '--json', *args)
    assert result.returncode in (0, 1), (result.stdout, result.stderr)
    return result.returncode, json.loads(result.stdout)


def orphan_urls(report: dict) -> set[str]:
    """The URLs of the orphans of a JSON report."""
    return {o['url'] for o in report['orphans']}


def plant_file(env: dict, store: str, size: int = 16384,
               age: float = 0) -> str:
    """Write a file named like an image into a store folder; its path."""
    path = os.path.join(env.glance.store_dir(store),
                        str(uuid.uuid4()))
    with open(path, 'wb') as f:
        f.write(os.urandom(size))
    if age:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    return path


def download(client: cloud.ImageClient, image_id: str) -> bytes:
    """The image data as Glance serves it."""
    return b''.join(client.glance.images.data(image_id))


def live_image(client: cloud.ImageClient, store: str) -> str:
    """An active image in ``store``: a store that holds only stray data
    looks like a comparison gone wrong, and the audit refuses to delete
    there.
    """
    image = client.create(name='cms-audit-live')
    resp = client.upload(image.id, os.urandom(4096), store=store)
    assert resp.status_code == 204, resp.text
    client.wait(image.id)
    return image.id


@pytest.fixture
def image_in_alpha(demo):
    """An active image whose data is in store alpha only."""
    data = os.urandom(256 * 1024)
    image = demo.create(name='cms-audit')
    resp = demo.upload(image.id, data, store='alpha')
    assert resp.status_code == 204, resp.text
    demo.wait(image.id)
    return image.id, data


def test_clean_run_lists_every_audited_store(stack_env):
    code, report = audit_json(stack_env)
    for store in ('alpha', 'beta', 'gamma', 'delta'):
        assert store in report['stores']
    assert 'web' in report['skipped']
    assert 'os_glance_staging_store' in report['skipped']
    assert report['exit_code'] == code


def test_finds_deletes_only_the_stray_file(stack_env, demo, image_in_alpha):
    image_id, data = image_in_alpha
    live_image(demo, 'beta')
    _, before = audit_json(stack_env)
    stray = plant_file(stack_env, 'beta')
    url = 'file://' + stray

    result = run_audit(stack_env)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stdout.splitlines() if url in line]
    assert len(lines) == 1
    assert lines[0].split()[0] == 'beta' and '16.0 KiB' in lines[0]
    assert result.stdout.splitlines()[-1].startswith('audit: ')

    _, after = audit_json(stack_env)
    assert orphan_urls(after) - orphan_urls(before) == {url}
    alpha_file = os.path.join(stack_env.glance.store_dir('alpha'), image_id)
    assert 'file://' + alpha_file not in orphan_urls(after)

    # Too young for the default --min-age: reported, kept.
    code, kept = audit_json(stack_env, '--store', 'beta', '--delete')
    assert code == 1 and os.path.exists(stray)
    (mine,) = [o for o in kept['orphans'] if o['url'] == url]
    assert mine['action'] == 'kept' and 'younger' in mine['reason']

    code, deleted = audit_json(stack_env, '--store', 'beta', '--delete',
                               *YOUNG)
    assert code == 0, deleted
    assert not os.path.exists(stray)
    assert os.path.exists(alpha_file)
    assert cloud.store_files(stack_env, image_id) == {
        'alpha': hashlib.sha256(data).hexdigest()}
    assert download(demo, image_id) == data

    code, last = audit_json(stack_env, '--store', 'beta')
    assert code == 0 and url not in orphan_urls(last)


def test_min_age_deletes_old_keeps_young(stack_env, demo):
    live_image(demo, 'gamma')
    old = plant_file(stack_env, 'gamma', age=2 * HOUR)
    young = plant_file(stack_env, 'gamma')
    code, report = audit_json(stack_env, '--store', 'gamma', '--delete',
                              '--min-age', str(HOUR))
    actions = {o['url']: o['action'] for o in report['orphans']}
    assert actions['file://' + old] == 'deleted'
    assert actions['file://' + young] == 'kept'
    assert code == 1
    assert not os.path.exists(old) and os.path.exists(young)
    os.unlink(young)


def test_reserved_stores_only_when_asked(stack_env):
    path = os.path.join(stack_env.glance.tasks_dir, str(uuid.uuid4()))
    with open(path, 'wb') as f:
        f.write(b'x' * 100)
    try:
        _, default = audit_json(stack_env)
        assert 'file://' + path not in orphan_urls(default)
        assert 'os_glance_tasks_store' not in default['stores']
        code, asked = audit_json(stack_env, '--store',
                                 'os_glance_tasks_store')
        assert code == 1 and 'file://' + path in orphan_urls(asked)
    finally:
        os.unlink(path)


def test_unknown_store_is_an_error(stack_env):
    result = run_audit(stack_env, '--store', 'no-such-store')
    assert result.returncode == 2
    assert 'no-such-store' in result.stderr


def test_default_config_is_glance_apis(stack_env):
    """Without --config-file: the files of OS_GLANCE_CONFIG_DIR."""
    conf = stack_env.glance.conf
    result = subprocess.run(
        [sys.executable, '-m', 'cinder_multistore.cmd.cli', 'audit',
         '--json', '--store', 'alpha'],
        env=dict(os.environ, OS_GLANCE_CONFIG_DIR=os.path.dirname(conf)),
        capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)['stores'] == ['alpha']


# -- rbd ------------------------------------------------------------------

def _rbd_site(env: dict) -> tuple[str, str]:
    """An rbd store of the stack and its Ceph site; skips without one."""
    stores = list(env.glance.rbd_stores.values())
    if not stores:
        pytest.skip('the stack has no rbd stores (no GLANCE_RBD_STORES in '
                    'stack.env)')
    try:
        import rados  # noqa: F401
        import rbd  # noqa: F401
    except ImportError as exc:
        pytest.skip('rados/rbd bindings not importable: %s' % exc)
    for site in env.ceph_sites:
        if env.glance.rbd_stores.get(site) == stores[-1]:
            return stores[-1], site
    pytest.fail('no Ceph site of store %s in stack.env' % stores[-1])


def admin_pool(env: dict, site: str):
    """The site's cluster (as client.admin) and its images pool."""
    import rados
    found = env.ceph.site(site)
    cluster = rados.Rados(conffile=str(found.conf),
                          rados_id='admin',
                          conf={'keyring': str(found.admin_keyring)})
    cluster.connect(timeout=30)
    return cluster, cluster.open_ioctx(env.ceph.images_pool)


def test_rbd_stray_image(stack_env, demo):
    import rbd
    store, site = _rbd_site(stack_env)
    live_image(demo, store)
    cluster, ioctx = admin_pool(stack_env, site)
    pool = stack_env.ceph.images_pool
    name = str(uuid.uuid4())
    try:
        rbd.RBD().create(ioctx, name, 4 << 20)
        with rbd.Image(ioctx, name) as image:
            image.write(b'x' * 65536, 0)
            image.create_snap('snap')
            image.protect_snap('snap')
        url = 'rbd://%s/%s/%s/snap' % (stack_env.ceph.site(site).fsid,
                                       pool, name)
        code, report = audit_json(stack_env, '--store', store)
        assert code == 1 and url in orphan_urls(report)
        (mine,) = [o for o in report['orphans'] if o['url'] == url]
        assert mine['size'] == 4 << 20 and mine['store'] == store
        assert 0 <= mine['age'] < 600

        code, report = audit_json(stack_env, '--store', store, '--delete',
                                  *YOUNG)
        assert code == 0, report
        assert name not in rbd.RBD().list(ioctx)
    finally:
        _remove_rbd(ioctx, name)
        ioctx.close()
        cluster.shutdown()


def _remove_rbd(ioctx, name: str) -> None:
    import rbd
    if name not in rbd.RBD().list(ioctx):
        return
    with rbd.Image(ioctx, name) as image:
        for snap in list(image.list_snaps()):
            if image.is_protected_snap(snap['name']):
                image.unprotect_snap(snap['name'])
            image.remove_snap(snap['name'])
    rbd.RBD().remove(ioctx, name)


def test_rbd_stray_image_with_a_clone_is_kept(stack_env, demo):
    import rbd
    store, site = _rbd_site(stack_env)
    live_image(demo, store)
    cluster, ioctx = admin_pool(stack_env, site)
    volumes = cluster.open_ioctx(stack_env.ceph.volumes_pool)
    name, clone = str(uuid.uuid4()), 'volume-%s' % uuid.uuid4()
    try:
        rbd.RBD().create(ioctx, name, 1 << 20,
                         features=rbd.RBD_FEATURE_LAYERING)
        with rbd.Image(ioctx, name) as image:
            image.create_snap('snap')
            image.protect_snap('snap')
        rbd.RBD().clone(ioctx, name, 'snap', volumes, clone,
                        features=rbd.RBD_FEATURE_LAYERING)
        code, report = audit_json(stack_env, '--store', store, '--delete',
                                  *YOUNG)
        (mine,) = [o for o in report['orphans'] if o['name'] == name]
        assert mine['action'] == 'kept' and 'clones' in mine['reason']
        assert code == 1
        with rbd.Image(ioctx, name, read_only=True) as image:
            assert [s['name'] for s in image.list_snaps()] == ['snap']
            assert image.is_protected_snap('snap')
    finally:
        _remove_rbd(volumes, clone)
        _remove_rbd(ioctx, name)
        volumes.close()
        ioctx.close()
        cluster.shutdown()


def test_rbd_image_with_location_is_not_stray(stack_env, demo):
    store, _site = _rbd_site(stack_env)
    data = os.urandom(1 << 20)
    image = demo.create(name='cms-audit-rbd')
    resp = demo.upload(image.id, data, store=store)
    assert resp.status_code == 204, resp.text
    demo.wait(image.id)
    code, report = audit_json(stack_env, '--store', store, '--delete',
                              *YOUNG)
    assert not [o for o in report['orphans'] if o['name'] == image.id]
    assert download(demo, image.id) == data
