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

"""Upload-to-image through the real command-line clients.

``cinder upload-to-image`` (python-cinderclient) and ``openstack image
create --volume`` (python-openstackclient) run as subprocesses with
nothing but the variables of ``stack.env`` (admin), as an operator who
typed ``source DIR/stack.env`` would run them: no endpoint or version
flags. Each volume has a type naming a Glance store
(``image_service:store_id``); the image must land in that store only.
"""

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from cinder_multistore_lab import workflow


CLI_TIMEOUT = 120


def _name(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def _cli_env(stack_env):
    """This process's environment without OS_*, plus stack.env's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(stack_env.as_environ())
    return env


def _run(stack_env, *argv):
    """Run a client of this Python environment; return its stdout."""
    tool = os.path.join(os.path.dirname(sys.executable), argv[0])
    result = subprocess.run([tool, *argv[1:]], env=_cli_env(stack_env),
                            stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=CLI_TIMEOUT)
    assert result.returncode == 0, (
        '%s exited %d:\n%s\n%s' % (' '.join(argv), result.returncode,
                                   result.stdout[-2000:],
                                   result.stderr[-2000:]))
    return result.stdout


def _table_value(table, key):
    """The value of ``key`` in a client's two-column table."""
    match = re.search(r'^\|\s*%s\s*\|\s*(\S+)\s*\|$' % re.escape(key),
                      table, re.MULTILINE)
    assert match, 'no %s in:\n%s' % (key, table)
    return match.group(1)


@pytest.fixture
def admin_cloud(stack_env):
    """The cloud as the admin of stack.env, whatever it makes removed."""
    cloud = workflow.Cloud(stack_env, user='OS')
    made = {'volumes': [], 'images': [], 'types': []}
    cloud.made = made
    yield cloud
    cloud.remove(made['volumes'], made['images'], made['types'])


def _volume_in_store_type(cloud, store):
    type_id = cloud.volume_type(_name('cms-cli-type'), store)
    cloud.made['types'].append(type_id)
    vol = cloud.volume(volume_type=type_id, name=_name('cms-cli-vol'))
    cloud.made['volumes'].append(vol.id)
    return vol


def _landed(cloud, volume_id, image_id):
    """Wait for the upload; return the image's stores and file digests."""
    cloud.made['images'].append(image_id)
    cloud.wait_volume(volume_id, timeout=300)
    image = cloud.wait_image(image_id, timeout=300)
    return (workflow.image_stores(image), cloud.store_digests(image_id),
            image['checksum'])


def test_cinder_upload_to_image(stack_env, admin_cloud):
    vol = _volume_in_store_type(admin_cloud, 'gamma')
    out = _run(stack_env, 'cinder', 'upload-to-image', '--disk-format',
               'raw', vol.id, _name('cms-cli-cinder'))
    image_id = _table_value(out, 'image_id')
    stores, digests, checksum = _landed(admin_cloud, vol.id, image_id)
    assert stores == ['gamma']
    assert digests == {'gamma': checksum}


def test_openstack_image_create_from_volume(stack_env, admin_cloud):
    vol = _volume_in_store_type(admin_cloud, 'beta')
    out = _run(stack_env, 'openstack', 'image', 'create', '--volume',
               vol.id, '--disk-format', 'raw', '-f', 'json',
               _name('cms-cli-openstack'))
    image_id = json.loads(out)['image_id']
    stores, digests, checksum = _landed(admin_cloud, vol.id, image_id)
    assert stores == ['beta']
    assert digests == {'beta': checksum}
