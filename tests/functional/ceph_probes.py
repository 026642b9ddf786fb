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

"""Looking into the stack's Ceph clusters as ``client.admin``.

The stack runs one cluster per site (``CEPH_SITES``); these helpers read
RBD images, snapshots and parents with the ``rados``/``rbd`` Python
bindings, to check what Glance and Cinder really wrote.
"""

import hashlib
import time

import pytest

from cinder_multistore_lab.stack import ceph as stack_ceph
from cinder_multistore_lab.stack.env import StackEnv


rados = pytest.importorskip('rados')
rbd = pytest.importorskip('rbd')

#: The snapshot glance_store's rbd driver creates (and protects).
SNAP = 'snap'


def sites(env: StackEnv) -> list[str]:
    """The Ceph sites of the stack (empty without Ceph)."""
    return list(env.ceph_sites)


def store(env: StackEnv, site: str) -> str:
    """The Glance rbd store of ``site``."""
    return env.glance.rbd_store(site)


#: A connected ``rados.Rados`` of a site's cluster, as client.admin.
cluster = stack_ceph.admin_from_env
#: An I/O context on a pool of a site's cluster, as client.admin.
ioctx = stack_ceph.admin_ioctx


def images(env: StackEnv, site: str, pool: str | None = None) -> set[str]:
    """The RBD image names of a pool (Glance's images pool by default)."""
    with ioctx(env, site, pool or env.ceph.images_pool) as ctx:
        return set(rbd.RBD().list(ctx))


def snapshot(env: StackEnv, site: str, name: str) -> tuple[int, bool] | None:
    """``(size, protected)`` of ``images/<name>@snap``, or None."""
    with ioctx(env, site, env.ceph.images_pool) as ctx:
        try:
            with rbd.Image(ctx, name, read_only=True) as image:
                if SNAP not in {s['name'] for s in image.list_snaps()}:
                    return None
                return image.size(), image.is_protected_snap(SNAP)
        except rbd.ImageNotFound:
            return None


def digests(env: StackEnv, site: str, name: str,
            algorithm: str = 'sha512') -> tuple[int, str, str]:
    """``(size, md5, multihash)`` of ``images/<name>@snap``'s data."""
    md5, multi = hashlib.md5(), hashlib.new(algorithm)
    with ioctx(env, site, env.ceph.images_pool) as ctx:
        with rbd.Image(ctx, name, snapshot=SNAP, read_only=True) as image:
            size = image.size()
            offset = 0
            while offset < size:
                chunk = image.read(offset, min(8 << 20, size - offset))
                md5.update(chunk)
                multi.update(chunk)
                offset += len(chunk)
    return size, md5.hexdigest(), multi.hexdigest()


def parent(env: StackEnv, site: str, pool: str,
           name: str) -> tuple[str, str, str] | None:
    """``(pool, image, snapshot)`` of an RBD image's parent, or None."""
    with ioctx(env, site, pool) as ctx:
        with rbd.Image(ctx, name, read_only=True) as image:
            try:
                return tuple(image.parent_info())
            except rbd.ImageNotFound:
                return None


def location(env: StackEnv, site: str, image_id: str) -> str:
    """The location Glance registers for an image in ``site``'s store."""
    return 'rbd://%s/%s/%s/%s' % (env.ceph.site(site).fsid,
                                  env.ceph.images_pool, image_id, SNAP)


def wait_gone(env: StackEnv, site: str, name: str,
              timeout: float = 90) -> bool:
    """Wait until ``images/<name>`` no longer exists; True when gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name not in images(env, site):
            return True
        time.sleep(1)
    return False


def health(env: StackEnv, site: str) -> tuple[str, str]:
    """``(fsid, health status)`` of ``site``'s cluster."""
    import json
    with cluster(env, site) as handle:
        ret, out, err = handle.mon_command(
            json.dumps({'prefix': 'health', 'format': 'json'}), b'',
            timeout=10)
        status = (json.loads(out)['status'] if ret == 0
                  else 'no answer (%s): %s' % (ret, err))
        return handle.get_fsid(), status


def healthy(env: StackEnv, site: str) -> bool:
    """True when ``site``'s cluster answers HEALTH_OK."""
    try:
        return health(env, site)[1] == 'HEALTH_OK'
    except rados.Error:
        return False


def wait_healthy(env: StackEnv, site: str, timeout: float = 120) -> None:
    """Wait until ``site``'s cluster is healthy again."""
    deadline = time.monotonic() + timeout
    while not healthy(env, site):
        if time.monotonic() > deadline:
            raise AssertionError('Ceph site %s not healthy after %s s'
                                 % (site, timeout))
        time.sleep(1)
