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

"""Small helpers shared by the service modules: paths, ini files, uwsgi."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
import shutil
import sys

from cinder_multistore_lab.stack import process


HOST = '127.0.0.1'


def venv_bin() -> Path:
    """The ``bin`` folder of the virtualenv the stack runs from.

    This is the environment of the running interpreter (``sys.prefix``,
    not the resolved executable, which a venv symlinks to the system's).
    """
    return Path(sys.prefix) / 'bin'


def python() -> str:
    """The virtualenv's python."""
    return str(venv_bin() / 'python')


def tool(name: str) -> str:
    """The path of console script ``name`` in the virtualenv.

    :raises StackError: when it is not installed.
    """
    path = venv_bin() / name
    if not path.exists():
        found = shutil.which(name)
        if not found:
            raise process.StackError('%s is not installed in %s' %
                                     (name, venv_bin()))
        return found
    return str(path)


def _render(value: object) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return ', '.join(str(v) for v in value)
    return str(value)


def bracketed(values: Sequence[object]) -> str:
    """A list option value in brackets (``[a, b]``).

    Options typed ``List(bounds=True)`` (Glance's import options) reject
    a value without the brackets.
    """
    return '[%s]' % ', '.join(str(v) for v in values)


def write_ini(path: Path,
              sections: Mapping[str, Mapping[str, object]]) -> Path:
    """Write an oslo.config style ini file; ``None`` values are left out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for section, options in sections.items():
        lines.append('[%s]' % section)
        for key, value in options.items():
            if value is None:
                continue
            lines.append('%s = %s' % (key, _render(value)))
        lines.append('')
    path.write_text('\n'.join(lines))
    return path


def uwsgi_argv(module: str, port: int, *, processes: int = 1,
               threads: int = 4, pyargv: Sequence[str] = (),
               extra: Sequence[str] = ()) -> list[str]:
    """The uwsgi command line serving ``module:application`` on ``port``.

    The flags are the ones Glance needs (chunked request bodies, no
    keep-alive); Keystone and the Cinder API run fine with them too.
    """
    argv = [
        tool('uwsgi'),
        '--master', '--need-app', '--die-on-term', '--enable-threads',
        '--lazy-apps', '--strict',
        '--home', sys.prefix,
        '--module', '%s:application' % module,
        '--http-socket', '%s:%d' % (HOST, port),
        '--processes', str(processes), '--threads', str(threads),
        '--http-chunked-input', '--http-raw-body',
        '--chunked-input-limit', '4096000',
        '--buffer-size', '65535',
        '--http-auto-chunked',
        '--add-header', 'Connection: close',
        '--thunder-lock', '--worker-reload-mercy', '5',
        '--reload-mercy', '5',
        # TERM stops at once: a test cloud has nothing to drain, and
        # Glance's graceful exit can hang in its cache worker.
        '--hook-master-start', 'unix_signal:15 kill_them_all',
        '--disable-logging',
    ]
    if pyargv:
        argv += ['--pyargv', ' '.join(pyargv)]
    argv += list(extra)
    return argv
