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

"""The embedded cloud: Keystone, Glance (and Cinder, Neutron), Ceph.

Everything runs on loopback.

``up(DIR)`` starts real services from the virtualenv, with every config,
log (``DIR/logs/*.log``), pid file (``DIR/run``) and data folder under
``DIR``, on free loopback ports, against run-unique SQL databases; it
writes ``DIR/stack.env`` and ``DIR/tempest.conf``. ``down(DIR)`` stops and
removes everything ``up`` made (processes, mounts, databases, vhost, the
Ceph clusters' data); it is safe to call twice and after a failed ``up``.

Both walk one ordered list of services (:mod:`.service`: each has
``configure``, ``start``, ``wait_ready``, ``register``, ``stop`` and its
typed part of ``stack.env``); ``load_env(DIR)`` reads ``stack.env`` back
as a :class:`.env.StackEnv`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
import shutil
import time

from cinder_multistore_lab import shell_hints
from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import cinder
from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack.env import StackEnv
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import mounts
from cinder_multistore_lab.stack import neutron
from cinder_multistore_lab.stack import ports
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.process import ServiceError
from cinder_multistore_lab.stack.process import StackError
from cinder_multistore_lab.stack import releases
from cinder_multistore_lab.stack import service
from cinder_multistore_lab.stack.state import Options
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import tempest_conf
from cinder_multistore_lab.stack import www


__all__ = ['up', 'down', 'purge', 'left_behind', 'load_env',
           'add_bench_services', 'StackError', 'ServiceError', 'StackEnv',
           'IMAGE_DRIVERS']

LOG = logging.getLogger(__name__)

#: Values of ``up(cinder_image_driver=...)``.
IMAGE_DRIVERS = ('multistore', 'upstream')

# Folders and files of a run, removed before the next run in the same DIR.
_RUN_ENTRIES = ('etc', 'logs', 'run', 'stores', 'keystone', 'glance',
                'cinder', 'neutron', 'www', 'tempest', 'nfs', 'ceph',
                'state.json', 'stack.env', 'tempest.conf',
                'tempest-peers.conf')


def load_env(directory: str | Path) -> StackEnv:
    """Read ``DIR/stack.env`` (see :class:`.env.StackEnv`)."""
    return StackEnv.load(directory)


def _running_services(directory: Path) -> list[str]:
    running = []
    for pid_file in sorted(process.run_dir(directory).glob('*.pid')):
        record = process.read_pid_file(pid_file)
        if record and process.session_members(*record):
            running.append(pid_file.stem)
    return running


def _clean(directory: Path) -> None:
    """Remove what a previous run left in ``directory`` (not mounted)."""
    for name in _RUN_ENTRIES:
        path = directory / name
        if path.is_dir():
            with open('/proc/mounts') as f:
                if (' %s/' % path) in f.read():
                    raise StackError('%s still holds a mount; run "%s" '
                                     'first' % (path, shell_hints.stack_down(
                                         directory)))
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def up(directory: str | Path, with_cinder: bool = True,
       cinder_image_driver: str = 'multistore',
       with_ceph: bool = True,
       glance_server: str = 'uwsgi',
       with_neutron: bool | None = None) -> StackEnv:
    """Start the embedded cloud in ``directory``.

    The services are those installed in this Python environment: one
    OpenStack release (see :mod:`.releases`; ``cinder-multistore stack up
    --release`` picks the environment).

    :param directory: the state directory (created if needed).
    :param with_cinder: also start Cinder (api, scheduler, volume).
    :param with_ceph: also start the Ceph clusters of sites ``central``
        and ``edge``, with an rbd Glance store and (with Cinder) an RBD
        Cinder backend each.
    :param cinder_image_driver: ``multistore`` or ``upstream``: how
        cinder-volume talks to Glance (see :mod:`.cinder`).
    :param glance_server: ``uwsgi`` (every release) or ``eventlet``
        (Glance's own ``glance-api`` server, releases before 2026.2).
    :param with_neutron: also start neutron-server (API only, ML2 and
        routers, no agents) so that tempest can give its test projects a
        network; ``None`` (the default) starts it when it is installed.
    :returns: what was written to ``DIR/stack.env``.
    :raises ServiceError: naming the service and its log when one does not
        come up; everything started so far is stopped again.
    """
    if cinder_image_driver not in IMAGE_DRIVERS:
        raise ValueError('cinder_image_driver must be one of %s, not %r'
                         % (', '.join(IMAGE_DRIVERS), cinder_image_driver))
    release = releases.installed()
    if release is None:
        raise StackError('no supported Glance release is installed in %s'
                         % common.venv_bin().parent)
    releases.check_server(release, glance_server)
    if with_neutron is None:
        with_neutron = neutron.available()
        if not with_neutron:
            LOG.warning('neutron is not installed: the stack runs without '
                        'a network service')
    elif with_neutron and not neutron.available():
        raise StackError('neutron is not installed in %s'
                         % common.venv_bin().parent)
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    running = _running_services(directory)
    if running:
        raise StackError('a stack already runs in %s (%s); run "%s" first'
                         % (directory, ', '.join(running),
                            shell_hints.stack_down(directory)))
    if State.load(directory) is not None:
        LOG.info('cleaning up a previous run in %s', directory)
        down(directory)
    _clean(directory)
    began = time.monotonic()
    state = State(directory, options=Options(
        with_cinder=with_cinder, cinder_image_driver=cinder_image_driver,
        with_ceph=with_ceph, release=release.name,
        glance_server=glance_server, with_neutron=with_neutron))
    state.save()
    try:
        stack_vars = _up(state)
    except BaseException:
        LOG.error('stack up failed in %s; stopping what was started',
                  directory)
        try:
            down(directory)
        except Exception:
            LOG.exception('cleanup after the failed stack up failed')
        raise
    LOG.info('stack is up in %.1f s', time.monotonic() - began)
    return stack_vars


def _up(state: State) -> StackEnv:
    directory = Path(state.directory)
    state.sql = database.detect()
    names = [keystone.NAME, glance.NAME, www.NAME]
    if state.options.with_cinder:
        names.append(cinder.NAME)
    if neutron.enabled(state):
        names.append(neutron.NAME)
    state.ports = dict(zip(names, ports.free_ports(len(names))))
    state.save()
    LOG.info('run %s in %s (SQL: %s, ports: %s)', state.run_id, directory,
             state.sql, state.ports)
    services = service.services(state.options)
    LOG.info('services: %s', ', '.join(s.name for s in services))
    service.bring_up(state, services)
    tempest_conf.write(state, state.options.with_cinder)
    stack_vars = StackEnv.from_parts(_stack_info(state), _tempest(state),
                                     service.env_parts(state, services))
    stack_vars.write(directory)
    return stack_vars


def _stack_info(state: State) -> stack_env.StackInfo:
    return stack_env.StackInfo(
        directory=Path(state.directory),
        run_id=state.run_id,
        sql=state.sql or '',
        python=Path(_venv_python()),
        release=state.options.release,
        glance_server=state.options.glance_server or glance.UWSGI,
        versions=' '.join('%s=%s' % item
                          for item in releases.versions().items()))


def _tempest(state: State) -> stack_env.Tempest:
    directory = Path(state.directory)
    return stack_env.Tempest(conf=tempest_conf.path(directory),
                             config_dir=directory,
                             config=tempest_conf.FILE_NAME)


def add_bench_services(directory: str | Path) -> StackEnv:
    """Start the benchmark's reference services in a running stack.

    A second glance-api with upstream's pipeline (no filter), on the same
    database and stores, and, when the stack has Cinder, a plain
    cinder-volume with Cinder's own image service on backend
    ``nfs_upstream``, reached with volume type ``upstream-image-service``.
    Already running ones are kept. ``down`` stops them with the rest.

    :returns: the updated ``DIR/stack.env`` (its ``glance_plain`` and,
        with Cinder, ``cinder_upstream`` parts).
    """
    directory = Path(directory).resolve()
    state = State.load(directory)
    if state is None or not stack_env.path(directory).exists():
        raise StackError('no stack runs in %s' % directory)
    current = StackEnv.load(directory)
    with_cinder = current.cinder is not None
    glance_proc = volume_proc = None
    if glance.PLAIN not in state.services:
        state.ports[glance.PLAIN] = ports.free_port()
        state.save()
        glance.configure(state, glance.PLAIN)
        glance_proc = glance.start(state, block=False, name=glance.PLAIN)
    if with_cinder and cinder.UPSTREAM_VOLUME not in state.services:
        volume_proc = cinder.start_upstream_volume(state)
    if glance_proc is not None:
        glance.wait(state, glance_proc)
    if volume_proc is not None:
        cinder.wait_upstream_volume(state, volume_proc)
    updated = dataclasses.replace(
        current, glance_plain=glance.plain_env(state),
        cinder_upstream=(cinder.upstream_env(state) if with_cinder
                         else None))
    updated.write(directory)
    return updated


def _venv_python() -> str:
    return common.python()


def down(directory: str | Path) -> None:
    """Stop and remove everything ``up`` made in ``directory``.

    Every kind of service is stopped in reverse start order (processes by
    pid, TERM then KILL, children included; mounts, the run's databases
    and RabbitMQ vhost, the Ceph clusters' data), then whatever is left
    (pid files, mounts, host files). Logs are kept. Safe to run twice and
    after a failed ``up``.

    :raises StackError: listing what could not be undone.
    """
    directory = Path(directory).resolve()
    loaded = State.load(directory)
    # Without a record, stop what the pid files name; nothing is saved.
    state = loaded if loaded is not None else State(directory)
    # A paused (SIGSTOP) Ceph daemon would ignore SIGTERM, and a service
    # waiting on it might too.
    ceph.resume_all(directory)
    errors = service.bring_down(state, service.every_service())
    errors += _sweep(state)
    if errors:
        raise StackError('stack down in %s left things behind:\n  %s'
                         % (directory, '\n  '.join(errors)))
    for name in ('stack.env', 'state.json'):
        (directory / name).unlink(missing_ok=True)
    if loaded is not None:
        LOG.info('stack in %s is down', directory)


def left_behind(directory: str | Path) -> int:
    """Bytes that a stopped stack left in ``directory`` (logs, stores).

    Only what ``up`` makes counts (see :func:`purge`); 0 when nothing is
    left.
    """
    directory = Path(directory).resolve()
    total = 0
    for name in _RUN_ENTRIES:
        path = directory / name
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
        elif path.is_dir() and not path.is_symlink():
            for root, _, files in os.walk(path):
                for file_name in files:
                    try:
                        total += (Path(root) / file_name).lstat().st_size
                    except OSError:
                        pass
    return total


def purge(directory: str | Path) -> bool:
    """Remove what ``up`` left in a stopped stack's ``directory``.

    Logs and store data included, then the folder itself when nothing
    else is in it: a folder named by mistake (``--dir /tmp``) keeps every
    file ``up`` did not make.

    :returns: True when the folder itself is gone.
    :raises StackError: when a service still runs or a mount is still
        there (``down`` first).
    """
    directory = Path(directory).resolve()
    if not directory.is_dir():
        return True
    running = _running_services(directory)
    if running:
        raise StackError('a stack still runs in %s (%s); not removing it'
                         % (directory, ', '.join(running)))
    _clean(directory)
    try:
        directory.rmdir()
    except OSError:
        LOG.info('%s keeps files the stack did not make: %s', directory,
                 ', '.join(sorted(p.name for p in directory.iterdir())))
        return False
    return True


def _sweep(state: State) -> list[str]:
    """Undo what no service claimed: pid files, mounts, host files."""
    directory = Path(state.directory)
    errors: list[str] = []
    order = list(reversed(state.services))
    pid_files = sorted(process.run_dir(directory).glob('*.pid'),
                       key=lambda p: (order.index(p.stem)
                                      if p.stem in order else -1))
    for pid_file in pid_files:
        try:
            process.stop_pid_file(pid_file)
        except Exception as exc:  # keep going: undo as much as possible
            errors.append('stop %s: %s' % (pid_file.stem, exc))
    for point in reversed(state.mounts):
        if not mounts.mounted(point):
            continue
        try:
            mounts.unmount(point)
        except Exception as exc:
            errors.append('unmount %s: %s' % (point, exc))
    for name in state.host_files:
        try:
            Path(name).unlink(missing_ok=True)
        except OSError as exc:
            errors.append('remove %s: %s' % (name, exc))
    return errors
