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

"""An image client that sends custom headers with each request.

Tempest's own ``ImagesClient.store_image_file`` and ``image_import`` cannot
send ``x-image-meta-store`` or ``x-openstack-base-image-ref``, and
``image_import`` always adds ``all_stores`` when no ``stores`` are given.
Headers are passed per request; the client is never mutated.
"""

from collections.abc import Iterator

from oslo_serialization import jsonutils as json
from tempest.lib.common import rest_client


CHUNK_SIZE = 64 * 1024


class MultiStoreImagesClient(rest_client.RestClient):
    """Upload, stage and import image data with per-request headers."""

    api_version = 'v2'

    def _put_data(self, url: str, data: bytes, headers: dict | None,
                  chunked: bool = False) -> tuple:
        sent = {'Content-Type': 'application/octet-stream'}
        sent.update(headers or {})
        body: bytes | Iterator[bytes] = data
        if chunked:
            body = (data[i:i + CHUNK_SIZE]
                    for i in range(0, len(data), CHUNK_SIZE))
        resp, body = self.request('PUT', url, headers=sent, body=body,
                                  chunked=chunked)
        self.expected_success(204, resp.status)
        return resp, body

    def upload_image_file(self, image_id: str, data: bytes,
                          headers: dict | None = None,
                          chunked: bool = False) -> tuple:
        """``PUT /v2/images/{image_id}/file`` with extra headers.

        :param image_id: a queued image.
        :param data: the image data.
        :param headers: extra request headers, for example
            ``{'x-image-meta-store': 'beta'}``.
        :param chunked: send the data with ``Transfer-Encoding: chunked``
            and no ``Content-Length``, as python-glanceclient and Cinder do.
        :returns: ``(resp, body)``; ``resp`` holds the response headers
            (lower-case keys) and ``resp.status``.
        :raises tempest.lib.exceptions.BadRequest: on a 400.
        """
        return self._put_data('images/%s/file' % image_id, data, headers,
                              chunked)

    def stage_image_file(self, image_id: str, data: bytes,
                         headers: dict | None = None) -> tuple:
        """``PUT /v2/images/{image_id}/stage`` (glance-direct).

        :returns: ``(resp, body)``.
        """
        return self._put_data('images/%s/stage' % image_id, data, headers)

    def import_image(self, image_id: str, body: dict,
                     headers: dict | None = None) -> tuple:
        """``POST /v2/images/{image_id}/import`` with the body as given.

        :param body: the whole request body, e.g. ``{'method': {'name':
            'glance-direct'}, 'stores': ['beta']}``; nothing is added.
        :param headers: extra request headers.
        :returns: ``(resp, body)``.
        """
        sent = {'Content-Type': 'application/json'}
        sent.update(headers or {})
        resp, resp_body = self.post('images/%s/import' % image_id,
                                    json.dumps(body), headers=sent)
        self.expected_success(202, resp.status)
        return resp, resp_body

    def info_stores_detail(self) -> dict:
        """``GET /v2/info/stores/detail``: every store with its type.

        Admin only (Glance's ``stores_info_detail`` policy).

        :returns: ``{'stores': [{'id': ..., 'type': 'rbd', ...}]}``.
        :raises tempest.lib.exceptions.Forbidden: for a non-admin.
        """
        resp, body = self.get('info/stores/detail')
        self.expected_success(200, resp.status)
        return json.loads(body)

    def image_locations(self, image_id: str) -> list[dict]:
        """``GET /v2/images/{image_id}/locations`` (Images API 2.17).

        For the ``service`` role only (Glance's ``fetch_image_location``
        policy): a cloud that keeps ``show_multiple_locations`` off shows
        locations to nobody else. The user's token is sent as the service
        token too, as services send theirs: Glance 30 checks the role on
        the service token (``service_roles:service``), later Glances on the
        user's.

        :returns: ``[{'url': ..., 'metadata': {'store': ...}}, ...]``.
        :raises tempest.lib.exceptions.Forbidden: without the role.
        """
        headers = {'X-Service-Token': self.auth_provider.get_token()}
        resp, body = self.get('images/%s/locations' % image_id,
                              headers=headers, extra_headers=True)
        self.expected_success(200, resp.status)
        return json.loads(body)
