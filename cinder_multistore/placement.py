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

"""Where image data goes: the placement rules, pure and without I/O.

Both sides of cinder-multistore import this module. The Glance filter uses
:func:`decide_upload` and :func:`decide_import` to choose the stores an
upload or import writes; the Cinder driver uses :func:`choose_headers` to
choose what it sends. Nothing here talks to a service: callers pass in what
they looked up (the store catalog, the base image) and act on the result.

The rules, in order:

1. ``x-image-meta-store`` names an enabled, writable store: that store only;
   any base image reference is ignored.
2. ``x-image-meta-store`` names a reserved (``os_glance_*``), unknown,
   read-only or malformed store: rejected, nothing is written.
3. No store, and the base image is visible to the caller, ``active`` and
   has usable stores: every usable store of the base image (co-location),
   in the catalog's order; the first is the primary.
4. Otherwise: the default store.

The Cinder side may add one row between 3 and 4 (``[multistore_image_service]
site_store``, off by default): when the volume type names no store and the
volume has no usable base image, the Glance rbd store of the volume's own
Ceph cluster (:func:`decide_site`, :data:`Rule.SITE`).
"""

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import enum
import re
from typing import TypedDict
import uuid


#: Header naming the store an upload or import must write to.
STORE_HEADER = 'x-image-meta-store'
#: Header naming the image a volume (and so the new image) was built from.
BASE_IMAGE_HEADER = 'x-openstack-base-image-ref'
#: Header of the Glance filter's 204: the stores that hold the data.
STORES_WRITTEN_HEADER = 'X-Image-Stores-Written'
#: Header of the Glance filter's answer: the co-located stores that could
#: not be written (on a 204 the image is active without them).
STORES_FAILED_HEADER = 'X-Image-Stores-Failed'
#: Prefix of the stores Glance keeps for itself (staging, tasks).
RESERVED_PREFIX = 'os_glance_'

# Glance store identifiers are section names in glance-api.conf.
_STORE_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$')


#: One entry of ``GET /v2/info/stores``: ``read-only`` is present (as the
#: string ``"true"``) only on read-only stores, ``default`` only on the
#: default store.
StoreEntry = TypedDict('StoreEntry', {'id': str, 'default': bool,
                                      'read-only': str}, total=False)

#: One entry of ``GET /v2/info/stores/detail`` (Glance 30+): ``type`` is the
#: store driver (``rbd``, ``file``...); an rbd store's ``properties`` carry
#: its Ceph cluster's ``fsid`` and its ``pool``.
StoreDetailEntry = TypedDict('StoreDetailEntry', {
    'id': str, 'default': bool, 'read-only': str, 'type': str,
    'properties': Mapping[str, object]}, total=False)


class Rule(enum.Enum):
    """Which row of the rules table decided a placement."""

    EXPLICIT_STORE = 'explicit-store'
    REJECTED = 'rejected'
    COLOCATE = 'colocate'
    SITE = 'site'
    DEFAULT = 'default'


class StoreProblem(enum.Enum):
    """Why a named store cannot receive data."""

    MALFORMED = 'malformed'
    RESERVED = 'reserved'
    UNKNOWN = 'unknown'
    READ_ONLY = 'read-only'


_PROBLEM_TEXT = {
    StoreProblem.MALFORMED: 'is not a valid store identifier',
    StoreProblem.RESERVED: 'is reserved for Glance\'s own use',
    StoreProblem.UNKNOWN: 'is not an enabled store',
    StoreProblem.READ_ONLY: 'is read-only',
}


@dataclasses.dataclass(frozen=True)
class StoreInfo:
    """One store as Glance reports it.

    :param id: the store identifier (a section of ``enabled_backends``).
    :param read_only: True for stores that cannot take new data (http).
    """

    id: str
    read_only: bool = False

    @property
    def reserved(self) -> bool:
        """True when Glance keeps this store for itself."""
        return self.id.startswith(RESERVED_PREFIX)

    @property
    def usable(self) -> bool:
        """True when new image data may be written here."""
        return not (self.read_only or self.reserved)


