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

"""``DIR/stack.env``: ``export VAR='value'`` lines that bash can source."""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import re
import shlex


FILE_NAME = 'stack.env'
_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def path(directory: Path | str) -> Path:
    """Where stack.env is written."""
    return Path(directory) / FILE_NAME


def write(directory: Path | str, variables: Mapping[str, object]) -> Path:
    """Write ``variables`` as quoted ``export`` lines (atomically)."""
    lines = ['# cinder-multistore embedded cloud; source this file']
    for name, value in variables.items():
        if not _NAME.match(name):
            raise ValueError('bad variable name %r' % name)
        lines.append('export %s=%s' % (name, shlex.quote(str(value))))
    target = path(directory)
    tmp = target.with_suffix('.tmp')
    tmp.write_text('\n'.join(lines) + '\n')
    os.replace(tmp, target)
    return target


def parse(text: str) -> dict[str, str]:
    """Parse ``export VAR=value`` / ``VAR=value`` lines (shell quoting)."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        words = shlex.split(line, comments=True)
        if words and words[0] == 'export':
            words = words[1:]
        for word in words:
            name, sep, value = word.partition('=')
            if sep and _NAME.match(name):
                result[name] = value
    return result


def load(directory: Path | str) -> dict[str, str]:
    """Read ``DIR/stack.env`` into a dict.

    :raises FileNotFoundError: when the stack was never brought up there.
    """
    return parse(path(directory).read_text())
