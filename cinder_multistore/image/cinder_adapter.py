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

"""The multistore image service: the one module that uses Cinder internals.

Cinder uploads a volume to an image through its image service's
``update(context, image_id, image_meta, data, store_id=...,
base_image_ref=...)`` (``cinder.image.image_utils.upload_volume``).
:class:`MultistoreImageService` subclasses Cinder's own
``GlanceImageService`` and changes only the data upload:

* it sends one placement header, chosen by
  :func:`cinder_multistore.placement.choose_headers` (a store named by the
  volume type wins; else the base image from the volume's glance metadata;
  else none), attached to that one request, so it reaches Glance with both
  glanceclient HTTP clients and never sticks to a later call;
* it checks a named store against ``GET /v2/info/stores`` before sending a
  byte, and deletes the queued image when the store cannot take the data;
* it sends ``x-openstack-image-size`` when the size is known, and streams
  the volume in ``[cinder_multistore] upload_chunk_size`` reads;
* it retries through Cinder's ``GlanceClientWrapper.call``
  (``glance_num_retries``), rewinding the volume before each attempt;
* with ``site_store`` on, when nothing else places the upload, it names the
  Glance rbd store of the volume's own Ceph cluster (:meth:`site_decision`:
  the fsid from Cinder's RBD driver, matched in Glance's stores detail);
* when Glance's answer says that co-located copies failed
  (``X-Image-Stores-Failed``), it logs a warning naming the image, the
  volume and the stores, and leaves a user message (``WARNING``, action
  "copy volume to image") on the volume for its owner.

Everything else (show, download, locations, create, delete) is Cinder's.

Activation: :func:`install` points ``cinder.image.glance``'s two factories,
``get_default_image_service`` and ``get_remote_image_service``, at this
module's. Every place ``cinder-volume`` obtains an image service calls one
of them through the module: ``glance.get_remote_image_service(...)`` in the
volume manager and the create-volume flow,
``glance.get_default_image_service()`` in ``image_utils`` and
``volume.api``. Replacing the module attributes covers them all;
``tests/unit/image/test_cinder_adapter.py`` checks that against the
installed Cinder source. :func:`install` also wraps
``cinder.volume.volume_utils.upload_volume``, through which every volume
driver uploads, so that the image service knows which volume it is
uploading (``update()`` is not told). Nothing happens on import:
:func:`install` is called by the ``cinder-multistore-volume`` launcher
(:mod:`cinder_multistore.image.launcher`).
"""

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import contextvars
import functools
import inspect
import threading
import time
import types
from typing import Any
from typing import ParamSpec
from typing import Protocol
from typing import TypeAlias
from typing import TypeVar
import weakref

from cinder.common import config  # noqa: F401  (glance_* options)
from cinder import exception
# NOTE: cinder.image.glance and image_utils import each other; Cinder
# itself always imports image_utils first, and importing glance first
# fails with a partially initialized module.
from cinder.image import image_utils  # noqa: F401

from cinder.image import glance
from cinder.message import api as message_api
from cinder.message import message_field
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_log import log as logging

from cinder_multistore.image import exceptions as upload_errors
from cinder_multistore.image import opts
from cinder_multistore.image import rbd_clone
from cinder_multistore.image import service_locations
from cinder_multistore.image import store_details
from cinder_multistore.image import stream
from cinder_multistore.image import targets
from cinder_multistore.image import uploads
from cinder_multistore import placement


CONF = cfg.CONF
LOG = logging.getLogger(__name__)

#: Cinder's option group of its Glance service user.
GLANCE_GROUP = 'glance'
#: The image property by which Glance's import tasks hold an image (its
#: location_import task holds it until the data is hashed).
IMPORT_LOCK_PROPERTY = 'os_glance_import_task'
#: Seconds to wait for that before giving up on the copy-image import.
COPY_WAIT_TIMEOUT = 3600.0
#: Longest pause between two looks at the image meanwhile: the copies start
#: at most this long after Glance lets the image go.
COPY_WAIT_POLL = 2.0
#: Attribute under which the upload controller hangs on each client.
UPLOAD_CONTROLLER = 'multistore_uploads'

ACTIVE_MESSAGE = ('cinder-multistore image service is active: volume uploads '
                  'go through cinder_multistore.image.cinder_adapter.'
                  'MultistoreImageService (one placement header per request, '
                  'store checked against Glance, image size sent)')

_FACTORIES = ('get_default_image_service', 'get_remote_image_service')
_originals: dict[str, Callable[..., object]] = {}

#: Cinder's RequestContext: only passed on to Cinder's own code.
CinderContext: TypeAlias = object
#: Cinder's Volume object: only its ``id`` is read here.
CinderVolume: TypeAlias = object

#: The volume whose data this green thread uploads, set around
#: ``volume_utils.upload_volume`` once :func:`install` ran.
_UPLOADING_VOLUME: contextvars.ContextVar[CinderVolume | None] = (
    contextvars.ContextVar('cinder_multistore_uploading_volume',
                           default=None))
#: The periodic purge of each RBD driver (:func:`purge_upload_parents`).
_PURGES: 'weakref.WeakKeyDictionary[Any, Any]' = weakref.WeakKeyDictionary()
#: What :func:`install` wrapped: (owner, attribute) -> Cinder's own.
_wrapped: dict[tuple[object, str], Callable[..., object]] = {}
#: Cinder's RBD driver (``cinder.volume.drivers.rbd.RBDDriver``): only its
#: ``_get_fsid()`` is called here.
CinderRbdDriver: TypeAlias = object
#: The RBD driver whose ``copy_volume_to_image`` this green thread runs.
_UPLOADING_DRIVER: contextvars.ContextVar[CinderRbdDriver | None] = (
    contextvars.ContextVar('cinder_multistore_uploading_driver',
                           default=None))
