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

"""The placement rules on the real Glance, seen from the store folders.

Each rule, through the public API, is a test of the tempest plugin
(``cinder_multistore/tempest/api``). Here are what tempest cannot see: the
bytes in each store folder for every rule at once under concurrent uploads
(nothing in any folder for a refused request), the locations' store as an
admin sees it, a secondary store that fills up, and import to all stores.
"""

import concurrent.futures
import hashlib
import os
import uuid

import pytest

from tests.functional import cloud


DATA = os.urandom(256 * 1024)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(scope='module')
def two_store_base(demo):
    """An active image of the demo project in beta and gamma."""
    return demo.image_in(os.urandom(4096), ['beta', 'gamma'])


def _assert_only_in(env, client, image_id, stores, data=DATA):
    image = client.wait(image_id)
    assert cloud.stores_of(image) == stores
    digest = hashlib.sha256(data).hexdigest()
    assert cloud.store_files(env, image_id) == {s: digest for s in stores}
    assert image['size'] == len(data)
    return image


def _assert_untouched(env, client, image_id):
    image = client.get(image_id)
    assert image['status'] == 'queued'
    assert cloud.stores_of(image) == []
    assert cloud.store_files(env, image_id) == {}


# -- rules table, upload ------------------------------------------------

def test_colocated_locations_carry_their_store(stack_env, admin, demo,
                                               two_store_base):
    image = demo.create()
    resp = demo.upload(image.id, DATA, base=two_store_base['id'])
    assert resp.status_code == 204, resp.text
    locations = cloud.locations(admin.env, image.id)
    assert sorted(loc['metadata']['store'] for loc in locations) == [
        'beta', 'gamma']


def test_failing_secondary_store_keeps_upload(stack_env, demo):
    # delta is a 16 MiB tmpfs: a 24 MiB image cannot fit there.
    base = demo.image_in(os.urandom(1024), ['alpha', 'delta'])
    data = os.urandom(24 * 1024 * 1024)
    image = demo.create()
    resp = demo.upload(image.id, data, base=base['id'])
    assert resp.status_code == 204, resp.text
    assert cloud.written(resp) == ['alpha']
    assert cloud.failed(resp) == ['delta']
    _assert_only_in(stack_env, demo, image.id, ['alpha'], data=data)
    assert os.listdir(stack_env.glance.store_dir('delta')).count(
        image.id) == 0


def test_concurrent_uploads_land_by_their_rules(stack_env, demo,
                                                two_store_base):
    default = stack_env.glance.default_store
    cases = [({'store': 'alpha'}, ['alpha']),
             ({'store': 'gamma', 'base': two_store_base['id']}, ['gamma']),
             ({'base': two_store_base['id']}, ['beta', 'gamma']),
             ({}, [default]),
             ({'base': str(uuid.uuid4())}, [default]),
             ({'store': 'beta'}, ['beta']),
             ({'base': two_store_base['id']}, ['beta', 'gamma']),
             ({'base': ''}, [default]),
             ({'store': 'os_glance_tasks_store'}, None),
             ({'store': 'web'}, None),
             ({'store': 'bad/store'}, None)]

    def run(case):
        headers, expected = case
        data = os.urandom(512 * 1024)
        image = demo.create(name='cms-concurrent')
        resp = demo.upload(image.id, data, **headers)
        return image.id, data, resp, expected

    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(run, cases))
    for image_id, data, resp, expected in results:
        if expected is None:
            assert resp.status_code == 400
            _assert_untouched(stack_env, demo, image_id)
            continue
        assert resp.status_code == 204, resp.text
        assert cloud.written(resp) == expected
        _assert_only_in(stack_env, demo, image_id, expected, data=data)


# -- import ---------------------------------------------------------------

def test_import_all_stores_skips_reserved_and_read_only(stack_env, demo):
    image = demo.create()
    assert demo.stage(image.id, DATA).status_code == 204
    resp = demo.import_(image.id, {'method': {'name': 'glance-direct'},
                                   'all_stores': True})
    assert resp.status_code == 202, resp.text
    usable = [s for s in stack_env.glance.stores
              if s != 'web']
    got = demo.wait(image.id, stores=len(usable))
    assert sorted(cloud.stores_of(got)) == sorted(usable)
    assert not any(s.startswith('os_glance') for s in cloud.stores_of(got))


def test_a_system_scoped_caller_gets_glances_own_answer(stack_env, demo,
                                                        two_store_base):
    # Glance runs with enforce_scope: its image APIs are project-scoped, and
    # a system-scoped admin gets Glance's own refusal through the filter
    # (403, or 404 where Glance hides the project's image: Glance 30),
    # whatever placement headers it sends; nothing is written, the image
    # stays queued.
    system = cloud.ImageClient(
        stack_env, cloud.keystone_session(stack_env, 'OS', system_scope=True))
    assert system.session.auth.get_access(system.session).system_scoped
    image = demo.create()
    for headers in ({'base': two_store_base['id']}, {'store': 'beta'}, {}):
        resp = system.upload(image.id, DATA, **headers)
        assert resp.status_code in (403, 404), resp.text
    resp = system.import_(image.id, {'method': {'name': 'glance-direct'}},
                          {'x-openstack-base-image-ref':
                           two_store_base['id']})
    # Glance's own answer to the import (a refusal of the scope, or 409:
    # nothing staged), never anything the filter started.
    assert 400 <= resp.status_code < 500, resp.text
    _assert_untouched(stack_env, demo, image.id)
    # The project-scoped owner still uploads with co-location.
    resp = demo.upload(image.id, DATA, base=two_store_base['id'])
    assert resp.status_code == 204, resp.text
    _assert_only_in(stack_env, demo, image.id, ['beta', 'gamma'])
