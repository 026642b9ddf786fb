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

"""A glance-api worker killed in the middle of a co-located upload.

The upload is a slow chunked body of 64 MiB, co-located with a base image
in two stores: file stores alpha and beta, and, when the stack has Ceph,
the rbd stores of both sites (Glance writes the first store, the filter
the second). When both stores hold part of it, every worker of Glance
gets SIGKILL; the master (uwsgi's, or the eventlet glance-api's) starts
new ones. Then:

* the image must be consistent: ``queued``, or ``active`` with every
  location readable. Glance itself leaves it ``saving`` (nothing in Glance
  resets an upload whose worker died); then no location may point to
  missing data;
* ``cinder-multistore audit`` finds the partial data in both stores; it
  stays there when the image is deleted in Glance, and
  ``--delete --min-age 0`` removes it.
"""

import hashlib
import os
from pathlib import Path
import signal
import threading
import time

import pytest
import requests

from cinder_multistore_lab.stack import process
from tests.functional import cloud
from tests.functional.test_audit import admin_pool
from tests.functional.test_audit import audit_json
from tests.functional.test_audit import download
from tests.functional.test_audit import orphan_urls
from tests.functional.test_audit import YOUNG


MIB = 1 << 20
TOTAL = 64 * MIB
#: Bytes sent before the body waits for the workers to be killed.
BEFORE_KILL = 16 * MIB


def _parent(pid: int) -> int | None:
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return int(fields[1])


def glance_workers(env: dict) -> tuple[int, list[int]]:
    """The master of Glance (its pid file in DIR/run) and its workers (its
    children), under either server.
    """
    record = process.read_pid_file(
        process.run_dir(Path(env.directory)) / 'glance.pid')
    assert record is not None, 'no Glance pid file'
    master = record[0]
    workers = [int(p) for p in os.listdir('/proc')
               if p.isdigit() and _parent(int(p)) == master]
    return master, workers


def wait_for_glance(env: dict, old: list[int], timeout: float = 120) -> None:
    """Wait until new workers answer Glance's health check."""
    deadline = time.monotonic() + timeout
    url = env.glance.endpoint.rstrip('/') + '/healthcheck'
    while time.monotonic() < deadline:
        _master, workers = glance_workers(env)
        if workers and not set(workers) & set(old):
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
        time.sleep(0.5)
    raise AssertionError('Glance did not answer again within %ss' % timeout)


class SlowBody:
    """A chunked body: ``BEFORE_KILL`` bytes, then waits, then the rest."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent = 0

    def __iter__(self):
        block = os.urandom(MIB)
        while self.sent < TOTAL:
            if self.sent >= BEFORE_KILL:
                self.release.wait(120)
                time.sleep(0.05)
            self.sent += len(block)
            yield block


class StoreView:
    """What the file and rbd stores of the stack hold for an image."""

    def __init__(self, env: dict, stores: list[str]) -> None:
        self.env = env
        self.pools = {}
        self.clusters = []
        sites = {env.glance.rbd_stores.get(site): site
                 for site in env.ceph_sites}
        self.sites = {s: sites[s] for s in stores if s in sites}
        for store, site in self.sites.items():
            cluster, ioctx = admin_pool(env, site)
            self.clusters.append(cluster)
            self.pools[store] = ioctx

    def close(self) -> None:
        """Close the Ceph connections."""
        for ioctx in self.pools.values():
            ioctx.close()
        for cluster in self.clusters:
            cluster.shutdown()

    def url(self, store: str, image_id: str) -> str:
        """The location URL the store would give the image's data."""
        if store in self.sites:
            return 'rbd://%s/%s/%s/snap' % (
                self.env.ceph.site(self.sites[store]).fsid,
                self.env.ceph.images_pool, image_id)
        return 'file://' + os.path.join(
            self.env.glance.store_dir(store), image_id)

    def size(self, store: str, image_id: str) -> int:
        """Bytes the store holds for the image, -1 when nothing."""
        if store in self.pools:
            import rbd
            try:
                with rbd.Image(self.pools[store], image_id,
                               read_only=True) as image:
                    return image.size()
            except rbd.ImageNotFound:
                return -1
        try:
            return os.path.getsize(self.url(store, image_id)[7:])
        except OSError:
            return -1

    def wait_for_partial(self, image_id: str, stores: list[str],
                         timeout: float = 60) -> dict[str, int]:
        """Wait until every store holds part of the image."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sizes = {s: self.size(s, image_id) for s in stores}
            if all(size > 0 for size in sizes.values()):
                return sizes
            time.sleep(0.1)
        raise AssertionError('no partial data in %s: %s' % (stores, sizes))


def _location_readable(view: StoreView, loc: dict, image_id: str,
                       size: int | None) -> bool:
    """The data of a location of the image is there, of the image's size."""
    store = (loc.get('metadata') or {}).get('store')
    if view.url(store, image_id) != loc['url']:
        return False
    held = view.size(store, image_id)
    return held >= 0 and (size is None or held == size)


