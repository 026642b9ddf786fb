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

"""``cinder-multistore demo``: the placement cases on a real cloud.

Starts the embedded cloud, runs Cinder's upload-to-image REST action for
each case of the rules table and prints where every image landed, whether
the copies are identical, and how long each upload took. Then, when the
cloud runs the two Ceph sites, the story co-location is for: a volume at
the edge site cloned from a base image held at both sites, uploaded to an
image made in the edge cluster without streaming and copied to the central
one by Glance, so that a volume from it at the central site is a
copy-on-write clone too, against the full copy of an image held at the edge
only; and the zero-copy upload of an edge volume next to the streamed
upload of the same volume to the other site.
"""

from collections.abc import Callable
import contextlib
import os
import sys
import tempfile
import threading
import time

from cinder_multistore import placement
from cinder_multistore_lab.bench import rbd_cases
from cinder_multistore_lab import shell_hints
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab import workflow


CASES = [
    # title, volume type store, from base image?, expected stores
    ('store from the volume type', 'gamma', False, ['gamma']),
    ('co-location with the base image', None, True, ['beta', 'gamma']),
    ('store beats base image', 'alpha', True, ['alpha']),
    ('default store', None, False, ['alpha']),
]


class Status:
    """A live status line: the step and the seconds it has been running."""

    def __init__(self, stream=sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._text = ''
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> 'Status':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._tty:
            self._stream.write('\r\033[K')
        self._stream.flush()

    def step(self, text: str) -> None:
        """Show a new step; without a terminal, print it on its own line."""
        self._text, self._start = text, time.monotonic()
        if not self._tty:
            self._stream.write('... %s\n' % text)
            self._stream.flush()

    def _tick(self) -> None:
        spinner = '|/-\\'
        i = 0
        while not self._stop.wait(0.2):
            if self._tty and self._text:
                self._stream.write('\r\033[K%s %s (%.0fs)' % (
                    spinner[i % 4], self._text,
                    time.monotonic() - self._start))
                self._stream.flush()
                i += 1


def _run_case(cloud: workflow.Cloud, status: Status, title: str,
              type_id: str, base_id: str | None,
              images: list[str]) -> dict:
    status.step('%s: creating the volume' % title)
    vol = cloud.volume(1, volume_type=type_id, image_id=base_id,
                       name='cms-demo')
    headers = cloud.headers_for(vol.id)
    status.step('%s: upload-to-image' % title)
    start = time.monotonic()
    _, body = cloud.cinder.volumes.upload_to_image(
        cloud.cinder.volumes.get(vol.id), False,
        'cms-demo-%s' % title.split()[0], 'bare', 'raw', 'private', False)
    images.append(body['os-volume_upload_image']['image_id'])
    cloud.wait_volume(vol.id, timeout=600)
    image = cloud.wait_image(images[-1], timeout=600)
    seconds = time.monotonic() - start
    digests = cloud.store_digests(image['id'])
    stores = workflow.image_stores(image)
    same = (sorted(digests) == sorted(stores)
            and set(digests.values()) == {image['checksum']})
    status.step('%s: cleaning up' % title)
    cloud.cinder.volumes.delete(vol.id)
    cloud.glance.images.delete(image['id'])
    return {'case': title, 'headers': headers, 'stores': stores,
            'identical': same, 'seconds': seconds}


def run_cases(env: StackEnv, status: Status) -> list[dict]:
    """Run the four cases; return one row per case."""
    cloud = workflow.Cloud(env)
    status.step('creating a base image in beta and gamma')
    base = cloud.image_in_stores(os.urandom(1024 * 1024), ['beta', 'gamma'],
                                 name='cms-demo-base')
    types = {}
    rows = []
    images = [base['id']]
    try:
        for title, store, from_base, expected in CASES:
            if store not in types:
                types[store] = cloud.volume_type(
                    'cms-demo-%s' % (store or 'nostore'), store)
            row = _run_case(cloud, status, title, types[store],
                            base['id'] if from_base else None, images)
            row['expected'] = expected
            rows.append(row)
    finally:
        volumes = [v.id for v in cloud.cinder.volumes.list()
                   if v.name == 'cms-demo']
        try:
            _cleanup(cloud, volumes, images)
        finally:
            for type_id in types.values():
                cloud.delete_volume_type(type_id)
    return rows


# -- Ceph, two sites ---------------------------------------------------------

#: The site of the uploaded volume, and the other site.
EDGE, CENTRAL = 'edge', 'central'
#: The snapshot glance_store's rbd driver makes of every image.
SNAP = 'snap'
BASE_SIZE = 8 << 20
#: Bytes written into the volumes of the zero-copy and streamed uploads.
WRITTEN = 64 << 20


def ceph_missing(env: StackEnv) -> str | None:
    """Why the Ceph story cannot run on this cloud, or None."""
    sites = env.ceph_sites
    if CENTRAL not in sites or EDGE not in sites:
        return ('the cloud runs without the Ceph sites %s and %s'
                % (CENTRAL, EDGE))
    if env.cinder is None or EDGE not in env.cinder.sites:
        return 'the cloud runs without Cinder RBD backends'
    try:
        import rados  # noqa: F401
        import rbd  # noqa: F401
    except ImportError:
        return ("Python's rados and rbd bindings are not installed "
                '(Debian python3-rados, python3-rbd)')
    return None


@contextlib.contextmanager
def _rbd_image(env: StackEnv, site: str, pool: str, name: str):
    """A read-only look at an RBD image as the site's client.admin."""
    import rbd

    from cinder_multistore_lab.stack import ceph
    with ceph.admin_ioctx(env, site, pool) as ctx:
        with rbd.Image(ctx, name, read_only=True) as image:
            yield image


def _write_random(env: StackEnv, site: str, volume_id: str,
                  size: int) -> None:
    """Write ``size`` random bytes at the start of a volume."""
    import rbd

    from cinder_multistore_lab.stack import ceph
    with ceph.admin_ioctx(env, site, env.ceph.volumes_pool) as ctx:
        with rbd.Image(ctx, 'volume-%s' % volume_id) as image:
            for offset in range(0, size, 4 << 20):
                image.write(os.urandom(4 << 20), offset)
            image.flush()


def rbd_parent(env: StackEnv, site: str, volume_id: str) -> str | None:
    """``pool/image@snap`` a volume's RBD image is cloned from, or None."""
    import rbd
    with _rbd_image(env, site, env.ceph.volumes_pool,
                    'volume-%s' % volume_id) as image:
        try:
            pool, name, snap = image.parent_info()
        except rbd.ImageNotFound:
            return None
    return '%s/%s@%s' % (pool, name, snap)


def rbd_copy(env: StackEnv, site: str, image_id: str) -> tuple[int, bool]:
    """``(size, protected)`` of ``images/<id>@snap``; (0, False) if none."""
    import rbd
    try:
        with _rbd_image(env, site, env.ceph.images_pool,
                        image_id) as image:
            if SNAP not in {s['name'] for s in image.list_snaps()}:
                return 0, False
            return image.size(), image.is_protected_snap(SNAP)
    except rbd.ImageNotFound:
        return 0, False


def _timed_volume(cloud: workflow.Cloud, created: list[str], site_type: str,
                  image_id: str) -> tuple[object, float]:
    start = time.monotonic()
    vol = cloud.cinder.volumes.create(1, name='cms-demo-ceph',
                                      volume_type=site_type,
                                      imageRef=image_id)
    created.append(vol.id)

    def available():
        found = cloud.cinder.volumes.get(vol.id)
        if found.status.startswith('error'):
            raise workflow.StepFailed('volume %s is %s' % (vol.id,
                                                           found.status))
        return found if found.status == 'available' else None
    # NOTE: polled every 50 ms: a clone is ready in about a second.
    vol = workflow.wait_for('volume %s' % vol.id, available, 900, 0.05)
    return vol, time.monotonic() - start


def _image_at_one_site(cloud: workflow.Cloud, created: list[str],
                       source_id: str, store: str) -> dict:
    """A copy of image ``source_id``'s data, written to ``store`` only."""
    image = cloud.glance.images.create(name='cms-demo-edge-only',
                                       disk_format='raw',
                                       container_format='bare')
    created.append(image.id)
    cloud.session.put(
        '%s/v2/images/%s/file' % (cloud.env.glance.endpoint, image.id),
        data=iter(cloud.glance.images.data(source_id)),
        headers={'Content-Type': 'application/octet-stream',
                 placement.STORE_HEADER: store})
    return cloud.wait_image(image.id)


def run_ceph_story(env: StackEnv, status: Status) -> dict:
    """The two-site story; every step as a row, and whether all held.

    Everything it creates is deleted again, also on failure.
    """
    why = ceph_missing(env)
    if why:
        return {'skipped': why, 'ok': True, 'steps': []}
    cloud = workflow.Cloud(env)
    stores = {site: env.glance.rbd_store(site)
              for site in (CENTRAL, EDGE)}
    both = [stores[CENTRAL], stores[EDGE]]
    types = {site: env.cinder.site(site).volume_type
             for site in (CENTRAL, EDGE)}
    images: list[str] = []
    volumes: list[str] = []
    steps: list[dict] = []

    def step(text: str, ok: bool, seconds: float | None = None,
             detail: str = '') -> None:
        steps.append({'step': text, 'ok': ok, 'seconds': seconds,
                      'detail': detail})
    try:
        status.step('Ceph: a base image in %s' % ', '.join(both))
        base = cloud.image_in_stores(os.urandom(BASE_SIZE), both,
                                     name='cms-demo-ceph-base')
        images.append(base['id'])
        step('base image %s (%d MiB) held at both sites'
             % (base['id'][:8], BASE_SIZE >> 20),
             workflow.image_stores(base) == both, None,
             'stores: %s' % ','.join(workflow.image_stores(base)))

        status.step('Ceph: a volume at %s from the base image' % EDGE)
        edge_vol, seconds = _timed_volume(cloud, volumes, types[EDGE],
                                          base['id'])
        parent = rbd_parent(env, EDGE, edge_vol.id)
        expected = '%s/%s@%s' % (env.ceph.images_pool, base['id'], SNAP)
        step('1 GiB volume at %s from it' % EDGE, parent == expected,
             seconds, 'COW clone, parent %s' % _short(parent))

        status.step('Ceph: upload-to-image of the %s volume' % EDGE)
        headers = cloud.headers_for(edge_vol.id)
        start = time.monotonic()
        image = cloud.upload(edge_vol.id, 'cms-demo-ceph-upload')
        seconds = time.monotonic() - start
        images.append(image['id'])
        here = workflow.image_stores(image)
        step('upload-to-image of it (Cinder API, %s)'
             % ', '.join('%s: %s' % (k, v[:8]) for k, v in headers.items()),
             stores[EDGE] in here, seconds,
             'image %s active in %s when the upload returns (made in the '
             "volume's cluster, no data streamed)"
             % (image['id'][:8], ','.join(here) or 'none'))

        status.step('Ceph: Glance copies the image to %s' % CENTRAL)
        image = _wait_stores(cloud, image['id'], both)
        both_s = time.monotonic() - start
        written = workflow.image_stores(image)
        copies = {site: rbd_copy(env, site, image['id'])
                  for site in (CENTRAL, EDGE)}
        proper = all(copy == (image['size'], True)
                     for copy in copies.values())
        step('copy to %s by Glance (copy-image import)' % CENTRAL,
             sorted(written) == sorted(both) and proper, both_s,
             'written: %s; failed: %s; a protected snapshot of %d MiB in '
             'each cluster: %s'
             % (','.join(written) or 'none',
                ','.join(image.get('os_glance_failed_import') or '')
                or 'none', image['size'] >> 20,
                'yes' if proper else 'NO (%s)' % copies))

        status.step('Ceph: a %s volume uploaded in its cluster, then '
                    'streamed to the other' % EDGE)
        zero_s, streamed_s = _zero_copy_and_streamed(
            cloud, env, volumes, images, stores, step)

        status.step('Ceph: a volume at %s from the new image' % CENTRAL)
        clone_vol, clone_s = _timed_volume(cloud, volumes, types[CENTRAL],
                                           image['id'])
        parent = rbd_parent(env, CENTRAL, clone_vol.id)
        expected = '%s/%s@%s' % (env.ceph.images_pool, image['id'], SNAP)
        step('volume at %s from the new image' % CENTRAL,
             parent == expected, clone_s,
             'COW clone, parent %s' % _short(parent))

        status.step('Ceph: an image held at %s only' % EDGE)
        edge_only = _image_at_one_site(cloud, images, image['id'],
                                       stores[EDGE])
        status.step('Ceph: a volume at %s from the %s-only image'
                    % (CENTRAL, EDGE))
        copy_vol, copy_s = _timed_volume(cloud, volumes, types[CENTRAL],
                                         edge_only['id'])
        parent = rbd_parent(env, CENTRAL, copy_vol.id)
        step('volume at %s from the same data held at %s only (image %s)'
             % (CENTRAL, EDGE, edge_only['id'][:8]), parent is None, copy_s,
             'full copy, no parent' if parent is None
             else 'parent %s' % parent)
        return {'steps': steps, 'ok': all(s['ok'] for s in steps),
                'clone_s': clone_s, 'copy_s': copy_s,
                'zero_copy_s': zero_s, 'streamed_s': streamed_s}
    finally:
        status.step('Ceph: cleaning up')
        _cleanup(cloud, volumes, images)


def _wait_stores(cloud: workflow.Cloud, image_id: str,
                 stores: list[str]) -> dict:
    """The image once in every one of ``stores``, or once Glance says a
    copy failed.
    """
    def copied():
        image = cloud.image(image_id)
        if (set(stores) <= set(workflow.image_stores(image))
                or image.get('os_glance_failed_import')):
            return image
        return None
    return workflow.wait_for('copies of image %s' % image_id, copied, 600,
                             0.2)


def _zero_copy_and_streamed(cloud: workflow.Cloud, env: StackEnv,
                            volumes: list[str], images: list[str],
                            stores: dict[str, str], step) -> tuple[float,
                                                                   float]:
    """A blank 1 GiB volume at the edge with 64 MiB written, uploaded to
    the edge store (zero copy) and to the central store (streamed: another
    cluster); the seconds of each.
    """
    seconds = {}
    for site in (EDGE, CENTRAL):
        vtype = rbd_cases.site_type(cloud, env, EDGE, stores[site])
        vol = None
        try:
            vol = cloud.volume(1, volume_type=vtype,
                               name='cms-demo-ceph-%s' % site)
            volumes.append(vol.id)
            _write_random(env, EDGE, vol.id, WRITTEN)
            start = time.monotonic()
            image = cloud.upload(vol.id, 'cms-demo-ceph-to-%s' % site)
            seconds[site] = time.monotonic() - start
            images.append(image['id'])
        finally:
            # NOTE: a type is deleted once no volume has it.
            if vol is not None:
                _wait_settled(cloud, vol.id)
                cloud.remove(volumes=[vol.id])
                volumes.remove(vol.id)
            cloud.delete_volume_type(vtype)
        same = site == EDGE
        step('1 GiB %s volume (%d MiB written) to the %s store%s'
             % (EDGE, WRITTEN >> 20, site,
                '' if same else ' (another cluster)'),
             workflow.image_stores(image) == [stores[site]], seconds[site],
             'zero copy: a copy-on-write clone in the volume\'s cluster'
             if same else 'streamed through cinder-volume and glance-api')
    return seconds[EDGE], seconds[CENTRAL]


def _short(parent: str | None) -> str:
    """``images/1234abcd@snap`` of a parent, or ``none``."""
    if parent is None:
        return 'none'
    pool, _, rest = parent.partition('/')
    name, _, snap = rest.partition('@')
    return '%s/%s@%s' % (pool, name[:8], snap)


def _wait_settled(cloud: workflow.Cloud, volume_id: str) -> None:
    """Wait until a volume may be deleted (not creating or uploading)."""
    from cinderclient import exceptions

    def settled() -> bool:
        try:
            vol = cloud.cinder.volumes.get(volume_id)
        except exceptions.NotFound:
            return True
        return vol.status in ('available', 'in-use') or (
            vol.status.startswith('error') and vol.status != 'error_deleting')
    workflow.wait_for('volume %s settled' % volume_id, settled, 900)


def _cleanup(cloud: workflow.Cloud, volumes: list[str],
             images: list[str]) -> None:
    """Volumes first (a clone holds its image's snapshot), then images."""
    from cinderclient import exceptions as cinder_exc
    from glanceclient import exc as glance_exc
    errors = []
    for volume_id in volumes:
        try:
            _wait_settled(cloud, volume_id)
            cloud.cinder.volumes.delete(volume_id)
        except cinder_exc.NotFound:
            pass
        except Exception as exc:
            errors.append('volume %s: %s' % (volume_id, exc))

    def gone() -> bool:
        present = {v.id for v in cloud.cinder.volumes.list()}
        return not present & set(volumes)
    try:
        workflow.wait_for('the demo volumes deleted', gone, 300)
    except workflow.StepFailed as exc:
        errors.append(str(exc))
    for image_id in reversed(images):
        try:
            cloud.glance.images.delete(image_id)
        except glance_exc.HTTPNotFound:
            pass
        except Exception as exc:
            errors.append('image %s: %s' % (image_id, exc))
    if errors:
        raise workflow.StepFailed('cleanup left: %s' % '; '.join(errors))


def format_ceph(result: dict) -> str:
    """The Ceph story, one line per step."""
    if result.get('skipped'):
        return ('Ceph, two sites: skipped, %s' % result['skipped'])
    lines = ['Ceph, two sites (%s, %s): co-location turns the other '
             "site's volume into a clone" % (CENTRAL, EDGE)]
    width = max(len(s['step']) for s in result['steps'])
    for n, s in enumerate(result['steps'], 1):
        lines.append('  %d. %s  %6s  %-2s  %s' % (
            n, s['step'].ljust(width),
            '' if s['seconds'] is None else '%.1f s' % s['seconds'],
            'ok' if s['ok'] else 'NO', s['detail']))
    if result.get('zero_copy_s') and result.get('streamed_s'):
        lines.append('  the zero-copy upload took %.1f s, the streamed one '
                     '%.1f s: %.0fx faster' % (
                         result['zero_copy_s'], result['streamed_s'],
                         result['streamed_s'] / result['zero_copy_s']))
    if result.get('clone_s') and result.get('copy_s'):
        lines.append('  the clone took %.1f s, the full copy %.1f s: %.0fx '
                     'faster' % (result['clone_s'], result['copy_s'],
                                 result['copy_s'] / result['clone_s']))
    return '\n'.join(lines)


def format_table(rows: list[dict]) -> str:
    """The result table, one line per case."""
    head = ('case', 'header sent', 'stores', 'identical', 'seconds', 'ok')
    lines = [head]
    for r in rows:
        header = ', '.join('%s: %s' % (k, v[:8] if 'base' in k else v)
                           for k, v in r['headers'].items()) or '(none)'
        lines.append((r['case'], header, ','.join(r['stores']),
                      'yes' if r['identical'] else 'NO',
                      '%.1f' % r['seconds'],
                      'yes' if r['stores'] == r['expected'] else 'NO'))
    widths = [max(len(str(line[i])) for line in lines)
              for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        out.append('  '.join(str(c).ljust(w) for c, w in zip(line, widths)))
        if n == 0:
            out.append('  '.join('-' * w for w in widths))
    return '\n'.join(out)


def keep_hint(directory: str) -> str:
    """How to use the cloud the demo left running, and how to stop it."""
    openstack = shell_hints.command('openstack')
    return ('\nThe cloud is still running in %s. Try:\n'
            '  source %s/stack.env\n'
            '  %s image list </dev/null\n'
            '  %s volume type list </dev/null\n'
            '  %s --os-volume-api-version 3.70 list\n'
            'Stop it with: %s\n'
            '(add --purge to remove its logs and store data too)'
            % (directory, directory, openstack, openstack,
               shell_hints.command('cinder'),
               shell_hints.stack_down(directory)))


def left_hint(directory: str, left: int) -> str:
    """Where the stopped demo's logs are, and how to remove them."""
    return ('\nThe cloud is stopped; its logs and data (%s) are left in %s. '
            'Remove them with: %s'
            % (shell_hints.size(left), directory,
               shell_hints.stack_down(directory, purge=True)))


def main(directory: str | None, keep: bool,
         up: Callable | None = None, down: Callable | None = None) -> int:
    """Start the cloud, run the cases, print the table; 0 when all hold."""
    from cinder_multistore_lab import stack
    up = up or stack.up
    down = down or stack.down
    directory = directory or tempfile.mkdtemp(prefix='cms-demo-')
    step = 'starting the embedded cloud'
    ok = False
    rows: list[dict] | None = None
    ceph: dict | None = None
    with Status() as status:
        try:
            status.step(step)
            up(directory)
            env = stack.load_env(directory)
            step = 'running the placement cases'
            rows = run_cases(env, status)
            ok = all(r['identical'] and r['stores'] == r['expected']
                     for r in rows)
            step = 'running the Ceph two-site story'
            ceph = run_ceph_story(env, status)
            ok = ok and ceph['ok']
        except Exception as exc:
            status.step('failed')
            print('\nFAILED while %s: %s\nLogs: %s/logs/'
                  % (step, exc, directory), file=sys.stderr)
            ok = False
    if rows:
        print(format_table(rows))
    if ceph:
        print('\n' + format_ceph(ceph))
    if rows:
        print('\nall cases as expected' if ok else '\nSOME CASES FAILED')
    if keep:
        print(keep_hint(directory))
    else:
        down(directory)
        print(left_hint(directory, stack.left_behind(directory)))
    return 0 if ok else 1
