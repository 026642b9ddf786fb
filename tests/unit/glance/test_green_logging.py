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

"""Logging from green and native threads at once (eventlet glance-api).

Monkey-patching cannot be undone, so each scenario that needs it runs in a
subprocess, with a native watchdog: a process whose logging hangs ends
with exit status 3 instead of hanging the test run.
"""

import io
import json
import logging
import subprocess
import sys
import threading
import time

import pytest

from cinder_multistore.glance import green_logging


#: Seconds the green and native threads log at once.
HAMMER_SECONDS = 2.0
#: Seconds after which the watchdog declares the child process hung.
WATCHDOG_SECONDS = 15.0
HUNG = 3
#: Loggers in the child process.
LOGGERS = 2000


def _scenario(name: str, share: bool) -> dict:
    import eventlet
    before_patch = logging.StreamHandler(io.StringIO())
    eventlet.monkey_patch()

    import os

    from eventlet import patcher

    native_threading = patcher.original('threading')
    native_time = patcher.original('time')
    out: dict = {}
    finished = native_threading.Event()

    def watchdog():
        if not finished.wait(WATCHDOG_SECONDS):
            sys.stderr.write('hung: %s\n' % out)
            sys.stderr.flush()
            os._exit(HUNG)
    native_threading.Thread(target=watchdog, daemon=True).start()

    if name in ('oslo-setup', 'fork'):
        # What glance-api's eventlet server does: logging.setup() applies
        # oslo.log's own eventlet fix after monkey-patching.
        from oslo_log import log as oslo_logging
        oslo_logging._fix_eventlet_logging()
    # As many loggers as a glance-api has: setLevel clears the cache of
    # each under logging's module lock.
    for n in range(LOGGERS):
        logging.getLogger('cms.many.%d' % n)
    log = logging.getLogger('cms.hammer')
    log.setLevel(logging.DEBUG)
    log.propagate = False
    if name == 'handler-before-patch':
        log.addHandler(before_patch)
    else:
        log.addHandler(logging.StreamHandler(io.StringIO()))
    if share:
        out['shared'] = green_logging.share_logging_locks()
        out['shared_again'] = green_logging.share_logging_locks()
        out['module_lock'] = type(logging._lock).__name__
        out['handler_lock'] = type(log.handlers[0].lock).__name__
        out['new_handler_lock'] = type(logging.StreamHandler().lock).__name__

    if name == 'fork':
        pid = os.fork()
        if pid == 0:
            log.warning('in the child')
            logging.getLogger('cms.child').warning('new logger')
            os._exit(0)
        out['child_status'] = os.waitpid(pid, 0)[1]
        finished.set()
        return out

    stop: list = []
    counts = {'green': 0, 'native': 0}
    errors: list = []

    def green(n):
        i = 0
        while not stop:
            log.debug('green %d %d', n, i)
            counts['green'] += 1
            # getLogger and setLevel take logging's module lock, as
            # libraries do at run time.
            logging.getLogger('cms.hammer.g%d' % (i % 40)).setLevel(
                logging.DEBUG)
            i += 1
            if i % 10 == 0:
                eventlet.sleep(0)

    def native(n):
        i = 0
        try:
            while not stop:
                log.debug('native %d %d', n, i)
                counts['native'] += 1
                # A logger's first call at a level takes the module lock.
                logging.getLogger('cms.hammer.n%d.%d' % (n, i % 40)).info(
                    'native %d', i)
                i += 1
        except BaseException as exc:
            errors.append(repr(exc))

    ticks = []

    def heartbeat():
        while not stop:
            ticks.append(time.monotonic())
            eventlet.sleep(0.01)

    def holder():
        # A handler whose write yields (syslog through a green socket):
        # a green thread holds its lock across a green switch.
        handler = log.handlers[0]
        while not stop:
            with handler.lock:
                eventlet.sleep(0.01)
            eventlet.sleep(0)

    greens = [eventlet.spawn(green, n) for n in range(4)]
    if name == 'yield-while-holding':
        greens.append(eventlet.spawn(holder))
    beat = eventlet.spawn(heartbeat)
    natives = [native_threading.Thread(target=native, args=(n,),
                                       daemon=True) for n in range(2)]
    for thread in natives:
        thread.start()
    eventlet.sleep(HAMMER_SECONDS)
    stop.append(1)
    for thread in greens + [beat]:
        thread.wait()
    for thread in natives:
        while thread.is_alive():
            eventlet.sleep(0.01)
    native_time.sleep(0)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    out.update(counts=counts, errors=errors, ticks=len(ticks),
               max_gap=max(gaps) if gaps else None)
    finished.set()
    return out


