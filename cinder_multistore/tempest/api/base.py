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

"""Base classes of the placement tests: store discovery, helpers, waiters."""

import hashlib
import os
import time

from tempest.common import waiters
from tempest import config
from tempest.lib.common.utils import data_utils
from tempest.lib.common.utils import test_utils
from tempest.lib import exceptions as lib_exc
from tempest import test


CONF = config.CONF

STORE_HEADER = 'x-image-meta-store'
BASE_IMAGE_HEADER = 'x-openstack-base-image-ref'
WRITTEN_HEADER = 'x-image-stores-written'
FAILED_HEADER = 'x-image-stores-failed'
RULE_HEADER = 'x-image-placement-rule'
RESERVED_STORES = ('os_glance_staging_store', 'os_glance_tasks_store')
UNKNOWN_STORE = 'no-such-store'
MALFORMED_STORE = 'bad/store'


def split_stores(value: str | None) -> list[str]:
    """A comma-separated store list (image ``stores``, headers) as a list."""
    return [s.strip() for s in (value or '').split(',') if s.strip()]


class BaseMultiStoreTest(test.BaseTestCase):
    """Image API tests against a multi-store Glance.

    ``resource_setup`` discovers the stores and skips the class when Glance
    has no multi-store support (``GET /v2/info/stores`` is a 404) or fewer
    than three usable stores. It sets:

    * ``default_store``: Glance's default store;
    * ``usable_stores``: the stores the tests may write to, Glance's order;
    * ``colocation_stores``: two usable stores other than the default, the
      stores of the co-location base images;
    * ``explicit_store``: a store named in ``x-image-meta-store`` that is
      neither the default nor every base store;
    * ``read_only_store``: a read-only store, or None.
    """

    #: Tempest's credential types; a list names a user with those roles.
    credentials: list[str | list[str]] = ['primary']

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.service_available.glance:
            raise cls.skipException('Glance is not available')

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        cls.images_client = cls.os_primary.image_client_v2
        cls.placement_client = (
            cls.os_primary.multistore_image.MultiStoreImagesClient())

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls._discover_stores()

    @classmethod
    def _discover_stores(cls):
        try:
            listing = cls.images_client.info_stores()['stores']
        except lib_exc.NotFound:
            raise cls.skipException('Glance has no multi-store support: '
                                    'GET /v2/info/stores is a 404')
        conf = CONF.multistore
        read_only = [s['id'] for s in listing
                     if str(s.get('read-only', '')).lower() == 'true']
        usable = list(conf.stores) or [
            s['id'] for s in listing
            if s['id'] not in read_only and not s['id'].startswith(
                'os_glance_')]
        default = conf.default_store or next(
            (s['id'] for s in listing if s.get('default')), None)
        if default is None:
            raise cls.skipException('Glance names no default store')
        others = [s for s in usable if s != default]
        if default not in usable or len(others) < 2:
            raise cls.skipException(
                'At least three usable stores are needed (the default and '
                'two others); usable: %s, default: %s'
                % (', '.join(usable) or 'none', default))
        cls.default_store = default
        cls.usable_stores = usable
        cls.colocation_stores = others[:2]
        cls.explicit_store = others[1]
        cls.read_only_store = conf.read_only_store or next(
            iter(read_only), None)

    # -- data and images ------------------------------------------------

    @staticmethod
    def random_data(size: int | None = None) -> bytes:
        """Random image data (``[multistore] image_size`` bytes)."""
        return os.urandom(size or CONF.multistore.image_size)

    @classmethod
    def create_queued_image(cls, images_client=None, **kwargs) -> dict:
        """Create a raw/bare image that is deleted at the end of the class.

        Class-level cleanup keeps the helper usable from ``resource_setup``
        and from tests alike.
        """
        client = images_client or cls.images_client
        kwargs.setdefault('name', data_utils.rand_name(
            prefix=CONF.resource_name_prefix, name='multistore-image'))
        kwargs.setdefault('disk_format', 'raw')
        kwargs.setdefault('container_format', 'bare')
        kwargs.setdefault('visibility', 'private')
        image = client.create_image(**kwargs)
        cls.addClassResourceCleanup(cls._delete_image, client, image['id'])
        return image

    @staticmethod
    def _delete_image(client, image_id: str) -> None:
        test_utils.call_and_ignore_notfound_exc(client.delete_image, image_id)
        client.wait_for_resource_deletion(image_id)

    @classmethod
    def create_image_in_stores(cls, data: bytes, stores: list[str],
                               images_client=None,
                               placement_client=None) -> dict:
        """An active image whose data lives in ``stores``.

        The data is staged and imported with ``glance-direct`` and the body's
        ``stores`` list. The image carries a custom property, as real base
        images do (``os_distro`` and the like): Cinder 26 to 28's API
        cannot upload a volume whose base image has only Glance's reserved
        ``os_glance_*`` properties (it sends ``properties: {}``, which
        glanceclient refuses); the functional tests cover that case.
        """
        images_client = images_client or cls.images_client
        placement_client = placement_client or cls.placement_client
        image = cls.create_queued_image(images_client,
                                        name=data_utils.rand_name(
                                            prefix=CONF.resource_name_prefix,
                                            name='multistore-base'),
                                        multistore_role='base')
        placement_client.stage_image_file(image['id'], data)
        placement_client.import_image(
            image['id'], {'method': {'name': 'glance-direct'},
                          'stores': list(stores)})
        return cls.wait_for_stores(images_client, image['id'], stores)

    @staticmethod
    def wait_for_stores(images_client, image_id: str,
                        stores: list[str]) -> dict:
        """Wait until the image is ``active`` in exactly ``stores``.

        Unlike ``waiters.wait_for_image_imported_to_stores`` this compares
        store sets, so it does not depend on Glance's store order.
        """
        wanted = set(stores)
        deadline = time.time() + images_client.build_timeout
        while True:
            image = images_client.show_image(image_id)
            got = set(split_stores(image.get('stores')))
            if image['status'] == 'active' and got == wanted:
                return image
            failed = image.get('os_glance_failed_import')
            if failed or image['status'] in ('killed', 'deleted'):
                raise lib_exc.OtherRestClientException(
                    'Image %s is %s; failed imports: %s'
                    % (image_id, image['status'], failed))
            if time.time() > deadline:
                raise lib_exc.TimeoutException(
                    'Image %s is %s in stores %s, not active in %s within '
                    '%s s' % (image_id, image['status'], sorted(got),
                              sorted(wanted), images_client.build_timeout))
            time.sleep(images_client.build_interval)

    def upload(self, image_id: str, data: bytes, store: str | None = None,
               base: str | None = None, placement_client=None,
               chunked: bool = False):
        """Upload data with the placement headers; return the response."""
        headers = {}
        if store is not None:
            headers[STORE_HEADER] = store
        if base is not None:
            headers[BASE_IMAGE_HEADER] = base
        client = placement_client or self.placement_client
        resp, _ = client.upload_image_file(image_id, data, headers=headers,
                                           chunked=chunked)
        return resp

    # -- assertions -----------------------------------------------------

    def assertWritten(self, resp, stores: list[str], rule: str) -> None:
        """The response reports ``stores`` written, none failed, ``rule``."""
        reported = {'written': split_stores(resp.get(WRITTEN_HEADER)),
                    'failed': split_stores(resp.get(FAILED_HEADER)),
                    'rule': resp.get(RULE_HEADER)}
        self.assertEqual({'written': list(stores), 'failed': [],
                          'rule': rule}, reported)

    def assertImageIn(self, image_id: str, stores: list[str], data: bytes,
                      wait: bool = False) -> dict:
        """The image is active in exactly ``stores`` and holds ``data``.

        An upload has placed every copy when it returns; an import is
        asynchronous: pass ``wait=True`` to wait for its stores.
        """
        if wait:
            image = self.wait_for_stores(self.images_client, image_id,
                                         stores)
        else:
            image = self.images_client.show_image(image_id)
            self.assertEqual('active', image['status'])
        self.assertEqual(sorted(stores),
                         sorted(split_stores(image['stores'])))
        self.assertEqual(len(data), image['size'])
        self.assertEqual(hashlib.md5(data).hexdigest(), image['checksum'])
        if image.get('os_hash_algo') == 'sha512':
            self.assertEqual(hashlib.sha512(data).hexdigest(),
                             image['os_hash_value'])
        return image

    def assertUntouched(self, image_id: str, status: str = 'queued') -> None:
        """The image kept ``status`` and lists no store."""
        image = self.images_client.show_image(image_id)
        self.assertEqual(status, image['status'])
        self.assertEqual([], split_stores(image.get('stores')))

    def assertRejected(self, exc: lib_exc.BadRequest, store: str) -> None:
        """The 400 names the refused store."""
        self.assertIn(store, str(exc.resp_body))


