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

1. a snapshot of the volume (``cms-upload-<image id>``), protected: the
   image holds the volume's bytes at this moment, whatever is written
   afterwards;
2. a copy-on-write clone of it into Glance's pool, named after the image
   id;
3. the clone flattened, then the volume's snapshot unprotected and
   removed;
4. a protected snapshot ``snap`` on the clone: its location is
   ``rbd://<fsid>/<pool>/<image id>/snap``, registered with Glance by the
   caller.

NOTE: step 3 is why the image and the volume never depend on each other.
Cinder's RBD driver cannot delete a volume whose snapshot has a clone in
another pool (``_delete_volume`` looks for its own ``.clone_snap``
snapshots only, then moves the volume to the RBD trash, where it stays as
long as the snapshot has a child), and glance_store's ``delete`` removes
the clone without ever cleaning a parent it did not make; upstream's
``optimize-upload-volume-to-rbd-store`` left that open. Flattening copies
the data once inside Ceph (librbd copy-up, no HTTP, no glance-api, no
temporary file), so deleting the volume or the image, in any order, leaves
nothing behind. Keeping the copy-on-write parent instead needs Cinder's
volume deletion to know about children in Glance's pool.

Every function here acts on what it is given: the ``rbd`` module and open
``rados`` I/O contexts come from Cinder's RBD driver
(:mod:`cinder_multistore.image.cinder_adapter`).
"""

from typing import Any
from typing import TypeAlias

from oslo_log import log as logging

from cinder_multistore.image import exceptions


LOG = logging.getLogger(__name__)

#: The protected snapshot glance_store's rbd driver gives each image.
IMAGE_SNAPSHOT = 'snap'
#: Prefix of the volume's snapshot that the clone is taken from.
VOLUME_SNAPSHOT_PREFIX = 'cms-upload-'

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
                 target: Ioctx, pool: str, image_id: str) -> None:
    """Make image ``image_id`` in ``target`` from volume ``volume_name``.

    :param rbd: the ``rbd`` module.
    :param source: an I/O context on the volume's pool.
    :param volume_name: the volume's RBD image (``volume-<id>``).
    :param target: an I/O context on Glance's pool.
    :param pool: the name of Glance's pool (for messages).
    :param image_id: the Glance image id, the new RBD image's name.
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
            volume.create_snap(snap)
            try:
                volume.protect_snap(snap)
            except rbd.Error:
                volume.remove_snap(snap)
                raise
    except rbd.Error as exc:
        raise refused('snapshot of the volume', exc) from exc
    try:
        try:
            rbd.RBD().clone(source, volume_name, snap, target, image_id)
        except rbd.Error as exc:
            raise refused('clone into Glance\'s pool', exc) from exc
        try:
            with rbd.Image(target, image_id) as image:
                image.flatten()
                _drop_snapshot(rbd, source, volume_name, snap)
                image.create_snap(IMAGE_SNAPSHOT)
                image.protect_snap(IMAGE_SNAPSHOT)
        except rbd.Error as exc:
            error = refused('flatten and snapshot of the clone', exc)
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


def _drop_snapshot(rbd: RbdModule, source: Ioctx, volume_name: str,
                   snap: str) -> None:
    """Unprotect and remove the volume's snapshot; gone already is fine."""
    try:
        with rbd.Image(source, volume_name) as volume:
            if not any(s.get('name') == snap for s in volume.list_snaps()):
                return
            try:
                volume.unprotect_snap(snap)
            except rbd.InvalidArgument:
                pass  # NOTE: not protected (a failed protect_snap)
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


def _describe(exc: BaseException) -> str:
    return '%s: %s' % (type(exc).__name__, exc) if str(exc) else (
        type(exc).__name__)