#: The ``image_meta`` (disk and container format) of that upload.
_UPLOADING_IMAGE_META: contextvars.ContextVar[Mapping[str, Any] | None] = (
    contextvars.ContextVar('cinder_multistore_uploading_image_meta',
                           default=None))
#: The fsid of each RBD driver's cluster, asked once per driver.
_FSIDS: 'weakref.WeakKeyDictionary[Any, str]' = weakref.WeakKeyDictionary()
#: Glance's stores detail, per Glance endpoint.
STORE_DETAILS = store_details.StoreDetailsCache()
#: Why the site rule finds no cluster for a volume on another backend.
NOT_RBD = ('the volume\'s backend is not Ceph RBD '
           '(cinder.volume.drivers.rbd.RBDDriver)')
#: An image's metadata as Cinder's image service takes and returns it.
ImageMeta: TypeAlias = dict[str, Any]

P = ParamSpec('P')
R = TypeVar('R')
T = TypeVar('T')


class GlanceClient(Protocol):
    """What this module uses of a glanceclient ``Client``."""

    http_client: uploads.HttpClient


class UserMessages(Protocol):
    """What this module uses of Cinder's ``cinder.message.api.API``."""

    def create(self, context: CinderContext, action: tuple[str, str],
               resource_type: str = ..., resource_uuid: str | None = None,
               exception: BaseException | None = None,
               detail: tuple[str, str] | None = None,
               level: str = ...) -> None:
        """Record a message the resource's project can list."""


class GlanceStoreRejected(exception.ImageUnacceptable):
    """The store named by the volume type cannot take the image data.

    Raised before any data is sent; the queued image has been deleted.
    Keyword arguments: ``image_id``, ``store_id``, ``problem`` (a
    :class:`cinder_multistore.placement.StoreProblem` value) and ``reason``
    (a sentence naming the store).
    """

    message = 'Image %(image_id)s was not uploaded: %(reason)s'


class _UploadingClient:
    """A glanceclient ``Client`` that also carries the upload controller."""

    def __init__(self, client: GlanceClient) -> None:
        self._client = client
        setattr(self, UPLOAD_CONTROLLER,
                uploads.FileUploads(client.http_client))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class MultistoreClientWrapper(glance.GlanceClientWrapper):
    """Cinder's client wrapper, with an upload controller on each client.

    Cinder's ``call()`` keeps doing the retries; the only difference is that
    ``call(context, 'put', ..., controller=UPLOAD_CONTROLLER)`` reaches a
    controller that passes headers per request.
    """

    def _create_static_client(self, context: CinderContext, netloc: str,
                              use_ssl: bool, privileged_user: bool = False
                              ) -> _UploadingClient:
        parent = super()._create_static_client
        return _UploadingClient(parent(
            context, netloc, use_ssl,
            **_privileged_user_argument(parent, privileged_user)))

    def _create_onetime_client(self, context: CinderContext,
                               privileged_user: bool = False
                               ) -> _UploadingClient:
        parent = super()._create_onetime_client
        return _UploadingClient(parent(
            context, **_privileged_user_argument(parent, privileged_user)))


def _privileged_user_argument(parent: Callable[..., object],
                              privileged_user: bool) -> dict[str, bool]:
    """The ``privileged_user`` keyword, if Cinder's client factory takes it.

    Cinder 27 added ``privileged_user`` to ``GlanceClientWrapper``'s client
    factories; Cinder 26 (2025.1) has none, and never asks for one.
    """
    if _takes_privileged_user(getattr(parent, '__func__', parent)):
        return {'privileged_user': privileged_user}
    return {}


@functools.cache
def _takes_privileged_user(function: Callable[..., object]) -> bool:
    return 'privileged_user' in inspect.signature(function).parameters


