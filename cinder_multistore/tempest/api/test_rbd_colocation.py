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

"""Co-location across Ceph sites: one Glance rbd store per cluster.

Skipped unless ``GET /v2/info/stores/detail`` (admin) lists at least two
usable ``rbd`` stores. What tempest can see is checked: the stores an image
lists and, as admin, one ``rbd://<fsid>/<pool>/<image>/snap`` location per
store, in distinct clusters. The Ceph side (snapshots, clones) is tested by
the project's functional tests.
"""

from tempest.lib import decorators
from tempest.lib import exceptions as lib_exc

from cinder_multistore.tempest.api import base


SNAP = 'snap'


def parse_rbd_url(url: str) -> tuple[str, str, str, str] | None:
    """``(fsid, pool, image, snapshot)`` of an ``rbd://`` URL, else None."""
    if not url.startswith('rbd://'):
        return None
    parts = url[len('rbd://'):].split('/')
    if len(parts) != 4:
        return None
    return parts[0], parts[1], parts[2], parts[3]


def discover_rbd_stores(cls) -> list[str]:
    """Two writable rbd stores, or skip ``cls`` saying why.

    ``[multistore] stores`` names the stores of the other tests, which may
    leave the rbd stores out: the rbd stores come from Glance alone.

    :param cls: the test class, with the admin credentials.
    """
    client = cls.os_admin.multistore_image.MultiStoreImagesClient()
    try:
        detail = client.info_stores_detail()
    except (lib_exc.NotFound, lib_exc.Forbidden) as exc:
        raise cls.skipException('GET /v2/info/stores/detail is not '
                                'available: %s' % exc)
    rbd = [s['id'] for s in detail['stores']
           if s.get('type') == 'rbd' and not s.get('read-only')
           and not s['id'].startswith('os_glance_')]
    if len(rbd) < 2:
        raise cls.skipException(
            'Glance has fewer than two usable rbd stores (found: %s)'
            % (', '.join(rbd) or 'none'))
    return rbd[:2]


class RbdColocationTest(base.BaseColocationLocationsTest):
    """An image uploaded next to a base image held in two Ceph clusters."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.rbd_stores = discover_rbd_stores(cls)
        cls.base_image = cls.create_image_in_stores(
            cls.random_data(), cls.rbd_stores)

    def assertRbdLocations(self, image_id: str) -> None:
        """One rbd location per store, each in a cluster of its own."""
        locations = {loc['metadata'].get('store'): loc['url']
                     for loc in self.locations_client.image_locations(
                         image_id)}
        self.assertEqual(sorted(self.rbd_stores), sorted(locations))
        parsed = {store: parse_rbd_url(url)
                  for store, url in locations.items()}
        fsids: set[str] = set()
        for store, parts in parsed.items():
            if parts is None:
                raise self.failureException(
                    'not an rbd location: %s' % locations[store])
            self.assertEqual((image_id, SNAP), parts[2:])
            fsids.add(parts[0])
        self.assertEqual(len(self.rbd_stores), len(fsids))

    @decorators.idempotent_id('3b0f5d0e-6f43-4a52-9d1b-5a0e8c9b7d21')
    def test_upload_colocates_in_both_clusters(self):
        """Uploaded with the base image ref: written to both rbd stores."""
        data = self.random_data()
        image = self.create_queued_image()
        resp = self.upload(image['id'], data, base=self.base_image['id'])
        self.assertWritten(resp, self.rbd_stores, 'colocate')
        self.assertImageIn(image['id'], self.rbd_stores, data)
        self.assertRbdLocations(image['id'])

    @decorators.idempotent_id('8c2e4d71-1a6b-4e3f-b0d9-2f7a6c5e4b13')
    def test_chunked_upload_colocates_in_both_clusters(self):
        """The same for a chunked upload (no Content-Length), as Cinder's."""
        data = self.random_data()
        image = self.create_queued_image()
        resp = self.upload(image['id'], data, base=self.base_image['id'],
                           chunked=True)
        self.assertWritten(resp, self.rbd_stores, 'colocate')
        self.assertImageIn(image['id'], self.rbd_stores, data)
        self.assertRbdLocations(image['id'])


class RbdVolumeUploadTest(base.BaseVolumeUploadTest,
                          base.BaseColocationTest):
    """A volume made from an image in two Ceph clusters goes back to both.
    """

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.rbd_stores = discover_rbd_stores(cls)
        cls.plain_type = cls.create_volume_type()
        cls.base_image = cls.create_image_in_stores(
            cls.random_data(1024 * 1024), cls.rbd_stores)

    @decorators.idempotent_id('d5a1c3e9-7b24-4f08-8e6a-0c9b2d4f6a85')
    def test_upload_colocates_in_both_clusters(self):
        """Volume from a two-cluster image, type without store: both."""
        volume = self.create_volume(self.plain_type,
                                    imageRef=self.base_image['id'])
        image = self.upload_to_image(volume)
        image = self.wait_for_stores(self.images_client, image['id'],
                                     self.rbd_stores)
        self.assertEqual(sorted(self.rbd_stores),
                         sorted(base.split_stores(image['stores'])))
