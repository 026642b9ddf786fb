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

"""The Cinder case: upload-to-image of a raw volume full of data.

The same volume is uploaded again and again, once through cinder-volume
with this project's image driver and once through a plain cinder-volume
with Cinder's own image service (backend ``nfs_upstream``), both against
the Glance with the filter. A run is timed from the ``os-volume_upload_image``
call until the volume is ``available`` again and the image ``active``.
"""

from __future__ import annotations

from pathlib import Path
import time

from cinder_multistore_lab.bench import data
from cinder_multistore_lab import workflow


#: Driver name -> the stack service that runs it.
SERVICES = {'multistore': 'cinder-volume',
            'upstream': 'cinder-volume-upstream'}


class CinderCases:
    """Upload one filled volume per image driver, timed.

    :param cloud: the cloud as the demo user.
    :param mount: where the NFS share is mounted (volumes are files).
    :param volume_types: driver name -> volume type that reaches it.
    """

    def __init__(self, cloud: workflow.Cloud, mount: Path,
                 volume_types: dict[str, str]) -> None:
        self.cloud = cloud
        self.mount = Path(mount)
        self.volume_types = volume_types
        self.volumes: dict[str, str] = {}

    def prepare(self, source: Path, gib: int) -> None:
        """Create one volume per driver and fill it with ``source``."""
        for driver, vtype in self.volume_types.items():
            vol = self.cloud.volume(gib, volume_type=vtype,
                                    name='cms-bench-%s' % driver)
            self.volumes[driver] = vol.id
            data.copy_into(source, self.mount / ('volume-%s' % vol.id),
                           gib << 30)

    def upload(self, driver: str) -> float:
        """Upload the driver's volume to a new image; return the seconds."""
        volume_id = self.volumes[driver]
        vol = self.cloud.cinder.volumes.get(volume_id)
        start = time.monotonic()
        _, body = self.cloud.cinder.volumes.upload_to_image(
            vol, False, 'cms-bench-%s' % driver, 'bare', 'raw', 'private',
            False)
        image_id = body['os-volume_upload_image']['image_id']
        try:
            workflow.wait_for(
                'volume %s upload' % volume_id,
                lambda: self._done(volume_id, image_id), 1800, 0.1)
            return time.monotonic() - start
        finally:
            self.cloud.remove(images=[image_id])

    def _done(self, volume_id: str, image_id: str) -> bool:
        vol = self.cloud.cinder.volumes.get(volume_id)
        if vol.status.startswith('error'):
            raise workflow.StepFailed('volume %s is %s' % (volume_id,
                                                           vol.status))
        if vol.status != 'available':
            return False
        image = self.cloud.image(image_id)
        if image['status'] in ('killed', 'deleted'):
            raise workflow.StepFailed('image %s is %s' % (image_id,
                                                          image['status']))
        return image['status'] == 'active'

    def cleanup(self) -> None:
        """Delete the volumes (waiting is not needed)."""
        for volume_id in self.volumes.values():
            self.cloud.cinder.volumes.delete(volume_id)
        self.volumes.clear()
