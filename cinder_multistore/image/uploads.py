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

"""Upload image data with headers that belong to one request only.

Upstream Cinder attaches its placement headers by setting
``client.http_client.additional_headers``: only keystoneauth's session
client reads that attribute, so with ``auth_strategy = noauth`` (glanceclient's
plain ``HTTPClient``) the headers are silently dropped, and on a reused
client they stick to every later call. Both glanceclient HTTP clients take
``headers=`` on each ``put()``, so this controller passes them there.
"""

from collections.abc import Mapping
from typing import Protocol
import urllib.parse

from cinder_multistore.image import stream


class HttpClient(Protocol):
    """What :class:`FileUploads` uses of a glanceclient HTTP client."""

    def put(self, url: str, *, headers: dict[str, str],
            data: stream.UploadBody) -> tuple[object, object]:
        """Send a PUT request; the response and its decoded body."""


class FileUploads:
    """``PUT /v2/images/{id}/file`` on a glanceclient HTTP client.

    Cinder's retry loop (``GlanceClientWrapper.call``) looks this
    controller up on its client and calls :meth:`put` once per attempt.

    :param http_client: a glanceclient ``SessionClient`` or ``HTTPClient``.
    """

    def __init__(self, http_client: HttpClient) -> None:
        self._http_client = http_client

    def put(self, image_id: str, body: stream.UploadBody,
            headers: Mapping[str, str]) -> object:
        """Send the whole body with ``headers`` attached to this request.

        :param image_id: the queued image receiving the data.
        :param body: the data; rewound first, so a retry resends all of it.
        :param headers: this request's headers; copied, never stored.
        :returns: the HTTP response.
        :raises stream.StreamNotRewindable: when a retry cannot resend.
        :raises glanceclient.exc.HTTPException: on an error response.
        """
        body.rewind()
        url = '/v2/images/%s/file' % urllib.parse.quote(image_id, safe='')
        resp, _ = self._http_client.put(url, headers=dict(headers),
                                        data=body)
        return resp