@dataclasses.dataclass(frozen=True)
class Catalog:
    """The enabled stores, in Glance's order, and the default store.

    :param stores: every enabled store, reserved ones included, in the order
        Glance lists them (by weight).
    :param default: identifier of the default store.
    """

    stores: tuple[StoreInfo, ...]
    default: str

    def get(self, store_id: str) -> StoreInfo | None:
        """Return the store named ``store_id``, or None."""
        for store in self.stores:
            if store.id == store_id:
                return store
        return None

    def usable_ids(self) -> tuple[str, ...]:
        """Identifiers of the stores that may take new data, in order."""
        return tuple(s.id for s in self.stores if s.usable)


@dataclasses.dataclass(frozen=True)
class BaseImage:
    """What the caller may know of the base image.

    Build it only from a lookup made with the caller's rights; an image the
    caller cannot see is passed as ``None``, exactly like one that does not
    exist.

    :param id: the image id.
    :param status: the image status (``active``, ``queued``...).
    :param stores: the stores that hold the image's data.
    """

    id: str
    status: str
    stores: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome of applying the rules.

    :param rule: which row of the table decided.
    :param stores: where data goes, primary first; empty when rejected.
    :param reason: one sentence for logs and error messages.
    :param rejected_store: the offending store when ``rule`` is REJECTED.
    :param problem: why that store was rejected.
    """

    rule: Rule
    stores: tuple[str, ...]
    reason: str
    rejected_store: str | None = None
    problem: StoreProblem | None = None

    @property
    def rejected(self) -> bool:
        """True when the request must be refused with a 400."""
        return self.rule is Rule.REJECTED

    @property
    def primary(self) -> str | None:
        """The store Glance itself writes; the others are secondaries."""
        return self.stores[0] if self.stores else None

    @property
    def secondaries(self) -> tuple[str, ...]:
        """Stores written besides the primary."""
        return self.stores[1:]


def store_problem(store_id: str, catalog: Catalog) -> StoreProblem | None:
    """Tell why ``store_id`` cannot receive data, or None when it can."""
    if not _STORE_ID.match(store_id):
        return StoreProblem.MALFORMED
    if store_id.startswith(RESERVED_PREFIX):
        return StoreProblem.RESERVED
    store = catalog.get(store_id)
    if store is None:
        return StoreProblem.UNKNOWN
    if store.read_only:
        return StoreProblem.READ_ONLY
    return None


#: Characters of a refused store id repeated in messages and logs.
SHOWN_ID_LENGTH = 64


def shown_id(store_id: str) -> str:
    """``store_id`` as messages repeat it: at most SHOWN_ID_LENGTH chars."""
    if len(store_id) <= SHOWN_ID_LENGTH:
        return store_id
    return '%s...(%d characters)' % (store_id[:SHOWN_ID_LENGTH],
                                     len(store_id))


def describe_problem(store_id: str, problem: StoreProblem) -> str:
    """A message naming the store and why it was refused."""
    return 'Store %r %s.' % (shown_id(store_id), _PROBLEM_TEXT[problem])


def normalize_header(value: str | None) -> str | None:
    """Strip a header value; treat an empty one as absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_base_ref(value: str | None) -> str | None:
    """Return the base image id when ``value`` is a well-formed UUID.

    A malformed reference is not an error: the rules fall back to the
    default store, so the caller never needs to look it up.
    """
    value = normalize_header(value)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def base_lookup_needed(store_header: str | None,
                       base_header: str | None) -> str | None:
    """Return the base image id to look up, or None when none is needed.

    The base image matters only when no store was named.
    """
    if normalize_header(store_header) is not None:
        return None
    return parse_base_ref(base_header)


def _reject(store_id: str, problem: StoreProblem) -> Decision:
    return Decision(Rule.REJECTED, (), describe_problem(store_id, problem),
                    rejected_store=store_id, problem=problem)


def _colocation(base: BaseImage | None, catalog: Catalog) -> Decision | None:
    if base is None:
        return None
    if base.status != 'active':
        return None
    held = set(base.stores)
    stores = tuple(s for s in catalog.usable_ids() if s in held)
    if not stores:
        return None
    return Decision(Rule.COLOCATE, stores,
                    'co-located with base image %s in %s'
                    % (base.id, ', '.join(stores)))


def _default(catalog: Catalog, why: str) -> Decision:
    return Decision(Rule.DEFAULT, (catalog.default,),
                    'default store %s: %s' % (catalog.default, why))


