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

"""Keystone under uwsgi, and the users, projects and services of the stack."""

from __future__ import annotations

import logging
from pathlib import Path

from cinder_multistore_lab.stack import common
from cinder_multistore_lab.stack import database
from cinder_multistore_lab.stack import env as stack_env
from cinder_multistore_lab.stack import process
from cinder_multistore_lab.stack.state import State


LOG = logging.getLogger(__name__)

NAME = 'keystone'
REGION = 'RegionOne'
DOMAIN = 'Default'
ADMIN_USER = 'admin'
ADMIN_PROJECT = 'admin'
SERVICE_PROJECT = 'service'
#: Tenant users of the stack: name -> project (each gets role ``member``).
TENANTS = {'demo': 'demo', 'alt': 'alt'}
WSGI_MODULE = 'keystone.wsgi.api'


def conf_path(directory: Path) -> Path:
    """Where keystone.conf is written."""
    return Path(directory) / 'etc' / 'keystone' / 'keystone.conf'


def log_path(directory: Path) -> Path:
    """Keystone's log file."""
    return Path(directory) / 'logs' / 'keystone.log'


def url(state: State) -> str:
    """Keystone's public identity URL (``.../v3``)."""
    return 'http://%s:%d/v3' % (common.HOST, state.ports[NAME])


def configure(state: State) -> Path:
    """Write keystone.conf and the key repositories; return the conf path."""
    directory = Path(state.directory)
    fernet = directory / 'keystone' / 'fernet-keys'
    credential = directory / 'keystone' / 'credential-keys'
    for path in (fernet, credential):
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return common.write_ini(conf_path(directory), {
        'DEFAULT': {'debug': False, 'use_stderr': True},
        'database': {
            'connection': database.url(state.sql, '%s_keystone' %
                                       db_prefix(state)),
            'max_retries': -1,
        },
        'token': {'provider': 'fernet'},
        'fernet_tokens': {'key_repository': fernet},
        'credential': {'key_repository': credential},
        'cache': {'enabled': True, 'backend': 'oslo_cache.dict'},
        'identity': {'password_hash_algorithm': 'bcrypt',
                     'password_hash_rounds': 4},
        'oslo_policy': {'enforce_new_defaults': True,
                        'enforce_scope': False},
    })


def db_prefix(state: State) -> str:
    """The prefix of the run's database names."""
    return 'cms_%s' % state.run_id


def prepare(state: State) -> None:
    """Create the schema, the key repositories and the bootstrap data."""
    conf = str(conf_path(state.directory))
    manage = common.tool('keystone-manage')
    log = log_path(state.directory)
    # The key repositories do not need the schema: make them meanwhile.
    keys = [process.Background(
        [manage, '--config-file', conf, what, '--keystone-user', 'root',
         '--keystone-group', 'root'],
        Path(state.directory) / 'logs' / ('keystone-%s.log' % what), NAME)
        for what in ('fernet_setup', 'credential_setup')]
    try:
        process.run([manage, '--config-file', conf, 'db_sync'], log, NAME)
        for job in keys:
            job.wait()
    finally:
        for job in keys:
            job.kill()
    process.run([manage, '--config-file', conf, 'bootstrap',
                 '--bootstrap-username', ADMIN_USER,
                 '--bootstrap-password', state.password(ADMIN_USER),
                 '--bootstrap-project-name', ADMIN_PROJECT,
                 '--bootstrap-role-name', 'admin',
                 '--bootstrap-service-name', 'keystone',
                 '--bootstrap-region-id', REGION,
                 '--bootstrap-admin-url', url(state),
                 '--bootstrap-internal-url', url(state),
                 '--bootstrap-public-url', url(state)], log, NAME)


def start(state: State) -> process.Process:
    """Start Keystone under uwsgi and wait until it answers."""
    port = state.ports[NAME]
    proc = process.start(
        state.directory, NAME,
        common.uwsgi_argv(WSGI_MODULE, port, processes=1, threads=4),
        env={'OS_KEYSTONE_CONFIG_FILES': str(conf_path(state.directory))})
    state.services.append(NAME)
    state.save()
    process.wait_for_http(proc, port, '/v3')
    return proc


