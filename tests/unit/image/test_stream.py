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

"""Measuring, reading and rewinding the volume's data."""

import io
import os
import pathlib
import stat

import pytest

from cinder_multistore.image import stream


CHUNK = 64 * 1024


class RecordingFile(io.FileIO):
    """A real file that remembers how much each read asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked = []

    def read(self, size=-1):
        self.asked.append(size)
        return super().read(size)


@pytest.fixture
def volume(tmp_path):
    path = tmp_path / 'volume'
    path.write_bytes(os.urandom(CHUNK * 3 + 17))
    return path


def _readable_block_device():
    """The largest block device we may open (an unattached loop is 0)."""
    found = []
    for entry in sorted(pathlib.Path('/sys/class/block').glob('*')):
        dev = pathlib.Path('/dev') / entry.name
        try:
            sectors = int((entry / 'size').read_text())
            if dev.is_block_device():
                with open(dev, 'rb'):
                    found.append((sectors * 512, str(dev)))
        except (OSError, ValueError):
            continue
    return max(found) if found else (None, None)


def test_size_of_a_regular_file_from_its_position(volume):
    with open(volume, 'rb') as f:
        assert stream.measure_size(f) == CHUNK * 3 + 17
        f.read(17)
        assert stream.measure_size(f) == CHUNK * 3
        assert f.tell() == 17


def test_size_of_a_block_device():
    size, device = _readable_block_device()
    if device is None:
        pytest.skip('no readable block device here')
    with open(device, 'rb') as f:
        assert stat.S_ISBLK(os.fstat(f.fileno()).st_mode)
        assert stream.measure_size(f) == size
        assert f.tell() == 0


def test_size_of_a_seekable_object_without_a_descriptor():
    data = io.BytesIO(b'abcdef')
    data.read(2)
    assert stream.measure_size(data) == 4
    assert data.read() == b'cdef'


class _RBDImage:
    """The part of ``rbd.Image`` that os-brick's wrapper reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        return self.data[offset:offset + length]


def test_size_of_an_rbd_volume_wrapper():
    # os-brick's RBDVolumeIOWrapper (what Cinder's RBD driver hands to the
    # image service for raw uploads) returns None from seek().
    linuxrbd = pytest.importorskip('os_brick.initiator.linuxrbd')
    meta = linuxrbd.RBDImageMetadata(_RBDImage(b'x' * 10 + b'y' * 5),
                                     'volumes', 'cinder', 'ceph.conf')
    wrapper = linuxrbd.RBDVolumeIOWrapper(meta)
    assert wrapper.seek(0, os.SEEK_END) is None
    wrapper.seek(10)
    assert stream.measure_size(wrapper) == 5
    assert wrapper.tell() == 10
    assert wrapper.read(5) == b'y' * 5


def test_size_of_a_pipe_is_unknown():
    read_fd, write_fd = os.pipe()
    try:
        with os.fdopen(read_fd, 'rb', buffering=0) as f:
            assert stream.measure_size(f) is None
    finally:
        os.close(write_fd)


def test_size_and_reads_through_a_tpool_proxy(volume):
    # Cinder hands the data over as eventlet.tpool.Proxy(open(path)).
    from eventlet import tpool
    with open(volume, 'rb') as f:
        proxy = tpool.Proxy(f)
        assert stream.measure_size(proxy) == volume.stat().st_size
        body = stream.UploadBody(proxy, CHUNK)
        assert b''.join(iter(lambda: body.read(1 << 20), b'')) == \
            volume.read_bytes()


def test_reads_are_chunk_sized_whatever_is_asked(volume):
    with RecordingFile(volume, 'rb') as f:
        body = stream.UploadBody(f, CHUNK)
        sizes = [len(body.read(size)) for size in (-1, 1 << 20, 1, 0)]
        assert sizes == [CHUNK, CHUNK, CHUNK, 17]
        assert f.asked == [CHUNK] * 4
        assert body.read() == b''


def test_rewind_goes_back_to_where_the_upload_started(volume):
    with open(volume, 'rb') as f:
        f.seek(5)
        body = stream.UploadBody(f, CHUNK)
        first = body.read()
        body.read()
        body.rewind()
        assert body.bytes_read == 0
        assert body.read() == first == volume.read_bytes()[5:5 + CHUNK]


def test_rewind_before_reading_needs_no_seek():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b'data')
    os.close(write_fd)
    with os.fdopen(read_fd, 'rb', buffering=0) as f:
        body = stream.UploadBody(f, CHUNK)
        body.rewind()
        assert body.read() == b'data'


def test_rewind_after_reading_a_pipe_is_refused():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b'data')
    os.close(write_fd)
    with os.fdopen(read_fd, 'rb', buffering=0) as f:
        body = stream.UploadBody(f, CHUNK)
        body.read()
        with pytest.raises(stream.StreamNotRewindable) as info:
            body.rewind()
    assert info.value.bytes_sent == 4
    assert '4 bytes' in str(info.value)
