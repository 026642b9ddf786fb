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

"""Upload a volume to an image by cloning it inside its Ceph cluster.

The second way of moving an upload's data (the first,
:mod:`cinder_multistore.image.stream`, sends every byte to glance-api).
When :func:`cinder_multistore.placement.decide_copy_way` says CLONE, the
volume and the Glance rbd store are in the same Ceph cluster, and the image
is made there in glance_store's rbd layout:

1. a snapshot of the volume (``cms-upload-<image id>``): the image holds
   the volume's bytes at this moment, whatever is written afterwards;
2. a copy-on-write clone of it into Glance's pool, named after the image
   id: no data is copied;
3. a protected snapshot ``snap`` on the clone: its location is
   ``rbd://<fsid>/<pool>/<image id>/snap``, registered with Glance by the
   caller;
4. the volume's snapshot removed at once: with Ceph's clone format 2 it
   moves to the snapshot trash, where Ceph keeps it, out of Cinder's and
   the user's sight, as long as the image is its child.

Deleting works in every order. Glance deletes the image as any other
(glance_store's ``delete``). Before Cinder deletes the volume,
:func:`release_volume` (wired by
:mod:`cinder_multistore.image.cinder_adapter`) removes the upload snapshots
whose image is gone; a volume that images still depend on goes to the RBD
trash instead (:func:`trash_volume`), marked (:data:`KEPT_FOR_IMAGES`), and
:func:`purge_parents` removes it once they are deleted (Glance's Ceph user
cannot: it may not write in Cinder's pool).

Nothing that may be read is ever flattened: librbd gives a reader that
opened an image at its snapshot before a flatten zeros for the parts that
were still the parent's (its object map is the one it opened with). So the
image is flattened, before Glance knows it, when the volume is a clone of
another volume: Cinder keeps its own clone parents as ``*.deleted``
volumes and removes them itself, which a chain would break. The image of a
volume made from a base image stays a clone of the volume, as Cinder keeps
the volume a clone of the base image: the base image's data stays in Ceph
until the image is deleted (unless the chain would be deeper than
``rbd_max_clone_depth``); the operator may flatten those images too
(``flatten_clones_of_base_images``).

A cluster whose clients still make clones of format 1 (``ceph osd
get-require-min-compat-client`` older than ``mimic`` and no
``rbd_default_clone_format = 2``) refuses a clone of an unprotected
snapshot. The snapshot is then protected and the clone flattened before the
snapshot goes. A flattened clone copies the data once inside Ceph (librbd
copy-up, no HTTP), and the image never depends on the volume.
:func:`clone_volume` says which it made.

Every function here acts on what it is given: the ``rbd`` module and open
``rados`` I/O contexts come from Cinder's RBD driver
(:mod:`cinder_multistore.image.cinder_adapter`).
"""

from collections.abc import Iterable
from typing import Any
from typing import TypeAlias

from oslo_log import log as logging

from cinder_multistore.image import exceptions


LOG = logging.getLogger(__name__)

#: The protected snapshot glance_store's rbd driver gives each image.
IMAGE_SNAPSHOT = 'snap'
#: Prefix of the volume's snapshot that the clone is taken from.
VOLUME_SNAPSHOT_PREFIX = 'cms-upload-'
#: What :func:`clone_volume` did: the image is a copy-on-write clone of
#: the volume's snapshot (no data copied) ...
COPY_ON_WRITE = 'copy-on-write clone'
#: ... or a flattened clone (data copied in Ceph): clone format 1 ...
FLATTENED = 'flattened clone (the cluster makes clones of format 1)'
#: ... or a volume that is itself a clone.
FLATTENED_CLONE = ('flattened clone (the volume is itself a clone of %s, '
                   'which the image must not keep)')
#: ... or a copy-on-write clone of a volume made from a base image, which
#: keeps the base image's data in Ceph while the image exists.
COPY_ON_WRITE_CHAIN = ('copy-on-write clone (the volume is itself a clone of '
                       'base image %s, whose data stays in Ceph while this '
                       'image exists)')

#: ... or a chain that would be too deep.
FLATTENED_DEEP = ('flattened clone (the volume is itself a clone of %s, and '
                  'the chain would be deeper than rbd_max_clone_depth %d)')

#: Metadata key of a volume kept for the images cloned from it.
KEPT_FOR_IMAGES = 'cinder_multistore.kept_for_images'

