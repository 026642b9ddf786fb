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

"""Find (and optionally delete) store data that no image location points to.

A glance-api worker killed mid-upload leaves the bytes it had written in
its store(s) without a location in Glance's database. The audit lists what
the ``file`` (:mod:`.audit_file`) and ``rbd`` (:mod:`.audit_rbd`) stores of
a glance-api host hold, compares it with every location of every image in
Glance's database (:mod:`.audit_glance`: Glance's own db api and
configuration, location URLs decrypted as Glance decrypts them), and
reports the rest. Deleting is opt-in, bounded by a minimum age that cannot
be shorter than an upload may take to settle, and refused whenever the
comparison itself looks wrong: a location the audit cannot read, or a
store of which not a single object matches a location.

The decisions (which object a location refers to, which objects are
orphans, which are old enough to delete, when deleting is refused, the
exit code) are pure functions; the functions that touch the database, the
disks and Ceph are thin.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import functools
import logging
import re
import time
from typing import TYPE_CHECKING

from cinder_multistore.glance import audit_file
from cinder_multistore.glance import audit_glance
from cinder_multistore.glance import audit_model
from cinder_multistore.glance.audit_model import FileIdentity
from cinder_multistore.glance.audit_model import FileStoreConfig
from cinder_multistore.glance.audit_model import ImageRow
from cinder_multistore.glance.audit_model import location_key
from cinder_multistore.glance.audit_model import LocationKey
from cinder_multistore.glance.audit_model import RbdStoreConfig
from cinder_multistore.glance.audit_model import StoreConfig
from cinder_multistore.glance.audit_model import StoredObject
from cinder_multistore.glance import audit_rbd
from cinder_multistore.glance import location_urls

if TYPE_CHECKING:
    from oslo_config import cfg


LOG = logging.getLogger(__name__)

#: The errors and the command's defaults, for the command and its callers.
AuditError = audit_model.AuditError
RESERVED_STORES = audit_model.RESERVED_STORES
AUDITED_TYPES = audit_model.AUDITED_TYPES
default_config_files = audit_glance.default_config_files
#: Default of ``--min-age``: data written during the last hour may belong
#: to an upload still in progress.
DEFAULT_MIN_AGE = 3600
#: Image location statuses that do not hold the data any more.
_GONE_LOCATION = frozenset({'deleted'})
#: Image statuses whose locations still own their data (``pending_delete``:
#: delayed delete; the scrubber removes the data, or an operator restores
#: the image with ``glance-scrubber --restore``).
_KEEPS_DATA = frozenset({'pending_delete'})
_IMAGE_ID = re.compile(r'^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?'
                       r'[0-9a-f]{4}-?[0-9a-f]{12}$', re.IGNORECASE)

EXIT_CLEAN = 0
EXIT_STRAY = 1
EXIT_ERROR = 2


@dataclasses.dataclass
class Finding:
    """An orphan and what happened to it."""

    obj: StoredObject
    age: float
    image_status: str | None
    action: str = 'stray'
    reason: str = ''

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {'store': self.obj.store, 'url': self.obj.url,
                'name': self.obj.name, 'size': self.obj.size,
                'age': round(self.age, 1), 'image_status': self.image_status,
                'action': self.action, 'reason': self.reason}


@dataclasses.dataclass
class Report:
    """The outcome of one audit run.

    ``warnings`` say why the comparison may be wrong; with ``--delete``
    the same facts refuse the deletion and become ``errors``.
    """

    stores: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    objects: int = 0
    ignored: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {'stores': self.stores, 'skipped': self.skipped,
                'objects': self.objects, 'ignored': self.ignored,
                'orphans': [f.as_dict() for f in self.findings],
                'errors': self.errors, 'warnings': self.warnings,
                'exit_code': exit_code(self)}


@dataclasses.dataclass(frozen=True)
class References:
    """The locations that own data, as the audit compares objects with
    them.

    :param keys: the location keys (:func:`.audit_model.location_key`).
    :param file_ids: identities of the files that ``file`` locations name
        on this host (the same file through a symlink or a bind mount).
    :param pools: fsid -> the pools that cluster has now.
    :param unreadable: ids of images with a location the audit cannot
        read (encrypted with a key it does not have).
    """

    keys: frozenset[LocationKey]
    file_ids: frozenset[FileIdentity] = frozenset()
    pools: Mapping[str, frozenset[str]] = dataclasses.field(
        default_factory=dict)
    unreadable: tuple[str, ...] = ()

    @functools.cached_property
    def _rbd_pools(self) -> dict[tuple[str, str], set[str]]:
        index: dict[tuple[str, str], set[str]] = {}
        for key in self.keys:
            if key[0] == 'rbd' and key[1]:
                index.setdefault((key[1], key[3]), set()).add(key[2])
        return index

    def rbd_pools(self, fsid: str, image: str) -> set[str]:
        """The pools rbd locations of ``image`` in cluster ``fsid`` name."""
        return self._rbd_pools.get((fsid, image), set())


# -- pure decisions ------------------------------------------------------

def looks_like_image_id(name: str) -> bool:
    """True for names Glance gives its data (image ids, UUIDs)."""
    return bool(_IMAGE_ID.match(name))


def _plain(stored: str) -> str | None:
    return location_urls.readable(stored, None)


def scan_locations(images: Iterable[ImageRow],
                   read_url: Callable[[str], str | None] = _plain
                   ) -> tuple[frozenset[LocationKey], tuple[str, ...]]:
    """Keys of every location that still owns its data, and the images
    with such a location that cannot be read.

    :param images: image rows as Glance's db api returns them (``status``,
        ``deleted``, ``locations`` with ``url`` and ``status``), deleted
        ones and deleted locations included.
    :param read_url: the location URL a database value stands for, None
        when it cannot be read (see :func:`.location_urls.readable`).

    Locations of deleted images and deleted locations do not count;
    locations of images pending a delayed delete do (the scrubber, or a
    restore, owns that data).
    """
    keys: set[LocationKey] = set()
    unreadable: list[str] = []
    for image in images:
        status = image.get('status')
        if image.get('deleted') and status not in _KEEPS_DATA:
            continue
        if status == 'deleted':
            continue
        for loc in image.get('locations') or ():
            if loc.get('status') in _GONE_LOCATION or not loc.get('url'):
                continue
            url = read_url(loc['url'])
            key = location_key(url) if url is not None else None
            if key is None:
                if image.get('id') not in unreadable:
                    unreadable.append(image.get('id') or '')
                continue
            keys.add(key)
    return frozenset(keys), tuple(unreadable)


def referenced_keys(images: Iterable[ImageRow],
                    read_url: Callable[[str], str | None] = _plain
                    ) -> frozenset[LocationKey]:
    """Keys of every location that still owns its data (see
    :func:`scan_locations`).
    """
    return scan_locations(images, read_url)[0]


def image_statuses(images: Iterable[ImageRow]) -> dict[str, str]:
    """Image id -> status, for describing orphans."""
    return {image['id']: image.get('status') or '' for image in images}


def is_referenced(obj: StoredObject, refs: References) -> bool:
    """True when a location refers to ``obj``.

    When in doubt, the data is kept: a file is referenced when a location
    names it by any path (same device and inode); an rbd image is
    referenced by a legacy one-part location naming it, whatever its pool,
    and by a location in its cluster naming a pool the cluster no longer
    has (renamed since the upload).
    """
    key = location_key(obj.url)
    if key is None:
        return False
    if key in refs.keys:
        return True
    if key[0] == 'file':
        return obj.identity is not None and obj.identity in refs.file_ids
    if key[0] == 'rbd':
        _kind, fsid, _pool, image = key
        if ('rbd', '', '', image) in refs.keys:
            return True
        known = refs.pools.get(fsid)
        return any(known is None or pool not in known
                   for pool in refs.rbd_pools(fsid, image))
    return False


def find_orphans(objects: Iterable[StoredObject],
                 refs: References) -> list[StoredObject]:
    """The objects no location refers to, in listing order."""
    return [obj for obj in objects if not is_referenced(obj, refs)]


def stores_without_match(objects: Iterable[StoredObject],
                         orphans: Iterable[StoredObject]) -> list[str]:
    """Stores that hold objects of which not a single one is referenced.

    Glance's own data in a store in use matches its locations; when none
    does, the comparison is what is wrong (a location encryption key, a
    folder reached by another path, a renamed pool), not the data.
    """
    held: dict[str, int] = {}
    for obj in objects:
        held[obj.store] = held.get(obj.store, 0) + 1
    stray: dict[str, int] = {}
    for obj in orphans:
        stray[obj.store] = stray.get(obj.store, 0) + 1
    return [store for store, count in held.items()
            if count and stray.get(store) == count]


def comparison_doubts(unmatched: Sequence[str],
                      unreadable: Sequence[str],
                      has_key: bool) -> list[str]:
    """Why the orphans found may be live data, one sentence each."""
    doubts = []
    if unreadable:
        doubts.append(
            '%d image(s) have location URLs the audit cannot read (%s%s): '
            'they are encrypted with a metadata_encryption_key %s; run the '
            'audit with the configuration of the glance-api that wrote '
            'them' % (len(unreadable), ', '.join(unreadable[:3]),
                      ', ...' if len(unreadable) > 3 else '',
                      'other than this configuration\'s' if has_key else
                      'that this configuration does not set'))
    for store in unmatched:
        doubts.append(
            'not one object of store %s matches a location: check '
            'metadata_encryption_key, the store\'s folder (a symlink or '
            'mount that changed) or pool (renamed) against its images\' '
            'locations; if the store really holds only stray data, remove '
            'it by hand' % store)
    return doubts


def settle_time(stores: int, stall_timeout: float) -> float:
    """The longest time a co-located upload may take to settle after its
    last byte: each store's copy may wait ``stall_timeout`` for room and
    again for its end.
    """
    return stores * 2 * stall_timeout


def min_age_problem(min_age: float, stores: int,
                    stall_timeout: float) -> str | None:
    """Why ``min_age`` is too short to delete safely, or None."""
    floor = settle_time(stores, stall_timeout)
    if min_age >= floor:
        return None
    return ('--min-age %ds is below the longest time an upload may take to '
            'settle (%d store(s) x 2 x copy_stall_timeout %ds): data that '
            'young may belong to an upload still in progress; use '
            '--min-age %d or more' % (min_age, stores, stall_timeout,
                                      floor))


def age_of(obj: StoredObject, now: float) -> float:
    """Seconds since ``obj`` was last written (never negative)."""
    return max(0.0, now - obj.mtime)


def old_enough(obj: StoredObject, now: float, min_age: float) -> bool:
    """True when ``obj`` was last written at least ``min_age`` s ago."""
    return age_of(obj, now) >= min_age


def to_delete(orphans: Iterable[StoredObject], refs: References,
              now: float, min_age: float) -> list[StoredObject]:
    """The orphans that may be deleted now.

    :param refs: the references read again right before deleting, so that
        an upload that registered its location since the listing is safe.
    """
    return [obj for obj in orphans
            if not is_referenced(obj, refs) and old_enough(obj, now, min_age)]


def select_stores(backends: Mapping[str, str], wanted: Sequence[str] = (),
                  include_reserved: bool = False,
                  reserved: Sequence[str] = RESERVED_STORES
                  ) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The stores to audit, and those skipped with the reason.

    :param backends: store id -> store type (``enabled_backends`` plus
        Glance's reserved stores).
    :param wanted: store ids asked for (all when empty); a reserved store
        named here is audited.
    :param include_reserved: audit the reserved stores too.
    :returns: ``([(store, type), ...], {store: reason})``.
    :raises AuditError: when ``wanted`` names a store that is not enabled.
    """
    unknown = [s for s in wanted if s not in backends]
    if unknown:
        raise AuditError('not an enabled store: %s' % ', '.join(unknown))
    chosen: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for store, kind in backends.items():
        if wanted and store not in wanted:
            continue
        if store in reserved and not (include_reserved or store in wanted):
            skipped[store] = 'reserved store (Glance\'s own)'
        elif kind not in AUDITED_TYPES:
            skipped[store] = 'store type %s is not audited' % kind
        else:
            chosen.append((store, kind))
    return chosen, skipped


