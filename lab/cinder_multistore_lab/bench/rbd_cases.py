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

"""The Cinder cases on the two Ceph sites (``central``, ``edge``).

``cinder-rbd-multistore`` / ``cinder-rbd-upstream``
    upload-to-image of a raw RBD volume at the edge site full of data,
    into the edge rbd store (``image_service:store_id`` in the volume
    type), with this project's image driver and with Cinder's own. The
    upstream side needs a cinder-volume with Cinder's own image service
    on an RBD backend of the edge cluster: the stack names it in
    ``CINDER_UPSTREAM_RBD_BACKEND`` (and its zone in
    ``CINDER_UPSTREAM_RBD_AZ``); without it that case is skipped.
``volume-clone-colocated`` / ``volume-copy-one-site``
    a volume at the central site from an image that co-location put into
    both rbd stores (Cinder's RBD driver clones the central copy's
    snapshot: copy-on-write, no data moved), against one from an image
    held only in the edge store (Cinder downloads it and writes every
    byte). Timed from the create call until the volume is ``available``;
    the clone's RBD parent and the copy's lack of one are checked.

``cinder-rbd-colocated-usable`` / ``cinder-rbd-colocated-both``
    upload-to-image of a volume at the edge site made from a base image
    held in both rbd stores, with the volume's size of data written: the
    seconds until the upload returns (the image active at the edge, made
    in the edge cluster), and until Glance's ``copy-image`` import has
    put it into the central store too. The ``-chain-`` cases with
    cinder-volume's default (the new image a copy-on-write clone of the
    volume, itself a clone of the base image), the others with
    cinder-volume restarted with ``flatten_clones_of_base_images = true``
    (the new image flattened before Glance knows it).

The volumes are filled and inspected as ``client.admin`` of each site's
cluster with the ``rados``/``rbd`` bindings.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
import time
import uuid

from cinder_multistore_lab.bench import cinder_cases
from cinder_multistore_lab.bench import data
from cinder_multistore_lab.bench import glance_cases
from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab import workflow


#: The snapshot glance_store's rbd driver creates.
SNAP = 'snap'
#: Where the uploaded volumes live, and the site the clones are made at.
UPLOAD_SITE = 'edge'
CLONE_SITE = 'central'
#: Driver name -> the stack service that runs its cinder-volume.
SERVICES = {'multistore': 'cinder-volume',
            'upstream': 'cinder-volume-upstream'}


def sites(env: StackEnv) -> list[str]:
    """The Ceph sites of the stack (empty without Ceph)."""
    return list(env.ceph_sites)


def missing(env: StackEnv) -> str | None:
    """Why the Ceph cases cannot run on this stack, or None."""
    found = sites(env)
    if UPLOAD_SITE not in found or CLONE_SITE not in found:
        return ('the stack runs without the Ceph sites %s and %s'
                % (CLONE_SITE, UPLOAD_SITE))
    if env.cinder is None or UPLOAD_SITE not in env.cinder.sites:
        return 'the stack runs without Cinder RBD backends'
    return None


def upstream_missing(env: StackEnv) -> str | None:
    """Why ``cinder-rbd-upstream`` cannot run, or None."""
    if env.cinder_upstream is None or not env.cinder_upstream.rbd_backend:
        return ("no cinder-volume with Cinder's own image service on an "
                'RBD backend (the stack sets no CINDER_UPSTREAM_RBD_BACKEND:'
                ' it runs without Ceph, or its reference services were '
                'not added)')
    return None


#: An I/O context on a pool of a site's cluster, as client.admin.
ioctx = ceph.admin_ioctx


def volume_name(volume_id: str) -> str:
    """The RBD image of a Cinder volume."""
    return 'volume-%s' % volume_id


def fill(env: StackEnv, site: str, volume_id: str, source: Path,
         size: int) -> None:
    """Write the first ``size`` bytes of ``source`` into an RBD volume."""
    import rbd
    with ioctx(env, site, env.ceph.volumes_pool) as ctx:
        with rbd.Image(ctx, volume_name(volume_id)) as image:
            offset = 0
            for block in data.Body(source, size):
                image.write(block, offset)
                offset += len(block)
            image.flush()


def parent(env: StackEnv, site: str, volume_id: str
           ) -> tuple[str, str, str] | None:
    """``(pool, image, snapshot)`` an RBD volume is cloned from, or None."""
    import rbd
    with ioctx(env, site, env.ceph.volumes_pool) as ctx:
        with rbd.Image(ctx, volume_name(volume_id),
                       read_only=True) as image:
            try:
                return tuple(image.parent_info())
            except rbd.ImageNotFound:
                return None


def site_type(cloud: workflow.Cloud, env: StackEnv, site: str,
              store: str | None = None, backend: str | None = None,
              zone: str | None = None) -> str:
    """Create a volume type on ``site``'s RBD backend; return its id."""
    vtype = cloud.admin_cinder.volume_types.create(
        'cms-bench-%s-%s' % (site, uuid.uuid4().hex[:8]))
    specs = {'volume_backend_name': backend or env.cinder.site(site).backend,
             'RESKEY:availability_zones': zone or env.cinder.site(site).az}
    if store:
        specs[workflow.STORE_SPEC] = store
    vtype.set_keys(specs)
    return vtype.id