#: The ``rbd`` Python module (``python3-rbd``), as Cinder's driver has it.
RbdModule: TypeAlias = Any
#: A ``rados.Ioctx`` open on one pool.
Ioctx: TypeAlias = Any


def location_url(fsid: str, pool: str, image_id: str) -> str:
    """The location glance_store's rbd driver gives an image."""
    return 'rbd://%s/%s/%s/%s' % (fsid, pool, image_id, IMAGE_SNAPSHOT)


def volume_snapshot(image_id: str) -> str:
    """The volume's snapshot that the clone of ``image_id`` comes from."""
    return VOLUME_SNAPSHOT_PREFIX + image_id


def clone_volume(rbd: RbdModule, source: Ioctx, volume_name: str,
                 target: Ioctx, pool: str, image_id: str,
                 flatten_base_images: bool = False,
                 max_depth: int = 5) -> str:
    """Make image ``image_id`` in ``target`` from volume ``volume_name``.

    :param rbd: the ``rbd`` module.
    :param source: an I/O context on the volume's pool.
    :param volume_name: the volume's RBD image (``volume-<id>``).
    :param target: an I/O context on Glance's pool.
    :param pool: the name of Glance's pool (for messages).
    :param image_id: the Glance image id, the new RBD image's name.
    :param flatten_base_images: flatten the image of a volume that is a
        clone of a Glance image (``snap`` of glance_store's layout); else
        it stays a copy-on-write clone (:data:`COPY_ON_WRITE_CHAIN`)
        unless the chain would then be deeper than ``max_depth`` (Cinder's
        ``rbd_max_clone_depth``).
    :returns: how: :data:`COPY_ON_WRITE`, :data:`COPY_ON_WRITE_CHAIN`,
        :data:`FLATTENED`, :data:`FLATTENED_CLONE` or
        :data:`FLATTENED_DEEP`.
    :raises exceptions.CloneRefused: when Ceph refuses a step (no rights on
        Glance's pool, an RBD image of that name exists...); everything
        made before the refusal has been removed.
    """
    snap = volume_snapshot(image_id)

    def refused(step: str, exc: BaseException) -> exceptions.CloneRefused:
        return exceptions.CloneRefused(volume=volume_name, pool=pool,
                                       image_id=image_id, step=step,
                                       reason=_describe(exc))

    try:
        with rbd.Image(source, volume_name) as volume:
            parent = _parent(rbd, volume)
            # NOTE: counted only where a chain may be kept.
            depth = (_depth(rbd, source, target, pool, volume)
                     if parent is not None and not flatten_base_images
                     and parent[1] == IMAGE_SNAPSHOT else None)
            volume.create_snap(snap)
    except rbd.Error as exc:
        raise refused('snapshot of the volume', exc) from exc
    try:
        way = _clone(rbd, source, volume_name, snap, target, image_id,
                     refused)
        flatten = way != COPY_ON_WRITE
        if not flatten and parent is not None:
            parent_name = parent[0]
            if depth is None:
                flatten, way = True, FLATTENED_CLONE % parent_name
            elif depth >= max_depth:
                flatten, way = True, FLATTENED_DEEP % (parent_name,
                                                       max_depth)
            else:
                way = COPY_ON_WRITE_CHAIN % parent_name
        try:
            with rbd.Image(target, image_id) as image:
                if flatten:
                    image.flatten()
                image.create_snap(IMAGE_SNAPSHOT)
                image.protect_snap(IMAGE_SNAPSHOT)
        except rbd.Error as exc:
            error = refused('%s of the clone' % (
                'flatten and snapshot' if flatten else 'snapshot'), exc)
            try:
                remove_image(rbd, target, pool, image_id)
            except exceptions.CloneNotRemoved as leftover:
                LOG.error('%s', leftover)
                raise leftover from exc
            raise error from exc
    finally:
        try:
            _drop_snapshot(rbd, source, volume_name, snap)
        except rbd.Error:
            LOG.error('Could not remove snapshot %s of volume %s: remove '
                      'it with "rbd snap unprotect" and "rbd snap rm"',
                      snap, volume_name, exc_info=True)
    return way


def _parent(rbd: RbdModule, volume: Any) -> tuple[str, str] | None:
    """``(pool/image, snapshot)`` the open volume is a clone of, or
    None.
    """
    try:
        pool, name, snap = volume.parent_info()
    except rbd.ImageNotFound:
        return None
    return '%s/%s' % (pool, name), str(snap)


