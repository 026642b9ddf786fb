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

"""The glance-api paste filter that places image data in the right stores.

Declare it as ``[filter:multistore]`` with ``paste.filter_factory =
cinder_multistore.glance.middleware:MultiStoreFilter.factory`` and put it
directly after ``context`` in every v2 pipeline of ``glance-api-paste.ini``
(``pipeline = ... authtoken context multistore rootapp``).

It handles two requests and passes every other one through untouched:

``PUT /v2/images/{id}/file``
    Applies :func:`cinder_multistore.placement.decide_upload`. A rejected
    store gets a 400 before a byte of data is read. For co-location, Glance
    writes the primary store and the filter writes the other stores from the
    same request stream, then registers their locations. The 204 carries
    ``X-Image-Stores-Written`` and, when a secondary failed,
    ``X-Image-Stores-Failed``.

``POST /v2/images/{id}/import``
    Applies :func:`cinder_multistore.placement.decide_import`: reserved,
    unknown, read-only and malformed stores in the header or the body's
    ``stores`` get a 400; a request naming no store but carrying
    ``x-openstack-base-image-ref`` gets the base image's stores. A body
    whose ``method``, ``method.name`` or ``stores`` has the wrong type gets
    a 400 naming the field (Glance itself fails on some with a 500).

The filter's errors are rendered as Glance renders its own (webob's error
pages), in plain text unless the client prefers JSON: never as HTML, whose
escaped quotes the command-line clients print as they are.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from typing import Protocol
from typing import TYPE_CHECKING

from oslo_config import cfg
from oslo_middleware import base
import webob
import webob.dec
import webob.exc

from cinder_multistore.glance import colocation
from cinder_multistore.glance import fanout
from cinder_multistore.glance import opts
from cinder_multistore import placement

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment


LOG = logging.getLogger(__name__)

WRITTEN_HEADER = placement.STORES_WRITTEN_HEADER
FAILED_HEADER = placement.STORES_FAILED_HEADER
RULE_HEADER = 'X-Image-Placement-Rule'
SIZE_HEADER = 'x-openstack-image-size'

_ROUTE = re.compile(r'/v2/images/(?P<image_id>[^/]+)/(?P<action>file|import)$')
_WSGI_STORE = 'HTTP_' + placement.STORE_HEADER.upper().replace('-', '_')
#: Transfer encodings with which Glance's JSON deserializer reads a body
#: without Content-Length (glance.common.wsgi.JSONRequestDeserializer).
_BODY_ENCODINGS = frozenset(['chunked', 'compress', 'deflate', 'gzip',
                             'identity'])
#: Bytes read at a time from an import body without Content-Length.
_READ_SIZE = 64 * 1024
#: The largest import body the filter reads (an import request is a small
#: JSON document; a web-download URI is its longest part).
MAX_IMPORT_BODY = 1 << 20
BODY_TOO_LARGE = 'Import request body is larger than %d bytes.' % (
    MAX_IMPORT_BODY)


class _BodyTooLarge(ValueError):
    """The import body exceeds :data:`MAX_IMPORT_BODY`."""


class FilterAdapter(colocation.GlanceOps, Protocol):
    """What the filter needs from the Glance process it runs in.

    :class:`~cinder_multistore.glance.glance_adapter.GlanceAdapter` inside
    glance-api; a fake in the unit tests.
    """

    def multi_store_enabled(self) -> bool:
        """True when glance-api runs with ``enabled_backends``."""

    def request_body(self, environ: WSGIEnvironment) -> fanout.Readable:
        """The raw request body as Glance itself would read it."""

    def catalog(self) -> placement.Catalog:
        """The enabled stores in Glance's own order."""

    def base_image(self, context: colocation.RequestContext,
                   image_id: str) -> placement.BaseImage | None:
        """The base image for the rules, looked up with the caller's rights.
        """


def _context(req: webob.Request) -> colocation.RequestContext | None:
    # NOTE: Glance's context filter stores the RequestContext as an ad-hoc
    # attribute of the webob request, which lives in the WSGI environ.
    return getattr(req, 'context', None)


