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

"""Many concurrent uploads of mixed rules and sizes on the real Glance.

Each upload lands exactly where the placement rules say (the image's
``stores``, the files in the store folders, the checksum of the data sent),
rejected ones leave nothing behind, and the Glance workers give back the
threads and (within a bound) the memory that the co-located copies used.
The bound on memory is printed with what was measured; nothing is timed.

On glance-api's eventlet server, co-located uploads logging at debug level
from green and native threads at once leave every worker answering.
"""

import concurrent.futures
import dataclasses
import hashlib
import random
import threading
import time
import uuid

from glanceclient import exc as glance_exc
import pytest

from cinder_multistore.glance import green_logging
from cinder_multistore import placement
from tests.functional import cloud
from tests.functional import glance_instances
from tests.functional import probes


MIB = probes.MIB
UPLOADS = 36
SIZES_MIB = (1, 2, 4, 8, 16, 24, 32, 48, 64)
#: The whole run, uploads and checks.
OVERALL = 600.0
SETTLE = 30.0
COLOCATED = ['alpha', 'beta', 'gamma']
#: Memory one co-located copy may hold (buffer_chunks blocks of 1 MiB).
COPY_BUFFER_MIB = 8
RSS_SLACK_MIB = 150


@dataclasses.dataclass
class Case:
    """One upload: its headers, size and where it must land."""

    number: int
    headers: dict
    size: int
    chunked: bool
    expected: list | None  # None: rejected with a 400
    image_id: str = ''
    md5: str = ''
    status: int = 0
    text: str = ''
    written: list = dataclasses.field(default_factory=list)

    def __str__(self):
        return '#%d %s %d MiB %s -> %s' % (
            self.number, self.headers or '{}', self.size // MIB,
            'chunked' if self.chunked else 'length', self.expected)


def _body(seed, size, chunked):
    """Seeded data; chunked bodies are sent as an iterator of 1 MiB."""
    data = random.Random(seed).randbytes(size)
    if chunked:
        return data, iter([data[i:i + MIB] for i in range(0, size, MIB)])
    return data, data


def _cases(bases, default):
    rules = [
        ({placement.STORE_HEADER: 'beta'}, ['beta']),
        ({placement.STORE_HEADER: 'gamma'}, ['gamma']),
        ({placement.BASE_IMAGE_HEADER: bases[0]}, COLOCATED),
        ({placement.BASE_IMAGE_HEADER: bases[1]}, COLOCATED),
        ({placement.BASE_IMAGE_HEADER: bases[2]}, COLOCATED),
        ({}, [default]),
        ({placement.STORE_HEADER: 'gamma',
          placement.BASE_IMAGE_HEADER: bases[0]}, ['gamma']),
        ({placement.BASE_IMAGE_HEADER: str(uuid.uuid4())}, [default]),
        ({placement.STORE_HEADER: 'os_glance_staging_store'}, None),
        ({placement.STORE_HEADER: 'no-such-store',
          placement.BASE_IMAGE_HEADER: bases[1]}, None),
    ]
    cases = []
    for n in range(UPLOADS):
        headers, expected = rules[n % len(rules)]
        size = SIZES_MIB[(n * 5) % len(SIZES_MIB)] * MIB
        cases.append(Case(n, dict(headers), size, chunked=n % 3 == 0,
                          expected=expected))
    return cases


@pytest.fixture(scope='module')
def base_images(demo):
    """Three active images of the demo project in alpha, beta and gamma."""
    made = [demo.image_in(random.randbytes(4096), COLOCATED)['id']
            for _ in range(3)]
    yield made
    for image_id in made:
        demo.glance.images.delete(image_id)


class Sampler(threading.Thread):
    """Records the Glance workers' peak threads and RSS while it runs."""

    def __init__(self, env):
        super().__init__(daemon=True)
        self.env = env
        self.peak_threads = self.peak_rss_kib = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            usage = probes.glance_usage(self.env)
            self.peak_threads = max(self.peak_threads, usage.threads)
            self.peak_rss_kib = max(self.peak_rss_kib, usage.rss_kib)
            self.done.wait(0.2)


def _upload(demo, case):
    image = demo.create(name='cms-load-%d' % case.number)
    case.image_id = image.id
    data, body = _body(case.number, case.size, case.chunked)
    case.md5 = hashlib.md5(data).hexdigest()
    resp = demo.upload(image.id, body, headers=case.headers)
    case.status = resp.status_code
    case.text = resp.text[:300]
    case.written = cloud.written(resp)
    return case


