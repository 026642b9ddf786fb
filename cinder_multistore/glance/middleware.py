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
    ``x-openstack-base-image-ref`` gets the base image's stores.
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

WRITTEN_HEADER = 'X-Image-Stores-Written'
FAILED_HEADER = 'X-Image-Stores-Failed'
RULE_HEADER = 'X-Image-Placement-Rule'
SIZE_HEADER = 'x-openstack-image-size'

_ROUTE = re.compile(r'/v2/images/(?P<image_id>[^/]+)/(?P<action>file|import)$')
_WSGI_STORE = 'HTTP_' + placement.STORE_HEADER.upper().replace('-', '_')


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


def _well_formed_import(body: object) -> bool:
    """True when the parts of an import body the rules read are usable.

    Anything else (a list, ``stores`` that is not a list) goes to Glance
    untouched, which answers it as it would without the filter. Entries of
    ``stores`` that are not strings are the rules' to refuse.
    """
    if not isinstance(body, dict):
        return False
    stores = body.get('stores')
    return stores is None or isinstance(stores, list)


def _bad_request(decision: placement.Decision) -> webob.Response:
    return webob.exc.HTTPBadRequest(explanation=decision.reason,
                                    content_type='text/plain')


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
        LOG.info('Image %s upload: %s [%s]', image_id, decision.reason,
                 decision.rule.value)
        if decision.rejected:
            return _bad_request(decision)
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
                     'secondary copies removed', image_id, decision.primary,
                     resp.status)
            return resp
        outcome = transaction.settle()
        if outcome.refusal is not None:
            status, message = outcome.refusal
            return webob.Response(
                status=status, body=message.encode(),
                content_type='text/plain', charset=None,
                headers={FAILED_HEADER: ','.join(sorted(outcome.failed))})
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

    def _import(self, req: webob.Request, context: colocation.RequestContext,
                image_id: str) -> webob.Response:
        try:
            body = json.loads(req.body or b'{}')
        except ValueError:
            return req.get_response(self.application)  # Glance answers
        if not _well_formed_import(body):
            return req.get_response(self.application)  # Glance answers
        method_spec = body.get('method')
        method_ok = isinstance(method_spec, (dict, type(None)))
        method = (method_spec or {}).get('name') if method_ok else None
        body_stores = body.get('stores')
        store_header = req.headers.get(placement.STORE_HEADER)
        base_header = (None if method == 'copy-image'
                       else self._base_header(req))
        decision = placement.decide_import(
            store_header, body_stores, body.get('all_stores') is True,
            base_header, self.adapter.catalog(),
            self._base_image(context, store_header, base_header))
        LOG.info('Image %s import (%s): %s [%s]', image_id, method,
                 decision.reason, decision.rule.value)
        if decision.rejected:
            return _bad_request(decision)
        if not method_ok:
            # NOTE: a ``method`` that is not an object is Glance's to
            # answer; only the stores it names were checked.
            return req.get_response(self.application)
        if decision.rule is placement.Rule.COLOCATE:
            body['stores'] = list(decision.stores)
            # NOTE: Glance's default (true) would fail the whole import for
            # one failing base store; co-location is best effort unless
            # required, as on upload. A caller's explicit choice stands.
            body.setdefault('all_stores_must_succeed',
                            bool(self._option('colocation_required')))
            req.body = json.dumps(body).encode()
            req.headers.pop(placement.STORE_HEADER, None)
        resp = req.get_response(self.application)
        if resp.status_int < 300:
            resp.headers[RULE_HEADER] = decision.rule.value
        return resp
