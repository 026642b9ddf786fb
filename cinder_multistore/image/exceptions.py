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

"""The errors of the Cinder image driver's ways of moving data.

One root, :class:`UploadError`, carrying a message template filled from
keyword arguments (the shape of ``os_brick.exception``); each error names
what was left behind, so that the log says whether anything must be
cleaned up by hand.
"""

from typing import Any


class UploadError(Exception):
    """Root of the driver's upload errors.

    :param kwargs: the values of :attr:`message`'s placeholders; kept as
        :attr:`kwargs`.
    """

    message = 'The volume could not be uploaded to the image'

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        try:
            text = self.message % kwargs
        except (KeyError, TypeError, ValueError):
            text = '%s (%r)' % (self.message, kwargs)
        super().__init__(text)


class CloneRefused(UploadError):
    """Ceph refused a step of the clone; nothing was left in either pool.

    The upload can still stream the data.
    """

    message = ('Ceph refused to clone volume %(volume)s into pool '
               '%(pool)s as image %(image_id)s (%(step)s): %(reason)s; '
               'nothing was left in either pool')


class CloneNotRemoved(UploadError):
    """A clone that must go could not be removed from Glance's pool."""

    message = ('The clone %(pool)s/%(image_id)s could not be removed '
               '(%(reason)s): remove it with "rbd snap unprotect '
               '%(pool)s/%(image_id)s@snap; rbd snap purge '
               '%(pool)s/%(image_id)s; rbd rm %(pool)s/%(image_id)s"')


class LocationNotRegistered(UploadError):
    """Glance did not take the clone's location; the clone was removed."""

    message = ('Glance did not register location %(url)s of image '
               '%(image_id)s (%(reason)s); the clone was removed and the '
               'image is left as a failed upload')