def _check(env, demo, case):
    """What is wrong with where the case landed, or None."""
    image = demo.get(case.image_id)
    files = probes.store_md5s(env, case.image_id)
    stray = probes.leftovers(env, case.image_id)
    if case.expected is None:
        if case.status != 400:
            return 'expected 400, got %d %s' % (case.status, case.text)
        if image['status'] != 'queued' or stray:
            return 'rejected but image %s, files %s' % (image['status'],
                                                        stray)
        return None
    if case.status != 204:
        return 'expected 204, got %d %s' % (case.status, case.text)
    want = {s: case.md5 for s in case.expected}
    problems = []
    if case.written != case.expected:
        problems.append('X-Image-Stores-Written %s' % case.written)
    if image['status'] != 'active':
        problems.append('image %s' % image['status'])
    if cloud.stores_of(image) != case.expected:
        problems.append('stores %s' % image.get('stores'))
    if image.get('checksum') != case.md5:
        problems.append('checksum %s != md5 sent %s'
                        % (image.get('checksum'), case.md5))
    if image.get('size') != case.size:
        problems.append('size %s' % image.get('size'))
    if files != want:
        problems.append('files %s' % files)
    if set(stray) != set(case.expected):
        problems.append('stray files %s' % stray)
    return '; '.join(problems) or None


#: Green threads of a worker of Glance's eventlet server (the pool size of
#: ``glance.common.wsgi.Server``, which ``glance-api`` starts).
EVENTLET_POOL = 1000


def _slots(env):
    """Requests the Glance server runs at once.

    uwsgi: processes x threads. The eventlet ``glance-api``: workers x its
    green pool, so every upload of the test can be in flight at once.
    """
    if env.stack.glance_server == 'eventlet':
        workers = probes.children(probes.glance_master(env))
        return max(len(workers), 1) * EVENTLET_POOL
    with open('/proc/%d/cmdline' % probes.glance_master(env), 'rb') as f:
        argv = f.read().decode().split('\0')
    value = {argv[i]: argv[i + 1] for i in range(len(argv) - 1)
             if argv[i].startswith('--')}
    return int(value.get('--processes', 1)) * int(value.get('--threads', 1))


def test_concurrent_mixed_uploads(stack_env, demo, base_images):
    default = stack_env.glance.default_store
    # Warm up both workers on every path (co-located, single, rejected),
    # so that lazily made threads exist before the baseline.
    warm = [Case(100 + n, {placement.BASE_IMAGE_HEADER: base_images[0]}
                 if n % 2 else {}, MIB, chunked=n % 4 < 2, expected=None)
            for n in range(8)]
    with concurrent.futures.ThreadPoolExecutor(len(warm)) as pool:
        list(pool.map(lambda c: _upload(demo, c), warm))
    for case in warm:
        demo.glance.images.delete(case.image_id)
    time.sleep(1)
    before = probes.wait_threads(stack_env, 0, timeout=3)

    log = probes.LogWindow(stack_env.glance.log)
    cases = _cases(base_images, default)
    colocated = sum(1 for c in cases if c.expected and len(c.expected) > 1)
    in_flight = min(_slots(stack_env), colocated) * (len(COLOCATED) - 1)
    sampler = Sampler(stack_env)
    sampler.start()
    began = time.monotonic()
    try:
        with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
            futures = [pool.submit(_upload, demo, c) for c in cases]
            done, late = concurrent.futures.wait(futures, timeout=OVERALL)
        elapsed = time.monotonic() - began
        assert not late, '%d uploads did not finish in %.0f s' % (
            len(late), OVERALL)
        for future in done:
            future.result()
        after = probes.wait_threads(stack_env, before.threads, SETTLE)
        # Memory freed by the copy threads shows some time after they end.
        time.sleep(1)
        after = probes.glance_usage(stack_env)
    finally:
        sampler.done.set()
        sampler.join()
    try:
        problems = ['%s: %s' % (c, p) for c in cases
                    for p in [_check(stack_env, demo, c)] if p]
        growth = after.rss_mib - before.rss_mib
        bound = COPY_BUFFER_MIB * in_flight + RSS_SLACK_MIB
        sent = sum(c.size for c in cases) / MIB
        print('\n%d uploads (%d co-located, %d rejected), %.0f MiB sent '
              'in %.1f s' % (len(cases), colocated,
                             sum(1 for c in cases if c.expected is None),
                             sent, elapsed))
        print('before: %s\npeak:   %d threads, RSS %.1f MiB\nafter:  %s'
              % (before, sampler.peak_threads,
                 sampler.peak_rss_kib / 1024.0, after))
        print('RSS growth %.1f MiB, bound %d MiB (%d MiB x %d copies in '
              'flight + %d MiB)' % (growth, bound, COPY_BUFFER_MIB,
                                    in_flight, RSS_SLACK_MIB))
        # Uploads that succeed or are refused are not errors.
        errors = log.problems()
        assert not problems, '\n'.join(
            problems + ['Glance\'s log:'] + errors[:40])
        assert not errors, '\n'.join(errors[:40])
        assert after.pids == before.pids, 'a Glance worker was respawned'
        assert after.threads <= before.threads, (
            'threads: %d before, %d after' % (before.threads,
                                              after.threads))
        assert growth < bound
    finally:
        for case in cases:
            try:
                demo.glance.images.delete(case.image_id)
            except glance_exc.HTTPNotFound:
                pass
        for case in cases:
            assert probes.wait_no_leftovers(stack_env, case.image_id,
                                            SETTLE) == {}


