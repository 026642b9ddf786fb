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

"""Cinder's upload-to-image lands in the stores the rules choose."""

from tempest.lib import decorators

from cinder_multistore.tempest.api import base


class VolumeUploadStoreTest(base.BaseVolumeUploadTest):
    """The volume type's store, or else the default store."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.store_type = cls.create_volume_type(store=cls.explicit_store)
        cls.plain_type = cls.create_volume_type()

    @decorators.idempotent_id('fe193cc0-dbbb-4e0b-a0ac-99850344cfcd')
    def test_upload_goes_to_store_of_volume_type(self):
        """image_service:store_id of the volume type names the only store."""
        volume = self.create_volume(self.store_type)
        image = self.upload_to_image(volume)
        self.assertEqual([self.explicit_store],
                         base.split_stores(image['stores']))

    @decorators.idempotent_id('4cf57e23-8a23-4e7e-8082-a4f5e8cc9a4a')
    def test_upload_without_store_or_base_goes_to_default_store(self):
        """A blank volume of a type without a store goes to the default."""
        volume = self.create_volume(self.plain_type)
        image = self.upload_to_image(volume)
        self.assertEqual([self.default_store],
                         base.split_stores(image['stores']))


class VolumeUploadColocationTest(base.BaseVolumeUploadTest,
                                 base.BaseColocationTest):
    """A volume built from an image is uploaded next to that image."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.store_type = cls.create_volume_type(store=cls.explicit_store)
        cls.plain_type = cls.create_volume_type()
        cls.base_image = cls.create_image_in_stores(
            cls.random_data(1024 * 1024), cls.colocation_stores)

    @decorators.idempotent_id('a9867243-7387-4887-91a7-1991e44167fd')
    def test_upload_colocates_with_base_image(self):
        """A volume from a two-store image, type without store: both stores.
        """
        volume = self.create_volume(self.plain_type,
                                    imageRef=self.base_image['id'])
        image = self.upload_to_image(volume)
        self.assertEqual(sorted(self.colocation_stores),
                         sorted(base.split_stores(image['stores'])))

    @decorators.idempotent_id('f23ed934-a979-46ea-b1ea-0897c962f8f9')
    def test_store_of_volume_type_wins_over_base_image(self):
        """A volume from a two-store image, type with a store: that store."""
        volume = self.create_volume(self.store_type,
                                    imageRef=self.base_image['id'])
        image = self.upload_to_image(volume)
        self.assertEqual([self.explicit_store],
                         base.split_stores(image['stores']))