def admin_session(state: State):
    """A keystoneauth session scoped to the admin project."""
    from keystoneauth1.identity import v3
    from keystoneauth1 import session
    auth = v3.Password(auth_url=url(state), username=ADMIN_USER,
                       password=state.password(ADMIN_USER),
                       project_name=ADMIN_PROJECT,
                       user_domain_name=DOMAIN,
                       project_domain_name=DOMAIN)
    return session.Session(auth=auth)


def _client(state: State):
    from keystoneclient.v3 import client
    return client.Client(session=admin_session(state), interface='public',
                         region_name=REGION)


def _find(manager, name: str, **kwargs):
    found = manager.list(name=name, **kwargs)
    return found[0] if found else None


def _role(ks, name: str):
    return _find(ks.roles, name) or ks.roles.create(name)


def _project(ks, name: str, description: str):
    return (_find(ks.projects, name, domain=DOMAIN.lower()) or
            ks.projects.create(name, domain=DOMAIN.lower(),
                               description=description))


def ensure_user(state: State, name: str, project: str,
                roles: tuple[str, ...], ks=None) -> None:
    """Create user ``name`` (password from the run) with ``roles``."""
    ks = ks or _client(state)
    proj = _project(ks, project, 'cinder-multistore %s project' % project)
    user = _find(ks.users, name, domain=DOMAIN.lower())
    if user is None:
        user = ks.users.create(name, domain=DOMAIN.lower(),
                               password=state.password(name),
                               default_project=proj)
    for role in roles:
        ks.roles.grant(_role(ks, role), user=user, project=proj)


def ensure_service(state: State, name: str, service_type: str,
                   endpoint: str, description: str, ks=None) -> None:
    """Register a service and its public/internal/admin endpoints."""
    ks = ks or _client(state)
    service = None
    for svc in ks.services.list(type=service_type):
        if svc.name == name:
            service = svc
    if service is None:
        service = ks.services.create(name, type=service_type,
                                     description=description)
    existing = {e.interface for e in ks.endpoints.list(service=service)}
    for interface in ('public', 'internal', 'admin'):
        if interface not in existing:
            ks.endpoints.create(service, endpoint, interface=interface,
                                region=REGION)


def create_base_resources(state: State) -> None:
    """Roles, the service project, the tenant users ``demo`` and ``alt``."""
    ks = _client(state)
    for role in ('admin', 'member', 'reader', 'service'):
        _role(ks, role)
    _project(ks, SERVICE_PROJECT, 'service users')
    for user, project in TENANTS.items():
        ensure_user(state, user, project, ('member',), ks=ks)


def register_service_user(state: State, name: str, ks=None) -> None:
    """A service user (``glance``, ``cinder``) with roles admin, service."""
    ensure_user(state, name, SERVICE_PROJECT, ('admin', 'service'), ks=ks)


class Catalog:
    """Keystone's admin API, where services register users and endpoints.

    One client (one token) serves every registration of a run.
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self.client = _client(state)

    def add_service_user(self, name: str) -> None:
        """:func:`register_service_user` ``name``."""
        register_service_user(self.state, name, ks=self.client)

    def add_service(self, name: str, service_type: str, endpoint: str,
                    description: str) -> None:
        """:func:`ensure_service`: the service and its endpoints."""
        ensure_service(self.state, name, service_type, endpoint,
                       description, ks=self.client)


def env(state: State) -> stack_env.Identity:
    """The stack.env part of Keystone: auth URL and credentials."""
    def credentials(user: str, project: str) -> stack_env.Credentials:
        return stack_env.Credentials(user, state.password(user), project)
    return stack_env.Identity(
        auth_url=url(state),
        admin=credentials(ADMIN_USER, ADMIN_PROJECT),
        users={user.upper(): credentials(user, project)
               for user, project in TENANTS.items()},
        user_domain_name=DOMAIN, project_domain_name=DOMAIN,
        region=REGION, log=log_path(state.directory))


def authtoken_section(state: State, user: str) -> dict[str, object]:
    """The ``[keystone_authtoken]`` options of a service using ``user``."""
    return {
        'www_authenticate_uri': url(state),
        'auth_url': url(state),
        'auth_type': 'password',
        'username': user,
        'password': state.password(user),
        'project_name': SERVICE_PROJECT,
        'user_domain_name': DOMAIN,
        'project_domain_name': DOMAIN,
        'region_name': REGION,
        'service_token_roles_required': True,
        'service_type': None,
    }