class MultistoreImageService(glance.GlanceImageService):
    """Cinder's Glance image service with multistore-aware uploads.

    :param client: a :class:`MultistoreClientWrapper`; by default one that
        finds Glance the way Cinder does (``glance_api_servers`` or the
        service catalog).
    :param messages: where user messages go; by default Cinder's
        ``cinder.message.api.API()``, made when one is left.
    """

    def __init__(self,
                 client: MultistoreClientWrapper | None = None,
                 messages: UserMessages | None = None) -> None:
        if client is not None and not isinstance(client,
                                                 MultistoreClientWrapper):
            raise TypeError('MultistoreImageService needs a '
                            'MultistoreClientWrapper, got %r' % (client,))
        opts.register_opts(CONF)
        super().__init__(client or MultistoreClientWrapper())
        self._messages = messages

    def update(self, context: CinderContext, image_id: str,
               image_meta: ImageMeta, data: stream.VolumeData | None = None,
               purge_props: bool = True, store_id: str | None = None,
               base_image_ref: str | None = None) -> ImageMeta:
        """Upload ``data`` (if any), then update the image's metadata.

        Same contract as ``GlanceImageService.update``.

        :raises GlanceStoreRejected: when the store named by the volume type
            cannot take the data; nothing was sent and the image is deleted.
        :raises cinder.exception.GlanceConnectionFailed: when Glance cannot
            be reached after ``glance_num_retries`` retries.
        """
        if data is not None:
            self._upload(context, image_id, data, store_id, base_image_ref)
        return super().update(context, image_id, image_meta,
                              purge_props=purge_props)

    def _upload(self, context: CinderContext, image_id: str,
                data: stream.VolumeData, store_id: str | None,
                base_image_ref: str | None) -> None:
        conf = CONF[opts.GROUP]
        site = None
        base_usable = True
        if conf.site_store and placement.normalize_header(store_id) is None:
            base = placement.normalize_header(base_image_ref)
            if base is not None:
                base_usable = self._base_usable(context, base)
            if base is None or not base_usable:
                site = self.site_decision(context)
        target = targets.choose_target(store_id, base_image_ref, site=site,
                                       base_usable=base_usable)
        if target.store_id is not None and conf.validate_store:
            self._check_store(context, image_id, target.store_id)
        # NOTE: the placement line comes first whichever way the data
        # moves: the store and the rule that chose it are the same.
        LOG.info('Uploading volume data to image %s with %s: %s',
                 image_id, _describe(target.headers), target.reason)
        if self._upload_by_clone(context, image_id, target):
            return
        size = stream.measure_size(data)
        headers = targets.upload_headers(target, size)
        if size is None:
            LOG.info('Size of the data for image %s is unknown; %s is not '
                     'sent', image_id, targets.IMAGE_SIZE_HEADER)
        else:
            LOG.info('Sending %s bytes to image %s (%s sent)', size,
                     image_id, targets.IMAGE_SIZE_HEADER)
        body = stream.UploadBody(data, conf.upload_chunk_size)
        try:
            resp = self._client.call(context, 'put', image_id, body, headers,
                                     controller=UPLOAD_CONTROLLER)
        except stream.StreamNotRewindable as exc:
            raise exception.GlanceConnectionFailed(reason=exc) from exc
        except Exception:
            glance._reraise_translated_image_exception(image_id)
        outcome = targets.upload_outcome(getattr(resp, 'headers', None) or {})
        if outcome.partial:
            self._report_partial(context, image_id, outcome)

    def _upload_by_clone(self, context: CinderContext, image_id: str,
                         target: targets.UploadTarget) -> bool:
        """Make the image by cloning the volume in Ceph when
        :func:`cinder_multistore.placement.decide_copy_way` says so
        (:mod:`cinder_multistore.image.rbd_clone`).

        :returns: True when the image's location is registered; False when
            the data must be streamed (one INFO line said why).
        :raises upload_errors.LocationNotRegistered: when Glance refused the
            location after the clone; the clone was removed.
        """
        decision = self.copy_decision(context, target)
        volume = _UPLOADING_VOLUME.get()
        volume_id = uploading_volume_id() or '(unknown volume)'
        why_not = None
        if decision.clone:
            why_not = self._locations_api_problem(context, image_id)
        if why_not is not None or not decision.clone:
            LOG.info('Volume %s to image %s: %s', volume_id, image_id,
                     why_not or decision.reason)
            return False
        assert decision.store and decision.pool and decision.fsid
        driver = uploading_driver()
        url = rbd_clone.location_url(decision.fsid, decision.pool, image_id)
        try:
            way = _clone_in_ceph(driver, volume, decision.pool, image_id)
        except upload_errors.CloneRefused as exc:
            LOG.info('Volume %s to image %s: streamed: %s', volume_id,
                     image_id, exc)
            return False
        try:
            self._add_location(context, image_id, url)
        except Exception as exc:
            LOG.error('Glance refused location %s of image %s: removing '
                      'the clone', url, image_id)
            _remove_clone(driver, volume, decision.pool, image_id)
            raise upload_errors.LocationNotRegistered(
                url=url, image_id=image_id, reason=_short(exc)) from exc
        LOG.info('Volume %s to image %s: %s; %s of the volume, location %s '
                 'registered, no data streamed', volume_id, image_id,
                 decision.reason, way, url)
        if decision.others:
            self._copy_to_others(context, image_id, decision.store,
                                 decision.others)
        return True

    def _copy_to_others(self, context: CinderContext, image_id: str,
                        store: str | None, others: Sequence[str]) -> None:
        """Have Glance copy the image, made in ``store``, to the other
        stores of its co-location, once Glance has registered the location
        and hashed the data (its ``location_import`` task holds the image
        until then); in a thread of its own, so that the upload returns
        at once.
        """
        threading.Thread(
            target=self._copy_when_ready, name='copy-image-%s' % image_id,
            args=(context, image_id, store, tuple(others)),
            daemon=True).start()

    def _copy_when_ready(self, context: CinderContext, image_id: str,
                         store: str | None, others: Sequence[str],
                         timeout: float = COPY_WAIT_TIMEOUT) -> bool:
        """Wait until the image is ``active`` and no import task holds it,
        then ask Glance for a ``copy-image`` import to ``others`` (a copy
        that fails does not undo the others) as the ``[glance]`` service
        user (the import is for admins).

        Never raises: a refused import, or an image that does not get
        there within ``timeout`` seconds, is reported as a partial
        co-location (the upload succeeded).

        :returns: True when Glance took the import.
        """
        deadline = time.monotonic() + timeout
        delay = 0.5
        why = None
        while True:
            try:
                image = self._client.call(context, 'get', image_id)
            except Exception as exc:
                why = 'could not be read (%s)' % _short(exc)
                break
            status = _field(image, 'status')
            if status == 'active' and not _field(image,
                                                 IMPORT_LOCK_PROPERTY):
                why = None
                break
            if status not in ('queued', 'saving', 'importing', 'active'):
                why = 'is %s' % status
                break
            if time.monotonic() > deadline:
                why = ('is still %s, held by Glance\'s task %s, after %d s'
                       % (status, _field(image, IMPORT_LOCK_PROPERTY),
                          timeout))
                break
            time.sleep(delay)
            delay = min(delay * 2, COPY_WAIT_POLL)
        try:
            if why is not None:
                raise RuntimeError('image %s %s' % (image_id, why))
            self._copy_image(context, image_id, list(others))
        except Exception as exc:
            LOG.warning('Glance did not copy image %s to %s: %s',
                        image_id, ', '.join(others), _short(exc))
            self._report_partial(context, image_id, targets.UploadOutcome(
                written=(store,) if store else (), failed=tuple(others)),
                'did not take the copy-image import')
            return False
        LOG.info('Image %s: Glance copies it to %s (copy-image import); '
                 'its stores list each copy once written, '
                 'os_glance_failed_import the copies that failed', image_id,
                 ', '.join(others))
        return True

    def copy_decision(self, context: CinderContext,
                      target: targets.UploadTarget) -> placement.CopyDecision:
        """Whether the upload running in this green thread clones or
        streams (:func:`cinder_multistore.placement.decide_copy_way`).

        Never raises: a failed lookup is a STREAM decision saying what
        failed.
        """
        conf = CONF[opts.GROUP]
        enabled = bool(conf.zero_copy)
        meta = _UPLOADING_IMAGE_META.get() or {}
        driver = uploading_driver()
        fsid = None
        unknown = NOT_RBD
        stores: tuple[str, ...] = ()
        details = None
        raw = (str(meta.get('disk_format')) == placement.RAW_DISK_FORMAT
               and str(meta.get('container_format'))
               != placement.COMPRESSED_CONTAINER)
        # NOTE: Ceph and Glance are asked only when the cheap facts allow a
        # clone: an upload that streams anyway costs no extra request.
        if enabled and raw and driver is not None:
            if target.store_id is not None:
                stores = (target.store_id,)
            elif target.base_image_ref is not None:
                stores = self._base_stores(context, target.base_image_ref)
        if len(stores) == 1 or (stores and not conf.colocation_in_upload):
            try:
                fsid = cluster_fsid(driver)
            except Exception as exc:
                unknown = ('the volume\'s Ceph cluster did not give its '
                           'fsid (%s)' % _short(exc))
        if fsid is not None:
            try:
                details = self.stores_detail(context)
            except Exception:
                LOG.debug('Could not read Glance\'s stores detail',
                          exc_info=True)
        return placement.decide_copy_way(
            enabled, fsid, meta.get('disk_format'),
            meta.get('container_format'), stores, details, unknown,
            copy_others=not conf.colocation_in_upload)

    def _base_stores(self, context: CinderContext,
                     base_id: str) -> tuple[str, ...]:
        """The stores Glance would co-locate with ``base_id`` in; empty
        when it would not (or the lookup failed).
        """
        try:
            image = self._client.call(context, 'get', base_id)
            listing = self.get_stores(context)
        except Exception:
            LOG.debug('Could not look base image %s up', base_id,
                      exc_info=True)
            return ()
        return _colocation_stores(base_id, image, listing)

    def _locations_api_problem(self, context: CinderContext,
                               image_id: str) -> str | None:
        """Why Glance's locations API (Images API 2.17, service role)
        cannot take the clone's location, or None when it can.

        Asks ``GET /v2/images/{image_id}/locations`` as Cinder's
        ``[glance]`` service user: the same policy as adding one.
        """
        try:
            if _privileged_call():
                self._client.call(context, 'get_image_locations', image_id,
                                  **_privileged_call())
            else:
                service_locations.read(
                    CONF, glance.get_api_servers(context), image_id)
        except Exception as exc:
            LOG.debug('Locations API check failed', exc_info=True)
            return ('streamed: Glance\'s locations API (Images API 2.17, '
                    'role service) is not usable by Cinder\'s [glance] '
                    'user (%s)' % _short(exc))
        return None

    def _add_location(self, context: CinderContext, image_id: str,
                      url: str) -> None:
        """Register location ``url`` of the image as the ``[glance]``
        user: Cinder's privileged client (27 and later), else the
        plugin's own request (:mod:`.service_locations`).
        """
        if _privileged_call():
            self._client.call(context, 'add_image_location', image_id, url,
                              **_privileged_call())
            return
        service_locations.add(CONF, glance.get_api_servers(context),
                              image_id, url)

    def _copy_image(self, context: CinderContext, image_id: str,
                    stores: list[str]) -> None:
        """Ask Glance's ``copy-image`` import to ``stores`` (failures
        allowed) as the ``[glance]`` user, as :meth:`_add_location`.
        """
        if _privileged_call():
            # NOTE: the import method goes by position: call() has a
            # parameter named method (the client's method).
            self._client.call(context, 'image_import', image_id,
                              'copy-image', stores=stores,
                              allow_failure=True, **_privileged_call())
            return
        service_locations.copy_image(CONF, glance.get_api_servers(context),
                                     image_id, stores)

    def get_location(self, context: CinderContext, image_id: str
                     ) -> tuple[str | None, Any]:
        """``(direct_url, locations)`` of an image, for the volume drivers.

        Where Cinder's own service reads locations as the ``[glance]``
        service user (Cinder 27+), this is Cinder's. Otherwise (Cinder 26)
        the image's own fields come first (they check that the caller can
        see the image); when Glance hides the locations, they are read as
        the ``[glance]`` user (:mod:`.service_locations`); when that fails,
        Cinder's answer stands and the driver copies instead of cloning.
        """
        direct_url, locations = super().get_location(context, image_id)
        if locations or service_locations.cinder_reads_locations(glance):
            return direct_url, locations
        try:
            found = service_locations.read(
                CONF, glance.get_api_servers(context), image_id)
        except service_locations.NotReadable as exc:
            LOG.warning('Locations of image %s could not be read as the '
                        '[glance] service user, so a volume from it is a '
                        'copy, not a clone: %s', image_id, exc)
            return direct_url, locations
        LOG.debug('Image %s: %d location(s) read as the [glance] service '
                  'user', image_id, len(found))
        return direct_url, found

    def site_decision(self, context: CinderContext) -> placement.Decision:
        """The Glance store in the Ceph cluster of the volume being
        uploaded (:func:`cinder_multistore.placement.decide_site`).

        Never raises: a failed lookup is a ``DEFAULT`` decision whose
        reason says what failed.
        """
        driver = _UPLOADING_DRIVER.get()
        if driver is None:
            return placement.decide_site(None, None, NOT_RBD)
        try:
            fsid = cluster_fsid(driver)
        except Exception as exc:
            LOG.debug('Could not read the fsid of the volume\'s Ceph '
                      'cluster', exc_info=True)
            return placement.decide_site(
                None, None, 'the volume\'s Ceph cluster did not give its '
                'fsid (%s)' % _short(exc))
        try:
            details = self.stores_detail(context)
        except Exception as exc:
            LOG.debug('Could not read Glance\'s stores detail',
                      exc_info=True)
            return placement.decide_site(
                fsid, None, 'Glance\'s stores detail (GET '
                '/v2/info/stores/detail) could not be read (%s)'
                % _short(exc))
        return placement.decide_site(fsid, details)

    def stores_detail(self, context: CinderContext
                      ) -> Sequence[placement.StoreDetailEntry]:
        """``GET /v2/info/stores/detail``, cached per Glance endpoint.

        Asked as Cinder's ``[glance]`` service user: through Cinder's
        ``privileged_user`` (Cinder 27 and later), or, on Cinder 26, with a
        client of this module's own from the same ``[glance]`` options;
        with ``context`` when ``[glance]`` names no ``auth_type``.
        """
        def fetch() -> Mapping[str, object]:
            privileged = _privileged_call()
            if not privileged:
                client = _service_user_client(context, self._client)
                if client is not None:
                    return dict(client.images.get_stores_info_detail())
            body = self._client.call(context, 'get_stores_info_detail',
                                     **privileged)
            return dict(body)
        return STORE_DETAILS.get(_endpoint_of(self._client), fetch)

    def _base_usable(self, context: CinderContext, base_id: str) -> bool:
        """Whether Glance would co-locate with ``base_id`` (looked up with
        the caller's rights, as the Glance filter does); True when the
        lookup itself fails for another reason, so that Glance decides.
        """
        try:
            image = self._client.call(context, 'get', base_id)
            listing = self.get_stores(context)
        except Exception as exc:
            if isinstance(exc, (exception.NotFound,
                                exception.NotAuthorized)) or _http_status(
                                    exc) in (403, 404):
                LOG.debug('Base image %s is not visible: %s', base_id, exc)
                return False
            LOG.debug('Could not look base image %s up', base_id,
                      exc_info=True)
            return True
        return bool(_colocation_stores(base_id, image, listing))

    def _report_partial(self, context: CinderContext, image_id: str,
                        outcome: targets.UploadOutcome,
                        how: str = 'reports %s' % targets.STORES_FAILED_HEADER
                        ) -> None:
        """Tell the operator and the volume's owner that co-location was
        partial; never fails the upload, which succeeded.
        """
        volume_id = uploading_volume_id()
        LOG.warning('Volume %(volume)s was uploaded to image %(image)s, but '
                    'not co-located in every store of its base image: '
                    'copies in %(failed)s failed (Glance %(how)s); the '
                    'image is in %(written)s',
                    {'volume': volume_id or '(unknown volume)',
                     'image': image_id,
                     'failed': ', '.join(outcome.failed),
                     'how': how,
                     'written': ', '.join(outcome.written) or
                     'the stores Glance lists for it'})
        try:
            if self._messages is None:
                self._messages = message_api.API()
            # NOTE: Cinder has no message detail for a partial success;
            # the upload's own detail, at level WARNING, is the closest.
            self._messages.create(
                context, message_field.Action.COPY_VOLUME_TO_IMAGE,
                resource_type=message_field.Resource.VOLUME,
                resource_uuid=volume_id,
                detail=message_field.Detail.FAILED_TO_UPLOAD_VOLUME,
                level='WARNING')
        except Exception:
            LOG.warning('Could not leave a user message about the partial '
                        'co-location of image %s', image_id, exc_info=True)

    def _check_store(self, context: CinderContext, image_id: str,
                     store_id: str) -> None:
        try:
            listing = self.get_stores(context)
        except exception.NotFound:
            LOG.warning('Glance lists no stores (multiple stores are not '
                        'enabled there): store %s is sent unchecked', store_id)
            return
        problem = targets.store_rejection(store_id, listing)
        if problem is None:
            LOG.debug('Store %s is enabled and writable in Glance', store_id)
            return
        reason = placement.describe_problem(store_id, problem)
        LOG.error('Not uploading volume data to image %s: %s Deleting the '
                  'queued image.', image_id, reason)
        self._discard(context, image_id)
        raise GlanceStoreRejected(image_id=image_id, store_id=store_id,
                                  problem=problem.value, reason=reason)

    def _discard(self, context: CinderContext, image_id: str) -> None:
        try:
            self.delete(context, image_id)
        except exception.ImageNotFound:
            pass
        except Exception:
            LOG.warning('Could not delete queued image %s', image_id,
                        exc_info=True)


