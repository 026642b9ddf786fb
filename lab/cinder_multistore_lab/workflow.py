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

"""Volume and image steps on a running cloud, for the demo and the tests.

A thin layer over python-cinderclient and python-glanceclient with the
waiting that every caller needs: create a volume type with a store, an
image in given stores, a volume (from an image or blank), upload the
volume to an image and wait for it.
"""

from collections.abc import Callable
import contextlib
import hashlib
import io
import os
import time

from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc
from glanceclient import client as glance_client
from glanceclient import exc as glance_exc
from keystoneauth1 import loading
from keystoneauth1 import session as ks_session

from cinder_multistore import placement
from cinder_multistore_lab.stack.env import StackEnv


STORE_SPEC = 'image_service:store_id'


#: Custom properties of the base images :meth:`Cloud.image_in_stores` makes.
BASE_PROPERTIES = {'cms_role': 'base'}
#: The image property by which Glance's import tasks hold an image.
IMPORT_LOCK = 'os_glance_import_task'


class StepFailed(RuntimeError):
    """A cloud resource ended in an error state or timed out."""


def session_for(env: StackEnv, prefix: str,
                system_scope: bool = False) -> ks_session.Session:
    """A keystoneauth session for ``OS`` (admin), ``DEMO`` or ``ALT``.

    :param system_scope: a system-scoped token (``OS``, whose admin role on
        the system keystone-manage bootstrap gave) instead of a project one.
    """
    user = env.identity.credentials(prefix)
    loader = loading.get_plugin_loader('password')
    scope: dict[str, str] = (
        {'system_scope': 'all'} if system_scope else
        {'project_name': user.project_name,
         'project_domain_name': env.identity.project_domain_name})
    auth = loader.load_from_options(
        auth_url=env.identity.auth_url,
        username=user.username,
        password=user.password,
        user_domain_name=env.identity.user_domain_name,
        **scope)
    return ks_session.Session(auth=auth)


def wait_for(what: str, probe: Callable[[], object | None],
             timeout: float = 300, interval: float = 0.5) -> object:
    """Call ``probe`` until it returns something; raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise StepFailed('timed out after %ds waiting for %s'
                             % (timeout, what))
        time.sleep(interval)


def image_stores(image: dict) -> list[str]:
    """The stores an image lists, in Glance's order."""
    return [s for s in (image.get('stores') or '').split(',') if s]


