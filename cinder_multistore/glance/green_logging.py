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

"""Logging locks that green threads and native threads can share.

Under glance-api's eventlet server (Glance 30 and 31) the process is
monkey-patched: every ``threading.RLock`` is a green lock, and eventlet
turns the locks that existed before (``logging``'s own) into green locks
too. A green lock is only safe between green threads of one native thread:
a native thread that waits on one parks in a hub of its own that nobody
wakes, and a green thread released by a native thread is switched to from
the wrong thread (``greenlet.error: Cannot switch to a different
thread``). Either way that lock stays taken and every later log call of
the worker blocks on it: the worker stops answering.

The co-located copies are written by native threads
(:mod:`cinder_multistore.glance.fanout`), and they log: this package's log
calls, glance_store's drivers on every ``add``. ``oslo.log``'s own remedy,
``_fix_eventlet_logging`` (applied by ``logging.setup``, which Glance's
eventlet ``glance-api`` calls after monkey-patching), is not enough: it
gives the handlers created after it an ``oslo_log.pipe_mutex.PipeMutex``,
which is safe, but makes ``logging``'s module lock (taken by
``getLogger``, ``setLevel`` and the first call of each level on each
logger) a *green* ``RLock``, and leaves the locks of handlers created
earlier as they are.

:func:`share_logging_locks` gives ``logging``'s module lock and the lock of
every handler a :class:`SharedRLock`, and makes handlers created later get
one, only in a monkey-patched process, idempotently.
"""

from collections.abc import Callable
import logging
import os
import sys
import threading
import time
import types
from typing import Any


LOG = logging.getLogger(__name__)

#: Written (at debug level) by a process whose locks were just shared.
SHARED_MESSAGE = 'Logging locks shared by green and native threads'

#: Longest green sleep between two tries of a lock a native thread holds.
MAX_GREEN_WAIT = 0.005
#: First green sleep after the first yield.
MIN_GREEN_WAIT = 0.00005


def monkey_patched() -> bool:
    """True when ``threading`` is eventlet's (glance-api's eventlet server).
    """
    patcher = sys.modules.get('eventlet.patcher')
    if patcher is None:
        return False
    try:
        return bool(patcher.is_monkey_patched('thread'))
    except Exception:  # an eventlet too old or too new to ask
        return True


def _native_threading() -> types.ModuleType:
    """``threading`` of native threads, even in a monkey-patched process."""
    if monkey_patched():
        from eventlet import patcher
        return patcher.original('threading')
    return threading


#: ``greenlet.getcurrent``, looked up on first use.
_getcurrent: Callable[[], object] | None = None


def _current() -> object:
    """Who holds a lock: the greenlet, which is also unique per thread.

    Each native thread has a main greenlet of its own, and green threads
    of one native thread have distinct greenlets, so this tells apart
    everything that may contend for a lock.
    """
    global _getcurrent
    if _getcurrent is None:
        try:
            from eventlet.support import greenlets
            _getcurrent = greenlets.getcurrent
        except ImportError:  # no eventlet, no green threads
            _getcurrent = _native_threading().current_thread
    return _getcurrent()


def _must_yield() -> bool:
    """True when waiting natively would stop other green threads.

    That is when the calling thread runs an eventlet hub (the worker's
    main thread) and the caller is not the hub itself. Native threads
    without a hub (the copy writers, eventlet's tpool) block natively.
    """
    hubs = sys.modules.get('eventlet.hubs')
    if hubs is None:
        return False
    hub = getattr(getattr(hubs, '_threadlocal', None), 'hub', None)
    if hub is None:
        return False
    return _current() is not getattr(hub, 'greenlet', None)


