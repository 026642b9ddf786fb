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

"""What an upload sends: the Cinder side's decisions, pure and without I/O.

The image driver (:mod:`cinder_multistore.image.cinder_adapter`) looks
things up and sends requests; every choice it acts on is made here, from
plain values, so that each can be tested on its own:

* :func:`choose_target`: which placement header goes with the upload, and a
  sentence saying why, for the logs;
* :func:`store_rejection`: whether Glance's store listing lets the targeted
  store take the data;
* :func:`upload_headers`: the complete header set of one upload request;
* :func:`remaining_size`: how many bytes an open volume will yield;
* :func:`upload_outcome`: which stores Glance's answer says were written
  and which co-located copies failed.
"""

from collections.abc import Mapping
import dataclasses
import stat

from cinder_multistore import placement


#: Header carrying the number of bytes the upload sends.
IMAGE_SIZE_HEADER = 'x-openstack-image-size'
STORES_WRITTEN_HEADER = placement.STORES_WRITTEN_HEADER
STORES_FAILED_HEADER = placement.STORES_FAILED_HEADER
#: Volume type extra spec naming the Glance store (read by Cinder itself).
STORE_EXTRA_SPEC = 'image_service:store_id'
#: Key of the volume's glance metadata naming the image it was built from.
BASE_IMAGE_METADATA_KEY = 'image_id'


@dataclasses.dataclass(frozen=True)
class UploadTarget:
    """Where the driver asks Glance to put an upload, and why.

    :param headers: the placement headers to send, at most one of
        ``x-image-meta-store`` and ``x-openstack-base-image-ref``.
    :param reason: one sentence for the logs explaining the choice.
    :param rule: which rule chose the headers (``DEFAULT``: none sent).
    """

    headers: Mapping[str, str]
    reason: str
    rule: placement.Rule = placement.Rule.DEFAULT

    @property
    def store_id(self) -> str | None:
        """The store the upload names, or None."""
        return self.headers.get(placement.STORE_HEADER)

    @property
    def base_image_ref(self) -> str | None:
        """The base image the upload names, or None."""
        return self.headers.get(placement.BASE_IMAGE_HEADER)


def choose_target(store_id: str | None,
                  base_image_ref: str | None,
                  site: placement.Decision | None = None,
                  base_usable: bool = True) -> UploadTarget:
    """Apply the placement precedence to what Cinder passes to ``update()``.

    :param store_id: ``image_service:store_id`` from the volume type.
    :param base_image_ref: ``image_id`` from the volume's glance metadata.
    :param site: the decision of
        :func:`cinder_multistore.placement.decide_site` when the site rule
        is on (``[multistore_image_service] site_store``), else None.
    :param base_usable: False when a lookup showed that Glance would not
        co-locate with the base image.
    :returns: an :class:`UploadTarget` carrying the headers chosen by
        :func:`cinder_multistore.placement.choose_headers`.
    """
    site_store = (site.primary if site is not None
                  and site.rule is placement.Rule.SITE else None)
    headers = placement.choose_headers(store_id, base_image_ref,
                                       site_store=site_store,
                                       base_usable=base_usable)
    base = placement.normalize_header(base_image_ref)
    if base is None:
        no_base = 'the volume has no base image'
    else:
        no_base = ('Glance would not co-locate with base image %s (missing, '
                   'not visible, not active or in no usable store)' % base)
    rule = placement.Rule.DEFAULT
    named = placement.normalize_header(store_id)
    if named is not None:
        rule = placement.Rule.EXPLICIT_STORE
        reason = ('the volume type names store %s in %s'
                  % (named, STORE_EXTRA_SPEC))
        if base is not None:
            reason += ('; base image %s is not sent because a named store '
                       'wins' % base)
        if site is not None:
            reason += '; a named store wins over the volume\'s site'
    elif placement.BASE_IMAGE_HEADER in headers:
        rule = placement.Rule.COLOCATE
        reason = ('the volume was built from image %s (glance metadata %s) '
                  'and its volume type names no store, so Glance may '
                  'co-locate the new image with it'
                  % (headers[placement.BASE_IMAGE_HEADER],
                     BASE_IMAGE_METADATA_KEY))
        if site is not None and base_usable:
            reason += '; the base image wins over the volume\'s site'
        elif site is not None:
            reason += ('; it may not be usable, but the volume\'s site '
                       'gives no store either: %s' % site.reason)
    elif site_store is not None and site is not None:
        rule = placement.Rule.SITE
        reason = ('the volume type names no store and %s, so the image goes '
                  'to the volume\'s site: %s' % (no_base, site.reason))
    elif site is not None:
        reason = ('the volume type names no store and %s; the volume\'s '
                  'site gives none, so %s' % (no_base, site.reason))
    else:
        reason = ('the volume type names no store and the volume has no '
                  'base image, so Glance chooses its default store')
    return UploadTarget(headers, reason, rule)


def store_rejection(store_id: str,
                    listing: Mapping) -> placement.StoreProblem | None:
    """Tell why Glance's store listing refuses ``store_id``, or None.

    :param store_id: the store the upload names.
    :param listing: the body of ``GET /v2/info/stores``
        (``{"stores": [{"id": ..., "default": ..., "read-only": ...}]}``).
    :returns: the problem (reserved, unknown, read-only, malformed), or None
        when the store may take the data.
    """
    catalog = placement.catalog_from_listing(listing.get('stores') or [])
    return placement.store_problem(store_id, catalog)


def upload_headers(target: UploadTarget, size: int | None) -> dict[str, str]:
    """The headers of one ``PUT /v2/images/{id}/file`` request.

    :param target: the placement decision.
    :param size: bytes that will be sent, or None when unknown.
    :returns: a new dict, owned by the caller and by this request alone.
    """
    headers = {'Content-Type': 'application/octet-stream'}
    headers.update(target.headers)
    if size is not None:
        headers[IMAGE_SIZE_HEADER] = str(size)
    return headers


def remaining_size(mode: int, total: int, position: int) -> int | None:
    """Bytes left to read in a file, from its ``fstat`` and position.

    Only a regular file's ``st_size`` is its length; for a block device,
    a pipe or a socket this returns None and the caller must ask the file
    itself (a block device can seek to its end, a pipe cannot).

    :param mode: ``st_mode`` of the open file.
    :param total: ``st_size`` of the open file.
    :param position: the current read offset.
    """
    if not stat.S_ISREG(mode):
        return None
    return max(total - position, 0)


@dataclasses.dataclass(frozen=True)
class UploadOutcome:
    """Where Glance says an upload's data went.

    :param written: the stores that hold the data, primary first (empty
        when Glance does not run the filter).
    :param failed: the co-located stores that could not be written.
    """

    written: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def partial(self) -> bool:
        """True when co-location left out some of the stores it aimed at."""
        return bool(self.failed)


def _store_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(',') if part.strip())


def upload_outcome(headers: Mapping[str, str]) -> UploadOutcome:
    """Read the filter's :data:`STORES_WRITTEN_HEADER` and
    :data:`STORES_FAILED_HEADER` from the headers of Glance's answer.

    :param headers: the response's headers, names in any case.
    """
    by_name = {name.lower(): value for name, value in headers.items()}
    return UploadOutcome(
        written=_store_list(by_name.get(STORES_WRITTEN_HEADER.lower())),
        failed=_store_list(by_name.get(STORES_FAILED_HEADER.lower())))