#: Co-located uploads at once on the debug-logging eventlet glance-api.
LOGGING_UPLOADS = 32
LOGGING_SIZE = 4 * MIB
#: Seconds an upload may take; a hung worker never answers.
LOGGING_UPLOAD_TIMEOUT = 180
#: Seconds GET /v2/images may take after the uploads.
ANSWER_WITHIN = 5.0
#: GETs after the uploads: enough to reach every worker (Connection:
#: close, the kernel spreads the connections).
LOGGING_GETS = 12


@pytest.fixture(scope='module')
def debug_eventlet_glance(stack_env, demo):
    """A fresh eventlet glance-api with ``debug = True``.

    Fresh, so that every logger's level cache is empty: the first log
    calls of each logger, green and native alike, take logging's module
    lock during the uploads.
    """
    if stack_env.stack.glance_server != 'eventlet':
        pytest.skip('only the eventlet glance-api (Glance 30, 31) runs '
                    'green and native threads in one process')
    name = 'glance-debug-%s' % uuid.uuid4().hex[:8]
    endpoint = glance_instances.start(stack_env, name,
                                      {'DEFAULT': {'debug': True}})
    return name, glance_instances.client_on(demo, endpoint)


def _chunked_upload(client, base_id, number):
    """A co-located upload without a size: chunked, no Content-Length."""
    image = client.create(name='cms-load-logging-%d' % number)
    data = random.Random(number).randbytes(LOGGING_SIZE)
    resp = client.session.put(
        '%s/v2/images/%s/file' % (client.endpoint, image.id),
        data=iter([data[i:i + MIB] for i in range(0, len(data), MIB)]),
        headers={'Content-Type': 'application/octet-stream',
                 placement.BASE_IMAGE_HEADER: base_id},
        raise_exc=False, timeout=LOGGING_UPLOAD_TIMEOUT)
    return image.id, resp.status_code, cloud.written(resp), resp.text[:300]


def test_debug_logging_from_copy_writers_never_hangs_a_worker(
        stack_env, debug_eventlet_glance, base_images):
    name, client = debug_eventlet_glance
    log = probes.LogWindow(str(glance_instances.log_path(stack_env, name)))
    before = probes.glance_usage(stack_env, name)
    results = []
    try:
        with concurrent.futures.ThreadPoolExecutor(LOGGING_UPLOADS) as pool:
            futures = [pool.submit(_chunked_upload, client,
                                   base_images[n % len(base_images)], n)
                       for n in range(LOGGING_UPLOADS)]
            done, late = concurrent.futures.wait(
                futures, timeout=LOGGING_UPLOAD_TIMEOUT + 30)
            results = [f.result() for f in done]
        assert not late, '%d of %d uploads never answered' % (
            len(late), LOGGING_UPLOADS)
        wrong = [r for r in results if r[1] != 204 or r[2] != COLOCATED]
        assert not wrong, wrong
        slow = []
        for _ in range(LOGGING_GETS):
            began = time.monotonic()
            resp = client.session.get(client.endpoint + '/v2/images',
                                      raise_exc=False,
                                      timeout=ANSWER_WITHIN * 4)
            took = time.monotonic() - began
            assert resp.status_code == 200, resp.text[:300]
            if took > ANSWER_WITHIN:
                slow.append(round(took, 1))
        assert not slow, 'GET /v2/images took %s s' % slow
        # Every copy writer ended: none waits for a lock forever.
        deadline = time.monotonic() + SETTLE
        after = probes.glance_usage(stack_env, name)
        while (after.threads > before.threads
               and time.monotonic() < deadline):
            time.sleep(0.5)
            after = probes.glance_usage(stack_env, name)
        assert after.pids == before.pids, 'a Glance worker was respawned'
        assert after.threads <= before.threads, (
            'threads: %s before, %s after' % (before, after))
        # Debug logging really ran in the copy writers, and the workers
        # shared their logging locks before starting them.
        assert log.lines('DEBUG'), 'no debug line in %s' % log.path
        assert log.lines(green_logging.SHARED_MESSAGE), (
            'no worker shared its logging locks')
        stuck = log.lines('Cannot switch to a different thread')
        assert not stuck, stuck[:5]
        assert not log.problems(), log.problems()[:40]
    finally:
        for image_id, *_ in results:
            try:
                client.glance.images.delete(image_id)
            except glance_exc.HTTPNotFound:
                pass