class SharedRLock:
    """A re-entrant lock safe for green threads and native threads at once.

    Mutual exclusion is a native lock. Its owner is the greenlet that took
    it, so two green threads of one native thread exclude each other and
    a green thread may take it again while it holds it, as with an
    ``RLock``. A green thread waits with green sleeps (other green threads
    keep running, and a native holder needs no hub to wake it); a native
    thread waits natively.

    Same interface as the ``RLock`` that ``logging`` uses: ``acquire``,
    ``release``, the context manager, and ``_at_fork_reinit`` for
    ``logging``'s after-fork handling.
    """

    def __init__(self) -> None:
        self._lock = _native_threading().Lock()
        self._owner: object | None = None
        self._depth = 0

    def __repr__(self) -> str:
        return '<%s owner=%r depth=%d>' % (type(self).__name__,
                                           self._owner, self._depth)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; True when taken.

        :param blocking: False: return at once when another holds it.
        :param timeout: seconds to wait at most (-1: no limit).
        """
        me = _current()
        if self._owner is me:
            self._depth += 1
            return True
        if not self._take(blocking, timeout):
            return False
        self._owner = me
        self._depth = 1
        return True

    def _take(self, blocking: bool, timeout: float) -> bool:
        if self._lock.acquire(False):
            return True
        if not blocking:
            return False
        if not _must_yield():
            return bool(self._lock.acquire(True, timeout))
        import eventlet
        deadline = None if timeout < 0 else time.monotonic() + timeout
        wait = 0.0
        while not self._lock.acquire(False):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            # NOTE: the holder may be a native thread, which cannot wake a
            # green waiter: look again after a green sleep.
            eventlet.sleep(wait)
            wait = min(max(wait * 2, MIN_GREEN_WAIT), MAX_GREEN_WAIT)
        return True

    def release(self) -> None:
        """Release the lock once.

        :raises RuntimeError: when the caller does not hold it.
        """
        if self._owner is not _current():
            raise RuntimeError('cannot release un-acquired lock')
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def _at_fork_reinit(self) -> None:
        """Free the lock in a child process (``logging`` calls this)."""
        self._lock = _native_threading().Lock()
        self._owner = None
        self._depth = 0


def _create_shared_lock(handler: logging.Handler) -> None:
    """``logging.Handler.createLock`` giving handlers a :class:`SharedRLock`.
    """
    handler.lock = SharedRLock()  # type: ignore[assignment]
    register: Callable[[logging.Handler], None] | None = getattr(
        logging, '_register_at_fork_reinit_lock', None)
    if register is not None:
        register(handler)


def _held(lock: Any) -> bool:
    """True when ``lock`` is held by anyone we cannot tell from its acquire.

    A re-entrant lock held by the caller itself would be taken again by
    a non-blocking acquire; oslo.log's ``PipeMutex`` names its owner.
    """
    is_owned = getattr(lock, '_is_owned', None)
    if callable(is_owned) and is_owned():
        return True
    return getattr(lock, 'owner', None) is not None


def _swap(old: Any, install: Callable[[SharedRLock], None]) -> bool:
    """Replace ``old`` by a new :class:`SharedRLock` if nobody holds it.

    :returns: True when replaced now.
    """
    if old is None or isinstance(old, SharedRLock):
        return False
    # NOTE: a holder releases the lock it finds on the handler (or in
    # logging) then; replacing a held lock would make it release one it
    # never took. A held lock is left for the next call.
    if _held(old) or not old.acquire(False):
        return False
    try:
        install(SharedRLock())
    finally:
        old.release()
    return True


def share_logging_locks() -> bool:
    """Make every logging lock safe for green and native threads at once.

    In a monkey-patched process: ``logging``'s module lock and the lock of
    every live handler become :class:`SharedRLock`, and so do the locks of
    handlers created from now on. Elsewhere nothing changes. Call it from
    the green side before native threads that log start, as often as
    wanted: a lock already shared is left alone, and a lock held at the
    time of the call is replaced by a later call.

    :returns: True when this call replaced something.
    """
    if not monkey_patched():
        return False
    changed = False
    if logging.Handler.__dict__.get('createLock') is not _create_shared_lock:
        setattr(logging.Handler, 'createLock', _create_shared_lock)
        changed = True
    if _swap(getattr(logging, '_lock', None),
             lambda lock: setattr(logging, '_lock', lock)):
        changed = True
    for ref in list(getattr(logging, '_handlerList', ())):
        handler = ref()
        if handler is None:
            continue
        if _swap(getattr(handler, 'lock', None),
                 lambda lock: setattr(handler, 'lock', lock)):
            changed = True
    if changed:
        LOG.debug('%s (process %d)', SHARED_MESSAGE, os.getpid())
    return changed
