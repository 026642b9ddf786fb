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

"""neutron-server (the API only) under uwsgi: ML2 and routers, no agents.

Tempest's dynamic credentials make a network, a subnet and a router for
each test project of the classes that ask for one (``[auth]
create_isolated_networks``); the volume API classes that attach volumes
do. Nothing here moves packets: ML2 keeps ``local`` project networks, the
router service plugin records routers and their interfaces, and no DHCP,
L3 or L2 agent runs (the API's notifications to agents go to the run's
RabbitMQ vhost and find no one). Nova is not notified of port changes.

The API runs under uwsgi with one process (``neutron.wsgi.api``, the
entry point Neutron ships for WSGI servers), reading ``neutron.conf`` and
``ml2_conf.ini`` from ``DIR/etc/neutron`` (``OS_NEUTRON_CONFIG_DIR`` and
``OS_NEUTRON_CONFIG_FILES``); no RPC server is started because there is
no agent to answer.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path
import shutil
import sys

from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import keystone
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack import rabbit
from cinder_multistore_lab.stack.state import State


LOG = logging.getLogger(__name__)

NAME = 'neutron'
WSGI_MODULE = 'neutron.wsgi.api'
SERVICE_TYPE = 'network'
CONF_FILES = ('neutron.conf', 'ml2_conf.ini')
CORE_PLUGIN = 'ml2'
SERVICE_PLUGINS = ('router',)
#: ML2 network types: ``local`` needs no segmentation ranges nor agents.
TYPE_DRIVERS = ('local', 'flat')
PROJECT_NETWORK_TYPES = ('local',)
EXTENSION_DRIVERS = ('port_security',)
#: What tempest's ``[network]`` section is told (its defaults, stated).
PROJECT_NETWORK_CIDR = '10.100.0.0/16'
PROJECT_NETWORK_MASK_BITS = 28
#: uwsgi processes and threads of the API.
PROCESSES = 1
THREADS = 4


def available() -> bool:
    """True when neutron-server is installed in this environment."""
    # NOTE: find_spec of a dotted name imports its parent package, and
    # neutron/__init__.py starts oslo.service's backend, which imports
    # eventlet (a deprecation warning on every stack up): look for the
    # module's file without importing neutron.
    spec = importlib.util.find_spec(WSGI_MODULE.split('.')[0])
    if spec is None or not spec.submodule_search_locations:
        return False
    module = Path(*WSGI_MODULE.split('.')[1:]).with_suffix('.py')
    return any((Path(p) / module).is_file()
               for p in spec.submodule_search_locations)


def enabled(state: State) -> bool:
    """True when the run has Neutron."""
    return state.options.with_neutron


def etc(directory: Path) -> Path:
    """Neutron's config folder (``OS_NEUTRON_CONFIG_DIR``)."""
    return Path(directory) / 'etc' / NAME


def conf_path(directory: Path) -> Path:
    """neutron.conf."""
    return etc(directory) / 'neutron.conf'


def ml2_conf_path(directory: Path) -> Path:
    """ml2_conf.ini."""
    return etc(directory) / 'ml2_conf.ini'


def paste_path(directory: Path) -> Path:
    """api-paste.ini (Neutron's own, copied)."""
    return etc(directory) / 'api-paste.ini'


def log_path(directory: Path) -> Path:
    """neutron-server's log."""
    return Path(directory) / 'logs' / ('%s.log' % NAME)


def url(state: State) -> str:
    """Neutron's endpoint (without version; the API is under ``/v2.0``)."""
    return 'http://%s:%d' % (common.HOST, state.ports[NAME])


def db_name(state: State) -> str:
    """The run's Neutron database."""
    return '%s_%s' % (keystone.db_prefix(state), NAME)


def upstream_paste_ini() -> Path:
    """Neutron's api-paste.ini, as installed with the package."""
    candidate = Path(sys.prefix) / 'etc' / 'neutron' / 'api-paste.ini'
    if candidate.exists():
        return candidate
    dist = importlib.metadata.distribution('neutron')
    for entry in dist.files or ():
        path_str = str(entry)
        if (path_str.endswith('etc/neutron/api-paste.ini')
                and '/tests/' not in path_str):
            path = Path(dist.locate_file(entry))
            if path.exists():
                return path
    raise process.StackError('api-paste.ini of the neutron package was not '
                             'found')


def conf_sections(state: State) -> dict[str, dict[str, object]]:
    """The sections of neutron.conf."""
    directory = Path(state.directory)
    return {
        'DEFAULT': {
            'debug': False,
            'use_stderr': True,
            'host': 'cinder-multistore',
            'state_path': directory / NAME / 'state',
            'core_plugin': CORE_PLUGIN,
            'service_plugins': ','.join(SERVICE_PLUGINS),
            'auth_strategy': 'keystone',
            'transport_url': rabbit.transport_url(state),
            'allow_overlapping_ips': True,
            # The API's processes are uwsgi's (PROCESSES); Neutron 29 has
            # no api_workers. No RPC workers: no agent would call them.
            'rpc_workers': 0,
            'rpc_state_report_workers': 0,
            # No Nova.
            'notify_nova_on_port_status_changes': False,
            'notify_nova_on_port_data_changes': False,
            'router_auto_schedule': False,
            'network_auto_schedule': False,
        },
        'database': {
            'connection': database.url(state.sql, db_name(state)),
            'max_retries': -1,
        },
        'keystone_authtoken': keystone.authtoken_section(state, NAME),
        # Neutron loads its segments plugin when a network is deleted, and
        # that plugin reports the segment to Placement from a thread. This
        # cloud has no Placement: the report fails there (a traceback in
        # the log saying "endpoint for placement service ... not found";
        # nothing else is affected). The users make the reason readable.
        'placement': _service_auth(state),
        'nova': _service_auth(state),
        'oslo_concurrency': {'lock_path': directory / NAME / 'locks'},
        'oslo_policy': {'enforce_new_defaults': True,
                        'enforce_scope': False},
    }


