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

"""Commands the lab tells its user to type, spelled so that they work.

The virtualenv's scripts (``cinder-multistore``, ``openstack``) are not on
``PATH`` unless the virtualenv is activated: a hint names them the way the
user's shell finds them.
"""

import os
from pathlib import Path
import shlex
import shutil
import sys


def command(name: str = 'cinder-multistore') -> str:
    """How to type ``name``, a script of this Python environment.

    The bare name when ``PATH`` finds this environment's script; else its
    path relative to the current folder when it is below it
    (``.venv/bin/cinder-multistore`` from the repository's top); else its
    absolute path.
    """
    # NOTE: sys.executable is the virtualenv's python, not the interpreter
    # it links to: its folder holds the virtualenv's scripts.
    script = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found and os.path.realpath(found) == os.path.realpath(script):
        return name
    here = Path.cwd()
    try:
        return str(script.absolute().relative_to(here))
    except ValueError:
        return str(script.absolute())


def stack_down(directory: str | Path, purge: bool = False) -> str:
    """The ``stack down`` command line of the stack in ``directory``."""
    argv = [command(), 'stack', 'down']
    if purge:
        argv.append('--purge')
    argv += ['--dir', str(directory)]
    return ' '.join(shlex.quote(a) for a in argv)


def size(n_bytes: int) -> str:
    """A size as people read it: ``12 KiB``, ``3.4 GiB``."""
    value = float(n_bytes)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if value < 1024 or unit == 'GiB':
            return ('%d %s' % (value, unit) if unit == 'B' or value >= 10
                    else '%.1f %s' % (value, unit))
        value /= 1024
    raise AssertionError('unreachable')
