"""The benchmark on the embedded cloud, at a small size, once per case.

Timings are printed, never asserted: this proves that every case runs
against the real services, that the reference services are what they
claim to be, and that the bench leaves nothing behind.
"""

import json
import os
from pathlib import Path

import requests

from cinder_multistore import stack
from cinder_multistore.bench import bound
from cinder_multistore.bench import runner
from cinder_multistore.glance import middleware

SIZE = 8 << 20


def _leftovers(env):
    found = []
    for key, directory in env.items():
        if key.startswith('GLANCE_STORE_DIR_'):
            found += [n for n in os.listdir(directory)
                      if n.startswith('cms-bench')]
    return found


def test_bench_runs_every_case_and_cleans_up(stack_env, tmp_path, admin):
    directory = stack_env['STACK_DIR']
    before = {i['id'] for i in admin.glance.images.list()}
    options = runner.Options(sizes=[SIZE], runs=1, volume_gib=1,
                             out=tmp_path)
    assert runner.main(directory, options) == 0

    saved = json.loads((tmp_path / 'bench.json').read_text())
    cases = saved['results']['cases']
    assert set(cases) == set(runner.GLANCE_CASES) | set(runner.CINDER_CASES)
    for name in runner.GLANCE_CASES:
        assert len(cases[name][str(SIZE)]['seconds']) == 1
    for name in runner.CINDER_CASES:
        entry = cases[name][str(1 << 30)]
        assert entry['seconds'][0] > 0 and entry['cinder_rss_mib'][0] > 0
    model = saved['results']['model']
    assert set(model) == set(bound.CASES)
    for name in bound.CASES:
        entry = model[name][str(SIZE)]
        assert entry['seconds'][0] > 0 and entry['cpu_s'][0] >= 0
    checked = {r['name'] for r in saved['ratios']}
    assert len(checked) == 4
    assert (tmp_path / 'bench.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert '.. image:: bench.png' in (tmp_path / 'bench.rst').read_text()

    # Nothing left: no image, no file in a store, no data file.
    after = {i['id'] for i in admin.glance.images.list()}
    assert after - before == set()
    env = stack.load_env(directory)
    assert _leftovers(env) == []
    assert not (Path(directory) / 'bench-data').exists()


def test_reference_glance_has_no_filter(stack_env, admin):
    env = stack.add_bench_services(stack_env['STACK_DIR'])
    headers = {'X-Auth-Token': admin.session.get_token()}
    for endpoint, filtered in ((env['GLANCE_ENDPOINT'], True),
                               (env['GLANCE_PLAIN_ENDPOINT'], False)):
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
    env = stack.add_bench_services(stack_env['STACK_DIR'])
    log = Path(env['CINDER_UPSTREAM_VOLUME_LOG']).read_text()
    assert 'cinder-multistore image service is active' not in log
    assert 'cinder-multistore image service is active' in Path(
        env['CINDER_VOLUME_LOG']).read_text()
