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

"""Co-located uploads into the two Ceph sites while one site fails.

The base image lives in both rbd stores, so an upload that names it is
written to ``ceph-central`` (primary, by Glance's store order) and
``ceph-edge`` (secondary). The edge cluster then fails: its mon stopped
(clients cannot connect) or its OSD frozen (I/O hangs). The upload must end
in bounded time, name the failed store, and leave no RBD image or snapshot
behind in either cluster. Runs on extra glance-api instances with a short
``copy_stall_timeout`` (and one with ``colocation_required``). With the
edge frozen, the worker's memory shows the secondary queues bounded in
bytes (``buffer_chunks`` MiB) although the rbd primary reads 8 MiB at a
time.
"""

import concurrent.futures
import os
import threading
import time
import uuid

import pytest

from cinder_multistore_lab.stack import ceph as stack_ceph
from tests.functional import ceph_probes
from tests.functional import cloud
from tests.functional import glance_instances
from tests.functional import probes


MIB = 1 << 20
STALL_TIMEOUT = 15
#: Bound of a failed co-located upload: the stall timeout, rados' own
#: timeouts (connect 10 s) and the data, with margin for a busy machine.
BOUND = 90


@pytest.fixture(scope='module')
def sites(stack_env):
    names = ceph_probes.sites(stack_env)
    if names[:2] != ['central', 'edge']:
        pytest.skip('the stack runs without the two Ceph sites')
    return names


@pytest.fixture(scope='module')
def best_effort(stack_env, sites, demo):
    endpoint = glance_instances.start(stack_env, 'glance-rbd-faults', {
        'multistore_filter': {'copy_stall_timeout': STALL_TIMEOUT}})
    return glance_instances.client_on(demo, endpoint)


@pytest.fixture(scope='module')
def quick_to_drop(stack_env, sites, demo):
    # Shorter than the Ceph clients' own timeouts: the filter, not the
    # store driver, gives up on the frozen cluster.
    endpoint = glance_instances.start(stack_env, 'glance-rbd-stall', {
        'multistore_filter': {'copy_stall_timeout': 3}})
    return glance_instances.client_on(demo, endpoint)


@pytest.fixture(scope='module')
def required(stack_env, sites, demo):
    endpoint = glance_instances.start(stack_env, 'glance-rbd-required', {
        'multistore_filter': {'copy_stall_timeout': STALL_TIMEOUT,
                              'colocation_required': 'true'}})
    return glance_instances.client_on(demo, endpoint)


@pytest.fixture(scope='module')
def base(stack_env, sites, demo):
    stores = [ceph_probes.store(stack_env, s) for s in sites]
    image = demo.image_in(os.urandom(MIB), stores)
    yield image
    demo.glance.images.delete(image['id'])


def _upload(client, base_id, size=24 * MIB):
    image = client.create(name='cms-rbd-fault-%s' % uuid.uuid4().hex[:8])
    began = time.monotonic()
    resp = client.upload(image.id, os.urandom(size), base=base_id)
    return image.id, resp, time.monotonic() - began


def _upload_while(env, client, base_id, fault):
    """Upload next to ``base_id`` while the edge site suffers ``fault``.

    :param fault: ``mon-down`` (mon stopped) or ``osd-frozen`` (SIGSTOP);
        undone before returning, whatever happened.
    """
    directory = env.directory
    break_it, repair = {
        'mon-down': (stack_ceph.stop_mon, stack_ceph.start_mon),
        'osd-frozen': (stack_ceph.pause_osd, stack_ceph.resume_osd),
    }[fault]
    break_it(directory, 'edge')
    try:
        image_id, resp, seconds = _upload(client, base_id)
    finally:
        repair(directory, 'edge')
    assert seconds < BOUND
    return image_id, resp


def _edge_left_nothing(env, image_id):
    ceph_probes.wait_healthy(env, 'edge')
    assert ceph_probes.wait_gone(env, 'edge', image_id), (
        'RBD image %s left in the edge cluster' % image_id)


def test_edge_down_completes_in_central(stack_env, best_effort, base):
    image_id, resp = _upload_while(stack_env, best_effort, base['id'],
                                   'mon-down')
    assert resp.status_code == 204, resp.text
    assert cloud.written(resp) == ['ceph-central']
    assert cloud.failed(resp) == ['ceph-edge']
    image = best_effort.wait(image_id)
    assert cloud.stores_of(image) == ['ceph-central']
    assert ceph_probes.snapshot(stack_env, 'central', image_id) == (
        image['size'], True)
    _edge_left_nothing(stack_env, image_id)
    best_effort.glance.images.delete(image_id)
    assert ceph_probes.wait_gone(stack_env, 'central', image_id)


