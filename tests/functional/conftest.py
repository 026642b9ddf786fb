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

"""Fixtures for tests against the embedded cloud.

When ``CMS_STACK_DIR`` names a running stack (a directory holding
``stack.env``), the tests use it; otherwise the session starts its own
stack in a temporary directory and stops it at the end.
"""

import os
import tempfile

import pytest

from cinder_multistore_lab import stack
from tests.functional import cloud


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.timeout(600))


@pytest.fixture(scope='session')
def stack_env():
    """``stack.env`` of a running stack (a :class:`StackEnv`)."""
    given = os.environ.get('CMS_STACK_DIR')
    if given and os.path.exists(os.path.join(given, 'stack.env')):
        yield stack.load_env(given)
        return
    directory = tempfile.mkdtemp(prefix='cms-stack-')
    try:
        stack.up(directory, with_cinder=os.environ.get(
            'CMS_WITH_CINDER', '1') == '1')
        yield stack.load_env(directory)
    finally:
        stack.down(directory)


@pytest.fixture(scope='session')
def demo(stack_env):
    """A Glance client for the demo user."""
    return cloud.ImageClient.for_user(stack_env, 'DEMO')


@pytest.fixture(scope='session')
def alt(stack_env):
    """A Glance client for the alt user (another project)."""
    return cloud.ImageClient.for_user(stack_env, 'ALT')


@pytest.fixture(scope='session')
def admin(stack_env):
    """A Glance client for the admin user."""
    return cloud.ImageClient.for_user(stack_env, 'OS')
