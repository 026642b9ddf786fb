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

"""What bounds co-location here: glance_store's per-store work, alone.

glance_store's filesystem driver (``Store.add`` in
``glance_store/_drivers/filesystem.py``) updates an MD5 and the multihash
with every chunk it writes; the MD5 is not optional. These cases replay
that work without Glance, on the benchmark's data file and disk:

``model-single``
    one store: MD5 and Glance's ``hashing_algorithm`` (SHA-512), write.
``model-colocated-3``
    what the filter does for three stores: the same, plus two copies fed
    from the one stream by the filter's own fan-out (bounded queues, a
    writer thread each at ``copy_writer_nice``), each computing MD5 and
    ``copy_hash_algorithm`` and writing its copy.
``model-colocated-3-no-md5``
    the same with copies that skip the MD5, which glance_store does not
    allow: it shows what the copies' MD5 costs.

When ``model-colocated-3 / model-single`` comes close to the measured
``colocated-3 / glance-filter``, the bound is this work on this machine's
cores and disk, not Glance and not the filter.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
import hashlib
from pathlib import Path
import shutil
import time
from typing import Any

from cinder_multistore.glance import fanout


#: Blocks of the stream, as the filter reads the request.
BLOCK_SIZE = 1 << 20
#: What glance_store computes for the primary store with Glance's default
#: ``hashing_algorithm``.
PRIMARY_HASHES = ('md5', 'sha512')


def copy_hashes(copy_algorithm: str) -> dict[str, tuple[str, ...] | None]:
    """Case name -> the hashes of each of the two copies (None: no copy)."""
    return {'model-single': None,
            'model-colocated-3': ('md5', copy_algorithm),
            'model-colocated-3-no-md5': (copy_algorithm,)}


#: The cases, in display order.
CASES = tuple(copy_hashes('sha1'))


def store_write(path: Path, algorithms: Iterable[str],
                blocks: Iterable[bytes]) -> int:
    """Hash and write ``blocks`` as glance_store's file driver does.

    :returns: the bytes written.
    """
    hashers = [hashlib.new(name) for name in algorithms]
    written = 0
    with open(path, 'wb') as f:
        for block in blocks:
            for hasher in hashers:
                hasher.update(block)
            f.write(block)
            written += len(block)
    for hasher in hashers:
        hasher.hexdigest()
    return written


def _blocks(source: Any) -> Iterator[bytes]:
    """``source`` read in blocks, as glance_store's ``chunkreadable``."""
    return iter(lambda: source.read(BLOCK_SIZE), b'')


def run(case: str, data_path: Path, workdir: Path, depth: int = 8,
        copy_algorithm: str = 'sha1',
        nice: int = 0) -> tuple[float, float]:
    """Replay one case on ``data_path``; files go to ``workdir``, removed.

    The copies are fed by the filter's own fan-out
    (:class:`~cinder_multistore.glance.fanout.TeeInput` and
    :class:`~cinder_multistore.glance.fanout.StoreWriter`), with its
    queues, threads and priorities.

    :returns: wall seconds and CPU seconds of this process.
    """
    hashes = copy_hashes(copy_algorithm)[case]
    workdir.mkdir(parents=True, exist_ok=True)

    def copy_to(path: Path) -> Callable[[fanout.QueueReader], int]:
        return lambda reader: store_write(path, hashes, _blocks(reader))
    writers = [fanout.StoreWriter('copy%d' % n,
                                  copy_to(workdir / ('copy%d' % n)),
                                  depth, nice)
               for n in range(2 if hashes is not None else 0)]

    began, cpu = time.monotonic(), time.process_time()
    for writer in writers:
        writer.start()
    try:
        with open(data_path, 'rb') as source:
            tee = fanout.TeeInput(source, lambda: writers, BLOCK_SIZE)
            complete = False
            try:
                store_write(workdir / 'primary', PRIMARY_HASHES,
                            _blocks(tee))
                complete = True
            finally:
                tee.finish(complete)
    finally:
        seconds = time.monotonic() - began
        cpu_seconds = time.process_time() - cpu
        shutil.rmtree(workdir, ignore_errors=True)
    for writer in writers:
        if writer.error is not None:
            raise writer.error
    return seconds, cpu_seconds