def test_edge_stalled_is_dropped_after_the_stall_timeout(stack_env,
                                                         quick_to_drop,
                                                         base):
    log = glance_instances.log_path(stack_env, 'glance-rbd-stall')
    image_id, resp = _upload_while(stack_env, quick_to_drop, base['id'],
                                   'osd-frozen')
    assert resp.status_code == 204, resp.text
    assert cloud.failed(resp) == ['ceph-edge']
    assert cloud.stores_of(quick_to_drop.wait(image_id)) == ['ceph-central']
    reasons = [line for line in log.read_text().splitlines()
               if image_id in line and 'ceph-edge failed' in line]
    assert reasons and 'CopyStalled' in reasons[-1], reasons
    # The abandoned writer ends when the frozen cluster's call returns,
    # and the store driver removes what it created.
    _edge_left_nothing(stack_env, image_id)
    quick_to_drop.glance.images.delete(image_id)


def test_edge_down_fails_a_required_colocation_cleanly(stack_env, required,
                                                       base):
    image_id, resp = _upload_while(stack_env, required, base['id'],
                                   'mon-down')
    # Glance's own status for the store's error: 410 when glance_store
    # could not configure the store (it disables adding to it), 503 for a
    # timeout.
    assert resp.status_code in (410, 503), resp.text
    assert cloud.failed(resp) == ['ceph-edge']
    image = required.get(image_id)
    assert image['status'] == 'queued'
    assert cloud.stores_of(image) == []
    assert ceph_probes.wait_gone(stack_env, 'central', image_id)
    _edge_left_nothing(stack_env, image_id)
    required.glance.images.delete(image_id)


#: The bound test: secondary queues of ``BOUND_CHUNKS`` MiB each, uploads
#: of ``BOUND_SIZE`` (more than the queues and Glance's reads can hold),
#: ``BOUND_UPLOADS`` at once.
BOUND_CHUNKS = 16
BOUND_SIZE = 96 * MIB
BOUND_UPLOADS = 6
#: What glance_store's rbd driver reads at a time (rbd_store_chunk_size).
RBD_CHUNK_MIB = 8
#: Reads of that size one stalled upload holds besides its queue: the tee's
#: block, the primary's read and librbd's copy of it, the secondary's read
#: (joined from the queue) and librbd's copy of it, waiting on the frozen
#: OSD.
READS_IN_FLIGHT = 5
#: Allocator and interpreter noise of a worker, whatever the uploads hold.
RSS_SLACK_MIB = 100


@pytest.fixture(scope='module')
def bounded(stack_env, sites, demo):
    endpoint = glance_instances.start(stack_env, 'glance-rbd-bound', {
        'multistore_filter': {'copy_stall_timeout': STALL_TIMEOUT,
                              'buffer_chunks': BOUND_CHUNKS}})
    return glance_instances.client_on(demo, endpoint)


def test_a_stalled_secondary_holds_buffer_chunks_mib_with_an_rbd_primary(
        stack_env, bounded, base):
    # The rbd primary reads 8 MiB at a time: each stalled copy may hold
    # buffer_chunks MiB in its queue (not buffer_chunks reads of 8 MiB),
    # plus the reads in flight (READS_IN_FLIGHT).
    name = 'glance-rbd-bound'
    warm, _, _ = _upload(bounded, base['id'], size=MIB)  # warm the path
    bounded.glance.images.delete(warm)
    before = probes.glance_usage(stack_env, name)
    peak = [before.rss_kib]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0],
                          probes.glance_usage(stack_env, name).rss_kib)
            done.wait(0.2)
    sampler = threading.Thread(target=sample, daemon=True)
    stack_ceph.pause_osd(stack_env.directory, 'edge')
    sampler.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(BOUND_UPLOADS) as pool:
            results = list(pool.map(
                lambda _: _upload(bounded, base['id'], size=BOUND_SIZE),
                range(BOUND_UPLOADS)))
    finally:
        done.set()
        sampler.join()
        stack_ceph.resume_osd(stack_env.directory, 'edge')
    growth_mib = (peak[0] - before.rss_kib) / 1024.0
    in_flight = READS_IN_FLIGHT * RBD_CHUNK_MIB
    bound = BOUND_UPLOADS * (BOUND_CHUNKS + in_flight) + RSS_SLACK_MIB
    print('\n%d uploads stalled on the edge: worker RSS grew %.1f MiB at '
          'the peak, bound %d MiB (%d x (%d MiB queue + %d MiB reads) + %d '
          'MiB); queues of %d reads of %d MiB would hold %d MiB alone'
          % (BOUND_UPLOADS, growth_mib, bound, BOUND_UPLOADS, BOUND_CHUNKS,
             in_flight, RSS_SLACK_MIB, BOUND_CHUNKS, RBD_CHUNK_MIB,
             BOUND_UPLOADS * BOUND_CHUNKS * RBD_CHUNK_MIB))
    for image_id, resp, _ in results:
        assert resp.status_code == 204, resp.text
        assert cloud.failed(resp) == ['ceph-edge']
    assert growth_mib <= bound
    for image_id, _, _ in results:
        _edge_left_nothing(stack_env, image_id)
        bounded.glance.images.delete(image_id)