def _colocation_stores(base_id: str, image: object,
                       listing: Mapping[str, Any]) -> tuple[str, ...]:
    """The stores Glance would co-locate with base image ``image`` in,
    given ``GET /v2/info/stores``'s ``listing`` (the rules' answer).
    """
    stores = str(_field(image, 'stores') or '')
    base = placement.BaseImage(
        base_id, str(_field(image, 'status') or ''),
        tuple(s.strip() for s in stores.split(',') if s.strip()))
    catalog = placement.catalog_from_listing(
        dict(listing).get('stores') or [])
    return placement.colocation_stores(base, catalog)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + '...'


def _http_status(exc: BaseException) -> int | None:
    status = getattr(exc, 'code', None)
    return status if isinstance(status, int) else None


def _field(image: object, name: str) -> object:
    if isinstance(image, Mapping):
        return image.get(name)
    return getattr(image, name, None)


def _privileged_call() -> dict[str, bool]:
    """``privileged_user=True`` for ``GlanceClientWrapper.call`` where
    Cinder has it (27 and later); Cinder 26 would pass it on to glanceclient.
    """
    factory = glance.GlanceClientWrapper._create_onetime_client
    if _takes_privileged_user(factory):
        return {'privileged_user': True}
    return {}


def _register_service_user_opts() -> None:
    """The ``[glance]`` auth and session options, as Cinder 27 and later
    register them (Cinder 26 has none); registering them again is a no-op.
    """
    CONF.register_opts(ks_loading.get_session_conf_options(),
                       group=GLANCE_GROUP)
    CONF.register_opts(ks_loading.get_auth_common_conf_options(),
                       group=GLANCE_GROUP)


