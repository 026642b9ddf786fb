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

"""The Glance cases: each uploads one file and returns the seconds taken.

Every case creates its image, times only the data path, and deletes the
image afterwards, so a store never fills up across runs. The requests go
straight to Glance's REST API with a keystoneauth session; the body is
streamed from disk with ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import subprocess
import time
import uuid

from keystoneauth1 import session as ks_session

from cinder_multistore import placement
from cinder_multistore_lab.bench import data


class CaseFailed(RuntimeError):
    """A case did not end as it must (an error status, a missing copy)."""


def _stores(image: dict) -> set[str]:
    return {s for s in (image.get('stores') or '').split(',') if s}


class GlanceCases:
    """Upload paths through Glance with and without the filter.

    :param session: an authenticated keystoneauth session.
    :param endpoint: Glance with the filter.
    :param plain_endpoint: Glance with upstream's pipeline.
    :param store_dirs: the file stores' folders, by store.
    :param stores: the stores to co-locate in (the file cases use three,
        the Ceph cases the two rbd stores); the first is the primary.
    :param name: a label of the instance in image names.
    :param primary_by_header: name the primary store in
        ``x-image-meta-store`` on the uploads that go to one store (when
        it is not Glance's default store).
    """

    def __init__(self, session: ks_session.Session, endpoint: str,
                 plain_endpoint: str, store_dirs: dict[str, str],
                 stores: tuple[str, ...], name: str = '',
                 primary_by_header: bool = False) -> None:
        self.session = session
        self.endpoint = endpoint
        self.plain_endpoint = plain_endpoint
        self.store_dirs = store_dirs
        self.stores = tuple(stores)
        self.name = name
        self.primary_by_header = primary_by_header
        self.base_image: str | None = None

    def _primary_headers(self) -> dict[str, str]:
        if self.primary_by_header:
            return {placement.STORE_HEADER: self.stores[0]}
        return {}

    def _image_name(self, case: str) -> str:
        return 'cms-bench-%s%s' % (self.name + '-' if self.name else '', case)

    # -- REST helpers ----------------------------------------------------

    def _call(self, method: str, url: str, ok: tuple[int, ...],
              **kwargs):
        resp = self.session.request(url, method, raise_exc=False, **kwargs)
        if resp.status_code not in ok:
            raise CaseFailed('%s %s: %d %s' % (method, url, resp.status_code,
                                               resp.text[:300]))
        return resp

    def _create(self, endpoint: str, name: str) -> str:
        resp = self._call('POST', endpoint + '/v2/images', (201,), json={
            'name': name, 'disk_format': 'raw', 'container_format': 'bare'})
        return resp.json()['id']

    def _get(self, endpoint: str, image_id: str) -> dict:
        return self._call('GET', '%s/v2/images/%s' % (endpoint, image_id),
                          (200,)).json()

    def _put(self, endpoint: str, image_id: str, path: Path,
             headers: dict[str, str] | None = None):
        return self._call(
            'PUT', '%s/v2/images/%s/file' % (endpoint, image_id), (204,),
            data=data.Body(path),
            headers={'Content-Type': 'application/octet-stream',
                     **(headers or {})})

    def delete(self, image_id: str) -> None:
        """Delete an image (and its data in every store)."""
        self._call('DELETE', '%s/v2/images/%s' % (self.endpoint, image_id),
                   (204, 404))

    def _expect(self, endpoint: str, image_id: str, stores: set[str],
                size: int) -> None:
        image = self._get(endpoint, image_id)
        if (image['status'] != 'active' or _stores(image) != stores
                or image['size'] != size):
            raise CaseFailed('image %s: status %s, stores %s, size %s; '
                             'expected active in %s with %d bytes'
                             % (image_id, image['status'],
                                image.get('stores'), image['size'],
                                sorted(stores), size))

    # -- set-up ----------------------------------------------------------

    def prepare(self, tiny: Path) -> None:
        """Create the base image the co-located case names: in 3 stores."""
        image_id = self._create(self.endpoint, self._image_name('base'))
        self._put(self.endpoint, image_id, tiny,
                  {placement.STORE_HEADER: self.stores[0]})
        self._call('POST', '%s/v2/images/%s/import' % (self.endpoint,
                                                       image_id), (202,),
                   json={'method': {'name': 'copy-image'},
                         'stores': list(self.stores[1:])})
        self._wait_stores(self.endpoint, image_id, set(self.stores), 120)
        self.base_image = image_id

    def keep_image(self, path: Path, size: int, store: str | None = None,
                   colocate: bool = False) -> str:
        """An image of ``path`` through the filter, kept; return its id.

        In ``store`` only, or (``colocate``) in every store of the base
        image made by :meth:`prepare`; delete it with :meth:`delete`.
        """
        image_id = self._create(self.endpoint, self._image_name('kept'))
        try:
            if colocate:
                headers = {placement.BASE_IMAGE_HEADER: self.base_image}
                expected = set(self.stores)
            else:
                headers = {placement.STORE_HEADER: store}
                expected = {store}
            self._put(self.endpoint, image_id, path, headers)
            self._expect(self.endpoint, image_id, expected, size)
        except BaseException:
            self.delete(image_id)
            raise
        return image_id

    def _wait_image(self, endpoint: str, image_id: str,
                    done: Callable[[dict], bool], what: str,
                    timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            image = self._get(endpoint, image_id)
            if done(image):
                return
            failed = image.get('os_glance_failed_import')
            if failed:
                raise CaseFailed('copy-image of %s failed in %s'
                                 % (image_id, failed))
            if time.monotonic() > deadline:
                raise CaseFailed('image %s: %s after %.0f s (stores %s)'
                                 % (image_id, what, timeout,
                                    image.get('stores')))
            time.sleep(0.05)

    def _wait_stores(self, endpoint: str, image_id: str, stores: set[str],
                     timeout: float) -> None:
        self._wait_image(endpoint, image_id,
                         lambda image: stores <= _stores(image),
                         'not in %s' % sorted(stores), timeout)

    def _wait_import_finished(self, endpoint: str, image_id: str,
                              timeout: float) -> None:
        """Until the import task has let go of the image.

        Glance's copy-image task still updates the image's properties
        after the last store is listed; deleting the image before that
        fails with a 500 (conflicting updates of ``image_properties``).
        """
        self._wait_image(
            endpoint, image_id,
            lambda image: (not image.get('os_glance_importing_to_stores')
                           and 'os_glance_import_task' not in image),
            'import task still running', timeout)

    # -- the cases -------------------------------------------------------

    def _single(self, endpoint: str, path: Path, size: int) -> float:
        image_id = self._create(endpoint, self._image_name('single'))
        try:
            start = time.monotonic()
            self._put(endpoint, image_id, path, self._primary_headers())
            seconds = time.monotonic() - start
            self._expect(endpoint, image_id, {self.stores[0]}, size)
            return seconds
        finally:
            self.delete(image_id)

    def single_without_filter(self, path: Path, size: int) -> float:
        """One store (the default), upstream's pipeline."""
        return self._single(self.plain_endpoint, path, size)

    def single_with_filter(self, path: Path, size: int) -> float:
        """One store (the default), through the filter."""
        return self._single(self.endpoint, path, size)

    def colocated(self, path: Path, size: int) -> float:
        """Every store of the base image from one request (the filter)."""
        image_id = self._create(self.endpoint, self._image_name('colocated'))
        try:
            start = time.monotonic()
            resp = self._put(self.endpoint, image_id, path,
                             {placement.BASE_IMAGE_HEADER: self.base_image})
            seconds = time.monotonic() - start
            failed = resp.headers.get('X-Image-Stores-Failed')
            if failed:
                raise CaseFailed('co-located upload failed in %s' % failed)
            self._expect(self.endpoint, image_id, set(self.stores), size)
            return seconds
        finally:
            self.delete(image_id)

    def upstream_copy_image(self, path: Path, size: int) -> float:
        """Upstream: upload to one store, copy-image to the others.

        Timed until the image lists every store.
        """
        endpoint = self.plain_endpoint
        image_id = self._create(endpoint, self._image_name('copy-image'))
        try:
            start = time.monotonic()
            self._put(endpoint, image_id, path, self._primary_headers())
            self._call('POST', '%s/v2/images/%s/import' % (endpoint,
                                                           image_id),
                       (202,), json={'method': {'name': 'copy-image'},
                                     'stores': list(self.stores[1:])})
            self._wait_stores(endpoint, image_id, set(self.stores), 1800)
            seconds = time.monotonic() - start
            self._wait_import_finished(endpoint, image_id, 300)
            self._expect(endpoint, image_id, set(self.stores), size)
            return seconds
        finally:
            self.delete(image_id)

    def dd_fsync(self, path: Path, size: int) -> float:
        """The raw limit: ``dd conv=fsync`` into the 3 folders at once."""
        name = 'cms-bench-dd-%s' % uuid.uuid4().hex
        targets = [Path(self.store_dirs[s]) / name for s in self.stores]
        try:
            start = time.monotonic()
            procs = [subprocess.Popen(
                ['dd', 'if=%s' % path, 'of=%s' % target, 'bs=4M',
                 'conv=fsync', 'status=none']) for target in targets]
            codes = [proc.wait() for proc in procs]
            seconds = time.monotonic() - start
            if any(codes) or any(t.stat().st_size != size for t in targets):
                raise CaseFailed('dd into %s failed (exit codes %s)'
                                 % (', '.join(map(str, targets)), codes))
            return seconds
        finally:
            for target in targets:
                target.unlink(missing_ok=True)
