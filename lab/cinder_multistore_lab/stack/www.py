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

"""A small local HTTP server with test images, for web-download imports.

It serves ``DIR/www``: ``image.raw`` (random bytes) and ``image.qcow2``
(a small, valid qcow2 file, for tempest's qcow2 web-download test).
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import struct
import subprocess

from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import State


NAME = 'www'
RAW_IMAGE = 'image.raw'
QCOW2_IMAGE = 'image.qcow2'
RAW_SIZE = 64 * 1024


def root(directory: Path) -> Path:
    """The folder the server serves."""
    return Path(directory) / 'www'


def url(state: State, name: str = RAW_IMAGE) -> str:
    """The URL of file ``name`` on the server."""
    return 'http://%s:%d/%s' % (common.HOST, state.ports[NAME], name)


def _minimal_qcow2(virtual_size: int) -> bytes:
    """An empty qcow2 (version 3) image of ``virtual_size`` bytes.

    Used only when ``qemu-img`` is missing: one cluster each for the header,
    the L1 table, the refcount table and a refcount block.
    """
    cluster_bits = 16
    cluster = 1 << cluster_bits
    l2_entries = cluster // 8
    l1_size = max(1, -(-virtual_size // (cluster * l2_entries)))
    header = struct.pack(
        '>4sIQIIQIIQQIIQQQQII',
        b'QFI\xfb', 3, 0, 0, cluster_bits, virtual_size, 0, l1_size,
        cluster * 3,          # l1_table_offset
        cluster,              # refcount_table_offset
        1,                    # refcount_table_clusters
        0, 0,                 # nb_snapshots, snapshots_offset
        0, 0, 0,              # incompatible/compatible/autoclear features
        4, 104)               # refcount_order, header_length
    header += struct.pack('>I', 0)  # end of header extensions
    image = bytearray(cluster * 4)
    image[:len(header)] = header
    # refcount table -> refcount block at cluster 2
    image[cluster:cluster + 8] = struct.pack('>Q', cluster * 2)
    # refcount block: clusters 0..3 are used once (16-bit entries)
    for i in range(4):
        off = cluster * 2 + 2 * i
        image[off:off + 2] = struct.pack('>H', 1)
    return bytes(image)


def prepare(state: State) -> None:
    """Write the test images."""
    www = root(state.directory)
    www.mkdir(parents=True, exist_ok=True)
    (www / RAW_IMAGE).write_bytes(os.urandom(RAW_SIZE))
    qcow2 = www / QCOW2_IMAGE
    qemu_img = shutil.which('qemu-img')
    if qemu_img:
        subprocess.run([qemu_img, 'create', '-q', '-f', 'qcow2',
                        str(qcow2), '1M'], check=True)
    else:
        qcow2.write_bytes(_minimal_qcow2(1024 * 1024))


def env(state: State) -> stack_env.Web:
    """The stack.env part of the web server: its images' URLs."""
    return stack_env.Web(url(state, RAW_IMAGE), url(state, QCOW2_IMAGE))


def start(state: State) -> process.Process:
    """Start ``python -m http.server`` on the stack's www port."""
    port = state.ports[NAME]
    proc = process.start(
        state.directory, NAME,
        [common.python(), '-m', 'http.server', str(port),
         '--bind', common.HOST, '--directory', str(root(state.directory))])
    state.services.append(NAME)
    state.save()
    process.wait_for_http(proc, port, '/' + RAW_IMAGE, timeout=30)
    return proc
