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

"""The volume's data on its way to Glance: size, large reads, rewinding.

Cinder hands the image driver an open file (a volume path or a converted
temporary file, wrapped in ``eventlet.tpool.Proxy`` so that each read runs
in a native thread). This module never imports Cinder: it only reads,
seeks and measures such a file-like object.
"""

import io
import os
from typing import Protocol

from oslo_log import log as logging

from cinder_multistore.image import targets


LOG = logging.getLogger(__name__)

# What a file-like object raises when it cannot tell, seek or give a fd.
_UNSUPPORTED = (AttributeError, OSError, ValueError, io.UnsupportedOperation)


class VolumeData(Protocol):
    """An open volume or image file, as Cinder hands it to the driver.

    A plain file, a ``tpool.Proxy`` around one, or os-brick's RBD wrapper:
    ``tell``, ``seek`` and ``fileno`` may raise (:data:`_UNSUPPORTED`) when
    the object cannot, and os-brick's ``seek`` returns None.
    """

    def read(self, size: int = ..., /) -> bytes:
        """Up to ``size`` bytes; b'' at the end."""

    def tell(self) -> int:
        """The current read offset."""

    def seek(self, offset: int, whence: int = ..., /) -> int | None:
        """Move the read offset; the new offset, or None."""

    def fileno(self) -> int:
        """The file descriptor."""


class StreamNotRewindable(Exception):
    """A retry needs the data again, but the source cannot seek back."""

    def __init__(self, bytes_sent: int) -> None:
        super().__init__('the connection to Glance failed after %d bytes '
                         'were sent and the volume data cannot be read again '
                         'from its start' % bytes_sent)
        self.bytes_sent = bytes_sent


def _tell(source: VolumeData) -> int | None:
    try:
        return source.tell()
    except _UNSUPPORTED:
        return None


def measure_size(source: VolumeData) -> int | None:
    """Bytes that ``source`` will yield from its current position.

    A regular file is measured with ``fstat``; a block device (and any
    other seekable object, an RBD image wrapper for one) by seeking to its
    end and back. A pipe has no size.

    :param source: an open file-like object, possibly a ``tpool.Proxy``.
    :returns: the byte count, or None when it cannot be known.
    """
    position = _tell(source)
    try:
        info = os.fstat(source.fileno())
    except _UNSUPPORTED:
        info = None
    if info is not None and position is not None:
        size = targets.remaining_size(info.st_mode, info.st_size, position)
        if size is not None:
            return size
    if position is None:
        return None
    try:
        end = source.seek(0, os.SEEK_END)
        if end is None:
            # NOTE: os-brick's RBDVolumeIOWrapper.seek() returns None instead
            # of the new offset (io.IOBase returns it); its tell() is right.
            end = source.tell()
        source.seek(position, os.SEEK_SET)
    except _UNSUPPORTED:
        return None
    if not isinstance(end, int):
        LOG.warning('Cannot tell the size of %r: seek/tell gave %r',
                    source, end)
        return None
    return max(end - position, 0)


class UploadBody:
    """The volume's data as glanceclient reads it.

    glanceclient reads an upload body with ``read(1 MiB)``; this object
    answers every read with one read of ``chunk_size`` bytes from the
    volume, never more, so memory stays bounded by one chunk whatever the
    volume size, and large volumes are read in large pieces.

    The retry loop calls :meth:`rewind` before each attempt: a failed
    attempt may have consumed part of the data, and a retry must send all
    of it again, not the rest of it.

    :param source: the open volume or image file.
    :param chunk_size: bytes per read.
    """

    def __init__(self, source: VolumeData, chunk_size: int) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._start = _tell(source)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        """Return the next chunk of at most ``chunk_size`` bytes.

        ``size`` is ignored on purpose: a read of everything (-1) must not
        load a volume in memory, and glanceclient's 1 MiB is too small to
        read a volume efficiently.
        """
        chunk = self._source.read(self._chunk_size)
        self.bytes_read += len(chunk)
        return chunk

    def rewind(self) -> None:
        """Go back to where the upload started.

        :raises StreamNotRewindable: when data was read and the source
            cannot seek.
        """
        if self.bytes_read == 0:
            return
        if self._start is None:
            raise StreamNotRewindable(self.bytes_read)
        try:
            self._source.seek(self._start, os.SEEK_SET)
        except _UNSUPPORTED as exc:
            raise StreamNotRewindable(self.bytes_read) from exc
        LOG.info('Sending the volume data again from offset %s after %s '
                 'bytes of a failed attempt', self._start, self.bytes_read)
        self.bytes_read = 0
