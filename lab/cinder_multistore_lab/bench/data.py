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

"""The bytes every case uploads: one file per size, made once per run."""

from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path


#: Read and send in blocks of this size.
BLOCK = 1 << 20
_PATTERN = 4 << 20


def make(directory: Path, size: int) -> Path:
    """A file of ``size`` bytes that no store can compress or dedupe away.

    Random 4 MiB blocks, each one different (its index is stamped in).
    Kept when it already has the right size.
    """
    path = Path(directory) / ('data-%d.bin' % size)
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = os.urandom(_PATTERN)
    with open(path, 'wb') as f:
        written, index = 0, 0
        while written < size:
            block = index.to_bytes(8, 'big') + seed[8:]
            block = block[:size - written]
            f.write(block)
            written += len(block)
            index += 1
    return path


class Body:
    """A request body that streams a file in :data:`BLOCK` pieces.

    It has a length (so the request carries ``Content-Length``, as Cinder's
    driver sends) and no ``read`` (so the HTTP client sends whole blocks
    instead of its own small ones).
    """

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size if size is None else size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        left = self.size
        with open(self.path, 'rb') as f:
            while left > 0:
                block = f.read(min(BLOCK, left))
                if not block:
                    return
                left -= len(block)
                yield block


def copy_into(source: Path, target: Path, size: int) -> None:
    """Overwrite the first ``size`` bytes of ``target`` with ``source``'s."""
    with open(source, 'rb') as src, open(target, 'r+b') as dst:
        left = size
        while left > 0:
            block = src.read(min(BLOCK, left))
            if not block:
                break
            dst.write(block)
            left -= len(block)
        dst.flush()
        os.fsync(dst.fileno())