def _why_not_colocated(base_ref: str | None, base: BaseImage | None) -> str:
    if base_ref is None:
        return 'no usable base image reference'
    if base is None:
        return 'base image %s not found' % base_ref
    if base.status != 'active':
        return 'base image %s is %s' % (base_ref, base.status)
    return 'base image %s has no usable store' % base_ref


def decide_upload(store_header: str | None, base_header: str | None,
                  catalog: Catalog, base: BaseImage | None) -> Decision:
    """Apply the rules to an upload (``PUT /v2/images/{id}/file``).

    :param store_header: the raw ``x-image-meta-store`` value, or None.
    :param base_header: the raw ``x-openstack-base-image-ref`` value, or None.
    :param catalog: the enabled stores.
    :param base: the base image as the caller sees it, or None when it is
        absent, invisible to the caller or not looked up.
    :returns: a :class:`Decision`.
    """
    store = normalize_header(store_header)
    if store is not None:
        problem = store_problem(store, catalog)
        if problem is not None:
            return _reject(store, problem)
        return Decision(Rule.EXPLICIT_STORE, (store,),
                        'store %s named in %s' % (store, STORE_HEADER))
    base_ref = parse_base_ref(base_header)
    colocated = _colocation(base if base_ref else None, catalog)
    if colocated is not None:
        return colocated
    return _default(catalog, _why_not_colocated(base_ref, base))


def decide_import(store_header: str | None,
                  body_stores: Sequence[object] | None,
                  all_stores: bool, base_header: str | None,
                  catalog: Catalog, base: BaseImage | None) -> Decision:
    """Apply the rules to ``POST /v2/images/{id}/import``.

    The body's ``stores`` list wins over ``all_stores``, which wins over the
    store header; with none of them the upload rules apply to the header
    and the base image reference.

    :param store_header: the raw ``x-image-meta-store`` value, or None.
    :param body_stores: the body's ``stores`` list, or None; entries that
        are not strings are rejected as malformed.
    :param all_stores: the body's ``all_stores`` flag.
    :param base_header: the raw ``x-openstack-base-image-ref`` value.
    :param catalog: the enabled stores.
    :param base: the base image as the caller sees it, or None.
    :returns: a :class:`Decision`.
    """
    if body_stores:
        chosen: list[str] = []
        for raw in body_stores:
            store = raw.strip() if isinstance(raw, str) else repr(raw)
            problem = store_problem(store, catalog)
            if problem is not None:
                return _reject(store, problem)
            if store not in chosen:
                chosen.append(store)
        return Decision(Rule.EXPLICIT_STORE, tuple(chosen),
                        'stores %s named in the request body'
                        % ', '.join(chosen))
    if all_stores:
        stores = catalog.usable_ids()
        return Decision(Rule.EXPLICIT_STORE, stores,
                        'all usable stores: %s' % ', '.join(stores))
    return decide_upload(store_header, base_header, catalog, base)


def choose_headers(store_id: str | None,
                   base_image_id: str | None,
                   site_store: str | None = None,
                   base_usable: bool = True) -> dict[str, str]:
    """The headers Cinder sends with an upload, by the same precedence.

    Volume type's store > base image > the volume's site > Glance's
    default.

    :param store_id: ``image_service:store_id`` from the volume type.
    :param base_image_id: ``image_id`` from the volume's glance metadata.
    :param site_store: the store of the volume's site (a :data:`Rule.SITE`
        decision of :func:`decide_site`), or None when the site rule is off
        or found no store.
    :param base_usable: False when a lookup showed that Glance would not
        co-locate with the base image (so the site store may go instead).
    :returns: at most one of :data:`STORE_HEADER` and
        :data:`BASE_IMAGE_HEADER`.
    """
    store = normalize_header(store_id)
    if store is not None:
        return {STORE_HEADER: store}
    base = normalize_header(base_image_id)
    site = normalize_header(site_store)
    if base is not None and (base_usable or site is None):
        return {BASE_IMAGE_HEADER: base}
    if site is not None:
        return {STORE_HEADER: site}
    return {}


def colocation_stores(base: BaseImage | None,
                      catalog: Catalog) -> tuple[str, ...]:
    """The stores Glance would co-locate an upload in with ``base``.

    Empty when Glance would use its default store instead (no base image,
    not active, or none of its stores usable in ``catalog``).
    """
    decision = _colocation(base, catalog)
    return decision.stores if decision is not None else ()