def _declared_size(req: webob.Request) -> int:
    """The size the upload announces, 0 when unknown.

    Glance's own order: ``x-openstack-image-size`` first, then
    Content-Length.
    """
    try:
        declared = int(req.headers.get(SIZE_HEADER, 0))
    except ValueError:
        declared = 0
    if declared > 0:
        return declared
    return max(req.content_length or 0, 0)


def printable(text: str) -> str:
    """``text`` with control characters escaped, for a log line.

    Request fields are logged before Glance validates them: a decoded
    newline in the image id of the path would start a forged log line.
    """
    if text.isprintable():
        return text
    return ''.join(c if c.isprintable() or c == ' '
                   else c.encode('unicode_escape').decode('ascii')
                   for c in text)


def _stores_problem(body: object) -> str | None:
    """Why the rules cannot read this import body's stores, or None.

    Glance 30 to 33 check neither (a JSON list as the body, ``"stores":
    null`` get a 500). The messages follow Glance's own ("Import request
    requires a 'method' field.").
    """
    if not isinstance(body, dict):
        return 'Import request body must be a JSON object.'
    if 'stores' in body and not isinstance(body['stores'], list):
        return "Import request 'stores' field must be a list."
    return None


def _method_problem(body: dict[str, Any]) -> str | None:
    """Why Glance would fail on this import body's method, or None.

    Glance 30 to 33 answer a ``method`` that is not an object with a 500.
    Everything else (a missing ``method`` or ``name``, an unknown method,
    ``all_stores`` that is not a boolean) Glance answers itself.
    """
    if 'method' not in body:
        return None
    method = body['method']
    if not isinstance(method, dict):
        return "Import request 'method' field must be an object."
    if 'name' in method and not isinstance(method['name'], str):
        return "Import request 'name' field must be a string."
    return None


def _import_method(body: dict[str, Any]) -> str | None:
    """The import method's name, when the body has a usable one."""
    method = body.get('method')
    name = method.get('name') if isinstance(method, dict) else None
    return name if isinstance(name, str) else None


def error_response(req: webob.Request, status: int, message: str,
                   headers: dict[str, str] | None = None) -> webob.Response:
    """An error rendered as Glance renders its own, never as HTML.

    Glance raises webob's HTTP errors, rendered by ``Accept``: HTML for
    ``*/*`` (what the clients send), whose escaped quotes glanceclient
    prints as ``&#x27;``. The same body in plain text, or webob's JSON when
    the client prefers JSON (as Glance answers it).
    """
    error = webob.exc.status_map[status](explanation=message)
    offers = req.accept.acceptable_offers(['text/plain', 'application/json'])
    accept = offers[0][0] if offers else 'text/plain'
    resp = webob.Request(dict(req.environ, HTTP_ACCEPT=accept)).get_response(
        error)
    resp.headers.update(headers or {})
    return resp


def _bad_request(req: webob.Request,
                 decision: placement.Decision) -> webob.Response:
    return error_response(req, 400, decision.reason)


