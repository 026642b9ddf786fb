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

"""cinder-volume of the embedded cloud with other driver options.

The stack's cinder.conf leaves the driver's opt-in features off; tests of a
feature turn it on for a while and give the file (and cinder-volume) back
as it was.
"""

import contextlib
from pathlib import Path

import pytest

from cinder_multistore_lab.stack import cinder as stack_cinder
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab.stack.state import State
from tests.functional import ceph_probes


def volume_options(env: StackEnv, **options: str
                   ) -> contextlib.AbstractContextManager[Path]:
    """cinder-volume restarted with ``options`` in its driver's group
    (:func:`cinder_multistore_lab.stack.cinder.volume_options`).
    """
    return stack_cinder.volume_options(Path(env.directory), **options)


def multistore_sites(env: StackEnv) -> list[str]:
    """The Ceph sites, when the stack has two and runs this image service.

    Skips the test otherwise.
    """
    names = ceph_probes.sites(env)
    if len(names) < 2:
        pytest.skip('the stack runs without two Ceph sites')
    state = State.load(env.directory)
    if stack_cinder.volume_service(
            state.options.cinder_image_driver).image_driver != 'multistore':
        pytest.skip('cinder-volume runs without the multistore image service')
    return names
