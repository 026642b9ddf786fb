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

"""The demo on the embedded cloud: every case as expected, nothing left.

Timings are printed by the demo, never asserted here.
"""

import dataclasses
import io

import pytest

from cinder_multistore_lab import demo
from cinder_multistore_lab import workflow


def _state(stack_env):
    cloud = workflow.Cloud(stack_env, 'OS')
    return ({i['id'] for i in cloud.glance.images.list()},
            {v.id for v in cloud.admin_cinder.volumes.list(
                search_opts={'all_tenants': 1})},
            {t.id for t in cloud.admin_cinder.volume_types.list()})


def test_demo_runs_every_case_and_cleans_up(stack_env, capsys):
    before = _state(stack_env)
    code = demo.main(stack_env.directory, False, up=lambda d: None,
                     down=lambda d: None)
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    assert 'all cases as expected' in out
    for title, *_rest in demo.CASES:
        assert title in out
    if demo.ceph_missing(stack_env):
        assert 'Ceph, two sites: skipped, ' in out
    else:
        assert 'COW clone, parent images/' in out
        assert 'full copy, no parent' in out
        assert 'written: %s,%s; failed: none' % (
            stack_env.glance.rbd_store('central'),
            stack_env.glance.rbd_store('edge')) in out
    assert _state(stack_env) == before


def test_ceph_story_leaves_nothing_in_either_cluster(stack_env):
    if demo.ceph_missing(stack_env):
        pytest.skip(demo.ceph_missing(stack_env))
    from tests.functional import ceph_probes
    before = {site: (ceph_probes.images(stack_env, site),
                     ceph_probes.images(stack_env, site,
                                        stack_env.ceph.volumes_pool))
              for site in ceph_probes.sites(stack_env)}
    result = demo.run_ceph_story(stack_env, demo.Status(io.StringIO()))
    assert result['ok'], result
    # base image, volume, upload, copy by Glance, zero-copy upload,
    # streamed upload, clone at the other site, full copy.
    assert [s['ok'] for s in result['steps']] == [True] * 8
    assert result['zero_copy_s'] > 0 and result['streamed_s'] > 0
    after = {site: (ceph_probes.images(stack_env, site),
                    ceph_probes.images(stack_env, site,
                                       stack_env.ceph.volumes_pool))
             for site in ceph_probes.sites(stack_env)}
    assert after == before


def test_ceph_story_skipped_without_ceph(stack_env):
    env = dataclasses.replace(stack_env, ceph=None)
    result = demo.run_ceph_story(env, demo.Status(io.StringIO()))
    assert result == {'skipped': 'the cloud runs without the Ceph sites '
                                 'central and edge', 'ok': True,
                      'steps': []}
    assert demo.format_ceph(result) == (
        'Ceph, two sites: skipped, the cloud runs without the Ceph sites '
        'central and edge')
