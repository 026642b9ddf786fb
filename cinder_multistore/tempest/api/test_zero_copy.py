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

"""Upload-to-image of RBD volumes into their own cluster's store, deleted
in every order.

Needs ``[multistore] rbd_volume_types`` (a volume type of a Cinder RBD
backend and the Glance rbd store of the same cluster). Whether the upload
was a copy-on-write clone is not visible through the APIs (the project's
functional tests look at Ceph); what a user relies on is: the image is
active in that store with the checksum and hash of the volume's data, it
outlives the volume, the volume outlives it, a volume made from it is
usable, and every order of deletion succeeds.
"""

import hashlib

from tempest.common import waiters
from tempest.lib import decorators

from cinder_multistore.tempest.api import base


#: glance_store's rbd driver and the clone are read in blocks of this size
#: when the expected hashes of a blank volume are computed.
_BLOCK = 8 * 1024 * 1024


def zeros_digests(size: int, algorithm: str) -> tuple[str, str]:
    """MD5 and ``algorithm`` hex digests of ``size`` zero bytes."""
    md5, multi = hashlib.md5(), hashlib.new(algorithm)
    block = bytes(_BLOCK)
    left = size
    while left > 0:
        chunk = block[:min(left, _BLOCK)]
        md5.update(chunk)
        multi.update(chunk)
        left -= len(chunk)
    return md5.hexdigest(), multi.hexdigest()


class ZeroCopyUploadTest(base.BaseRbdVolumeUploadTest):
    """Volumes of an RBD backend uploaded into their cluster's store."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        [(rbd_type, cls.rbd_store)] = cls.rbd_volume_types()[:1]
        cls.rbd_type = cls.create_volume_type_like(rbd_type, cls.rbd_store)

    def upload_volume(self) -> tuple[dict, dict]:
        """A blank volume of the RBD type, uploaded: the volume and the
        image once Glance has its hashes, which are checked.
        """
        volume = self.create_volume(self.rbd_type)
        image = self.upload_to_image(volume)
        self.assertEqual([self.rbd_store],
                         base.split_stores(image['stores']))
        image = self.wait_for_hashes(image['id'])
        size = volume['size'] * 1024 ** 3
        self.assertEqual(size, image['size'])
        self.assertEqual(zeros_digests(size, image['os_hash_algo']),
                         (image['checksum'], image['os_hash_value']))
        return volume, image

    def delete_volume(self, volume: dict) -> None:
        self.volumes_client.delete_volume(volume['id'])
        self.volumes_client.wait_for_resource_deletion(volume['id'])

    def delete_image(self, image: dict) -> None:
        self.images_client.delete_image(image['id'])
        self.images_client.wait_for_resource_deletion(image['id'])

    def assertUsable(self, image: dict) -> None:
        """The image is active, and a volume made from it is available."""
        shown = self.images_client.show_image(image['id'])
        self.assertEqual(('active', image['checksum']),
                         (shown['status'], shown['checksum']))
        volume = self.create_volume(self.rbd_type, imageRef=image['id'])
        self.delete_volume(volume)

    @decorators.idempotent_id('0c3e9a52-6d1b-4f7e-a8c4-2b5d7e9f1a36')
    def test_volume_deleted_first(self):
        """The image outlives its volume."""
        volume, image = self.upload_volume()
        self.delete_volume(volume)
        self.assertUsable(image)
        self.delete_image(image)

    @decorators.idempotent_id('7f4a1d28-9c3e-4b60-b5e2-8d1f3a6c0e94')
    def test_image_deleted_first(self):
        """The volume outlives its image, and can be uploaded again."""
        volume, image = self.upload_volume()
        self.delete_image(image)
        waiters.wait_for_volume_resource_status(self.volumes_client,
                                                volume['id'], 'available')
        again = self.upload_to_image(volume)
        self.assertEqual([self.rbd_store],
                         base.split_stores(again['stores']))
        self.delete_volume(volume)
        self.assertUsable(self.wait_for_hashes(again['id']))

    @decorators.idempotent_id('b2d6f0e4-3a95-4c1d-9e7b-6f0a4c2e8d51')
    def test_a_volume_from_the_image_then_everything_deleted(self):
        """volume -> image -> volume from the image, deleted source first,
        then the volume from the image, then the image.
        """
        volume, image = self.upload_volume()
        from_image = self.create_volume(self.rbd_type, imageRef=image['id'])
        self.delete_volume(volume)
        self.delete_volume(from_image)
        self.delete_image(image)