class MultiStoreFilter(base.ConfigurableMiddleware):
    """Apply the placement rules to image uploads and imports."""

    def __init__(self, application: WSGIApplication | None,
                 conf: dict[str, object] | cfg.ConfigOpts | None = None,
                 adapter: FilterAdapter | None = None) -> None:
        super().__init__(application, conf)
        opts.register_opts(self.oslo_conf)
        self._adapter = adapter

    @property
    def adapter(self) -> FilterAdapter:
        """The Glance adapter, built on first use inside glance-api."""
        if self._adapter is None:
            from cinder_multistore.glance import glance_adapter
            self._adapter = glance_adapter.GlanceAdapter()
        return self._adapter

    def _option(self, name: str) -> Any:
        # NOTE: paste local_conf values override glance-api.conf; either way
        # oslo.config converts the value to the option's type.
        return self._conf_get(name, group=opts.GROUP)

    @webob.dec.wsgify
    def __call__(self, req: webob.Request) -> webob.Response:
        match = _ROUTE.search(req.path_info)
        if match is None or not self.adapter.multi_store_enabled():
            return req.get_response(self.application)
        context = _context(req)
        if context is None:
            return req.get_response(self.application)
        image_id = match.group('image_id')
        if match.group('action') == 'file' and req.method == 'PUT':
            return self._upload(req, context, image_id)
        if match.group('action') == 'import' and req.method == 'POST':
            return self._import(req, context, image_id)
        return req.get_response(self.application)

    def _base_image(self, context: colocation.RequestContext,
                    store_header: str | None,
                    base_header: str | None) -> placement.BaseImage | None:
        if not self._option('colocation'):
            return None
        base_id = placement.base_lookup_needed(store_header, base_header)
        if base_id is None:
            return None
        return self.adapter.base_image(context, base_id)

    def _base_header(self, req: webob.Request) -> str | None:
        if not self._option('colocation'):
            return None
        return req.headers.get(placement.BASE_IMAGE_HEADER)

    # -- upload --------------------------------------------------------

    def _upload(self, req: webob.Request, context: colocation.RequestContext,
                image_id: str) -> webob.Response:
        store_header = req.headers.get(placement.STORE_HEADER)
        base_header = self._base_header(req)
        catalog = self.adapter.catalog()
        decision = placement.decide_upload(
            store_header, base_header, catalog,
            self._base_image(context, store_header, base_header))
        LOG.info('Image %s upload: %s [%s]', printable(image_id),
                 decision.reason, decision.rule.value)
        if decision.rejected:
            return _bad_request(req, decision)
        req.environ[_WSGI_STORE] = decision.primary
        if not decision.secondaries:
            resp = req.get_response(self.application)
            if resp.status_int == 204:
                resp.headers[WRITTEN_HEADER] = decision.primary
                resp.headers[RULE_HEADER] = decision.rule.value
            return resp
        return self._colocated_upload(req, context, image_id, decision)

    def _colocated_upload(self, req: webob.Request,
                          context: colocation.RequestContext, image_id: str,
                          decision: placement.Decision) -> webob.Response:
        transaction = colocation.Colocation(
            self.adapter, context, image_id, decision.stores[0],
            decision.secondaries, _declared_size(req), self._settings())
        try:
            body = self.adapter.request_body(req.environ)
            req.environ['wsgi.input'] = transaction.wrap(body)
            if req.environ.pop('HTTP_TRANSFER_ENCODING', None) is not None:
                # NOTE: Glance must read the chunked body through the tee; a
                # body without length or chunking is readable when webob is
                # told so, and is read until the tee returns b''.
                req.environ['webob.is_body_readable'] = True
            resp = req.get_response(self.application)
        except BaseException:
            transaction.abort()
            raise
        if resp.status_int != 204:
            transaction.abort()
            LOG.info('Image %s: upload to primary store %s failed (%s); '
                     'secondary copies removed', printable(image_id),
                     decision.primary, resp.status)
            return resp
        outcome = transaction.settle()
        if outcome.refusal is not None:
            status, message = outcome.refusal
            return error_response(
                req, status, message,
                {FAILED_HEADER: ','.join(sorted(outcome.failed))})
        resp.headers[WRITTEN_HEADER] = ','.join(outcome.written)
        resp.headers[RULE_HEADER] = decision.rule.value
        if outcome.failed:
            resp.headers[FAILED_HEADER] = ','.join(outcome.failed)
        return resp

    def _settings(self) -> colocation.Settings:
        stall = self._option('copy_stall_timeout')
        return colocation.Settings(
            depth=self._option('buffer_chunks'),
            nice=self._option('copy_writer_nice'),
            hash_algorithm=self._option('copy_hash_algorithm'),
            stall_timeout=float(stall) if stall else None,
            required=self._option('colocation_required'))

    # -- import --------------------------------------------------------

    def _import_body(self, req: webob.Request) -> bytes:
        """The import body, read as Glance's JSON deserializer reads it.

        A chunked body has no Content-Length: webob takes it for empty,
        while Glance reads it (under uwsgi through ``uwsgi.chunked_read``).
        It is read here the way Glance reads it and put back for Glance
        with a Content-Length, so both see the same bytes.
        """
        encoding = req.headers.get('Transfer-Encoding', '').lower()
        if encoding not in _BODY_ENCODINGS:
            if (req.content_length or 0) > MAX_IMPORT_BODY:
                raise _BodyTooLarge()
            return req.body if (req.content_length or 0) > 0 else b''
        source = self.adapter.request_body(req.environ)
        parts = []
        size = 0
        while True:
            part = source.read(_READ_SIZE)
            if not part:
                break
            size += len(part)
            if size > MAX_IMPORT_BODY:
                raise _BodyTooLarge()
            parts.append(part)
        data = b''.join(parts)
        del req.headers['Transfer-Encoding']
        req.body = data
        return data

    def _import(self, req: webob.Request, context: colocation.RequestContext,
                image_id: str) -> webob.Response:
        try:
            raw = self._import_body(req)
        except _BodyTooLarge:
            LOG.info('Image %s import refused: %s', printable(image_id),
                     BODY_TOO_LARGE)
            return error_response(req, 413, BODY_TOO_LARGE)
        try:
            body = json.loads(raw or b'{}')
        except (ValueError, RecursionError):
            return req.get_response(self.application)  # Glance answers
        problem = _stores_problem(body)
        if problem is not None:
            return self._refuse_import(req, image_id, problem)
        # NOTE: a refused store is named whatever else is wrong with the
        # body; the method's problem is answered after the rules.
        problem = _method_problem(body)
        method = _import_method(body)
        body_stores = body.get('stores')
        all_stores = body.get('all_stores') is True
        store_header = req.headers.get(placement.STORE_HEADER)
        # NOTE: an explicit empty ``stores`` is the caller's choice, not
        # "no store named": Glance answers it as it would without the
        # filter, never co-located.
        base_header = (None if method == 'copy-image' or body_stores == []
                       else self._base_header(req))
        decision = placement.decide_import(
            store_header, body_stores, all_stores,
            base_header, self.adapter.catalog(),
            self._base_image(context, store_header, base_header))
        LOG.info('Image %s import (%s): %s [%s]', printable(image_id),
                 printable(str(method)), decision.reason, decision.rule.value)
        if decision.rejected:
            return _bad_request(req, decision)
        if problem is not None:
            return self._refuse_import(req, image_id, problem)
        if self._send_as_checked(req, body, decision, 'stores' not in body
                                 and not all_stores):
            req.body = json.dumps(body).encode()
        resp = req.get_response(self.application)
        if resp.status_int < 300:
            resp.headers[RULE_HEADER] = decision.rule.value
        return resp

    @staticmethod
    def _refuse_import(req: webob.Request, image_id: str,
                       problem: str) -> webob.Response:
        LOG.info('Image %s import refused: %s', printable(image_id), problem)
        return error_response(req, 400, problem)

    def _send_as_checked(self, req: webob.Request, body: dict[str, Any],
                         decision: placement.Decision,
                         header_decides: bool) -> bool:
        """Make the request name the stores as the rules read them.

        The rules strip store names; Glance does not. A co-location gets
        the base image's stores in the body.

        :param header_decides: the body has neither ``stores`` nor
            ``all_stores``: the store header (or its absence) decided.
        :returns: True when ``body`` changed and must be sent again.
        """
        if decision.rule is placement.Rule.COLOCATE:
            body['stores'] = list(decision.stores)
            # NOTE: Glance's default (true) would fail the whole import for
            # one failing base store; co-location is best effort unless
            # required, as on upload. A caller's explicit choice stands.
            body.setdefault('all_stores_must_succeed',
                            bool(self._option('colocation_required')))
            req.headers.pop(placement.STORE_HEADER, None)
            return True
        if header_decides:
            raw = req.headers.get(placement.STORE_HEADER)
            store = placement.normalize_header(raw)
            if store is None:
                req.headers.pop(placement.STORE_HEADER, None)
            elif store != raw:
                req.environ[_WSGI_STORE] = store
            return False
        stores = body.get('stores')
        if not stores:
            return False
        # NOTE: every entry is a string here: the rules refuse any other.
        stripped = [store.strip() for store in stores]
        if stripped == stores:
            return False
        body['stores'] = stripped
        return True
