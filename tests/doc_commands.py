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

"""The shell commands of the documentation, as the docs mark them.

The convention (described in ``doc/source/contributor/doc-commands.rst``):

* a command is a line starting with ``$ `` in a ``.. code-block:: console``
  block; a line ending with ``\\`` continues on the next line; other lines
  of the block are output, shown to the reader and not run;
* ``.. doc-commands: not run: REASON`` right before such a block: its
  commands cannot run on the embedded cloud, for REASON;
* ``.. doc-commands: cleanup`` right before such a block: its commands run
  last, also when a command before them failed;
* ``.. doc-commands: cleanup: COMMAND`` anywhere: a command the reader does
  not see, run with the cleanup blocks (its exit status is not checked).

Every other literal block must not hold a command (see
:func:`looks_like_command`), so that no command escapes the test.
"""

import dataclasses
from pathlib import Path
import re


TOP = Path(__file__).resolve().parents[1]
MARKER = '.. doc-commands:'
NOT_RUN = 'not run:'
CLEANUP = 'cleanup'
PROMPT = '$ '

#: First words of the lines that are shell commands, in a block that is
#: not a console block.
COMMAND_WORDS = frozenset((
    'bash', 'sh', 'tox', 'pip', 'pip3', 'python', 'python3', 'openstack',
    'glance', 'cinder', 'cinder-multistore', 'cinder-multistore-lab',
    'cinder-multistore-volume', 'rbd', 'ceph', 'rados', 'source', '.',
    'systemctl', 'py-spy', 'kill', 'sudo', 'export', 'git', 'apt-get',
    'curl', 'cd', 'mkdir', 'rm', 'head', 'dd'))

_DIRECTIVE = re.compile(r'^(\s*)\.\. code-block::\s*(\S*)\s*$')


def doc_files() -> list[Path]:
    """The reStructuredText files whose commands count, README first."""
    source = TOP / 'doc' / 'source'
    return [TOP / 'README.rst'] + sorted(source.rglob('*.rst'))


@dataclasses.dataclass
class Block:
    """One literal or code block of a file."""

    path: Path
    line: int
    language: str
    lines: list[str]
    marker: str | None = None

    @property
    def where(self) -> str:
        """``path:line`` relative to the repository."""
        return '%s:%d' % (_shown(self.path), self.line)

    @property
    def commands(self) -> list[str]:
        """The commands of a console block, continuation lines joined."""
        commands: list[str] = []
        current: list[str] | None = None
        for line in self.lines:
            if current is not None:
                current.append(line)
            elif line.startswith(PROMPT):
                current = [line[len(PROMPT):]]
            else:
                continue
            if not line.rstrip().endswith('\\'):
                commands.append('\n'.join(current))
                current = None
        if current is not None:
            commands.append('\n'.join(current))
        return commands

    @property
    def not_run_reason(self) -> str | None:
        """The reason given for not running it, or None when it runs."""
        if self.marker is None or not self.marker.startswith(NOT_RUN):
            return None
        return self.marker[len(NOT_RUN):].strip()

    @property
    def runs(self) -> bool:
        """True for a console block the test runs."""
        return self.language == 'console' and (
            self.marker is None or not self.marker.startswith(NOT_RUN))

    @property
    def cleanup(self) -> bool:
        """True for a console block run last, even after a failure."""
        return self.marker == CLEANUP


@dataclasses.dataclass
class Page:
    """The blocks of one file and its hidden cleanup commands."""

    path: Path
    blocks: list[Block]
    hidden_cleanup: list[str]
    #: ``(line, text)`` of markers that precede no console block.
    stray_markers: list[tuple[int, str]]

    @property
    def name(self) -> str:
        """The file, relative to the repository."""
        return _shown(self.path)

    def commands(self) -> list[tuple[Block, str]]:
        """The commands run in order, cleanup blocks left out."""
        return [(b, c) for b in self.blocks if b.runs and not b.cleanup
                for c in b.commands]

    def cleanup_commands(self) -> list[tuple[Block | None, str]]:
        """The cleanup blocks' commands, then the hidden ones."""
        found: list[tuple[Block | None, str]] = [
            (b, c) for b in self.blocks if b.runs and b.cleanup
            for c in b.commands]
        return found + [(None, c) for c in self.hidden_cleanup]


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is in it."""
    try:
        return str(path.relative_to(TOP))
    except ValueError:
        return str(path)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The dedented lines indented deeper than ``indent`` from ``start``."""
    end = start
    while end < len(lines) and (not lines[end].strip()
                                or _indent(lines[end]) > indent):
        end += 1
    body = lines[start:end]
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    if not body:
        return [], end
    cut = min(_indent(line) for line in body if line.strip())
    return [line[cut:] for line in body], end


def parse(path: Path) -> Page:
    """Every block of ``path`` with the marker before it."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    hidden: list[str] = []
    stray: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        directive = _DIRECTIVE.match(line)
        if stripped.startswith(MARKER):
            text = stripped[len(MARKER):].strip()
            # A comment goes on over the lines indented deeper than it.
            while (i + 1 < len(lines) and lines[i + 1].strip()
                   and _indent(lines[i + 1]) > _indent(line)):
                i += 1
                text += ' ' + lines[i].strip()
            if text.startswith(CLEANUP + ':'):
                hidden.append(text[len(CLEANUP) + 1:].strip())
            else:
                if pending is not None:
                    stray.append(pending)
                pending = (i + 1, text)
            i += 1
        elif directive:
            indent = len(directive.group(1))
            j = i + 1
            # The directive's options (":linenos:" and the like).
            while j < len(lines) and lines[j].strip().startswith(':'):
                j += 1
            body, end = _body(lines, j, indent)
            language = directive.group(2) or 'default'
            marker = None
            if pending is not None:
                if language == 'console':
                    marker = pending[1]
                else:
                    stray.append(pending)
                pending = None
            blocks.append(Block(path, i + 1, language, body, marker))
            i = end
        elif stripped.endswith('::') and not stripped.startswith('..'):
            body, end = _body(lines, i + 1, _indent(line))
            if pending is not None:
                stray.append(pending)
                pending = None
            blocks.append(Block(path, i + 1, 'literal', body))
            i = end
        else:
            if stripped and pending is not None:
                stray.append(pending)
                pending = None
            i += 1
    if pending is not None:
        stray.append(pending)
    return Page(path, blocks, hidden, stray)


def pages() -> list[Page]:
    """Every documentation file, parsed."""
    return [parse(path) for path in doc_files()]


def looks_like_command(line: str) -> bool:
    """True when a line of a non-console block reads as a shell command."""
    stripped = line.strip()
    if stripped.startswith(PROMPT) or stripped.startswith('.venv/bin/'):
        return True
    words = stripped.split()
    return bool(words) and words[0] in COMMAND_WORDS
