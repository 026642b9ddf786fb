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

from cinder_multistore_lab import demo
from cinder_multistore_lab import workflow


def _state(stack_env):
    cloud = workflow.Cloud(stack_env, 'OS')
    return ({i['id'] for i in cloud.glance.images.list()},
            {v.id for v in cloud.admin_cinder.volumes.list(
                search_opts={'all_tenants': 1})},
            {t.id for t in cloud.admin_cinder.volume_types.list()})


def _ceph_images(stack_env):
    """The RBD images of Glance's and Cinder's pools of each site."""
    from tests.functional import ceph_probes
    return {site: (ceph_probes.images(stack_env, site),
                   ceph_probes.images(stack_env, site,
                                      stack_env.ceph.volumes_pool))
            for site in ceph_probes.sites(stack_env)}


def test_demo_runs_every_case_and_cleans_up(stack_env, capsys):
    """Every case, the Ceph story included (base image, volume, upload,
    copy by Glance, zero-copy upload, streamed upload, clone at the other
    site, full copy): as expected, and nothing left in the cloud or in
    either cluster's pools.
    """
    before = _state(stack_env)
    ceph = not demo.ceph_missing(stack_env)
    rbd_before = _ceph_images(stack_env) if ceph else None
    code = demo.main(stack_env.directory, False, up=lambda d: None,
                     down=lambda d: None)
    out = capsys.readouterr().out
    print(out)
    assert code == 0, out
    assert 'all cases as expected' in out
    for title, *_rest in demo.CASES:
        assert title in out
    if not ceph:
        assert 'Ceph, two sites: skipped, ' in out
    else:
        assert 'COW clone, parent images/' in out
        assert 'full copy, no parent' in out
        assert 'written: %s,%s; failed: none' % (
            stack_env.glance.rbd_store('central'),
            stack_env.glance.rbd_store('edge')) in out
        assert 'the zero-copy upload took ' in out
        assert _ceph_images(stack_env) == rbd_before
    assert _state(stack_env) == before


def test_ceph_story_skipped_without_ceph(stack_env):
    env = dataclasses.replace(stack_env, ceph=None)
    result = demo.run_ceph_story(env, demo.Status(io.StringIO()))
    assert result == {'skipped': 'the cloud runs without the Ceph sites '
                                 'central and edge', 'ok': True,
                      'steps': []}
    assert demo.format_ceph(result) == (
        'Ceph, two sites: skipped, the cloud runs without the Ceph sites '
        'central and edge')
