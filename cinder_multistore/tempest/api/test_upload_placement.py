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

"""The placement rules on ``PUT /v2/images/{id}/file``."""

from oslo_utils import uuidutils
from tempest.lib import decorators
from tempest.lib import exceptions as lib_exc

from cinder_multistore.tempest.api import base


class UploadPlacementTest(base.BaseMultiStoreTest):
    """Explicit stores, refused stores and the default store on upload."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.base_image = cls.create_image_in_stores(
            cls.random_data(4096), cls.colocation_stores)

    def _assert_refused(self, store: str) -> None:
        image = self.create_queued_image()
        exc = self.assertRaises(lib_exc.BadRequest, self.upload, image['id'],
                                self.random_data(), store=store,
                                base=self.base_image['id'])
        self.assertRejected(exc, store)
        self.assertUntouched(image['id'])

    def _assert_default(self, base: str | None) -> None:
        image = self.create_queued_image()
        data = self.random_data()
        resp = self.upload(image['id'], data, base=base)
        self.assertWritten(resp, [self.default_store], 'default')
        self.assertImageIn(image['id'], [self.default_store], data)

    @decorators.idempotent_id('2dde65db-f576-44b5-a4f2-5723fe38c317')
    def test_explicit_store_wins_over_base_image(self):
        """A store in x-image-meta-store gets the data; the base is ignored.

        The base image lives in two stores; the named store is one of them,
        so co-location would have written both.
        """
        image = self.create_queued_image()
        data = self.random_data()
        resp = self.upload(image['id'], data, store=self.explicit_store,
                           base=self.base_image['id'])
        self.assertWritten(resp, [self.explicit_store], 'explicit-store')
        self.assertImageIn(image['id'], [self.explicit_store], data)

    @decorators.idempotent_id('cec98766-45f4-4946-834b-a62118ba4e80')
    def test_explicit_store_without_base_image(self):
        """A store in x-image-meta-store alone gets the data."""
        image = self.create_queued_image()
        data = self.random_data()
        resp = self.upload(image['id'], data, store=self.explicit_store)
        self.assertWritten(resp, [self.explicit_store], 'explicit-store')
        self.assertImageIn(image['id'], [self.explicit_store], data)

    @decorators.idempotent_id('b5c15329-6cb6-4b47-8413-8baf8fb594bf')
    def test_unknown_store_refused(self):
        """An unknown store is a 400 naming it; the image stays queued."""
        self._assert_refused(base.UNKNOWN_STORE)

    @decorators.idempotent_id('c408fd6f-145e-412b-a0ff-ea136c7559e7')
    def test_malformed_store_refused(self):
        """A malformed store id is a 400 naming it; the image stays queued."""
        self._assert_refused(base.MALFORMED_STORE)

    @decorators.idempotent_id('2007f538-3136-45bd-b451-2fb60c8307b3')
    def test_read_only_store_refused(self):
        """A read-only store is a 400 naming it; the image stays queued."""
        if self.read_only_store is None:
            raise self.skipException('Glance has no read-only store')
        self._assert_refused(self.read_only_store)

    @decorators.idempotent_id('e7860e99-59ec-4ffe-841c-ccf3e3cacfcb')
    def test_no_headers_means_default_store(self):
        """Without placement headers the data goes to the default store."""
        self._assert_default(None)

    @decorators.idempotent_id('d21c6d37-6d9c-4a1e-b209-c6ae953c324b')
    def test_missing_base_image_means_default_store(self):
        """A base image that does not exist leads to the default store."""
        self._assert_default(uuidutils.generate_uuid())

    @decorators.idempotent_id('61c965f8-aa22-4493-b952-922ccef6567e')
    def test_malformed_base_image_ref_means_default_store(self):
        """A base reference that is not a UUID leads to the default store."""
        self._assert_default('not-a-uuid')

    @decorators.idempotent_id('2a708181-a166-4a35-87bd-41644c7166bc')
    def test_inactive_base_image_means_default_store(self):
        """A queued (not active) base image leads to the default store."""
        queued = self.create_queued_image()
        self._assert_default(queued['id'])


class UploadReservedStoreTest(base.BaseReservedStoreTest):
    """Glance's reserved stores cannot receive uploads."""

    def _assert_refused(self, store: str) -> None:
        image = self.create_queued_image()
        exc = self.assertRaises(lib_exc.BadRequest, self.upload, image['id'],
                                self.random_data(), store=store)
        self.assertRejected(exc, store)
        self.assertUntouched(image['id'])

    @decorators.idempotent_id('fbe844f5-fb4e-454a-b749-74c3a0683c28')
    def test_staging_store_refused(self):
        """os_glance_staging_store is a 400 naming it; nothing is written."""
        self._assert_refused('os_glance_staging_store')

    @decorators.idempotent_id('7c45af93-0038-483a-81d9-6e60e382680e')
    def test_tasks_store_refused(self):
        """os_glance_tasks_store is a 400 naming it; nothing is written."""
        self._assert_refused('os_glance_tasks_store')