def _service_user_client(context: CinderContext,
                         wrapper: glance.GlanceClientWrapper) -> Any:
    """A glanceclient ``Client`` authenticated as the ``[glance]`` user.

    For a Cinder without ``privileged_user`` (26): the same user Cinder 27
    and later use for service-only calls. None when ``[glance]`` names no
    ``auth_type``.
    """
    _register_service_user_opts()
    if not CONF[GLANCE_GROUP].auth_type:
        return None
    auth = ks_loading.load_auth_from_conf_options(CONF, GLANCE_GROUP)
    session = ks_loading.load_session_from_conf_options(
        CONF, GLANCE_GROUP, auth=auth)
    if getattr(wrapper, 'client', None) is not None:
        netloc, use_ssl = wrapper.netloc, wrapper.use_ssl
    else:
        netloc, use_ssl = next(iter(glance.get_api_servers(context)))
    endpoint = '%s://%s' % ('https' if use_ssl else 'http', netloc)
    # NOTE: Cinder's own glanceclient module (typed Any here).
    return glance.glanceclient.Client(
        '2', endpoint, session=session,
        global_request_id=getattr(context, 'global_id', None))


def _endpoint_of(wrapper: glance.GlanceClientWrapper) -> tuple[object, ...]:
    """What identifies the Glance endpoint(s) ``wrapper`` talks to.

    A wrapper bound to one server (a remote image href) is that server;
    otherwise it is Cinder's configured list of servers or catalog entry.
    """
    if getattr(wrapper, 'client', None) is not None:
        return ('server', getattr(wrapper, 'netloc', None),
                getattr(wrapper, 'use_ssl', None))
    servers = CONF.glance_api_servers
    if servers:
        return ('servers', tuple(servers))
    return ('catalog', CONF.glance_catalog_info, CONF.os_region_name)


