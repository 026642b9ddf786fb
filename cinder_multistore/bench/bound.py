"""What bounds co-location here: glance_store's per-store work, alone.

glance_store's filesystem driver (``Store.add`` in
``glance_store/_drivers/filesystem.py``) updates an MD5 and the multihash
with every chunk it writes; the MD5 is not optional. These cases replay
that work without Glance, on the benchmark's data file and disk:

``model-single``
    one store: MD5 and Glance's ``hashing_algorithm`` (SHA-512), write.
``model-colocated-3``
    what the filter does for three stores: the same, plus two threads fed
    from the one stream through bounded queues, each computing MD5 and
    ``copy_hash_algorithm`` and writing its copy, at the filter's
    ``copy_writer_nice``.
``model-colocated-3-no-md5``
    the same with copies that skip the MD5, which glance_store does not
    allow: it shows what the copies' MD5 costs.

When ``model-colocated-3 / model-single`` comes close to the measured
``colocated-3 / glance-filter``, the bound is this work on this machine's
cores and disk, not Glance and not the filter.
"""

from __future__ import annotations

import hashlib
import queue
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

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


def _drain(blocks: queue.Queue) -> Iterator[bytes]:
    while (block := blocks.get()) is not None:
        yield block


class _Copy(threading.Thread):
    """One secondary store's writer, fed through a bounded queue."""

    def __init__(self, path: Path, algorithms: tuple[str, ...],
                 depth: int, nice: int) -> None:
        super().__init__(name='model-%s' % path.name, daemon=True)
        self.path = path
        self.nice = nice
        self.algorithms = algorithms
        self.blocks: queue.Queue = queue.Queue(depth)
        self.error: BaseException | None = None

    def run(self) -> None:
        fanout.lower_priority(self.nice)
        try:
            store_write(self.path, self.algorithms, _drain(self.blocks))
        except Exception as exc:
            self.error = exc
            # NOTE: keep taking blocks so the stream never blocks on a
            # copy that has stopped writing.
            for _block in _drain(self.blocks):
                pass


def run(case: str, data_path: Path, workdir: Path, depth: int = 8,
        copy_algorithm: str = 'sha1',
        nice: int = 0) -> tuple[float, float]:
    """Replay one case on ``data_path``; files go to ``workdir``, removed.

    :returns: wall seconds and CPU seconds of this process.
    """
    hashes = copy_hashes(copy_algorithm)[case]
    workdir.mkdir(parents=True, exist_ok=True)
    copies = [_Copy(workdir / ('copy%d' % n), hashes, depth, nice)
              for n in range(2 if hashes is not None else 0)]

    def stream() -> Iterator[bytes]:
        with open(data_path, 'rb') as f:
            while block := f.read(BLOCK_SIZE):
                for copy in copies:
                    copy.blocks.put(block)
                yield block

    began, cpu = time.monotonic(), time.process_time()
    for copy in copies:
        copy.start()
    try:
        store_write(workdir / 'primary', PRIMARY_HASHES, stream())
    finally:
        for copy in copies:
            copy.blocks.put(None)
        for copy in copies:
            copy.join()
        seconds = time.monotonic() - began
        cpu_seconds = time.process_time() - cpu
        shutil.rmtree(workdir, ignore_errors=True)
    for copy in copies:
        if copy.error is not None:
            raise copy.error
    return seconds, cpu_seconds
