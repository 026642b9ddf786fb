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
"""

from __future__ import annotations

import logging
from pathlib import Path
import shutil
import time

from cinder_multistore_lab.stack import ceph
from cinder_multistore_lab.stack import cinder
from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import glance
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import mounts
from cinder_multistore_lab.stack import neutron
from cinder_multistore_lab.stack import ports
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.process import ServiceError
from cinder_multistore_lab.stack.process import StackError
from cinder_multistore_lab.stack import rabbit
from cinder_multistore_lab.stack import releases
from cinder_multistore_lab.stack.state import State
from cinder_multistore_lab.stack import tempest_conf
from cinder_multistore_lab.stack import www


__all__ = ['up', 'down', 'load_env', 'add_bench_services', 'StackError',
           'ServiceError', 'IMAGE_DRIVERS']

LOG = logging.getLogger(__name__)

#: Values of ``up(cinder_image_driver=...)``.
IMAGE_DRIVERS = ('multistore', 'upstream')

# Folders and files of a run, removed before the next run in the same DIR.
_RUN_ENTRIES = ('etc', 'logs', 'run', 'stores', 'keystone', 'glance',
                'cinder', 'neutron', 'www', 'tempest', 'nfs', 'ceph',
                'state.json', 'stack.env', 'tempest.conf')


def load_env(directory: str | Path) -> dict[str, str]:
    """Return the variables of ``DIR/stack.env`` as a dict."""
    return stack_env.load(directory)


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
                    raise StackError('%s still holds a mount; run '
                                     '"cinder-multistore stack down --dir '
                                     '%s" first' % (path, directory))
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def up(directory: str | Path, with_cinder: bool = True,
       cinder_image_driver: str = 'multistore',
       with_ceph: bool = True,
       glance_server: str = 'uwsgi',
       with_neutron: bool | None = None) -> dict[str, str]:
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
    :returns: the variables written to ``DIR/stack.env``.
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
        raise StackError('a stack already runs in %s (%s); run "cinder-'
                         'multistore stack down --dir %s" first'
                         % (directory, ', '.join(running), directory))
    if State.load(directory) is not None:
        LOG.info('cleaning up a previous run in %s', directory)
        down(directory)
    _clean(directory)
    began = time.monotonic()
    state = State(directory)
    state.extra['with_cinder'] = with_cinder
    state.extra['cinder_image_driver'] = cinder_image_driver
    state.extra['with_ceph'] = with_ceph
    state.extra['release'] = release.name
    state.extra['glance_server'] = glance_server
    state.extra['with_neutron'] = with_neutron
    state.save()
    try:
        variables = _up(state, with_cinder, cinder_image_driver)
    except BaseException:
        LOG.error('stack up failed in %s; stopping what was started',
                  directory)
        try:
            down(directory)
        except Exception:
            LOG.exception('cleanup after the failed stack up failed')
        raise
    LOG.info('stack is up in %.1f s', time.monotonic() - began)
    return variables


def _up(state: State, with_cinder: bool,
        cinder_image_driver: str) -> dict[str, str]:
    directory = Path(state.directory)
    state.sql = database.detect()
    names = [keystone.NAME, glance.NAME, www.NAME]
    if with_cinder:
        names.append(cinder.NAME)
    if neutron.enabled(state):
        names.append(neutron.NAME)
    state.ports = dict(zip(names, ports.free_ports(len(names))))
    state.save()
    LOG.info('run %s in %s (SQL: %s, ports: %s)', state.run_id, directory,
             state.sql, state.ports)
    # The clusters take the longest to come up: start them first, side by
    # side, and wait for them only before a service needs them.
    ceph_startup = (ceph.start(state) if state.extra.get('with_ceph')
                    else None)
    try:
        return _up_services(state, with_cinder, cinder_image_driver,
                            ceph_startup)
    except BaseException:
        if ceph_startup is not None:
            # Let the clusters' threads finish starting daemons first, so
            # that the cleanup finds every pid file.
            ceph_startup.settle()
        raise


def _up_services(state: State, with_cinder: bool, cinder_image_driver: str,
                 ceph_startup: ceph.Startup | None) -> dict[str, str]:
    directory = Path(state.directory)
    with_neutron = neutron.enabled(state)

    services = (['keystone', 'glance'] + (['cinder'] if with_cinder else [])
                + ([neutron.NAME] if with_neutron else []))
    for service in services:
        name = '%s_%s' % (keystone.db_prefix(state), service)
        state.databases.append(name)
        state.save()
        database.create(state.sql, name)

    if with_cinder or with_neutron:
        rabbit.create_vhost(state)

    www.prepare(state)
    www.start(state)
    glance.mount_small_store(state)
    keystone.configure(state)
    glance.configure(state)
    syncs = [glance.db_sync(state)]
    try:
        if with_cinder:
            cinder.configure(state, cinder_image_driver)
            syncs.append(cinder.db_sync(state))
        if with_neutron:
            neutron.configure(state)
            syncs.append(neutron.db_sync(state))
        keystone.prepare(state)
        keystone.start(state)
        keystone.create_base_resources(state)
        glance.register(state)
        if with_cinder:
            cinder.register(state)
        if with_neutron:
            neutron.register(state)
        for sync in syncs:
            sync.wait()
    finally:
        for sync in syncs:
            sync.kill()
    # Start everything, then wait: the services load side by side.
    glance_proc = glance.start(state, block=False)
    neutron_proc = (neutron.start(state, block=False) if with_neutron
                    else None)
    if ceph_startup is not None:
        # cinder-volume's RBD backends need their pools at start-up.
        ceph_startup.wait()
    cinder_services = (cinder.start(state, block=False) if with_cinder
                       else None)
    glance.wait(state, glance_proc)
    glance.check(state)
    glance.create_test_image(state)
    if cinder_services is not None:
        cinder.wait(state, cinder_services)
        cinder.create_default_type(state)
        cinder.create_site_types(state)
    if neutron_proc is not None:
        neutron.wait(state, neutron_proc)
        neutron.check(state)

    tempest_conf.write(state, with_cinder)
    variables = _variables(state, with_cinder)
    stack_env.write(directory, variables)
    return variables


def _variables(state: State, with_cinder: bool) -> dict[str, str]:
    directory = Path(state.directory)
    admin = keystone.ADMIN_USER
    v: dict[str, str] = {
        'STACK_DIR': str(directory),
        'STACK_RUN_ID': state.run_id,
        'STACK_SQL': state.sql or '',
        'STACK_PYTHON': str(Path(_venv_python())),
        'STACK_RELEASE': str(state.extra.get('release', '')),
        'STACK_GLANCE_SERVER': str(state.extra.get('glance_server',
                                                   'uwsgi')),
        'STACK_VERSIONS': ' '.join('%s=%s' % item for item in
                                   releases.versions().items()),
        'OS_AUTH_URL': keystone.url(state),
        'OS_USERNAME': admin,
        'OS_PASSWORD': state.password(admin),
        'OS_PROJECT_NAME': keystone.ADMIN_PROJECT,
        'OS_USER_DOMAIN_NAME': keystone.DOMAIN,
        'OS_PROJECT_DOMAIN_NAME': keystone.DOMAIN,
        'OS_IDENTITY_API_VERSION': '3',
        'OS_REGION_NAME': keystone.REGION,
        'OS_AUTH_TYPE': 'password',
        'OS_INTERFACE': 'public',
    }
    for user, project in keystone.TENANTS.items():
        v['%s_USERNAME' % user.upper()] = user
        v['%s_PASSWORD' % user.upper()] = state.password(user)
        v['%s_PROJECT_NAME' % user.upper()] = project
    all_stores = glance.stores(glance.with_ceph(state))
    v.update({
        'GLANCE_ENDPOINT': glance.url(state),
        'GLANCE_STORES': ','.join(all_stores),
        'GLANCE_USABLE_STORES': ','.join(
            s for s in all_stores if s != glance.HTTP_STORE),
        'GLANCE_READONLY_STORES': glance.HTTP_STORE,
        'GLANCE_DEFAULT_STORE': glance.DEFAULT_STORE,
        'GLANCE_SMALL_STORE': glance.SMALL_STORE,
        'GLANCE_RESERVED_STORES': ','.join(glance.RESERVED_STORES),
    })
    for store in glance.FILE_STORES:
        v['GLANCE_STORE_DIR_%s' % store] = str(
            glance.store_dir(directory, store))
    v.update({
        'GLANCE_STAGING_DIR': str(glance.store_dir(
            directory, 'os_glance_staging_store')),
        'GLANCE_TASKS_DIR': str(glance.store_dir(
            directory, 'os_glance_tasks_store')),
        'GLANCE_CONF': str(glance.conf_path(directory)),
        'GLANCE_LOG': str(glance.log_path(directory)),
        'KEYSTONE_LOG': str(keystone.log_path(directory)),
        'HTTP_IMAGE_URL': www.url(state, www.RAW_IMAGE),
        'HTTP_QCOW2_IMAGE_URL': www.url(state, www.QCOW2_IMAGE),
        'STACK_IMAGE_ID': str(state.extra.get('test_image', '')),
        'TEMPEST_CONF': str(tempest_conf.path(directory)),
        'TEMPEST_CONFIG_DIR': str(directory),
        'TEMPEST_CONFIG': tempest_conf.FILE_NAME,
    })
    if glance.with_ceph(state):
        v.update(ceph.variables(state))
        v['GLANCE_RBD_STORES'] = ','.join(glance.rbd_stores())
        for site in ceph.SITES:
            v['GLANCE_RBD_STORE_%s' % site] = glance.rbd_store(site)
    if with_cinder:
        v.update(cinder.variables(state))
    if neutron.enabled(state):
        v.update(neutron.variables(state))
    return v


def add_bench_services(directory: str | Path) -> dict[str, str]:
    """Start the benchmark's reference services in a running stack.

    A second glance-api with upstream's pipeline (no filter), on the same
    database and stores, and, when the stack has Cinder, a plain
    cinder-volume with Cinder's own image service on backend
    ``nfs_upstream``, reached with volume type ``upstream-image-service``.
    Already running ones are kept. ``down`` stops them with the rest.

    :returns: the updated variables of ``DIR/stack.env``
        (``GLANCE_PLAIN_ENDPOINT``, ``CINDER_UPSTREAM_VOLUME_TYPE``).
    """
    directory = Path(directory).resolve()
    state = State.load(directory)
    if state is None or not stack_env.path(directory).exists():
        raise StackError('no stack runs in %s' % directory)
    variables = stack_env.load(directory)
    with_cinder = bool(state.extra.get('with_cinder'))
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
    variables['GLANCE_PLAIN_ENDPOINT'] = glance.url(state, glance.PLAIN)
    variables['GLANCE_PLAIN_LOG'] = str(glance.log_path(directory,
                                                        glance.PLAIN))
    if with_cinder:
        variables.update(cinder.upstream_variables(state))
    stack_env.write(directory, variables)
    return variables


def _venv_python() -> str:
    return common.python()


def down(directory: str | Path) -> None:
    """Stop and remove everything ``up`` made in ``directory``.

    Processes (by pid, TERM then KILL, children included), mounts, the
    run's databases and RabbitMQ vhost. Logs are kept. Safe to run twice
    and after a failed ``up``.

    :raises StackError: listing what could not be undone.
    """
    directory = Path(directory).resolve()
    state = State.load(directory)
    errors: list[str] = []
    order = list(reversed(state.services)) if state else []
    # A paused (SIGSTOP) Ceph daemon would ignore SIGTERM.
    ceph.resume_all(directory)
    pid_files = sorted(process.run_dir(directory).glob('*.pid'),
                       key=lambda p: (order.index(p.stem)
                                      if p.stem in order else -1))
    for pid_file in pid_files:
        try:
            process.stop_pid_file(pid_file)
        except Exception as exc:  # keep going: undo as much as possible
            errors.append('stop %s: %s' % (pid_file.stem, exc))
    if state is not None:
        for point in reversed(state.mounts):
            try:
                mounts.unmount(point)
            except Exception as exc:
                errors.append('unmount %s: %s' % (point, exc))
        for name in state.databases:
            try:
                database.drop(state.sql or database.detect(), name)
            except Exception as exc:
                errors.append('drop database %s: %s' % (name, exc))
        if state.vhost:
            try:
                rabbit.delete_vhost(state.vhost)
            except Exception as exc:
                errors.append('delete vhost %s: %s' % (state.vhost, exc))
        for name in state.host_files:
            try:
                Path(name).unlink(missing_ok=True)
            except OSError as exc:
                errors.append('remove %s: %s' % (name, exc))
    try:
        ceph.remove(directory)
    except OSError as exc:
        errors.append('remove the Ceph clusters: %s' % exc)
    if errors:
        raise StackError('stack down in %s left things behind:\n  %s'
                         % (directory, '\n  '.join(errors)))
    for name in ('stack.env', 'state.json'):
        (directory / name).unlink(missing_ok=True)
    if state is not None:
        LOG.info('stack in %s is down', directory)