def _run(name: str, share: bool = True) -> subprocess.CompletedProcess:
    pytest.importorskip('eventlet')
    return subprocess.run(
        [sys.executable, __file__, name, 'share' if share else 'as-is'],
        capture_output=True, text=True, timeout=WATCHDOG_SECONDS + 30)


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Cannot switch to a different thread' not in proc.stderr, (
        proc.stderr[-3000:])
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize('name', ['handler-after-patch',
                                  'handler-before-patch', 'oslo-setup',
                                  'yield-while-holding'])
def test_green_and_native_threads_log_at_once(name):
    result = _result(_run(name))
    assert result['shared'] is True
    assert result['shared_again'] is False
    assert result['module_lock'] == 'SharedRLock'
    assert result['handler_lock'] == 'SharedRLock'
    assert result['new_handler_lock'] == 'SharedRLock'
    assert result['errors'] == []
    # Both sides made progress (how much depends on the machine's load).
    assert result['counts']['green'] > 0, result
    assert result['counts']['native'] > 0, result
    # A green thread waiting for a lock never stopped the others: the
    # heartbeat kept ticking (how often depends on the machine's load, so
    # only that it ticked on is checked; a stopped worker hangs and trips
    # the watchdog).
    assert result['ticks'] > 3, result


def test_green_locks_alone_leave_a_native_thread_hanging():
    # The locks as eventlet leaves them: a native thread waiting for a
    # lock a green thread holds is never woken. Proves the scenarios
    # above reach the hazard.
    proc = _run('yield-while-holding', share=False)
    assert (proc.returncode == HUNG or 'Cannot switch to a different '
            'thread' in proc.stderr), (proc.returncode, proc.stdout,
                                       proc.stderr[-2000:])


def test_a_forked_child_logs_with_shared_locks():
    result = _result(_run('fork'))
    assert result['module_lock'] == 'SharedRLock'
    assert result['child_status'] == 0


def test_nothing_changes_without_monkey_patching():
    lock_before = logging._lock
    create_before = logging.Handler.__dict__['createLock']
    assert green_logging.share_logging_locks() is False
    assert logging._lock is lock_before
    assert logging.Handler.__dict__['createLock'] is create_before


def test_shared_lock_is_reentrant_and_owned():
    lock = green_logging.SharedRLock()
    assert lock.acquire()
    assert lock.acquire(blocking=False)
    lock.release()
    taken = []
    other = threading.Thread(
        target=lambda: taken.append(lock.acquire(timeout=0.1)))
    other.start()
    other.join()
    assert taken == [False]
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_shared_lock_excludes_native_threads():
    lock = green_logging.SharedRLock()
    inside = []
    overlaps = []

    def work():
        for _ in range(200):
            with lock:
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(1)
                time.sleep(0)
                inside.pop()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []


def test_shared_lock_release_by_another_thread_is_refused():
    lock = green_logging.SharedRLock()
    lock.acquire()
    refused = []

    def release():
        try:
            lock.release()
        except RuntimeError:
            refused.append(True)
    thread = threading.Thread(target=release)
    thread.start()
    thread.join()
    assert refused == [True]
    lock.release()


def test_shared_lock_after_fork_is_free():
    lock = green_logging.SharedRLock()
    lock.acquire()
    lock._at_fork_reinit()
    done = []
    thread = threading.Thread(
        target=lambda: done.append(lock.acquire(timeout=1)))
    thread.start()
    thread.join()
    assert done == [True]


def test_a_held_lock_is_left_for_a_later_call():
    held = threading.RLock()
    held.acquire()
    installed = []
    assert green_logging._swap(held, installed.append) is False
    held.release()
    assert installed == []
    assert green_logging._swap(held, installed.append) is True
    assert isinstance(installed[0], green_logging.SharedRLock)
    # The swap released what it took.
    assert held.acquire(blocking=False)
    held.release()


def test_a_held_pipe_mutex_is_left_for_a_later_call():
    class PipeMutexLike:
        # oslo.log's PipeMutex: re-entrant per greenlet, names its owner.
        owner = 1234

        def acquire(self, blocking=True):
            return True

        def release(self):
            raise AssertionError('not taken, not released')
    installed = []
    assert green_logging._swap(PipeMutexLike(), installed.append) is False
    assert installed == []


def test_a_shared_lock_is_not_replaced():
    installed = []
    lock = green_logging.SharedRLock()
    assert green_logging._swap(lock, installed.append) is False
    assert green_logging._swap(None, installed.append) is False
    assert installed == []


if __name__ == '__main__':
    sys.path.insert(0, __file__.rsplit('/tests/', 1)[0])
    print(json.dumps(_scenario(sys.argv[1], sys.argv[2] == 'share')))