def delete_volumes(cloud: workflow.Cloud, volume_ids: list[str],
                   timeout: float = 300) -> None:
    """Delete volumes and wait until they are gone."""
    for volume_id in volume_ids:
        with contextlib.suppress(Exception):
            cloud.cinder.volumes.delete(volume_id)

    def gone() -> bool:
        present = {v.id for v in cloud.cinder.volumes.list()}
        return not present & set(volume_ids)
    workflow.wait_for('volumes deleted', gone, timeout)


class RbdUploads(cinder_cases.CinderCases):
    """Upload-to-image of one filled RBD volume per image driver.

    :param env: the stack's variables.
    :param volume_types: driver name -> volume type (on the edge site,
        with the edge rbd store in ``image_service:store_id``).
    """

    def __init__(self, cloud: workflow.Cloud, env: StackEnv,
                 volume_types: dict[str, str]) -> None:
        super().__init__(cloud, Path('/nonexistent'), volume_types)
        self.env = env

    def prepare(self, source: Path, gib: int,
                written: int | None = None) -> None:
        """Create one volume per driver and write the first ``written``
        bytes (all of it by default) through RBD.
        """
        for driver, vtype in self.volume_types.items():
            vol = self.cloud.volume(gib, volume_type=vtype,
                                    name='cms-bench-rbd-%s' % driver)
            self.volumes[driver] = vol.id
            fill(self.env, UPLOAD_SITE, vol.id, source,
                 gib << 30 if written is None else written)

    def cleanup(self) -> None:
        """Delete the volumes and wait until they are gone."""
        delete_volumes(self.cloud, list(self.volumes.values()))
        self.volumes.clear()


class RbdVolumeCases:
    """Cases on volumes of an RBD backend and the two rbd stores.

    :param cloud: the cloud as the owner of the Glance cases' images.
    :param env: the stack's variables.
    :param glance: the Glance cases on the two rbd stores (central first).
    :param volume_type: the volume type of the cases' volumes.
    """

    def __init__(self, cloud: workflow.Cloud, env: StackEnv,
                 glance: glance_cases.GlanceCases,
                 volume_type: str) -> None:
        self.cloud = cloud
        self.env = env
        self.glance = glance
        self.volume_type = volume_type

    def _status(self, volume_id: str) -> str:
        """The volume's status; an error status raises StepFailed."""
        status = self.cloud.cinder.volumes.get(volume_id).status
        if status.startswith('error'):
            raise workflow.StepFailed('volume %s is %s' % (volume_id,
                                                           status))
        return status

    def cleanup(self) -> None:
        """Delete what the cases left."""
        raise NotImplementedError


