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

"""The fan-out in a monkey-patched process (glance-api's eventlet server).

Glance 30 and 31 ship an eventlet ``glance-api`` that monkey-patches
``threading``, ``queue`` and ``time`` before it loads the paste pipeline.
A store driver that blocks in native code (librbd on a frozen OSD) must not
stop the worker's other green threads, the stall timeout must still
abandon it, and the writer is a native thread that can be reniced.

Monkey-patching cannot be undone, so each scenario runs in a subprocess.
"""

import json
import subprocess
import sys

import pytest


def _scenario(name: str) -> dict:
    import eventlet
    eventlet.monkey_patch()

    import io
    import os
    import threading
    import time

    from eventlet import patcher

    from cinder_multistore.glance import fanout

    native_time = patcher.original('time')
    native_threading = patcher.original('threading')
    out: dict = {}

    def heartbeat(ticks, stop):
        # Another request of the same worker: a green thread that must keep
        # running while a store blocks.
        while not stop:
            ticks.append(time.monotonic())
            eventlet.sleep(0.01)

    if name == 'blocked-store':
        def blocked(reader):
            native_time.sleep(3)   # the store blocks in native code
            return 'late-copy'
        discarded = []
        writer = fanout.StoreWriter('edge', blocked, depth=1,
                                    discard=discarded.append)
        writer.start()
        ticks, stop = [], []
        beat = eventlet.spawn(heartbeat, ticks, stop)
        tee = fanout.TeeInput(io.BytesIO(b'x' * (4 << 20)),
                              lambda: [writer], block_size=1 << 20,
                              stall_timeout=0.3)
        began = time.monotonic()
        data = tee.read()
        tee.finish(complete=True)
        out['seconds'] = time.monotonic() - began
        out['read'] = len(data)
        out['abandoned'] = writer.abandoned
        out['error'] = type(writer.error).__name__
        eventlet.sleep(0.2)
        stop.append(1)
        beat.wait()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        out['max_gap'] = max(gaps) if gaps else None
        out['ticks'] = len(ticks)
        writer.join(10)
        out['discarded'] = discarded
        out['alive'] = writer.is_alive()
    elif name == 'native-writer':
        before = os.getpriority(os.PRIO_PROCESS,
                                native_threading.get_native_id())
        seen = []

        def write(reader):
            seen.append((native_threading.get_native_id(),
                         os.getpriority(os.PRIO_PROCESS,
                                        native_threading.get_native_id())))
            return reader.read()
        writer = fanout.StoreWriter('beta', write, depth=2, nice=3)
        writer.start()
        tee = fanout.TeeInput(io.BytesIO(b'y' * 5000), lambda: [writer])
        assert tee.read() == b'y' * 5000
        tee.finish(complete=True)
        out['result'] = len(writer.result)
        out['green_threading'] = threading.Thread is not None and (
            fanout._green_threads())
        out['own_thread'] = seen[0][0] != native_threading.get_native_id()
        out['writer_nice'] = seen[0][1] - before
        out['request_nice'] = os.getpriority(
            os.PRIO_PROCESS, native_threading.get_native_id()) - before
        import logging
        out['logging_lock'] = type(logging._lock).__name__
    elif name == 'tpool-store':
        # glance_store 4.9's rbd driver: image create and remove through
        # eventlet's tpool, from the writer's thread.
        from eventlet import tpool

        class Images:
            def create(self, name):
                return 'created %s' % name

            def remove(self, name):
                return 'removed %s' % name

        def write(reader):
            created = tpool.Proxy(Images()).create('img')
            reader.read()
            return created
        discarded = []

        def discard(result):
            discarded.append(tpool.Proxy(Images()).remove('img'))
        writer = fanout.StoreWriter('edge', write, depth=2,
                                    discard=discard)
        writer.start()
        tee = fanout.TeeInput(io.BytesIO(b'z' * 1000), lambda: [writer],
                              stall_timeout=5)
        tee.read()
        tee.finish(complete=True)
        out['result'] = writer.result
        out['error'] = repr(writer.error)
        # The request's own tpool calls keep tpool's behaviour.
        out['hub_call'] = tpool.execute(lambda: 'in the pool')
        out['native_threads'] = native_threading.active_count()
        # A late copy is removed through tpool from the writer's thread.
        gate = native_threading.Event()

        def late_write(reader):
            gate.wait(10)
            return tpool.Proxy(Images()).create('late')
        late = fanout.StoreWriter('late', late_write, depth=1,
                                  discard=discard)
        late.start()
        late.abandon('test')
        gate.set()
        late.join(5)
        out['discarded'] = discarded
        out['late_alive'] = late.is_alive()
    return out


def _run(name: str) -> dict:
    pytest.importorskip('eventlet')
    proc = subprocess.run([sys.executable, __file__, name],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_a_store_blocked_in_native_code_stops_neither_worker_nor_timeout():
    result = _run('blocked-store')
    assert result['read'] == 4 << 20
    # The stall timeout (0.3 s) abandons the writer long before the store
    # call returns (3 s) ...
    assert result['abandoned'] and result['error'] == 'CopyStalled'
    assert result['seconds'] < 2.0, result
    # ... and the worker's other green threads kept running meanwhile.
    assert result['ticks'] > 10 and result['max_gap'] < 1.0, result
    # The late copy is removed when the store call finally returns.
    assert result['discarded'] == ['late-copy']
    assert result['alive'] is False


def test_tpool_calls_of_a_store_driver_return_in_the_writer():
    result = _run('tpool-store')
    assert result['error'] == 'None'
    assert result['result'] == 'created img'
    assert result['hub_call'] == 'in the pool'
    assert result['discarded'] == ['removed img']
    assert result['late_alive'] is False


def test_writers_are_native_threads_that_can_be_reniced():
    result = _run('native-writer')
    assert result['green_threading'] is True
    assert result['result'] == 5000
    assert result['own_thread'] is True
    assert result['writer_nice'] == min(3, 19), result
    assert result['request_nice'] == 0
    # Writers log: logging's locks are shared with native threads.
    assert result['logging_lock'] == 'SharedRLock'


if __name__ == '__main__':
    sys.path.insert(0, __file__.rsplit('/tests/', 1)[0])
    print(json.dumps(_scenario(sys.argv[1])))