class BaseColocationTest(BaseMultiStoreTest):
    """Tests that need Glance to co-locate images with their base image."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.multistore_feature_enabled.colocation:
            raise cls.skipException(
                '[multistore_feature_enabled] colocation is False')


class BaseColocationLocationsTest(BaseColocationTest):
    """Co-location tests that read the images' locations.

    Locations are read as Cinder and Nova read them, by a service user
    (roles admin, to see every project's image, and service, for Glance's
    location policy): the cloud need not show them to anyone else.
    """

    credentials = ['primary', 'admin', ['service', 'admin', 'service']]

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        cls.locations_client = (
            cls.os_roles_service.multistore_image.MultiStoreImagesClient())


class BaseReservedStoreTest(BaseMultiStoreTest):
    """Tests that need Glance to refuse reserved and unknown stores."""

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.multistore_feature_enabled.reserved_store_check:
            raise cls.skipException(
                '[multistore_feature_enabled] reserved_store_check is False')


class BaseVolumeUploadTest(BaseMultiStoreTest):
    """Upload-to-image of Cinder volumes into the right Glance stores."""

    credentials = ['primary', 'admin']

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.service_available.cinder:
            raise cls.skipException('Cinder is not available')
        if not CONF.multistore_feature_enabled.volume_upload:
            raise cls.skipException(
                '[multistore_feature_enabled] volume_upload is False')

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        cls.volumes_client = cls.os_primary.volumes_client_latest
        cls.admin_types_client = cls.os_admin.volume_types_client_latest

    @classmethod
    def create_volume_type(cls, store: str | None = None,
                           extra_specs: dict | None = None) -> dict:
        """A public volume type with ``extra_specs``, and
        ``image_service:store_id`` if given.
        """
        extra_specs = dict(extra_specs or {})
        if store is not None:
            extra_specs['image_service:store_id'] = store
        name = data_utils.rand_name(prefix=CONF.resource_name_prefix,
                                    name='multistore-type')
        vtype = cls.admin_types_client.create_volume_type(
            name=name, extra_specs=extra_specs)['volume_type']
        cls.addClassResourceCleanup(
            test_utils.call_and_ignore_notfound_exc,
            cls.admin_types_client.delete_volume_type, vtype['id'])
        return vtype

    def create_volume(self, volume_type: dict, **kwargs) -> dict:
        """An available volume, deleted (and waited for) at cleanup."""
        kwargs.setdefault('size', CONF.volume.volume_size)
        kwargs.setdefault('name', data_utils.rand_name(
            prefix=CONF.resource_name_prefix, name='multistore-volume'))
        volume = self.volumes_client.create_volume(
            volume_type=volume_type['id'], **kwargs)['volume']
        self.addCleanup(self.volumes_client.wait_for_resource_deletion,
                        volume['id'])
        self.addCleanup(test_utils.call_and_ignore_notfound_exc,
                        self.volumes_client.delete_volume, volume['id'])
        waiters.wait_for_volume_resource_status(self.volumes_client,
                                                volume['id'], 'available')
        return volume

    def upload_to_image(self, volume: dict) -> dict:
        """Upload the volume to a new raw image; return the active image."""
        name = data_utils.rand_name(prefix=CONF.resource_name_prefix,
                                    name='multistore-upload')
        body = self.volumes_client.upload_volume(
            volume['id'], image_name=name, disk_format='raw',
            container_format='bare')['os-volume_upload_image']
        image_id = body['image_id']
        self.addCleanup(self._delete_image, self.images_client, image_id)
        waiters.wait_for_image_status(self.images_client, image_id, 'active')
        waiters.wait_for_volume_resource_status(self.volumes_client,
                                                volume['id'], 'available')
        return self.images_client.show_image(image_id)

    def wait_for_hashes(self, image_id: str) -> dict:
        """The image once ``checksum`` and ``os_hash_value`` are set
        (Glance computes them in the background for a location) and the
        task that did it has let the image go (Glance 30 to 33 answer 500
        to a delete that comes while it finishes).
        """
        deadline = time.time() + self.images_client.build_timeout
        while True:
            image = self.images_client.show_image(image_id)
            if (image.get('os_hash_value') and image.get('checksum')
                    and not image.get('os_glance_import_task')):
                return image
            if time.time() > deadline:
                raise lib_exc.TimeoutException(
                    'Image %s has no hashes within %s s: %s' % (
                        image_id, self.images_client.build_timeout, image))
            time.sleep(self.images_client.build_interval)


class BaseRbdVolumeUploadTest(BaseVolumeUploadTest):
    """Uploads of volumes of the Cinder RBD backends that
    ``[multistore] rbd_volume_types`` names, with their clusters' stores.
    """

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.multistore.rbd_volume_types:
            raise cls.skipException('[multistore] rbd_volume_types is '
                                    'empty')

    @classmethod
    def rbd_volume_types(cls) -> list[tuple[dict, str]]:
        """``(volume type, store)`` of ``[multistore] rbd_volume_types``,
        in its order; skips the class when a type does not exist.
        """
        known = cls.admin_types_client.list_volume_types()['volume_types']
        found = []
        for name_or_id, store in CONF.multistore.rbd_volume_types.items():
            match = [t for t in known if name_or_id in (t['id'], t['name'])]
            if not match:
                raise cls.skipException('[multistore] rbd_volume_types '
                                        'names %s, which is not a volume '
                                        'type' % name_or_id)
            found.append((match[0], store))
        return found

    @classmethod
    def create_volume_type_like(cls, volume_type: dict, store: str) -> dict:
        """A volume type with the extra specs of ``volume_type`` (its
        backend and zone) naming ``store``; deleted with the class.
        """
        specs = cls.admin_types_client.list_volume_types_extra_specs(
            volume_type['id'])['extra_specs']
        return cls.create_volume_type(store, extra_specs=specs)
