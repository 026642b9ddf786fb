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

from collections.abc import Iterator
import configparser
import contextlib
import io
from pathlib import Path

import pytest

from cinder_multistore.image import opts
from cinder_multistore_lab.stack import cinder as stack_cinder
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab.stack.state import State
from tests.functional import ceph_probes


def with_options(text: str, **options: str) -> str:
    """``text`` (a cinder.conf) with ``options`` set in the driver's group.
    """
    conf = configparser.RawConfigParser(strict=False, interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read_string(text)
    if not conf.has_section(opts.GROUP):
        conf.add_section(opts.GROUP)
    for name, value in options.items():
        conf.set(opts.GROUP, name, value)
    out = io.StringIO()
    conf.write(out)
    return out.getvalue()


def _restart_with(directory: Path, text: str) -> None:
    stack_cinder.conf_path(directory).write_text(text)
    stack_cinder.restart_volume(State.load(directory))


@contextlib.contextmanager
def volume_options(env: StackEnv, **options: str) -> Iterator[Path]:
    """cinder-volume restarted with ``options`` in its driver's group.

    cinder.conf is given back as it was, and cinder-volume restarted
    again, at the end; contexts nest (the inner one adds to the outer's).

    :returns: cinder-volume's log.
    """
    directory = Path(env.directory)
    original = stack_cinder.conf_path(directory).read_text()
    try:
        _restart_with(directory, with_options(original, **options))
        yield stack_cinder.log_path(directory, stack_cinder.VOLUME)
    finally:
        _restart_with(directory, original)


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