class Cloud:
    """The embedded cloud seen by one user, plus an admin for types."""

    def __init__(self, env: StackEnv, user: str = 'DEMO') -> None:
        self.env = env
        self.session = session_for(env, user)
        self.admin_session = session_for(env, 'OS')
        self.glance = glance_client.Client(
            '2', session=self.session, endpoint=env.glance.endpoint)
        self.cinder = cinder_client.Client('3.70', session=self.session)
        self.admin_cinder = cinder_client.Client(
            '3.70', session=self.admin_session)

    # -- images --------------------------------------------------------

    def image(self, image_id: str) -> dict:
        """The image as this user sees it."""
        return dict(self.glance.images.get(image_id))

    def wait_image(self, image_id: str, stores: int = 1,
                   timeout: float = 300) -> dict:
        """Wait until the image is active in at least ``stores`` stores."""
        def probe():
            image = self.image(image_id)
            if image['status'] in ('killed', 'deleted'):
                raise StepFailed('image %s is %s' % (image_id,
                                                     image['status']))
            if (image['status'] == 'active'
                    and len(image_stores(image)) >= stores):
                return image
            return None
        return wait_for('image %s' % image_id, probe, timeout)

    def wait_hashed(self, image_id: str, timeout: float = 300) -> dict:
        """Wait until the image has its ``checksum`` and
        ``os_hash_value`` (Glance computes them in the background for an
        image made by a Ceph clone: zero copy).
        """
        def probe():
            image = self.image(image_id)
            if (image.get('checksum') and image.get('os_hash_value')
                    and not image.get(IMPORT_LOCK)):
                return image
            return None
        return wait_for('hashes of image %s' % image_id, probe, timeout)

    def wait_unlocked(self, image_id: str, timeout: float = 300) -> None:
        """Wait until no Glance import task holds the image (gone is fine).

        Glance 30 to 33 answer 500 to a delete that comes while the
        location_import task that hashes a zero-copy image is finishing
        (the task still holds the image, its cancellation file is gone);
        after ``timeout`` seconds the caller goes on all the same.
        """
        def probe():
            try:
                image = self.image(image_id)
            except glance_exc.HTTPNotFound:
                return True
            return None if image.get(IMPORT_LOCK) else True
        try:
            wait_for('image %s free of import tasks' % image_id, probe,
                     timeout)
        except StepFailed:
            pass

    def image_in_stores(self, data: bytes, stores: list[str],
                        name: str = 'cms-base',
                        properties: dict[str, str] | None = None) -> dict:
        """Create an active raw image whose data is in ``stores``.

        The image gets custom ``properties`` (:data:`BASE_PROPERTIES`
        unless given), as real base images have (``os_distro`` and the
        like): Cinder 26 to 28's API cannot upload a volume made from an
        image whose only properties are Glance's reserved ``os_glance_*``
        ones, which is all the import API gives it.
        """
        if properties is None:
            properties = BASE_PROPERTIES
        image = self.glance.images.create(name=name, disk_format='raw',
                                          container_format='bare',
                                          **properties)
        self.glance.images.stage(image.id, io.BytesIO(data), len(data))
        self.glance.images.image_import(image.id, method='glance-direct',
                                        stores=stores)
        return self.wait_image(image.id, stores=len(stores))

    def store_digests(self, image_id: str) -> dict[str, str]:
        """MD5 of the image's file in each file store that holds one."""
        found = {}
        for store, directory in sorted(self.env.glance.store_dirs.items()):
            path = os.path.join(directory, image_id)
            if os.path.exists(path):
                digest = hashlib.md5()
                with open(path, 'rb') as f:
                    for chunk in iter(lambda: f.read(1 << 20), b''):
                        digest.update(chunk)
                found[store] = digest.hexdigest()
        return found

    # -- volumes -------------------------------------------------------

    def volume_type(self, name: str, store: str | None) -> str:
        """Create (admin) a public volume type, with a store or without."""
        vtype = self.admin_cinder.volume_types.create(name)
        if store:
            vtype.set_keys({STORE_SPEC: store})
        return vtype.id

    def delete_volume_type(self, type_id: str) -> None:
        """Delete a volume type (admin)."""
        self.admin_cinder.volume_types.delete(type_id)

    def remove(self, volumes=(), images=(), types=(),
               timeout: float = 120) -> None:
        """Delete volumes (and wait until gone), then images, then types.

        Those already gone are skipped.
        """
        for volume_id in volumes:
            try:
                self.cinder.volumes.delete(volume_id)
            except cinder_exc.NotFound:
                pass
        for volume_id in volumes:
            asked = [time.monotonic()]

            def gone(v=volume_id, asked=asked):
                try:
                    vol = self.cinder.volumes.get(v)
                except cinder_exc.NotFound:
                    return True
                # NOTE: Cinder's RBD driver gives up on a volume that Ceph
                # still sees open (ImageBusy) and puts it back to
                # available, saying to retry after 30 s: so does this.
                if (vol.status == 'available'
                        and time.monotonic() - asked[0] > 10):
                    asked[0] = time.monotonic()
                    with contextlib.suppress(cinder_exc.ClientException):
                        self.cinder.volumes.delete(v)
                return None
            wait_for('deletion of volume %s' % volume_id, gone, timeout)
        for image_id in images:
            self.wait_unlocked(image_id)
            try:
                self.glance.images.delete(image_id)
            except glance_exc.HTTPNotFound:
                pass
        for type_id in types:
            self.delete_volume_type(type_id)

    def wait_volume(self, volume_id: str, status: str = 'available',
                    timeout: float = 300):
        """Wait until the volume has ``status``; raise on error states."""
        def probe():
            vol = self.cinder.volumes.get(volume_id)
            if vol.status.startswith('error'):
                raise StepFailed('volume %s is %s' % (volume_id,
                                                      vol.status))
            return vol if vol.status == status else None
        return wait_for('volume %s to be %s' % (volume_id, status), probe,
                        timeout)

    def volume(self, size: int = 1, volume_type: str | None = None,
               image_id: str | None = None, name: str = 'cms-volume'):
        """Create a volume and wait until it is available."""
        vol = self.cinder.volumes.create(size, name=name,
                                         volume_type=volume_type,
                                         imageRef=image_id)
        return self.wait_volume(vol.id)

    def upload(self, volume_id: str, image_name: str,
               disk_format: str = 'raw', timeout: float = 600) -> dict:
        """Upload a volume to a new image; wait for image and volume."""
        vol = self.cinder.volumes.get(volume_id)
        # From microversion 3.1 on, visibility and protected are required.
        _, body = self.cinder.volumes.upload_to_image(
            vol, False, image_name, 'bare', disk_format, 'private', False)
        image_id = body['os-volume_upload_image']['image_id']
        self.wait_volume(volume_id, timeout=timeout)
        return self.wait_image(image_id, timeout=timeout)

    def headers_for(self, volume_id: str) -> dict[str, str]:
        """The headers the driver sends for this volume, by the rules."""
        vol = self.cinder.volumes.get(volume_id)
        store = None
        type_name = getattr(vol, 'volume_type', None)
        if type_name:
            for vtype in self.admin_cinder.volume_types.list():
                if vtype.name == type_name or vtype.id == type_name:
                    store = vtype.get_keys().get(STORE_SPEC)
        base = (getattr(vol, 'volume_image_metadata', None) or {}).get(
            'image_id')
        return placement.choose_headers(store, base)