def cluster_fsid(driver: CinderRbdDriver) -> str:
    """The fsid of the Ceph cluster of Cinder's RBD ``driver``.

    Asked once per driver (``RBDDriver._get_fsid()``, a connection to the
    cluster); the fsid of a cluster never changes.
    """
    fsid = _FSIDS.get(driver)
    if fsid is None:
        value = driver._get_fsid()  # type: ignore[attr-defined]
        fsid = (value.decode() if isinstance(value, bytes)
                else str(value))
        _FSIDS[driver] = fsid
    return fsid


def _clone_in_ceph(driver: CinderRbdDriver, volume: CinderVolume,
                   pool: str, image_id: str) -> str:
    """Clone ``volume`` into Glance's ``pool`` as ``image_id`` with the
    Ceph user and cluster of Cinder's RBD ``driver``.

    :returns: how (:func:`rbd_clone.clone_volume`).
    :raises upload_errors.CloneRefused: Ceph refused; nothing was left.
    """
    from cinder.volume.drivers import rbd as rbd_driver
    name = str(getattr(volume, 'name', ''))
    try:
        with rbd_driver.RADOSClient(driver) as source, \
                rbd_driver.RADOSClient(driver, pool) as target:
            return _native(
                rbd_clone.clone_volume,
                driver.rbd,  # type: ignore[attr-defined]
                source.ioctx, name, target.ioctx, pool, image_id,
                CONF[opts.GROUP].flatten_clones_of_base_images,
                driver.configuration  # type: ignore[attr-defined]
                .rbd_max_clone_depth)
    except upload_errors.CloneRefused:
        raise
    except Exception as exc:
        # NOTE: Cinder's _connect_to_rados raises its own errors (no such
        # pool, no rights to open it): Ceph refused too.
        raise upload_errors.CloneRefused(
            volume=name, pool=pool, image_id=image_id,
            step='connection to the pools', reason=_short(exc)) from exc