def cluster_stores(fsid: str,
                   details: Iterable[StoreDetailEntry]) -> tuple[str, ...]:
    """The usable Glance rbd stores in the Ceph cluster ``fsid``.

    :param fsid: the cluster's fsid (as ``ceph fsid`` prints it).
    :param details: the entries of ``GET /v2/info/stores/detail``.
    :returns: store ids, in Glance's order.
    """
    wanted = fsid.strip().lower()
    found = []
    for entry in details:
        properties = entry.get('properties') or {}
        store = StoreInfo(entry['id'], read_only=str(
            entry.get('read-only', 'false')).lower() == 'true')
        if (entry.get('type') == 'rbd' and store.usable
                and str(properties.get('fsid') or '').strip().lower()
                == wanted):
            found.append(store.id)
    return tuple(found)


def decide_site(fsid: str | None,
                details: Sequence[StoreDetailEntry] | None,
                unknown_why: str = 'the volume\'s Ceph cluster is unknown'
                ) -> Decision:
    """Choose the Glance store that lives in the volume's Ceph cluster.

    :param fsid: the fsid of the volume's Ceph cluster, or None when it is
        unknown (not an RBD backend, or the cluster could not be asked).
    :param details: the entries of ``GET /v2/info/stores/detail``, or None
        when they could not be read.
    :param unknown_why: why ``fsid`` or ``details`` is None, for the reason.
    :returns: a :data:`Rule.SITE` decision naming exactly one store, or a
        :data:`Rule.DEFAULT` decision (no store: Glance chooses) whose
        reason says why the site gave none.
    """
    if fsid is None or details is None:
        return Decision(Rule.DEFAULT, (), 'Glance\'s default store: %s'
                        % unknown_why)
    stores = cluster_stores(fsid, details)
    if not stores:
        return Decision(Rule.DEFAULT, (), 'Glance\'s default store: no '
                        'writable rbd store of Glance is in the volume\'s '
                        'Ceph cluster %s' % fsid)
    if len(stores) > 1:
        return Decision(Rule.DEFAULT, (), 'Glance\'s default store: '
                        'several rbd stores of Glance are in the volume\'s '
                        'Ceph cluster %s (%s), none is preferred'
                        % (fsid, ', '.join(stores)))
    return Decision(Rule.SITE, stores, 'store %s is the rbd store of Glance '
                    'in the volume\'s Ceph cluster %s' % (stores[0], fsid))


def catalog_from_listing(stores: Iterable[StoreEntry]) -> Catalog:
    """Build a :class:`Catalog` from ``GET /v2/info/stores`` entries.

    Entries look like ``{"id": "a", "default": true, "read-only": "true"}``
    (``read-only`` is present only on read-only stores).
    """
    infos = []
    default = None
    for entry in stores:
        read_only = str(entry.get('read-only', 'false')).lower() == 'true'
        infos.append(StoreInfo(entry['id'], read_only=read_only))
        if entry.get('default'):
            default = entry['id']
    if default is None:
        usable = [s.id for s in infos if s.usable]
        default = usable[0] if usable else ''
    return Catalog(tuple(infos), default)


class CopyWay(enum.Enum):
    """How the Cinder driver moves a volume's data into an image."""

    #: Read the volume and send every byte to glance-api (today's way).
    STREAM = 'stream'
    #: Clone a snapshot of the volume into Glance's pool inside the same
    #: Ceph cluster, then register the location with Glance.
    CLONE = 'clone'


#: The only disk format whose bytes are the volume's bytes.
RAW_DISK_FORMAT = 'raw'
#: The container format Cinder compresses the data for.
COMPRESSED_CONTAINER = 'compressed'


@dataclasses.dataclass(frozen=True)
class CopyDecision:
    """Whether an upload-to-image clones or streams, and why.

    :param way: :data:`CopyWay.CLONE` or :data:`CopyWay.STREAM`.
    :param reason: one sentence for the INFO line of the upload.
    :param store: the Glance rbd store cloned into (CLONE only).
    :param pool: that store's Ceph pool (CLONE only).
    :param fsid: the Ceph cluster of the volume and the store (CLONE only).
    :param others: the other stores the placement rules chose, which get
        their copies from Glance's ``copy-image`` import (CLONE only).
    """

    way: CopyWay
    reason: str
    store: str | None = None
    pool: str | None = None
    fsid: str | None = None
    others: tuple[str, ...] = ()

    @property
    def clone(self) -> bool:
        """True when the data is cloned, not streamed."""
        return self.way is CopyWay.CLONE