def _pair(env: dict, kind: str) -> list[str]:
    if kind == 'file':
        return ['alpha', 'beta']
    stores = list(env.glance.rbd_stores.values())
    if len(stores) < 2:
        pytest.skip('the stack has no two rbd stores (GLANCE_RBD_STORES)')
    return sorted(stores)[:2]


@pytest.mark.parametrize('kind', ['file', 'rbd'])
def test_killed_colocated_upload(stack_env, demo, admin, kind):
    stores = _pair(stack_env, kind)
    view = StoreView(stack_env, stores)
    try:
        _killed_colocated_upload(stack_env, demo, admin, view, stores)
    finally:
        view.close()


def _killed_colocated_upload(stack_env, demo, admin, view, stores):
    base = demo.image_in(os.urandom(4096), stores)
    image = demo.create(name='cms-worker-crash')
    body = SlowBody()
    outcome = {}

    def upload():
        try:
            outcome['resp'] = demo.upload(image.id, iter(body),
                                          base=base['id'])
        except Exception as exc:  # the connection dies with the worker
            outcome['error'] = exc

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    try:
        sizes = view.wait_for_partial(image.id, stores)
        assert admin.get(image.id)['status'] == 'saving'
        master, workers = glance_workers(stack_env)
        assert workers, 'Glance master %d has no workers' % master
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
    finally:
        body.release.set()
    sender.join(60)
    wait_for_glance(stack_env, workers)
    print('\nkilled workers %s of Glance master %d with %s written; client '
          'saw %s' % (workers, master, sizes,
                      outcome.get('error') or outcome.get('resp')))

    seen = admin.get(image.id)
    locations = cloud.locations(stack_env, image.id)
    print('after the kill: status %s, stores %r, size %s, locations %s'
          % (seen['status'], seen.get('stores'), seen.get('size'),
             [loc['url'] for loc in locations]))
    assert 'resp' not in outcome or outcome['resp'].status_code >= 500
    assert seen['status'] in ('queued', 'saving', 'active'), seen
    for loc in locations:
        assert _location_readable(view, loc, image.id, seen.get('size')), loc
    if seen['status'] == 'active':
        assert hashlib.md5(download(admin, image.id)).hexdigest() == (
            seen['checksum'])

    partial = {view.url(s, image.id) for s in stores}
    referenced = {loc['url'] for loc in locations}
    stray = partial - referenced
    assert stray, 'every partial copy has a location: %s' % locations
    store_args = [a for s in stores for a in ('--store', s)]
    code, report = audit_json(stack_env, *store_args)
    assert code == 1
    assert stray <= orphan_urls(report)
    assert not referenced & orphan_urls(report)
    for orphan in report['orphans']:
        if orphan['url'] in stray:
            assert orphan['image_status'] == seen['status']
            assert 0 < orphan['size'] < TOTAL

    # Deleting the image in Glance does not remove data it has no
    # location for; the audit still finds it, now of a deleted image.
    demo.glance.images.delete(image.id)
    for store in stores:
        if view.url(store, image.id) in stray:
            assert view.size(store, image.id) > 0
    code, report = audit_json(stack_env, *store_args)
    assert code == 1 and stray <= orphan_urls(report)
    assert {o['image_status'] for o in report['orphans']
            if o['url'] in stray} == {'deleted'}

    code, report = audit_json(stack_env, '--delete', *YOUNG, *store_args)
    assert code == 0, report
    assert {s: view.size(s, image.id) for s in stores} == {
        s: -1 for s in stores}
    assert cloud.store_files(stack_env, image.id) == {}
    assert download(demo, base['id'])
    assert cloud.stores_of(demo.get(base['id'])) == stores