def _service_auth(state: State) -> dict[str, object]:
    section = keystone.authtoken_section(state, NAME)
    return {key: section[key] for key in (
        'auth_url', 'auth_type', 'username', 'password', 'project_name',
        'user_domain_name', 'project_domain_name', 'region_name')}


def ml2_sections() -> dict[str, dict[str, object]]:
    """The sections of ml2_conf.ini: ML2 without mechanism drivers."""
    return {
        'ml2': {
            'type_drivers': ','.join(TYPE_DRIVERS),
            'tenant_network_types': ','.join(PROJECT_NETWORK_TYPES),
            'mechanism_drivers': '',
            'extension_drivers': ','.join(EXTENSION_DRIVERS),
        },
        'ml2_type_flat': {'flat_networks': '*'},
        'securitygroup': {'enable_security_group': True},
    }


def configure(state: State) -> Path:
    """Write neutron.conf, ml2_conf.ini and api-paste.ini; return the conf.

    api-paste.ini is found next to neutron.conf (``api_paste_config`` is
    deprecated).

    :raises StackError: when neutron-server is not installed.
    """
    if not available():
        raise process.StackError('neutron is not installed in %s; install '
                                 'the [stack] extra'
                                 % common.venv_bin().parent)
    directory = Path(state.directory)
    for path in (directory / NAME / 'state', directory / NAME / 'locks'):
        path.mkdir(parents=True, exist_ok=True)
    etc(directory).mkdir(parents=True, exist_ok=True)
    shutil.copy(upstream_paste_ini(), paste_path(directory))
    common.write_ini(ml2_conf_path(directory), ml2_sections())
    return common.write_ini(conf_path(directory), conf_sections(state))


def environment(directory: Path) -> dict[str, str]:
    """How neutron.wsgi.api finds its config files."""
    return {'OS_NEUTRON_CONFIG_DIR': str(etc(directory)),
            'OS_NEUTRON_CONFIG_FILES': ';'.join(CONF_FILES)}


def config_args(directory: Path) -> list[str]:
    """``--config-file`` arguments of Neutron's command-line tools."""
    args: list[str] = []
    for name in CONF_FILES:
        args += ['--config-file', str(etc(directory) / name)]
    return args


def db_sync(state: State) -> process.Background:
    """Start ``neutron-db-manage upgrade heads`` in the background."""
    directory = Path(state.directory)
    return process.Background(
        [common.tool('neutron-db-manage'), *config_args(directory),
         'upgrade', 'heads'],
        directory / 'logs' / 'neutron-db-manage.log', NAME)


def register(state: State, catalog: keystone.Catalog | None = None) -> None:
    """The neutron service user and the network service in Keystone."""
    catalog = catalog or keystone.Catalog(state)
    catalog.add_service_user(NAME)
    catalog.add_service(NAME, SERVICE_TYPE, url(state), 'Neutron networking')


def start(state: State, block: bool = True) -> process.Process:
    """Start the API under uwsgi (wait for it when ``block``)."""
    directory = Path(state.directory)
    proc = process.start(
        directory, NAME,
        common.uwsgi_argv(WSGI_MODULE, state.ports[NAME],
                          processes=PROCESSES, threads=THREADS),
        env=environment(directory))
    state.record_service(NAME)
    if block:
        wait(state, proc)
    return proc


def wait(state: State, proc: process.Process) -> None:
    """Wait until the API answers (its version document)."""
    process.wait_for_http(proc, state.ports[NAME], '/')


def check(state: State) -> None:
    """Create and delete a network, a subnet and a router as admin.

    What tempest does for every project that asks for a network.

    :raises ServiceError: when a step fails.
    """
    sess = keystone.admin_session(state)
    base = url(state) + '/v2.0'
    made: list[str] = []

    def call(method: str, path: str, expect: int, **kwargs):
        resp = sess.request(base + path, method, raise_exc=False, **kwargs)
        if resp.status_code != expect:
            raise process.ServiceError(
                NAME, log_path(state.directory), '%s %s: %s %s' % (
                    method, path, resp.status_code, resp.text[:300]))
        return resp.json() if resp.content else None

    try:
        net = call('POST', '/networks', 201,
                   json={'network': {'name': 'cms-stack-check'}})['network']
        made.append('/networks/%s' % net['id'])
        subnet = call('POST', '/subnets', 201, json={'subnet': {
            'network_id': net['id'], 'ip_version': 4,
            'cidr': '10.255.255.0/28', 'name': 'cms-stack-check'}})['subnet']
        made.append('/subnets/%s' % subnet['id'])
        router = call('POST', '/routers', 201, json={'router': {
            'name': 'cms-stack-check'}})['router']
        made.append('/routers/%s' % router['id'])
        call('PUT', '/routers/%s/add_router_interface' % router['id'], 200,
             json={'subnet_id': subnet['id']})
        call('PUT', '/routers/%s/remove_router_interface' % router['id'],
             200, json={'subnet_id': subnet['id']})
    finally:
        for path in reversed(made):
            sess.delete(base + path, raise_exc=False)


def env(state: State) -> stack_env.Neutron:
    """The stack.env part of Neutron."""
    directory = Path(state.directory)
    return stack_env.Neutron(endpoint=url(state), conf=conf_path(directory),
                             ml2_conf=ml2_conf_path(directory),
                             log=log_path(directory))


def variables(state: State) -> dict[str, str]:
    """The stack.env variables of Neutron."""
    return env(state).variables()