def exit_code(report: Report) -> int:
    """0: nothing stray left; 1: stray data left; 2: something failed."""
    if report.errors or any(f.action == 'failed' for f in report.findings):
        return EXIT_ERROR
    if any(f.action != 'deleted' for f in report.findings):
        return EXIT_STRAY
    return EXIT_CLEAN


def human_size(size: int) -> str:
    """``1.5 MiB``-style size."""
    value = float(size)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if value < 1024 or unit == 'TiB':
            return ('%d %s' % (value, unit) if unit == 'B'
                    else '%.1f %s' % (value, unit))
        value /= 1024
    return '%d B' % size  # pragma: no cover


def human_age(seconds: float) -> str:
    """``3h05m``-style age."""
    seconds = int(seconds)
    if seconds < 60:
        return '%ds' % seconds
    if seconds < 3600:
        return '%dm%02ds' % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    if hours < 48:
        return '%dh%02dm' % (hours, rest // 60)
    return '%dd%02dh' % (hours // 24, hours % 24)


def format_finding(finding: Finding) -> str:
    """One report line: store, url, size, age, image, action."""
    image = finding.image_status or 'no image'
    if finding.image_status:
        image = 'image %s' % finding.image_status
    line = '%-12s %s  %s  age %s  (%s)  %s' % (
        finding.obj.store, finding.obj.url, human_size(finding.obj.size),
        human_age(finding.age), image, finding.action)
    if finding.reason:
        line += ': %s' % finding.reason
    return line


def summary(report: Report) -> str:
    """The last line of the report."""
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.action] = counts.get(finding.action, 0) + 1
    size = sum(f.obj.size for f in report.findings)
    parts = ['%d object(s) in %d store(s) (%s)' % (
        report.objects, len(report.stores), ', '.join(report.stores) or '-'),
        '%d stray (%s)' % (len(report.findings), human_size(size))]
    parts += ['%d %s' % (n, action) for action, n in sorted(counts.items())
              if action != 'stray']
    if report.ignored:
        parts.append('%d not named like an image id, ignored'
                     % report.ignored)
    if report.warnings:
        parts.append('%d warning(s)' % len(report.warnings))
    if report.errors:
        parts.append('%d error(s)' % len(report.errors))
    return 'audit: ' + '; '.join(parts)


def describe(orphans: Iterable[StoredObject], statuses: Mapping[str, str],
             now: float) -> list[Finding]:
    """Findings for the orphans, with their age and their image's status."""
    return [Finding(obj, age_of(obj, now), statuses.get(obj.name))
            for obj in orphans]


# -- the run -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Options:
    """What to audit and whether to delete.

    :param config_files: glance-api.conf (and more).
    :param config_dirs: oslo.config ``--config-dir`` folders.
    :param stores: store ids to audit (all when empty).
    :param include_reserved: audit Glance's reserved stores too.
    :param delete: delete orphans at least ``min_age`` seconds old.
    :param min_age: seconds since the last write.
    :param no_uploads_running: the operator states that no upload into
        these stores is in progress, so ``min_age`` may be shorter than
        an upload may take to settle.
    """

    config_files: tuple[str, ...]
    config_dirs: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    include_reserved: bool = False
    delete: bool = False
    min_age: float = DEFAULT_MIN_AGE
    no_uploads_running: bool = False


@dataclasses.dataclass
class _Listing:
    objects: list[StoredObject] = dataclasses.field(default_factory=list)
    configs: dict[str, StoreConfig] = dataclasses.field(default_factory=dict)
    pools: dict[str, frozenset[str]] = dataclasses.field(
        default_factory=dict)


def _store_config(conf: cfg.ConfigOpts, store: str,
                  kind: str) -> StoreConfig:
    if kind == 'file':
        return audit_glance.file_store_config(conf, store)
    return audit_glance.rbd_store_config(conf, store)


def _list_store(config: StoreConfig, listing: _Listing
                ) -> list[StoredObject]:
    if isinstance(config, FileStoreConfig):
        return list(audit_file.list_file_store(config))
    found = audit_rbd.list_rbd_store(config)
    listing.pools[found.fsid] = found.pools
    return found.objects


def _delete(config: StoreConfig, obj: StoredObject) -> None:
    if isinstance(config, FileStoreConfig):
        audit_file.delete_file(obj)
    else:
        audit_rbd.delete_rbd(config, obj)


def _list_all(conf: cfg.ConfigOpts, chosen: list[tuple[str, str]],
              report: Report) -> _Listing:
    listing = _Listing()
    for store, kind in chosen:
        try:
            listing.configs[store] = _store_config(conf, store, kind)
            listed = _list_store(listing.configs[store], listing)
        except Exception as exc:  # one broken store must not hide others
            LOG.debug('listing store %s failed: %s', store, exc)
            report.errors.append('store %s: cannot list: %s' % (store, exc))
            continue
        report.stores.append(store)
        for obj in listed:
            if looks_like_image_id(obj.name):
                listing.objects.append(obj)
            else:
                report.ignored += 1
    report.objects = len(listing.objects)
    return listing


def read_references(key: str | None, listing: _Listing
                    ) -> tuple[References, dict[str, str]]:
    """The references in Glance's database now, and every image's status.

    :param key: glance-api's ``metadata_encryption_key``.
    """
    rows = list(audit_glance.image_rows())
    keys, unreadable = scan_locations(
        rows, functools.partial(location_urls.readable, key=key))
    listed = {location_key(obj.url) for obj in listing.objects}
    file_ids = audit_file.identities(
        k[1] for k in keys if k[0] == 'file' and k not in listed)
    return (References(keys, file_ids, dict(listing.pools), unreadable),
            image_statuses(rows))


def _complete(orphans: list[StoredObject], configs: dict[str, StoreConfig],
              report: Report) -> list[StoredObject]:
    """Orphans with size and age: rbd ones are read now, per store."""
    unknown = audit_model.UNKNOWN_SIZE
    done = [o for o in orphans if o.size != unknown]
    for store, config in configs.items():
        pending = [o for o in orphans
                   if o.store == store and o.size == unknown]
        if not pending or not isinstance(config, RbdStoreConfig):
            continue  # file stores list their objects with size and age
        try:
            done += audit_rbd.stat_rbd(config, pending)
        except Exception as exc:
            LOG.debug('reading RBD images of %s failed: %s', store, exc)
            report.errors.append('store %s: cannot read images: %s'
                                 % (store, exc))
    order = {o.url: i for i, o in enumerate(orphans)}
    return sorted(done, key=lambda o: order[o.url])


def _delete_old(report: Report, listing: _Listing, key: str | None,
                options: Options) -> None:
    refs, _statuses = read_references(key, listing)
    candidates = to_delete([f.obj for f in report.findings], refs,
                           time.time(), options.min_age)
    for finding in report.findings:
        if finding.obj not in candidates:
            finding.action = 'kept'
            finding.reason = ('referenced now' if is_referenced(
                finding.obj, refs) else 'younger than %ds' % options.min_age)
            continue
        try:
            _delete(listing.configs[finding.obj.store], finding.obj)
        except AuditError as exc:
            finding.action, finding.reason = 'kept', str(exc)
        except Exception as exc:
            LOG.debug('deleting %s failed: %s', finding.obj.url, exc)
            finding.action, finding.reason = 'failed', str(exc)
        else:
            finding.action = 'deleted'


def check_min_age(conf: cfg.ConfigOpts, options: Options) -> None:
    """Refuse a ``--delete`` whose ``--min-age`` an upload may outlast.

    :raises AuditError: naming the minimum.
    """
    if not options.delete or options.no_uploads_running:
        return
    problem = min_age_problem(options.min_age,
                              len(audit_glance.writable_stores(conf)),
                              audit_glance.copy_stall_timeout(conf))
    if problem:
        raise AuditError(problem + ' (or state --no-uploads-running when '
                         'no glance-api can be writing these stores)')


def run(options: Options) -> Report:
    """Audit the stores; delete old orphans when asked and when the
    comparison can be trusted.

    :raises AuditError: when the configuration or the database cannot be
        read, or ``--min-age`` is too short to delete.
    """
    conf = audit_glance.load_config(options.config_files,
                                    options.config_dirs)
    check_min_age(conf, options)
    key = audit_glance.encryption_key(conf)
    chosen, skipped = select_stores(audit_glance.backends_of(conf),
                                    options.stores, options.include_reserved)
    report = Report(skipped=skipped)
    # NOTE: references are read after the listing, so that an upload that
    # finishes in between is seen as referenced, never as an orphan.
    listing = _list_all(conf, chosen, report)
    try:
        refs, statuses = read_references(key, listing)
    except Exception as exc:
        raise AuditError('cannot read Glance\'s database: %s' % exc)
    orphans = find_orphans(listing.objects, refs)
    doubts = comparison_doubts(
        stores_without_match(listing.objects, orphans), refs.unreadable,
        key is not None)
    orphans = _complete(orphans, listing.configs, report)
    report.findings = describe(orphans, statuses, time.time())
    if not (options.delete and report.findings):
        report.warnings += doubts
        return report
    if doubts:
        # NOTE: when the audit cannot tell live data from stray data, the
        # orphans it found may be every image of a store: nothing goes.
        report.errors += ['deletion refused: %s' % d for d in doubts]
        for finding in report.findings:
            finding.action, finding.reason = 'kept', 'deletion refused'
        return report
    try:
        _delete_old(report, listing, key, options)
    except AuditError:
        raise
    except Exception as exc:
        raise AuditError('cannot delete: %s' % exc)
    return report