def _depth(rbd: RbdModule, source: Ioctx, target: Ioctx, pool: str,
           volume: Any) -> int:
    """How many ancestors the open ``volume`` has (clone of a clone...).

    Parents are looked up in Glance's ``pool`` (``target``) or else the
    volume's pool (``source``); one found in neither ends the count.
    """
    depth = 0
    image = volume
    opened = []
    try:
        while True:
            try:
                parent_pool, name, snap = image.parent_info()
            except rbd.ImageNotFound:
                return depth
            depth += 1
            try:
                image = rbd.Image(target if parent_pool == pool else source,
                                  name, snapshot=snap, read_only=True)
            except rbd.ImageNotFound:
                return depth
            opened.append(image)
    finally:
        for handle in opened:
            handle.close()


def _clone(rbd: RbdModule, source: Ioctx, volume_name: str, snap: str,
           target: Ioctx, image_id: str, refused: Any) -> str:
    """Clone ``volume_name@snap`` into ``target``: unprotected (format 2),
    or protected when the cluster makes clones of format 1.
    """
    try:
        rbd.RBD().clone(source, volume_name, snap, target, image_id)
        return COPY_ON_WRITE
    except rbd.InvalidArgument:
        # NOTE: librbd answers EINVAL to a clone of an unprotected
        # snapshot when it makes clones of format 1.
        LOG.debug('Clone of unprotected %s@%s refused: clone format 1',
                  volume_name, snap)
    except rbd.Error as exc:
        raise refused('clone into Glance\'s pool', exc) from exc
    try:
        with rbd.Image(source, volume_name) as volume:
            volume.protect_snap(snap)
        rbd.RBD().clone(source, volume_name, snap, target, image_id)
    except rbd.Error as exc:
        raise refused('clone into Glance\'s pool', exc) from exc
    return FLATTENED


def _drop_snapshot(rbd: RbdModule, source: Ioctx, volume_name: str,
                   snap: str) -> None:
    """Unprotect and remove the volume's snapshot; gone already is fine.

    A snapshot with a clone of format 2 moves to the snapshot trash.
    """
    try:
        with rbd.Image(source, volume_name) as volume:
            if not any(s.get('name') == snap for s in volume.list_snaps()):
                return
            try:
                volume.unprotect_snap(snap)
            except rbd.InvalidArgument:
                pass  # NOTE: not protected (format 2, or a failed protect)
            volume.remove_snap(snap)
    except rbd.ImageNotFound:
        return


def remove_image(rbd: RbdModule, target: Ioctx, pool: str,
                 image_id: str) -> None:
    """Remove image ``image_id`` (and its ``snap``) from Glance's pool.

    Gone already is fine.

    :raises exceptions.CloneNotRemoved: when Ceph refuses.
    """
    try:
        try:
            with rbd.Image(target, image_id) as image:
                for snap in list(image.list_snaps()):
                    if _is_trashed(snap):
                        continue
                    try:
                        image.unprotect_snap(snap['name'])
                    except rbd.InvalidArgument:
                        pass  # NOTE: not protected
                    image.remove_snap(snap['name'])
        except rbd.ImageNotFound:
            return
        rbd.RBD().remove(target, image_id)
    except rbd.ImageNotFound:
        return
    except rbd.Error as exc:
        raise exceptions.CloneNotRemoved(pool=pool, image_id=image_id,
                                         reason=_describe(exc)) from exc
    LOG.debug('Removed clone %s/%s', pool, image_id)


def _is_trashed(snap: dict[str, Any]) -> bool:
    return 'trash' in snap


def _upload_snapshots(snaps: Iterable[dict[str, Any]]
                      ) -> list[dict[str, Any]]:
    """The trashed snapshots among ``snaps`` that uploads made."""
    return [s for s in snaps if _is_trashed(s) and str(
        (s.get('trash') or {}).get('original_name', '')).startswith(
            VOLUME_SNAPSHOT_PREFIX)]


def _release(rbd: RbdModule, image: Any) -> list[str]:
    """Remove the trashed upload snapshots of open ``image`` that no image
    depends on any more.

    :returns: ``pool/image`` of the images that still depend on it.
    """
    dependents: list[str] = []
    for snap in _upload_snapshots(image.list_snaps()):
        image.set_snap_by_id(snap['id'])
        try:
            # NOTE: a child in the trash still reads from it.
            children = ['%s/%s' % (c['pool'], c['image'])
                        for c in image.list_children2()]
        finally:
            image.set_snap(None)
        if children:
            dependents.extend(children)
            continue
        try:
            image.remove_snap_by_id(snap['id'])
        except rbd.ImageNotFound:
            pass  # NOTE: Ceph removed it meanwhile
    return dependents