def _remove_clone(driver: CinderRbdDriver, volume: CinderVolume, pool: str,
                  image_id: str) -> None:
    """Remove the clone ``image_id`` from Glance's ``pool``, then the
    volume's snapshot it came from; logged (not raised) when Ceph refuses,
    the caller's error being the one to show.
    """
    from cinder.volume.drivers import rbd as rbd_driver
    name = str(getattr(volume, 'name', ''))
    try:
        with rbd_driver.RADOSClient(driver, pool) as target:
            _native(rbd_clone.remove_image,
                    driver.rbd,  # type: ignore[attr-defined]
                    target.ioctx, pool, image_id)
        with rbd_driver.RADOSClient(driver) as source:
            _native(rbd_clone.release_volume,
                    driver.rbd,  # type: ignore[attr-defined]
                    source.ioctx, name)
    except Exception:
        LOG.error('Could not remove clone %s/%s of volume %s', pool,
                  image_id, name, exc_info=True)


def _releasing_upload_snapshots(delete: Callable[P, R]) -> Callable[P, R]:
    """``RBDDriver._delete_volume(volume, client)`` that first removes the
    volume's upload snapshots whose image is gone, and moves a volume that
    only images still depend on to the RBD trash instead of Cinder's
    retries (:mod:`cinder_multistore.image.rbd_clone`).
    """
    @functools.wraps(delete)
    def _delete_volume(*args: P.args, **kwargs: P.kwargs) -> R:
        driver, volume, client = (list(args) + [None, None, None])[:3]
        volume = kwargs.get('volume', volume)
        client = kwargs.get('client', client)
        name = str(getattr(volume, 'name', ''))
        rbd = getattr(driver, 'rbd', None)
        ioctx = getattr(client, 'ioctx', None)
        try:
            dependents = _native(rbd_clone.release_volume, rbd, ioctx, name)
            kept: bool = bool(dependents) and _native(
                rbd_clone.only_upload_snapshots, rbd, ioctx, name)
            if kept:
                _native(rbd_clone.trash_volume, rbd, ioctx, name)
                LOG.info('Volume %s is the copy-on-write parent of %s: '
                         'moved to the RBD trash, removed once no image '
                         'depends on it', name, ', '.join(dependents))
                return None  # type: ignore[return-value]
        except Exception:
            LOG.warning('Could not look at the upload snapshots of volume '
                        '%s; Cinder deletes it its own way', name,
                        exc_info=True)
        return delete(*args, **kwargs)
    return _delete_volume


def purge_upload_parents(driver: CinderRbdDriver) -> list[str]:
    """Remove the volumes of ``driver``'s pool that were kept for the
    images cloned from them, once those are deleted
    (:func:`rbd_clone.purge_parents`).

    Never raises (a periodic task): a failure is logged.
    """
    from cinder.volume.drivers import rbd as rbd_driver
    pool = str(getattr(getattr(driver, 'configuration', None), 'rbd_pool',
                       ''))
    try:
        with rbd_driver.RADOSClient(driver) as client:
            return _native(rbd_clone.purge_parents,
                           driver.rbd,  # type: ignore[attr-defined]
                           client.ioctx, pool)
    except Exception:
        LOG.warning('Could not purge the volumes kept for images in pool '
                    '%s', pool, exc_info=True)
        return []


def _starting_parent_purge(start: Callable[P, R]) -> Callable[P, R]:
    """``RBDDriver._start_periodic_tasks`` that also runs
    :func:`purge_upload_parents` every ``upload_parent_purge_interval``
    seconds (0: never).
    """
    @functools.wraps(start)
    def _start_periodic_tasks(*args: P.args, **kwargs: P.kwargs) -> R:
        result = start(*args, **kwargs)
        driver = args[0] if args else None
        interval = CONF[opts.GROUP].upload_parent_purge_interval
        if driver is not None and interval > 0 and driver not in _PURGES:
            from oslo_service import loopingcall
            task = loopingcall.FixedIntervalLoopingCall(
                purge_upload_parents, driver)
            task.start(interval=interval, initial_delay=interval)
            _PURGES[driver] = task
        return result
    return _start_periodic_tasks


