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

"""The benchmark on the embedded cloud, at a small size, once per case.

Timings are printed, never asserted: this proves that every case runs
against the real services, that the reference services are what they
claim to be, and that the bench leaves nothing behind.
"""

import json
import os
from pathlib import Path

import requests

from cinder_multistore.glance import middleware
from cinder_multistore_lab.bench import bound
from cinder_multistore_lab.bench import rbd_cases
from cinder_multistore_lab.bench import report
from cinder_multistore_lab.bench import runner
from cinder_multistore_lab import stack
from cinder_multistore_lab import workflow


SIZE = 8 << 20
GIB = 1 << 30


def _leftovers(env):
    found = []
    for directory in env.glance.store_dirs.values():
        found += [n for n in os.listdir(directory)
                  if n.startswith('cms-bench')]
    return found


def _ceph_leftovers(env):
    """RBD images in any pool of either Ceph site."""
    if rbd_cases.missing(env):
        return {}
    import rbd
    found = {}
    for site in rbd_cases.sites(env):
        for pool in (env.ceph.images_pool, env.ceph.volumes_pool):
            with rbd_cases.ioctx(env, site, pool) as ctx:
                found[(site, pool)] = set(rbd.RBD().list(ctx))
    return found


def test_bench_runs_every_case_and_cleans_up(stack_env, tmp_path, admin):
    directory = stack_env.directory
    # The reference services (and their volume type) first, so that what
    # the bench leaves behind is all that differs.
    bench_env = stack.add_bench_services(directory)
    cloud = workflow.Cloud(stack_env, 'OS')
    before = {i['id'] for i in admin.glance.images.list()}
    volumes = {v.id for v in cloud.admin_cinder.volumes.list(
        search_opts={'all_tenants': 1})}
    types = {t.id for t in cloud.admin_cinder.volume_types.list()}
    rbd_before = _ceph_leftovers(stack_env)
    # 8 MiB Glance cases; one 1 GiB volume per Cinder case (8 MiB of it
    # written in the RBD volumes); the images the volume-from-image cases
    # clone or copy: 8 MiB. The flattened
    # co-located cases are left out: the same upload, with cinder-volume
    # restarted with an option (test_zero_copy.py tests it).
    flattened = set(rbd_cases.ColocatedUploads.CASES)
    options = runner.Options(sizes=[SIZE], runs=1, volume_gib=1,
                             out=tmp_path, clone_image_size=SIZE,
                             cases=frozenset(runner.ALL_CASES) - flattened,
                             rbd_written=SIZE)
    assert runner.main(directory, options) == 0

    saved = json.loads((tmp_path / 'bench.json').read_text())
    results = saved['results']
    cases = results['cases']
    expected = set(runner.GLANCE_CASES) | set(runner.CINDER_CASES)
    ceph = rbd_cases.missing(stack_env) is None
    if ceph:
        expected |= set(runner.RBD_GLANCE_CASES) | set(runner.CLONE_CASES)
        expected |= set(runner.COLOCATED_CASES) - flattened
        expected |= {c for c, driver in runner.CINDER_RBD_CASES.items()
                     if driver == 'multistore'
                     or not rbd_cases.upstream_missing(bench_env)}
    else:
        assert set(results['skipped']) >= set(runner.RBD_GLANCE_CASES)
    assert set(cases) == expected
    if ceph and rbd_cases.upstream_missing(bench_env):
        assert results['skipped'] == {
            'cinder-rbd-upstream': rbd_cases.upstream_missing(bench_env)}
    for name in set(runner.GLANCE_CASES) | set(runner.RBD_GLANCE_CASES):
        if name in expected:
            assert len(cases[name][str(SIZE)]['seconds']) == 1
    for name in set(runner.CINDER_CASES) | set(runner.CINDER_RBD_CASES):
        if name in expected:
            entry = cases[name][str(GIB)]
            assert entry['seconds'][0] > 0 and entry['cinder_rss_mib'][0] > 0
    if ceph:
        usable, both = (cases[c][str(GIB)]['seconds'][0]
                        for c in rbd_cases.ColocatedUploads.CHAIN_CASES)
        assert 0 < usable <= both
    for name in runner.CLONE_CASES:
        if name in expected:
            assert cases[name][str(SIZE)]['seconds'][0] > 0
    model = results['model']
    assert set(model) == set(bound.CASES)
    for name in bound.CASES:
        entry = model[name][str(SIZE)]
        assert entry['seconds'][0] > 0 and entry['cpu_s'][0] >= 0

    # The whole cloud's memory, sampled during the run (the stack was
    # given, so its start-up was not timed).
    peaks = results['footprint']['bench_peaks']
    assert peaks['cloud_rss_mib'] > 0 and peaks['reference_rss_mib'] > 0
    assert 'stack_up_s' not in results['footprint']
    services = results['footprint']['bench_services_mib']
    assert 'glance' in services and 'glance-plain' in services
    if ceph:
        assert {'ceph-central-osd', 'ceph-edge-mon'} <= set(services)

    checked = {r['name'] for r in saved['ratios']}
    spec = {s.numerator: s.name for s in report.RATIOS}
    assert {spec['colocated-3'], spec['glance-filter'],
            spec['cinder-multistore']} <= checked
    assert (spec['colocated-rbd-2'] in checked) is ceph
    assert (spec['volume-clone-colocated'] in checked) is ceph
    assert 'peak RAM of the whole cloud (MiB, sum of RSS)' in checked
    assert (tmp_path / 'bench.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    rst = (tmp_path / 'bench.rst').read_text()
    assert '.. image:: bench.png' in rst
    assert ('Ceph, two sites: 8 MiB' in rst) is ceph

    # Nothing left: no image, volume or type, no file in a store, no RBD
    # image in either cluster, no data file.
    after = {i['id'] for i in admin.glance.images.list()}
    assert after - before == set()
    workflow.wait_for('the bench volumes deleted', lambda: {
        v.id for v in cloud.admin_cinder.volumes.list(
            search_opts={'all_tenants': 1})} <= volumes, 120)
    assert {t.id for t in cloud.admin_cinder.volume_types.list()} == types
    assert _ceph_leftovers(stack_env) == rbd_before
    env = stack.load_env(directory)
    assert _leftovers(env) == []
    assert not (Path(directory) / 'bench-data').exists()


def test_reference_glance_has_no_filter(stack_env, admin):
    env = stack.add_bench_services(stack_env.directory)
    headers = {'X-Auth-Token': admin.session.get_token()}
    for endpoint, filtered in ((env.glance.endpoint, True),
                               (env.glance_plain.endpoint, False)):
        resp = requests.post(endpoint + '/v2/images', headers=headers,
                             json={'name': 'cms-bench-probe',
                                   'disk_format': 'raw',
                                   'container_format': 'bare'})
        image_id = resp.json()['id']
        try:
            resp = requests.put(
                '%s/v2/images/%s/file' % (endpoint, image_id), data=b'x' * 10,
                headers={**headers,
                         'Content-Type': 'application/octet-stream'})
            assert resp.status_code == 204
            assert (middleware.RULE_HEADER in resp.headers) is filtered
        finally:
            requests.delete('%s/v2/images/%s' % (endpoint, image_id),
                            headers=headers)


def test_reference_cinder_volume_runs_cinders_image_service(stack_env):
    env = stack.add_bench_services(stack_env.directory)
    log = Path(env.cinder_upstream.volume_log).read_text()
    assert 'cinder-multistore image service is active' not in log
    assert 'cinder-multistore image service is active' in Path(
        env.cinder.volume_log).read_text()