class UploadColocationTest(base.BaseColocationLocationsTest):
    """An upload naming a base image and no store follows the base."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.base_image = cls.create_image_in_stores(
            cls.random_data(4096), cls.colocation_stores)

    def _colocated_upload(self, data: bytes, chunked: bool = False) -> dict:
        image = self.create_queued_image()
        resp = self.upload(image['id'], data, base=self.base_image['id'],
                           chunked=chunked)
        self.assertWritten(resp, self.colocation_stores, 'colocate')
        return self.assertImageIn(image['id'], self.colocation_stores, data)

    @decorators.idempotent_id('78f4a6af-5a06-4bee-8889-fe64a04ecfb2')
    def test_colocation_with_base_image(self):
        """The image lands in both stores of the base, with one checksum."""
        image = self._colocated_upload(self.random_data())
        locations = self.locations_client.image_locations(image['id'])
        self.assertEqual(
            sorted(self.colocation_stores),
            sorted(loc['metadata'].get('store') for loc in locations))

    @decorators.idempotent_id('0724197b-95a3-408f-b82b-8c02850808f9')
    def test_colocation_with_chunked_upload(self):
        """A chunked upload (no Content-Length) is co-located in full.

        python-glanceclient and Cinder send image data with
        ``Transfer-Encoding: chunked``; every copy must hold all of it.
        """
        self._colocated_upload(self.random_data(), chunked=True)

    @decorators.idempotent_id('e89e508a-08ae-4b90-8519-cc0039a9c971')
    def test_every_colocated_copy_holds_the_data(self):
        """Each store's copy alone serves the uploaded data.

        For each store of the base, upload a co-located image, remove the
        copy in the other store and download what is left.
        """
        admin_images = self.os_admin.image_client_v2
        for keep in self.colocation_stores:
            data = self.random_data()
            image = self._colocated_upload(data)
            for store in self.colocation_stores:
                if store != keep:
                    admin_images.delete_image_from_store(image['id'], store)
            image = self.images_client.show_image(image['id'])
            self.assertEqual([keep], base.split_stores(image['stores']))
            body = self.images_client.show_image_file(image['id'])
            self.assertEqual(data, body.data)


class InvisibleBaseImageTest(base.BaseColocationTest):
    """A base image of another project is treated as a missing one."""

    credentials = ['primary', 'alt']

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        alt_images = cls.os_alt.image_client_v2
        cls.hidden_image = cls.create_image_in_stores(
            cls.random_data(4096), cls.colocation_stores,
            images_client=alt_images,
            placement_client=(
                cls.os_alt.multistore_image.MultiStoreImagesClient()))

    @decorators.idempotent_id('a32e8b8b-d51e-454d-80f6-4306a7a996d2')
    def test_private_base_of_other_project_means_default_store(self):
        """Another project's private base image leads to the default store.

        The response is the same as for an image id that does not exist:
        it reveals neither that the image exists nor where it lives.
        """
        self.assertRaises(lib_exc.NotFound, self.images_client.show_image,
                          self.hidden_image['id'])
        volatile = {'date', 'x-openstack-request-id', 'content-location'}
        answers = []
        for ref in (self.hidden_image['id'], uuidutils.generate_uuid()):
            image = self.create_queued_image()
            data = self.random_data()
            resp = self.upload(image['id'], data, base=ref)
            self.assertWritten(resp, [self.default_store], 'default')
            self.assertImageIn(image['id'], [self.default_store], data)
            answers.append((resp.status, {k: v for k, v in resp.items()
                                          if k not in volatile}))
        self.assertEqual(answers[1], answers[0])
