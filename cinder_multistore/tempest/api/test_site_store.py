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

"""The site rule (``[multistore_image_service] site_store``): an upload
that neither its volume type nor a base image places lands in the store of
the volume's own Ceph cluster, and a volume type's store still wins.

Needs ``[multistore_feature_enabled] site_store = True`` (cinder-volume
runs with the rule on) and ``[multistore] rbd_volume_types`` (each RBD
volume type with the Glance rbd store of its cluster); at least two types
for the precedence test.
"""

from tempest import config
from tempest.lib import decorators

from cinder_multistore.tempest.api import base


CONF = config.CONF


class SiteStoreUploadTest(base.BaseRbdVolumeUploadTest):
    """Uploads of RBD volumes with the site rule on."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.multistore_feature_enabled.site_store:
            raise cls.skipException(
                '[multistore_feature_enabled] site_store is False')

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.sites = cls.rbd_volume_types()

    def upload_and_check(self, volume_type: dict, store: str) -> None:
        """A blank volume of ``volume_type`` uploads into ``store`` only;
        the image is deleted once Glance has hashed it.
        """
        volume = self.create_volume(volume_type)
        image = self.upload_to_image(volume)
        self.assertEqual([store], base.split_stores(image['stores']),
                         'volume type %s' % volume_type['name'])
        self.wait_for_hashes(image['id'])

    @decorators.idempotent_id('5e2b9c71-4a0d-4f83-b6e1-9d3c7a2f0b48')
    def test_an_upload_nothing_places_goes_to_the_volumes_site(self):
        """Each RBD type (no store named, no base image): its own
        cluster's store, not Glance's default.
        """
        for volume_type, store in self.sites:
            with self.subTest(volume_type=volume_type['name']):
                self.upload_and_check(volume_type, store)

    @decorators.idempotent_id('a8d4f2e6-1c37-4b95-8e0a-3f6b1d9c2e75')
    def test_the_volume_types_store_wins_over_the_site(self):
        """A type of the first site's backend naming the second site's
        store: the second site's store.
        """
        if len(self.sites) < 2:
            raise self.skipException('[multistore] rbd_volume_types names '
                                     'one site')
        (first, _), (_, other_store) = self.sites[:2]
        self.upload_and_check(
            self.create_volume_type_like(first, other_store), other_store)
