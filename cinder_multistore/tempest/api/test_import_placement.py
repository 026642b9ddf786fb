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

"""The placement rules on ``POST /v2/images/{id}/import``."""

from oslo_utils import uuidutils
from tempest.lib import decorators
from tempest.lib import exceptions as lib_exc

from cinder_multistore.tempest.api import base


GLANCE_DIRECT = {'method': {'name': 'glance-direct'}}


class ImportReservedStoreTest(base.BaseReservedStoreTest):
    """Reserved and unknown stores are a 400 on import, header or body."""

    def _staged_image(self) -> dict:
        image = self.create_queued_image()
        self.placement_client.stage_image_file(image['id'],
                                               self.random_data())
        return image

    def _assert_refused(self, store: str, body: dict,
                        headers: dict | None = None) -> None:
        image = self._staged_image()
        exc = self.assertRaises(lib_exc.BadRequest,
                                self.placement_client.import_image,
                                image['id'], body, headers=headers)
        self.assertRejected(exc, store)
        self.assertUntouched(image['id'], status='uploading')

    def _refused_in_header(self, store: str) -> None:
        self._assert_refused(store, GLANCE_DIRECT,
                             headers={base.STORE_HEADER: store})

    def _refused_in_body(self, store: str) -> None:
        body = dict(GLANCE_DIRECT,
                    stores=[self.default_store, store])
        self._assert_refused(store, body)

    @decorators.idempotent_id('347eac13-19b7-4f78-9219-d14aab931153')
    def test_staging_store_in_header_refused(self):
        """os_glance_staging_store in x-image-meta-store is a 400."""
        self._refused_in_header('os_glance_staging_store')

    @decorators.idempotent_id('01e6d6d0-f55f-4c1f-8b81-914dc54616c9')
    def test_tasks_store_in_header_refused(self):
        """os_glance_tasks_store in x-image-meta-store is a 400."""
        self._refused_in_header('os_glance_tasks_store')

    @decorators.idempotent_id('1b40a7db-6a7e-4570-8bc6-5e6a18acb4a2')
    def test_unknown_store_in_header_refused(self):
        """An unknown store in x-image-meta-store is a 400 (not a 409)."""
        self._refused_in_header(base.UNKNOWN_STORE)

    @decorators.idempotent_id('daedbba7-d5af-4940-b235-6b9664b562dc')
    def test_staging_store_in_body_refused(self):
        """os_glance_staging_store in the body's stores is a 400."""
        self._refused_in_body('os_glance_staging_store')

    @decorators.idempotent_id('98aaebc1-1895-4446-bd65-4900540c9770')
    def test_tasks_store_in_body_refused(self):
        """os_glance_tasks_store in the body's stores is a 400."""
        self._refused_in_body('os_glance_tasks_store')

    @decorators.idempotent_id('8fc35a3f-07b8-4b52-b0ba-b267d3296aca')
    def test_unknown_store_in_body_refused(self):
        """An unknown store in the body's stores is a 400 (not a 409)."""
        self._refused_in_body(base.UNKNOWN_STORE)

    @decorators.idempotent_id('a6b77e81-a8d6-4f5d-b4fc-09d71e0dd669')
    def test_read_only_store_in_body_refused(self):
        """A read-only store in the body's stores is a 400."""
        if self.read_only_store is None:
            raise self.skipException('Glance has no read-only store')
        self._refused_in_body(self.read_only_store)


class ImportColocationTest(base.BaseColocationTest):
    """An import naming a base image and no store follows the base."""

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.base_image = cls.create_image_in_stores(
            cls.random_data(4096), cls.colocation_stores)

    def _import(self, headers: dict, stores: list[str], rule: str) -> None:
        image = self.create_queued_image()
        data = self.random_data()
        self.placement_client.stage_image_file(image['id'], data)
        resp, _ = self.placement_client.import_image(
            image['id'], GLANCE_DIRECT, headers=headers)
        self.assertEqual(rule, resp.get(base.RULE_HEADER))
        self.assertImageIn(image['id'], stores, data, wait=True)

    @decorators.idempotent_id('665f6206-7e13-4f27-8e1f-e44a1707ee36')
    def test_import_colocates_with_base_image(self):
        """The imported image lands in every store of the base image."""
        self._import({base.BASE_IMAGE_HEADER: self.base_image['id']},
                     self.colocation_stores, 'colocate')

    @decorators.idempotent_id('54a48a1b-1444-4fbd-acc7-7b1f84eb50ad')
    def test_import_store_header_wins_over_base_image(self):
        """A store in x-image-meta-store wins over the base image."""
        self._import({base.BASE_IMAGE_HEADER: self.base_image['id'],
                      base.STORE_HEADER: self.explicit_store},
                     [self.explicit_store], 'explicit-store')

    @decorators.idempotent_id('4e93cc8c-ab53-41c5-b29c-8c4a5031ff58')
    def test_import_with_missing_base_image_goes_to_default_store(self):
        """A base image that does not exist leads to the default store."""
        self._import({base.BASE_IMAGE_HEADER: uuidutils.generate_uuid()},
                     [self.default_store], 'default')