class VolumeFromImage(RbdVolumeCases):
    """Volumes at the central site from a co-located and a one-site image.

    :param volume_type: a type of the central site's RBD backend.
    """

    CASES = {'volume-clone-colocated': 'colocated',
             'volume-copy-one-site': 'one-site'}

    def __init__(self, cloud: workflow.Cloud, env: StackEnv,
                 glance: glance_cases.GlanceCases,
                 volume_type: str) -> None:
        super().__init__(cloud, env, glance, volume_type)
        self.images: dict[str, str] = {}
        self.volumes: list[str] = []

    def prepare(self, source: Path, size: int) -> None:
        """The two images of ``size`` bytes of ``source``."""
        edge = self.env.glance.rbd_store(UPLOAD_SITE)
        self.images['colocated'] = self.glance.keep_image(
            source, size, colocate=True)
        self.images['one-site'] = self.glance.keep_image(
            source, size, store=edge)

    def create(self, case: str, gib: int) -> float:
        """One volume from the case's image; return the seconds."""
        kind = self.CASES[case]
        image_id = self.images[kind]
        start = time.monotonic()
        vol = self.cloud.cinder.volumes.create(
            gib, name='cms-bench-%s' % case, imageRef=image_id,
            volume_type=self.volume_type)
        self.volumes.append(vol.id)
        try:
            # NOTE: polled every 50 ms: a clone is ready in about a second,
            # and the default half-second poll would be a third of it.
            workflow.wait_for('volume %s' % vol.id,
                              lambda: self._status(vol.id) == 'available',
                              1800, 0.05)
            seconds = time.monotonic() - start
            found = parent(self.env, CLONE_SITE, vol.id)
            expected = ((self.env.ceph.images_pool, image_id, SNAP)
                        if kind == 'colocated' else None)
            if found != expected:
                raise workflow.StepFailed(
                    '%s: volume %s has RBD parent %s, expected %s'
                    % (case, vol.id, found, expected))
            return seconds
        finally:
            delete_volumes(self.cloud, [vol.id])
            self.volumes.remove(vol.id)

    def cleanup(self) -> None:
        """Delete what is left: volumes first (clones hold the images)."""
        try:
            if self.volumes:
                delete_volumes(self.cloud, self.volumes)
        finally:
            for image_id in self.images.values():
                self.glance.delete(image_id)
            self.images.clear()
            self.volumes.clear()


class ColocatedUploads(RbdVolumeCases):
    """Upload-to-image of an edge volume made from a base image held in
    both rbd stores (co-location); ``glance``'s
    :meth:`~glance_cases.GlanceCases.prepare` made the base image.

    :param volume_type: a type of the edge site's RBD backend, no store.
    """

    #: With ``flatten_clones_of_base_images = true``.
    CASES = ('cinder-rbd-colocated-usable', 'cinder-rbd-colocated-both')
    #: The same by default: the new image a copy-on-write clone of the
    #: volume.
    CHAIN_CASES = ('cinder-rbd-colocated-chain-usable',
                   'cinder-rbd-colocated-chain-both')

    def __init__(self, cloud: workflow.Cloud, env: StackEnv,
                 glance: glance_cases.GlanceCases,
                 volume_type: str) -> None:
        super().__init__(cloud, env, glance, volume_type)
        self.volume_id: str | None = None

    def prepare(self, source: Path, gib: int, written: int) -> None:
        """The edge volume from the base image, ``written`` bytes of
        ``source`` written into it.
        """
        vol = self.cloud.cinder.volumes.create(
            gib, name='cms-bench-colocated', volume_type=self.volume_type,
            imageRef=self.glance.base_image)
        self.volume_id = vol.id
        workflow.wait_for('volume %s' % vol.id,
                          lambda: self._status(vol.id) == 'available', 900)
        fill(self.env, UPLOAD_SITE, vol.id, source, written)

    def upload(self) -> tuple[float, float]:
        """One upload: the seconds until it returned, and until both rbd
        stores hold the image.
        """
        assert self.volume_id is not None
        stores = set(self.glance.stores)
        vol = self.cloud.cinder.volumes.get(self.volume_id)
        start = time.monotonic()
        _, body = self.cloud.cinder.volumes.upload_to_image(
            vol, False, 'cms-bench-colocated', 'bare', 'raw', 'private',
            False)
        image_id = body['os-volume_upload_image']['image_id']
        try:
            workflow.wait_for(
                'upload of volume %s' % vol.id,
                lambda: self._status(vol.id) == 'available' and (
                    self.cloud.image(image_id)['status'] == 'active'),
                1800, 0.1)
            usable = time.monotonic() - start

            def both() -> bool:
                image = self.cloud.image(image_id)
                if image.get('os_glance_failed_import'):
                    raise workflow.StepFailed(
                        'image %s: copies failed in %s' % (
                            image_id, image['os_glance_failed_import']))
                return stores <= set(workflow.image_stores(image))
            workflow.wait_for('both stores of image %s' % image_id, both,
                              1800, 0.1)
            return usable, time.monotonic() - start
        finally:
            self.cloud.remove(images=[image_id])

    def cleanup(self) -> None:
        """Delete the volume and wait until it is gone."""
        if self.volume_id is not None:
            delete_volumes(self.cloud, [self.volume_id])
            self.volume_id = None
