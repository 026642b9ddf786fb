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

"""Co-location at Glance's limits, on real glance-api instances.

Each case runs on an extra glance-api of the embedded cloud (same database
and stores, the filter in its pipeline) started with the options it needs:
a storage quota, mandatory co-location, a store chunk size that does not
divide the filter's block size.
"""

import hashlib
import os
import uuid

from keystoneauth1 import loading
from keystoneauth1 import session as ks_session
import pytest

from cinder_multistore_lab import workflow
from tests.functional import cloud
from tests.functional import glance_instances


MiB = 1 << 20


def _new_project_client(env: dict, endpoint: str) -> cloud.ImageClient:
    """A member of a brand new project: its storage usage starts at 0."""
    admin = workflow.session_for(env, 'OS')
    auth_url = env.identity.auth_url.rstrip('/')
    name = 'cms-quota-%s' % uuid.uuid4().hex[:8]
    password = uuid.uuid4().hex
    project = admin.post(auth_url + '/projects', json={'project': {
        'name': name, 'domain_id': 'default'}}).json()['project']
    user = admin.post(auth_url + '/users', json={'user': {
        'name': name, 'password': password, 'domain_id': 'default',
        'default_project_id': project['id']}}).json()['user']
    roles = admin.get(auth_url + '/roles?name=member').json()['roles']
    admin.put(auth_url + '/projects/%s/users/%s/roles/%s'
              % (project['id'], user['id'], roles[0]['id']))
    auth = loading.get_plugin_loader('password').load_from_options(
        auth_url=env.identity.auth_url, username=name, password=password,
        project_id=project['id'], user_domain_name='Default')
    return glance_instances.client_on(
        cloud.ImageClient(env, ks_session.Session(auth=auth)), endpoint)


def _assert_nothing_stored(env, client, image_id):
    image = client.get(image_id)
    assert image['status'] == 'queued', image
    assert cloud.stores_of(image) == []
    assert cloud.store_files(env, image_id) == {}


@pytest.fixture(scope='module')
def quota_glance(stack_env):
    # 40 MiB per project: a 16 MiB image fits once, not three times.
    return glance_instances.start(stack_env, 'glance-quota', {
        'DEFAULT': {'user_storage_quota': '40MB'}})


@pytest.fixture(scope='module')
def required_glance(stack_env):
    return glance_instances.start(stack_env, 'glance-required', {
        'multistore_filter': {'colocation_required': 'true'}})


@pytest.fixture(scope='module')
def odd_chunks_glance(stack_env):
    # glance_store writes file stores in chunks of this size; it does not
    # divide the filter's 1 MiB blocks.
    overrides = {store: {'filesystem_store_chunk_size': '100000'}
                 for store in ('alpha', 'beta', 'gamma')}
    return glance_instances.start(stack_env, 'glance-odd-chunks', overrides)


def test_copies_over_the_storage_quota_are_refused(stack_env, quota_glance):
    client = _new_project_client(stack_env, quota_glance)
    base = client.image_in(os.urandom(4096), ['alpha', 'beta', 'gamma'])
    data = os.urandom(16 * MiB)
    image = client.create()
    resp = client.upload(image.id, data, base=base['id'])
    assert resp.status_code == 413, resp.text
    _assert_nothing_stored(stack_env, client, image.id)
    # The same image alone fits: the quota refused the copies only.
    resp = client.upload(image.id, data, store='alpha')
    assert resp.status_code == 204, resp.text
    assert cloud.stores_of(client.wait(image.id)) == ['alpha']
    client.glance.images.delete(image.id)
    client.glance.images.delete(base['id'])


def test_chunked_copies_over_the_quota_undo_the_upload(stack_env,
                                                       quota_glance):
    # No size announced: the quota can only be checked after the data.
    client = _new_project_client(stack_env, quota_glance)
    base = client.image_in(os.urandom(4096), ['alpha', 'beta', 'gamma'])
    data = os.urandom(16 * MiB)
    image = client.create()
    chunks = (data[i:i + MiB] for i in range(0, len(data), MiB))
    resp = client.upload(image.id, chunks, base=base['id'])
    assert resp.status_code == 413, resp.text
    _assert_nothing_stored(stack_env, client, image.id)
    client.glance.images.delete(image.id)
    client.glance.images.delete(base['id'])


def test_required_colocation_reverts_to_queued(stack_env, demo,
                                               required_glance):
    # delta is a 16 MiB tmpfs: a 24 MiB copy there fails half-way.
    client = glance_instances.client_on(demo, required_glance)
    base = client.image_in(os.urandom(4096), ['alpha', 'delta'])
    image = client.create()
    resp = client.upload(image.id, os.urandom(24 * MiB), base=base['id'])
    assert resp.status_code == 413, resp.text
    assert cloud.failed(resp) == ['delta']
    assert b'/' not in resp.content  # no store path in the message
    _assert_nothing_stored(stack_env, client, image.id)
    # The image can be uploaded again, and then lists one location.
    data = os.urandom(MiB)
    resp = client.upload(image.id, data, store='alpha')
    assert resp.status_code == 204, resp.text
    active = client.wait(image.id)
    assert cloud.stores_of(active) == ['alpha']
    assert active['checksum'] == hashlib.md5(data).hexdigest()
    client.glance.images.delete(image.id)
    client.glance.images.delete(base['id'])


def test_store_chunks_that_do_not_divide_the_block(stack_env, demo,
                                                   odd_chunks_glance):
    client = glance_instances.client_on(demo, odd_chunks_glance)
    base = client.image_in(os.urandom(4096), ['alpha', 'beta', 'gamma'])
    data = os.urandom(5 * MiB + 12345)
    image = client.create()
    resp = client.upload(image.id, data, base=base['id'])
    assert resp.status_code == 204, resp.text
    assert cloud.written(resp) == ['alpha', 'beta', 'gamma']
    digest = hashlib.sha256(data).hexdigest()
    assert cloud.store_files(stack_env, image.id) == {
        s: digest for s in ('alpha', 'beta', 'gamma')}
    client.glance.images.delete(image.id)
    client.glance.images.delete(base['id'])