def _native(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a native thread when eventlet patched the
    process (cinder-volume), as Cinder's RBD driver runs librbd (its
    ``RBDProxy``): a slow Ceph must not stop every green thread.
    """
    import eventlet.patcher
    if eventlet.patcher.is_monkey_patched('thread'):
        from eventlet import tpool
        return tpool.execute(function, *args)
    return function(*args)


def uploading_driver() -> CinderRbdDriver | None:
    """The RBD driver whose ``copy_volume_to_image`` this green thread
    runs, or None (another backend, or outside an upload).
    """
    return _UPLOADING_DRIVER.get()


def _remembering_driver(copy: Callable[P, R]) -> Callable[P, R]:
    """``RBDDriver.copy_volume_to_image`` that makes its driver known to
    the image service while it runs.
    """
    @functools.wraps(copy)
    def copy_volume_to_image(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _UPLOADING_DRIVER.set(args[0] if args else None)
        meta = kwargs.get('image_meta', args[4] if len(args) > 4 else None)
        meta_token = _UPLOADING_IMAGE_META.set(
            meta if isinstance(meta, Mapping) else None)
        try:
            return copy(*args, **kwargs)
        finally:
            _UPLOADING_IMAGE_META.reset(meta_token)
            _UPLOADING_DRIVER.reset(token)
    return copy_volume_to_image


def _describe(headers: Mapping[str, str]) -> str:
    if not headers:
        return 'no placement header'
    return ', '.join('%s: %s' % item for item in sorted(headers.items()))


def get_default_image_service() -> MultistoreImageService:
    """Replacement for ``cinder.image.glance.get_default_image_service``."""
    return MultistoreImageService()


def get_remote_image_service(context: CinderContext, image_href: str
                             ) -> tuple[MultistoreImageService, str]:
    """Replacement for ``cinder.image.glance.get_remote_image_service``.

    Same contract: a bare image id gets the default service; an href gets
    a service bound to the Glance server it names.
    """
    if '/' not in str(image_href):
        return get_default_image_service(), image_href
    try:
        image_id, netloc, use_ssl = glance._parse_image_ref(image_href)
        client = MultistoreClientWrapper(context=context, netloc=netloc,
                                         use_ssl=use_ssl)
    except ValueError:
        raise exception.InvalidImageRef(image_href=image_href)
    return MultistoreImageService(client=client), image_id


def uploading_volume_id() -> str | None:
    """The id of the volume whose upload this green thread runs, or None.

    Known inside ``cinder.volume.volume_utils.upload_volume`` once
    :func:`install` ran (every volume driver uploads through it).
    """
    volume = _UPLOADING_VOLUME.get()
    volume_id = getattr(volume, 'id', None)
    return None if volume_id is None else str(volume_id)


def _remembering_volume(upload_volume: Callable[P, R]) -> Callable[P, R]:
    """``upload_volume`` that makes its ``volume`` argument known to the
    image service while it runs.
    """
    signature = inspect.signature(upload_volume)

    @functools.wraps(upload_volume)
    def upload_volume_of(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            volume = signature.bind_partial(*args, **kwargs).arguments.get(
                'volume')
        except TypeError:  # the call is wrong: Cinder's function says so
            volume = None
        token = _UPLOADING_VOLUME.set(volume)
        try:
            return upload_volume(*args, **kwargs)
        finally:
            _UPLOADING_VOLUME.reset(token)
    return upload_volume_of


def installed() -> bool:
    """True when Cinder's image service factories return this service."""
    return all(getattr(glance, name) is globals()[name]
               for name in _FACTORIES)


def install() -> bool:
    """Make ``cinder.image.glance`` hand out :class:`MultistoreImageService`.

    Idempotent. Registers the ``[multistore_image_service]`` options on
    Cinder's global configuration so that ``cinder.conf`` can set them.

    :returns: True when this call installed it, False when it already was.
    """
    opts.register_opts(CONF)
    if installed():
        return False
    from cinder.volume.drivers import rbd
    from cinder.volume import volume_utils
    for name in _FACTORIES:
        _originals[name] = getattr(glance, name)
        setattr(glance, name, globals()[name])
    _wrap(volume_utils, 'upload_volume', _remembering_volume)
    _wrap(rbd.RBDDriver, 'copy_volume_to_image', _remembering_driver)
    _wrap(rbd.RBDDriver, '_delete_volume', _releasing_upload_snapshots)
    _wrap(rbd.RBDDriver, '_start_periodic_tasks', _starting_parent_purge)
    return True


def _wrap(owner: object, name: str,
          wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]
          ) -> None:
    """Replace ``owner.name`` with ``wrapper(owner.name)``, once."""
    if (owner, name) in _wrapped:
        return
    original = getattr(owner, name)
    _wrapped[(owner, name)] = original
    setattr(owner, name, wrapper(original))


def uninstall() -> None:
    """Give ``cinder.image.glance`` its own factories back, and Cinder's
    functions that :func:`install` wrapped.
    """
    for name, original in list(_originals.items()):
        setattr(glance, name, original)
        del _originals[name]
    for (owner, name), original in list(_wrapped.items()):
        setattr(owner, name, original)
        del _wrapped[(owner, name)]


#: The functions of ``cinder.cmd.volume`` that ``main()`` ends with, after
#: setting logging up: ``_launch_services`` from Cinder 28;
#: ``_launch_services_posix`` (and ``_win32``) in Cinder 26 and 27.
LAUNCH_FUNCTIONS = ('_launch_services', '_launch_services_posix',
                    '_launch_services_win32')


def announce_on_launch(volume_cmd: types.ModuleType) -> list[str]:
    """Make ``volume_cmd.main()`` log :data:`ACTIVE_MESSAGE` when it launches.

    Wraps each of :data:`LAUNCH_FUNCTIONS` that ``volume_cmd`` has.

    :param volume_cmd: the ``cinder.cmd.volume`` module.
    :returns: the names of the wrapped functions.
    :raises RuntimeError: when the module has none of them.
    """
    wrapped = []
    for name in LAUNCH_FUNCTIONS:
        launch = getattr(volume_cmd, name, None)
        if launch is None:
            continue
        setattr(volume_cmd, name, _announcing(launch))
        wrapped.append(name)
    if not wrapped:
        raise RuntimeError('%s has none of %s: cannot tell when '
                           'cinder-volume starts its services' % (
                               volume_cmd.__name__,
                               ', '.join(LAUNCH_FUNCTIONS)))
    return wrapped


def _announcing(launch: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(launch)
    def announce_and_launch(*args: P.args, **kwargs: P.kwargs) -> R:
        # NOTE: main() sets logging up just before it launches the
        # services; a line logged earlier would be lost.
        LOG.info(ACTIVE_MESSAGE)
        return launch(*args, **kwargs)
    return announce_and_launch


def run_volume_service() -> None:
    """Install the service, then run ``cinder-volume``'s own ``main()``.

    The caller must already have applied Cinder's eventlet monkey patching
    (:mod:`cinder_multistore.image.launcher` does), exactly as
    ``cinder.cmd.volume`` does on import.
    """
    from cinder.cmd import volume as volume_cmd

    install()
    announce_on_launch(volume_cmd)
    volume_cmd.main()