def _stream(reason: str) -> CopyDecision:
    return CopyDecision(CopyWay.STREAM, 'streamed: %s' % reason)


def decide_copy_way(enabled: bool,
                    fsid: str | None,
                    disk_format: str | None,
                    container_format: str | None,
                    stores: Sequence[str],
                    details: Sequence[StoreDetailEntry] | None,
                    unknown_why: str = 'the volume\'s Ceph cluster is '
                                       'unknown',
                    copy_others: bool = False) -> CopyDecision:
    """Choose between cloning the volume in Ceph and streaming it.

    Cloning needs all of, checked in this order (the cheap facts first,
    so that a caller asks Ceph and Glance only when they matter): the
    option on, raw bytes (disk format ``raw``, not ``compressed``), one
    store chosen by the placement rules (or several, with
    ``copy_others``), a volume on a Ceph RBD backend (``fsid`` known), and
    a chosen store that is a usable Glance rbd store in the volume's own
    Ceph cluster (its ``fsid`` in Glance's stores detail) with a pool: the
    first such store, in the order of ``stores``, is cloned into; the
    others are left to Glance's ``copy-image`` import.

    :param enabled: ``[multistore_image_service] zero_copy``.
    :param fsid: the volume's Ceph cluster, or None (not RBD, or unknown).
    :param disk_format: the image's disk format.
    :param container_format: the image's container format.
    :param stores: the stores the placement rules chose (a named or site
        store, or the base image's usable stores), primary first.
    :param details: the entries of ``GET /v2/info/stores/detail``, or None
        when they could not be read.
    :param unknown_why: why ``fsid`` is None, for the reason.
    :param copy_others: whether the other stores of a co-location may get
        their copies after the upload (``copy-image``); False: a
        co-location streams through the filter in one pass.
    :returns: a :class:`CopyDecision`; a STREAM decision's reason says why.
    """
    if not enabled:
        return _stream('[multistore_image_service] zero_copy is off')
    if (disk_format or '').lower() != RAW_DISK_FORMAT:
        return _stream('the disk format is %s, not raw: Cinder converts '
                       'the data' % (disk_format or 'unknown'))
    if (container_format or '').lower() == COMPRESSED_CONTAINER:
        return _stream('the container format is compressed: Cinder '
                       'compresses the data')
    if not stores:
        return _stream('the placement rules name no store (Glance chooses '
                       'its default)')
    if len(stores) > 1 and not copy_others:
        return _stream('the image goes to several stores (%s) and '
                       '[multistore_image_service] colocation_in_upload is '
                       'set: co-location is written by Glance in one pass'
                       % ', '.join(stores))
    if fsid is None:
        return _stream(unknown_why)
    if details is None:
        return _stream('Glance\'s stores detail could not be read')
    why_not = []
    for store in stores:
        entry = next((e for e in details if e.get('id') == store), None)
        pool = str(((entry or {}).get('properties') or {}).get('pool')
                   or '')
        if entry is None:
            why_not.append('store %s is not in Glance\'s stores detail'
                           % store)
        elif entry.get('type') != 'rbd':
            why_not.append('store %s is a %s store, not rbd'
                           % (store, entry.get('type') or 'unknown'))
        elif store not in cluster_stores(fsid, [entry]):
            why_not.append('store %s is not a writable rbd store in the '
                           'volume\'s Ceph cluster %s' % (store, fsid))
        elif not pool:
            why_not.append('Glance\'s stores detail gives no pool for store '
                           '%s' % store)
        else:
            others = tuple(s for s in stores if s != store)
            return CopyDecision(
                CopyWay.CLONE, 'cloned in Ceph: store %s (pool %s) is in '
                'the volume\'s Ceph cluster %s and the disk format is raw%s'
                % (store, pool, fsid, '; %s get their copies from Glance\'s '
                   'copy-image import' % ', '.join(others) if others else
                   ''), store=store, pool=pool, fsid=fsid, others=others)
    return _stream('; '.join(why_not))
