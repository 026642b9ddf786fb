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

"""A throwaway Glance look-alike on 127.0.0.1 that records what it gets.

Real sockets, real HTTP/1.1 (chunked bodies included), so that the real
glanceclient clients (``HTTPClient`` and keystoneauth's ``SessionClient``)
are exercised end to end; the server only answers the few calls the image
driver makes and keeps a record of every request.
"""

import dataclasses
import hashlib
# NOTE: bind the classes now: importing Cinder's volume manager runs
# eventlet.import_patched, which rebinds the ``http.server`` attribute of
# the ``http`` package to a green copy whose locks hang real threads.
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import json
import re
import socket
import struct
import threading
import uuid

from glanceclient.v2 import image_schema


DEFAULT_STORES = [
    {'id': 'alpha', 'default': True},
    {'id': 'beta'},
    {'id': 'web', 'read-only': 'true'},
]

#: The Ceph cluster of the fake's rbd store ``beta``.
BETA_FSID = '7d7f5a66-4b5e-4d6c-9a7e-0f1e2d3c4b5a'


@dataclasses.dataclass
class Recorded:
    """One request as the server saw it (header names in lower case)."""

    method: str
    path: str
    headers: dict
    body_length: int = 0
    body_sha256: str = ''
    complete: bool = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    @property
    def glance(self) -> 'FakeGlance':
        return self.server.glance

    def _record(self) -> Recorded:
        rec = Recorded(self.command, self.path,
                       {k.lower(): v for k, v in self.headers.items()})
        self.glance.requests.append(rec)
        return rec

    def _reply(self, status, body=None, headers=None):
        data = b'' if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header('Content-Type', 'application/json')
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status, message):
        """Reply as Glance (webob) does: a plain text body."""
        title = self.responses[status][0]
        data = ('%d %s\n\n%s\n\n' % (status, title, message)).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain; charset=UTF-8')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunks(self):
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            while True:
                size = int(self.rfile.readline().split(b';')[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return
                data = self.rfile.read(size)
                self.rfile.readline()
                yield data
        else:
            left = int(self.headers.get('Content-Length', 0))
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                if not data:
                    return
                left -= len(data)
                yield data

    def _drop(self, rec, after: int):
        """Read up to ``after`` body bytes, then reset the connection."""
        got = 0
        for chunk in self._chunks():
            got += len(chunk)
            if got >= after:
                break
        rec.body_length, rec.complete = got, False
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack('ii', 1, 0))
        self.close_connection = True

    def do_GET(self):
        self._record()
        if self.path == '/v2/info/stores/detail':
            if self.glance.details_status != 200:
                return self._error(self.glance.details_status,
                                   'You are not authorized to complete '
                                   'stores_info_detail action.')
            return self._reply(200, {'stores': self.glance.details})
        if self.path == '/v2/info/stores':
            if self.glance.stores is None:
                return self._error(404, 'Multi backend is not supported at '
                                   'this site.')
            return self._reply(200, {'stores': self.glance.stores})
        if self.path == '/v2/schemas/image':
            return self._reply(200, image_schema._BASE_SCHEMA)
        match = re.fullmatch(r'/v2/images/([^/]+)', self.path)
        if match and match.group(1) in self.glance.images:
            return self._reply(200, self.glance.images[match.group(1)])
        return self._error(404, 'The resource could not be found.')

    def do_PUT(self):
        rec = self._record()
        match = re.fullmatch(r'/v2/images/([^/]+)/file', self.path)
        if not match or match.group(1) not in self.glance.images:
            for _ in self._chunks():
                pass
            return self._error(404, 'The resource could not be found.')
        if self.glance.drop_puts > 0:
            self.glance.drop_puts -= 1
            return self._drop(rec, self.glance.drop_after)
        digest = hashlib.sha256()
        for chunk in self._chunks():
            rec.body_length += len(chunk)
            digest.update(chunk)
        rec.body_sha256 = digest.hexdigest()
        image = self.glance.images[match.group(1)]
        image.update(status='active', size=rec.body_length)
        self._reply(204, headers=self.glance.upload_reply_headers)

    def do_DELETE(self):
        self._record()
        match = re.fullmatch(r'/v2/images/([^/]+)', self.path)
        if match and self.glance.images.pop(match.group(1), None):
            return self._reply(204)
        return self._error(404, 'The resource could not be found.')


class FakeGlance:
    """Start with ``with FakeGlance() as glance:``; ``glance.url`` is its URL.

    :param stores: the ``GET /v2/info/stores`` entries; None answers 404,
        as a Glance without multiple stores does.
    """

    def __init__(self, stores=DEFAULT_STORES):
        self.stores = stores
        self.images: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        #: PUTs still to be cut off, and after how many body bytes.
        self.drop_puts = 0
        self.drop_after = 1
        #: The ``GET /v2/info/stores/detail`` entries, and its status.
        self.details: list[dict] = [
            {'id': 'alpha', 'default': True, 'type': 'file',
             'properties': {'data_dir': '/srv/alpha'}},
            {'id': 'beta', 'type': 'rbd',
             'properties': {'pool': 'images', 'fsid': BETA_FSID}},
            {'id': 'web', 'type': 'http', 'read-only': 'true',
             'properties': {}}]
        self.details_status = 200
        #: Headers of the 204 of an upload (the filter's store headers).
        self.upload_reply_headers: dict[str, str] = {}
        self._server = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self._server.daemon_threads = True
        self._server.glance = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address
        return 'http://%s:%d' % (host, port)

    @property
    def netloc(self) -> str:
        host, port = self._server.server_address
        return '%s:%d' % (host, port)

    def queued_image(self) -> str:
        """Create a queued image, as Cinder's API does before an upload."""
        image_id = str(uuid.uuid4())
        self.images[image_id] = {
            'id': image_id, 'name': 'volume-upload', 'status': 'queued',
            'visibility': 'private', 'container_format': 'bare',
            'disk_format': 'raw', 'min_disk': 0, 'min_ram': 0,
            'protected': False, 'tags': [], 'size': None,
            'created_at': '2025-01-01T00:00:00Z',
            'updated_at': '2025-01-01T00:00:00Z',
            'owner': 'project', 'self': '/v2/images/%s' % image_id,
            'file': '/v2/images/%s/file' % image_id,
            'schema': '/v2/schemas/image'}
        return image_id

    def of(self, method: str, path_part: str = '') -> list[Recorded]:
        """The recorded requests with this method and path fragment."""
        return [r for r in self.requests
                if r.method == method and path_part in r.path]

    def __enter__(self) -> 'FakeGlance':
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