def release_volume(rbd: RbdModule, ioctx: Ioctx,
                   volume_name: str) -> list[str]:
    """Before Cinder deletes ``volume_name``: remove the upload snapshots
    whose image is gone, and mark the volume (metadata
    :data:`KEPT_FOR_IMAGES`) for :func:`purge_parents` when images still
    depend on it.

    :returns: ``pool/image`` of the images that still depend on the
        volume (empty: Cinder's own deletion can go on).
    """
    try:
        with rbd.Image(ioctx, volume_name) as volume:
            dependents = _release(rbd, volume)
            if dependents:
                volume.metadata_set(KEPT_FOR_IMAGES, ','.join(dependents))
    except rbd.ImageNotFound:
        return []
    return dependents


def only_upload_snapshots(rbd: RbdModule, ioctx: Ioctx,
                          volume_name: str) -> bool:
    """Whether every snapshot of ``volume_name`` is a trashed upload
    snapshot (and it has some): then nothing of Cinder's needs it.
    """
    with rbd.Image(ioctx, volume_name, read_only=True) as volume:
        snaps = list(volume.list_snaps())
    return bool(snaps) and len(_upload_snapshots(snaps)) == len(snaps)


def trash_volume(rbd: RbdModule, ioctx: Ioctx, volume_name: str) -> None:
    """Move ``volume_name``, which images still depend on (marked by
    :func:`release_volume`), to the RBD trash, for :func:`purge_parents`.
    """
    rbd.RBD().trash_move(ioctx, volume_name, 0)


def purge_parents(rbd: RbdModule, ioctx: Ioctx, pool: str) -> list[str]:
    """Remove the volumes of ``pool`` kept for the images cloned from them
    once those images are gone.

    Looks at the pool's RBD trash (where :func:`trash_volume` put them)
    and at Cinder's ``*.deleted`` volumes (kept by Cinder for its own
    clones, which may also have had images cloned from them). Only volumes
    marked by :func:`release_volume` are touched, and removed once they
    have no snapshot left.

    :returns: the names of the volumes removed.
    """
    removed = []
    try:
        entries = list(rbd.RBD().trash_list(ioctx))
    except (IndexError, KeyError, ValueError):
        # NOTE: python3-rbd 16 cannot list a trash holding an entry of a
        # source it does not know (USER_PARENT).
        LOG.warning('Could not list the RBD trash of pool %s with this '
                    'python3-rbd: remove the volumes kept for images with '
                    '"rbd trash purge %s" once they are deleted', pool,
                    pool, exc_info=True)
        entries = []
    for entry in entries:
        name = str(entry.get('name'))
        try:
            with rbd.Image(ioctx, image_id=entry['id']) as image:
                if not _unused(rbd, image):
                    continue
            rbd.RBD().trash_remove(ioctx, entry['id'], True)
            removed.append(name)
        except rbd.ImageNotFound:
            continue
        except rbd.Error:
            LOG.warning('Could not purge volume %s (RBD trash id %s) of '
                        'pool %s', name, entry['id'], pool, exc_info=True)
    for name in rbd.RBD().list(ioctx):
        if not str(name).endswith('.deleted'):
            continue
        try:
            with rbd.Image(ioctx, name) as image:
                if not _unused(rbd, image):
                    continue
            rbd.RBD().remove(ioctx, name)
            removed.append(str(name))
        except rbd.ImageNotFound:
            continue
        except rbd.Error:
            LOG.warning('Could not purge volume %s of pool %s', name, pool,
                        exc_info=True)
    for name in removed:
        LOG.info('Removed volume %s from pool %s: the images cloned from '
                 'it are deleted', name, pool)
    return removed


def _unused(rbd: RbdModule, image: Any) -> bool:
    """Whether open ``image`` was kept for the images cloned from it and
    has nothing left once its unused upload snapshots are removed.
    """
    try:
        image.metadata_get(KEPT_FOR_IMAGES)
    except KeyError:
        return False
    return not _release(rbd, image) and not list(image.list_snaps())


def _describe(exc: BaseException) -> str:
    return '%s: %s' % (type(exc).__name__, exc) if str(exc) else (
        type(exc).__name__)
